//! `visitrec list`: one line per recording, or a table for spreadsheets.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::consent::{ConsentState, Scope};
use visitrec::purge::Expired;
use visitrec::record::Recording;
use visitrec::sanitize::term;
use visitrec::tombstone::Tombstone;

use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec list study-archive
  visitrec list study-archive --consent research --format csv > research.csv
  visitrec list study-archive --json";

/// `visitrec list` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// Only recordings whose consent covers this scope.
    #[arg(long, value_name = "SCOPE", add = super::complete::scopes())]
    pub consent: Option<String>,
    /// Judge consent on this day instead of today (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
    /// Text for people (default), or a table with a header row for spreadsheets.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print a JSON array of recordings (each with its consent_state).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Also list purged recordings (their tombstones), marked `purged`.
    #[arg(long, conflicts_with = "expired")]
    pub all: bool,
    /// Only recordings past their retention period (see `visitrec retention`), each with
    /// the day it was to be kept until and whether its consent keeps it still.
    #[arg(long)]
    pub expired: bool,
}

/// `list --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns; the header and the count go to stderr.
    Text,
    /// Tab-separated values with a header row.
    Tsv,
    /// Comma-separated values (RFC 4180) with a header row.
    Csv,
}

/// The recordings listed.
#[derive(Debug)]
pub struct Listing {
    rows: Vec<(Recording, ConsentState)>,
    purged: Vec<Tombstone>,
    expired: Option<BTreeMap<String, Expired>>,
    format: Format,
    filter: Option<Scope>,
    /// `--json`: the table header is text only.
    json: bool,
}

/// Lists the recordings, filtered by consent.
pub fn run(a: &Args) -> anyhow::Result<Listing> {
    let day = super::day_of(a.at.as_deref())?;
    let filter: Option<Scope> = a.consent.as_deref().map(str::parse).transpose()?;
    let expired = if a.expired {
        let archive = visitrec::archive::Archive::open(&a.archive)?;
        let found = visitrec::purge::expired(&archive, day)?;
        Some(found.into_iter().map(|e| (e.id.clone(), e)).collect())
    } else {
        None
    };
    let rows = visitrec::catalog::with_consent(&a.archive, None, day)?
        .into_iter()
        .filter(|(_, state)| filter.is_none_or(|s| state.covers(s)))
        .filter(|(r, _)| {
            expired
                .as_ref()
                .is_none_or(|e: &BTreeMap<String, Expired>| e.contains_key(&r.id))
        })
        .collect();
    let purged = if a.all && filter.is_none() {
        let archive = visitrec::archive::Archive::open(&a.archive)?;
        visitrec::purge::tombstones(&archive)?
    } else {
        Vec::new()
    };
    Ok(Listing {
        rows,
        purged,
        expired,
        format: a.format,
        filter,
        json: a.json,
    })
}

/// One recording in `list --json`: its metadata and its consent state.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    recording: &'a Recording,
    consent_state: &'a ConsentState,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired: Option<&'a Expired>,
}

/// A purged recording in `list --all --json`: its id and tombstone.
#[derive(Serialize)]
struct PurgedRow<'a> {
    id: &'a str,
    purged: bool,
    tombstone: &'a Tombstone,
}

impl Serialize for Listing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.rows.len() + self.purged.len()))?;
        for (recording, consent_state) in &self.rows {
            seq.serialize_element(&Row {
                recording,
                consent_state,
                expired: self.expired.as_ref().and_then(|e| e.get(&recording.id)),
            })?;
        }
        for t in &self.purged {
            seq.serialize_element(&PurgedRow {
                id: &t.id,
                purged: true,
                tombstone: t,
            })?;
        }
        seq.end()
    }
}

/// The table columns of `--format tsv|csv`.
const COLUMNS: [&str; 8] = [
    "id",
    "file_name",
    "recorded_at",
    "duration_s",
    "participant",
    "consent",
    "granted",
    "tags",
];

impl Report for Listing {
    fn write_text(&self, out: &mut dyn Write, _v: Verbosity) -> io::Result<()> {
        match self.format {
            Format::Text => {
                for (r, st) in &self.rows {
                    let mut line = text_line(r, st);
                    if let Some(e) = self.expired.as_ref().and_then(|e| e.get(&r.id)) {
                        line.push_str(&expired_note(e));
                    }
                    writeln!(out, "{line}")?;
                }
                for t in &self.purged {
                    writeln!(out, "{}", purged_line(t))?;
                }
                Ok(())
            }
            Format::Tsv => {
                writeln!(out, "{}", COLUMNS.join("\t"))?;
                for (r, st) in &self.rows {
                    writeln!(out, "{}", cells(r, st).join("\t"))?;
                }
                for t in &self.purged {
                    writeln!(out, "{}", purged_cells(t).join("\t"))?;
                }
                Ok(())
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(COLUMNS).map_err(csv_io)?;
                for (r, st) in &self.rows {
                    w.write_record(cells(r, st)).map_err(csv_io)?;
                }
                for t in &self.purged {
                    w.write_record(purged_cells(t)).map_err(io::Error::other)?;
                }
                w.flush()
            }
        }
    }

    fn diagnostics(&self, v: Verbosity) -> Vec<String> {
        if self.json || self.format != Format::Text || v == Verbosity::Quiet {
            return Vec::new();
        }
        vec![format!(
            "{:<16}  {:<25}  {:>8}  {:<10}  {:<28}  {}",
            "ID", "RECORDED AT", "DURATION", "PARTICIPANT", "CONSENT", "TAGS"
        )]
    }

    fn summary(&self, v: Verbosity) -> Vec<String> {
        if v == Verbosity::Quiet {
            return Vec::new();
        }
        let n = self.rows.len();
        let noun = if n == 1 { "recording" } else { "recordings" };
        let filter = self
            .filter
            .map_or(String::new(), |s| format!(" whose consent covers {s}"));
        let purged = if self.purged.is_empty() {
            String::new()
        } else {
            format!(", {} purged", self.purged.len())
        };
        let expired = match &self.expired {
            Some(e) => {
                let kept = e.values().filter(|x| x.kept_because.is_some()).count();
                format!(" past their retention period ({kept} kept by consent)")
            }
            None => String::new(),
        };
        vec![format!("{n} {noun}{filter}{expired}{purged}")]
    }
}

/// A CSV error as an I/O error of the same kind, so a closed pipe (`| head -1`) stays a
/// closed pipe, which ends the command quietly.
fn csv_io(e: csv::Error) -> io::Error {
    match e.kind() {
        csv::ErrorKind::Io(io) => io::Error::new(io.kind(), e.to_string()),
        _ => io::Error::other(e),
    }
}

/// A spreadsheet cell that would start a formula (`=`, `+`, `-`, `@`) is prefixed with
/// `'`, so a hostile file name cannot run anything when the table is opened.
fn cell(s: &str) -> String {
    let s = term(s);
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// The row of a recording; every cell escaped, so tabs and newlines in a name cannot break
/// the table (they read `\t`, `\n`).
fn cells(r: &Recording, st: &ConsentState) -> Vec<String> {
    let tags: Vec<String> = r.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let granted: Vec<&str> = st.granted.keys().map(|s| s.as_str()).collect();
    vec![
        r.id.clone(),
        cell(&r.source.file_name),
        term(&r.source.recorded_at).into_owned(),
        format!("{:.3}", r.source.duration_s),
        cell(r.participant.as_deref().unwrap_or("")),
        st.status.to_string(),
        granted.join(","),
        cell(&tags.join(" ")),
    ]
}

/// The table row of a purged recording: only what its tombstone keeps.
fn purged_cells(t: &Tombstone) -> Vec<String> {
    vec![
        t.id.clone(),
        String::new(),
        String::new(),
        format!("{:.3}", t.duration_s),
        String::new(),
        format!("purged {} {}", t.purged_on(), t.reason.code()),
        String::new(),
        String::new(),
    ]
}

/// `  [expired: kept until 2026-01-31 (10y); kept: consent active for care]`.
fn expired_note(e: &Expired) -> String {
    let kept = e
        .kept_because
        .as_deref()
        .map_or(String::new(), |k| format!("; kept: {}", term(k)));
    format!(
        "  [expired: kept until {} ({} from {}){kept}]",
        e.kept_until, e.retention, e.retention_from
    )
}

/// The text line of a purged recording.
fn purged_line(t: &Tombstone) -> String {
    format!(
        "{}  {:<25}  {:>8}  {:<10}  purged {} ({})",
        t.id,
        "-",
        fmt_duration(t.duration_s),
        "-",
        term(t.purged_on()),
        t.reason.code()
    )
}

/// `h:mm:ss` or `mm:ss`.
pub fn fmt_duration(s: f64) -> String {
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m:02}:{sec:02}")
    }
}

fn text_line(r: &Recording, consent: &ConsentState) -> String {
    let tags: Vec<String> = r
        .tags
        .iter()
        .map(|(k, v)| format!("{}={}", term(k), term(v)))
        .collect();
    let head = format!(
        "{}  {:<25}  {:>8}  {:<10}  ",
        r.id,
        term(&r.source.recorded_at),
        fmt_duration(r.source.duration_s),
        term(r.participant.as_deref().unwrap_or("-")),
    );
    let consent = consent.summary();
    // The consent column is padded only when tags follow it: no line ends in spaces.
    if tags.is_empty() {
        format!("{head}{consent}")
    } else {
        format!("{head}{consent:<28}  {}", tags.join(" "))
    }
}

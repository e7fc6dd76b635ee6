//! `visitrec show`: one recording in full.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::consent::ConsentState;
use visitrec::record::Recording;
use visitrec::sanitize::term;
use visitrec::tags::format_time;
use visitrec::tombstone::Tombstone;

use super::consent::{write_history, write_scopes};
use super::list::fmt_duration;
use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec show study-archive 3f9a1c
  visitrec show study-archive 3f9a1c --json";

/// `visitrec show` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// The recording id or a unique prefix of it.
    #[arg(add = super::complete::recording_ids())]
    pub id: String,
    /// Print the recording's JSON metadata.
    #[arg(long)]
    pub json: bool,
}

/// A recording and its consent today, or the tombstone of a purged one. JSON: the
/// recording's metadata (or the tombstone) as stored.
#[derive(Debug)]
pub enum Shown {
    /// A recording held.
    Held {
        /// Its metadata.
        recording: Box<Recording>,
        /// Its consent today.
        consent: ConsentState,
    },
    /// A purged recording's tombstone.
    Purged(Tombstone),
}

impl Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Shown::Held { recording, .. } => recording.serialize(s),
            Shown::Purged(t) => t.serialize(s),
        }
    }
}

/// Reads the recording (or, for a purged one, its tombstone).
pub fn run(a: &Args) -> anyhow::Result<Shown> {
    match visitrec::catalog::with_consent(&a.archive, Some(&a.id), None) {
        Ok(mut found) => {
            let (recording, consent) = found.pop().expect("one recording");
            Ok(Shown::Held {
                recording: Box::new(recording),
                consent,
            })
        }
        Err(visitrec::Error::Purged { id, .. }) => {
            let archive = visitrec::archive::Archive::open(&a.archive)?;
            Ok(Shown::Purged(visitrec::purge::tombstone(&archive, &id)?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The text of a tombstone.
fn write_tombstone(out: &mut dyn Write, t: &Tombstone) -> io::Result<()> {
    writeln!(out, "id:           {}", t.id)?;
    writeln!(
        out,
        "status:       purged on {} ({}): audio and personal metadata erased",
        term(t.purged_on()),
        t.reason.code()
    )?;
    writeln!(out, "sha256:       {}", t.sha256)?;
    writeln!(out, "size:         {} bytes", t.size)?;
    writeln!(
        out,
        "duration:     {} ({:.3} s)",
        fmt_duration(t.duration_s),
        t.duration_s
    )?;
    writeln!(out, "ingested at:  {}", term(&t.ingested_at))?;
    writeln!(out, "purged at:    {}", term(&t.purged_at))?;
    writeln!(
        out,
        "purged by:    {} (OS user {}, uid {})",
        term(&t.purged_by.actor),
        term(&t.purged_by.user),
        t.purged_by.uid
    )
}

impl Report for Shown {
    fn write_text(&self, out: &mut dyn Write, _v: Verbosity) -> io::Result<()> {
        let (r, consent) = match self {
            Shown::Held { recording, consent } => (recording, consent),
            Shown::Purged(t) => return write_tombstone(out, t),
        };
        write_source(out, r)?;
        writeln!(out, "ingested at:  {}", term(&r.ingested_at))?;
        let who = r.participant.as_deref().unwrap_or("-");
        writeln!(out, "participant:  {}", term(who))?;
        for (k, v) in &r.tags {
            writeln!(out, "tag:          {}={}", term(k), term(v))?;
        }
        writeln!(
            out,
            "consent:      {} (as of {}, UTC)",
            consent.summary(),
            consent.as_of
        )?;
        write_scopes(out, consent, &r.consent, "  ")?;
        if !r.consent.is_empty() {
            writeln!(out, "consent history:")?;
            write_history(out, &r.consent, "  ")?;
        }
        writeln!(out, "marks:        {}", r.marks.len())?;
        for m in &r.marks {
            writeln!(out, "  {:>10}  {}", format_time(m.at_s), term(&m.label))?;
        }
        write_renditions(out, r)
    }
}

fn write_source(out: &mut dyn Write, r: &Recording) -> io::Result<()> {
    let s = &r.source;
    writeln!(out, "id:           {}", r.id)?;
    writeln!(out, "file name:    {}", term(&s.file_name))?;
    writeln!(out, "stored as:    {}", term(&s.stored_as))?;
    writeln!(out, "sha256:       {}", s.sha256)?;
    writeln!(out, "size:         {} bytes", s.size)?;
    writeln!(
        out,
        "audio:        {} in {}, {} Hz, {} ch",
        term(&s.codec),
        term(&s.container),
        s.sample_rate,
        s.channels
    )?;
    writeln!(
        out,
        "duration:     {} ({:.3} s, {} frames)",
        fmt_duration(s.duration_s),
        s.duration_s,
        s.frames
    )?;
    writeln!(
        out,
        "recorded at:  {} (from {})",
        term(&s.recorded_at),
        term(&s.recorded_at_source)
    )?;
    writeln!(out, "identifying:  {}", identifying_line(s))
}

/// What `show` says about the identifying metadata the original carries.
fn identifying_line(s: &visitrec::record::Source) -> String {
    let unchecked = s.identifying.is_none();
    match (s.identifying_words(), unchecked) {
        (Some(kinds), _) => format!(
            "{kinds}{} — still in the original, which is kept byte for byte; \
             `encrypt --strip-metadata` exports it without them",
            if unchecked {
                " (other kinds not checked: ingested by an older visitrec)"
            } else {
                ""
            }
        ),
        (None, false) => "none found in the original's tags".into(),
        (None, true) => "not checked (ingested by an older visitrec)".into(),
    }
}

fn write_renditions(out: &mut dyn Write, r: &Recording) -> io::Result<()> {
    let db =
        |v: Option<f64>, unit: &str| v.map_or("silent".to_string(), |x| format!("{x:.1} {unit}"));
    match &r.normalized {
        None => writeln!(out, "normalized:   no (run `visitrec normalize`)")?,
        Some(n) => {
            writeln!(
                out,
                "normalized:   {}, {} Hz mono, target {:.1} LUFS / {:.1} dBTP{}",
                term(&n.path),
                n.sample_rate,
                n.target_lufs,
                n.true_peak_ceiling_dbtp,
                if n.target_reached {
                    ""
                } else {
                    " (not reached)"
                }
            )?;
            writeln!(
                out,
                "  before:     {}, true peak {}",
                db(n.loudness_before_lufs, "LUFS"),
                db(n.true_peak_before_dbtp, "dBTP")
            )?;
            writeln!(
                out,
                "  after:      {}, true peak {}, gain {:+.1} dB",
                db(n.loudness_after_lufs, "LUFS"),
                db(n.true_peak_after_dbtp, "dBTP"),
                n.gain_db
            )?;
            match &n.limiter {
                Some(l) => writeln!(
                    out,
                    "  limiter:    on, up to {:.1} dB off, over {:.1} s",
                    l.max_reduction_db, l.limited_s
                )?,
                None => writeln!(out, "  limiter:    off (one linear gain)")?,
            }
            if let Some(note) = &n.note {
                writeln!(out, "  note:       {}", term(note))?;
            }
        }
    }
    if r.segments.is_empty() {
        return writeln!(out, "segments:     none");
    }
    writeln!(out, "segments:     {}", r.segments.len())?;
    for s in &r.segments {
        let label = s
            .label
            .as_deref()
            .map_or(String::new(), |l| format!("  [{}]", term(l)));
        writeln!(
            out,
            "  {:03}  {} - {}  ({:.1} s)  {}{label}",
            s.index,
            format_time(s.start_s),
            format_time(s.end_s),
            s.end_s - s.start_s,
            term(&s.path)
        )?;
    }
    Ok(())
}

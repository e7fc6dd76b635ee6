//! `visitrec ingest`: add recordings, deduplicated by content.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::attach::Added;
use visitrec::ingest::{IngestOptions, IngestReport};
use visitrec::sanitize::term;

use super::ActorArg;
use super::args::{IngestConsentArgs, LimitArgs, NormArgs, SegArgs};
use super::output::{Report, Verbosity};
use super::progress::Bar;

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec ingest study-archive ~/phone-export/ --participant P017 --tag site=lebanon
  visitrec ingest study-archive memo.m4a --json
  visitrec ingest study-archive --manifest ~/study/batch-07.csv";

/// `--help` (long) adds what becomes of each input.
pub const LONG_HELP: &str = "Examples:
  visitrec ingest study-archive ~/phone-export/ --participant P017 --tag site=lebanon
  visitrec ingest study-archive memo.m4a --json
  visitrec ingest study-archive --manifest ~/study/batch-07.csv

Each input ends as one of:
  ingested   new content: copied into data/<id>/ with its recording.json
  present    the same bytes are already archived (deduplicated by SHA-256); the
             --participant, --tag, --marks and --consent-* flags are applied to
             it (a participant or tag value that differs from the recording's
             rejects the file instead; an identical grant is not recorded twice)
  rejected   a file named on the line, or found with an audio name, that cannot be
             archived (missing, unreadable, empty, not audio, too long, inside an
             archive); the exit status is then 1
  skipped    a file found in a folder that is neither audio nor named like audio
             (listed with -v)

--manifest FILE.csv names the files (column path, relative to the CSV's folder)
with each one's participant, tag:KEY columns and consent grant (scopes, by,
method, witness, date, expires, note); the whole file is checked first and
ingested in one transaction: any problem and nothing is ingested.";

/// `visitrec ingest` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// Files and folders to ingest (folders are walked recursively).
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    pub inputs: Vec<PathBuf>,
    /// A CSV file naming the files to ingest, each with its participant, tags and
    /// consent (columns in docs/FORMAT.md); all of it or nothing is ingested.
    #[arg(long, value_name = "FILE.csv")]
    pub manifest: Option<PathBuf>,
    /// Participant or patient reference recorded with every recording of the batch (new
    /// or already archived without one).
    #[arg(long, conflicts_with = "manifest")]
    pub participant: Option<String>,
    /// A tag key=value applied to every recording of the batch, new or already archived
    /// (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", conflicts_with = "manifest")]
    pub tags: Vec<String>,
    /// Marks for the recordings of the batch: CSV lines `time,label` or JSON
    /// `[{"at": "03:12", "label": "…"}]`.
    #[arg(long, value_name = "FILE", conflicts_with = "manifest")]
    pub marks: Option<PathBuf>,
    #[command(flatten)]
    pub consent: IngestConsentArgs,
    /// Normalize the new recordings (see `visitrec normalize`).
    #[arg(long)]
    pub normalize: bool,
    /// Segment the new recordings (see `visitrec segment`; normalizes first).
    #[arg(long)]
    pub segment: bool,
    #[command(flatten)]
    pub norm: NormArgs,
    #[command(flatten)]
    pub seg: SegArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Archive again content that was purged (its tombstone is replaced by the new
    /// recording; the purge stays in the audit log). Without it such inputs are rejected.
    #[arg(long)]
    pub allow_reingest: bool,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print one JSON document to stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The options the flags describe.
    fn options(&self) -> visitrec::Result<IngestOptions> {
        let mut opts = IngestOptions {
            max_duration: self.limits.max_duration,
            ..IngestOptions::default()
        };
        if let Some(p) = &self.participant {
            visitrec::tags::check_value("--participant", p)?;
            opts.participant = Some(p.clone());
        }
        for t in &self.tags {
            let (k, v) = visitrec::tags::parse_tag(t)?;
            opts.tags.insert(k, v);
        }
        if let Some(path) = &self.marks {
            opts.marks = visitrec::annotate::read_marks_file(path)?;
        }
        opts.consent = self.consent.grant()?;
        if self.manifest.is_some() && opts.consent.is_some() {
            return Err(visitrec::Error::BadValue {
                flag: "--manifest",
                value: "--consent-scope".into(),
                reason: "a manifest gives each file's consent in its own columns".into(),
            });
        }
        opts.allow_reingest = self.allow_reingest;
        opts.normalize = self.normalize.then(|| self.norm.settings());
        opts.segment = self.segment.then(|| (self.seg.params(), self.seg.at_marks));
        Ok(opts)
    }
}

/// Ingests the inputs.
pub fn run(a: &Args, v: Verbosity) -> anyhow::Result<IngestReport> {
    let opts = a.options()?;
    let mut writer = a.actor.writer(&a.archive)?;
    let bar = Bar::new(v == Verbosity::Quiet);
    if let Some(path) = &a.manifest {
        let manifest = visitrec::manifest::read(path)?;
        return Ok(visitrec::ingest::ingest_manifest(
            &mut writer,
            &manifest,
            &opts,
            &bar,
        )?);
    }
    Ok(visitrec::ingest::ingest(
        &mut writer,
        &a.inputs,
        &opts,
        &bar,
    )?)
}

impl Report for IngestReport {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        for i in &self.ingested {
            writeln!(
                out,
                "ingested  {}  {}  ({:.1} s)",
                i.id,
                term(&i.path),
                i.duration_s
            )?;
        }
        for d in &self.duplicates {
            writeln!(
                out,
                "present   {}  {}{}",
                d.id,
                term(&d.path),
                added_note(&d.added)
            )?;
        }
        writeln!(
            out,
            "{} ingested, {} already present{}, {} rejected, {} skipped{}",
            self.ingested.len(),
            self.duplicates.len(),
            present_note(self),
            self.rejected.len(),
            self.skipped.len(),
            if self.skipped.is_empty() || v == Verbosity::Verbose {
                ""
            } else {
                " (-v lists them)"
            }
        )?;
        if let Some(n) = &self.normalize {
            n.write_text(out, v)?;
        }
        if let Some(s) = &self.segment {
            s.write_text(out, v)?;
        }
        Ok(())
    }

    fn diagnostics(&self, v: Verbosity) -> Vec<String> {
        let mut lines: Vec<String> = self
            .rejected
            .iter()
            .map(|x| format!("rejected  {}: {}", term(&x.path), term(&x.reason)))
            .collect();
        if v == Verbosity::Verbose {
            lines.extend(
                self.skipped
                    .iter()
                    .map(|x| format!("skipped   {}: {}", term(&x.path), term(&x.reason))),
            );
        }
        lines.extend(self.normalize.iter().flat_map(|n| n.diagnostics(v)));
        lines.extend(self.segment.iter().flat_map(|s| s.diagnostics(v)));
        lines
    }

    fn exit(&self) -> visitrec::exit::Exit {
        self.exit_code()
    }
}

/// `  (consent recorded, participant set, tags site,clinic)`: what a present line's flags
/// added to the recording.
fn added_note(a: &Added) -> String {
    let mut parts = Vec::new();
    if a.consent {
        parts.push("consent recorded".to_string());
    }
    if a.consent_already {
        parts.push("consent already recorded".to_string());
    }
    if a.participant {
        parts.push("participant set".to_string());
    }
    if !a.tags.is_empty() {
        parts.push(format!("tags {}", a.tags.join(",")));
    }
    if !a.marks.is_empty() {
        parts.push(format!("{} marks", a.marks.len()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  ({})", parts.join(", "))
    }
}

/// ` (1 given consent, 1 already had it, 2 updated)` after the count of present inputs,
/// when the run's flags asked for anything.
fn present_note(r: &IngestReport) -> String {
    let already = r
        .duplicates
        .iter()
        .filter(|d| d.added.consent_already)
        .count();
    let updated = r
        .duplicates
        .iter()
        .filter(|d| d.added.participant || !d.added.tags.is_empty() || !d.added.marks.is_empty())
        .count();
    let mut parts = Vec::new();
    if r.given_consent > 0 || already > 0 {
        parts.push(format!("{} given consent", r.given_consent));
    }
    if already > 0 {
        parts.push(format!("{already} already had it"));
    }
    if updated > 0 {
        parts.push(format!("{updated} given participant, tags or marks"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

//! `visitrec ingest`: add recordings, deduplicated by content.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::ingest::{IngestOptions, IngestReport};
use visitrec::sanitize::term;

use super::ActorArg;
use super::args::{IngestConsentArgs, LimitArgs, NormArgs, SegArgs};
use super::output::{Report, Verbosity};
use super::progress::Bar;

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec ingest study-archive ~/phone-export/ --participant P017 --tag site=lebanon
  visitrec ingest study-archive memo.m4a --json";

/// `--help` (long) adds what becomes of each input.
pub const LONG_HELP: &str = "Examples:
  visitrec ingest study-archive ~/phone-export/ --participant P017 --tag site=lebanon
  visitrec ingest study-archive memo.m4a --json

Each input ends as one of:
  ingested   new content: copied into data/<id>/ with its recording.json
  present    the same bytes are already archived (deduplicated by SHA-256)
  rejected   a file named on the line, or found with an audio name, that cannot be
             archived (missing, unreadable, empty, not audio, too long, inside an
             archive); the exit status is then 1
  skipped    a file found in a folder that is neither audio nor named like audio
             (listed with -v)";

/// `visitrec ingest` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// Files and folders to ingest (folders are walked recursively).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Participant or patient reference recorded with every recording of the batch.
    #[arg(long)]
    pub participant: Option<String>,
    /// A tag key=value applied to every recording of the batch (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Marks for the new recordings: CSV lines `time,label` or JSON
    /// `[{"at": "03:12", "label": "…"}]`.
    #[arg(long, value_name = "FILE")]
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
            writeln!(out, "present   {}  {}", d.id, term(&d.path))?;
        }
        writeln!(
            out,
            "{} ingested, {} already present, {} rejected, {} skipped{}",
            self.ingested.len(),
            self.duplicates.len(),
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

//! The `visitrec` command line: parses arguments, calls the library, prints.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use visitrec::archive::Archive;
use visitrec::error::exit;
use visitrec::ingest::{IngestOptions, IngestReport, Progress};
use visitrec::pipeline::{NormalizeReport, SegmentReport};
use visitrec::record::Recording;
use visitrec::verify::{Report, VerifyOptions};

/// Archive clinic-visit recordings: intact, private, and tied to their consent.
#[derive(Debug, Parser)]
#[command(name = "visitrec", version, about, long_about = None)]
#[command(after_help = EXIT_CODES)]
struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more detail (skipped files, every check).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str =
    "Exit codes: 0 success · 1 problems found or inputs rejected · 2 could not run";

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new, empty archive (a BagIt 1.0 bag).
    #[command(
        after_help = "Example:\n  visitrec init study-archive --org \"Example Clinic Study\""
    )]
    Init {
        /// Folder to create (must not exist, or be empty).
        archive: PathBuf,
        /// The organisation responsible for the recordings (bag-info Source-Organization).
        #[arg(long)]
        org: String,
    },
    /// Add recordings (files or whole folder trees), deduplicated by content.
    #[command(
        after_help = "Examples:\n  visitrec ingest study-archive ~/phone-export/ --participant P017 --tag site=lebanon\n  visitrec ingest study-archive memo.m4a --json"
    )]
    Ingest {
        /// The archive.
        archive: PathBuf,
        /// Files and folders to ingest (folders are walked recursively).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Participant or patient reference recorded with every recording of the batch.
        #[arg(long)]
        participant: Option<String>,
        /// A tag key=value applied to every recording of the batch (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Normalize the new recordings (see `visitrec normalize`).
        #[arg(long)]
        normalize: bool,
        /// Segment the new recordings (see `visitrec segment`; normalizes first).
        #[arg(long)]
        segment: bool,
        #[command(flatten)]
        norm: NormArgs,
        #[command(flatten)]
        seg: SegArgs,
        /// Print one JSON document to stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a loudness-normalized mono WAV of each recording (EBU R128, true peak).
    #[command(
        after_help = "Examples:\n  visitrec normalize study-archive --all\n  visitrec normalize study-archive 3f9a1c --target-lufs -23 --rate 48000 --json"
    )]
    Normalize {
        /// The archive.
        archive: PathBuf,
        /// Recording ids or unique prefixes.
        #[arg(group = "which")]
        ids: Vec<String>,
        /// Every recording in the archive.
        #[arg(long, group = "which")]
        all: bool,
        #[command(flatten)]
        norm: NormArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Split each recording into speech segments (voice activity, and marks with --at-marks).
    #[command(
        after_help = "Examples:\n  visitrec segment study-archive --all\n  visitrec segment study-archive 3f9a1c --at-marks --min-silence 1.0"
    )]
    Segment {
        /// The archive.
        archive: PathBuf,
        /// Recording ids or unique prefixes.
        #[arg(group = "which")]
        ids: Vec<String>,
        /// Every recording in the archive.
        #[arg(long, group = "which")]
        all: bool,
        #[command(flatten)]
        seg: SegArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the recordings, one line each.
    #[command(
        after_help = "Examples:\n  visitrec list study-archive\n  visitrec list study-archive --json"
    )]
    List {
        /// The archive.
        archive: PathBuf,
        /// Print a JSON array of recordings.
        #[arg(long)]
        json: bool,
    },
    /// Show one recording in full; a unique id prefix is enough.
    #[command(
        after_help = "Examples:\n  visitrec show study-archive 3f9a1c\n  visitrec show study-archive 3f9a1c --json"
    )]
    Show {
        /// The archive.
        archive: PathBuf,
        /// The recording id or a unique prefix of it.
        id: String,
        /// Print the recording's JSON metadata.
        #[arg(long)]
        json: bool,
    },
    /// Check an archive's integrity (exit 0 intact, 1 problems, 2 could not run).
    #[command(
        after_help = "Examples:\n  visitrec verify study-archive\n  visitrec verify study-archive --fast\n  visitrec verify study-archive --json > report.json"
    )]
    Verify {
        /// The archive (or any BagIt bag).
        archive: PathBuf,
        /// Check presence and Payload-Oxum only; read no content.
        #[arg(long)]
        fast: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole pipeline on the bundled sample recordings.
    #[command(after_help = "Example:\n  visitrec demo /tmp/visitrec-demo")]
    Demo {
        /// Folder to work in (must not exist, or be empty); default: a new temporary folder.
        dir: Option<PathBuf>,
    },
}

/// Loudness normalization settings.
#[derive(Debug, Clone, clap::Args)]
struct NormArgs {
    /// Output sample rate, Hz.
    #[arg(long, default_value_t = 16_000)]
    rate: u32,
    /// Integrated loudness to reach, LUFS.
    #[arg(long, default_value_t = -16.0, allow_negative_numbers = true)]
    target_lufs: f64,
    /// True-peak ceiling, dBTP (the gain is lowered to respect it).
    #[arg(long, default_value_t = -1.5, allow_negative_numbers = true)]
    true_peak: f64,
}

impl NormArgs {
    fn settings(&self) -> visitrec::audio::normalize::Settings {
        visitrec::audio::normalize::Settings {
            rate: self.rate,
            target_lufs: self.target_lufs,
            true_peak_dbtp: self.true_peak,
        }
    }
}

/// Segmentation parameters.
#[derive(Debug, Clone, clap::Args)]
struct SegArgs {
    /// Pauses shorter than this (seconds) never split a segment.
    #[arg(long, default_value_t = 0.7)]
    min_silence: f64,
    /// Bursts of speech shorter than this (seconds) are dropped.
    #[arg(long, default_value_t = 0.25)]
    min_speech: f64,
    /// Seconds of padding added to each side of a segment.
    #[arg(long, default_value_t = 0.15)]
    pad: f64,
    /// Also cut at every time-anchored mark; the segment from a mark on carries its label.
    #[arg(long)]
    at_marks: bool,
}

impl SegArgs {
    fn params(&self) -> visitrec::audio::segment::Params {
        visitrec::audio::segment::Params {
            min_silence_s: self.min_silence,
            min_speech_s: self.min_speech,
            pad_s: self.pad,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("visitrec: error: {e:#}");
            let code = e
                .downcast_ref::<visitrec::Error>()
                .map_or(exit::FATAL, visitrec::Error::exit_code);
            ExitCode::from(code as u8)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Init { archive, org } => {
            visitrec::tags::check_value("--org", org)?;
            visitrec::archive::Archive::init(archive, org)?;
            if !cli.quiet {
                println!("Created archive {} for {org}", archive.display());
            }
            Ok(exit::OK)
        }
        Command::Ingest {
            archive,
            inputs,
            participant,
            tags,
            normalize,
            segment,
            norm,
            seg,
            json,
        } => {
            let mut opts = IngestOptions::default();
            if let Some(p) = participant {
                visitrec::tags::check_value("--participant", p)?;
                opts.participant = Some(p.clone());
            }
            for t in tags {
                let (k, v) = visitrec::tags::parse_tag(t)?;
                opts.tags.insert(k, v);
            }
            opts.normalize = normalize.then(|| norm.settings());
            opts.segment = segment.then(|| (seg.params(), seg.at_marks));
            let mut writer = Archive::open(archive)?.writer()?;
            let bar = Bar::new(cli.quiet);
            let report = visitrec::ingest::ingest(&mut writer, inputs, &opts, &bar)?;
            bar.finish();
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_ingest(&report, cli);
                if let Some(n) = &report.normalize {
                    print_normalize(n, cli);
                }
                if let Some(s) = &report.segment {
                    print_segment(s, cli);
                }
            }
            Ok(report.exit_code())
        }
        Command::Normalize {
            archive,
            ids,
            all,
            norm,
            json,
        } => {
            let mut writer = Archive::open(archive)?.writer()?;
            let ids = visitrec::pipeline::select(writer.archive(), ids, *all)?;
            let bar = Bar::new(cli.quiet);
            let report = visitrec::pipeline::normalize(&mut writer, &ids, &norm.settings(), &bar)?;
            bar.finish();
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_normalize(&report, cli);
            }
            Ok(report.exit_code())
        }
        Command::Segment {
            archive,
            ids,
            all,
            seg,
            json,
        } => {
            let mut writer = Archive::open(archive)?.writer()?;
            let ids = visitrec::pipeline::select(writer.archive(), ids, *all)?;
            let bar = Bar::new(cli.quiet);
            let report =
                visitrec::pipeline::segment(&mut writer, &ids, &seg.params(), seg.at_marks, &bar)?;
            bar.finish();
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_segment(&report, cli);
            }
            Ok(report.exit_code())
        }
        Command::List { archive, json } => {
            let recs = visitrec::catalog::list(archive)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&recs)?);
            } else {
                for r in &recs {
                    println!("{}", list_line(r));
                }
            }
            Ok(exit::OK)
        }
        Command::Show { archive, id, json } => {
            let r = visitrec::catalog::show(archive, id)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_recording(&r);
            }
            Ok(exit::OK)
        }
        Command::Verify {
            archive,
            fast,
            json,
        } => {
            let report = visitrec::verify::verify(archive, VerifyOptions { fast: *fast })?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_verify(archive, &report, cli.quiet);
            }
            Ok(report.exit_code())
        }
        Command::Demo { dir } => {
            let dir = match dir {
                Some(d) => d.clone(),
                None => tempdir_path().context("cannot choose a demo folder")?,
            };
            let bar = Bar::new(cli.quiet);
            let run = visitrec::demo::run(&dir, &bar)?;
            bar.finish();
            print_demo(&run, cli);
            Ok(run.verify.exit_code().max(run.ingest.exit_code()))
        }
    }
}

/// A fresh, not-yet-existing folder under the system temp dir.
fn tempdir_path() -> anyhow::Result<PathBuf> {
    let stamp = jiff::Timestamp::now().as_millisecond();
    Ok(std::env::temp_dir().join(format!("visitrec-demo-{}-{stamp}", std::process::id())))
}

/// Progress bar on stderr, drawn only when stderr is a terminal and not `--quiet`.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(quiet: bool) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .expect("valid template"),
        );
        Bar(pb)
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.inc_length(total);
    }
    fn advance(&self, path: &Path) {
        self.0.set_message(path.display().to_string());
        self.0.inc(1);
    }
}

fn print_ingest(r: &IngestReport, cli: &Cli) {
    if !cli.quiet {
        for i in &r.ingested {
            println!("ingested  {}  {}  ({:.1} s)", i.id, i.path, i.duration_s);
        }
        for d in &r.duplicates {
            println!("present   {}  {}", d.id, d.path);
        }
    }
    for x in &r.rejected {
        eprintln!("rejected  {}: {}", x.path, x.reason);
    }
    if cli.verbose {
        for x in &r.skipped {
            eprintln!("skipped   {}: {}", x.path, x.reason);
        }
    }
    if !cli.quiet {
        println!(
            "{} ingested, {} already present, {} rejected, {} skipped{}",
            r.ingested.len(),
            r.duplicates.len(),
            r.rejected.len(),
            r.skipped.len(),
            if r.skipped.is_empty() || cli.verbose {
                ""
            } else {
                " (-v lists them)"
            }
        );
    }
}

fn print_normalize(r: &NormalizeReport, cli: &Cli) {
    if !cli.quiet {
        for item in &r.normalized {
            let n = &item.normalized;
            let after = n
                .loudness_after_lufs
                .map_or("silent".to_string(), |l| format!("{l:.1} LUFS"));
            let peak = n
                .true_peak_after_dbtp
                .map_or(String::new(), |p| format!(", true peak {p:.1} dBTP"));
            println!(
                "normalized {}  {after}{peak}, gain {:+.1} dB",
                item.id, n.gain_db
            );
            if let Some(note) = &n.note {
                println!("           {note}");
            }
        }
        for id in &r.segments_cleared {
            println!("           {id}: earlier segments removed; run `visitrec segment` again");
        }
    }
    for f in &r.failed {
        eprintln!("failed     {}: {}", f.id, f.reason);
    }
    if !cli.quiet {
        println!(
            "{} normalized, {} already up to date, {} failed",
            r.normalized.len(),
            r.unchanged.len(),
            r.failed.len()
        );
    }
}

fn print_segment(r: &SegmentReport, cli: &Cli) {
    if !cli.quiet {
        for item in &r.segmented {
            println!("segmented  {}  {} segment(s)", item.id, item.segments.len());
            if cli.verbose {
                for s in &item.segments {
                    let label = s
                        .label
                        .as_deref()
                        .map_or(String::new(), |l| format!("  [{l}]"));
                    println!(
                        "           {:03}  {:.3}-{:.3} s{label}",
                        s.index, s.start_s, s.end_s
                    );
                }
            }
        }
    }
    for f in &r.failed {
        eprintln!("failed     {}: {}", f.id, f.reason);
    }
    if !cli.quiet {
        println!(
            "{} segmented ({} normalized first), {} already up to date, {} failed",
            r.segmented.len(),
            r.normalized_first.len(),
            r.unchanged.len(),
            r.failed.len()
        );
    }
}

fn fmt_duration(s: f64) -> String {
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m:02}:{sec:02}")
    }
}

fn list_line(r: &Recording) -> String {
    let tags: Vec<String> = r.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}  {}  {:>8}  {:<10}  {}",
        r.id,
        r.source.recorded_at,
        fmt_duration(r.source.duration_s),
        r.participant.as_deref().unwrap_or("-"),
        tags.join(" ")
    )
}

fn print_recording(r: &Recording) {
    let s = &r.source;
    println!("id:           {}", r.id);
    println!("file name:    {}", s.file_name);
    println!("stored as:    {}", s.stored_as);
    println!("sha256:       {}", s.sha256);
    println!("size:         {} bytes", s.size);
    println!(
        "audio:        {} in {}, {} Hz, {} ch",
        s.codec, s.container, s.sample_rate, s.channels
    );
    println!(
        "duration:     {} ({:.3} s, {} frames)",
        fmt_duration(s.duration_s),
        s.duration_s,
        s.frames
    );
    println!(
        "recorded at:  {} (from {})",
        s.recorded_at, s.recorded_at_source
    );
    println!(
        "has location: {}",
        if s.has_location {
            "yes (not copied)"
        } else {
            "no"
        }
    );
    println!("ingested at:  {}", r.ingested_at);
    println!("participant:  {}", r.participant.as_deref().unwrap_or("-"));
    for (k, v) in &r.tags {
        println!("tag:          {k}={v}");
    }
}

fn print_verify(archive: &Path, r: &Report, quiet: bool) {
    for p in &r.problems {
        println!(
            "{:<13} {}: {}",
            format!("{:?}", p.kind).to_lowercase(),
            p.path,
            p.detail
        );
    }
    if !quiet || !r.ok {
        let mb = r.bytes_checked as f64 / 1e6;
        if r.ok {
            println!(
                "{}: intact ({} files, {mb:.1} MB checked)",
                archive.display(),
                r.files_checked
            );
        } else {
            println!(
                "{}: {} problem(s) found",
                archive.display(),
                r.problems.len()
            );
        }
    }
}

fn print_demo(run: &visitrec::demo::DemoRun, cli: &Cli) {
    if cli.quiet {
        return;
    }
    println!("visitrec demo in {}", run.dir.display());
    println!(
        "1. wrote {} sample phone recordings to {}",
        visitrec::demo::SAMPLES.len(),
        run.inbox.display()
    );
    println!("2. created the archive {}", run.archive.display());
    println!("3. ingested them for participant P017 with tag site=demo-clinic, normalized each");
    println!("   to -16 LUFS / -1.5 dBTP at 16 kHz and cut it into speech segments:");
    print_ingest(&run.ingest, cli);
    if let Some(n) = &run.ingest.normalize {
        print_normalize(n, cli);
    }
    if let Some(s) = &run.ingest.segment {
        print_segment(s, cli);
    }
    println!(
        "4. ingested the same folder again: {} already present, {} new (deduplicated by content)",
        run.reingest.duplicates.len(),
        run.reingest.ingested.len()
    );
    println!("5. verified the archive:");
    print_verify(&run.archive, &run.verify, false);
    println!("Next: visitrec list {}", run.archive.display());
}

//! The `visitrec` command line: parses arguments, calls the library, prints.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use visitrec::error::exit;
use visitrec::ingest::{IngestOptions, IngestReport, Progress};
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
        /// Print one JSON document to stdout instead of text.
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
            let bar = Bar::new(cli.quiet);
            let report = visitrec::ingest::ingest(archive, inputs, &opts, &bar)?;
            bar.finish();
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_ingest(&report, cli);
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
        self.0.set_length(total);
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
    println!("3. ingested them for participant P017 with tag site=demo-clinic:");
    print_ingest(&run.ingest, cli);
    println!(
        "4. ingested the same folder again: {} already present, {} new (deduplicated by content)",
        run.reingest.duplicates.len(),
        run.reingest.ingested.len()
    );
    println!("5. verified the archive:");
    print_verify(&run.archive, &run.verify, false);
    println!("Next: visitrec list {}", run.archive.display());
}

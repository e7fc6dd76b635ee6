//! The binary's commands: the clap definition, one module per subcommand (its `Args` and
//! a `run` that returns a [`output::Report`]), and what they share.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use visitrec::archive::{Archive, Writer};
use visitrec::crypto::Identities;
use visitrec::sanitize::term;

pub mod args;
pub mod checkpoint;
pub mod complete;
pub mod consent;
pub mod decrypt;
pub mod demo;
pub mod encrypt;
pub mod generate;
pub mod ingest;
pub mod init;
pub mod list;
pub mod log;
pub mod normalize;
pub mod output;
pub mod plot;
pub mod progress;
pub mod purge;
pub mod repair;
pub mod report;
pub mod retention;
pub mod segment;
pub mod show;
pub mod tag;
pub mod verify;

use output::{Rendered, Verbosity};

/// Archive clinic-visit recordings: intact, private, and tied to their consent.
#[derive(Debug, Parser)]
#[command(name = "visitrec", version, about, long_about = None)]
#[command(after_help = EXIT_CODES)]
pub struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
    /// Print more detail (skipped files, every check).
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub verbose: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The exit statuses, for `--help` (visitrec(1) has them too).
pub const EXIT_CODES: &str = "Exit codes:
  0  success: everything done, or the archive is intact
  1  the command ran but found problems (verify, report), rejected some inputs (ingest), or some
     recordings failed (normalize, segment)
  2  could not run: usage, no such archive, archive locked, I/O error, wrong key, tampered export
  3  refused: consent does not cover the export's --purpose, or still covers a recording to
     purge (nothing written)
  128+N  interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP): encrypt and decrypt removed
         what they had written; ingest, normalize, segment and repair kept what they had committed";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty archive (a BagIt 1.0 bag).
    #[command(after_help = init::EXAMPLES)]
    Init(init::Args),
    /// Add recordings (files or whole folder trees), deduplicated by content.
    #[command(after_help = ingest::EXAMPLES, after_long_help = ingest::LONG_HELP)]
    Ingest(ingest::Args),
    /// Make a loudness-normalized mono WAV of each recording (EBU R128, true peak).
    #[command(after_help = normalize::EXAMPLES)]
    Normalize(normalize::Args),
    /// Split each recording into speech segments (voice activity, and marks with --at-marks).
    #[command(after_help = segment::EXAMPLES)]
    Segment(segment::Args),
    /// Rebuild missing or damaged normalized WAVs and segments from verified originals.
    #[command(after_help = repair::EXAMPLES)]
    Repair(repair::Args),
    /// Set or remove tags and time-anchored marks of a recording.
    #[command(after_help = tag::EXAMPLES)]
    Tag(tag::Args),
    /// Record a consent grant or withdrawal, or show a recording's consent.
    #[command(after_help = consent::EXAMPLES)]
    Consent(consent::Args),
    /// Erase recordings (audio and personal metadata), keeping a tombstone of each.
    #[command(after_help = purge::EXAMPLES)]
    Purge(purge::Args),
    /// Show or set how long recordings are kept (bag-info Visitrec-Retention).
    #[command(after_help = retention::EXAMPLES)]
    Retention(retention::Args),
    /// Encrypt recordings with age into an export bag for a recipient (consent enforced).
    #[command(after_help = encrypt::EXAMPLES)]
    Encrypt(encrypt::Args),
    /// Decrypt an export into a plaintext BagIt bag, checking every file end to end.
    #[command(after_help = decrypt::EXAMPLES)]
    Decrypt(decrypt::Args),
    /// Print the audit trail (of one recording with ID).
    #[command(after_help = log::EXAMPLES)]
    Log(log::Args),
    /// List the recordings, one line each.
    #[command(after_help = list::EXAMPLES)]
    List(list::Args),
    /// Show one recording in full; a unique id prefix is enough.
    #[command(after_help = show::EXAMPLES)]
    Show(show::Args),
    /// Draw one recording as an SVG picture: waveform, speech, marks, loudness, consent.
    #[command(after_help = plot::EXAMPLES)]
    Plot(plot::Args),
    /// Write one self-contained HTML report of the archive (no scripts, opens offline).
    #[command(after_help = report::EXAMPLES)]
    Report(report::Args),
    /// Check an archive's integrity (exit 0 intact, 1 problems, 2 could not run).
    #[command(after_help = verify::EXAMPLES, after_long_help = verify::LONG_HELP)]
    Verify(verify::Args),
    /// Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl).
    #[command(after_help = checkpoint::EXAMPLES)]
    Checkpoint(checkpoint::Args),
    /// Run the whole pipeline on the bundled sample recordings.
    #[command(after_help = demo::EXAMPLES)]
    Demo(demo::Args),
    /// Write the man pages and shell completions (for maintainers: `scripts/gen-docs`).
    #[command(hide = true)]
    Generate(generate::Args),
}

impl Cli {
    /// The verbosity the global flags ask for.
    pub fn verbosity(&self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        }
    }
}

impl Command {
    /// Whether `--json` was asked for.
    pub fn json(&self) -> bool {
        match self {
            Command::Ingest(a) => a.json,
            Command::Normalize(a) => a.json,
            Command::Segment(a) => a.json,
            Command::Repair(a) => a.json,
            Command::Tag(a) => a.json,
            Command::Consent(a) => a.json,
            Command::Purge(a) => a.json,
            Command::Retention(a) => a.json,
            Command::Encrypt(a) => a.json,
            Command::Decrypt(a) => a.json,
            Command::Log(a) => a.json,
            Command::List(a) => a.json,
            Command::Show(a) => a.json,
            Command::Plot(a) => a.json,
            Command::Report(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Checkpoint(a) => a.json,
            Command::Init(_) | Command::Demo(_) | Command::Generate(_) => false,
        }
    }

    /// Runs the command.
    pub fn run(&self, v: Verbosity) -> anyhow::Result<Box<dyn Rendered>> {
        Ok(match self {
            Command::Init(a) => Box::new(init::run(a)?),
            Command::Ingest(a) => Box::new(ingest::run(a, v)?),
            Command::Normalize(a) => Box::new(normalize::run(a, v)?),
            Command::Segment(a) => Box::new(segment::run(a, v)?),
            Command::Repair(a) => Box::new(repair::run(a, v)?),
            Command::Tag(a) => Box::new(tag::run(a)?),
            Command::Consent(a) => consent::run(a)?,
            Command::Purge(a) => Box::new(purge::run(a)?),
            Command::Retention(a) => Box::new(retention::run(a)?),
            Command::Encrypt(a) => Box::new(encrypt::run(a)?),
            Command::Decrypt(a) => Box::new(decrypt::run(a)?),
            Command::Log(a) => log::run(a)?,
            Command::List(a) => Box::new(list::run(a)?),
            Command::Show(a) => Box::new(show::run(a)?),
            Command::Plot(a) => Box::new(plot::run(a)?),
            Command::Report(a) => Box::new(report::run(a)?),
            Command::Verify(a) => Box::new(verify::run(a)?),
            Command::Checkpoint(a) => Box::new(checkpoint::run(a)?),
            Command::Demo(a) => Box::new(demo::run(a, v)?),
            Command::Generate(a) => Box::new(generate::run(a)?),
        })
    }
}

/// `--actor`, taken by the commands that write to an archive.
#[derive(Debug, Clone, clap::Args)]
pub struct ActorArg {
    /// Who is making the change, for the audit trail (default: $USER).
    #[arg(long, env = "VISITREC_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
}

impl ActorArg {
    /// Takes `archive`'s write lock in this actor's name, after printing what its keeper
    /// should know.
    pub fn writer(&self, archive: &Path) -> anyhow::Result<Writer> {
        let actor = visitrec::audit::actor(self.actor.as_deref());
        visitrec::tags::check_value("--actor", &actor)?;
        let writer = Archive::open(archive)?.writer(&actor)?;
        for w in writer.warnings() {
            output::message(&output::warning(w));
        }
        Ok(writer)
    }
}

/// A passphrase from `VISITREC_PASSPHRASE`, else from the terminal (asked twice when
/// `confirm`); never from the command line.
pub fn read_passphrase(confirm: bool) -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("VISITREC_PASSPHRASE") {
        anyhow::ensure!(!p.is_empty(), "VISITREC_PASSPHRASE is empty");
        return Ok(SecretString::from(p));
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no passphrase: set VISITREC_PASSPHRASE or run from a terminal"
    );
    let p = rpassword::prompt_password("passphrase: ").context("reading the passphrase")?;
    anyhow::ensure!(!p.is_empty(), "empty passphrase");
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("again: ")?);
        anyhow::ensure!(*again == p, "the passphrases differ");
    }
    Ok(SecretString::from(p))
}

/// Identities from files, or a passphrase; `None` when neither is given.
pub fn identities_from(files: &[PathBuf], passphrase: bool) -> anyhow::Result<Option<Identities>> {
    Ok(if passphrase {
        Some(Identities::passphrase(read_passphrase(false)?))
    } else if files.is_empty() {
        None
    } else {
        Some(Identities::from_files(files)?)
    })
}

/// The day consent is judged on: `--at DATE`, else `None` (the library's judging day).
pub fn day_of(at: Option<&str>) -> visitrec::Result<Option<jiff::civil::Date>> {
    at.map(|d| visitrec::consent::parse_date("--at", d))
        .transpose()
}

/// Prints the lines a library step reports as done to stderr (e.g. stale staging removed).
pub fn note_all(lines: impl IntoIterator<Item = String>) {
    for l in lines {
        output::message(&format!("visitrec: {}", term(&l)));
    }
}

/// The clap definition, for completion and the man pages.
pub fn cli_command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

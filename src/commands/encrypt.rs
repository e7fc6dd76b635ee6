//! `visitrec encrypt`: an age-encrypted export for a recipient, consent enforced.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::consent::Scope;
use visitrec::crypto::Recipients;
use visitrec::export::{ExportOptions, ExportReport};
use visitrec::sanitize::term;

use super::ActorArg;
use super::args::Which;
use super::output::{Report, Verbosity, warning};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec encrypt study-archive 3f9a1c --recipient age1qz... --purpose personal-use --out p017-visit/
  visitrec encrypt study-archive --all --recipients-file custodians.txt --purpose research --out export/
  visitrec encrypt study-archive --all --skip-uncovered -R custodians.txt --purpose research --out export/

Every recording's consent must cover --purpose today, or nothing is written (exit 3).
With --skip-uncovered the others are left out and listed; exit 3 only if none is covered.
The recipient opens a file with the stock tool: age -d -i key.txt -o original.m4a original.m4a.age
Originals are exported byte for byte, with any location, device or names their tags hold
(a warning says so); --strip-metadata writes them without their tags instead.";

/// `visitrec encrypt` flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(false)))]
#[command(group(clap::ArgGroup::new("to").required(true).multiple(true)))]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    #[command(flatten)]
    pub which: Which,
    /// An age (age1…) or SSH (ssh-ed25519, ssh-rsa) public key (repeatable).
    #[arg(short = 'r', long = "recipient", value_name = "KEY", group = "to")]
    pub recipients: Vec<String>,
    /// A file of recipients, one per line, # comments (repeatable).
    #[arg(
        short = 'R',
        long = "recipients-file",
        value_name = "FILE",
        group = "to"
    )]
    pub recipients_files: Vec<PathBuf>,
    /// Encrypt with a passphrase instead (VISITREC_PASSPHRASE or a prompt; never argv).
    #[arg(long, group = "to", conflicts_with_all = ["recipients", "recipients_files"])]
    pub passphrase: bool,
    /// The use the export is for; every recording's consent must cover it.
    #[arg(long, default_value = "personal-use", value_name = "SCOPE", add = super::complete::scopes())]
    pub purpose: String,
    /// Export the recordings consent covers and list the others as skipped, instead of
    /// refusing all (exit 3 only if none is covered).
    #[arg(long)]
    pub skip_uncovered: bool,
    /// Write each original without its metadata tags (location, device, names, comments,
    /// pictures); the audio is unchanged. The export lists them in metadata-stripped.txt.
    #[arg(long)]
    pub strip_metadata: bool,
    /// What to include: original,normalized,segments,metadata (default: all that exists).
    #[arg(long, value_name = "LIST")]
    pub include: Option<String>,
    /// The export folder to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// Whom to encrypt for.
    fn recipients(&self) -> anyhow::Result<Recipients> {
        if self.passphrase {
            return Ok(Recipients::Passphrase(super::read_passphrase(true)?));
        }
        let mut keys = self
            .recipients
            .iter()
            .map(|r| visitrec::crypto::parse_recipient(r))
            .collect::<Result<Vec<_>, _>>()?;
        for f in &self.recipients_files {
            keys.extend(visitrec::crypto::read_recipients_file(f)?);
        }
        Ok(Recipients::Keys(keys))
    }

    /// The export the flags describe.
    fn options(&self) -> visitrec::Result<ExportOptions> {
        Ok(ExportOptions {
            purpose: self.purpose.parse()?,
            include: self
                .include
                .as_deref()
                .map(|l| l.split(',').map(str::parse).collect::<Result<Vec<_>, _>>())
                .transpose()?,
            out: self.out.clone(),
            skip_uncovered: self.skip_uncovered,
            strip_metadata: self.strip_metadata,
        })
    }
}

/// What `encrypt` made, and for what.
#[derive(Debug, Serialize)]
pub struct Encrypted {
    #[serde(flatten)]
    report: ExportReport,
    #[serde(skip)]
    purpose: Scope,
}

/// Encrypts the recordings named.
pub fn run(a: &Args) -> anyhow::Result<Encrypted> {
    let to = a.recipients()?;
    let opts = a.options()?;
    let mut writer = a.actor.writer(&a.archive)?;
    let ids = a.which.select(writer.archive())?;
    super::note_all(visitrec::export::remove_stale_staging(&a.out)?);
    let report = visitrec::export::encrypt(&mut writer, &ids, &to, &opts)?;
    Ok(Encrypted {
        report,
        purpose: opts.purpose,
    })
}

impl Report for Encrypted {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        let r = &self.report;
        let files: usize = r.recordings.iter().map(|r| r.files.len()).sum();
        writeln!(
            out,
            "encrypted {} recording(s), {files} file(s), {:.1} MB, for {} to {}",
            r.recordings.len(),
            r.plaintext_bytes as f64 / 1e6,
            self.purpose,
            term(&r.out)
        )?;
        let stripped = r.recordings.iter().filter(|r| r.metadata_stripped).count();
        if stripped > 0 {
            writeln!(
                out,
                "wrote {stripped} original(s) without their metadata (listed in {})",
                visitrec::export::METADATA_STRIPPED
            )?;
        }
        if !r.skipped.is_empty() {
            writeln!(
                out,
                "skipped {} recording(s) that consent does not cover for {} (listed on stderr)",
                r.skipped.len(),
                self.purpose
            )?;
        }
        writeln!(
            out,
            "send the folder; the recipient checks it with `visitrec verify` (no key needed)"
        )?;
        writeln!(
            out,
            "and opens each file with `age -d -i KEY FILE.age`, or all with `visitrec decrypt`"
        )
    }

    fn diagnostics(&self, _v: Verbosity) -> Vec<String> {
        let skipped = self
            .report
            .skipped
            .iter()
            .map(|s| format!("skipped {}: {}", term(&s.id), term(&s.reason)));
        skipped
            .chain(self.report.warnings.iter().map(|w| warning(w)))
            .collect()
    }
}

//! `visitrec decrypt`: an export into a plaintext bag, checked end to end.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::export::DecryptReport;
use visitrec::sanitize::term;

use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec decrypt p017-visit/ --identity key.txt --out plain/
  visitrec decrypt p017-visit/ --identity key.txt --out visit/ --friendly-names
  VISITREC_PASSPHRASE=... visitrec decrypt export/ --passphrase --out plain/ --json

With --friendly-names, visit/ holds \"2026-11-02 New Recording 3.m4a\" (each original under
its name from the phone, dated) and visit/checked-bag/ (the checked plaintext bag).";

/// `visitrec decrypt` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The export.
    pub export: PathBuf,
    /// An age identity file or SSH private key (repeatable).
    #[arg(
        short = 'i',
        long = "identity",
        value_name = "FILE",
        required_unless_present = "passphrase"
    )]
    pub identities: Vec<PathBuf>,
    /// The export was made with a passphrase (VISITREC_PASSPHRASE or a prompt).
    #[arg(long, conflicts_with = "identities")]
    pub passphrase: bool,
    /// The folder to create with the plaintext files.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write each original under its name from the phone ("2026-11-02 New Recording
    /// 3.m4a") in DIR, with the checked bag in DIR/checked-bag.
    #[arg(long)]
    pub friendly_names: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Decrypts the export.
pub fn run(a: &Args) -> anyhow::Result<DecryptReport> {
    let ids = super::identities_from(&a.identities, a.passphrase)?
        .ok_or_else(|| anyhow::anyhow!("give --identity FILE or --passphrase"))?;
    super::note_all(visitrec::export::remove_stale_staging(&a.out)?);
    visitrec::export::decrypt(&a.export, &ids, &a.out, a.friendly_names)
        .map_err(|e| visitrec::crypto::name_the_keys(e, &a.export, &a.identities).into())
}

impl Report for DecryptReport {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        writeln!(
            out,
            "decrypted {} file(s), {:.1} MB, into {} (every file matches the export's checksums)",
            self.files,
            self.bytes as f64 / 1e6,
            term(&self.bag)
        )?;
        if self.bag == self.out {
            return Ok(());
        }
        writeln!(
            out,
            "{} original(s) under their own names in {}:",
            self.originals.len(),
            term(&self.out)
        )?;
        for n in &self.originals {
            writeln!(out, "  {}  ({})", term(&n.file), term(&n.id))?;
        }
        Ok(())
    }
}

//! `visitrec checkpoint`: sign the audit log's head.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::checkpoint::Outcome;

use super::ActorArg;
use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec checkpoint study-archive --key ~/.ssh/id_ed25519
  visitrec verify study-archive --allowed-signers allowed_signers

The signature is in the SSH signature format, namespace visitrec-audit, so
`ssh-keygen -Y verify -n visitrec-audit` checks it too (docs/FORMAT.md has the message).";

/// `visitrec checkpoint` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// The OpenSSH ed25519 private key to sign with (unencrypted).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the checkpoint as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Signs the head.
pub fn run(a: &Args) -> anyhow::Result<Outcome> {
    let key = visitrec::checkpoint::read_key(&a.key)?;
    let mut writer = a.actor.writer(&a.archive)?;
    Ok(visitrec::checkpoint::sign(&mut writer, &key)?)
}

impl Report for Outcome {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        let c = &self.checkpoint;
        let verb = if self.already_signed {
            "already signed"
        } else {
            "signed"
        };
        writeln!(
            out,
            "{verb} audit line {} (head {}) with {} into {}",
            c.seq,
            c.head,
            c.fingerprint,
            visitrec::archive::CHECKPOINTS
        )
    }
}

//! `visitrec log`: the audit trail, or its head for anchoring.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::anchor::Anchor;
use visitrec::archive::Archive;
use visitrec::audit::Entry;
use visitrec::sanitize::term;

use super::output::{Rendered, Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec log study-archive
  visitrec log study-archive 3f9a1c --json
  visitrec log study-archive --head >> anchors.txt    # keep it outside the archive";

/// `visitrec log` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// Only entries about this recording (id or unique prefix).
    #[arg(add = super::complete::recording_ids())]
    pub id: Option<String>,
    /// Print only the head, SEQ:HASH (the last line's number and SHA-256), for
    /// `verify --anchor`; refused when the chain is broken.
    #[arg(long, conflicts_with = "id")]
    pub head: bool,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Reads the log (or its head).
pub fn run(a: &Args) -> anyhow::Result<Box<dyn Rendered>> {
    if a.head {
        return Ok(Box::new(visitrec::anchor::head(&a.archive)?));
    }
    let archive = Archive::open(&a.archive)?;
    // A purged recording's history stays readable: the log is all that tells it.
    let id = match a.id.as_deref().map(|p| archive.resolve_id(p)).transpose() {
        Err(visitrec::Error::Purged { id, .. }) => Some(id),
        other => other?,
    };
    let text = archive
        .read_text(visitrec::audit::AUDIT_LOG)?
        .unwrap_or_default();
    let entries = visitrec::audit::entries(&text)
        .into_iter()
        .filter(|e| id.as_ref().is_none_or(|i| e.ids.contains(i)))
        .collect();
    Ok(Box::new(Entries(entries)))
}

impl Report for Anchor {
    fn write_text(&self, out: &mut dyn Write, _v: Verbosity) -> io::Result<()> {
        writeln!(out, "{self}")
    }
}

/// The audit entries printed.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Entries(Vec<Entry>);

impl Report for Entries {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        for e in &self.0 {
            // -v names every recording an entry touched.
            let ids = if e.ids.len() > 3 && v < Verbosity::Verbose {
                format!("{} and {} more", e.ids[..3].join(" "), e.ids.len() - 3)
            } else {
                e.ids.join(" ")
            };
            // The declared actor, and the OS account when it says otherwise.
            let who = match &e.user {
                Some(u) if *u != e.actor => format!("{} ({u})", e.actor),
                _ => e.actor.clone(),
            };
            writeln!(
                out,
                "{:>4}  {}  {:<14} {:<12} {}",
                e.seq,
                term(&e.at),
                term(&e.op),
                term(&who),
                term(&ids)
            )?;
        }
        Ok(())
    }
}

//! `visitrec repair`: rebuild missing or damaged derived files from verified originals.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::archive::Archive;
use visitrec::repair::RepairReport;
use visitrec::sanitize::term;

use super::ActorArg;
use super::args::LimitArgs;
use super::output::{Report, Verbosity};
use super::progress::Bar;

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec repair study-archive --dry-run
  visitrec repair study-archive
  visitrec repair study-archive 3f9a1c --json

Rebuilds normalized.wav, envelope.json and segments/NNN.wav from an original whose SHA-256
still verifies, with the settings recording.json records; a recording normalized before
envelopes were kept gets its envelope.json (made from its normalized.wav). A missing or damaged original or recording.json
cannot be rebuilt: it is reported (restore it from a backup), nothing of that recording
changes, and the exit status is 1.";

/// `visitrec repair` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// Recording ids or unique prefixes (default: every recording).
    pub ids: Vec<String>,
    /// Say what would be rebuilt, and what cannot be; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Repairs the recordings named (every one when none is).
pub fn run(a: &Args, v: Verbosity) -> anyhow::Result<RepairReport> {
    let all = a.ids.is_empty();
    if a.dry_run {
        let archive = Archive::open(&a.archive)?;
        let ids = visitrec::pipeline::select(&archive, &a.ids, all)?;
        return Ok(visitrec::repair::plan(&archive, &ids)?);
    }
    let mut writer = a.actor.writer(&a.archive)?;
    let ids = visitrec::pipeline::select(writer.archive(), &a.ids, all)?;
    let bar = Bar::new(v == Verbosity::Quiet);
    Ok(visitrec::repair::repair(
        &mut writer,
        &ids,
        a.limits.max_duration,
        &bar,
    )?)
}

impl Report for RepairReport {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        let verb = if self.dry_run {
            "would repair"
        } else {
            "repaired"
        };
        for r in &self.repaired {
            let how = match r.exact {
                Some(true) => "  (exact bytes restored)",
                _ => "",
            };
            writeln!(out, "{verb} {}{how}", r.id)?;
            for f in &r.files {
                writeln!(out, "           {}: {}", term(&f.path), term(&f.found))?;
            }
            if let Some(note) = &r.note {
                writeln!(out, "           {}", term(note))?;
            }
        }
        let done = if self.dry_run {
            "to repair"
        } else {
            "repaired"
        };
        writeln!(
            out,
            "{} {done}, {} intact, {} cannot be repaired",
            self.repaired.len(),
            self.intact.len(),
            self.unrepairable.len()
        )
    }

    fn diagnostics(&self, _v: Verbosity) -> Vec<String> {
        self.unrepairable
            .iter()
            .map(|u| format!("cannot repair {}: {}", u.id, term(&u.reason)))
            .collect()
    }

    fn exit(&self) -> visitrec::exit::Exit {
        self.exit_code()
    }
}

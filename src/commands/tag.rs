//! `visitrec tag`: tags and time-anchored marks.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::annotate::{TagEdit, TagOutcome};
use visitrec::sanitize::term;

use super::ActorArg;
use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec tag study-archive 3f9a1c --set visit_type=oncology --set clinician=C04 --unset site
  visitrec tag study-archive 3f9a1c --mark 03:12=\"medication change\" --mark 1:02:07.5=\"follow-up plan\"
  visitrec tag study-archive 3f9a1c --unmark 03:12";

/// `visitrec tag` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// The recording id or a unique prefix of it.
    #[arg(add = super::complete::recording_ids())]
    pub id: String,
    /// Set a tag (repeatable). Keys: [a-z0-9][a-z0-9_.-]{0,63}.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove a tag (repeatable).
    #[arg(long, value_name = "KEY")]
    pub unset: Vec<String>,
    /// Add a mark (repeatable). TIME is [[h:]mm:]ss[.fff] or seconds.
    #[arg(long, value_name = "TIME=LABEL")]
    pub mark: Vec<String>,
    /// Remove the mark at TIME (repeatable).
    #[arg(long, value_name = "TIME")]
    pub unmark: Vec<String>,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The edit the flags describe.
    fn edit(&self) -> visitrec::Result<TagEdit> {
        Ok(TagEdit {
            set: self
                .set
                .iter()
                .map(|t| visitrec::tags::parse_tag(t))
                .collect::<Result<_, _>>()?,
            unset: self.unset.clone(),
            mark: self
                .mark
                .iter()
                .map(|m| visitrec::annotate::parse_mark(m))
                .collect::<Result<_, _>>()?,
            unmark: self
                .unmark
                .iter()
                .map(|t| visitrec::tags::parse_time(t))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Applies the edit.
pub fn run(a: &Args) -> anyhow::Result<TagOutcome> {
    let edit = a.edit()?;
    let mut writer = a.actor.writer(&a.archive)?;
    let id = writer.archive().resolve_id(&a.id)?;
    Ok(visitrec::annotate::tag(&mut writer, &id, &edit)?)
}

impl Report for TagOutcome {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        let verb = if self.changed { "updated" } else { "unchanged" };
        writeln!(out, "{} {verb}", self.id)?;
        for (k, v) in &self.tags {
            writeln!(out, "  tag   {}={}", term(k), term(v))?;
        }
        for m in &self.marks {
            writeln!(
                out,
                "  mark  {}  {}",
                visitrec::tags::format_time(m.at_s),
                term(&m.label)
            )?;
        }
        Ok(())
    }
}

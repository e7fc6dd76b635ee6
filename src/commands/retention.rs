//! `visitrec retention`: show or set how long an archive keeps its recordings.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::archive::Archive;
use visitrec::retention::{BAG_INFO_LABEL, Period};

use super::ActorArg;
use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec retention study-archive
  visitrec retention study-archive 10y --actor records-office
  visitrec retention study-archive none
  visitrec tag study-archive 3f9a1c --set retention=15y   (one recording kept longer)";

/// `visitrec retention` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// The new period (10y, 18m, 90d), or `none` to keep recordings indefinitely; without
    /// it, the current period is shown.
    #[arg(value_name = "PERIOD")]
    pub period: Option<String>,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The archive's retention period.
#[derive(Debug, Serialize)]
pub struct Retention {
    /// The period now (`None`: kept indefinitely).
    retention: Option<String>,
    /// Whether this run changed it.
    changed: bool,
}

/// Shows or sets the period (logged as `retention`, with the old and new periods).
pub fn run(a: &Args) -> anyhow::Result<Retention> {
    let Some(given) = &a.period else {
        let archive = Archive::open(&a.archive)?;
        let now = visitrec::purge::archive_retention(&archive)?;
        return Ok(Retention {
            retention: now.map(|p| p.to_string()),
            changed: false,
        });
    };
    let new = match given.as_str() {
        "none" => None,
        p => Some(Period::parse("PERIOD", p)?),
    };
    let mut writer = a.actor.writer(&a.archive)?;
    let old = visitrec::purge::archive_retention(writer.archive())?;
    let changed = old != new;
    if changed {
        let mut txn = writer.begin();
        txn.set_info(BAG_INFO_LABEL, new.map(|p| p.to_string()));
        txn.audit(
            "retention",
            Vec::new(),
            serde_json::json!({
                "from": old.map(|p| p.to_string()),
                "to": new.map(|p| p.to_string()),
            }),
        );
        txn.commit()?;
    }
    Ok(Retention {
        retention: new.map(|p| p.to_string()),
        changed,
    })
}

impl Report for Retention {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        match &self.retention {
            Some(p) => writeln!(
                out,
                "retention: {p} from when each recording was recorded (a `retention` tag overrides it)"
            )?,
            None => writeln!(out, "retention: none (recordings are kept indefinitely)")?,
        }
        if !self.changed {
            return Ok(());
        }
        writeln!(
            out,
            "changed; `visitrec list ARCHIVE --expired` shows what is now past it"
        )
    }
}

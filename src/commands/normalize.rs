//! `visitrec normalize`: loudness-normalized mono WAVs.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::pipeline::NormalizeReport;
use visitrec::sanitize::term;

use super::ActorArg;
use super::args::{LimitArgs, NormArgs, Which};
use super::output::{Report, Verbosity};
use super::progress::Bar;

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec normalize study-archive --all
  visitrec normalize study-archive 3f9a1c --target-lufs -23 --rate 48000 --json";

/// `visitrec normalize` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub norm: NormArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Normalizes the recordings named.
pub fn run(a: &Args, v: Verbosity) -> anyhow::Result<NormalizeReport> {
    let mut writer = a.actor.writer(&a.archive)?;
    let ids = a.which.select(writer.archive())?;
    let bar = Bar::new(v == Verbosity::Quiet);
    Ok(visitrec::pipeline::normalize(
        &mut writer,
        &ids,
        &a.norm.settings(),
        a.limits.max_duration,
        &bar,
    )?)
}

impl Report for NormalizeReport {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        for item in &self.normalized {
            let n = &item.normalized;
            let after = n
                .loudness_after_lufs
                .map_or("silent".to_string(), |l| format!("{l:.1} LUFS"));
            let peak = n
                .true_peak_after_dbtp
                .map_or(String::new(), |p| format!(", true peak {p:.1} dBTP"));
            let limited = n
                .limiter
                .as_ref()
                .filter(|l| l.max_reduction_db >= 0.1)
                .map_or(String::new(), |l| {
                    format!(
                        ", limited up to {:.1} dB over {:.1} s",
                        l.max_reduction_db, l.limited_s
                    )
                });
            writeln!(
                out,
                "normalized {}  {after}{peak}, gain {:+.1} dB{limited}",
                item.id, n.gain_db
            )?;
            if let Some(note) = &n.note {
                writeln!(out, "           {}", term(note))?;
            }
        }
        for id in &self.segments_cleared {
            writeln!(
                out,
                "           {id}: earlier segments removed; run `visitrec segment` again"
            )?;
        }
        writeln!(
            out,
            "{} normalized, {} already up to date, {} failed",
            self.normalized.len(),
            self.unchanged.len(),
            self.failed.len()
        )
    }

    fn diagnostics(&self, _v: Verbosity) -> Vec<String> {
        self.failed
            .iter()
            .map(|f| format!("failed     {}: {}", f.id, term(&f.reason)))
            .collect()
    }

    fn exit(&self) -> visitrec::exit::Exit {
        self.exit_code()
    }
}

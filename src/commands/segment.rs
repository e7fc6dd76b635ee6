//! `visitrec segment`: speech segments, and cuts at marks.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::pipeline::SegmentReport;
use visitrec::sanitize::term;
use visitrec::tags::format_time;

use super::ActorArg;
use super::args::{LimitArgs, SegArgs, Which};
use super::output::{Report, Verbosity};
use super::progress::Bar;

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec segment study-archive --all
  visitrec segment study-archive 3f9a1c --at-marks --min-silence 1.0";

/// `visitrec segment` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub seg: SegArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Segments the recordings named.
pub fn run(a: &Args, v: Verbosity) -> anyhow::Result<SegmentReport> {
    let mut writer = a.actor.writer(&a.archive)?;
    let ids = a.which.select(writer.archive())?;
    let bar = Bar::new(v == Verbosity::Quiet);
    Ok(visitrec::pipeline::segment(
        &mut writer,
        &ids,
        &a.seg.params(),
        a.seg.at_marks,
        a.limits.max_duration,
        &bar,
    )?)
}

impl Report for SegmentReport {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        for item in &self.segmented {
            writeln!(
                out,
                "segmented  {}  {} segment(s)",
                item.id,
                item.segments.len()
            )?;
            if v == Verbosity::Verbose {
                for s in &item.segments {
                    let label = s
                        .label
                        .as_deref()
                        .map_or(String::new(), |l| format!("  [{}]", term(l)));
                    // As `show` prints them.
                    writeln!(
                        out,
                        "           {:03}  {} - {}  ({:.1} s){label}",
                        s.index,
                        format_time(s.start_s),
                        format_time(s.end_s),
                        s.end_s - s.start_s
                    )?;
                }
            }
        }
        writeln!(
            out,
            "{} segmented ({} normalized first), {} already up to date, {} failed",
            self.segmented.len(),
            self.normalized_first.len(),
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

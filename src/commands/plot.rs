//! `visitrec plot`: a picture of one visit as SVG.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::sanitize::term;

use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec plot study-archive 3f9a1c -o visit.svg
  visitrec plot study-archive 3f9a1c -o visit.svg --at 2027-01-31

Draws the waveform (lowest and highest sample per pixel column, from the envelope stored
when normalizing: no audio is decoded), speech segments shaded, marks as labelled lines, a
mm:ss time axis, loudness before and after normalization with what the limiter did, and
the consent strip (each scope's permitted days, withdrawals marked). A self-contained SVG:
no scripts, no external resources; it opens in any browser and prints. A recording
normalized before envelopes were kept has none: `visitrec repair ARCHIVE ID` makes it.";

/// `visitrec plot` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// The recording id or a unique prefix of it.
    #[arg(add = super::complete::recording_ids())]
    pub id: String,
    /// Where to write the SVG (replaced if it exists; never inside an archive).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// Judge consent on this day instead of today (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `plot` wrote.
#[derive(Debug, Serialize)]
pub struct Plotted {
    /// The recording drawn.
    pub id: String,
    /// The SVG file written.
    pub out: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
}

/// Draws the recording and writes the SVG (atomically: temp file, fsync, rename).
pub fn run(a: &Args) -> anyhow::Result<Plotted> {
    visitrec::archive::refuse_out_inside_archive(&a.out)?;
    let day = super::day_of(a.at.as_deref())?;
    let (rec, svg) = visitrec::plot::visit(&a.archive, &a.id, day)?;
    visitrec::fsutil::write_atomic(&a.out, svg.as_bytes())?;
    Ok(Plotted {
        id: rec.id,
        out: a.out.clone(),
        bytes: svg.len(),
    })
}

impl Report for Plotted {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        writeln!(
            out,
            "wrote {}  (picture of {}, {} bytes)",
            term(&self.out.display().to_string()),
            self.id,
            self.bytes
        )
    }
}

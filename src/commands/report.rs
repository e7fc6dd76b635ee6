//! `visitrec report`: one self-contained HTML page about an archive.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::exit::Exit;
use visitrec::overview::{Options, Summary};
use visitrec::sanitize::term;

use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec report study-archive -o report.html
  visitrec report study-archive -o report.html --fast --json

One HTML file, no scripts and no external fonts, styles or images (its Content-Security-
Policy forbids them), so it opens offline and leaks nothing: counts, hours, formats,
consent per scope, consents expiring within 30 days, recordings withdrawn but not purged,
tombstones, the audit head and last checkpoint, a verify run, then one row per recording
(waveform thumbnail, length, participant, consent, marks), grouped by consent state.
Exit status 1 when verify found problems or an envelope was refused.";

/// `visitrec report` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// Where to write the HTML (replaced if it exists; never inside an archive).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// Verify with --fast (presence and Payload-Oxum) instead of hashing every file.
    #[arg(long)]
    pub fast: bool,
    /// Judge consent on this day instead of today (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `report` wrote, and what the page says in numbers.
#[derive(Debug, Serialize)]
pub struct Written {
    /// The HTML file written.
    pub out: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
    /// What it found.
    #[serde(flatten)]
    pub summary: Summary,
}

/// Gathers the report and writes the page (atomically: temp file, fsync, rename).
pub fn run(a: &Args) -> anyhow::Result<Written> {
    visitrec::archive::refuse_out_inside_archive(&a.out)?;
    let opts = Options {
        fast_verify: a.fast,
        day: super::day_of(a.at.as_deref())?,
    };
    let page = visitrec::overview::report(&a.archive, &opts)?;
    visitrec::fsutil::write_atomic(&a.out, page.html.as_bytes())?;
    Ok(Written {
        out: a.out.clone(),
        bytes: page.html.len(),
        summary: page.summary,
    })
}

impl Report for Written {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        let s = &self.summary;
        writeln!(
            out,
            "wrote {}  ({} recordings, {:.2} hours, {} purged; verify: {})",
            term(&self.out.display().to_string()),
            s.recordings,
            s.hours,
            s.purged,
            if s.verified {
                "intact".to_string()
            } else {
                format!("{} problem(s)", s.problems)
            }
        )
    }

    fn diagnostics(&self, _v: Verbosity) -> Vec<String> {
        self.summary
            .envelope_problems
            .iter()
            .map(|p| format!("warning: envelope refused: {}", term(p)))
            .collect()
    }

    fn exit(&self) -> Exit {
        Exit::problems_unless(self.summary.verified && self.summary.envelope_problems.is_empty())
    }
}

//! `visitrec init`: create an empty archive.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec init study-archive --org \"Example Clinic Study\"
  visitrec init /srv/archives/2026-cardiology --org \"St Mary's Cardiology\"";

/// `visitrec init` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to create (must not exist, or be empty).
    pub archive: PathBuf,
    /// The organisation responsible for the recordings (bag-info Source-Organization).
    #[arg(long)]
    pub org: String,
}

/// The archive created.
#[derive(Debug, Serialize)]
pub struct Created {
    archive: PathBuf,
    org: String,
}

/// Creates the archive.
pub fn run(a: &Args) -> anyhow::Result<Created> {
    visitrec::tags::check_value("--org", &a.org)?;
    visitrec::archive::Archive::init(&a.archive, &a.org)?;
    Ok(Created {
        archive: a.archive.clone(),
        org: a.org.clone(),
    })
}

impl Report for Created {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v > Verbosity::Quiet {
            writeln!(
                out,
                "Created archive {} for {}",
                visitrec::sanitize::term(&self.archive.display().to_string()),
                visitrec::sanitize::term(&self.org)
            )?;
        }
        Ok(())
    }
}

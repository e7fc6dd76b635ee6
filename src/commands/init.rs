//! `visitrec init`: create an empty archive.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec init study-archive --org \"Example Clinic Study\"
  visitrec init /srv/archives/2026-cardiology --org \"St Mary's Cardiology\" --retention 10y";

/// `visitrec init` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to create (must not exist, or be empty).
    pub archive: PathBuf,
    /// The organisation responsible for the recordings (bag-info Source-Organization).
    #[arg(long)]
    pub org: String,
    /// How long recordings are kept, from when they were recorded: 10y, 18m, 90d
    /// (bag-info Visitrec-Retention; a recording's `retention` tag overrides it).
    #[arg(long, value_name = "PERIOD")]
    pub retention: Option<String>,
}

/// The archive created.
#[derive(Debug, Serialize)]
pub struct Created {
    archive: PathBuf,
    org: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<String>,
}

/// Creates the archive.
pub fn run(a: &Args) -> anyhow::Result<Created> {
    visitrec::tags::check_value("--org", &a.org)?;
    let retention = a
        .retention
        .as_deref()
        .map(|r| visitrec::retention::Period::parse("--retention", r))
        .transpose()?;
    let extra: Vec<(&str, String)> = retention
        .iter()
        .map(|p| (visitrec::retention::BAG_INFO_LABEL, p.to_string()))
        .collect();
    visitrec::archive::Archive::init_with(&a.archive, &a.org, &extra)?;
    Ok(Created {
        archive: a.archive.clone(),
        org: a.org.clone(),
        retention: retention.map(|p| p.to_string()),
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
            if let Some(r) = &self.retention {
                writeln!(out, "Recordings are kept {r} from when they were recorded")?;
            }
        }
        Ok(())
    }
}

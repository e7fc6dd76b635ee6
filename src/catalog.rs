//! Reading recordings back out of an archive: `list` and `show`.

use std::path::Path;

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::record::{self, RECORDING_JSON, Recording};

/// Loads one recording's metadata by id.
pub fn load(archive: &Archive, id: &str) -> Result<Recording> {
    let rel = record::payload_path(id, RECORDING_JSON);
    let bytes = archive.read(&rel)?;
    Recording::from_json(&bytes).map_err(|reason| Error::BadFile {
        path: archive.root().join(&rel),
        reason,
    })
}

/// Every recording in the archive at `path`, ordered by recording time then id.
pub fn list(path: &Path) -> Result<Vec<Recording>> {
    let archive = Archive::open(path)?;
    let mut out = archive
        .recording_ids()?
        .iter()
        .map(|id| load(&archive, id))
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| (&a.source.recorded_at, &a.id).cmp(&(&b.source.recorded_at, &b.id)));
    Ok(out)
}

/// The recording whose id starts with `prefix`.
pub fn show(path: &Path, prefix: &str) -> Result<Recording> {
    let archive = Archive::open(path)?;
    let id = archive.resolve_id(prefix)?;
    load(&archive, &id)
}

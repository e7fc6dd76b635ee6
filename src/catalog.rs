//! Reading recordings back out of an archive: `list` and `show`.

use std::path::Path;

use crate::archive::Archive;
use crate::consent::{self, ConsentState};
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

/// The archive's audit entries (empty when there is no log).
fn log_entries(archive: &Archive) -> Result<Vec<crate::audit::Entry>> {
    let text = archive
        .read_text(crate::audit::AUDIT_LOG)?
        .unwrap_or_default();
    Ok(crate::audit::entries(&text))
}

/// Each recording (or the one `prefix` names) with its consent state on `day` (default:
/// [`consent::judging_day`]), believed only where the audit log explains its history (see
/// [`crate::replay`]); otherwise [`ConsentState::unverified`]. The rule `encrypt` applies.
pub fn with_consent(
    path: &Path,
    prefix: Option<&str>,
    day: Option<jiff::civil::Date>,
) -> Result<Vec<(Recording, ConsentState)>> {
    let archive = Archive::open(path)?;
    let recs = match prefix {
        Some(p) => vec![load(&archive, &archive.resolve_id(p)?)?],
        None => list(path)?,
    };
    let log = log_entries(&archive)?;
    let day = day.unwrap_or_else(|| consent::judging_day(&log));
    let unexplained: std::collections::BTreeSet<String> = crate::replay::check(&log, &recs)
        .into_iter()
        .filter(|m| m.consent)
        .map(|m| m.id)
        .collect();
    Ok(recs
        .into_iter()
        .map(|r| {
            let st = if unexplained.contains(&r.id) {
                ConsentState::unverified(day)
            } else {
                consent::state(&r.consent, day)
            };
            (r, st)
        })
        .collect())
}

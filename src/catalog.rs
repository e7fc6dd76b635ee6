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

/// Every recording of `archive`, ordered by recording time then id.
pub fn list(archive: &Archive) -> Result<Vec<Recording>> {
    let mut out = archive
        .recording_ids()?
        .iter()
        .map(|id| load(archive, id))
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| (&a.source.recorded_at, &a.id).cmp(&(&b.source.recorded_at, &b.id)));
    Ok(out)
}

/// How consent is judged for a set of recordings: the day, and the recordings whose
/// consent history the audit log does not explain (id → what differs), whose consent is
/// therefore not believed (see [`crate::replay`]).
#[derive(Debug)]
pub struct Judged {
    /// The day asked for, else [`consent::judging_day`].
    pub day: jiff::civil::Date,
    /// Recordings whose consent history the log does not explain, with the difference.
    pub unexplained: std::collections::BTreeMap<String, String>,
}

/// Judges `recs` of `archive` against its audit log (read and replayed once).
pub fn judge(
    archive: &Archive,
    recs: &[Recording],
    day: Option<jiff::civil::Date>,
) -> Result<Judged> {
    let text = archive
        .read_text(crate::audit::AUDIT_LOG)?
        .unwrap_or_default();
    let log = crate::audit::entries(&text);
    let mut unexplained = std::collections::BTreeMap::new();
    for m in crate::replay::check(&log, recs) {
        if m.consent {
            unexplained.entry(m.id).or_insert(m.detail);
        }
    }
    Ok(Judged {
        day: day.unwrap_or_else(|| consent::judging_day(&log)),
        unexplained,
    })
}

/// Each recording (or the one `prefix` names) with its consent state on `day` (default:
/// [`consent::judging_day`]), believed only where the audit log explains its history;
/// otherwise [`ConsentState::unverified`]. The rule `encrypt` applies.
pub fn with_consent(
    path: &Path,
    prefix: Option<&str>,
    day: Option<jiff::civil::Date>,
) -> Result<Vec<(Recording, ConsentState)>> {
    let archive = Archive::open(path)?;
    let recs = match prefix {
        Some(p) => vec![load(&archive, &archive.resolve_id(p)?)?],
        None => list(&archive)?,
    };
    let judged = judge(&archive, &recs, day)?;
    Ok(recs
        .into_iter()
        .map(|r| {
            let st = if judged.unexplained.contains_key(&r.id) {
                ConsentState::unverified(judged.day)
            } else {
                consent::state(&r.consent, judged.day)
            };
            (r, st)
        })
        .collect())
}

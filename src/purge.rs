//! `purge`: erasing recordings, leaving a tombstone (see [`crate::tombstone`]).
//!
//! Every payload file of the recording (original, `recording.json`, normalized rendition,
//! segments) is removed and `data/<id>/tombstone.json` put in its place, in one
//! transaction with one `purge` audit line: a crash leaves the archive before or after.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::archive::{Archive, MANIFEST, Writer};
use crate::audit::OsUser;
use crate::catalog;
use crate::consent::{self, Scope};
use crate::error::{Error, Result};
use crate::record::{self, Recording};
use crate::retention::{BAG_INFO_LABEL, Period, TAG_KEY};
use crate::tombstone::{PurgedBy, Reason, TOMBSTONE_JSON, Tombstone};

/// What `purge` is asked to do.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    /// Why (required).
    pub reason: Reason,
    /// Purge even recordings whose consent is still active for some scope.
    pub force: bool,
    /// The day consent is judged on (default: [`consent::judging_day`]).
    pub day: Option<jiff::civil::Date>,
}

/// One file that goes.
#[derive(Debug, Clone, Serialize)]
pub struct Gone {
    /// Its payload path.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One recording purged (or, in a dry run, that would be).
#[derive(Debug, Clone, Serialize)]
pub struct Purged {
    /// The recording.
    pub id: String,
    /// The files removed.
    pub files: Vec<Gone>,
    /// Their total size.
    pub bytes: u64,
    /// Scopes whose consent was still active (purged only with `--force`).
    pub active_scopes: Vec<Scope>,
}

/// What a purge did, or would do.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The reason code.
    pub reason: Reason,
    /// The recordings.
    pub purged: Vec<Purged>,
    /// Recordings named that were purged before (nothing to do).
    pub already_purged: Vec<String>,
}

/// Up to this many recordings, [`plan`] finds their files without reading the manifest
/// into a map.
const FEW: usize = 8;

/// Works out what purging `ids` (full ids of recordings) removes, refusing, unless
/// `force`, any whose consent is active for some scope or is not explained by the log.
pub fn plan(archive: &Archive, ids: &[String], opts: &PurgeOptions) -> Result<Vec<Purged>> {
    let unique: BTreeSet<&String> = ids.iter().collect();
    // A few recordings' lines are searched for in the manifest's text; for many, it is
    // read into a map once.
    let whole = match unique.len() > FEW {
        true => Some(archive.strict_manifest(MANIFEST)?),
        false => None,
    };
    let recs: Vec<Recording> = unique
        .iter()
        .map(|id| catalog::load(archive, id))
        .collect::<Result<_>>()?;
    let judged = catalog::judge(archive, &recs, opts.day)?;
    let mut out = Vec::new();
    for rec in &recs {
        let state = consent::state(&rec.consent, judged.day);
        let active: Vec<Scope> = state.granted.keys().copied().collect();
        if !opts.force {
            if let Some(why) = judged.unexplained.get(&rec.id) {
                return Err(Error::PurgeRefused {
                    id: rec.id.clone(),
                    why: format!(
                        "its consent history is not explained by the audit log ({why}), so \
                         whether consent is still active cannot be told"
                    ),
                });
            }
            if !active.is_empty() {
                let names: Vec<&str> = active.iter().map(|s| s.as_str()).collect();
                return Err(Error::PurgeRefused {
                    id: rec.id.clone(),
                    why: format!(
                        "consent is still active on {} for {}; record the withdrawal first \
                         (`visitrec consent ARCHIVE {} --withdraw`)",
                        judged.day,
                        names.join(", "),
                        rec.id
                    ),
                });
            }
        }
        let prefix = format!("data/{}/", rec.id);
        let mut files = Vec::new();
        let mut own: Vec<String> = match &whole {
            Some(m) => m
                .entries
                .range(prefix.clone()..)
                .map(|(p, _)| p)
                .take_while(|p| p.starts_with(&prefix))
                .cloned()
                .collect(),
            None => archive
                .entries_under(&prefix)?
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
        };
        own.sort();
        for path in &own {
            let file = archive.open_file(path)?;
            let bytes = file
                .metadata()
                .map_err(|e| Error::io(archive.root().join(path), e))?
                .len();
            files.push(Gone {
                path: path.clone(),
                bytes,
            });
        }
        out.push(Purged {
            id: rec.id.clone(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            files,
            active_scopes: active,
        });
    }
    Ok(out)
}

/// Lists what purging `ids` would remove; changes nothing.
pub fn dry_run(archive: &Archive, ids: &[String], opts: &PurgeOptions) -> Result<PurgeReport> {
    Ok(PurgeReport {
        dry_run: true,
        reason: opts.reason,
        purged: plan(archive, ids, opts)?,
        already_purged: Vec::new(),
    })
}

/// Purges `ids` in one transaction: every payload file of each goes, a tombstone takes
/// their place, and one `purge` audit line records ids, reason and sizes (never free text).
pub fn purge(writer: &mut Writer, ids: &[String], opts: &PurgeOptions) -> Result<PurgeReport> {
    let planned = plan(writer.archive(), ids, opts)?;
    if planned.is_empty() {
        return Ok(PurgeReport {
            dry_run: false,
            reason: opts.reason,
            purged: planned,
            already_purged: Vec::new(),
        });
    }
    let now = crate::time::now();
    let os = OsUser::current();
    let by = PurgedBy {
        actor: writer.actor().to_string(),
        uid: os.uid,
        user: os.name,
    };
    let tombstones: Vec<Tombstone> = planned
        .iter()
        .map(|p| {
            let rec = catalog::load(writer.archive(), &p.id)?;
            Ok(Tombstone {
                schema: 1,
                id: rec.id.clone(),
                sha256: rec.source.sha256.clone(),
                size: rec.source.size,
                duration_s: rec.source.duration_s,
                ingested_at: rec.ingested_at.clone(),
                purged_at: now.clone(),
                purged_by: by.clone(),
                reason: opts.reason,
            })
        })
        .collect::<Result<_>>()?;
    let mut txn = writer.begin();
    for (p, t) in planned.iter().zip(&tombstones) {
        for f in &p.files {
            txn.delete(&f.path);
        }
        txn.put_bytes(&record::payload_path(&p.id, TOMBSTONE_JSON), &t.to_json())?;
    }
    let forced: Vec<&str> = planned
        .iter()
        .filter(|p| !p.active_scopes.is_empty())
        .map(|p| p.id.as_str())
        .collect();
    txn.audit(
        "purge",
        planned.iter().map(|p| p.id.clone()).collect(),
        serde_json::json!({
            "reason": opts.reason,
            "force": opts.force,
            "forced": forced,
            "files": planned.iter().map(|p| p.files.len()).sum::<usize>(),
            "bytes": planned.iter().map(|p| p.bytes).sum::<u64>(),
        }),
    );
    txn.commit()?;
    Ok(PurgeReport {
        dry_run: false,
        reason: opts.reason,
        purged: planned,
        already_purged: Vec::new(),
    })
}

/// Resolves id prefixes to the recordings to purge, and the ids of those already purged
/// (a purge run again after it completed, or was killed after its commit, has nothing
/// left to do for them).
pub fn resolve(archive: &Archive, prefixes: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let (mut ids, mut already) = (Vec::new(), Vec::new());
    for p in prefixes {
        match archive.resolve_id(p) {
            Ok(id) => ids.push(id),
            Err(Error::Purged { id, .. }) => already.push(id),
            Err(e) => return Err(e),
        }
    }
    already.sort();
    already.dedup();
    Ok((ids, already))
}

/// The tombstone of `id`, if it was purged (and the tombstone reads).
pub fn tombstone(archive: &Archive, id: &str) -> Result<Tombstone> {
    let rel = record::payload_path(id, TOMBSTONE_JSON);
    let bytes = archive.read(&rel)?;
    Tombstone::from_json(&bytes).map_err(|reason| Error::BadFile {
        path: archive.root().join(&rel),
        reason,
    })
}

/// Every tombstone of `archive`, by id.
pub fn tombstones(archive: &Archive) -> Result<Vec<Tombstone>> {
    archive
        .tombstone_ids()?
        .iter()
        .map(|id| tombstone(archive, id))
        .collect()
}

/// A recording past its retention period.
#[derive(Debug, Clone, Serialize)]
pub struct Expired {
    /// The recording.
    pub id: String,
    /// When it was recorded (the period counts from this day).
    pub recorded_at: String,
    /// The period that applies (`10y`, …).
    pub retention: String,
    /// Where the period comes from: `archive` (bag-info.txt) or `tag` (its `retention` tag).
    pub retention_from: &'static str,
    /// The last day it was to be kept.
    pub kept_until: String,
    /// Why it must be kept anyway (consent active for some scope, or consent the audit
    /// log does not explain); `None` when it may be purged.
    pub kept_because: Option<String>,
}

/// The archive's retention period (`Visitrec-Retention` in `bag-info.txt`), if set.
pub fn archive_retention(archive: &Archive) -> Result<Option<Period>> {
    let info = archive.bag_info()?;
    info.get(BAG_INFO_LABEL)
        .map(|v| {
            Period::parse("--retention", v).map_err(|e| Error::BadFile {
                path: archive.root().join(crate::archive::BAG_INFO),
                reason: format!("{BAG_INFO_LABEL}: {e}"),
            })
        })
        .transpose()
}

/// Every recording past its retention period on `day` (default: the judging day): the
/// archive's period, or the recording's `retention` tag, counted from `recorded_at`.
/// Each says whether its consent keeps it.
pub fn expired(archive: &Archive, day: Option<jiff::civil::Date>) -> Result<Vec<Expired>> {
    let default = archive_retention(archive)?;
    let recs = catalog::list(archive)?;
    let judged = catalog::judge(archive, &recs, day)?;
    let mut out = Vec::new();
    for rec in &recs {
        let (period, from) = match rec.tags.get(TAG_KEY) {
            Some(v) => {
                let p = Period::parse("--tag retention", v).map_err(|e| Error::BadFile {
                    path: archive
                        .root()
                        .join(record::payload_path(&rec.id, record::RECORDING_JSON)),
                    reason: e.to_string(),
                })?;
                (p, "tag")
            }
            None => match default {
                Some(p) => (p, "archive"),
                None => continue,
            },
        };
        let Some(last) = period.last_day(&rec.source.recorded_at) else {
            continue;
        };
        if last >= judged.day {
            continue;
        }
        let state = consent::state(&rec.consent, judged.day);
        let kept_because = if let Some(why) = judged.unexplained.get(&rec.id) {
            Some(format!("consent not explained by the audit log ({why})"))
        } else if state.granted.is_empty() {
            None
        } else {
            let s: Vec<&str> = state.granted.keys().map(|s| s.as_str()).collect();
            Some(format!("consent active for {}", s.join(", ")))
        };
        out.push(Expired {
            id: rec.id.clone(),
            recorded_at: rec.source.recorded_at.clone(),
            retention: period.to_string(),
            retention_from: from,
            kept_until: last.to_string(),
            kept_because,
        });
    }
    Ok(out)
}

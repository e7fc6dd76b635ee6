//! `repair`: rebuilds missing or damaged derived files (`normalized.wav`, `envelope.json`,
//! `segments/NNN.wav`) from an original whose SHA-256 still verifies, with the settings
//! `recording.json` records, through the journal like every other writer.
//!
//! Rendering is deterministic (the same original and settings give the same bytes, whatever
//! the thread count), so a rebuilt file normally has exactly the digest the manifest
//! records, and nothing else changes. Should a build render differently (another decoder
//! release, another platform), the recording's derived files are replaced as a consistent
//! set instead: the new rendition, every segment cut again from it, and `recording.json`
//! and the manifest describing them; the report says so.
//!
//! A recording normalized before envelopes were kept gets its `envelope.json` here, made
//! from its intact `normalized.wav` (no decoding of the original).
//!
//! What repair cannot make again is reported and left untouched: an original (the evidence
//! itself) and a `recording.json` (it holds the consent record) come only from a backup.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::bagit::Manifest;
use crate::archive::{Archive, Writer};
use crate::audio::decode::MaxDuration;
use crate::audio::segment::Params;
use crate::batch::Staged;
use crate::envelope::ENVELOPE_JSON;
use crate::error::Result;
use crate::exit::Exit;
use crate::fixity::{self, FileState};
use crate::pipeline::{self, Outcome, Status};
use crate::progress::Progress;
use crate::record::{self, RECORDING_JSON, Recording};

/// A recording whose derived files were (or, with `--dry-run`, would be) rebuilt.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    /// The recording.
    pub id: String,
    /// The payload files found missing or damaged, and what was found.
    pub files: Vec<DamagedFile>,
    /// Whether the rebuilt files have exactly the recorded digests (nothing else changed);
    /// `null` with `--dry-run`.
    pub exact: Option<bool>,
    /// When not exact: what was replaced instead.
    pub note: Option<String>,
}

/// One missing or damaged file.
#[derive(Debug, Clone, Serialize)]
pub struct DamagedFile {
    /// Its payload path.
    pub path: String,
    /// `missing`, `damaged (sha256 …)` or `unreadable (…)`.
    pub found: String,
}

/// A recording repair cannot fix, and what to do instead.
#[derive(Debug, Clone, Serialize)]
pub struct Unrepairable {
    /// The recording.
    pub id: String,
    /// The file at fault.
    pub path: String,
    /// What was found and what to do (restore from a backup, …).
    pub reason: String,
}

/// The outcome of `repair`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Recordings repaired (or to repair).
    pub repaired: Vec<Repair>,
    /// Recordings whose files were all intact.
    pub intact: Vec<String>,
    /// Recordings left as they are: an original or `recording.json` missing or damaged,
    /// or a rebuild that failed.
    pub unrepairable: Vec<Unrepairable>,
}

impl RepairReport {
    /// 0 when everything was repaired or intact, 1 when some recording could not be.
    pub fn exit_code(&self) -> Exit {
        Exit::problems_unless(self.unrepairable.is_empty())
    }
}

/// What one recording needs.
#[derive(Debug)]
enum Diagnosis {
    /// Every file is intact.
    Intact,
    /// These derived files (payload path → what was found) can be made again.
    Repairable(BTreeMap<String, FileState>),
    /// Cannot be repaired: (file, why).
    Unrepairable(String, String),
}

/// Looks at every file of recording `id`: its `recording.json` and original must verify,
/// and every derived file it names is checked.
fn diagnose(archive: &Archive, manifest: &Manifest, id: &str) -> Diagnosis {
    let json = record::payload_path(id, RECORDING_JSON);
    let state = fixity::check(archive, manifest, &json);
    if !state.is_intact() {
        let why = format!(
            "{json}: {}; restore it from a backup — repair cannot rebuild a recording.json \
             (it holds the recording's consent record)",
            state.describe()
        );
        return Diagnosis::Unrepairable(json, why);
    }
    let rec = match archive
        .read(&json)
        .map_err(|e| e.to_string())
        .and_then(|b| Recording::from_json(&b))
    {
        Ok(r) if r.id == id => r,
        Ok(r) => {
            let why = format!("{json}: id {} does not match its folder", r.id);
            return Diagnosis::Unrepairable(json, why);
        }
        Err(e) => {
            let why = format!("{json}: {e}; restore it from a backup");
            return Diagnosis::Unrepairable(json, why);
        }
    };
    let original = rec.source.stored_as.clone();
    let state = fixity::check(archive, manifest, &original);
    if !state.is_intact() {
        let why = format!(
            "{original}: {}; restore it from a backup — repair cannot rebuild an original",
            state.describe()
        );
        return Diagnosis::Unrepairable(original, why);
    }
    if manifest.entries.get(&original) != Some(&rec.source.sha256) {
        let why = format!("{json}: source.sha256 is not the manifest's digest of {original}");
        return Diagnosis::Unrepairable(json, why);
    }
    let mut damaged = BTreeMap::new();
    for (_, rel) in rec.paths().into_iter().skip(1) {
        match fixity::check(archive, manifest, rel) {
            FileState::Intact => {}
            FileState::Unlisted => {
                let why = format!("{json}: names {rel}, which the manifest does not list");
                return Diagnosis::Unrepairable(json, why);
            }
            FileState::Link => {
                let why = format!(
                    "{rel}: a symbolic link is on its way or in its place; visitrec never \
                     follows or replaces links: remove it, then run repair again"
                );
                return Diagnosis::Unrepairable(rel.to_string(), why);
            }
            other => {
                damaged.insert(rel.to_string(), other);
            }
        }
    }
    if rec
        .normalized
        .as_ref()
        .is_some_and(|n| n.envelope.is_none())
    {
        // Normalized before envelopes were kept: made from the rendition (listed as not in
        // the manifest, which only this file can be here).
        damaged.insert(record::payload_path(id, ENVELOPE_JSON), FileState::Unlisted);
    }
    if damaged.is_empty() {
        return Diagnosis::Intact;
    }
    let segment_damaged = rec.segments.iter().any(|s| damaged.contains_key(&s.path));
    if rec.normalized.is_none() || (segment_damaged && rec.segmentation.is_none()) {
        let (rel, _) = damaged.first_key_value().expect("not empty");
        let why = format!(
            "{rel}: {json} does not record the settings it was made with; run `visitrec \
             segment` (or `normalize`) again"
        );
        return Diagnosis::Unrepairable(rel.clone(), why);
    }
    Diagnosis::Repairable(damaged)
}

/// The files of `damaged`, for the report.
fn listed(damaged: &BTreeMap<String, FileState>) -> Vec<DamagedFile> {
    damaged
        .iter()
        .map(|(path, state)| DamagedFile {
            path: path.clone(),
            found: match state {
                FileState::Unlisted => {
                    "never made (normalized before visitrec kept envelopes)".into()
                }
                other => other.describe(),
            },
        })
        .collect()
}

/// Diagnoses `ids` in parallel.
fn diagnose_all(archive: &Archive, manifest: &Manifest, ids: &[String]) -> Vec<Diagnosis> {
    ids.par_iter()
        .map(|id| diagnose(archive, manifest, id))
        .collect()
}

/// What repairing `ids` would do, changing nothing (`--dry-run`).
pub fn plan(archive: &Archive, ids: &[String]) -> Result<RepairReport> {
    let manifest = archive.strict_manifest(crate::archive::MANIFEST)?;
    let mut report = RepairReport {
        dry_run: true,
        ..RepairReport::default()
    };
    for (id, d) in ids.iter().zip(diagnose_all(archive, &manifest, ids)) {
        report.record(id, d);
    }
    Ok(report)
}

impl RepairReport {
    /// Files a diagnosis in the report (a repairable one as still to do).
    fn record(&mut self, id: &str, d: Diagnosis) {
        match d {
            Diagnosis::Intact => self.intact.push(id.to_string()),
            Diagnosis::Unrepairable(path, reason) => self.unrepairable.push(Unrepairable {
                id: id.to_string(),
                path,
                reason,
            }),
            Diagnosis::Repairable(damaged) => self.repaired.push(Repair {
                id: id.to_string(),
                files: listed(&damaged),
                exact: None,
                note: None,
            }),
        }
    }
}

/// Repairs the recordings `ids`: the repairable ones are rebuilt and committed in small
/// batches (logged as `repair`); the others are reported and left untouched.
pub fn repair(
    writer: &mut Writer,
    ids: &[String],
    max: MaxDuration,
    progress: &dyn Progress,
) -> Result<RepairReport> {
    let diagnoses = diagnose_all(writer.archive(), writer.manifest()?, ids);
    let mut report = RepairReport::default();
    let mut todo = BTreeMap::new();
    for (id, d) in ids.iter().zip(diagnoses) {
        match d {
            Diagnosis::Repairable(damaged) => {
                todo.insert(id.clone(), damaged);
            }
            other => report.record(id, other),
        }
    }
    let todo_ids: Vec<String> = todo.keys().cloned().collect();
    let details = serde_json::json!({});
    let statuses = pipeline::run(
        writer,
        &todo_ids,
        progress,
        ("repair", details),
        |w, rec, to| {
            let damaged = &todo[&rec.id];
            rebuild(w, rec, damaged, max, to)
        },
    )?;
    for (id, status) in statuses {
        let files = listed(&todo[&id]);
        match status {
            Status::Done(note) => report.repaired.push(Repair {
                id,
                files,
                exact: Some(note.is_none()),
                note,
            }),
            Status::Unchanged => report.intact.push(id),
            Status::Failed(reason) => report.unrepairable.push(Unrepairable {
                path: files.first().map(|f| f.path.clone()).unwrap_or_default(),
                id,
                reason,
            }),
        }
    }
    Ok(report)
}

/// Rebuilds `rec`'s `damaged` derived files in staging. When every rebuilt file has its
/// recorded digest, only those files are put back (`recording.json` as it was); otherwise
/// the whole derived set is replaced and described anew, and the note says so.
fn rebuild(
    w: &Writer,
    rec: &Recording,
    damaged: &BTreeMap<String, FileState>,
    max: MaxDuration,
    to: crate::progress::FileProgress<'_>,
) -> Result<Outcome<Option<String>>> {
    let norm = rec.normalized.clone().expect("diagnosed: normalized");
    let manifest = w.manifest()?;
    let recorded = |rel: &str| manifest.entries.get(rel).cloned();
    let mut staged = Staged::new(rec.clone());
    // The files replaced are missing or damaged: not the sizes the Oxum counted.
    staged.recount = true;
    let mut differs = Vec::new();
    let env_rel = record::payload_path(&rec.id, ENVELOPE_JSON);
    let (wav, scores) = if damaged.contains_key(&norm.path) {
        let source = w.archive().path_of(&rec.source.stored_as)?;
        let settings = pipeline::settings_of(&norm);
        let vad = rec.segmentation.is_some();
        match pipeline::stage_normalized(w, &mut staged, &source, (&settings, max), vad, to) {
            Ok(r) => {
                let (wav, _, fixity) = staged.puts.last().expect("staged");
                if recorded(&norm.path).as_ref() != Some(&fixity.sha256) {
                    differs.push(norm.path.clone());
                }
                (wav.clone(), r.vad_frames)
            }
            Err(e) => return e.into_outcome(&rec.source.stored_as),
        }
    } else {
        let wav = w.archive().path_of(&norm.path)?;
        if damaged.contains_key(&env_rel) {
            let slot = w.new_staging_slot()?;
            if let Err(e) = pipeline::stage_envelope(&mut staged, &wav, &slot) {
                return e.into_outcome(&norm.path);
            }
        }
        (wav, None)
    };
    let resegment =
        rec.segments.iter().any(|s| damaged.contains_key(&s.path)) || !differs.is_empty();
    if let Some(seg) = rec.segmentation.as_ref().filter(|_| resegment) {
        let params = Params {
            min_silence_s: seg.min_silence_s,
            min_speech_s: seg.min_speech_s,
            pad_s: seg.pad_s,
        };
        // Cut where it was cut: at the marks it used, not at today's marks.
        staged.rec.marks = seg.marks_used.clone();
        let how = (&params, seg.at_marks, max);
        if let Err(e) = pipeline::stage_segments(w, &mut staged, &wav, scores, how, to) {
            return e.into_outcome(&norm.path);
        }
        staged.rec.marks = rec.marks.clone();
        if staged.rec.segments != rec.segments {
            differs.push("segments".into());
        }
        for (_, rel, fixity) in &staged.puts {
            if rel.contains("/segments/") && recorded(rel).as_ref() != Some(&fixity.sha256) {
                differs.push(rel.clone());
            }
        }
    }
    if differs.is_empty() {
        // Exact: put back only what was missing or damaged; nothing else changes.
        staged.rec = rec.clone();
        staged.deletes.clear();
        let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut staged.puts)
            .into_iter()
            .partition(|(_, rel, _)| damaged.contains_key(rel));
        for (path, _, _) in drop {
            let _ = std::fs::remove_file(path);
        }
        staged.puts = keep;
        if norm.envelope.is_none() {
            if let Some(n) = staged.rec.normalized.as_mut() {
                n.envelope = Some(env_rel);
            }
            let note = "envelope.json made from normalized.wav (normalized before visitrec \
                        kept envelopes); recording.json now names it";
            return Ok(Outcome::Done(Box::new(staged), Some(note.into())));
        }
        return Ok(Outcome::Done(Box::new(staged), None));
    }
    if rec.segmentation.is_none() && !rec.segments.is_empty() {
        // Segments of unknown settings, cut from the old rendition: removed, as
        // `normalize` removes them.
        staged.deletes = staged.rec.segments.drain(..).map(|s| s.path).collect();
    }
    let kept: BTreeSet<&str> = staged.puts.iter().map(|(_, rel, _)| rel.as_str()).collect();
    let note = format!(
        "rebuilt with different bytes than recorded ({}): this build renders the original \
         differently; the normalized WAV and segments were replaced as a set ({} file(s)), \
         and recording.json and the manifest describe them",
        differs.join(", "),
        kept.len()
    );
    Ok(Outcome::Done(Box::new(staged), Some(note)))
}

//! `ingest`: bring phone recordings into the archive — files and folder trees, deduplicated
//! by content, each decoded completely once, committed in small crash-safe batches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::Writer;
use crate::archive::index::ManifestIndex;
use crate::attach::{Added, Attachment};
use crate::audio::decode::{AudioError, MaxDuration};
use crate::audio::normalize::Settings;
use crate::audio::probe::{self, AudioFacts};
use crate::audio::segment::Params;
use crate::batch::{self, Batch, Staged, Update};
use crate::consent::Grant;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::hash::{self, Fixity};
use crate::interrupt;
use crate::pipeline::{
    NormalizeReport, NormalizedItem, SegmentReport, SegmentedItem, StageError, stage_normalized,
    stage_segments,
};
use crate::progress::{FileProgress, Progress};
use crate::record::{self, ID_LEN, Mark, RECORDING_JSON, Recording, SCHEMA, Source};
use crate::tombstone::{TOMBSTONE_JSON, Tombstone};

/// Extensions under which a file is expected to be audio: in a folder walk, a file so named
/// that is not audio is rejected (reported as a problem), others are merely skipped.
const AUDIO_EXTENSIONS: &[&str] = &[
    "m4a", "mp4", "3gp", "3g2", "amr", "aac", "opus", "ogg", "oga", "mp3", "wav", "flac", "caf",
    "aif", "aiff", "mka", "webm", "wma", "alac",
];

/// What to attach to every recording of the batch, and what to do with it next.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Participant or patient reference.
    pub participant: Option<String>,
    /// Tags (validated by the caller with [`crate::tags::parse_tag`]).
    pub tags: BTreeMap<String, String>,
    /// Normalize each new recording with these settings.
    pub normalize: Option<Settings>,
    /// Segment each new recording with these parameters, cutting at its marks too when the
    /// flag is set (normalizing it first, with the default settings unless `normalize`
    /// says otherwise).
    pub segment: Option<(Params, bool)>,
    /// Time-anchored marks for every new recording (`--marks FILE`); a recording they do
    /// not fit (a mark past its end) is rejected.
    pub marks: Vec<Mark>,
    /// A consent grant recorded for every new recording.
    pub consent: Option<Grant>,
    /// Archive again content that was purged (replacing its tombstone); otherwise such an
    /// input is rejected, saying when and why it was purged.
    pub allow_reingest: bool,
    /// Recordings longer than this are rejected (by their declared length before they are
    /// decoded; by their decoded length as soon as decoding passes it).
    pub max_duration: MaxDuration,
}

/// A recording added by this run.
#[derive(Debug, Clone, Serialize)]
pub struct Ingested {
    /// The new recording's id.
    pub id: String,
    /// The input file.
    pub path: String,
    /// Decoded duration in seconds.
    pub duration_s: f64,
}

/// An input whose content the archive already holds.
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    /// The existing recording's id.
    pub id: String,
    /// The input file.
    pub path: String,
    /// What this run's participant, tag, mark and consent flags (or manifest row) added
    /// to the recording already archived.
    pub added: Added,
}

/// An input that was refused or passed over, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The input file.
    pub path: String,
    /// Why.
    pub reason: String,
    /// The line of the manifest (`--manifest`) that named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// The outcome of one ingest run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Recordings added.
    pub ingested: Vec<Ingested>,
    /// Inputs already in the archive (or repeated within the batch).
    pub duplicates: Vec<Duplicate>,
    /// How many of the recordings already archived got a consent entry from this run.
    pub given_consent: usize,
    /// Inputs refused: unreadable, damaged, unsupported codec.
    pub rejected: Vec<Refusal>,
    /// Files met in a folder walk that are not recordings.
    pub skipped: Vec<Refusal>,
    /// Normalization of the new recordings, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize: Option<NormalizeReport>,
    /// Segmentation of the new recordings, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentReport>,
}

impl IngestReport {
    /// 0 when every input was ingested or already present, 1 when some were rejected.
    pub fn exit_code(&self) -> Exit {
        Exit::problems_unless(self.rejected.is_empty())
    }

    fn record(&mut self, cand: &Candidate, id: &str, s: &Done) {
        self.ingested.push(Ingested {
            id: id.to_string(),
            path: cand.path.display().to_string(),
            // The figure recording.json holds (rounded to the millisecond), not another.
            duration_s: s.staged.rec.source.duration_s,
        });
        if let (Some(r), Some(n)) = (self.normalize.as_mut(), &s.staged.rec.normalized) {
            r.normalized.push(NormalizedItem {
                id: id.to_string(),
                normalized: n.clone(),
            });
        }
        if let Some(r) = self.segment.as_mut() {
            r.segmented.push(SegmentedItem {
                id: id.to_string(),
                segments: s.staged.rec.segments.clone(),
            });
        }
    }
}

/// A file to examine; `explicit` when the user named it rather than a walk finding it.
#[derive(Debug)]
struct Candidate {
    path: PathBuf,
    explicit: bool,
    /// What to attach to it, when not the run's flags (a manifest row).
    attach: Option<Arc<Attachment>>,
    /// The manifest line naming it.
    line: Option<u64>,
}

/// A candidate copied into staging, decoded, and (when asked) normalized and segmented.
#[derive(Debug)]
struct Done {
    staged: Staged,
    slot: PathBuf,
}

enum Outcome {
    Done(Box<Done>),
    /// The archive already held this content when the batch began.
    Present(String),
    Rejected(String),
    Skipped(String),
}

/// Ingests `inputs` (files and folders) into the archive held by `writer`, reporting to
/// `progress`. On SIGINT, SIGTERM or SIGHUP (see [`interrupt`]) it stops after the files at
/// hand, commits those completed, removes the rest of its staging and fails with
/// [`Error::Stopped`]. Inputs already archived get the participant, tags, marks and
/// consent of `opts` (see [`crate::attach`]); one that conflicts is rejected.
pub fn ingest(
    writer: &mut Writer,
    inputs: &[PathBuf],
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    let root = writer.archive().root().to_path_buf();
    let candidates = collect(&root, inputs, &mut report);
    run(writer, candidates, opts, progress, report, None)
}

/// Ingests the files a manifest names (see [`crate::manifest`]), each with its row's
/// participant, tags and consent, all in one transaction: if any file is refused, or an
/// interruption stops the run, nothing is committed.
pub fn ingest_manifest(
    writer: &mut Writer,
    manifest: &crate::manifest::Manifest,
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let mut candidates = Vec::new();
    for row in &manifest.rows {
        let consent = row
            .consent
            .as_ref()
            .map(|g| g.entry(writer.actor()))
            .transpose()?;
        candidates.push(Candidate {
            path: row.path.clone(),
            explicit: true,
            attach: Some(Arc::new(Attachment {
                participant: row.participant.clone(),
                tags: row.tags.clone(),
                marks: Vec::new(),
                consent,
            })),
            line: Some(row.line),
        });
    }
    let whole = Some(manifest.path.as_path());
    run(
        writer,
        candidates,
        opts,
        progress,
        IngestReport::default(),
        whole,
    )
}

/// The audit details of an `ingest` entry for recordings given `a`.
fn details(opts: &IngestOptions, a: &Attachment) -> serde_json::Value {
    serde_json::json!({
        "normalized": opts.normalize.is_some() || opts.segment.is_some(),
        "segmented": opts.segment.is_some(),
        "marks": a.marks.len(),
        "consent_scopes": a.consent.as_ref().map(|c| &c.scopes),
        "consent": a.consent.as_ref().map(crate::replay::consent_details),
        "tag_keys": a.tags.keys().collect::<Vec<_>>(),
    })
}

/// Stages and commits `candidates`; `whole` (the manifest) commits all or nothing.
fn run(
    writer: &mut Writer,
    candidates: Vec<Candidate>,
    opts: &IngestOptions,
    progress: &dyn Progress,
    mut report: IngestReport,
    whole: Option<&Path>,
) -> Result<IngestReport> {
    check_options(opts)?;
    report.normalize =
        (opts.normalize.is_some() || opts.segment.is_some()).then(NormalizeReport::default);
    report.segment = opts.segment.is_some().then(SegmentReport::default);
    let root = writer.archive().root().to_path_buf();
    let _hold = interrupt::hold().map_err(|e| Error::io(&root, e))?;
    progress.start(candidates.len() as u64);
    let ingested_at = crate::time::now();
    let common = common_attachment(writer, opts)?;
    // The recordings this run has staged (those committed before are in the manifest).
    let mut known: HashSet<String> = HashSet::new();
    let derived = Derived::new(writer, candidates.len())?;
    let mut batch = Batch::new("ingest", details(opts, &common));
    if whole.is_some() {
        batch = batch.whole();
    }
    let mut present: Vec<Present> = Vec::new();
    for group in candidates.chunks(batch::chunk_len()) {
        let outcomes = stage_group(
            writer,
            group,
            &derived,
            (opts, &common),
            &ingested_at,
            progress,
        );
        if let Some(signal) = interrupt::caught() {
            let total = candidates.len();
            return Err(stop(
                writer, batch, &mut known, outcomes, signal, total, whole,
            ));
        }
        let state = (&mut known, &mut report, &mut present, &mut batch);
        sort_outcomes(group, outcomes, (&common, writer.manifest_index()), state)?;
        batch.commit_if_due(writer)?;
    }
    let updates = attach_present(writer, &mut report, present);
    if let Some(manifest) = whole
        && !report.rejected.is_empty()
    {
        writer.discard_staged();
        return Err(manifest_refused(manifest, &report.rejected));
    }
    report.given_consent = report.duplicates.iter().filter(|d| d.added.consent).count();
    batch.finish_with(writer, updates)?;
    Ok(report)
}

/// An input whose content the archive already held: its index in the report's
/// duplicates, what to attach to its recording, and its manifest line.
type Present = (usize, Arc<Attachment>, Option<u64>);

/// Checks the normalization settings and segmentation parameters `opts` asks for.
fn check_options(opts: &IngestOptions) -> Result<()> {
    if let Some(s) = &opts.normalize {
        crate::pipeline::check_settings(s)?;
    }
    if let Some((p, _)) = &opts.segment {
        crate::pipeline::check_params(p)?;
    }
    Ok(())
}

/// What the run's flags attach to every input without its own (a manifest row): the
/// participant, tags, marks and consent of `opts`, the consent recorded as by the
/// writer's actor.
fn common_attachment(writer: &Writer, opts: &IngestOptions) -> Result<Arc<Attachment>> {
    let consent = opts
        .consent
        .as_ref()
        .map(|g| g.entry(writer.actor()))
        .transpose()?;
    Ok(Arc::new(Attachment {
        participant: opts.participant.clone(),
        tags: opts.tags.clone(),
        marks: opts.marks.clone(),
        consent,
    }))
}

/// Stages the candidates of `group` in parallel (see [`stage_one`]), each with its own
/// attachment or `common`, advancing `progress` as each is done. The outcomes are in the
/// group's order.
fn stage_group(
    writer: &Writer,
    group: &[Candidate],
    derived: &Derived,
    (opts, common): (&IngestOptions, &Arc<Attachment>),
    ingested_at: &str,
    progress: &dyn Progress,
) -> Vec<Result<Outcome>> {
    group
        .par_iter()
        .map(|c| {
            let to = FileProgress::new(progress, &c.path);
            let a = c.attach.as_ref().unwrap_or(common);
            let o = stage_one(writer, c, derived, (opts, a), ingested_at, to);
            progress.advance(&c.path);
            o
        })
        .collect()
}

/// Stops the run on `signal`, caught while staging a group of `outcomes` out of `total`
/// candidates: for a `whole` (manifest) run, discards everything staged; otherwise
/// commits the batch with what the group completed (what the signal cut short is redone)
/// and discards the rest. Returns the `Error::Stopped` to fail with (or the commit's error).
fn stop(
    writer: &mut Writer,
    mut batch: Batch,
    known: &mut HashSet<String>,
    outcomes: Vec<Result<Outcome>>,
    signal: i32,
    total: usize,
    whole: Option<&Path>,
) -> Error {
    if whole.is_some() {
        writer.discard_staged();
        return Error::Stopped {
            signal,
            kept: 0,
            redo: total,
        };
    }
    // What the chunk completed is kept; what the signal cut short is redone.
    for outcome in outcomes {
        if let Ok(Outcome::Done(done)) = outcome
            && known.insert(done.staged.rec.id.clone())
        {
            batch.push(done.staged);
        }
    }
    let kept = match batch.finish(writer) {
        Ok(kept) => kept,
        Err(e) => return e,
    };
    writer.discard_staged();
    Error::Stopped {
        signal,
        kept,
        redo: total - kept,
    }
}

/// Records the `outcomes` of staging `group` in the report, in order: the rejected and
/// skipped, the inputs already archived (noted in `present` for their attachments), and
/// the staged recordings, which join `known` (those this run staged) and the batch; a copy
/// of content `index` lists or this run staged and counted a duplicate (rejected when it has its own row).
/// Fails with the first staging error.
fn sort_outcomes(
    group: &[Candidate],
    outcomes: Vec<Result<Outcome>>,
    (common, index): (&Arc<Attachment>, &ManifestIndex),
    (known, report, present, batch): (
        &mut HashSet<String>,
        &mut IngestReport,
        &mut Vec<Present>,
        &mut Batch,
    ),
) -> Result<()> {
    for (cand, outcome) in group.iter().zip(outcomes) {
        let shown = cand.path.display().to_string();
        let refusal = |reason| Refusal {
            path: shown.clone(),
            reason,
            line: cand.line,
        };
        match outcome? {
            Outcome::Rejected(reason) => report.rejected.push(refusal(reason)),
            Outcome::Skipped(reason) => report.skipped.push(refusal(reason)),
            Outcome::Present(id) => {
                let a = cand.attach.clone().unwrap_or_else(|| common.clone());
                present.push((report.duplicates.len(), a, cand.line));
                report.duplicates.push(duplicate(id, shown));
            }
            Outcome::Done(done) => {
                let id = done.staged.rec.id.clone();
                let archived = index.contains(&record::payload_path(&id, RECORDING_JSON));
                if archived || known.contains(&id) {
                    // Twice in this batch: the first copy is the one kept.
                    let _ = fs::remove_dir_all(&done.slot);
                    if cand.attach.is_some() {
                        // Its own row would be lost: the manifest must list it once.
                        report.rejected.push(refusal(format!(
                            "has the same content as another file of the manifest \
                             (recording {id}): list it once"
                        )));
                        continue;
                    }
                    report.duplicates.push(duplicate(id, shown));
                    continue;
                }
                known.insert(id.clone());
                report.record(cand, &id, &done);
                batch.push(done.staged);
            }
        }
    }
    Ok(())
}

/// The error a manifest ingest fails with when any of its files was `rejected`: each
/// one's manifest line, path and reason.
fn manifest_refused(manifest: &Path, rejected: &[Refusal]) -> Error {
    Error::BadCsv {
        path: manifest.to_path_buf(),
        problems: rejected
            .iter()
            .map(|r| {
                let at = r.line.map_or(String::new(), |n| format!(":{n}"));
                format!("{}{at}: {}: {}", manifest.display(), r.path, r.reason)
            })
            .collect(),
    }
}

/// A [`Duplicate`] to which nothing was added (yet).
fn duplicate(id: String, path: String) -> Duplicate {
    Duplicate {
        id,
        path,
        added: Added::default(),
    }
}

/// Attaches to each recording already archived what its input asked for, in input order
/// (a recording named twice is loaded once); an input that conflicts with its recording
/// moves from the duplicates to the rejected. Returns the recordings that changed.
fn attach_present(
    writer: &Writer,
    report: &mut IngestReport,
    present: Vec<(usize, Arc<Attachment>, Option<u64>)>,
) -> Vec<Update> {
    let mut recs: Vec<Update> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut refused: Vec<(usize, String, Option<u64>)> = Vec::new();
    for (i, a, line) in present {
        if a.is_empty() {
            continue;
        }
        let id = report.duplicates[i].id.clone();
        let n = match at.get(&id) {
            Some(n) => *n,
            None => match crate::catalog::load(writer.archive(), &id) {
                Ok(rec) => {
                    recs.push(Update {
                        rec,
                        audit: Vec::new(),
                    });
                    at.insert(id, recs.len() - 1);
                    recs.len() - 1
                }
                Err(e) => {
                    refused.push((i, format!("already archived, but {e}"), line));
                    continue;
                }
            },
        };
        let u = &mut recs[n];
        match crate::attach::attach(&mut u.rec, &a) {
            Ok(added) => {
                u.audit.extend(added.audit(a.consent.as_ref()));
                report.duplicates[i].added = added;
            }
            Err(reason) => refused.push((i, reason, line)),
        }
    }
    for (i, reason, line) in refused.into_iter().rev() {
        let d = report.duplicates.remove(i);
        report.rejected.push(Refusal {
            path: d.path,
            reason,
            line,
        });
    }
    recs.retain(|u| !u.audit.is_empty());
    recs
}

/// Copies one candidate into staging (hashing it), then decodes the staged copy — through
/// the normalizer when asked, so a recording is decoded once — and builds its metadata,
/// reporting to `progress`. What is examined is exactly what would be stored. Errors
/// writing into the archive are fatal; everything about the input itself is an outcome.
fn stage_one(
    writer: &Writer,
    cand: &Candidate,
    derived: &Derived,
    (opts, attach): (&IngestOptions, &Attachment),
    ingested_at: &str,
    progress: FileProgress<'_>,
) -> Result<Outcome> {
    let src_meta = match fs::metadata(&cand.path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Ok(Outcome::Rejected("not a regular file".into())),
        Err(e) => return Ok(Outcome::Rejected(crate::failure::describe_io(&e))),
    };
    let slot = writer.new_staging_slot()?;
    let staged_original = slot.join("original");
    let fixity = match hash::copy_hashed(&cand.path, &staged_original, progress) {
        Ok(f) => f,
        Err(Error::Io { path, source }) if path == cand.path => {
            let _ = fs::remove_dir_all(&slot);
            return Ok(Outcome::Rejected(crate::failure::describe_io(&source)));
        }
        Err(e) => return Err(e),
    };
    if let Some(path) = derived.get(writer, &fixity.sha256) {
        let _ = fs::remove_dir_all(&slot);
        return Ok(Outcome::Rejected(format!(
            "has the same content as the archive's {path}, which visitrec made from a recording \
             already archived: ingesting it would make a copy that escapes that recording's \
             consent"
        )));
    }
    let id = fixity.sha256[..ID_LEN].to_string();
    let reingest = writer
        .manifest_index()
        .contains(&record::payload_path(&id, TOMBSTONE_JSON));
    if reingest && !opts.allow_reingest {
        let _ = fs::remove_dir_all(&slot);
        let when = tombstone_of(writer, &id).map_or_else(
            || "purged (its tombstone does not read)".to_string(),
            |t| format!("purged on {}: {}", t.purged_on(), t.reason.words()),
        );
        return Ok(Outcome::Rejected(format!(
            "recording {id} was {when}; pass --allow-reingest to archive it again"
        )));
    }
    if existing_sha(writer, &id).as_deref() == Some(&fixity.sha256) {
        let _ = fs::remove_dir_all(&slot);
        return Ok(Outcome::Present(id));
    }
    let base = Base {
        cand,
        src_meta: &src_meta,
        attach,
        ingested_at,
    };
    match stage_audio(writer, &base, &staged_original, (fixity, opts), progress) {
        Ok(mut staged) => {
            if reingest {
                staged
                    .deletes
                    .push(record::payload_path(&id, TOMBSTONE_JSON));
            }
            Ok(Outcome::Done(Box::new(Done { staged, slot })))
        }
        Err(StageError::Audio(e)) => {
            let _ = fs::remove_dir_all(&slot);
            Ok(classify(cand, e))
        }
        Err(StageError::Unfit(e)) => {
            let _ = fs::remove_dir_all(&slot);
            Ok(Outcome::Rejected(e.to_string()))
        }
        Err(StageError::Archive(e)) => Err(e),
    }
}

/// What every recording of the batch starts from.
struct Base<'a> {
    cand: &'a Candidate,
    src_meta: &'a fs::Metadata,
    attach: &'a Attachment,
    ingested_at: &'a str,
}

/// Decodes the staged original (normalizing and segmenting it when asked) and stages its
/// metadata, reporting to `progress`.
fn stage_audio(
    writer: &Writer,
    base: &Base<'_>,
    original: &Path,
    (fixity, opts): (Fixity, &IngestOptions),
    progress: FileProgress<'_>,
) -> std::result::Result<Staged, StageError> {
    let cand = base.cand;
    let id = fixity.sha256[..ID_LEN].to_string();
    let mut staged = Staged::new(placeholder(&id));
    let settings = opts.normalize.or(opts.segment.map(|_| Settings::default()));
    let (facts, rendition) = match settings {
        Some(s) => {
            let max = opts.max_duration;
            let vad = opts.segment.is_some();
            let r = stage_normalized(writer, &mut staged, original, (&s, max), vad, progress)?;
            let wav = staged.puts.last().expect("normalized staged").0.clone();
            (r.source, Some((wav, r.vad_frames)))
        }
        None => (
            probe::examine(original, opts.max_duration, progress).map_err(StageError::Audio)?,
            None,
        ),
    };
    // Named from the content, never from the user's extension (an MP3 called `.m4a` is
    // stored as `original.mp3`); the user's name is kept in `source.file_name`.
    let stored_as = record::payload_path(&id, &format!("original.{}", facts.stream.extension));
    let (file_name, raw) = name_fields(&cand.path);
    let (recorded_at, recorded_at_source) = recorded_at(&facts, base.src_meta);
    let mut identifying = crate::audio::identifying::detect(original)
        .map_err(|e| StageError::Audio(AudioError::Io(e)))?;
    if facts.has_location {
        identifying.insert(crate::audio::identifying::Kind::Location);
    }
    staged.rec.source = Source {
        file_name,
        file_name_raw_hex: raw,
        stored_as: stored_as.clone(),
        sha256: fixity.sha256.clone(),
        size: fixity.size,
        container: facts.stream.container.clone(),
        codec: facts.stream.codec.clone(),
        sample_rate: facts.stream.sample_rate,
        channels: facts.stream.channels,
        frames: facts.frames,
        duration_s: round_ms(facts.duration_s()),
        recorded_at,
        recorded_at_source: recorded_at_source.to_string(),
        has_location: identifying.contains(&crate::audio::identifying::Kind::Location),
        identifying: Some(identifying.into_iter().collect()),
    };
    staged.rec.ingested_at = base.ingested_at.to_string();
    let a = base.attach;
    staged.rec.participant = a.participant.clone();
    staged.rec.tags = a.tags.clone();
    staged.rec.consent = a.consent.iter().cloned().collect();
    crate::annotate::add_marks(&mut staged.rec, &a.marks).map_err(StageError::Unfit)?;
    if cand.attach.is_some() {
        staged.details = Some(details(opts, a));
    }
    staged
        .puts
        .push((original.to_path_buf(), stored_as, fixity));
    if let (Some((params, at_marks)), Some((wav, scores))) = (&opts.segment, rendition) {
        let how = (params, *at_marks, opts.max_duration);
        stage_segments(writer, &mut staged, &wav, scores, how, progress)?;
    }
    Ok(staged)
}

/// A recording with only its id set, filled in by [`stage_audio`].
fn placeholder(id: &str) -> Recording {
    Recording {
        schema: SCHEMA,
        id: id.to_string(),
        source: Source {
            file_name: String::new(),
            file_name_raw_hex: None,
            stored_as: String::new(),
            sha256: String::new(),
            size: 0,
            container: String::new(),
            codec: String::new(),
            sample_rate: 0,
            channels: 0,
            frames: 0,
            duration_s: 0.0,
            recorded_at: String::new(),
            recorded_at_source: String::new(),
            has_location: false,
            identifying: None,
        },
        ingested_at: String::new(),
        participant: None,
        tags: BTreeMap::new(),
        marks: Vec::new(),
        consent: Vec::new(),
        normalized: None,
        segments: Vec::new(),
        segmentation: None,
    }
}

/// Non-audio met in a walk is skipped, unless it is named like audio; anything else wrong
/// with a file is a rejection.
fn classify(cand: &Candidate, e: AudioError) -> Outcome {
    match e {
        AudioError::NotAudio(reason) if !cand.explicit && !named_like_audio(&cand.path) => {
            Outcome::Skipped(format!("not audio: {reason}"))
        }
        AudioError::NotAudio(_) if fs::metadata(&cand.path).is_ok_and(|m| m.len() == 0) => {
            Outcome::Rejected("empty file".into())
        }
        other => Outcome::Rejected(other.to_string()),
    }
}

fn named_like_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The recording time: the container's own (if plausible), else the file's mtime.
fn recorded_at(facts: &AudioFacts, meta: &fs::Metadata) -> (String, &'static str) {
    let now = jiff::Timestamp::now().as_second();
    // 1990-01-01 .. tomorrow: anything else is a phone with an unset clock.
    if let Some((t, source)) = facts
        .created
        .filter(|(t, _)| (631_152_000..now + 86_400).contains(t))
        .and_then(|(t, source)| Some((jiff::Timestamp::from_second(t).ok()?, source)))
    {
        return (t.to_string(), source);
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|m| jiff::Timestamp::try_from(m).ok())
        .and_then(|t| jiff::Timestamp::from_second(t.as_second()).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    (mtime.to_string(), "file-mtime")
}

/// `file_name` (exact when UTF-8, else lossy) and, only when not UTF-8, the raw bytes in hex.
fn name_fields(path: &Path) -> (String, Option<String>) {
    use std::os::unix::ffi::OsStrExt;
    let name = path.file_name().unwrap_or(path.as_os_str());
    match name.to_str() {
        Some(s) => (s.to_string(), None),
        None => (
            name.to_string_lossy().into_owned(),
            Some(hex::encode(name.as_bytes())),
        ),
    }
}

fn round_ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The full SHA-256 of an existing recording's original, from the manifest's index.
fn existing_sha(writer: &Writer, id: &str) -> Option<String> {
    writer.manifest_index().original_of(id).map(|(_, d)| d)
}

/// Expands inputs into candidate files. Missing inputs, and inputs that are or lie inside
/// a visitrec archive, are rejected; walks do not follow symlinks, pass over hidden files,
/// and never descend into the archive itself or any other visitrec archive.
fn collect(archive: &Path, inputs: &[PathBuf], report: &mut IngestReport) -> Vec<Candidate> {
    let archive_real = fs::canonicalize(archive).ok();
    let mut out = Vec::new();
    for input in inputs {
        let meta = match fs::metadata(input) {
            Ok(m) => m,
            Err(e) => {
                report.rejected.push(Refusal {
                    path: input.display().to_string(),
                    reason: crate::failure::describe_io(&e),
                    line: None,
                });
                continue;
            }
        };
        if let Some(inside) = crate::archive::enclosing_archive(input) {
            report.rejected.push(Refusal {
                path: input.display().to_string(),
                reason: inside_archive_reason(&inside),
                line: None,
            });
            continue;
        }
        if !meta.is_dir() {
            out.push(Candidate {
                path: input.clone(),
                explicit: true,
                attach: None,
                line: None,
            });
            continue;
        }
        let walk = walkdir::WalkDir::new(input)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_type().is_dir()
                        && (is_hidden(e.path()) || fs::canonicalize(e.path()).ok() == archive_real))
            });
        let mut walk = walk;
        while let Some(entry) = walk.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().unwrap_or(input).display().to_string();
                    let reason = e
                        .io_error()
                        .map(crate::failure::describe_io)
                        .unwrap_or_else(|| e.to_string());
                    report.rejected.push(Refusal {
                        path,
                        reason,
                        line: None,
                    });
                    continue;
                }
            };
            let ft = entry.file_type();
            if ft.is_dir() {
                if entry.depth() > 0 && crate::archive::is_visitrec_archive(entry.path()) {
                    report.skipped.push(Refusal {
                        path: entry.path().display().to_string(),
                        reason: inside_archive_reason(entry.path()),
                        line: None,
                    });
                    walk.skip_current_dir();
                }
                continue;
            }
            let path = entry.into_path();
            let skip = if ft.is_symlink() {
                Some("symbolic link (not followed)")
            } else if !ft.is_file() {
                Some("not a regular file")
            } else if is_hidden(&path) {
                Some("hidden file")
            } else {
                None
            };
            match skip {
                Some(reason) => report.skipped.push(Refusal {
                    path: path.display().to_string(),
                    reason: reason.into(),
                    line: None,
                }),
                None => out.push(Candidate {
                    path,
                    explicit: false,
                    attach: None,
                    line: None,
                }),
            }
        }
    }
    out
}

/// The tombstone of purged recording `id`, or `None` when it does not read.
fn tombstone_of(writer: &Writer, id: &str) -> Option<Tombstone> {
    let bytes = writer
        .archive()
        .read(&record::payload_path(id, TOMBSTONE_JSON))
        .ok()?;
    Tombstone::from_json(&bytes).ok()
}

/// Up to this many inputs, [`Derived`] searches the manifest's text instead of building a
/// map of every entry.
const FEW_INPUTS: usize = 16;

/// The payload files that are not originals (renditions, segments, metadata), by digest:
/// content the archive made itself, never to be ingested as a new recording.
enum Derived {
    /// Digest → path, built at the start of a large run.
    Map(HashMap<String, String>),
    /// Looked up in the manifest's text for each input (a small run).
    Search,
}

impl Derived {
    /// The lookup for a run of `inputs` files.
    fn new(writer: &Writer, inputs: usize) -> Result<Derived> {
        if inputs <= FEW_INPUTS {
            return Ok(Derived::Search);
        }
        let map = writer
            .manifest()?
            .entries
            .iter()
            .filter(|(p, _)| !is_original(p))
            .map(|(p, d)| (d.clone(), p.clone()))
            .collect();
        Ok(Derived::Map(map))
    }

    /// The path of a derived file whose content has SHA-256 `digest`.
    fn get(&self, writer: &Writer, digest: &str) -> Option<String> {
        match self {
            Derived::Map(m) => m.get(digest).cloned(),
            Derived::Search => {
                crate::archive::index::paths_with_digest(writer.manifest_index().bytes(), digest)
                    .into_iter()
                    .find(|p| !is_original(p))
            }
        }
    }
}

/// Whether a payload path names an original (`…/original.EXT`).
fn is_original(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with("original."))
}

/// Why an archive's own files are never ingested.
fn inside_archive_reason(archive: &Path) -> String {
    format!(
        "inside the visitrec archive {}: its files are already recordings (ingesting them \
         again would make copies that escape the original's consent); ingest the phone's \
         original files instead",
        archive.display()
    )
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

//! `ingest`: bring phone recordings into the archive — files and folder trees, deduplicated
//! by content, each decoded completely once, committed in small crash-safe batches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::Writer;
use crate::audio::decode::{AudioError, MaxDuration};
use crate::audio::normalize::Settings;
use crate::audio::probe::{self, AudioFacts};
use crate::audio::segment::Params;
use crate::batch::{self, Batch, Staged};
use crate::consent::{ConsentEntry, Grant};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::hash::{self, Fixity};
use crate::interrupt;
use crate::pipeline::{
    NormalizeReport, NormalizedItem, SegmentReport, SegmentedItem, StageError, stage_normalized,
    stage_segments,
};
use crate::progress::{FileProgress, Progress};
use crate::record::{self, ID_LEN, Mark, Recording, SCHEMA, Source};

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
}

/// An input that was refused or passed over, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The input file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The outcome of one ingest run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Recordings added.
    pub ingested: Vec<Ingested>,
    /// Inputs already in the archive (or repeated within the batch).
    pub duplicates: Vec<Duplicate>,
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
            duration_s: s.facts.duration_s(),
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
}

/// A candidate copied into staging, decoded, and (when asked) normalized and segmented.
#[derive(Debug)]
struct Done {
    staged: Staged,
    facts: AudioFacts,
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
/// [`Error::Stopped`].
pub fn ingest(
    writer: &mut Writer,
    inputs: &[PathBuf],
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    if let Some(s) = &opts.normalize {
        crate::pipeline::check_settings(s)?;
    }
    if let Some((p, _)) = &opts.segment {
        crate::pipeline::check_params(p)?;
    }
    let mut report = IngestReport {
        normalize: (opts.normalize.is_some() || opts.segment.is_some())
            .then(NormalizeReport::default),
        segment: opts.segment.is_some().then(SegmentReport::default),
        ..IngestReport::default()
    };
    let root = writer.archive().root().to_path_buf();
    let _hold = interrupt::hold().map_err(|e| Error::io(&root, e))?;
    let candidates = collect(&root, inputs, &mut report);
    progress.start(candidates.len() as u64);
    let ingested_at = crate::time::now();

    let consent = opts
        .consent
        .as_ref()
        .map(|g| g.entry(writer.actor()))
        .transpose()?;
    let details = serde_json::json!({
        "normalized": opts.normalize.is_some() || opts.segment.is_some(),
        "segmented": opts.segment.is_some(),
        "marks": opts.marks.len(),
        "consent_scopes": consent.as_ref().map(|c| &c.scopes),
        "consent": consent.as_ref().map(crate::replay::consent_details),
        "tag_keys": opts.tags.keys().collect::<Vec<_>>(),
    });
    let mut known: HashSet<String> = record_ids(writer);
    let derived = derived_digests(writer);
    let mut batch = Batch::new("ingest", details);
    for group in candidates.chunks(batch::chunk_len()) {
        let outcomes: Vec<Result<Outcome>> = group
            .par_iter()
            .map(|c| {
                let to = FileProgress::new(progress, &c.path);
                let o = stage_one(
                    writer,
                    c,
                    (&known, &derived),
                    (opts, &consent),
                    &ingested_at,
                    to,
                );
                progress.advance(&c.path);
                o
            })
            .collect();
        if let Some(signal) = interrupt::caught() {
            // What the chunk completed is kept; what the signal cut short is redone.
            for outcome in outcomes {
                if let Ok(Outcome::Done(done)) = outcome
                    && known.insert(done.staged.rec.id.clone())
                {
                    batch.push(done.staged);
                }
            }
            let kept = batch.finish(writer)?;
            writer.discard_staged();
            return Err(Error::Stopped {
                signal,
                kept,
                redo: candidates.len() - kept,
            });
        }
        for (cand, outcome) in group.iter().zip(outcomes) {
            let shown = cand.path.display().to_string();
            match outcome? {
                Outcome::Rejected(reason) => report.rejected.push(Refusal {
                    path: shown,
                    reason,
                }),
                Outcome::Skipped(reason) => report.skipped.push(Refusal {
                    path: shown,
                    reason,
                }),
                Outcome::Present(id) => report.duplicates.push(Duplicate { id, path: shown }),
                Outcome::Done(done) => {
                    let id = done.staged.rec.id.clone();
                    if known.contains(&id) {
                        // Twice in this batch: the first copy is the one kept.
                        let _ = fs::remove_dir_all(&done.slot);
                        report.duplicates.push(Duplicate { id, path: shown });
                        continue;
                    }
                    known.insert(id.clone());
                    report.record(cand, &id, &done);
                    batch.push(done.staged);
                }
            }
        }
        batch.commit_if_due(writer)?;
    }
    batch.finish(writer)?;
    Ok(report)
}

/// Copies one candidate into staging (hashing it), then decodes the staged copy — through
/// the normalizer when asked, so a recording is decoded once — and builds its metadata,
/// reporting to `progress`. What is examined is exactly what would be stored. Errors
/// writing into the archive are fatal; everything about the input itself is an outcome.
fn stage_one(
    writer: &Writer,
    cand: &Candidate,
    (known, derived): (&HashSet<String>, &HashMap<String, String>),
    (opts, consent): (&IngestOptions, &Option<ConsentEntry>),
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
    if let Some(path) = derived.get(&fixity.sha256) {
        let _ = fs::remove_dir_all(&slot);
        return Ok(Outcome::Rejected(format!(
            "has the same content as the archive's {path}, which visitrec made from a recording \
             already archived: ingesting it would make a copy that escapes that recording's \
             consent"
        )));
    }
    let id = fixity.sha256[..ID_LEN].to_string();
    if known.contains(&id) && existing_sha(writer, &id).as_deref() == Some(&fixity.sha256) {
        let _ = fs::remove_dir_all(&slot);
        return Ok(Outcome::Present(id));
    }
    let base = Base {
        cand,
        src_meta: &src_meta,
        consent,
        ingested_at,
    };
    match stage_audio(writer, &base, &staged_original, (fixity, opts), progress) {
        Ok((staged, facts)) => Ok(Outcome::Done(Box::new(Done {
            staged,
            facts,
            slot,
        }))),
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
    consent: &'a Option<ConsentEntry>,
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
) -> std::result::Result<(Staged, AudioFacts), StageError> {
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
            (r.source, Some((wav, r.vad_scores)))
        }
        None => (
            probe::examine(original, opts.max_duration, progress).map_err(StageError::Audio)?,
            None,
        ),
    };
    let stored_as =
        record::payload_path(&id, &format!("original.{}", extension(&facts, &cand.path)));
    let (file_name, raw) = name_fields(&cand.path);
    let (recorded_at, recorded_at_source) = recorded_at(&facts, base.src_meta);
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
        has_location: facts.has_location,
    };
    staged.rec.ingested_at = base.ingested_at.to_string();
    staged.rec.participant = opts.participant.clone();
    staged.rec.tags = opts.tags.clone();
    staged.rec.consent = base.consent.iter().cloned().collect();
    crate::annotate::add_marks(&mut staged.rec, &opts.marks).map_err(StageError::Unfit)?;
    staged
        .puts
        .push((original.to_path_buf(), stored_as, fixity));
    if let (Some((params, at_marks)), Some((wav, scores))) = (&opts.segment, rendition) {
        let how = (params, *at_marks, opts.max_duration);
        stage_segments(writer, &mut staged, &wav, scores, how, progress)?;
    }
    Ok((staged, facts))
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

/// The stored original's extension: the input's own if it is a known audio extension
/// (so `.3gp` stays `.3gp`), else one that names the container. Always plain ASCII.
fn extension(facts: &AudioFacts, input: &Path) -> String {
    if let Some(ext) = input.extension().and_then(|e| e.to_str()) {
        let ext = ext.to_ascii_lowercase();
        if AUDIO_EXTENSIONS.contains(&ext.as_str()) {
            return ext;
        }
    }
    let ext = match facts.stream.container.as_str() {
        "isomp4" => "m4a",
        "mp3" => "mp3",
        "wave" => "wav",
        "flac" => "flac",
        "ogg" => "ogg",
        "aiff" => "aiff",
        "caf" => "caf",
        "mkv" => "mka",
        "amr" => "amr",
        _ => "bin",
    };
    ext.to_string()
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

fn record_ids(writer: &Writer) -> HashSet<String> {
    crate::archive::ids_in(writer.manifest())
        .into_iter()
        .collect()
}

/// The full SHA-256 of an existing recording's original, from the manifest (a range
/// lookup in the sorted manifest: re-ingesting N known files costs N log N, not N²).
fn existing_sha(writer: &Writer, id: &str) -> Option<String> {
    let prefix = format!("data/{id}/original.");
    writer
        .manifest()
        .entries
        .range(prefix.clone()..)
        .next()
        .filter(|(p, _)| p.starts_with(&prefix))
        .map(|(_, d)| d.clone())
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
                });
                continue;
            }
        };
        if let Some(inside) = crate::archive::enclosing_archive(input) {
            report.rejected.push(Refusal {
                path: input.display().to_string(),
                reason: inside_archive_reason(&inside),
            });
            continue;
        }
        if !meta.is_dir() {
            out.push(Candidate {
                path: input.clone(),
                explicit: true,
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
                    report.rejected.push(Refusal { path, reason });
                    continue;
                }
            };
            let ft = entry.file_type();
            if ft.is_dir() {
                if entry.depth() > 0 && crate::archive::is_visitrec_archive(entry.path()) {
                    report.skipped.push(Refusal {
                        path: entry.path().display().to_string(),
                        reason: inside_archive_reason(entry.path()),
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
                }),
                None => out.push(Candidate {
                    path,
                    explicit: false,
                }),
            }
        }
    }
    out
}

/// Digest → path of every payload file that is not an original (renditions, segments,
/// metadata): content the archive made itself, never to be ingested as a new recording.
fn derived_digests(writer: &Writer) -> HashMap<String, String> {
    writer
        .manifest()
        .entries
        .iter()
        .filter(|(p, _)| {
            p.rsplit('/')
                .next()
                .is_some_and(|name| !name.starts_with("original."))
        })
        .map(|(p, d)| (d.clone(), p.clone()))
        .collect()
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

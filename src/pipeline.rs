//! `normalize` and `segment` over recordings of an archive: work in parallel in staging,
//! commit in small crash-safe batches, skip what is already up to date (re-running with the
//! same settings changes nothing).

use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::{Archive, Writer};
use crate::audio::decode::{AudioError, MaxDuration};
use crate::audio::normalize::{self, Settings};
use crate::audio::segment::{self, Params};
use crate::batch::{self, Batch, Staged};
use crate::catalog;
use crate::envelope::{self, Envelope};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::fixity;
use crate::hash;
use crate::interrupt;
use crate::progress::{FileProgress, Progress};
use crate::record::{self, Normalized, Recording, Segment, Segmentation};

/// File name of the normalized rendition inside `data/<id>/`.
pub const NORMALIZED_WAV: &str = "normalized.wav";

/// Checks normalize settings, with a message naming the flag.
pub fn check_settings(s: &Settings) -> Result<()> {
    if !(8_000..=192_000).contains(&s.rate) {
        return Err(out_of_range("--rate", s.rate, "8000 to 192000 Hz"));
    }
    if !(-70.0..=0.0).contains(&s.target_lufs) {
        return Err(out_of_range(
            "--target-lufs",
            s.target_lufs,
            "-70 to 0 LUFS",
        ));
    }
    if !(-20.0..=0.0).contains(&s.true_peak_dbtp) {
        return Err(out_of_range(
            "--true-peak",
            s.true_peak_dbtp,
            "-20 to 0 dBTP",
        ));
    }
    Ok(())
}

/// `flag value: out of range (range)`.
fn out_of_range(flag: &'static str, value: impl std::fmt::Display, range: &str) -> Error {
    Error::BadValue {
        flag,
        value: value.to_string(),
        reason: format!("out of range ({range})"),
    }
}

/// Checks segment parameters.
pub fn check_params(p: &Params) -> Result<()> {
    for (flag, v) in [
        ("--min-silence", p.min_silence_s),
        ("--min-speech", p.min_speech_s),
        ("--pad", p.pad_s),
    ] {
        if !(0.0..=600.0).contains(&v) {
            return Err(out_of_range(flag, v, "0 to 600 seconds"));
        }
    }
    Ok(())
}

/// The ids named by `prefixes` (each a unique prefix), or every id with `all`.
pub fn select(archive: &Archive, prefixes: &[String], all: bool) -> Result<Vec<String>> {
    if all {
        return archive.recording_ids();
    }
    if prefixes.is_empty() {
        return Err(Error::NoRecordingsNamed);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in prefixes {
        let id = archive.resolve_id(p)?;
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// A recording that could not be processed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The recording.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// A recording normalized by this run.
#[derive(Debug, Clone, Serialize)]
pub struct NormalizedItem {
    /// The recording.
    pub id: String,
    /// What was made and measured.
    pub normalized: Normalized,
}

/// A recording segmented by this run.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentedItem {
    /// The recording.
    pub id: String,
    /// Its segments.
    pub segments: Vec<Segment>,
}

/// The outcome of `normalize`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NormalizeReport {
    /// Recordings normalized by this run, with what was measured.
    pub normalized: Vec<NormalizedItem>,
    /// Recordings already normalized with these settings.
    pub unchanged: Vec<String>,
    /// Recordings whose earlier segmentation was removed (made from the old rendition).
    pub segments_cleared: Vec<String>,
    /// Recordings that failed.
    pub failed: Vec<Failure>,
}

/// The outcome of `segment`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SegmentReport {
    /// Recordings segmented by this run.
    pub segmented: Vec<SegmentedItem>,
    /// Recordings normalized first: with default settings because they had not been, or
    /// with their recorded settings because their normalized WAV was missing or damaged.
    pub normalized_first: Vec<String>,
    /// Recordings already segmented with these settings and marks.
    pub unchanged: Vec<String>,
    /// Recordings that failed.
    pub failed: Vec<Failure>,
}

impl NormalizeReport {
    /// 0 when every recording was done or up to date, 1 when some failed.
    pub fn exit_code(&self) -> Exit {
        Exit::problems_unless(self.failed.is_empty())
    }
}

impl SegmentReport {
    /// 0 when every recording was done or up to date, 1 when some failed.
    pub fn exit_code(&self) -> Exit {
        Exit::problems_unless(self.failed.is_empty())
    }
}

/// What became of one recording.
pub(crate) enum Outcome<T> {
    /// Staged and committed; `T` is what to report.
    Done(Box<Staged>, T),
    /// Already up to date.
    Unchanged,
    /// Could not be processed.
    Failed(String),
}

/// What [`run`] hands back per recording, after committing.
pub(crate) enum Status<T> {
    /// Committed; what to report.
    Done(T),
    /// Already up to date.
    Unchanged,
    /// Could not be processed.
    Failed(String),
}

/// Runs `work` over `ids` in parallel chunks and commits every few recordings. On SIGINT,
/// SIGTERM or SIGHUP (see [`interrupt`]) it stops after the chunk at hand, commits what
/// that chunk completed, removes the rest of its staging and fails with
/// [`Error::Stopped`].
pub(crate) fn run<T: Send>(
    writer: &mut Writer,
    ids: &[String],
    progress: &dyn Progress,
    (op, details): (&'static str, serde_json::Value),
    work: impl Fn(&Writer, &Recording, FileProgress<'_>) -> Result<Outcome<T>> + Sync,
) -> Result<Vec<(String, Status<T>)>> {
    let _hold = interrupt::hold().map_err(|e| Error::io(writer.archive().root(), e))?;
    progress.start(ids.len() as u64);
    let mut batch = Batch::new(op, details);
    let mut out = Vec::with_capacity(ids.len());
    for group in ids.chunks(batch::chunk_len()) {
        let results: Vec<Result<Outcome<T>>> = group
            .par_iter()
            .map(|id| {
                let name = Path::new(id);
                let r = catalog::load(writer.archive(), id).and_then(|rec| {
                    let to = FileProgress {
                        length_s: Some(rec.source.duration_s),
                        ..FileProgress::new(progress, name)
                    };
                    work(writer, &rec, to)
                });
                progress.advance(name);
                r
            })
            .collect();
        if let Some(signal) = interrupt::caught() {
            // What the chunk completed is kept; what the signal cut short is redone.
            for r in results {
                if let Ok(Outcome::Done(staged, _)) = r {
                    batch.push(*staged);
                }
            }
            let kept = batch.finish(writer)?;
            writer.discard_staged();
            return Err(Error::Stopped {
                signal,
                kept,
                redo: ids.len() - kept,
            });
        }
        for (id, result) in group.iter().zip(results) {
            let status = match result? {
                Outcome::Done(staged, extra) => {
                    batch.push(*staged);
                    Status::Done(extra)
                }
                Outcome::Unchanged => Status::Unchanged,
                Outcome::Failed(reason) => Status::Failed(reason),
            };
            out.push((id.clone(), status));
        }
        batch.commit_if_due(writer)?;
    }
    batch.finish(writer)?;
    Ok(out)
}

/// Normalizes the recordings `ids`; a recording longer than `max` fails.
pub fn normalize(
    writer: &mut Writer,
    ids: &[String],
    settings: &Settings,
    max: MaxDuration,
    progress: &dyn Progress,
) -> Result<NormalizeReport> {
    check_settings(settings)?;
    let details = serde_json::json!({
        "rate": settings.rate,
        "target_lufs": settings.target_lufs,
        "true_peak_dbtp": settings.true_peak_dbtp,
        "limiter": settings.limiter,
    });
    let statuses = run(
        writer,
        ids,
        progress,
        ("normalize", details),
        |w, rec, to| {
            let current = rec
                .normalized
                .as_ref()
                .is_some_and(|n| same_settings(n, settings));
            let manifest = w.manifest()?;
            let intact = |rel: &str| fixity::check(w.archive(), manifest, rel).is_intact();
            let norm_intact = rec.normalized.as_ref().is_none_or(|n| intact(&n.path));
            if current && norm_intact {
                return Ok(Outcome::Unchanged);
            }
            let mut staged = Staged::new(rec.clone());
            // A missing or damaged file replaced or removed here is not the size the Oxum
            // counted.
            staged.recount = !norm_intact || rec.segments.iter().any(|s| !intact(&s.path));
            // Segments cut from the old rendition would no longer match it.
            let cleared = !rec.segments.is_empty();
            staged.deletes = staged.rec.segments.drain(..).map(|s| s.path).collect();
            staged.rec.segmentation = None;
            let source = w.archive().path_of(&rec.source.stored_as)?;
            match stage_normalized(w, &mut staged, &source, (settings, max), false, to) {
                Ok(_) => {
                    let n = staged.rec.normalized.clone().expect("just normalized");
                    Ok(Outcome::Done(Box::new(staged), (n, cleared)))
                }
                Err(e) => e.into_outcome(&rec.source.stored_as),
            }
        },
    )?;
    let mut report = NormalizeReport::default();
    for (id, status) in statuses {
        match status {
            Status::Done((n, cleared)) => {
                if cleared {
                    report.segments_cleared.push(id.clone());
                }
                report.normalized.push(NormalizedItem { id, normalized: n });
            }
            Status::Unchanged => report.unchanged.push(id),
            Status::Failed(reason) => report.failed.push(Failure { id, reason }),
        }
    }
    Ok(report)
}

/// Segments the recordings `ids` (normalizing first those that are not); a recording
/// longer than `max` fails.
pub fn segment(
    writer: &mut Writer,
    ids: &[String],
    params: &Params,
    at_marks: bool,
    max: MaxDuration,
    progress: &dyn Progress,
) -> Result<SegmentReport> {
    check_params(params)?;
    let details = serde_json::json!({
        "min_silence_s": params.min_silence_s,
        "min_speech_s": params.min_speech_s,
        "pad_s": params.pad_s,
        "at_marks": at_marks,
    });
    let statuses = run(writer, ids, progress, ("segment", details), |w, rec, to| {
        let mut staged = Staged::new(rec.clone());
        let manifest = w.manifest()?;
        let intact = |rel: &str| fixity::check(w.archive(), manifest, rel).is_intact();
        let norm_intact = rec.normalized.as_ref().is_some_and(|n| intact(&n.path));
        let segs_intact = rec.segments.iter().all(|s| intact(&s.path));
        // Replacing a missing or damaged file: its size is not what the Oxum counted.
        staged.recount = !segs_intact || (rec.normalized.is_some() && !norm_intact);
        let normalized_first = !norm_intact;
        let (wav, scores, wav_rel) = match &rec.normalized {
            Some(n) if norm_intact => (w.archive().path_of(&n.path)?, None, n.path.clone()),
            recorded => {
                let source = w.archive().path_of(&rec.source.stored_as)?;
                // A missing or damaged rendition is made again with the settings it was
                // made with.
                let settings = recorded
                    .as_ref()
                    .map_or_else(Settings::default, settings_of);
                match stage_normalized(w, &mut staged, &source, (&settings, max), true, to) {
                    Ok(r) => {
                        let wav = staged.puts.last().expect("staged").0.clone();
                        let rel = record::payload_path(&rec.id, NORMALIZED_WAV);
                        (wav, r.vad_frames, rel)
                    }
                    Err(e) => return e.into_outcome(&rec.source.stored_as),
                }
            }
        };
        let wanted = segmentation_for(&staged.rec, params, at_marks);
        if !normalized_first && segs_intact && rec.segmentation.as_ref() == Some(&wanted) {
            return Ok(Outcome::Unchanged);
        }
        match stage_segments(w, &mut staged, &wav, scores, (params, at_marks, max), to) {
            Ok(()) => {
                let segs = staged.rec.segments.clone();
                Ok(Outcome::Done(Box::new(staged), (segs, normalized_first)))
            }
            Err(e) => e.into_outcome(&wav_rel),
        }
    })?;
    let mut report = SegmentReport::default();
    for (id, status) in statuses {
        match status {
            Status::Done((segs, first)) => {
                if first {
                    report.normalized_first.push(id.clone());
                }
                report.segmented.push(SegmentedItem { id, segments: segs });
            }
            Status::Unchanged => report.unchanged.push(id),
            Status::Failed(reason) => report.failed.push(Failure { id, reason }),
        }
    }
    Ok(report)
}

/// Whether the rendition `n` was made with `s`.
fn same_settings(n: &Normalized, s: &Settings) -> bool {
    n.sample_rate == s.rate
        && n.target_lufs == s.target_lufs
        && n.true_peak_ceiling_dbtp == s.true_peak_dbtp
        && n.limiter.is_some() == s.limiter
}

/// The settings the rendition `n` was made with.
pub(crate) fn settings_of(n: &Normalized) -> Settings {
    Settings {
        rate: n.sample_rate,
        target_lufs: n.target_lufs,
        true_peak_dbtp: n.true_peak_ceiling_dbtp,
        limiter: n.limiter.is_some(),
    }
}

/// Why staging failed: the audio (a per-recording failure) or the archive (fatal).
pub(crate) enum StageError {
    /// The recording's audio could not be processed.
    Audio(AudioError),
    /// What was asked does not fit this recording (e.g. a mark past its end).
    Unfit(Error),
    /// Writing into the archive failed.
    Archive(Error),
}

impl StageError {
    /// A recording-level failure becomes that recording's outcome (an audio error names
    /// `file`, the payload file that was being read); an archive error stays fatal.
    pub(crate) fn into_outcome<T>(self, file: &str) -> Result<Outcome<T>> {
        match self {
            StageError::Audio(e) => Ok(Outcome::Failed(format!("{file}: {e}"))),
            StageError::Unfit(e) => Ok(Outcome::Failed(e.to_string())),
            StageError::Archive(e) => Err(e),
        }
    }

    /// An audio error, unless it is the disk refusing to take what we write (full,
    /// read-only, permission denied): that is fatal for the whole command, and names the
    /// file we were writing.
    fn from_audio(e: AudioError, writing: &Path) -> StageError {
        use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem, StorageFull};
        match e {
            AudioError::Io(io)
                if matches!(
                    io.kind(),
                    StorageFull | ReadOnlyFilesystem | PermissionDenied
                ) =>
            {
                StageError::Archive(Error::io(writing, io))
            }
            other => StageError::Audio(other),
        }
    }
}

impl From<Error> for StageError {
    fn from(e: Error) -> Self {
        StageError::Archive(e)
    }
}

/// Renders `source` (refused when longer than `max`) into a normalized WAV in staging and
/// records it in `staged.rec`, reporting to `progress`. Returns the render's details
/// (source facts; VAD scores when `vad`).
pub(crate) fn stage_normalized(
    w: &Writer,
    staged: &mut Staged,
    source: &Path,
    (settings, max): (&Settings, MaxDuration),
    vad: bool,
    progress: FileProgress<'_>,
) -> std::result::Result<normalize::Rendered, StageError> {
    let slot = w.new_staging_slot()?;
    let out = slot.join(NORMALIZED_WAV);
    let scratch = slot.join("scratch.f32");
    let mut envelope = EnvelopeTap(None);
    let taps = normalize::Taps {
        vad,
        listener: Some(&mut envelope),
    };
    let r = normalize::render(source, settings, max, (&out, &scratch), taps, progress);
    let r = r.map_err(|e| {
        // Nothing of a refused rendition is kept, not even in staging.
        let _ = std::fs::remove_dir_all(&slot);
        StageError::from_audio(e, &out)
    })?;
    let rel = record::payload_path(&staged.rec.id, NORMALIZED_WAV);
    staged.rec.normalized = Some(Normalized {
        path: rel.clone(),
        sample_rate: settings.rate,
        frames: r.frames,
        duration_s: round(r.frames as f64 / f64::from(settings.rate), 1000.0),
        target_lufs: settings.target_lufs,
        true_peak_ceiling_dbtp: settings.true_peak_dbtp,
        loudness_before_lufs: r.before.integrated_lufs.map(|v| round(v, 100.0)),
        true_peak_before_dbtp: r.before.true_peak_dbtp.map(|v| round(v, 100.0)),
        loudness_after_lufs: r.after.integrated_lufs.map(|v| round(v, 100.0)),
        true_peak_after_dbtp: r.after.true_peak_dbtp.map(|v| round(v, 100.0)),
        gain_db: round(r.gain_db, 100.0),
        limiter: r.limiting.map(|l| record::Limiting {
            max_reduction_db: round(l.max_db, 100.0),
            limited_s: round(l.samples as f64 / f64::from(settings.rate), 1000.0),
        }),
        target_reached: r.target_reached,
        note: r.note.clone(),
        envelope: None,
    });
    // The envelope goes first: callers take the WAV as the last file staged.
    let env = envelope.0.expect("the WAV was written").finish();
    put_envelope(staged, &env, &slot)?;
    staged.puts.push((out, rel, r.fixity.clone()));
    Ok(r)
}

/// Builds the envelope of the WAV as it is written (from its last start).
struct EnvelopeTap(Option<envelope::Builder>);

impl normalize::Listener for EnvelopeTap {
    fn start(&mut self, rate: u32, frames: u64) {
        self.0 = Some(envelope::Builder::new(rate, frames));
    }

    fn samples(&mut self, pcm: &[i16]) {
        if let Some(b) = self.0.as_mut() {
            b.push(pcm);
        }
    }
}

/// Makes the envelope of the normalized WAV `wav` into the staging folder `slot` and
/// records it in `staged.rec` (which must be normalized), so pictures never decode audio.
pub(crate) fn stage_envelope(
    staged: &mut Staged,
    wav: &Path,
    slot: &Path,
) -> std::result::Result<(), StageError> {
    let env = Envelope::of_wav(wav).map_err(|e| StageError::from_audio(e, wav))?;
    put_envelope(staged, &env, slot)
}

/// Writes the envelope `env` of the normalized WAV into the staging folder `slot` and
/// records it in `staged.rec` (which must be normalized).
fn put_envelope(
    staged: &mut Staged,
    env: &Envelope,
    slot: &Path,
) -> std::result::Result<(), StageError> {
    let out = slot.join(envelope::ENVELOPE_JSON);
    crate::fsutil::write_new(&out, &env.to_json())?;
    let rel = record::payload_path(&staged.rec.id, envelope::ENVELOPE_JSON);
    let fixity = hash::hash_file(&out)?;
    staged.puts.push((out, rel.clone(), fixity));
    if let Some(n) = staged.rec.normalized.as_mut() {
        n.envelope = Some(rel);
    }
    Ok(())
}

/// The segmentation record `params` would give `rec` (which must be normalized).
fn segmentation_for(rec: &Recording, params: &Params, at_marks: bool) -> Segmentation {
    Segmentation {
        min_silence_s: params.min_silence_s,
        min_speech_s: params.min_speech_s,
        pad_s: params.pad_s,
        at_marks,
        marks_used: if at_marks {
            rec.marks.clone()
        } else {
            Vec::new()
        },
        normalized_gain_db: rec.normalized.as_ref().map_or(0.0, |n| n.gain_db),
    }
}

/// Segments the normalized audio `wav` of `staged.rec` (using VAD `frames` already
/// computed from it, when given; else refusing a `wav` longer than `max`), cuts the
/// segment WAVs into staging, and records them, reporting to `progress`.
pub(crate) fn stage_segments(
    w: &Writer,
    staged: &mut Staged,
    wav: &Path,
    frames: Option<segment::VadFrames>,
    (params, at_marks, max): (&Params, bool, MaxDuration),
    progress: FileProgress<'_>,
) -> std::result::Result<(), StageError> {
    let norm = staged
        .rec
        .normalized
        .clone()
        .expect("segmenting normalized audio");
    let duration = norm.frames as f64 / f64::from(norm.sample_rate);
    let frames = match frames {
        Some(f) => f,
        None => {
            segment::score_wav(wav, max, progress)
                .map_err(StageError::Audio)?
                .0
        }
    };
    let spans = segment::spans_from_frames(&frames, params, duration);
    let wanted = segmentation_for(&staged.rec, params, at_marks);
    let marks: Vec<(f64, String)> = wanted
        .marks_used
        .iter()
        .map(|m| (m.at_s, m.label.clone()))
        .collect();
    let spans = segment::cut_at_marks(spans, &marks);
    let old: Vec<String> = staged.rec.segments.drain(..).map(|s| s.path).collect();
    let slot = w.new_staging_slot()?;
    let rate = f64::from(norm.sample_rate);
    let mut segments = Vec::with_capacity(spans.len());
    let mut cuts = Vec::with_capacity(spans.len());
    for (i, span) in spans.iter().enumerate() {
        let index = i as u32 + 1;
        let name = format!("{index:03}.wav");
        let start = (span.start_s * rate).round() as u32;
        let end = (span.end_s * rate).round() as u32;
        cuts.push((start, end, slot.join(&name)));
        segments.push(Segment {
            index,
            start_s: round(f64::from(start) / rate, 1000.0),
            end_s: round(f64::from(end) / rate, 1000.0),
            path: record::payload_path(&staged.rec.id, &format!("segments/{name}")),
            kind: "speech".into(),
            label: span.label.clone(),
        });
    }
    let fixities =
        segment::cut_all(wav, &cuts, progress).map_err(|e| StageError::from_audio(e, &slot))?;
    for (((_, _, out), seg), fixity) in cuts.into_iter().zip(&segments).zip(fixities) {
        staged.puts.push((out, seg.path.clone(), fixity));
    }
    // Old segment files that the new set overwrites are replaced, not removed.
    let new: BTreeSet<&str> = segments.iter().map(|s| s.path.as_str()).collect();
    staged
        .deletes
        .extend(old.into_iter().filter(|p| !new.contains(p.as_str())));
    staged.rec.segments = segments;
    staged.rec.segmentation = Some(wanted);
    Ok(())
}

fn round(v: f64, per: f64) -> f64 {
    (v * per).round() / per
}

//! Segmentation: voice activity (earshot, a small built-in neural VAD: no model download)
//! with hysteresis, then pause merging, short-burst dropping, padding, and optional cuts at
//! time-anchored marks. Also cuts segment WAVs out of the normalized audio.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::decode::{AudioError, MaxDuration};
use super::resample::MonoResampler;
use super::wav16::Wav16Writer;
use crate::hash::Fixity;
use crate::progress::{FileProgress, Phase, Position};

/// The VAD's rate and frame size (16 ms at 16 kHz).
const VAD_RATE: u32 = 16_000;
const VAD_FRAME: usize = 256;
/// A frame scoring at least this starts speech, and speech continues until a frame scores
/// below it. (A lower "off" threshold was tried: it held segment ends ~150 ms past the
/// speech.)
const ON: f32 = 0.5;
const OFF: f32 = 0.5;
/// The detector scores a 48 ms window (the frame and the two before it) and keeps state,
/// so its score falls about three frames after speech ends: measured against ffmpeg's
/// `silencedetect` on the fixtures, uncompensated ends sat 60-95 ms late.
const END_LATENCY_FRAMES: usize = 3;

/// How segments are shaped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Pauses shorter than this (s) never split a segment.
    pub min_silence_s: f64,
    /// Bursts shorter than this (s) are dropped.
    pub min_speech_s: f64,
    /// Padding added to each side of a segment (s).
    pub pad_s: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_silence_s: 0.7,
            min_speech_s: 0.25,
            pad_s: 0.15,
        }
    }
}

/// A stretch of time, in seconds, optionally labelled by the mark it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Start, s.
    pub start_s: f64,
    /// End, s.
    pub end_s: f64,
    /// The mark label, when a mark starts this span.
    pub label: Option<String>,
}

/// Finds speech in a mono 16-bit WAV (the normalized rendition) no longer than `max` and
/// shapes it into segments. Returns the segments and the file's duration in seconds.
pub fn detect(wav: &Path, p: &Params, max: MaxDuration) -> Result<(Vec<Span>, f64), AudioError> {
    let (frames, duration) = score_wav(wav, max, FileProgress::none())?;
    Ok((spans_from_frames(&frames, p, duration), duration))
}

/// Per 16 ms frame of audio: the VAD's score and the frame's level, what segmentation
/// works from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VadFrames {
    /// The VAD's speech probability, per frame.
    pub scores: Vec<f32>,
    /// The frame's level, dB, after pre-emphasis (a first difference, which turns the
    /// rumble of pink or brown noise into a flat floor and keeps the consonants of speech).
    pub level_db: Vec<f32>,
}

/// Shapes VAD frames (from [`VadScorer`]) into segments.
pub fn spans_from_frames(frames: &VadFrames, p: &Params, duration: f64) -> Vec<Span> {
    let frame_s = VAD_FRAME as f64 / f64::from(VAD_RATE);
    let raw = raw_spans(&frames.scores, &frames.level_db);
    let secs: Vec<(f64, f64)> = raw
        .iter()
        .map(|&(b, e)| (b as f64 * frame_s, e as f64 * frame_s))
        .collect();
    shape(&secs, p, duration)
}

/// VAD frames of a mono 16-bit WAV, and its duration in seconds. A WAV whose header
/// declares more than `max` is refused before it is read. Reports to `progress`
/// ([`Phase::Detect`]); a caught signal stops it (see [`crate::interrupt`]).
pub fn score_wav(
    wav: &Path,
    max: MaxDuration,
    progress: FileProgress<'_>,
) -> Result<(VadFrames, f64), AudioError> {
    let mut pcm = Pcm16::open(wav)?;
    max.check(u64::from(pcm.frames), pcm.rate, true)?;
    let duration = f64::from(pcm.frames) / f64::from(pcm.rate);
    let at = pcm.position();
    let mut ticker = progress.phase(Phase::Detect, at(0));
    let mut scorer = VadScorer::new(pcm.rate)?;
    let mut buf = Vec::new();
    let mut done = 0;
    loop {
        crate::interrupt::check()?;
        let n = pcm.read(&mut buf, 16_384)?;
        if n == 0 {
            break;
        }
        scorer.push(&buf)?;
        done += n as u32;
        ticker.at(at(done));
    }
    let frames = scorer.finish()?;
    ticker.finish(at(done));
    Ok((frames, duration))
}

/// Scores 16-bit mono audio at any rate for voice activity, one score and level per 16 ms.
/// The same samples always give the same frames, whether they come from a WAV or straight from
/// normalization.
pub struct VadScorer {
    resampler: MonoResampler,
    blocks: BlockScorer,
    buf: Vec<f32>,
}

impl std::fmt::Debug for VadScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VadScorer").finish_non_exhaustive()
    }
}

impl VadScorer {
    /// A scorer for audio at `rate` Hz.
    pub fn new(rate: u32) -> Result<VadScorer, AudioError> {
        Ok(VadScorer {
            resampler: MonoResampler::new(rate, VAD_RATE)?,
            blocks: BlockScorer::default(),
            buf: Vec::new(),
        })
    }

    /// Feeds samples.
    pub fn push(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        self.buf.clear();
        self.buf
            .extend(samples.iter().map(|&s| f32::from(s) / 32768.0));
        let blocks = &mut self.blocks;
        self.resampler
            .push(&self.buf, &mut |piece: &[f32]| -> Result<(), AudioError> {
                blocks.push(piece);
                Ok(())
            })
    }

    /// The frames of everything fed.
    pub fn finish(mut self) -> Result<VadFrames, AudioError> {
        let blocks = &mut self.blocks;
        self.resampler
            .finish(&mut |piece: &[f32]| -> Result<(), AudioError> {
                blocks.push(piece);
                Ok(())
            })?;
        Ok(self.blocks.finish())
    }
}

/// A mono 16-bit PCM WAV read in bulk (hound parses the header; samples are read raw).
struct Pcm16 {
    reader: BufReader<File>,
    rate: u32,
    frames: u32,
    left: u32,
    bytes: Vec<u8>,
}

/// Opens a mono 16-bit PCM WAV, the form `normalize` writes (and `segment` and the envelope
/// read back); anything else is refused as corrupt.
pub fn open_mono16(wav: &Path) -> Result<hound::WavReader<BufReader<File>>, AudioError> {
    let r = hound::WavReader::new(BufReader::with_capacity(1 << 20, File::open(wav)?))
        .map_err(AudioError::from)?;
    let spec = r.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(AudioError::Corrupt(format!(
            "{}: expected mono 16-bit PCM",
            wav.display()
        )));
    }
    Ok(r)
}

impl Pcm16 {
    fn open(wav: &Path) -> Result<Pcm16, AudioError> {
        let r = open_mono16(wav)?;
        let spec = r.spec();
        crate::audio::decode::check_rate(Some(spec.sample_rate))?;
        let frames = r.duration();
        Ok(Pcm16 {
            rate: spec.sample_rate,
            frames,
            left: frames,
            reader: r.into_inner(),
            bytes: Vec::new(),
        })
    }

    /// How to report `frames` of this file done.
    fn position(&self) -> impl Fn(u32) -> Position + use<> {
        let (rate, total) = (f64::from(self.rate), f64::from(self.frames));
        move |frames| Position::Audio {
            done_s: f64::from(frames) / rate,
            total_s: Some(total / rate),
        }
    }

    /// Reads up to `max` samples into `out` (replacing its content); 0 at the end.
    fn read(&mut self, out: &mut Vec<i16>, max: u32) -> Result<usize, AudioError> {
        let n = self.left.min(max);
        self.bytes.resize(n as usize * 2, 0);
        self.reader.read_exact(&mut self.bytes)?;
        self.left -= n;
        out.clear();
        out.extend(
            self.bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        Ok(n as usize)
    }
}

/// Frames per VAD block (60 s): blocks are scored in parallel, each by its own detector.
const BLOCK_FRAMES: usize = 3750;
/// Frames of audio before a block that its detector hears first, unscored (2 s), so its
/// state has settled by the block's first frame.
const WARMUP_FRAMES: usize = 125;

/// Scores 16 kHz audio frame by frame, a few 60-second blocks at a time in parallel. The
/// block layout does not depend on the thread count, so the scores are deterministic.
#[derive(Default)]
struct BlockScorer {
    buf: Vec<f32>,
    /// Leading samples of `buf` that are context only (already scored).
    context: usize,
    frames: VadFrames,
}

impl BlockScorer {
    fn push(&mut self, piece: &[f32]) {
        self.buf.extend(piece.iter().map(|s| s.clamp(-1.0, 1.0)));
        let batch = rayon::current_num_threads().max(1) * BLOCK_FRAMES * VAD_FRAME;
        if self.buf.len() - self.context >= batch {
            self.score(batch);
        }
    }

    fn finish(mut self) -> VadFrames {
        let rest = (self.buf.len() - self.context) / VAD_FRAME * VAD_FRAME;
        self.score(rest);
        self.frames
    }

    /// Scores the next `len` samples (a multiple of the frame size) after the context.
    fn score(&mut self, len: usize) {
        use rayon::prelude::*;
        let block = BLOCK_FRAMES * VAD_FRAME;
        let warm = WARMUP_FRAMES * VAD_FRAME;
        let starts: Vec<usize> = (self.context..self.context + len).step_by(block).collect();
        let end_all = self.context + len;
        let buf = &self.buf;
        let parts: Vec<(Vec<f32>, Vec<f32>)> = starts
            .par_iter()
            .map(|&start| {
                let end = (start + block).min(end_all);
                let from = start.saturating_sub(warm);
                let mut vad = earshot::Detector::default();
                let n = (end - start) / VAD_FRAME;
                let (mut scores, mut levels) = (Vec::with_capacity(n), Vec::with_capacity(n));
                for (i, frame) in buf[from..end].chunks_exact(VAD_FRAME).enumerate() {
                    let score = vad.predict_f32(frame);
                    let at = from + i * VAD_FRAME;
                    if at >= start {
                        scores.push(score);
                        // The sample before the frame, for the first difference.
                        let prev = if at > 0 { buf[at - 1] } else { frame[0] };
                        levels.push(level_db(prev, frame));
                    }
                }
                (scores, levels)
            })
            .collect();
        for (scores, levels) in parts {
            self.frames.scores.extend(scores);
            self.frames.level_db.extend(levels);
        }
        let keep_from = end_all.saturating_sub(warm);
        self.buf.drain(..keep_from);
        self.context = end_all - keep_from;
    }
}

/// The level of a pre-emphasized frame (`prev` is the sample before it), dB, at least
/// [`FLOOR_DB`].
fn level_db(prev: f32, frame: &[f32]) -> f32 {
    let mut last = prev;
    let mut sum = 0f32;
    for &x in frame {
        let d = x - last;
        sum += d * d;
        last = x;
    }
    (10.0 * (sum / frame.len() as f32).log10()).max(FLOOR_DB)
}

/// The lowest level a frame is given, dB (digital silence).
const FLOOR_DB: f32 = -120.0;
/// A frame at the end of a segment less than this far above the noise of the pause after
/// it is noise, not speech, dB. (The VAD's score stays up for a while after speech ends in
/// steady noise: pink or brown noise at 20 dB SNR held segment ends 0.1 s or more late.)
const OVER_FLOOR_DB: f32 = 3.0;
/// The noise of a pause is measured on at most this many frames after the segment (1 s).
const FLOOR_FRAMES: usize = 62;
/// A pause shorter than this (frames) is too short to measure its noise (0.16 s).
const MIN_FLOOR_FRAMES: usize = 10;
/// At most this many frames are taken off the end of a segment for being noise (0.32 s).
const MAX_TRIM_FRAMES: usize = 20;

/// Speech runs (in frames, end exclusive) from frame scores, with hysteresis; each end
/// pulled back over the frames that are no louder than the noise of the pause after it.
fn raw_spans(scores: &[f32], level_db: &[f32]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate() {
        match start {
            None if s >= ON => start = Some(i),
            Some(b) if s < OFF => {
                let end = i.saturating_sub(END_LATENCY_FRAMES).max(b + 1);
                out.push((b, end));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b, scores.len()));
    }
    let starts: Vec<usize> = out.iter().skip(1).map(|s| s.0).collect();
    for (span, next) in out
        .iter_mut()
        .zip(starts.into_iter().map(Some).chain([None]))
    {
        let pause_end = next.unwrap_or(level_db.len()).min(level_db.len());
        span.1 = trim_end(*span, pause_end, level_db);
    }
    out
}

/// The end of the speech run `(start, end)`, pulled back over its last frames while they
/// are within [`OVER_FLOOR_DB`] of the noise floor: the median level of the pause after it
/// (up to `pause_end`). Never past the start, nor by more than [`MAX_TRIM_FRAMES`].
fn trim_end((start, end): (usize, usize), pause_end: usize, level_db: &[f32]) -> usize {
    if level_db.len() < end || pause_end < end + MIN_FLOOR_FRAMES {
        return end;
    }
    let mut pause: Vec<f32> = level_db[end..pause_end.min(end + FLOOR_FRAMES)].to_vec();
    pause.sort_by(f32::total_cmp);
    let floor = pause[pause.len() / 2];
    let lowest = end.saturating_sub(MAX_TRIM_FRAMES).max(start + 1);
    let mut e = end;
    while e > lowest && level_db[e - 1] < floor + OVER_FLOOR_DB {
        e -= 1;
    }
    e
}

/// Merges short pauses, drops short bursts, pads, and keeps padded neighbours apart.
fn shape(raw: &[(f64, f64)], p: &Params, duration: f64) -> Vec<Span> {
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for &(s, e) in raw {
        match merged.last_mut() {
            Some(last) if s - last.1 < p.min_silence_s => last.1 = e,
            _ => merged.push((s, e)),
        }
    }
    merged.retain(|(s, e)| e - s >= p.min_speech_s);
    let mut out: Vec<Span> = Vec::with_capacity(merged.len());
    for (i, &(s, e)) in merged.iter().enumerate() {
        let mut start = (s - p.pad_s).max(0.0);
        let mut end = (e + p.pad_s).min(duration);
        if i > 0 {
            let prev_end = merged[i - 1].1;
            start = start.max((prev_end + s) / 2.0);
        }
        if let Some(&(next_s, _)) = merged.get(i + 1) {
            end = end.min((e + next_s) / 2.0);
        }
        if end > start {
            out.push(Span {
                start_s: start,
                end_s: end,
                label: None,
            });
        }
    }
    out
}

/// Cuts segments at marks: a mark inside a segment splits it there, and the part from the
/// mark on carries the mark's label; a mark in a pause labels the next segment.
pub fn cut_at_marks(spans: Vec<Span>, marks: &[(f64, String)]) -> Vec<Span> {
    let mut out = spans;
    for (at, label) in marks {
        let mut next = Vec::with_capacity(out.len() + 1);
        let mut placed = false;
        for span in out {
            if !placed && *at > span.start_s && *at < span.end_s {
                next.push(Span {
                    start_s: span.start_s,
                    end_s: *at,
                    label: span.label.clone(),
                });
                next.push(Span {
                    start_s: *at,
                    end_s: span.end_s,
                    label: Some(label.clone()),
                });
                placed = true;
            } else if !placed && span.start_s >= *at {
                next.push(Span {
                    label: Some(label.clone()),
                    ..span
                });
                placed = true;
            } else {
                next.push(span);
            }
        }
        out = next;
    }
    out
}

/// Cuts the frame ranges `cuts` (sorted, non-overlapping) of a mono 16-bit WAV into new
/// WAVs, on every core: each file is written, hashed on the way and fsynced by one thread
/// (hundreds of one-by-one fsyncs cost more than the cutting). Returns each file's fixity,
/// in the order of `cuts`. Reports to `progress` ([`Phase::Segment`]); a caught signal
/// stops it (see [`crate::interrupt`]).
pub fn cut_all(
    wav: &Path,
    cuts: &[(u32, u32, PathBuf)],
    progress: FileProgress<'_>,
) -> Result<Vec<Fixity>, AudioError> {
    use std::io::Seek;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    let mut pcm = Pcm16::open(wav)?;
    let data_at = pcm.reader.stream_position()?;
    let (rate, frames) = (pcm.rate, pcm.frames);
    let at = pcm.position();
    let mut pos = 0u32;
    let mut ranges = Vec::with_capacity(cuts.len());
    for (start, end, out) in cuts {
        let start = (*start).min(frames);
        let end = (*end).min(frames).max(start);
        if start < pos {
            return Err(AudioError::Corrupt("segments overlap".into()));
        }
        pos = end;
        ranges.push((start, end, out.as_path()));
    }
    let file = pcm.reader.into_inner();
    let (next, done, failed) = (
        AtomicUsize::new(0),
        AtomicU64::new(0),
        AtomicBool::new(false),
    );
    // Takes cuts until none are left or one fails, reporting progress when `ticker` is given.
    let work = |mut ticker: Option<&mut crate::progress::Ticker<'_>>| {
        let mut made = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(start, end, out)) = ranges.get(i) else {
                break;
            };
            let mut tick = |n: u32| {
                let total = done.fetch_add(u64::from(n), Ordering::Relaxed) + u64::from(n);
                if let Some(t) = ticker.as_mut() {
                    t.at(at(total as u32));
                }
            };
            match cut_one(&file, data_at, rate, (start, end, out), &mut buf, &mut tick) {
                Ok(fixity) => made.push((i, fixity)),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(made)
    };
    let mut ticker = progress.phase(Phase::Segment, at(0));
    let helpers = rayon::current_num_threads().clamp(1, ranges.len().max(1)) - 1;
    let results: Vec<Result<Vec<(usize, Fixity)>, AudioError>> = std::thread::scope(|scope| {
        let others: Vec<_> = (0..helpers).map(|_| scope.spawn(|| work(None))).collect();
        let mut all = vec![work(Some(&mut ticker))];
        all.extend(
            others
                .into_iter()
                .map(|h| h.join().expect("cutting does not panic")),
        );
        all
    });
    let mut fixities: Vec<Option<Fixity>> = vec![None; ranges.len()];
    for made in results {
        for (i, fixity) in made? {
            fixities[i] = Some(fixity);
        }
    }
    ticker.finish(at(frames));
    Ok(fixities
        .into_iter()
        .map(|f| f.expect("every cut was made"))
        .collect())
}

/// Writes frames `start..end` of the WAV `file` (whose samples begin at byte `data_at`)
/// as the new WAV `out`, calling `tick` with the frames of each piece copied.
fn cut_one(
    file: &File,
    data_at: u64,
    rate: u32,
    (start, end, out): (u32, u32, &Path),
    buf: &mut [u8],
    tick: &mut dyn FnMut(u32),
) -> Result<Fixity, AudioError> {
    use std::os::unix::fs::FileExt;
    let mut w = Wav16Writer::create(out, rate, u64::from(end - start))?;
    let mut pos = start;
    while pos < end {
        crate::interrupt::check()?;
        let n = (end - pos).min(buf.len() as u32 / 2);
        let piece = &mut buf[..n as usize * 2];
        file.read_exact_at(piece, data_at + u64::from(pos) * 2)?;
        w.data(piece)?;
        pos += n;
        tick(n);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Params {
        Params::default()
    }

    #[test]
    fn hysteresis_holds_speech_through_middling_scores() {
        let scores = [0.1, 0.6, 0.7, 0.9, 0.8, 0.6, 0.55, 0.2, 0.1, 0.9, 0.1];
        // Speech from frame 1; the score falls at frame 7, three frames of latency.
        assert_eq!(raw_spans(&scores, &[]), vec![(1, 4), (9, 10)]);
    }

    #[test]
    fn ends_are_pulled_back_over_noise_but_not_over_speech() {
        // Speech at -20 dB to frame 50, then noise at -40 (±1) that the VAD still calls
        // speech to frame 60, then the pause.
        let level = |i: usize| match i {
            0..50 => -20.0,
            _ => -40.0 + if i.is_multiple_of(2) { 1.0 } else { -1.0 },
        };
        let levels: Vec<f32> = (0..200).map(level).collect();
        assert_eq!(trim_end((5, 60), 200, &levels), 50);
        // A quiet tail of speech 6 dB over the noise stays.
        let mut quiet = levels.clone();
        quiet[45..50].fill(-34.0);
        quiet[50..55].fill(-34.0);
        assert_eq!(trim_end((5, 60), 200, &quiet), 55);
        // Never more than MAX_TRIM_FRAMES, never to the start, and not without a pause
        // long enough to hear its noise.
        let noise: Vec<f32> = (0..200).map(|i| level(i + 100)).collect();
        assert_eq!(trim_end((5, 60), 200, &noise), 60 - MAX_TRIM_FRAMES);
        assert_eq!(trim_end((55, 60), 200, &noise), 56);
        assert_eq!(trim_end((5, 60), 65, &levels), 60);
    }

    #[test]
    fn short_pauses_merge_short_bursts_drop_and_pads_never_overlap() {
        let raw = [(1.0, 2.0), (2.5, 3.0), (5.0, 5.1), (6.0, 7.0), (7.8, 9.0)];
        let spans = shape(&raw, &p(), 9.05);
        let got: Vec<(f64, f64)> = spans.iter().map(|s| (s.start_s, s.end_s)).collect();
        // 2.0→2.5 is a short pause: merged. 5.0–5.1 is a short burst: dropped.
        // 7.0→7.8 is long enough to split; pads (0.15) fit; the last pad is clamped.
        let want = [(0.85, 3.15), (5.85, 7.15), (7.65, 9.05)];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.0 - w.0).abs() < 1e-9 && (g.1 - w.1).abs() < 1e-9,
                "{got:?}"
            );
        }
        let wide = Params { pad_s: 1.0, ..p() };
        let spans = shape(&[(1.0, 2.0), (3.0, 4.0)], &wide, 10.0);
        assert_eq!(spans[0].end_s, 2.5);
        assert_eq!(spans[1].start_s, 2.5);
    }

    #[test]
    fn marks_split_or_label() {
        let spans = vec![
            Span {
                start_s: 1.0,
                end_s: 4.0,
                label: None,
            },
            Span {
                start_s: 6.0,
                end_s: 8.0,
                label: None,
            },
        ];
        let out = cut_at_marks(
            spans,
            &[(2.5, "medication change".into()), (5.0, "plan".into())],
        );
        let got: Vec<(f64, f64, Option<&str>)> = out
            .iter()
            .map(|s| (s.start_s, s.end_s, s.label.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1.0, 2.5, None),
                (2.5, 4.0, Some("medication change")),
                (6.0, 8.0, Some("plan")),
            ]
        );
    }

    #[test]
    fn nothing_in_nothing_out() {
        let silence = VadFrames {
            scores: vec![0.0; 100],
            level_db: vec![FLOOR_DB; 100],
        };
        assert!(spans_from_frames(&silence, &p(), 1.6).is_empty());
    }
}

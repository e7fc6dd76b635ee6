//! Normalization: decode → downmix to mono → resample → remove DC → measure loudness
//! (ITU-R BS.1770-4 / EBU R128, see `loudness`; true peak 8x oversampled) → gain → look-ahead
//! true-peak limiter (unless turned off) → 16-bit WAV, measured again as written.
//!
//! In bounded memory: the first pass streams the decoded, resampled signal through the
//! meter into a scratch file of `f32` samples (64 KB per second at 16 kHz), with each
//! sample's true peak (8x oversampled) in a second one and the tiles of the limiter's
//! model (see `limit_model`) in a third. When the gain that reaches the target would put
//! the peaks over the ceiling, the model finds the gain whose limited output reaches the
//! target; the last pass writes the WAV through the limiter and measures it, and the gain
//! is corrected and the WAV written again when the measurement misses the target by more
//! than the model's tolerance. Decoding twice would cost more CPU than the scratch files
//! cost disk.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use super::decode::{AudioError, AudioStream, MaxDuration};
use super::limit_model::{GAINS, Model, Tiler, read_units};
use super::limiter::{Limiter, Reduction, TruePeak};
use super::loudness::BlockMeter;
use super::probe::AudioFacts;
use super::resample::MonoResampler;
use super::segment::{VadFrames, VadScorer};
use super::wav16::Wav16Writer;
use crate::hash::Fixity;
use crate::progress::{FileProgress, Phase, Position};

/// What to aim for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Output sample rate in Hz.
    pub rate: u32,
    /// Integrated loudness to reach, in LUFS.
    pub target_lufs: f64,
    /// True-peak ceiling, in dBTP.
    pub true_peak_dbtp: f64,
    /// Whether peaks over the ceiling are limited (so the target is reached) rather than
    /// the whole recording turned down.
    pub limiter: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rate: 16_000,
            target_lufs: -16.0,
            true_peak_dbtp: -1.5,
            limiter: true,
        }
    }
}

/// The limiter's look-ahead and release time constant, seconds.
const LOOKAHEAD_S: f64 = 0.005;
const RELEASE_S: f64 = 0.08;
/// The limiter aims this far under the ceiling, for the 16-bit rounding and for meters
/// that oversample more finely than its 8x detector (ffmpeg's resamples to 192 kHz).
const LIMITER_MARGIN_DB: f64 = 0.2;
/// At most this much limiting is applied to reach the target: beyond it, speech sounds
/// crushed, and the target is left unreached (and said so).
const MAX_LIMITING_DB: f64 = 12.0;
/// The target counts as reached within this many LU (EBU R128's tolerance for live
/// programmes is ±1 LU; the issue asks for ±0.5).
const TOLERANCE_LU: f64 = 0.5;

/// A loudness measurement. `None` fields mean "silence": no gated block had any energy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Loudness {
    /// Integrated loudness, LUFS.
    pub integrated_lufs: Option<f64>,
    /// True peak, dBTP.
    pub true_peak_dbtp: Option<f64>,
}

/// The outcome of [`render`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The source's facts, from decoding it completely (as `probe::examine` gives them).
    pub source: AudioFacts,
    /// Voice-activity frames of the output, when asked for (see `segment::VadScorer`).
    pub vad_frames: Option<VadFrames>,
    /// Frames written (at `Settings::rate`).
    pub frames: u64,
    /// Measured on the resampled signal before the gain.
    pub before: Loudness,
    /// Measured on the 16-bit output.
    pub after: Loudness,
    /// The output file's hash and size, taken as it was written.
    pub fixity: Fixity,
    /// Gain applied before the limiter, dB.
    pub gain_db: f64,
    /// What the limiter took off (`None` with the limiter off).
    pub limiting: Option<Reduction>,
    /// Whether the loudness target was reached.
    pub target_reached: bool,
    /// Why not, when it was not.
    pub note: Option<String>,
}

/// What is done with the samples of the WAV besides writing them.
pub struct Taps<'a> {
    /// Score them for voice activity (saving `segment` a pass over the file).
    pub vad: bool,
    /// Hand them to this listener as they are written.
    pub listener: Option<&'a mut dyn Listener>,
}

/// Receives the samples of a WAV as [`render`] writes them.
pub trait Listener {
    /// A writing of `frames` frames at `rate` begins. When the output misses the target the
    /// WAV is written again with a corrected gain: what came before a new start is void.
    fn start(&mut self, rate: u32, frames: u64);
    /// The next samples written.
    fn samples(&mut self, pcm: &[i16]);
}

/// One-pole DC blocker (high-pass near 10 Hz), started on the first sample so it adds no
/// step at the start.
struct DcBlocker {
    r: f32,
    x1: Option<f32>,
    y1: f32,
}

impl DcBlocker {
    fn new(rate: u32) -> DcBlocker {
        DcBlocker {
            r: 1.0 - std::f32::consts::TAU * 10.0 / rate as f32,
            x1: None,
            y1: 0.0,
        }
    }

    fn process(&mut self, buf: &mut [f32]) {
        for x in buf {
            let prev = self.x1.unwrap_or(*x);
            let y = *x - prev + self.r * self.y1;
            self.x1 = Some(*x);
            self.y1 = y;
            *x = y;
        }
    }
}

/// Chunks (of about 16k samples, 1 s at 16 kHz) queued for the VAD while it scores: more
/// than the two minutes it scores at once on two cores (see `segment`).
const VAD_QUEUE: usize = 256;

/// Samples handed to the analysis thread at a time.
const ANALYSIS_BATCH: usize = 32_768;

fn measure(meter: &BlockMeter, peak: f32) -> Loudness {
    Loudness {
        integrated_lufs: meter.integrated(),
        true_peak_dbtp: (peak > 0.0).then(|| 20.0 * f64::from(peak).log10()),
    }
}

fn io_err(e: std::io::Error) -> AudioError {
    AudioError::Io(e)
}

/// Normalizes `input` into the new 16-bit mono WAV `out_wav`, using `scratch` (a new file
/// path in the same staging folder, removed afterwards) between the passes, handing the
/// samples written to `taps` on their way out.
/// An input longer than `max` is refused: before anything is written when its header says
/// so, else as soon as decoding passes the limit (the scratch file then holds at most
/// `max` of audio, and is removed). Reports both passes to `progress` ([`Phase::Decode`],
/// then [`Phase::Normalize`]), and stops with an error once a signal is caught (see
/// [`crate::interrupt`]).
pub fn render(
    input: &Path,
    settings: &Settings,
    max: MaxDuration,
    (out_wav, scratch): (&Path, &Path),
    taps: Taps<'_>,
    progress: FileProgress<'_>,
) -> Result<Rendered, AudioError> {
    let paths = (out_wav, scratch);
    let result = render_inner(input, settings, max, paths, taps, progress, SEARCH_LU);
    // The scratch files go, whatever happened (a decode error leaves them half-written).
    let _ = std::fs::remove_file(scratch);
    let _ = std::fs::remove_file(peaks_path(scratch));
    let _ = std::fs::remove_file(tiles_path(scratch));
    result
}

/// What the analysis thread of the first pass finds: the loudness blocks and the largest
/// true peak.
struct Analysis {
    meter: BlockMeter,
    peak: f32,
}

/// Where the first pass writes what the analysis finds beside the samples, for the
/// limiter: each sample's true peak, and the tiles the gain search models (see
/// `limit_model`).
struct AnalysisOut {
    peaks: BufWriter<File>,
    tiles: Tiler<BufWriter<File>>,
}

/// The analysis thread of the first pass: meters the chunks it is sent and finds their
/// true peaks, writing those and the tiles to `out` when given (the limiter reads them).
fn analyse(
    rate: u32,
    chunks: std::sync::mpsc::Receiver<Vec<f32>>,
    mut out: Option<AnalysisOut>,
) -> Result<Analysis, AudioError> {
    let mut meter = BlockMeter::new(rate);
    let mut detector = TruePeak::new();
    let mut peaks: Vec<f32> = Vec::new();
    let mut energies: Vec<f32> = Vec::new();
    // The detector's first outputs are for the silence before the start.
    let mut lead = TruePeak::DELAY;
    let mut top = 0f32;
    let mut bytes = Vec::new();
    let mut take = |peaks: &mut Vec<f32>,
                    energies: &[f32],
                    out: &mut Option<AnalysisOut>|
     -> Result<(), AudioError> {
        let skip = lead.min(peaks.len());
        lead -= skip;
        let fresh = &peaks[skip..];
        top = fresh.iter().fold(top, |m, p| m.max(*p));
        if let Some(out) = out.as_mut() {
            bytes.clear();
            bytes.extend(fresh.iter().flat_map(|p| p.to_le_bytes()));
            out.peaks.write_all(&bytes).map_err(io_err)?;
            out.tiles.peaks(fresh).map_err(io_err)?;
            out.tiles.energies(energies).map_err(io_err)?;
        }
        peaks.clear();
        Ok(())
    };
    let tiled = out.is_some();
    for chunk in chunks {
        if tiled {
            energies.clear();
            meter.push_tiled(&chunk, &mut energies);
        } else {
            meter.push(&chunk);
        }
        detector.process(&chunk, &mut peaks);
        take(&mut peaks, &energies, &mut out)?;
    }
    detector.finish(&mut peaks);
    take(&mut peaks, &[], &mut out)?;
    if let Some(out) = out {
        let flush = |w: BufWriter<File>| w.into_inner().map_err(|e| io_err(e.into_error()));
        flush(out.peaks)?;
        flush(out.tiles.into_inner())?;
    }
    Ok(Analysis { meter, peak: top })
}

/// [`render`], leaving the scratch files; the output counts as on target within
/// `on_target_lu` of it (else it is written again with a corrected gain).
fn render_inner(
    input: &Path,
    settings: &Settings,
    max: MaxDuration,
    (out_wav, scratch): (&Path, &Path),
    mut taps: Taps<'_>,
    progress: FileProgress<'_>,
    on_target_lu: f64,
) -> Result<Rendered, AudioError> {
    let stream = AudioStream::open(input, max)?;
    let source_rate = f64::from(stream.info().sample_rate);
    let declared = stream.info().declared_s();
    let mut resampler = MonoResampler::new(stream.info().sample_rate, settings.rate)?;
    let mut dc = DcBlocker::new(settings.rate);
    let mut tmp = BufWriter::with_capacity(
        1 << 20,
        crate::fsutil::create_new(scratch).map_err(AudioError::from)?,
    );
    let peaks_path = peaks_path(scratch);
    let tiles_path = tiles_path(scratch);
    // Only the limiter needs each sample's peak and the tiles (the largest peak is
    // measured anyway).
    let analysis_out = if settings.limiter {
        let create = |p: &Path| -> Result<BufWriter<File>, AudioError> {
            let f = crate::fsutil::create_new(p).map_err(AudioError::from)?;
            Ok(BufWriter::with_capacity(1 << 20, f))
        };
        let block = BlockMeter::new(settings.rate).block_len();
        Some(AnalysisOut {
            peaks: create(&peaks_path)?,
            tiles: Tiler::new(block, create(&tiles_path)?),
        })
    } else {
        None
    };
    let mut frames = 0u64;
    let mut bytes = Vec::new();
    let source;
    // Three stages on their own threads: decode (worker), resample + DC + scratch file
    // (here), loudness blocks and true peaks (worker), so the two cores stay busy.
    let (to_analysis, chunks) = std::sync::mpsc::sync_channel::<Vec<f32>>(8);
    let rate = settings.rate;
    let analysis = std::thread::spawn(move || analyse(rate, chunks, analysis_out));
    {
        let mut pending: Vec<f32> = Vec::with_capacity(ANALYSIS_BATCH * 2);
        let mut sink = |piece: &[f32]| -> Result<(), AudioError> {
            let start = pending.len();
            pending.extend_from_slice(piece);
            let work = &mut pending[start..];
            dc.process(work);
            bytes.clear();
            bytes.extend(work.iter().flat_map(|s| s.to_le_bytes()));
            tmp.write_all(&bytes).map_err(io_err)?;
            frames += work.len() as u64;
            if pending.len() >= ANALYSIS_BATCH {
                let full = std::mem::replace(&mut pending, Vec::with_capacity(ANALYSIS_BATCH * 2));
                // A closed channel means the analysis failed; its error is reported below.
                let _ = to_analysis.send(full);
            }
            Ok(())
        };
        let (chunks, decoder) = decode_mono(stream);
        let mut ticker = progress.phase(Phase::Decode, progress.audio(declared, 0.0));
        let mut decoded = 0u64;
        for chunk in chunks {
            crate::interrupt::check()?;
            resampler.push(&chunk, &mut sink)?;
            decoded += chunk.len() as u64;
            ticker.at(progress.audio(declared, decoded as f64 / source_rate));
        }
        source = decoder.join().expect("decoder thread does not panic")?;
        ticker.finish(progress.audio(declared, decoded as f64 / source_rate));
        resampler.finish(&mut sink)?;
        let _ = to_analysis.send(pending);
    }
    drop(to_analysis);
    let found = analysis.join().expect("analysis thread does not panic")?;
    tmp.into_inner().map_err(|e| io_err(e.into_error()))?;
    let before = measure(&found.meter, found.peak);
    let scratch = Scratch {
        samples: scratch,
        peaks: &peaks_path,
        tiles: &tiles_path,
        rate: settings.rate,
    };
    let how = (frames, &mut taps, on_target_lu);
    let result = finish_render(&scratch, settings, before, how, out_wav, progress);
    let (written, gain_db, target_reached, note) = result?;
    Ok(Rendered {
        source,
        vad_frames: written.vad_frames,
        frames,
        before,
        after: written.after,
        fixity: written.fixity,
        gain_db,
        limiting: settings.limiter.then_some(written.reduction),
        target_reached,
        note,
    })
}

/// What the passes after decoding found: what was written, the gain, whether the target
/// was reached, and why not.
type Finished = (Written, f64, bool, Option<String>);

/// What writing the WAV found.
struct Written {
    /// Voice-activity frames of the samples, when asked for.
    vad_frames: Option<VadFrames>,
    /// The loudness and true peak of the file.
    after: Loudness,
    /// What the limiter took off.
    reduction: Reduction,
    /// The file's hash and size.
    fixity: Fixity,
}

/// Chooses the gain (by the limiter's model when it acts), then writes and measures the
/// WAV (`frames` long, handing its samples to `taps`); when the measured loudness
/// misses the target by more than `on_target_lu`, corrects the model's aim by the miss and
/// writes it again (at most [`MAX_REWRITES`] times).
fn finish_render(
    scratch: &Scratch<'_>,
    settings: &Settings,
    before: Loudness,
    (frames, taps, on_target_lu): (u64, &mut Taps<'_>, f64),
    out_wav: &Path,
    progress: FileProgress<'_>,
) -> Result<Finished, AudioError> {
    let (mut gain_db, mut note, search) = if settings.limiter {
        limited_gain(scratch, &before, settings)?
    } else {
        let (gain, _, note) = choose_gain(&before, settings);
        (gain, note, None)
    };
    let ceiling = settings.limiter.then(|| limiter_ceiling(settings));
    let mut rewrites = 0;
    let written = loop {
        let written = write_wav(scratch, gain_db, ceiling, frames, taps, out_wav, progress)?;
        let Some((search, measured)) = search.as_ref().zip(written.after.integrated_lufs) else {
            break written;
        };
        let miss = measured - settings.target_lufs;
        let short_at_most = miss < 0.0 && gain_db >= search.most;
        if miss.abs() <= on_target_lu || short_at_most || rewrites == MAX_REWRITES {
            break written;
        }
        let Some(predicted) = modelled(scratch, [gain_db; GAINS], settings)?[0] else {
            break written;
        };
        let aim = settings.target_lufs - (measured - predicted);
        let Some(better) = solve(scratch, settings, search, aim)? else {
            break written;
        };
        if (better - gain_db).abs() < 0.005 {
            break written;
        }
        std::fs::remove_file(out_wav).map_err(io_err)?;
        (gain_db, rewrites) = (better, rewrites + 1);
        note = search.note_at(gain_db);
    };
    let target_reached = written
        .after
        .integrated_lufs
        .is_some_and(|l| (l - settings.target_lufs).abs() <= TOLERANCE_LU);
    if target_reached {
        note = None;
    } else if note.is_none() {
        note = written.after.integrated_lufs.map(|l| {
            format!(
                "reached {l:.2} LUFS, {:.2} LU from the {:.1} LUFS target",
                l - settings.target_lufs,
                settings.target_lufs
            )
        });
    }
    Ok((written, gain_db, target_reached, note))
}

impl LimitedSearch {
    /// The note for a limited rendering at `gain_db`: said only at the most gain allowed.
    fn note_at(&self, gain_db: f64) -> Option<String> {
        (gain_db >= self.most).then(|| self.note.clone())
    }
}

/// Where the first pass keeps each sample's true peak, beside the samples' scratch file.
fn peaks_path(scratch: &Path) -> std::path::PathBuf {
    scratch.with_extension("peaks")
}

/// Where the first pass keeps the tiles of the gain search, beside the samples' scratch
/// file.
fn tiles_path(scratch: &Path) -> std::path::PathBuf {
    scratch.with_extension("tiles")
}

/// The scratch files of the first pass, at the output rate.
struct Scratch<'a> {
    samples: &'a Path,
    peaks: &'a Path,
    tiles: &'a Path,
    rate: u32,
}

/// The limiter's ceiling, linear, with its margin.
fn limiter_ceiling(s: &Settings) -> f32 {
    10f32.powf(((s.true_peak_dbtp - LIMITER_MARGIN_DB) / 20.0) as f32)
}

/// The model of the limiter (see `limit_model`) for `s`.
fn model(s: &Settings) -> Model {
    let limiter = Limiter::new(limiter_ceiling(s), s.rate, LOOKAHEAD_S, RELEASE_S);
    Model {
        block: BlockMeter::new(s.rate).block_len(),
        window: limiter.latency() + 1,
        release: limiter.release_coefficient(),
        ceiling: limiter_ceiling(s),
    }
}

/// The loudness of the limited output with each of `gains_db`, by the model.
fn modelled(
    scratch: &Scratch<'_>,
    gains_db: [f64; GAINS],
    s: &Settings,
) -> Result<[Option<f64>; GAINS], AudioError> {
    crate::interrupt::check()?;
    let tiles = File::open(scratch.tiles).map_err(io_err)?;
    let gains = gains_db.map(|g| 10f32.powf(g as f32 / 20.0));
    model(s).loudness(tiles, gains).map_err(io_err)
}

/// The written output counts as on target within this many LU; further off, the gain is
/// corrected and the output written again. (The model has come within 0.06 LU.)
const SEARCH_LU: f64 = 0.15;
/// The model's search stops within this many LU of what it aims at.
const MODEL_LU: f64 = 0.01;
/// Times the output is written again when its measured loudness misses the target.
const MAX_REWRITES: usize = 2;

/// How the gain of a limited rendering is found: where the target's gain would put the
/// peaks, the most gain allowed, and the note when that is not enough.
struct LimitedSearch {
    /// The gain that reaches the target with no limiting, dB.
    wanted: f64,
    /// The most gain allowed ([`MAX_LIMITING_DB`] above the linear limit), dB.
    most: f64,
    note: String,
}

/// The gain whose limited output reaches the target: the target's gain when the peaks
/// stay under the ceiling with it (`None` for the search then); else the gain the model
/// says reaches it, at most [`MAX_LIMITING_DB`] above the linear limit.
fn limited_gain(
    scratch: &Scratch<'_>,
    before: &Loudness,
    s: &Settings,
) -> Result<(f64, Option<String>, Option<LimitedSearch>), AudioError> {
    let (linear, _, note) = choose_gain(before, s);
    let (Some(loudness), Some(peak)) = (before.integrated_lufs, before.true_peak_dbtp) else {
        return Ok((linear, note, None)); // silence: nothing to reach
    };
    let wanted = s.target_lufs - loudness;
    if peak + wanted <= s.true_peak_dbtp - LIMITER_MARGIN_DB {
        return Ok((wanted, None, None));
    }
    let search = LimitedSearch {
        wanted,
        most: (s.true_peak_dbtp - peak) + MAX_LIMITING_DB,
        note: format!(
            "limited by {MAX_LIMITING_DB:.0} dB at most: reaching {:.1} LUFS would take more \
             (its peaks are {:.1} dB above its loudness)",
            s.target_lufs,
            peak - loudness
        ),
    };
    match solve(scratch, s, &search, s.target_lufs)? {
        Some(gain) => {
            let note = (gain >= search.most).then(|| search.note.clone());
            Ok((gain, note, Some(search)))
        }
        None => Ok((linear, note, None)),
    }
}

/// The gain at which the model's loudness is `aim`: the most allowed when even that falls
/// short, `None` when the model finds silence. Two rounds of [`GAINS`] evaluations on each
/// core: the first from the gain without limiting to the most allowed, the second inside
/// the step that crosses the aim; then the secant across the step that still does (the
/// loudness grows smoothly with the gain).
/// The gain where the line through two (gain, loudness over the aim) points crosses zero.
fn secant((g0, over0): (f64, f64), (g1, over1): (f64, f64)) -> f64 {
    g0 - over0 * (g1 - g0) / (over1 - over0)
}

fn solve(
    scratch: &Scratch<'_>,
    s: &Settings,
    search: &LimitedSearch,
    aim: f64,
) -> Result<Option<f64>, AudioError> {
    // Points from `lo` to `hi` inclusive, or between them when `inside`.
    let round = |lo: f64, hi: f64, inside: bool| -> Result<Option<Vec<(f64, f64)>>, AudioError> {
        let points = 2 * GAINS;
        let at = |i: usize| match inside {
            false => lo + (hi - lo) * i as f64 / (points - 1) as f64,
            true => lo + (hi - lo) * (i + 1) as f64 / (points + 1) as f64,
        };
        let first: [f64; GAINS] = std::array::from_fn(at);
        let second: [f64; GAINS] = std::array::from_fn(|i| at(GAINS + i));
        let (a, b) = std::thread::scope(|scope| {
            let other = scope.spawn(|| modelled(scratch, second, s));
            let a = modelled(scratch, first, s);
            (a, other.join().expect("model thread does not panic"))
        });
        let found = first.into_iter().zip(a?).chain(second.into_iter().zip(b?));
        Ok(found
            .map(|(g, l)| l.map(|l| (g, l - aim)))
            .collect::<Option<Vec<_>>>())
    };
    // Brackets are (gain, how far over the aim the model's loudness is).
    let first = search.wanted.min(search.most);
    let (mut lo, mut hi) = ((first, -1.0), (search.most, 1.0));
    for inside in [false, true] {
        let Some(mut points) = round(lo.0, hi.0, inside)? else {
            return Ok(None);
        };
        if inside {
            points.insert(0, lo);
            points.push(hi);
        }
        // By rising gain.
        let last = points[points.len() - 1];
        if last.1 <= 0.0 {
            return Ok(Some(last.0));
        }
        if points[0].1 >= 0.0 {
            return Ok(Some(points[0].0));
        }
        let cross = points
            .windows(2)
            .find(|w| w[0].1 < 0.0 && w[1].1 >= 0.0)
            .map_or((points[0], last), |w| (w[0], w[1]));
        (lo, hi) = cross;
        if hi.1 - lo.1 <= MODEL_LU || hi.0 - lo.0 <= 0.01 {
            break;
        }
    }
    // After two rounds the bracket is 1/63 of the first: the secant across it is the gain.
    Ok(Some(secant(lo, hi)))
}

/// Writes the WAV from the scratch files with `gain_db` and the limiter (at `ceiling`),
/// handing the samples to `taps` and measuring and hashing what is written. Three stages on
/// their own threads, so both cores stay busy: the limiter and the file (here), the VAD
/// (which scores its blocks on both cores), and the meter with the true-peak detector.
fn write_wav(
    scratch: &Scratch<'_>,
    gain_db: f64,
    ceiling: Option<f32>,
    frames: u64,
    taps: &mut Taps<'_>,
    out_wav: &Path,
    progress: FileProgress<'_>,
) -> Result<Written, AudioError> {
    let rate = scratch.rate;
    let vad = taps.vad;
    let mut wav = Wav16Writer::create(out_wav, rate, frames)?;
    if let Some(l) = taps.listener.as_mut() {
        l.start(rate, frames);
    }
    let mut bytes = Vec::new();
    let at = |written: u64| Position::Audio {
        done_s: written as f64 / f64::from(rate),
        total_s: Some(frames as f64 / f64::from(rate)),
    };
    let mut ticker = progress.phase(Phase::Normalize, at(0));
    std::thread::scope(|scope| {
        let (to_meter, for_meter) = std::sync::mpsc::sync_channel::<Vec<f32>>(8);
        let metering = scope.spawn(move || {
            let mut after = BlockMeter::new(rate);
            let mut detector = TruePeak::new();
            let (mut peaks, mut top) = (Vec::new(), 0f32);
            // The detector's first outputs are for the silence before the start.
            let mut lead = TruePeak::DELAY;
            let mut take = |peaks: &mut Vec<f32>| {
                let skip = lead.min(peaks.len());
                lead -= skip;
                top = peaks[skip..].iter().fold(top, |m, p| m.max(*p));
                peaks.clear();
            };
            for chunk in for_meter {
                after.push(&chunk);
                detector.process(&chunk, &mut peaks);
                take(&mut peaks);
            }
            detector.finish(&mut peaks);
            take(&mut peaks);
            measure(&after, top)
        });
        // The VAD scores a batch of blocks at a time: the queue holds more than a batch,
        // so the limiter runs on while it scores.
        let (to_vad, for_vad) = std::sync::mpsc::sync_channel::<Vec<i16>>(VAD_QUEUE);
        let scoring = vad.then(|| {
            scope.spawn(move || -> Result<VadFrames, AudioError> {
                let mut scorer = VadScorer::new(rate)?;
                for pcm in for_vad {
                    scorer.push(&pcm)?;
                }
                scorer.finish()
            })
        });
        let mut written = 0u64;
        let reduction = run_pass(scratch, gain_db, ceiling, |chunk| {
            crate::interrupt::check()?;
            written += chunk.len() as u64;
            ticker.at(at(written));
            let pcm: Vec<i16> = chunk.iter().map(|&x| to_i16(x)).collect();
            wav.samples(&pcm, &mut bytes)?;
            if let Some(l) = taps.listener.as_mut() {
                l.samples(&pcm);
            }
            // A closed channel means that stage failed: its error is reported below.
            if vad {
                let _ = to_vad.send(pcm);
            }
            let _ = to_meter.send(chunk.to_vec());
            Ok(())
        });
        drop((to_vad, to_meter));
        let after = metering.join().expect("meter thread does not panic");
        let vad_frames = scoring
            .map(|t| t.join().expect("VAD thread does not panic"))
            .transpose();
        let (reduction, vad_frames) = (reduction?, vad_frames?);
        let fixity = wav.finish()?;
        ticker.finish(at(written));
        // Measured on what was written, the true peak by the 8x detector.
        Ok(Written {
            vad_frames,
            after,
            reduction,
            fixity,
        })
    })
}

/// Reads the scratch files once, applying `gain_db` and, with a `ceiling`, the limiter;
/// hands `each` the output in chunks, rounded to 16-bit steps as the WAV will hold it.
fn run_pass(
    scratch: &Scratch<'_>,
    gain_db: f64,
    ceiling: Option<f32>,
    mut each: impl FnMut(&[f32]) -> Result<(), AudioError>,
) -> Result<Reduction, AudioError> {
    let gain = 10f32.powf(gain_db as f32 / 20.0);
    let open = |p: &Path| File::open(p).map(|f| BufReader::with_capacity(1 << 20, f));
    let mut samples = open(scratch.samples).map_err(io_err)?;
    let mut peaks = match ceiling {
        Some(_) => Some(open(scratch.peaks).map_err(io_err)?),
        None => None,
    };
    let mut limiter = ceiling.map(|c| Limiter::new(c, scratch.rate, LOOKAHEAD_S, RELEASE_S));
    let (mut xb, mut pb) = (vec![0u8; 4 * 16_384], vec![0u8; 4 * 16_384]);
    let (mut xs, mut ps) = (Vec::with_capacity(16_384), Vec::with_capacity(16_384));
    let mut out: Vec<f32> = Vec::with_capacity(16_384);
    let quantize = |y: &mut f32| *y = f32::from(to_i16(*y)) / 32767.0;
    loop {
        let n = read_units(&mut samples, &mut xb, 4).map_err(io_err)?;
        if n == 0 {
            break;
        }
        out.clear();
        xs.clear();
        xs.extend(xb[..n].chunks_exact(4).map(f32_le));
        match (limiter.as_mut(), peaks.as_mut()) {
            (Some(l), Some(peaks)) => {
                let m = read_units(peaks, &mut pb[..n], 4).map_err(io_err)?;
                if m != n {
                    return Err(AudioError::Corrupt("the peak scratch file is short".into()));
                }
                ps.clear();
                ps.extend(pb[..n].chunks_exact(4).map(f32_le));
                l.process(&xs, &ps, gain, &mut out);
            }
            _ => out.extend(xs.iter().map(|x| x * gain)),
        }
        out.iter_mut().for_each(quantize);
        each(&out)?;
    }
    if let Some(l) = limiter.as_mut() {
        out.clear();
        l.flush(&mut out);
        out.iter_mut().for_each(quantize);
        each(&out)?;
    }
    Ok(limiter.map(|l| l.reduction()).unwrap_or_default())
}

/// A sample as 16-bit PCM: clamped, scaled and rounded to the nearest step (ties to
/// even, by the float adder: `f32::round` is a library call the compiler cannot
/// vectorize).
fn to_i16(y: f32) -> i16 {
    // Adding 1.5 · 2^23 leaves no fraction bits below the units: the sum is rounded.
    const ROUND: f32 = 12_582_912.0;
    let v = y.clamp(-1.0, 1.0) * 32767.0;
    ((v + ROUND) - ROUND) as i16
}

fn f32_le(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The chunks a decoder thread hands over, and the thread (which returns the source's
/// facts, or the decode error that stopped it).
type Decoding = (
    std::sync::mpsc::IntoIter<Vec<f32>>,
    std::thread::JoinHandle<Result<AudioFacts, AudioError>>,
);

/// Decodes and downmixes `stream` to mono on a worker thread, handing over chunks of about
/// 16k frames through a short queue (so memory stays bounded).
fn decode_mono(mut stream: AudioStream) -> Decoding {
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let handle = std::thread::spawn(move || {
        let channels = usize::from(stream.info().channels);
        let scale = 1.0 / channels as f32;
        let mut mono = Vec::with_capacity(20_000);
        let mut samples = 0u64;
        while let Some(chunk) = stream.next_chunk()? {
            samples += chunk.len() as u64;
            if channels == 1 {
                mono.extend_from_slice(chunk);
            } else {
                mono.extend(
                    chunk
                        .chunks_exact(channels)
                        .map(|f| f.iter().sum::<f32>() * scale),
                );
            }
            if mono.len() >= 16_384
                && tx
                    .send(std::mem::replace(&mut mono, Vec::with_capacity(20_000)))
                    .is_err()
            {
                break;
            }
        }
        if !mono.is_empty() {
            let _ = tx.send(mono);
        }
        super::probe::facts(&stream, samples)
    });
    (rx.into_iter(), handle)
}

/// The gain that reaches the target, lowered to respect the true-peak ceiling.
fn choose_gain(before: &Loudness, s: &Settings) -> (f64, bool, Option<String>) {
    let Some(loudness) = before.integrated_lufs else {
        return (
            0.0,
            false,
            Some("silent: integrated loudness is -inf, so no gain was applied".into()),
        );
    };
    let wanted = s.target_lufs - loudness;
    match before.true_peak_dbtp {
        Some(tp) if tp + wanted > s.true_peak_dbtp => {
            let gain = s.true_peak_dbtp - tp;
            (
                gain,
                false,
                Some(format!(
                    "peak-limited: {wanted:+.2} dB would put the true peak at {:.2} dBTP, above \
                     the {:.1} dBTP ceiling; applied {gain:+.2} dB, reaching {:.2} LUFS",
                    tp + wanted,
                    s.true_peak_dbtp,
                    loudness + gain
                )),
            )
        }
        _ => (wanted, true, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_hits_target_or_respects_ceiling() {
        let s = Settings::default();
        let quiet = Loudness {
            integrated_lufs: Some(-30.0),
            true_peak_dbtp: Some(-20.0),
        };
        assert_eq!(choose_gain(&quiet, &s), (14.0, true, None));
        let peaky = Loudness {
            integrated_lufs: Some(-30.0),
            true_peak_dbtp: Some(-6.0),
        };
        let (g, reached, note) = choose_gain(&peaky, &s);
        assert!((g - 4.5).abs() < 1e-9 && !reached && note.unwrap().contains("peak-limited"));
        let (g, reached, note) = choose_gain(&Loudness::default(), &s);
        assert_eq!((g, reached), (0.0, false));
        assert!(note.unwrap().contains("silent"));
    }

    #[test]
    fn vad_frames_on_the_way_out_equal_frames_of_the_written_file() {
        let dir = tempfile::tempdir().unwrap();
        let input =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/phone/voice-memo.m4a");
        let out = dir.path().join("n.wav");
        let settings = Settings {
            rate: 22_050,
            ..Settings::default()
        };
        let scratch = dir.path().join("s.f32");
        let r = render(
            &input,
            &settings,
            MaxDuration::DEFAULT,
            (&out, &scratch),
            Taps {
                vad: true,
                listener: None,
            },
            FileProgress::none(),
        )
        .unwrap();
        assert_eq!(r.fixity, crate::hash::hash_file(&out).unwrap());
        assert_eq!(r.source.frames, 640_175);
        assert_eq!(r.frames, 294_080); // round(640175 · 22050 / 48000)
        let (from_file, _) =
            crate::audio::segment::score_wav(&out, MaxDuration::DEFAULT, FileProgress::none())
                .unwrap();
        assert_eq!(r.vad_frames.unwrap(), from_file);
        assert!(!dir.path().join("s.f32").exists(), "scratch removed");
    }

    #[test]
    fn a_miss_is_corrected_by_writing_again_with_the_measured_offset() {
        let dir = tempfile::tempdir().unwrap();
        let input =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/phone/dictation.wav");
        let settings = Settings::default();
        // Keeps what it is handed: the samples of the last writing.
        #[derive(Default)]
        struct Keep(Vec<i16>, usize);
        impl Listener for Keep {
            fn start(&mut self, _: u32, frames: u64) {
                self.0 = Vec::with_capacity(frames as usize);
                self.1 += 1;
            }
            fn samples(&mut self, pcm: &[i16]) {
                self.0.extend_from_slice(pcm);
            }
        }
        let run = |name: &str, on_target: f64| {
            let mut keep = Keep::default();
            let out = dir.path().join(format!("{name}.wav"));
            let scratch = dir.path().join(format!("{name}.f32"));
            let max = MaxDuration::DEFAULT;
            let none = FileProgress::none();
            let r = render_inner(
                &input,
                &settings,
                max,
                (&out, &scratch),
                Taps {
                    vad: false,
                    listener: Some(&mut keep),
                },
                none,
                on_target,
            );
            let r = r.unwrap();
            let miss = (r.after.integrated_lufs.unwrap() - settings.target_lufs).abs();
            (r, miss, out, keep)
        };
        let (once, first_miss, _, kept) = run("once", SEARCH_LU);
        assert_eq!(kept.1, 1, "written once");
        assert!(
            once.limiting.unwrap().max_db > 1.0,
            "the limiter acts: {once:?}"
        );
        // Asked to be on target to the thousandth, it writes again from the measured miss.
        let (again, miss, out, kept) = run("again", 0.001);
        assert!(kept.1 > 1, "written again");
        assert!(
            miss < first_miss / 2.0 && miss < 0.02,
            "{first_miss} then {miss}"
        );
        assert_ne!(again.gain_db, once.gain_db);
        // The file is the last one written, measured as such.
        let (frames, _) =
            crate::audio::segment::score_wav(&out, MaxDuration::DEFAULT, FileProgress::none())
                .unwrap();
        assert_eq!(frames.scores.len() as u64, again.frames / 256);
        let mut m = BlockMeter::new(16_000);
        let mut reader = hound::WavReader::open(&out).unwrap();
        let pcm: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        // The listener and the hash saw the last writing, which is the file.
        assert_eq!(kept.0, pcm);
        assert_eq!(again.fixity, crate::hash::hash_file(&out).unwrap());
        let x: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32767.0).collect();
        m.push(&x);
        let measured = m.integrated().unwrap();
        assert!((measured - again.after.integrated_lufs.unwrap()).abs() < 1e-6);
    }

    #[test]
    fn dc_blocker_removes_offset_without_a_start_step() {
        let mut dc = DcBlocker::new(16_000);
        let mut buf = vec![0.5f32; 32_000];
        dc.process(&mut buf);
        assert_eq!(buf[0], 0.0);
        assert!(buf[31_999].abs() < 1e-3, "{}", buf[31_999]);
    }
}

//! Normalization: decode → downmix to mono → resample → remove DC → measure loudness
//! (ITU-R BS.1770-4 / EBU R128, see `loudness`; true peak 8x oversampled) → gain → look-ahead
//! true-peak limiter (unless turned off) → 16-bit WAV, measured again as written.
//!
//! In bounded memory: the first pass streams the decoded, resampled signal through the
//! meter into a scratch file of `f32` samples (64 KB per second at 16 kHz), with each
//! sample's true peak (8x oversampled) in a second one. When the gain that reaches the
//! target would put the peaks over the ceiling, trial passes through the limiter (meter
//! only, no file; two gains at once, one per core) find the gain whose limited output
//! reaches the target; the last pass writes the WAV and measures it. Decoding twice would cost more CPU than the
//! scratch files cost disk.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::decode::{AudioError, AudioStream, MaxDuration};
use super::limiter::{Limiter, Reduction, TruePeak};
use super::loudness::BlockMeter;
use super::probe::AudioFacts;
use super::resample::MonoResampler;
use super::segment::{VadFrames, VadScorer};
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
    /// Gain applied before the limiter, dB.
    pub gain_db: f64,
    /// What the limiter took off (`None` with the limiter off).
    pub limiting: Option<Reduction>,
    /// Whether the loudness target was reached.
    pub target_reached: bool,
    /// Why not, when it was not.
    pub note: Option<String>,
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
/// path in the same staging folder, removed afterwards) between the passes. With `vad`,
/// also scores the output for voice activity on the way out (saving `segment` a pass).
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
    vad: bool,
    progress: FileProgress<'_>,
) -> Result<Rendered, AudioError> {
    let result = render_inner(input, settings, max, (out_wav, scratch), vad, progress);
    // Both scratch files go, whatever happened (a decode error leaves them half-written).
    let _ = std::fs::remove_file(scratch);
    let _ = std::fs::remove_file(peaks_path(scratch));
    result
}

/// What the analysis thread of the first pass finds: the loudness blocks and the largest
/// true peak.
struct Analysis {
    meter: BlockMeter,
    peak: f32,
}

/// The analysis thread of the first pass: meters the chunks it is sent and finds their
/// true peaks, writing those to `peaks_out` when given (the limiter reads them).
fn analyse(
    rate: u32,
    chunks: std::sync::mpsc::Receiver<Vec<f32>>,
    mut peaks_out: Option<BufWriter<File>>,
) -> Result<Analysis, AudioError> {
    let mut meter = BlockMeter::new(rate);
    let mut detector = TruePeak::new();
    let mut peaks: Vec<f32> = Vec::new();
    // The detector's first outputs are for the silence before the start.
    let mut lead = TruePeak::DELAY;
    let mut top = 0f32;
    let mut bytes = Vec::new();
    let mut take = |peaks: &mut Vec<f32>| -> Result<(), AudioError> {
        let skip = lead.min(peaks.len());
        lead -= skip;
        let fresh = &peaks[skip..];
        top = fresh.iter().fold(top, |m, p| m.max(*p));
        if let Some(out) = peaks_out.as_mut() {
            bytes.clear();
            bytes.extend(fresh.iter().flat_map(|p| p.to_le_bytes()));
            out.write_all(&bytes).map_err(io_err)?;
        }
        peaks.clear();
        Ok(())
    };
    for chunk in chunks {
        meter.push(&chunk);
        detector.process(&chunk, &mut peaks);
        take(&mut peaks)?;
    }
    detector.finish(&mut peaks);
    take(&mut peaks)?;
    if let Some(out) = peaks_out {
        out.into_inner().map_err(|e| io_err(e.into_error()))?;
    }
    Ok(Analysis { meter, peak: top })
}

fn render_inner(
    input: &Path,
    settings: &Settings,
    max: MaxDuration,
    (out_wav, scratch): (&Path, &Path),
    vad: bool,
    progress: FileProgress<'_>,
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
    // Only the limiter needs each sample's peak (the largest is measured anyway).
    let peaks_out = if settings.limiter {
        let f = crate::fsutil::create_new(&peaks_path).map_err(AudioError::from)?;
        Some(BufWriter::with_capacity(1 << 20, f))
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
    let analysis = std::thread::spawn(move || analyse(rate, chunks, peaks_out));
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
        rate: settings.rate,
    };
    let result = finish_render(&scratch, settings, before, frames, vad, out_wav, progress);
    let (vad_frames, after, gain_db, limiting, target_reached, note) = result?;
    Ok(Rendered {
        source,
        vad_frames,
        frames,
        before,
        after,
        gain_db,
        limiting,
        target_reached,
        note,
    })
}

/// What the passes after decoding found: VAD frames, the loudness of the written file, the
/// gain, the limiting, whether the target was reached, and why not.
type Finished = (
    Option<VadFrames>,
    Loudness,
    f64,
    Option<Reduction>,
    bool,
    Option<String>,
);

/// Chooses the gain (with trial passes through the limiter when it acts), then writes and
/// measures the WAV.
fn finish_render(
    scratch: &Scratch<'_>,
    settings: &Settings,
    before: Loudness,
    frames: u64,
    vad: bool,
    out_wav: &Path,
    progress: FileProgress<'_>,
) -> Result<Finished, AudioError> {
    let (gain_db, mut note) = if settings.limiter {
        limited_gain(scratch, &before, settings)?
    } else {
        let (gain, _, note) = choose_gain(&before, settings);
        (gain, note)
    };
    let ceiling = settings.limiter.then(|| limiter_ceiling(settings));
    let (vad_frames, after, reduction) =
        write_wav(scratch, gain_db, ceiling, frames, vad, out_wav, progress)?;
    let target_reached = after
        .integrated_lufs
        .is_some_and(|l| (l - settings.target_lufs).abs() <= TOLERANCE_LU);
    if target_reached {
        note = None;
    } else if note.is_none() {
        note = after.integrated_lufs.map(|l| {
            format!(
                "reached {l:.2} LUFS, {:.2} LU from the {:.1} LUFS target",
                l - settings.target_lufs,
                settings.target_lufs
            )
        });
    }
    let limiting = settings.limiter.then_some(reduction);
    Ok((vad_frames, after, gain_db, limiting, target_reached, note))
}

/// Where the first pass keeps each sample's true peak, beside the samples' scratch file.
fn peaks_path(scratch: &Path) -> std::path::PathBuf {
    scratch.with_extension("peaks")
}

/// The two scratch files of the first pass, at the output rate.
struct Scratch<'a> {
    samples: &'a Path,
    peaks: &'a Path,
    rate: u32,
}

/// The limiter's ceiling, linear, with its margin.
fn limiter_ceiling(s: &Settings) -> f32 {
    10f32.powf(((s.true_peak_dbtp - LIMITER_MARGIN_DB) / 20.0) as f32)
}

/// The loudness of the limited output with `gain_db`, by a pass over the scratch files
/// (meter only, no file).
fn trial(scratch: &Scratch<'_>, gain_db: f64, s: &Settings) -> Result<Option<f64>, AudioError> {
    let mut m = BlockMeter::new(s.rate);
    run_pass(scratch, gain_db, Some(limiter_ceiling(s)), |chunk| {
        crate::interrupt::check()?;
        m.push(chunk);
        Ok(())
    })?;
    Ok(m.integrated())
}

/// The limited loudness is searched within this many LU of the target by trial passes;
/// the gain of a bracket narrower than that is interpolated.
const SEARCH_LU: f64 = 0.15;
/// The first round tries the target's gain and this many dB more.
const FIRST_SPREAD_DB: f64 = 2.0;
/// Later rounds try the predicted gain and this many dB more.
const SPREAD_DB: f64 = 0.3;

/// The gain whose limited output reaches the target: the target's gain when the peaks
/// stay under the ceiling with it; else found by rounds of two trial passes at once (one
/// per core), each round's gains predicted from the secant of the two trials nearest the
/// target, at most [`MAX_LIMITING_DB`] above the linear limit.
fn limited_gain(
    scratch: &Scratch<'_>,
    before: &Loudness,
    s: &Settings,
) -> Result<(f64, Option<String>), AudioError> {
    let (linear, _, note) = choose_gain(before, s);
    let (Some(loudness), Some(peak)) = (before.integrated_lufs, before.true_peak_dbtp) else {
        return Ok((linear, note)); // silence: nothing to reach
    };
    let wanted = s.target_lufs - loudness;
    if peak + wanted <= s.true_peak_dbtp - LIMITER_MARGIN_DB {
        return Ok((wanted, None));
    }
    let most = (s.true_peak_dbtp - peak) + MAX_LIMITING_DB;
    // (gain, how far short of the target its limited output is)
    let mut tried: Vec<(f64, f64)> = Vec::new();
    let mut next = [wanted.min(most), (wanted + FIRST_SPREAD_DB).min(most)];
    let gain = loop {
        let reached = std::thread::scope(|scope| {
            let other = scope.spawn(|| trial(scratch, next[1], s));
            let first = trial(scratch, next[0], s);
            (first, other.join().expect("trial thread does not panic"))
        });
        for (g, r) in next.into_iter().zip([reached.0?, reached.1?]) {
            match r {
                Some(r) => tried.push((g, s.target_lufs - r)),
                None => return Ok((linear, note)),
            }
        }
        tried.sort_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
        let (g0, short0) = tried[0];
        if short0.abs() <= SEARCH_LU || (g0 >= most && short0 > 0.0) || tried.len() >= 8 {
            break g0;
        }
        // The nearest trial on the other side of the target, if any, brackets it.
        let other_side = tried.iter().find(|t| t.1.signum() != short0.signum());
        if let Some(&(g1, short1)) = other_side.filter(|t| (t.0 - g0).abs() <= 2.0 * SPREAD_DB) {
            break g0 + short0 * (g1 - g0) / (short0 - short1);
        }
        let (g1, short1) = tried[1];
        // The limited loudness grows more slowly than the gain, never faster.
        let slope = if (g1 - g0).abs() > 1e-6 {
            ((short1 - short0) / (g0 - g1)).clamp(0.1, 1.0)
        } else {
            1.0
        };
        let g = (g0 + short0 / slope).min(most);
        next = [g, (g + SPREAD_DB * short0.signum()).min(most)];
    };
    let note = (gain >= most).then(|| {
        format!(
            "limited by {MAX_LIMITING_DB:.0} dB at most: reaching {:.1} LUFS would take more \
             (its peaks are {:.1} dB above its loudness)",
            s.target_lufs,
            peak - loudness
        )
    });
    Ok((gain, note))
}

/// Writes the WAV from the scratch files with `gain_db` and the limiter (at `ceiling`),
/// scoring voice activity and measuring what is written: returns the VAD frames, the
/// loudness and true peak of the file, and what the limiter took off.
fn write_wav(
    scratch: &Scratch<'_>,
    gain_db: f64,
    ceiling: Option<f32>,
    frames: u64,
    vad: bool,
    out_wav: &Path,
    progress: FileProgress<'_>,
) -> Result<(Option<VadFrames>, Loudness, Reduction), AudioError> {
    let rate = scratch.rate;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let out = crate::fsutil::create_new(out_wav).map_err(AudioError::from)?;
    let mut wav = hound::WavWriter::new(BufWriter::with_capacity(1 << 20, out), spec)
        .map_err(AudioError::from)?;
    let mut scorer = if vad {
        Some(VadScorer::new(rate)?)
    } else {
        None
    };
    let mut after = BlockMeter::new(rate);
    let mut detector = TruePeak::new();
    let mut peaks = Vec::new();
    let at = |written: u64| Position::Audio {
        done_s: written as f64 / f64::from(rate),
        total_s: Some(frames as f64 / f64::from(rate)),
    };
    let mut ticker = progress.phase(Phase::Normalize, at(0));
    let mut written = 0u64;
    let mut pcm: Vec<i16> = Vec::with_capacity(16_384);
    let mut peak = 0f32;
    let reduction = run_pass(scratch, gain_db, ceiling, |chunk| {
        crate::interrupt::check()?;
        written += chunk.len() as u64;
        ticker.at(at(written));
        pcm.clear();
        pcm.extend(chunk.iter().map(|&x| to_i16(x)));
        let mut w = wav.get_i16_writer(pcm.len() as u32);
        for s in &pcm {
            w.write_sample(*s);
        }
        w.flush().map_err(AudioError::from)?;
        if let Some(sc) = scorer.as_mut() {
            sc.push(&pcm)?;
        }
        after.push(chunk);
        peaks.clear();
        detector.process(chunk, &mut peaks);
        peak = peaks.iter().fold(peak, |m, p| m.max(*p));
        Ok(())
    })?;
    detector.finish(&mut peaks);
    peak = peaks.iter().fold(peak, |m, p| m.max(*p));
    let vad_frames = scorer.map(VadScorer::finish).transpose()?;
    wav.finalize().map_err(AudioError::from)?;
    File::open(out_wav)
        .and_then(|f| f.sync_all())
        .map_err(io_err)?;
    ticker.finish(at(written));
    // Measured on what was written, the true peak by the 8x detector.
    Ok((vad_frames, measure(&after, peak), reduction))
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
        let n = read_full(&mut samples, &mut xb).map_err(io_err)?;
        if n == 0 {
            break;
        }
        out.clear();
        xs.clear();
        xs.extend(xb[..n].chunks_exact(4).map(f32_le));
        match (limiter.as_mut(), peaks.as_mut()) {
            (Some(l), Some(peaks)) => {
                let m = read_full(peaks, &mut pb[..n]).map_err(io_err)?;
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

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n - n % 4)
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
            true,
            FileProgress::none(),
        )
        .unwrap();
        assert_eq!(r.source.frames, 640_175);
        assert_eq!(r.frames, 294_080); // round(640175 · 22050 / 48000)
        let (from_file, _) =
            crate::audio::segment::score_wav(&out, MaxDuration::DEFAULT, FileProgress::none())
                .unwrap();
        assert_eq!(r.vad_frames.unwrap(), from_file);
        assert!(!dir.path().join("s.f32").exists(), "scratch removed");
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

//! Normalization: decode → downmix to mono → resample → remove DC → measure loudness
//! (ITU-R BS.1770-4 / EBU R128, with true peak, by the `ebur128` crate) → one linear gain →
//! 16-bit WAV.
//!
//! Two passes in bounded memory: the first streams the decoded, resampled signal through
//! the meter into a scratch file of `f32` samples (64 KB per second at 16 kHz); the second
//! applies the gain from that file. Decoding twice would cost more CPU than the scratch file
//! costs disk.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use ebur128::{EbuR128, Mode};

use super::decode::{AudioError, AudioStream, MaxDuration};
use super::probe::AudioFacts;
use super::resample::MonoResampler;
use super::segment::VadScorer;
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rate: 16_000,
            target_lufs: -16.0,
            true_peak_dbtp: -1.5,
        }
    }
}

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
    /// Voice-activity scores of the output, when asked for (see `segment::VadScorer`).
    pub vad_scores: Option<Vec<f32>>,
    /// Frames written (at `Settings::rate`).
    pub frames: u64,
    /// Measured on the resampled signal before the gain.
    pub before: Loudness,
    /// Measured on the 16-bit output.
    pub after: Loudness,
    /// Gain applied, dB.
    pub gain_db: f64,
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

/// Samples handed to the meter thread at a time.
const METER_BATCH: usize = 32_768;

fn meter(rate: u32) -> Result<EbuR128, AudioError> {
    EbuR128::new(1, rate, Mode::I | Mode::TRUE_PEAK)
        .map_err(|e| AudioError::Corrupt(format!("loudness meter at {rate} Hz: {e}")))
}

fn measure(m: &EbuR128) -> Loudness {
    let i = m.loudness_global().ok().filter(|v| v.is_finite());
    let tp = m
        .true_peak(0)
        .ok()
        .filter(|p| *p > 0.0)
        .map(|p| 20.0 * p.log10());
    Loudness {
        integrated_lufs: i,
        true_peak_dbtp: tp,
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
    let _ = std::fs::remove_file(scratch);
    result
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
    let mut before = meter(settings.rate)?;
    let mut tmp = BufWriter::with_capacity(
        1 << 20,
        crate::fsutil::create_new(scratch).map_err(AudioError::from)?,
    );
    let mut frames = 0u64;
    let mut bytes = Vec::new();
    let source;
    // Three stages on their own threads: decode (worker), resample + DC + scratch file
    // (here), loudness meter (worker), so the two cores stay busy.
    let (to_meter, meter_rx) = std::sync::mpsc::sync_channel::<Vec<f32>>(8);
    let metering = std::thread::spawn(move || {
        for chunk in meter_rx {
            before
                .add_frames_f32(&chunk)
                .map_err(|e| AudioError::Corrupt(format!("loudness meter: {e}")))?;
        }
        Ok::<_, AudioError>(before)
    });
    {
        let mut pending: Vec<f32> = Vec::with_capacity(METER_BATCH * 2);
        let mut sink = |piece: &[f32]| -> Result<(), AudioError> {
            let start = pending.len();
            pending.extend_from_slice(piece);
            let work = &mut pending[start..];
            dc.process(work);
            bytes.clear();
            bytes.extend(work.iter().flat_map(|s| s.to_le_bytes()));
            tmp.write_all(&bytes).map_err(io_err)?;
            frames += work.len() as u64;
            if pending.len() >= METER_BATCH {
                let full = std::mem::replace(&mut pending, Vec::with_capacity(METER_BATCH * 2));
                // A closed channel means the meter failed; its error is reported below.
                let _ = to_meter.send(full);
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
        let _ = to_meter.send(pending);
    }
    drop(to_meter);
    let before = metering.join().expect("meter thread does not panic")?;
    tmp.into_inner()
        .map_err(|e| io_err(e.into_error()))?
        .sync_all()
        .map_err(io_err)?;
    let before = measure(&before);
    let (gain_db, target_reached, note) = choose_gain(&before, settings);

    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: settings.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let out = crate::fsutil::create_new(out_wav).map_err(AudioError::from)?;
    let mut wav = hound::WavWriter::new(BufWriter::with_capacity(1 << 20, out), spec)
        .map_err(AudioError::from)?;
    let gain = 10f32.powf(gain_db as f32 / 20.0);
    let mut reader = BufReader::with_capacity(1 << 20, File::open(scratch).map_err(io_err)?);
    let mut buf = vec![0u8; 4 * 16384];
    let mut pcm: Vec<i16> = Vec::with_capacity(16384);
    let mut scorer = if vad {
        Some(VadScorer::new(settings.rate)?)
    } else {
        None
    };
    let rate = f64::from(settings.rate);
    let at = |written: u64| Position::Audio {
        done_s: written as f64 / rate,
        total_s: Some(frames as f64 / rate),
    };
    let mut ticker = progress.phase(Phase::Normalize, at(0));
    let mut written = 0u64;
    loop {
        crate::interrupt::check()?;
        let n = read_full(&mut reader, &mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        written += n as u64 / 4;
        ticker.at(at(written));
        pcm.clear();
        pcm.extend(buf[..n].chunks_exact(4).map(|b| {
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * gain;
            (x.clamp(-1.0, 1.0) * 32767.0).round() as i16
        }));
        let mut w = wav.get_i16_writer(pcm.len() as u32);
        for s in &pcm {
            w.write_sample(*s);
        }
        w.flush().map_err(AudioError::from)?;
        if let Some(sc) = scorer.as_mut() {
            sc.push(&pcm)?;
        }
    }
    let vad_scores = scorer.map(VadScorer::finish).transpose()?;
    wav.finalize().map_err(AudioError::from)?;
    File::open(out_wav)
        .and_then(|f| f.sync_all())
        .map_err(io_err)?;
    ticker.finish(at(written));
    // BS.1770 loudness and true peak scale exactly with a linear gain, so the values after
    // are the values before plus the gain (the tests check them against ffmpeg's meter).
    let shift = |v: Option<f64>| v.map(|v| v + gain_db);
    let after = Loudness {
        integrated_lufs: shift(before.integrated_lufs),
        true_peak_dbtp: shift(before.true_peak_dbtp),
    };
    Ok(Rendered {
        source,
        vad_scores,
        frames,
        before,
        after,
        gain_db,
        target_reached,
        note,
    })
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
    fn vad_scores_on_the_way_out_equal_scores_of_the_written_file() {
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
        assert_eq!(r.vad_scores.unwrap(), from_file);
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

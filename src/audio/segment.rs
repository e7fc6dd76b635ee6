//! Segmentation: voice activity (earshot, a small built-in neural VAD: no model download)
//! with hysteresis, then pause merging, short-burst dropping, padding, and optional cuts at
//! time-anchored marks. Also cuts segment WAVs out of the normalized audio.

use std::io::BufWriter;
use std::path::Path;

use super::decode::AudioError;
use super::resample::MonoResampler;

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

/// Finds speech in a mono 16-bit WAV (the normalized rendition) and shapes it into
/// segments. Returns the segments and the file's duration in seconds.
pub fn detect(wav: &Path, p: &Params) -> Result<(Vec<Span>, f64), AudioError> {
    let mut reader = hound::WavReader::open(wav).map_err(hound_err)?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(AudioError::Corrupt(format!(
            "{}: expected mono 16-bit audio",
            wav.display()
        )));
    }
    let duration = f64::from(reader.duration()) / f64::from(spec.sample_rate);
    let mut resampler = MonoResampler::new(spec.sample_rate, VAD_RATE)?;
    let mut vad = earshot::Detector::default();
    let mut frame: Vec<f32> = Vec::with_capacity(VAD_FRAME);
    let mut scores: Vec<f32> = Vec::new();
    let mut sink = |piece: &[f32]| -> Result<(), AudioError> {
        for &s in piece {
            frame.push(s.clamp(-1.0, 1.0));
            if frame.len() == VAD_FRAME {
                scores.push(vad.predict_f32(&frame));
                frame.clear();
            }
        }
        Ok(())
    };
    let mut buf = Vec::with_capacity(8192);
    let mut samples = reader.samples::<i16>();
    loop {
        buf.clear();
        for s in samples.by_ref().take(8192) {
            buf.push(f32::from(s.map_err(hound_err)?) / 32768.0);
        }
        if buf.is_empty() {
            break;
        }
        resampler.push(&buf, &mut sink)?;
    }
    resampler.finish(&mut sink)?;
    let frame_s = VAD_FRAME as f64 / f64::from(VAD_RATE);
    Ok((shape(&raw_spans(&scores, frame_s), p, duration), duration))
}

/// Speech runs from frame scores, with hysteresis.
fn raw_spans(scores: &[f32], frame_s: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate() {
        match start {
            None if s >= ON => start = Some(i),
            Some(b) if s < OFF => {
                let end = i.saturating_sub(END_LATENCY_FRAMES).max(b + 1);
                out.push((b as f64 * frame_s, end as f64 * frame_s));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b as f64 * frame_s, scores.len() as f64 * frame_s));
    }
    out
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

/// Copies frames `[start, end)` of a mono 16-bit WAV into the new WAV `out`, fsynced.
pub fn cut(wav: &Path, start: u32, end: u32, out: &Path) -> Result<(), AudioError> {
    let mut reader = hound::WavReader::open(wav).map_err(hound_err)?;
    let spec = reader.spec();
    let end = end.min(reader.duration());
    reader.seek(start.min(end)).map_err(AudioError::Io)?;
    let file = crate::fsutil::create_new(out).map_err(|e| AudioError::Corrupt(e.to_string()))?;
    let mut w = hound::WavWriter::new(BufWriter::new(file), spec).map_err(hound_err)?;
    for s in reader
        .samples::<i16>()
        .take(end.saturating_sub(start) as usize)
    {
        w.write_sample(s.map_err(hound_err)?).map_err(hound_err)?;
    }
    w.finalize().map_err(hound_err)?;
    std::fs::File::open(out)
        .and_then(|f| f.sync_all())
        .map_err(AudioError::Io)
}

fn hound_err(e: hound::Error) -> AudioError {
    match e {
        hound::Error::IoError(io) => AudioError::Io(io),
        other => AudioError::Corrupt(other.to_string()),
    }
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
        assert_eq!(raw_spans(&scores, 1.0), vec![(1.0, 4.0), (9.0, 10.0)]);
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
        assert!(shape(&raw_spans(&[0.0; 100], 0.016), &p(), 1.6).is_empty());
    }
}

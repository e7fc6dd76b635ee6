//! `data/<id>/envelope.json`: a compact picture of a recording's normalized audio — the
//! lowest and highest sample in each of at most [`COLUMNS`] equal stretches of time —
//! made when normalizing, so `plot` and `report` draw a waveform without decoding audio.
//!
//! The file is read back like everything on disk: bounded in size, every field typed and
//! checked, so a hand-edited or planted envelope fails with a message naming it.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::audio::decode::AudioError;
use crate::error::{Error, Result};
use crate::record::Recording;

/// The file's name inside `data/<id>/`.
pub const ENVELOPE_JSON: &str = "envelope.json";
/// How many columns an envelope has (fewer only when the audio has fewer frames).
pub const COLUMNS: usize = 2000;
/// The most columns a file read back may have.
const MAX_COLUMNS: usize = 8192;
/// The largest envelope file read back (2000 columns take about 20 KB).
const MAX_BYTES: u64 = 256 * 1024;
/// Full scale: a sample of ±32767 is stored as ±[`SCALE`].
pub const SCALE: i16 = 1000;

/// A min/max envelope of mono audio, in thousandths of full scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version; always 1.
    pub schema: u32,
    /// Sample rate of the audio it was made from, Hz.
    pub sample_rate: u32,
    /// Frames of that audio; column `i` covers frames `i*frames/n ..(i+1)*frames/n`.
    pub frames: u64,
    /// The lowest sample of each column, -1000..=1000.
    pub min: Vec<i16>,
    /// The highest sample of each column, -1000..=1000.
    pub max: Vec<i16>,
}

impl Envelope {
    /// The envelope of samples `pcm` (mono, at `rate`), given all at once.
    pub fn of_samples(rate: u32, pcm: &[i16]) -> Envelope {
        let mut b = Builder::new(rate, pcm.len() as u64);
        b.push(pcm);
        b.finish()
    }

    /// The envelope of a mono 16-bit PCM WAV (as `normalize` writes them), read once.
    pub fn of_wav(wav: &Path) -> std::result::Result<Envelope, AudioError> {
        let r = crate::audio::segment::open_mono16(wav)?;
        let spec = r.spec();
        let frames = u64::from(r.duration());
        let mut b = Builder::new(spec.sample_rate, frames);
        let mut reader = r.into_inner();
        let mut bytes = vec![0u8; 1 << 20];
        let mut samples = Vec::with_capacity(bytes.len() / 2);
        let mut left = frames * 2;
        while left > 0 {
            let n = left.min(bytes.len() as u64) as usize;
            reader.read_exact(&mut bytes[..n])?;
            samples.clear();
            samples.extend(
                bytes[..n]
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]])),
            );
            b.push(&samples);
            left -= n as u64;
        }
        Ok(b.finish())
    }

    /// Parses and checks an `envelope.json`.
    pub fn from_json(bytes: &[u8]) -> std::result::Result<Envelope, String> {
        let e: Envelope = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if e.schema != 1 {
            return Err(format!("envelope schema {} is not supported", e.schema));
        }
        if e.min.len() != e.max.len() {
            return Err(format!("{} minima but {} maxima", e.min.len(), e.max.len()));
        }
        if e.min.len() > MAX_COLUMNS {
            return Err(format!("{} columns (at most {MAX_COLUMNS})", e.min.len()));
        }
        if e.min.len() as u64 > e.frames {
            return Err(format!("{} columns for {} frames", e.min.len(), e.frames));
        }
        if !(1..=768_000).contains(&e.sample_rate) {
            return Err(format!("sample_rate {} is out of range", e.sample_rate));
        }
        for (i, (lo, hi)) in e.min.iter().zip(&e.max).enumerate() {
            if !(-SCALE..=SCALE).contains(lo) || !(-SCALE..=SCALE).contains(hi) || lo > hi {
                return Err(format!(
                    "column {i}: min {lo} / max {hi} is not within -{SCALE}..={SCALE} with min <= max"
                ));
            }
        }
        Ok(e)
    }

    /// Compact JSON (one line, with a trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("envelope serializes");
        v.push(b'\n');
        v
    }

    /// The length of the audio it describes, seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate)
    }

    /// `width` columns (min, max) resampled from this one's, as fractions of full scale.
    pub fn columns(&self, width: usize) -> Vec<(f32, f32)> {
        let n = self.min.len();
        if n == 0 {
            return Vec::new();
        }
        let scale = f32::from(SCALE);
        (0..width)
            .map(|x| {
                let a = x * n / width;
                let b = ((x + 1) * n / width).max(a + 1).min(n);
                let lo = self.min[a..b].iter().min().copied().unwrap_or(0);
                let hi = self.max[a..b].iter().max().copied().unwrap_or(0);
                (f32::from(lo) / scale, f32::from(hi) / scale)
            })
            .collect()
    }
}

/// Loads and checks the envelope `rec` names; `Ok(None)` when it names none (normalized
/// before envelopes existed, or not normalized).
pub fn load(archive: &Archive, rec: &Recording) -> Result<Option<Envelope>> {
    let Some(rel) = rec.normalized.as_ref().and_then(|n| n.envelope.as_ref()) else {
        return Ok(None);
    };
    let path = archive.root().join(rel);
    let file = archive.open_file(rel)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(&path, e))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Error::BadFile {
            path,
            reason: format!("larger than {} KiB: not an envelope", MAX_BYTES / 1024),
        });
    }
    let bad = |reason: String| Error::BadFile {
        path: path.clone(),
        reason: format!("not a valid envelope: {reason}"),
    };
    let envelope = Envelope::from_json(&bytes).map_err(bad)?;
    // It describes the rendition `recording.json` names, and nothing longer: a hand-edited
    // frame count would otherwise stretch the picture's time axis without bound.
    if let Some(n) = &rec.normalized
        && (envelope.frames != n.frames || envelope.sample_rate != n.sample_rate)
    {
        return Err(bad(format!(
            "{} frames at {} Hz, but recording.json says the normalized audio is {} frames at {} Hz",
            envelope.frames, envelope.sample_rate, n.frames, n.sample_rate
        )));
    }
    Ok(Some(envelope))
}

/// Builds an envelope from samples given in order.
#[derive(Debug)]
pub struct Builder {
    rate: u32,
    frames: u64,
    columns: u64,
    done: u64,
    /// The frame at which the current column ends.
    end: u64,
    lo: i16,
    hi: i16,
    min: Vec<i16>,
    max: Vec<i16>,
}

impl Builder {
    /// The envelope of `frames` frames at `rate`, to be pushed in order.
    pub fn new(rate: u32, frames: u64) -> Builder {
        let columns = frames.min(COLUMNS as u64);
        Builder {
            rate,
            frames,
            columns,
            done: 0,
            end: Self::end_of(0, frames, columns),
            lo: i16::MAX,
            hi: i16::MIN,
            min: Vec::with_capacity(columns as usize),
            max: Vec::with_capacity(columns as usize),
        }
    }

    fn end_of(column: u64, frames: u64, columns: u64) -> u64 {
        if columns == 0 {
            return u64::MAX;
        }
        ((u128::from(column) + 1) * u128::from(frames) / u128::from(columns)) as u64
    }

    /// The next samples.
    pub fn push(&mut self, pcm: &[i16]) {
        let mut rest = pcm;
        while !rest.is_empty() {
            let take = (self.end - self.done).min(rest.len() as u64) as usize;
            let (now, later) = rest.split_at(take);
            for &s in now {
                self.lo = self.lo.min(s);
                self.hi = self.hi.max(s);
            }
            self.done += take as u64;
            rest = later;
            if self.done == self.end {
                self.close();
            }
        }
    }

    fn close(&mut self) {
        let scaled = |s: i16| {
            let v = (f64::from(s) * f64::from(SCALE) / 32767.0).round();
            v.clamp(-f64::from(SCALE), f64::from(SCALE)) as i16
        };
        self.min.push(scaled(self.lo));
        self.max.push(scaled(self.hi));
        self.lo = i16::MAX;
        self.hi = i16::MIN;
        let next = self.min.len() as u64;
        self.end = Self::end_of(next, self.frames, self.columns);
    }

    /// The envelope of the samples pushed.
    pub fn finish(self) -> Envelope {
        Envelope {
            schema: 1,
            sample_rate: self.rate,
            frames: self.frames,
            min: self.min,
            max: self.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn columns_cover_the_audio() {
        let pcm: Vec<i16> = (0..10_000)
            .map(|i| if i < 5000 { 0 } else { 32767 })
            .collect();
        let e = Envelope::of_samples(16_000, &pcm);
        assert_eq!(e.min.len(), COLUMNS);
        assert_eq!((e.min[0], e.max[0]), (0, 0));
        assert_eq!((e.min[COLUMNS - 1], e.max[COLUMNS - 1]), (1000, 1000));
        let short = Envelope::of_samples(8000, &[-32768, 100, 32767]);
        assert_eq!(short.min, vec![-1000, 3, 1000]);
        assert_eq!(Envelope::of_samples(8000, &[]).min.len(), 0);
        let back = Envelope::from_json(&e.to_json()).unwrap();
        assert_eq!(back, e);
        assert!(e.to_json().len() < 24_000, "{}", e.to_json().len());
    }

    #[test]
    fn hostile_files_are_refused() {
        let ok = r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[0,1,2],"max":[0,1,2]}"#;
        assert!(Envelope::from_json(ok.as_bytes()).is_ok());
        for (bad, why) in [
            (
                r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[NaN],"max":[0]}"#,
                "expected value",
            ),
            (
                r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[0.5],"max":[1]}"#,
                "invalid type",
            ),
            (
                r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[0],"max":[0,1]}"#,
                "1 minima but 2 maxima",
            ),
            (
                r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[5],"max":[4]}"#,
                "min <= max",
            ),
            (
                r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[-1001],"max":[4]}"#,
                "within",
            ),
            (
                r#"{"schema":1,"sample_rate":16000,"frames":1,"min":[0,0],"max":[0,0]}"#,
                "2 columns for 1 frames",
            ),
            (
                r#"{"schema":2,"sample_rate":16000,"frames":1,"min":[],"max":[]}"#,
                "schema 2",
            ),
            (
                r#"{"schema":1,"sample_rate":0,"frames":1,"min":[],"max":[]}"#,
                "sample_rate 0",
            ),
            (
                r#"{"schema":1,"sample_rate":16000,"frames":1,"min":[],"max":[],"x":1}"#,
                "unknown field",
            ),
            ("not json", "expected"),
        ] {
            let e = Envelope::from_json(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let huge = format!(
            r#"{{"schema":1,"sample_rate":16000,"frames":99999,"min":[{z}],"max":[{z}]}}"#,
            z = vec!["0"; MAX_COLUMNS + 1].join(",")
        );
        assert!(
            Envelope::from_json(huge.as_bytes())
                .unwrap_err()
                .contains("at most")
        );
    }

    proptest! {
        #[test]
        fn streamed_equals_whole(pcm in proptest::collection::vec(any::<i16>(), 0..6000), cut in 0usize..6000) {
            let whole = Envelope::of_samples(16_000, &pcm);
            let mut b = Builder::new(16_000, pcm.len() as u64);
            let cut = cut.min(pcm.len());
            b.push(&pcm[..cut]);
            b.push(&pcm[cut..]);
            let streamed = b.finish();
            prop_assert_eq!(&streamed, &whole);
            prop_assert_eq!(whole.min.len(), pcm.len().min(COLUMNS));
            prop_assert!(Envelope::from_json(&whole.to_json()).is_ok());
        }

        #[test]
        fn parser_never_panics(s in ".{0,200}") {
            let _ = Envelope::from_json(s.as_bytes());
        }
    }
}

//! Streaming mono resampling with rubato's band-limited FFT resampler, exact in length:
//! `n` input frames at `from` Hz become `round(n · to / from)` frames at `to` Hz, with the
//! resampler's delay removed, so times in the output line up with times in the source.
//!
//! Memory is bounded by the accepted rate range (`decode::check_rate`), whatever the ratio:
//! a block is at most 384 000 input and about 393 000 output frames (see [`chunk_for`]), a
//! few MB of FFT state. A 1 Hz source once asked for 32 million-frame FFTs (1.4 GB).

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use super::decode::{AudioError, check_rate};

/// Input frames per resampler call aim for about this many.
const TARGET_CHUNK: usize = 2048;

/// A chunk size whose FFT lengths are smooth numbers: the smallest whole block of the rate
/// ratio (`from / gcd`) times a power of two. (rubato's default of ~256-frame sub-chunks
/// gave FFT lengths with large prime factors, e.g. 516 = 4·3·43, and ran 3x slower.)
///
/// The input chunk is `from / gcd` (at most `from`) when that reaches [`TARGET_CHUNK`], else
/// under `2 · TARGET_CHUNK`; the output block is `chunk · to / from`: at most `to / gcd` in
/// the first case, under `2 · TARGET_CHUNK · to / from` in the second, so both are bounded
/// once `from` and `to` are within the accepted range.
fn chunk_for(from: u32, to: u32) -> usize {
    let g = gcd(from, to);
    let block = (from / g) as usize;
    let mut chunk = block;
    while chunk < TARGET_CHUNK {
        chunk *= 2;
    }
    chunk
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A mono resampler fed in arbitrary-sized pieces.
pub struct MonoResampler {
    inner: Option<Fft<f32>>,
    chunk: usize,
    from: u32,
    to: u32,
    pending: Vec<f32>,
    out: Vec<f32>,
    delay_left: usize,
    fed: u64,
    emitted: u64,
}

impl std::fmt::Debug for MonoResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MonoResampler({} → {} Hz)", self.from, self.to)
    }
}

impl MonoResampler {
    /// A resampler from `from` Hz to `to` Hz (a pass-through when they are equal). Both
    /// rates must be within the range `decode::check_rate` accepts, which bounds its memory.
    pub fn new(from: u32, to: u32) -> Result<MonoResampler, AudioError> {
        check_rate(Some(from))?;
        check_rate(Some(to))?;
        let chunk = chunk_for(from, to);
        let inner = if from == to {
            None
        } else {
            Some(
                Fft::<f32>::new_custom(
                    from as usize,
                    to as usize,
                    chunk,
                    1,
                    1,
                    WindowFunction::BlackmanHarris2,
                    FixedSync::Input,
                )
                .map_err(|e| {
                    AudioError::Corrupt(format!("cannot resample {from} → {to} Hz: {e}"))
                })?,
            )
        };
        let delay_left = inner.as_ref().map_or(0, |r| r.output_delay());
        let out_max = inner.as_ref().map_or(0, |r| r.output_frames_max());
        Ok(MonoResampler {
            inner,
            chunk,
            from,
            to,
            pending: Vec::with_capacity(chunk * 2),
            out: vec![0.0; out_max],
            delay_left,
            fed: 0,
            emitted: 0,
        })
    }

    /// Feeds `input`; passes every finished output piece to `sink`.
    pub fn push<E>(
        &mut self,
        input: &[f32],
        sink: &mut impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.fed += input.len() as u64;
        if self.inner.is_none() {
            self.emitted += input.len() as u64;
            return sink(input);
        }
        self.pending.extend_from_slice(input);
        let mut used = 0;
        while self.pending.len() - used >= self.chunk {
            self.run(used, self.chunk, sink)?;
            used += self.chunk;
        }
        self.pending.drain(..used);
        Ok(())
    }

    /// Flushes the tail so the output has exactly `round(fed · to / from)` frames.
    pub fn finish<E>(&mut self, sink: &mut impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        if self.inner.is_none() {
            return Ok(());
        }
        let target = (u128::from(self.fed) * u128::from(self.to) * 2 + u128::from(self.from))
            / (2 * u128::from(self.from));
        let target = target as u64;
        let tail = std::mem::take(&mut self.pending);
        let mut padded = tail;
        while self.emitted < target {
            let real = padded.len();
            padded.resize(self.chunk, 0.0);
            self.pending = padded;
            self.run_partial(real, target, sink)?;
            padded = Vec::new();
        }
        self.pending.clear();
        Ok(())
    }

    fn run<E>(
        &mut self,
        offset: usize,
        len: usize,
        sink: &mut impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let produced = self.process(offset, len, None);
        self.emit(produced, u64::MAX, sink)
    }

    fn run_partial<E>(
        &mut self,
        real: usize,
        target: u64,
        sink: &mut impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let produced = self.process(0, self.chunk, Some(real));
        self.emit(produced, target, sink)
    }

    /// Runs one resampler call over `pending[offset..offset + len]`; returns frames made.
    fn process(&mut self, offset: usize, len: usize, partial: Option<usize>) -> usize {
        let r = self.inner.as_mut().expect("resampling");
        let input = InterleavedSlice::new(&self.pending[offset..offset + len], 1, len)
            .expect("input sized to the chunk");
        let out_len = self.out.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.out, 1, out_len).expect("output sized to max");
        let indexing = rubato::Indexing {
            partial_len: partial,
            ..Default::default()
        };
        let (_, produced) = r
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .expect("buffers sized as the resampler asks");
        produced
    }

    /// Emits `out[..produced]` less the remaining start delay, capped at `target` in total.
    fn emit<E>(
        &mut self,
        produced: usize,
        target: u64,
        sink: &mut impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        let room = target.saturating_sub(self.emitted) as usize;
        let end = produced.min(skip.saturating_add(room));
        if end > skip {
            self.emitted += (end - skip) as u64;
            sink(&self.out[skip..end])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(from: u32, to: u32, input: &[f32], piece: usize) -> Vec<f32> {
        let mut r = MonoResampler::new(from, to).unwrap();
        let mut out = Vec::new();
        let mut sink = |s: &[f32]| -> Result<(), ()> {
            out.extend_from_slice(s);
            Ok(())
        };
        for p in input.chunks(piece) {
            r.push(p, &mut sink).unwrap();
        }
        r.finish(&mut sink).unwrap();
        out
    }

    #[test]
    fn lengths_are_exact_for_phone_rates() {
        for (from, to, n) in [
            (48_000, 16_000, 640_175),
            (44_100, 16_000, 588_161),
            (22_050, 16_000, 294_081),
            (8_000, 16_000, 32_187),
            (16_000, 16_000, 1000),
            (48_000, 16_000, 5),
        ] {
            let input = vec![0.25f32; n];
            let out = run(from, to, &input, 777);
            let want = ((n as u64 * to as u64 * 2 + from as u64) / (2 * from as u64)) as usize;
            assert_eq!(out.len(), want, "{from} → {to}, {n} frames");
        }
    }

    #[test]
    fn rates_outside_the_range_are_refused() {
        for (from, to) in [(1, 16_000), (3_999, 16_000), (384_001, 16_000), (16_000, 1)] {
            let bad = if (4_000..=384_000).contains(&from) {
                to
            } else {
                from
            };
            let e = MonoResampler::new(from, to).unwrap_err();
            assert!(
                matches!(e, AudioError::ImplausibleRate(r) if r == bad),
                "{from} → {to}: {e}"
            );
        }
    }

    #[test]
    fn blocks_stay_small_whatever_the_ratio() {
        // The ends of the range, rates sharing no factor with the other (4 001 and 383 987
        // are prime: the whole rate is one block), and a block just under the target chunk.
        let mut pairs = vec![(383_987, 192_000), (4_001, 192_000), (4_094, 384_000)];
        for from in [4_000, 8_000, 44_100, 384_000] {
            for to in [4_000, 16_000, 192_000, 384_000] {
                pairs.push((from, to));
            }
        }
        for (from, to) in pairs {
            let r = MonoResampler::new(from, to).unwrap();
            let Some(inner) = &r.inner else { continue };
            let (i, o) = (inner.input_frames_max(), inner.output_frames_max());
            assert!(
                i <= 400_000 && o <= 400_000,
                "{from} → {to}: {i} in, {o} out"
            );
            assert!(r.chunk <= 400_000 && r.out.len() <= 400_000);
        }
    }

    #[test]
    fn a_tone_keeps_its_timing_and_level() {
        // 1 kHz at 48 kHz → 16 kHz: the peak of the resampled sine stays ~1.0 and the
        // zero crossings stay where they were (no delay left in the output).
        let n = 48_000;
        let input: Vec<f32> = (0..n)
            .map(|i| (i as f32 / 48.0 * std::f32::consts::TAU).sin())
            .collect();
        let out = run(48_000, 16_000, &input, 1000);
        let mid = &out[4000..12000];
        let peak = mid.iter().fold(0f32, |a, &x| a.max(x.abs()));
        assert!((peak - 1.0).abs() < 0.02, "peak {peak}");
        for (i, &x) in out.iter().enumerate().take(12000).skip(4000) {
            let ideal = (i as f32 / 16.0 * std::f32::consts::TAU).sin();
            assert!((x - ideal).abs() < 0.02, "sample {i}: {x} vs {ideal}");
        }
    }
}

//! A look-ahead true-peak limiter, the broadcast design (as ffmpeg's `alimiter` and the
//! dynamic mode of `loudnorm`): the peak of the signal between samples is found by 8x
//! oversampling; the gain each sample needs to stay under the ceiling is held over a
//! look-ahead window, released smoothly, and averaged over the window, so it is already
//! down when a peak arrives and never steps. Streaming, in constant memory.

use std::collections::VecDeque;

/// Oversampling factor of the peak detector (BS.1770 asks for at least 4x).
const OVERSAMPLE: usize = 8;
/// Taps per phase of the interpolator (a Kaiser-windowed sinc, 16 samples wide).
const TAPS: usize = 16;

/// Finds the true (inter-sample) peak of a signal by 8x polyphase interpolation. The peak
/// reported for a sample is the largest magnitude from that sample to the next one.
pub struct TruePeak {
    /// `taps[k][p]`: tap k of phase p, so one sample feeds all eight phases at once (the
    /// inner loop over phases is what the compiler turns into vector instructions).
    taps: [[f32; OVERSAMPLE]; TAPS],
    /// The last `TAPS - 1` samples, then the block being processed.
    window: Vec<f32>,
}

impl Default for TruePeak {
    fn default() -> Self {
        TruePeak::new()
    }
}

impl TruePeak {
    /// A detector with a silent history.
    pub fn new() -> TruePeak {
        let beta = 8.0;
        let i0_beta = bessel_i0(beta);
        let half = (TAPS / 2) as f64;
        let mut phases = [[0f32; TAPS]; OVERSAMPLE];
        for (p, taps) in phases.iter_mut().enumerate() {
            // Phase p interpolates at p/8 of the way from the sample DELAY back to the next
            // one; tap k multiplies the k-th oldest sample of the window.
            let mut h = [0f64; TAPS];
            for (k, t) in h.iter_mut().enumerate() {
                let u = half - 1.0 - k as f64 + p as f64 / OVERSAMPLE as f64;
                let sinc = if u.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u)
                };
                let r = (u / half).clamp(-1.0, 1.0);
                *t = sinc * bessel_i0(beta * (1.0 - r * r).sqrt()) / i0_beta;
            }
            // Unity gain at DC for every phase.
            let sum: f64 = h.iter().sum();
            for (t, v) in taps.iter_mut().zip(h) {
                *t = (v / sum) as f32;
            }
        }
        let mut taps = [[0f32; OVERSAMPLE]; TAPS];
        for (p, phase) in phases.iter().enumerate() {
            for (k, t) in phase.iter().enumerate() {
                taps[k][p] = *t;
            }
        }
        TruePeak {
            taps,
            window: vec![0.0; TAPS - 1],
        }
    }

    /// The delay, in samples, between a sample going in and its peak coming out.
    pub const DELAY: usize = TAPS / 2;

    /// Pushes `input`; appends to `peaks` one peak per sample pushed, each for the sample
    /// [`Self::DELAY`] samples earlier (between it and the one after it).
    pub fn process(&mut self, input: &[f32], peaks: &mut Vec<f32>) {
        self.window.extend_from_slice(input);
        peaks.reserve(input.len());
        for w in self.window.windows(TAPS) {
            let mut acc = [0f32; OVERSAMPLE];
            for (x, taps) in w.iter().zip(&self.taps) {
                for p in 0..OVERSAMPLE {
                    acc[p] += taps[p] * x;
                }
            }
            peaks.push(acc.iter().fold(0f32, |m, a| m.max(a.abs())));
        }
        let keep = self.window.len() - (TAPS - 1);
        self.window.drain(..keep);
    }

    /// The peaks of the last [`Self::DELAY`] samples pushed, as if silence followed.
    pub fn finish(&mut self, peaks: &mut Vec<f32>) {
        self.process(&[0.0; TAPS / 2], peaks);
    }
}

/// The modified Bessel function of the first kind, order 0 (for the Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// How much the limiter took off.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reduction {
    /// The largest gain reduction, dB (0 when it never acted).
    pub max_db: f64,
    /// Samples whose gain was reduced by more than 0.1 dB.
    pub samples: u64,
}

/// The limiter: samples in, each with its true peak (from [`TruePeak`]), limited samples
/// out, [`Limiter::latency`] samples later.
pub struct Limiter {
    ceiling: f32,
    window: usize,
    release: f32,
    /// Samples waiting for their gain (the look-ahead).
    delay: VecDeque<f32>,
    /// The gain each recent sample needs (for the two-sample peak rule).
    last_need: f32,
    /// Sliding minimum of the needed gain over the window: (index, gain), increasing.
    minima: VecDeque<(u64, f32)>,
    released: f32,
    /// The released gains of the last `window` samples, and their sum.
    averaged: VecDeque<f32>,
    sum: f64,
    index: u64,
    reduction: Reduction,
}

impl Limiter {
    /// A limiter holding the true peak under `ceiling` (linear), looking `lookahead_s`
    /// ahead and releasing with time constant `release_s`, at `rate` Hz.
    pub fn new(ceiling: f32, rate: u32, lookahead_s: f64, release_s: f64) -> Limiter {
        let window = ((lookahead_s * f64::from(rate)).round() as usize).max(1);
        Limiter {
            ceiling,
            window,
            release: (1.0 - (-1.0 / (release_s * f64::from(rate))).exp()) as f32,
            delay: VecDeque::with_capacity(window + 1),
            last_need: 1.0,
            minima: VecDeque::new(),
            released: 1.0,
            averaged: VecDeque::with_capacity(window + 1),
            sum: 0.0,
            index: 0,
            reduction: Reduction::default(),
        }
    }

    /// Samples between a sample going in and coming out.
    pub fn latency(&self) -> usize {
        self.window - 1
    }

    /// What the limiter has taken off so far.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// Pushes one sample and its true peak; returns a limited sample once the latency has
    /// passed.
    pub fn push(&mut self, x: f32, peak: f32) -> Option<f32> {
        self.delay.push_back(x);
        // Gain needed for the stretch from the detected sample to the next: both samples
        // around an inter-sample peak must be turned down for it.
        let need_here = if peak > self.ceiling {
            self.ceiling / peak
        } else {
            1.0
        };
        let need = need_here.min(self.last_need);
        self.last_need = need_here;
        // Hold: the smallest need in the window ending here.
        let i = self.index;
        self.index += 1;
        while self.minima.back().is_some_and(|&(_, g)| g >= need) {
            self.minima.pop_back();
        }
        self.minima.push_back((i, need));
        while self
            .minima
            .front()
            .is_some_and(|&(j, _)| j + (self.window as u64) <= i)
        {
            self.minima.pop_front();
        }
        let held = self.minima.front().map_or(1.0, |&(_, g)| g);
        // Release: down at once (the average below smooths it), up slowly.
        self.released = if held < self.released {
            held
        } else {
            self.released + self.release * (held - self.released)
        };
        // Average over the window: the gain is down by the time the peak is played.
        self.averaged.push_back(self.released);
        self.sum += f64::from(self.released);
        if self.averaged.len() > self.window {
            self.sum -= f64::from(self.averaged.pop_front().expect("non-empty"));
        }
        if self.delay.len() <= self.latency() {
            return None;
        }
        let gain = ((self.sum / self.averaged.len() as f64) as f32).min(1.0);
        if gain < 0.988_553 {
            self.reduction.samples += 1;
        }
        let db = -20.0 * f64::from(gain).log10();
        self.reduction.max_db = self.reduction.max_db.max(db);
        Some(self.delay.pop_front().expect("latency reached") * gain)
    }

    /// Feeds silence through so that every sample pushed comes out; returns those.
    pub fn flush(&mut self) -> Vec<f32> {
        let pending = self.delay.len();
        let mut out = Vec::with_capacity(pending);
        while out.len() < pending {
            if let Some(y) = self.push(0.0, 0.0) {
                out.push(y);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: f64, amp: f64, phase: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (amp * (std::f64::consts::TAU * freq * i as f64 / rate + phase).sin()) as f32)
            .collect()
    }

    /// The true peak of `x[range]` as the 8x detector sees it, run over all of `x` (a cut
    /// would add its own overshoot).
    fn true_peak(x: &[f32], range: std::ops::Range<usize>) -> f32 {
        peaks(x)[range].iter().fold(0f32, |m, p| m.max(*p))
    }

    /// The peak of every sample of `x`, aligned with it.
    fn peaks(x: &[f32]) -> Vec<f32> {
        let mut tp = TruePeak::new();
        let mut peaks = Vec::new();
        // In two blocks, to cover the history carried between them.
        tp.process(&x[..x.len() / 3], &mut peaks);
        tp.process(&x[x.len() / 3..], &mut peaks);
        tp.finish(&mut peaks);
        peaks.split_off(TruePeak::DELAY)
    }

    fn limit(x: &[f32], ceiling: f32) -> (Vec<f32>, Reduction) {
        let mut lim = Limiter::new(ceiling, 16_000, 0.005, 0.08);
        let mut out: Vec<f32> = x
            .iter()
            .zip(peaks(x))
            .filter_map(|(&s, p)| lim.push(s, p))
            .collect();
        out.extend(lim.flush());
        (out, lim.reduction())
    }

    #[test]
    fn detector_finds_peaks_between_samples() {
        // A quarter-rate sine sampled at ±45°: samples reach 0.707, the wave reaches 1.
        let x = sine(4000.0, 16_000.0, 1.0, std::f64::consts::FRAC_PI_4, 4000);
        let sample_peak = x.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((sample_peak - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-3);
        let tp = true_peak(&x, 100..3900);
        assert!((tp - 1.0).abs() < 0.015, "true peak {tp}");
        // Low frequencies: true peak equals sample peak.
        let tp = true_peak(&sine(100.0, 16_000.0, 0.5, 0.0, 16_000), 100..15_900);
        assert!((tp - 0.5).abs() < 0.005, "{tp}");
    }

    #[test]
    fn limiter_holds_the_ceiling_and_keeps_length_and_quiet_parts() {
        let rate = 16_000.0;
        // Quiet speech-like tone with loud bursts, the bursts 6 dB over the ceiling.
        let mut x = sine(300.0, rate, 0.2, 0.0, 16_000);
        for (i, v) in x.iter_mut().enumerate() {
            if (4000..4400).contains(&i) || (9000..9050).contains(&i) {
                *v *= 5.0; // 1.0 against a 0.5 ceiling
            }
        }
        let ceiling = 0.5;
        let (out, r) = limit(&x, ceiling);
        assert_eq!(out.len(), x.len());
        let tp = true_peak(&out, 0..out.len());
        assert!(tp <= ceiling * 1.001, "true peak {tp} over {ceiling}");
        // Far from the bursts the signal is untouched.
        for i in 1000..3000 {
            assert!((out[i] - x[i]).abs() < 1e-6, "{i}: {} vs {}", out[i], x[i]);
        }
        // 6 dB for the bursts (a little more for the overshoot of their sudden onset),
        // released over some 5000 samples (80 ms time constant) after each.
        assert!((6.0..7.5).contains(&r.max_db), "{r:?}");
        assert!(r.samples > 450 && r.samples < 12_000, "{r:?}");
        // No step: the gain moves by at most its range over the window per sample.
        let gains: Vec<(usize, f32)> = (0..x.len())
            .filter(|&i| x[i].abs() > 0.05)
            .map(|i| (i, out[i] / x[i]))
            .collect();
        let step = gains
            .windows(2)
            .map(|w| (w[1].1 - w[0].1).abs() / (w[1].0 - w[0].0) as f32)
            .fold(0f32, f32::max);
        assert!(step < 0.012, "{step}");
    }

    #[test]
    fn inter_sample_peaks_are_limited_too() {
        let x = sine(4000.0, 16_000.0, 0.9, std::f64::consts::FRAC_PI_4, 8000);
        let (out, _) = limit(&x, 0.7);
        // Samples (0.636) are under the ceiling, the wave (0.9) is not.
        let tp = true_peak(&out, 0..out.len());
        assert!(tp <= 0.7 * 1.001, "{tp}");
    }
}

//! A look-ahead true-peak limiter, the broadcast design (as ffmpeg's `alimiter` and the
//! dynamic mode of `loudnorm`): the peak of the signal between samples is found by 8x
//! oversampling; the gain each sample needs to stay under the ceiling is held over a
//! look-ahead window, released smoothly, and averaged over the window, so it is already
//! down when a peak arrives and never steps. Streaming, in constant memory.

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
        let from = peaks.len();
        peaks.resize(from + input.len(), 0.0);
        let out = &mut peaks[from..];
        // The same operations in the same order either way: the peaks are bit for bit the
        // same on every machine, only wider vectors compute them faster.
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            unsafe { interpolate_avx2(&self.taps, &self.window, out) };
        } else {
            interpolate(&self.taps, &self.window, out);
        }
        #[cfg(not(target_arch = "x86_64"))]
        interpolate(&self.taps, &self.window, out);
        let keep = self.window.len() - (TAPS - 1);
        self.window.drain(..keep);
    }

    /// The peaks of the last [`Self::DELAY`] samples pushed, as if silence followed.
    pub fn finish(&mut self, peaks: &mut Vec<f32>) {
        self.process(&[0.0; TAPS / 2], peaks);
    }
}

/// Outputs computed at once by [`interpolate`]: one vector register per phase.
const LANES: usize = 8;

/// `out[i]` = the largest magnitude of the eight phases interpolated from
/// `window[i..i + TAPS]`. Laid out for vectors: eight consecutive outputs at a time, each
/// phase's sum over the taps in their order, so no vector ever needs a horizontal maximum.
#[inline(always)]
fn interpolate(taps: &[[f32; OVERSAMPLE]; TAPS], window: &[f32], out: &mut [f32]) {
    let whole = out.len() / LANES * LANES;
    let (body, tail) = out.split_at_mut(whole);
    for (n, o) in body.chunks_exact_mut(LANES).enumerate() {
        let w = &window[n * LANES..n * LANES + LANES + TAPS - 1];
        let mut acc = [[0f32; LANES]; OVERSAMPLE];
        for (k, tap) in taps.iter().enumerate() {
            let x: &[f32; LANES] = w[k..k + LANES].try_into().expect("LANES samples");
            for (a, t) in acc.iter_mut().zip(tap) {
                for j in 0..LANES {
                    a[j] += t * x[j];
                }
            }
        }
        let mut top = [0f32; LANES];
        for a in &acc {
            for j in 0..LANES {
                top[j] = max(top[j], a[j].abs());
            }
        }
        o.copy_from_slice(&top);
    }
    for (i, o) in tail.iter_mut().enumerate() {
        let w = &window[whole + i..whole + i + TAPS];
        let mut acc = [0f32; OVERSAMPLE];
        for (x, tap) in w.iter().zip(taps) {
            for (a, t) in acc.iter_mut().zip(tap) {
                *a += t * x;
            }
        }
        *o = acc.iter().fold(0f32, |m, a| max(m, a.abs()));
    }
}

/// [`interpolate`] compiled for AVX2 (eight-lane registers).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn interpolate_avx2(taps: &[[f32; OVERSAMPLE]; TAPS], window: &[f32], out: &mut [f32]) {
    interpolate(taps, window, out);
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
/// out, [`Limiter::latency`] samples later. Works on blocks: each stage (the gain each
/// sample needs, its hold over the window, the release, the average) is a pass over the
/// block, and all but the release are ones the compiler vectorizes.
pub struct Limiter {
    ceiling: f32,
    window: usize,
    release: f32,
    /// The inputs not yet played (the last `window - 1`; zeros before the start), then the
    /// block being processed.
    x: Vec<f32>,
    /// The gains needed by the last `window - 1` samples, then the block's.
    need: Vec<f32>,
    /// The gain the last sample's own peak needed (for the two-sample peak rule).
    last_here: f32,
    /// The released gain of the last `window - 1` samples, then the block's.
    released: Vec<f32>,
    /// Outputs still to drop (those of the zeros before the start).
    lead: usize,
    /// Scratch: the hold, then the windowed sums of the released gain.
    held: Vec<f32>,
    level: Vec<f32>,
    /// The smallest gain applied so far.
    least: f32,
    reduced: u64,
}

impl Limiter {
    /// A limiter holding the true peak under `ceiling` (linear), looking `lookahead_s`
    /// ahead and releasing with time constant `release_s`, at `rate` Hz.
    pub fn new(ceiling: f32, rate: u32, lookahead_s: f64, release_s: f64) -> Limiter {
        let window = ((lookahead_s * f64::from(rate)).round() as usize).max(1);
        let history = window - 1;
        Limiter {
            ceiling,
            window,
            release: (1.0 - (-1.0 / (release_s * f64::from(rate))).exp()) as f32,
            x: vec![0.0; history],
            need: vec![1.0; history],
            last_here: 1.0,
            released: vec![1.0; history],
            lead: history,
            held: Vec::new(),
            level: Vec::new(),
            least: 1.0,
            reduced: 0,
        }
    }

    /// The release's coefficient per sample: each sample, the gain moves this fraction of
    /// the way up towards the gain held.
    pub fn release_coefficient(&self) -> f64 {
        f64::from(self.release)
    }

    /// Samples between a sample going in and coming out.
    pub fn latency(&self) -> usize {
        self.window - 1
    }

    /// What the limiter has taken off so far.
    pub fn reduction(&self) -> Reduction {
        Reduction {
            max_db: if self.least < 1.0 {
                -20.0 * f64::from(self.least).log10()
            } else {
                0.0
            },
            samples: self.reduced,
        }
    }

    /// Pushes `input` turned up by `gain`, with the true peak of each sample (before the
    /// gain); appends to `out` the limited samples that are ready (one per sample pushed,
    /// once the latency has passed).
    pub fn process(&mut self, input: &[f32], peaks: &[f32], gain: f32, out: &mut Vec<f32>) {
        assert_eq!(input.len(), peaks.len(), "one peak per sample");
        // As for the detector: the same operations, in wider vectors when the CPU has them.
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            unsafe { self.process_avx2(input, peaks, gain, out) };
            return;
        }
        self.process_in_blocks(input, peaks, gain, out);
    }

    /// [`Self::process_in_blocks`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn process_avx2(&mut self, input: &[f32], peaks: &[f32], gain: f32, out: &mut Vec<f32>) {
        self.process_in_blocks(input, peaks, gain, out);
    }

    #[inline(always)]
    fn process_in_blocks(&mut self, input: &[f32], peaks: &[f32], gain: f32, out: &mut Vec<f32>) {
        let (history, n) = (self.window - 1, input.len());
        self.x.extend(input.iter().map(|x| x * gain));
        // The gain each sample's stretch needs: both samples around an inter-sample peak
        // must be turned down for it.
        let c = self.ceiling;
        self.level.clear();
        self.level.push(self.last_here);
        self.level.extend(peaks.iter().map(|&p| {
            let p = p * gain;
            if p > c { c / p } else { 1.0 }
        }));
        self.last_here = *self.level.last().expect("one at least");
        let here = &self.level;
        self.need
            .extend(here.iter().zip(&here[1..]).map(|(&a, &b)| min(a, b)));
        // Hold: the smallest need in the window ending at each sample.
        sliding_min(&self.need, self.window, &mut self.held, &mut self.level);
        // Release: down at once (the average below smooths it), up slowly.
        // As one expression without branches: a step towards the held gain is never
        // below it when it is lower, so the minimum is the held gain then.
        let mut r = *self.released.last().unwrap_or(&1.0);
        let (a, keep) = (self.release, 1.0 - self.release);
        let from = self.released.len();
        self.released.resize(from + n, 1.0);
        for (out, &h) in self.released[from..].iter_mut().zip(&self.held) {
            r = min(h, keep * r + a * h);
            *out = r;
        }
        // Average over the window: the gain is down by the time the peak is played.
        sliding_sum(&self.released, self.window, &mut self.held, &mut self.level);
        let scale = 1.0 / self.window as f32;
        let skip = self.lead.min(n);
        self.lead -= skip;
        let start = out.len();
        out.extend(
            self.x[skip..n]
                .iter()
                .zip(&self.held[skip..])
                .map(|(x, s)| x * min(s * scale, 1.0)),
        );
        let gains = self.held[skip..].iter().map(|s| min(s * scale, 1.0));
        self.least = gains.clone().fold(self.least, min);
        self.reduced += gains.filter(|&g| g < 0.988_553).count() as u64;
        debug_assert_eq!(out.len() - start, n - skip);
        let keep = |v: &mut Vec<f32>| {
            let cut = v.len() - history;
            v.drain(..cut);
        };
        keep(&mut self.x);
        keep(&mut self.need);
        keep(&mut self.released);
    }

    /// Feeds silence through so that every sample pushed comes out; appends those to `out`.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let zeros = vec![0.0; self.window - 1];
        self.process(&zeros, &zeros, 1.0, out);
    }
}

/// The smaller of two gains, in a form the compiler turns into vector instructions
/// (`f32::min`'s handling of NaN keeps it scalar; no NaN reaches here).
fn min(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// The larger of two magnitudes, as [`min`].
fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// `out[i]` = `f` of `v[i..i + w]`, for every whole window of `v`, where `f` combines by
/// `op` (associative): windows of 1, 2, 4, … samples, combined for the bits of `w`, each
/// step a pass the compiler vectorizes. `level` is scratch.
#[inline(always)]
fn sliding(
    v: &[f32],
    w: usize,
    out: &mut Vec<f32>,
    level: &mut Vec<f32>,
    (op, identity): (fn(f32, f32) -> f32, f32),
) {
    out.clear();
    if v.len() < w {
        return;
    }
    let n = v.len() - w + 1;
    out.resize(n, identity);
    level.clear();
    level.extend_from_slice(v);
    let mut next: Vec<f32> = Vec::with_capacity(v.len());
    let (mut width, mut offset) = (1usize, 0usize);
    loop {
        if w & width != 0 {
            for (o, l) in out.iter_mut().zip(&level[offset..offset + n]) {
                *o = op(*o, *l);
            }
            offset += width;
        }
        if width * 2 > w {
            break;
        }
        // next[i] combines v[i..i + 2·width].
        next.clear();
        next.extend(level.iter().zip(&level[width..]).map(|(a, b)| op(*a, *b)));
        std::mem::swap(level, &mut next);
        width *= 2;
    }
}

/// `out[i]` = the smallest of `v[i..i + w]`, for every whole window of `v`.
#[inline(always)]
fn sliding_min(v: &[f32], w: usize, out: &mut Vec<f32>, level: &mut Vec<f32>) {
    sliding(v, w, out, level, (min, f32::INFINITY));
}

/// `out[i]` = the sum of `v[i..i + w]`, for every whole window of `v` (each sum of at most
/// `2·log2(w)` terms: no error builds up over a long recording, as in a running sum).
#[inline(always)]
fn sliding_sum(v: &[f32], w: usize, out: &mut Vec<f32>, level: &mut Vec<f32>) {
    sliding(v, w, out, level, (|a, b| a + b, 0.0));
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
        let p = peaks(x);
        let mut out = Vec::new();
        // In uneven blocks, one shorter than the window, to cover the history kept.
        let cut = [0, 37, 1000, 1050, x.len()];
        for w in cut.windows(2) {
            lim.process(&x[w[0]..w[1]], &p[w[0]..w[1]], 1.0, &mut out);
        }
        lim.flush(&mut out);
        (out, lim.reduction())
    }

    #[test]
    fn sliding_min_and_sum_are_those_of_each_window() {
        let v: Vec<f32> = (0..300).map(|i| ((i * 7919) % 101) as f32).collect();
        for w in [1, 2, 3, 5, 8, 80, 81, 299, 300] {
            let (mut out, mut level) = (Vec::new(), Vec::new());
            sliding_min(&v, w, &mut out, &mut level);
            let want: Vec<f32> = v
                .windows(w)
                .map(|s| s.iter().fold(f32::MAX, |m, x| m.min(*x)))
                .collect();
            assert_eq!(out, want, "window {w}");
            sliding_sum(&v, w, &mut out, &mut level);
            let want: Vec<f32> = v.windows(w).map(|s| s.iter().sum()).collect();
            assert_eq!(out, want, "window {w}"); // small integers: exact
        }
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
    fn vector_layouts_give_the_peaks_of_the_plain_sum_bit_for_bit() {
        let tp = TruePeak::new();
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let window: Vec<f32> = (0..1000 + TAPS - 1)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        // The plain sum, one output at a time (as the detector was first written).
        let want: Vec<f32> = window
            .windows(TAPS)
            .map(|w| {
                let mut acc = [0f32; OVERSAMPLE];
                for (x, taps) in w.iter().zip(&tp.taps) {
                    for p in 0..OVERSAMPLE {
                        acc[p] += taps[p] * x;
                    }
                }
                acc.iter().fold(0f32, |m, a| m.max(a.abs()))
            })
            .collect();
        for n in [0, 1, 7, 8, 9, 999, 1000] {
            let mut out = vec![0f32; n];
            interpolate(&tp.taps, &window[..n + TAPS - 1], &mut out);
            assert_eq!(out, want[..n], "{n} outputs");
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                out.fill(0.0);
                // SAFETY: the CPU has AVX2.
                unsafe { interpolate_avx2(&tp.taps, &window[..n + TAPS - 1], &mut out) };
                assert_eq!(out, want[..n], "{n} outputs, AVX2");
            }
        }
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

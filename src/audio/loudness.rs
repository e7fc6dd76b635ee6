//! Integrated loudness (ITU-R BS.1770-4 / EBU R128) from 100 ms block energies.
//!
//! The K-weighting filter is libebur128's design (the one the `ebur128` crate and
//! ffmpeg use), and the gating is BS.1770's: 400 ms blocks every 100 ms, an absolute gate
//! at −70 LUFS and a relative one 10 LU under the loudness of the blocks over it. Each
//! 400 ms block is the mean of four 100 ms sub-blocks, so keeping only the sub-blocks'
//! energies (36 000 numbers an hour) measures exactly what a meter over the samples
//! would, and measures any gain applied to them without another pass over the samples.

/// Absolute gate, LUFS.
const ABSOLUTE_GATE_LUFS: f64 = -70.0;
/// Relative gate, LU under the loudness of the blocks over the absolute gate.
const RELATIVE_GATE_LU: f64 = 10.0;

/// Loudness, LUFS, of a mean square energy of K-weighted samples.
fn lufs(energy: f64) -> f64 {
    -0.691 + 10.0 * energy.log10()
}

/// The energy of a loudness in LUFS.
fn energy(lufs: f64) -> f64 {
    10f64.powf((lufs + 0.691) / 10.0)
}

/// The K-weighting filter (a high shelf, then a high-pass), as one fourth-order section.
#[derive(Debug, Clone)]
struct KWeighting {
    b: [f64; 5],
    a: [f64; 5],
    v: [f64; 5],
}

impl KWeighting {
    fn new(rate: u32) -> KWeighting {
        let rate = f64::from(rate);
        // The high shelf (the head's acoustic effect).
        let (f0, g, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
        let k = (std::f64::consts::PI * f0 / rate).tan();
        let vh = 10f64.powf(g / 20.0);
        let vb = vh.powf(0.4996667741545416);
        let a0 = 1.0 + k / q + k * k;
        let pb = [
            (vh + vb * k / q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / q + k * k) / a0,
        ];
        let pa = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0];
        // The high-pass (RLB weighting).
        let (f0, q) = (38.13547087602444, 0.5003270373238773);
        let k = (std::f64::consts::PI * f0 / rate).tan();
        let d = 1.0 + k / q + k * k;
        let rb = [1.0, -2.0, 1.0];
        let ra = [1.0, 2.0 * (k * k - 1.0) / d, (1.0 - k / q + k * k) / d];
        KWeighting {
            b: convolve(pb, rb),
            a: convolve(pa, ra),
            v: [0.0; 5],
        }
    }

    /// Filters `x`, adding the squares of the output to `sum`.
    fn square_sum(&mut self, x: &[f32], sum: &mut f64) {
        let (b, a) = (self.b, self.a);
        let [_, mut v1, mut v2, mut v3, mut v4] = self.v;
        let mut s = 0.0;
        for &x in x {
            // The term of the last state last: the chain from one sample to the next is
            // one multiply and one subtraction long.
            let v0 = (f64::from(x) - a[4] * v4 - a[3] * v3 - a[2] * v2) - a[1] * v1;
            let y = b[0] * v0 + b[1] * v1 + b[2] * v2 + b[3] * v3 + b[4] * v4;
            s += y * y;
            (v4, v3, v2, v1) = (v3, v2, v1, v0);
        }
        // Denormals would slow the filter to a crawl in long silences.
        for v in [&mut v1, &mut v2, &mut v3, &mut v4] {
            if v.abs() < 1e-30 {
                *v = 0.0;
            }
        }
        self.v = [0.0, v1, v2, v3, v4];
        *sum += s;
    }
}

fn convolve(p: [f64; 3], r: [f64; 3]) -> [f64; 5] {
    let mut out = [0.0; 5];
    for (i, pi) in p.iter().enumerate() {
        for (j, rj) in r.iter().enumerate() {
            out[i + j] += pi * rj;
        }
    }
    out
}

/// A streaming meter of mono audio that keeps the K-weighted energy of every whole 100 ms
/// block.
#[derive(Debug, Clone)]
pub struct BlockMeter {
    filter: KWeighting,
    block: usize,
    filled: usize,
    sum: f64,
    /// The energy of the tile being filled (see [`BlockMeter::push_tiled`]).
    tile: f64,
    blocks: Vec<f64>,
}

impl BlockMeter {
    /// A meter for audio at `rate` Hz.
    pub fn new(rate: u32) -> BlockMeter {
        BlockMeter {
            filter: KWeighting::new(rate),
            // As libebur128 rounds it.
            block: ((rate as usize) + 5) / 10,
            filled: 0,
            sum: 0.0,
            tile: 0.0,
            blocks: Vec::new(),
        }
    }

    /// Feeds samples.
    pub fn push(&mut self, mut x: &[f32]) {
        while !x.is_empty() {
            let n = (self.block - self.filled).min(x.len());
            self.filter.square_sum(&x[..n], &mut self.sum);
            self.advance(n);
            x = &x[n..];
        }
    }

    /// Feeds samples, appending to `tiles` the energy (sum of squares, K-weighted) of each
    /// tile of `limit_model::TILE` samples that they complete. Tiles never straddle blocks:
    /// the last of a block is shorter when the block is not a multiple of the tile.
    pub fn push_tiled(&mut self, mut x: &[f32], tiles: &mut Vec<f32>) {
        use super::limit_model::TILE;
        while !x.is_empty() {
            let tile_end = ((self.filled / TILE + 1) * TILE).min(self.block);
            let n = (tile_end - self.filled).min(x.len());
            let mut tile = 0.0;
            self.filter.square_sum(&x[..n], &mut tile);
            self.tile += tile;
            self.sum += tile;
            if self.filled + n == tile_end {
                tiles.push(self.tile as f32);
                self.tile = 0.0;
            }
            self.advance(n);
            x = &x[n..];
        }
    }

    fn advance(&mut self, n: usize) {
        self.filled += n;
        if self.filled == self.block {
            self.blocks.push(self.sum / self.block as f64);
            (self.sum, self.filled) = (0.0, 0);
        }
    }

    /// Samples per 100 ms block.
    pub fn block_len(&self) -> usize {
        self.block
    }

    /// The mean square of each whole 100 ms block so far (the partial last one is not
    /// counted, as in any BS.1770 meter).
    pub fn blocks(&self) -> &[f64] {
        &self.blocks
    }

    /// The integrated loudness so far, LUFS (`None`: no block over the absolute gate).
    pub fn integrated(&self) -> Option<f64> {
        integrated(&self.blocks, 1.0)
    }
}

/// The integrated loudness, LUFS, of audio whose 100 ms blocks have the mean squares
/// `blocks`, turned up by the linear power factor `power` (`None`: no 400 ms block over
/// the absolute gate).
pub fn integrated(blocks: &[f64], power: f64) -> Option<f64> {
    let gating: Vec<f64> = blocks
        .windows(4)
        .map(|w| power * (w[0] + w[1] + w[2] + w[3]) / 4.0)
        .collect();
    let floor = energy(ABSOLUTE_GATE_LUFS);
    let over = |t: f64| {
        gating
            .iter()
            .filter(|&&z| z >= t)
            .fold((0.0, 0usize), |(s, n), &z| (s + z, n + 1))
    };
    let (sum, n) = over(floor);
    if n == 0 {
        return None;
    }
    let relative = (sum / n as f64) * 10f64.powf(-RELATIVE_GATE_LU / 10.0);
    let (sum, n) = over(relative.max(floor));
    Some(lufs(sum / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speechlike(rate: u32, seconds: f64) -> Vec<f32> {
        // Bursts of two tones with quiet gaps and a little noise, so both gates act.
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        (0..(seconds * f64::from(rate)) as usize)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let noise = (s >> 40) as f64 / (1u64 << 24) as f64 - 0.5;
                let env = if (t * 1.3).fract() < 0.6 { 0.3 } else { 0.002 };
                let tone = (t * 220.0 * std::f64::consts::TAU).sin()
                    + 0.5 * (t * 1900.0 * std::f64::consts::TAU).sin();
                (env * tone + 0.001 * noise) as f32
            })
            .collect()
    }

    fn reference(x: &[f32], rate: u32) -> f64 {
        let mut m = ebur128::EbuR128::new(1, rate, ebur128::Mode::I).unwrap();
        m.add_frames_f32(x).unwrap();
        m.loudness_global().unwrap()
    }

    #[test]
    fn agrees_with_the_ebur128_crate_at_common_rates() {
        for rate in [8_000, 16_000, 22_050, 44_100, 48_000] {
            let x = speechlike(rate, 7.3);
            let mut m = BlockMeter::new(rate);
            for piece in x.chunks(1234) {
                m.push(piece);
            }
            let ours = m.integrated().unwrap();
            let theirs = reference(&x, rate);
            assert!((ours - theirs).abs() < 1e-6, "{rate}: {ours} vs {theirs}");
        }
    }

    #[test]
    fn a_gain_on_the_blocks_equals_the_gain_on_the_samples() {
        let rate = 16_000;
        let x = speechlike(rate, 12.0);
        let mut m = BlockMeter::new(rate);
        m.push(&x);
        for db in [-30.0f64, -6.0, 0.0, 9.5] {
            let g = 10f64.powf(db / 20.0);
            let louder: Vec<f32> = x.iter().map(|s| (f64::from(*s) * g) as f32).collect();
            let ours = integrated(m.blocks(), g * g).unwrap();
            let theirs = reference(&louder, rate);
            assert!((ours - theirs).abs() < 1e-6, "{db} dB: {ours} vs {theirs}");
        }
    }

    #[test]
    fn silence_has_no_loudness() {
        let mut m = BlockMeter::new(16_000);
        m.push(&[0.0; 32_000]);
        assert_eq!(m.integrated(), None);
        assert_eq!(integrated(&[], 1.0), None);
    }
}

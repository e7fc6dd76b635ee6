//! A model of the limiter's effect on loudness, so the gain that reaches the target is
//! found without passes over the samples.
//!
//! The first pass of normalization keeps, for every tile of [`TILE`] samples (tiles never
//! straddle a 100 ms loudness block), the K-weighted energy of the tile and the largest
//! true peak that the limiter's two-sample rule sees in it (see [`Tiler`]). For a trial
//! gain, [`Model::loudness`] runs the limiter's stages (the gain each peak needs, the hold
//! over the look-ahead window, the release, the average over the window) at tile
//! resolution, weights each tile's energy by the square of the gain it gets, and measures
//! the blocks as BS.1770 does. One evaluation reads 8 bytes per tile (14 MB an hour at
//! 16 kHz) instead of 8 per sample, for several gains at once; the search that took four
//! passes of the limiter and the meter over the whole recording takes two rounds of these. The model is close, not
//! exact (the gain is taken as constant over a tile, and K-weighting as commuting with
//! the slow gain changes): the normalized output is measured as written, and the gain is
//! corrected from that measurement when it misses (see `normalize`).

use std::collections::VecDeque;
use std::io::{Read, Write};

/// Samples per tile (2 ms at 16 kHz; 16 gave the same gains to 0.01 dB at twice the
/// cost); the last tile of a block is shorter when the block is not a multiple of it.
pub const TILE: usize = 32;

/// Cuts a stream into the tiles of its 100 ms blocks.
#[derive(Debug, Clone)]
struct Tiles {
    block: usize,
    /// Samples into the current block.
    in_block: usize,
}

impl Tiles {
    /// Samples left in the current tile.
    fn left(&self) -> usize {
        let end = ((self.in_block / TILE) + 1) * TILE;
        end.min(self.block) - self.in_block
    }

    /// Moves `n` samples on (at most [`Self::left`]); whether a tile ended.
    fn advance(&mut self, n: usize) -> bool {
        let ended = n == self.left();
        self.in_block += n;
        if self.in_block == self.block {
            self.in_block = 0;
        }
        ended
    }
}

/// Builds the tiles' peaks from the per-sample true peaks, and pairs them with the tiles'
/// energies (which the meter gives, see `BlockMeter::push_tiled`), writing each pair as
/// two little-endian `f32`s.
pub struct Tiler<W: Write> {
    tiles: Tiles,
    /// The peak of the sample before the current one (the two-sample rule).
    last: f32,
    top: f32,
    peaks: VecDeque<f32>,
    energies: VecDeque<f32>,
    out: W,
    bytes: Vec<u8>,
}

impl<W: Write> Tiler<W> {
    /// A tiler for 100 ms blocks of `block` samples, writing to `out`.
    pub fn new(block: usize, out: W) -> Tiler<W> {
        Tiler {
            tiles: Tiles { block, in_block: 0 },
            last: 0.0,
            top: 0.0,
            peaks: VecDeque::new(),
            energies: VecDeque::new(),
            out,
            bytes: Vec::new(),
        }
    }

    /// Takes the true peaks of the next samples.
    pub fn peaks(&mut self, mut p: &[f32]) -> std::io::Result<()> {
        while !p.is_empty() {
            let n = self.tiles.left().min(p.len());
            let top = p[..n]
                .iter()
                .fold(self.top.max(self.last), |m, x| m.max(*x));
            self.last = p[n - 1];
            self.top = top;
            if self.tiles.advance(n) {
                self.peaks.push_back(top);
                self.top = 0.0;
            }
            p = &p[n..];
        }
        self.drain()
    }

    /// Takes the energies of the next whole tiles.
    pub fn energies(&mut self, e: &[f32]) -> std::io::Result<()> {
        self.energies.extend(e);
        self.drain()
    }

    fn drain(&mut self) -> std::io::Result<()> {
        let n = self.peaks.len().min(self.energies.len());
        self.bytes.clear();
        for (e, p) in self.energies.drain(..n).zip(self.peaks.drain(..n)) {
            self.bytes.extend(e.to_le_bytes());
            self.bytes.extend(p.to_le_bytes());
        }
        self.out.write_all(&self.bytes)
    }

    /// The writer, once every tile with both figures is written (a last partial tile has
    /// no energy: it belongs to no whole block).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The limiter's settings, as the model needs them.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Samples per 100 ms block.
    pub block: usize,
    /// The look-ahead window, samples.
    pub window: usize,
    /// The release coefficient per sample (as the limiter's).
    pub release: f64,
    /// The ceiling, linear.
    pub ceiling: f32,
}

/// Gains one evaluation of the model tries at once: their recurrences are independent, so
/// they run side by side for about the cost of one, and share the reading and bookkeeping.
pub const GAINS: usize = 4;

/// A tile waiting for the tiles after it (the average looks ahead a window).
#[derive(Debug, Clone, Copy)]
struct Pending {
    start: usize,
    len: usize,
    /// The released gain over the tile, for each gain tried.
    released: [f64; GAINS],
    /// The integral of the released gain over all samples before the tile, for each.
    before: [f64; GAINS],
    energy: f64,
    /// Whether it is the last tile of its block.
    closes: bool,
    /// Whether it is of the recording (not the silence after it).
    heard: bool,
}

impl Model {
    /// The integrated loudness, LUFS, that the limited output with each of `gains`
    /// (linear) would have, from the tiles in `tiles` (as [`Tiler`] wrote them). `None`:
    /// silence.
    pub fn loudness(
        &self,
        tiles: impl Read,
        gains: [f32; GAINS],
    ) -> std::io::Result<[Option<f64>; GAINS]> {
        let mut run = Run::new(self, gains);
        let mut reader = std::io::BufReader::with_capacity(1 << 16, tiles);
        let mut buf = vec![0u8; 8 * 4096];
        loop {
            let n = read_units(&mut reader, &mut buf, 8)?;
            if n == 0 {
                break;
            }
            for pair in buf[..n].chunks_exact(8) {
                let energy = f32::from_le_bytes(pair[..4].try_into().expect("4 bytes"));
                let peak = f32::from_le_bytes(pair[4..].try_into().expect("4 bytes"));
                run.tile(f64::from(energy), peak);
            }
        }
        let blocks = run.finish();
        Ok(std::array::from_fn(|i| {
            let g = f64::from(gains[i]);
            super::loudness::integrated(&blocks[i], g * g)
        }))
    }
}

/// One evaluation of the model, tile by tile.
struct Run<'a> {
    model: &'a Model,
    /// The peak over which each gain needs reducing: the ceiling over the gain.
    knee: [f32; GAINS],
    geometry: Tiles,
    /// The release's hold-over per whole tile, and per sample.
    keep_tile: f64,
    keep: f64,
    /// Candidates for the hold: (end of the tile, its peak), peaks decreasing; the gain a
    /// peak needs falls as the peak rises, whatever the gain, so one queue serves all.
    hold: VecDeque<(usize, f32)>,
    pending: VecDeque<Pending>,
    pos: usize,
    released: [f64; GAINS],
    /// The integral of the released gain over all samples so far.
    integral: [f64; GAINS],
    block_sum: [f64; GAINS],
    blocks: [Vec<f64>; GAINS],
}

impl<'a> Run<'a> {
    fn new(model: &'a Model, gains: [f32; GAINS]) -> Run<'a> {
        let keep = 1.0 - model.release;
        Run {
            model,
            knee: gains.map(|g| model.ceiling / g),
            geometry: Tiles {
                block: model.block,
                in_block: 0,
            },
            keep_tile: keep.powi(TILE as i32),
            keep,
            hold: VecDeque::new(),
            pending: VecDeque::new(),
            pos: 0,
            released: [1.0; GAINS],
            integral: [0.0; GAINS],
            block_sum: [0.0; GAINS],
            blocks: std::array::from_fn(|_| Vec::new()),
        }
    }

    /// Takes the next tile: its energy and its peak.
    fn tile(&mut self, energy: f64, peak: f32) {
        self.push(energy, peak, true);
    }

    fn push(&mut self, energy: f64, peak: f32, heard: bool) {
        let w = self.model.window;
        let len = self.geometry.left();
        let closes = self.geometry.advance(len) && self.geometry.in_block == 0;
        // Hold: the largest peak of the tiles ending within a window before the centre.
        let (end, centre) = (self.pos + len, self.pos + len / 2);
        while self.hold.back().is_some_and(|&(_, p)| p <= peak) {
            self.hold.pop_back();
        }
        self.hold.push_back((end, peak));
        while self.hold.front().is_some_and(|&(e, _)| e + w <= centre + 1) {
            self.hold.pop_front();
        }
        let top = self.hold.front().map_or(0.0, |&(_, p)| p);
        let k = if len == TILE {
            self.keep_tile
        } else {
            self.keep.powi(len as i32)
        };
        let before = self.integral;
        for i in 0..GAINS {
            let held = if top > self.knee[i] {
                f64::from(self.knee[i] / top)
            } else {
                1.0
            };
            let r = held.min(k * self.released[i] + (1.0 - k) * held);
            self.released[i] = r;
            self.integral[i] += len as f64 * r;
        }
        self.pending.push_back(Pending {
            start: self.pos,
            len,
            released: self.released,
            before,
            energy,
            closes,
            heard,
        });
        self.pos = end;
        self.settle();
    }

    /// Settles the tiles whose look-ahead window is all known.
    fn settle(&mut self) {
        let w = self.model.window as f64;
        while let Some(t) = self.pending.front().copied() {
            let half = t.len as f64 / 2.0;
            let end = t.start as f64 + half + w;
            if end > self.pos as f64 {
                break;
            }
            let q = self
                .pending
                .iter()
                .rev()
                .find(|q| q.start as f64 <= end)
                .expect("the front tile starts before");
            let into = end - q.start as f64;
            for i in 0..GAINS {
                let at_end = q.before[i] + into * q.released[i];
                let at_centre = t.before[i] + half * t.released[i];
                let g = ((at_end - at_centre) / w).min(1.0);
                self.block_sum[i] += g * g * t.energy;
            }
            // A block is only counted whole (its last tile heard, not the silence after).
            if t.closes && t.heard {
                for i in 0..GAINS {
                    self.blocks[i].push(self.block_sum[i] / self.model.block as f64);
                    self.block_sum[i] = 0.0;
                }
            }
            self.pending.pop_front();
        }
    }

    /// After the end the limiter hears silence, so its gain comes back up: the tiles still
    /// waiting are settled as if tiles of no energy and no peak followed.
    fn finish(mut self) -> [Vec<f64>; GAINS] {
        while self.pending.iter().any(|t| t.heard) {
            self.push(0.0, 0.0, false);
        }
        self.blocks
    }
}

/// Fills `buf` from `r` as far as it can; the bytes read, cut down to whole `unit`s.
pub(super) fn read_units(r: &mut impl Read, buf: &mut [u8], unit: usize) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n - n % unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::limiter::{Limiter, TruePeak};
    use crate::audio::loudness::{BlockMeter, integrated};

    /// Speech-like bursts of two tones with sharp clicks (peaks well above the loudness)
    /// over a little noise.
    fn peaky(rate: u32, seconds: f64) -> Vec<f32> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        (0..(seconds * f64::from(rate)) as usize)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let noise = (s >> 40) as f64 / (1u64 << 24) as f64 - 0.5;
                let env = if (t * 1.3).fract() < 0.6 { 0.1 } else { 0.002 };
                let tone = (t * 180.0 * std::f64::consts::TAU).sin()
                    + 0.4 * (t * 2300.0 * std::f64::consts::TAU).sin();
                let click = if i % 1777 < 6 { 0.6 } else { 0.0 };
                (env * tone + click * noise.signum() + 0.001 * noise) as f32
            })
            .collect()
    }

    /// The true peak of every sample, aligned with it.
    fn peaks(x: &[f32]) -> Vec<f32> {
        let mut tp = TruePeak::new();
        let mut p = Vec::new();
        tp.process(x, &mut p);
        tp.finish(&mut p);
        p.split_off(TruePeak::DELAY)
    }

    /// The tiles the first pass would write, fed in uneven pieces.
    fn tiles(x: &[f32], rate: u32) -> (Vec<u8>, BlockMeter) {
        let p = peaks(x);
        let mut meter = BlockMeter::new(rate);
        let mut tiler = Tiler::new(meter.block_len(), Vec::new());
        let mut energies = Vec::new();
        for (xs, ps) in x.chunks(3001).zip(p.chunks(3001)) {
            energies.clear();
            meter.push_tiled(xs, &mut energies);
            tiler.energies(&energies).unwrap();
            tiler.peaks(ps).unwrap();
        }
        (tiler.into_inner(), meter)
    }

    fn model(rate: u32, ceiling: f32) -> Model {
        let l = Limiter::new(ceiling, rate, 0.005, 0.08);
        Model {
            block: BlockMeter::new(rate).block_len(),
            window: l.latency() + 1,
            release: l.release_coefficient(),
            ceiling,
        }
    }

    /// The loudness of `x` turned up by `gain` through the limiter itself.
    fn limited(x: &[f32], rate: u32, ceiling: f32, gain: f32) -> Option<f64> {
        let mut l = Limiter::new(ceiling, rate, 0.005, 0.08);
        let mut out = Vec::new();
        l.process(x, &peaks(x), gain, &mut out);
        l.flush(&mut out);
        let mut m = BlockMeter::new(rate);
        m.push(&out);
        m.integrated()
    }

    #[test]
    fn tiles_split_each_block_and_carry_its_energy_and_the_peaks_the_limiter_sees() {
        for rate in [16_000, 22_050] {
            let x = peaky(rate, 2.35);
            let (bytes, meter) = tiles(&x, rate);
            let pairs: Vec<(f32, f32)> = bytes
                .chunks_exact(8)
                .map(|b| {
                    let f = |i: usize| f32::from_le_bytes(b[i..i + 4].try_into().unwrap());
                    (f(0), f(4))
                })
                .collect();
            let block = meter.block_len();
            let per_block = block.div_ceil(TILE);
            // Every tile of the 23 whole blocks, and of the part of the 24th.
            let tail = (x.len() % block) / TILE;
            assert_eq!(pairs.len(), 23 * per_block + tail, "{rate} Hz");
            for (b, want) in meter.blocks().iter().enumerate() {
                let sum: f64 = pairs[b * per_block..(b + 1) * per_block]
                    .iter()
                    .map(|p| f64::from(p.0))
                    .sum();
                let got = sum / block as f64;
                assert!((got - want).abs() <= 1e-5 * want, "{rate} Hz block {b}");
            }
            // A tile's peak is the largest of its samples' and the one before it.
            let p = peaks(&x);
            let start = |t: usize| (t / per_block) * block + (t % per_block) * TILE;
            for t in [0, 1, per_block - 1, per_block, 5 * per_block + 3] {
                let end = (start(t) + TILE).min((t / per_block + 1) * block);
                let from = start(t).saturating_sub(1);
                let want = p[from..end].iter().fold(0f32, |m, v| m.max(*v));
                assert_eq!(pairs[t].1, want, "{rate} Hz tile {t}");
            }
        }
    }

    #[test]
    fn the_model_gives_the_limited_loudness_within_a_twentieth_of_a_lu() {
        for rate in [16_000, 22_050] {
            let x = peaky(rate, 12.0);
            let (bytes, _) = tiles(&x, rate);
            let ceiling = 0.8;
            let gains = [0.5f32, 1.0, 2.0, 4.0];
            let mut plain = BlockMeter::new(rate);
            plain.push(&x);
            let got = model(rate, ceiling).loudness(&bytes[..], gains).unwrap();
            for (g, m) in gains.into_iter().zip(got) {
                let want = limited(&x, rate, ceiling, g).unwrap();
                let m = m.unwrap();
                assert!(
                    (m - want).abs() < 0.05,
                    "{rate} Hz, gain {g}: {m} vs {want}"
                );
                let unlimited = integrated(plain.blocks(), f64::from(g * g)).unwrap();
                if g >= 2.0 {
                    // The limiter takes a good deal off: the test measures the model.
                    assert!(unlimited - want > 1.0, "{rate} Hz, gain {g}: {unlimited}");
                }
            }
        }
    }

    #[test]
    fn without_limiting_the_model_is_the_meter() {
        let rate = 16_000;
        let x = peaky(rate, 6.0);
        let (bytes, meter) = tiles(&x, rate);
        let gains = [0.1f32, 0.2, 0.3, 0.5];
        let got = model(rate, 1.0).loudness(&bytes[..], gains).unwrap();
        for (g, m) in gains.into_iter().zip(got) {
            let want = integrated(meter.blocks(), f64::from(g * g)).unwrap();
            assert!((m.unwrap() - want).abs() < 1e-4, "gain {g}");
        }
    }

    #[test]
    fn silence_has_no_modelled_loudness() {
        let (bytes, _) = tiles(&[0.0; 32_000], 16_000);
        let got = model(16_000, 0.8)
            .loudness(&bytes[..], [1.0; GAINS])
            .unwrap();
        assert_eq!(got, [None; GAINS]);
    }
}

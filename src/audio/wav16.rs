//! Writing mono 16-bit PCM WAVs whose length is known before the first sample: the header
//! is final from the start, so the bytes can be hashed as they are written (no file is
//! read back to hash it), and the file is fsynced before it counts as written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::decode::AudioError;
use crate::hash::{Fixity, HashingWriter};

/// Bytes of the canonical header (`RIFF`, a 16-byte PCM `fmt ` chunk, `data`).
pub const HEADER_LEN: u64 = 44;

/// The canonical 44-byte header of a mono 16-bit PCM WAV of `frames` frames at `rate`;
/// `None` when the data would not fit a RIFF file's 32-bit sizes.
pub fn header(rate: u32, frames: u64) -> Option<[u8; HEADER_LEN as usize]> {
    let data = u32::try_from(frames.checked_mul(2)?).ok()?;
    let riff = data.checked_add(HEADER_LEN as u32 - 8)?;
    let mut h = [0u8; HEADER_LEN as usize];
    let fields: [&[u8]; 13] = [
        b"RIFF",
        &riff.to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &16u32.to_le_bytes(),
        &1u16.to_le_bytes(), // PCM
        &1u16.to_le_bytes(), // mono
        &rate.to_le_bytes(),
        &(rate * 2).to_le_bytes(), // bytes per second
        &2u16.to_le_bytes(),       // bytes per frame
        &16u16.to_le_bytes(),      // bits per sample
        b"data",
        &data.to_le_bytes(),
    ];
    let mut at = 0;
    for f in fields {
        h[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    Some(h)
}

/// A new mono 16-bit WAV being written: exactly the frames its header announces, hashed on
/// the way to the disk.
pub struct Wav16Writer {
    path: PathBuf,
    out: HashingWriter<BufWriter<File>>,
    frames: u64,
    written: u64,
}

impl Wav16Writer {
    /// Creates the new file `path` for `frames` frames at `rate` (refusing an existing
    /// file, and a length a WAV cannot hold).
    pub fn create(path: &Path, rate: u32, frames: u64) -> Result<Wav16Writer, AudioError> {
        let Some(head) = header(rate, frames) else {
            return Err(AudioError::Corrupt(format!(
                "{}: {frames} frames do not fit a WAV file",
                path.display()
            )));
        };
        let file = crate::fsutil::create_new(path).map_err(AudioError::from)?;
        let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        out.write_all(&head)?;
        Ok(Wav16Writer {
            path: path.to_path_buf(),
            out,
            frames,
            written: 0,
        })
    }

    /// Appends `pcm`.
    pub fn samples(&mut self, pcm: &[i16], bytes: &mut Vec<u8>) -> Result<(), AudioError> {
        bytes.clear();
        bytes.extend(pcm.iter().flat_map(|s| s.to_le_bytes()));
        self.data(bytes)
    }

    /// Appends samples already in the file's form (little-endian 16-bit; an even length).
    pub fn data(&mut self, le: &[u8]) -> Result<(), AudioError> {
        debug_assert!(le.len().is_multiple_of(2));
        self.written += le.len() as u64 / 2;
        if self.written > self.frames {
            return Err(self.miscounted());
        }
        self.out.write_all(le)?;
        Ok(())
    }

    /// Flushes and fsyncs the file, which must hold the frames announced; returns its
    /// fixity.
    pub fn finish(self) -> Result<Fixity, AudioError> {
        if self.written != self.frames {
            return Err(self.miscounted());
        }
        let (buffered, fixity) = self.out.finish();
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(fixity)
    }

    fn miscounted(&self) -> AudioError {
        AudioError::Corrupt(format!(
            "{}: {} frames written where {} were announced",
            self.path.display(),
            self.written,
            self.frames
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_one_hound_writes_and_the_hash_is_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let pcm: Vec<i16> = (0..1000).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        let ours = dir.path().join("ours.wav");
        let mut w = Wav16Writer::create(&ours, 16_000, pcm.len() as u64).unwrap();
        let mut bytes = Vec::new();
        w.samples(&pcm[..300], &mut bytes).unwrap();
        w.samples(&pcm[300..], &mut bytes).unwrap();
        let fixity = w.finish().unwrap();

        let theirs = dir.path().join("hound.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut h = hound::WavWriter::create(&theirs, spec).unwrap();
        for s in &pcm {
            h.write_sample(*s).unwrap();
        }
        h.finalize().unwrap();
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            std::fs::read(&theirs).unwrap()
        );
        assert_eq!(fixity, crate::hash::hash_file(&ours).unwrap());
    }

    #[test]
    fn writing_more_or_fewer_frames_than_announced_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        let mut w = Wav16Writer::create(&dir.path().join("a.wav"), 8000, 2).unwrap();
        w.samples(&[1, 2], &mut bytes).unwrap();
        let e = w.samples(&[3], &mut bytes).unwrap_err();
        assert!(e.to_string().contains("3 frames written where 2"), "{e}");
        let mut w = Wav16Writer::create(&dir.path().join("b.wav"), 8000, 2).unwrap();
        w.samples(&[1], &mut bytes).unwrap();
        assert!(w.finish().is_err());
        assert!(Wav16Writer::create(&dir.path().join("c.wav"), 8000, u64::from(u32::MAX)).is_err());
    }
}

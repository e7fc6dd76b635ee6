//! Metadata in an original that can identify a person: where it was recorded, on which
//! device, by or about whom (names, titles, comments), pictures. [`detect`] says which
//! *kinds* a file carries (never their values); [`strip`] writes a copy without them, for
//! `encrypt --strip-metadata`. One module per container; each reads with hard bounds,
//! since everything on disk is hostile.
//!
//! What stripping keeps: the audio, and what a decoder needs to play it at the same length
//! (the iTunes gapless tag `iTunSMPB` in MP4 and in an MP3's ID3 `COMM` frame, the Ogg
//! vendor string, FLAC's STREAMINFO/SEEKTABLE). What it does not touch: the MP4 `mvhd`/
//! `mdhd` creation times, which are part of the structure, not tags.

mod flac;
mod id3;
mod keys;
mod mp4;
mod ogg;
mod riff;
mod xmp;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A kind of identifying metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A place: GPS coordinates or a named location.
    Location,
    /// The device: its make, model or software.
    Device,
    /// A person's name: artist, author, owner, composer, copyright holder.
    Person,
    /// Free text that may name someone: a title, comment, description, lyrics.
    Text,
    /// An embedded picture (cover art).
    Picture,
    /// Any other tag a person or program wrote that visitrec does not know to be harmless,
    /// tags too damaged to read, or a container whose tags visitrec does not read.
    Other,
}

impl Kind {
    /// The kind's name, as `recording.json` has it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Location => "location",
            Kind::Device => "device",
            Kind::Person => "person",
            Kind::Text => "text",
            Kind::Picture => "picture",
            Kind::Other => "other",
        }
    }
}

/// The kinds found in one file.
pub type Kinds = BTreeSet<Kind>;

/// The largest tag, box or header read into memory (hostile sizes beyond it are refused).
const MAX_TAG: u64 = 64 << 20;

/// The containers that carry tags visitrec reads and strips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Mp4,
    /// MPEG audio (MP3) or ADTS, with ID3/APE tags around it.
    Mpeg,
    Ogg,
    Flac,
    Wav,
    /// AMR: the format has no tags.
    Amr,
}

/// Why a file could not be stripped.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    /// Reading the original or writing the copy failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The file's structure is not one visitrec can rewrite safely.
    #[error("{0}")]
    Unsupported(String),
}

fn unsupported<T>(why: impl Into<String>) -> Result<T, StripError> {
    Err(StripError::Unsupported(why.into()))
}

/// Tells the container from the first bytes (after any leading ID3v2 tags).
fn sniff<R: Read + Seek>(r: &mut R) -> io::Result<Option<Container>> {
    let start = id3::skip_leading(r)?;
    r.seek(SeekFrom::Start(start))?;
    let mut head = [0u8; 12];
    let n = read_up_to(r, &mut head)?;
    let head = &head[..n];
    Ok(if head.len() >= 8 && &head[4..8] == b"ftyp" && start == 0 {
        Some(Container::Mp4)
    } else if head.starts_with(b"OggS") && start == 0 {
        Some(Container::Ogg)
    } else if head.starts_with(b"fLaC") {
        Some(Container::Flac)
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WAVE" {
        Some(Container::Wav)
    } else if head.starts_with(b"#!AMR") && start == 0 {
        Some(Container::Amr)
    } else if start > 0 || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        // ID3v2 first, then (perhaps after junk) MPEG audio or ADTS frames.
        Some(Container::Mpeg)
    } else {
        None
    })
}

/// Reads as much of `buf` as the reader has.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads exactly `len` bytes at `pos`, refusing more than [`MAX_TAG`] or more than the
/// file holds (before allocating anything).
fn read_at<R: Read + Seek>(r: &mut R, pos: u64, len: u64) -> io::Result<Vec<u8>> {
    if len > MAX_TAG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a tag of {len} bytes is larger than visitrec reads"),
        ));
    }
    if pos.saturating_add(len) > r.seek(SeekFrom::End(0))? {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "a tag runs past the end of the file",
        ));
    }
    r.seek(SeekFrom::Start(pos))?;
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// Copies `len` bytes from `pos` of `r` to `w`.
fn copy_range<R: Read + Seek, W: Write>(
    r: &mut R,
    pos: u64,
    len: u64,
    w: &mut W,
) -> io::Result<()> {
    r.seek(SeekFrom::Start(pos))?;
    let n = io::copy(&mut r.by_ref().take(len), w)?;
    if n != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file ended early",
        ));
    }
    Ok(())
}

/// The kinds of identifying metadata in the file at `path`. A file whose tags cannot be
/// parsed has what could be read, and [`Kind::Other`]; so has a container whose tags
/// visitrec does not read (CAF, Matroska/WebM, AIFF, …): it cannot say they are absent.
pub fn detect(path: &Path) -> io::Result<Kinds> {
    let mut f = io::BufReader::new(File::open(path)?);
    detect_in(&mut f)
}

/// [`detect`] on an open reader.
pub fn detect_in<R: Read + Seek>(r: &mut R) -> io::Result<Kinds> {
    let mut kinds = Kinds::new();
    let Some(container) = sniff(r)? else {
        kinds.insert(Kind::Other);
        return Ok(kinds);
    };
    let found = match container {
        Container::Mp4 => mp4::detect(r, &mut kinds),
        Container::Mpeg => id3::detect_mpeg(r, &mut kinds),
        Container::Ogg => ogg::detect(r, &mut kinds),
        Container::Flac => flac::detect(r, &mut kinds),
        Container::Wav => riff::detect(r, &mut kinds),
        Container::Amr => Ok(()),
    };
    match found {
        // Hostile or damaged tags: what was found so far stands, and the rest is unknown.
        Err(e)
            if e.kind() == io::ErrorKind::InvalidData
                || e.kind() == io::ErrorKind::UnexpectedEof =>
        {
            kinds.insert(Kind::Other);
            Ok(kinds)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(kinds),
    }
}

/// Writes `r` to `w` without its identifying metadata (see the module comment). The copy
/// decodes to the same samples. Fails, having written only part of `w`, when the file's
/// structure is one visitrec cannot rewrite safely: the caller discards `w` then.
pub fn strip<R: Read + Seek, W: Write>(r: &mut R, w: &mut W) -> Result<(), StripError> {
    let Some(container) = sniff(r)? else {
        return unsupported("visitrec cannot tell its container, so cannot strip its metadata");
    };
    r.seek(SeekFrom::Start(0))?;
    match container {
        Container::Mp4 => mp4::strip(r, w),
        Container::Mpeg => id3::strip_mpeg(r, w),
        Container::Ogg => ogg::strip(r, w),
        Container::Flac => flac::strip(r, w),
        Container::Wav => riff::strip(r, w),
        Container::Amr => {
            let len = r.seek(SeekFrom::End(0))?;
            Ok(copy_range(r, 0, len, w)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    proptest! {
        /// Arbitrary bytes behind each container's magic never panic either reader.
        #[test]
        fn hostile_bytes_never_panic(
            magic in 0usize..7,
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let prefix: &[u8] = [
                &b"\0\0\0\x18ftypM4A "[..], b"ID3\x03\0\0", b"ID3\x04\0\x00\0\0\0\x10fLaC",
                b"OggS\0\x02", b"fLaC", b"RIFF\xff\xff\xff\xffWAVE", b"\xff\xfb",
            ][magic];
            let mut data = prefix.to_vec();
            data.extend_from_slice(&body);
            let _ = detect_in(&mut Cursor::new(&data));
            let _ = strip(&mut Cursor::new(&data), &mut Vec::new());
        }

        /// A real tagged file of each container with a huge or garbage size written over
        /// any 4 bytes (and a byte flipped elsewhere) never panics either reader.
        #[test]
        fn hostile_sizes_in_real_files_never_panic(
            file in 0usize..7,
            at in any::<proptest::sample::Index>(),
            size in prop_oneof![Just(u32::MAX), Just(0u32), Just(1), Just(8), Just(0x7fff_ffff), any::<u32>()],
            flip in any::<proptest::sample::Index>(),
        ) {
            let name = ["iphone-keys.m4a", "gapless-named.m4a", "tagged.mp3", "tagged.opus",
                "tagged.ogg", "cover.flac", "info.wav"][file];
            let path = format!("{}/tests/fixtures/identifying/{name}", env!("CARGO_MANIFEST_DIR"));
            let mut data = std::fs::read(path).unwrap();
            // Tags sit near the start (or, for MP4 with moov last, anywhere): any offset.
            let i = at.index(data.len() - 4);
            let bytes = if i % 2 == 0 { size.to_be_bytes() } else { size.to_le_bytes() };
            data[i..i + 4].copy_from_slice(&bytes);
            let j = flip.index(data.len());
            data[j] ^= 0x5a;
            let _ = detect_in(&mut Cursor::new(&data));
            let _ = strip(&mut Cursor::new(&data), &mut Vec::new());
        }
    }
}

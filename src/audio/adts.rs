//! Damage to an ADTS (raw AAC) stream: symphonia's reader takes a file that ends inside a
//! frame header for its end, and resynchronises past frames whose header is damaged, either
//! of which would keep a silently shortened recording. Frames are
//! followed by their headers' lengths only; memory stays constant whatever the file holds.

use std::io::{self, BufRead, Seek, SeekFrom};

/// The fixed part of an ADTS frame header.
const HEADER: u64 = 7;

/// Where an ADTS stream is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The file ends inside the frame starting here: a header cut short (fewer than 7 bytes
    /// left after the last whole frame) or one declaring a frame longer than what is left.
    Cut(u64),
    /// Where the previous frame's length leads, there is no frame header (nor a trailing
    /// ID3v1 or APE tag), or one whose fixed part (profile, rate, channels) differs from the
    /// first's: symphonia's reader would resynchronise past lost frames, stop, or misread
    /// the length.
    Invalid(u64),
}

/// Follows the frames from the start (after an ID3v2 tag) by their headers' lengths: the
/// file is one symphonia recognised as ADTS, so anything else where a header should be is
/// damage (at the start, symphonia would skip to the next frame). `None` when the frames
/// end with the file.
pub fn damage<R: BufRead + Seek>(r: &mut R) -> io::Result<Option<Damage>> {
    let len = r.seek(SeekFrom::End(0))?;
    r.rewind()?;
    let start = id3v2_len(r)?;
    let mut pos = start;
    r.seek(SeekFrom::Start(pos))?;
    let mut h = [0u8; HEADER as usize];
    let mut first = None;
    while pos < len {
        let left = len - pos;
        if left < HEADER {
            return Ok(Some(Damage::Cut(pos)));
        }
        r.read_exact(&mut h)?;
        let frame = (u64::from(h[3] & 0x03) << 11) | (u64::from(h[4]) << 3) | u64::from(h[5] >> 5);
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 || frame < HEADER {
            return Ok(match pos > start && trailing_tag(r, &h, left)? {
                true => None,
                false => Some(Damage::Invalid(pos)),
            });
        }
        // The fixed header (profile, rate, channels) is the same in every frame.
        let fixed = [h[1], h[2], h[3] & 0xF0];
        if *first.get_or_insert(fixed) != fixed {
            return Ok(Some(Damage::Invalid(pos)));
        }
        if frame > left {
            return Ok(Some(Damage::Cut(pos)));
        }
        r.seek_relative((frame - HEADER) as i64)?;
        pos += frame;
    }
    Ok(None)
}

/// Whether the `left` bytes from here, starting with `h`, are a tag players append: an
/// ID3v1 tag (128 bytes, `TAG`), an APE tag (`APETAGEX`) or an ID3v2 tag (`ID3`).
fn trailing_tag<R: BufRead>(r: &mut R, h: &[u8; 7], left: u64) -> io::Result<bool> {
    if h.starts_with(b"TAG") && left == 128 || h.starts_with(b"ID3") {
        return Ok(true);
    }
    let mut more = [0u8; 1];
    Ok(h.starts_with(b"APETAGE") && r.read(&mut more)? == 1 && more[0] == b'X')
}

/// The length of an ID3v2 tag at the start (0 if none).
fn id3v2_len<R: BufRead>(r: &mut R) -> io::Result<u64> {
    let mut h = [0u8; 10];
    if r.read_exact(&mut h).is_err() || &h[..3] != b"ID3" {
        return Ok(0);
    }
    let size = h[6..10]
        .iter()
        .fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7F));
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Ok(10 + size + footer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// An ADTS frame of `len` bytes (header included).
    fn frame(len: usize) -> Vec<u8> {
        let mut f = vec![0xFF, 0xF1, 0x50, 0x80, 0, 0x1F, 0xFC];
        f[3] |= (len >> 11) as u8 & 0x03;
        f[4] = (len >> 3) as u8;
        f[5] |= ((len & 7) as u8) << 5;
        f.resize(len, 0x21);
        f
    }

    fn cut(b: &[u8]) -> Option<Damage> {
        damage(&mut Cursor::new(b)).unwrap()
    }

    #[test]
    fn whole_frames_end_cleanly_and_a_cut_or_lost_frame_is_found() {
        let whole = [frame(100), frame(37), frame(250)].concat();
        assert_eq!(cut(&whole), None);
        for extra in 1..7 {
            let b = [whole.clone(), frame(80)[..extra].to_vec()].concat();
            assert_eq!(cut(&b), Some(Damage::Cut(387)), "{extra} bytes of a header");
        }
        assert_eq!(cut(&whole[..300]), Some(Damage::Cut(137)));
        let tagged = [
            b"ID3\x04\0\0\0\0\0\x05".to_vec(),
            vec![0; 5],
            whole[..150].to_vec(),
        ];
        assert_eq!(cut(&tagged.concat()), Some(Damage::Cut(15 + 137)));
        // A few stray bytes after the last frame are a cut header too.
        let stray = [whole.clone(), b"TAG".to_vec()].concat();
        assert_eq!(cut(&stray), Some(Damage::Cut(387)));
        // A frame's length changed: the next header is not where it leads.
        let mut b = whole.clone();
        b[4] ^= 0x01;
        assert_eq!(cut(&b), Some(Damage::Invalid(108)));
        // The first frame's sample rate changed: the second disagrees with it.
        let mut b = whole.clone();
        b[2] ^= 0x04;
        assert_eq!(cut(&b), Some(Damage::Invalid(100)));
        // Appended tags are no damage.
        let mut id3v1 = b"TAG".to_vec();
        id3v1.resize(128, b' ');
        assert_eq!(cut(&[whole.clone(), id3v1].concat()), None);
        assert_eq!(
            cut(&[whole.clone(), b"APETAGEX and more".to_vec()].concat()),
            None
        );
        assert_eq!(
            cut(&[whole, b"ID3\x04".to_vec(), vec![0; 20]].concat()),
            None
        );
        // Bytes where the first header should be: symphonia would skip that frame.
        assert_eq!(cut(b"not adts at all"), Some(Damage::Invalid(0)));
        assert_eq!(cut(&[0xFF, 0xF1]), Some(Damage::Cut(0)));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_walked_safely(b in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = cut(&b);
        }
    }
}

//! The end of an ADTS (raw AAC) stream: symphonia's reader takes a file that ends inside a
//! frame header for its end, which would keep a silently shortened recording. Frames are
//! followed by their headers' lengths only; memory stays constant whatever the file holds.

use std::io::{self, BufRead, Seek, SeekFrom};

/// The fixed part of an ADTS frame header.
const HEADER: u64 = 7;

/// Where the frame the file ends inside starts, if it does: a header cut short (fewer than
/// 7 bytes left after the last whole frame) or one declaring a frame longer than what is
/// left. `None` when the frames end with the file, or when the walk meets something that is
/// not a frame header (symphonia's reader resynchronises there; that is not a cut end).
pub fn cut_frame<R: BufRead + Seek>(r: &mut R) -> io::Result<Option<u64>> {
    let len = r.seek(SeekFrom::End(0))?;
    r.rewind()?;
    let mut pos = id3v2_len(r)?;
    r.seek(SeekFrom::Start(pos))?;
    let mut h = [0u8; HEADER as usize];
    while pos < len {
        let left = len - pos;
        if left < HEADER {
            return Ok(Some(pos));
        }
        r.read_exact(&mut h)?;
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            return Ok(None);
        }
        let frame = (u64::from(h[3] & 0x03) << 11) | (u64::from(h[4]) << 3) | u64::from(h[5] >> 5);
        if frame < HEADER {
            return Ok(None);
        }
        if frame > left {
            return Ok(Some(pos));
        }
        r.seek_relative((frame - HEADER) as i64)?;
        pos += frame;
    }
    Ok(None)
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

    fn cut(b: &[u8]) -> Option<u64> {
        cut_frame(&mut Cursor::new(b)).unwrap()
    }

    #[test]
    fn whole_frames_end_cleanly_and_a_cut_header_or_frame_is_found() {
        let whole = [frame(100), frame(37), frame(250)].concat();
        assert_eq!(cut(&whole), None);
        for extra in 1..7 {
            let b = [whole.clone(), frame(80)[..extra].to_vec()].concat();
            assert_eq!(cut(&b), Some(387), "{extra} bytes of a header");
        }
        assert_eq!(cut(&whole[..300]), Some(137));
        let tagged = [
            b"ID3\x04\0\0\0\0\0\x05".to_vec(),
            vec![0; 5],
            whole[..150].to_vec(),
        ];
        assert_eq!(cut(&tagged.concat()), Some(15 + 137));
        // A few stray bytes after the last frame are a cut header too; a longer run of
        // something else (an ID3v1 tag) is the resynchronising reader's business.
        assert_eq!(cut(&[whole.clone(), b"TAG".to_vec()].concat()), Some(387));
        assert_eq!(cut(&[whole, [b'T'; 128].to_vec()].concat()), None);
        assert_eq!(cut(b"not adts at all"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_walked_safely(b in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = cut(&b);
        }
    }
}

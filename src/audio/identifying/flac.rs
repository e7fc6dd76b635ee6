//! FLAC: the tags are metadata blocks (VORBIS_COMMENT, PICTURE, APPLICATION) before the
//! audio frames, sometimes behind an ID3v2 tag. Stripping drops those blocks and the ID3
//! tag, and marks the last block kept as the last.

use std::io::{self, Read, Seek, Write};

use super::{Kind, Kinds, StripError, copy_range, id3, keys, read_at, unsupported};

const VORBIS_COMMENT: u8 = 4;
const PICTURE: u8 = 6;
const APPLICATION: u8 = 2;

/// A metadata block: its type, where it starts (header included), its length, and whether
/// it is marked last.
struct Block {
    kind: u8,
    start: u64,
    len: u64,
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("FLAC: {why}"))
}

/// The metadata blocks, and where the audio frames start.
fn blocks<R: Read + Seek>(r: &mut R) -> io::Result<(Vec<Block>, u64)> {
    let magic = id3::skip_leading(r)?;
    let end = r.seek(io::SeekFrom::End(0))?;
    if read_at(r, magic, 4)? != b"fLaC" {
        return Err(bad("no fLaC marker"));
    }
    let mut pos = magic + 4;
    let mut out = Vec::new();
    loop {
        let h = read_at(r, pos, 4)?;
        let len = u64::from(u32::from_be_bytes([0, h[1], h[2], h[3]]));
        if pos + 4 + len > end || out.len() > 10_000 {
            return Err(bad("a metadata block runs past the end of the file"));
        }
        out.push(Block {
            kind: h[0] & 0x7f,
            start: pos,
            len: 4 + len,
        });
        pos += 4 + len;
        if h[0] & 0x80 != 0 {
            return Ok((out, pos));
        }
    }
}

fn is_tag(kind: u8) -> bool {
    matches!(kind, VORBIS_COMMENT | PICTURE | APPLICATION)
}

/// Records the kinds of identifying metadata in a FLAC file.
pub fn detect<R: Read + Seek>(r: &mut R, kinds: &mut Kinds) -> io::Result<()> {
    let (_, tags) = id3::leading_tags(r)?;
    for t in &tags {
        id3::detect_tag(t, kinds)?;
    }
    let (blocks, _) = blocks(r)?;
    for b in &blocks {
        match b.kind {
            VORBIS_COMMENT => keys::vorbis_comments(&read_at(r, b.start + 4, b.len - 4)?, kinds)?,
            PICTURE => {
                kinds.insert(Kind::Picture);
            }
            APPLICATION => {
                kinds.insert(Kind::Other);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes a FLAC file without its tag blocks (and without a leading ID3v2 tag).
pub fn strip<R: Read + Seek, W: Write>(r: &mut R, w: &mut W) -> Result<(), StripError> {
    let (blocks, audio) = blocks(r).map_err(|e| StripError::Unsupported(e.to_string()))?;
    let kept: Vec<&Block> = blocks.iter().filter(|b| !is_tag(b.kind)).collect();
    if kept.first().is_none_or(|b| b.kind != 0) {
        return unsupported("FLAC without a STREAMINFO block first");
    }
    w.write_all(b"fLaC")?;
    for (i, b) in kept.iter().enumerate() {
        let mut block = read_at(r, b.start, b.len)?;
        block[0] = b.kind | if i + 1 == kept.len() { 0x80 } else { 0 };
        w.write_all(&block)?;
    }
    let end = r.seek(io::SeekFrom::End(0))?;
    copy_range(r, audio, end - audio, w)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn block(kind: u8, last: bool, body: &[u8]) -> Vec<u8> {
        let n = body.len() as u32;
        let mut b = vec![
            kind | if last { 0x80 } else { 0 },
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
        ];
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn drops_comment_and_picture_blocks_and_marks_the_last() {
        let mut comment = 3u32.to_le_bytes().to_vec();
        comment.extend_from_slice(b"Lav");
        comment.extend_from_slice(&1u32.to_le_bytes());
        comment.extend_from_slice(&8u32.to_le_bytes());
        comment.extend_from_slice(b"ARTIST=Z");
        let mut f = b"fLaC".to_vec();
        f.extend(block(0, false, &[1u8; 34]));
        f.extend(block(VORBIS_COMMENT, false, &comment));
        f.extend(block(PICTURE, true, &[0u8; 40]));
        f.extend_from_slice(&[0xff, 0xf8, 1, 2, 3]);
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&f), &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Person, Kind::Picture]));
        let mut out = Vec::new();
        strip(&mut Cursor::new(&f), &mut out).unwrap();
        let mut want = b"fLaC".to_vec();
        want.extend(block(0, true, &[1u8; 34]));
        want.extend_from_slice(&[0xff, 0xf8, 1, 2, 3]);
        assert_eq!(out, want);
        // Behind an ID3v2 tag (some taggers put one first): found, and dropped too.
        let mut tagged = b"ID3\x03\0\0\0\0\0\x0eTPE1\0\0\0\x04\0\0\0Zoe".to_vec();
        tagged.extend_from_slice(&f);
        let mut k = Kinds::new();
        crate::audio::identifying::detect_in(&mut Cursor::new(&tagged))
            .unwrap()
            .iter()
            .for_each(|x| {
                k.insert(*x);
            });
        assert_eq!(k, Kinds::from([Kind::Person, Kind::Picture]));
        let mut out = Vec::new();
        crate::audio::identifying::strip(&mut Cursor::new(&tagged), &mut out).unwrap();
        assert_eq!(out, want);
    }
}

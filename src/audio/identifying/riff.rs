//! WAV (RIFF): tags are chunks beside `fmt ` and `data`: `LIST` (`INFO` text, `adtl`
//! labels), `id3 `, `bext` (broadcast originator), `iXML`, `_PMX`/`XMP ` (XMP), and any
//! chunk visitrec does not know to be harmless; so are bytes past the RIFF size (text
//! appended to the file). Stripping drops all of those and fixes the RIFF size.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::{Kind, Kinds, StripError, copy_range, id3, read_at, unsupported, xmp};

/// A chunk: its id, where it starts (header included), its length with the header and
/// the pad byte, and whether it lies past the RIFF size (bytes appended to the file).
struct Chunk {
    id: [u8; 4],
    start: u64,
    len: u64,
    trailing: bool,
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("WAV: {why}"))
}

/// The chunks of a RIFF/WAVE file. A last chunk longer than the file (a recorder that
/// never finished its header) runs to the end of the file; so does a tail too short for a
/// chunk header. Chunks past the RIFF size are marked trailing, unless that size is wrong
/// (it ends before the `data` chunk does: an unfinished header), when none is.
fn chunks<R: Read + Seek>(r: &mut R) -> io::Result<Vec<Chunk>> {
    let end = r.seek(SeekFrom::End(0))?;
    let riff = read_at(r, 0, 12)?;
    let riff_end = 8 + u64::from(u32::from_le_bytes(riff[4..8].try_into().expect("4")));
    let mut pos = 12;
    let mut out = Vec::new();
    while pos < end {
        let (id, size) = if pos + 8 <= end {
            let h = read_at(r, pos, 8)?;
            let size = u64::from(u32::from_le_bytes(h[4..8].try_into().expect("4")));
            (h[0..4].try_into().expect("4"), size)
        } else {
            (*b"\0\0\0\0", end - pos)
        };
        let len = (8 + size + (size & 1)).min(end - pos);
        out.push(Chunk {
            id,
            start: pos,
            len,
            trailing: pos >= riff_end,
        });
        pos += len;
        if out.len() > 100_000 {
            return Err(bad("too many chunks"));
        }
    }
    // An odd-sized `data` chunk may end the RIFF size without its pad byte.
    let wrong = out
        .iter()
        .any(|c| &c.id == b"data" && (c.start + c.len).min(end) > riff_end + 1);
    if wrong {
        out.iter_mut().for_each(|c| c.trailing = false);
    }
    Ok(out)
}

/// Whether a chunk is audio or its structure (kept, and says nothing about a person).
fn is_harmless(c: &Chunk) -> bool {
    !c.trailing
        && matches!(
            &c.id,
            b"fmt "
                | b"data"
                | b"fact"
                | b"cue "
                | b"plst"
                | b"smpl"
                | b"inst"
                | b"acid"
                | b"wavl"
                | b"slnt"
                | b"JUNK"
                | b"junk"
                | b"PAD "
                | b"pad "
                | b"FLLR"
        )
}

/// What an `INFO` item's id says.
fn info_kind(id: &[u8]) -> Option<Kind> {
    match id {
        b"IART" | b"IENG" | b"ICOP" | b"ITCH" | b"ICMS" | b"IPRO" | b"ISTR" => Some(Kind::Person),
        b"INAM" | b"ICMT" | b"ISBJ" | b"IKEY" | b"IPRD" | b"ISRF" | b"ITIT" => Some(Kind::Text),
        b"ISFT" | b"ICRD" | b"IGNR" | b"ITRK" | b"IPRT" | b"ILNG" | b"IMED" => None,
        _ => Some(Kind::Other),
    }
}

/// Records the kinds of identifying metadata in a WAV file.
pub fn detect<R: Read + Seek>(r: &mut R, kinds: &mut Kinds) -> io::Result<()> {
    for c in chunks(r)? {
        if is_harmless(&c) {
            continue;
        }
        if c.trailing {
            // Appended bytes are dropped whatever they are; a tag chunk there is read too.
            kinds.insert(Kind::Other);
        }
        match &c.id {
            b"LIST" => {
                let b = read_at(r, c.start + 8, c.len - 8)?;
                if b.get(0..4) != Some(b"INFO") {
                    kinds.insert(Kind::Text); // `adtl`: labels and notes
                    continue;
                }
                let mut at = 4;
                while at + 8 <= b.len() {
                    let size =
                        u32::from_le_bytes(b[at + 4..at + 8].try_into().expect("4")) as usize;
                    kinds.extend(info_kind(&b[at..at + 4]));
                    at = at.saturating_add(8 + size + (size & 1));
                }
            }
            b"id3 " | b"ID3 " => id3::detect_tag(&read_at(r, c.start + 8, c.len - 8)?, kinds)?,
            b"_PMX" | b"XMP " => xmp::detect(&read_at(r, c.start + 8, c.len - 8)?, kinds),
            _ => {
                kinds.insert(Kind::Other);
            }
        }
    }
    Ok(())
}

/// Writes a WAV file with only its harmless chunks.
pub fn strip<R: Read + Seek, W: Write>(r: &mut R, w: &mut W) -> Result<(), StripError> {
    let riff = read_at(r, 0, 12)?;
    if &riff[0..4] != b"RIFF" {
        return unsupported("an RF64 or other non-RIFF WAV file");
    }
    let kept: Vec<Chunk> = chunks(r)?.into_iter().filter(is_harmless).collect();
    let size = 4 + kept.iter().map(|c| c.len).sum::<u64>();
    let Ok(size) = u32::try_from(size) else {
        return unsupported("larger than a RIFF file can be");
    };
    w.write_all(b"RIFF")?;
    w.write_all(&size.to_le_bytes())?;
    w.write_all(b"WAVE")?;
    for c in &kept {
        copy_range(r, c.start, c.len, w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn drops_info_and_fixes_the_size() {
        let mut f = b"RIFF\0\0\0\0WAVE".to_vec();
        f.extend_from_slice(b"fmt \x04\0\0\0abcd");
        f.extend_from_slice(b"LIST\x12\0\0\0INFOIART\x05\0\0\0Zoe!\0\0");
        f.extend_from_slice(b"data\x03\0\0\0xyz\0");
        let n = f.len() as u32 - 8;
        f[4..8].copy_from_slice(&n.to_le_bytes());
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&f), &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Person]));
        let mut out = Vec::new();
        strip(&mut Cursor::new(&f), &mut out).unwrap();
        assert_eq!(
            out,
            b"RIFF\x1c\0\0\0WAVEfmt \x04\0\0\0abcddata\x03\0\0\0xyz\0"
        );
    }

    #[test]
    fn reads_and_drops_an_id3_chunk() {
        let tag = b"ID3\x03\0\0\0\0\0\x10TXXX\0\0\0\x06\0\0\0gps\0x";
        let mut f = b"RIFF\0\0\0\0WAVEfmt \x04\0\0\0abcd".to_vec();
        f.extend_from_slice(b"id3 ");
        f.extend_from_slice(&(tag.len() as u32).to_le_bytes());
        f.extend_from_slice(tag);
        f.extend_from_slice(b"data\x02\0\0\0xy");
        let n = f.len() as u32 - 8;
        f[4..8].copy_from_slice(&n.to_le_bytes());
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&f), &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Location]));
        let mut out = Vec::new();
        strip(&mut Cursor::new(&f), &mut out).unwrap();
        assert_eq!(out, b"RIFF\x1a\0\0\0WAVEfmt \x04\0\0\0abcddata\x02\0\0\0xy");
    }

    #[test]
    fn unknown_chunks_xmp_and_appended_bytes_are_dropped() {
        let mut f = b"RIFF\0\0\0\0WAVEfmt \x04\0\0\0abcd".to_vec();
        f.extend_from_slice(b"XMP \x10\0\0\0<exif:GPSLat=1/>");
        f.extend_from_slice(b"ABCD\x01\0\0\0z\0");
        f.extend_from_slice(b"data\x03\0\0\0xyz\0");
        let n = f.len() as u32 - 8;
        f[4..8].copy_from_slice(&n.to_le_bytes());
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&f), &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Location, Kind::Other]));
        let clean = b"RIFF\x1c\0\0\0WAVEfmt \x04\0\0\0abcddata\x03\0\0\0xyz\0".to_vec();
        let mut out = Vec::new();
        strip(&mut Cursor::new(&f), &mut out).unwrap();
        assert_eq!(out, clean);
        // Text after the RIFF size, long enough for a chunk header or not.
        for tail in [&b"Dr Jane Owner"[..], b"Zoe"] {
            let mut t = clean.clone();
            t.extend_from_slice(tail);
            let mut k = Kinds::new();
            detect(&mut Cursor::new(&t), &mut k).unwrap();
            assert_eq!(k, Kinds::from([Kind::Other]));
            let mut out = Vec::new();
            strip(&mut Cursor::new(&t), &mut out).unwrap();
            assert_eq!(out, clean);
        }
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&clean), &mut k).unwrap();
        assert!(k.is_empty());
        // An unfinished header (RIFF size 0): the chunks are all read, none is trailing.
        let mut u = clean.clone();
        u[4..8].copy_from_slice(&[0; 4]);
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&u), &mut k).unwrap();
        assert!(k.is_empty());
    }
}

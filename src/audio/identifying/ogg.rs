//! Ogg Vorbis and Ogg Opus: the comment header (the second packet) holds the tags.
//! Stripping replaces it by one with the vendor string only, lays the header packets on
//! new pages, and renumbers the pages after them (new sequence numbers, new CRCs). One
//! logical stream only: chained or multiplexed files are refused.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::{Kinds, MAX_TAG, StripError, keys, read_up_to, unsupported};

/// One Ogg page.
struct Page {
    flags: u8,
    granule: u64,
    serial: u32,
    seq: u32,
    lacing: Vec<u8>,
    body: Vec<u8>,
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Ogg: {why}"))
}

/// Reads the next page, `None` at the end of the file.
fn read_page<R: Read>(r: &mut R) -> io::Result<Option<Page>> {
    let mut h = [0u8; 27];
    match read_up_to(r, &mut h)? {
        0 => return Ok(None),
        27 => {}
        _ => return Err(bad("truncated page header")),
    }
    if &h[0..4] != b"OggS" || h[4] != 0 {
        return Err(bad("not an Ogg page"));
    }
    let mut lacing = vec![0u8; usize::from(h[26])];
    r.read_exact(&mut lacing)?;
    let mut body = vec![0u8; lacing.iter().map(|&l| usize::from(l)).sum()];
    r.read_exact(&mut body)?;
    Ok(Some(Page {
        flags: h[5],
        granule: u64::from_le_bytes(h[6..14].try_into().expect("8")),
        serial: u32::from_le_bytes(h[14..18].try_into().expect("4")),
        seq: u32::from_le_bytes(h[18..22].try_into().expect("4")),
        lacing,
        body,
    }))
}

/// The Ogg CRC (polynomial 0x04c11db7, no reflection, initial value 0).
const CRC: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn crc(data: &[u8]) -> u32 {
    data.iter()
        .fold(0u32, |c, &b| (c << 8) ^ CRC[((c >> 24) as u8 ^ b) as usize])
}

fn write_page<W: Write>(w: &mut W, p: &Page) -> io::Result<()> {
    let mut out = b"OggS\0".to_vec();
    out.push(p.flags);
    out.extend_from_slice(&p.granule.to_le_bytes());
    out.extend_from_slice(&p.serial.to_le_bytes());
    out.extend_from_slice(&p.seq.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(p.lacing.len() as u8);
    out.extend_from_slice(&p.lacing);
    out.extend_from_slice(&p.body);
    let c = crc(&out);
    out[22..26].copy_from_slice(&c.to_le_bytes());
    w.write_all(&out)
}

/// Gathers packets from pages: `(packets completed, bytes of the one still open)`.
#[derive(Default)]
struct Packets {
    done: Vec<Vec<u8>>,
    open: Vec<u8>,
}

impl Packets {
    /// Adds a page's segments; fails when the packets grow past [`MAX_TAG`].
    fn add(&mut self, p: &Page) -> io::Result<()> {
        let mut at = 0;
        for &l in &p.lacing {
            let l = usize::from(l);
            self.open.extend_from_slice(&p.body[at..at + l]);
            at += l;
            if self.open.len() as u64 > MAX_TAG {
                return Err(bad("a header packet is larger than visitrec reads"));
            }
            if l < 255 {
                self.done.push(std::mem::take(&mut self.open));
            }
        }
        Ok(())
    }
}

/// How many header packets a stream whose first packet is `id` has, and the magic its
/// comment packet starts with.
fn codec(id: &[u8]) -> Option<(usize, &'static [u8])> {
    if id.starts_with(b"OpusHead") {
        Some((2, b"OpusTags"))
    } else if id.starts_with(b"\x01vorbis") {
        Some((3, b"\x03vorbis"))
    } else {
        None
    }
}

/// A stream's header packets, as [`headers`] read them.
struct Headers {
    /// The first page (the identification header alone).
    first: Page,
    /// The header packets.
    packets: Vec<Vec<u8>>,
    /// How many pages held them.
    pages: u32,
    /// The magic the comment packet starts with.
    magic: &'static [u8],
}

/// Reads the header pages of the first logical stream: the header packets and how many
/// pages held them. The last header page must hold nothing else (as both specs require).
fn headers<R: Read>(r: &mut R) -> io::Result<Option<Headers>> {
    let Some(first) = read_page(r)? else {
        return Ok(None);
    };
    let mut packets = Packets::default();
    packets.add(&first)?;
    let Some((count, magic)) = packets.done.first().and_then(|p| codec(p)) else {
        return Ok(None);
    };
    let mut pages = 1;
    while packets.done.len() < count {
        let p = read_page(r)?.ok_or_else(|| bad("the file ends inside its headers"))?;
        if p.serial != first.serial || p.flags & BOS != 0 {
            return Err(bad("more than one logical stream"));
        }
        packets.add(&p)?;
        pages += 1;
        if pages > 100_000 {
            return Err(bad("too many header pages"));
        }
    }
    if packets.done.len() != count || !packets.open.is_empty() {
        return Err(bad("audio shares a page with the headers"));
    }
    Ok(Some(Headers {
        first,
        packets: packets.done,
        pages,
        magic,
    }))
}

/// The first page of a logical stream.
const BOS: u8 = 2;
/// At most this many chained streams are read.
const MAX_LINKS: usize = 1000;

/// Skips one page, reading only its header; returns its flags, `None` at the end.
fn skip_page<R: Read + Seek>(r: &mut io::BufReader<R>) -> io::Result<Option<u8>> {
    let mut h = [0u8; 27];
    match read_up_to(r, &mut h)? {
        0 => return Ok(None),
        27 if &h[0..4] == b"OggS" => {}
        _ => return Err(bad("not an Ogg page")),
    }
    let mut lacing = vec![0u8; usize::from(h[26])];
    r.read_exact(&mut lacing)?;
    let body: i64 = lacing.iter().map(|&l| i64::from(l)).sum();
    r.seek_relative(body)?;
    Ok(Some(h[5]))
}

/// Records the kinds of identifying metadata in the comment header of each stream of an
/// Ogg file (a chained file has one per link).
pub fn detect<R: Read + Seek>(r: &mut R, kinds: &mut Kinds) -> io::Result<()> {
    r.seek(SeekFrom::Start(0))?;
    let mut buffered = io::BufReader::new(r);
    for _ in 0..MAX_LINKS {
        if let Some(Headers { packets, magic, .. }) = headers(&mut buffered)? {
            let comment = &packets[1];
            if !comment.starts_with(magic) {
                return Err(bad("the second packet is not a comment header"));
            }
            keys::vorbis_comments(&comment[magic.len()..], kinds)?;
        }
        loop {
            let at = buffered.stream_position()?;
            match skip_page(&mut buffered)? {
                None => return Ok(()),
                Some(flags) if flags & BOS != 0 => {
                    buffered.seek(SeekFrom::Start(at))?;
                    break;
                }
                Some(_) => {}
            }
        }
    }
    Err(bad("too many chained streams"))
}

/// Lays `packets` out on pages of stream `serial` numbered from `seq`, granule 0.
fn paginate(packets: &[Vec<u8>], serial: u32, mut seq: u32) -> Vec<Page> {
    // Each segment: (bytes, whether a packet continues from before it).
    let mut segments: Vec<(&[u8], bool)> = Vec::new();
    for p in packets {
        let mut chunks: Vec<&[u8]> = p.chunks(255).collect();
        if p.len() % 255 == 0 {
            chunks.push(&[]);
        }
        for (i, c) in chunks.into_iter().enumerate() {
            segments.push((c, i > 0));
        }
    }
    segments
        .chunks(255)
        .map(|page| {
            let p = Page {
                flags: if page[0].1 { 1 } else { 0 },
                granule: 0,
                serial,
                seq,
                lacing: page.iter().map(|(c, _)| c.len() as u8).collect(),
                body: page.iter().flat_map(|(c, _)| c.iter().copied()).collect(),
            };
            seq = seq.wrapping_add(1);
            p
        })
        .collect()
}

/// Writes an Ogg Vorbis/Opus file with a comment header holding only the vendor string.
pub fn strip<R: Read + Seek, W: Write>(r: &mut R, w: &mut W) -> Result<(), StripError> {
    let mut r = io::BufReader::new(r);
    let to_unsupported = |e: io::Error| match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
            StripError::Unsupported(e.to_string())
        }
        _ => StripError::Io(e),
    };
    let Some(Headers {
        first,
        packets,
        pages: old_pages,
        magic,
    }) = headers(&mut r).map_err(to_unsupported)?
    else {
        return unsupported("an Ogg stream of a codec other than Vorbis or Opus");
    };
    let comment = &packets[1];
    let vendor_len = comment
        .get(magic.len()..magic.len() + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize);
    let Some(vendor) = vendor_len.and_then(|n| comment.get(magic.len() + 4..magic.len() + 4 + n))
    else {
        return unsupported("a damaged comment header");
    };
    let mut new_comment = magic.to_vec();
    new_comment.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    new_comment.extend_from_slice(vendor);
    new_comment.extend_from_slice(&0u32.to_le_bytes());
    if magic == b"\x03vorbis" {
        new_comment.push(1); // the framing bit
    }
    let mut rest = vec![new_comment];
    rest.extend(packets[2..].iter().cloned());
    let pages = paginate(&rest, first.serial, first.seq.wrapping_add(1));
    let shift = (pages.len() as u32 + 1).wrapping_sub(old_pages);
    write_page(w, &first)?;
    for p in &pages {
        write_page(w, p)?;
    }
    while let Some(mut p) = read_page(&mut r).map_err(to_unsupported)? {
        if p.serial != first.serial || p.flags & BOS != 0 {
            return unsupported("more than one logical stream (chained or multiplexed Ogg)");
        }
        p.seq = p.seq.wrapping_add(shift);
        write_page(w, &p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::identifying::Kind;
    use std::io::Cursor;

    fn opus(comments: &[&str]) -> Vec<u8> {
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&3u32.to_le_bytes());
        tags.extend_from_slice(b"Lav");
        tags.extend_from_slice(&(comments.len() as u32).to_le_bytes());
        for c in comments {
            tags.extend_from_slice(&(c.len() as u32).to_le_bytes());
            tags.extend_from_slice(c.as_bytes());
        }
        let mut out = Vec::new();
        let mut head = paginate(&[b"OpusHead\x01\x01\x38\x01".to_vec()], 7, 0);
        head[0].flags = 2;
        write_page(&mut out, &head[0]).unwrap();
        let big = [tags, vec![9u8; 600]];
        for p in paginate(&big[..1], 7, 1) {
            write_page(&mut out, &p).unwrap();
        }
        let n = paginate(&big[..1], 7, 1).len() as u32;
        for p in paginate(&big[1..], 7, 1 + n) {
            write_page(&mut out, &p).unwrap();
        }
        out
    }

    #[test]
    fn the_crc_is_oggs() {
        // Every page ffmpeg wrote: the CRC recomputed over it is the one stored.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/phone/whatsapp-note.opus"
        );
        let data = std::fs::read(path).unwrap();
        let mut r = Cursor::new(&data);
        let mut pages = 0;
        while let Some(p) = read_page(&mut r).unwrap() {
            let end = r.position() as usize;
            let start = end - 27 - p.lacing.len() - p.body.len();
            let mut out = Vec::new();
            write_page(&mut out, &p).unwrap();
            assert_eq!(out, data[start..end]);
            pages += 1;
        }
        assert!(pages > 2);
    }

    #[test]
    fn strips_comments_keeps_vendor_and_renumbers() {
        let long = format!("COMMENT={}", "x".repeat(70_000));
        let file = opus(&[
            "LOCATION=+48.8584+002.2945/",
            "ARTIST=Zoë",
            &long,
            "ENCODER=Lavc",
        ]);
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&file), &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Location, Kind::Person, Kind::Text]));
        let mut out = Vec::new();
        strip(&mut Cursor::new(&file), &mut out).unwrap();
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&out), &mut k).unwrap();
        assert!(k.is_empty());
        let mut r = Cursor::new(&out);
        let mut seqs = Vec::new();
        while let Some(p) = read_page(&mut r).unwrap() {
            seqs.push(p.seq);
        }
        assert_eq!(seqs, (0..seqs.len() as u32).collect::<Vec<_>>());
        assert!(out.windows(3).any(|w| w == b"Lav"));
        assert!(out.ends_with(&[9u8; 600][..600 - 255 * 2]));
    }
}

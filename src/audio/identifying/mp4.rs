//! MP4/QuickTime: the tags live in `udta` and `meta` boxes (in `moov`, a `trak`, or at the
//! top level): iTunes `ilst` items, Apple `mdta` keys, QuickTime `©xyz`/`loci`/`©mak`
//! atoms, `XMP_`; XMP in a top-level `uuid` box, and any other top-level box that is not
//! part of the structure. Stripping drops every such box, keeps the iTunes gapless item (`iTunSMPB`) in a
//! new minimal `udta/meta/ilst`, and moves the chunk offsets (`stco`/`co64`) by what the
//! boxes before the audio data lost.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::{Kind, Kinds, StripError, copy_range, keys, read_at, unsupported, xmp};

/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 10;

/// A box inside a buffer: its type and where its header, body and end are.
#[derive(Debug, Clone, Copy)]
struct Bx {
    kind: [u8; 4],
    start: usize,
    body: usize,
    end: usize,
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("MP4: {why}"))
}

/// The boxes of `b[pos..end]`; a box running past `end` is an error.
fn children(b: &[u8], mut pos: usize, end: usize) -> io::Result<Vec<Bx>> {
    let mut out = Vec::new();
    while pos + 8 <= end {
        let size = u32::from_be_bytes(b[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = b[pos + 4..pos + 8].try_into().expect("4 bytes");
        let (size, header) = match size {
            0 => (end - pos, 8),
            1 => {
                let big = b
                    .get(pos + 8..pos + 16)
                    .ok_or_else(|| bad("truncated box"))?;
                let s = u64::from_be_bytes(big.try_into().expect("8 bytes"));
                (usize::try_from(s).map_err(|_| bad("box too large"))?, 16)
            }
            s => (s, 8),
        };
        if size < header || size > end - pos {
            return Err(bad("a box runs past its parent"));
        }
        out.push(Bx {
            kind,
            start: pos,
            body: pos + header,
            end: pos + size,
        });
        pos += size;
    }
    Ok(out)
}

/// The boxes inside tag box `t` (`udta`, `meta`, `ilst`). ISO `meta` is a full box (4 bytes
/// of version and flags before its children), QuickTime's is not.
fn tag_children(b: &[u8], t: &Bx) -> io::Result<Vec<Bx>> {
    let start = if &t.kind != b"meta" || b.get(t.body + 4..t.body + 8) == Some(b"hdlr") {
        t.body
    } else {
        (t.body + 4).min(t.end)
    };
    children(b, start, t.end)
}

/// A top-level box of the file.
#[derive(Debug, Clone, Copy)]
struct Top {
    kind: [u8; 4],
    start: u64,
    len: u64,
}

/// The top-level boxes (headers only: `mdat` is never read).
fn top_level<R: Read + Seek>(r: &mut R) -> io::Result<Vec<Top>> {
    let end = r.seek(SeekFrom::End(0))?;
    let mut pos = 0;
    let mut out = Vec::new();
    while pos + 8 <= end {
        let h = read_at(r, pos, 8)?;
        let size = u64::from(u32::from_be_bytes(h[0..4].try_into().expect("4 bytes")));
        let kind: [u8; 4] = h[4..8].try_into().expect("4 bytes");
        let len = match size {
            0 => end - pos,
            1 => u64::from_be_bytes(read_at(r, pos + 8, 8)?.try_into().expect("8 bytes")),
            s => s,
        };
        if len < 8 || len > end - pos {
            return Err(bad("a top-level box runs past the end of the file"));
        }
        out.push(Top {
            kind,
            start: pos,
            len,
        });
        pos += len;
        if out.len() > 100_000 {
            return Err(bad("too many top-level boxes"));
        }
    }
    Ok(out)
}

/// What a tag box's type says.
fn classify_atom(kind: &[u8; 4]) -> Option<Kind> {
    match kind {
        b"\xa9xyz" | b"loci" => Some(Kind::Location),
        b"\xa9mak" | b"\xa9mod" | b"\xa9swr" => Some(Kind::Device),
        b"\xa9ART" | b"aART" | b"\xa9aut" | b"auth" | b"\xa9wrt" | b"perf" | b"\xa9prf"
        | b"cprt" | b"\xa9cpy" | b"ownr" | b"\xa9own" | b"\xa9dir" | b"\xa9prd" => {
            Some(Kind::Person)
        }
        b"\xa9nam" | b"titl" | b"\xa9cmt" | b"\xa9des" | b"desc" | b"dscp" | b"ldes"
        | b"\xa9inf" | b"\xa9alb" | b"albm" | b"\xa9lyr" | b"\xa9grp" | b"kywd" => Some(Kind::Text),
        b"covr" => Some(Kind::Picture),
        // Encoder name, dates, genre, track numbers, gapless flag, and the structure.
        b"\xa9too" | b"\xa9enc" | b"\xa9day" | b"\xa9gen" | b"gnre" | b"trkn" | b"disk"
        | b"pgap" | b"cpil" | b"tmpo" | b"hdlr" | b"free" | b"skip" | b"hnti" | b"name"
        | b"meta" | b"ilst" | b"keys" | b"chpl" | b"tsel" | b"SDLN" | b"smrd" | b"smta" => None,
        _ => Some(Kind::Other),
    }
}

/// The name of a freeform (`----`) item, from its `name` child.
fn freeform_name(b: &[u8], item: &Bx) -> io::Result<Vec<u8>> {
    for c in children(b, item.body, item.end)? {
        if &c.kind == b"name" {
            return Ok(b.get(c.body + 4..c.end).unwrap_or_default().to_vec());
        }
    }
    Ok(Vec::new())
}

/// Whether a freeform item is the iTunes gapless tag.
fn is_itunsmpb(b: &[u8], item: &Bx) -> bool {
    &item.kind == b"----" && freeform_name(b, item).is_ok_and(|n| n == b"iTunSMPB")
}

/// Walks a tag box (`udta` or `meta`) and records what it holds.
fn scan_tags(b: &[u8], parent: &Bx, kinds: &mut Kinds, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(bad("boxes nested too deeply"));
    }
    let boxes = tag_children(b, parent)?;
    // Apple `mdta` keys: an `ilst` item's type is then a 1-based index into `keys`.
    let mut key_names: Vec<String> = Vec::new();
    if let Some(k) = boxes.iter().find(|c| &c.kind == b"keys") {
        let mut at = k.body + 8;
        while at + 8 <= k.end {
            let size = u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize;
            if size < 8 || size > k.end - at {
                return Err(bad("bad keys box"));
            }
            key_names.push(String::from_utf8_lossy(&b[at + 8..at + size]).into_owned());
            at += size;
        }
    }
    for c in &boxes {
        match &c.kind {
            b"meta" | b"udta" => scan_tags(b, c, kinds, depth + 1)?,
            b"ilst" => {
                for item in children(b, c.body, c.end)? {
                    let index = u32::from_be_bytes(item.kind) as usize;
                    let kind = if &item.kind == b"----" {
                        let name = freeform_name(b, &item)?;
                        keys::classify(&String::from_utf8_lossy(&name))
                    } else if (1..=key_names.len()).contains(&index) {
                        keys::classify(&key_names[index - 1])
                    } else {
                        classify_atom(&item.kind)
                    };
                    kinds.extend(kind);
                }
            }
            // Keys with no item are names, not values; items were classified above.
            b"keys" => {}
            b"XMP_" => xmp::detect(&b[c.body..c.end], kinds),
            other => kinds.extend(classify_atom(other)),
        }
    }
    Ok(())
}

/// Finds the tag boxes in `moov` (and its `trak`s) and records their kinds.
fn scan_moov(b: &[u8], kinds: &mut Kinds) -> io::Result<()> {
    for c in children(b, 8, b.len())? {
        match &c.kind {
            b"udta" | b"meta" => scan_tags(b, &c, kinds, 1)?,
            b"trak" => {
                for t in children(b, c.body, c.end)? {
                    if matches!(&t.kind, b"udta" | b"meta") {
                        scan_tags(b, &t, kinds, 2)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Records the kinds of identifying metadata in an MP4 file.
pub fn detect<R: Read + Seek>(r: &mut R, kinds: &mut Kinds) -> io::Result<()> {
    for top in top_level(r)? {
        if !is_tag_box(&top.kind) && &top.kind != b"moov" {
            continue;
        }
        if !matches!(&top.kind, b"moov" | b"udta" | b"meta") {
            // XMP in a `uuid` box, or a box of unknown content: at least `other`.
            let head = read_at(r, top.start, top.len.min(32))?;
            if &top.kind == b"uuid" && head.get(8..24) == Some(&xmp::MP4_UUID[..]) {
                xmp::detect(
                    &read_at(r, top.start + 24, top.len.saturating_sub(24))?,
                    kinds,
                );
            }
            kinds.insert(Kind::Other);
        } else {
            let mut b = read_at(r, top.start, top.len)?;
            if &top.kind != b"moov" {
                // Wrap a top-level tag box as if it were in a moov, to walk it the same way.
                let mut wrapped = ((b.len() + 8) as u32).to_be_bytes().to_vec();
                wrapped.extend_from_slice(b"moov");
                wrapped.append(&mut b);
                b = wrapped;
            }
            scan_moov(&b, kinds)?;
        }
    }
    Ok(())
}

/// Whether a top-level box is one stripping drops: a tag box (`udta`, `meta`), or any box
/// that is not part of the file's structure (`uuid` holding XMP, or unknown content).
fn is_tag_box(kind: &[u8; 4]) -> bool {
    !matches!(
        kind,
        b"ftyp"
            | b"moov"
            | b"mdat"
            | b"free"
            | b"skip"
            | b"wide"
            | b"moof"
            | b"mfra"
            | b"sidx"
            | b"ssix"
            | b"styp"
            | b"prft"
            | b"pdin"
    )
}

/// An 8-byte-header box.
fn make_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// Finds an `iTunSMPB` item anywhere below a tag box; returns its bytes.
fn find_itunsmpb(b: &[u8], parent: &Bx, depth: usize) -> io::Result<Option<Vec<u8>>> {
    if depth > MAX_DEPTH {
        return Err(bad("boxes nested too deeply"));
    }
    for c in tag_children(b, parent)? {
        let found = match &c.kind {
            b"meta" | b"udta" | b"ilst" => find_itunsmpb(b, &c, depth + 1)?,
            _ if is_itunsmpb(b, &c) => Some(b[c.start..c.end].to_vec()),
            _ => None,
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Rewrites container box `c` of `b` without its `udta`/`meta` children (recursing into
/// `trak`, `mdia`, `minf`, `stbl`), collecting any `iTunSMPB` item into `gapless`.
fn without_tags(
    b: &[u8],
    c: &Bx,
    gapless: &mut Option<Vec<u8>>,
    depth: usize,
) -> io::Result<Vec<u8>> {
    if depth > MAX_DEPTH {
        return Err(bad("boxes nested too deeply"));
    }
    let mut body = Vec::new();
    for k in children(b, c.body, c.end)? {
        match &k.kind {
            b"udta" | b"meta" => {
                if gapless.is_none() {
                    *gapless = find_itunsmpb(b, &k, depth + 1)?;
                }
            }
            b"trak" | b"mdia" | b"minf" | b"stbl" => {
                body.extend(without_tags(b, &k, gapless, depth + 1)?)
            }
            _ => body.extend_from_slice(&b[k.start..k.end]),
        }
    }
    if c.body - c.start == 16 {
        let mut out = 1u32.to_be_bytes().to_vec();
        out.extend_from_slice(&c.kind);
        out.extend_from_slice(&((body.len() + 16) as u64).to_be_bytes());
        out.extend(body);
        return Ok(out);
    }
    let len = u32::try_from(body.len() + 8).map_err(|_| bad("moov too large"))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&c.kind);
    out.extend(body);
    Ok(out)
}

/// What [`each_chunk_table`] calls: a table's body, and whether it is `co64`.
type TableFn<'a> = dyn FnMut(&mut [u8], bool) -> Result<(), StripError> + 'a;

/// Calls `f` on the body of every `stco`/`co64` box in a rewritten `moov`.
fn each_chunk_table(
    b: &mut [u8],
    pos: usize,
    end: usize,
    depth: usize,
    f: &mut TableFn<'_>,
) -> Result<(), StripError> {
    if depth > MAX_DEPTH {
        return Err(bad("boxes nested too deeply").into());
    }
    for c in children(b, pos, end)? {
        match &c.kind {
            b"trak" | b"mdia" | b"minf" | b"stbl" => {
                each_chunk_table(b, c.body, c.end, depth + 1, f)?
            }
            b"stco" => f(&mut b[c.body..c.end], false)?,
            b"co64" => f(&mut b[c.body..c.end], true)?,
            _ => {}
        }
    }
    Ok(())
}

/// Writes an MP4 file without its tag boxes.
pub fn strip<R: Read + Seek, W: Write>(r: &mut R, w: &mut W) -> Result<(), StripError> {
    let tops = top_level(r)?;
    let Some(moov_at) = tops.iter().position(|t| &t.kind == b"moov") else {
        return unsupported("MP4 without a moov box");
    };
    let old = read_at(r, tops[moov_at].start, tops[moov_at].len)?;
    let root = *children(&old, 0, old.len())?
        .first()
        .ok_or_else(|| bad("empty moov"))?;
    let mut gapless = None;
    // Top-level tag boxes may hold the gapless item too.
    for t in tops.iter().filter(|t| matches!(&t.kind, b"udta" | b"meta")) {
        if gapless.is_none() {
            let b = read_at(r, t.start, t.len)?;
            let bx = *children(&b, 0, b.len())?
                .first()
                .ok_or_else(|| bad("empty tag box"))?;
            gapless = find_itunsmpb(&b, &bx, 1)?;
        }
    }
    let mut moov = without_tags(&old, &root, &mut gapless, 1)?;
    if let Some(item) = gapless {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"mdirappl");
        hdlr.extend_from_slice(&[0u8; 9]);
        let mut meta = vec![0u8; 4];
        meta.extend(make_box(b"hdlr", &hdlr));
        meta.extend(make_box(b"ilst", &item));
        let udta = make_box(b"udta", &make_box(b"meta", &meta));
        let header = if u32::from_be_bytes(moov[0..4].try_into().expect("4")) == 1 {
            16
        } else {
            8
        };
        moov.extend(udta);
        let len = moov.len();
        if header == 16 {
            moov[8..16].copy_from_slice(&(len as u64).to_be_bytes());
        } else {
            let len = u32::try_from(len).map_err(|_| bad("moov too large"))?;
            moov[0..4].copy_from_slice(&len.to_be_bytes());
        }
    }
    // The new layout: tag boxes at the top level go, the moov changes size.
    let mut layout = Vec::new(); // (old start, old len, new start, kept unchanged)
    let mut at = 0u64;
    for (i, t) in tops.iter().enumerate() {
        let (len, same) = match &t.kind {
            k if is_tag_box(k) => (0, false),
            _ if i == moov_at => (moov.len() as u64, false),
            _ => (t.len, true),
        };
        layout.push((t.start, t.len, at, same));
        at += len;
    }
    let shift = |x: u64| -> Result<u64, StripError> {
        match layout.iter().find(|(s, l, _, _)| x >= *s && x < s + l) {
            Some((s, _, n, true)) => Ok(x - s + n),
            Some(_) => unsupported("a chunk offset points into the metadata"),
            None => unsupported("a chunk offset points past the end of the file"),
        }
    };
    let moved = layout.iter().any(|(s, _, n, _)| s != n);
    if moved && tops.iter().any(|t| &t.kind == b"moof") {
        return unsupported("fragmented MP4 (moof) whose metadata sits before its fragments");
    }
    let moov_len = moov.len();
    let header = if u32::from_be_bytes(moov[0..4].try_into().expect("4")) == 1 {
        16
    } else {
        8
    };
    each_chunk_table(&mut moov, header, moov_len, 1, &mut |t, wide| {
        let count = t
            .get(4..8)
            .map_or(0, |c| u32::from_be_bytes(c.try_into().expect("4")) as usize);
        let width = if wide { 8 } else { 4 };
        if count.saturating_mul(width).saturating_add(8) > t.len() {
            return unsupported("a chunk offset table is longer than its box");
        }
        for i in 0..count {
            let at = 8 + i * width;
            let old = if wide {
                u64::from_be_bytes(t[at..at + 8].try_into().expect("8"))
            } else {
                u64::from(u32::from_be_bytes(t[at..at + 4].try_into().expect("4")))
            };
            let new = shift(old)?;
            if wide {
                t[at..at + 8].copy_from_slice(&new.to_be_bytes());
            } else {
                let new = u32::try_from(new)
                    .or_else(|_| unsupported("a chunk offset no longer fits 32 bits"))?;
                t[at..at + 4].copy_from_slice(&new.to_be_bytes());
            }
        }
        Ok(())
    })?;
    for (i, t) in tops.iter().enumerate() {
        match &t.kind {
            k if is_tag_box(k) => {}
            _ if i == moov_at => w.write_all(&moov)?,
            _ => copy_range(r, t.start, t.len, w)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn file(with_tags: bool) -> Vec<u8> {
        let stco = make_box(b"stco", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let stbl = make_box(b"stbl", &stco);
        let trak = make_box(b"trak", &make_box(b"mdia", &make_box(b"minf", &stbl)));
        let mut moov_body = make_box(b"mvhd", &[0u8; 100]);
        moov_body.extend(trak);
        if with_tags {
            let mut item = make_box(b"mean", b"\0\0\0\0com.apple.iTunes");
            item.extend(make_box(b"name", b"\0\0\0\0iTunSMPB"));
            item.extend(make_box(b"data", b"\0\0\0\x01\0\0\0\0 00000000 00000840"));
            let mut ilst = make_box(b"----", &item);
            ilst.extend(make_box(
                b"\xa9ART",
                &make_box(b"data", b"\0\0\0\x01\0\0\0\0Zo\xc3\xab"),
            ));
            let mut meta = vec![0u8; 4];
            meta.extend(make_box(b"hdlr", &[0u8; 25]));
            meta.extend(make_box(b"ilst", &ilst));
            let mut udta = make_box(b"\xa9xyz", b"\0\x11\x15\xc7+48.8584+002.2945/");
            udta.extend(make_box(b"meta", &meta));
            moov_body.extend(make_box(b"udta", &udta));
        }
        let mut f = make_box(b"ftyp", b"M4A \0\0\0\0");
        let moov = make_box(b"moov", &moov_body);
        let mdat_at = (f.len() + moov.len() + 8) as u32;
        f.extend(moov);
        // Point the chunk offset at the mdat's payload.
        let p = f.windows(4).position(|w| w == b"stco").unwrap() + 12;
        f[p..p + 4].copy_from_slice(&mdat_at.to_be_bytes());
        f.extend(make_box(b"mdat", b"audio!"));
        f
    }

    #[test]
    fn finds_location_and_person_and_ignores_gapless() {
        let mut k = Kinds::new();
        detect(&mut Cursor::new(file(true)), &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Location, Kind::Person]));
        let mut k = Kinds::new();
        detect(&mut Cursor::new(file(false)), &mut k).unwrap();
        assert!(k.is_empty());
    }

    #[test]
    fn strip_keeps_gapless_and_moves_chunk_offsets() {
        let mut out = Vec::new();
        strip(&mut Cursor::new(file(true)), &mut out).unwrap();
        let mut k = Kinds::new();
        detect(&mut Cursor::new(&out), &mut k).unwrap();
        assert!(k.is_empty(), "{k:?}");
        assert!(out.windows(8).any(|w| w == b"iTunSMPB"));
        let p = out.windows(4).position(|w| w == b"stco").unwrap() + 12;
        let off = u32::from_be_bytes(out[p..p + 4].try_into().unwrap()) as usize;
        assert_eq!(&out[off..off + 6], b"audio!");
        // Stripping again changes nothing.
        let mut again = Vec::new();
        strip(&mut Cursor::new(&out), &mut again).unwrap();
        assert_eq!(again, out);
    }
}

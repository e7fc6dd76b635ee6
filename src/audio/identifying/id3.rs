//! ID3v2 (at the start of MP3, FLAC or in a WAV `id3 ` chunk), ID3v1, APEv2 and an
//! appended ID3v2.4 tag (its footer `3DI` last: at the end of an MP3), and bytes after the
//! last MPEG frame (text appended to the file). Stripping an MP3 drops all of them but
//! keeps an iTunes gapless `COMM` frame (`iTunSMPB`: encoder delay and padding) in a
//! minimal ID3v2 tag, so that the copy decodes to the same length.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::{Kind, Kinds, StripError, copy_range, keys, read_at, read_up_to, unsupported};

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("ID3: {why}"))
}

/// A syncsafe integer (7 bits a byte).
fn syncsafe(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, &x| (acc << 7) | u32::from(x & 0x7f))
}

fn to_syncsafe(n: u32) -> [u8; 4] {
    [
        (n >> 21) as u8 & 0x7f,
        (n >> 14) as u8 & 0x7f,
        (n >> 7) as u8 & 0x7f,
        n as u8 & 0x7f,
    ]
}

/// The full length (header, body, footer) of an ID3v2 tag starting at `pos`, if one does.
fn tag_len<R: Read + Seek>(r: &mut R, pos: u64) -> io::Result<Option<u64>> {
    r.seek(SeekFrom::Start(pos))?;
    let mut h = [0u8; 10];
    if read_up_to(r, &mut h)? < 10 || &h[0..3] != b"ID3" || h[3] > 4 {
        return Ok(None);
    }
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Ok(Some(10 + u64::from(syncsafe(&h[6..10])) + footer))
}

/// Where the data after any leading ID3v2 tags starts.
pub fn skip_leading<R: Read + Seek>(r: &mut R) -> io::Result<u64> {
    let mut pos = 0;
    for _ in 0..16 {
        match tag_len(r, pos)? {
            Some(len) => pos += len,
            None => break,
        }
    }
    Ok(pos)
}

/// Undoes unsynchronisation (`FF 00` → `FF`).
fn resync(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        out.push(b[i]);
        i += if b[i] == 0xff && b.get(i + 1) == Some(&0) {
            2
        } else {
            1
        };
    }
    out
}

/// One frame of a tag: its id and its whole bytes (header included).
struct Frame {
    id: String,
    raw: Vec<u8>,
    /// The frame's content (after the header).
    body: std::ops::Range<usize>,
}

/// The frames of a whole ID3v2 tag `t` (header included).
fn frames(t: &[u8]) -> io::Result<(u8, Vec<Frame>)> {
    if t.len() < 10 || &t[0..3] != b"ID3" {
        return Err(bad("not an ID3v2 tag"));
    }
    let (major, flags) = (t[3], t[5]);
    let end = (10 + syncsafe(&t[6..10]) as usize).min(t.len());
    let mut body = t[10..end].to_vec();
    if major < 4 && flags & 0x80 != 0 {
        body = resync(&body);
    }
    let mut pos = 0;
    if major >= 3 && flags & 0x40 != 0 {
        // Extended header: its size (v2.4 syncsafe and inclusive; v2.3 exclusive).
        let s = body
            .get(0..4)
            .ok_or_else(|| bad("truncated extended header"))?;
        pos = if major == 4 {
            syncsafe(s) as usize
        } else {
            u32::from_be_bytes(s.try_into().expect("4")) as usize + 4
        };
    }
    let (id_len, hdr) = if major == 2 { (3, 6) } else { (4, 10) };
    let mut out = Vec::new();
    while pos + hdr <= body.len() && body[pos] != 0 {
        let id = String::from_utf8_lossy(&body[pos..pos + id_len]).into_owned();
        let s = &body[pos + id_len..pos + id_len + if major == 2 { 3 } else { 4 }];
        let size = match major {
            2 => s.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x)),
            3 => u32::from_be_bytes(s.try_into().expect("4")) as usize,
            _ => syncsafe(s) as usize,
        };
        let end = pos
            .checked_add(hdr + size)
            .filter(|e| *e <= body.len())
            .ok_or_else(|| bad("a frame runs past the tag"))?;
        out.push(Frame {
            id,
            raw: body[pos..end].to_vec(),
            body: hdr..hdr + size,
        });
        pos = end;
    }
    Ok((major, out))
}

/// A text frame's description (`TXXX`, `COMM`): after the encoding byte (and, for `COMM`,
/// the language), up to the terminator.
fn description(f: &Frame, comm: bool) -> String {
    let b = &f.raw[f.body.clone()];
    let Some(&enc) = b.first() else {
        return String::new();
    };
    let text = b.get(if comm { 4 } else { 1 }..).unwrap_or_default();
    if enc == 1 || enc == 2 {
        let big = enc == 2 || text.starts_with(&[0xfe, 0xff]);
        let units: Vec<u16> = text
            .chunks_exact(2)
            .map(|c| match big {
                true => u16::from_be_bytes([c[0], c[1]]),
                false => u16::from_le_bytes([c[0], c[1]]),
            })
            .take_while(|&u| u != 0)
            .collect();
        String::from_utf16_lossy(&units)
            .trim_start_matches('\u{feff}')
            .to_string()
    } else {
        let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
        String::from_utf8_lossy(&text[..end]).into_owned()
    }
}

fn is_comm(id: &str) -> bool {
    id == "COMM" || id == "COM"
}

/// Whether a frame is the iTunes gapless comment.
fn is_gapless(f: &Frame) -> bool {
    is_comm(&f.id) && description(f, true) == "iTunSMPB"
}

/// What a frame id says.
fn classify_frame(f: &Frame) -> Option<Kind> {
    let id = f.id.as_str();
    match id {
        "TXXX" | "TXX" => Some(keys::classify(&description(f, false)).unwrap_or(Kind::Other)),
        _ if is_comm(id) => keys::classify(&description(f, true)).map(|_| Kind::Text),
        "TPE1" | "TPE2" | "TPE3" | "TPE4" | "TCOM" | "TEXT" | "TOLY" | "TOPE" | "TOWN" | "TENC"
        | "TCOP" | "IPLS" | "TIPL" | "TMCL" | "TPUB" | "TP1" | "TP2" | "TP3" | "TP4" | "TCM"
        | "TXT" | "TOL" | "TOA" | "TEN" | "TCR" | "TPB" => Some(Kind::Person),
        "TIT1" | "TIT2" | "TIT3" | "TALB" | "TOAL" | "USLT" | "SYLT" | "TSST" | "TT1" | "TT2"
        | "TT3" | "TAL" | "TOT" | "ULT" | "SLT" => Some(Kind::Text),
        "APIC" | "PIC" => Some(Kind::Picture),
        "TSSE" | "TLEN" | "TFLT" | "TDRC" | "TYER" | "TDAT" | "TIME" | "TRCK" | "TPOS" | "TCON"
        | "TBPM" | "TKEY" | "TLAN" | "TMED" | "TDEN" | "TDTG" | "TDOR" | "TORY" | "TRDA"
        | "MCDI" | "ETCO" | "MLLT" | "SYTC" | "RVA2" | "RVAD" | "EQU2" | "EQUA" | "RVRB"
        | "PCNT" | "POSS" | "SEEK" | "ASPI" | "TSS" | "TLE" | "TYE" | "TDA" | "TIM" | "TRK"
        | "TPA" | "TCO" | "TBP" | "TKE" | "TLA" | "TMT" | "TFT" | "TRD" | "TOR" | "TSRC"
        | "TRC" => None,
        _ => Some(Kind::Other),
    }
}

/// Records the kinds of the frames of the whole ID3v2 tag `t`.
pub fn detect_tag(t: &[u8], kinds: &mut Kinds) -> io::Result<()> {
    let (_, frames) = frames(t)?;
    kinds.extend(frames.iter().filter_map(classify_frame));
    Ok(())
}

/// The leading ID3v2 tags: their total length, and each tag's bytes.
pub fn leading_tags<R: Read + Seek>(r: &mut R) -> io::Result<(u64, Vec<Vec<u8>>)> {
    let mut pos = 0;
    let mut tags = Vec::new();
    for _ in 0..16 {
        let Some(len) = tag_len(r, pos)? else { break };
        tags.push(read_at(r, pos, len)?);
        pos += len;
    }
    Ok((pos, tags))
}

/// The tags at the end of the file, from the last: an ID3v1 tag, then APEv2 tags and
/// appended ID3v2 tags (footer `3DI`) in any order. Records their kinds and returns where
/// they start.
fn trailing_tags<R: Read + Seek>(r: &mut R, from: u64, kinds: &mut Kinds) -> io::Result<u64> {
    let mut end = r.seek(SeekFrom::End(0))?;
    if end >= from + 128 {
        let v1 = read_at(r, end - 128, 128)?;
        if &v1[0..3] == b"TAG" {
            let field = |a: usize, b: usize| v1[a..b].iter().any(|&c| c != 0 && c != b' ');
            if field(33, 63) {
                kinds.insert(Kind::Person);
            }
            if field(3, 33) || field(63, 93) || field(97, 125) {
                kinds.insert(Kind::Text);
            }
            end -= 128;
        }
    }
    for _ in 0..16 {
        if end >= from + 32 && &read_at(r, end - 32, 8)?[..] == b"APETAGEX" {
            let footer = read_at(r, end - 32, 32)?;
            let le = |a: usize| u32::from_le_bytes(footer[a..a + 4].try_into().expect("4"));
            let size = u64::from(le(12)); // items and footer
            let has_header = le(20) & 0x8000_0000 != 0;
            let whole = size + if has_header { 32 } else { 0 };
            if size < 32 || whole > end - from {
                return Err(bad("APE tag size runs past the file"));
            }
            let items = read_at(r, end - size, size - 32)?;
            ape_items(&items, le(16), kinds);
            end -= whole;
        } else if end >= from + 20 && &read_at(r, end - 10, 3)?[..] == b"3DI" {
            let footer = read_at(r, end - 10, 10)?;
            let whole = 20 + u64::from(syncsafe(&footer[6..10]));
            if whole > end - from {
                return Err(bad("an appended tag runs past the file"));
            }
            let tag = read_at(r, end - whole, whole)?;
            if &tag[0..3] != b"ID3" || tag[3..6] != footer[3..6] {
                return Err(bad("an appended tag's header does not match its footer"));
            }
            detect_tag(&tag, kinds)?;
            end -= whole;
        } else {
            break;
        }
    }
    Ok(end)
}

/// The length of the MPEG audio or ADTS frame whose header is `h`; `None` if `h` is not
/// one (or is free-format, whose length its header does not give).
fn frame_len(h: &[u8; 6]) -> Option<u64> {
    if h[0] != 0xff || h[1] & 0xe0 != 0xe0 {
        return None;
    }
    let layer = (h[1] >> 1) & 3;
    if layer == 0 {
        // ADTS: a 12-bit sync, and a 13-bit length that counts the header.
        let len = (u64::from(h[3] & 3) << 11) | (u64::from(h[4]) << 3) | u64::from(h[5] >> 5);
        return (h[1] & 0xf0 == 0xf0 && len >= 7).then_some(len);
    }
    let version = (h[1] >> 3) & 3; // 0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1
    let (rate, sr) = (usize::from(h[2] >> 4), usize::from((h[2] >> 2) & 3));
    if version == 1 || rate == 0 || rate == 15 || sr == 3 {
        return None;
    }
    const KBPS: [[u16; 14]; 5] = [
        [
            32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
        [
            32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    let v1 = version == 3;
    let table = match (v1, layer) {
        (true, 3) => 0,
        (true, 2) => 1,
        (true, _) => 2,
        (false, 3) => 3,
        (false, _) => 4,
    };
    let bps = u64::from(KBPS[table][rate - 1]) * 1000;
    let hz = [44_100u64, 48_000, 32_000][sr] >> [2, 0, 1, 0][usize::from(version)];
    let pad = u64::from((h[2] >> 1) & 1);
    Some(match layer {
        3 => (12 * bps / hz + pad) * 4,
        1 if !v1 => 72 * bps / hz + pad,
        _ => 144 * bps / hz + pad,
    })
}

/// A forward-moving window on `base..end` of a file, to read frame headers without
/// holding the whole file.
struct Window<'a, R> {
    r: &'a mut R,
    base: u64,
    buf: Vec<u8>,
    end: u64,
}

impl<R: Read + Seek> Window<'_, R> {
    /// The length of the frame whose header is at `pos`, if one is. `pos` may go back at
    /// most 16 KiB (more than any frame) from the furthest position asked for.
    fn frame(&mut self, pos: u64) -> io::Result<Option<u64>> {
        if pos + 6 > self.end {
            return Ok(None);
        }
        while pos + 6 > self.base + self.buf.len() as u64 {
            let keep = pos.saturating_sub(1 << 14).max(self.base);
            self.buf.drain(..(keep - self.base) as usize);
            self.base = keep;
            let have = self.base + self.buf.len() as u64;
            let want = (self.end - have).min(1 << 20) as usize;
            self.r.seek(SeekFrom::Start(have))?;
            let old = self.buf.len();
            self.buf.resize(old + want, 0);
            self.r.read_exact(&mut self.buf[old..])?;
        }
        let Some(i) = pos.checked_sub(self.base) else {
            return Err(bad("frame scan went back too far"));
        };
        let i = i as usize;
        Ok(frame_len(&self.buf[i..i + 6].try_into().expect("6")))
    }
}

/// Where the MPEG audio or ADTS frames of `from..end` stop: at the end of the last run of
/// frames (each header followed by the next; a last frame cut short by `end` counts). A
/// run starts with two frames in a row, or one that reaches `end`; bytes between runs are
/// skipped. `None` when there is no run at all.
fn audio_end<R: Read + Seek>(r: &mut R, from: u64, end: u64) -> io::Result<Option<u64>> {
    let mut w = Window {
        r,
        base: from,
        buf: Vec::new(),
        end,
    };
    let (mut at, mut last) = (from, None);
    while at < end {
        let Some(len) = w.frame(at)? else {
            at += 1;
            continue;
        };
        if at + len < end && w.frame(at + len)?.is_none() {
            at += 1;
            continue;
        }
        // A run: walk it.
        let mut q = at;
        while let Some(len) = w.frame(q)? {
            q += len;
        }
        q = q.min(end);
        last = Some(q);
        at = q;
    }
    Ok(last)
}

/// Classifies the keys of APEv2 items.
fn ape_items(b: &[u8], count: u32, kinds: &mut Kinds) {
    let mut at = 0usize;
    for _ in 0..count.min(10_000) {
        let Some(h) = b.get(at..at + 8) else { return };
        let len = u32::from_le_bytes(h[0..4].try_into().expect("4")) as usize;
        let key_start = at + 8;
        let Some(nul) = b
            .get(key_start..)
            .and_then(|k| k.iter().position(|&c| c == 0))
        else {
            return;
        };
        let key = String::from_utf8_lossy(&b[key_start..key_start + nul]);
        kinds.extend(keys::classify(&key));
        at = key_start + nul + 1 + len;
    }
}

/// Records the kinds of identifying metadata in an MP3 (or ADTS) file.
pub fn detect_mpeg<R: Read + Seek>(r: &mut R, kinds: &mut Kinds) -> io::Result<()> {
    let (start, tags) = leading_tags(r)?;
    for t in &tags {
        detect_tag(t, kinds)?;
    }
    let end = trailing_tags(r, start, kinds)?;
    // Bytes after the last frame (or no frame found at all): unknown content.
    if audio_end(r, start, end)?.is_none_or(|a| a < end) {
        kinds.insert(Kind::Other);
    }
    Ok(())
}

/// Writes an MP3 (or ADTS) file without ID3v2, ID3v1 and APE tags and bytes after its
/// last frame, but with the iTunes
/// gapless comment, if it had one, in a minimal ID3v2 tag of the same version.
pub fn strip_mpeg<R: Read + Seek, W: Write>(r: &mut R, w: &mut W) -> Result<(), StripError> {
    let (start, tags) = leading_tags(r)?;
    let mut kept = None;
    for t in &tags {
        let (major, frames) = frames(t).map_err(|e| StripError::Unsupported(e.to_string()))?;
        if let Some(f) = frames.into_iter().find(is_gapless) {
            kept.get_or_insert((major, f.raw));
        }
    }
    let end = trailing_tags(r, start, &mut Kinds::new())
        .map_err(|e| StripError::Unsupported(e.to_string()))?;
    if end < start {
        return unsupported("the tags overlap");
    }
    // Bytes appended after the last frame go too.
    let Some(end) = audio_end(r, start, end)? else {
        return unsupported("no MPEG audio frames found");
    };
    if let Some((major, raw)) = kept {
        let mut tag = b"ID3".to_vec();
        tag.extend_from_slice(&[major, 0, 0]);
        let len = u32::try_from(raw.len()).ok().filter(|l| *l < 1 << 28);
        let Some(len) = len else {
            return unsupported("the gapless frame is too large");
        };
        tag.extend_from_slice(&to_syncsafe(len));
        tag.extend(raw);
        w.write_all(&tag)?;
    }
    copy_range(r, start, end - start, w)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frame(id: &str, body: &[u8]) -> Vec<u8> {
        let mut f = id.as_bytes().to_vec();
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(body);
        f
    }

    fn tag(frames: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = frames.concat();
        let mut t = b"ID3\x03\0\0".to_vec();
        t.extend_from_slice(&to_syncsafe(body.len() as u32));
        t.extend(body);
        t
    }

    fn mp3() -> Vec<u8> {
        let mut f = tag(&[
            frame("TPE1", b"\0Zo\xc3\xab Martin"),
            frame("TXXX", b"\0location\0+48.8584+002.2945/"),
            frame("COMM", b"\0eng\0a visit"),
            frame("COMM", b"\0engiTunSMPB\0 00000000 00000210 000003C0"),
        ]);
        f.extend_from_slice(&[0xff, 0xfb, 0x90, 0x00, 1, 2, 3]);
        let mut ape = Vec::new();
        ape.extend_from_slice(&6u32.to_le_bytes());
        ape.extend_from_slice(&0u32.to_le_bytes());
        ape.extend_from_slice(b"Artist\0Zo\xc3\xab!");
        f.extend_from_slice(&ape);
        f.extend_from_slice(b"APETAGEX");
        f.extend_from_slice(&2000u32.to_le_bytes());
        f.extend_from_slice(&((ape.len() + 32) as u32).to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&[0u8; 12]);
        let mut v1 = b"TAG".to_vec();
        v1.resize(128, 0);
        v1[33..36].copy_from_slice(b"Zoe");
        f.extend(v1);
        f
    }

    #[test]
    fn finds_every_kind_but_keeps_the_gapless_comment() {
        let mut k = Kinds::new();
        detect_mpeg(&mut Cursor::new(mp3()), &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Location, Kind::Person, Kind::Text]));
        let mut out = Vec::new();
        strip_mpeg(&mut Cursor::new(mp3()), &mut out).unwrap();
        let mut k = Kinds::new();
        detect_mpeg(&mut Cursor::new(&out), &mut k).unwrap();
        assert!(k.is_empty(), "{k:?}");
        assert!(out.windows(8).any(|w| w == b"iTunSMPB"));
        assert!(out.ends_with(&[0xff, 0xfb, 0x90, 0x00, 1, 2, 3]));
    }

    #[test]
    fn unsynchronised_tags_are_read() {
        // A v2.3 tag unsynchronised as a whole: `FF` is followed by a `00` that is not data.
        let t = tag(&[frame("TPE1", b"\0\xffname")]);
        let mut u = t[..10].to_vec();
        for &b in &t[10..] {
            u.push(b);
            if b == 0xff {
                u.push(0);
            }
        }
        u[5] = 0x80;
        let len = u.len() as u32 - 10;
        u[6..10].copy_from_slice(&to_syncsafe(len));
        let mut k = Kinds::new();
        detect_tag(&u, &mut k).unwrap();
        assert_eq!(k, Kinds::from([Kind::Person]));
    }

    /// Two MPEG-1 Layer III frames of 417 bytes (128 kbit/s, 44.1 kHz).
    fn frames2() -> Vec<u8> {
        let mut f = [0xff, 0xfb, 0x90, 0x00].to_vec();
        f.resize(417, 7);
        f.extend_from_slice(&[0xff, 0xfb, 0x90, 0x00]);
        f.resize(834, 7);
        f
    }

    #[test]
    fn an_appended_tag_and_text_after_the_frames_are_found_and_dropped() {
        let body = frame("TPE1", b"\0Zoe");
        let mut t = b"ID3\x04\0\x10".to_vec();
        t.extend(to_syncsafe(body.len() as u32));
        t.extend_from_slice(&body);
        t.extend_from_slice(b"3DI\x04\0\x10");
        t.extend(to_syncsafe(body.len() as u32));
        for (tail, want) in [
            (t, Kinds::from([Kind::Person])),
            (b"Dr Jane Owner".to_vec(), Kinds::from([Kind::Other])),
        ] {
            let mut f = frames2();
            f.extend(tail);
            let mut k = Kinds::new();
            detect_mpeg(&mut Cursor::new(&f), &mut k).unwrap();
            assert_eq!(k, want);
            let mut out = Vec::new();
            strip_mpeg(&mut Cursor::new(&f), &mut out).unwrap();
            assert_eq!(out, frames2());
        }
        // A footer whose header is not where its size says is damaged: `other`.
        let mut f = frames2();
        f.extend_from_slice(b"3DI\x04\0\x10\0\0\0\x05");
        let mut k = Kinds::new();
        assert!(detect_mpeg(&mut Cursor::new(&f), &mut k).is_err());
        // Junk between frames is not the end of the audio.
        let mut f = frames2();
        f.extend_from_slice(b"junk");
        f.extend(frames2());
        let mut k = Kinds::new();
        detect_mpeg(&mut Cursor::new(&f), &mut k).unwrap();
        assert!(k.is_empty(), "{k:?}");
    }

    #[test]
    fn frame_lengths() {
        let len = |h: [u8; 4]| frame_len(&[h[0], h[1], h[2], h[3], 0, 0]);
        assert_eq!(len([0xff, 0xfb, 0x90, 0x00]), Some(417)); // MPEG-1 L3 128k 44.1k
        assert_eq!(len([0xff, 0xfb, 0x92, 0x00]), Some(418)); // padded
        assert_eq!(len([0xff, 0xf3, 0x90, 0x00]), Some(261)); // MPEG-2 L3 80k 22.05k
        assert_eq!(len([0xff, 0xfd, 0x90, 0x00]), Some(522)); // MPEG-1 L2 160k 44.1k
        assert_eq!(len([0xff, 0xfb, 0x00, 0x00]), None); // free format
        assert_eq!(len([0xff, 0xfb, 0xf0, 0x00]), None); // bad bitrate
        assert_eq!(len([0xff, 0xeb, 0x90, 0x00]), None); // reserved version
        // ADTS: the length is in the header.
        assert_eq!(frame_len(&[0xff, 0xf1, 0x50, 0x80, 0x2e, 0x7f]), Some(371));
    }
}

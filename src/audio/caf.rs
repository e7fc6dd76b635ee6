//! CAF files whose AAC magic cookie is a bare AudioSpecificConfig rather than the ES
//! descriptor Apple writes: symphonia's CAF reader parses the cookie as a descriptor and
//! fails (or decodes with a guessed configuration), so such a file is handed to it with the
//! cookie wrapped in an ES descriptor. CAF keeps no absolute offsets (the packet table holds
//! sizes), so replacing one chunk in the byte stream changes nothing else.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use symphonia::core::io::MediaSource;

/// At most this many chunks are examined before the cookie (hostile files).
const MAX_CHUNKS: usize = 1_000;
/// A cookie larger than this is no bare AudioSpecificConfig.
const MAX_ASC: u64 = 64;

/// A CAF file seen with its `kuki` chunk replaced.
pub struct Spliced {
    file: File,
    /// Where the replaced chunk starts and ends in the file.
    cut: (u64, u64),
    chunk: Vec<u8>,
    len: u64,
    pos: u64,
}

/// `Some` when `path` is a CAF file of AAC whose cookie is a bare AudioSpecificConfig: the
/// file as it would be with an ES-descriptor cookie.
pub fn with_descriptor_cookie(path: &Path) -> io::Result<Option<Spliced>> {
    let mut file = File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    file.rewind()?;
    let mut head = [0u8; 8];
    if file.read_exact(&mut head).is_err() || &head[..4] != b"caff" {
        return Ok(None);
    }
    let (mut pos, mut aac) = (8u64, false);
    for _ in 0..MAX_CHUNKS {
        let mut hdr = [0u8; 12];
        if pos + 12 > len || file.read_exact(&mut hdr).is_err() {
            return Ok(None);
        }
        let size = i64::from_be_bytes(hdr[4..12].try_into().expect("8 bytes"));
        let Ok(size) = u64::try_from(size) else {
            return Ok(None); // a data chunk running to the end: no cookie after it
        };
        let end = match (pos + 12).checked_add(size) {
            Some(end) if end <= len => end,
            _ => return Ok(None),
        };
        match &hdr[..4] {
            b"desc" if size >= 12 => {
                let mut body = [0u8; 12];
                file.read_exact(&mut body)?;
                aac = &body[8..12] == b"aac ";
            }
            b"kuki" if aac && size <= MAX_ASC => {
                let mut cookie = vec![0u8; size as usize];
                file.read_exact(&mut cookie)?;
                if !is_bare_asc(&cookie) {
                    return Ok(None);
                }
                let chunk = descriptor_chunk(&cookie);
                let spliced_len = len - (end - pos) + chunk.len() as u64;
                return Ok(Some(Spliced {
                    file,
                    cut: (pos, end),
                    chunk,
                    len: spliced_len,
                    pos: 0,
                }));
            }
            b"kuki" | b"data" => return Ok(None),
            _ => {}
        }
        pos = end;
        file.seek(SeekFrom::Start(pos))?;
    }
    Ok(None)
}

/// An AudioSpecificConfig starts with a 5-bit object type (AAC Main, LC, SSR, LTP, SBR or
/// PS); an ES descriptor starts with its tag, 3, which no such config does.
fn is_bare_asc(cookie: &[u8]) -> bool {
    cookie.len() >= 2 && matches!(cookie[0] >> 3, 1..=5 | 29)
}

/// A `kuki` chunk holding `asc` inside an ES descriptor (lengths in Apple's 4-byte form).
fn descriptor_chunk(asc: &[u8]) -> Vec<u8> {
    fn desc(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, 0x80, 0x80, 0x80, body.len() as u8];
        v.extend_from_slice(body);
        v
    }
    // Object type 0x40 (MPEG-4 audio), stream type 0x15 (audio), no buffer or bit rates.
    let config = [&[0x40, 0x15][..], &[0u8; 11], &desc(0x05, asc)].concat();
    let es = [&[0u8; 3][..], &desc(0x04, &config), &desc(0x06, &[0x02])].concat();
    let cookie = desc(0x03, &es);
    let mut chunk = b"kuki".to_vec();
    chunk.extend_from_slice(&(cookie.len() as i64).to_be_bytes());
    chunk.extend_from_slice(&cookie);
    chunk
}

impl Read for Spliced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (start, end) = self.cut;
        let chunk_end = start + self.chunk.len() as u64;
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        if (start..chunk_end).contains(&self.pos) {
            let at = (self.pos - start) as usize;
            let n = buf.len().min(self.chunk.len() - at);
            buf[..n].copy_from_slice(&self.chunk[at..at + n]);
            self.pos += n as u64;
            return Ok(n);
        }
        // Before the chunk, the file's own bytes; after it, the file's shifted by the change.
        let (file_at, limit) = if self.pos < start {
            (self.pos, start - self.pos)
        } else {
            (self.pos - chunk_end + end, self.len - self.pos)
        };
        self.file.seek(SeekFrom::Start(file_at))?;
        let want = buf.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Spliced {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl MediaSource for Spliced {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        [kind.as_slice(), &(body.len() as i64).to_be_bytes(), body].concat()
    }

    fn caf(cookie: &[u8]) -> Vec<u8> {
        let mut desc = 48_000f64.to_be_bytes().to_vec();
        desc.extend_from_slice(b"aac ");
        desc.extend_from_slice(&[0u8; 20]);
        [
            b"caff\0\x01\0\0".as_slice(),
            &chunk(b"desc", &desc),
            &chunk(b"kuki", cookie),
            &chunk(b"data", b"\0\0\0\0payload"),
        ]
        .concat()
    }

    fn read_all(s: &mut Spliced) -> Vec<u8> {
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn a_bare_config_is_wrapped_and_nothing_else_moves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.caf");
        std::fs::write(&path, caf(&[0x11, 0x88])).unwrap();
        let mut s = with_descriptor_cookie(&path).unwrap().expect("spliced");
        let expected = caf(&descriptor_chunk(&[0x11, 0x88])[12..]);
        assert_eq!(s.byte_len(), Some(expected.len() as u64));
        assert_eq!(read_all(&mut s), expected);
        // Seeking anywhere reads the same bytes as the whole.
        for at in [0, 5, 60, 75, 90, expected.len() - 3] {
            s.seek(SeekFrom::Start(at as u64)).unwrap();
            assert_eq!(read_all(&mut s), expected[at..], "{at}");
        }
        assert!(s.seek(SeekFrom::Current(-1_000)).is_err());
    }

    #[test]
    fn descriptor_cookies_and_other_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.caf");
        let es = descriptor_chunk(&[0x14, 0x08])[12..].to_vec();
        for bytes in [
            caf(&es),
            b"caff".to_vec(),
            Vec::new(),
            b"RIFF\0\0\0\0WAVE".to_vec(),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            assert!(with_descriptor_cookie(&path).unwrap().is_none());
        }
        // Truncated anywhere, or with a lying chunk size: no splice, no panic.
        let whole = caf(&[0x11, 0x88]);
        for cut in 0..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let _ = with_descriptor_cookie(&path).unwrap();
        }
        let mut lie = whole.clone();
        lie[12..20].copy_from_slice(&i64::MAX.to_be_bytes());
        std::fs::write(&path, &lie).unwrap();
        assert!(with_descriptor_cookie(&path).unwrap().is_none());
    }

    proptest::proptest! {
        /// Damage anywhere in a CAF file: no panic, and a splice reads back exactly its length.
        #[test]
        fn damaged_files_are_handled(
            flips in proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 0..8),
            cut in 0usize..200,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.caf");
            let mut b = caf(&[0x11, 0x88]);
            for (at, v) in flips {
                let i = at % b.len();
                b[i] = v;
            }
            b.truncate(cut.max(8).min(b.len()));
            std::fs::write(&path, &b).unwrap();
            if let Some(mut s) = with_descriptor_cookie(&path).unwrap() {
                let len = s.byte_len().unwrap();
                proptest::prop_assert_eq!(read_all(&mut s).len() as u64, len);
            }
        }
    }
}

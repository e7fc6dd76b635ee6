//! What a file's first bytes say about its container, before any demuxer runs: the formats
//! decoded outside symphonia (Ogg Opus, AMR), the containers recognised only so that their
//! refusal can name them, and the file-name extension that names the content (never the
//! user's extension: an MP3 named `.m4a` is an MP3).

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// How many leading bytes are examined.
const HEAD_LEN: usize = 4096;

/// The first bytes of a file.
#[derive(Debug, Clone, Default)]
pub struct Head(Vec<u8>);

/// What the first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// Ogg carrying Opus (decoded by opus-pure's own Ogg reader).
    OggOpus,
    /// An AMR-NB storage file (`#!AMR`).
    AmrNb,
    /// An AMR-WB storage file (`#!AMR-WB`), which no decoder here handles.
    AmrWb,
    /// A container this build cannot read, by its common name.
    Unsupported(&'static str),
    /// Anything else: left to symphonia's probe.
    Other,
}

impl Head {
    /// Reads the first bytes of `path`.
    pub fn read(path: &Path) -> std::io::Result<Head> {
        let mut bytes = Vec::with_capacity(HEAD_LEN);
        File::open(path)?
            .take(HEAD_LEN as u64)
            .read_to_end(&mut bytes)?;
        Ok(Head(bytes))
    }

    /// Wraps bytes already read.
    #[cfg(test)]
    fn from_bytes(bytes: &[u8]) -> Head {
        Head(bytes[..bytes.len().min(HEAD_LEN)].to_vec())
    }

    /// What the bytes say about the container.
    pub fn sniff(&self) -> Sniffed {
        let h = self.0.as_slice();
        let at = |i: usize, magic: &[u8]| h.get(i..i + magic.len()) == Some(magic);
        if at(0, b"OggS") && h[..h.len().min(64)].windows(8).any(|w| w == b"OpusHead") {
            return Sniffed::OggOpus;
        }
        if at(0, b"#!AMR\n") {
            return Sniffed::AmrNb;
        }
        if at(0, b"#!AMR-WB\n") {
            return Sniffed::AmrWb;
        }
        let name = if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
            "ASF (Windows Media)"
        } else if at(0, b".RMF") {
            "RealMedia"
        } else if at(0, b".snd") {
            "Sun AU"
        } else if at(0, b"RIFF") && at(8, b"AVI ") {
            "AVI"
        } else if at(0, b"riff") && at(8, &[0x77, 0x61, 0x76, 0x65, 0xF3, 0xAC, 0xD3, 0x11]) {
            "Sony Wave64"
        } else if at(0, b"FLV\x01") {
            "Flash Video (FLV)"
        } else if at(0, b"wvpk") {
            "WavPack"
        } else if at(0, b"MAC ") {
            "Monkey's Audio (APE)"
        } else if at(0, b"MPCK") || at(0, b"MP+") {
            "Musepack"
        } else if at(0, &[0, 0, 1, 0xBA]) {
            "MPEG program stream"
        } else if h.len() >= 377 && h[0] == 0x47 && h[188] == 0x47 && h[376] == 0x47 {
            "MPEG transport stream"
        } else {
            return Sniffed::Other;
        };
        Sniffed::Unsupported(name)
    }

    /// The file-name extension naming this content, given the container symphonia (or our
    /// own sniffing) recognised and the codec inside it. Always plain lower-case ASCII.
    pub fn extension(&self, container: &str, codec: &str) -> &'static str {
        match container {
            "isomp4" => match self.mp4_brand() {
                Some(b) if b.starts_with(b"3g2") => "3g2",
                Some(b) if b.starts_with(b"3g") => "3gp",
                _ => "m4a",
            },
            "matroska" if self.ebml_doc_type() == Some(b"webm".as_slice()) => "webm",
            "matroska" => "mka",
            "ogg" if codec == "opus" => "opus",
            "ogg" => "ogg",
            "wave" => "wav",
            "aiff" => "aiff",
            "mp3" => "mp3",
            "mp2" => "mp2",
            "mp1" => "mp1",
            "flac" => "flac",
            "caf" => "caf",
            "aac" => "aac",
            "amr" => "amr",
            _ => "bin",
        }
    }

    /// The major brand of an ISO-BMFF `ftyp` box at the start.
    fn mp4_brand(&self) -> Option<&[u8]> {
        (self.0.get(4..8) == Some(b"ftyp")).then(|| self.0.get(8..12))?
    }

    /// The EBML header's `DocType` (`webm`, `matroska`), when it is in the first bytes.
    fn ebml_doc_type(&self) -> Option<&[u8]> {
        let h = &self.0;
        if h.get(..4) != Some(&[0x1A, 0x45, 0xDF, 0xA3]) {
            return None;
        }
        let at = h.windows(2).position(|w| w == [0x42, 0x82])?;
        // A one-byte size (`1xxxxxxx`) is what every muxer writes for so short a string.
        let size = *h.get(at + 2)?;
        if size & 0x80 == 0 {
            return None;
        }
        let len = usize::from(size & 0x7F);
        h.get(at + 3..at + 3 + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_named_from_their_bytes() {
        let ftyp = |brand: &[u8; 4]| {
            Head::from_bytes(&[b"\0\0\0\x18ftyp".as_slice(), brand, b"\0\0\0\0"].concat())
        };
        assert_eq!(ftyp(b"M4A ").extension("isomp4", "aac"), "m4a");
        assert_eq!(ftyp(b"3gp4").extension("isomp4", "amr_nb"), "3gp");
        assert_eq!(ftyp(b"3g2a").extension("isomp4", "aac"), "3g2");
        assert_eq!(ftyp(b"qt  ").extension("isomp4", "aac"), "m4a");
        let webm = Head::from_bytes(b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm");
        assert_eq!(webm.extension("matroska", "opus"), "webm");
        let mkv = Head::from_bytes(b"\x1A\x45\xDF\xA3\x9F\x42\x82\x88matroska");
        assert_eq!(mkv.extension("matroska", "opus"), "mka");
        let none = Head::default();
        assert_eq!(none.extension("ogg", "opus"), "opus");
        assert_eq!(none.extension("ogg", "vorbis"), "ogg");
        assert_eq!(none.extension("mp3", "mp3"), "mp3");
        assert_eq!(none.extension("something-new", "x"), "bin");
    }

    #[test]
    fn unsupported_containers_are_recognised_by_name() {
        let asf = [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9];
        assert_eq!(
            Head::from_bytes(&asf).sniff(),
            Sniffed::Unsupported("ASF (Windows Media)")
        );
        assert_eq!(
            Head::from_bytes(b"RIFF\0\0\0\0AVI LIST").sniff(),
            Sniffed::Unsupported("AVI")
        );
        assert_eq!(
            Head::from_bytes(b"RIFF\0\0\0\0WAVEfmt ").sniff(),
            Sniffed::Other
        );
        let mut ts = vec![0u8; 400];
        for i in [0, 188, 376] {
            ts[i] = 0x47;
        }
        assert_eq!(
            Head::from_bytes(&ts).sniff(),
            Sniffed::Unsupported("MPEG transport stream")
        );
        assert_eq!(Head::from_bytes(b"#!AMR\n").sniff(), Sniffed::AmrNb);
        assert_eq!(Head::from_bytes(b"").sniff(), Sniffed::Other);
    }
}

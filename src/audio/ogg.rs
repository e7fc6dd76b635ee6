//! The layout of an Ogg file, found by walking its page headers before anything is decoded:
//! its links (a chained file, RFC 3533 §4: `cat a.opus b.opus`, as voice-note apps and
//! stream recorders write them, is several complete streams one after another), and the
//! logical streams each link multiplexes. Every link is decoded in turn; what the pipeline
//! cannot represent (links of different codecs, channel counts or rates, several streams
//! interleaved in one link) is refused, naming the link, so that no audio is ever dropped
//! in silence. Bytes after the last page that hold no Ogg page (a tag or padding some
//! writers append) are not audio and are ignored; a damaged or cut page is refused.

use std::io::{self, Read, Seek, SeekFrom};
#[cfg(test)]
use std::path::Path;

use super::decode::AudioError;

/// At most this many links are read (a stream recorder restarting every minute for a
/// week stays far below it).
const MAX_LINKS: usize = 100_000;
/// At most this many logical streams one link may begin (the format allows any number).
const MAX_STREAMS: usize = 64;
/// Bytes kept of each stream's first packet: every identification header visitrec reads
/// fits (OpusHead with family-0 mapping: 19; Vorbis: 30).
const ID_BYTES: usize = 64;

/// The first page of a logical stream.
const BOS: u8 = 0x02;
/// The last page of a logical stream.
const EOS: u8 = 0x04;

/// One logical stream: its serial number and the start of its identification header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The serial number its pages carry.
    pub serial: u32,
    /// The first bytes (at most [`ID_BYTES`]) of its first packet.
    pub id: Vec<u8>,
}

/// The codec a stream's identification header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `OpusHead`, with its channel count.
    Opus {
        /// Output channels.
        channels: u8,
    },
    /// A Vorbis identification header, with its channel count and rate.
    Vorbis {
        /// Channels.
        channels: u8,
        /// Sample rate in Hz.
        rate: u32,
    },
    /// Any other codec, by its common name (`flac`, `speex`, `theora`, `skeleton`, …).
    Other(&'static str),
}

impl Codec {
    /// Its short name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus { .. } => "opus",
            Codec::Vorbis { .. } => "vorbis",
            Codec::Other(name) => name,
        }
    }
}

impl Codec {
    /// Whether it is audio (a codec not known here counts as audio: it is never dropped in
    /// silence).
    pub fn is_audio(self) -> bool {
        !matches!(
            self,
            Codec::Other("theora (video)" | "skeleton" | "kate (subtitles)")
        )
    }
}

impl Stream {
    /// The codec its identification header names.
    pub fn codec(&self) -> Codec {
        let id = self.id.as_slice();
        if id.starts_with(b"OpusHead") && id.len() >= 19 {
            Codec::Opus { channels: id[9] }
        } else if id.starts_with(b"\x01vorbis") && id.len() >= 16 {
            Codec::Vorbis {
                channels: id[11],
                rate: u32::from_le_bytes([id[12], id[13], id[14], id[15]]),
            }
        } else if id.starts_with(b"\x7fFLAC") || id.starts_with(b"fLaC") {
            Codec::Other("flac")
        } else if id.starts_with(b"Speex   ") {
            Codec::Other("speex")
        } else if id.starts_with(b"\x80theora") {
            Codec::Other("theora (video)")
        } else if id.starts_with(b"\x80kate\0\0\0") {
            Codec::Other("kate (subtitles)")
        } else if id.starts_with(b"fishead\0") {
            Codec::Other("skeleton")
        } else {
            Codec::Other("unknown")
        }
    }
}

/// One link: a group of logical streams that begin together, from its first page to the
/// byte after its last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Where its first page starts.
    pub start: u64,
    /// Where the page after its last would start.
    pub end: u64,
    /// The logical streams it begins, in the order of their first pages.
    pub streams: Vec<Stream>,
}

/// An Ogg file's links, and how many bytes follow the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The links, in file order (at least one).
    pub links: Vec<Link>,
    /// Bytes after the last page that hold no Ogg page.
    pub trailing: u64,
}

fn corrupt(why: String) -> AudioError {
    AudioError::Corrupt(format!("ogg: {why}"))
}

/// The link being gathered.
struct Open {
    link: Link,
    /// Serial numbers of its streams that have not ended.
    running: Vec<u32>,
    /// Whether a page other than a first page has been seen (a first page after that
    /// begins the next link).
    past_heads: bool,
}

/// Walks every page header of `r` from its start (reading bodies only of first pages, and
/// skipping the others within the buffer) and returns the links. Never panics: a damaged
/// file is an [`AudioError::Corrupt`].
pub fn scan<R: Read + Seek>(r: &mut io::BufReader<R>) -> Result<Layout, AudioError> {
    let len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut links = Vec::new();
    let mut open: Option<Open> = None;
    let mut pos = 0u64;
    while pos < len {
        let mut h = [0u8; 27];
        let got = read_up_to(r, &mut h)?;
        if got < 27 || &h[..4] != b"OggS" || h[4] != 0 {
            if open.is_none() {
                return Err(corrupt("no Ogg page at the start of the file".into()));
            }
            match find_capture(r, pos)? {
                Some(at) if at == pos => {
                    return Err(corrupt(format!(
                        "the page at byte {pos} is damaged or cut short"
                    )));
                }
                Some(at) => {
                    return Err(corrupt(format!(
                        "damaged data at byte {pos}, before the Ogg page at byte {at}"
                    )));
                }
                None => break,
            }
        }
        let (flags, serial, nseg) = (h[5], u32_le(&h[14..18]), usize::from(h[26]));
        let mut lacing = [0u8; 255];
        let lacing = &mut lacing[..nseg];
        if read_up_to(r, lacing)? < nseg {
            return Err(corrupt(format!(
                "the file ends inside the page at byte {pos}"
            )));
        }
        let body: u64 = lacing.iter().map(|&l| u64::from(l)).sum();
        let end = pos + 27 + nseg as u64 + body;
        let mut read = 27 + nseg as u64;
        if end > len {
            return Err(corrupt(format!(
                "the file ends inside the page at byte {pos}"
            )));
        }
        if flags & BOS != 0 {
            let next_link = open.as_ref().is_some_and(|o| o.past_heads);
            if next_link {
                links.extend(open.take().map(|o| o.link));
                if links.len() >= MAX_LINKS {
                    return Err(corrupt(format!("more than {MAX_LINKS} chained links")));
                }
            }
            let o = open.get_or_insert_with(|| Open {
                link: Link {
                    start: pos,
                    end,
                    streams: Vec::new(),
                },
                running: Vec::new(),
                past_heads: false,
            });
            if o.link.streams.iter().any(|s| s.serial == serial) {
                return Err(corrupt(format!(
                    "logical stream {serial:#x} begins twice (page at byte {pos})"
                )));
            }
            if o.link.streams.len() >= MAX_STREAMS {
                return Err(corrupt(format!(
                    "more than {MAX_STREAMS} logical streams in one link"
                )));
            }
            // The identification header is the first packet: the segments up to the
            // first one shorter than 255 bytes.
            let first = lacing
                .iter()
                .position(|&l| l < 255)
                .map_or(body, |i| 255 * i as u64 + u64::from(lacing[i]));
            let mut id = vec![0u8; first.min(ID_BYTES as u64) as usize];
            r.read_exact(&mut id)?;
            read += id.len() as u64;
            o.link.streams.push(Stream { serial, id });
            o.running.push(serial);
        } else {
            let Some(o) = open.as_mut() else {
                return Err(corrupt("the first page does not begin a stream".into()));
            };
            if !o.link.streams.iter().any(|s| s.serial == serial) {
                return Err(corrupt(format!(
                    "the page at byte {pos} belongs to a logical stream ({serial:#x}) that \
                     never began"
                )));
            }
            o.past_heads = true;
        }
        if let Some(o) = open.as_mut() {
            o.link.end = end;
            if flags & EOS != 0 {
                o.running.retain(|&s| s != serial);
            }
        }
        r.seek_relative(i64::try_from(end - pos - read).expect("a page is under 64 KiB"))?;
        pos = end;
    }
    links.extend(open.map(|o| o.link));
    if links.is_empty() {
        return Err(corrupt("no Ogg page in the file".into()));
    }
    Ok(Layout {
        links,
        trailing: len - pos.min(len),
    })
}

impl Layout {
    /// The one audio codec every link carries, checked to be representable as one stream:
    /// each link holds a single audio stream (beside, at most, streams that are not audio:
    /// video, a skeleton), all of the same codec, channel count and rate. The refusal names
    /// the link that differs.
    pub fn audio_codec(&self) -> Result<Codec, AudioError> {
        let mut first = None;
        for (i, link) in self.links.iter().enumerate() {
            let which = self.which(i);
            let codecs: Vec<Codec> = link.streams.iter().map(Stream::codec).collect();
            let names = || {
                codecs
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut audio = codecs.iter().copied().filter(|c| c.is_audio());
            let codec = match (audio.next(), audio.next()) {
                (Some(c), None) => c,
                (None, _) => {
                    return Err(AudioError::NoAudioTrack(format!(
                        "{which} holds only {}",
                        names()
                    )));
                }
                (Some(_), Some(_)) => {
                    return Err(AudioError::UnsupportedContainer(format!(
                        "{which} multiplexes {} audio streams ({}); only one can be read",
                        codecs.iter().filter(|c| c.is_audio()).count(),
                        names()
                    )));
                }
            };
            let Some(want) = first else {
                first = Some(codec);
                continue;
            };
            let differs = match (want, codec) {
                _ if want.name() != codec.name() => {
                    Some(format!("is {}, link 1 is {}", codec.name(), want.name()))
                }
                (Codec::Opus { channels: a }, Codec::Opus { channels: b })
                | (Codec::Vorbis { channels: a, .. }, Codec::Vorbis { channels: b, .. })
                    if a != b =>
                {
                    Some(format!("has {b} channels, link 1 has {a}"))
                }
                (Codec::Vorbis { rate: a, .. }, Codec::Vorbis { rate: b, .. }) if a != b => {
                    Some(format!("is at {b} Hz, link 1 at {a} Hz"))
                }
                _ => None,
            };
            if let Some(why) = differs {
                return Err(AudioError::UnsupportedContainer(format!(
                    "{which} {why} (the links cannot be decoded as one recording)"
                )));
            }
        }
        Ok(first.expect("a layout has at least one link"))
    }

    /// Refuses a link that holds more than its one stream (what Ogg Opus decoding reads).
    pub fn lone_streams(&self) -> Result<(), AudioError> {
        for (i, link) in self.links.iter().enumerate() {
            if link.streams.len() > 1 {
                let names: Vec<&str> = link.streams.iter().map(|s| s.codec().name()).collect();
                return Err(AudioError::UnsupportedContainer(format!(
                    "{} multiplexes {} logical streams ({}); Ogg Opus is read only alone",
                    self.which(i),
                    names.len(),
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// How a message names link `i` (counted from 0).
    fn which(&self, i: usize) -> String {
        if self.links.len() > 1 {
            format!("chained Ogg: link {}", i + 1)
        } else {
            "Ogg".to_string()
        }
    }
}

/// Where the next `OggS` is at or after `from`, reading to the end of the file.
fn find_capture<R: Read + Seek>(r: &mut R, from: u64) -> io::Result<Option<u64>> {
    r.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize;
    let mut base = from;
    loop {
        let n = r.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(None);
        }
        let have = carry + n;
        if let Some(i) = buf[..have].windows(4).position(|w| w == b"OggS") {
            return Ok(Some(base + i as u64));
        }
        carry = have.min(3);
        buf.copy_within(have - carry..have, 0);
        base += (have - carry) as u64;
    }
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Fills as much of `buf` as the source holds; the count read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A page of `serial` holding `packets` whole (no CRC: the walk does not check it).
    fn page(flags: u8, serial: u32, packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        let mut body = Vec::new();
        for p in packets {
            lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
            lacing.push((p.len() % 255) as u8);
            body.extend_from_slice(p);
        }
        let mut out = b"OggS\0".to_vec();
        out.push(flags);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&serial.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.push(lacing.len() as u8);
        out.extend(lacing);
        out.extend(body);
        out
    }

    fn opus_head(channels: u8) -> Vec<u8> {
        let mut h = b"OpusHead\x01".to_vec();
        h.extend_from_slice(&[channels, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 0]);
        h
    }

    fn vorbis_head(channels: u8, rate: u32) -> Vec<u8> {
        let mut h = b"\x01vorbis\0\0\0\0".to_vec();
        h.push(channels);
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&[0; 14]);
        h
    }

    /// A whole stream: its first page, a comment page, `audio` data pages, the last one
    /// flagged as the end (unless `ends` is false).
    fn stream(serial: u32, id: &[u8], audio: usize, ends: bool) -> Vec<u8> {
        let mut out = page(BOS, serial, &[id]);
        out.extend(page(0, serial, &[b"OpusTags"]));
        for i in 0..audio {
            let last = ends && i + 1 == audio;
            out.extend(page(if last { EOS } else { 0 }, serial, &[&[0xFC; 40]]));
        }
        out
    }

    fn scan_bytes(b: &[u8]) -> Result<Layout, AudioError> {
        scan(&mut io::BufReader::new(Cursor::new(b)))
    }

    fn bounds(l: &Layout) -> Vec<(u64, u64, usize)> {
        l.links
            .iter()
            .map(|k| (k.start, k.end, k.streams.len()))
            .collect()
    }

    #[test]
    fn links_are_found_where_each_begins_even_with_the_same_serial_or_no_end() {
        let one = stream(7, &opus_head(1), 3, true);
        let two = stream(7, &opus_head(1), 2, true);
        let cut = stream(9, &opus_head(1), 2, false);
        let file = [one.clone(), two.clone(), cut.clone(), one.clone()].concat();
        let l = scan_bytes(&file).unwrap();
        let (a, b, c) = (one.len() as u64, two.len() as u64, cut.len() as u64);
        assert_eq!(
            bounds(&l),
            [
                (0, a, 1),
                (a, a + b, 1),
                (a + b, a + b + c, 1),
                (a + b + c, 2 * a + b + c, 1)
            ]
        );
        assert_eq!(l.trailing, 0);
        assert_eq!(l.audio_codec().unwrap(), Codec::Opus { channels: 1 });
        assert!(l.lone_streams().is_ok());
        let l = scan_bytes(&one).unwrap();
        assert_eq!(bounds(&l), [(0, a, 1)]);
    }

    #[test]
    fn multiplexed_streams_are_one_link_and_two_audio_streams_are_refused() {
        let mut file = page(BOS, 1, &[&opus_head(1)]);
        file.extend(page(BOS, 2, &[&opus_head(2)]));
        for s in [1, 2, 1, 2] {
            file.extend(page(0, s, &[&[0xFC; 9]]));
        }
        let l = scan_bytes(&file).unwrap();
        assert_eq!(bounds(&l), [(0, file.len() as u64, 2)]);
        let e = l.audio_codec().unwrap_err().to_string();
        assert_eq!(
            e,
            "unsupported container: Ogg multiplexes 2 audio streams (opus, opus); only one \
             can be read"
        );
        // Beside a stream that is not audio, the audio stream is the one read; Ogg Opus
        // decoding, which reads a lone stream, refuses it saying why.
        let mut file = page(BOS, 1, &[&opus_head(1)]);
        file.extend(page(BOS, 2, &[b"fishead\0\x03\0"]));
        file.extend(page(0, 1, &[&[0xFC; 9]]));
        let l = scan_bytes(&file).unwrap();
        assert_eq!(l.audio_codec().unwrap(), Codec::Opus { channels: 1 });
        let e = l.lone_streams().unwrap_err().to_string();
        assert!(e.contains("2 logical streams (opus, skeleton)"), "{e}");
        // A link of video alone has no audio to read.
        let video = page(BOS, 3, &[b"\x80theora\x03\x02"]);
        let l = scan_bytes(&[stream(1, &opus_head(1), 1, true), video].concat()).unwrap();
        let e = l.audio_codec().unwrap_err().to_string();
        assert_eq!(
            e,
            "no audio track (chained Ogg: link 2 holds only theora (video))"
        );
    }

    #[test]
    fn links_that_cannot_make_one_recording_are_refused_naming_the_link() {
        let cases = [
            (opus_head(2), "link 2 has 2 channels, link 1 has 1"),
            (vorbis_head(1, 16_000), "link 2 is vorbis, link 1 is opus"),
        ];
        for (id, why) in cases {
            let file = [stream(1, &opus_head(1), 1, true), stream(2, &id, 1, true)].concat();
            let e = scan_bytes(&file).unwrap().audio_codec().unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "unsupported container: chained Ogg: {why} (the links cannot be decoded \
                     as one recording)"
                )
            );
        }
        let file = [
            stream(1, &vorbis_head(1, 16_000), 1, true),
            stream(1, &vorbis_head(1, 16_000), 1, true),
            stream(1, &vorbis_head(1, 22_050), 1, true),
        ]
        .concat();
        let e = scan_bytes(&file).unwrap().audio_codec().unwrap_err();
        assert!(
            e.to_string()
                .contains("chained Ogg: link 3 is at 22050 Hz, link 1 at 16000 Hz"),
            "{e}"
        );
    }

    #[test]
    fn trailing_bytes_are_ignored_but_damaged_and_cut_pages_are_refused() {
        let one = stream(7, &opus_head(1), 2, true);
        for tail in [&b"TAG"[..], &[0u8; 300], b"not an ogg page at all"] {
            let l = scan_bytes(&[&one[..], tail].concat()).unwrap();
            assert_eq!(bounds(&l), [(0, one.len() as u64, 1)]);
            assert_eq!(l.trailing, tail.len() as u64);
        }
        let e = scan_bytes(&[&one[..], b"junk", &one[..]].concat()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "damaged or truncated audio: ogg: damaged data at byte {}, before the Ogg \
                 page at byte {}",
                one.len(),
                one.len() + 4
            )
        );
        // A second link cut anywhere: refused at the page it is cut in (unless the cut
        // leaves whole pages and at most three bytes of a capture pattern, which are no
        // page).
        for cut in 1..one.len() {
            let b = [&one[..], &one[..cut]].concat();
            match scan_bytes(&b) {
                // Cut at a page boundary, the second link is whole pages.
                Ok(l) => assert!(
                    l.trailing < 4 && l.links.last().unwrap().end + l.trailing == b.len() as u64,
                    "{cut}"
                ),
                Err(e) => assert!(e.to_string().contains(" at byte "), "{cut}: {e}"),
            }
        }
        assert!(scan_bytes(&one[..0]).is_err());
        let pages = [47, 47 + 36, 47 + 36 + 68];
        for cut in 1..one.len() {
            let r = scan_bytes(&one[..cut]);
            let whole = pages.iter().rev().find(|&&p| p <= cut);
            assert_eq!(
                r.is_ok(),
                whole.is_some_and(|p| cut - p < 4),
                "{cut}: {r:?}"
            );
        }
        let stray = [&one[..], &page(0, 8, &[b"x"])].concat();
        let e = scan_bytes(&stray).unwrap_err().to_string();
        assert!(e.contains("(0x8) that never began"), "{e}");
        let e = scan_bytes(&[&one[..], &page(BOS, 7, &[b"x"])[..]].concat());
        assert!(e.is_ok(), "a link may reuse the serial of the one before");
        let mut twice = page(BOS, 7, &[&opus_head(1)]);
        twice.extend(page(BOS, 7, &[&opus_head(1)]));
        assert!(
            scan_bytes(&twice)
                .unwrap_err()
                .to_string()
                .contains("begins twice")
        );
    }

    #[test]
    fn the_chained_fixture_splits_where_its_links_were_joined() {
        let fixture = |n: &str| {
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/containers")
                    .join(n),
            )
            .unwrap()
        };
        for (chain, first) in [
            ("chained.opus", "chained-link1.opus"),
            ("chained.ogg", "chained-link1.ogg"),
        ] {
            let (chain, first) = (fixture(chain), fixture(first).len() as u64);
            let l = scan_bytes(&chain).unwrap();
            assert_eq!(bounds(&l), [(0, first, 1), (first, chain.len() as u64, 1)]);
        }
    }

    proptest::proptest! {
        /// Links of any number of pages, followed by any bytes: the walk finds each link
        /// where it begins, or refuses; it never panics. Any bytes and any damage to a
        /// real file are walked safely.
        #[test]
        fn any_layout_and_any_bytes_are_walked_safely(
            links in proptest::collection::vec((1u32..4, 0usize..5, proptest::bool::ANY), 1..5),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 0..12),
        ) {
            let mut file = Vec::new();
            let mut want = Vec::new();
            for (serial, audio, ends) in links {
                let s = stream(serial, &opus_head(1), audio, ends);
                want.push((file.len() as u64, (file.len() + s.len()) as u64, 1));
                file.extend(s);
            }
            let l = scan_bytes(&file).unwrap();
            proptest::prop_assert_eq!(bounds(&l), want.clone());
            file.extend(&tail);
            // Bytes holding no page are trailing; a page in them is read or refused.
            match scan_bytes(&file) {
                Ok(l) if !tail.windows(4).any(|w| w == b"OggS") => {
                    proptest::prop_assert_eq!(bounds(&l), want);
                    proptest::prop_assert_eq!(l.trailing, tail.len() as u64);
                }
                Ok(_) => {}
                Err(e) => {
                    proptest::prop_assert!(tail.windows(4).any(|w| w == b"OggS"));
                    proptest::prop_assert!(matches!(e, AudioError::Corrupt(_)));
                }
            }
            let _ = scan_bytes(&tail);
            let mut b = include_bytes!("../../tests/fixtures/containers/chained.opus").to_vec();
            for (at, v) in flips {
                let i = at % b.len();
                b[i] = v;
            }
            if let Ok(l) = scan_bytes(&b) {
                let _ = l.audio_codec();
            }
        }
    }
}

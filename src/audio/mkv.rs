//! A small, bounded Matroska/WebM element walker for what symphonia's demuxer does not
//! expose: whether the file has a video track, and the `DiscardPadding` of an audio track's
//! last block (the Opus encoder's end padding, in nanoseconds, which ffmpeg trims). Only
//! element headers are read, plus the few bytes naming a block's track: memory stays constant
//! whatever the file holds.

use std::io::{self, BufRead, Seek};

/// At most this many elements are visited (a 12-hour Opus recording has about 2.2 million
/// blocks).
const MAX_ELEMENTS: u64 = 64_000_000;

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1F43_B675;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const SIMPLE_BLOCK: u32 = 0xA3;
const DISCARD_PADDING: u32 = 0x75A2;

/// Matroska's track type for video.
const TYPE_VIDEO: u64 = 1;

/// What the walker found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MkvFacts {
    /// Whether any track is a video track.
    pub has_video: bool,
    /// The `DiscardPadding` of the audio track's last block, in nanoseconds (0 if none).
    pub tail_padding_ns: u64,
    /// Whether the file ends exactly after a whole element. A live recording (MediaRecorder)
    /// gives its segment no size, so a demuxer meets the end of the file where the next
    /// element would start: that is its end, not a truncation.
    pub ends_cleanly: bool,
}

/// Walks the elements of a Matroska/WebM file, following blocks of track `audio_track`.
/// A malformed or truncated file stops the walk; what was found before is kept.
pub fn scan<R: BufRead + Seek>(r: &mut R, audio_track: u64) -> io::Result<MkvFacts> {
    let end = r.seek(io::SeekFrom::End(0))?;
    r.rewind()?;
    let mut w = Walker {
        r,
        pos: 0,
        elements: 0,
        audio_track,
        facts: MkvFacts::default(),
        cut_short: false,
    };
    let whole = w.walk(end, 0)?;
    w.facts.ends_cleanly = whole && w.pos == end && !w.cut_short;
    Ok(w.facts)
}

struct Walker<'a, R> {
    r: &'a mut R,
    /// Where the reader is.
    pos: u64,
    elements: u64,
    audio_track: u64,
    facts: MkvFacts,
    /// Whether an element's declared size ran past its parent's end (a truncated file).
    cut_short: bool,
}

/// One element's header: its ID, where its body starts, and where it ends (`None`: unknown
/// size, as live recorders write).
struct Element {
    id: u32,
    body: u64,
    end: Option<u64>,
}

impl<R: BufRead + Seek> Walker<'_, R> {
    /// Walks the elements from the current position up to `end`. Returns false when the
    /// file is malformed (the walk stops everywhere).
    fn walk(&mut self, end: u64, depth: usize) -> io::Result<bool> {
        while self.pos < end {
            self.elements += 1;
            if self.elements > MAX_ELEMENTS || depth > 8 {
                return Ok(false);
            }
            let Some(e) = self.header(end)? else {
                return Ok(false);
            };
            let known = e.end.filter(|&x| x <= end);
            match e.id {
                // Live recorders (MediaRecorder) write the segment and each cluster with an
                // unknown size: their children simply follow, so walk on at this level.
                SEGMENT | CLUSTER if e.end.is_none() => {}
                // A truncated file's segment and last cluster end where the file does.
                EBML | SEGMENT | CLUSTER | TRACKS => {
                    let x = e.end.map_or(end, |x| x.min(end));
                    self.cut_short |= e.end.is_some_and(|x| x > end);
                    if !self.walk(x, depth + 1)? {
                        return Ok(false);
                    }
                }
                TRACK_ENTRY => {
                    let Some(x) = known else { return Ok(false) };
                    if !self.track_entry(x)? {
                        return Ok(false);
                    }
                }
                BLOCK_GROUP => {
                    let Some(x) = known else { return Ok(false) };
                    if !self.block_group(x)? {
                        return Ok(false);
                    }
                }
                SIMPLE_BLOCK => {
                    let Some(x) = known else { return Ok(false) };
                    if self.block_track(x)? == Some(self.audio_track) {
                        self.facts.tail_padding_ns = 0;
                    }
                    self.skip_to(x)?;
                }
                _ => {
                    let Some(x) = known else { return Ok(false) };
                    self.skip_to(x)?;
                }
            }
        }
        Ok(true)
    }

    fn track_entry(&mut self, end: u64) -> io::Result<bool> {
        while self.pos < end {
            let Some(e) = self.header(end)? else {
                return Ok(false);
            };
            let Some(x) = e.end.filter(|&x| x <= end) else {
                return Ok(false);
            };
            if e.id == TRACK_TYPE && self.uint(x)? == Some(TYPE_VIDEO) {
                self.facts.has_video = true;
            }
            self.skip_to(x)?;
        }
        Ok(true)
    }

    fn block_group(&mut self, end: u64) -> io::Result<bool> {
        let (mut track, mut padding) = (None, 0u64);
        while self.pos < end {
            let Some(e) = self.header(end)? else {
                return Ok(false);
            };
            let Some(x) = e.end.filter(|&x| x <= end) else {
                return Ok(false);
            };
            match e.id {
                BLOCK => track = self.block_track(x)?,
                DISCARD_PADDING => {
                    // A signed integer; only a positive one is end padding.
                    if let Some(v) = self.uint(x)? {
                        let len = x - e.body;
                        let signed = ((v << (64 - 8 * len)) as i64) >> (64 - 8 * len);
                        padding = u64::try_from(signed).unwrap_or(0);
                    }
                }
                _ => {}
            }
            self.skip_to(x)?;
        }
        if track == Some(self.audio_track) {
            self.facts.tail_padding_ns = padding;
        }
        Ok(true)
    }

    /// The track number at the start of a block's body (a variable-length integer).
    fn block_track(&mut self, end: u64) -> io::Result<Option<u64>> {
        Ok(self.vint(end, false)?.map(|(v, _)| v))
    }

    /// An unsigned integer element of at most 8 bytes ending at `end`.
    fn uint(&mut self, end: u64) -> io::Result<Option<u64>> {
        let len = end - self.pos;
        if len == 0 || len > 8 {
            return Ok(None);
        }
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b[..len as usize])?;
        self.pos += len;
        Ok(Some(
            b[..len as usize]
                .iter()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
        ))
    }

    /// An element header at the current position, if a whole one fits before `end`.
    fn header(&mut self, end: u64) -> io::Result<Option<Element>> {
        let Some((id, _)) = self.vint(end, true)? else {
            return Ok(None);
        };
        let Some((size, unknown)) = self.vint(end, false)? else {
            return Ok(None);
        };
        let body = self.pos;
        Ok(Some(Element {
            id: id as u32,
            body,
            end: if unknown {
                None
            } else {
                body.checked_add(size)
            },
        }))
    }

    /// An EBML variable-length integer (an ID keeps its marker bits; a size drops them and
    /// says whether it is the reserved "unknown" value). `None` if it does not fit.
    fn vint(&mut self, end: u64, is_id: bool) -> io::Result<Option<(u64, bool)>> {
        if self.pos >= end {
            return Ok(None);
        }
        let mut first = [0u8; 1];
        if self.r.read(&mut first)? == 0 {
            return Ok(None);
        }
        self.pos += 1;
        let len = first[0].leading_zeros() as u64 + 1;
        if len > if is_id { 4 } else { 8 } || self.pos + len - 1 > end {
            return Ok(None);
        }
        let mut rest = [0u8; 8];
        let rest = &mut rest[..len as usize - 1];
        if self.r.read_exact(rest).is_err() {
            return Ok(None);
        }
        self.pos += len - 1;
        let marker: u8 = if is_id { 0xFF } else { (0xFFu16 >> len) as u8 };
        let mut v = u64::from(first[0] & marker);
        let mut all_ones = v == u64::from(marker);
        for &b in rest.iter() {
            v = (v << 8) | u64::from(b);
            all_ones &= b == 0xFF;
        }
        Ok(Some((v, !is_id && all_ones)))
    }

    fn skip_to(&mut self, to: u64) -> io::Result<()> {
        if to > self.pos {
            let by = to - self.pos;
            match i64::try_from(by) {
                Ok(by) => self.r.seek_relative(by)?,
                Err(_) => {
                    self.r.seek(io::SeekFrom::Start(to))?;
                }
            }
            self.pos = to;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const TRACK_NUMBER: u32 = 0xD7;

    /// An element with a one-byte-or-more ID and an 8-byte size.
    fn el(id: u32, body: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = id
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        v.push(0x01);
        v.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    fn unknown(id: u32) -> Vec<u8> {
        let mut v: Vec<u8> = id.to_be_bytes().to_vec();
        v.push(0xFF);
        v
    }

    fn track(number: u8, kind: u8) -> Vec<u8> {
        el(
            TRACK_ENTRY,
            &[el(TRACK_NUMBER, &[number]), el(TRACK_TYPE, &[kind])].concat(),
        )
    }

    fn group(number: u8, padding: &[u8]) -> Vec<u8> {
        let block = el(BLOCK, &[0x80 | number, 0, 0, 0, 0xFC]);
        el(BLOCK_GROUP, &[block, el(DISCARD_PADDING, padding)].concat())
    }

    fn scan_bytes(b: Vec<u8>) -> MkvFacts {
        scan(&mut Cursor::new(b), 1).unwrap()
    }

    #[test]
    fn the_audio_tracks_last_discard_padding_and_video_are_found() {
        let tracks = el(TRACKS, &[track(1, 2), track(2, 1)].concat());
        let cluster = el(
            CLUSTER,
            &[
                el(SIMPLE_BLOCK, &[0x81, 0, 0, 0x80, 0xFC]),
                group(1, &[0x00, 0x9C, 0x67, 0xB7, 0x26]),
                group(2, &[0x10]),
            ]
            .concat(),
        );
        let seg = el(SEGMENT, &[tracks, cluster].concat());
        let f = scan_bytes([el(EBML, &el(0x4282, b"webm")), seg].concat());
        assert!(f.has_video);
        assert_eq!(f.tail_padding_ns, 0x9C67_B726);
        // A later block without padding resets it; a negative padding is no end padding.
        let c = el(
            CLUSTER,
            &[group(1, &[0x10]), group(1, &[0xFF, 0x00])].concat(),
        );
        assert_eq!(scan_bytes(el(SEGMENT, &c)).tail_padding_ns, 0);
        let c = el(CLUSTER, &[group(1, &[0x10]), group(1, &[0x05])].concat());
        assert_eq!(scan_bytes(el(SEGMENT, &c)).tail_padding_ns, 5);
    }

    #[test]
    fn live_recordings_of_unknown_size_are_walked() {
        let mut b = unknown(SEGMENT);
        b.extend(el(TRACKS, &track(1, 2)));
        for i in 0..3u8 {
            b.extend(unknown(CLUSTER));
            b.extend(el(0xE7, &[i]));
            b.extend(group(1, &[i + 1]));
        }
        let f = scan_bytes(b);
        assert_eq!(
            f,
            MkvFacts {
                has_video: false,
                tail_padding_ns: 3,
                ends_cleanly: true,
            }
        );
    }

    #[test]
    fn garbage_and_truncation_stop_the_walk_cleanly() {
        let c = el(CLUSTER, &group(1, &[0x07]));
        let full = el(SEGMENT, &c);
        assert_eq!(scan_bytes(full.clone()).tail_padding_ns, 7);
        assert!(scan_bytes(full.clone()).ends_cleanly);
        for cut in 1..full.len() {
            let f = scan_bytes(full[..cut].to_vec());
            assert_eq!(f.tail_padding_ns, 0, "{cut}");
            assert!(!f.ends_cleanly, "{cut}");
        }
        for junk in [
            vec![0u8; 64],
            vec![0xFF; 64],
            b"\x1A\x45\xDF\xA3\x00".to_vec(),
        ] {
            assert_eq!(scan_bytes(junk), MkvFacts::default());
        }
    }

    proptest::proptest! {
        /// Any bytes, and any damage to a real recording's structure: the walk ends, never
        /// panics, and finds no padding larger than a block can hold.
        #[test]
        fn any_bytes_are_walked_safely(
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 0..12),
        ) {
            let _ = scan(&mut Cursor::new(junk), 1).unwrap();
            let mut b = include_bytes!("../../tests/fixtures/containers/mediarecorder.webm")
                .to_vec();
            for (at, v) in flips {
                let i = at % b.len();
                b[i] = v;
            }
            let _ = scan(&mut Cursor::new(b), 1).unwrap();
        }
    }
}

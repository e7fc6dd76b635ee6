//! A small, bounded Matroska/WebM element walker for what symphonia's demuxer does not
//! expose: whether the file has a video track, and the `DiscardPadding` of an audio track's
//! last block (the Opus encoder's end padding, in nanoseconds, which ffmpeg trims), and what
//! tells a damaged file from a whole one (an element that cannot be parsed, a block of an
//! unknown track, the declared duration, the clusters' timecodes). Only element headers are
//! read, plus the few bytes naming a block's track: memory stays constant whatever the file
//! holds.

use std::io::{self, BufRead, Seek};

/// At most this many elements are visited (a 12-hour Opus recording has about 2.2 million
/// blocks).
const MAX_ELEMENTS: u64 = 64_000_000;

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1F43_B675;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const CLUSTER_TIMECODE: u32 = 0xE7;
const TRACK_TYPE: u32 = 0x83;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const SIMPLE_BLOCK: u32 = 0xA3;
const DISCARD_PADDING: u32 = 0x75A2;

/// The elements a cluster holds: timecode, position, previous size, blocks, encrypted
/// block, silent tracks, CRC-32, void. Anything else there is damage a demuxer would stop at.
const CLUSTER_CHILDREN: [u32; 9] = [0xE7, 0xA7, 0xAB, 0xA3, 0xA0, 0xAF, 0x5854, 0xBF, 0xEC];
/// The elements a segment holds: seek head, info, tracks, clusters, cues, chapters, tags,
/// attachments, CRC-32, void.
const SEGMENT_CHILDREN: [u32; 10] = [
    0x114D_9B74,
    INFO,
    TRACKS,
    CLUSTER,
    0x1C53_BB6B,
    0x1043_A770,
    0x1254_C367,
    0x1941_A469,
    0xBF,
    0xEC,
];

/// Matroska's track type for video.
const TYPE_VIDEO: u64 = 1;

/// The timecode scale when Info names none: timecodes in milliseconds.
const DEFAULT_SCALE_NS: u64 = 1_000_000;

/// At most this many track numbers are remembered (a file declaring more is damaged).
const MAX_TRACKS: usize = 64;

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
    /// Where the walk met an element it cannot parse, one running past its parent's end (but
    /// not merely past the end of a file whose header says it is longer: a truncation), or a
    /// block of a track the file does not declare. Such a file is damaged: a demuxer would
    /// stop there as if the recording ended.
    pub invalid_at: Option<u64>,
    /// The segment's declared duration (Info's `Duration`), in nanoseconds. Live recordings
    /// declare none.
    pub duration_ns: Option<u64>,
    /// The last cluster's timecode after the first's, in nanoseconds: audio reaches at least
    /// this far.
    pub cluster_span_ns: Option<u64>,
    /// When the audio track's last block starts, in nanoseconds after its first: the
    /// decoded audio (with the pre-skip) reaches at least this far.
    pub last_block_ns: Option<u64>,
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
        live: false,
        file_end: end,
        scale_ns: DEFAULT_SCALE_NS,
        duration: None,
        tracks: Vec::new(),
        blocks: Vec::new(),
        cluster_times: None,
        audio_blocks: None,
    };
    let whole = w.walk(end, 0, 0)?;
    w.facts.ends_cleanly = whole && w.pos == end && !w.cut_short;
    let undeclared = w
        .blocks
        .iter()
        .filter(|(track, _)| !w.tracks.contains(track))
        .map(|&(_, at)| at)
        .min();
    w.facts.invalid_at = match (w.facts.invalid_at, undeclared) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let scale = w.scale_ns;
    w.facts.duration_ns = w
        .duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| (d * scale as f64).min(u64::MAX as f64) as u64);
    w.facts.cluster_span_ns = w
        .cluster_times
        .map(|(first, last)| last.saturating_sub(first).saturating_mul(scale));
    w.facts.last_block_ns = w.audio_blocks.map(|(first, last)| {
        u64::try_from((last - first).max(0) * i128::from(scale)).unwrap_or(u64::MAX)
    });
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
    /// Whether the segment's size is unknown (a live recording, which may end anywhere).
    live: bool,
    file_end: u64,
    scale_ns: u64,
    /// Info's `Duration`, in timecode-scale units.
    duration: Option<f64>,
    /// The track numbers the file declares.
    tracks: Vec<u64>,
    /// Each track number a block names (at most [`MAX_TRACKS`]), with where it first did.
    blocks: Vec<(u64, u64)>,
    /// The first and last cluster timecodes.
    cluster_times: Option<(u64, u64)>,
    /// When the first and the last audio blocks start, in timecode-scale units.
    audio_blocks: Option<(i128, i128)>,
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
    /// `parent` is the enclosing element's ID (a live segment's clusters have no size, so
    /// a segment's children and a cluster's follow one another).
    fn walk(&mut self, end: u64, depth: usize, parent: u32) -> io::Result<bool> {
        while self.pos < end {
            self.elements += 1;
            if self.elements > MAX_ELEMENTS || depth > 8 {
                return Ok(false);
            }
            let at = self.pos;
            let Some(e) = self.header(end)? else {
                self.invalid(at, u64::MAX, end);
                return Ok(false);
            };
            let allowed = match parent {
                CLUSTER => CLUSTER_CHILDREN.contains(&e.id),
                SEGMENT => SEGMENT_CHILDREN.contains(&e.id) || CLUSTER_CHILDREN.contains(&e.id),
                _ => true,
            };
            if !allowed {
                self.invalid(at, 0, end);
                return Ok(false);
            }
            let known = e.end.filter(|&x| x <= end);
            let master = matches!(e.id, EBML | SEGMENT | CLUSTER | TRACKS | INFO);
            match e.end {
                // A truncated file's segment or last cluster runs past the file's end.
                Some(x) if master && x > end && end == self.file_end => self.cut_short = true,
                None if matches!(e.id, SEGMENT | CLUSTER) => {}
                _ if known.is_none() => self.invalid(at, e.end.unwrap_or(0), end),
                _ => {}
            }
            match e.id {
                // Live recorders (MediaRecorder) write the segment and each cluster with an
                // unknown size: their children simply follow, so walk on at this level.
                SEGMENT | CLUSTER if e.end.is_none() => self.live |= e.id == SEGMENT,
                // A truncated file's segment and last cluster end where the file does.
                EBML | SEGMENT | CLUSTER | TRACKS | INFO => {
                    let x = e.end.map_or(end, |x| x.min(end));
                    if !self.walk(x, depth + 1, e.id)? {
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
                    let track = self.block_track(x)?;
                    self.block_seen(track, at, x)?;
                    if track == Some(self.audio_track) {
                        self.facts.tail_padding_ns = 0;
                    }
                    self.skip_to(x)?;
                }
                TIMECODE_SCALE | CLUSTER_TIMECODE => {
                    let Some(x) = known else { return Ok(false) };
                    let v = self.uint(x)?;
                    match (e.id, v) {
                        (TIMECODE_SCALE, Some(v)) if v > 0 => self.scale_ns = v,
                        (CLUSTER_TIMECODE, Some(v)) => {
                            let (first, _) = self.cluster_times.unwrap_or((v, v));
                            self.cluster_times = Some((first, v));
                        }
                        _ => {}
                    }
                    self.skip_to(x)?;
                }
                DURATION => {
                    let Some(x) = known else { return Ok(false) };
                    let len = x - e.body;
                    let v = self.uint(x)?;
                    self.duration = match (len, v) {
                        (4, Some(v)) => Some(f64::from(f32::from_bits(v as u32))),
                        (8, Some(v)) => Some(f64::from_bits(v)),
                        _ => None,
                    };
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

    /// Notes where the walk stopped: at `at`, on an element reaching `to` (`u64::MAX`: a
    /// header that does not fit) inside a parent ending at `end`. Running past the end of the
    /// file is a truncation when the header says the file is longer or gives no size;
    /// anything else is damage.
    fn invalid(&mut self, at: u64, to: u64, end: u64) {
        let truncated = end == self.file_end && to > end && (self.cut_short || self.live);
        if !truncated && self.facts.invalid_at.is_none() {
            self.facts.invalid_at = Some(at);
        }
    }

    /// Remembers that a block at `at` (ending at `end`) names `track`, and when an audio
    /// block starts (its timecode, after the cluster's).
    fn block_seen(&mut self, track: Option<u64>, at: u64, end: u64) -> io::Result<()> {
        let Some(track) = track else {
            self.facts.invalid_at.get_or_insert(at);
            return Ok(());
        };
        if !self.blocks.iter().any(|&(t, _)| t == track) {
            if self.blocks.len() < MAX_TRACKS {
                self.blocks.push((track, at));
            } else {
                self.facts.invalid_at.get_or_insert(at);
            }
        }
        if track == self.audio_track && self.pos + 2 <= end {
            let mut b = [0u8; 2];
            self.r.read_exact(&mut b)?;
            self.pos += 2;
            let cluster = self.cluster_times.map_or(0, |(_, last)| last);
            let t = i128::from(cluster) + i128::from(i16::from_be_bytes(b));
            let (first, _) = self.audio_blocks.unwrap_or((t, t));
            self.audio_blocks = Some((first, t));
        }
        Ok(())
    }

    fn track_entry(&mut self, end: u64) -> io::Result<bool> {
        while self.pos < end {
            let Some((e, x)) = self.child(end)? else {
                return Ok(false);
            };
            match (e.id, self.uint(x)?) {
                (TRACK_TYPE, Some(TYPE_VIDEO)) => self.facts.has_video = true,
                (TRACK_NUMBER, Some(n)) if self.tracks.len() < MAX_TRACKS => self.tracks.push(n),
                _ => {}
            }
            self.skip_to(x)?;
        }
        Ok(true)
    }

    fn block_group(&mut self, end: u64) -> io::Result<bool> {
        let (mut track, mut padding) = (None, 0u64);
        while self.pos < end {
            let at = self.pos;
            let Some((e, x)) = self.child(end)? else {
                return Ok(false);
            };
            match e.id {
                BLOCK => {
                    track = self.block_track(x)?;
                    self.block_seen(track, at, x)?;
                }
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
    /// The next element before `end` and where it ends, when both its header and its size
    /// fit inside `end`; otherwise `None`, with the walk marked invalid at it.
    fn child(&mut self, end: u64) -> io::Result<Option<(Element, u64)>> {
        let at = self.pos;
        let Some(e) = self.header(end)? else {
            self.invalid(at, u64::MAX, end);
            return Ok(None);
        };
        let Some(x) = e.end.filter(|&x| x <= end) else {
            self.invalid(at, e.end.unwrap_or(0), end);
            return Ok(None);
        };
        Ok(Some((e, x)))
    }

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
                invalid_at: None,
                duration_ns: None,
                cluster_span_ns: Some(2_000_000),
                last_block_ns: Some(2_000_000),
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
            // Once the segment's header is whole, the rest is a truncation, not damage.
            assert_eq!(f.invalid_at.is_some(), cut < 12, "{cut}");
        }
        for junk in [
            vec![0u8; 64],
            vec![0xFF; 64],
            b"\x1A\x45\xDF\xA3\x00".to_vec(),
        ] {
            let f = scan_bytes(junk);
            assert_eq!((f.tail_padding_ns, f.ends_cleanly), (0, false));
            assert_eq!(f.invalid_at, Some(0));
        }
    }

    #[test]
    fn damage_inside_the_segment_is_found_where_it_is() {
        let tracks = el(TRACKS, &track(1, 2));
        let info = el(
            INFO,
            &[
                el(TIMECODE_SCALE, &[0x0F, 0x42, 0x40]),
                el(DURATION, &4031.0f64.to_bits().to_be_bytes()),
            ]
            .concat(),
        );
        let block = |n: u8| el(SIMPLE_BLOCK, &[0x80 | n, 0, 0, 0x80, 0xFC]);
        let cluster = |tc: u8, blocks: Vec<u8>| el(CLUSTER, &[el(0xE7, &[tc]), blocks].concat());
        let file = |clusters: Vec<u8>| {
            let head = [info.clone(), tracks.clone()].concat();
            el(SEGMENT, &[head, clusters].concat())
        };
        let whole = file([cluster(0, block(1)), cluster(200, block(1))].concat());
        let f = scan_bytes(whole.clone());
        assert_eq!(f.invalid_at, None);
        assert!(f.ends_cleanly);
        assert_eq!(f.duration_ns, Some(4_031_000_000));
        assert_eq!(f.cluster_span_ns, Some(200_000_000));
        assert_eq!(f.last_block_ns, Some(200_000_000));
        // A block of a track the file does not declare.
        let second = cluster(200, block(2));
        let at = (whole.len() - second.len() + 12 + 10) as u64;
        let f = scan_bytes(file([cluster(0, block(1)), second].concat()));
        assert_eq!(f.invalid_at, Some(at));
        // An element a cluster cannot hold (a block's ID changed).
        let mut b = whole.clone();
        b[at as usize] = 0x56;
        assert_eq!(scan_bytes(b).invalid_at, Some(at));
        // A block's size grown past its cluster's end, in a file whose segment ends with it.
        let mut b = whole.clone();
        b[at as usize + 7] = 0x40;
        assert_eq!(scan_bytes(b).invalid_at, Some(at));
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

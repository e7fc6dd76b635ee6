//! A small, bounded ISO-BMFF/QuickTime box reader for what symphonia does not expose: the
//! `mvhd` creation time, the audio track's edit list (`elst`: encoder priming to trim and the
//! true length, symphonia#544), and whether the file carries a location (`©xyz`, `loci`, or
//! an Apple `mdta` key naming a location). The location's value is never read.

use std::io::{self, Read, Seek, SeekFrom};

/// Seconds from 1904-01-01 (the MP4 epoch) to 1970-01-01.
const MP4_EPOCH_OFFSET: i64 = 2_082_844_800;
/// Nesting deeper than this is refused (hostile files).
const MAX_DEPTH: usize = 8;
/// At most this many boxes are visited.
const MAX_BOXES: usize = 20_000;
/// Boxes whose payload we read whole must be smaller than this.
const MAX_READ: u64 = 1 << 20;

/// What the box reader found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mp4Facts {
    /// `mvhd` creation time as Unix seconds, when set (non-zero).
    pub created_unix: Option<i64>,
    /// Whether any location atom or key is present.
    pub has_location: bool,
    /// The first audio track's edit, when it has a usable one.
    pub audio_edit: Option<AudioEdit>,
    /// The first audio track's sample entry type (`mp4a`, `samr`, `alac`, …).
    pub audio_format: Option<[u8; 4]>,
    /// Whether any track is a video track (`vide` handler).
    pub has_video: bool,
}

/// The part of the decoded audio to keep, in the media's own time scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioEdit {
    /// Ticks of the media time scale per second (normally the sample rate).
    pub timescale: u32,
    /// Ticks to drop from the start (encoder priming).
    pub skip: u64,
    /// Ticks to keep after that, when known.
    pub keep: Option<u64>,
}

/// One `trak`'s facts, gathered while walking it.
#[derive(Debug, Default)]
struct Trak {
    is_audio: bool,
    is_video: bool,
    format: Option<[u8; 4]>,
    timescale: u32,
    duration: u64,
    /// `(segment_duration in movie ticks, media_time in media ticks)`; -1 = empty edit.
    edits: Vec<(u64, i64)>,
}

struct Walker<'a, R> {
    r: &'a mut R,
    boxes: usize,
    facts: Mp4Facts,
    movie_timescale: u32,
    trak: Option<Trak>,
    /// The first audio track's time scale and duration, and whether it has an edit list.
    audio: Option<(u32, u64, bool)>,
    /// iTunes gapless info (`----:com.apple.iTunes:iTunSMPB`), when present.
    gapless: Option<Gapless>,
}

/// The iTunes gapless tag's figures, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gapless {
    /// Encoder delay (priming) at the start.
    pub delay: u64,
    /// The original length, after the delay and before the padding.
    pub samples: u64,
}

/// The largest encoder delay believed (ffmpeg's bound too): more is a damaged tag.
pub const MAX_GAPLESS_DELAY: u64 = 16_384;

/// Scans the boxes of an MP4/QuickTime file.
pub fn scan<R: Read + Seek>(r: &mut R) -> io::Result<Mp4Facts> {
    let end = r.seek(SeekFrom::End(0))?;
    let mut w = Walker {
        r,
        boxes: 0,
        facts: Mp4Facts::default(),
        movie_timescale: 0,
        trak: None,
        audio: None,
        gapless: None,
    };
    w.walk(0, end, 0)?;
    w.apply_gapless();
    Ok(w.facts)
}

impl<R: Read + Seek> Walker<'_, R> {
    fn walk(&mut self, mut pos: u64, end: u64, depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "MP4 boxes nested too deeply",
            ));
        }
        while pos + 8 <= end {
            self.boxes += 1;
            if self.boxes > MAX_BOXES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "too many MP4 boxes",
                ));
            }
            self.r.seek(SeekFrom::Start(pos))?;
            let mut hdr = [0u8; 8];
            self.r.read_exact(&mut hdr)?;
            let mut size = u64::from(u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]));
            let kind = [hdr[4], hdr[5], hdr[6], hdr[7]];
            let mut header = 8;
            if size == 1 {
                let mut big = [0u8; 8];
                self.r.read_exact(&mut big)?;
                size = u64::from_be_bytes(big);
                header = 16;
            } else if size == 0 {
                size = end - pos;
            }
            if size < header || pos + size > end {
                return Ok(()); // truncated or malformed: stop here, keep what we found
            }
            let body = pos + header;
            let body_end = pos + size;
            match &kind {
                b"moov" | b"udta" | b"ilst" | b"edts" | b"mdia" | b"minf" | b"stbl" => {
                    self.walk(body, body_end, depth + 1)?
                }
                b"trak" => {
                    self.trak = Some(Trak::default());
                    self.walk(body, body_end, depth + 1)?;
                    if let Some(t) = self.trak.take() {
                        self.finish_trak(t);
                    }
                }
                b"hdlr" | b"mdhd" | b"elst" | b"stsd" if self.trak.is_some() => {
                    self.read_trak_box(&kind, body, body_end)?
                }
                b"meta" => {
                    let start = self.meta_children_start(body, body_end)?;
                    self.walk(start, body_end, depth + 1)?;
                }
                b"mvhd" => self.read_mvhd(body, body_end)?,
                b"\xa9xyz" | b"loci" => self.facts.has_location = true,
                b"keys" => self.read_keys(body, body_end)?,
                b"----" => self.read_freeform(body, body_end)?,
                _ => {}
            }
            pos = body_end;
        }
        Ok(())
    }

    /// ISO `meta` is a full box (4 bytes of version/flags before its children); QuickTime's
    /// is not. Tell them apart by where the `hdlr` child starts.
    fn meta_children_start(&mut self, body: u64, end: u64) -> io::Result<u64> {
        if body + 12 > end {
            return Ok(body);
        }
        self.r.seek(SeekFrom::Start(body))?;
        let mut b = [0u8; 12];
        self.r.read_exact(&mut b)?;
        Ok(if &b[8..12] == b"hdlr" { body + 4 } else { body })
    }

    /// Reads a small box's payload whole (bounded by [`MAX_READ`]).
    fn payload(&mut self, body: u64, end: u64) -> io::Result<Option<Vec<u8>>> {
        let len = end - body;
        if len > MAX_READ {
            return Ok(None);
        }
        self.r.seek(SeekFrom::Start(body))?;
        let mut b = vec![0u8; len as usize];
        self.r.read_exact(&mut b)?;
        Ok(Some(b))
    }

    fn read_trak_box(&mut self, kind: &[u8; 4], body: u64, end: u64) -> io::Result<()> {
        let Some(b) = self.payload(body, end)? else {
            return Ok(());
        };
        let trak = self.trak.as_mut().expect("inside a trak");
        let v1 = b.first() == Some(&1);
        match kind {
            // QuickTime also has a data-handler `hdlr` in `minf`: only a sound one counts.
            b"hdlr" => {
                trak.is_audio |= b.get(8..12) == Some(b"soun");
                trak.is_video |= b.get(8..12) == Some(b"vide");
            }
            // Full box, entry count, then the first entry's size and type.
            b"stsd" => trak.format = b.get(12..16).and_then(|t| t.try_into().ok()),
            b"mdhd" => {
                let (ts_at, dur_len) = if v1 { (20, 8) } else { (12, 4) };
                if let (Some(ts), Some(dur)) = (be(&b, ts_at, 4), be(&b, ts_at + 4, dur_len)) {
                    trak.timescale = ts as u32;
                    trak.duration = dur;
                }
            }
            b"elst" => {
                let count = be(&b, 4, 4).unwrap_or(0).min(1024) as usize;
                let width = if v1 { 8 } else { 4 };
                for i in 0..count {
                    let at = 8 + i * (2 * width + 4);
                    let (Some(seg), Some(mt)) = (be(&b, at, width), be(&b, at + width, width))
                    else {
                        break;
                    };
                    let media_time = if v1 {
                        mt as i64
                    } else {
                        i64::from(mt as u32 as i32)
                    };
                    trak.edits.push((seg, media_time));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Keeps the first audio track's format, and its edit when it is the common
    /// single-edit case.
    fn finish_trak(&mut self, t: Trak) {
        self.facts.has_video |= t.is_video;
        if !t.is_audio || self.facts.audio_format.is_some() {
            return;
        }
        self.facts.audio_format = t.format;
        self.audio = Some((t.timescale, t.duration, !t.edits.is_empty()));
        if t.timescale == 0 {
            return;
        }
        let mut edits = t.edits.iter().filter(|(_, mt)| *mt >= 0);
        let (Some(&(seg, media_time)), None) = (edits.next(), edits.next()) else {
            return;
        };
        let skip = media_time as u64;
        let rest = t.duration.saturating_sub(skip);
        let keep = if seg > 0 && self.movie_timescale > 0 {
            let seg_ticks = (u128::from(seg) * u128::from(t.timescale)
                + u128::from(self.movie_timescale) / 2)
                / u128::from(self.movie_timescale);
            Some(rest.min(seg_ticks as u64))
        } else {
            Some(rest)
        };
        self.facts.audio_edit = Some(AudioEdit {
            timescale: t.timescale,
            skip,
            keep: keep.filter(|k| *k > 0),
        });
    }

    fn read_mvhd(&mut self, body: u64, end: u64) -> io::Result<()> {
        let Some(b) = self.payload(body, end)? else {
            return Ok(());
        };
        let v1 = b.first() == Some(&1);
        let (created, ts) = if v1 {
            (be(&b, 4, 8), be(&b, 20, 4))
        } else {
            (be(&b, 4, 4), be(&b, 12, 4))
        };
        self.movie_timescale = ts.unwrap_or(0) as u32;
        let created = created.unwrap_or(0);
        if created != 0 {
            let unix = i64::try_from(created).unwrap_or(i64::MAX) - MP4_EPOCH_OFFSET;
            self.facts.created_unix = Some(unix);
        }
        Ok(())
    }

    /// A freeform iTunes item (`----`: `mean`, `name`, `data`); only `iTunSMPB` is kept.
    fn read_freeform(&mut self, body: u64, end: u64) -> io::Result<()> {
        let Some(b) = self.payload(body, end)? else {
            return Ok(());
        };
        let (mut name, mut value) = (None, None);
        let mut at = 0;
        while let (Some(size), Some(kind)) = (be(&b, at, 4), b.get(at + 4..at + 8)) {
            let size = size as usize;
            let Some(child) = b.get(at + 8..at + size).filter(|_| size >= 8) else {
                break;
            };
            match kind {
                // Full boxes: 4 bytes of version and flags; `data` adds 4 of locale.
                b"name" => name = child.get(4..),
                b"data" => value = child.get(8..),
                _ => {}
            }
            at += size;
        }
        if name == Some(b"iTunSMPB".as_slice()) {
            self.gapless = value.and_then(|v| parse_itunsmpb(&String::from_utf8_lossy(v)));
        }
        Ok(())
    }

    /// Without an edit list, the iTunes gapless tag says what to trim (Voice Memos writes
    /// it and no `elst`), as ffmpeg and Apple's players honour it.
    fn apply_gapless(&mut self) {
        let (Some((timescale, duration, has_edits)), Some(g)) = (self.audio, self.gapless) else {
            return;
        };
        if has_edits || self.facts.audio_edit.is_some() || timescale == 0 {
            return;
        }
        // The track's declared duration may leave out the last frame's padding, but never
        // holds fewer samples than the original had.
        let fits = duration == 0 || g.samples <= duration;
        if g.delay > MAX_GAPLESS_DELAY || !fits {
            return; // a tag that does not fit the track is not believed
        }
        self.facts.audio_edit = Some(AudioEdit {
            timescale,
            skip: g.delay,
            keep: (g.samples > 0).then_some(g.samples),
        });
    }

    fn read_keys(&mut self, body: u64, end: u64) -> io::Result<()> {
        let Some(b) = self.payload(body, end)? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&b).to_ascii_lowercase();
        if text.contains("location") {
            self.facts.has_location = true;
        }
        Ok(())
    }
}

/// The iTunes gapless tag: ` 00000000 DELAY PADDING LENGTH …` in hex (the length may be
/// 16 digits).
pub fn parse_itunsmpb(text: &str) -> Option<Gapless> {
    let mut fields = text.split_ascii_whitespace();
    fields.next()?; // always zero
    let mut hex = || u64::from_str_radix(fields.next()?, 16).ok();
    let (delay, _padding, samples) = (hex()?, hex()?, hex()?);
    Some(Gapless { delay, samples })
}

/// A big-endian unsigned integer of `len` bytes at `at`, if the slice is long enough.
fn be(b: &[u8], at: usize, len: usize) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(len)?)?;
    Some(bytes.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn finds_creation_time_and_location() {
        let mut mvhd = vec![0u8; 100];
        mvhd[4..8].copy_from_slice(&((MP4_EPOCH_OFFSET + 1_700_000_000) as u32).to_be_bytes());
        let udta = bx(b"udta", &bx(b"\xa9xyz", b"+48.8+002.2/"));
        let moov = bx(b"moov", &[bx(b"mvhd", &mvhd), udta].concat());
        let file = [bx(b"ftyp", b"M4A \0\0\0\0"), moov].concat();
        let f = scan(&mut Cursor::new(file)).unwrap();
        assert_eq!(f.created_unix, Some(1_700_000_000));
        assert!(f.has_location);
    }

    /// A file with one AAC track of `duration` ticks at 48 kHz, no edit list, and an
    /// iTunes gapless tag holding `tag`.
    fn gapless_file(duration: u32, tag: &str) -> Vec<u8> {
        let mut mdhd = vec![0u8; 24];
        mdhd[12..16].copy_from_slice(&48_000u32.to_be_bytes());
        mdhd[16..20].copy_from_slice(&duration.to_be_bytes());
        let mut hdlr = vec![0u8; 24];
        hdlr[8..12].copy_from_slice(b"soun");
        let mdia = bx(b"mdia", &[bx(b"mdhd", &mdhd), bx(b"hdlr", &hdlr)].concat());
        let trak = bx(b"trak", &mdia);
        let item = bx(
            b"----",
            &[
                bx(b"mean", b"\0\0\0\0com.apple.iTunes"),
                bx(b"name", b"\0\0\0\0iTunSMPB"),
                bx(
                    b"data",
                    &[b"\0\0\0\x01\0\0\0\0".as_slice(), tag.as_bytes()].concat(),
                ),
            ]
            .concat(),
        );
        let meta = bx(
            b"meta",
            &[vec![0u8; 4], bx(b"hdlr", &[0u8; 25]), bx(b"ilst", &item)].concat(),
        );
        bx(b"moov", &[trak, bx(b"udta", &meta)].concat())
    }

    #[test]
    fn itunes_gapless_tag_trims_when_there_is_no_edit_list() {
        let tag = " 00000000 00000840 000001C0 00000000000A2F00 00000000 00000000";
        let f = scan(&mut Cursor::new(gapless_file(670_720, tag))).unwrap();
        assert_eq!(
            f.audio_edit,
            Some(AudioEdit {
                timescale: 48_000,
                skip: 2112,
                keep: Some(0xA2F00),
            })
        );
        // A tag that does not fit the track, or a damaged one, is not believed.
        for bad in [
            " 00000000 00000840 000001C0 00000000000FFFFF",
            " 00000000 00010000 00000000 0000000000000010",
            " 00000000 zz",
            "",
        ] {
            let f = scan(&mut Cursor::new(gapless_file(670_720, bad))).unwrap();
            assert_eq!(f.audio_edit, None, "{bad:?}");
        }
    }

    #[test]
    fn audio_track_edit_and_format_are_read() {
        // moov/trak with a sound hdlr, a data hdlr after it (QuickTime), mdhd, elst, stsd.
        let mut mvhd = vec![0u8; 100];
        mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes()); // movie timescale
        let mut mdhd = vec![0u8; 24];
        mdhd[12..16].copy_from_slice(&48_000u32.to_be_bytes());
        mdhd[16..20].copy_from_slice(&641_199u32.to_be_bytes());
        let mut elst = vec![0u8; 8];
        elst[4..8].copy_from_slice(&1u32.to_be_bytes());
        elst.extend_from_slice(&13_337u32.to_be_bytes());
        elst.extend_from_slice(&1024u32.to_be_bytes());
        elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        let mut hdlr = vec![0u8; 24];
        hdlr[8..12].copy_from_slice(b"soun");
        let mut dhlr = vec![0u8; 24];
        dhlr[8..12].copy_from_slice(b"url ");
        let mut stsd = vec![0u8; 8];
        stsd.extend_from_slice(&36u32.to_be_bytes());
        stsd.extend_from_slice(b"samr");
        let stbl = bx(b"stbl", &bx(b"stsd", &stsd));
        let minf = bx(b"minf", &[bx(b"hdlr", &dhlr), stbl].concat());
        let mdia = bx(
            b"mdia",
            &[bx(b"mdhd", &mdhd), bx(b"hdlr", &hdlr), minf].concat(),
        );
        let trak = bx(b"trak", &[bx(b"edts", &bx(b"elst", &elst)), mdia].concat());
        let moov = bx(b"moov", &[bx(b"mvhd", &mvhd), trak].concat());
        let f = scan(&mut Cursor::new(moov)).unwrap();
        assert_eq!(f.audio_format, Some(*b"samr"));
        assert_eq!(
            f.audio_edit,
            Some(AudioEdit {
                timescale: 48_000,
                skip: 1024,
                keep: Some(640_175)
            })
        );
    }

    #[test]
    fn apple_location_key_is_detected() {
        let keys = bx(
            b"keys",
            b"\0\0\0\0\0\0\0\x01\0\0\0\x2dmdtacom.apple.quicktime.location.ISO6709",
        );
        let meta = bx(b"meta", &[bx(b"hdlr", &[0u8; 25]), keys].concat());
        let f = scan(&mut Cursor::new(bx(b"moov", &meta))).unwrap();
        assert!(f.has_location);
        assert_eq!(f.created_unix, None);
    }

    #[test]
    fn hostile_nesting_and_sizes_are_bounded() {
        let mut inner = bx(b"udta", &[]);
        for _ in 0..20 {
            inner = bx(b"udta", &inner);
        }
        assert!(scan(&mut Cursor::new(bx(b"moov", &inner))).is_err());
        // A box claiming to be larger than the file is ignored, not followed.
        let mut lie = bx(b"moov", &[0u8; 8]);
        lie[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(scan(&mut Cursor::new(lie)).unwrap(), Mp4Facts::default());
    }
}

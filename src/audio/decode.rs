//! Streaming decode of any supported recording to interleaved `f32` frames, in bounded memory.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioDecoder, AudioDecoderOptions, well_known as codec,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::container::{Head, Sniffed};
use super::mp4::{AudioEdit, Mp4Facts};
use super::{ogg, opus};

/// Lowest sample rate accepted, in Hz (below it is a corrupt or hostile header: no speech
/// recorder goes under 8 kHz, and a 1 Hz "recording" would make the resampler's blocks
/// enormous).
pub const MIN_SAMPLE_RATE: u32 = 4_000;
/// Highest sample rate accepted, in Hz (twice the fastest studio rate, 192 kHz).
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Highest channel count accepted.
pub const MAX_CHANNELS: usize = 32;

/// Why a file could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No audio container was recognised in the content.
    #[error("not a recognised audio file ({0})")]
    NotAudio(String),
    /// The container holds audio in a codec this build cannot decode.
    #[error("unsupported audio codec: {0}")]
    UnsupportedCodec(String),
    /// The file is in a container this build cannot read (named by its common name).
    #[error("unsupported container: {0}")]
    UnsupportedContainer(String),
    /// The container holds no audio track (`video only` when it holds video).
    #[error("no audio track ({0})")]
    NoAudioTrack(String),
    /// The file is damaged or truncated.
    #[error("damaged or truncated audio: {0}")]
    Corrupt(String),
    /// The sample rate is outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
    #[error(
        "implausible sample rate {0} Hz (supported: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)"
    )]
    ImplausibleRate(u32),
    /// The recording is longer than the [`MaxDuration`] allowed: by what its header declares
    /// (found before anything is decoded), or by what decoding found (it stops there).
    #[error("{}", too_long(*.declared_s, *.limit_s))]
    TooLong {
        /// The length the header declares, in seconds; `None` when decoding found it.
        declared_s: Option<f64>,
        /// The limit, in seconds.
        limit_s: f64,
    },
    /// Reading the file failed.
    #[error("{}", crate::failure::describe_io(.0))]
    Io(#[from] std::io::Error),
}

fn too_long(declared_s: Option<f64>, limit_s: f64) -> String {
    let limit = hms(limit_s);
    match declared_s {
        Some(s) => format!(
            "declares {} of audio, more than the {limit} limit (--max-hours raises it)",
            hms(s)
        ),
        None => format!(
            "holds more than the {limit} limit of audio, found while decoding (--max-hours \
             raises it)"
        ),
    }
}

/// `H:MM:SS`, rounded to the second (at least 1 s, so no limit reads as zero).
fn hms(seconds: f64) -> String {
    let t = (seconds.round() as u64).max(1);
    format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// The most audio one recording may hold. Every decode is bounded by one: what the header
/// declares is checked when the file is opened, and decoding stops as soon as it passes the
/// limit, so a header that lies cannot make a command write more than the limit's worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MaxDuration(Duration);

impl MaxDuration {
    /// The default: 12 hours (a long clinic day).
    pub const DEFAULT: MaxDuration = MaxDuration(Duration::from_secs(12 * 3600));
    /// The highest limit that can be set: 1000 hours (about six weeks).
    pub const CEILING_HOURS: f64 = 1000.0;

    /// A limit of `hours` (fractions allowed); `None` unless it is more than 0 and at most
    /// [`Self::CEILING_HOURS`].
    pub fn from_hours(hours: f64) -> Option<MaxDuration> {
        if !(hours > 0.0 && hours <= Self::CEILING_HOURS) {
            return None;
        }
        Duration::try_from_secs_f64(hours * 3600.0)
            .ok()
            .filter(|d| !d.is_zero())
            .map(MaxDuration)
    }

    /// The limit in frames at `rate` Hz (rounded down).
    pub fn frames_at(self, rate: u32) -> u64 {
        (self.0.as_nanos() * u128::from(rate) / 1_000_000_000) as u64
    }

    /// Refuses a length of `frames` at `rate` Hz that passes the limit (`declared`: what a
    /// header says, rather than what was decoded).
    pub fn check(self, frames: u64, rate: u32, declared: bool) -> Result<(), AudioError> {
        if frames <= self.frames_at(rate) {
            return Ok(());
        }
        Err(AudioError::TooLong {
            declared_s: declared.then(|| frames as f64 / f64::from(rate)),
            limit_s: self.0.as_secs_f64(),
        })
    }
}

impl Default for MaxDuration {
    fn default() -> Self {
        MaxDuration::DEFAULT
    }
}

impl From<crate::Error> for AudioError {
    /// Creating a scratch or output file failed: keep the I/O error's kind (a full disk
    /// must stay recognisable as one).
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Io { source, .. } => AudioError::Io(source),
            other => AudioError::Corrupt(other.to_string()),
        }
    }
}

impl From<hound::Error> for AudioError {
    fn from(e: hound::Error) -> Self {
        match e {
            hound::Error::IoError(io) => AudioError::Io(io),
            other => AudioError::Corrupt(other.to_string()),
        }
    }
}

/// What a container's metadata tags (ID3, Vorbis comments, RIFF INFO, …) say about when
/// and where the recording was made. The location's value is never kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerTags {
    /// A full recording date and time (Unix seconds), when a tag gives one.
    pub recorded_unix: Option<i64>,
    /// Whether any tag carries a location.
    pub has_location: bool,
}

impl ContainerTags {
    fn read(reader: &mut dyn FormatReader) -> ContainerTags {
        use symphonia::core::meta::StandardTag;
        let mut out = ContainerTags::default();
        let mut metadata = reader.metadata();
        let Some(rev) = metadata.skip_to_latest() else {
            return out;
        };
        for tag in &rev.media.tags {
            match &tag.std {
                Some(StandardTag::RecordingDate(v))
                | Some(StandardTag::RecordingTime(v))
                | Some(StandardTag::OriginalRecordingDate(v)) => {
                    out.recorded_unix = out.recorded_unix.or_else(|| parse_tag_time(v));
                }
                Some(StandardTag::RecordingLocation(_)) => out.has_location = true,
                _ => {}
            }
            let key = tag.raw.key.to_ascii_lowercase();
            if key.contains("location") || key.contains("gps") || key == "\u{a9}xyz" {
                out.has_location = true;
            }
        }
        out
    }
}

/// A tag's date-time as Unix seconds: RFC 3339, or `YYYY-MM-DD[T ]HH:MM[:SS]` taken as UTC.
/// A date alone is not a recording time (it would claim a precision it does not have).
fn parse_tag_time(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Some(t.as_second());
    }
    let dt = v
        .replacen(' ', "T", 1)
        .parse::<jiff::civil::DateTime>()
        .ok()?;
    if !v.contains(':') {
        return None;
    }
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// What the container and codec say about the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Container short name (`isomp4`, `mp3`, `wave`, `flac`, `ogg`, …).
    pub container: String,
    /// Codec short name (`aac`, `mp3`, `pcm_s16le`, …).
    pub codec: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Length in frames that the container declares, when it declares one.
    pub declared_frames: Option<u64>,
    /// The file-name extension that names the content (`m4a`, `3gp`, `webm`, `opus`, …),
    /// whatever the file was called.
    pub extension: &'static str,
}

/// An open recording yielding decoded audio chunk by chunk.
pub struct AudioStream {
    backend: Backend,
    edge: EdgeTrim,
    mp4: Option<Mp4Facts>,
    tags: ContainerTags,
    info: StreamInfo,
    buf: Vec<f32>,
    /// Frames held back while they may be the end padding ([`EdgeTrim::tail`]), and the
    /// chunk handed out when some are.
    held: Vec<f32>,
    out: Vec<f32>,
    /// Whether the demuxer meeting the end of the file ends the stream rather than cutting a
    /// packet short: a live Matroska recording whose last element is whole
    /// ([`super::mkv::MkvFacts::ends_cleanly`]).
    eof_ends: bool,
    /// The limit, and the frames handed out so far.
    max: MaxDuration,
    decoded: u64,
    /// How far a Matroska file says its audio reaches, checked when the demuxer ends.
    reach: Option<Reach>,
    /// The most frames one packet decoded to, and the last packet's.
    largest: u64,
    last: u64,
}

/// How far a Matroska file's audio must reach ([`super::mkv::MkvFacts`]): a demuxer that
/// stops on damage ends the stream early, which only this tells from the real end.
#[derive(Debug, Clone, Copy)]
struct Reach {
    /// The declared duration, in nanoseconds.
    duration_ns: Option<u64>,
    /// Where the last cluster starts, in nanoseconds after the first.
    cluster_ns: Option<u64>,
    /// When the last audio block starts, in nanoseconds after the first.
    last_block_ns: Option<u64>,
    /// Frames trimmed at the edges (pre-skip, end padding), which the duration may count.
    trimmed: u64,
    /// Whether every packet's frames are counted from the first (Opus): the last block's
    /// start is then reached within the trimmed frames, not merely within a packet.
    exact: bool,
}

/// Where decoded audio comes from: symphonia for most formats; opus-pure (pure Rust,
/// checked against libopus) for Ogg Opus, which symphonia cannot decode.
enum Backend {
    Symphonia {
        reader: Box<dyn FormatReader>,
        decoder: Box<dyn AudioDecoder>,
        track_id: u32,
        /// Whether the file is a chained Ogg, whose every link the demuxer starts as new
        /// tracks (asking for a new decoder): [`ogg::Layout::audio_codec`] checked that
        /// they agree.
        chained: bool,
    },
    Opus(Box<OpusBackend>),
    /// Opus packets from symphonia's demuxers (WebM/Matroska, CAF, MP4).
    OpusPackets(Box<OpusPackets>),
    Amr(Box<AmrBackend>),
}

/// Opus decoding of packets a symphonia demuxer reads.
struct OpusPackets {
    reader: Box<dyn FormatReader>,
    track_id: u32,
    decoder: opus_pure::OpusDecoder,
    block: Vec<f32>,
}

/// AMR-NB decoding (rvoip-codec-core: pure Rust, bit-exact with the 3GPP reference), from
/// an `.amr` storage file or from the packets of a `samr` track in MP4/3GP, which symphonia
/// demuxes but cannot decode.
struct AmrBackend {
    source: AmrSource,
    codec: codec_core::codecs::amr::AmrCodec,
    frames: std::collections::VecDeque<codec_core::codecs::amr::AmrPayloadFrame>,
}

enum AmrSource {
    /// A whole `.amr` file, already split into frames.
    Storage,
    /// MP4/3GP packets, each one or more storage-format frames.
    Mp4 {
        reader: Box<dyn FormatReader>,
        track_id: u32,
    },
}

/// Largest `.amr` file accepted (about 45 hours at 12.2 kbit/s): it is read whole.
const MAX_AMR_BYTES: u64 = 256 << 20;
/// AMR-NB's sample rate and frame length.
const AMR_RATE: u32 = 8_000;
const AMR_FRAME: usize = 160;

/// Ogg Opus decoding state: one link of a chained file at a time, each with its own
/// decoder (its own output gain) and trim (its own pre-skip and end trim).
struct OpusBackend {
    /// The file, from which each link's reader is cut.
    file: File,
    /// The links still to decode, after the current one.
    links: std::vec::IntoIter<ogg::Link>,
    link: OpusLink,
    block: Vec<f32>,
}

/// One link of an Ogg Opus file being decoded.
struct OpusLink {
    reader: opus_pure::OggOpusReader<BufReader<std::io::Take<File>>>,
    decoder: opus_pure::OpusDecoder,
    trim: opus_pure::Trim,
}

impl OpusLink {
    /// Opens the link's byte range of `file` (its own header pages, its own pre-skip).
    fn open(file: &File, link: &ogg::Link, channels: u16) -> Result<OpusLink, AudioError> {
        let mut f = file.try_clone()?;
        f.seek(SeekFrom::Start(link.start))?;
        let reader = opus_pure::OggOpusReader::new(BufReader::new(f.take(link.end - link.start)))
            .map_err(|e| AudioError::Corrupt(format!("ogg opus: {e}")))?;
        let head = reader.head().clone();
        if u16::from(head.channel_count) != channels {
            return Err(AudioError::Corrupt(format!(
                "ogg opus: a link's header says {} channels, its first page {channels}",
                head.channel_count
            )));
        }
        let decoder = head
            .decoder(opus::RATE as i32)
            .map_err(|e| AudioError::UnsupportedCodec(format!("opus ({e})")))?;
        let trim = opus_pure::Trim::new(&head, opus::RATE as i32, usize::from(channels))
            .map_err(|e| AudioError::Corrupt(format!("ogg opus: {e}")))?;
        Ok(OpusLink {
            reader,
            decoder,
            trim,
        })
    }
}

/// Frames to drop at the start, the most to keep after that, and frames to drop at the very
/// end, for containers whose priming and padding the decoder does not trim itself (MP4 edit
/// lists, gapless tags, Opus pre-skip, CAF packet tables, Matroska `DiscardPadding`).
#[derive(Debug, Clone, Copy, Default)]
struct EdgeTrim {
    skip: u64,
    keep: Option<u64>,
    tail: u64,
}

/// The most end padding believed, in frames (one Opus packet's 120 ms at 48 kHz).
const MAX_TAIL: u64 = opus_pure::MAX_PACKET_SAMPLES as u64;

/// What was learned about a file before its decoder is chosen.
struct OpenedTrack {
    container: String,
    extension: &'static str,
    mp4: Option<Mp4Facts>,
    tags: ContainerTags,
}

/// Why a file symphonia opened has no audio to decode: it holds only video (MP4's `vide`
/// handler, a Matroska video track, or video codec parameters), or nothing at all.
fn no_audio(
    reader: &dyn FormatReader,
    mp4: Option<&Mp4Facts>,
    path: &Path,
    container: &str,
) -> Result<AudioError, AudioError> {
    let mut video = reader
        .tracks()
        .iter()
        .any(|t| matches!(t.codec_params, Some(CodecParameters::Video(_))))
        || mp4.is_some_and(|m| m.has_video);
    if !video && container == "matroska" {
        video = super::mkv::scan(&mut BufReader::new(File::open(path)?), 0)?.has_video;
    }
    Ok(AudioError::NoAudioTrack(if video {
        "video only".into()
    } else {
        format!("the {container} file holds no tracks")
    }))
}

/// iTunes' gapless tag as an MP3 carries it: an ID3v2 `COMM` frame described `iTunSMPB`
/// (iTunes writes no LAME header; ffmpeg ignores the tag, Apple's players honour it). Its
/// delay counts every sample to drop from the decoder's output.
fn mp3_itunes_gapless(reader: &mut dyn FormatReader) -> Option<EdgeTrim> {
    let mut metadata = reader.metadata();
    let rev = metadata.skip_to_latest()?;
    let text = rev.media.tags.iter().find_map(|tag| {
        let raw = &tag.raw;
        let described = raw
            .sub_fields
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|f| f.field == "SHORT_DESCRIPTION" && f.value.to_string().trim() == "iTunSMPB");
        (raw.key == "COMM" && described).then(|| raw.value.to_string())
    })?;
    let g = super::mp4::parse_itunsmpb(&text)?;
    (g.delay <= super::mp4::MAX_GAPLESS_DELAY && g.samples > 0).then_some(EdgeTrim {
        skip: g.delay,
        keep: Some(g.samples),
        tail: 0,
    })
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("info", &self.info)
            .finish()
    }
}

impl StreamInfo {
    /// The length the container declares, in seconds.
    pub fn declared_s(&self) -> Option<f64> {
        self.declared_frames
            .map(|f| f as f64 / f64::from(self.sample_rate))
    }
}

/// What a backend's constructor knows of a stream; [`AudioStream::starting`] adds the state
/// of a decode that has handed out nothing yet.
struct StreamParts {
    backend: Backend,
    edge: EdgeTrim,
    mp4: Option<Mp4Facts>,
    tags: ContainerTags,
    info: StreamInfo,
}

impl AudioStream {
    /// A stream before its first frame: nothing buffered or handed out, the default limit,
    /// no end-of-file rule and no reach to check (a backend that has them sets them).
    fn starting(p: StreamParts) -> AudioStream {
        AudioStream {
            backend: p.backend,
            edge: p.edge,
            mp4: p.mp4,
            tags: p.tags,
            info: p.info,
            buf: Vec::new(),
            held: Vec::new(),
            out: Vec::new(),
            eof_ends: false,
            max: MaxDuration::DEFAULT,
            decoded: 0,
            reach: None,
            largest: 0,
            last: 0,
        }
    }

    /// Opens `path`, recognising the container by its content (never by the file name), to
    /// decode at most `max` of audio: a longer length declared by the header is refused
    /// here, and [`Self::next_chunk`] fails as soon as decoding passes the limit.
    pub fn open(path: &Path, max: MaxDuration) -> Result<AudioStream, AudioError> {
        let mut stream = Self::open_any(path)?;
        if let Some(declared) = stream.info.declared_frames {
            max.check(declared, stream.info.sample_rate, true)?;
        }
        stream.max = max;
        Ok(stream)
    }

    fn open_any(path: &Path) -> Result<AudioStream, AudioError> {
        let head = Head::read(path)?;
        match head.sniff() {
            Sniffed::OggOpus => return Self::open_opus(path),
            Sniffed::AmrNb => return Self::open_amr_storage(path),
            Sniffed::AmrWb => return Err(AudioError::UnsupportedCodec("amr-wb".into())),
            Sniffed::Unsupported(name) => {
                return Err(AudioError::UnsupportedContainer(name.into()));
            }
            Sniffed::Other => {}
        }
        let source: Box<dyn symphonia::core::io::MediaSource> =
            match super::caf::with_descriptor_cookie(path)? {
                Some(spliced) => Box::new(spliced),
                None => Box::new(File::open(path)?),
            };
        let mss = MediaSourceStream::new(source, Default::default());
        let mut reader = symphonia::default::get_probe()
            .probe(
                &Hint::new(),
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
                    AudioError::Io(io)
                }
                SymError::Unsupported(m) if m.contains("no suitable format reader") => {
                    AudioError::NotAudio("no audio container found in the content".into())
                }
                other => AudioError::Corrupt(other.to_string()),
            })?;
        let container = reader.format_info().short_name.to_string();
        // symphonia's Ogg reader passes over pages of streams that never began, and a
        // second link's tracks need a decoder of their own: check the layout first.
        let ogg_links = match container.as_str() {
            "ogg" => {
                let layout = ogg::scan(&mut BufReader::new(File::open(path)?))?;
                layout.audio_codec()?;
                layout.links.len()
            }
            _ => 1,
        };
        let tags = ContainerTags::read(reader.as_mut());
        let mp4 = if container == "isomp4" {
            Some(
                super::mp4::scan(&mut File::open(path)?)
                    .map_err(|e| AudioError::Corrupt(format!("isomp4: {e}")))?,
            )
        } else {
            None
        };
        let Some(track) = reader.default_track(TrackType::Audio) else {
            // symphonia leaves tracks it has no codec for without parameters.
            let format = mp4.as_ref().and_then(|m| m.audio_format);
            return match format.as_ref() {
                Some(b"samr") => {
                    let opened = OpenedTrack {
                        extension: head.extension(&container, "amr_nb"),
                        container,
                        mp4,
                        tags,
                    };
                    Self::open_amr_mp4(reader, opened)
                }
                Some(f) => Err(AudioError::UnsupportedCodec(
                    String::from_utf8_lossy(f).trim().to_string(),
                )),
                None => Err(no_audio(reader.as_ref(), mp4.as_ref(), path, &container)?),
            };
        };
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| AudioError::UnsupportedCodec(format!("(unidentified, in {container})")))?
            .clone();
        let codec = codec_name(params.codec);
        let extension = match head.extension(&container, &codec) {
            // A phone's video of the visit is an `.mp4`, not an audio file.
            "m4a" if mp4.as_ref().is_some_and(|m| m.has_video) => "mp4",
            ext => ext,
        };
        if params.codec == codec::CODEC_ID_OPUS {
            let opened = OpenedTrack {
                container,
                extension,
                mp4,
                tags,
            };
            return Self::open_opus_packets(path, reader, opened);
        }
        let sample_rate = check_rate(params.sample_rate)?;
        let channels = check_channels(params.channels.as_ref().map(|c| c.count()))?;
        let declared_frames = match track.time_base {
            // ADTS declares no length: symphonia's figure is an estimate from the file size.
            _ if container == "aac" => None,
            Some(tb) => track.num_frames.map(|n| {
                (u128::from(n) * u128::from(tb.numer.get()) * u128::from(sample_rate)
                    / u128::from(tb.denom.get())) as u64
            }),
            None => track.num_frames,
        };
        // symphonia's ADTS reader takes a header cut short for the end of the stream, and
        // passes over frames whose header is damaged.
        if container == "aac"
            && let Some(damage) = super::adts::damage(&mut BufReader::new(File::open(path)?))?
        {
            return Err(AudioError::Corrupt(match damage {
                super::adts::Damage::Cut(at) => {
                    format!("file ends inside an ADTS frame (the one at byte {at})")
                }
                super::adts::Damage::Invalid(at) => {
                    format!("ADTS frame header at byte {at} is invalid")
                }
            }));
        }
        let track_id = track.id;
        let facts = match container.as_str() {
            "matroska" => Some(mkv_facts(path, track_id)?),
            _ => None,
        };
        let eof_ends = facts.as_ref().is_some_and(|f| f.ends_cleanly);
        let reach = facts.map(|f| Reach {
            duration_ns: f.duration_ns,
            cluster_ns: f.cluster_span_ns,
            last_block_ns: f.last_block_ns,
            trimmed: 0,
            exact: false,
        });
        // symphonia reads a CAF packet table's priming and valid frames but trims neither.
        let caf_table = (container == "caf").then_some(EdgeTrim {
            skip: u64::from(track.delay.unwrap_or(0)),
            keep: track.num_frames,
            tail: 0,
        });
        // An MP3 without a LAME/Xing header may carry iTunes' gapless tag in an ID3 comment.
        let mp3_gapless = (container == "mp3" && track.delay.is_none())
            .then(|| mp3_itunes_gapless(reader.as_mut()))
            .flatten();
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| {
                let why = e.to_string();
                AudioError::UnsupportedCodec(if codec == "aac" && why.contains("too complex") {
                    "HE-AAC (aac with SBR, or more than two channels; only AAC-LC is supported)"
                        .into()
                } else {
                    format!("{codec} ({why})")
                })
            })?;
        let edge = mp4
            .as_ref()
            .and_then(|m| m.audio_edit)
            .map(|e| EdgeTrim::from_edit(e, sample_rate))
            .or(mp3_gapless)
            .or(caf_table)
            .unwrap_or_default();
        Ok(AudioStream {
            eof_ends,
            reach,
            ..AudioStream::starting(StreamParts {
                backend: Backend::Symphonia {
                    reader,
                    decoder,
                    track_id,
                    chained: ogg_links > 1,
                },
                edge,
                mp4,
                tags,
                info: StreamInfo {
                    container,
                    codec,
                    sample_rate,
                    channels,
                    declared_frames,
                    extension,
                },
            })
        })
    }

    /// Opus demuxed by symphonia, decoded by opus-pure. The start is trimmed by what the
    /// container says (an MP4 edit list, a CAF packet table's priming) or else by the
    /// header's pre-skip; the end by the MP4 edit, the CAF packet table's valid frames, or
    /// Matroska's `DiscardPadding`.
    fn open_opus_packets(
        path: &Path,
        reader: Box<dyn FormatReader>,
        opened: OpenedTrack,
    ) -> Result<AudioStream, AudioError> {
        let track = reader
            .default_track(TrackType::Audio)
            .expect("the caller found an audio track");
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .expect("the caller found audio parameters");
        let container = opened.container.as_str();
        let order = if container == "isomp4" {
            opus::Order::Big
        } else {
            opus::Order::Little
        };
        let head = match params.extra_data.as_deref() {
            Some(extra) if extra.starts_with(b"OpusHead") => opus::Head::parse(extra, order)?,
            // CAF need not carry the header: the description gives the channels, and the
            // packet table the priming.
            _ if container == "caf" => opus::Head::without_header(check_channels(
                params.channels.as_ref().map(|c| c.count()),
            )?)?,
            _ => {
                return Err(AudioError::Corrupt(format!(
                    "opus track in {container} without an identification header"
                )));
            }
        };
        let pre_skip = u64::from(head.pre_skip);
        let mut eof_ends = false;
        let mut reach = None;
        let edge = match container {
            "isomp4" => opened
                .mp4
                .as_ref()
                .and_then(|m| m.audio_edit)
                .map(|e| EdgeTrim::from_edit(e, opus::RATE))
                .unwrap_or(EdgeTrim {
                    skip: pre_skip,
                    ..EdgeTrim::default()
                }),
            "caf" => {
                // A packet table's priming is the encoder's delay (Apple writes the pre-skip
                // there), and its valid frames follow it. Without a priming, the header's
                // pre-skip is the delay, taken out of the valid frames too.
                let priming = u64::from(track.delay.unwrap_or(0));
                let extra = if priming > 0 { 0 } else { pre_skip };
                EdgeTrim {
                    skip: priming + extra,
                    keep: track.num_frames.map(|n| n.saturating_sub(extra)),
                    tail: 0,
                }
            }
            "matroska" => {
                let facts = mkv_facts(path, track.id)?;
                eof_ends = facts.ends_cleanly;
                let tail = (u128::from(facts.tail_padding_ns) * u128::from(opus::RATE)
                    + 500_000_000)
                    / 1_000_000_000;
                let tail = u64::try_from(tail).unwrap_or(u64::MAX).min(MAX_TAIL);
                reach = Some(Reach {
                    duration_ns: facts.duration_ns,
                    cluster_ns: facts.cluster_span_ns,
                    last_block_ns: facts.last_block_ns,
                    trimmed: pre_skip + tail,
                    exact: true,
                });
                EdgeTrim {
                    skip: pre_skip,
                    keep: None,
                    tail,
                }
            }
            _ => EdgeTrim {
                skip: pre_skip,
                ..EdgeTrim::default()
            },
        };
        let declared_frames = match container {
            "caf" => edge.keep,
            _ => None,
        };
        let channels = u16::from(head.channels);
        let track_id = track.id;
        Ok(AudioStream {
            eof_ends,
            reach,
            ..AudioStream::starting(StreamParts {
                backend: Backend::OpusPackets(Box::new(OpusPackets {
                    reader,
                    track_id,
                    decoder: head.decoder()?,
                    block: vec![0.0; opus_pure::MAX_PACKET_SAMPLES * usize::from(channels)],
                })),
                edge,
                mp4: opened.mp4,
                tags: opened.tags,
                info: StreamInfo {
                    container: opened.container,
                    codec: "opus".into(),
                    sample_rate: opus::RATE,
                    channels,
                    declared_frames,
                    extension: opened.extension,
                },
            })
        })
    }

    /// Ogg Opus, every link of a chained file in turn (their channel counts must agree:
    /// [`ogg::Layout::single_codec`]).
    fn open_opus(path: &Path) -> Result<AudioStream, AudioError> {
        let file = File::open(path)?;
        let layout = ogg::scan(&mut BufReader::new(file.try_clone()?))?;
        let codec = layout.audio_codec()?;
        layout.lone_streams()?;
        let ogg::Codec::Opus { channels } = codec else {
            return Err(AudioError::Corrupt(
                "ogg: the first stream is not Opus after all".into(),
            ));
        };
        let channels = check_channels(Some(usize::from(channels)))?;
        let mut links = layout.links.into_iter();
        let first = links.next().expect("a layout has at least one link");
        let link = OpusLink::open(&file, &first, channels)?;
        Ok(AudioStream::starting(StreamParts {
            backend: Backend::Opus(Box::new(OpusBackend {
                file,
                links,
                link,
                block: vec![0.0; opus_pure::MAX_PACKET_SAMPLES * usize::from(channels)],
            })),
            edge: EdgeTrim::default(),
            mp4: None,
            tags: ContainerTags::default(),
            info: StreamInfo {
                container: "ogg".into(),
                codec: "opus".into(),
                sample_rate: opus::RATE,
                channels,
                declared_frames: None,
                extension: "opus",
            },
        }))
    }

    fn open_amr_storage(path: &Path) -> Result<AudioStream, AudioError> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_AMR_BYTES {
            return Err(AudioError::Corrupt(format!(
                "AMR file of {len} bytes is larger than the {MAX_AMR_BYTES}-byte limit"
            )));
        }
        let bytes = std::fs::read(path)?;
        let (_, frames) = codec_core::codecs::amr::storage::read(&bytes)
            .map_err(|e| AudioError::Corrupt(format!("amr: {e}")))?;
        let opened = OpenedTrack {
            container: "amr".into(),
            extension: "amr",
            mp4: None,
            tags: ContainerTags::default(),
        };
        Self::amr(AmrSource::Storage, frames.into(), opened)
    }

    fn open_amr_mp4(
        reader: Box<dyn FormatReader>,
        opened: OpenedTrack,
    ) -> Result<AudioStream, AudioError> {
        let mut unidentified = reader.tracks().iter().filter(|t| t.codec_params.is_none());
        let (Some(track), None) = (unidentified.next(), unidentified.next()) else {
            return Err(AudioError::UnsupportedCodec(
                "amr-nb in a file with several unidentified tracks".into(),
            ));
        };
        let track_id = track.id;
        Self::amr(
            AmrSource::Mp4 { reader, track_id },
            Default::default(),
            opened,
        )
    }

    fn amr(
        source: AmrSource,
        frames: std::collections::VecDeque<codec_core::codecs::amr::AmrPayloadFrame>,
        opened: OpenedTrack,
    ) -> Result<AudioStream, AudioError> {
        let mut config = codec_core::types::CodecConfig::new(codec_core::types::CodecType::AmrNb);
        config.sample_rate = codec_core::types::SampleRate::Rate8000;
        let codec = codec_core::codecs::amr::AmrCodec::new(&config)
            .map_err(|e| AudioError::UnsupportedCodec(format!("amr-nb ({e})")))?;
        Ok(AudioStream::starting(StreamParts {
            backend: Backend::Amr(Box::new(AmrBackend {
                source,
                codec,
                frames,
            })),
            edge: EdgeTrim::default(),
            mp4: opened.mp4,
            tags: opened.tags,
            info: StreamInfo {
                container: opened.container,
                codec: "amr_nb".into(),
                sample_rate: AMR_RATE,
                channels: 1,
                declared_frames: None,
                extension: opened.extension,
            },
        }))
    }

    /// What the container and codec say about the audio.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// For MP4/QuickTime files, what the box reader found (creation time, location, edits).
    pub fn mp4_facts(&self) -> Option<&Mp4Facts> {
        self.mp4.as_ref()
    }

    /// What the container's metadata tags say about the recording time and location.
    pub fn container_tags(&self) -> &ContainerTags {
        &self.tags
    }

    /// The next chunk of interleaved samples, with encoder delay and padding trimmed;
    /// `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, AudioError> {
        let channels = usize::from(self.info.channels);
        loop {
            if self.edge.keep == Some(0) {
                return Ok(None);
            }
            if !self.decode_next()? {
                self.check_reach()?;
                return Ok(None); // frames still held are the end padding
            }
            let frames = (self.buf.len() / channels) as u64;
            self.largest = self.largest.max(frames);
            self.last = frames;
            let start = self.edge.skip.min(frames);
            self.edge.skip -= start;
            let mut end = frames;
            if let Some(keep) = self.edge.keep.as_mut() {
                end = end.min(start + *keep);
                *keep -= end - start;
            }
            if end <= start {
                continue;
            }
            let (s, e) = (start as usize * channels, end as usize * channels);
            let held_back = self.edge.tail as usize * channels;
            let chunk: &[f32] = if held_back == 0 {
                &self.buf[s..e]
            } else {
                // Hand out all but the last `tail` frames seen so far.
                self.held.extend_from_slice(&self.buf[s..e]);
                let Some(release) = self.held.len().checked_sub(held_back).filter(|&r| r > 0)
                else {
                    continue;
                };
                self.out.clear();
                self.out.extend(self.held.drain(..release));
                &self.out
            };
            self.decoded += (chunk.len() / channels) as u64;
            self.max.check(self.decoded, self.info.sample_rate, false)?;
            return Ok(Some(chunk));
        }
    }

    /// Refuses a Matroska stream that ended before its declared duration (by more than a
    /// packet and the trimmed edges), or before a cluster's timecode: the demuxer stopped
    /// on damage it passed over as the end.
    fn check_reach(&self) -> Result<(), AudioError> {
        let Some(reach) = self.reach else {
            return Ok(());
        };
        let rate = u128::from(self.info.sample_rate);
        let frames = |ns: u64| u128::from(ns) * rate / 1_000_000_000;
        let reached = u128::from(self.decoded + self.largest + reach.trimmed);
        let secs = |f: u128| f as f64 / rate as f64;
        let ends = secs(u128::from(self.decoded));
        if let Some(ns) = reach.duration_ns.filter(|&ns| frames(ns) > reached) {
            return Err(AudioError::Corrupt(format!(
                "the audio ends at {ends:.3} s but the Matroska header declares {:.3} s",
                secs(frames(ns))
            )));
        }
        if let Some(ns) = reach.cluster_ns.filter(|&ns| frames(ns) > reached) {
            return Err(AudioError::Corrupt(format!(
                "the audio ends at {ends:.3} s but a Matroska cluster starts at {:.3} s",
                secs(frames(ns))
            )));
        }
        // DiscardPadding is silence added to its own block, so no longer than that packet.
        if reach.exact && self.edge.tail > self.last {
            return Err(AudioError::Corrupt(format!(
                "the last Matroska block's DiscardPadding ({:.3} s) is longer than its audio \
                 ({:.3} s)",
                secs(u128::from(self.edge.tail)),
                secs(u128::from(self.last))
            )));
        }
        // Opus: the decoded frames and the pre-skip cover every block's start, give or take
        // the timecodes' rounding (2 ms); a packet lost inside the file falls short.
        let upto = match reach.exact {
            true => u128::from(self.decoded + reach.trimmed) + rate / 500,
            false => reached,
        };
        if let Some(ns) = reach.last_block_ns.filter(|&ns| frames(ns) > upto) {
            return Err(AudioError::Corrupt(format!(
                "the audio ends at {ends:.3} s but its last Matroska block starts at {:.3} s",
                secs(frames(ns))
            )));
        }
        Ok(())
    }

    /// Decodes the next packet into `self.buf`; false at the end of the stream.
    fn decode_next(&mut self) -> Result<bool, AudioError> {
        let channels = usize::from(self.info.channels);
        let rate = self.info.sample_rate;
        let eof_ends = self.eof_ends;
        match &mut self.backend {
            Backend::Symphonia {
                reader,
                decoder,
                track_id,
                chained,
            } => loop {
                let packet = match reader.next_packet() {
                    Err(SymError::ResetRequired) if *chained => {
                        (*decoder, *track_id) = next_link(reader.as_ref(), channels, rate)?;
                        continue;
                    }
                    other => packet_or_end(other, eof_ends)?,
                };
                let Some(packet) = packet else {
                    return Ok(false);
                };
                if packet.track_id != *track_id {
                    continue;
                }
                // symphonia 0.6 decoders apply the packet's delay/padding trims themselves.
                let decoded = decoder.decode(&packet).map_err(|e| {
                    AudioError::Corrupt(format!(
                        "packet at {} cannot be decoded: {e}",
                        packet.pts.get()
                    ))
                })?;
                let got = decoded.spec().channels().count();
                if got != channels {
                    return Err(AudioError::Corrupt(format!(
                        "channel count changes mid-stream ({channels} → {got})"
                    )));
                }
                decoded.copy_to_vec_interleaved(&mut self.buf);
                return Ok(true);
            },
            Backend::Opus(o) => loop {
                let packet = match o.link.reader.read_packet() {
                    Ok(Some(p)) => p,
                    Ok(None) => match o.links.next() {
                        Some(next) => {
                            o.link = OpusLink::open(&o.file, &next, channels as u16)?;
                            continue;
                        }
                        None => return Ok(false),
                    },
                    Err(opus_pure::Error::Io(e))
                        if e.kind() != std::io::ErrorKind::UnexpectedEof =>
                    {
                        return Err(AudioError::Io(e));
                    }
                    Err(e) => return Err(AudioError::Corrupt(format!("ogg opus: {e}"))),
                };
                let OpusLink { decoder, trim, .. } = &mut o.link;
                let n = decoder
                    .decode(&packet.data, opus_pure::MAX_PACKET_SAMPLES, &mut o.block)
                    .map_err(|e| AudioError::Corrupt(format!("opus packet: {e}")))?;
                let kept = trim.keep(&packet, &o.block[..n * channels]);
                self.buf.clear();
                self.buf.extend_from_slice(kept);
                return Ok(true);
            },
            Backend::OpusPackets(o) => loop {
                let Some(packet) = next_packet(o.reader.as_mut(), eof_ends)? else {
                    return Ok(false);
                };
                if packet.track_id != o.track_id {
                    continue;
                }
                let n = o
                    .decoder
                    .decode(&packet.data, opus_pure::MAX_PACKET_SAMPLES, &mut o.block)
                    .map_err(|e| AudioError::Corrupt(format!("opus packet: {e}")))?;
                self.buf.clear();
                self.buf.extend_from_slice(&o.block[..n * channels]);
                return Ok(true);
            },
            Backend::Amr(a) => {
                while a.frames.is_empty() {
                    let AmrSource::Mp4 { reader, track_id } = &mut a.source else {
                        return Ok(false);
                    };
                    let Some(packet) = next_packet(reader.as_mut(), eof_ends)? else {
                        return Ok(false);
                    };
                    if packet.track_id != *track_id {
                        continue;
                    }
                    let mut record = b"#!AMR\n".to_vec();
                    record.extend_from_slice(&packet.data);
                    let (_, frames) = codec_core::codecs::amr::storage::read(&record)
                        .map_err(|e| AudioError::Corrupt(format!("amr packet: {e}")))?;
                    a.frames.extend(frames);
                }
                let frame = a.frames.pop_front().expect("a frame is queued");
                let pcm = decode_amr_frame(&mut a.codec, frame)?;
                self.buf.clear();
                self.buf.extend(pcm.iter().map(|&s| f32::from(s) / 32768.0));
                Ok(true)
            }
        }
    }
}

/// The Matroska walker's facts about track `track` of `path`; a file with an element it
/// cannot parse or a block of an undeclared track is damaged.
fn mkv_facts(path: &Path, track: u32) -> Result<super::mkv::MkvFacts, AudioError> {
    let facts = super::mkv::scan(&mut BufReader::new(File::open(path)?), u64::from(track))?;
    match facts.invalid_at {
        Some(at) => Err(AudioError::Corrupt(format!(
            "Matroska element at byte {at} is invalid"
        ))),
        None => Ok(facts),
    }
}

/// The next packet a symphonia demuxer reads; `None` at the end (and, when `eof_ends`, at
/// the end of the file).
fn next_packet(
    reader: &mut dyn FormatReader,
    eof_ends: bool,
) -> Result<Option<symphonia::core::packet::Packet>, AudioError> {
    packet_or_end(reader.next_packet(), eof_ends)
}

/// What [`next_packet`] makes of the demuxer's answer.
fn packet_or_end(
    read: Result<Option<symphonia::core::packet::Packet>, SymError>,
    eof_ends: bool,
) -> Result<Option<symphonia::core::packet::Packet>, AudioError> {
    match read {
        Ok(p) => Ok(p),
        Err(SymError::IoError(e)) if eof_ends && e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Ok(None)
        }
        Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(
            AudioError::Corrupt("file ends in the middle of a packet".into()),
        ),
        Err(SymError::IoError(e)) => Err(AudioError::Io(e)),
        Err(e) => Err(AudioError::Corrupt(e.to_string())),
    }
}

/// The decoder and track of the next link of a chained Ogg file, which symphonia has just
/// started as new tracks; its rate and channels must be those of the first.
fn next_link(
    reader: &dyn FormatReader,
    channels: usize,
    rate: u32,
) -> Result<(Box<dyn AudioDecoder>, u32), AudioError> {
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::Corrupt("ogg: a chained link has no audio track".into()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::Corrupt("ogg: a chained link has no audio track".into()))?;
    let got = params.channels.as_ref().map_or(0, |c| c.count());
    if params.sample_rate != Some(rate) || got != channels {
        return Err(AudioError::Corrupt(format!(
            "ogg: a chained link's decoder is for {got} channels at {:?} Hz, not {channels} at \
             {rate} Hz",
            params.sample_rate
        )));
    }
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| AudioError::UnsupportedCodec(format!("{} ({e})", codec_name(params.codec))))?;
    Ok((decoder, track.id))
}

/// Refuses a sample rate outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`]: everything
/// sized from a rate (resampler blocks, meters) stays bounded because of it.
pub fn check_rate(rate: Option<u32>) -> Result<u32, AudioError> {
    match rate {
        Some(r) if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&r) => Ok(r),
        Some(r) => Err(AudioError::ImplausibleRate(r)),
        None => Err(AudioError::Corrupt("no sample rate".into())),
    }
}

fn check_channels(n: Option<usize>) -> Result<u16, AudioError> {
    n.filter(|c| (1..=MAX_CHANNELS).contains(c))
        .map(|c| c as u16)
        .ok_or_else(|| match n {
            Some(n) => AudioError::Corrupt(format!("implausible channel count {n}")),
            None => AudioError::Corrupt("no channel count".into()),
        })
}

/// Decodes one AMR-NB storage frame to 160 samples.
fn decode_amr_frame(
    codec: &mut codec_core::codecs::amr::AmrCodec,
    frame: codec_core::codecs::amr::AmrPayloadFrame,
) -> Result<Vec<i16>, AudioError> {
    use codec_core::codecs::amr::AmrFrameType;
    use codec_core::types::{CodedFrame, FrameKind, VariableRateCodec};
    let coded = match frame.frame_type {
        AmrFrameType::Speech(mode) => CodedFrame {
            kind: FrameKind::Speech,
            mode: mode.index(),
            quality_ok: frame.quality_ok,
            data: frame.data,
        },
        AmrFrameType::Sid(_) => CodedFrame::comfort_noise(frame.data),
        AmrFrameType::NoData => CodedFrame::no_data(),
        AmrFrameType::SpeechLost => CodedFrame::lost(),
    };
    let pcm = codec
        .decode_frame(&coded)
        .map_err(|e| AudioError::Corrupt(format!("amr frame: {e}")))?;
    if pcm.len() != AMR_FRAME {
        return Err(AudioError::Corrupt(format!(
            "amr frame decoded to {} samples",
            pcm.len()
        )));
    }
    Ok(pcm)
}

impl EdgeTrim {
    /// An MP4 edit, converted to frames at the decoder's rate.
    fn from_edit(edit: AudioEdit, sample_rate: u32) -> EdgeTrim {
        let to_frames = |ticks: u64| {
            (u128::from(ticks) * u128::from(sample_rate) / u128::from(edit.timescale)) as u64
        };
        EdgeTrim {
            skip: to_frames(edit.skip),
            keep: edit.keep.map(to_frames),
            tail: 0,
        }
    }
}

/// The short name of a codec, for metadata and error messages.
pub fn codec_name(id: AudioCodecId) -> String {
    let name = match id {
        codec::CODEC_ID_PCM_S16LE => "pcm_s16le",
        codec::CODEC_ID_PCM_S16BE => "pcm_s16be",
        codec::CODEC_ID_PCM_S24LE => "pcm_s24le",
        codec::CODEC_ID_PCM_S24BE => "pcm_s24be",
        codec::CODEC_ID_PCM_S32LE => "pcm_s32le",
        codec::CODEC_ID_PCM_S32BE => "pcm_s32be",
        codec::CODEC_ID_PCM_U8 => "pcm_u8",
        codec::CODEC_ID_PCM_S8 => "pcm_s8",
        codec::CODEC_ID_PCM_F32LE => "pcm_f32le",
        codec::CODEC_ID_PCM_F32BE => "pcm_f32be",
        codec::CODEC_ID_PCM_F64LE => "pcm_f64le",
        codec::CODEC_ID_PCM_F64BE => "pcm_f64be",
        codec::CODEC_ID_PCM_ALAW => "pcm_alaw",
        codec::CODEC_ID_PCM_MULAW => "pcm_mulaw",
        codec::CODEC_ID_ADPCM_MS => "adpcm_ms",
        codec::CODEC_ID_ADPCM_IMA_WAV => "adpcm_ima_wav",
        codec::CODEC_ID_ADPCM_IMA_QT => "adpcm_ima_qt",
        codec::CODEC_ID_VORBIS => "vorbis",
        codec::CODEC_ID_OPUS => "opus",
        codec::CODEC_ID_SPEEX => "speex",
        codec::CODEC_ID_MP1 => "mp1",
        codec::CODEC_ID_MP2 => "mp2",
        codec::CODEC_ID_MP3 => "mp3",
        codec::CODEC_ID_AAC => "aac",
        codec::CODEC_ID_AC3 => "ac3",
        codec::CODEC_ID_EAC3 => "eac3",
        codec::CODEC_ID_FLAC => "flac",
        codec::CODEC_ID_ALAC => "alac",
        codec::CODEC_ID_WMA => "wma",
        codec::CODEC_ID_WAVPACK => "wavpack",
        _ => return format!("{id}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel)
    }

    fn seconds(s: f64) -> MaxDuration {
        MaxDuration::from_hours(s / 3600.0).unwrap()
    }

    #[test]
    fn max_duration_takes_positive_hours_up_to_the_ceiling() {
        for bad in [0.0, -1.0, -0.0, f64::NAN, f64::INFINITY, 1000.001, 1e300] {
            assert_eq!(MaxDuration::from_hours(bad), None, "{bad}");
        }
        assert_eq!(MaxDuration::from_hours(12.0), Some(MaxDuration::DEFAULT));
        assert_eq!(MaxDuration::default(), MaxDuration::DEFAULT);
        assert!(MaxDuration::from_hours(1000.0).is_some());
        assert_eq!(MaxDuration::DEFAULT.frames_at(16_000), 691_200_000);
        assert_eq!(seconds(1.5).frames_at(8_000), 12_000);
        assert!(seconds(1.5).check(12_000, 8_000, true).is_ok());
        let e = seconds(1.5).check(12_001, 8_000, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "declares 0:00:02 of audio, more than the 0:00:02 limit (--max-hours raises it)"
        );
        let e = MaxDuration::DEFAULT
            .check(13 * 3600 * 8_000, 8_000, true)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("declares 13:00:00 of audio, more than the 12:00:00")
        );
        let e = MaxDuration::DEFAULT
            .check(u64::MAX, 8_000, false)
            .unwrap_err();
        assert!(e.to_string().contains("found while decoding"), "{e}");
    }

    #[test]
    fn a_declared_length_past_the_limit_is_refused_before_decoding() {
        // About 13.34 s declared by the MP4 (with its priming) and by the FLAC STREAMINFO.
        for f in ["phone/voice-memo.m4a", "phone/archive-copy.flac"] {
            match AudioStream::open(&fixture(f), seconds(10.0)) {
                Err(AudioError::TooLong {
                    declared_s: Some(s),
                    limit_s,
                }) => assert!((s - 13.34).abs() < 0.03 && limit_s == 10.0, "{f}: {s}"),
                other => panic!("{f}: {other:?}"),
            }
            assert!(AudioStream::open(&fixture(f), seconds(14.0)).is_ok());
        }
    }

    #[test]
    fn decoding_stops_as_soon_as_it_passes_the_limit() {
        // Ogg Opus declares no length: the limit is found by decoding.
        let path = fixture("phone/whatsapp-note.opus");
        let mut s = AudioStream::open(&path, seconds(10.0)).unwrap();
        assert_eq!(s.info().declared_frames, None);
        let mut frames = 0;
        let err = loop {
            match s.next_chunk() {
                Ok(Some(c)) => frames += c.len(),
                Ok(None) => panic!("decoded all {frames} frames past the limit"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err,
                AudioError::TooLong {
                    declared_s: None,
                    ..
                }
            ),
            "{err}"
        );
        // Everything up to the limit was handed out, nothing past it.
        assert!((480_000 - 5_760..=480_000).contains(&frames), "{frames}");
        let mut s = AudioStream::open(&path, seconds(14.0)).unwrap();
        while s.next_chunk().unwrap().is_some() {}
    }

    fn decode_all(path: &Path) -> Result<Vec<f32>, AudioError> {
        let mut s = AudioStream::open(path, MaxDuration::DEFAULT)?;
        let mut out = Vec::new();
        while let Some(c) = s.next_chunk()? {
            out.extend_from_slice(c);
        }
        Ok(out)
    }

    #[test]
    fn a_chained_ogg_decodes_to_its_links_one_after_the_other() {
        // Each link with its own pre-skip, gain and end trim: the very samples of the links
        // decoded alone (1 s and 1.5 s).
        for (chain, rate) in [("opus", 48_000), ("ogg", 16_000)] {
            let link = |n: u8| decode_all(&fixture(&format!("containers/chained-link{n}.{chain}")));
            let (a, b) = (link(1).unwrap(), link(2).unwrap());
            assert_eq!((a.len(), b.len()), (rate, rate * 3 / 2), "{chain}");
            let whole = decode_all(&fixture(&format!("containers/chained.{chain}"))).unwrap();
            assert!(whole == [a, b].concat(), "{chain}");
        }
    }

    #[test]
    fn chained_links_that_cannot_be_one_recording_are_refused_before_decoding() {
        let e = AudioStream::open(
            &fixture("containers/chained-mono-stereo.opus"),
            MaxDuration::DEFAULT,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported container: chained Ogg: link 2 has 2 channels, link 1 has 1 (the \
             links cannot be decoded as one recording)"
        );
        let e = AudioStream::open(
            &fixture("containers/multiplexed.opus"),
            MaxDuration::DEFAULT,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("Ogg multiplexes 2 audio streams (opus, opus)"),
            "{e}"
        );
        // Chained Vorbis then Opus goes to symphonia (the first link is Vorbis): refused too.
        let dir = tempfile::tempdir().unwrap();
        let mixed = dir.path().join("mixed.ogg");
        let read = |n: &str| std::fs::read(fixture(&format!("containers/{n}"))).unwrap();
        std::fs::write(
            &mixed,
            [read("chained-link1.ogg"), read("chained-link2.opus")].concat(),
        )
        .unwrap();
        let e = AudioStream::open(&mixed, MaxDuration::DEFAULT).unwrap_err();
        assert!(
            e.to_string().contains("link 2 is opus, link 1 is vorbis"),
            "{e}"
        );
    }

    #[test]
    fn sample_rates_outside_the_range_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (rate, ok) in [
            (1, false),
            (3_999, false),
            (4_000, true),
            (384_000, true),
            (384_001, false),
        ] {
            let path = dir.path().join(format!("{rate}.wav"));
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::create(&path, spec).unwrap();
            for i in 0..2000 {
                w.write_sample((i % 100) as i16 * 100).unwrap();
            }
            w.finalize().unwrap();
            match AudioStream::open(&path, MaxDuration::DEFAULT) {
                Ok(_) => assert!(ok, "{rate} Hz accepted"),
                Err(AudioError::ImplausibleRate(r)) => assert!(!ok && r == rate, "{rate}"),
                Err(e) => panic!("{rate}: {e}"),
            }
        }
    }
}

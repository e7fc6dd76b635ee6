//! Streaming decode of any supported recording to interleaved `f32` frames, in bounded memory.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::{
    AudioCodecId, AudioDecoder, AudioDecoderOptions, well_known as codec,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;

/// Highest sample rate accepted (anything above is a corrupt or hostile header).
pub const MAX_SAMPLE_RATE: u32 = 768_000;
/// Highest channel count accepted.
pub const MAX_CHANNELS: usize = 32;

/// Why a file could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No audio container was recognised in the content.
    #[error("not a recognised audio file ({0})")]
    NotAudio(String),
    /// The container holds audio in a codec this build cannot decode.
    #[error("audio codec {0} is not supported")]
    UnsupportedCodec(String),
    /// The file is damaged or truncated.
    #[error("damaged or truncated audio: {0}")]
    Corrupt(String),
    /// Reading the file failed.
    #[error("{}", crate::error::describe_io(.0))]
    Io(#[from] std::io::Error),
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
}

/// An open recording yielding decoded audio chunk by chunk.
pub struct AudioStream {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    ticks_to_frames: (u64, u64),
    info: StreamInfo,
    buf: Vec<f32>,
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("info", &self.info)
            .finish()
    }
}

impl AudioStream {
    /// Opens `path`, recognising the container by its content (never by the file name).
    pub fn open(path: &Path) -> Result<AudioStream, AudioError> {
        let file = File::open(path)?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let reader = symphonia::default::get_probe()
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
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| AudioError::Corrupt(format!("{container} file has no audio track")))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| AudioError::UnsupportedCodec(format!("(unidentified, in {container})")))?
            .clone();
        let codec = codec_name(params.codec);
        let sample_rate = params
            .sample_rate
            .filter(|r| (1..=MAX_SAMPLE_RATE).contains(r))
            .ok_or_else(|| {
                AudioError::Corrupt(format!("implausible sample rate {:?}", params.sample_rate))
            })?;
        let channels = params
            .channels
            .as_ref()
            .map(|c| c.count())
            .filter(|c| (1..=MAX_CHANNELS).contains(c))
            .ok_or_else(|| AudioError::Corrupt("implausible channel count".into()))?;
        let ticks_to_frames = match track.time_base {
            Some(tb) => (
                u64::from(tb.numer.get()) * u64::from(sample_rate),
                u64::from(tb.denom.get()),
            ),
            None => (1, 1),
        };
        let declared_frames = track
            .num_frames
            .map(|n| n * ticks_to_frames.0 / ticks_to_frames.1.max(1));
        let track_id = track.id;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|_| AudioError::UnsupportedCodec(codec.clone()))?;
        Ok(AudioStream {
            reader,
            decoder,
            track_id,
            ticks_to_frames,
            info: StreamInfo {
                container,
                codec,
                sample_rate,
                channels: channels as u16,
                declared_frames,
            },
            buf: Vec::new(),
        })
    }

    /// What the container and codec say about the audio.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The next chunk of interleaved samples, with encoder delay and padding trimmed as the
    /// container signals them; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, AudioError> {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(AudioError::Corrupt(
                        "file ends in the middle of a packet".into(),
                    ));
                }
                Err(SymError::IoError(e)) => return Err(AudioError::Io(e)),
                Err(e) => return Err(AudioError::Corrupt(e.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let (trim_start, trim_end) = self.trims(&packet);
            let decoded = self.decoder.decode(&packet).map_err(|e| {
                AudioError::Corrupt(format!(
                    "packet at {} cannot be decoded: {e}",
                    packet.pts.get()
                ))
            })?;
            let channels = decoded.spec().channels().count();
            if channels != usize::from(self.info.channels) {
                return Err(AudioError::Corrupt(format!(
                    "channel count changes mid-stream ({} → {channels})",
                    self.info.channels
                )));
            }
            decoded.copy_to_vec_interleaved(&mut self.buf);
            let frames = self.buf.len() / channels;
            let start = trim_start.min(frames);
            let end = frames.saturating_sub(trim_end).max(start);
            if end > start {
                return Ok(Some(&self.buf[start * channels..end * channels]));
            }
        }
    }

    fn trims(&self, packet: &Packet) -> (usize, usize) {
        let (num, den) = self.ticks_to_frames;
        let conv = |d: u64| (d.saturating_mul(num) / den.max(1)) as usize;
        (conv(packet.trim_start.get()), conv(packet.trim_end.get()))
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

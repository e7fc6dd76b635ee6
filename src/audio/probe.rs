//! Examining a candidate recording: decode it completely once (proving it is playable and
//! measuring its true length) and read the container facts we keep.

use std::path::Path;

use super::decode::{AudioError, AudioStream, MaxDuration, StreamInfo};
use crate::progress::{FileProgress, Phase};

/// Everything ingest learns from a recording's content.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFacts {
    /// Container and codec facts.
    pub stream: StreamInfo,
    /// Decoded length in frames.
    pub frames: u64,
    /// Recording time from the container, as Unix seconds, and where it came from
    /// (`mp4-mvhd`, or `container-tag` for an ID3/Vorbis/RIFF date-time).
    pub created: Option<(i64, &'static str)>,
    /// Whether the container carries a location (an MP4 atom or a metadata tag).
    pub has_location: bool,
}

impl AudioFacts {
    /// Decoded length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(self.stream.sample_rate)
    }
}

/// Decodes `path` completely and gathers its facts, reporting how far decoding is to
/// `progress` ([`Phase::Decode`]). Truncated or damaged files, and files longer than `max`,
/// are errors; so is a caught signal (see [`crate::interrupt`]).
pub fn examine(
    path: &Path,
    max: MaxDuration,
    progress: FileProgress<'_>,
) -> Result<AudioFacts, AudioError> {
    let mut stream = AudioStream::open(path, max)?;
    let info = stream.info();
    let per_s = f64::from(info.sample_rate) * f64::from(info.channels);
    let declared = info.declared_s();
    let mut ticker = progress.phase(Phase::Decode, progress.audio(declared, 0.0));
    let mut samples = 0u64;
    while let Some(chunk) = stream.next_chunk()? {
        samples += chunk.len() as u64;
        crate::interrupt::check()?;
        ticker.at(progress.audio(declared, samples as f64 / per_s));
    }
    ticker.finish(progress.audio(declared, samples as f64 / per_s));
    facts(&stream, samples)
}

/// The facts of a stream that has been decoded to its end, yielding `samples` samples
/// (all channels). Refuses empty and truncated streams.
pub fn facts(stream: &AudioStream, samples: u64) -> Result<AudioFacts, AudioError> {
    let info = stream.info().clone();
    let mp4 = stream.mp4_facts().cloned().unwrap_or_default();
    let frames = samples / u64::from(info.channels);
    if frames == 0 {
        return Err(AudioError::Corrupt("no audio frames in file".into()));
    }
    if let Some(declared) = info.declared_frames {
        // Allow for encoder delay/padding (a few thousand frames at most).
        if frames + 8192 < declared {
            return Err(AudioError::Corrupt(format!(
                "truncated: decoded {frames} of {declared} frames the container declares"
            )));
        }
    }
    let tags = stream.container_tags();
    let created = match (mp4.created_unix, tags.recorded_unix) {
        (Some(t), _) => Some((t, "mp4-mvhd")),
        (None, Some(t)) => Some((t, "container-tag")),
        (None, None) => None,
    };
    Ok(AudioFacts {
        stream: info,
        frames,
        created,
        has_location: mp4.has_location || tags.has_location,
    })
}

//! `data/<id>/recording.json`: everything visitrec knows about one recording (schema 1).
//!
//! The schema is documented in `docs/FORMAT.md`. Fields later releases add are optional, so
//! an older archive still reads; `schema` changes only when a field changes meaning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The metadata file's name inside `data/<id>/`.
pub const RECORDING_JSON: &str = "recording.json";
/// The schema version this release writes and reads.
pub const SCHEMA: u32 = 1;
/// How many hex digits of the original's SHA-256 make a recording id.
pub const ID_LEN: usize = 16;

/// One recording's metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// Schema version; always [`SCHEMA`].
    pub schema: u32,
    /// The recording id: the first [`ID_LEN`] hex digits of `source.sha256`.
    pub id: String,
    /// Facts about the original file as captured.
    pub source: Source,
    /// When it was ingested (RFC 3339, UTC).
    pub ingested_at: String,
    /// Study participant or patient reference, if given.
    pub participant: Option<String>,
    /// Free key/value tags.
    pub tags: BTreeMap<String, String>,
    /// Time-anchored marks (bookmarks), in order of time.
    #[serde(default)]
    pub marks: Vec<Mark>,
    /// Consent history, append-only, in the order recorded.
    #[serde(default)]
    pub consent: Vec<crate::consent::ConsentEntry>,
    /// The normalized rendition, once made.
    #[serde(default)]
    pub normalized: Option<Normalized>,
    /// Speech segments, once made, in order of time.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// The settings the current `segments` were made with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
}

/// A time-anchored mark: a clinician's bookmark.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// Seconds from the start of the recording.
    pub at_s: f64,
    /// What happened there.
    pub label: String,
}

/// The normalized rendition (`data/<id>/normalized.wav`) and how it was made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Normalized {
    /// Payload path of the WAV.
    pub path: String,
    /// Sample rate, Hz (mono, 16-bit PCM).
    pub sample_rate: u32,
    /// Length in frames.
    pub frames: u64,
    /// Length in seconds.
    pub duration_s: f64,
    /// Integrated loudness aimed for, LUFS.
    pub target_lufs: f64,
    /// True-peak ceiling, dBTP.
    pub true_peak_ceiling_dbtp: f64,
    /// Integrated loudness before the gain (null: silence).
    pub loudness_before_lufs: Option<f64>,
    /// True peak before the gain (null: silence).
    pub true_peak_before_dbtp: Option<f64>,
    /// Integrated loudness of the written file (null: silence).
    pub loudness_after_lufs: Option<f64>,
    /// True peak of the written file (null: silence).
    pub true_peak_after_dbtp: Option<f64>,
    /// The gain applied before the limiter (the only one, without it), dB.
    pub gain_db: f64,
    /// What the true-peak limiter took off; absent when it was off (`--limiter off`, and
    /// every rendition made before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limiter: Option<Limiting>,
    /// Whether the target loudness was reached.
    pub target_reached: bool,
    /// Why the target was not reached, when it was not.
    pub note: Option<String>,
    /// Payload path of its min/max envelope (`data/<id>/envelope.json`, see
    /// [`crate::envelope`]); absent in renditions made before envelopes were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
}

/// How much the limiter acted on a rendition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limiting {
    /// The largest gain reduction, dB (0: it never acted).
    pub max_reduction_db: f64,
    /// Seconds of audio turned down by more than 0.1 dB.
    pub limited_s: f64,
}

/// One speech segment (`data/<id>/segments/NNN.wav`, cut from the normalized audio).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// 1-based position in time order.
    pub index: u32,
    /// Start, seconds from the start of the recording.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
    /// Payload path of the WAV.
    pub path: String,
    /// `speech`.
    pub kind: String,
    /// The label of the mark this segment starts at, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The settings a segmentation was made with (re-running with the same ones is a no-op).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Segmentation {
    /// Pauses shorter than this (s) never split a segment.
    pub min_silence_s: f64,
    /// Bursts shorter than this (s) are dropped.
    pub min_speech_s: f64,
    /// Padding added to each side (s).
    pub pad_s: f64,
    /// Whether marks also cut segments.
    pub at_marks: bool,
    /// The marks it was cut at (so that changed marks make it stale).
    pub marks_used: Vec<Mark>,
    /// The normalized audio it was made from (`sample_rate`/`frames`/`gain_db` identify it).
    pub normalized_gain_db: f64,
}

/// Facts about the original file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The file name as it was on the phone or disk, exactly (lossy only if not UTF-8).
    pub file_name: String,
    /// The file name's raw bytes in hex, present only when they are not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name_raw_hex: Option<String>,
    /// The payload path of the byte-identical copy, relative to the bag.
    pub stored_as: String,
    /// SHA-256 of the original's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Container format (e.g. `isomp4`, `mp3`, `wave`, `flac`, `ogg`).
    pub container: String,
    /// Audio codec (e.g. `aac`, `mp3`, `pcm_s16le`, `flac`).
    pub codec: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Decoded length in sample frames.
    pub frames: u64,
    /// Decoded length in seconds (`frames / sample_rate`).
    pub duration_s: f64,
    /// When the recording was made (RFC 3339), as best known.
    pub recorded_at: String,
    /// Where `recorded_at` came from: `mp4-mvhd` or `file-mtime`.
    pub recorded_at_source: String,
    /// Whether the original carries a location (GPS) tag. The original is kept byte for
    /// byte, so it still holds the location; visitrec copies it nowhere else.
    pub has_location: bool,
    /// The kinds of identifying metadata the original carries (never their values), in the
    /// order of [`crate::audio::identifying::Kind`]; absent for recordings ingested before
    /// visitrec looked (then only `has_location` is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifying: Option<Vec<crate::audio::identifying::Kind>>,
}

impl Source {
    /// Whether the original is known to carry identifying metadata, or might (ingested
    /// before visitrec looked, with a location).
    pub fn carries_identifying(&self) -> bool {
        self.has_location || self.identifying.as_ref().is_some_and(|k| !k.is_empty())
    }

    /// The kinds in words (`location, device, person`), or `None` when there are none.
    pub fn identifying_words(&self) -> Option<String> {
        let kinds: Vec<&str> = match &self.identifying {
            Some(k) => k.iter().map(|k| k.as_str()).collect(),
            None if self.has_location => vec!["location"],
            None => Vec::new(),
        };
        (!kinds.is_empty()).then(|| kinds.join(", "))
    }
}

impl Recording {
    /// Parses and checks a `recording.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Recording, String> {
        let r: Recording = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if r.schema != SCHEMA {
            return Err(format!(
                "schema {} is not supported (this visitrec reads {SCHEMA})",
                r.schema
            ));
        }
        if !is_valid_id(&r.id) {
            return Err(format!("id {:?} is not {ID_LEN} hex digits", r.id));
        }
        if !r.source.sha256.starts_with(&r.id) {
            return Err("id does not match source.sha256".into());
        }
        r.check_paths()?;
        r.check_text()?;
        Ok(r)
    }

    /// Free-text fields hold what visitrec's own writers accept (no control characters, no
    /// empty values, bounded length), so a hand edit cannot slip in what no command would
    /// have written. (The original's file name is exempt: it is kept exactly as it was.)
    fn check_text(&self) -> Result<(), String> {
        let value =
            |what: &str, v: &str| crate::tags::check_value(what, v).map_err(|e| e.to_string());
        if let Some(p) = &self.participant {
            value("participant", p)?;
        }
        for (k, v) in &self.tags {
            crate::tags::check_key(k).map_err(|e| e.to_string())?;
            value(&format!("value of tag {k}"), v)?;
        }
        for m in &self.marks {
            value("mark label", &m.label)?;
        }
        for e in &self.consent {
            for (what, v) in [
                ("consent by", &e.by),
                ("consent method", &e.method),
                ("consent witness", &e.witness),
                ("consent note", &e.note),
            ] {
                if let Some(v) = v {
                    value(what, v)?;
                }
            }
            value("consent recorded_by", &e.recorded_by)?;
        }
        Ok(())
    }

    /// Every payload path the metadata names, with what it is for.
    pub fn paths(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![("source.stored_as", self.source.stored_as.as_str())];
        if let Some(n) = &self.normalized {
            out.push(("normalized.path", n.path.as_str()));
            if let Some(e) = &n.envelope {
                out.push(("normalized.envelope", e.as_str()));
            }
        }
        out.extend(
            self.segments
                .iter()
                .map(|s| ("segments[].path", s.path.as_str())),
        );
        out
    }

    /// Each path must be a plain relative path inside this recording's own `data/<id>/`
    /// (never another recording's file, never outside the bag), and no two may be the
    /// same: otherwise a hand-edited `recording.json` could make an export of this
    /// recording carry another's audio under this one's consent.
    fn check_paths(&self) -> Result<(), String> {
        let own = format!("data/{}/", self.id);
        let mut seen = std::collections::BTreeSet::new();
        for (field, path) in self.paths() {
            if let Some(reason) = crate::relpath::unsafe_path_reason(path) {
                return Err(format!("{field} {path:?}: {reason}"));
            }
            let inside = path
                .strip_prefix(&own)
                .is_some_and(|rest| !rest.is_empty() && rest != RECORDING_JSON);
            if !inside {
                return Err(format!(
                    "{field} {path:?} is not a file of this recording (under {own})"
                ));
            }
            if !seen.insert(path) {
                return Err(format!("{field} {path:?} is named twice"));
            }
        }
        Ok(())
    }

    /// Serializes, pretty-printed with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("recording serializes");
        v.push(b'\n');
        v
    }
}

/// Whether `s` has the form of a recording id (so it is safe as a path component).
pub fn is_valid_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The payload path of `file` inside recording `id`.
pub fn payload_path(id: &str, file: &str) -> String {
    format!("data/{id}/{file}")
}

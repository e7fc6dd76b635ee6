//! Flag groups shared by several commands.

use visitrec::audio::decode::MaxDuration;
use visitrec::consent::Grant;

/// Recording ids, or `--all`.
#[derive(Debug, Clone, clap::Args)]
#[group(skip)]
pub struct Which {
    /// Recording ids or unique prefixes.
    #[arg(group = "which", add = super::complete::recording_ids())]
    pub ids: Vec<String>,
    /// Every recording in the archive.
    #[arg(long, group = "which")]
    pub all: bool,
}

impl Which {
    /// The full ids named, or every id with `--all`.
    pub fn select(&self, archive: &visitrec::archive::Archive) -> visitrec::Result<Vec<String>> {
        visitrec::pipeline::select(archive, &self.ids, self.all)
    }
}

/// Loudness normalization settings.
#[derive(Debug, Clone, clap::Args)]
pub struct NormArgs {
    /// Output sample rate, Hz.
    #[arg(long, default_value_t = 16_000)]
    pub rate: u32,
    /// Integrated loudness to reach, LUFS.
    #[arg(long, default_value_t = -16.0, allow_negative_numbers = true)]
    pub target_lufs: f64,
    /// True-peak ceiling, dBTP.
    #[arg(long, default_value_t = -1.5, allow_negative_numbers = true)]
    pub true_peak: f64,
    /// `on`: peaks over the ceiling are limited (look-ahead, 8x oversampled), so the target
    /// is reached; `off`: one linear gain, lowered until the peaks fit.
    #[arg(long, value_enum, default_value_t = Switch::On, value_name = "on|off")]
    pub limiter: Switch,
}

/// A feature turned on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

impl NormArgs {
    /// The normalization settings the flags describe.
    pub fn settings(&self) -> visitrec::audio::normalize::Settings {
        visitrec::audio::normalize::Settings {
            rate: self.rate,
            target_lufs: self.target_lufs,
            true_peak_dbtp: self.true_peak,
            limiter: self.limiter == Switch::On,
        }
    }
}

/// Bounds on what one recording may make a decoding command do.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Refuse recordings longer than this many hours (fractions allowed, at most 1000):
    /// checked against the header before decoding, and again while decoding.
    #[arg(long = "max-hours", value_name = "HOURS", default_value = "12", value_parser = parse_max_hours)]
    pub max_duration: MaxDuration,
}

/// `--max-hours`: a number of hours above 0 and at most [`MaxDuration::CEILING_HOURS`].
fn parse_max_hours(v: &str) -> Result<MaxDuration, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .and_then(MaxDuration::from_hours)
        .ok_or_else(|| {
            format!(
                "{v:?} is not a number of hours above 0 and at most {}",
                MaxDuration::CEILING_HOURS
            )
        })
}

/// A consent grant applied to every recording of an ingest batch.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestConsentArgs {
    /// Record consent for these purposes (comma-separated) for every recording of the batch,
    /// new or already archived (an identical grant is not recorded twice).
    #[arg(long, value_name = "SCOPES", requires = "consent_by", add = super::complete::scopes())]
    pub consent_scope: Option<String>,
    /// Who consented (with --consent-scope), e.g. patient:P017.
    #[arg(long, value_name = "WHO", requires = "consent_scope")]
    pub consent_by: Option<String>,
    /// How consent was given (with --consent-scope).
    #[arg(long, value_name = "METHOD", requires = "consent_scope")]
    pub consent_method: Option<String>,
    /// Who witnessed it (with --consent-scope).
    #[arg(long, value_name = "WHO", requires = "consent_scope")]
    pub consent_witness: Option<String>,
    /// The date consent took effect (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE", requires = "consent_scope")]
    pub consent_date: Option<String>,
    /// The last day the consent is valid (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", requires = "consent_scope")]
    pub consent_expires: Option<String>,
}

impl IngestConsentArgs {
    /// The grant the flags describe, if `--consent-scope` was given.
    pub fn grant(&self) -> visitrec::Result<Option<Grant>> {
        let (Some(scopes), Some(by)) = (&self.consent_scope, &self.consent_by) else {
            return Ok(None);
        };
        let date = |flag: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|d| visitrec::consent::parse_date(flag, d))
                .transpose()
        };
        Ok(Some(Grant {
            scopes: visitrec::consent::parse_scopes(scopes)?,
            by: by.clone(),
            method: self.consent_method.clone(),
            witness: self.consent_witness.clone(),
            date: date("--consent-date", &self.consent_date)?,
            expires: date("--consent-expires", &self.consent_expires)?,
            note: None,
        }))
    }
}

/// Segmentation parameters.
#[derive(Debug, Clone, clap::Args)]
pub struct SegArgs {
    /// Pauses shorter than this (seconds) never split a segment.
    #[arg(long, default_value_t = 0.7)]
    pub min_silence: f64,
    /// Bursts of speech shorter than this (seconds) are dropped.
    #[arg(long, default_value_t = 0.25)]
    pub min_speech: f64,
    /// Seconds of padding added to each side of a segment.
    #[arg(long, default_value_t = 0.15)]
    pub pad: f64,
    /// Also cut at every time-anchored mark; the segment from a mark on carries its label.
    #[arg(long)]
    pub at_marks: bool,
}

impl SegArgs {
    /// The segmentation parameters the flags describe.
    pub fn params(&self) -> visitrec::audio::segment::Params {
        visitrec::audio::segment::Params {
            min_silence_s: self.min_silence,
            min_speech_s: self.min_speech,
            pad_s: self.pad,
        }
    }
}

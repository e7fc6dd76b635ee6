//! The command line's definition (clap derive), shared by the binary and by the generator of
//! the man pages and shell completions (`cargo run --example gen-docs`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::audio::decode::MaxDuration;
use crate::consent::Grant;

/// Archive clinic-visit recordings: intact, private, and tied to their consent.
#[derive(Debug, Parser)]
#[command(name = "visitrec", version, about, long_about = None)]
#[command(after_help = EXIT_CODES)]
pub struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail (skipped files, every check).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Who is making the change, for the audit trail (default: $USER).
    #[arg(long, global = true, env = "VISITREC_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "Exit codes:
  0  success: everything done, or the archive is intact
  1  the command ran but found problems (verify) or rejected some inputs (ingest)
  2  could not run: usage, no such archive, archive locked, I/O error, wrong key, tampered export
  3  refused: consent does not cover the export's --purpose (nothing written)
  128+N  interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP): encrypt and decrypt removed what they had written; ingest, normalize and segment kept what they had committed";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty archive (a BagIt 1.0 bag).
    #[command(
        after_help = "Examples:\n  visitrec init study-archive --org \"Example Clinic Study\"\n  visitrec init /srv/archives/2026-cardiology --org \"St Mary's Cardiology\""
    )]
    Init {
        /// Folder to create (must not exist, or be empty).
        archive: PathBuf,
        /// The organisation responsible for the recordings (bag-info Source-Organization).
        #[arg(long)]
        org: String,
    },
    /// Add recordings (files or whole folder trees), deduplicated by content.
    #[command(
        after_help = "Examples:\n  visitrec ingest study-archive ~/phone-export/ --participant P017 --tag site=lebanon\n  visitrec ingest study-archive memo.m4a --json"
    )]
    Ingest {
        /// The archive.
        archive: PathBuf,
        /// Files and folders to ingest (folders are walked recursively).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Participant or patient reference recorded with every recording of the batch.
        #[arg(long)]
        participant: Option<String>,
        /// A tag key=value applied to every recording of the batch (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// Marks for the new recordings: CSV lines `time,label` or JSON
        /// `[{"at": "03:12", "label": "…"}]`.
        #[arg(long, value_name = "FILE")]
        marks: Option<PathBuf>,
        #[command(flatten)]
        consent: IngestConsentArgs,
        /// Normalize the new recordings (see `visitrec normalize`).
        #[arg(long)]
        normalize: bool,
        /// Segment the new recordings (see `visitrec segment`; normalizes first).
        #[arg(long)]
        segment: bool,
        #[command(flatten)]
        norm: NormArgs,
        #[command(flatten)]
        seg: SegArgs,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print one JSON document to stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a loudness-normalized mono WAV of each recording (EBU R128, true peak).
    #[command(
        after_help = "Examples:\n  visitrec normalize study-archive --all\n  visitrec normalize study-archive 3f9a1c --target-lufs -23 --rate 48000 --json"
    )]
    Normalize {
        /// The archive.
        archive: PathBuf,
        /// Recording ids or unique prefixes.
        #[arg(group = "which")]
        ids: Vec<String>,
        /// Every recording in the archive.
        #[arg(long, group = "which")]
        all: bool,
        #[command(flatten)]
        norm: NormArgs,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Split each recording into speech segments (voice activity, and marks with --at-marks).
    #[command(
        after_help = "Examples:\n  visitrec segment study-archive --all\n  visitrec segment study-archive 3f9a1c --at-marks --min-silence 1.0"
    )]
    Segment {
        /// The archive.
        archive: PathBuf,
        /// Recording ids or unique prefixes.
        #[arg(group = "which")]
        ids: Vec<String>,
        /// Every recording in the archive.
        #[arg(long, group = "which")]
        all: bool,
        #[command(flatten)]
        seg: SegArgs,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set or remove tags and time-anchored marks of a recording.
    #[command(
        after_help = "Examples:\n  visitrec tag study-archive 3f9a1c --set visit_type=oncology --set clinician=C04 --unset site\n  visitrec tag study-archive 3f9a1c --mark 03:12=\"medication change\" --mark 1:02:07.5=\"follow-up plan\"\n  visitrec tag study-archive 3f9a1c --unmark 03:12"
    )]
    Tag {
        /// The archive.
        archive: PathBuf,
        /// The recording id or a unique prefix of it.
        id: String,
        /// Set a tag (repeatable). Keys: [a-z0-9][a-z0-9_.-]{0,63}.
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove a tag (repeatable).
        #[arg(long, value_name = "KEY")]
        unset: Vec<String>,
        /// Add a mark (repeatable). TIME is [[h:]mm:]ss[.fff] or seconds.
        #[arg(long, value_name = "TIME=LABEL")]
        mark: Vec<String>,
        /// Remove the mark at TIME (repeatable).
        #[arg(long, value_name = "TIME")]
        unmark: Vec<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record a consent grant or withdrawal, or show a recording's consent.
    #[command(
        after_help = "Examples:\n  visitrec consent study-archive 3f9a1c --grant --scope personal-use,family-sharing,research \\\n      --by patient:P017 --method verbal --witness clinician:C04 --expires 2031-11-02\n  visitrec consent study-archive 3f9a1c --withdraw --scope research\n  visitrec consent study-archive 3f9a1c --at 2030-01-01\n\nScopes: personal-use, family-sharing, care, research, education, quality-improvement"
    )]
    #[command(group(clap::ArgGroup::new("action").args(["grant", "withdraw"])))]
    Consent {
        /// The archive.
        archive: PathBuf,
        /// The recording id or a unique prefix of it.
        id: String,
        /// Record a grant (needs --scope and --by).
        #[arg(long)]
        grant: bool,
        /// Record a withdrawal (of --scope, or of everything granted).
        #[arg(long)]
        withdraw: bool,
        /// Comma-separated purposes.
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// Who consents or withdraws, e.g. patient:P017.
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
        /// How consent was given: verbal, written, electronic, ….
        #[arg(long)]
        method: Option<String>,
        /// Who witnessed it, e.g. clinician:C04.
        #[arg(long, value_name = "WHO")]
        witness: Option<String>,
        /// The date it takes effect (YYYY-MM-DD; default today).
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// The last day a grant is valid (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// Free text.
        #[arg(long)]
        note: Option<String>,
        /// Show the state on this day instead of today (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", conflicts_with = "action")]
        at: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Encrypt recordings with age into an export bag for a recipient (consent enforced).
    #[command(
        after_help = "Examples:\n  visitrec encrypt study-archive 3f9a1c --recipient age1qz... --purpose personal-use --out p017-visit/\n  visitrec encrypt study-archive --all --recipients-file custodians.txt --purpose research --out export/\n\nEvery recording's consent must cover --purpose today, or nothing is written (exit 3).\nThe recipient opens a file with the stock tool: age -d -i key.txt -o original.m4a original.m4a.age"
    )]
    #[command(group(clap::ArgGroup::new("which").required(true).multiple(false)))]
    #[command(group(clap::ArgGroup::new("to").required(true).multiple(true)))]
    Encrypt {
        /// The archive.
        archive: PathBuf,
        /// Recording ids or unique prefixes.
        #[arg(group = "which")]
        ids: Vec<String>,
        /// Every recording in the archive.
        #[arg(long, group = "which")]
        all: bool,
        /// An age (age1…) or SSH (ssh-ed25519, ssh-rsa) public key (repeatable).
        #[arg(short = 'r', long = "recipient", value_name = "KEY", group = "to")]
        recipients: Vec<String>,
        /// A file of recipients, one per line, # comments (repeatable).
        #[arg(
            short = 'R',
            long = "recipients-file",
            value_name = "FILE",
            group = "to"
        )]
        recipients_files: Vec<PathBuf>,
        /// Encrypt with a passphrase instead (VISITREC_PASSPHRASE or a prompt; never argv).
        #[arg(long, group = "to", conflicts_with_all = ["recipients", "recipients_files"])]
        passphrase: bool,
        /// The use the export is for; every recording's consent must cover it.
        #[arg(long, default_value = "personal-use", value_name = "SCOPE")]
        purpose: String,
        /// What to include: original,normalized,segments,metadata (default: all that exists).
        #[arg(long, value_name = "LIST")]
        include: Option<String>,
        /// The export folder to create (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decrypt an export into a plaintext BagIt bag, checking every file end to end.
    #[command(
        after_help = "Examples:\n  visitrec decrypt p017-visit/ --identity key.txt --out plain/\n  VISITREC_PASSPHRASE=... visitrec decrypt export/ --passphrase --out plain/ --json"
    )]
    Decrypt {
        /// The export.
        export: PathBuf,
        /// An age identity file or SSH private key (repeatable).
        #[arg(
            short = 'i',
            long = "identity",
            value_name = "FILE",
            required_unless_present = "passphrase"
        )]
        identities: Vec<PathBuf>,
        /// The export was made with a passphrase (VISITREC_PASSPHRASE or a prompt).
        #[arg(long, conflicts_with = "identities")]
        passphrase: bool,
        /// The folder to create with the plaintext files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the audit trail (of one recording with ID).
    #[command(
        after_help = "Examples:\n  visitrec log study-archive\n  visitrec log study-archive 3f9a1c --json\n  visitrec log study-archive --head >> anchors.txt    # keep it outside the archive"
    )]
    Log {
        /// The archive.
        archive: PathBuf,
        /// Only entries about this recording (id or unique prefix).
        id: Option<String>,
        /// Print only the head, SEQ:HASH (the last line's number and SHA-256), for
        /// `verify --anchor`; refused when the chain is broken.
        #[arg(long, conflicts_with = "id")]
        head: bool,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// List the recordings, one line each.
    #[command(
        after_help = "Examples:\n  visitrec list study-archive\n  visitrec list study-archive --json"
    )]
    List {
        /// The archive.
        archive: PathBuf,
        /// Only recordings whose consent covers this scope.
        #[arg(long, value_name = "SCOPE")]
        consent: Option<String>,
        /// Judge consent on this day instead of today (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
        /// Print a JSON array of recordings (each with its consent_state).
        #[arg(long)]
        json: bool,
    },
    /// Show one recording in full; a unique id prefix is enough.
    #[command(
        after_help = "Examples:\n  visitrec show study-archive 3f9a1c\n  visitrec show study-archive 3f9a1c --json"
    )]
    Show {
        /// The archive.
        archive: PathBuf,
        /// The recording id or a unique prefix of it.
        id: String,
        /// Print the recording's JSON metadata.
        #[arg(long)]
        json: bool,
    },
    /// Check an archive's integrity (exit 0 intact, 1 problems, 2 could not run).
    #[command(
        after_help = "Examples:\n  visitrec verify study-archive\n  visitrec verify study-archive --fast\n  visitrec verify study-archive --json > report.json\n  visitrec verify study-archive --anchors anchors.txt --allowed-signers allowed_signers"
    )]
    Verify {
        /// The archive (or any BagIt bag).
        archive: PathBuf,
        /// Check presence and Payload-Oxum only; read no content.
        #[arg(long)]
        fast: bool,
        /// Also report recordings with no active consent today (kind no-consent).
        #[arg(long)]
        require_consent: bool,
        /// For an encrypted export: also decrypt-check every file with this identity file
        /// (repeatable).
        #[arg(short = 'i', long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// For an export made with a passphrase: decrypt-check with it (VISITREC_PASSPHRASE
        /// or a prompt).
        #[arg(long, conflicts_with = "identities")]
        passphrase: bool,
        /// Fail (kind anchor) unless audit line SEQ still hashes to HASH, as `visitrec log
        /// --head` printed it (repeatable).
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<String>,
        /// A file of anchors, one SEQ:HASH per line, # comments (repeatable).
        #[arg(long = "anchors", value_name = "FILE")]
        anchors_files: Vec<PathBuf>,
        /// Check the signed checkpoints against these keys (ssh-keygen's allowed_signers
        /// format); later audit lines are warned about as unsigned history.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign the head of the audit log with an SSH key (a checkpoint in checkpoints.jsonl).
    #[command(
        after_help = "Examples:\n  visitrec checkpoint study-archive --key ~/.ssh/id_ed25519\n  visitrec verify study-archive --allowed-signers allowed_signers\n\nThe signature is in the SSH signature format, namespace visitrec-audit, so\n`ssh-keygen -Y verify -n visitrec-audit` checks it too (docs/FORMAT.md has the message)."
    )]
    Checkpoint {
        /// The archive.
        archive: PathBuf,
        /// The OpenSSH ed25519 private key to sign with (unencrypted).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Print the checkpoint as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole pipeline on the bundled sample recordings.
    #[command(after_help = "Examples:\n  visitrec demo\n  visitrec demo /tmp/visitrec-demo")]
    Demo {
        /// Folder to work in (must not exist, or be empty); default: a new temporary folder.
        dir: Option<PathBuf>,
    },
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
    /// True-peak ceiling, dBTP (the gain is lowered to respect it).
    #[arg(long, default_value_t = -1.5, allow_negative_numbers = true)]
    pub true_peak: f64,
}

impl NormArgs {
    /// The normalization settings the flags describe.
    pub fn settings(&self) -> crate::audio::normalize::Settings {
        crate::audio::normalize::Settings {
            rate: self.rate,
            target_lufs: self.target_lufs,
            true_peak_dbtp: self.true_peak,
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
    /// Record consent for these purposes (comma-separated) for every new recording.
    #[arg(long, value_name = "SCOPES", requires = "consent_by")]
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
    pub fn grant(&self) -> crate::Result<Option<Grant>> {
        let (Some(scopes), Some(by)) = (&self.consent_scope, &self.consent_by) else {
            return Ok(None);
        };
        let date = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .map(|d| crate::consent::parse_date(flag, d))
                .transpose()
        };
        Ok(Some(Grant {
            scopes: crate::consent::parse_scopes(scopes)?,
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
    pub fn params(&self) -> crate::audio::segment::Params {
        crate::audio::segment::Params {
            min_silence_s: self.min_silence,
            min_speech_s: self.min_speech,
            pad_s: self.pad,
        }
    }
}

/// Writes the man pages (`visitrec.1` and `visitrec-<command>.1`) into `man` and the shell
/// completions (bash, zsh, fish, PowerShell, elvish) into `completions`, from this
/// definition, so they never drift from it.
pub fn write_docs(man: &std::path::Path, completions: &std::path::Path) -> std::io::Result<()> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    std::fs::create_dir_all(man)?;
    std::fs::create_dir_all(completions)?;
    let cmd = Cli::command();
    let render = |c: clap::Command, name: &str| -> std::io::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(c).render(&mut out)?;
        std::fs::write(man.join(format!("{name}.1")), out)
    };
    render(cmd.clone(), "visitrec")?;
    for sub in cmd.get_subcommands() {
        let name = format!("visitrec-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).display_name(name.clone());
        render(sub, &name)?;
    }
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        clap_complete::generate_to(shell, &mut Cli::command(), "visitrec", completions)?;
    }
    Ok(())
}

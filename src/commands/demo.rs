//! `visitrec demo`: the whole pipeline on the sample recordings bundled into the binary, so
//! it runs from any folder on a machine with nothing but the binary.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use visitrec::annotate::{self, TagEdit, TagOutcome};
use visitrec::archive::Archive;
use visitrec::consent::{Grant, Scope};
use visitrec::crypto::{self, Identities, Recipients};
use visitrec::error::{Error, IoContext};
use visitrec::export::{self, DecryptReport, ExportOptions, ExportReport};
use visitrec::fsutil;
use visitrec::ingest::{self, IngestOptions, IngestReport};
use visitrec::pipeline::{self, SegmentReport};
use visitrec::progress::{NoProgress, Progress};
use visitrec::record::Mark;
use visitrec::verify::{self, Report as Verified, VerifyOptions};

use super::output::{Report, Verbosity};
use super::progress::Bar;
use visitrec::sanitize::term;

/// The bundled sample recordings (phone fixtures from `tests/fixtures/`).
pub const SAMPLES: &[(&str, &[u8])] = &[
    (
        "voice-memo.m4a",
        include_bytes!("../../tests/fixtures/phone/voice-memo.m4a"),
    ),
    (
        "android-recorder.m4a",
        include_bytes!("../../tests/fixtures/phone/android-recorder.m4a"),
    ),
    (
        "with-location.m4a",
        include_bytes!("../../tests/fixtures/phone/with-location.m4a"),
    ),
    (
        "Visite café – Zoë.mp3",
        include_bytes!("../../tests/fixtures/phone/Visite café – Zoë.mp3"),
    ),
    (
        "dictation.wav",
        include_bytes!("../../tests/fixtures/phone/dictation.wav"),
    ),
    (
        "archive-copy.flac",
        include_bytes!("../../tests/fixtures/phone/archive-copy.flac"),
    ),
    (
        "whatsapp-note.opus",
        include_bytes!("../../tests/fixtures/phone/whatsapp-note.opus"),
    ),
    (
        "old-android.3gp",
        include_bytes!("../../tests/fixtures/formats/old-android.3gp"),
    ),
];

/// What the demo did, step by step.
#[derive(Debug, Serialize)]
pub struct DemoRun {
    /// The folder the demo worked in.
    pub dir: PathBuf,
    /// The archive it created.
    pub archive: PathBuf,
    /// The folder of phone files it ingested.
    pub inbox: PathBuf,
    /// The ingest (with consent, normalization and segmentation).
    pub ingest: IngestReport,
    /// A second ingest of the same folder (everything must be a duplicate).
    pub reingest: IngestReport,
    /// The marks put on the voice memo, then its segmentation at them.
    pub tagged: TagOutcome,
    /// The re-segmentation of the voice memo at its marks.
    pub resegment: SegmentReport,
    /// The patient's freshly generated age identity file.
    pub key: PathBuf,
    /// The encrypted export for the patient.
    pub export: ExportReport,
    /// The export's verification, with the key (every file decrypt-checked).
    pub export_verify: Verified,
    /// The decryption of the export into a plaintext bag.
    pub decrypted: DecryptReport,
    /// The verification of the finished archive.
    pub verify: Verified,
}

/// The sample the demo marks and re-segments (the iPhone Voice Memo).
const MARKED: &str = "voice-memo.m4a";

/// Runs the demo in `dir` (which must not exist or be empty).
fn run_in(dir: &Path, progress: &dyn Progress) -> anyhow::Result<DemoRun> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::AlreadyExists(dir.to_path_buf()).into());
    }
    let inbox = dir.join("phone-export");
    fsutil::create_dirs(&inbox)?;
    for (name, bytes) in SAMPLES {
        let p = inbox.join(name);
        std::fs::write(&p, bytes).at(&p)?;
    }
    let archive = dir.join("study-archive");
    Archive::init(&archive, "visitrec demo study")?;
    let opts = IngestOptions {
        participant: Some("P017".into()),
        tags: BTreeMap::from([("site".to_string(), "demo-clinic".to_string())]),
        normalize: Some(Default::default()),
        segment: Some((Default::default(), false)),
        consent: Some(Grant {
            scopes: vec![Scope::PersonalUse, Scope::Research],
            by: "patient:P017".into(),
            method: Some("verbal".into()),
            witness: Some("clinician:C04".into()),
            date: None,
            expires: None,
            note: None,
        }),
        ..Default::default()
    };
    let inputs = [inbox.clone()];
    let mut writer = Archive::open(&archive)?.writer("visitrec-demo")?;
    let ingest = ingest::ingest(&mut writer, &inputs, &opts, progress)?;
    let reingest = ingest::ingest(&mut writer, &inputs, &opts, &NoProgress)?;

    let memo = ingest
        .ingested
        .iter()
        .find(|i| i.path.ends_with(MARKED))
        .map(|i| i.id.clone())
        .ok_or_else(|| anyhow::anyhow!("the demo sample {MARKED} was not ingested"))?;
    let edit = TagEdit {
        set: vec![("visit_type".into(), "cardiology".into())],
        mark: vec![
            Mark {
                at_s: 2.5,
                label: "medication change".into(),
            },
            Mark {
                at_s: 9.0,
                label: "follow-up plan".into(),
            },
        ],
        ..Default::default()
    };
    let tagged = annotate::tag(&mut writer, &memo, &edit)?;
    let resegment = pipeline::segment(
        &mut writer,
        std::slice::from_ref(&memo),
        &Default::default(),
        true,
        Default::default(),
        &NoProgress,
    )?;

    let identity = age::x25519::Identity::generate();
    let key = dir.join("patient-key.txt");
    {
        use age::secrecy::ExposeSecret;
        let secret = identity.to_string();
        let text = format!(
            "# the demo patient's age key (public key: {})\n{}\n",
            identity.to_public(),
            secret.expose_secret()
        );
        fsutil::write_new(&key, text.as_bytes())?;
    }
    let recipients = Recipients::Keys(vec![crypto::parse_recipient(
        &identity.to_public().to_string(),
    )?]);
    let ids = visitrec::archive::ids_in(writer.manifest()?);
    let out = dir.join("export-for-patient");
    let export = export::encrypt(
        &mut writer,
        &ids,
        &recipients,
        &ExportOptions {
            purpose: Scope::PersonalUse,
            include: None,
            out: out.clone(),
            skip_uncovered: false,
            strip_metadata: false,
        },
    )?;
    drop(writer);

    let export_verify = verify::verify(
        &out,
        &VerifyOptions {
            identities: Some(Identities::from_files(std::slice::from_ref(&key))?),
            ..Default::default()
        },
    )?;
    let decrypted = export::decrypt(
        &out,
        &Identities::from_files(std::slice::from_ref(&key))?,
        &dir.join("patient-opened"),
        true,
    )?;
    let verify = verify::verify(&archive, &VerifyOptions::default())?;
    Ok(DemoRun {
        dir: dir.to_path_buf(),
        archive,
        inbox,
        ingest,
        reingest,
        tagged,
        resegment,
        key,
        export,
        export_verify,
        decrypted,
        verify,
    })
}

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec demo
  visitrec demo /tmp/visitrec-demo";

/// `visitrec demo` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to work in (must not exist, or be empty); default: a new temporary folder.
    pub dir: Option<PathBuf>,
}

/// Runs the demo.
pub fn run(a: &Args, v: Verbosity) -> anyhow::Result<DemoRun> {
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            let stamp = jiff::Timestamp::now().as_millisecond();
            std::env::temp_dir().join(format!("visitrec-demo-{}-{stamp}", std::process::id()))
        }
    };
    let bar = Bar::new(v == Verbosity::Quiet);
    run_in(&dir, &bar).with_context(|| format!("demo in {}", dir.display()))
}

impl Report for DemoRun {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        writeln!(out, "visitrec demo in {}", shown(&self.dir))?;
        writeln!(
            out,
            "1. wrote {} sample phone recordings to {}",
            SAMPLES.len(),
            shown(&self.inbox)
        )?;
        writeln!(out, "2. created the archive {}", shown(&self.archive))?;
        writeln!(
            out,
            "3. ingested them for participant P017 (tag site=demo-clinic) with consent for"
        )?;
        writeln!(
            out,
            "   personal-use and research, normalized each to -16 LUFS / -1.5 dBTP at 16 kHz,"
        )?;
        writeln!(out, "   and cut it into speech segments:")?;
        self.ingest.write_text(out, v)?;
        writeln!(
            out,
            "4. ingested the same folder again: {} already present, {} new (deduplicated by content)",
            self.reingest.duplicates.len(),
            self.reingest.ingested.len()
        )?;
        writeln!(
            out,
            "5. tagged the voice memo {} and marked it:",
            self.tagged.id
        )?;
        for m in &self.tagged.marks {
            writeln!(
                out,
                "     {}  {}",
                visitrec::tags::format_time(m.at_s),
                term(&m.label)
            )?;
        }
        writeln!(out, "   then cut it again at its marks:")?;
        self.resegment.write_text(out, v)?;
        self.write_export(out, v)?;
        writeln!(
            out,
            "9. verified the archive (fixity, metadata, audit chain):"
        )?;
        self.verify.write_text(out, Verbosity::Normal)?;
        writeln!(
            out,
            "Next: visitrec list {}   visitrec log {}",
            shown(&self.archive),
            shown(&self.archive)
        )?;
        writeln!(
            out,
            "      age -d -i {} {}/data/<id>/original.m4a.age > visit.m4a",
            shown(&self.key),
            term(&self.export.out)
        )
    }

    fn diagnostics(&self, v: Verbosity) -> Vec<String> {
        let mut lines = self.ingest.diagnostics(v);
        lines.extend(self.resegment.diagnostics(v));
        lines.extend(self.export_verify.diagnostics(v));
        lines.extend(self.verify.diagnostics(v));
        lines
    }

    fn exit(&self) -> visitrec::exit::Exit {
        self.verify
            .exit_code()
            .max(self.ingest.exit_code())
            .max(self.export_verify.exit_code())
    }
}

impl DemoRun {
    /// Steps 6 to 8: the export, its check with the key, and its opening.
    fn write_export(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        writeln!(
            out,
            "6. generated the patient's age key {} and encrypted every recording for",
            shown(&self.key)
        )?;
        writeln!(
            out,
            "   personal use: {} ({} recordings, {:.1} MB)",
            term(&self.export.out),
            self.export.recordings.len(),
            self.export.plaintext_bytes as f64 / 1e6
        )?;
        for w in &self.export.warnings {
            writeln!(out, "   warning: {}", term(w))?;
        }
        writeln!(
            out,
            "7. verified the export with the key (every file decrypt-checked):"
        )?;
        self.export_verify
            .write_text(out, Verbosity::Normal.max(v))?;
        writeln!(
            out,
            "8. opened it as the patient would: {} files, {:.1} MB checked in {}; the originals under their own names:",
            self.decrypted.files,
            self.decrypted.bytes as f64 / 1e6,
            term(&self.decrypted.bag)
        )?;
        for n in &self.decrypted.originals {
            writeln!(out, "   {}", term(&n.file))?;
        }
        Ok(())
    }
}

/// A path as printed: control characters and bidi overrides escaped.
fn shown(p: &Path) -> String {
    term(&p.display().to_string()).into_owned()
}

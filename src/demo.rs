//! `demo`: the whole pipeline on the sample recordings bundled into the binary, so it runs
//! from any folder on a machine with nothing but the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::annotate::{self, TagEdit, TagOutcome};
use crate::archive::Archive;
use crate::consent::{Grant, Scope};
use crate::crypto::{self, Identities, Recipients};
use crate::error::{Error, IoContext, Result};
use crate::export::{self, DecryptReport, ExportOptions, ExportReport};
use crate::fsutil;
use crate::ingest::{self, IngestOptions, IngestReport};
use crate::pipeline::{self, SegmentReport};
use crate::progress::{NoProgress, Progress};
use crate::record::Mark;
use crate::verify::{self, Report, VerifyOptions};

/// The bundled sample recordings (phone fixtures from `tests/fixtures/`).
pub const SAMPLES: &[(&str, &[u8])] = &[
    (
        "voice-memo.m4a",
        include_bytes!("../tests/fixtures/phone/voice-memo.m4a"),
    ),
    (
        "android-recorder.m4a",
        include_bytes!("../tests/fixtures/phone/android-recorder.m4a"),
    ),
    (
        "with-location.m4a",
        include_bytes!("../tests/fixtures/phone/with-location.m4a"),
    ),
    (
        "Visite café – Zoë.mp3",
        include_bytes!("../tests/fixtures/phone/Visite café – Zoë.mp3"),
    ),
    (
        "dictation.wav",
        include_bytes!("../tests/fixtures/phone/dictation.wav"),
    ),
    (
        "archive-copy.flac",
        include_bytes!("../tests/fixtures/phone/archive-copy.flac"),
    ),
    (
        "whatsapp-note.opus",
        include_bytes!("../tests/fixtures/phone/whatsapp-note.opus"),
    ),
    (
        "old-android.3gp",
        include_bytes!("../tests/fixtures/formats/old-android.3gp"),
    ),
];

/// What the demo did, step by step.
#[derive(Debug)]
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
    pub export_verify: Report,
    /// The decryption of the export into a plaintext bag.
    pub decrypted: DecryptReport,
    /// The verification of the finished archive.
    pub verify: Report,
}

/// The sample the demo marks and re-segments (the iPhone Voice Memo).
const MARKED: &str = "voice-memo.m4a";

/// Runs the demo in `dir` (which must not exist or be empty).
pub fn run(dir: &Path, progress: &dyn Progress) -> Result<DemoRun> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::AlreadyExists(dir.to_path_buf()));
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
        .ok_or_else(|| Error::Invalid(format!("the demo sample {MARKED} was not ingested")))?;
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
    let ids = archive_ids(&writer)?;
    let out = dir.join("export-for-patient");
    let export = export::encrypt(
        &mut writer,
        &ids,
        &recipients,
        &ExportOptions {
            purpose: Scope::PersonalUse,
            include: None,
            out: out.clone(),
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

fn archive_ids(writer: &crate::archive::Writer) -> Result<Vec<String>> {
    Ok(crate::archive::ids_in(writer.manifest()))
}

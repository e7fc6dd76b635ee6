//! `demo`: the whole pipeline on the sample recordings bundled into the binary, so it runs
//! from any folder on a machine with nothing but the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::archive::Archive;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::ingest::{self, IngestOptions, IngestReport, Progress};
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
    /// The ingest outcome.
    pub ingest: IngestReport,
    /// A second ingest of the same folder (everything must be a duplicate).
    pub reingest: IngestReport,
    /// The verification of the finished archive.
    pub verify: Report,
}

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
        ..Default::default()
    };
    let inputs = [inbox.clone()];
    let mut writer = Archive::open(&archive)?.writer("visitrec-demo")?;
    let ingest = ingest::ingest(&mut writer, &inputs, &opts, progress)?;
    let reingest = ingest::ingest(&mut writer, &inputs, &opts, &ingest::NoProgress)?;
    drop(writer);
    let verify = verify::verify(&archive, &VerifyOptions::default())?;
    Ok(DemoRun {
        dir: dir.to_path_buf(),
        archive,
        inbox,
        ingest,
        reingest,
        verify,
    })
}

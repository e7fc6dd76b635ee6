//! `init`, `ingest`, `list`, `show` driven through the real binary on real recordings.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use predicates::prelude::*;
use serde_json::Value;

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn ingest_phone_folder_then_dedupe_on_reingest() {
    let (_d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[fixture("phone")],
        &["--participant", "P017", "--tag", "site=lebanon"],
    );
    assert_eq!(r["ingested"].as_array().unwrap().len(), 7, "{r:#}");
    assert_eq!(r["rejected"].as_array().unwrap().len(), 0, "{r:#}");

    let before = snapshot(&archive);
    let again = ingest_json(&archive, &[fixture("phone")], &[]);
    assert_eq!(again["ingested"].as_array().unwrap().len(), 0);
    let mut first = ids(&r, "ingested");
    let mut dups = ids(&again, "duplicates");
    first.sort();
    dups.sort();
    assert_eq!(first, dups);
    assert_eq!(
        snapshot(&archive),
        before,
        "re-ingest must not change the archive"
    );

    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["files_checked"], 18); // 14 payload + 4 tag files (incl. audit.jsonl)
}

#[test]
fn exit_codes_follow_the_batch_outcome() {
    let (_d, archive) = new_archive();
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/dictation.wav"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 ingested"));
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/dictation.wav"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 already present"));
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("bad/random.mp3"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("random.mp3")
                .and(predicate::str::contains("not a recognised audio file")),
        );
}

#[test]
fn each_bad_input_is_rejected_and_leaves_the_archive_unchanged() {
    let (_d, archive) = new_archive();
    ingest_json(&archive, &[fixture("phone/voice-memo.m4a")], &[]);
    let before = snapshot(&archive);
    for (name, why) in [
        ("empty.m4a", "empty file"),
        ("notes-renamed.m4a", "not a recognised audio file"),
        ("truncated.m4a", "damaged or truncated"),
        ("truncated-faststart.m4a", "damaged or truncated"),
        ("random.mp3", "not a recognised audio file"),
        ("he-aac.m4a", "unsupported audio codec: HE-AAC"),
        ("README.txt", "not a recognised audio file"),
    ] {
        let r = ingest_json(&archive, &[fixture(&format!("bad/{name}"))], &[]);
        let rejected = r["rejected"].as_array().unwrap();
        assert_eq!(rejected.len(), 1, "{name}: {r:#}");
        let reason = rejected[0]["reason"].as_str().unwrap();
        assert!(reason.contains(why), "{name}: {reason}");
        assert_eq!(snapshot(&archive), before, "{name} changed the archive");
    }
    assert!(
        fs::read_dir(archive.join(".visitrec/staging"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn folder_walk_skips_non_audio_but_rejects_broken_audio() {
    let (_d, archive) = new_archive();
    let r = ingest_json(&archive, &[fixture("bad")], &[]);
    let skipped: Vec<&str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 1, "{r:#}");
    assert!(skipped[0].ends_with("README.txt"));
    assert_eq!(r["rejected"].as_array().unwrap().len(), 6, "{r:#}");
    assert_eq!(r["ingested"].as_array().unwrap().len(), 0);
}

#[test]
fn recording_json_keeps_facts_and_exact_names_but_never_the_location() {
    let (d, archive) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    let odd = "Visite\ncafé – Zoë %20.m4a";
    fs::copy(fixture("phone/voice-memo.m4a"), inbox.join(odd)).unwrap();
    fs::copy(fixture("phone/with-location.m4a"), inbox.join("loc.m4a")).unwrap();
    let wav = inbox.join("dictation.wav");
    fs::copy(fixture("phone/dictation.wav"), &wav).unwrap();
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_760_000_000);
    fs::File::options()
        .write(true)
        .open(&wav)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let r = ingest_json(
        &archive,
        std::slice::from_ref(&inbox),
        &["--participant", "P017", "--tag", "site=lebanon"],
    );
    assert_eq!(r["ingested"].as_array().unwrap().len(), 3, "{r:#}");
    let by_name = |n: &str| -> Value {
        let id = r["ingested"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["path"].as_str().unwrap().ends_with(n))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        recording(&archive, &id)
    };
    let memo = by_name(odd);
    assert_eq!(memo["schema"], 1);
    assert_eq!(memo["source"]["file_name"], odd);
    assert_eq!(memo["source"]["container"], "isomp4");
    assert_eq!(memo["source"]["codec"], "aac");
    assert_eq!(memo["source"]["sample_rate"], 48000);
    assert_eq!(memo["source"]["channels"], 1);
    assert_eq!(memo["source"]["recorded_at"], "2026-10-14T09:30:00Z");
    assert_eq!(memo["source"]["recorded_at_source"], "mp4-mvhd");
    assert_eq!(memo["source"]["has_location"], false);
    assert_eq!(memo["participant"], "P017");
    assert_eq!(memo["tags"]["site"], "lebanon");
    let stored = memo["source"]["stored_as"].as_str().unwrap();
    assert!(
        stored.is_ascii() && stored.ends_with("/original.m4a"),
        "{stored}"
    );
    assert_eq!(
        fs::read(archive.join(stored)).unwrap(),
        fs::read(fixture("phone/voice-memo.m4a")).unwrap(),
        "original must be byte-identical"
    );

    let loc = by_name("loc.m4a");
    assert_eq!(loc["source"]["has_location"], true);
    let raw = fs::read_to_string(
        archive.join(
            loc["source"]["stored_as"]
                .as_str()
                .unwrap()
                .replace("original.m4a", "recording.json"),
        ),
    )
    .unwrap();
    assert!(
        !raw.contains("48.85") && !raw.contains("002.29"),
        "location leaked: {raw}"
    );

    let w = by_name("dictation.wav");
    assert_eq!(w["source"]["recorded_at_source"], "file-mtime");
    assert_eq!(w["source"]["recorded_at"], "2025-10-09T08:53:20Z");
    assert_eq!(w["source"]["codec"], "pcm_s16le");
    let dur = w["source"]["duration_s"].as_f64().unwrap();
    assert!((dur - 13.337).abs() < 0.001, "{dur}");

    // Private by default: health data.
    let mode = fs::metadata(archive.join(stored))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn list_and_show_with_prefixes() {
    let (_d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[
            fixture("phone/voice-memo.m4a"),
            fixture("phone/dictation.wav"),
        ],
        &["--participant", "P017"],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    visitrec()
        .arg("list")
        .arg(&archive)
        .assert()
        .success()
        .stdout(predicate::str::contains(&id).and(predicate::str::contains("P017")));
    let out = visitrec()
        .arg("list")
        .arg(&archive)
        .arg("--json")
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    visitrec()
        .arg("show")
        .arg(&archive)
        .arg(&id[..6])
        .assert()
        .success()
        .stdout(predicate::str::contains(&id));
    let out = visitrec()
        .arg("show")
        .arg(&archive)
        .arg(&id[..6])
        .arg("--json")
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["id"], id.as_str());
    visitrec()
        .arg("show")
        .arg(&archive)
        .arg("ffffffffffff")
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no such recording ffffffffffff")
                .and(predicate::str::contains("visitrec list")),
        );
    // A one-character prefix shared by both or neither: ambiguous or missing, never a guess.
    let other = r["ingested"][1]["id"].as_str().unwrap();
    if id.as_bytes()[0] == other.as_bytes()[0] {
        visitrec()
            .arg("show")
            .arg(&archive)
            .arg(&id[..1])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("ambiguous"));
    }
}

#[test]
fn usage_and_fatal_errors_exit_2_and_change_nothing() {
    let (d, archive) = new_archive();
    ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let before = snapshot(&archive);
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/voice-memo.m4a"))
        .args(["--tag", "Bad Key=x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tag key"));
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/voice-memo.m4a"))
        .args(["--participant", "P\u{7}17"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("control character"));
    assert_eq!(snapshot(&archive), before);
    visitrec()
        .arg("ingest")
        .arg(d.path().join("nope"))
        .arg(fixture("phone/dictation.wav"))
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("nope")
                .and(predicate::str::contains("not a visitrec archive")),
        );
    visitrec()
        .args(["init", "--org", "X"])
        .arg(&archive)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    let missing = d.path().join("missing.m4a");
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing.m4a: no such file"));
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn a_second_writer_fails_fast_while_the_archive_is_locked() {
    let (_d, archive) = new_archive();
    let lock = fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(archive.join(".visitrec/lock"))
        .unwrap();
    lock.try_lock().unwrap();
    fs::write(archive.join(".visitrec/lock"), "4242\n").unwrap();
    let before = snapshot(&archive);
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/dictation.wav"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("locked by pid 4242"));
    assert_eq!(snapshot(&archive), before);
    drop(lock);
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/dictation.wav"))
        .assert()
        .code(0);
}

#[test]
fn a_walk_never_ingests_the_archive_itself() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    visitrec()
        .args(["init", "--org", "X"])
        .arg(&archive)
        .assert()
        .success();
    fs::copy(fixture("phone/dictation.wav"), dir.path().join("a.wav")).unwrap();
    let r = ingest_json(&archive, &[dir.path().to_path_buf()], &[]);
    assert_eq!(r["ingested"].as_array().unwrap().len(), 1, "{r:#}");
    let again = ingest_json(&archive, &[dir.path().to_path_buf()], &[]);
    assert_eq!(again["ingested"].as_array().unwrap().len(), 0, "{again:#}");
    assert_eq!(
        again["duplicates"].as_array().unwrap().len(),
        1,
        "{again:#}"
    );
}

#[test]
fn a_batch_of_many_files_verifies_with_an_exact_oxum() {
    let (d, archive) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    for i in 0..40 {
        write_wav(&inbox.join(format!("r{i:02}.wav")), i, 0.2);
    }
    fs::copy(inbox.join("r00.wav"), inbox.join("copy-of-r00.wav")).unwrap();
    let r = ingest_json(&archive, &[inbox], &[]);
    assert_eq!(r["ingested"].as_array().unwrap().len(), 40);
    assert_eq!(
        r["duplicates"].as_array().unwrap().len(),
        1,
        "in-batch duplicate"
    );
    let (code, rep) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{rep:#}");
    let info = fs::read_to_string(archive.join("bag-info.txt")).unwrap();
    let octets: u64 = walkdir::WalkDir::new(archive.join("data"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        info.contains(&format!("Payload-Oxum: {octets}.80")),
        "{info}"
    );
}

#[test]
fn every_supported_format_is_ingested_with_its_codec_named() {
    let (_d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[fixture("formats"), fixture("phone/whatsapp-note.opus")],
        &[],
    );
    assert_eq!(r["rejected"].as_array().unwrap().len(), 0, "{r:#}");
    let mut codecs: Vec<String> = r["ingested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            recording(&archive, i["id"].as_str().unwrap())["source"]["codec"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    codecs.sort();
    assert_eq!(
        codecs,
        [
            "alac",
            "amr_nb",
            "amr_nb",
            "opus",
            "pcm_f32le",
            "pcm_s24le",
            "vorbis"
        ]
    );
}

#[test]
fn metadata_tags_give_the_recording_time_and_reveal_a_location() {
    let (_d, archive) = new_archive();
    let r = ingest_json(&archive, &[fixture("tagged")], &[]);
    assert_eq!(r["ingested"].as_array().unwrap().len(), 2, "{r:#}");
    for item in r["ingested"].as_array().unwrap() {
        let rec = recording(&archive, item["id"].as_str().unwrap());
        let s = &rec["source"];
        assert_eq!(s["recorded_at_source"], "container-tag", "{s:#}");
        if s["codec"] == "flac" {
            assert_eq!(s["recorded_at"], "2026-10-20T08:15:00Z");
            assert_eq!(s["has_location"], true);
        } else {
            assert_eq!(s["recorded_at"], "2026-10-21T16:40:05Z");
            assert_eq!(s["has_location"], false);
        }
        let raw = fs::read_to_string(
            archive
                .join("data")
                .join(item["id"].as_str().unwrap())
                .join("recording.json"),
        )
        .unwrap();
        assert!(!raw.contains("48.85"), "location leaked");
    }
}

/// An MP4 box: 32-bit size, type, body.
fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// An M4A whose `moov` holds `wrap` applied 50 000 times around nothing.
fn nested_mp4(path: &std::path::Path, wrap: impl Fn(Vec<u8>) -> Vec<u8>) {
    let inner = (0..50_000).fold(Vec::new(), |inner, _| wrap(inner));
    let mut file = mp4_box(b"ftyp", b"M4A \0\0\0\0isomM4A ");
    file.extend(mp4_box(b"moov", &inner));
    file.extend(mp4_box(b"mdat", &[0; 100]));
    fs::write(path, file).unwrap();
}

#[test]
fn hostile_headers_are_rejected_quickly_with_a_reason() {
    let (d, archive) = new_archive();
    let dir = d.path().join("hostile");
    fs::create_dir(&dir).unwrap();
    // ~75 hours claimed at 8 kHz (4 GB of samples), one second present.
    crafted_wav(&dir.join("huge-claim.wav"), 8000, 1, u32::MAX - 100, 8000);
    crafted_wav(&dir.join("absurd-rate.wav"), 4_000_000_000, 1, 16000, 8000);
    crafted_wav(&dir.join("zero-rate.wav"), 0, 1, 16000, 8000);
    crafted_wav(
        &dir.join("many-channels.wav"),
        8000,
        255,
        8000 * 255 * 2,
        8000,
    );
    // MP4 boxes nested 50 000 deep (trak in trak; udta/meta chains), each header valid.
    nested_mp4(&dir.join("deep-trak.m4a"), |inner| mp4_box(b"trak", &inner));
    nested_mp4(&dir.join("deep-meta.m4a"), |inner| {
        let mut meta = vec![0u8; 4];
        meta.extend_from_slice(&inner);
        mp4_box(b"udta", &mp4_box(b"meta", &meta))
    });
    let before = snapshot(&archive);
    let t = std::time::Instant::now();
    let r = ingest_json(&archive, &[dir], &[]);
    assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
    let rejected = r["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 6, "{r:#}");
    for x in rejected {
        let (path, why) = (x["path"].as_str().unwrap(), x["reason"].as_str().unwrap());
        let want = match path.rsplit('/').next().unwrap() {
            "huge-claim.wav" => "declares 74:33:55 of audio, more than the 12:00:00 limit",
            "absurd-rate.wav" => "implausible sample rate 4000000000 Hz",
            "zero-rate.wav" => "implausible sample rate 0 Hz",
            "many-channels.wav" => "invalid channel count",
            _ => "damaged",
        };
        assert!(why.contains(want), "{path}: {why}");
    }
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn a_file_replaced_by_a_folder_is_a_clear_error() {
    let (_d, archive) = new_archive();
    let r = ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let id = r["ingested"][0]["id"].as_str().unwrap();
    let json = archive.join("data").join(id).join("recording.json");
    fs::remove_file(&json).unwrap();
    fs::create_dir(&json).unwrap();
    visitrec()
        .arg("show")
        .arg(&archive)
        .arg(id)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("recording.json"));
    let (code, rep) = verify_json(&archive, &[]);
    assert_eq!(code, 1);
    assert!(
        rep["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"].as_str().unwrap().ends_with("recording.json")),
        "{rep:#}"
    );
}

/// One rounding everywhere: `ingest --json` reports the duration recording.json holds.
#[test]
fn ingest_json_reports_the_duration_recording_json_holds() {
    let (_d, archive) = new_archive();
    let r = ingest_json(&archive, &[fixture("phone/voice-memo.m4a")], &[]);
    let i = &r["ingested"][0];
    let stored = recording(&archive, i["id"].as_str().unwrap())["source"]["duration_s"].clone();
    assert_eq!(i["duration_s"], stored);
    assert_eq!(stored.as_f64().unwrap(), 13.337);
}

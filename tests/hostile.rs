//! The archive against a hostile disk: planted journals, symbolic links, paths in
//! `recording.json`, loose permissions, the archive as its own input, and names that try to
//! talk to the terminal. Each test is an attack that got through once.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::*;

/// An archive with one recording, plus a file outside it that an attacker wants gone.
fn setup(root: &Path) -> (std::path::PathBuf, String, std::path::PathBuf) {
    let (archive, id) = archive_with_one(root);
    let victim = root.join("victim.txt");
    fs::write(&victim, b"root-owned, private").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
    (archive, id, victim)
}

fn plant_journal(archive: &Path, text: &str) {
    fs::write(archive.join(".visitrec/journal.json"), text).unwrap();
}

/// Runs a writer (`tag`) on `archive` with the planted `journal` pending: it must exit 2.
/// Returns its stderr.
fn tag_refused(archive: &Path, id: &str, journal: &str) -> String {
    let out = visitrec()
        .args(["tag"])
        .arg(archive)
        .args([id, "--set", "site=x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{journal}: {err}");
    err
}

#[test]
fn a_planted_journal_is_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, victim) = setup(dir.path());
    let outside = dir.path().join("outside.wav");
    fs::write(&outside, b"outside").unwrap();
    let before = snapshot(&archive);
    for journal in [
        r#"{"moves":[],"deletes":["../victim.txt"]}"#.to_string(),
        format!(
            r#"{{"moves":[],"deletes":["{}"]}}"#,
            victim.display().to_string().replace('\\', "\\\\")
        ),
        r#"{"moves":[{"from":"../outside.wav","to":"manifest-sha256.txt"}],"deletes":[]}"#
            .to_string(),
        r#"{"moves":[{"from":".visitrec/staging/s/x","to":"../victim.txt"}]}"#.to_string(),
    ] {
        plant_journal(&archive, &journal);
        let err = tag_refused(&archive, &id, &journal);
        assert!(
            err.contains("journal.json") && err.contains("invalid commit journal"),
            "{err}"
        );
        assert!(victim.exists() && outside.exists(), "{journal}");
        assert_eq!(snapshot(&archive), before, "{journal}: archive changed");
        // Readers refuse it too; verify reports it and names nothing outside.
        visitrec()
            .arg("list")
            .arg(&archive)
            .assert()
            .code(2)
            .stderr(predicates::str::contains("journal.json"));
        let (code, report) = verify_json(&archive, &[]);
        assert_eq!(code, 1);
        assert!(
            kinds(&report).contains(&"bad-journal".to_string()),
            "{report}"
        );
        let text = report.to_string();
        assert!(!text.contains("outside.wav") || journal.contains("outside.wav"));
    }
    assert_eq!(fs::read(&victim).unwrap(), b"root-owned, private");
}

#[test]
fn a_planted_journal_patch_is_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, _) = setup(dir.path());
    let manifest = fs::read_to_string(archive.join("manifest-sha256.txt")).unwrap();
    let len = manifest.len();
    // The original's line: blanking it would hide the original from every fixity check.
    let (at, line) = manifest
        .lines()
        .scan(0, |at, l| {
            let here = *at;
            *at += l.len() + 1;
            Some((here, l))
        })
        .find(|(_, l)| l.contains("/original."))
        .unwrap();
    let digest = "0".repeat(64);
    let blank = " ".repeat(line.len());
    let audit_len = fs::metadata(archive.join("audit.jsonl")).unwrap().len();
    let patch = |body: String| format!(r#"{{"moves":[],"patches":[{body}]}}"#);
    let before = snapshot(&archive);
    for (journal, why) in [
        (
            patch(format!(
                r#"{{"file":"manifest-sha256.txt","base_len":{len},"writes":[{{"at":{at},"text":"{blank}"}}]}}"#
            )),
            "does not remove",
        ),
        (
            patch(format!(
                r#"{{"file":"manifest-sha256.txt","base_len":{len},"writes":[{{"at":{at},"text":"{digest}"}}]}}"#
            )),
            "does not replace",
        ),
        (
            patch(format!(
                r#"{{"file":"manifest-sha256.txt","base_len":{len},"append":"{digest}  data/{id}/x.wav\n"}}"#
            )),
            "does not put in place",
        ),
        (
            patch(format!(
                r#"{{"file":"manifest-sha256.txt","base_len":{},"append":""}}"#,
                len + 7
            )),
            "changed outside visitrec",
        ),
        (
            patch(r#"{"file":"bag-info.txt","base_len":0,"append":"Contact: x\n"}"#.into()),
            "never patches",
        ),
        (
            patch(format!(
                r#"{{"file":"audit.jsonl","base_len":{audit_len},"append":"{{\"op\":\"forged\"}}\n"}}"#
            )),
            "not an audit entry",
        ),
    ] {
        plant_journal(&archive, &journal);
        let err = tag_refused(&archive, &id, &journal);
        assert!(
            err.contains("journal.json") && err.contains(why),
            "{journal}: {err}"
        );
        assert_eq!(snapshot(&archive), before, "{journal}: archive changed");
        let (code, report) = verify_json(&archive, &[]);
        assert_eq!(code, 1, "{report}");
        assert!(
            kinds(&report).contains(&"bad-journal".to_string()),
            "{report}"
        );
    }
}

/// Stages `files` (name → bytes) under `.visitrec/staging/<slot>/`, plus the bag-info and a
/// tag manifest that would match the archive once `manifest` and `audit` are in place, and
/// plants a journal with `moves` (staged name → target) and `patches` (JSON objects):
/// every check but the patch's own would pass. Returns the journal text.
fn plant_patching(
    archive: &Path,
    slot: &str,
    files: &[(&str, &[u8])],
    moves: &[(&str, &str)],
    patches: &[String],
    manifest: &[u8],
    audit: &[u8],
) -> String {
    let staging = archive.join(".visitrec/staging").join(slot);
    fs::create_dir_all(&staging).unwrap();
    for (name, bytes) in files {
        fs::write(staging.join(name), bytes).unwrap();
    }
    let read = |rel: &str| fs::read(archive.join(rel)).unwrap();
    let bag_info = read("bag-info.txt");
    fs::write(staging.join("bi"), &bag_info).unwrap();
    let digest = |b: &[u8]| visitrec::hash::hash_bytes(b).sha256;
    let tags: String = String::from_utf8(read("tagmanifest-sha256.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let (_, rel) = l.split_once("  ").unwrap();
            let d = match rel {
                "manifest-sha256.txt" => digest(manifest),
                "audit.jsonl" => digest(audit),
                _ => digest(&read(rel)),
            };
            format!("{d}  {rel}\n")
        })
        .collect();
    fs::write(staging.join("tm"), tags).unwrap();
    let all: Vec<String> = moves
        .iter()
        .chain([("bi", "bag-info.txt"), ("tm", "tagmanifest-sha256.txt")].iter())
        .map(|(from, to)| format!(r#"{{"from":".visitrec/staging/{slot}/{from}","to":"{to}"}}"#))
        .collect();
    let journal = format!(
        r#"{{"moves":[{}],"patches":[{}]}}"#,
        all.join(","),
        patches.join(",")
    );
    plant_journal(archive, &journal);
    journal
}

/// The three ways a red team once got a planted journal's patch applied: overwriting the
/// manifest's tail (two entries of another recording), overwriting the audit log's last
/// line (a forged actor), and a digest set through a rename whose staged file is "gone".
#[test]
fn a_planted_patch_never_overwrites_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, _) = setup(dir.path());
    ingest_json(
        &archive,
        &[fixture("phone/voice-memo.m4a")],
        &["--consent-scope", "research", "--consent-by", "study:S1"],
    );
    let manifest = fs::read(archive.join("manifest-sha256.txt")).unwrap();
    let audit = fs::read(archive.join("audit.jsonl")).unwrap();
    let before = snapshot(&archive);
    let recordings = |archive: &Path| {
        let (code, v) = run_json(&["list"], archive);
        assert_eq!(code, 0, "{v}");
        v.as_array().map_or(0, Vec::len)
    };
    assert_eq!(recordings(&archive), 2);
    let json = |s: &str| serde_json::to_string(s).unwrap();
    let digest = |b: &[u8]| visitrec::hash::hash_bytes(b).sha256;
    let lines = |b: &[u8]| -> Vec<(usize, String)> {
        let text = std::str::from_utf8(b).unwrap();
        text.lines()
            .scan(0, |at, l| {
                let here = *at;
                *at += l.len() + 1;
                Some((here, l.to_string()))
            })
            .collect()
    };
    let mut attacks = Vec::new();
    // F3: the manifest's last two lines (the other recording's) overwritten by two new
    // entries for files of the first.
    {
        let ls = lines(&manifest);
        let base = ls[ls.len() - 2].0;
        let targets = [
            format!("data/{id}/normalized.wav"),
            format!("data/{id}/segments/001.wav"),
        ];
        let append: String = targets
            .iter()
            .zip([&b"x"[..], b"xx"])
            .map(|(t, c)| format!("{}  {t}\n", digest(c)))
            .collect();
        assert!(append.len() >= manifest.len() - base);
        let mut new = manifest[..base].to_vec();
        new.extend_from_slice(append.as_bytes());
        let patch = format!(
            r#"{{"file":"manifest-sha256.txt","base_len":{base},"append":{}}}"#,
            json(&append)
        );
        let files: Vec<(&str, &[u8])> = vec![("f0", b"x"), ("f1", b"xx")];
        let moves = [("f0", targets[0].as_str()), ("f1", targets[1].as_str())];
        let j = plant_patching(&archive, "s7", &files, &moves, &[patch], &new, &audit);
        attacks.push((j, "not the start of the text it appends"));
    }
    // F4: the audit log's last line replaced by a copy with another actor, chained as it
    // was.
    {
        let ls = lines(&audit);
        let (base, last) = ls.last().unwrap().clone();
        let mut e: serde_json::Value = serde_json::from_str(&last).unwrap();
        e["actor"] = "nobody-forged".into();
        let forged = format!("{}\n", serde_json::to_string(&e).unwrap());
        let mut new = audit[..base].to_vec();
        new.extend_from_slice(forged.as_bytes());
        let patch = format!(
            r#"{{"file":"audit.jsonl","base_len":{base},"append":{}}}"#,
            json(&forged)
        );
        let j = plant_patching(&archive, "s8", &[], &[], &[patch], &manifest, &new);
        attacks.push((j, "not the start of the text it appends"));
    }
    // F5: 64 zeros over the original's digest, "licensed" by a rename from a staged file
    // that does not exist (as if a replay after a crash).
    {
        let (at, line) = lines(&manifest)
            .into_iter()
            .find(|(_, l)| l.contains(&format!("data/{id}/original.")))
            .unwrap();
        let original = line.split_once("  ").unwrap().1.to_string();
        let zeros = "0".repeat(64);
        let mut new = manifest.clone();
        new[at..at + 64].copy_from_slice(zeros.as_bytes());
        let patch = format!(
            r#"{{"file":"manifest-sha256.txt","base_len":{},"writes":[{{"at":{at},"text":"{zeros}"}}]}}"#,
            manifest.len()
        );
        let j = plant_patching(
            &archive,
            "s9",
            &[],
            &[("gone", &original)],
            &[patch],
            &new,
            &audit,
        );
        attacks.push((j, "hashes to"));
    }
    for (journal, why) in attacks {
        plant_journal(&archive, &journal);
        let (code, report) = verify_json(&archive, &[]);
        assert_eq!(code, 1, "{journal}: {report}");
        assert!(
            kinds(&report).contains(&"bad-journal".to_string()),
            "{journal}: {report}"
        );
        let err = tag_refused(&archive, &id, &journal);
        assert!(
            err.contains("journal.json") && err.contains(why) && err.lines().count() == 1,
            "{journal}: {err}"
        );
        assert_eq!(snapshot(&archive), before, "{journal}: archive changed");
    }
    // With the journal gone, the archive is as it was: both recordings, chain intact.
    fs::remove_file(archive.join(".visitrec/journal.json")).unwrap();
    assert_eq!(recordings(&archive), 2);
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_pending_journal_is_reported_and_finished() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, _) = setup(dir.path());
    // What a writer killed right after its commit point leaves: a staged file and the
    // journal that puts it in place.
    let rel = format!("data/{id}/recording.json");
    let mut rec = recording(&archive, &id);
    rec["tags"]["site"] = "staged".into();
    let bytes = serde_json::to_vec_pretty(&rec).unwrap();
    fs::create_dir_all(archive.join(".visitrec/staging/s9")).unwrap();
    fs::write(archive.join(".visitrec/staging/s9/file"), &bytes).unwrap();
    fs::copy(
        archive.join("manifest-sha256.txt"),
        archive.join(".visitrec/staging/s9/m"),
    )
    .unwrap();
    plant_journal(
        &archive,
        &format!(r#"{{"moves":[{{"from":".visitrec/staging/s9/file","to":"{rel}"}}]}}"#),
    );
    let (_, report) = verify_json(&archive, &["--fast"]);
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["kind"] == "pending-journal"),
        "{report}"
    );
    // The staged file the journal moves is committed content; the other one is left over.
    assert!(
        warnings.iter().any(|w| w["kind"] == "leftover-staging"
            && w["detail"].as_str().unwrap().starts_with("1 file(s), ")),
        "{report}"
    );
    visitrec()
        .arg("tag")
        .arg(&archive)
        .args([&id, "--set", "room=2"])
        .assert()
        .success();
    assert!(!archive.join(".visitrec/journal.json").exists());
    assert_eq!(recording(&archive, &id)["tags"]["site"], "staged");
}

#[test]
fn symlinks_in_the_archive_are_reported_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, _) = setup(dir.path());
    // data/ replaced by a link to a copy of itself: the content still "verifies".
    let elsewhere = dir.path().join("elsewhere");
    copy_tree(&archive.join("data"), &elsewhere);
    fs::rename(archive.join("data"), dir.path().join("data-moved")).unwrap();
    symlink(&elsewhere, archive.join("data")).unwrap();
    let before = snapshot(&elsewhere);
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(kinds(&report).contains(&"symlink".to_string()), "{report}");
    let out = visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/archive-copy.flac"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("symbolic link") && err.contains("data"),
        "{err}"
    );
    assert_eq!(snapshot(&elsewhere), before, "wrote through the link");

    // A link deeper down, in a recording folder: reported, and never read through.
    fs::remove_file(archive.join("data")).unwrap();
    fs::rename(dir.path().join("data-moved"), archive.join("data")).unwrap();
    let original = fs::read_dir(archive.join("data").join(&id))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("original.")
        })
        .unwrap();
    let secret = dir.path().join("secret.wav");
    fs::copy(&original, &secret).unwrap();
    fs::remove_file(&original).unwrap();
    symlink(&secret, &original).unwrap();
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 1);
    assert!(kinds(&report).contains(&"symlink".to_string()), "{report}");
    let export = dir.path().join("export");
    let out = visitrec()
        .arg("encrypt")
        .arg(&archive)
        .args([&id, "--purpose", "research", "-r"])
        .arg("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
        .arg("--out")
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!export.exists());
}

#[test]
fn bagit_py_and_visitrec_agree_that_a_linked_payload_is_unsafe() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _, _) = setup(dir.path());
    let elsewhere = dir.path().join("elsewhere");
    copy_tree(&archive.join("data"), &elsewhere);
    fs::remove_dir_all(archive.join("data")).unwrap();
    symlink(&elsewhere, archive.join("data")).unwrap();
    let (code, _) = verify_json(&archive, &[]);
    assert_eq!(code, 1);
    let py = std::process::Command::new("bagit.py")
        .arg("--validate")
        .arg(&archive)
        .output()
        .expect("bagit.py is installed (scripts/test installs it)");
    assert!(!py.status.success(), "bagit.py calls it valid too?");
}

/// Two recordings; B's metadata pointing at A's files must not be believed.
#[test]
fn paths_in_recording_json_stay_in_their_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let a = ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let a_id = a["ingested"][0]["id"].as_str().unwrap().to_string();
    let b = ingest_json(
        &archive,
        &[fixture("phone/archive-copy.flac")],
        &[
            "--consent-scope",
            "research",
            "--consent-by",
            "patient:P2",
            "--normalize",
        ],
    );
    let b_id = b["ingested"][0]["id"].as_str().unwrap().to_string();
    let a_original = recording(&archive, &a_id)["source"]["stored_as"]
        .as_str()
        .unwrap()
        .to_string();
    let b_json = format!("data/{b_id}/recording.json");
    for forged in [
        a_original.clone(),
        "../../../etc/passwd".to_string(),
        format!("data/{b_id}/recording.json"),
    ] {
        let mut rec = recording(&archive, &b_id);
        rec["normalized"]["path"] = forged.clone().into();
        fs::write(
            archive.join(&b_json),
            serde_json::to_vec_pretty(&rec).unwrap(),
        )
        .unwrap();
        rehash_entry(&archive, "manifest-sha256.txt", &b_json);
        rehash_entry(&archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
        let (code, report) = verify_json(&archive, &[]);
        assert_eq!(code, 1, "{forged}: {report}");
        assert!(
            report["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["kind"] == "bad-metadata" && p["path"] == b_json.as_str()),
            "{forged}: {report}"
        );
        let export = dir.path().join("export");
        let out = visitrec()
            .arg("encrypt")
            .arg(&archive)
            .args([&b_id, "--purpose", "research", "-r"])
            .arg("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
            .arg("--out")
            .arg(&export)
            .output()
            .unwrap();
        // Consent that cannot be read is consent that is not there (exit 3).
        assert_eq!(out.status.code(), Some(3), "{forged}");
        assert!(!export.exists(), "{forged}: exported");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("recording.json"), "{err}");
    }
}

#[test]
fn loose_permissions_are_warned_about_and_init_never_makes_them() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000 && \"$0\" -q init --org T \"$1\"")
        .arg(assert_cmd::cargo::cargo_bin("visitrec"))
        .arg(&archive)
        .status()
        .unwrap();
    for rel in ["", "data", ".visitrec"] {
        let mode = fs::metadata(archive.join(rel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{rel}: {mode:o}");
    }
    let (_, report) = verify_json(&archive, &[]);
    assert!(
        report["warnings"].as_array().unwrap().is_empty(),
        "{report}"
    );

    fs::set_permissions(&archive, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(archive.join("data"), fs::Permissions::from_mode(0o770)).unwrap();
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "a warning is not a failure");
    let w = report["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w["kind"] == "loose-permissions" && w["path"] == "."),
        "{report}"
    );
    assert!(w.iter().any(|w| w["path"] == "data"), "{report}");
    visitrec()
        .arg("verify")
        .arg(&archive)
        .assert()
        .success()
        .stderr(predicates::str::contains("world-writable"));
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/dictation.wav"))
        .assert()
        .success()
        .stderr(predicates::str::contains("world-writable"))
        .stderr(predicates::str::contains("group-writable"));
}

#[test]
fn the_archive_is_never_its_own_input() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, _) = setup(dir.path());
    let before = snapshot(&archive);
    let original = recording(&archive, &id)["source"]["stored_as"]
        .as_str()
        .unwrap()
        .to_string();
    for input in [
        archive.clone(),
        archive.join("data"),
        archive.join(&original),
    ] {
        let r = ingest_json(&archive, std::slice::from_ref(&input), &[]);
        assert_eq!(r["ingested"].as_array().unwrap().len(), 0, "{r}");
        let why = r["rejected"][0]["reason"].as_str().unwrap();
        assert!(why.contains("inside the visitrec archive"), "{why}");
    }
    // Another archive met while walking a folder is passed over, with the reason.
    let tree = dir.path().join("import");
    fs::create_dir(&tree).unwrap();
    let other = archive_at(&tree);
    let r = ingest_json(&other, &[fixture("phone/archive-copy.flac")], &[]);
    assert_eq!(r["ingested"].as_array().unwrap().len(), 1);
    let r = ingest_json(&archive, std::slice::from_ref(&tree), &[]);
    assert_eq!(r["ingested"].as_array().unwrap().len(), 0, "{r}");
    assert!(
        r["skipped"]
            .to_string()
            .contains("inside the visitrec archive")
    );
    let mut after = snapshot(&archive);
    // The refused runs logged nothing but may have rewritten nothing either.
    after.retain(|k, _| !k.is_empty());
    assert_eq!(after, before);
}

#[test]
fn names_cannot_talk_to_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let name = "visit\nparticipant:  P999\x1b[2J.wav";
    let input = dir.path().join(name);
    fs::copy(fixture("phone/dictation.wav"), &input).unwrap();
    let out = visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(!printed.contains('\x1b'), "{printed:?}");
    assert!(
        printed.contains("visit\\nparticipant:  P999\\x1b[2J.wav"),
        "{printed:?}"
    );
    let id = ingest_json(&archive, &[input], &[])["duplicates"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = visitrec()
        .arg("show")
        .arg(&archive)
        .arg(&id)
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(!shown.contains('\x1b'), "{shown:?}");
    let forged = shown
        .lines()
        .filter(|l| l.starts_with("participant:"))
        .count();
    assert_eq!(forged, 1, "a forged line: {shown}");
    assert!(shown.contains("participant:  -"), "{shown}");
    // A hand-edited tag value with an escape sequence is shown escaped in `list`.
    let rel = format!("data/{id}/recording.json");
    let mut rec = recording(&archive, &id);
    rec["tags"]["site"] = "\x1b]0;owned\x07".into();
    fs::write(archive.join(&rel), serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    // It is refused as metadata no command would write, and the refusal is escaped too.
    let out = visitrec().arg("list").arg(&archive).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    assert!(err.contains("value of tag site"), "{err:?}");
    let (_, report) = verify_json(&archive, &[]);
    assert!(
        kinds(&report).contains(&"bad-metadata".to_string()),
        "{report}"
    );
}

#[test]
fn a_hard_linked_lock_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, victim) = setup(dir.path());
    let lock = archive.join(".visitrec/lock");
    let _ = fs::remove_file(&lock);
    fs::hard_link(&victim, &lock).unwrap();
    let out = visitrec()
        .arg("tag")
        .arg(&archive)
        .args([&id, "--set", "x=y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lock") && err.contains("hard link"), "{err}");
    assert_eq!(fs::read(&victim).unwrap(), b"root-owned, private");
}

#[test]
fn a_planted_journal_cannot_delete_an_original_or_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, _) = setup(dir.path());
    let original = recording(&archive, &id)["source"]["stored_as"]
        .as_str()
        .unwrap()
        .to_string();
    let before = snapshot(&archive);
    for journal in [
        format!(r#"{{"moves":[],"deletes":["{original}"]}}"#),
        format!(r#"{{"moves":[],"deletes":["data/{id}/recording.json"]}}"#),
        r#"{"moves":[],"deletes":[],"anything":1}"#.to_string(),
    ] {
        plant_journal(&archive, &journal);
        let (_, report) = verify_json(&archive, &[]);
        assert!(
            kinds(&report).contains(&"bad-journal".to_string()),
            "{journal}: {report}"
        );
        visitrec()
            .arg("tag")
            .arg(&archive)
            .args([&id, "--set", "x=y"])
            .assert()
            .code(2);
        assert_eq!(snapshot(&archive), before, "{journal}");
    }
}

#[test]
fn fifos_in_the_archive_are_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let (base, id, _) = setup(dir.path());
    for rel in [
        format!("data/{id}/recording.json"),
        "audit.jsonl".to_string(),
        ".visitrec/journal.json".to_string(),
        "bag-info.txt".to_string(),
    ] {
        let archive = dir.path().join(rel.replace('/', "_"));
        copy_tree(&base, &archive);
        let _ = fs::remove_file(archive.join(&rel));
        let status = std::process::Command::new("mkfifo")
            .arg(archive.join(&rel))
            .status()
            .unwrap();
        assert!(status.success());
        for args in [vec!["verify"], vec!["list"], vec!["log"]] {
            let out = visitrec()
                .arg(args[0])
                .arg(&archive)
                .timeout(std::time::Duration::from_secs(20))
                .output()
                .unwrap();
            let code = out.status.code();
            assert!(
                matches!(code, Some(0..=2)),
                "{rel}: {args:?} hung or crashed: {code:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn copies_of_the_archives_own_renditions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(
        &archive,
        &[fixture("phone/dictation.wav")],
        &[
            "--consent-scope",
            "research",
            "--consent-by",
            "p",
            "--segment",
        ],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    visitrec()
        .arg("consent")
        .arg(&archive)
        .args([&id, "--withdraw"])
        .assert()
        .success();
    let linked = dir.path().join("n.wav");
    fs::hard_link(archive.join(format!("data/{id}/normalized.wav")), &linked).unwrap();
    let copied = dir.path().join("s.wav");
    fs::copy(archive.join(format!("data/{id}/segments/001.wav")), &copied).unwrap();
    let r = ingest_json(
        &archive,
        &[linked, copied],
        &["--consent-scope", "research", "--consent-by", "someone"],
    );
    assert_eq!(r["ingested"].as_array().unwrap().len(), 0, "{r}");
    let rejected = r["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{r}");
    for x in rejected {
        assert!(x["reason"].as_str().unwrap().contains("escapes"), "{x}");
    }
}

#[test]
fn exports_and_decrypted_bags_never_land_inside_an_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id, _) = setup(dir.path());
    let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let before = snapshot(&archive);
    for out in [
        archive.join("exp"),
        archive.join("data").join(&id).join("x"),
    ] {
        let o = visitrec()
            .arg("encrypt")
            .arg(&archive)
            .args([&id, "--purpose", "research", "-r", key, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("inside the visitrec archive"));
        assert!(!out.exists());
    }
    let o = visitrec()
        .arg("decrypt")
        .arg(dir.path())
        .args(["--passphrase", "--out"])
        .arg(archive.join("data").join(&id).join("plain"))
        .env("VISITREC_PASSPHRASE", "x")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("inside the visitrec archive"));
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn a_linked_tag_file_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _, _) = setup(dir.path());
    let copy = dir.path().join("audit.copy");
    fs::copy(archive.join("audit.jsonl"), &copy).unwrap();
    fs::remove_file(archive.join("audit.jsonl")).unwrap();
    symlink(&copy, archive.join("audit.jsonl")).unwrap();
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(kinds(&report).contains(&"symlink".to_string()), "{report}");
}

#[test]
fn a_non_ascii_id_prefix_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _, _) = setup(dir.path());
    let out = visitrec()
        .arg("show")
        .arg(&archive)
        .arg("é\x1b[31m")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no such recording") && !err.contains('\x1b'),
        "{err}"
    );
}

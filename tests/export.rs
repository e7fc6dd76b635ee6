//! Exports of what consent covers (`encrypt --skip-uncovered`) and plaintext a patient can
//! open (`decrypt --friendly-names`).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn key() -> PathBuf {
    fixture("keys/test-age-key.txt")
}

/// The public key, from the `# public key:` line of the key file.
fn public() -> String {
    fs::read_to_string(key())
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string()
}

/// An archive of three recordings, all consenting to personal use; only the first (`a`)
/// to research too. Returns the ids in the order ingested.
fn archive_of_three() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let (d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[
            fixture("phone/voice-memo.m4a"),
            fixture("phone/dictation.wav"),
            fixture("phone/android-recorder.m4a"),
        ],
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P017",
        ],
    );
    let ids: Vec<String> = (0..3)
        .map(|i| r["ingested"][i]["id"].as_str().unwrap().to_string())
        .collect();
    visitrec()
        .arg("consent")
        .arg(&archive)
        .arg(&ids[0])
        .args(["--grant", "--scope", "research", "--by", "patient:P017"])
        .assert()
        .success();
    (d, archive, ids)
}

fn encrypt(archive: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    visitrec()
        .arg("encrypt")
        .arg(archive)
        .args(args)
        .args(["-r", &public(), "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn last_audit(archive: &Path) -> Value {
    let log = fs::read_to_string(archive.join("audit.jsonl")).unwrap();
    serde_json::from_str(log.lines().last().unwrap()).unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_refusal_names_every_uncovered_recording_and_suggests_skipping_them() {
    let (d, archive, ids) = archive_of_three();
    let out = d.path().join("export");
    let o = encrypt(&archive, &out, &["--all", "--purpose", "research"]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}: ", ids[1])), "{err}");
    assert!(err.contains(&format!("{}: ", ids[2])), "{err}");
    assert!(!err.contains(&format!("{}: ", ids[0])), "{err}");
    assert!(err.contains("2 of 3 recording(s)"), "{err}");
    assert!(
        err.contains("export the 1 covered one(s) alone with --skip-uncovered"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.exists());
    assert_eq!(last_audit(&archive)["op"], "export-refused");
}

#[test]
fn skip_uncovered_exports_the_covered_and_lists_the_rest() {
    let (d, archive, ids) = archive_of_three();
    for (n, which) in [
        vec!["--all"],
        vec![ids[1].as_str(), ids[0].as_str(), ids[2].as_str()],
    ]
    .into_iter()
    .enumerate()
    {
        let out = d.path().join(format!("export{n}"));
        let mut args = which.clone();
        args.extend(["--skip-uncovered", "--purpose", "research", "--json"]);
        let o = encrypt(&archive, &out, &args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        let exported: Vec<&str> = r["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(exported, [ids[0].as_str()]);
        let skipped = r["skipped"].as_array().unwrap();
        let mut skipped_ids: Vec<&str> =
            skipped.iter().map(|s| s["id"].as_str().unwrap()).collect();
        skipped_ids.sort();
        let mut want = [ids[1].as_str(), ids[2].as_str()];
        want.sort();
        assert_eq!(skipped_ids, want);
        for s in skipped {
            assert!(
                s["reason"].as_str().unwrap().contains("never granted"),
                "{s}"
            );
            assert_eq!(s["code"], "missing");
        }
        let err = stderr(&o);
        assert!(err.contains(&format!("skipped {}: ", ids[1])), "{err}");
        assert!(err.contains(&format!("skipped {}: ", ids[2])), "{err}");
        // Only the covered recording is in the export.
        assert!(out.join("data").join(&ids[0]).is_dir());
        assert!(!out.join("data").join(&ids[1]).exists());
        assert!(!out.join("data").join(&ids[2]).exists());
        let (code, v) = verify_json(&out, &["--identity", key().to_str().unwrap()]);
        assert_eq!(code, 0, "{v:#}");
        // The log says what went and what was left out, with reason codes only.
        let last = last_audit(&archive);
        assert_eq!(last["op"], "export");
        assert_eq!(last["ids"], serde_json::json!([ids[0]]));
        let logged = last["details"]["skipped"].as_array().unwrap();
        assert_eq!(logged.len(), 2);
        for s in logged {
            assert_eq!(s["reason"], "missing");
            assert_eq!(s.as_object().unwrap().len(), 2, "{s}");
        }
    }
    // The archive (its audit replay included) still verifies.
    let (code, v) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{v:#}");
    // Text mode: the summary says how many were skipped.
    let out = d.path().join("export-text");
    let o = encrypt(
        &archive,
        &out,
        &["--all", "--skip-uncovered", "--purpose", "research"],
    );
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("skipped 2 recording(s)"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn skip_uncovered_with_nothing_covered_refuses_and_writes_nothing() {
    let (d, archive, ids) = archive_of_three();
    let out = d.path().join("export");
    let before = fs::read_to_string(archive.join("audit.jsonl")).unwrap();
    let o = encrypt(
        &archive,
        &out,
        &[
            &ids[1],
            &ids[2],
            "--skip-uncovered",
            "--purpose",
            "research",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(err.contains("2 of 2 recording(s)"), "{err}");
    assert!(!err.contains("--skip-uncovered"), "{err}");
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(d.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial"))
            .count(),
        0
    );
    // The refusal is logged as before, and nothing else.
    let after = fs::read_to_string(archive.join("audit.jsonl")).unwrap();
    assert_eq!(after.lines().count(), before.lines().count() + 1);
    let last = last_audit(&archive);
    assert_eq!(last["op"], "export-refused");
    assert_eq!(last["details"]["reasons"].as_array().unwrap().len(), 2);
    let (code, v) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{v:#}");
}

/// Sets recording `id`'s original file name and recording time in its `recording.json`, as
/// a hostile or merely odd export could carry them, and rehashes the manifests so only the
/// names can tell.
fn rename_in_archive(archive: &Path, id: &str, file_name: &str, recorded_at: &str) {
    let rel = format!("data/{id}/recording.json");
    let mut rec = recording(archive, id);
    rec["source"]["file_name"] = file_name.into();
    rec["source"]["recorded_at"] = recorded_at.into();
    fs::write(archive.join(&rel), serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    rehash_entry(archive, "manifest-sha256.txt", &rel);
    rehash_entry(archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
}

fn decrypt(export: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    visitrec()
        .arg("decrypt")
        .arg(export)
        .arg("-i")
        .arg(key())
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// An archive of four m4a recordings with hostile names (two clashing), exported whole.
fn hostile_export() -> (tempfile::TempDir, PathBuf, PathBuf, Vec<String>) {
    let (d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[
            fixture("phone/voice-memo.m4a"),
            fixture("phone/android-recorder.m4a"),
            fixture("phone/with-location.m4a"),
            fixture("phone/dictation.wav"),
        ],
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P017",
        ],
    );
    let ids: Vec<String> = (0..4)
        .map(|i| r["ingested"][i]["id"].as_str().unwrap().to_string())
        .collect();
    let day = "2026-11-02T09:14:00+01:00";
    rename_in_archive(&archive, &ids[0], "New Recording 3.m4a", day);
    rename_in_archive(&archive, &ids[1], "new recording 3.M4A", day);
    rename_in_archive(&archive, &ids[2], "../../etc/x", "not a date");
    rename_in_archive(
        &archive,
        &ids[3],
        &format!(".\u{202e}\x1b[2J{}", "é".repeat(300)),
        day,
    );
    let export = d.path().join("export");
    let o = encrypt(&archive, &export, &["--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    (d, archive, export, ids)
}

#[test]
fn friendly_names_give_each_original_its_own_safe_name_beside_the_checked_bag() {
    let (d, archive, export, ids) = hostile_export();
    let out = d.path().join("visit");
    let o = decrypt(&export, &out, &["--friendly-names", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["bag"], out.join("checked-bag").to_str().unwrap());
    let named: Vec<(String, String)> = r["originals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(named.len(), 4);
    let name_of = |id: &str| named.iter().find(|(i, _)| i == id).unwrap().1.clone();
    // The two that clash (ignoring case) are told apart by id order.
    let (first, second) = if ids[0] < ids[1] { (0, 1) } else { (1, 0) };
    let plain = |i: usize| {
        if i == 0 {
            "New Recording 3"
        } else {
            "new recording 3"
        }
    };
    assert_eq!(
        name_of(&ids[first]),
        format!("2026-11-02 {}.m4a", plain(first))
    );
    assert_eq!(
        name_of(&ids[second]),
        format!("2026-11-02 {} (2).m4a", plain(second))
    );
    assert_eq!(name_of(&ids[2]), "_._etc_x.m4a");
    assert_eq!(
        name_of(&ids[3]),
        format!("2026-11-02 __[2J{}.wav", "é".repeat(57))
    );
    // Each is the original's exact bytes, in the folder itself; nothing went anywhere else.
    for (id, file) in &named {
        assert!(!file.contains('/') && !file.starts_with('.') && file.len() <= 200);
        assert!(
            !file.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{file:?}"
        );
        let stored = recording(&archive, id)["source"]["stored_as"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            fs::read(out.join(file)).unwrap(),
            fs::read(archive.join(&stored)).unwrap(),
            "{file}"
        );
    }
    let mut top: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    let mut want: Vec<String> = named.iter().map(|(_, f)| f.clone()).collect();
    want.push("checked-bag".into());
    want.sort();
    assert_eq!(top, want);
    let mut beside: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["archive", "export", "visit"]);
    // The bag beside them is whole and checks out.
    assert!(bagit_valid(&out.join("checked-bag"), false));
    // The text report lists the names, escaped.
    let text = d.path().join("visit-text");
    let o = decrypt(&export, &text, &["--friendly-names"]);
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("4 original(s) under their own names"),
        "{stdout}"
    );
    assert!(stdout.contains("_._etc_x.m4a"), "{stdout}");
    // Without the flag the layout is the plain bag, as before.
    let bare = d.path().join("bare");
    assert!(decrypt(&export, &bare, &[]).status.success());
    assert!(bare.join("bagit.txt").is_file() && !bare.join("checked-bag").exists());
}

#[test]
fn friendly_names_fall_back_to_the_id_without_metadata_and_fail_whole() {
    let (d, archive, _, ids) = hostile_export();
    // An export of originals alone has no names to give: `Recording ID.EXT`.
    let export = d.path().join("originals-only");
    let o = encrypt(&archive, &export, &[&ids[2], "--include", "original"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.path().join("visit");
    let o = decrypt(&export, &out, &["--friendly-names"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join(format!("Recording {}.m4a", ids[2])).is_file());
    // A disk that holds the bag (600 KB) but not the named copies as well leaves nothing:
    // no bag, no named files, no staging.
    let Some(small) = mounted(900, "friendly names on a full disk") else {
        return;
    };
    let full = small.path().join("visit");
    let o = decrypt(&d.path().join("export"), &full, &["--friendly-names"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no space left") && !err.contains("partial"),
        "{err}"
    );
    assert_eq!(fs::read_dir(small.path()).unwrap().count(), 0);
}

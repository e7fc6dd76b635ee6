//! `repair`: missing or damaged derived files are rebuilt from verified originals (exactly
//! the recorded bytes), damaged originals and metadata are refused untouched, and
//! `normalize`/`segment` no longer call missing files up to date.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Std;
use std::time::{Duration, Instant};

use common::*;

/// An archive with the dictation (3 segments) and a voice memo, normalized and segmented
/// (the dictation at a mark, moved after segmenting), and their ids.
fn segmented(root: &Path) -> (PathBuf, String, String) {
    let archive = archive_at(root);
    let r = ingest_json(
        &archive,
        &[
            fixture("phone/dictation.wav"),
            fixture("phone/voice-memo.m4a"),
        ],
        &["--consent-scope", "research", "--consent-by", "study:S1"],
    );
    let id = |i: usize| r["ingested"][i]["id"].as_str().unwrap().to_string();
    let (a, b) = (id(0), id(1));
    let dictation = if recording(&archive, &a)["source"]["file_name"] == "dictation.wav" {
        a.clone()
    } else {
        b.clone()
    };
    let other = if dictation == a { b } else { a };
    visitrec()
        .args(["tag"])
        .arg(&archive)
        .args([&dictation, "--mark", "1.0=start"])
        .assert()
        .success();
    visitrec()
        .arg("segment")
        .arg(&archive)
        .args(["--all", "--at-marks", "-q"])
        .assert()
        .success();
    // Today's marks are not the ones the segments were cut at: repair must use those.
    visitrec()
        .args(["tag"])
        .arg(&archive)
        .args([&dictation, "--mark", "2.0=later"])
        .assert()
        .success();
    assert_eq!(verify_json(&archive, &[]).0, 0);
    (archive, dictation, other)
}

fn seg(archive: &Path, id: &str, n: u32) -> PathBuf {
    archive.join(format!("data/{id}/segments/{n:03}.wav"))
}

fn norm(archive: &Path, id: &str) -> PathBuf {
    archive.join(format!("data/{id}/normalized.wav"))
}

fn problem<'a>(report: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("no problem on {path}: {report:#}"))
}

fn repair(archive: &Path, extra: &[&str]) -> std::process::Output {
    visitrec()
        .arg("repair")
        .arg(archive)
        .args(extra)
        .output()
        .unwrap()
}

fn last_op(archive: &Path) -> serde_json::Value {
    let log = fs::read_to_string(archive.join("audit.jsonl")).unwrap();
    serde_json::from_str(log.lines().last().unwrap()).unwrap()
}

#[test]
fn a_deleted_segment_is_reported_repairable_and_repair_restores_its_exact_bytes() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id, _) = segmented(d.path());
    let before = snapshot(&archive);
    fs::remove_file(seg(&archive, &id, 1)).unwrap();

    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 1);
    let rel = format!("data/{id}/segments/001.wav");
    let p = problem(&r, &rel);
    assert_eq!(p["kind"], "missing");
    assert_eq!(p["repairable"], true, "{r:#}");
    assert_eq!(problem(&r, "bag-info.txt")["repairable"], true, "{r:#}");
    let text = visitrec().arg("verify").arg(&archive).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("2 problem(s) can be repaired: visitrec repair"),
        "{text}"
    );

    let out = repair(&archive, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rep["repaired"][0]["id"], id.as_str());
    assert_eq!(rep["repaired"][0]["files"][0]["path"], rel.as_str());
    assert_eq!(rep["repaired"][0]["exact"], true);
    assert_eq!(rep["intact"].as_array().unwrap().len(), 1);

    assert_eq!(verify_json(&archive, &[]).0, 0);
    let after = snapshot(&archive);
    // Rendering is deterministic: every payload file is back byte for byte, and
    // recording.json is as it was; only the audit log and the tag files it touches grew.
    for (rel, bytes) in &before {
        if rel.starts_with("data/") {
            assert_eq!(after.get(rel), Some(bytes), "{rel} differs after repair");
        }
    }
    assert_eq!(
        after.keys().filter(|k| k.starts_with("data/")).count(),
        before.keys().filter(|k| k.starts_with("data/")).count()
    );
    let op = last_op(&archive);
    assert_eq!(op["op"], "repair");
    assert_eq!(op["ids"], serde_json::json!([id]));
}

#[test]
fn a_corrupted_normalized_wav_is_rebuilt_and_its_segments_are_untouched() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id, other) = segmented(d.path());
    let before = snapshot(&archive);
    let mut bytes = fs::read(norm(&archive, &id)).unwrap();
    bytes[5000] ^= 0x55;
    fs::write(norm(&archive, &id), &bytes).unwrap();
    fs::remove_file(norm(&archive, &other)).unwrap();
    let (_, r) = verify_json(&archive, &[]);
    assert_eq!(
        problem(&r, &format!("data/{id}/normalized.wav"))["kind"],
        "modified"
    );
    assert_eq!(
        problem(&r, &format!("data/{id}/normalized.wav"))["repairable"],
        true
    );

    let out = repair(&archive, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("(exact bytes restored)"), "{text}");
    assert!(
        text.contains("2 repaired, 0 intact, 0 cannot be repaired"),
        "{text}"
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
    let after = snapshot(&archive);
    for (rel, bytes) in before.iter().filter(|(r, _)| r.starts_with("data/")) {
        assert_eq!(after.get(rel), Some(bytes), "{rel}");
    }
    // Nothing left to do: a second run changes nothing.
    let again = snapshot(&archive);
    let out = repair(&archive, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 repaired, 2 intact"));
    assert_eq!(snapshot(&archive), again);
}

#[test]
fn a_damaged_original_is_refused_with_exit_1_and_nothing_changes() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id, other) = segmented(d.path());
    let original = archive.join(format!("data/{id}/original.wav"));
    let mut bytes = fs::read(&original).unwrap();
    bytes[3000] ^= 0x01;
    fs::write(&original, &bytes).unwrap();
    fs::remove_file(seg(&archive, &id, 2)).unwrap();
    let (_, r) = verify_json(&archive, &[]);
    assert_eq!(
        problem(&r, &format!("data/{id}/segments/002.wav"))["repairable"],
        false,
        "a derived file of a damaged original is not repairable"
    );
    assert_eq!(
        problem(&r, &format!("data/{id}/original.wav"))["repairable"],
        false
    );
    let text = visitrec().arg("verify").arg(&archive).output().unwrap();
    assert!(!String::from_utf8_lossy(&text.stdout).contains("can be repaired"));

    let before = snapshot(&archive);
    for args in [vec![], vec![id.as_str()], vec!["--dry-run"]] {
        let out = repair(&archive, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "cannot repair {id}: data/{id}/original.wav: damaged (sha256 "
            )) && err.contains("restore it from a backup — repair cannot rebuild an original"),
            "{err}"
        );
        assert_eq!(snapshot(&archive), before, "{args:?} changed the archive");
    }
    // The other recording is fine, and repairs of it still go through.
    fs::remove_file(norm(&archive, &other)).unwrap();
    let out = repair(&archive, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rep["repaired"][0]["id"], other.as_str());
    assert_eq!(rep["unrepairable"][0]["id"], id.as_str());
    assert_eq!(
        rep["unrepairable"][0]["path"],
        format!("data/{id}/original.wav")
    );
    assert!(!seg(&archive, &id, 2).exists(), "nothing of {id} changed");
    assert!(norm(&archive, &other).exists());

    // A missing original says so too.
    fs::remove_file(&original).unwrap();
    let out = repair(&archive, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!(
        "data/{id}/original.wav: missing; restore it from a backup"
    )));
}

#[test]
fn a_damaged_recording_json_is_not_rebuilt() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id, _) = segmented(d.path());
    let json = archive.join(format!("data/{id}/recording.json"));
    let text = fs::read_to_string(&json)
        .unwrap()
        .replace("study:S1", "study:S2");
    fs::write(&json, text).unwrap();
    fs::remove_file(norm(&archive, &id)).unwrap();
    let (_, r) = verify_json(&archive, &[]);
    assert_eq!(
        problem(&r, &format!("data/{id}/normalized.wav"))["repairable"],
        false
    );
    let before = snapshot(&archive);
    let out = repair(&archive, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("data/{id}/recording.json: damaged (sha256 "))
            && err.contains(
                "repair cannot rebuild a recording.json (it holds the recording's consent record)"
            ),
        "{err}"
    );
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn dry_run_lists_what_would_be_rebuilt_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id, _) = segmented(d.path());
    fs::remove_file(seg(&archive, &id, 3)).unwrap();
    fs::write(norm(&archive, &id), b"not audio").unwrap();
    let before = snapshot(&archive);
    let out = repair(&archive, &["--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("would repair {id}")), "{text}");
    assert!(
        text.contains(&format!("data/{id}/segments/003.wav: missing")),
        "{text}"
    );
    assert!(
        text.contains(&format!("data/{id}/normalized.wav: damaged (sha256 ")),
        "{text}"
    );
    assert!(
        text.contains("1 to repair, 1 intact, 0 cannot be repaired"),
        "{text}"
    );
    assert_eq!(snapshot(&archive), before);
    assert!(!archive.join(".visitrec/journal.json").exists());
    let (code, rep) = run_json(&["repair", "--dry-run"], &archive);
    assert_eq!(code, 0);
    assert_eq!(rep["dry_run"], true);
    assert!(rep["repaired"][0]["exact"].is_null());
    assert_eq!(snapshot(&archive), before);
    // Refusals: an id that is not there; nothing changes.
    let out = repair(&archive, &["ffff"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn a_rendition_that_differs_from_the_recorded_digest_replaces_the_derived_set_consistently() {
    // Stand in for a build that renders differently: the manifest records other bytes
    // for normalized.wav than this build makes from the original.
    let d = tempfile::tempdir().unwrap();
    let (archive, id, _) = segmented(d.path());
    let segments = recording(&archive, &id)["segments"].clone();
    let rel = format!("data/{id}/normalized.wav");
    fs::write(archive.join(&rel), b"another build's rendition").unwrap();
    rehash_entry(&archive, "manifest-sha256.txt", &rel);
    rehash_entry(&archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
    fs::remove_file(archive.join(&rel)).unwrap();
    let out = repair(&archive, &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rep["repaired"][0]["exact"], false, "{rep:#}");
    assert!(
        rep["repaired"][0]["note"]
            .as_str()
            .unwrap()
            .contains("rebuilt with different bytes than recorded")
    );
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(
        code, 0,
        "manifest and recording.json describe the new files: {r:#}"
    );
    // Cut again from the new rendition (the same audio here), at the marks used before.
    assert_eq!(recording(&archive, &id)["segments"], segments);
}

#[test]
fn segment_and_normalize_rebuild_what_is_missing_instead_of_calling_it_up_to_date() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id, _) = segmented(d.path());
    let before = snapshot(&archive);
    fs::remove_file(seg(&archive, &id, 1)).unwrap();
    let out = visitrec()
        .arg("segment")
        .arg(&archive)
        .args([&id, "--at-marks"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 segmented"), "{text}");
    assert!(seg(&archive, &id, 1).exists());
    assert_eq!(verify_json(&archive, &[]).0, 0);
    assert_eq!(
        snapshot(&archive)[&format!("data/{id}/segments/001.wav")],
        before[&format!("data/{id}/segments/001.wav")]
    );

    // A damaged normalized.wav is made again (its recorded settings) before segmenting.
    fs::write(norm(&archive, &id), b"junk").unwrap();
    let out = visitrec()
        .arg("segment")
        .arg(&archive)
        .args([&id, "--at-marks"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 segmented (1 normalized first)"));
    assert_eq!(verify_json(&archive, &[]).0, 0);

    // normalize with new settings when the old rendition and a segment are gone.
    fs::remove_file(norm(&archive, &id)).unwrap();
    fs::remove_file(seg(&archive, &id, 2)).unwrap();
    let out = visitrec()
        .arg("normalize")
        .arg(&archive)
        .args([&id, "--target-lufs", "-18"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 normalized"));
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{r:#}");
    let rec = recording(&archive, &id);
    assert_eq!(rec["normalized"]["target_lufs"], -18.0);
    assert!(rec["segments"].as_array().unwrap().is_empty());
    assert!(!archive.join(format!("data/{id}/segments")).exists());

    // normalize with the same settings when the rendition is gone makes it again.
    fs::remove_file(norm(&archive, &id)).unwrap();
    let out = visitrec()
        .arg("normalize")
        .arg(&archive)
        .args([&id, "--target-lufs", "-18"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 normalized, 0 already up to date"));
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn kill_9_during_repair_leaves_an_archive_that_verifies_but_for_what_is_still_to_repair() {
    let (d, template) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    for i in 0..10 {
        write_wav(&inbox.join(format!("r{i:02}.wav")), i, 2.0);
    }
    ingest_json(&template, &[inbox], &[]);
    visitrec()
        .arg("normalize")
        .arg(&template)
        .args(["--all", "-q"])
        .assert()
        .success();
    let intact = snapshot(&template);
    for entry in fs::read_dir(template.join("data")).unwrap() {
        fs::remove_file(entry.unwrap().path().join("normalized.wav")).unwrap();
    }
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let archive = d.path().join("a");
    copy_tree(&template, &archive);
    let t = Instant::now();
    assert!(
        Std::new(&bin)
            .arg("repair")
            .arg(&archive)
            .arg("-q")
            .status()
            .unwrap()
            .success()
    );
    let full = t.elapsed().as_micros().max(1000) as u64;
    let mut seed = 0x1234_5678_9ABC_DEF1u64;
    let mut kills = 0;
    for round in 0..8 {
        fs::remove_dir_all(&archive).unwrap();
        copy_tree(&template, &archive);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % full);
        let mut child = Std::new(&bin)
            .arg("repair")
            .arg(&archive)
            .arg("-q")
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        // Whatever was not committed is still missing, and still repairable: nothing else.
        let (_, r) = verify_json(&archive, &[]);
        for p in r["problems"].as_array().unwrap() {
            assert_eq!(
                p["repairable"], true,
                "round {round}, after {delay:?}: {r:#}"
            );
        }
        let out = repair(&archive, &["-q"]);
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (code, r) = verify_json(&archive, &[]);
        assert_eq!(code, 0, "round {round} after recovery: {r:#}");
        let now = snapshot(&archive);
        for (rel, bytes) in intact.iter().filter(|(r, _)| r.starts_with("data/")) {
            assert_eq!(now.get(rel), Some(bytes), "round {round}: {rel}");
        }
    }
    assert!(kills >= 3, "only {kills} of 8 kills landed mid-run");
}

#[test]
fn a_link_in_a_derived_files_place_is_refused_not_followed_or_replaced() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id, _) = segmented(d.path());
    let outside = d.path().join("outside");
    fs::write(&outside, b"not the archive's").unwrap();
    fs::remove_file(norm(&archive, &id)).unwrap();
    std::os::unix::fs::symlink(&outside, norm(&archive, &id)).unwrap();
    let (_, r) = verify_json(&archive, &[]);
    for p in r["problems"].as_array().unwrap() {
        assert_eq!(p["repairable"], false, "{r:#}");
    }
    let before = snapshot(&archive);
    let out = repair(&archive, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("visitrec never follows or replaces links"),
        "{err}"
    );
    assert_eq!(fs::read(&outside).unwrap(), b"not the archive's");
    assert!(
        fs::symlink_metadata(norm(&archive, &id))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(snapshot(&archive).len(), before.len());
    // Once the link is gone, repair rebuilds the file.
    fs::remove_file(norm(&archive, &id)).unwrap();
    assert_eq!(repair(&archive, &["-q"]).status.code(), Some(0));
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

//! Crash safety: `kill -9` an ingest at many points; the archive must verify every time,
//! and the next writer must finish cleanly.

mod common;

use std::fs;
use std::process::Command as Std;
use std::time::{Duration, Instant};

use common::*;

/// A small deterministic generator, so a failing kill point can be reproduced.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn kill_9_during_ingest_never_breaks_the_archive() {
    let (d, archive) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    for i in 0..48 {
        write_wav(&inbox.join(format!("r{i:02}.wav")), i, 0.5);
    }
    let bin = assert_cmd::cargo::cargo_bin("visitrec");

    // How long an uninterrupted ingest takes here, to spread the kills across it.
    let probe = d.path().join("probe");
    visitrec()
        .args(["init", "--org", "X"])
        .arg(&probe)
        .assert()
        .success();
    let t = Instant::now();
    visitrec()
        .arg("ingest")
        .arg(&probe)
        .arg(&inbox)
        .assert()
        .success();
    let full = t.elapsed().as_micros().max(1000) as u64;

    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut killed_mid_run = 0;
    for round in 0..25 {
        let delay = Duration::from_micros(next(&mut seed) % full);
        let mut child = Std::new(&bin)
            .arg("ingest")
            .arg(&archive)
            .arg(&inbox)
            .arg("-q")
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let (code, r) = verify_json(&archive, &[]);
        assert_eq!(code, 0, "round {round}, killed after {delay:?}: {r:#}");
        // Start over most rounds, so every run has the whole batch to do and the kills
        // spread over all of it (a run into a full archive only finds duplicates); every
        // fourth round continues on top of what the killed run left.
        if round % 4 != 3 && round != 24 {
            fs::remove_dir_all(&archive).unwrap();
            visitrec()
                .args(["init", "--org", "X"])
                .arg(&archive)
                .assert()
                .success();
        }
    }
    assert!(
        killed_mid_run >= 10,
        "only {killed_mid_run} kills landed mid-run"
    );

    // The next writer recovers: finishes any committed journal, discards staging.
    let r = ingest_json(&archive, std::slice::from_ref(&inbox), &[]);
    let total = r["ingested"].as_array().unwrap().len() + r["duplicates"].as_array().unwrap().len();
    assert_eq!(total, 48, "{r:#}");
    assert!(
        fs::read_dir(archive.join(".visitrec/staging"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(!archive.join(".visitrec/journal.json").exists());
    let (code, rep) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{rep:#}");
    assert_eq!(rep["files_checked"], 48 * 2 + 4); // + bagit, bag-info, manifest, audit
}

/// How many times each writer below is killed: six spread-out points each (one test per
/// command, so the test runner runs them side by side).
const ROUNDS: u64 = 6;

/// A template archive with several recordings and consent, then the writing command `args`
/// killed at spread-out points on a fresh copy each round: the archive verifies after each
/// kill, an export is whole or absent, and the next run recovers and finishes the job.
fn kill_9_during(name: &str, args: &[String]) {
    let (d, template) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    // Eight short recordings: enough commits for kills to land between and within them,
    // little enough audio that normalizing it twice a round stays quick.
    for i in 0..8 {
        write_wav(&inbox.join(format!("r{i:02}.wav")), i, 2.0);
    }
    let r = ingest_json(
        &template,
        &[inbox],
        &["--consent-scope", "personal-use", "--consent-by", "p"],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    let export = d.path().join("export");
    let args: Vec<String> = args
        .iter()
        .map(|a| match a.as_str() {
            "ID" => id.clone(),
            "EXPORT" => export.to_string_lossy().into_owned(),
            _ => a.clone(),
        })
        .collect();
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let archive = d.path().join("a");
    // Timing of an uninterrupted run, to spread the kills across it.
    copy_tree(&template, &archive);
    let t = Instant::now();
    let ok = Std::new(&bin)
        .arg(&args[0])
        .arg(&archive)
        .args(&args[1..])
        .arg("-q")
        .status()
        .unwrap();
    assert!(ok.success(), "{name} fails even uninterrupted");
    let full = t.elapsed().as_micros().max(1000) as u64;
    let mut seed = 0xDEAD_BEEF_1234_5678u64 ^ name.len() as u64 ^ (full << 20);
    let mut kills = 0;
    for round in 0..ROUNDS {
        fs::remove_dir_all(&archive).unwrap();
        let _ = fs::remove_dir_all(&export);
        copy_tree(&template, &archive);
        let delay = Duration::from_micros(next(&mut seed) % full);
        let mut child = Std::new(&bin)
            .arg(&args[0])
            .arg(&archive)
            .args(&args[1..])
            .arg("-q")
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let (code, rep) = verify_json(&archive, &[]);
        assert_eq!(
            code, 0,
            "{name} round {round}, killed after {delay:?}: {rep:#}"
        );
        // An export is either whole (verifies) or absent.
        if export.exists() {
            assert_eq!(
                verify_json(&export, &[]).0,
                0,
                "{name}: half-written export"
            );
        }
        // The next writer recovers and finishes the job.
        let again = Std::new(&bin)
            .arg(&args[0])
            .arg(&archive)
            .args(&args[1..])
            .arg("-q")
            .output()
            .unwrap();
        let finished = again.status.success()
            || String::from_utf8_lossy(&again.stderr).contains("already exists")
            || String::from_utf8_lossy(&again.stderr).contains("already has a mark");
        assert!(
            finished,
            "{name} round {round}: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            verify_json(&archive, &[]).0,
            0,
            "{name} round {round} after recovery"
        );
    }
    assert!(
        kills >= 2,
        "{name}: only {kills} of {ROUNDS} kills landed mid-run"
    );
}

/// `args` from string literals.
fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[test]
fn kill_9_during_normalize_never_breaks_the_archive() {
    kill_9_during("normalize", &words(&["normalize", "--all"]));
}

#[test]
fn kill_9_during_segment_never_breaks_the_archive() {
    kill_9_during("segment", &words(&["segment", "--all"]));
}

#[test]
fn kill_9_during_tag_never_breaks_the_archive() {
    kill_9_during(
        "tag",
        &words(&["tag", "ID", "--set", "k=v", "--mark", "1=x"]),
    );
}

#[test]
fn kill_9_during_consent_never_breaks_the_archive() {
    kill_9_during(
        "consent",
        &words(&[
            "consent", "ID", "--grant", "--scope", "research", "--by", "p",
        ]),
    );
}

#[test]
fn kill_9_during_encrypt_never_breaks_the_archive() {
    let key = fixture("keys/test-age-key.txt");
    let public = String::from_utf8(
        Std::new("age-keygen")
            .arg("-y")
            .arg(&key)
            .output()
            .expect("age-keygen (apt-get install age)")
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    kill_9_during(
        "encrypt",
        &words(&["encrypt", "--all", "-r", &public, "--out", "EXPORT"]),
    );
}

#[test]
fn kill_9_during_checkpoint_never_breaks_the_archive() {
    let key = fixture("keys/test_ed25519").to_string_lossy().into_owned();
    kill_9_during("checkpoint", &words(&["checkpoint", "--key", &key]));
}

#[test]
fn verify_while_a_writer_commits_sees_a_consistent_archive() {
    let (d, archive) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    for i in 0..40 {
        write_wav(&inbox.join(format!("r{i:03}.wav")), i, 0.3);
    }
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    // One ingest per file, then tags: a commit every few milliseconds while verify runs.
    let writer = {
        let (archive, inbox, bin) = (archive.clone(), inbox.clone(), bin.clone());
        std::thread::spawn(move || {
            let mut files: Vec<_> = fs::read_dir(&inbox)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                let ok = Std::new(&bin)
                    .arg("ingest")
                    .arg(&archive)
                    .arg(&f)
                    .arg("-q")
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        })
    };
    let mut runs = 0;
    while !writer.is_finished() {
        let (code, r) = verify_json(&archive, &[]);
        assert_eq!(code, 0, "verify during writes, run {runs}: {r:#}");
        let (code, r) = verify_json(&archive, &["--fast"]);
        assert_eq!(code, 0, "verify --fast during writes, run {runs}: {r:#}");
        runs += 1;
    }
    writer.join().unwrap();
    assert!(
        runs >= 3,
        "the writes finished before verify could overlap them"
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

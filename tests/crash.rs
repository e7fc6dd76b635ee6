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

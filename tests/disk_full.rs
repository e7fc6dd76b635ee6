//! A full disk: ingest, normalize, segment, tag, consent and encrypt into a small tmpfs fail
//! with "no space left" naming a file, and the archive still verifies with every earlier
//! recording intact.
//! Mounting needs root; without it the test says why it skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use common::*;
use predicates::prelude::*;

#[test]
fn a_full_disk_fails_cleanly_and_loses_nothing() {
    let Some(fs) = mounted(900, "disk-full ingest") else {
        return;
    };
    let archive = archive_at(fs.path());
    // Ingest recordings one by one until the disk is full.
    let mut stored = Vec::new();
    let mut failed = false;
    let files: Vec<PathBuf> = std::fs::read_dir(fixture("phone"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for f in files.iter().chain(files.iter()) {
        let out = visitrec()
            .arg("ingest")
            .arg(&archive)
            .arg(f)
            .arg("--json")
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => {
                let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                if let Some(id) = r["ingested"][0]["id"].as_str() {
                    stored.push(id.to_string());
                }
            }
            Some(2) => {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("no space left on device"), "{err}");
                assert!(
                    err.contains(archive.to_str().unwrap()),
                    "names a file: {err}"
                );
                failed = true;
                break;
            }
            other => panic!(
                "ingest exited {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    assert!(failed, "the disk never filled");
    assert!(!stored.is_empty(), "nothing fitted at all");
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{r:#}");
    let listed = visitrec().arg("list").arg(&archive).output().unwrap();
    for id in &stored {
        assert!(String::from_utf8_lossy(&listed.stdout).contains(id.as_str()));
    }
    // Normalizing into the full disk: the same.
    let before = snapshot(&archive);
    visitrec()
        .arg("normalize")
        .arg(&archive)
        .arg("--all")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no space left on device"));
    assert_eq!(snapshot(&archive), before);
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn an_export_to_a_full_disk_leaves_nothing() {
    let Some(small) = mounted(200, "disk-full export") else {
        return;
    };
    let (_d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[fixture("phone")],
        &["--consent-scope", "personal-use", "--consent-by", "p"],
    );
    assert!(r["ingested"].as_array().unwrap().len() >= 7);
    let key = fixture("keys/test-age-key.txt");
    let public = String::from_utf8(
        Std::new("age-keygen")
            .arg("-y")
            .arg(&key)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let out = small.path().join("export");
    // Stripping an original's metadata writes copies into the staging folder too.
    for extra in [&[][..], &["--strip-metadata"][..]] {
        visitrec()
            .arg("encrypt")
            .arg(&archive)
            .args(["--all", "-r", public.trim(), "--out"])
            .arg(&out)
            .args(extra)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no space left on device"));
        assert_eq!(
            std::fs::read_dir(small.path()).unwrap().count(),
            0,
            "a partial export was left behind ({extra:?})"
        );
    }
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

/// Fills the file system holding `dir` with a file there, until it refuses another byte.
fn fill_up(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0xA5u8; 4096];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&block[..1]).is_ok() {}
    path
}

#[test]
fn every_writer_fails_cleanly_on_a_full_disk_and_works_again_after() {
    let Some(fs) = mounted(6000, "disk-full writers") else {
        return;
    };
    let (archive, id) = archive_with_one(fs.path());
    let elsewhere = tempfile::tempdir().unwrap();
    let filler = fill_up(fs.path());
    let before = snapshot(&archive);
    let writers = writer_commands(&id, &elsewhere.path().join("export"));
    for args in &writers {
        let out = command_on(args, &archive).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{args:?} succeeded on a full disk"
        );
        assert!(err.contains("no space left on device"), "{args:?}: {err}");
        assert!(
            err.contains(archive.to_str().unwrap()),
            "{args:?} names no file: {err}"
        );
        assert_eq!(snapshot(&archive), before, "{args:?} changed the archive");
        assert_eq!(verify_json(&archive, &[]).0, 0, "after {args:?}");
    }
    // Space again: the same commands work, and nothing is left over from the failures.
    std::fs::remove_file(filler).unwrap();
    for args in &writers {
        command_on(args, &archive).assert().success();
    }
    assert_eq!(verify_json(&archive, &[]).0, 0);
    let staging = archive.join(".visitrec/staging");
    let left = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "staging leftovers in {}", staging.display());
}

//! A full disk: ingest, normalize and encrypt into a small tmpfs fail with "no space left"
//! naming a file, and the archive still verifies with every earlier recording intact.
//! Mounting needs root; without it the test says why it skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use common::*;
use predicates::prelude::*;

/// A tmpfs of `kib` KiB, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(kib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Std::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Std::new("umount").arg(self.0.path()).status();
    }
}

fn mounted(kib: u32) -> Option<Tmpfs> {
    let m = Tmpfs::mount(kib);
    if m.is_none() {
        eprintln!("SKIPPED disk-full test: cannot mount a tmpfs (needs root)");
    }
    m
}

#[test]
fn a_full_disk_fails_cleanly_and_loses_nothing() {
    let Some(fs) = mounted(900) else { return };
    let archive: PathBuf = fs.path().join("archive");
    visitrec()
        .args(["init", "--org", "X"])
        .arg(&archive)
        .assert()
        .success();
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
    let Some(small) = mounted(200) else { return };
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
    visitrec()
        .arg("encrypt")
        .arg(&archive)
        .args(["--all", "-r", public.trim(), "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no space left on device"));
    assert_eq!(
        std::fs::read_dir(small.path()).unwrap().count(),
        0,
        "a partial export was left behind"
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

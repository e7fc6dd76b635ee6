//! `verify` on intact and damaged archives, and agreement with bagit-python.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use predicates::prelude::*;

/// A damage applied to a copy of an intact archive.
type Damage = fn(&Path);

fn first(archive: &Path, suffix: &str) -> PathBuf {
    let m = fs::read_to_string(archive.join("manifest-sha256.txt")).unwrap();
    let rel = m
        .lines()
        .map(|l| l.split_once("  ").unwrap().1)
        .find(|p| p.ends_with(suffix))
        .unwrap();
    archive.join(rel)
}

fn flip_byte(a: &Path) {
    let p = first(a, ".wav");
    let mut b = fs::read(&p).unwrap();
    b[1000] ^= 0x01;
    fs::write(p, b).unwrap();
}
fn delete_file(a: &Path) {
    fs::remove_file(first(a, ".m4a")).unwrap();
}
fn add_file(a: &Path) {
    fs::write(a.join("data/stray.txt"), b"not in the manifest").unwrap();
}
fn edit_manifest(a: &Path) {
    let p = a.join("manifest-sha256.txt");
    let t = fs::read_to_string(&p).unwrap();
    let first_hex = &t[..64];
    fs::write(&p, t.replacen(first_hex, &"0".repeat(64), 1)).unwrap();
}
fn wrong_oxum(a: &Path) {
    let p = a.join("bag-info.txt");
    let t = fs::read_to_string(&p).unwrap();
    let t: String = t
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum") {
                "Payload-Oxum: 1.1\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&p, t).unwrap();
    rehash_entry(a, "tagmanifest-sha256.txt", "bag-info.txt");
}
fn edit_bag_info(a: &Path) {
    let p = a.join("bag-info.txt");
    let mut t = fs::read_to_string(&p).unwrap();
    t.push_str("Contact-Name: someone\n");
    fs::write(&p, t).unwrap();
}
fn add_symlink(a: &Path) {
    std::os::unix::fs::symlink("/etc/passwd", a.join("data/link")).unwrap();
}
fn remove_bagit_txt(a: &Path) {
    fs::remove_file(a.join("bagit.txt")).unwrap();
}

const CASES: &[(&str, Damage, &str)] = &[
    ("flipped byte", flip_byte, "modified"),
    ("deleted file", delete_file, "missing"),
    ("added file", add_file, "extra"),
    ("edited manifest", edit_manifest, "modified"),
    ("wrong Payload-Oxum", wrong_oxum, "oxum"),
    ("edited bag-info", edit_bag_info, "modified"),
    ("no bagit.txt", remove_bagit_txt, "bad-manifest"),
    ("symlink in data/", add_symlink, "symlink"),
];

fn intact() -> (tempfile::TempDir, PathBuf) {
    let (d, archive) = new_archive();
    ingest_json(
        &archive,
        &[
            fixture("phone/voice-memo.m4a"),
            fixture("phone/dictation.wav"),
        ],
        &[],
    );
    (d, archive)
}

#[test]
fn intact_archive_verifies_with_a_json_report() {
    let (_d, archive) = intact();
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["files_checked"], 8);
    assert!(r["bytes_checked"].as_u64().unwrap() > 400_000);
    assert_eq!(r["problems"].as_array().unwrap().len(), 0);
    visitrec()
        .arg("verify")
        .arg(&archive)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("intact"));
}

#[test]
fn every_damage_is_caught_with_its_kind_and_path() {
    let (d, base) = intact();
    for (i, (name, damage, kind)) in CASES.iter().enumerate() {
        let a = d.path().join(format!("case{i}"));
        copy_tree(&base, &a);
        damage(&a);
        let (code, r) = verify_json(&a, &[]);
        assert_eq!(code, 1, "{name}: {r:#}");
        assert_eq!(r["ok"], false);
        assert!(
            kinds(&r).contains(&kind.to_string()),
            "{name}: expected {kind}, got {r:#}"
        );
        for p in r["problems"].as_array().unwrap() {
            assert!(
                !p["path"].as_str().unwrap().is_empty()
                    && !p["detail"].as_str().unwrap().is_empty()
            );
        }
    }
}

#[test]
fn flipped_byte_report_names_file_and_both_hashes() {
    let (_d, a) = intact();
    flip_byte(&a);
    let (_, r) = verify_json(&a, &[]);
    let p = &r["problems"][0];
    assert_eq!(p["kind"], "modified");
    assert!(p["path"].as_str().unwrap().ends_with("original.wav"));
    assert!(p["detail"].as_str().unwrap().contains("manifest says"));
    visitrec().arg("verify").arg(&a).assert().code(1).stdout(
        predicate::str::contains("original.wav").and(predicate::str::contains("1 problem")),
    );
}

#[test]
fn fast_mode_checks_presence_and_oxum_but_reads_no_content() {
    let (_d, a) = intact();
    flip_byte(&a);
    let (code, r) = verify_json(&a, &["--fast"]);
    assert_eq!(code, 0, "fast mode does not read content: {r:#}");
    assert_eq!(r["files_checked"], 0);
    delete_file(&a);
    let (code, r) = verify_json(&a, &["--fast"]);
    assert_eq!(code, 1);
    assert!(
        kinds(&r).contains(&"missing".to_string()) && kinds(&r).contains(&"oxum".to_string()),
        "{r:#}"
    );
}

#[test]
fn metadata_that_disagrees_with_its_original_is_caught() {
    let (_d, a) = intact();
    let json = first(&a, "recording.json");
    let t = fs::read_to_string(&json).unwrap();
    // Consistent manifests, inconsistent metadata: only the metadata check can see it.
    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
    let sha = v["source"]["sha256"].as_str().unwrap();
    let forged = format!("{}{}", &sha[..16], "0".repeat(48));
    fs::write(&json, t.replace(sha, &forged)).unwrap();
    let rel = json.strip_prefix(&a).unwrap().to_str().unwrap().to_string();
    rehash_entry(&a, "manifest-sha256.txt", &rel);
    rehash_entry(&a, "tagmanifest-sha256.txt", "manifest-sha256.txt");
    let (code, r) = verify_json(&a, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(kinds(&r), ["bad-metadata"]);
    fs::write(&json, "{ not json").unwrap();
    let (_, r) = verify_json(&a, &[]);
    assert!(kinds(&r).contains(&"bad-metadata".to_string()), "{r:#}");
}

#[test]
fn hand_edited_manifests_are_reported_not_followed() {
    let (_d, a) = intact();
    let man = a.join("manifest-sha256.txt");
    let mut t = fs::read_to_string(&man).unwrap();
    let h = "a".repeat(64);
    t.push_str(&format!(
        "{h}  ../../etc/passwd\n{h}  /etc/passwd\nxyz  data/x\n{h}  bag-info.txt\n"
    ));
    fs::write(&man, t.replace('\n', "\r\n")).unwrap();
    let (code, r) = verify_json(&a, &[]);
    assert_eq!(code, 1);
    let details: Vec<&str> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "bad-manifest")
        .map(|p| p["detail"].as_str().unwrap())
        .collect();
    for needle in ["climbs out", "absolute", "not a SHA-256", "outside data/"] {
        assert!(
            details.iter().any(|d| d.contains(needle)),
            "{needle}: {details:#?}"
        );
    }
    // RFC 8493 §2.1 lets a line end in LF, CR or CRLF: the CRLFs are not a defect.
    assert!(details.len() == 4, "{details:#?}");
}

#[test]
fn symlinks_inside_the_bag_are_reported() {
    let (_d, a) = intact();
    std::os::unix::fs::symlink("/etc/passwd", a.join("data/link")).unwrap();
    let (code, r) = verify_json(&a, &[]);
    assert_eq!(code, 1);
    assert!(
        r["problems"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{r:#}"
    );
}

#[test]
fn not_an_archive_exits_2() {
    let d = tempfile::tempdir().unwrap();
    visitrec()
        .arg("verify")
        .arg(d.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a visitrec archive"));
    visitrec()
        .arg("verify")
        .arg(d.path().join("nope"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such folder"));
}

#[test]
fn interop_bagit_python_agrees_on_every_case() {
    let (d, base) = intact();
    assert!(
        bagit_valid(&base, false),
        "bagit.py rejects an intact archive"
    );
    assert!(bagit_valid(&base, true));
    for (i, (name, damage, _)) in CASES.iter().enumerate() {
        let a = d.path().join(format!("case{i}"));
        copy_tree(&base, &a);
        damage(&a);
        let (code, _) = verify_json(&a, &[]);
        assert_eq!(
            bagit_valid(&a, false),
            code == 0,
            "bagit.py and visitrec disagree on: {name}"
        );
        let (fast_code, _) = verify_json(&a, &["--fast"]);
        // bagit's --fast checks only the Payload-Oxum, so compare where both look.
        if [
            "wrong Payload-Oxum",
            "deleted file",
            "added file",
            "symlink in data/",
        ]
        .contains(name)
        {
            assert_eq!(
                bagit_valid(&a, true),
                fast_code == 0,
                "--fast disagrees on: {name}"
            );
        }
    }
}

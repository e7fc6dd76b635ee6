//! `visitrec purge`: erasure with a tombstone, the refusals around it, crash safety, and
//! that nothing personal of a purged recording survives anywhere in the archive.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Std;
use std::time::{Duration, Instant};

use common::*;

/// Strings only the purged recording's personal metadata holds.
const PERSONAL: [&str; 8] = [
    "Jane-Q-Public-4471",
    "New Recording Zebra",
    "Rosewood-Ward-77",
    "Mentioned-Aunt-Matilda",
    "patient:P-Xylophone-9",
    "Nurse-Wombat-55",
    "Note-Quokka-313",
    "method-Okapi",
];

/// An archive with one recording full of personal metadata (participant, file name, tag,
/// mark, consent with witness and note), normalized and segmented, whose consent was then
/// withdrawn; and its id.
fn archive_with_withdrawn(root: &Path) -> (PathBuf, String) {
    let archive = archive_at(root);
    let input = root.join("New Recording Zebra.wav");
    write_wav(&input, 3, 3.0);
    let marks = root.join("marks.csv");
    fs::write(&marks, "1.0,Mentioned-Aunt-Matilda\n").unwrap();
    let r = ingest_json(
        &archive,
        &[input],
        &[
            "--participant",
            "Jane-Q-Public-4471",
            "--tag",
            "ward=Rosewood-Ward-77",
            "--marks",
            marks.to_str().unwrap(),
            "--consent-scope",
            "research,care",
            "--consent-by",
            "patient:P-Xylophone-9",
            "--consent-witness",
            "Nurse-Wombat-55",
            "--consent-method",
            "method-Okapi",
            "--segment",
        ],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    visitrec()
        .arg("consent")
        .arg(&archive)
        .args([&id, "--withdraw", "--by", "patient:P-Xylophone-9"])
        .args(["--note", "Note-Quokka-313"])
        .assert()
        .success();
    (archive, id)
}

fn purge(archive: &Path, args: &[&str]) -> std::process::Output {
    visitrec()
        .arg("purge")
        .arg(archive)
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn purge_erases_audio_and_personal_data_and_keeps_a_tombstone() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_withdrawn(d.path());
    // A second recording stays untouched.
    let other = d.path().join("other.wav");
    write_wav(&other, 9, 1.0);
    let r = ingest_json(
        &archive,
        &[other],
        &["--consent-scope", "care", "--consent-by", "p:2"],
    );
    let other_id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    let shown: serde_json::Value = serde_json::from_slice(
        &visitrec()
            .arg("show")
            .arg(&archive)
            .args([&id, "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let sha = shown["source"]["sha256"].as_str().unwrap().to_string();

    // --dry-run lists every file and its size, and changes nothing.
    let before = snapshot(&archive);
    let out = purge(
        &archive,
        &[&id[..6], "--reason", "consent-withdrawn", "--dry-run"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    for f in [
        "original.wav",
        "recording.json",
        "normalized.wav",
        "segments/",
    ] {
        assert!(listed.contains(f), "dry run does not list {f}: {listed}");
    }
    assert!(text(&out.stderr).contains("nothing was changed"));
    assert_eq!(snapshot(&archive), before, "--dry-run changed the archive");
    let dry: serde_json::Value = serde_json::from_slice(
        &purge(
            &archive,
            &[&id, "--reason", "consent-withdrawn", "--dry-run", "--json"],
        )
        .stdout,
    )
    .unwrap();
    let files = dry["purged"][0]["files"].as_array().unwrap();
    let on_disk: u64 = files
        .iter()
        .map(|f| {
            fs::metadata(archive.join(f["path"].as_str().unwrap()))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(dry["purged"][0]["bytes"].as_u64().unwrap(), on_disk);

    let out = purge(
        &archive,
        &[
            &id,
            "--reason",
            "consent-withdrawn",
            "--actor",
            "records-office",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("backups"),
        "{}",
        text(&out.stderr)
    );

    // Only the tombstone is left of it.
    let left: Vec<String> = fs::read_dir(archive.join("data").join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["tombstone.json"]);
    let t: serde_json::Value = serde_json::from_slice(
        &fs::read(archive.join("data").join(&id).join("tombstone.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["sha256"], sha.as_str());
    assert_eq!(t["reason"], "consent-withdrawn");
    assert_eq!(t["purged_by"]["actor"], "records-office");
    assert!(
        t["purged_by"]["user"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    assert!(t["size"].as_u64().unwrap() > 0 && t["duration_s"].as_f64().unwrap() > 2.9);

    // The archive verifies, with consent required too, and bagit-python agrees.
    let (code, rep) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{rep:#}");
    let (code, rep) = verify_json(&archive, &["--require-consent"]);
    assert_eq!(code, 0, "{rep:#}");
    assert!(
        bagit_valid(&archive, false),
        "bagit.py: the purged bag is invalid"
    );

    // list hides it unless --all; show shows the tombstone; the log says purge.
    let list = text(
        &visitrec()
            .arg("list")
            .arg(&archive)
            .output()
            .unwrap()
            .stdout,
    );
    assert!(!list.contains(&id) && list.contains(&other_id), "{list}");
    let all = text(
        &visitrec()
            .arg("list")
            .arg(&archive)
            .arg("--all")
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with(&id) && l.contains("purged")),
        "{all}"
    );
    let all_json: serde_json::Value = serde_json::from_slice(
        &visitrec()
            .arg("list")
            .arg(&archive)
            .args(["--all", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        all_json
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str() && r["purged"] == true)
    );
    let show = visitrec()
        .arg("show")
        .arg(&archive)
        .arg(&id[..8])
        .output()
        .unwrap();
    assert!(show.status.success(), "{}", text(&show.stderr));
    let show = text(&show.stdout);
    assert!(
        show.contains("purged on") && show.contains("consent-withdrawn") && show.contains(&sha),
        "{show}"
    );
    let log = text(
        &visitrec()
            .arg("log")
            .arg(&archive)
            .args([&id, "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(log.contains("\"purge\""), "{log}");

    // Editing or exporting it is refused, saying it was purged.
    for args in [
        vec!["tag", id.as_str(), "--set", "a=b"],
        vec![
            "encrypt",
            id.as_str(),
            "-r",
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
            "--purpose",
            "research",
            "--out",
        ],
    ] {
        let mut c = visitrec();
        c.arg(args[0]).arg(&archive).args(&args[1..]);
        if args[0] == "encrypt" {
            c.arg(d.path().join("export"));
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("was purged on") && err.contains("consent withdrawn"),
            "{args:?}: {err}"
        );
    }
    assert!(!d.path().join("export").exists());

    // A second purge has nothing left to do.
    let out = purge(&archive, &[&id, "--reason", "consent-withdrawn"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("already purged"));

    // Nothing personal of it is left in any file of the archive, .visitrec/ included.
    for entry in walkdir::WalkDir::new(&archive) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = fs::read(entry.path()).unwrap();
        for needle in PERSONAL {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} survives in {}",
                entry.path().display()
            );
        }
    }
}

#[test]
fn purge_refuses_active_consent_unless_forced_and_validates_its_arguments() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(d.path());
    let before = snapshot(&archive);
    let out = purge(&archive, &[&id, "--reason", "request"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("research") && err.contains("--force") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(snapshot(&archive), before);

    for bad in [
        vec![id.as_str()],                               // no --reason
        vec![id.as_str(), "--reason", "because"],        // not a code
        vec!["--reason", "request"],                     // no id
        vec!["ffffffffffffffff", "--reason", "request"], // no such recording
        vec![id.as_str(), "--reason", "request", "--actor", "bad\nactor"],
    ] {
        let out = purge(&archive, &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
        assert_eq!(snapshot(&archive), before, "{bad:?} changed the archive");
    }

    let out = purge(&archive, &[&id, "--reason", "error", "--force", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["purged"][0]["active_scopes"][0], "research");
    let log = fs::read_to_string(archive.join("audit.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "purge");
    assert_eq!(last["details"]["reason"], "error");
    assert_eq!(last["details"]["forced"][0], id.as_str());
    assert_eq!(verify_json(&archive, &["--require-consent"]).0, 0);
}

#[test]
fn reingesting_purged_bytes_is_refused_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_withdrawn(d.path());
    assert!(
        purge(&archive, &[&id, "--reason", "consent-withdrawn"])
            .status
            .success()
    );
    let input = d.path().join("New Recording Zebra.wav");
    let before = snapshot(&archive);
    let out = visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let today = jiff::Timestamp::now().to_string()[..10].to_string();
    assert!(
        err.contains(&format!("purged on {today}: consent withdrawn"))
            && err.contains("--allow-reingest"),
        "{err}"
    );
    assert_eq!(snapshot(&archive), before);

    let r = ingest_json(
        &archive,
        &[input],
        &[
            "--allow-reingest",
            "--consent-scope",
            "care",
            "--consent-by",
            "p:new",
        ],
    );
    assert_eq!(r["ingested"][0]["id"], id.as_str(), "{r:#}");
    assert!(
        !archive
            .join("data")
            .join(&id)
            .join("tombstone.json")
            .exists()
    );
    let (code, rep) = verify_json(&archive, &["--require-consent"]);
    assert_eq!(code, 0, "{rep:#}");
    // And it can be purged again.
    assert!(
        purge(&archive, &[&id, "--reason", "request", "--force"])
            .status
            .success()
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn verify_catches_forged_and_inconsistent_tombstones() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_withdrawn(d.path());
    // A tombstone planted by hand (manifests recomputed) is explained by no purge entry.
    let planted = d.path().join("planted");
    copy_tree(&archive, &planted);
    let t = serde_json::json!({
        "schema": 1, "id": "0123456789abcdef",
        "sha256": format!("0123456789abcdef{}", "0".repeat(48)), "size": 1, "duration_s": 1.0,
        "ingested_at": "2026-01-01T00:00:00Z", "purged_at": "2026-01-02T00:00:00Z",
        "purged_by": {"actor": "x", "uid": 1, "user": "x"}, "reason": "request"
    });
    let rel = "data/0123456789abcdef/tombstone.json";
    fs::create_dir_all(planted.join("data/0123456789abcdef")).unwrap();
    fs::write(planted.join(rel), serde_json::to_vec(&t).unwrap()).unwrap();
    add_manifest_entry(&planted, rel);
    let (code, rep) = verify_json(&planted, &[]);
    assert_eq!(code, 1);
    assert!(
        kinds(&rep).contains(&"history-mismatch".to_string()),
        "{rep:#}"
    );

    // A tombstone beside a live recording.json is bad metadata.
    let beside = d.path().join("beside");
    copy_tree(&archive, &beside);
    let rel = format!("data/{id}/tombstone.json");
    let mut t2 = t.clone();
    t2["id"] = id.clone().into();
    fs::write(beside.join(&rel), serde_json::to_vec(&t2).unwrap()).unwrap();
    add_manifest_entry(&beside, &rel);
    let (code, rep) = verify_json(&beside, &[]);
    assert_eq!(code, 1);
    assert!(kinds(&rep).contains(&"bad-metadata".to_string()), "{rep:#}");
}

/// Lists `rel` in the payload manifest and fixes up the tag manifest, as a forger would.
fn add_manifest_entry(bag: &Path, rel: &str) {
    let digest = visitrec::hash::hash_file(&bag.join(rel)).unwrap().sha256;
    let path = bag.join("manifest-sha256.txt");
    let mut lines: Vec<String> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.push(format!("{digest}  {rel}"));
    lines.sort_by(|a, b| {
        a.split_once("  ")
            .unwrap()
            .1
            .cmp(b.split_once("  ").unwrap().1)
    });
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    rehash_entry(bag, "tagmanifest-sha256.txt", "manifest-sha256.txt");
}

#[test]
fn kill_9_during_purge_leaves_the_archive_before_or_after() {
    let (d, template) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    for i in 0..8 {
        write_wav(&inbox.join(format!("r{i:02}.wav")), i, 2.0);
    }
    let r = ingest_json(
        &template,
        &[inbox],
        &["--segment", "--consent-scope", "care", "--consent-by", "p"],
    );
    let ids: Vec<String> = r["ingested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 8);
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let run = |archive: &Path| {
        let mut c = Std::new(&bin);
        c.arg("purge")
            .arg(archive)
            .args(&ids)
            .args(["--reason", "request", "--force", "-q"]);
        c
    };
    let archive = d.path().join("a");
    copy_tree(&template, &archive);
    let t = Instant::now();
    assert!(run(&archive).status().unwrap().success());
    let full = t.elapsed().as_micros().max(1000) as u64;
    let mut seed = 0x5EED_0F9A_1700_0001u64;
    let mut kills = 0;
    let mut after = 0;
    for round in 0..16 {
        fs::remove_dir_all(&archive).unwrap();
        copy_tree(&template, &archive);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % full);
        let mut child = run(&archive).spawn().unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().ok();
        child.wait().unwrap();
        let (code, rep) = verify_json(&archive, &["--require-consent"]);
        assert_eq!(code, 0, "round {round}, killed after {delay:?}: {rep:#}");
        // All or nothing: every recording is still whole, or every one is a tombstone
        // (as readers see it, a pending journal included).
        let listed: serde_json::Value = serde_json::from_slice(
            &visitrec()
                .arg("list")
                .arg(&archive)
                .arg("--json")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let n = listed.as_array().unwrap().len();
        assert!(n == 0 || n == 8, "round {round}: {n} of 8 recordings left");
        if n == 0 {
            after += 1;
        }
        let again = run(&archive).output().unwrap();
        assert!(
            again.status.success(),
            "round {round}: {}",
            text(&again.stderr)
        );
        assert!(!archive.join(".visitrec/journal.json").exists());
        let (code, rep) = verify_json(&archive, &["--require-consent"]);
        assert_eq!(code, 0, "round {round} after the rerun: {rep:#}");
        for id in &ids {
            let left: Vec<_> = fs::read_dir(archive.join("data").join(id))
                .unwrap()
                .collect();
            assert_eq!(
                left.len(),
                1,
                "round {round}: {id} not reduced to its tombstone"
            );
        }
    }
    eprintln!("{kills} of 16 kills landed mid-run; {after} after the commit point");
    assert!(kills >= 4, "only {kills} of 16 kills landed mid-run");
    assert!(after < 16, "no kill landed before the commit point");
}

//! Retention: `init --retention`, `visitrec retention`, the `retention` tag, `list
//! --expired` and `purge --expired`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command as Std;

use common::*;

fn run(args: &[&str], archive: &Path) -> std::process::Output {
    visitrec()
        .arg(args[0])
        .arg(archive)
        .args(&args[1..])
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A WAV dated (by its modification time) `date`.
fn old_wav(dir: &Path, name: &str, seed: u32, date: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    write_wav(&p, seed, 1.0);
    assert!(
        Std::new("touch")
            .args(["-d", date])
            .arg(&p)
            .status()
            .unwrap()
            .success()
    );
    p
}

fn id_of(r: &serde_json::Value) -> String {
    r["ingested"][0]["id"].as_str().unwrap().to_string()
}

#[test]
fn retention_is_set_at_init_or_later_and_refuses_nonsense() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("a");
    let out = visitrec()
        .args(["init", "--org", "X", "--retention", "10 years"])
        .arg(&archive)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--retention"),
        "{}",
        text(&out.stderr)
    );
    assert!(!archive.exists());
    visitrec()
        .args(["init", "--org", "X", "--retention", "10y"])
        .arg(&archive)
        .assert()
        .success();
    let info = fs::read_to_string(archive.join("bag-info.txt")).unwrap();
    assert!(info.contains("Visitrec-Retention: 10y\n"), "{info}");
    assert!(text(&run(&["retention"], &archive).stdout).contains("10y"));
    assert_eq!(verify_json(&archive, &[]).0, 0);

    let before = snapshot(&archive);
    for bad in ["5x", "0y", "-3y", "201y"] {
        let out = run(&["retention", bad], &archive);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert_eq!(snapshot(&archive), before, "{bad} changed the archive");
    }
    let out = run(
        &["retention", "18m", "--actor", "records", "--json"],
        &archive,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["retention"], "18m");
    assert_eq!(r["changed"], true);
    let info = fs::read_to_string(archive.join("bag-info.txt")).unwrap();
    assert!(
        info.contains("Visitrec-Retention: 18m\n") && !info.contains("10y"),
        "{info}"
    );
    let log = fs::read_to_string(archive.join("audit.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "retention");
    assert_eq!(
        last["details"],
        serde_json::json!({"from": "10y", "to": "18m"})
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
    assert!(bagit_valid(&archive, false));
    // Setting the same again writes nothing; `none` removes it.
    let log_before = fs::read(archive.join("audit.jsonl")).unwrap();
    assert!(run(&["retention", "18m"], &archive).status.success());
    assert_eq!(fs::read(archive.join("audit.jsonl")).unwrap(), log_before);
    assert!(run(&["retention", "none"], &archive).status.success());
    let info = fs::read_to_string(archive.join("bag-info.txt")).unwrap();
    assert!(!info.contains("Visitrec-Retention"), "{info}");
    assert!(text(&run(&["retention"], &archive).stdout).contains("none"));
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn expired_recordings_are_listed_and_purged_unless_consent_keeps_them() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("a");
    visitrec()
        .args(["init", "--org", "X", "--retention", "10y"])
        .arg(&archive)
        .assert()
        .success();
    let old = id_of(&ingest_json(
        &archive,
        &[old_wav(d.path(), "old.wav", 1, "2010-03-01")],
        &[],
    ));
    let kept = id_of(&ingest_json(
        &archive,
        &[old_wav(d.path(), "kept.wav", 2, "2010-03-01")],
        &["--consent-scope", "care", "--consent-by", "p:1"],
    ));
    let longer = id_of(&ingest_json(
        &archive,
        &[old_wav(d.path(), "longer.wav", 3, "2010-03-01")],
        &["--tag", "retention=50y"],
    ));
    let recent = id_of(&ingest_json(
        &archive,
        &[old_wav(d.path(), "recent.wav", 4, "2024-03-01")],
        &[],
    ));
    // A tag that is not a period is refused.
    let out = run(&["tag", &recent, "--set", "retention=forever"], &archive);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let out = run(&["list", "--expired", "--json"], &archive);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{rows:#}");
    assert!(ids.contains(&old.as_str()) && ids.contains(&kept.as_str()));
    let k = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == kept.as_str())
        .unwrap();
    assert_eq!(k["expired"]["kept_until"], "2020-03-01");
    assert!(
        k["expired"]["kept_because"]
            .as_str()
            .unwrap()
            .contains("care")
    );
    let listed = text(&run(&["list", "--expired"], &archive).stdout);
    assert!(
        listed.contains("expired: kept until 2020-03-01") && !listed.contains(&longer),
        "{listed}"
    );

    // --dry-run first, then the purge: only the one consent does not keep.
    let out = run(
        &[
            "purge",
            "--expired",
            "--reason",
            "retention-expired",
            "--dry-run",
        ],
        &archive,
    );
    assert!(text(&out.stdout).contains(&old) && !text(&out.stdout).contains(&kept));
    let out = run(
        &[
            "purge",
            "--expired",
            "--reason",
            "retention-expired",
            "--json",
        ],
        &archive,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["purged"].as_array().unwrap().len(), 1);
    assert_eq!(r["purged"][0]["id"], old.as_str());
    assert!(
        archive
            .join("data")
            .join(&old)
            .join("tombstone.json")
            .exists()
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
    // Ids and --expired do not mix.
    let out = run(
        &["purge", &kept, "--expired", "--reason", "retention-expired"],
        &archive,
    );
    assert_eq!(out.status.code(), Some(2));
    // --force purges what consent keeps too.
    let out = run(
        &[
            "purge",
            "--expired",
            "--reason",
            "retention-expired",
            "--force",
        ],
        &archive,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        archive
            .join("data")
            .join(&kept)
            .join("tombstone.json")
            .exists()
    );
    assert!(
        archive
            .join("data")
            .join(&longer)
            .join("recording.json")
            .exists()
    );
    assert!(
        archive
            .join("data")
            .join(&recent)
            .join("recording.json")
            .exists()
    );
    let (code, rep) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{rep:#}");
    // Nothing left past its period: said so, or nothing at all with -q.
    let out = run(
        &["purge", "--expired", "--reason", "retention-expired"],
        &archive,
    );
    assert!(out.status.success() && text(&out.stderr).contains("nothing to purge"));
    let out = run(
        &["purge", "--expired", "--reason", "retention-expired", "-q"],
        &archive,
    );
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
}

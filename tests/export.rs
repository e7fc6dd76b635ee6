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

//! Consent that fails closed: the clock, withdrawals of every kind, malformed entries, and
//! the refusal's words. Each test is an attack or a mistake that once got through.

mod common;

use std::fs;
use std::path::Path;

use common::*;

const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

fn consent(archive: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    visitrec().arg("consent").arg(archive).args(args).assert()
}

fn export(archive: &Path, out: &Path, id: &str, tz: &str) -> std::process::Output {
    visitrec()
        .env("TZ", tz)
        .arg("encrypt")
        .arg(archive)
        .args([id, "--purpose", "research", "-r", KEY, "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn audit_ops(archive: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(archive.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_callers_time_zone_does_not_move_today() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    // Withdrawn "today" where the day starts first; exported where it starts last. The
    // two zones are 26 hours apart, so their dates always differ.
    visitrec()
        .env("TZ", "Etc/GMT-14")
        .arg("consent")
        .arg(&archive)
        .args([&id, "--withdraw", "--scope", "research"])
        .assert()
        .success();
    let out = dir.path().join("export");
    let o = export(&archive, &out, &id, "Etc/GMT+12");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
    // The day used is in the audit entry, as a UTC date.
    let utc = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let last = audit_ops(&archive).pop().unwrap();
    assert_eq!(last["op"], "export-refused");
    assert_eq!(last["details"]["consent_day"], utc.as_str());
    assert_eq!(last["details"]["reasons"][0], "withdrawn");
}

#[test]
fn a_withdrawal_of_everything_holds_against_future_grants() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    consent(
        &archive,
        &[
            &id,
            "--grant",
            "--scope",
            "research",
            "--by",
            "p",
            "--date",
            "2026-11-01",
            "--expires",
            "2026-11-30",
        ],
    )
    .success();
    consent(
        &archive,
        &[
            &id,
            "--grant",
            "--scope",
            "research",
            "--by",
            "p",
            "--date",
            "2026-12-01",
        ],
    )
    .success();
    // A future grant alone can be withdrawn too; here, everything is.
    consent(&archive, &[&id, "--withdraw", "--date", "2026-11-23"]).success();
    for day in ["2026-11-23", "2026-12-01", "2027-01-01"] {
        let listed = visitrec()
            .arg("list")
            .arg(&archive)
            .args(["--consent", "research", "--at", day])
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&listed.stdout).contains(&id),
            "{day}: still listed"
        );
    }
    // The per-scope view says why, and by which entry.
    let shown = visitrec()
        .arg("consent")
        .arg(&archive)
        .args([&id, "--at", "2026-12-01"])
        .output()
        .unwrap();
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains("research") && text.contains("withdrawn on 2026-11-23 (entry 3)"),
        "{text}"
    );
    // A grant recorded after the withdrawal permits again.
    consent(
        &archive,
        &[
            &id,
            "--grant",
            "--scope",
            "research",
            "--by",
            "p",
            "--date",
            "2026-11-01",
        ],
    )
    .success();
    let json = run_json(&["consent", &id, "--at", "2026-12-01"], &archive).1;
    assert_eq!(
        json["state"]["scopes"]["research"]["permitted"], true,
        "{json}"
    );
    assert_eq!(json["state"]["scopes"]["research"]["entry"], 4);
}

#[test]
fn a_malformed_consent_entry_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    consent(&archive, &[&id, "--withdraw", "--scope", "research"]).success();
    let rel = format!("data/{id}/recording.json");
    let mut rec = recording(&archive, &id);
    let date = rec["consent"][1]["date"].as_str().unwrap().to_string();
    rec["consent"][1]["date"] = format!("{date} ").into();
    fs::write(archive.join(&rel), serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    rehash_entry(&archive, "manifest-sha256.txt", &rel);
    rehash_entry(&archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 1);
    assert!(
        kinds(&report).contains(&"bad-metadata".to_string()),
        "{report}"
    );
    let out = dir.path().join("export");
    let o = export(&archive, &out, &id, "UTC");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("cannot be read") && err.contains("recording.json"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn the_refusal_says_what_is_covered_and_how_to_grant() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(
        &archive,
        &[fixture("phone/dictation.wav")],
        &[
            "--consent-scope",
            "personal-use,care",
            "--consent-by",
            "patient:P1",
        ],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    let out = dir.path().join("export");
    let o = export(&archive, &out, &id, "UTC");
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("it covers personal-use, care"), "{err}");
    assert!(
        err.contains(&format!(
            "visitrec consent {} {id} --grant --scope research --by WHO",
            archive.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// Rewrites a recording's metadata and recomputes both manifests, as someone hiding an edit
/// would.
fn forge(archive: &Path, id: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let rel = format!("data/{id}/recording.json");
    let mut rec = recording(archive, id);
    edit(&mut rec);
    fs::write(archive.join(&rel), serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    rehash_entry(archive, "manifest-sha256.txt", &rel);
    // Keep the Payload-Oxum right too, so only the replay can notice.
    let info = fs::read_to_string(archive.join("bag-info.txt")).unwrap();
    let (octets, streams) = walkdir::WalkDir::new(archive.join("data"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .fold((0, 0), |(o, n), e| (o + e.metadata().unwrap().len(), n + 1));
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum:") {
                format!("Payload-Oxum: {octets}.{streams}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(archive.join("bag-info.txt"), info).unwrap();
    rehash_entry(archive, "tagmanifest-sha256.txt", "bag-info.txt");
    rehash_entry(archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
}

#[test]
fn a_consent_edit_the_audit_log_does_not_explain_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    consent(&archive, &[&id, "--withdraw", "--scope", "research"]).success();
    let (code, report) = verify_json(&archive, &["--require-consent"]);
    assert_eq!(code, 1, "withdrawn: no consent left");
    assert_eq!(kinds(&report), ["no-consent"]);
    // Delete the withdrawal from recording.json and hide the edit.
    forge(&archive, &id, |rec| {
        rec["consent"].as_array_mut().unwrap().pop();
    });
    let (code, report) = verify_json(&archive, &["--require-consent"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(kinds(&report), ["consent-mismatch"], "{report}");
    let detail = report["problems"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("consent entry 2") && detail.contains("deny research"),
        "{detail}"
    );
    let out = dir.path().join("export");
    let o = export(&archive, &out, &id, "UTC");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match the audit log"));
    assert!(!out.exists());
    // An added grant, or a changed date, is caught the same way.
    forge(&archive, &id, |rec| {
        let mut g = rec["consent"][0].clone();
        g["scopes"] = serde_json::json!(["education"]);
        rec["consent"].as_array_mut().unwrap().push(g);
    });
    let (_, report) = verify_json(&archive, &[]);
    assert!(
        kinds(&report).contains(&"consent-mismatch".to_string()),
        "{report}"
    );
}

#[test]
fn recordings_and_tags_the_log_never_saw_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    forge(&archive, &id, |rec| {
        rec["tags"]["study"] = "not-logged".into();
    });
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&report), ["history-mismatch"], "{report}");
    // A tag set through visitrec is explained by the log.
    let dir2 = tempfile::tempdir().unwrap();
    let (archive2, id2) = archive_with_one(dir2.path());
    visitrec()
        .arg("tag")
        .arg(&archive2)
        .args([&id2, "--set", "study=logged", "--set", "room=1"])
        .assert()
        .success();
    visitrec()
        .arg("tag")
        .arg(&archive2)
        .args([&id2, "--unset", "room"])
        .assert()
        .success();
    let (code, report) = verify_json(&archive2, &[]);
    assert_eq!(code, 0, "{report}");
    // A recording folder no ingest introduced: the log does not know it.
    let first: serde_json::Value = serde_json::from_str(
        fs::read_to_string(archive2.join("audit.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["op"], "ingest");
    // Rebuild the chain so only the replay can notice.
    rewrite_audit(&archive2, |e, _, _| {
        if e["op"] == "ingest" {
            e["ids"] = serde_json::json!([]);
        }
    });
    let (code, report) = verify_json(&archive2, &[]);
    assert_eq!(code, 1);
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "history-mismatch"
                && p["detail"].as_str().unwrap().contains("no ingest entry")),
        "{report}"
    );
}

#[test]
fn entries_name_the_os_user_whatever_the_environment_says() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    // SAFETY-free way to learn who we are: the `id` command asks the OS too.
    let uid: u32 = String::from_utf8(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let name = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    visitrec()
        .env("USER", "mallory")
        .arg("consent")
        .arg(&archive)
        .args([&id, "--grant", "--scope", "care", "--by", "p"])
        .assert()
        .success();
    visitrec()
        .env_remove("USER")
        .env_remove("VISITREC_ACTOR")
        .arg("tag")
        .arg(&archive)
        .args([&id, "--set", "site=a"])
        .assert()
        .success();
    let ops = audit_ops(&archive);
    let n = ops.len();
    let (grant, tag) = (&ops[n - 2], &ops[n - 1]);
    assert_eq!(grant["actor"], "mallory");
    assert_eq!(grant["uid"], uid);
    assert_eq!(grant["user"], name.as_str());
    assert_eq!(
        tag["actor"],
        name.as_str(),
        "no declared actor: the OS name, never unknown"
    );
    assert_eq!(tag["uid"], uid);
    let rec = recording(&archive, &id);
    let entry = rec["consent"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(entry["recorded_by"], "mallory");
    assert_eq!(entry["recorded_by_uid"], uid);
    assert_eq!(entry["recorded_by_user"], name.as_str());
    assert!(
        !fs::read_to_string(archive.join("audit.jsonl"))
            .unwrap()
            .contains("\"unknown\"")
    );
}

#[test]
fn list_and_consent_believe_only_what_the_log_explains() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(
        &archive,
        &[fixture("phone/dictation.wav")],
        &["--consent-scope", "personal-use", "--consent-by", "p"],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    consent(&archive, &[&id, "--withdraw"]).success();
    forge(&archive, &id, |rec| {
        rec["consent"].as_array_mut().unwrap().pop();
    });
    let listed = visitrec()
        .arg("list")
        .arg(&archive)
        .args(["--consent", "personal-use"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&id));
    let (_, shown) = run_json(&["consent", &id], &archive);
    assert_eq!(shown["state"]["status"], "unverified", "{shown}");
    assert_eq!(shown["state"]["scopes"]["personal-use"]["permitted"], false);
}

#[test]
fn a_clock_set_back_does_not_undo_a_withdrawal() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    let utc = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let tomorrow = utc.date().tomorrow().unwrap().to_string();
    // A withdrawal taking effect tomorrow, recorded by a writer whose clock said tomorrow.
    consent(
        &archive,
        &[
            &id,
            "--withdraw",
            "--scope",
            "research",
            "--date",
            &tomorrow,
        ],
    )
    .success();
    rewrite_audit(&archive, |e, i, n| {
        if i + 1 == n {
            e["at"] = format!("{tomorrow}T09:00:00Z").into();
        }
    });
    // Now (the clock "back" at today) the export must still be refused.
    let export_dir = dir.path().join("export");
    let o = export(&archive, &export_dir, &id, "UTC");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!export_dir.exists());
    // And verify points at the clock that ran behind.
    let (_, report) = verify_json(&archive, &[]);
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "clock-backwards"),
        "{report}"
    );
}

#[test]
fn an_export_that_fails_at_the_end_is_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    // --out is an empty folder that cannot be replaced (a mount point): everything is
    // built, and only putting the export in place fails.
    let Some(busy) = mounted(1024, "export that fails at the end") else {
        return;
    };
    let before = audit_ops(&archive).len();
    let o = export(&archive, busy.path(), &id, "UTC");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ops: Vec<String> = audit_ops(&archive)[before..]
        .iter()
        .map(|e| e["op"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ops.is_empty(),
        "logged although nothing was exported: {ops:?}"
    );
    assert_eq!(fs::read_dir(busy.path()).unwrap().count(), 0);
    let parent = busy.path().parent().unwrap();
    let name = busy
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let litter: Vec<_> = fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!(".{name}.partial"))
        })
        .collect();
    assert!(litter.is_empty(), "staging left behind");
}

//! `tag`, `consent`, `list --consent`, `verify --require-consent`, the audit trail and `log`.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use predicates::prelude::*;
use serde_json::Value;

fn one(archive: &Path) -> String {
    let r = ingest_json(archive, &[fixture("phone/voice-memo.m4a")], &[]);
    r["ingested"][0]["id"].as_str().unwrap().to_string()
}

fn json(args: &[&str], archive: &Path) -> Value {
    let (code, v) = run_json(args, archive);
    assert_eq!(code, 0, "{args:?}: {v:#}");
    v
}

fn listed(archive: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["list"];
    args.extend_from_slice(extra);
    json(&args, archive)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tags_and_marks_are_set_removed_and_kept_in_order() {
    let (_d, archive) = new_archive();
    let id = one(&archive);
    let out = json(
        &[
            "tag",
            &id[..6],
            "--set",
            "visit_type=oncology",
            "--set",
            "clinician=C04",
            "--mark",
            "00:09=follow-up plan",
            "--mark",
            "0:02.5=medication change",
        ],
        &archive,
    );
    assert_eq!(out["changed"], true);
    let r = recording(&archive, &id);
    assert_eq!(r["tags"]["visit_type"], "oncology");
    assert_eq!(r["marks"][0]["at_s"], 2.5);
    assert_eq!(r["marks"][0]["label"], "medication change");
    assert_eq!(r["marks"][1]["at_s"], 9.0);
    // The same edit again: nothing written, no audit line.
    let before = snapshot(&archive);
    let out = json(
        &[
            "tag",
            &id,
            "--set",
            "visit_type=oncology",
            "--mark",
            "00:09=follow-up plan",
        ],
        &archive,
    );
    assert_eq!(out["changed"], false);
    assert_eq!(snapshot(&archive), before);
    json(
        &["tag", &id, "--unset", "clinician", "--unmark", "2.5"],
        &archive,
    );
    let r = recording(&archive, &id);
    assert!(r["tags"].get("clinician").is_none());
    assert_eq!(r["marks"].as_array().unwrap().len(), 1);
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn invalid_tag_edits_are_refused_and_change_nothing() {
    let (_d, archive) = new_archive();
    let id = one(&archive);
    json(&["tag", &id, "--mark", "00:05=kept"], &archive);
    let before = snapshot(&archive);
    for (args, needle) in [
        (vec!["--set", "Visit=x"], "tag key"),
        (vec!["--set", "k="], "must not be empty"),
        (vec!["--set", "k=a\u{1b}b"], "control character"),
        (
            vec!["--set", &format!("k={}", "x".repeat(1025))],
            "limit is 1024",
        ),
        (vec!["--mark", "00:60=x"], "not [[h:]mm:]ss"),
        (vec!["--mark", "1:00=too late"], "outside the recording"),
        (vec!["--mark", "00:05=other label"], "already has a mark"),
        (vec!["--mark", "00:03="], "must not be empty"),
        (vec!["--unmark", "00:04"], "no mark at"),
        (vec!["--unset", "nope"], "no tag nope"),
        // One bad change in a batch of good ones: nothing of the batch is applied.
        (vec!["--set", "good=1", "--mark", "2:00=late"], "outside"),
    ] {
        visitrec()
            .arg("tag")
            .arg(&archive)
            .arg(&id)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
        assert_eq!(snapshot(&archive), before, "{args:?} changed the archive");
    }
}

#[test]
fn a_refused_edit_says_what_kind_of_thing_is_wrong() {
    let (_d, archive) = new_archive();
    let id = one(&archive);
    for (args, kind, message) in [
        (
            vec!["tag", &id, "--set", "Visit=x"],
            "bad-tag-key",
            "tag key \"Visit\" is not valid",
        ),
        (
            vec!["tag", &id, "--set", "k="],
            "bad-text",
            "value of tag k must not be empty",
        ),
        (
            vec!["tag", &id, "--mark", "00:60=x"],
            "bad-time",
            "\"00:60\"",
        ),
        (
            vec!["tag", &id, "--unset", "nope"],
            "no-tag",
            "has no tag nope",
        ),
        (
            vec!["consent", &id, "--grant", "--scope", "ads", "--by", "p"],
            "bad-scope",
            "unknown consent scope \"ads\"",
        ),
        (
            vec![
                "consent",
                &id,
                "--grant",
                "--scope",
                "care",
                "--by",
                "p",
                "--date",
                "2026-13-01",
            ],
            "bad-date",
            "--date 2026-13-01: not a date (YYYY-MM-DD)",
        ),
        (
            vec!["normalize", &id, "--rate", "100"],
            "bad-value",
            "--rate 100: out of range (8000 to 192000 Hz)",
        ),
        (vec!["normalize"], "no-recordings-named", "or give --all"),
    ] {
        let (code, doc) = run_json(&args, &archive);
        assert_eq!(code, 2, "{args:?}: {doc}");
        assert_eq!(doc["error"]["kind"], kind, "{args:?}: {doc}");
        let shown = doc["error"]["message"].as_str().unwrap();
        assert!(shown.contains(message), "{args:?}: {shown}");
    }
}

#[test]
fn consent_is_enforced_by_scope_and_date_with_history_kept() {
    let (_d, archive) = new_archive();
    let id = one(&archive);
    let other = ingest_json(&archive, &[fixture("phone/dictation.wav")], &[])["ingested"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(listed(&archive, &["--consent", "research"]).is_empty());
    json(
        &[
            "consent",
            &id,
            "--grant",
            "--scope",
            "personal-use,family-sharing,research",
            "--by",
            "patient:P017",
            "--method",
            "verbal",
            "--witness",
            "clinician:C04",
            "--date",
            "2026-11-02",
            "--expires",
            "2031-11-02",
            "--note",
            "signed at reception",
        ],
        &archive,
    );
    assert_eq!(
        listed(&archive, &["--consent", "research"]),
        std::slice::from_ref(&id)
    );
    json(
        &[
            "consent",
            &id,
            "--withdraw",
            "--scope",
            "research",
            "--date",
            "2026-11-20",
        ],
        &archive,
    );
    // Withdrawn research, kept personal-use; before the withdrawal both held.
    assert!(listed(&archive, &["--consent", "research"]).is_empty());
    assert_eq!(
        listed(&archive, &["--consent", "personal-use"]),
        std::slice::from_ref(&id)
    );
    assert_eq!(
        listed(&archive, &["--consent", "research", "--at", "2026-11-19"]),
        std::slice::from_ref(&id)
    );
    // Expiry: the day after the last valid day, nothing.
    assert!(
        listed(
            &archive,
            &["--consent", "personal-use", "--at", "2031-11-03"]
        )
        .is_empty()
    );
    assert_eq!(
        listed(
            &archive,
            &["--consent", "personal-use", "--at", "2031-11-02"]
        ),
        std::slice::from_ref(&id)
    );
    // Not yet valid before its date.
    assert!(
        listed(
            &archive,
            &["--consent", "personal-use", "--at", "2026-11-01"]
        )
        .is_empty()
    );
    let shown = json(&["consent", &id], &archive);
    assert_eq!(
        shown["history"].as_array().unwrap().len(),
        2,
        "history keeps the grant"
    );
    assert_eq!(shown["history"][0]["provision"], "permit");
    assert_eq!(shown["history"][0]["witness"], "clinician:C04");
    assert_eq!(shown["history"][1]["provision"], "deny");
    assert_eq!(shown["state"]["lapsed"]["research"], "withdrawn");
    let all = json(&["list"], &archive);
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["consent_state"]["status"], "active");
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == other.as_str())
        .unwrap();
    assert_eq!(row["consent_state"]["status"], "none");
    visitrec()
        .arg("list")
        .arg(&archive)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "active: personal-use,family-sharing",
        ));
    // verify --require-consent: the recording without consent is a problem.
    let (code, r) = verify_json(&archive, &["--require-consent"]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&r), ["no-consent"]);
    assert!(r["problems"][0]["path"].as_str().unwrap().contains(&other));
    assert_eq!(
        verify_json(&archive, &[]).0,
        0,
        "consent is only checked when asked"
    );
}

#[test]
fn bad_consent_requests_are_refused_and_change_nothing() {
    let (_d, archive) = new_archive();
    let id = one(&archive);
    json(
        &[
            "consent",
            &id,
            "--grant",
            "--scope",
            "care",
            "--by",
            "patient:P1",
        ],
        &archive,
    );
    let before = snapshot(&archive);
    for (args, needle) in [
        (
            vec!["--grant", "--scope", "advertising", "--by", "p"],
            "unknown consent scope",
        ),
        (vec!["--grant", "--scope", "care"], "--by"),
        (
            vec![
                "--grant",
                "--scope",
                "care",
                "--by",
                "p",
                "--date",
                "2026-13-01",
            ],
            "not a date",
        ),
        (
            vec![
                "--grant",
                "--scope",
                "care",
                "--by",
                "p",
                "--date",
                "2026-05-01",
                "--expires",
                "2026-04-01",
            ],
            "before the consent date",
        ),
        (
            vec!["--withdraw", "--scope", "research"],
            "no grant of it is recorded",
        ),
        (vec!["--scope", "care"], "--grant or --withdraw"),
        (
            vec!["--grant", "--withdraw", "--scope", "care", "--by", "p"],
            "cannot be used with",
        ),
    ] {
        visitrec()
            .arg("consent")
            .arg(&archive)
            .arg(&id)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
        assert_eq!(snapshot(&archive), before, "{args:?} changed the archive");
    }
}

#[test]
fn ingest_applies_marks_and_consent_to_the_batch() {
    let (d, archive) = new_archive();
    let marks = d.path().join("marks.json");
    fs::write(
        &marks,
        r#"[{"at": "00:02.5", "label": "medication change"}, {"at": 9, "label": "plan"}]"#,
    )
    .unwrap();
    let r = ingest_json(
        &archive,
        &[
            fixture("phone/voice-memo.m4a"),
            fixture("formats/vorbis.ogg"),
        ],
        &[
            "--marks",
            marks.to_str().unwrap(),
            "--consent-scope",
            "research",
            "--consent-by",
            "study:S1",
            "--consent-method",
            "written",
            "--segment",
            "--at-marks",
        ],
    );
    // The 4-second Vorbis file is shorter than the mark at 9 s: rejected, not half-tagged.
    assert_eq!(r["ingested"].as_array().unwrap().len(), 1, "{r:#}");
    assert!(
        r["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside the recording"),
        "{r:#}"
    );
    let id = r["ingested"][0]["id"].as_str().unwrap();
    let recj = recording(&archive, id);
    assert_eq!(recj["consent"][0]["scopes"][0], "research");
    assert_eq!(recj["consent"][0]["method"], "written");
    assert_eq!(recj["marks"].as_array().unwrap().len(), 2);
    // --at-marks: the mark inside speech starts its own segment, labelled.
    let segs = recj["segments"].as_array().unwrap();
    let labelled = segs
        .iter()
        .find(|s| s["label"] == "medication change")
        .unwrap();
    assert_eq!(labelled["start_s"], 2.5);
    assert!(segs.iter().any(|s| s["label"] == "plan"));
    // A CSV marks file works the same; a malformed one is refused before anything runs.
    let bad = d.path().join("bad.csv");
    fs::write(&bad, "time,label\n00:02,ok\nnot a time,x\n").unwrap();
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/dictation.wav"))
        .arg("--marks")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.csv: line 3"));
}

#[test]
fn every_change_is_audited_and_a_hand_edited_line_is_caught() {
    let (_d, archive) = new_archive();
    let id = one(&archive);
    json(&["normalize", &id], &archive);
    json(&["segment", &id], &archive);
    json(&["tag", &id, "--set", "site=a"], &archive);
    json(
        &["consent", &id, "--grant", "--scope", "care", "--by", "p"],
        &archive,
    );
    visitrec()
        .arg("tag")
        .arg(&archive)
        .arg(&id)
        .args(["--set", "site=b", "--actor", "records-officer"])
        .assert()
        .success();
    let log = json(&["log", &id[..5]], &archive);
    let ops: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["ingest", "normalize", "segment", "tag", "consent", "tag"]
    );
    assert_eq!(log[5]["actor"], "records-officer");
    assert!(log[0]["tool"].as_str().unwrap().starts_with("visitrec/"));
    assert_eq!(verify_json(&archive, &[]).0, 0);

    // Edit a line and re-hash the tag manifest so that only the chain can tell.
    let path = archive.join("audit.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("\"op\":\"tag\"", "\"op\":\"tug\"", 1)).unwrap();
    rehash_entry(&archive, "tagmanifest-sha256.txt", "audit.jsonl");
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&r), ["audit-chain"], "{r:#}");
    assert!(
        r["problems"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("line 5"),
        "{r:#}"
    );
    // Removing a line is caught too.
    let lines: Vec<&str> = text.lines().collect();
    fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let (_, r) = verify_json(&archive, &[]);
    assert!(kinds(&r).contains(&"audit-chain".to_string()), "{r:#}");
}

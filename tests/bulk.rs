//! Consent and participants for files already archived (re-ingest), for many recordings at
//! once (`consent --from`), and a study's batch (`ingest --manifest`): applied completely,
//! logged so `verify` agrees, refused whole with every problem listed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Std;
use std::time::{Duration, Instant};

use common::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn text_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An archive with `n` distinct plain recordings (no participant, tags or consent) made
/// from `<root>/inbox/rNN.wav`; their ids in file order.
fn archive_with(root: &Path, n: u32) -> (PathBuf, Vec<String>) {
    let archive = archive_at(root);
    let inbox = root.join("inbox");
    fs::create_dir_all(&inbox).unwrap();
    let files: Vec<PathBuf> = (0..n)
        .map(|i| {
            let p = inbox.join(format!("r{i:02}.wav"));
            write_wav(&p, i, 0.5);
            p
        })
        .collect();
    let r = ingest_json(&archive, &files, &[]);
    let ids = files
        .iter()
        .map(|f| {
            r["ingested"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["path"] == f.to_str().unwrap())
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    (archive, ids)
}

fn audit_ops(archive: &Path) -> Vec<String> {
    fs::read_to_string(archive.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["op"].as_str().unwrap().to_string()
        })
        .collect()
}

// ---- re-ingest -------------------------------------------------------------------------

#[test]
fn reingest_applies_consent_participant_and_tags_to_files_already_archived() {
    let d = tempfile::tempdir().unwrap();
    let (archive, ids) = archive_with(d.path(), 1);
    let file = d.path().join("inbox/r00.wav");
    let flags = [
        "--consent-scope",
        "research,care",
        "--consent-by",
        "patient:P1",
        "--consent-method",
        "written",
        "--participant",
        "P1",
        "--tag",
        "site=lebanon",
    ];
    let out = visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(&file)
        .args(flags)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = text_of(&out);
    assert!(
        text.contains("0 ingested, 1 already present (1 given consent, 1 given participant, tags or marks), 0 rejected, 0 skipped"),
        "{text}"
    );
    let rec = recording(&archive, &ids[0]);
    assert_eq!(rec["participant"], "P1");
    assert_eq!(rec["tags"]["site"], "lebanon");
    assert_eq!(rec["consent"].as_array().unwrap().len(), 1);
    assert_eq!(rec["consent"][0]["by"], "patient:P1");
    assert_eq!(rec["consent"][0]["method"], "written");
    // Logged as the ordinary ops, which the replay in verify checks.
    let ops = audit_ops(&archive);
    assert_eq!(ops[ops.len() - 2..], ["consent", "tag"], "{ops:?}");
    assert_eq!(verify_json(&archive, &[]).0, 0);
    assert_eq!(verify_json(&archive, &["--require-consent"]).0, 0);

    // The same run again: the identical grant is not recorded twice, and the JSON says so.
    let before = snapshot(&archive);
    let r = ingest_json(&archive, std::slice::from_ref(&file), &flags);
    assert_eq!(r["given_consent"], 0);
    assert_eq!(r["duplicates"][0]["added"]["consent_already"], true);
    assert_eq!(r["duplicates"][0]["added"]["consent"], false);
    assert_eq!(
        snapshot(&archive),
        before,
        "a repeated run changed the archive"
    );

    // A grant that differs (another date) is a new entry; the JSON counts it.
    let mut other = flags.to_vec();
    other.extend(["--consent-date", "2026-01-05"]);
    let r = ingest_json(&archive, &[file], &other);
    assert_eq!(r["given_consent"], 1);
    assert_eq!(r["duplicates"][0]["added"]["consent"], true);
    assert_eq!(
        recording(&archive, &ids[0])["consent"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn reingest_refuses_a_participant_or_tag_that_differs_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (archive, ids) = archive_with(d.path(), 1);
    let file = d.path().join("inbox/r00.wav");
    let r = ingest_json(
        &archive,
        std::slice::from_ref(&file),
        &["--participant", "P1", "--tag", "site=a"],
    );
    assert_eq!(r["duplicates"][0]["added"]["participant"], true);
    let before = snapshot(&archive);
    for flags in [
        vec![
            "--participant",
            "P2",
            "--consent-scope",
            "research",
            "--consent-by",
            "p",
        ],
        vec![
            "--tag",
            "site=b",
            "--consent-scope",
            "research",
            "--consent-by",
            "p",
        ],
    ] {
        let out = visitrec()
            .arg("ingest")
            .arg(&archive)
            .arg(&file)
            .args(&flags)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        let err = stderr_of(&out);
        assert!(err.contains(&ids[0]) && err.contains("rejected"), "{err}");
        assert!(
            err.contains(r#"participant "P1", not "P2""#)
                || err.contains(r#"tag site="a", not "b""#),
            "{err}"
        );
        assert!(text_of(&out).contains("0 already present, 1 rejected"));
        // Nothing at all for that file, the consent included.
        assert_eq!(snapshot(&archive), before, "{flags:?}");
    }
}

// ---- consent --from --------------------------------------------------------------------

#[test]
fn consent_from_csv_applies_every_row_and_verify_agrees() {
    let d = tempfile::tempdir().unwrap();
    let (archive, ids) = archive_with(d.path(), 3);
    let sha = recording(&archive, &ids[1])["source"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let csv = d.path().join("consents.csv");
    // A spreadsheet's export: byte-order mark, CRLF, quoted lists, columns in any order.
    let text = format!(
        "\u{feff}provision,id,sha256,file_name,participant,scopes,by,method,date,expires,witness,note\r\n\
         permit,{},,,P1,\"research,care\",patient:P1,written,2026-11-01,2031-10-31,clinician:C4,\"signed, scanned\"\r\n\
         grant,,{sha},,P2,research,patient:P2,verbal,,,,\r\n\
         permit,,,r02.wav,,education,patient:P3,,,,,\r\n\
         withdraw,,,r02.wav,,education,patient:P3,,,,,changed mind\r\n\
         ,{},,,P3,,,,,,,\r\n",
        &ids[0][..6],
        ids[2]
    );
    fs::write(&csv, text).unwrap();
    let out = visitrec()
        .arg("consent")
        .arg(&archive)
        .arg("--from")
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        text_of(&out)
            .contains("5 rows: 4 consent entries recorded, 0 already recorded, 3 participants set"),
        "{}",
        text_of(&out)
    );
    let r0 = recording(&archive, &ids[0]);
    assert_eq!(r0["participant"], "P1");
    assert_eq!(r0["consent"][0]["witness"], "clinician:C4");
    assert_eq!(r0["consent"][0]["note"], "signed, scanned");
    assert_eq!(r0["consent"][0]["expires"], "2031-10-31");
    assert_eq!(recording(&archive, &ids[1])["participant"], "P2");
    let r2 = recording(&archive, &ids[2]);
    assert_eq!(r2["participant"], "P3");
    assert_eq!(r2["consent"][1]["provision"], "deny");
    assert_eq!(verify_json(&archive, &[]).0, 0);

    // `consent ID` shows the entries the file added.
    let shown = visitrec()
        .args(["consent"])
        .arg(&archive)
        .arg(&ids[0])
        .output()
        .unwrap();
    let shown = text_of(&shown);
    assert!(
        shown.contains("by patient:P1, written, witness clinician:C4"),
        "{shown}"
    );
    assert!(shown.contains("note: signed, scanned"), "{shown}");

    // Grants are not recorded twice: the grant rows of the file again change nothing.
    let grants: String = fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("withdraw"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&csv, grants).unwrap();
    let before = snapshot(&archive);
    let (code, r) = run_json(&["consent", "--from", csv.to_str().unwrap()], &archive);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["consent_already"], 3);
    assert_eq!(r["consent_added"], 0);
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn consent_from_refuses_the_whole_file_listing_every_problem() {
    let d = tempfile::tempdir().unwrap();
    let (archive, ids) = archive_with(d.path(), 2);
    // A second recording named r00.wav, in another folder.
    let other = d.path().join("other");
    fs::create_dir(&other).unwrap();
    write_wav(&other.join("r00.wav"), 99, 0.5);
    ingest_json(&archive, &[other.join("r00.wav")], &["--participant", "PX"]);
    let csv = d.path().join("c.csv");
    let before = snapshot(&archive);
    let refuse = |text: &[u8], wanted: &[&str]| {
        fs::write(&csv, text).unwrap();
        let out = visitrec()
            .arg("consent")
            .arg(&archive)
            .arg("--from")
            .arg(&csv)
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for w in wanted {
            assert!(err.contains(w), "missing {w:?} in: {err}");
        }
        assert!(err.contains("(nothing was changed)"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(
            snapshot(&archive),
            before,
            "refused file changed the archive"
        );
        let (_, j) = run_json(&["consent", "--from", csv.to_str().unwrap()], &archive);
        assert_eq!(j["error"]["kind"], "bad-csv");
    };
    let good_row = format!("{},permit,research,p", ids[0]);
    refuse(
        format!("id,provision,scopes,by,colour\n{good_row},red\n").as_bytes(),
        &[r#"c.csv:1: unknown column "colour""#],
    );
    refuse(
        format!("id,provision,id,by\n{good_row}\n").as_bytes(),
        &[r#"c.csv:1: column "id" appears twice"#],
    );
    refuse(
        b"participant,provision\nP1,permit\n",
        &["c.csv:1: no id, sha256 or file_name column"],
    );
    refuse(b"", &["c.csv:1: empty: a header row is required"]);
    refuse(b"\xff\xfeid\n", &["c.csv:1: not readable as UTF-8 CSV"]);
    let rows = [
        format!("{},P1,permit,research,patient:P1,,,,,", ids[0]), // 2: fine
        "ffffffffffff,,permit,research,p,,,,,".to_string(),       // 3: no match
        ",,permit,research,p,x.m4a,,,,".to_string(),              // 4: (file_name column below)
        format!("{},,permit,resarch,p,,,,,", ids[0]),             // 5: bad scope
        format!("{},,permit,research,,,,,,", ids[0]),             // 6: no by
        format!("{},,permit,research,p,,2026-13-01,,,", ids[0]),  // 7: bad date
        format!("{},,permit,research,p,,2026-05-01,2026-04-01,,", ids[0]), // 8: expiry first
        format!("{},,permit,research,p,,,,,\u{1b}[31mred", ids[0]), // 9: control character
        format!("{},,maybe,research,p,,,,,", ids[0]),             // 10: bad provision
        format!("{},,deny,care,p,,,,,", ids[1]),                  // 11: nothing granted
        format!("{},,deny,research,p,,,,clinician:C1,", ids[1]),  // 12: witness on a deny
        format!("{},,,,,,,,,", ids[1]),                           // 13: nothing to do
        format!("{},P9,,,,,,,,", ids[0]),                         // 14: after row 2: P1
        format!("{},,permit,research", ids[0]),                   // 15: too few fields
        ",,permit,research,p,r00.wav,,,,".to_string(),            // 16: two r00.wav
    ];
    let header = "id,participant,provision,scopes,by,file_name,date,expires,witness,note";
    let text = format!("{header}\n{}\n", rows.join("\n"));
    fs::write(&csv, &text).unwrap();
    refuse(
        text.as_bytes(),
        &[
            r#"c.csv:3: no recording matches id "ffffffffffff""#,
            r#"c.csv:4: no recording matches file_name "x.m4a""#,
            r#"c.csv:5: scopes: unknown consent scope "resarch""#,
            "c.csv:6: by is empty",
            "c.csv:7: date:",
            "c.csv:8: ",
            "before the consent date 2026-05-01",
            "c.csv:9: ",
            "control character",
            r#"c.csv:10: provision "maybe""#,
            "c.csv:12: witness goes with a grant",
            "c.csv:13: nothing to do",
            "c.csv:15: 4 fields, but the header has 10 columns",
            r#"c.csv:16: 2 recordings match file_name "r00.wav""#,
        ],
    );
    // Problems found against the history (once every row reads well) are listed too.
    let text = format!(
        "id,participant,provision,scopes,by\n{},P1,,,\n{},P9,,,\n{},,deny,care,p\n",
        ids[0], ids[0], ids[1]
    );
    refuse(
        text.as_bytes(),
        &[
            r#"c.csv:3: already archived as recording"#,
            r#"participant "P1", not "P9""#,
            "c.csv:4: recording",
            "cannot withdraw care",
        ],
    );
    // Two key columns naming different recordings.
    let text = format!(
        "id,file_name,provision,scopes,by\n{},r01.wav,permit,research,p\n",
        ids[0]
    );
    refuse(text.as_bytes(), &["c.csv:2: id names recording"]);
    // Too big.
    let mut big = b"id,note\n".to_vec();
    big.resize(17 * 1024 * 1024, b'x');
    refuse(&big, &["larger than 16 MiB"]);
}

/// The archive's recordings' consent entries, counted, after the next writer rolled any
/// committed journal forward.
fn consent_entries(archive: &Path, ids: &[String], any_file: &Path) -> usize {
    // A writer with nothing to do: it finishes a committed journal first.
    visitrec()
        .arg("ingest")
        .arg(archive)
        .arg(any_file)
        .arg("-q")
        .assert()
        .success();
    ids.iter()
        .map(|id| recording(archive, id)["consent"].as_array().unwrap().len())
        .sum()
}

/// Kills `args` at spread-out points; after each kill the archive verifies and holds all
/// of the change or none of it (`count` before: `none`, after: `all`).
fn kill_9_all_or_nothing(
    d: &Path,
    template: &Path,
    args: &[String],
    count: &dyn Fn(&Path) -> usize,
) {
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let archive = d.join("a");
    let none = count(template);
    copy_tree(template, &archive);
    let t = Instant::now();
    let ok = Std::new(&bin)
        .arg(&args[0])
        .arg(&archive)
        .args(&args[1..])
        .arg("-q")
        .status()
        .unwrap();
    assert!(ok.success(), "{args:?} fails even uninterrupted");
    let full = t.elapsed().as_micros().max(1000) as u64;
    let all = count(&archive);
    assert_ne!(none, all);
    let mut seed = 0x5EED_0FC0_FFEE_u64;
    let mut mid = 0;
    let mut seen = [0, 0];
    for round in 0..16 {
        fs::remove_dir_all(&archive).unwrap();
        copy_tree(template, &archive);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % full);
        let mut child = Std::new(&bin)
            .arg(&args[0])
            .arg(&archive)
            .args(&args[1..])
            .arg("-q")
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            mid += 1;
        }
        child.kill().ok();
        child.wait().unwrap();
        let (code, rep) = verify_json(&archive, &[]);
        assert_eq!(code, 0, "round {round}, killed after {delay:?}: {rep:#}");
        let n = count(&archive);
        assert!(n == none || n == all, "round {round}: {n} of {none}..{all}");
        seen[usize::from(n == all)] += 1;
    }
    assert!(mid >= 5, "only {mid} kills landed mid-run");
    eprintln!(
        "{args:?}: {} rounds left it before, {} after",
        seen[0], seen[1]
    );
}

#[test]
fn kill_9_during_consent_from_leaves_all_or_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (template, ids) = archive_with(d.path(), 24);
    let csv = d.path().join("consents.csv");
    let mut text = String::from("id,participant,provision,scopes,by,witness,note\n");
    for (i, id) in ids.iter().enumerate() {
        text.push_str(&format!(
            "{id},P{i},permit,\"research,care\",patient:P{i},clinician:C1,row {i}\n"
        ));
        text.push_str(&format!("{id},,permit,education,patient:P{i},,\n"));
    }
    fs::write(&csv, text).unwrap();
    let probe = d.path().join("inbox/r00.wav");
    let args: Vec<String> = vec![
        "consent".into(),
        "--from".into(),
        csv.to_string_lossy().into_owned(),
    ];
    kill_9_all_or_nothing(d.path(), &template, &args, &|a| {
        consent_entries(a, &ids, &probe)
    });
}

// ---- ingest --manifest -----------------------------------------------------------------

#[test]
fn ingest_manifest_ingests_each_file_with_its_row() {
    let d = tempfile::tempdir().unwrap();
    let (archive, ids) = archive_with(d.path(), 1);
    let study = d.path().join("study");
    fs::create_dir_all(study.join("visit-1")).unwrap();
    write_wav(&study.join("visit-1/a.wav"), 40, 0.5);
    write_wav(&study.join("b.wav"), 41, 0.5);
    fs::copy(d.path().join("inbox/r00.wav"), study.join("old.wav")).unwrap();
    let manifest = study.join("study.csv");
    fs::write(
        &manifest,
        "\u{feff}path,participant,tag:site,tag:visit,scopes,by,method,date,expires\n\
         visit-1/a.wav,P1,lebanon,1,\"research,care\",patient:P1,written,2026-11-01,2031-10-31\n\
         b.wav,P2,lebanon,,,,,,\n\
         old.wav,P3,,,research,patient:P3,,,\n",
    )
    .unwrap();
    let out = visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        text_of(&out).contains("2 ingested, 1 already present (1 given consent, 1 given participant, tags or marks), 0 rejected"),
        "{}",
        text_of(&out)
    );
    let (_, list) = run_json(&["list"], &archive);
    let by_participant = |p: &str| {
        let id = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["participant"] == p)
            .unwrap_or_else(|| panic!("no {p}: {list:#}"))["id"]
            .as_str()
            .unwrap()
            .to_string();
        recording(&archive, &id)
    };
    let a = by_participant("P1");
    assert_eq!(a["tags"]["site"], "lebanon");
    assert_eq!(a["tags"]["visit"], "1");
    assert_eq!(
        a["consent"][0]["scopes"],
        serde_json::json!(["care", "research"])
    );
    assert_eq!(a["consent"][0]["expires"], "2031-10-31");
    let b = by_participant("P2");
    assert_eq!(b["tags"], serde_json::json!({"site": "lebanon"}));
    assert_eq!(b["consent"], serde_json::json!([]));
    let old = recording(&archive, &ids[0]);
    assert_eq!(old["participant"], "P3");
    assert_eq!(old["consent"][0]["by"], "patient:P3");
    // Each file's own consent and tags are in the log, so the replay agrees.
    assert_eq!(verify_json(&archive, &[]).0, 0);
    let ops = audit_ops(&archive);
    assert_eq!(ops[1..], ["ingest", "ingest", "consent", "tag"], "{ops:?}");
}

#[test]
fn ingest_manifest_refuses_the_whole_file() {
    let d = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with(d.path(), 1);
    let study = d.path().join("study");
    fs::create_dir_all(&study).unwrap();
    write_wav(&study.join("a.wav"), 50, 0.5);
    write_wav(&study.join("b.wav"), 51, 0.5);
    fs::write(study.join("notes.m4a"), b"not audio at all").unwrap();
    std::os::unix::fs::symlink(study.join("a.wav"), study.join("link.wav")).unwrap();
    fs::copy(d.path().join("inbox/r00.wav"), study.join("old.wav")).unwrap();
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(study.join("old.wav"))
        .args(["--participant", "P1"])
        .assert()
        .success();
    let manifest = study.join("m.csv");
    let before = snapshot(&archive);
    let refuse = |text: &str, wanted: &[&str]| {
        fs::write(&manifest, text).unwrap();
        let out = visitrec()
            .arg("ingest")
            .arg(&archive)
            .arg("--manifest")
            .arg(&manifest)
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for w in wanted {
            assert!(err.contains(w), "missing {w:?} in: {err}");
        }
        assert_eq!(
            snapshot(&archive),
            before,
            "refused manifest changed the archive"
        );
    };
    refuse(
        "path,participant,tag:Site,colour\na.wav,P1,,\n",
        &[
            r#"m.csv:1: unknown column "tag:Site""#,
            r#"m.csv:1: unknown column "colour""#,
        ],
    );
    refuse("participant\nP1\n", &[r#"m.csv:1: no "path" column"#]);
    refuse("path\n", &["m.csv:1: no rows"]);
    refuse(
        "path,participant,tag:site,scopes,by\n\
         a.wav,P1,,,\n\
         ../escape.wav,,,,\n\
         /etc/passwd,,,,\n\
         missing.wav,,,,\n\
         a.wav,,,,\n\
         link.wav,,,,\n\
         b.wav,\u{7},x\u{1b}y,,\n\
         b.wav,,,resarch,p\n\
         b.wav,,,research,\n",
        &[
            r#"m.csv:3: path "../escape.wav" climbs out"#,
            r#"m.csv:4: path "/etc/passwd" is absolute"#,
            r#"m.csv:5: "missing.wav": no such file"#,
            r#"m.csv:6: path "a.wav" is listed twice"#,
            r#"m.csv:7: "link.wav" is a symbolic link"#,
            "m.csv:8: participant contains the control character",
            "m.csv:8: value of tag site contains the control character",
            "m.csv:9: ",
            "m.csv:10: by is empty",
        ],
    );
    // Problems found only when the files are read refuse the whole batch too: the good
    // file a.wav is not ingested either.
    fs::copy(study.join("b.wav"), study.join("b-copy.wav")).unwrap();
    refuse(
        "path,participant\na.wav,P2\nnotes.m4a,P3\nold.wav,P9\nb.wav,P4\nb-copy.wav,P5\n",
        &[
            "m.csv:3: ",
            "notes.m4a",
            "m.csv:4: ",
            r#"participant "P1", not "P9""#,
            "m.csv:6: ",
            "has the same content as another file of the manifest",
            "(nothing was changed)",
        ],
    );
    // The manifest gives each file's participant, tags and consent: the batch flags are
    // refused with it.
    for flags in [
        vec!["--participant", "P1"],
        vec!["--consent-scope", "research", "--consent-by", "p"],
    ] {
        fs::write(&manifest, "path\na.wav\n").unwrap();
        let out = visitrec()
            .arg("ingest")
            .arg(&archive)
            .arg("--manifest")
            .arg(&manifest)
            .args(&flags)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert_eq!(snapshot(&archive), before);
    }
}

#[test]
fn kill_9_during_ingest_manifest_leaves_all_or_nothing() {
    let d = tempfile::tempdir().unwrap();
    let template = archive_at(d.path());
    let study = d.path().join("study");
    fs::create_dir_all(&study).unwrap();
    let mut text = String::from("path,participant,scopes,by\n");
    for i in 0..24 {
        write_wav(&study.join(format!("v{i:02}.wav")), 60 + i, 0.5);
        text.push_str(&format!("v{i:02}.wav,P{i},research,patient:P{i}\n"));
    }
    let manifest = study.join("study.csv");
    fs::write(&manifest, text).unwrap();
    let args: Vec<String> = vec![
        "ingest".into(),
        "--manifest".into(),
        manifest.to_string_lossy().into_owned(),
    ];
    // Readers see a committed journal's changes even before a writer finishes it.
    let count = |a: &Path| {
        let (_, list) = run_json(&["list"], a);
        list.as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["participant"]
                    .as_str()
                    .is_some_and(|p| p.starts_with('P'))
            })
            .count()
    };
    kill_9_all_or_nothing(d.path(), &template, &args, &count);
}

//! A history that cannot be rewritten unseen: the tag manifest and audit log are required,
//! anchors (`log --head`, `verify --anchor`) catch truncated and rebuilt chains, and signed
//! checkpoints (`checkpoint`, `verify --allowed-signers`) interoperate with `ssh-keygen -Y`
//! in both directions (these fail, never skip, without it: scripts/test installs it).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

use common::*;
use serde_json::Value;

const TAGS: &str = "tagmanifest-sha256.txt";
const LOG: &str = "audit.jsonl";
const CHECKPOINTS: &str = "checkpoints.jsonl";

/// An archive with one recording and three audit lines (ingest, two tags), and its id.
fn archive_with_history(root: &Path) -> (PathBuf, String) {
    let (archive, id) = archive_with_one(root);
    for kv in ["clinic=cardiology", "room=4"] {
        visitrec()
            .args(["tag", "-q"])
            .arg(&archive)
            .args([&id, "--set", kv])
            .assert()
            .success();
    }
    assert_eq!(log_lines(&archive).len(), 3);
    (archive, id)
}

fn log_lines(archive: &Path) -> Vec<String> {
    fs::read_to_string(archive.join(LOG))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Rewrites the audit log as `lines` and recomputes its tag manifest entry, as someone
/// with write access to the whole archive can.
fn rewrite_log(archive: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    fs::write(archive.join(LOG), text).unwrap();
    rehash_entry(archive, TAGS, LOG);
}

/// Removes `rel`'s line from the tag manifest.
fn unlist(archive: &Path, rel: &str) {
    let path = archive.join(TAGS);
    let text: String = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with(&format!("  {rel}")))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(path, text).unwrap();
}

fn head(archive: &Path) -> String {
    let out = visitrec()
        .arg("log")
        .arg(archive)
        .arg("--head")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn problems_of(report: &Value, kind: &str) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == kind)
        .map(|p| {
            format!(
                "{}: {}",
                p["path"].as_str().unwrap(),
                p["detail"].as_str().unwrap()
            )
        })
        .collect()
}

fn warnings_of(report: &Value, kind: &str) -> Vec<String> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == kind)
        .map(|w| {
            format!(
                "{}: {}",
                w["path"].as_str().unwrap(),
                w["detail"].as_str().unwrap()
            )
        })
        .collect()
}

// ---- the tag manifest and the audit log are required -------------------------------------

#[test]
fn truncated_log_without_its_tag_manifest_is_not_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let lines = log_lines(&archive);
    fs::write(archive.join(LOG), format!("{}\n", lines[0])).unwrap();
    fs::remove_file(archive.join(TAGS)).unwrap();
    for extra in [&[][..], &["--fast"]] {
        let (code, r) = verify_json(&archive, extra);
        assert_eq!(code, 1, "{extra:?}: {r:#}");
        let bad = problems_of(&r, "bad-manifest");
        assert!(
            bad.iter()
                .any(|p| p.starts_with(TAGS) && p.contains("missing")),
            "{r:#}"
        );
    }
    let out = visitrec().arg("verify").arg(&archive).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad-manifest  tagmanifest-sha256.txt: tag manifest is missing"),
        "kinds print as documented: {text}"
    );
}

#[test]
fn deleted_log_and_tag_manifest_are_not_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    fs::remove_file(archive.join(LOG)).unwrap();
    fs::remove_file(archive.join(TAGS)).unwrap();
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(problems_of(&r, "bad-manifest").len(), 1, "{r:#}");
    let chain = problems_of(&r, "audit-chain");
    assert!(
        chain.len() == 1 && chain[0].contains("1 recording(s)"),
        "{r:#}"
    );
}

#[test]
fn a_deleted_log_is_caught_even_with_a_consistent_tag_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    fs::remove_file(archive.join(LOG)).unwrap();
    unlist(&archive, LOG);
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 1, "{r:#}");
    // The replay adds that the log no longer explains the recording's history.
    let mut k = kinds(&r);
    k.dedup();
    assert_eq!(
        k,
        ["audit-chain", "consent-mismatch", "history-mismatch"],
        "{r:#}"
    );
    // An emptied log is no better than a deleted one.
    fs::write(archive.join(LOG), "").unwrap();
    let (code, r) = verify_json(&archive, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert!(kinds(&r).contains(&"audit-chain".to_string()), "{r:#}");
}

#[test]
fn a_tag_file_the_tag_manifest_does_not_list_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let base = dir.path().join("base");
    copy_tree(&archive, &base);
    for rel in [LOG, "bag-info.txt", "manifest-sha256.txt", "bagit.txt"] {
        let a = dir.path().join(format!("case-{rel}"));
        copy_tree(&base, &a);
        unlist(&a, rel);
        let (code, r) = verify_json(&a, &[]);
        assert_eq!(code, 1, "{rel}: {r:#}");
        let bad = problems_of(&r, "bad-manifest");
        assert!(
            bad.iter()
                .any(|p| p.contains(&format!("does not list the tag file {rel}"))),
            "{rel}: {r:#}"
        );
    }
}

#[test]
fn a_new_archive_and_an_export_have_no_log_and_are_intact() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    assert!(!archive.join(LOG).exists());
    assert_eq!(verify_json(&archive, &[]).0, 0);
    assert_eq!(head(&archive), format!("0:{}", "0".repeat(64)));
    let anchor = head(&archive);
    assert_eq!(verify_json(&archive, &["--anchor", &anchor]).0, 0);

    let (archive, id) = archive_with_one(&dir.path().join("other"));
    let export = dir.path().join("export");
    visitrec()
        .arg("encrypt")
        .arg(&archive)
        .args([&id, "-r", &age_public(), "--purpose", "research", "--out"])
        .arg(&export)
        .args(["-q"])
        .assert()
        .success();
    assert!(!export.join(LOG).exists());
    let (code, r) = verify_json(&export, &[]);
    assert_eq!(code, 0, "{r:#}");
    // Anchors and checkpoints concern an archive's log: for an export they are a usage error.
    for flag in [
        vec!["--anchor".to_string(), anchor.clone()],
        vec!["--allowed-signers".to_string(), allowed_signers(dir.path())],
    ] {
        let out = visitrec()
            .arg("verify")
            .arg(&export)
            .args(&flag)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {err}");
        assert!(err.contains("is an export"), "{err}");
    }
}

fn age_public() -> String {
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into()
}

// ---- anchors --------------------------------------------------------------------------------

#[test]
fn an_anchor_catches_a_truncated_log_and_a_rebuilt_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = archive_with_history(dir.path());
    let anchor = head(&base);
    assert!(anchor.starts_with("3:"), "{anchor}");
    let lines = log_lines(&base);

    let truncated = dir.path().join("truncated");
    copy_tree(&base, &truncated);
    rewrite_log(&truncated, &lines[..2]);
    let rebuilt = dir.path().join("rebuilt");
    copy_tree(&base, &rebuilt);
    // The same entries, each claimed by someone else and chained again from scratch: the
    // replay of consent, ingests and tags finds nothing wrong with it.
    rewrite_audit(&rebuilt, |e, _, _| e["actor"] = "mallory".into());

    for (a, want) in [(&truncated, "only 2 line(s)"), (&rebuilt, "rewritten")] {
        // Checked only against itself, a chain rebuilt with the same entries looks intact:
        // that is the hole. (Dropping lines is also seen by the replay when they explain
        // the recordings' state, as these tag lines do.)
        if a == &rebuilt {
            assert_eq!(verify_json(a, &[]).0, 0, "{}", a.display());
        }
        for extra in [&[][..], &["--fast"]] {
            let mut args = vec!["--anchor", anchor.as_str()];
            args.extend_from_slice(extra);
            let (code, r) = verify_json(a, &args);
            assert_eq!(code, 1, "{}: {r:#}", a.display());
            let found = problems_of(&r, "anchor");
            assert!(
                found.len() == 1 && found[0].starts_with(LOG) && found[0].contains(want),
                "{r:#}"
            );
        }
    }
}

#[test]
fn anchors_hold_as_the_log_grows_and_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_history(dir.path());
    let anchors = dir.path().join("anchors.txt");
    fs::write(&anchors, format!("# nightly heads\n{}\n\n", head(&archive))).unwrap();
    visitrec()
        .args(["tag", "-q"])
        .arg(&archive)
        .args([&id, "--unset", "room"])
        .assert()
        .success();
    let mut text = fs::read_to_string(&anchors).unwrap();
    text.push_str(&format!("{}\n", head(&archive)));
    fs::write(&anchors, text).unwrap();
    let (code, r) = verify_json(&archive, &["--anchors", anchors.to_str().unwrap()]);
    assert_eq!(code, 0, "{r:#}");
    // Each anchor in the file counts: one broken line fails the run.
    let lines = log_lines(&archive);
    rewrite_log(&archive, &lines[..3]);
    let (code, r) = verify_json(&archive, &["--anchors", anchors.to_str().unwrap()]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(problems_of(&r, "anchor").len(), 1, "{r:#}");
    let json = visitrec()
        .arg("log")
        .arg(&archive)
        .args(["--head", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["seq"], 3);
    assert_eq!(v["head"].as_str().unwrap().len(), 64);
}

#[test]
fn malformed_anchors_exit_2_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let before = snapshot(&archive);
    let good = head(&archive);
    let file = dir.path().join("anchors.txt");
    fs::write(&file, format!("{good}\n3 {}\n", &good[2..])).unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--anchor".into(), "3".into()],
            "--anchor 3: not SEQ:HASH".into(),
        ),
        (
            vec!["--anchor".into(), format!("x:{}", &good[2..])],
            "is not a line number".into(),
        ),
        (
            vec!["--anchor".into(), "3:abc".into()],
            "64 hex digits".into(),
        ),
        (
            vec!["--anchors".into(), file.to_str().unwrap().into()],
            format!("{}: line 2: not SEQ:HASH", file.display()),
        ),
        (
            vec![
                "--anchors".into(),
                dir.path().join("none").to_str().unwrap().into(),
            ],
            "no such file".into(),
        ),
    ];
    for (args, want) in cases {
        let out = visitrec()
            .arg("verify")
            .arg(&archive)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn log_head_refuses_a_broken_or_unlisted_log() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let mut lines = log_lines(&archive);
    lines[1] = lines[1].replace("\"tag\"", "\"tug\"");
    rewrite_log(&archive, &lines);
    let out = visitrec()
        .arg("log")
        .arg(&archive)
        .arg("--head")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("audit.jsonl: line 3") && err.contains("chain is broken"),
        "{err}"
    );
    // A log edited without its tag manifest entry is not vouched for either.
    fs::write(archive.join(LOG), format!("{}\n", log_lines(&archive)[0])).unwrap();
    let out = visitrec()
        .arg("log")
        .arg(&archive)
        .arg("--head")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not match tagmanifest-sha256.txt"),
        "{err}"
    );
}

// ---- signed checkpoints -----------------------------------------------------------------

/// The test key, copied to `dir` with the 0600 mode ssh-keygen insists on.
fn test_key(dir: &Path) -> PathBuf {
    let key = dir.join("id_ed25519");
    if !key.exists() {
        fs::copy(fixture("keys/test_ed25519"), &key).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    }
    key
}

/// A second ed25519 key (not in the allowed signers), written to `dir`.
fn other_key(dir: &Path) -> PathBuf {
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[9; 32]));
    let path = dir.join("other_ed25519");
    fs::write(
        &path,
        key.to_openssh(ssh_key::LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// An allowed_signers file trusting the test key as `custodian@example.org`.
fn allowed_signers(dir: &Path) -> String {
    let path = dir.join("allowed_signers");
    let public = fs::read_to_string(fixture("keys/test_ed25519.pub")).unwrap();
    fs::write(
        &path,
        format!("# who may sign checkpoints\ncustodian@example.org namespaces=\"visitrec-audit\" {public}"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn checkpoint(archive: &Path, key: &Path) -> Value {
    let (code, v) = run_json(&["checkpoint", "--key", key.to_str().unwrap()], archive);
    assert_eq!(code, 0, "{v:#}");
    v
}

fn checkpoint_lines(archive: &Path) -> Vec<Value> {
    fs::read_to_string(archive.join(CHECKPOINTS))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_checkpoint_signs_the_head_and_verifies_against_allowed_signers() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_history(dir.path());
    let key = test_key(dir.path());
    let allowed = allowed_signers(dir.path());
    let anchor = head(&archive);
    let v = checkpoint(&archive, &key);
    assert_eq!(v["already_signed"], false);
    let c = &v["checkpoint"];
    assert_eq!(
        format!("{}:{}", c["seq"], c["head"].as_str().unwrap()),
        anchor
    );
    assert_eq!(
        c["key"].as_str().unwrap().split(' ').count(),
        2,
        "no comment: {c}"
    );
    // Checkpointing is not logged (that would move the head past what it signs), and the
    // file is in the tag manifest.
    assert_eq!(head(&archive), anchor);
    assert!(
        fs::read_to_string(archive.join(TAGS))
            .unwrap()
            .contains(CHECKPOINTS)
    );
    // The same head again: nothing is written.
    let before = snapshot(&archive);
    assert_eq!(checkpoint(&archive, &key)["already_signed"], true);
    assert_eq!(snapshot(&archive), before);

    let (code, r) = verify_json(&archive, &["--allowed-signers", &allowed]);
    assert_eq!(code, 0, "{r:#}");
    assert!(warnings_of(&r, "unsigned-history").is_empty(), "{r:#}");
    // A later change is unsigned history until the next checkpoint.
    visitrec()
        .args(["tag", "-q"])
        .arg(&archive)
        .args([&id, "--set", "bed=2"])
        .assert()
        .success();
    let (code, r) = verify_json(&archive, &["--allowed-signers", &allowed]);
    assert_eq!(code, 0, "{r:#}");
    let w = warnings_of(&r, "unsigned-history");
    assert!(
        w.len() == 1 && w[0].contains("line 4") && w[0].contains("seq 3"),
        "{r:#}"
    );
    checkpoint(&archive, &key);
    assert_eq!(checkpoint_lines(&archive).len(), 2);
    let (code, r) = verify_json(&archive, &["--allowed-signers", &allowed, "--fast"]);
    assert_eq!(code, 0, "{r:#}");
    assert!(warnings_of(&r, "unsigned-history").is_empty(), "{r:#}");
}

#[test]
fn a_forged_entry_after_the_last_checkpoint_shows_as_unsigned_history() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    checkpoint(&archive, &test_key(dir.path()));
    let text = fs::read_to_string(archive.join(LOG)).unwrap();
    let forged = visitrec::audit::append(
        &text,
        &[visitrec::audit::Pending {
            op: "consent".into(),
            ids: vec![],
            details: Value::Null,
        }],
        "mallory",
        &visitrec::archive::software_agent(),
    );
    rewrite_log(
        &archive,
        &forged.lines().map(str::to_string).collect::<Vec<_>>(),
    );
    let (code, r) = verify_json(
        &archive,
        &["--allowed-signers", &allowed_signers(dir.path())],
    );
    assert_eq!(
        code, 0,
        "a well-chained append is not provably forged: {r:#}"
    );
    let w = warnings_of(&r, "unsigned-history");
    assert!(w.len() == 1 && w[0].contains("line 4"), "{r:#}");
}

#[test]
fn history_rewritten_under_a_checkpoint_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    checkpoint(&archive, &test_key(dir.path()));
    let base = dir.path().join("base");
    copy_tree(&archive, &base);
    let lines = log_lines(&base);
    let allowed = allowed_signers(dir.path());

    let rebuilt = dir.path().join("rebuilt");
    copy_tree(&base, &rebuilt);
    // The same entries, each claimed by someone else and chained again from scratch: the
    // replay of consent, ingests and tags finds nothing wrong with it.
    rewrite_audit(&rebuilt, |e, _, _| e["actor"] = "mallory".into());
    let truncated = dir.path().join("truncated");
    copy_tree(&base, &truncated);
    rewrite_log(&truncated, &lines[..2]);
    for a in [&rebuilt, &truncated] {
        for extra in [&["--allowed-signers", allowed.as_str()][..], &[]] {
            let (code, r) = verify_json(a, extra);
            assert_eq!(code, 1, "{} {extra:?}: {r:#}", a.display());
            let found = problems_of(&r, "checkpoint");
            assert!(
                found[0].starts_with(CHECKPOINTS) && found[0].contains("changed since"),
                "{r:#}"
            );
        }
    }
}

#[test]
fn forged_removed_or_edited_checkpoints_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = archive_with_history(dir.path());
    let allowed = allowed_signers(dir.path());
    let case = |name: &str| {
        let a = dir.path().join(name);
        copy_tree(&base, &a);
        a
    };

    // Signed by a key that is not allowed.
    let stranger = case("stranger");
    checkpoint(&stranger, &other_key(dir.path()));
    let (code, r) = verify_json(&stranger, &["--allowed-signers", &allowed]);
    assert_eq!(code, 1, "{r:#}");
    let found = problems_of(&r, "checkpoint");
    assert!(found.iter().any(|p| p.contains("do not allow")), "{r:#}");
    assert!(
        found
            .iter()
            .any(|p| p.contains("no checkpoint by an allowed signer")),
        "{r:#}"
    );

    // Removed, with the tag manifest made consistent again.
    let removed = case("removed");
    checkpoint(&removed, &test_key(dir.path()));
    fs::remove_file(removed.join(CHECKPOINTS)).unwrap();
    unlist(&removed, CHECKPOINTS);
    assert_eq!(verify_json(&removed, &[]).0, 0);
    let (code, r) = verify_json(&removed, &["--allowed-signers", &allowed]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(problems_of(&r, "checkpoint").len(), 1, "{r:#}");

    // Edited: the signed time moved, the seq changed, the signature cut short.
    for (field, value) in [
        ("at", Value::from("2030-01-01T00:00:00Z")),
        ("seq", Value::from(2)),
        (
            "signature",
            Value::from("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"),
        ),
    ] {
        let edited = case(&format!("edited-{field}"));
        checkpoint(&edited, &test_key(dir.path()));
        let mut c = checkpoint_lines(&edited).remove(0);
        c[field] = value;
        fs::write(edited.join(CHECKPOINTS), format!("{c}\n")).unwrap();
        rehash_entry(&edited, TAGS, CHECKPOINTS);
        let (code, r) = verify_json(&edited, &[]);
        assert_eq!(code, 1, "{field}: {r:#}");
        let found = problems_of(&r, "checkpoint");
        assert!(
            found.len() == 1 && found[0].contains("line 1:"),
            "{field}: {r:#}"
        );
    }

    // Listed nowhere: a tag file the tag manifest does not cover.
    let unlisted = case("unlisted");
    checkpoint(&unlisted, &test_key(dir.path()));
    unlist(&unlisted, CHECKPOINTS);
    let (code, r) = verify_json(&unlisted, &[]);
    assert_eq!(code, 1, "{r:#}");
    assert!(
        problems_of(&r, "bad-manifest")[0].contains("does not list the tag file checkpoints.jsonl"),
        "{r:#}"
    );
    // And a checkpoint is not signed onto a damaged file.
    let out = visitrec()
        .arg("checkpoint")
        .arg(&unlisted)
        .arg("--key")
        .arg(test_key(dir.path()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("checkpoints.jsonl: does not match"), "{err}");
}

#[test]
fn checkpoint_refuses_what_it_cannot_vouch_for_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let keys = dir.path().join("keys");
    fs::create_dir(&keys).unwrap();
    let keygen = |name: &str, args: &[&str]| {
        let path = keys.join(name);
        let ok = ssh_keygen()
            .args(["-q", "-C", "test", "-f"])
            .arg(&path)
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success());
        path
    };
    let ecdsa = keygen("ecdsa", &["-t", "ecdsa", "-N", ""]);
    let locked = keygen("locked", &["-t", "ed25519", "-N", "a passphrase"]);
    let garbage = keys.join("garbage");
    fs::write(&garbage, "not a key\n").unwrap();
    let public = fixture("keys/test_ed25519.pub");
    let cases = [
        (ecdsa, "ed25519 keys only"),
        (locked, "passphrase-protected"),
        (garbage, "not an OpenSSH private key"),
        (public, "not an OpenSSH private key"),
        (keys.join("absent"), "no such file"),
    ];
    let before = snapshot(&archive);
    for (key, want) in &cases {
        let out = visitrec()
            .arg("checkpoint")
            .arg(&archive)
            .arg("--key")
            .arg(key)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", key.display());
        assert!(
            err.contains(want) && err.contains(key.to_str().unwrap()),
            "{}: {err}",
            key.display()
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(snapshot(&archive), before);
    // A broken chain is not signed, nor an empty log.
    let mut lines = log_lines(&archive);
    lines.remove(1);
    rewrite_log(&archive, &lines);
    let fresh = archive_at(&dir.path().join("fresh"));
    let key = test_key(dir.path());
    for (a, want) in [
        (&archive, "chain is broken"),
        (&fresh, "audit log is empty"),
    ] {
        let before = snapshot(a);
        let out = visitrec()
            .arg("checkpoint")
            .arg(a)
            .arg("--key")
            .arg(&key)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}");
        assert_eq!(snapshot(a), before);
    }
}

#[test]
fn malformed_allowed_signers_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let public = fs::read_to_string(fixture("keys/test_ed25519.pub")).unwrap();
    let path = dir.path().join("allowed_signers");
    for (text, want) in [
        (format!("# ok\nalice {public}bob\n"), "line 3: no key"),
        (
            format!("alice cert-authority {public}"),
            "line 1: option cert-authority is not supported",
        ),
        (
            "\nalice ssh-ed25519 AAAA\n".to_string(),
            "line 2: not a valid ssh-ed25519 public key",
        ),
    ] {
        fs::write(&path, &text).unwrap();
        let out = visitrec()
            .arg("verify")
            .arg(&archive)
            .arg("--allowed-signers")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(&format!("{}: {want}", path.display())),
            "{text}: {err}"
        );
    }
}

// ---- interop with ssh-keygen -Y ---------------------------------------------------------

fn ssh_keygen() -> Std {
    let ok = Std::new("ssh-keygen")
        .arg("-?")
        .output()
        .is_ok_and(|o| !o.stderr.is_empty());
    assert!(
        ok,
        "ssh-keygen is required for the interop tests; run scripts/test (apt-get install -y openssh-client)"
    );
    Std::new("ssh-keygen")
}

/// The message of a checkpoint, rebuilt from its fields as docs/FORMAT.md specifies.
fn documented_message(c: &Value) -> String {
    format!(
        "visitrec-audit-checkpoint v1\nseq: {}\nhead: {}\nat: {}\n",
        c["seq"],
        c["head"].as_str().unwrap(),
        c["at"].as_str().unwrap()
    )
}

#[test]
fn interop_ssh_keygen_verifies_a_visitrec_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let c = checkpoint(&archive, &test_key(dir.path()))["checkpoint"].clone();
    assert_eq!(checkpoint_lines(&archive)[0], c);
    let sig = dir.path().join("checkpoint.sig");
    fs::write(&sig, c["signature"].as_str().unwrap()).unwrap();
    let message = documented_message(&c);
    let verify = |message: &str, namespace: &str| {
        let msg = dir.path().join("message");
        fs::write(&msg, message).unwrap();
        let out = ssh_keygen()
            .args(["-Y", "verify", "-f", &allowed_signers(dir.path())])
            .args(["-I", "custodian@example.org", "-n", namespace, "-s"])
            .arg(&sig)
            .stdin(fs::File::open(&msg).unwrap())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = verify(&message, "visitrec-audit");
    assert!(ok, "ssh-keygen rejects the checkpoint: {out}");
    assert!(out.contains("Good \"visitrec-audit\" signature"), "{out}");
    // Exactly those bytes: one more newline, or another namespace, and it fails.
    assert!(!verify(&format!("{message}\n"), "visitrec-audit").0);
    assert!(!verify(&message, "git").0);
}

#[test]
fn interop_visitrec_accepts_a_checkpoint_signed_by_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_history(dir.path());
    let anchor = head(&archive);
    let (seq, head_hash) = anchor.split_once(':').unwrap();
    let at = "2026-02-03T04:05:06Z";
    let msg = dir.path().join("message");
    let message =
        format!("visitrec-audit-checkpoint v1\nseq: {seq}\nhead: {head_hash}\nat: {at}\n");
    fs::write(&msg, &message).unwrap();
    let key = test_key(dir.path());
    let ok = ssh_keygen()
        .args(["-q", "-Y", "sign", "-n", "visitrec-audit", "-f"])
        .arg(&key)
        .arg(&msg)
        .status()
        .unwrap();
    assert!(ok.success());
    let signature = fs::read_to_string(dir.path().join("message.sig")).unwrap();
    let fingerprint = Std::new("ssh-keygen")
        .arg("-lf")
        .arg(fixture("keys/test_ed25519.pub"))
        .output()
        .unwrap();
    let fingerprint = String::from_utf8(fingerprint.stdout).unwrap();
    let public = fs::read_to_string(fixture("keys/test_ed25519.pub")).unwrap();
    let public: Vec<&str> = public.split_whitespace().take(2).collect();
    let line = serde_json::json!({
        "seq": seq.parse::<u64>().unwrap(),
        "head": head_hash,
        "at": at,
        "key": public.join(" "),
        "fingerprint": fingerprint.split_whitespace().nth(1).unwrap(),
        "signature": signature,
    });
    fs::write(archive.join(CHECKPOINTS), format!("{line}\n")).unwrap();
    let text = fs::read_to_string(archive.join(TAGS)).unwrap();
    let digest = visitrec::hash::hash_file(&archive.join(CHECKPOINTS))
        .unwrap()
        .sha256;
    fs::write(
        archive.join(TAGS),
        format!("{text}{digest}  {CHECKPOINTS}\n"),
    )
    .unwrap();
    let (code, r) = verify_json(
        &archive,
        &["--allowed-signers", &allowed_signers(dir.path())],
    );
    assert_eq!(code, 0, "{r:#}");
    assert!(r["warnings"].as_array().unwrap().is_empty(), "{r:#}");
    // And visitrec appends its own checkpoints after it.
    visitrec()
        .args(["tag", "-q"])
        .arg(&archive)
        .args([&visitrec_id(&archive), "--set", "x=y"])
        .assert()
        .success();
    checkpoint(&archive, &key);
    assert_eq!(checkpoint_lines(&archive).len(), 2);
    let (code, r) = verify_json(
        &archive,
        &["--allowed-signers", &allowed_signers(dir.path())],
    );
    assert_eq!(code, 0, "{r:#}");
}

fn visitrec_id(archive: &Path) -> String {
    let (_, v) = run_json(&["list"], archive);
    v[0]["id"].as_str().unwrap().to_string()
}

//! SIGINT, SIGTERM, SIGHUP and SIGKILL during `decrypt` and `encrypt` of a long recording:
//! no plaintext may stay behind (issue 11, item 5).

mod common;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn key() -> PathBuf {
    fixture("keys/test-age-key.txt")
}

const PUBLIC: &str = "age159m0h4ttx05at4xct2lvrhjjhvnzt9u0x56qkf225jmps5knseqqxx89gr";

/// A 60 MB WAV (sparse: silence), the size of about an hour of phone audio.
fn long_wav(path: &Path) {
    let data_len: u32 = 60_000_000;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&[1, 0, 1, 0]);
    h.extend_from_slice(&8000u32.to_le_bytes());
    h.extend_from_slice(&16000u32.to_le_bytes());
    h.extend_from_slice(&[2, 0, 16, 0]);
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    fs::write(path, &h).unwrap();
    let f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.set_len(h.len() as u64 + u64::from(data_len)).unwrap();
}

/// Staging folders for `out` (`.NAME.partial-*`) in its parent.
fn stagings(out: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}.partial-", out.file_name().unwrap().to_string_lossy());
    fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .collect()
}

/// Bytes under `dir` (0 if it is gone).
fn bytes_under(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Spawns `visitrec ARGS` and waits until its staging for `out` holds at least `bytes`
/// of data (the command is mid-way).
fn spawn_until_staging(args: &[OsString], out: &Path, bytes: u64) -> Child {
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("visitrec"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if stagings(out).iter().any(|s| bytes_under(s) >= bytes) {
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("finished before it could be interrupted: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no staging appeared"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn signals_during_decrypt_and_encrypt_leave_no_plaintext() {
    let (d, archive) = new_archive();
    let wav = d.path().join("long-visit.wav");
    long_wav(&wav);
    let r = ingest_json(
        &archive,
        &[wav, fixture("phone/dictation.wav")],
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P1",
        ],
    );
    let id = |i: usize| {
        r["ingested"][i]["id"]
            .as_str()
            .expect("ingested")
            .to_string()
    };
    let (large, small) = (id(0), id(1));
    let export = |id: &str, out: &Path| {
        visitrec()
            .arg("encrypt")
            .arg(&archive)
            .args([id, "-r", PUBLIC, "--include", "original", "--out"])
            .arg(out)
            .assert()
            .success();
    };
    let big = d.path().join("big-export");
    export(&large, &big);
    let little = d.path().join("small-export");
    export(&small, &little);
    let plain = d.path().join("plain");
    let decrypt = |from: &Path| -> Vec<OsString> {
        vec![
            "decrypt".into(),
            from.into(),
            "-i".into(),
            key().into(),
            "--out".into(),
            plain.clone().into(),
        ]
    };

    // SIGINT, SIGTERM, SIGHUP mid-way: the plaintext goes, the exit code says why.
    for (sig, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let child = spawn_until_staging(&decrypt(&big), &plain, 1 << 20);
        signal(&child, sig);
        let (code, err) = finish(child);
        assert_eq!(code, Some(128 + sig), "{name}: {err}");
        assert!(err.contains(&format!("interrupted by {name}")), "{err}");
        assert!(stagings(&plain).is_empty(), "{name} left plaintext behind");
        assert!(!plain.exists());
    }

    // SIGKILL cannot be caught: the staging stays, 0700, with an unpredictable name...
    let child = spawn_until_staging(&decrypt(&big), &plain, 1 << 20);
    let pid = child.id();
    signal(&child, libc::SIGKILL);
    let _ = finish(child);
    let stale = stagings(&plain);
    assert_eq!(stale.len(), 1);
    let stale = stale[0].clone();
    let suffix =
        stale.file_name().unwrap().to_string_lossy()[".plain.partial-".len()..].to_string();
    assert!(
        suffix.len() == 16 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
        "{suffix}"
    );
    assert_ne!(suffix, pid.to_string());
    assert_eq!(
        fs::metadata(&stale).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // ...beside look-alikes that are not visitrec's to remove: no marker, or a marker
    // naming a process that is still running (this test).
    let no_marker = d.path().join(".plain.partial-notours");
    fs::create_dir(&no_marker).unwrap();
    let running = d.path().join(".plain.partial-0123456789abcdef");
    fs::create_dir(&running).unwrap();
    fs::write(
        running.join(".visitrec-staging"),
        format!("visitrec staging\npid {}\n", std::process::id()),
    )
    .unwrap();
    // The next decrypt to the same --out removes it and says so.
    let o = visitrec().args(decrypt(&little)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("removed {}", stale.display()))
            && err.contains(&format!("left by an interrupted run (pid {pid})")),
        "{err}"
    );
    assert!(!stale.exists());
    assert!(
        no_marker.exists() && running.exists(),
        "only its own staging is removed"
    );
    assert!(
        !plain.join(".visitrec-staging").exists(),
        "the marker stays out of the bag"
    );
    fs::remove_dir_all(&no_marker).unwrap();
    fs::remove_dir_all(&running).unwrap();

    // encrypt's staging too: interrupted, it leaves neither ciphertext nor an audit entry.
    let before = snapshot(&archive);
    let out = d.path().join("export-interrupted");
    let args: Vec<OsString> = vec![
        "encrypt".into(),
        archive.clone().into(),
        large.clone().into(),
        "-r".into(),
        PUBLIC.into(),
        "--out".into(),
        out.clone().into(),
    ];
    let child = spawn_until_staging(&args, &out, 1);
    signal(&child, libc::SIGTERM);
    let (code, err) = finish(child);
    assert_eq!(code, Some(128 + libc::SIGTERM), "{err}");
    assert!(stagings(&out).is_empty() && !out.exists(), "{err}");
    assert_eq!(snapshot(&archive), before, "the archive is as it was");
    // And a stale one of encrypt's (the killed decrypt's pid is gone) goes the same way.
    let stale = d
        .path()
        .join(".export-interrupted.partial-00112233aabbccdd");
    fs::create_dir(&stale).unwrap();
    fs::write(
        stale.join(".visitrec-staging"),
        format!("visitrec staging\npid {pid}\n"),
    )
    .unwrap();
    let o = visitrec()
        .arg("encrypt")
        .arg(&archive)
        .args([small.as_str(), "-r", PUBLIC, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("removed"));
    assert!(!stale.exists() && out.join("bagit.txt").exists());
}

/// A mono 16-bit WAV at 8 kHz of `seconds` of silence (sparse on disk), made unique by
/// its first sample `tag`.
fn wav(path: &Path, seconds: u32, tag: u16) {
    let data_len = seconds * 16_000;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&[1, 0, 1, 0]);
    h.extend_from_slice(&8000u32.to_le_bytes());
    h.extend_from_slice(&16000u32.to_le_bytes());
    h.extend_from_slice(&[2, 0, 16, 0]);
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h.extend_from_slice(&tag.to_le_bytes());
    fs::write(path, &h).unwrap();
    let f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.set_len(h.len() as u64 - 2 + u64::from(data_len)).unwrap();
}

/// The length of the long recordings: they are still being worked on when the first batch
/// has committed, so a signal then finds work to keep and work to redo. Longer only makes
/// the rerun that finishes the job slow.
const LONG_S: u32 = 40;

/// An inbox of 256 short recordings followed, in name order, by `long` recordings of
/// [`LONG_S`] seconds: a batch commits after 256 recordings or 5 seconds, so the first
/// commit comes before the long ones begin, whatever the machine's speed.
fn inbox(dir: &Path, long: u16) -> PathBuf {
    let inbox = dir.join("inbox");
    fs::create_dir(&inbox).unwrap();
    for i in 0..256 {
        wav(&inbox.join(format!("a{i:03}.wav")), 1, i + 1);
    }
    for i in 0..long {
        wav(&inbox.join(format!("z{i}.wav")), LONG_S, 1000 + i);
    }
    inbox
}

/// `visitrec ARGS`, with two worker threads (so batches split where the tests expect).
fn spawn(args: &[OsString]) -> Child {
    Std::new(assert_cmd::cargo::cargo_bin("visitrec"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the archive's audit log records a commit by `op` (the command is mid-way,
/// with work committed and more to do).
fn wait_for_commit(child: &mut Child, archive: &Path, op: &str) {
    let start = Instant::now();
    let wanted = format!("\"op\":\"{op}\"");
    loop {
        let log = fs::read_to_string(archive.join("audit.jsonl")).unwrap_or_default();
        if log.lines().any(|l| l.contains(&wanted)) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("finished before it could be interrupted: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no {op} commit appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The one line an interrupted batch prints: (kept, to redo).
fn interrupted_line(stderr: &str) -> (usize, usize) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    let rest = lines[0]
        .strip_prefix("visitrec: interrupted: ")
        .and_then(|r| r.strip_suffix(" to redo — run the same command again"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let (kept, redo) = rest.split_once(" kept, ").unwrap();
    (kept.parse().unwrap(), redo.parse().unwrap())
}

fn staging_entries(archive: &Path) -> Vec<PathBuf> {
    fs::read_dir(archive.join(".visitrec/staging"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn recordings(archive: &Path) -> Vec<serde_json::Value> {
    let out = visitrec()
        .arg("list")
        .arg(archive)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

/// The archive verifies intact, without leftover staging.
fn assert_intact(archive: &Path) {
    let (code, report) = verify_json(archive, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        report["warnings"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
}

#[test]
fn ctrl_c_during_ingest_keeps_the_committed_recordings_and_removes_staging() {
    let (d, archive) = new_archive();
    let inbox = inbox(d.path(), 3);
    let args: Vec<OsString> = vec![
        "ingest".into(),
        archive.clone().into(),
        inbox.into(),
        "--normalize".into(),
    ];
    let mut child = spawn(&args);
    wait_for_commit(&mut child, &archive, "ingest");
    signal(&child, libc::SIGINT);
    let (code, err) = finish(child);
    assert_eq!(code, Some(130), "{err}");
    let (kept, redo) = interrupted_line(&err);
    assert_eq!(kept + redo, 259, "{err}");
    // A commit came before the signal, and the long recordings come after all commits.
    assert!(kept >= 1 && redo >= 3, "{err}");
    assert!(staging_entries(&archive).is_empty(), "staging removed");
    assert_intact(&archive);
    let recs = recordings(&archive);
    assert_eq!(recs.len(), kept, "exactly the kept recordings are archived");
    assert!(
        recs.iter().all(|r| r["normalized"].is_object()),
        "each whole"
    );

    // Running the same command again finishes the work.
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("visitrec"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(recordings(&archive).len(), 259);
    assert_intact(&archive);
}

#[test]
fn sigterm_during_segment_keeps_the_committed_segmentations() {
    let (d, archive) = new_archive();
    let r = ingest_json(&archive, &[inbox(d.path(), 2)], &[]);
    let mut ids: Vec<(String, String)> = r["ingested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().into(),
                i["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(ids.len(), 258);
    // The short ones first: the first commit (at 256) comes before the long ones.
    ids.sort();
    let mut args: Vec<OsString> = vec!["segment".into(), archive.clone().into()];
    args.extend(ids.iter().map(|(_, id)| id.into()));
    let before = snapshot(&archive);
    let mut child = spawn(&args);
    wait_for_commit(&mut child, &archive, "segment");
    signal(&child, libc::SIGTERM);
    let (code, err) = finish(child);
    assert_eq!(code, Some(143), "{err}");
    let (kept, redo) = interrupted_line(&err);
    assert_eq!(kept + redo, 258, "{err}");
    assert!(kept >= 1 && redo >= 2, "{err}");
    assert!(staging_entries(&archive).is_empty(), "staging removed");
    assert_intact(&archive);
    let segmented = recordings(&archive)
        .iter()
        .filter(|r| r["segmentation"].is_object())
        .count();
    assert_eq!(segmented, kept);
    assert_ne!(snapshot(&archive), before);
}

#[test]
fn a_killed_ingest_leaves_staging_that_verify_reports_and_the_next_writer_removes() {
    let (d, archive) = new_archive();
    let long = d.path().join("long.wav");
    long_wav(&long);
    let args: Vec<OsString> = vec!["ingest".into(), archive.clone().into(), long.into()];
    let mut child = spawn(&args);
    let staging = archive.join(".visitrec/staging");
    let start = Instant::now();
    while bytes_under(&staging) < 1 << 20 {
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        assert!(start.elapsed() < Duration::from_secs(120), "nothing staged");
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(&child, libc::SIGKILL);
    let _ = finish(child);
    let left = bytes_under(&staging);
    assert!(left >= 1 << 20);

    // verify says what is there, as information: the archive itself is intact.
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{report:#}");
    let w = &report["warnings"][0];
    assert_eq!(w["kind"], "leftover-staging", "{report:#}");
    assert_eq!(w["path"], ".visitrec/staging");
    let detail = w["detail"].as_str().unwrap();
    let mb = format!("{:.1} MB", left as f64 / 1e6);
    assert!(
        detail.starts_with("1 file(s), ")
            && detail.contains(&mb)
            && detail.ends_with(
                "in .visitrec/staging from an interrupted run; the next write removes them"
            ),
        "{detail}"
    );
    let out = visitrec().arg("verify").arg(&archive).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("warning: .visitrec/staging: {detail}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // While the last writer is still running, its staging is work in progress.
    let lock = archive.join(".visitrec/lock");
    let dead = fs::read_to_string(&lock).unwrap();
    fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    let (_, report) = verify_json(&archive, &[]);
    assert!(
        report["warnings"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    fs::write(&lock, dead).unwrap();

    // The next writer removes it.
    visitrec()
        .arg("ingest")
        .arg(&archive)
        .arg(fixture("phone/dictation.wav"))
        .assert()
        .success();
    assert!(staging_entries(&archive).is_empty());
    assert_intact(&archive);
}

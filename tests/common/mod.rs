//! Helpers shared by the integration tests: run the real binary, snapshot an archive.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `visitrec` binary under test.
pub fn visitrec() -> Command {
    let mut c = Command::cargo_bin("visitrec").expect("binary built");
    c.env_remove("VISITREC_PASSPHRASE");
    c
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A temp folder with a fresh, empty archive at `<tmp>/archive`.
pub fn new_archive() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    (dir, archive)
}

/// A fresh, empty archive at `<root>/archive`.
pub fn archive_at(root: &Path) -> PathBuf {
    let archive = root.join("archive");
    visitrec()
        .args(["init", "--org", "Test Clinic"])
        .arg(&archive)
        .assert()
        .success();
    archive
}

/// An archive at `<root>/archive` holding one recording (consenting to research), and its id.
pub fn archive_with_one(root: &Path) -> (PathBuf, String) {
    let archive = archive_at(root);
    let r = ingest_json(
        &archive,
        &[fixture("phone/dictation.wav")],
        &["--consent-scope", "research", "--consent-by", "study:S1"],
    );
    (
        archive,
        r["ingested"][0]["id"].as_str().unwrap().to_string(),
    )
}

/// Every writing command, as arguments around the archive (`ARGS[0] ARCHIVE ARGS[1..]`),
/// for recording `id` of [`archive_with_one`]; `encrypt` writes to `export`. In an order
/// in which all of them succeed when nothing is wrong.
pub fn writer_commands(id: &str, export: &Path) -> Vec<Vec<String>> {
    let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let flac = fixture("phone/archive-copy.flac");
    let ssh = fixture("keys/test_ed25519");
    let (flac, export, ssh) = (
        flac.to_str().unwrap(),
        export.to_str().unwrap(),
        ssh.to_str().unwrap(),
    );
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        s(&["ingest", flac]),
        s(&["normalize", "--all"]),
        s(&["segment", "--all"]),
        s(&["tag", id, "--set", "clinic=cardiology"]),
        s(&["tag", id, "--mark", "1.5=dose"]),
        s(&[
            "encrypt",
            id,
            "-r",
            key,
            "--purpose",
            "research",
            "--out",
            export,
        ]),
        s(&[
            "consent",
            id,
            "--withdraw",
            "--scope",
            "research",
            "--by",
            "study:S1",
        ]),
        s(&["checkpoint", "--key", ssh]),
        s(&["retention", "10y"]),
        s(&["purge", id, "--reason", "error", "--force"]),
    ]
}

/// `visitrec ARGS[0] ARCHIVE ARGS[1..]`: one of [`writer_commands`] run on `archive`.
pub fn command_on(args: &[String], archive: &Path) -> Command {
    let mut c = visitrec();
    c.arg(&args[0]).arg(archive).args(&args[1..]);
    c
}

/// Ingests `inputs` and returns the parsed JSON report.
pub fn ingest_json(archive: &Path, inputs: &[PathBuf], extra: &[&str]) -> serde_json::Value {
    let out = visitrec()
        .arg("ingest")
        .arg(archive)
        .args(inputs)
        .args(extra)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ingest --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every file of the archive outside `.visitrec/` (its private lock and staging area):
/// relative path → bytes. Equal snapshots mean the archive is byte-for-byte unchanged.
pub fn snapshot(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(archive)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e
                .path()
                .strip_prefix(archive)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (!rel.starts_with(".visitrec")).then(|| (rel, std::fs::read(e.path()).unwrap()))
        })
        .collect()
}

/// Runs `verify --json` and returns (exit code, report).
pub fn verify_json(archive: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = visitrec()
        .arg("verify")
        .arg(archive)
        .args(extra)
        .arg("--json")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap(), report)
}

/// The problem kinds of a verify report, as strings.
pub fn kinds(report: &serde_json::Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Writes a WAV of `secs` seconds of tone whose frequency depends on `seed`, so each is
/// distinct content.
pub fn write_wav(path: &Path, seed: u32, secs: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let freq = 200.0 + seed as f32 * 7.0;
    for i in 0..(secs * 16_000.0) as u32 {
        let t = i as f32 / 16_000.0;
        w.write_sample((f32::sin(t * freq * std::f32::consts::TAU) * 8000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Recomputes the entry for `rel` in the bag's manifest `manifest` (e.g. after a test
/// edited the file on purpose), so that only deeper checks can notice the edit.
pub fn rehash_entry(bag: &Path, manifest: &str, rel: &str) {
    let digest = visitrec::hash::hash_file(&bag.join(rel)).unwrap().sha256;
    let path = bag.join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = false;
    let out: String = text
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, p)) if p == rel => {
                found = true;
                format!("{digest}  {rel}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(found, "{rel} is not in {manifest}");
    std::fs::write(path, out).unwrap();
}

/// Copies a folder tree (e.g. an intact archive to damage, or a template to start from).
pub fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A recording's `recording.json`, parsed.
pub fn recording(archive: &Path, id: &str) -> serde_json::Value {
    let path = archive.join("data").join(id).join("recording.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Runs `visitrec ARGS[0] ARCHIVE ARGS[1..] --json`: (exit code, parsed stdout).
pub fn run_json(args: &[&str], archive: &Path) -> (i32, serde_json::Value) {
    let out = visitrec()
        .arg(args[0])
        .arg(archive)
        .args(&args[1..])
        .arg("--json")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{args:?}: no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

/// A tmpfs of `kib` KiB, unmounted on drop.
pub struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    pub fn mount(kib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    /// Makes the whole file system read-only, as a failing disk or a read-only share is.
    pub fn remount_read_only(&self) {
        let ok = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.0.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount read-only failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// A tmpfs for the test `what`, or `None` with the reason printed (mounting needs root).
pub fn mounted(kib: u32, what: &str) -> Option<Tmpfs> {
    let m = Tmpfs::mount(kib);
    if m.is_none() {
        eprintln!("SKIPPED {what}: cannot mount a tmpfs (needs root)");
    }
    m
}

/// Runs the Library of Congress validator; the interop tests fail (never skip) without it.
pub fn bagit_valid(bag: &Path, fast: bool) -> bool {
    let mut cmd = std::process::Command::new("bagit.py");
    cmd.arg("--validate").arg("--quiet");
    if fast {
        cmd.arg("--fast");
    }
    let out = cmd.arg(bag).output().unwrap_or_else(|e| {
        panic!("bagit.py is required for the interop tests ({e}); run scripts/test, which installs it (pip install bagit)")
    });
    out.status.success()
}

/// A PCM WAV whose header says what we like, followed by `samples` real samples.
pub fn crafted_wav(
    path: &std::path::Path,
    rate: u32,
    channels: u16,
    claimed_data: u32,
    samples: usize,
) {
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + claimed_data).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate.wrapping_mul(2 * u32::from(channels))).to_le_bytes());
    v.extend_from_slice(&(2 * channels).to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&claimed_data.to_le_bytes());
    v.extend((0..samples).flat_map(|i| ((i % 200) as i16 * 50).to_le_bytes()));
    std::fs::write(path, v).unwrap();
}

/// Rewrites the archive's audit log line by line with `edit` (given each entry, 0-based
/// position and the line count), chains it again from scratch and recomputes its tag
/// manifest entry: a history rewritten by someone who can write every file.
pub fn rewrite_audit(archive: &Path, mut edit: impl FnMut(&mut serde_json::Value, usize, usize)) {
    let path = archive.join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let n = text.lines().count();
    let mut prev = visitrec::audit::GENESIS.to_string();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut e: serde_json::Value = serde_json::from_str(line).unwrap();
        edit(&mut e, i, n);
        e["prev"] = prev.clone().into();
        let line = serde_json::to_string(&e).unwrap();
        prev = visitrec::hash::hash_bytes(line.as_bytes()).sha256;
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
    rehash_entry(archive, "tagmanifest-sha256.txt", "audit.jsonl");
}

/// Waits for `child` and returns its exit code (minus the signal number when a signal
/// ended it) and its peak resident memory in KiB, from the kernel's accounting for that one
/// child (wait4).
pub fn wait_with_peak_rss(child: std::process::Child) -> (i32, i64) {
    let pid = child.id() as libc::pid_t;
    std::mem::forget(child); // reaped by wait4 below
    let mut status = 0;
    // SAFETY: rusage is plain data, zeroed and filled in by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::wait4(pid, &mut status, 0, &mut usage) },
        pid,
        "wait4 failed"
    );
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    (code, usage.ru_maxrss)
}

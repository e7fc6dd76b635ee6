//! `encrypt`, `decrypt`, and `verify` of exports — including interop with the stock `age`
//! CLI in both directions (these fail, never skip, without it: scripts/test installs it).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

use common::*;
use predicates::prelude::*;
use serde_json::Value;

fn age_cli(name: &str) -> Std {
    let ok = Std::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{name} is required for the interop tests; run scripts/test (apt-get install -y age)"
    );
    Std::new(name)
}

fn key() -> PathBuf {
    fixture("keys/test-age-key.txt")
}

fn public(key: &Path) -> String {
    let out = age_cli("age-keygen").arg("-y").arg(key).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An archive with two segmented recordings, both consenting to personal use, one to
/// research too.
fn archive_with_consent() -> (tempfile::TempDir, PathBuf, String, String) {
    let (d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[
            fixture("phone/voice-memo.m4a"),
            fixture("phone/dictation.wav"),
        ],
        &[
            "--segment",
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P017",
        ],
    );
    let a = r["ingested"][0]["id"].as_str().unwrap().to_string();
    let b = r["ingested"][1]["id"].as_str().unwrap().to_string();
    visitrec()
        .arg("consent")
        .arg(&archive)
        .arg(&a)
        .args(["--grant", "--scope", "research", "--by", "patient:P017"])
        .assert()
        .success();
    (d, archive, a, b)
}

fn encrypt(archive: &Path, args: &[&str]) -> std::process::Output {
    visitrec()
        .arg("encrypt")
        .arg(archive)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn export_is_a_bag_of_age_files_that_stock_age_opens() {
    let (d, archive, a, b) = archive_with_consent();
    let out = d.path().join("export");
    let o = encrypt(
        &archive,
        &[
            "--all",
            "-r",
            &public(&key()),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["recordings"].as_array().unwrap().len(), 2);

    // Every .age file decrypts with the stock age CLI to the archive's exact bytes.
    let manifest = fs::read_to_string(archive.join("manifest-sha256.txt")).unwrap();
    let mut checked = 0;
    for line in manifest.lines() {
        let rel = line.split_once("  ").unwrap().1;
        let enc = out.join(format!("{rel}.age"));
        assert!(enc.exists(), "{rel} not exported");
        let plain = age_cli("age")
            .args(["-d", "-i"])
            .arg(key())
            .arg(&enc)
            .output()
            .unwrap();
        assert!(
            plain.status.success(),
            "age -d {rel}: {}",
            String::from_utf8_lossy(&plain.stderr)
        );
        assert_eq!(plain.stdout, fs::read(archive.join(rel)).unwrap(), "{rel}");
        checked += 1;
    }
    assert!(checked >= 10);
    // Nothing in the clear names the patient or the tags; only ids, sizes, hashes.
    for e in walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
    {
        let bytes = fs::read(e.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("P017") && !text.contains("voice-memo"),
            "{} leaks",
            e.path().display()
        );
        assert_eq!(
            e.metadata().unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            e.path().display()
        );
    }
    for e in walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_dir())
    {
        assert_eq!(
            e.metadata().unwrap().permissions().mode() & 0o777,
            0o700,
            "{}",
            e.path().display()
        );
    }
    // Fixity without the key: visitrec and the Library of Congress validator.
    assert_eq!(verify_json(&out, &[]).0, 0);
    assert!(
        Std::new("bagit.py")
            .args(["--validate", "--quiet"])
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    // And with the key: every file decrypt-checked.
    let (code, r) = verify_json(&out, &["--identity", key().to_str().unwrap()]);
    assert_eq!(code, 0, "{r:#}");
    // The archive logged the export, with the recipient's fingerprint, not the key.
    let log = fs::read_to_string(archive.join("audit.jsonl")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "export");
    assert_eq!(last["details"]["purpose"], "personal-use");
    let mut ids: Vec<&str> = last["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = [a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert!(!log.contains(&public(&key())));
}

#[test]
fn decrypt_restores_a_plaintext_bag_and_opens_files_made_by_stock_age() {
    let (d, archive, a, _) = archive_with_consent();
    let out = d.path().join("export");
    assert!(
        encrypt(
            &archive,
            &[&a, "-r", &public(&key()), "--out", out.to_str().unwrap()]
        )
        .status
        .success()
    );
    let plain = d.path().join("plain");
    visitrec()
        .arg("decrypt")
        .arg(&out)
        .arg("-i")
        .arg(key())
        .arg("--out")
        .arg(&plain)
        .assert()
        .success()
        .stdout(predicate::str::contains("decrypted"));
    let orig = fs::read_dir(archive.join("data").join(&a))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("original.")
        })
        .unwrap();
    let name = orig.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        fs::read(plain.join("data").join(&a).join(&name)).unwrap(),
        fs::read(&orig).unwrap()
    );
    assert!(
        Std::new("bagit.py")
            .args(["--validate", "--quiet"])
            .arg(&plain)
            .status()
            .unwrap()
            .success()
    );

    // A file encrypted by the stock age CLI, put in place of ours, opens with visitrec.
    let enc = out.join("data").join(&a).join(format!("{name}.age"));
    let st = age_cli("age")
        .args(["-r", &public(&key()), "-o"])
        .arg(&enc)
        .arg(&orig)
        .status()
        .unwrap();
    assert!(st.success());
    rehash_export(&out);
    let plain2 = d.path().join("plain2");
    visitrec()
        .arg("decrypt")
        .arg(&out)
        .arg("-i")
        .arg(key())
        .arg("--out")
        .arg(&plain2)
        .assert()
        .success();
    assert_eq!(
        fs::read(plain2.join("data").join(&a).join(&name)).unwrap(),
        fs::read(&orig).unwrap()
    );
}

/// Recomputes an export's manifests after a file was replaced (so only decryption can tell).
fn rehash_export(out: &Path) {
    let mut m = String::new();
    let man = fs::read_to_string(out.join("manifest-sha256.txt")).unwrap();
    for line in man.lines() {
        let rel = line.split_once("  ").unwrap().1;
        let h = String::from_utf8(
            Std::new("sha256sum")
                .arg(out.join(rel))
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()[..64]
            .to_string();
        m.push_str(&format!("{h}  {rel}\n"));
    }
    fs::write(out.join("manifest-sha256.txt"), &m).unwrap();
    let size: u64 = man
        .lines()
        .map(|l| {
            fs::metadata(out.join(l.split_once("  ").unwrap().1))
                .unwrap()
                .len()
        })
        .sum();
    let info = fs::read_to_string(out.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum") {
                format!("Payload-Oxum: {size}.{}\n", man.lines().count())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(out.join("bag-info.txt"), info).unwrap();
    let mut t = String::new();
    for name in ["bag-info.txt", "bagit.txt", "manifest-sha256.txt"] {
        let h = String::from_utf8(
            Std::new("sha256sum")
                .arg(out.join(name))
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()[..64]
            .to_string();
        t.push_str(&format!("{h}  {name}\n"));
    }
    fs::write(out.join("tagmanifest-sha256.txt"), t).unwrap();
}

#[test]
fn wrong_key_and_tampering_fail_naming_the_file_and_leave_nothing() {
    let (d, archive, a, _) = archive_with_consent();
    let out = d.path().join("export");
    assert!(
        encrypt(
            &archive,
            &[&a, "-r", &public(&key()), "--out", out.to_str().unwrap()]
        )
        .status
        .success()
    );
    let other = d.path().join("other.txt");
    assert!(
        age_cli("age-keygen")
            .arg("-o")
            .arg(&other)
            .output()
            .unwrap()
            .status
            .success()
    );
    let plain = d.path().join("plain");
    visitrec()
        .arg("decrypt")
        .arg(&out)
        .arg("-i")
        .arg(&other)
        .arg("--out")
        .arg(&plain)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("does not open this export")
                .and(predicate::str::contains(other.to_str().unwrap())),
        );
    assert!(!plain.exists());
    // A wrong key is exit 2 in verify -i too (the export is not at fault), with the
    // error as its one JSON document.
    let (code, r) = verify_json(&out, &["-i", other.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(r["error"]["kind"], "wrong-key", "{r:#}");

    // Flip a byte in the middle of a ciphertext: verify (no key) sees it, decrypt refuses
    // with an authentication error naming the file, and writes nothing.
    let victim = out.join("data").join(&a).join("normalized.wav.age");
    let mut bytes = fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&victim, &bytes).unwrap();
    let (code, r) = verify_json(&out, &[]);
    assert_eq!(code, 1);
    assert_eq!(r["problems"][0]["kind"], "modified");
    rehash_export(&out);
    assert_eq!(
        verify_json(&out, &[]).0,
        0,
        "manifests re-hashed: only decryption can tell now"
    );
    visitrec()
        .arg("decrypt")
        .arg(&out)
        .arg("-i")
        .arg(key())
        .arg("--out")
        .arg(&plain)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("normalized.wav.age")
                .and(predicate::str::contains("authentication failed")),
        );
    assert!(!plain.exists());
    assert!(
        fs::read_dir(d.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );
}

#[test]
fn consent_gates_every_export_with_exit_3_and_nothing_written() {
    let (d, archive, a, b) = archive_with_consent();
    let out = d.path().join("export");
    let pubkey = public(&key());
    // b has no research consent: the whole export is refused.
    let o = encrypt(
        &archive,
        &[
            "--all",
            "-r",
            &pubkey,
            "--purpose",
            "research",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&b) && err.contains("never granted") && !err.contains(&format!("{a}:")),
        "{err}"
    );
    assert!(!out.exists());
    // Withdrawing research blocks research exports of a, but not personal-use ones.
    visitrec()
        .arg("consent")
        .arg(&archive)
        .arg(&a)
        .args(["--withdraw", "--scope", "research"])
        .assert()
        .success();
    let o = encrypt(
        &archive,
        &[
            &a,
            "-r",
            &pubkey,
            "--purpose",
            "research",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("withdrawn"));
    assert!(!out.exists());
    let o = encrypt(
        &archive,
        &[&a, "-r", &pubkey, "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "personal-use is still granted");
    // An existing export is never overwritten.
    let o = encrypt(
        &archive,
        &[&a, "-r", &pubkey, "--out", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
}

#[test]
fn recipients_files_ssh_keys_passphrases_and_include() {
    let (d, archive, a, _) = archive_with_consent();
    let list = d.path().join("custodians.txt");
    let ssh_pub = fs::read_to_string(fixture("keys/test_ed25519.pub")).unwrap();
    fs::write(
        &list,
        format!("# study custodians\n\n{}\n{}", public(&key()), ssh_pub),
    )
    .unwrap();
    let out = d.path().join("e1");
    let o = encrypt(
        &archive,
        &[
            &a,
            "-R",
            list.to_str().unwrap(),
            "--include",
            "original,metadata",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["recordings"][0]["files"].as_array().unwrap().len(), 2);
    assert_eq!(r["recipients"].as_array().unwrap().len(), 2);
    // Both recipients can open it: the age key, and the SSH key via the stock age CLI.
    for id in [key(), fixture("keys/test_ed25519")] {
        let plain = d
            .path()
            .join(format!("p-{}", id.file_name().unwrap().to_string_lossy()));
        visitrec()
            .arg("decrypt")
            .arg(&out)
            .arg("-i")
            .arg(&id)
            .arg("--out")
            .arg(&plain)
            .assert()
            .success();
        let rec = out.join("data").join(&a).join("recording.json.age");
        let o = age_cli("age")
            .args(["-d", "-i"])
            .arg(&id)
            .arg(&rec)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            o.stdout,
            fs::read(archive.join("data").join(&a).join("recording.json")).unwrap()
        );
    }
    // A malformed line is named, with its file and line.
    fs::write(&list, "age1notarealkey\n").unwrap();
    let o = encrypt(
        &archive,
        &[
            &a,
            "-R",
            list.to_str().unwrap(),
            "--out",
            d.path().join("e2").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("custodians.txt: line 1"));
    for bad in ["age1yubikey1qqqqqqqq", "ssh-ed25519 AAAAnotakey", "hello"] {
        let o = encrypt(
            &archive,
            &[
                &a,
                "-r",
                bad,
                "--out",
                d.path().join("e3").to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(bad), "{bad}");
    }
    // A passphrase from the environment (never argv); age's scrypt format.
    let out = d.path().join("e4");
    let o = visitrec()
        .env("VISITREC_PASSPHRASE", "correct horse battery staple")
        .arg("encrypt")
        .arg(&archive)
        .arg(&a)
        .args(["--passphrase", "--include", "metadata", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plain = d.path().join("p4");
    visitrec()
        .env("VISITREC_PASSPHRASE", "correct horse battery staple")
        .arg("decrypt")
        .arg(&out)
        .arg("--passphrase")
        .arg("--out")
        .arg(&plain)
        .assert()
        .success();
    visitrec()
        .env("VISITREC_PASSPHRASE", "wrong")
        .arg("decrypt")
        .arg(&out)
        .arg("--passphrase")
        .arg("--out")
        .arg(d.path().join("p5"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("wrong passphrase"));
    // --include of something a recording lacks is an error, not a smaller export.
    let (_d2, archive2) = new_archive();
    let r = ingest_json(
        &archive2,
        &[fixture("phone/dictation.wav")],
        &["--consent-scope", "care", "--consent-by", "p"],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap();
    let o = encrypt(
        &archive2,
        &[
            id,
            "-r",
            &public(&key()),
            "--purpose",
            "care",
            "--include",
            "normalized",
            "--out",
            d.path().join("e6").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no normalized rendition"));
}

/// Peak resident memory (KiB) of `cmd`, read from the kernel's accounting for that one child
/// (wait4), with whether it succeeded.
fn peak_rss_kib(cmd: &mut Std) -> (bool, i64) {
    let (code, kib) = wait_with_peak_rss(cmd.spawn().unwrap());
    (code == 0, kib)
}

#[test]
fn encrypting_a_large_recording_takes_constant_memory() {
    // 120 MB of audio (a sparse file: its samples are silence). Memory must not grow with
    // the file: the limit below is a sixth of its size, and the figure is the same for 2 GB.
    let (d, archive) = new_archive();
    let wav = d.path().join("long-visit.wav");
    let data_len: u32 = 120_000_000;
    let mut header = Vec::new();
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_len).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    for v in [16u32.to_le_bytes().to_vec(), vec![1, 0, 1, 0]] {
        header.extend_from_slice(&v);
    }
    header.extend_from_slice(&8000u32.to_le_bytes());
    header.extend_from_slice(&16000u32.to_le_bytes());
    header.extend_from_slice(&[2, 0, 16, 0]);
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    fs::write(&wav, &header).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(&wav)
        .unwrap()
        .set_len(header.len() as u64 + u64::from(data_len))
        .unwrap();
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
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let peak = |id: &str| {
        let (ok, kib) = peak_rss_kib(
            Std::new(&bin)
                .arg("encrypt")
                .arg(&archive)
                .arg(id)
                .args(["-r", &public(&key()), "--purpose", "personal-use", "--out"])
                .arg(d.path().join(format!("export-{id}"))),
        );
        assert!(ok, "encrypt failed");
        kib
    };
    let (large_kib, small_kib) = (peak(&large), peak(&small));
    eprintln!("peak memory of encrypt: {large_kib} KiB for 120 MB, {small_kib} KiB for 0.2 MB");
    assert!(
        large_kib < small_kib + 12_000,
        "encrypting 120 MB took {large_kib} KiB of memory, a small file {small_kib} KiB"
    );
    let age_file = d
        .path()
        .join(format!("export-{large}/data/{large}/original.wav.age"));
    assert!(fs::metadata(age_file).unwrap().len() > u64::from(data_len));
}

#[test]
fn stock_age_opens_a_passphrase_export() {
    // age reads a passphrase only from a terminal: `script` (util-linux) gives it one.
    let (d, archive, a, _) = archive_with_consent();
    let out = d.path().join("export");
    visitrec()
        .env("VISITREC_PASSPHRASE", "correct horse battery staple")
        .arg("encrypt")
        .arg(&archive)
        .args([a.as_str(), "--passphrase", "--include", "original", "--out"])
        .arg(&out)
        .assert()
        .success();
    let enc = out.join(format!("data/{a}/original.m4a.age"));
    let plain = d.path().join("opened.m4a");
    age_cli("age");
    let mut child = Std::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!(
            "age -d -o '{}' '{}'",
            plain.display(),
            enc.display()
        ))
        .arg("/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("script (util-linux) runs age on a terminal");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    assert!(child.wait().unwrap().success(), "age -d failed");
    assert_eq!(
        fs::read(&plain).unwrap(),
        fs::read(archive.join(format!("data/{a}/original.m4a"))).unwrap()
    );
}

#[test]
fn encrypt_never_prints_a_private_key_given_as_recipient() {
    let (d, archive, a, _) = archive_with_consent();
    let key_text = fs::read_to_string(key()).unwrap();
    let secret = key_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_string();
    let out = d.path().join("e");
    let run = |args: &[&str]| {
        let o = encrypt(
            &archive,
            &[&[a.as_str()], args, &["--out", out.to_str().unwrap()]].concat(),
        );
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!out.exists());
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains(&secret[16..]), "the key leaked: {err}");
        assert!(
            !err.contains("b3BlbnNzaC1rZXktdjE"),
            "the SSH key leaked: {err}"
        );
        err
    };
    // age-keygen's file given to -R: line 3 is the key.
    let err = run(&["-R", key().to_str().unwrap()]);
    assert!(
        err.contains(
            "test-age-key.txt: line 3 is a private key: give the public key (age1…) instead"
        ),
        "{err}"
    );
    // An SSH private key given to -R.
    let err = run(&["-R", fixture("keys/test_ed25519").to_str().unwrap()]);
    assert!(
        err.contains("test_ed25519: line 1 is a private key"),
        "{err}"
    );
    // The key itself given to -r.
    let err = run(&["-r", &secret]);
    assert!(
        err.contains("the recipient given is a private key"),
        "{err}"
    );
    // What age-keygen prints, pasted whole: a hint, not a silent fix.
    let err = run(&["-r", &format!("Public key: {}", public(&key()))]);
    assert!(err.contains("drop that prefix"), "{err}");
}

/// Replaces (or adds) `plain_rel` in the export at `out` as a forger holding only the
/// recipient's public key can: the new bytes encrypted with the stock age, the plaintext
/// manifest re-made with their hash and re-encrypted, every manifest recomputed. (The test
/// reads the old plaintext manifest with the key for convenience; a forger would rebuild
/// it from the archive's ids.) Only visitrec's content checks can tell.
fn forge(out: &Path, plain_rel: &str, bytes: &[u8]) {
    let pm_path = out.join("data/plaintext-manifest-sha256.txt.age");
    let o = age_cli("age")
        .args(["-d", "-i"])
        .arg(key())
        .arg(&pm_path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let digest = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    let mut lines: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with(&format!("  {plain_rel}")))
        .map(str::to_string)
        .collect();
    lines.push(format!("{}  {plain_rel}", digest(bytes)));
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    let encrypt_to = |plain: &[u8], dest: &Path| {
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut child = age_cli("age")
            .args(["-r", &public(&key()), "-o"])
            .arg(dest)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(plain).unwrap();
        assert!(child.wait().unwrap().success());
    };
    encrypt_to(format!("{}\n", lines.join("\n")).as_bytes(), &pm_path);
    let enc = out.join(format!("{plain_rel}.age"));
    let new = !enc.exists();
    encrypt_to(bytes, &enc);
    if new {
        let man = out.join("manifest-sha256.txt");
        let mut text = fs::read_to_string(&man).unwrap();
        text.push_str(&format!("{}  {plain_rel}.age\n", "0".repeat(64)));
        fs::write(&man, text).unwrap();
    }
    rehash_export(out);
}

/// decrypt refuses `out` naming `file` and `why`, writing nothing; verify -i reports it.
fn assert_refused(d: &Path, out: &Path, file: &str, why: &str) {
    let plain = d.join("plain");
    visitrec()
        .arg("decrypt")
        .arg(out)
        .arg("-i")
        .arg(key())
        .arg("--out")
        .arg(&plain)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(file).and(predicate::str::contains(why)));
    assert!(!plain.exists());
    assert!(
        fs::read_dir(d).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );
    let (code, r) = verify_json(out, &["-i", key().to_str().unwrap()]);
    assert_eq!(code, 1, "{r:#}");
    let found = r["problems"].as_array().unwrap().iter().any(|p| {
        p["path"].as_str().unwrap().contains(file) && p["detail"].as_str().unwrap().contains(why)
    });
    assert!(found, "verify -i does not report {file}: {r:#}");
}

#[test]
fn forged_exports_are_refused_by_decrypt_and_reported_by_verify() {
    let (d, archive, a, _) = archive_with_consent();
    let fresh = |name: &str| {
        let out = d.path().join(name);
        let o = encrypt(
            &archive,
            &[&a, "-r", &public(&key()), "--out", out.to_str().unwrap()],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let original = format!("data/{a}/original.m4a");
    // Another recording's bytes in place of the original: its hash is not the id.
    let out = fresh("forged-original");
    forge(
        &out,
        &original,
        &fs::read(fixture("phone/dictation.wav")).unwrap(),
    );
    assert_eq!(verify_json(&out, &[]).0, 0, "the bag itself is well-formed");
    assert_refused(
        d.path(),
        &out,
        "original.m4a.age",
        "does not start with its folder's id",
    );

    // A recording.json that names another original (same id prefix, other hash).
    let out = fresh("forged-metadata");
    let json = fs::read_to_string(archive.join(format!("data/{a}/recording.json"))).unwrap();
    let mut rec: Value = serde_json::from_str(&json).unwrap();
    let sha = rec["source"]["sha256"].as_str().unwrap().to_string();
    rec["source"]["sha256"] = Value::String(format!("{}{}", &sha[..16], "0".repeat(48)));
    let forged = serde_json::to_vec_pretty(&rec).unwrap();
    forge(&out, &format!("data/{a}/recording.json"), &forged);
    assert_refused(
        d.path(),
        &out,
        "recording.json.age",
        "source.sha256 does not match",
    );

    // A recording.json of another recording, in this one's folder.
    let out = fresh("forged-id");
    let (_d2, other_archive, other_id) = {
        let (d2, arch) = new_archive();
        let r = ingest_json(&arch, &[fixture("phone/dictation.wav")], &[]);
        let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
        (d2, arch, id)
    };
    let other = fs::read(other_archive.join(format!("data/{other_id}/recording.json"))).unwrap();
    forge(&out, &format!("data/{a}/recording.json"), &other);
    assert_refused(
        d.path(),
        &out,
        "recording.json.age",
        &format!("recording.json of {other_id}"),
    );

    // A file no recording can have: never written, whatever its name.
    let out = fresh("forged-path");
    forge(
        &out,
        &format!("data/{a}/run-me.sh"),
        b"#!/bin/sh\necho hi\n",
    );
    assert_refused(
        d.path(),
        &out,
        "run-me.sh.age",
        "not a file a recording can have",
    );
    let (code, r) = verify_json(&out, &[]);
    assert_eq!(code, 1, "visible without the key too: {r:#}");
    assert_eq!(r["problems"][0]["kind"], "bad-metadata");
}

/// `tests/fixtures/cctv-age/testdata.tar.xz` unpacked; returns the age file of vector
/// `name` (after its header).
fn cctv_vector(name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let ok = Std::new("tar")
        .arg("-xJf")
        .arg(fixture("cctv-age/testdata.tar.xz"))
        .arg("-C")
        .arg(dir.path())
        .arg(format!("testdata/{name}"))
        .status()
        .unwrap();
    assert!(ok.success());
    let bytes = fs::read(dir.path().join("testdata").join(name)).unwrap();
    let split = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
    bytes[split + 2..].to_vec()
}

#[test]
fn hostile_age_files_are_refused_and_armored_ones_open() {
    // The CCTV vectors' X25519 key; its exports are forged with the vectors' files.
    let (d, archive, a, _) = archive_with_consent();
    let id_file = d.path().join("cctv-key.txt");
    fs::write(
        &id_file,
        "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0\n",
    )
    .unwrap();
    let out = d.path().join("export");
    let o = encrypt(
        &archive,
        &[
            &a,
            "-r",
            &public(&id_file),
            "--include",
            "original,metadata",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // An armored file from the stock age opens, as stock age opens it.
    let orig = archive.join(format!("data/{a}/original.m4a"));
    let victim = out.join(format!("data/{a}/original.m4a.age"));
    let st = age_cli("age")
        .args(["-a", "-r", &public(&id_file), "-o"])
        .arg(&victim)
        .arg(&orig)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        fs::read(&victim)
            .unwrap()
            .starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
    );
    rehash_export(&out);
    let plain = d.path().join("plain");
    visitrec()
        .arg("decrypt")
        .arg(&out)
        .arg("-i")
        .arg(&id_file)
        .arg("--out")
        .arg(&plain)
        .assert()
        .success();
    assert_eq!(
        fs::read(plain.join(format!("data/{a}/original.m4a"))).unwrap(),
        fs::read(&orig).unwrap()
    );
    // A header stock age refuses (a stanza without its final body line) is refused by
    // decrypt and verify -i, naming the file.
    fs::write(&victim, cctv_vector("stanza_missing_final_line")).unwrap();
    rehash_export(&out);
    let plain = d.path().join("plain2");
    visitrec()
        .arg("decrypt")
        .arg(&out)
        .arg("-i")
        .arg(&id_file)
        .arg("--out")
        .arg(&plain)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(
                "original.m4a.age: not a valid age file: malformed age header",
            )
            .and(predicate::str::contains("does not end with a short line")),
        );
    assert!(!plain.exists());
    let (code, r) = verify_json(&out, &["-i", id_file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(r["problems"][0]["kind"], "decrypt", "{r:#}");
}

#[test]
fn passphrase_work_is_capped_and_one_scrypt_runs_at_a_time() {
    let (d, archive, a, _) = archive_with_consent();
    let out = d.path().join("export");
    visitrec()
        .env("VISITREC_PASSPHRASE", "password")
        .arg("encrypt")
        .arg(&archive)
        .args([a.as_str(), "--passphrase", "--out"])
        .arg(&out)
        .assert()
        .success();
    let files = fs::read_to_string(out.join("manifest-sha256.txt"))
        .unwrap()
        .lines()
        .count();
    assert!(files >= 6, "several files, each with its own scrypt");
    // Every file costs a 2^18 scrypt (256 MiB); files are decrypted in parallel, but the
    // scrypts one at a time, so memory stays that of one.
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let (ok, kib) = peak_rss_kib(
        Std::new(&bin)
            .env("VISITREC_PASSPHRASE", "password")
            .args(["verify", "--passphrase", "--json"])
            .arg(&out)
            .stdout(std::process::Stdio::null()),
    );
    assert!(ok, "verify --passphrase failed");
    eprintln!("peak memory of verify --passphrase over {files} files: {kib} KiB");
    assert!(kib < 400 * 1024, "{kib} KiB: scrypts ran side by side");
    // A file asking for 2^23 (the CCTV vector, passphrase "password") is refused at once.
    let victim = out.join(format!("data/{a}/recording.json.age"));
    fs::write(&victim, cctv_vector("scrypt_work_factor_23")).unwrap();
    rehash_export(&out);
    let start = std::time::Instant::now();
    visitrec()
        .env("VISITREC_PASSPHRASE", "password")
        .arg("decrypt")
        .arg(&out)
        .arg("--passphrase")
        .arg("--out")
        .arg(d.path().join("plain"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "recording.json.age: its passphrase needs scrypt work factor 2^23, above the limit of 2^22",
        ));
    assert!(
        start.elapsed().as_secs() < 30,
        "refused without running the scrypt"
    );
}

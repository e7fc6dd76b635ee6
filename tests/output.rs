//! What every command prints as text, and the rules of output shared by all: one JSON
//! document with `--json` on every exit, a closed pipe is success, messages name what the
//! user typed, `--actor` only on writers.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{archive_with_one, fixture, visitrec};

/// Runs `visitrec ARGS…`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = visitrec().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An archive with one consented, normalized, segmented, tagged and marked recording.
fn full_archive(root: &Path) -> (std::path::PathBuf, String) {
    let (archive, id) = archive_with_one(root);
    let a = s(&archive);
    assert_eq!(run(&["segment", a, &id]).0, 0);
    let marked = run(&[
        "tag",
        a,
        &id,
        "--set",
        "site=lebanon",
        "--mark",
        "00:01.5=dose change",
    ]);
    assert_eq!(marked.0, 0, "{}", marked.2);
    (archive, id)
}

#[test]
fn init_ingest_normalize_segment_say_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let a = s(&archive);
    let (code, out, _) = run(&["init", a, "--org", "Clinic"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("Created archive {a} for Clinic\n"));
    let wav = fixture("phone/dictation.wav");
    let (code, out, _) = run(&["ingest", a, s(&wav), "--segment"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ingested  ") && lines[0].ends_with("dictation.wav  (13.3 s)"),
        "{out}"
    );
    assert!(
        out.contains("1 ingested, 0 already present, 0 rejected, 0 skipped\n"),
        "{out}"
    );
    assert!(
        out.contains("normalized ") && out.contains(" LUFS, true peak "),
        "{out}"
    );
    assert!(
        out.contains("1 normalized, 0 already up to date, 0 failed\n"),
        "{out}"
    );
    assert!(
        out.contains("segmented  ") && out.contains(" segment(s)\n"),
        "{out}"
    );
    let (code, out, _) = run(&["ingest", a, s(&wav)]);
    assert_eq!(code, 0);
    assert!(out.starts_with("present   "), "{out}");
    let (code, out, _) = run(&["normalize", a, "--all"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "0 normalized, 1 already up to date, 0 failed\n")
    );
    let (code, out, _) = run(&["-v", "segment", a, "--all", "--min-silence", "0.3"]);
    assert_eq!(code, 0);
    // -v lists each segment with its times.
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("001  00:00.000 - ") && l.ends_with(" s)")),
        "{out}"
    );
    let (code, out, err) = run(&["-q", "ingest", a, s(&wav)]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn show_prints_consent_marks_loudness_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = full_archive(dir.path());
    let (code, out, _) = run(&["show", s(&archive), &id[..6]]);
    assert_eq!(code, 0);
    for want in [
        format!("id:           {id}"),
        "file name:    dictation.wav".into(),
        "tag:          site=lebanon".into(),
        "consent:      active: research (as of ".into(),
        "  research             permitted      since ".into(),
        "  personal-use         not permitted  never granted".into(),
        "consent history:".into(),
        "grant    research  by study:S1".into(),
        "marks:        1".into(),
        "dose change".into(),
        "normalized:   data/".into(),
        "  before:     ".into(),
        "  after:      ".into(),
        "segments:     ".into(),
        "  001  ".into(),
    ] {
        assert!(out.contains(&want), "show lacks {want:?}:\n{out}");
    }
    // JSON stays the recording's metadata as stored.
    let (_, json) = common::run_json(&["show", &id], &archive);
    assert_eq!(json, common::recording(&archive, &id));
}

#[test]
fn list_prints_a_header_and_count_and_tables_for_spreadsheets() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = full_archive(dir.path());
    let a = s(&archive);
    let (code, out, err) = run(&["list", a]);
    assert_eq!(code, 0);
    assert!(out.starts_with(&id) && out.contains("research"), "{out}");
    // No line ends in padding, with tags or without.
    let (_, plain, _) = run(&["list", s(&archive_with_one(&dir.path().join("b")).0)]);
    for line in out.lines().chain(plain.lines()) {
        assert_eq!(line, line.trim_end(), "trailing spaces in {line:?}");
    }
    assert!(err.starts_with("ID  ") && err.contains("CONSENT"), "{err}");
    assert!(err.ends_with("1 recording\n"), "{err}");
    // A filter that matches nothing still says so.
    let (code, out, err) = run(&["list", a, "--consent", "care"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(
        err.ends_with("0 recordings whose consent covers care\n"),
        "{err}"
    );
    let (_, tsv, _) = run(&["list", a, "--format", "tsv"]);
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "id",
            "file_name",
            "recorded_at",
            "duration_s",
            "participant",
            "consent",
            "granted",
            "tags"
        ]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1][0], rows[1][1], rows[1][6], rows[1][7]),
        (id.as_str(), "dictation.wav", "research", "site=lebanon")
    );
    let (_, csv, _) = run(&["list", a, "--format", "csv"]);
    assert!(csv.starts_with("id,file_name,recorded_at,"), "{csv}");
    assert_eq!(csv.lines().count(), 2);
}

#[test]
fn spreadsheet_cells_cannot_hold_formulas_or_break_rows() {
    let dir = tempfile::tempdir().unwrap();
    let archive = common::archive_at(dir.path());
    let evil = dir.path().join("=HYPERLINK(\"x\")\tname\n.wav");
    std::fs::copy(fixture("phone/dictation.wav"), &evil).unwrap();
    assert_eq!(run(&["ingest", s(&archive), s(&evil)]).0, 0);
    for format in ["tsv", "csv"] {
        let (_, out, _) = run(&["list", s(&archive), "--format", format]);
        assert_eq!(out.lines().count(), 2, "{format}: {out}");
        assert!(out.contains("'=HYPERLINK"), "{format}: {out}");
        assert!(!out.contains('\t') || format == "tsv");
        assert!(
            out.contains("\\t") && out.contains("\\n"),
            "{format}: {out}"
        );
    }
}

#[test]
fn tag_consent_and_log_print_their_results() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    let a = s(&archive);
    let (code, out, _) = run(&["tag", a, &id, "--set", "k=v", "--mark", "1=start"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("{id} updated\n  tag   k=v\n  mark  00:01.000  start\n")
            .replace("00:01.000", &visitrec::tags::format_time(1.0))
    );
    let (_, out, _) = run(&["tag", a, &id, "--set", "k=v"]);
    assert!(out.starts_with(&format!("{id} unchanged")), "{out}");
    let (code, out, _) = run(&[
        "consent",
        a,
        &id,
        "--grant",
        "--scope",
        "care",
        "--by",
        "patient:P1",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("{id}: consent ")) && out.contains("care"),
        "{out}"
    );
    let (_, out, _) = run(&["consent", a, &id]);
    assert!(
        out.contains("history:\n") && out.contains("grant    care  by patient:P1"),
        "{out}"
    );
    let (code, out, _) = run(&["log", a]);
    assert_eq!(code, 0);
    let ops: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(ops, ["ingest", "tag", "consent"], "{out}");
    let (_, head, _) = run(&["log", a, "--head"]);
    assert!(
        head.starts_with("3:") && head.trim().len() == 2 + 64,
        "{head}"
    );
}

#[test]
fn encrypt_decrypt_verify_checkpoint_print_their_results() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    let a = s(&archive);
    let key = fixture("keys/test-age-key.txt");
    let recipient = public_key(&key);
    let export = dir.path().join("export");
    let (code, out, _) = run(&[
        "encrypt",
        a,
        &id,
        "-r",
        &recipient,
        "--purpose",
        "research",
        "--out",
        s(&export),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("encrypted 1 recording(s), 2 file(s), ")
            && out.contains("for research to "),
        "{out}"
    );
    let (code, out, _) = run(&["verify", s(&export), "-i", s(&key)]);
    assert_eq!(code, 0);
    assert!(
        out.contains(": intact (") && out.contains(", 3 opened with the key)"),
        "{out}"
    );
    let plain = dir.path().join("plain");
    let (code, out, _) = run(&["decrypt", s(&export), "-i", s(&key), "--out", s(&plain)]);
    assert_eq!(code, 0);
    assert!(out.starts_with("decrypted 2 file(s), "), "{out}");
    // What decrypt made is a bag of its own that verify checks (no audit log asked for).
    let (code, report) = common::verify_json(&plain, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["bag"], "decrypted-export");
    assert_eq!(report["recordings"], 1);
    let (code, out, _) = run(&["verify", a]);
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("{a}: intact (")), "{out}");
    let ssh = fixture("keys/test_ed25519");
    let (code, out, _) = run(&["checkpoint", a, "--key", s(&ssh)]);
    assert_eq!(code, 0);
    assert!(out.starts_with("signed audit line "), "{out}");
    let (_, out, _) = run(&["checkpoint", a, "--key", s(&ssh)]);
    assert!(out.starts_with("already signed audit line "), "{out}");
}

fn generate_key(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("key.txt");
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output();
    assert!(
        out.is_ok_and(|o| o.status.success()),
        "age-keygen is required (scripts/test installs age)"
    );
    path
}

fn public_key(identity: &Path) -> String {
    let out = std::process::Command::new("age-keygen")
        .arg("-y")
        .arg(identity)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn verify_json_is_one_document_on_every_exit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-archive");
    let out = visitrec()
        .args(["verify", s(&missing), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert_eq!(doc["error"]["kind"], "not-archive", "{doc}");
    assert_eq!(doc["error"]["path"], s(&missing));
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-archive")
    );
    // A usage error too.
    let out = visitrec()
        .args(["verify", "--json", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert_eq!(doc["error"]["kind"], "usage");
    // The report says what, by whom, when.
    let (archive, _) = archive_with_one(dir.path());
    let (code, report) = common::verify_json(&archive, &[]);
    assert_eq!(code, 0);
    assert_eq!(report["path"], s(&archive));
    assert_eq!(report["bag"], "archive");
    assert_eq!(report["recordings"], 1);
    assert_eq!(
        report["tool"],
        format!("visitrec/{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(report["checked_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(report["files_decrypted"], 0);
}

#[test]
fn a_wrong_key_is_exit_2_in_verify_as_in_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    let key = fixture("keys/test-age-key.txt");
    let wrong = generate_key(dir.path());
    let export = dir.path().join("export");
    let r = public_key(&key);
    assert_eq!(
        run(&[
            "encrypt",
            s(&archive),
            &id,
            "-r",
            &r,
            "--purpose",
            "research",
            "--out",
            s(&export)
        ])
        .0,
        0
    );
    // The message names the key file tried and the export, not a file inside the export.
    let said = format!(
        "{}: the key in {} does not open this export",
        s(&export),
        s(&wrong)
    );
    let (code, out, err) = run(&["verify", s(&export), "-i", s(&wrong)]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&said), "{err}");
    assert!(!err.contains("plaintext-manifest"), "{err}");
    let (code, _, err) = run(&[
        "decrypt",
        s(&export),
        "-i",
        s(&wrong),
        "--out",
        s(&dir.path().join("p")),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains(&said), "{err}");
    let (_, doc, _) = run(&["verify", s(&export), "-i", s(&wrong), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["error"]["kind"], "wrong-key", "{doc}");
    // Two keys, neither the right one: both are named.
    let wrong2 = dir.path().join("k2");
    std::fs::create_dir(&wrong2).unwrap();
    let wrong2 = generate_key(&wrong2);
    let (code, _, err) = run(&["verify", s(&export), "-i", s(&wrong), "-i", s(&wrong2)]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "none of the keys in {}, {}",
            s(&wrong),
            s(&wrong2)
        )),
        "{err}"
    );
}

#[test]
fn verify_verbose_says_what_was_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_one(dir.path());
    let a = s(&archive);
    let (code, out, _) = run(&["verify", a, "-v", "--require-consent"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("bag: a visitrec archive, 1 recording(s)"),
        "{out}"
    );
    assert!(out.contains("fixity: "), "{out}");
    assert!(
        out.contains("consent: every recording must have active consent"),
        "{out}"
    );
    assert!(
        out.ends_with("problems: 0, warnings: 0\n") || out.contains("intact"),
        "{out}"
    );
    let (_, out, _) = run(&["verify", a, "-v", "--fast"]);
    assert!(out.contains("fixity: skipped (--fast)"), "{out}");
    // Without -v only the verdict.
    let (_, out, _) = run(&["verify", a]);
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn a_signal_to_a_json_command_still_prints_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_one(dir.path());
    // A read-only command that is still running when the signal comes: verify waiting to
    // read its anchors from a pipe nobody writes to (as `--anchors <(…)` would).
    let fifo = dir.path().join("anchors");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("visitrec"))
        .args(["verify", s(&archive), "--anchors", s(&fifo), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once verify has the pipe open for reading (so its handlers are in place), a writer
    // can open it without blocking; holding it open keeps verify waiting in its read.
    let writer = {
        use std::os::unix::fs::OpenOptionsExt;
        let started = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
            {
                Ok(f) => break f,
                Err(_) if started.elapsed().as_secs() < 30 => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => panic!("verify never opened its anchors: {e}"),
            }
        }
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    drop(writer);
    assert_eq!(out.status.code(), Some(130));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "interrupted", "{doc}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGINT"));
}

#[test]
fn a_closed_pipe_is_success() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_one(dir.path());
    for args in [
        vec!["log", s(&archive)],
        vec!["verify", s(&archive), "--json"],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("visitrec"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // as `| head -0` does
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn messages_name_what_the_user_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    let key = fixture("keys/test-age-key.txt");
    // decrypt given the archive, not an export.
    let (code, _, err) = run(&[
        "decrypt",
        s(&archive),
        "-i",
        s(&key),
        "--out",
        s(&dir.path().join("p")),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("this is an archive, not an export; `visitrec encrypt` makes exports"),
        "{err}"
    );
    // A read-only --out names the flag and the folder given, not a hidden staging folder.
    let Some(fs) = common::mounted(1024, "read-only --out") else {
        return;
    };
    fs.remount_read_only();
    let out = fs.path().join("rofs");
    let r = public_key(&key);
    let (code, _, err) = run(&[
        "encrypt",
        s(&archive),
        &id,
        "-r",
        &r,
        "--purpose",
        "research",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        format!("visitrec: error: --out {}: read-only file system", s(&out)),
        "{err}"
    );
    assert!(!err.contains(".partial"));
}

#[test]
fn actor_is_offered_only_by_commands_that_write() {
    for cmd in ["list", "verify", "show", "log", "decrypt"] {
        let (_, help, _) = run(&[cmd, "--help"]);
        assert!(!help.contains("--actor"), "{cmd} offers --actor");
    }
    for cmd in [
        "ingest",
        "normalize",
        "segment",
        "tag",
        "consent",
        "encrypt",
        "checkpoint",
    ] {
        let (_, help, _) = run(&[cmd, "--help"]);
        assert!(help.contains("--actor"), "{cmd} lacks --actor");
        // Global options come last, under their own heading.
        let global = help
            .find("Global options:")
            .expect("a Global options heading");
        assert!(
            help[global..].contains("--quiet") && !help[..global].contains("--quiet"),
            "{cmd}"
        );
    }
    let (code, _, err) = run(&["list", "x", "--actor", "me"]);
    assert_eq!(code, 2);
    assert!(err.contains("--actor"), "{err}");
}

#[test]
fn demo_tells_each_step_and_ends_intact() {
    let dir = tempfile::tempdir().unwrap();
    // A folder name with an escape sequence is printed escaped, in every step.
    let work = dir.path().join("demo\u{1b}[31m");
    let shown = s(&work).replace('\u{1b}', "\\x1b");
    let (code, out, err) = run(&["demo", s(&work)]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(
        out.starts_with(&format!("visitrec demo in {shown}\n")),
        "{out}"
    );
    for step in 1..=9 {
        assert!(
            out.contains(&format!("\n{step}. ")),
            "step {step} missing:\n{out}"
        );
    }
    assert!(
        out.contains("8 ingested, 0 already present, 0 rejected"),
        "{out}"
    );
    assert!(
        out.contains("4. ingested the same folder again: 8 already present, 0 new"),
        "{out}"
    );
    assert!(out.contains("opened with the key)"), "{out}");
    assert!(
        out.contains(&format!("{shown}/study-archive: intact (")),
        "{out}"
    );
    // It refuses a folder that holds something.
    let (code, _, err) = run(&["demo", s(&work)]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists and is not empty"), "{err}");
}

#[test]
fn a_usage_error_with_json_keeps_what_clap_said() {
    // The missing argument is on clap's second line; the document and stderr name it.
    let (code, out, err) = run(&["show", "--json"]);
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("a JSON document");
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(msg.contains("<ARCHIVE>") && msg.contains("<ID>"), "{msg}");
    assert!(err.contains("<ARCHIVE>"), "{err}");
    // The possible values of a bad value.
    let (code, out, _) = run(&["list", "a", "--format", "xls", "--json"]);
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("a JSON document");
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(msg.contains("tsv, csv"), "{msg}");
    // An argument that is not UTF-8 does not make the usage error panic.
    use std::os::unix::ffi::OsStrExt;
    let out = visitrec()
        .arg("list")
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
}

#[test]
fn list_json_prints_no_table_header() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_one(dir.path());
    let (code, out, err) = run(&["list", s(&archive), "--json"]);
    assert_eq!(code, 0);
    serde_json::from_str::<serde_json::Value>(&out).expect("a JSON document");
    assert!(!err.contains("RECORDED AT"), "{err}");
}

#[test]
fn log_verbose_names_every_recording_of_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let a = s(&archive);
    assert_eq!(run(&["init", a, "--org", "T"]).0, 0);
    let (code, _, err) = run(&["ingest", a, s(&fixture("phone"))]);
    assert_eq!(code, 0, "{err}");
    let (_, normal, _) = run(&["log", a]);
    assert!(normal.contains(" more"), "{normal}");
    let (_, verbose, _) = run(&["log", a, "-v"]);
    assert!(!verbose.contains(" more"), "{verbose}");
    let first = verbose.lines().next().unwrap();
    assert_eq!(first.split_whitespace().count(), 4 + 7, "{first}");
}

#[test]
fn completion_offers_only_real_ids_of_a_hostile_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    // A manifest naming folders with an escape sequence and a (percent-encoded) newline.
    let manifest = archive.join("manifest-sha256.txt");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    let zeros = "0".repeat(64);
    text.push_str(&format!(
        "{zeros}  data/{}\x1b[31mX/recording.json\n{zeros}  data/{}%0Ax/recording.json\n",
        &id[..2],
        &id[..2]
    ));
    std::fs::write(&manifest, text).unwrap();
    let out = visitrec()
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "3")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .args(["--", "visitrec", "show", s(&archive), &id[..2]])
        .output()
        .unwrap();
    assert!(out.status.success());
    let words = String::from_utf8(out.stdout).unwrap();
    assert_eq!(words.trim(), id, "{words:?}");
}

#[test]
fn init_on_a_read_only_file_system_names_the_archive() {
    let Some(fs) = common::mounted(1024, "init on a read-only file system") else {
        return;
    };
    fs.remount_read_only();
    let archive = fs.path().join("study");
    let (code, _, err) = run(&["init", s(&archive), "--org", "T"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        format!("visitrec: error: {}: read-only file system", s(&archive)),
        "{err}"
    );
}

#[test]
fn a_suggested_command_quotes_an_archive_path_with_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let (one, _) = archive_with_one(dir.path());
    let archive = dir.path().join("Dr Lee's study");
    std::fs::rename(&one, &archive).unwrap();
    let (code, _, err) = run(&["show", s(&archive), "zz"]);
    assert_eq!(code, 2);
    // The hint is a command that runs as printed.
    let hint = err.split('`').nth(1).expect("a command in backticks");
    assert!(hint.starts_with("visitrec list '"), "{err}");
    let words = hint.trim_start_matches("visitrec ");
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{} {words}", bin.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{hint}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn segment_verbose_prints_times_as_show_does() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = full_archive(dir.path());
    let a = s(&archive);
    // Cut at the mark: new parameters, so it segments again.
    let (code, out, err) = run(&["segment", a, &id, "--at-marks", "-v"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\n           001  00:00.000 - "), "{out}");
    let (_, shown, _) = run(&["show", a, &id]);
    let first = out.lines().nth(1).unwrap().trim_start();
    let first = first.split("  [").next().unwrap();
    assert!(
        shown.contains(&format!("  {first}  data/")),
        "{first:?}\n{shown}"
    );
}

#[test]
fn every_id_and_scope_argument_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    let a = s(&archive);
    let complete = |words: &[&str]| -> String {
        let out = visitrec()
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "true")
            .env("_CLAP_IFS", "\n")
            .arg("--")
            .args(words)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for cmd in [
        "tag",
        "normalize",
        "segment",
        "encrypt",
        "show",
        "log",
        "consent",
    ] {
        assert_eq!(complete(&["visitrec", cmd, a, &id[..3]]), id, "{cmd}");
    }
    assert_eq!(
        complete(&[
            "visitrec",
            "ingest",
            a,
            "x.wav",
            "--consent-scope",
            "care,re"
        ]),
        "care,research"
    );
}

#[test]
fn a_closed_pipe_is_success_for_a_long_csv_table() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let a = s(&archive);
    assert_eq!(run(&["init", a, "--org", "T"]).0, 0);
    // More rows than the CSV writer's and stdout's buffers hold (distinct content each).
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    for i in 0..60 {
        let samples = 800 + i;
        let bytes = (2 * samples) as u32;
        common::crafted_wav(&inbox.join(format!("r{i}.wav")), 8000, 1, bytes, samples);
    }
    let wide = format!("note={}", "x".repeat(1000));
    let (code, _, err) = run(&["ingest", a, s(&inbox), "--tag", &wide, "-q"]);
    assert_eq!(code, 0, "{err}");
    for format in ["csv", "tsv", "text"] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("visitrec"))
            .args(["list", a, "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // as `| head -0` does
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {err}");
        assert!(!err.contains("error"), "{format}: {err}");
    }
}

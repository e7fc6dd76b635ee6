//! An archive on a read-only file system, and one the user may not read: every command
//! fails with a one-line error naming the path and the reason, exit 2, and changes nothing.
//! The read-only case mounts a tmpfs (root only; otherwise it says why it skipped).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command as Std;

use common::*;

/// Runs `visitrec ARGS[0] ARCHIVE ARGS[1..]` through `wrap`; asserts exit 2 and a one-line
/// error naming the archive and containing `reason`.
fn fails_with(wrap: &dyn Fn(&mut Std), archive: &Path, args: &[String], reason: &str) {
    let bin = assert_cmd::cargo::cargo_bin("visitrec");
    let mut cmd = Std::new(bin);
    cmd.arg(&args[0]).arg(archive).args(&args[1..]);
    wrap(&mut cmd);
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(reason), "{args:?}: {err}");
    assert!(
        err.contains(archive.to_str().unwrap()),
        "{args:?} names no path: {err}"
    );
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(reason),
        "{args:?}: the reason is not on the first line: {err}"
    );
}

#[test]
fn a_read_only_archive_refuses_every_writer_and_still_verifies() {
    let Some(fs) = mounted(4000, "read-only archive") else {
        return;
    };
    let (archive, id) = archive_with_one(fs.path());
    let elsewhere = tempfile::tempdir().unwrap();
    fs.remount_read_only();
    let before = snapshot(&archive);
    for args in writer_commands(&id, &elsewhere.path().join("export")) {
        fails_with(&|_| {}, &archive, &args, "read-only file system");
        assert_eq!(snapshot(&archive), before, "{args:?} changed the archive");
    }
    assert!(
        !elsewhere.path().join("export").exists(),
        "an export was written from an archive that could not record it"
    );
    // Reading still works: list, show, and a full verify.
    visitrec().arg("list").arg(&archive).assert().success();
    visitrec()
        .arg("show")
        .arg(&archive)
        .arg(&id)
        .assert()
        .success();
    let (code, report) = verify_json(&archive, &[]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn an_archive_the_user_may_not_read_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(dir.path());
    let before = snapshot(&archive);
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::set_permissions(elsewhere.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // The archive is private to its owner (0700). Root passes any permission, so as root
    // the commands run as `nobody`; otherwise the folder is closed to its owner for a time.
    let root = unsafe { libc::geteuid() } == 0;
    let as_stranger = |cmd: &mut Std| {
        if root {
            let program = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            *cmd = Std::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(program)
                .args(args);
        }
    };
    if !root {
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let mut commands = writer_commands(&id, &elsewhere.path().join("export"));
    commands.push(vec!["list".into()]);
    commands.push(vec!["verify".into()]);
    commands.push(vec!["show".into(), id.clone()]);
    for args in &commands {
        fails_with(&as_stranger, &archive, args, "permission denied");
    }
    if !root {
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    assert_eq!(snapshot(&archive), before);
    assert!(!elsewhere.path().join("export").exists());
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

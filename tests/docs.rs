//! The committed man pages and completions must match what the clap definition generates
//! (regenerate with `scripts/gen-docs`), and the pages must be real manual pages.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn generate(into: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (man, comp) = (into.join("man"), into.join("completions"));
    common::visitrec()
        .arg("generate")
        .arg("--man")
        .arg(&man)
        .arg("--completions")
        .arg(&comp)
        .assert()
        .success();
    (man, comp)
}

#[test]
fn man_pages_and_completions_are_current() {
    let fresh = tempfile::tempdir().unwrap();
    let (man, comp) = generate(fresh.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (generated, committed) in [(man, root.join("man")), (comp, root.join("completions"))] {
        let (want, have) = (files(&generated), files(&committed));
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            have.keys().collect::<Vec<_>>(),
            "{} is stale: run scripts/gen-docs",
            committed.display()
        );
        for (name, bytes) in &want {
            assert!(
                have[name] == *bytes,
                "{}/{name} is stale: run scripts/gen-docs",
                committed.display()
            );
        }
    }
}

#[test]
fn man_pages_are_whole_and_link_only_shipped_pages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = files(&root.join("man"));
    assert!(
        pages.len() >= 15,
        "one page per subcommand plus visitrec(1)"
    );
    let main = String::from_utf8_lossy(&pages["visitrec.1"]).into_owned();
    for section in [
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "SECURITY",
        "EXAMPLES",
        "VISITREC_PASSPHRASE",
    ] {
        assert!(main.contains(section), "visitrec(1) lacks {section}");
    }
    assert!(
        !main.contains("generate"),
        "the hidden generate command is not documented"
    );
    for (name, page) in &pages {
        let text = String::from_utf8_lossy(page);
        // Every page it links to is shipped.
        for link in text.split("visitrec-").skip(1) {
            let Some(end) = link.find("(1)") else {
                continue;
            };
            let target = format!("visitrec-{}.1", &link[..end]);
            if link[..end].chars().all(|c| c.is_ascii_lowercase()) {
                assert!(
                    pages.contains_key(&target),
                    "{name} links {target}, not shipped"
                );
            }
        }
        if name != "visitrec.1" {
            let cmd = name.trim_start_matches("visitrec-").trim_end_matches(".1");
            // The synopsis is the command as typed, not the page's name.
            assert!(
                text.contains(&format!("\\fBvisitrec {cmd}\\fR")),
                "{name}: synopsis is not `visitrec {cmd}`"
            );
            assert!(text.contains("SEE ALSO"), "{name} has no SEE ALSO");
        }
    }
    // roff writes a hyphen as `\-`.
    let text = |name: &str| String::from_utf8_lossy(&pages[name]).replace("\\-", "-");
    let verify = text("visitrec-verify.1");
    for kind in [
        "bad-metadata",
        "consent-mismatch",
        "not-visitrec",
        "checkpoint",
    ] {
        assert!(
            verify.contains(kind),
            "visitrec-verify(1) does not list {kind}"
        );
    }
    let ingest = text("visitrec-ingest.1");
    for outcome in ["ingested", "present", "rejected", "skipped"] {
        assert!(
            ingest.contains(outcome),
            "visitrec-ingest(1) does not list {outcome}"
        );
    }
}

#[test]
fn completion_suggests_scopes_and_the_archives_ids() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    common::visitrec()
        .args(["init", archive.to_str().unwrap(), "--org", "T"])
        .assert()
        .success();
    common::visitrec()
        .args(["ingest", archive.to_str().unwrap()])
        .arg(common::fixture("phone/dictation.wav"))
        .assert()
        .success();
    let id = fs::read_dir(archive.join("data"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let complete = |words: &[&str]| -> String {
        let out = common::visitrec()
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "true")
            .env("_CLAP_IFS", "\n")
            .arg("--")
            .args(words)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let a = archive.to_str().unwrap();
    let scopes = complete(&["visitrec", "consent", a, &id[..4], "--scope", "re"]);
    assert_eq!(scopes.trim(), "research", "{scopes}");
    let after_comma = complete(&["visitrec", "encrypt", a, "--purpose", "care,fam"]);
    assert_eq!(after_comma.trim(), "care,family-sharing", "{after_comma}");
    let ids = complete(&["visitrec", "show", a, &id[..3]]);
    assert_eq!(ids.trim(), id, "{ids}");
}

#[test]
fn subcommand_pages_list_the_options_the_subcommand_takes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = |name: &str| {
        std::fs::read_to_string(root.join("man").join(name))
            .unwrap()
            .replace("\\-", "-")
    };
    // `visitrec list -V` is a usage error: only visitrec(1) lists -V; -q and -v are taken
    // everywhere.
    let list = page("visitrec-list.1");
    assert!(!list.contains("--version"), "visitrec-list(1) lists -V");
    assert!(list.contains("--quiet") && list.contains("--verbose"));
    assert!(page("visitrec.1").contains("--version"));
    common::visitrec().args(["list", "-V"]).assert().code(2);
    // Every warning kind of verify is listed.
    let verify = page("visitrec-verify.1");
    for kind in [
        "pending-journal",
        "loose-permissions",
        "clock-backwards",
        "unsigned-history",
        "leftover-staging",
    ] {
        assert!(
            verify.contains(kind),
            "visitrec-verify(1) does not list {kind}"
        );
    }
}

#[test]
fn the_files_visitrec_1_names_are_where_an_archive_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = common::archive_with_one(dir.path());
    let page = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/visitrec.1"))
        .unwrap()
        .replace("\\-", "-");
    let files = &page[page.find(".SH FILES").unwrap()..page.find(".SH SECURITY").unwrap()];
    for name in ["audit.jsonl", "bagit.txt", "manifest-sha256.txt"] {
        assert!(archive.join(name).is_file(), "{name}");
        assert!(
            files.contains(&format!("ARCHIVE/{name}")) || files.contains(name),
            "{name}"
        );
    }
    assert!(files.contains("\\fIARCHIVE/audit.jsonl\\fR"), "{files}");
    assert!(!files.contains(".visitrec/audit.jsonl"), "{files}");
    assert!(!files.contains(".visitrec/checkpoints.jsonl"), "{files}");
}

#[test]
fn help_and_man_page_give_the_same_exit_status_1() {
    let out = common::visitrec().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let one = &help[help.find("\n  1  ").expect("exit code 1")..help.find("\n  2  ").unwrap()];
    for cmd in ["verify", "ingest", "normalize", "segment"] {
        assert!(
            one.contains(cmd),
            "--help's exit status 1 omits {cmd}: {one}"
        );
    }
}

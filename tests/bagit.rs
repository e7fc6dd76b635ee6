//! BagIt strictness: the Library of Congress conformance suite through `verify`, its defects
//! transplanted into real archives, agreement with bagit-python on both, and writers facing
//! a manifest they would leave stale.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use sha2::Digest;

/// The suite's bags, unpacked from the vendored tarball (see scripts/vendor-bagit-suite).
fn suite() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(fixture("bagit-conformance.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar is needed to unpack the conformance suite");
    assert!(status.success());
    dir
}

/// Every bag of the suite (`version/category/name`), the problem kinds visitrec must report
/// besides `not-visitrec` (none of them is a visitrec archive), and a text one of those
/// problems must contain (`path: detail`), naming the defect the bag is about.
const VERDICTS: &[(&str, &[&str], &str)] = &[
    ("v0.93/valid/basic-bag", &[], ""),
    ("v0.93/valid/duplicate-metadata-entries", &[], ""),
    ("v0.94/valid/basic-bag", &[], ""),
    ("v0.94/valid/duplicate-metadata-entries", &[], ""),
    ("v0.95/valid/basic-bag", &[], ""),
    ("v0.95/valid/duplicate-metadata-entries", &[], ""),
    ("v0.96/valid/bag-in-a-bag", &[], ""),
    ("v0.96/valid/bag-with-encoded-names", &[], ""),
    ("v0.96/valid/bag-with-escapable-characters", &[], ""),
    (
        "v0.96/valid/bag-with-leading-dot-slash-in-manifest",
        &[],
        "",
    ),
    ("v0.96/valid/bag-with-space", &[], ""),
    ("v0.96/valid/basic-bag", &[], ""),
    ("v0.96/valid/duplicate-metadata-entries", &[], ""),
    // Valid BagIt, but a visitrec archive is never holey.
    (
        "v0.96/valid/holey-bag",
        &["bad-manifest"],
        "fetch.txt: fetch.txt is refused",
    ),
    ("v0.97/valid/ISO-8859-1-encoded-tag-files", &[], ""),
    ("v0.97/valid/UTF-16-encoded-tag-files", &[], ""),
    ("v0.97/valid/bag-in-a-bag", &[], ""),
    ("v0.97/valid/bag-with-encoded-names", &[], ""),
    ("v0.97/valid/bag-with-escapable-characters", &[], ""),
    (
        "v0.97/valid/bag-with-leading-dot-slash-in-manifest",
        &[],
        "",
    ),
    ("v0.97/valid/bag-with-space", &[], ""),
    ("v0.97/valid/basic-bag", &[], ""),
    ("v0.97/valid/duplicate-metadata-entries", &[], ""),
    (
        "v0.97/valid/holey-bag",
        &["bad-manifest"],
        "fetch.txt: fetch.txt is refused",
    ),
    ("v0.97/valid/minimal-bag", &[], ""),
    ("v0.97/valid/uncommon-metadata-separators", &[], ""),
    (
        "v0.97/invalid/baginfo-missing-encoding",
        &["bad-manifest", "modified"],
        "bagit.txt: line 2: no Tag-File-Character-Encoding",
    ),
    (
        "v0.97/invalid/bom-in-bagit.txt",
        &["bad-manifest"],
        "bagit.txt: line 1: starts with a byte-order mark",
    ),
    (
        "v0.97/invalid/corrupt-data-file",
        &["modified", "oxum"],
        "data/bare-filename: md5 is",
    ),
    (
        "v0.97/invalid/corrupt-tag-file",
        &["modified"],
        "bag-info.txt: md5 is a9ca1dd1e555f03147e4513070966839, tagmanifest says deadbeef",
    ),
    (
        "v0.97/invalid/extra-file-in-bag",
        &["extra", "oxum"],
        "data/bar: not listed in manifest-md5.txt",
    ),
    (
        "v0.97/invalid/invalid-version-number",
        &["bad-manifest", "modified"],
        "bagit.txt: line 1: BagIt-Version \".97\" is not MAJOR.MINOR",
    ),
    (
        "v0.97/invalid/missing-baginfo",
        &["missing"],
        "bag-info.txt: no such file",
    ),
    (
        "v0.97/invalid/missing-bagit.txt",
        &["bad-manifest", "missing"],
        "bagit.txt: bagit.txt is missing",
    ),
    (
        "v0.97/invalid/out-of-scope-file-paths-using-dot-notation",
        &["bad-manifest"],
        "manifest-md5.txt: line 3: path climbs out of the bag",
    ),
    (
        "v0.97/invalid/out-of-scope-file-paths-using-dot-notation-for-fetch",
        &["bad-manifest"],
        "fetch.txt: line 1: path climbs out of the bag (..): \"../../../README.md\"",
    ),
    (
        "v0.97/invalid/same-filename-listed-twice-with-different-hashes",
        &["bad-manifest", "modified"],
        "manifest-sha256.txt: line 2: duplicate entry",
    ),
    (
        "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path",
        &["bad-manifest"],
        "manifest-md5.txt: line 3: absolute path: \"/tmp/foo\"",
    ),
    (
        "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path-for-fetch",
        &["bad-manifest"],
        "fetch.txt: line 1: absolute path: \"/tmp/test.txt\"",
    ),
    (
        "v0.97/linux-only/out-of-scope-file-paths-using-shortcut",
        &["bad-manifest"],
        "manifest-md5.txt: lists a path outside data/: \"~/foo\"",
    ),
    (
        "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-for-fetch",
        &["bad-manifest"],
        "fetch.txt: line 1: path outside data/: \"~/test.txt\"",
    ),
    (
        "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username",
        &["bad-manifest"],
        "manifest-md5.txt: lists a path outside data/: \"~root/foo\"",
    ),
    (
        "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username-for-fetch",
        &["bad-manifest"],
        "fetch.txt: line 1: path outside data/: \"~root/foo\"",
    ),
    // The suite's "warning" bags: visitrec has no warnings, so each is either accepted or
    // refused for what it really is.
    (
        "v0.97/warning/duplicate-file-with-different-case",
        &["missing"],
        "data/HELLO.txt: listed in manifest-sha512.txt but absent",
    ),
    (
        "v0.97/warning/made-with-md5sum-tools",
        &["bad-manifest", "extra"],
        "manifest-md5.txt: line 1: \"*data/hello.txt\": '*' is md5sum's binary-mode mark",
    ),
    ("v0.97/warning/relative-path", &[], ""),
    (
        "v0.97/warning/same-filename-listed-twice-with-different-normalization",
        &["missing"],
        "listed in manifest-sha512.txt but absent",
    ),
    (
        "v0.97/warning/same-filename-listed-twice-with-the-same-hash",
        &["bad-manifest"],
        "manifest-sha256.txt: line 2: duplicate entry for \"data/README\"",
    ),
    (
        "v0.97/warning/special-system-files",
        &["missing", "oxum"],
        "data/.DS_Store: listed in manifest-sha512.txt but absent",
    ),
    ("v1.0/valid/basicBag", &[], ""),
    (
        "v1.0/invalid/bagit-with-invalid-whitespace",
        &["bad-manifest"],
        "bagit.txt: line 1: white space before the colon",
    ),
    (
        "v1.0/invalid/notAllManifestsListAllFiles",
        &["extra"],
        "data/missingFromManifest.txt: not listed in manifest-sha512.txt",
    ),
    (
        "v1.0/invalid/same-filename-listed-twice-with-different-hashes",
        &["bad-manifest", "modified"],
        "manifest-sha256.txt: line 2: duplicate entry",
    ),
    (
        "v1.0/invalid/same-filename-listed-twice-with-the-same-hash",
        &["bad-manifest", "modified"],
        "manifest-sha256.txt: line 2: duplicate entry",
    ),
];

/// Where bagit-python's verdict differs from visitrec's, and why visitrec is right.
const BAGIT_PY_DIFFERS: &[(&str, &str)] = &[
    ("v0.96/valid/holey-bag", "a visitrec archive is never holey"),
    ("v0.97/valid/holey-bag", "a visitrec archive is never holey"),
    (
        "v0.97/warning/made-with-md5sum-tools",
        "bagit.py strips md5sum's '*'; RFC 8493 has no such syntax",
    ),
    (
        "v0.97/warning/same-filename-listed-twice-with-the-same-hash",
        "bagit.py only warns before 1.0; a duplicate entry is refused in any version",
    ),
    (
        "v1.0/invalid/bagit-with-invalid-whitespace",
        "bagit.py strips white space around the colon; RFC 8493 §2.2.2 forbids it in 1.0",
    ),
];

/// Every bag folder in the unpacked suite (`vX/category/name`).
fn bags_in(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for version in fs::read_dir(root).unwrap() {
        let version = version.unwrap().path();
        if !version.is_dir() {
            continue;
        }
        for category in fs::read_dir(&version).unwrap() {
            for bag in fs::read_dir(category.unwrap().path()).unwrap() {
                let bag = bag.unwrap().path();
                let rel = bag.strip_prefix(root).unwrap();
                out.insert(rel.to_str().unwrap().to_string());
            }
        }
    }
    out
}

/// The kinds of a report besides `not-visitrec`, sorted and deduplicated.
fn bag_kinds(r: &serde_json::Value) -> Vec<String> {
    let set: BTreeSet<String> = kinds(r)
        .into_iter()
        .filter(|k| k != "not-visitrec")
        .collect();
    set.into_iter().collect()
}

/// Each problem of a report as `path: detail`.
fn lines(r: &serde_json::Value) -> Vec<String> {
    r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p["path"].as_str().unwrap(),
                p["detail"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_conformance_suite_bag_gets_its_verdict() {
    let dir = suite();
    let found = bags_in(dir.path());
    let listed: BTreeSet<String> = VERDICTS.iter().map(|(b, _, _)| b.to_string()).collect();
    assert_eq!(found, listed, "VERDICTS must name every vendored bag");
    for (bag, want, needle) in VERDICTS {
        let path = dir.path().join(bag);
        let (code, r) = verify_json(&path, &[]);
        // No suite bag is a visitrec archive, so none exits 0: the valid ones are told so.
        assert_eq!(code, 1, "{bag}: {r:#}");
        assert_eq!(bag_kinds(&r), *want, "{bag}: {r:#}");
        let all = lines(&r);
        assert!(
            all.iter().any(|l| l.contains(needle)),
            "{bag}: no problem says {needle:?}: {all:#?}"
        );
        let not_visitrec: Vec<_> = r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "not-visitrec")
            .collect();
        assert_eq!(not_visitrec.len(), 1, "{bag}: {r:#}");
        let valid = want.is_empty();
        let detail = not_visitrec[0]["detail"].as_str().unwrap();
        assert_eq!(
            detail.starts_with("a valid BagIt"),
            valid,
            "{bag}: {detail}"
        );
        if bag.contains("/valid/") {
            // No valid bag gets a fixity error (holey bags are refused for fetch.txt only).
            for k in ["missing", "modified", "extra", "oxum"] {
                assert!(!want.contains(&k), "{bag}");
            }
        }
        let out = visitrec().arg("verify").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.contains("Some(") && !text.contains("badmanifest"),
            "{text}"
        );
        if valid {
            // One line that names what was found.
            assert_eq!(text.lines().count(), 1, "{bag}: {text}");
            assert!(
                text.starts_with(&format!("{}: a valid BagIt", path.display())),
                "{text}"
            );
            assert!(
                text.contains("payload file") && text.contains("manifest-"),
                "{text}"
            );
        } else {
            for k in want.iter() {
                assert!(text.contains(&format!("{k:<13} ")), "{bag}: {k} in {text}");
            }
        }
    }
}

#[test]
fn interop_bagit_python_agrees_on_the_suite_except_where_rfc_8493_is_stricter() {
    let dir = suite();
    for (bag, want, _) in VERDICTS {
        let path = dir.path().join(bag);
        let ours = want.is_empty();
        let theirs = bagit_valid(&path, false);
        let differs = BAGIT_PY_DIFFERS.iter().find(|(b, _)| b == bag);
        match differs {
            None => assert_eq!(theirs, ours, "bagit.py and visitrec disagree on {bag}"),
            Some((_, why)) => assert_ne!(theirs, ours, "{bag} is listed as differing ({why})"),
        }
    }
}

// ---- The suite's defects transplanted into a real archive --------------------------------

/// The payload paths of an archive (from its SHA-256 manifest).
fn payload(a: &Path) -> Vec<String> {
    fs::read_to_string(a.join("manifest-sha256.txt"))
        .unwrap()
        .lines()
        .map(|l| l.split_once("  ").unwrap().1.to_string())
        .collect()
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}
fn sha512_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(b))
}

/// Writes manifest `name` for `paths` with `digest`, as bagit-python would.
fn write_manifest(a: &Path, name: &str, paths: &[String], digest: fn(&[u8]) -> String) {
    let text: String = paths
        .iter()
        .map(|p| format!("{}  {p}\n", digest(&fs::read(a.join(p)).unwrap())))
        .collect();
    fs::write(a.join(name), text).unwrap();
}

/// Changes the first digit of the first digest in manifest `name`.
fn spoil_first_digest(a: &Path, name: &str) {
    let p = a.join(name);
    let mut t = fs::read_to_string(&p).unwrap();
    let c = if t.starts_with('0') { "1" } else { "0" };
    t.replace_range(0..1, c);
    fs::write(p, t).unwrap();
}

const TAG_FILES: [&str; 3] = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt"];

fn tag_files() -> Vec<String> {
    TAG_FILES.iter().map(|s| s.to_string()).collect()
}

fn md5_manifest(a: &Path) {
    write_manifest(a, "manifest-md5.txt", &payload(a), md5_hex);
}
fn wrong_md5(a: &Path) {
    md5_manifest(a);
    spoil_first_digest(a, "manifest-md5.txt");
}
fn wrong_sha512(a: &Path) {
    write_manifest(a, "manifest-sha512.txt", &payload(a), sha512_hex);
    spoil_first_digest(a, "manifest-sha512.txt");
}
fn md5_leaves_one_out(a: &Path) {
    write_manifest(a, "manifest-md5.txt", &payload(a)[1..], md5_hex);
}
fn sha512_tag_manifest(a: &Path) {
    write_manifest(a, "tagmanifest-sha512.txt", &tag_files(), sha512_hex);
}
fn wrong_tag_md5(a: &Path) {
    write_manifest(a, "tagmanifest-md5.txt", &tag_files(), md5_hex);
    spoil_first_digest(a, "tagmanifest-md5.txt");
}
fn fetch_out_of_the_bag(a: &Path) {
    fs::write(
        a.join("fetch.txt"),
        "http://localhost:8989/x - ../../../README.md\n",
    )
    .unwrap();
}
/// Rewrites bagit.txt and keeps the tag manifest in step, so only the syntax is wrong.
fn rewrite_bagit_txt(a: &Path, text: &str) {
    fs::write(a.join("bagit.txt"), text).unwrap();
    rehash_entry(a, "tagmanifest-sha256.txt", "bagit.txt");
}
fn bom_in_bagit_txt(a: &Path) {
    rewrite_bagit_txt(
        a,
        "\u{feff}BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    );
}
fn space_before_colon(a: &Path) {
    rewrite_bagit_txt(
        a,
        "BagIt-Version : 1.0\nTag-File-Character-Encoding : UTF-8\n",
    );
}
fn unknown_algorithm(a: &Path) {
    write_manifest(a, "manifest-whirlpool.txt", &payload(a), md5_hex);
}

/// A change to a real archive: name, change, the kinds `verify` must report, a text one of
/// the problems must contain, and whether bagit-python agrees on the verdict.
type Case = (
    &'static str,
    fn(&Path),
    &'static [&'static str],
    &'static str,
    bool,
);

const CASES: &[Case] = &[
    (
        "a correct manifest-md5.txt beside the SHA-256 one",
        md5_manifest,
        &[],
        "",
        true,
    ),
    (
        "a wrong digest in manifest-md5.txt",
        wrong_md5,
        &["modified"],
        ": md5 is ",
        true,
    ),
    (
        "a wrong digest in manifest-sha512.txt",
        wrong_sha512,
        &["modified"],
        ": sha512 is ",
        true,
    ),
    // bagit.py asks only that some manifest lists each file; RFC 8493 §2.1.3 asks every one.
    (
        "a manifest-md5.txt that leaves a file out",
        md5_leaves_one_out,
        &["extra"],
        "not listed in manifest-md5.txt",
        false,
    ),
    (
        "a correct tagmanifest-sha512.txt",
        sha512_tag_manifest,
        &[],
        "",
        true,
    ),
    (
        "a wrong digest in tagmanifest-md5.txt",
        wrong_tag_md5,
        &["modified"],
        "bagit.txt: md5 is ",
        true,
    ),
    (
        "fetch.txt pointing at ../../../README.md",
        fetch_out_of_the_bag,
        &["bad-manifest"],
        "fetch.txt: line 1: path climbs out of the bag (..): \"../../../README.md\"",
        true,
    ),
    (
        "a byte-order mark in bagit.txt",
        bom_in_bagit_txt,
        &["bad-manifest"],
        "bagit.txt: line 1: starts with a byte-order mark",
        true,
    ),
    // bagit.py strips the white space; RFC 8493 §2.2.2 forbids it in a 1.0 bag.
    (
        "a space before the colon in bagit.txt",
        space_before_colon,
        &["bad-manifest"],
        "bagit.txt: line 2: white space before the colon",
        false,
    ),
    // bagit.py skips a manifest it has no hash for; visitrec says it cannot vouch for it.
    (
        "a manifest in an algorithm visitrec cannot check",
        unknown_algorithm,
        &["bad-manifest"],
        "manifest-whirlpool.txt: \"whirlpool\" is not a digest visitrec can check",
        false,
    ),
];

#[test]
fn transplanted_defects_are_caught_in_a_real_archive() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("base")).unwrap();
    let (base, _) = archive_with_one(&d.path().join("base"));
    for (i, (name, change, want, needle, _)) in CASES.iter().enumerate() {
        let a = d.path().join(format!("case{i}"));
        copy_tree(&base, &a);
        change(&a);
        let (code, r) = verify_json(&a, &[]);
        let want: Vec<String> = want.iter().map(|k| k.to_string()).collect();
        assert_eq!(bag_kinds(&r), want, "{name}: {r:#}");
        assert!(!kinds(&r).contains(&"not-visitrec".into()), "{name}: {r:#}");
        assert_eq!(code, if want.is_empty() { 0 } else { 1 }, "{name}: {r:#}");
        let all = lines(&r);
        if !want.is_empty() {
            assert!(
                all.iter().any(|l| l.contains(needle)),
                "{name}: no problem says {needle:?}: {all:#?}"
            );
            let out = visitrec().arg("verify").arg(&a).output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(
                text.contains(&format!("{:<13} ", want[0])),
                "{name}: {text}"
            );
            assert!(!text.contains("badmanifest"), "{text}");
        }
    }
}

#[test]
fn interop_bagit_python_agrees_on_the_transplanted_defects() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("base")).unwrap();
    let (base, _) = archive_with_one(&d.path().join("base"));
    for (i, (name, change, want, _, agrees)) in CASES.iter().enumerate() {
        let a = d.path().join(format!("case{i}"));
        copy_tree(&base, &a);
        change(&a);
        let theirs = bagit_valid(&a, false);
        if *agrees {
            assert_eq!(theirs, want.is_empty(), "bagit.py disagrees on: {name}");
        } else {
            assert!(theirs && !want.is_empty(), "{name} is listed as differing");
        }
    }
}

#[test]
fn a_bag_made_by_another_tool_is_told_apart_in_one_line() {
    let dir = suite();
    let bag: PathBuf = dir.path().join("v1.0/valid/basicBag");
    visitrec()
        .arg("verify")
        .arg(&bag)
        .assert()
        .code(1)
        .stdout(format!(
            "{}: a valid BagIt 1.0 bag, but not a visitrec archive: no .visitrec/ folder, no \
             data/<id>/recording.json and no Bag-Software-Agent (found 1 payload file, \
             manifest-sha512.txt, tagmanifest-sha512.txt)\n",
            bag.display()
        ));
}

#[test]
fn writers_refuse_an_archive_with_another_algorithms_manifest_and_change_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (archive, id) = archive_with_one(d.path());
    let export = d.path().join("export");
    for (extra, write) in [
        ("manifest-md5.txt", md5_manifest as fn(&Path)),
        ("tagmanifest-sha512.txt", sha512_tag_manifest),
    ] {
        write(&archive);
        assert_eq!(
            verify_json(&archive, &[]).0,
            0,
            "{extra} is a valid addition"
        );
        let before = snapshot(&archive);
        for args in writer_commands(&id, &export) {
            let out = command_on(&args, &archive).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} with {extra}: {err}",
                args[0]
            );
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(&format!("{extra}: visitrec keeps only SHA-256 manifests"))
                    && err.contains("stale")
                    && err.contains("nothing was changed"),
                "{err}"
            );
            assert_eq!(
                snapshot(&archive),
                before,
                "{} changed the archive",
                args[0]
            );
            assert!(!export.exists(), "encrypt wrote an export");
        }
        fs::remove_file(archive.join(extra)).unwrap();
    }
    // Without them, writers write again.
    let out = command_on(&writer_commands(&id, &export)[3], &archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

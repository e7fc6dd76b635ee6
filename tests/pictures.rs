//! `plot` and `report` as a person sees them: rendered by a real browser (headless
//! chromium) to PNG and to its DOM, with hostile names and labels; and the envelope they
//! are drawn from, hostile or missing. Chromium must be installed (`scripts/test` installs
//! Debian's `chromium`): without it these tests fail, they never skip.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A mark label that would close the SVG and open an image if it were not escaped.
const HOSTILE_LABEL: &str = "</svg><img src=x onerror=alert(1)>";
/// A file name that would run a script if it were not escaped (set in recording.json:
/// a file on disk cannot hold the `/`).
const HOSTILE_NAME: &str = "<script>alert(1)</script>.m4a";
/// A real file name, ingested, that would load an image.
const IMG_NAME: &str = "<img src=x onerror=alert(2)>.wav";

/// Three normalized, segmented recordings with consent: one with the hostile mark label
/// (and research withdrawn), one renamed to [`HOSTILE_NAME`], one ingested as
/// [`IMG_NAME`]. Returns (archive, [marked, renamed, img]).
fn archive(root: &Path) -> (PathBuf, Vec<String>) {
    let archive = archive_at(root);
    let inbox = root.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for (i, name) in ["marked.wav", "renamed.wav", IMG_NAME].iter().enumerate() {
        write_wav(&inbox.join(name), i as u32 + 1, 2.0 + i as f32);
    }
    let r = ingest_json(
        &archive,
        &[inbox],
        &[
            "--participant",
            "P017",
            "--consent-scope",
            "research,care",
            "--consent-by",
            "patient:P017",
            "--normalize",
            "--segment",
        ],
    );
    let id_of = |name: &str| {
        r["ingested"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"].as_str().unwrap().ends_with(name))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ids = vec![id_of("marked.wav"), id_of("renamed.wav"), id_of(IMG_NAME)];
    visitrec()
        .arg("tag")
        .arg(&archive)
        .arg(&ids[0])
        .args(["--mark", &format!("0.5={HOSTILE_LABEL}")])
        .assert()
        .success();
    visitrec()
        .arg("consent")
        .arg(&archive)
        .arg(&ids[0])
        .args(["--withdraw", "--scope", "research", "--by", "patient:P017"])
        .assert()
        .success();
    let mut rec = recording(&archive, &ids[1]);
    rec["source"]["file_name"] = HOSTILE_NAME.into();
    rewrite_json(&archive, &format!("data/{}/recording.json", ids[1]), &rec);
    (archive, ids)
}

/// Replaces a payload JSON file and its manifest digest (and the tag manifest's digest of
/// the manifest), as a hand edit that also fixed the checksums would.
fn rewrite_json(archive: &Path, rel: &str, v: &serde_json::Value) {
    let mut bytes = serde_json::to_vec_pretty(v).unwrap();
    bytes.push(b'\n');
    replace_payload(archive, rel, &bytes);
}

fn replace_payload(archive: &Path, rel: &str, bytes: &[u8]) {
    std::fs::write(archive.join(rel), bytes).unwrap();
    rehash_entry(archive, "manifest-sha256.txt", rel);
    rehash_entry(archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
}

/// Runs chromium headless on `page` with `args`; its stdout. Fails loudly without it.
fn chromium(page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is not installed: run scripts/test (it installs Debian's chromium), or apt-get install chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Screenshots `page` at `w`×`h`: (width, height, RGB pixels).
fn screenshot(page: &Path, w: u32, h: u32) -> (u32, u32, Vec<[u8; 3]>) {
    let png = page.with_extension("png");
    chromium(
        page,
        &[
            &format!("--window-size={w},{h}"),
            &format!("--screenshot={}", png.display()),
        ],
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// How many pixels are not white, and how many distinct colours there are.
fn ink(pixels: &[[u8; 3]]) -> (usize, usize) {
    let inked = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
    let colours: HashSet<[u8; 3]> = pixels.iter().copied().collect();
    (inked, colours.len())
}

/// Pixels within 40 of `rgb` on each channel.
fn near(pixels: &[[u8; 3]], rgb: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 40))
        .count()
}

#[test]
fn the_visit_picture_and_the_report_render_in_a_browser_with_hostile_text_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, ids) = archive(dir.path());
    let svg = dir.path().join("visit.svg");
    visitrec()
        .arg("plot")
        .arg(&archive)
        .arg(&ids[0])
        .arg("-o")
        .arg(&svg)
        .assert()
        .success()
        .stdout(predicates::str::contains("wrote"));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for needed in [
        "<title id=\"t\">",
        "<desc id=\"d\">",
        "&lt;/svg&gt;&lt;img src=x onerror=alert(1)&gt;",
        // The consent strip: care permitted, research withdrawn (the day it was granted,
        // so never permitted: no span of it is drawn).
        "<title>care permitted from",
        "<title>research withdrawn on",
    ] {
        assert!(text.contains(needed), "{needed} not in the SVG");
    }
    assert_eq!(
        text.matches("</svg>").count(),
        1,
        "one SVG element, closed once"
    );
    assert!(!text.contains("<title>research permitted"));
    for never in ["<script", "<img", "<foreignObject", "href=", "url("] {
        assert!(!text.contains(never), "{never} in the SVG");
    }
    // The browser draws it: the size asked for, a waveform, a mark, the consent strip.
    let (w, h, px) = screenshot(&svg, 1200, 560);
    assert_eq!((w, h), (1200, 560));
    let (inked, colours) = ink(&px);
    assert!(inked > px.len() / 20, "almost blank: {inked} inked pixels");
    assert!(colours > 8, "{colours} colours");
    assert!(near(&px, [0x1f, 0x4e, 0x79]) > 2000, "no waveform drawn");
    assert!(
        near(&px, [0xc0, 0x39, 0x2b]) > 100,
        "no mark or withdrawal drawn"
    );
    assert!(
        near(&px, [0x2e, 0x8b, 0x57]) > 500,
        "no permitted consent drawn"
    );

    let html = dir.path().join("report.html");
    let out = visitrec()
        .arg("report")
        .arg(&archive)
        .arg("-o")
        .arg(&html)
        .arg("--json")
        .output()
        .unwrap();
    // The renamed recording's hand edit is noticed by verify only if it checks names: the
    // report runs verify and exits 1 on problems; either way it writes the page.
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["recordings"], 3);
    assert_eq!(summary["withdrawn_not_purged"], 1);
    assert_eq!(
        out.status.code(),
        Some(if summary["verified"] == true { 0 } else { 1 })
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
    for never in [
        "<script",
        "<img",
        "<link",
        "<iframe",
        "src=\"http",
        "@import",
        "url(",
    ] {
        assert!(!page.contains(never), "{never} in the report");
    }
    let dom = chromium(&html, &["--dump-dom"]);
    assert_eq!(
        dom.matches("<tr class=\"recording\"").count(),
        3,
        "one row per recording"
    );
    assert!(!dom.contains("<script"), "a script element was created");
    assert!(!dom.contains("<img"), "an img element was created");
    // The names and the label are there, as text.
    for text in [
        "&lt;script&gt;alert(1)&lt;/script&gt;.m4a",
        "&lt;img src=x onerror=alert(2)&gt;.wav",
        "&lt;/svg&gt;&lt;img src=x onerror=alert(1)&gt;",
    ] {
        assert!(dom.contains(text), "{text} not shown as text");
    }
    assert_eq!(dom.matches("<svg").count(), 3, "a thumbnail per recording");
    let (w, h, px) = screenshot(&html, 1000, 1400);
    assert_eq!((w, h), (1000, 1400));
    let (inked, colours) = ink(&px);
    assert!(inked > px.len() / 50, "almost blank: {inked} inked pixels");
    assert!(colours > 8, "{colours} colours");
    assert!(
        near(&px, [0x1f, 0x4e, 0x79]) > 200,
        "no thumbnail waveform drawn"
    );
}

#[test]
fn a_hostile_envelope_fails_closed_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, ids) = archive(dir.path());
    let rel = format!("data/{}/envelope.json", ids[2]);
    let good = std::fs::read(archive.join(&rel)).unwrap();
    let huge = format!(
        r#"{{"schema":1,"sample_rate":16000,"frames":99999999,"min":[{z}],"max":[{z}]}}"#,
        z = vec!["0"; 200_000].join(",")
    );
    let mut stretched: serde_json::Value = serde_json::from_slice(&good).unwrap();
    stretched["frames"] = serde_json::json!(1_000_000_000_000_000u64);
    let stretched = stretched.to_string();
    for (bad, why) in [
        ("{not json".to_string(), "not a valid envelope"),
        (
            r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[NaN],"max":[1]}"#.to_string(),
            "not a valid envelope",
        ),
        (
            r#"{"schema":1,"sample_rate":16000,"frames":3,"min":[9],"max":[1]}"#.to_string(),
            "min <= max",
        ),
        (huge, "larger than 256 KiB"),
        // Well formed, but a hand-edited length: the picture's time axis would grow without
        // bound (it drew a 1 GB SVG).
        (stretched, "recording.json says"),
    ] {
        replace_payload(&archive, &rel, bad.as_bytes());
        let before = snapshot(&archive);
        let out = visitrec()
            .arg("plot")
            .arg(&archive)
            .arg(&ids[2])
            .arg("-o")
            .arg(dir.path().join("x.svg"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&rel) && err.contains(why), "{err}");
        assert!(!dir.path().join("x.svg").exists());
        // verify (full) reports it, though its checksum was fixed up.
        let (code, report) = verify_json(&archive, &[]);
        assert_eq!(code, 1);
        let problem = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"] == rel.as_str())
            .unwrap_or_else(|| panic!("{report}"));
        assert_eq!(problem["kind"], "bad-metadata");
        // The report is still written, with the row undrawn, and exits 1.
        let out = visitrec()
            .arg("report")
            .arg(&archive)
            .arg("-o")
            .arg(dir.path().join("r.html"))
            .arg("--fast")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("envelope refused"));
        let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
        let shown = why.replace('<', "&lt;");
        assert!(
            page.contains("no envelope") && page.contains(&shown),
            "{why}"
        );
        assert_eq!(snapshot(&archive), before, "reading changed the archive");
    }
    // A damaged envelope (checksum not fixed) is repairable, and repair restores it.
    std::fs::write(archive.join(&rel), b"{}").unwrap();
    let (_, report) = verify_json(&archive, &[]);
    let p = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == rel.as_str() && p["kind"] == "modified")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(p["repairable"], true);
    // (the manifest still has the hostile one's digest: put the good one's back first)
    std::fs::write(archive.join(&rel), &good).unwrap();
    rehash_entry(&archive, "manifest-sha256.txt", &rel);
    rehash_entry(&archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
    std::fs::remove_file(archive.join(&rel)).unwrap();
    visitrec().arg("repair").arg(&archive).assert().success();
    assert_eq!(std::fs::read(archive.join(&rel)).unwrap(), good);
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn a_recording_normalized_before_envelopes_gets_one_from_repair() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, ids) = archive(dir.path());
    let id = &ids[2];
    let rel = format!("data/{id}/envelope.json");
    let made = std::fs::read(archive.join(&rel)).unwrap();
    make_legacy(&archive, id);
    assert_eq!(verify_json(&archive, &[]).0, 0, "a legacy archive verifies");
    let out = visitrec()
        .arg("plot")
        .arg(&archive)
        .arg(id)
        .arg("-o")
        .arg(dir.path().join("v.svg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no envelope.json") && err.contains("visitrec repair"),
        "{err}"
    );
    // The report draws the others and says this one has none.
    let out = visitrec()
        .arg("report")
        .arg(&archive)
        .arg("-o")
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert_eq!(page.matches("no envelope").count(), 1);

    let (code, plan) = run_json(&["repair", "--dry-run"], &archive);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["repaired"][0]["files"][0]["path"], rel.as_str());
    assert!(
        plan["repaired"][0]["files"][0]["found"]
            .as_str()
            .unwrap()
            .contains("never made")
    );
    let (code, done) = run_json(&["repair"], &archive);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["repaired"].as_array().unwrap().len(), 1);
    assert_eq!(
        std::fs::read(archive.join(&rel)).unwrap(),
        made,
        "the same envelope normalize made"
    );
    assert_eq!(
        recording(&archive, id)["normalized"]["envelope"],
        rel.as_str()
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
    visitrec()
        .arg("plot")
        .arg(&archive)
        .arg(id)
        .arg("-o")
        .arg(dir.path().join("v.svg"))
        .assert()
        .success();
    // A second repair finds nothing to do.
    let (_, again) = run_json(&["repair"], &archive);
    assert_eq!(again["repaired"].as_array().unwrap().len(), 0, "{again}");
}

/// Makes recording `id` look normalized by a release that kept no envelope: the file, its
/// manifest line and its `recording.json` field gone, the Payload-Oxum and tag manifest
/// updated to match.
fn make_legacy(archive: &Path, id: &str) {
    let rel = format!("data/{id}/envelope.json");
    std::fs::remove_file(archive.join(&rel)).unwrap();
    let manifest = archive.join("manifest-sha256.txt");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.ends_with(&format!("  {rel}")))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&manifest, &kept).unwrap();
    let json = format!("data/{id}/recording.json");
    let mut rec = recording(archive, id);
    rec["normalized"]
        .as_object_mut()
        .unwrap()
        .remove("envelope");
    let mut bytes = serde_json::to_vec_pretty(&rec).unwrap();
    bytes.push(b'\n');
    std::fs::write(archive.join(&json), bytes).unwrap();
    rehash_entry(archive, "manifest-sha256.txt", &json);
    let (mut size, mut count) = (0u64, 0u64);
    for l in std::fs::read_to_string(&manifest).unwrap().lines() {
        let (_, p) = l.split_once("  ").unwrap();
        size += std::fs::metadata(archive.join(p)).unwrap().len();
        count += 1;
    }
    let info = archive.join("bag-info.txt");
    let text = std::fs::read_to_string(&info).unwrap();
    let out: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum:") {
                format!("Payload-Oxum: {size}.{count}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&info, out).unwrap();
    rehash_entry(archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
    rehash_entry(archive, "tagmanifest-sha256.txt", "bag-info.txt");
}

#[test]
fn plot_refuses_what_it_cannot_draw_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let id = r["ingested"][0]["id"].as_str().unwrap();
    let out = dir.path().join("v.svg");
    visitrec()
        .arg("plot")
        .arg(&archive)
        .arg(id)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("visitrec normalize"));
    visitrec()
        .arg("plot")
        .arg(&archive)
        .arg("ffff")
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2);
    // Never into an archive, where it would be an unlisted payload file.
    visitrec()
        .arg("normalize")
        .arg(&archive)
        .arg("--all")
        .assert()
        .success();
    visitrec()
        .arg("plot")
        .arg(&archive)
        .arg(id)
        .arg("-o")
        .arg(archive.join("data/v.svg"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("inside the visitrec archive"));
    visitrec()
        .arg("report")
        .arg(&archive)
        .arg("-o")
        .arg(archive.join("r.html"))
        .assert()
        .code(2);
    assert!(!out.exists());
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn a_bare_output_file_name_is_written_in_the_current_folder_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, ids) = archive(dir.path());
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    visitrec()
        .current_dir(&out_dir)
        .arg("plot")
        .arg(&archive)
        .arg(&ids[0])
        .args(["-o", "visit.svg"])
        .assert()
        .success();
    visitrec()
        .current_dir(&out_dir)
        .arg("report")
        .arg(&archive)
        .args(["-o", "report.html", "--fast"])
        // (exit 1: verify finds the hand-edited recording.json `archive` plants on purpose)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("wrote report.html"));
    assert!(
        std::fs::read_to_string(out_dir.join("visit.svg"))
            .unwrap()
            .contains("<svg")
    );
    assert!(
        std::fs::read_to_string(out_dir.join("report.html"))
            .unwrap()
            .contains("<html")
    );
}

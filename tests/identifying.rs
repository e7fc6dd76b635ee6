//! Metadata that identifies people: which kinds each container's tags carry (recorded in
//! `recording.json`, never their values), what `show` and `encrypt` say about them, and
//! `encrypt --strip-metadata` checked against the stock tools (age, ffprobe, ffmpeg).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Tool;

use common::*;
use serde_json::Value;

const KEY: &str = "tests/fixtures/keys/test-age-key.txt";

/// The fixtures, with the kinds their tags carry.
const TAGGED: &[(&str, &[&str])] = &[
    (
        "identifying/iphone-keys.m4a",
        &["location", "device", "person"],
    ),
    ("identifying/gapless-named.m4a", &["location", "person"]),
    ("identifying/tagged.mp3", &["location", "person", "text"]),
    ("identifying/tagged.opus", &["location", "person", "text"]),
    ("identifying/tagged.ogg", &["location", "person", "text"]),
    ("identifying/cover.flac", &["person", "text", "picture"]),
    ("identifying/info.wav", &["person", "text"]),
    ("phone/with-location.m4a", &["location"]),
];
/// Fixtures without identifying tags.
const PLAIN: &[&str] = &[
    "phone/dictation.wav",
    "formats/voice-note.amr",
    "phone/voice-memo.m4a",
];

fn key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(KEY)
}

fn recipient() -> String {
    let text = fs::read_to_string(key()).unwrap();
    let line = text.lines().find(|l| l.contains("public key: ")).unwrap();
    line.split("public key: ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string()
}

/// An archive holding every fixture above, consenting to personal use: file name → id.
fn archive_with_all(root: &Path) -> (PathBuf, BTreeMap<String, String>) {
    let archive = archive_at(root);
    let files: Vec<PathBuf> = TAGGED
        .iter()
        .map(|(f, _)| *f)
        .chain(PLAIN.iter().copied())
        .map(fixture)
        .collect();
    let r = ingest_json(
        &archive,
        &files,
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P1",
        ],
    );
    let ids = r["ingested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let id = i["id"].as_str().unwrap().to_string();
            let name = recording(&archive, &id)["source"]["file_name"]
                .as_str()
                .unwrap()
                .to_string();
            (name, id)
        })
        .collect::<BTreeMap<_, _>>();
    assert_eq!(ids.len(), TAGGED.len() + PLAIN.len(), "{r:#}");
    (archive, ids)
}

fn name_of(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap()
}

fn tool(name: &str) -> Tool {
    let mut c = Tool::new(name);
    c.stdin(std::process::Stdio::null());
    c
}

/// ffprobe's format and stream tags of `path`, as `key=value` strings.
fn ffprobe_tags(path: &Path) -> Vec<String> {
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format_tags:stream_tags",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe must be installed for this test");
    assert!(out.status.success(), "ffprobe {}", path.display());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tags = Vec::new();
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    for t in streams
        .iter()
        .map(|s| &s["tags"])
        .chain([&v["format"]["tags"]])
    {
        for (k, val) in t.as_object().into_iter().flatten() {
            tags.push(format!("{k}={}", val.as_str().unwrap_or_default()));
        }
    }
    tags
}

/// ffmpeg's decode of the audio of `path` as 16-bit PCM.
fn pcm(path: &Path) -> Vec<u8> {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg must be installed for this test");
    assert!(out.status.success(), "ffmpeg {}", path.display());
    out.stdout
}

/// Tags that say nothing about a person: container brands, track handler, creation time
/// (MP4 `mvhd`/`mdhd`, which stripping leaves), and the gapless tag.
fn harmless(tag: &str) -> bool {
    let key = tag.split('=').next().unwrap();
    [
        "creation_time",
        "language",
        "handler_name",
        "vendor_id",
        "major_brand",
        "minor_version",
        "compatible_brands",
        "iTunSMPB",
    ]
    .contains(&key)
}

#[test]
fn each_container_records_the_kinds_its_tags_carry() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, ids) = archive_with_all(dir.path());
    for (file, kinds) in TAGGED {
        let s = &recording(&archive, &ids[name_of(file)])["source"];
        let mut want: Vec<&str> = kinds.to_vec();
        want.sort();
        let got: Vec<&str> = s["identifying"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, want, "{file}");
        assert_eq!(s["has_location"], kinds.contains(&"location"), "{file}");
        // Only kinds: no value of a tag reaches recording.json.
        let text = s.to_string();
        for value in ["Zoë", "Zo\\u00eb", "48.8584", "iPhone", "Hugo"] {
            assert!(!text.contains(value), "{file}: {text}");
        }
    }
    for file in PLAIN {
        let s = &recording(&archive, &ids[name_of(file)])["source"];
        assert_eq!(s["identifying"], serde_json::json!([]), "{file}");
        assert_eq!(s["has_location"], false, "{file}");
    }
}

#[test]
fn a_container_whose_tags_visitrec_does_not_read_is_not_called_clean() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let caf = dir.path().join("memo.caf");
    let st = tool("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(fixture("phone/dictation.wav"))
        .args(["-t", "1", "-c:a", "pcm_s16le"])
        .arg(&caf)
        .status()
        .expect("ffmpeg must be installed for this test");
    assert!(st.success());
    let r = ingest_json(&archive, &[caf], &[]);
    let id = r["ingested"][0]["id"].as_str().expect("CAF ingests");
    let s = &recording(&archive, id)["source"];
    assert_eq!(s["container"], "caf");
    assert_eq!(s["identifying"], serde_json::json!(["other"]));
}

#[test]
fn show_says_the_original_still_carries_them_and_encrypt_warns() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(
        &archive,
        &[
            fixture("identifying/iphone-keys.m4a"),
            fixture("phone/dictation.wav"),
        ],
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P1",
        ],
    );
    let id = |i: usize| r["ingested"][i]["id"].as_str().unwrap().to_string();
    let show = |id: &str| {
        let out = visitrec()
            .arg("show")
            .arg(&archive)
            .arg(id)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let tagged = show(&id(0));
    assert!(
        tagged.contains("identifying:  location, device, person — still in the original"),
        "{tagged}"
    );
    assert!(!tagged.contains("not copied"), "{tagged}");
    assert!(show(&id(1)).contains("identifying:  none found in the original's tags"));

    let encrypt = |out: &str, strip: bool| {
        let mut c = visitrec();
        c.arg("encrypt")
            .arg(&archive)
            .arg("--all")
            .args(["-r", &recipient(), "--out"])
            .arg(dir.path().join(out));
        if strip {
            c.arg("--strip-metadata");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8(o.stderr).unwrap(),
        )
    };
    let (_, warned) = encrypt("as-is", false);
    assert!(
        warned.contains(&format!(
            "{}: the original carries identifying metadata (location, device, person), and the \
             export includes it; --strip-metadata leaves it out",
            id(0)
        )),
        "{warned}"
    );
    assert!(!warned.contains(&id(1)), "{warned}");
    let (said, quiet) = encrypt("stripped", true);
    assert!(!quiet.contains("identifying"), "{quiet}");
    assert!(
        said.contains(
            "wrote 1 original(s) without their metadata (listed in metadata-stripped.txt)"
        ),
        "{said}"
    );
}

#[test]
fn stripped_originals_decode_to_the_same_samples_and_carry_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, ids) = archive_with_all(dir.path());
    let export = dir.path().join("export");
    export_stripped(&archive, &export);
    // Which originals were stripped: those that had tags (an untagged one is exported as is).
    let listed = fs::read_to_string(export.join("metadata-stripped.txt")).unwrap();
    let original_of = |id: &str| {
        recording(&archive, id)["source"]["stored_as"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut want: Vec<String> = TAGGED
        .iter()
        .map(|(f, _)| original_of(&ids[name_of(f)]))
        .collect();
    want.sort();
    assert_eq!(listed.lines().collect::<Vec<_>>(), want);
    let info = fs::read_to_string(export.join("bag-info.txt")).unwrap();
    assert!(
        info.contains(&format!("Visitrec-Metadata-Stripped: {}", TAGGED.len())),
        "{info}"
    );
    // verify checks the export end to end, the stripped files included.
    let (code, report) = verify_json(&export, &["--identity", KEY]);
    assert_eq!(code, 0, "{report:#}");
    // The stock age tool opens a stripped original to the same bytes as `decrypt`.
    let opened = dir.path().join("opened");
    open_export(&export, &opened);
    let gapless = original_of(&ids["gapless-named.m4a"]);
    let by_age = dir.path().join("by-age.m4a");
    let st = tool("age")
        .args(["-d", "-i"])
        .arg(key())
        .arg("-o")
        .arg(&by_age)
        .arg(export.join(format!("{gapless}.age")))
        .status()
        .expect("age must be installed for this test");
    assert!(st.success());
    assert_eq!(
        fs::read(&by_age).unwrap(),
        fs::read(opened.join(&gapless)).unwrap()
    );
    let (code, report) = verify_json(&opened, &[]);
    assert_eq!(code, 0, "{report:#}");

    let again = archive_at(&dir.path().join("again"));
    for (name, id) in &ids {
        let stored = original_of(id);
        let (before, after) = (archive.join(&stored), opened.join(&stored));
        let tagged = TAGGED.iter().any(|(f, _)| name_of(f) == name);
        if tagged {
            assert!(
                ffprobe_tags(&before).iter().any(|t| !harmless(t)),
                "{name}: the fixture has no identifying tag to strip"
            );
        } else {
            assert_eq!(
                fs::read(&before).unwrap(),
                fs::read(&after).unwrap(),
                "{name}"
            );
        }
        let left: Vec<String> = ffprobe_tags(&after)
            .into_iter()
            .filter(|t| !harmless(t))
            .collect();
        assert!(left.is_empty(), "{name}: {left:?}");
        // Same samples, same length, by ffmpeg's decoder and by ours.
        assert_eq!(pcm(&before), pcm(&after), "{name}");
        let r = ingest_json(&again, std::slice::from_ref(&after), &[]);
        let new_id = r["ingested"][0]["id"]
            .as_str()
            .expect("the stripped copy ingests");
        let (old, new) = (recording(&archive, id), recording(&again, new_id));
        assert_eq!(old["source"]["frames"], new["source"]["frames"], "{name}");
        assert_eq!(
            new["source"]["identifying"],
            serde_json::json!([]),
            "{name}"
        );
    }
    // The gapless tag is kept: without it, the copy would be 2112 samples longer.
    assert!(
        ffprobe_tags(&opened.join(&gapless))
            .iter()
            .any(|t| t.starts_with("iTunSMPB="))
    );
}

/// An ID3v2.3 frame.
fn id3_frame(id: &str, body: &[u8]) -> Vec<u8> {
    let mut f = id.as_bytes().to_vec();
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(body);
    f
}

#[test]
fn an_mp3_keeps_its_gapless_comment_and_its_length() {
    // tagged.mp3's audio behind a new ID3v2.3 tag: a name, and iTunes' gapless comment.
    let old = fs::read(fixture("identifying/tagged.mp3")).unwrap();
    let syncsafe = |b: &[u8]| {
        b.iter()
            .fold(0usize, |a, &x| (a << 7) | usize::from(x & 0x7f))
    };
    let audio = &old[10 + syncsafe(&old[6..10])..];
    // Without its ID3v1 tag at the end (which has a title and a comment).
    assert_eq!(&audio[audio.len() - 128..][..3], b"TAG");
    let audio = &audio[..audio.len() - 128];
    let smpb = b" 00000000 00000210 000004C0 0000000000005B40 00000000 00000000";
    let mut comm = b"\0engiTunSMPB\0".to_vec();
    comm.extend_from_slice(smpb);
    let frames = [
        id3_frame("TPE1", "\u{0}Zoë Martin".as_bytes()),
        id3_frame("COMM", &comm),
    ]
    .concat();
    let n = frames.len();
    let mut mp3 = b"ID3\x03\0\0".to_vec();
    mp3.extend([
        (n >> 21) as u8 & 0x7f,
        (n >> 14) as u8 & 0x7f,
        (n >> 7) as u8 & 0x7f,
        n as u8 & 0x7f,
    ]);
    mp3.extend(frames);
    mp3.extend_from_slice(audio);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gapless.mp3");
    fs::write(&input, &mp3).unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(
        &archive,
        std::slice::from_ref(&input),
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P1",
        ],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        recording(&archive, &id)["source"]["identifying"],
        serde_json::json!(["person"])
    );
    let export = dir.path().join("export");
    export_stripped(&archive, &export);
    let opened = dir.path().join("opened");
    open_export(&export, &opened);
    let stored = format!("data/{id}/original.mp3");
    let stripped = fs::read(opened.join(&stored)).unwrap();
    let kept = [
        &b"ID3\x03\0\0"[..],
        &[0, 0, 0, 10 + comm.len() as u8],
        &id3_frame("COMM", &comm),
        audio,
    ]
    .concat();
    assert_eq!(stripped, kept);
    assert_eq!(pcm(&archive.join(&stored)), pcm(&opened.join(&stored)));
    let again = archive_at(&dir.path().join("again"));
    let r = ingest_json(&again, &[opened.join(&stored)], &[]);
    let new_id = r["ingested"][0]["id"].as_str().unwrap();
    assert_eq!(
        recording(&archive, &id)["source"]["frames"],
        recording(&again, new_id)["source"]["frames"]
    );
}

#[test]
fn an_original_that_cannot_be_stripped_stops_the_export_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    // A chained Ogg (two logical streams one after the other): visitrec decodes it, but
    // will not rewrite it.
    let chained = dir.path().join("chained.opus");
    let mut bytes = fs::read(fixture("identifying/tagged.opus")).unwrap();
    bytes.extend(fs::read(fixture("phone/whatsapp-note.opus")).unwrap());
    fs::write(&chained, bytes).unwrap();
    let r = ingest_json(
        &archive,
        &[chained, fixture("identifying/tagged.mp3")],
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P1",
        ],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    let before = snapshot(&archive);
    let out = dir.path().join("exports").join("p1");
    let o = visitrec()
        .arg("encrypt")
        .arg(&archive)
        .args(["--all", "--strip-metadata", "-r", &recipient(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    let path = archive.join("data").join(&id).join("original.opus");
    assert!(
        err.contains(&format!("{}: cannot strip its metadata: ", path.display()))
            && err.contains("more than one logical stream")
            && err.contains("nothing was exported"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.exists());
    let left: Vec<_> = fs::read_dir(dir.path().join("exports"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(snapshot(&archive), before);
    // The JSON error document names the kind.
    let o = visitrec()
        .arg("encrypt")
        .arg(&archive)
        .args([
            "--all",
            "--strip-metadata",
            "--json",
            "-r",
            &recipient(),
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "cannot-strip", "{v:#}");
}

#[test]
fn verify_needs_the_list_of_stripped_originals() {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_at(dir.path());
    let r = ingest_json(
        &archive,
        &[fixture("identifying/tagged.opus")],
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P1",
        ],
    );
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    let export = dir.path().join("export");
    export_stripped(&archive, &export);
    // The list may name only originals the export holds: checked without the key.
    let forged = dir.path().join("forged");
    copy_tree(&export, &forged);
    let list = forged.join("metadata-stripped.txt");
    let mut text = fs::read_to_string(&list).unwrap();
    text.push_str("data/0123456789abcdef/original.mp3\n../../etc/passwd\n");
    fs::write(&list, text).unwrap();
    rehash_entry(&forged, "tagmanifest-sha256.txt", "metadata-stripped.txt");
    let (code, report) = verify_json(&forged, &[]);
    assert_eq!(code, 1, "{report:#}");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{report:#}");
    for p in problems {
        assert_eq!(p["path"], "metadata-stripped.txt", "{report:#}");
        assert_eq!(p["kind"], "bad-metadata", "{report:#}");
    }
    // Without the list, the stripped copy is an original whose hash is not its id.
    fs::remove_file(export.join("metadata-stripped.txt")).unwrap();
    let tags = fs::read_to_string(export.join("tagmanifest-sha256.txt")).unwrap();
    let kept: String = tags
        .lines()
        .filter(|l| !l.ends_with("metadata-stripped.txt"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(export.join("tagmanifest-sha256.txt"), kept).unwrap();
    let (code, report) = verify_json(&export, &["--identity", KEY]);
    assert_eq!(code, 1, "{report:#}");
    let text = report.to_string();
    assert!(
        text.contains(&format!("does not start with its folder's id {id}")),
        "{text}"
    );
}

/// An XMP packet naming a place and a person.
const XMP: &str = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><rdf:Description \
    exif:GPSLatitude=\"48,51.5N\" exif:GPSLongitude=\"2,17.7E\"><dc:creator><rdf:Seq><rdf:li>\
    Dr Jane Owner</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>";
/// Text appended after the audio.
const APPENDED: &[u8] = b"Patient Zoe Martin GPS +48.8584+002.2945 Dr Jane Owner";

/// Metadata where the readers once did not look, built from the fixtures: an ID3v2.4 tag
/// appended to an MP3 (footer `3DI`), XMP in a top-level MP4 `uuid` box (before `mdat`, so
/// that stripping moves the chunk offsets) and in a WAV `XMP ` chunk, and text appended
/// after the last MP3 frame and past the RIFF size of a WAV.
fn hidden_metadata(dir: &Path) -> Vec<(PathBuf, &'static [&'static str])> {
    let syncsafe = |n: usize| {
        [
            (n >> 21) as u8 & 0x7f,
            (n >> 14) as u8 & 0x7f,
            (n >> 7) as u8 & 0x7f,
            n as u8 & 0x7f,
        ]
    };
    let old = fs::read(fixture("identifying/tagged.mp3")).unwrap();
    let lead = old[6..10]
        .iter()
        .fold(0usize, |a, &x| (a << 7) | usize::from(x & 0x7f));
    let audio = &old[10 + lead..old.len() - 128]; // no ID3v2, no ID3v1
    let v24 = |id: &str, text: &str| {
        let mut f = id.as_bytes().to_vec();
        f.extend(syncsafe(text.len() + 1));
        f.extend_from_slice(&[0, 0, 3]);
        f.extend_from_slice(text.as_bytes());
        f
    };
    let frames = [
        v24("TPE1", "Dr Jane Owner"),
        v24("TXXX", "GPS\0+48.8584+002.2945"),
    ]
    .concat();
    let mut id3end = audio.to_vec();
    for magic in [b"ID3", b"3DI"] {
        id3end.extend_from_slice(magic);
        id3end.extend_from_slice(&[4, 0, 0x10]);
        id3end.extend(syncsafe(frames.len()));
        if magic == b"ID3" {
            id3end.extend_from_slice(&frames);
        }
    }
    let mut mp3_text = audio.to_vec();
    mp3_text.extend_from_slice(APPENDED);

    let wav = fs::read(fixture("phone/dictation.wav")).unwrap();
    let mut xmp_chunk = wav.clone();
    xmp_chunk.extend_from_slice(b"XMP ");
    xmp_chunk.extend((XMP.len() as u32).to_le_bytes());
    xmp_chunk.extend_from_slice(XMP.as_bytes());
    if XMP.len() % 2 == 1 {
        xmp_chunk.push(0);
    }
    let riff = (xmp_chunk.len() as u32 - 8).to_le_bytes();
    xmp_chunk[4..8].copy_from_slice(&riff);
    let mut wav_text = wav;
    wav_text.extend_from_slice(APPENDED);

    let m4a = fs::read(fixture("phone/voice-memo.m4a")).unwrap();
    assert_eq!(
        &m4a[40..44],
        b"mdat",
        "voice-memo.m4a: ftyp, free, mdat, moov"
    );
    let mut uuid = ((24 + XMP.len()) as u32).to_be_bytes().to_vec();
    uuid.extend_from_slice(b"uuid");
    uuid.extend_from_slice(&[
        0xbe, 0x7a, 0xcf, 0xcb, 0x97, 0xa9, 0x42, 0xe8, 0x9c, 0x71, 0x99, 0x94, 0x91, 0xe3, 0xaf,
        0xac,
    ]);
    uuid.extend_from_slice(XMP.as_bytes());
    // Before mdat: the chunk offsets in moov point past it.
    let mut xmp_uuid = m4a[..36].to_vec();
    xmp_uuid.extend(uuid);
    xmp_uuid.extend_from_slice(&m4a[36..]);
    let shift = (24 + XMP.len()) as u32;
    let stco = xmp_uuid.windows(4).rposition(|w| w == b"stco").unwrap() + 8;
    let count = u32::from_be_bytes(xmp_uuid[stco..stco + 4].try_into().unwrap()) as usize;
    for i in 0..count {
        let at = stco + 4 + 4 * i;
        let off = u32::from_be_bytes(xmp_uuid[at..at + 4].try_into().unwrap()) + shift;
        xmp_uuid[at..at + 4].copy_from_slice(&off.to_be_bytes());
    }

    [
        ("id3end.mp3", id3end, &["location", "person"][..]),
        ("appended.mp3", mp3_text, &["other"][..]),
        (
            "xmp-chunk.wav",
            xmp_chunk,
            &["location", "person", "other"][..],
        ),
        ("appended.wav", wav_text, &["other"][..]),
        (
            "xmp-uuid.m4a",
            xmp_uuid,
            &["location", "person", "other"][..],
        ),
    ]
    .into_iter()
    .map(|(name, bytes, kinds)| {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        (p, kinds)
    })
    .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn appended_tags_xmp_and_trailing_bytes_are_found_and_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let files = hidden_metadata(dir.path());
    let archive = archive_at(dir.path());
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let r = ingest_json(
        &archive,
        &paths,
        &[
            "--consent-scope",
            "personal-use",
            "--consent-by",
            "patient:P1",
        ],
    );
    let ingested = r["ingested"].as_array().unwrap();
    assert_eq!(ingested.len(), files.len(), "{r:#}");
    let export = dir.path().join("export");
    export_stripped(&archive, &export);
    let opened = dir.path().join("opened");
    open_export(&export, &opened);
    for i in ingested {
        let id = i["id"].as_str().unwrap();
        let rec = recording(&archive, id);
        let name = rec["source"]["file_name"].as_str().unwrap();
        let kinds = files
            .iter()
            .find(|(p, _)| p.file_name().unwrap() == name)
            .unwrap()
            .1;
        assert_eq!(
            rec["source"]["identifying"],
            serde_json::json!(kinds),
            "{name}"
        );
        assert_eq!(
            rec["source"]["has_location"],
            kinds.contains(&"location"),
            "{name}"
        );
        let stored = rec["source"]["stored_as"].as_str().unwrap();
        let (before, after) = (archive.join(stored), opened.join(stored));
        let (old, new) = (fs::read(&before).unwrap(), fs::read(&after).unwrap());
        assert!(contains(&old, b"Dr Jane Owner"), "{name}");
        for planted in [&b"Jane Owner"[..], b"Zoe Martin", b"48.8584", b"48,51.5N"] {
            assert!(!contains(&new, planted), "{name}: still holds {planted:?}");
        }
        assert_eq!(pcm(&before), pcm(&after), "{name}");
        // Two of them strip to the same bytes: one archive each.
        let again = archive_at(&dir.path().join("again").join(name));
        let r = ingest_json(&again, std::slice::from_ref(&after), &[]);
        let new_id = r["ingested"][0]["id"]
            .as_str()
            .expect("the stripped copy ingests");
        let copy = recording(&again, new_id);
        assert_eq!(rec["source"]["frames"], copy["source"]["frames"], "{name}");
        assert_eq!(
            copy["source"]["identifying"],
            serde_json::json!([]),
            "{name}"
        );
    }
}

/// `encrypt --all --strip-metadata` of `archive` for the test recipient into `export`.
fn export_stripped(archive: &Path, export: &Path) {
    visitrec()
        .arg("encrypt")
        .arg(archive)
        .args(["--all", "--strip-metadata", "-r", &recipient(), "--out"])
        .arg(export)
        .assert()
        .success();
}

/// `decrypt` of `export` with the test key into `opened`.
fn open_export(export: &Path, opened: &Path) {
    visitrec()
        .arg("decrypt")
        .arg(export)
        .args(["--identity", KEY, "--out"])
        .arg(opened)
        .assert()
        .success();
}

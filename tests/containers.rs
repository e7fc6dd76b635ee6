//! Every container a phone or browser hands us beyond the common ones (Opus in WebM, CAF
//! and MP4; AAC in CAF and ADTS; MP3 with iTunes' gapless tag), the ones that must be
//! refused by name (video only, an unsupported container), stored originals named from
//! their content, damaged copies of each new container failing cleanly, and chained Ogg
//! (every link decoded, or the file refused naming the link).

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use predicates::prelude::*;

/// The utterance the container fixtures hold, in frames at 48 kHz and 22.05 kHz
/// (scripts/make-container-fixtures).
const AT_48K: u64 = 193_124;
const AT_22K: u64 = 88_716;

fn containers(name: &str) -> PathBuf {
    fixture(&format!("containers/{name}"))
}

#[test]
fn each_container_ingests_and_normalizes_with_its_true_length() {
    let (_d, archive) = new_archive();
    // (file, container, codec, stored extension, frames): the length the container says
    // the audio has, with priming and padding trimmed.
    let cases = [
        (
            "containers/mediarecorder.webm",
            "matroska",
            "opus",
            "webm",
            AT_48K,
        ),
        // A live recording's segment has no size: the end of the file ends it.
        (
            "containers/mediarecorder-live.webm",
            "matroska",
            "opus",
            "webm",
            AT_48K,
        ),
        // The edit list's length is in the movie's milliseconds: 4.023 s.
        ("containers/opus.mp4", "isomp4", "opus", "m4a", 193_104),
        (
            "containers/voice-memos-opus.caf",
            "caf",
            "opus",
            "caf",
            AT_48K,
        ),
        ("containers/aac.caf", "caf", "aac", "caf", AT_48K),
        // ADTS says nothing of priming or padding: every decoded frame is kept.
        ("containers/note.aac", "aac", "aac", "aac", 190 * 1024),
        ("gapless/lame-itunsmpb.mp3", "mp3", "mp3", "mp3", AT_22K),
    ];
    let inputs: Vec<PathBuf> = cases.iter().map(|c| fixture(c.0)).collect();
    let r = ingest_json(&archive, &inputs, &["--normalize"]);
    assert_eq!(r["rejected"].as_array().unwrap().len(), 0, "{r:#}");
    let ingested = r["ingested"].as_array().unwrap();
    assert_eq!(ingested.len(), cases.len(), "{r:#}");
    for (item, (name, container, codec, ext, frames)) in ingested.iter().zip(cases) {
        let id = item["id"].as_str().unwrap();
        let rec = recording(&archive, id);
        let s = &rec["source"];
        assert_eq!(s["container"], container, "{name}");
        assert_eq!(s["codec"], codec, "{name}");
        assert_eq!(s["frames"].as_u64(), Some(frames), "{name}");
        assert_eq!(
            s["stored_as"].as_str(),
            Some(format!("data/{id}/original.{ext}").as_str()),
            "{name}"
        );
        let stored = fs::read(archive.join(s["stored_as"].as_str().unwrap())).unwrap();
        assert_eq!(
            stored,
            fs::read(fixture(name)).unwrap(),
            "{name}: byte-identical"
        );
        assert!(rec["normalized"].is_object(), "{name}: {rec:#}");
        assert!(
            archive.join(format!("data/{id}/normalized.wav")).is_file(),
            "{name}"
        );
    }
}

#[test]
fn a_video_only_file_an_unsupported_container_and_surround_opus_are_refused_by_name() {
    let (_d, archive) = new_archive();
    ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let before = snapshot(&archive);
    for (name, why) in [
        ("video-only.3gp", "no audio track (video only)"),
        (
            "dictaphone.wma",
            "unsupported container: ASF (Windows Media)",
        ),
        (
            "surround.webm",
            "unsupported audio codec: opus with 6 channels",
        ),
    ] {
        visitrec()
            .arg("ingest")
            .arg(&archive)
            .arg(containers(name))
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!("{name}: {why}")));
        assert_eq!(snapshot(&archive), before, "{name} changed the archive");
    }
}

#[test]
fn misnamed_files_are_stored_under_the_extension_of_their_content() {
    let (d, archive) = new_archive();
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    let cases = [
        ("tagged/dated.mp3", "visit.m4a", "mp3"),
        ("formats/apple-lossless.m4a", "memo.ogg", "m4a"),
        ("containers/mediarecorder.webm", "note.mp3", "webm"),
        ("phone/whatsapp-note.opus", "whatsapp.ogg", "opus"),
        ("formats/old-android.3gp", "old.m4a", "3gp"),
        ("containers/video-with-sound.mp4", "clip.m4a", "mp4"),
    ];
    let mut inputs = Vec::new();
    for (from, to, _) in cases {
        fs::copy(fixture(from), inbox.join(to)).unwrap();
        inputs.push(inbox.join(to));
    }
    let r = ingest_json(&archive, &inputs, &[]);
    let ingested = r["ingested"].as_array().unwrap();
    assert_eq!(ingested.len(), cases.len(), "{r:#}");
    for (item, (_, name, ext)) in ingested.iter().zip(cases) {
        let id = item["id"].as_str().unwrap();
        let s = &recording(&archive, id)["source"];
        assert_eq!(s["file_name"], name);
        assert_eq!(
            s["stored_as"].as_str(),
            Some(format!("data/{id}/original.{ext}").as_str()),
            "{name}"
        );
        assert!(archive.join(format!("data/{id}/original.{ext}")).is_file());
    }
    // `verify` agrees with what was stored.
    visitrec().arg("verify").arg(&archive).assert().code(0);
}

/// Truncated and corrupted copies of each new container: every one is refused with one
/// line naming the file (or, for damage the codec conceals, ingested), never a panic, and
/// a refusal leaves the archive as it was.
#[test]
fn damaged_copies_of_each_new_container_fail_cleanly() {
    let (d, archive) = new_archive();
    let before = snapshot(&archive);
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    let mut inputs = Vec::new();
    for name in [
        "mediarecorder.webm",
        "mediarecorder-live.webm",
        "opus.mp4",
        "voice-memos-opus.caf",
        "aac.caf",
        "note.aac",
        "chained.opus",
        "chained.ogg",
    ] {
        let bytes = fs::read(containers(name)).unwrap();
        let mut seed = 0x9E37_79B9u32;
        for (i, cut) in [13, 60, 200, 700, bytes.len() / 2].into_iter().enumerate() {
            let path = inbox.join(format!("cut{i}-{name}"));
            fs::write(&path, &bytes[..cut.min(bytes.len())]).unwrap();
            inputs.push(path);
        }
        for i in 0..4 {
            let mut b = bytes.clone();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % b.len().min(600);
                b[at] = (seed >> 8) as u8;
            }
            let path = inbox.join(format!("flip{i}-{name}"));
            fs::write(&path, &b).unwrap();
            inputs.push(path);
        }
    }
    let out = visitrec()
        .arg("ingest")
        .arg(&archive)
        .args(&inputs)
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rejected = r["rejected"].as_array().unwrap();
    let ingested = r["ingested"].as_array().unwrap();
    assert_eq!(rejected.len() + ingested.len(), inputs.len(), "{r:#}");
    for x in rejected {
        let reason = x["reason"].as_str().unwrap();
        assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
    }
    // Every truncation of the headers is refused.
    for x in ingested {
        let path = x["path"].as_str().unwrap();
        assert!(
            !path.contains("/cut0-") && !path.contains("/cut1-"),
            "{path}"
        );
    }
    if ingested.is_empty() {
        assert_eq!(snapshot(&archive), before);
    }
}

/// Frames and rate of a WAV file.
fn wav_frames(path: &std::path::Path) -> (u32, u32) {
    let r = hound::WavReader::open(path).unwrap();
    (r.spec().sample_rate, r.duration())
}

/// A chained Ogg (`cat a.opus b.opus`: links of 1 s and 1.5 s) is every link, not the
/// first: `duration_s`, the frames decoded, `ingest --json` and the normalized output all
/// say 2.5 s. Bytes after the last page that hold no page change nothing.
#[test]
fn a_chained_ogg_is_ingested_and_normalized_whole() {
    let (d, archive) = new_archive();
    let mut garbage = fs::read(containers("chained.opus")).unwrap();
    garbage.extend_from_slice(b"\0\0TAG trailing bytes that hold no page");
    let trailing = d.path().join("trailing.opus");
    fs::write(&trailing, &garbage).unwrap();
    let cases = [
        (containers("chained.opus"), "opus", 48_000, 120_000),
        (containers("chained.ogg"), "vorbis", 16_000, 40_000),
        (trailing, "opus", 48_000, 120_000),
    ];
    let inputs: Vec<PathBuf> = cases.iter().map(|c| c.0.clone()).collect();
    let r = ingest_json(&archive, &inputs, &[]);
    let ingested = r["ingested"].as_array().unwrap();
    assert_eq!(ingested.len(), cases.len(), "{r:#}");
    let mut ids = Vec::new();
    for (item, (path, codec, rate, frames)) in ingested.iter().zip(&cases) {
        let id = item["id"].as_str().unwrap().to_string();
        assert_eq!(item["duration_s"].as_f64(), Some(2.5), "{path:?}: {item:#}");
        let s = &recording(&archive, &id)["source"];
        assert_eq!(s["container"], "ogg");
        assert_eq!(s["codec"], *codec);
        assert_eq!(s["sample_rate"].as_u64(), Some(*rate));
        assert_eq!(s["channels"].as_u64(), Some(1));
        assert_eq!(s["frames"].as_u64(), Some(*frames), "{path:?}");
        assert_eq!(s["duration_s"].as_f64(), Some(2.5), "{path:?}");
        ids.push(id);
    }
    let (code, r) = run_json(&["normalize", "--all"], &archive);
    assert_eq!(code, 0, "{r:#}");
    for id in &ids {
        let rec = recording(&archive, id);
        let wav = archive.join(rec["normalized"]["path"].as_str().unwrap());
        assert_eq!(wav_frames(&wav), (16_000, 40_000), "{id}");
    }
}

/// Links the pipeline cannot make one recording of, and two audio streams interleaved in
/// one link, are refused with one line naming the file and the link, never truncated; so
/// is damaged data between a chain's links. The archive is left as it was.
#[test]
fn chained_and_multiplexed_ogg_that_cannot_be_one_recording_are_refused_by_name() {
    let (d, archive) = new_archive();
    ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let before = snapshot(&archive);
    let link = |n: u8| fs::read(containers(&format!("chained-link{n}.opus"))).unwrap();
    let damaged = d.path().join("damaged-chain.opus");
    fs::write(&damaged, [link(1), b"junk".to_vec(), link(2)].concat()).unwrap();
    let at = link(1).len();
    for (path, why) in [
        (
            containers("chained-mono-stereo.opus"),
            "unsupported container: chained Ogg: link 2 has 2 channels, link 1 has 1 (the links \
             cannot be decoded as one recording)"
                .to_string(),
        ),
        (
            containers("multiplexed.opus"),
            "unsupported container: Ogg multiplexes 2 audio streams (opus, opus); only one can \
             be read"
                .to_string(),
        ),
        (
            damaged.clone(),
            format!(
                "damaged or truncated audio: ogg: damaged data at byte {at}, before the Ogg page \
                 at byte {}",
                at + 4
            ),
        ),
    ] {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let out = visitrec()
            .arg("ingest")
            .arg(&archive)
            .arg(&path)
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr
                .lines()
                .any(|l| l.ends_with(&format!("{name}: {why}"))),
            "{stderr}"
        );
        assert_eq!(snapshot(&archive), before, "{name} changed the archive");
    }
}

/// Damage a demuxer passes over as the end of the recording is refused, naming the file
/// and where it is damaged, never kept as a shorter visit: a changed byte in a WebM block
/// (red team: one kept 2.8 s, another 0.8 s, of a 4.0 s recording), a Duration longer than
/// the audio, a live recording's cluster or last block past the decoded end, an end padding
/// longer than its packet, and an ADTS file ending 1 to 6 bytes into a frame header or
/// with a frame's length changed. The archive is left as it was; the intact files still ingest
/// whole.
#[test]
fn damage_that_ends_the_demuxer_early_is_refused_not_kept_short() {
    let (d, archive) = new_archive();
    let before = snapshot(&archive);
    let inbox = d.path().join("inbox");
    fs::create_dir(&inbox).unwrap();
    let mut cases: Vec<(PathBuf, String)> = Vec::new();
    let mut write = |name: &str, bytes: &[u8], why: &str| {
        let path = inbox.join(name);
        fs::write(&path, bytes).unwrap();
        cases.push((path, format!("damaged or truncated audio: {why}")));
    };
    let webm = fs::read(containers("mediarecorder.webm")).unwrap();
    // A block's ID (0xA3) and a block's size (0x96) changed.
    for (at, was, now, why) in [
        (2648, 0xA3, 0x56, "Matroska element at byte 2648 is invalid"),
        (1913, 0x96, 0xEB, "Matroska element at byte 2021 is invalid"),
    ] {
        assert_eq!(webm[at], was, "the fixture changed: find the block again");
        let mut b = webm.clone();
        b[at] = now;
        write(&format!("byte{at}.webm"), &b, why);
    }
    // A block of track 2, which the file does not declare.
    let mut b = webm.clone();
    assert_eq!(&b[2648..2651], [0xA3, 0xA5, 0x81]);
    b[2650] = 0x82;
    write(
        "track2.webm",
        &b,
        "Matroska element at byte 2648 is invalid",
    );
    // Info's Duration (an 8-byte float) says 8 s.
    let mut b = webm.clone();
    let at = b.windows(3).position(|w| w == [0x44, 0x89, 0x88]).unwrap() + 3;
    b[at..at + 8].copy_from_slice(&8000.0f64.to_bits().to_be_bytes());
    write(
        "duration.webm",
        &b,
        "the audio ends at 4.023 s but the Matroska header declares 8.000 s",
    );
    // A live recording (no Duration) whose last cluster's timecode is 16.384 s.
    let live = fs::read(containers("mediarecorder-live.webm")).unwrap();
    let mut b = live.clone();
    let cluster = b
        .windows(4)
        .rposition(|w| w == [0x1F, 0x43, 0xB6, 0x75])
        .unwrap();
    let at = cluster
        + b[cluster..]
            .windows(2)
            .position(|w| w == [0xE7, 0x82])
            .unwrap()
        + 2;
    b[at..at + 2].copy_from_slice(&[0x40, 0x00]);
    write(
        "cluster.webm",
        &b,
        "the audio ends at 4.023 s but a Matroska cluster starts at 16.384 s",
    );
    // A live recording's block grown by 70 bytes (0xAE → 0xF4), swallowing two packets:
    // the walk goes on in step, but the audio falls 40 ms short of the last block.
    let mut b = live.clone();
    assert_eq!(
        &b[4504..4506],
        [0xA3, 0xAE],
        "the fixture changed: find the block again"
    );
    b[4505] = 0xF4;
    write(
        "swallowed.webm",
        &b,
        "the audio ends at 3.983 s but its last Matroska block starts at 4.021 s",
    );
    // The last block's DiscardPadding (10 ms) made 120 ms: more than its 20 ms packet.
    let mut b = webm.clone();
    assert_eq!(&b[7212..7216], [0x75, 0xA2, 0x84, 0x00]);
    b[7215] = 0x5A;
    write(
        "padding.webm",
        &b,
        "the last Matroska block's DiscardPadding (0.120 s) is longer than its audio (0.020 s)",
    );
    // ADTS cut 1 to 6 bytes into the header of the frame after the middle.
    let aac = fs::read(containers("note.aac")).unwrap();
    let (mut frame, mut frames) = (0, 0);
    while frame < aac.len() / 2 {
        frames += 1;
        let h = &aac[frame..frame + 7];
        assert_eq!(
            (h[0], h[1] & 0xF6),
            (0xFF, 0xF0),
            "an ADTS header at {frame}"
        );
        frame += (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    }
    for cut in 1..7 {
        write(
            &format!("cut{cut}.aac"),
            &aac[..frame + cut],
            &format!("file ends inside an ADTS frame (the one at byte {frame})"),
        );
    }
    // The length of that frame changed by 8 bytes: symphonia would resynchronise past it.
    let mut b = aac.clone();
    b[frame + 4] ^= 0x01;
    let h = &b[frame..frame + 7];
    let next =
        frame + ((usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5));
    write(
        "length.aac",
        &b,
        &format!("ADTS frame header at byte {next} is invalid"),
    );
    for (path, why) in &cases {
        let out = visitrec()
            .arg("ingest")
            .arg(&archive)
            .arg(path)
            .output()
            .unwrap();
        // Exit 1: the command ran and rejected its input (the documented code for ingest).
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{path:?}: {stderr}");
        let line = format!("rejected  {}: {why}\n", path.display());
        assert_eq!(stderr, line, "{path:?}");
        assert_eq!(snapshot(&archive), before, "{path:?}");
    }
    // The intact recordings, and ADTS cut where a frame ends (ADTS declares no length),
    // still ingest with their length.
    let whole = inbox.join("whole-frames.aac");
    fs::write(&whole, &aac[..frame]).unwrap();
    let inputs = [
        containers("mediarecorder.webm"),
        containers("mediarecorder-live.webm"),
        containers("note.aac"),
        whole,
    ];
    let r = ingest_json(&archive, &inputs, &[]);
    let seconds: Vec<f64> = r["ingested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["duration_s"].as_f64().unwrap())
        .collect();
    let whole_s = ((frames * 1024) as f64 / 48.0).round() / 1000.0;
    assert_eq!(seconds, [4.023, 4.023, 4.053, whole_s], "{r:#}");
}

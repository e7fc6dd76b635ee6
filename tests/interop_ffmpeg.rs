//! Interop with ffmpeg/ffprobe as independent references: decoded lengths, loudness and
//! true peak (the `ebur128` filter), and speech edges (`silencedetect`). These tests fail,
//! never skip, when ffmpeg is missing: scripts/test installs it.

mod common;

use std::path::Path;
use std::process::Command as Std;

use common::*;

fn tool(name: &str) -> Std {
    let probe = Std::new(name).arg("-version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{name} is required for the interop tests; run scripts/test (apt-get install -y ffmpeg)"
    );
    Std::new(name)
}

/// Frames ffmpeg decodes from `path` (mono, after its own gapless handling).
fn ffmpeg_frames(path: &Path) -> u64 {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-ac", "1", "-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.len() as u64 / 2
}

/// ffprobe's stream duration in seconds (MP4: from the edit list).
fn ffprobe_duration(path: &Path) -> f64 {
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Integrated loudness (LUFS) and true peak (dBFS) by ffmpeg's `ebur128=peak=true`.
fn ffmpeg_loudness(path: &Path) -> (f64, f64) {
    let out = tool("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = &text[text.rfind("Summary:").expect("ebur128 summary")..];
    let value = |key: &str| -> f64 {
        let line = summary
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (value("I:"), value("Peak:"))
}

fn ingest_all(archive: &Path) -> Vec<(String, String)> {
    let r = ingest_json(archive, &[fixture("phone"), fixture("formats")], &[]);
    assert_eq!(r["rejected"].as_array().unwrap().len(), 0, "{r:#}");
    r["ingested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn decoded_lengths_match_ffmpeg_to_the_frame() {
    let (_d, archive) = new_archive();
    for (id, path) in ingest_all(&archive) {
        let r = recording(&archive, &id);
        let ours = r["source"]["frames"].as_u64().unwrap();
        let rate = r["source"]["sample_rate"].as_f64().unwrap();
        // ffmpeg does not cut MP4 end padding when decoding; ffprobe's duration comes from
        // the edit list and is the reference there (the shorter of the two when an iTunes
        // gapless tag, not an edit list, trims the start).
        let reference = if r["source"]["container"] == "isomp4" {
            let declared = (ffprobe_duration(Path::new(&path)) * rate).round() as u64;
            declared.min(ffmpeg_frames(Path::new(&path)))
        } else {
            ffmpeg_frames(Path::new(&path))
        };
        assert!(
            ours.abs_diff(reference) <= 1,
            "{path}: {ours} frames, reference {reference}"
        );
    }
}

#[test]
fn loudness_and_true_peak_agree_with_ffmpeg_ebur128() {
    let (_d, archive) = new_archive();
    let ids = ingest_all(&archive);
    // A reachable target: loudness within ±0.5 LU of it.
    let out = visitrec()
        .arg("normalize")
        .arg(&archive)
        .args(["--all", "--target-lufs", "-26"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (id, path) in &ids {
        let n = &recording(&archive, id)["normalized"];
        let wav = archive.join(n["path"].as_str().unwrap());
        let (i, peak) = ffmpeg_loudness(&wav);
        if n["target_reached"] == true {
            assert!((i + 26.0).abs() <= 0.5, "{path}: ffmpeg measures {i} LUFS");
        }
        assert!(peak <= -1.5 + 0.1, "{path}: true peak {peak}");
        // Our own report agrees with ffmpeg's meter.
        assert!(
            (n["loudness_after_lufs"].as_f64().unwrap() - i).abs() <= 0.2,
            "{path}: {n:#} vs {i}"
        );
    }
    // The default target needs limiting on this speech: the limiter reaches it, with the
    // ceiling held by ffmpeg's meter (which resamples to 192 kHz), and says how much it
    // took off. Our measured figures agree with ffmpeg's.
    let out = visitrec()
        .arg("normalize")
        .arg(&archive)
        .arg("--all")
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut limited = 0;
    for (id, path) in &ids {
        let n = &recording(&archive, id)["normalized"];
        let wav = archive.join(n["path"].as_str().unwrap());
        let (i, peak) = ffmpeg_loudness(&wav);
        assert!(
            (i + 16.0).abs() <= 0.5,
            "{path}: ffmpeg measures {i} LUFS: {n:#}"
        );
        assert!(peak <= -1.5, "{path}: true peak {peak} dBFS by ffmpeg");
        assert_eq!(n["target_reached"], true, "{path}: {n:#}");
        assert!(
            (n["loudness_after_lufs"].as_f64().unwrap() - i).abs() <= 0.2,
            "{path}"
        );
        assert!(
            (n["true_peak_after_dbtp"].as_f64().unwrap() - peak).abs() <= 0.3,
            "{path}"
        );
        if n["limiter"]["max_reduction_db"].as_f64().unwrap() > 0.1 {
            limited += 1;
        }
        // Length: within one output sample per second of audio of the source's.
        let source = &recording(&archive, id)["source"];
        let src = source["frames"].as_f64().unwrap() / source["sample_rate"].as_f64().unwrap();
        let got = ffprobe_duration(&wav);
        assert!(
            (got - src).abs() <= src / 16_000.0 + 1.0 / 16_000.0,
            "{path}: {got} vs {src}"
        );
        // No DC offset, no click at either end.
        let (_, samples) = {
            let mut r = hound::WavReader::open(&wav).unwrap();
            (
                r.spec().sample_rate,
                r.samples::<i16>()
                    .map(|s| s.unwrap() as f64 / 32768.0)
                    .collect::<Vec<_>>(),
            )
        };
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!(mean.abs() < 1e-3, "{path}: DC {mean}");
        let edge = 160; // 10 ms
        for part in [&samples[..edge], &samples[samples.len() - edge..]] {
            let jump = part
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f64::max);
            assert!(jump < 0.05, "{path}: click at an edge ({jump})");
        }
    }
    assert!(
        limited >= ids.len() / 2,
        "the limiter acted on {limited} of {}",
        ids.len()
    );
    // --limiter off: one linear gain, held back by the ceiling, as before.
    let out = visitrec()
        .arg("normalize")
        .arg(&archive)
        .args(["--all", "--limiter", "off"])
        .output()
        .unwrap();
    assert!(out.status.success());
    for (id, path) in &ids {
        let n = &recording(&archive, id)["normalized"];
        assert!(n.get("limiter").is_none(), "{path}: {n:#}");
        let (_, peak) = ffmpeg_loudness(&archive.join(n["path"].as_str().unwrap()));
        assert!(peak <= -1.5 + 0.1, "{path}: true peak {peak}");
    }
}

/// Speech intervals by ffmpeg's silencedetect on `wav`, with pauses shorter than
/// `min_silence` merged (the same rule segment applies).
fn ffmpeg_speech(wav: &Path, duration: f64, min_silence: f64) -> Vec<(f64, f64)> {
    let out = tool("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(wav)
        .args(["-af", "silencedetect=noise=-45dB:d=0.2", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let mut speech = Vec::new();
    let mut start = 0.0;
    for line in text.lines() {
        if let Some(v) = line.split("silence_start: ").nth(1) {
            let t: f64 = v.trim().parse().unwrap();
            if t > start {
                speech.push((start, t));
            }
        } else if let Some(v) = line.split("silence_end: ").nth(1) {
            start = v.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    if duration - start > 0.05 && speech.last().is_none_or(|l| l.1 < start) {
        speech.push((start, duration));
    }
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (s, e) in speech {
        match merged.last_mut() {
            Some(last) if s - last.1 < min_silence => last.1 = e,
            _ => merged.push((s, e)),
        }
    }
    merged
}

#[test]
fn segment_edges_agree_with_ffmpeg_silencedetect() {
    let (_d, archive) = new_archive();
    let r = ingest_json(&archive, &[fixture("phone")], &["--segment"]);
    let pad = 0.15;
    for item in r["segment"]["segmented"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let recj = recording(&archive, id);
        let wav = archive.join(recj["normalized"]["path"].as_str().unwrap());
        let dur = recj["normalized"]["duration_s"].as_f64().unwrap();
        let truth = ffmpeg_speech(&wav, dur, 0.7);
        let segs: Vec<(f64, f64)> = item["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["start_s"].as_f64().unwrap(), s["end_s"].as_f64().unwrap()))
            .collect();
        assert_eq!(
            segs.len(),
            truth.len(),
            "{id}: {segs:?} vs ffmpeg {truth:?}"
        );
        for (s, t) in segs.iter().zip(&truth) {
            let want_start = (t.0 - pad).max(0.0);
            let want_end = (t.1 + pad).min(dur);
            assert!(
                (s.0 - want_start).abs() <= 0.1,
                "{id}: start {} vs {want_start}",
                s.0
            );
            assert!(
                (s.1 - want_end).abs() <= 0.1,
                "{id}: end {} vs {want_end}",
                s.1
            );
        }
    }
}

#[test]
fn amr_nb_decodes_like_ffmpeg() {
    // ffmpeg's own AMR-NB decoder is a floating-point implementation and ours follows the
    // 3GPP fixed-point reference, so the samples agree closely but not bit for bit.
    for name in ["formats/voice-note.amr", "formats/old-android.3gp"] {
        let path = fixture(name);
        let out = tool("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "s16le", "-"])
            .output()
            .unwrap();
        let theirs: Vec<f64> = out
            .stdout
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as f64)
            .collect();
        let mut stream =
            visitrec::audio::decode::AudioStream::open(&path, Default::default()).unwrap();
        assert_eq!(stream.info().codec, "amr_nb");
        let mut ours = Vec::new();
        while let Some(chunk) = stream.next_chunk().unwrap() {
            ours.extend(chunk.iter().map(|&x| (x * 32768.0) as f64));
        }
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let signal: f64 = theirs.iter().map(|x| x * x).sum();
        let noise: f64 = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        let snr = 10.0 * (signal / noise).log10();
        assert!(
            snr > 25.0,
            "{name}: only {snr:.1} dB from ffmpeg's decoding"
        );
    }
}

/// A Voice Memos file with no edit list but the iTunes gapless tag (`iTunSMPB`: 1024
/// samples of priming, 640 175 of audio, 849 of padding) starts where ffmpeg's decode
/// starts, and decodes to exactly the samples of the same stream with an edit list saying
/// the same.
#[test]
fn itunes_gapless_tag_is_honoured_like_ffmpeg() {
    let tagged = fixture("gapless/voice-memo-itunsmpb.m4a");
    let with_elst = fixture("phone/voice-memo.m4a");
    let (_d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[tagged.clone(), with_elst.clone()],
        &["--normalize"],
    );
    let ids: Vec<&str> = r["ingested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{r:#}");
    let frames: Vec<u64> = ids
        .iter()
        .map(|id| {
            recording(&archive, id)["source"]["frames"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // ffmpeg trims the tag's priming as it trims the edit list's (and cuts no end padding
    // in either case).
    assert_eq!(ffmpeg_frames(&tagged), ffmpeg_frames(&with_elst));
    let declared = (ffprobe_duration(&with_elst) * 48_000.0).round() as u64;
    assert_eq!(frames[0], frames[1], "not 1024 samples (21 ms) too long");
    assert!(
        frames[0].abs_diff(declared) <= 1,
        "{frames:?}, ffprobe {declared}"
    );
    let wav =
        |id: &str| std::fs::read(archive.join("data").join(id).join("normalized.wav")).unwrap();
    assert!(
        wav(ids[0]) == wav(ids[1]),
        "same samples, so the same normalized audio"
    );
}

/// ffmpeg's mono decoding of `path` as floats, by `decoder` when given (`libopus`: the
/// reference decoder rather than ffmpeg's own).
fn ffmpeg_samples(path: &Path, decoder: Option<&str>) -> Vec<f64> {
    let mut ffmpeg = tool("ffmpeg");
    ffmpeg.args(["-v", "error"]);
    if let Some(d) = decoder {
        ffmpeg.args(["-c:a", d]);
    }
    let out = ffmpeg
        .arg("-i")
        .arg(path)
        .args(["-ac", "1", "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg cannot decode {}",
        path.display()
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

/// Opus from WebM, MP4 and CAF, AAC from CAF and ADTS, and an MP3 with the iTunes gapless
/// tag decode to ffmpeg's samples (libopus's, for Opus: opus-pure is bit-exact with it),
/// starting where the container says the audio starts.
/// ffmpeg trims WebM's pre-skip and DiscardPadding and MP4's edit-list start, but nothing
/// of a CAF packet table or an MP3's iTunSMPB comment: there, ours must equal ffmpeg's
/// decoding from the priming on, for exactly the container's valid length.
#[test]
fn every_container_decodes_like_ffmpeg_from_the_first_real_sample() {
    // (file, where our first sample is in ffmpeg's decoding, our length, whether ffmpeg
    // ends where we do).
    // The MP4 without its edit list: the `dOps` pre-skip (big-endian, unlike Ogg's) trims.
    let dir = tempfile::tempdir().unwrap();
    let no_elst = dir.path().join("no-edit-list.mp4");
    let status = tool("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(fixture("containers/opus.mp4"))
        .args(["-c", "copy", "-use_editlist", "0"])
        .arg(&no_elst)
        .status()
        .unwrap();
    assert!(status.success());
    let no_elst = no_elst.to_str().unwrap();
    let cases = [
        (no_elst, 0, 193_920 - 312, true),
        ("containers/mediarecorder.webm", 0, 193_124, true),
        ("containers/mediarecorder-live.webm", 0, 193_124, true),
        ("containers/opus.mp4", 0, 193_104, false),
        ("containers/voice-memos-opus.caf", 312, 193_124, false),
        ("containers/aac.caf", 1024, 193_124, false),
        ("containers/note.aac", 0, 194_560, true),
        ("gapless/lame-itunsmpb.mp3", 1105, 88_716, false),
    ];
    for (name, offset, len, same_end) in cases {
        let path = if name.starts_with('/') {
            name.into()
        } else {
            fixture(name)
        };
        let opus = name.contains("opus") || name.ends_with(".webm") || name == no_elst;
        let theirs = ffmpeg_samples(&path, opus.then_some("libopus"));
        let mut stream =
            visitrec::audio::decode::AudioStream::open(&path, Default::default()).unwrap();
        let mut ours = Vec::new();
        while let Some(chunk) = stream.next_chunk().unwrap() {
            ours.extend(chunk.iter().map(|&x| f64::from(x)));
        }
        assert_eq!(ours.len(), len, "{name}");
        assert!(
            theirs.len() >= offset + len && (!same_end || theirs.len() == len),
            "{name}: ffmpeg decodes {} samples, ours {len} from {offset}",
            theirs.len()
        );
        let snr = |shift: usize| {
            let theirs = &theirs[shift..];
            let signal: f64 = theirs.iter().take(len).map(|x| x * x).sum();
            let noise: f64 = ours
                .iter()
                .zip(theirs)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            10.0 * (signal / noise.max(1e-30)).log10()
        };
        let aligned = snr(offset);
        assert!(aligned > 60.0, "{name}: only {aligned:.1} dB from ffmpeg's");
        // A frame's worth of misalignment would show (this is what the offset proves).
        let off = snr(offset + 48);
        assert!(
            off < aligned - 40.0,
            "{name}: {aligned:.1} dB aligned, {off:.1} off"
        );
    }
}

/// A chained Ogg decodes to its links decoded alone by ffmpeg, one after the other: the
/// same length and ffmpeg's samples (libopus's, for Opus). ffmpeg is no reference for the
/// chain itself: decoding `chained.opus` whole it feeds link 2's header packets to the
/// decoder as audio ("corrupted stream"), keeps link 2's 312-sample pre-skip and carries
/// the decoder state across (link 2 then agrees with its own decoding to only 37 dB); for
/// `chained.ogg` it keeps 512 samples at link 2's start. So the reference is the links.
#[test]
fn a_chained_ogg_decodes_like_ffmpeg_decoding_each_link() {
    for (ext, decoder) in [("opus", Some("libopus")), ("ogg", None)] {
        let path = |n: &str| fixture(&format!("containers/{n}.{ext}"));
        let mut theirs = ffmpeg_samples(&path("chained-link1"), decoder);
        let first = theirs.len();
        theirs.extend(ffmpeg_samples(&path("chained-link2"), decoder));
        assert!(theirs.len() > first + first / 2, "{ext}: link 2 is 1.5 s");
        let mut stream =
            visitrec::audio::decode::AudioStream::open(&path("chained"), Default::default())
                .unwrap();
        let mut ours = Vec::new();
        while let Some(chunk) = stream.next_chunk().unwrap() {
            ours.extend(chunk.iter().map(|&x| f64::from(x)));
        }
        assert_eq!(ours.len(), theirs.len(), "{ext}");
        // Per link: the second link starts exactly where the first one's audio ends.
        for (range, which) in [(0..first, "link 1"), (first..ours.len(), "link 2")] {
            let signal: f64 = theirs[range.clone()].iter().map(|x| x * x).sum();
            let noise: f64 = range.map(|i| (ours[i] - theirs[i]).powi(2)).sum();
            let snr = 10.0 * (signal / noise.max(1e-30)).log10();
            assert!(snr > 60.0, "{ext} {which}: only {snr:.1} dB from ffmpeg's");
        }
        // ffmpeg's own decoding of the chain does hold link 2 (with the extra samples).
        let chain = ffmpeg_frames(&path("chained")) as usize;
        assert!(chain >= theirs.len(), "{ext}: ffmpeg decodes {chain}");
    }
}

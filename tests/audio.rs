//! `normalize` and `segment` through the real binary.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use predicates::prelude::*;
use serde_json::Value;

fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let rate = r.spec().sample_rate;
    (rate, r.samples::<i16>().map(|s| s.unwrap()).collect())
}

fn write_mono(path: &Path, rate: u32, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

fn ingest_one(archive: &Path, file: PathBuf) -> String {
    let r = ingest_json(archive, &[file], &[]);
    r["ingested"][0]["id"]
        .as_str()
        .unwrap_or_else(|| r["duplicates"][0]["id"].as_str().unwrap())
        .to_string()
}

fn segments(v: &Value) -> Vec<(f64, f64)> {
    v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start_s"].as_f64().unwrap(), s["end_s"].as_f64().unwrap()))
        .collect()
}

#[test]
fn normalize_writes_exact_length_wav_and_is_idempotent() {
    let (_d, archive) = new_archive();
    ingest_json(&archive, &[fixture("phone")], &[]);
    let (code, r) = run_json(&["normalize", "--all"], &archive);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["normalized"].as_array().unwrap().len(), 7);
    for item in r["normalized"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let rec = recording(&archive, id);
        let n = &rec["normalized"];
        let (rate, samples) = read_wav(&archive.join(n["path"].as_str().unwrap()));
        assert_eq!(rate, 16_000);
        let src_s = rec["source"]["frames"].as_f64().unwrap()
            / rec["source"]["sample_rate"].as_f64().unwrap();
        let want = (src_s * 16_000.0).round() as i64;
        assert!(
            (samples.len() as i64 - want).abs() <= 1,
            "{id}: {} vs {want}",
            samples.len()
        );
        assert!(n["true_peak_after_dbtp"].as_f64().unwrap() <= -1.5, "{n:#}");
        // Every fixture is peaky speech: a linear gain to -16 LUFS would clip, so the
        // limiter turns the peaks down and the target is reached.
        assert_eq!(n["target_reached"], true, "{n:#}");
        assert!((n["loudness_after_lufs"].as_f64().unwrap() + 16.0).abs() <= 0.5);
        assert!(
            n["limiter"]["max_reduction_db"].as_f64().unwrap() > 0.5,
            "{n:#}"
        );
        assert!(n["note"].is_null(), "{n:#}");
    }
    assert_eq!(verify_json(&archive, &[]).0, 0);
    let before = snapshot(&archive);
    let (code, again) = run_json(&["normalize", "--all"], &archive);
    assert_eq!(code, 0);
    assert_eq!(again["unchanged"].as_array().unwrap().len(), 7, "{again:#}");
    assert_eq!(
        snapshot(&archive),
        before,
        "re-running must not churn the archive"
    );
}

#[test]
fn a_reachable_target_is_hit_within_half_a_lu() {
    let (_d, archive) = new_archive();
    let id = ingest_one(&archive, fixture("phone/android-recorder.m4a"));
    let (code, r) = run_json(
        &[
            "normalize",
            &id[..8],
            "--target-lufs",
            "-23",
            "--rate",
            "48000",
        ],
        &archive,
    );
    assert_eq!(code, 0, "{r:#}");
    let n = &r["normalized"][0]["normalized"];
    assert_eq!(n["target_reached"], true, "{n:#}");
    assert!(
        (n["loudness_after_lufs"].as_f64().unwrap() + 23.0).abs() <= 0.5,
        "{n:#}"
    );
    assert_eq!(
        read_wav(&archive.join(n["path"].as_str().unwrap())).0,
        48_000
    );
}

#[test]
fn silence_gets_no_gain_and_no_segments() {
    let (d, archive) = new_archive();
    let silent = d.path().join("silent.wav");
    write_mono(&silent, 16_000, &vec![0i16; 16_000 * 5]);
    let id = ingest_one(&archive, silent);
    let (code, r) = run_json(&["segment", &id], &archive);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["normalized_first"][0], id.as_str());
    assert_eq!(r["segmented"][0]["segments"].as_array().unwrap().len(), 0);
    let n = &recording(&archive, &id)["normalized"];
    assert_eq!(n["gain_db"], 0.0);
    assert!(n["loudness_before_lufs"].is_null());
    assert!(n["note"].as_str().unwrap().contains("silent"));
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn speech_splits_at_the_known_pauses() {
    let (_d, archive) = new_archive();
    let id = ingest_one(&archive, fixture("phone/voice-memo.m4a"));
    let (code, r) = run_json(&["segment", &id, "--pad", "0"], &archive);
    assert_eq!(code, 0, "{r:#}");
    let segs = segments(&r["segmented"][0]);
    // The fixture is three utterances with 1.2 s and 2.4 s of silence between them
    // (espeak's own trailing silence plus the 0.8 s and 2.0 s gaps); ffmpeg's
    // silencedetect puts the speech at 0.00-3.63, 4.88-7.78 and 10.17-12.95 s.
    let truth = [(0.0, 3.634), (4.879, 7.776), (10.169, 12.948)];
    assert_eq!(segs.len(), 3, "{segs:?}");
    for (s, t) in segs.iter().zip(truth) {
        assert!(
            (s.0 - t.0).abs() <= 0.1 && (s.1 - t.1).abs() <= 0.1,
            "{segs:?} vs {truth:?}"
        );
    }
    let wav = archive.join(r["segmented"][0]["segments"][1]["path"].as_str().unwrap());
    let (rate, samples) = read_wav(&wav);
    let len = samples.len() as f64 / rate as f64;
    assert!(
        (len - (segs[1].1 - segs[1].0)).abs() < 0.002,
        "segment WAV length {len}"
    );
}

#[test]
fn padding_short_pauses_and_resegmenting_replace_atomically() {
    let (_d, archive) = new_archive();
    let id = ingest_one(&archive, fixture("phone/dictation.wav"));
    let (_, r) = run_json(&["segment", &id], &archive);
    let padded = segments(&r["segmented"][0]);
    assert_eq!(padded.len(), 3);
    assert_eq!(padded[0].0, 0.0, "the first pad is clamped at 0");
    // A minimum pause longer than both gaps: one segment, and the two extra segment
    // files are removed from the bag.
    let (_, r) = run_json(&["segment", &id, "--min-silence", "3"], &archive);
    assert_eq!(segments(&r["segmented"][0]).len(), 1, "{r:#}");
    let dir = archive.join("data").join(&id).join("segments");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    assert_eq!(verify_json(&archive, &[]).0, 0);
    // Same settings again: nothing to do.
    let before = snapshot(&archive);
    let (_, r) = run_json(&["segment", &id, "--min-silence", "3"], &archive);
    assert_eq!(r["unchanged"][0], id.as_str());
    assert_eq!(snapshot(&archive), before);
    // New loudness settings make the old segments stale: they are cleared, and said so.
    let (_, r) = run_json(&["normalize", &id, "--target-lufs", "-30"], &archive);
    assert_eq!(r["segments_cleared"][0], id.as_str(), "{r:#}");
    assert!(!dir.exists());
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

/// Deterministic white noise (xorshift), uniform in [-1, 1].
fn noise(n: usize) -> Vec<f64> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn noise_at_20_db_snr_keeps_the_segment_count() {
    let (d, archive) = new_archive();
    let (rate, clean) = read_wav(&fixture("phone/dictation.wav"));
    // Speech power over the loud frames only, so the SNR is that of the speech.
    let loud: Vec<f64> = clean
        .iter()
        .map(|&x| x as f64)
        .filter(|x| x.abs() > 300.0)
        .collect();
    let speech_rms = (loud.iter().map(|x| x * x).sum::<f64>() / loud.len() as f64).sqrt();
    let noise_rms = speech_rms / 10.0; // 20 dB below
    let uniform_rms = 1.0 / 3f64.sqrt();
    let noisy: Vec<i16> = clean
        .iter()
        .zip(noise(clean.len()))
        .map(|(&x, n)| {
            (x as f64 + n / uniform_rms * noise_rms)
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    let path = d.path().join("noisy.wav");
    write_mono(&path, rate, &noisy);
    let id = ingest_one(&archive, path);
    let (_, r) = run_json(&["segment", &id], &archive);
    assert_eq!(segments(&r["segmented"][0]).len(), 3, "{r:#}");
}

/// Coloured noise from the white noise of [`noise`]: pink (Paul Kellet's filter, -3 dB an
/// octave) or brown (a leaky integrator, -6 dB an octave), scaled to `rms`.
fn coloured_noise(n: usize, pink: bool, rms: f64) -> Vec<f64> {
    let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
    let raw: Vec<f64> = noise(n)
        .into_iter()
        .map(|w| {
            if pink {
                b0 = 0.99765 * b0 + w * 0.099_046;
                b1 = 0.963 * b1 + w * 0.296_516_4;
                b2 = 0.57 * b2 + w * 1.052_691_3;
                b0 + b1 + b2 + w * 0.1848
            } else {
                b0 = (b0 + 0.02 * w) / 1.02;
                b0
            }
        })
        .collect();
    let have = (raw.iter().map(|x| x * x).sum::<f64>() / n as f64).sqrt();
    raw.into_iter().map(|x| x / have * rms).collect()
}

/// Where speech ends in a clean recording: the end of each run of 10 ms frames over
/// -50 dBFS that is followed by at least `pause` seconds under it.
fn speech_ends(rate: u32, x: &[i16], pause: f64) -> Vec<f64> {
    let frame = rate as usize / 100;
    let loud: Vec<bool> = x
        .chunks_exact(frame)
        .map(|f| {
            let e = f.iter().map(|&s| (s as f64 / 32768.0).powi(2)).sum::<f64>() / frame as f64;
            10.0 * e.log10() > -50.0
        })
        .collect();
    let gap = (pause * 100.0) as usize;
    let mut ends = Vec::new();
    for i in 1..loud.len() {
        if loud[i - 1] && !loud[i] && loud[i..loud.len().min(i + gap)].iter().all(|l| !l) {
            ends.push(i as f64 / 100.0);
        }
    }
    if loud.last() == Some(&true) {
        ends.push(loud.len() as f64 / 100.0);
    }
    ends
}

#[test]
fn segments_end_with_the_speech_in_pink_and_brown_noise() {
    let (d, archive) = new_archive();
    let (rate, clean) = read_wav(&fixture("phone/dictation.wav"));
    let ends = speech_ends(rate, &clean, 0.7);
    assert_eq!(ends.len(), 3, "{ends:?}");
    let loud: Vec<f64> = clean
        .iter()
        .map(|&x| x as f64)
        .filter(|x| x.abs() > 300.0)
        .collect();
    let speech_rms = (loud.iter().map(|x| x * x).sum::<f64>() / loud.len() as f64).sqrt();
    let pad = 0.15;
    for pink in [true, false] {
        let noisy: Vec<i16> = clean
            .iter()
            .zip(coloured_noise(clean.len(), pink, speech_rms / 10.0)) // 20 dB SNR
            .map(|(&x, n)| (x as f64 + n).round().clamp(-32768.0, 32767.0) as i16)
            .collect();
        let name = if pink { "pink" } else { "brown" };
        let path = d.path().join(format!("{name}.wav"));
        write_mono(&path, rate, &noisy);
        let id = ingest_one(&archive, path);
        let (_, r) = run_json(&["segment", &id], &archive);
        let segs = segments(&r["segmented"][0]);
        assert_eq!(segs.len(), 3, "{name}: {segs:?}");
        let duration = clean.len() as f64 / rate as f64;
        for ((_, end), speech) in segs.iter().zip(&ends) {
            // The padding after the speech, or up to 60 ms more, and never less than 30 ms
            // after the last frame over -50 dBFS (the last segment may stop at the end of
            // the recording). Before the noise floor was tracked, ends sat up to 0.3 s late.
            let want = (speech + pad).min(duration);
            assert!(
                *end >= speech + 0.03_f64.min(duration - speech) && (end - want) <= 0.06,
                "{name}: a segment ends at {end}, the speech at {speech}: {segs:?}"
            );
        }
    }
}

#[test]
fn a_30_second_pause_splits_there() {
    let (d, archive) = new_archive();
    let (rate, clean) = read_wav(&fixture("phone/dictation.wav"));
    let cut = (4.2 * rate as f64) as usize; // inside the first pause
    let mut long = clean[..cut].to_vec();
    long.extend(std::iter::repeat_n(0i16, 30 * rate as usize));
    long.extend_from_slice(&clean[cut..]);
    let path = d.path().join("long-pause.wav");
    write_mono(&path, rate, &long);
    let id = ingest_one(&archive, path);
    let (_, r) = run_json(&["segment", &id], &archive);
    let segs = segments(&r["segmented"][0]);
    assert_eq!(segs.len(), 3, "{segs:?}");
    assert!(segs[0].1 < 4.2 && segs[1].0 > 34.2, "{segs:?}");
}

#[test]
fn ingest_can_normalize_and_segment_in_one_go() {
    let (_d, archive) = new_archive();
    let r = ingest_json(
        &archive,
        &[
            fixture("phone/voice-memo.m4a"),
            fixture("formats/vorbis.ogg"),
        ],
        &["--normalize", "--segment", "--rate", "22050"],
    );
    assert_eq!(r["ingested"].as_array().unwrap().len(), 2, "{r:#}");
    assert_eq!(
        r["normalize"]["normalized"].as_array().unwrap().len(),
        2,
        "{r:#}"
    );
    assert_eq!(
        r["segment"]["segmented"].as_array().unwrap().len(),
        2,
        "{r:#}"
    );
    assert_eq!(
        r["segment"]["normalized_first"].as_array().unwrap().len(),
        0
    );
    assert_eq!(
        r["normalize"]["normalized"][0]["normalized"]["sample_rate"],
        22050
    );
    assert_eq!(verify_json(&archive, &[]).0, 0);
}

#[test]
fn bad_settings_are_refused_before_anything_is_written() {
    let (_d, archive) = new_archive();
    let id = ingest_one(&archive, fixture("phone/dictation.wav"));
    let before = snapshot(&archive);
    for (args, needle) in [
        (
            vec!["normalize", id.as_str(), "--rate", "100"],
            "--rate 100",
        ),
        (
            vec!["normalize", id.as_str(), "--target-lufs", "3"],
            "--target-lufs 3",
        ),
        (vec!["segment", id.as_str(), "--pad=-1"], "--pad -1"),
        (vec!["normalize", "ffff0000"], "no such recording"),
        (vec!["normalize"], "--all"),
    ] {
        visitrec()
            .arg(args[0])
            .arg(&archive)
            .args(&args[1..])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
        assert_eq!(snapshot(&archive), before, "{args:?}");
    }
}

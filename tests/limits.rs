//! Resource bounds on hostile audio: sample rates outside 4 000-384 000 Hz are refused in
//! bounded memory, and no recording longer than `--max-hours` (default 12) is decoded past
//! the limit or written, whether its header declares the length or hides it.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command as Std;
use std::time::{Duration, Instant};

use common::*;

/// Memory a run may reach (release builds measure 8-64 MB, the worst being a prime source
/// rate to 192 kHz; a 1 Hz header took 1.4 GB, and 17 GB at `--rate 192000`).
const RSS_LIMIT_KIB: i64 = 200 * 1024;

/// Runs `visitrec ARGS --json` under a 2 GB address-space cap (so an unbounded allocation
/// fails fast instead of swamping the machine); returns (exit code, JSON, peak RSS KiB).
fn run_bounded(args: &[&str]) -> (i32, serde_json::Value, i64) {
    let mut cmd = Std::new(assert_cmd::cargo::cargo_bin("visitrec"));
    cmd.args(args)
        .arg("--json")
        .env_remove("VISITREC_PASSPHRASE");
    cmd.stdout(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs before exec.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let (code, kib) = wait_with_peak_rss(child);
    let json = serde_json::from_slice(&stdout).unwrap_or(serde_json::Value::Null);
    (code, json, kib)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A FLAC of `frames` frames of 16-bit mono silence at `rate` Hz, in blocks of 65 535
/// (about 15 bytes each: 13 hours at 8 kHz is 86 KB), whose STREAMINFO declares
/// `declared` frames (0: "unknown", as the format allows).
fn silent_flac(path: &Path, rate: u32, frames: u64, declared: u64) {
    const BLOCK: u64 = 65_535;
    fn crc8(b: &[u8]) -> u8 {
        b.iter().fold(0u8, |mut c, &x| {
            c ^= x;
            for _ in 0..8 {
                c = if c & 0x80 != 0 {
                    (c << 1) ^ 0x07
                } else {
                    c << 1
                };
            }
            c
        })
    }
    fn crc16(b: &[u8]) -> u16 {
        b.iter().fold(0u16, |mut c, &x| {
            c ^= u16::from(x) << 8;
            for _ in 0..8 {
                c = if c & 0x8000 != 0 {
                    (c << 1) ^ 0x8005
                } else {
                    c << 1
                };
            }
            c
        })
    }
    /// FLAC's UTF-8-like coding of a frame number (below 2^21 here).
    fn coded(n: u64) -> Vec<u8> {
        match n {
            0..0x80 => vec![n as u8],
            0x80..0x800 => vec![0xC0 | (n >> 6) as u8, 0x80 | (n & 0x3F) as u8],
            0x800..0x10000 => vec![
                0xE0 | (n >> 12) as u8,
                0x80 | (n >> 6 & 0x3F) as u8,
                0x80 | (n & 0x3F) as u8,
            ],
            _ => vec![
                0xF0 | (n >> 18) as u8,
                0x80 | (n >> 12 & 0x3F) as u8,
                0x80 | (n >> 6 & 0x3F) as u8,
                0x80 | (n & 0x3F) as u8,
            ],
        }
    }
    let mut out = b"fLaC".to_vec();
    out.extend_from_slice(&[0x80, 0, 0, 34]); // the last metadata block: STREAMINFO
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    out.extend_from_slice(&[0; 6]); // frame sizes unknown
    let packed = u64::from(rate) << 44 | 15 << 36 | declared; // mono, 16-bit
    out.extend_from_slice(&packed.to_be_bytes());
    out.extend_from_slice(&[0; 16]); // no MD5
    let mut left = frames;
    let mut n = 0;
    while left > 0 {
        let block = left.min(BLOCK);
        let start = out.len();
        // Fixed blocking; 16-bit block size at the end; rate and depth as in STREAMINFO.
        out.extend_from_slice(&[0xFF, 0xF8, 0x70, 0x08]);
        out.extend(coded(n));
        out.extend_from_slice(&((block - 1) as u16).to_be_bytes());
        out.push(crc8(&out[start..]));
        out.extend_from_slice(&[0x00, 0, 0]); // a CONSTANT subframe of value 0
        let crc = crc16(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
        left -= block;
        n += 1;
    }
    std::fs::write(path, out).unwrap();
}

const THIRTEEN_HOURS_AT_8K: u64 = 13 * 3600 * 8000;

#[test]
fn the_crafted_flac_is_a_valid_flac() {
    // ffmpeg's reading of the helper's output (a one-minute file), so the refusals below
    // are about lengths, not about a broken file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minute.flac");
    silent_flac(&path, 8000, 480_000, 480_000);
    let out = Std::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-show_entries"])
        .args(["stream=sample_rate,channels,duration_ts", "-of", "csv=p=0"])
        .arg(&path)
        .output();
    let Ok(out) = out else {
        eprintln!("SKIPPED: no ffprobe");
        return;
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8000,1,480000");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sample_rates_outside_the_range_are_refused_in_bounded_memory() {
    let (d, archive) = new_archive();
    let bad = d.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    // 4 KB files: a 1 Hz header once made `ingest --normalize` take 1.4 GB.
    for rate in [1, 3_999, 384_001] {
        crafted_wav(&bad.join(format!("{rate}.wav")), rate, 1, 4000, 2000);
    }
    let before = snapshot(&archive);
    let (code, r, rss) = run_bounded(&["ingest", s(&archive), s(&bad), "--normalize"]);
    assert_eq!(code, 1, "{r:#}");
    let rejected = r["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{r:#}");
    for x in rejected {
        let path = x["path"].as_str().unwrap();
        let rate = path.rsplit('/').next().unwrap().trim_end_matches(".wav");
        let why = x["reason"].as_str().unwrap();
        assert_eq!(
            why,
            format!("implausible sample rate {rate} Hz (supported: 4000 to 384000 Hz)")
        );
    }
    assert!(rss < RSS_LIMIT_KIB, "peak RSS {rss} KiB");
    assert_eq!(snapshot(&archive), before);
    // The ends of the range are accepted.
    let good = d.path().join("good");
    std::fs::create_dir(&good).unwrap();
    for rate in [4_000, 384_000] {
        crafted_wav(&good.join(format!("{rate}.wav")), rate, 1, 8000, 4000);
    }
    let (code, r, _) = run_bounded(&["ingest", s(&archive), s(&good), "--normalize"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["normalize"]["normalized"].as_array().unwrap().len(), 2);
}

#[test]
fn a_hostile_rate_on_disk_fails_normalize_and_segment_in_bounded_memory() {
    // An original and a rendition replaced by 1 Hz headers after they were archived: at
    // `--rate 192000` this once reached 17 GB (or aborted on a failed allocation).
    let (d, archive) = new_archive();
    let r = ingest_json(&archive, &[fixture("phone/dictation.wav")], &[]);
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();
    let original = format!("data/{id}/original.wav");
    let hostile = d.path().join("1hz.wav");
    crafted_wav(&hostile, 1, 1, 4000, 2000);
    std::fs::copy(&hostile, archive.join(&original)).unwrap();
    let before = snapshot(&archive);
    let (code, r, rss) = run_bounded(&["normalize", s(&archive), &id, "--rate", "192000"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(
        r["failed"][0]["reason"],
        format!("{original}: implausible sample rate 1 Hz (supported: 4000 to 384000 Hz)")
    );
    assert!(rss < RSS_LIMIT_KIB, "normalize: peak RSS {rss} KiB");
    assert_eq!(snapshot(&archive), before);

    // A genuine rendition, then its header replaced and the manifests recomputed (so that
    // segment takes it for the rendition rather than making it again, as it does a damaged
    // one): segment reads it without decoding.
    std::fs::copy(fixture("phone/dictation.wav"), archive.join(&original)).unwrap();
    let (code, r, _) = run_bounded(&["normalize", s(&archive), &id]);
    assert_eq!(code, 0, "{r:#}");
    let rendition = format!("data/{id}/normalized.wav");
    std::fs::copy(&hostile, archive.join(&rendition)).unwrap();
    rehash_entry(&archive, "manifest-sha256.txt", &rendition);
    rehash_entry(&archive, "tagmanifest-sha256.txt", "manifest-sha256.txt");
    let before = snapshot(&archive);
    let (code, r, rss) = run_bounded(&["segment", s(&archive), &id]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(
        r["failed"][0]["reason"],
        format!("{rendition}: implausible sample rate 1 Hz (supported: 4000 to 384000 Hz)")
    );
    assert!(rss < RSS_LIMIT_KIB, "segment: peak RSS {rss} KiB");
    assert_eq!(snapshot(&archive), before);
}

#[test]
fn a_declared_length_past_the_limit_is_refused_before_decoding() {
    // 86 KB declaring (and holding) 13 hours of silence: 10 hours once wrote 1.15 GB.
    let (d, archive) = new_archive();
    let flac = d.path().join("13h.flac");
    silent_flac(&flac, 8000, THIRTEEN_HOURS_AT_8K, THIRTEEN_HOURS_AT_8K);
    assert!(std::fs::metadata(&flac).unwrap().len() < 100_000);
    let before = snapshot(&archive);
    for extra in [&[][..], &["--normalize"], &["--segment"]] {
        let t = Instant::now();
        let mut args = vec!["ingest", s(&archive), s(&flac)];
        args.extend_from_slice(extra);
        let (code, r, rss) = run_bounded(&args);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{extra:?}: {:?}",
            t.elapsed()
        );
        assert_eq!(code, 1, "{r:#}");
        assert_eq!(
            r["rejected"][0]["reason"],
            "declares 13:00:00 of audio, more than the 12:00:00 limit (--max-hours raises it)"
        );
        assert!(rss < RSS_LIMIT_KIB, "{extra:?}: peak RSS {rss} KiB");
        assert_eq!(snapshot(&archive), before, "{extra:?}");
        let staging = archive.join(".visitrec/staging");
        assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0, "{extra:?}");
    }
}

#[test]
fn a_length_the_header_hides_is_stopped_while_decoding() {
    // 13 hours of silence whose STREAMINFO says "length unknown", or 10 seconds. Decoding
    // must stop at the limit (here 36 s): going on to the end would take minutes.
    let (d, archive) = new_archive();
    let before = snapshot(&archive);
    for declared in [0, 80_000] {
        let flac = d.path().join(format!("hidden-{declared}.flac"));
        silent_flac(&flac, 8000, THIRTEEN_HOURS_AT_8K, declared);
        for extra in [&[][..], &["--normalize"]] {
            let t = Instant::now();
            let mut args = vec!["ingest", s(&archive), s(&flac), "--max-hours", "0.01"];
            args.extend_from_slice(extra);
            let (code, r, rss) = run_bounded(&args);
            assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
            assert_eq!(code, 1, "{r:#}");
            assert_eq!(
                r["rejected"][0]["reason"],
                "holds more than the 0:00:36 limit of audio, found while decoding \
                 (--max-hours raises it)",
                "declared {declared}, {extra:?}"
            );
            assert!(rss < RSS_LIMIT_KIB, "peak RSS {rss} KiB");
            assert_eq!(snapshot(&archive), before);
        }
    }
}

#[test]
fn normalize_and_segment_keep_to_the_limit_and_it_can_be_raised() {
    // The voice memo holds 13.34 s; 0.003 h is 10.8 s and 0.004 h is 14.4 s.
    let (_d, archive) = new_archive();
    let memo = fixture("phone/voice-memo.m4a");
    let before = snapshot(&archive);
    let (code, r, _) = run_bounded(&["ingest", s(&archive), s(&memo), "--max-hours", "0.003"]);
    assert_eq!(code, 1, "{r:#}");
    let why = r["rejected"][0]["reason"].as_str().unwrap();
    assert!(why.starts_with("declares 0:00:13 of audio, more than the 0:00:11 limit"));
    assert_eq!(snapshot(&archive), before);
    let (code, r, _) = run_bounded(&["ingest", s(&archive), s(&memo), "--max-hours", "0.004"]);
    assert_eq!(code, 0, "{r:#}");
    let id = r["ingested"][0]["id"].as_str().unwrap().to_string();

    let before = snapshot(&archive);
    let original = format!("data/{id}/original.m4a");
    for cmd in ["normalize", "segment"] {
        let (code, r, _) = run_bounded(&[cmd, s(&archive), &id, "--max-hours", "0.003"]);
        assert_eq!(code, 1, "{cmd}: {r:#}");
        let why = r["failed"][0]["reason"].as_str().unwrap();
        assert!(
            why.starts_with(&format!("{original}: declares 0:00:13 of audio, more than")),
            "{cmd}: {why}"
        );
        assert_eq!(snapshot(&archive), before, "{cmd}");
    }
    // A rendition (13.34 s) made with room to spare is refused by a tighter segment run.
    let (code, r, _) = run_bounded(&["normalize", s(&archive), &id, "--max-hours", "0.004"]);
    assert_eq!(code, 0, "{r:#}");
    let before = snapshot(&archive);
    let (code, r, _) = run_bounded(&["segment", s(&archive), &id, "--max-hours", "0.003"]);
    assert_eq!(code, 1, "{r:#}");
    let why = r["failed"][0]["reason"].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "data/{id}/normalized.wav: declares 0:00:13 of audio"
        )),
        "{why}"
    );
    assert_eq!(snapshot(&archive), before);
    let (code, r, _) = run_bounded(&["segment", s(&archive), &id]);
    assert_eq!(code, 0, "{r:#}");
}

#[test]
fn max_hours_outside_its_range_is_a_usage_error() {
    let (_d, archive) = new_archive();
    let before = snapshot(&archive);
    let memo = fixture("phone/voice-memo.m4a");
    for bad in ["0", "-1", "nan", "inf", "1000.5", "twelve"] {
        for args in [
            vec!["ingest", s(&archive), s(&memo)],
            vec!["normalize", s(&archive), "--all"],
            vec!["segment", s(&archive), "--all"],
        ] {
            let out = visitrec()
                .args(&args)
                .arg(format!("--max-hours={bad}"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {bad}: {err}");
            let first = err.lines().next().unwrap_or_default();
            assert!(
                first.contains("--max-hours") && first.contains("at most 1000"),
                "{args:?} {bad}: {err}"
            );
        }
    }
    assert_eq!(snapshot(&archive), before);
}

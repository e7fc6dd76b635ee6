//! Entry points for the fuzz targets (`fuzz/`, built with the `fuzzing` feature) and their
//! regression test (below, run by `cargo test`): each feeds arbitrary bytes to one parser
//! or decoder and must return, never panic.

use std::io::Write;

/// BagIt manifests (every algorithm), `bagit.txt`, `bag-info.txt`, `fetch.txt`, tag-file
/// decoding, path decoding, and the audit log chain.
pub fn manifest(data: &[u8]) {
    use crate::archive::bagit;
    let _ = bagit::Declaration::parse(data);
    for enc in ["UTF-8", "ISO-8859-1", "UTF-16"] {
        let _ = bagit::decode_tag_file(data, enc);
    }
    let text = String::from_utf8_lossy(data);
    for alg in crate::hash::Algorithm::ALL {
        let _ = bagit::Manifest::parse_for(&text, alg);
    }
    let _ = bagit::parse_fetch(&text);
    let _ = bagit::BagInfo::parse_as(&text, true);
    let _ = crate::archive::bagit::BagInfo::parse(&text);
    let _ = crate::archive::bagit::Oxum::parse(&text);
    let _ = crate::archive::bagit::decode_path(&text);
    let _ = crate::audit::check(&text);
}

/// `recording.json`, and the commit journal.
pub fn recording_json(data: &[u8]) {
    if let Ok(rec) = crate::record::Recording::from_json(data) {
        let _ = crate::consent::state(&rec.consent, crate::time::today());
        let _ = rec.to_json();
    }
    let _ = serde_json::from_slice::<crate::archive::journal::Journal>(data);
}

/// Tags, mark times, marks files, consent scopes and dates.
pub fn tags_and_marks(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::tags::parse_tag(&text);
    let _ = crate::tags::parse_time(&text);
    let _ = crate::annotate::parse_mark(&text);
    let _ = crate::annotate::parse_marks(&text);
    let _ = crate::consent::parse_scopes(&text);
    let _ = crate::consent::parse_date("--date", &text);
}

/// age and SSH recipients, one per line.
pub fn recipients(data: &[u8]) {
    for line in String::from_utf8_lossy(data).lines() {
        let _ = crate::crypto::parse_recipient(line);
    }
}

/// An age file, as `decrypt` and `verify --identity` read an export's files, opened with
/// the test key in `tests/fixtures/keys/` (public: it protects nothing). The fuzz seeds are
/// encrypted to it, so mutations reach the header MAC and the payload chunks.
pub fn age_file(data: &[u8]) {
    use std::sync::OnceLock;
    static KEY: OnceLock<crate::crypto::Identities> = OnceLock::new();
    let ids = KEY.get_or_init(|| {
        let text = include_str!("../tests/fixtures/keys/test-age-key.txt");
        let file = age::IdentityFile::from_buffer(text.as_bytes()).expect("the test key parses");
        crate::crypto::Identities::Keys(file.into_identities().expect("an X25519 key"))
    });
    let _ = crate::crypto::decrypt_stream(ids, data, std::io::sink());
}

/// The MP4 box reader, the Matroska element walker, the Ogg page walker, the
/// identifying-metadata reader and stripper, then the whole decode path (CAF cookie
/// splicing and chained Ogg links included), on a temporary file.
pub fn audio(data: &[u8]) {
    let _ = crate::audio::mp4::scan(&mut std::io::Cursor::new(data));
    if let Ok(layout) =
        crate::audio::ogg::scan(&mut std::io::BufReader::new(std::io::Cursor::new(data)))
    {
        let _ = layout.audio_codec();
        let _ = layout.lone_streams();
    }
    let _ = crate::audio::mkv::scan(&mut std::io::Cursor::new(data), 1);
    let _ = crate::audio::identifying::detect_in(&mut std::io::Cursor::new(data));
    let _ = crate::audio::identifying::strip(&mut std::io::Cursor::new(data), &mut std::io::sink());
    let Ok((path, mut file)) = scratch_file() else {
        return;
    };
    if file.write_all(data).is_ok() {
        let _ = crate::audio::probe::examine(
            &path,
            Default::default(),
            crate::progress::FileProgress::none(),
        );
    }
    let _ = std::fs::remove_file(&path);
}

/// A new file under the temp dir, unique to this process and call.
fn scratch_file() -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "visitrec-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    type Target = fn(&[u8]);

    /// Every fuzz seed, and every input a fuzzer ever crashed on (kept in
    /// `fuzz/regressions/`), goes through the same entry points as the fuzz targets: none
    /// may panic.
    #[test]
    fn seeds_and_past_crashes_stay_harmless() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let targets: [(&str, Target); 6] = [
            ("manifest", super::manifest),
            ("recording_json", super::recording_json),
            ("tags_and_marks", super::tags_and_marks),
            ("recipients", super::recipients),
            ("audio", super::audio),
            ("age_file", super::age_file),
        ];
        let mut ran = 0;
        for (name, target) in targets {
            for dir in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                for e in entries {
                    let path = e.unwrap().path();
                    target(&std::fs::read(&path).unwrap());
                    ran += 1;
                }
            }
        }
        assert!(ran >= 19, "only {ran} inputs found");
    }
}

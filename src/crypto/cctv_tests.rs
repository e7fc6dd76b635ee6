//! The C2SP CCTV age test vectors (`tests/fixtures/cctv-age/testdata.tar.xz`, made by
//! `scripts/make-cctv-age`), every one through [`decrypt_stream`]: each vector whose
//! `expect` is not `success` must be refused for its reason, and each `success` vector
//! whose features visitrec supports must decrypt to its payload hash.

use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use age::secrecy::SecretString;
use rayon::prelude::*;

use super::{DecryptFailure, Identities, decrypt_stream};

/// One test vector: its header fields and the age file.
struct Vector {
    name: String,
    expect: String,
    payload: Option<String>,
    identities: Vec<String>,
    passphrases: Vec<String>,
    file: Vec<u8>,
}

/// Every vector, unpacked from the vendored archive into a temp dir.
fn vectors() -> Vec<Vector> {
    let archive =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cctv-age/testdata.tar.xz");
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new("tar")
        .arg("-xJf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar (with xz) unpacks the CCTV vectors");
    assert!(ok.success(), "tar -xJf {}", archive.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.path().join("testdata")).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        let split = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
        let mut v = Vector {
            name: e.file_name().to_string_lossy().into_owned(),
            expect: String::new(),
            payload: None,
            identities: Vec::new(),
            passphrases: Vec::new(),
            file: bytes[split + 2..].to_vec(),
        };
        for line in String::from_utf8(bytes[..split].to_vec()).unwrap().lines() {
            let (k, val) = line.split_once(": ").unwrap();
            match k {
                "expect" => v.expect = val.to_string(),
                "payload" => v.payload = Some(val.to_string()),
                "identity" => v.identities.push(val.to_string()),
                "passphrase" => v.passphrases.push(val.to_string()),
                "compressed" => panic!("{}: scripts/make-cctv-age inflates vectors", v.name),
                _ => {}
            }
        }
        out.push(v);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The identities to try, and whether the vector needs one visitrec does not support
/// (the post-quantum hybrid `AGE-SECRET-KEY-PQ-1…` keys, which the age crate lacks).
fn identities_for(v: &Vector) -> (Identities, bool) {
    if let ([p], true) = (&v.passphrases[..], v.identities.is_empty()) {
        return (Identities::passphrase(SecretString::from(p.clone())), false);
    }
    let mut keys: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    let mut unsupported = false;
    for text in &v.identities {
        match age::x25519::Identity::from_str(text) {
            Ok(k) => keys.push(Box::new(k)),
            Err(_) if text.starts_with("AGE-SECRET-KEY-PQ-1") => unsupported = true,
            Err(e) => panic!("{}: identity does not parse: {e}", v.name),
        }
    }
    if keys.is_empty() {
        keys.push(Box::new(age::x25519::Identity::generate()));
    }
    (Identities::Keys(keys), unsupported)
}

/// Whether `failure` is the kind of refusal `expect` names. A file that does not start
/// with the armor's marker cannot be told from a binary one, so its armor failure is a
/// header failure (CCTV's harness is told which files are armored; a reader is not).
fn is_expected(expect: &str, failure: &DecryptFailure, file: &[u8]) -> bool {
    use DecryptFailure::*;
    let marker = file
        .trim_ascii_start()
        .starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----");
    match expect {
        "header failure" => matches!(failure, NotAge(_) | WorkFactor { .. }),
        "armor failure" => matches!(failure, Armor(_)) || !marker && matches!(failure, NotAge(_)),
        "no match" => matches!(failure, NoMatch | WrongPassphrase),
        "HMAC failure" | "payload failure" => matches!(failure, Tampered),
        other => panic!("unknown expect {other:?}"),
    }
}

/// How one vector fared.
enum Outcome {
    Decrypted,
    Refused,
    /// A `success` vector that needs a feature visitrec lacks (and was refused).
    Unsupported,
    Wrong(String),
}

/// Runs one vector through [`decrypt_stream`] and judges the result against `expect`.
fn judge(v: &Vector) -> Outcome {
    let (ids, needs_pq) = identities_for(v);
    let mut released = Vec::new();
    let result = decrypt_stream(&ids, &v.file[..], &mut released);
    let released_hash = crate::hash::hash_bytes(&released).sha256;
    match (&result, v.expect.as_str()) {
        (Ok(f), "success")
            if Some(&f.sha256) == v.payload.as_ref() && f.sha256 == released_hash =>
        {
            Outcome::Decrypted
        }
        (Ok(_), "success") => Outcome::Wrong("decrypted to the wrong payload".into()),
        (Err(_), "success") if needs_pq => Outcome::Unsupported,
        (Err(e), "success") => Outcome::Wrong(format!("refused: {e}")),
        (Ok(_), expect) => Outcome::Wrong(format!("accepted, expected {expect}")),
        (Err(e), expect) if !needs_pq && !is_expected(expect, e, &v.file) => {
            Outcome::Wrong(format!("{expect} expected, refused with: {e}"))
        }
        // What was released before a payload failure must be the authentic plaintext.
        (Err(_), "payload failure") if v.payload.as_ref().is_some_and(|p| *p != released_hash) => {
            Outcome::Wrong("released the wrong plaintext".into())
        }
        (Err(_), _) => Outcome::Refused,
    }
}

#[test]
fn every_cctv_vector_is_refused_or_decrypted_as_expected() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 143, "the vendored set");
    // In parallel: the three 16 MB stream vectors dominate.
    let outcomes: Vec<Outcome> = vectors.par_iter().map(judge).collect();
    let mut wrong = Vec::new();
    let (mut decrypted, mut refused, mut unsupported) = (0, 0, Vec::new());
    for (v, o) in vectors.iter().zip(outcomes) {
        match o {
            Outcome::Decrypted => decrypted += 1,
            Outcome::Refused => refused += 1,
            Outcome::Unsupported => unsupported.push(v.name.clone()),
            Outcome::Wrong(why) => wrong.push(format!("{}: {why}", v.name)),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} vectors misjudged:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!(
        "CCTV age: {decrypted} decrypted, {refused} refused, {} unsupported (hybrid PQ): {}",
        unsupported.len(),
        unsupported.join(" ")
    );
    assert!(unsupported.iter().all(|n| n.contains("hybrid")));
    assert!(
        decrypted >= 19,
        "x25519, scrypt and armored success vectors"
    );
}

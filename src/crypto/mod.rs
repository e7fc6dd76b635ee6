//! age encryption: recipients and identities, and streaming encrypt/decrypt with fixed-size
//! buffers (age's STREAM format encrypts in 64 KiB chunks), so memory stays constant.
//! Encryption is [`age_writer`]'s (parallel, hashing both sides); decryption is the `age`
//! crate's reader.
//!
//! The `age` crate is built without its `plugin` feature, and `age1<name>1…` plugin
//! recipients are refused here: a crafted plugin recipient would make age run a program.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use age::secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::hash::Fixity;

pub mod age_writer;

/// Who an export is encrypted to.
pub enum Recipients {
    /// age X25519 and SSH public keys, each with its text form.
    Keys(Vec<(String, Box<dyn age::Recipient + Send + Sync>)>),
    /// A passphrase (scrypt); it cannot be mixed with keys.
    Passphrase(SecretString),
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipients::Keys(k) => write!(f, "Recipients({} keys)", k.len()),
            Recipients::Passphrase(_) => f.write_str("Recipients(passphrase)"),
        }
    }
}

impl Recipients {
    /// Short public fingerprints (first 16 hex digits of the SHA-256 of each key's text),
    /// for the audit trail.
    pub fn fingerprints(&self) -> Vec<String> {
        match self {
            Recipients::Keys(keys) => keys
                .iter()
                .map(|(text, _)| crate::hash::hash_bytes(text.as_bytes()).sha256[..16].to_string())
                .collect(),
            Recipients::Passphrase(_) => vec!["passphrase".into()],
        }
    }
}

/// Parses one recipient: `age1…` (X25519), `ssh-ed25519 …` or `ssh-rsa …`.
pub fn parse_recipient(s: &str) -> Result<(String, Box<dyn age::Recipient + Send + Sync>)> {
    let s = s.trim();
    let bad = |why: &str| Error::Invalid(format!("recipient {s:?} is not valid: {why}"));
    if s.starts_with("ssh-") {
        return match s.parse::<age::ssh::Recipient>() {
            Ok(r) => Ok((s.to_string(), Box::new(r))),
            Err(e) => Err(bad(&format!("{e:?}"))),
        };
    }
    if s.starts_with("age1") {
        if plugin_hrp(s) {
            return Err(bad("age plugin recipients are not supported"));
        }
        return s
            .parse::<age::x25519::Recipient>()
            .map(|r| {
                (
                    s.to_string(),
                    Box::new(r) as Box<dyn age::Recipient + Send + Sync>,
                )
            })
            .map_err(bad);
    }
    Err(bad("expected an age1… or ssh-ed25519/ssh-rsa public key"))
}

/// Whether `s` is a Bech32 string whose human-readable part is `age1<name>` (a plugin).
fn plugin_hrp(s: &str) -> bool {
    // Bech32's data alphabet has no '1', so the HRP is everything before the last '1';
    // plain X25519 keys have the HRP "age".
    s.rfind('1').is_some_and(|i| &s[..i] != "age")
}

/// Reads an age recipients file: one recipient per line; blank lines and `#` comments are
/// ignored. Errors name the file and line.
pub fn read_recipients_file(
    path: &Path,
) -> Result<Vec<(String, Box<dyn age::Recipient + Send + Sync>)>> {
    let text = std::fs::read_to_string(path).at(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_recipient(line).map_err(|e| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("line {}: {e}", i + 1),
        })?);
    }
    if out.is_empty() {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "no recipients in the file".into(),
        });
    }
    Ok(out)
}

/// Keys (or a passphrase) that can open an export.
pub enum Identities {
    /// Identities read from age identity files (X25519 or SSH private keys).
    Keys(Vec<Box<dyn age::Identity + Send + Sync>>),
    /// A passphrase.
    Passphrase(SecretString),
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identities::Keys(k) => write!(f, "Identities({} keys)", k.len()),
            Identities::Passphrase(_) => f.write_str("Identities(passphrase)"),
        }
    }
}

impl Identities {
    /// Reads identity files (`age-keygen` output, or unencrypted SSH private keys).
    pub fn from_files(paths: &[std::path::PathBuf]) -> Result<Identities> {
        let mut keys: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
        for path in paths {
            let bad = |why: String| Error::BadFile {
                path: path.to_path_buf(),
                reason: why,
            };
            let bytes = zeroize::Zeroizing::new(std::fs::read(path).at(path)?);
            if bytes.starts_with(b"-----BEGIN") {
                let name = Some(path.to_string_lossy().into_owned());
                match age::ssh::Identity::from_buffer(&bytes[..], name)
                    .map_err(|e| bad(format!("not an SSH private key: {e}")))?
                {
                    age::ssh::Identity::Unencrypted(k) => {
                        keys.push(Box::new(age::ssh::Identity::Unencrypted(k)))
                    }
                    age::ssh::Identity::Encrypted(_) => {
                        return Err(bad(
                            "passphrase-protected SSH keys are not supported; use an age key"
                                .into(),
                        ));
                    }
                    age::ssh::Identity::Unsupported(_) => {
                        return Err(bad("unsupported SSH key type".into()));
                    }
                }
                continue;
            }
            let file = age::IdentityFile::from_buffer(&bytes[..])
                .map_err(|e| bad(format!("not an age identity file: {e}")))?;
            keys.extend(
                file.into_identities()
                    .map_err(|e| bad(format!("unusable identity: {e}")))?,
            );
        }
        if keys.is_empty() {
            return Err(Error::Invalid("no identity given".into()));
        }
        Ok(Identities::Keys(keys))
    }
}

/// Encrypts everything `input` yields into `output` (a new file, fsynced by the caller),
/// hashing the plaintext and the ciphertext on the way (see [`age_writer`]). Errors name
/// `paths.0` (reading) or `paths.1` (writing).
pub fn encrypt_stream(
    recipients: &Recipients,
    input: impl Read + Send,
    output: &File,
    paths: (&Path, &Path),
) -> Result<(Fixity, Fixity)> {
    match recipients {
        Recipients::Keys(keys) => {
            let keys: Vec<&dyn age::Recipient> =
                keys.iter().map(|(_, r)| r.as_ref() as _).collect();
            age_writer::encrypt(&keys, input, output, paths)
        }
        Recipients::Passphrase(p) => {
            let scrypt = age::scrypt::Recipient::new(p.clone());
            age_writer::encrypt(&[&scrypt], input, output, paths)
        }
    }
}

/// Why a file could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum DecryptFailure {
    /// None of the identities opens the file.
    #[error("no identity matches")]
    NoMatch,
    /// The file was tampered with or truncated (authentication failed).
    #[error("authentication failed: the file was altered or truncated")]
    Tampered,
    /// Not an age file.
    #[error("not an age file ({0})")]
    NotAge(String),
    /// Reading or writing failed.
    #[error("{}", crate::error::describe_io(.0))]
    Io(io::Error),
}

/// Decrypts `input` into `output`, returning the plaintext's fixity. Callers must write to
/// a temporary file and discard it on error: age authenticates chunk by chunk, so a
/// tampered file fails part-way through.
pub fn decrypt_stream(
    identities: &Identities,
    input: impl Read,
    mut output: impl Write,
) -> std::result::Result<Fixity, DecryptFailure> {
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(1 << 16, input))
        .map_err(map_decrypt)?;
    let mut reader = match identities {
        Identities::Keys(keys) => decryptor
            .decrypt(keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
            .map_err(map_decrypt)?,
        Identities::Passphrase(p) => {
            let id = age::scrypt::Identity::new(p.clone());
            decryptor
                .decrypt(std::iter::once(&id as &dyn age::Identity))
                .map_err(map_decrypt)?
        }
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(DecryptFailure::Tampered);
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(DecryptFailure::Tampered);
            }
            Err(e) => return Err(DecryptFailure::Io(e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
        output.write_all(&buf[..n]).map_err(DecryptFailure::Io)?;
    }
    Ok(Fixity {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

fn map_decrypt(e: age::DecryptError) -> DecryptFailure {
    match e {
        age::DecryptError::NoMatchingKeys => DecryptFailure::NoMatch,
        age::DecryptError::DecryptionFailed
        | age::DecryptError::InvalidMac
        | age::DecryptError::KeyDecryptionFailed => DecryptFailure::Tampered,
        age::DecryptError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            DecryptFailure::Tampered
        }
        age::DecryptError::Io(io) => DecryptFailure::Io(io),
        other => DecryptFailure::NotAge(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_failures() {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let r = Recipients::Keys(vec![parse_recipient(&recipient).unwrap()]);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        let p = Path::new("x");
        let (plain, cipher) = encrypt_stream(&r, &data[..], &file, (p, p)).unwrap();
        let mut ct = Vec::new();
        io::Seek::rewind(&mut file).unwrap();
        file.read_to_end(&mut ct).unwrap();
        assert_eq!(plain, crate::hash::hash_bytes(&data));
        assert_eq!(cipher, crate::hash::hash_bytes(&ct));

        let ids = Identities::Keys(vec![Box::new(id)]);
        let mut out = Vec::new();
        assert_eq!(decrypt_stream(&ids, &ct[..], &mut out).unwrap(), plain);
        assert_eq!(out, data);

        let other = Identities::Keys(vec![Box::new(age::x25519::Identity::generate())]);
        assert!(matches!(
            decrypt_stream(&other, &ct[..], Vec::new()),
            Err(DecryptFailure::NoMatch)
        ));
        let mut bad = ct.clone();
        let n = bad.len();
        bad[n - 100] ^= 1;
        assert!(matches!(
            decrypt_stream(&ids, &bad[..], Vec::new()),
            Err(DecryptFailure::Tampered)
        ));
        assert!(matches!(
            decrypt_stream(&ids, &ct[..n - 10], Vec::new()),
            Err(DecryptFailure::Tampered)
        ));
    }

    #[test]
    fn recipients_are_checked() {
        assert!(parse_recipient("age1notakey").is_err());
        let err = parse_recipient("age1yubikey1qwerty").err().unwrap();
        assert!(err.to_string().contains("plugin"), "{err}");
        assert!(parse_recipient("ssh-ed25519 AAAAnope").is_err());
        assert!(parse_recipient("hello").is_err());
        let id = age::x25519::Identity::generate();
        assert!(parse_recipient(&id.to_public().to_string()).is_ok());
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
        assert!(parse_recipient(ssh).is_ok());
    }
}

//! age encryption: recipients and identities, and streaming encrypt/decrypt with fixed-size
//! buffers (age's STREAM format encrypts in 64 KiB chunks), so memory stays constant.
//! Encryption is [`age_writer`]'s (parallel, hashing both sides); decryption is the `age`
//! crate's reader.
//!
//! The `age` crate is built without its `plugin` feature, and `age1<name>1…` plugin
//! recipients are refused here: a crafted plugin recipient would make age run a program.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use age::secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::failure::{DecryptFailure, RecipientError};
use crate::hash::Fixity;

pub mod age_writer;
#[cfg(test)]
mod cctv_tests;
pub mod header;

/// The highest scrypt work factor (`log2 N`) a passphrase-encrypted file may ask for, as
/// in Go age: 2^22 already costs 4 GiB of memory and tens of seconds.
pub const MAX_SCRYPT_LOG_N: u8 = 22;
/// The scrypt work factor `encrypt --passphrase` uses: Go age's 2^18 (256 MiB, about half
/// a second here), fixed so an export made on a fast machine opens on a slow one.
pub const SCRYPT_LOG_N: u8 = 18;
/// The longest line an ASCII-armored file may have (armor lines are 64 columns).
pub const MAX_ARMOR_LINE: usize = 4096;

/// Who an export is encrypted to.
pub enum Recipients {
    /// age X25519 and SSH public keys, each with its text form.
    Keys(Vec<Recipient>),
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

/// A parsed recipient: its text, and the key.
pub type Recipient = (String, Box<dyn age::Recipient + Send + Sync>);

/// Whether `s` is, or holds, private key material (age, age plugin, or SSH), whatever the
/// case: such text must never be printed.
pub fn is_private_key(s: &str) -> bool {
    let upper = s.to_ascii_uppercase();
    upper.contains("AGE-SECRET-KEY-")
        || upper.contains("AGE-PLUGIN-")
        || upper.contains("PRIVATE KEY")
        // The base64 of "openssh-key-v1\0", how an OpenSSH private key's body begins.
        || s.contains("b3BlbnNzaC1rZXktdjE")
}

/// Parses one recipient: `age1…` (X25519), `ssh-ed25519 …` or `ssh-rsa …`. The error says
/// what is wrong without repeating the text.
pub fn check_recipient(s: &str) -> std::result::Result<Recipient, RecipientError> {
    let s = s.trim();
    if is_private_key(s) {
        return Err(RecipientError::PrivateKey);
    }
    if let Some(rest) = s
        .get(..11)
        .filter(|p| p.eq_ignore_ascii_case("public key:"))
        .map(|_| &s[11..])
    {
        return Err(match check_recipient(rest) {
            Ok(_) => RecipientError::Prefixed,
            Err(e) => e,
        });
    }
    if s.starts_with("ssh-") {
        return match s.parse::<age::ssh::Recipient>() {
            Ok(r) => Ok((s.to_string(), Box::new(r))),
            Err(e) => Err(RecipientError::BadSsh(match e {
                age::ssh::ParseRecipientKeyError::Invalid(why) => why.to_string(),
                age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                    "RSA modulus too large".into()
                }
                age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                    "RSA keys under 2048 bits are weak".into()
                }
                age::ssh::ParseRecipientKeyError::Unsupported(kind) => {
                    format!("{kind} keys are not supported")
                }
                _ => "unsupported key type".into(),
            })),
        };
    }
    if s.starts_with("age1") {
        if plugin_hrp(s) {
            return Err(RecipientError::Plugin);
        }
        return s
            .parse::<age::x25519::Recipient>()
            .map(|r| {
                (
                    s.to_string(),
                    Box::new(r) as Box<dyn age::Recipient + Send + Sync>,
                )
            })
            .map_err(RecipientError::BadAge);
    }
    Err(RecipientError::Unknown)
}

/// Parses a recipient given on the command line (`-r`). The error repeats the text only
/// when it holds no private key material, and then at most 80 characters of it.
pub fn parse_recipient(s: &str) -> Result<Recipient> {
    check_recipient(s).map_err(|reason| {
        let s = s.trim();
        let given = if reason == RecipientError::PrivateKey {
            "the recipient given".to_string()
        } else if s.chars().count() > 80 {
            format!("recipient {:?}…", s.chars().take(80).collect::<String>())
        } else {
            format!("recipient {s:?}")
        };
        Error::Recipient { given, reason }
    })
}

/// Whether `s` is a Bech32 string whose human-readable part is `age1<name>` (a plugin).
fn plugin_hrp(s: &str) -> bool {
    // Bech32's data alphabet has no '1', so the HRP is everything before the last '1';
    // plain X25519 keys have the HRP "age".
    s.rfind('1').is_some_and(|i| &s[..i] != "age")
}

/// Reads an age recipients file: one recipient per line; blank lines and `#` comments are
/// ignored. Errors name the file and line, never the line's text (like stock age: the
/// file may be an identity file given by mistake).
pub fn read_recipients_file(path: &Path) -> Result<Vec<Recipient>> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).at(path)?);
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "not a recipients file (not UTF-8 text)".into(),
        });
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(check_recipient(line).map_err(|reason| Error::Recipient {
            given: format!("{}: line {}", path.display(), i + 1),
            reason,
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
    /// A passphrase (see [`Identities::passphrase`]).
    Passphrase(Passphrase),
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identities::Keys(k) => write!(f, "Identities({} keys)", k.len()),
            Identities::Passphrase(_) => f.write_str("Identities(passphrase)"),
        }
    }
}

/// A passphrase as an age identity that refuses scrypt work factors above
/// [`MAX_SCRYPT_LOG_N`] and runs one scrypt at a time in the whole process, so files
/// decrypted in parallel cannot multiply scrypt's memory (4 GiB at the limit).
pub struct Passphrase(age::scrypt::Identity);

/// Held while an scrypt runs.
static SCRYPT_GATE: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl age::Identity for Passphrase {
    fn unwrap_stanza(
        &self,
        stanza: &age_core::format::Stanza,
    ) -> Option<std::result::Result<age_core::format::FileKey, age::DecryptError>> {
        if stanza.tag != "scrypt" {
            return None;
        }
        let _one_at_a_time = SCRYPT_GATE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.0.unwrap_stanza(stanza)
    }
}

impl Identities {
    /// A passphrase that opens passphrase-encrypted (scrypt) files.
    pub fn passphrase(passphrase: SecretString) -> Identities {
        let mut id = age::scrypt::Identity::new(passphrase);
        id.set_max_work_factor(MAX_SCRYPT_LOG_N);
        Identities::Passphrase(Passphrase(id))
    }

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
            return Err(Error::NoIdentity);
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
            let mut scrypt = age::scrypt::Recipient::new(p.clone());
            scrypt.set_work_factor(SCRYPT_LOG_N);
            age_writer::encrypt(&[&scrypt], input, output, paths)
        }
    }
}

/// An armored line longer than [`MAX_ARMOR_LINE`].
#[derive(Debug, thiserror::Error)]
#[error("a line is longer than {MAX_ARMOR_LINE} bytes")]
struct ArmorLineTooLong;

/// Refuses lines longer than [`MAX_ARMOR_LINE`], so the armor decoder (which reads a line
/// at a time) holds at most that much.
struct LineCap<R> {
    inner: R,
    line: usize,
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.line = if b == b'\n' { 0 } else { self.line + 1 };
            if self.line > MAX_ARMOR_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, ArmorLineTooLong));
            }
        }
        Ok(n)
    }
}

/// A binary or an ASCII-armored age file (told apart by its first bytes, as stock age does).
enum Source<R: Read> {
    Binary(BufReader<R>),
    Armored(age::armor::ArmoredReader<BufReader<LineCap<BufReader<R>>>>),
}

impl<R: Read> Source<R> {
    fn new(input: R) -> std::result::Result<Source<R>, DecryptFailure> {
        let mut raw = BufReader::with_capacity(1 << 16, input);
        let head = loop {
            match raw.fill_buf() {
                Ok(h) => break h,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DecryptFailure::Io(e)),
            }
        };
        // Whitespace may come before the armor (and after it: the armor reader allows that).
        let blank = head.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let armored = head[blank..].starts_with(b"-----BEGIN");
        if armored {
            raw.consume(blank);
        }
        Ok(if armored {
            Source::Armored(age::armor::ArmoredReader::new(LineCap {
                inner: raw,
                line: 0,
            }))
        } else {
            Source::Binary(raw)
        })
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Binary(r) => r.read(buf),
            Source::Armored(r) => r.read(buf),
        }
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Source::Binary(r) => r.fill_buf(),
            Source::Armored(r) => r.fill_buf(),
        }
    }
    fn consume(&mut self, n: usize) {
        match self {
            Source::Binary(r) => r.consume(n),
            Source::Armored(r) => r.consume(n),
        }
    }
}

/// Decrypts `input` (binary or ASCII-armored age) into `output`, returning the plaintext's
/// fixity. Callers must write to a temporary file and discard it on error: age
/// authenticates chunk by chunk, so a tampered file fails part-way through.
///
/// Hostile input costs bounded memory: the header is read by [`header::read`] (at most
/// [`header::MAX_HEADER`] bytes, strict grammar) before the `age` crate sees it, armored
/// lines are capped at [`MAX_ARMOR_LINE`], the payload goes through in 64 KiB chunks, and
/// scrypt is capped and serialized (see [`Passphrase`]).
pub fn decrypt_stream(
    identities: &Identities,
    input: impl Read,
    mut output: impl Write,
) -> std::result::Result<Fixity, DecryptFailure> {
    let passphrase = matches!(identities, Identities::Passphrase(_));
    let mut source = Source::new(input)?;
    let header = header::read(&mut source).map_err(|e| match e {
        header::ReadError::Io(e) => io_failure(e, true),
        header::ReadError::Header(h) => DecryptFailure::NotAge(h.to_string()),
    })?;
    let decryptor = age::Decryptor::new_buffered(io::Cursor::new(header).chain(source))
        .map_err(|e| header_failure(e, passphrase))?;
    let mut reader = match identities {
        Identities::Keys(keys) => decryptor
            .decrypt(keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
            .map_err(|e| header_failure(e, passphrase))?,
        Identities::Passphrase(p) => decryptor
            .decrypt(std::iter::once(p as &dyn age::Identity))
            .map_err(|e| header_failure(e, passphrase))?,
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failure(e, false)),
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

/// What a read error means: the armor's own errors, a truncated header, a failed
/// payload chunk (`InvalidData` or `UnexpectedEof` past the header), or plain I/O.
fn io_failure(e: io::Error, in_header: bool) -> DecryptFailure {
    if let Some(inner) = e.get_ref() {
        if let Some(a) = inner.downcast_ref::<age::armor::ArmoredReadError>() {
            return DecryptFailure::Armor(a.to_string());
        }
        if inner.is::<ArmorLineTooLong>() {
            return DecryptFailure::Armor(inner.to_string());
        }
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof if in_header => {
            DecryptFailure::NotAge(header::HeaderError::Truncated.to_string())
        }
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData if !in_header => {
            DecryptFailure::Tampered
        }
        _ => DecryptFailure::Io(e),
    }
}

/// Says which identity files failed, when `e` is an export's first file refusing every key
/// given (the wrong key), instead of naming the export's internal file.
pub fn name_the_keys(
    e: Error,
    export: &std::path::Path,
    key_files: &[std::path::PathBuf],
) -> Error {
    match e {
        Error::Decrypt {
            failure: DecryptFailure::NoMatch,
            ..
        } if !key_files.is_empty() => Error::KeyDoesNotOpen {
            path: export.to_path_buf(),
            keys: key_files.to_vec(),
        },
        other => other,
    }
}

/// What an error from parsing the header or unwrapping the file key means.
fn header_failure(e: age::DecryptError, passphrase: bool) -> DecryptFailure {
    match e {
        age::DecryptError::NoMatchingKeys => DecryptFailure::NoMatch,
        // scrypt's stanza fails to open only under another passphrase (or if altered,
        // which cannot be told apart).
        age::DecryptError::DecryptionFailed if passphrase => DecryptFailure::WrongPassphrase,
        age::DecryptError::DecryptionFailed
        | age::DecryptError::InvalidMac
        | age::DecryptError::KeyDecryptionFailed => DecryptFailure::Tampered,
        age::DecryptError::ExcessiveWork { required, .. } => DecryptFailure::WorkFactor {
            required,
            limit: MAX_SCRYPT_LOG_N,
        },
        age::DecryptError::InvalidHeader => DecryptFailure::NotAge("malformed age header".into()),
        age::DecryptError::UnknownFormat => {
            DecryptFailure::NotAge(header::HeaderError::UnsupportedVersion.to_string())
        }
        age::DecryptError::Io(io) => io_failure(io, true),
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
    fn passphrases_wrong_and_too_costly() {
        let secret = |p: &str| SecretString::from(p.to_string());
        let mut file = tempfile::tempfile().unwrap();
        let p = Path::new("x");
        let r = Recipients::Passphrase(secret("correct horse"));
        encrypt_stream(&r, &b"visit"[..], &file, (p, p)).unwrap();
        let mut ct = Vec::new();
        io::Seek::rewind(&mut file).unwrap();
        file.read_to_end(&mut ct).unwrap();
        let text = String::from_utf8_lossy(&ct[..80]).into_owned();
        assert!(text.contains(&format!(" {SCRYPT_LOG_N}\n")), "{text}");
        let right = Identities::passphrase(secret("correct horse"));
        let mut out = Vec::new();
        decrypt_stream(&right, &ct[..], &mut out).unwrap();
        assert_eq!(out, b"visit");
        let wrong = decrypt_stream(&Identities::passphrase(secret("nope")), &ct[..], Vec::new());
        assert_eq!(wrong.unwrap_err().to_string(), "wrong passphrase");
        // The same file asking for 2^23: refused before any scrypt runs.
        let mut costly_bytes = ct.clone();
        let at = ct
            .windows(4)
            .position(|w| w == format!(" {SCRYPT_LOG_N}\n").as_bytes())
            .unwrap();
        costly_bytes[at + 1..at + 3].copy_from_slice(b"23");
        let t = std::time::Instant::now();
        let e = decrypt_stream(&right, &costly_bytes[..], Vec::new()).unwrap_err();
        assert!(
            matches!(e, DecryptFailure::WorkFactor { required: 23, .. }),
            "{e}"
        );
        assert!(
            e.to_string().contains("2^23, above the limit of 2^22"),
            "{e}"
        );
        assert!(t.elapsed().as_secs() < 2, "refused at once");
    }

    #[test]
    fn armored_files_decrypt_and_bad_armor_is_named() {
        let id = age::x25519::Identity::generate();
        let enc = age::Encryptor::with_recipients(std::iter::once(&id.to_public() as _)).unwrap();
        let mut armored = Vec::new();
        let w =
            age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
                .unwrap();
        let mut w = enc.wrap_output(w).unwrap();
        w.write_all(&[7u8; 100_000]).unwrap();
        w.finish().and_then(|a| a.finish()).unwrap();
        let ids = Identities::Keys(vec![Box::new(id)]);
        let mut out = Vec::new();
        let padded = [b"\n \n".as_slice(), &armored, b"\n\n"].concat();
        decrypt_stream(&ids, &padded[..], &mut out).unwrap();
        assert_eq!(out, vec![7u8; 100_000]);
        let mut bad = armored.clone();
        bad[100] = b'*';
        let e = decrypt_stream(&ids, &bad[..], Vec::new()).unwrap_err();
        assert!(matches!(e, DecryptFailure::Armor(_)), "{e}");
        // An endless armored line stops at the cap.
        let mut long = b"-----BEGIN AGE ENCRYPTED FILE-----\n".to_vec();
        long.resize(long.len() + MAX_ARMOR_LINE + 10, b'Q');
        let e = decrypt_stream(&ids, &long[..], Vec::new()).unwrap_err();
        assert!(e.to_string().contains("longer than 4096"), "{e}");
    }

    #[test]
    fn private_keys_are_never_echoed() {
        let id = age::x25519::Identity::generate();
        let secret = age::secrecy::ExposeSecret::expose_secret(&id.to_string()).to_string();
        let public = id.to_public().to_string();
        for given in [
            secret.clone(),
            secret.to_lowercase(),
            format!("  {secret}  "),
            format!("key={secret}"),
            "AGE-PLUGIN-YUBIKEY-1QQQQQQ".to_string(),
            "-----BEGIN OPENSSH PRIVATE KEY-----".to_string(),
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ".to_string(),
        ] {
            assert_eq!(
                check_recipient(&given).err(),
                Some(RecipientError::PrivateKey)
            );
            let msg = parse_recipient(&given).err().unwrap().to_string();
            assert_eq!(
                msg,
                "the recipient given is a private key: give the public key (age1…) instead"
            );
        }
        // `age-keygen` output, and an SSH private key, given as recipients files.
        let dir = tempfile::tempdir().unwrap();
        let keygen = dir.path().join("key.txt");
        std::fs::write(
            &keygen,
            format!("# created: 2026-01-01T00:00:00Z\n# public key: {public}\n{secret}\n"),
        )
        .unwrap();
        let msg = read_recipients_file(&keygen).err().unwrap().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: line 3 is a private key: give the public key (age1…) instead",
                keygen.display()
            )
        );
        let ssh = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys/test_ed25519");
        let msg = read_recipients_file(&ssh).err().unwrap().to_string();
        assert!(msg.ends_with("line 1 is a private key: give the public key (age1…) instead"));
        // A malformed line is named by number only, never by its text.
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, format!("{public}\nage1{}\n", "q".repeat(58))).unwrap();
        let msg = read_recipients_file(&bad).err().unwrap().to_string();
        assert!(msg.contains("line 2 is not a valid age public key") && !msg.contains("qqqq"));
        // `age-keygen`'s "Public key: " prefix gets a hint.
        for given in [
            format!("Public key: {public}"),
            format!("public key:{public}"),
        ] {
            assert_eq!(
                check_recipient(&given).err(),
                Some(RecipientError::Prefixed)
            );
        }
        let msg = parse_recipient(&format!("Public key: {public}"))
            .err()
            .unwrap();
        assert!(msg.to_string().contains("drop that prefix"), "{msg}");
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

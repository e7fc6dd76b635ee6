//! Writing age v1 files (the age specification, `age-encryption.org/v1`) at full speed.
//!
//! The header's recipient stanzas come from the `age` crate's own recipient types (X25519,
//! SSH, scrypt), so key wrapping is theirs; this module writes the header around them and
//! the STREAM payload, following the spec's sections:
//! - header: `age-encryption.org/v1`, one stanza per wrapped file key, `---` and an
//!   HMAC-SHA-256 over all of it under `HKDF(file key, "header")`;
//! - payload: a random 16-byte nonce, then 64 KiB chunks sealed with ChaCha20-Poly1305 under
//!   `HKDF(file key, salt = nonce, "payload")`, each chunk's nonce being an 11-byte
//!   big-endian counter and a last-chunk flag byte.
//!
//! Why not the `age` crate's own writer: it seals on one thread with a slower
//! ChaCha20-Poly1305, and a visitrec export also hashes every plaintext and every
//! ciphertext. Here one file flows through four threads — read and hash the plaintext, seal
//! (ring's ChaCha20-Poly1305), hash the ciphertext, write — in 1 MiB blocks, so a single file
//! keeps every core busy and memory stays at `DEPTH` blocks whatever the file's size. The
//! stock `age` CLI and the `age` crate read what this writes (tests in `tests/crypto.rs`).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::hash::Fixity;

/// Plaintext bytes per STREAM chunk (spec: 64 KiB).
const CHUNK: usize = 64 * 1024;
/// The Poly1305 tag after each sealed chunk.
const TAG: usize = 16;
/// A chunk's place in a block: its plaintext, then room for its tag.
const SLOT: usize = CHUNK + TAG;
/// Chunks per block: 1 MiB of plaintext moves between the threads at a time.
const CHUNKS_PER_BLOCK: usize = 16;
/// Blocks per file in flight: memory per file is bounded by `DEPTH` blocks (~4 MiB).
const DEPTH: usize = 4;

/// Encrypts everything `input` yields to `recipients` into `output` (a new file; the caller
/// fsyncs it), returning the fixity of the plaintext and of the ciphertext. Errors name
/// `paths.0` (reading) or `paths.1` (writing).
pub fn encrypt(
    recipients: &[&dyn age::Recipient],
    input: impl Read + Send,
    output: &File,
    paths: (&Path, &Path),
) -> Result<(Fixity, Fixity)> {
    let (in_path, out_path) = paths;
    let rng = SystemRandom::new();
    let no_randomness = |_| Error::NoRandomness;
    let file_key = FileKey::try_init_with_mut(|k| rng.fill(k)).map_err(no_randomness)?;
    let mut head = header(recipients, &file_key)?;
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce).map_err(no_randomness)?;
    head.extend_from_slice(&nonce);
    let payload_key = Zeroizing::new(age_core::primitives::hkdf(
        &nonce,
        b"payload",
        file_key.expose_secret(),
    ));
    drop(file_key);
    let key = PayloadKey::new(&payload_key);
    drop(payload_key);

    let (pool_tx, pool_rx) = sync_channel(DEPTH);
    for _ in 0..DEPTH {
        pool_tx.send(Block::new()).expect("the pool has room");
    }
    let (read_tx, read_rx) = sync_channel(DEPTH);
    let (seal_tx, seal_rx) = sync_channel(DEPTH);
    let (hash_tx, hash_rx) = sync_channel(DEPTH);
    let head = &head;
    let (read, sealed, hashed, written) = std::thread::scope(|s| {
        let reader = s.spawn(move || read_stage(input, pool_rx, read_tx));
        let hasher = s.spawn(move || hash_stage(head, seal_rx, hash_tx));
        let writer = s.spawn(move || write_stage(output, head, hash_rx, pool_tx));
        let sealed = seal_stage(key.get(), read_rx, seal_tx);
        (join(reader), sealed, join(hasher), join(writer))
    });
    // A stage that stopped early did so because a neighbour failed: report the failure.
    let plaintext = read.map_err(|e| Error::io(in_path, e))?;
    written.map_err(|e| Error::io(out_path, e))?;
    match (plaintext, sealed, hashed) {
        (Some(p), Some(()), Some(c)) => Ok((p, c)),
        _ => Err(Error::EncryptionStopped(out_path.to_path_buf())),
    }
}

/// The payload's sealing key, wiped when dropped: ring does not wipe its keys itself, so
/// the key lives in one boxed place that is overwritten with zeros at the end (the file
/// key and the derived key bytes are wiped by `FileKey` and `Zeroizing`).
struct PayloadKey(Box<MaybeUninit<LessSafeKey>>);

impl PayloadKey {
    fn new(bytes: &[u8; 32]) -> PayloadKey {
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("a 32-byte key");
        PayloadKey(Box::new(MaybeUninit::new(LessSafeKey::new(key))))
    }

    fn get(&self) -> &LessSafeKey {
        // SAFETY: initialised in `new`; overwritten only in `drop`.
        unsafe { self.0.assume_init_ref() }
    }
}

impl Drop for PayloadKey {
    fn drop(&mut self) {
        // LessSafeKey owns no heap memory, so not running its (trivial) drop leaks nothing.
        self.0.zeroize();
    }
}

/// Joins a stage's thread; a panic there (a bug) goes on in the caller.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// The header (spec: "Header"): version line, every recipient's stanzas, and the MAC.
fn header(recipients: &[&dyn age::Recipient], file_key: &FileKey) -> Result<Vec<u8>> {
    let refuse = Error::CannotEncrypt;
    let mut stanzas = Vec::new();
    let mut labels: Option<HashSet<String>> = None;
    for r in recipients {
        let (mut wrapped, l) = r
            .wrap_file_key(file_key)
            .map_err(|e| refuse(e.to_string()))?;
        // Recipients that label their stanzas (scrypt does) cannot be mixed with others.
        if labels.as_ref().is_some_and(|prev| *prev != l) {
            return Err(refuse(
                "they cannot share a file (a passphrase, for one, must be alone)".into(),
            ));
        }
        labels = Some(l);
        stanzas.append(&mut wrapped);
    }
    if stanzas.is_empty() {
        return Err(refuse("no recipients".into()));
    }
    let mut out = b"age-encryption.org/v1\n".to_vec();
    for stanza in &stanzas {
        write_stanza(&mut out, stanza);
    }
    out.extend_from_slice(b"---");
    let mac_key = Zeroizing::new(age_core::primitives::hkdf(
        &[],
        b"header",
        file_key.expose_secret(),
    ));
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &mac_key[..]),
        &out,
    );
    out.push(b' ');
    out.extend_from_slice(B64.encode(mac.as_ref()).as_bytes());
    out.push(b'\n');
    Ok(out)
}

/// One stanza (spec: "Header"): `-> tag args…`, then the body in unpadded base64 lines of
/// 64 columns, the last one shorter (empty when the body fills its lines exactly).
fn write_stanza(out: &mut Vec<u8>, stanza: &Stanza) {
    out.extend_from_slice(b"->");
    for word in std::iter::once(&stanza.tag).chain(&stanza.args) {
        out.push(b' ');
        out.extend_from_slice(word.as_bytes());
    }
    out.push(b'\n');
    let body = B64.encode(&stanza.body);
    for line in body.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    if body.len().is_multiple_of(64) {
        out.push(b'\n');
    }
}

/// Up to [`CHUNKS_PER_BLOCK`] chunks of the payload on their way through the threads:
/// chunk `i`'s plaintext sits at `i * SLOT`, is sealed in place, and its tag follows it, so
/// the sealed block is one contiguous run of bytes.
struct Block {
    buf: Vec<u8>,
    /// Plaintext bytes in the block.
    plain: usize,
    /// The STREAM counter of its first chunk.
    first_chunk: u64,
    /// Whether it holds the file's final chunk.
    last: bool,
}

impl Block {
    fn new() -> Block {
        Block {
            buf: vec![0; CHUNKS_PER_BLOCK * SLOT],
            plain: 0,
            first_chunk: 0,
            last: false,
        }
    }

    /// Its chunks; an empty file still has one (empty) final chunk.
    fn chunks(&self) -> usize {
        self.plain.div_ceil(CHUNK).max(1)
    }

    /// The sealed bytes: every chunk's ciphertext and tag.
    fn sealed(&self) -> &[u8] {
        &self.buf[..self.plain + self.chunks() * TAG]
    }

    /// Fills the block from `input` slot by slot, hashing what it reads; returns whether
    /// the input ended (a full block cannot tell).
    fn fill(&mut self, input: &mut impl Read, hasher: &mut Sha256) -> io::Result<bool> {
        self.plain = 0;
        for i in 0..CHUNKS_PER_BLOCK {
            let slot = &mut self.buf[i * SLOT..i * SLOT + CHUNK];
            let n = read_full(input, slot)?;
            hasher.update(&slot[..n]);
            self.plain += n;
            if n < CHUNK {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads and hashes the plaintext into blocks from the pool. Reads one block ahead, so the
/// block holding the final chunk is known. `Ok(None)`: stopped because a later stage did.
fn read_stage(
    mut input: impl Read,
    pool: Receiver<Block>,
    out: SyncSender<Block>,
) -> io::Result<Option<Fixity>> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let Ok(mut block) = pool.recv() else {
        return Ok(None);
    };
    let mut ended = block.fill(&mut input, &mut hasher)?;
    let mut counter = 0u64;
    loop {
        block.first_chunk = counter;
        size += block.plain as u64;
        let next = if ended {
            None
        } else {
            let Ok(mut next) = pool.recv() else {
                return Ok(None);
            };
            ended = next.fill(&mut input, &mut hasher)?;
            (next.plain > 0).then_some(next)
        };
        block.last = next.is_none();
        if out.send(block).is_err() {
            return Ok(None);
        }
        match next {
            Some(n) => {
                block = n;
                counter += CHUNKS_PER_BLOCK as u64;
            }
            None => {
                return Ok(Some(Fixity {
                    sha256: hex::encode(hasher.finalize()),
                    size,
                }));
            }
        }
    }
}

/// Seals every chunk of every block in place. `None`: the input stopped early.
fn seal_stage(key: &LessSafeKey, input: Receiver<Block>, out: SyncSender<Block>) -> Option<()> {
    for mut block in input {
        let chunks = block.chunks();
        for i in 0..chunks {
            let len = if i + 1 < chunks {
                CHUNK
            } else {
                block.plain - i * CHUNK
            };
            let nonce = stream_nonce(block.first_chunk + i as u64, block.last && i + 1 == chunks);
            let (data, rest) = block.buf[i * SLOT..].split_at_mut(len);
            let tag = key
                .seal_in_place_separate_tag(nonce, Aad::empty(), data)
                .expect("a 64 KiB chunk is far below ChaCha20-Poly1305's limit");
            rest[..TAG].copy_from_slice(tag.as_ref());
        }
        let last = block.last;
        out.send(block).ok()?;
        if last {
            return Some(());
        }
    }
    None
}

/// A chunk's nonce (spec: "Payload"): 11-byte big-endian counter, then 1 for the last chunk.
fn stream_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Hashes the header and the sealed blocks: the export manifest's ciphertext SHA-256.
fn hash_stage(head: &[u8], input: Receiver<Block>, out: SyncSender<Block>) -> Option<Fixity> {
    let mut hasher = Sha256::new();
    hasher.update(head);
    let mut size = head.len() as u64;
    for block in input {
        let sealed = block.sealed();
        hasher.update(sealed);
        size += sealed.len() as u64;
        let last = block.last;
        out.send(block).ok()?;
        if last {
            return Some(Fixity {
                sha256: hex::encode(hasher.finalize()),
                size,
            });
        }
    }
    None
}

/// Writes the header and the sealed blocks, starting their write-back to disk as it goes,
/// and returns each block to the pool. `Ok(false)`: an earlier stage stopped.
fn write_stage(
    mut file: &File,
    head: &[u8],
    input: Receiver<Block>,
    pool: SyncSender<Block>,
) -> io::Result<bool> {
    file.write_all(head)?;
    let mut offset = head.len() as u64;
    for block in input {
        let sealed = block.sealed();
        file.write_all(sealed)?;
        crate::fsutil::start_writeback(file, offset, sealed.len());
        offset += sealed.len() as u64;
        let last = block.last;
        // The reader may be gone after reading the last block; a refused return is fine.
        let _ = pool.send(block);
        if last {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Seek;

    /// Encrypts `data` with this writer and decrypts it with the `age` crate's reader.
    fn round_trip(data: &[u8]) {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public();
        let mut file = tempfile::tempfile().unwrap();
        let p = Path::new("x");
        let (plain, cipher) = encrypt(&[&recipient], data, &file, (p, p)).unwrap();
        assert_eq!(plain, crate::hash::hash_bytes(data));
        file.rewind().unwrap();
        let mut ct = Vec::new();
        file.read_to_end(&mut ct).unwrap();
        assert_eq!(cipher, crate::hash::hash_bytes(&ct));
        let chunks = data.len().div_ceil(CHUNK).max(1);
        assert_eq!(ct.len(), header_len(&ct) + 16 + data.len() + chunks * TAG);
        let out = age::decrypt(&id, &ct).expect("the age crate reads it");
        assert_eq!(out, data, "{} bytes", data.len());
    }

    fn header_len(ct: &[u8]) -> usize {
        let end = ct.windows(4).position(|w| w == b"\n---").unwrap() + 4;
        end + ct[end..].iter().position(|&b| b == b'\n').unwrap() + 1
    }

    #[test]
    fn every_chunk_and_block_boundary_round_trips() {
        let block = CHUNKS_PER_BLOCK * CHUNK;
        for len in [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            block - 1,
            block,
            block + 1,
            2 * block,
            DEPTH * block + CHUNK + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            round_trip(&data);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// Any content of any length up to a few blocks, cut anywhere by the reader,
        /// decrypts with the `age` crate to the same bytes.
        #[test]
        fn any_input_round_trips(
            len in 0usize..(3 * CHUNKS_PER_BLOCK * CHUNK + 100),
            seed in proptest::prelude::any::<u8>(),
            step in 1usize..100_000,
        ) {
            let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let id = age::x25519::Identity::generate();
            let mut file = tempfile::tempfile().unwrap();
            let p = Path::new("x");
            let reader = Trickle { data: &data, step };
            let (plain, _) = encrypt(&[&id.to_public()], reader, &file, (p, p)).unwrap();
            proptest::prop_assert_eq!(plain, crate::hash::hash_bytes(&data));
            file.rewind().unwrap();
            let mut ct = Vec::new();
            file.read_to_end(&mut ct).unwrap();
            proptest::prop_assert_eq!(age::decrypt(&id, &ct).unwrap(), data);
        }
    }

    /// A reader that returns at most `step` bytes a call, as pipes and slow disks do.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn stanza_bodies_wrap_at_64_columns_with_a_short_last_line() {
        let mut out = Vec::new();
        let body = vec![7u8; 48]; // exactly 64 base64 columns
        let s = Stanza {
            tag: "X25519".into(),
            args: vec!["abc".into()],
            body,
        };
        write_stanza(&mut out, &s);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "-> X25519 abc");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2], "", "a full last line is followed by an empty one");
    }

    #[test]
    fn a_read_error_is_reported_against_the_input() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("bad sector"))
            }
        }
        let id = age::x25519::Identity::generate();
        let file = tempfile::tempfile().unwrap();
        let err = encrypt(
            &[&id.to_public()],
            Broken,
            &file,
            (Path::new("in.wav"), Path::new("out.age")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("in.wav"), "{err}");
    }

    #[test]
    fn a_passphrase_cannot_be_mixed_with_keys() {
        let id = age::x25519::Identity::generate();
        let pass = age::scrypt::Recipient::new("secret".to_string().into());
        let file = tempfile::tempfile().unwrap();
        let p = Path::new("x");
        let err = encrypt(&[&id.to_public(), &pass], &b"x"[..], &file, (p, p)).unwrap_err();
        assert!(err.to_string().contains("passphrase"), "{err}");
    }
}

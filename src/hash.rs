//! Streaming SHA-256: hashing a file, and copying a file while hashing it. Also every other
//! digest a BagIt manifest may use ([`Algorithm`]), for checking bags made by other tools.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result};
use crate::progress::{FileProgress, Phase, Position};

/// Read/write buffer size: large enough that syscalls are not the bottleneck.
const BUF: usize = 1 << 20;

/// A SHA-256 digest and the number of bytes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixity {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Runs `f` with this thread's read buffer ([`BUF`] bytes, allocated and zeroed once per
/// thread: verifying 100 000 small files must not zero 100 000 MiB).
fn with_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < BUF {
                buf.resize(BUF, 0);
            }
            f(&mut buf)
        }
        // Re-entered on this thread (never in practice): use a buffer of its own.
        Err(_) => f(&mut vec![0u8; BUF]),
    })
}

/// Hashes everything `reader` yields, in constant memory.
pub fn hash_reader(mut reader: impl Read) -> std::io::Result<Fixity> {
    with_buffer(|buf| hash_reader_in(&mut reader, buf))
}

fn hash_reader_in(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<Fixity> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Fixity {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// A writer that hashes what passes through it (so a file just written need not be read
/// back to be hashed).
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Hashes what is written to `inner`.
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The writer and the fixity of everything written through it.
    pub fn finish(self) -> (W, Fixity) {
        let fixity = Fixity {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
        };
        (self.inner, fixity)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes the file at `path`.
pub fn hash_file(path: &Path) -> Result<Fixity> {
    let file = File::open(path).at(path)?;
    hash_reader(file).at(path)
}

/// Hashes a byte slice.
pub fn hash_bytes(bytes: &[u8]) -> Fixity {
    Fixity {
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
    }
}

/// Copies `src` to the new file `dst` while hashing the bytes, then fsyncs `dst`,
/// reporting the bytes copied to `progress` ([`Phase::Copy`]). Read errors (and a caught
/// signal: see [`crate::interrupt`]) are reported against `src`, write errors against `dst`.
pub fn copy_hashed(src: &Path, dst: &Path, progress: FileProgress<'_>) -> Result<Fixity> {
    let file = File::open(src).at(src)?;
    let total = file.metadata().at(src)?.len();
    let mut input = crate::interrupt::Stoppable(file);
    let mut output = crate::fsutil::create_new(dst)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    let at = |done| Position::Bytes { done, total };
    let mut ticker = progress.phase(Phase::Copy, at(0));
    loop {
        ticker.at(at(size));
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(crate::Error::io(src, e)),
        };
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).at(dst)?;
        size += n as u64;
    }
    output.sync_all().at(dst)?;
    ticker.finish(at(size));
    Ok(Fixity {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// A digest algorithm a BagIt manifest (`manifest-<name>.txt`) may use: the ones
/// bagit-python checks (Python's `hashlib.algorithms_guaranteed`, less the SHAKE functions,
/// which have no fixed length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// MD5 (128 bits).
    Md5,
    /// SHA-1 (160 bits).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256: the one visitrec writes.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SHA3-224.
    Sha3_224,
    /// SHA3-256.
    Sha3_256,
    /// SHA3-384.
    Sha3_384,
    /// SHA3-512.
    Sha3_512,
    /// BLAKE2b with a 512-bit digest (hashlib's `blake2b` default).
    Blake2b,
    /// BLAKE2s with a 256-bit digest (hashlib's `blake2s` default).
    Blake2s,
}

impl Algorithm {
    /// Every algorithm, in the order reports list them.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha224,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
        Algorithm::Sha3_224,
        Algorithm::Sha3_256,
        Algorithm::Sha3_384,
        Algorithm::Sha3_512,
        Algorithm::Blake2b,
        Algorithm::Blake2s,
    ];

    /// The name in manifest file names (`md5`, `sha3_256`, `blake2b`), as bagit-python
    /// spells it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
            Algorithm::Sha3_224 => "sha3_224",
            Algorithm::Sha3_256 => "sha3_256",
            Algorithm::Sha3_384 => "sha3_384",
            Algorithm::Sha3_512 => "sha3_512",
            Algorithm::Blake2b => "blake2b",
            Algorithm::Blake2s => "blake2s",
        }
    }

    /// The algorithm a manifest file name uses; names are lower case, as in bagit-python.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The name people read (`MD5`, `SHA-256`, `SHA3-256`, `BLAKE2b`).
    pub fn display_name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA-1",
            Algorithm::Sha224 => "SHA-224",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha384 => "SHA-384",
            Algorithm::Sha512 => "SHA-512",
            Algorithm::Sha3_224 => "SHA3-224",
            Algorithm::Sha3_256 => "SHA3-256",
            Algorithm::Sha3_384 => "SHA3-384",
            Algorithm::Sha3_512 => "SHA3-512",
            Algorithm::Blake2b => "BLAKE2b",
            Algorithm::Blake2s => "BLAKE2s",
        }
    }

    /// Length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha224 | Algorithm::Sha3_224 => 56,
            Algorithm::Sha256 | Algorithm::Sha3_256 | Algorithm::Blake2s => 64,
            Algorithm::Sha384 | Algorithm::Sha3_384 => 96,
            Algorithm::Sha512 | Algorithm::Sha3_512 | Algorithm::Blake2b => 128,
        }
    }

    fn hasher(self) -> Box<dyn sha2::digest::DynDigest + Send> {
        match self {
            Algorithm::Md5 => Box::new(md5::Md5::default()),
            Algorithm::Sha1 => Box::new(sha1::Sha1::default()),
            Algorithm::Sha224 => Box::new(sha2::Sha224::default()),
            Algorithm::Sha256 => Box::new(Sha256::default()),
            Algorithm::Sha384 => Box::new(sha2::Sha384::default()),
            Algorithm::Sha512 => Box::new(sha2::Sha512::default()),
            Algorithm::Sha3_224 => Box::new(sha3::Sha3_224::default()),
            Algorithm::Sha3_256 => Box::new(sha3::Sha3_256::default()),
            Algorithm::Sha3_384 => Box::new(sha3::Sha3_384::default()),
            Algorithm::Sha3_512 => Box::new(sha3::Sha3_512::default()),
            Algorithm::Blake2b => Box::new(blake2::Blake2b512::default()),
            Algorithm::Blake2s => Box::new(blake2::Blake2s256::default()),
        }
    }
}

/// Hashes everything `reader` yields with each of `algorithms` at once (one read of the
/// file), in constant memory. Returns the size and the lower-case hex digests, in the
/// order asked.
pub fn hash_reader_with(
    mut reader: impl Read,
    algorithms: &[Algorithm],
) -> std::io::Result<(u64, Vec<String>)> {
    with_buffer(|buf| hash_reader_with_in(&mut reader, algorithms, buf))
}

fn hash_reader_with_in(
    reader: &mut impl Read,
    algorithms: &[Algorithm],
    buf: &mut [u8],
) -> std::io::Result<(u64, Vec<String>)> {
    let mut hashers: Vec<_> = algorithms.iter().map(|a| a.hasher()).collect();
    let mut size = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for h in &mut hashers {
            h.update(&buf[..n]);
        }
        size += n as u64;
    }
    let digests = hashers
        .into_iter()
        .map(|h| hex::encode(h.finalize()))
        .collect();
    Ok((size, digests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_matches_its_published_vector_for_abc() {
        // From hashlib (which follows the published test vectors): hashlib.new(name, b"abc").
        let expected = [
            "900150983cd24fb0d6963f7d28e17f72",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf",
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
            "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25",
            "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0",
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
            "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
        ];
        let (size, digests) = hash_reader_with(&b"abc"[..], &Algorithm::ALL).unwrap();
        assert_eq!(size, 3);
        for ((alg, got), want) in Algorithm::ALL.iter().zip(&digests).zip(expected) {
            assert_eq!(got, want, "{}", alg.name());
            assert_eq!(got.len(), alg.hex_len(), "{}", alg.name());
            assert_eq!(Algorithm::from_name(alg.name()), Some(*alg));
        }
        assert_eq!(Algorithm::from_name("SHA256"), None);
        assert_eq!(Algorithm::from_name("shake_128"), None);
    }

    #[test]
    fn known_vector() {
        assert_eq!(
            hash_bytes(b"abc").sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn copy_matches_hash() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let dst = dir.path().join("b");
        let f = copy_hashed(&src, &dst, FileProgress::none()).unwrap();
        assert_eq!(f, hash_bytes(&data));
        assert_eq!(std::fs::read(&dst).unwrap(), data);
        assert!(
            copy_hashed(&src, &dst, FileProgress::none()).is_err(),
            "must not overwrite"
        );
    }
}

//! Streaming SHA-256: hashing a file, and copying a file while hashing it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result};

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

/// Hashes everything `reader` yields, in constant memory.
pub fn hash_reader(mut reader: impl Read) -> std::io::Result<Fixity> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
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

/// Copies `src` to the new file `dst` while hashing the bytes, then fsyncs `dst`.
/// Read errors are reported against `src`, write errors against `dst`.
pub fn copy_hashed(src: &Path, dst: &Path) -> Result<Fixity> {
    let mut input = File::open(src).at(src)?;
    let mut output = crate::fsutil::create_new(dst)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    loop {
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
    Ok(Fixity {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let f = copy_hashed(&src, &dst).unwrap();
        assert_eq!(f, hash_bytes(&data));
        assert_eq!(std::fs::read(&dst).unwrap(), data);
        assert!(copy_hashed(&src, &dst).is_err(), "must not overwrite");
    }
}

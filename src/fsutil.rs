//! Durable file-system primitives: private file creation, fsync of folders, atomic replace.
//!
//! Recordings are health data, so everything visitrec creates is private to its owner
//! (files 0600, folders 0700).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{IoContext, Result};

/// Creates `path` as a new private file; fails if it exists.
pub fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .at(path)
}

/// Creates `path` and any missing parents as private folders.
pub fn create_dirs(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .at(path)
}

/// Flushes a folder's entries (new names, renames) to disk.
pub fn sync_dir(path: &Path) -> Result<()> {
    File::open(path).at(path)?.sync_all().at(path)
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, so the
/// fsync that follows has little left to do and the disk works while the CPU does. Only a
/// hint: it waits for nothing and its failure changes nothing; fsync still decides.
pub fn start_writeback(file: &File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range reads no memory of ours; the descriptor is open for the
    // whole call because `file` is borrowed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Writes `bytes` to the new file `path` and fsyncs it.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = create_new(path)?;
    f.write_all(bytes).at(path)?;
    f.sync_all().at(path)
}

/// Replaces `path` with `bytes` atomically: temp file in the same folder, fsync, rename,
/// fsync the folder. A crash leaves either the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // A bare file name's parent is "", which names no folder: that is the current one.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(crate::Error::io(path, e));
    }
    sync_dir(dir)
}

/// Removes a folder tree if it exists; a missing folder is not an error.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_replace_is_private_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

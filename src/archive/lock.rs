//! The archive's exclusive write lock: an OS file lock on `.visitrec/lock`.
//!
//! The OS releases the lock when its holder dies, so a lock left by a killed process is never
//! stale: the next writer simply gets it. The holder writes its pid into the file so that a
//! refused writer can say who holds it.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// A held write lock; released on drop.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

impl WriteLock {
    /// Takes the lock at `lock_path` without waiting; fails with [`Error::Locked`] if another
    /// process holds it.
    /// The lock file is opened in `meta` (the archive's `.visitrec/`, opened without
    /// following links) and must be a regular file with one name, so a link planted there
    /// can never make the writer truncate a file outside the archive.
    pub fn acquire(archive: &Path, meta: &crate::beneath::Dir) -> Result<WriteLock> {
        let lock_path = archive.join(super::META_DIR).join("lock");
        let lock_path = lock_path.as_path();
        let mut file = meta.open_private_rw("lock", lock_path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim().parse::<u32>() {
                    Ok(pid) => format!("pid {pid}"),
                    Err(_) => "another process".to_string(),
                };
                return Err(Error::Locked {
                    path: archive.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(lock_path, e)),
        }
        file.set_len(0).at(lock_path)?;
        file.seek(SeekFrom::Start(0)).at(lock_path)?;
        writeln!(file, "{}", std::process::id()).at(lock_path)?;
        Ok(WriteLock { _file: file })
    }
}

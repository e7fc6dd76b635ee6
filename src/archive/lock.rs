//! The archive's exclusive write lock: an OS file lock on `.visitrec/lock`.
//!
//! The OS releases the lock when its holder dies, so a lock left by a killed process is never
//! stale: the next writer simply gets it. The holder writes its pid into the file so that a
//! refused writer can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
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
    pub fn acquire(archive: &Path, lock_path: &Path) -> Result<WriteLock> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(lock_path)
            .at(lock_path)?;
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

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

/// Whether the process that last took the lock of the archive at `root` may still be running
/// (the pid it wrote names a live process, or this one): then the archive's staging may be
/// in use. The lock file is read without following links; a missing or unreadable one
/// names no one.
pub fn holder_running(root: &Path) -> bool {
    let rel = format!("{}/lock", super::META_DIR);
    let mut text = String::new();
    let read = crate::beneath::open(root, &rel).and_then(|mut f| {
        f.read_to_string(&mut text)
            .map_err(|e| Error::io(root.join(&rel), e))
    });
    match (read, text.trim().parse::<u32>()) {
        (Ok(_), Ok(pid)) => pid == std::process::id() || process_alive(pid),
        _ => false,
    }
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks the process exists.
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

//! File operations confined beneath an archive's root that never follow a symbolic link.
//!
//! Every relative path is walked one component at a time with `openat(…, O_NOFOLLOW)`, so a
//! link planted anywhere on the way (a `data/` that points elsewhere, a recording folder
//! swapped for a link) makes the operation fail instead of reaching outside the archive, and
//! a link swapped in after a check cannot be raced through. The root itself may be reached
//! through links: it is the folder the user named.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// An open folder beneath the root, reached without following links.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

fn cstr(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Maps the errors a link on the way produces to [`Error::Symlink`] naming `shown`.
fn err_at(root: &Path, shown: &str, e: io::Error) -> Error {
    let path = if shown.is_empty() {
        root.to_path_buf()
    } else {
        root.join(shown)
    };
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Error::Symlink(path);
    }
    // O_DIRECTORY|O_NOFOLLOW on a link can also give ENOTDIR: tell which it was.
    if e.raw_os_error() == Some(libc::ENOTDIR)
        && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Error::Symlink(path);
    }
    Error::io(path, e)
}

impl Dir {
    /// Opens the archive root (links in the path the user gave are followed).
    pub fn root(root: &Path) -> Result<Dir> {
        let c = CString::new(root.as_os_str().as_bytes())
            .map_err(|_| Error::io(root, io::Error::from(io::ErrorKind::InvalidInput)))?;
        // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
        let fd = check(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })
        .map_err(|e| Error::io(root, e))?;
        // SAFETY: `open` returned a fresh descriptor that nothing else owns.
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// A path that names this very folder whatever is renamed or swapped in the archive
    /// afterwards (`/proc/self/fd/N`): code that must work by path (decoders, staging
    /// writes) stays inside the folder this descriptor was opened on.
    pub fn pinned_path(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Opens (creating, 0600) the file `name` here for reading and writing, following no
    /// link, and refuses anything but a regular file with a single name: a hard link to a
    /// file elsewhere must never be truncated or written.
    pub fn open_private_rw(&self, name: &str, shown: &Path) -> Result<File> {
        let c = cstr(name).map_err(|e| Error::io(shown, e))?;
        // SAFETY: valid descriptor and NUL-terminated name for the duration of the call.
        let fd = check(unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDWR
                    | libc::O_CREAT
                    | libc::O_NOFOLLOW
                    | libc::O_NONBLOCK
                    | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        })
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::Symlink(shown.to_path_buf())
            } else {
                Error::io(shown, e)
            }
        })?;
        // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let meta = file.metadata().map_err(|e| Error::io(shown, e))?;
        use std::os::unix::fs::MetadataExt;
        if !meta.is_file() || meta.nlink() != 1 {
            return Err(Error::BadFile {
                path: shown.to_path_buf(),
                reason: "is not a regular file of its own (a hard link or a special file): \
                         visitrec will not write to it; remove it"
                    .into(),
            });
        }
        Ok(file)
    }

    /// Opens the child folder `name` without following a link; with `create`, makes it
    /// (mode 0700) when it is missing.
    pub fn child(&self, name: &str, create: bool) -> io::Result<Dir> {
        let c = cstr(name)?;
        let open = || {
            // SAFETY: valid descriptor and NUL-terminated name for the duration of the call.
            check(unsafe {
                libc::openat(
                    self.fd.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            })
        };
        let fd = match open() {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                // SAFETY: as above.
                let made = check(unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), 0o700) });
                match made {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
                open()?
            }
            other => other?,
        };
        // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Walks `rel_dir` (a relative folder path, `""` for this one) from here, one
    /// component at a time, never following a link.
    pub fn walk(root: &Path, rel_dir: &str, create: bool) -> Result<Dir> {
        let mut dir = Dir::root(root)?;
        let mut shown = String::new();
        for part in rel_dir.split('/').filter(|p| !p.is_empty()) {
            if !shown.is_empty() {
                shown.push('/');
            }
            shown.push_str(part);
            dir = dir
                .child(part, create)
                .map_err(|e| err_at(root, &shown, e))?;
        }
        Ok(dir)
    }

    /// fsyncs the folder (new names, renames, removals in it).
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: valid descriptor.
        check(unsafe { libc::fsync(self.fd.as_raw_fd()) }).map(|_| ())
    }
}

/// Splits `a/b/c` into (`a/b`, `c`).
fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// Opens the regular file `rel` beneath `root` for reading, following no link on the way.
/// It is opened without blocking, so a FIFO or device planted in its place is refused
/// instead of hanging the reader.
pub fn open(root: &Path, rel: &str) -> Result<File> {
    open_in(&Dir::root(root)?, root, rel)
}

/// [`open`] from an already open root folder `dir` (shown in messages as `root`): one
/// `openat2` call that resolves no link and stays beneath `dir`, or, where the kernel
/// lacks `openat2`, a walk one component at a time.
pub fn open_in(dir: &Dir, root: &Path, rel: &str) -> Result<File> {
    const FLAGS: libc::c_int =
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let c = cstr(rel).map_err(|e| Error::io(root.join(rel), e))?;
    // SAFETY: `open_how` is plain integers; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = FLAGS as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid descriptor, NUL-terminated path and a live `open_how` of the size
    // passed, for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.fd.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = if ret >= 0 {
        ret as libc::c_int
    } else {
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // No openat2 here (old kernel, or a sandbox that forbids it): walk instead.
            Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::E2BIG) => {
                return open_walking(dir, root, rel);
            }
            Some(libc::EXDEV) => {
                return Err(Error::BadFile {
                    path: root.join(rel),
                    reason: "path leads outside the archive".into(),
                });
            }
            // ELOOP names the link only roughly; say which component it is.
            Some(libc::ELOOP) => return open_walking(dir, root, rel),
            _ => return Err(err_at(root, rel, e)),
        }
    };
    // SAFETY: `openat2` returned a fresh descriptor that nothing else owns.
    regular(File::from(unsafe { OwnedFd::from_raw_fd(fd) }), root, rel)
}

/// [`open_in`] by walking one component at a time with `O_NOFOLLOW`.
fn open_walking(dir: &Dir, root: &Path, rel: &str) -> Result<File> {
    let (parent, name) = split(rel);
    let mut here: Option<Dir> = None;
    let mut shown = String::new();
    for part in parent.split('/').filter(|p| !p.is_empty()) {
        if !shown.is_empty() {
            shown.push('/');
        }
        shown.push_str(part);
        let next = here
            .as_ref()
            .unwrap_or(dir)
            .child(part, false)
            .map_err(|e| err_at(root, &shown, e))?;
        here = Some(next);
    }
    let c = cstr(name).map_err(|e| Error::io(root.join(rel), e))?;
    // SAFETY: valid descriptor and NUL-terminated name for the duration of the call.
    let fd = check(unsafe {
        libc::openat(
            here.as_ref().unwrap_or(dir).fd.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })
    .map_err(|e| err_at(root, rel, e))?;
    // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
    regular(File::from(unsafe { OwnedFd::from_raw_fd(fd) }), root, rel)
}

/// `file` if it is a regular file (O_NONBLOCK changes nothing for its reads).
fn regular(file: File, root: &Path, rel: &str) -> Result<File> {
    let meta = file.metadata().map_err(|e| Error::io(root.join(rel), e))?;
    if !meta.is_file() {
        return Err(Error::BadFile {
            path: root.join(rel),
            reason: "not a regular file".into(),
        });
    }
    Ok(file)
}

/// Fails with [`Error::Symlink`] if any existing component of `rel` beneath `root` is a
/// link. Components that do not exist yet end the check.
pub fn check_no_link(root: &Path, rel: &str) -> Result<()> {
    let mut path = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(Error::Symlink(path)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(())
}

/// Renames `from` to `to` (both relative to `root`), creating `to`'s missing folders
/// (0700), following no link on either side. Returns the destination folder, to fsync.
/// A missing `from` is `Ok(None)` (already renamed by an earlier attempt).
pub fn rename(root: &Path, from: &str, to: &str) -> Result<Option<Dir>> {
    let (from_parent, from_name) = split(from);
    let (to_parent, to_name) = split(to);
    let src = match Dir::walk(root, from_parent, false) {
        Ok(d) => d,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let dst = Dir::walk(root, to_parent, true)?;
    let (a, b) = (
        cstr(from_name).map_err(|e| Error::io(root.join(from), e))?,
        cstr(to_name).map_err(|e| Error::io(root.join(to), e))?,
    );
    // renameat never follows a link in its last components: it renames the link itself, so
    // refuse a source that is one.
    // SAFETY: valid descriptors and NUL-terminated names; `st` is written by the call.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::fstatat(
            src.fd.as_raw_fd(),
            a.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::NotFound {
            return Ok(None);
        }
        return Err(Error::io(root.join(from), e));
    }
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Error::Symlink(root.join(from)));
    }
    // SAFETY: as above.
    check(unsafe {
        libc::renameat(
            src.fd.as_raw_fd(),
            a.as_ptr(),
            dst.fd.as_raw_fd(),
            b.as_ptr(),
        )
    })
    .map_err(|e| Error::io(root.join(to), e))?;
    Ok(Some(dst))
}

/// Removes the file `rel` beneath `root` (a link there is removed, never followed), then
/// its folder if that is now empty and `prune_parent`. A missing file is not an error.
/// Returns the folder that changed, to fsync.
pub fn remove(root: &Path, rel: &str, prune_parent: bool) -> Result<Option<Dir>> {
    let (parent, name) = split(rel);
    let dir = match Dir::walk(root, parent, false) {
        Ok(d) => d,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let c = cstr(name).map_err(|e| Error::io(root.join(rel), e))?;
    // SAFETY: valid descriptor and NUL-terminated name.
    match check(unsafe { libc::unlinkat(dir.fd.as_raw_fd(), c.as_ptr(), 0) }) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(root.join(rel), e)),
    }
    if prune_parent && !parent.is_empty() {
        let (grand, dir_name) = split(parent);
        let gdir = Dir::walk(root, grand, false)?;
        let c = cstr(dir_name).map_err(|e| Error::io(root.join(parent), e))?;
        // Fails harmlessly (ENOTEMPTY) when other files remain.
        // SAFETY: valid descriptor and NUL-terminated name.
        let _ = unsafe { libc::unlinkat(gdir.fd.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) };
        return Ok(Some(gdir));
    }
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_on_the_way_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink(outside.path(), root.join("data")).unwrap();
        assert!(matches!(open(root, "data/secret"), Err(Error::Symlink(_))));
        assert!(matches!(
            check_no_link(root, "data/secret"),
            Err(Error::Symlink(_))
        ));
        std::fs::write(root.join("f"), b"x").unwrap();
        assert!(matches!(
            rename(root, "f", "data/f"),
            Err(Error::Symlink(_))
        ));
        assert!(matches!(
            remove(root, "data/secret", false),
            Err(Error::Symlink(_))
        ));
        assert!(outside.path().join("secret").exists());
        assert!(!outside.path().join("f").exists());
        // The fallback walk (kernels without openat2) refuses the same.
        let d = Dir::root(root).unwrap();
        assert!(matches!(
            open_walking(&d, root, "data/secret"),
            Err(Error::Symlink(_))
        ));
        symlink(outside.path().join("secret"), root.join("link")).unwrap();
        assert!(matches!(open(root, "link"), Err(Error::Symlink(_))));
        assert!(matches!(
            rename(root, "link", "moved"),
            Err(Error::Symlink(_))
        ));
    }

    #[test]
    fn rename_creates_folders_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("f"), b"x").unwrap();
        assert!(rename(root, "f", "a/b/f").unwrap().is_some());
        assert!(rename(root, "f", "a/b/f").unwrap().is_none());
        assert_eq!(std::fs::read(root.join("a/b/f")).unwrap(), b"x");
        remove(root, "a/b/f", true).unwrap();
        assert!(!root.join("a/b").exists());
        assert!(root.join("a").exists());
    }
}

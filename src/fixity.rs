//! Whether one payload file is what its manifest says: the check `normalize`, `segment`
//! and `repair` make before calling a derived file up to date, or rebuilding it.

use crate::archive::Archive;
use crate::archive::bagit::Manifest;
use crate::error::Error;
use crate::hash;

/// What was found at a payload path, compared with the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present, and its SHA-256 is the manifest's.
    Intact,
    /// The manifest does not list it.
    Unlisted,
    /// Listed, but not there.
    Missing,
    /// Present, but its SHA-256 (given) is not the manifest's.
    Modified(String),
    /// A symbolic link (on the way, or in the file's place): never followed.
    Link,
    /// Present but unreadable, or not a plain file (a device, a folder), with why.
    Unreadable(String),
}

impl FileState {
    /// Whether the file is intact.
    pub fn is_intact(&self) -> bool {
        *self == FileState::Intact
    }

    /// What was found, for a message: `missing`, `damaged (sha256 …)`, ….
    pub fn describe(&self) -> String {
        match self {
            FileState::Intact => "intact".into(),
            FileState::Unlisted => "not in the manifest".into(),
            FileState::Missing => "missing".into(),
            FileState::Modified(sha) => format!("damaged (sha256 {sha})"),
            FileState::Link => "a symbolic link (never followed)".into(),
            FileState::Unreadable(why) => format!("unreadable ({why})"),
        }
    }
}

/// Reads `rel` (never through a link) and compares its SHA-256 with `manifest`'s entry.
pub fn check(archive: &Archive, manifest: &Manifest, rel: &str) -> FileState {
    let Some(expected) = manifest.entries.get(rel) else {
        return FileState::Unlisted;
    };
    let file = match archive.open_file(rel) {
        Ok(f) => f,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return FileState::Missing;
        }
        Err(Error::Io { source, .. }) => {
            return FileState::Unreadable(crate::failure::describe_io(&source));
        }
        Err(Error::Symlink(_)) => return FileState::Link,
        Err(e) => return FileState::Unreadable(e.to_string()),
    };
    match hash::hash_reader(file) {
        Ok(f) if f.sha256 == *expected => FileState::Intact,
        Ok(f) => FileState::Modified(f.sha256),
        Err(e) => FileState::Unreadable(crate::failure::describe_io(&e)),
    }
}

//! The commit journal: the one file whose atomic appearance commits a transaction.
//!
//! A transaction stages every new or replaced file under `.visitrec/staging/`, then writes
//! `.visitrec/journal.json` listing the renames that put them in place (payload first, tag
//! files last). Writing the journal is the commit point. Applying it is idempotent, so a
//! crash while applying is finished by the next writer (roll forward), and readers that find
//! a journal see the archive as it will be once applied (see [`Journal::overlay`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;

/// One rename, both paths relative to the archive root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Move {
    /// The staged file.
    pub from: String,
    /// Where it goes.
    pub to: String,
}

/// The renames and removals a committed transaction still has to apply.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Journal {
    /// Renames in the order they are applied.
    pub moves: Vec<Move>,
    /// Payload files to remove (relative paths), after the renames.
    #[serde(default)]
    pub deletes: Vec<String>,
}

impl Journal {
    /// Loads the journal of the archive at `root`, if there is one.
    pub fn load(root: &Path) -> Result<Option<Journal>> {
        let path = journal_path(root);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::BadFile {
                    path,
                    reason: format!("unreadable commit journal: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes the journal durably: this is the transaction's commit point.
    pub fn commit(&self, root: &Path) -> Result<()> {
        for m in &self.moves {
            check_rel(root, &m.from)?;
            check_rel(root, &m.to)?;
        }
        for d in &self.deletes {
            check_rel(root, d)?;
        }
        let bytes = serde_json::to_vec_pretty(self).expect("journal serializes");
        fsutil::write_atomic(&journal_path(root), &bytes)
    }

    /// Performs every rename whose source still exists, fsyncs the folders touched, then
    /// removes the journal. Safe to call again after a crash part-way through.
    pub fn apply(&self, root: &Path) -> Result<()> {
        let mut dirs = BTreeSet::new();
        for m in &self.moves {
            let from = root.join(&m.from);
            let to = root.join(&m.to);
            if fs::symlink_metadata(&from).is_err() {
                continue; // already applied
            }
            let parent = to.parent().unwrap_or(root).to_path_buf();
            fsutil::create_dirs(&parent)?;
            fs::rename(&from, &to).at(&to)?;
            dirs.insert(parent);
        }
        for rel in &self.deletes {
            let path = root.join(rel);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
            let parent = path.parent().unwrap_or(root).to_path_buf();
            // A folder the removals emptied goes too (never `data/` itself).
            if parent.starts_with(root.join("data")) && parent != root.join("data") {
                let _ = fs::remove_dir(&parent);
            }
            dirs.insert(parent.parent().unwrap_or(root).to_path_buf());
        }
        for dir in &dirs {
            if dir.exists() {
                fsutil::sync_dir(dir)?;
            }
        }
        let path = journal_path(root);
        fs::remove_file(&path).at(&path)?;
        fsutil::sync_dir(path.parent().unwrap_or(root))
    }

    /// What a reader must see instead of the files on disk until the journal is applied:
    /// final relative path → `Some(staged absolute path)` for renames not applied yet, or
    /// `None` for files being removed.
    pub fn overlay(&self, root: &Path) -> BTreeMap<String, Option<PathBuf>> {
        let mut out: BTreeMap<String, Option<PathBuf>> =
            self.deletes.iter().map(|d| (d.clone(), None)).collect();
        for m in &self.moves {
            if fs::symlink_metadata(root.join(&m.from)).is_ok() {
                out.insert(m.to.clone(), Some(root.join(&m.from)));
            }
        }
        out
    }
}

/// Where the journal lives.
pub fn journal_path(root: &Path) -> PathBuf {
    root.join(super::META_DIR).join("journal.json")
}

/// Refuses journal paths that could point outside the archive.
fn check_rel(root: &Path, rel: &str) -> Result<()> {
    match super::bagit::unsafe_path_reason(rel) {
        None => Ok(()),
        Some(reason) => Err(Error::BadFile {
            path: journal_path(root),
            reason: format!("{reason}: {rel:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_is_idempotent_and_overlay_tracks_pending() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join(".visitrec/staging/s")).unwrap();
        fs::write(root.join(".visitrec/staging/s/a"), b"A").unwrap();
        fs::write(root.join(".visitrec/staging/s/b"), b"B").unwrap();
        let j = Journal {
            moves: vec![
                Move {
                    from: ".visitrec/staging/s/a".into(),
                    to: "data/x/a".into(),
                },
                Move {
                    from: ".visitrec/staging/s/b".into(),
                    to: "b.txt".into(),
                },
            ],
            deletes: vec!["data/old/gone.wav".into()],
        };
        fs::create_dir_all(root.join("data/old")).unwrap();
        fs::write(root.join("data/old/gone.wav"), b"x").unwrap();
        j.commit(root).unwrap();
        assert_eq!(j.overlay(root).len(), 3);
        // Simulate a crash after the first rename.
        fs::create_dir_all(root.join("data/x")).unwrap();
        fs::rename(root.join(".visitrec/staging/s/a"), root.join("data/x/a")).unwrap();
        let loaded = Journal::load(root).unwrap().unwrap();
        assert_eq!(
            loaded.overlay(root).keys().collect::<Vec<_>>(),
            ["b.txt", "data/old/gone.wav"]
        );
        loaded.apply(root).unwrap();
        assert_eq!(fs::read(root.join("data/x/a")).unwrap(), b"A");
        assert_eq!(fs::read(root.join("b.txt")).unwrap(), b"B");
        assert!(!root.join("data/old").exists(), "emptied folder removed");
        assert!(Journal::load(root).unwrap().is_none());
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal {
            moves: vec![Move {
                from: "../x".into(),
                to: "data/a".into(),
            }],
            deletes: vec![],
        };
        assert!(j.commit(dir.path()).is_err());
    }
}

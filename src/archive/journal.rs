//! The commit journal: the one file whose atomic appearance commits a transaction.
//!
//! A transaction stages every new or replaced file under `.visitrec/staging/`, then writes
//! `.visitrec/journal.json` listing the renames that put them in place (payload first, tag
//! files last), the in-place [`Patch`]es of the payload manifest and the audit log, and the
//! payload files to remove. Writing the journal is the commit point. Applying it is
//! idempotent, so a crash while applying is finished by the next writer (roll forward), and
//! readers that find a journal see the archive as it will be once applied (see
//! [`Journal::overlay`] and [`Journal::patches`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::tombstone::TOMBSTONE_JSON;

use super::patch::Patch;

/// One rename, both paths relative to the archive root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// The staged file.
    pub from: String,
    /// Where it goes.
    pub to: String,
}

/// The renames and removals a committed transaction still has to apply.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Renames in the order they are applied.
    pub moves: Vec<Move>,
    /// Payload files to remove (relative paths), after the renames.
    #[serde(default)]
    pub deletes: Vec<String>,
    /// In-place edits of the payload manifest and the audit log, applied after the renames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
}

impl Journal {
    /// Loads the journal of the archive at `root`, if there is one, and checks every path
    /// in it ([`Journal::validate`]): a journal that fails is [`Error::BadJournal`].
    pub fn load(root: &Path) -> Result<Option<Journal>> {
        let path = journal_path(root);
        let bytes = match crate::beneath::open(root, &rel_journal()) {
            Ok(f) => {
                use std::io::Read;
                let mut buf = Vec::new();
                // A journal holds one commit's renames and patches; a huge one is not ours.
                f.take(MAX_JOURNAL_BYTES + 1)
                    .read_to_end(&mut buf)
                    .at(&path)?;
                buf
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(Error::Symlink(p)) => {
                return Err(Error::BadJournal {
                    path: p,
                    reason: "it is a symbolic link".into(),
                });
            }
            Err(e) => return Err(e),
        };
        if bytes.len() as u64 > MAX_JOURNAL_BYTES {
            return Err(Error::BadJournal {
                path,
                reason: format!("larger than {MAX_JOURNAL_BYTES} bytes"),
            });
        }
        let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::BadJournal {
            path: path.clone(),
            reason: format!("unreadable: {e}"),
        })?;
        journal.validate(root)?;
        Ok(Some(journal))
    }

    /// Checks that this journal could only have been written by a visitrec transaction:
    /// every rename goes from `.visitrec/staging/` to a payload file `data/<id>/…` or to one
    /// of the tag files visitrec rewrites; every removal is a payload file; every path is
    /// relative and plain (no `..`, no absolute path); every patch passes [`Patch::check`]
    /// (a changed digest verified by hashing what the journal puts there); and no path
    /// runs through a symbolic link as the archive is now.
    pub fn validate(&self, root: &Path) -> Result<()> {
        let bad = |reason: String| Error::BadJournal {
            path: journal_path(root),
            reason,
        };
        for m in &self.moves {
            check_rel(&m.from).map_err(&bad)?;
            check_rel(&m.to).map_err(&bad)?;
            if !m.from.starts_with(STAGING_PREFIX) {
                return Err(bad(format!("renames {:?}, which is not staged", m.from)));
            }
            if !is_payload_file(&m.to) && !TAG_TARGETS.contains(&m.to.as_str()) {
                return Err(bad(format!(
                    "renames onto {:?}, which a transaction never writes",
                    m.to
                )));
            }
        }
        let moved_onto = |id: &str, file: &str| {
            let target = crate::record::payload_path(id, file);
            self.moves.iter().any(|m| m.to == target)
        };
        for d in &self.deletes {
            check_rel(d).map_err(&bad)?;
            let purged = payload_parts(d).is_some_and(|(id, file)| {
                if file == TOMBSTONE_JSON {
                    moved_onto(id, crate::record::RECORDING_JSON)
                } else {
                    moved_onto(id, TOMBSTONE_JSON)
                }
            });
            if !is_derived_file(d) && !purged {
                return Err(bad(format!(
                    "removes {d:?}; a transaction removes only derived files (normalized.wav, segments/NNN.wav), and an original or metadata only when it puts the recording's tombstone.json in place (a purge)"
                )));
            }
        }
        let put = |p: &str| self.moves.iter().any(|m| m.to == p);
        let removed = |p: &str| self.deletes.iter().any(|d| d == p);
        for (i, p) in self.patches.iter().enumerate() {
            if self.patches[..i].iter().any(|q| q.file == p.file) {
                return Err(bad(format!("patches {} twice", p.file)));
            }
            if self.moves.iter().any(|m| m.to == p.file) {
                return Err(bad(format!("both renames onto and patches {}", p.file)));
            }
            p.check(root, &put, &removed, &|p, d| self.puts_digest(root, p, d))
                .map_err(&bad)?;
        }
        for rel in self.paths() {
            match crate::beneath::check_no_link(root, rel) {
                Ok(()) => {}
                Err(Error::Symlink(p)) => {
                    return Err(bad(format!("{} is a symbolic link", p.display())));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the content the journal leaves at `rel` has SHA-256 `digest`: the staged
    /// file of the last rename onto it, or, once that rename is done (a replay after a
    /// crash), the file now at `rel`. Either is hashed; anything else is refused.
    fn puts_digest(&self, root: &Path, rel: &str, digest: &str) -> std::result::Result<(), String> {
        let m = self
            .moves
            .iter()
            .rev()
            .find(|m| m.to == rel)
            .ok_or_else(|| format!("nothing is renamed onto {rel:?}"))?;
        let (shown, file) = match crate::beneath::open(root, &m.from) {
            Ok(f) => (&m.from, f),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                match crate::beneath::open(root, rel) {
                    Ok(f) => (&m.to, f),
                    Err(e) => {
                        return Err(format!(
                            "sets the digest of {rel:?}, but neither {:?} nor it can be read: {e}",
                            m.from
                        ));
                    }
                }
            }
            Err(e) => return Err(e.to_string()),
        };
        let got = crate::hash::hash_reader(file).map_err(|e| format!("{shown}: {e}"))?;
        if got.sha256.eq_ignore_ascii_case(digest) {
            Ok(())
        } else {
            Err(format!(
                "sets the digest of {rel:?} to {digest}, but {shown:?} hashes to {}",
                got.sha256
            ))
        }
    }

    /// Every path the journal names.
    fn paths(&self) -> impl Iterator<Item = &str> {
        self.moves
            .iter()
            .flat_map(|m| [m.from.as_str(), m.to.as_str()])
            .chain(self.deletes.iter().map(String::as_str))
            .chain(self.patches.iter().map(|p| p.file.as_str()))
    }

    /// Writes the journal durably: this is the transaction's commit point.
    pub fn commit(&self, root: &Path) -> Result<()> {
        self.validate(root)?;
        let bytes = serde_json::to_vec_pretty(self).expect("journal serializes");
        fsutil::write_atomic(&journal_path(root), &bytes)
    }

    /// Checks the journal again, then performs every rename whose source still exists, every
    /// patch and every removal, never following a link (see [`crate::beneath`]), fsyncs the folders
    /// touched, then removes the journal. Safe to call again after a crash part-way
    /// through.
    pub fn apply(&self, root: &Path) -> Result<()> {
        self.validate(root)?;
        let mut dirs = Vec::new();
        for m in &self.moves {
            if let Some(dir) = crate::beneath::rename(root, &m.from, &m.to)? {
                dirs.push(dir);
            }
        }
        for p in &self.patches {
            p.apply(root)?;
        }
        for rel in &self.deletes {
            // A recording sub-folder the removals emptied goes too (never `data/` itself).
            let prune = rel.matches('/').count() >= 2;
            if let Some(dir) = crate::beneath::remove(root, rel, prune)? {
                dirs.push(dir);
            }
        }
        for dir in &dirs {
            dir.sync().at(root)?;
        }
        let path = journal_path(root);
        fs::remove_file(&path).at(&path)?;
        fsutil::sync_dir(path.parent().unwrap_or(root))
    }

    /// What a reader must see instead of the files on disk until the journal is applied:
    /// final relative path → `Some(staged relative path)` for renames not applied yet, or
    /// `None` for files being removed.
    pub fn overlay(&self, root: &Path) -> BTreeMap<String, Option<String>> {
        let mut out: BTreeMap<String, Option<String>> =
            self.deletes.iter().map(|d| (d.clone(), None)).collect();
        for m in &self.moves {
            if fs::symlink_metadata(root.join(&m.from)).is_ok() {
                out.insert(m.to.clone(), Some(m.from.clone()));
            }
        }
        out
    }
}

/// A journal larger than this is refused unread (one commit of a million-line manifest
/// import carries some 100 MiB of appended entries).
const MAX_JOURNAL_BYTES: u64 = 256 << 20;

/// Where staged files live, relative to the root.
const STAGING_PREFIX: &str = ".visitrec/staging/";

/// The tag files a transaction rewrites.
const TAG_TARGETS: [&str; 5] = [
    super::MANIFEST,
    super::BAG_INFO,
    super::TAG_MANIFEST,
    crate::audit::AUDIT_LOG,
    super::CHECKPOINTS,
];

/// `data/<id>/…`: a file inside a recording folder.
fn is_payload_file(rel: &str) -> bool {
    rel.strip_prefix("data/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(id, file)| crate::record::is_valid_id(id) && !file.is_empty())
}

/// `(id, file)` of a payload path `data/<id>/<file>` with a valid id.
fn payload_parts(rel: &str) -> Option<(&str, &str)> {
    let (id, file) = rel.strip_prefix("data/")?.split_once('/')?;
    (crate::record::is_valid_id(id) && !file.is_empty()).then_some((id, file))
}

/// `data/<id>/normalized.wav` or `data/<id>/segments/<name>.wav`: the only files a
/// transaction ever removes (an older rendition's segments, a rendition being replaced).
fn is_derived_file(rel: &str) -> bool {
    let Some((id, file)) = rel.strip_prefix("data/").and_then(|r| r.split_once('/')) else {
        return false;
    };
    crate::record::is_valid_id(id)
        && (file == "normalized.wav"
            || file
                .strip_prefix("segments/")
                .is_some_and(|n| !n.contains('/') && n.ends_with(".wav") && n.len() > 4))
}

/// Where the journal lives.
pub fn journal_path(root: &Path) -> PathBuf {
    root.join(super::META_DIR).join("journal.json")
}

/// The journal's path relative to the root.
fn rel_journal() -> String {
    format!("{}/journal.json", super::META_DIR)
}

/// Refuses journal paths that could point outside the archive.
fn check_rel(rel: &str) -> std::result::Result<(), String> {
    match crate::relpath::unsafe_path_reason(rel) {
        None => Ok(()),
        Some(reason) => Err(format!("{reason}: {rel:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "data/00112233445566aa/a";
    const GONE: &str = "data/00112233445566bb/segments/001.wav";

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
                    to: A.into(),
                },
                Move {
                    from: ".visitrec/staging/s/b".into(),
                    to: "bag-info.txt".into(),
                },
            ],
            deletes: vec![GONE.into()],
            patches: Vec::new(),
        };
        fs::create_dir_all(root.join("data/00112233445566bb/segments")).unwrap();
        fs::write(root.join(GONE), b"x").unwrap();
        j.commit(root).unwrap();
        assert_eq!(j.overlay(root).len(), 3);
        // Simulate a crash after the first rename.
        fs::create_dir_all(root.join("data/00112233445566aa")).unwrap();
        fs::rename(root.join(".visitrec/staging/s/a"), root.join(A)).unwrap();
        let loaded = Journal::load(root).unwrap().unwrap();
        assert_eq!(
            loaded.overlay(root).keys().collect::<Vec<_>>(),
            ["bag-info.txt", GONE]
        );
        loaded.apply(root).unwrap();
        assert_eq!(fs::read(root.join(A)).unwrap(), b"A");
        assert_eq!(fs::read(root.join("bag-info.txt")).unwrap(), b"B");
        assert!(
            !root.join("data/00112233445566bb/segments").exists(),
            "emptied folder removed"
        );
        assert!(Journal::load(root).unwrap().is_none());
    }

    fn planted(root: &Path, text: &str) -> Result<Option<Journal>> {
        fs::create_dir_all(root.join(".visitrec")).unwrap();
        fs::write(journal_path(root), text).unwrap();
        Journal::load(root)
    }

    #[test]
    fn planted_journals_are_refused_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for text in [
            r#"{"moves":[{"from":"../x","to":"data/00112233445566aa/a"}]}"#,
            r#"{"moves":[{"from":"/etc/passwd","to":"data/00112233445566aa/a"}]}"#,
            r#"{"moves":[{"from":".visitrec/staging/s/a","to":"/tmp/owned"}]}"#,
            r#"{"moves":[{"from":"data/00112233445566aa/a","to":"bag-info.txt"}]}"#,
            r#"{"moves":[{"from":".visitrec/staging/s/a","to":"bagit.txt"}]}"#,
            r#"{"moves":[{"from":".visitrec/staging/s/a","to":".visitrec/lock"}]}"#,
            r#"{"moves":[],"deletes":["../../victim"]}"#,
            r#"{"moves":[],"deletes":["/root/secret"]}"#,
            r#"{"moves":[],"deletes":["manifest-sha256.txt"]}"#,
            r#"{"moves":[],"deletes":["data/not-an-id/x"]}"#,
            r#"{"moves":[],"deletes":["data/00112233445566aa/original.flac"]}"#,
            r#"{"moves":[],"deletes":["data/00112233445566aa/recording.json"]}"#,
            // A purge's tombstone licenses removing its own recording's files only.
            r#"{"moves":[{"from":".visitrec/staging/s/t","to":"data/00112233445566bb/tombstone.json"}],"deletes":["data/00112233445566aa/original.flac"]}"#,
            r#"{"moves":[],"deletes":["data/00112233445566aa/tombstone.json"]}"#,
            r#"{"moves":[{"from":".visitrec/staging/s/t","to":"data/00112233445566aa/tombstone.json"}],"deletes":["data/00112233445566aa/../../x"]}"#,
            r#"{"moves":[],"deletes":[],"anything":1}"#,
            r#"{"moves":[{"from":".visitrec/staging/s/a","to":"bag-info.txt","x":1}]}"#,
            r#"{"moves":[],"deletes":["data/00112233445566aa/../../x"]}"#,
            r#"not json"#,
        ] {
            match planted(root, text) {
                Err(Error::BadJournal { .. }) => {}
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_purge_journal_may_remove_the_recording_it_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for text in [
            r#"{"moves":[{"from":".visitrec/staging/s/t","to":"data/00112233445566aa/tombstone.json"}],"deletes":["data/00112233445566aa/original.flac","data/00112233445566aa/recording.json"]}"#,
            r#"{"moves":[{"from":".visitrec/staging/s/r","to":"data/00112233445566aa/recording.json"}],"deletes":["data/00112233445566aa/tombstone.json"]}"#,
        ] {
            assert!(planted(root, text).is_ok(), "{text}");
        }
    }

    /// A digest overwrite is accepted only when what the journal puts there hashes to it:
    /// the staged file, or once renamed (a replay), the file in place.
    #[test]
    fn a_changed_digest_is_checked_against_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let rel = "data/00112233445566aa/recording.json";
        fs::create_dir_all(root.join("data/00112233445566aa")).unwrap();
        fs::create_dir_all(root.join(".visitrec/staging/s")).unwrap();
        fs::write(root.join(rel), b"old").unwrap();
        let old = crate::hash::hash_bytes(b"old").sha256;
        let new = crate::hash::hash_bytes(b"new").sha256;
        fs::write(root.join(super::super::MANIFEST), format!("{old}  {rel}\n")).unwrap();
        let journal = |digest: &str| Journal {
            moves: vec![Move {
                from: ".visitrec/staging/s/r".into(),
                to: rel.into(),
            }],
            deletes: vec![],
            patches: vec![Patch {
                file: super::super::MANIFEST.into(),
                base_len: (64 + 2 + rel.len() + 1) as u64,
                writes: vec![super::super::patch::Overwrite {
                    at: 0,
                    text: digest.into(),
                }],
                append: String::new(),
            }],
        };
        let refused = |j: &Journal| matches!(j.validate(root), Err(Error::BadJournal { reason, .. }) if reason.contains("hashes to"));
        // The staged file is there: it must hash to the new digest.
        fs::write(root.join(".visitrec/staging/s/r"), b"new").unwrap();
        journal(&new).validate(root).unwrap();
        assert!(refused(&journal(&"0".repeat(64))));
        // Renamed already (a crash before the patch): the file in place must.
        fs::rename(root.join(".visitrec/staging/s/r"), root.join(rel)).unwrap();
        journal(&new).commit(root).unwrap();
        journal(&new).apply(root).unwrap();
        assert_eq!(
            fs::read_to_string(root.join(super::super::MANIFEST)).unwrap(),
            format!("{new}  {rel}\n")
        );
        // A staged file that "is gone" licenses no digest the file in place does not have.
        fs::write(root.join(super::super::MANIFEST), format!("{old}  {rel}\n")).unwrap();
        fs::write(root.join(rel), b"old").unwrap();
        assert!(refused(&journal(&new)));
    }

    #[test]
    fn a_journal_through_a_link_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(outside.path().join("segments")).unwrap();
        fs::write(outside.path().join("segments/001.wav"), b"keep").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("data")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("data/00112233445566bb")).unwrap();
        let text = format!(r#"{{"moves":[],"deletes":["{GONE}"]}}"#);
        assert!(matches!(
            planted(root, &text),
            Err(Error::BadJournal { .. })
        ));
        // Even a journal that passed its checks does not follow a link swapped in later.
        let j = Journal {
            moves: vec![],
            deletes: vec![GONE.into()],
            patches: Vec::new(),
        };
        assert!(j.apply(root).is_err());
        assert_eq!(
            fs::read(outside.path().join("segments/001.wav")).unwrap(),
            b"keep"
        );
    }
}

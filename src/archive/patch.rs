//! Journaled in-place edits of the two tag files that grow with the archive: the payload
//! manifest and the audit log. A commit no longer writes either whole: the journal carries a
//! [`Patch`] per file — bytes to overwrite at given offsets (a changed digest; a removed
//! entry's line blanked with spaces) and text to append — which is applied in place after
//! the commit point. Every part of a patch is positioned and written whole, so applying it
//! again after a crash part-way through gives the same bytes (roll forward), and a reader
//! that finds the journal applies it in memory.

use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

use super::index::line_path;

/// The files a patch may edit.
pub const PATCHABLE: [&str; 2] = [super::MANIFEST, crate::audit::AUDIT_LOG];

/// The longest manifest line a patch looks at (visitrec's payload paths are short).
const MAX_LINE: usize = 4096;

/// Bytes written over part of a file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Overwrite {
    /// Where, in bytes from the file's start.
    pub at: u64,
    /// What: 64 hex digits (a new digest at the start of an entry's line) or spaces (the
    /// whole of a removed entry's line, its newline kept).
    pub text: String,
}

/// An in-place edit of one file: overwrites within its first `base_len` bytes, then
/// `append` written at `base_len`, the file ending right after it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// The file, relative to the root: one of [`PATCHABLE`].
    pub file: String,
    /// Its length when the patch was made.
    pub base_len: u64,
    /// Overwrites, in order of offset, none overlapping (the manifest only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<Overwrite>,
    /// Whole lines to append.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub append: String,
}

impl Patch {
    /// The file's length once patched.
    pub fn new_len(&self) -> u64 {
        self.base_len + self.append.len() as u64
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.append.is_empty()
    }

    /// The SHA-256 (lower-case hex) of `base` (the file's bytes the patch was made from)
    /// once patched, without copying it.
    pub fn digest_over(&self, base: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut at = 0usize;
        for w in &self.writes {
            h.update(&base[at..w.at as usize]);
            h.update(w.text.as_bytes());
            at = w.at as usize + w.text.len();
        }
        h.update(&base[at..self.base_len as usize]);
        h.update(self.append.as_bytes());
        hex::encode(h.finalize())
    }

    /// Applies the patch to the file's bytes in memory (`bytes` as they are on disk, the
    /// patch applied or not, or applied in part).
    pub fn apply_to(&self, bytes: &mut Vec<u8>) {
        bytes.truncate(self.base_len as usize);
        for w in &self.writes {
            let at = w.at as usize;
            if let Some(dst) = bytes.get_mut(at..at + w.text.len()) {
                dst.copy_from_slice(w.text.as_bytes());
            }
        }
        bytes.extend_from_slice(self.append.as_bytes());
    }

    /// Checks that the patch is one a visitrec commit makes, for a journal whose renames
    /// put `put` paths in place and whose removals are `removed`: it edits a file of
    /// [`PATCHABLE`]; overwrites are digests or blanks, in order, within the base; appended
    /// text is whole manifest entries (each a path `put`) or audit lines. Then, against the
    /// file as it is: its length lies between the base and the patched length and whatever
    /// lies past the base is the start of the appended text (an append cut short by a
    /// crash), so no byte already there is lost; every overwrite starts a line; a digest
    /// lands on an entry whose path is `put` and, when it changes the line, `verified`
    /// (path, new digest) confirms that the content put there hashes to it; a blank covers
    /// exactly a line that lists a path `removed` (or is blank already); and appended audit
    /// lines chain from the log's last line and from each other.
    pub fn check(
        &self,
        root: &Path,
        put: &dyn Fn(&str) -> bool,
        removed: &dyn Fn(&str) -> bool,
        verified: &dyn Fn(&str, &str) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        self.check_shape(put)?;
        let file = match crate::beneath::open(root, &self.file) {
            Ok(f) => f,
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && self.base_len == 0 =>
            {
                return self.check_chain(None);
            }
            Err(e) => return Err(format!("patches {}: {e}", self.file)),
        };
        let meta = file.metadata().map_err(|e| e.to_string())?;
        if std::os::unix::fs::MetadataExt::nlink(&meta) != 1 {
            return Err(format!(
                "patches {}, which has another name (a hard link): visitrec will not write to it",
                self.file
            ));
        }
        let len = meta.len();
        if len < self.base_len || len > self.new_len() {
            return Err(format!(
                "patches {} of {} bytes, which is {len} bytes now (changed outside visitrec)",
                self.file, self.base_len
            ));
        }
        // Bytes past the base are only ever an earlier try at this append, cut short.
        let mut past = vec![0; (len - self.base_len) as usize];
        let n = read_at(&file, &mut past, self.base_len).map_err(|e| e.to_string())?;
        if n != past.len() || !self.append.as_bytes().starts_with(&past) {
            return Err(format!(
                "patches {} from byte {}, but the {} bytes there are not the start of the text it appends (it would overwrite them)",
                self.file,
                self.base_len,
                past.len()
            ));
        }
        if self.file == crate::audit::AUDIT_LOG {
            let last =
                last_line(&file, self.base_len).map_err(|e| format!("{}: {e}", self.file))?;
            self.check_chain(last.as_deref())?;
        }
        for w in &self.writes {
            let from = w.at.saturating_sub(1);
            let want = (w.at - from) as usize + w.text.len().max(MAX_LINE) + 1;
            let mut buf = vec![0; want];
            let n = read_at(&file, &mut buf, from).map_err(|e| e.to_string())?;
            buf.truncate(n);
            let (before, here) = buf.split_at((w.at - from) as usize);
            if before.first().is_some_and(|b| *b != b'\n') {
                return Err(format!(
                    "overwrites {} mid-line at byte {}",
                    self.file, w.at
                ));
            }
            let end = memchr::memchr(b'\n', here).ok_or_else(|| {
                format!(
                    "overwrites {} at byte {}: no line ends there",
                    self.file, w.at
                )
            })?;
            let line = &here[..end];
            let mid = || format!("overwrites {} at byte {}", self.file, w.at);
            if w.text.bytes().all(|b| b == b' ') {
                if line.len() != w.text.len() {
                    return Err(format!("{}: the blank is not the whole line", mid()));
                }
                if line.iter().all(|b| *b == b' ') {
                    continue;
                }
                match line_path(line) {
                    Some(p) if removed(&p) => {}
                    Some(p) => {
                        return Err(format!(
                            "{}: blanks the entry of {p:?}, which the journal does not remove",
                            mid()
                        ));
                    }
                    None => return Err(format!("{}: not a manifest entry", mid())),
                }
            } else {
                match line_path(line) {
                    Some(p) if put(&p) => {
                        let same = line
                            .get(..w.text.len())
                            .is_some_and(|d| d.eq_ignore_ascii_case(w.text.as_bytes()));
                        if !same {
                            verified(&p, &w.text).map_err(|why| format!("{}: {why}", mid()))?;
                        }
                    }
                    Some(p) => {
                        return Err(format!(
                            "{}: changes the digest of {p:?}, which the journal does not replace",
                            mid()
                        ));
                    }
                    None => return Err(format!("{}: not a manifest entry", mid())),
                }
            }
        }
        Ok(())
    }

    /// For the audit log: every appended line chains from the one before it, the first
    /// from `last` (the log's last line before the append, `None` when it is empty), as
    /// [`crate::audit::new_lines`] writes them (`prev` its hash, `seq` one more).
    fn check_chain(&self, last: Option<&[u8]>) -> std::result::Result<(), String> {
        use crate::audit::{Entry, GENESIS};
        if self.file != crate::audit::AUDIT_LOG {
            return Ok(());
        }
        let (mut seq, mut prev) = match last {
            Some(l) => (
                serde_json::from_slice::<Entry>(l).map_or(0, |e| e.seq),
                crate::hash::hash_bytes(l).sha256,
            ),
            None => (0, GENESIS.to_string()),
        };
        for (i, line) in self.append.lines().enumerate() {
            let e: Entry = serde_json::from_str(line).map_err(|e| e.to_string())?;
            if e.prev != prev || e.seq != seq + 1 {
                return Err(format!(
                    "appends to {} on its line {} an entry that does not chain from the line before it (prev or seq)",
                    self.file,
                    i + 1
                ));
            }
            seq = e.seq;
            prev = crate::hash::hash_bytes(line.as_bytes()).sha256;
        }
        Ok(())
    }

    /// The checks of [`Self::check`] that need no file.
    fn check_shape(&self, put: &dyn Fn(&str) -> bool) -> std::result::Result<(), String> {
        let manifest = match self.file.as_str() {
            super::MANIFEST => true,
            crate::audit::AUDIT_LOG => false,
            other => return Err(format!("patches {other:?}, which a commit never patches")),
        };
        let mut end = 0u64;
        for w in &self.writes {
            let digest = w.text.len() == 64 && w.text.bytes().all(|b| b.is_ascii_hexdigit());
            let blank = !w.text.is_empty() && w.text.bytes().all(|b| b == b' ');
            if !manifest || !(digest || blank) {
                return Err(format!(
                    "overwrites {} with {:?}; a commit only overwrites a manifest's digests and blanks its removed lines",
                    self.file, w.text
                ));
            }
            if w.at < end || w.at + w.text.len() as u64 > self.base_len {
                return Err(format!(
                    "overwrites {} at byte {}, out of order or past its {} bytes",
                    self.file, w.at, self.base_len
                ));
            }
            end = w.at + w.text.len() as u64;
        }
        if !self.append.is_empty() && !self.append.ends_with('\n') || self.append.contains('\r') {
            return Err(format!(
                "appends to {} text that is not whole lines",
                self.file
            ));
        }
        for (i, line) in self.append.lines().enumerate() {
            let bad =
                |why: String| format!("appends to {} on its line {}: {why}", self.file, i + 1);
            if manifest {
                let path =
                    line_path(line.as_bytes()).ok_or_else(|| bad("not a manifest entry".into()))?;
                if let Some(why) = crate::relpath::unsafe_path_reason(&path) {
                    return Err(bad(format!("{why}: {path:?}")));
                }
                if !put(&path) {
                    return Err(bad(format!(
                        "lists {path:?}, which the journal does not put in place"
                    )));
                }
            } else if let Err(e) = serde_json::from_str::<crate::audit::Entry>(line) {
                return Err(bad(format!("not an audit entry: {e}")));
            }
        }
        Ok(())
    }

    /// Applies the patch to the file beneath `root` in place (creating it when the base is
    /// empty), following no link and refusing a file with another name (a hard link), then
    /// flushes it to disk. Safe to repeat after a crash part-way through.
    pub fn apply(&self, root: &Path) -> Result<()> {
        let shown = root.join(&self.file);
        let file = crate::beneath::Dir::root(root)?.open_private_rw(&self.file, &shown)?;
        for w in &self.writes {
            file.write_all_at(w.text.as_bytes(), w.at).at(&shown)?;
        }
        file.write_all_at(self.append.as_bytes(), self.base_len)
            .at(&shown)?;
        file.set_len(self.new_len()).at(&shown)?;
        file.sync_data().at(&shown)
    }
}

/// The longest audit line looked for before a patch's base.
const MAX_AUDIT_LINE: u64 = 1 << 20;

/// The last line of `file`'s first `end` bytes, without its newline (`None` when there are
/// none): the line an audit append chains from.
fn last_line(file: &std::fs::File, end: u64) -> std::result::Result<Option<Vec<u8>>, String> {
    if end == 0 {
        return Ok(None);
    }
    let from = end.saturating_sub(MAX_AUDIT_LINE + 1);
    let mut buf = vec![0; (end - from) as usize];
    let n = read_at(file, &mut buf, from).map_err(|e| e.to_string())?;
    if n != buf.len() {
        return Err("shorter than the patch's base".into());
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    match memchr::memrchr(b'\n', &buf) {
        Some(i) => Ok(Some(buf.split_off(i + 1))),
        None if from == 0 => Ok(Some(buf)),
        None => Err(format!(
            "its last line is longer than {MAX_AUDIT_LINE} bytes"
        )),
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends; returns the count.
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ORIG: &str = "data/0011223344556677/original.wav";
    const JSON: &str = "data/0011223344556677/recording.json";

    fn manifest(root: &Path) -> String {
        let text = format!("{A}  {ORIG}\n{A}  {JSON}\n");
        fs::write(root.join(super::super::MANIFEST), &text).unwrap();
        text
    }

    fn patch(writes: Vec<(u64, String)>, append: &str, base_len: usize) -> Patch {
        Patch {
            file: super::super::MANIFEST.into(),
            base_len: base_len as u64,
            writes: writes
                .into_iter()
                .map(|(at, text)| Overwrite { at, text })
                .collect(),
            append: append.into(),
        }
    }

    #[test]
    fn a_patch_applied_twice_gives_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let text = manifest(root);
        let line = format!("{A}  {ORIG}").len();
        let p = patch(
            vec![(0, " ".repeat(line)), ((line + 1) as u64, B.to_string())],
            &format!("{B}  data/0011223344556677/tombstone.json\n"),
            text.len(),
        );
        let put = |p: &str| p.ends_with("recording.json") || p.ends_with("tombstone.json");
        let removed = |p: &str| p == ORIG;
        p.check(root, &put, &removed, &|_, _| Ok(())).unwrap();
        p.apply(root).unwrap();
        let once = fs::read(root.join(super::super::MANIFEST)).unwrap();
        // A crash after the append, then the replay.
        p.check(root, &put, &removed, &|_, _| Ok(())).unwrap();
        p.apply(root).unwrap();
        assert_eq!(fs::read(root.join(super::super::MANIFEST)).unwrap(), once);
        let mut mem = text.into_bytes();
        p.apply_to(&mut mem);
        assert_eq!(mem, once);
        let (m, issues) = super::super::bagit::Manifest::parse(std::str::from_utf8(&once).unwrap());
        assert!(issues.is_empty());
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[JSON], B);
    }

    #[test]
    fn patches_no_commit_makes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let text = manifest(root);
        let line = format!("{A}  {ORIG}").len();
        let n = text.len();
        let any = |_: &str| true;
        let none = |_: &str| false;
        type Allowed<'a> = &'a dyn Fn(&str) -> bool;
        let cases: Vec<(Patch, Allowed, &str)> = vec![
            (
                patch(vec![(0, " ".repeat(line))], "", n),
                &none,
                "does not remove",
            ),
            (
                patch(vec![(1, " ".repeat(line - 1))], "", n),
                &any,
                "mid-line",
            ),
            (
                patch(vec![(0, " ".repeat(line - 1))], "", n),
                &any,
                "whole line",
            ),
            (patch(vec![(0, B.into())], "", n), &none, "does not replace"),
            (
                patch(vec![(0, "x".repeat(64))], "", n),
                &any,
                "only overwrites",
            ),
            (
                patch(vec![(n as u64 - 3, B.into())], "", n),
                &any,
                "past its",
            ),
            (
                patch(vec![], &format!("{B}  ../../etc/passwd\n"), n),
                &any,
                "climbs out",
            ),
            (
                patch(vec![], &format!("{B}  data/x/y\n"), n),
                &none,
                "does not put",
            ),
            (patch(vec![], "hello\n", n), &any, "not a manifest entry"),
            (
                patch(vec![], &format!("{B}  data/x/y"), n),
                &any,
                "not whole lines",
            ),
            (patch(vec![], "", n + 1), &any, "changed outside"),
            (patch(vec![], "", n - 1), &any, "changed outside"),
        ];
        for (p, ok, want) in cases {
            let err = p.check(root, ok, ok, &|_, _| Ok(())).unwrap_err();
            assert!(err.contains(want), "{p:?}: {err}");
        }
        let mut p = patch(vec![], "", n);
        p.file = "bag-info.txt".into();
        assert!(
            p.check(root, &any, &any, &|_, _| Ok(()))
                .unwrap_err()
                .contains("never patches")
        );
        p.file = crate::audit::AUDIT_LOG.into();
        p.append = "{\"not\":\"an entry\"}\n".into();
        assert!(
            p.check(root, &any, &any, &|_, _| Ok(()))
                .unwrap_err()
                .contains("audit entry")
        );
        // A manifest with another name elsewhere is never written through.
        fs::hard_link(
            root.join(super::super::MANIFEST),
            root.join("elsewhere.txt"),
        )
        .unwrap();
        let p = patch(vec![], "", n);
        assert!(
            p.check(root, &any, &any, &|_, _| Ok(()))
                .unwrap_err()
                .contains("hard link")
        );
    }

    #[test]
    fn an_append_cut_short_is_finished_and_nothing_else_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let text = manifest(root);
        let path = root.join(super::super::MANIFEST);
        let any = |_: &str| true;
        let ok = |_: &str, _: &str| Ok(());
        let new = format!("{B}  data/0011223344556677/normalized.wav\n");
        let p = patch(vec![], &new, text.len());
        // A crash part-way through the append: the replay finishes it.
        fs::write(&path, format!("{text}{}", &new[..40])).unwrap();
        p.check(root, &any, &any, &ok).unwrap();
        p.apply(root).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{text}{new}"));
        // A base before the end overwrites the last line: refused, whatever its length.
        fs::write(&path, &text).unwrap();
        let last = format!("{A}  {JSON}\n");
        let over = patch(vec![], &new, text.len() - last.len());
        let err = over.check(root, &any, &any, &ok).unwrap_err();
        assert!(err.contains("not the start"), "{err}");
        // So does an append whose first bytes are there but not the rest.
        fs::write(&path, format!("{text}{}x", &new[..40])).unwrap();
        assert!(p.check(root, &any, &any, &ok).is_err());
        // A changed digest is only as good as what `verified` says of it.
        fs::write(&path, &text).unwrap();
        let line = format!("{A}  {ORIG}").len();
        let d = patch(vec![((line + 1) as u64, B.into())], "", text.len());
        let no = |_: &str, _: &str| Err("hashes to something else".to_string());
        assert!(
            d.check(root, &any, &any, &no)
                .unwrap_err()
                .contains("hashes")
        );
        d.check(root, &any, &any, &ok).unwrap();
        // Once applied, the digest is there already: nothing is changed, nothing to hash.
        d.apply(root).unwrap();
        d.check(root, &any, &any, &no).unwrap();
    }

    #[test]
    fn audit_appends_chain_from_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let path = root.join(crate::audit::AUDIT_LOG);
        let pending = |op: &str| crate::audit::Pending {
            op: op.into(),
            ids: vec![],
            details: serde_json::Value::Null,
        };
        let log = crate::audit::append("", &[pending("ingest"), pending("tag")], "a", "t");
        fs::write(&path, &log).unwrap();
        let new = crate::audit::new_lines(log.lines().last(), &[pending("tag")], "a", "t");
        let any = |_: &str| true;
        let ok = |_: &str, _: &str| Ok(());
        let audit = |base: usize, append: &str| Patch {
            file: crate::audit::AUDIT_LOG.into(),
            base_len: base as u64,
            writes: vec![],
            append: append.into(),
        };
        audit(log.len(), &new).check(root, &any, &any, &ok).unwrap();
        // The same line after the first one (as if the second were not there) does not chain.
        let first = log.lines().next().unwrap();
        let early = crate::audit::new_lines(Some(first), &[pending("tag")], "a", "t");
        let err = audit(log.len(), &early)
            .check(root, &any, &any, &ok)
            .unwrap_err();
        assert!(err.contains("does not chain"), "{err}");
        // Nor does a first line on an empty log that claims a predecessor.
        fs::remove_file(&path).unwrap();
        assert!(audit(0, &new).check(root, &any, &any, &ok).is_err());
        audit(
            0,
            &crate::audit::new_lines(None, &[pending("init")], "a", "t"),
        )
        .check(root, &any, &any, &ok)
        .unwrap();
    }
}

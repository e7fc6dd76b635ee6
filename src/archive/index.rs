//! The payload manifest as a writer holds it: the file's bytes, and (built when enough
//! lookups ask for it) where each entry's line starts, so a commit edits the lines it
//! changes in place (see [`super::patch`]) instead of parsing, rendering and hashing a map
//! of every entry. A few lookups search the text instead (a SIMD scan of a few milliseconds
//! at 100 000 recordings), so a commit that adds or removes one recording builds nothing.
//!
//! Only a manifest in visitrec's own layout is read this way: lines `<sha256>  <path>\n`
//! (LF, no byte-order mark) and blank lines, which stand where entries were removed.
//! Anything else is read by [`Manifest::parse`] and written back whole by the next commit.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::bagit::{Manifest, decode_path, encode_path};
use super::patch::{Overwrite, Patch};

/// A manifest whose blank lines hold more than this share of its bytes is rewritten whole.
const MAX_BLANK_SHARE: usize = 8;

/// Lookups answered by searching the text before the line index is built.
const SEARCHES: usize = 32;

/// A payload manifest held for in-place edits.
#[derive(Debug)]
pub struct ManifestIndex {
    bytes: Vec<u8>,
    /// Where each entry's line starts, once built.
    lines: OnceLock<Lines>,
    /// Lookups made so far without `lines`.
    searches: AtomicUsize,
    /// The entries of each recording folder (`data/<id>/`) searched for so far, with where
    /// their lines start: one search answers every lookup about a recording.
    folders: Mutex<HashMap<String, Vec<(String, usize)>>>,
    /// Entries (lines that are not blank).
    entries: usize,
    /// Bytes in blank lines.
    blank: usize,
    /// False when `bytes` is not what the file holds (it was read in another layout): the
    /// next commit writes the file whole.
    on_disk: bool,
}

/// The line index: hash of a path → the start of its line (paths whose hash another path
/// already has are in `spill`), and hash of a recording id → the line of its `original.*`.
#[derive(Debug, Default)]
struct Lines {
    map: HashMap<u64, usize>,
    spill: Vec<usize>,
    originals: HashMap<u64, usize>,
    hasher: RandomState,
}

/// The path of the manifest line `line` (without its newline), if it is a well-formed
/// entry: 64 hex digits, spaces or tabs, a path (a leading `./` dropped, decoded).
pub fn line_path(line: &[u8]) -> Option<Cow<'_, str>> {
    let digest = line.get(..64)?;
    if !digest.iter().all(u8::is_ascii_hexdigit) || !matches!(line.get(64), Some(b' ' | b'\t')) {
        return None;
    }
    let mut rest = std::str::from_utf8(&line[65..])
        .ok()?
        .trim_start_matches([' ', '\t']);
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
    }
    Some(if rest.contains('%') {
        Cow::Owned(decode_path(rest))
    } else {
        Cow::Borrowed(rest)
    })
}

/// Whether `line` holds only spaces and tabs (an entry removed in place, or an empty line).
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t'))
}

/// The line starting at `start` of `bytes`, without its newline.
fn line_in(bytes: &[u8], start: usize) -> &[u8] {
    let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
    &bytes[start..end]
}

fn path_in(bytes: &[u8], start: usize) -> Option<Cow<'_, str>> {
    line_path(line_in(bytes, start))
}

/// The id of a recording's original, from its payload path `data/<id>/original.EXT`.
fn original_id(path: &str) -> Option<&str> {
    let (id, file) = path.strip_prefix("data/")?.split_once('/')?;
    file.starts_with("original.").then_some(id)
}

/// Where the line of the entry `path` starts in `bytes`, found by searching the text.
fn search(bytes: &[u8], path: &str) -> Option<usize> {
    let needle = format!("{}\n", encode_path(path));
    memchr::memmem::find_iter(bytes, needle.as_bytes()).find_map(|hit| {
        let start = memchr::memrchr(b'\n', &bytes[..hit]).map_or(0, |i| i + 1);
        (path_in(bytes, start).as_deref() == Some(path)).then_some(start)
    })
}

impl Lines {
    /// Indexes every entry of `bytes` (a path listed twice keeps its first line).
    fn build(bytes: &[u8]) -> Lines {
        let mut l = Lines {
            map: HashMap::with_capacity(bytes.len() / 90),
            ..Lines::default()
        };
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            if let Some(path) = path_in(bytes, start) {
                l.insert(bytes, &path, start);
            }
            start = end + 1;
        }
        l
    }

    fn hash(&self, s: &str) -> u64 {
        self.hasher.hash_one(s)
    }

    /// Records that `path`'s line starts at `start` in `bytes` (unless it is there already).
    fn insert(&mut self, bytes: &[u8], path: &str, start: usize) {
        if let Some(id) = original_id(path) {
            let h = self.hash(id);
            self.originals.insert(h, start);
        }
        let h = self.hash(path);
        match self.map.get(&h) {
            None => {
                self.map.insert(h, start);
            }
            Some(&other) if path_in(bytes, other).as_deref() == Some(path) => {}
            Some(_) => {
                if !self
                    .spill
                    .iter()
                    .any(|&s| path_in(bytes, s).as_deref() == Some(path))
                {
                    self.spill.push(start);
                }
            }
        }
    }

    fn find(&self, bytes: &[u8], path: &str) -> Option<usize> {
        let same = |s: &usize| path_in(bytes, *s).as_deref() == Some(path);
        self.map
            .get(&self.hash(path))
            .filter(|s| same(s))
            .or_else(|| self.spill.iter().find(|s| same(s)))
            .copied()
    }

    /// Drops `path` (whose line started at `start`).
    fn forget(&mut self, path: &str, start: usize) {
        let h = self.hash(path);
        if self.map.get(&h) == Some(&start) {
            self.map.remove(&h);
        } else {
            self.spill.retain(|s| *s != start);
        }
        if let Some(id) = original_id(path) {
            let h = self.hash(id);
            if self.originals.get(&h) == Some(&start) {
                self.originals.remove(&h);
            }
        }
    }
}

impl ManifestIndex {
    /// Reads manifest `bytes` in visitrec's layout (LF line ends, no byte-order mark, a
    /// final newline); `None` when they are in another one. Lines are not parsed here: a
    /// lookup checks the line it finds, and reading every entry is [`Manifest::parse`]'s,
    /// which names any defect.
    pub fn scan(bytes: Vec<u8>) -> Option<ManifestIndex> {
        if memchr::memchr(b'\r', &bytes).is_some() || bytes.starts_with(b"\xef\xbb\xbf") {
            return None;
        }
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            return None;
        }
        let (mut entries, mut blank, mut start) = (0, 0, 0);
        for end in memchr::memchr_iter(b'\n', &bytes) {
            let line = &bytes[start..end];
            if is_blank(line) {
                blank += line.len() + 1;
            } else {
                entries += 1;
            }
            start = end + 1;
        }
        Some(ManifestIndex {
            bytes,
            lines: OnceLock::new(),
            searches: AtomicUsize::new(0),
            folders: Mutex::default(),
            entries,
            blank,
            on_disk: true,
        })
    }

    /// The index of `m`, rendered in visitrec's layout (to be written whole).
    pub fn rendered(m: &Manifest) -> ManifestIndex {
        let mut ix = ManifestIndex::scan(m.render().into_bytes()).expect("a rendered manifest");
        ix.on_disk = false;
        ix
    }

    /// The line index, built once [`SEARCHES`] lookups have searched the text instead.
    fn lines(&self) -> Option<&Lines> {
        if let Some(l) = self.lines.get() {
            return Some(l);
        }
        if self.searches.fetch_add(1, Ordering::Relaxed) < SEARCHES {
            return None;
        }
        Some(self.lines.get_or_init(|| Lines::build(&self.bytes)))
    }

    /// Where `path`'s line starts.
    fn line_of(&self, path: &str) -> Option<usize> {
        if let Some(l) = self.lines() {
            return l.find(&self.bytes, path);
        }
        match folder_of(path) {
            Some(folder) => self.in_folder(folder, |e| {
                e.iter().find(|(p, _)| p == path).map(|(_, s)| *s)
            }),
            None => search(&self.bytes, path),
        }
    }

    /// `f` of the entries of recording folder `folder` (`data/<id>/`), searched for once.
    fn in_folder<T>(&self, folder: &str, f: impl FnOnce(&[(String, usize)]) -> T) -> T {
        let mut memo = self.folders.lock().unwrap_or_else(|e| e.into_inner());
        let entries = memo
            .entry(folder.to_string())
            .or_insert_with(|| lines_under(&self.bytes, folder));
        f(entries)
    }

    /// `path`'s digest (lower-case hex), if the manifest lists it.
    pub fn get(&self, path: &str) -> Option<String> {
        self.line_of(path)
            .map(|s| String::from_utf8_lossy(&self.bytes[s..s + 64]).to_ascii_lowercase())
    }

    /// Whether the manifest lists `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.line_of(path).is_some()
    }

    /// The path and digest of recording `id`'s original (`data/<id>/original.*`).
    pub fn original_of(&self, id: &str) -> Option<(String, String)> {
        let prefix = format!("data/{id}/original.");
        let path = match self.lines() {
            Some(l) => {
                let start = *l.originals.get(&l.hash(id))?;
                path_in(&self.bytes, start)?.into_owned()
            }
            None => self.in_folder(&format!("data/{id}/"), |e| {
                e.iter()
                    .find(|(p, _)| p.starts_with(&prefix))
                    .map(|(p, _)| p.clone())
            })?,
        };
        path.starts_with(&prefix)
            .then(|| self.get(&path).map(|d| (path, d)))
            .flatten()
    }

    /// How many entries the manifest has.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the manifest has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The manifest's text as committed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Every entry, as a map, or the first defect found (see [`Manifest::parse`]).
    pub fn to_manifest(&self) -> Result<Manifest, super::bagit::LineIssue> {
        let (m, issues) = Manifest::parse(&String::from_utf8_lossy(&self.bytes));
        match issues.into_iter().next() {
            None => Ok(m),
            Some(i) => Err(i),
        }
    }

    /// Whether the next commit must write the manifest whole: it is in another layout on
    /// disk, or blank lines have grown past 1/[`MAX_BLANK_SHARE`] of it.
    pub fn wants_rewrite(&self) -> bool {
        !self.on_disk || self.blank > self.bytes.len() / MAX_BLANK_SHARE
    }

    /// The patch that makes the manifest list `changes` (path → new digest, or `None` to
    /// remove it): a changed digest is overwritten in place, a removed entry's line is
    /// blanked with spaces, new entries are appended.
    pub fn patch_for(&self, file: &str, changes: &BTreeMap<String, Option<String>>) -> Patch {
        let mut writes = Vec::new();
        let mut append = String::new();
        for (path, digest) in changes {
            match (self.line_of(path), digest) {
                (Some(start), Some(d)) => {
                    if !self.bytes[start..start + 64].eq_ignore_ascii_case(d.as_bytes()) {
                        writes.push(Overwrite {
                            at: start as u64,
                            text: d.clone(),
                        });
                    }
                }
                (Some(start), None) => {
                    let len = line_in(&self.bytes, start).len();
                    writes.push(Overwrite {
                        at: start as u64,
                        text: " ".repeat(len),
                    });
                }
                (None, Some(d)) => {
                    append.push_str(d);
                    append.push_str("  ");
                    append.push_str(&encode_path(path));
                    append.push('\n');
                }
                (None, None) => {}
            }
        }
        writes.sort_by_key(|w| w.at);
        Patch {
            file: file.to_string(),
            base_len: self.bytes.len() as u64,
            writes,
            append,
        }
    }

    /// Follows `patch` (made by [`Self::patch_for`] from `changes`), once applied.
    pub fn apply(&mut self, patch: &Patch, changes: &BTreeMap<String, Option<String>>) {
        for (path, digest) in changes {
            if digest.is_none()
                && let Some(start) = self.line_of(path)
            {
                self.blank += line_in(&self.bytes, start).len() + 1;
                self.entries -= 1;
                if let Some(l) = self.lines.get_mut() {
                    l.forget(path, start);
                }
            }
        }
        patch.apply_to(&mut self.bytes);
        self.folders
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let base = patch.base_len as usize;
        let mut start = base;
        for end in memchr::memchr_iter(b'\n', &self.bytes[base..]) {
            if let Some(path) = path_in(&self.bytes, start).map(Cow::into_owned) {
                self.entries += 1;
                if let Some(l) = self.lines.get_mut() {
                    l.insert(&self.bytes, &path, start);
                }
            }
            start = base + end + 1;
        }
        self.on_disk = true;
    }
}

/// The recording folder (`data/<id>/`) of a payload path, if it lies in one.
fn folder_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("data/")?;
    let slash = rest.find('/')?;
    Some(&path[..5 + slash + 1])
}

/// The entries of manifest `bytes` whose path starts with `prefix`, found by searching the
/// text for it: (path, where its line starts). Lines that are not entries are passed over.
fn lines_under(bytes: &[u8], prefix: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut last_line = usize::MAX;
    for hit in memchr::memmem::find_iter(bytes, prefix.as_bytes()) {
        let start = memchr::memrchr(b'\n', &bytes[..hit]).map_or(0, |i| i + 1);
        if start == last_line {
            continue;
        }
        last_line = start;
        if let Some(path) = path_in(bytes, start)
            && path.starts_with(prefix)
        {
            out.push((path.into_owned(), start));
        }
    }
    out
}

/// The entries of manifest `bytes` whose path starts with `prefix`, found by searching the
/// text for it (no index is built): (path, lower-case digest).
pub fn entries_under(bytes: &[u8], prefix: &str) -> Vec<(String, String)> {
    lines_under(bytes, prefix)
        .into_iter()
        .map(|(p, s)| {
            let d = String::from_utf8_lossy(&bytes[s..s + 64]).to_ascii_lowercase();
            (p, d)
        })
        .collect()
}

/// The paths of the entries of manifest `bytes` whose digest is `digest` (64 lower-case
/// hex digits), found by searching the text for it.
pub fn paths_with_digest(bytes: &[u8], digest: &str) -> Vec<String> {
    memchr::memmem::find_iter(bytes, digest.as_bytes())
        .filter(|&at| at == 0 || bytes[at - 1] == b'\n')
        .filter_map(|at| line_path(line_in(bytes, at)).map(Cow::into_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn text(lines: &[(&str, &str)]) -> Vec<u8> {
        lines
            .iter()
            .map(|(d, p)| format!("{d}  {p}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn patches_edit_in_place_and_the_index_follows() {
        let ix = ManifestIndex::scan(text(&[
            (A, "data/0011223344556677/original.wav"),
            (A, "data/0011223344556677/recording.json"),
        ]))
        .unwrap();
        assert_eq!(ix.len(), 2);
        assert_eq!(
            ix.original_of("0011223344556677").unwrap().0,
            "data/0011223344556677/original.wav"
        );
        let changes: BTreeMap<String, Option<String>> = [
            ("data/0011223344556677/original.wav".to_string(), None),
            (
                "data/0011223344556677/recording.json".to_string(),
                Some(B.to_string()),
            ),
            ("data/8899aabbccddeeff/a b%.wav".to_string(), Some(A.into())),
        ]
        .into_iter()
        .collect();
        let patch = ix.patch_for("manifest-sha256.txt", &changes);
        assert_eq!(patch.writes.len(), 2);
        let mut ix = ix;
        ix.apply(&patch, &changes);
        let (m, issues) = Manifest::parse(std::str::from_utf8(ix.bytes()).unwrap());
        assert!(issues.is_empty(), "{issues:?}");
        let want: BTreeMap<String, String> = [
            ("data/0011223344556677/recording.json", B),
            ("data/8899aabbccddeeff/a b%.wav", A),
        ]
        .into_iter()
        .map(|(p, d)| (p.to_string(), d.to_string()))
        .collect();
        assert_eq!(m.entries, want);
        assert_eq!(ix.to_manifest().unwrap().entries, want);
        assert!(ix.original_of("0011223344556677").is_none());
        assert_eq!(ix.get("data/8899aabbccddeeff/a b%.wav").as_deref(), Some(A));
        // Scanning the patched text gives the same index.
        let again = ManifestIndex::scan(ix.bytes().to_vec()).unwrap();
        assert_eq!(again.to_manifest(), ix.to_manifest());
        assert!(
            ManifestIndex::scan(b"zz  ../x\n".to_vec())
                .unwrap()
                .to_manifest()
                .is_err()
        );
        assert!(!again.wants_rewrite() || again.blank > 0);
        // Past the searches, the line index answers the same.
        for _ in 0..=SEARCHES {
            assert!(ix.contains("data/0011223344556677/recording.json"));
        }
        assert!(ix.lines.get().is_some());
        assert!(!ix.contains("data/0011223344556677/original.wav"));
        assert_eq!(ix.get("data/8899aabbccddeeff/a b%.wav").as_deref(), Some(A));
    }

    #[test]
    fn other_layouts_are_not_indexed() {
        for bad in [
            format!("{A}  data/a\r\n"),
            format!("\u{feff}{A}  data/a\n"),
            format!("{A}  data/a"),
        ] {
            assert!(
                ManifestIndex::scan(bad.clone().into_bytes()).is_none(),
                "{bad:?}"
            );
        }
        assert!(ManifestIndex::scan(format!("{A}  ./data/a\n\n").into_bytes()).is_some());
    }

    #[test]
    fn entries_under_finds_a_recordings_lines() {
        let bytes = text(&[
            (A, "data/0011223344556677/original.wav"),
            (B, "data/8899aabbccddeeff/recording.json"),
            (B, "data/0011223344556677/recording.json"),
        ]);
        let got = entries_under(&bytes, "data/0011223344556677/");
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            ("data/0011223344556677/recording.json".into(), B.into())
        );
    }
}

//! The archive: a BagIt 1.0 bag on disk, and the one path by which anything is written to it.
//!
//! Readers use [`Archive`]; writers take an exclusive [`Writer`] (lock + crash recovery) and
//! make changes only through a [`Transaction`]: stage files under `.visitrec/staging/`,
//! fsync, commit a [`journal::Journal`], rename into place, patch the payload manifest and
//! the audit log in place ([`patch`]). No other code writes under `data/`.

pub mod bagit;
pub mod index;
pub mod journal;
pub mod lock;
pub mod patch;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::{self, AUDIT_LOG};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::{self, Fixity};
use bagit::{BagInfo, Manifest, Oxum};
use index::ManifestIndex;
use journal::{Journal, Move};
use patch::Patch;

/// The folder (inside the bag, outside `data/`) that holds the lock, journal and staging.
pub const META_DIR: &str = ".visitrec";
/// `bagit.txt`.
pub const BAGIT_TXT: &str = "bagit.txt";
/// `bag-info.txt`.
pub const BAG_INFO: &str = "bag-info.txt";
/// The payload manifest.
pub const MANIFEST: &str = "manifest-sha256.txt";
/// The tag manifest.
pub const TAG_MANIFEST: &str = "tagmanifest-sha256.txt";
/// A holey bag's list of files to download (RFC 8493 §2.2.3); never in a visitrec archive.
pub const FETCH_TXT: &str = "fetch.txt";
/// The payload folder.
pub const DATA: &str = "data";
/// The signed checkpoints of the audit log (a tag file at the bag's root; see
/// `checkpoint`).
pub const CHECKPOINTS: &str = "checkpoints.jsonl";

/// The software agent recorded in `bag-info.txt`.
pub fn software_agent() -> String {
    format!("visitrec/{}", env!("CARGO_PKG_VERSION"))
}

/// An archive opened for reading. Files still waiting in a committed journal (left by a
/// writer that was killed) are read from staging, so readers always see committed state.
#[derive(Debug)]
pub struct Archive {
    root: PathBuf,
    /// The root folder, held open: every read resolves beneath it.
    root_dir: crate::beneath::Dir,
    overlay: BTreeMap<String, Option<String>>,
    /// Patches of a committed journal not yet applied (or applied in part), by file.
    patches: BTreeMap<String, Patch>,
    journal: JournalState,
}

/// What the archive's commit journal says right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalState {
    /// No journal: no commit is pending.
    None,
    /// A valid journal with this many renames and removals still to apply (a writer was
    /// interrupted after its commit point; readers see the committed state).
    Pending(usize),
    /// A journal that visitrec would never write; it is ignored by readers and refused by
    /// writers.
    Invalid(String),
}

/// Files left in `.visitrec/staging/` by a writer that was killed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftover {
    /// Regular files.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// What a walk of `data/` found.
#[derive(Debug, Default)]
pub struct PayloadListing {
    /// Regular files: relative path → size.
    pub files: BTreeMap<String, u64>,
    /// Entries that are not regular files or links (devices, undecodable names), with why.
    pub oddities: Vec<(String, String)>,
    /// Symbolic links (never followed), `data` itself included when it is one.
    pub links: Vec<String>,
    /// Folders under `data/` that are group- or world-writable, with their mode.
    pub loose_dirs: Vec<(String, u32)>,
}

impl Archive {
    /// Creates a new, empty archive at `path` (which must not exist, or be an empty folder).
    /// The bag is built in a sibling temp folder and renamed into place, so it appears whole.
    pub fn init(path: &Path, organization: &str) -> Result<Archive> {
        Archive::init_with(path, organization, &[])
    }

    /// [`Archive::init`], with further `bag-info.txt` elements (e.g. `Visitrec-Retention`).
    pub fn init_with(path: &Path, organization: &str, extra: &[(&str, String)]) -> Result<Archive> {
        if let Ok(mut entries) = fs::read_dir(path) {
            if entries.next().is_some() {
                return Err(Error::AlreadyExists(path.to_path_buf()));
            }
        } else if fs::symlink_metadata(path).is_ok() {
            return Err(Error::AlreadyExists(path.to_path_buf()));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| Error::NotAFolderName(path.to_path_buf()))?;
        let tmp = parent.join(format!(
            ".{}.init-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        // A folder that cannot be made is reported as the archive the user named, not as
        // the hidden staging folder.
        let named = |e: Error| match e {
            Error::Io { source, .. } => Error::io(path, source),
            other => other,
        };
        fsutil::remove_tree(&tmp).map_err(named)?;
        fsutil::create_dirs(&tmp.join(DATA)).map_err(named)?;
        fsutil::create_dirs(&tmp.join(META_DIR)).map_err(named)?;
        let today = jiff::Zoned::now().date().to_string();
        let mut info = BagInfo::default();
        info.set(
            "Source-Organization",
            organization.replace(['\r', '\n'], " "),
        );
        info.set("Bagging-Date", today);
        info.set("Payload-Oxum", Oxum::default().to_string());
        info.set("Bag-Software-Agent", software_agent());
        for (label, value) in extra {
            info.set(label, value.replace(['\r', '\n'], " "));
        }
        let files = [
            (BAGIT_TXT, bagit::BAGIT_TXT.to_string()),
            (BAG_INFO, info.render()),
            (MANIFEST, String::new()),
        ];
        let mut tags = Manifest::default();
        for (name, text) in &files {
            fsutil::write_new(&tmp.join(name), text.as_bytes()).map_err(named)?;
            tags.entries
                .insert(name.to_string(), hash::hash_bytes(text.as_bytes()).sha256);
        }
        fsutil::write_new(&tmp.join(TAG_MANIFEST), tags.render().as_bytes()).map_err(named)?;
        fsutil::sync_dir(&tmp.join(DATA)).map_err(named)?;
        fsutil::sync_dir(&tmp).map_err(named)?;
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fsutil::remove_tree(&tmp);
            return Err(Error::io(path, e));
        }
        fsutil::sync_dir(&parent)?;
        Archive::open(path)
    }

    /// Opens the archive at `path` for reading.
    pub fn open(path: &Path) -> Result<Archive> {
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotArchive {
                path: path.to_path_buf(),
                reason: "no such folder".into(),
            },
            _ => Error::io(path, e),
        })?;
        if !meta.is_dir() {
            return Err(Error::NotArchive {
                path: path.to_path_buf(),
                reason: "not a folder".into(),
            });
        }
        // Only a bagit.txt that is surely absent makes this "not an archive"; one that
        // cannot be looked at (permission denied, I/O error) is reported as it is.
        match fs::metadata(path.join(BAGIT_TXT)) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(Error::NotArchive {
                    path: path.to_path_buf(),
                    reason: "bagit.txt is not a file".into(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotArchive {
                    path: path.to_path_buf(),
                    reason: "no bagit.txt (create one with `visitrec init`)".into(),
                });
            }
            Err(e) => return Err(Error::io(path.join(BAGIT_TXT), e)),
        }
        // Commands other than `verify` refuse an archive whose journal was planted (read
        // again only then, for the error itself).
        let archive = Archive::open_unchecked(path)?;
        if let JournalState::Invalid(_) = archive.journal {
            Journal::load(path)?;
            // Replaced by a valid one (or applied) meanwhile: read it as it is now.
            return Archive::open_unchecked(path);
        }
        Ok(archive)
    }

    /// Opens a folder as a bag without requiring `bagit.txt` or a valid journal (for
    /// `verify`, which reports both as problems; an invalid journal is then ignored).
    pub fn open_unchecked(path: &Path) -> Result<Archive> {
        let (overlay, patches, journal) = match Journal::load(path) {
            Ok(Some(j)) => {
                let overlay = j.overlay(path);
                let n = overlay.len() + j.patches.len();
                let patches = j.patches.into_iter().map(|p| (p.file.clone(), p)).collect();
                (overlay, patches, JournalState::Pending(n))
            }
            Ok(None) => (BTreeMap::new(), BTreeMap::new(), JournalState::None),
            Err(e @ Error::BadJournal { .. }) => (
                BTreeMap::new(),
                BTreeMap::new(),
                JournalState::Invalid(e.to_string()),
            ),
            Err(e) => return Err(e),
        };
        Ok(Archive {
            root_dir: crate::beneath::Dir::root(path)?,
            root: path.to_path_buf(),
            overlay,
            patches,
            journal,
        })
    }

    /// The state of the commit journal when the archive was opened.
    pub fn journal_state(&self) -> &JournalState {
        &self.journal
    }

    /// The archive's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The relative path where the committed content of `rel` is right now (staging, if
    /// not yet applied).
    fn rel_of<'a>(&'a self, rel: &'a str) -> &'a str {
        match self.overlay.get(rel) {
            Some(Some(staged)) => staged,
            _ => rel,
        }
    }

    /// Where the committed content of `rel` is right now (staging, if not yet applied),
    /// checked to run through no symbolic link: for code that must open the file by name
    /// (decoders). `rel` must be a plain relative path.
    pub fn path_of(&self, rel: &str) -> Result<PathBuf> {
        if let Some(reason) = crate::relpath::unsafe_path_reason(rel) {
            return Err(Error::BadFile {
                path: self.root.join(rel),
                reason: reason.into(),
            });
        }
        let at = self.rel_of(rel);
        crate::beneath::check_no_link(&self.root, at)?;
        let path = self.root.join(at);
        // A FIFO or device in a file's place would hang or flood the decoder.
        match fs::symlink_metadata(&path) {
            Ok(m) if !m.is_file() => Err(Error::BadFile {
                path,
                reason: "not a regular file".into(),
            }),
            _ => Ok(path),
        }
    }

    /// Opens the committed content of `rel`, following no symbolic link on the way (see
    /// [`crate::beneath`]). If a concurrent writer moved the staged file into place
    /// meanwhile, the final path is used.
    pub fn open_file(&self, rel: &str) -> Result<File> {
        if let Some(reason) = crate::relpath::unsafe_path_reason(rel) {
            return Err(Error::BadFile {
                path: self.root.join(rel),
                reason: reason.into(),
            });
        }
        if let Some(None) = self.overlay.get(rel) {
            let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
            return Err(Error::io(self.root.join(rel), gone));
        }
        match crate::beneath::open_in(&self.root_dir, &self.root, self.rel_of(rel)) {
            Ok(f) => Ok(f),
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound
                    && self.overlay.contains_key(rel) =>
            {
                crate::beneath::open_in(&self.root_dir, &self.root, rel)
            }
            Err(Error::Io { source, .. }) => Err(Error::io(self.root.join(rel), source)),
            Err(e) => Err(e),
        }
    }

    /// Reads `rel` whole (tag files and metadata), as committed: with a pending patch
    /// applied (see [`patch`]).
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        use std::io::Read;
        let mut buf = Vec::new();
        let opened = match self.open_file(rel) {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound
                    && self.patches.get(rel).is_some_and(|p| p.base_len == 0) =>
            {
                None
            }
            other => Some(other?),
        };
        if let Some(mut f) = opened {
            f.read_to_end(&mut buf).at(self.root.join(rel))?;
        }
        if let Some(p) = self.patches.get(rel) {
            p.apply_to(&mut buf);
        }
        Ok(buf)
    }

    /// Whether `rel` has a committed patch not yet applied: its committed bytes are those
    /// [`Self::read`] returns, not the file's.
    pub fn is_patched(&self, rel: &str) -> bool {
        self.patches.contains_key(rel)
    }

    /// Reads `rel` as text, or `None` if it does not exist.
    pub fn read_text(&self, rel: &str) -> Result<Option<String>> {
        match self.read(rel) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Parses a manifest, refusing one with defects (writers must not build on a damaged
    /// manifest; `verify` reports the defects instead).
    pub fn strict_manifest(&self, rel: &str) -> Result<Manifest> {
        let text = self.read_text(rel)?.ok_or_else(|| Error::BadFile {
            path: self.root.join(rel),
            reason: "missing; run `visitrec verify`".into(),
        })?;
        let (m, issues) = Manifest::parse(&text);
        match issues.first() {
            None => Ok(m),
            Some(i) => Err(Error::BadFile {
                path: self.root.join(rel),
                reason: format!("line {}: {}; run `visitrec verify`", i.line, i.reason),
            }),
        }
    }

    /// Parses `bag-info.txt`.
    pub fn bag_info(&self) -> Result<BagInfo> {
        let text = self.read_text(BAG_INFO)?.unwrap_or_default();
        Ok(BagInfo::parse(&text).0)
    }

    /// Lists every entry under `data/` without following symlinks, plus committed files
    /// still in staging.
    pub fn payload_listing(&self) -> Result<PayloadListing> {
        let mut out = PayloadListing::default();
        let data = self.root.join(DATA);
        if fs::symlink_metadata(&data).is_ok_and(|m| m.file_type().is_symlink()) {
            out.links.push(DATA.to_string());
            return Ok(out);
        }
        for entry in walkdir::WalkDir::new(&data)
            .min_depth(1)
            .follow_links(false)
            .follow_root_links(false)
        {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&data).to_path_buf();
                Error::io(path, e.into())
            })?;
            let rel_path = entry
                .path()
                .strip_prefix(&self.root)
                .unwrap_or(entry.path());
            let Some(rel) = rel_path.to_str().map(str::to_string) else {
                out.oddities.push((
                    rel_path.to_string_lossy().into_owned(),
                    "file name is not valid UTF-8".into(),
                ));
                continue;
            };
            let ft = entry.file_type();
            if ft.is_dir() {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(m) = entry.metadata()
                    && m.permissions().mode() & 0o022 != 0
                {
                    out.loose_dirs.push((rel, m.permissions().mode()));
                }
                continue;
            } else if ft.is_file() {
                let size = entry
                    .metadata()
                    .map_err(|e| Error::io(entry.path(), e.into()))?;
                out.files.insert(rel, size.len());
            } else if ft.is_symlink() {
                out.links.push(rel);
            } else {
                out.oddities.push((rel, "not a regular file".into()));
            }
        }
        for (rel, staged) in &self.overlay {
            let Some(staged) = staged else {
                // Committed as removed: gone, whether or not the rename has happened yet.
                out.files.remove(rel);
                continue;
            };
            if rel.starts_with("data/") {
                // A concurrent writer may have moved it into place since we looked.
                let meta = fs::symlink_metadata(self.root.join(staged))
                    .or_else(|_| fs::symlink_metadata(self.root.join(rel)));
                if let Ok(m) = meta {
                    out.files.insert(rel.clone(), m.len());
                }
            }
        }
        Ok(out)
    }

    /// The files in `.visitrec/staging/` that a killed writer left (the next writer removes
    /// them): none while the writer that last took the lock is still running (they are its
    /// work in progress), and none that a pending journal still needs (they are committed).
    /// Nothing is followed: a link on the way (reported by [`Self::links_outside_data`])
    /// counts nothing.
    pub fn leftover_staging(&self) -> Result<Option<Leftover>> {
        if lock::holder_running(&self.root) {
            return Ok(None);
        }
        let rel_staging = format!("{META_DIR}/staging");
        let staging = match crate::beneath::Dir::walk(&self.root, &rel_staging, false) {
            Ok(d) => d,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(Error::Symlink(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let needed: std::collections::BTreeSet<&str> = self
            .overlay
            .values()
            .flatten()
            .map(String::as_str)
            .collect();
        let pinned = staging.pinned_path();
        let mut found = Leftover::default();
        for entry in walkdir::WalkDir::new(&pinned)
            .min_depth(1)
            .follow_links(false)
        {
            // What vanished while we walked was being cleared.
            let Ok(entry) = entry else { continue };
            if !entry.file_type().is_file() {
                continue;
            }
            let rest = entry.path().strip_prefix(&pinned).unwrap_or(entry.path());
            if needed.contains(format!("{rel_staging}/{}", rest.to_string_lossy()).as_str()) {
                continue;
            }
            found.files += 1;
            found.bytes += entry.metadata().map_or(0, |m| m.len());
        }
        Ok((found.files > 0).then_some(found))
    }

    /// Symbolic links in the archive outside `data/` (at its top level and anywhere under
    /// `.visitrec/`), as relative paths. None is ever followed.
    pub fn links_outside_data(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let walk = walkdir::WalkDir::new(&self.root)
            .min_depth(1)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| e.depth() > 1 || e.file_name() != DATA || e.path_is_symlink());
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                // A writer empties its staging slots as it commits: what vanished while we
                // walked was no link.
                Err(e) if e.io_error().map(|e| e.kind()) == Some(std::io::ErrorKind::NotFound) => {
                    continue;
                }
                Err(e) => {
                    let path = e.path().unwrap_or(&self.root).to_path_buf();
                    return Err(Error::io(path, e.into()));
                }
            };
            if entry.path_is_symlink() {
                let rel = entry
                    .path()
                    .strip_prefix(&self.root)
                    .unwrap_or(entry.path());
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(out)
    }

    /// Refuses to go on if a symbolic link stands at the archive's top level, under
    /// `.visitrec/` or as `data/`: what every writer passes through. A link deeper down (a
    /// recording folder, a file) is refused when a writer reaches it (see
    /// [`crate::beneath`] and [`Journal::validate`]), without listing every recording
    /// folder at each start (100 000 of them take longer to list than a commit takes).
    fn refuse_links(&self) -> Result<()> {
        match self.links_outside_data()?.into_iter().next() {
            Some(rel) => Err(Error::Symlink(self.root.join(rel))),
            None => Ok(()),
        }
    }

    /// Every recording id, from the payload manifest (`data/<id>/recording.json`).
    pub fn recording_ids(&self) -> Result<Vec<String>> {
        let m = self.strict_manifest(MANIFEST)?;
        Ok(ids_in(&m))
    }

    /// Every purged recording's id, from the payload manifest (`data/<id>/tombstone.json`).
    pub fn tombstone_ids(&self) -> Result<Vec<String>> {
        let m = self.strict_manifest(MANIFEST)?;
        Ok(tombstone_ids_in(&m))
    }

    /// The payload manifest's text as committed.
    fn manifest_bytes(&self) -> Result<Vec<u8>> {
        match self.read(MANIFEST) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::BadFile {
                    path: self.root.join(MANIFEST),
                    reason: "missing; run `visitrec verify`".into(),
                })
            }
            other => other,
        }
    }

    /// The payload manifest's entries whose path starts with `prefix` (path, digest), found
    /// by searching its text: no map of every entry is built.
    pub fn entries_under(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        Ok(index::entries_under(&self.manifest_bytes()?, prefix))
    }

    /// The ids starting with `prefix` of the recordings whose folder the manifest lists
    /// `file` in (`recording.json`: archived; `tombstone.json`: purged), sorted.
    fn ids_with_prefix(&self, prefix: &str, file: &str) -> Result<Vec<String>> {
        if prefix.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = self
            .entries_under(&format!("data/{prefix}"))?
            .into_iter()
            .filter_map(|(p, _)| {
                let (id, f) = p.strip_prefix("data/")?.split_once('/')?;
                (f == file).then(|| id.to_string())
            })
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Resolves a unique id prefix (like git) to the full id. A prefix that names only a
    /// purged recording is [`Error::Purged`], saying when and why.
    pub fn resolve_id(&self, prefix: &str) -> Result<String> {
        let prefix_lc = prefix.to_ascii_lowercase();
        let matches = self.ids_with_prefix(&prefix_lc, crate::record::RECORDING_JSON)?;
        if matches.is_empty() {
            let purged = self.ids_with_prefix(&prefix_lc, crate::tombstone::TOMBSTONE_JSON)?;
            if let [id] = purged.as_slice() {
                return Err(self.purged_error(id));
            }
        }
        match matches.len() {
            0 => Err(Error::NoSuchRecording {
                archive: self.root.clone(),
                prefix: prefix.to_string(),
                suggestions: suggest(&prefix_lc, &self.recording_ids()?),
            }),
            1 => Ok(matches.into_iter().next().expect("one match")),
            _ => Err(Error::AmbiguousId {
                prefix: prefix.to_string(),
                candidates: matches,
            }),
        }
    }

    /// The error for a purged recording `id`, from its tombstone.
    pub fn purged_error(&self, id: &str) -> Error {
        let rel = crate::record::payload_path(id, crate::tombstone::TOMBSTONE_JSON);
        let t = self
            .read(&rel)
            .ok()
            .and_then(|b| crate::tombstone::Tombstone::from_json(&b).ok());
        Error::Purged {
            id: id.to_string(),
            on: t
                .as_ref()
                .map_or("an unknown date", |t| t.purged_on())
                .to_string(),
            reason: t
                .map_or("tombstone unreadable", |t| t.reason.words())
                .to_string(),
        }
    }

    /// Writers keep only the SHA-256 manifests up to date, so a bag that also carries
    /// another algorithm's (payload or tag) manifest is refused before anything is touched,
    /// rather than left with one that no longer matches.
    fn refuse_foreign_manifests(&self) -> Result<()> {
        let mut foreign = Vec::new();
        for entry in fs::read_dir(&self.root).at(&self.root)? {
            let name = entry.at(&self.root)?.file_name();
            if let Some(name) = name.to_str()
                && let Some((_, alg)) = bagit::manifest_file_kind(name)
                && alg != "sha256"
            {
                foreign.push((name.to_string(), alg.to_string()));
            }
        }
        foreign.sort();
        match foreign.into_iter().next() {
            Some((name, algorithm)) => Err(Error::ForeignManifest {
                path: self.root.join(name),
                algorithm,
            }),
            None => Ok(()),
        }
    }

    /// Takes the write lock, finishes or discards whatever an interrupted writer left, and
    /// returns a [`Writer`] whose changes are logged as made by `actor`.
    pub fn writer(self, actor: &str) -> Result<Writer> {
        self.refuse_links()?;
        self.refuse_foreign_manifests()?;
        // `.visitrec/` and its `staging/` are held open, and reached only through these
        // descriptors afterwards: swapping either for a link mid-run changes nothing.
        let meta = crate::beneath::Dir::walk(&self.root, META_DIR, true)?;
        let lock = lock::WriteLock::acquire(&self.root, &meta)?;
        if let Some(j) = Journal::load(&self.root)? {
            j.apply(&self.root)?;
        }
        let staging_shown = self.root.join(META_DIR).join("staging");
        fsutil::remove_tree(&meta.pinned_path().join("staging"))?;
        let staging = meta
            .child("staging", true)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::ENOTDIR) => Error::Symlink(staging_shown.clone()),
                _ => Error::io(&staging_shown, e),
            })?;
        let archive = Archive::open(&self.root)?;
        let index = match ManifestIndex::scan(archive.manifest_bytes()?) {
            Some(ix) => ix,
            // Another layout (or a defect, refused here): read it whole; the next commit
            // writes it back in visitrec's.
            None => ManifestIndex::rendered(&archive.strict_manifest(MANIFEST)?),
        };
        let tag_manifest = archive.strict_manifest(TAG_MANIFEST)?;
        let info = archive.bag_info()?;
        Ok(Writer {
            staging_path: staging.pinned_path(),
            _meta: meta,
            _staging: staging,
            warnings: loose_permissions(&archive.root, false, &[])
                .into_iter()
                .map(|(rel, why)| {
                    let at = if rel == "." {
                        archive.root.clone()
                    } else {
                        archive.root.join(rel)
                    };
                    format!("{}: {why}", at.display())
                })
                .collect(),
            archive,
            _lock: lock,
            index,
            manifest: std::sync::OnceLock::new(),
            tag_manifest,
            info,
            actor: actor.to_string(),
        })
    }
}

/// Whether `dir` is the root of a visitrec archive (a bag with visitrec's `.visitrec/`).
pub fn is_visitrec_archive(dir: &Path) -> bool {
    let meta = |rel: &str| fs::symlink_metadata(dir.join(rel));
    meta(BAGIT_TXT).is_ok_and(|m| m.is_file()) && meta(META_DIR).is_ok_and(|m| m.is_dir())
}

/// The visitrec archive that `path` is, or lies inside, if any (`path` need not exist:
/// its nearest existing ancestor is looked at).
pub fn enclosing_archive(path: &Path) -> Option<PathBuf> {
    let existing = path.ancestors().find(|p| fs::symlink_metadata(p).is_ok())?;
    let existing = if existing.as_os_str().is_empty() {
        Path::new(".")
    } else {
        existing
    };
    let real = fs::canonicalize(existing).ok()?;
    real.ancestors()
        .find(|dir| is_visitrec_archive(dir))
        .map(Path::to_path_buf)
}

/// Refuses an `--out` that lies inside a visitrec archive: an export or a decrypted bag
/// written there would sit in (or beside) the archive's own payload.
pub fn refuse_out_inside_archive(out: &Path) -> Result<()> {
    match enclosing_archive(out) {
        Some(archive) => Err(Error::OutInsideArchive {
            out: out.to_path_buf(),
            archive,
        }),
        None => Ok(()),
    }
}

/// Folders of the archive at `root` that others may write to (group- or world-writable),
/// as (relative path, what to do). Without `deep`, only the root, `data/` and
/// `.visitrec/` (what every writer passes through); with it, every folder outside `data/`
/// too, and the `data/` folders `payload_loose` lists (found by the payload walk, so the
/// payload is walked once). Such a folder is how another account plants a journal, a link
/// or a file.
pub fn loose_permissions(
    root: &Path,
    deep: bool,
    payload_loose: &[(String, u32)],
) -> Vec<(String, String)> {
    use std::os::unix::fs::PermissionsExt;
    let describe = |rel: &str, mode: u32| {
        let who = if mode & 0o002 != 0 { "world" } else { "group" };
        let shown = if rel.is_empty() { "." } else { rel };
        (
            shown.to_string(),
            format!(
                "folder is {who}-writable (mode {:04o}): other accounts can plant or replace \
                 files in the archive; run `chmod -R go-w {}`",
                mode & 0o7777,
                root.display()
            ),
        )
    };
    let mut out = Vec::new();
    let mut look = |rel: &str, meta: &fs::Metadata| {
        let mode = meta.permissions().mode();
        // A sticky folder (like /tmp) still lets others add files; it is loose too.
        if meta.is_dir() && mode & 0o022 != 0 {
            out.push(describe(rel, mode));
        }
    };
    if deep {
        for entry in walkdir::WalkDir::new(root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| e.depth() != 1 || e.file_name() != DATA)
            .flatten()
        {
            if let Ok(meta) = entry.metadata() {
                let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
                look(&rel.to_string_lossy(), &meta);
            }
        }
        if let Ok(meta) = fs::symlink_metadata(root.join(DATA)) {
            look(DATA, &meta);
        }
        out.extend(payload_loose.iter().map(|(rel, mode)| describe(rel, *mode)));
    } else {
        for rel in ["", DATA, META_DIR] {
            if let Ok(meta) = fs::symlink_metadata(root.join(rel)) {
                look(rel, &meta);
            }
        }
    }
    out
}

/// Ids that look like a mistyped `prefix`: those differing from it in one character (or
/// missing one), else those sharing its longest start of at least two characters; at most 3.
fn suggest(prefix: &str, ids: &[String]) -> Vec<String> {
    // Ids are hex digits: a prefix with anything else is close to none (and is sliced
    // by bytes below).
    if !prefix.is_ascii() {
        return Vec::new();
    }
    let close = |id: &str| {
        let cand = &id[..prefix.len().min(id.len())];
        let diff = cand
            .chars()
            .zip(prefix.chars())
            .filter(|(a, b)| a != b)
            .count();
        let dropped = (0..prefix.len()).any(|i| {
            let shorter = format!("{}{}", &prefix[..i], &prefix[i + 1..]);
            !shorter.is_empty() && id.starts_with(&shorter)
        });
        diff == 1 || dropped
    };
    let mut out: Vec<String> = ids.iter().filter(|id| close(id)).take(3).cloned().collect();
    if out.is_empty() {
        let shared = |id: &str| {
            id.chars()
                .zip(prefix.chars())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let best = ids.iter().map(|id| shared(id)).max().unwrap_or(0);
        if best >= 2 {
            out = ids
                .iter()
                .filter(|id| shared(id) == best)
                .take(3)
                .cloned()
                .collect();
        }
    }
    out
}

/// Recording ids named by a payload manifest.
pub fn ids_in(m: &Manifest) -> Vec<String> {
    m.entries
        .keys()
        .filter_map(|p| {
            let rest = p.strip_prefix("data/")?;
            let (id, file) = rest.split_once('/')?;
            (file == crate::record::RECORDING_JSON).then(|| id.to_string())
        })
        .collect()
}

/// The ids of the purged recordings a manifest lists (`data/<id>/tombstone.json`).
pub fn tombstone_ids_in(m: &Manifest) -> Vec<String> {
    m.entries
        .keys()
        .filter_map(|p| {
            let (id, file) = p.strip_prefix("data/")?.split_once('/')?;
            (file == crate::tombstone::TOMBSTONE_JSON).then(|| id.to_string())
        })
        .collect()
}

/// An archive held for writing. Dropping it releases the lock.
#[derive(Debug)]
pub struct Writer {
    archive: Archive,
    _lock: lock::WriteLock,
    /// The payload manifest as committed, indexed for in-place edits.
    index: ManifestIndex,
    /// The same as a map, or its first defect, once first asked for (see
    /// [`Writer::manifest`]).
    manifest: std::sync::OnceLock<std::result::Result<Manifest, bagit::LineIssue>>,
    tag_manifest: Manifest,
    info: BagInfo,
    actor: String,
    warnings: Vec<String>,
    /// `.visitrec/` and `.visitrec/staging/`, held open (see [`crate::beneath::Dir`]).
    _meta: crate::beneath::Dir,
    _staging: crate::beneath::Dir,
    /// The staging folder as a pinned path (`/proc/self/fd/N`).
    staging_path: PathBuf,
}

static SLOT: AtomicU64 = AtomicU64::new(0);

/// A tag unique to this writer process: its pid and start time in nanoseconds, in hex.
fn writer_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{:x}{:x}", std::process::id(), nanos)
    })
}

impl Writer {
    /// The archive being written.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// The payload manifest as last committed, as a map of every entry (parsed on the first
    /// call: for a few lookups, [`Self::manifest_index`] is cheaper). A manifest with a
    /// defect is refused: nothing that reads every entry builds on a damaged one.
    pub fn manifest(&self) -> Result<&Manifest> {
        match self.manifest.get_or_init(|| self.index.to_manifest()) {
            Ok(m) => Ok(m),
            Err(i) => Err(Error::BadFile {
                path: self.archive.root.join(MANIFEST),
                reason: format!("line {}: {}; run `visitrec verify`", i.line, i.reason),
            }),
        }
    }

    /// The payload manifest as last committed, indexed: lookups without building a map.
    pub fn manifest_index(&self) -> &ManifestIndex {
        &self.index
    }

    /// What the keeper should know before this write (loose folder permissions), one
    /// line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Who the changes are logged as made by.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// A new, empty, private folder under `.visitrec/staging/` to stage files in. Safe to
    /// call from several threads.
    pub fn new_staging_slot(&self) -> Result<PathBuf> {
        // Slot names are never reused by a later writer: a reader that saw a pending
        // journal may still be reading a staged path, which must not get new content.
        let n = SLOT.fetch_add(1, Ordering::Relaxed);
        let dir = self.staging_path.join(format!("s{}-{n}", writer_tag()));
        fsutil::create_dirs(&dir)?;
        Ok(dir)
    }

    /// The archive-relative path (`.visitrec/staging/…`) of a path inside a staging slot.
    fn staged_rel(&self, staged: &Path) -> Result<String> {
        let rest = staged
            .strip_prefix(&self.staging_path)
            .map_err(|_| Error::NotStaged(staged.to_path_buf()))?;
        Ok(format!("{META_DIR}/staging/{}", rest.to_string_lossy()))
    }

    /// Starts a transaction.
    pub fn begin(&mut self) -> Transaction<'_> {
        Transaction {
            writer: self,
            puts: Vec::new(),
            deletes: Vec::new(),
            audit: Vec::new(),
            info: Vec::new(),
            recount: false,
        }
    }
}

impl Writer {
    /// Removes everything staged and not committed (slots of refused inputs, of work cut
    /// short by a signal, of an aborted transaction). Best effort: what stays is removed
    /// by the next writer. Nothing is removed while a commit journal is pending (a commit
    /// failed after its commit point): its staged files are committed content, which the
    /// next writer moves into place.
    pub fn discard_staged(&self) {
        if fs::symlink_metadata(journal::journal_path(&self.archive.root)).is_ok() {
            return;
        }
        if let Ok(entries) = fs::read_dir(&self.staging_path) {
            for e in entries.flatten() {
                let _ = fsutil::remove_tree(&e.path());
            }
        }
    }
}

impl Writer {
    /// The Payload-Oxum of `manifest` once `puts` are in place: staged files by their
    /// staged size, every other listed file by its size on disk (a missing one is not
    /// counted, as `verify` counts the payload it finds).
    fn recount_oxum(
        &self,
        manifest: &Manifest,
        puts: &[(PathBuf, String, Fixity)],
    ) -> Result<Oxum> {
        let staged: BTreeMap<&str, u64> = puts
            .iter()
            .filter(|(_, rel, _)| rel.starts_with("data/"))
            .map(|(_, rel, f)| (rel.as_str(), f.size))
            .collect();
        let mut oxum = Oxum::default();
        for rel in manifest.entries.keys() {
            let size = match staged.get(rel.as_str()) {
                Some(size) => *size,
                None => match self.archive.open_file(rel) {
                    Ok(f) => f.metadata().at(self.archive.root.join(rel))?.len(),
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            oxum.streams += 1;
            oxum.octets += size;
        }
        Ok(oxum)
    }
}

impl Drop for Writer {
    /// Clears staging while still holding the lock; whatever a crash leaves is cleared by
    /// the next writer instead.
    fn drop(&mut self) {
        self.discard_staged();
    }
}

/// A set of new or replaced files that become visible together, or not at all.
#[derive(Debug)]
pub struct Transaction<'w> {
    writer: &'w mut Writer,
    puts: Vec<(PathBuf, String, Fixity)>,
    deletes: Vec<String>,
    audit: Vec<audit::Pending>,
    info: Vec<(String, Option<String>)>,
    /// Recount Payload-Oxum from the payload instead of adjusting it by the files changed.
    recount: bool,
}

impl Transaction<'_> {
    /// Has Payload-Oxum recounted from the payload at commit (every file the new manifest
    /// lists, by its size on disk, or staged), instead of adjusted by the sizes of the files
    /// replaced or removed: for a transaction that replaces files known to be damaged,
    /// whose sizes on disk are not the ones the Oxum counted. Costs one `stat` per file.
    pub fn recount_oxum(&mut self) {
        self.recount = true;
    }

    /// Adds a file already staged (written and fsynced under a staging slot) as `rel`.
    pub fn put_staged(&mut self, staged: PathBuf, rel: String, fixity: Fixity) {
        self.puts.push((staged, rel, fixity));
    }

    /// Stages `bytes` as the new content of `rel`.
    pub fn put_bytes(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let slot = self.writer.new_staging_slot()?;
        let staged = slot.join("file");
        fsutil::write_new(&staged, bytes)?;
        self.put_staged(staged, rel.to_string(), hash::hash_bytes(bytes));
        Ok(())
    }

    /// Removes the payload file `rel` (it must be in the manifest).
    pub fn delete(&mut self, rel: &str) {
        self.deletes.push(rel.to_string());
    }

    /// Logs the change in the audit trail (written with the rest at commit).
    pub fn audit(&mut self, op: &str, ids: Vec<String>, details: serde_json::Value) {
        self.audit.push(audit::Pending {
            op: op.to_string(),
            ids,
            details,
        });
    }

    /// Sets (`Some`) or removes (`None`) a `bag-info.txt` element, e.g.
    /// `Visitrec-Retention`. The labels visitrec maintains itself are not to be set here.
    pub fn set_info(&mut self, label: &str, value: Option<String>) {
        self.info.push((label.to_string(), value));
    }

    /// Whether nothing has been staged or logged.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
            && self.deletes.is_empty()
            && self.audit.is_empty()
            && self.info.is_empty()
    }

    /// Commits: stages the tag files that change (bag-info, the tag manifest, and the
    /// payload manifest when it is written whole), works out the patches of the payload
    /// manifest and the audit log, writes the journal (the commit point), then applies it.
    pub fn commit(self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let w = self.writer;
        let root = w.archive.root.clone();
        let mut tag_manifest = w.tag_manifest.clone();
        let mut patches = Vec::new();
        // A file with another name (a hard-link snapshot of the archive) is never written
        // in place, which would change the snapshot too: it is staged whole instead.
        let shared = |rel: &str| {
            use std::os::unix::fs::MetadataExt;
            w.archive
                .open_file(rel)
                .and_then(|f| f.metadata().at(root.join(rel)))
                .is_ok_and(|m| m.nlink() > 1)
        };
        let mut staged_tags = Vec::new();
        if !self.audit.is_empty() {
            let old = match w.archive.read(AUDIT_LOG) {
                Ok(b) => b,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&old);
            let lines = audit::new_lines(
                text.lines().last(),
                &self.audit,
                &w.actor,
                &software_agent(),
            );
            let p = Patch {
                file: AUDIT_LOG.to_string(),
                base_len: old.len() as u64,
                writes: Vec::new(),
                append: lines,
            };
            if shared(AUDIT_LOG) {
                let mut whole = old;
                p.apply_to(&mut whole);
                staged_tags.push((AUDIT_LOG, String::from_utf8_lossy(&whole).into_owned()));
            } else {
                tag_manifest
                    .entries
                    .insert(AUDIT_LOG.to_string(), p.digest_over(&old));
                patches.push(p);
            }
        }
        let mut info = w.info.clone();
        for (label, value) in &self.info {
            match value {
                Some(v) => info.set(label, v.clone()),
                None => info.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(label)),
            }
        }
        let mut oxum = info
            .get("Payload-Oxum")
            .and_then(Oxum::parse)
            .unwrap_or_default();
        let mut moves = Vec::new();
        let mut deletes = Vec::new();
        // Payload path → its digest once committed, or `None` when it goes.
        let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
        // A file replaced or removed that is already gone (deleted by hand, lost) leaves
        // its size unknown: the Oxum is then recounted from the payload.
        let mut recount = self.recount;
        let mut old_size = |rel: &str| -> Result<u64> {
            match w
                .archive
                .open_file(rel)
                .and_then(|f| f.metadata().at(root.join(rel)))
            {
                Ok(m) => Ok(m.len()),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    recount = true;
                    Ok(0)
                }
                Err(e) => Err(e),
            }
        };
        let listed = |changes: &BTreeMap<String, Option<String>>, rel: &str| match changes.get(rel)
        {
            Some(d) => d.is_some(),
            None => w.index.contains(rel),
        };
        for rel in &self.deletes {
            if listed(&changes, rel) {
                let old = old_size(rel)?;
                oxum.octets = oxum.octets.saturating_sub(old);
                oxum.streams = oxum.streams.saturating_sub(1);
                deletes.push(rel.clone());
                changes.insert(rel.clone(), None);
            }
        }
        for (staged, rel, fixity) in &self.puts {
            let from = w.staged_rel(staged)?;
            if rel.starts_with("data/") {
                if listed(&changes, rel) {
                    let old = old_size(rel)?;
                    oxum.octets = oxum.octets.saturating_sub(old);
                } else {
                    oxum.streams += 1;
                }
                oxum.octets += fixity.size;
                changes.insert(rel.clone(), Some(fixity.sha256.clone()));
            } else {
                tag_manifest
                    .entries
                    .insert(rel.clone(), fixity.sha256.clone());
            }
            moves.push(Move {
                from,
                to: rel.clone(),
            });
        }
        // The manifest as a map, for what needs every entry: a recount, a whole rewrite.
        let whole_manifest = || -> Result<Manifest> {
            let mut m = w.manifest()?.clone();
            for (rel, digest) in &changes {
                match digest {
                    Some(d) => m.entries.insert(rel.clone(), d.clone()),
                    None => m.entries.remove(rel),
                };
            }
            Ok(m)
        };
        if recount {
            oxum = w.recount_oxum(&whole_manifest()?, &self.puts)?;
        }
        info.set("Payload-Oxum", oxum.to_string());
        let slot = w.new_staging_slot()?;
        let rel_slot = w.staged_rel(&slot)?;
        let mut rewritten = None;
        staged_tags.push((BAG_INFO, info.render()));
        if w.index.wants_rewrite() || shared(MANIFEST) {
            let text = whole_manifest()?.render();
            rewritten = Some(
                ManifestIndex::scan(text.clone().into_bytes()).ok_or_else(|| Error::BadFile {
                    path: root.join(MANIFEST),
                    reason: "an entry cannot be written in visitrec's layout".into(),
                })?,
            );
            staged_tags.push((MANIFEST, text));
        } else {
            let p = w.index.patch_for(MANIFEST, &changes);
            if !p.is_empty() {
                tag_manifest
                    .entries
                    .insert(MANIFEST.to_string(), p.digest_over(w.index.bytes()));
                patches.push(p);
            }
        }
        for (name, text) in &staged_tags {
            fsutil::write_new(&slot.join(name), text.as_bytes())?;
            tag_manifest
                .entries
                .insert(name.to_string(), hash::hash_bytes(text.as_bytes()).sha256);
            moves.push(Move {
                from: format!("{rel_slot}/{name}"),
                to: name.to_string(),
            });
        }
        let tag_text = tag_manifest.render();
        fsutil::write_new(&slot.join(TAG_MANIFEST), tag_text.as_bytes())?;
        moves.push(Move {
            from: format!("{rel_slot}/{TAG_MANIFEST}"),
            to: TAG_MANIFEST.to_string(),
        });
        fsutil::sync_dir(&slot)?;
        for (staged, _, _) in &self.puts {
            if let Some(dir) = staged.parent() {
                fsutil::sync_dir(dir)?;
            }
        }
        let journal = Journal {
            moves,
            deletes,
            patches,
        };
        journal.commit(&root)?;
        journal.apply(&root)?;
        // The emptied slots are litter now; a failure here only leaves work for `Drop`.
        let _ = fsutil::remove_tree(&slot);
        for (staged, _, _) in &self.puts {
            if let Some(dir) = staged.parent() {
                let _ = fsutil::remove_tree(dir);
            }
        }
        match rewritten {
            Some(ix) => w.index = ix,
            None => {
                if let Some(p) = journal.patches.iter().find(|p| p.file == MANIFEST) {
                    w.index.apply(p, &changes);
                }
            }
        }
        if let Some(Ok(m)) = w.manifest.get_mut() {
            for (rel, digest) in changes {
                match digest {
                    Some(d) => m.entries.insert(rel, d),
                    None => m.entries.remove(&rel),
                };
            }
        }
        w.tag_manifest = tag_manifest;
        w.info = info;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn typos_get_suggestions() {
        let ids: Vec<String> = ["e71f119e104a5ea9", "e71f00aa00000000", "109c505b3d4ac2d2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            suggest("e72f", &ids),
            ["e71f119e104a5ea9", "e71f00aa00000000"]
        );
        assert_eq!(suggest("109cx", &ids), ["109c505b3d4ac2d2"]);
        assert!(suggest("zz", &ids).is_empty());
        assert!(suggest("é", &ids).is_empty());
        assert!(suggest("e7\u{1b}[31m\u{9b}", &ids).is_empty());
    }
}

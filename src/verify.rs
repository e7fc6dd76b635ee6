//! `verify`: fixity and structure of an archive, reported as a list of problems.
//!
//! Full mode recomputes every manifest entry (streamed SHA-256, files in parallel) and checks
//! each `recording.json`; `--fast` checks only presence and the Payload-Oxum, like bagit's
//! `--fast`. The verdicts agree with bagit-python's `--validate` on the cases it knows.

use std::collections::BTreeMap;

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::bagit::{BagInfo, LineIssue, Manifest, Oxum};
use crate::archive::{
    Archive, BAG_INFO, BAGIT_TXT, JournalState, MANIFEST, PayloadListing, TAG_MANIFEST,
};
use crate::audit::{self, AUDIT_LOG};
use crate::consent;
use crate::error::{Error, Result, exit};
use crate::hash::{self, Fixity};
use crate::record::{self, RECORDING_JSON, Recording};

/// What kind of problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A file listed in a manifest is not there.
    Missing,
    /// A file's content does not match its manifest digest.
    Modified,
    /// A payload file is not in the manifest (or is not a regular file).
    Extra,
    /// A manifest or `bagit.txt` is absent or malformed.
    BadManifest,
    /// A `recording.json` does not parse or disagrees with the file it describes.
    BadMetadata,
    /// `Payload-Oxum` does not match the payload.
    Oxum,
    /// The audit log's hash chain is broken (a line edited, reordered or removed).
    AuditChain,
    /// A recording has no active consent (with `--require-consent`).
    NoConsent,
    /// An export's file does not decrypt, or decrypts to the wrong bytes (with identities).
    Decrypt,
    /// A symbolic link inside the bag (never followed: it could lead outside the archive).
    Symlink,
    /// A commit journal that visitrec never writes (a path outside the archive, through a
    /// link, or onto a file no transaction touches): planted or damaged, and not applied.
    BadJournal,
    /// An `--anchor` no longer holds: the audit line it names is gone or hashes otherwise.
    Anchor,
    /// A signed checkpoint that does not verify, is not by an allowed signer, or whose
    /// audit line changed since it was signed.
    Checkpoint,
}

/// What kind of warning was given (these do not make the archive fail verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// A writer was interrupted after its commit point; the next writer finishes it.
    PendingJournal,
    /// A folder of the archive is group- or world-writable: others can plant files in it.
    LoosePermissions,
    /// Audit lines after the last checkpoint by an allowed signer (with
    /// `--allowed-signers`): nothing outside the archive vouches for them.
    UnsignedHistory,
}

/// A finding that does not make the archive fail verification, but that its keeper
/// should know about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    /// Path relative to the bag (`.` for its root).
    pub path: String,
    /// What kind of warning.
    pub kind: WarningKind,
    /// What was found and what to do.
    pub detail: String,
}

/// One problem, naming the file it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// Path relative to the bag.
    pub path: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What was expected and what was found.
    pub detail: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no problem was found.
    pub ok: bool,
    /// Files whose content was read and hashed.
    pub files_checked: u64,
    /// Bytes read and hashed.
    pub bytes_checked: u64,
    /// Everything found, sorted by path.
    pub problems: Vec<Problem>,
    /// Findings that do not fail verification, sorted by path.
    pub warnings: Vec<Warning>,
}

impl ProblemKind {
    /// The name used in reports (`missing`, `bad-manifest`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::Modified => "modified",
            ProblemKind::Extra => "extra",
            ProblemKind::BadManifest => "bad-manifest",
            ProblemKind::BadMetadata => "bad-metadata",
            ProblemKind::Oxum => "oxum",
            ProblemKind::AuditChain => "audit-chain",
            ProblemKind::NoConsent => "no-consent",
            ProblemKind::Decrypt => "decrypt",
            ProblemKind::Symlink => "symlink",
            ProblemKind::BadJournal => "bad-journal",
            ProblemKind::Anchor => "anchor",
            ProblemKind::Checkpoint => "checkpoint",
        }
    }
}

impl Report {
    /// 0 when intact, 1 when problems were found.
    pub fn exit_code(&self) -> i32 {
        if self.ok { exit::OK } else { exit::PROBLEMS }
    }
}

/// How thoroughly to verify.
#[derive(Debug, Default)]
pub struct VerifyOptions {
    /// Presence and Payload-Oxum only; no content is read.
    pub fast: bool,
    /// Report recordings without active consent (today) as `no-consent` problems.
    pub require_consent: bool,
    /// For an encrypted export: also decrypt every file (to nowhere) and check it against
    /// the export's plaintext manifest.
    pub identities: Option<crate::crypto::Identities>,
    /// Audit lines noted outside the archive (`--anchor`): each must still hash as noted.
    pub anchors: Vec<crate::anchor::Anchor>,
    /// Keys trusted to sign checkpoints (`--allowed-signers`): at least one checkpoint by
    /// one of them must hold, and later audit lines are warned about as unsigned.
    pub allowed_signers: Option<crate::checkpoint::AllowedSigners>,
}

/// Verifies the bag at `path`. Errors only when it cannot run at all (not a bag).
pub fn verify(path: &Path, opts: &VerifyOptions) -> Result<Report> {
    // A folder with a payload manifest but no bagit.txt is a damaged bag, reported as such;
    // one with neither is not a bag, and `open` says so.
    let archive = if path.join(MANIFEST).is_file() {
        Archive::open_unchecked(path)?
    } else {
        Archive::open(path)?
    };
    let snapshot = manifests_now(path)?;
    let mut v = Verifier {
        archive: &archive,
        problems: Vec::new(),
        warnings: Vec::new(),
        files_checked: 0,
        bytes_checked: 0,
    };
    v.check_journal();
    for link in archive.links_outside_data()? {
        v.problem(&link, ProblemKind::Symlink, LINK_DETAIL);
    }
    v.check_bagit_txt()?;
    let manifest = v.load_manifest(MANIFEST, true)?;
    let listing = archive.payload_listing()?;
    for link in &listing.links {
        v.problem(link, ProblemKind::Symlink, LINK_DETAIL);
    }
    v.check_presence(&manifest, &listing);
    v.check_oxum(&listing)?;
    let tag_manifest = v.load_manifest(TAG_MANIFEST, false)?;
    let export = crate::export::is_export(&archive.bag_info()?);
    v.check_required(&tag_manifest, &manifest, export)?;
    if export {
        if !opts.anchors.is_empty() {
            return Err(Error::NeedsArchive {
                path: path.to_path_buf(),
                flag: "--anchor",
            });
        }
        if opts.allowed_signers.is_some() {
            return Err(Error::NeedsArchive {
                path: path.to_path_buf(),
                flag: "--allowed-signers",
            });
        }
    } else {
        v.check_history(opts)?;
    }
    if !opts.fast {
        v.check_tag_files(&tag_manifest);
        v.check_payload_hashes(&manifest, &listing);
        if export {
            v.check_export_layout(&manifest);
        } else {
            v.check_recordings(&manifest);
            v.check_audit()?;
        }
    }
    if let Some(ids) = &opts.identities {
        if !export {
            return Err(Error::Invalid(format!(
                "{}: --identity goes with an encrypted export, and this is an archive",
                path.display()
            )));
        }
        for (file, why) in crate::export::check_decryption(path, ids)? {
            v.problem(&file, ProblemKind::Decrypt, why);
        }
    }
    if opts.require_consent && !export {
        v.check_consent(&manifest);
    }
    let mut problems = v.problems;
    // A writer may have committed while we read: what it changed is not a problem.
    let changed = changed_between(&snapshot, &manifests_now(path)?);
    if !changed.is_empty() {
        problems.retain(|p| !changed.contains(&p.path) && p.kind != ProblemKind::Oxum);
    }
    problems.sort();
    problems.dedup();
    let mut warnings = v.warnings;
    warnings.extend(
        crate::archive::loose_permissions(path, true)
            .into_iter()
            .map(|(rel, detail)| Warning {
                path: rel,
                kind: WarningKind::LoosePermissions,
                detail,
            }),
    );
    warnings.sort();
    Ok(Report {
        ok: problems.is_empty(),
        files_checked: v.files_checked,
        bytes_checked: v.bytes_checked,
        problems,
        warnings,
    })
}

/// The committed payload and tag manifests, as text (empty when absent or unreadable).
fn manifests_now(path: &Path) -> Result<(String, String)> {
    let archive = Archive::open_unchecked(path)?;
    let read = |rel| archive.read_text(rel).ok().flatten().unwrap_or_default();
    Ok((read(MANIFEST), read(TAG_MANIFEST)))
}

/// Paths whose manifest entries differ between two snapshots (a commit in between), plus
/// the manifests themselves when they differ. Empty when nothing was committed.
fn changed_between(
    a: &(String, String),
    b: &(String, String),
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if a == b {
        return out;
    }
    for (old, new, name) in [(&a.0, &b.0, MANIFEST), (&a.1, &b.1, TAG_MANIFEST)] {
        let (old, new) = (
            Manifest::parse(old).0.entries,
            Manifest::parse(new).0.entries,
        );
        for (path, digest) in old.iter().chain(new.iter()) {
            if old.get(path) != Some(digest) || new.get(path) != Some(digest) {
                out.insert(path.clone());
            }
        }
        out.insert(name.to_string());
    }
    out
}

/// What verify says of every symbolic link it finds.
const LINK_DETAIL: &str = "symbolic link inside the bag (never followed: it could lead outside the archive); replace it with the real file or folder";

struct Verifier<'a> {
    archive: &'a Archive,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
    files_checked: u64,
    bytes_checked: u64,
}

impl Verifier<'_> {
    fn problem(&mut self, path: &str, kind: ProblemKind, detail: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_string(),
            kind,
            detail: detail.into(),
        });
    }

    /// A pending journal is reported as a warning; an invalid one as a problem.
    fn check_journal(&mut self) {
        let rel = ".visitrec/journal.json";
        match self.archive.journal_state() {
            JournalState::None => {}
            JournalState::Pending(n) => self.warnings.push(Warning {
                path: rel.into(),
                kind: WarningKind::PendingJournal,
                detail: format!(
                    "an interrupted commit has {n} change(s) left to apply; the next writer \
                     finishes it (this report shows the archive as committed)"
                ),
            }),
            JournalState::Invalid(why) => self.problem(rel, ProblemKind::BadJournal, why.clone()),
        }
    }

    fn check_bagit_txt(&mut self) -> Result<()> {
        let Some(text) = self.archive.read_text(BAGIT_TXT)? else {
            self.problem(BAGIT_TXT, ProblemKind::BadManifest, "bagit.txt is missing");
            return Ok(());
        };
        let (decl, issues) = BagInfo::parse(&text);
        self.line_issues(BAGIT_TXT, &issues);
        match decl.get("BagIt-Version") {
            Some("1.0") | Some("0.97") => {}
            other => self.problem(
                BAGIT_TXT,
                ProblemKind::BadManifest,
                format!("BagIt-Version is {other:?}; expected 1.0"),
            ),
        }
        if !decl
            .get("Tag-File-Character-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("UTF-8"))
        {
            self.problem(
                BAGIT_TXT,
                ProblemKind::BadManifest,
                "Tag-File-Character-Encoding is not UTF-8",
            );
        }
        Ok(())
    }

    fn line_issues(&mut self, file: &str, issues: &[LineIssue]) {
        for i in issues {
            self.problem(
                file,
                ProblemKind::BadManifest,
                format!("line {}: {}", i.line, i.reason),
            );
        }
    }

    /// Parses a manifest; defects become problems. `payload` manifests may list only
    /// `data/` paths; tag manifests may list none.
    fn load_manifest(&mut self, name: &str, payload: bool) -> Result<Manifest> {
        let Some(text) = self.archive.read_text(name)? else {
            if payload {
                self.problem(
                    name,
                    ProblemKind::BadManifest,
                    "payload manifest is missing",
                );
            }
            return Ok(Manifest::default());
        };
        let (mut m, issues) = Manifest::parse(&text);
        self.line_issues(name, &issues);
        let misplaced: Vec<String> = m
            .entries
            .keys()
            .filter(|p| p.starts_with("data/") != payload)
            .cloned()
            .collect();
        for p in misplaced {
            let why = if payload {
                "lists a path outside data/"
            } else {
                "lists a payload path"
            };
            self.problem(name, ProblemKind::BadManifest, format!("{why}: {p:?}"));
            m.entries.remove(&p);
        }
        Ok(m)
    }

    fn check_presence(&mut self, manifest: &Manifest, listing: &PayloadListing) {
        for path in manifest.entries.keys() {
            if !listing.files.contains_key(path) {
                self.problem(
                    path,
                    ProblemKind::Missing,
                    "listed in manifest-sha256.txt but absent",
                );
            }
        }
        for path in listing.files.keys() {
            if !manifest.entries.contains_key(path) {
                self.problem(
                    path,
                    ProblemKind::Extra,
                    "not listed in manifest-sha256.txt",
                );
            }
        }
        for (path, why) in &listing.oddities {
            self.problem(path, ProblemKind::Extra, why.clone());
        }
    }

    fn check_oxum(&mut self, listing: &PayloadListing) -> Result<()> {
        let text = self.archive.read_text(BAG_INFO)?.unwrap_or_default();
        let (info, issues) = BagInfo::parse(&text);
        self.line_issues(BAG_INFO, &issues);
        let Some(raw) = info.get("Payload-Oxum") else {
            return Ok(());
        };
        let actual = Oxum {
            octets: listing.files.values().sum(),
            streams: listing.files.len() as u64,
        };
        match Oxum::parse(raw) {
            Some(declared) if declared == actual => {}
            Some(declared) => self.problem(
                BAG_INFO,
                ProblemKind::Oxum,
                format!("Payload-Oxum is {declared}; the payload is {actual}"),
            ),
            None => self.problem(
                BAG_INFO,
                ProblemKind::Oxum,
                format!("Payload-Oxum {raw:?} is not octets.streams"),
            ),
        }
        Ok(())
    }

    fn check_tag_files(&mut self, tags: &Manifest) {
        for (path, expected) in &tags.entries {
            match self.hash(path) {
                Ok(f) => {
                    self.count(&f);
                    if &f.sha256 != expected {
                        self.problem(
                            path,
                            ProblemKind::Modified,
                            format!("sha256 is {}, tagmanifest says {expected}", f.sha256),
                        );
                    }
                }
                Err(detail) => self.problem(path, ProblemKind::Missing, detail),
            }
        }
    }

    /// Hashes every payload file that is listed and present, in parallel.
    fn check_payload_hashes(&mut self, manifest: &Manifest, listing: &PayloadListing) {
        let work: Vec<(&String, &String)> = manifest
            .entries
            .iter()
            .filter(|(p, _)| listing.files.contains_key(*p))
            .collect();
        let results: Vec<(String, String, std::result::Result<Fixity, String>)> = work
            .par_iter()
            .map(|(p, d)| ((*p).clone(), (*d).clone(), self.hash(p)))
            .collect();
        for (path, expected, result) in results {
            match result {
                Ok(f) => {
                    self.count(&f);
                    if f.sha256 != expected {
                        self.problem(
                            &path,
                            ProblemKind::Modified,
                            format!("sha256 is {}, manifest says {expected}", f.sha256),
                        );
                    }
                }
                Err(detail) => self.problem(&path, ProblemKind::Missing, detail),
            }
        }
    }

    /// Each `data/<id>/recording.json` must parse, name its own folder, and describe the
    /// original it sits beside (as the manifest records it: a changed original is already
    /// reported as `modified`).
    fn check_recordings(&mut self, manifest: &Manifest) {
        let mut folders: BTreeMap<&str, bool> = BTreeMap::new();
        for path in manifest.entries.keys() {
            let rest = &path["data/".len()..];
            match rest.split_once('/') {
                Some((id, file)) => {
                    let has = folders.entry(id).or_default();
                    *has |= file == RECORDING_JSON;
                }
                None => self.problem(
                    path,
                    ProblemKind::BadMetadata,
                    "payload file outside a recording folder",
                ),
            }
        }
        for (id, has_json) in folders {
            let json_path = record::payload_path(id, RECORDING_JSON);
            if !has_json {
                self.problem(
                    &format!("data/{id}"),
                    ProblemKind::BadMetadata,
                    "recording folder without recording.json",
                );
                continue;
            }
            let Ok(bytes) = self.archive.read(&json_path) else {
                continue; // already reported as missing
            };
            let rec = match Recording::from_json(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    self.problem(&json_path, ProblemKind::BadMetadata, e);
                    continue;
                }
            };
            if rec.id != id {
                self.problem(
                    &json_path,
                    ProblemKind::BadMetadata,
                    format!("id {} does not match its folder {id}", rec.id),
                );
            }
            for (field, p) in rec.paths().into_iter().skip(1) {
                if !manifest.entries.contains_key(p) {
                    self.problem(
                        &json_path,
                        ProblemKind::BadMetadata,
                        format!("{field} {p:?} is not in the manifest"),
                    );
                }
            }
            let stored = &rec.source.stored_as;
            match manifest.entries.get(stored) {
                Some(sha) if *sha == rec.source.sha256 => {}
                Some(sha) => self.problem(
                    &json_path,
                    ProblemKind::BadMetadata,
                    format!(
                        "source.sha256 is {}, but the manifest has {sha} for {stored}",
                        rec.source.sha256
                    ),
                ),
                None => self.problem(
                    &json_path,
                    ProblemKind::BadMetadata,
                    format!("source.stored_as {stored:?} is not in the manifest"),
                ),
            }
        }
    }

    /// An export holds only `.age` files.
    fn check_export_layout(&mut self, manifest: &Manifest) {
        for path in manifest.entries.keys() {
            if !path.ends_with(".age") {
                self.problem(
                    path,
                    ProblemKind::BadMetadata,
                    "an export holds only .age files",
                );
            }
        }
    }

    /// The audit log, when there is one, must be an unbroken hash chain.
    fn check_audit(&mut self) -> Result<()> {
        if let Some(text) = self.archive.read_text(AUDIT_LOG)? {
            for b in audit::check(&text) {
                self.problem(
                    AUDIT_LOG,
                    ProblemKind::AuditChain,
                    format!("line {}: {}", b.line, b.reason),
                );
            }
        }
        Ok(())
    }

    /// The tag manifest is required, and must list every tag file visitrec writes that is
    /// there; an archive with recordings must have an audit log (every change is logged, so
    /// a missing one was deleted). Exports have no audit log.
    fn check_required(&mut self, tags: &Manifest, manifest: &Manifest, export: bool) -> Result<()> {
        if self.archive.read_text(TAG_MANIFEST)?.is_none() {
            self.problem(
                TAG_MANIFEST,
                ProblemKind::BadManifest,
                "tag manifest is missing (visitrec requires one: it covers bag-info.txt, the \
                 payload manifest and the audit log)",
            );
        } else {
            for name in [
                BAGIT_TXT,
                BAG_INFO,
                MANIFEST,
                AUDIT_LOG,
                crate::checkpoint::CHECKPOINTS,
            ] {
                if !tags.entries.contains_key(name) && self.archive.read_text(name)?.is_some() {
                    self.problem(
                        TAG_MANIFEST,
                        ProblemKind::BadManifest,
                        format!("does not list the tag file {name}"),
                    );
                }
            }
        }
        let empty_log = self
            .archive
            .read_text(AUDIT_LOG)?
            .is_none_or(|t| t.is_empty());
        if !export && !manifest.entries.is_empty() && empty_log {
            let n = crate::archive::ids_in(manifest).len();
            self.problem(
                AUDIT_LOG,
                ProblemKind::AuditChain,
                format!(
                    "missing or empty, yet the archive holds {n} recording(s): every change \
                     is logged, so the log was removed"
                ),
            );
        }
        Ok(())
    }

    /// `--anchor`s must still hold; checkpoints, when there are any, must verify and match
    /// the log; with `--allowed-signers`, one must be by an allowed signer, and the lines
    /// after the last such one are warned about as unsigned history.
    fn check_history(&mut self, opts: &VerifyOptions) -> Result<()> {
        use crate::checkpoint::CHECKPOINTS;
        let log = self.archive.read_text(AUDIT_LOG)?.unwrap_or_default();
        for a in &opts.anchors {
            if let Some(why) = crate::anchor::check(&log, a) {
                self.problem(AUDIT_LOG, ProblemKind::Anchor, why);
            }
        }
        let checkpoints = self.archive.read_text(CHECKPOINTS)?.unwrap_or_default();
        if checkpoints.is_empty() && opts.allowed_signers.is_none() {
            return Ok(());
        }
        let found = crate::checkpoint::check(&log, &checkpoints, opts.allowed_signers.as_ref());
        for why in found.problems {
            self.problem(CHECKPOINTS, ProblemKind::Checkpoint, why);
        }
        if opts.allowed_signers.is_none() {
            return Ok(());
        }
        let lines = log.lines().count() as u64;
        match found.signed_through {
            None if lines > 0 => self.problem(
                CHECKPOINTS,
                ProblemKind::Checkpoint,
                format!(
                    "no checkpoint by an allowed signer holds: none of the {lines} audit \
                     line(s) is vouched for (sign one with `visitrec checkpoint`)"
                ),
            ),
            Some(s) if s < lines => {
                let which = if s + 1 == lines {
                    format!("line {lines} comes")
                } else {
                    format!("lines {}-{lines} come", s + 1)
                };
                self.warnings.push(Warning {
                    path: AUDIT_LOG.into(),
                    kind: WarningKind::UnsignedHistory,
                    detail: format!(
                        "{which} after the last checkpoint by an allowed signer (seq {s}): \
                         unsigned history, which anyone able to write the archive could have \
                         forged; sign it with `visitrec checkpoint`"
                    ),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Every recording must have some consent active today.
    fn check_consent(&mut self, manifest: &Manifest) {
        let today = consent::today();
        for id in crate::archive::ids_in(manifest) {
            let path = record::payload_path(&id, RECORDING_JSON);
            let Ok(rec) = self
                .archive
                .read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| Recording::from_json(&b))
            else {
                continue; // reported as missing or bad-metadata
            };
            let state = consent::state(&rec.consent, today);
            if state.granted.is_empty() {
                let why = if rec.consent.is_empty() {
                    "no consent recorded".to_string()
                } else {
                    let lapsed: Vec<String> = state
                        .lapsed
                        .iter()
                        .map(|(s, l)| format!("{s} {}", l.as_str()))
                        .collect();
                    format!("no active consent on {today} ({})", lapsed.join(", "))
                };
                self.problem(&path, ProblemKind::NoConsent, why);
            }
        }
    }

    fn hash(&self, rel: &str) -> std::result::Result<Fixity, String> {
        let file = self.archive.open_file(rel).map_err(|e| match e {
            Error::Io { source, .. } => crate::error::describe_io(&source),
            other => other.to_string(),
        })?;
        hash::hash_reader(file).map_err(|e| crate::error::describe_io(&e))
    }

    fn count(&mut self, f: &Fixity) {
        self.files_checked += 1;
        self.bytes_checked += f.size;
    }
}

//! `verify`: fixity and structure of an archive, reported as a list of problems.
//!
//! Full mode recomputes every entry of every manifest and tag manifest the bag carries
//! (each file read once for all its algorithms, files in parallel) and checks each
//! `recording.json`; `--fast` checks only presence and the Payload-Oxum, like bagit's
//! `--fast`. The bag itself is held to RFC 8493 (`bagit.txt`, tag-file syntax, no
//! `fetch.txt`), and a valid bag that is not a visitrec archive is reported as such. The
//! verdicts agree with bagit-python's `--validate` on the cases it knows, except where
//! RFC 8493 is stricter than it (see docs/FORMAT.md).

use std::collections::BTreeMap;

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::bagit::{self, BagInfo, Declaration, LineIssue, Manifest, Oxum};
use crate::archive::{
    Archive, BAG_INFO, BAGIT_TXT, FETCH_TXT, JournalState, MANIFEST, META_DIR, PayloadListing,
    TAG_MANIFEST,
};
use crate::audit::{self, AUDIT_LOG};
use crate::consent;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::hash::{self, Algorithm};
use crate::record::{self, RECORDING_JSON, Recording};
use crate::tombstone::{TOMBSTONE_JSON, Tombstone};

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
    /// A manifest, tag manifest, `bagit.txt` or `bag-info.txt` is absent or breaks
    /// RFC 8493, or the bag has a `fetch.txt` (a visitrec archive is never holey).
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
    /// A recording's consent history differs from what the audit log recorded (an entry
    /// added, removed or changed by hand).
    ConsentMismatch,
    /// A recording the audit log never introduced (no `ingest` entry), or tag keys the log
    /// never set.
    HistoryMismatch,
    /// A commit journal that visitrec never writes (a path outside the archive, through a
    /// link, or onto a file no transaction touches): planted or damaged, and not applied.
    BadJournal,
    /// The bag is not a visitrec archive (no `.visitrec/`, no visitrec software agent, no
    /// recording): a bag made by another tool.
    NotVisitrec,
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
    /// An audit line is dated before the one above it: a writer's clock ran behind (set
    /// back?). Consent is never judged on a day earlier than the log has seen.
    ClockBackwards,
    /// Audit lines after the last checkpoint by an allowed signer (with
    /// `--allowed-signers`): nothing outside the archive vouches for them.
    UnsignedHistory,
    /// Files in `.visitrec/staging/` left by a writer that was killed (SIGKILL, a crash, a
    /// power cut): uncommitted work, not part of the archive; the next writer removes them.
    LeftoverStaging,
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
    /// Whether `visitrec repair` can fix it: a missing or modified derived file
    /// (`normalized.wav`, `segments/NNN.wav`) whose recording's original and
    /// `recording.json` show no problem (with `--fast`: are present), and the Payload-Oxum
    /// when every payload problem is such a file.
    pub repairable: bool,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no problem was found.
    pub ok: bool,
    /// The bag verified, as given.
    pub path: String,
    /// Whether it is a visitrec `archive`, an `export`, or `other` (a bag of another tool's).
    pub bag: BagKind,
    /// The software that verified it (`visitrec/VERSION`).
    pub tool: String,
    /// When the verification started (RFC 3339, UTC).
    pub checked_at: String,
    /// How many recordings the bag holds.
    pub recordings: u64,
    /// Files whose content was read and hashed.
    pub files_checked: u64,
    /// Files opened with the key given (`-i`/`--passphrase`), the plaintext manifest
    /// included; 0 without one.
    pub files_decrypted: u64,
    /// Bytes read and hashed.
    pub bytes_checked: u64,
    /// Everything found, sorted by path.
    pub problems: Vec<Problem>,
    /// Findings that do not fail verification, sorted by path.
    pub warnings: Vec<Warning>,
}

impl ProblemKind {
    /// Every kind, in the order of the documentation.
    pub const ALL: [ProblemKind; 16] = [
        ProblemKind::Missing,
        ProblemKind::Modified,
        ProblemKind::Extra,
        ProblemKind::BadManifest,
        ProblemKind::BadMetadata,
        ProblemKind::Oxum,
        ProblemKind::AuditChain,
        ProblemKind::NoConsent,
        ProblemKind::Decrypt,
        ProblemKind::Symlink,
        ProblemKind::BadJournal,
        ProblemKind::ConsentMismatch,
        ProblemKind::HistoryMismatch,
        ProblemKind::NotVisitrec,
        ProblemKind::Anchor,
        ProblemKind::Checkpoint,
    ];

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
            ProblemKind::ConsentMismatch => "consent-mismatch",
            ProblemKind::HistoryMismatch => "history-mismatch",
            ProblemKind::NotVisitrec => "not-visitrec",
            ProblemKind::Anchor => "anchor",
            ProblemKind::Checkpoint => "checkpoint",
        }
    }
}

/// What kind of bag was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BagKind {
    /// A visitrec archive.
    Archive,
    /// A visitrec export (encrypted).
    Export,
    /// The plaintext bag `decrypt` makes of an export.
    DecryptedExport,
    /// A bag that is not visitrec's.
    Other,
}

impl Report {
    /// 0 when intact, 1 when problems were found.
    pub fn exit_code(&self) -> Exit {
        Exit::problems_unless(self.ok)
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
    // A path that is no bag is refused before anything else.
    open_bag(path)?;
    let checked_at = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default();
    let snapshot = manifests_now(path)?;
    // Opened after the snapshot, so what the checks read of the manifests is never older
    // than the snapshot: a commit landing between the two then shows as a change at the end
    // (and its files are not reported), instead of both snapshots being newer than the
    // manifests the checks compared the payload with.
    let archive = open_bag(path)?;
    let mut v = Verifier::start(&archive)?;
    let bag = v.check_bag()?;
    v.check_visitrec(path, opts, &bag)?;
    v.report(path, &bag, checked_at, &snapshot)
}

/// Opens the bag at `path` for verification. A folder with a manifest but no bagit.txt is
/// a damaged bag, opened unchecked so it is reported as such; one with neither is not a
/// bag, and `Archive::open` says so.
fn open_bag(path: &Path) -> Result<Archive> {
    let has_manifest = manifest_names(path).is_ok_and(|names| !names.is_empty());
    if has_manifest {
        Archive::open_unchecked(path)
    } else {
        Archive::open(path)
    }
}

/// What the bag-level checks found of a bag: its declaration, manifests, payload and
/// `bag-info.txt`, and what kind of bag it is.
struct Bag {
    decl: Declaration,
    manifests: Vec<Loaded>,
    listing: PayloadListing,
    info: BagInfo,
    /// An encrypted export.
    export: bool,
    /// The plaintext bag `decrypt` wrote: the recordings and their metadata, with no
    /// audit log.
    opened: bool,
    /// A visitrec bag of any kind (archive, export or decrypted export).
    visitrec: bool,
    /// The SHA-256 payload manifest (empty when absent).
    manifest: Manifest,
    /// The SHA-256 tag manifest (empty when absent).
    tag_manifest: Manifest,
}

impl Bag {
    /// What kind of bag it is, for the report.
    fn kind(&self) -> BagKind {
        match (self.export, self.opened, self.visitrec) {
            (true, _, _) => BagKind::Export,
            (false, true, _) => BagKind::DecryptedExport,
            (false, false, true) => BagKind::Archive,
            (false, false, false) => BagKind::Other,
        }
    }
}

impl<'a> Verifier<'a> {
    /// A verifier for `archive`, with its audit log read and parsed.
    fn start(archive: &'a Archive) -> Result<Verifier<'a>> {
        let mut v = Verifier {
            archive,
            problems: Vec::new(),
            warnings: Vec::new(),
            files_checked: 0,
            files_decrypted: 0,
            bytes_checked: 0,
            log: String::new(),
            entries: Vec::new(),
        };
        v.log = v.text(AUDIT_LOG)?.unwrap_or_default();
        v.entries = audit::entries(&v.log);
        Ok(v)
    }
}

impl Verifier<'_> {
    /// The checks any BagIt bag gets: the journal, staging leftovers, symlinks,
    /// `bagit.txt`, `fetch.txt`, the manifests, the payload's presence and `bag-info.txt`.
    /// Then says what kind of bag it is, and checks a visitrec bag's declaration and
    /// manifests (or that another bag has a payload manifest at all).
    fn check_bag(&mut self) -> Result<Bag> {
        let archive = self.archive;
        self.check_journal();
        self.check_staging()?;
        for link in archive.links_outside_data()? {
            self.problem(&link, ProblemKind::Symlink, LINK_DETAIL);
        }
        let decl = self.check_bagit_txt()?;
        // An unreadable encoding is reported once, on bagit.txt; the rest is read as UTF-8.
        let encoding = decl
            .encoding
            .as_deref()
            .filter(|e| bagit::is_readable_encoding(e))
            .unwrap_or("UTF-8");
        self.check_fetch(encoding)?;
        let manifests = self.load_manifests(encoding)?;
        let listing = archive.payload_listing()?;
        for link in &listing.links {
            self.problem(link, ProblemKind::Symlink, LINK_DETAIL);
        }
        self.check_presence(&manifests, &listing);
        let info = self.check_bag_info(&listing, encoding, decl.is_1_0())?;
        let export = crate::export::is_export(&info);
        let opened = crate::export::is_opened_export(&info);
        let visitrec = export || opened || is_visitrec(archive, &info, &manifests, &listing);
        if visitrec {
            self.check_visitrec_bag(&decl, &manifests);
        } else if !manifests.iter().any(|m| m.payload) {
            self.problem(
                ".",
                ProblemKind::BadManifest,
                "no payload manifest (manifest-<algorithm>.txt)",
            );
        }
        let sha256 = |payload: bool| {
            manifests
                .iter()
                .find(|m| m.payload == payload && m.algorithm == Algorithm::Sha256)
                .map(|m| m.manifest.clone())
                .unwrap_or_default()
        };
        let (manifest, tag_manifest) = (sha256(true), sha256(false));
        Ok(Bag {
            decl,
            manifests,
            listing,
            info,
            export,
            opened,
            visitrec,
            manifest,
            tag_manifest,
        })
    }

    /// The checks of a visitrec bag, as `opts` asks: required files, history (archives
    /// only), tag files, payload hashes, the export layout or the recordings and audit log,
    /// decryption with `opts.identities`, and consent. Fails on an option the bag cannot
    /// take (an archive's option given for an export, `--identity` for a non-export).
    fn check_visitrec(&mut self, path: &Path, opts: &VerifyOptions, bag: &Bag) -> Result<()> {
        let (export, opened, visitrec) = (bag.export, bag.opened, bag.visitrec);
        if visitrec {
            self.check_required(&bag.tag_manifest, &bag.manifest, export || opened)?;
        }
        if export || opened {
            refuse_archive_options(path, opts, opened)?;
        } else if visitrec {
            self.check_history(opts)?;
        }
        if !opts.fast {
            self.check_tag_files(&bag.manifests);
            self.check_payload_hashes(&bag.manifests, &bag.listing);
            if export {
                self.check_export_layout(&bag.manifest)?;
            } else if visitrec {
                // A decrypted export may hold originals stripped of their metadata.
                let stripped = match opened {
                    true => self.stripped()?,
                    false => Default::default(),
                };
                let (recordings, tombstones) = self.check_recordings(&bag.manifest, &stripped);
                if !opened {
                    self.check_audit(&recordings, &tombstones)?;
                }
            }
        }
        if let Some(ids) = &opts.identities {
            if !export {
                return Err(Error::NeedsExport {
                    path: path.to_path_buf(),
                    flag: "--identity",
                });
            }
            let check = crate::export::check_decryption(path, ids)?;
            self.files_decrypted = check.files;
            for (file, why) in check.problems {
                self.problem(&file, ProblemKind::Decrypt, why);
            }
        }
        if opts.require_consent && !export {
            self.check_consent(&bag.manifest);
        }
        Ok(())
    }

    /// The report of what was found: problems in files a writer committed during the run
    /// (manifests then differ from `snapshot`) left out, a `not-visitrec` problem for
    /// another tool's bag, repairable problems marked, warnings on loose permissions added,
    /// everything sorted.
    fn report(
        self,
        path: &Path,
        bag: &Bag,
        checked_at: jiff::Timestamp,
        snapshot: &(String, String),
    ) -> Result<Report> {
        let (export, visitrec) = (bag.export, bag.visitrec);
        let mut problems = self.problems;
        // A writer may have committed while we read: what it changed is not a problem.
        let changed = changed_between(snapshot, &manifests_now(path)?);
        if !changed.is_empty() {
            problems.retain(|p| !changed.contains(&p.path) && p.kind != ProblemKind::Oxum);
        }
        if !visitrec {
            let detail = not_visitrec_detail(
                &bag.decl,
                &bag.info,
                &bag.manifests,
                &bag.listing,
                problems.is_empty(),
            );
            problems.push(Problem {
                path: ".".into(),
                kind: ProblemKind::NotVisitrec,
                detail,
                repairable: false,
            });
        }
        if visitrec && !export {
            mark_repairable(self.archive, &bag.manifest, &mut problems);
        }
        problems.sort();
        problems.dedup();
        let mut warnings = self.warnings;
        warnings.extend(
            crate::archive::loose_permissions(path, true, &bag.listing.loose_dirs)
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
            path: path.display().to_string(),
            bag: bag.kind(),
            tool: crate::archive::software_agent(),
            checked_at: checked_at.to_string(),
            recordings: crate::archive::ids_in(&bag.manifest).len() as u64,
            files_checked: self.files_checked,
            files_decrypted: self.files_decrypted,
            bytes_checked: self.bytes_checked,
            problems,
            warnings,
        })
    }
}

/// Fails with `Error::NeedsArchive` when `opts` asks for a check only an archive can have
/// (`--anchor`, `--allowed-signers`, and for the bag `decrypt` wrote (`opened`),
/// `--require-consent`), in that order.
fn refuse_archive_options(path: &Path, opts: &VerifyOptions, opened: bool) -> Result<()> {
    let needs = |flag| {
        Err(Error::NeedsArchive {
            path: path.to_path_buf(),
            flag,
        })
    };
    if !opts.anchors.is_empty() {
        return needs("--anchor");
    }
    if opts.allowed_signers.is_some() {
        return needs("--allowed-signers");
    }
    if opened && opts.require_consent {
        return needs("--require-consent");
    }
    Ok(())
}

/// `data/<id>/normalized.wav`, `data/<id>/envelope.json` or `data/<id>/segments/NNN.wav`:
/// a file `repair` can make again; its recording id.
fn derived_of(path: &str) -> Option<&str> {
    let (id, file) = path.strip_prefix("data/")?.split_once('/')?;
    let segment = file
        .strip_prefix("segments/")
        .is_some_and(|n| !n.contains('/') && n.len() > 4 && n.ends_with(".wav"));
    let made = [
        crate::pipeline::NORMALIZED_WAV,
        crate::envelope::ENVELOPE_JSON,
    ]
    .contains(&file);
    (record::is_valid_id(id) && (made || segment)).then_some(id)
}

/// Marks the problems `repair` can fix (see [`Problem::repairable`]): a missing or
/// modified derived file of a recording whose other files (its original, its
/// `recording.json`) have no problem, and whose `recording.json` records how the file was
/// made.
fn mark_repairable(archive: &Archive, manifest: &Manifest, problems: &mut [Problem]) {
    use std::collections::BTreeSet;
    // Recordings whose original or recording.json is missing, damaged or inconsistent, or
    // that hold a symbolic link.
    let blocked: BTreeSet<String> = problems
        .iter()
        .filter(|p| {
            // A link is never replaced, wherever it is.
            p.kind == ProblemKind::Symlink
                || derived_of(&p.path).is_none()
                    && matches!(
                        p.kind,
                        ProblemKind::Missing
                            | ProblemKind::Modified
                            | ProblemKind::BadMetadata
                            | ProblemKind::Symlink
                    )
        })
        .filter_map(|p| {
            let (id, _) = p.path.strip_prefix("data/")?.split_once('/')?;
            Some(id.to_string())
        })
        .collect();
    let mut settled: BTreeMap<String, Option<Recording>> = BTreeMap::new();
    for p in problems.iter_mut() {
        let Some(id) = derived_of(&p.path) else {
            continue;
        };
        if !matches!(p.kind, ProblemKind::Missing | ProblemKind::Modified) || blocked.contains(id) {
            continue;
        }
        let rec = settled.entry(id.to_string()).or_insert_with(|| {
            let json = record::payload_path(id, RECORDING_JSON);
            let rec = archive.read(&json).ok()?;
            let rec = Recording::from_json(&rec).ok()?;
            manifest
                .entries
                .contains_key(&rec.source.stored_as)
                .then_some(rec)
        });
        p.repairable = rec.as_ref().is_some_and(|r| {
            let made = |path: &str| {
                r.normalized
                    .as_ref()
                    .is_some_and(|n| n.path == path || n.envelope.as_deref() == Some(path))
            };
            let cut =
                |path: &str| r.segmentation.is_some() && r.segments.iter().any(|s| s.path == path);
            made(&p.path) || cut(&p.path)
        });
    }
    let payload = |p: &Problem| {
        p.path.starts_with("data/")
            && matches!(
                p.kind,
                ProblemKind::Missing | ProblemKind::Modified | ProblemKind::Extra
            )
    };
    let any = problems.iter().any(|p| p.repairable);
    let all = problems.iter().filter(|p| payload(p)).all(|p| p.repairable);
    if any && all {
        for p in problems.iter_mut().filter(|p| p.kind == ProblemKind::Oxum) {
            p.repairable = true;
        }
    }
}

/// The manifest and tag manifest files at the top of the bag (`manifest-*.txt`,
/// `tagmanifest-*.txt`), sorted by name.
fn manifest_names(root: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let name = entry?.file_name();
        if let Some(name) = name.to_str()
            && bagit::manifest_file_kind(name).is_some()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// What marks a bag as visitrec's: its private folder, its software agent in
/// `bag-info.txt`, or a recording (`data/<id>/recording.json`).
fn is_visitrec(
    archive: &Archive,
    info: &BagInfo,
    manifests: &[Loaded],
    listing: &PayloadListing,
) -> bool {
    let meta = std::fs::symlink_metadata(archive.root().join(META_DIR));
    meta.is_ok_and(|m| m.is_dir())
        || info
            .get("Bag-Software-Agent")
            .is_some_and(|a| a.starts_with("visitrec/"))
        || has_recording(listing.files.keys())
        || manifests
            .iter()
            .any(|m| m.payload && has_recording(m.manifest.entries.keys()))
}

/// Whether any of `paths` is a `data/<id>/recording.json`.
fn has_recording<'a>(mut paths: impl Iterator<Item = &'a String>) -> bool {
    paths.any(|p| {
        p.strip_prefix("data/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(id, file)| !id.is_empty() && file == RECORDING_JSON)
    })
}

/// One line saying that (and why) a bag is not a visitrec archive, and what it holds.
fn not_visitrec_detail(
    decl: &Declaration,
    info: &BagInfo,
    manifests: &[Loaded],
    listing: &PayloadListing,
    valid: bool,
) -> String {
    let what = match (valid, decl.version) {
        (true, Some(v)) => format!("a valid BagIt {v} bag, but not a visitrec archive"),
        (true, None) => "a valid BagIt bag, but not a visitrec archive".to_string(),
        (false, _) => "not a visitrec archive either".to_string(),
    };
    let agent = match info.get("Bag-Software-Agent") {
        Some(a) => format!("its Bag-Software-Agent is {a:?}"),
        None => "no Bag-Software-Agent".to_string(),
    };
    let n = listing.files.len();
    let mut found = vec![format!("{n} payload file{}", if n == 1 { "" } else { "s" })];
    found.extend(manifests.iter().map(|m| m.name.clone()));
    format!(
        "{what}: no {META_DIR}/ folder, no data/<id>/{RECORDING_JSON} and {agent} (found {})",
        found.join(", ")
    )
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
    files_decrypted: u64,
    bytes_checked: u64,
    /// The audit log's text (empty when there is none), read once for every check.
    log: String,
    /// Its entries, parsed once.
    entries: Vec<audit::Entry>,
}

impl Verifier<'_> {
    fn problem(&mut self, path: &str, kind: ProblemKind, detail: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_string(),
            kind,
            detail: detail.into(),
            repairable: false,
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

    /// Staging left by a killed writer is reported, with its size.
    fn check_staging(&mut self) -> Result<()> {
        if let Some(left) = self.archive.leftover_staging()? {
            self.warnings.push(Warning {
                path: format!("{META_DIR}/staging"),
                kind: WarningKind::LeftoverStaging,
                detail: format!(
                    "{} file(s), {:.1} MB in {META_DIR}/staging from an interrupted run; the \
                     next write removes them",
                    left.files,
                    left.bytes as f64 / 1e6
                ),
            });
        }
        Ok(())
    }

    /// `rel`'s committed bytes, or `None` when it does not exist.
    /// A tag file that is a link or not a regular file is reported (as `symlink` or
    /// `extra`) and otherwise treated as absent, never read through.
    fn read_opt(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        match self.archive.read(rel) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(Error::Symlink(_) | Error::BadFile { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Verifier::read_opt`] as text.
    fn text(&self, rel: &str) -> Result<Option<String>> {
        Ok(self
            .read_opt(rel)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// `bagit.txt` must be exactly what RFC 8493 §2.1.1 describes.
    fn check_bagit_txt(&mut self) -> Result<Declaration> {
        let Some(bytes) = self.read_opt(BAGIT_TXT)? else {
            self.problem(BAGIT_TXT, ProblemKind::BadManifest, "bagit.txt is missing");
            return Ok(Declaration::default());
        };
        let (decl, issues) = Declaration::parse(&bytes);
        self.line_issues(BAGIT_TXT, &issues);
        if let Some(enc) = &decl.encoding
            && !bagit::is_readable_encoding(enc)
        {
            self.problem(
                BAGIT_TXT,
                ProblemKind::BadManifest,
                format!(
                    "Tag-File-Character-Encoding {enc} is not one visitrec reads ({})",
                    bagit::READABLE_ENCODINGS
                ),
            );
        }
        Ok(decl)
    }

    /// A visitrec archive is never holey: a `fetch.txt` is refused, whatever it lists.
    fn check_fetch(&mut self, encoding: &str) -> Result<()> {
        let Some(bytes) = self.read_opt(FETCH_TXT)? else {
            return Ok(());
        };
        let (text, _) = bagit::decode_tag_file(&bytes, encoding);
        let (entries, issues) = bagit::parse_fetch(&text);
        let asks = match entries.first() {
            Some(e) => format!(
                "it asks for {} file(s) to be downloaded, the first {:?} from {}",
                entries.len(),
                e.path,
                e.url
            ),
            None => "it lists no file".to_string(),
        };
        self.problem(
            FETCH_TXT,
            ProblemKind::BadManifest,
            format!(
                "fetch.txt is refused: a visitrec archive is never holey and verify downloads \
                 nothing; {asks}"
            ),
        );
        self.line_issues(FETCH_TXT, &issues);
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

    /// Parses every `manifest-*.txt` and `tagmanifest-*.txt`; defects become problems.
    /// Payload manifests may list only `data/` paths; tag manifests may list none.
    fn load_manifests(&mut self, encoding: &str) -> Result<Vec<Loaded>> {
        let root = self.archive.root();
        let mut names = manifest_names(root).map_err(|e| Error::io(root, e))?;
        // Committed but not yet moved into place by an interrupted writer.
        for name in [MANIFEST, TAG_MANIFEST] {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        let mut out = Vec::new();
        for name in names {
            let Some((payload, alg_name)) = bagit::manifest_file_kind(&name) else {
                continue;
            };
            let Some(algorithm) = Algorithm::from_name(alg_name) else {
                let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                self.problem(
                    &name,
                    ProblemKind::BadManifest,
                    format!(
                        "{alg_name:?} is not a digest visitrec can check ({}), so this \
                         manifest cannot vouch for anything",
                        known.join(", ")
                    ),
                );
                continue;
            };
            let Some(bytes) = self.read_opt(&name)? else {
                continue;
            };
            let (text, why) = bagit::decode_tag_file(&bytes, encoding);
            if let Some(why) = why {
                self.problem(&name, ProblemKind::BadManifest, why);
            }
            let (mut m, issues) = Manifest::parse_for(&text, algorithm);
            self.line_issues(&name, &issues);
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
                self.problem(&name, ProblemKind::BadManifest, format!("{why}: {p:?}"));
                m.entries.remove(&p);
            }
            out.push(Loaded {
                name,
                algorithm,
                payload,
                manifest: m,
            });
        }
        Ok(out)
    }

    /// Every payload manifest must list every payload file, and each file it lists must
    /// be there (RFC 8493 §3).
    fn check_presence(&mut self, manifests: &[Loaded], listing: &PayloadListing) {
        let payload: Vec<&Loaded> = manifests.iter().filter(|m| m.payload).collect();
        let mut listed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for m in &payload {
            for path in m.manifest.entries.keys() {
                listed.entry(path).or_default().push(&m.name);
            }
        }
        for (path, names) in listed {
            if !listing.files.contains_key(path) {
                self.problem(
                    path,
                    ProblemKind::Missing,
                    format!("listed in {} but absent", names.join(", ")),
                );
            }
        }
        for path in listing.files.keys() {
            let not_in: Vec<&str> = payload
                .iter()
                .filter(|m| !m.manifest.entries.contains_key(path))
                .map(|m| m.name.as_str())
                .collect();
            if payload.is_empty() {
                self.problem(
                    path,
                    ProblemKind::Extra,
                    "not listed in any payload manifest",
                );
            } else if !not_in.is_empty() {
                self.problem(
                    path,
                    ProblemKind::Extra,
                    format!("not listed in {}", not_in.join(", ")),
                );
            }
        }
        for (path, why) in &listing.oddities {
            self.problem(path, ProblemKind::Extra, why.clone());
        }
    }

    /// Parses `bag-info.txt` (by 1.0's rules when `strict`) and checks its Payload-Oxum.
    fn check_bag_info(
        &mut self,
        listing: &PayloadListing,
        encoding: &str,
        strict: bool,
    ) -> Result<BagInfo> {
        let bytes = self.read_opt(BAG_INFO)?.unwrap_or_default();
        let (text, why) = bagit::decode_tag_file(&bytes, encoding);
        if let Some(why) = why {
            self.problem(BAG_INFO, ProblemKind::BadManifest, why);
        }
        let (info, issues) = BagInfo::parse_as(&text, strict);
        self.line_issues(BAG_INFO, &issues);
        let Some(raw) = info.get("Payload-Oxum") else {
            return Ok(info);
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
        Ok(info)
    }

    /// What visitrec asks of its own bags beyond RFC 8493: a SHA-256 payload manifest and
    /// UTF-8 tag files.
    fn check_visitrec_bag(&mut self, decl: &Declaration, manifests: &[Loaded]) {
        if !manifests
            .iter()
            .any(|m| m.payload && m.algorithm == Algorithm::Sha256)
        {
            self.problem(
                MANIFEST,
                ProblemKind::BadManifest,
                "payload manifest is missing",
            );
        }
        if let Some(enc) = &decl.encoding
            && !enc.eq_ignore_ascii_case("UTF-8")
        {
            self.problem(
                BAGIT_TXT,
                ProblemKind::BadManifest,
                format!("Tag-File-Character-Encoding is {enc}; a visitrec archive's is UTF-8"),
            );
        }
    }

    /// Every tag manifest entry, each file read once for all the algorithms listing it.
    fn check_tag_files(&mut self, manifests: &[Loaded]) {
        let want = wanted(manifests.iter().filter(|m| !m.payload));
        for (path, list) in want {
            let result = self.hash_with(path, &list);
            self.compare(path, &list, result, "tagmanifest");
        }
    }

    /// Hashes every payload file that is listed and present, in parallel, with every
    /// algorithm whose manifest lists it.
    fn check_payload_hashes(&mut self, manifests: &[Loaded], listing: &PayloadListing) {
        let want: Vec<_> = wanted(manifests.iter().filter(|m| m.payload))
            .into_iter()
            .filter(|(p, _)| listing.files.contains_key(*p))
            .collect();
        let results: Vec<_> = want
            .par_iter()
            .map(|(p, list)| self.hash_with(p, list))
            .collect();
        for ((path, list), result) in want.iter().zip(results) {
            self.compare(path, list, result, "manifest");
        }
    }

    /// Reports each digest of `path` that differs from what its manifest says.
    fn compare(
        &mut self,
        path: &str,
        list: &[(Algorithm, &str)],
        result: std::result::Result<(u64, Vec<String>), String>,
        says: &str,
    ) {
        match result {
            Ok((size, digests)) => {
                self.files_checked += 1;
                self.bytes_checked += size;
                for ((alg, expected), got) in list.iter().zip(digests) {
                    if got != *expected {
                        self.problem(
                            path,
                            ProblemKind::Modified,
                            format!("{} is {got}, {says} says {expected}", alg.name()),
                        );
                    }
                }
            }
            Err(detail) => self.problem(path, ProblemKind::Missing, detail),
        }
    }

    /// Each `data/<id>/recording.json` must parse, name its own folder, and describe the
    /// original it sits beside (as the manifest records it: a changed original is already
    /// reported as `modified`).
    fn check_recordings(
        &mut self,
        manifest: &Manifest,
        stripped: &std::collections::BTreeSet<String>,
    ) -> (Vec<Recording>, Vec<String>) {
        let mut loaded = Vec::new();
        let mut folders: BTreeMap<&str, bool> = BTreeMap::new();
        let mut purged: BTreeMap<&str, usize> = BTreeMap::new();
        for path in manifest.entries.keys() {
            let rest = &path["data/".len()..];
            match rest.split_once('/') {
                Some((id, file)) => {
                    let has = folders.entry(id).or_default();
                    *has |= file == RECORDING_JSON;
                    *purged.entry(id).or_default() += usize::from(file == TOMBSTONE_JSON);
                }
                None => self.problem(
                    path,
                    ProblemKind::BadMetadata,
                    "payload file outside a recording folder",
                ),
            }
        }
        let mut tombstones = Vec::new();
        for (id, has_json) in folders {
            let json_path = record::payload_path(id, RECORDING_JSON);
            if purged.get(id).is_some_and(|n| *n > 0) {
                if self.check_tombstone(manifest, id, has_json) {
                    tombstones.push(id.to_string());
                }
                continue;
            }
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
            self.check_envelope(manifest, &rec);
            let stored = &rec.source.stored_as;
            match manifest.entries.get(stored) {
                Some(sha) if *sha == rec.source.sha256 || stripped.contains(stored) => {}
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
            if rec.id == id {
                loaded.push(rec);
            }
        }
        (loaded, tombstones)
    }

    /// The originals a decrypted export's [`crate::export::METADATA_STRIPPED`] lists (their
    /// bytes are a stripped copy's, not the original's whose hash `recording.json` has);
    /// a line that is not an original's path is a problem.
    fn stripped(&mut self) -> Result<std::collections::BTreeSet<String>> {
        let list = crate::export::read_stripped(self.archive)?;
        for (line, why) in list.issues {
            self.problem(
                crate::export::METADATA_STRIPPED,
                ProblemKind::BadMetadata,
                format!("line {line}: {why}"),
            );
        }
        Ok(list.paths)
    }

    /// The `envelope.json` a recording names (when the manifest lists it: otherwise that is
    /// already reported) must be one `plot` and `report` would accept.
    fn check_envelope(&mut self, manifest: &Manifest, rec: &Recording) {
        let Some(rel) = rec.normalized.as_ref().and_then(|n| n.envelope.as_deref()) else {
            return;
        };
        if !manifest.entries.contains_key(rel) {
            return;
        }
        if let Err(Error::BadFile { reason, .. }) = crate::envelope::load(self.archive, rec) {
            self.problem(rel, ProblemKind::BadMetadata, reason);
        }
    }

    /// A purged recording's folder holds its `tombstone.json` and nothing else, and the
    /// tombstone must parse and name its folder. Whether it reads.
    fn check_tombstone(&mut self, manifest: &Manifest, id: &str, has_json: bool) -> bool {
        let path = record::payload_path(id, TOMBSTONE_JSON);
        let prefix = format!("data/{id}/");
        // Only this folder's entries: a range of the sorted manifest, not a scan of it.
        let others: Vec<&String> = manifest
            .entries
            .range(prefix.clone()..)
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(&prefix))
            .filter(|p| **p != path)
            .collect();
        if has_json || !others.is_empty() {
            self.problem(
                &path,
                ProblemKind::BadMetadata,
                format!(
                    "a purged recording's folder holds only its tombstone, but the manifest also lists {}",
                    others.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        let Ok(bytes) = self.archive.read(&path) else {
            return false; // already reported as missing
        };
        match Tombstone::from_json(&bytes) {
            Ok(t) if t.id == id => true,
            Ok(t) => {
                let why = format!("id {} does not match its folder {id}", t.id);
                self.problem(&path, ProblemKind::BadMetadata, why);
                false
            }
            Err(e) => {
                self.problem(&path, ProblemKind::BadMetadata, e);
                false
            }
        }
    }

    /// An export holds only `.age` files, and its [`crate::export::METADATA_STRIPPED`]
    /// lists only originals it holds (checked without the key).
    fn check_export_layout(&mut self, manifest: &Manifest) -> Result<()> {
        let list = crate::export::read_stripped(self.archive)?;
        for (line, why) in list.issues {
            let why = format!("line {line}: {why}");
            self.problem(
                crate::export::METADATA_STRIPPED,
                ProblemKind::BadMetadata,
                why,
            );
        }
        for p in list.paths {
            if !manifest.entries.contains_key(&format!("{p}.age")) {
                let why = format!("lists {p}, which the export does not contain");
                self.problem(
                    crate::export::METADATA_STRIPPED,
                    ProblemKind::BadMetadata,
                    why,
                );
            }
        }
        for path in manifest.entries.keys() {
            match path.strip_suffix(".age") {
                None => self.problem(
                    path,
                    ProblemKind::BadMetadata,
                    "an export holds only .age files",
                ),
                Some(_) if path == crate::export::PLAINTEXT_MANIFEST => {}
                Some(plain) => {
                    if let Err(why) = crate::export::plain_file_kind(plain) {
                        let why = format!("would decrypt to {plain:?}, {why}");
                        self.problem(path, ProblemKind::BadMetadata, why);
                    }
                }
            }
        }
        Ok(())
    }

    /// The audit log, when there is one, must be an unbroken hash chain, and it must
    /// explain every recording's consent history, ingest and tag keys (see
    /// [`crate::replay`]).
    fn check_audit(&mut self, recordings: &[Recording], tombstones: &[String]) -> Result<()> {
        for b in audit::check(&self.log) {
            self.problem(
                AUDIT_LOG,
                ProblemKind::AuditChain,
                format!("line {}: {}", b.line, b.reason),
            );
        }
        for pair in self.entries.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if let (Ok(ta), Ok(tb)) = (
                a.at.parse::<jiff::Timestamp>(),
                b.at.parse::<jiff::Timestamp>(),
            ) && tb < ta
            {
                self.warnings.push(Warning {
                    path: AUDIT_LOG.into(),
                    kind: WarningKind::ClockBackwards,
                    detail: format!(
                        "line {} ({}) is dated before line {} ({}): a writer's clock ran behind",
                        b.seq, b.at, a.seq, a.at
                    ),
                });
            }
        }
        for m in crate::replay::check(&self.entries, recordings) {
            let kind = if m.consent {
                ProblemKind::ConsentMismatch
            } else {
                ProblemKind::HistoryMismatch
            };
            self.problem(&record::payload_path(&m.id, RECORDING_JSON), kind, m.detail);
        }
        for m in crate::replay::check_tombstones(&self.entries, tombstones) {
            let path = record::payload_path(&m.id, TOMBSTONE_JSON);
            self.problem(&path, ProblemKind::HistoryMismatch, m.detail);
        }
        Ok(())
    }

    /// The tag manifest is required, and must list every tag file visitrec writes that is
    /// there; an archive with recordings must have an audit log (every change is logged, so
    /// a missing one was deleted). Exports have no audit log.
    fn check_required(&mut self, tags: &Manifest, manifest: &Manifest, export: bool) -> Result<()> {
        if self.text(TAG_MANIFEST)?.is_none() {
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
                crate::archive::CHECKPOINTS,
                crate::export::METADATA_STRIPPED,
            ] {
                if !tags.entries.contains_key(name) && self.text(name)?.is_some() {
                    self.problem(
                        TAG_MANIFEST,
                        ProblemKind::BadManifest,
                        format!("does not list the tag file {name}"),
                    );
                }
            }
        }
        let empty_log = self.log.is_empty();
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
        use crate::archive::CHECKPOINTS;
        for a in &opts.anchors {
            if let Some(why) = crate::anchor::check(&self.log, a) {
                self.problem(AUDIT_LOG, ProblemKind::Anchor, why);
            }
        }
        let checkpoints = self.text(CHECKPOINTS)?.unwrap_or_default();
        if checkpoints.is_empty() && opts.allowed_signers.is_none() {
            return Ok(());
        }
        let found =
            crate::checkpoint::check(&self.log, &checkpoints, opts.allowed_signers.as_ref());
        for why in found.problems {
            self.problem(CHECKPOINTS, ProblemKind::Checkpoint, why);
        }
        if opts.allowed_signers.is_none() {
            return Ok(());
        }
        let lines = self.log.lines().count() as u64;
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
        let today = consent::judging_day(&self.entries);
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

    /// `rel`'s size and digests by each of `list`'s algorithms, or why it cannot be read.
    fn hash_with(
        &self,
        rel: &str,
        list: &[(Algorithm, &str)],
    ) -> std::result::Result<(u64, Vec<String>), String> {
        let describe = |e: Error| match e {
            Error::Io { source, .. } => crate::failure::describe_io(&source),
            other => other.to_string(),
        };
        let algs: Vec<Algorithm> = list.iter().map(|(a, _)| *a).collect();
        // A tag file with a pending patch is hashed as committed (patched), not as on disk.
        if self.archive.is_patched(rel) {
            let bytes = self.archive.read(rel).map_err(describe)?;
            return hash::hash_reader_with(&bytes[..], &algs)
                .map_err(|e| crate::failure::describe_io(&e));
        }
        let file = self.archive.open_file(rel).map_err(describe)?;
        hash::hash_reader_with(file, &algs).map_err(|e| crate::failure::describe_io(&e))
    }
}

/// A manifest or tag manifest found in the bag, parsed.
struct Loaded {
    /// Its file name, e.g. `manifest-md5.txt`.
    name: String,
    /// The digest it uses.
    algorithm: Algorithm,
    /// A payload manifest (`manifest-*`), not a tag manifest (`tagmanifest-*`).
    payload: bool,
    /// Its entries.
    manifest: Manifest,
}

/// Path → every (algorithm, expected digest) the given manifests list for it.
fn wanted<'a>(
    manifests: impl Iterator<Item = &'a Loaded>,
) -> BTreeMap<&'a str, Vec<(Algorithm, &'a str)>> {
    let mut want: BTreeMap<&str, Vec<(Algorithm, &str)>> = BTreeMap::new();
    for m in manifests {
        for (path, digest) in &m.manifest.entries {
            want.entry(path)
                .or_default()
                .push((m.algorithm, digest.as_str()));
        }
    }
    want
}

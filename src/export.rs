//! Encrypted exports: a BagIt bag of `.age` files, checkable without the key, openable with
//! the stock `age` tool, and decryptable by `visitrec decrypt` into a plaintext BagIt bag
//! with end-to-end integrity.
//!
//! Layout (see `docs/FORMAT.md`):
//! ```text
//! OUT/bagit.txt, bag-info.txt, manifest-sha256.txt (ciphertexts), tagmanifest-sha256.txt
//! OUT/data/<id>/original.<ext>.age, normalized.wav.age, segments/NNN.wav.age, recording.json.age
//! OUT/data/plaintext-manifest-sha256.txt.age   the plaintexts' SHA-256, encrypted
//! ```
//! Each `.age` file decrypts to bytes identical to the archive's file. Nothing in the clear
//! names a patient or a tag: only ids, sizes and ciphertext hashes.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::bagit::{self, BagInfo, Manifest, Oxum};
use crate::archive::{Archive, BAG_INFO, BAGIT_TXT, DATA, MANIFEST, TAG_MANIFEST, Writer};
use crate::catalog;
use crate::consent::{self, Scope};
use crate::crypto::{self, Identities, Recipients};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::{self, Fixity};
use crate::record::{self, RECORDING_JSON};

/// The encrypted plaintext manifest inside an export.
pub const PLAINTEXT_MANIFEST: &str = "data/plaintext-manifest-sha256.txt.age";
/// The `bag-info.txt` label that marks an encrypted export.
pub const CONTENT_LABEL: &str = "Visitrec-Content";
/// Its value.
pub const CONTENT_EXPORT: &str = "encrypted-export";

/// A recording refused for export, and why.
struct Refusal {
    id: String,
    /// The reason's code for the audit log (`withdrawn`, `expired`, `unreadable`, …).
    code: &'static str,
    /// The reason in words, for the user.
    reason: String,
}

/// What goes into an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Include {
    /// The phone's original file.
    Original,
    /// `normalized.wav`.
    Normalized,
    /// The segment WAVs.
    Segments,
    /// `recording.json` (tags, marks, consent).
    Metadata,
}

impl std::str::FromStr for Include {
    type Err = Error;
    fn from_str(s: &str) -> Result<Include> {
        match s.trim() {
            "original" => Ok(Include::Original),
            "normalized" => Ok(Include::Normalized),
            "segments" => Ok(Include::Segments),
            "metadata" => Ok(Include::Metadata),
            other => Err(Error::Invalid(format!(
                "--include {other:?}: use original, normalized, segments, metadata"
            ))),
        }
    }
}

/// What to export, for what purpose, and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The purpose every recording's consent must cover.
    pub purpose: Scope,
    /// What to include; `None` means everything each recording has.
    pub include: Option<Vec<Include>>,
    /// The export folder to create.
    pub out: PathBuf,
}

/// One recording in an export.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// Its id.
    pub id: String,
    /// Payload paths of its `.age` files.
    pub files: Vec<String>,
}

/// What `encrypt` made.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The export folder.
    pub out: String,
    /// The recordings.
    pub recordings: Vec<Exported>,
    /// Bytes of plaintext encrypted.
    pub plaintext_bytes: u64,
    /// Public fingerprints of the recipients.
    pub recipients: Vec<String>,
    /// Things the user should know (e.g. an original that carries a location).
    pub warnings: Vec<String>,
}

/// Encrypts recordings `ids` of the archive held by `writer` into a new export bag.
/// Refuses (nothing written, exit code 3) when any recording's consent does not cover the
/// purpose today.
pub fn encrypt(
    writer: &mut Writer,
    ids: &[String],
    recipients: &Recipients,
    opts: &ExportOptions,
) -> Result<ExportReport> {
    if fs::read_dir(&opts.out).is_ok_and(|mut d| d.next().is_some())
        || (opts.out.exists() && !opts.out.is_dir())
    {
        return Err(Error::AlreadyExists(opts.out.clone()));
    }
    let archive = writer.archive();
    let today = consent::today();
    let mut refused = Vec::new();
    let mut plan: Vec<(String, String)> = Vec::new(); // (archive rel, export rel)
    let mut recordings = Vec::new();
    let mut warnings = Vec::new();
    // A consent history the audit log does not explain (a withdrawal deleted by hand) is
    // not believed.
    let log = archive
        .read_text(crate::audit::AUDIT_LOG)?
        .unwrap_or_default();
    let log = crate::audit::entries(&log);
    for id in ids {
        // Consent that cannot be read is consent that is not there: fail closed.
        let rec = match catalog::load(archive, id) {
            Ok(rec) => rec,
            Err(e @ (Error::BadFile { .. } | Error::Symlink(_))) => {
                refused.push(Refusal {
                    id: id.clone(),
                    code: "unreadable",
                    reason: format!("its consent cannot be read ({e})"),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(m) = crate::replay::check(&log, std::slice::from_ref(&rec))
            .into_iter()
            .find(|m| m.consent)
        {
            refused.push(Refusal {
                id: id.clone(),
                code: "consent-mismatch",
                reason: format!(
                    "its consent history does not match the audit log ({}); run `visitrec verify`",
                    m.detail
                ),
            });
            continue;
        }
        let state = consent::state(&rec.consent, today);
        if !state.covers(opts.purpose) {
            refused.push(Refusal {
                id: id.clone(),
                code: state.lapse(opts.purpose).as_str(),
                reason: format!(
                    "{}; on {today} it covers {}",
                    state.why_not(opts.purpose, &rec.consent),
                    state.covered()
                ),
            });
            continue;
        }
        let wanted = |i: Include| opts.include.as_ref().is_none_or(|v| v.contains(&i));
        let explicit = |i: Include| opts.include.as_ref().is_some_and(|v| v.contains(&i));
        let mut files = Vec::new();
        if wanted(Include::Original) {
            files.push(rec.source.stored_as.clone());
            if rec.source.has_location {
                warnings.push(format!(
                    "{id}: the original carries a location (GPS) tag, and the export includes it"
                ));
            }
        }
        match &rec.normalized {
            Some(n) if wanted(Include::Normalized) => files.push(n.path.clone()),
            None if explicit(Include::Normalized) => {
                return Err(Error::Invalid(format!(
                    "{id} has no normalized rendition; run `visitrec normalize` first"
                )));
            }
            _ => {}
        }
        if wanted(Include::Segments) {
            if rec.segments.is_empty() && explicit(Include::Segments) && rec.segmentation.is_none()
            {
                return Err(Error::Invalid(format!(
                    "{id} has not been segmented; run `visitrec segment` first"
                )));
            }
            files.extend(rec.segments.iter().map(|s| s.path.clone()));
        }
        if wanted(Include::Metadata) {
            files.push(record::payload_path(id, RECORDING_JSON));
        }
        if files.is_empty() {
            return Err(Error::Invalid(format!("nothing of {id} matches --include")));
        }
        let export_files: Vec<String> = files.iter().map(|f| format!("{f}.age")).collect();
        plan.extend(files.into_iter().zip(export_files.iter().cloned()));
        recordings.push(Exported {
            id: id.clone(),
            files: export_files,
        });
    }
    if !refused.is_empty() {
        // The refusal is part of the record too (ids, purpose, reason codes: no free text).
        let mut txn = writer.begin();
        txn.audit(
            "export-refused",
            refused.iter().map(|r| r.id.clone()).collect(),
            serde_json::json!({
                "purpose": opts.purpose,
                "consent_day": today.to_string(),
                "reasons": refused.iter().map(|r| r.code).collect::<Vec<_>>(),
            }),
        );
        txn.commit()?;
        return Err(Error::ConsentRefused {
            archive: writer.archive().root().to_path_buf(),
            purpose: opts.purpose.to_string(),
            refused: refused.into_iter().map(|r| (r.id, r.reason)).collect(),
        });
    }
    if plan.is_empty() {
        return Err(Error::Invalid("no recordings to export".into()));
    }

    let staging = Staging::new(&opts.out)?;
    let manifest = writer.manifest().clone();
    let results: Vec<Result<(String, Fixity, Fixity)>> = plan
        .par_iter()
        .map(|(src, dst)| {
            let target = staging.dir.join(dst);
            fsutil::create_dirs(target.parent().expect("payload path has a parent"))?;
            let input = archive.open_file(src)?;
            let output = fsutil::create_new(&target)?;
            let source = archive.root().join(src);
            let (plain, cipher) =
                crypto::encrypt_stream(recipients, input, &output, (&source, &target))?;
            output.sync_all().at(&target)?;
            if manifest.entries.get(src) != Some(&plain.sha256) {
                return Err(Error::BadFile {
                    path: archive.root().join(src),
                    reason: "does not match the archive manifest; run `visitrec verify`".into(),
                });
            }
            Ok((src.clone(), plain, cipher))
        })
        .collect();
    let mut plain_manifest = Manifest::default();
    let mut cipher_manifest = Manifest::default();
    let mut oxum = Oxum::default();
    let mut plaintext_bytes = 0;
    for (r, (_, dst)) in results.into_iter().zip(&plan) {
        let (src, plain, cipher) = r?;
        plain_manifest.entries.insert(src, plain.sha256);
        plaintext_bytes += plain.size;
        cipher_manifest.entries.insert(dst.clone(), cipher.sha256);
        oxum.octets += cipher.size;
        oxum.streams += 1;
    }
    let pm_path = staging.dir.join(PLAINTEXT_MANIFEST);
    let pm_file = fsutil::create_new(&pm_path)?;
    let (_, pm_cipher) = crypto::encrypt_stream(
        recipients,
        plain_manifest.render().as_bytes(),
        &pm_file,
        (&pm_path, &pm_path),
    )?;
    pm_file.sync_all().at(&pm_path)?;
    cipher_manifest
        .entries
        .insert(PLAINTEXT_MANIFEST.into(), pm_cipher.sha256);
    oxum.octets += pm_cipher.size;
    oxum.streams += 1;
    let mut info = BagInfo::default();
    info.set("Bagging-Date", today.to_string());
    info.set("Payload-Oxum", oxum.to_string());
    info.set("Bag-Software-Agent", crate::archive::software_agent());
    info.set(CONTENT_LABEL, CONTENT_EXPORT.into());
    info.set(
        "External-Description",
        "Recordings encrypted with age. Open a file with `age -d -i KEY FILE.age`, or \
         everything with `visitrec decrypt DIR --identity KEY --out PLAIN`."
            .into(),
    );
    write_tag_files(&staging.dir, &info, &cipher_manifest)?;
    staging.sync()?;

    // Put the export in place first, then log it: the log says only what was done. If
    // the log cannot be written, the export is taken back.
    let placed = staging.finish()?;
    let mut txn = writer.begin();
    txn.audit(
        "export",
        recordings.iter().map(|r| r.id.clone()).collect(),
        serde_json::json!({
            "purpose": opts.purpose,
            "consent_day": today.to_string(),
            "recipients": recipients.fingerprints(),
            "files": plan.len(),
        }),
    );
    if let Err(e) = txn.commit() {
        let _ = fsutil::remove_tree(&placed);
        return Err(e);
    }
    Ok(ExportReport {
        out: opts.out.display().to_string(),
        recordings,
        plaintext_bytes,
        recipients: recipients.fingerprints(),
        warnings,
    })
}

/// What `decrypt` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DecryptReport {
    /// The plaintext bag.
    pub out: String,
    /// Files decrypted and checked against the export's plaintext manifest.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Decrypts the export at `export` into a new plaintext BagIt bag at `out`, checking every
/// file against the encrypted plaintext manifest. On any failure nothing is left behind.
pub fn decrypt(export: &Path, identities: &Identities, out: &Path) -> Result<DecryptReport> {
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) || (out.exists() && !out.is_dir()) {
        return Err(Error::AlreadyExists(out.to_path_buf()));
    }
    let bag = Archive::open(export)?;
    let (expected, files) = plaintext_manifest(&bag, identities)?;
    let staging = Staging::new(out)?;
    let results: Vec<Result<Fixity>> = files
        .par_iter()
        .map(|(cipher_rel, plain_rel)| {
            let target = staging.dir.join(plain_rel);
            fsutil::create_dirs(target.parent().expect("payload path has a parent"))?;
            let input = bag.open_file(cipher_rel)?;
            let mut output = fsutil::create_new(&target)?;
            let fixity = crypto::decrypt_stream(identities, BufReader::new(input), &mut output)
                .map_err(|failure| Error::Decrypt {
                    path: export.join(cipher_rel),
                    failure,
                })?;
            output.sync_all().at(&target)?;
            if expected.entries.get(plain_rel) != Some(&fixity.sha256) {
                return Err(Error::BadFile {
                    path: export.join(cipher_rel),
                    reason: "decrypts to bytes that do not match the export's plaintext manifest"
                        .into(),
                });
            }
            Ok(fixity)
        })
        .collect();
    let mut oxum = Oxum::default();
    for r in results {
        let f = r?;
        oxum.octets += f.size;
        oxum.streams += 1;
    }
    if oxum.streams as usize != expected.entries.len() {
        return Err(Error::BadFile {
            path: export.join(PLAINTEXT_MANIFEST),
            reason: "lists files the export does not contain".into(),
        });
    }
    let mut info = BagInfo::default();
    info.set("Bagging-Date", consent::today().to_string());
    info.set("Payload-Oxum", oxum.to_string());
    info.set("Bag-Software-Agent", crate::archive::software_agent());
    write_tag_files(&staging.dir, &info, &expected)?;
    staging.sync()?;
    staging.finish()?;
    Ok(DecryptReport {
        out: out.display().to_string(),
        files: oxum.streams,
        bytes: oxum.octets,
    })
}

/// Decrypt-checks every file of an export without writing any plaintext: problems as
/// `(export path, reason)`.
pub fn check_decryption(export: &Path, identities: &Identities) -> Result<Vec<(String, String)>> {
    let bag = Archive::open(export)?;
    let (expected, files) = match plaintext_manifest(&bag, identities) {
        Ok(x) => x,
        Err(e) => return Ok(vec![(PLAINTEXT_MANIFEST.into(), e.to_string())]),
    };
    let problems: Vec<Option<(String, String)>> = files
        .par_iter()
        .map(|(cipher_rel, plain_rel)| {
            let result = bag
                .open_file(cipher_rel)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    crypto::decrypt_stream(identities, BufReader::new(f), std::io::sink())
                        .map_err(|e| e.to_string())
                });
            match result {
                Ok(f) if expected.entries.get(plain_rel) == Some(&f.sha256) => None,
                Ok(_) => Some((
                    cipher_rel.clone(),
                    "decrypts to bytes that do not match the plaintext manifest".into(),
                )),
                Err(why) => Some((cipher_rel.clone(), why)),
            }
        })
        .collect();
    Ok(problems.into_iter().flatten().collect())
}

/// Decrypts the plaintext manifest and pairs each `.age` payload file with its plain path.
fn plaintext_manifest(
    bag: &Archive,
    identities: &Identities,
) -> Result<(Manifest, Vec<(String, String)>)> {
    let cipher = bag.strict_manifest(MANIFEST)?;
    let input = bag
        .open_file(PLAINTEXT_MANIFEST)
        .map_err(|_| Error::NotArchive {
            path: bag.root().to_path_buf(),
            reason: format!("no {PLAINTEXT_MANIFEST}: not a visitrec export"),
        })?;
    let mut text = Vec::new();
    crypto::decrypt_stream(identities, BufReader::new(input), &mut text).map_err(|failure| {
        Error::Decrypt {
            path: bag.root().join(PLAINTEXT_MANIFEST),
            failure,
        }
    })?;
    let (expected, issues) = Manifest::parse(&String::from_utf8_lossy(&text));
    if let Some(i) = issues.first() {
        return Err(Error::BadFile {
            path: bag.root().join(PLAINTEXT_MANIFEST),
            reason: format!("line {}: {}", i.line, i.reason),
        });
    }
    let files: Vec<(String, String)> = cipher
        .entries
        .keys()
        .filter(|k| k.as_str() != PLAINTEXT_MANIFEST)
        .map(|k| {
            let plain = k.strip_suffix(".age").ok_or_else(|| Error::BadFile {
                path: bag.root().join(k),
                reason: "an export holds only .age files".into(),
            })?;
            Ok((k.clone(), plain.to_string()))
        })
        .collect::<Result<_>>()?;
    Ok((expected, files))
}

/// Writes `bagit.txt`, `bag-info.txt`, the payload manifest and the tag manifest.
fn write_tag_files(dir: &Path, info: &BagInfo, manifest: &Manifest) -> Result<()> {
    let files = [
        (BAGIT_TXT, bagit::BAGIT_TXT.to_string()),
        (BAG_INFO, info.render()),
        (MANIFEST, manifest.render()),
    ];
    let mut tags = Manifest::default();
    for (name, text) in &files {
        fsutil::write_new(&dir.join(name), text.as_bytes())?;
        tags.entries
            .insert(name.to_string(), hash::hash_bytes(text.as_bytes()).sha256);
    }
    fsutil::write_new(&dir.join(TAG_MANIFEST), tags.render().as_bytes())
}

/// A bag being built in a hidden sibling folder, renamed into place only when complete. A
/// failure (or drop before `finish`) removes it; one left by a killed process is removed
/// by the next run for the same destination.
struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Staging {
    fn new(dest: &Path) -> Result<Staging> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Invalid(format!("{}: not a folder name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let prefix = format!(".{name}.partial-");
        if let Ok(entries) = fs::read_dir(&parent) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    fsutil::remove_tree(&e.path())?;
                }
            }
        }
        let dir = parent.join(format!("{prefix}{}", std::process::id()));
        fsutil::create_dirs(&dir.join(DATA))?;
        Ok(Staging {
            dir,
            dest: dest.to_path_buf(),
            done: false,
        })
    }

    /// fsyncs every folder of the bag (files were fsynced as they were written).
    fn sync(&self) -> Result<()> {
        for e in walkdir::WalkDir::new(&self.dir) {
            let e = e.map_err(|e| Error::io(&self.dir, e.into()))?;
            if e.file_type().is_dir() {
                fsutil::sync_dir(e.path())?;
            }
        }
        Ok(())
    }

    /// Renames the bag into place; returns where it now is.
    fn finish(mut self) -> Result<PathBuf> {
        // An empty destination folder is replaced; rename(2) refuses a non-empty one.
        if self.dest.is_dir() {
            fs::remove_dir(&self.dest).at(&self.dest)?;
        }
        fs::rename(&self.dir, &self.dest).at(&self.dest)?;
        self.done = true;
        if let Some(parent) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsutil::sync_dir(parent)?;
        }
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fsutil::remove_tree(&self.dir);
        }
    }
}

/// Whether the bag at `root` says it is an encrypted export.
pub fn is_export(info: &BagInfo) -> bool {
    info.get(CONTENT_LABEL) == Some(CONTENT_EXPORT)
}

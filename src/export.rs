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
use crate::failure::DecryptFailure;
use crate::fsutil;
use crate::hash::{self, Fixity};
use crate::interrupt;
use crate::record::{self, RECORDING_JSON};

/// The encrypted plaintext manifest inside an export.
pub const PLAINTEXT_MANIFEST: &str = "data/plaintext-manifest-sha256.txt.age";
/// The `bag-info.txt` label that marks an encrypted export.
pub const CONTENT_LABEL: &str = "Visitrec-Content";
/// Its value in an export.
pub const CONTENT_EXPORT: &str = "encrypted-export";
/// Its value in the plaintext bag `decrypt` writes.
pub const CONTENT_OPENED: &str = "decrypted-export";
/// The tag file listing the originals exported without their metadata
/// (`encrypt --strip-metadata`), one plaintext path a line; `decrypt` copies it into the
/// plaintext bag.
pub const METADATA_STRIPPED: &str = "metadata-stripped.txt";
/// The `bag-info.txt` label giving how many originals were stripped.
pub const STRIPPED_LABEL: &str = "Visitrec-Metadata-Stripped";

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
    /// `normalized.wav` (and its `envelope.json`).
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
            other => Err(Error::BadValue {
                flag: "--include",
                value: other.to_string(),
                reason: "use original, normalized, segments, metadata".into(),
            }),
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
    /// Export the recordings consent covers and skip the others, instead of refusing all.
    pub skip_uncovered: bool,
    /// Write each original without its metadata tags ([`crate::audio::identifying::strip`]).
    pub strip_metadata: bool,
}

/// A recording left out of an export (`--skip-uncovered`) because consent does not cover it.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Its id.
    pub id: String,
    /// Why, in words.
    pub reason: String,
    /// Why, as the code the audit log records (`withdrawn`, `expired`, `missing`, …).
    pub code: &'static str,
}

/// One recording in an export.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// Its id.
    pub id: String,
    /// Payload paths of its `.age` files.
    pub files: Vec<String>,
    /// Whether its original was exported without its metadata (`--strip-metadata`; false
    /// when the original had none to strip).
    pub metadata_stripped: bool,
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
    /// Recordings left out because consent does not cover them (`--skip-uncovered`).
    pub skipped: Vec<Skipped>,
    /// Things the user should know (e.g. an original that carries a location).
    pub warnings: Vec<String>,
}

/// Encrypts recordings `ids` of the archive held by `writer` into a new export bag.
/// Refuses (nothing written, exit code 3) when any recording's consent does not cover the
/// purpose today, or, with [`ExportOptions::skip_uncovered`], when none's does; then the
/// others are left out and listed in the report and the audit entry.
pub fn encrypt(
    writer: &mut Writer,
    ids: &[String],
    recipients: &Recipients,
    opts: &ExportOptions,
) -> Result<ExportReport> {
    check_out_free(&opts.out)?;
    let (loaded, mut refused) = load_recordings(writer.archive(), ids)?;
    // A consent history the audit log does not explain (a withdrawal deleted by hand) is
    // not believed.
    let judged = catalog::judge(writer.archive(), &loaded, None)?;
    let today = judged.day;
    let planned = plan_export(&loaded, &judged, opts, &mut refused)?;
    let skipped = refuse_or_skip(writer, refused, planned.recordings.len(), opts, today)?;
    if planned.files.is_empty() {
        return Err(Error::NothingToExport(
            writer.archive().root().to_path_buf(),
        ));
    }
    let (staging, plaintext_bytes, stripped) =
        write_staging_bag(writer, recipients, &opts.out, &planned, today)?;
    let mut planned = planned;
    for r in &mut planned.recordings {
        r.metadata_stripped = stripped
            .iter()
            .any(|p| p.starts_with(&format!("data/{}/", r.id)));
    }
    // Past this point the export is logged, so it completes whatever signal comes.
    stop_if_interrupted()?;
    place_and_log(writer, staging, recipients, opts, today, &planned, &skipped)?;
    Ok(ExportReport {
        out: opts.out.display().to_string(),
        recordings: planned.recordings,
        plaintext_bytes,
        recipients: recipients.fingerprints(),
        skipped,
        warnings: planned.warnings,
    })
}

/// Fails with `Error::AlreadyExists` when `out` is a non-empty folder or not a folder,
/// and refuses an `out` inside an archive.
fn check_out_free(out: &Path) -> Result<()> {
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) || (out.exists() && !out.is_dir()) {
        return Err(Error::AlreadyExists(out.to_path_buf()));
    }
    crate::archive::refuse_out_inside_archive(out)
}

/// Loads the recordings `ids`, in order. One whose metadata cannot be read (a bad file, a
/// symlink) is refused as `unreadable`: consent that cannot be read is consent that is not
/// there, so this fails closed. Any other error is returned.
fn load_recordings(
    archive: &Archive,
    ids: &[String],
) -> Result<(Vec<record::Recording>, Vec<Refusal>)> {
    let mut refused = Vec::new();
    let mut loaded = Vec::new();
    for id in ids {
        match catalog::load(archive, id) {
            Ok(rec) => loaded.push(rec),
            Err(e @ (Error::BadFile { .. } | Error::Symlink(_))) => refused.push(Refusal {
                id: id.clone(),
                code: "unreadable",
                reason: format!("its consent cannot be read ({e})"),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok((loaded, refused))
}

/// What an export will hold: the files to encrypt and the recordings they belong to.
struct Planned {
    /// (archive path, export path) of each file, in export order.
    files: Vec<(String, String)>,
    /// The recordings exported, with their export paths.
    recordings: Vec<Exported>,
    /// Things the user should know.
    warnings: Vec<String>,
    /// The archive paths of the originals to strip of their metadata.
    strip: std::collections::BTreeSet<String>,
}

/// Plans the export of `loaded`: a recording whose consent history the audit log does not
/// explain, or whose consent does not cover the purpose on `judged.day`, is added to
/// `refused`; the others' files (as `opts.include` says) go into the plan, in order.
fn plan_export(
    loaded: &[record::Recording],
    judged: &catalog::Judged,
    opts: &ExportOptions,
    refused: &mut Vec<Refusal>,
) -> Result<Planned> {
    let mut planned = Planned {
        files: Vec::new(),
        recordings: Vec::new(),
        warnings: Vec::new(),
        strip: Default::default(),
    };
    for rec in loaded {
        if let Some(refusal) = consent_refusal(rec, judged, opts.purpose) {
            refused.push(refusal);
            continue;
        }
        let files = files_to_export(rec, opts, &mut planned.warnings)?;
        if opts.strip_metadata && files.contains(&rec.source.stored_as) {
            planned.strip.insert(rec.source.stored_as.clone());
        }
        let export_files: Vec<String> = files.iter().map(|f| format!("{f}.age")).collect();
        planned
            .files
            .extend(files.into_iter().zip(export_files.iter().cloned()));
        planned.recordings.push(Exported {
            id: rec.id.clone(),
            files: export_files,
            metadata_stripped: false,
        });
    }
    Ok(planned)
}

/// Why `rec` may not be exported for `purpose`, if it may not: its consent history does
/// not match the audit log (`consent-mismatch`), or its consent does not cover `purpose`
/// on `judged.day` (the lapse's code).
fn consent_refusal(
    rec: &record::Recording,
    judged: &catalog::Judged,
    purpose: Scope,
) -> Option<Refusal> {
    let id = &rec.id;
    let today = judged.day;
    if let Some(detail) = judged.unexplained.get(id) {
        return Some(Refusal {
            id: id.clone(),
            code: "consent-mismatch",
            reason: format!(
                "its consent history does not match the audit log ({detail}); run `visitrec verify`"
            ),
        });
    }
    let state = consent::state(&rec.consent, today);
    if !state.covers(purpose) {
        return Some(Refusal {
            id: id.clone(),
            code: state.lapse(purpose).as_str(),
            reason: format!(
                "{}; on {today} it covers {}",
                state.why_not(purpose, &rec.consent),
                state.covered()
            ),
        });
    }
    None
}

/// The archive paths of `rec`'s files that `opts.include` asks for (everything it has when
/// `None`), adding a warning when the original carries identifying metadata and is not to
/// be stripped of it. Fails when something asked for explicitly is missing, or when
/// nothing is left.
fn files_to_export(
    rec: &record::Recording,
    opts: &ExportOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>> {
    let id = &rec.id;
    let wanted = |i: Include| opts.include.as_ref().is_none_or(|v| v.contains(&i));
    let explicit = |i: Include| opts.include.as_ref().is_some_and(|v| v.contains(&i));
    let mut files = Vec::new();
    if wanted(Include::Original) {
        files.push(rec.source.stored_as.clone());
        if let Some(kinds) = rec
            .source
            .identifying_words()
            .filter(|_| !opts.strip_metadata)
        {
            warnings.push(format!(
                "{id}: the original carries identifying metadata ({kinds}), and the export \
                 includes it; --strip-metadata leaves it out"
            ));
        }
    }
    match &rec.normalized {
        Some(n) if wanted(Include::Normalized) => {
            files.push(n.path.clone());
            files.extend(n.envelope.clone());
        }
        None if explicit(Include::Normalized) => {
            return Err(Error::NotNormalized(id.clone()));
        }
        _ => {}
    }
    if wanted(Include::Segments) {
        if rec.segments.is_empty() && explicit(Include::Segments) && rec.segmentation.is_none() {
            return Err(Error::NotSegmented(id.clone()));
        }
        files.extend(rec.segments.iter().map(|s| s.path.clone()));
    }
    if wanted(Include::Metadata) {
        files.push(record::payload_path(id, RECORDING_JSON));
    }
    if files.is_empty() {
        return Err(Error::NothingIncluded(id.clone()));
    }
    Ok(files)
}

/// Decides what becomes of the refused recordings. Unless skipping is asked for and
/// `covered` (the number of recordings that can be exported) is not zero, logs an
/// `export-refused` audit entry and fails with `Error::ConsentRefused`; otherwise returns
/// them as skipped.
fn refuse_or_skip(
    writer: &mut Writer,
    refused: Vec<Refusal>,
    covered: usize,
    opts: &ExportOptions,
    today: jiff::civil::Date,
) -> Result<Vec<Skipped>> {
    // Skipping leaves out the refused only when something is left to export.
    let skip = opts.skip_uncovered && covered != 0;
    if !refused.is_empty() && !skip {
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
            covered,
        });
    }
    Ok(refused
        .into_iter()
        .map(|r| Skipped {
            id: r.id,
            reason: r.reason,
            code: r.code,
        })
        .collect())
}

/// Builds the export bag in a staging folder beside `opts.out`: encrypts the planned
/// files (checking each plaintext against the archive manifest), the plaintext manifest,
/// and writes the tag files, then syncs it. Returns the staging folder (not yet in place)
/// and the bytes of plaintext encrypted.
fn write_staging_bag(
    writer: &Writer,
    recipients: &Recipients,
    out: &Path,
    planned: &Planned,
    today: jiff::civil::Date,
) -> Result<(Staging, u64, Vec<String>)> {
    let staging = Staging::new(out, None)?;
    let (mut cipher_manifest, mut oxum, plain_manifest, plaintext_bytes, stripped) =
        encrypt_payload(writer, recipients, &staging, planned)?;
    let pm_path = staging.bag.join(PLAINTEXT_MANIFEST);
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
    let mut extra = Vec::new();
    if !planned.strip.is_empty() {
        info.set(STRIPPED_LABEL, stripped.len().to_string());
        extra.push((METADATA_STRIPPED, render_stripped(&stripped)));
    }
    write_tag_files(&staging.bag, &info, &cipher_manifest, &extra)?;
    staging.sync()?;
    Ok((staging, plaintext_bytes, stripped))
}

/// The text of [`METADATA_STRIPPED`].
fn render_stripped(paths: &[String]) -> String {
    paths.iter().map(|p| format!("{p}\n")).collect()
}

/// What a bag's [`METADATA_STRIPPED`] says.
#[derive(Debug, Default)]
pub struct StrippedList {
    /// The plaintext paths of the originals it lists.
    pub paths: std::collections::BTreeSet<String>,
    /// `(line, reason)` for each line that is not the path of an original.
    pub issues: Vec<(usize, String)>,
}

/// Reads a bag's [`METADATA_STRIPPED`] (absent: none).
pub fn read_stripped(bag: &Archive) -> Result<StrippedList> {
    let mut list = StrippedList::default();
    let text = match bag.read(METADATA_STRIPPED) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(list);
        }
        Err(e) => return Err(e),
    };
    for (i, line) in text.lines().enumerate() {
        match plain_file_kind(line) {
            Ok((_, PlainKind::Original)) => {
                list.paths.insert(line.to_string());
            }
            _ => list
                .issues
                .push((i + 1, format!("{line:?} is not the path of an original"))),
        }
    }
    Ok(list)
}

/// Encrypts the planned files into `staging`'s bag, in parallel, failing on a plaintext
/// that does not match the archive manifest or on an interrupt. The originals planned for
/// stripping are checked against the manifest, then stripped into a temporary file of the
/// staging folder which is encrypted instead. Returns the ciphertext manifest, its
/// Payload-Oxum, the plaintext manifest, the bytes of plaintext, and the paths of the
/// originals whose stripped copy differs from them.
fn encrypt_payload(
    writer: &Writer,
    recipients: &Recipients,
    staging: &Staging,
    planned: &Planned,
) -> Result<(Manifest, Oxum, Manifest, u64, Vec<String>)> {
    let archive = writer.archive();
    let manifest = writer.manifest()?.clone();
    let plan = &planned.files;
    let results: Vec<Result<(String, Fixity, Fixity, bool)>> = plan
        .par_iter()
        .map(|(src, dst)| {
            let target = staging.bag.join(dst);
            fsutil::create_dirs(target.parent().expect("payload path has a parent"))?;
            let source = archive.root().join(src);
            let stripped = match planned.strip.contains(src) {
                true => strip_original(archive, &manifest, src, staging)?,
                false => None,
            };
            let input = match &stripped {
                Some(tmp) => fs::File::open(tmp).at(tmp)?,
                None => archive.open_file(src)?,
            };
            let output = fsutil::create_new(&target)?;
            let encrypted = crypto::encrypt_stream(
                recipients,
                interrupt::Stoppable(input),
                &output,
                (&source, &target),
            );
            if let Some(tmp) = &stripped {
                fs::remove_file(tmp).at(tmp)?;
            }
            let (plain, cipher) = encrypted?;
            output.sync_all().at(&target)?;
            let original = manifest.entries.get(src);
            if stripped.is_none() && original != Some(&plain.sha256) {
                return Err(Error::BadFile {
                    path: archive.root().join(src),
                    reason: "does not match the archive manifest; run `visitrec verify`".into(),
                });
            }
            let changed = original != Some(&plain.sha256);
            Ok((src.clone(), plain, cipher, changed))
        })
        .collect();
    stop_if_interrupted()?;
    let mut plain_manifest = Manifest::default();
    let mut cipher_manifest = Manifest::default();
    let mut oxum = Oxum::default();
    let mut plaintext_bytes = 0;
    let mut stripped = Vec::new();
    for (r, (_, dst)) in results.into_iter().zip(plan) {
        let (src, plain, cipher, changed) = r?;
        if changed {
            stripped.push(src.clone());
        }
        plain_manifest.entries.insert(src, plain.sha256);
        plaintext_bytes += plain.size;
        cipher_manifest.entries.insert(dst.clone(), cipher.sha256);
        oxum.octets += cipher.size;
        oxum.streams += 1;
    }
    stripped.sort();
    Ok((
        cipher_manifest,
        oxum,
        plain_manifest,
        plaintext_bytes,
        stripped,
    ))
}

/// Copies the archive's original `src` into the staging folder and checks the copy
/// against the manifest (so what is stripped is exactly what was checked, whatever happens
/// to the archive's file meanwhile); then, if its tags carry identifying metadata, writes
/// it without them into a new temporary file of the staging folder and returns that file's
/// path (`None`: nothing to strip, the original is exported as it is). An original that
/// cannot be stripped is `Error::CannotStrip`. The copy is removed in every case, and the
/// stripped file on failure.
fn strip_original(
    archive: &Archive,
    manifest: &Manifest,
    src: &str,
    staging: &Staging,
) -> Result<Option<PathBuf>> {
    let path = archive.root().join(src);
    let name = src.replace('/', "-");
    let copy = staging.dir.join(format!(".original-{name}"));
    let mut out = fsutil::create_new(&copy)?;
    let copied = std::io::copy(&mut interrupt::Stoppable(archive.open_file(src)?), &mut out);
    drop(out);
    let result = copied.at(&path).and_then(|_| {
        strip_copy(
            manifest,
            src,
            &path,
            &copy,
            &staging.dir.join(format!(".stripped-{name}")),
        )
    });
    fs::remove_file(&copy).at(&copy)?;
    result
}

/// [`strip_original`] on the staged `copy` of the original at `path`, into `tmp`.
fn strip_copy(
    manifest: &Manifest,
    src: &str,
    path: &Path,
    copy: &Path,
    tmp: &Path,
) -> Result<Option<PathBuf>> {
    if manifest.entries.get(src) != Some(&hash::hash_file(copy)?.sha256) {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: "does not match the archive manifest; run `visitrec verify`".into(),
        });
    }
    let mut input = std::io::BufReader::new(fs::File::open(copy).at(copy)?);
    if crate::audio::identifying::detect_in(&mut input)
        .at(copy)?
        .is_empty()
    {
        return Ok(None);
    }
    let out = fsutil::create_new(tmp)?;
    let mut w = std::io::BufWriter::new(&out);
    let result = crate::audio::identifying::strip(&mut input, &mut w)
        .and_then(|()| std::io::Write::flush(&mut w).map_err(Into::into));
    drop(w);
    if let Err(e) = result {
        let _ = fs::remove_file(tmp);
        return Err(match e {
            crate::audio::identifying::StripError::Unsupported(reason) => Error::CannotStrip {
                path: path.to_path_buf(),
                reason,
            },
            crate::audio::identifying::StripError::Io(e) => Error::io(path, e),
        });
    }
    out.sync_all().at(tmp)?;
    Ok(Some(tmp.to_path_buf()))
}

/// Puts the finished export in place, then logs it (an `export` audit entry naming the
/// exported recordings and any skipped ones): the log says only what was done. If the log
/// cannot be written, the export is taken back.
fn place_and_log(
    writer: &mut Writer,
    staging: Staging,
    recipients: &Recipients,
    opts: &ExportOptions,
    today: jiff::civil::Date,
    planned: &Planned,
    skipped: &[Skipped],
) -> Result<()> {
    let placed = staging.finish()?;
    let mut details = serde_json::json!({
        "purpose": opts.purpose,
        "consent_day": today.to_string(),
        "recipients": recipients.fingerprints(),
        "files": planned.files.len(),
    });
    if opts.strip_metadata {
        details["metadata_stripped"] = planned
            .recordings
            .iter()
            .filter(|r| r.metadata_stripped)
            .map(|r| serde_json::Value::from(r.id.clone()))
            .collect();
    }
    if !skipped.is_empty() {
        // Ids and reason codes only, as in an `export-refused` entry: no free text.
        details["skipped"] = skipped
            .iter()
            .map(|s| serde_json::json!({"id": s.id, "reason": s.code}))
            .collect();
    }
    let mut txn = writer.begin();
    txn.audit(
        "export",
        planned.recordings.iter().map(|r| r.id.clone()).collect(),
        details,
    );
    if let Err(e) = txn.commit() {
        let _ = fsutil::remove_tree(&placed);
        return Err(e);
    }
    Ok(())
}

/// The folder `decrypt --friendly-names` puts the checked plaintext bag in, beside the
/// originals under their own names.
pub const FRIENDLY_BAG: &str = "checked-bag";

/// An original written under a name a person recognises (`decrypt --friendly-names`).
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    /// The recording's id.
    pub id: String,
    /// The file's name in the `--out` folder (see [`crate::friendly::names`]).
    pub file: String,
}

/// What `decrypt` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DecryptReport {
    /// The folder written (`--out`).
    pub out: String,
    /// The plaintext bag: `out`, or `out/checked-bag` with friendly names.
    pub bag: String,
    /// The originals copied under their own names (with friendly names).
    pub originals: Vec<Named>,
    /// Files decrypted and checked against the export's plaintext manifest.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Decrypts the export at `export` into a new plaintext BagIt bag at `out`, checking every
/// file against the encrypted plaintext manifest, and each recording's contents against its
/// id (see [`plan`]). With `friendly_names`, `out` instead holds each original under the
/// name it had on the phone ([`crate::friendly::names`]) beside the bag, in
/// `out/`[`FRIENDLY_BAG`]. On any failure nothing is left behind.
pub fn decrypt(
    export: &Path,
    identities: &Identities,
    out: &Path,
    friendly_names: bool,
) -> Result<DecryptReport> {
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) || (out.exists() && !out.is_dir()) {
        return Err(Error::AlreadyExists(out.to_path_buf()));
    }
    crate::archive::refuse_out_inside_archive(out)?;
    let bag = Archive::open(export)?;
    let plan = plan(&bag, identities)?;
    if let Some((rel, reason)) = plan.problems.first() {
        return Err(Error::BadFile {
            path: export.join(rel),
            reason: reason.clone(),
        });
    }
    let expected = &plan.expected;
    let staging = Staging::new(out, friendly_names.then_some(FRIENDLY_BAG))?;
    let results: Vec<Result<Fixity>> = plan
        .files
        .par_iter()
        .map(|(cipher_rel, plain_rel)| {
            let target = staging.bag.join(plain_rel);
            fsutil::create_dirs(target.parent().expect("payload path has a parent"))?;
            let input = bag.open_file(cipher_rel)?;
            let mut output = interrupt::Stoppable(fsutil::create_new(&target)?);
            let fixity = crypto::decrypt_stream(identities, BufReader::new(input), &mut output)
                .map_err(|failure| Error::Decrypt {
                    path: export.join(cipher_rel),
                    failure,
                })?;
            output.0.sync_all().at(&target)?;
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
    stop_if_interrupted()?;
    let mut oxum = Oxum::default();
    for r in results {
        let f = r?;
        oxum.octets += f.size;
        oxum.streams += 1;
    }
    // Each recording.json must describe the files beside it (read back, size-capped).
    let mut metadata = std::collections::BTreeMap::new();
    for (cipher_rel, plain_rel) in &plan.files {
        if let Some(id) = metadata_of(plain_rel) {
            let mut json = Capped::new(MAX_SMALL_PLAINTEXT);
            std::io::copy(
                &mut crate::beneath::open(&staging.bag, plain_rel)?,
                &mut json,
            )
            .map_err(|e| Error::BadFile {
                path: export.join(cipher_rel),
                reason: crate::failure::describe_io(&e),
            })?;
            let rec =
                check_metadata(id, &json.buf, expected, &plan.stripped).map_err(|reason| {
                    Error::BadFile {
                        path: export.join(cipher_rel),
                        reason,
                    }
                })?;
            metadata.insert(id.to_string(), rec);
        }
    }
    let originals = if friendly_names {
        write_named(&staging, &plan.files, &metadata)?
    } else {
        Vec::new()
    };
    let mut info = BagInfo::default();
    info.set("Bagging-Date", crate::time::today().to_string());
    info.set("Payload-Oxum", oxum.to_string());
    info.set("Bag-Software-Agent", crate::archive::software_agent());
    // Not an archive: it has no audit log, and `verify` must not ask for one.
    info.set(CONTENT_LABEL, CONTENT_OPENED.into());
    let mut extra = Vec::new();
    if plan.has_stripped_file {
        let paths: Vec<String> = plan.stripped.iter().cloned().collect();
        info.set(STRIPPED_LABEL, paths.len().to_string());
        extra.push((METADATA_STRIPPED, render_stripped(&paths)));
    }
    write_tag_files(&staging.bag, &info, expected, &extra)?;
    staging.sync()?;
    stop_if_interrupted()?;
    staging.finish()?;
    Ok(DecryptReport {
        out: out.display().to_string(),
        bag: match friendly_names {
            true => out.join(FRIENDLY_BAG).display().to_string(),
            false => out.display().to_string(),
        },
        originals,
        files: oxum.streams,
        bytes: oxum.octets,
    })
}

/// Copies each decrypted original of the staged bag to the staging folder's top, under the
/// name [`crate::friendly::names`] gives it from its `recording.json` (which the export may
/// lack: then `Recording ID.EXT`). The bag's copy stays, so the bag still checks out.
fn write_named(
    staging: &Staging,
    files: &[(String, String)],
    metadata: &std::collections::BTreeMap<String, record::Recording>,
) -> Result<Vec<Named>> {
    let found: Vec<(&str, &str, &str)> = files
        .iter()
        .filter_map(|(_, plain)| match plain_file_kind(plain) {
            Ok((id, PlainKind::Original)) => {
                let ext = plain.rsplit_once('.').expect("original.<ext>").1;
                Some((id, ext, plain.as_str()))
            }
            _ => None,
        })
        .collect();
    let originals: Vec<crate::friendly::Original> = found
        .iter()
        .map(|&(id, ext, _)| crate::friendly::Original {
            id,
            ext,
            file_name: metadata.get(id).map(|r| r.source.file_name.as_str()),
            recorded_at: metadata.get(id).map(|r| r.source.recorded_at.as_str()),
        })
        .collect();
    let names = crate::friendly::names(&originals);
    let mut named = Vec::new();
    for ((id, _, plain), name) in found.into_iter().zip(names) {
        stop_if_interrupted()?;
        let target = staging.dir.join(&name);
        // A failure names the file the user asked for, not the hidden staging folder.
        let shown = staging.dest.join(&name);
        let mut input = crate::beneath::open(&staging.bag, plain)?;
        use std::os::unix::fs::OpenOptionsExt;
        let mut output = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .at(&shown)?;
        std::io::copy(&mut input, &mut output).at(&shown)?;
        output.sync_all().at(&shown)?;
        named.push(Named {
            id: id.to_string(),
            file: name,
        });
    }
    named.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(named)
}

/// What a decrypt-check found.
#[derive(Debug, Default)]
pub struct DecryptCheck {
    /// Problems as `(export path, reason)`.
    pub problems: Vec<(String, String)>,
    /// Files opened with the key (the plaintext manifest included).
    pub files: u64,
}

/// Decrypt-checks every file of an export without writing any plaintext (`recording.json`
/// is decrypted into memory, at most [`MAX_SMALL_PLAINTEXT`] bytes, to be checked). A key
/// that opens not even the plaintext manifest is an error (the wrong key), not a problem
/// of the export.
pub fn check_decryption(export: &Path, identities: &Identities) -> Result<DecryptCheck> {
    let bag = Archive::open(export)?;
    let plan = match plan(&bag, identities) {
        Ok(p) => p,
        Err(
            e @ Error::Decrypt {
                failure: DecryptFailure::NoMatch | DecryptFailure::WrongPassphrase,
                ..
            },
        ) => return Err(e),
        Err(e) => {
            return Ok(DecryptCheck {
                problems: vec![(PLAINTEXT_MANIFEST.into(), e.to_string())],
                files: 0,
            });
        }
    };
    let opened = 1 + plan
        .files
        .iter()
        .filter(|(cipher_rel, _)| !plan.problems.iter().any(|(p, _)| p == cipher_rel))
        .count() as u64;
    let expected = &plan.expected;
    let problems: Vec<Option<(String, String)>> = plan
        .files
        .par_iter()
        .filter(|(cipher_rel, _)| !plan.problems.iter().any(|(p, _)| p == cipher_rel))
        .map(|(cipher_rel, plain_rel)| {
            let metadata = metadata_of(plain_rel);
            let mut json = Capped::new(if metadata.is_some() {
                MAX_SMALL_PLAINTEXT
            } else {
                0
            });
            let result = bag
                .open_file(cipher_rel)
                .map_err(|e| match e {
                    Error::Io { source, .. } => crate::failure::describe_io(&source),
                    other => other.to_string(),
                })
                .and_then(|f| {
                    let out: &mut dyn std::io::Write = match metadata {
                        Some(_) => &mut json,
                        None => &mut std::io::sink(),
                    };
                    crypto::decrypt_stream(identities, BufReader::new(f), out)
                        .map_err(|e| e.to_string())
                });
            match result {
                Ok(f) if expected.entries.get(plain_rel) != Some(&f.sha256) => Some((
                    cipher_rel.clone(),
                    "decrypts to bytes that do not match the plaintext manifest".into(),
                )),
                Ok(_) => metadata
                    .and_then(|id| check_metadata(id, &json.buf, expected, &plan.stripped).err())
                    .map(|why| (cipher_rel.clone(), why)),
                Err(why) => Some((cipher_rel.clone(), why)),
            }
        })
        .collect();
    let mut all = plan.problems;
    all.extend(problems.into_iter().flatten());
    Ok(DecryptCheck {
        problems: all,
        files: opened,
    })
}

/// The largest plaintext manifest or `recording.json` read into memory (16 MiB: a
/// manifest line is about 100 bytes, so some 160 000 files).
pub const MAX_SMALL_PLAINTEXT: usize = 16 << 20;

/// What is in an export, from its manifests, with what is wrong with it.
struct Plan {
    /// The decrypted plaintext manifest.
    expected: Manifest,
    /// Each `.age` payload file and the plaintext path it decrypts to.
    files: Vec<(String, String)>,
    /// `(export path, reason)` for each file whose path or id cannot be right.
    problems: Vec<(String, String)>,
    /// The plaintext paths of the originals exported without their metadata.
    stripped: std::collections::BTreeSet<String>,
    /// Whether the export has a [`METADATA_STRIPPED`] file.
    has_stripped_file: bool,
}

/// Decrypts the plaintext manifest, pairs each `.age` payload file with its plain path,
/// and checks what can be checked before decrypting anything else: every path has the
/// form `data/<id>/<file>` of a recording's file ([`plain_file_kind`]), the two manifests
/// list the same files, and each original's SHA-256 starts with its folder's id (the id
/// is the content hash, so an original that does not is not that recording) unless
/// [`METADATA_STRIPPED`] lists it: a stripped copy's hash is not its original's, and it is
/// checked instead against the plaintext manifest as it decrypts.
fn plan(bag: &Archive, identities: &Identities) -> Result<Plan> {
    let cipher = bag.strict_manifest(MANIFEST)?;
    let has_stripped_file = bag.root().join(METADATA_STRIPPED).is_file();
    let StrippedList {
        paths: stripped,
        issues: stripped_issues,
    } = read_stripped(bag)?;
    let input = bag
        .open_file(PLAINTEXT_MANIFEST)
        .map_err(|_| Error::NotExport {
            path: bag.root().to_path_buf(),
            archive: crate::archive::is_visitrec_archive(bag.root()),
        })?;
    let mut text = Capped::new(MAX_SMALL_PLAINTEXT);
    crypto::decrypt_stream(identities, BufReader::new(input), &mut text).map_err(|failure| {
        Error::Decrypt {
            path: bag.root().join(PLAINTEXT_MANIFEST),
            failure,
        }
    })?;
    let (expected, issues) = Manifest::parse(&String::from_utf8_lossy(&text.buf));
    if let Some(i) = issues.first() {
        return Err(Error::BadFile {
            path: bag.root().join(PLAINTEXT_MANIFEST),
            reason: format!("line {}: {}", i.line, i.reason),
        });
    }
    let mut files = Vec::new();
    let mut problems: Vec<(String, String)> = stripped_issues
        .into_iter()
        .map(|(line, why)| (METADATA_STRIPPED.to_string(), format!("line {line}: {why}")))
        .collect();
    for p in stripped
        .iter()
        .filter(|p| !expected.entries.contains_key(*p))
    {
        problems.push((
            METADATA_STRIPPED.into(),
            format!("lists {p}, which the export does not contain"),
        ));
    }
    for k in cipher
        .entries
        .keys()
        .filter(|k| k.as_str() != PLAINTEXT_MANIFEST)
    {
        let Some(plain) = k.strip_suffix(".age") else {
            problems.push((k.clone(), "an export holds only .age files".into()));
            continue;
        };
        match plain_file_kind(plain) {
            Err(why) => problems.push((k.clone(), format!("would decrypt to {plain:?}, {why}"))),
            Ok(_) if !expected.entries.contains_key(plain) => problems.push((
                k.clone(),
                "is not in the export's plaintext manifest".into(),
            )),
            Ok(_) => files.push((k.clone(), plain.to_string())),
        }
    }
    for (plain, sha) in &expected.entries {
        if let Err(why) = plain_file_kind(plain) {
            problems.push((PLAINTEXT_MANIFEST.into(), format!("lists {plain:?}, {why}")));
            continue;
        }
        if !cipher.entries.contains_key(&format!("{plain}.age")) {
            problems.push((
                PLAINTEXT_MANIFEST.into(),
                format!("lists {plain}, which the export does not contain"),
            ));
        }
        if let Ok((id, PlainKind::Original)) = plain_file_kind(plain) {
            if !sha.starts_with(id) && !stripped.contains(plain) {
                problems.push((
                    format!("{plain}.age"),
                    format!(
                        "decrypts to an original whose SHA-256 ({}…) does not start with its \
                         folder's id {id}: it is not that recording",
                        &sha[..16]
                    ),
                ));
            }
            let others = expected.entries.keys().filter(|p| {
                p.as_str() != plain
                    && matches!(plain_file_kind(p), Ok((i, PlainKind::Original)) if i == id)
            });
            if others.count() > 0 {
                problems.push((
                    format!("{plain}.age"),
                    format!("{id} has more than one original"),
                ));
            }
        }
    }
    Ok(Plan {
        expected,
        files,
        problems,
        stripped,
        has_stripped_file,
    })
}

/// What a file of a recording's folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainKind {
    /// `original.<ext>`.
    Original,
    /// `normalized.wav`.
    Normalized,
    /// `envelope.json` (the normalized audio's min/max envelope).
    Envelope,
    /// `segments/NNN.wav`.
    Segment,
    /// `recording.json`.
    Metadata,
}

/// The recording id and kind of an export's plaintext path, which must be
/// `data/<id>/original.<ext>` (`ext` 1–8 of `[a-z0-9]`), `data/<id>/normalized.wav`,
/// `data/<id>/envelope.json`, `data/<id>/segments/<digits>.wav` or `data/<id>/recording.json`: nothing else can be
/// written by `decrypt`, so no crafted path reaches outside `--out` or onto the bag's
/// tag files.
pub fn plain_file_kind(path: &str) -> std::result::Result<(&str, PlainKind), &'static str> {
    let parts: Vec<&str> = path.split('/').collect();
    let (id, rest) = match parts.as_slice() {
        ["data", id, rest @ ..] if record::is_valid_id(id) => (*id, rest),
        _ => return Err("which is not in a recording's folder data/<id>/"),
    };
    let kind = match rest {
        ["recording.json"] => PlainKind::Metadata,
        ["normalized.wav"] => PlainKind::Normalized,
        ["envelope.json"] => PlainKind::Envelope,
        [name] => match name.strip_prefix("original.") {
            Some(ext)
                if (1..=8).contains(&ext.len())
                    && ext
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
            {
                PlainKind::Original
            }
            _ => return Err("which is not a file a recording can have"),
        },
        ["segments", name] => match name.strip_suffix(".wav") {
            Some(n) if (1..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()) => {
                PlainKind::Segment
            }
            _ => return Err("which is not a segment's name (segments/NNN.wav)"),
        },
        _ => return Err("which is not a file a recording can have"),
    };
    Ok((id, kind))
}

/// The id, if `plain` is a `recording.json`.
fn metadata_of(plain: &str) -> Option<&str> {
    match plain_file_kind(plain) {
        Ok((id, PlainKind::Metadata)) => Some(id),
        _ => None,
    }
}

/// Checks a decrypted `recording.json` of folder `id`: it parses, names the same id, and
/// names exactly the original the export holds (path, and SHA-256 unless `stripped` lists
/// it), and every other file of the folder is one it lists; returns it.
fn check_metadata(
    id: &str,
    json: &[u8],
    expected: &Manifest,
    stripped: &std::collections::BTreeSet<String>,
) -> std::result::Result<record::Recording, String> {
    let rec = record::Recording::from_json(json)
        .map_err(|e| format!("decrypts to a bad recording.json: {e}"))?;
    if rec.id != id {
        return Err(format!(
            "decrypts to the recording.json of {}, but is in folder {id}",
            rec.id
        ));
    }
    let folder = format!("data/{id}/");
    for (path, sha) in expected
        .entries
        .range(folder.clone()..)
        .take_while(|(p, _)| p.starts_with(&folder))
    {
        let listed = *path == rec.source.stored_as
            || path.ends_with(RECORDING_JSON)
            || rec
                .normalized
                .as_ref()
                .is_some_and(|n| n.path == *path || n.envelope.as_ref() == Some(path))
            || rec.segments.iter().any(|s| s.path == *path);
        if !listed {
            return Err(format!(
                "recording.json does not list {path}, which the export holds"
            ));
        }
        if *path == rec.source.stored_as && *sha != rec.source.sha256 && !stripped.contains(path) {
            return Err(format!(
                "recording.json's source.sha256 does not match {path} in the export"
            ));
        }
    }
    Ok(rec)
}

/// A buffer that refuses to grow past its limit.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl Capped {
    fn new(limit: usize) -> Capped {
        Capped {
            buf: Vec::new(),
            limit,
        }
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            return Err(std::io::Error::other(format!(
                "larger than {} MiB",
                self.limit >> 20
            )));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `bagit.txt`, `bag-info.txt`, the payload manifest, the `extra` tag files and the
/// tag manifest.
fn write_tag_files(
    dir: &Path,
    info: &BagInfo,
    manifest: &Manifest,
    extra: &[(&str, String)],
) -> Result<()> {
    let mut files = vec![
        (BAGIT_TXT, bagit::BAGIT_TXT.to_string()),
        (BAG_INFO, info.render()),
        (MANIFEST, manifest.render()),
    ];
    files.extend(extra.iter().cloned());
    let mut tags = Manifest::default();
    for (name, text) in &files {
        fsutil::write_new(&dir.join(name), text.as_bytes())?;
        tags.entries
            .insert(name.to_string(), hash::hash_bytes(text.as_bytes()).sha256);
    }
    fsutil::write_new(&dir.join(TAG_MANIFEST), tags.render().as_bytes())
}

/// The marker file inside a staging folder, naming it visitrec's and the process that
/// made it (`visitrec staging` and `pid N` lines). It is removed once the bag is in place.
pub const STAGING_MARKER: &str = ".visitrec-staging";

/// `Error::Interrupted` once SIGINT, SIGTERM or SIGHUP has been caught.
fn stop_if_interrupted() -> Result<()> {
    match interrupt::caught() {
        Some(signal) => Err(Error::Interrupted { signal }),
        None => Ok(()),
    }
}

/// The folder staging for `dest` goes in, and the name prefix staging folders for `dest`
/// have (`.NAME.partial-`).
fn staging_prefix(dest: &Path) -> Result<(PathBuf, String)> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| Error::NotAFolderName(dest.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    Ok((parent, format!(".{name}.partial-")))
}

/// Removes the staging folders beside `dest` that an earlier `encrypt` or `decrypt` to
/// `dest` left when it was killed (SIGKILL, a crash, a power cut), and says what it
/// removed. Only folders of visitrec's making go: a real folder (not a symlink) owned by
/// this user, holding [`STAGING_MARKER`] that names a process no longer running (or, from
/// visitrec before the marker, named `.NAME.partial-PID` for such a process).
pub fn remove_stale_staging(dest: &Path) -> Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let (parent, prefix) = staging_prefix(dest)?;
    let Ok(entries) = fs::read_dir(&parent) else {
        return Ok(Vec::new());
    };
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let ours = |m: &fs::Metadata| m.uid() == uid;
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(suffix) = name.strip_prefix(&prefix) else {
            continue;
        };
        let path = e.path();
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && ours(&m)) {
            continue;
        }
        let marker = path.join(STAGING_MARKER);
        let pid = if fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file() && ours(&m)) {
            fs::read_to_string(&marker).ok().and_then(|t| {
                let mut lines = t.lines();
                (lines.next() == Some("visitrec staging"))
                    .then(|| lines.next()?.strip_prefix("pid ")?.parse::<u32>().ok())
                    .flatten()
            })
        } else if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
            suffix.parse::<u32>().ok()
        } else {
            None
        };
        let Some(pid) = pid else {
            continue;
        };
        if pid == std::process::id() || crate::archive::lock::process_alive(pid) {
            continue;
        }
        fsutil::remove_tree(&path)?;
        removed.push(format!(
            "removed {}, left by an interrupted run (pid {pid})",
            dest.with_file_name(&name).display()
        ));
    }
    Ok(removed)
}

/// A random folder-name suffix from the OS's random generator (16 hex digits), so no
/// other user can guess the name and race a symlink into it.
fn random_suffix() -> Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::io(".", std::io::Error::other("the OS random generator failed")))?;
    Ok(hex::encode(bytes))
}

/// A bag being built in a hidden sibling folder, `.NAME.partial-<random>`, created 0700
/// and exclusively (it must not exist), holding [`STAGING_MARKER`], and renamed into place
/// only when complete. A failure (or drop before `finish`) removes it, and so does SIGINT,
/// SIGTERM or SIGHUP (see [`interrupt`]); one left by a killed process is removed by the
/// next run for the same destination ([`remove_stale_staging`]).
struct Staging {
    dir: PathBuf,
    /// Where the bag goes: `dir`, or a folder inside it.
    bag: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Staging {
    /// A staging folder for `dest`, with the bag in it or in its folder `bag`; a folder
    /// that cannot be made is reported as the `--out` the user gave, not as the hidden name.
    fn new(dest: &Path, bag: Option<&str>) -> Result<Staging> {
        Staging::create(dest, bag).map_err(|e| match e {
            Error::Io { source, .. } => Error::OutFolder {
                path: dest.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    fn create(dest: &Path, bag: Option<&str>) -> Result<Staging> {
        use std::os::unix::fs::DirBuilderExt;
        let (parent, prefix) = staging_prefix(dest)?;
        fsutil::create_dirs(&parent)?;
        let mut clash = None;
        // A clash with an existing name means someone guessed 64 random bits: try anew.
        for _ in 0..4 {
            let dir = parent.join(format!("{prefix}{}", random_suffix()?));
            // Guarded before it exists, so a signal between the two still removes it.
            interrupt::guard(&dir).at(&dir)?;
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let staging = Staging {
                        bag: bag.map_or_else(|| dir.clone(), |b| dir.join(b)),
                        dir,
                        dest: dest.to_path_buf(),
                        done: false,
                    };
                    let marker = format!("visitrec staging\npid {}\n", std::process::id());
                    fsutil::write_new(&staging.dir.join(STAGING_MARKER), marker.as_bytes())?;
                    fsutil::create_dirs(&staging.bag.join(DATA))?;
                    return Ok(staging);
                }
                Err(e) => {
                    interrupt::release(&dir);
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        return Err(Error::io(&dir, e));
                    }
                    clash = Some(Error::io(&dir, e));
                }
            }
        }
        Err(clash.expect("the loop ran"))
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
        interrupt::release(&self.dir);
        // The bag is complete and in place; a crash before this leaves only the marker.
        let marker = self.dest.join(STAGING_MARKER);
        fs::remove_file(&marker).at(&marker)?;
        fsutil::sync_dir(&self.dest)?;
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
            interrupt::release(&self.dir);
        }
    }
}

/// Whether the bag at `root` says it is an encrypted export.
pub fn is_export(info: &BagInfo) -> bool {
    info.get(CONTENT_LABEL) == Some(CONTENT_EXPORT)
}

/// Whether the bag says it is what `decrypt` made of an export.
pub fn is_opened_export(info: &BagInfo) -> bool {
    info.get(CONTENT_LABEL) == Some(CONTENT_OPENED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn not_an_export_names_the_file_it_lacks() {
        let e = Error::NotExport {
            path: "x".into(),
            archive: false,
        };
        assert!(e.to_string().contains(PLAINTEXT_MANIFEST), "{e}");
    }

    #[test]
    fn only_a_recordings_files_can_be_written() {
        let id = "0123456789abcdef";
        for (ok, kind) in [
            (format!("data/{id}/original.m4a"), PlainKind::Original),
            (format!("data/{id}/original.3gp"), PlainKind::Original),
            (format!("data/{id}/normalized.wav"), PlainKind::Normalized),
            (format!("data/{id}/envelope.json"), PlainKind::Envelope),
            (format!("data/{id}/segments/001.wav"), PlainKind::Segment),
            (format!("data/{id}/recording.json"), PlainKind::Metadata),
        ] {
            assert_eq!(plain_file_kind(&ok), Ok((id, kind)), "{ok}");
        }
        for bad in [
            "bagit.txt".to_string(),
            "manifest-sha256.txt".into(),
            "data/plaintext-manifest-sha256.txt".into(),
            format!("data/{id}"),
            format!("data/{id}/evil.sh"),
            format!("data/{id}/original."),
            format!("data/{id}/original.M4A"),
            format!("data/{id}/original.m4a/x"),
            format!("data/{id}/../{id}/recording.json"),
            format!("data/{id}/segments/../../../etc/passwd"),
            format!("data/{id}/segments/1.wav/x"),
            format!("data/{id}/segments/abc.wav"),
            format!("/data/{id}/recording.json"),
            format!("data/{}/recording.json", id.to_uppercase()),
            "data/0123/recording.json".into(),
            format!("x/data/{id}/recording.json"),
        ] {
            assert!(plain_file_kind(&bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Whatever the path, an accepted one stays inside the bag's data/<id>/ folder.
        #[test]
        fn accepted_paths_stay_in_their_folder(path in "(data/|/|\\.\\./)?([0-9a-f]{16}|\\.\\.|\\.|[a-z]{1,4})(/([a-z0-9./]{0,20}|segments/[0-9]{1,4}\\.wav|original\\.[a-z0-9]{1,3}))*") {
            if let Ok((id, _)) = plain_file_kind(&path) {
                prop_assert!(crate::relpath::unsafe_path_reason(&path).is_none());
                let folder = format!("data/{id}/");
                prop_assert!(path.starts_with(&folder));
                let parts: Vec<&str> = path.split('/').collect();
                prop_assert!(parts.len() <= 4);
                prop_assert!(parts.iter().all(|p| !p.is_empty() && *p != "." && *p != ".."));
            }
        }
    }

    #[test]
    fn capped_buffers_refuse_to_grow() {
        use std::io::Write;
        let mut c = Capped::new(10);
        c.write_all(b"0123456789").unwrap();
        assert!(c.write_all(b"x").is_err());
        assert_eq!(c.buf.len(), 10);
    }
}

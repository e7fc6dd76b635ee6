//! The library's error type and the process exit codes it maps to.

use std::io;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::failure::{DecryptFailure, RecipientError, describe_io};

/// Everything that can go wrong in the library. Each variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{}: {}", .path.display(), describe_io(.source))]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `path` is not a visitrec archive (or not a BagIt bag at all).
    #[error("{}: not a visitrec archive: {reason}", .path.display())]
    NotArchive {
        /// The folder given.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// `init` was pointed at a folder that already holds something.
    #[error("{}: already exists and is not empty; choose a new folder", .0.display())]
    AlreadyExists(PathBuf),
    /// Another process holds the archive's write lock.
    #[error("{}: archive is locked by {holder}; wait for it to finish and try again", .path.display())]
    Locked {
        /// The archive.
        path: PathBuf,
        /// Who holds it, e.g. "pid 4242".
        holder: String,
    },
    /// No recording id starts with the given prefix.
    #[error("no such recording {prefix} in {}; {}run `visitrec list {}` to see the ids", .archive.display(), did_you_mean(.suggestions), shell_word(.archive))]
    NoSuchRecording {
        /// The archive searched.
        archive: PathBuf,
        /// The prefix given.
        prefix: String,
        /// Ids that look like what was meant (closest first).
        suggestions: Vec<String>,
    },
    /// The recording was purged: only its tombstone is left.
    #[error(
        "recording {id} was purged on {on}: {reason}; only its tombstone is left (`visitrec show` shows it)"
    )]
    Purged {
        /// The recording.
        id: String,
        /// The UTC day it was purged.
        on: String,
        /// Why, in words.
        reason: String,
    },
    /// `purge` refused a recording (consent still active, or not explained by the log).
    #[error(
        "not purging recording {id}: {why}; or pass --force (with --reason) to purge it anyway; nothing was changed"
    )]
    PurgeRefused {
        /// The recording.
        id: String,
        /// Why.
        why: String,
    },
    /// Several recording ids start with the given prefix.
    #[error("recording id {prefix} is ambiguous: it matches {}; give more digits", .candidates.join(", "))]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// The ids it matches.
        candidates: Vec<String>,
    },
    /// A file (of the archive, or one given, such as an identity) does not have the form it
    /// must have.
    #[error("{}: {reason}", .path.display())]
    BadFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A symbolic link inside an archive, where visitrec never follows one.
    #[error("{}: is a symbolic link; visitrec never follows links inside an archive (replace it with the real file or folder, then run `visitrec verify`)", .0.display())]
    Symlink(PathBuf),
    /// The commit journal names something a transaction of visitrec's never would: it was
    /// planted or damaged, and nothing of it is applied.
    #[error("{}: invalid commit journal, nothing applied: {reason}; if no visitrec command was interrupted, someone else wrote this file: inspect it, then remove it", .path.display())]
    BadJournal {
        /// The journal.
        path: PathBuf,
        /// The first invalid entry.
        reason: String,
    },
    /// The bag carries a manifest in another algorithm than SHA-256 (made by another
    /// tool), which a write would leave stale.
    #[error("{}: visitrec keeps only SHA-256 manifests and a write would leave this {algorithm} one stale; nothing was changed (move it out of the bag, and drop its line from any tag manifest, to write here)", .path.display())]
    ForeignManifest {
        /// The manifest file.
        path: PathBuf,
        /// Its algorithm, as named in the file name.
        algorithm: String,
    },
    /// A recipient given to `encrypt` is refused. `given` names it (quoted, or by file and
    /// line) and never holds private key material.
    #[error("{given} {reason}")]
    Recipient {
        /// `recipient "age1…"`, `the recipient given`, or `FILE: line N`.
        given: String,
        /// Why.
        reason: RecipientError,
    },
    /// A flag's value is out of range, or does not fit with the rest of the command.
    #[error("{flag} {}: {reason}", shown(.value))]
    BadValue {
        /// The flag, e.g. `--rate`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A date flag (`--date`, `--expires`, `--at`) that is not `YYYY-MM-DD`.
    #[error("{flag} {}: not a date (YYYY-MM-DD)", shown(.value))]
    BadDate {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// A consent scope visitrec does not know.
    #[error("unknown consent scope {given:?}; use one of {}", .known.join(", "))]
    BadScope {
        /// The scope given.
        given: String,
        /// The scopes there are.
        known: Vec<&'static str>,
    },
    /// A tag that is not `key=value`.
    #[error("tag {0:?} must have the form key=value")]
    BadTag(String),
    /// A tag key outside `[a-z0-9][a-z0-9_.-]*`, or too long.
    #[error(
        "tag key {key:?} is not valid: use 1-{max} of a-z 0-9 _ . - starting with a letter or digit"
    )]
    BadTagKey {
        /// The key given.
        key: String,
        /// The longest key allowed.
        max: usize,
    },
    /// A free-text value (a tag value, a label, `--by`, …) that cannot be stored.
    #[error("{what} {problem}")]
    BadText {
        /// What the value is, e.g. `--participant` or `value of tag site`.
        what: String,
        /// What is wrong with it.
        problem: TextProblem,
    },
    /// A time in a recording that is neither `[[h:]mm:]ss[.fff]` nor seconds.
    #[error("time {0:?} is not [[h:]mm:]ss[.fff] or a number of seconds")]
    BadTime(String),
    /// A `--mark` that is not `TIME=LABEL`.
    #[error("mark {0:?} must have the form TIME=LABEL")]
    BadMark(String),
    /// A marks file (`--marks`) that does not parse.
    #[error("{}: {}{reason}", .path.display(), .line.map(|n| format!("line {n}: ")).unwrap_or_default())]
    BadMarks {
        /// The file given.
        path: PathBuf,
        /// The line concerned (none for a JSON file).
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A CSV file (`consent --from`, `ingest --manifest`) refused whole: every problem
    /// found, each as `FILE:LINE: reason`.
    #[error("{} (nothing was changed)", .problems.join("; "))]
    BadCsv {
        /// The file given.
        path: PathBuf,
        /// Every problem, in line order.
        problems: Vec<String>,
    },
    /// A mark placed before the start or after the end of its recording.
    #[error("mark at {at} is outside the recording {id} ({duration})")]
    MarkOutside {
        /// The recording.
        id: String,
        /// The mark's time, as `[h:]mm:ss.fff`.
        at: String,
        /// The recording's duration, likewise.
        duration: String,
    },
    /// A mark at a time that already has one with another label.
    #[error("recording {id} already has a mark at {at} ({label:?}); --unmark it first")]
    MarkTaken {
        /// The recording.
        id: String,
        /// The time.
        at: String,
        /// The label already there.
        label: String,
    },
    /// `--unmark` of a time that has no mark.
    #[error("recording {id} has no mark at {at}")]
    NoMark {
        /// The recording.
        id: String,
        /// The time given.
        at: String,
    },
    /// `--unset` of a tag the recording does not have.
    #[error("recording {id} has no tag {key}")]
    NoTag {
        /// The recording.
        id: String,
        /// The key given.
        key: String,
    },
    /// A consent grant with no scope.
    #[error("a grant needs at least one --scope")]
    GrantWithoutScope,
    /// A withdrawal of every scope when no grant is left to withdraw.
    #[error(
        "nothing to withdraw: every grant recorded for this recording was already withdrawn (or none was recorded)"
    )]
    NothingToWithdraw,
    /// A withdrawal of a scope that no grant still in the history covers.
    #[error("cannot withdraw {0}: no grant of it is recorded, or it was already withdrawn")]
    NotGranted(String),
    /// A command over recordings was given neither ids nor `--all`.
    #[error("name the recordings (ids or unique prefixes), or give --all")]
    NoRecordingsNamed,
    /// `encrypt` of an archive that holds no recording.
    #[error("{}: no recordings to export", .0.display())]
    NothingToExport(PathBuf),
    /// `encrypt --include normalized` of a recording that has no normalized rendition.
    #[error("{0} has no normalized rendition; run `visitrec normalize` first")]
    NotNormalized(String),
    /// `plot` of a recording normalized before envelopes were kept.
    #[error(
        "{0} has no envelope.json (it was normalized before visitrec kept envelopes); run `visitrec repair ARCHIVE {0}` to make one from its normalized audio"
    )]
    NoEnvelope(String),
    /// `encrypt --include segments` of a recording that was never segmented.
    #[error("{0} has not been segmented; run `visitrec segment` first")]
    NotSegmented(String),
    /// `encrypt --include` that leaves nothing of a recording.
    #[error("nothing of {0} matches --include")]
    NothingIncluded(String),
    /// A path that ends in `..` or `/`, where a folder is to be created.
    #[error("{}: not a folder name", .0.display())]
    NotAFolderName(PathBuf),
    /// A file handed to a transaction as staged that is not in the archive's staging
    /// folder (a bug in the caller).
    #[error("{}: not in the archive's staging folder", .0.display())]
    NotStaged(PathBuf),
    /// An `--out` inside a visitrec archive, where an export or decrypted bag must not go.
    #[error("--out {}: inside the visitrec archive {}; write exports and decrypted bags outside any archive", .out.display(), .archive.display())]
    OutInsideArchive {
        /// The `--out` given.
        out: PathBuf,
        /// The archive it lies in.
        archive: PathBuf,
    },
    /// A flag that reads an encrypted export was given an archive.
    #[error("{}: {flag} goes with an encrypted export, and this is an archive", .path.display())]
    NeedsExport {
        /// The archive given.
        path: PathBuf,
        /// The flag.
        flag: &'static str,
    },
    /// Decrypting was asked with no identity.
    #[error("no identity given")]
    NoIdentity,
    /// The age crate refused to encrypt to this set of recipients.
    #[error("cannot encrypt to these recipients: {0}")]
    CannotEncrypt(String),
    /// An original could not be rewritten without its metadata (`encrypt --strip-metadata`);
    /// nothing was exported.
    #[error("{}: cannot strip its metadata: {reason}; nothing was exported (export it without --strip-metadata, or leave it out)", .path.display())]
    CannotStrip {
        /// The original in the archive.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The operating system's random number generator failed: nothing can be encrypted.
    #[error("the system random number generator failed")]
    NoRandomness,
    /// Encryption ended before the whole input was read, without saying why.
    #[error("{}: encryption stopped before the end of the input", .0.display())]
    EncryptionStopped(PathBuf),
    /// Consent does not cover the purpose for some recordings: nothing was exported.
    #[error("consent does not cover {purpose} for {} of {} recording(s) ({}); nothing was written (a grant is recorded with `visitrec consent {} {} --grant --scope {purpose} --by WHO`{})", .refused.len(), .refused.len() + .covered, .refused.iter().map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>().join("; "), shell_word(.archive), match .refused.as_slice() { [(id, _)] => id.as_str(), _ => "ID" }, if *.covered > 0 { format!(", or export the {} covered one(s) alone with --skip-uncovered", .covered) } else { String::new() })]
    ConsentRefused {
        /// The archive.
        archive: PathBuf,
        /// The purpose asked for.
        purpose: String,
        /// Each refused recording and why.
        refused: Vec<(String, String)>,
        /// How many of the recordings asked for consent does cover.
        covered: usize,
    },
    /// A signal stopped the command; what it had written was removed.
    #[error("interrupted by {}; nothing was left behind", crate::interrupt::signal_name(*.signal))]
    Interrupted {
        /// The signal's number.
        signal: i32,
    },
    /// A signal stopped a batch command (ingest, normalize, segment) at a safe point: the
    /// recordings it had committed are kept, its staged work was removed.
    #[error("interrupted: {kept} kept, {redo} to redo — run the same command again")]
    Stopped {
        /// The signal's number.
        signal: i32,
        /// Recordings (or inputs) this run committed.
        kept: usize,
        /// The others it was asked to do.
        redo: usize,
    },
    /// An `--anchor` value that is not `SEQ:HASH`.
    #[error("--anchor {given}: {reason}")]
    BadAnchor {
        /// The value given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The audit log's hash chain is broken, so no head can be printed or signed.
    #[error("{}: line {line}: {reason}; the chain is broken, so its head is not vouched for: run `visitrec verify`", .path.display())]
    AuditBroken {
        /// The audit log.
        path: PathBuf,
        /// The first line where the chain breaks.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A key that cannot sign checkpoints (unreadable, not an OpenSSH private key, not
    /// ed25519, or passphrase-protected).
    #[error("{}: cannot sign a checkpoint with this key: {reason}", .path.display())]
    SigningKey {
        /// The key file given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A flag that checks an archive's audit history was given for a bag that has none
    /// (an export).
    #[error("{}: {flag} checks an archive's audit log, and this is an export (or one decrypted), which has none", .path.display())]
    NeedsArchive {
        /// The bag given.
        path: PathBuf,
        /// The flag.
        flag: &'static str,
    },
    /// The folder given as an export is not one (`archive`: it is a visitrec archive).
    #[error("{}: {}", .path.display(), if *.archive { "this is an archive, not an export; `visitrec encrypt` makes exports".to_string() } else { // The name of export::PLAINTEXT_MANIFEST (spelt out: error imports no module that uses it).
format!("not a visitrec export (it has no {})", "data/plaintext-manifest-sha256.txt.age") })]
    NotExport {
        /// The folder given.
        path: PathBuf,
        /// Whether it is a visitrec archive.
        archive: bool,
    },
    /// None of the identity files given opens the export: it was made for other recipients.
    #[error("{}: {} not open this export (it was encrypted for other recipients; ask its sender which key it was made for)", .path.display(), key_files(.keys))]
    KeyDoesNotOpen {
        /// The export.
        path: PathBuf,
        /// The identity files tried.
        keys: Vec<PathBuf>,
    },
    /// The `--out` folder cannot be made or written.
    #[error("--out {}: {}", .path.display(), describe_io(.source))]
    OutFolder {
        /// The folder given with `--out`.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An encrypted file could not be decrypted.
    #[error("{}: {failure}", .path.display())]
    Decrypt {
        /// The file.
        path: PathBuf,
        /// Why.
        failure: DecryptFailure,
    },
}

/// "the key in FILE does" or "none of the keys in A, B does", for [`Error::KeyDoesNotOpen`].
fn key_files(keys: &[PathBuf]) -> String {
    let names: Vec<String> = keys.iter().map(|k| k.display().to_string()).collect();
    match names.as_slice() {
        [one] => format!("the key in {one} does"),
        _ => format!("none of the keys in {} does", names.join(", ")),
    }
}

/// What is wrong with a free-text value ([`Error::BadText`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextProblem {
    /// It is empty.
    #[error("must not be empty")]
    Empty,
    /// It is longer than the limit.
    #[error("is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// It holds a control character (a line break, an escape, …).
    #[error("contains the control character U+{:04X}", u32::from(*.0))]
    Control(char),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> Exit {
        match self {
            Error::ConsentRefused { .. } | Error::PurgeRefused { .. } => Exit::Consent,
            Error::Interrupted { signal } | Error::Stopped { signal, .. } => Exit::Signal(*signal),
            _ => Exit::Fatal,
        }
    }

    /// A stable name for the kind of failure, for `--json` error documents.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::NotArchive { .. } => "not-archive",
            Error::AlreadyExists(_) => "already-exists",
            Error::Locked { .. } => "locked",
            Error::NoSuchRecording { .. } => "no-such-recording",
            Error::AmbiguousId { .. } => "ambiguous-id",
            Error::Purged { .. } => "purged",
            Error::PurgeRefused { .. } => "purge-refused",
            Error::BadFile { .. } => "bad-file",
            Error::Symlink(_) => "symlink",
            Error::BadJournal { .. } => "bad-journal",
            Error::ForeignManifest { .. } => "foreign-manifest",
            Error::Recipient { .. } => "recipient",
            Error::BadValue { .. } => "bad-value",
            Error::BadDate { .. } => "bad-date",
            Error::BadScope { .. } => "bad-scope",
            Error::BadTag(_) => "bad-tag",
            Error::BadTagKey { .. } => "bad-tag-key",
            Error::BadText { .. } => "bad-text",
            Error::BadTime(_) => "bad-time",
            Error::BadMark(_) => "bad-mark",
            Error::BadMarks { .. } => "bad-marks",
            Error::BadCsv { .. } => "bad-csv",
            Error::MarkOutside { .. } => "mark-outside",
            Error::MarkTaken { .. } => "mark-taken",
            Error::NoMark { .. } => "no-mark",
            Error::NoTag { .. } => "no-tag",
            Error::GrantWithoutScope => "grant-without-scope",
            Error::NothingToWithdraw => "nothing-to-withdraw",
            Error::NotGranted(_) => "not-granted",
            Error::NoRecordingsNamed => "no-recordings-named",
            Error::NothingToExport(_) => "nothing-to-export",
            Error::NotNormalized(_) => "not-normalized",
            Error::NoEnvelope(_) => "no-envelope",
            Error::NotSegmented(_) => "not-segmented",
            Error::NothingIncluded(_) => "nothing-included",
            Error::NotAFolderName(_) => "not-a-folder-name",
            Error::NotStaged(_) => "not-staged",
            Error::OutInsideArchive { .. } => "out-inside-archive",
            Error::NeedsExport { .. } => "needs-export",
            Error::NoIdentity => "no-identity",
            Error::CannotEncrypt(_) => "cannot-encrypt",
            Error::CannotStrip { .. } => "cannot-strip",
            Error::NoRandomness => "no-randomness",
            Error::EncryptionStopped(_) => "encryption-stopped",
            Error::ConsentRefused { .. } => "consent-refused",
            Error::Interrupted { .. } | Error::Stopped { .. } => "interrupted",
            Error::BadAnchor { .. } => "bad-anchor",
            Error::AuditBroken { .. } => "audit-broken",
            Error::SigningKey { .. } => "signing-key",
            Error::NeedsArchive { .. } => "needs-archive",
            Error::Decrypt { .. } => "decrypt",
            Error::NotExport { .. } => "not-export",
            Error::KeyDoesNotOpen { .. } => "wrong-key",
            Error::OutFolder { .. } => "out-folder",
        }
    }

    /// The file or folder the failure concerns, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::NotArchive { path, .. }
            | Error::Locked { path, .. }
            | Error::BadFile { path, .. }
            | Error::CannotStrip { path, .. }
            | Error::BadJournal { path, .. }
            | Error::ForeignManifest { path, .. }
            | Error::AuditBroken { path, .. }
            | Error::SigningKey { path, .. }
            | Error::NeedsArchive { path, .. }
            | Error::Decrypt { path, .. }
            | Error::NotExport { path, .. }
            | Error::KeyDoesNotOpen { path, .. }
            | Error::OutFolder { path, .. }
            | Error::BadMarks { path, .. }
            | Error::BadCsv { path, .. }
            | Error::NeedsExport { path, .. }
            | Error::OutInsideArchive { out: path, .. }
            | Error::AlreadyExists(path)
            | Error::NothingToExport(path)
            | Error::NotAFolderName(path)
            | Error::NotStaged(path)
            | Error::EncryptionStopped(path)
            | Error::Symlink(path) => Some(path),
            Error::NoSuchRecording { archive, .. } | Error::ConsentRefused { archive, .. } => {
                Some(archive)
            }
            Error::AmbiguousId { .. }
            | Error::Purged { .. }
            | Error::PurgeRefused { .. }
            | Error::Recipient { .. }
            | Error::Interrupted { .. }
            | Error::Stopped { .. }
            | Error::BadAnchor { .. }
            | Error::BadValue { .. }
            | Error::BadDate { .. }
            | Error::BadScope { .. }
            | Error::BadTag(_)
            | Error::BadTagKey { .. }
            | Error::BadText { .. }
            | Error::BadTime(_)
            | Error::BadMark(_)
            | Error::MarkOutside { .. }
            | Error::MarkTaken { .. }
            | Error::NoMark { .. }
            | Error::NoTag { .. }
            | Error::GrantWithoutScope
            | Error::NothingToWithdraw
            | Error::NotGranted(_)
            | Error::NoRecordingsNamed
            | Error::NotNormalized(_)
            | Error::NoEnvelope(_)
            | Error::NotSegmented(_)
            | Error::NothingIncluded(_)
            | Error::NoIdentity
            | Error::CannotEncrypt(_)
            | Error::NoRandomness => None,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            // A staging path pinned to a held folder is shown as where that folder is.
            path: unpinned(path.as_ref()),
            source,
        }
    }
}

/// The real path behind a pinned path (`/proc/self/fd/N/rest`, as `beneath::Dir::pinned_path`
/// makes them): the folder's current path joined with `rest`, for messages; other paths
/// unchanged.
fn unpinned(path: &Path) -> PathBuf {
    let Ok(rest) = path.strip_prefix("/proc/self/fd") else {
        return path.to_path_buf();
    };
    let mut parts = rest.components();
    let Some(fd) = parts.next() else {
        return path.to_path_buf();
    };
    match std::fs::read_link(Path::new("/proc/self/fd").join(fd)) {
        Ok(real) => real.join(parts.as_path()),
        Err(_) => path.to_path_buf(),
    }
}

/// A value as typed, quoted (with escapes) unless it is plainly one word of letters,
/// digits and `.:+-_/`, so that a message stays one line and shows where it ends.
fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || ".:+-_/".contains(c));
    if plain {
        value.into()
    } else {
        format!("{value:?}").into()
    }
}

/// `path` as one shell word, for a command the user is told to run: quoted when it holds
/// anything but letters, digits and `_./:@%+=,-`, so copying the hint works.
fn shell_word(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s
    } else {
        // `'"'"'` rather than `'\''`: printed messages escape a backslash.
        format!("'{}'", s.replace('\'', r#"'"'"'"#))
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", suggestions.join(" or "))
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Adds the path to an `io::Result`.
pub trait IoContext<T> {
    /// Attaches `path` to the error, if any.
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_quoted_only_when_it_is_not_one_plain_word() {
        let shown = |value: &str| {
            Error::BadValue {
                flag: "--include",
                value: value.into(),
                reason: "why".into(),
            }
            .to_string()
        };
        assert_eq!(shown("-70.5"), "--include -70.5: why");
        assert_eq!(shown("2026-13-01"), "--include 2026-13-01: why");
        assert_eq!(shown("a b"), "--include \"a b\": why");
        assert_eq!(shown(""), "--include \"\": why");
        // A line break stays escaped: every message is one line.
        assert_eq!(shown("x\ny"), "--include \"x\\ny\": why");
    }

    #[test]
    fn a_marks_file_error_names_the_line_when_there_is_one() {
        let e = |line| Error::BadMarks {
            path: "marks.csv".into(),
            line,
            reason: "expected time,label".into(),
        };
        assert_eq!(
            e(Some(3)).to_string(),
            "marks.csv: line 3: expected time,label"
        );
        assert_eq!(e(None).to_string(), "marks.csv: expected time,label");
    }

    #[test]
    fn only_consent_and_signals_have_their_own_exit_codes() {
        assert_eq!(
            Error::ConsentRefused {
                archive: "a".into(),
                purpose: "research".into(),
                refused: vec![],
                covered: 0,
            }
            .exit_code(),
            Exit::Consent
        );
        assert_eq!(
            Error::Interrupted { signal: 15 }.exit_code(),
            Exit::Signal(15)
        );
        assert_eq!(Error::NoRandomness.exit_code(), Exit::Fatal);
        assert_eq!(Error::NoRecordingsNamed.exit_code(), Exit::Fatal);
    }
}

//! The library's error type and the process exit codes it maps to.

use std::io;
use std::path::{Path, PathBuf};

use crate::exit::Exit;

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
    #[error("no such recording {prefix} in {}; {}run `visitrec list {}` to see the ids", .archive.display(), did_you_mean(.suggestions), .archive.display())]
    NoSuchRecording {
        /// The archive searched.
        archive: PathBuf,
        /// The prefix given.
        prefix: String,
        /// Ids that look like what was meant (closest first).
        suggestions: Vec<String>,
    },
    /// Several recording ids start with the given prefix.
    #[error("recording id {prefix} is ambiguous: it matches {}; give more digits", .candidates.join(", "))]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// The ids it matches.
        candidates: Vec<String>,
    },
    /// A file inside the archive does not have the form it must have.
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
        reason: crate::crypto::RecipientError,
    },
    /// A value given on the command line is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Consent does not cover the purpose for some recordings: nothing was exported.
    #[error("consent does not cover {purpose} for {}; nothing was written (a grant is recorded with `visitrec consent {} {} --grant --scope {purpose} --by WHO`)", .refused.iter().map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>().join("; "), .archive.display(), match .refused.as_slice() { [(id, _)] => id.as_str(), _ => "ID" })]
    ConsentRefused {
        /// The archive.
        archive: PathBuf,
        /// The purpose asked for.
        purpose: String,
        /// Each refused recording and why.
        refused: Vec<(String, String)>,
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
    #[error("{}: {flag} checks an archive's audit log, and this is an export, which has none", .path.display())]
    NeedsArchive {
        /// The bag given.
        path: PathBuf,
        /// The flag.
        flag: &'static str,
    },
    /// The folder given as an export is not one (`archive`: it is a visitrec archive).
    #[error("{}: {}", .path.display(), if *.archive { "this is an archive, not an export; `visitrec encrypt` makes exports".to_string() } else { format!("not a visitrec export (it has no {})", crate::export::PLAINTEXT_MANIFEST) })]
    NotExport {
        /// The folder given.
        path: PathBuf,
        /// Whether it is a visitrec archive.
        archive: bool,
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
        failure: crate::crypto::DecryptFailure,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> Exit {
        match self {
            Error::ConsentRefused { .. } => Exit::Consent,
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
            Error::BadFile { .. } => "bad-file",
            Error::Symlink(_) => "symlink",
            Error::BadJournal { .. } => "bad-journal",
            Error::ForeignManifest { .. } => "foreign-manifest",
            Error::Recipient { .. } => "recipient",
            Error::Invalid(_) => "invalid",
            Error::ConsentRefused { .. } => "consent-refused",
            Error::Interrupted { .. } | Error::Stopped { .. } => "interrupted",
            Error::BadAnchor { .. } => "bad-anchor",
            Error::AuditBroken { .. } => "audit-broken",
            Error::SigningKey { .. } => "signing-key",
            Error::NeedsArchive { .. } => "needs-archive",
            Error::Decrypt { .. } => "decrypt",
            Error::NotExport { .. } => "not-export",
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
            | Error::BadJournal { path, .. }
            | Error::ForeignManifest { path, .. }
            | Error::AuditBroken { path, .. }
            | Error::SigningKey { path, .. }
            | Error::NeedsArchive { path, .. }
            | Error::Decrypt { path, .. }
            | Error::NotExport { path, .. }
            | Error::OutFolder { path, .. }
            | Error::AlreadyExists(path)
            | Error::Symlink(path) => Some(path),
            Error::NoSuchRecording { archive, .. } | Error::ConsentRefused { archive, .. } => {
                Some(archive)
            }
            Error::AmbiguousId { .. }
            | Error::Recipient { .. }
            | Error::Invalid(_)
            | Error::Interrupted { .. }
            | Error::Stopped { .. }
            | Error::BadAnchor { .. } => None,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            // A staging path pinned to a held folder is shown as where that folder is.
            path: crate::beneath::unpinned(path.as_ref()),
            source,
        }
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", suggestions.join(" or "))
    }
}

/// A short, human reason for an I/O error (no "os error 28" noise for the common cases).
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::StorageFull => "no space left on device".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::ReadOnlyFilesystem => "read-only file system".into(),
        io::ErrorKind::IsADirectory => "is a directory".into(),
        io::ErrorKind::UnexpectedEof => "file ends unexpectedly".into(),
        _ => e.to_string(),
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

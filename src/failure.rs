//! Why a step failed, for the reasons other modules' errors carry: an I/O error said
//! shortly, a refused recipient, a file that could not be decrypted. It imports nothing of
//! the crate, so that [`crate::error`] and [`crate::crypto`] can both use it.

use std::io;

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

/// Why a recipient was refused. It never holds the text given: that may be a private key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecipientError {
    /// An age or SSH private key where a public key belongs.
    #[error("is a private key: give the public key (age1…) instead")]
    PrivateKey,
    /// `Public key: age1…`, as `age-keygen` prints it.
    #[error("starts with \"Public key:\": drop that prefix and give only the key")]
    Prefixed,
    /// `age1<plugin>1…`: plugins would make age run a program.
    #[error("is an age plugin recipient; plugins are not supported")]
    Plugin,
    /// Looks like an age key but does not decode.
    #[error("is not a valid age public key ({0})")]
    BadAge(&'static str),
    /// Looks like an SSH key but is not a usable one.
    #[error("is not a usable SSH public key ({0})")]
    BadSsh(String),
    /// Neither.
    #[error("is not a public key: expected an age1… or ssh-ed25519/ssh-rsa public key")]
    Unknown,
}

/// Why a file could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum DecryptFailure {
    /// None of the identities opens the file.
    #[error("no identity matches")]
    NoMatch,
    /// The passphrase does not open the file.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The file was tampered with or truncated (authentication failed).
    #[error("authentication failed: the file was altered or truncated")]
    Tampered,
    /// The file asks for more scrypt work than visitrec allows
    /// (`crypto::MAX_SCRYPT_LOG_N`).
    #[error(
        "its passphrase needs scrypt work factor 2^{required}, above the limit of 2^{limit} \
         (minutes of work and gigabytes of memory); refused"
    )]
    WorkFactor {
        /// The work factor (`log2 N`) the file asks for.
        required: u8,
        /// The highest one allowed.
        limit: u8,
    },
    /// Not an age file, or its header is malformed.
    #[error("not a valid age file: {0}")]
    NotAge(String),
    /// The ASCII armor (`-----BEGIN AGE ENCRYPTED FILE-----`) is malformed.
    #[error("malformed ASCII armor: {0}")]
    Armor(String),
    /// Reading or writing failed.
    #[error("{}", describe_io(.0))]
    Io(io::Error),
}

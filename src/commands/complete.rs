//! Dynamic shell completion: the shell asks the binary itself (`COMPLETE=bash visitrec --
//! …`), so scopes and the ids of the archive named on the line complete, not file names.
//! `completions/` holds the registration scripts that make a shell ask.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use visitrec::consent::Scope;

/// The environment variable that makes the binary complete instead of run.
pub const VAR: &str = "COMPLETE";

/// Answers a completion request when the shell made one (and exits); otherwise returns.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(super::cli_command)
        .var(VAR)
        .bin("visitrec")
        .completer("visitrec")
        .complete();
}

/// Completes consent scopes, also after a comma (`--scope care,re<TAB>`).
pub fn scopes() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let current = current.to_string_lossy();
        let (done, last) = current.rsplit_once(',').unwrap_or(("", &current));
        let prefix = if done.is_empty() {
            String::new()
        } else {
            format!("{done},")
        };
        Scope::ALL
            .iter()
            .filter(|s| s.as_str().starts_with(last))
            .map(|s| CompletionCandidate::new(format!("{prefix}{}", s.as_str())))
            .collect()
    })
}

/// Completes the recording ids of the archive given earlier on the command line.
pub fn recording_ids() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let current = current.to_string_lossy();
        let Some(archive) = archive_on_line(std::env::args_os().map(PathBuf::from)) else {
            return Vec::new();
        };
        let Ok(a) = visitrec::archive::Archive::open(&archive) else {
            return Vec::new();
        };
        a.recording_ids()
            .unwrap_or_default()
            .into_iter()
            // A hostile manifest may name a folder with escapes or a newline in it: only
            // real ids are offered, so nothing else reaches the shell.
            .filter(|id| visitrec::record::is_valid_id(id) && id.starts_with(current.as_ref()))
            .map(CompletionCandidate::new)
            .collect()
    })
}

/// The archive of a line being completed: `visitrec -- visitrec [flags] COMMAND ARCHIVE …`,
/// the first word after the subcommand that is not a flag.
fn archive_on_line(args: impl Iterator<Item = PathBuf>) -> Option<PathBuf> {
    let words: Vec<PathBuf> = args.skip_while(|a| a != Path::new("--")).skip(2).collect();
    let mut plain = words
        .iter()
        .filter(|w| !w.as_os_str().to_string_lossy().starts_with('-'));
    plain.next()?; // the subcommand
    plain.next().cloned()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn finds_the_archive_after_the_subcommand() {
        let line = |s: &str| {
            s.split(' ')
                .map(PathBuf::from)
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(
            super::archive_on_line(line("visitrec -- visitrec -q show study 3f")),
            Some(PathBuf::from("study"))
        );
        assert_eq!(
            super::archive_on_line(line("visitrec -- visitrec show")),
            None
        );
        assert_eq!(super::archive_on_line(line("visitrec show a b")), None);
    }
}

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
/// the first word after the subcommand that is neither a flag nor a flag's value
/// (`tag --actor bob study <TAB>` completes the ids of `study`, not of `bob`).
fn archive_on_line(args: impl Iterator<Item = PathBuf>) -> Option<PathBuf> {
    let words: Vec<String> = args
        .skip_while(|a| a != Path::new("--"))
        .skip(2)
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let cli = super::cli_command();
    let mut command: Option<clap::Command> = None;
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if word.starts_with('-') {
            let scope = command.as_ref().unwrap_or(&cli);
            if flag_takes_a_separate_value(scope, word) {
                i += 1;
            }
            continue;
        }
        match &command {
            None => command = Some(cli.find_subcommand(word)?.clone()),
            Some(_) => return Some(PathBuf::from(word)),
        }
    }
    None
}

/// Whether `word` (`--name`, `-n`, or a cluster of short flags ending in one) is a flag of
/// `command` whose value is the next word (not `--name=value` or `-nVALUE`).
fn flag_takes_a_separate_value(command: &clap::Command, word: &str) -> bool {
    let takes = |a: &clap::Arg| a.get_action().takes_values();
    if let Some(long) = word.strip_prefix("--") {
        return !long.contains('=')
            && command
                .get_arguments()
                .any(|a| a.get_long() == Some(long) && takes(a));
    }
    let shorts: Vec<char> = word.chars().skip(1).collect();
    // In `-qi`, `i` is last and takes the next word; in `-ikey.txt` the value is attached.
    for (n, c) in shorts.iter().enumerate() {
        if command
            .get_arguments()
            .any(|a| a.get_short() == Some(*c) && takes(a))
        {
            return n + 1 == shorts.len();
        }
    }
    false
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
        // A flag's value is not the archive, whichever side of the subcommand it is.
        assert_eq!(
            super::archive_on_line(line("visitrec -- visitrec tag --actor bob study 3f")),
            Some(PathBuf::from("study"))
        );
        assert_eq!(
            super::archive_on_line(line("visitrec -- visitrec tag --actor=bob study 3f")),
            Some(PathBuf::from("study"))
        );
        assert_eq!(
            super::archive_on_line(line("visitrec -- visitrec decrypt -i key.txt exp")),
            Some(PathBuf::from("exp"))
        );
        assert_eq!(
            super::archive_on_line(line("visitrec -- visitrec -v show --json study")),
            Some(PathBuf::from("study"))
        );
    }
}

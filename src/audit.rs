//! The audit trail: `ARCHIVE/audit.jsonl`, one JSON line per change, hash-chained.
//!
//! Each line carries the SHA-256 of the previous line's exact bytes (`prev`; 64 zeros for
//! the first), so an edited, reordered or removed line breaks the chain at that point. The
//! file is a BagIt tag file, covered by the tag manifest, and is only ever rewritten as part
//! of a committed transaction.

use serde::{Deserialize, Serialize};

use crate::hash;

/// The audit log's file name (a tag file at the bag's root).
pub const AUDIT_LOG: &str = "audit.jsonl";

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1-based position in the log.
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What: `ingest`, `normalize`, `segment`, `tag`, `consent`, `export`.
    pub op: String,
    /// The recordings concerned.
    pub ids: Vec<String>,
    /// Who, as declared (`--actor`, else `$USER`, else the OS user name).
    pub actor: String,
    /// The OS user id of the process that wrote the line (from the OS, not the
    /// environment; absent only in lines written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The OS user name of that id (from the password database; `uid N` when it has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The tool and version that wrote the line.
    pub tool: String,
    /// Operation-specific facts (settings, tag keys, consent scopes, export recipients).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// SHA-256 of the previous line's bytes (without its newline).
    pub prev: String,
}

/// A change about to be logged (the chain fields are filled at commit).
#[derive(Debug, Clone)]
pub struct Pending {
    /// The operation.
    pub op: String,
    /// The recordings concerned.
    pub ids: Vec<String>,
    /// Operation-specific facts.
    pub details: serde_json::Value,
}

/// Appends `pending` to the log text `existing` (which must end in a newline or be empty),
/// chaining each new line to the last one, each recorded as done by `actor` with `tool`
/// (the software and its version, e.g. `visitrec/0.1.0`). Returns the new text.
pub fn append(existing: &str, pending: &[Pending], actor: &str, tool: &str) -> String {
    let mut out = existing.to_string();
    out.push_str(&new_lines(existing.lines().last(), pending, actor, tool));
    out
}

/// The lines (each ending in a newline) that [`append`] adds to a log whose last line is
/// `last` (`None` for an empty log): what a commit appends to the file in place.
pub fn new_lines(last: Option<&str>, pending: &[Pending], actor: &str, tool: &str) -> String {
    let mut out = String::new();
    let (mut seq, mut prev) = match last {
        Some(last) => (
            serde_json::from_str::<Entry>(last).map_or(0, |e| e.seq),
            hash::hash_bytes(last.as_bytes()).sha256,
        ),
        None => (0, GENESIS.to_string()),
    };
    let at = crate::time::now();
    let os = OsUser::current();
    for p in pending {
        seq += 1;
        let entry = Entry {
            seq,
            at: at.clone(),
            op: p.op.clone(),
            ids: p.ids.clone(),
            actor: actor.to_string(),
            uid: Some(os.uid),
            user: Some(os.name.clone()),
            tool: tool.to_string(),
            details: p.details.clone(),
            prev: prev.clone(),
        };
        let line = serde_json::to_string(&entry).expect("audit entry serializes");
        prev = hash::hash_bytes(line.as_bytes()).sha256;
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A break in the chain: the 1-based line number and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The line where the chain breaks.
    pub line: usize,
    /// What is wrong there.
    pub reason: String,
}

/// Checks the whole chain; returns every break found (empty when intact).
pub fn check(text: &str) -> Vec<Break> {
    let mut breaks = Vec::new();
    let mut prev = GENESIS.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        breaks.push(Break {
            line: text.lines().count(),
            reason: "last line is incomplete (no newline)".into(),
        });
    }
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => {
                if e.prev != prev {
                    breaks.push(Break {
                        line: n,
                        reason:
                            "prev does not match the line before it (edited, removed or reordered)"
                                .into(),
                    });
                }
                if e.seq != n as u64 {
                    breaks.push(Break {
                        line: n,
                        reason: format!("seq is {}, expected {n}", e.seq),
                    });
                }
            }
            Err(err) => breaks.push(Break {
                line: n,
                reason: format!("not an audit entry: {err}"),
            }),
        }
        prev = hash::hash_bytes(line.as_bytes()).sha256;
    }
    breaks
}

/// Parses the entries of a log, skipping lines that do not parse.
pub fn entries(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Who is making a change, as declared: the given actor, else `$USER`, else the OS user
/// name (never `unknown`). The OS user is recorded beside it in every entry regardless.
pub fn actor(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| OsUser::current().name)
}

/// The OS account running this process, as the OS says (not the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsUser {
    /// The real user id.
    pub uid: u32,
    /// Its name in the password database, or `uid N` when it has none.
    pub name: String,
}

impl OsUser {
    /// The account running this process.
    pub fn current() -> OsUser {
        // SAFETY: getuid cannot fail and touches no memory of ours.
        let uid = unsafe { libc::getuid() };
        OsUser {
            uid,
            name: user_name(uid).unwrap_or_else(|| format!("uid {uid}")),
        }
    }
}

/// The password database's name for `uid` (getpwuid_r: thread-safe).
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: `pwd` is plain data the call fills in; `buf` outlives every pointer the call
    // stores in `pwd`, and we read `pw_name` only while `buf` is alive.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_string_lossy()
            .into_owned();
        (!name.is_empty()).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(op: &str) -> Pending {
        Pending {
            op: op.into(),
            ids: vec!["0123456789abcdef".into()],
            details: serde_json::Value::Null,
        }
    }

    #[test]
    fn chain_holds_and_every_tamper_breaks_it() {
        let log = append("", &[pending("ingest"), pending("tag")], "alice", "t/1");
        let log = append(&log, &[pending("consent")], "bob", "t/2");
        assert!(check(&log).is_empty(), "{:?}", check(&log));
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(entries(&log)[2].seq, 3);

        let edited = log.replacen("\"tag\"", "\"tug\"", 1);
        assert_eq!(check(&edited)[0].line, 3, "the line after the edit breaks");
        let removed = format!("{}\n{}\n", lines[0], lines[2]);
        assert!(!check(&removed).is_empty());
        let reordered = format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]);
        assert!(!check(&reordered).is_empty());
        let truncated = &log[..log.len() - 5];
        assert!(!check(truncated).is_empty());
    }

    #[test]
    fn each_line_names_the_actor_and_tool_given() {
        let log = append("", &[pending("ingest")], "alice", "t/1");
        let log = append(&log, &[pending("tag")], "bob", "t/2");
        let who: Vec<(String, String)> = entries(&log)
            .into_iter()
            .map(|e| (e.actor, e.tool))
            .collect();
        assert_eq!(
            who,
            [("alice".into(), "t/1".into()), ("bob".into(), "t/2".into())]
        );
    }
}

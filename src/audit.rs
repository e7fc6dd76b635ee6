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
    /// Who (`--actor`, else `$USER`).
    pub actor: String,
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
/// chaining each new line to the last one. Returns the new text.
pub fn append(existing: &str, pending: &[Pending], actor: &str) -> String {
    let mut out = existing.to_string();
    let (mut seq, mut prev) = match existing.lines().last() {
        Some(last) => (
            serde_json::from_str::<Entry>(last).map_or(0, |e| e.seq),
            hash::hash_bytes(last.as_bytes()).sha256,
        ),
        None => (0, GENESIS.to_string()),
    };
    let at = crate::record::now();
    for p in pending {
        seq += 1;
        let entry = Entry {
            seq,
            at: at.clone(),
            op: p.op.clone(),
            ids: p.ids.clone(),
            actor: actor.to_string(),
            tool: crate::archive::software_agent(),
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

/// Who is making a change: the given actor, else `$USER`, else `unknown`.
pub fn actor(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into())
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
        let log = append("", &[pending("ingest"), pending("tag")], "alice");
        let log = append(&log, &[pending("consent")], "bob");
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
}

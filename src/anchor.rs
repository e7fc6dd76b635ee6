//! Anchors: facts about the audit log kept outside the archive, so that a history rewritten
//! inside it (lines dropped, or the whole chain rebuilt with recomputed manifests) is caught.
//!
//! The head of the log is `SEQ:HASH`: the number of lines and the SHA-256 of the last one
//! (`0:` and 64 zeros for an empty log). Since every line carries the hash of the one
//! before it, a line that still hashes to what was noted vouches for every line up to it.
//! `visitrec log ARCHIVE --head` prints the head; `verify --anchor SEQ:HASH` (or `--anchors
//! FILE`, one per line) fails unless line SEQ still hashes to HASH.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::archive::{Archive, TAG_MANIFEST};
use crate::audit::{self, AUDIT_LOG, GENESIS};
use crate::error::{Error, IoContext, Result};
use crate::hash;

/// A line of the audit log as noted at some time: its 1-based number and the SHA-256 of its
/// bytes (without the newline). Seq 0 with 64 zeros is the head of an empty log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Anchor {
    /// The line number (the log's `seq`).
    pub seq: u64,
    /// Lower-case hex SHA-256 of that line's bytes.
    pub head: String,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.head)
    }
}

impl FromStr for Anchor {
    type Err = String;

    /// Parses `SEQ:HASH` (decimal seq, 64 hex digits; upper-case hex is accepted).
    fn from_str(s: &str) -> std::result::Result<Anchor, String> {
        let (seq, head) = s
            .split_once(':')
            .ok_or("not SEQ:HASH (e.g. 12:3f9a…, as `visitrec log ARCHIVE --head` prints)")?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("seq {seq:?} is not a line number"));
        }
        let seq: u64 = seq.parse().map_err(|_| format!("seq {seq} is too large"))?;
        if head.len() != 64 || !head.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the hash is not 64 hex digits (a SHA-256)".into());
        }
        let head = head.to_ascii_lowercase();
        if seq == 0 && head != GENESIS {
            return Err("seq 0 is the empty log, whose head is 64 zeros".into());
        }
        Ok(Anchor { seq, head })
    }
}

/// Parses an `--anchor` value.
pub fn parse_flag(given: &str) -> Result<Anchor> {
    given.trim().parse().map_err(|reason| Error::BadAnchor {
        given: given.to_string(),
        reason,
    })
}

/// Reads an anchors file: one `SEQ:HASH` per line; blank lines and `#` comments are
/// ignored. A line that is neither is an error naming the file and the line.
pub fn read_file(path: &Path) -> Result<Vec<Anchor>> {
    let text = std::fs::read_to_string(path).at(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(line.parse().map_err(|reason| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("line {}: {reason}", i + 1),
        })?);
    }
    Ok(out)
}

/// The head of a log's text: its last line's number and hash (`0:` zeros when empty).
pub fn head_of_text(text: &str) -> Anchor {
    match text.lines().enumerate().last() {
        Some((i, line)) => Anchor {
            seq: i as u64 + 1,
            head: hash::hash_bytes(line.as_bytes()).sha256,
        },
        None => Anchor {
            seq: 0,
            head: GENESIS.to_string(),
        },
    }
}

/// The committed audit log of `archive`, checked to be what the tag manifest lists and an
/// unbroken chain: the text a head can be taken of, or signed. An absent log is empty.
pub fn vouched_log(archive: &Archive) -> Result<String> {
    let path = archive.root().join(AUDIT_LOG);
    let Some(text) = archive.read_text(AUDIT_LOG)? else {
        return Ok(String::new());
    };
    let listed = archive
        .strict_manifest(TAG_MANIFEST)?
        .entries
        .get(AUDIT_LOG)
        .cloned();
    let actual = hash::hash_bytes(text.as_bytes()).sha256;
    if listed.as_deref() != Some(actual.as_str()) {
        return Err(Error::BadFile {
            path,
            reason: "does not match tagmanifest-sha256.txt (changed outside visitrec); run \
                     `visitrec verify`"
                .into(),
        });
    }
    if let Some(b) = audit::check(&text).into_iter().next() {
        return Err(Error::AuditBroken {
            path,
            line: b.line,
            reason: b.reason,
        });
    }
    Ok(text)
}

/// The head of the committed audit log of the archive at `path` (see [`vouched_log`]).
pub fn head(path: &Path) -> Result<Anchor> {
    let archive = Archive::open(path)?;
    Ok(head_of_text(&vouched_log(&archive)?))
}

/// Whether line `anchor.seq` of `text` still hashes to `anchor.head`: `None` when it does,
/// else what is wrong.
pub fn check(text: &str, anchor: &Anchor) -> Option<String> {
    if anchor.seq == 0 {
        return None; // the empty log is the start of every log
    }
    let lines = text.lines().count() as u64;
    let Some(line) = text.lines().nth((anchor.seq - 1) as usize) else {
        return Some(format!(
            "anchor {anchor}: the log has only {lines} line(s) now: lines were removed, or \
             the log was rebuilt"
        ));
    };
    let actual = hash::hash_bytes(line.as_bytes()).sha256;
    (actual != anchor.head).then(|| {
        format!(
            "anchor {anchor}: line {} now hashes to {actual}: the history up to it was \
             rewritten",
            anchor.seq
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn log(n: usize) -> String {
        log_by(n, "alice")
    }

    fn log_by(n: usize, actor: &str) -> String {
        let pending: Vec<audit::Pending> = (0..n)
            .map(|i| audit::Pending {
                op: "tag".into(),
                ids: vec![format!("{i:016x}")],
                details: serde_json::Value::Null,
            })
            .collect();
        audit::append("", &pending, actor, "visitrec/test")
    }

    #[test]
    fn head_names_the_last_line_and_every_earlier_line_can_be_anchored() {
        let text = log(3);
        let head = head_of_text(&text);
        assert_eq!(head.seq, 3);
        assert_eq!(
            head.head,
            hash::hash_bytes(text.lines().last().unwrap().as_bytes()).sha256
        );
        assert_eq!(check(&text, &head), None);
        let empty = head_of_text("");
        assert_eq!(empty.to_string(), format!("0:{GENESIS}"));
        assert_eq!(check(&text, &empty), None);
        // The log grows: the old head still holds.
        let grown = audit::append(
            &text,
            &[audit::Pending {
                op: "consent".into(),
                ids: vec![],
                details: serde_json::Value::Null,
            }],
            "bob",
            "visitrec/test",
        );
        assert_eq!(check(&grown, &head), None);
    }

    #[test]
    fn truncation_and_rebuilt_lines_break_an_anchor() {
        let text = log(3);
        let head = head_of_text(&text);
        let truncated: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert!(check(&truncated, &head).unwrap().contains("only 2 line(s)"));
        // A chain rebuilt from scratch has the same shape, yet different bytes.
        let rebuilt = log_by(3, "mallory");
        assert!(audit::check(&rebuilt).is_empty());
        assert!(check(&rebuilt, &head).unwrap().contains("rewritten"));
    }

    #[test]
    fn anchors_parse_strictly() {
        let h = "ab".repeat(32);
        assert_eq!(
            format!("7:{}", h.to_uppercase()).parse::<Anchor>(),
            Ok(Anchor {
                seq: 7,
                head: h.clone()
            })
        );
        for bad in [
            "",
            "7",
            &h,
            &format!(":{h}"),
            &format!("-1:{h}"),
            &format!("+7:{h}"),
            &format!("7:{}", &h[1..]),
            &format!("7:{h}0"),
            &format!("7:{}g", &h[1..]),
            &format!("0:{h}"),
            &format!("99999999999999999999999:{h}"),
        ] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn an_anchors_file_names_its_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors.txt");
        let text = log(2);
        let head = head_of_text(&text);
        std::fs::write(
            &path,
            format!("# nightly heads\n\n{}\n  {head}  \n", head_of_text("")),
        )
        .unwrap();
        assert_eq!(read_file(&path).unwrap().len(), 2);
        std::fs::write(&path, format!("{head}\n12 {}\n", head.head)).unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("anchors.txt") && err.contains("line 2"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(a) = s.parse::<Anchor>() {
                prop_assert_eq!(a.to_string().parse::<Anchor>(), Ok(a));
            }
        }

        #[test]
        fn every_display_parses_back(seq in 1u64.., bytes in proptest::collection::vec(any::<u8>(), 32)) {
            let a = Anchor { seq, head: hex::encode(bytes) };
            prop_assert_eq!(a.to_string().parse::<Anchor>(), Ok(a));
        }
    }
}

//! BagIt 1.0 (RFC 8493) text formats: `bagit.txt`, `bag-info.txt`, and SHA-256 manifests,
//! parsed leniently (every defect becomes a reported issue, never a panic) and written exactly.

use std::collections::BTreeMap;

/// The exact content of `bagit.txt` that we write.
pub const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// One defect found while parsing a tag file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIssue {
    /// 1-based line number (0 when the defect concerns the whole file).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Percent-encodes a manifest path as RFC 8493 §2.1.3 asks: `%`, CR and LF.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            _ => out.push(c),
        }
    }
    out
}

/// Reverses [`encode_path`]; other `%` sequences are kept literally, as bagit-python does.
pub fn decode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).map(|s| s.to_ascii_uppercase());
        match code.as_deref() {
            Some("25") => out.push('%'),
            Some("0D") => out.push('\r'),
            Some("0A") => out.push('\n'),
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
                continue;
            }
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// Why a manifest path is unsafe to follow, if it is.
pub fn unsafe_path_reason(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Some("absolute path");
    }
    if path.contains('\\') {
        return Some("backslash in path");
    }
    if path.contains('\0') {
        return Some("NUL in path");
    }
    for part in path.split('/') {
        match part {
            ".." => return Some("path climbs out of the bag (..)"),
            "" | "." => return Some("path has an empty or '.' component"),
            _ => {}
        }
    }
    None
}

/// A parsed SHA-256 manifest: relative path → lower-case hex digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries, sorted by path.
    pub entries: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses manifest text. Lines that cannot be used are returned as issues and left out.
    pub fn parse(text: &str) -> (Manifest, Vec<LineIssue>) {
        let mut issues = Vec::new();
        let mut entries = BTreeMap::new();
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => {
                issues.push(LineIssue {
                    line: 1,
                    reason: "starts with a byte-order mark".into(),
                });
                rest
            }
            None => text,
        };
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = match raw.strip_suffix('\r') {
                Some(l) => {
                    issues.push(LineIssue {
                        line: line_no,
                        reason: "CRLF line ending".into(),
                    });
                    l
                }
                None => raw,
            };
            if line.trim().is_empty() {
                continue;
            }
            let Some((digest, path)) = line.split_once([' ', '\t']) else {
                issues.push(LineIssue {
                    line: line_no,
                    reason: "expected '<sha256> <path>'".into(),
                });
                continue;
            };
            let path = decode_path(path.trim_start_matches([' ', '\t']));
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                issues.push(LineIssue {
                    line: line_no,
                    reason: format!("'{digest}' is not a SHA-256 hex digest"),
                });
                continue;
            }
            if let Some(reason) = unsafe_path_reason(&path) {
                issues.push(LineIssue {
                    line: line_no,
                    reason: format!("{reason}: {path:?}"),
                });
                continue;
            }
            if entries
                .insert(path.clone(), digest.to_ascii_lowercase())
                .is_some()
            {
                issues.push(LineIssue {
                    line: line_no,
                    reason: format!("duplicate entry for {path:?}"),
                });
            }
        }
        (Manifest { entries }, issues)
    }

    /// Renders the manifest: `<sha256>  <encoded path>\n`, sorted by path.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() * 100);
        for (path, digest) in &self.entries {
            out.push_str(digest);
            out.push_str("  ");
            out.push_str(&encode_path(path));
            out.push('\n');
        }
        out
    }
}

/// `bag-info.txt`: ordered `Label: value` pairs (labels may repeat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BagInfo {
    /// The pairs, in file order.
    pub fields: Vec<(String, String)>,
}

impl BagInfo {
    /// Parses `bag-info.txt`; continuation lines (leading white space) extend the value.
    pub fn parse(text: &str) -> (BagInfo, Vec<LineIssue>) {
        let mut issues = Vec::new();
        let mut fields: Vec<(String, String)> = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            if raw.starts_with([' ', '\t']) {
                match fields.last_mut() {
                    Some((_, v)) => {
                        v.push(' ');
                        v.push_str(raw.trim());
                    }
                    None => issues.push(LineIssue {
                        line: i + 1,
                        reason: "continuation line before any label".into(),
                    }),
                }
                continue;
            }
            match raw.split_once(':') {
                Some((k, v)) if !k.trim().is_empty() => {
                    fields.push((k.trim().to_string(), v.trim().to_string()))
                }
                _ => issues.push(LineIssue {
                    line: i + 1,
                    reason: "expected 'Label: value'".into(),
                }),
            }
        }
        (BagInfo { fields }, issues)
    }

    /// The first value of `label` (labels compare case-insensitively, as bagit-python does).
    pub fn get(&self, label: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(label))
            .map(|(_, v)| v.as_str())
    }

    /// Sets `label` to `value`, replacing every earlier value of it.
    pub fn set(&mut self, label: &str, value: String) {
        match self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(label))
        {
            Some(i) => {
                self.fields[i].1 = value;
                let mut n = 0;
                self.fields.retain(|(k, _)| {
                    n += usize::from(k.eq_ignore_ascii_case(label));
                    n <= 1 || !k.eq_ignore_ascii_case(label)
                });
            }
            None => self.fields.push((label.to_string(), value)),
        }
    }

    /// Renders the file, one `Label: value` per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.fields {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&v.replace(['\r', '\n'], " "));
            out.push('\n');
        }
        out
    }
}

/// A `Payload-Oxum`: total payload octets and file count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Oxum {
    /// Total bytes of every payload file.
    pub octets: u64,
    /// Number of payload files.
    pub streams: u64,
}

impl Oxum {
    /// Parses `octets.streams`.
    pub fn parse(s: &str) -> Option<Oxum> {
        let (a, b) = s.trim().split_once('.')?;
        Some(Oxum {
            octets: a.parse().ok()?,
            streams: b.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Oxum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.octets, self.streams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn manifest_defects_are_reported() {
        let text = format!(
            "\u{feff}{H}  data/a\r\nzz  data/b\n{H}  ../etc/passwd\n{H}  /abs\n{H}  data/a\nnospace\n"
        );
        let (m, issues) = Manifest::parse(&text);
        assert_eq!(m.entries.len(), 1);
        let reasons: Vec<_> = issues.iter().map(|i| i.reason.as_str()).collect();
        assert!(reasons[0].contains("byte-order mark"));
        assert!(reasons.iter().any(|r| r.contains("CRLF")));
        assert!(reasons.iter().any(|r| r.contains("not a SHA-256")));
        assert!(reasons.iter().any(|r| r.contains("climbs out")));
        assert!(reasons.iter().any(|r| r.contains("absolute")));
        assert!(reasons.iter().any(|r| r.contains("duplicate")));
        assert!(reasons.iter().any(|r| r.contains("expected")));
    }

    #[test]
    fn bag_info_set_replaces_and_continuations_join() {
        let (mut info, issues) =
            BagInfo::parse("Source-Organization: A\n  B\nPayload-Oxum: 1.1\npayload-oxum: 2.2\n");
        assert!(issues.is_empty());
        assert_eq!(info.get("source-organization"), Some("A B"));
        info.set("Payload-Oxum", "3.3".into());
        assert_eq!(
            info.render(),
            "Source-Organization: A B\nPayload-Oxum: 3.3\n"
        );
    }

    #[test]
    fn oxum_round_trip() {
        assert_eq!(
            Oxum::parse("123.4"),
            Some(Oxum {
                octets: 123,
                streams: 4
            })
        );
        assert_eq!(Oxum::parse("12x.4"), None);
        assert_eq!(Oxum::parse("12"), None);
    }

    proptest! {
        #[test]
        fn path_encoding_round_trips(s in "\\PC*|[%\r\n a-z]{0,20}") {
            prop_assert_eq!(decode_path(&encode_path(&s)), s.clone());
            prop_assert!(!encode_path(&s).contains(['\r', '\n']));
        }

        #[test]
        fn manifest_round_trips(paths in proptest::collection::btree_set("data/[a-zA-Z0-9 %\r\n._-]{1,12}", 0..8)) {
            let mut m = Manifest::default();
            for p in &paths {
                if unsafe_path_reason(p).is_none() {
                    m.entries.insert(p.clone(), H.to_string());
                }
            }
            let (back, issues) = Manifest::parse(&m.render());
            prop_assert!(issues.is_empty(), "{:?}", issues);
            prop_assert_eq!(back, m);
        }

        #[test]
        fn manifest_parse_never_panics(s in "\\PC{0,200}") {
            let _ = Manifest::parse(&s);
            let _ = BagInfo::parse(&s);
        }
    }
}

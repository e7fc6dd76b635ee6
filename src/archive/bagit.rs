//! BagIt 1.0 (RFC 8493) text formats: `bagit.txt`, `bag-info.txt`, manifests (SHA-256, and
//! any other algorithm in [`Algorithm`]) and `fetch.txt`, parsed leniently (every defect
//! becomes a reported issue, never a panic) and written exactly.

use std::collections::BTreeMap;

use crate::hash::Algorithm;
use crate::relpath::unsafe_path_reason;

/// The BagIt versions whose bags `verify` reads (RFC 8493 is 1.0; the others are its drafts,
/// as bagit-python and the Library of Congress conformance suite know them).
pub const KNOWN_VERSIONS: [&str; 6] = ["0.93", "0.94", "0.95", "0.96", "0.97", "1.0"];

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

/// Splits text into lines ended by LF, CR or CRLF (RFC 8493 §2.1 allows all three), with
/// 1-based line numbers. A final terminator does not start another (empty) line.
pub fn lines_any(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        if r.is_empty() {
            rest = None;
            return None;
        }
        match r.find(['\r', '\n']) {
            Some(i) => {
                let skip = if r[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&r[i + skip..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
    .enumerate()
    .map(|(i, l)| (i + 1, l))
}

/// For a file name at the top of a bag: `Some((true, alg))` for a payload manifest
/// `manifest-<alg>.txt`, `Some((false, alg))` for a tag manifest `tagmanifest-<alg>.txt`.
pub fn manifest_file_kind(name: &str) -> Option<(bool, &str)> {
    let (payload, rest) = match name.strip_prefix("tagmanifest-") {
        Some(rest) => (false, rest),
        None => (true, name.strip_prefix("manifest-")?),
    };
    let alg = rest.strip_suffix(".txt")?;
    (!alg.is_empty()).then_some((payload, alg))
}

/// A parsed manifest: relative path → lower-case hex digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries, sorted by path.
    pub entries: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses SHA-256 manifest text (visitrec's own). Lines that cannot be used are returned
    /// as issues and left out.
    pub fn parse(text: &str) -> (Manifest, Vec<LineIssue>) {
        Manifest::parse_for(text, Algorithm::Sha256)
    }

    /// Parses the text of a manifest whose digests are `algorithm`'s. A leading `./` on a
    /// path is dropped (RFC 8493 paths are relative to the bag; bagit-python accepts it).
    pub fn parse_for(text: &str, algorithm: Algorithm) -> (Manifest, Vec<LineIssue>) {
        let mut issues = Vec::new();
        // Lines are gathered first: a manifest in order (as visitrec writes it) becomes the
        // map in one bulk build instead of one search per line.
        let mut lines: Vec<(String, String, usize)> = Vec::new();
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
        for (line_no, line) in lines_any(text) {
            if line.trim().is_empty() {
                continue;
            }
            let Some((digest, path)) = line.split_once([' ', '\t']) else {
                issues.push(LineIssue {
                    line: line_no,
                    reason: format!("expected '<{}> <path>'", algorithm.name()),
                });
                continue;
            };
            let mut path = path.trim_start_matches([' ', '\t']);
            while let Some(rest) = path.strip_prefix("./") {
                path = rest;
            }
            let path = decode_path(path);
            if digest.len() != algorithm.hex_len() || !digest.bytes().all(|b| b.is_ascii_hexdigit())
            {
                issues.push(LineIssue {
                    line: line_no,
                    reason: format!(
                        "'{digest}' is not a {} hex digest",
                        algorithm.display_name()
                    ),
                });
                continue;
            }
            if path.starts_with('*') {
                issues.push(LineIssue {
                    line: line_no,
                    reason: format!(
                        "{path:?}: '*' is md5sum's binary-mode mark, not BagIt syntax (RFC 8493 §2.1.3)"
                    ),
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
            lines.push((path, digest.to_ascii_lowercase(), line_no));
        }
        if lines.windows(2).all(|w| w[0].0 < w[1].0) {
            let entries = lines.into_iter().map(|(p, d, _)| (p, d)).collect();
            return (Manifest { entries }, issues);
        }
        // Out of order (visitrec appends new entries): sorted first, so the map is still
        // built in one pass. The sort is stable: of a path listed twice, the last line wins.
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Vec<(String, String)> = Vec::with_capacity(lines.len());
        for (path, digest, line_no) in lines {
            match kept.last_mut() {
                Some(last) if last.0 == path => {
                    issues.push(LineIssue {
                        line: line_no,
                        reason: format!("duplicate entry for {path:?}"),
                    });
                    last.1 = digest;
                }
                _ => kept.push((path, digest)),
            }
        }
        issues.sort_by_key(|i| i.line);
        let entries = kept.into_iter().collect();
        (Manifest { entries }, issues)
    }

    /// Renders the manifest: `<digest>  <encoded path>\n`, sorted by path.
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
    /// Parses `bag-info.txt` leniently (white space around the colon is allowed, as BagIt
    /// before 1.0 allows it); continuation lines (leading white space) extend the value.
    pub fn parse(text: &str) -> (BagInfo, Vec<LineIssue>) {
        BagInfo::parse_as(text, false)
    }

    /// Parses `bag-info.txt`; with `strict` (a BagIt 1.0 bag), each element must be exactly
    /// `Label: value` as RFC 8493 §2.2.2 says: no white space before the colon and one space
    /// or tab after it. Lines may end in LF, CR or CRLF.
    pub fn parse_as(text: &str, strict: bool) -> (BagInfo, Vec<LineIssue>) {
        let mut issues = Vec::new();
        let mut fields: Vec<(String, String)> = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (line, raw) in lines_any(text) {
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
                        line,
                        reason: "continuation line before any label".into(),
                    }),
                }
                continue;
            }
            match Element::split(raw) {
                Some(e) => {
                    if let (true, Some(why)) = (strict, e.loose) {
                        issues.push(LineIssue {
                            line,
                            reason: format!("{why} (RFC 8493 §2.2.2)"),
                        });
                    }
                    fields.push((e.label.to_string(), e.value.to_string()))
                }
                None => issues.push(LineIssue {
                    line,
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

/// One `Label: value` element of a tag file, split at the first colon.
struct Element<'a> {
    label: &'a str,
    value: &'a str,
    /// How the white space around the colon departs from RFC 8493 1.0, if it does.
    loose: Option<&'static str>,
}

impl Element<'_> {
    fn split(line: &str) -> Option<Element<'_>> {
        let (label_raw, after) = line.split_once(':')?;
        let label = label_raw.trim();
        if label.is_empty() {
            return None;
        }
        let value = after.trim();
        let loose = if label_raw.ends_with([' ', '\t']) {
            Some("white space before the colon")
        } else if !after.is_empty() && !after.starts_with([' ', '\t']) {
            Some("no space after the colon")
        } else if after.len() > 1 && after[1..].starts_with([' ', '\t']) {
            Some("more than one space after the colon")
        } else {
            None
        };
        Some(Element {
            label,
            value,
            loose,
        })
    }
}

/// What `bagit.txt` (the bag declaration) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declaration {
    /// `BagIt-Version`, when it is a version [`KNOWN_VERSIONS`] holds.
    pub version: Option<&'static str>,
    /// `Tag-File-Character-Encoding`, when declared.
    pub encoding: Option<String>,
}

impl Declaration {
    /// Parses `bagit.txt` as RFC 8493 §2.1.1 asks: UTF-8 without a byte-order mark, exactly
    /// the two lines `BagIt-Version: M.N` and `Tag-File-Character-Encoding: ENCODING`, in
    /// that order. In a 1.0 bag the white space must be exactly `Label: value`; before 1.0,
    /// white space around the colon is allowed (§2.2.2).
    pub fn parse(bytes: &[u8]) -> (Declaration, Vec<LineIssue>) {
        let mut issues = Vec::new();
        let mut issue = |line: usize, reason: String| issues.push(LineIssue { line, reason });
        let bytes = match bytes.strip_prefix(b"\xef\xbb\xbf") {
            Some(rest) => {
                issue(
                    1,
                    "starts with a byte-order mark, which RFC 8493 §2.1.1 forbids".into(),
                );
                rest
            }
            None => bytes,
        };
        let text = String::from_utf8_lossy(bytes);
        if std::str::from_utf8(bytes).is_err() {
            issue(0, "is not UTF-8 (RFC 8493 §2.1.1)".into());
        }
        let lines: Vec<(usize, &str)> = lines_any(&text).collect();
        let mut decl = Declaration::default();
        let mut elements = Vec::new();
        for (n, raw) in &lines {
            let label = ["BagIt-Version", "Tag-File-Character-Encoding"].get(n - 1);
            let Some(label) = label else {
                issue(
                    *n,
                    format!("unexpected line {raw:?}: bagit.txt has exactly two lines"),
                );
                continue;
            };
            match Element::split(raw).filter(|_| !raw.starts_with([' ', '\t'])) {
                Some(e) if e.label == *label => elements.push((*n, e)),
                _ => issue(*n, format!("expected '{label}: …', found {raw:?}")),
            }
        }
        for (n, e) in &elements {
            if e.label == "BagIt-Version" {
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                match e.value.split_once('.') {
                    Some((a, b)) if digits(a) && digits(b) => {
                        decl.version = KNOWN_VERSIONS.into_iter().find(|v| *v == e.value);
                        if decl.version.is_none() {
                            issue(
                                *n,
                                format!(
                                    "BagIt-Version {} is not one visitrec reads ({} to {})",
                                    e.value,
                                    KNOWN_VERSIONS[0],
                                    KNOWN_VERSIONS[KNOWN_VERSIONS.len() - 1]
                                ),
                            );
                        }
                    }
                    _ => issue(
                        *n,
                        format!("BagIt-Version {:?} is not MAJOR.MINOR", e.value),
                    ),
                }
            } else if e.value.is_empty() {
                issue(*n, "Tag-File-Character-Encoding is empty".into());
            } else {
                decl.encoding = Some(e.value.to_string());
            }
        }
        match lines.len() {
            0 => issue(
                1,
                "is empty; it must declare BagIt-Version and Tag-File-Character-Encoding".into(),
            ),
            1 => issue(
                2,
                "no Tag-File-Character-Encoding line (bagit.txt has exactly two lines)".into(),
            ),
            _ => {}
        }
        // White space is judged by the version's rules; an unreadable version gets 1.0's.
        if decl.version.is_none_or(|v| v == "1.0") {
            for (n, e) in &elements {
                if let Some(why) = e.loose {
                    issue(*n, format!("{why} (RFC 8493 §2.2.2)"));
                }
            }
        }
        issues.sort_by_key(|i| i.line);
        (decl, issues)
    }

    /// Whether the bag follows BagIt 1.0's rules (also when the version is unreadable).
    pub fn is_1_0(&self) -> bool {
        self.version.is_none_or(|v| v == "1.0")
    }
}

/// How tag files in a declared encoding are read.
enum Codec {
    Utf8,
    Latin1,
    /// UTF-16; big-endian when known, else from the byte-order mark.
    Utf16(Option<bool>),
}

fn codec(encoding: &str) -> Option<Codec> {
    match encoding.to_ascii_uppercase().replace('_', "-").as_str() {
        "UTF-8" | "UTF8" => Some(Codec::Utf8),
        "ISO-8859-1" | "ISO8859-1" | "LATIN-1" | "LATIN1" | "US-ASCII" | "ASCII" => {
            Some(Codec::Latin1)
        }
        "UTF-16" => Some(Codec::Utf16(None)),
        "UTF-16BE" => Some(Codec::Utf16(Some(true))),
        "UTF-16LE" => Some(Codec::Utf16(Some(false))),
        _ => None,
    }
}

/// The tag-file encodings visitrec reads, for messages.
pub const READABLE_ENCODINGS: &str = "UTF-8, ISO-8859-1, US-ASCII, UTF-16";

/// Whether [`decode_tag_file`] reads `encoding`.
pub fn is_readable_encoding(encoding: &str) -> bool {
    codec(encoding).is_some()
}

/// Decodes a tag file (a manifest, `bag-info.txt`, `fetch.txt`) written in the bag's
/// declared `Tag-File-Character-Encoding`: one of [`READABLE_ENCODINGS`] (UTF-16 with a
/// byte-order mark, or `UTF-16LE`/`UTF-16BE`). Another encoding, or bytes that are not
/// valid in it, come back decoded as UTF-8 as well as can be, with the reason.
pub fn decode_tag_file(bytes: &[u8], encoding: &str) -> (String, Option<String>) {
    let lossy = |why: String| (String::from_utf8_lossy(bytes).into_owned(), Some(why));
    let invalid = || lossy(format!("is not valid {encoding}"));
    match codec(encoding) {
        Some(Codec::Utf8) => match std::str::from_utf8(bytes) {
            Ok(t) => (t.to_string(), None),
            Err(_) => invalid(),
        },
        Some(Codec::Latin1) => (bytes.iter().map(|&b| char::from(b)).collect(), None),
        Some(Codec::Utf16(order)) => {
            let (big, body) = match (order, bytes) {
                (None | Some(true), [0xfe, 0xff, rest @ ..]) => (true, rest),
                (None | Some(false), [0xff, 0xfe, rest @ ..]) => (false, rest),
                (Some(big), b) => (big, b),
                (None, b) => (true, b),
            };
            if !body.len().is_multiple_of(2) {
                return invalid();
            }
            let units: Vec<u16> = body
                .chunks_exact(2)
                .map(|c| {
                    let pair = [c[0], c[1]];
                    if big {
                        u16::from_be_bytes(pair)
                    } else {
                        u16::from_le_bytes(pair)
                    }
                })
                .collect();
            match String::from_utf16(&units) {
                Ok(t) => (t, None),
                Err(_) => invalid(),
            }
        }
        None => lossy(format!(
            "Tag-File-Character-Encoding {encoding:?} is not one visitrec reads \
             ({READABLE_ENCODINGS})"
        )),
    }
}

/// One line of `fetch.txt`: `URL LENGTH FILEPATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchEntry {
    /// Where the file would be downloaded from.
    pub url: String,
    /// The path inside the bag it would be written to (decoded).
    pub path: String,
}

/// Parses `fetch.txt` (RFC 8493 §2.2.3). Lines that are malformed or name a path that is
/// unsafe to write are returned as issues (and still counted as entries when they have a
/// path), so a report can say what the file asks for.
pub fn parse_fetch(text: &str) -> (Vec<FetchEntry>, Vec<LineIssue>) {
    let mut entries = Vec::new();
    let mut issues = Vec::new();
    for (line, raw) in lines_any(text) {
        if raw.trim().is_empty() {
            continue;
        }
        let mut parts = raw.trim_start().splitn(3, [' ', '\t']);
        let (Some(url), Some(length), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            issues.push(LineIssue {
                line,
                reason: "expected 'URL LENGTH FILEPATH'".into(),
            });
            continue;
        };
        if length != "-" && length.parse::<u64>().is_err() {
            issues.push(LineIssue {
                line,
                reason: format!("length {length:?} is neither a number nor '-'"),
            });
        }
        let path = decode_path(path.trim_start_matches([' ', '\t']));
        if let Some(reason) = unsafe_path_reason(&path)
            .or_else(|| (!path.starts_with("data/")).then_some("path outside data/"))
        {
            issues.push(LineIssue {
                line,
                reason: format!("{reason}: {path:?}"),
            });
        }
        entries.push(FetchEntry {
            url: url.to_string(),
            path,
        });
    }
    (entries, issues)
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
        assert!(reasons.iter().any(|r| r.contains("not a SHA-256")));
        assert!(reasons.iter().any(|r| r.contains("climbs out")));
        assert!(reasons.iter().any(|r| r.contains("absolute")));
        assert!(reasons.iter().any(|r| r.contains("duplicate")));
        assert!(reasons.iter().any(|r| r.contains("expected")));
    }

    #[test]
    fn manifests_accept_every_rfc_line_ending_and_a_leading_dot_slash() {
        let text = format!("{H}  data/a\r\n{H}  ./data/b\r{H} \tdata/c\n\n");
        let (m, issues) = Manifest::parse(&text);
        assert!(issues.is_empty(), "{issues:?}");
        let paths: Vec<_> = m.entries.keys().map(String::as_str).collect();
        assert_eq!(paths, ["data/a", "data/b", "data/c"]);
    }

    #[test]
    fn manifests_of_other_algorithms_need_their_own_digest_length() {
        let md5 = "900150983cd24fb0d6963f7d28e17f72";
        let (m, issues) = Manifest::parse_for(&format!("{md5}  data/a\n"), Algorithm::Md5);
        assert!(issues.is_empty());
        assert_eq!(m.entries["data/a"], md5);
        let (m, issues) = Manifest::parse_for(&format!("{H}  data/a\n"), Algorithm::Md5);
        assert!(m.entries.is_empty());
        assert!(
            issues[0].reason.contains("not a MD5 hex digest"),
            "{issues:?}"
        );
        let (m, issues) = Manifest::parse_for(&format!("{md5} *data/a\n"), Algorithm::Md5);
        assert!(m.entries.is_empty());
        assert!(issues[0].reason.contains("md5sum"), "{issues:?}");
    }

    fn decl(text: &str) -> (Declaration, Vec<String>) {
        let (d, issues) = Declaration::parse(text.as_bytes());
        (
            d,
            issues
                .into_iter()
                .map(|i| format!("{}: {}", i.line, i.reason))
                .collect(),
        )
    }

    #[test]
    fn the_declaration_is_read_as_rfc_8493_writes_it() {
        let (d, issues) = decl(BAGIT_TXT);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(d.version, Some("1.0"));
        assert_eq!(d.encoding.as_deref(), Some("UTF-8"));
        // CR line endings and no final newline are fine (the LoC suite's v0.97 bags).
        let (d, issues) = decl("BagIt-Version: 0.97\rTag-File-Character-Encoding: UTF-8");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(d.version, Some("0.97"));
        assert!(!d.is_1_0());
    }

    #[test]
    fn declaration_defects_are_each_named() {
        let cases = [
            (
                "\u{feff}BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
                "1: starts with a byte-order mark",
            ),
            (
                "BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n",
                "1: white space before the colon",
            ),
            (
                "BagIt-Version: 1.0\nTag-File-Character-Encoding:  UTF-8\n",
                "2: more than one space",
            ),
            (
                "BagIt-Version:1.0\nTag-File-Character-Encoding: UTF-8\n",
                "1: no space after the colon",
            ),
            (
                "BagIt-Version: .97\nTag-File-Character-Encoding: UTF-8\n",
                "1: BagIt-Version \".97\" is not MAJOR.MINOR",
            ),
            (
                "BagIt-Version: 2.0\nTag-File-Character-Encoding: UTF-8\n",
                "1: BagIt-Version 2.0 is not one visitrec reads (0.93 to 1.0)",
            ),
            (
                "BagIt-Version: 0.97\n",
                "2: no Tag-File-Character-Encoding line",
            ),
            (
                "Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n",
                "1: expected 'BagIt-Version: …'",
            ),
            (
                "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\nContact: x\n",
                "3: unexpected line",
            ),
            (
                "BagIt-Version: 1.0\nTag-File-Character-Encoding: \n",
                "2: Tag-File-Character-Encoding is empty",
            ),
            ("", "1: is empty"),
        ];
        for (text, want) in cases {
            let (_, issues) = decl(text);
            assert!(
                issues.iter().any(|i| i.starts_with(want)),
                "{text:?}: {issues:?}"
            );
            assert!(issues.iter().all(|i| !i.contains("Some(")), "{issues:?}");
        }
        // Before 1.0, white space around the colon is allowed (RFC 8493 §2.2.2).
        let (d, issues) = decl("BagIt-Version :  0.97\nTag-File-Character-Encoding : UTF-8\n");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(d.version, Some("0.97"));
        let (_, issues) =
            Declaration::parse(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: \xff\n");
        assert!(issues.iter().any(|i| i.reason.contains("not UTF-8")));
    }

    #[test]
    fn bag_info_whitespace_is_strict_only_for_1_0() {
        let text = "Test-Tag: 1\nTest-Tag :  2\nTest-Tag:3\n";
        let (info, issues) = BagInfo::parse_as(text, false);
        assert!(issues.is_empty());
        assert_eq!(info.fields.len(), 3);
        assert_eq!(info.fields[1], ("Test-Tag".to_string(), "2".to_string()));
        let (_, issues) = BagInfo::parse_as(text, true);
        let lines: Vec<usize> = issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, [2, 3], "{issues:?}");
        assert!(issues[0].reason.contains("white space before the colon"));
    }

    #[test]
    fn tag_files_decode_in_their_declared_encoding() {
        let (t, why) = decode_tag_file(b"caf\xe9", "ISO-8859-1");
        assert_eq!((t.as_str(), why), ("café", None));
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("ab".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_tag_file(&utf16, "UTF-16").0, "ab");
        let be: Vec<u8> = "ab".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode_tag_file(&be, "utf-16be").0, "ab");
        assert!(
            decode_tag_file(b"\xff", "UTF-8")
                .1
                .unwrap()
                .contains("not valid")
        );
        assert!(
            decode_tag_file(b"x", "EBCDIC")
                .1
                .unwrap()
                .contains("EBCDIC")
        );
        assert!(decode_tag_file(&[0xff, 0xfe, 0x00], "UTF-16").1.is_some());
    }

    #[test]
    fn fetch_lines_are_parsed_and_unsafe_paths_named() {
        let (entries, issues) = parse_fetch(
            "http://x/a - ../../../README.md\r\nhttp://x/b 12 data/b c.txt\nhttp://x/c\nhttp://x/d ten data/d\n",
        );
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].path, "data/b c.txt");
        let reasons: Vec<_> = issues.iter().map(|i| (i.line, i.reason.as_str())).collect();
        assert!(
            reasons[0].1.contains("climbs out") && reasons[0].0 == 1,
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|(l, r)| *l == 3 && r.contains("URL LENGTH"))
        );
        assert!(
            reasons
                .iter()
                .any(|(l, r)| *l == 4 && r.contains("\"ten\""))
        );
    }

    #[test]
    fn manifest_file_names_give_kind_and_algorithm() {
        assert_eq!(manifest_file_kind("manifest-md5.txt"), Some((true, "md5")));
        assert_eq!(
            manifest_file_kind("tagmanifest-sha3_256.txt"),
            Some((false, "sha3_256"))
        );
        for not in [
            "manifest-.txt",
            "manifest-md5",
            "bag-info.txt",
            "xmanifest-md5.txt",
        ] {
            assert_eq!(manifest_file_kind(not), None, "{not}");
        }
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
            let _ = Manifest::parse_for(&s, Algorithm::Md5);
            let _ = BagInfo::parse(&s);
            let _ = BagInfo::parse_as(&s, true);
            let _ = parse_fetch(&s);
        }

        #[test]
        fn declaration_and_decoding_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Declaration::parse(&b);
            for enc in ["UTF-8", "ISO-8859-1", "UTF-16", "UTF-16LE", "UTF-16BE", "x"] {
                let _ = decode_tag_file(&b, enc);
            }
        }

        #[test]
        fn lines_any_splits_like_the_rfc(parts in proptest::collection::vec("[a-z ]{0,5}", 1..6), ends in proptest::collection::vec(0usize..3, 6)) {
            let mut text = String::new();
            for (i, p) in parts.iter().enumerate() {
                // An empty line ended by LF right after a CR would read as one CRLF.
                let end = if p.is_empty() && text.ends_with('\r') { 1 } else { ends[i] };
                text.push_str(p);
                text.push_str(["\n", "\r", "\r\n"][end]);
            }
            let got: Vec<&str> = lines_any(&text).map(|(_, l)| l).collect();
            prop_assert_eq!(got, parts.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}

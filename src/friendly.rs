//! File names a patient can open: an original named after the file it was on the phone
//! (`2026-11-02 New Recording 3.m4a`), made safe on every common file system from a name
//! that came out of an export and so may be hostile (`../../etc/x`, control or bidi
//! characters, 300 characters, Windows device names, names that differ only in case).

use std::collections::{BTreeMap, BTreeSet};

/// The longest stem kept, in bytes of UTF-8 (and so at most as many UTF-16 units): with the
/// date, a ` (NNN)` suffix and the extension the name stays far below the 255 that ext4,
/// APFS and NTFS allow.
pub const MAX_STEM_BYTES: usize = 120;

/// One original to be given a name.
#[derive(Debug, Clone)]
pub struct Original<'a> {
    /// The recording's id (16 hex digits), for the fallback name and a stable order.
    pub id: &'a str,
    /// The stored original's extension (`m4a`: 1–8 of `[a-z0-9]`, checked by the caller).
    pub ext: &'a str,
    /// `source.file_name` from its `recording.json`, if the export holds that.
    pub file_name: Option<&'a str>,
    /// `source.recorded_at` (RFC 3339), if known.
    pub recorded_at: Option<&'a str>,
}

/// A name for each of `originals`, in the same order: `YYYY-MM-DD STEM.EXT` (the date
/// when `recorded_at` starts with one), the stem [`sanitize`]d from the original file name
/// (`Recording ID` when there is none, or nothing survives), and names that would clash,
/// ignoring case, told apart deterministically: the first by id keeps the name, the others
/// become `STEM (2).EXT`, `STEM (3).EXT`, … in order of id, skipping any name another
/// original has already (whatever order the originals come in).
pub fn names(originals: &[Original]) -> Vec<String> {
    let bases: Vec<(String, &str)> = originals
        .iter()
        .map(|o| {
            let stem = o
                .file_name
                .map(|n| sanitize(strip_ext(n, o.ext)))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("Recording {}", o.id));
            let stem = match o.recorded_at.and_then(date_of) {
                Some(day) => format!("{day} {stem}"),
                None if is_reserved(&stem) => format!("_{stem}"),
                None => stem,
            };
            (stem, o.ext)
        })
        .collect();
    let mut order: Vec<usize> = (0..originals.len()).collect();
    order.sort_by(|&a, &b| {
        (bases[a].0.to_lowercase(), originals[a].id)
            .cmp(&(bases[b].0.to_lowercase(), originals[b].id))
    });
    let full: Vec<String> = bases.iter().map(|(s, e)| format!("{s}.{e}")).collect();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for n in &full {
        *count.entry(n.to_lowercase()).or_default() += 1;
    }
    // Names no other original wants are theirs first, so a numbered one never takes them.
    let mut taken: BTreeSet<String> = count
        .iter()
        .filter(|(_, c)| **c == 1)
        .map(|(n, _)| n.clone())
        .collect();
    let mut out = vec![String::new(); originals.len()];
    for i in order {
        let lower = full[i].to_lowercase();
        if count[&lower] == 1 || taken.insert(lower) {
            out[i] = full[i].clone();
            continue;
        }
        let (stem, ext) = &bases[i];
        let mut n = 2;
        out[i] = loop {
            let name = format!("{stem} ({n}).{ext}");
            if taken.insert(name.to_lowercase()) {
                break name;
            }
            n += 1;
        };
    }
    out
}

/// `name` without its extension when that is `ext` (ignoring case): `Memo.M4A` → `Memo`.
fn strip_ext<'a>(name: &'a str, ext: &str) -> &'a str {
    match name.rsplit_once('.') {
        Some((stem, e)) if e.eq_ignore_ascii_case(ext) => stem,
        _ => name,
    }
}

/// `YYYY-MM-DD` if `recorded_at` starts with a plausible date.
fn date_of(recorded_at: &str) -> Option<&str> {
    let day = recorded_at.get(..10)?;
    let b = day.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
    let month = &day[5..7];
    let dom = &day[8..10];
    (ok && ("01"..="12").contains(&month) && ("01"..="31").contains(&dom)).then_some(day)
}

/// Whether `c` must not be in a file name: controls (C0, C1, DEL), invisible format and
/// bidirectional characters (which can make `x\u{202e}4pm.exe` look like another name),
/// line and paragraph separators, and what Windows forbids (`<>:"/\|?*`).
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*'
                | '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// A file name stem made safe: every [`forbidden`] character becomes `_`, runs of dots
/// become one (so no `..`), leading dots and spaces and trailing dots and spaces (which
/// Windows drops) go, and the result is cut to [`MAX_STEM_BYTES`] at a character boundary.
/// It never contains `/`, never is `.` or `..`, and never starts with a dot; it may be
/// empty.
pub fn sanitize(name: &str) -> String {
    let mut s = String::with_capacity(name.len().min(MAX_STEM_BYTES));
    for c in name.chars() {
        let c = if forbidden(c) { '_' } else { c };
        if c == '.' && s.ends_with('.') {
            continue;
        }
        s.push(c);
    }
    let mut s = s
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if s.len() > MAX_STEM_BYTES {
        let mut cut = MAX_STEM_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s.trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string()
}

/// Whether Windows reserves `stem` for a device (`CON`, `nul.txt`, `COM1`, `LPT9 x`…): the
/// part before the first dot, trailing spaces ignored.
fn is_reserved(stem: &str) -> bool {
    let head = stem
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    matches!(head.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (head.len() == 4
            && (head.starts_with("COM") || head.starts_with("LPT"))
            && head.as_bytes()[3].is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(file_name: &str, recorded_at: &str) -> String {
        names(&[Original {
            id: "0123456789abcdef",
            ext: "m4a",
            file_name: Some(file_name),
            recorded_at: Some(recorded_at),
        }])
        .remove(0)
    }

    #[test]
    fn a_phone_name_is_kept_and_dated() {
        assert_eq!(
            one("New Recording 3.m4a", "2026-11-02T09:14:00+01:00"),
            "2026-11-02 New Recording 3.m4a"
        );
        assert_eq!(one("Memo.M4A", "unknown"), "Memo.m4a");
        assert_eq!(
            one("Visite café – Zoë.mp3", ""),
            "Visite café – Zoë.mp3.m4a"
        );
        assert_eq!(one("x", "2026-13-02T00:00:00Z"), "x.m4a");
    }

    #[test]
    fn hostile_names_are_made_harmless() {
        assert_eq!(one("../../etc/x", ""), "_._etc_x.m4a");
        assert_eq!(one("..", ""), "Recording 0123456789abcdef.m4a");
        assert_eq!(one(".bashrc", ""), "bashrc.m4a");
        assert_eq!(one("evil\u{202e}a4m.exe", ""), "evil_a4m.exe.m4a");
        assert_eq!(one("a\nb\x1b[31m\0c", ""), "a_b_[31m_c.m4a");
        assert_eq!(one("a<b>c:d\"e|f?g*h\\i", ""), "a_b_c_d_e_f_g_h_i.m4a");
        assert_eq!(one("CON", ""), "_CON.m4a");
        assert_eq!(one("lpt1.m4a", ""), "_lpt1.m4a");
        assert_eq!(one("trailing. . ", ""), "trailing.m4a");
        let long = one(&"é".repeat(300), "2026-11-02T00:00:00Z");
        assert_eq!(long, format!("2026-11-02 {}.m4a", "é".repeat(60)));
    }

    #[test]
    fn clashing_names_get_numbers_in_a_stable_order() {
        let o = |id, name| Original {
            id,
            ext: "m4a",
            file_name: Some(name),
            recorded_at: None,
        };
        let a = o("aaaaaaaaaaaaaaaa", "Memo.m4a");
        let b = o("bbbbbbbbbbbbbbbb", "memo.m4a");
        let c = o("cccccccccccccccc", "Memo (2).m4a");
        let d = o("dddddddddddddddd", "Memo/");
        let forward = names(&[a.clone(), b.clone(), c.clone(), d.clone()]);
        let backward = names(&[d, c, b, a]);
        assert_eq!(
            forward,
            ["Memo.m4a", "memo (3).m4a", "Memo (2).m4a", "Memo_.m4a"]
        );
        assert_eq!(backward.into_iter().rev().collect::<Vec<_>>(), forward);
    }

    proptest! {
        /// Whatever the name, the result is one safe, unique, short path component.
        #[test]
        fn every_name_is_one_safe_component(
            raw in proptest::collection::vec(any::<String>(), 1..6),
        ) {
            let originals: Vec<Original> = raw
                .iter()
                .enumerate()
                .map(|(i, n)| Original {
                    id: ["0000000000000000", "1111111111111111", "2222222222222222",
                        "3333333333333333", "4444444444444444", "5555555555555555"][i],
                    ext: "wav",
                    file_name: Some(n),
                    recorded_at: Some("2026-11-02T00:00:00Z"),
                })
                .collect();
            let out = names(&originals);
            let lower: BTreeSet<String> = out.iter().map(|n| n.to_lowercase()).collect();
            prop_assert_eq!(lower.len(), out.len());
            for n in &out {
                prop_assert!(n.len() <= 200, "{}", n);
                prop_assert!(!n.contains('/') && !n.contains("..") && !n.starts_with('.'));
                prop_assert!(!n.chars().any(forbidden), "{:?}", n);
                prop_assert!(n.ends_with(".wav"));
            }
        }
    }
}

//! Relative paths read from disk (manifest lines, the commit journal, `recording.json`):
//! the one rule for which may be followed. It imports nothing of the crate, so the archive
//! and the metadata it holds can both apply it.

/// Why a path read from disk is unsafe to follow, if it is: empty, absolute (Unix, UNC or a
/// drive letter), with a backslash or NUL, or with a `..`, `.` or empty component.
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

#[cfg(test)]
mod tests {
    use super::unsafe_path_reason;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        for ok in ["data/a/b.wav", "a", "data/a b/c%2F"] {
            assert_eq!(unsafe_path_reason(ok), None, "{ok:?}");
        }
        for bad in [
            "",
            "/etc",
            "\\\\host\\x",
            "C:x",
            "a\\b",
            "a\0b",
            "a/../b",
            "..",
            "a//b",
            "./a",
            "a/",
        ] {
            assert!(unsafe_path_reason(bad).is_some(), "{bad:?}");
        }
    }
}

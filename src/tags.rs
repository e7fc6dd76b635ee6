//! Validation of user-supplied tags (`key=value`) and free-text values.

use crate::error::{Error, Result};

/// Longest accepted tag key.
pub const MAX_KEY: usize = 64;
/// Longest accepted value, in bytes.
pub const MAX_VALUE: usize = 1024;

/// Checks a tag key: `[a-z0-9][a-z0-9_.-]{0,63}`.
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY
        && key.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || (i > 0 && matches!(b, b'_' | b'.' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "tag key {key:?} is not valid: use 1-{MAX_KEY} of a-z 0-9 _ . - starting with a letter or digit"
        )))
    }
}

/// Checks a free-text value (tag value, participant, label): non-empty UTF-8, no control
/// characters, at most [`MAX_VALUE`] bytes. `what` names the value in the error.
pub fn check_value(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::Invalid(format!("{what} must not be empty")));
    }
    if value.len() > MAX_VALUE {
        return Err(Error::Invalid(format!(
            "{what} is {} bytes long; the limit is {MAX_VALUE}",
            value.len()
        )));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::Invalid(format!(
            "{what} contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Parses `key=value`, validating both halves.
pub fn parse_tag(s: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| Error::Invalid(format!("tag {s:?} must have the form key=value")))?;
    check_key(k)?;
    check_value(&format!("value of tag {k}"), v)?;
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert!(parse_tag("site=lebanon").is_ok());
        assert!(parse_tag("visit.type-2=x y").is_ok());
        assert!(parse_tag("Site=x").is_err());
        assert!(parse_tag("_site=x").is_err());
        assert!(parse_tag("site=").is_err());
        assert!(parse_tag("site").is_err());
        assert!(parse_tag("site=a\nb").is_err());
        assert!(parse_tag(&format!("{}=x", "k".repeat(65))).is_err());
        assert!(parse_tag(&format!("k={}", "é".repeat(513))).is_err());
    }

    proptest! {
        #[test]
        fn valid_keys_accepted(k in "[a-z0-9][a-z0-9_.-]{0,63}") {
            prop_assert!(check_key(&k).is_ok());
        }

        #[test]
        fn any_key_with_a_foreign_char_refused(a in "[a-z0-9]{0,10}", c in "[^a-z0-9_.-]", b in "[a-z0-9]{0,10}") {
            let key = format!("{a}{c}{b}");
            prop_assert!(check_key(&key).is_err());
        }

        #[test]
        fn values_without_controls_accepted(v in "[^\\p{Cc}]{1,200}") {
            prop_assert_eq!(check_value("v", &v).is_ok(), v.len() <= MAX_VALUE);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = parse_tag(&s);
        }
    }
}

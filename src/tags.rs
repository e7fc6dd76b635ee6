//! Validation of user-supplied tags (`key=value`), free-text values, and mark times.

use crate::error::{Error, Result, TextProblem};

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
        Err(Error::BadTagKey {
            key: key.to_string(),
            max: MAX_KEY,
        })
    }
}

/// Checks a free-text value (tag value, participant, label): non-empty UTF-8, no control
/// characters, at most [`MAX_VALUE`] bytes. `what` names the value in the error.
pub fn check_value(what: &str, value: &str) -> Result<()> {
    let problem = if value.is_empty() {
        TextProblem::Empty
    } else if value.len() > MAX_VALUE {
        TextProblem::TooLong {
            len: value.len(),
            max: MAX_VALUE,
        }
    } else if let Some(c) = value.chars().find(|c| c.is_control()) {
        TextProblem::Control(c)
    } else {
        return Ok(());
    };
    Err(Error::BadText {
        what: what.to_string(),
        problem,
    })
}

/// Parses `key=value`, validating both halves.
pub fn parse_tag(s: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| Error::BadTag(s.to_string()))?;
    check_key(k)?;
    check_value(&format!("value of tag {k}"), v)?;
    if k == crate::retention::TAG_KEY {
        crate::retention::Period::parse("--tag retention", v)?;
    }
    Ok((k.to_string(), v.to_string()))
}

/// Parses a time in a recording: `[[h:]mm:]ss[.fff]` (e.g. `03:12`, `1:02:07.5`) or plain
/// seconds (`192.25`). Minutes and seconds after the first field must be below 60; at most
/// millisecond precision is kept.
pub fn parse_time(s: &str) -> Result<f64> {
    let bad = || Error::BadTime(s.to_string());
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() > 3 || s.is_empty() {
        return Err(bad());
    }
    let last = parts.len() - 1;
    let mut total = 0f64;
    for (i, p) in parts.iter().enumerate() {
        let is_last = i == last;
        let (int, frac) = match p.split_once('.') {
            Some((a, b)) if is_last => (a, Some(b)),
            Some(_) => return Err(bad()),
            None => (*p, None),
        };
        if int.is_empty() || int.len() > 9 || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if let Some(f) = frac
            && (f.is_empty() || f.len() > 3 || !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let value: f64 = int.parse::<u64>().map_err(|_| bad())? as f64;
        if i > 0 && value >= 60.0 {
            return Err(bad());
        }
        total = total * 60.0 + value;
        if let Some(f) = frac {
            total += format!("0.{f}").parse::<f64>().map_err(|_| bad())?;
        }
    }
    Ok((total * 1000.0).round() / 1000.0)
}

/// Formats seconds as `[h:]mm:ss.fff`.
pub fn format_time(t: f64) -> String {
    let ms = (t * 1000.0).round() as u64;
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{f:03}")
    } else {
        format!("{m:02}:{s:02}.{f:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("03:12").unwrap(), 192.0);
        assert_eq!(parse_time("1:02:07.5").unwrap(), 3727.5);
        assert_eq!(parse_time("192.25").unwrap(), 192.25);
        assert_eq!(parse_time("0").unwrap(), 0.0);
        for bad in [
            "", "1:60", "1:2:3:4", "-3", "1.5:00", "ab", "1:", ":1", "1.2345", "1e3", "01:02.",
            " 1",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_time(3727.5), "1:02:07.500");
        assert_eq!(format_time(192.0), "03:12.000");
    }

    #[test]
    fn each_defect_has_its_own_error() {
        assert!(matches!(parse_tag("site"), Err(Error::BadTag(t)) if t == "site"));
        assert!(matches!(
            parse_tag("Site=x"),
            Err(Error::BadTagKey { key, max: MAX_KEY }) if key == "Site"
        ));
        let problem = |v: &str| match check_value("--by", v) {
            Err(Error::BadText { what, problem }) if what == "--by" => problem,
            other => panic!("{other:?}"),
        };
        assert_eq!(problem(""), TextProblem::Empty);
        assert_eq!(problem("a\u{1b}b"), TextProblem::Control('\u{1b}'));
        assert_eq!(
            problem(&"x".repeat(MAX_VALUE + 1)),
            TextProblem::TooLong {
                len: MAX_VALUE + 1,
                max: MAX_VALUE
            }
        );
        assert_eq!(
            check_value("value of tag k", "a\nb")
                .unwrap_err()
                .to_string(),
            "value of tag k contains the control character U+000A"
        );
        assert!(matches!(parse_time("1:60"), Err(Error::BadTime(t)) if t == "1:60"));
    }

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
            let _ = parse_time(&s);
        }

        #[test]
        fn times_round_trip(ms in 0u64..100_000_000) {
            let t = ms as f64 / 1000.0;
            prop_assert_eq!(parse_time(&format_time(t)).unwrap(), t);
            prop_assert_eq!(parse_time(&format!("{t}")).unwrap(), t);
        }
    }
}

//! Retention periods: how long recordings are kept, counted from when they were recorded.
//!
//! The archive's period is `Visitrec-Retention` in `bag-info.txt` (e.g. `10y`); a recording's
//! `retention` tag overrides it. A period is a whole number of years (`y`), months (`m`)
//! or days (`d`).

use jiff::civil::Date;
use jiff::{Span, Timestamp};

use crate::error::{Error, Result};

/// The `bag-info.txt` label holding the archive's period.
pub const BAG_INFO_LABEL: &str = "Visitrec-Retention";
/// The tag key that overrides it for one recording.
pub const TAG_KEY: &str = "retention";

/// A retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// How many units.
    pub count: u32,
    /// `y`, `m` or `d`.
    pub unit: char,
}

impl Period {
    /// Parses `10y`, `18m`, `90d` (at most 200 years in any unit); `what` names the flag
    /// or field in the error.
    pub fn parse(what: &'static str, s: &str) -> Result<Period> {
        let bad = |reason: &str| Error::BadValue {
            flag: what,
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let unit = s.chars().last().ok_or_else(|| bad("empty"))?;
        let digits = &s[..s.len() - unit.len_utf8()];
        if !matches!(unit, 'y' | 'm' | 'd')
            || digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad(
                "not a retention period: a whole number and y, m or d, e.g. 10y, 18m, 90d",
            ));
        }
        let count: u32 = digits.parse().map_err(|_| bad("too long"))?;
        let limit = match unit {
            'y' => 200,
            'm' => 200 * 12,
            _ => 200 * 366,
        };
        if count > limit {
            return Err(bad("longer than 200 years"));
        }
        Ok(Period { count, unit })
    }

    /// The last day a recording made at `recorded_at` (RFC 3339) is kept, or `None` when
    /// the time does not parse.
    pub fn last_day(self, recorded_at: &str) -> Option<Date> {
        let day = recorded_at
            .parse::<Timestamp>()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let n = i64::from(self.count);
        let span = match self.unit {
            'y' => Span::new().try_years(n).ok()?,
            'm' => Span::new().try_months(n).ok()?,
            _ => Span::new().try_days(n).ok()?,
        };
        day.checked_add(span).ok()
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.count, self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_count_from_the_recording_day() {
        let p = Period::parse("--retention", "10y").unwrap();
        assert_eq!(p.to_string(), "10y");
        assert_eq!(
            p.last_day("2016-02-29T23:59:59Z").unwrap().to_string(),
            "2026-02-28"
        );
        let m = Period::parse("--retention", "18m").unwrap();
        assert_eq!(
            m.last_day("2026-01-31T08:00:00Z").unwrap().to_string(),
            "2027-07-31"
        );
        for bad in [
            "",
            "10",
            "y",
            "010y",
            "10 y",
            "-1y",
            "1.5y",
            "10w",
            "201y",
            "99999999999d",
            "1٣y",
        ] {
            assert!(Period::parse("--retention", bad).is_err(), "{bad:?}");
        }
        assert_eq!(p.last_day("yesterday"), None);
    }
}

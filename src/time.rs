//! The one clock: every time visitrec records, and the day consent is judged on, comes from
//! here, in UTC, whatever the caller's `TZ`.

use jiff::civil::Date;

/// The current time as RFC 3339 UTC, to the second (the form every time in the archive takes).
pub fn now() -> String {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_second(t.as_second())
        .expect("current time in range")
        .to_string()
}

/// Today's date in UTC: consent is judged by the instant, never by the caller's `TZ`.
pub fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_utc_to_the_second_and_today_is_its_day() {
        let now = super::now();
        assert!(now.ends_with('Z') && !now.contains('.'), "{now}");
        let day = now
            .parse::<jiff::Timestamp>()
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC);
        // Around midnight the two calls may straddle it.
        assert!((super::today() - day.date()).get_days() <= 1);
    }
}

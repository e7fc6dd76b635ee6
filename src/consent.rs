//! Consent: an append-only history of grants and withdrawals per recording, shaped after
//! HL7 FHIR R4 `Consent` (status, provision type permit/deny, purposes, grantor, recorder,
//! method, date, provision period, witness, note), and the current state derived from it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The fixed vocabulary of purposes a recording may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The patient's own listening.
    PersonalUse,
    /// Sharing with the patient's family or carers.
    FamilySharing,
    /// The clinical record.
    Care,
    /// Research.
    Research,
    /// Teaching.
    Education,
    /// Service evaluation and quality improvement.
    QualityImprovement,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 6] = [
        Scope::PersonalUse,
        Scope::FamilySharing,
        Scope::Care,
        Scope::Research,
        Scope::Education,
        Scope::QualityImprovement,
    ];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PersonalUse => "personal-use",
            Scope::FamilySharing => "family-sharing",
            Scope::Care => "care",
            Scope::Research => "research",
            Scope::Education => "education",
            Scope::QualityImprovement => "quality-improvement",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| Error::BadScope {
                given: s.to_string(),
                known: Scope::ALL.iter().map(|x| x.as_str()).collect(),
            })
    }
}

/// Parses a comma-separated list of scopes (`research,care`).
pub fn parse_scopes(s: &str) -> Result<Vec<Scope>> {
    let mut out: Vec<Scope> = s
        .split(',')
        .map(|p| p.trim().parse())
        .collect::<Result<_>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// Parses a `YYYY-MM-DD` date, exactly: no spaces, no time, no other form.
pub fn parse_date(flag: &'static str, s: &str) -> Result<Date> {
    strict_date(s).ok_or_else(|| Error::BadDate {
        flag,
        value: s.to_string(),
    })
}

/// `s` as a date if it is exactly `YYYY-MM-DD` and a real day.
fn strict_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let d: Date = shape.then(|| s.parse().ok()).flatten()?;
    (d.to_string() == s).then_some(d)
}

/// Serde for consent dates: exactly `YYYY-MM-DD`, so a malformed date in a hand-edited
/// `recording.json` makes the whole file fail to load (and every consent check on it fail
/// closed) instead of being skipped.
mod date_format {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        super::strict_date(&s)
            .ok_or_else(|| D::Error::custom(format!("{s:?} is not a date (YYYY-MM-DD)")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.collect_str(d),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(s) => super::super::strict_date(&s)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(format!("{s:?} is not a date (YYYY-MM-DD)"))),
            }
        }
    }
}

/// FHIR `provision.type`: whether an entry grants or withdraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provision {
    /// A grant.
    Permit,
    /// A withdrawal.
    Deny,
}

/// One entry of a recording's consent history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentEntry {
    /// Grant (`permit`) or withdrawal (`deny`).
    pub provision: Provision,
    /// The purposes concerned.
    pub scopes: Vec<Scope>,
    /// Who consented or withdrew (FHIR `performer`), e.g. `patient:P017`.
    pub by: Option<String>,
    /// How consent was given (`verbal`, `written`, `electronic`, …).
    pub method: Option<String>,
    /// Who witnessed it, e.g. `clinician:C04`.
    pub witness: Option<String>,
    /// The date it takes effect (FHIR `dateTime` / `provision.period.start`).
    #[serde(with = "date_format")]
    pub date: Date,
    /// The last day it is valid (FHIR `provision.period.end`), for grants.
    #[serde(with = "date_format::option")]
    pub expires: Option<Date>,
    /// Free text.
    pub note: Option<String>,
    /// Who recorded it in the archive (the declared audit actor).
    pub recorded_by: String,
    /// The OS user id that recorded it (from the OS; absent in entries recorded before it
    /// was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by_uid: Option<u32>,
    /// That OS user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by_user: Option<String>,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
}

/// Why a scope is not currently granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lapse {
    /// Never granted.
    Missing,
    /// Granted, then withdrawn.
    Withdrawn,
    /// Granted, but the grant has expired.
    Expired,
    /// Granted from a later date.
    NotYetValid,
    /// The history does not match the audit log (edited by hand), so nothing in it is
    /// believed.
    Unverified,
}

impl Lapse {
    /// The lapse's name (`missing`, `withdrawn`, `expired`, `not-yet-valid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lapse::Missing => "missing",
            Lapse::Withdrawn => "withdrawn",
            Lapse::Expired => "expired",
            Lapse::NotYetValid => "not-yet-valid",
            Lapse::Unverified => "unverified",
        }
    }
}

/// One scope's state on one day, and the history entry that decides it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeState {
    /// Whether the scope is permitted on that day.
    pub permitted: bool,
    /// When permitted: the first day of the grant that permits it; when not yet valid: the
    /// day it starts.
    pub since: Option<Date>,
    /// The last day of that grant, if it expires.
    pub until: Option<Date>,
    /// Why it is not permitted (absent when it is).
    pub lapse: Option<Lapse>,
    /// The 1-based position in the history of the entry that decides it: the permitting
    /// grant, the withdrawal that cancelled it, or the expired or future grant.
    pub entry: Option<usize>,
}

/// The consent state of one recording on one day, derived from its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentState {
    /// The day the state is for.
    pub as_of: String,
    /// FHIR-style status: `active` when any scope is granted, `inactive` when there is
    /// history but nothing is granted, `none` without history.
    pub status: &'static str,
    /// Granted scopes, each with the last day it is valid (if it expires).
    pub granted: BTreeMap<Scope, Option<String>>,
    /// Scopes that were granted at some point but are not now, and why.
    pub lapsed: BTreeMap<Scope, Lapse>,
    /// Every scope, permitted or not, with since/until and the deciding entry.
    pub scopes: BTreeMap<Scope, ScopeState>,
}

impl ConsentState {
    /// Whether `scope` is granted.
    pub fn covers(&self, scope: Scope) -> bool {
        self.granted.contains_key(&scope)
    }

    /// Why `scope` is not granted (`Missing` when it never was).
    pub fn lapse(&self, scope: Scope) -> Lapse {
        self.lapsed.get(&scope).copied().unwrap_or(Lapse::Missing)
    }

    /// The state of a recording whose history the audit log does not explain: nothing is
    /// permitted, whatever the history says.
    pub fn unverified(day: Date) -> ConsentState {
        let st = ScopeState {
            permitted: false,
            since: None,
            until: None,
            lapse: Some(Lapse::Unverified),
            entry: None,
        };
        ConsentState {
            as_of: day.to_string(),
            status: "unverified",
            granted: BTreeMap::new(),
            lapsed: Scope::ALL
                .into_iter()
                .map(|s| (s, Lapse::Unverified))
                .collect(),
            scopes: Scope::ALL.into_iter().map(|s| (s, st.clone())).collect(),
        }
    }

    /// Why `scope` is not permitted, in words with dates and the deciding entry, e.g.
    /// `withdrawn on 2026-11-23 (entry 3)`.
    pub fn why_not(&self, scope: Scope, history: &[ConsentEntry]) -> String {
        let st = &self.scopes[&scope];
        let entry = st.entry.and_then(|n| history.get(n - 1).map(|e| (n, e)));
        match (self.lapse(scope), entry) {
            (Lapse::Withdrawn, Some((n, e))) => format!("withdrawn on {} (entry {n})", e.date),
            (Lapse::Expired, Some((n, e))) => format!(
                "expired after {} (entry {n})",
                e.expires.map_or("?".into(), |d| d.to_string())
            ),
            (Lapse::NotYetValid, Some((n, e))) => {
                format!("granted only from {} (entry {n})", e.date)
            }
            (Lapse::Unverified, _) => {
                "its consent history does not match the audit log (run `visitrec verify`)".into()
            }
            _ if history.is_empty() => "no consent recorded".into(),
            _ => "never granted".into(),
        }
    }

    /// The scopes permitted, as `personal-use, care`, or `nothing`.
    pub fn covered(&self) -> String {
        if self.granted.is_empty() {
            "nothing".into()
        } else {
            let names: Vec<&str> = self.granted.keys().map(|s| s.as_str()).collect();
            names.join(", ")
        }
    }

    /// A short summary: `active: personal-use, research` / `inactive` / `none`.
    pub fn summary(&self) -> String {
        if self.granted.is_empty() {
            self.status.to_string()
        } else {
            let names: Vec<&str> = self.granted.keys().map(|s| s.as_str()).collect();
            format!("active: {}", names.join(","))
        }
    }
}

/// The first withdrawal recorded after entry `i` that covers `scope` and is in effect on
/// `day` (its date ≤ `day`): it cancels grant `i`, whatever that grant's own dates.
fn cancelled_by(history: &[ConsentEntry], i: usize, scope: Scope, day: Date) -> Option<usize> {
    history
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|(_, e)| e.provision == Provision::Deny && e.scopes.contains(&scope) && e.date <= day)
        .map(|(j, _)| j)
}

/// Derives the state on `day` from `history` (in recording order). The rules, also in
/// `docs/FORMAT.md`:
/// - a grant permits its scopes from its `date` through its `expires` (inclusive);
/// - a withdrawal cancels, from its own `date` on, every grant of its scopes recorded
///   before it, including grants that start later;
/// - only a grant recorded after a withdrawal permits again.
pub fn state(history: &[ConsentEntry], day: Date) -> ConsentState {
    let mut scopes = BTreeMap::new();
    for scope in Scope::ALL {
        let grants: Vec<(usize, &ConsentEntry)> = history
            .iter()
            .enumerate()
            .filter(|(_, e)| e.provision == Provision::Permit && e.scopes.contains(&scope))
            .collect();
        let live: Vec<(usize, &ConsentEntry)> = grants
            .iter()
            .copied()
            .filter(|(i, _)| cancelled_by(history, *i, scope, day).is_none())
            .collect();
        let in_force = live
            .iter()
            .rev()
            .find(|(_, e)| e.date <= day && e.expires.is_none_or(|x| day <= x));
        let future = live.iter().rev().find(|(_, e)| e.date > day);
        let withdrawn = grants
            .iter()
            .rev()
            .find_map(|(i, _)| cancelled_by(history, *i, scope, day));
        let expired = live
            .iter()
            .rev()
            .find(|(_, e)| e.expires.is_some_and(|x| x < day));
        let st = if let Some((i, e)) = in_force {
            ScopeState {
                permitted: true,
                since: Some(e.date),
                until: e.expires,
                lapse: None,
                entry: Some(i + 1),
            }
        } else if let Some((i, e)) = future {
            ScopeState {
                permitted: false,
                since: Some(e.date),
                until: e.expires,
                lapse: Some(Lapse::NotYetValid),
                entry: Some(i + 1),
            }
        } else if let Some(j) = withdrawn {
            ScopeState {
                permitted: false,
                since: None,
                until: None,
                lapse: Some(Lapse::Withdrawn),
                entry: Some(j + 1),
            }
        } else if let Some((i, e)) = expired {
            ScopeState {
                permitted: false,
                since: Some(e.date),
                until: e.expires,
                lapse: Some(Lapse::Expired),
                entry: Some(i + 1),
            }
        } else {
            ScopeState {
                permitted: false,
                since: None,
                until: None,
                lapse: Some(Lapse::Missing),
                entry: None,
            }
        };
        scopes.insert(scope, st);
    }
    let granted: BTreeMap<Scope, Option<String>> = scopes
        .iter()
        .filter(|(_, st)| st.permitted)
        .map(|(s, st)| (*s, st.until.map(|d| d.to_string())))
        .collect();
    let lapsed: BTreeMap<Scope, Lapse> = scopes
        .iter()
        .filter_map(|(s, st)| st.lapse.filter(|l| *l != Lapse::Missing).map(|l| (*s, l)))
        .collect();
    let status = if !granted.is_empty() {
        "active"
    } else if history.is_empty() {
        "none"
    } else {
        "inactive"
    };
    ConsentState {
        as_of: day.to_string(),
        status,
        granted,
        lapsed,
        scopes,
    }
}

/// Grants of `scope` in `history` that no later withdrawal has cancelled (whatever the
/// dates): what a withdrawal recorded now would cancel.
fn open_grants(history: &[ConsentEntry], scope: Scope) -> usize {
    history
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            e.provision == Provision::Permit
                && e.scopes.contains(&scope)
                && !history[i + 1..]
                    .iter()
                    .any(|w| w.provision == Provision::Deny && w.scopes.contains(&scope))
        })
        .count()
}

/// The day consent is judged on when none is asked for: today (UTC), but never earlier
/// than the last day the audit log has seen, so a clock set back cannot bring a
/// withdrawal recorded "tomorrow" back to "yesterday".
pub fn judging_day(log: &[crate::audit::Entry]) -> Date {
    let seen = log
        .iter()
        .filter_map(|e| e.at.parse::<jiff::Timestamp>().ok())
        .max()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date());
    crate::time::today().max(seen.unwrap_or(Date::MIN))
}

/// A grant to be recorded.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Purposes granted.
    pub scopes: Vec<Scope>,
    /// Who consented.
    pub by: String,
    /// How.
    pub method: Option<String>,
    /// Witness.
    pub witness: Option<String>,
    /// Effective date (default today).
    pub date: Option<Date>,
    /// Last valid day.
    pub expires: Option<Date>,
    /// Free text.
    pub note: Option<String>,
}

impl Grant {
    /// Checks the grant and turns it into a history entry recorded by `actor`.
    pub fn entry(&self, actor: &str) -> Result<ConsentEntry> {
        if self.scopes.is_empty() {
            return Err(Error::GrantWithoutScope);
        }
        crate::tags::check_value("--by", &self.by)?;
        for (what, v) in [
            ("--method", &self.method),
            ("--witness", &self.witness),
            ("--note", &self.note),
        ] {
            if let Some(v) = v {
                crate::tags::check_value(what, v)?;
            }
        }
        let date = self.date.unwrap_or_else(crate::time::today);
        let os = crate::audit::OsUser::current();
        if let Some(end) = self.expires
            && end < date
        {
            return Err(Error::BadValue {
                flag: "--expires",
                value: end.to_string(),
                reason: format!("before the consent date {date}"),
            });
        }
        Ok(ConsentEntry {
            provision: Provision::Permit,
            scopes: self.scopes.clone(),
            by: Some(self.by.clone()),
            method: self.method.clone(),
            witness: self.witness.clone(),
            date,
            expires: self.expires,
            note: self.note.clone(),
            recorded_by: actor.to_string(),
            recorded_by_uid: Some(os.uid),
            recorded_by_user: Some(os.name),
            recorded_at: crate::time::now(),
        })
    }
}

/// A withdrawal to be recorded.
#[derive(Debug, Clone, Default)]
pub struct Withdrawal {
    /// Purposes withdrawn (empty: every scope that a grant recorded so far covers).
    pub scopes: Vec<Scope>,
    /// Who withdrew.
    pub by: Option<String>,
    /// Effective date (default today).
    pub date: Option<Date>,
    /// Free text.
    pub note: Option<String>,
}

impl Withdrawal {
    /// Checks the withdrawal against `history` and turns it into an entry. It cancels every
    /// grant of its scopes recorded so far, including grants not yet in force; withdrawing a
    /// scope that no such grant covers is an error (it would record nothing).
    pub fn entry(&self, history: &[ConsentEntry], actor: &str) -> Result<ConsentEntry> {
        for (what, v) in [("--by", &self.by), ("--note", &self.note)] {
            if let Some(v) = v {
                crate::tags::check_value(what, v)?;
            }
        }
        let date = self.date.unwrap_or_else(crate::time::today);
        let os = crate::audit::OsUser::current();
        let scopes: Vec<Scope> = if self.scopes.is_empty() {
            Scope::ALL
                .into_iter()
                .filter(|s| open_grants(history, *s) > 0)
                .collect()
        } else {
            self.scopes.clone()
        };
        if scopes.is_empty() {
            return Err(Error::NothingToWithdraw);
        }
        if let Some(s) = scopes.iter().find(|s| open_grants(history, **s) == 0) {
            return Err(Error::NotGranted(s.to_string()));
        }
        Ok(ConsentEntry {
            provision: Provision::Deny,
            scopes,
            by: self.by.clone(),
            method: None,
            witness: None,
            date,
            expires: None,
            note: self.note.clone(),
            recorded_by: actor.to_string(),
            recorded_by_uid: Some(os.uid),
            recorded_by_user: Some(os.name),
            recorded_at: crate::time::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn grant(scopes: &[Scope], date: &str, expires: Option<&str>) -> ConsentEntry {
        Grant {
            scopes: scopes.to_vec(),
            by: "patient:P017".into(),
            method: Some("verbal".into()),
            witness: None,
            date: Some(d(date)),
            expires: expires.map(d),
            note: None,
        }
        .entry("tester")
        .unwrap()
    }

    #[test]
    fn withdrawal_removes_only_its_scopes_and_history_is_kept() {
        let mut h = vec![grant(
            &[Scope::PersonalUse, Scope::Research],
            "2026-11-02",
            None,
        )];
        let w = Withdrawal {
            scopes: vec![Scope::Research],
            date: Some(d("2026-12-01")),
            ..Default::default()
        };
        h.push(w.entry(&h, "tester").unwrap());
        let before = state(&h, d("2026-11-30"));
        assert!(before.covers(Scope::Research) && before.covers(Scope::PersonalUse));
        let after = state(&h, d("2026-12-01"));
        assert!(!after.covers(Scope::Research) && after.covers(Scope::PersonalUse));
        assert_eq!(after.lapse(Scope::Research), Lapse::Withdrawn);
        assert_eq!(after.lapse(Scope::Education), Lapse::Missing);
        assert_eq!(h.len(), 2);
        assert_eq!(after.summary(), "active: personal-use");
    }

    #[test]
    fn expiry_and_future_grants() {
        let h = vec![grant(&[Scope::Research], "2026-11-02", Some("2031-11-02"))];
        assert!(
            state(&h, d("2031-11-02")).covers(Scope::Research),
            "last day included"
        );
        let later = state(&h, d("2031-11-03"));
        assert_eq!(later.lapse(Scope::Research), Lapse::Expired);
        assert_eq!(later.status, "inactive");
        let earlier = state(&h, d("2026-11-01"));
        assert_eq!(earlier.lapse(Scope::Research), Lapse::NotYetValid);
        assert_eq!(state(&[], d("2026-11-01")).status, "none");
    }

    #[test]
    fn regrant_after_withdrawal_and_bad_requests() {
        let mut h = vec![grant(&[Scope::Care], "2026-01-01", None)];
        let w = Withdrawal {
            date: Some(d("2026-02-01")),
            ..Default::default()
        };
        h.push(w.entry(&h, "t").unwrap());
        assert_eq!(
            h[1].scopes,
            vec![Scope::Care],
            "empty scope list withdraws all granted"
        );
        assert!(w.entry(&h, "t").is_err(), "nothing left to withdraw");
        h.push(grant(&[Scope::Care], "2026-03-01", None));
        assert!(state(&h, d("2026-03-01")).covers(Scope::Care));
        let bad = Grant {
            scopes: vec![Scope::Care],
            by: "p".into(),
            method: None,
            witness: None,
            date: Some(d("2026-03-01")),
            expires: Some(d("2026-02-01")),
            note: None,
        };
        assert!(bad.entry("t").is_err());
        assert!(parse_scopes("research,advertising").is_err());
        assert_eq!(
            parse_scopes("research, care,research").unwrap(),
            vec![Scope::Care, Scope::Research]
        );
    }

    #[test]
    fn a_withdrawal_cancels_every_earlier_grant_even_future_ones() {
        let mut h = vec![
            grant(&[Scope::Research], "2026-11-01", Some("2026-11-30")),
            grant(&[Scope::Research], "2026-12-01", None),
        ];
        let all = Withdrawal {
            date: Some(d("2026-11-23")),
            ..Default::default()
        };
        h.push(all.entry(&h, "t").unwrap());
        assert_eq!(h[2].scopes, vec![Scope::Research]);
        for day in ["2026-11-23", "2026-11-30", "2026-12-01", "2027-06-01"] {
            let st = state(&h, d(day));
            assert!(!st.covers(Scope::Research), "{day}");
            assert_eq!(st.lapse(Scope::Research), Lapse::Withdrawn, "{day}");
            assert_eq!(st.scopes[&Scope::Research].entry, Some(3));
        }
        assert!(state(&h, d("2026-11-22")).covers(Scope::Research));
        // Only a grant recorded after the withdrawal permits again.
        h.push(grant(&[Scope::Research], "2026-11-01", None));
        assert!(state(&h, d("2026-12-01")).covers(Scope::Research));
        assert_eq!(
            state(&h, d("2026-12-01")).scopes[&Scope::Research].entry,
            Some(4)
        );
    }

    #[test]
    fn a_future_grant_can_be_withdrawn() {
        let h = vec![grant(&[Scope::Education], "2027-01-01", None)];
        let w = Withdrawal {
            scopes: vec![Scope::Education],
            date: Some(d("2026-11-23")),
            ..Default::default()
        };
        let mut h2 = h.clone();
        h2.push(w.entry(&h, "t").expect("a future grant is withdrawable"));
        assert!(!state(&h2, d("2027-01-02")).covers(Scope::Education));
        assert!(w.entry(&h2, "t").is_err(), "already withdrawn");
    }

    #[test]
    fn malformed_dates_do_not_load() {
        let good = serde_json::to_value(grant(&[Scope::Care], "2026-11-23", None)).unwrap();
        assert_eq!(good["date"], "2026-11-23");
        for bad in [
            "2026-11-23 ",
            " 2026-11-23",
            "2026-11-23T00:00",
            "2026-02-30",
            "2026-1-3",
            "20261123",
            "",
        ] {
            let mut v = good.clone();
            v["date"] = bad.into();
            assert!(
                serde_json::from_value::<ConsentEntry>(v.clone()).is_err(),
                "{bad:?}"
            );
            v["date"] = "2026-11-23".into();
            v["expires"] = bad.into();
            assert!(
                serde_json::from_value::<ConsentEntry>(v).is_err(),
                "expires {bad:?}"
            );
            assert!(parse_date("--date", bad).is_err(), "{bad:?}");
        }
    }

    /// An independent model: each grant is a window of days; a withdrawal recorded later
    /// cuts every earlier window of its scopes off at the day before it takes effect.
    fn model(history: &[ConsentEntry], scope: Scope, day: Date) -> bool {
        let mut windows: Vec<(Date, Option<Date>)> = Vec::new();
        for e in history.iter().filter(|e| e.scopes.contains(&scope)) {
            match e.provision {
                Provision::Permit => windows.push((e.date, e.expires)),
                Provision::Deny => {
                    for w in &mut windows {
                        let cut = e.date.yesterday().unwrap();
                        w.1 = Some(w.1.map_or(cut, |end| end.min(cut)));
                    }
                }
            }
        }
        windows
            .iter()
            .any(|(start, end)| *start <= day && end.is_none_or(|e| day <= e))
    }

    proptest::proptest! {
        #[test]
        fn state_agrees_with_the_model(
            entries in proptest::collection::vec(
                (proptest::bool::ANY, 1u8..64, 0i32..40, proptest::option::of(0i32..20)),
                0..12,
            ),
            day in 0i32..60,
        ) {
            let base = d("2026-11-01");
            let at = |n: i32| base.checked_add(jiff::Span::new().days(n)).unwrap();
            let history: Vec<ConsentEntry> = entries
                .iter()
                .map(|(permit, mask, date, len)| {
                    let scopes: Vec<Scope> = Scope::ALL
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, s)| s)
                        .collect();
                    let mut e = grant(&scopes, &at(*date).to_string(), None);
                    if *permit {
                        e.expires = len.map(|l| at(date + l));
                    } else {
                        e.provision = Provision::Deny;
                    }
                    e
                })
                .collect();
            let day = at(day);
            let st = state(&history, day);
            for scope in Scope::ALL {
                proptest::prop_assert_eq!(st.covers(scope), model(&history, scope, day), "{:?}", scope);
                proptest::prop_assert_eq!(st.scopes[&scope].permitted, st.covers(scope));
            }
        }
    }
}

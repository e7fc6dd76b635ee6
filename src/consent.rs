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
            .ok_or_else(|| {
                let names: Vec<&str> = Scope::ALL.iter().map(|x| x.as_str()).collect();
                Error::Invalid(format!(
                    "unknown consent scope {s:?}; use one of {}",
                    names.join(", ")
                ))
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

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(what: &str, s: &str) -> Result<Date> {
    s.parse::<Date>()
        .map_err(|_| Error::Invalid(format!("{what} {s:?} is not a date (YYYY-MM-DD)")))
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
    /// The date it took effect (FHIR `dateTime` / `provision.period.start`).
    pub date: String,
    /// The last day it is valid (FHIR `provision.period.end`), for grants.
    pub expires: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// Who recorded it in the archive (the audit actor).
    pub recorded_by: String,
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
}

impl Lapse {
    /// The lapse's name (`missing`, `withdrawn`, `expired`, `not-yet-valid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lapse::Missing => "missing",
            Lapse::Withdrawn => "withdrawn",
            Lapse::Expired => "expired",
            Lapse::NotYetValid => "not-yet-valid",
        }
    }
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

/// Derives the state on `day` from `history` (in recording order; an entry takes effect on
/// its `date`, and entries with the same date apply in recording order).
pub fn state(history: &[ConsentEntry], day: Date) -> ConsentState {
    let mut order: Vec<&ConsentEntry> = history.iter().collect();
    order.sort_by(|a, b| a.date.cmp(&b.date)); // stable: same-day entries keep their order
    let mut granted: BTreeMap<Scope, Option<Date>> = BTreeMap::new();
    let mut lapsed: BTreeMap<Scope, Lapse> = BTreeMap::new();
    for e in order {
        let Ok(date) = e.date.parse::<Date>() else {
            continue;
        };
        if date > day {
            if e.provision == Provision::Permit {
                for s in &e.scopes {
                    if !granted.contains_key(s) {
                        lapsed.insert(*s, Lapse::NotYetValid);
                    }
                }
            }
            continue;
        }
        match e.provision {
            Provision::Permit => {
                let expires = e.expires.as_deref().and_then(|x| x.parse::<Date>().ok());
                for s in &e.scopes {
                    granted.insert(*s, expires);
                    lapsed.remove(s);
                }
            }
            Provision::Deny => {
                for s in &e.scopes {
                    if granted.remove(s).is_some() {
                        lapsed.insert(*s, Lapse::Withdrawn);
                    }
                }
            }
        }
    }
    let mut active = BTreeMap::new();
    for (s, expires) in granted {
        match expires {
            Some(end) if end < day => {
                lapsed.insert(s, Lapse::Expired);
            }
            _ => {
                active.insert(s, expires.map(|d| d.to_string()));
            }
        }
    }
    let status = if !active.is_empty() {
        "active"
    } else if history.is_empty() {
        "none"
    } else {
        "inactive"
    };
    ConsentState {
        as_of: day.to_string(),
        status,
        granted: active,
        lapsed,
    }
}

/// Today's date in the local time zone.
pub fn today() -> Date {
    jiff::Zoned::now().date()
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
            return Err(Error::Invalid("a grant needs at least one --scope".into()));
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
        let date = self.date.unwrap_or_else(today);
        if let Some(end) = self.expires
            && end < date
        {
            return Err(Error::Invalid(format!(
                "--expires {end} is before the consent date {date}"
            )));
        }
        Ok(ConsentEntry {
            provision: Provision::Permit,
            scopes: self.scopes.clone(),
            by: Some(self.by.clone()),
            method: self.method.clone(),
            witness: self.witness.clone(),
            date: date.to_string(),
            expires: self.expires.map(|d| d.to_string()),
            note: self.note.clone(),
            recorded_by: actor.to_string(),
            recorded_at: crate::record::now(),
        })
    }
}

/// A withdrawal to be recorded.
#[derive(Debug, Clone, Default)]
pub struct Withdrawal {
    /// Purposes withdrawn (empty: every scope granted on that day).
    pub scopes: Vec<Scope>,
    /// Who withdrew.
    pub by: Option<String>,
    /// Effective date (default today).
    pub date: Option<Date>,
    /// Free text.
    pub note: Option<String>,
}

impl Withdrawal {
    /// Checks the withdrawal against `history` and turns it into an entry. Withdrawing a
    /// scope that is not granted on that day is an error (it would record nothing).
    pub fn entry(&self, history: &[ConsentEntry], actor: &str) -> Result<ConsentEntry> {
        for (what, v) in [("--by", &self.by), ("--note", &self.note)] {
            if let Some(v) = v {
                crate::tags::check_value(what, v)?;
            }
        }
        let date = self.date.unwrap_or_else(today);
        let current = state(history, date);
        let scopes: Vec<Scope> = if self.scopes.is_empty() {
            current.granted.keys().copied().collect()
        } else {
            self.scopes.clone()
        };
        if scopes.is_empty() {
            return Err(Error::Invalid(format!(
                "nothing to withdraw: no consent is active on {date}"
            )));
        }
        if let Some(s) = scopes.iter().find(|s| !current.covers(**s)) {
            return Err(Error::Invalid(format!(
                "cannot withdraw {s}: it is not granted on {date}"
            )));
        }
        Ok(ConsentEntry {
            provision: Provision::Deny,
            scopes,
            by: self.by.clone(),
            method: None,
            witness: None,
            date: date.to_string(),
            expires: None,
            note: self.note.clone(),
            recorded_by: actor.to_string(),
            recorded_at: crate::record::now(),
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
}

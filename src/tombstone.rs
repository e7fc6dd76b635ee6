//! `data/<id>/tombstone.json`: what is left of a purged recording (schema 1).
//!
//! A purge removes a recording's audio and personal metadata but keeps the facts a records
//! officer must still be able to show: which bytes were held, when, and who erased them
//! and why. The tombstone holds no free text of the recording (no participant, file name,
//! tag values, mark labels or consent notes). Documented in `docs/FORMAT.md`.

use serde::{Deserialize, Serialize};

/// The tombstone's file name inside `data/<id>/`.
pub const TOMBSTONE_JSON: &str = "tombstone.json";

/// Why a recording was purged: a code, never free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The participant withdrew consent.
    ConsentWithdrawn,
    /// The retention period ran out.
    RetentionExpired,
    /// The participant (or a lawful authority) asked for erasure.
    Request,
    /// The recording should never have been archived (wrong patient, wrong file).
    Error,
}

impl Reason {
    /// The code, as written (`consent-withdrawn`, …).
    pub fn code(self) -> &'static str {
        match self {
            Reason::ConsentWithdrawn => "consent-withdrawn",
            Reason::RetentionExpired => "retention-expired",
            Reason::Request => "request",
            Reason::Error => "error",
        }
    }

    /// In words, for messages (`consent withdrawn`, …).
    pub fn words(self) -> &'static str {
        match self {
            Reason::ConsentWithdrawn => "consent withdrawn",
            Reason::RetentionExpired => "retention expired",
            Reason::Request => "erasure requested",
            Reason::Error => "archived in error",
        }
    }
}

/// Who purged: the declared actor and the OS account of the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgedBy {
    /// The audit actor (`--actor`, else `$USER`).
    pub actor: String,
    /// The OS user id.
    pub uid: u32,
    /// The OS user name.
    pub user: String,
}

/// A purged recording's tombstone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    /// Schema version; always 1.
    pub schema: u32,
    /// The recording id (the folder's name).
    pub id: String,
    /// SHA-256 of the original's bytes.
    pub sha256: String,
    /// The original's size in bytes.
    pub size: u64,
    /// Its decoded length in seconds.
    pub duration_s: f64,
    /// When it was ingested (RFC 3339 UTC).
    pub ingested_at: String,
    /// When it was purged (RFC 3339 UTC).
    pub purged_at: String,
    /// Who purged it.
    pub purged_by: PurgedBy,
    /// Why.
    pub reason: Reason,
}

impl Tombstone {
    /// Parses and checks a `tombstone.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Tombstone, String> {
        let t: Tombstone = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if t.schema != 1 {
            return Err(format!("tombstone schema {} is not supported", t.schema));
        }
        if !crate::record::is_valid_id(&t.id) {
            return Err(format!("id {:?} is not 16 hex digits", t.id));
        }
        let hex = t.sha256.len() == 64
            && t.sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex || !t.sha256.starts_with(&t.id) {
            return Err("sha256 is not 64 lower-case hex digits starting with the id".into());
        }
        for (what, v) in [("ingested_at", &t.ingested_at), ("purged_at", &t.purged_at)] {
            if v.parse::<jiff::Timestamp>().is_err() {
                return Err(format!("{what} {v:?} is not an RFC 3339 time"));
            }
        }
        for (what, v) in [
            ("purged_by.actor", &t.purged_by.actor),
            ("purged_by.user", &t.purged_by.user),
        ] {
            crate::tags::check_value(what, v).map_err(|e| e.to_string())?;
        }
        Ok(t)
    }

    /// Serializes, pretty-printed with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("tombstone serializes");
        v.push(b'\n');
        v
    }

    /// The UTC day it was purged (`YYYY-MM-DD`).
    pub fn purged_on(&self) -> &str {
        self.purged_at.get(..10).unwrap_or(&self.purged_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tombstone {
        Tombstone {
            schema: 1,
            id: "0123456789abcdef".into(),
            sha256: format!("0123456789abcdef{}", "0".repeat(48)),
            size: 10,
            duration_s: 1.5,
            ingested_at: "2026-11-01T10:00:00Z".into(),
            purged_at: "2026-12-01T10:00:00Z".into(),
            purged_by: PurgedBy {
                actor: "records".into(),
                uid: 1000,
                user: "alice".into(),
            },
            reason: Reason::ConsentWithdrawn,
        }
    }

    #[test]
    fn round_trips_and_refuses_what_no_purge_writes() {
        let t = sample();
        assert_eq!(Tombstone::from_json(&t.to_json()), Ok(t.clone()));
        assert_eq!(t.purged_on(), "2026-12-01");
        let text = String::from_utf8(t.to_json()).unwrap();
        for bad in [
            text.replace("\"consent-withdrawn\"", "\"because\""),
            text.replace("\"schema\": 1", "\"schema\": 2"),
            text.replace("0123456789abcdef0", "0123456789abcdee0"),
            text.replace("\"alice\"", "\"al\\nice\""),
            text.replace("\"size\"", "\"participant\": \"P1\",\n  \"size\""),
        ] {
            assert!(Tombstone::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

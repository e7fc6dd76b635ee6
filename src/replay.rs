//! Replaying the audit log against the state it describes.
//!
//! The audit log is hash-chained, but a `recording.json` is just a file: deleting a
//! withdrawal from it and recomputing the manifests leaves every checksum valid. So `verify`
//! rebuilds, from the log alone, what each recording's consent history and tag keys must be,
//! and compares: a history the log does not explain is `consent-mismatch` (consent) or
//! `history-mismatch` (a recording no `ingest` entry introduced, tag keys the log never set).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::audit::Entry;
use crate::consent::ConsentEntry;
use crate::record::Recording;

/// What the audit log records of a consent entry: provision, scopes and dates (never the
/// free text). Used by both `ingest` and `consent`, so the replay can compare them.
pub fn consent_details(e: &ConsentEntry) -> Value {
    json!({
        "provision": e.provision,
        "scopes": e.scopes,
        "date": e.date,
        "expires": e.expires,
    })
}

/// One recording's history as the log tells it.
#[derive(Debug, Default)]
struct Told {
    ingested: bool,
    consent: Vec<Value>,
    /// Tag keys, when every entry that touched this recording says which (older logs do
    /// not: then tags are not replayed).
    tag_keys: Option<BTreeSet<String>>,
}

/// A disagreement between a recording and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The recording.
    pub id: String,
    /// True for consent, false for ingest and tags.
    pub consent: bool,
    /// What differs.
    pub detail: String,
}

/// Replays `entries` (the whole log, in order) and compares with `recordings`.
pub fn check(entries: &[Entry], recordings: &[Recording]) -> Vec<Mismatch> {
    let wanted: BTreeSet<&str> = recordings.iter().map(|r| r.id.as_str()).collect();
    let mut told: BTreeMap<&str, Told> = BTreeMap::new();
    for e in entries {
        for id in e.ids.iter().filter(|id| wanted.contains(id.as_str())) {
            let t = told.entry(id.as_str()).or_default();
            match e.op.as_str() {
                "ingest" => {
                    t.ingested = true;
                    if let Some(c) = e.details.get("consent").filter(|c| !c.is_null()) {
                        t.consent.push(c.clone());
                    } else if let Some(scopes) =
                        e.details.get("consent_scopes").filter(|c| !c.is_null())
                    {
                        // Logs written before the dates were logged name the scopes only.
                        t.consent
                            .push(json!({"provision": "permit", "scopes": scopes, "legacy": true}));
                    }
                    t.tag_keys = e.details.get("tag_keys").and_then(|k| {
                        let keys = k.as_array()?.iter().map(|v| v.as_str().map(String::from));
                        keys.collect::<Option<BTreeSet<String>>>()
                    });
                }
                // A purged recording ingested again starts a new history.
                "purge" => *t = Told::default(),
                "consent" => t.consent.push(e.details.clone()),
                "tag" => {
                    if let Some(keys) = &mut t.tag_keys {
                        let names = |field: &str| -> Vec<String> {
                            e.details[field]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|v| v.as_str().map(String::from))
                                        .collect()
                                })
                                .unwrap_or_default()
                        };
                        for k in names("unset") {
                            keys.remove(&k);
                        }
                        keys.extend(names("set"));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for rec in recordings {
        let t = told.remove(rec.id.as_str()).unwrap_or_default();
        let mut push = |consent: bool, detail: String| {
            out.push(Mismatch {
                id: rec.id.clone(),
                consent,
                detail,
            })
        };
        if !t.ingested {
            push(
                false,
                "no ingest entry in the audit log introduced this recording".into(),
            );
        }
        let have: Vec<Value> = rec.consent.iter().map(consent_details).collect();
        let same = |have: Option<&Value>, told: Option<&Value>| match (have, told) {
            (Some(h), Some(t)) if t.get("legacy").is_some() => {
                h["provision"] == t["provision"] && h["scopes"] == t["scopes"]
            }
            (h, t) => h == t,
        };
        if let Some(n) =
            (0..have.len().max(t.consent.len())).find(|&i| !same(have.get(i), t.consent.get(i)))
        {
            let show = |v: Option<&Value>| v.map_or("nothing".to_string(), summary);
            push(
                true,
                format!(
                    "consent entry {}: recording.json has {}, the audit log has {}",
                    n + 1,
                    show(have.get(n)),
                    show(t.consent.get(n))
                ),
            );
        }
        if let Some(keys) = t.tag_keys {
            let actual: BTreeSet<String> = rec.tags.keys().cloned().collect();
            if actual != keys {
                let extra: Vec<&String> = actual.difference(&keys).collect();
                let gone: Vec<&String> = keys.difference(&actual).collect();
                push(
                    false,
                    format!(
                        "tag keys differ from the audit log: not logged {extra:?}, missing {gone:?}"
                    ),
                );
            }
        }
    }
    out
}

/// Each tombstone must be explained by the log: the last `ingest` or `purge` entry naming
/// its id is a `purge` (a tombstone planted by hand, or one left beside a re-ingest, is not).
pub fn check_tombstones(entries: &[Entry], tombstones: &[String]) -> Vec<Mismatch> {
    let wanted: BTreeSet<&str> = tombstones.iter().map(String::as_str).collect();
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e.op == "ingest" || e.op == "purge")
    {
        for id in e.ids.iter().filter(|id| wanted.contains(id.as_str())) {
            last.insert(id.as_str(), e.op.as_str());
        }
    }
    tombstones
        .iter()
        .filter(|id| last.get(id.as_str()) != Some(&"purge"))
        .map(|id| Mismatch {
            id: id.clone(),
            consent: false,
            detail: "no purge entry in the audit log explains this tombstone".into(),
        })
        .collect()
}

/// `deny research from 2026-11-23` / `permit care,research from 2026-11-01 until 2031-11-01`.
fn summary(v: &Value) -> String {
    let scopes: Vec<&str> = v["scopes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut s = format!(
        "{} {} from {}",
        v["provision"].as_str().unwrap_or("?"),
        scopes.join(","),
        v["date"].as_str().unwrap_or("?")
    );
    if let Some(x) = v["expires"].as_str() {
        s.push_str(&format!(" until {x}"));
    }
    s
}

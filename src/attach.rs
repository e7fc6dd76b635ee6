//! What a batch attaches to recordings (participant, tags, marks, a consent entry), applied
//! to a recording already archived: by `ingest` when it meets content it already holds, by
//! `consent --from` and `ingest --manifest`. It adds and never replaces: a participant or a
//! tag value that differs from the recording's is refused, and a grant the history already
//! holds is not recorded twice.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::consent::{ConsentEntry, Provision};
use crate::record::{Mark, Recording};

/// What to attach to a recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attachment {
    /// Participant or patient reference (validated by the caller).
    pub participant: Option<String>,
    /// Tags (validated by the caller).
    pub tags: BTreeMap<String, String>,
    /// Marks.
    pub marks: Vec<Mark>,
    /// A consent entry to append.
    pub consent: Option<ConsentEntry>,
}

impl Attachment {
    /// Whether there is nothing to attach.
    pub fn is_empty(&self) -> bool {
        self.participant.is_none()
            && self.tags.is_empty()
            && self.marks.is_empty()
            && self.consent.is_none()
    }
}

/// What attaching changed on one recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Added {
    /// A consent entry was appended.
    pub consent: bool,
    /// The grant asked for was already in the history (identical scopes, by, method,
    /// witness, date and expiry), so it was not recorded again.
    pub consent_already: bool,
    /// The participant was set (the recording had none).
    pub participant: bool,
    /// Tag keys set (the recording did not have them).
    pub tags: Vec<String>,
    /// Times (s) of marks added.
    pub marks: Vec<f64>,
}

impl Added {
    /// Whether the recording changed.
    pub fn changed(&self) -> bool {
        self.consent || self.participant || !self.tags.is_empty() || !self.marks.is_empty()
    }

    /// The audit entries (op, details) that log the change, as `consent` and `tag` log
    /// theirs (ids, keys, times and scopes only, never free text), so the audit replay
    /// explains the recording; `entry` is the consent entry appended, if any.
    pub fn audit(&self, entry: Option<&ConsentEntry>) -> Vec<(&'static str, serde_json::Value)> {
        let mut out = Vec::new();
        if let Some(e) = entry.filter(|_| self.consent) {
            out.push(("consent", crate::replay::consent_details(e)));
        }
        if self.participant || !self.tags.is_empty() || !self.marks.is_empty() {
            let empty: [&str; 0] = [];
            out.push((
                "tag",
                serde_json::json!({
                    "set": self.tags,
                    "unset": empty,
                    "marks_added": self.marks,
                    "marks_removed": empty,
                    "participant_set": self.participant,
                }),
            ));
        }
        out
    }
}

/// Whether the history already holds a grant identical to `e`.
fn has_grant(history: &[ConsentEntry], e: &ConsentEntry) -> bool {
    e.provision == Provision::Permit
        && history.iter().any(|h| {
            h.provision == Provision::Permit
                && h.scopes == e.scopes
                && h.by == e.by
                && h.method == e.method
                && h.witness == e.witness
                && h.date == e.date
                && h.expires == e.expires
        })
}

/// Attaches `a` to `rec`, or refuses (changing nothing) with the reason: a participant
/// or tag value that differs from the recording's, a mark that does not fit.
pub fn attach(rec: &mut Recording, a: &Attachment) -> std::result::Result<Added, String> {
    let mut next = rec.clone();
    let mut added = Added::default();
    if let Some(p) = &a.participant {
        match &next.participant {
            None => {
                next.participant = Some(p.clone());
                added.participant = true;
            }
            Some(q) if q == p => {}
            Some(q) => {
                return Err(format!(
                    "already archived as recording {} of participant {q:?}, not {p:?}: a \
                     participant is never replaced by a batch",
                    rec.id
                ));
            }
        }
    }
    for (k, v) in &a.tags {
        match next.tags.get(k) {
            None => {
                next.tags.insert(k.clone(), v.clone());
                added.tags.push(k.clone());
            }
            Some(w) if w == v => {}
            Some(w) => {
                return Err(format!(
                    "already archived as recording {} with tag {k}={w:?}, not {v:?}: change it \
                     with `visitrec tag {} --set {k}=…`",
                    rec.id, rec.id
                ));
            }
        }
    }
    let before = next.marks.len();
    crate::annotate::add_marks(&mut next, &a.marks).map_err(|e| e.to_string())?;
    if next.marks.len() != before {
        added.marks = a
            .marks
            .iter()
            .filter(|m| !rec.marks.iter().any(|x| (x.at_s - m.at_s).abs() < 0.0005))
            .map(|m| m.at_s)
            .collect();
    }
    if let Some(e) = &a.consent {
        if has_grant(&next.consent, e) {
            added.consent_already = true;
        } else {
            next.consent.push(e.clone());
            added.consent = true;
        }
    }
    *rec = next;
    Ok(added)
}

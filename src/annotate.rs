//! `tag` and `consent`: changing a recording's metadata (tags, time-anchored marks, consent
//! history), validated completely before anything is written, committed with an audit line.

use std::path::Path;

use serde::Serialize;

use crate::archive::Writer;
use crate::catalog;
use crate::consent::{self, ConsentEntry, Grant, Withdrawal};
use crate::error::{Error, IoContext, Result};
use crate::record::{self, Mark, RECORDING_JSON, Recording};
use crate::tags;

/// Changes asked of `tag`, applied in this order: unset, set, unmark, mark.
#[derive(Debug, Clone, Default)]
pub struct TagEdit {
    /// Tags to set (`key`, `value`), already validated by [`tags::parse_tag`].
    pub set: Vec<(String, String)>,
    /// Tag keys to remove.
    pub unset: Vec<String>,
    /// Marks to add.
    pub mark: Vec<Mark>,
    /// Times (s) of marks to remove.
    pub unmark: Vec<f64>,
}

/// What `tag` did.
#[derive(Debug, Clone, Serialize)]
pub struct TagOutcome {
    /// The recording.
    pub id: String,
    /// Whether anything changed (re-applying the same edit changes nothing).
    pub changed: bool,
    /// The tags now.
    pub tags: std::collections::BTreeMap<String, String>,
    /// The marks now.
    pub marks: Vec<Mark>,
}

/// Applies `edit` to recording `id`.
pub fn tag(writer: &mut Writer, id: &str, edit: &TagEdit) -> Result<TagOutcome> {
    let mut rec = catalog::load(writer.archive(), id)?;
    let before = rec.clone();
    for k in &edit.unset {
        tags::check_key(k)?;
        if rec.tags.remove(k).is_none() {
            return Err(Error::NoTag {
                id: id.to_string(),
                key: k.clone(),
            });
        }
    }
    for (k, v) in &edit.set {
        rec.tags.insert(k.clone(), v.clone());
    }
    for at in &edit.unmark {
        let before_len = rec.marks.len();
        rec.marks.retain(|m| !same_time(m.at_s, *at));
        if rec.marks.len() == before_len {
            return Err(Error::NoMark {
                id: id.to_string(),
                at: tags::format_time(*at),
            });
        }
    }
    add_marks(&mut rec, &edit.mark)?;
    let changed = rec != before;
    if changed {
        let mut txn = writer.begin();
        txn.put_bytes(&record::payload_path(id, RECORDING_JSON), &rec.to_json())?;
        let details = serde_json::json!({
            "set": edit.set.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "unset": edit.unset,
            "marks_added": edit.mark.iter().map(|m| m.at_s).collect::<Vec<_>>(),
            "marks_removed": edit.unmark,
        });
        txn.audit("tag", vec![id.to_string()], details);
        txn.commit()?;
    }
    Ok(TagOutcome {
        id: id.to_string(),
        changed,
        tags: rec.tags,
        marks: rec.marks,
    })
}

/// Adds marks to `rec`: each must lie within the recording, and a time may carry only one
/// label (re-adding the same mark is a no-op). Keeps marks in time order.
pub fn add_marks(rec: &mut Recording, marks: &[Mark]) -> Result<()> {
    let duration = rec.source.frames as f64 / f64::from(rec.source.sample_rate.max(1));
    for m in marks {
        tags::check_value("mark label", &m.label)?;
        if !(0.0..=duration).contains(&m.at_s) {
            return Err(Error::MarkOutside {
                id: rec.id.clone(),
                at: tags::format_time(m.at_s),
                duration: tags::format_time(duration),
            });
        }
        match rec.marks.iter().find(|x| same_time(x.at_s, m.at_s)) {
            Some(x) if x.label == m.label => {}
            Some(x) => {
                return Err(Error::MarkTaken {
                    id: rec.id.clone(),
                    at: tags::format_time(m.at_s),
                    label: x.label.clone(),
                });
            }
            None => rec.marks.push(m.clone()),
        }
    }
    rec.marks.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    Ok(())
}

/// Times are kept to the millisecond.
fn same_time(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.0005
}

/// Parses `TIME=LABEL` (from `--mark`).
pub fn parse_mark(s: &str) -> Result<Mark> {
    let (t, label) = s
        .split_once('=')
        .ok_or_else(|| Error::BadMark(s.to_string()))?;
    tags::check_value("mark label", label)?;
    Ok(Mark {
        at_s: tags::parse_time(t)?,
        label: label.to_string(),
    })
}

/// Reads marks from a file (see [`parse_marks`]); errors name the file and line.
pub fn read_marks_file(path: &Path) -> Result<Vec<Mark>> {
    let text = std::fs::read_to_string(path).at(path)?;
    parse_marks(&text).map_err(|(line, reason)| Error::BadMarks {
        path: path.to_path_buf(),
        line: (line > 0).then_some(line),
        reason,
    })
}

/// Parses marks: JSON (`[{"at": "03:12", "label": "…"}]`, `at` as a time or seconds) or
/// CSV (`time,label` per line; the label is everything after the first comma; a
/// `time,label` header, blank lines and `#` comments are ignored). Errors carry the line
/// (0 for JSON) and the reason.
pub fn parse_marks(text: &str) -> std::result::Result<Vec<Mark>, (usize, String)> {
    let mut marks = Vec::new();
    if text.trim_start().starts_with('[') {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            at: serde_json::Value,
            label: String,
        }
        let raw: Vec<Raw> = serde_json::from_str(text).map_err(|e| (0, e.to_string()))?;
        for (i, r) in raw.into_iter().enumerate() {
            let entry = |why: String| (0, format!("entry {}: {why}", i + 1));
            let at = match &r.at {
                serde_json::Value::String(s) => tags::parse_time(s),
                serde_json::Value::Number(n) => tags::parse_time(&n.to_string()),
                other => return Err(entry(format!("\"at\" is {other}, not a time"))),
            }
            .map_err(|e| entry(e.to_string()))?;
            tags::check_value("label", &r.label).map_err(|e| entry(e.to_string()))?;
            marks.push(Mark {
                at_s: at,
                label: r.label,
            });
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') || (i == 0 && line == "time,label") {
                continue;
            }
            let (t, label) = line
                .split_once(',')
                .ok_or_else(|| (i + 1, "expected time,label".to_string()))?;
            let at = tags::parse_time(t.trim()).map_err(|e| (i + 1, e.to_string()))?;
            let label = label.trim();
            tags::check_value("label", label).map_err(|e| (i + 1, e.to_string()))?;
            marks.push(Mark {
                at_s: at,
                label: label.to_string(),
            });
        }
    }
    Ok(marks)
}

/// What `consent --grant/--withdraw` recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentOutcome {
    /// The recording.
    pub id: String,
    /// The entry added.
    pub entry: ConsentEntry,
    /// The state today, after it.
    pub state: consent::ConsentState,
}

/// A consent change.
#[derive(Debug, Clone)]
pub enum ConsentChange {
    /// Record a grant.
    Grant(Grant),
    /// Record a withdrawal.
    Withdraw(Withdrawal),
}

/// Appends a grant or withdrawal to recording `id`'s consent history.
pub fn consent(writer: &mut Writer, id: &str, change: &ConsentChange) -> Result<ConsentOutcome> {
    let mut rec = catalog::load(writer.archive(), id)?;
    let entry = match change {
        ConsentChange::Grant(g) => g.entry(writer.actor())?,
        ConsentChange::Withdraw(w) => w.entry(&rec.consent, writer.actor())?,
    };
    rec.consent.push(entry.clone());
    let mut txn = writer.begin();
    txn.put_bytes(&record::payload_path(id, RECORDING_JSON), &rec.to_json())?;
    let details = crate::replay::consent_details(&entry);
    txn.audit("consent", vec![id.to_string()], details);
    txn.commit()?;
    Ok(ConsentOutcome {
        id: id.to_string(),
        state: consent::state(&rec.consent, crate::time::today()),
        entry,
    })
}

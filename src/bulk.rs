//! `consent --from FILE.csv`: consent entries and participants for many recordings at once.
//! The whole file is checked first — every row must name exactly one recording and every
//! value must pass the checks the flags get — and then applied in one transaction, so the
//! archive gets all of it or none of it. Column reference: docs/FORMAT.md.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::archive::Writer;
use crate::attach::{Added, Attachment};
use crate::consent::{Grant, Withdrawal};
use crate::error::Result;
use crate::record::{self, RECORDING_JSON, Recording};
use crate::table::Table;

/// Columns that say which recording a row is about.
pub const KEYS: [&str; 3] = ["id", "sha256", "file_name"];
/// The other columns of a consent file.
pub const COLUMNS: [&str; 9] = [
    "participant",
    "provision",
    "scopes",
    "by",
    "method",
    "date",
    "expires",
    "witness",
    "note",
];

/// What one row did.
#[derive(Debug, Clone, Serialize)]
pub struct RowOutcome {
    /// The row's line in the file.
    pub line: u64,
    /// The recording it names.
    pub id: String,
    /// What it added.
    pub added: Added,
}

/// What `consent --from` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkReport {
    /// Every row, in file order.
    pub rows: Vec<RowOutcome>,
    /// Consent entries recorded.
    pub consent_added: usize,
    /// Grants not recorded because the recording already had them.
    pub consent_already: usize,
    /// Participants set.
    pub participants_set: usize,
}

/// The grant or withdrawal of a row's consent columns (`provision` empty: none). Problems
/// go to `t`.
pub(crate) fn grant_columns(t: &mut Table, line: u64, f: &[String]) -> Option<Grant> {
    let date = |t: &mut Table, col: &'static str| -> Option<jiff::civil::Date> {
        let v = t.get(f, col)?;
        match crate::consent::parse_date(col, v) {
            Ok(d) => Some(d),
            Err(e) => {
                t.problem(line, format!("{col}: {e}"));
                None
            }
        }
    };
    let scopes = match t.get(f, "scopes").map(crate::consent::parse_scopes) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            t.problem(line, format!("scopes: {e}"));
            Vec::new()
        }
        None => Vec::new(),
    };
    let by = t.get(f, "by").map(String::from);
    let g = Grant {
        scopes,
        by: by.clone().unwrap_or_default(),
        method: t.get(f, "method").map(String::from),
        witness: t.get(f, "witness").map(String::from),
        date: date(t, "date"),
        expires: date(t, "expires"),
        note: t.get(f, "note").map(String::from),
    };
    if by.is_none() {
        t.problem(line, "by is empty: a grant needs who consented".into());
        return None;
    }
    // The checks the flags get (scopes present, values, expiry after the date).
    match g.entry("check") {
        Ok(_) => Some(g),
        Err(e) => {
            t.problem(line, e.to_string());
            None
        }
    }
}

/// A row's consent change.
enum Change {
    Grant(Grant),
    Withdraw(Withdrawal),
}

/// One row, checked.
struct Row {
    line: u64,
    id: String,
    participant: Option<String>,
    change: Option<Change>,
}

/// Reads `path`, checks every row against the archive, and applies them all in one
/// transaction; on any problem nothing is written and [`Error::BadCsv`] lists them all.
pub fn consent_from(writer: &mut Writer, path: &Path) -> Result<BulkReport> {
    let known = |c: &str| KEYS.contains(&c) || COLUMNS.contains(&c);
    let mut t = Table::read(path, &known, &[])?;
    if !KEYS.iter().any(|k| t.has(k)) {
        t.problem(
            1,
            "no id, sha256 or file_name column to name the recordings".into(),
        );
        t.check()?;
    }
    t.check_header()?;
    let finder = Finder::new(writer, &t)?;
    let rows = std::mem::take(&mut t.rows);
    let mut checked = Vec::new();
    for (line, f) in &rows {
        if let Some(row) = check_row(&mut t, &finder, *line, f) {
            checked.push(row);
        }
    }
    t.check()?;
    // Apply in file order to the recordings in memory, checking withdrawals and conflicts
    // against the history as the earlier rows left it.
    let mut recs: Vec<(Recording, Vec<(&'static str, serde_json::Value)>)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut report = BulkReport::default();
    for row in checked {
        let n = match at.get(&row.id) {
            Some(n) => *n,
            None => {
                recs.push((crate::catalog::load(writer.archive(), &row.id)?, Vec::new()));
                at.insert(row.id.clone(), recs.len() - 1);
                recs.len() - 1
            }
        };
        let (rec, audit) = &mut recs[n];
        let consent = match &row.change {
            None => None,
            Some(Change::Grant(g)) => Some(g.entry(writer.actor())),
            Some(Change::Withdraw(w)) => Some(w.entry(&rec.consent, writer.actor())),
        };
        let consent = match consent.transpose() {
            Ok(c) => c,
            Err(e) => {
                t.problem(row.line, format!("recording {}: {e}", row.id));
                continue;
            }
        };
        let a = Attachment {
            participant: row.participant,
            consent,
            ..Attachment::default()
        };
        match crate::attach::attach(rec, &a) {
            Ok(added) => {
                audit.extend(added.audit(a.consent.as_ref()));
                report.consent_added += usize::from(added.consent);
                report.consent_already += usize::from(added.consent_already);
                report.participants_set += usize::from(added.participant);
                report.rows.push(RowOutcome {
                    line: row.line,
                    id: row.id,
                    added,
                });
            }
            Err(reason) => t.problem(row.line, reason),
        }
    }
    t.check()?;
    let mut txn = writer.begin();
    for (rec, audit) in recs.iter().filter(|(_, a)| !a.is_empty()) {
        txn.put_bytes(
            &record::payload_path(&rec.id, RECORDING_JSON),
            &rec.to_json(),
        )?;
        for (op, details) in audit {
            txn.audit(op, vec![rec.id.clone()], details.clone());
        }
    }
    txn.commit()?;
    Ok(report)
}

/// Checks one row's values and finds its recording; problems go to `t`.
fn check_row(t: &mut Table, finder: &Finder, line: u64, f: &[String]) -> Option<Row> {
    let before = t.problem_count();
    let id = finder.find(t, line, f);
    let participant = t.get(f, "participant").map(String::from);
    if let Some(p) = &participant
        && let Err(e) = crate::tags::check_value("participant", p)
    {
        t.problem(line, e.to_string());
    }
    let change = match t.get(f, "provision") {
        None => {
            let stray = [
                "scopes", "by", "method", "date", "expires", "witness", "note",
            ]
            .into_iter()
            .find(|c| t.get(f, c).is_some());
            if let Some(c) = stray {
                t.problem(
                    line,
                    format!("{c} is given but provision is empty (permit or deny)"),
                );
            } else if participant.is_none() {
                t.problem(
                    line,
                    "nothing to do: no provision and no participant".into(),
                );
            }
            None
        }
        Some("permit" | "grant") => grant_columns(t, line, f).map(Change::Grant),
        Some("deny" | "withdraw") => withdrawal_columns(t, line, f).map(Change::Withdraw),
        Some(other) => {
            t.problem(
                line,
                format!("provision {other:?} is not permit, deny, grant or withdraw"),
            );
            None
        }
    };
    (t.problem_count() == before).then(|| Row {
        line,
        id: id.unwrap_or_default(),
        participant,
        change,
    })
}

/// The withdrawal of a row (`provision` deny or withdraw).
fn withdrawal_columns(t: &mut Table, line: u64, f: &[String]) -> Option<Withdrawal> {
    if let Some(c) = ["method", "expires", "witness"]
        .into_iter()
        .find(|c| t.get(f, c).is_some())
    {
        t.problem(line, format!("{c} goes with a grant, not a withdrawal"));
        return None;
    }
    let scopes = match t.get(f, "scopes").map(crate::consent::parse_scopes) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            t.problem(line, format!("scopes: {e}"));
            return None;
        }
        None => Vec::new(),
    };
    let date = match t
        .get(f, "date")
        .map(|d| crate::consent::parse_date("date", d))
    {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            t.problem(line, format!("date: {e}"));
            return None;
        }
        None => None,
    };
    for c in ["by", "note"] {
        if let Some(v) = t.get(f, c)
            && let Err(e) = crate::tags::check_value(c, v)
        {
            t.problem(line, e.to_string());
            return None;
        }
    }
    Some(Withdrawal {
        scopes,
        by: t.get(f, "by").map(String::from),
        date,
        note: t.get(f, "note").map(String::from),
    })
}

/// Finds the recording a row names, by id (or unique prefix), SHA-256 or original file
/// name.
struct Finder {
    ids: Vec<String>,
    by_sha: HashMap<String, String>,
    by_name: HashMap<String, Vec<String>>,
}

impl Finder {
    fn new(writer: &Writer, t: &Table) -> Result<Finder> {
        let manifest = writer.manifest()?;
        let mut ids = crate::archive::ids_in(manifest);
        ids.sort();
        let mut by_sha = HashMap::new();
        for (p, d) in &manifest.entries {
            if let Some((id, file)) = p.strip_prefix("data/").and_then(|r| r.split_once('/'))
                && file.starts_with("original.")
            {
                by_sha.insert(d.clone(), id.to_string());
            }
        }
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        if t.has("file_name") {
            for id in &ids {
                let rec = crate::catalog::load(writer.archive(), id)?;
                by_name
                    .entry(rec.source.file_name)
                    .or_default()
                    .push(rec.id);
            }
        }
        Ok(Finder {
            ids,
            by_sha,
            by_name,
        })
    }

    /// The one recording the row's key columns name; problems go to `t`.
    fn find(&self, t: &mut Table, line: u64, f: &[String]) -> Option<String> {
        let mut found: Vec<(&str, String)> = Vec::new();
        if let Some(v) = t.get(f, "id") {
            let lower = v.to_ascii_lowercase();
            let hits: Vec<&String> = self.ids.iter().filter(|i| i.starts_with(&lower)).collect();
            match hits.as_slice() {
                [one] if !lower.is_empty() && lower.len() <= record::ID_LEN => {
                    found.push(("id", (*one).clone()))
                }
                [] | [_] => t.problem(line, format!("no recording matches id {v:?}")),
                many => t.problem(
                    line,
                    format!(
                        "id {v:?} matches {} recordings: give more digits",
                        many.len()
                    ),
                ),
            }
        }
        if let Some(v) = t.get(f, "sha256") {
            match self.by_sha.get(&v.to_ascii_lowercase()) {
                Some(id) => found.push(("sha256", id.clone())),
                None => t.problem(line, format!("no recording matches sha256 {v:?}")),
            }
        }
        if let Some(v) = t.get(f, "file_name") {
            match self.by_name.get(v).map(Vec::as_slice) {
                Some([one]) => found.push(("file_name", one.clone())),
                Some(many) if many.len() > 1 => t.problem(
                    line,
                    format!(
                        "{} recordings match file_name {v:?} ({}): name it by id or sha256",
                        many.len(),
                        many.join(", ")
                    ),
                ),
                _ => t.problem(line, format!("no recording matches file_name {v:?}")),
            }
        }
        match found.as_slice() {
            [] if KEYS.iter().all(|k| t.get(f, k).is_none()) => {
                t.problem(line, "no id, sha256 or file_name given".into());
                None
            }
            [] => None,
            [(_, id), rest @ ..] => {
                if let Some((col, other)) = rest.iter().find(|(_, o)| o != id) {
                    t.problem(
                        line,
                        format!(
                            "{} names recording {id}, but {col} names {other}",
                            found[0].0
                        ),
                    );
                    return None;
                }
                Some(id.clone())
            }
        }
    }
}

//! `visitrec report`: one self-contained HTML page about an archive — counts, hours,
//! formats, consent per scope, what expires soon, what was withdrawn but not purged, the
//! tombstones, the audit head and last checkpoint, a verify run, and one row per recording
//! with a thumbnail of its stored envelope. No script, no external resource: a strict
//! Content-Security-Policy forbids both, so the page opens offline and leaks nothing.
//! Rows are grouped by consent state, each group a `<details>` to open or close: filtering
//! without JavaScript.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use jiff::civil::Date;
use rayon::prelude::*;
use serde::Serialize;

use crate::archive::{Archive, CHECKPOINTS};
use crate::audit::AUDIT_LOG;
use crate::catalog;
use crate::checkpoint::Checkpoint;
use crate::consent::{ConsentState, Lapse, Scope};
use crate::envelope::{self, Envelope};
use crate::error::Result;
use crate::plot::{self, clock};
use crate::record::{self, Recording};
use crate::sanitize::markup;
use crate::tombstone::{TOMBSTONE_JSON, Tombstone};
use crate::verify::{self, VerifyOptions};

/// The Content-Security-Policy the page declares: nothing may load or run.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
/// Consents expiring within this many days are listed.
pub const EXPIRY_WINDOW_DAYS: i64 = 30;
/// Thumbnail size, px.
const THUMB: (u32, u32) = (160, 28);

/// How to make the report.
#[derive(Debug, Default)]
pub struct Options {
    /// Verify with `--fast` (presence and Payload-Oxum) instead of reading every file.
    pub fast_verify: bool,
    /// The day consent is judged on (default: the archive's judging day).
    pub day: Option<Date>,
}

/// What the report found, as `--json` prints it (the HTML says the same).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Recordings held.
    pub recordings: usize,
    /// Purged recordings (tombstones).
    pub purged: usize,
    /// Hours of audio held.
    pub hours: f64,
    /// The day consent was judged on.
    pub consent_day: String,
    /// Recordings permitting each scope on that day.
    pub permitted: BTreeMap<Scope, usize>,
    /// Grants that end within [`EXPIRY_WINDOW_DAYS`] days.
    pub expiring: usize,
    /// Recordings with a withdrawn scope, not purged.
    pub withdrawn_not_purged: usize,
    /// Whether verify found the archive intact.
    pub verified: bool,
    /// Problems verify found.
    pub problems: usize,
    /// Recordings whose envelope could not be used (named with why).
    pub envelope_problems: Vec<String>,
}

/// A report, gathered: the page and its summary.
#[derive(Debug)]
pub struct Overview {
    /// The HTML page.
    pub html: String,
    /// What it says, in numbers.
    pub summary: Summary,
}

/// One recording's row.
struct Row {
    rec: Recording,
    state: ConsentState,
    envelope: std::result::Result<Option<Envelope>, String>,
}

/// Gathers everything about the archive at `path` and renders the page.
pub fn report(path: &Path, opts: &Options) -> Result<Overview> {
    let archive = Archive::open(path)?;
    let recs = catalog::list(&archive)?;
    let judged = catalog::judge(&archive, &recs, opts.day)?;
    let day = judged.day;
    let rows: Vec<Row> = recs
        .into_par_iter()
        .map(|rec| {
            let state = if judged.unexplained.contains_key(&rec.id) {
                ConsentState::unverified(day)
            } else {
                crate::consent::state(&rec.consent, day)
            };
            let envelope = envelope::load(&archive, &rec).map_err(|e| e.to_string());
            Row {
                rec,
                state,
                envelope,
            }
        })
        .collect();
    let tombstones = tombstones(&archive)?;
    let log = archive.read_text(AUDIT_LOG)?.unwrap_or_default();
    let checkpoints = archive.read_text(CHECKPOINTS)?.unwrap_or_default();
    let verified = verify::verify(
        path,
        &VerifyOptions {
            fast: opts.fast_verify,
            ..Default::default()
        },
    )?;
    let org = archive
        .bag_info()?
        .get("Source-Organization")
        .unwrap_or("")
        .to_string();
    let page = Page {
        org: &org,
        day,
        rows: &rows,
        tombstones: &tombstones,
        log: &log,
        checkpoints: &checkpoints,
        verified: &verified,
        fast: opts.fast_verify,
    };
    let summary = page.summary();
    Ok(Overview {
        html: page.render(),
        summary,
    })
}

/// The archive's tombstones, each parsed (one that does not parse is left to verify).
fn tombstones(archive: &Archive) -> Result<Vec<Tombstone>> {
    let mut out = Vec::new();
    for id in archive.tombstone_ids()? {
        let bytes = archive.read(&record::payload_path(&id, TOMBSTONE_JSON))?;
        if let Ok(t) = Tombstone::from_json(&bytes) {
            out.push(t);
        }
    }
    Ok(out)
}

/// What the page is made of.
struct Page<'a> {
    org: &'a str,
    day: Date,
    rows: &'a [Row],
    tombstones: &'a [Tombstone],
    log: &'a str,
    checkpoints: &'a str,
    verified: &'a verify::Report,
    fast: bool,
}

impl Page<'_> {
    /// Grants permitted on the day that end within the window: (row, scope, last day).
    fn expiring(&self) -> Vec<(&Row, Scope, Date)> {
        let mut out = Vec::new();
        for row in self.rows {
            for (scope, st) in &row.state.scopes {
                if let (true, Some(until)) = (st.permitted, st.until) {
                    let left = until
                        .since(self.day)
                        .map_or(i64::MAX, |s| i64::from(s.get_days()));
                    if left <= EXPIRY_WINDOW_DAYS {
                        out.push((row, *scope, until));
                    }
                }
            }
        }
        out.sort_by_key(|(_, _, d)| *d);
        out
    }

    /// Recordings with a withdrawn scope (the archive still holds them).
    fn withdrawn(&self) -> Vec<(&Row, Vec<Scope>)> {
        self.rows
            .iter()
            .filter_map(|row| {
                let scopes: Vec<Scope> = row
                    .state
                    .lapsed
                    .iter()
                    .filter(|(_, l)| **l == Lapse::Withdrawn)
                    .map(|(s, _)| *s)
                    .collect();
                (!scopes.is_empty()).then_some((row, scopes))
            })
            .collect()
    }

    fn envelope_problems(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|r| {
                r.envelope
                    .as_ref()
                    .err()
                    .map(|e| format!("{}: {e}", r.rec.id))
            })
            .collect()
    }

    fn summary(&self) -> Summary {
        let mut permitted = BTreeMap::new();
        for scope in Scope::ALL {
            let n = self.rows.iter().filter(|r| r.state.covers(scope)).count();
            permitted.insert(scope, n);
        }
        Summary {
            recordings: self.rows.len(),
            purged: self.tombstones.len(),
            hours: self
                .rows
                .iter()
                .map(|r| r.rec.source.duration_s)
                .sum::<f64>()
                / 3600.0,
            consent_day: self.day.to_string(),
            permitted,
            expiring: self.expiring().len(),
            withdrawn_not_purged: self.withdrawn().len(),
            verified: self.verified.ok,
            problems: self.verified.problems.len(),
            envelope_problems: self.envelope_problems(),
        }
    }

    fn render(&self) -> String {
        let mut h = String::with_capacity(2048 + self.rows.len() * 2048);
        let title = if self.org.is_empty() {
            "visitrec archive report".to_string()
        } else {
            format!("visitrec archive report: {}", self.org)
        };
        let _ = write!(
            h,
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<title>{t}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{t}</h1>
<p class="meta">Made by {tool} on {at}; consent judged on {day}.</p>
"#,
            t = markup(&title),
            tool = markup(&crate::archive::software_agent()),
            at = crate::time::now(),
            day = self.day,
        );
        self.totals(&mut h);
        self.consent(&mut h);
        self.lists(&mut h);
        self.integrity(&mut h);
        self.recordings(&mut h);
        h.push_str("</body>\n</html>\n");
        h
    }

    fn totals(&self, h: &mut String) {
        let s = self.summary();
        let mut formats: BTreeMap<String, usize> = BTreeMap::new();
        for r in self.rows {
            let f = format!("{} / {}", r.rec.source.container, r.rec.source.codec);
            *formats.entry(f).or_default() += 1;
        }
        let _ = write!(
            h,
            r#"<h2>Holdings</h2>
<table class="facts"><tr><th>Recordings</th><td id="count-recordings">{}</td></tr>
<tr><th>Hours of audio</th><td>{:.2}</td></tr>
<tr><th>Purged (tombstones)</th><td>{}</td></tr>
<tr><th>Formats</th><td>{}</td></tr></table>
"#,
            s.recordings,
            s.hours,
            s.purged,
            if formats.is_empty() {
                "none".to_string()
            } else {
                formats
                    .iter()
                    .map(|(f, n)| format!("{} ({n})", markup(f)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }

    fn consent(&self, h: &mut String) {
        h.push_str(
            "<h2>Consent per scope</h2>\n<table><tr><th>Scope</th><th>Permitted</th>\
             <th>Withdrawn</th><th>Expired</th><th>Not yet valid</th><th>Never granted</th>\
             <th>Unverified</th></tr>\n",
        );
        for scope in Scope::ALL {
            let count = |l: Option<Lapse>| {
                self.rows
                    .iter()
                    .filter(|r| r.state.scopes[&scope].lapse == l)
                    .count()
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                scope.as_str(),
                count(None),
                count(Some(Lapse::Withdrawn)),
                count(Some(Lapse::Expired)),
                count(Some(Lapse::NotYetValid)),
                count(Some(Lapse::Missing)),
                count(Some(Lapse::Unverified)),
            );
        }
        h.push_str("</table>\n");
    }

    fn lists(&self, h: &mut String) {
        let expiring = self.expiring();
        let _ = writeln!(
            h,
            "<h2>Consents expiring within {EXPIRY_WINDOW_DAYS} days ({})</h2>",
            expiring.len()
        );
        if expiring.is_empty() {
            h.push_str("<p>None.</p>\n");
        } else {
            h.push_str(
                "<table><tr><th>Recording</th><th>File</th><th>Scope</th><th>Last day</th></tr>\n",
            );
            for (row, scope, until) in expiring {
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{until}</td></tr>",
                    row.rec.id,
                    markup(&row.rec.source.file_name),
                    scope.as_str()
                );
            }
            h.push_str("</table>\n");
        }
        let withdrawn = self.withdrawn();
        let _ = writeln!(h, "<h2>Withdrawn but not purged ({})</h2>", withdrawn.len());
        if withdrawn.is_empty() {
            h.push_str("<p>None.</p>\n");
        } else {
            h.push_str("<table><tr><th>Recording</th><th>File</th><th>Withdrawn</th><th>Still permitted</th></tr>\n");
            for (row, scopes) in withdrawn {
                let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    row.rec.id,
                    markup(&row.rec.source.file_name),
                    names.join(", "),
                    row.state.covered()
                );
            }
            h.push_str("</table>\n");
        }
        let _ = writeln!(h, "<h2>Purged ({})</h2>", self.tombstones.len());
        if self.tombstones.is_empty() {
            h.push_str("<p>None.</p>\n");
        } else {
            h.push_str("<table><tr><th>Recording</th><th>Purged on</th><th>Why</th><th>By</th><th>Length</th></tr>\n");
            for t in self.tombstones {
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    t.id,
                    markup(t.purged_on()),
                    t.reason.words(),
                    markup(&t.purged_by.actor),
                    clock(t.duration_s)
                );
            }
            h.push_str("</table>\n");
        }
    }

    fn integrity(&self, h: &mut String) {
        h.push_str("<h2>Integrity</h2>\n<table class=\"facts\">\n");
        let last = self.log.lines().rev().find(|l| !l.trim().is_empty());
        let head = match last.and_then(|l| {
            serde_json::from_str::<crate::audit::Entry>(l)
                .ok()
                .map(|e| (e, l))
        }) {
            Some((e, line)) => format!(
                "line {} ({}, {} by {}), sha256 <code>{}</code>",
                e.seq,
                markup(&e.at),
                markup(&e.op),
                markup(&e.actor),
                crate::hash::hash_bytes(line.as_bytes()).sha256
            ),
            None => "no audit log".into(),
        };
        let _ = writeln!(h, "<tr><th>Audit head</th><td>{head}</td></tr>");
        let checkpoint = self
            .checkpoints
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Checkpoint>(l).ok())
            .map_or(
                "none (sign one with <code>visitrec checkpoint</code>)".to_string(),
                |c| {
                    format!(
                        "line {} signed {} by {}",
                        c.seq,
                        markup(&c.at),
                        markup(&c.fingerprint)
                    )
                },
            );
        let _ = writeln!(h, "<tr><th>Last checkpoint</th><td>{checkpoint}</td></tr>");
        let v = self.verified;
        let how = if self.fast {
            "verify --fast (presence and Payload-Oxum)"
        } else {
            "verify (every file hashed)"
        };
        let verdict = if v.ok {
            format!(
                r#"<span class="ok" id="verify-result">intact</span> — {how}, {} files, {} bytes read"#,
                v.files_checked, v.bytes_checked
            )
        } else {
            format!(
                r#"<span class="bad" id="verify-result">{} problem(s)</span> — {how}"#,
                v.problems.len()
            )
        };
        let _ = writeln!(h, "<tr><th>Verify</th><td>{verdict}</td></tr>\n</table>");
        if !v.problems.is_empty() || !v.warnings.is_empty() {
            h.push_str("<ul class=\"problems\">\n");
            for p in v.problems.iter().take(200) {
                let _ = writeln!(
                    h,
                    "<li><code>{}</code> {}: {}</li>",
                    markup(&p.path),
                    p.kind.as_str(),
                    markup(&p.detail)
                );
            }
            for w in v.warnings.iter().take(50) {
                let _ = writeln!(
                    h,
                    "<li>warning: <code>{}</code>: {}</li>",
                    markup(&w.path),
                    markup(&w.detail)
                );
            }
            h.push_str("</ul>\n");
        }
        let bad = self.envelope_problems();
        if !bad.is_empty() {
            h.push_str("<p>Envelopes refused (their thumbnails are not drawn):</p>\n<ul class=\"problems\">\n");
            for b in bad {
                let _ = writeln!(h, "<li>{}</li>", markup(&b));
            }
            h.push_str("</ul>\n");
        }
    }

    fn recordings(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<h2>Recordings ({})</h2>\n<p class=\"meta\">Grouped by consent state on {}; open or close a group to filter. In each group, by recording time.</p>",
            self.rows.len(),
            self.day
        );
        let mut groups: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for r in self.rows {
            groups.entry(r.state.status).or_default().push(r);
        }
        let rendered: Vec<(&str, Vec<String>)> = ["active", "inactive", "none", "unverified"]
            .into_iter()
            .filter_map(|g| groups.get(g).map(|rows| (g, rows)))
            .map(|(g, rows)| (g, rows.par_iter().map(|r| row_html(r)).collect()))
            .collect();
        for (group, rows) in rendered {
            let what = match group {
                "active" => "consent active",
                "inactive" => "consent inactive (withdrawn or expired)",
                "none" => "no consent recorded",
                _ => "consent unverified (history does not match the audit log)",
            };
            let _ = writeln!(
                h,
                "<details open class=\"group\" id=\"group-{group}\"><summary>{what}: {}</summary>\n<table class=\"recordings\"><thead><tr><th>Waveform</th><th>Recording</th><th>Recorded</th><th>Length</th><th>Participant</th><th>Consent</th><th>Marks</th></tr></thead><tbody>",
                rows.len()
            );
            for r in rows {
                h.push_str(&r);
            }
            h.push_str("</tbody></table></details>\n");
        }
    }
}

/// One recording's row of the table.
fn row_html(r: &Row) -> String {
    let env = r.envelope.as_ref().ok().and_then(Option::as_ref);
    let thumb = plot::thumbnail_svg(&r.rec, env, THUMB.0, THUMB.1);
    let marks: Vec<String> = r
        .rec
        .marks
        .iter()
        .map(|m| format!("{} {}", clock(m.at_s), markup(&m.label)))
        .collect();
    format!(
        "<tr class=\"recording\" id=\"r-{id}\"><td>{thumb}</td><td><code>{id}</code><br>{name}</td><td>{at}</td><td>{len}</td><td>{who}</td><td>{consent}</td><td>{marks}</td></tr>\n",
        id = r.rec.id,
        name = markup(&r.rec.source.file_name),
        at = markup(
            r.rec
                .source
                .recorded_at
                .get(..16)
                .unwrap_or(&r.rec.source.recorded_at)
        ),
        len = clock(r.rec.source.duration_s),
        who = markup(r.rec.participant.as_deref().unwrap_or("–")),
        consent = markup(&r.state.summary()),
        marks = marks.join("<br>"),
    )
}

/// The page's only style: system fonts, print-friendly.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:.25em .5em;\
text-align:left;vertical-align:top;font-size:.9em}th{background:#f4f4f4}\
.facts th{width:12em}.meta{color:#555}.ok{color:#1b7a3a;font-weight:bold}\
.bad{color:#b00020;font-weight:bold}summary{cursor:pointer;font-weight:bold;margin:.6em 0}\
code{font-size:.85em}.recordings svg{display:block}\
@media print{details{display:block}body{margin:0}}";

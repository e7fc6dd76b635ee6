//! Pictures of recordings as self-contained SVG (no scripts, no external resources): the
//! picture of one visit `visitrec plot` draws, and the thumbnail of each row of `visitrec
//! report`. Drawn from the recording's metadata and its stored [`Envelope`], never from the
//! audio. Every piece of text from the archive goes through [`markup`].

use std::fmt::Write as _;
use std::path::Path;

use jiff::civil::Date;

use crate::archive::Archive;
use crate::catalog;
use crate::consent::{self, ConsentEntry, ConsentState, Provision, Scope};
use crate::envelope::{self, Envelope};
use crate::error::{Error, Result};
use crate::record::Recording;
use crate::sanitize::markup;

/// The width of a visit's picture, px.
pub const WIDTH: u32 = 1200;
/// The height of a visit's picture, px.
pub const HEIGHT: u32 = 560;

/// Left and right edges of the drawing area.
const LEFT: f64 = 110.0;
const RIGHT: f64 = 1170.0;
/// Top and height of the waveform.
const WAVE_TOP: f64 = 96.0;
const WAVE_H: f64 = 200.0;

const SPEECH: &str = "#cfe3f7";
const WAVE: &str = "#1f4e79";
const MARK: &str = "#c0392b";
const PERMITTED: &str = "#2e8b57";
const NOT_PERMITTED: &str = "#e3e3e3";

/// The picture of recording `prefix` (a unique id prefix) of the archive at `path`, with
/// its consent judged on `day` (default: the archive's judging day) as `encrypt` judges it.
/// Fails when the recording has no checked envelope: not normalized, normalized before
/// envelopes were kept, or an envelope that is not one.
pub fn visit(path: &Path, prefix: &str, day: Option<Date>) -> Result<(Recording, String)> {
    let archive = Archive::open(path)?;
    let rec = catalog::load(&archive, &archive.resolve_id(prefix)?)?;
    let judged = catalog::judge(&archive, std::slice::from_ref(&rec), day)?;
    let state = if judged.unexplained.contains_key(&rec.id) {
        ConsentState::unverified(judged.day)
    } else {
        consent::state(&rec.consent, judged.day)
    };
    if rec.normalized.is_none() {
        return Err(Error::NotNormalized(rec.id));
    }
    let Some(env) = envelope::load(&archive, &rec)? else {
        return Err(Error::NoEnvelope(rec.id));
    };
    let svg = visit_svg(&rec, &env, &state, judged.day);
    Ok((rec, svg))
}

/// The picture of one visit: waveform, speech segments, marks, time axis, loudness and the
/// consent strip as judged on `day` (`state`: what the archive believes on that day).
pub fn visit_svg(rec: &Recording, env: &Envelope, state: &ConsentState, day: Date) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let duration = env.duration_s().max(rec.source.duration_s).max(0.001);
    let name = markup(&rec.source.file_name);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="t d" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="13">
<title id="t">Visit recording {name} ({id})</title>
<desc id="d">{desc}</desc>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="30" font-size="18" font-weight="bold">{name}</text>
<text x="{LEFT}" y="52" fill="#444">{id} · recorded {at} · {len} · participant {who}</text>
"##,
        id = rec.id,
        desc = markup(&describe(rec, state)),
        at = markup(&rec.source.recorded_at),
        len = clock(duration),
        who = markup(rec.participant.as_deref().unwrap_or("none")),
    );
    let x = |t: f64| LEFT + (RIGHT - LEFT) * (t / duration).clamp(0.0, 1.0);
    // Speech segments, behind the waveform.
    let _ = writeln!(s, r#"<g fill="{SPEECH}"><title>speech segments</title>"#);
    for seg in &rec.segments {
        let (a, b) = (x(seg.start_s), x(seg.end_s));
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{WAVE_TOP}" width="{:.1}" height="{WAVE_H}"/>"#,
            (b - a).max(0.5)
        );
    }
    s.push_str("</g>\n");
    let mid = WAVE_TOP + WAVE_H / 2.0;
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" x2="{RIGHT}" y1="{mid}" y2="{mid}" stroke="#9aa9b8" stroke-width="0.5"/>"##
    );
    waveform(
        &mut s,
        env,
        (LEFT, WAVE_TOP, RIGHT - LEFT, WAVE_H),
        duration,
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{WAVE_TOP}" width="{}" height="{WAVE_H}" fill="none" stroke="#888"/>"##,
        RIGHT - LEFT
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#444">waveform</text>"##,
        LEFT - 8.0,
        mid + 4.0
    );
    // Marks: a line each, labels on alternate rows so neighbours do not overwrite.
    for (i, m) in rec.marks.iter().enumerate() {
        let mx = x(m.at_s);
        let ly = WAVE_TOP - 8.0 - 14.0 * (i % 2) as f64;
        let label = markup(&m.label);
        let _ = writeln!(
            s,
            r#"<g><title>mark at {t}: {label}</title><line x1="{mx:.1}" x2="{mx:.1}" y1="{}" y2="{}" stroke="{MARK}" stroke-width="1.5"/><text x="{:.1}" y="{ly}" fill="{MARK}" font-size="12">{label}</text></g>"#,
            ly + 3.0,
            WAVE_TOP + WAVE_H,
            mx + 3.0,
            t = clock(m.at_s),
        );
    }
    time_axis(&mut s, duration, WAVE_TOP + WAVE_H);
    loudness(&mut s, rec, 350.0);
    consent_strip(&mut s, &rec.consent, state, day, 430.0);
    s.push_str("</svg>\n");
    s
}

/// A small picture of a recording for a report's row (`width`×`height` px): waveform,
/// speech segments and marks; a grey box saying so when there is no envelope.
pub fn thumbnail_svg(rec: &Recording, env: Option<&Envelope>, width: u32, height: u32) -> String {
    let (w, h) = (f64::from(width), f64::from(height));
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="waveform of {id}">"##,
        id = rec.id
    );
    let Some(env) = env.filter(|e| !e.min.is_empty()) else {
        let _ = write!(
            s,
            r##"<rect width="{width}" height="{height}" fill="#f2f2f2" stroke="#ccc"/><text x="4" y="{}" font-size="10" fill="#777">no envelope</text></svg>"##,
            h / 2.0 + 3.0
        );
        return s;
    };
    let duration = env.duration_s().max(rec.source.duration_s).max(0.001);
    for seg in &rec.segments {
        let a = w * (seg.start_s / duration).clamp(0.0, 1.0);
        let b = w * (seg.end_s / duration).clamp(0.0, 1.0);
        let tenths = |v: f64| Px((v * 10.0).round() as i64, true);
        let _ = write!(
            s,
            r#"<rect x="{}" width="{}" height="{height}" fill="{SPEECH}"/>"#,
            tenths(a),
            tenths((b - a).max(0.5))
        );
    }
    waveform(&mut s, env, (0.0, 0.0, w, h), duration);
    for m in &rec.marks {
        let mx = Px(
            (w * 10.0 * (m.at_s / duration).clamp(0.0, 1.0)).round() as i64,
            true,
        );
        let _ = write!(
            s,
            r#"<line x1="{mx}" x2="{mx}" y2="{height}" stroke="{MARK}"/>"#
        );
    }
    s.push_str("</svg>");
    s
}

/// One vertical stroke per pixel column of `(x, y, w, h)`, from each column's lowest to
/// its highest sample, the width standing for `duration` seconds.
fn waveform(s: &mut String, env: &Envelope, (x0, y0, w, h): (f64, f64, f64, f64), duration: f64) {
    let audio = env.duration_s().min(duration);
    let cols = ((w * audio / duration).round() as usize).max(1);
    let mid = y0 + h / 2.0;
    let half = h / 2.0 - 1.0;
    let _ = write!(
        s,
        r#"<path fill="none" stroke="{WAVE}" stroke-width="1" d=""#
    );
    // Tenths of a pixel for a full picture; whole pixels for a thumbnail, whose many copies
    // in a report would otherwise weigh a third more. Written as integers: formatting
    // floats with a precision was a sixth of a 10 000-row report's time.
    let unit = if h > 64.0 { 10.0 } else { 1.0 };
    let at = |v: f64| Px((v * unit).round() as i64, unit > 1.0);
    for (i, (lo, hi)) in env.columns(cols).into_iter().enumerate() {
        let top = mid - f64::from(hi) * half;
        // At least one pixel tall, so silence still shows as a line.
        let bottom = (mid - f64::from(lo) * half).max(top + 1.0);
        let cx = Px(((x0 + i as f64) * 10.0).round() as i64 + 5, true);
        let _ = write!(s, "M{cx} {}V{}", at(top), at(bottom));
    }
    s.push_str("\"/>\n");
}

/// A coordinate as an integer count of pixels, or of tenths of one (`.1` set).
struct Px(i64, bool);

impl std::fmt::Display for Px {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Px(v, false) => write!(f, "{v}"),
            Px(v, true) => {
                let sign = if *v < 0 { "-" } else { "" };
                write!(f, "{sign}{}.{}", v.abs() / 10, v.abs() % 10)
            }
        }
    }
}

/// Ticks every "round" interval, labelled mm:ss (h:mm:ss past an hour).
fn time_axis(s: &mut String, duration: f64, y: f64) {
    const STEPS: [f64; 14] = [
        0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ];
    let step = STEPS
        .into_iter()
        .find(|st| duration / st <= 12.0)
        // Past 12 hours: whole hours, still at most about 12 ticks whatever the length.
        .unwrap_or_else(|| (duration / 12.0 / 3600.0).ceil() * 3600.0);
    let _ = writeln!(
        s,
        r##"<g stroke="#444" fill="#444" font-size="12"><title>time, minutes:seconds</title>"##
    );
    let mut t = 0.0;
    while t <= duration + 1e-9 {
        let x = LEFT + (RIGHT - LEFT) * t / duration;
        // The last label ends at the edge instead of running off the picture.
        let anchor = if x > RIGHT - 25.0 { "end" } else { "middle" };
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y}" y2="{}"/><text x="{x:.1}" y="{}" text-anchor="{anchor}" stroke="none">{}</text>"#,
            y + 6.0,
            y + 20.0,
            clock(t)
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{RIGHT}" y="{}" text-anchor="end" stroke="none">time (mm:ss)</text></g>"#,
        y + 36.0
    );
}

/// Loudness before and after normalization on a LUFS scale, and what the limiter did.
fn loudness(s: &mut String, rec: &Recording, y: f64) {
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#444">loudness</text>"##,
        LEFT - 8.0,
        y + 14.0
    );
    let Some(n) = &rec.normalized else {
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}">not normalized</text>"#,
            y + 14.0
        );
        return;
    };
    // -60 … 0 LUFS over 400 px.
    let (x0, w) = (LEFT, 400.0);
    let at = |l: f64| x0 + w * ((l + 60.0) / 60.0).clamp(0.0, 1.0);
    let lufs = |v: Option<f64>| v.map_or("silent".to_string(), |l| format!("{l:.1} LUFS"));
    let rows = [
        ("before", n.loudness_before_lufs, "#999"),
        ("after", n.loudness_after_lufs, WAVE),
    ];
    for (i, (what, v, colour)) in rows.into_iter().enumerate() {
        let ry = y + 18.0 * i as f64;
        let end = v.map_or(x0, at);
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{ry}" width="{w}" height="12" fill="#f2f2f2"/><rect x="{x0}" y="{ry}" width="{:.1}" height="12" fill="{colour}"/><text x="{}" y="{}">{what} {}</text>"##,
            end - x0,
            x0 + w + 10.0,
            ry + 11.0,
            lufs(v)
        );
    }
    let tx = at(n.target_lufs);
    let _ = writeln!(
        s,
        r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{}" y2="{}" stroke="#000" stroke-dasharray="3 2"><title>target {:.1} LUFS</title></line>"##,
        y - 3.0,
        y + 33.0,
        n.target_lufs
    );
    let limited = match &n.limiter {
        Some(l) if l.max_reduction_db >= 0.1 => format!(
            "limiter: up to {:.1} dB over {:.1} s",
            l.max_reduction_db, l.limited_s
        ),
        Some(_) => "limiter: never acted".into(),
        None => "limiter: off".into(),
    };
    let peak = |v: Option<f64>| v.map_or("–".to_string(), |p| format!("{p:.1}"));
    let _ = writeln!(
        s,
        r#"<text x="{x0}" y="{}">target {:.1} LUFS{} · gain {:+.1} dB · true peak {} → {} dBTP (ceiling {:.1}) · {limited}</text>"#,
        y + 52.0,
        n.target_lufs,
        if n.target_reached {
            " (reached)"
        } else {
            " (not reached)"
        },
        n.gain_db,
        peak(n.true_peak_before_dbtp),
        peak(n.true_peak_after_dbtp),
        n.true_peak_ceiling_dbtp,
    );
}

/// The days on which the consent state may change: each entry's date and the day after
/// each expiry, from the first entry to `day` (or later, when entries reach past it).
fn change_days(history: &[ConsentEntry], day: Date) -> Vec<Date> {
    let mut days: Vec<Date> = history.iter().map(|e| e.date).collect();
    days.extend(
        history
            .iter()
            .filter_map(|e| e.expires.and_then(|x| x.tomorrow().ok())),
    );
    days.push(day);
    days.sort();
    days.dedup();
    days
}

/// Per scope that the history mentions: the spans of days it was permitted, and the days
/// withdrawn, from the first entry to a little past the last change or `day`; state as the archive judges it, so a
/// recording whose history is unverified shows nothing permitted.
fn consent_strip(
    s: &mut String,
    history: &[ConsentEntry],
    state: &ConsentState,
    day: Date,
    y: f64,
) {
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{}" font-weight="bold" fill="#444">consent</text>"##,
        y - 8.0
    );
    let scopes: Vec<Scope> = Scope::ALL
        .into_iter()
        .filter(|sc| history.iter().any(|e| e.scopes.contains(sc)))
        .collect();
    if scopes.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}">no consent recorded: nothing may be shared</text>"#,
            y + 12.0
        );
        return;
    }
    let unverified = state.status == "unverified";
    let mut days = change_days(history, day);
    let first = days[0];
    // Past the last change (or the judging day), the state holds: show some of it.
    let last = *days.last().expect("not empty");
    let pad = ((ordinal(last) - ordinal(first)) / 10).max(14);
    let end = last
        .checked_add(jiff::Span::new().days(pad))
        .unwrap_or(last);
    days.push(end);
    let span = (ordinal(end) - ordinal(first)).max(1) as f64;
    let x = |d: Date| LEFT + (RIGHT - LEFT) * ((ordinal(d) - ordinal(first)) as f64 / span);
    for (row, scope) in scopes.iter().enumerate() {
        let ry = y + 22.0 * row as f64;
        let name = scope.as_str();
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="12">{name}</text><rect x="{LEFT}" y="{ry}" width="{}" height="14" fill="{NOT_PERMITTED}"/>"##,
            LEFT - 10.0,
            ry + 11.0,
            RIGHT - LEFT
        );
        if !unverified {
            for pair in days.windows(2) {
                let st = consent::state(history, pair[0]);
                if st.scopes[scope].permitted {
                    let _ = writeln!(
                        s,
                        r#"<rect x="{:.1}" y="{ry}" width="{:.1}" height="14" fill="{PERMITTED}"><title>{name} permitted from {}</title></rect>"#,
                        x(pair[0]),
                        (x(pair[1]) - x(pair[0])).max(2.0),
                        pair[0]
                    );
                }
            }
        }
        for e in history
            .iter()
            .filter(|e| e.provision == Provision::Deny && e.scopes.contains(scope))
        {
            let wx = x(e.date);
            let _ = writeln!(
                s,
                r#"<g><title>{name} withdrawn on {d}</title><line x1="{wx:.1}" x2="{wx:.1}" y1="{}" y2="{}" stroke="{MARK}" stroke-width="3"/><text x="{:.1}" y="{}" fill="{MARK}" font-size="11">withdrawn {d}</text></g>"#,
                ry - 2.0,
                ry + 16.0,
                wx + 4.0,
                ry + 11.0,
                d = e.date
            );
        }
    }
    let by = y + 22.0 * scopes.len() as f64 + 8.0;
    let dx = x(day);
    let _ = writeln!(
        s,
        r##"<g><title>consent judged on {day}</title><line x1="{dx:.1}" x2="{dx:.1}" y1="{}" y2="{}" stroke="#000" stroke-dasharray="2 2"/></g>
<text x="{LEFT}" y="{by}" font-size="11" fill="#444">{first}</text><text x="{RIGHT}" y="{by}" font-size="11" fill="#444" text-anchor="end">{end}</text>"##,
        y - 4.0,
        by - 10.0
    );
    let verdict = if unverified {
        "consent history does not match the audit log: nothing is permitted".to_string()
    } else {
        format!("permitted on {day}: {}", state.covered())
    };
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{by}" font-size="12" text-anchor="middle"><tspan fill="{PERMITTED}">■</tspan> permitted  <tspan fill="{MARK}">|</tspan> withdrawal  ┆ judged on {day} · {}</text>"#,
        (LEFT + RIGHT) / 2.0,
        markup(&verdict)
    );
}

/// Days since 1970-01-01 (for positions on the consent strip).
fn ordinal(d: Date) -> i64 {
    let epoch = Date::constant(1970, 1, 1);
    d.since(epoch).map_or(0, |span| i64::from(span.get_days()))
}

/// `mm:ss`, or `h:mm:ss` past an hour (tenths below ten seconds of a short axis are not
/// needed: ticks are at least half a second apart and shown rounded).
pub fn clock(t: f64) -> String {
    let total = t.max(0.0).round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m:02}:{sec:02}")
    }
}

/// The text alternative of a visit's picture, for screen readers.
fn describe(rec: &Recording, state: &ConsentState) -> String {
    let mut d = format!(
        "Waveform of a {} recording with {} speech segment(s)",
        clock(rec.source.duration_s),
        rec.segments.len()
    );
    if !rec.marks.is_empty() {
        let marks: Vec<String> = rec
            .marks
            .iter()
            .map(|m| format!("{} at {}", m.label, clock(m.at_s)))
            .collect();
        let _ = write!(d, "; marks: {}", marks.join(", "));
    }
    if let Some(n) = &rec.normalized {
        let l = |v: Option<f64>| v.map_or("silent".to_string(), |l| format!("{l:.1} LUFS"));
        let _ = write!(
            d,
            "; loudness {} before, {} after normalization",
            l(n.loudness_before_lufs),
            l(n.loudness_after_lufs)
        );
    }
    let _ = write!(d, "; consent on {}: {}.", state.as_of, state.summary());
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks() {
        assert_eq!(clock(0.0), "00:00");
        assert_eq!(clock(75.4), "01:15");
        assert_eq!(clock(7200.0), "2:00:00");
    }

    #[test]
    fn pixels() {
        assert_eq!(Px(125, true).to_string(), "12.5");
        assert_eq!(Px(-3, true).to_string(), "-0.3");
        assert_eq!(Px(7, false).to_string(), "7");
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal(Date::constant(1970, 1, 2)), 1);
        assert_eq!(
            ordinal(Date::constant(2026, 12, 2)) - ordinal(Date::constant(2026, 11, 2)),
            30
        );
    }
}

//! `visitrec consent`: record a grant or withdrawal, or show a recording's consent.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use visitrec::annotate::{ConsentChange, ConsentOutcome};
use visitrec::bulk::BulkReport;
use visitrec::consent::{ConsentEntry, ConsentState, Grant, Lapse, Provision, Withdrawal};
use visitrec::sanitize::term;

use super::ActorArg;
use super::output::{Rendered, Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec consent study-archive 3f9a1c --grant --scope personal-use,family-sharing,research \\
      --by patient:P017 --method verbal --witness clinician:C04 --expires 2031-11-02
  visitrec consent study-archive 3f9a1c --withdraw --scope research
  visitrec consent study-archive 3f9a1c --at 2030-01-01
  visitrec consent study-archive --from consents.csv

Scopes: personal-use, family-sharing, care, research, education, quality-improvement";

/// `visitrec consent` flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").args(["grant", "withdraw"])))]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// The recording id or a unique prefix of it.
    #[arg(add = super::complete::recording_ids(), required_unless_present = "from")]
    pub id: Option<String>,
    /// Record the grants, withdrawals and participants of a CSV file, one row per change
    /// (columns in docs/FORMAT.md): all of it, or nothing if any row is wrong.
    #[arg(
        long,
        value_name = "FILE.csv",
        conflicts_with_all = ["id", "grant", "withdraw", "scope", "by", "method", "witness",
            "date", "expires", "note", "at"]
    )]
    pub from: Option<PathBuf>,
    /// Record a grant (needs --scope and --by).
    #[arg(long)]
    pub grant: bool,
    /// Record a withdrawal (of --scope, or of everything granted).
    #[arg(long)]
    pub withdraw: bool,
    /// Comma-separated purposes.
    #[arg(long, value_name = "SCOPES", add = super::complete::scopes())]
    pub scope: Option<String>,
    /// Who consents or withdraws, e.g. patient:P017.
    #[arg(long, value_name = "WHO")]
    pub by: Option<String>,
    /// How consent was given: verbal, written, electronic, ….
    #[arg(long)]
    pub method: Option<String>,
    /// Who witnessed it, e.g. clinician:C04.
    #[arg(long, value_name = "WHO")]
    pub witness: Option<String>,
    /// The date it takes effect (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// The last day a grant is valid (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Free text.
    #[arg(long)]
    pub note: Option<String>,
    /// Show the state on this day instead of today (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", conflicts_with = "action")]
    pub at: Option<String>,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The change the flags ask for, or `None` to show the consent.
    fn change(&self) -> anyhow::Result<Option<ConsentChange>> {
        let date = |flag, v: &Option<String>| {
            v.as_deref()
                .map(|d| visitrec::consent::parse_date(flag, d))
                .transpose()
        };
        let scopes = self
            .scope
            .as_deref()
            .map(visitrec::consent::parse_scopes)
            .transpose()?
            .unwrap_or_default();
        if self.grant {
            let by = self.by.clone();
            let by = by.ok_or_else(|| anyhow::anyhow!("--grant needs --by WHO"))?;
            return Ok(Some(ConsentChange::Grant(Grant {
                scopes,
                by,
                method: self.method.clone(),
                witness: self.witness.clone(),
                date: date("--date", &self.date)?,
                expires: date("--expires", &self.expires)?,
                note: self.note.clone(),
            })));
        }
        if self.withdraw {
            if self.expires.is_some() || self.method.is_some() || self.witness.is_some() {
                anyhow::bail!("--expires, --method and --witness go with --grant");
            }
            return Ok(Some(ConsentChange::Withdraw(Withdrawal {
                scopes,
                by: self.by.clone(),
                date: date("--date", &self.date)?,
                note: self.note.clone(),
            })));
        }
        let given = [&self.scope, &self.by, &self.date, &self.note];
        if given.iter().any(|f| f.is_some()) {
            anyhow::bail!("say --grant or --withdraw to record consent");
        }
        Ok(None)
    }
}

/// Records the change, or reads the consent.
pub fn run(a: &Args) -> anyhow::Result<Box<dyn Rendered>> {
    if let Some(from) = &a.from {
        let mut writer = a.actor.writer(&a.archive)?;
        return Ok(Box::new(visitrec::bulk::consent_from(&mut writer, from)?));
    }
    let id = a.id.as_deref().expect("clap requires an id without --from");
    match a.change()? {
        Some(change) => {
            let mut writer = a.actor.writer(&a.archive)?;
            let id = writer.archive().resolve_id(id)?;
            Ok(Box::new(visitrec::annotate::consent(
                &mut writer,
                &id,
                &change,
            )?))
        }
        None => {
            let day = super::day_of(a.at.as_deref())?;
            let (rec, state) = visitrec::catalog::with_consent(&a.archive, Some(id), day)?
                .pop()
                .expect("one recording");
            Ok(Box::new(ConsentView {
                id: rec.id,
                state,
                history: rec.consent,
            }))
        }
    }
}

impl Report for ConsentOutcome {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v > Verbosity::Quiet {
            writeln!(out, "{}: consent {}", self.id, self.state.summary())?;
        }
        Ok(())
    }
}

impl Report for BulkReport {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet {
            return Ok(());
        }
        for r in &self.rows {
            let mut did = Vec::new();
            if r.added.consent {
                did.push("consent recorded");
            }
            if r.added.consent_already {
                did.push("grant already recorded");
            }
            if r.added.participant {
                did.push("participant set");
            }
            if did.is_empty() {
                did.push("unchanged");
            }
            writeln!(out, "line {:<5} {}  {}", r.line, r.id, did.join(", "))?;
        }
        writeln!(
            out,
            "{} rows: {} consent entries recorded, {} already recorded, {} participants set",
            self.rows.len(),
            self.consent_added,
            self.consent_already,
            self.participants_set
        )
    }
}

/// A recording's consent: its state on a day and the history it follows from.
#[derive(Debug, Serialize)]
pub struct ConsentView {
    id: String,
    state: ConsentState,
    history: Vec<ConsentEntry>,
}

impl Report for ConsentView {
    fn write_text(&self, out: &mut dyn Write, _v: Verbosity) -> io::Result<()> {
        writeln!(
            out,
            "{}: consent {} (as of {}, UTC)",
            self.id,
            self.state.summary(),
            self.state.as_of
        )?;
        write_scopes(out, &self.state, &self.history, "  ")?;
        if !self.history.is_empty() {
            writeln!(out, "history:")?;
        }
        write_history(out, &self.history, "  ")
    }
}

/// One line per scope: permitted since/until, or why not.
pub fn write_scopes(
    out: &mut dyn Write,
    st: &ConsentState,
    history: &[ConsentEntry],
    indent: &str,
) -> io::Result<()> {
    for (scope, s) in &st.scopes {
        let entry = s.entry.map_or(String::new(), |n| format!(" (entry {n})"));
        let line = if s.permitted {
            let until = s.until.map_or("no end".into(), |u| format!("until {u}"));
            let since = s.since.map_or(String::new(), |d| format!("since {d}, "));
            format!("permitted      {since}{until}{entry}")
        } else if s.lapse == Some(Lapse::Missing) {
            "not permitted  never granted".to_string()
        } else {
            format!("not permitted  {}", st.why_not(*scope, history))
        };
        writeln!(out, "{indent}{:<20} {line}", scope.as_str())?;
    }
    Ok(())
}

/// The consent history, numbered as the state's `entry` numbers refer to it.
pub fn write_history(
    out: &mut dyn Write,
    history: &[ConsentEntry],
    indent: &str,
) -> io::Result<()> {
    for (n, e) in history.iter().enumerate().map(|(i, e)| (i + 1, e)) {
        let scopes: Vec<&str> = e.scopes.iter().map(|s| s.as_str()).collect();
        let verb = match e.provision {
            Provision::Permit => "grant",
            Provision::Deny => "withdraw",
        };
        let mut extra = Vec::new();
        if let Some(b) = &e.by {
            extra.push(format!("by {}", term(b)));
        }
        if let Some(m) = &e.method {
            extra.push(term(m).into_owned());
        }
        if let Some(w) = &e.witness {
            extra.push(format!("witness {}", term(w)));
        }
        if let Some(x) = &e.expires {
            extra.push(format!("until {x}"));
        }
        writeln!(
            out,
            "{indent}{n:>2}. {}  {verb:<8} {}  {}  (recorded by {})",
            e.date,
            scopes.join(","),
            extra.join(", "),
            term(&e.recorded_by)
        )?;
        if let Some(n) = &e.note {
            writeln!(out, "{indent}            note: {}", term(n))?;
        }
    }
    Ok(())
}

//! `visitrec purge`: erase recordings, keeping a tombstone of each.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::archive::Archive;
use visitrec::purge::{PurgeOptions, PurgeReport};
use visitrec::tombstone::Reason;

use super::ActorArg;
use super::output::{Report, Verbosity};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec purge study-archive 3f9a1c --reason consent-withdrawn --dry-run
  visitrec purge study-archive 3f9a1c --reason consent-withdrawn --actor records-office
  visitrec purge study-archive 3f9a1c --reason error --force
  visitrec purge study-archive --expired --reason retention-expired";

/// `visitrec purge` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive.
    pub archive: PathBuf,
    /// The recordings (ids or unique prefixes).
    #[arg(add = super::complete::recording_ids(), required_unless_present = "expired")]
    pub ids: Vec<String>,
    /// Why: consent-withdrawn, retention-expired, request (erasure asked for) or error
    /// (archived by mistake). Recorded in the tombstone and the audit log.
    #[arg(long, value_name = "CODE", value_parser = reason_parser())]
    pub reason: Reason,
    /// Purge even recordings whose consent is still active for some scope.
    #[arg(long)]
    pub force: bool,
    /// List what would be removed (files and bytes); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Purge every recording past its retention period (see `visitrec retention`) whose
    /// consent does not keep it (with --force, those too).
    #[arg(long, conflicts_with = "ids")]
    pub expired: bool,
    #[command(flatten)]
    pub actor: ActorArg,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The reason codes, for clap.
fn reason_parser() -> impl clap::builder::TypedValueParser<Value = Reason> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(["consent-withdrawn", "retention-expired", "request", "error"]).map(
        |s| match s.as_str() {
            "consent-withdrawn" => Reason::ConsentWithdrawn,
            "retention-expired" => Reason::RetentionExpired,
            "request" => Reason::Request,
            _ => Reason::Error,
        },
    )
}

/// Purges (or, with `--dry-run`, lists what would go).
pub fn run(a: &Args) -> anyhow::Result<PurgeReport> {
    let opts = PurgeOptions {
        reason: a.reason,
        force: a.force,
        day: None,
    };
    let mut report = if a.dry_run {
        let archive = Archive::open(&a.archive)?;
        let (ids, already) = resolve(&archive, a)?;
        let mut r = visitrec::purge::dry_run(&archive, &ids, &opts)?;
        r.already_purged = already;
        r
    } else {
        let mut writer = a.actor.writer(&a.archive)?;
        let (ids, already) = resolve(writer.archive(), a)?;
        let mut r = visitrec::purge::purge(&mut writer, &ids, &opts)?;
        r.already_purged = already;
        r
    };
    report.purged.sort_by(|x, y| x.id.cmp(&y.id));
    Ok(report)
}

/// The recordings the arguments name, and those of them already purged.
fn resolve(archive: &Archive, a: &Args) -> visitrec::Result<(Vec<String>, Vec<String>)> {
    if a.expired {
        let ids = visitrec::purge::expired(archive, None)?
            .into_iter()
            .filter(|e| a.force || e.kept_because.is_none())
            .map(|e| e.id)
            .collect();
        return Ok((ids, Vec::new()));
    }
    visitrec::purge::resolve(archive, &a.ids)
}

impl Report for PurgeReport {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Quiet && !self.dry_run {
            return Ok(());
        }
        let verb = if self.dry_run {
            "would purge"
        } else {
            "purged"
        };
        for p in &self.purged {
            let forced = if p.active_scopes.is_empty() {
                String::new()
            } else {
                let s: Vec<&str> = p.active_scopes.iter().map(|s| s.as_str()).collect();
                format!(" (forced: consent active for {})", s.join(", "))
            };
            writeln!(
                out,
                "{verb} {}: {} file(s), {} bytes{forced}",
                p.id,
                p.files.len(),
                p.bytes
            )?;
            if self.dry_run || v == Verbosity::Verbose {
                for f in &p.files {
                    writeln!(out, "  {:>12}  {}", f.bytes, f.path)?;
                }
            }
        }
        for id in &self.already_purged {
            writeln!(out, "{id}: already purged")?;
        }
        Ok(())
    }

    fn summary(&self, v: Verbosity) -> Vec<String> {
        let n = self.purged.len();
        if v == Verbosity::Quiet {
            return Vec::new();
        }
        if n == 0 {
            return vec![format!(
                "nothing to purge ({}); nothing was changed",
                self.reason.code()
            )];
        }
        let files: usize = self.purged.iter().map(|p| p.files.len()).sum();
        let bytes: u64 = self.purged.iter().map(|p| p.bytes).sum();
        let line = if self.dry_run {
            format!(
                "dry run: {n} recording(s), {files} file(s), {bytes} bytes would be purged ({}); nothing was changed",
                self.reason.code()
            )
        } else {
            format!(
                "{n} recording(s) purged ({}): {files} file(s), {bytes} bytes removed; a tombstone of each is kept. Copies in backups and snapshots are not touched: purge them too",
                self.reason.code()
            )
        };
        vec![line]
    }
}

//! `visitrec verify`: fixity and structure of an archive or export.

use std::io::{self, Write};
use std::path::PathBuf;

use visitrec::sanitize::term;
use visitrec::verify::{ProblemKind, Report as Verified, VerifyOptions};

use super::output::{Report, Verbosity, warning};

/// `--help` examples.
pub const EXAMPLES: &str = "Examples:
  visitrec verify study-archive
  visitrec verify study-archive --fast
  visitrec verify study-archive --json > report.json
  visitrec verify study-archive --anchors anchors.txt --allowed-signers allowed_signers";

/// `--help` (long): the examples and what each problem kind means.
pub const LONG_HELP: &str = "Examples:
  visitrec verify study-archive
  visitrec verify study-archive --fast
  visitrec verify study-archive --json > report.json
  visitrec verify study-archive --anchors anchors.txt --allowed-signers allowed_signers

Problem kinds (each makes the exit status 1):
  missing           a file listed in a manifest is not there
  modified          a file's content does not match its manifest digest
  extra             a payload file is not in the manifest, or is not a regular file
  bad-manifest      a manifest, tag manifest, bagit.txt or bag-info.txt is absent or
                    breaks RFC 8493, or the bag has a fetch.txt
  bad-metadata      a recording.json does not parse or disagrees with its files
  oxum              Payload-Oxum does not match the payload
  audit-chain       the audit log's hash chain is broken (a line edited, reordered, removed)
  no-consent        a recording has no active consent today (with --require-consent)
  decrypt           an export's file does not decrypt, or decrypts to other bytes (with -i)
  symlink           a symbolic link inside the bag (never followed)
  bad-journal       a commit journal names what visitrec never would (nothing applied)
  consent-mismatch  a consent history differs from what the audit log recorded
  history-mismatch  a recording or tag the audit log never introduced
  not-visitrec      a sound bag that is not a visitrec archive or export
  anchor            audit line SEQ no longer hashes to the --anchor given
  checkpoint        a signed checkpoint does not verify against --allowed-signers

A missing or modified normalized.wav, envelope.json or segment whose original and recording.json are
sound can be rebuilt by `visitrec repair` (\"repairable\": true in --json; the text output
ends with a line saying how many).

Warnings (printed to stderr; the exit status stays 0): pending-journal, loose-permissions,
clock-backwards, unsigned-history, leftover-staging.

With --json, stdout always holds one JSON document: the report, or
{\"error\": {\"kind\", \"message\", \"path\"}} when verify could not run (exit 2).";

/// `visitrec verify` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive (or any BagIt bag).
    pub archive: PathBuf,
    /// Check presence and Payload-Oxum only; read no content.
    #[arg(long)]
    pub fast: bool,
    /// Also report recordings with no active consent today (kind no-consent).
    #[arg(long)]
    pub require_consent: bool,
    /// For an encrypted export: also decrypt-check every file with this identity file
    /// (repeatable).
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// For an export made with a passphrase: decrypt-check with it (VISITREC_PASSPHRASE
    /// or a prompt).
    #[arg(long, conflicts_with = "identities")]
    pub passphrase: bool,
    /// Fail (kind anchor) unless audit line SEQ still hashes to HASH, as `visitrec log
    /// --head` printed it (repeatable).
    #[arg(long = "anchor", value_name = "SEQ:HASH")]
    pub anchors: Vec<String>,
    /// A file of anchors, one SEQ:HASH per line, # comments (repeatable).
    #[arg(long = "anchors", value_name = "FILE")]
    pub anchors_files: Vec<PathBuf>,
    /// Check the signed checkpoints against these keys (ssh-keygen's allowed_signers
    /// format); later audit lines are warned about as unsigned history.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The verification the flags ask for.
    fn options(&self) -> anyhow::Result<VerifyOptions> {
        let mut anchors = self
            .anchors
            .iter()
            .map(|a| visitrec::anchor::parse_flag(a))
            .collect::<Result<Vec<_>, _>>()?;
        for f in &self.anchors_files {
            anchors.extend(visitrec::anchor::read_file(f)?);
        }
        Ok(VerifyOptions {
            fast: self.fast,
            require_consent: self.require_consent,
            identities: super::identities_from(&self.identities, self.passphrase)?,
            anchors,
            allowed_signers: self
                .allowed_signers
                .as_deref()
                .map(visitrec::checkpoint::AllowedSigners::read)
                .transpose()?,
        })
    }
}

/// The verification's report, with what was asked of it (for `--verbose`; the JSON
/// document is the report alone).
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Outcome {
    report: Verified,
    #[serde(skip)]
    asked: Vec<String>,
}

/// Verifies the bag.
pub fn run(a: &Args) -> anyhow::Result<Outcome> {
    let options = a.options()?;
    let report = visitrec::verify::verify(&a.archive, &options)
        .map_err(|e| visitrec::crypto::name_the_keys(e, &a.archive, &a.identities))?;
    let asked = checks_run(&options, &report);
    Ok(Outcome { report, asked })
}

/// One line per check that ran, for `--verbose`.
fn checks_run(o: &VerifyOptions, r: &Verified) -> Vec<String> {
    let bag = match r.bag {
        visitrec::verify::BagKind::Archive => "a visitrec archive",
        visitrec::verify::BagKind::Export => "a visitrec export",
        visitrec::verify::BagKind::DecryptedExport => "a decrypted visitrec export",
        visitrec::verify::BagKind::Other => "a BagIt bag of another tool",
    };
    let mut lines = vec![format!("bag: {bag}, {} recording(s)", r.recordings)];
    lines.push(if o.fast {
        "fixity: skipped (--fast): presence and Payload-Oxum only".to_string()
    } else {
        format!(
            "fixity: {} file(s), {} bytes read and hashed against the manifests",
            r.files_checked, r.bytes_checked
        )
    });
    if o.identities.is_some() {
        lines.push(format!(
            "decryption: {} file(s) opened with the key",
            r.files_decrypted
        ));
    }
    if o.require_consent {
        lines.push("consent: every recording must have active consent today".to_string());
    }
    if !o.anchors.is_empty() {
        lines.push(format!(
            "anchors: {} audit line(s) checked",
            o.anchors.len()
        ));
    }
    if o.allowed_signers.is_some() {
        lines.push("checkpoints: signatures checked against --allowed-signers".to_string());
    }
    lines.push(format!(
        "problems: {}, warnings: {}",
        r.problems.len(),
        r.warnings.len()
    ));
    lines
}

impl Report for Outcome {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v == Verbosity::Verbose {
            for line in &self.asked {
                writeln!(out, "{}", term(line))?;
            }
        }
        self.report.write_text(out, v)
    }

    fn diagnostics(&self, v: Verbosity) -> Vec<String> {
        self.report.diagnostics(v)
    }

    fn exit(&self) -> visitrec::exit::Exit {
        self.report.exit_code()
    }
}

impl Report for Verified {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        let name = term(&self.path);
        // A sound bag that is simply not visitrec's is said in one line.
        if let [p] = self.problems.as_slice()
            && p.kind == ProblemKind::NotVisitrec
        {
            return writeln!(out, "{name}: {}", term(&p.detail));
        }
        for p in &self.problems {
            writeln!(
                out,
                "{:<13} {}: {}",
                p.kind.as_str(),
                term(&p.path),
                term(&p.detail)
            )?;
        }
        if v == Verbosity::Quiet && self.ok {
            return Ok(());
        }
        if !self.ok {
            writeln!(out, "{name}: {} problem(s) found", self.problems.len())?;
            let n = self.problems.iter().filter(|p| p.repairable).count();
            if n > 0 {
                writeln!(
                    out,
                    "{n} problem(s) can be repaired: visitrec repair {name}"
                )?;
            }
            return Ok(());
        }
        let mb = self.bytes_checked as f64 / 1e6;
        let opened = match self.files_decrypted {
            0 => String::new(),
            n => format!(", {n} opened with the key"),
        };
        writeln!(
            out,
            "{name}: intact ({} files, {mb:.1} MB checked{opened})",
            self.files_checked
        )
    }

    fn diagnostics(&self, _v: Verbosity) -> Vec<String> {
        self.warnings
            .iter()
            .map(|w| {
                let at = if w.path == "." { &self.path } else { &w.path };
                warning(&format!("{at}: {}", w.detail))
            })
            .collect()
    }

    fn exit(&self) -> visitrec::exit::Exit {
        self.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use visitrec::verify::ProblemKind;

    #[test]
    fn long_help_explains_every_problem_kind() {
        for k in ProblemKind::ALL {
            let line = format!("\n  {:<18}", k.as_str());
            assert!(
                super::LONG_HELP.contains(&line),
                "{} is not explained",
                k.as_str()
            );
        }
    }
}

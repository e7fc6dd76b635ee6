//! The hidden `generate` command: man pages and shell completion scripts, written from the
//! clap definition so they never drift from it (`scripts/gen-docs`; a test fails when the
//! committed ones are stale).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap_complete::env::Shells;
use serde::Serialize;

use super::output::{Report, Verbosity};

/// `visitrec generate` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the man pages (visitrec.1 and visitrec-COMMAND.1).
    #[arg(long, value_name = "DIR")]
    pub man: PathBuf,
    /// Folder for the completion registration scripts (bash, zsh, fish, elvish, PowerShell).
    #[arg(long, value_name = "DIR")]
    pub completions: PathBuf,
}

/// The files written.
#[derive(Debug, Serialize)]
pub struct Generated {
    files: Vec<PathBuf>,
}

/// Writes the man pages and completion scripts.
pub fn run(a: &Args) -> anyhow::Result<Generated> {
    let mut files = man_pages(&a.man)?;
    files.extend(completions(&a.completions)?);
    Ok(Generated { files })
}

impl Report for Generated {
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        if v > Verbosity::Quiet {
            for f in &self.files {
                writeln!(out, "wrote {}", f.display())?;
            }
        }
        Ok(())
    }
}

fn man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let cmd = super::cli_command().disable_help_subcommand(true);
    let mut written = Vec::new();
    let mut write = |name: &str, page: Vec<u8>| -> io::Result<()> {
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, page)?;
        written.push(path);
        Ok(())
    };
    write("visitrec", main_page(cmd.clone())?)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("visitrec-{}", sub.get_name());
        // The page lists what the subcommand accepts: the global options (-q, -v), and no
        // -V, which only `visitrec` itself takes (its VERSION section stays).
        let globals = cmd
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.clone().display_order(usize::MAX));
        let page = sub
            .clone()
            .name(name.clone())
            .display_name(name.clone())
            .bin_name(format!("visitrec {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"))
            .disable_version_flag(true)
            .args(globals);
        let man = clap_mangen::Man::new(page);
        let mut out = Vec::new();
        man.render(&mut out)?;
        out.extend_from_slice(SEE_ALSO.as_bytes());
        write(&name, out)?;
    }
    Ok(written)
}

/// visitrec(1): the clap sections, then what `--help` has no room for.
fn main_page(cmd: clap::Command) -> io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    out.extend_from_slice(DESCRIPTION.as_bytes());
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.extend_from_slice(SECTIONS.as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

fn completions(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for shell in Shells::builtins().iter() {
        let file = match shell.name() {
            "bash" => "visitrec.bash",
            "zsh" => "_visitrec",
            "fish" => "visitrec.fish",
            "elvish" => "visitrec.elv",
            "powershell" => "_visitrec.ps1",
            other => return Err(io::Error::other(format!("unknown shell {other}"))),
        };
        let mut out = Vec::new();
        shell.write_registration(
            super::complete::VAR,
            "visitrec",
            "visitrec",
            "visitrec",
            &mut out,
        )?;
        let path = dir.join(file);
        std::fs::write(&path, out)?;
        written.push(path);
    }
    Ok(written)
}

/// The DESCRIPTION of visitrec(1), in roff.
const DESCRIPTION: &str = r#".SH DESCRIPTION
visitrec keeps recordings of clinic visits, made on phones, in an archive that is a
BagIt 1.0 bag (RFC 8493): every file is listed with its SHA\-256, every change is written
through a commit journal and logged in a hash\-chained audit log, and each recording's
consent history travels with it in \fIdata/<id>/recording.json\fR.
.PP
A typical life: \fBvisitrec init\fR an archive; \fBvisitrec ingest\fR the phone files
(with \fB\-\-consent\-scope\fR and \fB\-\-consent\-by\fR); \fBvisitrec normalize\fR and
\fBvisitrec segment\fR them; \fBvisitrec tag\fR and \fBvisitrec consent\fR as the visit is
reviewed; \fBvisitrec encrypt\fR an export for a patient's age key (refused unless consent
covers the purpose); and \fBvisitrec verify\fR the archive from a nightly job.
.PP
Each command prints text for people on stdout and diagnostics on stderr; \fB\-\-json\fR
prints one JSON document on stdout instead, also when the command fails.
"#;

/// The sections after the subcommands, in roff.
const SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success: everything asked for was done, or the archive is intact.
.TP
\fB1\fR
The command ran but found problems (\fBverify\fR), or rejected some inputs
(\fBingest\fR), or some recordings failed (\fBnormalize\fR, \fBsegment\fR).
.TP
\fB2\fR
The command could not run: a usage error, no such archive, the archive is locked, an
I/O error, a wrong key, a tampered export. Nothing was changed.
.TP
\fB3\fR
Refused: consent does not cover the export's \fB\-\-purpose\fR; nothing was written.
.TP
\fB128+N\fR
Interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP). What was committed before
stays; what was staged was removed; run the same command again to finish.
.SH ENVIRONMENT
.TP
\fBVISITREC_ACTOR\fR
Who is making a change, for the audit log (as \fB\-\-actor\fR); default \fB$USER\fR.
The OS account is logged beside it either way.
.TP
\fBVISITREC_PASSPHRASE\fR
The passphrase for \fBencrypt \-\-passphrase\fR, \fBdecrypt \-\-passphrase\fR and
\fBverify \-\-passphrase\fR; without it visitrec asks on the terminal. A passphrase is
never taken from the command line.
.TP
\fBCOMPLETE\fR
Set by the shell completion scripts in \fIcompletions/\fR: the binary then completes
the command line (scopes, recording ids) instead of running it.
.SH FILES
.TP
\fIARCHIVE/bagit.txt\fR, \fIbag\-info.txt\fR, \fImanifest\-sha256.txt\fR, \fItagmanifest\-sha256.txt\fR
The BagIt bag's declaration, metadata and checksums.
.TP
\fIARCHIVE/data/<id>/\fR
One recording: \fIoriginal.<ext>\fR (byte for byte as captured), \fIrecording.json\fR,
and once made \fInormalized.wav\fR (with \fIenvelope.json\fR, its min/max envelope, which
\fBplot\fR and \fBreport\fR draw) and \fIsegments/NNN.wav\fR. The id is the first 16 hex
digits of the original's SHA\-256.
.TP
\fIARCHIVE/audit.jsonl\fR
The audit log: one JSON line per change, each holding the SHA\-256 of the line before
(a tag file, in the tag manifest).
.TP
\fIARCHIVE/checkpoints.jsonl\fR
Signed checkpoints of the audit log's head (\fBvisitrec checkpoint\fR; a tag file).
.TP
\fIARCHIVE/.visitrec/lock\fR, \fIjournal.json\fR, \fIstaging/\fR
The write lock, the commit journal of a write in progress, and the files it stages.
.PP
docs/FORMAT.md specifies every one of these formats.
.SH SECURITY
Everything on disk is treated as hostile: visitrec never follows a symbolic link inside an
archive, checks every path a journal, manifest or \fIrecording.json\fR names, escapes
control characters in what it prints, and refuses an invalid journal rather than apply it.
Exports are age files (X25519, SSH, or scrypt passphrase) that the stock \fBage\fR tool
opens; \fBdecrypt\fR and \fBverify \-i\fR check every file against the export's encrypted
plaintext manifest, and each recording's content against its id.
.PP
The audit log is tamper\-evident only against what it can be compared with: keep the head
(\fBvisitrec log \-\-head\fR) outside the archive and check it with
\fBverify \-\-anchors\fR, or sign checkpoints and check them with
\fBverify \-\-allowed\-signers\fR. Someone who can write the archive can rewrite an
unanchored history.
.PP
Originals are kept byte for byte, so they still carry any location, device name or
person's name the phone wrote in their tags; \fBshow\fR says which kinds are there,
\fBencrypt\fR warns when it exports them, and \fBencrypt \-\-strip\-metadata\fR exports
the originals without their tags. Deleted files may survive in backups, snapshots and on
SSD blocks.
.SH EXAMPLES
.nf
visitrec init study \-\-org "Example Clinic Study"
visitrec ingest study ~/phone\-export/ \-\-participant P017 \e
    \-\-consent\-scope personal\-use,research \-\-consent\-by patient:P017 \-\-normalize \-\-segment
visitrec list study \-\-consent research \-\-format csv > research.csv
visitrec tag study 3f9a1c \-\-mark 03:12="medication change"
visitrec encrypt study 3f9a1c \-\-recipient age1... \-\-purpose personal\-use \-\-out p017\-visit/
age \-d \-i key.txt p017\-visit/data/3f9a1c.../original.m4a.age > visit.m4a
visitrec verify study \-\-json > report.json; echo "exit $?"
visitrec log study \-\-head >> ~/anchors.txt
.fi
"#;

/// The SEE ALSO section of every subcommand's page.
const SEE_ALSO: &str = ".SH \"SEE ALSO\"\n\\fBvisitrec\\fR(1)\n";

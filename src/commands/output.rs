//! One way to print results: every command returns a [`Report`], which `main` renders once,
//! as JSON or as text; diagnostics go to stderr. A closed stdout (`visitrec list A | head`)
//! ends the command quietly with success, as ripgrep does.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use visitrec::exit::Exit;
use visitrec::sanitize::term;

/// How much text to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `--quiet`: only failures and what the caller must see.
    Quiet,
    /// The default.
    Normal,
    /// `--verbose`: every item, skipped files, segment times.
    Verbose,
}

/// What a command produced: serializable, printable as text, with its exit status.
pub trait Report: Serialize {
    /// Writes the text rendering to `out` (stdout).
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()>;
    /// Lines for stderr, printed in text and JSON mode alike (rejected inputs, warnings).
    fn diagnostics(&self, _v: Verbosity) -> Vec<String> {
        Vec::new()
    }
    /// Lines for stderr after the text output (counts), in text mode only.
    fn summary(&self, _v: Verbosity) -> Vec<String> {
        Vec::new()
    }
    /// The exit status the report calls for.
    fn exit(&self) -> Exit {
        Exit::Ok
    }
}

/// A [`Report`] behind a pointer, so commands can return different types.
pub trait Rendered {
    /// Writes the report as one pretty JSON document and a newline.
    fn write_json(&self, out: &mut dyn Write) -> io::Result<()>;
    /// See [`Report::write_text`].
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()>;
    /// See [`Report::diagnostics`].
    fn diagnostics(&self, v: Verbosity) -> Vec<String>;
    /// See [`Report::summary`].
    fn summary(&self, v: Verbosity) -> Vec<String>;
    /// See [`Report::exit`].
    fn exit(&self) -> Exit;
}

impl<T: Report> Rendered for T {
    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }
    fn write_text(&self, out: &mut dyn Write, v: Verbosity) -> io::Result<()> {
        Report::write_text(self, out, v)
    }
    fn diagnostics(&self, v: Verbosity) -> Vec<String> {
        Report::diagnostics(self, v)
    }
    fn summary(&self, v: Verbosity) -> Vec<String> {
        Report::summary(self, v)
    }
    fn exit(&self) -> Exit {
        Report::exit(self)
    }
}

/// Prints `report` (JSON when `json`) and returns its exit status; a closed stdout counts
/// as success, any other write failure is fatal.
pub fn emit(report: &dyn Rendered, json: bool, v: Verbosity) -> Exit {
    for line in report.diagnostics(v) {
        message(&line);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = if json {
        report.write_json(&mut out)
    } else {
        report.write_text(&mut out, v)
    }
    .and_then(|()| out.flush());
    match written {
        Ok(()) => {
            if !json {
                report.summary(v).iter().for_each(|l| message(l));
            }
            report.exit()
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            message(&format!("visitrec: error: writing to stdout: {e}"));
            Exit::Fatal
        }
    }
}

/// Reports a failed command: one line on stderr and, with `--json`, one JSON document
/// `{"error": {"kind", "message", "path"}}` on stdout, so a script always gets a document.
pub fn fail(e: &anyhow::Error, json: bool) -> Exit {
    let lib = e.downcast_ref::<visitrec::Error>();
    // Our errors already say what went wrong with which file; their I/O cause would only
    // repeat it.
    let text = match lib {
        Some(err) => err.to_string(),
        None => format!("{e:#}"),
    };
    match lib {
        // Not a failure: the user stopped it, and is told what became of the work.
        Some(visitrec::Error::Stopped { .. }) => message(&format!("visitrec: {}", term(&text))),
        _ => message(&format!("visitrec: error: {}", term(&text))),
    }
    if json {
        let doc = ErrorDoc {
            error: ErrorBody {
                kind: lib.map_or("usage", visitrec::Error::kind),
                message: &text,
                path: lib.and_then(visitrec::Error::path),
            },
        };
        let mut out = io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, &doc);
        let _ = writeln!(out);
    }
    lib.map_or(Exit::Fatal, visitrec::Error::exit_code)
}

/// Says that a signal stopped a command that had nothing to clean up: one line on stderr and
/// the JSON error document on stdout (installed only with `--json`; see
/// `interrupt::on_idle_signal`).
pub fn interrupted(signal: i32) {
    let text = format!(
        "interrupted by {}",
        visitrec::interrupt::signal_name(signal)
    );
    message(&format!("visitrec: {text}"));
    let doc = ErrorDoc {
        error: ErrorBody {
            kind: "interrupted",
            message: &text,
            path: None,
        },
    };
    let mut out = io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, &doc);
    let _ = writeln!(out);
    let _ = out.flush();
}

/// The JSON document of a failure.
#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: &'a str,
    path: Option<&'a Path>,
}

/// Writes one diagnostic line to stderr (escaped by the caller); a closed stderr is ignored.
pub fn message(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// A warning line for stderr: `warning: TEXT`, escaped.
pub fn warning(text: &str) -> String {
    format!("warning: {}", term(text))
}

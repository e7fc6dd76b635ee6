//! The `visitrec` command line: parses arguments, runs the command, prints its report once
//! (JSON or text), and maps the outcome to the exit status.

mod commands;

use std::process::ExitCode;

use clap::Parser;
use commands::{Cli, output};

fn main() -> ExitCode {
    commands::complete::answer_if_asked();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(usage_error(&e)),
    };
    let (json, v) = (cli.command.json(), cli.verbosity());
    let exit = match cli.command.run(v) {
        Ok(report) => output::emit(&*report, json, v),
        Err(e) => output::fail(&e, json),
    };
    ExitCode::from(exit.code())
}

/// Prints clap's message (help and version too) and returns its status; a usage error
/// with `--json` on the line also gets its JSON document.
fn usage_error(e: &clap::Error) -> u8 {
    let code = e.exit_code();
    if e.use_stderr() && std::env::args().any(|a| a == "--json") {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or_default();
        let msg = first.trim_start_matches("error: ");
        output::fail(&anyhow::anyhow!("{msg}"), true);
        return u8::try_from(code).unwrap_or(2);
    }
    let _ = e.print();
    u8::try_from(code).unwrap_or(2)
}

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
    if json {
        // A script reading the JSON document gets one even when a signal ends the command.
        let _ = visitrec::interrupt::on_idle_signal(output::interrupted);
    }
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
    if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
        // clap says what is wrong on several lines (the missing argument, the possible
        // values, a tip) before its usage; keep them all, on one line.
        let text = e.render().to_string();
        let said: Vec<&str> = text
            .lines()
            .map(str::trim)
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
            .filter(|l| !l.is_empty())
            .collect();
        let mut msg = String::new();
        for line in said {
            if !msg.is_empty() {
                msg.push_str(if msg.ends_with(':') { " " } else { "; " });
            }
            msg.push_str(line);
        }
        let msg = msg.trim_start_matches("error: ");
        output::fail(&anyhow::anyhow!("{msg}"), true);
        return u8::try_from(code).unwrap_or(2);
    }
    let _ = e.print();
    u8::try_from(code).unwrap_or(2)
}

//! The `recsys` binary: parses flags, runs a command, and turns errors into a message on stderr
//! and a non-zero exit status. All the work happens in the `recsys` library.

mod args;
mod commands;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECSYS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .init();
    let cli = args::Cli::parse();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Library errors spell out their causes in their own message (file, line, OS
            // error), so the chain is not printed again.
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

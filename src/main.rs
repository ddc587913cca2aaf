//! The `myna-hil` command line: parses arguments and calls the library.
//!
//! Exit codes: 0 everything passed, 1 a scenario failed, 2 bad input (arguments, files) or a
//! run that could not take place — always with a message naming what was wrong.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use myna_hil::cli::Cli;

/// Every answer is built from a few dozen small strings and freed at once; mimalloc's
/// thread-local free lists make that cheaper than glibc's malloc (see the commit's figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = myna_hil::cli::run(cli).map_err(anyhow::Error::from);
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each cause only where the text so far does not already say it
/// (many library errors quote their source in their own message).
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Logs go to stderr so that reports on stdout stay machine-readable; RUST_LOG overrides.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour only for a person at a terminal: CI logs and files get plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

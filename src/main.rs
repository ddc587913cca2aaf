//! The `myna-hil` command line: parses arguments and calls the library.
//!
//! Exit codes: 0 everything passed, 1 a scenario failed, 2 bad input (arguments, files) or a
//! run that could not take place — always with a message naming what was wrong.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use myna_hil::{bench, certify, oqs, pki, replay, scenario, trace, transport};

/// Every answer is built from a few dozen small strings and freed at once; mimalloc's
/// thread-local free lists make that cheaper than glibc's malloc (see the commit's figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "myna-hil",
    version,
    about = "マイナ保険証 hardware-in-the-loop simulator and conformance harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios (default: everything under scenarios/).
    Run(scenario::cli::RunArgs),
    /// Serve the emulated card to a real reader stack.
    Card {
        #[command(subcommand)]
        command: CardCommand,
    },
    /// List PC/SC readers and their card states.
    Readers(transport::cli::ReadersArgs),
    /// The qualification system simulator.
    Oqs {
        #[command(subcommand)]
        command: OqsCommand,
    },
    /// Replay a recorded APDU transcript against a card and report where the answers differ.
    Replay(replay::cli::ReplayArgs),
    /// Captures and transcripts: import a pcscd log or USB capture, turn a transcript into a
    /// scenario.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Certify a vendor's reader and terminal against the conformance suite (certify/).
    Certify(certify::cli::CertifyArgs),
    /// Qualification lookups, checks, receptions or card APDUs under load (open or closed
    /// loop), in process or against `oqs serve` over HTTP.
    Bench(bench::cli::BenchArgs),
    /// Test fixtures (key pool and test CA).
    Fixtures {
        #[command(subcommand)]
        command: FixturesCommand,
    },
    /// The harness's own reader and terminal as a driver-protocol device (stdin/stdout), used
    /// by `certify --reference`; see docs/certify.md.
    #[command(hide = true)]
    ReferenceDevice(certify::device::ReferenceDeviceArgs),
}

#[derive(Subcommand)]
enum CardCommand {
    /// Present the emulated card through vpcd (TCP), to a reader that connects (--listen), or
    /// on a serial port.
    Serve(transport::cli::ServeArgs),
    /// Print the Android HCE aid-group (aid_list.xml) with every AID the card answers.
    Aids,
    /// Compare a real card (read-only probe) with the emulated card of a card file.
    Compare(transport::cli::CompareArgs),
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Read a capture (`--from pcscd` or `--from pcapng`) into a transcript.
    Import(trace::cli::ImportArgs),
    /// Write a scenario that reproduces a transcript on the virtual reader.
    ToScenario(scenario::from_trace::ToScenarioArgs),
}

#[derive(Subcommand)]
enum OqsCommand {
    /// Serve the qualification system over HTTP and the XML file interface.
    Serve(oqs::cli::ServeArgs),
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Regenerate the committed RSA key pool and the test CA.
    Generate(pki::cli::GenerateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Run(args) => scenario::cli::run(args).map_err(Into::into),
        Command::Card {
            command: CardCommand::Serve(args),
        } => transport::cli::serve(args).map_err(Into::into),
        Command::Card {
            command: CardCommand::Aids,
        } => Ok(transport::cli::aids()),
        Command::Card {
            command: CardCommand::Compare(args),
        } => transport::cli::compare(args).map_err(Into::into),
        Command::Readers(args) => transport::cli::readers(args).map_err(Into::into),
        Command::Oqs {
            command: OqsCommand::Serve(args),
        } => oqs::cli::serve(args).map_err(Into::into),
        Command::Bench(args) => bench::cli::bench(args).map_err(Into::into),
        Command::Replay(args) => replay::cli::replay(args).map_err(Into::into),
        Command::Trace {
            command: TraceCommand::Import(args),
        } => trace::cli::import_capture(args).map_err(Into::into),
        Command::Trace {
            command: TraceCommand::ToScenario(args),
        } => scenario::from_trace::to_scenario(args).map_err(Into::into),
        Command::Certify(args) => certify::cli::certify(args).map_err(Into::into),
        Command::Fixtures {
            command: FixturesCommand::Generate(args),
        } => pki::cli::generate(args).map_err(Into::into),
        Command::ReferenceDevice(args) => certify::device::run(args).map_err(Into::into),
    };
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

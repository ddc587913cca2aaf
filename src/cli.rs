//! The command line: every subcommand, its arguments, and which part of the library runs it.
//! `main.rs` only parses, logs and prints; the subcommands' own types stay inside the crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{bench, certify, oqs, pki, replay, scenario, trace, transport};

/// The parsed command line of `myna-hil` (parse it with [`clap::Parser::parse`]).
#[derive(Parser)]
#[command(
    name = "myna-hil",
    version,
    about = "マイナ保険証 hardware-in-the-loop simulator and conformance harness"
)]
pub struct Cli {
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

/// Why a subcommand could not do its work (the subcommand's own error, kept as the source so
/// that its causes can be printed).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CommandError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl CommandError {
    fn boxed(error: impl std::error::Error + Send + Sync + 'static) -> CommandError {
        CommandError(Box::new(error))
    }
}

/// Runs the subcommand `cli` names; the exit code says how it went (0 passed, 1 failed, 2 bad
/// input), an error that it could not run at all.
pub fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    match cli.command {
        Command::Run(args) => scenario::cli::run(args).map_err(CommandError::boxed),
        Command::Card {
            command: CardCommand::Serve(args),
        } => transport::cli::serve(args).map_err(CommandError::boxed),
        Command::Card {
            command: CardCommand::Aids,
        } => Ok(transport::cli::aids()),
        Command::Card {
            command: CardCommand::Compare(args),
        } => transport::cli::compare(args).map_err(CommandError::boxed),
        Command::Readers(args) => transport::cli::readers(args).map_err(CommandError::boxed),
        Command::Oqs {
            command: OqsCommand::Serve(args),
        } => oqs::cli::serve(args).map_err(CommandError::boxed),
        Command::Bench(args) => bench::cli::bench(args).map_err(CommandError::boxed),
        Command::Replay(args) => replay::cli::replay(args).map_err(CommandError::boxed),
        Command::Trace {
            command: TraceCommand::Import(args),
        } => trace::cli::import_capture(args).map_err(CommandError::boxed),
        Command::Trace {
            command: TraceCommand::ToScenario(args),
        } => scenario::from_trace::to_scenario(args).map_err(CommandError::boxed),
        Command::Certify(args) => certify::cli::certify(args).map_err(CommandError::boxed),
        Command::Fixtures {
            command: FixturesCommand::Generate(args),
        } => pki::cli::generate(args).map_err(CommandError::boxed),
        Command::ReferenceDevice(args) => certify::device::run(args).map_err(CommandError::boxed),
    }
}

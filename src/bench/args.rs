//! The arguments of `myna-hil bench`, their checks (exit 2 with the reason) and the bench's
//! error.

use std::path::PathBuf;
use std::time::Duration;

use crate::bench::drive::{Limits, Load};
use crate::bench::http::{HttpTarget, TargetError};
use crate::bench::mix::{Expect, Mix, MixError};
use crate::bench::record::HistogramError;
use crate::bench::report::ReportError;
use crate::oqs::generate::MAX_SYNTHETIC_PERSONS;
use crate::oqs::registry::RegistryError;
use crate::pki::PkiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// Registry lookup plus rules, in process, no cryptography.
    Lookup,
    /// The 被保険者証情報 lookup, in process or over HTTP.
    InsuranceCard,
    /// The full check with proof of possession: chain and signature verified.
    Check,
    /// The whole reader flow with the emulated card signing (in process).
    Reception,
    /// The card alone (SELECT, SELECT, READ BINARY), in process.
    Apdu,
}

impl Workload {
    pub(super) fn name(self) -> &'static str {
        match self {
            Workload::Lookup => "lookup",
            Workload::InsuranceCard => "insurance-card",
            Workload::Check => "check",
            Workload::Reception => "reception",
            Workload::Apdu => "apdu",
        }
    }

    /// The outcome kinds `--mix` may ask of this workload.
    fn kinds(self) -> &'static [Expect] {
        match self {
            Workload::Lookup => &[Expect::Valid, Expect::NotFound, Expect::Expired],
            Workload::InsuranceCard => &[Expect::Valid, Expect::NotFound, Expect::Invalid],
            Workload::Check => &[
                Expect::Valid,
                Expect::NotFound,
                Expect::Expired,
                Expect::BadSignature,
                Expect::Invalid,
            ],
            Workload::Reception | Workload::Apdu => &[Expect::Valid],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CardLatency {
    /// The card's processing time, simulated in virtual time, is added to each latency.
    Virtual,
    /// Only the computation is timed.
    Off,
}

/// The `bench` command's options: what to load, how hard, for how long and where to report.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    #[arg(long, value_enum)]
    pub(crate) workload: Workload,
    /// `in-process`, or `http://HOST:PORT` of a running `myna-hil oqs serve`.
    #[arg(long, default_value = "in-process")]
    pub(crate) target: String,
    /// Open loop: this many requests per second on a fixed schedule; latency counts from
    /// each request's scheduled start.
    #[arg(long, conflicts_with = "terminals")]
    pub(crate) rate: Option<f64>,
    /// Closed loop: this many terminals, each sending its next request when answered
    /// (default when neither --rate nor --terminals: 1 terminal).
    #[arg(long)]
    pub(crate) terminals: Option<usize>,
    /// How long to run: `10s`, `500ms`, `2m` (default 10s unless --requests).
    #[arg(long, conflicts_with = "requests", value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// How many requests to send.
    #[arg(long)]
    pub(crate) requests: Option<u64>,
    /// Persons in the synthetic registry (the same as `oqs serve --synthetic N --seed S`).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) registry_size: u64,
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Outcome shares, e.g. `valid=90,not_found=5,expired=5` (kinds: valid, not_found,
    /// expired, bad_signature, invalid; which apply depends on the workload).
    #[arg(long)]
    pub(crate) mix: Option<String>,
    /// Open loop over HTTP: kept-alive connections (default 64); in process: threads
    /// (default: the number of CPUs).
    #[arg(long)]
    pub(crate) connections: Option<usize>,
    /// Distinct persons (and, for checks, signed requests) the load cycles through.
    #[arg(long, default_value_t = 256)]
    pub(crate) pool: usize,
    /// Checks: sign a fresh challenge for every request (the card's ~2 ms RSA signature in the
    /// load generator) instead of signing a pool in advance.
    #[arg(long)]
    pub(crate) fresh_challenges: bool,
    /// `reception`: whether the card's simulated processing time is part of the latency.
    #[arg(long, value_enum, default_value = "virtual")]
    pub(crate) card_latency: CardLatency,
    /// Write the summary as JSON.
    #[arg(long, value_name = "F")]
    pub(crate) json: Option<PathBuf>,
    /// Draw the percentile spectrum and latency over time (SVG).
    #[arg(long, value_name = "F.svg")]
    pub(crate) plot: Option<PathBuf>,
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Over HTTP: write the requests the bench would send (one `PATH<TAB>KIND<TAB>JSON` line
    /// each, KIND the expected outcome as in --mix,
    /// checks signed over challenges of that very server) and exit without running, so that
    /// another load tool (wrk, Locust) sends exactly the same ones.
    #[arg(long, value_name = "F")]
    pub(crate) dump_requests: Option<PathBuf>,
}

/// `10s`, `1.5s`, `250ms`, `2m`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 10s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?}: unit must be ms, s, m or h")),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("{text:?}: a duration must be positive"));
    }
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(format!("{text:?}: at most {} s", MAX_DURATION.as_secs()));
    }
    Ok(Duration::from_secs_f64(seconds))
}

const MAX_DURATION: Duration = Duration::from_secs(3_600);
const MAX_REQUESTS: u64 = 1_000_000_000;
const MAX_RATE: f64 = 10_000_000.0;
const MAX_SENDERS: usize = 4_096;
const MAX_POOL: usize = 100_000;
/// Registry bytes per person at 10 million (1,355 MiB peak for 10 M, README), rounded up.
const BYTES_PER_PERSON: u64 = 150;

/// Why the bench could not run (usage errors exit 2, the rest 1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// Bad arguments: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The `--mix` weights cannot be used.
    #[error(transparent)]
    Mix(#[from] MixError),
    /// The target (in process or an `oqs serve` URL) cannot be set up.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The HTTP target did not answer before the run started.
    #[error("target unreachable: {0}")]
    Unreachable(String),
    /// The registry the bench loads cannot be built.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The test PKI (key pool and CA) cannot be loaded.
    #[error("test PKI: {0}")]
    Pki(#[from] PkiError),
    /// A synthetic person's card cannot be built.
    #[error("card: {0}")]
    Card(String),
    /// The latency histogram cannot record or merge a measurement.
    #[error(transparent)]
    Histogram(#[from] HistogramError),
    /// The report (JSON, plots) cannot be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The tokio runtime driving the load cannot be started.
    #[error("tokio runtime: {0}")]
    Runtime(std::io::Error),
}

pub(super) fn usage(message: impl Into<String>) -> BenchError {
    BenchError::Usage(message.into())
}

/// The checked form of the arguments.
pub(super) struct Setup {
    pub(super) workload: Workload,
    pub(super) target: Option<HttpTarget>,
    pub(super) load: Load,
    pub(super) limits: Limits,
    pub(super) persons: usize,
    pub(super) mix: Mix,
}

fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub(super) fn check(args: &BenchArgs) -> Result<Setup, BenchError> {
    let target = match args.target.as_str() {
        "in-process" => None,
        other => Some(HttpTarget::parse(other)?),
    };
    if target.is_some()
        && matches!(
            args.workload,
            Workload::Lookup | Workload::Reception | Workload::Apdu
        )
    {
        return Err(usage(format!(
            "--workload {} runs in process only (--target in-process); over HTTP use insurance-card or check",
            args.workload.name()
        )));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = match (args.rate, args.terminals) {
        (Some(rate), _) => {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(usage(format!(
                    "--rate {rate}: the rate must be a positive number of requests per second"
                )));
            }
            if rate > MAX_RATE {
                return Err(usage(format!(
                    "--rate {rate}: at most {MAX_RATE} per second"
                )));
            }
            let default = if target.is_some() { 64 } else { cpus };
            let workers = args.connections.unwrap_or(default);
            if workers == 0 || workers > MAX_SENDERS {
                return Err(usage(format!(
                    "--connections {workers}: 1 to {MAX_SENDERS}"
                )));
            }
            Load::Open { rate, workers }
        }
        (None, terminals) => {
            let terminals = terminals.unwrap_or(1);
            if terminals == 0 || terminals > MAX_SENDERS {
                return Err(usage(format!(
                    "--terminals {terminals}: 1 to {MAX_SENDERS}"
                )));
            }
            if args.connections.is_some() {
                return Err(usage(
                    "--connections is for open loop (--rate); in closed loop each terminal has one",
                ));
            }
            Load::Closed { terminals }
        }
    };
    let limits = match (args.duration, args.requests) {
        (_, Some(0)) => return Err(usage("--requests 0: send at least one request")),
        (_, Some(n)) if n > MAX_REQUESTS => {
            return Err(usage(format!("--requests {n}: at most {MAX_REQUESTS}")))
        }
        (duration, requests) => Limits {
            duration: duration.or(requests.is_none().then_some(Duration::from_secs(10))),
            requests,
        },
    };
    if let (Load::Open { rate, .. }, Some(duration)) = (load, limits.duration) {
        if rate * duration.as_secs_f64() > MAX_REQUESTS as f64 {
            return Err(usage(format!(
                "--rate × --duration plans more than {MAX_REQUESTS} requests"
            )));
        }
        if rate * duration.as_secs_f64() < 1.0 {
            return Err(usage(format!(
                "--rate {rate} for {} s plans no request at all",
                duration.as_secs_f64()
            )));
        }
    }
    if args.registry_size == 0 {
        return Err(usage(
            "--registry-size 0: the registry needs at least one person",
        ));
    }
    if args.registry_size > MAX_SYNTHETIC_PERSONS {
        return Err(usage(format!(
            "--registry-size {}: at most {MAX_SYNTHETIC_PERSONS} (national scale)",
            args.registry_size
        )));
    }
    let builds_registry = target.is_none() && args.workload != Workload::Apdu;
    if builds_registry {
        let needed = args.registry_size.saturating_mul(BYTES_PER_PERSON);
        if let Some(available) = available_memory() {
            if needed > available {
                return Err(usage(format!(
                    "--registry-size {} needs about {} MiB in process, but only {} MiB are available",
                    args.registry_size,
                    needed >> 20,
                    available >> 20
                )));
            }
        }
    }
    let persons = usize::try_from(args.registry_size)
        .map_err(|_| usage("--registry-size does not fit this machine's address space"))?;
    if args.pool == 0 || args.pool > MAX_POOL {
        return Err(usage(format!("--pool {}: 1 to {MAX_POOL}", args.pool)));
    }
    let mix = match &args.mix {
        Some(text) => Mix::parse(text)?,
        None => Mix::all_valid(),
    };
    if let Some(kind) = mix.kinds().find(|k| !args.workload.kinds().contains(k)) {
        let allowed: Vec<&str> = args.workload.kinds().iter().map(|k| k.name()).collect();
        return Err(usage(format!(
            "--mix: {kind} does not apply to --workload {} (it takes {})",
            args.workload.name(),
            allowed.join(", ")
        )));
    }
    Ok(Setup {
        workload: args.workload,
        target,
        load,
        limits,
        persons,
        mix,
    })
}

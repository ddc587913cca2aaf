//! `myna-hil bench`: the run. The arguments and their checks are in `args`, the workloads
//! are built in `workloads`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use crate::bench::drive::{drive_http, drive_in_process, HttpWorkload, Load, RunResult};
use crate::bench::http::{self, HttpRequest};
use crate::bench::in_process::Apdu;
use crate::bench::progress::Progress;
use crate::bench::report::{self, ReportError, Summary, SummaryParts};
use crate::bench::workloads::{build_card, first_person, http_workload, run_in_process};
use crate::oqs::generate::synthetic_registry;
use crate::oqs::service::{Oqs, OqsConfig};

pub(crate) use crate::bench::args::BenchArgs;
pub(crate) use crate::bench::args::BenchError;
use crate::bench::args::{check, usage, CardLatency, Workload};

/// Runs the bench. Exit 0 when every request got its expected answer, 1 when some did not.
pub(crate) fn bench(args: BenchArgs) -> Result<ExitCode, BenchError> {
    let setup = check(&args)?;
    if args.dump_requests.is_some() && setup.target.is_none() {
        return Err(usage("--dump-requests needs --target http://HOST:PORT"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    let mut reusable = false;
    let health = match &setup.target {
        Some(target) => {
            let health = runtime
                .block_on(http::health(target))
                .map_err(BenchError::Unreachable)?;
            if let Some(persons) = health.persons {
                if persons != args.registry_size {
                    return Err(usage(format!(
                        "{} serves {persons} persons but --registry-size is {}: start it with `oqs serve --synthetic {} --seed {}`",
                        target.url, args.registry_size, args.registry_size, args.seed
                    )));
                }
            }
            Some(health)
        }
        None => None,
    };
    let planned = match setup.load {
        Load::Open { rate, .. } => Some(setup.limits.requests.unwrap_or_else(|| {
            (rate * setup.limits.duration.unwrap_or_default().as_secs_f64()).ceil() as u64
        })),
        Load::Closed { .. } => setup.limits.requests,
    };
    eprintln!(
        "preparing {} ({} persons, seed {})…",
        setup.workload.name(),
        setup.persons,
        args.seed
    );
    let progress = Progress::new(!args.no_progress, planned, setup.workload.name());
    let run: RunResult = match (&setup.target, setup.workload) {
        (Some(target), workload) => {
            reusable =
                health.as_ref().is_some_and(|h| h.reusable_challenges) && !args.fresh_challenges;
            let workload = Arc::new(http_workload(
                &args, &setup, target, workload, reusable, &runtime,
            )?);
            if let Some(path) = &args.dump_requests {
                dump_requests(path, &workload)?;
                return Ok(ExitCode::SUCCESS);
            }
            drive_http(workload, setup.load, setup.limits, &progress, &runtime)?
        }
        (None, Workload::Apdu) => {
            let card = build_card(&first_person()?, 0)?;
            drive_in_process(&Apdu { card }, setup.load, setup.limits, &progress)?
        }
        (None, workload) => {
            reusable = workload == Workload::Check && !args.fresh_challenges;
            let registry = synthetic_registry(setup.persons, args.seed)?;
            let oqs = Arc::new(Oqs::new(
                registry,
                OqsConfig {
                    reusable_challenges: reusable,
                    ..OqsConfig::default()
                },
            )?);
            run_in_process(&args, &setup, workload, oqs, &progress)?
        }
    };
    let summary = Summary::new(
        SummaryParts {
            workload: setup.workload.name().to_owned(),
            target: setup
                .target
                .as_ref()
                .map_or_else(|| "in-process".to_owned(), |t| t.url.clone()),
            offered_rate_per_s: match setup.load {
                Load::Open { rate, .. } => Some(rate),
                Load::Closed { .. } => None,
            },
            senders: setup.load.senders(),
            registry_size: setup.persons,
            seed: args.seed,
            mix: setup
                .mix
                .weights()
                .iter()
                .map(|(kind, weight)| (kind.name().to_owned(), *weight))
                .collect::<BTreeMap<_, _>>(),
            reusable_challenges: reusable,
            card_latency: (setup.workload == Workload::Reception).then_some(
                match args.card_latency {
                    CardLatency::Virtual => "virtual",
                    CardLatency::Off => "off",
                },
            ),
        },
        &run,
    );
    print!("{}", summary.text());
    if let Some(path) = &args.json {
        report::write_json(path, &summary)?;
    }
    if let Some(path) = &args.plot {
        report::write_plot(path, &summary, &run.recorder)?;
    }
    Ok(if summary.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn dump_requests(path: &std::path::Path, workload: &HttpWorkload) -> Result<(), BenchError> {
    let mut text = String::new();
    // In the order and shares of the mix, as the bench itself sends them.
    let count = workload.pool.items().count().max(1_000) as u64;
    for (kind, request) in (0..count).filter_map(|k| workload.pool.pick(k)) {
        match request {
            HttpRequest::Ready { path, body } => {
                text.push_str(path);
                text.push('\t');
                text.push_str(kind.name());
                text.push('\t');
                text.push_str(&String::from_utf8_lossy(body));
                text.push('\n');
            }
            HttpRequest::Fresh(_) => {
                return Err(usage(
                    "--dump-requests of checks needs a server started with --reusable-challenges",
                ))
            }
        }
    }
    std::fs::write(path, text).map_err(|error| {
        BenchError::Report(ReportError::Write {
            path: path.display().to_string(),
            reason: error.to_string(),
        })
    })
}

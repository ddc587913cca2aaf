//! `myna-hil run [PATH...]`: load scenarios, run them, report, exit 0 / 1 / 2.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::junit::render_junit;
use super::load::{discover, load_all, LoadError};
use super::readers::{ReaderChoice, RealReaderSettings};
use super::report::{render_json, render_text, Style, Summary};
use super::run::{run_all, RunOptions};
use crate::transport::identify::RealCardPolicy;

/// The `run` command's options: which scenarios, on which reader, and the reports to write.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario files or folders (searched recursively for *.yaml; names starting with `_` are
    /// skipped in folders).
    #[arg(default_value = "scenarios")]
    pub(crate) paths: Vec<PathBuf>,
    /// Where the card sits: virtual (in process), vpcd, listen (the card waits for a vpcd that
    /// connects out), pcsc or pcsc:NAME.
    #[arg(long, default_value = "virtual", value_parser = parse_reader)]
    pub(crate) reader: ReaderChoice,
    /// Scenarios run in parallel (default: the number of CPU cores).
    #[arg(long, short = 'j')]
    pub(crate) jobs: Option<usize>,
    /// Only scenarios carrying this tag (repeat for any of several).
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    /// Only scenarios whose name contains this text, ignoring case (repeat for any of several).
    #[arg(long = "name")]
    pub(crate) names: Vec<String>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Write a JSON report (with transcripts) here.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Show PINs in transcripts (they are redacted by default).
    #[arg(long)]
    pub(crate) show_pins: bool,
    /// Write each scenario's exchange with the card as a transcript (`myna-hil-trace` v1, as
    /// `card serve --record` writes) into this folder, one `<scenario file stem>.jsonl` per
    /// scenario (`-2`, `-3` … when stems repeat). PINs are redacted unless --show-pins.
    #[arg(long, value_name = "DIR")]
    pub(crate) record: Option<PathBuf>,
    /// With `--reader vpcd`: where vpcd listens.
    #[arg(long, value_name = "HOST:PORT", default_value = crate::transport::serve::DEFAULT_VPCD_ADDRESS)]
    pub(crate) vpcd: String,
    /// With `--reader listen`: where the card waits for pcscd's vpcd to connect out (its
    /// reader.conf DEVICENAME; the placeholder card takes the next port).
    #[arg(long, value_name = "HOST:PORT", default_value = crate::transport::serve::DEFAULT_LISTEN_ADDRESS)]
    pub(crate) listen: String,
    /// With `--reader vpcd` or `listen`: the PC/SC name pcscd gives that vpcd slot.
    #[arg(long, value_name = "NAME", default_value = super::readers::DEFAULT_VPCD_READER)]
    pub(crate) vpcd_reader: String,
    /// With `--reader pcsc`: let steps that consume PIN tries or change the card run on a card
    /// that is not proven to be myna-hil's emulation. Only for a card you own.
    #[arg(long)]
    pub(crate) allow_real_card_changes: bool,
}

fn parse_reader(text: &str) -> Result<ReaderChoice, String> {
    text.parse()
}

/// Why a scenario run could not produce results (as opposed to scenarios that failed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunCliError {
    /// A scenario file cannot be found or loaded.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// `--tag` / `--name` selected none of the loaded scenarios.
    #[error(
        "no scenario matches the filters (--tag {tags:?}, --name {names:?}) among {loaded} loaded"
    )]
    NothingSelected {
        /// The `--tag` values given.
        tags: Vec<String>,
        /// The `--name` values given.
        names: Vec<String>,
        /// How many scenarios were loaded to choose from.
        loaded: usize,
    },
    /// A report or transcript cannot be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// Why writing failed.
        source: std::io::Error,
    },
    /// A scenario's transcript cannot be recorded under `--record`.
    #[error(transparent)]
    Record(#[from] crate::trace::TraceError),
    /// A report cannot be rendered.
    #[error("rendering the {what} report: {message}")]
    Render {
        /// Which report (`json`, `junit`).
        what: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Loads the selected scenarios, runs them (in parallel on virtual readers) and writes the reports;
/// the exit code says whether all passed.
pub(crate) fn run(args: RunArgs) -> Result<ExitCode, RunCliError> {
    let started = Instant::now();
    let files = discover(&args.paths)?;
    let (mut scenarios, load_errors) = load_all(&files);
    // A world shared by many scenarios warns once.
    let warnings: std::collections::BTreeSet<&String> = scenarios
        .iter()
        .filter_map(|scenario| scenario.world.as_ref())
        .flat_map(|world| &world.warnings)
        .collect();
    for warning in warnings {
        eprintln!("{warning}");
    }
    let loaded = scenarios.len();
    scenarios.retain(|scenario| {
        let tag_ok =
            args.tags.is_empty() || args.tags.iter().any(|tag| scenario.tags.contains(tag));
        let name = scenario.name.to_lowercase();
        let name_ok =
            args.names.is_empty() || args.names.iter().any(|n| name.contains(&n.to_lowercase()));
        tag_ok && name_ok
    });
    if scenarios.is_empty() && load_errors.is_empty() {
        return Err(RunCliError::NothingSelected {
            tags: args.tags,
            names: args.names,
            loaded,
        });
    }

    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let options = RunOptions {
        reader: args.reader.clone(),
        jobs,
        show_pins: args.show_pins,
        real: RealReaderSettings {
            vpcd_address: args.vpcd.clone(),
            vpcd_reader: args.vpcd_reader.clone(),
            listen_address: args.listen.clone(),
            policy: if args.allow_real_card_changes {
                RealCardPolicy::AllowChanges
            } else {
                RealCardPolicy::Refuse
            },
        },
    };
    let results = run_all(&scenarios, &options);
    let not_recorded = match &args.record {
        Some(folder) => record_transcripts(folder, &scenarios, &results, &args)?,
        None => Vec::new(),
    };

    let stdout = std::io::stdout();
    let style = Style::detect(stdout.is_terminal());
    let text = render_text(&results, &load_errors, style);
    let summary = Summary::of(&results, &load_errors);
    let mut out = stdout.lock();
    let _ = write!(out, "{text}");
    let _ = writeln!(
        out,
        "finished in {:.2} s on reader `{}` with {jobs} jobs",
        started.elapsed().as_secs_f64(),
        args.reader
    );
    for file in &not_recorded {
        let _ = writeln!(
            out,
            "not recorded: {} (a phone on the generic reader: a transcript replays one card)",
            file.display()
        );
    }

    if let Some(path) = &args.junit {
        let xml = render_junit(&results, &load_errors).map_err(|error| RunCliError::Render {
            what: "JUnit",
            message: error.to_string(),
        })?;
        std::fs::write(path, xml).map_err(|source| RunCliError::Write {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(path) = &args.json {
        let json = render_json(&results, &load_errors).map_err(|error| RunCliError::Render {
            what: "JSON",
            message: error.to_string(),
        })?;
        std::fs::write(path, json).map_err(|source| RunCliError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(ExitCode::from(summary.exit_code()))
}

/// Writes one transcript per scenario into `folder`. Each is stamped with the day the
/// scenario's card dates count from (its `clock:`, else the reference day), at 00:00 in
/// Japan, so that `replay` rebuilds the same card from it. A scenario that held a phone over
/// the generic reader talks to two cards at once, which one transcript cannot replay: it is
/// left out, and returned so the run says so.
fn record_transcripts(
    folder: &std::path::Path,
    scenarios: &[crate::scenario::Scenario],
    results: &[super::ScenarioResult],
    args: &RunArgs,
) -> Result<Vec<std::path::PathBuf>, RunCliError> {
    std::fs::create_dir_all(folder).map_err(|source| RunCliError::Write {
        path: folder.to_path_buf(),
        source,
    })?;
    let pins = if args.show_pins {
        crate::trace::PinRecording::Kept
    } else {
        crate::trace::PinRecording::Redacted
    };
    let mut taken = std::collections::HashSet::new();
    let mut not_recorded = Vec::new();
    for (scenario, result) in scenarios.iter().zip(results) {
        if scenario.needs().generic_reader {
            not_recorded.push(scenario.file.clone());
            continue;
        }
        let stem = scenario.file.file_stem().map_or_else(
            || "scenario".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        let mut base = stem.clone();
        let mut counter = 1;
        while !taken.insert(base.clone()) {
            counter += 1;
            base = format!("{stem}-{counter}");
        }
        // The card the scenario started with, beside its trace and named by it, so that
        // `replay TRACE` rebuilds it without --card (JSON is YAML the card loader reads).
        // A world card is named as its placements name it, so that a replay placing it again
        // takes back the same card (with its state).
        let card_name = match &scenario.card_name {
            Some(name) => format!("{base}.{name}.card.yaml"),
            None => format!("{base}.card.yaml"),
        };
        let card_path = folder.join(&card_name);
        let card =
            serde_json::to_string_pretty(&scenario.card).map_err(|error| RunCliError::Write {
                path: card_path.clone(),
                source: std::io::Error::other(error),
            })?;
        std::fs::write(&card_path, card).map_err(|source| RunCliError::Write {
            path: card_path.clone(),
            source,
        })?;
        let day = scenario
            .clock
            .unwrap_or(crate::card::description::RELATIVE_DATES_REFERENCE_DAY);
        let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
        let started = midnight
            .checked_sub_signed(chrono::Duration::hours(9))
            .unwrap_or(midnight);
        // Each world card the scenario placed, beside the trace too, named by its placement.
        let mut exchanges = result.exchanges.clone();
        for entry in &mut exchanges.entries {
            let crate::trace::Event::CardPlaced { card } = &mut entry.event else {
                continue;
            };
            let Some(description) = scenario
                .world
                .as_ref()
                .and_then(|w| w.cards.get(card.as_str()))
            else {
                continue;
            };
            let placed_name = format!("{base}.{card}.card.yaml");
            let placed_path = folder.join(&placed_name);
            let text =
                serde_json::to_string_pretty(description).map_err(|error| RunCliError::Write {
                    path: placed_path.clone(),
                    source: std::io::Error::other(error),
                })?;
            std::fs::write(&placed_path, text).map_err(|source| RunCliError::Write {
                path: placed_path.clone(),
                source,
            })?;
            *card = placed_name;
        }
        crate::trace::write_transcript(
            &folder.join(format!("{base}.jsonl")),
            &format!("scenario:{} on {}", scenario.file.display(), args.reader),
            Some(&card_name),
            pins,
            started,
            &exchanges,
        )?;
    }
    Ok(not_recorded)
}

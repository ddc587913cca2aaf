//! `myna-hil replay`: send a recorded transcript to a card and report where the answers differ.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::card::{Card, CardDescription, CardError, DescriptionError};
use crate::pki::{PkiError, TestPki};
use crate::transport::virtual_reader::VirtualReader;
use crate::transport::{Transport, TransportError};

use super::{replay as replay_lines, CardSecrets, ReplayReport, ReplayTarget};
use crate::trace::{
    read_trace_numbered, started_at, PinRecording, TraceError, TraceEvent, TraceLine,
};

/// The `replay` command's options: the transcript, the card (or reader) to replay it against and
/// where to report.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The transcript (JSON lines, as written by `card serve --record`).
    pub(crate) trace: PathBuf,
    /// The card description to replay against (its PINs stand in for redacted ones). Default:
    /// the card the trace's start line names (`run --record`, `card serve --record` and
    /// `certify --record` name it), relative to the trace's folder.
    #[arg(long)]
    pub(crate) card: Option<PathBuf>,
    /// `virtual` (the in-process emulation of --card) or `pcsc[:NAME]` (a real reader).
    #[arg(long, default_value = "virtual")]
    pub(crate) against: String,
    /// Let a replay send PINs to a card that is not proven to be our emulation (a wrong PIN
    /// in the trace consumes a try of that real card).
    #[arg(long)]
    pub(crate) allow_real_card_changes: bool,
    /// List every divergence (by default: the first one, with the exchanges around it).
    #[arg(long)]
    pub(crate) all: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Print PINs a trace recorded with `--record-pins` carries (by default they are shown as
    /// `XX`, on stdout and in the JSON report alike).
    #[arg(long)]
    pub(crate) show_pins: bool,
}

/// Why a replay could not be carried out (as opposed to one that diverged).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayCliError {
    /// The transcript cannot be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The card file cannot be read.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// The card cannot be built from its description.
    #[error(transparent)]
    Card(#[from] CardError),
    /// The test PKI (key pool and CA) cannot be loaded.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The options contradict each other or the transcript names no card.
    #[error("{0}")]
    Usage(String),
    /// The real reader failed.
    #[error("reader: {0}")]
    Transport(#[from] TransportError),
    /// The report cannot be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The report file.
        path: PathBuf,
        /// Why writing failed.
        source: std::io::Error,
    },
}

/// Sends a transcript's commands to a card again and reports the first answer that differs; the
/// exit code says whether any did.
pub(crate) fn replay(args: ReplayArgs) -> Result<ExitCode, ReplayCliError> {
    let lines = read_trace_numbered(&args.trace)?;
    // A card's relative dates (certificates valid "+404d") count from the day the session
    // was recorded, so an old capture replays against the card as it was then.
    let recorded_day = started_at(&lines).map(japan_day);
    let card = match &args.card {
        Some(path) => Some(path.clone()),
        None => recorded_card(&args.trace, &lines),
    };
    let description = match &card {
        Some(path) => {
            let description = CardDescription::from_yaml_file(path)?;
            Some(match recorded_day {
                Some(day) => description.on_day(day),
                None => description,
            })
        }
        None => None,
    };
    let placed_from = args
        .trace
        .parent()
        .map_or_else(PathBuf::new, std::path::Path::to_path_buf);
    let mut target = open_target(
        &args,
        description.as_ref(),
        Placement {
            folder: placed_from,
            day: recorded_day,
            // Placements name cards as the start line does.
            first: args.card.is_none().then(|| start_card(&lines)).flatten(),
        },
    )?;
    let secrets = description
        .as_ref()
        .map(CardSecrets::of)
        .unwrap_or_default();
    let pins = if args.show_pins {
        PinRecording::Kept
    } else {
        PinRecording::Redacted
    };
    let report = replay_lines(&lines, target.as_mut(), &secrets, pins);
    let _ = target.transport().disconnect();

    print!("{}", render(&args, &report, &lines, pins));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|error| ReplayCliError::Usage(error.to_string()))?;
        std::fs::write(path, json).map_err(|source| ReplayCliError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(if report.is_identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The card the start line names, as written.
fn start_card(lines: &[(usize, TraceLine)]) -> Option<String> {
    lines.iter().find_map(|(_, line)| match &line.event {
        TraceEvent::Start { card, .. } => card.clone(),
        _ => None,
    })
}

/// The card the trace was made with, as its start line names it: an absolute path, or one
/// relative to the trace's folder (where `run --record` and `certify --record` put it), or
/// else relative to the working directory (a `card serve --record` of an older version).
fn recorded_card(trace: &std::path::Path, lines: &[(usize, TraceLine)]) -> Option<PathBuf> {
    let named = PathBuf::from(start_card(lines)?);
    if named.is_absolute() {
        return Some(named);
    }
    let beside = trace.parent().map(|folder| folder.join(&named));
    match beside {
        Some(beside) if beside.exists() || !named.exists() => Some(beside),
        _ => Some(named),
    }
}

/// Where the cards a trace places come from.
struct Placement {
    /// The folder their names are relative to (the trace's).
    folder: PathBuf,
    /// The day their relative dates count from (the recorded day).
    day: Option<chrono::NaiveDate>,
    /// The name of the card in the reader at the start.
    first: Option<String>,
}

/// The in-process emulation with the trace's cards: a card placed again comes back with its
/// state (retry counters), as in the session recorded.
struct VirtualTarget {
    reader: VirtualReader,
    placement: Placement,
    in_reader: Option<String>,
    out: std::collections::BTreeMap<String, Card>,
}

impl ReplayTarget for VirtualTarget {
    fn transport(&mut self) -> &mut dyn Transport {
        &mut self.reader
    }

    fn place(&mut self, name: &str) -> Result<CardSecrets, String> {
        let path = self.placement.folder.join(name);
        let description = CardDescription::from_yaml_file(&path).map_err(|e| e.to_string())?;
        let description = match self.placement.day {
            Some(day) => description.on_day(day),
            None => description,
        };
        let card = match self.out.remove(name) {
            Some(card) => card,
            None => {
                let pki = TestPki::load().map_err(|e| e.to_string())?;
                Card::from_description(&description, pki).map_err(|e| e.to_string())?
            }
        };
        let previous = self.reader.swap_card(card);
        if let (Some(previous), Some(previous_name)) = (previous, self.in_reader.take()) {
            self.out.insert(previous_name, previous);
        }
        self.in_reader = Some(name.to_owned());
        Ok(CardSecrets::of(&description))
    }
}

/// A reader whose card the replay cannot swap (a real one).
struct RealTarget(Box<dyn Transport>);

impl ReplayTarget for RealTarget {
    fn transport(&mut self) -> &mut dyn Transport {
        self.0.as_mut()
    }
}

fn open_target(
    args: &ReplayArgs,
    description: Option<&CardDescription>,
    placement: Placement,
) -> Result<Box<dyn ReplayTarget>, ReplayCliError> {
    match args
        .against
        .split_once(':')
        .map_or((args.against.as_str(), None), |(kind, name)| {
            (kind, Some(name))
        }) {
        ("virtual", None) => {
            let description = description.ok_or_else(|| {
                ReplayCliError::Usage(
                    "--against virtual needs --card FILE (the card to replay against): the trace's start line names no card".into(),
                )
            })?;
            let card = Card::from_description(description, TestPki::load()?)?;
            Ok(Box::new(VirtualTarget {
                reader: VirtualReader::with_card(card),
                in_reader: placement.first.clone(),
                placement,
                out: std::collections::BTreeMap::new(),
            }))
        }
        ("pcsc", name) => Ok(Box::new(RealTarget(open_pcsc(
            name,
            args.allow_real_card_changes,
        )?))),
        _ => Err(ReplayCliError::Usage(format!(
            "--against {}: expected `virtual` or `pcsc[:NAME]`",
            args.against
        ))),
    }
}

#[cfg(feature = "pcsc")]
fn open_pcsc(
    name: Option<&str>,
    allow_changes: bool,
) -> Result<Box<dyn Transport>, ReplayCliError> {
    use crate::transport::identify::RealCardPolicy;
    use crate::transport::pcsc::PcscTransport;
    let policy = if allow_changes {
        RealCardPolicy::AllowChanges
    } else {
        RealCardPolicy::Refuse
    };
    Ok(Box::new(PcscTransport::open(name, policy)?))
}

#[cfg(not(feature = "pcsc"))]
fn open_pcsc(
    _name: Option<&str>,
    _allow_changes: bool,
) -> Result<Box<dyn Transport>, ReplayCliError> {
    Err(ReplayCliError::Usage(
        "--against pcsc is not available in this build: rebuild with `--features pcsc` (needs libpcsclite-dev)".into(),
    ))
}

/// The calendar day in Japan (JST, UTC+9) at `at`: the day a card served there counts from.
pub(crate) fn japan_day(at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    at.checked_add_signed(chrono::Duration::hours(9))
        .unwrap_or(at)
        .date_naive()
}

/// How many transcript events are shown before and after a divergence.
const CONTEXT: usize = 2;

fn render(
    args: &ReplayArgs,
    report: &ReplayReport,
    lines: &[(usize, TraceLine)],
    pins: PinRecording,
) -> String {
    let mut text = format!(
        "replayed {} against {}: {} commands, {} power-ons, {} divergences\n",
        args.trace.display(),
        args.against,
        report.commands,
        report.atrs,
        report.divergences.len()
    );
    let shown = if args.all {
        report.divergences.len()
    } else {
        1
    };
    for (number, divergence) in report.divergences.iter().take(shown).enumerate() {
        let title = if number == 0 {
            "first divergence"
        } else {
            "divergence"
        };
        text.push_str(&format!(
            "{title} at line {}: {}\n  recorded {}\n  replayed {}\n",
            divergence.line,
            divergence.command,
            abbreviate(&divergence.recorded),
            abbreviate(&divergence.replayed)
        ));
        if !args.all {
            text.push_str(&context(lines, divergence.line, pins));
        }
    }
    if report.divergences.len() > shown {
        text.push_str(&format!(
            "… {} more divergences (--all lists them)\n",
            report.divergences.len() - shown
        ));
    }
    text
}

/// The recorded events around transcript line `line`, as a person reads them (PINs the trace
/// kept hidden again unless `pins` keeps them).
fn context(lines: &[(usize, TraceLine)], line: usize, pins: PinRecording) -> String {
    let Some(index) = lines.iter().position(|(number, _)| *number == line) else {
        return String::new();
    };
    let from = index.saturating_sub(CONTEXT);
    let to = (index + CONTEXT + 1).min(lines.len());
    let mut text = String::from("  around it, as recorded:\n");
    for (number, entry) in &lines[from..to] {
        let marker = if *number == line { ">" } else { " " };
        let what = match &entry.event {
            TraceEvent::Apdu {
                command, response, ..
            } => format!(
                "{} → {}",
                crate::trace::redact::recorded_command_hex(command, pins),
                abbreviate(response)
            ),
            TraceEvent::PowerOn { atr } => {
                format!("power on, ATR {}", atr.as_deref().unwrap_or("none"))
            }
            TraceEvent::Reset { atr } => format!("reset, ATR {}", atr.as_deref().unwrap_or("none")),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|value| {
                    value
                        .get("event")
                        .and_then(|e| e.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_default(),
        };
        text.push_str(&format!("  {marker} line {number}: {what}\n"));
    }
    text
}

/// Long answers (certificates) shown by their start, end and length.
fn abbreviate(hex: &str) -> String {
    const KEEP: usize = 48;
    if hex.len() <= 2 * KEEP + 8 || !hex.is_ascii() {
        return hex.to_owned();
    }
    format!(
        "{}…{} ({} bytes)",
        &hex[..KEEP],
        &hex[hex.len() - 8..],
        hex.len() / 2
    )
}

//! Executing scenarios: one reader slot per scenario, steps in order, the first failing step
//! ends the scenario. Results carry the transcript so that reports can show what happened.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::{Action, Scenario, Step};
use super::readers::{ReaderChoice, RealReaderSettings};
use super::schema::{
    PinExpectation, PinsExpectation, PowerAction, PowerExpectation, ReaderEvent,
    ResponseExpectation, TransportErrorKind,
};
use super::slot::{with_emulated_card, Applied, ReaderSlot};
use crate::apdu::to_spaced_hex;
use chrono::NaiveDate;

use super::checks::{
    calls_hold, describe_call_expectations, describe_calls, json_text, observed_reception,
    reception_field_holds, Check, TranscriptRule,
};
use super::schema::{
    written, FaceVerdict, InsuranceCardLookupDoc, ListMatch, ReceptionDoc, ReceptionStepExpectation,
};
use super::world::World;
use crate::apdu::StatusWord;
use crate::card::{Card, CardDescription, PinCounters, PinState};
use crate::oqs::codes::QualificationValidity;
use crate::oqs::registry::Registry;
use crate::oqs::InsuranceCardRequest;
use crate::oqs::{Oqs, OqsConfig};
use crate::pki::TestPki;
use crate::reader::Screen;
use crate::reader::{FaceOcr, Input, MessageCode, Network, Terminal, TerminalConfig};
use crate::trace::{Event, ExchangeAnswer, PinRecording, Transcript};
use crate::transport::recording::Recording;
use crate::transport::Transport;
use crate::transport::TransportError;
use std::collections::BTreeMap;

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub(crate) reader: ReaderChoice,
    /// Scenarios run at the same time (at least 1).
    pub(crate) jobs: usize,
    /// Show PINs in transcripts instead of redacting them.
    pub(crate) show_pins: bool,
    /// vpcd address and reader name, and the real-card policy (`vpcd`, `pcsc` readers).
    pub(crate) real: RealReaderSettings,
}

impl RunOptions {
    /// The in-process reader, PINs redacted.
    pub fn virtual_reader(jobs: usize) -> RunOptions {
        RunOptions {
            reader: ReaderChoice::Virtual,
            jobs,
            show_pins: false,
            real: RealReaderSettings::default(),
        }
    }
}

/// What became of one scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// Expectations did not hold: a step (the scenario stopped there), or scenario-level
    /// expectations (every one that failed, in file order).
    Failed(Failures),
    /// The scenario could not run (its card could not be built, the reader is unavailable).
    Error {
        /// Why the scenario could not run.
        message: String,
    },
    /// The scenario needs something this reader cannot give (and the runner says what).
    Skipped {
        /// What this reader cannot give.
        reason: String,
    },
}

/// The failing step: what it expected and what happened instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioFailure {
    /// 0-based index of the step in `steps:`.
    pub step: usize,
    /// "step 3 (select JPKI)".
    pub step_title: String,
    /// Line of the step in the scenario file.
    pub line: u64,
    /// What the step expected, as the report shows it.
    pub expected: String,
    /// What happened instead, as the report shows it.
    pub actual: String,
}

/// Every expectation of a scenario that did not hold, in file order; never empty. JSON shows
/// the first one's keys (`step`, `line`, `expected`, `actual` …) at the top, as reports always
/// did, and every one under `failures`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures {
    first: ScenarioFailure,
    more: Vec<ScenarioFailure>,
}

impl Failures {
    /// The failures in the order given; `None` when there are none.
    pub(crate) fn from_list(failures: Vec<ScenarioFailure>) -> Option<Failures> {
        let mut failures = failures.into_iter();
        let first = failures.next()?;
        Some(Failures {
            first,
            more: failures.collect(),
        })
    }

    /// The first failure in file order (the one reports lead with).
    pub fn first(&self) -> &ScenarioFailure {
        &self.first
    }

    /// Every failure, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &ScenarioFailure> {
        std::iter::once(&self.first).chain(&self.more)
    }
}

impl From<ScenarioFailure> for Failures {
    fn from(first: ScenarioFailure) -> Failures {
        Failures {
            first,
            more: Vec::new(),
        }
    }
}

impl Serialize for Failures {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            #[serde(flatten)]
            first: &'a ScenarioFailure,
            failures: Vec<&'a ScenarioFailure>,
        }
        View {
            first: &self.first,
            failures: self.iter().collect(),
        }
        .serialize(serializer)
    }
}

/// One line of a scenario's transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptEntry {
    /// The step that produced it (0-based).
    pub step: usize,
    /// Simulated time (virtual reader) or wall time (real readers) since the scenario started.
    pub at_us: u64,
    /// `>>` a command, `<<` an answer, `!!` a reader error, `--` a power change or event,
    /// `==` a check of card state.
    pub direction: &'static str,
    /// The command, answer, error or event, as the report prints it.
    pub text: String,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The scenario's `name:`.
    pub name: String,
    /// The scenario file.
    pub file: String,
    /// The scenario's `tags:`.
    pub tags: Vec<String>,
    /// Passed, failed (and why), error or skipped.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Steps executed (including the failing one).
    pub steps_run: usize,
    /// Steps the scenario has.
    pub steps_total: usize,
    /// Time the card and reader would have taken (simulated on the virtual reader).
    pub simulated_us: u64,
    /// Time the run took on this machine.
    pub wall_us: u64,
    /// Every command, answer and event of the run, in order.
    pub transcript: Vec<TranscriptEntry>,
    /// What the reception came to (the fields `expect.reception` compares), when the scenario
    /// has a world.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reception: Option<serde_json::Value>,
    /// Every reception of the scenario, in order (the last one is `reception`), when the
    /// scenario has a world.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receptions: Vec<serde_json::Value>,
    /// The calls the qualification system received.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub oqs_calls: Vec<crate::oqs::CallRecord>,
    /// The exchange log between reader and card (`run --record` writes it as a transcript).
    #[serde(skip)]
    pub exchanges: Transcript,
}

impl ScenarioResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Passed)
    }
}

/// Runs every scenario, `options.jobs` at a time; results come back in the input order.
pub(crate) fn run_all(scenarios: &[Scenario], options: &RunOptions) -> Vec<ScenarioResult> {
    // A real reader holds one card at a time: scenarios through it cannot overlap.
    let jobs = if options.reader.is_shared_hardware() {
        1
    } else {
        options.jobs.max(1)
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioResult>>> = Mutex::new(vec![None; scenarios.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(scenarios.len()) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(scenario) = scenarios.get(index) else {
                    break;
                };
                let result = run_scenario(scenario, options);
                if let Ok(mut slots) = results.lock() {
                    slots[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// How long one step (or opening the reader, or the power-on before the first step) may take
/// before the run gives up on the scenario. Generous: a reception through pcscd signs with
/// RSA-2048 and reads certificates in a few seconds; a step past this waits for an answer that
/// will never come (pcscd waits forever for a card that stays silent).
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one scenario on a fresh reader slot. Each step runs under [`STEP_TIMEOUT`]: a step that
/// does not finish ends the scenario with an error naming it, so that a run always ends.
pub fn run_scenario(scenario: &Scenario, options: &RunOptions) -> ScenarioResult {
    let owned = (scenario.clone(), options.clone());
    supervise(STEP_TIMEOUT, not_run(scenario), move |progress| {
        let (scenario, options) = owned;
        run_steps(&scenario, &options, progress)
    })
}

/// A result with nothing run yet, the outcome still to be decided.
fn not_run(scenario: &Scenario) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        tags: scenario.tags.clone(),
        outcome: Outcome::Passed,
        steps_run: 0,
        steps_total: scenario.steps.len(),
        simulated_us: 0,
        wall_us: 0,
        transcript: Vec::new(),
        reception: None,
        receptions: Vec::new(),
        oqs_calls: Vec::new(),
        exchanges: Transcript::default(),
    }
}

/// Where a running scenario is, for the error when it stops making progress.
struct Progress {
    sender: std::sync::mpsc::Sender<Report>,
}

enum Report {
    /// Something before or after the steps: opening the reader, the first power-on, the
    /// scenario-level expectations.
    Phase(&'static str),
    /// A step started.
    Step {
        index: usize,
        title: String,
        line: u64,
    },
    Done(Box<ScenarioResult>),
}

impl Progress {
    // A failed send means the supervisor already gave up on this scenario: nothing to tell.
    fn phase(&self, what: &'static str) {
        let _ = self.sender.send(Report::Phase(what));
    }

    fn step(&self, step: &Step) {
        let _ = self.sender.send(Report::Step {
            index: step.index,
            title: step.title(),
            line: step.line,
        });
    }
}

/// Runs `work` on its own thread and waits at most `timeout` for each of its phases. A phase
/// that outlasts it ends the scenario with an error naming the phase; the stuck thread is left
/// behind (a blocked PC/SC call cannot be cancelled) and ends with the process.
fn supervise(
    timeout: Duration,
    mut fallback: ScenarioResult,
    work: impl FnOnce(&Progress) -> ScenarioResult + Send + 'static,
) -> ScenarioResult {
    let started = Instant::now();
    let (sender, reports) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("scenario".into())
        .spawn(move || {
            let progress = Progress { sender };
            let result = work(&progress);
            let _ = progress.sender.send(Report::Done(Box::new(result)));
        });
    if let Err(error) = spawned {
        fallback.outcome = Outcome::Error {
            message: format!("could not start the scenario's thread: {error}"),
        };
        return fallback;
    }
    let mut current = "opening the reader".to_owned();
    let message = loop {
        match reports.recv_timeout(timeout) {
            Ok(Report::Done(result)) => return *result,
            Ok(Report::Phase(what)) => current = what.to_owned(),
            Ok(Report::Step { index, title, line }) => {
                fallback.steps_run = index + 1;
                current = format!("{title} (line {line})");
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                break format!(
                    "{current} did not finish within {} s: the reader or the card stopped answering",
                    timeout.as_secs_f64()
                );
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break format!("the runner stopped unexpectedly during {current}");
            }
        }
    };
    fallback.outcome = Outcome::Error { message };
    fallback.wall_us = micros(started.elapsed());
    fallback
}

fn run_steps(scenario: &Scenario, options: &RunOptions, progress: &Progress) -> ScenarioResult {
    let started = Instant::now();
    let mut result = not_run(scenario);
    if let Some(reason) = options.reader.skipped_by(scenario) {
        result.outcome = Outcome::Skipped { reason };
        return result;
    }
    if let Err(reason) = options.reader.supports(scenario.needs()) {
        result.outcome = Outcome::Skipped { reason };
        return result;
    }
    let slot = match options.reader.open(scenario, &options.real) {
        Ok(slot) => slot,
        Err(error) => {
            result.outcome = Outcome::Error {
                message: error.to_string(),
            };
            return result;
        }
    };
    let world = match scenario.world.as_ref().zip(scenario.clock) {
        Some((world, clock)) => match WorldState::start(world, clock) {
            Ok(state) => Some(state),
            Err(message) => {
                result.outcome = Outcome::Error { message };
                return result;
            }
        },
        None => None,
    };
    let mut engine = Engine {
        cards: CardRack {
            described: scenario
                .world
                .as_ref()
                .map(|world| world.cards.clone())
                .unwrap_or_default(),
            out: BTreeMap::new(),
            in_reader: scenario.card_name.clone(),
            day: scenario
                .clock
                .unwrap_or(crate::card::description::RELATIVE_DATES_REFERENCE_DAY),
        },
        slot,
        notes: Vec::new(),
        exchanges: Transcript::default(),
        world,
        show_pins: options.show_pins,
        started,
    };
    // The agreed format: the card is powered before the first step — except in a reception
    // scenario, where the reader flow powers the card itself when it is placed (so that a
    // mute card is the reader's finding, not a failed precondition).
    let implicit_power = scenario.world.is_none();
    progress.phase("the power-on before the first step");
    let powered = if implicit_power {
        engine.power(None, PowerAction::On, &PowerExpectation::default())
    } else {
        Ok(())
    };
    if let Err(failure) = powered {
        result.outcome = Outcome::Failed(failure.into());
    } else if let Some(reason) = {
        progress.phase("checking whose card is in the reader");
        refusal(scenario, engine.slot.as_mut(), options)
    } {
        result.outcome = Outcome::Skipped { reason };
    } else {
        for step in &scenario.steps {
            result.steps_run += 1;
            progress.step(step);
            if let Err(failure) = engine.execute(step) {
                result.outcome = Outcome::Failed(failure.into());
                break;
            }
        }
        if matches!(result.outcome, Outcome::Passed) {
            progress.phase("the scenario-level expectations");
            if let Some(failures) = Failures::from_list(engine.final_checks(scenario)) {
                result.outcome = Outcome::Failed(failures);
            }
        }
    }
    result.simulated_us = micros(engine.now());
    if let Some(world) = &engine.world {
        // The full answer and the reader's own APDU log are in the transcript already.
        let shown = |mut observed: serde_json::Map<String, serde_json::Value>| {
            observed.remove("response");
            observed.remove("apdus");
            serde_json::Value::Object(observed)
        };
        result.reception = Some(shown(world.observed()));
        result.receptions = world.receptions().into_iter().map(shown).collect();
        result.oqs_calls = world.service.service().calls();
    }
    result.transcript = engine.transcript();
    result.exchanges = engine.exchanges;
    result.wall_us = micros(started.elapsed());
    result
}

/// Why a scenario must not run on the card in the slot: it would consume PIN tries or change
/// a card that is not proven to be our emulation, and the user did not allow that.
fn refusal(scenario: &Scenario, slot: &mut dyn ReaderSlot, options: &RunOptions) -> Option<String> {
    use crate::transport::identify::RealCardPolicy;
    if options.real.policy == RealCardPolicy::AllowChanges {
        return None;
    }
    // Behind vpcd the card is ours by construction.
    if matches!(options.reader, ReaderChoice::Vpcd | ReaderChoice::Listen) {
        return None;
    }
    let (step, change) = scenario.first_card_change()?;
    let transport = slot.transport();
    if scenario.world.is_some() {
        // Reception scenarios connect at `place_card`; probe the card now to know whose it is.
        let _ = transport.connect();
        let emulated = transport.is_emulated_card();
        let _ = transport.disconnect();
        if emulated {
            return None;
        }
    } else if transport.is_emulated_card() {
        return None;
    }
    Some(format!(
        "refused: {} {change}, and the card in {} is not proven to be myna-hil's emulation; a harness \
         must never lock or change a real card. Pass --allow-real-card-changes only for a card you own",
        step.title(),
        transport.describe()
    ))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The qualification system and the terminal of a scenario with a world.
pub(crate) struct WorldState {
    /// The reader of the current reception (a new one starts at each placement after a
    /// finished reception).
    pub(crate) terminal: Terminal,
    pub(crate) service: Network<Oqs>,
    pub(crate) facility_code: String,
    pub(crate) date: NaiveDate,
    /// What each finished reception came to, in order (the current one is `terminal`).
    pub(crate) finished_receptions: Vec<serde_json::Map<String, serde_json::Value>>,
    /// The name of the card placed in the current reception, when the card has one.
    pub(crate) reception_card: Option<String>,
    /// Whether the current reception has begun (a card was placed).
    reception_started: bool,
    /// The terminal's settings, to start the reader of the next reception.
    terminal_config: TerminalConfig,
}

impl WorldState {
    fn start(world: &World, clock: NaiveDate) -> Result<WorldState, String> {
        let oqs = Oqs::new(
            // Built at load; the service owns its copy, so every run starts from the same one.
            Registry::clone(&world.registry),
            OqsConfig {
                // Reproducible challenges: the same scenario signs the same bytes every run.
                challenge_seed: Some(1),
                ..OqsConfig::default()
            },
        )
        .map_err(|error| format!("starting the qualification system: {error}"))?;
        if world.faults.jlis_down {
            oqs.set_jlis_available(false);
        }
        let service = Network::new(oqs);
        if world.faults.network_down {
            service.set_up(false);
            service.service().set_reachable(false);
        }
        let terminal_config = TerminalConfig {
            facility_code: world.facility_code.clone(),
            date: clock,
            time: None,
            options: world.reader.clone(),
        };
        Ok(WorldState {
            terminal: Terminal::new(terminal_config.clone()),
            service,
            facility_code: world.facility_code.clone(),
            date: clock,
            finished_receptions: Vec::new(),
            reception_card: None,
            reception_started: false,
            terminal_config,
        })
    }

    /// The current reception as `expect.reception` compares it: the reader's outcome plus the
    /// name of the card placed.
    pub(crate) fn observed(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut observed = observed_reception(self.terminal.outcome(), self.terminal.screen());
        observed.insert(
            "card".into(),
            self.reception_card
                .clone()
                .map_or(serde_json::Value::Null, serde_json::Value::from),
        );
        observed
    }

    /// Every reception of the scenario so far, in order (`expect.receptions`).
    pub(crate) fn receptions(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let mut all = self.finished_receptions.clone();
        if self.reception_started || all.is_empty() {
            all.push(self.observed());
        }
        all
    }

    /// A card is placed: after a finished reception, the next one starts with a fresh reader
    /// screen on the scenario's current date.
    fn begin_placement(&mut self, card: Option<String>) {
        if self.terminal.screen() == Screen::Finished {
            self.finished_receptions.push(self.observed());
            let config = TerminalConfig {
                date: self.date,
                ..self.terminal_config.clone()
            };
            self.terminal = Terminal::new(config);
        }
        self.reception_started = true;
        self.reception_card = card;
    }
}

/// The scenario's named cards outside the reader, and which one is in it.
struct CardRack {
    /// The world's cards by name, as described (a card is built when first placed).
    described: BTreeMap<String, CardDescription>,
    /// Named cards taken out of the reader, with their state (retry counters, files).
    out: BTreeMap<String, Card>,
    /// The name of the card in the reader; `None` for an unnamed one (inline, a card file).
    in_reader: Option<String>,
    /// The day relative card dates are read on (the scenario's clock).
    day: NaiveDate,
}

/// A line the runner writes itself, placed after the exchange-log entries there were when it
/// was written.
struct Note {
    line: TranscriptEntry,
    after: usize,
}

/// The report's transcript: each command of the exchange log (`>>` when sent, then `<<` the
/// answer after the card's time, or `!!` the reader's error) with the runner's notes between
/// them, in the order they happened. Rendered when the report is made, from the one log.
fn render_transcript(log: &Transcript, notes: &[Note], pins: PinRecording) -> Vec<TranscriptEntry> {
    let mut lines = Vec::new();
    let mut notes = notes.iter().peekable();
    for (index, entry) in log.entries.iter().enumerate() {
        while let Some(note) = notes.next_if(|note| note.after <= index) {
            lines.push(note.line.clone());
        }
        let Event::Apdu(exchange) = &entry.event else {
            continue;
        };
        let step = entry.step.unwrap_or(0);
        let sent_us = micros(entry.at);
        lines.push(TranscriptEntry {
            step,
            at_us: sent_us,
            direction: ">>",
            text: exchange.command_text(pins),
        });
        let answered_us = sent_us + micros(exchange.card_time.unwrap_or_default());
        let (direction, text) = match &exchange.answer {
            ExchangeAnswer::Response(rapdu) => ("<<", describe_rapdu(rapdu)),
            ExchangeAnswer::Failed(failure) => ("!!", failure.to_string()),
        };
        lines.push(TranscriptEntry {
            step,
            at_us: answered_us,
            direction,
            text,
        });
    }
    lines.extend(notes.map(|note| note.line.clone()));
    lines
}

/// The state of one running scenario: its reader slot and what has happened so far.
pub(crate) struct Engine {
    pub(crate) slot: Box<dyn ReaderSlot>,
    cards: CardRack,
    /// The runner's own lines (checks, power changes, events); the report's transcript is
    /// these and the exchange log, rendered when the scenario ends ([`render_transcript`]).
    notes: Vec<Note>,
    /// Everything that passed between the reader and the card (by the scenario or the reader
    /// flow), secrets included, each entry with its step; hidden when rendered.
    pub(crate) exchanges: Transcript,
    pub(crate) world: Option<WorldState>,
    show_pins: bool,
    started: Instant,
}

impl Engine {
    fn now(&self) -> Duration {
        self.slot
            .elapsed()
            .unwrap_or_else(|| self.started.elapsed())
    }

    fn log(&mut self, step: usize, direction: &'static str, text: String) {
        let at_us = micros(self.now());
        self.log_at(step, at_us, direction, text);
    }

    fn log_at(&mut self, step: usize, at_us: u64, direction: &'static str, text: String) {
        self.notes.push(Note {
            line: TranscriptEntry {
                step,
                at_us,
                direction,
                text,
            },
            after: self.exchanges.entries.len(),
        });
    }

    /// The transcript as the report shows it, secrets hidden unless `--show-pins`.
    pub(crate) fn transcript(&self) -> Vec<TranscriptEntry> {
        render_transcript(&self.exchanges, &self.notes, self.pin_recording())
    }

    fn pin_recording(&self) -> PinRecording {
        if self.show_pins {
            PinRecording::Kept
        } else {
            PinRecording::Redacted
        }
    }

    /// Keeps what a step's recording saw in the exchange log. The recording counts from its
    /// own start, `began` on the scenario's clock; the log's times never go back (the virtual
    /// reader's clock is simulated, a step's recording counts wall time).
    fn keep(&mut self, step: usize, began: Duration, recorded: Transcript) {
        // On the virtual reader the clock is the card's own time: each command starts when
        // the one before it was answered.
        let simulated = self.slot.elapsed().is_some();
        let mut card_clock = began;
        for entry in recorded.entries {
            let at = if simulated {
                card_clock
            } else {
                began + entry.at
            };
            if let Event::Apdu(exchange) = &entry.event {
                card_clock += exchange.card_time.unwrap_or_default();
            }
            self.push_entry(step, at, entry.event);
        }
    }

    fn push_entry(&mut self, step: usize, at: Duration, event: Event) {
        let last = self
            .exchanges
            .entries
            .last()
            .map_or(Duration::ZERO, |entry| entry.at);
        self.exchanges.push_in_step(at.max(last), step, event);
    }

    /// Notes a reader event (beside the transport) in the exchange log.
    fn keep_event(&mut self, step: usize, event: Event) {
        let at = self.now();
        self.push_entry(step, at, event);
    }

    /// Every command sent in the scenario, with its step.
    fn sent_commands(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.exchanges
            .entries
            .iter()
            .filter_map(|entry| match &entry.event {
                Event::Apdu(exchange) => Some((entry.step?, exchange.command.as_slice())),
                _ => None,
            })
    }

    fn fail(step: &Step, expected: String, actual: String) -> ScenarioFailure {
        ScenarioFailure {
            step: step.index,
            step_title: step.title(),
            line: step.line,
            expected,
            actual,
        }
    }

    /// Executes one step; `Err` is the reason the scenario fails here.
    pub(crate) fn execute(&mut self, step: &Step) -> Result<(), ScenarioFailure> {
        match &step.action {
            Action::Send { apdu, expect } => self.send(step, apdu, expect),
            Action::Power { action, expect } => self.power(Some(step), *action, expect),
            Action::Pins(expected) => self.pins(step, expected),
            Action::Event(event) => self.event(step, *event),
            Action::AdvanceClock { days } => self.advance_clock(step, *days),
            Action::Reception { input, expect } => self.reception(step, input, expect),
            Action::InsuranceCardLookup { request, validity } => {
                self.insurance_card_lookup(step, request, *validity)
            }
        }
    }

    /// Moves the scenario clock forward: later receptions and lookups happen on the new date.
    fn advance_clock(&mut self, step: &Step, days: u32) -> Result<(), ScenarioFailure> {
        let Some(world) = self.world.as_mut() else {
            return Err(Self::fail(
                step,
                format!("advance_clock: {{ days: {days} }}"),
                "the scenario has no world".into(),
            ));
        };
        let Some(date) = world.date.checked_add_days(chrono::Days::new(days.into())) else {
            return Err(Self::fail(
                step,
                format!("advance_clock: {{ days: {days} }}"),
                "the date would leave the calendar".into(),
            ));
        };
        world.date = date;
        world.terminal.set_date(date);
        self.log(
            step.index,
            "--",
            format!("advance_clock: the date is {date}"),
        );
        Ok(())
    }

    fn insurance_card_lookup(
        &mut self,
        step: &Step,
        request: &InsuranceCardLookupDoc,
        validity: Option<QualificationValidity>,
    ) -> Result<(), ScenarioFailure> {
        let expected = match validity {
            Some(validity) => format!("validity {}", written(&validity)),
            None => "no answer (validity null)".to_owned(),
        };
        let Some(world) = &self.world else {
            return Err(Self::fail(
                step,
                expected,
                "the scenario has no world".into(),
            ));
        };
        let summary = format!(
            "insurance_card_lookup {} {}-{}-{}",
            request.insurer_number, request.symbol, request.number, request.branch
        );
        // A staff lookup goes over the same network as the reader's checks.
        if !world.service.is_up() {
            self.log(
                step.index,
                "==",
                format!("{summary}: no answer (network outage)"),
            );
            return if validity.is_none() {
                Ok(())
            } else {
                Err(Self::fail(
                    step,
                    expected,
                    "no answer: the network is down (event: network_outage)".into(),
                ))
            };
        }
        let answer = world
            .service
            .service()
            .lookup_by_insurance_card(&InsuranceCardRequest {
                insurer_number: request.insurer_number.clone(),
                symbol: request.symbol.clone(),
                number: request.number.clone(),
                branch: request.branch.clone(),
                birth_date: request.birth_date,
                facility_code: world.facility_code.clone(),
                date: world.date,
                time: None,
                arbitrary_file_identifier: None,
                character_code: Default::default(),
                limit_consent: true,
                echo: None,
            });
        let actual = answer.body.qualification_validity;
        let actual_text = format!(
            "validity {} (outcome {})",
            actual.as_ref().map_or("null".to_owned(), written),
            written(&answer.outcome)
        );
        self.log(step.index, "==", format!("{summary}: {actual_text}"));
        match validity {
            Some(_) if actual == validity => Ok(()),
            None => Err(Self::fail(
                step,
                expected,
                format!("an answer: {actual_text}"),
            )),
            Some(_) => Err(Self::fail(step, expected, actual_text)),
        }
    }

    /// Puts the scenario's card `name` into the reader, taking out (and keeping) the one there.
    fn put_in_reader(&mut self, step: &Step, name: &str) -> Result<(), ScenarioFailure> {
        if self.cards.in_reader.as_deref() == Some(name) {
            return Ok(());
        }
        let expected = format!("the card `{name}` placed on the reader");
        let card = match self.cards.out.remove(name) {
            Some(card) => card,
            None => {
                let Some(description) = self.cards.described.get(name) else {
                    return Err(Self::fail(
                        step,
                        expected,
                        "the world has no card of that name".into(),
                    ));
                };
                TestPki::load()
                    .map_err(|error| error.to_string())
                    .and_then(|pki| {
                        Card::from_description(&description.on_day(self.cards.day), pki)
                            .map_err(|error| error.to_string())
                    })
                    .map_err(|error| {
                        Self::fail(step, expected.clone(), format!("cannot build it: {error}"))
                    })?
            }
        };
        match self.slot.swap_card(card) {
            Ok(previous) => {
                if let (Some(previous_name), Some(previous)) =
                    (self.cards.in_reader.take(), previous)
                {
                    self.cards.out.insert(previous_name, previous);
                }
                self.cards.in_reader = Some(name.to_owned());
                self.keep_event(
                    step.index,
                    Event::CardPlaced {
                        card: name.to_owned(),
                    },
                );
                self.log(
                    step.index,
                    "--",
                    format!("the card `{name}` is put on the reader"),
                );
                Ok(())
            }
            Err(error) => Err(Self::fail(step, expected, describe_error(&error))),
        }
    }

    fn reception(
        &mut self,
        step: &Step,
        input: &ReceptionDoc,
        expect: &ReceptionStepExpectation,
    ) -> Result<(), ScenarioFailure> {
        let placed = match input {
            ReceptionDoc::PlaceNamedCard(name) => {
                self.put_in_reader(step, name)?;
                Some(Some(name.clone()))
            }
            ReceptionDoc::PlaceCard => Some(self.cards.in_reader.clone()),
            _ => None,
        };
        let reader_input = match input {
            ReceptionDoc::PlaceCard | ReceptionDoc::PlaceNamedCard(_) => Input::PlaceCard,
            ReceptionDoc::RemoveCard => Input::RemoveCard,
            ReceptionDoc::ReaderRestarted => Input::ReaderRestarted,
            ReceptionDoc::ChooseFace => {
                match with_emulated_card(self.slot.as_mut(), FaceOcr::of_card) {
                    Some(ocr) => Input::ChooseFace { ocr },
                    None => {
                        return Err(Self::fail(
                            step,
                            "the card front read by OCR".into(),
                            "the card is not our emulation, so its front is unknown: use \
                         `choose_face_with_ocr` with the printed values"
                                .into(),
                        ))
                    }
                }
            }
            ReceptionDoc::ChooseFaceWithOcr(ocr) => Input::ChooseFace { ocr: ocr.clone() },
            ReceptionDoc::ChoosePin => Input::ChoosePin,
            ReceptionDoc::ChooseVisual => Input::ChooseVisual,
            ReceptionDoc::FaceResult(verdict) => Input::FaceResult {
                matched: *verdict == FaceVerdict::Match,
            },
            ReceptionDoc::EnterPin(pin) => Input::EnterPin { pin: pin.clone() },
            ReceptionDoc::StaffCheck(confirmed) => Input::StaffCheck {
                confirmed: *confirmed,
            },
            ReceptionDoc::ConsentMode(mode) => Input::ConsentMode { mode: *mode },
            ReceptionDoc::Consent(agree) => Input::Consent { agree: *agree },
            ReceptionDoc::Register(agree) => Input::Register { agree: *agree },
        };
        let began = self.now();
        let Some(world) = self.world.as_mut() else {
            return Err(Self::fail(
                step,
                format!("reception: {input}"),
                "the scenario has no world (registry, cards)".into(),
            ));
        };
        if let Some(card) = placed {
            world.begin_placement(card);
        }
        let messages_before = world.terminal.outcome().message_codes.len();
        let mut recording = Recording::new(self.slot.transport());
        let handled = world
            .terminal
            .handle(reader_input, &mut recording, &world.service);
        let recorded = recording.take_transcript();
        let screen = world.terminal.screen();
        let shown: Vec<MessageCode> =
            world.terminal.outcome().message_codes[messages_before..].to_vec();
        // The reader flow's power changes stay in the log; the report shows its commands.
        self.keep(step.index, began, recorded);
        let shown_text = describe_messages(&shown);
        self.log(
            step.index,
            "==",
            format!("reception: {input}; screen {}{shown_text}", screen),
        );
        if let Err(unexpected) = handled {
            return Err(Self::fail(
                step,
                format!("the reader takes `{}`", input.name()),
                unexpected.to_string(),
            ));
        }
        let screen_ok = expect.screen.is_none_or(|want| want == screen);
        let messages_ok = expect
            .messages
            .as_ref()
            .is_none_or(|want| want.holds(&shown));
        if screen_ok && messages_ok {
            return Ok(());
        }
        let mut expected = Vec::new();
        if let Some(want) = expect.screen {
            expected.push(format!("screen {}", want));
        }
        if let Some(want) = &expect.messages {
            let containing = match want.matching {
                ListMatch::Exactly => "",
                ListMatch::Contains => "containing, in this order, ",
            };
            expected.push(format!(
                "messages {containing}[{}]",
                codes_text(&want.items)
            ));
        }
        Err(Self::fail(
            step,
            expected.join(", "),
            format!("screen {}, messages [{}]", screen, codes_text(&shown)),
        ))
    }

    /// Checks every scenario-level expectation after the last step; returns those that do not
    /// hold, in file order.
    fn final_checks(&mut self, scenario: &Scenario) -> Vec<ScenarioFailure> {
        let mut failures = Vec::new();
        for (index, located) in scenario.checks.iter().enumerate() {
            if let Err((expected, actual)) = self.holds(&located.check) {
                failures.push(ScenarioFailure {
                    step: scenario.steps.len() + index,
                    step_title: located.field.clone(),
                    line: located.line,
                    expected,
                    actual,
                });
            }
        }
        failures
    }

    /// Whether one scenario-level expectation holds; `Err` says what was expected and what
    /// was observed.
    fn holds(&self, check: &Check) -> Result<(), (String, String)> {
        match check {
            Check::Reception {
                field,
                expected,
                matching,
                reception,
            } => {
                let Some(world) = &self.world else {
                    return Err((json_text(expected), "no reception".into()));
                };
                let observed = match reception {
                    None => world.observed(),
                    Some(index) => {
                        let all = world.receptions();
                        match all.get(*index) {
                            Some(observed) => observed.clone(),
                            None => {
                                return Err((
                                    format!(
                                        "{field} {} in reception {}",
                                        json_text(expected),
                                        index + 1
                                    ),
                                    format!("{} reception(s) happened", all.len()),
                                ))
                            }
                        }
                    }
                };
                let actual = observed
                    .get(field)
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                if reception_field_holds(field, expected, *matching, &actual) {
                    Ok(())
                } else {
                    let containing = match matching {
                        ListMatch::Exactly => "",
                        ListMatch::Contains => "containing, in this order, ",
                    };
                    Err((
                        format!("{field} {containing}{}", json_text(expected)),
                        format!("{field} {}", json_text(&actual)),
                    ))
                }
            }
            Check::CardPins(expected) => {
                let Some(counters) = self.slot.pin_counters() else {
                    return Err((
                        describe_pins_expectation(expected),
                        "retry counters cannot be read on this reader".into(),
                    ));
                };
                let holds = [
                    (expected.auth, counters.auth),
                    (expected.signing, counters.signing),
                    (expected.text, counters.text),
                ]
                .iter()
                .all(|(want, have)| want.is_none_or(|want| pin_matches(want, *have)));
                if holds {
                    Ok(())
                } else {
                    Err((
                        describe_pins_expectation(expected),
                        describe_counters(&counters),
                    ))
                }
            }
            Check::Transcript(rule) => {
                let (pattern, after) = match rule {
                    TranscriptRule::Never { pattern, after }
                    | TranscriptRule::Sent { pattern, after, .. } => (pattern, after),
                };
                let matching: Vec<(usize, &[u8])> = self
                    .sent_commands()
                    .filter(|(step, _)| after.as_ref().is_none_or(|(after, _)| step > after))
                    .filter(|(_, command)| pattern.matches(command))
                    .collect();
                let holds = match rule {
                    TranscriptRule::Never { .. } => matching.is_empty(),
                    TranscriptRule::Sent { count: Some(n), .. } => matching.len() == *n,
                    TranscriptRule::Sent { count: None, .. } => !matching.is_empty(),
                };
                if holds {
                    return Ok(());
                }
                let first = matching
                    .first()
                    .map(|(step, command)| {
                        format!(
                            ", the first at step {}: {}",
                            step + 1,
                            crate::trace::redact::command_text(
                                command,
                                self.pin_recording() == PinRecording::Redacted
                            )
                        )
                    })
                    .unwrap_or_default();
                Err((
                    rule.to_string(),
                    format!("{} matching command(s){first}", matching.len()),
                ))
            }
            Check::ReceptionCount(expected) => {
                let happened = self
                    .world
                    .as_ref()
                    .map_or(0, |world| world.receptions().len());
                if happened == *expected {
                    Ok(())
                } else {
                    Err((
                        format!("{expected} reception(s)"),
                        format!("{happened} reception(s)"),
                    ))
                }
            }
            Check::OqsCalls(expected) => {
                let calls = self
                    .world
                    .as_ref()
                    .map(|world| world.service.service().calls())
                    .unwrap_or_default();
                if calls_hold(expected, &calls) {
                    Ok(())
                } else {
                    Err((describe_call_expectations(expected), describe_calls(&calls)))
                }
            }
        }
    }

    fn send(
        &mut self,
        step: &Step,
        apdu: &[u8],
        expect: &ResponseExpectation,
    ) -> Result<(), ScenarioFailure> {
        let began = self.now();
        let mut recording = Recording::new(self.slot.transport());
        let answer = recording.transmit(apdu);
        let recorded = recording.take_transcript();
        self.keep(step.index, began, recorded);
        let expected = describe_response_expectation(expect);
        match (answer, expect.error) {
            (Ok(rapdu), None) => {
                let Some(sw) = StatusWord::from_rapdu(&rapdu) else {
                    return Err(Self::fail(
                        step,
                        expected,
                        format!("a malformed answer: {}", to_spaced_hex(&rapdu)),
                    ));
                };
                let data = &rapdu[..rapdu.len() - 2];
                let sw_ok = expect.sw.is_none_or(|pattern| pattern.matches(sw.0));
                let data_ok = expect
                    .data
                    .as_ref()
                    .is_none_or(|pattern| pattern.matches(data));
                let len_ok = expect.data_len.is_none_or(|len| len == data.len());
                if sw_ok && data_ok && len_ok {
                    Ok(())
                } else {
                    Err(Self::fail(step, expected, describe_rapdu(&rapdu)))
                }
            }
            (Ok(rapdu), Some(kind)) => Err(Self::fail(
                step,
                expected,
                format!(
                    "the card answered instead of the reader reporting `{kind}`: {}",
                    describe_rapdu(&rapdu)
                ),
            )),
            (Err(error), None) => Err(Self::fail(
                step,
                expected,
                format!("no answer: {}", describe_error(&error)),
            )),
            (Err(error), Some(kind)) if TransportErrorKind::of(&error) == kind => Ok(()),
            (Err(error), Some(_)) => Err(Self::fail(step, expected, describe_error(&error))),
        }
    }

    /// `step` is `None` for the implicit power-on before the first step.
    fn power(
        &mut self,
        step: Option<&Step>,
        action: PowerAction,
        expect: &PowerExpectation,
    ) -> Result<(), ScenarioFailure> {
        let index = step.map_or(0, |s| s.index);
        let result = match action {
            PowerAction::On | PowerAction::Off => {
                let began = self.now();
                let mut recording = Recording::new(self.slot.transport());
                let result = match action {
                    PowerAction::On => recording.connect().map(Some),
                    _ => recording.disconnect().map(|()| None),
                };
                let recorded = recording.take_transcript();
                self.keep(index, began, recorded);
                result
            }
            PowerAction::Reset => {
                let result = self.slot.reset();
                let event = match &result {
                    Ok(atr) => Event::Reset {
                        atr: Some(atr.clone()),
                    },
                    Err(error) => Event::PowerFailed {
                        change: crate::trace::PowerChange::Reset,
                        error: error.failure(),
                    },
                };
                self.keep_event(index, event);
                result.map(Some)
            }
        };
        match &result {
            Ok(Some(atr)) => self.log(
                index,
                "--",
                format!("power: {action}; ATR {}", to_spaced_hex(atr)),
            ),
            Ok(None) => self.log(index, "--", format!("power: {action}")),
            Err(error) => self.log(
                index,
                "!!",
                format!("power: {action}; {}", describe_error(error)),
            ),
        }
        let expected = describe_power_expectation(action, expect);
        let fail = |actual: String| match step {
            Some(step) => Self::fail(step, expected.clone(), actual),
            None => ScenarioFailure {
                step: 0,
                step_title: "power-on before the first step".into(),
                line: 0,
                expected: expected.clone(),
                actual,
            },
        };
        match (result, expect.error) {
            (Ok(atr), None) => match (&expect.atr, atr) {
                (Some(pattern), Some(atr)) if !pattern.matches(&atr) => {
                    Err(fail(format!("ATR {}", to_spaced_hex(&atr))))
                }
                _ => Ok(()),
            },
            (Ok(_), Some(kind)) => Err(fail(format!(
                "power: {action} succeeded instead of the reader reporting `{kind}`"
            ))),
            (Err(error), Some(kind)) if TransportErrorKind::of(&error) == kind => Ok(()),
            (Err(error), _) => Err(fail(describe_error(&error))),
        }
    }

    fn pins(&mut self, step: &Step, expected: &PinsExpectation) -> Result<(), ScenarioFailure> {
        let Some(counters) = self.slot.pin_counters() else {
            return Err(Self::fail(
                step,
                describe_pins_expectation(expected),
                "retry counters cannot be read on this reader".into(),
            ));
        };
        let actual = describe_counters(&counters);
        self.log(step.index, "==", format!("PIN tries left: {actual}"));
        let checks = [
            (expected.auth, counters.auth),
            (expected.signing, counters.signing),
            (expected.text, counters.text),
        ];
        let holds = checks.iter().all(|(want, have)| match want {
            None => true,
            Some(want) => pin_matches(*want, *have),
        });
        if holds {
            Ok(())
        } else {
            Err(Self::fail(
                step,
                describe_pins_expectation(expected),
                actual,
            ))
        }
    }

    fn event(&mut self, step: &Step, event: ReaderEvent) -> Result<(), ScenarioFailure> {
        if event.is_world_event() {
            let Some(world) = self.world.as_ref() else {
                return Err(Self::fail(
                    step,
                    format!("event: {event}"),
                    "the scenario has no world".into(),
                ));
            };
            match event {
                // The outage stops every call: the reader's, the staff's 被保険者証 lookups and
                // the file interface's.
                ReaderEvent::NetworkOutage => {
                    world.service.set_up(false);
                    world.service.service().set_reachable(false);
                }
                ReaderEvent::NetworkRestored => {
                    world.service.set_up(true);
                    world.service.service().set_reachable(true);
                }
                ReaderEvent::JlisOutage => world.service.service().set_jlis_available(false),
                _ => world.service.service().set_jlis_available(true),
            }
            self.log(step.index, "--", format!("event: {event}"));
            return Ok(());
        }
        if !self.slot.capabilities().slot_events {
            return Err(Self::fail(
                step,
                format!("event: {event}"),
                "reader events need the virtual reader (--reader virtual)".into(),
            ));
        }
        let applied = self.slot.apply(event);
        match &applied {
            Ok(Applied::Done { power }) => {
                match event {
                    ReaderEvent::Remove => self.keep_event(step.index, Event::Removed),
                    ReaderEvent::Insert => self.keep_event(step.index, Event::Inserted),
                    ReaderEvent::PowerCycle => self.keep_event(step.index, Event::PowerOff),
                    _ => {}
                }
                match power {
                    Some(Ok(atr)) => self.keep_event(
                        step.index,
                        Event::PowerOn {
                            atr: Some(atr.clone()),
                        },
                    ),
                    Some(Err(error)) => self.keep_event(
                        step.index,
                        Event::PowerFailed {
                            change: crate::trace::PowerChange::On,
                            error: error.failure(),
                        },
                    ),
                    None => {}
                }
            }
            Ok(Applied::Rejected(_)) | Err(_) => {}
        }
        match applied {
            Ok(Applied::Done { power }) => {
                let text = match power {
                    Some(Ok(atr)) => format!("event: {event}; ATR {}", to_spaced_hex(&atr)),
                    Some(Err(error)) => format!("event: {event}; {}", describe_error(&error)),
                    None => format!("event: {event}"),
                };
                self.log(step.index, "--", text);
                Ok(())
            }
            Ok(Applied::Rejected(problem)) => {
                self.log(step.index, "--", format!("event: {event}"));
                Err(Self::fail(step, format!("event: {event}"), problem))
            }
            Err(error) => {
                self.log(
                    step.index,
                    "!!",
                    format!("event: {event}; {}", describe_error(&error)),
                );
                Err(Self::fail(
                    step,
                    format!("event: {event}"),
                    describe_error(&error),
                ))
            }
        }
    }
}

fn codes_text(codes: &[MessageCode]) -> String {
    codes
        .iter()
        .map(|code| code.code())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_messages(codes: &[MessageCode]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        format!(", messages [{}]", codes_text(codes))
    }
}

fn pin_matches(want: PinExpectation, have: Option<PinState>) -> bool {
    match (want, have) {
        (PinExpectation::Absent, None) => true,
        (PinExpectation::TriesLeft(n), Some(state)) => state.tries_left == n,
        _ => false,
    }
}

/// "SW 90 00 (success), 4 bytes: 30 82 05 1A".
pub(crate) fn describe_rapdu(rapdu: &[u8]) -> String {
    let Some(sw) = StatusWord::from_rapdu(rapdu) else {
        return format!("malformed answer {}", to_spaced_hex(rapdu));
    };
    let data = &rapdu[..rapdu.len() - 2];
    let sw_text = format!("SW {sw} ({})", sw.meaning());
    if data.is_empty() {
        format!("{sw_text}, no data")
    } else {
        format!(
            "{sw_text}, {} bytes: {}",
            data.len(),
            super::pattern::spaced_hex_elided(data, 16)
        )
    }
}

fn describe_error(error: &TransportError) -> String {
    format!("reader error `{}`: {error}", TransportErrorKind::of(error))
}

fn describe_response_expectation(expect: &ResponseExpectation) -> String {
    if let Some(kind) = expect.error {
        return format!("reader error `{kind}`");
    }
    let mut parts = Vec::new();
    if let Some(sw) = expect.sw {
        parts.push(format!("SW {sw}"));
    }
    if let Some(len) = expect.data_len {
        parts.push(format!("{len} bytes of data"));
    }
    if let Some(data) = &expect.data {
        if data.min_len() == 0 && data.is_exact() {
            parts.push("no data".into());
        } else {
            parts.push(format!("data {data}"));
        }
    }
    parts.join(", ")
}

fn describe_power_expectation(action: PowerAction, expect: &PowerExpectation) -> String {
    match (&expect.atr, expect.error) {
        (_, Some(kind)) => format!("power: {action}; reader error `{kind}`"),
        (Some(atr), None) => format!("power: {action}; ATR {atr}"),
        (None, None) => format!("power: {action} succeeds"),
    }
}

fn describe_pins_expectation(expected: &PinsExpectation) -> String {
    let mut parts = Vec::new();
    for (name, want) in [
        ("auth", expected.auth),
        ("signing", expected.signing),
        ("text", expected.text),
    ] {
        if let Some(want) = want {
            parts.push(format!("{name} {want}"));
        }
    }
    parts.join(", ")
}

fn describe_counters(counters: &PinCounters) -> String {
    let one = |state: Option<PinState>| match state {
        Some(state) => format!("{}/{}", state.tries_left, state.max_tries),
        None => "none".to_owned(),
    };
    format!(
        "auth {}, signing {}, text {}",
        one(counters.auth),
        one(counters.signing),
        one(counters.text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> ScenarioResult {
        ScenarioResult {
            name: "hangs".into(),
            file: "hangs.yaml".into(),
            tags: Vec::new(),
            outcome: Outcome::Passed,
            steps_run: 0,
            steps_total: 3,
            simulated_us: 0,
            wall_us: 0,
            transcript: Vec::new(),
            reception: None,
            receptions: Vec::new(),
            oqs_calls: Vec::new(),
            exchanges: Transcript::default(),
        }
    }

    fn step(index: usize, label: &str, line: u64) -> Step {
        Step {
            index,
            label: Some(label.into()),
            line,
            action: Action::Pins(PinsExpectation::default()),
        }
    }

    /// A step that never returns (a card that stays silent behind pcscd) ends the scenario
    /// with an error naming the step, within the timeout.
    #[test]
    fn a_step_that_never_finishes_ends_the_scenario_with_an_error_naming_it() {
        let started = Instant::now();
        let result = supervise(Duration::from_millis(200), blank(), |progress| {
            progress.phase("the power-on before the first step");
            progress.step(&step(0, "select", 7));
            progress.step(&step(1, "three bytes", 9));
            std::thread::sleep(Duration::from_secs(3600));
            blank()
        });
        assert!(started.elapsed() < Duration::from_secs(5));
        let Outcome::Error { message } = &result.outcome else {
            panic!("{:?}", result.outcome);
        };
        assert!(
            message.contains("step 2 (three bytes) (line 9) did not finish within 0.2 s"),
            "{message}"
        );
        assert_eq!(result.steps_run, 2);
    }

    #[test]
    fn a_slow_scenario_whose_steps_each_finish_in_time_completes() {
        let result = supervise(Duration::from_millis(300), blank(), |progress| {
            for index in 0..3 {
                progress.step(&step(index, "slow", 1));
                std::thread::sleep(Duration::from_millis(150));
            }
            ScenarioResult {
                steps_run: 3,
                ..blank()
            }
        });
        assert!(result.passed(), "{:?}", result.outcome);
        assert_eq!(result.steps_run, 3);
    }
}

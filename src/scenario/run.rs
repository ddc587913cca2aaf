//! Executing scenarios: one reader slot per scenario, steps in order, the first failing step
//! ends the scenario. Results carry the transcript so that reports can show what happened.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::{Action, PowerExpectation, ResponseExpectation, Scenario, Step};
use super::pattern::spaced_hex;
use super::readers::{ReaderChoice, Slot};
use super::schema::{
    PinExpectation, PinsExpectation, PowerAction, ReaderEvent, TransportErrorKind,
};
use crate::apdu::StatusWord;
use crate::card::{PinCounters, PinState};
use crate::transport::TransportError;

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub reader: ReaderChoice,
    /// Scenarios run at the same time (at least 1).
    pub jobs: usize,
    /// Show PINs in transcripts instead of redacting them.
    pub show_pins: bool,
}

/// What became of one scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// An expectation did not hold.
    Failed(Failure),
    /// The scenario could not run (its card could not be built, the reader is unavailable).
    Error {
        message: String,
    },
    /// The scenario needs something this reader cannot give (and the runner says what).
    Skipped {
        reason: String,
    },
}

/// The failing step: what it expected and what happened instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// 0-based index of the step in `steps:`.
    pub step: usize,
    /// "step 3 (select JPKI)".
    pub step_title: String,
    /// Line of the step in the scenario file.
    pub line: u64,
    pub expected: String,
    pub actual: String,
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
    pub text: String,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Steps executed (including the failing one).
    pub steps_run: usize,
    pub steps_total: usize,
    /// Time the card and reader would have taken (simulated on the virtual reader).
    pub simulated_us: u64,
    /// Time the run took on this machine.
    pub wall_us: u64,
    pub transcript: Vec<TranscriptEntry>,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Passed)
    }
}

/// Runs every scenario, `options.jobs` at a time; results come back in the input order.
pub fn run_all(scenarios: &[Scenario], options: &RunOptions) -> Vec<ScenarioResult> {
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

/// Runs one scenario on a fresh reader slot.
pub fn run_scenario(scenario: &Scenario, options: &RunOptions) -> ScenarioResult {
    let started = Instant::now();
    let mut result = ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        tags: scenario.tags.clone(),
        outcome: Outcome::Passed,
        steps_run: 0,
        steps_total: scenario.steps.len(),
        simulated_us: 0,
        wall_us: 0,
        transcript: Vec::new(),
    };
    if let Err(reason) = options.reader.supports(scenario.needs()) {
        result.outcome = Outcome::Skipped { reason };
        return result;
    }
    let slot = match options.reader.open(scenario) {
        Ok(slot) => slot,
        Err(error) => {
            result.outcome = Outcome::Error {
                message: error.to_string(),
            };
            return result;
        }
    };
    let mut engine = Engine {
        slot,
        transcript: Vec::new(),
        show_pins: options.show_pins,
        started,
    };
    // The agreed format: the card is powered before the first step.
    if let Err(failure) = engine.power(None, PowerAction::On, &PowerExpectation::default()) {
        result.outcome = Outcome::Failed(failure);
    } else {
        for step in &scenario.steps {
            result.steps_run += 1;
            if let Err(failure) = engine.execute(step) {
                result.outcome = Outcome::Failed(failure);
                break;
            }
        }
    }
    result.simulated_us = micros(engine.now());
    result.transcript = engine.transcript;
    result.wall_us = micros(started.elapsed());
    result
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The state of one running scenario: its reader slot and what has happened so far.
pub struct Engine {
    pub slot: Slot,
    pub transcript: Vec<TranscriptEntry>,
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
        self.transcript.push(TranscriptEntry {
            step,
            at_us,
            direction,
            text,
        });
    }

    fn fail(step: &Step, expected: String, actual: String) -> Failure {
        Failure {
            step: step.index,
            step_title: step.title(),
            line: step.line,
            expected,
            actual,
        }
    }

    /// Executes one step; `Err` is the reason the scenario fails here.
    pub fn execute(&mut self, step: &Step) -> Result<(), Failure> {
        match &step.action {
            Action::Send { apdu, expect } => self.send(step, apdu, expect),
            Action::Power { action, expect } => self.power(Some(step), *action, expect),
            Action::Pins(expected) => self.pins(step, expected),
            Action::Event(event) => self.event(step, *event),
        }
    }

    fn command_text(&self, apdu: &[u8]) -> String {
        if self.show_pins || !crate::trace::redact::carries_pin(apdu) {
            return spaced_hex(apdu);
        }
        match crate::trace::redact::data_field(apdu) {
            Some(range) => format!(
                "{} [{} PIN bytes redacted] {}",
                spaced_hex(&apdu[..range.start]),
                range.len(),
                spaced_hex(&apdu[range.end..])
            )
            .trim_end()
            .to_owned(),
            None => spaced_hex(apdu),
        }
    }

    fn send(
        &mut self,
        step: &Step,
        apdu: &[u8],
        expect: &ResponseExpectation,
    ) -> Result<(), Failure> {
        let shown = self.command_text(apdu);
        self.log(step.index, ">>", shown);
        let answer = self.slot.transport().transmit(apdu);
        match &answer {
            Ok(rapdu) => self.log(step.index, "<<", describe_rapdu(rapdu)),
            Err(error) => self.log(step.index, "!!", describe_error(error)),
        }
        let expected = describe_response_expectation(expect);
        match (answer, expect.error) {
            (Ok(rapdu), None) => {
                let Some(sw) = StatusWord::from_rapdu(&rapdu) else {
                    return Err(Self::fail(
                        step,
                        expected,
                        format!("a malformed answer: {}", spaced_hex(&rapdu)),
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
    ) -> Result<(), Failure> {
        let index = step.map_or(0, |s| s.index);
        let result = match action {
            PowerAction::On => self.slot.transport().connect().map(Some),
            PowerAction::Off => self.slot.transport().disconnect().map(|()| None),
            PowerAction::Reset => self.slot.reset().map(Some),
        };
        match &result {
            Ok(Some(atr)) => self.log(
                index,
                "--",
                format!("power {action}: ATR {}", spaced_hex(atr)),
            ),
            Ok(None) => self.log(index, "--", format!("power {action}")),
            Err(error) => self.log(
                index,
                "!!",
                format!("power {action}: {}", describe_error(error)),
            ),
        }
        let expected = describe_power_expectation(action, expect);
        let fail = |actual: String| match step {
            Some(step) => Self::fail(step, expected.clone(), actual),
            None => Failure {
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
                    Err(fail(format!("ATR {}", spaced_hex(&atr))))
                }
                _ => Ok(()),
            },
            (Ok(_), Some(kind)) => Err(fail(format!(
                "power {action} succeeded instead of the reader reporting `{kind}`"
            ))),
            (Err(error), Some(kind)) if TransportErrorKind::of(&error) == kind => Ok(()),
            (Err(error), _) => Err(fail(describe_error(&error))),
        }
    }

    fn pins(&mut self, step: &Step, expected: &PinsExpectation) -> Result<(), Failure> {
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

    fn event(&mut self, step: &Step, event: ReaderEvent) -> Result<(), Failure> {
        let Some(reader) = self.slot.virtual_reader() else {
            return Err(Self::fail(
                step,
                format!("event {event}"),
                "reader events need the virtual reader (--reader virtual)".into(),
            ));
        };
        let mut note = None;
        let problem: Option<String> = match event {
            ReaderEvent::Remove => {
                (!reader.remove()).then(|| "there was no card in the reader to remove".into())
            }
            ReaderEvent::Insert => {
                if reader.insert() {
                    use crate::transport::Transport;
                    match reader.connect() {
                        Ok(atr) => note = Some(format!("ATR {}", spaced_hex(&atr))),
                        Err(error) => note = Some(describe_error(&error)),
                    }
                    None
                } else {
                    Some(
                        "there was no removed card to insert (the card is still in the reader)"
                            .into(),
                    )
                }
            }
            ReaderEvent::PowerCycle => {
                match reader.power_cycle() {
                    Ok(atr) => note = Some(format!("ATR {}", spaced_hex(&atr))),
                    Err(error) => note = Some(describe_error(&error)),
                }
                None
            }
            ReaderEvent::RemoveMidCommand => {
                reader.remove_during_next_command();
                None
            }
            ReaderEvent::TransmissionErrors(count) => {
                reader.fail_next_transmissions(count);
                None
            }
            ReaderEvent::LatencyMs(ms) => {
                reader.set_extra_latency(Duration::from_millis(ms));
                None
            }
            ReaderEvent::ReaderTimeoutMs(ms) => {
                reader.set_timeout((ms > 0).then(|| Duration::from_millis(ms)));
                None
            }
            ReaderEvent::WaitMs(ms) => {
                reader.wait(Duration::from_millis(ms));
                None
            }
        };
        let text = match &note {
            Some(note) => format!("event {event}: {note}"),
            None => format!("event {event}"),
        };
        self.log(step.index, "--", text);
        match problem {
            Some(problem) => Err(Self::fail(step, format!("event {event}"), problem)),
            None => Ok(()),
        }
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
pub fn describe_rapdu(rapdu: &[u8]) -> String {
    let Some(sw) = StatusWord::from_rapdu(rapdu) else {
        return format!("malformed answer {}", spaced_hex(rapdu));
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
        (_, Some(kind)) => format!("power {action}: reader error `{kind}`"),
        (Some(atr), None) => format!("power {action}: ATR {atr}"),
        (None, None) => format!("power {action} succeeds"),
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

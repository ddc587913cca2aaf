//! What running a scenario gives: its outcome, the failures at their steps, and the transcript
//! rendered from the exchange log.

use std::time::Duration;

use serde::Serialize;

use crate::trace::{Event, ExchangeAnswer, PinRecording, Transcript};

use super::describe::describe_rapdu;

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
    pub(super) first: ScenarioFailure,
    pub(super) more: Vec<ScenarioFailure>,
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

/// A line the runner writes itself, placed after the exchange-log entries there were when it
/// was written.
pub(super) struct Note {
    pub(super) line: TranscriptEntry,
    pub(super) after: usize,
}

/// The report's transcript: each command of the exchange log (`>>` when sent, then `<<` the
/// answer after the card's time, or `!!` the reader's error) with the runner's notes between
/// them, in the order they happened. Rendered when the report is made, from the one log.
pub(super) fn render_transcript(
    log: &Transcript,
    notes: &[Note],
    pins: PinRecording,
) -> Vec<TranscriptEntry> {
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

/// A duration in whole microseconds, as results and transcripts count time.
pub(super) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

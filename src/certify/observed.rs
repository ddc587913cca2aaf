//! What the harness observed of the device, in the judge's own small vocabulary: card-slot
//! exchanges and events, the qualification-system calls, and the device's step reports.
//!
//! The exchange log comes from the card server's recording. [`exchanges_from_trace`] is the
//! one adapter from that recording to [`Exchange`]; everything else in the judge only sees
//! [`Exchange`], so a new exchange-log format needs a new adapter and nothing more.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::protocol::{Answer, Shown};
use crate::apdu::{Command, StatusWord};
use crate::trace::redact;
use crate::trace::{TraceEvent, TraceLine};

/// What happened on the card slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Apdu,
    PowerOn,
    PowerOff,
    Reset,
    Inserted,
    Removed,
    LinkUp,
    LinkDown,
}

/// One exchange or event on the card slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    /// The C-APDU (empty for events). PIN bytes are present: the log stays in memory and
    /// everything shown goes through [`Exchange::command_hex`], which hides them.
    pub command: Vec<u8>,
    /// The R-APDU (empty for events, or when the answer never reached the device).
    pub response: Vec<u8>,
    /// The card's processing time.
    pub card_time: Duration,
}

impl Exchange {
    pub fn is_apdu(&self) -> bool {
        self.kind == EventKind::Apdu
    }

    /// The command decoded, when it is a well-formed APDU.
    pub fn parsed(&self) -> Option<Command<'_>> {
        self.is_apdu()
            .then(|| Command::parse(&self.command).ok())
            .flatten()
    }

    pub fn status(&self) -> Option<StatusWord> {
        StatusWord::from_rapdu(&self.response)
    }

    /// Response data without the status word.
    pub fn data_len(&self) -> usize {
        self.response.len().saturating_sub(2)
    }

    /// The command as upper-case hex with PIN bytes replaced by `XX`.
    pub fn command_hex(&self) -> String {
        redact::command_hex(&self.command, true).0
    }

    /// One transcript line: time, command and answer (PINs hidden).
    pub fn describe(&self, start: DateTime<Utc>) -> String {
        let offset = (self.at - start).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        match self.kind {
            EventKind::Apdu => {
                let answer = match self.status() {
                    Some(sw) => format!(
                        "{} bytes, SW {:04X}{}",
                        self.data_len(),
                        sw.0,
                        if self.card_time >= Duration::from_millis(100) {
                            format!(" after {} ms", self.card_time.as_millis())
                        } else {
                            String::new()
                        }
                    ),
                    None => "no answer (card taken away)".to_owned(),
                };
                format!("{offset:>10.1} ms  >> {}  << {answer}", self.command_hex())
            }
            other => format!("{offset:>10.1} ms  -- {other:?}"),
        }
    }
}

/// Turns the card server's recording into the judge's exchanges. Lines the harness itself
/// caused (the identification probe answered outside the card model) are left out.
pub fn exchanges_from_trace(lines: &[TraceLine]) -> Vec<Exchange> {
    lines
        .iter()
        .filter_map(|line| {
            let event = |kind| Exchange {
                at: line.at,
                kind,
                command: Vec::new(),
                response: Vec::new(),
                card_time: Duration::ZERO,
            };
            Some(match &line.event {
                TraceEvent::Apdu {
                    command,
                    response,
                    card_us,
                    note,
                    ..
                } => {
                    if note.is_some() {
                        return None;
                    }
                    Exchange {
                        at: line.at,
                        kind: EventKind::Apdu,
                        command: hex::decode(command).ok()?,
                        response: hex::decode(response).ok()?,
                        card_time: Duration::from_micros(*card_us),
                    }
                }
                TraceEvent::PowerOn { .. } => event(EventKind::PowerOn),
                TraceEvent::PowerOff => event(EventKind::PowerOff),
                TraceEvent::Reset { .. } => event(EventKind::Reset),
                TraceEvent::Inserted => event(EventKind::Inserted),
                TraceEvent::Removed => event(EventKind::Removed),
                TraceEvent::LinkUp { .. } => event(EventKind::LinkUp),
                TraceEvent::LinkDown { .. } => event(EventKind::LinkDown),
                TraceEvent::Start { .. } | TraceEvent::FramingError { .. } | TraceEvent::Stop => {
                    return None
                }
            })
        })
        .collect()
}

/// One HTTP call the device made to the qualification system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OqsCall {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The JSON body, or `null` when it was not JSON.
    pub request: serde_json::Value,
    pub response: serde_json::Value,
}

impl OqsCall {
    pub fn is_check(&self) -> bool {
        self.path == "/v1/check"
    }

    pub fn is_register(&self) -> bool {
        self.path == "/v1/register"
    }

    /// The service's `outcome` (`answered`, `card_not_registered` …), when it gave one.
    pub fn outcome(&self) -> Option<&str> {
        self.response.get("outcome").and_then(|v| v.as_str())
    }

    /// The request with the certificate and signature shortened (evidence stays readable).
    pub fn request_summary(&self) -> serde_json::Value {
        let mut request = self.request.clone();
        if let Some(object) = request.as_object_mut() {
            for key in ["certificate", "signature"] {
                if let Some(serde_json::Value::String(text)) = object.get_mut(key) {
                    if text.len() > 32 {
                        *text = format!("{}… ({} hex digits)", &text[..32], text.len());
                    }
                }
            }
        }
        request
    }
}

/// Who vouches for what a step shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Witness {
    DriverReported,
    OperatorJudged,
}

/// One step as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// 1-based.
    pub index: u32,
    /// The action, with PINs hidden.
    pub action: String,
    /// Whether the step is a PIN entry (for per-entry predicates).
    pub pin_entry: bool,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub answer: Option<Answer>,
    /// A harness-side or protocol failure of the step.
    pub failure: Option<String>,
}

impl StepRecord {
    pub fn shown(&self) -> Option<&Shown> {
        self.answer.as_ref().and_then(|a| a.shown.as_ref())
    }

    /// The driver answered that it cannot do this action.
    pub fn unsupported(&self) -> bool {
        self.answer
            .as_ref()
            .and_then(|a| a.error.as_ref())
            .is_some_and(|e| e.kind == "unsupported")
    }
}

/// Everything observed during one case.
#[derive(Debug, Clone)]
pub struct CaseObservation {
    pub case: String,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub exchanges: Vec<Exchange>,
    pub calls: Vec<OqsCall>,
    pub steps: Vec<StepRecord>,
    /// Operator yes/no answers by requirement id (interactive mode).
    pub operator_answers: Vec<(String, bool)>,
    pub witness: Witness,
    /// The case could not be run to its end (driver died, protocol error, slot failure).
    pub aborted: Option<String>,
}

impl CaseObservation {
    /// The transcript of the case: steps with the exchanges and calls that happened in each.
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        let mut exchanges = self.exchanges.iter().peekable();
        let mut calls = self.calls.iter().peekable();
        let mut flush_until = |until: Option<DateTime<Utc>>, out: &mut String| loop {
            let next_exchange = exchanges.peek().map(|e| e.at);
            let next_call = calls.peek().map(|c| c.at);
            let take_exchange = match (next_exchange, next_call) {
                (Some(e), Some(c)) => e <= c,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let at = if take_exchange {
                next_exchange
            } else {
                next_call
            };
            if let (Some(at), Some(until)) = (at, until) {
                if at > until {
                    break;
                }
            }
            if take_exchange {
                if let Some(exchange) = exchanges.next() {
                    out.push_str(&exchange.describe(self.started));
                    out.push('\n');
                }
            } else if let Some(call) = calls.next() {
                let offset =
                    (call.at - self.started).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                out.push_str(&format!(
                    "{offset:>10.1} ms  => {} {} -> {} {}\n",
                    call.method,
                    call.path,
                    call.status,
                    call.outcome().unwrap_or("")
                ));
            }
        };
        for step in &self.steps {
            flush_until(Some(step.started), &mut out);
            out.push_str(&format!("step {}: {}\n", step.index, step.action));
            flush_until(Some(step.ended), &mut out);
            match (&step.answer, &step.failure) {
                (_, Some(failure)) => out.push_str(&format!("      !! {failure}\n")),
                (Some(answer), None) => {
                    let text = serde_json::to_string(answer).unwrap_or_default();
                    out.push_str(&format!("      <= {text}\n"));
                }
                (None, None) => {}
            }
        }
        flush_until(None, &mut out);
        if let Some(reason) = &self.aborted {
            out.push_str(&format!("case aborted: {reason}\n"));
        }
        out
    }
}

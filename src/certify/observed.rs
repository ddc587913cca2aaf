//! What the harness observed of the device: the card slot's exchange log (the one
//! [`crate::trace::Transcript`] the card server keeps in memory, cut to the case), the
//! qualification-system calls, and the device's step reports.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::protocol::{DriverAnswer, Shown};
use crate::trace::{Entry, Event, PinRecording, Transcript};

/// One line of a case's transcript for an entry of the card slot's exchange log: time since
/// the case started, then the command and its answer (PINs hidden), or the event.
pub(crate) fn describe_entry(entry: &Entry) -> String {
    let offset = entry.at.as_micros() as f64 / 1000.0;
    match &entry.event {
        Event::Apdu(exchange) => {
            let answer = match exchange.status_word() {
                Some(sw) => format!(
                    "{} bytes, SW {:04X}{}",
                    exchange.response_data().map_or(0, <[u8]>::len),
                    sw.0,
                    match exchange.card_time {
                        Some(time) if time >= Duration::from_millis(100) => {
                            format!(" after {} ms", time.as_millis())
                        }
                        _ => String::new(),
                    }
                ),
                None => "no answer (card taken away)".to_owned(),
            };
            format!(
                "{offset:>10.1} ms  >> {}  << {answer}",
                exchange.command_hex(PinRecording::Redacted).0
            )
        }
        event => format!("{offset:>10.1} ms  -- {}", event_name(event)),
    }
}

/// How a report names a card-slot event.
fn event_name(event: &Event) -> String {
    match event {
        Event::Apdu(_) => "command".into(),
        Event::PowerOn { atr: Some(_) } => "power on".into(),
        Event::PowerOn { atr: None } => "power on (the card stayed mute)".into(),
        Event::PowerOff => "power off".into(),
        Event::Reset { .. } => "warm reset".into(),
        Event::PowerFailed { error, .. } => format!("power change failed: {error}"),
        Event::Inserted => "card inserted".into(),
        Event::CardPlaced { card } => format!("card {card} placed"),
        Event::Removed => "card removed".into(),
        Event::LinkUp { peer } => format!("reader link up ({peer})"),
        Event::LinkDown { reason } => format!("reader link down ({reason})"),
        Event::FramingError { message, .. } => format!("framing error: {message}"),
    }
}

/// One HTTP call the device made to the qualification system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct OqsCall {
    pub(crate) at: DateTime<Utc>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) status: u16,
    /// The JSON body, or `null` when it was not JSON.
    pub(crate) request: serde_json::Value,
    pub(crate) response: serde_json::Value,
    /// The phone credential the qualification system found the presented certificate to be
    /// (`android`, `iphone`; its own call log, by the certificate, whatever the request
    /// declared); `None` for a card or a call without a certificate.
    pub(crate) credential: Option<String>,
}

impl OqsCall {
    pub(crate) fn is_check(&self) -> bool {
        self.path == "/v1/check"
    }

    pub(crate) fn is_register(&self) -> bool {
        self.path == "/v1/register"
    }

    /// The service's `outcome` (`answered`, `card_not_registered` …), when it gave one.
    pub(crate) fn outcome(&self) -> Option<&str> {
        self.response.get("outcome").and_then(|v| v.as_str())
    }

    /// The request with the certificate and signature shortened (evidence stays readable).
    pub(crate) fn request_summary(&self) -> serde_json::Value {
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
pub(crate) enum Witness {
    DriverReported,
    OperatorJudged,
}

/// One step as it happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StepRecord {
    /// 1-based.
    pub(crate) index: u32,
    /// The action, with PINs hidden.
    pub(crate) action: String,
    /// Whether the step is a PIN entry (for per-entry predicates).
    pub(crate) pin_entry: bool,
    pub(crate) started: DateTime<Utc>,
    pub(crate) ended: DateTime<Utc>,
    pub(crate) answer: Option<DriverAnswer>,
    /// A harness-side or protocol failure of the step.
    pub(crate) failure: Option<String>,
}

impl StepRecord {
    pub(crate) fn shown(&self) -> Option<&Shown> {
        self.answer.as_ref().and_then(|a| a.shown.as_ref())
    }
}

/// Everything observed during one case.
#[derive(Debug, Clone)]
pub(crate) struct CaseObservation {
    pub(crate) case: String,
    pub(crate) started: DateTime<Utc>,
    pub(crate) ended: DateTime<Utc>,
    /// The card slot's exchange log during the case, each entry's time counted from
    /// `started` (secrets kept: it stays in memory; every rendering hides them).
    pub(crate) log: Transcript,
    /// The generic reader's slot (the phone's) during the case, kept like [`Self::log`];
    /// empty when the run has no second slot.
    pub(crate) phone_log: Transcript,
    pub(crate) calls: Vec<OqsCall>,
    pub(crate) steps: Vec<StepRecord>,
    /// Operator yes/no answers by requirement id (interactive mode).
    pub(crate) operator_answers: Vec<(String, bool)>,
    pub(crate) witness: Witness,
    /// The case could not be run to its end (driver died, protocol error, slot failure).
    pub(crate) aborted: Option<String>,
    /// The case was not run: it needs an action the device declared (in `hello`) it cannot do.
    pub(crate) not_applicable: Option<String>,
}

impl CaseObservation {
    /// The wall-clock time of an entry of [`Self::log`].
    pub(crate) fn wall_time(&self, entry: &Entry) -> DateTime<Utc> {
        chrono::Duration::from_std(entry.at)
            .ok()
            .and_then(|offset| self.started.checked_add_signed(offset))
            .unwrap_or(self.started)
    }

    /// The transcript of the case: steps with the exchanges and calls that happened in each.
    pub(crate) fn transcript(&self) -> String {
        let mut out = String::new();
        let mut exchanges = self.log.entries.iter().peekable();
        let mut calls = self.calls.iter().peekable();
        let mut flush_until = |until: Option<DateTime<Utc>>, out: &mut String| loop {
            let next_exchange = exchanges.peek().map(|e| self.wall_time(e));
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
                    out.push_str(&describe_entry(exchange));
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
        if !self.phone_log.entries.is_empty() {
            out.push_str("generic reader (the phone's slot):\n");
            for entry in &self.phone_log.entries {
                out.push_str(&describe_entry(entry));
                out.push('\n');
            }
        }
        if let Some(reason) = &self.aborted {
            out.push_str(&format!("case aborted: {reason}\n"));
        }
        out
    }
}

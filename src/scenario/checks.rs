//! Scenario-level expectations (`expect:` at the top of a scenario), checked after the last
//! step: the reception's outcome, the card's state, the APDU transcript and the calls the
//! qualification system received.
//!
//! Each expectation becomes one independent [`Check`] at the place it is written
//! ([`ScenarioCheck`]), so a report names every one that failed, by its line and field, in file
//! order, and tests can change any single one to prove it can fail.

use std::fmt;

use serde_json::Value;

use super::pattern::BytePattern;
// The payload of `Check::OqsCalls` is the document type itself; re-exported so that users of
// checks need not know where the scenario file format lives.
pub use super::schema::CallExpectation;
use super::schema::{ListExpectation, ListMatch, PinsExpectation, ReceptionExpectDoc};
use crate::oqs::CallRecord;
use crate::reader::{ReceptionOutcome, Screen};
use crate::yaml::WithKeyLocations;
use serde_saphyr::Location;

/// Whether `call` is the call `want` describes (absent keys are not checked).
fn call_matches(want: &CallExpectation, call: &CallRecord) -> bool {
    want.kind == call.kind
        && want
            .outcome
            .is_none_or(|outcome| call.outcome == Some(outcome))
        && want
            .qualification_validity
            .is_none_or(|validity| call.qualification_validity == Some(validity))
        && want
            .credential
            .is_none_or(|credential| call.smartphone == credential.phone())
}

/// A transcript rule, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptRule {
    /// No matching command after `after` (a step index), or in the whole scenario.
    Never {
        /// The commands that must not be sent.
        pattern: BytePattern,
        /// The step after which the rule applies (index and title); `None`: the whole scenario.
        after: Option<(usize, String)>,
    },
    /// Matching commands were sent: at least one, or exactly `count`.
    Sent {
        /// The commands that must be sent.
        pattern: BytePattern,
        /// How many must be sent exactly; `None`: at least one.
        count: Option<usize>,
        /// The step after which the rule applies (index and title); `None`: the whole scenario.
        after: Option<(usize, String)>,
    },
}

impl fmt::Display for TranscriptRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = |after: &Option<(usize, String)>| match after {
            Some((_, label)) => format!(" after step \"{label}\""),
            None => String::new(),
        };
        match self {
            TranscriptRule::Never { pattern, after } => {
                write!(f, "no command {pattern}{}", window(after))
            }
            TranscriptRule::Sent {
                pattern,
                count: Some(count),
                after,
            } => write!(f, "{count} command(s) {pattern}{}", window(after)),
            TranscriptRule::Sent {
                pattern,
                count: None,
                after,
            } => write!(f, "at least one command {pattern}{}", window(after)),
        }
    }
}

/// One scenario-level expectation.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// `expect.reception.<field>`: the field of the outcome as JSON equals `expected` — or,
    /// for a list written as `{ contains: [...] }`, holds these items in this order.
    Reception {
        /// The outcome field compared, as the scenario names it (`identity`, `message_codes`).
        field: String,
        /// The value the field must have, as JSON.
        expected: Value,
        /// For lists: equal, or containing these items in order.
        matching: ListMatch,
        /// Which reception (0-based, `expect.receptions[N]`); `None`: the last one
        /// (`expect.reception`).
        reception: Option<usize>,
    },
    /// `expect.receptions`: this many receptions happened.
    ReceptionCount(usize),
    /// `expect.card.pins`.
    CardPins(PinsExpectation),
    /// `expect.transcript`: a rule on the commands the reader sent.
    Transcript(TranscriptRule),
    /// `expect.oqs_calls`: exactly these calls in order, or calls containing these in order.
    OqsCalls(ListExpectation<CallExpectation>),
}

/// One scenario-level expectation where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioCheck {
    /// The expectation's path as written: `expect.reception.validity`, `expect.transcript[1]`.
    pub(crate) field: String,
    /// Line and column of its key (or list item) in the scenario file, 1-based.
    pub(crate) line: u64,
    pub(crate) column: u64,
    /// What is checked.
    pub check: Check,
}

/// The reception outcome as the JSON object `expect.reception` fields are compared with: the
/// outcome's own fields plus a few read from the service's answer.
pub(crate) fn observed_reception(
    outcome: &ReceptionOutcome,
    screen: Screen,
) -> serde_json::Map<String, Value> {
    let mut map = match serde_json::to_value(outcome) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    map.insert(
        "screen".into(),
        serde_json::to_value(screen).unwrap_or(Value::Null),
    );
    // Left out of a card reception's outcome; compared as the reception had it.
    map.entry("phone_verify_sent").or_insert(Value::Bool(false));
    let results = outcome
        .response
        .as_ref()
        .map(|response| response.body.result_list.as_slice())
        .unwrap_or_default();
    let first = results.first();
    map.insert("results".into(), Value::from(results.len()));
    map.insert(
        "reason_of_loss".into(),
        first
            .and_then(|r| r.reason_of_loss.clone())
            .map_or(Value::Null, Value::from),
    );
    map.insert(
        "disqualification_date".into(),
        first
            .and_then(|r| r.disqualification_date.clone())
            .map_or(Value::Null, Value::from),
    );
    map.insert(
        "preschool".into(),
        Value::from(first.is_some_and(|r| r.preschool_classification.as_deref() == Some("1"))),
    );
    map.insert(
        "elderly_recipient".into(),
        Value::from(first.is_some_and(|r| r.elderly_recipient_certificate_info.is_some())),
    );
    map
}

/// Splits `expect.reception` into one check per key written, in file order, each with its
/// key's location. A key written as `null` expects the field to be absent (no answer).
pub(crate) fn reception_checks(
    doc: &WithKeyLocations<ReceptionExpectDoc>,
    reception: Option<usize>,
) -> Vec<(String, Location, Check)> {
    let written = match serde_json::to_value(&doc.value) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    doc.keys
        .iter()
        .map(|(field, location)| {
            let matching = doc.value.list_matching(field);
            let expected = match (matching, written.get(field)) {
                // Written back as `{ contains: [...] }`: the check compares the items.
                (ListMatch::Contains, Some(Value::Object(list))) => {
                    list.get("contains").cloned().unwrap_or(Value::Null)
                }
                (_, value) => value.cloned().unwrap_or(Value::Null),
            };
            (
                field.clone(),
                *location,
                Check::Reception {
                    field: field.clone(),
                    expected,
                    matching,
                    reception,
                },
            )
        })
        .collect()
}

/// Compares an expected field with the observed one; registration compares only the keys the
/// expectation gives.
pub(crate) fn reception_field_holds(
    field: &str,
    expected: &Value,
    matching: ListMatch,
    observed: &Value,
) -> bool {
    if let (ListMatch::Contains, Value::Array(want), Value::Array(have)) =
        (matching, expected, observed)
    {
        return ListExpectation {
            matching,
            items: want.clone(),
        }
        .holds(have);
    }
    if field == "registration" {
        if let (Value::Object(want), Value::Object(have)) = (expected, observed) {
            return want
                .iter()
                .all(|(key, value)| value.is_null() || have.get(key) == Some(value));
        }
    }
    expected == observed
}

/// Checks the calls the service received against the expectation.
pub(crate) fn calls_hold(
    expected: &ListExpectation<CallExpectation>,
    calls: &[CallRecord],
) -> bool {
    expected.holds_by(calls, call_matches)
}

/// Short JSON text for reports.
pub(crate) fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "?".to_owned())
}

/// How reports show the calls received.
pub(crate) fn describe_calls(calls: &[CallRecord]) -> String {
    if calls.is_empty() {
        return "no calls".to_owned();
    }
    calls
        .iter()
        .map(|call| {
            let mut parts = vec![json_text(
                &serde_json::to_value(call.kind).unwrap_or(Value::Null),
            )];
            if let Some(outcome) = call.outcome {
                parts.push(format!(
                    "outcome {}",
                    json_text(&serde_json::to_value(outcome).unwrap_or(Value::Null))
                ));
            }
            if let Some(validity) = call.qualification_validity {
                parts.push(format!(
                    "validity {}",
                    json_text(&serde_json::to_value(validity).unwrap_or(Value::Null))
                ));
            }
            if let Some(phone) = call.smartphone {
                parts.push(format!("credential \"{}\"", phone.label()));
            }
            parts.join(" ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) fn describe_call_expectations(expected: &ListExpectation<CallExpectation>) -> String {
    if expected.items.is_empty() {
        return "no calls".to_owned();
    }
    let calls = expected
        .items
        .iter()
        .map(|want| json_text(&serde_json::to_value(want).unwrap_or(Value::Null)))
        .collect::<Vec<_>>()
        .join("; ");
    match expected.matching {
        ListMatch::Exactly => calls,
        ListMatch::Contains => format!("calls containing, in this order: {calls}"),
    }
}

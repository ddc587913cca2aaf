//! Scenario-level expectations (`expect:` at the top of a scenario), checked after the last
//! step: the reception's outcome, the card's state, the APDU transcript and the calls the
//! qualification system received.
//!
//! Each expectation becomes one independent [`Check`], so a report names exactly the one that
//! failed and tests can change any single one to prove it can fail.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pattern::BytePattern;
use super::schema::PinsExpectation;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::message::ConsentChoices;
use crate::oqs::{CallKind, CallRecord, Outcome as ServiceOutcome};
use crate::reader::{FallbackGuidance, IdentityMethod, MessageCode, ReceptionOutcome, Screen};

/// Top-level `expect:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioExpectDoc {
    /// What the reception came to.
    #[serde(default)]
    pub reception: Option<ReceptionExpectDoc>,
    /// The card's state afterwards.
    #[serde(default)]
    pub card: Option<CardStateDoc>,
    /// Rules over every APDU sent during the scenario.
    #[serde(default)]
    pub transcript: Vec<TranscriptRuleDoc>,
    /// The calls the qualification system received, in order (exact length).
    #[serde(default)]
    pub oqs_calls: Option<Vec<CallExpectation>>,
}

/// `expect.card`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardStateDoc {
    pub pins: PinsExpectation,
}

/// `expect.reception`: every key optional; each one present is checked.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReceptionExpectDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity: Option<QualificationValidity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurer_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burden_percent: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentChoices>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_codes: Option<Vec<MessageCode>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screens: Option<Vec<Screen>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<Screen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_tries_left: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_sent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_notice: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualification_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_outcome: Option<ServiceOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<RegistrationExpectation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Vec<FallbackGuidance>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_failures: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_of_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preschool: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elderly_recipient: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disqualification_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atr: Option<String>,
}

/// `expect.reception.registration`.
#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RegistrationExpectation {
    pub offered: bool,
    #[serde(default)]
    pub accepted: Option<bool>,
    #[serde(default)]
    pub outcome: Option<ServiceOutcome>,
}

/// One `expect.transcript` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptRuleDoc {
    /// No command matching this pattern was sent (in the window).
    #[serde(default)]
    pub no_command: Option<BytePattern>,
    /// A command matching this pattern was sent (at least once, or exactly `count` times).
    #[serde(default)]
    pub command: Option<BytePattern>,
    #[serde(default)]
    pub count: Option<usize>,
    /// Only commands sent after the step with this label count.
    #[serde(default)]
    pub after: Option<String>,
}

/// One expected call of the qualification system; absent keys are not checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallExpectation {
    pub kind: CallKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ServiceOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_validity: Option<QualificationValidity>,
}

impl CallExpectation {
    fn matches(&self, call: &CallRecord) -> bool {
        self.kind == call.kind
            && self.outcome.is_none_or(|want| call.outcome == Some(want))
            && self
                .qualification_validity
                .is_none_or(|want| call.qualification_validity == Some(want))
    }
}

/// A transcript rule, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptRule {
    /// No matching command after `after` (a step index), or in the whole scenario.
    Never {
        pattern: BytePattern,
        after: Option<(usize, String)>,
    },
    /// Matching commands were sent: at least one, or exactly `count`.
    Sent {
        pattern: BytePattern,
        count: Option<usize>,
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
    /// `expect.reception.<field>`: the field of the outcome as JSON equals `expected`.
    Reception {
        field: String,
        expected: Value,
    },
    /// `expect.card.pins`.
    CardPins(PinsExpectation),
    Transcript(TranscriptRule),
    /// `expect.oqs_calls`: exactly these calls, in order.
    OqsCalls(Vec<CallExpectation>),
}

impl Check {
    /// "reception.validity" — how reports name the expectation.
    pub fn title(&self) -> String {
        match self {
            Check::Reception { field, .. } => format!("expect.reception.{field}"),
            Check::CardPins(_) => "expect.card.pins".to_owned(),
            Check::Transcript(_) => "expect.transcript".to_owned(),
            Check::OqsCalls(_) => "expect.oqs_calls".to_owned(),
        }
    }
}

/// The reception outcome as the JSON object `expect.reception` fields are compared with: the
/// outcome's own fields plus a few read from the service's answer.
pub fn observed_reception(
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

/// Splits `expect.reception` into one check per key present.
pub fn reception_checks(doc: &ReceptionExpectDoc) -> Vec<Check> {
    match serde_json::to_value(doc) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .map(|(field, expected)| Check::Reception { field, expected })
            .collect(),
        _ => Vec::new(),
    }
}

/// Compares an expected field with the observed one; registration compares only the keys the
/// expectation gives.
pub fn reception_field_holds(field: &str, expected: &Value, observed: &Value) -> bool {
    if field == "registration" {
        if let (Value::Object(want), Value::Object(have)) = (expected, observed) {
            return want
                .iter()
                .all(|(key, value)| value.is_null() || have.get(key) == Some(value));
        }
    }
    expected == observed
}

/// Checks the calls the service received against the expectation (exact length, in order).
pub fn calls_hold(expected: &[CallExpectation], calls: &[CallRecord]) -> bool {
    expected.len() == calls.len()
        && expected
            .iter()
            .zip(calls)
            .all(|(want, call)| want.matches(call))
}

/// Short JSON text for reports.
pub fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "?".to_owned())
}

/// How reports show the calls received.
pub fn describe_calls(calls: &[CallRecord]) -> String {
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
            parts.join(" ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn describe_call_expectations(expected: &[CallExpectation]) -> String {
    if expected.is_empty() {
        return "no calls".to_owned();
    }
    expected
        .iter()
        .map(|want| json_text(&serde_json::to_value(want).unwrap_or(Value::Null)))
        .collect::<Vec<_>>()
        .join("; ")
}

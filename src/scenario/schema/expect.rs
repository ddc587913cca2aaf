//! The scenario-level `expect:` as written: what the reception came to, the card's state
//! afterwards, rules over the APDU transcript, and the calls the qualification system received.
//! [`crate::scenario::checks`] splits it into independent checks.

use serde::{Deserialize, Serialize};

use serde_saphyr::Spanned;

use super::list::{ListExpectation, ListMatch};
use super::step::PinsExpectation;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::message::ConsentChoices;
use crate::oqs::{CallKind, Outcome as ServiceOutcome};
use crate::reader::{FallbackGuidance, IdentityMethod, MessageCode, Screen};
use crate::scenario::pattern::BytePattern;
use crate::yaml::WithKeyLocations;

/// Top-level `expect:` as written (read with the location of each key, so that every
/// expectation is reported at its own line and checked in file order).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioExpectDoc {
    /// What the reception came to.
    #[serde(default)]
    pub(crate) reception: Option<WithKeyLocations<ReceptionExpectDoc>>,
    /// What each reception came to, in order (a reception begins when a card is placed after
    /// the previous one finished).
    #[serde(default)]
    pub(crate) receptions: Option<Vec<WithKeyLocations<ReceptionExpectDoc>>>,
    /// The card's state afterwards.
    #[serde(default)]
    pub card: Option<CardStateDoc>,
    /// Rules over every APDU sent during the scenario.
    #[serde(default)]
    pub transcript: Vec<Spanned<TranscriptRuleDoc>>,
    /// The calls the qualification system received, in order (exact length).
    #[serde(default)]
    pub oqs_calls: Option<ListExpectation<CallExpectation>>,
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
    pub message_codes: Option<ListExpectation<MessageCode>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screens: Option<ListExpectation<Screen>>,
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
    pub fallback: Option<ListExpectation<FallbackGuidance>>,
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
    /// The name of the scenario's card placed in this reception.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
}

impl ReceptionExpectDoc {
    /// How the list-valued key `field` compares (`exactly` for every other key).
    pub fn list_matching(&self, field: &str) -> ListMatch {
        let matching = match field {
            "message_codes" => self.message_codes.as_ref().map(|list| list.matching),
            "screens" => self.screens.as_ref().map(|list| list.matching),
            "fallback" => self.fallback.as_ref().map(|list| list.matching),
            _ => None,
        };
        matching.unwrap_or(ListMatch::Exactly)
    }
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

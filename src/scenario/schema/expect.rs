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
use crate::person::PhoneKind;
use crate::reader::{FallbackGuidance, IdentityMethod, MessageCode, PhoneApproval, Screen};
use crate::scenario::pattern::BytePattern;
use crate::yaml::WithKeyLocations;

/// Top-level `expect:` as written (read with the location of each key, so that every
/// expectation is reported at its own line and checked in file order).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioExpectDoc {
    /// What the reception came to.
    #[serde(default)]
    pub(crate) reception: Option<WithKeyLocations<ReceptionExpectDoc>>,
    /// What each reception came to, in order (a reception begins when a card is placed after
    /// the previous one finished).
    #[serde(default)]
    pub(crate) receptions: Option<Vec<WithKeyLocations<ReceptionExpectDoc>>>,
    /// The card's state afterwards.
    #[serde(default)]
    pub(crate) card: Option<CardStateDoc>,
    /// Rules over every APDU sent during the scenario.
    #[serde(default)]
    pub(crate) transcript: Vec<Spanned<TranscriptRuleDoc>>,
    /// The calls the qualification system received, in order (exact length).
    #[serde(default)]
    pub(crate) oqs_calls: Option<ListExpectation<CallExpectation>>,
}

/// `expect.card`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardStateDoc {
    pub(crate) pins: PinsExpectation,
}

/// `expect.reception`: every key optional; each one present is checked.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceptionExpectDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) validity: Option<QualificationValidity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) insurer_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) insurer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) burden_percent: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) consent: Option<ConsentChoices>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message_codes: Option<ListExpectation<MessageCode>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) screens: Option<ListExpectation<Screen>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) screen: Option<Screen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) identity: Option<IdentityMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pin_tries_left: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) verify_sent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) renewal_notice: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) qualification_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) service_outcome: Option<ServiceOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) registration: Option<RegistrationExpectation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fallback: Option<ListExpectation<FallbackGuidance>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) finished: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) abandoned: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) face_failures: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason_of_loss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) preschool: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) elderly_recipient: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) results: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) disqualification_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) atr: Option<String>,
    /// The name of the scenario's card placed in this reception.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) card: Option<String>,
    /// The phone used instead of the card (`android`, `iphone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) smartphone: Option<PhoneKind>,
    /// Tries left on the Android phone credential's PIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) phone_pin_tries_left: Option<u8>,
    /// Whether a VERIFY reached the phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) phone_verify_sent: Option<bool>,
    /// The iPhone's on-device approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) phone_approval: Option<PhoneApproval>,
}

impl ReceptionExpectDoc {
    /// How the list-valued key `field` compares (`exactly` for every other key).
    pub(crate) fn list_matching(&self, field: &str) -> ListMatch {
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
pub(crate) struct RegistrationExpectation {
    pub(crate) offered: bool,
    #[serde(default)]
    pub(crate) accepted: Option<bool>,
    #[serde(default)]
    pub(crate) outcome: Option<ServiceOutcome>,
}

/// One `expect.transcript` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TranscriptRuleDoc {
    /// No command matching this pattern was sent (in the window).
    #[serde(default)]
    pub(crate) no_command: Option<BytePattern>,
    /// A command matching this pattern was sent (at least once, or exactly `count` times).
    #[serde(default)]
    pub(crate) command: Option<BytePattern>,
    #[serde(default)]
    pub(crate) count: Option<usize>,
    /// Only commands sent after the step with this label count.
    #[serde(default)]
    pub(crate) after: Option<String>,
}

/// One expected call of the qualification system; absent keys are not checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallExpectation {
    /// Which call (challenge, check, lookup, registration).
    pub kind: CallKind,
    /// The outcome the service must have answered; `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ServiceOutcome>,
    /// The 資格有効性 it must have answered; `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_validity: Option<QualificationValidity>,
    /// The phone credential the call presented (`android`, `iphone`), or `card` for a card;
    /// `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialExpectation>,
}

/// What a call presented, as `expect.oqs_calls[].credential` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialExpectation {
    /// A マイナンバーカード (no phone).
    Card,
    /// An Android phone's スマホ用電子証明書.
    Android,
    /// An iPhone's.
    Iphone,
}

impl CredentialExpectation {
    /// The phone this expectation names, `None` for the card.
    pub(crate) fn phone(self) -> Option<PhoneKind> {
        match self {
            Self::Card => None,
            Self::Android => Some(PhoneKind::Android),
            Self::Iphone => Some(PhoneKind::Iphone),
        }
    }
}

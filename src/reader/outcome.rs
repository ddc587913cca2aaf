//! What a reception came to: everything a scenario asserts on, serializable for JSON reports.

use serde::Serialize;

use super::card_io::{CommandCounts, Exchange};
use super::codes::{FallbackGuidance, MessageCode};
use super::screen::{PhoneApproval, Screen};
use super::service::IdentityMethod;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::message::{CheckResponse, ConsentChoices};
use crate::oqs::Outcome;
use crate::person::PhoneKind;

/// The registration flow, when the card was not registered for insurance use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegistrationRecord {
    /// The reader offered 保険証利用登録.
    pub offered: bool,
    /// The patient's answer (`None` while unanswered).
    pub accepted: Option<bool>,
    /// What the service answered to the registration.
    pub outcome: Option<Outcome>,
}

/// The reception so far (complete once the patient took the card back after the result).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceptionOutcome {
    /// Every screen shown, in order (a screen shown twice in a row is recorded once).
    pub screens: Vec<Screen>,
    /// Every message shown, in order.
    pub message_codes: Vec<MessageCode>,
    /// ATR of the last card detected (upper-case hex).
    pub(crate) atr: Option<String>,
    /// How the holder was identified, once they were.
    pub identity: Option<IdentityMethod>,
    /// Tries left on the auth PIN as the card last reported them.
    pub pin_tries_left: Option<u8>,
    /// How many times face authentication failed before the reception ended.
    pub face_failures: u32,
    /// What the reader sent to the card, by kind.
    pub commands: CommandCounts,
    /// A VERIFY carrying a PIN reached JPKI EF `0018` during this reception.
    pub verify_sent: bool,
    /// The consent flags sent with the check (`None` when no check was sent).
    pub consent: Option<ConsentChoices>,
    /// What became of 保険証利用登録 during this reception.
    pub registration: RegistrationRecord,
    /// The renewal notice was shown (certificate expires within three months).
    pub renewal_notice: bool,
    /// The certificate was in its grace period: qualification data only.
    pub qualification_only: bool,
    /// The service's own outcome of the last check or registration.
    pub service_outcome: Option<Outcome>,
    /// 資格有効性 the qualification system answered, when it answered one.
    pub validity: Option<QualificationValidity>,
    /// 保険者番号 of the insurance the check found.
    pub insurer_number: Option<String>,
    pub(crate) insurer_name: Option<String>,
    /// InsuredPartialContributionRatio as a percentage (30 = 3割).
    pub burden_percent: Option<u8>,
    /// LimitApplicationCertificateClassificationFlag (`A03`, `B04`...), when provided.
    pub limit_class: Option<String>,
    /// Guidance for staff when the patient could not be admitted online.
    pub fallback: Vec<FallbackGuidance>,
    /// The last answer of the service, in full.
    pub response: Option<CheckResponse>,
    /// The reader's own log of APDUs (PINs redacted).
    pub(crate) apdus: Vec<Exchange>,
    /// The patient took the card back after the result.
    pub finished: bool,
    /// The reception ended without a result: the card was taken away before it, or another
    /// card was placed when the reader asked for this one again. The next card starts a new
    /// reception (docs/reader.md, "Where a reception ends").
    pub abandoned: bool,
    // The phone's fields are left out of a card reception's serialized form (absent reads as
    // `null` / `false` in scenario expectations).
    /// The reception used a phone of this kind instead of the card (docs/spec/smartphone.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smartphone: Option<PhoneKind>,
    /// Tries left on the Android phone credential's PIN as the phone last reported them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_pin_tries_left: Option<u8>,
    /// A VERIFY reached the phone on the generic reader during this reception.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub phone_verify_sent: bool,
    /// The iPhone's on-device approval, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_approval: Option<PhoneApproval>,
}

impl ReceptionOutcome {}

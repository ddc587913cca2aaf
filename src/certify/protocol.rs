//! The driver protocol, version 1: how `myna-hil certify --driver CMD` drives a device under test.
//!
//! The harness starts CMD once. It writes one JSON [`Instruction`] per line to the driver's
//! stdin and waits for exactly one JSON [`DriverAnswer`] line on its stdout before sending the next
//! (stderr is passed through to the harness's log). The first instruction is `hello`, the last
//! `shutdown`. An answer with another `id`, a line that is not JSON, a line nobody asked for,
//! or no answer within the step's `timeout_ms` fails the step; the harness then ends the driver
//! (its whole process group).
//!
//! The vocabulary is the operator's: what a person at the clinic does at the reader. The card
//! itself is placed and taken away by the harness (it is served through vpcd or a serial front
//! end); `card_placed` / `card_removed` tell the device side that it happened, as a real
//! reader's card-detect would. The answer reports what the device now shows, so requirements
//! that only a person can see are judged from the driver's report ("driver-reported") or, in
//! interactive mode, from the operator's yes/no answer ("operator-judged").
//!
//! Versioning: `version` is 1. A later version may add optional fields and actions. A device
//! that cannot do an action (a face-only terminal and `choose_pin`) declares it in its `hello`
//! answer (`unsupported: [ACTION…]`): the cases that need it are not run, and the requirements
//! only they give evidence for are `not_applicable`. An action answered `unsupported` without
//! that declaration is a failed step like any other.

use serde::{Deserialize, Serialize};

/// The protocol name sent in `hello`.
pub(crate) const PROTOCOL_NAME: &str = "myna-hil-driver";
/// The protocol version this harness speaks.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// One line from the harness to the driver.
// No `deny_unknown_fields` here: serde cannot combine it with `flatten` (every `op` would be
// an unknown field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instruction {
    /// Increases by one per instruction, from 0; the answer repeats it.
    pub id: u64,
    /// The instruction itself.
    #[serde(flatten)]
    pub op: Op,
}

/// What the harness asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// First line: who the harness is and where the device finds the emulated services.
    Hello {
        /// The protocol's name, `myna-hil-driver`.
        protocol: String,
        /// The protocol version the harness speaks.
        version: u32,
        /// The PC/SC reader name the emulated card appears in (vpcd), when served through vpcd:
        /// the face reader's card slot.
        reader: Option<String>,
        /// The PC/SC reader name of the clinic's generic contactless reader (汎用カードリーダー),
        /// where the harness holds the phone (vpcd's next slot, `Virtual PCD 00 01`); absent
        /// when the run has no second slot. A driver written before it ignores it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generic_reader: Option<String>,
        /// Base URL of the emulated qualification system's HTTP API, when served.
        oqs_url: Option<String>,
        /// Folder of the emulated qualification system's file interface, when served.
        files_dir: Option<String>,
        /// 医療機関コード the device should use.
        facility_code: String,
    },
    /// A new case starts: the device returns to its idle screen. `date` is the day the
    /// qualification system judges by (the case's clock), `YYYY-MM-DD`.
    BeginCase {
        /// The case's id in the suite.
        case: String,
        /// The day the qualification system judges by, `YYYY-MM-DD`.
        date: String,
    },
    /// One operator action; answered when the device has finished reacting to it.
    Step {
        /// The case's id in the suite.
        case: String,
        /// 1-based index of the step within the case.
        step: u32,
        /// What the operator does.
        action: Action,
        /// How long the harness waits for the answer.
        timeout_ms: u64,
    },
    /// The case is over (the harness has judged it or will).
    EndCase {
        /// The case's id in the suite.
        case: String,
    },
    /// Last line: the driver should exit after answering.
    Shutdown,
}

/// An operator action at the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// The harness has put the card on the reader.
    CardPlaced,
    /// The harness has taken the card away.
    CardRemoved,
    /// Choose 顔認証; `ocr_birth_date` / `ocr_expiry_year` / `ocr_security_code` are what a
    /// camera would read from the card front (for 照合番号B).
    ChooseFace {
        /// Birth date as printed on the card front.
        ocr_birth_date: String,
        /// Year of the card's expiry as printed on the front.
        ocr_expiry_year: i32,
        /// The 4-digit セキュリティコード printed on the front.
        ocr_security_code: String,
    },
    /// The camera's verdict.
    FaceResult {
        /// Whether the face matched the card's photo.
        matched: bool,
    },
    /// Choose 暗証番号.
    ChoosePin,
    /// Type these 4 digits on the PIN pad. Never logged in clear by the harness.
    EnterPin {
        /// The 4 digits.
        pin: String,
    },
    /// Choose 目視 by staff.
    ChooseVisual,
    /// Staff confirm (or not) that the holder is the person on the card.
    StaffCheck {
        /// Whether staff confirmed the holder's identity.
        confirmed: bool,
    },
    /// `comprehensive` (包括同意) or `individual`.
    ConsentMode {
        /// `comprehensive` or `individual`.
        mode: String,
    },
    /// Yes / no on the current consent screen.
    Consent {
        /// Whether the patient agreed.
        agree: bool,
    },
    /// Yes / no to 保険証利用登録.
    Register {
        /// Whether the patient agreed to register.
        agree: bool,
    },
    /// Choose スマートフォン on the face reader (the patient uses a phone, not the card).
    ChooseSmartphone,
    /// Choose the kind of phone: `android` or `iphone`.
    ChoosePhone {
        /// `android` or `iphone`.
        kind: String,
    },
    /// Type the Android phone's 4-digit PIN on the face reader. Never logged in clear by the
    /// harness.
    EnterPhonePin {
        /// The 4 digits.
        pin: String,
    },
    /// The iPhone's on-device approval (Face ID / Touch ID): `approved`, `declined`,
    /// `timed_out`. The harness gives it to the emulated phone too.
    PhoneApproval {
        /// `approved`, `declined` or `timed_out`.
        approval: String,
    },
    /// The harness has held the phone over the generic reader (`hello.generic_reader`).
    PhonePlaced,
    /// The harness has taken the phone away from the generic reader.
    PhoneRemoved,
    /// Wait this long without doing anything (lets the device finish on its own).
    Wait {
        /// Milliseconds to wait.
        ms: u64,
    },
}

/// One line from the driver to the harness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DriverAnswer {
    /// The instruction's `id`.
    pub id: u64,
    /// Whether the device carried the instruction out; `false` comes with an error text.
    pub ok: bool,
    /// `hello` only: the device's own name and version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `hello` only: the actions the device cannot do (`choose_pin` for a face-only terminal
    /// …). The cases that need one are not run and their requirements are `not_applicable`;
    /// nothing else ever is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) unsupported: Vec<String>,
    /// `hello` only: whether the device supports the smartphone path (スマホ保険証: a phone
    /// read on the generic reader). Absent or `false`: the cases with phone steps are not run
    /// and the `PHONE-*` requirements are `not_applicable` by this declaration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) phones: bool,
    /// What the device shows after the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<Shown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<DriverError>,
}

/// Longest text from a driver kept in observations and reports (a name, a screen, a
/// message); the rest is cut with its length said.
const MAX_DRIVER_TEXT_CHARS: usize = 500;

impl DriverAnswer {
    /// The answer with every text in it printable (control characters escaped) and of bounded
    /// length: what a driver writes reaches the console, report.html and junit.xml.
    pub(crate) fn printable(self) -> DriverAnswer {
        let text = |text: String| super::dut::printable(&text, MAX_DRIVER_TEXT_CHARS);
        let optional = |value: Option<String>| value.map(text);
        DriverAnswer {
            id: self.id,
            ok: self.ok,
            device: optional(self.device),
            unsupported: self.unsupported.into_iter().map(text).collect(),
            phones: self.phones,
            shown: self.shown.map(|shown| Shown {
                screen: optional(shown.screen),
                messages: shown.messages.into_iter().map(text).collect(),
                qualification: optional(shown.qualification),
                pin_offered: shown.pin_offered,
                face_offered: shown.face_offered,
                guidance: optional(shown.guidance),
            }),
            error: self.error.map(|error| DriverError {
                kind: text(error.kind),
                message: text(error.message),
            }),
        }
    }
}

/// What the device shows, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Shown {
    /// The screen, in the reference device's names (`place_card`, `choose_method`, `pin_entry`,
    /// `pin_locked`, `face_capture`, `visual_check`, `consent_mode`, `consent`,
    /// `registration_offer`, `result`, `fallback`, `card_error`, `finished`...); free text for
    /// another device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<String>,
    /// Message codes shown since the previous answer (`001`, `002`, `006`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// The qualification result as shown to staff: `valid`, `invalid`, `no_qualification`,
    /// `multiple`, `unknown`... (QualificationValidity 1 / 2 / 4 / 5 / 3) or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification: Option<String>,
    /// Whether the device offered PIN entry on this screen.
    #[serde(default)]
    pub pin_offered: bool,
    /// Whether the device offered face authentication (顔認証) on this screen; never for a
    /// phone (docs/spec/smartphone.md §3.12).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub face_offered: bool,
    /// Fallback guidance shown to staff, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) guidance: Option<String>,
}

/// Why a step failed on the device side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DriverError {
    /// `unsupported` (the device cannot do this action), `device` (the device failed),
    /// `timeout` (the device did not react in time).
    pub(crate) kind: String,
    pub(crate) message: String,
}

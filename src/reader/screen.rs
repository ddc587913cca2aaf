//! The screens of the reader, and the inputs each one accepts.

use serde::{Deserialize, Serialize};

use super::collation::FaceOcr;
use super::consent::ConsentTopic;
use crate::oqs::message::ConsentMode;
use crate::person::PhoneKind;

/// A screen of the reader. Screens that wait for an input say which ones they accept
/// ([`Screen::accepts`]); notices are passed through and only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Screen {
    /// 「マイナンバーカードを置いてください」
    PlaceCard,
    /// 001 / 002: the card cannot be used; take it back (and try again).
    CardError,
    /// The card was taken away while being read: 「もう一度置いてください」.
    PlaceCardAgain,
    /// 顔認証 / 暗証番号 / 目視 — the methods this card and reader allow.
    ChooseMethod,
    /// The camera is matching the holder against the card photo.
    FaceCapture,
    /// The face did not match: try again or choose another method.
    FaceNoMatch,
    /// 4-digit PIN entry (tries left shown).
    PinEntry,
    /// The PIN is locked: face or 目視 only.
    PinLocked,
    /// Staff compare the holder with the card face.
    VisualCheck,
    /// 包括同意 or 個別 (from 2024-10-07).
    ConsentMode,
    /// One yes/no consent screen.
    Consent(ConsentTopic),
    /// Notice: the certificate expires within three months.
    RenewalNotice,
    /// Notice: the certificate is past its notAfter (no consent screens; inside the grace
    /// period the check gives qualification data only).
    ExpiredNotice,
    /// 「保険証利用登録をしますか」
    RegistrationOffer,
    /// The qualification result (有効 or the reason it is not).
    Result,
    /// The check could not be made: the fallback guidance for staff.
    Fallback,
    /// The patient took the card back after the result; the reception is over.
    Finished,
    /// スマートフォン chosen: iPhone or Android? (docs/spec/smartphone.md §3.8)
    ChoosePhone,
    /// Android: the 4-digit PIN of the スマホ用電子証明書, typed on the face reader.
    PhonePinEntry,
    /// iPhone: waiting for Face ID / Touch ID on the phone.
    PhoneApproval,
    /// Hold the phone over the generic reader.
    PlacePhone,
}

/// A screen as scenarios write it (`pin_entry`, `consent: medical_treatment`): its serde name,
/// so that a message can be searched for in, and pasted into, a scenario file.
impl std::fmt::Display for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => f.write_str(&name),
            Ok(serde_json::Value::Object(map)) => {
                let mut first = true;
                for (key, value) in &map {
                    let separator = if first { "" } else { ", " };
                    first = false;
                    write!(f, "{separator}{key}: {}", value.as_str().unwrap_or("?"))?;
                }
                Ok(())
            }
            _ => f.write_str("?"),
        }
    }
}

/// What happens at the reader: the patient's and staff's actions, and reader events the
/// terminal must know about. Deserializable so a scenario step can carry one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Input {
    /// The card is on the reader: detect and read it.
    PlaceCard,
    /// The patient takes the card away (before or after the result).
    RemoveCard,
    /// The reader was power-cycled: the session is lost, the reader starts over.
    ReaderRestarted,
    /// 顔認証, with what the reader OCRs from the card front.
    ChooseFace {
        /// What the reader's camera read from the card front.
        ocr: FaceOcr,
    },
    /// 暗証番号 (PIN) instead of the face.
    ChoosePin,
    /// 目視 by staff.
    ChooseVisual,
    /// The camera's verdict.
    FaceResult {
        /// Whether the face matched the card's photo.
        matched: bool,
    },
    /// The 4 digits typed on the reader (redacted in logs and outcomes).
    EnterPin {
        /// The digits typed.
        pin: Pin,
    },
    /// Staff confirm (or not) that the holder is the person on the card.
    StaffCheck {
        /// Whether staff confirmed the holder's identity.
        confirmed: bool,
    },
    /// 包括同意 or 個別.
    ConsentMode {
        /// The mode chosen.
        mode: ConsentMode,
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
    /// スマートフォン on the face reader's first screen (offered only with a generic reader).
    ChooseSmartphone,
    /// iPhone or Android.
    ChoosePhone {
        /// The phone the patient uses.
        kind: PhoneKind,
    },
    /// Android: the phone credential's 4 digits typed on the face reader (redacted).
    EnterPhonePin {
        /// The digits typed.
        pin: Pin,
    },
    /// iPhone: what became of Face ID / Touch ID on the phone.
    PhoneApproval {
        /// Approved, declined or timed out.
        approval: PhoneApproval,
    },
    /// The phone is held over the generic reader: read, verify (Android), sign.
    PlacePhone,
    /// The patient takes the phone back after the result.
    RemovePhone,
}

/// The outcome of the on-device approval on an iPhone (docs/spec/smartphone.md §5.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneApproval {
    /// Face ID / Touch ID succeeded: the phone will sign.
    Approved,
    /// The holder cancelled.
    Declined,
    /// Nobody approved in time.
    TimedOut,
}

impl Input {
    /// A short name for errors and reports (no PIN).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Input::PlaceCard => "place_card",
            Input::RemoveCard => "remove_card",
            Input::ReaderRestarted => "reader_restarted",
            Input::ChooseFace { .. } => "choose_face",
            Input::ChoosePin => "choose_pin",
            Input::ChooseVisual => "choose_visual",
            Input::FaceResult { .. } => "face_result",
            Input::EnterPin { .. } => "enter_pin",
            Input::StaffCheck { .. } => "staff_check",
            Input::ConsentMode { .. } => "consent_mode",
            Input::Consent { .. } => "consent",
            Input::Register { .. } => "register",
            Input::ChooseSmartphone => "choose_smartphone",
            Input::ChoosePhone { .. } => "choose_phone",
            Input::EnterPhonePin { .. } => "enter_phone_pin",
            Input::PhoneApproval { .. } => "phone_approval",
            Input::PlacePhone => "place_phone",
            Input::RemovePhone => "remove_phone",
        }
    }
}

/// A PIN typed by the patient. Its `Debug` and serialized forms never show the digits.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Pin(String);

impl Pin {
    /// The digits as typed; they are shown nowhere afterwards.
    pub fn new(digits: impl Into<String>) -> Pin {
        Pin(digits.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(****)")
    }
}

impl Serialize for Pin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("****")
    }
}

impl Screen {
    /// The input names this screen waits for (reader events are accepted everywhere).
    pub(crate) fn accepts(self) -> &'static [&'static str] {
        match self {
            Screen::PlaceCard => &["place_card", "choose_smartphone"],
            Screen::PlaceCardAgain | Screen::CardError => &["place_card"],
            Screen::ChooseMethod => &["choose_face", "choose_pin", "choose_visual"],
            Screen::FaceCapture => &["face_result"],
            Screen::FaceNoMatch => &["face_result", "choose_face", "choose_pin", "choose_visual"],
            Screen::PinEntry => &["enter_pin", "choose_face", "choose_visual"],
            Screen::PinLocked => &["choose_face", "choose_visual", "choose_pin", "enter_pin"],
            Screen::VisualCheck => &["staff_check"],
            Screen::ConsentMode => &["consent_mode"],
            Screen::Consent(_) => &["consent"],
            Screen::RegistrationOffer => &["register"],
            Screen::RenewalNotice | Screen::ExpiredNotice => &[],
            Screen::Result | Screen::Fallback => &["remove_card", "remove_phone"],
            Screen::Finished => &["remove_card"],
            Screen::ChoosePhone => &["choose_phone", "place_card"],
            Screen::PhonePinEntry => &["enter_phone_pin"],
            Screen::PhoneApproval => &["phone_approval"],
            Screen::PlacePhone => &["place_phone"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screens_are_shown_as_scenarios_write_them() {
        assert_eq!(Screen::PlaceCard.to_string(), "place_card");
        assert_eq!(Screen::PinEntry.to_string(), "pin_entry");
        assert_eq!(
            Screen::Consent(ConsentTopic::MedicalTreatment).to_string(),
            "consent: medical_treatment"
        );
    }
}

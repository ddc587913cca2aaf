//! Reception steps as written (`reception:`): what the patient and staff do at the
//! face-authentication reader, fed one at a time to [`crate::reader::Terminal`], and what such a
//! step expects right after it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::list::ListExpectation;
use crate::oqs::ConsentMode;
use crate::reader::{FaceOcr, MessageCode, Pin, Screen};

/// `reception:` as written: a bare name (`place_card`) or a one-key mapping
/// (`enter_pin: "1234"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReceptionDoc {
    /// The patient places the card on the reader.
    PlaceCard,
    /// The patient takes the card back.
    RemoveCard,
    /// Tell the terminal the reader was power-cycled (after `event: power_cycle`).
    ReaderRestarted,
    /// 顔認証; the reader OCRs the card front exactly as printed on the card in the slot.
    ChooseFace,
    /// 顔認証 with an OCR result given explicitly (a misread is just a different value).
    ChooseFaceWithOcr(FaceOcr),
    /// 暗証番号.
    ChoosePin,
    /// 目視 by staff.
    ChooseVisual,
    /// The camera's verdict.
    FaceResult(FaceVerdict),
    /// The digits typed on the reader (quote them: `"0123"`).
    EnterPin(Pin),
    /// Staff confirm (true) or not (false) the holder by 目視.
    StaffCheck(bool),
    /// 包括同意 or 個別.
    ConsentMode(ConsentMode),
    /// Yes / no on the consent screen shown now.
    Consent(bool),
    /// Yes / no to 保険証利用登録.
    Register(bool),
}

/// `face_result:` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceVerdict {
    Match,
    NoMatch,
}

impl ReceptionDoc {
    /// The name the step is shown by (never the PIN).
    pub fn name(&self) -> &'static str {
        match self {
            ReceptionDoc::PlaceCard => "place_card",
            ReceptionDoc::RemoveCard => "remove_card",
            ReceptionDoc::ReaderRestarted => "reader_restarted",
            ReceptionDoc::ChooseFace => "choose_face",
            ReceptionDoc::ChooseFaceWithOcr(_) => "choose_face_with_ocr",
            ReceptionDoc::ChoosePin => "choose_pin",
            ReceptionDoc::ChooseVisual => "choose_visual",
            ReceptionDoc::FaceResult(_) => "face_result",
            ReceptionDoc::EnterPin(_) => "enter_pin",
            ReceptionDoc::StaffCheck(_) => "staff_check",
            ReceptionDoc::ConsentMode(_) => "consent_mode",
            ReceptionDoc::Consent(_) => "consent",
            ReceptionDoc::Register(_) => "register",
        }
    }

    /// Whether the step can consume a try on the card (a PIN VERIFY, or the 照合番号B VERIFY
    /// that opens the card face).
    pub fn may_consume_tries(&self) -> bool {
        matches!(
            self,
            ReceptionDoc::EnterPin(_)
                | ReceptionDoc::ChooseFace
                | ReceptionDoc::ChooseFaceWithOcr(_)
        )
    }
}

impl fmt::Display for ReceptionDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceptionDoc::EnterPin(_) => f.write_str("enter_pin: ****"),
            ReceptionDoc::FaceResult(verdict) => write!(
                f,
                "face_result: {}",
                match verdict {
                    FaceVerdict::Match => "match",
                    FaceVerdict::NoMatch => "no_match",
                }
            ),
            ReceptionDoc::StaffCheck(confirmed) => write!(f, "staff_check: {confirmed}"),
            ReceptionDoc::Consent(agree) => write!(f, "consent: {agree}"),
            ReceptionDoc::Register(agree) => write!(f, "register: {agree}"),
            ReceptionDoc::ConsentMode(mode) => write!(
                f,
                "consent_mode: {}",
                match mode {
                    ConsentMode::Comprehensive => "comprehensive",
                    ConsentMode::Individual => "individual",
                }
            ),
            other => f.write_str(other.name()),
        }
    }
}

/// `expect:` of a reception step: what it expects right after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceptionStepExpectation {
    /// The screen shown afterwards.
    #[serde(default)]
    pub screen: Option<Screen>,
    /// The messages shown during this step, in order (empty list: none), or
    /// `{ contains: [...] }`.
    #[serde(default)]
    pub messages: Option<ListExpectation<MessageCode>>,
}

/// A screen's name as scenarios write it (`pin_entry`, `consent: medical_treatment`).
pub fn screen_name(screen: Screen) -> String {
    match serde_json::to_value(screen) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(key, value)| format!("{key}: {}", value.as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "?".to_owned(),
    }
}

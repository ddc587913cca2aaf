//! Reception steps as written (`reception:`): what the patient and staff do at the
//! face-authentication reader, fed one at a time to [`crate::reader::Terminal`], and what such a
//! step expects right after it.

use std::fmt;

use serde::de::{self, IntoDeserializer};
use serde::{Deserialize, Serialize};

use super::list::ListExpectation;
use crate::oqs::ConsentMode;
use crate::person::PhoneKind;
use crate::reader::{FaceOcr, MessageCode, PhoneApproval, Pin, Screen};

/// `reception:` as written: a bare name (`place_card`) or a one-key mapping
/// (`enter_pin: "1234"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReceptionDoc {
    /// The patient places the card on the reader.
    PlaceCard,
    /// The patient places the scenario's card of this name (`place_card: hanako`); the card in
    /// the slot, if another, is taken out first and keeps its state. Read by
    /// [`ReceptionWritten`], since a derived enum cannot take `place_card` both bare and with a
    /// value.
    #[serde(skip)]
    PlaceNamedCard(String),
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
    /// スマートフォン on the face reader's first screen (docs/smartphone.md).
    ChooseSmartphone,
    /// `iphone` or `android`.
    ChoosePhone(PhoneKind),
    /// Android: the phone credential's digits typed on the face reader (quote them).
    EnterPhonePin(Pin),
    /// iPhone: `approved`, `declined` or `timed_out` on the phone.
    PhoneApproval(PhoneApproval),
    /// The world's phone of this name is held over the generic reader.
    PlacePhone(String),
    /// The patient takes the phone back after the result.
    RemovePhone,
}

/// `reception:` as written, read into a [`ReceptionDoc`]: `place_card: NAME` here, every other
/// form by the derived enum (which lists the valid inputs when one is unknown).
pub(crate) enum ReceptionWritten {
    Input(ReceptionDoc),
    /// A bare name that is no input, with the message listing the inputs. Kept rather than
    /// refused here: an error raised while reading a bare scalar this way would lose its
    /// location, so the loader reports it at the value's own.
    Unknown(String),
}

impl<'de> Deserialize<'de> for ReceptionWritten {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReceptionVisitor)
    }
}

struct ReceptionVisitor;

impl<'de> de::Visitor<'de> for ReceptionVisitor {
    type Value = ReceptionWritten;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a reception input: a name (`place_card`) or a one-key mapping (`enter_pin: \"1234\"`)",
        )
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<ReceptionWritten, E> {
        let read: Result<ReceptionDoc, de::value::Error> =
            ReceptionDoc::deserialize(name.into_deserializer());
        Ok(match read {
            Ok(input) => ReceptionWritten::Input(input),
            // The list as the YAML loader writes it: `expected one of a, b`, no backticks.
            Err(error) => {
                ReceptionWritten::Unknown(match error.to_string().split_once(", expected ") {
                    Some((what, choices)) => {
                        format!("{what}, expected {}", choices.replace('`', ""))
                    }
                    None => error.to_string(),
                })
            }
        })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ReceptionWritten, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "an empty mapping: write one input, e.g. `place_card` or `{ enter_pin: \"1234\" }`",
            ));
        };
        if key == "place_card" {
            let name: String = map.next_value()?;
            if map.next_key::<String>()?.is_some() {
                return Err(de::Error::custom("a reception step takes one input"));
            }
            return Ok(ReceptionWritten::Input(ReceptionDoc::PlaceNamedCard(name)));
        }
        ReceptionDoc::deserialize(de::value::MapAccessDeserializer::new(KeyThenRest {
            key: Some(key),
            rest: map,
        }))
        .map(ReceptionWritten::Input)
    }
}

/// A mapping whose first key was already read: gives it again, then the rest as they come.
struct KeyThenRest<A> {
    key: Option<String>,
    rest: A,
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for KeyThenRest<A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => self.rest.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.rest.next_value_seed(seed)
    }
}

/// `face_result:` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceVerdict {
    /// The face matches the card's photo.
    Match,
    /// The face does not match.
    NoMatch,
}

impl ReceptionDoc {
    /// The name the step is shown by (never the PIN).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ReceptionDoc::PlaceCard | ReceptionDoc::PlaceNamedCard(_) => "place_card",
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
            ReceptionDoc::ChooseSmartphone => "choose_smartphone",
            ReceptionDoc::ChoosePhone(_) => "choose_phone",
            ReceptionDoc::EnterPhonePin(_) => "enter_phone_pin",
            ReceptionDoc::PhoneApproval(_) => "phone_approval",
            ReceptionDoc::PlacePhone(_) => "place_phone",
            ReceptionDoc::RemovePhone => "remove_phone",
        }
    }

    /// Whether the step can consume a try on the card (a PIN VERIFY, or the 照合番号B VERIFY
    /// that opens the card face).
    pub(crate) fn may_consume_tries(&self) -> bool {
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
            ReceptionDoc::EnterPhonePin(_) => f.write_str("enter_phone_pin: ****"),
            ReceptionDoc::ChoosePhone(kind) => write!(f, "choose_phone: {}", kind.label()),
            ReceptionDoc::PlacePhone(name) => write!(f, "place_phone: {name}"),
            ReceptionDoc::PhoneApproval(approval) => {
                write!(f, "phone_approval: {}", super::written(approval))
            }
            ReceptionDoc::PlaceNamedCard(name) => write!(f, "place_card: {name}"),
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

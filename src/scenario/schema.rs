//! The scenario file format exactly as written in YAML (deserialized strictly: unknown keys and
//! wrong types are errors with a location). [`crate::scenario::load`] turns these documents into
//! the validated [`crate::scenario::Scenario`] the runner executes.
//!
//! Every struct denies unknown fields so that serde's own message lists the valid keys.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;

use super::pattern::{BytePattern, HexBytes, SwPattern};
use crate::card::CardDescription;

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDoc {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The scenario's date (receptions and the qualification rules use it, never the wall clock).
    #[serde(default)]
    pub clock: Option<Spanned<chrono::NaiveDate>>,
    /// Registry, cards, faults, reader options: inline, or a path to a shared world file.
    #[serde(default)]
    pub world: Option<Spanned<InlineOrPath<super::world::WorldDoc>>>,
    /// The card in the reader when the scenario starts: inline, a path to a card file, or —
    /// with a world — the name of one of the world's cards.
    #[serde(default)]
    pub card: Option<Spanned<InlineOrPath<CardDescription>>>,
    pub steps: Vec<Spanned<StepDoc>>,
    /// Scenario-level expectations, checked after the last step.
    #[serde(default)]
    pub expect: Option<Spanned<super::checks::ScenarioExpectDoc>>,
}

/// A value written inline as a mapping, or a string naming a YAML file (relative to the file
/// that references it) holding that value. Cards use it today; shared worlds will too.
#[derive(Debug)]
pub enum InlineOrPath<T> {
    Path(PathBuf),
    Inline(Box<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for InlineOrPath<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InlineOrPathVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for InlineOrPathVisitor<T> {
            type Value = InlineOrPath<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path to a YAML file (relative to this file) or an inline mapping")
            }

            fn visit_str<E: de::Error>(self, path: &str) -> Result<Self::Value, E> {
                Ok(InlineOrPath::Path(PathBuf::from(path)))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                // Deserializing from the same MapAccess keeps the YAML deserializer's position
                // tracking, so errors inside an inline value still carry their line and column.
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|value| InlineOrPath::Inline(Box::new(value)))
            }
        }

        deserializer.deserialize_any(InlineOrPathVisitor(std::marker::PhantomData))
    }
}

/// One step as written: `label` plus exactly one action key (checked after parsing, because
/// the set of action keys is what a reader of the file sees, not an enum tag).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub send: Option<Spanned<HexBytes>>,
    #[serde(default)]
    pub power: Option<PowerAction>,
    #[serde(default)]
    pub pins: Option<PinsExpectation>,
    #[serde(default)]
    pub event: Option<ReaderEvent>,
    #[serde(default)]
    pub reception: Option<Spanned<super::reception::ReceptionDoc>>,
    #[serde(default)]
    pub insurance_card_lookup: Option<Spanned<InsuranceCardLookupDoc>>,
    #[serde(default)]
    pub expect: Option<Spanned<ExpectDoc>>,
}

/// `insurance_card_lookup:` — the terminal looks a patient up by 被保険者証 data
/// (ReferenceClassification 2) instead of the card; date and facility come from the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsuranceCardLookupDoc {
    pub insurer_number: String,
    #[serde(default)]
    pub symbol: String,
    pub number: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    pub birth_date: chrono::NaiveDate,
}

fn default_branch() -> String {
    "00".to_owned()
}

/// The action keys of a step, in the order the reference lists them.
pub const STEP_ACTION_KEYS: &[&str] = &[
    "send",
    "power",
    "pins",
    "event",
    "reception",
    "insurance_card_lookup",
];

/// What a step expects of the answer. Which keys apply depends on the action; the loader
/// rejects a key that the step's action cannot produce.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDoc {
    #[serde(default)]
    pub sw: Option<SwPattern>,
    #[serde(default)]
    pub data: Option<BytePattern>,
    #[serde(default)]
    pub data_len: Option<usize>,
    #[serde(default)]
    pub atr: Option<BytePattern>,
    #[serde(default)]
    pub error: Option<TransportErrorKind>,
    /// Reception steps: the screen shown afterwards.
    #[serde(default)]
    pub screen: Option<crate::reader::Screen>,
    /// Reception steps: the messages shown during the step (`[]`: none).
    #[serde(default)]
    pub messages: Option<Vec<crate::reader::MessageCode>>,
    /// `insurance_card_lookup` steps: the QualificationValidity of the answer.
    #[serde(default)]
    pub validity: Option<crate::oqs::codes::QualificationValidity>,
}

/// `power:` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    On,
    Off,
    Reset,
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Reset => "reset",
        })
    }
}

/// `pins:` — tries left per PIN right now; absent keys are not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinsExpectation {
    #[serde(default)]
    pub auth: Option<PinExpectation>,
    #[serde(default)]
    pub signing: Option<PinExpectation>,
    #[serde(default)]
    pub text: Option<PinExpectation>,
}

/// Tries left on one PIN, or `none` for a PIN the card's profile does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum PinExpectation {
    TriesLeft(u8),
    Absent,
}

impl fmt::Display for PinExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinExpectation::TriesLeft(n) => write!(f, "{n}"),
            PinExpectation::Absent => f.write_str("none"),
        }
    }
}

impl From<PinExpectation> for String {
    fn from(value: PinExpectation) -> String {
        value.to_string()
    }
}

impl FromStr for PinExpectation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "none" {
            return Ok(PinExpectation::Absent);
        }
        match text.parse::<u8>() {
            Ok(n) if n <= 15 => Ok(PinExpectation::TriesLeft(n)),
            _ => Err(format!(
                "expected tries left (0 to 15) or `none`, got {text:?}"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for PinExpectation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// `event:` — things that happen to the reader or the card between (or during) commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReaderEvent {
    /// The card is pulled out.
    Remove,
    /// The removed card goes back in and the reader powers it (its ATR is recorded).
    Insert,
    /// The reader loses power and comes back: the card is cold-started.
    PowerCycle,
    /// The card is pulled out while it processes the next command.
    RemoveMidCommand,
    /// The next N commands are lost on the way to the card.
    TransmissionErrors(u32),
    /// Every later command takes this many more milliseconds (simulated).
    LatencyMs(u64),
    /// The reader gives up on a command that takes longer than this (simulated); 0 = never.
    ReaderTimeoutMs(u64),
    /// Simulated time passes (the patient hesitates, the clerk is away).
    WaitMs(u64),
    /// The terminal loses its network link to the qualification system.
    NetworkOutage,
    /// The network link is back.
    NetworkRestored,
    /// J-LIS becomes unreachable for the qualification system.
    JlisOutage,
    /// J-LIS is reachable again.
    JlisRestored,
}

impl ReaderEvent {
    /// Events of the world around the reader (network, J-LIS), not of the card slot.
    pub fn is_world_event(self) -> bool {
        matches!(
            self,
            ReaderEvent::NetworkOutage
                | ReaderEvent::NetworkRestored
                | ReaderEvent::JlisOutage
                | ReaderEvent::JlisRestored
        )
    }

    /// Events a served card (vpcd) can reproduce as well as the virtual reader.
    pub fn is_slot_event(self) -> bool {
        matches!(
            self,
            ReaderEvent::Remove | ReaderEvent::Insert | ReaderEvent::PowerCycle
        )
    }

    /// Faults only the in-process reader can inject.
    pub fn is_injected_fault(self) -> bool {
        matches!(
            self,
            ReaderEvent::RemoveMidCommand
                | ReaderEvent::TransmissionErrors(_)
                | ReaderEvent::LatencyMs(_)
                | ReaderEvent::ReaderTimeoutMs(_)
                | ReaderEvent::WaitMs(_)
        )
    }
}

impl fmt::Display for ReaderEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReaderEvent::Remove => f.write_str("remove"),
            ReaderEvent::Insert => f.write_str("insert"),
            ReaderEvent::PowerCycle => f.write_str("power_cycle"),
            ReaderEvent::RemoveMidCommand => f.write_str("remove_mid_command"),
            ReaderEvent::TransmissionErrors(n) => write!(f, "transmission_errors: {n}"),
            ReaderEvent::LatencyMs(ms) => write!(f, "latency_ms: {ms}"),
            ReaderEvent::ReaderTimeoutMs(ms) => write!(f, "reader_timeout_ms: {ms}"),
            ReaderEvent::WaitMs(ms) => write!(f, "wait_ms: {ms}"),
            ReaderEvent::NetworkOutage => f.write_str("network_outage"),
            ReaderEvent::NetworkRestored => f.write_str("network_restored"),
            ReaderEvent::JlisOutage => f.write_str("jlis_outage"),
            ReaderEvent::JlisRestored => f.write_str("jlis_restored"),
        }
    }
}

/// The reader-side failure a step can expect instead of an answer (`expect: { error: … }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportErrorKind {
    NoReader,
    NoCard,
    Removed,
    Timeout,
    Transmission,
    Refused,
}

impl TransportErrorKind {
    pub fn of(error: &crate::transport::TransportError) -> TransportErrorKind {
        use crate::transport::TransportError as E;
        match error {
            E::NoReader(_) => TransportErrorKind::NoReader,
            E::NoCard => TransportErrorKind::NoCard,
            E::CardRemoved => TransportErrorKind::Removed,
            E::Timeout(_) => TransportErrorKind::Timeout,
            E::Transmission(_) | E::Io(_) => TransportErrorKind::Transmission,
            E::Refused(_) => TransportErrorKind::Refused,
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::NoReader => "no_reader",
            TransportErrorKind::NoCard => "no_card",
            TransportErrorKind::Removed => "removed",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Transmission => "transmission",
            TransportErrorKind::Refused => "refused",
        })
    }
}

//! One step as written: an optional `label`, one action key, and the `expect:` of that action.
//!
//! The action key comes first: it says which expectation type `expect:` is read as, so that a
//! key the action cannot produce is refused where it is written.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::{Location, Spanned};

use super::expectation::{
    ExpectationSeed, LookupExpectation, PowerExpectation, ResponseExpectation,
};
use super::reception::{ReceptionDoc, ReceptionStepExpectation, ReceptionWritten};
use crate::scenario::pattern::CommandDoc;

/// One step as written.
#[derive(Debug, Default)]
pub struct StepDoc {
    pub(crate) label: Option<String>,
    /// The action keys in the order written. A valid step has exactly one; the loader reports
    /// none or several, because only it knows the step's number.
    pub(crate) actions: Vec<ActionDoc>,
    /// Where `expect:` was written before any action key: which keys it takes was not known
    /// yet, so it was not read.
    pub(crate) expect_before_action: Option<Location>,
    /// A `reception:` name that is no input: the message and where it is written.
    pub(crate) unknown_reception: Option<(String, Location)>,
}

/// A step's action with the expectation written for it.
#[derive(Debug)]
pub(crate) enum ActionDoc {
    Send {
        apdu: Spanned<CommandDoc>,
        expect: Option<ResponseExpectation>,
    },
    Power {
        action: PowerAction,
        expect: Option<PowerExpectation>,
    },
    /// Pins check retry counters themselves and take no `expect:`.
    Pins(PinsExpectation),
    /// Events only happen and take no `expect:`.
    Event(ReaderEvent),
    Reception {
        input: ReceptionDoc,
        expect: Option<ReceptionStepExpectation>,
    },
    InsuranceCardLookup {
        request: Spanned<InsuranceCardLookupDoc>,
        expect: Option<LookupExpectation>,
    },
    AdvanceClock(Spanned<AdvanceClockDoc>),
}

/// `advance_clock: { days: N }`: the scenario clock moves forward N days (1–36500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdvanceClockDoc {
    /// Signed, so that a negative or zero count gets the step's own message with the range.
    pub(crate) days: i64,
}

impl ActionDoc {
    /// The key the action is written with.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            ActionDoc::Send { .. } => "send",
            ActionDoc::Power { .. } => "power",
            ActionDoc::Pins(_) => "pins",
            ActionDoc::Event(_) => "event",
            ActionDoc::Reception { .. } => "reception",
            ActionDoc::InsuranceCardLookup { .. } => "insurance_card_lookup",
            ActionDoc::AdvanceClock(_) => "advance_clock",
        }
    }

    /// Reads the `expect:` value that follows this action, as this action's expectation type.
    fn read_expect<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        match self {
            ActionDoc::Send { expect, .. } => *expect = Some(map.next_value_seed(seed())?),
            ActionDoc::Power { expect, .. } => *expect = Some(map.next_value_seed(seed())?),
            ActionDoc::Reception { expect, .. } => *expect = Some(map.next_value_seed(seed())?),
            ActionDoc::InsuranceCardLookup { expect, .. } => {
                *expect = Some(map.next_value_seed(seed())?)
            }
            ActionDoc::Pins(_) | ActionDoc::Event(_) | ActionDoc::AdvanceClock(_) => {
                map.next_value_seed(NoExpectation(self.key()))?
            }
        }
        Ok(())
    }
}

fn seed<T>() -> ExpectationSeed<T> {
    ExpectationSeed::default()
}

/// Refuses the `expect:` of an action that takes none, pointing at the value.
struct NoExpectation(&'static str);

impl<'de> de::DeserializeSeed<'de> for NoExpectation {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _deserializer: D) -> Result<(), D::Error> {
        Err(de::Error::custom(format!(
            "a `{}` step takes no `expect:` (only send, power, reception and \
             insurance_card_lookup steps do)",
            self.0
        )))
    }
}

/// The keys of a step; the derived identifier names them all when a key is unknown.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum StepKey {
    Label,
    Send,
    Power,
    Pins,
    Event,
    Reception,
    InsuranceCardLookup,
    AdvanceClock,
    Expect,
}

const STEP_KEYS: &[&str] = &[
    "label",
    "send",
    "power",
    "pins",
    "event",
    "reception",
    "insurance_card_lookup",
    "advance_clock",
    "expect",
];

/// The action keys of a step, in the order the reference lists them.
pub const STEP_ACTION_KEYS: &[&str] = &[
    "send",
    "power",
    "pins",
    "event",
    "reception",
    "insurance_card_lookup",
    "advance_clock",
];

impl<'de> Deserialize<'de> for StepDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("StepDoc", STEP_KEYS, StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = StepDoc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step: a mapping with one action key, an optional label and expect")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepDoc, A::Error> {
        let mut step = StepDoc::default();
        let mut expect_seen = false;
        while let Some(key) = map.next_key::<StepKey>()? {
            let action = match key {
                StepKey::Label => {
                    if step.label.is_some() {
                        return Err(de::Error::duplicate_field("label"));
                    }
                    step.label = map.next_value()?;
                    continue;
                }
                StepKey::Expect => {
                    if expect_seen {
                        return Err(de::Error::duplicate_field("expect"));
                    }
                    expect_seen = true;
                    match step.actions.as_mut_slice() {
                        [] => {
                            let expect: Spanned<IgnoredAny> = map.next_value()?;
                            step.expect_before_action = Some(expect.referenced);
                        }
                        [action] => action.read_expect(&mut map)?,
                        // Several actions: the loader refuses the step, whatever it expects.
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    continue;
                }
                StepKey::Send => ActionDoc::Send {
                    apdu: map.next_value()?,
                    expect: None,
                },
                StepKey::Power => ActionDoc::Power {
                    action: map.next_value()?,
                    expect: None,
                },
                StepKey::Pins => ActionDoc::Pins(map.next_value()?),
                StepKey::Event => ActionDoc::Event(map.next_value()?),
                StepKey::Reception => {
                    let written: Spanned<ReceptionWritten> = map.next_value()?;
                    let input = match written.value {
                        ReceptionWritten::Input(input) => input,
                        ReceptionWritten::Unknown(message) => {
                            step.unknown_reception = Some((message, written.referenced));
                            // Never run: the loader refuses the step.
                            ReceptionDoc::PlaceCard
                        }
                    };
                    ActionDoc::Reception {
                        input,
                        expect: None,
                    }
                }
                StepKey::AdvanceClock => ActionDoc::AdvanceClock(map.next_value()?),
                StepKey::InsuranceCardLookup => ActionDoc::InsuranceCardLookup {
                    request: map.next_value()?,
                    expect: None,
                },
            };
            step.actions.push(action);
        }
        Ok(step)
    }
}

/// `insurance_card_lookup:` — the terminal looks a patient up by 被保険者証 data
/// (ReferenceClassification 2) instead of the card; date and facility come from the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsuranceCardLookupDoc {
    pub(crate) insurer_number: String,
    #[serde(default)]
    pub(crate) symbol: String,
    pub(crate) number: String,
    #[serde(default = "default_branch")]
    pub(crate) branch: String,
    pub(crate) birth_date: chrono::NaiveDate,
}

fn default_branch() -> String {
    "00".to_owned()
}

/// `power:` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    /// Cold power-on.
    On,
    /// Power off.
    Off,
    /// Warm reset.
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
    /// The JPKI 利用者証明用 (authentication) PIN.
    #[serde(default)]
    pub auth: Option<PinExpectation>,
    /// The JPKI 署名用 (signing) password.
    #[serde(default)]
    pub signing: Option<PinExpectation>,
    /// The 券面事項入力補助 PIN.
    #[serde(default)]
    pub text: Option<PinExpectation>,
}

/// Tries left on one PIN, or `none` for a PIN the card's profile does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum PinExpectation {
    /// This many tries left.
    TriesLeft(u8),
    /// The card has no such PIN.
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
    pub(crate) fn is_world_event(self) -> bool {
        matches!(
            self,
            ReaderEvent::NetworkOutage
                | ReaderEvent::NetworkRestored
                | ReaderEvent::JlisOutage
                | ReaderEvent::JlisRestored
        )
    }

    /// Events a served card (vpcd) can reproduce as well as the virtual reader.
    pub(crate) fn is_slot_event(self) -> bool {
        matches!(
            self,
            ReaderEvent::Remove | ReaderEvent::Insert | ReaderEvent::PowerCycle
        )
    }

    /// Faults only the in-process reader can inject.
    pub(crate) fn is_injected_fault(self) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> Result<StepDoc, String> {
        serde_saphyr::from_str::<StepDoc>(yaml).map_err(|error| crate::yaml::plain_message(&error))
    }

    #[test]
    fn the_expectation_is_read_as_the_action_s_type() {
        let doc =
            step("send: \"00 B0 00 00 02\"\nexpect: { sw: \"9000\", data_len: 2 }\n").unwrap();
        match doc.actions.as_slice() {
            [ActionDoc::Send {
                expect: Some(expect),
                ..
            }] => {
                assert_eq!(expect.data_len, Some(2));
                assert!(expect.sw.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_action_without_expectations_refuses_one_at_its_value() {
        let error =
            serde_saphyr::from_str::<StepDoc>("pins: { auth: 3 }\nexpect: { sw: \"9000\" }\n")
                .unwrap_err();
        assert_eq!(
            error.location().map(|l| (l.line(), l.column())),
            Some((2, 9))
        );
        assert_eq!(
            crate::yaml::plain_message(&error),
            "a `pins` step takes no `expect:` (only send, power, reception and \
             insurance_card_lookup steps do)"
        );
    }

    #[test]
    fn an_expectation_before_the_action_is_kept_as_a_location_only() {
        let doc = step("expect: { sw: \"9000\" }\nsend: \"00 B0 00 00 02\"\n").unwrap();
        let location = doc.expect_before_action.expect("recorded");
        assert_eq!((location.line(), location.column()), (1, 9));
        assert!(matches!(
            doc.actions.as_slice(),
            [ActionDoc::Send { expect: None, .. }]
        ));
    }

    #[test]
    fn several_actions_are_all_kept_for_the_loader_to_name() {
        let doc =
            step("send: \"00 B0 00 00 02\"\npower: reset\nexpect: { atr: \"3B\" }\n").unwrap();
        let keys: Vec<&str> = doc.actions.iter().map(ActionDoc::key).collect();
        assert_eq!(keys, ["send", "power"]);
    }

    #[test]
    fn an_unknown_key_lists_every_step_key() {
        assert_eq!(
            step("sedn: \"00\"\n").unwrap_err(),
            "unknown field `sedn`, expected one of label, send, power, pins, event, reception, \
             insurance_card_lookup, advance_clock, expect"
        );
    }
}

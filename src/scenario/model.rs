//! The validated scenario the runner executes (built from [`super::schema`] by [`super::load`]).
//!
//! To add a step kind: a variant of [`super::schema::ActionDoc`] with its key (in `StepKey`
//! and [`super::schema::STEP_ACTION_KEYS`]) and, if it checks something, its own expectation
//! type implementing [`super::schema::StepExpectation`]; a variant of [`Action`], an arm in
//! `load::build_action`, an arm in `run::execute`, and a section in docs/scenarios.md.

use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use super::checks::{Check, ScenarioCheck};
use super::schema::{
    InsuranceCardLookupDoc, PinsExpectation, PowerAction, PowerExpectation, ReaderEvent,
    ReceptionDoc, ReceptionStepExpectation, ResponseExpectation, SkipOn,
};
use super::world::World;
use crate::card::CardDescription;
use crate::oqs::codes::QualificationValidity;

/// One loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The scenario's `name:`, unique in a suite; reports and `--name` use it.
    pub name: String,
    pub(crate) tags: Vec<String>,
    /// The scenario file, as the user named it (or as discovery found it).
    pub file: PathBuf,
    pub(crate) card: CardDescription,
    /// The card file when `card:` named one (for reports).
    pub card_file: Option<PathBuf>,
    /// The world card's name when the card in the reader at the start is one.
    pub(crate) card_name: Option<String>,
    /// The scenario date (`clock:`).
    pub(crate) clock: Option<NaiveDate>,
    /// Registry, cards, faults (`world:`); receptions need it.
    pub(crate) world: Option<World>,
    /// The steps, in file order.
    pub steps: Vec<Step>,
    /// Scenario-level expectations, checked after the last step, in file order.
    pub checks: Vec<ScenarioCheck>,
    /// Readers of the real stack the scenario cannot run on, with the reason.
    pub(crate) skip_on: SkipOn,
}

impl Scenario {
    /// What the scenario needs from the reader it runs on.
    pub(crate) fn needs(&self) -> Needs {
        let mut needs = Needs::default();
        for step in &self.steps {
            match &step.action {
                Action::Event(event) if event.is_slot_event() => {
                    needs.slot_events = true;
                    if matches!(event, ReaderEvent::Remove | ReaderEvent::Insert) {
                        needs.removals = true;
                    }
                }
                Action::Event(event) if event.is_injected_fault() => needs.injected_faults = true,
                Action::Pins(_) => needs.card_state = true,
                Action::Reception {
                    input: ReceptionDoc::PlaceNamedCard(name),
                    ..
                } if self.card_name.as_deref() != Some(name.as_str()) => needs.card_swaps = true,
                Action::Reception {
                    input: ReceptionDoc::PlacePhone(_),
                    ..
                } => needs.generic_reader = true,
                Action::Event(_)
                | Action::Send { .. }
                | Action::Power { .. }
                | Action::Reception { .. }
                | Action::InsuranceCardLookup { .. }
                | Action::AdvanceClock { .. } => {}
            }
        }
        if self
            .checks
            .iter()
            .any(|check| matches!(check.check, Check::CardPins(_)))
        {
            needs.card_state = true;
        }
        needs
    }
}

impl Scenario {
    /// The first step that would consume a PIN try or change the card, with what it does:
    /// such steps are refused on a card that is not proven ours unless the user allows it.
    pub(crate) fn first_card_change(&self) -> Option<(&Step, String)> {
        self.steps.iter().find_map(|step| {
            let change = match &step.action {
                Action::Send { apdu, .. } => {
                    crate::transport::identify::card_change(apdu).map(|change| change.to_string())
                }
                Action::Reception { input, .. } if input.may_consume_tries() => {
                    Some(format!("({input}) can consume a PIN or 照合番号B try"))
                }
                _ => None,
            };
            change.map(|change| (step, change))
        })
    }
}

/// Capabilities a scenario requires of the reader (the runner refuses the rest, explaining).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Needs {
    /// Removal, insertion, power cycles: the virtual reader and our card behind vpcd do them.
    pub(crate) slot_events: bool,
    /// Removal during a command, lost transmissions, latency, timeouts, waits: only the
    /// in-process reader can produce them.
    pub(crate) injected_faults: bool,
    /// Reading retry counters directly needs our emulated card on the other side.
    pub(crate) card_state: bool,
    /// Putting another of the scenario's cards into the reader: the virtual reader and our
    /// cards behind vpcd can.
    pub(crate) card_swaps: bool,
    /// Taking the card out or putting it back (`remove`, `insert`): a card that waits for
    /// Debian's vpcd to connect cannot leave the reader (`--reader listen`).
    pub(crate) removals: bool,
    /// A phone held over the clinic's generic reader: a second slot (virtual, vpcd's `00 01`).
    pub(crate) generic_reader: bool,
}

/// One step: where it is written, its optional label, and what it does.
#[derive(Debug, Clone)]
pub struct Step {
    /// 0-based position in `steps:`.
    pub(crate) index: usize,
    pub(crate) label: Option<String>,
    /// Line of the step in the scenario file (1-based).
    pub(crate) line: u64,
    /// What the step does and expects.
    pub action: Action,
}

impl Step {
    /// "step 3 (select JPKI)", or without a label the action as written ("step 3 (reception:
    /// place_card)") — how reports name a step.
    pub(crate) fn title(&self) -> String {
        match &self.label {
            Some(label) => format!("step {} ({label})", self.index + 1),
            None => format!("step {} ({})", self.index + 1, self.action.written()),
        }
    }
}

impl Action {
    /// The action as a scenario writes it, without its expectation (a PIN stays hidden):
    /// `reception: place_card`, `advance_clock: { days: 16 }`, `event: remove`.
    pub(crate) fn written(&self) -> String {
        match self {
            Action::Send { .. } => "send".to_owned(),
            Action::Power { action, .. } => format!("power: {action}"),
            Action::Pins(_) => "pins".to_owned(),
            Action::Event(event) => format!("event: {event}"),
            Action::AdvanceClock { days } => format!("advance_clock: {{ days: {days} }}"),
            Action::InsuranceCardLookup { .. } => "insurance_card_lookup".to_owned(),
            Action::Reception { input, .. } => format!("reception: {input}"),
        }
    }
}

/// What a step does, validated from its YAML.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send a C-APDU and check the answer.
    Send {
        /// The C-APDU, secrets resolved.
        apdu: Vec<u8>,
        /// What the answer must be.
        expect: ResponseExpectation,
    },
    /// Power the card on / off / warm-reset it.
    Power {
        /// On, off or a warm reset.
        action: PowerAction,
        /// What the card must answer (its ATR).
        expect: PowerExpectation,
    },
    /// Check retry counters now.
    Pins(PinsExpectation),
    /// Something happens to the reader, the card or the world around them.
    Event(ReaderEvent),
    /// The scenario clock moves forward by this many days.
    AdvanceClock {
        /// Days to add to the scenario's date.
        days: u32,
    },
    /// The terminal looks the patient up by 被保険者証 data; checks the answer's validity.
    InsuranceCardLookup {
        /// The lookup as the scenario writes it.
        request: InsuranceCardLookupDoc,
        /// `None`: no answer is expected (the network is down).
        validity: Option<QualificationValidity>,
    },
    /// The patient or staff act at the face-authentication reader.
    Reception {
        /// The reception's inputs (card, face or PIN, consent answers).
        input: ReceptionDoc,
        /// What the reception must come to.
        expect: ReceptionStepExpectation,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::schema::{ReaderEvent, ReceptionStepExpectation};

    fn unlabelled(action: Action) -> Step {
        Step {
            index: 3,
            label: None,
            line: 9,
            action,
        }
    }

    #[test]
    fn an_unlabelled_step_is_named_by_its_action_as_written() {
        let place = unlabelled(Action::Reception {
            input: ReceptionDoc::PlaceCard,
            expect: ReceptionStepExpectation::default(),
        });
        assert_eq!(place.title(), "step 4 (reception: place_card)");
        let pin = unlabelled(Action::Reception {
            input: ReceptionDoc::EnterPin(crate::reader::Pin::new("1234")),
            expect: ReceptionStepExpectation::default(),
        });
        assert_eq!(pin.title(), "step 4 (reception: enter_pin: ****)");
        assert_eq!(
            unlabelled(Action::AdvanceClock { days: 16 }).title(),
            "step 4 (advance_clock: { days: 16 })"
        );
        assert_eq!(
            unlabelled(Action::Event(ReaderEvent::NetworkOutage)).title(),
            "step 4 (event: network_outage)"
        );
        let labelled = Step {
            label: Some("third wrong PIN".into()),
            ..pin
        };
        assert_eq!(labelled.title(), "step 4 (third wrong PIN)");
    }
}

//! The validated scenario the runner executes (built from [`super::schema`] by [`super::load`]).
//!
//! To add a step kind: a key on [`super::schema::StepDoc`] (and its name in
//! [`super::schema::STEP_ACTION_KEYS`]), a variant of [`Action`], an arm in
//! `load::build_action`, an arm in `run::execute`, and a section in docs/scenarios.md.

use std::path::PathBuf;

use serde::Serialize;

use super::pattern::{BytePattern, SwPattern};
use super::schema::{PinsExpectation, PowerAction, ReaderEvent, TransportErrorKind};
use crate::card::CardDescription;

/// One loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// The scenario file, as the user named it (or as discovery found it).
    pub file: PathBuf,
    pub card: CardDescription,
    /// The card file when `card:` named one (for reports).
    pub card_file: Option<PathBuf>,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// What the scenario needs from the reader it runs on.
    pub fn needs(&self) -> Needs {
        let mut needs = Needs::default();
        for step in &self.steps {
            match &step.action {
                Action::Event(_) => needs.virtual_reader = true,
                Action::Pins(_) => needs.card_state = true,
                Action::Send { .. } | Action::Power { .. } => {}
            }
        }
        needs
    }
}

/// Capabilities a scenario requires of the reader (the runner refuses the rest, explaining).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// Reader events (removal, injected faults) only exist on the in-process reader.
    pub virtual_reader: bool,
    /// Reading retry counters directly needs our emulated card on the other side.
    pub card_state: bool,
}

/// One step: where it is written, its optional label, and what it does.
#[derive(Debug, Clone)]
pub struct Step {
    /// 0-based position in `steps:`.
    pub index: usize,
    pub label: Option<String>,
    /// Line of the step in the scenario file (1-based).
    pub line: u64,
    pub action: Action,
}

impl Step {
    /// "step 3 (select JPKI)" — how reports name a step.
    pub fn title(&self) -> String {
        match &self.label {
            Some(label) => format!("step {} ({label})", self.index + 1),
            None => format!("step {}", self.index + 1),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Send a C-APDU and check the answer.
    Send {
        apdu: Vec<u8>,
        expect: ResponseExpectation,
    },
    /// Power the card on / off / warm-reset it.
    Power {
        action: PowerAction,
        expect: PowerExpectation,
    },
    /// Check retry counters now.
    Pins(PinsExpectation),
    /// Something happens to the reader or the card.
    Event(ReaderEvent),
}

/// What a `send` step expects. Either an answer (`sw`, `data`, `data_len`) or a reader error.
#[derive(Debug, Clone, Default)]
pub struct ResponseExpectation {
    pub sw: Option<SwPattern>,
    pub data: Option<BytePattern>,
    pub data_len: Option<usize>,
    pub error: Option<TransportErrorKind>,
}

/// What a `power` step expects: an ATR pattern, or a reader error.
#[derive(Debug, Clone, Default)]
pub struct PowerExpectation {
    pub atr: Option<BytePattern>,
    pub error: Option<TransportErrorKind>,
}

//! The scenario file format exactly as written in YAML: every type a scenario file (and the
//! world and card files it names) is read into, deserialized strictly: unknown keys and wrong
//! types are errors with a location. [`crate::scenario::load`] turns these documents into the
//! validated [`crate::scenario::Scenario`] the runner executes.
//!
//! Every struct denies unknown fields so that serde's own message lists the valid keys; a
//! step's `expect:` is read as the expectation type of the step's action, so a key the action
//! cannot produce is refused the same way.
//!
//! Submodules, each importing only the ones before it: `inline` (inline-or-path values), `list`
//! (list expectations: exactly or contains),
//! `reception` (reception inputs), `expectation` (one `expect:` type per action), `step`,
//! `world`, `expect` (the scenario-level `expect:`).

mod expect;
mod expectation;
mod inline;
mod list;
mod reception;
mod step;
mod world;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::card::CardDescription;

pub(crate) use expect::ReceptionExpectDoc;
pub(crate) use expect::ScenarioExpectDoc;
pub use expect::{CallExpectation, CredentialExpectation};
pub(crate) use expectation::PowerExpectation;
pub(crate) use expectation::ResponseExpectation;
pub use expectation::{StepExpectation, TransportErrorKind};
pub(crate) use inline::InlineOrPath;
pub(crate) use list::ListExpectation;
pub use list::ListMatch;
pub(crate) use reception::FaceVerdict;
pub use reception::ReceptionDoc;
pub(crate) use reception::ReceptionStepExpectation;
pub(crate) use step::ActionDoc;
pub(crate) use step::InsuranceCardLookupDoc;
pub(crate) use step::PinsExpectation;
pub(crate) use step::PowerAction;
pub(crate) use step::ReaderEvent;
pub use step::{PinExpectation, StepDoc, STEP_ACTION_KEYS};
pub(crate) use world::{WorldDoc, WorldFaults, WorldPhoneDoc, DEFAULT_FACILITY_CODE};

/// A value as a scenario writes it (`valid`, `answered`, `pin_entry`): the name serde gives
/// it, never the Rust name. Messages use it so that what a report says can be searched for in,
/// and pasted into, a scenario file.
pub(crate) fn written<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioDoc {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "the file's prose for its reader; the schema accepts it, the harness does not use it"
    )]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// The scenario's date (receptions and the qualification rules use it, never the wall clock).
    #[serde(default)]
    pub(crate) clock: Option<Spanned<chrono::NaiveDate>>,
    /// Registry, cards, faults, reader options: inline, or a path to a shared world file.
    #[serde(default)]
    pub(crate) world: Option<Spanned<InlineOrPath<WorldDoc>>>,
    /// The card in the reader when the scenario starts: inline, a path to a card file, or —
    /// with a world — the name of one of the world's cards.
    #[serde(default)]
    pub(crate) card: Option<Spanned<InlineOrPath<CardDescription>>>,
    pub(crate) steps: Vec<Spanned<StepDoc>>,
    /// Scenario-level expectations, checked after the last step.
    #[serde(default)]
    pub(crate) expect: Option<Spanned<crate::yaml::WithKeyLocations<ScenarioExpectDoc>>>,
    /// Readers of the real stack this scenario cannot run on, each with the reason.
    #[serde(default)]
    pub(crate) skip_on: SkipOn,
}

/// `skip_on:` — what the real PC/SC stack cannot do that the scenario asks (pcsc-lite handles
/// 61 xx and 6C xx itself, vpcd shows a mute card as an empty slot …). The runner reports the
/// scenario as skipped on that reader, with the reason; the virtual reader always runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkipOn {
    /// Why the scenario cannot run with `--reader vpcd`.
    #[serde(default)]
    pub(crate) vpcd: Option<String>,
    /// Why it cannot run with `--reader pcsc[:NAME]`.
    #[serde(default)]
    pub(crate) pcsc: Option<String>,
}

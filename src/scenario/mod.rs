//! YAML scenarios: schema, strict loading, the runner, expectations and reports.
//!
//! Flow: [`load::discover`] finds files, [`load::load_all`] parses them strictly into
//! [`model::Scenario`]s, [`run::run_all`] executes them in parallel on a reader
//! ([`readers::ReaderChoice`]), and [`report`] / [`junit`] render the [`run::ScenarioResult`]s.
//! [`from_trace`] writes a scenario document from a recorded transcript (`trace to-scenario`).
pub mod checks;
pub(crate) mod cli;
pub mod from_trace;
pub mod junit;
pub mod load;
pub mod model;
pub mod pattern;
pub(crate) mod personal_data;
pub(crate) mod readers;
pub mod report;
pub mod run;
pub mod schema;
#[cfg(feature = "pcsc")]
pub(crate) mod served;
pub(crate) mod slot;
pub(crate) mod world;
pub(crate) mod world_phones;

pub use load::LoadError;
pub use model::{Action, Scenario, Step};
pub use run::{Outcome, RunOptions, ScenarioResult};

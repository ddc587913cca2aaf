//! The device under test as the run sees it: driven by a driver process or by a person.

use std::time::Duration;

use chrono::NaiveDate;

use super::catalogue::Question;
use super::observed::Witness;
use super::protocol::{Action, DriverAnswer};

/// Where the device finds the emulated services (the `hello` instruction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) reader: Option<String>,
    pub(crate) oqs_url: Option<String>,
    pub(crate) files_dir: Option<String>,
    pub(crate) facility_code: String,
}

/// Why the harness could not get an answer from the device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DeviceError {
    #[error("the device could not be started: {0}")]
    Start(String),
    #[error("the driver broke the protocol: {0}")]
    Protocol(String),
    #[error("timeout: {0}")]
    Timeout(String),
    #[error("the driver went away: {0}")]
    Exited(String),
}

/// A device the harness can drive through the protocol's instructions.
pub(crate) trait DeviceUnderTest {
    /// Who vouches for what the device shows.
    fn witness(&self) -> Witness;
    /// Starts the device; its name and version when it gives them.
    fn hello(&mut self, hello: &Hello) -> Result<Option<String>, DeviceError>;
    /// The actions the device declared (in `hello`) that it cannot do.
    fn declared_unsupported(&self) -> &[String] {
        &[]
    }
    fn begin_case(&mut self, case: &str, date: NaiveDate) -> Result<DriverAnswer, DeviceError>;
    /// One operator action; `prompt` is the bilingual instruction for a person.
    fn step(
        &mut self,
        case: &str,
        step: u32,
        action: &Action,
        prompt: &str,
        timeout: Duration,
    ) -> Result<DriverAnswer, DeviceError>;
    /// A yes/no question about what the device shows; `None` when nobody can answer.
    fn ask(&mut self, question: &Question) -> Option<bool>;
    fn end_case(&mut self, case: &str) -> Result<DriverAnswer, DeviceError>;
    fn shutdown(&mut self);
}

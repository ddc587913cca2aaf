//! Command-line entry points of this module (argument structs live here; main.rs only dispatches).

use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    NotReady(&'static str),
}

pub fn replay(_args: ReplayArgs) -> Result<ExitCode, CliError> {
    Err(CliError::NotReady("not implemented yet"))
}

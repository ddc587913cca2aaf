//! Command-line entry points of this module (argument structs live here; main.rs only dispatches).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::{generate_fixtures, PkiError, DEFAULT_POOL_SIZE, DEFAULT_SEED};

/// `myna-hil fixtures generate`: regenerate the key pool and the test CAs.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Fixtures directory to write `keys/pool.pem` and `pki/*.pem` into. The library embeds the
    /// files of the crate's own `fixtures/` at build time, so run this from the checkout root
    /// (or point it there) and rebuild.
    #[arg(long, default_value = "fixtures")]
    pub(crate) out: PathBuf,
    /// Number of RSA-2048 keys in the pool (pool_key(i) uses key i % N).
    #[arg(long, default_value_t = DEFAULT_POOL_SIZE, value_parser = parse_pool_size)]
    pub(crate) keys: usize,
    /// Seed of the deterministic generator; the same seed always gives the same files.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub(crate) seed: u64,
}

const MAX_POOL_SIZE: usize = 1024;

fn parse_pool_size(text: &str) -> Result<usize, String> {
    let keys: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number"))?;
    if (1..=MAX_POOL_SIZE).contains(&keys) {
        Ok(keys)
    } else {
        Err(format!(
            "the pool needs 1 to {MAX_POOL_SIZE} keys, got {keys}"
        ))
    }
}

/// Why `myna-hil pki generate` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PkiCliError {
    /// The key pool or the test CA cannot be generated.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The fixtures cannot be written under `fixtures/pki/`.
    #[error("writing fixtures: {0}")]
    Write(#[from] std::io::Error),
}

/// Runs `myna-hil pki generate`: writes the test PKI's keys and certificates.
pub(crate) fn generate(args: GenerateArgs) -> Result<ExitCode, PkiCliError> {
    let started = Instant::now();
    eprintln!(
        "generating {} pool keys and 2 CA keys (RSA-2048) from seed {} ...",
        args.keys, args.seed
    );
    let set = generate_fixtures(args.seed, args.keys)?;
    let written = set.write_to(&args.out)?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!(
        "done in {:.1} s. The library embeds these files at compile time: rebuild \
         (cargo build) to pick them up.",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

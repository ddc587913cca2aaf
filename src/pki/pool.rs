//! The committed pool of RSA-2048 test keys, embedded so the binary and the tests work from any
//! directory and never generate keys.
//!
//! One file of concatenated PKCS#8 PEM blocks rather than one file per key: the pool size is
//! then whatever `myna-hil fixtures generate --keys N` wrote, without a build script.

use std::sync::{Arc, OnceLock};

use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};

use super::{PkiError, RsaSigner};

pub(crate) const POOL_FILE: &str = "fixtures/keys/pool.pem";
const POOL_PEM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/keys/pool.pem"
));
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";

pub(crate) const KEY_BITS: usize = 2048;
pub(crate) const PUBLIC_EXPONENT: u64 = 65537;

struct Pool {
    blocks: Vec<&'static str>,
    parsed: Vec<OnceLock<RsaPrivateKey>>,
    signers: Vec<OnceLock<Arc<RsaSigner>>>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let blocks = split_pem_blocks(POOL_PEM);
        let parsed = blocks.iter().map(|_| OnceLock::new()).collect();
        let signers = blocks.iter().map(|_| OnceLock::new()).collect();
        Pool {
            blocks,
            parsed,
            signers,
        }
    })
}

/// Splits concatenated PEM text into one slice per `BEGIN PRIVATE KEY` block.
pub(crate) fn split_pem_blocks(text: &str) -> Vec<&str> {
    let starts: Vec<usize> = text
        .match_indices(PEM_BEGIN)
        .map(|(start, _)| start)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(text.len());
            text[start..end].trim_end()
        })
        .collect()
}

/// Number of keys in the embedded pool.
pub fn pool_size() -> usize {
    pool().blocks.len()
}

pub(super) fn pool_key(index: usize) -> Result<RsaPrivateKey, PkiError> {
    let pool = pool();
    if pool.blocks.is_empty() {
        return Err(PkiError::Fixture(format!(
            "{POOL_FILE} holds no keys; run `myna-hil fixtures generate` and rebuild"
        )));
    }
    let slot = index % pool.blocks.len();
    if let Some(key) = pool.parsed[slot].get() {
        return Ok(key.clone());
    }
    let key = parse_pool_key(pool.blocks[slot])
        .map_err(|reason| PkiError::Fixture(format!("{POOL_FILE}, key {slot}: {reason}")))?;
    Ok(pool.parsed[slot].get_or_init(|| key).clone())
}

/// Pool key `index` prepared for signing, shared: preparing it for aws-lc costs more than a
/// signature, so holders of the same pool key share one.
pub(crate) fn pool_signer(index: usize) -> Result<Arc<RsaSigner>, PkiError> {
    let key = pool_key(index)?;
    let pool = pool();
    let slot = index % pool.blocks.len();
    if let Some(signer) = pool.signers[slot].get() {
        return Ok(Arc::clone(signer));
    }
    let signer = Arc::new(RsaSigner::new(key)?);
    Ok(Arc::clone(pool.signers[slot].get_or_init(|| signer)))
}

/// Parses one PKCS#8 PEM key and checks it is what the pool promises.
pub(crate) fn parse_pool_key(pem: &str) -> Result<RsaPrivateKey, String> {
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .map_err(|error| format!("not a PKCS#8 RSA key: {error}"))?;
    if key.size() * 8 != KEY_BITS {
        return Err(format!("{} bits, expected {KEY_BITS}", key.size() * 8));
    }
    if *key.e() != BigUint::from(PUBLIC_EXPONENT) {
        return Err(format!(
            "public exponent {}, expected {PUBLIC_EXPONENT}",
            key.e()
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_every_block_and_ignores_text_before_the_first() {
        let text = "comment\n-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----\n\
                    -----BEGIN PRIVATE KEY-----\nB\n-----END PRIVATE KEY-----\n";
        let blocks = split_pem_blocks(text);
        assert_eq!(
            blocks,
            vec![
                "-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----",
                "-----BEGIN PRIVATE KEY-----\nB\n-----END PRIVATE KEY-----"
            ]
        );
        assert!(split_pem_blocks("").is_empty());
    }

    #[test]
    fn garbage_pem_is_an_error_not_a_panic() {
        assert!(
            parse_pool_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
        );
    }
}

//! Deterministic regeneration of the committed key pool and test CAs from a seed.
//!
//! Every key has its own ChaCha20 stream, seeded with SHA-256 of a label naming the key and
//! the seed, so key `n` is the same whatever `--keys` count is asked for and the CA keys do not
//! depend on the pool size.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

use super::issue::self_signed_ca_certificate_pem;
use super::pool::{KEY_BITS, POOL_FILE};
use super::{CertificateKind, PkiError};

/// The seed the committed fixtures were generated with.
pub(crate) const DEFAULT_SEED: u64 = 20_240_601;
/// The number of keys in the committed pool.
pub(crate) const DEFAULT_POOL_SIZE: usize = 16;

/// A complete fixture set, as PEM texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FixtureSet {
    /// One PKCS#8 PEM block per pool key, in order.
    pub(crate) pool_key_pems: Vec<String>,
    pub(crate) authentication_ca_key_pem: String,
    pub(crate) authentication_ca_certificate_pem: String,
    pub(crate) signing_ca_key_pem: String,
    pub(crate) signing_ca_certificate_pem: String,
}

impl FixtureSet {
    /// The concatenated pool file.
    pub(crate) fn pool_pem(&self) -> String {
        self.pool_key_pems.concat()
    }

    /// Every file of the set: path relative to the fixtures directory, and content. These are
    /// the paths the library embeds (relative to `fixtures/`).
    pub(crate) fn files(&self) -> Vec<(&'static str, String)> {
        vec![
            (relative_pool_file(), self.pool_pem()),
            (
                "pki/authentication-ca.key.pem",
                self.authentication_ca_key_pem.clone(),
            ),
            (
                "pki/authentication-ca.cert.pem",
                self.authentication_ca_certificate_pem.clone(),
            ),
            ("pki/signing-ca.key.pem", self.signing_ca_key_pem.clone()),
            (
                "pki/signing-ca.cert.pem",
                self.signing_ca_certificate_pem.clone(),
            ),
        ]
    }

    /// Writes every file under `dir` (creating `keys/` and `pki/`); returns the paths written.
    pub(crate) fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
        let mut written = Vec::new();
        for (relative, content) in self.files() {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|error| {
                    std::io::Error::new(error.kind(), format!("{}: {error}", parent.display()))
                })?;
            }
            std::fs::write(&path, content).map_err(|error| {
                std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

fn relative_pool_file() -> &'static str {
    POOL_FILE.strip_prefix("fixtures/").unwrap_or(POOL_FILE)
}

/// Generates `pool_size` pool keys and both CAs from `seed`. Key generation runs on all cores;
/// expect roughly a quarter of a second per RSA-2048 key on an optimised build.
pub(crate) fn generate_fixtures(seed: u64, pool_size: usize) -> Result<FixtureSet, PkiError> {
    let labels: Vec<String> = (0..pool_size)
        .map(|index| format!("key-pool/{index}"))
        .chain(["ca/authentication".to_owned(), "ca/signing".to_owned()])
        .collect();
    let mut keys = generate_keys(seed, &labels)?;
    let signing_ca_key = keys
        .pop()
        .ok_or_else(|| PkiError::Fixture("signing CA key missing".into()))?;
    let authentication_ca_key = keys
        .pop()
        .ok_or_else(|| PkiError::Fixture("authentication CA key missing".into()))?;
    let pool_key_pems = keys
        .iter()
        .map(private_key_pem)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FixtureSet {
        pool_key_pems,
        authentication_ca_certificate_pem: self_signed_ca_certificate_pem(
            CertificateKind::Authentication,
            &authentication_ca_key,
        )?,
        authentication_ca_key_pem: private_key_pem(&authentication_ca_key)?,
        signing_ca_certificate_pem: self_signed_ca_certificate_pem(
            CertificateKind::Signing,
            &signing_ca_key,
        )?,
        signing_ca_key_pem: private_key_pem(&signing_ca_key)?,
    })
}

fn private_key_pem(key: &RsaPrivateKey) -> Result<String, PkiError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|error| PkiError::Fixture(format!("encoding a key: {error}")))
}

fn rng_for(seed: u64, label: &str) -> ChaCha20Rng {
    let digest = Sha256::digest(format!("myna-hil/fixtures/v1|{label}|{seed}").as_bytes());
    ChaCha20Rng::from_seed(digest.into())
}

/// One RSA-2048 key per label, in label order, spread over the available cores.
fn generate_keys(seed: u64, labels: &[String]) -> Result<Vec<RsaPrivateKey>, PkiError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(labels.len().max(1));
    let chunk = labels.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = labels
            .chunks(chunk)
            .map(|chunk_labels| {
                scope.spawn(move || {
                    chunk_labels
                        .iter()
                        .map(|label| {
                            RsaPrivateKey::new(&mut rng_for(seed, label), KEY_BITS).map_err(
                                |error| PkiError::Fixture(format!("generating {label}: {error}")),
                            )
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut keys = Vec::with_capacity(labels.len());
        for worker in workers {
            let chunk_keys = worker
                .join()
                .map_err(|_| PkiError::Fixture("a key generation thread panicked".into()))??;
            keys.extend(chunk_keys);
        }
        Ok(keys)
    })
}

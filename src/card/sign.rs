//! RSA operations of the card: the JPKI COMPUTE DIGITAL SIGNATURE and the issuer signatures
//! over the 券面事項 data.

use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};

/// Largest input COMPUTE DIGITAL SIGNATURE accepts: k - 11 for a 2048-bit key (PKCS#1 v1.5
/// type 1 padding needs 11 bytes).
pub const MAX_SIGN_INPUT: usize = 245;

/// The card's signature: PKCS#1 v1.5 type 1 padding over the caller's bytes as they are (a
/// DigestInfo, or raw input), so the caller chooses the hash. Always 256 bytes for RSA-2048.
pub(crate) fn sign_prepared(key: &RsaPrivateKey, input: &[u8]) -> Result<Vec<u8>, rsa::Error> {
    key.sign(Pkcs1v15Sign::new_unprefixed(), input)
}

/// SHA-256 with RSA PKCS#1 v1.5: how the synthetic issuer signs 券面事項 data.
pub(crate) fn issuer_signature(key: &RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, rsa::Error> {
    key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
}

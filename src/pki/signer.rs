//! RSA private-key operations at the speed the benchmarks need: PKCS#1 v1.5 over SHA-256 by
//! aws-lc (about three times faster than the pure-Rust `rsa` crate), everything else by `rsa`.
//!
//! PKCS#1 v1.5 signing is deterministic, so both libraries give the same bytes for the same
//! key and input; the choice only changes the speed.

use aws_lc_rs::digest::{Digest as LcDigest, SHA256 as LC_SHA256};
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use super::PkiError;

/// An RSA private key prepared for signing by both libraries.
pub(crate) struct RsaSigner {
    key: RsaPrivateKey,
    /// `None` for keys aws-lc refuses (outside 2048..=8192 bits): the `rsa` crate signs then.
    fast: Option<RsaKeyPair>,
    /// DER prefix of a SHA-256 DigestInfo, as the `rsa` crate writes it.
    sha256_prefix: Box<[u8]>,
}

impl RsaSigner {
    /// Prepares `key`. Fails only if the key cannot be DER-encoded for aws-lc.
    pub(crate) fn new(key: RsaPrivateKey) -> Result<RsaSigner, PkiError> {
        let der = key
            .to_pkcs1_der()
            .map_err(|error| PkiError::Certificate(format!("encoding an RSA key: {error}")))?;
        // aws-lc sets a key up on its first signature (blinding, Montgomery constants) and seeds
        // its random generator on the first signature of the process: hundreds of milliseconds
        // under load. One signature here pays that while the key is prepared, not during a
        // card's COMPUTE DIGITAL SIGNATURE, whose timing devices under test watch.
        let fast = RsaKeyPair::from_der(der.as_bytes()).ok().filter(|pair| {
            let mut warm_up = vec![0; pair.public_modulus_len()];
            LcDigest::import_less_safe(&[0; 32], &LC_SHA256).is_ok_and(|digest| {
                pair.sign_digest(&RSA_PKCS1_SHA256, &digest, &mut warm_up)
                    .is_ok()
            })
        });
        Ok(RsaSigner {
            key,
            fast,
            sha256_prefix: Pkcs1v15Sign::new::<Sha256>().prefix,
        })
    }

    /// The key itself, for the operations that stay with the `rsa` crate (PSS, OAEP).
    pub(crate) fn private_key(&self) -> &RsaPrivateKey {
        &self.key
    }

    pub(crate) fn public_key(&self) -> RsaPublicKey {
        self.key.to_public_key()
    }

    /// Modulus length in bytes: the length of every signature.
    pub(crate) fn size(&self) -> usize {
        self.key.size()
    }

    /// PKCS#1 v1.5 type 1 padding over `input` as given (a DigestInfo, usually; the caller
    /// chose the hash). A SHA-256 DigestInfo is signed by aws-lc, any other input by `rsa`.
    pub(crate) fn sign_pkcs1_prepared(&self, input: &[u8]) -> Result<Vec<u8>, rsa::Error> {
        if let Some(hash) = input.strip_prefix(&*self.sha256_prefix) {
            if hash.len() == Sha256::output_size() {
                return self.sign_pkcs1_sha256_hash(hash);
            }
        }
        self.key.sign(Pkcs1v15Sign::new_unprefixed(), input)
    }

    /// PKCS#1 v1.5 over the DigestInfo of an already computed SHA-256 `hash` (32 bytes).
    pub(crate) fn sign_pkcs1_sha256_hash(&self, hash: &[u8]) -> Result<Vec<u8>, rsa::Error> {
        let (Some(fast), Ok(digest)) = (&self.fast, LcDigest::import_less_safe(hash, &LC_SHA256))
        else {
            return self.key.sign(Pkcs1v15Sign::new::<Sha256>(), hash);
        };
        let mut signature = vec![0; fast.public_modulus_len()];
        fast.sign_digest(&RSA_PKCS1_SHA256, &digest, &mut signature)
            .map_err(|_| rsa::Error::Internal)?;
        Ok(signature)
    }

    /// SHA-256 with RSA PKCS#1 v1.5 (`sha256WithRSAEncryption`) over `message`.
    pub(crate) fn sign_pkcs1_sha256(&self, message: &[u8]) -> Result<Vec<u8>, rsa::Error> {
        self.sign_pkcs1_sha256_hash(&Sha256::digest(message))
    }
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RsaSigner")
            .field("bits", &(self.size() * 8))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::pool_key;

    fn digest_info(message: &[u8]) -> Vec<u8> {
        let mut input = Pkcs1v15Sign::new::<Sha256>().prefix.to_vec();
        input.extend_from_slice(&Sha256::digest(message));
        input
    }

    #[test]
    fn aws_lc_gives_the_rsa_crate_s_bytes() {
        let key = pool_key(2).unwrap();
        let signer = RsaSigner::new(key.clone()).unwrap();
        assert!(signer.fast.is_some());
        let input = digest_info(b"challenge");
        let expected = key.sign(Pkcs1v15Sign::new_unprefixed(), &input).unwrap();
        assert_eq!(signer.sign_pkcs1_prepared(&input).unwrap(), expected);
        assert_eq!(signer.sign_pkcs1_sha256(b"challenge").unwrap(), expected);
        let hash = Sha256::digest(b"challenge");
        assert_eq!(signer.sign_pkcs1_sha256_hash(&hash).unwrap(), expected);
    }

    #[test]
    fn input_other_than_a_sha256_digest_info_is_padded_as_given() {
        let key = pool_key(5).unwrap();
        let signer = RsaSigner::new(key.clone()).unwrap();
        let mut long = digest_info(b"x");
        long.push(0);
        for input in [&b"raw bytes"[..], &long, &long[..40]] {
            let expected = key.sign(Pkcs1v15Sign::new_unprefixed(), input).unwrap();
            assert_eq!(signer.sign_pkcs1_prepared(input).unwrap(), expected);
        }
    }

    #[test]
    fn a_hash_of_the_wrong_length_is_refused_as_the_rsa_crate_refuses_it() {
        let signer = RsaSigner::new(pool_key(1).unwrap()).unwrap();
        assert!(signer.sign_pkcs1_sha256_hash(&[0; 20]).is_err());
    }
}

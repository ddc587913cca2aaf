//! PKCS#1 v1.5 SHA-256 verification by aws-lc, with the `rsa` crate for the key sizes aws-lc
//! refuses.

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs1v15::Signature;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;

/// `key` parsed for aws-lc's PKCS#1 v1.5 SHA-256 verification; `None` for keys outside the
/// 2048 to 8192 bits it accepts.
pub(crate) fn parsed_public_key(key: &RsaPublicKey) -> Option<ParsedPublicKey> {
    let der = key.to_pkcs1_der().ok()?;
    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_bytes()).ok()
}

/// Verifies a PKCS#1 v1.5 SHA-256 signature over `message` with `key`.
///
/// The two RSA verifications of every check (the CA's over the certificate, the card's over
/// the challenge) are most of a check's cost. aws-lc's public-key operation is several times
/// faster than the pure-Rust `rsa` crate's (and faster than ring's, which sets the key up
/// again on every call), so it does them for the 2048 to 8192-bit keys it accepts; smaller
/// or larger keys (only hostile inputs have them) take the `rsa` crate. Both implement the
/// same scheme; the answer is the same, only the speed differs.
pub(crate) fn verify_pkcs1_sha256(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
    PreparedPublicKey::new(key).verify(message, signature)
}

/// A holder's public key made ready for [`verify_pkcs1_sha256`]'s checks once, so that a
/// relying party that keeps it (the service's chain memo) does not parse the key again and set
/// up aws-lc's Montgomery context for its modulus on every signature (a quarter of a
/// verification's time).
pub(crate) struct PreparedPublicKey {
    /// aws-lc's parsed key, for the 2048 to 8192-bit keys it accepts.
    parsed: Option<ParsedPublicKey>,
    /// The key itself, for the sizes aws-lc refuses.
    key: RsaPublicKey,
}

impl PreparedPublicKey {
    pub(crate) fn new(key: &RsaPublicKey) -> PreparedPublicKey {
        use rsa::traits::PublicKeyParts;
        let bits = key.size() * 8;
        let parsed = if (2048..=8192).contains(&bits) {
            parsed_public_key(key)
        } else {
            None
        };
        PreparedPublicKey {
            parsed,
            key: key.clone(),
        }
    }

    /// Whether `signature` is a PKCS#1 v1.5 SHA-256 signature over `message` by this key.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if let Some(parsed) = &self.parsed {
            return parsed.verify_sig(message, signature).is_ok();
        }
        Signature::try_from(signature).is_ok_and(|signature| {
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(self.key.clone())
                .verify(message, &signature)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_lc_and_the_rsa_crate_agree_on_good_and_bad_signatures() {
        use rsa::signature::{SignatureEncoding, Signer};
        let key = crate::pki::pool_key(3).unwrap();
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
        let signature = signer.sign(b"challenge").to_vec();
        let public = key.to_public_key();
        let other = crate::pki::pool_key(4).unwrap().to_public_key();
        let mut flipped = signature.clone();
        flipped[100] ^= 1;
        let cases: [(&RsaPublicKey, &[u8], &[u8], bool); 5] = [
            (&public, b"challenge", &signature, true),
            (&public, b"challengf", &signature, false),
            (&public, b"challenge", &flipped, false),
            (&public, b"challenge", &signature[1..], false),
            (&other, b"challenge", &signature, false),
        ];
        for (key, message, signature, valid) in cases {
            assert_eq!(verify_pkcs1_sha256(key, message, signature), valid);
            let prepared = PreparedPublicKey::new(key);
            assert_eq!(prepared.verify(message, signature), valid);
            assert_eq!(prepared.verify(message, signature), valid, "used again");
            let by_rsa = Signature::try_from(signature).is_ok_and(|signature| {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.clone())
                    .verify(message, &signature)
                    .is_ok()
            });
            assert_eq!(by_rsa, valid);
        }
    }
}

//! Checking that a certificate was issued by one of the test CAs.

use der::asn1::{AnyRef, BitStringRef};
use der::referenced::OwnedToRef;
use der::{Decode, Encode, Sequence};
use rsa::pkcs1v15::Signature;
use rsa::RsaPublicKey;
use x509_cert::spki::AlgorithmIdentifierRef;
use x509_cert::TbsCertificate;

use super::issue::{jst_day, CertificateAuthority};
use super::{PkiError, VerifiedCertificate};

const SHA256_WITH_RSA: der::asn1::ObjectIdentifier =
    const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;

/// The outer certificate SEQUENCE with the to-be-signed part kept as the exact bytes received,
/// since the signature covers those bytes and not a re-encoding of them.
#[derive(Sequence)]
struct SignedBytes<'a> {
    tbs_certificate: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

pub(super) fn verify_issued(
    ca: &CertificateAuthority,
    der: &[u8],
) -> Result<VerifiedCertificate, PkiError> {
    let malformed = |error: der::Error| PkiError::Malformed(error.to_string());
    // Decoded once: the outer SEQUENCE keeps the to-be-signed bytes as received, and those
    // bytes are then decoded into their fields (together what `Certificate::from_der` checks).
    let signed = SignedBytes::from_der(der).map_err(malformed)?;
    let signed_bytes = signed.tbs_certificate.to_der().map_err(malformed)?;
    let tbs = TbsCertificate::from_der(&signed_bytes).map_err(malformed)?;

    if &tbs.issuer != ca.name() {
        return Err(PkiError::UnknownIssuer {
            expected: ca.name_text(),
            found: tbs.issuer.to_string(),
        });
    }
    let bad_signature = |reason: String| PkiError::BadSignature {
        issuer: ca.name_text(),
        reason,
    };
    if signed.signature_algorithm.oid != SHA256_WITH_RSA || tbs.signature.oid != SHA256_WITH_RSA {
        return Err(bad_signature(format!(
            "signature algorithm {} (certificate) / {} (to-be-signed), expected sha256WithRSAEncryption {SHA256_WITH_RSA}",
            signed.signature_algorithm.oid, tbs.signature.oid
        )));
    }
    let signature_bytes = signed
        .signature
        .as_bytes()
        .ok_or_else(|| bad_signature("signature BIT STRING has unused bits".into()))?;
    Signature::try_from(signature_bytes).map_err(|error| bad_signature(error.to_string()))?;
    if !ca.signed(&signed_bytes, signature_bytes) {
        return Err(bad_signature(format!(
            "PKCS#1 v1.5 SHA-256 signature check failed ({} CA)",
            ca.kind().label()
        )));
    }

    let serial = serial_as_u64(tbs.serial_number.as_bytes())?;
    let public_key =
        RsaPublicKey::try_from(tbs.subject_public_key_info.owned_to_ref()).map_err(|error| {
            PkiError::Certificate(format!("subject public key is not RSA: {error}"))
        })?;
    Ok(VerifiedCertificate {
        serial,
        not_before: jst_day(&tbs.validity.not_before)?,
        not_after: jst_day(&tbs.validity.not_after)?,
        public_key,
    })
}

fn serial_as_u64(bytes: &[u8]) -> Result<u64, PkiError> {
    let significant: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    if significant.len() > 8 {
        return Err(PkiError::Certificate(format!(
            "serial number {} is wider than 64 bits",
            hex::encode_upper(bytes)
        )));
    }
    Ok(significant
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_up_to_64_bits_convert_and_wider_ones_are_refused() {
        assert_eq!(
            serial_as_u64(&[0x00, 0x80, 0, 0, 0, 0, 0, 0, 1]).unwrap(),
            0x8000_0000_0000_0001
        );
        assert_eq!(serial_as_u64(&[0x01]).unwrap(), 1);
        assert!(matches!(
            serial_as_u64(&[1; 9]),
            Err(PkiError::Certificate(_))
        ));
    }
}

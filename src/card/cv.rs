//! Card-verifiable certificates and the byte formats they are made of (docs/spec/card-measured.md §3.4,
//! §6.5, §11): 16-byte key identifiers, the `90`/`91` RSA public-key encoding, and the flat
//! `5F4E` body CAR ‖ CHR ‖ key signed with PKCS#1 v1.5 SHA-256.
//!
//! The hierarchy is our own: identifiers start with `7`, a digit no real hierarchy uses
//! (`5` production, `6` JPKI test), so clients with the real CA tables say "unknown CA"
//! rather than "bad signature" (docs/spec/card-measured.md §13).

use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::sign::issuer_signature;

/// Size of the EF form (`7F 21 82 02 33 …`, text EF0004 / surface EF0004).
pub(crate) const CV_CERTIFICATE_SIZE: usize = 568;
/// Size of the `5F4E` body: CAR(16) ‖ CHR(16) ‖ `90`/`91` key (265).
pub(crate) const CV_BODY_SIZE: usize = 297;

/// A 16-byte key identifier (docs/spec/card-measured.md §11.1): 7 ASCII digits, `08 05`, 3 ASCII digits,
/// `00 00 00` and a last byte (`00` in AP files, non-zero at the MF level). Digits beyond
/// the field are cut, missing ones left as zero bytes.
pub(crate) fn key_id(digits: &str, generation: &str, last: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    let digits = digits.as_bytes();
    let generation = generation.as_bytes();
    id[..7.min(digits.len())].copy_from_slice(&digits[..7.min(digits.len())]);
    id[7..9].copy_from_slice(&[0x08, 0x05]);
    id[9..9 + 3.min(generation.len())].copy_from_slice(&generation[..3.min(generation.len())]);
    id[15] = last;
    id
}

/// `90 03 <e>` `91 82 01 00 <n>`: the card's RSA public-key encoding (docs/spec/card-measured.md §11.2).
/// The modulus is left-padded to 256 bytes so the layout is fixed for any 2048-bit key.
pub(crate) fn public_key_90_91(key: &RsaPublicKey) -> Vec<u8> {
    let exponent = key.e().to_bytes_be();
    let mut modulus = key.n().to_bytes_be();
    while modulus.len() < 256 {
        modulus.insert(0, 0);
    }
    let mut out = vec![0x90, exponent.len() as u8];
    out.extend_from_slice(&exponent);
    out.extend_from_slice(&[0x91, 0x82, 0x01, 0x00]);
    out.extend_from_slice(&modulus);
    out
}

/// The signed part of a CV certificate and its signature.
struct SignedBody {
    body: Vec<u8>,
    signature: Vec<u8>,
}

fn signed_body(
    car: &[u8; 16],
    chr: &[u8; 16],
    subject: &RsaPublicKey,
    signer: &RsaPrivateKey,
) -> Result<SignedBody, rsa::Error> {
    let mut body = Vec::with_capacity(CV_BODY_SIZE);
    body.extend_from_slice(car);
    body.extend_from_slice(chr);
    body.extend_from_slice(&public_key_90_91(subject));
    let signature = issuer_signature(signer, &body)?;
    Ok(SignedBody { body, signature })
}

/// `5F 4E 82 HH LL <body>` `5F 37 82 HH LL <signature>`: lengths of 128 and more use the
/// two-byte long form, as the issuer writes them.
fn push_body_and_signature(out: &mut Vec<u8>, signed: &SignedBody) {
    let [hi, lo] = (signed.body.len() as u16).to_be_bytes();
    out.extend_from_slice(&[0x5F, 0x4E, 0x82, hi, lo]);
    out.extend_from_slice(&signed.body);
    let [hi, lo] = (signed.signature.len() as u16).to_be_bytes();
    out.extend_from_slice(&[0x5F, 0x37, 0x82, hi, lo]);
    out.extend_from_slice(&signed.signature);
}

/// The EF form (docs/spec/card-measured.md §6.5): `7F 21 82 02 33 { 5F4E body, 5F37 signature }`, no
/// `4D` header list, 568 bytes for RSA-2048.
pub(crate) fn cv_certificate_ef(
    car: &[u8; 16],
    chr: &[u8; 16],
    subject: &RsaPublicKey,
    signer: &RsaPrivateKey,
) -> Result<Vec<u8>, rsa::Error> {
    let signed = signed_body(car, chr, subject, signer)?;
    let mut contents = Vec::with_capacity(CV_CERTIFICATE_SIZE);
    push_body_and_signature(&mut contents, &signed);
    let mut out = Vec::with_capacity(CV_CERTIFICATE_SIZE);
    let [hi, lo] = (contents.len() as u16).to_be_bytes();
    out.extend_from_slice(&[0x7F, 0x21, 0x82, hi, lo]);
    out.extend_from_slice(&contents);
    Ok(out)
}

/// The GET DATA form at the MF level (docs/spec/card-measured.md §3.4): the template contents with a
/// leading `4D` extended header list describing the body, 575 bytes for RSA-2048.
pub(crate) fn cv_object_get_data(
    car: &[u8; 16],
    chr: &[u8; 16],
    subject: &RsaPublicKey,
    signer: &RsaPrivateKey,
) -> Result<Vec<u8>, rsa::Error> {
    let signed = signed_body(car, chr, subject, signer)?;
    let mut out = Vec::with_capacity(575);
    out.extend_from_slice(&[
        0x4D, 0x0A, 0x42, 0x10, 0x5F, 0x20, 0x10, 0x5F, 0x49, 0x82, 0x01, 0x09,
    ]);
    push_body_and_signature(&mut out, &signed);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_have_the_measured_layout() {
        let id = key_id("1322130", "002", 0x98);
        assert_eq!(&id[..7], b"1322130");
        assert_eq!(&id[7..9], &[0x08, 0x05]);
        assert_eq!(&id[9..12], b"002");
        assert_eq!(&id[12..], &[0, 0, 0, 0x98]);
    }
}

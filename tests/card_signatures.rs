//! Signatures made by the card verify with the certificate's public key, checked by `ring`
//! (an implementation independent of the `rsa` crate the card signs with).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::card::*;
use der::Decode;
use myna_hil::card::Card;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;

/// The PKCS#1 RSAPublicKey inside a certificate (what ring's RSA verifiers take).
fn public_key_of(certificate_der: &[u8]) -> Vec<u8> {
    let certificate = Certificate::from_der(certificate_der).expect("certificate parses");
    certificate
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

fn sign_with_card(card: &mut Card, key_fid: u16, digest_info: &[u8]) -> Vec<u8> {
    assert_eq!(select_ef(card, key_fid), 0x9000);
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x80, digest_info.len() as u8];
    apdu.extend_from_slice(digest_info);
    apdu.push(0x00);
    let (signature, sw) = send_bytes(card, &apdu);
    assert_eq!(sw, 0x9000);
    assert_eq!(signature.len(), 256);
    signature
}

const SHA1_PREFIX: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00, 0x04, 0x14,
];
const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_PREFIX: &[u8] = &[
    0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_PREFIX: &[u8] = &[
    0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

fn digest_info(prefix: &[u8], digest: &[u8]) -> Vec<u8> {
    [prefix, digest].concat()
}

fn check_all_hashes(card: &mut Card, key_fid: u16, certificate: &[u8]) {
    let public_key = public_key_of(certificate);
    let message = b"myna-hil signature check";
    let cases: [(&dyn VerificationAlgorithm, Vec<u8>); 4] = [
        (
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            digest_info(SHA1_PREFIX, &Sha1::digest(message)),
        ),
        (
            &signature::RSA_PKCS1_2048_8192_SHA256,
            digest_info(SHA256_PREFIX, &Sha256::digest(message)),
        ),
        (
            &signature::RSA_PKCS1_2048_8192_SHA384,
            digest_info(SHA384_PREFIX, &Sha384::digest(message)),
        ),
        (
            &signature::RSA_PKCS1_2048_8192_SHA512,
            digest_info(SHA512_PREFIX, &Sha512::digest(message)),
        ),
    ];
    for (algorithm, info) in cases {
        let signature = sign_with_card(card, key_fid, &info);
        UnparsedPublicKey::new(algorithm, &public_key)
            .verify(message, &signature)
            .unwrap_or_else(|_| panic!("ring rejects the card's signature ({algorithm:?})"));
        // The same signature must not verify another message.
        assert!(UnparsedPublicKey::new(algorithm, &public_key)
            .verify(b"other", &signature)
            .is_err());
    }
}

#[test]
fn auth_key_signatures_verify_with_the_auth_certificate() {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0018);
    assert_eq!(send(&mut card, "00 20 00 80 04 31 32 33 34").1, 0x9000);
    let certificate = card.auth_certificate_der().to_vec();
    check_all_hashes(&mut card, 0x0017, &certificate);
}

#[test]
fn signing_key_signatures_verify_with_the_signing_certificate() {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x001B);
    assert_eq!(
        send(&mut card, "00 20 00 80 06 41 42 43 31 32 33").1,
        0x9000
    );
    let certificate = card
        .signing_certificate_der()
        .expect("standard card has one")
        .to_vec();
    // Read through the card as a client does, not through the accessor.
    select_ef(&mut card, 0x0001);
    assert_eq!(read_certificate_4byte(&mut card), certificate);
    check_all_hashes(&mut card, 0x001A, &certificate);
}

#[test]
fn raw_input_is_padded_pkcs1_type1_as_given() {
    // Recover the padded block with the public key (s^e mod n) and check the layout
    // 00 01 FF.. 00 <input> for an input that is not a DigestInfo.
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    use rsa::BigUint;
    let mut card = powered_card("standard");
    send(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0018);
    assert_eq!(send(&mut card, "00 20 00 80 04 31 32 33 34").1, 0x9000);
    let key = rsa::RsaPublicKey::from_pkcs1_der(&public_key_of(card.auth_certificate_der()))
        .expect("RSA key");
    for input in [vec![0x42u8], (0..245u8).collect::<Vec<u8>>()] {
        let signature = sign_with_card(&mut card, 0x0017, &input);
        let block = BigUint::from_bytes_be(&signature)
            .modpow(key.e(), key.n())
            .to_bytes_be();
        // to_bytes_be drops the leading 00.
        assert_eq!(block.len(), 255);
        assert_eq!(block[0], 0x01);
        let separator = 255 - input.len() - 1;
        assert!(block[1..separator].iter().all(|b| *b == 0xFF));
        assert_eq!(block[separator], 0x00);
        assert_eq!(&block[separator + 1..], &input[..]);
    }
}

/// `80 2A P1 P2 Lc data 00` with the key named in P2 (`80 | SFI`), as clients send it.
fn sign_scheme(card: &mut Card, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
    let mut apdu = vec![0x80, 0x2A, p1, p2, data.len() as u8];
    apdu.extend_from_slice(data);
    apdu.push(0x00);
    send_bytes(card, &apdu)
}

/// docs/spec/card-measured.md §8.4: every P1 from 00 to 05 on both keys, checked with ring (PKCS#1 v1.5
/// and PSS with a 32-byte salt) and, for the bare hash of P1 01, by opening the block.
#[test]
fn every_signing_scheme_verifies_on_both_keys() {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    use rsa::BigUint;
    let mut card = powered_card("standard");
    send(&mut card, SELECT_JPKI);
    assert_eq!(send(&mut card, "00 20 00 98 04 31 32 33 34").1, 0x9000);
    assert_eq!(
        send(&mut card, "00 20 00 9B 06 41 42 43 31 32 33").1,
        0x9000
    );
    let message = b"myna-hil scheme check: the card hashes this itself";
    let hash = Sha256::digest(message);
    let keys = [
        (0x97u8, card.auth_certificate_der().to_vec()),
        (0x9A, card.signing_certificate_der().unwrap().to_vec()),
    ];
    for (p2, certificate) in keys {
        let public_key = public_key_of(&certificate);
        let pkcs1 = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &public_key);
        let pss = UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, &public_key);

        let (sig, sw) = sign_scheme(&mut card, 0x00, p2, &digest_info(SHA256_PREFIX, &hash));
        assert_eq!(sw, 0x9000);
        pkcs1
            .verify(message, &sig)
            .expect("P1 00 with a DigestInfo");

        let (sig, sw) = sign_scheme(&mut card, 0x01, p2, message);
        assert_eq!(sw, 0x9000);
        let key = rsa::RsaPublicKey::from_pkcs1_der(&public_key).unwrap();
        let block = BigUint::from_bytes_be(&sig)
            .modpow(key.e(), key.n())
            .to_bytes_be();
        assert_eq!(block.len(), 255, "00 01 FF.. 00 <32-byte hash>");
        assert_eq!(block[0], 0x01);
        assert_eq!(block[255 - 33], 0x00);
        assert_eq!(
            &block[255 - 32..],
            hash.as_slice(),
            "P1 01 signs the bare hash"
        );

        let (sig, sw) = sign_scheme(&mut card, 0x02, p2, &hash);
        assert_eq!(sw, 0x9000);
        pkcs1
            .verify(message, &sig)
            .expect("P1 02: hash in a DigestInfo");

        let (sig, sw) = sign_scheme(&mut card, 0x03, p2, message);
        assert_eq!(sw, 0x9000);
        pkcs1
            .verify(message, &sig)
            .expect("P1 03: sha256WithRSAEncryption");

        let (first, sw) = sign_scheme(&mut card, 0x04, p2, &hash);
        assert_eq!(sw, 0x9000);
        pss.verify(message, &first).expect("P1 04: PSS of the hash");
        let (second, _) = sign_scheme(&mut card, 0x04, p2, &hash);
        pss.verify(message, &second).expect("P1 04 again");
        assert_ne!(first, second, "PSS draws a fresh salt each time");

        let (sig, sw) = sign_scheme(&mut card, 0x05, p2, message);
        assert_eq!(sw, 0x9000);
        pss.verify(message, &sig)
            .expect("P1 05: PSS of the message");
        assert!(pss.verify(b"other", &sig).is_err());
    }
}

#[test]
fn signing_schemes_refuse_other_p1_and_wrong_lengths() {
    let mut card = powered_card("standard");
    send(&mut card, SELECT_JPKI);
    assert_eq!(send(&mut card, "00 20 00 98 04 31 32 33 34").1, 0x9000);
    for p1 in (0x06..=0xFFu8).chain([0x80]) {
        assert_eq!(
            sign_scheme(&mut card, p1, 0x97, &[0u8; 32]).1,
            0x6A86,
            "P1 {p1:02X}"
        );
    }
    for p1 in [0x02, 0x04] {
        assert_eq!(sign_scheme(&mut card, p1, 0x97, &[0u8; 31]).1, 0x6700);
        assert_eq!(sign_scheme(&mut card, p1, 0x97, &[0u8; 33]).1, 0x6700);
    }
    assert_eq!(sign_scheme(&mut card, 0x00, 0x97, &[0u8; 246]).1, 0x6700);
    for p1 in [0x01, 0x03, 0x05] {
        assert_eq!(sign_scheme(&mut card, p1, 0x97, &[0u8; 255]).1, 0x9000);
    }
}

/// docs/spec/card-measured.md §3.4: the `7F21` link verifies with the key carried in `00F8` (PKCS#1 v1.5
/// SHA-256 over the 297 body bytes), checked with ring's RSA components.
#[test]
fn mf_cv_chain_lower_link_verifies_with_the_intermediate_key() {
    let mut card = powered_card("standard");
    let (upper, sw) = send(&mut card, "00 CA 00 F8 00 00 00");
    assert_eq!(sw, 0x9000);
    let (lower, sw) = send(&mut card, "00 CA 7F 21 00 00 00");
    assert_eq!(sw, 0x9000);
    let body = |object: &[u8]| object[17..17 + 297].to_vec();
    let signature = |object: &[u8]| {
        assert_eq!(&object[314..319], &[0x5F, 0x37, 0x82, 0x01, 0x00]);
        object[319..].to_vec()
    };
    let upper_body = body(&upper);
    assert_eq!(&upper_body[32..37], &[0x90, 0x03, 0x01, 0x00, 0x01]);
    assert_eq!(&upper_body[37..41], &[0x91, 0x82, 0x01, 0x00]);
    let key = signature::RsaPublicKeyComponents {
        n: &upper_body[41..297],
        e: &upper_body[34..37],
    };
    key.verify(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &body(&lower),
        &signature(&lower),
    )
    .expect("7F21 is signed by the key in 00F8");
    // The CAR of 7F21 is the CHR of 00F8 and the 00F7 object.
    assert_eq!(&body(&lower)[..16], &upper_body[16..32]);
    assert_eq!(
        send(&mut card, "00 CA 00 F7 00").0,
        upper_body[16..32].to_vec()
    );
    // The root link is not self-verifiable with its own subject key.
    assert!(key
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            &upper_body,
            &signature(&upper)
        )
        .is_err());
}

/// docs/spec/card-measured.md §5.3: INTERNAL AUTHENTICATE with 共通AP key 0019 is an ordinary
/// sha256WithRSAEncryption signature of the challenge, made with no credential; the key is
/// pool slot 12 (its public half is on no file of the card).
#[test]
fn common_ap_internal_authenticate_signs_the_challenge() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let mut card = powered_card("standard");
    send(&mut card, "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 01 00");
    let challenge: Vec<u8> = (0..16).collect();
    let mut apdu = vec![0x00, 0x88, 0x00, 0x99, 0x10];
    apdu.extend_from_slice(&challenge);
    apdu.push(0x00);
    let (signature, sw) = send_bytes(&mut card, &apdu);
    assert_eq!(sw, 0x9000);
    let public = rsa::RsaPublicKey::from(&myna_hil::pki::pool_key(12).unwrap());
    let der = public.to_pkcs1_der().unwrap();
    let key = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der.as_bytes());
    key.verify(&challenge, &signature).expect("verifies");
    assert!(key.verify(b"other", &signature).is_err());
}

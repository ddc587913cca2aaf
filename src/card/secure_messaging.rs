//! Secure messaging of the 券面事項入力補助AP (docs/spec/card-measured.md §6.10): SET SESSION KEY
//! (RSAES-OAEP SHA-256 under the EF 0006 key), then CLA `08` commands carrying one `86`
//! (AES-128-CBC cryptogram) or `96` (plain Le) data object, with a per-command counter IV.
//! Confidentiality only: no MAC anywhere.

use aes::cipher::block_padding::Iso7816;
use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use aes::Aes128;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, RsaPrivateKey};
use sha2::Sha256;

use super::fs::{AID_COMMON, AID_SURFACE, AID_TEXT};
use crate::apdu::StatusWord;

const AES_BLOCK: usize = 16;
/// Tag of a cryptogram object (`86 L 01 ‖ ciphertext`).
const TAG_CRYPTOGRAM: u8 = 0x86;
/// Tag of the plain expected-length object of a READ BINARY (`96 03 00 HH LL`).
const TAG_EXPECTED_LENGTH: u8 = 0x96;
/// Padding-content indicator: ISO/IEC 7816-4 padding (`80 00 …`).
const PADDING_INDICATOR: u8 = 0x01;

/// What SET SESSION KEY answers in an application, before any check of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionKeySupport {
    /// The text AP delivers a session key (after its PIN).
    Delivery,
    /// `66 F1`: the application has no key delivery configured (共通AP, 券面事項確認AP).
    NotConfigured,
    /// `69 82` whatever is verified (JPKI, 住基AP, and the MF level: not measured there).
    Refused,
}

impl SessionKeySupport {
    pub(super) fn of(aid: &[u8]) -> SessionKeySupport {
        if aid == AID_TEXT {
            SessionKeySupport::Delivery
        } else if aid == AID_COMMON || aid == AID_SURFACE {
            SessionKeySupport::NotConfigured
        } else {
            SessionKeySupport::Refused
        }
    }
}

/// A live session: the AES key and the counter of the last SM command.
#[derive(Clone)]
pub(crate) struct SecureMessagingSession {
    key: [u8; AES_BLOCK],
    counter: u128,
}

impl SecureMessagingSession {
    /// Advances the counter (every SM command does, refused ones included) and returns the
    /// IV of this command and its response: AES-128(K, N as a 16-byte big-endian block).
    pub(crate) fn next_iv(&mut self) -> [u8; AES_BLOCK] {
        self.counter = self.counter.wrapping_add(1);
        let mut block = self.counter.to_be_bytes().into();
        Aes128::new(&self.key.into()).encrypt_block(&mut block);
        block.into()
    }

    pub(crate) fn key(&self) -> [u8; AES_BLOCK] {
        self.key
    }
}

/// Opens the SET SESSION KEY cryptogram with the EF 0006 private key. `6F 00` for a
/// cryptogram not below the modulus, `6A 80` for anything that does not decrypt to
/// `A0 22 80 20 <32 bytes>` (a CCS key `81` included: no MAC key can be installed).
pub(crate) fn open_session(
    delivery_key: &RsaPrivateKey,
    cryptogram: &[u8],
) -> Result<SecureMessagingSession, StatusWord> {
    let modulus_size = delivery_key.size();
    if cryptogram.len() != modulus_size {
        return Err(StatusWord::WRONG_LENGTH);
    }
    if BigUint::from_bytes_be(cryptogram) >= *delivery_key.n() {
        return Err(StatusWord::NO_PRECISE_DIAGNOSIS);
    }
    let plaintext = delivery_key
        .decrypt(Oaep::new::<Sha256>(), cryptogram)
        .map_err(|_| StatusWord::WRONG_DATA)?;
    match plaintext.as_slice() {
        [0xA0, 0x22, 0x80, 0x20, material @ ..] if material.len() == 32 => {
            let mut key = [0u8; AES_BLOCK];
            key.copy_from_slice(&material[..AES_BLOCK]);
            Ok(SecureMessagingSession { key, counter: 0 })
        }
        _ => Err(StatusWord::WRONG_DATA),
    }
}

/// The single data object of a command data field, which must be the whole field: its tag
/// byte and value. A second object, a bad length or trailing bytes are `69 88`.
fn single_object(data: &[u8]) -> Result<(u8, &[u8]), StatusWord> {
    let incorrect = StatusWord::SM_DATA_OBJECTS_INCORRECT;
    let [tag, rest @ ..] = data else {
        return Err(StatusWord::SM_DATA_OBJECTS_MISSING);
    };
    let (length, value) = match rest {
        [short, value @ ..] if *short < 0x80 => (usize::from(*short), value),
        [0x81, length, value @ ..] => (usize::from(*length), value),
        [0x82, hi, lo, value @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), value),
        _ => return Err(incorrect),
    };
    if value.len() != length {
        return Err(incorrect);
    }
    Ok((*tag, value))
}

/// The plaintext of a command's `86` object: exactly one object, tag `86`, indicator `01`, a
/// whole number of blocks that unpads (ISO/IEC 7816-4) under the counter IV. Anything else —
/// the wrong counter shows up here as failed unpadding — is `69 88`.
pub(crate) fn open_cryptogram(
    key: &[u8; AES_BLOCK],
    iv: &[u8; AES_BLOCK],
    data: &[u8],
) -> Result<Vec<u8>, StatusWord> {
    let incorrect = StatusWord::SM_DATA_OBJECTS_INCORRECT;
    let (tag, value) = single_object(data)?;
    if tag != TAG_CRYPTOGRAM {
        return Err(incorrect);
    }
    let [PADDING_INDICATOR, ciphertext @ ..] = value else {
        return Err(incorrect);
    };
    if ciphertext.is_empty() || ciphertext.len() % AES_BLOCK != 0 {
        return Err(incorrect);
    }
    let mut buffer = ciphertext.to_vec();
    let plaintext = cbc::Decryptor::<Aes128>::new(key.into(), iv.into())
        .decrypt_padded_mut::<Iso7816>(&mut buffer)
        .map_err(|_| incorrect)?;
    Ok(plaintext.to_vec())
}

/// The plain length a READ BINARY's `96` object asks for (`0` = the whole file from the
/// offset, filler included).
pub(crate) fn expected_length(data: &[u8]) -> Result<usize, StatusWord> {
    let (tag, value) = single_object(data)?;
    if tag != TAG_EXPECTED_LENGTH || value.is_empty() || value.len() > 3 {
        return Err(StatusWord::SM_DATA_OBJECTS_INCORRECT);
    }
    Ok(value
        .iter()
        .fold(0usize, |length, byte| length << 8 | usize::from(*byte)))
}

/// A response's data: `86 <BER length> 01 ‖ AES-128-CBC(pad(plaintext), IV)`; padding is
/// always added, so 16 bytes become 32.
pub(crate) fn seal_response(
    key: &[u8; AES_BLOCK],
    iv: &[u8; AES_BLOCK],
    plaintext: &[u8],
) -> Vec<u8> {
    let padded_length = (plaintext.len() / AES_BLOCK + 1) * AES_BLOCK;
    let mut buffer = vec![0u8; padded_length];
    buffer[..plaintext.len()].copy_from_slice(plaintext);
    let ciphertext = cbc::Encryptor::<Aes128>::new(key.into(), iv.into())
        .encrypt_padded_mut::<Iso7816>(&mut buffer, plaintext.len())
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let value_length = ciphertext.len() + 1;
    let mut out = Vec::with_capacity(value_length + 4);
    out.push(TAG_CRYPTOGRAM);
    match value_length {
        0..=0x7F => out.push(value_length as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, value_length as u8]),
        _ => {
            let [hi, lo] = (value_length.min(0xFFFF) as u16).to_be_bytes();
            out.extend_from_slice(&[0x82, hi, lo]);
        }
    }
    out.push(PADDING_INDICATOR);
    out.extend_from_slice(&ciphertext);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_cryptogram_opens_as_a_command_cryptogram() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        for length in [0usize, 1, 15, 16, 17, 300] {
            let plaintext: Vec<u8> = (0..length).map(|i| i as u8).collect();
            let sealed = seal_response(&key, &iv, &plaintext);
            assert_eq!(sealed[0], 0x86);
            assert_eq!(open_cryptogram(&key, &iv, &sealed).unwrap(), plaintext);
            // The wrong IV fails to unpad (or, rarely, yields other bytes).
            let other = open_cryptogram(&key, &[0u8; 16], &sealed);
            assert_ne!(other.ok(), Some(plaintext));
        }
    }

    #[test]
    fn only_one_object_of_the_right_tag() {
        let key = [1u8; 16];
        let iv = [2u8; 16];
        let sealed = seal_response(&key, &iv, b"\x00\x11");
        let mut doubled = sealed.clone();
        doubled.extend_from_slice(&sealed);
        assert_eq!(
            open_cryptogram(&key, &iv, &doubled),
            Err(StatusWord::SM_DATA_OBJECTS_INCORRECT)
        );
        let mut retagged = sealed.clone();
        retagged[0] = 0x87;
        assert_eq!(
            open_cryptogram(&key, &iv, &retagged),
            Err(StatusWord::SM_DATA_OBJECTS_INCORRECT)
        );
        assert_eq!(expected_length(&[0x96, 0x03, 0x00, 0x01, 0x00]), Ok(256));
        assert_eq!(
            expected_length(&sealed),
            Err(StatusWord::SM_DATA_OBJECTS_INCORRECT)
        );
    }
}

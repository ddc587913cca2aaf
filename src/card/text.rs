//! 券面事項入力補助AP: 個人番号 and 基本4情報 in text form, their issuer hashes and signature.

use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use super::cv::{cv_certificate_ef, key_id, public_key_90_91};
use super::fs::{Application, EfContent, ElementaryFile, KeyId, ReadAccess, AID_TEXT};
use super::pin::PinId;
use super::sign::issuer_signature;
use super::tlv::{ascii_date, offset_table_file, pad_to, push_length, push_tlv};
use crate::person::Person;

pub(crate) use crate::apdu::ids::text::{
    EF_BASIC_FOUR, EF_BASIC_INFO, EF_BLOCKED_KEY, EF_CARD_KEY, EF_CARD_KEY_RECORD,
    EF_CV_CERTIFICATE, EF_MATCH_A, EF_MATCH_B, EF_MY_NUMBER, EF_SESSION_KEY, EF_SIGNATURE,
    EF_TEXT_PIN, EF_UNKNOWN_0008,
};

/// EF 0001 opens with the PIN or 照合番号A, not B (docs/spec/card-measured.md §6.1, measured).
const MY_NUMBER_READ: ReadAccess = ReadAccess::AnyOf(&[PinId::Text, PinId::TextMatchA]);
/// EF 0002 opens with the PIN or 照合番号B, not A (measured).
const BASIC_FOUR_READ: ReadAccess = ReadAccess::AnyOf(&[PinId::Text, PinId::TextMatchB]);
/// The other protected files open with any of the three.
const ANY_TEXT_KEY: ReadAccess =
    ReadAccess::AnyOf(&[PinId::Text, PinId::TextMatchA, PinId::TextMatchB]);

/// EF 0001: `FF 10 0C` + 12 ASCII digits + `FF FF` (17 bytes).
pub(crate) fn my_number_file(person: &Person) -> Vec<u8> {
    let mut file = vec![0xFF, 0x10, 0x0C];
    file.extend_from_slice(person.my_number.as_str().as_bytes());
    file.extend_from_slice(&[0xFF, 0xFF]);
    file
}

/// EF 0002: 基本4情報 with its offset table, then `FF` filler to a multiple of 256 bytes.
/// Returns the file and the range from `DF 22` to the end of `DF 25` (what `DF 32` hashes).
pub(crate) fn basic_four_file(person: &Person) -> (Vec<u8>, std::ops::Range<usize>) {
    let birth = ascii_date(person.birth_date);
    let sex = [person.sex.card_code()];
    let (mut file, range) = offset_table_file(
        [0xFF, 0x20],
        &[
            ([0xDF, 0x22], person.name.as_bytes()),
            ([0xDF, 0x23], person.address.as_bytes()),
            ([0xDF, 0x24], &birth),
            ([0xDF, 0x25], &sex),
        ],
    );
    let size = file.len().div_ceil(256) * 256;
    pad_to(&mut file, size);
    (file, range)
}

/// EF 0003 (docs/spec/card-measured.md §6.4): `FF 30 { DF 31 SHA-256(EF 0001 as stored, all 17
/// bytes), DF 32 SHA-256(EF 0002 from DF 22 through DF 25), DF 33 signature }`, the signature
/// being PKCS#1 v1.5 SHA-256 over the `DF 31` and `DF 32` TLVs as written, by the key EF 0004
/// certifies.
pub(crate) fn signature_file(
    my_number_file: &[u8],
    basic_four: &[u8],
    hashed: std::ops::Range<usize>,
    issuer: &RsaPrivateKey,
) -> Result<Vec<u8>, rsa::Error> {
    let mut signed = Vec::with_capacity(70);
    push_tlv(&mut signed, &[0xDF, 0x31], &Sha256::digest(my_number_file));
    push_tlv(
        &mut signed,
        &[0xDF, 0x32],
        &Sha256::digest(basic_four.get(hashed).unwrap_or_default()),
    );
    let signature = issuer_signature(issuer, &signed)?;
    let mut body = signed;
    push_tlv(&mut body, &[0xDF, 0x33], &signature);
    let mut file = vec![0xFF, 0x30];
    push_length(&mut file, body.len());
    file.extend_from_slice(&body);
    Ok(file)
}

/// EF 0005 (docs/spec/card-measured.md §6.6): `FF 40 82 00 9F { DF 41 01 03 0E 01, DF 42 key ID
/// x000034/001, DF 43 32 bytes + 96 × FF }`. `DF 43`'s meaning is unknown; ours is a digest
/// of the holder's number so it differs per card and never changes.
pub(crate) fn basic_info_file(person: &Person) -> Vec<u8> {
    let mut unknown = Sha256::new_with_prefix(b"myna-hil text AP DF43");
    unknown.update(person.my_number.as_str().as_bytes());
    let mut df43 = unknown.finalize().to_vec();
    df43.resize(128, 0xFF);
    let mut body = Vec::with_capacity(159);
    push_tlv(&mut body, &[0xDF, 0x41], &[0x01, 0x03, 0x0E, 0x01]);
    push_tlv(&mut body, &[0xDF, 0x42], &key_id("7000034", "001", 0));
    push_tlv(&mut body, &[0xDF, 0x43], &df43);
    let mut file = vec![0xFF, 0x40];
    push_length(&mut file, body.len());
    file.extend_from_slice(&body);
    file
}

/// EF 0006 (docs/spec/card-measured.md §6.7): `A1 82 01 09 { 90 exponent, 91 modulus }`, unsigned.
pub(crate) fn session_key_file(session_key: &RsaPublicKey) -> Vec<u8> {
    let mut file = Vec::with_capacity(269);
    push_tlv(&mut file, &[0xA1], &public_key_90_91(session_key));
    file
}

/// EF 0007 (docs/spec/card-measured.md §6.8): `FF 50 { DF 51 key 0013 (90/91), DF 52 signature over the
/// DF 51 TLV as written }` by the key EF 0004 certifies.
pub(crate) fn card_key_file(
    card_key: &RsaPublicKey,
    issuer: &RsaPrivateKey,
) -> Result<Vec<u8>, rsa::Error> {
    let mut body = Vec::with_capacity(531);
    push_tlv(&mut body, &[0xDF, 0x51], &public_key_90_91(card_key));
    let signature = issuer_signature(issuer, &body)?;
    push_tlv(&mut body, &[0xDF, 0x52], &signature);
    let mut file = vec![0xFF, 0x50];
    push_length(&mut file, body.len());
    file.extend_from_slice(&body);
    Ok(file)
}

pub(crate) struct TextInputs<'a> {
    pub(crate) person: &'a Person,
    pub(crate) municipality: &'a str,
    pub(crate) has_pin: bool,
    /// The municipality's key certified in EF 0004: signs EF 0003 and EF 0007.
    pub(crate) issuer: &'a RsaPrivateKey,
    /// Our CV CA (`7000033/001`) that signs EF 0004.
    pub(crate) certificate_authority: &'a RsaPrivateKey,
    /// Public half of key 0013.
    pub(crate) card_key: &'a RsaPublicKey,
    /// Public half of the session-key delivery key (EF 0006).
    pub(crate) session_key: &'a RsaPublicKey,
}

pub(crate) fn application(inputs: &TextInputs<'_>) -> Result<Application, rsa::Error> {
    let my_number = my_number_file(inputs.person);
    let (basic_four, hashed) = basic_four_file(inputs.person);
    let signature = signature_file(&my_number, &basic_four, hashed, inputs.issuer)?;
    let certificate = cv_certificate_ef(
        &key_id("7000033", "001", 0),
        &key_id(&format!("{}31", inputs.municipality), "000", 0),
        &RsaPublicKey::from(inputs.issuer),
        inputs.certificate_authority,
    )?;
    let mut files = vec![
        ElementaryFile::data(EF_MY_NUMBER, my_number, MY_NUMBER_READ),
        ElementaryFile::data(EF_BASIC_FOUR, basic_four, BASIC_FOUR_READ),
        ElementaryFile::data(EF_SIGNATURE, signature, ANY_TEXT_KEY),
        ElementaryFile::data(EF_CV_CERTIFICATE, certificate, ReadAccess::Free),
        ElementaryFile::data(
            EF_BASIC_INFO,
            basic_info_file(inputs.person),
            ReadAccess::Free,
        ),
        ElementaryFile::data(
            EF_SESSION_KEY,
            session_key_file(inputs.session_key),
            ANY_TEXT_KEY,
        ),
        ElementaryFile::data(
            EF_CARD_KEY_RECORD,
            card_key_file(inputs.card_key, inputs.issuer)?,
            ANY_TEXT_KEY,
        ),
        ElementaryFile::data(EF_UNKNOWN_0008, vec![0xFF; 16], ANY_TEXT_KEY),
        ElementaryFile::pin(EF_BLOCKED_KEY, PinId::TextBlocked),
        ElementaryFile {
            fid: EF_CARD_KEY,
            content: EfContent::Key {
                key: KeyId::TextCard,
                pin: None,
            },
        },
        ElementaryFile::pin(EF_MATCH_A, PinId::TextMatchA),
        ElementaryFile::pin(EF_MATCH_B, PinId::TextMatchB),
    ];
    if inputs.has_pin {
        files.push(ElementaryFile::pin(EF_TEXT_PIN, PinId::Text));
    }
    Ok(Application {
        aid: AID_TEXT,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::{MyNumber, Sex};
    use chrono::NaiveDate;

    fn person() -> Person {
        Person {
            name: "試験\u{3000}花子".into(),
            kana: "シケン ハナコ".into(),
            birth_date: NaiveDate::from_ymd_opt(1985, 3, 9).unwrap(),
            sex: Sex::Female,
            address: "東京都千代田区霞が関1-1".into(),
            my_number: MyNumber::from_first_eleven([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]),
        }
    }

    #[test]
    fn my_number_file_is_17_bytes() {
        let file = my_number_file(&person());
        assert_eq!(file.len(), 17);
        assert_eq!(&file[..3], &[0xFF, 0x10, 0x0C]);
        assert_eq!(&file[3..15], b"123456789018");
        assert_eq!(&file[15..], &[0xFF, 0xFF]);
    }

    #[test]
    fn offsets_point_at_each_tag() {
        let person = person();
        let (file, range) = basic_four_file(&person);
        assert_eq!(&file[..2], &[0xFF, 0x20]);
        assert_eq!(file.len() % 256, 0);
        // Header: FF 20 <len>, then DF 21 08.
        let header = 2 + if file[2] & 0x80 != 0 {
            1 + usize::from(file[2] & 0x7F)
        } else {
            1
        };
        assert_eq!(&file[header..header + 3], &[0xDF, 0x21, 0x08]);
        let offsets: Vec<usize> = (0..4)
            .map(|i| {
                usize::from(u16::from_be_bytes([
                    file[header + 3 + 2 * i],
                    file[header + 4 + 2 * i],
                ]))
            })
            .collect();
        let name = person.name.as_bytes();
        assert_eq!(
            &file[offsets[0]..offsets[0] + 3],
            &[0xDF, 0x22, name.len() as u8]
        );
        assert_eq!(&file[offsets[0] + 3..offsets[0] + 3 + name.len()], name);
        assert_eq!(&file[offsets[1]..offsets[1] + 2], &[0xDF, 0x23]);
        assert_eq!(&file[offsets[2]..offsets[2] + 11], b"\xDF\x24\x0819850309");
        assert_eq!(&file[offsets[3]..offsets[3] + 4], b"\xDF\x25\x012");
        assert_eq!(range, offsets[0]..offsets[3] + 4);
        assert!(file[range.end..].iter().all(|b| *b == 0xFF));
    }
}

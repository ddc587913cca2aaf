//! 券面事項入力補助AP: 個人番号 and 基本4情報 in text form, their issuer hashes and signature.

use chrono::NaiveDate;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

use super::fs::{Application, EfContent, ElementaryFile, ReadAccess, AID_TEXT};
use super::pin::PinId;
use super::sign::issuer_signature;
use super::tlv::{self, ascii_date, offset_table_file, pad_to, push_length, push_tlv};
use crate::person::Person;

pub use crate::apdu::ids::text::{
    EF_BASIC_FOUR, EF_BASIC_INFO, EF_CV_CERTIFICATE, EF_MATCH_A, EF_MATCH_B, EF_MY_NUMBER,
    EF_SIGNATURE, EF_TEXT_PIN,
};

/// EF 0003 is read as 336 bytes by clients.
pub const SIGNATURE_EF_SIZE: usize = 336;
/// EF 0004, the card-verifiable certificate `7F 21 82 02 33 ..`.
pub const CV_CERTIFICATE_SIZE: usize = 568;

/// Who may read the protected text-AP files: the text PIN or either 照合番号 of this AP
/// (assumption: the 照合番号 EFs exist to open these files without the PIN).
const TEXT_READ: ReadAccess =
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

/// EF 0003: `FF 30 { DF 31 SHA-256(12 digits), DF 32 SHA-256(EF 0002 from DF 22 through DF 25),
/// DF 33 issuer signature (SHA-256, PKCS#1 v1.5) over DF 31 ‖ DF 32 }`, padded to 336 bytes.
pub(crate) fn signature_file(
    person: &Person,
    basic_four: &[u8],
    hashed: std::ops::Range<usize>,
    issuer: &RsaPrivateKey,
) -> Result<Vec<u8>, rsa::Error> {
    let my_number_hash = Sha256::digest(person.my_number.as_str().as_bytes());
    let attributes_hash = Sha256::digest(basic_four.get(hashed).unwrap_or_default());
    let mut signed = my_number_hash.to_vec();
    signed.extend_from_slice(&attributes_hash);
    let signature = issuer_signature(issuer, &signed)?;
    let mut body = Vec::with_capacity(330);
    push_tlv(&mut body, &[0xDF, 0x31], &my_number_hash);
    push_tlv(&mut body, &[0xDF, 0x32], &attributes_hash);
    push_tlv(&mut body, &[0xDF, 0x33], &signature);
    let mut file = vec![0xFF, 0x30];
    push_length(&mut file, body.len());
    file.extend_from_slice(&body);
    pad_to(&mut file, SIGNATURE_EF_SIZE);
    Ok(file)
}

/// EF 0004: a card-verifiable certificate of the issuer key, exactly 568 bytes:
/// `7F 21 82 02 33 { 7F 4E { 5F 29 profile, 42 CAR, 7F 49 { 81 modulus, 82 exponent }, 5F 20 CHR },
/// 5F 37 signature }`.
pub(crate) fn cv_certificate(issuer: &RsaPrivateKey) -> Result<Vec<u8>, rsa::Error> {
    let mut modulus = issuer.n().to_bytes_be();
    // Left-pad to 256 bytes so the layout is fixed for any 2048-bit key.
    while modulus.len() < 256 {
        modulus.insert(0, 0);
    }
    let mut public_key = Vec::new();
    push_tlv(&mut public_key, &[0x81], &modulus);
    push_tlv(&mut public_key, &[0x82], &issuer.e().to_bytes_be());
    let mut body = Vec::new();
    push_tlv(&mut body, &[0x5F, 0x29], &[0x00]);
    push_tlv(&mut body, &[0x42], b"JPKITEST");
    push_tlv(&mut body, &[0x7F, 0x49], &public_key);
    push_tlv(&mut body, &[0x5F, 0x20], b"MYNATEXTAP");
    let mut signed = Vec::new();
    push_tlv(&mut signed, &[0x7F, 0x4E], &body);
    let signature = issuer_signature(issuer, &signed)?;
    push_tlv(&mut signed, &[0x5F, 0x37], &signature);
    let mut file = Vec::with_capacity(CV_CERTIFICATE_SIZE);
    push_tlv(&mut file, &[0x7F, 0x21], &signed);
    pad_to(&mut file, CV_CERTIFICATE_SIZE);
    file.truncate(CV_CERTIFICATE_SIZE);
    Ok(file)
}

pub(crate) struct TextInputs<'a> {
    pub(crate) person: &'a Person,
    pub(crate) issued: NaiveDate,
    pub(crate) expires: NaiveDate,
    pub(crate) municipality: &'a str,
    pub(crate) has_pin: bool,
    pub(crate) issuer: &'a RsaPrivateKey,
}

pub(crate) fn application(inputs: &TextInputs<'_>) -> Result<Application, rsa::Error> {
    let (basic_four, hashed) = basic_four_file(inputs.person);
    let signature = signature_file(inputs.person, &basic_four, hashed, inputs.issuer)?;
    let mut files = vec![
        ElementaryFile::data(EF_MY_NUMBER, my_number_file(inputs.person), TEXT_READ),
        ElementaryFile::data(EF_BASIC_FOUR, basic_four, TEXT_READ),
        ElementaryFile::data(EF_SIGNATURE, signature, TEXT_READ),
        ElementaryFile::data(
            EF_CV_CERTIFICATE,
            cv_certificate(inputs.issuer)?,
            ReadAccess::Free,
        ),
        ElementaryFile::data(
            EF_BASIC_INFO,
            tlv::basic_info_file(4, inputs.issued, inputs.expires, inputs.municipality),
            ReadAccess::Free,
        ),
        ElementaryFile {
            fid: EF_MATCH_A,
            content: EfContent::Pin(PinId::TextMatchA),
        },
        ElementaryFile {
            fid: EF_MATCH_B,
            content: EfContent::Pin(PinId::TextMatchB),
        },
    ];
    if inputs.has_pin {
        files.push(ElementaryFile {
            fid: EF_TEXT_PIN,
            content: EfContent::Pin(PinId::Text),
        });
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

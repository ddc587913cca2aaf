//! 券面事項確認AP: the card face as images, opened with 照合番号A or B, and the basic-info EF.

use chrono::{Datelike, NaiveDate};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::RsaPrivateKey;

use super::description::BirthYearStyle;
use super::fs::{Application, EfContent, ElementaryFile, ReadAccess, AID_SURFACE};
use super::images::{synthetic_jpeg2000, synthetic_png};
use super::pin::PinId;
use super::sign::issuer_signature;
use super::tlv::{self, ascii_date, offset_table_file, push_tlv};
use crate::person::Person;

pub use crate::apdu::ids::surface::{EF_BASIC_INFO, EF_CARD_FACE, EF_MATCH_A, EF_MATCH_B};

/// Sizes of the synthetic images, near what real cards carry (a few KB in all).
pub const NAME_IMAGE_SIZE: usize = 1_200;
pub const ADDRESS_IMAGE_SIZE: usize = 2_400;
pub const PHOTO_SIZE: usize = 3_000;
pub const SECURITY_CODE_IMAGE_SIZE: usize = 400;

/// The year of `date` in the Japanese era it falls in (元年 = 1). Era boundaries: 令和
/// 2019-05-01, 平成 1989-01-08, 昭和 1926-12-25, 大正 1912-07-30, otherwise 明治 (counted
/// from 1868).
pub fn japanese_era_year(date: NaiveDate) -> i32 {
    const ERAS: [((i32, u32, u32), i32); 4] = [
        ((2019, 5, 1), 2018),
        ((1989, 1, 8), 1988),
        ((1926, 12, 25), 1925),
        ((1912, 7, 30), 1911),
    ];
    for ((year, month, day), base) in ERAS {
        if (date.year(), date.month(), date.day()) >= (year, month, day) {
            return date.year() - base;
        }
    }
    date.year() - 1867
}

/// 照合番号B (14 digits): birth `YYMMDD` (year per `style`), card expiry year `YYYY`,
/// 4-digit security code.
pub fn collation_number_b(
    birth: NaiveDate,
    card_expiry: NaiveDate,
    security_code: &str,
    style: BirthYearStyle,
) -> String {
    let year = match style {
        BirthYearStyle::JapaneseEra => japanese_era_year(birth),
        BirthYearStyle::Western => birth.year(),
    };
    format!(
        "{:02}{:02}{:02}{:04}{}",
        year.rem_euclid(100),
        birth.month(),
        birth.day(),
        card_expiry.year(),
        security_code
    )
}

pub(crate) struct SurfaceInputs<'a> {
    pub(crate) person: &'a Person,
    pub(crate) issued: NaiveDate,
    pub(crate) expires: NaiveDate,
    pub(crate) security_code: &'a str,
    pub(crate) municipality: &'a str,
    pub(crate) issuer: &'a RsaPrivateKey,
}

/// EF 0002: `FF 20 82 LL LL { DF 21 offsets of DF 22..DF 2A, DF 22 birth YYYYMMDD, DF 23 sex,
/// DF 24 issuer public key (PKCS#1), DF 25 name PNG, DF 26 address PNG, DF 27 photo JPEG 2000,
/// DF 28 signature, DF 29 card expiry YYYYMMDD, DF 2A security-code PNG }`. `DF 28` is the
/// issuer's SHA-256 PKCS#1 v1.5 signature over the other entries' TLVs in order.
pub(crate) fn card_face_file(inputs: &SurfaceInputs<'_>) -> Result<Vec<u8>, CardFaceError> {
    let person = inputs.person;
    let birth = ascii_date(person.birth_date);
    let sex = [person.sex.card_code()];
    let public_key = inputs
        .issuer
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| CardFaceError(e.to_string()))?
        .into_vec();
    let name = synthetic_png(384, 48, person.name.as_bytes(), NAME_IMAGE_SIZE);
    let address = synthetic_png(768, 96, person.address.as_bytes(), ADDRESS_IMAGE_SIZE);
    let photo = synthetic_jpeg2000(person.my_number.as_str().as_bytes(), PHOTO_SIZE);
    let expiry = ascii_date(inputs.expires);
    let code = synthetic_png(
        96,
        24,
        inputs.security_code.as_bytes(),
        SECURITY_CODE_IMAGE_SIZE,
    );
    let signed_entries: [([u8; 2], &[u8]); 8] = [
        ([0xDF, 0x22], &birth),
        ([0xDF, 0x23], &sex),
        ([0xDF, 0x24], &public_key),
        ([0xDF, 0x25], &name),
        ([0xDF, 0x26], &address),
        ([0xDF, 0x27], &photo),
        ([0xDF, 0x29], &expiry),
        ([0xDF, 0x2A], &code),
    ];
    let mut signed = Vec::new();
    for (tag, value) in &signed_entries {
        push_tlv(&mut signed, tag, value);
    }
    let signature =
        issuer_signature(inputs.issuer, &signed).map_err(|e| CardFaceError(e.to_string()))?;
    let (file, _) = offset_table_file(
        [0xFF, 0x20],
        &[
            signed_entries[0],
            signed_entries[1],
            signed_entries[2],
            signed_entries[3],
            signed_entries[4],
            signed_entries[5],
            ([0xDF, 0x28], &signature),
            signed_entries[6],
            signed_entries[7],
        ],
    );
    Ok(file)
}

#[derive(Debug, thiserror::Error)]
#[error("card face: {0}")]
pub(crate) struct CardFaceError(String);

pub(crate) fn application(inputs: &SurfaceInputs<'_>) -> Result<Application, CardFaceError> {
    Ok(Application {
        aid: AID_SURFACE,
        files: vec![
            ElementaryFile::data(
                EF_CARD_FACE,
                card_face_file(inputs)?,
                ReadAccess::AnyOf(&[PinId::SurfaceMatchA, PinId::SurfaceMatchB]),
            ),
            ElementaryFile::data(
                EF_BASIC_INFO,
                tlv::basic_info_file(3, inputs.issued, inputs.expires, inputs.municipality),
                ReadAccess::Free,
            ),
            ElementaryFile {
                fid: EF_MATCH_B,
                content: EfContent::Pin(PinId::SurfaceMatchB),
            },
            ElementaryFile {
                fid: EF_MATCH_A,
                content: EfContent::Pin(PinId::SurfaceMatchA),
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn era_years() {
        assert_eq!(japanese_era_year(date(1980, 5, 10)), 55); // 昭和55年
        assert_eq!(japanese_era_year(date(1989, 1, 7)), 64); // 昭和64年
        assert_eq!(japanese_era_year(date(1989, 1, 8)), 1); // 平成元年
        assert_eq!(japanese_era_year(date(2019, 4, 30)), 31); // 平成31年
        assert_eq!(japanese_era_year(date(2019, 5, 1)), 1); // 令和元年
        assert_eq!(japanese_era_year(date(1926, 12, 24)), 15); // 大正15年
    }

    #[test]
    fn collation_b_layout() {
        let b = collation_number_b(
            date(1980, 5, 10),
            date(2034, 5, 10),
            "1234",
            BirthYearStyle::JapaneseEra,
        );
        assert_eq!(b, "55051020341234");
        let w = collation_number_b(
            date(1980, 5, 10),
            date(2034, 5, 10),
            "1234",
            BirthYearStyle::Western,
        );
        assert_eq!(w, "80051020341234");
    }
}

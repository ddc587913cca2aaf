//! 券面事項確認AP: the card face as images, opened with 照合番号A or B, and the basic-info EF.

use chrono::{Datelike, NaiveDate};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use super::cv::{cv_certificate_ef, key_id, public_key_90_91};
use super::description::BirthYearStyle;
use super::fs::{Application, EfContent, ElementaryFile, KeyId, ReadAccess, AID_SURFACE};
use super::images::{synthetic_jpeg2000, synthetic_png};
use super::pin::PinId;
use super::sign::issuer_signature;
use super::tlv::{ascii_date, offset_table_file, push_length, push_tlv};
use crate::person::Person;

pub(crate) use crate::apdu::ids::surface::{
    EF_AGE_RECORD, EF_BASIC_INFO, EF_BIRTH_DATE_KEY, EF_CARD_FACE, EF_CARD_KEY, EF_CV_CERTIFICATE,
    EF_MATCH_A, EF_MATCH_B, EF_MY_NUMBER_IMAGE, EF_UNKNOWN_0006,
};

/// Sizes of the synthetic images, near what real cards carry (a few KB in all).
pub(crate) const NAME_IMAGE_SIZE: usize = 1_200;
pub(crate) const ADDRESS_IMAGE_SIZE: usize = 2_400;
pub(crate) const PHOTO_SIZE: usize = 3_000;
pub(crate) const SECURITY_CODE_IMAGE_SIZE: usize = 400;
/// The rendered 個人番号 (EF 0005 `DF 41`): 72×12, 145 bytes on the test card.
pub(crate) const MY_NUMBER_IMAGE_SIZE: usize = 145;

/// SHA-256 DigestInfo header for a 96-byte OCTET STRING: the card-face signature signs three
/// SHA-256 hashes in one DigestInfo (docs/spec/card-measured.md §7.3, §11.4).
const TRIPLE_HASH_DIGEST_INFO: [u8; 19] = [
    0x30, 0x71, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x60,
];

/// Who opens what (docs/spec/card-measured.md §7.1, measured): A opens 0002-0006, B the same minus
/// 0005, the birth-date key only 0001.
const AGE_RECORD_READ: ReadAccess = ReadAccess::AnyOf(&[PinId::SurfaceBirthDate]);
const A_OR_B: ReadAccess = ReadAccess::AnyOf(&[PinId::SurfaceMatchA, PinId::SurfaceMatchB]);
const A_ONLY: ReadAccess = ReadAccess::AnyOf(&[PinId::SurfaceMatchA]);

/// The year of `date` in the Japanese era it falls in (元年 = 1). Era boundaries: 令和
/// 2019-05-01, 平成 1989-01-08, 昭和 1926-12-25, 大正 1912-07-30, otherwise 明治 (counted
/// from 1868).
pub(crate) fn japanese_era_year(date: NaiveDate) -> i32 {
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
pub(crate) fn collation_number_b(
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
    pub(crate) expires: NaiveDate,
    pub(crate) security_code: &'a str,
    pub(crate) municipality: &'a str,
    /// The municipality's key certified in EF 0004: signs EF 0001, 0002 and 0005.
    pub(crate) issuer: &'a RsaPrivateKey,
    /// Our CV CA (`7000023/001`) that signs EF 0004.
    pub(crate) certificate_authority: &'a RsaPrivateKey,
    /// Public half of key 001A, written as `DF 12` / `DF 24` / `DF 42`.
    pub(crate) card_key: &'a RsaPublicKey,
}

/// `<outer tag> 82 HH LL { objects }` with no offset table.
fn plain_file(outer_tag: [u8; 2], objects: &[u8]) -> Vec<u8> {
    let mut file = outer_tag.to_vec();
    push_length(&mut file, objects.len());
    file.extend_from_slice(objects);
    file
}

/// EF 0001, the age record (docs/spec/card-measured.md §7.2): `FF 10 { DF 11 birth YYYYMMDD, DF 12 card
/// key (90/91), DF 13 signature over the DF 11 and DF 12 TLVs }`.
pub(crate) fn age_record_file(inputs: &SurfaceInputs<'_>) -> Result<Vec<u8>, rsa::Error> {
    let mut objects = Vec::with_capacity(542);
    push_tlv(
        &mut objects,
        &[0xDF, 0x11],
        &ascii_date(inputs.person.birth_date),
    );
    push_tlv(
        &mut objects,
        &[0xDF, 0x12],
        &public_key_90_91(inputs.card_key),
    );
    let signature = issuer_signature(inputs.issuer, &objects)?;
    push_tlv(&mut objects, &[0xDF, 0x13], &signature);
    Ok(plain_file([0xFF, 0x10], &objects))
}

/// EF 0002, the card face (docs/spec/card-measured.md §7.3): `FF 20 { DF 21 offsets of the nine objects,
/// DF 22 birth, DF 23 sex, DF 24 card key (90/91), DF 25 name PNG, DF 26 address PNG, DF 27
/// photo JP2, DF 28 signature, DF 29 expiry, DF 2A security-code PNG }`. `DF 28` signs a
/// DigestInfo holding SHA-256(DF22‖DF23‖DF24) ‖ SHA-256(DF25‖DF26) ‖ SHA-256(DF27), TLVs as
/// written; `DF 29` and `DF 2A` are not covered.
pub(crate) fn card_face_file(inputs: &SurfaceInputs<'_>) -> Result<Vec<u8>, rsa::Error> {
    let person = inputs.person;
    let birth = ascii_date(person.birth_date);
    let sex = [person.sex.card_code()];
    let public_key = public_key_90_91(inputs.card_key);
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
    let group_hash = |objects: &[([u8; 2], &[u8])]| {
        let mut group = Vec::new();
        for (tag, value) in objects {
            push_tlv(&mut group, tag, value);
        }
        Sha256::digest(&group)
    };
    let mut digest_info = TRIPLE_HASH_DIGEST_INFO.to_vec();
    digest_info.extend_from_slice(&group_hash(&[
        ([0xDF, 0x22], &birth),
        ([0xDF, 0x23], &sex),
        ([0xDF, 0x24], &public_key),
    ]));
    digest_info.extend_from_slice(&group_hash(&[
        ([0xDF, 0x25], &name),
        ([0xDF, 0x26], &address),
    ]));
    digest_info.extend_from_slice(&group_hash(&[([0xDF, 0x27], &photo)]));
    let signature = inputs
        .issuer
        .sign(Pkcs1v15Sign::new_unprefixed(), &digest_info)?;
    let (file, _) = offset_table_file(
        [0xFF, 0x20],
        &[
            ([0xDF, 0x22], &birth),
            ([0xDF, 0x23], &sex),
            ([0xDF, 0x24], &public_key),
            ([0xDF, 0x25], &name),
            ([0xDF, 0x26], &address),
            ([0xDF, 0x27], &photo),
            ([0xDF, 0x28], &signature),
            ([0xDF, 0x29], &expiry),
            ([0xDF, 0x2A], &code),
        ],
    );
    Ok(file)
}

/// EF 0003, the AP basic data (docs/spec/card-measured.md §7.4): `FF 30 82 01 3B { DF 31 06 03 0E 01,
/// DF 32 key ID x000024/001, DF 33 00, DF 34 municipality, DF 35 key ID + 256 opaque bytes }`.
/// `DF 35`'s meaning is unknown; ours is a key ID of our own and bytes derived from the
/// holder's number, so it differs per card and never changes.
pub(crate) fn basic_info_file(person: &Person, municipality: &str) -> Vec<u8> {
    let mut df35 = key_id("7900025", "001", 0).to_vec();
    for block in 0u8..8 {
        let mut opaque = Sha256::new_with_prefix(b"myna-hil surface AP DF35");
        opaque.update([block]);
        opaque.update(person.my_number.as_str().as_bytes());
        df35.extend_from_slice(&opaque.finalize());
    }
    let mut objects = Vec::with_capacity(315);
    push_tlv(&mut objects, &[0xDF, 0x31], &[0x06, 0x03, 0x0E, 0x01]);
    push_tlv(&mut objects, &[0xDF, 0x32], &key_id("7000024", "001", 0));
    push_tlv(&mut objects, &[0xDF, 0x33], &[0x00]);
    push_tlv(&mut objects, &[0xDF, 0x34], municipality.as_bytes());
    push_tlv(&mut objects, &[0xDF, 0x35], &df35);
    plain_file([0xFF, 0x30], &objects)
}

/// EF 0005, the rendered 個人番号 (docs/spec/card-measured.md §7.5): `FF 40 { DF 41 PNG, DF 42 card key,
/// DF 43 signature over the DF 41 and DF 42 TLVs }`.
pub(crate) fn my_number_image_file(inputs: &SurfaceInputs<'_>) -> Result<Vec<u8>, rsa::Error> {
    let image = synthetic_png(
        72,
        12,
        inputs.person.my_number.as_str().as_bytes(),
        MY_NUMBER_IMAGE_SIZE,
    );
    let mut objects = Vec::with_capacity(681);
    push_tlv(&mut objects, &[0xDF, 0x41], &image);
    push_tlv(
        &mut objects,
        &[0xDF, 0x42],
        &public_key_90_91(inputs.card_key),
    );
    let signature = issuer_signature(inputs.issuer, &objects)?;
    push_tlv(&mut objects, &[0xDF, 0x43], &signature);
    Ok(plain_file([0xFF, 0x40], &objects))
}

pub(crate) fn application(inputs: &SurfaceInputs<'_>) -> Result<Application, rsa::Error> {
    let certificate = cv_certificate_ef(
        &key_id("7000023", "001", 0),
        &key_id(&format!("{}21", inputs.municipality), "000", 0),
        &RsaPublicKey::from(inputs.issuer),
        inputs.certificate_authority,
    )?;
    Ok(Application {
        aid: AID_SURFACE,
        files: vec![
            ElementaryFile::data(EF_AGE_RECORD, age_record_file(inputs)?, AGE_RECORD_READ),
            ElementaryFile::data(EF_CARD_FACE, card_face_file(inputs)?, A_OR_B),
            ElementaryFile::data(
                EF_BASIC_INFO,
                basic_info_file(inputs.person, inputs.municipality),
                ReadAccess::Free,
            ),
            ElementaryFile::data(EF_CV_CERTIFICATE, certificate, ReadAccess::Free),
            ElementaryFile::data(EF_MY_NUMBER_IMAGE, my_number_image_file(inputs)?, A_ONLY),
            ElementaryFile::data(EF_UNKNOWN_0006, vec![0xFF; 16], A_OR_B),
            ElementaryFile::pin(EF_BIRTH_DATE_KEY, PinId::SurfaceBirthDate),
            ElementaryFile::pin(EF_MATCH_B, PinId::SurfaceMatchB),
            ElementaryFile::pin(EF_MATCH_A, PinId::SurfaceMatchA),
            ElementaryFile {
                fid: EF_CARD_KEY,
                content: EfContent::Key {
                    key: KeyId::SurfaceCard,
                    pin: None,
                },
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

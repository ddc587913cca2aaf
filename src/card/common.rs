//! The 共通AP (common card application, docs/spec/card-measured.md §5): the card-info record EF and the
//! INTERNAL AUTHENTICATE key 0019.

use chrono::NaiveDate;

use super::cv::key_id;
use super::fs::{Application, EfContent, ElementaryFile, AID_COMMON, AID_JUKI};
use super::pin::PinId;
use super::tlv::ascii_date;
use crate::person::Person;

pub(crate) use crate::apdu::ids::common::{
    EF_CARD_INFO, EF_INTERNAL_AUTH_KEY, EF_KEY_REFERENCE, EF_PIN,
};

/// The one record of 共通AP and 住基AP EF 0002: a 16-byte key-reference-shaped value whose
/// meaning is unknown (docs/spec/card-measured.md §5.1, §9), the same in both. Ours is a key ID of our
/// own hierarchy. Whether the record carries a simple-TLV header is not reported; it holds
/// the bare 16 bytes.
fn key_reference_record() -> Box<[Box<[u8]>]> {
    Box::new([Box::from(key_id("7000040", "001", 0))])
}

/// The 15-digit card serial: synthetic, from the holder's 個人番号 so each card differs and
/// stays the same across runs (the real one is the issuer's).
pub(crate) fn card_serial(person: &Person) -> String {
    format!("400{}", person.my_number.as_str())
}

/// Record 1 of EF 0001: simple TLV `01 1C` + serial(15) ‖ municipality(5) ‖ expiry YYYYMMDD.
pub(crate) fn card_info_record(person: &Person, municipality: &str, expires: NaiveDate) -> Vec<u8> {
    let mut value = card_serial(person).into_bytes();
    value.extend_from_slice(municipality.as_bytes());
    value.extend_from_slice(&ascii_date(expires));
    let mut record = vec![0x01, value.len() as u8];
    record.extend_from_slice(&value);
    record
}

pub(crate) fn application(person: &Person, municipality: &str, expires: NaiveDate) -> Application {
    let records: Box<[Box<[u8]>]> =
        Box::new([card_info_record(person, municipality, expires).into_boxed_slice()]);
    Application {
        aid: AID_COMMON,
        files: vec![
            ElementaryFile {
                fid: EF_CARD_INFO,
                content: EfContent::Records(records),
            },
            ElementaryFile {
                fid: EF_KEY_REFERENCE,
                content: EfContent::Records(key_reference_record()),
            },
            ElementaryFile {
                fid: EF_INTERNAL_AUTH_KEY,
                content: EfContent::InternalAuthenticationKey,
            },
            ElementaryFile::pin(EF_PIN, PinId::CommonPin),
        ],
    }
}

/// The 住基AP (docs/spec/card-measured.md §9): EF 0002 as in the 共通AP and a PIN of its own that, as
/// far as anyone has seen, opens nothing.
pub(crate) fn juki_application() -> Application {
    use crate::apdu::ids::juki;
    Application {
        aid: AID_JUKI,
        files: vec![
            ElementaryFile {
                fid: juki::EF_KEY_REFERENCE,
                content: EfContent::Records(key_reference_record()),
            },
            ElementaryFile::pin(juki::EF_PIN, PinId::JukiPin),
        ],
    }
}

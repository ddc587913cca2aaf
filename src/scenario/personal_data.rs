//! Personal data in a trace's answers, kept out of a generated scenario (`trace to-scenario`
//! without `--keep-personal-data`): a capture made at a clinic reads the patient's 個人番号,
//! 基本4情報, certificate and photo, and a scenario is a file meant to be committed.
//!
//! - The text application's EF 0001 (個人番号) and EF 0002 (基本4情報) are replaced by the
//!   same files of a synthetic holder, of the same shape and length: every character of the
//!   name and address by one of the same kind and UTF-8 length (kanji by kanji, digits by
//!   digits; spaces and punctuation kept), the birth date by 1980-01-01, the sex by 男性,
//!   the number by a synthetic one with a valid check digit. The files are encoded by the
//!   card's own encoder ([`crate::card::text`]), and the inferred card holds that holder, so
//!   the steps that read them pass against it. With `--card`, the card's own holder stands in.
//! - Every other file that carries the holder (the text application's signature and basic
//!   information, the surface application's images and records, the JPKI signing
//!   certificate, the records of the 共通AP and 住基AP) is expected by its length only
//!   (`data_len`), its contents not copied.
//!
//! Answers under secure messaging are cryptograms under a session key no trace holds; they
//! are kept as they are.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::apdu::ids::{jpki, text, AID_COMMON, AID_JPKI, AID_JUKI, AID_SURFACE, AID_TEXT};
use crate::card::text::{basic_four_file, my_number_file};
use crate::person::{MyNumber, Person, Sex};

/// The contents a trace read, by application and EF (as far as READ BINARY reached).
pub(crate) type FilesRead = BTreeMap<(Option<[u8; 10]>, Option<u16>), Vec<u8>>;

/// Whether READ BINARY of `file` in `application` answers with the holder's personal data.
pub(crate) fn holds_personal_data(application: Option<[u8; 10]>, file: u16) -> bool {
    match application {
        Some(AID_TEXT) => matches!(
            file,
            text::EF_MY_NUMBER | text::EF_BASIC_FOUR | text::EF_SIGNATURE | text::EF_BASIC_INFO
        ),
        // The face image, the fields' images, the age record, the 個人番号 image.
        Some(AID_SURFACE) => matches!(file, 0x0001..=0x0006),
        Some(AID_JPKI) => file == jpki::EF_SIGNING_CERTIFICATE,
        // Card information records (serial, municipality) and the 住基AP's.
        Some(AID_COMMON) | Some(AID_JUKI) => true,
        _ => false,
    }
}

/// What a step expects of an answer's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// The data as recorded (not personal, or kept on request).
    Recorded,
    /// Synthetic data of the same length in its place.
    Synthetic(Vec<u8>),
    /// Only the length: personal data with no synthetic stand-in.
    LengthOnly,
}

/// The synthetic holder and files that stand in for the recorded ones.
#[derive(Debug, Clone)]
pub(crate) struct Substitutes {
    /// The holder the generated card carries.
    pub(crate) person: Person,
    /// Synthetic text-application files, by EF, when the trace read the recorded one.
    files: BTreeMap<u16, Vec<u8>>,
}

impl Substitutes {
    /// Stand-ins for the files in `recorded` (the trace's), for the card's own holder when
    /// the card is known, else for a synthetic holder shaped like the recorded one.
    pub(crate) fn new(recorded: &FilesRead, known: Option<&Person>) -> Substitutes {
        let text_file = |fid: u16| recorded.get(&(Some(AID_TEXT), Some(fid)));
        let person = match known {
            Some(person) => person.clone(),
            None => synthetic_person(text_file(text::EF_BASIC_FOUR).map(Vec::as_slice)),
        };
        let mut files = BTreeMap::new();
        files.insert(text::EF_MY_NUMBER, my_number_file(&person));
        files.insert(text::EF_BASIC_FOUR, basic_four_file(&person).0);
        Substitutes { person, files }
    }

    /// What to expect for `data`, read at `offset` of `file` in `application`.
    pub(crate) fn expected(
        &self,
        application: Option<[u8; 10]>,
        file: Option<u16>,
        offset: usize,
        data: &[u8],
    ) -> Expected {
        let Some(file) = file else {
            return Expected::Recorded;
        };
        if data.is_empty() || !holds_personal_data(application, file) {
            return Expected::Recorded;
        }
        let synthetic = (application == Some(AID_TEXT))
            .then(|| self.files.get(&file))
            .flatten()
            .and_then(|content| content.get(offset..offset.checked_add(data.len())?));
        match synthetic {
            Some(bytes) => Expected::Synthetic(bytes.to_vec()),
            None => Expected::LengthOnly,
        }
    }
}

/// A holder whose name and address have the shape and UTF-8 length of those in `basic_four`
/// (the recorded EF 0002, `DF 22` name, `DF 23` address), so that the synthetic file is laid
/// out as the recorded one.
fn synthetic_person(basic_four: Option<&[u8]>) -> Person {
    let value = |tag: u8| basic_four.and_then(|file| tlv_value(file, [0xDF, tag]));
    let text = |tag: u8, pool: &str, default: &str| match value(tag) {
        Some(bytes) => look_alike(&String::from_utf8_lossy(bytes), pool),
        None => default.to_owned(),
    };
    Person {
        name: text(0x22, "試験甲乙丙丁戊己庚", "試験　太郎"),
        kana: "シケン タロウ".to_owned(),
        birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap_or_default(),
        sex: Sex::Male,
        address: text(
            0x23,
            "東京都千代田区霞が関丁目番地",
            "東京都千代田区霞が関一丁目1番1号",
        ),
        my_number: MyNumber::from_first_eleven([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]),
    }
}

/// The value of the first `tag` TLV in `file` (two-byte tag, one-byte or `81`/`82` length).
fn tlv_value(file: &[u8], tag: [u8; 2]) -> Option<&[u8]> {
    let at = file.windows(2).position(|pair| pair == tag)?;
    let rest = file.get(at + 2..)?;
    let (length, value) = match rest {
        [0x81, length, value @ ..] => (usize::from(*length), value),
        [0x82, high, low, value @ ..] => (usize::from(u16::from_be_bytes([*high, *low])), value),
        [length, value @ ..] if *length < 0x80 => (usize::from(*length), value),
        _ => return None,
    };
    value.get(..length)
}

/// `text` with every letter and digit replaced by one of the same UTF-8 length (multi-byte
/// characters from `pool`, cycling; ASCII letters by `A`…, digits by `1`…); spaces and
/// punctuation kept, so that 丁目 separators and the name's full-width space stay in place. Names are drawn from 試験甲乙丙…, addresses
/// from the fixtures' own address (東京都千代田区霞が関…).
fn look_alike(text: &str, pool: &str) -> String {
    let wide: Vec<char> = pool.chars().filter(|c| c.len_utf8() == 3).collect();
    let mut next: usize = 0;
    text.chars()
        .map(|c| {
            if !c.is_alphanumeric() {
                return c;
            }
            let stand_in = match c.len_utf8() {
                1 if c.is_ascii_digit() => char::from(b'1' + (next % 9) as u8),
                1 => char::from(b'A' + (next % 26) as u8),
                2 => 'é',
                3 => wide.get(next % wide.len().max(1)).copied().unwrap_or('試'),
                _ => '𠀋',
            };
            next += 1;
            stand_in
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_keep_every_character_class_and_byte_length() {
        let name = "山田　花子";
        let shown = look_alike(name, "試験甲乙丙");
        assert_eq!(shown.len(), name.len());
        assert_eq!(shown.chars().nth(2), Some('　'));
        assert!(!shown.contains("山田"));
        let address = "大阪府大阪市北区梅田３丁目1-2 Ｂ棟";
        let shown = look_alike(address, "東京都千代田区");
        assert_eq!(shown.len(), address.len());
        assert_eq!(shown.chars().count(), address.chars().count());
        assert!(shown.contains('-') && shown.contains(' '));
        assert!(!shown.contains("梅田"));
    }

    #[test]
    fn a_known_card_stands_in_with_its_own_files() {
        let person = synthetic_person(None);
        let substitutes = Substitutes::new(&FilesRead::new(), Some(&person));
        let file = my_number_file(&person);
        assert_eq!(
            substitutes.expected(Some(AID_TEXT), Some(text::EF_MY_NUMBER), 0, &[0; 17]),
            Expected::Synthetic(file)
        );
        assert_eq!(
            substitutes.expected(Some(AID_JPKI), Some(jpki::EF_AUTH_CERTIFICATE), 0, &[1, 2]),
            Expected::Recorded
        );
        assert_eq!(
            substitutes.expected(Some(AID_SURFACE), Some(0x0002), 0, &[1, 2]),
            Expected::LengthOnly
        );
    }
}

//! The synthetic person shared by the card (what the IC holds) and the qualification
//! registry (who the insurance record belongs to), and 照合番号B, which the card keeps as a key
//! and the reader derives from what is printed on the card front.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Sex as the card's 基本4情報 encodes it (ASCII `1` / `2` / `9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 男性 (sex code 1 on the card).
    Male,
    /// 女性 (sex code 2 on the card).
    Female,
    /// Not stated (the card leaves the field empty).
    Unspecified,
}

impl Sex {
    /// The card's code (`DF 25` of the text AP).
    pub(crate) fn card_code(self) -> u8 {
        match self {
            Sex::Male => b'1',
            Sex::Female => b'2',
            Sex::Unspecified => b'9',
        }
    }

    /// The qualification interface's `Sex` code (OQSCD007).
    pub(crate) fn oqs_code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Unspecified => "3",
        }
    }
}

/// Which phone holds a スマホ用電子証明書 (docs/spec/smartphone.md §1.2): the credential is
/// shared by the phone token, the registry and the reader, so it lives with the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// An Android phone with the スマホ用電子証明書 (`JPKIAPGPSETOKEN`); its own 4-digit PIN.
    Android,
    /// An iPhone with the マイナンバーカード in Wallet (`JPKIAPIOSTOKEN`); on-device approval.
    Iphone,
}

impl PhoneKind {
    /// Stable lower-case label (serials, messages, scenario files).
    pub fn label(self) -> &'static str {
        match self {
            PhoneKind::Android => "android",
            PhoneKind::Iphone => "iphone",
        }
    }
}

/// A person as written in YAML (card descriptions and registries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Family and given name separated by U+3000 (full-width space), as on the card.
    pub name: String,
    /// Katakana reading, family and given name separated by a half-width space.
    pub kana: String,
    /// 生年月日.
    pub birth_date: NaiveDate,
    /// 性別.
    pub sex: Sex,
    /// 住所 as printed on the card.
    pub address: String,
    /// A synthetic 個人番号 with a valid check digit.
    pub my_number: MyNumber,
}

impl Person {
    /// Age in whole years on `date` (birthday counted from the day itself).
    pub(crate) fn age_on(&self, date: NaiveDate) -> u32 {
        age_on(self.birth_date, date)
    }
}

/// Age in whole years on `date`. Japanese law counts a year as completed the day before the
/// birthday; every rule the harness models (school entry, 70, 75) is stated in terms of the
/// birthday itself or month boundaries, so the plain calendar age is what they need.
pub(crate) fn age_on(birth: NaiveDate, date: NaiveDate) -> u32 {
    if date < birth {
        return 0;
    }
    let mut years = date.year() - birth.year();
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// Why a string is not a valid 個人番号.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MyNumberError {
    /// The text is not 12 ASCII digits.
    #[error("a 個人番号 has 12 ASCII digits, got {0:?}")]
    Shape(String),
    /// The 12th digit does not match the check digit of the first eleven.
    #[error("check digit of {number} should be {expected}")]
    CheckDigit {
        /// The 個人番号 given.
        number: String,
        /// The check digit the first eleven digits call for.
        expected: u8,
    },
}

/// A 12-digit 個人番号 whose last digit is the check digit of the first eleven
/// (総務省令 第5条: weights 2..7 repeating from the right, 11 - (sum mod 11), 0 if that is ≥ 10).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MyNumber(String);

impl MyNumber {
    /// The check digit for the first eleven digits.
    pub(crate) fn check_digit(first_eleven: &[u8; 11]) -> u8 {
        let sum: u32 = first_eleven
            .iter()
            .rev()
            .enumerate()
            .map(|(n, digit)| {
                let position = n as u32 + 1;
                let weight = if position <= 6 {
                    position + 1
                } else {
                    position - 5
                };
                u32::from(*digit) * weight
            })
            .sum();
        let remainder = sum % 11;
        if remainder <= 1 {
            0
        } else {
            (11 - remainder) as u8
        }
    }

    /// Builds a valid number from eleven digits by appending the check digit.
    pub fn from_first_eleven(first_eleven: [u8; 11]) -> MyNumber {
        let check = Self::check_digit(&first_eleven);
        let text: String = first_eleven
            .iter()
            .chain(std::iter::once(&check))
            .map(|d| char::from(b'0' + d))
            .collect();
        MyNumber(text)
    }

    /// The 12 digits.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MyNumber {
    type Err = MyNumberError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(MyNumberError::Shape(text.to_owned()));
        }
        let mut first_eleven = [0u8; 11];
        for (slot, byte) in first_eleven.iter_mut().zip(bytes) {
            *slot = byte - b'0';
        }
        let expected = Self::check_digit(&first_eleven);
        if bytes[11] - b'0' != expected {
            return Err(MyNumberError::CheckDigit {
                number: text.to_owned(),
                expected,
            });
        }
        Ok(MyNumber(text.to_owned()))
    }
}

impl TryFrom<String> for MyNumber {
    type Error = MyNumberError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<MyNumber> for String {
    fn from(number: MyNumber) -> String {
        number.0
    }
}

impl fmt::Display for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which year the birth part of 照合番号B is written in: real cards use the Japanese era year
/// **[RE]**; the card (`collation_b_birth_year`) and the reader (`collation_birth_year`) share
/// this switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BirthYearStyle {
    /// Two digits of the Japanese era year (昭和55年 → `55`, 令和元年 → `01`).
    #[default]
    JapaneseEra,
    /// Last two digits of the Western year.
    Western,
}

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
/// 4-digit security code. The one place it is composed: the card keeps it as a key, the reader
/// derives it from what it OCRs off the card front.
pub fn collation_number_b(
    birth: NaiveDate,
    card_expiry_year: i32,
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
        card_expiry_year,
        security_code
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_matches_the_published_worked_example() {
        // The example in the Cabinet Office explanation of the check-digit formula:
        // 12345678901 → 8.
        assert_eq!(MyNumber::check_digit(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]), 8);
        assert!("123456789018".parse::<MyNumber>().is_ok());
    }

    #[test]
    fn wrong_check_digit_and_wrong_shape_are_rejected() {
        assert_eq!(
            "123456789010".parse::<MyNumber>(),
            Err(MyNumberError::CheckDigit {
                number: "123456789010".into(),
                expected: 8
            })
        );
        assert!(matches!(
            "12345".parse::<MyNumber>(),
            Err(MyNumberError::Shape(_))
        ));
        assert!(matches!(
            "12345678901a".parse::<MyNumber>(),
            Err(MyNumberError::Shape(_))
        ));
    }

    #[test]
    fn age_turns_on_the_birthday() {
        let birth = NaiveDate::from_ymd_opt(1980, 5, 10).unwrap();
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2020, 5, 9).unwrap()),
            39
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2020, 5, 10).unwrap()),
            40
        );
    }

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
        let b = collation_number_b(date(1980, 5, 10), 2034, "1234", BirthYearStyle::JapaneseEra);
        assert_eq!(b, "55051020341234");
        let w = collation_number_b(date(1980, 5, 10), 2034, "1234", BirthYearStyle::Western);
        assert_eq!(w, "80051020341234");
    }
}

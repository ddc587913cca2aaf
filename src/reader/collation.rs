//! What the reader OCRs from the card front, and the 照合番号B it derives from it to open the
//! card face (surface AP EF `0002`) for face authentication.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::card::Card;
use crate::person::collation_number_b;
pub use crate::person::BirthYearStyle;

/// The printed fields a face-authentication reader OCRs from the card front. A scenario
/// gives them as an input (a misread is a wrong value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceOcr {
    /// 生年月日 as printed (the reader converts it to the era year).
    pub(crate) birth_date: NaiveDate,
    /// The year of the card's 有効期限.
    pub(crate) card_expiry_year: i32,
    /// The 4-digit セキュリティコード.
    pub security_code: String,
}

/// Why OCR fields cannot make a 照合番号B.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OcrError {
    #[error("security_code must be 4 ASCII digits, got {0:?}")]
    SecurityCode(String),
    #[error("card_expiry_year must have 4 digits, got {0}")]
    ExpiryYear(i32),
}

impl FaceOcr {
    /// The fields exactly as printed on `card` (a perfect OCR read).
    pub fn of_card(card: &Card) -> FaceOcr {
        let description = card.description();
        FaceOcr {
            birth_date: description.person.birth_date,
            card_expiry_year: description.card.expiry_date(&description.person).year(),
            security_code: description.card.security_code.as_str().to_owned(),
        }
    }

    /// 照合番号B: birth `YYMMDD` (year per `style`) + expiry year `YYYY` + security code.
    pub(crate) fn collation_number_b(&self, style: BirthYearStyle) -> Result<String, OcrError> {
        let code = self.security_code.as_bytes();
        if code.len() != 4 || !code.iter().all(u8::is_ascii_digit) {
            return Err(OcrError::SecurityCode(self.security_code.clone()));
        }
        if !(1000..=9999).contains(&self.card_expiry_year) {
            return Err(OcrError::ExpiryYear(self.card_expiry_year));
        }
        Ok(collation_number_b(
            self.birth_date,
            self.card_expiry_year,
            &self.security_code,
            style,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ocr(birth: (i32, u32, u32), expiry: i32, code: &str) -> FaceOcr {
        FaceOcr {
            birth_date: NaiveDate::from_ymd_opt(birth.0, birth.1, birth.2).unwrap(),
            card_expiry_year: expiry,
            security_code: code.into(),
        }
    }

    #[test]
    fn era_year_of_showa_and_reiwa_births() {
        // 昭和55年 = 1980, 令和元年 = 2019 from 1 May.
        assert_eq!(
            ocr((1980, 5, 10), 2032, "4321")
                .collation_number_b(BirthYearStyle::JapaneseEra)
                .unwrap(),
            "55051020324321"
        );
        assert_eq!(
            ocr((2019, 5, 1), 2029, "0007")
                .collation_number_b(BirthYearStyle::JapaneseEra)
                .unwrap(),
            "01050120290007"
        );
        assert_eq!(
            ocr((2019, 4, 30), 2029, "0007")
                .collation_number_b(BirthYearStyle::JapaneseEra)
                .unwrap(),
            "31043020290007"
        );
        assert_eq!(
            ocr((1980, 5, 10), 2032, "4321")
                .collation_number_b(BirthYearStyle::Western)
                .unwrap(),
            "80051020324321"
        );
    }

    #[test]
    fn malformed_security_code_is_refused() {
        assert_eq!(
            ocr((1980, 5, 10), 2032, "43a1").collation_number_b(BirthYearStyle::JapaneseEra),
            Err(OcrError::SecurityCode("43a1".into()))
        );
    }
}

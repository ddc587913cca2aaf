//! Code values of the qualification interface (public code tables OQSCD0xx), each with the name
//! the YAML uses and the code the XML/JSON answers carry, and the result codes a registry
//! configures.
//!
//! The service works with these types only; their codes become text where the XML and JSON are
//! read and written ([`crate::oqs::xml`], the serde of [`crate::oqs::message`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value of one of the interface's code tables, written as its code (`"1"`) in the XML and
/// JSON answers.
pub(crate) trait CodeValue: Copy + 'static {
    /// The interface's element that carries the value (for error messages).
    const ELEMENT: &'static str;
    /// Every value, in the table's order.
    const ALL: &'static [Self];

    fn code(self) -> &'static str;

    /// The value whose code is exactly `code`.
    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|value| value.code() == code)
    }
}

/// Why a text is not a code of `C`'s table.
pub(crate) fn unknown_code<C: CodeValue>(given: &str) -> String {
    let valid: Vec<&str> = C::ALL.iter().map(|value| value.code()).collect();
    format!(
        "{given:?} is not a {} code (valid: {})",
        C::ELEMENT,
        valid.join(", ")
    )
}

/// Implements [`CodeValue`] (and the inherent `code` / `from_code`) for a code table's enum from
/// its variant → code pairs, and lets a value be compared with its code's text.
macro_rules! code_table {
    ($type:ident, $element:literal, { $($variant:ident => $code:literal),+ $(,)? }) => {
        impl $type {
            /// The code the XML and JSON answers carry.
            pub fn code(self) -> &'static str {
                match self {
                    $($type::$variant => $code,)+
                }
            }

            /// The value whose code is exactly `code`.
            #[allow(dead_code, reason = "generated for every table; only some are parsed from text")]
            pub(crate) fn from_code(code: &str) -> Option<$type> {
                <$type as CodeValue>::from_code(code)
            }
        }

        impl CodeValue for $type {
            const ELEMENT: &'static str = $element;
            const ALL: &'static [$type] = &[$($type::$variant),+];

            fn code(self) -> &'static str {
                $type::code(self)
            }
        }

        impl PartialEq<str> for $type {
            fn eq(&self, code: &str) -> bool {
                self.code() == code
            }
        }

        impl PartialEq<&str> for $type {
            fn eq(&self, code: &&str) -> bool {
                self.code() == *code
            }
        }
    };
}

/// `QualificationValidity` (OQSCD006).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualificationValidity {
    /// `1` 有効
    Valid,
    /// `2` 無効 (with `ReasonOfLoss`)
    Invalid,
    /// `3` 無効（新しい資格あり）
    InvalidNewQualificationExists,
    /// `4` 該当資格なし
    NoQualification,
    /// `5` 複数該当
    Multiple,
}

code_table!(QualificationValidity, "QualificationValidity", {
    Valid => "1",
    Invalid => "2",
    InvalidNewQualificationExists => "3",
    NoQualification => "4",
    Multiple => "5",
});

/// `ReferenceClassification` (OQSCD002): what the request identified the patient by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceClassification {
    /// `1` マイナンバーカード (card checks, registrations and face files)
    MyNumberCard,
    /// `2` 被保険者証情報 (lookup by the insurance card's numbers)
    InsuranceCard,
}

code_table!(ReferenceClassification, "ReferenceClassification", {
    MyNumberCard => "1",
    InsuranceCard => "2",
});

/// `SegmentOfResult` (OQSCD003): whether the request was processed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentOfResult {
    /// `1` 正常終了: processed (refusals on the merits included)
    NormalEnd,
    /// `2` 処理中 (the harness answers synchronously and never sends it)
    InProgress,
    /// `9` 異常終了: the request could not be processed (malformed)
    AbnormalEnd,
}

code_table!(SegmentOfResult, "SegmentOfResult", {
    NormalEnd => "1",
    InProgress => "2",
    AbnormalEnd => "9",
});

/// `ProcessingResultStatus` (OQSCD004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessingResultStatus {
    /// `1` 正常終了
    Success,
    /// `2` エラー
    Error,
}

code_table!(ProcessingResultStatus, "ProcessingResultStatus", {
    Success => "1",
    Error => "2",
});

/// Why a configured result code cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{element} {given:?} must be non-empty, without spaces or control characters")]
pub struct ResultCodeError {
    element: &'static str,
    given: String,
}

/// A configured code must read the same in JSON and XML: the XML omits empty elements and
/// readers trim element text, so it is non-empty and has no whitespace or control characters.
fn check_result_code(element: &'static str, code: String) -> Result<String, ResultCodeError> {
    if code.is_empty() || code.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(ResultCodeError {
            element,
            given: code,
        })
    } else {
        Ok(code)
    }
}

/// Declares a configured result code: the official values (別紙6-1) are not public, so a
/// registry's `options.result_codes` chooses them and they travel as given.
macro_rules! result_code {
    ($(#[$doc:meta])* $type:ident, $element:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $type(String);

        impl TryFrom<String> for $type {
            type Error = ResultCodeError;

            fn try_from(code: String) -> Result<$type, ResultCodeError> {
                check_result_code($element, code).map($type)
            }
        }

        impl From<$type> for String {
            fn from(code: $type) -> String {
                code.0
            }
        }

        /// Read as the text it is (`as_deref()` on an optional code gives the text).
        impl std::ops::Deref for $type {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

result_code!(
    /// `ProcessingResultCode` (body) as configured for an outcome.
    ProcessingResultCode,
    "ProcessingResultCode"
);

result_code!(
    /// `ErrorCode` (header) as configured for an outcome.
    ErrorCode,
    "ErrorCode"
);

/// `PersonalFamilyClassification` (OQSCD009).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Relationship {
    /// `1` 本人
    #[default]
    Insured,
    /// `2` 家族
    Family,
}

impl Relationship {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Insured => "1",
            Self::Family => "2",
        }
    }
}

/// `InsuredCardClassification` (OQSCD010).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InsuredCardClassification {
    /// `01` 一般
    #[default]
    General,
    /// `02` 退職
    Retired,
    /// `03` 短期一般
    ShortTermGeneral,
    /// `04` 短期退職
    ShortTermRetired,
    /// `05` 資格証明書
    QualificationCertificate,
    /// `06` 特例退職
    SpecialRetired,
    /// `07` 自衛官診療証
    SelfDefenseForces,
}

impl InsuredCardClassification {
    /// The code the XML and JSON answers carry.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::General => "01",
            Self::Retired => "02",
            Self::ShortTermGeneral => "03",
            Self::ShortTermRetired => "04",
            Self::QualificationCertificate => "05",
            Self::SpecialRetired => "06",
            Self::SelfDefenseForces => "07",
        }
    }
}

/// `ReasonOfLoss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReasonOfLoss {
    /// `01` 死亡
    Death,
    /// `02` 生活保護開始
    PublicAssistance,
    /// `03` 医療保険等の資格取得 (a job change: another insurance started)
    OtherInsurance,
    /// `99` その他
    Other,
}

impl ReasonOfLoss {
    /// The code the XML and JSON answers carry.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Death => "01",
            Self::PublicAssistance => "02",
            Self::OtherInsurance => "03",
            Self::Other => "99",
        }
    }
}

/// `LimitApplicationCertificateClassification` (OQSCD011).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LimitCertificateClassification {
    /// `01` 限度額適用認定証
    LimitApplication,
    /// `02` 限度額適用・標準負担額減額認定証
    LimitApplicationAndReduction,
    /// `03` 標準負担額減額認定証
    Reduction,
}

impl LimitCertificateClassification {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::LimitApplication => "01",
            Self::LimitApplicationAndReduction => "02",
            Self::Reduction => "03",
        }
    }
}

/// `LimitApplicationCertificateClassificationFlag` (OQSCD012): written in YAML as the code itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum LimitCertificateFlag {
    /// ア
    A01,
    /// イ
    A02,
    /// ウ
    A03,
    /// エ
    A04,
    /// オ
    A05,
    /// オ（境）
    A06,
    /// 現役並みⅢ
    B01,
    /// 現役並みⅡ
    B02,
    /// 現役並みⅠ
    B03,
    /// 一般
    B04,
    /// 低所得Ⅱ
    B05,
    /// 低所得Ⅰ
    B06,
    /// 低所得Ⅰ（老福）
    B07,
    /// 低所得Ⅰ（境）
    B08,
    /// 一般Ⅱ
    B09,
    /// 一般Ⅰ
    B10,
}

impl LimitCertificateFlag {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::A01 => "A01",
            Self::A02 => "A02",
            Self::A03 => "A03",
            Self::A04 => "A04",
            Self::A05 => "A05",
            Self::A06 => "A06",
            Self::B01 => "B01",
            Self::B02 => "B02",
            Self::B03 => "B03",
            Self::B04 => "B04",
            Self::B05 => "B05",
            Self::B06 => "B06",
            Self::B07 => "B07",
            Self::B08 => "B08",
            Self::B09 => "B09",
            Self::B10 => "B10",
        }
    }
}

/// `SpecificDiseasesDiseaseCategory` (OQSCD013).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SpecificDiseaseCategory {
    /// `1` 人工透析を実施している慢性腎不全
    ChronicRenalFailureDialysis,
    /// `2` 血友病
    Hemophilia,
    /// `3` 血液製剤由来HIV
    BloodProductHiv,
}

impl SpecificDiseaseCategory {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::ChronicRenalFailureDialysis => "1",
            Self::Hemophilia => "2",
            Self::BloodProductHiv => "3",
        }
    }
}

/// Income bracket that decides the burden ratio from 70 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncomeBracket {
    /// 一般 (and 低所得): 2割 at 70-74, 1割 from 75.
    #[default]
    General,
    /// 一般Ⅱ of 後期高齢者医療: 2割 from 75 since 2022-10-01 (1割 before).
    GeneralIi,
    /// 現役並み所得: 3割 from 70.
    WorkingAge,
}

/// `CharacterCodeIdentifier` (OQSCD005).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CharacterCode {
    /// `0` UTF-8
    #[default]
    Utf8,
    /// `1` Shift_JIS (written as CP932)
    ShiftJis,
}

code_table!(CharacterCode, "CharacterCodeIdentifier", {
    Utf8 => "0",
    ShiftJis => "1",
});

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_table<C: CodeValue + PartialEq + fmt::Debug>(expected: &[&str]) {
        let codes: Vec<&str> = C::ALL.iter().map(|value| value.code()).collect();
        assert_eq!(codes, expected, "{}", C::ELEMENT);
        for value in C::ALL {
            assert_eq!(C::from_code(value.code()), Some(*value));
        }
    }

    #[test]
    fn code_tables_carry_the_interface_codes_and_read_them_back() {
        assert_table::<QualificationValidity>(&["1", "2", "3", "4", "5"]);
        assert_table::<ReferenceClassification>(&["1", "2"]);
        assert_table::<SegmentOfResult>(&["1", "2", "9"]);
        assert_table::<ProcessingResultStatus>(&["1", "2"]);
        assert_table::<CharacterCode>(&["0", "1"]);
    }

    #[test]
    fn a_code_is_read_only_when_exact() {
        assert_eq!(SegmentOfResult::from_code("3"), None);
        assert_eq!(QualificationValidity::from_code(" 1"), None);
        assert_eq!(QualificationValidity::from_code("valid"), None);
        assert_eq!(CharacterCode::from_code(""), None);
        assert_eq!(
            unknown_code::<SegmentOfResult>("3"),
            "\"3\" is not a SegmentOfResult code (valid: 1, 2, 9)"
        );
    }

    #[test]
    fn a_code_compares_with_its_text_only() {
        assert_eq!(SegmentOfResult::AbnormalEnd, "9");
        assert_ne!(SegmentOfResult::NormalEnd, "9");
        assert!(ProcessingResultStatus::Error == *"2");
    }

    #[test]
    fn configured_result_codes_are_sendable_text() {
        for good in ["EQ01", "E-SYNTH", "TEST"] {
            let code = ProcessingResultCode::try_from(good.to_owned()).unwrap();
            assert_eq!(&*code, good);
            assert_eq!(String::from(code), good);
        }
        for bad in ["", " E01", "E01 ", "E 01", "E\t01", "E\u{7}"] {
            let error = ErrorCode::try_from(bad.to_owned()).unwrap_err();
            assert!(error.to_string().starts_with("ErrorCode "), "{error}");
        }
    }

    #[test]
    fn configured_result_codes_are_checked_when_the_registry_is_read() {
        use crate::oqs::description::RegistryDescription;
        use crate::oqs::Outcome;

        let yaml = |code: &str| {
            format!("options:\n  result_codes:\n    certificate_revoked:\n      error_code: \"{code}\"\n")
        };
        let read = RegistryDescription::from_yaml("inline", &yaml("E006")).unwrap();
        let configured = &read.options.result_codes[&Outcome::CertificateRevoked];
        assert_eq!(configured.error_code.as_deref(), Some("E006"));
        let error = RegistryDescription::from_yaml("inline", &yaml("E 006")).unwrap_err();
        assert!(error.to_string().contains("ErrorCode \"E 006\""), "{error}");
    }
}

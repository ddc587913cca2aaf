//! Code values of the qualification interface (public code tables OQSCD0xx), each with the name
//! the YAML uses and the code the XML/JSON answers carry.

use serde::{Deserialize, Serialize};

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

impl QualificationValidity {
    pub fn code(self) -> &'static str {
        match self {
            Self::Valid => "1",
            Self::Invalid => "2",
            Self::InvalidNewQualificationExists => "3",
            Self::NoQualification => "4",
            Self::Multiple => "5",
        }
    }
}

/// `PersonalFamilyClassification` (OQSCD009).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// `1` 本人
    #[default]
    Insured,
    /// `2` 家族
    Family,
}

impl Relationship {
    pub fn code(self) -> &'static str {
        match self {
            Self::Insured => "1",
            Self::Family => "2",
        }
    }
}

/// `InsuredCardClassification` (OQSCD010).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuredCardClassification {
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
    pub fn code(self) -> &'static str {
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
pub enum ReasonOfLoss {
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
    pub fn code(self) -> &'static str {
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
pub enum LimitCertificateClassification {
    /// `01` 限度額適用認定証
    LimitApplication,
    /// `02` 限度額適用・標準負担額減額認定証
    LimitApplicationAndReduction,
    /// `03` 標準負担額減額認定証
    Reduction,
}

impl LimitCertificateClassification {
    pub fn code(self) -> &'static str {
        match self {
            Self::LimitApplication => "01",
            Self::LimitApplicationAndReduction => "02",
            Self::Reduction => "03",
        }
    }
}

/// `LimitApplicationCertificateClassificationFlag` (OQSCD012): written in YAML as the code itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LimitCertificateFlag {
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
    pub fn code(self) -> &'static str {
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
pub enum SpecificDiseaseCategory {
    /// `1` 人工透析を実施している慢性腎不全
    ChronicRenalFailureDialysis,
    /// `2` 血友病
    Hemophilia,
    /// `3` 血液製剤由来HIV
    BloodProductHiv,
}

impl SpecificDiseaseCategory {
    pub fn code(self) -> &'static str {
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

impl CharacterCode {
    pub fn code(self) -> &'static str {
        match self {
            Self::Utf8 => "0",
            Self::ShiftJis => "1",
        }
    }

    pub fn from_code(code: &str) -> Option<CharacterCode> {
        match code.trim() {
            "0" => Some(Self::Utf8),
            "1" => Some(Self::ShiftJis),
            _ => None,
        }
    }
}

//! The registry as written in YAML: a stand-alone registry file, or the same mapping nested in a
//! scenario file. Every type rejects unknown fields so that a typo is an error, not a silent
//! default.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::oqs::codes::{
    ErrorCode, IncomeBracket, InsuredCardClassification, LimitCertificateClassification,
    LimitCertificateFlag, ProcessingResultCode, ReasonOfLoss, Relationship,
    SpecificDiseaseCategory,
};
use crate::oqs::insurer::canonical_insurer_number;
use crate::oqs::outcome::Outcome;
use crate::person::{Person, PhoneKind};

/// A whole registry: options, insurers and persons with their qualifications and cards.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryDescription {
    /// Rules that vary between insurers or scenarios.
    #[serde(default)]
    pub options: RegistryOptions,
    #[serde(default)]
    pub(crate) insurers: Vec<InsurerDescription>,
    /// The persons, their qualifications and their cards.
    #[serde(default)]
    pub persons: Vec<PersonDescription>,
}

/// Rules that vary between insurers or scenarios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryOptions {
    /// How long an expired authentication certificate still works as マイナ保険証.
    #[serde(default)]
    pub grace: GraceRule,
    /// Days (inclusive ranges) on which J-LIS cannot be reached: first registration and the first
    /// use after a certificate renewal fail on these days.
    #[serde(default)]
    pub(crate) jlis_outages: Vec<DateRange>,
    /// From this date on, records that do not match J-LIS (mis-links) are blocked from viewing
    /// (the 2024-05 countermeasure); before it the linked record is returned as-is.
    #[serde(default = "default_mislink_block_from")]
    pub(crate) mislink_block_from: NaiveDate,
    /// `ProcessingResultCode` / `ErrorCode` / messages per outcome. The official values are not
    /// public, so nothing is sent unless a scenario configures it.
    #[serde(default)]
    pub result_codes: BTreeMap<Outcome, ResultCodes>,
    /// Whether a card's revocation revokes its phone credentials with it ([open]).
    #[serde(default)]
    pub smartphone_revocation: SmartphoneRevocation,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            grace: GraceRule::default(),
            jlis_outages: Vec::new(),
            mislink_block_from: default_mislink_block_from(),
            result_codes: BTreeMap::new(),
            smartphone_revocation: SmartphoneRevocation::default(),
        }
    }
}

fn default_mislink_block_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 5, 1).unwrap_or_default()
}

/// The grace rule after an authentication certificate's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraceRule {
    /// Usable until the end of the third month after the expiry month (February → 31 May).
    #[default]
    EndOfThirdMonthAfterExpiryMonth,
    /// Usable for three months counted from the expiry date (one insurer's reading).
    ThreeMonthsFromExpiryDate,
}

/// An inclusive range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DateRange {
    pub(crate) from: NaiveDate,
    pub(crate) until: NaiveDate,
}

impl DateRange {
    pub(crate) fn contains(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.until
    }
}

/// What the answer carries for one outcome (all optional: omitted when not configured).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultCodes {
    /// `ProcessingResultCode` of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) processing_result_code: Option<ProcessingResultCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) processing_result_message: Option<String>,
    /// `ErrorCode` of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error_code: Option<ErrorCode>,
    /// `ErrorMessage` of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error_message: Option<String>,
}

/// A 保険者.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InsurerDescription {
    pub(crate) number: InsurerNumber,
    pub(crate) name: String,
    /// Days between a member's acquisition date and the insurer registering it in the system
    /// (after a job change the lookup finds nothing until then).
    #[serde(default)]
    pub(crate) registration_lag_days: u32,
    /// Days between a member's 資格喪失日 and the insurer registering the loss: until then the
    /// system still answers the old qualification as 有効 (with a new one registered: 複数該当).
    #[serde(default)]
    pub(crate) loss_registration_lag_days: u32,
}

/// One person of the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonDescription {
    /// Name other entries (and scenarios) use to refer to this person.
    pub id: Spanned<String>,
    /// Name, birth date, sex, address and 個人番号.
    pub person: Person,
    /// 郵便番号, answered as PostNumber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) post_number: Option<String>,
    /// Special states of the record (information blocked, address not disclosed, mislinked).
    #[serde(default)]
    pub flags: PersonFlags,
    /// The insurances the person holds or held.
    #[serde(default)]
    pub qualifications: Vec<QualificationDescription>,
    /// The cards whose certificates name the person.
    #[serde(default)]
    pub cards: Vec<CardLinkDescription>,
}

/// Protective and error flags on a person's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonFlags {
    /// 自己情報提供不可フラグ (DV protection): blocks マイナ保険証 use altogether.
    #[serde(default)]
    pub(crate) self_information_blocked: bool,
    /// 不開示該当フラグ: the address is not disclosed.
    #[serde(default)]
    pub(crate) address_not_disclosed: bool,
    /// The record does not match J-LIS: blocked from viewing from `mislink_block_from` on.
    #[serde(default)]
    pub jlis_mismatch: bool,
}

/// One insurance qualification (資格) of a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualificationDescription {
    /// 保険者番号 of an insurer listed under `insurers`.
    pub(crate) insurer: Spanned<InsurerNumber>,
    #[serde(default)]
    pub(crate) relationship: Relationship,
    #[serde(default)]
    pub(crate) card_classification: InsuredCardClassification,
    /// 記号 (may be empty for insurers that use none).
    #[serde(default)]
    pub(crate) symbol: String,
    /// 番号
    pub(crate) number: String,
    #[serde(default)]
    pub(crate) branch: BranchNumber,
    /// 資格取得日 (QualificationDate).
    pub(crate) acquired: NaiveDate,
    /// 資格喪失日 (DisqualificationDate): the first day without the qualification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lost: Option<NaiveDate>,
    /// Why the qualification was lost (required with `lost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason_of_loss: Option<ReasonOfLoss>,
    /// The day the insurer registered it; default: `acquired` + the insurer's lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) registered_on: Option<NaiveDate>,
    /// The day the insurer registered the loss (on or after `lost`); default: `lost` + the
    /// insurer's `loss_registration_lag_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) loss_registered_on: Option<NaiveDate>,
    /// 所得区分, which sets the burden ratio of the elderly.
    #[serde(default)]
    pub(crate) income: IncomeBracket,
    /// Explicit 負担割合 in percent (10, 20, 30), overriding the age rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burden_percent: Option<u8>,
    /// 被保険者証有効開始年月日
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) card_valid_from: Option<NaiveDate>,
    /// 被保険者証有効終了年月日
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) card_valid_until: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) elderly_recipient: Option<ElderlyRecipientDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limit_certificate: Option<LimitCertificateDescription>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) specific_diseases: Vec<SpecificDiseaseDescription>,
}

/// 高齢受給者証.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ElderlyRecipientDescription {
    pub(crate) issued: NaiveDate,
    pub(crate) valid_from: NaiveDate,
    pub(crate) valid_until: NaiveDate,
    pub(crate) burden_percent: u8,
}

/// 限度額適用認定証 and its relatives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitCertificateDescription {
    pub(crate) classification: LimitCertificateClassification,
    pub(crate) flag: LimitCertificateFlag,
    pub(crate) issued: NaiveDate,
    pub(crate) valid_from: NaiveDate,
    pub(crate) valid_until: NaiveDate,
}

/// 特定疾病療養受療証.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpecificDiseaseDescription {
    pub(crate) category: SpecificDiseaseCategory,
    pub(crate) issued: NaiveDate,
    pub(crate) valid_from: NaiveDate,
    pub(crate) valid_until: NaiveDate,
    /// 自己負担限度額 in yen.
    pub(crate) self_pay: u32,
}

/// One card of the person, named by the issue date of its authentication certificate (the
/// certificate serial is derived from the holder's 個人番号 and that date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardLinkDescription {
    /// notBefore of the card's 利用者証明用電子証明書.
    pub(crate) issued: NaiveDate,
    /// The card's 保険証利用登録 state.
    #[serde(default)]
    pub link: LinkState,
    /// When 保険証利用登録 was done; before that day the card counts as not registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revoked: Option<Revocation>,
    /// A wrong link: the card belongs to this other person (id) but is linked to this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) holder: Option<Spanned<String>>,
    /// Phone credentials (スマホ用電子証明書) issued on the basis of this card: each resolves to
    /// the same person and record, and lives and dies with the card (docs/spec/smartphone.md §4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) smartphones: Vec<SmartphoneLinkDescription>,
}

/// One phone credential of a card, named by its kind and the notBefore of its certificate (the
/// serial is derived from the holder's 個人番号, the kind and that date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmartphoneLinkDescription {
    /// `android` or `iphone`.
    pub(crate) kind: PhoneKind,
    /// notBefore of the phone's 利用者証明用 certificate (the day it was added to the phone).
    pub(crate) issued: NaiveDate,
    /// The phone credential's own 失効 (phone lost, credential removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revoked: Option<Revocation>,
}

/// When a phone credential stops working because of its card's certificate being revoked: not
/// public (docs/spec/smartphone.md §4.15), so an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmartphoneRevocation {
    /// Revoked the same day as the card's 利用者証明用 certificate ([model] default).
    #[default]
    WithCard,
    /// Only its own revocation counts; the card's does not reach the phone.
    Independent,
}

/// The 保険証利用登録 state of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The certificate is linked to the insurance record (保険証利用登録 done).
    #[default]
    Registered,
    /// The holder never registered the card for insurance use.
    NotRegistered,
    /// The holder cancelled the registration.
    CancelledOnRequest,
    /// The registration lapsed when the certificate's grace period ended.
    CancelledAfterGrace,
    /// A renewed certificate whose first use must re-link it through J-LIS.
    RelinkNeeded,
}

/// 失効 of the authentication certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Revocation {
    pub(crate) reason: RevocationReason,
    /// First day the certificate counts as revoked.
    pub(crate) on: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RevocationReason {
    /// 紛失
    Lost,
    /// 一時利用停止 (phone line, 24/365)
    Suspended,
    /// 死亡
    Death,
    Other,
}

/// 保険者番号: 8 ASCII digits, or 6 (市町村国保, 国保組合), kept in the canonical form of
/// [`crate::oqs::insurer`] (a 6-digit number padded with spaces or zeros is the 6-digit one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "InsurerNumberText", into = "String")]
pub(crate) struct InsurerNumber(String);

impl InsurerNumber {
    /// The 8-character number as answers carry it.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// YAML reads an unquoted `123456` as a number: taken as the digits it shows; a number YAML
/// reads otherwise (`06139999`) is refused asking for quotes.
struct InsurerNumberText(String);

impl<'de> Deserialize<'de> for InsurerNumberText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = InsurerNumberText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an insurer number (保険者番号) such as \"06139999\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(InsurerNumberText(text.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
                Ok(InsurerNumberText(number.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
                Ok(InsurerNumberText(number.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "YAML read the insurer number (保険者番号) as the number {number}; write it in quotes (\"06139999\")"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl TryFrom<InsurerNumberText> for InsurerNumber {
    type Error = String;
    fn try_from(text: InsurerNumberText) -> Result<Self, Self::Error> {
        canonical_insurer_number(&text.0).map(InsurerNumber).map_err(|error| {
            if text.0.len() == 7 {
                format!("{error}; a number with a leading zero must be written in quotes (\"06139999\")")
            } else {
                error
            }
        })
    }
}

impl TryFrom<String> for InsurerNumber {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        canonical_insurer_number(&text).map(InsurerNumber)
    }
}

impl From<InsurerNumber> for String {
    fn from(number: InsurerNumber) -> String {
        number.0
    }
}

/// 枝番: 2 ASCII digits (default `00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct BranchNumber(pub u8);

impl TryFrom<String> for BranchNumber {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        match (text.len(), text.parse::<u8>()) {
            (2, Ok(value)) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(BranchNumber(value)),
            _ => Err(format!("an 枝番 has 2 ASCII digits, got {text:?}")),
        }
    }
}

impl From<BranchNumber> for String {
    fn from(branch: BranchNumber) -> String {
        format!("{:02}", branch.0)
    }
}

/// Why a registry file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// The registry file cannot be read.
    #[error("{file}: {source}")]
    Read {
        /// The registry file, as the caller named it.
        file: String,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The registry file is not valid YAML for a registry.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        /// The registry file, as the caller named it.
        file: String,
        /// 1-based line of the problem.
        line: u64,
        /// 1-based column of the problem.
        column: u64,
        /// What the YAML parser or the schema objected to.
        message: String,
    },
}

impl RegistryDescription {
    /// Parses a registry from YAML text; `file` names the source in error messages.
    pub fn from_yaml(file: &str, text: &str) -> Result<RegistryDescription, DescriptionError> {
        serde_saphyr::from_str(text).map_err(|error| yaml_error(file, &error))
    }

    /// Reads a registry description from a YAML file; errors name file, line and field.
    pub fn from_file(path: &Path) -> Result<RegistryDescription, DescriptionError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DescriptionError::Read {
            file: file.clone(),
            source,
        })?;
        Self::from_yaml(&file, &text)
    }
}

fn yaml_error(file: &str, error: &serde_saphyr::Error) -> DescriptionError {
    let (line, column) = error
        .location()
        .map(|at| (at.line(), at.column()))
        .unwrap_or((0, 0));
    DescriptionError::Yaml {
        file: file.to_owned(),
        line,
        column,
        message: crate::yaml::plain_message(error),
    }
}

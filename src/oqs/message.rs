//! What terminals send and what the service answers. Answers carry the interface's element
//! names (PascalCase, as in the XML) so that JSON and XML say the same thing.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use crate::oqs::codes::{
    CharacterCode, ErrorCode, ProcessingResultCode, ProcessingResultStatus, QualificationValidity,
    ReferenceClassification, SegmentOfResult,
};
use crate::oqs::outcome::Outcome;
use crate::person::PhoneKind;

/// Code values travel as their code (`"1"`) in JSON, as in the XML.
mod code_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::oqs::codes::{unknown_code, CodeValue};

    pub(crate) fn serialize<C: CodeValue, S: Serializer>(
        value: &C,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.code())
    }

    pub(crate) fn deserialize<'de, C: CodeValue, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<C, D::Error> {
        let text = String::deserialize(deserializer)?;
        C::from_code(&text).ok_or_else(|| serde::de::Error::custom(unknown_code::<C>(&text)))
    }
}

/// Optional code values: absent (or `null`) in JSON is `None`, otherwise the code.
mod code_text_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::oqs::codes::{unknown_code, CodeValue};

    pub(crate) fn serialize<C: CodeValue, S: Serializer>(
        value: &Option<C>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::code_text::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, C: CodeValue, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<C>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => C::from_code(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(unknown_code::<C>(&text))),
        }
    }
}

/// Binary fields travel as hexadecimal strings in JSON.
mod hex_bytes {
    use serde::de::{Deserialize, Deserializer, Error, Visitor};
    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        HexBytes::deserialize(deserializer).map(|HexBytes(bytes)| bytes)
    }

    /// Hexadecimal text read straight into bytes: a certificate's 1,800 hex digits are read on
    /// every check, and copying them into a `String` first and decoding them a digit at a time
    /// (the `hex` crate) cost a tenth of a check's server time.
    pub(super) struct HexBytes(pub(super) Vec<u8>);

    impl<'de> Deserialize<'de> for HexBytes {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_str(HexText)
        }
    }

    struct HexText;

    impl Visitor<'_> for HexText {
        type Value = HexBytes;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // What `String`'s visitor says, so a wrong type is refused in the same words.
            formatter.write_str("a string")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<HexBytes, E> {
            decode(text.trim())
                .map(HexBytes)
                .map_err(|error| E::custom(format!("not hexadecimal: {error}")))
        }
    }

    /// The value of each hexadecimal digit (either case); `INVALID` for every other byte.
    const DIGITS: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut digit = 0;
        while digit < 16 {
            let (lower, upper) = (b"0123456789abcdef"[digit], b"0123456789ABCDEF"[digit]);
            table[lower as usize] = digit as u8;
            table[upper as usize] = digit as u8;
            digit += 1;
        }
        table
    };
    const INVALID: u8 = 0xFF;

    /// `hex::decode`, by table: the same bytes for valid text, and for invalid text the
    /// `hex` crate's own refusal (which digit, or an odd count), worked out by it.
    pub(super) fn decode(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
        let digits = text.as_bytes();
        if digits.len() % 2 == 0 {
            let mut bytes = Vec::with_capacity(digits.len() / 2);
            let mut seen_invalid = 0u8;
            for pair in digits.chunks_exact(2) {
                let (high, low) = (DIGITS[usize::from(pair[0])], DIGITS[usize::from(pair[1])]);
                seen_invalid |= high | low;
                bytes.push((high << 4) | (low & 0x0F));
            }
            if seen_invalid & 0xF0 == 0 {
                return Ok(bytes);
            }
        }
        hex::decode(text)
    }
}

/// Optional binary fields: absent (or `null`) in JSON is `None`, otherwise hexadecimal.
mod hex_bytes_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::hex_bytes::HexBytes;

    pub(crate) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::hex_bytes::serialize(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<HexBytes>::deserialize(deserializer).map(|read| read.map(|HexBytes(bytes)| bytes))
    }
}

/// How the reader identified the holder of the card.
///
/// The real interface's way of telling the central system is not public. The harness's
/// choice: with `pin` the terminal proves possession (challenge signed by the card's auth key
/// after the PIN VERIFY); with `face` (顔認証) or `visual` (staff 目視) the card cannot sign —
/// its auth key needs the PIN, and a 顔認証マイナンバーカード has none — so the reader attests
/// the identification and the request carries the certificate without a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMethod {
    /// 顔認証: camera against the card photo (surface AP opened with 照合番号B).
    Face,
    /// The 4-digit 利用者証明用 PIN (VERIFY on JPKI EF `0018`); the default, so requests
    /// written before the method existed keep their meaning.
    #[default]
    Pin,
    /// 目視: staff compare the holder with the card face.
    Visual,
}

impl IdentityMethod {
    pub(crate) const ALL: [IdentityMethod; 3] = [Self::Face, Self::Pin, Self::Visual];

    /// The name used in JSON and in the XML request's `<IdentityMethod>` element.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Face => "face",
            Self::Pin => "pin",
            Self::Visual => "visual",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<IdentityMethod> {
        Self::ALL.into_iter().find(|method| method.name() == name)
    }

    /// Whether the request must carry proof of possession (challenge and signature).
    pub(crate) fn requires_signature(self) -> bool {
        self == Self::Pin
    }
}

/// A qualification check by マイナンバーカード (ReferenceClassification 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// How the reader identified the holder (`pin` when absent).
    #[serde(default)]
    pub identity: IdentityMethod,
    /// The challenge issued by the service (hex in JSON). Required with `pin`; with `face` /
    /// `visual` it comes only together with a signature.
    /// The random bytes the card signs to prove possession.
    #[serde(
        default,
        with = "hex_bytes_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub challenge: Option<Vec<u8>>,
    /// DER of the card's 利用者証明用電子証明書 (hex in JSON).
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// PKCS#1 v1.5 signature over SHA-256(challenge) made with the card's auth key (hex).
    /// Required with `pin`; optional with `face` / `visual`, and verified when present.
    #[serde(
        default,
        with = "hex_bytes_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature: Option<Vec<u8>>,
    /// 医療機関コード: 10 digits (prefecture 2 + 点数表 1 + code 7).
    pub facility_code: String,
    /// The scenario clock's date of the check (QualificationConfirmationDate).
    pub date: NaiveDate,
    /// The scenario clock's time, for ProcessExecutionTime (default 00:00:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<NaiveTime>,
    /// The patient's consent choices made at the reader.
    #[serde(default)]
    pub consent: ConsentChoices,
    /// `ArbitraryFileIdentifier`: the terminal's own file name, answered exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrary_file_identifier: Option<String>,
    /// The encoding the answer is written in (the terminal's setting).
    #[serde(default)]
    pub character_code: CharacterCode,
    /// The credential is a phone's スマホ用電子証明書 (`android` / `iphone`), read from the
    /// clinic's generic reader; absent for a card. The harness's own field: whether the real
    /// interface tells a phone apart is not public (docs/spec/smartphone.md §5.19), and the XML
    /// request has no such element. The service decides by the certificate itself (the
    /// registry resolves a phone's serial), so a request that names the wrong kind, or names a
    /// phone for a card's certificate, is refused as `smartphone_not_registered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smartphone: Option<PhoneKind>,
}

/// A lookup by 被保険者証 data (ReferenceClassification 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsuranceCardRequest {
    /// 8 digits, or 6 (市町村国保) unpadded or padded to 8 with spaces or zeros.
    pub insurer_number: String,
    /// 被保険者証の記号 (may be empty).
    #[serde(default)]
    pub symbol: String,
    /// 被保険者証の番号.
    pub number: String,
    /// 2 digits; `00` when the card has none. Empty: any 枝番 (a request may send an empty
    /// `InsuredBranchNumber`).
    #[serde(default = "default_branch")]
    pub branch: String,
    /// 生年月日 of the insured person.
    pub birth_date: NaiveDate,
    /// 医療機関コード: the 10-digit code of the asking clinic or pharmacy.
    pub facility_code: String,
    /// The day of the check (QualificationConfirmationDate).
    pub date: NaiveDate,
    /// The scenario clock's time of the check, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<NaiveTime>,
    /// `ArbitraryFileIdentifier`: the terminal's own file name, answered exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrary_file_identifier: Option<String>,
    /// The encoding the answer is written in (the terminal's setting).
    #[serde(default)]
    pub character_code: CharacterCode,
    /// `LimitApplicationCertificateRelatedConsFlg` of the query (clients send 1): 限度額
    /// information is answered before 2024-10-07 only with it.
    #[serde(default = "default_true")]
    pub limit_consent: bool,
    /// The query as a request file wrote it, echoed in the answer
    /// (`MessageBody/QualificationConfirmSearchInfo`); built from the fields when absent (JSON).
    #[serde(skip)]
    pub echo: Option<QualificationConfirmSearchInfo>,
}

fn default_true() -> bool {
    true
}

/// `QualificationConfirmSearchInfo`: a 被保険者証 query, in a request and echoed in its answer,
/// each value as the request wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct QualificationConfirmSearchInfo {
    /// `InsurerNumber`: 保険者番号 as the request wrote it.
    pub(crate) insurer_number: String,
    /// `InsuredCardSymbol`: 被保険者証の記号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) insured_card_symbol: Option<String>,
    /// `InsuredIdentificationNumber`: 被保険者証の番号.
    pub(crate) insured_identification_number: String,
    /// `InsuredBranchNumber`: 枝番 (2 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) insured_branch_number: Option<String>,
    /// `Birthdate`: 生年月日, YYYYMMDD.
    pub(crate) birthdate: String,
    /// `LimitApplicationCertificateRelatedConsFlg`: consent to 限度額適用認定証 information (0/1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limit_application_certificate_related_cons_flg: Option<String>,
    /// `ArbitraryIdentifier`: the terminal's own identifier of the query, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrary_identifier: Option<String>,
}

impl InsuranceCardRequest {
    /// The echo of this query: as the request wrote it, or from its fields.
    pub(crate) fn search_info(&self) -> QualificationConfirmSearchInfo {
        self.echo
            .clone()
            .unwrap_or_else(|| QualificationConfirmSearchInfo {
                insurer_number: self.insurer_number.clone(),
                insured_card_symbol: (!self.symbol.is_empty()).then(|| self.symbol.clone()),
                insured_identification_number: self.number.clone(),
                insured_branch_number: (!self.branch.is_empty()).then(|| self.branch.clone()),
                birthdate: yyyymmdd(self.birth_date),
                limit_application_certificate_related_cons_flg: Some(
                    if self.limit_consent { "1" } else { "0" }.to_owned(),
                ),
                arbitrary_identifier: None,
            })
    }
}

fn default_branch() -> String {
    "00".to_owned()
}

/// Which consent screens the patient agreed to at the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChoices {
    /// 包括同意 (all at once) or 個別同意 (item by item).
    #[serde(default)]
    pub mode: ConsentMode,
    /// 診療情報
    #[serde(default)]
    pub medical_treatment: bool,
    /// 薬剤情報
    #[serde(default)]
    pub medication: bool,
    /// 特定健診情報
    #[serde(default)]
    pub specific_health_checkup: bool,
    /// 手術情報
    #[serde(default)]
    pub surgery: bool,
    /// 限度額情報 (a screen only until 2024-10-06; statutory from 2024-10-07).
    #[serde(default)]
    pub limit_amount: bool,
}

/// How the patient consented to share information: all at once (包括同意) or item by item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// One screen per kind of information.
    #[default]
    Individual,
    /// 包括同意: one screen for everything (from 2024-10-07).
    Comprehensive,
}

/// A challenge for proof of possession.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Challenge {
    /// The random bytes the card signs to prove possession.
    #[serde(with = "hex_bytes")]
    pub(crate) challenge: Vec<u8>,
}

/// The answer to a check, a lookup or a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResponse {
    /// The harness's documented result (see [`Outcome`]).
    pub outcome: Outcome,
    /// The certificate is past notAfter but inside the grace period.
    pub certificate_in_grace: bool,
    /// The reader should show the renewal notice (three months before expiry).
    pub renewal_notice: bool,
    /// `MessageHeader`.
    #[serde(rename = "MessageHeader")]
    pub header: MessageHeader,
    /// `MessageBody`.
    #[serde(rename = "MessageBody")]
    pub body: MessageBody,
}

/// `MessageHeader` of an answer: when, for whom, what kind and the result segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageHeader {
    /// YYYYMMDDHHMMSS
    pub(crate) process_execution_time: String,
    /// YYYYMMDD
    pub qualification_confirmation_date: String,
    /// `MedicalInstitutionCode`: 医療機関コード (10 digits).
    pub medical_institution_code: String,
    /// `ArbitraryFileIdentifier`: the terminal's own file name, answered exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) arbitrary_file_identifier: Option<String>,
    /// `ReferenceClassification`: what identified the patient (card or 被保険者証).
    #[serde(with = "code_text")]
    pub reference_classification: ReferenceClassification,
    /// `SegmentOfResult`: 処理結果区分, normal or abnormal end.
    #[serde(with = "code_text")]
    pub segment_of_result: SegmentOfResult,
    /// `ErrorCode` of an abnormal end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// `ErrorMessage` of an abnormal end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// `CharacterCodeIdentifier`: the answer's encoding (UTF-8 or Shift_JIS).
    #[serde(with = "code_text")]
    pub character_code_identifier: CharacterCode,
}

/// `MessageBody` of an answer: the processing result and the qualification results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageBody {
    /// `ProcessingResultStatus`: 処理結果状況.
    #[serde(with = "code_text")]
    pub processing_result_status: ProcessingResultStatus,
    /// `ProcessingResultCode` of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_result_code: Option<ProcessingResultCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) processing_result_message: Option<String>,
    /// `QualificationValidity`: 資格有効性 (1 valid … 5).
    #[serde(
        default,
        with = "code_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub qualification_validity: Option<QualificationValidity>,
    /// `ResultList`: the qualifications found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub result_list: Vec<QualificationResult>,
    /// The query, echoed in answers to a 被保険者証 lookup (ReferenceClassification 2) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) qualification_confirm_search_info: Option<QualificationConfirmSearchInfo>,
}

/// `ResultOfQualificationConfirmation`, fields in the order written (docs/spec/oqs-xml.md §4.3). Optional
/// elements are `None` when they have no value (and are then omitted from the XML, as EMR
/// parsers expect).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
// The type's name is the XML element's (crate::oqs::xml_elements); JSON does not show it.
#[serde(
    rename = "ResultOfQualificationConfirmation",
    rename_all = "PascalCase"
)]
pub struct QualificationResult {
    /// `InsuredCardClassification`: 被保険者証区分.
    pub insured_card_classification: String,
    /// 8 characters; a 6-digit number after two spaces (docs/spec/oqs-xml.md §5).
    pub insurer_number: String,
    /// `InsuredCardSymbol`: 被保険者証の記号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_card_symbol: Option<String>,
    /// `InsuredIdentificationNumber`: 被保険者証の番号.
    pub insured_identification_number: String,
    /// `InsuredBranchNumber`: 枝番 (2 digits).
    pub insured_branch_number: String,
    /// `PersonalFamilyClassification`: 本人 or 家族.
    pub personal_family_classification: String,
    /// `Name`: 氏名, a full-width space between family and given names.
    pub name: String,
    /// Half-width katakana, a half-width space between family and given names.
    pub name_kana: String,
    /// `Sex1`: 性別.
    pub sex1: String,
    /// `Birthdate`: 生年月日, YYYYMMDD.
    pub birthdate: String,
    /// `Address`: 住所 (omitted when not disclosed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `PostNumber`: 郵便番号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_number: Option<String>,
    /// `QualificationDate`: 資格取得年月日.
    pub qualification_date: String,
    /// `DisqualificationDate`: 資格喪失年月日.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disqualification_date: Option<String>,
    /// Always present (every real-looking sample has it).
    pub(crate) insured_card_valid_date: String,
    /// Only when the card has an end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) insured_card_expiration_date: Option<String>,
    /// 後期高齢者 only (docs/spec/oqs-xml.md §4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_partial_contribution_ratio: Option<String>,
    /// `PreschoolClassification`: 未就学区分.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preschool_classification: Option<String>,
    /// `ReasonOfLoss`: 資格喪失事由.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_of_loss: Option<String>,
    pub(crate) insurer_name: String,
    /// 70–74 only (高齢受給者証).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elderly_recipient_certificate_info: Option<ElderlyRecipientCertificateInfo>,
    /// `LimitApplicationCertificateRelatedConsFlg`: consent to 限度額適用認定証 information (0/1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_application_certificate_related_cons_flg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limit_application_certificate_related_cons_time: Option<String>,
    /// `LimitApplicationCertificateRelatedInfo`: the 限度額適用認定証 data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_application_certificate_related_info: Option<LimitApplicationCertificateRelatedInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) specific_diseases_certificate_related_cons_flg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) specific_diseases_certificate_related_cons_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) specific_diseases_certificate_list: Vec<SpecificDiseasesCertificateInfo>,
    /// Consent to share 特定健診情報 (0/1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specific_health_checkups_info_cons_flg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) specific_health_checkups_info_cons_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) specific_health_checkups_info_available_time: Option<String>,
    /// Consent to share 薬剤情報 (0/1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pharmacists_info_cons_flg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pharmacists_info_cons_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pharmacists_info_available_time: Option<String>,
    /// Consent to share 診療情報 (0/1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis_info_cons_flg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) diagnosis_info_cons_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) diagnosis_info_available_time: Option<String>,
    /// Consent to share 手術情報 (0/1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_info_cons_flg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operation_info_cons_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operation_info_available_time: Option<String>,
}

impl QualificationResult {
    /// The burden ratio in percent as an EMR reads it: `InsuredPartialContributionRatio`
    /// (後期高齢者), else `ElderlyRecipientContributionRatio` (70–74), else 2割 for 未就学 and
    /// 3割 by law.
    pub fn burden_percent(&self) -> Option<u8> {
        if let Some(ratio) = &self.insured_partial_contribution_ratio {
            return ratio.parse().ok();
        }
        if let Some(elderly) = &self.elderly_recipient_certificate_info {
            return elderly.elderly_recipient_contribution_ratio.parse().ok();
        }
        Some(if self.preschool_classification.as_deref() == Some("1") {
            20
        } else {
            30
        })
    }
}

/// `ElderlyRecipientCertificateInfo`: the 高齢受給者証 of a 70-74-year-old.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ElderlyRecipientCertificateInfo {
    pub(crate) elderly_recipient_certificate_date: String,
    pub(crate) elderly_recipient_valid_start_date: String,
    pub(crate) elderly_recipient_valid_end_date: String,
    /// `ElderlyRecipientContributionRatio`: 一部負担金の割合 (3 digits, percent).
    pub elderly_recipient_contribution_ratio: String,
}

/// `LimitApplicationCertificateRelatedInfo`: the 限度額適用認定証 data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LimitApplicationCertificateRelatedInfo {
    /// `LimitApplicationCertificateClassification`: 限度額適用 or 限度額適用・標準負担額減額.
    pub limit_application_certificate_classification: String,
    /// `LimitApplicationCertificateClassificationFlag`: 適用区分 (e.g. A03).
    pub limit_application_certificate_classification_flag: String,
    pub(crate) limit_application_certificate_date: String,
    pub(crate) limit_application_certificate_valid_start_date: String,
    pub(crate) limit_application_certificate_valid_end_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SpecificDiseasesCertificateInfo {
    pub(crate) specific_diseases_disease_category: String,
    pub(crate) specific_diseases_certificate_date: String,
    pub(crate) specific_diseases_valid_start_date: String,
    pub(crate) specific_diseases_valid_end_date: String,
    pub(crate) specific_diseases_self_pay: String,
}

/// Dates as the interface writes them.
pub(crate) fn yyyymmdd(date: NaiveDate) -> String {
    let mut out = String::with_capacity(8);
    push_yyyymmdd(&mut out, date);
    out
}

/// `YYYYMMDDHHMMSS`, as ProcessExecutionTime and the consent times are written.
pub(crate) fn yyyymmddhhmmss(at: NaiveDateTime) -> String {
    let mut out = String::with_capacity(14);
    push_yyyymmdd(&mut out, at.date());
    push_hhmmss(&mut out, at.time());
    out
}

/// Appends `date` as `%Y%m%d` would. The digits are written directly: chrono's strftime parses
/// its format string on every call, which made dates a quarter of the cost of an answer.
fn push_yyyymmdd(out: &mut String, date: NaiveDate) {
    match u32::try_from(date.year()) {
        Ok(year) if year <= 9999 => {
            push_digits(out, year, 4);
            push_digits(out, date.month(), 2);
            push_digits(out, date.day(), 2);
        }
        // Years chrono writes with a sign (the HTTP API refuses them, the library does not).
        _ => {
            let _ = write!(out, "{}", date.format("%Y%m%d"));
        }
    }
}

/// Appends `time` as `%H%M%S` would.
fn push_hhmmss(out: &mut String, time: NaiveTime) {
    if time.nanosecond() >= 1_000_000_000 {
        // A leap second, which chrono writes as second 60.
        let _ = write!(out, "{}", time.format("%H%M%S"));
        return;
    }
    push_digits(out, time.hour(), 2);
    push_digits(out, time.minute(), 2);
    push_digits(out, time.second(), 2);
}

/// The last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for position in (0..width).rev() {
        let digit = value / 10u32.pow(position) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(segment: SegmentOfResult) -> MessageHeader {
        MessageHeader {
            process_execution_time: "20250401093000".into(),
            qualification_confirmation_date: "20250401".into(),
            medical_institution_code: "1312345678".into(),
            arbitrary_file_identifier: None,
            reference_classification: ReferenceClassification::InsuranceCard,
            segment_of_result: segment,
            error_code: Some(ErrorCode::try_from("E006".to_owned()).unwrap()),
            error_message: None,
            character_code_identifier: CharacterCode::ShiftJis,
        }
    }

    #[test]
    fn hex_is_read_as_the_hex_crate_reads_it_and_refused_in_its_words() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let mut texts = vec![
            hex::encode(&every_byte),
            hex::encode_upper(&every_byte),
            "aB0f".to_owned(),
            String::new(),
            "abc".to_owned(),
            "0g".to_owned(),
            "g0".to_owned(),
            "12 4".to_owned(),
            "é0".to_owned(),
            "0é".to_owned(),
        ];
        // Every byte value in either place of a pair, valid digit beside it.
        texts.extend((0..=255u8).flat_map(|b| {
            let c = char::from(b).to_string();
            [format!("{c}0"), format!("0{c}"), format!("00{c}0")]
        }));
        for text in &texts {
            let ours = hex_bytes::decode(text).map_err(|error| error.to_string());
            let theirs = hex::decode(text).map_err(|error| error.to_string());
            assert_eq!(ours, theirs, "{text:?}");
        }
        assert_eq!(
            hex_bytes::decode(&hex::encode(&every_byte)).unwrap(),
            every_byte
        );

        // Through serde: text around the digits trimmed, null and absent optional, wrong type.
        let read: CheckRequest = serde_json::from_value(serde_json::json!({
            "certificate": " 0aFF ", "challenge": null, "facility_code": "1312345678",
            "date": "2025-04-01", "identity": "face"
        }))
        .unwrap();
        assert_eq!((read.certificate, read.challenge), (vec![0x0A, 0xFF], None));
        let refused = serde_json::from_str::<CheckRequest>(
            r#"{"certificate": 5, "facility_code": "1312345678", "date": "2025-04-01"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            refused.starts_with("invalid type: integer `5`, expected a string"),
            "{refused}"
        );
        let refused = serde_json::from_str::<CheckRequest>(
            r#"{"certificate": "0x", "facility_code": "1312345678", "date": "2025-04-01"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            refused.starts_with("not hexadecimal: Invalid character 'x' at position 1"),
            "{refused}"
        );
    }

    #[test]
    fn dates_and_times_are_written_as_chrono_writes_them() {
        let mut dates: Vec<NaiveDate> = [
            (0, 1, 1),
            (1, 2, 3),
            (999, 12, 31),
            (1926, 12, 25),
            (2024, 2, 29),
            (2025, 4, 1),
            (9999, 12, 31),
            (10_000, 1, 1),
            (-1, 6, 15),
        ]
        .into_iter()
        .filter_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
        .collect();
        dates.extend([NaiveDate::MIN, NaiveDate::MAX]);
        let times = [
            NaiveTime::MIN,
            NaiveTime::from_hms_opt(9, 5, 7).unwrap(),
            NaiveTime::from_hms_opt(23, 59, 59).unwrap(),
            NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500).unwrap(),
        ];
        for date in dates {
            assert_eq!(yyyymmdd(date), date.format("%Y%m%d").to_string());
            for time in times {
                let at = NaiveDateTime::new(date, time);
                assert_eq!(yyyymmddhhmmss(at), at.format("%Y%m%d%H%M%S").to_string());
            }
        }
    }

    #[test]
    fn codes_travel_as_their_text_in_json() {
        let json = serde_json::to_value(header(SegmentOfResult::AbnormalEnd)).unwrap();
        assert_eq!(json["ReferenceClassification"], "2");
        assert_eq!(json["SegmentOfResult"], "9");
        assert_eq!(json["ErrorCode"], "E006");
        assert_eq!(json["CharacterCodeIdentifier"], "1");
        let back: MessageHeader = serde_json::from_value(json).unwrap();
        assert_eq!(back, header(SegmentOfResult::AbnormalEnd));
    }

    #[test]
    fn a_body_without_validity_omits_it_and_reads_back_as_none() {
        let body = MessageBody {
            processing_result_status: ProcessingResultStatus::Error,
            processing_result_code: None,
            processing_result_message: None,
            qualification_validity: None,
            result_list: Vec::new(),
            qualification_confirm_search_info: None,
        };
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(json, r#"{"ProcessingResultStatus":"2"}"#);
        assert_eq!(serde_json::from_str::<MessageBody>(&json).unwrap(), body);
        let valid: MessageBody =
            serde_json::from_str(r#"{"ProcessingResultStatus":"1","QualificationValidity":"3"}"#)
                .unwrap();
        assert_eq!(
            valid.qualification_validity,
            Some(QualificationValidity::InvalidNewQualificationExists)
        );
    }

    #[test]
    fn an_unknown_code_in_json_is_refused_with_the_valid_ones() {
        let error = serde_json::from_str::<MessageBody>(
            r#"{"ProcessingResultStatus":"1","QualificationValidity":"valid"}"#,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"valid\" is not a QualificationValidity code (valid: 1, 2, 3, 4, 5)"),
            "{error}"
        );
        assert!(serde_json::from_str::<MessageBody>(r#"{"ProcessingResultStatus":"0"}"#).is_err());
    }
}

//! Message codes the reader shows, and the guidance it gives when the online check cannot
//! admit the patient.
//!
//! Three codes are the field's own (seen on readers at clinics): `001`, `002`, `006`. The
//! official list of the others is not public; the `Hnnn` codes are **the harness's own**,
//! documented in docs/reader.md, and never claimed to be what a real reader shows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::oqs::codes::ReasonOfLoss;

/// A message shown on the reader's screen. Serialized as its code (`"002"`, `"H101"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageCode {
    /// 【001:マイナンバーカードの認識不可】 — no ATR, transmission errors, a card in a cover.
    CardUnreadable,
    /// 【002:マイナンバーカード以外】 — the JPKI application is missing or is not a card's.
    NotMyNumberCard,
    /// 【006:利用者証明用電子証明書の失効・有効期限切れ】 — revoked, or expired past grace.
    CertificateRevokedOrExpired,
    /// H101 (harness): wrong PIN, tries left shown.
    PinWrong,
    /// H102 (harness): PIN locked; face or 目視 offered, no VERIFY is sent.
    PinLocked,
    /// H103 (harness): the face does not match the card photo.
    FaceNoMatch,
    /// H104 (harness): face authentication locked after too many failures (reader option).
    FaceLocked,
    /// H105 (harness): the card face could not be opened with 照合番号B (OCR mismatch, no
    /// surface AP).
    CardFaceUnreadable,
    /// H106 (harness): the PIN path does not exist on this card (顔認証マイナンバーカード).
    PinUnavailable,
    /// H107 (harness): the entered PIN is not 4 digits (nothing sent to the card).
    PinFormat,
    /// H108 (harness): staff could not confirm the holder by 目視.
    VisualCheckFailed,
    /// H110 (harness): the card was taken away while the reader was reading it.
    CardRemovedDuringRead,
    /// H120 (harness): the certificate expires within three months — renewal notice.
    RenewalNotice,
    /// H121 (harness): the certificate is expired but inside the grace period — qualification
    /// data only, no 診療/薬剤 information.
    GracePeriodQualificationOnly,
    /// H301 (harness): QualificationValidity 2 無効.
    QualificationInvalid,
    /// H302 (harness): QualificationValidity 3 無効（新しい資格あり）.
    QualificationInvalidNewExists,
    /// H303 (harness): QualificationValidity 4 該当資格なし (shown as 「該当条件なし」).
    NoQualification,
    /// H304 (harness): QualificationValidity 5 複数該当.
    MultipleQualifications,
    /// H401 (harness): the card is not registered for insurance use; registration offered.
    NotRegistered,
    /// H402 (harness): the patient declined the registration.
    RegistrationDeclined,
    /// H403 (harness): the registration was cancelled at the holder's request; treated as
    /// unregistered (registration offered).
    RegistrationCancelledOnRequest,
    /// H404 (harness): J-LIS is unreachable (first registration or first use after renewal).
    JlisUnavailable,
    /// H405 (harness): 自己情報提供不可 (DV protection): マイナ保険証 use blocked.
    SelfInformationBlocked,
    /// H406 (harness): the record does not match J-LIS (mis-link): blocked.
    RecordBlocked,
    /// H407 (harness): the service refused the proof of possession or the certificate.
    ProofRefused,
    /// H408 (harness): the certificate is not valid yet.
    CertificateNotYetValid,
    /// H409 (harness): the registration was cancelled after the grace period; 資格確認書.
    RegistrationCancelledAfterGrace,
    /// H410 (harness): the service could not process the request (malformed, unsupported).
    ServiceError,
    /// H501 (harness): the qualification system is unreachable (network outage): 緊急時 path.
    NetworkOutage,
    /// H601 (harness): this clinic has no generic reader, so the smartphone is not offered.
    SmartphoneNotOffered,
    /// H602 (harness): the phone credential's PIN is wrong (tries left shown).
    SmartphonePinWrong,
    /// H603 (harness): the phone credential's PIN is locked.
    SmartphonePinLocked,
    /// H604 (harness): the holder declined the approval on the iPhone.
    SmartphoneApprovalDeclined,
    /// H605 (harness): the approval on the iPhone timed out.
    SmartphoneApprovalTimedOut,
    /// H606 (harness): nothing, or not the chosen phone, answered on the generic reader.
    SmartphoneUnreadable,
    /// H607 (harness): the phone credential is expired (no grace period for phones).
    SmartphoneExpired,
    /// H608 (harness): the phone credential is revoked.
    SmartphoneRevoked,
    /// H609 (harness): the card was renewed; the phone credential must be issued again.
    SmartphoneReissueNeeded,
    /// H610 (harness): the phone credential is not registered for insurance use.
    SmartphoneNotRegistered,
}

const TABLE: &[(MessageCode, &str, &str)] = &[
    (
        MessageCode::CardUnreadable,
        "001",
        "マイナンバーカードの認識不可",
    ),
    (
        MessageCode::NotMyNumberCard,
        "002",
        "マイナンバーカード以外",
    ),
    (
        MessageCode::CertificateRevokedOrExpired,
        "006",
        "利用者証明用電子証明書の失効・有効期限切れ",
    ),
    (MessageCode::PinWrong, "H101", "暗証番号が違います"),
    (
        MessageCode::PinLocked,
        "H102",
        "暗証番号がロックされています。顔認証または目視確認を選んでください",
    ),
    (MessageCode::FaceNoMatch, "H103", "顔認証できませんでした"),
    (
        MessageCode::FaceLocked,
        "H104",
        "顔認証の失敗が規定回数を超えました",
    ),
    (
        MessageCode::CardFaceUnreadable,
        "H105",
        "券面を読み取れません",
    ),
    (
        MessageCode::PinUnavailable,
        "H106",
        "このカードでは暗証番号を使えません",
    ),
    (MessageCode::PinFormat, "H107", "暗証番号は数字4桁です"),
    (
        MessageCode::VisualCheckFailed,
        "H108",
        "目視確認できませんでした",
    ),
    (
        MessageCode::CardRemovedDuringRead,
        "H110",
        "読み取り中にカードが外れました。もう一度置いてください",
    ),
    (
        MessageCode::RenewalNotice,
        "H120",
        "利用者証明用電子証明書の有効期限が近づいています。更新してください",
    ),
    (
        MessageCode::GracePeriodQualificationOnly,
        "H121",
        "電子証明書の有効期限が切れています（猶予期間中：資格情報のみ）",
    ),
    (MessageCode::QualificationInvalid, "H301", "資格が無効です"),
    (
        MessageCode::QualificationInvalidNewExists,
        "H302",
        "資格が無効です（新しい資格あり）",
    ),
    (MessageCode::NoQualification, "H303", "該当条件なし"),
    (
        MessageCode::MultipleQualifications,
        "H304",
        "複数の資格が該当します",
    ),
    (
        MessageCode::NotRegistered,
        "H401",
        "保険証利用登録がされていません",
    ),
    (
        MessageCode::RegistrationDeclined,
        "H402",
        "保険証利用登録を行いませんでした",
    ),
    (
        MessageCode::RegistrationCancelledOnRequest,
        "H403",
        "保険証利用登録は解除されています",
    ),
    (
        MessageCode::JlisUnavailable,
        "H404",
        "J-LISに接続できません",
    ),
    (
        MessageCode::SelfInformationBlocked,
        "H405",
        "資格情報を提供できません",
    ),
    (
        MessageCode::RecordBlocked,
        "H406",
        "資格情報を閲覧できません",
    ),
    (
        MessageCode::ProofRefused,
        "H407",
        "電子証明書を確認できません",
    ),
    (
        MessageCode::CertificateNotYetValid,
        "H408",
        "電子証明書の有効期間開始前です",
    ),
    (
        MessageCode::RegistrationCancelledAfterGrace,
        "H409",
        "保険証利用登録は猶予期間経過により解除されています",
    ),
    (
        MessageCode::ServiceError,
        "H410",
        "資格確認を処理できませんでした",
    ),
    (
        MessageCode::NetworkOutage,
        "H501",
        "資格確認システムに接続できません",
    ),
    (
        MessageCode::SmartphoneNotOffered,
        "H601",
        "この医療機関ではスマートフォンは使えません。マイナンバーカードを置いてください",
    ),
    (
        MessageCode::SmartphonePinWrong,
        "H602",
        "スマホ用電子証明書の暗証番号が違います",
    ),
    (
        MessageCode::SmartphonePinLocked,
        "H603",
        "スマホ用電子証明書の暗証番号がロックされています",
    ),
    (
        MessageCode::SmartphoneApprovalDeclined,
        "H604",
        "スマートフォンで認証されませんでした",
    ),
    (
        MessageCode::SmartphoneApprovalTimedOut,
        "H605",
        "スマートフォンでの認証が時間内に行われませんでした",
    ),
    (
        MessageCode::SmartphoneUnreadable,
        "H606",
        "スマートフォンを読み取れません。もう一度かざしてください",
    ),
    (
        MessageCode::SmartphoneExpired,
        "H607",
        "スマホ用電子証明書の有効期限が切れています",
    ),
    (
        MessageCode::SmartphoneRevoked,
        "H608",
        "スマホ用電子証明書は失効しています",
    ),
    (
        MessageCode::SmartphoneReissueNeeded,
        "H609",
        "カード更新後のスマホ用電子証明書の再発行が必要です",
    ),
    (
        MessageCode::SmartphoneNotRegistered,
        "H610",
        "スマホ用電子証明書は保険証として利用できません",
    ),
];

impl MessageCode {
    #[cfg(test)]
    /// Every code, in table order (for documentation and tests).
    pub(crate) fn all() -> impl Iterator<Item = MessageCode> {
        TABLE.iter().map(|(code, _, _)| *code)
    }

    fn entry(self) -> &'static (MessageCode, &'static str, &'static str) {
        // Every variant has a row; the fallback row is never reached.
        TABLE
            .iter()
            .find(|(code, _, _)| *code == self)
            .unwrap_or(&TABLE[0])
    }

    /// `"001"`, `"H101"`…
    pub fn code(self) -> &'static str {
        self.entry().1
    }

    /// The text shown on the screen.
    pub(crate) fn text(self) -> &'static str {
        self.entry().2
    }

    #[cfg(test)]
    /// Whether the code is one seen on readers in the field (the rest are the harness's own).
    pub(crate) fn is_field_code(self) -> bool {
        !self.code().starts_with('H')
    }
}

impl fmt::Display for MessageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "【{}:{}】", self.code(), self.text())
    }
}

/// A string that is not one of the reader's message codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reader message code {given:?}; valid codes: {valid}")]
pub struct UnknownMessageCode {
    pub(crate) given: String,
    pub(crate) valid: String,
}

impl FromStr for MessageCode {
    type Err = UnknownMessageCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TABLE
            .iter()
            .find(|(_, code, _)| *code == text)
            .map(|(code, _, _)| *code)
            .ok_or_else(|| UnknownMessageCode {
                given: text.to_owned(),
                valid: TABLE
                    .iter()
                    .map(|(_, code, _)| *code)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Serialize for MessageCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for MessageCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What staff are told to do when the online check cannot admit the patient (spec §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackGuidance {
    /// Note name, sex, birth date and address; run 緊急時医療情報・資格確認機能 later.
    EmergencyQualificationCheck,
    /// 資格情報のお知らせ (only together with the card).
    QualificationInformationNotice,
    /// The マイナポータル screen on the patient's phone.
    MynaPortal,
    /// 被保険者資格申立書 (the form).
    QualificationStatement,
    /// 資格確認書 (issued to those without a registered マイナ保険証).
    QualificationCertificate,
    /// Renew the 利用者証明用電子証明書 at the municipal office, then register again.
    RenewCertificate,
    /// Use the マイナンバーカード itself (and bring it on a first visit with the phone,
    /// docs/spec/smartphone.md §1.5).
    BringCard,
    /// Issue the スマホ用電子証明書 again through マイナポータル (after the card's renewal, or
    /// a locked or revoked phone credential).
    ReissueSmartphone,
}

impl FallbackGuidance {
    /// The guidance for 無効 (QualificationValidity 2), by the answer's `ReasonOfLoss`. Right
    /// after a job change (`03` 医療保険等の資格取得: the old qualification is lost and the new
    /// one not yet registered, or the answer would be 3) the new insurer's 資格情報のお知らせ
    /// comes first, as the seeds advise bringing it then, and the 被保険者資格申立書 after it
    /// (docs/spec/qualification.md §5); any other loss gets the form alone.
    pub(crate) fn for_invalid(reason_of_loss: Option<&str>) -> &'static [FallbackGuidance] {
        if reason_of_loss == Some(ReasonOfLoss::OtherInsurance.code()) {
            &[
                Self::QualificationInformationNotice,
                Self::QualificationStatement,
            ]
        } else {
            &[Self::QualificationStatement]
        }
    }

    pub(crate) fn text(self) -> &'static str {
        match self {
            Self::EmergencyQualificationCheck => {
                "氏名・性別・生年月日・住所を控え、後で緊急時医療情報・資格確認機能で確認してください"
            }
            Self::QualificationInformationNotice => "資格情報のお知らせ（マイナンバーカードと併せて）で確認してください",
            Self::MynaPortal => "マイナポータルの資格情報画面で確認してください",
            Self::QualificationStatement => "被保険者資格申立書の記入をお願いしてください",
            Self::QualificationCertificate => "資格確認書で受付してください",
            Self::RenewCertificate => "市区町村窓口で電子証明書を更新し、保険証利用登録をしてください",
            Self::BringCard => "マイナンバーカードで受付してください（スマートフォンの初回利用時もカードをお持ちいただいてください）",
            Self::ReissueSmartphone => "マイナポータルでスマホ用電子証明書を再発行（再設定）してください",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_codes_are_the_three_seen_at_clinics() {
        let field: Vec<&str> = MessageCode::all()
            .filter(|c| c.is_field_code())
            .map(MessageCode::code)
            .collect();
        assert_eq!(field, ["001", "002", "006"]);
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in MessageCode::all() {
            assert!(seen.insert(code.code()), "duplicate {}", code.code());
            assert_eq!(code.code().parse::<MessageCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<MessageCode>(&json).unwrap(), code);
        }
        let error = "007".parse::<MessageCode>().unwrap_err();
        assert!(
            error.valid.starts_with("001, 002, 006, H101"),
            "{}",
            error.valid
        );
    }

    #[test]
    fn invalid_right_after_a_job_change_adds_the_notice_to_the_form() {
        use FallbackGuidance as G;
        // ReasonOfLoss codes as the answers write them (docs/spec/oqs-xml.md §4.3).
        assert_eq!(
            G::for_invalid(Some("03")),
            [G::QualificationInformationNotice, G::QualificationStatement]
        );
        for other in [Some("01"), Some("02"), Some("99"), None] {
            assert_eq!(G::for_invalid(other), [G::QualificationStatement]);
        }
    }

    #[test]
    fn display_is_the_reader_bracket_form() {
        assert_eq!(
            MessageCode::NotMyNumberCard.to_string(),
            "【002:マイナンバーカード以外】"
        );
    }
}

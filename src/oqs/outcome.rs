//! The harness's own result of a call: which rule decided the answer. The official
//! `ProcessingResultCode` / `ErrorCode` values are not public, so answers carry this stable
//! name and scenarios may map each outcome to codes of their choice.

use serde::{Deserialize, Serialize};

use crate::oqs::codes::{ProcessingResultStatus, SegmentOfResult};

/// What became of a request: the harness's documented result, one per answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A qualification answer (`QualificationValidity` 1-5) was produced.
    Answered,
    /// A card was registered for insurance use (registration call).
    Registered,
    /// The request itself is malformed (facility code, dates, fields).
    RequestInvalid,
    /// The certificate bytes are not a DER X.509 certificate.
    CertificateMalformed,
    /// The signature bytes cannot be an RSA signature of the certificate's key.
    SignatureMalformed,
    /// The challenge was never issued by this service or was already used.
    ChallengeUnknown,
    /// The certificate was not issued by the test CA's authentication CA.
    CertificateUntrusted,
    /// The signature over the challenge does not verify with the certificate's key.
    SignatureInvalid,
    /// The date is before the certificate's notBefore.
    CertificateNotYetValid,
    /// The date is after the certificate's notAfter and after the grace period; the
    /// insurance-use registration is cancelled automatically.
    CertificateExpired,
    /// The certificate is revoked (loss, 一時利用停止, death).
    CertificateRevoked,
    /// No 保険証利用登録 for this certificate (the reader starts the registration flow).
    CardNotRegistered,
    /// The registration was cancelled at the holder's request.
    RegistrationCancelledOnRequest,
    /// The registration was cancelled after the grace period.
    RegistrationCancelledAfterGrace,
    /// J-LIS is unreachable: first registration and the first use after renewal are blocked.
    JlisUnavailable,
    /// 自己情報提供不可フラグ (DV protection).
    SelfInformationBlocked,
    /// The record does not match J-LIS (mis-link) and is blocked from viewing.
    RecordBlocked,
    /// A phone credential past its card's or its own expiry: no grace period for phones
    /// (docs/spec/smartphone.md §4.13-14).
    SmartphoneExpired,
    /// A phone credential revoked, on its own or with its card's certificate (the timing is the
    /// registry option `smartphone_revocation`, docs/spec/smartphone.md §4.15).
    SmartphoneRevoked,
    /// The card was renewed after the phone credential was issued: it must be issued again
    /// through マイナポータル before it works (docs/spec/smartphone.md §4.13).
    SmartphoneReissueNeeded,
    /// No phone credential of that kind is known, or its card is not registered for
    /// insurance use (docs/spec/smartphone.md §1.3).
    SmartphoneNotRegistered,
}

impl Outcome {
    /// Whether the failure is in the request's shape (HTTP 422) rather than a verdict (HTTP 200).
    pub(crate) fn is_malformed_request(self) -> bool {
        matches!(
            self,
            Self::RequestInvalid | Self::CertificateMalformed | Self::SignatureMalformed
        )
    }

    pub(crate) fn is_success(self) -> bool {
        matches!(self, Self::Answered | Self::Registered)
    }

    /// The header's `SegmentOfResult`: a verdict, even a refusal, is a processed request;
    /// only a malformed one ends abnormally.
    pub(crate) fn segment_of_result(self) -> SegmentOfResult {
        if self.is_malformed_request() {
            SegmentOfResult::AbnormalEnd
        } else {
            SegmentOfResult::NormalEnd
        }
    }

    /// The body's `ProcessingResultStatus`.
    pub(crate) fn processing_result_status(self) -> ProcessingResultStatus {
        if self.is_success() {
            ProcessingResultStatus::Success
        } else {
            ProcessingResultStatus::Error
        }
    }

    /// Default `ProcessingResultMessage` (the harness's own wording).
    pub(crate) fn default_message(self) -> &'static str {
        match self {
            Self::Answered => "正常終了",
            Self::Registered => "保険証利用登録が完了しました",
            Self::RequestInvalid => "要求の形式が正しくありません",
            Self::CertificateMalformed => "利用者証明用電子証明書を解析できません",
            Self::SignatureMalformed => "署名の形式が正しくありません",
            Self::ChallengeUnknown => "チャレンジが無効です（未発行または使用済み）",
            Self::CertificateUntrusted => "利用者証明用電子証明書の発行者を検証できません",
            Self::SignatureInvalid => "署名を検証できません",
            Self::CertificateNotYetValid => "利用者証明用電子証明書の有効期間開始前です",
            Self::CertificateExpired => "利用者証明用電子証明書の有効期限切れ（猶予期間経過）",
            Self::CertificateRevoked => "利用者証明用電子証明書は失効しています",
            Self::CardNotRegistered => "保険証利用登録がされていません",
            Self::RegistrationCancelledOnRequest => {
                "保険証利用登録は本人の申請により解除されています"
            }
            Self::RegistrationCancelledAfterGrace => {
                "保険証利用登録は猶予期間経過により解除されています"
            }
            Self::JlisUnavailable => "J-LISに接続できないため電子証明書の紐付けができません",
            Self::SelfInformationBlocked => "自己情報提供不可のため資格情報を提供できません",
            Self::RecordBlocked => "J-LIS照合不一致のため資格情報を閲覧できません",
            Self::SmartphoneExpired => {
                "スマホ用電子証明書は有効期限切れです（カードまたは証明書の期限切れ、猶予期間なし）"
            }
            Self::SmartphoneRevoked => "スマホ用電子証明書は失効しています",
            Self::SmartphoneReissueNeeded => {
                "カードの更新後、スマホ用電子証明書が再発行されていません"
            }
            Self::SmartphoneNotRegistered => "スマホ用電子証明書は保険証として登録されていません",
        }
    }
}

//! Whether an answer is the one a request was built to provoke.

use crate::bench::mix::Expect;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::message::CheckResponse;
use crate::oqs::Outcome;

/// How the patient was identified: a card check and a 被保険者証 lookup miss differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    Card,
    InsuranceCard,
}

/// `Ok` when `outcome` / `validity` is what `expected` calls for; else the error kind counted.
pub(crate) fn judge(
    path: Path,
    expected: Expect,
    outcome: Outcome,
    validity: Option<QualificationValidity>,
) -> Result<(), String> {
    let fits = match (expected, path) {
        (Expect::Valid, _) => {
            outcome == Outcome::Answered && validity == Some(QualificationValidity::Valid)
        }
        (Expect::NotFound, Path::Card) => outcome == Outcome::CardNotRegistered,
        (Expect::NotFound, Path::InsuranceCard) => {
            outcome == Outcome::Answered && validity == Some(QualificationValidity::NoQualification)
        }
        (Expect::Expired, _) => outcome == Outcome::CertificateExpired,
        (Expect::BadSignature, _) => outcome == Outcome::SignatureInvalid,
        (Expect::Invalid, _) => outcome == Outcome::RequestInvalid,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("unexpected_answer:{}", expected.name()))
    }
}

/// [`judge`] of a whole answer from the in-process service.
pub(crate) fn judge_answer(
    path: Path,
    expected: Expect,
    answer: &CheckResponse,
) -> Result<(), String> {
    judge(
        path,
        expected,
        answer.outcome,
        answer.body.qualification_validity,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_accepts_only_its_answer() {
        let valid = Some(QualificationValidity::Valid);
        assert!(judge(Path::Card, Expect::Valid, Outcome::Answered, valid).is_ok());
        assert!(judge(
            Path::Card,
            Expect::Valid,
            Outcome::Answered,
            Some(QualificationValidity::Invalid)
        )
        .is_err());
        assert!(judge(
            Path::Card,
            Expect::NotFound,
            Outcome::CardNotRegistered,
            None
        )
        .is_ok());
        assert!(judge(
            Path::InsuranceCard,
            Expect::NotFound,
            Outcome::CardNotRegistered,
            None
        )
        .is_err());
        assert_eq!(
            judge(Path::Card, Expect::Expired, Outcome::Answered, valid),
            Err("unexpected_answer:expired".to_owned())
        );
    }
}

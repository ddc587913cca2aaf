//! A bounded memo of certificates the CA vouched for: "these exact bytes were issued by the
//! test CA", with what that check read from them (serial, validity dates, the holder's key made
//! ready for verification).
//!
//! The CA's signature over a certificate's exact bytes cannot change, so keeping the verdict is
//! what a real relying party may do: it saves the RSA verification of the chain, the DER
//! decoding and the parsing of the holder's key on every later request with the same
//! certificate. Nothing that can change is kept: every request still checks, fresh, the
//! validity on its own date, revocation against the registry, the challenge and the proof of
//! possession over it (with the kept key), the registry lookup and the rules — all done by the
//! service after this memo answers (`service::Oqs::admit_card` and on).
//!
//! Only certificates the CA vouched for are kept; a refusal is worked out again every time, so
//! hostile bytes never take room. Entries are keyed by the SHA-256 of the certificate's bytes.
//! At most [`CHAIN_MEMO_CAPACITY`] are kept; beyond that the oldest is forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::digest::{digest, SHA256};

use crate::pki::{verify_pkcs1_sha256, PkiError, PreparedPublicKey, VerifiedCertificate};

/// How many certificates the memo keeps. An entry is about 2 KiB (the decoded fields, and
/// aws-lc's parsed key with its Montgomery context), so the memo stays under about 32 MiB;
/// a load generator cycles through a few hundred certificates, a clinic's day through fewer.
pub(crate) const CHAIN_MEMO_CAPACITY: usize = 16_384;

type Digest = [u8; 32];

/// One certificate the CA vouched for.
struct Vouched {
    certificate: VerifiedCertificate,
    holder_key: PreparedPublicKey,
}

#[derive(Default)]
struct Entries {
    by_digest: HashMap<Digest, Arc<Vouched>>,
    /// Insertion order, oldest first, for forgetting beyond the capacity.
    order: VecDeque<Digest>,
}

/// The memo, put in front of the CA by the service's authority (`service::StaticAuthority`).
pub(crate) struct ChainMemo {
    capacity: usize,
    entries: RwLock<Entries>,
}

impl ChainMemo {
    /// A memo of at most `capacity` certificates.
    pub(crate) fn new(capacity: usize) -> ChainMemo {
        ChainMemo {
            capacity: capacity.max(1),
            entries: RwLock::new(Entries::default()),
        }
    }

    /// The certificate with these bytes, if the CA vouched for it before.
    fn recall(&self, der: &[u8]) -> (Digest, Option<Arc<Vouched>>) {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, der).as_ref());
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        (key, entries.by_digest.get(&key).cloned())
    }

    /// The certificate the CA just vouched for, kept under `key`.
    fn keep(&self, key: Digest, certificate: &VerifiedCertificate) {
        let vouched = Arc::new(Vouched {
            holder_key: PreparedPublicKey::new(&certificate.public_key),
            certificate: certificate.clone(),
        });
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.by_digest.insert(key, vouched).is_some() {
            // Two requests verified the same certificate at once: it is kept once.
            return;
        }
        entries.order.push_back(key);
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_digest.remove(&oldest);
            }
        }
    }

    /// How many certificates are kept (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_digest
            .len()
    }
}

impl ChainMemo {
    /// The certificate `der` as the CA vouched for it: from the memo, or else from `vouch` (the
    /// CA's check), kept when the CA vouches for it.
    pub(crate) fn verify(
        &self,
        der: &[u8],
        vouch: impl FnOnce(&[u8]) -> Result<VerifiedCertificate, PkiError>,
    ) -> Result<VerifiedCertificate, PkiError> {
        let (key, recalled) = self.recall(der);
        if let Some(vouched) = recalled {
            return Ok(vouched.certificate.clone());
        }
        let verified = vouch(der)?;
        self.keep(key, &verified);
        Ok(verified)
    }

    /// Whether `signature` is the holder's PKCS#1 v1.5 SHA-256 signature over `message`, with
    /// the kept key of certificate `der` (`verified` is what [`ChainMemo::verify`] answered).
    pub(crate) fn holder_signed(
        &self,
        der: &[u8],
        verified: &VerifiedCertificate,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        match self.recall(der).1 {
            Some(vouched) => vouched.holder_key.verify(message, signature),
            // Forgotten in between (the memo was full): the key as the caller has it.
            None => verify_pkcs1_sha256(&verified.public_key, message, signature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oqs::description::RegistryDescription;
    use crate::oqs::message::{CheckRequest, ConsentChoices, IdentityMethod};
    use crate::oqs::outcome::Outcome;
    use crate::oqs::registry::Registry;
    use crate::oqs::service::CertificateAuthority;
    use crate::oqs::service::{Oqs, OqsConfig};
    use crate::pki::{pool_signer, CertificateKind, CertificateRequest, TestPki};
    use chrono::NaiveDate;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The test CA behind the memo, as the service's authority has it, counting how often the
    /// CA itself is asked.
    struct CountingCa {
        pki: &'static TestPki,
        memo: ChainMemo,
        asked: Arc<AtomicUsize>,
    }

    impl CountingCa {
        fn new(capacity: usize, asked: &Arc<AtomicUsize>) -> CountingCa {
            CountingCa {
                pki: TestPki::load().unwrap(),
                memo: ChainMemo::new(capacity),
                asked: Arc::clone(asked),
            }
        }
    }

    impl CertificateAuthority for CountingCa {
        fn verify_authentication_certificate(
            &self,
            der: &[u8],
        ) -> Result<VerifiedCertificate, PkiError> {
            self.memo.verify(der, |der| {
                self.asked.fetch_add(1, Ordering::Relaxed);
                self.pki.verify_issued(CertificateKind::Authentication, der)
            })
        }

        fn holder_signed(
            &self,
            der: &[u8],
            verified: &VerifiedCertificate,
            message: &[u8],
            signature: &[u8],
        ) -> bool {
            self.memo.holder_signed(der, verified, message, signature)
        }
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// One registered person with two cards: the newer one's certificate revoked from
    /// 2025-03-01, the older one's ending 2024-06-30 (grace to 2024-09-30).
    const REGISTRY: &str = r#"
insurers:
  - number: "06139999"
    name: "試験健康保険組合"
persons:
  - id: taro
    person:
      name: "試験　太郎"
      kana: "シケン タロウ"
      birth_date: 1980-05-10
      sex: male
      address: "東京都千代田区霞が関一丁目1番1号"
      my_number: "123456789018"
    qualifications:
      - insurer: "06139999"
        symbol: "01"
        number: "1234"
        branch: "00"
        acquired: 2015-04-01
    cards:
      - issued: 2024-01-10
        revoked: { reason: lost, on: 2025-03-01 }
      - issued: 2021-07-01
"#;

    fn service(asked: &Arc<AtomicUsize>) -> (Oqs, RegistryDescription) {
        let description = RegistryDescription::from_yaml("chain memo test", REGISTRY).unwrap();
        let registry = Registry::from_description("chain memo test", &description).unwrap();
        let oqs = Oqs::with_authority(
            registry,
            OqsConfig {
                challenge_seed: Some(3),
                ..OqsConfig::default()
            },
            Arc::new(CountingCa::new(CHAIN_MEMO_CAPACITY, asked)),
        );
        (oqs, description)
    }

    fn signed_check(oqs: &Oqs, certificate: &[u8], date: &str) -> CheckRequest {
        let challenge = oqs.issue_challenge();
        let signature = pool_signer(5)
            .unwrap()
            .sign_pkcs1_sha256(&challenge)
            .unwrap();
        CheckRequest {
            identity: IdentityMethod::Pin,
            challenge: Some(challenge),
            certificate: certificate.to_vec(),
            signature: Some(signature),
            facility_code: "1312345678".into(),
            date: day(date),
            time: None,
            consent: ConsentChoices::default(),
            arbitrary_file_identifier: None,
            character_code: Default::default(),
            smartphone: None,
        }
    }

    fn certificate(
        description: &RegistryDescription,
        not_before: &str,
        not_after: &str,
    ) -> Vec<u8> {
        TestPki::load()
            .unwrap()
            .issue(&CertificateRequest {
                kind: CertificateKind::Authentication,
                holder: &description.persons[0].person,
                subject_key: &crate::pki::pool_key(5).unwrap().to_public_key(),
                not_before: day(not_before),
                not_after: day(not_after),
            })
            .unwrap()
    }

    #[test]
    fn a_kept_chain_never_hides_a_revocation_an_expiry_or_a_bad_proof() {
        let asked = Arc::new(AtomicUsize::new(0));
        let (oqs, description) = service(&asked);
        let revocable = certificate(&description, "2024-01-10", "2029-01-09");
        let expiring = certificate(&description, "2021-07-01", "2024-06-30");

        let before = oqs.check(&signed_check(&oqs, &revocable, "2025-02-28"));
        assert_eq!(before.outcome, Outcome::Answered, "{before:?}");
        assert_eq!(asked.load(Ordering::Relaxed), 1, "the CA checked the chain");
        // Same bytes, the chain kept: revoked from 2025-03-01 all the same.
        let revoked = oqs.check(&signed_check(&oqs, &revocable, "2025-03-01"));
        assert_eq!(revoked.outcome, Outcome::CertificateRevoked);

        let in_grace = oqs.check(&signed_check(&oqs, &expiring, "2024-09-30"));
        assert_eq!(in_grace.outcome, Outcome::Answered, "{in_grace:?}");
        assert!(in_grace.certificate_in_grace);
        assert_eq!(asked.load(Ordering::Relaxed), 2);
        // The day after the grace period: expired, whatever the memo holds.
        let expired = oqs.check(&signed_check(&oqs, &expiring, "2024-10-01"));
        assert_eq!(expired.outcome, Outcome::CertificateExpired);

        // The proof of possession is checked, with the kept key, on every request.
        let mut forged = signed_check(&oqs, &revocable, "2025-02-28");
        forged.signature = Some(pool_signer(6).unwrap().sign_pkcs1_sha256(b"x").unwrap());
        assert_eq!(oqs.check(&forged).outcome, Outcome::SignatureInvalid);
        // And the challenge: one use.
        let once = signed_check(&oqs, &revocable, "2025-02-28");
        assert_eq!(oqs.check(&once).outcome, Outcome::Answered);
        assert_eq!(oqs.check(&once).outcome, Outcome::ChallengeUnknown);
        assert_eq!(
            asked.load(Ordering::Relaxed),
            2,
            "every later request was answered from the memo's chain"
        );
    }

    #[test]
    fn refusals_are_not_kept_and_the_memo_forgets_its_oldest_beyond_its_capacity() {
        let asked = Arc::new(AtomicUsize::new(0));
        let ca = CountingCa::new(2, &asked);
        let (_, description) = service(&Arc::new(AtomicUsize::new(0)));
        let certificates: Vec<Vec<u8>> = ["2024-01-10", "2024-01-11", "2024-01-12"]
            .iter()
            .map(|not_before| certificate(&description, not_before, "2029-01-09"))
            .collect();
        let mut tampered = certificates[0].clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        for _ in 0..2 {
            assert!(matches!(
                ca.verify_authentication_certificate(&tampered),
                Err(PkiError::BadSignature { .. })
            ));
        }
        assert_eq!((ca.memo.len(), asked.load(Ordering::Relaxed)), (0, 2));

        for certificate in &certificates {
            ca.verify_authentication_certificate(certificate).unwrap();
        }
        assert_eq!((ca.memo.len(), asked.load(Ordering::Relaxed)), (2, 5));
        // The newest two are kept; the first was forgotten and goes to the CA again.
        ca.verify_authentication_certificate(&certificates[2])
            .unwrap();
        assert_eq!(asked.load(Ordering::Relaxed), 5);
        ca.verify_authentication_certificate(&certificates[0])
            .unwrap();
        assert_eq!(asked.load(Ordering::Relaxed), 6);
    }
}

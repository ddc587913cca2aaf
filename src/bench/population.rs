//! Whom the bench asks for: a sample of the persons `oqs serve --synthetic N --seed S` holds,
//! found by replaying the generator's draws (no registry is built for that), plus persons
//! the registry does not know, and their certificates from the test CA.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::card::description::CardDate;
use crate::card::{Card, CardDescription, CardError, CardSpec};
use crate::oqs::generate::{
    reference_date, synthetic_my_number, visit_synthetic_persons, SyntheticPerson,
};
use crate::oqs::message::InsuranceCardRequest;
use crate::pki::{
    pool_signer, pool_size, CertificateKind, CertificateRequest, PkiError, RsaSigner, TestPki,
};

/// The date every request is made on (the generator's "today").
pub fn check_date() -> NaiveDate {
    reference_date()
}

/// A valid certificate runs to the end of 2030, well past [`check_date`].
pub fn valid_until() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 12, 31).unwrap_or_default()
}

/// An expired certificate ended on this day, more than a year before [`check_date`] and so
/// beyond any grace period; only cards issued by then can carry one
/// ([`can_carry_expired_certificate`]).
pub(crate) fn expired_until() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 12, 31).unwrap_or_default()
}

/// Whether `person`'s card was issued early enough to carry an expired certificate (its
/// serial, hence its notBefore, is the card's issue date).
pub(crate) fn can_carry_expired_certificate(person: &SyntheticPerson) -> bool {
    person.card_issued <= expired_until()
}

/// `count` persons spread evenly over the registry of `persons` (so that lookups touch the
/// whole of it, as real traffic does), in index order.
pub fn known_persons(persons: usize, seed: u64, count: usize) -> Vec<SyntheticPerson> {
    let count = count.min(persons);
    if count == 0 {
        return Vec::new();
    }
    let wanted: Vec<usize> = (0..count)
        .map(|i| i * persons / count + (persons / count) / 2)
        .map(|index| index.min(persons - 1))
        .collect();
    let mut found = Vec::with_capacity(count);
    let mut next = 0;
    visit_synthetic_persons(persons, seed, |person| {
        while next < wanted.len() && wanted[next] == person.index {
            found.push(person.clone());
            next += 1;
        }
        next < wanted.len()
    });
    found
}

/// Persons the registry of `persons` does not hold: the generator's next indices, with the
/// same kind of data, so that a lookup for them costs what a real miss costs.
pub(crate) fn unknown_persons(persons: usize, seed: u64, count: usize) -> Vec<SyntheticPerson> {
    let mut found = Vec::with_capacity(count);
    visit_synthetic_persons(count, seed.wrapping_add(0x5EED), |person| {
        let mut stranger = person.clone();
        let index = persons + person.index;
        stranger.index = index;
        stranger.person.my_number = synthetic_my_number(seed, index as u64);
        stranger.number = (index + 1).to_string();
        found.push(stranger);
        true
    });
    found
}

/// A card's authentication certificate and the key that signs with it.
#[derive(Clone)]
pub struct Holder {
    /// The certificate (DER) the test CA issued to the holder.
    pub certificate: Vec<u8>,
    signer: Arc<RsaSigner>,
}

impl Holder {
    /// Issues `person`'s authentication certificate (serial from its 個人番号 and issue date,
    /// as the registry derives it) valid until `not_after`, with pool key `key_index`.
    pub fn issue(
        pki: &TestPki,
        person: &SyntheticPerson,
        not_after: NaiveDate,
        key_index: usize,
    ) -> Result<Holder, PkiError> {
        let signer = pool_signer(key_index % pool_size().max(1))?;
        let public = signer.public_key();
        let certificate = pki.issue(&CertificateRequest {
            kind: CertificateKind::Authentication,
            holder: &person.person,
            subject_key: &public,
            not_before: person.card_issued,
            not_after: not_after.max(person.card_issued),
        })?;
        Ok(Holder {
            certificate,
            signer,
        })
    }

    /// What the card does for proof of possession: PKCS#1 v1.5 over SHA-256(challenge).
    ///
    /// A pool key always signs; should aws-lc ever fail, the empty signature is refused by the
    /// server as malformed and counted among the bench's errors.
    pub fn sign(&self, challenge: &[u8]) -> Vec<u8> {
        self.signer.sign_pkcs1_sha256(challenge).unwrap_or_default()
    }
}

/// An emulated card for `person`: its auth certificate issued on the registry's date (so that
/// the serial matches) and valid at [`check_date`], keys from pool slots from `index`, no
/// signing certificate (children cannot have one and no workload uses it).
pub fn card_for(person: &SyntheticPerson, index: usize) -> Result<Card, CardError> {
    let pki = TestPki::load()?;
    let mut spec = CardSpec {
        issued: CardDate::On(person.card_issued),
        expires: Some(CardDate::On(valid_until())),
        ..Default::default()
    };
    spec.certificates.auth.not_before = Some(CardDate::On(person.card_issued));
    spec.certificates.auth.not_after = Some(CardDate::On(valid_until()));
    spec.certificates.signing.present = Some(false);
    let size = pool_size().max(1);
    spec.keys.auth = index % size;
    spec.keys.signing = (index + 1) % size;
    spec.keys.text_ap = (index + 2) % size;
    let description = CardDescription {
        person: person.person.clone(),
        card: spec,
    };
    Card::from_description(&description, pki)
}

/// The 被保険者証情報 lookup of `person`, as a terminal at `facility` sends it on the check day.
pub fn insurance_card_request(person: &SyntheticPerson, facility: &str) -> InsuranceCardRequest {
    InsuranceCardRequest {
        insurer_number: person.insurer_number.clone(),
        symbol: person.symbol.clone(),
        number: person.number.clone(),
        branch: "00".to_owned(),
        birth_date: person.person.birth_date,
        facility_code: facility.to_owned(),
        date: check_date(),
        time: None,
        arbitrary_file_identifier: None,
        character_code: Default::default(),
        limit_consent: true,
        echo: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oqs::generate::synthetic_registry;
    use crate::pki::certificate_serial;

    #[test]
    fn known_persons_are_in_the_registry_and_unknown_ones_are_not() {
        let registry = synthetic_registry(1_000, 7).unwrap();
        let known = known_persons(1_000, 7, 10);
        assert_eq!(known.len(), 10);
        assert!(known.windows(2).all(|w| w[0].index < w[1].index));
        for person in &known {
            let serial = certificate_serial(
                CertificateKind::Authentication,
                &person.person.my_number,
                person.card_issued,
            );
            let card = registry.card(serial).expect("known person's card");
            let holder = registry.person(card.person).unwrap();
            assert_eq!(holder.birth_date(), person.person.birth_date);
            assert_eq!(holder.name(), person.person.name);
            let found = registry.find_by_insurance_card(
                &person.insurer_number,
                &person.symbol,
                &person.number,
                0,
            );
            assert_eq!(found.len(), 1);
        }
        for stranger in unknown_persons(1_000, 7, 10) {
            let serial = certificate_serial(
                CertificateKind::Authentication,
                &stranger.person.my_number,
                stranger.card_issued,
            );
            assert!(registry.card(serial).is_none());
            assert!(registry
                .find_by_insurance_card(
                    &stranger.insurer_number,
                    &stranger.symbol,
                    &stranger.number,
                    0
                )
                .is_empty());
        }
    }
}

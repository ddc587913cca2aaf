//! The cards and the qualification system's registry of a run, made valid on the day of the
//! run.
//!
//! A vendor's device judges certificates by its own clock, so the card must be valid today,
//! whatever day that is. Each case's card is issued `CARD_AGE_DAYS` days before today (minus
//! the case's index, so that every case's certificate has its own serial and the registry can
//! hold each case's link state side by side); an expired card's certificate ended
//! `EXPIRED_DAYS_AGO` days ago (past any grace period); a revoked one was revoked a month ago.
//! The registry's qualifications are written with dates far enough in the past that they hold
//! on any day from 2026 on. This is the minimal form of "valid on the day of the run"; the
//! card-fidelity work generalises it.

use chrono::{Datelike, Days, NaiveDate};

use super::suite::{Case, CertificateState, PhoneSetup, RegistrationState, Suite};
use crate::card::description::{CardDate, FourDigitPin, Profile};
use crate::card::{Card, CardDescription};
use crate::oqs::description::{
    CardLinkDescription, LinkState, Revocation, RevocationReason, SmartphoneLinkDescription,
};
use crate::oqs::RegistryDescription;
use crate::person::PhoneKind;
use crate::pki::TestPki;

pub(crate) const CARD_AGE_DAYS: u64 = 400;
pub(crate) const EXPIRED_CERTIFICATE_AGE_DAYS: u64 = 2000;
pub(crate) const EXPIRED_DAYS_AGO: u64 = 200;
pub(crate) const REVOKED_DAYS_AGO: u64 = 30;
/// A certificate `in_grace` ended this many days ago: inside any grace period of the card
/// (docs/spec/qualification.md §4), outside a phone's, which has none (docs/spec/smartphone.md §4.14).
pub(crate) const IN_GRACE_DAYS_AGO: u64 = 10;
/// A case's phone credential is issued this many days after its card's certificate starts.
const PHONE_ISSUED_AFTER_DAYS: u64 = 30;
/// The Android phone's own 4-digit PIN in every case (test data; not the card's).
const PHONE_PIN: &str = "2580";

#[derive(Debug, thiserror::Error)]
pub(crate) enum WorldError {
    #[error("case {case}: date arithmetic out of range")]
    Date { case: String },
    #[error("case {case}: the card cannot be built: {message}")]
    Card { case: String, message: String },
    #[error("the run's registry cannot be built: {0}")]
    Registry(String),
}

/// A case's card as served, with what the operator needs to know about it.
#[derive(Debug, Clone)]
pub(crate) struct CaseCard {
    pub(crate) description: CardDescription,
    /// The day the certificate starts (and the registry's name for the card).
    pub(crate) certificate_from: NaiveDate,
    /// The holder's phone credential issued on this card, when the case has one.
    pub(crate) phone: Option<CasePhone>,
}

/// A case's phone token as served on the generic reader.
#[derive(Debug, Clone)]
pub(crate) struct CasePhone {
    pub(crate) kind: PhoneKind,
    pub(crate) description: CardDescription,
    /// notBefore of its certificate: the registry's name for the credential.
    pub(crate) issued: NaiveDate,
}

impl CasePhone {
    /// The Android phone's own PIN.
    pub(crate) fn pin(&self) -> String {
        PHONE_PIN.to_owned()
    }

    /// A PIN of the right shape that is not the phone's.
    pub(crate) fn wrong_pin(&self) -> String {
        other_pin(PHONE_PIN)
    }

    pub(crate) fn build(&self, pki: &TestPki, case: &str) -> Result<Card, WorldError> {
        Card::from_description(&self.description, pki).map_err(|error| WorldError::Card {
            case: case.to_owned(),
            message: format!("its phone: {error}"),
        })
    }
}

/// `pin` with its last digit changed.
fn other_pin(pin: &str) -> String {
    let mut pin: Vec<u8> = pin.as_bytes().to_vec();
    if let Some(last) = pin.last_mut() {
        *last = b'0' + (*last - b'0' + 1) % 10;
    }
    String::from_utf8_lossy(&pin).into_owned()
}

/// Pool slots of the phones' keys, apart from the cards' (as the scenario worlds' phones).
fn phone_key_slot(kind: PhoneKind) -> usize {
    match kind {
        PhoneKind::Android => 4,
        PhoneKind::Iphone => 5,
    }
}

/// The phone token of `setup` issued on `card` (already dated): the holder's, with its own
/// serial and key, its certificate ending with the card's 利用者証明用 certificate.
fn case_phone(
    setup: &PhoneSetup,
    card: &CardDescription,
    certificate_from: NaiveDate,
    case: &str,
) -> Result<CasePhone, WorldError> {
    let issued = certificate_from
        .checked_add_days(Days::new(PHONE_ISSUED_AFTER_DAYS))
        .ok_or_else(|| WorldError::Date {
            case: case.to_owned(),
        })?;
    let (_, card_until) = card.card.auth_certificate_validity(&card.person);
    let mut token = CardDescription {
        person: card.person.clone(),
        card: crate::card::CardSpec::default(),
    };
    let spec = &mut token.card;
    spec.profile = match setup.kind {
        PhoneKind::Android => Profile::Smartphone,
        PhoneKind::Iphone => Profile::SmartphoneIos,
    };
    spec.issued = CardDate::On(issued);
    spec.expires = Some(CardDate::On(card.card.expiry_date(&card.person)));
    spec.certificates.auth.not_before = Some(CardDate::On(issued));
    spec.certificates.auth.not_after = Some(CardDate::On(card_until));
    // Only the 利用者証明用 certificate and key (docs/spec/smartphone.md §5.18).
    spec.certificates.signing.present = Some(false);
    spec.keys.auth = phone_key_slot(setup.kind);
    spec.pins.auth = FourDigitPin::try_from(PHONE_PIN.to_owned()).ok();
    token.validate().map_err(|invalid| WorldError::Card {
        case: case.to_owned(),
        message: format!("its phone: {invalid}"),
    })?;
    Ok(CasePhone {
        kind: setup.kind,
        description: token,
        issued,
    })
}

impl CaseCard {
    /// The card's 4-digit PIN, when it has one.
    pub(crate) fn pin(&self) -> Option<String> {
        if !self.description.card.profile.features().auth_pin {
            return None;
        }
        Some(String::from_utf8_lossy(self.description.card.pins.auth_or_default()).into_owned())
    }

    /// A PIN of the right shape that is not the card's (last digit changed).
    pub(crate) fn wrong_pin(&self) -> String {
        other_pin(&self.pin().unwrap_or_else(|| "1234".into()))
    }

    /// What a camera reads from the card front for 照合番号B: birth date, expiry year,
    /// security code.
    pub(crate) fn ocr(&self) -> (String, i32, String) {
        let person = &self.description.person;
        let card = &self.description.card;
        (
            person.birth_date.format("%Y-%m-%d").to_string(),
            card.expiry_date(person).year(),
            card.security_code.as_str().to_owned(),
        )
    }

    pub(crate) fn build(&self, pki: &TestPki, case: &str) -> Result<Card, WorldError> {
        Card::from_description(&self.description, pki).map_err(|error| WorldError::Card {
            case: case.to_owned(),
            message: error.to_string(),
        })
    }
}

fn days_before(today: NaiveDate, days: u64, case: &str) -> Result<NaiveDate, WorldError> {
    today
        .checked_sub_days(Days::new(days))
        .ok_or_else(|| WorldError::Date {
            case: case.to_owned(),
        })
}

/// The card of case number `index` (0-based, in run order) on `today`.
pub(crate) fn case_card(
    case: &Case,
    index: usize,
    today: NaiveDate,
) -> Result<CaseCard, WorldError> {
    let mut description = case.card.clone();
    let offset = index as u64;
    let issued = days_before(today, CARD_AGE_DAYS + offset, &case.id)?;
    description.card.issued = CardDate::On(issued);
    description.card.expires = None;
    let certificate_from = match case.setup.certificate {
        CertificateState::Expired | CertificateState::InGrace => {
            let from = days_before(today, EXPIRED_CERTIFICATE_AGE_DAYS + offset, &case.id)?;
            let ago = match case.setup.certificate {
                CertificateState::InGrace => IN_GRACE_DAYS_AGO,
                _ => EXPIRED_DAYS_AGO,
            };
            let until = days_before(today, ago, &case.id)?;
            description.card.issued = CardDate::On(from);
            description.card.certificates.auth.not_before = Some(CardDate::On(from));
            description.card.certificates.auth.not_after = Some(CardDate::On(until));
            from
        }
        CertificateState::Valid | CertificateState::Revoked => {
            description.card.certificates.auth.not_before = None;
            description.card.certificates.auth.not_after = None;
            issued
        }
    };
    description.card.certificates.signing.not_before = None;
    description.card.certificates.signing.not_after = None;
    // Padding is the card's own behaviour, so the card written beside a recording replays it.
    description.card.faults.padded_reads |= case.setup.pad_reads;
    description.validate().map_err(|invalid| WorldError::Card {
        case: case.id.clone(),
        message: invalid.to_string(),
    })?;
    let phone = match &case.phone {
        Some(setup) => Some(case_phone(setup, &description, certificate_from, &case.id)?),
        None => None,
    };
    Ok(CaseCard {
        description,
        certificate_from,
        phone,
    })
}

/// The suite registry with every case's card linked to its holder in the case's state.
pub(crate) fn run_registry(
    suite: &Suite,
    cards: &[(&Case, &CaseCard)],
    today: NaiveDate,
) -> Result<RegistryDescription, WorldError> {
    let mut registry = suite.registry.clone();
    for (case, card) in cards {
        let person = registry
            .persons
            .iter_mut()
            .find(|p| p.id.value == case.holder)
            .ok_or_else(|| WorldError::Registry(format!("no person {}", case.holder)))?;
        let revoked = match case.setup.certificate {
            CertificateState::Revoked => Some(Revocation {
                reason: RevocationReason::Lost,
                on: days_before(today, REVOKED_DAYS_AGO, &case.id)?,
            }),
            _ => None,
        };
        person.cards.push(CardLinkDescription {
            smartphones: card
                .phone
                .iter()
                .map(|phone| SmartphoneLinkDescription {
                    kind: phone.kind,
                    issued: phone.issued,
                    revoked: None,
                })
                .collect(),
            issued: card.certificate_from,
            link: match case.setup.registration {
                RegistrationState::Registered => LinkState::Registered,
                RegistrationState::NotRegistered => LinkState::NotRegistered,
            },
            registered_on: None,
            revoked,
            holder: None,
        });
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oqs::rules::grace_last_day;

    fn suite() -> Suite {
        crate::certify::suite::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certify"),
        )
        .unwrap()
    }

    #[test]
    fn cards_are_valid_today_and_expired_ones_are_past_grace() {
        let suite = suite();
        let today = NaiveDate::from_ymd_opt(2031, 2, 27).unwrap();
        let mut pairs = Vec::new();
        for (index, case) in suite.cases.iter().enumerate() {
            let card = case_card(case, index, today).unwrap();
            let spec = &card.description.card;
            let (from, until) = spec.auth_certificate_validity(&card.description.person);
            assert_eq!(from, card.certificate_from, "{}", case.id);
            match case.setup.certificate {
                CertificateState::Expired => {
                    let grace = grace_last_day(until, suite.registry.options.grace);
                    assert!(grace < today, "{}: grace ends {grace}", case.id);
                }
                CertificateState::InGrace => {
                    let grace = grace_last_day(until, suite.registry.options.grace);
                    assert!(until < today && today <= grace, "{}: {until}", case.id);
                    // The phone's certificate ends with the card's: no grace of its own.
                    let phone = card.phone.as_ref().expect("an in-grace case has a phone");
                    let token = &phone.description;
                    let (_, phone_until) = token.card.auth_certificate_validity(&token.person);
                    assert_eq!(phone_until, until, "{}", case.id);
                }
                _ => assert!(
                    from < today && today < until,
                    "{}: {from}..{until}",
                    case.id
                ),
            }
            pairs.push((case, card));
        }
        // Every case's certificate starts on its own day: each has its own registry entry.
        let mut starts: Vec<NaiveDate> = pairs.iter().map(|(_, c)| c.certificate_from).collect();
        starts.sort();
        starts.dedup();
        assert_eq!(starts.len(), pairs.len());

        let linked: Vec<(&Case, &CaseCard)> = pairs.iter().map(|(c, card)| (*c, card)).collect();
        let registry = run_registry(&suite, &linked, today).unwrap();
        for (case, card) in &linked {
            let person = registry
                .persons
                .iter()
                .find(|p| p.id.value == case.holder)
                .unwrap();
            let link = person
                .cards
                .iter()
                .find(|l| l.issued == card.certificate_from)
                .unwrap();
            assert_eq!(
                link.revoked.is_some(),
                case.setup.certificate == CertificateState::Revoked
            );
        }
        crate::oqs::Registry::from_description("test", &registry).unwrap();
    }

    #[test]
    fn the_wrong_pin_has_the_right_shape_and_differs() {
        let suite = suite();
        let case = suite.cases.iter().find(|c| c.id == "pin-valid").unwrap();
        let card = case_card(case, 0, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()).unwrap();
        let right = card.pin().unwrap();
        let wrong = card.wrong_pin();
        assert_eq!(wrong.len(), 4);
        assert!(wrong.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(wrong, right);
    }
}

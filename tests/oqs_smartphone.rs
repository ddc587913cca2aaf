//! The phone rules of the qualification system (docs/smartphone.md, docs/spec/smartphone.md §4)
//! on phone certificates issued by the real test CA and signed with pool keys: a phone resolves
//! to its card's record, has no grace, needs re-issuing after the card's renewal, is revoked
//! with its card unless the registry says otherwise, and is recorded as a phone in the call log;
//! and an iPhone token opens its key only on the on-device approval.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::date as d;
use myna_hil::card::{Card, CardDescription};
use myna_hil::oqs::description::RegistryDescription;
use myna_hil::oqs::message::{CheckRequest, ConsentChoices, IdentityMethod};
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{Oqs, OqsConfig};
use myna_hil::oqs::Outcome;
use myna_hil::person::PhoneKind;
use myna_hil::pki::{
    certificate_serial, pool_key, smartphone_certificate_serial, CertificateKind,
    CertificateRequest, TestPki,
};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::Sha256;

const FACILITY: &str = "1312345678";

/// One person whose card (certificate until 2026-05-10) carries an Android phone and whose
/// card is suspended from `suspended_on`, with the revocation rule `revocation`.
fn registry(revocation: &str, suspended_on: &str) -> RegistryDescription {
    RegistryDescription::from_yaml(
        "smartphone-test",
        &format!(
            r#"
options:
  smartphone_revocation: {revocation}
insurers:
  - {{ number: "01130012", name: "試験協会" }}
persons:
  - id: hanako
    person: {{ name: "携帯　花子", kana: "ケイタイ ハナコ", birth_date: 1980-05-10, sex: female,
              address: "東京都千代田区霞が関一丁目1番1号", my_number: "500000000011" }}
    qualifications:
      - {{ insurer: "01130012", symbol: "5000", number: "1", acquired: 2015-04-01 }}
    cards:
      - issued: 2022-04-01
        revoked: {{ reason: suspended, on: {suspended_on} }}
        smartphones:
          - {{ kind: android, issued: 2025-09-20 }}
"#
        ),
    )
    .unwrap()
}

fn service(description: &RegistryDescription) -> Oqs {
    let registry = Registry::from_description("smartphone-test", description).unwrap();
    Oqs::new(
        registry,
        OqsConfig {
            challenge_seed: Some(3),
            ..OqsConfig::default()
        },
    )
    .unwrap()
}

struct Credential {
    certificate: Vec<u8>,
    key: RsaPrivateKey,
}

/// The Android phone's certificate (notBefore 2025-09-20, ending with the card's), or the
/// card's own when `phone` is `None`.
fn credential(description: &RegistryDescription, phone: Option<PhoneKind>) -> Credential {
    let person = description.persons[0].person.clone();
    let key = pool_key(4).unwrap();
    let public = key.to_public_key();
    let pki = TestPki::load().unwrap();
    let certificate = match phone {
        Some(kind) => pki.issue_smartphone(
            kind,
            &CertificateRequest {
                kind: CertificateKind::Authentication,
                holder: &person,
                subject_key: &public,
                not_before: d("2025-09-20"),
                not_after: d("2026-05-10"),
            },
        ),
        None => pki.issue(&CertificateRequest {
            kind: CertificateKind::Authentication,
            holder: &person,
            subject_key: &public,
            not_before: d("2022-04-01"),
            not_after: d("2026-05-10"),
        }),
    }
    .unwrap();
    Credential { certificate, key }
}

fn check(oqs: &Oqs, credential: &Credential, date: &str, declared: Option<PhoneKind>) -> Outcome {
    let challenge = oqs.issue_challenge();
    let signature = SigningKey::<Sha256>::new(credential.key.clone())
        .sign(&challenge)
        .to_vec();
    oqs.check(&CheckRequest {
        identity: IdentityMethod::Pin,
        challenge: Some(challenge),
        certificate: credential.certificate.clone(),
        signature: Some(signature),
        facility_code: FACILITY.into(),
        date: d(date),
        time: None,
        consent: ConsentChoices::default(),
        arbitrary_file_identifier: None,
        character_code: Default::default(),
        smartphone: declared,
    })
    .outcome
}

#[test]
fn a_phone_resolves_to_its_cards_record_and_the_call_log_says_a_phone_was_used() {
    let description = registry("with_card", "2030-01-01");
    let oqs = service(&description);
    let phone = credential(&description, Some(PhoneKind::Android));
    assert_eq!(
        check(&oqs, &phone, "2025-10-06", Some(PhoneKind::Android)),
        Outcome::Answered
    );
    let card = credential(&description, None);
    assert_eq!(check(&oqs, &card, "2025-10-06", None), Outcome::Answered);
    let calls = oqs.calls();
    let checks: Vec<_> = calls
        .iter()
        .filter(|c| c.certificate_serial.is_some())
        .collect();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].smartphone, Some(PhoneKind::Android));
    assert_eq!(checks[1].smartphone, None);
    // Own serial: not the card's, even for a phone issued on the card's own day.
    let number = &description.persons[0].person.my_number;
    let day = d("2022-04-01");
    assert_ne!(
        smartphone_certificate_serial(PhoneKind::Android, number, day),
        certificate_serial(CertificateKind::Authentication, number, day)
    );
    assert_ne!(
        smartphone_certificate_serial(PhoneKind::Android, number, day),
        smartphone_certificate_serial(PhoneKind::Iphone, number, day)
    );
    assert_eq!(
        checks[0].certificate_serial,
        Some(smartphone_certificate_serial(
            PhoneKind::Android,
            number,
            d("2025-09-20")
        ))
    );
}

#[test]
fn the_declared_kind_must_be_the_certificates() {
    let description = registry("with_card", "2030-01-01");
    let oqs = service(&description);
    let phone = credential(&description, Some(PhoneKind::Android));
    assert_eq!(
        check(&oqs, &phone, "2025-10-06", Some(PhoneKind::Iphone)),
        Outcome::SmartphoneNotRegistered
    );
    // Undeclared (the XML has no such element): the certificate tells.
    assert_eq!(check(&oqs, &phone, "2025-10-06", None), Outcome::Answered);
    let card = credential(&description, None);
    assert_eq!(
        check(&oqs, &card, "2025-10-06", Some(PhoneKind::Android)),
        Outcome::SmartphoneNotRegistered
    );
    // An iPhone credential the registry does not list.
    let iphone = credential(&description, Some(PhoneKind::Iphone));
    assert_eq!(
        check(&oqs, &iphone, "2025-10-06", Some(PhoneKind::Iphone)),
        Outcome::SmartphoneNotRegistered
    );
}

#[test]
fn no_grace_for_the_phone_while_the_card_has_it() {
    let description = registry("with_card", "2030-01-01");
    let oqs = service(&description);
    let phone = credential(&description, Some(PhoneKind::Android));
    let card = credential(&description, None);
    assert_eq!(check(&oqs, &phone, "2026-05-10", None), Outcome::Answered);
    assert_eq!(
        check(&oqs, &phone, "2026-05-11", None),
        Outcome::SmartphoneExpired
    );
    assert_eq!(check(&oqs, &card, "2026-05-11", None), Outcome::Answered);
}

#[test]
fn the_cards_revocation_reaches_the_phone_unless_independent() {
    let with_card = registry("with_card", "2025-10-05");
    let oqs = service(&with_card);
    let phone = credential(&with_card, Some(PhoneKind::Android));
    assert_eq!(check(&oqs, &phone, "2025-10-04", None), Outcome::Answered);
    assert_eq!(
        check(&oqs, &phone, "2025-10-05", None),
        Outcome::SmartphoneRevoked
    );
    let independent = registry("independent", "2025-10-05");
    let oqs = service(&independent);
    assert_eq!(check(&oqs, &phone, "2025-10-05", None), Outcome::Answered);
}

#[test]
fn a_phone_cannot_register_the_card() {
    let description = registry("with_card", "2030-01-01");
    let oqs = service(&description);
    let phone = credential(&description, Some(PhoneKind::Android));
    let challenge = oqs.issue_challenge();
    let signature = SigningKey::<Sha256>::new(phone.key.clone())
        .sign(&challenge)
        .to_vec();
    let answer = oqs.register(&CheckRequest {
        identity: IdentityMethod::Pin,
        challenge: Some(challenge),
        certificate: phone.certificate.clone(),
        signature: Some(signature),
        facility_code: FACILITY.into(),
        date: d("2025-10-06"),
        time: None,
        consent: ConsentChoices::default(),
        arbitrary_file_identifier: None,
        character_code: Default::default(),
        smartphone: Some(PhoneKind::Android),
    });
    assert_eq!(answer.outcome, Outcome::SmartphoneNotRegistered);
}

#[test]
fn the_check_request_carries_the_phone_in_json_and_leaves_it_out_for_a_card() {
    let json = serde_json::json!({
        "certificate": "3082", "facility_code": FACILITY, "date": "2025-10-06",
        "identity": "face", "smartphone": "iphone"
    });
    let request: CheckRequest = serde_json::from_value(json).unwrap();
    assert_eq!(request.smartphone, Some(PhoneKind::Iphone));
    let card = CheckRequest {
        smartphone: None,
        ..request
    };
    assert!(serde_json::to_value(&card)
        .unwrap()
        .get("smartphone")
        .is_none());
}

#[test]
fn an_iphone_token_opens_its_key_on_the_approval_alone() {
    let description = CardDescription::from_yaml_str(
        r#"
person: { name: "携帯　花子", kana: "ケイタイ ハナコ", birth_date: 1980-05-10, sex: female,
          address: "東京都千代田区霞が関一丁目1番1号", my_number: "500000000011" }
card: { profile: smartphone_ios, issued: 2025-10-01 }
"#,
        "iphone-test",
    )
    .unwrap();
    let mut card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    let read_certificate = |card: &mut Card| {
        card.power_on();
        let select = card.process(&hex::decode("00A4040C0AD392F000260100000001").unwrap());
        assert_eq!(select.rapdu, [0x90, 0x00]);
        card.process(&hex::decode("00A4020C02000A").unwrap());
        card.process(&hex::decode("00B0000004").unwrap()).rapdu
    };
    let refused = read_certificate(&mut card);
    assert_eq!(refused, [0x69, 0x82], "before the approval");
    card.set_device_approval(true).unwrap();
    let read = read_certificate(&mut card);
    assert_eq!(read[read.len() - 2..], [0x90, 0x00], "after the approval");
    card.set_device_approval(false).unwrap();
    assert_eq!(
        read_certificate(&mut card),
        [0x69, 0x82],
        "approval withdrawn"
    );
    // A card has no such screen.
    let plastic = CardDescription::from_yaml_str(
        r#"
person: { name: "携帯　花子", kana: "ケイタイ ハナコ", birth_date: 1980-05-10, sex: female,
          address: "東京都千代田区霞が関一丁目1番1号", my_number: "500000000011" }
card: { issued: 2022-04-01 }
"#,
        "card-test",
    )
    .unwrap();
    let mut plastic = Card::from_description(&plastic, TestPki::load().unwrap()).unwrap();
    assert!(plastic.set_device_approval(true).is_err());
}

#[test]
fn a_phone_is_never_attested_by_the_reader() {
    let description = registry("with_card", "2030-01-01");
    let oqs = service(&description);
    let phone = credential(&description, Some(PhoneKind::Android));
    for declared in [Some(PhoneKind::Android), None] {
        let request = CheckRequest {
            identity: IdentityMethod::Face,
            challenge: None,
            certificate: phone.certificate.clone(),
            signature: None,
            facility_code: FACILITY.into(),
            date: d("2025-10-06"),
            time: None,
            consent: ConsentChoices::default(),
            arbitrary_file_identifier: None,
            character_code: Default::default(),
            smartphone: declared,
        };
        let answer = oqs.check(&request);
        assert_eq!(answer.outcome, Outcome::RequestInvalid, "{declared:?}");
        assert!(
            Oqs::describe_refusal(&request, answer.outcome).contains("challenge and signature"),
            "{declared:?}"
        );
    }
}

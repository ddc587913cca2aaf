//! The check against the clinic fixture registry, with certificates issued by the real test CA
//! and challenges signed with the committed pool keys: every rule with the dates on both sides
//! of its boundary, every proof-of-possession failure, consent and the record of calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::date as d;
use myna_hil::oqs::description::RegistryDescription;
use myna_hil::oqs::message::{
    CheckRequest, CheckResponse, ConsentChoices, ConsentMode, IdentityMethod, InsuranceCardRequest,
};
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{CallKind, Oqs, OqsConfig};
use myna_hil::oqs::Outcome;
use myna_hil::person::Person;
use myna_hil::pki::{pool_key, CertificateKind, CertificateRequest, TestPki};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::Sha256;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/registry/clinic.yaml");
const FACILITY: &str = "1312345678";

struct World {
    oqs: Oqs,
    description: RegistryDescription,
}

fn world() -> World {
    let description = RegistryDescription::from_file(FIXTURE.as_ref()).unwrap();
    let registry = Registry::from_description(FIXTURE, &description).unwrap();
    let oqs = Oqs::new(
        registry,
        OqsConfig {
            challenge_seed: Some(7),
            ..OqsConfig::default()
        },
    )
    .unwrap();
    World { oqs, description }
}

/// A card of `id` whose authentication certificate is valid `from`..=`until`.
struct TestCard {
    certificate: Vec<u8>,
    key: RsaPrivateKey,
}

impl World {
    fn person(&self, id: &str) -> Person {
        self.description
            .persons
            .iter()
            .find(|p| p.id.value == id)
            .unwrap()
            .person
            .clone()
    }

    fn card(&self, id: &str, from: &str, until: &str) -> TestCard {
        let key = pool_key(3).unwrap();
        let person = self.person(id);
        let certificate = TestPki::load()
            .unwrap()
            .issue(&CertificateRequest {
                kind: CertificateKind::Authentication,
                holder: &person,
                subject_key: &key.to_public_key(),
                not_before: d(from),
                not_after: d(until),
            })
            .unwrap();
        TestCard { certificate, key }
    }

    fn request(&self, card: &TestCard, date: &str, consent: ConsentChoices) -> CheckRequest {
        let challenge = self.oqs.issue_challenge();
        let signature = SigningKey::<Sha256>::new(card.key.clone())
            .sign(&challenge)
            .to_vec();
        CheckRequest {
            identity: IdentityMethod::Pin,
            challenge: Some(challenge),
            certificate: card.certificate.clone(),
            signature: Some(signature),
            facility_code: FACILITY.into(),
            date: d(date),
            time: None,
            consent,
            arbitrary_file_identifier: None,
            character_code: Default::default(),
            smartphone: None,
        }
    }

    /// A face / 目視 request: the certificate and the reader's attestation, nothing signed.
    fn attested(&self, card: &TestCard, date: &str, identity: IdentityMethod) -> CheckRequest {
        CheckRequest {
            identity,
            challenge: None,
            certificate: card.certificate.clone(),
            signature: None,
            facility_code: FACILITY.into(),
            date: d(date),
            time: None,
            consent: ConsentChoices::default(),
            arbitrary_file_identifier: None,
            character_code: Default::default(),
            smartphone: None,
        }
    }

    fn check(&self, card: &TestCard, date: &str) -> CheckResponse {
        self.oqs
            .check(&self.request(card, date, ConsentChoices::default()))
    }

    fn check_with(&self, card: &TestCard, date: &str, consent: ConsentChoices) -> CheckResponse {
        self.oqs.check(&self.request(card, date, consent))
    }
}

fn validity(response: &CheckResponse) -> &str {
    assert_eq!(response.outcome, Outcome::Answered, "{response:#?}");
    response.body.qualification_validity.unwrap().code()
}

fn insurers(response: &CheckResponse) -> Vec<&str> {
    response
        .body
        .result_list
        .iter()
        .map(|r| r.insurer_number.as_str())
        .collect()
}

#[test]
fn an_ordinary_registered_card_answers_valid_with_the_interface_fields() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    let response = world.check(&card, "2025-04-01");
    assert_eq!(validity(&response), "1");
    assert_eq!(response.header.segment_of_result, "1");
    assert_eq!(response.header.reference_classification, "1");
    assert_eq!(response.header.qualification_confirmation_date, "20250401");
    assert_eq!(response.header.medical_institution_code, FACILITY);
    assert_eq!(response.body.processing_result_status, "1");
    let result = &response.body.result_list[0];
    assert_eq!(result.insurer_number, "01130012");
    assert_eq!(result.insured_card_symbol.as_deref(), Some("12345678"));
    assert_eq!(result.insured_identification_number, "1234");
    assert_eq!(result.insured_branch_number, "01");
    assert_eq!(result.name, "試験\u{3000}太郎");
    assert_eq!(
        result.name_kana, "ｼｹﾝ ﾀﾛｳ",
        "half-width katakana (docs/spec/oqs-xml.md §4.3)"
    );
    assert_eq!(result.sex1, "1");
    assert_eq!(result.birthdate, "19800510");
    // Under 70: no ratio element (docs/spec/oqs-xml.md §34); EMRs apply 3割 by law.
    assert_eq!(result.insured_partial_contribution_ratio, None);
    assert_eq!(result.burden_percent(), Some(30));
    assert_eq!(result.personal_family_classification, "1");
    assert_eq!(result.insured_card_classification, "01");
    assert_eq!(result.qualification_date, "20150401");
    assert_eq!(result.disqualification_date, None);
    assert_eq!(result.post_number.as_deref(), Some("100-8916"));
}

#[test]
fn certificate_validity_grace_and_expiry_follow_the_dates() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2025-02-10");
    assert_eq!(
        world.check(&card, "2022-03-31").outcome,
        Outcome::CertificateNotYetValid
    );
    let all = ConsentChoices {
        medical_treatment: true,
        medication: true,
        ..ConsentChoices::default()
    };

    let last_valid = world.check_with(&card, "2025-02-10", all);
    assert_eq!(validity(&last_valid), "1");
    assert!(!last_valid.certificate_in_grace);
    assert!(last_valid.renewal_notice);
    assert_eq!(
        last_valid.body.result_list[0]
            .diagnosis_info_cons_flg
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        last_valid.body.result_list[0]
            .pharmacists_info_cons_flg
            .as_deref(),
        Some("1")
    );

    let first_grace = world.check_with(&card, "2025-02-11", all);
    assert_eq!(validity(&first_grace), "1");
    assert!(first_grace.certificate_in_grace);
    // Grace: qualification data only, no 診療/薬剤 information.
    assert_eq!(
        first_grace.body.result_list[0].diagnosis_info_cons_flg,
        None
    );
    assert_eq!(
        first_grace.body.result_list[0].pharmacists_info_cons_flg,
        None
    );
    assert_eq!(first_grace.body.result_list[0].insurer_number, "01130012");

    assert!(world.check(&card, "2025-05-31").certificate_in_grace);
    assert_eq!(
        world.check(&card, "2025-06-01").outcome,
        Outcome::CertificateExpired
    );
}

#[test]
fn the_three_month_grace_option_ends_earlier() {
    let mut description = RegistryDescription::from_file(FIXTURE.as_ref()).unwrap();
    description.options.grace = myna_hil::oqs::description::GraceRule::ThreeMonthsFromExpiryDate;
    let registry = Registry::from_description(FIXTURE, &description).unwrap();
    let world = World {
        oqs: Oqs::new(registry, OqsConfig::default()).unwrap(),
        description,
    };
    let card = world.card("taro", "2022-04-01", "2025-02-10");
    assert!(world.check(&card, "2025-05-10").certificate_in_grace);
    assert_eq!(
        world.check(&card, "2025-05-11").outcome,
        Outcome::CertificateExpired
    );
}

#[test]
fn a_revoked_certificate_is_refused_from_the_revocation_day() {
    let world = world();
    let card = world.card("saburo", "2021-06-01", "2026-03-03");
    assert_eq!(validity(&world.check(&card, "2025-01-31")), "1");
    let refused = world.check(&card, "2025-02-01");
    assert_eq!(refused.outcome, Outcome::CertificateRevoked);
    assert_eq!(refused.body.processing_result_status, "2");
    assert_eq!(refused.body.qualification_validity, None);
    assert!(refused.body.result_list.is_empty());
}

#[test]
fn an_unregistered_card_registers_unless_jlis_is_down() {
    let world = world();
    let card = world.card("jiro", "2023-01-10", "2028-01-15");
    assert_eq!(
        world.check(&card, "2025-01-09").outcome,
        Outcome::CardNotRegistered
    );
    // 2025-01-10..12 is a J-LIS outage in the fixture.
    let blocked =
        world
            .oqs
            .register(&world.request(&card, "2025-01-12", ConsentChoices::default()));
    assert_eq!(blocked.outcome, Outcome::JlisUnavailable);
    assert_eq!(
        world.check(&card, "2025-01-12").outcome,
        Outcome::CardNotRegistered
    );
    let registered =
        world
            .oqs
            .register(&world.request(&card, "2025-01-13", ConsentChoices::default()));
    assert_eq!(registered.outcome, Outcome::Registered);
    assert_eq!(validity(&world.check(&card, "2025-01-13")), "1");
}

#[test]
fn a_certificate_unknown_to_the_registry_is_not_registered() {
    let world = world();
    // Taro's registry entry names a certificate issued 2022-04-01, not 2024-01-01.
    let other = world.card("taro", "2024-01-01", "2029-05-10");
    assert_eq!(
        world.check(&other, "2025-04-01").outcome,
        Outcome::CardNotRegistered
    );
}

#[test]
fn the_first_use_after_renewal_relinks_unless_jlis_is_down() {
    let world = world();
    let renewed = world.card("shiro", "2025-01-05", "2030-12-24");
    assert_eq!(
        world.check(&renewed, "2025-01-12").outcome,
        Outcome::JlisUnavailable
    );
    assert_eq!(validity(&world.check(&renewed, "2025-01-13")), "1");
    // Once re-linked it works even while J-LIS is down.
    world.oqs.set_jlis_available(false);
    assert_eq!(validity(&world.check(&renewed, "2025-01-14")), "1");
}

#[test]
fn jlis_can_be_taken_down_at_run_time() {
    let world = world();
    let renewed = world.card("shiro", "2025-01-05", "2030-12-24");
    world.oqs.set_jlis_available(false);
    assert_eq!(
        world.check(&renewed, "2025-02-01").outcome,
        Outcome::JlisUnavailable
    );
    world.oqs.set_jlis_available(true);
    assert_eq!(validity(&world.check(&renewed, "2025-02-01")), "1");
}

#[test]
fn cancelled_registration_and_dv_protection_are_refused() {
    let world = world();
    let nana = world.card("nana", "2022-05-05", "2027-05-05");
    assert_eq!(
        world.check(&nana, "2025-04-01").outcome,
        Outcome::RegistrationCancelledOnRequest
    );
    let protected = world.card("protected", "2022-09-01", "2027-11-11");
    assert_eq!(
        world.check(&protected, "2025-04-01").outcome,
        Outcome::SelfInformationBlocked
    );
}

#[test]
fn a_wrong_link_shows_the_other_record_until_the_block_of_2024_05() {
    let world = world();
    let goros_card = world.card("goro", "2022-03-15", "2027-06-06");
    let before = world.check(&goros_card, "2024-04-30");
    assert_eq!(validity(&before), "1");
    assert_eq!(before.body.result_list[0].name, "誤登録\u{3000}紀子");
    assert_eq!(
        world.check(&goros_card, "2024-05-01").outcome,
        Outcome::RecordBlocked
    );
}

#[test]
fn a_job_change_answers_the_lost_record_until_the_new_insurer_registers() {
    let world = world();
    let card = world.card("hanako", "2021-10-01", "2026-08-20");
    let before = world.check(&card, "2025-03-31");
    assert_eq!(validity(&before), "1");
    assert_eq!(insurers(&before), ["06139999"]);
    // 不開示該当: no address, no post number.
    assert_eq!(before.body.result_list[0].address, None);
    assert_eq!(before.body.result_list[0].post_number, None);
    // Lost to another insurance that is not registered yet (lag 5 days): the old record is
    // still there, lost — 無効 (2) with its 資格喪失日 and ReasonOfLoss, not 4 (no record).
    let lag_start = world.check(&card, "2025-04-01");
    assert_eq!(validity(&lag_start), "2");
    let lost = &lag_start.body.result_list[0];
    assert_eq!(lost.disqualification_date.as_deref(), Some("20250401"));
    assert_eq!(lost.reason_of_loss.as_deref(), Some("03"));
    assert_eq!(validity(&world.check(&card, "2025-04-05")), "2");
    let registered = world.check(&card, "2025-04-06");
    assert_eq!(validity(&registered), "1");
    assert_eq!(insurers(&registered), ["01130012"]);
}

#[test]
fn the_old_insurance_card_is_invalid_then_invalid_with_a_new_qualification() {
    let world = world();
    let lookup = |date: &str| {
        world.oqs.lookup_by_insurance_card(&InsuranceCardRequest {
            insurer_number: "06139999".into(),
            symbol: "7".into(),
            number: "5501".into(),
            branch: "00".into(),
            birth_date: d("1990-08-20"),
            facility_code: FACILITY.into(),
            date: d(date),
            time: None,
            arbitrary_file_identifier: None,
            character_code: Default::default(),
            limit_consent: true,
            echo: None,
        })
    };
    let before = lookup("2025-03-31");
    assert_eq!(validity(&before), "1");
    assert_eq!(before.header.reference_classification, "2");
    let lost = lookup("2025-04-01");
    assert_eq!(validity(&lost), "2");
    assert_eq!(
        lost.body.result_list[0].reason_of_loss.as_deref(),
        Some("03")
    );
    assert_eq!(
        lost.body.result_list[0].disqualification_date.as_deref(),
        Some("20250401")
    );
    assert_eq!(validity(&lookup("2025-04-05")), "2");
    assert_eq!(validity(&lookup("2025-04-06")), "3");
}

#[test]
fn the_insurance_card_path_needs_the_right_birth_date() {
    let world = world();
    let request = InsuranceCardRequest {
        insurer_number: "01130012".into(),
        symbol: "12345678".into(),
        number: "1234".into(),
        branch: "01".into(),
        birth_date: d("1980-05-11"),
        facility_code: FACILITY.into(),
        date: d("2025-04-01"),
        time: None,
        arbitrary_file_identifier: None,
        character_code: Default::default(),
        limit_consent: true,
        echo: None,
    };
    assert_eq!(validity(&world.oqs.lookup_by_insurance_card(&request)), "4");
    let right = InsuranceCardRequest {
        birth_date: d("1980-05-10"),
        ..request
    };
    assert_eq!(validity(&world.oqs.lookup_by_insurance_card(&right)), "1");
}

#[test]
fn death_ends_the_qualification_with_reason_01() {
    let world = world();
    let card = world.card("rokuro", "2020-08-01", "2025-07-07");
    assert_eq!(validity(&world.check(&card, "2025-02-28")), "1");
    let after = world.check(&card, "2025-03-01");
    assert_eq!(validity(&after), "2");
    assert_eq!(
        after.body.result_list[0].reason_of_loss.as_deref(),
        Some("01")
    );
}

#[test]
fn two_qualifications_in_force_answer_multiple() {
    let world = world();
    let card = world.card("hachiro", "2022-08-08", "2027-08-08");
    let response = world.check(&card, "2025-04-01");
    assert_eq!(validity(&response), "5");
    assert_eq!(insurers(&response), ["01130012", "06139999"]);
}

#[test]
fn turning_75_moves_to_the_late_elderly_insurer_with_two_tenths() {
    let world = world();
    let card = world.card("ume", "2021-05-10", "2026-05-10");
    let before = world.check(&card, "2024-05-09");
    assert_eq!(insurers(&before), ["01130012"]);
    // 74 under 社保: the ratio is on the 高齢受給者証 (§33), not InsuredPartialContributionRatio.
    let before = &before.body.result_list[0];
    assert_eq!(before.insured_partial_contribution_ratio, None);
    let elderly = before.elderly_recipient_certificate_info.as_ref().unwrap();
    assert_eq!(elderly.elderly_recipient_contribution_ratio, "020");
    let after = world.check(&card, "2024-05-10");
    assert_eq!(insurers(&after), ["39131015"]);
    let result = &after.body.result_list[0];
    // 後期高齢者: InsuredPartialContributionRatio and no 高齢受給者証 (§31, §32).
    assert_eq!(
        result.insured_partial_contribution_ratio.as_deref(),
        Some("020")
    );
    assert_eq!(result.insured_card_symbol, None);
    assert_eq!(result.elderly_recipient_certificate_info, None);
}

#[test]
fn a_preschool_family_member_pays_two_tenths_until_school_entry() {
    let world = world();
    let card = world.card("mei", "2023-04-03", "2028-04-02");
    let before = world.check(&card, "2025-03-31");
    let result = &before.body.result_list[0];
    assert_eq!(result.insured_partial_contribution_ratio, None);
    assert_eq!(result.burden_percent(), Some(20));
    assert_eq!(result.preschool_classification.as_deref(), Some("1"));
    assert_eq!(result.personal_family_classification, "2");
    assert_eq!(result.insured_branch_number, "02");
    let after = world.check(&card, "2025-04-01");
    assert_eq!(after.body.result_list[0].burden_percent(), Some(30));
    assert_eq!(after.body.result_list[0].preschool_classification, None);
}

#[test]
fn limit_information_needs_consent_until_2024_10_06_and_is_statutory_from_2024_10_07() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    let refused = world.check(&card, "2024-10-06");
    let result = &refused.body.result_list[0];
    assert_eq!(
        result
            .limit_application_certificate_related_cons_flg
            .as_deref(),
        Some("0")
    );
    assert_eq!(result.limit_application_certificate_related_info, None);

    let consented = world.check_with(
        &card,
        "2024-10-06",
        ConsentChoices {
            limit_amount: true,
            ..ConsentChoices::default()
        },
    );
    let result = &consented.body.result_list[0];
    assert_eq!(
        result
            .limit_application_certificate_related_cons_flg
            .as_deref(),
        Some("1")
    );
    let info = result
        .limit_application_certificate_related_info
        .as_ref()
        .unwrap();
    assert_eq!(info.limit_application_certificate_classification, "01");
    assert_eq!(
        info.limit_application_certificate_classification_flag,
        "A03"
    );

    let statutory = world.check(&card, "2024-10-07");
    let result = &statutory.body.result_list[0];
    assert_eq!(
        result
            .limit_application_certificate_related_cons_flg
            .as_deref(),
        Some("1")
    );
    assert!(result.limit_application_certificate_related_info.is_some());
}

#[test]
fn comprehensive_consent_exists_from_2024_10_07_and_individual_consent_is_per_screen() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    let comprehensive = ConsentChoices {
        mode: ConsentMode::Comprehensive,
        ..ConsentChoices::default()
    };
    assert_eq!(
        world.check_with(&card, "2024-10-06", comprehensive).outcome,
        Outcome::RequestInvalid
    );
    let all = world.check_with(&card, "2024-10-07", comprehensive);
    let result = &all.body.result_list[0];
    for flag in [
        &result.diagnosis_info_cons_flg,
        &result.pharmacists_info_cons_flg,
        &result.specific_health_checkups_info_cons_flg,
        &result.operation_info_cons_flg,
    ] {
        assert_eq!(flag.as_deref(), Some("1"));
    }
    let medication_only = world.check_with(
        &card,
        "2024-10-07",
        ConsentChoices {
            medication: true,
            ..ConsentChoices::default()
        },
    );
    let result = &medication_only.body.result_list[0];
    assert_eq!(result.pharmacists_info_cons_flg.as_deref(), Some("1"));
    assert_eq!(result.diagnosis_info_cons_flg.as_deref(), Some("0"));
    assert_eq!(result.operation_info_cons_flg.as_deref(), Some("0"));
}

#[test]
fn each_proof_of_possession_failure_has_its_own_outcome() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");

    let request = world.request(&card, "2025-04-01", ConsentChoices::default());
    assert_eq!(world.oqs.check(&request).outcome, Outcome::Answered);
    assert_eq!(
        world.oqs.check(&request).outcome,
        Outcome::ChallengeUnknown,
        "a challenge is single-use"
    );

    let mut never_issued = world.request(&card, "2025-04-01", ConsentChoices::default());
    never_issued.challenge = Some(vec![0x55; 32]);
    assert_eq!(
        world.oqs.check(&never_issued).outcome,
        Outcome::ChallengeUnknown
    );

    let mut wrong_key = world.request(&card, "2025-04-01", ConsentChoices::default());
    wrong_key.signature = Some(
        SigningKey::<Sha256>::new(pool_key(4).unwrap())
            .sign(wrong_key.challenge.as_deref().unwrap())
            .to_vec(),
    );
    assert_eq!(
        world.oqs.check(&wrong_key).outcome,
        Outcome::SignatureInvalid
    );

    let mut short = world.request(&card, "2025-04-01", ConsentChoices::default());
    short.signature.as_mut().unwrap().truncate(100);
    assert_eq!(world.oqs.check(&short).outcome, Outcome::SignatureMalformed);

    let mut garbage = world.request(&card, "2025-04-01", ConsentChoices::default());
    garbage.certificate = b"not a certificate".to_vec();
    assert_eq!(
        world.oqs.check(&garbage).outcome,
        Outcome::CertificateMalformed
    );

    // A certificate of the signing CA is not an authentication certificate.
    let key = pool_key(3).unwrap();
    let signing = TestPki::load()
        .unwrap()
        .issue(&CertificateRequest {
            kind: CertificateKind::Signing,
            holder: &world.person("taro"),
            subject_key: &key.to_public_key(),
            not_before: d("2022-04-01"),
            not_after: d("2027-05-10"),
        })
        .unwrap();
    let mut untrusted = world.request(&card, "2025-04-01", ConsentChoices::default());
    untrusted.certificate = signing;
    assert_eq!(
        world.oqs.check(&untrusted).outcome,
        Outcome::CertificateUntrusted
    );

    let mut bad_facility = world.request(&card, "2025-04-01", ConsentChoices::default());
    bad_facility.facility_code = "131234567".into();
    let refused = world.oqs.check(&bad_facility);
    assert_eq!(refused.outcome, Outcome::RequestInvalid);
    assert_eq!(refused.header.segment_of_result, "9");
}

#[test]
fn the_service_records_the_calls_it_received() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    world.check(&card, "2025-04-01");
    let revoked = world.card("saburo", "2021-06-01", "2026-03-03");
    world.check(&revoked, "2025-02-01");
    let calls = world.oqs.calls();
    let kinds: Vec<CallKind> = calls.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            CallKind::Challenge,
            CallKind::Check,
            CallKind::Challenge,
            CallKind::Check
        ]
    );
    assert_eq!(calls[1].outcome, Some(Outcome::Answered));
    assert_eq!(calls[1].facility_code.as_deref(), Some(FACILITY));
    assert_eq!(calls[1].date, Some(d("2025-04-01")));
    let taro_serial = myna_hil::pki::certificate_serial(
        CertificateKind::Authentication,
        &world.person("taro").my_number,
        d("2022-04-01"),
    );
    assert_eq!(calls[1].certificate_serial, Some(taro_serial));
    assert_eq!(calls[1].identity, Some(IdentityMethod::Pin));
    assert_eq!(
        calls[0].identity, None,
        "a challenge has no identity method"
    );
    assert_eq!(calls[3].outcome, Some(Outcome::CertificateRevoked));
}

#[test]
fn result_codes_are_configured_per_outcome() {
    let mut description = RegistryDescription::from_file(FIXTURE.as_ref()).unwrap();
    let codes: RegistryDescription = RegistryDescription::from_yaml(
        "inline",
        "options:\n  result_codes:\n    certificate_revoked:\n      processing_result_code: \"EQ01\"\n      error_code: \"E006\"\n      error_message: \"失効\"\n",
    )
    .unwrap();
    description.options.result_codes = codes.options.result_codes;
    let registry = Registry::from_description(FIXTURE, &description).unwrap();
    let world = World {
        oqs: Oqs::new(registry, OqsConfig::default()).unwrap(),
        description,
    };
    let card = world.card("saburo", "2021-06-01", "2026-03-03");
    let refused = world.check(&card, "2025-02-01");
    assert_eq!(refused.body.processing_result_code.as_deref(), Some("EQ01"));
    assert_eq!(refused.header.error_code.as_deref(), Some("E006"));
    assert_eq!(refused.header.error_message.as_deref(), Some("失効"));
    // Outcomes without configured codes carry none.
    let taro = world.card("taro", "2022-04-01", "2027-05-10");
    assert_eq!(
        world.check(&taro, "2025-04-01").body.processing_result_code,
        None
    );
}

fn world_with(change: impl FnOnce(&mut RegistryDescription)) -> World {
    let mut description = RegistryDescription::from_file(FIXTURE.as_ref()).unwrap();
    change(&mut description);
    let registry = Registry::from_description(FIXTURE, &description).unwrap();
    World {
        oqs: Oqs::new(registry, OqsConfig::default()).unwrap(),
        description,
    }
}

fn taros_card(
    description: &mut RegistryDescription,
) -> &mut myna_hil::oqs::description::CardLinkDescription {
    let taro = description
        .persons
        .iter_mut()
        .find(|p| p.id.value == "taro")
        .unwrap();
    &mut taro.cards[0]
}

#[test]
fn a_registration_counts_from_its_day() {
    let world =
        world_with(|description| taros_card(description).registered_on = Some(d("2024-06-01")));
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    assert_eq!(
        world.check(&card, "2024-05-31").outcome,
        Outcome::CardNotRegistered
    );
    assert_eq!(validity(&world.check(&card, "2024-06-01")), "1");
}

#[test]
fn a_registration_cancelled_after_grace_is_refused() {
    use myna_hil::oqs::description::LinkState;
    let world =
        world_with(|description| taros_card(description).link = LinkState::CancelledAfterGrace);
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    assert_eq!(
        world.check(&card, "2025-04-01").outcome,
        Outcome::RegistrationCancelledAfterGrace
    );
    // Registering the same (old) certificate again is refused too: a renewal is needed.
    let again = world
        .oqs
        .register(&world.request(&card, "2025-04-01", ConsentChoices::default()));
    assert_eq!(again.outcome, Outcome::RegistrationCancelledAfterGrace);
}

#[test]
fn a_person_blocked_by_a_jlis_mismatch_is_blocked_from_2024_05() {
    let world = world_with(|description| {
        let taro = description
            .persons
            .iter_mut()
            .find(|p| p.id.value == "taro")
            .unwrap();
        taro.flags.jlis_mismatch = true;
    });
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    assert_eq!(validity(&world.check(&card, "2024-04-30")), "1");
    assert_eq!(
        world.check(&card, "2024-05-01").outcome,
        Outcome::RecordBlocked
    );
}

#[test]
fn a_burden_ratio_override_in_the_registry_wins_over_the_age_rule() {
    let world = world_with(|description| {
        let ume = description
            .persons
            .iter_mut()
            .find(|p| p.id.value == "ume")
            .unwrap();
        ume.qualifications[1].burden_percent = Some(10);
    });
    let card = world.card("ume", "2021-05-10", "2026-05-10");
    let response = world.check(&card, "2025-04-01");
    assert_eq!(
        response.body.result_list[0]
            .insured_partial_contribution_ratio
            .as_deref(),
        Some("010")
    );
}

#[test]
fn a_pin_request_without_a_signature_is_refused_as_malformed() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    let unsigned = world.attested(&card, "2025-04-01", IdentityMethod::Pin);
    let refused = world.oqs.check(&unsigned);
    assert_eq!(refused.outcome, Outcome::RequestInvalid);
    assert_eq!(refused.header.segment_of_result, "9");
    assert!(refused.body.result_list.is_empty());
    assert!(Oqs::describe_refusal(&unsigned, refused.outcome).contains("signature"));
    // A challenge alone is no proof either.
    let mut challenge_only = unsigned.clone();
    challenge_only.challenge = Some(world.oqs.issue_challenge());
    assert_eq!(
        world.oqs.check(&challenge_only).outcome,
        Outcome::RequestInvalid
    );
    // Requests written before the method existed are PIN requests.
    let mut signed = world.request(&card, "2025-04-01", ConsentChoices::default());
    let json = serde_json::to_value(&signed).unwrap();
    assert_eq!(json["identity"], "pin");
    let mut old_form = json.clone();
    old_form.as_object_mut().unwrap().remove("identity");
    signed = serde_json::from_value(old_form).unwrap();
    assert_eq!(signed.identity, IdentityMethod::Pin);
    assert_eq!(world.oqs.check(&signed).outcome, Outcome::Answered);
}

#[test]
fn a_face_request_without_a_signature_is_answered_and_recorded_with_its_method() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");
    let response = world
        .oqs
        .check(&world.attested(&card, "2025-04-01", IdentityMethod::Face));
    assert_eq!(validity(&response), "1");
    assert_eq!(insurers(&response), ["01130012"]);
    assert_eq!(response.body.result_list[0].name, "試験\u{3000}太郎");
    let visual = world
        .oqs
        .check(&world.attested(&card, "2025-04-01", IdentityMethod::Visual));
    assert_eq!(validity(&visual), "1");

    let calls = world.oqs.calls();
    let seen: Vec<(CallKind, Option<IdentityMethod>, Option<Outcome>)> = calls
        .iter()
        .map(|c| (c.kind, c.identity, c.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            (
                CallKind::Check,
                Some(IdentityMethod::Face),
                Some(Outcome::Answered)
            ),
            (
                CallKind::Check,
                Some(IdentityMethod::Visual),
                Some(Outcome::Answered)
            ),
        ],
        "no challenge was asked for"
    );
    let taro_serial = myna_hil::pki::certificate_serial(
        CertificateKind::Authentication,
        &world.person("taro").my_number,
        d("2022-04-01"),
    );
    assert_eq!(calls[0].certificate_serial, Some(taro_serial));
    let json = serde_json::to_value(&calls[0]).unwrap();
    assert_eq!(json["identity"], "face");
}

#[test]
fn a_face_request_that_carries_a_signature_has_it_verified() {
    let world = world();
    let card = world.card("taro", "2022-04-01", "2027-05-10");

    let mut good = world.request(&card, "2025-04-01", ConsentChoices::default());
    good.identity = IdentityMethod::Face;
    assert_eq!(world.oqs.check(&good).outcome, Outcome::Answered);

    let mut wrong_key = world.request(&card, "2025-04-01", ConsentChoices::default());
    wrong_key.identity = IdentityMethod::Face;
    wrong_key.signature = Some(
        SigningKey::<Sha256>::new(pool_key(4).unwrap())
            .sign(wrong_key.challenge.as_deref().unwrap())
            .to_vec(),
    );
    let refused = world.oqs.check(&wrong_key);
    assert_eq!(refused.outcome, Outcome::SignatureInvalid);
    assert!(refused.body.result_list.is_empty());

    let mut replayed = good.clone();
    replayed.identity = IdentityMethod::Visual;
    assert_eq!(
        world.oqs.check(&replayed).outcome,
        Outcome::ChallengeUnknown,
        "the challenge of a signed face request is single-use too"
    );

    let mut signature_without_challenge = world.attested(&card, "2025-04-01", IdentityMethod::Face);
    signature_without_challenge.signature = good.signature.clone();
    assert_eq!(
        world.oqs.check(&signature_without_challenge).outcome,
        Outcome::RequestInvalid
    );

    let identities: Vec<Option<IdentityMethod>> = world
        .oqs
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Check)
        .map(|c| c.identity)
        .collect();
    assert_eq!(
        identities,
        [
            Some(IdentityMethod::Face),
            Some(IdentityMethod::Face),
            Some(IdentityMethod::Visual),
            Some(IdentityMethod::Face)
        ]
    );
}

#[test]
fn a_visual_request_on_a_revoked_certificate_is_refused_with_the_revocation() {
    let world = world();
    let card = world.card("saburo", "2021-06-01", "2026-03-03");
    let before = world
        .oqs
        .check(&world.attested(&card, "2025-01-31", IdentityMethod::Visual));
    assert_eq!(validity(&before), "1");
    let refused = world
        .oqs
        .check(&world.attested(&card, "2025-02-01", IdentityMethod::Visual));
    assert_eq!(refused.outcome, Outcome::CertificateRevoked);
    assert_eq!(refused.body.processing_result_status, "2");
    assert!(refused.body.result_list.is_empty());
    let last = world.oqs.calls().pop().unwrap();
    assert_eq!(last.identity, Some(IdentityMethod::Visual));
    assert_eq!(last.outcome, Some(Outcome::CertificateRevoked));
}

#[test]
fn face_and_visual_requests_meet_every_rule_a_pin_request_meets() {
    let world = world();
    let attested =
        |card: &TestCard, date: &str, method| world.oqs.check(&world.attested(card, date, method));
    for method in [IdentityMethod::Face, IdentityMethod::Visual] {
        let short = world.card("taro", "2022-04-01", "2025-02-10");
        assert_eq!(
            attested(&short, "2022-03-31", method).outcome,
            Outcome::CertificateNotYetValid
        );
        let grace = attested(&short, "2025-02-11", method);
        assert_eq!(validity(&grace), "1");
        assert!(grace.certificate_in_grace);
        assert_eq!(
            attested(&short, "2025-06-01", method).outcome,
            Outcome::CertificateExpired
        );
        let jiro = world.card("jiro", "2023-01-10", "2028-01-15");
        assert_eq!(
            attested(&jiro, "2025-01-09", method).outcome,
            Outcome::CardNotRegistered
        );
        let nana = world.card("nana", "2022-05-05", "2027-05-05");
        assert_eq!(
            attested(&nana, "2025-04-01", method).outcome,
            Outcome::RegistrationCancelledOnRequest
        );
        let protected = world.card("protected", "2022-09-01", "2027-11-11");
        assert_eq!(
            attested(&protected, "2025-04-01", method).outcome,
            Outcome::SelfInformationBlocked
        );
        let goros_card = world.card("goro", "2022-03-15", "2027-06-06");
        assert_eq!(
            attested(&goros_card, "2024-05-01", method).outcome,
            Outcome::RecordBlocked
        );
        let signing = TestPki::load()
            .unwrap()
            .issue(&CertificateRequest {
                kind: CertificateKind::Signing,
                holder: &world.person("taro"),
                subject_key: &pool_key(3).unwrap().to_public_key(),
                not_before: d("2022-04-01"),
                not_after: d("2027-05-10"),
            })
            .unwrap();
        let untrusted = TestCard {
            certificate: signing,
            key: pool_key(3).unwrap(),
        };
        assert_eq!(
            attested(&untrusted, "2025-04-01", method).outcome,
            Outcome::CertificateUntrusted
        );
    }
    // The renewed certificate's first use re-links through J-LIS, face or not.
    let renewed = world.card("shiro", "2025-01-05", "2030-12-24");
    assert_eq!(
        attested(&renewed, "2025-01-12", IdentityMethod::Face).outcome,
        Outcome::JlisUnavailable
    );
    assert_eq!(
        validity(&attested(&renewed, "2025-01-13", IdentityMethod::Visual)),
        "1"
    );
}

#[test]
fn a_face_registration_registers_the_card_unless_jlis_is_down() {
    let world = world();
    let card = world.card("jiro", "2023-01-10", "2028-01-15");
    // 2025-01-10..12 is a J-LIS outage in the fixture.
    let blocked = world
        .oqs
        .register(&world.attested(&card, "2025-01-12", IdentityMethod::Face));
    assert_eq!(blocked.outcome, Outcome::JlisUnavailable);
    let registered = world
        .oqs
        .register(&world.attested(&card, "2025-01-13", IdentityMethod::Face));
    assert_eq!(registered.outcome, Outcome::Registered);
    assert_eq!(
        validity(
            &world
                .oqs
                .check(&world.attested(&card, "2025-01-13", IdentityMethod::Face))
        ),
        "1"
    );
    let unsigned_pin =
        world
            .oqs
            .register(&world.attested(&card, "2025-01-13", IdentityMethod::Pin));
    assert_eq!(unsigned_pin.outcome, Outcome::RequestInvalid);

    let seen: Vec<(CallKind, Option<IdentityMethod>, Option<Outcome>)> = world
        .oqs
        .calls()
        .iter()
        .map(|c| (c.kind, c.identity, c.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            (
                CallKind::Register,
                Some(IdentityMethod::Face),
                Some(Outcome::JlisUnavailable)
            ),
            (
                CallKind::Register,
                Some(IdentityMethod::Face),
                Some(Outcome::Registered)
            ),
            (
                CallKind::Check,
                Some(IdentityMethod::Face),
                Some(Outcome::Answered)
            ),
            (
                CallKind::Register,
                Some(IdentityMethod::Pin),
                Some(Outcome::RequestInvalid)
            ),
        ]
    );
}

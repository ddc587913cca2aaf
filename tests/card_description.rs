//! Card files: every fixture parses and builds; errors name the file, line, column or field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::card::*;
use chrono::NaiveDate;
use myna_hil::card::{Card, CardDescription, DescriptionError, Profile};
use myna_hil::pki::TestPki;

const PERSON: &str = "person:\n  name: \"試験\u{3000}一郎\"\n  kana: \"シケン イチロウ\"\n  birth_date: 1980-05-10\n  sex: male\n  address: \"東京都\"\n  my_number: \"123456789018\"\n";

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn every_fixture_parses_and_builds() {
    let pki = TestPki::load().expect("pki");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("fixtures/cards") {
        let path = entry.expect("entry").path();
        let description = CardDescription::from_yaml_file(&path).unwrap_or_else(|e| panic!("{e}"));
        Card::from_description(&description, pki)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        count += 1;
    }
    assert!(count >= 4);
}

#[test]
fn minimal_card_file_uses_the_documented_defaults() {
    let description =
        CardDescription::from_yaml_str(&format!("{PERSON}card: {{}}\n"), "minimal.yaml")
            .expect("parses");
    let spec = &description.card;
    assert_eq!(spec.profile, Profile::Standard);
    assert_eq!(spec.issue_date(), date(2024, 4, 1));
    // 10th birthday after issue for an adult (the first is 2024-05-10).
    assert_eq!(spec.expiry_date(&description.person), date(2033, 5, 10));
    // Auth certificate: 5th birthday after issue.
    assert_eq!(
        spec.auth_certificate_validity(&description.person),
        (date(2024, 4, 1), date(2028, 5, 10))
    );
    assert!(spec.has_signing_certificate(&description.person));
}

#[test]
fn certificate_dates_can_be_overridden_and_are_capped_by_card_expiry() {
    let text = format!(
        "{PERSON}card:\n  issued: 2020-01-01\n  expires: 2023-01-01\n  certificates:\n    signing: {{ not_after: 2021-06-30 }}\n"
    );
    let description = CardDescription::from_yaml_str(&text, "dates.yaml").expect("parses");
    let person = &description.person;
    assert_eq!(
        description.card.auth_certificate_validity(person).1,
        date(2023, 1, 1)
    );
    assert_eq!(
        description.card.signing_certificate_validity(person).1,
        date(2021, 6, 30)
    );
}

#[test]
fn minors_get_five_year_cards_and_no_signing_certificate_under_15() {
    let text = "person:\n  name: \"試験\u{3000}小子\"\n  kana: \"シケン ショウコ\"\n  birth_date: 2015-08-01\n  sex: female\n  address: \"東京都\"\n  my_number: \"123456789018\"\ncard: { issued: 2024-04-01 }\n";
    let description = CardDescription::from_yaml_str(text, "child.yaml").expect("parses");
    assert_eq!(
        description.card.expiry_date(&description.person),
        date(2028, 8, 1)
    );
    assert!(!description
        .card
        .has_signing_certificate(&description.person));
    let mut card =
        Card::from_description(&description, TestPki::load().expect("pki")).expect("builds");
    card.power_on();
    send(&mut card, SELECT_JPKI);
    assert_eq!(select_ef(&mut card, 0x0001), 0x6A82);
    assert_eq!(card.pin_counters().signing, None);
}

#[test]
fn syntax_and_shape_errors_carry_file_line_and_column() {
    let text = format!("{PERSON}card:\n  pins:\n    auth: \"12a4\"\n");
    let error = CardDescription::from_yaml_str(&text, "bad_pin.yaml").expect_err("bad PIN");
    match &error {
        DescriptionError::Yaml {
            origin,
            line,
            message,
            ..
        } => {
            assert_eq!(origin, "bad_pin.yaml");
            assert_eq!(*line, 10, "{error}");
            assert!(message.contains("4 ASCII digits"), "{message}");
            assert!(
                !message.contains("12a4"),
                "PIN values are not echoed: {message}"
            );
        }
        other => panic!("expected a located YAML error, got {other}"),
    }
    let text = format!("{PERSON}card:\n  profil: standard\n");
    let error = CardDescription::from_yaml_str(&text, "typo.yaml")
        .expect_err("unknown key")
        .to_string();
    assert!(error.starts_with("typo.yaml:9:"), "{error}");
    assert!(error.contains("profil"), "{error}");
}

#[test]
fn semantic_errors_name_the_field() {
    for (card, field) in [
        ("card: { tries_left: { auth: 4 } }", "card.tries_left.auth"),
        (
            "card: { profile: face_only, pins: { auth: \"1234\" } }",
            "card.pins.auth",
        ),
        ("card: { issued: 1970-01-01 }", "card.issued"),
        (
            "card: { faults: { short_header_read: 4 } }",
            "card.faults.short_header_read",
        ),
        (
            "card: { faults: { latency: { sign_ms: -1 } } }",
            "card.faults.latency.sign_ms",
        ),
        (
            "card: { keys: { auth: 1, signing: 1 } }",
            "card.keys.signing",
        ),
    ] {
        let error =
            CardDescription::from_yaml_str(&format!("{PERSON}{card}\n"), "x.yaml").expect_err(card);
        match error {
            DescriptionError::Invalid {
                field: named,
                origin,
                ..
            } => {
                assert_eq!(named, field);
                assert_eq!(origin, "x.yaml");
            }
            other => panic!("{card}: expected a field error, got {other}"),
        }
    }
}

#[test]
fn missing_file_is_named() {
    let error = CardDescription::from_yaml_file(std::path::Path::new("/nonexistent/card.yaml"))
        .expect_err("missing");
    assert!(error.to_string().contains("/nonexistent/card.yaml"));
}

#[test]
fn relative_dates_count_from_the_serving_day() {
    let text = format!(
        "{PERSON}card:\n  issued: -400d\n  certificates:\n    auth: {{ not_after: +90d }}\n    signing: {{ not_before: 2020-02-02, not_after: 0d }}\n"
    );
    let description = CardDescription::from_yaml_str(&text, "relative.yaml").expect("parses");
    let served = description.on_day(date(2026, 11, 27));
    let person = &served.person;
    assert_eq!(served.card.issue_date(), date(2025, 10, 23));
    assert_eq!(
        served.card.auth_certificate_validity(person),
        (date(2025, 10, 23), date(2027, 2, 25))
    );
    assert_eq!(
        served.card.signing_certificate_validity(person),
        (date(2020, 2, 2), date(2026, 11, 27))
    );
    // Another serving day moves the relative dates only.
    let later = description.on_day(date(2030, 1, 1));
    assert_eq!(later.card.issue_date(), date(2028, 11, 27));
    assert_eq!(
        later.card.signing_certificate_validity(&later.person).0,
        date(2020, 2, 2)
    );
}

#[test]
fn malformed_relative_dates_are_load_errors_with_a_location() {
    for bad in ["-400", "--4d", "+d", "4x", "400000d", "2024-02-30"] {
        let text = format!("{PERSON}card:\n  issued: \"{bad}\"\n");
        let error = CardDescription::from_yaml_str(&text, "bad.yaml").expect_err(bad);
        assert!(
            matches!(error, DescriptionError::Yaml { line: 9, .. }),
            "{bad}: {error}"
        );
    }
}

/// The card the README tells vendors to serve: valid on the serving day and 90 days later,
/// whatever that day is (issue 10 item 8).
#[test]
fn standard_fixture_is_valid_on_any_serving_day_and_ninety_days_after() {
    let pki = TestPki::load().expect("pki");
    let description = description("standard");
    for today in [date(2026, 11, 27), date(2031, 6, 30)] {
        let card = Card::from_description(&description.on_day(today), pki).expect("builds");
        let certificate =
            <x509_cert::Certificate as der::Decode>::from_der(card.auth_certificate_der())
                .expect("certificate");
        let validity = &certificate.tbs_certificate.validity;
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        let seconds =
            |day: NaiveDate| day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as u64;
        assert!(not_before <= seconds(today), "valid from before {today}");
        assert!(
            not_after >= seconds(today + chrono::Duration::days(91)),
            "still valid 90 days after {today}"
        );
    }
}

/// `atr: { type_b: … }` gives the ATR a PC/SC contactless reader builds from the ATQB (PC/SC
/// part 3); the measured contactless ATR comes out byte for byte, and a bad field is named.
#[test]
fn a_type_b_atqb_gives_the_pcsc_contactless_atr() {
    let text = format!(
        "{PERSON}card:\n  atr: {{ type_b: {{ application_data: \"00 00 05 E0\", protocol_info: \"B3 81 A1\", mbli: 0 }} }}\n"
    );
    let description = CardDescription::from_yaml_str(&text, "type_b.yaml").expect("parses");
    let mut card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    assert_eq!(
        card.power_on().unwrap(),
        [0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F]
    );
    let bad = text.replace("\"B3 81 A1\"", "\"B3 81\"");
    let error = CardDescription::from_yaml_str(&bad, "type_b.yaml")
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("type_b.protocol_info"), "{error}");
    assert!(error.contains("type_b.yaml"), "{error}");
}

#[test]
fn padded_reads_fill_a_short_le00_block_and_a_written_description_reads_back() {
    let description = CardDescription::from_yaml_str(
        &format!("{PERSON}card: {{ faults: {{ padded_reads: true }} }}\n"),
        "p.yaml",
    )
    .unwrap();
    assert!(description.card.faults.padded_reads);
    // What `certify --record` and `run --record` write beside a trace (JSON is YAML) loads back
    // as the same card.
    let written = serde_json::to_string_pretty(&description).unwrap();
    assert_eq!(
        CardDescription::from_yaml_str(&written, "written.yaml").unwrap(),
        description
    );
    let mut card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    card.power_on();
    let select = |card: &mut Card, apdu: &[u8]| card.process(apdu).rapdu;
    assert_eq!(
        select(
            &mut card,
            &hex::decode("00A4040C0AD392F000260100000001").unwrap()
        ),
        [0x90, 0x00]
    );
    assert_eq!(
        select(&mut card, &hex::decode("00A4020C02000A").unwrap()),
        [0x90, 0x00]
    );
    // Blocks of 256 until the contents end, then zeros to 256, then 6B 00 past the end.
    let mut offset = 0u16;
    let mut padded = false;
    loop {
        let [p1, p2] = offset.to_be_bytes();
        let answer = card.process(&[0x00, 0xB0, p1, p2, 0x00]).rapdu;
        if answer == [0x6B, 0x00] {
            break;
        }
        assert_eq!(answer.len(), 258, "at {offset}");
        padded |= answer[250..256].iter().all(|b| *b == 0);
        offset += 256;
    }
    assert!(padded && offset >= 512);
}

//! Loading registries: the fixture, errors that name file, line and field, nesting inside a
//! scenario file, and the deterministic synthetic generator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use myna_hil::oqs::description::RegistryDescription;
use myna_hil::oqs::generate::{synthetic_my_number, synthetic_registry};
use myna_hil::oqs::load::LoadError;
use myna_hil::oqs::registry::{Registry, RegistryError};
use myna_hil::pki::{certificate_serial, CertificateKind};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/registry/clinic.yaml");

fn load_text(text: &str) -> Result<Registry, LoadError> {
    let description = RegistryDescription::from_yaml("test.yaml", text)?;
    Ok(Registry::from_description("test.yaml", &description)?)
}

const BASE: &str = r#"
insurers:
  - number: "01130012"
    name: "試験保険者"
persons:
  - id: taro
    person:
      name: "試験　太郎"
      kana: "シケン タロウ"
      birth_date: 1980-05-10
      sex: male
      address: "東京都"
      my_number: "123456789018"
    qualifications:
      - insurer: "01130012"
        number: "1"
        acquired: 2015-04-01
    cards:
      - issued: 2022-04-01
"#;

#[test]
fn the_clinic_fixture_loads() {
    let registry = Registry::load(FIXTURE.as_ref()).unwrap();
    assert_eq!(registry.person_count(), 16);
    assert_eq!(registry.card_count(), 13);
    let taro = registry.person_id("taro").unwrap();
    let serial = certificate_serial(
        CertificateKind::Authentication,
        &"123456789018".parse().unwrap(),
        "2022-04-01".parse().unwrap(),
    );
    assert_eq!(registry.card(serial).unwrap().person, taro);
    assert!(!registry.card(serial).unwrap().mislinked);
    let kiko = registry.person_id("kiko").unwrap();
    let goros_card = certificate_serial(
        CertificateKind::Authentication,
        &"200000000077".parse().unwrap(),
        "2022-03-15".parse().unwrap(),
    );
    let card = registry.card(goros_card).unwrap();
    assert_eq!(card.person, kiko);
    assert!(card.mislinked);
}

#[test]
fn the_base_document_is_valid() {
    assert_eq!(load_text(BASE).unwrap().person_count(), 1);
}

fn error_text(text: &str) -> String {
    load_text(text).unwrap_err().to_string()
}

#[test]
fn an_unknown_field_names_file_line_and_the_field() {
    let message = error_text(&BASE.replace(
        "        acquired: 2015-04-01",
        "        acquired: 2015-04-01\n        aquired_twice: 1",
    ));
    assert!(message.starts_with("test.yaml:18:"), "{message}");
    assert!(message.contains("aquired_twice"), "{message}");
}

#[test]
fn an_unknown_choice_lists_the_valid_ones() {
    let message = error_text(&BASE.replace(
        "      - issued: 2022-04-01",
        "      - issued: 2022-04-01\n        link: registred",
    ));
    assert!(message.starts_with("test.yaml:20:"), "{message}");
    assert!(message.contains("registred"), "{message}");
    assert!(message.contains("relink_needed"), "{message}");
}

#[test]
fn a_bad_my_number_is_refused_at_its_line() {
    let message = error_text(&BASE.replace("123456789018", "123456789010"));
    assert!(message.starts_with("test.yaml:13:"), "{message}");
    assert!(message.contains("check digit"), "{message}");
}

#[test]
fn a_bad_insurer_number_shape_is_refused() {
    let message = error_text(&BASE.replace("  - number: \"01130012\"", "  - number: \"0113001\""));
    assert!(message.starts_with("test.yaml:3:"), "{message}");
    assert!(message.contains("8 ASCII digits"), "{message}");
}

#[test]
fn six_digit_insurer_numbers_load_quoted_unquoted_and_padded() {
    for written in ["\"138016\"", "138016", "\"  138016\"", "\"00138016\""] {
        let text = BASE
            .replace(
                "  - number: \"01130012\"",
                &format!("  - number: {written}"),
            )
            .replace(
                "      - insurer: \"01130012\"",
                "      - insurer: \"138016\"",
            );
        let registry = load_text(&text).unwrap_or_else(|error| panic!("{written}: {error}"));
        assert_eq!(registry.person_count(), 1, "{written}");
    }
}

#[test]
fn a_malformed_insurer_number_names_file_line_and_field() {
    let message = error_text(&BASE.replace(
        "      - insurer: \"01130012\"",
        "      - insurer: \"12345\"",
    ));
    assert!(message.starts_with("test.yaml:15:"), "{message}");
    assert!(message.contains("insurer"), "{message}");
    assert!(message.contains("6"), "{message}");
    let unquoted = error_text(&BASE.replace("  - number: \"01130012\"", "  - number: 06139999"));
    assert!(unquoted.contains("quotes"), "{unquoted}");
}

#[test]
fn an_unknown_insurer_reference_points_at_its_line() {
    let error = load_text(&BASE.replace(
        "      - insurer: \"01130012\"",
        "      - insurer: \"06139999\"",
    ))
    .unwrap_err();
    let LoadError::Registry(RegistryError::Invalid {
        file,
        line,
        field,
        message,
        ..
    }) = error
    else {
        panic!("unexpected error {error}");
    };
    assert_eq!(file, "test.yaml");
    assert_eq!(line, 15);
    assert!(field.contains("qualifications[0]"), "{field}");
    assert!(
        message.contains("06139999") && message.contains("01130012"),
        "{message}"
    );
}

#[test]
fn an_unknown_holder_and_a_duplicate_id_are_refused() {
    let message = error_text(&BASE.replace(
        "      - issued: 2022-04-01",
        "      - issued: 2022-04-01\n        holder: nobody",
    ));
    assert!(
        message.contains("test.yaml:20:") && message.contains("nobody"),
        "{message}"
    );
    let person = &BASE[BASE.find("  - id: taro").unwrap()..];
    let twice = format!("{BASE}{}", person.replace("123456789018", "200000000018"));
    assert!(
        error_text(&twice).contains("used twice"),
        "{}",
        error_text(&twice)
    );
}

#[test]
fn two_cards_with_the_same_holder_and_date_are_refused() {
    let message = error_text(&BASE.replace(
        "      - issued: 2022-04-01",
        "      - issued: 2022-04-01\n      - issued: 2022-04-01",
    ));
    assert!(message.contains("same certificate serial"), "{message}");
}

#[test]
fn a_loss_date_needs_its_reason() {
    let message = error_text(&BASE.replace(
        "        acquired: 2015-04-01",
        "        acquired: 2015-04-01\n        lost: 2020-01-01",
    ));
    assert!(message.contains("reason_of_loss"), "{message}");
}

#[test]
fn a_registry_nests_inside_a_scenario_file() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scenario {
        name: String,
        registry: RegistryDescription,
    }
    let indented: String = BASE.lines().map(|line| format!("  {line}\n")).collect();
    let text = format!("name: nested\nregistry:\n{indented}");
    let scenario: Scenario = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(scenario.name, "nested");
    let registry = Registry::from_description("scenario.yaml", &scenario.registry).unwrap();
    assert_eq!(registry.person_count(), 1);
}

#[test]
fn the_synthetic_registry_is_deterministic_per_seed() {
    let a = synthetic_registry(2_000, 42).unwrap();
    let b = synthetic_registry(2_000, 42).unwrap();
    let c = synthetic_registry(2_000, 43).unwrap();
    assert_eq!(a.person_count(), 2_000);
    assert_eq!(a.card_count(), 2_000);
    assert_eq!(a.card_serials(), b.card_serials());
    assert_ne!(a.card_serials(), c.card_serials());
    // Person 17's card is found by the serial its certificate would carry.
    let number = synthetic_my_number(42, 17);
    let serial_of = |issued: chrono::NaiveDate| {
        certificate_serial(CertificateKind::Authentication, &number, issued)
    };
    let found = a
        .card_serials()
        .iter()
        .filter_map(|s| a.card(*s))
        .find(|card| card.person.0 == 17)
        .unwrap();
    let issued = (0..4000)
        .map(|days| chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap() + chrono::Days::new(days))
        .find(|date| serial_of(*date) == found.serial);
    assert!(
        issued.is_some(),
        "the serial derives from person 17's 個人番号"
    );
}

#[test]
fn every_card_is_found_by_its_serial_and_no_other_serial_is() {
    let registry = synthetic_registry(50_000, 9).unwrap();
    for (position, serial) in registry.card_serials().iter().enumerate() {
        let card = registry
            .card(*serial)
            .unwrap_or_else(|| panic!("card {position} not found"));
        assert_eq!(card.serial, *serial);
        assert!(
            registry.card(serial + 1).is_none() || registry.card_serials().contains(&(serial + 1))
        );
    }
    assert!(registry.card(0).is_none());
    assert!(registry.card(u64::MAX).is_none());
}

//! The interface XML under hostile values: what XML 1.0 cannot carry is refused on the way in
//! and never written on the way out, so every answer is well-formed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use myna_hil::oqs::codes::CharacterCode;
use myna_hil::oqs::message::InsuranceCardRequest;
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{Oqs, OqsConfig};
use myna_hil::oqs::xml::{self, XmlError};
use myna_hil::oqs::RegistryDescription;
use quick_xml::events::Event;
use quick_xml::Reader;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/registry/clinic.yaml");

use crate::support::oqs::LOOKUP;

/// Reads `text` with quick-xml's XML 1.0 checks of character data; panics on ill-formed text.
fn assert_well_formed(text: &str) {
    assert!(
        text.chars().all(xml::is_xml10_char),
        "a character XML 1.0 cannot carry: {text:?}"
    );
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event().unwrap() {
            Event::Text(content) => {
                content.xml10_content().unwrap();
            }
            Event::Eof => break,
            _ => {}
        }
    }
}

#[test]
fn a_control_character_reference_in_a_request_is_refused_naming_the_element() {
    for (identifier, code) in [
        ("&#x1;", "U+0001"),
        ("A&#1;B", "U+0001"),
        ("&#xFFFE;", "U+FFFE"),
        ("&#x1F;", "U+001F"),
    ] {
        let request = LOOKUP.replace(">ID<", &format!(">{identifier}<"));
        let error = xml::parse_request(request.as_bytes()).unwrap_err();
        assert!(
            matches!(&error, XmlError::Value { element: "ArbitraryFileIdentifier", message } if message.contains(code)),
            "{identifier}: {error}"
        );
    }
    // Tab, line feed and carriage return are XML characters and stay accepted.
    let request = LOOKUP.replace(">ID<", ">A&#x9;B<");
    assert!(xml::parse_request(request.as_bytes()).is_ok());
}

#[test]
fn an_answer_echoing_a_control_character_is_still_well_formed() {
    let description = RegistryDescription::from_file(FIXTURE.as_ref()).unwrap();
    let registry = Registry::from_description(FIXTURE, &description).unwrap();
    let oqs = Oqs::new(registry, OqsConfig::default()).unwrap();
    for character_code in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
        let response = oqs.lookup_by_insurance_card(&InsuranceCardRequest {
            insurer_number: "06139999".into(),
            symbol: "7".into(),
            number: "5501".into(),
            branch: "00".into(),
            birth_date: "1990-08-20".parse().unwrap(),
            facility_code: "1312345678".into(),
            date: "2025-04-06".parse().unwrap(),
            time: None,
            arbitrary_file_identifier: Some("A\u{1}B\u{FFFF}".into()),
            character_code,
            limit_consent: true,
            echo: None,
        });
        let text = xml::response_to_xml_text(&response, "UTF-8");
        assert_well_formed(&text);
        assert!(
            text.contains("<ArbitraryFileIdentifier>A\u{FFFD}B\u{FFFD}</ArbitraryFileIdentifier>"),
            "{text}"
        );
        let bytes = xml::response_to_xml(&response);
        assert!(
            !bytes.iter().any(|b| *b < 0x20 && !b"\t\n\r".contains(b)),
            "a control byte in the written answer"
        );
    }
}

#[test]
fn a_date_without_eight_digits_is_refused_so_the_answer_can_write_it_back() {
    for date in ["+2621421231", "2621421231", "+20250406", "2025046"] {
        let request = LOOKUP.replace("20250406", date);
        let error = xml::parse_request(request.as_bytes()).unwrap_err();
        assert!(
            matches!(
                &error,
                XmlError::Value {
                    element: "QualificationConfirmationDate",
                    ..
                }
            ),
            "{date}: {error}"
        );
    }
    assert!(xml::parse_request(LOOKUP.as_bytes()).is_ok());
}

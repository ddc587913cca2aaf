//! The same reader flow, unchanged, on the real stack: our card served to pcscd through vpcd,
//! the reader talking to it through `PcscTransport`, the in-process qualification service.
//! Needs the cargo feature `pcsc` and the Debian packages pcscd, vsmartcard-vpcd, opensc (for
//! the readiness check), libpcsclite-dev and pkg-config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use crate::support::*;
use myna_hil::oqs::codes::QualificationValidity;
use myna_hil::oqs::description::RegistryDescription;
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{CallKind, Oqs, OqsConfig};
use myna_hil::oqs::ConsentMode;
use myna_hil::reader::*;
use myna_hil::transport::identify::RealCardPolicy;
use myna_hil::transport::pcsc::PcscTransport;

const REGISTRY: &str = r#"
insurers:
  - number: "01130012"
    name: "全国健康保険協会 東京支部（試験）"
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
      - insurer: "01130012"
        symbol: "12345678"
        number: "1234"
        acquired: 2015-04-01
    cards:
      - issued: 2022-04-01
"#;

fn oqs() -> Oqs {
    let description = RegistryDescription::from_yaml("reader_vpcd registry", REGISTRY).unwrap();
    let registry = Registry::from_description("reader_vpcd registry", &description).unwrap();
    Oqs::new(registry, OqsConfig::default()).unwrap()
}

fn terminal() -> Terminal {
    Terminal::new(TerminalConfig {
        facility_code: "1312345678".into(),
        date: "2025-06-02".parse().unwrap(),
        time: None,
        options: ReaderOptions::default(),
    })
}

fn feed(terminal: &mut Terminal, transport: &mut PcscTransport, oqs: &Oqs, inputs: Vec<Input>) {
    for input in inputs {
        terminal.handle(input, transport, oqs).unwrap();
    }
}

#[test]
fn pin_and_face_receptions_through_pcscd_and_vpcd() {
    let _pcscd = Pcscd::ensure();
    let card = load_card(&standard_card_path());
    let ocr = FaceOcr::of_card(&card);
    let server = serve_to_pcscd(card, test_options());
    let oqs = oqs();
    let mut transport = PcscTransport::open(Some(VPCD_READER), RealCardPolicy::Refuse).unwrap();
    let comprehensive = Input::ConsentMode {
        mode: ConsentMode::Comprehensive,
    };

    let mut by_pin = terminal();
    feed(
        &mut by_pin,
        &mut transport,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            Input::EnterPin {
                pin: Pin::new("9999"),
            },
            Input::EnterPin {
                pin: Pin::new("1234"),
            },
            comprehensive.clone(),
            Input::RemoveCard,
        ],
    );
    let outcome = by_pin.outcome();
    assert_eq!(outcome.message_codes, vec![MessageCode::PinWrong]);
    assert_eq!(outcome.identity, Some(IdentityMethod::Pin));
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.burden_percent, Some(30));
    assert_eq!(outcome.commands.pin_verify, 2);
    let checks = oqs
        .calls()
        .iter()
        .filter(|call| call.kind == CallKind::Check)
        .count();
    assert_eq!(checks, 1);
    // The correct PIN reset the counter on the served card.
    let tries = server
        .handle()
        .with_card(|card| card.pin_counters().auth.unwrap().tries_left);
    assert_eq!(tries, 3);

    let mut by_face = terminal();
    feed(
        &mut by_face,
        &mut transport,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChooseFace { ocr },
            Input::FaceResult { matched: true },
            comprehensive,
            Input::RemoveCard,
        ],
    );
    assert_eq!(
        by_face.outcome().validity,
        Some(QualificationValidity::Valid)
    );
    assert_eq!(by_face.outcome().commands.collation_verify, 1);
    assert!(by_face.outcome().message_codes.is_empty());
    server.stop().unwrap();
}

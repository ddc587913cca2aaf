//! Receptions end to end: the real emulated card (built by the test CA) in the in-process
//! virtual reader, the reader flow, and the real in-process qualification service over a
//! registry written in YAML. Expected values come from the registry and card files below,
//! never from the code under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::date as d;
use chrono::NaiveDate;
use myna_hil::card::{Card, CardDescription};
use myna_hil::oqs::codes::QualificationValidity;
use myna_hil::oqs::description::RegistryDescription;
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{CallKind, Oqs, OqsConfig};
use myna_hil::oqs::{ConsentMode, Outcome};
use myna_hil::pki::TestPki;
use myna_hil::reader::*;
use myna_hil::transport::virtual_reader::VirtualReader;
use myna_hil::transport::{Transport, TransportError};

const FACILITY: &str = "1312345678";

const REGISTRY: &str = r#"
insurers:
  - number: "01130012"
    name: "全国健康保険協会 東京支部（試験）"
  - number: "39131015"
    name: "東京都後期高齢者医療広域連合（試験）"
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
        branch: "01"
        acquired: 2015-04-01
        limit_certificate:
          classification: limit_application
          flag: A03
          issued: 2024-04-01
          valid_from: 2024-04-01
          valid_until: 2029-07-31
    cards:
      - issued: 2022-04-01
  - id: jiro
    person:
      name: "未登録　次郎"
      kana: "ミトウロク ジロウ"
      birth_date: 1985-01-15
      sex: male
      address: "東京都港区芝公園四丁目2番8号"
      my_number: "200000000026"
    qualifications:
      - insurer: "01130012"
        symbol: "12345678"
        number: "2001"
        acquired: 2010-04-01
    cards:
      - issued: 2023-01-10
        link: not_registered
  - id: saburo
    person:
      name: "紛失　三郎"
      kana: "フンシツ サブロウ"
      birth_date: 1975-03-03
      sex: male
      address: "東京都台東区上野公園7番20号"
      my_number: "200000000034"
    qualifications:
      - insurer: "01130012"
        symbol: "12345678"
        number: "3001"
        acquired: 2000-04-01
    cards:
      - issued: 2021-06-01
        revoked: { reason: suspended, on: 2025-02-01 }
  - id: hanako
    person:
      name: "試験　花子"
      kana: "シケン ハナコ"
      birth_date: 1948-11-03
      sex: female
      address: "大阪府大阪市北区中之島一丁目3番20号"
      my_number: "987654321018"
    qualifications:
      - insurer: "39131015"
        number: "39000009"
        acquired: 2023-11-03
    cards:
      - issued: 2024-01-15
  - id: nana
    person:
      name: "解除　奈々"
      kana: "カイジョ ナナ"
      birth_date: 1995-05-05
      sex: female
      address: "東京都練馬区豊玉北六丁目12番1号"
      my_number: "200000000115"
    qualifications:
      - insurer: "01130012"
        symbol: "12345678"
        number: "8001"
        acquired: 2018-04-01
    cards:
      - issued: 2022-05-05
        link: cancelled_on_request
  - id: protected
    person:
      name: "保護　秋子"
      kana: "ホゴ アキコ"
      birth_date: 1988-11-11
      sex: female
      address: "東京都（非開示）"
      my_number: "200000000050"
    flags: { self_information_blocked: true }
    qualifications:
      - insurer: "01130012"
        symbol: "12345678"
        number: "5001"
        acquired: 2016-04-01
    cards:
      - issued: 2022-09-01
"#;

const NANA_CARD: &str = r#"
person:
  name: "解除　奈々"
  kana: "カイジョ ナナ"
  birth_date: 1995-05-05
  sex: female
  address: "東京都練馬区豊玉北六丁目12番1号"
  my_number: "200000000115"
card:
  issued: 2022-05-05
  keys: { auth: 11, signing: 12, text_ap: 2 }
"#;

const PROTECTED_CARD: &str = r#"
person:
  name: "保護　秋子"
  kana: "ホゴ アキコ"
  birth_date: 1988-11-11
  sex: female
  address: "東京都（非開示）"
  my_number: "200000000050"
card:
  issued: 2022-09-01
  keys: { auth: 13, signing: 14, text_ap: 2 }
"#;

/// The holder of the standard fixture card: 利用者証明用電子証明書 2022-04-01 .. 2026-05-10
/// (the 5th birthday after issue: 2022-05-10 is the first).
const TARO_CARD: &str = include_str!("../fixtures/cards/standard.yaml");
const FACE_ONLY_CARD: &str = include_str!("../fixtures/cards/face_only.yaml");
const JUKI_CARD: &str = include_str!("../fixtures/cards/juki_token.yaml");
const MUTE_CARD: &str = include_str!("../fixtures/cards/mute.yaml");

const JIRO_CARD: &str = r#"
person:
  name: "未登録　次郎"
  kana: "ミトウロク ジロウ"
  birth_date: 1985-01-15
  sex: male
  address: "東京都港区芝公園四丁目2番8号"
  my_number: "200000000026"
card:
  issued: 2023-01-10
  security_code: "1111"
  keys: { auth: 5, signing: 6, text_ap: 2 }
"#;

const SABURO_CARD: &str = r#"
person:
  name: "紛失　三郎"
  kana: "フンシツ サブロウ"
  birth_date: 1975-03-03
  sex: male
  address: "東京都台東区上野公園7番20号"
  my_number: "200000000034"
card:
  issued: 2021-06-01
  security_code: "2222"
  keys: { auth: 9, signing: 10, text_ap: 2 }
"#;

fn oqs() -> Oqs {
    let description = RegistryDescription::from_yaml("reader_flow registry", REGISTRY).unwrap();
    let registry = Registry::from_description("reader_flow registry", &description).unwrap();
    Oqs::new(
        registry,
        OqsConfig {
            challenge_seed: Some(11),
            ..OqsConfig::default()
        },
    )
    .unwrap()
}

fn card(yaml: &str) -> Card {
    let description = CardDescription::from_yaml_str(yaml, "test card").unwrap();
    Card::from_description(&description, TestPki::load().unwrap()).unwrap()
}

fn terminal(date: &str) -> Terminal {
    Terminal::new(TerminalConfig {
        facility_code: FACILITY.into(),
        date: d(date),
        time: None,
        options: ReaderOptions::default(),
    })
}

/// The virtual reader seen through a recorder of every C-APDU that reaches the card, with
/// an optional removal of the card in the middle of reading the certificate body.
struct Recorder {
    reader: VirtualReader,
    sent: Vec<Vec<u8>>,
    remove_during_certificate_body: bool,
}

impl Recorder {
    fn new(card: Card) -> Recorder {
        Recorder {
            reader: VirtualReader::with_card(card),
            sent: Vec::new(),
            remove_during_certificate_body: false,
        }
    }

    fn card(&self) -> &Card {
        self.reader.card().unwrap()
    }

    /// VERIFYs carrying a 4-digit PIN.
    fn pin_verifies(&self) -> usize {
        self.sent
            .iter()
            .filter(|apdu| apdu.starts_with(&[0x00, 0x20, 0x00, 0x80, 0x04]))
            .count()
    }
}

impl Transport for Recorder {
    fn describe(&self) -> String {
        "recorder(virtual)".into()
    }
    fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
        self.reader.connect()
    }
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent.push(capdu.to_vec());
        let reads_past_header =
            capdu.len() == 5 && capdu[1] == 0xB0 && (capdu[2], capdu[3]) != (0, 0);
        if self.remove_during_certificate_body && reads_past_header {
            self.remove_during_certificate_body = false;
            self.reader.remove_during_next_command();
        }
        self.reader.transmit(capdu)
    }
    fn disconnect(&mut self) -> Result<(), TransportError> {
        self.reader.disconnect()
    }
    fn is_emulated_card(&self) -> bool {
        true
    }
}

/// Feeds inputs, failing the test on an input the screen refuses.
fn run(
    terminal: &mut Terminal,
    reader: &mut dyn Transport,
    service: &dyn QualificationService,
    inputs: Vec<Input>,
) {
    for input in inputs {
        terminal.handle(input, reader, service).unwrap();
    }
}

fn face(card: &Card) -> Input {
    Input::ChooseFace {
        ocr: FaceOcr::of_card(card),
    }
}

fn pin(digits: &str) -> Input {
    Input::EnterPin {
        pin: Pin::new(digits),
    }
}

fn comprehensive() -> Input {
    Input::ConsentMode {
        mode: ConsentMode::Comprehensive,
    }
}

#[test]
fn face_reception_is_valid_with_3_wari() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            ocr,
            Input::FaceResult { matched: true },
            comprehensive(),
            Input::RemoveCard,
        ],
    );
    let outcome = terminal.outcome();
    assert_eq!(
        outcome.screens,
        vec![
            Screen::PlaceCard,
            Screen::ChooseMethod,
            Screen::FaceCapture,
            Screen::ConsentMode,
            Screen::Result,
            Screen::Finished
        ]
    );
    assert_eq!(outcome.identity, Some(IdentityMethod::Face));
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.insurer_number.as_deref(), Some("01130012"));
    assert_eq!(outcome.burden_percent, Some(30));
    assert_eq!(outcome.limit_class.as_deref(), Some("A03"));
    assert!(
        outcome.message_codes.is_empty(),
        "{:?}",
        outcome.message_codes
    );
    assert!(!outcome.verify_sent);
    assert_eq!(reader.pin_verifies(), 0);
    // The card face was opened with 照合番号B (14 digits) and nothing was signed.
    assert!(reader
        .sent
        .iter()
        .any(|apdu| apdu.starts_with(&[0x00, 0x20, 0x00, 0x80, 0x0E])));
    assert!(!reader
        .sent
        .iter()
        .any(|apdu| apdu.starts_with(&[0x80, 0x2A])));
    let consent = outcome.consent.unwrap();
    assert_eq!(consent.mode, ConsentMode::Comprehensive);
    assert!(
        consent.medical_treatment
            && consent.medication
            && consent.surgery
            && consent.specific_health_checkup
    );
    assert!(outcome.finished);
    // The service saw one check, by face, with no challenge asked for.
    let calls = oqs.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].kind, CallKind::Check);
    assert_eq!(calls[0].identity, Some(IdentityMethod::Face));
    assert_eq!(calls[0].outcome, Some(Outcome::Answered));
    assert_eq!(
        calls[0].qualification_validity,
        Some(QualificationValidity::Valid)
    );
    assert_eq!(calls[0].facility_code.as_deref(), Some(FACILITY));
}

#[test]
fn pin_reception_signs_the_challenge_and_is_valid() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin],
    );
    assert_eq!(terminal.screen(), Screen::PinEntry);
    assert_eq!(terminal.outcome().pin_tries_left, Some(3));
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![pin("1234"), comprehensive()],
    );
    let outcome = terminal.outcome();
    assert_eq!(outcome.identity, Some(IdentityMethod::Pin));
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.burden_percent, Some(30));
    assert!(outcome.verify_sent);
    assert_eq!(reader.pin_verifies(), 1);
    // The retry query went before the VERIFY, and the auth key signed a 51-byte DigestInfo.
    let query = reader
        .sent
        .iter()
        .position(|apdu| apdu.as_slice() == [0x00, 0x20, 0x00, 0x80])
        .unwrap();
    let verify = reader
        .sent
        .iter()
        .position(|apdu| apdu.starts_with(&[0x00, 0x20, 0x00, 0x80, 0x04]))
        .unwrap();
    assert!(query < verify);
    assert!(reader
        .sent
        .iter()
        .any(|apdu| apdu.starts_with(&[0x80, 0x2A, 0x00, 0x80, 0x33, 0x30, 0x31])));
    // The service saw a challenge request and one check with the card's certificate.
    let kinds: Vec<CallKind> = oqs.calls().iter().map(|call| call.kind).collect();
    assert_eq!(kinds, vec![CallKind::Challenge, CallKind::Check]);
    assert_eq!(oqs.calls()[1].outcome, Some(Outcome::Answered));
    assert_eq!(oqs.calls()[1].identity, Some(IdentityMethod::Pin));
}

#[test]
fn wrong_pin_then_right_resets_the_counter() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin, pin("9999")],
    );
    assert_eq!(terminal.screen(), Screen::PinEntry);
    assert_eq!(terminal.outcome().pin_tries_left, Some(2));
    assert_eq!(terminal.last_message(), Some(MessageCode::PinWrong));
    assert_eq!(reader.card().pin_counters().auth.unwrap().tries_left, 2);
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![pin("1234"), comprehensive()],
    );
    assert_eq!(
        terminal.outcome().validity,
        Some(QualificationValidity::Valid)
    );
    assert_eq!(reader.card().pin_counters().auth.unwrap().tries_left, 3);
}

#[test]
fn malformed_pin_is_refused_without_touching_the_card() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin],
    );
    let before = reader.sent.len();
    run(&mut terminal, &mut reader, &oqs, vec![pin("12a4")]);
    assert_eq!(reader.sent.len(), before);
    assert_eq!(terminal.last_message(), Some(MessageCode::PinFormat));
    assert_eq!(reader.card().pin_counters().auth.unwrap().tries_left, 3);
}

#[test]
fn three_wrong_pins_lock_and_no_verify_reaches_the_locked_card() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("0000"),
            pin("0001"),
            pin("0002"),
        ],
    );
    assert_eq!(terminal.screen(), Screen::PinLocked);
    assert_eq!(terminal.last_message(), Some(MessageCode::PinLocked));
    assert_eq!(reader.card().pin_counters().auth.unwrap().tries_left, 0);
    assert_eq!(reader.pin_verifies(), 3);
    // Still locked on this screen: typing the PIN again sends nothing at all.
    let before = reader.sent.len();
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![pin("1234"), Input::ChoosePin],
    );
    assert_eq!(reader.sent.len(), before);
    run(&mut terminal, &mut reader, &oqs, vec![Input::RemoveCard]);

    // A later reception: the PIN path queries the counter and stops there; face admits.
    let mut later = terminal_with_reader_reset(&mut reader);
    run(
        &mut later,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin],
    );
    assert_eq!(later.screen(), Screen::PinLocked);
    let face_input = face(reader.card());
    run(
        &mut later,
        &mut reader,
        &oqs,
        vec![
            pin("1234"),
            face_input,
            Input::FaceResult { matched: true },
            comprehensive(),
        ],
    );
    assert_eq!(reader.pin_verifies(), 3, "a VERIFY reached the locked PIN");
    let outcome = later.outcome();
    assert!(!outcome.verify_sent);
    assert_eq!(
        outcome.screens[..3],
        [Screen::PlaceCard, Screen::ChooseMethod, Screen::PinLocked]
    );
    assert_eq!(outcome.identity, Some(IdentityMethod::Face));
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));

    // 目視 admits as well.
    let mut third = terminal_with_reader_reset(&mut reader);
    run(
        &mut third,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChooseVisual,
            Input::StaffCheck { confirmed: true },
            comprehensive(),
        ],
    );
    assert_eq!(third.outcome().identity, Some(IdentityMethod::Visual));
    assert_eq!(third.outcome().validity, Some(QualificationValidity::Valid));
    assert_eq!(reader.pin_verifies(), 3);
}

fn certificate_not_after(card: &Card) -> NaiveDate {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(card.auth_certificate_der()).unwrap();
    let time = certificate
        .tbs_certificate
        .validity
        .not_after
        .to_date_time();
    NaiveDate::from_ymd_opt(
        i32::from(time.year()),
        u32::from(time.month()),
        u32::from(time.day()),
    )
    .unwrap()
}

fn terminal_with_reader_reset(reader: &mut Recorder) -> Terminal {
    reader.reader.disconnect().unwrap();
    terminal("2025-06-03")
}

#[test]
fn face_no_match_then_match_and_optional_face_lock() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, ocr, Input::FaceResult { matched: false }],
    );
    assert_eq!(terminal.screen(), Screen::FaceNoMatch);
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::FaceResult { matched: true }, comprehensive()],
    );
    assert_eq!(terminal.outcome().face_failures, 1);
    assert_eq!(
        terminal.outcome().message_codes,
        vec![MessageCode::FaceNoMatch]
    );
    assert_eq!(
        terminal.outcome().validity,
        Some(QualificationValidity::Valid)
    );

    let mut locking = Terminal::new(TerminalConfig {
        facility_code: FACILITY.into(),
        date: d("2025-06-02"),
        time: None,
        options: ReaderOptions {
            face_lock_after: Some(2),
            ..ReaderOptions::default()
        },
    });
    reader.reader.disconnect().unwrap();
    let ocr = face(reader.card());
    run(
        &mut locking,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            ocr.clone(),
            Input::FaceResult { matched: false },
            Input::FaceResult { matched: false },
        ],
    );
    assert_eq!(locking.screen(), Screen::ChooseMethod);
    assert_eq!(locking.last_message(), Some(MessageCode::FaceLocked));
    let sent = reader.sent.len();
    run(&mut locking, &mut reader, &oqs, vec![ocr]);
    assert_eq!(
        reader.sent.len(),
        sent,
        "a locked face path must not touch the card"
    );
    assert_eq!(locking.screen(), Screen::ChooseMethod);
}

#[test]
fn misread_security_code_cannot_open_the_card_face() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    let mut ocr = FaceOcr::of_card(reader.card());
    ocr.security_code = "0000".into();
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChooseFace { ocr }],
    );
    assert_eq!(terminal.screen(), Screen::ChooseMethod);
    assert_eq!(
        terminal.last_message(),
        Some(MessageCode::CardFaceUnreadable)
    );
    assert_eq!(terminal.outcome().commands.collation_verify, 1);
}

#[test]
fn face_only_card_has_no_pin_path_and_face_works() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(FACE_ONLY_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin],
    );
    assert_eq!(terminal.screen(), Screen::ChooseMethod);
    assert_eq!(terminal.last_message(), Some(MessageCode::PinUnavailable));
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![ocr, Input::FaceResult { matched: true }, comprehensive()],
    );
    let outcome = terminal.outcome();
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.insurer_number.as_deref(), Some("39131015"));
    assert_eq!(outcome.identity, Some(IdentityMethod::Face));
    assert_eq!(reader.pin_verifies(), 0);
    assert_eq!(outcome.commands.pin_query, 0);
    assert_eq!(outcome.commands.sign, 0);
    let calls: Vec<_> = oqs
        .calls()
        .iter()
        .map(|call| (call.kind, call.identity, call.outcome))
        .collect();
    assert_eq!(
        calls,
        vec![(
            CallKind::Check,
            Some(IdentityMethod::Face),
            Some(Outcome::Answered)
        )]
    );
}

#[test]
fn not_a_my_number_card_is_002() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(JUKI_CARD));
    let mut terminal = terminal("2025-06-02");
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(terminal.screen(), Screen::CardError);
    assert_eq!(
        terminal.outcome().message_codes,
        vec![MessageCode::NotMyNumberCard]
    );
    assert_eq!(MessageCode::NotMyNumberCard.code(), "002");
}

/// Another contactless card (a transit card, say): answers no My Number application.
struct OtherCard;

impl Transport for OtherCard {
    fn describe(&self) -> String {
        "other card".into()
    }
    fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(vec![
            0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x11, 0x00,
            0x3B, 0x00, 0x00, 0x00, 0x00, 0x42,
        ])
    }
    fn transmit(&mut self, _capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(vec![0x6A, 0x82])
    }
    fn disconnect(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
    fn is_emulated_card(&self) -> bool {
        false
    }
}

#[test]
fn a_card_without_the_jpki_application_is_002() {
    let oqs = oqs();
    let mut other = OtherCard;
    let mut terminal = terminal("2025-06-02");
    run(&mut terminal, &mut other, &oqs, vec![Input::PlaceCard]);
    assert_eq!(
        terminal.outcome().message_codes,
        vec![MessageCode::NotMyNumberCard]
    );
}

#[test]
fn mute_card_and_transmission_errors_are_001() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(MUTE_CARD));
    let mut terminal = terminal("2025-06-02");
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(terminal.screen(), Screen::CardError);
    assert_eq!(
        terminal.outcome().message_codes,
        vec![MessageCode::CardUnreadable]
    );

    let mut reader = Recorder::new(card(TARO_CARD));
    reader.reader.fail_next_transmissions(1);
    let mut terminal = self::terminal("2025-06-02");
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(
        terminal.outcome().message_codes,
        vec![MessageCode::CardUnreadable]
    );
    // Once the fault is gone (the cover taken off), the same card reads.
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(terminal.screen(), Screen::ChooseMethod);
}

#[test]
fn no_card_keeps_asking_for_one() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    reader.reader.remove();
    let mut terminal = terminal("2025-06-02");
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(terminal.screen(), Screen::PlaceCard);
    assert!(terminal.outcome().message_codes.is_empty());
}

#[test]
fn removal_while_reading_the_certificate_asks_again_and_recovers() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    reader.remove_during_certificate_body = true;
    let mut terminal = terminal("2025-06-02");
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(terminal.screen(), Screen::PlaceCardAgain);
    assert_eq!(
        terminal.last_message(),
        Some(MessageCode::CardRemovedDuringRead)
    );
    assert!(!reader.reader.has_card());
    // Placing nothing keeps asking; the card back on the reader continues the reception.
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(terminal.screen(), Screen::PlaceCard);
    assert!(reader.reader.insert());
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            ocr,
            Input::FaceResult { matched: true },
            comprehensive(),
        ],
    );
    assert_eq!(
        terminal.outcome().validity,
        Some(QualificationValidity::Valid)
    );
}

#[test]
fn reader_power_cycle_starts_over() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin],
    );
    reader.reader.power_cycle().unwrap();
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::ReaderRestarted],
    );
    assert_eq!(terminal.screen(), Screen::PlaceCard);
    let refused = terminal.handle(pin("1234"), &mut reader, &oqs).unwrap_err();
    assert_eq!(refused.screen, Screen::PlaceCard);
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    assert_eq!(
        terminal.outcome().validity,
        Some(QualificationValidity::Valid)
    );
}

#[test]
fn renewal_notice_within_three_months_of_expiry() {
    let oqs = oqs();
    assert_eq!(certificate_not_after(&card(TARO_CARD)), d("2026-05-10"));
    for (date, notice) in [
        ("2026-02-09", false),
        ("2026-02-10", true),
        ("2026-05-10", true),
    ] {
        let mut reader = Recorder::new(card(TARO_CARD));
        let mut terminal = terminal(date);
        run(
            &mut terminal,
            &mut reader,
            &oqs,
            vec![
                Input::PlaceCard,
                Input::ChoosePin,
                pin("1234"),
                comprehensive(),
            ],
        );
        let outcome = terminal.outcome();
        assert_eq!(outcome.renewal_notice, notice, "{date}");
        assert_eq!(
            outcome.screens.contains(&Screen::RenewalNotice),
            notice,
            "{date}"
        );
        assert_eq!(
            outcome.validity,
            Some(QualificationValidity::Valid),
            "{date}"
        );
    }
}

#[test]
fn expired_certificate_in_grace_gives_qualification_only() {
    // Expired 2026-05-10; grace until the end of the third month after: 2026-08-31.
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2026-08-31");
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, ocr, Input::FaceResult { matched: true }],
    );
    let outcome = terminal.outcome();
    assert_eq!(terminal.screen(), Screen::Result);
    assert!(outcome.qualification_only);
    assert!(outcome.screens.contains(&Screen::ExpiredNotice));
    assert!(!outcome.screens.contains(&Screen::ConsentMode));
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(
        outcome.message_codes,
        vec![MessageCode::GracePeriodQualificationOnly]
    );
    let result = &outcome.response.as_ref().unwrap().body.result_list[0];
    assert_eq!(result.diagnosis_info_cons_flg, None);
    assert_eq!(result.pharmacists_info_cons_flg, None);
}

#[test]
fn expired_past_grace_is_refused_with_006_and_guidance() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2026-09-01");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChooseVisual,
            Input::StaffCheck { confirmed: true },
        ],
    );
    let outcome = terminal.outcome();
    assert_eq!(terminal.screen(), Screen::Result);
    assert_eq!(outcome.service_outcome, Some(Outcome::CertificateExpired));
    assert_eq!(outcome.validity, None);
    assert_eq!(
        outcome.message_codes.last(),
        Some(&MessageCode::CertificateRevokedOrExpired)
    );
    assert!(outcome
        .fallback
        .contains(&FallbackGuidance::QualificationCertificate));
}

#[test]
fn revoked_certificate_is_006() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(SABURO_CARD));
    let mut terminal = terminal("2025-02-01");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    let outcome = terminal.outcome();
    assert_eq!(outcome.service_outcome, Some(Outcome::CertificateRevoked));
    assert_eq!(
        outcome.message_codes,
        vec![MessageCode::CertificateRevokedOrExpired]
    );
    assert_eq!(MessageCode::CertificateRevokedOrExpired.code(), "006");
    // The day before the suspension the same card is fine.
    let mut reader = Recorder::new(card(SABURO_CARD));
    let mut terminal = self::terminal("2025-01-31");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    assert_eq!(
        terminal.outcome().validity,
        Some(QualificationValidity::Valid)
    );
}

#[test]
fn unregistered_card_goes_through_registration_then_valid() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(JIRO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    assert_eq!(terminal.screen(), Screen::RegistrationOffer);
    assert_eq!(terminal.last_message(), Some(MessageCode::NotRegistered));
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::Register { agree: true }],
    );
    let outcome = terminal.outcome();
    assert_eq!(
        outcome.registration,
        RegistrationRecord {
            offered: true,
            accepted: Some(true),
            outcome: Some(Outcome::Registered)
        }
    );
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.burden_percent, Some(30));
    let kinds: Vec<CallKind> = oqs.calls().iter().map(|call| call.kind).collect();
    assert_eq!(
        kinds,
        vec![
            CallKind::Challenge,
            CallKind::Check,
            CallKind::Challenge,
            CallKind::Register,
            CallKind::Challenge,
            CallKind::Check
        ]
    );
}

/// Registration during a face or 目視 reception: no PIN, no signature, and the card ends 有効.
fn register_without_pin(method: IdentityMethod) {
    let oqs = oqs();
    let mut reader = Recorder::new(card(JIRO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    let identify = match method {
        IdentityMethod::Face => vec![face(reader.card()), Input::FaceResult { matched: true }],
        IdentityMethod::Visual => vec![Input::ChooseVisual, Input::StaffCheck { confirmed: true }],
        IdentityMethod::Pin => panic!("PIN receptions sign; see the PIN registration test"),
    };
    run(&mut terminal, &mut reader, &oqs, identify);
    run(&mut terminal, &mut reader, &oqs, vec![comprehensive()]);
    assert_eq!(terminal.screen(), Screen::RegistrationOffer);
    assert_eq!(terminal.last_message(), Some(MessageCode::NotRegistered));
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::Register { agree: true }],
    );
    let outcome = terminal.outcome();
    assert_eq!(terminal.screen(), Screen::Result);
    assert_eq!(outcome.identity, Some(method));
    assert_eq!(
        outcome.registration,
        RegistrationRecord {
            offered: true,
            accepted: Some(true),
            outcome: Some(Outcome::Registered)
        }
    );
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.insurer_number.as_deref(), Some("01130012"));
    assert_eq!(outcome.message_codes, vec![MessageCode::NotRegistered]);
    assert!(outcome.fallback.is_empty(), "{:?}", outcome.fallback);
    assert_eq!(reader.pin_verifies(), 0);
    assert_eq!(outcome.commands.sign, 0);
    let calls: Vec<_> = oqs
        .calls()
        .iter()
        .map(|call| (call.kind, call.identity, call.outcome))
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                CallKind::Check,
                Some(method),
                Some(Outcome::CardNotRegistered)
            ),
            (CallKind::Register, Some(method), Some(Outcome::Registered)),
            (CallKind::Check, Some(method), Some(Outcome::Answered)),
        ]
    );
}

#[test]
fn unregistered_card_registers_during_a_face_reception_then_valid() {
    register_without_pin(IdentityMethod::Face);
}

#[test]
fn unregistered_card_registers_during_a_visual_reception_then_valid() {
    register_without_pin(IdentityMethod::Visual);
}

#[test]
fn declined_registration_ends_with_guidance() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(JIRO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
            Input::Register { agree: false },
        ],
    );
    let outcome = terminal.outcome();
    assert_eq!(terminal.screen(), Screen::Result);
    assert_eq!(
        outcome.message_codes,
        vec![
            MessageCode::NotRegistered,
            MessageCode::RegistrationDeclined
        ]
    );
    assert!(outcome
        .fallback
        .contains(&FallbackGuidance::QualificationCertificate));
    assert_eq!(outcome.validity, None);
}

#[test]
fn network_outage_takes_the_fallback_path() {
    let oqs = oqs();
    let network = Network::new(&oqs);
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &network,
        vec![Input::PlaceCard, ocr, Input::FaceResult { matched: true }],
    );
    network.set_up(false);
    run(&mut terminal, &mut reader, &network, vec![comprehensive()]);
    let outcome = terminal.outcome();
    assert_eq!(terminal.screen(), Screen::Fallback);
    assert_eq!(outcome.message_codes, vec![MessageCode::NetworkOutage]);
    assert_eq!(
        outcome.fallback[0],
        FallbackGuidance::EmergencyQualificationCheck
    );
    assert!(outcome
        .fallback
        .contains(&FallbackGuidance::QualificationStatement));
    assert!(oqs.calls().iter().all(|call| call.kind != CallKind::Check));
    run(
        &mut terminal,
        &mut reader,
        &network,
        vec![Input::RemoveCard],
    );
    assert!(terminal.is_finished());
}

#[test]
fn consent_screens_before_and_after_2024_10_07() {
    let oqs = oqs();
    // Before: individual screens ending with 限度額; declining it withholds the 限度額 class.
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2024-10-06");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin, pin("1234")],
    );
    let mut topics = Vec::new();
    while let Screen::Consent(topic) = terminal.screen() {
        topics.push(topic);
        let agree = topic != ConsentTopic::LimitAmount;
        run(
            &mut terminal,
            &mut reader,
            &oqs,
            vec![Input::Consent { agree }],
        );
    }
    assert_eq!(
        topics,
        vec![
            ConsentTopic::MedicalTreatment,
            ConsentTopic::Medication,
            ConsentTopic::Surgery,
            ConsentTopic::SpecificHealthCheckup,
            ConsentTopic::LimitAmount
        ]
    );
    assert!(!terminal.outcome().screens.contains(&Screen::ConsentMode));
    assert_eq!(terminal.outcome().limit_class, None);
    assert!(!terminal.outcome().consent.unwrap().limit_amount);

    // Before, agreeing to 限度額 provides the class.
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = self::terminal("2024-10-06");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::PlaceCard, Input::ChoosePin, pin("1234")],
    );
    while let Screen::Consent(_) = terminal.screen() {
        run(
            &mut terminal,
            &mut reader,
            &oqs,
            vec![Input::Consent { agree: true }],
        );
    }
    assert_eq!(terminal.outcome().limit_class.as_deref(), Some("A03"));

    // After: the mode screen; individual consent has no 限度額 screen, and the class is
    // provided by law.
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = self::terminal("2024-10-07");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            Input::ConsentMode {
                mode: ConsentMode::Individual,
            },
        ],
    );
    let mut topics = Vec::new();
    while let Screen::Consent(topic) = terminal.screen() {
        topics.push(topic);
        run(
            &mut terminal,
            &mut reader,
            &oqs,
            vec![Input::Consent {
                agree: topic == ConsentTopic::Medication,
            }],
        );
    }
    assert!(!topics.contains(&ConsentTopic::LimitAmount));
    let outcome = terminal.outcome();
    assert_eq!(outcome.limit_class.as_deref(), Some("A03"));
    let consent = outcome.consent.unwrap();
    assert_eq!(consent.mode, ConsentMode::Individual);
    assert!(consent.medication && !consent.medical_treatment && !consent.surgery);
}

#[test]
fn specific_checkup_screen_rule_by_age_from_the_card_front() {
    let oqs = oqs();
    // Taro is 45: shown with `from_age: 50`? No — 45 < 50, so hidden.
    for (minimum, shown) in [(40, true), (50, false)] {
        let mut reader = Recorder::new(card(TARO_CARD));
        let mut terminal = Terminal::new(TerminalConfig {
            facility_code: FACILITY.into(),
            date: d("2025-06-02"),
            time: None,
            options: ReaderOptions {
                checkup_screen: CheckupScreenRule::FromAge(minimum),
                ..ReaderOptions::default()
            },
        });
        let ocr = face(reader.card());
        run(
            &mut terminal,
            &mut reader,
            &oqs,
            vec![
                Input::PlaceCard,
                ocr,
                Input::FaceResult { matched: true },
                Input::ConsentMode {
                    mode: ConsentMode::Individual,
                },
            ],
        );
        let mut topics = Vec::new();
        while let Screen::Consent(topic) = terminal.screen() {
            topics.push(topic);
            run(
                &mut terminal,
                &mut reader,
                &oqs,
                vec![Input::Consent { agree: true }],
            );
        }
        assert_eq!(
            topics.contains(&ConsentTopic::SpecificHealthCheckup),
            shown,
            "from_age {minimum}"
        );
    }
}

#[test]
fn an_input_the_screen_does_not_take_is_refused_and_changes_nothing() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    let refused = terminal
        .handle(Input::Consent { agree: true }, &mut reader, &oqs)
        .unwrap_err();
    assert_eq!(refused.screen, Screen::PlaceCard);
    assert_eq!(refused.input, "consent");
    assert!(refused.accepted.contains("place_card"));
    assert!(reader.sent.is_empty());
    assert_eq!(terminal.outcome().screens, vec![Screen::PlaceCard]);
}

#[test]
fn outcome_serializes_with_codes_and_no_pin() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("9999"),
            pin("1234"),
            comprehensive(),
        ],
    );
    let json = serde_json::to_value(terminal.outcome()).unwrap();
    assert_eq!(json["message_codes"], serde_json::json!(["H101"]));
    assert_eq!(json["validity"], "valid");
    assert_eq!(json["identity"], "pin");
    let text = json.to_string();
    assert!(
        !text.contains("31323334"),
        "PIN bytes leaked into the outcome"
    );
    assert!(
        !text.contains("39393939"),
        "PIN bytes leaked into the outcome"
    );
    assert!(text.contains("0020008004XXXXXXXX"));
}

#[test]
fn inputs_read_from_yaml() {
    let inputs: Vec<Input> = serde_saphyr::from_str(
        "- place_card\n- choose_face: { ocr: { birth_date: 1980-05-10, card_expiry_year: 2032, security_code: \"4321\" } }\n- enter_pin: { pin: \"1234\" }\n- consent_mode: { mode: comprehensive }\n",
    )
    .unwrap();
    assert_eq!(inputs[0], Input::PlaceCard);
    assert_eq!(inputs[2], pin("1234"));
    assert_eq!(format!("{:?}", inputs[2]), "EnterPin { pin: Pin(****) }");
}

#[test]
fn face_reception_outcome_snapshot() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            ocr,
            Input::FaceResult { matched: false },
            Input::FaceResult { matched: true },
            Input::ConsentMode {
                mode: ConsentMode::Individual,
            },
            Input::Consent { agree: true },
            Input::Consent { agree: false },
            Input::Consent { agree: true },
            Input::Consent { agree: false },
            Input::RemoveCard,
        ],
    );
    let mut outcome = serde_json::to_value(terminal.outcome()).unwrap();
    // The READ BINARY chunks of certificate and card face are many; the snapshot keeps the
    // commands that decide the flow.
    let apdus = outcome["apdus"].as_array().unwrap().clone();
    outcome["apdus"] = apdus
        .into_iter()
        .filter(|exchange| !exchange["command"].as_str().unwrap().starts_with("00B0"))
        .collect();
    insta::assert_yaml_snapshot!(outcome);
}

#[test]
fn registration_cancelled_on_request_is_treated_as_unregistered() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(NANA_CARD));
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    assert_eq!(terminal.screen(), Screen::RegistrationOffer);
    assert_eq!(
        terminal.last_message(),
        Some(MessageCode::RegistrationCancelledOnRequest)
    );
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![Input::Register { agree: true }],
    );
    assert_eq!(
        terminal.outcome().validity,
        Some(QualificationValidity::Valid)
    );
}

#[test]
fn dv_protection_blocks_the_card_as_insurance_card() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(PROTECTED_CARD));
    let mut terminal = terminal("2025-06-02");
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            ocr,
            Input::FaceResult { matched: true },
            comprehensive(),
        ],
    );
    let outcome = terminal.outcome();
    assert_eq!(
        outcome.service_outcome,
        Some(Outcome::SelfInformationBlocked)
    );
    assert_eq!(
        outcome.message_codes,
        vec![MessageCode::SelfInformationBlocked]
    );
    assert_eq!(outcome.validity, None);
    assert_eq!(outcome.insurer_number, None);
    assert_eq!(
        outcome.fallback,
        vec![FallbackGuidance::QualificationCertificate]
    );
}

#[test]
fn reader_options_read_from_yaml() {
    let options: ReaderOptions = serde_saphyr::from_str(
        "face_lock_after: 10\ncheckup_screen: { from_age: 40 }\nvisual_check: false\n",
    )
    .unwrap();
    assert_eq!(options.face_lock_after, Some(10));
    assert_eq!(options.checkup_screen, CheckupScreenRule::FromAge(40));
    assert!(!options.visual_check);
    assert_eq!(options.collation_birth_year, BirthYearStyle::JapaneseEra);
    assert!(serde_saphyr::from_str::<ReaderOptions>("face_lock: 3\n").is_err());
}

/// Taro's card on the reader up to the PIN screen.
fn taro_at_pin_entry(reader: &mut Recorder, oqs: &Oqs) -> Terminal {
    let mut terminal = terminal("2025-06-02");
    run(
        &mut terminal,
        reader,
        oqs,
        vec![Input::PlaceCard, Input::ChoosePin, pin("0000")],
    );
    assert_eq!(terminal.screen(), Screen::PinEntry);
    terminal
}

#[test]
fn a_card_taken_away_before_the_result_abandons_the_reception() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = taro_at_pin_entry(&mut reader, &oqs);
    run(&mut terminal, &mut reader, &oqs, vec![Input::RemoveCard]);
    assert_eq!(terminal.screen(), Screen::Finished);
    assert!(terminal.is_finished());
    let outcome = terminal.outcome();
    assert!(outcome.abandoned && !outcome.finished);
    assert_eq!(outcome.message_codes, vec![MessageCode::PinWrong]);
    // The reception is over: the next card needs the next reception (a new terminal).
    let refused = terminal
        .handle(Input::PlaceCard, &mut reader, &oqs)
        .unwrap_err();
    assert_eq!(refused.accepted, "reader_restarted");
}

#[test]
fn another_card_where_the_reader_asks_for_this_one_again_ends_this_reception() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = taro_at_pin_entry(&mut reader, &oqs);
    let atr =
        |terminal: &Terminal| serde_json::to_value(terminal.outcome()).unwrap()["atr"].clone();
    let taro_atr = atr(&terminal);
    // The card leaves the reader during the next PIN query: 「もう一度置いてください」.
    reader.reader.remove_during_next_command();
    run(&mut terminal, &mut reader, &oqs, vec![pin("1234")]);
    assert_eq!(terminal.screen(), Screen::PlaceCardAgain);
    // Nana's card is put there instead of Taro's.
    reader.reader = VirtualReader::with_card(card(NANA_CARD));
    run(&mut terminal, &mut reader, &oqs, vec![Input::PlaceCard]);
    assert_eq!(terminal.screen(), Screen::Finished);
    let outcome = terminal.outcome();
    assert!(outcome.abandoned);
    assert_eq!(
        outcome.message_codes,
        vec![MessageCode::PinWrong, MessageCode::CardRemovedDuringRead]
    );
    assert_eq!(outcome.identity, None);
    // Nothing of Nana's card is taken into Taro's reception.
    assert_eq!(atr(&terminal), taro_atr);
    assert_eq!(outcome.pin_tries_left, Some(2));
}

#[test]
fn the_same_card_placed_again_continues_its_reception() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = taro_at_pin_entry(&mut reader, &oqs);
    reader.reader.remove_during_next_command();
    run(&mut terminal, &mut reader, &oqs, vec![pin("1234")]);
    assert!(reader.reader.insert());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    let outcome = terminal.outcome();
    assert!(!outcome.abandoned);
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(
        outcome.message_codes,
        vec![MessageCode::PinWrong, MessageCode::CardRemovedDuringRead]
    );
}

#[test]
fn a_refusal_lists_each_accepted_input_once() {
    let oqs = oqs();
    let mut reader = Recorder::new(card(TARO_CARD));
    let mut terminal = terminal("2025-06-02");
    let ocr = face(reader.card());
    run(
        &mut terminal,
        &mut reader,
        &oqs,
        vec![
            Input::PlaceCard,
            ocr,
            Input::FaceResult { matched: true },
            comprehensive(),
        ],
    );
    assert_eq!(terminal.screen(), Screen::Result);
    let refused = terminal
        .handle(Input::ChoosePin, &mut reader, &oqs)
        .unwrap_err();
    assert_eq!(refused.accepted, "remove_card, reader_restarted");
    run(&mut terminal, &mut reader, &oqs, vec![Input::RemoveCard]);
    let refused = terminal
        .handle(Input::RemoveCard, &mut reader, &oqs)
        .unwrap_err();
    assert_eq!(refused.accepted, "reader_restarted");
}

#[test]
fn during_an_outage_no_reception_reports_consent_flags_as_sent() {
    let oqs = oqs();
    let network = Network::new(&oqs);
    network.set_up(false);
    let mut reader = Recorder::new(card(TARO_CARD));
    // By face: the check itself is what cannot be sent.
    let mut by_face = terminal("2025-06-02");
    let ocr = face(reader.card());
    run(
        &mut by_face,
        &mut reader,
        &network,
        vec![
            Input::PlaceCard,
            ocr,
            Input::FaceResult { matched: true },
            comprehensive(),
        ],
    );
    // By PIN: the challenge before the check cannot be fetched.
    let mut by_pin = terminal("2025-06-02");
    run(
        &mut by_pin,
        &mut reader,
        &network,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    for terminal in [&by_face, &by_pin] {
        assert_eq!(terminal.screen(), Screen::Fallback);
        assert_eq!(terminal.outcome().consent, None);
    }
    // Once the network is back the flags sent are reported.
    network.set_up(true);
    let mut after = terminal("2025-06-02");
    run(
        &mut after,
        &mut reader,
        &network,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            pin("1234"),
            comprehensive(),
        ],
    );
    assert_eq!(after.screen(), Screen::Result);
    assert!(after.outcome().consent.is_some());
}

/// The smartphone path reads only the generic reader: the face reader's card hears nothing, a
/// card held over the generic reader is not taken for a phone (no VERIFY reaches it), and a
/// terminal given no generic reader cannot read a phone.
#[test]
fn the_phone_is_read_on_the_generic_reader_only() {
    let oqs = oqs();
    let mut face_reader = Recorder::new(card(TARO_CARD));
    let mut generic = Recorder::new(card(TARO_CARD));
    let mut terminal = Terminal::new(TerminalConfig {
        facility_code: FACILITY.into(),
        date: d("2025-10-06"),
        time: None,
        options: ReaderOptions {
            generic_reader: true,
            ..ReaderOptions::default()
        },
    });
    for input in [
        Input::ChooseSmartphone,
        Input::ChoosePhone {
            kind: PhoneKind::Android,
        },
        Input::EnterPhonePin {
            pin: Pin::new("1234"),
        },
    ] {
        terminal
            .handle_in_clinic(input, &mut face_reader, Some(&mut generic), &oqs)
            .unwrap();
    }
    assert_eq!(terminal.screen(), Screen::PlacePhone);
    let screen = terminal
        .handle_in_clinic(
            Input::PlacePhone,
            &mut face_reader,
            Some(&mut generic),
            &oqs,
        )
        .unwrap();
    assert_eq!(screen, Screen::PlacePhone);
    assert_eq!(
        terminal.last_message(),
        Some(MessageCode::SmartphoneUnreadable)
    );
    assert!(face_reader.sent.is_empty(), "{:?}", face_reader.sent);
    assert!(!generic.sent.is_empty());
    assert_eq!(generic.pin_verifies(), 0);
    // The same step without a generic reader.
    terminal
        .handle(Input::PlacePhone, &mut face_reader, &oqs)
        .unwrap();
    assert_eq!(
        terminal.last_message(),
        Some(MessageCode::SmartphoneNotOffered)
    );
    // No face route for phones: the phone screens take no face input.
    let refused = terminal.handle(face(generic.card()), &mut face_reader, &oqs);
    assert!(refused.is_err());
    assert_eq!(terminal.outcome().identity, None);
}

//! A PC/SC client (the `pcsc` crate, through our `PcscTransport`) against our card served to
//! the real pcscd through vpcd. Needs the cargo feature `pcsc` and the Debian packages pcscd,
//! vsmartcard-vpcd, opensc (for the readiness check), libpcsclite-dev and pkg-config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::time::Duration;

use crate::support::*;
use myna_hil::card::CardDescription;
use myna_hil::pki::{CertificateKind, TestPki};
use myna_hil::trace::{read_trace, PinRecording, TraceEvent, TraceRecorder, TraceSink};
use myna_hil::transport::identify::RealCardPolicy;
use myna_hil::transport::pcsc::{list_readers, PcscTransport, SlotState};
use myna_hil::transport::serve::ServeOptions;
use myna_hil::transport::{Transport, TransportError};
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256};

const OK: [u8; 2] = [0x90, 0x00];

fn open_vpcd_reader(policy: RealCardPolicy) -> PcscTransport {
    PcscTransport::open(Some(VPCD_READER), policy).expect("opening the vpcd reader")
}

fn split(rapdu: &[u8]) -> (&[u8], [u8; 2]) {
    let (data, sw) = rapdu.split_at(rapdu.len() - 2);
    (data, [sw[0], sw[1]])
}

/// Reads a whole EF the way most clients do: 4-byte header, then 256-byte chunks.
fn read_ef(transport: &mut PcscTransport) -> Vec<u8> {
    let header = transport.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04]).unwrap();
    assert_eq!(split(&header).1, OK);
    let size = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
    let mut content = Vec::new();
    while content.len() < size {
        let offset = u16::try_from(content.len()).unwrap().to_be_bytes();
        let chunk = transport
            .transmit(&[0x00, 0xB0, offset[0], offset[1], 0x00])
            .unwrap();
        let (data, sw) = split(&chunk);
        assert_eq!(sw, OK);
        content.extend_from_slice(data);
    }
    content.truncate(size);
    content
}

fn wait_for_slot(want_card: bool) {
    wait_until("the vpcd slot state", Duration::from_secs(10), || {
        list_readers()
            .unwrap()
            .iter()
            .any(|reader| reader.name == VPCD_READER && reader.state.has_card() == want_card)
    });
}

#[test]
pub(crate) fn reader_is_listed_with_the_cards_atr() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let expected_atr = load_card(&standard_card_path()).atr().unwrap();
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());
    let readers = list_readers().unwrap();
    let vpcd = readers
        .iter()
        .find(|reader| reader.name == VPCD_READER)
        .unwrap_or_else(|| panic!("{readers:?}"));
    assert!(
        matches!(vpcd.state, SlotState::Present | SlotState::InUse),
        "{vpcd:?}"
    );
    assert_eq!(
        vpcd.atr.as_deref(),
        Some(hex::encode_upper(&expected_atr).as_str())
    );

    let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
    assert_eq!(transport.connect().unwrap(), expected_atr);
    assert!(transport.is_emulated_card(), "our emulation proves itself");
    assert_eq!(transport.describe(), format!("pcsc:{VPCD_READER}"));
    transport.disconnect().unwrap();
    server.stop().unwrap();
}

#[test]
fn select_read_verify_and_sign_round_trips() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let fixture = load_card(&standard_card_path());
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());
    let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
    transport.connect().unwrap();

    assert_eq!(transport.transmit(&select_jpki()).unwrap(), OK);
    assert_eq!(transport.transmit(&select_ef([0x00, 0x0A])).unwrap(), OK);
    let certificate = read_ef(&mut transport);
    assert_eq!(certificate, fixture.auth_certificate_der());

    assert_eq!(transport.transmit(&select_ef([0x00, 0x18])).unwrap(), OK);
    assert_eq!(transport.transmit(&RETRY_QUERY).unwrap(), [0x63, 0xC3]);
    assert_eq!(transport.transmit(&verify(b"1234")).unwrap(), OK);

    // One exclusive step: select the key and sign a SHA-256 DigestInfo.
    let message = "本人確認 2025-04-01".as_bytes();
    let mut digest_info = vec![
        0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    digest_info.extend_from_slice(&Sha256::digest(message));
    let signature = transport
        .step(|step| {
            assert_eq!(step.transmit(&select_ef([0x00, 0x17]))?, OK);
            let mut sign = vec![0x80, 0x2A, 0x00, 0x80, digest_info.len() as u8];
            sign.extend_from_slice(&digest_info);
            sign.push(0x00);
            step.transmit(&sign)
        })
        .unwrap();
    let (signature, sw) = split(&signature);
    assert_eq!(sw, OK);
    assert_eq!(signature.len(), 256);
    let verified = TestPki::load()
        .unwrap()
        .verify_issued(CertificateKind::Authentication, &certificate)
        .unwrap();
    verified
        .public_key
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        )
        .expect("the card's signature verifies with the certificate's key");
    transport.disconnect().unwrap();
    server.stop().unwrap();
}

#[test]
fn removal_gives_a_removed_card_error_and_reinsertion_keeps_the_counters() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());
    let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
    transport.connect().unwrap();
    assert_eq!(transport.transmit(&select_jpki()).unwrap(), OK);
    assert_eq!(transport.transmit(&select_ef([0x00, 0x18])).unwrap(), OK);
    assert_eq!(transport.transmit(&verify(b"0000")).unwrap(), [0x63, 0xC2]);

    server.handle().remove();
    wait_for_slot(false);
    match transport.transmit(&select_jpki()) {
        Err(TransportError::CardRemoved) => {}
        other => panic!("expected a removed-card error, got {other:?}"),
    }
    assert!(!transport.is_emulated_card(), "no card, no proof");
    match transport.connect() {
        Err(TransportError::NoCard) => {}
        other => panic!("expected no card, got {other:?}"),
    }

    server.handle().insert();
    wait_for_slot(true);
    transport.connect().unwrap();
    assert_eq!(transport.transmit(&select_jpki()).unwrap(), OK);
    assert_eq!(transport.transmit(&select_ef([0x00, 0x18])).unwrap(), OK);
    assert_eq!(
        transport.transmit(&RETRY_QUERY).unwrap(),
        [0x63, 0xC2],
        "the wrong PIN before removal still counts"
    );
    transport.disconnect().unwrap();
    let card = server.stop().unwrap();
    assert_eq!(card.pin_counters().auth.map(|pin| pin.tries_left), Some(2));
}

#[test]
fn pin_steps_are_refused_on_a_card_that_cannot_prove_it_is_ours() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    // Our card with the identification answer switched off looks exactly like a real card.
    let options = ServeOptions {
        answer_identification: false,
        ..test_options()
    };
    let server = serve_to_pcscd(load_card(&standard_card_path()), options);
    let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
    transport.connect().unwrap();
    assert!(!transport.is_emulated_card());
    assert_eq!(
        transport.transmit(&select_jpki()).unwrap(),
        OK,
        "harmless commands go through"
    );
    assert_eq!(transport.transmit(&select_ef([0x00, 0x18])).unwrap(), OK);
    match transport.transmit(&verify(b"0000")) {
        Err(TransportError::Refused(message)) => {
            assert!(message.contains("--allow-real-card-changes"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        server
            .handle()
            .with_card(|card| card.pin_counters().auth.map(|pin| pin.tries_left)),
        Some(3),
        "no try consumed"
    );
    transport.disconnect().unwrap();

    let mut allowed = open_vpcd_reader(RealCardPolicy::AllowChanges);
    allowed.connect().unwrap();
    assert_eq!(allowed.transmit(&select_jpki()).unwrap(), OK);
    assert_eq!(allowed.transmit(&select_ef([0x00, 0x18])).unwrap(), OK);
    assert_eq!(
        allowed.transmit(&verify(b"0000")).unwrap(),
        [0x63, 0xC2],
        "the explicit flag lets it through"
    );
    allowed.disconnect().unwrap();
    server.stop().unwrap();
}

fn card_with_response_fault(fault: &str) -> myna_hil::card::Card {
    let text = std::fs::read_to_string(standard_card_path()).unwrap();
    let text = format!("{text}  faults:\n    response_status: \"{fault}\"\n");
    let description = CardDescription::from_yaml_str(&text, "standard.yaml + fault").unwrap();
    myna_hil::card::Card::from_description(&description, TestPki::load().unwrap()).unwrap()
}

#[test]
fn client_side_t0_rules_recover_the_data_behind_61xx_and_6cxx() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    // A read near the end of the certificate asks for more than is left, so a 6Cxx card must
    // answer 6C with the exact length; a 61xx card sends the data through GET RESPONSE.
    let certificate = load_card(&standard_card_path())
        .auth_certificate_der()
        .to_vec();
    let offset = u16::try_from(certificate.len() - 15).unwrap().to_be_bytes();
    let expected = certificate[certificate.len() - 15..].to_vec();
    let read_tail = [0x00, 0xB0, offset[0], offset[1], 0x20];
    let read_tail_hex = hex::encode_upper(read_tail);
    for (fault, status_prefix) in [("61xx", "61"), ("6Cxx", "6C")] {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("t0.jsonl");
        let mut options = test_options();
        options.sink = Some(
            TraceRecorder::create(&trace, "vpcd", None, PinRecording::Redacted)
                .unwrap()
                .into(),
        );
        let server = serve_to_pcscd(card_with_response_fault(fault), options);
        let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
        transport.connect().unwrap();
        assert!(
            transport.is_emulated_card(),
            "{fault}: the probe survives the fault"
        );
        assert_eq!(transport.transmit(&select_jpki()).unwrap(), OK);
        assert_eq!(transport.transmit(&select_ef([0x00, 0x0A])).unwrap(), OK);
        let read = transport.transmit(&read_tail).unwrap();
        assert_eq!(split(&read), (expected.as_slice(), OK), "{fault}");
        transport.disconnect().unwrap();
        server.stop().unwrap();
        // The card really answered with the fault status and the transport really recovered.
        let answers: Vec<(String, String)> = read_trace(&trace)
            .unwrap()
            .into_iter()
            .filter_map(|line| match line.event {
                TraceEvent::Apdu {
                    command, response, ..
                } => Some((command, response)),
                _ => None,
            })
            .collect();
        let faulted = answers.iter().position(|(command, response)| {
            *command == read_tail_hex && response.starts_with(status_prefix)
        });
        let faulted = faulted
            .unwrap_or_else(|| panic!("{fault}: no {status_prefix}xx answer in {answers:?}"));
        let follow_up = &answers[faulted + 1].0;
        match fault {
            "61xx" => assert!(
                follow_up.starts_with("00C00000"),
                "GET RESPONSE expected, got {follow_up}"
            ),
            _ => assert_eq!(
                *follow_up,
                format!("{}0F", &read_tail_hex[..8]),
                "re-send with the exact Le expected"
            ),
        }
    }
}

#[test]
fn clear_errors_for_unknown_readers_and_empty_slots() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    wait_for_slot(false);
    match PcscTransport::open(Some("No Such Reader 42"), RealCardPolicy::Refuse) {
        Err(error @ TransportError::NoReader(_)) => {
            let message = error.to_string();
            assert!(
                message.contains("No Such Reader 42") && message.contains(VPCD_READER),
                "{message}"
            );
        }
        other => panic!("expected no reader, got {other:?}"),
    }
    let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
    match transport.connect() {
        Err(TransportError::NoCard) => {}
        other => panic!("expected no card, got {other:?}"),
    }
}

#[test]
pub(crate) fn the_card_comes_back_after_pcscd_restarts() {
    let Some(mut pcscd) = Pcscd::own("this test restarts pcscd, so it must start it itself") else {
        return;
    };
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());
    let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
    transport.connect().unwrap();
    assert_eq!(transport.transmit(&select_jpki()).unwrap(), OK);
    assert_eq!(transport.transmit(&select_ef([0x00, 0x18])).unwrap(), OK);
    assert_eq!(transport.transmit(&verify(b"0000")).unwrap(), [0x63, 0xC2]);
    drop(transport);

    pcscd.restart();
    server
        .handle()
        .wait_for(Duration::from_secs(15), |status| {
            status.links >= 2 && status.link_up
        })
        .expect("reconnected to vpcd");
    wait_for_slot(true);
    let mut transport = open_vpcd_reader(RealCardPolicy::Refuse);
    transport.connect().unwrap();
    assert_eq!(transport.transmit(&select_jpki()).unwrap(), OK);
    assert_eq!(transport.transmit(&select_ef([0x00, 0x18])).unwrap(), OK);
    assert_eq!(
        transport.transmit(&RETRY_QUERY).unwrap(),
        [0x63, 0xC2],
        "state survived the restart"
    );
    transport.disconnect().unwrap();
    server.stop().unwrap();
}

fn card_compare(card: &std::path::Path, dir: &std::path::Path) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["card", "compare", "--reader"])
        .arg(format!("pcsc:{VPCD_READER}"))
        .arg("--card")
        .arg(card)
        .arg("--json")
        .arg(dir.join("compare.json"))
        .arg("--save-profile")
        .arg(dir.join("profile.yaml"))
        .output()
        .unwrap();
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// `card compare` with our own card served "as if real" (no identification answer, so the
/// harness treats it as someone's card): the same card file gives no difference (exit 0),
/// another card's file gives differences (exit 1), and the served card's transcript shows that
/// the probe sent nothing that spends a try, signs or changes the card. No personal data in
/// the outputs.
#[test]
fn card_compare_reads_only_and_tells_our_card_from_another() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("served.jsonl");
    // Built as `card compare` builds its emulated side: relative dates counted from today.
    let today_in_japan = (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive();
    let description = CardDescription::from_yaml_file(&standard_card_path())
        .unwrap()
        .on_day(today_in_japan);
    let card =
        myna_hil::card::Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    let options = ServeOptions {
        answer_identification: false,
        sink: Some(TraceSink::File(
            TraceRecorder::create(&trace, "vpcd", None, PinRecording::Kept).unwrap(),
        )),
        ..test_options()
    };
    let server = serve_to_pcscd(card, options);

    let (code, report) = card_compare(&standard_card_path(), dir.path());
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("0 difference"), "{report}");
    assert!(report.contains("structure and length only"), "{report}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("compare.json")).unwrap())
            .unwrap();
    assert_eq!(json["differences"], 0);
    assert!(json["steps"].as_array().unwrap().len() > 60);
    assert!(json["atr"]["real_kind"]
        .as_str()
        .unwrap()
        .starts_with("contact"));

    let other = fixture_card("juki_token.yaml");
    let (code, report) = card_compare(&other, dir.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("DIFFERENT"), "the ATRs differ: {report}");
    let profile = std::fs::read_to_string(dir.path().join("profile.yaml")).unwrap();
    assert!(
        profile.contains(
            "atr: { custom: \"3B DA 13 FF 81 31 FB 46 80 12 39 2F 31 C1 73 C6 01 C0 3B\" }"
        ),
        "the overlay carries the real card's ATR: {profile}"
    );
    // The overlay is a valid card section: the person of the card file plus it loads.
    let person = std::fs::read_to_string(standard_card_path()).unwrap();
    let person = person.split("card:").next().unwrap();
    if let Err(error) =
        CardDescription::from_yaml_str(&format!("{person}\n{profile}"), "profile.yaml")
    {
        panic!("{error}\n{profile}");
    }

    // A card file whose open behaviours differ: the overlay sets the options that explain it.
    let variant = dir.path().join("variant.yaml");
    std::fs::write(
        &variant,
        std::fs::read_to_string(standard_card_path())
            .unwrap()
            .replace(
                "card:\n",
                "card:\n  options: { mf_optional_objects: false, select_by_aid_prefix: false }\n",
            ),
    )
    .unwrap();
    let (code, report) = card_compare(&variant, dir.path());
    assert_eq!(code, Some(1), "{report}");
    let options = std::fs::read_to_string(dir.path().join("profile.yaml")).unwrap();
    assert!(options.contains("mf_optional_objects: true"), "{options}");
    assert!(options.contains("select_by_aid_prefix: true"), "{options}");
    assert!(
        !options.contains("atr:"),
        "the ATRs are the same: {options}"
    );
    if let Err(error) =
        CardDescription::from_yaml_str(&format!("{person}\n{options}"), "profile.yaml")
    {
        panic!("{error}\n{options}");
    }
    server.stop().unwrap();

    // Nothing personal in any output: not the 個人番号, in digits or as hex.
    let json_text = std::fs::read_to_string(dir.path().join("compare.json")).unwrap();
    for text in [&report, &profile, &json_text] {
        assert!(!text.contains("123456789018"));
        assert!(!text.contains("313233343536373839303138"));
        assert!(!text
            .to_uppercase()
            .contains("31 32 33 34 35 36 37 38 39 30 31 38"));
    }

    // What the served card received: reads, retry queries, the identification probe.
    let commands: Vec<Vec<u8>> = read_trace(&trace)
        .unwrap()
        .into_iter()
        .filter_map(|line| match line.event {
            TraceEvent::Apdu { command, .. } => Some(hex::decode(command).unwrap()),
            _ => None,
        })
        .collect();
    assert!(commands.len() > 120, "two probes: {}", commands.len());
    for command in &commands {
        assert_eq!(
            myna_hil::apdu::card_change(command),
            None,
            "{}",
            hex::encode_upper(command)
        );
        assert!(
            !matches!(command[1], 0x2A | 0x88),
            "a signature: {}",
            hex::encode_upper(command)
        );
        if command[1] == 0x20 {
            assert_eq!(
                command.len(),
                4,
                "VERIFY with data: {}",
                hex::encode_upper(command)
            );
        }
    }
}

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

fn oqs() -> Oqs {
    // The clinic's registry: its taro holds the standard card these receptions use.
    let text = std::fs::read_to_string(crate::support::oqs::REGISTRY).unwrap();
    let description = RegistryDescription::from_yaml(crate::support::oqs::REGISTRY, &text).unwrap();
    let registry = Registry::from_description(crate::support::oqs::REGISTRY, &description).unwrap();
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
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
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

/// vsmartcard's Android Smart Card Emulator in its remote mode ("VICCEmulator"), as its source
/// behaves: it connects to the listening card and sends power on (`01`) once, relays each
/// C-APDU the NFC reader sends as one frame and waits for one answer, sends power off (`00`)
/// when the reader's field goes and keeps the link, and closes the link only when the app
/// destroys its emulator. It never asks for the ATR: a contactless reader builds its own.
struct PhoneLink {
    card: std::net::SocketAddr,
    stream: Option<std::net::TcpStream>,
    /// What the physical reader reports; the phone itself never learns it.
    atr: Vec<u8>,
    in_field: bool,
    round_trips: Vec<std::time::Duration>,
}

impl PhoneLink {
    fn new(card: std::net::SocketAddr, atr: Vec<u8>) -> PhoneLink {
        PhoneLink {
            card,
            stream: None,
            atr,
            in_field: false,
            round_trips: Vec::new(),
        }
    }

    fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let stream = self.stream.as_mut().expect("connected");
        let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        stream.write_all(&frame)
    }

    fn receive(&mut self) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let stream = self.stream.as_mut().expect("connected");
        let mut header = [0u8; 2];
        stream.read_exact(&mut header)?;
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(header))];
        stream.read_exact(&mut payload)?;
        Ok(payload)
    }

    /// The app destroys its emulator: the link closes (the card is removed).
    fn destroy(&mut self) {
        self.stream = None;
        self.in_field = false;
    }
}

impl myna_hil::transport::Transport for PhoneLink {
    fn describe(&self) -> String {
        format!("phone:{}", self.card)
    }

    /// The phone enters a reader's field. The first time the app connects and powers the card
    /// on; later fields reach the card through their first command only.
    fn connect(&mut self) -> Result<Vec<u8>, myna_hil::transport::TransportError> {
        if self.stream.is_none() {
            let stream = std::net::TcpStream::connect(self.card)?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.send(&[0x01])?;
        }
        self.in_field = true;
        Ok(self.atr.clone())
    }

    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, myna_hil::transport::TransportError> {
        if !self.in_field {
            return Err(myna_hil::transport::TransportError::NoCard);
        }
        let started = std::time::Instant::now();
        self.send(capdu)?;
        let answer = self.receive()?;
        self.round_trips.push(started.elapsed());
        Ok(answer)
    }

    /// The field goes: power off, link kept.
    fn disconnect(&mut self) -> Result<(), myna_hil::transport::TransportError> {
        if self.in_field && self.stream.is_some() {
            self.send(&[0x00])?;
        }
        self.in_field = false;
        Ok(())
    }

    fn is_emulated_card(&self) -> bool {
        true
    }
}

fn status_word(rapdu: &[u8]) -> u16 {
    u16::from_be_bytes([rapdu[rapdu.len() - 2], rapdu[rapdu.len() - 1]])
}

/// The phone-side conformance test: the card listens as `card serve --listen` does, the phone
/// plays the Android app over loopback. Receptions run through it, field after field and
/// connection after connection, and every state rule of the card holds across them: PIN
/// counters are kept, security status ends with the field and with the link.
#[test]
fn a_phone_relays_receptions_and_the_card_keeps_its_rules_across_fields_and_reconnections() {
    use myna_hil::apdu::build;
    const EF_AUTH_PIN: [u8; 2] = [0x00, 0x18];
    const EF_AUTH_KEY: [u8; 2] = [0x00, 0x17];
    use myna_hil::transport::serve::{spawn_listen, ListenConfig};
    use myna_hil::transport::Transport;

    let card = load_card(&standard_card_path());
    let ocr = FaceOcr::of_card(&card);
    let atr = card.atr().unwrap();
    let config = ListenConfig {
        second_slot: false,
        ..ListenConfig::new("127.0.0.1:0")
    };
    let (server, listening) = spawn_listen(card, config, test_options()).unwrap();
    let mut phone = PhoneLink::new(listening.card, atr);
    let oqs = oqs();
    let comprehensive = Input::ConsentMode {
        mode: ConsentMode::Comprehensive,
    };
    let run = |phone: &mut PhoneLink, inputs: Vec<Input>| {
        let mut terminal = terminal();
        for input in inputs {
            terminal.handle(input, phone, &oqs).unwrap();
        }
        terminal.outcome().clone()
    };
    let pin_reception = |pins: &[&str]| {
        let mut inputs = vec![Input::PlaceCard, Input::ChoosePin];
        inputs.extend(pins.iter().map(|pin| Input::EnterPin {
            pin: Pin::new(*pin),
        }));
        inputs.extend([comprehensive.clone(), Input::RemoveCard]);
        inputs
    };

    // Field 1: a PIN reception with one wrong PIN.
    let outcome = run(&mut phone, pin_reception(&["9999", "1234"]));
    let reception_apdus = phone.round_trips.len();
    assert_eq!(outcome.message_codes, vec![MessageCode::PinWrong]);
    assert_eq!(outcome.identity, Some(IdentityMethod::Pin));
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.commands.pin_verify, 2);
    let tries = || {
        server
            .handle()
            .with_card(|card| card.pin_counters().auth.unwrap().tries_left)
    };
    assert_eq!(tries(), 3, "the correct PIN restored the counter");
    server
        .handle()
        .wait_for(std::time::Duration::from_secs(5), |status| !status.powered)
        .expect("the field went: power off");

    // Field 2 on the same link, no power on from the phone: a face reception.
    let outcome = run(
        &mut phone,
        vec![
            Input::PlaceCard,
            Input::ChooseFace { ocr: ocr.clone() },
            Input::FaceResult { matched: true },
            comprehensive.clone(),
            Input::RemoveCard,
        ],
    );
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(outcome.commands.collation_verify, 1);
    assert_eq!(server.handle().status().links, 1);

    // Security status ends with the field: a signature after VERIFY works in that field only.
    let digest_info = [
        &[
            0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ][..],
        &[0x5A; 32],
    ]
    .concat();
    let sign = build::compute_digital_signature(&digest_info).unwrap();
    phone.connect().unwrap();
    for command in [
        select_jpki(),
        select_ef(EF_AUTH_PIN),
        verify(b"1234"),
        select_ef(EF_AUTH_KEY),
    ] {
        assert_eq!(status_word(&phone.transmit(&command).unwrap()), 0x9000);
    }
    assert_eq!(status_word(&phone.transmit(&sign).unwrap()), 0x9000);
    phone.disconnect().unwrap();
    phone.connect().unwrap();
    phone.transmit(&select_jpki()).unwrap();
    phone.transmit(&select_ef(EF_AUTH_KEY)).unwrap();
    assert_eq!(
        status_word(&phone.transmit(&sign).unwrap()),
        0x6982,
        "the next field starts without the verified PIN"
    );

    // A wrong PIN, then the app reconnects: the counter is kept, the PIN is not.
    phone.transmit(&select_ef(EF_AUTH_PIN)).unwrap();
    assert_eq!(
        status_word(&phone.transmit(&verify(b"0000")).unwrap()),
        0x63C2
    );
    phone.disconnect().unwrap();
    phone.destroy();
    server
        .handle()
        .wait_for(std::time::Duration::from_secs(5), |status| !status.link_up)
        .unwrap();
    phone.connect().unwrap();
    for command in [select_jpki(), select_ef(EF_AUTH_PIN)] {
        phone.transmit(&command).unwrap();
    }
    assert_eq!(
        status_word(&phone.transmit(&RETRY_QUERY).unwrap()),
        0x63C2,
        "the counter survives the reconnection"
    );
    phone.transmit(&select_ef(EF_AUTH_KEY)).unwrap();
    assert_eq!(status_word(&phone.transmit(&sign).unwrap()), 0x6982);
    phone.disconnect().unwrap();
    assert_eq!(server.handle().status().links, 2);

    // A reception over the new link: the wrong PIN of before still counts, the right one
    // restores it.
    let outcome = run(&mut phone, pin_reception(&["1234"]));
    assert_eq!(outcome.validity, Some(QualificationValidity::Valid));
    assert_eq!(tries(), 3);

    // Per-APDU cost over loopback (card latency off): the lower bound for a phone on Wi-Fi.
    phone.round_trips.clear();
    phone.connect().unwrap();
    for _ in 0..500 {
        phone.transmit(&select_jpki()).unwrap();
    }
    let mut times = phone.round_trips.clone();
    times.sort();
    let percentile = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    eprintln!(
        "phone link over loopback: a PIN reception is {reception_apdus} APDUs; {} SELECTs: median {:?}, p99 {:?}, max {:?}",
        times.len(),
        percentile(50),
        percentile(99),
        times[times.len() - 1]
    );
    phone.disconnect().unwrap();
    phone.destroy();
    server.stop().unwrap();
}

/// pcscd with a reader.conf of its own whose vpcd connects out to the listening card: the
/// reader flow runs a reception through it, and the placeholder card keeps vpcd's second
/// slot (PORT+1) answering, without which Debian's pcscd aborts.
#[test]
pub(crate) fn pcscd_connecting_out_to_a_listening_card_runs_a_reception() {
    use myna_hil::transport::serve::{spawn_listen, ListenConfig, PLACEHOLDER_ATR};

    let card = load_card(&standard_card_path());
    let (server, listening) =
        spawn_listen(card, ListenConfig::new("127.0.0.1:0"), test_options()).unwrap();
    assert_eq!(
        listening.second_slot.unwrap().port(),
        listening.card.port() + 1
    );
    let Some(mut pcscd) = Pcscd::connecting_out(listening.card) else {
        return;
    };
    let readers = myna_hil::transport::pcsc::list_readers().unwrap();
    let second = readers
        .iter()
        .find(|reader| reader.name == "Virtual PCD 00 01")
        .unwrap_or_else(|| panic!("{readers:?}"));
    let placeholder: String = PLACEHOLDER_ATR
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        second.atr.as_deref().map(|atr| atr.replace(' ', "")),
        Some(placeholder.replace(' ', "")),
        "{readers:?}"
    );

    let oqs = oqs();
    let mut transport = PcscTransport::open(Some(VPCD_READER), RealCardPolicy::Refuse).unwrap();
    let mut reception = terminal();
    feed(
        &mut reception,
        &mut transport,
        &oqs,
        vec![
            Input::PlaceCard,
            Input::ChoosePin,
            Input::EnterPin {
                pin: Pin::new("1234"),
            },
            Input::ConsentMode {
                mode: ConsentMode::Comprehensive,
            },
            Input::RemoveCard,
        ],
    );
    assert_eq!(
        reception.outcome().validity,
        Some(QualificationValidity::Valid)
    );
    assert_eq!(server.handle().status().links, 1, "one link for the run");
    assert!(pcscd.alive());
    drop(transport);
    // pcscd first: with Debian's vpcd a closed link makes it abort at its next poll.
    drop(pcscd);
    server.stop().unwrap();
}

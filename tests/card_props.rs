//! Properties of the card core: no input panics it, retry counters keep their invariants, and
//! READ BINARY serves exactly the file's bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::sync::OnceLock;

use crate::support::card::*;
use myna_hil::card::{Card, CardPin, AID_JPKI};
use proptest::prelude::*;

/// Built once per test binary (card construction signs issuer data); each case clones it.
fn template() -> &'static Card {
    static CARD: OnceLock<Card> = OnceLock::new();
    CARD.get_or_init(|| powered_card("standard"))
}

fn fresh() -> Card {
    let mut card = template().clone();
    card.power_on();
    card
}

/// The status words this card can give: success, warnings, and ISO error classes.
fn plausible_sw(sw: u16) -> bool {
    matches!(
        sw >> 8,
        0x61 | 0x63 | 0x66 | 0x67 | 0x68 | 0x69 | 0x6A | 0x6B | 0x6C | 0x6D | 0x6E | 0x6F | 0x90
    ) && (sw >> 8 != 0x90 || sw == 0x9000)
}

/// An APDU that is often well-formed: a known header, arbitrary tail.
fn apdu_strategy() -> impl Strategy<Value = Vec<u8>> {
    let header = prop::sample::select(vec![
        vec![0x00, 0xA4, 0x04, 0x0C],
        vec![0x00, 0xA4, 0x02, 0x0C],
        vec![0x00, 0xB0],
        vec![0x00, 0x20, 0x00],
        vec![0x00, 0x24, 0x01],
        vec![0x80, 0x2A, 0x00],
        vec![0x00, 0x84, 0x00, 0x00],
        vec![0x00, 0xC0, 0x00, 0x00],
        vec![0x08, 0xA4, 0x02, 0x0C],
        vec![0x08, 0xB0],
        vec![0x0C, 0x20, 0x00],
        vec![0x80, 0xAE, 0x00, 0x00],
        vec![0x80, 0x32, 0x00],
        vec![],
    ]);
    (header, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(mut head, tail)| {
        head.extend(tail);
        head
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_answer_a_status_word(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut card = fresh();
        let reply = card.process(&bytes);
        prop_assert!(reply.rapdu.len() >= 2);
        let sw = u16::from_be_bytes([reply.rapdu[reply.rapdu.len() - 2], reply.rapdu[reply.rapdu.len() - 1]]);
        prop_assert!(plausible_sw(sw), "SW {sw:04X}");
        if sw != 0x9000 && sw >> 8 != 0x61 {
            prop_assert_eq!(reply.rapdu.len(), 2, "error answers carry no data");
        }
    }

    #[test]
    fn sequences_of_commands_stay_well_formed(commands in prop::collection::vec(apdu_strategy(), 1..24)) {
        let mut card = fresh();
        send(&mut card, SELECT_JPKI);
        for command in commands {
            let reply = card.process(&command);
            prop_assert!(reply.rapdu.len() >= 2);
            let sw = u16::from_be_bytes([reply.rapdu[reply.rapdu.len() - 2], reply.rapdu[reply.rapdu.len() - 1]]);
            prop_assert!(plausible_sw(sw), "SW {sw:04X} for {command:02X?}");
            let counters = card.pin_counters();
            for state in [counters.auth, counters.signing, counters.text].into_iter().flatten() {
                prop_assert!(state.tries_left <= state.max_tries);
            }
        }
    }

    #[test]
    fn read_binary_serves_exactly_the_file(fid in prop::sample::select(vec![0x0006u16, 0x0008, 0x000A, 0x000B, 0x0002]),
                                           offset in 0usize..0x0700, le in 1usize..=256, extended in any::<bool>()) {
        let mut card = fresh();
        send(&mut card, SELECT_JPKI);
        prop_assert_eq!(select_ef(&mut card, fid), 0x9000);
        let file = card.file_contents(&AID_JPKI, fid).expect("data EF").to_vec();
        let [hi, lo] = (offset as u16).to_be_bytes();
        let mut apdu = vec![0x00, 0xB0, hi, lo];
        if extended {
            apdu.extend_from_slice(&[0x00, (le >> 8) as u8, le as u8]);
        } else {
            apdu.push(le as u8); // 256 wraps to 00, which means 256
        }
        let (data, sw) = send_bytes(&mut card, &apdu);
        if offset >= file.len() {
            prop_assert_eq!(sw, 0x6B00);
            prop_assert!(data.is_empty());
        } else {
            prop_assert_eq!(sw, 0x9000);
            let end = (offset + le).min(file.len());
            prop_assert!(!data.is_empty(), "never 0 bytes with 90 00 for an in-range offset");
            prop_assert_eq!(&data[..], &file[offset..end]);
        }
    }
}

#[derive(Debug, Clone)]
enum PinOp {
    Right,
    Wrong,
    Query,
    Reset,
    Unblock,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn retry_counter_invariants(ops in prop::collection::vec(
        prop_oneof![4 => Just(PinOp::Wrong), 2 => Just(PinOp::Right), 1 => Just(PinOp::Query), 1 => Just(PinOp::Reset), 1 => Just(PinOp::Unblock)],
        1..40)) {
        let mut card = fresh();
        let mut expected_tries: u8 = 3;
        send(&mut card, SELECT_JPKI);
        select_ef(&mut card, 0x0018);
        for op in ops {
            let (_, sw) = match op {
                PinOp::Right => send(&mut card, "00 20 00 80 04 31 32 33 34"),
                PinOp::Wrong => send(&mut card, "00 20 00 80 04 39 39 39 39"),
                PinOp::Query => send(&mut card, "00 20 00 80"),
                PinOp::Reset => {
                    card.reset();
                    send(&mut card, SELECT_JPKI);
                    select_ef(&mut card, 0x0018);
                    (Vec::new(), 0)
                }
                PinOp::Unblock => {
                    card.unblock(CardPin::Auth, None).expect("standard card has an auth PIN");
                    (Vec::new(), 0)
                }
            };
            match op {
                PinOp::Right if expected_tries == 0 => prop_assert_eq!(sw, 0x6984, "a lock stays until unblock"),
                PinOp::Right => { prop_assert_eq!(sw, 0x9000); expected_tries = 3; }
                PinOp::Wrong if expected_tries == 0 => prop_assert_eq!(sw, 0x6984),
                PinOp::Wrong => { expected_tries -= 1; prop_assert_eq!(sw, 0x63C0 | u16::from(expected_tries)); }
                PinOp::Query => prop_assert_eq!(sw, 0x63C0 | u16::from(expected_tries)),
                PinOp::Reset => {}
                PinOp::Unblock => expected_tries = 3,
            }
            let state = card.pin_counters().auth.expect("auth PIN");
            prop_assert_eq!(state.tries_left, expected_tries);
            prop_assert_eq!(state.max_tries, 3);
        }
    }
}

#[test]
fn unpowered_and_mute_cards_do_not_answer_with_data() {
    let mut card = template().clone();
    card.power_off();
    assert!(!card.is_powered());
    assert_eq!(
        card.process(&[0x00, 0xA4, 0x00, 0x00]).rapdu,
        vec![0x6F, 0x00]
    );
    let pki = myna_hil::pki::TestPki::load().expect("pki");
    let mut mute = Card::from_description(&description("mute"), pki).expect("builds");
    assert_eq!(mute.power_on(), None);
    assert_eq!(mute.atr(), None);
    assert!(!mute.is_powered());
}

#[test]
fn unblock_checks_the_new_value_without_echoing_it() {
    let mut card = fresh();
    let error = card
        .unblock(CardPin::Signing, Some("abc"))
        .expect_err("lower case refused")
        .to_string();
    assert!(error.contains("signing"), "{error}");
    assert!(!error.contains("abc"), "{error}");
    card.unblock(CardPin::Signing, Some("NEWPASS1"))
        .expect("valid password");
    send(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x001B);
    assert_eq!(
        send(&mut card, "00 20 00 80 08 4E 45 57 50 41 53 53 31").1,
        0x9000
    );
}

/// What happens to the card between two checks of the security status (docs/spec/card-measured.md §2).
#[derive(Debug, Clone, Copy)]
enum StatusEvent {
    VerifySigningPassword,
    ReselectJpki,
    SelectOtherApplication,
    SelectIsd,
    SelectMf,
    WarmReset,
    PowerCycle,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The signing certificate opens exactly while the password verified in JPKI has not been
    /// cleared by another application, the ISD or a power-off; re-selecting JPKI, SELECT MF
    /// and warm resets keep it.
    #[test]
    fn security_status_follows_the_measured_rules(events in prop::collection::vec(
        prop::sample::select(vec![
            StatusEvent::VerifySigningPassword, StatusEvent::ReselectJpki,
            StatusEvent::SelectOtherApplication, StatusEvent::SelectIsd, StatusEvent::SelectMf,
            StatusEvent::WarmReset, StatusEvent::PowerCycle,
        ]), 1..20)) {
        let mut card = fresh();
        let mut verified = false;
        for event in events {
            match event {
                StatusEvent::VerifySigningPassword => {
                    send(&mut card, SELECT_JPKI);
                    prop_assert_eq!(send(&mut card, "00 20 00 9B 06 41 42 43 31 32 33").1, 0x9000);
                    verified = true;
                }
                StatusEvent::ReselectJpki => { send(&mut card, SELECT_JPKI); }
                StatusEvent::SelectOtherApplication => {
                    send(&mut card, SELECT_TEXT);
                    verified = false;
                }
                StatusEvent::SelectIsd => {
                    prop_assert_eq!(send(&mut card, "00 A4 04 0C 07 A0 00 00 01 51 00 00").1, 0x9000);
                    verified = false;
                }
                StatusEvent::SelectMf => { send(&mut card, "00 A4 00 00"); }
                StatusEvent::WarmReset => { card.reset(); }
                StatusEvent::PowerCycle => {
                    card.power_off();
                    card.power_on();
                    verified = false;
                }
            }
        }
        send(&mut card, SELECT_JPKI);
        prop_assert_eq!(select_ef(&mut card, 0x0001), 0x9000);
        let sw = send(&mut card, "00 B0 00 00 01").1;
        prop_assert_eq!(sw, if verified { 0x9000 } else { 0x6982 });
    }

    /// `80 2A` with any P1 and any data length: P1 00-05 with an accepted length signs
    /// (256 bytes), everything else is refused without data (docs/spec/card-measured.md §8.4).
    #[test]
    fn signing_answers_follow_p1_and_length(p1 in prop_oneof![0u8..=5, any::<u8>()], length in 1usize..=255) {
        let mut card = fresh();
        send(&mut card, SELECT_JPKI);
        prop_assert_eq!(send(&mut card, "00 20 00 98 04 31 32 33 34").1, 0x9000);
        let mut apdu = vec![0x80, 0x2A, p1, 0x97, length as u8];
        apdu.extend(std::iter::repeat_n(0x5Au8, length));
        apdu.push(0x00);
        let (data, sw) = send_bytes(&mut card, &apdu);
        let accepted = match p1 {
            0x00 => length <= 245,
            0x02 | 0x04 => length == 32,
            0x01 | 0x03 | 0x05 => true,
            _ => false,
        };
        if p1 > 5 {
            prop_assert_eq!(sw, 0x6A86);
        } else if accepted {
            prop_assert_eq!(sw, 0x9000);
            prop_assert_eq!(data.len(), 256);
        } else {
            prop_assert_eq!(sw, 0x6700);
        }
        if sw != 0x9000 {
            prop_assert!(data.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// GET DATA with any tag and Le: data only for the objects the card has, at the MF level,
    /// and only when Le covers the whole object (docs/spec/card-measured.md §3.2).
    #[test]
    fn get_data_answers_only_whole_known_objects(p1 in prop_oneof![Just(0x00u8), Just(0x7F), Just(0x5F), any::<u8>()],
                                                 p2 in prop_oneof![Just(0xF0u8), Just(0xF8), Just(0x21), Just(0x51), Just(0x42), Just(0x45), Just(0x66), any::<u8>()],
                                                 le in 1usize..=700, extended in any::<bool>(), in_application in any::<bool>()) {
        let mut card = fresh();
        if in_application {
            send(&mut card, SELECT_JPKI);
        }
        let mut apdu = vec![0x00, 0xCA, p1, p2];
        if extended {
            apdu.extend_from_slice(&[0x00, (le >> 8) as u8, le as u8]);
        } else {
            apdu.push(le.min(256) as u8);
        }
        let le = if extended { le } else { le.min(256) };
        let (data, sw) = send_bytes(&mut card, &apdu);
        // 0042, 0045 and 0066 vary between cards; the fixture has them (option mf_optional_objects).
        let known = matches!((p1, p2), (0x00, 0xF0 | 0xF2 | 0xF7 | 0xF8 | 0x42 | 0x45 | 0x66) | (0x7F, 0x21) | (0x5F, 0x51));
        let reachable = known && (!in_application || (p1, p2) == (0x5F, 0x51));
        match sw {
            0x9000 => {
                prop_assert!(reachable);
                prop_assert!(!data.is_empty() && data.len() <= le);
            }
            0x6700 => prop_assert!(reachable && data.is_empty()),
            0x6A88 => prop_assert!(!reachable && data.is_empty()),
            other => prop_assert!(false, "SW {other:04X}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// READ RECORD and INTERNAL AUTHENTICATE in the 共通AP with arbitrary parameters: record 1
    /// of EF0001 (by current EF or SFI 1) and key 0019 answer, everything else is a bare
    /// status word (docs/spec/card-measured.md §1.5, §5).
    #[test]
    fn common_ap_commands_answer_data_only_where_they_should(ins in prop::sample::select(vec![0xB2u8, 0x88]),
                                                           p1 in any::<u8>(), p2 in any::<u8>(),
                                                           data in prop::collection::vec(any::<u8>(), 0..40),
                                                           select_card_info in any::<bool>()) {
        let mut card = fresh();
        send(&mut card, "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 01 00");
        if select_card_info {
            prop_assert_eq!(select_ef(&mut card, 0x0001), 0x9000);
        }
        let mut apdu = vec![0x00, ins, p1, p2];
        if !data.is_empty() {
            apdu.push(data.len() as u8);
            apdu.extend_from_slice(&data);
        }
        apdu.push(0x00);
        let (answer, sw) = send_bytes(&mut card, &apdu);
        let expected_data = match ins {
            0xB2 => data.is_empty() && p1 == 1 && (p2 == 0x0C || (p2 == 0x04 && select_card_info)),
            _ => !data.is_empty() && p1 == 0 && p2 == 0x99,
        };
        prop_assert_eq!(sw == 0x9000, expected_data, "SW {:04X}", sw);
        if sw == 0x9000 {
            prop_assert_eq!(answer.len(), if ins == 0xB2 { 30 } else { 256 });
        } else {
            prop_assert!(answer.is_empty());
        }
    }
}

/// The client side of a text-AP session (docs/spec/card-measured.md §6.10), with RustCrypto, so the
/// property can build well-formed SM commands for any counter.
mod secure_messaging {
    use aes::cipher::block_padding::Iso7816;
    use aes::cipher::{BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
    use aes::Aes128;
    use myna_hil::card::Card;
    use rand::SeedableRng;
    use rsa::{BigUint, Oaep, RsaPublicKey};
    use sha2::Sha256;

    use crate::support::card::*;

    pub(super) const KEY_MATERIAL: [u8; 32] = [0x5A; 32];

    pub(super) fn key() -> [u8; 16] {
        KEY_MATERIAL[..16].try_into().unwrap()
    }

    /// The standard card in the text AP with its PIN verified and a session open at
    /// counter 0.
    pub(super) fn card_with_session(mut card: Card) -> Card {
        send(&mut card, SELECT_TEXT);
        select_ef(&mut card, 0x0011);
        assert_eq!(send(&mut card, "00 20 00 80 04 31 32 33 34").1, 0x9000);
        select_ef(&mut card, 0x0006);
        let (file, _) = send(&mut card, "00 B0 00 00 00 00 00");
        let delivery_key = RsaPublicKey::new(
            BigUint::from_bytes_be(&file[13..269]),
            BigUint::from(65537u32),
        )
        .unwrap();
        let mut plaintext = vec![0xA0, 0x22, 0x80, 0x20];
        plaintext.extend_from_slice(&KEY_MATERIAL);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let cryptogram = delivery_key
            .encrypt(&mut rng, Oaep::new::<Sha256>(), &plaintext)
            .unwrap();
        let mut apdu = vec![0x80, 0xAE, 0x00, 0x00, 0x00, 0x01, 0x00];
        apdu.extend_from_slice(&cryptogram);
        assert_eq!(send_bytes(&mut card, &apdu).1, 0x9000);
        card
    }

    /// `86 L 01 ‖ AES-128-CBC(pad(plaintext), AES(K, counter))`.
    pub(super) fn cryptogram(counter: u128, plaintext: &[u8]) -> Vec<u8> {
        let key = key();
        let mut iv = counter.to_be_bytes().into();
        Aes128::new(&key.into()).encrypt_block(&mut iv);
        let mut buffer = vec![0u8; (plaintext.len() / 16 + 1) * 16];
        buffer[..plaintext.len()].copy_from_slice(plaintext);
        let ciphertext = cbc::Encryptor::<Aes128>::new(&key.into(), &iv)
            .encrypt_padded_mut::<Iso7816>(&mut buffer, plaintext.len())
            .unwrap()
            .to_vec();
        let mut object = vec![0x86, (ciphertext.len() + 1) as u8, 0x01];
        object.extend_from_slice(&ciphertext);
        object
    }
}

fn session_template() -> &'static Card {
    static CARD: OnceLock<Card> = OnceLock::new();
    CARD.get_or_init(|| secure_messaging::card_with_session(fresh()))
}

/// One CLA 08 command of the property: well-formed for some counter, or garbage.
#[derive(Debug, Clone)]
enum SmCommand {
    /// SELECT or VERIFY with a cryptogram for `expected counter + skew`.
    Wrapped {
        ins: u8,
        p2: u8,
        plaintext: Vec<u8>,
        skew: i8,
    },
    /// READ BINARY with a plain `96` object.
    Read { offset: u16, length: u16 },
    /// Any bytes after an SM header.
    Garbage {
        ins: u8,
        p1: u8,
        p2: u8,
        tail: Vec<u8>,
    },
    /// A plain READ BINARY in between.
    Plain,
}

fn sm_command_strategy() -> impl Strategy<Value = SmCommand> {
    prop_oneof![
        3 => (prop::sample::select(vec![0xA4u8, 0x20]), prop::sample::select(vec![0x0Cu8, 0x91, 0x94, 0x95, 0x92]),
              prop::collection::vec(any::<u8>(), 0..20), prop_oneof![4 => Just(0i8), 1 => -3i8..=3])
            .prop_map(|(ins, p2, plaintext, skew)| SmCommand::Wrapped { ins, p2, plaintext, skew }),
        2 => (0u16..600, 0u16..700).prop_map(|(offset, length)| SmCommand::Read { offset, length }),
        2 => (any::<u8>(), any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..60))
            .prop_map(|(ins, p1, p2, tail)| SmCommand::Garbage { ins, p1, p2, tail }),
        1 => Just(SmCommand::Plain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Secure messaging with random counters and garbage (docs/spec/card-measured.md §6.10): the card
    /// never panics, never answers an SM command in plaintext (data is empty or exactly one
    /// `86 L 01 ‖ whole blocks` object, and never holds the 個人番号 in the clear), and once
    /// a command got `69 88` / `69 87` every later SM command is `69 FC`.
    #[test]
    fn secure_messaging_never_answers_in_plaintext(commands in prop::collection::vec(sm_command_strategy(), 1..16)) {
        let mut card = session_template().clone();
        let mut counter: u128 = 0;
        let mut alive = true;
        for command in commands {
            let apdu = match &command {
                SmCommand::Wrapped { ins, p2, plaintext, skew } => {
                    let used = (counter as i128 + 1 + i128::from(*skew)).max(0) as u128;
                    let object = secure_messaging::cryptogram(used, plaintext);
                    let p1 = if *ins == 0xA4 { 0x02 } else { 0x00 };
                    let mut apdu = vec![0x08, *ins, p1, *p2, object.len() as u8];
                    apdu.extend_from_slice(&object);
                    apdu
                }
                SmCommand::Read { offset, length } => {
                    let [oh, ol] = offset.to_be_bytes();
                    let [lh, ll] = length.to_be_bytes();
                    vec![0x08, 0xB0, oh & 0x7F, ol, 0x00, 0x00, 0x05, 0x96, 0x03, 0x00, lh, ll, 0x00, 0x00]
                }
                SmCommand::Garbage { ins, p1, p2, tail } => {
                    let mut apdu = vec![0x08, *ins, *p1, *p2];
                    apdu.extend_from_slice(tail);
                    apdu
                }
                SmCommand::Plain => vec![0x00, 0xB0, 0x00, 0x00, 0x02],
            };
            let reply = card.process(&apdu);
            prop_assert!(reply.rapdu.len() >= 2);
            let (data, sw) = reply.rapdu.split_at(reply.rapdu.len() - 2);
            let sw = u16::from_be_bytes([sw[0], sw[1]]);
            prop_assert!(plausible_sw(sw), "SW {sw:04X} for {apdu:02X?}");
            if matches!(command, SmCommand::Plain) {
                continue;
            }
            // An APDU that does not parse is refused before secure messaging sees it.
            if myna_hil::apdu::Command::parse(&apdu).is_err() {
                prop_assert_eq!(sw, 0x6700);
                prop_assert!(data.is_empty());
                continue;
            }
            if !alive {
                prop_assert_eq!(sw, 0x69FC, "a dead session answers 69 FC");
                prop_assert!(data.is_empty());
                continue;
            }
            if !data.is_empty() {
                prop_assert_eq!(data[0], 0x86, "SM data is one 86 object: {:02X?}", data);
                let (length, header) = match data[1] {
                    0x81 => (usize::from(data[2]), 3),
                    0x82 => (usize::from(u16::from_be_bytes([data[2], data[3]])), 4),
                    short => (usize::from(short), 2),
                };
                prop_assert_eq!(data.len(), header + length, "nothing after the object");
                prop_assert_eq!(data[header], 0x01);
                prop_assert_eq!((length - 1) % 16, 0);
                prop_assert!(!data.windows(12).any(|w| w == b"123456789018"), "個人番号 in the clear");
            }
            counter += 1;
            // The wrong counter garbles the first block; a one-block command then almost
            // always fails to unpad (69 88). Which way it goes is up to the key stream, so
            // it is not asserted here (the vectors fix one such case); the session rules are.
            if sw == 0x6988 || sw == 0x6987 {
                alive = false;
            }
        }
    }
}

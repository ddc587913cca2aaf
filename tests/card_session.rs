//! End-to-end behaviour of the emulated card through its APDU interface (fixtures built with
//! the real test PKI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::card::*;
use myna_hil::card::CardPin;

#[test]
fn standard_card_detect_read_verify_sign() {
    let mut card = powered_card("standard");
    assert_eq!(send(&mut card, SELECT_JPKI).1, 0x9000);
    assert_eq!(select_ef(&mut card, 0x0006), 0x9000);
    let (token, sw) = send(&mut card, "00 B0 00 00 20");
    assert_eq!(sw, 0x9000);
    assert_eq!(&token, b"JPKIAPICCTOKEN2                 ");
    assert_eq!(select_ef(&mut card, 0x000A), 0x9000);
    let certificate = read_certificate_4byte(&mut card);
    assert_eq!(certificate, card.auth_certificate_der());
    assert_eq!(select_ef(&mut card, 0x0018), 0x9000);
    assert_eq!(send(&mut card, "00 20 00 80").1, 0x63C3);
    assert_eq!(send(&mut card, "00 20 00 80 04 31 32 33 34").1, 0x9000);
    assert_eq!(select_ef(&mut card, 0x0017), 0x9000);
    let (signature, sw) = send(&mut card, "80 2A 00 80 03 01 02 03 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(signature.len(), 256);
    assert!(card.public_key(CardPin::Auth).is_some());
}

/// The last-command indicator `80 FC 00 00` (docs/spec/card-measured.md §8.6): a plastic card
/// answers 6700 as measured; the iPhone token takes it; the Android token answers as the card.
#[test]
fn only_the_iphone_token_takes_the_last_command_indicator() {
    for (fixture, expected) in [
        ("standard", 0x6700),
        ("standard_phone_android", 0x6700),
        ("standard_phone_iphone", 0x9000),
    ] {
        let mut card = powered_card(fixture);
        assert_eq!(send(&mut card, SELECT_JPKI).1, 0x9000, "{fixture}");
        assert_eq!(
            send(&mut card, "80 FC 00 00"),
            (vec![], expected),
            "{fixture}"
        );
    }
    let mut iphone = powered_card("standard_phone_iphone");
    assert_eq!(send(&mut iphone, "80 FC 01 00").1, 0x6A86);
}

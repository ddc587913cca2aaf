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

//! Shared helpers of the card integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![allow(dead_code)]

use std::path::PathBuf;

use myna_hil::apdu::parse_hex;
use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;

pub(crate) fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cards")
        .join(format!("{name}.yaml"))
}

pub(crate) fn description(name: &str) -> CardDescription {
    CardDescription::from_yaml_file(&fixture_path(name)).expect("fixture parses")
}

/// A card built from a fixture through the real test PKI, powered on.
pub(crate) fn powered_card(name: &str) -> Card {
    let pki = TestPki::load().expect("test PKI loads");
    let mut card = Card::from_description(&description(name), pki).expect("card builds");
    card.power_on();
    card
}

/// Sends a hex C-APDU; returns (data, SW).
pub(crate) fn send(card: &mut Card, capdu: &str) -> (Vec<u8>, u16) {
    send_bytes(card, &parse_hex(capdu).expect("test APDU is hex"))
}

pub(crate) fn send_bytes(card: &mut Card, capdu: &[u8]) -> (Vec<u8>, u16) {
    let reply = card.process(capdu);
    assert!(
        reply.rapdu.len() >= 2,
        "R-APDU shorter than a status word: {:02X?}",
        reply.rapdu
    );
    let (data, sw) = reply.rapdu.split_at(reply.rapdu.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

pub(crate) const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
pub(crate) const SELECT_TEXT: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08";
pub(crate) const SELECT_SURFACE: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 02";

pub(crate) fn select_ef(card: &mut Card, fid: u16) -> u16 {
    let [hi, lo] = fid.to_be_bytes();
    send_bytes(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo]).1
}

/// Reads the current EF as the 4-byte-header clients do: header, size from bytes 2..4, then
/// 256-byte chunks with Le = 00.
pub(crate) fn read_certificate_4byte(card: &mut Card) -> Vec<u8> {
    let (header, sw) = send(card, "00 B0 00 00 04");
    assert_eq!(sw, 0x9000);
    let size = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
    let mut out = Vec::new();
    while out.len() < size {
        let [hi, lo] = (out.len() as u16).to_be_bytes();
        let (chunk, sw) = send_bytes(card, &[0x00, 0xB0, hi, lo, 0x00]);
        assert_eq!(sw, 0x9000);
        assert!(!chunk.is_empty());
        out.extend_from_slice(&chunk);
    }
    out.truncate(size);
    out
}

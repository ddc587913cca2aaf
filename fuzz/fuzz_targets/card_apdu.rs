//! The card's APDU engine: (state, C-APDU) → R-APDU over a whole session. The input picks a
//! fixture card and is a sequence of C-APDUs, each prefixed by one length byte; a few length
//! values stand for power events instead, so that sequences cross power-off and reset.
//! Invariants: no panic, every answer carries at least a status word, and an unpowered card
//! never answers with data.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;

const FIXTURES: &[&str] = &[
    "standard",
    "smartphone",
    "face_only",
    "juki_token",
    "faults_61xx",
    "faults_short_header",
    "earlier_security_status",
    "auth_pin_one_try_left",
    "mute",
];

const POWER_OFF: u8 = 0xFF;
const RESET: u8 = 0xFE;
const POWER_ON: u8 = 0xFD;

/// The cards are built once (certificates issued, keys loaded) and cloned per input: a clone
/// is an independent card state.
fn cards() -> &'static [Card] {
    static CARDS: OnceLock<Vec<Card>> = OnceLock::new();
    CARDS.get_or_init(|| {
        let pki = TestPki::load().unwrap_or_else(|error| panic!("test PKI: {error}"));
        FIXTURES
            .iter()
            .map(|name| {
                let path = format!(
                    "{}/../fixtures/cards/{name}.yaml",
                    env!("CARGO_MANIFEST_DIR")
                );
                let description = CardDescription::from_yaml_file(std::path::Path::new(&path))
                    .unwrap_or_else(|error| panic!("{path}: {error}"));
                Card::from_description(&description, pki)
                    .unwrap_or_else(|error| panic!("{path}: {error}"))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, mut rest)) = data.split_first() else {
        return;
    };
    let cards = cards();
    let mut card = cards[usize::from(choice) % cards.len()].clone();
    card.power_on();
    while let Some((&length, tail)) = rest.split_first() {
        match length {
            POWER_OFF => {
                card.power_off();
                rest = tail;
                continue;
            }
            RESET => {
                card.reset();
                rest = tail;
                continue;
            }
            POWER_ON => {
                card.power_on();
                rest = tail;
                continue;
            }
            _ => {}
        }
        let length = usize::from(length).min(tail.len());
        let (capdu, next) = tail.split_at(length);
        let powered = card.is_powered();
        let reply = card.process(capdu);
        assert!(
            reply.rapdu.len() >= 2,
            "answer without a status word to {capdu:02X?}: {:02X?}",
            reply.rapdu
        );
        if !powered {
            assert_eq!(reply.rapdu.len(), 2, "an unpowered card answered with data");
        }
        rest = next;
    }
});

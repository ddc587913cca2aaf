//! The card description loader (YAML), then personalisation of what loads: certificates are
//! issued and files built. Invariant: no panic — bad input is a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(description) = CardDescription::from_yaml_str(text, "fuzz.yaml") else {
        return;
    };
    let Ok(pki) = TestPki::load() else {
        return;
    };
    if let Ok(mut card) = Card::from_description(&description, pki) {
        card.power_on();
        let reply = card.process(&[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0x01,
        ]);
        assert!(reply.rapdu.len() >= 2);
    }
});

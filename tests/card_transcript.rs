//! The full transcript of a typical client session, as an insta snapshot: detect (SELECT
//! JPKI, token info), read the auth certificate and the auth CA certificate, PIN query,
//! VERIFY, sign. Long data is summarised (length, first bytes, SHA-256 prefix) so the
//! snapshot reads as a protocol trace; the PIN is redacted as a real trace would be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::fmt::Write;

use crate::support::card::*;
use myna_hil::apdu::{parse_hex, to_spaced_hex};
use myna_hil::card::Card;
use sha2::{Digest, Sha256};

fn summarise(bytes: &[u8]) -> String {
    if bytes.len() <= 24 {
        to_spaced_hex(bytes)
    } else {
        let hash = Sha256::digest(bytes);
        format!(
            "{} .. ({} bytes, sha256 {})",
            to_spaced_hex(&bytes[..8]),
            bytes.len(),
            hex::encode(&hash[..6])
        )
    }
}

struct Transcript {
    card: Card,
    text: String,
}

impl Transcript {
    fn exchange(&mut self, note: &str, capdu_hex: &str, redact_data: bool) -> (Vec<u8>, u16) {
        let capdu = parse_hex(capdu_hex).expect("hex");
        let reply = self.card.process(&capdu);
        let shown = if redact_data && capdu.len() > 5 {
            format!("{} <PIN redacted>", to_spaced_hex(&capdu[..5]))
        } else {
            summarise(&capdu)
        };
        let (data, sw) = reply.rapdu.split_at(reply.rapdu.len() - 2);
        writeln!(self.text, "# {note}").ok();
        writeln!(self.text, "> {shown}").ok();
        let answer = if data.is_empty() {
            to_spaced_hex(sw)
        } else {
            format!("{} {}", summarise(data), to_spaced_hex(sw))
        };
        writeln!(self.text, "< {answer}  [{} ms]", reply.latency.as_millis()).ok();
        (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
    }

    fn read_certificate(&mut self, name: &str) {
        let (header, _) = self.exchange(&format!("{name}: 4-byte header"), "00 B0 00 00 04", false);
        let size = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
        let mut offset = 0;
        while offset < size {
            let apdu = format!("00 B0 {:02X} {:02X} 00", offset >> 8, offset & 0xFF);
            let (chunk, _) = self.exchange(&format!("{name}: chunk at {offset}"), &apdu, false);
            offset += chunk.len();
        }
    }
}

#[test]
fn typical_client_session() {
    let mut card = powered_card("standard");
    let atr = card.reset().expect("ATR");
    let mut t = Transcript {
        card,
        text: format!("ATR {}\n", to_spaced_hex(&atr)),
    };
    t.exchange("detect: SELECT JPKI", SELECT_JPKI, false);
    t.exchange("SELECT token info", "00 A4 02 0C 02 00 06", false);
    t.exchange("token info", "00 B0 00 00 20", false);
    t.exchange("SELECT auth certificate", "00 A4 02 0C 02 00 0A", false);
    t.read_certificate("auth certificate");
    t.exchange("SELECT auth CA certificate", "00 A4 02 0C 02 00 0B", false);
    t.read_certificate("auth CA certificate");
    t.exchange("SELECT auth PIN", "00 A4 02 0C 02 00 18", false);
    t.exchange("PIN retry query", "00 20 00 80", false);
    t.exchange("VERIFY", "00 20 00 80 04 31 32 33 34", true);
    t.exchange("SELECT auth key", "00 A4 02 0C 02 00 17", false);
    t.exchange(
        "COMPUTE DIGITAL SIGNATURE over a SHA-256 DigestInfo",
        "80 2A 00 80 33 30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20 \
         E3 B0 C4 42 98 FC 1C 14 9A FB F4 C8 99 6F B9 24 27 AE 41 E4 64 9B 93 4C A4 95 99 1B 78 52 B8 55 00",
        false,
    );
    insta::assert_snapshot!(t.text);
}

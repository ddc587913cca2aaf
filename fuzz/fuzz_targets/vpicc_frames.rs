//! The vpicc framing as the card server meets it: a byte stream cut into arbitrary pieces is
//! reassembled into frames, each frame is read as a message and applied to a card (control
//! codes power it, commands are answered), and every answer is framed again. Invariants: no
//! panic; a frame's payload re-encodes to the very bytes it came from; a command is answered
//! with at least a status word in a frame that fits the 2-byte length.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;
use myna_hil::transport::vpicc::{encode_frame, Control, FrameDecoder, Message};

fn card() -> &'static Card {
    static CARD: OnceLock<Card> = OnceLock::new();
    CARD.get_or_init(|| {
        let pki = TestPki::load().unwrap_or_else(|error| panic!("test PKI: {error}"));
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/cards/standard.yaml"
        );
        let description = CardDescription::from_yaml_file(std::path::Path::new(path))
            .unwrap_or_else(|error| panic!("{path}: {error}"));
        Card::from_description(&description, pki).unwrap_or_else(|error| panic!("{error}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let mut card = card().clone();
    let mut decoder = FrameDecoder::new();
    for chunk in stream.chunks(piece) {
        decoder.push(chunk);
        while let Some(payload) = decoder.next_frame() {
            let reencoded = encode_frame(&payload).unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(&reencoded[2..], payload.as_slice());
            let Ok(message) = Message::parse(&payload) else {
                continue;
            };
            assert_eq!(message.to_payload(), payload, "a message is its payload");
            match message {
                Message::Control(Control::PowerOff) => card.power_off(),
                Message::Control(Control::PowerOn) => {
                    card.power_on();
                }
                Message::Control(Control::Reset) => {
                    card.reset();
                }
                Message::Control(Control::GetAtr) => {
                    let atr = card.atr().unwrap_or_default();
                    assert!(encode_frame(&atr).is_ok());
                }
                Message::Command(command) => {
                    let reply = card.process(&command);
                    assert!(reply.rapdu.len() >= 2);
                    assert!(
                        encode_frame(&reply.rapdu).is_ok(),
                        "answer too long to frame"
                    );
                }
            }
        }
    }
    assert!(decoder.pending() <= stream.len());
});

//! The card served on a serial line, through a real pty pair made by socat; the test plays the
//! hardware front end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::io::{Read, Write};
use std::time::Duration;

use crate::support::*;
use myna_hil::trace::{read_trace, PinRecording, TraceEvent, TraceRecorder};
use myna_hil::transport::serve::{spawn_serial, RunningServer, SerialConfig};
use myna_hil::transport::vpicc::encode_frame;
use serialport::SerialPort;

const RESYNC_IDLE: Duration = Duration::from_millis(100);

struct FrontEnd {
    port: Box<dyn SerialPort>,
}

impl FrontEnd {
    fn open(pair: &PtyPair) -> FrontEnd {
        let port = serialport::new(pair.front_end.to_string_lossy(), 115_200)
            .timeout(Duration::from_secs(5))
            .open()
            .expect("opening the front end of the pty pair");
        FrontEnd { port }
    }

    fn send(&mut self, payload: &[u8]) {
        self.port
            .write_all(&encode_frame(payload).unwrap())
            .unwrap();
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).unwrap();
    }

    fn receive(&mut self) -> Vec<u8> {
        let mut header = [0u8; 2];
        self.port
            .read_exact(&mut header)
            .expect("an answer frame header");
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(header))];
        self.port
            .read_exact(&mut payload)
            .expect("an answer frame payload");
        payload
    }

    fn exchange(&mut self, payload: &[u8]) -> Vec<u8> {
        self.send(payload);
        self.receive()
    }

    /// Lets the line go idle for longer than the card's resync interval.
    fn pause(&self) {
        std::thread::sleep(RESYNC_IDLE * 3);
    }
}

fn serve_standard(
    pair: &PtyPair,
    recorder: Option<TraceRecorder>,
) -> RunningServer<myna_hil::card::Card> {
    let mut config = SerialConfig::new(pair.card_end.to_string_lossy());
    config.resync_idle = RESYNC_IDLE;
    let mut options = test_options();
    options.sink = recorder.map(Into::into);
    spawn_serial(load_card(&standard_card_path()), config, options).expect("serving on the pty")
}

#[test]
fn the_real_card_answers_over_a_pty_pair() {
    let pair = PtyPair::new();
    let server = serve_standard(&pair, None);
    let mut front = FrontEnd::open(&pair);
    let expected_atr = load_card(&standard_card_path())
        .atr()
        .expect("the standard card has an ATR");

    assert_eq!(front.exchange(&[0x04]), expected_atr);
    front.send(&[0x01]);
    assert_eq!(front.exchange(&select_jpki()), [0x90, 0x00]);
    assert_eq!(
        front.exchange(&[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        [0x6A, 0x82]
    );
    assert_eq!(front.exchange(&select_ef([0x00, 0x0A])), [0x90, 0x00]);
    let header = front.exchange(&[0x00, 0xB0, 0x00, 0x00, 0x04]);
    assert_eq!(
        &header[..2],
        &[0x30, 0x82],
        "the auth certificate starts with a DER SEQUENCE"
    );
    assert_eq!(&header[4..], &[0x90, 0x00]);
    server.stop().unwrap();
}

#[test]
fn recovers_from_half_frames_and_garbage_and_records_the_drops() {
    let pair = PtyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("serial.jsonl");
    let recorder =
        TraceRecorder::create(&trace, "serial:test", None, PinRecording::Redacted).unwrap();
    let server = serve_standard(&pair, Some(recorder));
    let mut front = FrontEnd::open(&pair);
    let atr = front.exchange(&[0x04]);
    front.send(&[0x01]);

    // A half frame: the length announces 5 bytes, only 2 arrive, then silence.
    front.raw(&[0x00, 0x0F, 0x00, 0xA4]);
    front.pause();
    assert_eq!(
        front.exchange(&[0x04]),
        atr,
        "answers again after a half frame"
    );

    // An impossible frame (unknown control code) glued to a valid one: both are dropped.
    front.raw(&[0x00, 0x01, 0x03, 0x00, 0x01, 0x04]);
    front.pause();
    assert_eq!(
        front.exchange(&select_jpki()),
        [0x90, 0x00],
        "answers again after garbage"
    );

    // Line noise whose "length" swallows what follows.
    front.raw(&[0xFF, 0xFF, 0x12, 0x34, 0x56]);
    front.pause();
    assert_eq!(front.exchange(&[0x04]), atr, "answers again after noise");

    // Nothing stray was answered: the next bytes on the line are the answers to these commands.
    assert_eq!(front.exchange(&select_ef([0x00, 0x18])), [0x90, 0x00]);
    assert_eq!(front.exchange(&RETRY_QUERY), [0x63, 0xC3]);

    server.stop().unwrap();
    let framing_errors: Vec<usize> = read_trace(&trace)
        .unwrap()
        .into_iter()
        .filter_map(|line| match line.event {
            TraceEvent::FramingError { dropped_bytes, .. } => Some(dropped_bytes),
            _ => None,
        })
        .collect();
    assert_eq!(
        framing_errors,
        [4, 6, 5],
        "each drop is recorded with its size"
    );
}

#[test]
fn removal_answers_no_card_and_the_card_keeps_its_counters() {
    let pair = PtyPair::new();
    let server = serve_standard(&pair, None);
    let mut front = FrontEnd::open(&pair);
    let atr = front.exchange(&[0x04]);
    front.send(&[0x01]);
    assert_eq!(front.exchange(&select_jpki()), [0x90, 0x00]);
    assert_eq!(front.exchange(&select_ef([0x00, 0x18])), [0x90, 0x00]);
    assert_eq!(front.exchange(&verify(b"9999")), [0x63, 0xC2]);

    server.handle().remove();
    server
        .handle()
        .wait_for(Duration::from_secs(5), |status| !status.inserted)
        .unwrap();
    assert_eq!(
        front.exchange(&[0x04]),
        Vec::<u8>::new(),
        "empty ATR = no card"
    );
    assert_eq!(
        front.exchange(&select_jpki()),
        Vec::<u8>::new(),
        "no card, no answer data"
    );

    server.handle().insert();
    server
        .handle()
        .wait_for(Duration::from_secs(5), |status| status.inserted)
        .unwrap();
    assert_eq!(front.exchange(&[0x04]), atr);
    front.send(&[0x01]);
    assert_eq!(front.exchange(&select_jpki()), [0x90, 0x00]);
    assert_eq!(front.exchange(&select_ef([0x00, 0x18])), [0x90, 0x00]);
    assert_eq!(
        front.exchange(&RETRY_QUERY),
        [0x63, 0xC2],
        "the wrong PIN before removal still counts"
    );
    let card = server.stop().unwrap();
    assert_eq!(card.pin_counters().auth.map(|pin| pin.tries_left), Some(2));
}

//! The device's side of the card slot: a [`Transport`] decorator around the real slot.
//!
//! The correct reference device differs from the bare transport in one way only: it releases
//! the card powered off, because a verified PIN survives a warm reset (card-measured.md §2).
//! The faults that live at the APDU level (reading the signing certificate, 6B 00 as fatal,
//! impatience, re-sending a PIN, skipping the retry query) are applied here, so the reader
//! state machine in [`crate::reader`] stays the one every scenario runs.

use std::time::{Duration, Instant};

use super::faults::FaultyBehaviour;
use crate::apdu::StatusWord;
use crate::card::fs::AID_JPKI;
use crate::reader::card_io::{EF_AUTH_CERTIFICATE, EF_AUTH_PIN};
use crate::transport::{Transport, TransportError};

/// JPKI EF `0001`: the 署名用電子証明書, which a reception never needs.
const EF_SIGNING_CERTIFICATE: u16 = 0x0001;
/// Fault `impatient`: a card answer slower than this is given up on.
const IMPATIENT_LIMIT: Duration = Duration::from_millis(200);
/// How often a reader looks for a card that was just placed but is not yet detected.
const CARD_POLL: Duration = Duration::from_millis(50);
/// What a device that never asks the retry counter assumes: the card's full allowance.
const ASSUMED_RETRY_ANSWER: [u8; 2] = [0x63, 0xC3];

/// A reader slot that can release the card powered off.
pub trait ReaderSlot: Transport {
    /// Releases the card with its power cut (PC/SC `SCARD_UNPOWER_CARD`).
    fn power_off(&mut self) -> Result<(), TransportError>;
}

#[cfg(feature = "pcsc")]
impl ReaderSlot for crate::transport::pcsc::PcscTransport {
    fn power_off(&mut self) -> Result<(), TransportError> {
        crate::transport::pcsc::PcscTransport::power_off(self)
    }
}

/// The in-process reader powers the card off on every disconnect.
impl ReaderSlot for crate::transport::virtual_reader::VirtualReader {
    fn power_off(&mut self) -> Result<(), TransportError> {
        self.disconnect()
    }
}

/// What the last SELECTs addressed (to know which file a READ BINARY or VERIFY is for).
#[derive(Debug, Clone, Copy, Default)]
struct Selection {
    in_jpki: bool,
    ef: Option<u16>,
}

/// The slot as the device uses it.
pub struct DeviceLink<T> {
    slot: T,
    behaviour: FaultyBehaviour,
    connected: bool,
    selection: Selection,
    /// Fault `reads-signing-cert`: the auth certificate has just been read.
    auth_certificate_read: bool,
    /// How long a connect waits for a card the slot does not see yet.
    card_wait: Duration,
}

fn is_read_binary(capdu: &[u8]) -> bool {
    capdu.len() >= 4 && capdu[1] == 0xB0
}

/// VERIFY `00 20 00 80` with no data: the retry-counter query.
fn is_retry_query(capdu: &[u8]) -> bool {
    capdu == [0x00, 0x20, 0x00, 0x80]
}

fn is_verify_with_data(capdu: &[u8]) -> bool {
    capdu.len() > 5 && capdu[1] == 0x20 && capdu[3] == 0x80
}

fn status_of(rapdu: &[u8]) -> Option<StatusWord> {
    StatusWord::from_rapdu(rapdu)
}

impl<T: ReaderSlot> DeviceLink<T> {
    pub fn new(slot: T, behaviour: FaultyBehaviour) -> DeviceLink<T> {
        DeviceLink {
            slot,
            behaviour,
            connected: false,
            selection: Selection::default(),
            auth_certificate_read: false,
            card_wait: Duration::ZERO,
        }
    }

    /// Lets the next connects wait up to `wait` for the card: a card just placed on a reader
    /// (or inserted into vpcd) takes a moment before PC/SC reports it.
    pub fn set_card_wait(&mut self, wait: Duration) {
        self.card_wait = wait;
    }

    /// Whether the device holds a connection to the card.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn slot(&self) -> &T {
        &self.slot
    }

    fn pin_ef_selected(&self) -> bool {
        self.selection.in_jpki && self.selection.ef == Some(EF_AUTH_PIN)
    }

    fn track_selection(&mut self, capdu: &[u8], rapdu: &[u8]) {
        let success = status_of(rapdu).is_some_and(StatusWord::is_success);
        match capdu {
            [_, 0xA4, 0x04, _, 0x0A, aid @ ..] if aid.len() >= 10 && success => {
                self.selection = Selection {
                    in_jpki: aid[..10] == AID_JPKI,
                    ef: None,
                };
            }
            [_, 0xA4, 0x02, _, 0x02, hi, lo, ..] => {
                self.selection.ef = success.then_some(u16::from_be_bytes([*hi, *lo]));
            }
            _ => {}
        }
    }

    /// One exchange to the slot, with the connection state kept.
    fn send(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let answer = self.slot.transmit(capdu);
        match &answer {
            Ok(rapdu) => self.track_selection(capdu, rapdu),
            Err(TransportError::CardRemoved | TransportError::NoCard) => self.connected = false,
            Err(_) => {}
        }
        answer
    }

    /// Fault `reads-signing-cert`: right after the auth certificate, the signing certificate's
    /// header too, then back to the file that was selected.
    fn read_signing_certificate(&mut self) {
        let previous = self.selection.ef;
        let mut commands = vec![
            vec![
                0x00,
                0xA4,
                0x02,
                0x0C,
                0x02,
                0x00,
                EF_SIGNING_CERTIFICATE as u8,
            ],
            vec![0x00, 0xB0, 0x00, 0x00, 0x04],
        ];
        if let Some([hi, lo]) = previous.map(u16::to_be_bytes) {
            commands.push(vec![0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo]);
        }
        for command in commands {
            if let Err(error) = self.send(&command) {
                tracing::debug!(%error, "signing certificate read failed");
                return;
            }
        }
    }
}

impl<T: ReaderSlot> Transport for DeviceLink<T> {
    fn describe(&self) -> String {
        self.slot.describe()
    }

    fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
        self.selection = Selection::default();
        self.auth_certificate_read = false;
        let deadline = Instant::now() + self.card_wait;
        let atr = loop {
            match self.slot.connect() {
                Err(TransportError::NoCard) if Instant::now() < deadline => {
                    std::thread::sleep(CARD_POLL)
                }
                answer => break answer?,
            }
        };
        self.connected = true;
        Ok(atr)
    }

    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let behaviour = self.behaviour;
        if behaviour.reads_signing_cert && self.auth_certificate_read && !is_read_binary(capdu) {
            self.auth_certificate_read = false;
            self.read_signing_certificate();
        }
        if behaviour.no_retry_query && is_retry_query(capdu) && self.pin_ef_selected() {
            return Ok(ASSUMED_RETRY_ANSWER.to_vec());
        }
        let started = Instant::now();
        let mut rapdu = self.send(capdu)?;
        if behaviour.impatient && started.elapsed() > IMPATIENT_LIMIT {
            return Err(TransportError::Timeout(IMPATIENT_LIMIT));
        }
        let sw = status_of(&rapdu);
        if behaviour.fatal_6b00
            && is_read_binary(capdu)
            && sw == Some(StatusWord::WRONG_P1_P2_OFFSET)
        {
            return Err(TransportError::Transmission(
                "READ BINARY answered 6B 00 (treated as fatal)".into(),
            ));
        }
        if behaviour.auto_retry_pin
            && is_verify_with_data(capdu)
            && self.pin_ef_selected()
            && sw
                .and_then(StatusWord::retry_count)
                .is_some_and(|tries| tries > 0)
        {
            rapdu = self.send(capdu)?;
        }
        if behaviour.reads_signing_cert
            && is_read_binary(capdu)
            && self.selection.in_jpki
            && self.selection.ef == Some(EF_AUTH_CERTIFICATE)
        {
            self.auth_certificate_read = true;
        }
        Ok(rapdu)
    }

    /// The correct device always releases the card powered off; with `leaves-pin-verified` it
    /// resets it at most, which keeps a verified PIN open.
    fn disconnect(&mut self) -> Result<(), TransportError> {
        self.connected = false;
        self.selection = Selection::default();
        if self.behaviour.leaves_pin_verified {
            self.slot.disconnect()
        } else {
            self.slot.power_off()
        }
    }

    fn is_emulated_card(&self) -> bool {
        self.slot.is_emulated_card()
    }
}

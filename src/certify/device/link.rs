//! The device's side of the card slot: a [`Transport`] decorator around the real slot.
//!
//! The correct reference device differs from the bare transport in one way only: it releases
//! the card powered off, because a verified PIN survives a warm reset (docs/spec/card-measured.md §2).
//! The faults that live at the APDU level (reading the signing certificate, 6B 00 as fatal,
//! impatience, re-sending a PIN, skipping the retry query) are applied here, so the reader
//! state machine in [`crate::reader`] stays the one every scenario runs.

use std::time::{Duration, Instant};

use super::faults::FaultyBehaviour;
use crate::apdu::ids::jpki::{EF_AUTH_CERTIFICATE, EF_AUTH_PIN, EF_SIGNING_CERTIFICATE};
use crate::apdu::{build, Command, Instruction, Selection, StatusWord};
use crate::card::fs::AID_JPKI;
use crate::transport::{Transport, TransportError};

/// JPKI EF `0001`: the 署名用電子証明書, which a reception never needs.
/// Fault `impatient`: a card answer slower than this is given up on.
const IMPATIENT_LIMIT: Duration = Duration::from_millis(200);
/// How often a reader looks for a card that was just placed but is not yet detected.
const CARD_POLL: Duration = Duration::from_millis(50);
/// What a device that never asks the retry counter assumes: the card's full allowance.
const ASSUMED_RETRY_ANSWER: [u8; 2] = StatusWord::tries_left(3).to_bytes();

/// A reader slot that can release the card powered off.
pub(crate) trait PowerOffSlot: Transport {
    /// Releases the card with its power cut (PC/SC `SCARD_UNPOWER_CARD`).
    fn power_off(&mut self) -> Result<(), TransportError>;
}

#[cfg(feature = "pcsc")]
impl PowerOffSlot for crate::transport::pcsc::PcscTransport {
    fn power_off(&mut self) -> Result<(), TransportError> {
        crate::transport::pcsc::PcscTransport::power_off(self)
    }
}

/// The in-process reader powers the card off on every disconnect.
impl PowerOffSlot for crate::transport::virtual_reader::VirtualReader {
    fn power_off(&mut self) -> Result<(), TransportError> {
        self.disconnect()
    }
}

/// The slot as the device uses it.
pub(crate) struct DeviceLink<T> {
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
    Command::parse(capdu).is_ok_and(|c| c.instruction() == Instruction::ReadBinary)
}

/// VERIFY with no data: the retry-counter query.
fn is_retry_query(capdu: &[u8]) -> bool {
    Command::parse(capdu).is_ok_and(|c| c.is_retry_query())
}

fn is_verify_with_data(capdu: &[u8]) -> bool {
    Command::parse(capdu)
        .is_ok_and(|c| c.instruction() == Instruction::Verify && c.presents_secret())
}

fn status_of(rapdu: &[u8]) -> Option<StatusWord> {
    StatusWord::from_rapdu(rapdu)
}

impl<T: PowerOffSlot> DeviceLink<T> {
    pub(crate) fn new(slot: T, behaviour: FaultyBehaviour) -> DeviceLink<T> {
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
    pub(crate) fn set_card_wait(&mut self, wait: Duration) {
        self.card_wait = wait;
    }

    /// Whether the device holds a connection to the card.
    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    #[cfg(test)]
    pub(crate) fn slot(&self) -> &T {
        &self.slot
    }

    fn pin_ef_selected(&self) -> bool {
        self.selection.application == Some(AID_JPKI) && self.selection.file == Some(EF_AUTH_PIN)
    }

    fn track_selection(&mut self, capdu: &[u8], rapdu: &[u8]) {
        let success = status_of(rapdu).is_some_and(StatusWord::is_success);
        self.selection.follow(capdu, success);
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
        let previous = self.selection.file;
        let mut commands = vec![
            build::select_fid(EF_SIGNING_CERTIFICATE),
            build::read_binary(0, 4),
        ];
        if let Some(fid) = previous {
            commands.push(build::select_fid(fid));
        }
        for command in commands {
            if let Err(error) = self.send(&command) {
                tracing::debug!(%error, "signing certificate read failed");
                return;
            }
        }
    }
}

impl<T: PowerOffSlot> Transport for DeviceLink<T> {
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
            && self.selection.application == Some(AID_JPKI)
            && self.selection.file == Some(EF_AUTH_CERTIFICATE)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot answering from a script, logging what the link did to it.
    #[derive(Default)]
    struct ScriptedSlot {
        /// Connect answers `NoCard` this many times first.
        absent_for: u32,
        answer: Vec<u8>,
        delay: Duration,
        log: Vec<&'static str>,
    }

    impl Transport for ScriptedSlot {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
            if self.absent_for > 0 {
                self.absent_for -= 1;
                return Err(TransportError::NoCard);
            }
            Ok(vec![0x3B])
        }
        fn transmit(&mut self, _capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            std::thread::sleep(self.delay);
            Ok(self.answer.clone())
        }
        fn disconnect(&mut self) -> Result<(), TransportError> {
            self.log.push("reset");
            Ok(())
        }
        fn is_emulated_card(&self) -> bool {
            true
        }
    }

    impl PowerOffSlot for ScriptedSlot {
        fn power_off(&mut self) -> Result<(), TransportError> {
            self.log.push("power_off");
            Ok(())
        }
    }

    fn link(fault: &str, slot: ScriptedSlot) -> DeviceLink<ScriptedSlot> {
        let behaviour = FaultyBehaviour::from_name((!fault.is_empty()).then_some(fault)).unwrap();
        DeviceLink::new(slot, behaviour)
    }

    const READ: [u8; 5] = [0x00, 0xB0, 0x01, 0x00, 0x00];

    #[test]
    fn only_fatal_6b00_turns_the_end_of_file_into_an_error() {
        let end_of_file = || ScriptedSlot {
            answer: vec![0x6B, 0x00],
            ..ScriptedSlot::default()
        };
        assert_eq!(
            link("", end_of_file()).transmit(&READ).unwrap(),
            [0x6B, 0x00]
        );
        assert!(matches!(
            link("fatal-6b00", end_of_file()).transmit(&READ),
            Err(TransportError::Transmission(_))
        ));
    }

    #[test]
    fn only_the_impatient_device_gives_up_on_a_slow_answer() {
        let slow = || ScriptedSlot {
            answer: vec![0x90, 0x00],
            delay: Duration::from_millis(250),
            ..ScriptedSlot::default()
        };
        assert_eq!(link("", slow()).transmit(&READ).unwrap(), [0x90, 0x00]);
        assert!(matches!(
            link("impatient", slow()).transmit(&READ),
            Err(TransportError::Timeout(_))
        ));
    }

    #[test]
    fn the_correct_device_releases_the_card_powered_off() {
        let mut correct = link("", ScriptedSlot::default());
        correct.connect().unwrap();
        assert!(correct.is_connected());
        correct.disconnect().unwrap();
        assert!(!correct.is_connected());
        assert_eq!(correct.slot().log, ["power_off"]);

        let mut faulty = link("leaves-pin-verified", ScriptedSlot::default());
        faulty.connect().unwrap();
        faulty.disconnect().unwrap();
        assert_eq!(faulty.slot().log, ["reset"]);
    }

    #[test]
    fn a_placed_card_is_waited_for_only_when_asked() {
        let late = || ScriptedSlot {
            absent_for: 2,
            ..ScriptedSlot::default()
        };
        assert!(matches!(
            link("", late()).connect(),
            Err(TransportError::NoCard)
        ));
        let mut waiting = link("", late());
        waiting.set_card_wait(Duration::from_secs(2));
        assert_eq!(waiting.connect().unwrap(), [0x3B]);
    }
}

//! The card slot of a certification run: one card server (vpcd, listening for a vpcd that
//! connects out, or serial) for the whole run, whose card is swapped between cases, with the
//! harness's own card behaviours on top of the card model (real or no processing time, removal
//! in the middle of a command)
//! and an in-memory recording of everything exchanged.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::suite::{RemovalDoc, RemovalTrigger};
use crate::apdu::{Instruction, StatusWord};
use crate::card::{Card, CardReply};
use crate::trace::{SharedTranscript, TraceSink, Transcript};
use crate::transport::serve::{
    spawn_listen, spawn_serial, spawn_vpcd, EmulatedCard, ListenConfig, RunningServer,
    SerialConfig, ServeError, ServeHandle, ServeOptions, VpcdConfig, PLACEHOLDER_ATR,
};

/// How long the reader stack may take to notice a card arriving or leaving.
const SLOT_CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Without a way to ask pcscd (a remote vpcd, a serial front end), wait this long instead:
/// pcscd polls vpcd for presence about every 400 ms.
const BLIND_SLOT_SETTLE: Duration = Duration::from_millis(1200);
/// The card stays out at least this long: vpcd notices a closed connection at its next
/// presence poll, and a card back before that is never seen by pcscd.
const MIN_TIME_OUT: Duration = Duration::from_millis(500);
/// A listening card waits this long for the reader stack to connect (the user starts pcscd
/// after the run has started listening).
const LISTEN_LINK_TIMEOUT: Duration = Duration::from_secs(60);

/// The card of the slot plus the harness's behaviours.
#[derive(Default)]
pub(crate) struct SlotCard {
    card: Option<Card>,
    latency: bool,
    removal: Option<RemovalDoc>,
    removal_seen: u32,
    remover: Option<ServeHandle<SlotCard>>,
    /// When the card last left the slot (by the harness or a removal mid-command).
    removed_at: Option<Instant>,
    /// With a listening card, what the slot shows between cases: a vpcd that connected out
    /// must always find a card (an empty ATR makes Debian's pcscd abort).
    idle_atr: Option<Vec<u8>>,
}

impl SlotCard {
    fn triggers_removal(&mut self, capdu: &[u8]) -> bool {
        let Some(removal) = self.removal else {
            return false;
        };
        let Ok(command) = crate::apdu::Command::parse(capdu) else {
            return false;
        };
        let matches = match removal.during {
            RemovalTrigger::Read => command.read_offset().is_some_and(|offset| offset > 0),
            RemovalTrigger::Verify => {
                command.instruction() == Instruction::Verify && command.presents_secret()
            }
        };
        if !matches {
            return false;
        }
        self.removal_seen += 1;
        self.removal_seen == removal.nth
    }
}

impl EmulatedCard for SlotCard {
    fn atr(&self) -> Option<Vec<u8>> {
        match &self.card {
            Some(card) => card.atr(),
            None => self.idle_atr.clone(),
        }
    }

    fn power_on(&mut self) -> Option<Vec<u8>> {
        match self.card.as_mut() {
            Some(card) => card.power_on(),
            None => self.idle_atr.clone(),
        }
    }

    fn power_off(&mut self) {
        if let Some(card) = self.card.as_mut() {
            card.power_off();
        }
    }

    fn reset(&mut self) -> Option<Vec<u8>> {
        match self.card.as_mut() {
            Some(card) => card.reset(),
            None => self.idle_atr.clone(),
        }
    }

    fn process(&mut self, capdu: &[u8]) -> CardReply {
        let remove_now = self.triggers_removal(capdu);
        let Some(card) = self.card.as_mut() else {
            // The idle placeholder answers as the placeholder card does; no card, nothing.
            let rapdu = if self.idle_atr.is_some() {
                StatusWord::INS_NOT_SUPPORTED.to_bytes().to_vec()
            } else {
                Vec::new()
            };
            return CardReply {
                rapdu,
                latency: Duration::ZERO,
            };
        };
        let mut reply = card.process(capdu);
        if !self.latency {
            reply.latency = Duration::ZERO;
        }
        if remove_now {
            // The card did the work (a PIN try is spent) but is gone before it answers.
            if let Some(remover) = &self.remover {
                remover.remove();
            }
            self.removed_at = Some(Instant::now());
            reply.rapdu.clear();
            return reply;
        }
        reply
    }
}

/// Where the card is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SlotLink {
    /// vpcd at HOST:PORT.
    Vpcd(String),
    /// A serial card-emulation front end.
    Serial(String),
    /// The card listens at HOST:PORT and a vpcd connects out to it (reader.conf DEVICENAME
    /// HOST:PORT). Debian's vpcd cannot see the card leave, so cases swap cards on the link.
    Listen(String),
}

impl SlotLink {
    /// The PC/SC reader name vpcd gives the slot: port 35963 is `Virtual PCD 00 00`, each
    /// following port the next slot.
    pub(crate) fn reader_name(&self) -> Option<String> {
        match self {
            SlotLink::Vpcd(address) => {
                let port: u16 = address.rsplit(':').next()?.parse().ok()?;
                let slot = port.checked_sub(35963)?;
                Some(format!("Virtual PCD 00 {slot:02}"))
            }
            // The card is on vpcd's first slot, whatever its port.
            SlotLink::Listen(_) => Some("Virtual PCD 00 00".to_owned()),
            SlotLink::Serial(_) => None,
        }
    }

    /// Where the clinic's generic reader (the phone's slot) is served: vpcd's next slot, the
    /// port after the card's (`Virtual PCD 00 01` beside `00 00`, docs/field.md §6). The
    /// other links have no second slot.
    pub(crate) fn generic_reader_link(&self) -> Option<SlotLink> {
        match self {
            SlotLink::Vpcd(address) => {
                let (host, port) = address.rsplit_once(':')?;
                let next = port.parse::<u16>().ok()?.checked_add(1)?;
                Some(SlotLink::Vpcd(format!("{host}:{next}")))
            }
            SlotLink::Listen(_) | SlotLink::Serial(_) => None,
        }
    }

    fn is_local(&self) -> bool {
        match self {
            SlotLink::Vpcd(address) | SlotLink::Listen(address) => {
                address.starts_with("127.") || address.starts_with("localhost:")
            }
            SlotLink::Serial(_) => false,
        }
    }

    fn is_listening(&self) -> bool {
        matches!(self, SlotLink::Listen(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SlotError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("{0}")]
    NotReady(String),
}

/// The served slot.
pub(crate) struct Slot {
    server: Option<RunningServer<SlotCard>>,
    handle: ServeHandle<SlotCard>,
    link: SlotLink,
    log: SharedTranscript,
}

/// What a case puts into the slot.
pub(crate) struct SlotSetup {
    pub(crate) card: Card,
    pub(crate) latency: bool,
    pub(crate) removal: Option<RemovalDoc>,
}

impl Slot {
    /// Starts serving an empty slot. For vpcd a connection is an inserted card, so whether
    /// vpcd is there shows at the first insertion.
    pub(crate) fn open(link: SlotLink) -> Result<Slot, SlotError> {
        // Kept in memory with its secrets: the judge needs to tell PINs apart; every report
        // and every written trace hides them.
        let log = SharedTranscript::new();
        let options = ServeOptions {
            apply_latency: true,
            answer_identification: true,
            // A listening card is in the reader from the start (see SlotCard::idle_atr).
            start_removed: !link.is_listening(),
            sink: Some(TraceSink::Memory(log.clone())),
        };
        let server = match &link {
            SlotLink::Vpcd(address) => {
                spawn_vpcd(SlotCard::default(), VpcdConfig::new(address), options)?
            }
            SlotLink::Listen(address) => {
                let card = SlotCard {
                    idle_atr: Some(PLACEHOLDER_ATR.to_vec()),
                    ..SlotCard::default()
                };
                spawn_listen(card, ListenConfig::new(address), options)?.0
            }
            SlotLink::Serial(device) => {
                spawn_serial(SlotCard::default(), SerialConfig::new(device), options)?
            }
        };
        let handle = server.handle().clone();
        let remover = handle.clone();
        handle.with_card(|card| card.remover = Some(remover));
        let slot = Slot {
            server: Some(server),
            handle,
            link,
            log,
        };
        Ok(slot)
    }

    pub(crate) fn reader_name(&self) -> Option<String> {
        self.link.reader_name()
    }

    /// Waits until the reader stack can be handed to the device: a listening card must first
    /// have been connected to (and pcscd list it); the other links are ready at once.
    pub(crate) fn wait_ready(&self) -> Result<(), SlotError> {
        if self.link.is_listening() {
            tracing::info!(link = ?self.link, "waiting for a vpcd to connect to the card");
            self.settle(true)
        } else {
            Ok(())
        }
    }

    /// Takes the card out (if in) and puts the next case's card into the harness's hand.
    pub(crate) fn load(&self, setup: SlotSetup) -> Result<(), SlotError> {
        if self.link.is_listening() && setup.removal.is_some() {
            return Err(SlotError::NotReady(
                "the case lifts the card in the middle of a command, which a card linked to \
                 Debian's vpcd cannot do (pcscd aborts when the link closes); run it with \
                 --vpcd or --serial"
                    .into(),
            ));
        }
        self.remove()?;
        // On a link that stays up the next card takes the last one's place in the same power
        // state: the reader stack cannot be told of the swap.
        let powered = self.link.is_listening() && self.handle.status().powered;
        self.handle.with_card(|slot| {
            let mut card = setup.card;
            if powered {
                let _ = card.power_on();
            }
            slot.card = Some(card);
            slot.latency = setup.latency;
            slot.removal = setup.removal;
            slot.removal_seen = 0;
        });
        Ok(())
    }

    /// Gives the iPhone in the slot its on-device approval (Face ID / Touch ID), as the
    /// patient does on the phone itself; other cards take none and are left as they are.
    pub(crate) fn set_device_approval(&self, approved: bool) {
        self.handle.with_card(|slot| {
            if let Some(card) = slot.card.as_mut() {
                let _ = card.set_device_approval(approved);
            }
        });
    }

    /// Waits (up to `timeout`) until the card is not powered: a power-off the device asked for
    /// reaches the card server a moment after the device's call returns.
    pub(crate) fn wait_unpowered(&self, timeout: Duration) -> bool {
        self.handle
            .wait_for(timeout, |status| !status.powered)
            .is_ok()
    }

    /// Whether the card ever reached the reader stack (vpcd accepted it, the serial port
    /// opened): if not, a failed insertion means the run cannot take place at all.
    pub(crate) fn ever_linked(&self) -> bool {
        self.handle.status().links > 0
    }

    /// Puts the card in and waits until the reader stack sees it.
    pub(crate) fn insert(&self) -> Result<(), SlotError> {
        if !self.handle.status().inserted {
            // After a removal the harness triggered mid-command, pcscd must have seen the slot
            // empty before the card comes back, or it misses both changes.
            self.settle(false)?;
            let removed_at = self.handle.with_card(|card| card.removed_at);
            if let Some(removed_at) = removed_at {
                std::thread::sleep(MIN_TIME_OUT.saturating_sub(removed_at.elapsed()));
            }
        }
        self.handle.insert();
        self.settle(true)
    }

    /// Takes the card out and waits until the reader stack sees the slot empty. A listening
    /// card stays linked (its next case's card takes its place in `load`).
    pub(crate) fn remove(&self) -> Result<(), SlotError> {
        if self.link.is_listening() {
            return Ok(());
        }
        if !self.handle.status().inserted {
            return Ok(());
        }
        self.handle.remove();
        self.handle
            .with_card(|card| card.removed_at = Some(Instant::now()));
        self.settle(false)
    }

    fn settle(&self, with_card: bool) -> Result<(), SlotError> {
        let timeout = if self.link.is_listening() {
            LISTEN_LINK_TIMEOUT
        } else {
            SLOT_CHANGE_TIMEOUT
        };
        if self
            .handle
            .wait_for(timeout, |status| {
                status.inserted == with_card && (!with_card || status.link_up)
            })
            .is_err()
        {
            return Err(SlotError::NotReady(match &self.link {
                SlotLink::Vpcd(address) => format!(
                    "vpcd does not accept the card at {address} (is pcscd running with the vsmartcard-vpcd driver?)"
                ),
                SlotLink::Listen(address) => format!(
                    "no vpcd connected to the card at {address} (start pcscd with a reader.conf whose vpcd DEVICENAME is {address}; see docs/field.md)"
                ),
                SlotLink::Serial(device) => {
                    format!("the serial front end at {device} did not take the card")
                }
            }));
        }
        match (self.link.is_local(), self.reader_name()) {
            (true, Some(reader)) => wait_for_pcscd(&reader, with_card),
            _ => {
                std::thread::sleep(BLIND_SLOT_SETTLE);
                Ok(())
            }
        }
    }

    /// The exchange log between `from` and `to` (wall clock), each entry's time counted from
    /// `from`.
    pub(crate) fn log_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Transcript {
        let mut cut = Transcript::default();
        for entry in self.log.snapshot().entries {
            let at = self.log.wall_time(&entry);
            if at < from || at > to {
                continue;
            }
            let since = (at - from).to_std().unwrap_or_default();
            cut.push(since, entry.event);
        }
        cut
    }

    /// Where the card is served, as a transcript's start line names it.
    pub(crate) fn transport(&self) -> String {
        match &self.link {
            SlotLink::Vpcd(address) => format!("vpcd:{address}"),
            SlotLink::Listen(address) => format!("listen:{address}"),
            SlotLink::Serial(device) => format!("serial:{device}"),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The card holds a handle for removals: drop it so the server can end.
        self.handle.with_card(|card| card.remover = None);
        if let Some(server) = self.server.take() {
            match server.stop() {
                Ok(_) | Err(ServeError::CardStillShared) => {}
                Err(error) => tracing::warn!(%error, "stopping the card server"),
            }
        }
    }
}

#[cfg(feature = "pcsc")]
fn wait_for_pcscd(reader: &str, with_card: bool) -> Result<(), SlotError> {
    use crate::transport::pcsc::{list_readers, SlotState};
    let deadline = std::time::Instant::now() + SLOT_CHANGE_TIMEOUT;
    loop {
        let readers = match list_readers() {
            Ok(readers) => readers,
            // A vpcd connecting out links the card while pcscd is still starting.
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(error) => return Err(SlotError::NotReady(error.to_string())),
        };
        match readers.iter().find(|info| info.name == reader) {
            // Leaving counts only once pcscd says "empty": a reader in a transient state
            // (unavailable after a failed exchange) has not seen the removal yet.
            Some(info) if with_card && info.state.has_card() => return Ok(()),
            Some(info) if !with_card && info.state == SlotState::Empty => return Ok(()),
            None if !with_card => return Ok(()),
            _ => {}
        }
        if std::time::Instant::now() >= deadline {
            return Err(SlotError::NotReady(format!(
                "pcscd did not report reader `{reader}` {} within {SLOT_CHANGE_TIMEOUT:?}",
                if with_card { "with the card" } else { "empty" }
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(not(feature = "pcsc"))]
fn wait_for_pcscd(_reader: &str, _with_card: bool) -> Result<(), SlotError> {
    std::thread::sleep(BLIND_SLOT_SETTLE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_slot_shows_a_card_while_idle_and_refuses_a_case_that_lifts_it() {
        use crate::card::CardDescription;
        use crate::pki::TestPki;
        let slot = Slot::open(SlotLink::Listen("127.0.0.1:0".into())).unwrap();
        assert_eq!(slot.reader_name(), Some("Virtual PCD 00 00".into()));
        assert_eq!(
            slot.handle.with_card(|card| card.atr()),
            Some(PLACEHOLDER_ATR.to_vec()),
            "a vpcd connecting out always finds a card"
        );
        assert!(slot
            .handle
            .wait_for(Duration::from_secs(5), |status| status.inserted)
            .is_ok());
        let description =
            CardDescription::from_yaml_file(std::path::Path::new("fixtures/cards/standard.yaml"))
                .unwrap();
        let setup = |removal| SlotSetup {
            card: Card::from_description(&description, TestPki::load().unwrap()).unwrap(),
            latency: false,
            removal,
        };
        let lifted = RemovalDoc {
            during: RemovalTrigger::Read,
            nth: 1,
        };
        let error = slot.load(setup(Some(lifted))).err().unwrap();
        assert!(error.to_string().contains("Debian's vpcd"), "{error}");
        slot.load(setup(None)).unwrap();
        assert!(slot.handle.with_card(|card| card.card.is_some()));
        // Taking the card out leaves the link (and the card) in place.
        slot.remove().unwrap();
        assert!(slot.handle.status().inserted);
    }

    #[test]
    fn vpcd_ports_name_their_readers() {
        assert_eq!(
            SlotLink::Vpcd("127.0.0.1:35963".into()).reader_name(),
            Some("Virtual PCD 00 00".into())
        );
        assert_eq!(
            SlotLink::Vpcd("127.0.0.1:35964".into()).reader_name(),
            Some("Virtual PCD 00 01".into())
        );
        assert_eq!(SlotLink::Serial("/dev/ttyUSB0".into()).reader_name(), None);
        let generic = SlotLink::Vpcd("127.0.0.1:35963".into())
            .generic_reader_link()
            .unwrap();
        assert_eq!(generic, SlotLink::Vpcd("127.0.0.1:35964".into()));
        assert_eq!(generic.reader_name(), Some("Virtual PCD 00 01".into()));
        assert_eq!(
            SlotLink::Listen("127.0.0.1:35963".into()).generic_reader_link(),
            None
        );
    }
}

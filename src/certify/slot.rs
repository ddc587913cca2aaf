//! The card slot of a certification run: one card server (vpcd or serial) for the whole run,
//! whose card is swapped between cases, with the harness's own card behaviours on top of the
//! card model (real or no processing time, removal in the middle of a command)
//! and an in-memory recording of everything exchanged.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::suite::{RemovalDoc, RemovalTrigger};
use crate::apdu::Instruction;
use crate::card::{Card, CardReply};
use crate::trace::{SharedTranscript, TraceSink, Transcript};
use crate::transport::serve::{
    spawn_serial, spawn_vpcd, EmulatedCard, RunningServer, SerialConfig, ServeError, ServeHandle,
    ServeOptions, VpcdConfig,
};

/// How long the reader stack may take to notice a card arriving or leaving.
const SLOT_CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Without a way to ask pcscd (a remote vpcd, a serial front end), wait this long instead:
/// pcscd polls vpcd for presence about every 400 ms.
const BLIND_SLOT_SETTLE: Duration = Duration::from_millis(1200);
/// The card stays out at least this long: vpcd notices a closed connection at its next
/// presence poll, and a card back before that is never seen by pcscd.
const MIN_TIME_OUT: Duration = Duration::from_millis(500);

/// The card of the slot plus the harness's behaviours.
#[derive(Default)]
pub struct SlotCard {
    card: Option<Card>,
    latency: bool,
    removal: Option<RemovalDoc>,
    removal_seen: u32,
    remover: Option<ServeHandle<SlotCard>>,
    /// When the card last left the slot (by the harness or a removal mid-command).
    removed_at: Option<Instant>,
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
        self.card.as_ref().and_then(Card::atr)
    }

    fn power_on(&mut self) -> Option<Vec<u8>> {
        self.card.as_mut().and_then(Card::power_on)
    }

    fn power_off(&mut self) {
        if let Some(card) = self.card.as_mut() {
            card.power_off();
        }
    }

    fn reset(&mut self) -> Option<Vec<u8>> {
        self.card.as_mut().and_then(Card::reset)
    }

    fn process(&mut self, capdu: &[u8]) -> CardReply {
        let remove_now = self.triggers_removal(capdu);
        let Some(card) = self.card.as_mut() else {
            return CardReply {
                rapdu: Vec::new(),
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
pub enum SlotLink {
    /// vpcd at HOST:PORT.
    Vpcd(String),
    /// A serial card-emulation front end.
    Serial(String),
}

impl SlotLink {
    /// The PC/SC reader name vpcd gives the slot: port 35963 is `Virtual PCD 00 00`, each
    /// following port the next slot.
    pub fn reader_name(&self) -> Option<String> {
        match self {
            SlotLink::Vpcd(address) => {
                let port: u16 = address.rsplit(':').next()?.parse().ok()?;
                let slot = port.checked_sub(35963)?;
                Some(format!("Virtual PCD 00 {slot:02}"))
            }
            SlotLink::Serial(_) => None,
        }
    }

    fn is_local(&self) -> bool {
        match self {
            SlotLink::Vpcd(address) => {
                address.starts_with("127.") || address.starts_with("localhost:")
            }
            SlotLink::Serial(_) => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("{0}")]
    NotReady(String),
}

/// The served slot.
pub struct Slot {
    server: Option<RunningServer<SlotCard>>,
    handle: ServeHandle<SlotCard>,
    link: SlotLink,
    log: SharedTranscript,
}

/// What a case puts into the slot.
pub struct SlotSetup {
    pub card: Card,
    pub latency: bool,
    pub removal: Option<RemovalDoc>,
}

impl Slot {
    /// Starts serving an empty slot. For vpcd a connection is an inserted card, so whether
    /// vpcd is there shows at the first insertion.
    pub fn open(link: SlotLink) -> Result<Slot, SlotError> {
        // Kept in memory with its secrets: the judge needs to tell PINs apart; every report
        // and every written trace hides them.
        let log = SharedTranscript::new();
        let options = ServeOptions {
            apply_latency: true,
            answer_identification: true,
            start_removed: true,
            sink: Some(TraceSink::Memory(log.clone())),
        };
        let server = match &link {
            SlotLink::Vpcd(address) => {
                spawn_vpcd(SlotCard::default(), VpcdConfig::new(address), options)?
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

    pub fn reader_name(&self) -> Option<String> {
        self.link.reader_name()
    }

    /// Takes the card out (if in) and puts the next case's card into the harness's hand.
    pub fn load(&self, setup: SlotSetup) -> Result<(), SlotError> {
        self.remove()?;
        self.handle.with_card(|slot| {
            slot.card = Some(setup.card);
            slot.latency = setup.latency;
            slot.removal = setup.removal;
            slot.removal_seen = 0;
        });
        Ok(())
    }

    /// The card's auth PIN tries left, for evidence.
    pub fn auth_tries_left(&self) -> Option<u8> {
        self.handle.with_card(|slot| {
            slot.card
                .as_ref()
                .and_then(|card| card.pin_counters().auth)
                .map(|state| state.tries_left)
        })
    }

    /// Waits (up to `timeout`) until the card is not powered: a power-off the device asked for
    /// reaches the card server a moment after the device's call returns.
    pub fn wait_unpowered(&self, timeout: Duration) -> bool {
        self.handle
            .wait_for(timeout, |status| !status.powered)
            .is_ok()
    }

    /// Whether the card ever reached the reader stack (vpcd accepted it, the serial port
    /// opened): if not, a failed insertion means the run cannot take place at all.
    pub fn ever_linked(&self) -> bool {
        self.handle.status().links > 0
    }

    /// Puts the card in and waits until the reader stack sees it.
    pub fn insert(&self) -> Result<(), SlotError> {
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

    /// Takes the card out and waits until the reader stack sees the slot empty.
    pub fn remove(&self) -> Result<(), SlotError> {
        if !self.handle.status().inserted {
            return Ok(());
        }
        self.handle.remove();
        self.handle
            .with_card(|card| card.removed_at = Some(Instant::now()));
        self.settle(false)
    }

    fn settle(&self, with_card: bool) -> Result<(), SlotError> {
        if self
            .handle
            .wait_for(SLOT_CHANGE_TIMEOUT, |status| {
                status.inserted == with_card && (!with_card || status.link_up)
            })
            .is_err()
        {
            return Err(SlotError::NotReady(match &self.link {
                SlotLink::Vpcd(address) => format!(
                    "vpcd does not accept the card at {address} (is pcscd running with the vsmartcard-vpcd driver?)"
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
    pub fn log_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Transcript {
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
    pub fn transport(&self) -> String {
        match &self.link {
            SlotLink::Vpcd(address) => format!("vpcd:{address}"),
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
        let readers = list_readers().map_err(|error| SlotError::NotReady(error.to_string()))?;
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
    }
}

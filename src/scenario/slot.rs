//! The reader slot a scenario drives, behind one trait: its transport, the reader events it
//! can apply, the card's counters, its clock, and what it can do. The slots: the in-process
//! [`VirtualReader`], a real reader ([`ExternalSlot`]), and our card served through vpcd
//! (`super::served::ServedSlot`). Opening one from `--reader` is [`super::readers`].

use std::time::Duration;

use super::schema::ReaderEvent;
use crate::card::{Card, PinCounters};
use crate::transport::identify::RealCardPolicy;
use crate::transport::virtual_reader::VirtualReader;
use crate::transport::{Transport, TransportError};

/// Settings of the real-stack readers (`--vpcd`, `--vpcd-reader`, `--allow-real-card-changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RealReaderSettings {
    /// Where vpcd listens (the card connects to it).
    pub(crate) vpcd_address: String,
    /// The PC/SC name pcscd gives the vpcd slot at that address (and, with `--reader listen`,
    /// the name of the vpcd reader that connects out to the card).
    pub(crate) vpcd_reader: String,
    /// With `--reader listen`: where the card waits for pcscd's vpcd to connect.
    pub(crate) listen_address: String,
    /// Whether steps that consume PIN tries or change a card may run on a card that is not
    /// proven to be our emulation.
    pub(crate) policy: RealCardPolicy,
}

/// vpcd's first slot: port 35963, named `Virtual PCD 00 00` by pcscd.
pub(crate) const DEFAULT_VPCD_READER: &str = "Virtual PCD 00 00";

impl Default for RealReaderSettings {
    fn default() -> Self {
        RealReaderSettings {
            vpcd_address: crate::transport::serve::DEFAULT_VPCD_ADDRESS.to_owned(),
            vpcd_reader: DEFAULT_VPCD_READER.to_owned(),
            listen_address: crate::transport::serve::DEFAULT_LISTEN_ADDRESS.to_owned(),
            policy: RealCardPolicy::Refuse,
        }
    }
}

/// Why a reader slot could not be opened for a scenario.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("reader `{0}` is not available in this build: {1}")]
    #[cfg_attr(
        feature = "pcsc",
        allow(dead_code, reason = "built only without the pcsc feature")
    )]
    NotAvailable(String, &'static str),
    #[error("cannot build the scenario's card: {0}")]
    Card(#[from] crate::card::CardError),
    #[error("test PKI: {0}")]
    Pki(#[from] crate::pki::PkiError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("serving the card to vpcd: {0}")]
    Serve(#[from] crate::transport::serve::ServeError),
    #[error("{0}")]
    NotReady(String),
}

/// What a slot can do beyond sending commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SlotCapabilities {
    /// Removal, insertion, power cycles.
    pub(crate) slot_events: bool,
    /// Removal during a command, lost transmissions, latency, timeouts, waits.
    pub(crate) injected_faults: bool,
    /// Reading the card's retry counters directly (the card is our emulation).
    pub(crate) card_state: bool,
    /// Time is simulated ([`ReaderSlot::elapsed`]), not the wall clock.
    pub(crate) simulated_time: bool,
}

/// How a reader event went, when the reader could carry it out.
#[derive(Debug)]
pub(crate) enum Applied {
    /// Done; when the event powered the card, its ATR or why there is none.
    Done {
        power: Option<Result<Vec<u8>, TransportError>>,
    },
    /// The event made no sense in the slot's state (no card to remove, none to insert).
    Rejected(String),
}

/// One reader slot with a card, as the scenario runner (and the certification run) drive it.
pub(crate) trait ReaderSlot: Send {
    /// The client side of the slot: commands and power go through here.
    fn transport(&mut self) -> &mut dyn Transport;

    /// Warm reset; a slot that cannot reset reconnects.
    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        self.transport().reset()
    }

    /// Applies a reader event (removal, insertion, power cycle, an injected fault). `Err` is
    /// the reader failing to carry it out, or refusing an event it cannot produce.
    fn apply(&mut self, event: ReaderEvent) -> Result<Applied, TransportError>;

    /// Takes the card out of the slot and puts `card` in instead, not yet powered (the reader
    /// flow connects). Returns the card taken out, when the slot gives it back.
    fn swap_card(&mut self, card: Card) -> Result<Option<Card>, TransportError> {
        drop(card);
        Err(TransportError::Refused(
            "this reader cannot be given another card".into(),
        ))
    }

    /// The card's retry counters, when the card is our emulation.
    fn pin_counters(&self) -> Option<PinCounters>;

    /// Simulated time since the slot opened; `None` where only wall time exists.
    fn elapsed(&self) -> Option<Duration>;

    /// Runs `inspect` on the card when it is our emulation in reach (for OCR of its front);
    /// false when it is not.
    fn inspect_card(&mut self, inspect: &mut dyn FnMut(&Card)) -> bool;

    fn capabilities(&self) -> SlotCapabilities;

    /// Runs `change` on the card when it is our emulation in reach (a phone's on-device
    /// approval happens on the phone, not on the wire); false when it is not.
    fn change_card(&mut self, change: &mut dyn FnMut(&mut Card)) -> bool {
        let _ = change;
        false
    }
}

/// The card itself, when the slot holds our emulation in reach.
pub(crate) fn with_emulated_card<R>(
    slot: &mut dyn ReaderSlot,
    inspect: impl FnOnce(&Card) -> R,
) -> Option<R> {
    let mut inspect = Some(inspect);
    let mut result = None;
    slot.inspect_card(&mut |card| {
        if let Some(inspect) = inspect.take() {
            result = Some(inspect(card));
        }
    });
    result
}

impl ReaderSlot for VirtualReader {
    fn transport(&mut self) -> &mut dyn Transport {
        self
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        VirtualReader::reset(self)
    }

    fn apply(&mut self, event: ReaderEvent) -> Result<Applied, TransportError> {
        let done = |power| Ok(Applied::Done { power });
        match event {
            ReaderEvent::Remove if self.remove() => done(None),
            ReaderEvent::Remove => Ok(Applied::Rejected(
                "there was no card in the reader to remove".into(),
            )),
            ReaderEvent::Insert if self.insert() => done(Some(self.connect())),
            ReaderEvent::Insert => Ok(Applied::Rejected(
                "there was no removed card to insert (the card is still in the reader)".into(),
            )),
            ReaderEvent::PowerCycle => done(Some(self.power_cycle())),
            ReaderEvent::RemoveMidCommand => {
                self.remove_during_next_command();
                done(None)
            }
            ReaderEvent::TransmissionErrors(count) => {
                self.fail_next_transmissions(count);
                done(None)
            }
            ReaderEvent::LatencyMs(ms) => {
                self.set_extra_latency(Duration::from_millis(ms));
                done(None)
            }
            ReaderEvent::ReaderTimeoutMs(ms) => {
                self.set_timeout((ms > 0).then(|| Duration::from_millis(ms)));
                done(None)
            }
            ReaderEvent::WaitMs(ms) => {
                self.wait(Duration::from_millis(ms));
                done(None)
            }
            // The world's events are not the reader's.
            ReaderEvent::NetworkOutage
            | ReaderEvent::NetworkRestored
            | ReaderEvent::JlisOutage
            | ReaderEvent::JlisRestored => done(None),
        }
    }

    fn swap_card(&mut self, card: Card) -> Result<Option<Card>, TransportError> {
        Ok(VirtualReader::swap_card(self, card))
    }

    fn pin_counters(&self) -> Option<PinCounters> {
        self.card().map(Card::pin_counters)
    }

    fn elapsed(&self) -> Option<Duration> {
        Some(VirtualReader::elapsed(self))
    }

    fn inspect_card(&mut self, inspect: &mut dyn FnMut(&Card)) -> bool {
        self.card().map(inspect).is_some()
    }

    fn change_card(&mut self, change: &mut dyn FnMut(&mut Card)) -> bool {
        self.card_mut().map(change).is_some()
    }

    fn capabilities(&self) -> SlotCapabilities {
        SlotCapabilities {
            slot_events: true,
            injected_faults: true,
            card_state: true,
            simulated_time: true,
        }
    }
}

/// Any other transport (a real PC/SC reader): its card's state is only visible through APDUs,
/// except when the card on the other side is ours and `card` gives direct access to it.
pub(crate) struct ExternalSlot {
    pub(crate) transport: Box<dyn Transport>,
    pub(crate) card: Option<Box<dyn Fn() -> PinCounters + Send>>,
}

impl ReaderSlot for ExternalSlot {
    fn transport(&mut self) -> &mut dyn Transport {
        self.transport.as_mut()
    }

    fn apply(&mut self, event: ReaderEvent) -> Result<Applied, TransportError> {
        Err(TransportError::Refused(format!(
            "event: {event} needs the virtual reader"
        )))
    }

    fn pin_counters(&self) -> Option<PinCounters> {
        self.card.as_ref().map(|read| read())
    }

    fn elapsed(&self) -> Option<Duration> {
        None
    }

    fn inspect_card(&mut self, _inspect: &mut dyn FnMut(&Card)) -> bool {
        false
    }

    fn capabilities(&self) -> SlotCapabilities {
        SlotCapabilities {
            card_state: self.card.is_some(),
            ..SlotCapabilities::default()
        }
    }
}

//! Which reader scenarios run on (`--reader`), and the slot the engine drives.
//!
//! `virtual` is the in-process reader. `vpcd` serves the scenario's card to vpcd and drives it
//! through the real pcscd ([`super::served`]); `pcsc[:NAME]` is a real reader with whatever card
//! is in it. Both need the cargo feature `pcsc`; without it [`ReaderChoice::open`] refuses with
//! a clear message — never a silent pass.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::model::{Needs, Scenario};
use crate::card::{Card, PinCounters};
use crate::pki::TestPki;
use crate::transport::identify::RealCardPolicy;
use crate::transport::virtual_reader::VirtualReader;
use crate::transport::{Transport, TransportError};

/// Settings of the real-stack readers (`--vpcd`, `--vpcd-reader`, `--allow-real-card-changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealReaderSettings {
    /// Where vpcd listens (the card connects to it).
    pub vpcd_address: String,
    /// The PC/SC name pcscd gives the vpcd slot at that address.
    pub vpcd_reader: String,
    /// Whether steps that consume PIN tries or change a card may run on a card that is not
    /// proven to be our emulation.
    pub policy: RealCardPolicy,
}

/// vpcd's first slot: port 35963, named `Virtual PCD 00 00` by pcscd.
pub const DEFAULT_VPCD_READER: &str = "Virtual PCD 00 00";

impl Default for RealReaderSettings {
    fn default() -> Self {
        RealReaderSettings {
            vpcd_address: crate::transport::serve::DEFAULT_VPCD_ADDRESS.to_owned(),
            vpcd_reader: DEFAULT_VPCD_READER.to_owned(),
            policy: RealCardPolicy::Refuse,
        }
    }
}

/// The `--reader` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderChoice {
    /// The in-process reader (default).
    Virtual,
    /// Our card served to vpcd, driven through pcscd like any PC/SC client.
    Vpcd,
    /// A real PC/SC reader, optionally by (part of) its name.
    Pcsc(Option<String>),
}

impl FromStr for ReaderChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "virtual" => Ok(ReaderChoice::Virtual),
            None if text == "vpcd" => Ok(ReaderChoice::Vpcd),
            None if text == "pcsc" => Ok(ReaderChoice::Pcsc(None)),
            Some(("pcsc", name)) if !name.is_empty() => {
                Ok(ReaderChoice::Pcsc(Some(name.to_owned())))
            }
            _ => Err(format!(
                "unknown reader {text:?}; expected one of: virtual, vpcd, pcsc, pcsc:NAME"
            )),
        }
    }
}

impl fmt::Display for ReaderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReaderChoice::Virtual => f.write_str("virtual"),
            ReaderChoice::Vpcd => f.write_str("vpcd"),
            ReaderChoice::Pcsc(None) => f.write_str("pcsc"),
            ReaderChoice::Pcsc(Some(name)) => write!(f, "pcsc:{name}"),
        }
    }
}

/// Why a reader slot could not be opened for a scenario.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("reader `{0}` is not available in this build: {1}")]
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

impl ReaderChoice {
    /// Whether all scenarios share one physical reader (then they cannot run in parallel).
    pub fn is_shared_hardware(&self) -> bool {
        !matches!(self, ReaderChoice::Virtual)
    }

    /// Whether this reader can give a scenario what it needs; `Err` explains why not.
    pub fn supports(&self, needs: Needs) -> Result<(), String> {
        match self {
            ReaderChoice::Virtual => Ok(()),
            ReaderChoice::Vpcd if needs.injected_faults => Err(
                "the scenario injects faults (removal during a command, transmission errors, latency, \
                 reader timeouts, waits) that only the virtual reader can produce"
                    .into(),
            ),
            ReaderChoice::Vpcd => Ok(()),
            ReaderChoice::Pcsc(_) if needs.injected_faults || needs.slot_events => Err(
                "the scenario injects reader events (removal, insertion, faults), which a real reader \
                 cannot be made to do"
                    .into(),
            ),
            ReaderChoice::Pcsc(_) if needs.card_state => Err(
                "the scenario reads retry counters directly, which only our emulated card allows".into(),
            ),
            ReaderChoice::Pcsc(_) => Ok(()),
        }
    }

    /// Opens a fresh slot holding the scenario's card.
    pub fn open(
        &self,
        scenario: &Scenario,
        settings: &RealReaderSettings,
    ) -> Result<Slot, OpenError> {
        match self {
            ReaderChoice::Virtual => {
                let card = Card::from_description(&scenario.card, TestPki::load()?)?;
                Ok(Slot::Virtual(Box::new(VirtualReader::with_card(card))))
            }
            #[cfg(feature = "pcsc")]
            ReaderChoice::Vpcd => {
                let card = Card::from_description(&scenario.card, TestPki::load()?)?;
                let served = super::served::ServedSlot::open(card, settings)?;
                Ok(Slot::Served(Box::new(served)))
            }
            #[cfg(feature = "pcsc")]
            ReaderChoice::Pcsc(name) => {
                let transport =
                    crate::transport::pcsc::PcscTransport::open(name.as_deref(), settings.policy)?;
                Ok(Slot::External {
                    transport: Box::new(transport),
                    card: None,
                })
            }
            #[cfg(not(feature = "pcsc"))]
            ReaderChoice::Vpcd | ReaderChoice::Pcsc(_) => {
                let _ = settings;
                Err(OpenError::NotAvailable(
                    self.to_string(),
                    "this binary was built without PC/SC support; rebuild with `--features pcsc` \
                     (needs libpcsclite-dev and pkg-config)",
                ))
            }
        }
    }
}

/// The reader slot a scenario drives.
pub enum Slot {
    Virtual(Box<VirtualReader>),
    /// Any other transport; its card's state is only visible through APDUs, except when the
    /// card on the other side is ours and `card` gives direct access to it.
    External {
        transport: Box<dyn Transport>,
        card: Option<Box<dyn Fn() -> PinCounters + Send>>,
    },
    /// Our card served to vpcd, driven through pcscd.
    #[cfg(feature = "pcsc")]
    Served(Box<super::served::ServedSlot>),
}

impl Slot {
    pub fn transport(&mut self) -> &mut dyn Transport {
        match self {
            Slot::Virtual(reader) => reader.as_mut(),
            Slot::External { transport, .. } => transport.as_mut(),
            #[cfg(feature = "pcsc")]
            Slot::Served(served) => served.transport(),
        }
    }

    /// The served card's slot, for removal and insertion through vpcd.
    #[cfg(feature = "pcsc")]
    pub fn served(&mut self) -> Option<&mut super::served::ServedSlot> {
        match self {
            Slot::Served(served) => Some(served.as_mut()),
            _ => None,
        }
    }

    pub fn virtual_reader(&mut self) -> Option<&mut VirtualReader> {
        match self {
            Slot::Virtual(reader) => Some(reader.as_mut()),
            _ => None,
        }
    }

    /// Warm reset: the virtual reader resets the card; others reconnect.
    pub fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        match self {
            Slot::Virtual(reader) => reader.reset(),
            Slot::External { transport, .. } => {
                transport.disconnect()?;
                transport.connect()
            }
            #[cfg(feature = "pcsc")]
            Slot::Served(served) => {
                let transport = served.transport();
                transport.disconnect()?;
                transport.connect()
            }
        }
    }

    pub fn pin_counters(&self) -> Option<PinCounters> {
        match self {
            Slot::Virtual(reader) => reader.card().map(Card::pin_counters),
            Slot::External { card, .. } => card.as_ref().map(|read| read()),
            #[cfg(feature = "pcsc")]
            Slot::Served(served) => Some(served.pin_counters()),
        }
    }

    /// Simulated time on the virtual reader; `None` where only wall time exists.
    pub fn elapsed(&self) -> Option<Duration> {
        match self {
            Slot::Virtual(reader) => Some(reader.elapsed()),
            _ => None,
        }
    }

    /// The card itself when it is our emulation in process (for OCR of its front).
    pub fn with_emulated_card<R>(&mut self, inspect: impl FnOnce(&Card) -> R) -> Option<R> {
        match self {
            Slot::Virtual(reader) => reader.card().map(inspect),
            #[cfg(feature = "pcsc")]
            Slot::Served(served) => Some(served.with_card(inspect)),
            Slot::External { .. } => None,
        }
    }
}

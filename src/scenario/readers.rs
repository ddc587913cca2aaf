//! Which reader scenarios run on (`--reader`), and the slot the engine drives.
//!
//! `virtual` is the in-process reader. `vpcd` and `pcsc[:NAME]` go through the real PC/SC
//! stack; they are opened through [`ReaderChoice::open`], which refuses with a clear message
//! while this build has no such transport — never a silent pass.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::model::{Needs, Scenario};
use crate::card::{Card, PinCounters};
use crate::pki::TestPki;
use crate::transport::virtual_reader::VirtualReader;
use crate::transport::{Transport, TransportError};

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
            ReaderChoice::Vpcd if needs.virtual_reader => {
                Err("the scenario injects reader events, which only the virtual reader can do".into())
            }
            ReaderChoice::Vpcd => Ok(()),
            ReaderChoice::Pcsc(_) if needs.virtual_reader || needs.card_state => Err(
                "the scenario injects reader events or reads retry counters directly, which a real card \
                 in a PC/SC reader does not allow"
                    .into(),
            ),
            ReaderChoice::Pcsc(_) => Ok(()),
        }
    }

    /// Opens a fresh slot holding the scenario's card.
    pub fn open(&self, scenario: &Scenario) -> Result<Slot, OpenError> {
        match self {
            ReaderChoice::Virtual => {
                let card = Card::from_description(&scenario.card, TestPki::load()?)?;
                Ok(Slot::Virtual(Box::new(VirtualReader::with_card(card))))
            }
            ReaderChoice::Vpcd => Err(OpenError::NotAvailable(
                self.to_string(),
                "serving the card to vpcd and driving it through pcscd is not wired into the runner yet",
            )),
            ReaderChoice::Pcsc(_) => Err(OpenError::NotAvailable(
                self.to_string(),
                "PC/SC readers are not wired into the runner yet (and need `--features pcsc`)",
            )),
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
}

impl Slot {
    pub fn transport(&mut self) -> &mut dyn Transport {
        match self {
            Slot::Virtual(reader) => reader.as_mut(),
            Slot::External { transport, .. } => transport.as_mut(),
        }
    }

    pub fn virtual_reader(&mut self) -> Option<&mut VirtualReader> {
        match self {
            Slot::Virtual(reader) => Some(reader.as_mut()),
            Slot::External { .. } => None,
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
        }
    }

    pub fn pin_counters(&self) -> Option<PinCounters> {
        match self {
            Slot::Virtual(reader) => reader.card().map(Card::pin_counters),
            Slot::External { card, .. } => card.as_ref().map(|read| read()),
        }
    }

    /// Simulated time on the virtual reader; `None` where only wall time exists.
    pub fn elapsed(&self) -> Option<Duration> {
        match self {
            Slot::Virtual(reader) => Some(reader.elapsed()),
            Slot::External { .. } => None,
        }
    }
}

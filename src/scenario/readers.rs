//! Which reader scenarios run on (`--reader`), and opening the slot the engine drives
//! ([`ReaderSlot`], in [`super::slot`]).
//!
//! `virtual` is the in-process reader. `vpcd` serves the scenario's card to vpcd and drives it
//! through the real pcscd ([`super::served`]); `listen` is the same stack with the card waiting
//! for pcscd's vpcd to connect out to it; `pcsc[:NAME]` is a real reader with whatever card
//! is in it. Both need the cargo feature `pcsc`; without it [`ReaderChoice::open`] refuses with
//! a clear message — never a silent pass.

use std::fmt;
use std::str::FromStr;

use super::model::{Needs, Scenario};
pub(crate) use super::slot::{OpenError, ReaderSlot, RealReaderSettings, DEFAULT_VPCD_READER};
use crate::card::Card;
use crate::pki::TestPki;
use crate::transport::virtual_reader::VirtualReader;

/// The `--reader` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReaderChoice {
    /// The in-process reader (default).
    Virtual,
    /// Our card served to vpcd, driven through pcscd like any PC/SC client.
    Vpcd,
    /// Our card waiting for pcscd's vpcd to connect out to it (reader.conf DEVICENAME
    /// `HOST:PORT`), driven through pcscd.
    Listen,
    /// A real PC/SC reader, optionally by (part of) its name.
    Pcsc(Option<String>),
}

impl FromStr for ReaderChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "virtual" => Ok(ReaderChoice::Virtual),
            None if text == "vpcd" => Ok(ReaderChoice::Vpcd),
            None if text == "listen" => Ok(ReaderChoice::Listen),
            None if text == "pcsc" => Ok(ReaderChoice::Pcsc(None)),
            Some(("pcsc", name)) if !name.is_empty() => {
                Ok(ReaderChoice::Pcsc(Some(name.to_owned())))
            }
            _ => Err(format!(
                "unknown reader {text:?}; expected one of: virtual, vpcd, listen, pcsc, pcsc:NAME"
            )),
        }
    }
}

impl fmt::Display for ReaderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReaderChoice::Virtual => f.write_str("virtual"),
            ReaderChoice::Vpcd => f.write_str("vpcd"),
            ReaderChoice::Listen => f.write_str("listen"),
            ReaderChoice::Pcsc(None) => f.write_str("pcsc"),
            ReaderChoice::Pcsc(Some(name)) => write!(f, "pcsc:{name}"),
        }
    }
}

impl ReaderChoice {
    /// Whether all scenarios share one physical reader (then they cannot run in parallel).
    pub(crate) fn is_shared_hardware(&self) -> bool {
        !matches!(self, ReaderChoice::Virtual)
    }

    /// Whether this reader can give a scenario what it needs; `Err` explains why not.
    pub(crate) fn supports(&self, needs: Needs) -> Result<(), String> {
        match self {
            ReaderChoice::Virtual => Ok(()),
            ReaderChoice::Vpcd | ReaderChoice::Listen if needs.injected_faults => Err(
                "the scenario injects faults (removal during a command, transmission errors, latency, \
                 reader timeouts, waits) that only the virtual reader can produce"
                    .into(),
            ),
            ReaderChoice::Listen | ReaderChoice::Pcsc(_) if needs.generic_reader => Err(
                "the scenario holds a phone over the clinic's generic reader, a second slot that only \
                 the virtual reader and vpcd (`Virtual PCD 00 01`) provide"
                    .into(),
            ),
            ReaderChoice::Listen if needs.removals => Err(
                "the scenario takes the card out or puts it back, and a card waiting for Debian's vpcd \
                 cannot leave the reader: vpcd (vsmartcard 3.3) then makes pcscd abort at its next poll"
                    .into(),
            ),
            ReaderChoice::Vpcd | ReaderChoice::Listen => Ok(()),
            ReaderChoice::Pcsc(_) if needs.card_swaps => Err(
                "the scenario puts several of its cards on the reader in turn, which a real reader \
                 cannot be made to do"
                    .into(),
            ),
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

    /// The reason the scenario itself gives (`skip_on:`) for not running on this reader.
    pub(crate) fn skipped_by(&self, scenario: &Scenario) -> Option<String> {
        let reason = match self {
            ReaderChoice::Virtual => None,
            // The same stack as `vpcd`, so the same reasons.
            ReaderChoice::Vpcd | ReaderChoice::Listen => scenario.skip_on.vpcd.as_ref(),
            ReaderChoice::Pcsc(_) => scenario.skip_on.pcsc.as_ref(),
        }?;
        Some(format!(
            "the scenario does not run on reader `{self}`: {reason}"
        ))
    }

    /// Opens a fresh slot holding the scenario's card.
    pub(crate) fn open(
        &self,
        scenario: &Scenario,
        settings: &RealReaderSettings,
    ) -> Result<Box<dyn ReaderSlot>, OpenError> {
        match self {
            ReaderChoice::Virtual => {
                let card = Card::from_description(&served_card(scenario), TestPki::load()?)?;
                Ok(Box::new(VirtualReader::with_card(card)))
            }
            #[cfg(feature = "pcsc")]
            ReaderChoice::Vpcd => {
                let card = Card::from_description(&served_card(scenario), TestPki::load()?)?;
                Ok(Box::new(super::served::ServedSlot::open(card, settings)?))
            }
            #[cfg(feature = "pcsc")]
            ReaderChoice::Listen => {
                let card = Card::from_description(&served_card(scenario), TestPki::load()?)?;
                Ok(Box::new(super::served::ListenSlot::open(card, settings)?))
            }
            #[cfg(feature = "pcsc")]
            ReaderChoice::Pcsc(name) => {
                let transport =
                    crate::transport::pcsc::PcscTransport::open(name.as_deref(), settings.policy)?;
                Ok(Box::new(super::slot::ExternalSlot {
                    transport: Box::new(transport),
                    card: None,
                }))
            }
            #[cfg(not(feature = "pcsc"))]
            ReaderChoice::Vpcd | ReaderChoice::Listen | ReaderChoice::Pcsc(_) => {
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

/// Opens the clinic's generic reader with a phone on it (docs/smartphone.md).
pub(crate) type GenericOpener =
    Box<dyn FnMut(Card) -> Result<Box<dyn ReaderSlot>, OpenError> + Send>;

/// vpcd's second slot, where a phone is served: Debian's vpcd listens on PORT+1 for it and
/// pcscd names it `Virtual PCD 00 01` (docs/spec/smartphone.md §2.7).
pub(crate) const GENERIC_VPCD_READER: &str = "Virtual PCD 00 01";

impl ReaderChoice {
    /// How to open the generic reader a phone is held over, where this reader choice has a
    /// second slot: the in-process reader, and vpcd's slot `00 01` (port + 1).
    pub(crate) fn generic_opener(&self, settings: &RealReaderSettings) -> Option<GenericOpener> {
        match self {
            ReaderChoice::Virtual => Some(Box::new(|card| {
                Ok(Box::new(VirtualReader::with_card(card)) as Box<dyn ReaderSlot>)
            })),
            #[cfg(feature = "pcsc")]
            ReaderChoice::Vpcd => {
                let second = second_vpcd_slot(settings)?;
                Some(Box::new(move |card| {
                    Ok(Box::new(super::served::ServedSlot::open(card, &second)?)
                        as Box<dyn ReaderSlot>)
                }))
            }
            _ => {
                let _ = settings;
                None
            }
        }
    }
}

/// The settings of vpcd's second slot: the port after the first one's, `Virtual PCD 00 01`.
#[cfg(feature = "pcsc")]
fn second_vpcd_slot(settings: &RealReaderSettings) -> Option<RealReaderSettings> {
    let (host, port) = settings.vpcd_address.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    Some(RealReaderSettings {
        vpcd_address: format!("{host}:{}", port.checked_add(1)?),
        vpcd_reader: GENERIC_VPCD_READER.to_owned(),
        ..settings.clone()
    })
}

/// The scenario's card as served on the scenario's day: its clock decides what relative card
/// dates (`issued: -400d`) mean, so runs stay deterministic.
fn served_card(scenario: &Scenario) -> crate::card::CardDescription {
    let today = scenario
        .clock
        .unwrap_or(crate::card::description::RELATIVE_DATES_REFERENCE_DAY);
    scenario.card.on_day(today)
}

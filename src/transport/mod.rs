//! How APDUs reach a card: the in-process virtual reader, vsmartcard framing (TCP to vpcd,
//! or a serial port), and real PC/SC readers.
//!
//! The reader flow and the scenario runner talk to cards only through [`Transport`], so the
//! same flow runs against the in-process card, a real reader, or our card behind vpcd.

use std::time::Duration;

use crate::trace::{FailureKind, ReaderFailure};

/// Why a transport could not deliver an APDU.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No reader is available (the text says which was looked for).
    #[error("no reader available{0}")]
    NoReader(String),
    /// The reader has no card.
    #[error("no card in the reader")]
    NoCard,
    /// The card was removed during the exchange.
    #[error("the card was removed")]
    CardRemoved,
    /// The card did not answer within this time.
    #[error("the card did not answer (timed out after {0:?})")]
    Timeout(Duration),
    /// The link to the card failed (framing, reader error).
    #[error("transmission error: {0}")]
    Transmission(String),
    /// The transport refused the command (a real card protected from changes).
    #[error("refused: {0}")]
    Refused(String),
    /// The operating system failed the reader's I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl TransportError {
    /// This error as the exchange log keeps it.
    pub(crate) fn failure(&self) -> ReaderFailure {
        let kind = match self {
            TransportError::NoReader(_) => FailureKind::NoReader,
            TransportError::NoCard => FailureKind::NoCard,
            TransportError::CardRemoved => FailureKind::Removed,
            TransportError::Timeout(_) => FailureKind::Timeout,
            TransportError::Transmission(_) | TransportError::Io(_) => FailureKind::Transmission,
            TransportError::Refused(_) => FailureKind::Refused,
        };
        ReaderFailure {
            kind,
            message: self.to_string(),
        }
    }
}

/// One reader slot as the client side sees it. Synchronous on purpose: the reader flow is a
/// sequence of request/response exchanges, and PC/SC itself is blocking.
pub trait Transport: Send {
    /// A short human-readable name ("virtual", "pcsc:ACS ACR39U 00 00", ...).
    fn describe(&self) -> String;

    /// Powers the card up (or connects to it) and returns its ATR.
    fn connect(&mut self) -> Result<Vec<u8>, TransportError>;

    /// Sends one C-APDU and returns the R-APDU (data followed by SW1 SW2).
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Releases the card (power off / disconnect). Removing a card is a reader event, not this.
    fn disconnect(&mut self) -> Result<(), TransportError>;

    /// Warm reset, returning the ATR. A verified PIN survives it on a real card
    /// (docs/spec/card-measured.md §2), unlike a power cycle; a transport that cannot reset reconnects.
    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        self.disconnect()?;
        self.connect()
    }

    /// True only when the transport knows the card on the other side is our emulation.
    /// Steps that consume PIN tries or change a card are refused when this is false unless the
    /// user explicitly allows it.
    fn is_emulated_card(&self) -> bool;

    /// The processing time the card itself claimed for the last command, when the transport
    /// runs the card model in process (the virtual reader); recordings keep it as `card_us`.
    fn last_card_time(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A borrowed transport is a transport (so a wrapper such as [`recording::Recording`] can
/// borrow the slot's transport for one step).
impl<T: Transport + ?Sized> Transport for &mut T {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
        (**self).connect()
    }
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(capdu)
    }
    fn disconnect(&mut self) -> Result<(), TransportError> {
        (**self).disconnect()
    }
    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        (**self).reset()
    }
    fn is_emulated_card(&self) -> bool {
        (**self).is_emulated_card()
    }
    fn last_card_time(&self) -> Option<std::time::Duration> {
        (**self).last_card_time()
    }
}

pub(crate) mod cli;
/// The real card as the oracle: one read-only probe on a real card and the emulated one.
pub(crate) mod compare;
/// Proving that a card is our emulation; refusing card-changing steps otherwise.
pub mod identify;
/// Real PC/SC readers (cargo feature `pcsc`).
#[cfg(feature = "pcsc")]
pub mod pcsc;
/// The recording wrapper: any transport, logged into the exchange log.
pub(crate) mod recording;
/// Serving the emulated card: the vpicc session loop over TCP (vpcd) or a serial port.
pub mod serve;
/// The in-process reader with fault injection (removal, latency, errors, power).
pub mod virtual_reader;
/// vsmartcard's vpicc framing: 2-byte big-endian length + payload, control codes.
pub mod vpicc;

//! Serving the emulated card over vpicc framing: TCP to vpcd (so pcscd and every PC/SC client
//! see it), listening for a reader that connects (vsmartcard's reversed mode: a vpcd that
//! connects out, or the Android emulator carrying the card to an NFC reader), or a serial port
//! (for a hardware card-emulation front end).
//!
//! The servers run on their own thread and are driven through a [`ServeHandle`]: insert and
//! remove the card on demand, run a scripted schedule, inspect the card (PIN counters survive
//! removal and re-insertion because the same card value is kept), shut down cleanly.
//!
//! The card is anything implementing [`EmulatedCard`]; [`crate::card::Card`] does.

use std::sync::{mpsc, Arc, Mutex, PoisonError};

use crate::card::{Card, CardReply};
use crate::trace::TraceSink;

mod control;
mod listen;
mod serial;
mod session;
mod tcp;

pub use control::{RunningServer, ServeHandle};
pub(crate) use listen::DEFAULT_LISTEN_ADDRESS;
pub use listen::{ListenConfig, Listening, PLACEHOLDER_ATR};
pub use serial::{SerialConfig, DEFAULT_BAUD, DEFAULT_RESYNC_IDLE};
pub use tcp::VpcdConfig;
pub(crate) use tcp::DEFAULT_VPCD_ADDRESS;

/// What a server needs from a card. Synchronous and I/O-free, like the card core.
pub trait EmulatedCard: Send + 'static {
    /// The ATR, or `None` when the card is mute (answered as "no card").
    fn atr(&self) -> Option<Vec<u8>>;
    /// Powers the card on; its ATR, or `None` when it stays mute.
    fn power_on(&mut self) -> Option<Vec<u8>>;
    /// Powers the card off; its volatile state (security status, selected files) is lost.
    fn power_off(&mut self);
    /// Warm reset; its ATR, or `None` when it stays mute.
    fn reset(&mut self) -> Option<Vec<u8>>;
    /// Answers one C-APDU.
    fn process(&mut self, capdu: &[u8]) -> CardReply;
}

impl EmulatedCard for Card {
    fn atr(&self) -> Option<Vec<u8>> {
        Card::atr(self)
    }
    fn power_on(&mut self) -> Option<Vec<u8>> {
        Card::power_on(self)
    }
    fn power_off(&mut self) {
        Card::power_off(self)
    }
    fn reset(&mut self) -> Option<Vec<u8>> {
        Card::reset(self)
    }
    fn process(&mut self, capdu: &[u8]) -> CardReply {
        Card::process(self, capdu)
    }
}

/// How a server behaves, whatever the link.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// Wait the processing time the card model reports before answering (realistic timing).
    pub apply_latency: bool,
    /// Answer the identification probe ([`crate::transport::identify`]) so that clients can
    /// prove the card is ours. Off only for strict fidelity experiments.
    pub answer_identification: bool,
    /// Start with the card out of the reader (insert it through the handle).
    pub start_removed: bool,
    /// Where the session's exchange log goes (memory, or a JSON-lines transcript).
    pub sink: Option<TraceSink>,
}

impl ServeOptions {
    /// The defaults of `myna-hil card serve`: latency applied, identification answered, card
    /// inserted, no transcript.
    pub fn standard() -> ServeOptions {
        ServeOptions {
            apply_latency: true,
            answer_identification: true,
            start_removed: false,
            sink: None,
        }
    }
}

/// Why serving the card stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The serial port cannot be opened.
    #[error("serial port {device}: {source}")]
    SerialOpen {
        /// The serial device.
        device: String,
        /// Why it cannot be opened.
        source: serialport::Error,
    },
    /// The address cannot be listened on or connected to.
    #[error("address {address}: {message}")]
    Address {
        /// The `HOST:PORT` given.
        address: String,
        /// Why it cannot be used.
        message: String,
    },
    /// The transcript cannot be written.
    #[error("transcript: {0}")]
    Trace(#[from] crate::trace::TraceError),
    /// The server thread cannot be started.
    #[error("could not start the server thread: {0}")]
    Spawn(std::io::Error),
    /// The server thread panicked.
    #[error("the server thread panicked")]
    Panicked,
    /// The server stopped, but the card is still shared with another handle and cannot be given
    /// back.
    #[error("the server stopped but another handle still holds the card")]
    CardStillShared,
}

/// A card shared between the server thread and its handles.
pub(crate) type SharedCard<C> = Arc<Mutex<C>>;

/// Locks the card; a panic elsewhere must not take the card down with it (its state is plain
/// data and stays consistent between APDUs).
pub(crate) fn lock_card<C>(card: &SharedCard<C>) -> std::sync::MutexGuard<'_, C> {
    card.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a server thread around `card`: the shared card, its status cell, the handle and the
/// session are the same for every link; `run` is the link's own loop (vpcd over TCP, or a
/// serial line), given the session, the handle's commands and whether to start removed.
fn start_server<C, F>(
    card: C,
    options: ServeOptions,
    thread_name: &str,
    run: F,
) -> Result<RunningServer<C>, ServeError>
where
    C: EmulatedCard,
    F: FnOnce(
            session::Session<C>,
            mpsc::Receiver<control::Command>,
            bool,
        ) -> Result<(), ServeError>
        + Send
        + 'static,
{
    let (sender, commands) = mpsc::channel();
    let card = Arc::new(Mutex::new(card));
    let status = Arc::new(control::StatusCell::default());
    let handle = ServeHandle::new(sender, Arc::clone(&card), Arc::clone(&status));
    let start_removed = options.start_removed;
    let session = session::Session::new(card, status, options);
    let thread = std::thread::Builder::new()
        .name(thread_name.into())
        .spawn(move || run(session, commands, start_removed))
        .map_err(ServeError::Spawn)?;
    Ok(RunningServer::new(handle, thread))
}

/// Serves `card` to vpcd on its own thread.
pub fn spawn_vpcd<C: EmulatedCard>(
    card: C,
    config: VpcdConfig,
    options: ServeOptions,
) -> Result<RunningServer<C>, ServeError> {
    tcp::spawn(card, config, options)
}

/// Serves `card` to whichever reader connects (vpcd connecting out, or the phone), on its
/// own thread. Binding happens before this returns, so a taken port or a non-loopback address
/// without `allow_remote` fails at once; [`Listening`] says which ports were bound.
pub fn spawn_listen<C: EmulatedCard>(
    card: C,
    config: ListenConfig,
    options: ServeOptions,
) -> Result<(RunningServer<C>, Listening), ServeError> {
    listen::spawn(card, config, options)
}

/// Serves `card` on a serial port on its own thread. Fails at once if the port cannot be opened.
pub fn spawn_serial<C: EmulatedCard>(
    card: C,
    config: SerialConfig,
    options: ServeOptions,
) -> Result<RunningServer<C>, ServeError> {
    serial::spawn(card, config, options)
}

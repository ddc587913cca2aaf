//! The card on a serial line, for a hardware card-emulation front end that presents it to a
//! physical reader. Same framing as vpcd; the front end plays vpcd's part (it sends control
//! codes and C-APDUs, the card answers).
//!
//! **Insertion and removal.** A serial line has no connection to open or close, so the slot
//! state shows in the answers, exactly as vpcd itself reads them: while the card is removed,
//! GET ATR (`04`) is answered with an empty frame (`00 00`) — "no card" — power control codes
//! are ignored, and a C-APDU gets an empty frame too. The front end must keep polling GET ATR
//! (pcscd does so about every 400 ms) to notice insertions and removals. Removal powers the
//! card off; its state (retry counters, files) is kept for re-insertion.
//!
//! **Resynchronisation.** The framing has no sync marker, so the card recovers by silence:
//! - a frame that cannot come from vpcd (empty, unknown control code, 2–3 bytes) is dropped
//!   with everything after it until the line has been idle for the resync interval;
//! - a half frame (its bytes stop arriving) is dropped once the line has been idle for the
//!   resync interval;
//! - a wrong length that swallows following frames ends the same way: the front end gets no
//!   answer, stops sending, the line goes idle, and the card starts afresh.
//!
//! Every drop is logged (and recorded in the transcript); the front end recovers by timing out
//! and repeating its last message after at least the resync interval. The card never answers a
//! frame it dropped, and never wedges: the worst case costs one resync interval.

use std::io::ErrorKind;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serialport::SerialPort;

use super::control::{self, Backoff, CardEvent, Command, Pending, RunningServer};
use super::session::Session;
use super::{EmulatedCard, ServeError, ServeOptions};
use crate::trace::Event;
use crate::transport::vpicc::{encode_frame, FrameDecoder, Message};

/// The line rate of the serial front end unless told otherwise.
pub const DEFAULT_BAUD: u32 = 115_200;
/// Long enough to span the gap between bytes of one frame at low rates (a byte at 9600 baud
/// takes about 1 ms), short enough for a quick recovery.
pub const DEFAULT_RESYNC_IDLE: Duration = Duration::from_millis(100);

/// How to present the card on a serial port (vpicc framing).
#[derive(Debug, Clone)]
pub struct SerialConfig {
    pub(crate) device: String,
    pub(crate) baud: u32,
    /// Line silence after which a half frame or garbage is dropped.
    pub resync_idle: Duration,
}

impl SerialConfig {
    /// The serial device at [`DEFAULT_BAUD`] and [`DEFAULT_RESYNC_IDLE`].
    pub fn new(device: impl Into<String>) -> SerialConfig {
        SerialConfig {
            device: device.into(),
            baud: DEFAULT_BAUD,
            resync_idle: DEFAULT_RESYNC_IDLE,
        }
    }
}

fn open(config: &SerialConfig) -> Result<Box<dyn SerialPort>, ServeError> {
    serialport::new(&config.device, config.baud)
        .timeout(config.resync_idle)
        .open()
        .map_err(|source| ServeError::SerialOpen {
            device: config.device.clone(),
            source,
        })
}

pub(super) fn spawn<C: EmulatedCard>(
    card: C,
    config: SerialConfig,
    options: ServeOptions,
) -> Result<RunningServer<C>, ServeError> {
    let port = open(&config)?;
    super::start_server(
        card,
        options,
        "serial-card",
        move |session, commands, start_removed| run(port, config, session, commands, start_removed),
    )
}

enum LinkEnd {
    Shutdown,
    Lost(String),
}

/// Slot state that outlives a reopened port.
struct Slot {
    inserted: bool,
}

fn run<C: EmulatedCard>(
    port: Box<dyn SerialPort>,
    config: SerialConfig,
    mut session: Session<C>,
    commands: Receiver<Command>,
    start_removed: bool,
) -> Result<(), ServeError> {
    let mut slot = Slot {
        inserted: !start_removed,
    };
    session
        .status
        .update(|status| status.inserted = slot.inserted);
    if slot.inserted {
        session.record(Event::Inserted);
    }
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut port = Some(port);
    loop {
        let Some(mut open_port) = port.take() else {
            match control::wait(&commands, backoff.next_delay()) {
                Pending::Shutdown => break,
                Pending::Event(event) => apply(event, &mut slot, &mut session),
                Pending::Nothing => {}
            }
            match open(&config) {
                Ok(reopened) => {
                    tracing::warn!(device = %config.device, "serial port reopened");
                    port = Some(reopened);
                }
                Err(error) => tracing::debug!(%error, "serial port still unavailable"),
            }
            continue;
        };
        backoff.reset();
        session.status.update(|status| {
            status.link_up = true;
            status.links += 1;
        });
        session.record(Event::LinkUp {
            peer: format!("serial:{}@{}", config.device, config.baud),
        });
        let end = serve_line(open_port.as_mut(), &mut slot, &mut session, &commands);
        session.status.update(|status| status.link_up = false);
        match end {
            LinkEnd::Shutdown => {
                session.record(Event::LinkDown {
                    reason: "shutdown".into(),
                });
                break;
            }
            LinkEnd::Lost(reason) => {
                tracing::warn!(device = %config.device, %reason, "serial line lost; reopening with backoff");
                session.power_off();
                session.record(Event::LinkDown { reason });
            }
        }
    }
    session.finish().map_err(ServeError::from)
}

fn apply<C: EmulatedCard>(event: CardEvent, slot: &mut Slot, session: &mut Session<C>) {
    match (event, slot.inserted) {
        (CardEvent::Insert, false) => {
            slot.inserted = true;
            session.status.update(|status| status.inserted = true);
            session.record(Event::Inserted);
        }
        (CardEvent::Remove, true) => {
            slot.inserted = false;
            session.power_off();
            session.status.update(|status| status.inserted = false);
            session.record(Event::Removed);
        }
        _ => {}
    }
}

fn serve_line<C: EmulatedCard>(
    port: &mut dyn SerialPort,
    slot: &mut Slot,
    session: &mut Session<C>,
    commands: &Receiver<Command>,
) -> LinkEnd {
    let mut decoder = FrameDecoder::new();
    let mut buffer = vec![0u8; 4096];
    // Bytes dropped since garbage was seen; `Some` while waiting for the line to go idle.
    let mut discarding: Option<usize> = None;
    loop {
        match control::poll(commands) {
            Pending::Shutdown => return LinkEnd::Shutdown,
            Pending::Event(event) => apply(event, slot, session),
            Pending::Nothing => {}
        }
        let received = match port.read(&mut buffer) {
            Ok(0) => {
                // A pty whose other end is closed reads as end of file.
                return LinkEnd::Lost("the serial line reached end of file".into());
            }
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                ) =>
            {
                line_went_idle(&mut decoder, &mut discarding, session);
                continue;
            }
            Err(error) => return LinkEnd::Lost(format!("reading: {error}")),
        };
        if let Some(dropped) = discarding.as_mut() {
            *dropped += received;
            continue;
        }
        decoder.push(&buffer[..received]);
        while let Some(payload) = decoder.next_frame() {
            let message = match Message::parse(&payload) {
                Ok(message) => message,
                Err(error) => {
                    let dropped = payload.len() + 2 + decoder.discard();
                    tracing::warn!(%error, dropped, "garbage on the serial line; dropping input until the line is idle");
                    discarding = Some(dropped);
                    session.record(Event::FramingError {
                        message: error.to_string(),
                        dropped_bytes: dropped,
                    });
                    break;
                }
            };
            let Some(reply) = session.answer(message, slot.inserted) else {
                continue;
            };
            let frame = match encode_frame(&reply) {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::error!(%error, "the card produced an answer too long for vpicc framing");
                    continue;
                }
            };
            if let Err(error) = port.write_all(&frame).and_then(|()| port.flush()) {
                return LinkEnd::Lost(format!("writing: {error}"));
            }
        }
    }
}

fn line_went_idle<C: EmulatedCard>(
    decoder: &mut FrameDecoder,
    discarding: &mut Option<usize>,
    session: &mut Session<C>,
) {
    if let Some(dropped) = discarding.take() {
        tracing::warn!(dropped, "serial line idle: resynchronised after garbage");
        return;
    }
    let dropped = decoder.discard();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "serial line idle in the middle of a frame: half frame dropped, resynchronised"
        );
        session.record(Event::FramingError {
            message: "half frame dropped after the line went idle".into(),
            dropped_bytes: dropped,
        });
    }
}

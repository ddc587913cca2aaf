//! The card waits for its reader: vsmartcard's reversed mode (`vicc --reversed`). The card
//! listens; the reader side connects to it — pcscd's vpcd with a reader.conf `DEVICENAME
//! HOST:PORT`, or vsmartcard's Android Smart Card Emulator in its remote mode, which carries
//! the card over NFC to a physical reader.
//!
//! Each connection presents the card; a closed connection removes it (its power goes, as on a
//! removal: security status reset, PIN counters kept), and the card waits for the next one.
//! The control bytes are answered as the connecting side sends them: vpcd powers on, asks the
//! ATR and powers off as it does when the card connects to it; the phone sends power on when it
//! connects and power off when the reader's field goes, then relays the next field's commands
//! without a new power on ([`Session::power_on_demand`]).
//!
//! Debian's vpcd (vsmartcard 3.3) connects out to both of its slots, PORT and PORT+1, and
//! once either link fails or answers "no card" its next presence poll hands `select` the
//! invalid socket -1 and pcscd aborts ("bit out of range 0 - FD_SETSIZE on fd_set"; fixed
//! upstream in 2022). So PORT+1 is served too, by a placeholder card that is always there
//! ([`PLACEHOLDER_ATR`], every command `6D 00`), and with that vpcd the card must stay linked
//! for pcscd's lifetime.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::control::{self, CardEvent, Command, Pending, RunningServer};
use super::session::Session;
use super::tcp::{resolve, serve_link, LinkEnd, LinkSettings, COMMAND_POLL};
use super::{EmulatedCard, ServeError, ServeOptions};
use crate::apdu::StatusWord;
use crate::card::CardReply;
use crate::trace::Event;

/// `card serve --listen` without an address: loopback, vpcd's first port.
pub(crate) const DEFAULT_LISTEN_ADDRESS: &str = "127.0.0.1:35963";

/// The placeholder card on PORT+1: `3B 85 80 01` + "EMPTY" + TCK (T=1, five historical bytes).
/// PC/SC lists it as a card in the second reader; nothing on it answers but `6D 00`.
pub const PLACEHOLDER_ATR: [u8; 10] = [0x3B, 0x85, 0x80, 0x01, b'E', b'M', b'P', b'T', b'Y', 0x51];

const SILENT_READER_HINT: &str =
    "a reader connected but has sent nothing: vpcd asks the ATR at once, the phone sends power on";
/// How many ephemeral port pairs to try for `--listen HOST:0` with the second slot.
const PAIR_ATTEMPTS: usize = 32;

/// Told about every reader that connects (the CLI prints it).
pub(crate) type PeerNotice = Arc<dyn Fn(SocketAddr) + Send + Sync>;

/// How to present the card to a reader that connects (vpcd's reversed mode: the phone or the reader
/// dials in).
#[derive(Clone)]
pub struct ListenConfig {
    /// `HOST:PORT` to listen on; port 0 picks a free one (a free pair with the second slot).
    pub address: String,
    /// Listening on anything but loopback must be asked for: whoever reaches the port gets the
    /// card (its certificates, and PIN tries).
    pub allow_remote: bool,
    /// Also serve the placeholder card on PORT+1 (needed by Debian's vpcd, harmless otherwise).
    pub second_slot: bool,
    /// Re-arm TCP_QUICKACK before every read (see [`super::tcp`]).
    pub quickack: bool,
    /// Called with the peer's address whenever a reader connects.
    pub on_peer: Option<PeerNotice>,
}

impl std::fmt::Debug for ListenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenConfig")
            .field("address", &self.address)
            .field("allow_remote", &self.allow_remote)
            .field("second_slot", &self.second_slot)
            .field("quickack", &self.quickack)
            .field("on_peer", &self.on_peer.is_some())
            .finish()
    }
}

impl ListenConfig {
    /// Listening on `address`, loopback only, with the second slot and TCP_QUICKACK re-arming.
    pub fn new(address: impl Into<String>) -> ListenConfig {
        ListenConfig {
            address: address.into(),
            allow_remote: false,
            second_slot: true,
            quickack: true,
            on_peer: None,
        }
    }
}

/// Where a listening server ended up listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// The card's port: a vpcd reader.conf `DEVICENAME` or the phone app's host and port.
    pub card: SocketAddr,
    /// The placeholder's port (the card's + 1), when served.
    pub second_slot: Option<SocketAddr>,
}

/// Binds, then serves `card` to whoever connects, on its own thread.
pub(super) fn spawn<C: EmulatedCard>(
    card: C,
    config: ListenConfig,
    options: ServeOptions,
) -> Result<(RunningServer<C>, Listening), ServeError> {
    let address = resolve(&config.address)?;
    if !address.ip().is_loopback() && !config.allow_remote {
        return Err(ServeError::Address {
            address: config.address.clone(),
            message: "not a loopback address: anyone who reaches it gets the card; pass \
                      --allow-remote to listen there anyway"
                .into(),
        });
    }
    let (listener, second) = bind(address, &config)?;
    let listening = Listening {
        card: local_address(&listener, &config.address)?,
        second_slot: match &second {
            Some(second) => Some(local_address(second, &config.address)?),
            None => None,
        },
    };
    let placeholder = match second {
        Some(second) => Some(spawn_placeholder(second, config.quickack)?),
        None => None,
    };
    let server = super::start_server(
        card,
        options,
        "listening-card",
        move |mut session, commands, start_removed| {
            session.power_on_demand();
            let result = run(listener, &config, &mut session, &commands, start_removed);
            if let Some(placeholder) = placeholder {
                placeholder.stop();
            }
            let finished = session.finish().map_err(ServeError::from);
            result.and(finished)
        },
    )?;
    Ok((server, listening))
}

fn local_address(listener: &TcpListener, asked: &str) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|error| ServeError::Address {
        address: asked.to_string(),
        message: error.to_string(),
    })
}

/// Binds the card's port and, with the second slot, the next one.
fn bind(
    address: SocketAddr,
    config: &ListenConfig,
) -> Result<(TcpListener, Option<TcpListener>), ServeError> {
    let failed = |at: SocketAddr, error: std::io::Error| ServeError::Address {
        address: at.to_string(),
        message: format!("cannot listen: {error}"),
    };
    if !config.second_slot {
        let listener = TcpListener::bind(address).map_err(|error| failed(address, error))?;
        return Ok((listener, None));
    }
    let attempts = if address.port() == 0 {
        PAIR_ATTEMPTS
    } else {
        1
    };
    let mut last_error = None;
    for _ in 0..attempts {
        let listener = TcpListener::bind(address).map_err(|error| failed(address, error))?;
        let card = local_address(&listener, &config.address)?;
        let Some(next_port) = card.port().checked_add(1) else {
            last_error = Some(ServeError::Address {
                address: card.to_string(),
                message: "the second slot would be port 65536; pick a lower port".into(),
            });
            continue;
        };
        let next = SocketAddr::new(card.ip(), next_port);
        match TcpListener::bind(next) {
            Ok(second) => return Ok((listener, Some(second))),
            Err(error) => last_error = Some(failed(next, error)),
        }
    }
    Err(last_error.unwrap_or_else(|| ServeError::Address {
        address: config.address.clone(),
        message: "no free pair of ports".into(),
    }))
}

fn run<C: EmulatedCard>(
    listener: TcpListener,
    config: &ListenConfig,
    session: &mut Session<C>,
    commands: &Receiver<Command>,
    start_removed: bool,
) -> Result<(), ServeError> {
    listener
        .set_nonblocking(true)
        .map_err(|error| ServeError::Address {
            address: config.address.clone(),
            message: error.to_string(),
        })?;
    let mut inserted = !start_removed;
    if inserted {
        session.status.update(|status| status.inserted = true);
        session.record(Event::Inserted);
    }
    loop {
        match control::poll(commands) {
            Pending::Shutdown => return Ok(()),
            Pending::Event(event) => apply(event, &mut inserted, session),
            Pending::Nothing => {}
        }
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
            {
                match control::wait(commands, COMMAND_POLL) {
                    Pending::Shutdown => return Ok(()),
                    Pending::Event(event) => apply(event, &mut inserted, session),
                    Pending::Nothing => {}
                }
                continue;
            }
            Err(error) => {
                // Out of file descriptors and the like: wait, as a reader would retry.
                tracing::warn!(%error, "accepting a reader failed");
                if control::wait(commands, COMMAND_POLL) == Pending::Shutdown {
                    return Ok(());
                }
                continue;
            }
        };
        if let Some(notice) = &config.on_peer {
            notice(peer);
        }
        if !inserted {
            // The card is out of the reader: the connection finds nothing and is closed.
            tracing::info!(%peer, "a reader connected while the card is removed: closed");
            drop(stream);
            continue;
        }
        // The listener is non-blocking; the link itself waits with timeouts.
        if let Err(error) = stream.set_nonblocking(false) {
            tracing::warn!(%error, %peer, "configuring the connection");
            continue;
        }
        let link = LinkSettings {
            peer,
            quickack: config.quickack,
            silence_hint: SILENT_READER_HINT,
        };
        let end = serve_link(stream, &link, session, commands);
        // Leaving the reader cuts the power: security status goes, PIN counters stay.
        session.power_off();
        session.status.update(|status| status.link_up = false);
        match end {
            LinkEnd::Shutdown => return Ok(()),
            LinkEnd::Removed => {
                inserted = false;
                session.record(Event::Removed);
            }
            LinkEnd::Lost(reason) => tracing::info!(%peer, %reason, "the reader left"),
        }
    }
}

fn apply<C: EmulatedCard>(event: CardEvent, inserted: &mut bool, session: &mut Session<C>) {
    match (event, *inserted) {
        (CardEvent::Insert, false) => {
            *inserted = true;
            session.status.update(|status| status.inserted = true);
            session.record(Event::Inserted);
        }
        (CardEvent::Remove, true) => {
            *inserted = false;
            session.status.update(|status| status.inserted = false);
            session.record(Event::Removed);
        }
        _ => {}
    }
}

/// The card on PORT+1: always there, answers nothing but `6D 00`.
#[derive(Debug, Default)]
pub(crate) struct PlaceholderCard;

impl EmulatedCard for PlaceholderCard {
    fn atr(&self) -> Option<Vec<u8>> {
        Some(PLACEHOLDER_ATR.to_vec())
    }
    fn power_on(&mut self) -> Option<Vec<u8>> {
        self.atr()
    }
    fn power_off(&mut self) {}
    fn reset(&mut self) -> Option<Vec<u8>> {
        self.atr()
    }
    fn process(&mut self, _capdu: &[u8]) -> CardReply {
        CardReply {
            rapdu: StatusWord::INS_NOT_SUPPORTED.to_bytes().to_vec(),
            latency: Duration::ZERO,
        }
    }
}

/// The placeholder's own thread and its stop switch.
struct Placeholder {
    stop: mpsc::Sender<Command>,
    thread: JoinHandle<()>,
}

impl Placeholder {
    fn stop(self) {
        let _ = self.stop.send(Command::Shutdown);
        if self.thread.join().is_err() {
            tracing::warn!("the second slot's thread panicked");
        }
    }
}

fn spawn_placeholder(listener: TcpListener, quickack: bool) -> Result<Placeholder, ServeError> {
    let (stop, commands) = mpsc::channel();
    let config = ListenConfig {
        address: listener
            .local_addr()
            .map_or_else(|_| "second slot".into(), |address| address.to_string()),
        allow_remote: true,
        second_slot: false,
        quickack,
        on_peer: None,
    };
    let options = ServeOptions {
        apply_latency: false,
        answer_identification: false,
        start_removed: false,
        sink: None,
    };
    let card = Arc::new(std::sync::Mutex::new(PlaceholderCard));
    let status = Arc::new(super::control::StatusCell::default());
    let mut session = Session::new(card, status, options);
    let thread = std::thread::Builder::new()
        .name("second-slot".into())
        .spawn(move || {
            if let Err(error) = run(listener, &config, &mut session, &commands, false) {
                tracing::warn!(%error, "the second slot stopped");
            }
        })
        .map_err(ServeError::Spawn)?;
    Ok(Placeholder { stop, thread })
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpStream;

    use super::super::session::tests::{options, read_frame, send, FixedCard, FIXED_ATR};
    use super::*;

    #[test]
    fn a_connection_presents_the_card_and_closing_it_removes_it() {
        let (server, listening) = spawn(
            FixedCard::default(),
            ListenConfig::new("127.0.0.1:0"),
            options(),
        )
        .unwrap();
        let mut reader = TcpStream::connect(listening.card).unwrap();
        send(&mut reader, &[0x04]);
        assert_eq!(read_frame(&mut reader), FIXED_ATR);
        send(&mut reader, &[0x01]);
        send(&mut reader, &[0x00, 0x20, 0x00, 0x80]);
        assert_eq!(read_frame(&mut reader), [0x20, 0x90, 0x00]);
        drop(reader);
        let status = server
            .handle()
            .wait_for(Duration::from_secs(5), |status| {
                !status.link_up && status.links == 1
            })
            .unwrap();
        assert!(!status.powered, "leaving the reader cuts the power");
        assert!(status.inserted, "the card waits for the next reader");

        // The phone's way: power on at connect, a field's commands, power off, then the next
        // field's commands on the same link without a power on.
        let mut phone = TcpStream::connect(listening.card).unwrap();
        send(&mut phone, &[0x01]);
        send(&mut phone, &[0x00, 0x20, 0x00, 0x80]);
        assert_eq!(read_frame(&mut phone), [0x20, 0x90, 0x00]);
        send(&mut phone, &[0x00]);
        send(&mut phone, &[0x00, 0xA4, 0x04, 0x0C]);
        assert_eq!(
            read_frame(&mut phone),
            [0xA4, 0x90, 0x00],
            "the next field powers the card"
        );
        drop(phone);
        server
            .handle()
            .wait_for(Duration::from_secs(5), |status| {
                !status.link_up && status.links == 2
            })
            .unwrap();
        let card = server.stop().unwrap();
        assert_eq!(card.verifies, 2, "one card value across connections");
    }

    #[test]
    fn a_removed_card_is_not_found_until_inserted_again() {
        let (server, listening) = spawn(
            FixedCard::default(),
            ListenConfig::new("127.0.0.1:0"),
            options(),
        )
        .unwrap();
        let mut reader = TcpStream::connect(listening.card).unwrap();
        send(&mut reader, &[0x04]);
        assert_eq!(read_frame(&mut reader), FIXED_ATR);
        server.handle().remove();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "removal closes the link");

        let mut again = TcpStream::connect(listening.card).unwrap();
        let mut rest = Vec::new();
        again.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing in the reader while removed");

        server.handle().insert();
        server
            .handle()
            .wait_for(Duration::from_secs(5), |status| status.inserted)
            .unwrap();
        let mut back = TcpStream::connect(listening.card).unwrap();
        send(&mut back, &[0x04]);
        assert_eq!(read_frame(&mut back), FIXED_ATR);
        server.stop().unwrap();
    }

    #[test]
    fn the_second_slot_holds_a_placeholder_on_the_next_port() {
        let (server, listening) = spawn(
            FixedCard::default(),
            ListenConfig::new("127.0.0.1:0"),
            options(),
        )
        .unwrap();
        let second = listening.second_slot.unwrap();
        assert_eq!(second.port(), listening.card.port() + 1);
        let mut vpcd = TcpStream::connect(second).unwrap();
        send(&mut vpcd, &[0x04]);
        assert_eq!(read_frame(&mut vpcd), PLACEHOLDER_ATR);
        send(&mut vpcd, &[0x01]);
        send(&mut vpcd, &[0x00, 0xA4, 0x04, 0x0C, 0x01, 0x01]);
        assert_eq!(read_frame(&mut vpcd), [0x6D, 0x00]);
        let card = server.stop().unwrap();
        assert_eq!(card.verifies, 0, "the placeholder never reaches the card");
    }

    #[test]
    fn the_placeholder_atr_checksum_holds() {
        let tck = PLACEHOLDER_ATR[1..PLACEHOLDER_ATR.len() - 1]
            .iter()
            .fold(0u8, |sum, byte| sum ^ byte);
        assert_eq!(Some(&tck), PLACEHOLDER_ATR.last());
    }

    #[test]
    fn every_reader_that_connects_is_told() {
        let peers = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&peers);
        let config = ListenConfig {
            on_peer: Some(Arc::new(move |peer| {
                seen.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(peer)
            })),
            ..ListenConfig::new("127.0.0.1:0")
        };
        let (server, listening) = spawn(FixedCard::default(), config, options()).unwrap();
        let mut reader = TcpStream::connect(listening.card).unwrap();
        let local = reader.local_addr().unwrap();
        send(&mut reader, &[0x04]);
        assert_eq!(read_frame(&mut reader), FIXED_ATR);
        server.stop().unwrap();
        assert_eq!(*peers.lock().unwrap(), vec![local]);
    }

    #[test]
    fn only_loopback_without_allow_remote() {
        let error = spawn(
            FixedCard::default(),
            ListenConfig::new("0.0.0.0:0"),
            options(),
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("--allow-remote"), "{error}");
        let config = ListenConfig {
            allow_remote: true,
            second_slot: false,
            ..ListenConfig::new("0.0.0.0:0")
        };
        let (server, listening) = spawn(FixedCard::default(), config, options()).unwrap();
        assert!(listening.card.ip().is_unspecified());
        assert_eq!(listening.second_slot, None);
        server.stop().unwrap();
    }
}

//! The card as a TCP client of vpcd (vpcd listens; a connection is an inserted card, closing
//! it is a removal). The reversed mode, where the card listens, is [`super::listen`]; both
//! share the frame loop here ([`serve_link`]).
//!
//! Latency: vpcd may write a frame's length and payload separately, and with delayed ACKs each
//! APDU would then cost ~44 ms. The card side therefore sets TCP_NODELAY, sends every frame in
//! one write, and re-arms TCP_QUICKACK before every read (Linux clears it again on its own).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::control::{self, Backoff, CardEvent, Command, Pending, RunningServer};
use super::session::Session;
use super::{EmulatedCard, ServeError, ServeOptions};
use crate::trace::Event;
use crate::transport::vpicc::{encode_frame, FrameDecoder, FrameError, Message};

/// vpcd's first slot ("Virtual PCD 00 00"); the second listens on 35964.
pub(crate) const DEFAULT_VPCD_ADDRESS: &str = "127.0.0.1:35963";

/// How often an idle link looks at its commands (insert, remove, shutdown).
pub(super) const COMMAND_POLL: Duration = Duration::from_millis(20);
/// A link that lived this long resets the reconnection backoff; shorter ones (a mute card that
/// vpcd keeps dropping, a vpcd slot taken by another card) keep backing off.
const STABLE_LINK: Duration = Duration::from_secs(2);
/// vpcd polls the ATR about every 400 ms; silence this long after connecting means it accepted
/// nothing (typically: another card already occupies this slot).
const SILENT_VPCD_HINT: Duration = Duration::from_secs(3);

/// How to present the card to vpcd (the harness connects to vpcd's TCP port).
#[derive(Debug, Clone)]
pub struct VpcdConfig {
    /// `HOST:PORT` of vpcd.
    pub(crate) address: String,
    /// Disable the TCP_QUICKACK re-arming (only to demonstrate the delayed-ACK trap in a
    /// benchmark).
    pub quickack: bool,
    pub(crate) first_retry: Duration,
    pub(crate) max_retry: Duration,
}

impl VpcdConfig {
    /// Connecting to vpcd at `address`, retrying while it is not up, with TCP_QUICKACK re-arming.
    pub fn new(address: impl Into<String>) -> VpcdConfig {
        VpcdConfig {
            address: address.into(),
            quickack: true,
            first_retry: Duration::from_millis(50),
            max_retry: Duration::from_secs(2),
        }
    }
}

impl Default for VpcdConfig {
    fn default() -> Self {
        VpcdConfig::new(DEFAULT_VPCD_ADDRESS)
    }
}

pub(super) fn spawn<C: EmulatedCard>(
    card: C,
    config: VpcdConfig,
    options: ServeOptions,
) -> Result<RunningServer<C>, ServeError> {
    let address = resolve(&config.address)?;
    super::start_server(
        card,
        options,
        "vpcd-card",
        move |session, commands, start_removed| {
            run(address, config, session, commands, start_removed)
        },
    )
}

/// The socket address `address` (`HOST:PORT`) names, or an error naming it.
pub(super) fn resolve(address: &str) -> Result<SocketAddr, ServeError> {
    let invalid = |message: String| ServeError::Address {
        address: address.to_string(),
        message,
    };
    address
        .to_socket_addrs()
        .map_err(|error| invalid(error.to_string()))?
        .next()
        .ok_or_else(|| invalid("resolves to no address".into()))
}

const SILENT_VPCD_HINT_TEXT: &str =
    "connected, but vpcd has not spoken: is another card already attached to this vpcd slot?";

/// Why one connection ended.
pub(super) enum LinkEnd {
    Removed,
    Shutdown,
    Lost(String),
}

fn run<C: EmulatedCard>(
    address: SocketAddr,
    config: VpcdConfig,
    mut session: Session<C>,
    commands: Receiver<Command>,
    start_removed: bool,
) -> Result<(), ServeError> {
    let mut inserted = !start_removed;
    let mut backoff = Backoff::new(config.first_retry, config.max_retry);
    let mut failures_reported = false;
    if inserted {
        session.status.update(|status| status.inserted = true);
        session.record(Event::Inserted);
    }
    loop {
        if !inserted {
            match control::wait(&commands, Duration::from_secs(3600)) {
                Pending::Shutdown => break,
                Pending::Event(CardEvent::Insert) => {
                    inserted = true;
                    backoff.reset();
                    session.status.update(|status| status.inserted = true);
                    session.record(Event::Inserted);
                }
                Pending::Event(CardEvent::Remove) | Pending::Nothing => {}
            }
            continue;
        }
        let end = match TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
            Ok(stream) => {
                if failures_reported {
                    tracing::warn!(%address, "reconnected to vpcd");
                    failures_reported = false;
                }
                let connected = Instant::now();
                let link = LinkSettings {
                    peer: address,
                    quickack: config.quickack,
                    silence_hint: SILENT_VPCD_HINT_TEXT,
                };
                let end = serve_link(stream, &link, &mut session, &commands);
                session.power_off();
                session.status.update(|status| status.link_up = false);
                if connected.elapsed() >= STABLE_LINK {
                    backoff.reset();
                }
                end
            }
            Err(error) => LinkEnd::Lost(format!("cannot connect to vpcd at {address}: {error}")),
        };
        match end {
            LinkEnd::Shutdown => break,
            LinkEnd::Removed => {
                inserted = false;
                session.record(Event::Removed);
            }
            LinkEnd::Lost(reason) => {
                if failures_reported {
                    tracing::debug!(%reason, "still retrying");
                } else {
                    tracing::warn!(%reason, "vpcd link down; retrying with backoff (is pcscd running with vsmartcard-vpcd?)");
                    failures_reported = true;
                }
                match control::wait(&commands, backoff.next_delay()) {
                    Pending::Shutdown => break,
                    Pending::Event(CardEvent::Remove) => {
                        inserted = false;
                        session.status.update(|status| status.inserted = false);
                        session.record(Event::Removed);
                    }
                    Pending::Event(CardEvent::Insert) | Pending::Nothing => {}
                }
            }
        }
    }
    session.finish().map_err(ServeError::from)
}

/// What one connection's frame loop needs to know about its link.
pub(super) struct LinkSettings {
    /// The other end (vpcd, or the reader that connected to a listening card).
    pub(super) peer: SocketAddr,
    /// Re-arm TCP_QUICKACK before every read (see the module comment).
    pub(super) quickack: bool,
    /// Logged once when the peer says nothing for a while after connecting.
    pub(super) silence_hint: &'static str,
}

/// Serves one connection until it ends: the link is up, frames are answered, the transcript
/// and the status follow; closing the socket at the end is how the peer learns of a removal.
pub(super) fn serve_link<C: EmulatedCard>(
    mut stream: TcpStream,
    link: &LinkSettings,
    session: &mut Session<C>,
    commands: &Receiver<Command>,
) -> LinkEnd {
    let address = link.peer;
    if let Err(error) = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(COMMAND_POLL)))
        .and_then(|()| stream.set_write_timeout(Some(COMMAND_POLL)))
    {
        return LinkEnd::Lost(format!("configuring the socket to {address}: {error}"));
    }
    tracing::info!(%address, "link up: card inserted");
    session.status.update(|status| {
        status.link_up = true;
        status.links += 1;
    });
    session.record(Event::LinkUp {
        peer: address.to_string(),
    });
    let end = exchange_frames(&mut stream, link, session, commands);
    let reason = match &end {
        LinkEnd::Removed => "card removed".to_string(),
        LinkEnd::Shutdown => "shutdown".to_string(),
        LinkEnd::Lost(reason) => reason.clone(),
    };
    session.record(Event::LinkDown { reason });
    if matches!(end, LinkEnd::Removed) {
        session.status.update(|status| status.inserted = false);
    }
    // Closing the connection is how vpcd learns of a removal.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    end
}

fn exchange_frames<C: EmulatedCard>(
    stream: &mut TcpStream,
    link: &LinkSettings,
    session: &mut Session<C>,
    commands: &Receiver<Command>,
) -> LinkEnd {
    let mut decoder = FrameDecoder::new();
    let mut buffer = vec![0u8; 8192];
    let connected = Instant::now();
    let mut heard_from_vpcd = false;
    let mut silence_reported = false;
    loop {
        match control::poll(commands) {
            Pending::Shutdown => return LinkEnd::Shutdown,
            Pending::Event(CardEvent::Remove) => return LinkEnd::Removed,
            Pending::Event(CardEvent::Insert) | Pending::Nothing => {}
        }
        if link.quickack {
            // Not sticky: the kernel falls back to delayed ACKs after a while, so re-arm it
            // before every read.
            if let Err(error) = SockRef::from(&*stream).set_quickack(true) {
                tracing::debug!(%error, "TCP_QUICKACK not available");
            }
        }
        let received = match stream.read(&mut buffer) {
            Ok(0) => return LinkEnd::Lost(format!("{} closed the connection", link.peer)),
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if !heard_from_vpcd && !silence_reported && connected.elapsed() > SILENT_VPCD_HINT {
                    tracing::warn!(peer = %link.peer, "{}", link.silence_hint);
                    silence_reported = true;
                }
                continue;
            }
            Err(error) => return LinkEnd::Lost(format!("reading from {}: {error}", link.peer)),
        };
        heard_from_vpcd = true;
        decoder.push(&buffer[..received]);
        while let Some(payload) = decoder.next_frame() {
            let reply = match Message::parse(&payload) {
                Ok(message) => session.answer(message, true),
                Err(FrameError::TooShortForCommand(_)) => {
                    Some(session.answer_too_short(&payload, true))
                }
                Err(error) => {
                    // A single byte that is no control code, or an empty frame: TCP cannot lose
                    // sync, and vpcd expects no answer to either, so log and go on.
                    tracing::warn!(%error, "ignoring a frame from vpcd");
                    session.record(Event::FramingError {
                        message: error.to_string(),
                        dropped_bytes: payload.len() + 2,
                    });
                    continue;
                }
            };
            let Some(reply) = reply else {
                continue;
            };
            let frame = match encode_frame(&reply) {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::error!(%error, "the card produced an answer too long for vpicc framing");
                    return LinkEnd::Lost(error.to_string());
                }
            };
            if let Some(end) = write_frame(stream, &frame, commands) {
                return end;
            }
        }
    }
}

/// Writes one frame, looking at the commands whenever the peer does not take the bytes: a vpcd
/// that stops reading must not keep the server from stopping or the card from being removed.
/// `Some` is how the link ends instead.
fn write_frame(
    stream: &mut TcpStream,
    frame: &[u8],
    commands: &Receiver<Command>,
) -> Option<LinkEnd> {
    let mut written = 0;
    while written < frame.len() {
        match stream.write(&frame[written..]) {
            Ok(0) => return Some(LinkEnd::Lost("vpcd closed the connection".into())),
            Ok(count) => written += count,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                match control::poll(commands) {
                    Pending::Shutdown => return Some(LinkEnd::Shutdown),
                    Pending::Event(CardEvent::Remove) => return Some(LinkEnd::Removed),
                    Pending::Event(CardEvent::Insert) | Pending::Nothing => {}
                }
            }
            Err(error) => return Some(LinkEnd::Lost(format!("writing to vpcd: {error}"))),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::super::session::tests::{options, read_frame, send, FixedCard, FIXED_ATR};
    use super::*;

    /// Plays vpcd's part over a real loopback socket.
    #[test]
    fn speaks_vpicc_to_a_listening_vpcd_and_reconnects_after_removal() {
        let vpcd = TcpListener::bind("127.0.0.1:0").unwrap();
        let config = VpcdConfig::new(vpcd.local_addr().unwrap().to_string());
        let server = spawn(FixedCard::default(), config, options()).unwrap();

        let (mut link, _) = vpcd.accept().unwrap();
        send(&mut link, &[0x04]);
        assert_eq!(read_frame(&mut link), FIXED_ATR);
        send(&mut link, &[0x01]);
        // Length and payload written separately, as vpcd does.
        link.write_all(&[0x00, 0x09]).unwrap();
        link.write_all(&[0x00, 0x20, 0x00, 0x80, 0x04, 1, 2, 3, 4])
            .unwrap();
        assert_eq!(read_frame(&mut link), [0x20, 0x90, 0x00]);

        server.handle().remove();
        let mut rest = Vec::new();
        link.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "the card closes the link on removal");
        assert!(!server.handle().status().inserted);

        server.handle().insert();
        let (mut link, _) = vpcd.accept().unwrap();
        send(&mut link, &[0x04]);
        assert_eq!(read_frame(&mut link), FIXED_ATR);
        send(&mut link, &[0x01]);
        send(&mut link, &[0x00, 0x20, 0x00, 0x80]);
        assert_eq!(read_frame(&mut link), [0x20, 0x90, 0x00]);
        let status = server
            .handle()
            .wait_for(Duration::from_secs(5), |status| status.commands == 2)
            .unwrap();
        assert_eq!(status.links, 2);

        let card = server.stop().unwrap();
        assert_eq!(
            card.verifies, 2,
            "the same card value served both insertions"
        );
    }

    /// pcscd waits for exactly one answer to every frame longer than one byte: a 2- or
    /// 3-byte command gets "wrong length", as a real card would answer it.
    #[test]
    fn a_frame_too_short_for_a_command_is_answered_wrong_length() {
        let vpcd = TcpListener::bind("127.0.0.1:0").unwrap();
        let config = VpcdConfig::new(vpcd.local_addr().unwrap().to_string());
        let server = spawn(FixedCard::default(), config, options()).unwrap();
        let (mut link, _) = vpcd.accept().unwrap();
        link.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send(&mut link, &[0x01]);
        send(&mut link, &[0x00, 0xA4, 0x04]);
        assert_eq!(read_frame(&mut link), [0x67, 0x00]);
        send(&mut link, &[0x00, 0xA4]);
        assert_eq!(read_frame(&mut link), [0x67, 0x00]);
        // Still in step: the next command gets its own answer.
        send(&mut link, &[0x00, 0x20, 0x00, 0x80]);
        assert_eq!(read_frame(&mut link), [0x20, 0x90, 0x00]);
        let card = server.stop().unwrap();
        assert_eq!(card.verifies, 1, "the short frames never reached the card");
    }

    /// A vpcd that sends but never reads fills the socket buffers until the card cannot write
    /// its answer; stopping must still take effect at once.
    #[test]
    fn stops_promptly_while_vpcd_does_not_read() {
        let vpcd = TcpListener::bind("127.0.0.1:0").unwrap();
        let config = VpcdConfig::new(vpcd.local_addr().unwrap().to_string());
        let server = spawn(FixedCard::default(), config, options()).unwrap();
        let (mut link, _) = vpcd.accept().unwrap();
        link.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let get_atr = encode_frame(&[0x04]).unwrap().repeat(4096);
        // The card is stuck in a write once our writes block and stay blocked after it had
        // time to drain them (its answers, twice our bytes, fill both buffers first).
        loop {
            while link.write_all(&get_atr).is_ok() {}
            std::thread::sleep(Duration::from_millis(500));
            if link.write(&get_atr).is_err() {
                break;
            }
        }
        let (stopped, outcome) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = stopped.send(server.stop().map(|_| ()));
        });
        let outcome = outcome.recv_timeout(Duration::from_secs(1));
        assert!(
            matches!(outcome, Ok(Ok(()))),
            "the server did not stop within 1 s while vpcd did not read: {outcome:?}"
        );
    }

    #[test]
    fn reconnects_when_vpcd_drops_the_link() {
        let vpcd = TcpListener::bind("127.0.0.1:0").unwrap();
        let config = VpcdConfig::new(vpcd.local_addr().unwrap().to_string());
        let server = spawn(FixedCard::default(), config, options()).unwrap();
        let (link, _) = vpcd.accept().unwrap();
        drop(link);
        let (mut link, _) = vpcd.accept().unwrap();
        send(&mut link, &[0x04]);
        assert_eq!(read_frame(&mut link), FIXED_ATR);
        assert!(server
            .handle()
            .wait_for(Duration::from_secs(5), |status| status.links == 2)
            .is_ok());
        server.stop().unwrap();
    }

    #[test]
    fn a_bad_address_is_reported_at_start() {
        let error = spawn(
            FixedCard::default(),
            VpcdConfig::new("no-port-here"),
            options(),
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("no-port-here"), "{error}");
    }
}

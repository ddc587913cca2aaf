//! `--reader vpcd`: the scenario's card served to vpcd and driven through the real pcscd, like
//! any PC/SC client would drive it. Removal and insertion go through the server's handle and
//! are awaited until pcscd itself reports them, so a step after `remove` really sees no card.
//!
//! `--reader listen` ([`ListenSlot`]): the card waits for pcscd's vpcd to connect out to it.
//! Debian's vpcd connects once, when pcscd starts, and makes pcscd abort when that link ever
//! closes; so one listening server serves the whole run, and each scenario's card takes the
//! previous one's place on the same link (unpowered, as the previous scenario's client left
//! it), without a removal pcscd would have to see.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::schema::ReaderEvent;
use super::slot::{Applied, OpenError, ReaderSlot, RealReaderSettings, SlotCapabilities};
use crate::card::{Card, PinCounters};
use crate::transport::pcsc::{list_readers, PcscTransport};
use crate::transport::serve::{
    spawn_listen, spawn_vpcd, ListenConfig, RunningServer, ServeError, ServeHandle, ServeOptions,
    VpcdConfig,
};
use crate::transport::{Transport, TransportError};

/// How long pcscd may take to notice a card arriving or leaving (it polls about every 400 ms).
const SLOT_CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a listening card waits for pcscd's vpcd to connect (the user starts pcscd after
/// the run has started listening).
const LISTEN_LINK_TIMEOUT: Duration = Duration::from_secs(60);

/// One scenario's card behind vpcd, and the PC/SC client driving it.
pub(crate) struct ServedSlot {
    handle: ServeHandle<Card>,
    server: Option<RunningServer<Card>>,
    transport: PcscTransport,
    reader: String,
}

impl ServedSlot {
    /// Serves `card` and connects a PC/SC client to it once pcscd lists it.
    pub(crate) fn open(card: Card, settings: &RealReaderSettings) -> Result<ServedSlot, OpenError> {
        let reader = settings.vpcd_reader.clone();
        // The previous scenario's card may still be listed until pcscd's next presence poll.
        wait_for_slot(&reader, false)?;
        let options = ServeOptions {
            // The runner checks behaviour; simulated card time belongs to the virtual reader.
            apply_latency: false,
            ..ServeOptions::standard()
        };
        let server = spawn_vpcd(card, VpcdConfig::new(&settings.vpcd_address), options)?;
        if server
            .handle()
            .wait_for(SLOT_CHANGE_TIMEOUT, |status| status.link_up)
            .is_err()
        {
            let _ = server.stop();
            return Err(OpenError::NotReady(format!(
                "vpcd does not accept the card at {} (is pcscd running with the vsmartcard-vpcd driver?)",
                settings.vpcd_address
            )));
        }
        if let Err(error) = wait_for_slot(&reader, true) {
            let _ = server.stop();
            return Err(error);
        }
        let transport = match PcscTransport::open(Some(&reader), settings.policy) {
            Ok(transport) => transport,
            Err(error) => {
                let _ = server.stop();
                return Err(error.into());
            }
        };
        Ok(ServedSlot {
            handle: server.handle().clone(),
            server: Some(server),
            transport,
            reader,
        })
    }

    pub(crate) fn pin_counters(&self) -> PinCounters {
        self.with_card(Card::pin_counters)
    }

    pub(crate) fn with_card<R>(&self, inspect: impl FnOnce(&Card) -> R) -> R {
        self.handle.with_card(|card| inspect(card))
    }

    /// Takes the card out of vpcd's slot and waits until pcscd reports the slot empty.
    pub(crate) fn remove(&mut self) -> Result<(), TransportError> {
        self.handle.remove();
        wait_for_slot(&self.reader, false).map_err(not_ready)
    }

    /// Puts the card back, waits until pcscd lists it, and connects again (returns the ATR).
    pub(crate) fn insert(&mut self) -> Result<Vec<u8>, TransportError> {
        self.handle.insert();
        wait_for_slot(&self.reader, true).map_err(not_ready)?;
        let _ = self.transport.disconnect();
        self.transport.connect()
    }
}

impl ReaderSlot for ServedSlot {
    fn transport(&mut self) -> &mut dyn Transport {
        &mut self.transport
    }

    fn apply(&mut self, event: ReaderEvent) -> Result<Applied, TransportError> {
        let power = match event {
            ReaderEvent::Remove => {
                self.remove()?;
                None
            }
            ReaderEvent::Insert => Some(Ok(self.insert()?)),
            ReaderEvent::PowerCycle => {
                let _ = self.transport.disconnect();
                Some(Ok(self.transport.connect()?))
            }
            other => {
                return Err(TransportError::Refused(format!(
                    "event: {other} needs the virtual reader"
                )))
            }
        };
        Ok(Applied::Done { power })
    }

    fn swap_card(&mut self, card: Card) -> Result<Option<Card>, TransportError> {
        let _ = self.transport.disconnect();
        self.remove()?;
        let previous = self
            .handle
            .with_card(|current| std::mem::replace(current, card));
        self.handle.insert();
        wait_for_slot(&self.reader, true).map_err(not_ready)?;
        Ok(Some(previous))
    }

    fn pin_counters(&self) -> Option<PinCounters> {
        Some(ServedSlot::pin_counters(self))
    }

    fn elapsed(&self) -> Option<Duration> {
        None
    }

    fn inspect_card(&mut self, inspect: &mut dyn FnMut(&Card)) -> bool {
        self.with_card(|card| inspect(card));
        true
    }

    fn change_card(&mut self, change: &mut dyn FnMut(&mut Card)) -> bool {
        self.handle.with_card(|card| change(card));
        true
    }

    fn capabilities(&self) -> SlotCapabilities {
        SlotCapabilities {
            slot_events: true,
            injected_faults: false,
            card_state: true,
            simulated_time: false,
        }
    }
}

fn not_ready(error: OpenError) -> TransportError {
    TransportError::Transmission(error.to_string())
}

impl Drop for ServedSlot {
    fn drop(&mut self) {
        let _ = self.transport.disconnect();
        if let Some(server) = self.server.take() {
            match server.stop() {
                // Our handle clone still holds the card; the server itself has stopped.
                Ok(_) | Err(ServeError::CardStillShared) => {}
                Err(error) => tracing::warn!(%error, "stopping the vpcd server"),
            }
        }
    }
}

/// Waits until pcscd reports `reader` with (or without) a card.
fn wait_for_slot(reader: &str, with_card: bool) -> Result<(), OpenError> {
    let deadline = Instant::now() + SLOT_CHANGE_TIMEOUT;
    loop {
        let readers = list_readers()?;
        let listed = readers.iter().find(|info| info.name == reader);
        match listed {
            Some(info) if info.state.has_card() == with_card => return Ok(()),
            None if !with_card => return Ok(()),
            _ => {}
        }
        if Instant::now() >= deadline {
            let names: Vec<&str> = readers.iter().map(|info| info.name.as_str()).collect();
            return Err(OpenError::NotReady(format!(
                "pcscd did not report reader `{reader}` {} within {SLOT_CHANGE_TIMEOUT:?} (readers: {names:?}); \
                 is pcscd running with the vsmartcard-vpcd driver, and is `--vpcd-reader` right?",
                if with_card { "with the card" } else { "empty" }
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The run's listening card server: started by the first scenario, kept until the process ends
/// (closing its link would make Debian's pcscd abort).
struct Listener {
    address: String,
    handle: ServeHandle<Card>,
    _server: RunningServer<Card>,
}

static LISTENER: Mutex<Option<Listener>> = Mutex::new(None);

/// One scenario's card on the listening server, and the PC/SC client driving it.
pub(crate) struct ListenSlot {
    handle: ServeHandle<Card>,
    transport: PcscTransport,
}

impl ListenSlot {
    /// Puts `card` on the run's listening server (starting it for the first scenario), waits
    /// for pcscd's vpcd to be connected and to list the card, and connects a PC/SC client.
    pub(crate) fn open(card: Card, settings: &RealReaderSettings) -> Result<ListenSlot, OpenError> {
        let address = settings.listen_address.clone();
        let handle = {
            let mut listener = LISTENER.lock().unwrap_or_else(PoisonError::into_inner);
            match listener.as_ref() {
                Some(running) if running.address == address => {
                    running
                        .handle
                        .with_card(|current| take_place(current, card));
                    running.handle.clone()
                }
                Some(running) => {
                    return Err(OpenError::NotReady(format!(
                        "this run already listens at {}, not {address}",
                        running.address
                    )))
                }
                None => {
                    let options = ServeOptions {
                        apply_latency: false,
                        ..ServeOptions::standard()
                    };
                    let (server, listening) =
                        spawn_listen(card, ListenConfig::new(&address), options)?;
                    tracing::info!(card = %listening.card, "listening for pcscd's vpcd");
                    let handle = server.handle().clone();
                    *listener = Some(Listener {
                        address: address.clone(),
                        handle: handle.clone(),
                        _server: server,
                    });
                    handle
                }
            }
        };
        if handle
            .wait_for(LISTEN_LINK_TIMEOUT, |status| status.link_up)
            .is_err()
        {
            return Err(OpenError::NotReady(format!(
                "no vpcd connected to the card at {address} within {LISTEN_LINK_TIMEOUT:?}: start \
                 pcscd with a reader.conf whose vpcd DEVICENAME is {address} (see docs/field.md)"
            )));
        }
        // vpcd connects while pcscd starts, before pcscd answers its clients.
        let deadline = Instant::now() + SLOT_CHANGE_TIMEOUT;
        loop {
            match wait_for_slot(&settings.vpcd_reader, true) {
                Ok(()) => break,
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let transport = PcscTransport::open(Some(&settings.vpcd_reader), settings.policy)?;
        Ok(ListenSlot { handle, transport })
    }
}

/// The next card takes the place of the one on the link, in the same power state: pcscd
/// cannot be told of a swap, so a card it believes powered must be powered.
fn take_place(current: &mut Card, next: Card) -> Card {
    let powered = current.is_powered();
    let previous = std::mem::replace(current, next);
    if powered {
        let _ = current.power_on();
    }
    previous
}

impl ReaderSlot for ListenSlot {
    fn transport(&mut self) -> &mut dyn Transport {
        &mut self.transport
    }

    fn apply(&mut self, event: ReaderEvent) -> Result<Applied, TransportError> {
        match event {
            ReaderEvent::PowerCycle => {
                let _ = self.transport.disconnect();
                Ok(Applied::Done {
                    power: Some(Ok(self.transport.connect()?)),
                })
            }
            other => Err(TransportError::Refused(format!(
                "event: {other} cannot happen to a card waiting for vpcd (--reader listen)"
            ))),
        }
    }

    fn swap_card(&mut self, card: Card) -> Result<Option<Card>, TransportError> {
        // Released powered off first, so the next card starts cold at the next connect.
        let _ = self.transport.disconnect();
        let previous = self.handle.with_card(|current| take_place(current, card));
        Ok(Some(previous))
    }

    fn pin_counters(&self) -> Option<PinCounters> {
        Some(self.handle.with_card(|card| card.pin_counters()))
    }

    fn elapsed(&self) -> Option<Duration> {
        None
    }

    fn inspect_card(&mut self, inspect: &mut dyn FnMut(&Card)) -> bool {
        self.handle.with_card(|card| inspect(card));
        true
    }

    fn capabilities(&self) -> SlotCapabilities {
        SlotCapabilities {
            slot_events: true,
            injected_faults: false,
            card_state: true,
            simulated_time: false,
        }
    }
}

impl Drop for ListenSlot {
    fn drop(&mut self) {
        // The server stays for the next scenario; only this scenario's client goes.
        let _ = self.transport.disconnect();
    }
}

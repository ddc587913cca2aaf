//! The in-process virtual reader: one slot holding an emulated [`Card`], with fault injection.
//!
//! Faults are the ones a field reader meets: the card pulled out between or during commands,
//! a reader power cycle, lost transmissions, slow answers and a reader timeout. Time is
//! *simulated*: the card's own processing time plus injected latency advance a clock that the
//! transcript reads, and nothing ever sleeps — so a scenario with a 900 ms signature still runs
//! in microseconds, and a timeout is decided by arithmetic, not by a race.

use std::time::Duration;

use crate::card::Card;
use crate::transport::{Transport, TransportError};

/// How long the reader waits for an ATR before it calls the card mute.
pub(crate) const ATR_TIMEOUT: Duration = Duration::from_millis(1000);

/// The in-process reader.
pub struct VirtualReader {
    /// The card in the slot.
    slot: Option<Card>,
    /// A removed card, kept so that `insert` puts the same card (same retry counters) back.
    pocket: Option<Card>,
    powered: bool,
    clock: Duration,
    extra_latency: Duration,
    timeout: Option<Duration>,
    transmission_errors_pending: u32,
    remove_during_next_command: bool,
    /// The card's own processing time for the last command it answered.
    last_card_time: Option<Duration>,
}

impl VirtualReader {
    /// A reader with `card` in its slot, not yet powered.
    pub fn with_card(card: Card) -> VirtualReader {
        VirtualReader {
            slot: Some(card),
            pocket: None,
            powered: false,
            clock: Duration::ZERO,
            extra_latency: Duration::ZERO,
            timeout: None,
            transmission_errors_pending: 0,
            remove_during_next_command: false,
            last_card_time: None,
        }
    }

    /// The card, whether it is in the slot or was removed (its state outlives a removal).
    pub fn card(&self) -> Option<&Card> {
        self.slot.as_ref().or(self.pocket.as_ref())
    }

    /// The card, to change its state from outside the wire (a phone's on-device approval).
    pub(crate) fn card_mut(&mut self) -> Option<&mut Card> {
        self.slot.as_mut().or(self.pocket.as_mut())
    }

    /// Whether a card is in the virtual slot.
    pub fn has_card(&self) -> bool {
        self.slot.is_some()
    }

    /// Whether the card in the slot is powered.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Simulated time since the reader was created: the sum of every answer's processing
    /// time and injected latency.
    pub(crate) fn elapsed(&self) -> Duration {
        self.clock
    }

    /// Advances the simulated clock (a pause between reader actions).
    pub(crate) fn wait(&mut self, duration: Duration) {
        self.clock += duration;
    }

    /// Pulls the card out. False when the slot was already empty.
    pub fn remove(&mut self) -> bool {
        match self.slot.take() {
            Some(mut card) => {
                card.power_off();
                self.powered = false;
                self.pocket = Some(card);
                true
            }
            None => false,
        }
    }

    /// Puts the removed card back. False when there is no card to insert (already in the slot).
    pub fn insert(&mut self) -> bool {
        match self.pocket.take() {
            Some(card) => {
                self.slot = Some(card);
                self.powered = false;
                true
            }
            None => false,
        }
    }

    /// Puts a different card into the slot (the previous one, if any, is taken out and kept
    /// in the pocket for a later `insert`). Used when one reception sees several cards.
    pub(crate) fn swap_card(&mut self, card: Card) -> Option<Card> {
        self.remove();
        let previous = self.pocket.take();
        self.slot = Some(card);
        previous
    }

    /// Cold power cycle of the reader: the card loses power and comes back, returning its ATR.
    pub fn power_cycle(&mut self) -> Result<Vec<u8>, TransportError> {
        self.disconnect()?;
        self.connect()
    }

    /// Warm reset of the card (`RST`): selection and verified state go, counters stay.
    pub fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        let card = self.slot.as_mut().ok_or(TransportError::NoCard)?;
        match card.reset() {
            Some(atr) => {
                self.powered = true;
                Ok(atr)
            }
            None => self.mute(),
        }
    }

    /// Every later command takes this much longer (on top of the card's own processing time).
    pub(crate) fn set_extra_latency(&mut self, latency: Duration) {
        self.extra_latency = latency;
    }

    /// The reader gives up on a command that takes longer than this (`None`: waits forever).
    /// The card has still processed the command: this is how an NFC "tag was lost" looks.
    pub(crate) fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The next `count` commands are lost on the way to the card and fail with a transmission
    /// error; the card never sees them.
    pub fn fail_next_transmissions(&mut self, count: u32) {
        self.transmission_errors_pending = count;
    }

    /// The card is pulled out while it processes the next command: the card executes it (a
    /// VERIFY counts), the answer is lost, and the slot is empty afterwards.
    pub fn remove_during_next_command(&mut self) {
        self.remove_during_next_command = true;
    }

    fn mute(&mut self) -> Result<Vec<u8>, TransportError> {
        self.powered = false;
        self.clock += ATR_TIMEOUT;
        Err(TransportError::Timeout(ATR_TIMEOUT))
    }
}

impl Transport for VirtualReader {
    fn describe(&self) -> String {
        "virtual".to_owned()
    }

    fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
        let card = self.slot.as_mut().ok_or(TransportError::NoCard)?;
        match card.power_on() {
            Some(atr) => {
                self.powered = true;
                Ok(atr)
            }
            None => self.mute(),
        }
    }

    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.slot.is_none() {
            return Err(TransportError::NoCard);
        }
        if !self.powered {
            return Err(TransportError::Refused(
                "the card is not powered (connect first)".into(),
            ));
        }
        if self.transmission_errors_pending > 0 {
            self.transmission_errors_pending -= 1;
            return Err(TransportError::Transmission(
                "injected transmission error".into(),
            ));
        }
        let card = self.slot.as_mut().ok_or(TransportError::NoCard)?;
        let reply = card.process(capdu);
        self.last_card_time = Some(reply.latency);
        let took = reply.latency + self.extra_latency;
        if self.remove_during_next_command {
            self.remove_during_next_command = false;
            // Half-way through the command is when the contacts break.
            self.clock += took / 2;
            self.remove();
            return Err(TransportError::CardRemoved);
        }
        if let Some(timeout) = self.timeout {
            if took > timeout {
                self.clock += timeout;
                return Err(TransportError::Timeout(timeout));
            }
        }
        self.clock += took;
        Ok(reply.rapdu)
    }

    fn disconnect(&mut self) -> Result<(), TransportError> {
        if let Some(card) = self.slot.as_mut() {
            card.power_off();
        }
        self.powered = false;
        Ok(())
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        VirtualReader::reset(self)
    }

    fn is_emulated_card(&self) -> bool {
        true
    }

    fn last_card_time(&self) -> Option<Duration> {
        self.last_card_time
    }
}

//! What the card answers to each vpicc message, whatever carries the frames.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::control::StatusCell;
use super::{lock_card, EmulatedCard, ServeOptions, SharedCard};
use crate::apdu::StatusWord;
use crate::trace::{ApduExchange, Event, ExchangeAnswer, TraceError, TraceSink};
use crate::transport::identify;
use crate::transport::vpicc::{Control, Message};

const IDENTIFICATION_NOTE: &str = "identification probe, answered by myna-hil";
const TOO_SHORT_NOTE: &str = "too short for a command: answered 67 00 without reaching the card";

/// What a card answers to a command shorter than CLA INS P1 P2: wrong length.
pub(crate) const WRONG_LENGTH: [u8; 2] = StatusWord::WRONG_LENGTH.to_bytes();

/// The card side of one served slot: answers messages, keeps the status and the transcript.
pub(crate) struct Session<C> {
    pub(crate) card: SharedCard<C>,
    pub(crate) status: Arc<StatusCell>,
    apply_latency: bool,
    answer_identification: bool,
    sink: Option<TraceSink>,
    /// A command reaching the card unpowered powers it first (see [`Session::power_on_demand`]).
    power_on_demand: bool,
    /// The first transcript error; serving goes on (a vendor's session must not die because the
    /// disk filled up) but the run reports it at the end.
    trace_error: Option<TraceError>,
}

impl<C: EmulatedCard> Session<C> {
    pub(super) fn new(
        card: SharedCard<C>,
        status: Arc<StatusCell>,
        options: ServeOptions,
    ) -> Session<C> {
        Session {
            card,
            status,
            apply_latency: options.apply_latency,
            answer_identification: options.answer_identification,
            sink: options.sink,
            power_on_demand: false,
            trace_error: None,
        }
    }

    /// A contactless field powers the card by itself: vsmartcard's Android emulator sends power
    /// on only when it connects and power off when the field goes, then relays the next
    /// field's commands on the same link without another power on. With this set, a command
    /// that finds the card unpowered is a new field: the card powers up and answers it.
    pub(crate) fn power_on_demand(&mut self) {
        self.power_on_demand = true;
    }

    /// The answer payload for `message`, or `None` for messages that get no answer.
    /// `inserted` = false answers as an empty slot: empty ATR, empty R-APDU.
    pub(crate) fn answer(&mut self, message: Message, inserted: bool) -> Option<Vec<u8>> {
        match (message, inserted) {
            (Message::Control(Control::GetAtr), true) => {
                Some(lock_card(&self.card).atr().unwrap_or_default())
            }
            (Message::Control(Control::GetAtr), false) => Some(Vec::new()),
            (Message::Control(_), false) => None,
            (Message::Control(Control::PowerOn), true) => {
                let atr = lock_card(&self.card).power_on();
                self.status.update(|status| status.powered = atr.is_some());
                self.record(Event::PowerOn { atr });
                None
            }
            (Message::Control(Control::Reset), true) => {
                let atr = lock_card(&self.card).reset();
                self.status.update(|status| status.powered = atr.is_some());
                self.record(Event::Reset { atr });
                None
            }
            (Message::Control(Control::PowerOff), true) => {
                self.power_off();
                None
            }
            (Message::Command(_), false) => Some(Vec::new()),
            (Message::Command(command), true) => {
                if self.power_on_demand && !self.status.get().powered {
                    let atr = lock_card(&self.card).power_on();
                    self.status.update(|status| status.powered = atr.is_some());
                    self.record(Event::PowerOn { atr });
                }
                Some(self.exchange(&command))
            }
        }
    }

    /// Answers a 2- or 3-byte frame, which vpcd forwards when a client transmits so short a
    /// command. A real card answers every command it is sent, if only with "wrong length";
    /// answering nothing would leave pcscd (and its client) waiting forever.
    pub(crate) fn answer_too_short(&mut self, frame: &[u8], inserted: bool) -> Vec<u8> {
        if !inserted {
            return Vec::new();
        }
        self.status.update(|status| status.commands += 1);
        if self.sink.is_some() {
            self.record(Event::Apdu(ApduExchange {
                card_time: Some(Duration::ZERO),
                note: Some(TOO_SHORT_NOTE.to_owned()),
                ..ApduExchange::new(frame, ExchangeAnswer::Response(WRONG_LENGTH.to_vec()))
            }));
        }
        WRONG_LENGTH.to_vec()
    }

    fn exchange(&mut self, command: &[u8]) -> Vec<u8> {
        let identification = self
            .answer_identification
            .then(|| identify::parse_challenge(command))
            .flatten();
        let (rapdu, latency, note) = match identification {
            Some(nonce) => (
                identify::challenge_response(&nonce),
                Duration::ZERO,
                Some(IDENTIFICATION_NOTE),
            ),
            None => {
                let started = Instant::now();
                let reply = lock_card(&self.card).process(command);
                let spent = started.elapsed();
                if self.apply_latency {
                    // The model's time is what a real card would take; our own compute time
                    // already counts towards it.
                    std::thread::sleep(reply.latency.saturating_sub(spent));
                }
                (reply.rapdu, reply.latency, None)
            }
        };
        self.status.update(|status| status.commands += 1);
        if self.sink.is_some() {
            self.record(Event::Apdu(ApduExchange {
                card_time: Some(latency),
                note: note.map(str::to_owned),
                ..ApduExchange::new(command, ExchangeAnswer::Response(rapdu.clone()))
            }));
        }
        rapdu
    }

    /// The card lost power: the reader cut it, the card was removed, or the link dropped.
    pub(super) fn power_off(&mut self) {
        lock_card(&self.card).power_off();
        if self.status.get().powered {
            self.status.update(|status| status.powered = false);
            self.record(Event::PowerOff);
        }
    }

    pub(super) fn record(&mut self, event: Event) {
        if let Some(sink) = self.sink.as_mut() {
            if let Err(error) = sink.push(event) {
                self.note_trace_error(error);
            }
        }
    }

    fn note_trace_error(&mut self, error: TraceError) {
        tracing::error!(%error, "transcript recording failed; serving continues without it");
        self.sink = None;
        self.trace_error.get_or_insert(error);
    }

    /// Ends the session: records the stop, flushes, marks the status, reports a transcript
    /// failure if there was one.
    pub(crate) fn finish(mut self) -> Result<(), TraceError> {
        if let Some(mut sink) = self.sink.take() {
            if let Err(error) = sink.finish() {
                self.trace_error.get_or_insert(error);
            }
        }
        self.status.update(|status| {
            status.stopped = true;
            status.link_up = false;
        });
        self.trace_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Mutex;

    use super::*;
    use crate::card::CardReply;
    use crate::transport::vpicc::encode_frame;

    /// One vpicc frame read from `stream` (vpcd's side of the link).
    pub(crate) fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).unwrap();
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(header))];
        stream.read_exact(&mut payload).unwrap();
        payload
    }

    /// `payload` sent to `stream` as one vpicc frame.
    pub(crate) fn send(stream: &mut TcpStream, payload: &[u8]) {
        stream.write_all(&encode_frame(payload).unwrap()).unwrap();
    }

    /// Serving options of the server tests: no latency, identification answered.
    pub(crate) fn options() -> ServeOptions {
        ServeOptions {
            apply_latency: false,
            answer_identification: true,
            ..ServeOptions::default()
        }
    }

    /// A tiny card for framing and server tests: fixed ATR, echoes the INS, counts VERIFYs.
    #[derive(Debug, Default)]
    pub(crate) struct FixedCard {
        pub(crate) powered: bool,
        pub(crate) verifies: u32,
    }

    pub(crate) const FIXED_ATR: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];

    impl EmulatedCard for FixedCard {
        fn atr(&self) -> Option<Vec<u8>> {
            Some(FIXED_ATR.to_vec())
        }
        fn power_on(&mut self) -> Option<Vec<u8>> {
            self.powered = true;
            Some(FIXED_ATR.to_vec())
        }
        fn power_off(&mut self) {
            self.powered = false;
        }
        fn reset(&mut self) -> Option<Vec<u8>> {
            self.power_on()
        }
        fn process(&mut self, capdu: &[u8]) -> CardReply {
            if capdu.get(1) == Some(&0x20) {
                self.verifies += 1;
            }
            let rapdu = if self.powered {
                vec![capdu[1], 0x90, 0x00]
            } else {
                vec![0x6F, 0x00]
            };
            CardReply {
                rapdu,
                latency: Duration::from_micros(5),
            }
        }
    }

    fn session() -> Session<FixedCard> {
        let options = ServeOptions {
            apply_latency: false,
            answer_identification: true,
            ..ServeOptions::default()
        };
        Session::new(
            Arc::new(Mutex::new(FixedCard::default())),
            Arc::new(StatusCell::default()),
            options,
        )
    }

    #[test]
    fn control_messages_follow_vpcd() {
        let mut session = session();
        assert_eq!(
            session.answer(Message::Control(Control::GetAtr), true),
            Some(FIXED_ATR.to_vec())
        );
        assert_eq!(
            session.answer(Message::Control(Control::PowerOn), true),
            None
        );
        assert!(session.status.get().powered);
        assert_eq!(
            session.answer(Message::Command(vec![0x00, 0xA4, 0x04, 0x0C]), true),
            Some(vec![0xA4, 0x90, 0x00])
        );
        assert_eq!(
            session.answer(Message::Control(Control::PowerOff), true),
            None
        );
        assert!(!session.status.get().powered);
        // Still answers GET ATR while powered off: pcscd polls it.
        assert_eq!(
            session.answer(Message::Control(Control::GetAtr), true),
            Some(FIXED_ATR.to_vec())
        );
        assert_eq!(session.status.get().commands, 1);
    }

    #[test]
    fn an_empty_slot_answers_empty() {
        let mut session = session();
        assert_eq!(
            session.answer(Message::Control(Control::GetAtr), false),
            Some(vec![])
        );
        assert_eq!(
            session.answer(Message::Control(Control::PowerOn), false),
            None
        );
        assert_eq!(
            session.answer(Message::Command(vec![0x00, 0xA4, 0x04, 0x0C]), false),
            Some(vec![])
        );
        assert!(!lock_card(&session.card).powered);
    }

    #[test]
    fn identification_probe_is_answered_without_reaching_the_card() {
        let mut session = session();
        let nonce = [9u8; identify::NONCE_LEN];
        let answer = session
            .answer(Message::Command(identify::challenge_command(&nonce)), true)
            .unwrap();
        assert_eq!(
            identify::judge_response(&nonce, &answer),
            identify::CardIdentity::Emulated
        );

        let options = ServeOptions {
            apply_latency: false,
            answer_identification: false,
            ..ServeOptions::default()
        };
        let mut strict = Session::new(
            Arc::new(Mutex::new(FixedCard::default())),
            Arc::new(StatusCell::default()),
            options,
        );
        let answer = strict
            .answer(Message::Command(identify::challenge_command(&nonce)), true)
            .unwrap();
        assert_eq!(
            identify::judge_response(&nonce, &answer),
            identify::CardIdentity::NotEmulated
        );
    }
}

//! The exchange log: what passed between a client and a card — commands, answers, status
//! words, timing, power and reader events — kept in memory with its secrets. One type for
//! every consumer: the scenario runner's report, the reader's outcome, `card serve --record`
//! (written as [`super::record`] JSON lines), replay, and the certification judge.
//!
//! Secrets are hidden only when an exchange is rendered or written ([`super::redact`]); an
//! exchange read back from a redacted transcript knows which bytes it never had
//! ([`ApduExchange::withheld`]).

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use serde::Serialize;

use super::redact;
use super::redact::PinRecording;
use crate::apdu::StatusWord;

/// What kind of reader failure an exchange or power change met (the transport layer's errors,
/// named so that the log does not depend on that layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// No reader to send to.
    NoReader,
    /// The reader had no card.
    NoCard,
    /// The card was removed during the exchange.
    Removed,
    /// The card did not answer in time.
    Timeout,
    /// The link to the card failed (framing, I/O).
    Transmission,
    /// The transport refused the command (a real card protected from changes).
    Refused,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureKind::NoReader => "no_reader",
            FailureKind::NoCard => "no_card",
            FailureKind::Removed => "removed",
            FailureKind::Timeout => "timeout",
            FailureKind::Transmission => "transmission",
            FailureKind::Refused => "refused",
        })
    }
}

impl FailureKind {
    /// The kind a transcript names (its `Display` form).
    pub(crate) fn from_name(name: &str) -> Option<FailureKind> {
        [
            FailureKind::NoReader,
            FailureKind::NoCard,
            FailureKind::Removed,
            FailureKind::Timeout,
            FailureKind::Transmission,
            FailureKind::Refused,
        ]
        .into_iter()
        .find(|kind| kind.to_string() == name)
    }

    /// Whether the card got the command although no answer came back (taken away while
    /// working, or too slow for the reader): a replay sends it, since the card did the work.
    pub(crate) fn card_got_the_command(self) -> bool {
        matches!(self, FailureKind::Removed | FailureKind::Timeout)
    }
}

/// A reader failure: its kind and the reader's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderFailure {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
}

impl std::fmt::Display for ReaderFailure {
    /// "reader error `timeout`: the card did not answer …".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reader error `{}`: {}", self.kind, self.message)
    }
}

/// What the card (or the reader, for it) gave back to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeAnswer {
    /// The R-APDU: data followed by SW1 SW2.
    Response(Vec<u8>),
    /// The reader or link failed.
    Failed(ReaderFailure),
}

/// One command and its answer. `Debug` hides the secret too, so a logged outcome leaks
/// nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct ApduExchange {
    /// The C-APDU as sent, secrets included (unless [`Self::withheld`]).
    pub command: Vec<u8>,
    /// Bytes of `command` that were never known (read back from a redacted transcript); they
    /// are `00` in `command`.
    pub(crate) withheld: Option<Range<usize>>,
    /// The card's answer, or how the reader failed instead.
    pub answer: ExchangeAnswer,
    /// The processing time the card model claimed, when a card model answered.
    pub(crate) card_time: Option<Duration>,
    /// Set when the answer did not come from the card model (the identification probe).
    pub(crate) note: Option<String>,
}

impl ApduExchange {
    /// A command and the answer a client got.
    pub fn new(command: &[u8], answer: ExchangeAnswer) -> ApduExchange {
        ApduExchange {
            command: command.to_vec(),
            withheld: None,
            answer,
            card_time: None,
            note: None,
        }
    }

    /// The status word of the answer, when there is one.
    pub(crate) fn status_word(&self) -> Option<StatusWord> {
        match &self.answer {
            ExchangeAnswer::Response(rapdu) => StatusWord::from_rapdu(rapdu),
            ExchangeAnswer::Failed(_) => None,
        }
    }

    /// The answer's data (without the status word).
    pub(crate) fn response_data(&self) -> Option<&[u8]> {
        match &self.answer {
            ExchangeAnswer::Response(rapdu) if rapdu.len() >= 2 => Some(&rapdu[..rapdu.len() - 2]),
            _ => None,
        }
    }

    fn redact(&self, pins: PinRecording) -> bool {
        pins == PinRecording::Redacted || self.withheld.is_some()
    }

    /// Compact upper-case hex of the command, secrets as `XX` unless kept; whether anything was
    /// hidden.
    pub(crate) fn command_hex(&self, pins: PinRecording) -> (String, bool) {
        redact::command_hex(&self.command, self.redact(pins))
    }

    /// The command as a report shows it (`00 20 00 80 04 [4 PIN bytes redacted]`).
    pub(crate) fn command_text(&self, pins: PinRecording) -> String {
        redact::command_text(&self.command, self.redact(pins))
    }

    /// The status word as 4 hex digits, or `error: …`, as the reader's outcome lists it.
    pub(crate) fn answer_summary(&self) -> String {
        match (&self.answer, self.status_word()) {
            (ExchangeAnswer::Failed(failure), _) => format!("error: {}", failure.message),
            (ExchangeAnswer::Response(_), Some(sw)) => format!("{:04X}", sw.0),
            (ExchangeAnswer::Response(rapdu), None) => {
                format!("malformed: {}", hex::encode_upper(rapdu))
            }
        }
    }
}

impl std::fmt::Debug for ApduExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApduExchange")
            .field("command", &self.command_hex(PinRecording::Redacted).0)
            .field("withheld", &self.withheld)
            .field("answer", &self.answer)
            .field("card_time", &self.card_time)
            .field("note", &self.note)
            .finish()
    }
}

/// Written (the reader's outcome, reports) always with secrets hidden.
impl Serialize for ApduExchange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("ApduExchange", 2)?;
        out.serialize_field("command", &self.command_hex(PinRecording::Redacted).0)?;
        out.serialize_field("answer", &self.answer_summary())?;
        out.end()
    }
}

/// A power change a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerChange {
    /// Cold power-on.
    On,
    /// Power off.
    Off,
    /// Warm reset.
    Reset,
}

/// Something that happened in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command and its answer.
    Apdu(ApduExchange),
    /// Cold power-on; `atr` is `None` when the card stayed mute.
    PowerOn {
        /// The ATR answered.
        atr: Option<Vec<u8>>,
    },
    /// The card was powered off.
    PowerOff,
    /// Warm reset.
    Reset {
        /// The ATR answered after the reset.
        atr: Option<Vec<u8>>,
    },
    /// A power change the reader could not carry out.
    PowerFailed {
        /// The change asked for.
        change: PowerChange,
        /// How the reader failed.
        error: ReaderFailure,
    },
    /// The card was put into the reader.
    Inserted,
    /// Another card was put on the reader in place of the one there (a scenario's world card
    /// placed for a reception); `card` names it (as a transcript names a card file).
    CardPlaced {
        /// The card file, as a transcript names it.
        card: String,
    },
    /// The card was taken out; its state is kept for re-insertion.
    Removed,
    /// The link to vpcd / the serial front end came up.
    LinkUp {
        /// The other end (vpcd's address, the serial device).
        peer: String,
    },
    /// The link went down (vpcd closed it, pcscd restarted, the serial device vanished).
    LinkDown {
        /// Why, as far as the server could tell.
        reason: String,
    },
    /// Bytes that could not be a frame were dropped (serial resynchronisation).
    FramingError {
        /// What was wrong with the bytes.
        message: String,
        /// How many bytes were dropped.
        dropped_bytes: usize,
    },
}

/// One event and when it happened, from the start of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since the session started.
    pub at: Duration,
    /// What happened.
    pub event: Event,
    /// The scenario step that caused it (1-based, 0 for the runner's own power-up), when a
    /// scenario did.
    pub(crate) step: Option<usize>,
}

/// A session's exchange log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The events, in the order they happened.
    pub entries: Vec<Entry>,
}

impl Transcript {
    /// Appends an event that no scenario step caused.
    pub fn push(&mut self, at: Duration, event: Event) {
        self.entries.push(Entry {
            at,
            event,
            step: None,
        });
    }

    /// Appends an event a scenario's step caused.
    pub(crate) fn push_in_step(&mut self, at: Duration, step: usize, event: Event) {
        self.entries.push(Entry {
            at,
            event,
            step: Some(step),
        });
    }

    /// The command/answer pairs, in order.
    pub fn exchanges(&self) -> impl Iterator<Item = &ApduExchange> {
        self.entries.iter().filter_map(|entry| match &entry.event {
            Event::Apdu(exchange) => Some(exchange),
            _ => None,
        })
    }
}

/// An exchange log that a served session appends to while others read it (the certification
/// judge reads the card slot's log case by case): entries are stamped with the time since the
/// log was opened, whose wall-clock start [`SharedTranscript::started_at`] gives.
#[derive(Clone)]
pub struct SharedTranscript {
    log: Arc<Mutex<Transcript>>,
    started: Instant,
    started_at: DateTime<Utc>,
}

impl Default for SharedTranscript {
    fn default() -> SharedTranscript {
        SharedTranscript::new()
    }
}

impl SharedTranscript {
    /// An empty log, its clock starting now.
    pub fn new() -> SharedTranscript {
        SharedTranscript {
            log: Arc::default(),
            started: Instant::now(),
            started_at: Utc::now(),
        }
    }

    /// Appends `event`, stamped now.
    pub fn push(&self, event: Event) {
        let at = self.started.elapsed();
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(at, event);
    }

    /// The wall-clock time entries count from.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The wall-clock time of an entry.
    pub(crate) fn wall_time(&self, entry: &Entry) -> DateTime<Utc> {
        chrono::Duration::from_std(entry.at)
            .ok()
            .and_then(|offset| self.started_at.checked_add_signed(offset))
            .unwrap_or(self.started_at)
    }

    /// The entries so far (a copy: the session goes on appending).
    pub(crate) fn snapshot(&self) -> Transcript {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for SharedTranscript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTranscript")
            .field("started_at", &self.started_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_line_reads_back_with_its_secret_withheld() {
        let verify = ApduExchange {
            card_time: Some(Duration::from_micros(7)),
            ..ApduExchange::new(
                b"\x00\x20\x00\x80\x041234",
                ExchangeAnswer::Response(vec![0x63, 0xC2]),
            )
        };
        let written = Event::Apdu(verify.clone())
            .to_trace(PinRecording::Redacted)
            .unwrap();
        let read = Event::from_trace(&written).unwrap();
        let Event::Apdu(read) = read else {
            panic!("not an APDU: {read:?}")
        };
        assert_eq!(read.withheld, Some(5..9));
        assert_eq!(read.command, b"\x00\x20\x00\x80\x04\0\0\0\0".to_vec());
        assert_eq!(read.status_word(), Some(StatusWord(0x63C2)));
        assert_eq!(read.card_time, verify.card_time);
        // Kept PINs stay hidden once they were withheld.
        assert_eq!(read.command_hex(PinRecording::Kept).0, "0020008004XXXXXXXX");
        assert_eq!(
            verify.command_hex(PinRecording::Kept).0,
            "002000800431323334"
        );
    }

    #[test]
    fn serialized_exchanges_hide_secrets() {
        let exchange = ApduExchange::new(
            b"\x00\x20\x00\x80\x041234",
            ExchangeAnswer::Response(vec![0x90, 0]),
        );
        let json = serde_json::to_value(&exchange).unwrap();
        assert_eq!(json["command"], "0020008004XXXXXXXX");
        assert_eq!(json["answer"], "9000");
        let failed = ApduExchange::new(
            &[0, 0xB0, 0, 0, 0],
            ExchangeAnswer::Failed(ReaderFailure {
                kind: FailureKind::Timeout,
                message: "timeout".into(),
            }),
        );
        assert_eq!(failed.answer_summary(), "error: timeout");
        assert!(!format!("{exchange:?}").contains("31323334"));
        assert!(!format!("{exchange:?}").contains("49, 50, 51, 52"));
    }
}

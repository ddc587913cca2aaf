//! The transcript format and its recorder.
//!
//! A transcript is JSON lines (one object per line, UTF-8), so it can be appended to while a
//! session runs, survives a crash up to the last complete line, and is read back line by line
//! with exact error positions. Every line has:
//!
//! - `at`: wall-clock time, RFC 3339 UTC with microseconds;
//! - `elapsed_us`: microseconds since the transcript started (monotonic clock);
//! - `event`: what happened, with the fields listed on [`TraceEvent`].
//!
//! The first line is always `"event":"start"` with `format` = `myna-hil-trace` and `version`.
//! Byte strings are upper-case hex. In `apdu` events, PIN bytes are replaced by `XX` per byte
//! and `"redacted":true` is set unless the recording was started with PINs kept. GET ATR
//! polling (about every 400 ms from pcscd) is not recorded; power, reset, insertion, removal,
//! link and framing events are.
//!
//! Example:
//! ```text
//! {"at":"2025-01-01T00:00:00.000001Z","elapsed_us":0,"event":"start","format":"myna-hil-trace","version":1,"transport":"vpcd:127.0.0.1:35963","card":"fixtures/cards/a.yaml","pins":"redacted"}
//! {"at":"…","elapsed_us":812,"event":"power_on","atr":"3BDA13FF8131FB468012392F31C173C601C03B"}
//! {"at":"…","elapsed_us":950,"event":"apdu","command":"00A4040C0AD392F000260100000001","response":"9000","card_us":3}
//! {"at":"…","elapsed_us":990,"event":"apdu","command":"0020008004XXXXXXXX","response":"9000","card_us":2,"redacted":true}
//! ```

use std::fs::File;
use std::io::{BufReader, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::exchange::{
    ApduExchange, Event, ExchangeAnswer, FailureKind, ReaderFailure, Transcript,
};
use super::import::MAX_APDU_LEN;
use super::lines::{read_bounded_line, BoundedLine};
use super::redact;
pub use super::redact::PinRecording;

/// The longest transcript line read: an event with the longest command and answer in hex,
/// with room for its other fields. A longer line is refused unread.
const MAX_LINE_BYTES: usize = 4 * MAX_APDU_LEN + 64 * 1024;

pub(crate) const FORMAT: &str = "myna-hil-trace";
pub(crate) const VERSION: u32 = 1;

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceLine {
    /// Wall-clock time of the event.
    #[serde(serialize_with = "rfc3339_micros")]
    pub at: DateTime<Utc>,
    /// Microseconds since the session started.
    pub elapsed_us: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: TraceEvent,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceEvent {
    /// First line. `transport` says where the card was served ("vpcd:HOST:PORT",
    /// "serial:/dev/ttyUSB0@115200", …), `card` which description file it came from.
    Start {
        /// The transcript format's name, `myna-hil-trace`.
        format: String,
        /// The transcript format's version.
        version: u32,
        /// Where the card was served.
        transport: String,
        /// The card file, relative to the transcript's folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// Whether PINs appear in the transcript or are redacted.
        pins: PinRecording,
    },
    /// The card was put into the reader (on demand or at start).
    Inserted,
    /// Another card was put on the reader in place of the one there; `card` names its
    /// description (relative to the transcript's folder, as the start line's `card`).
    CardPlaced {
        /// The card file, relative to the transcript's folder.
        card: String,
    },
    /// The card was taken out (on demand); its state is kept for re-insertion.
    Removed,
    /// The link to vpcd / the serial front end came up.
    LinkUp {
        /// The other end (vpcd's address, the serial device).
        peer: String,
    },
    /// The link went down (vpcd closed it, pcscd restarted, the serial device vanished …).
    LinkDown {
        /// Why, as far as the server could tell.
        reason: String,
    },
    /// Cold power-on; `atr` is absent when the card stayed mute.
    PowerOn {
        /// The ATR answered, upper-case hex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        atr: Option<String>,
    },
    /// The card was powered off.
    PowerOff,
    /// Warm reset.
    Reset {
        /// The ATR answered after the reset, upper-case hex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        atr: Option<String>,
    },
    /// One C-APDU and the R-APDU it got. `card_us` is the processing time the card model
    /// claimed (applied as a delay unless latency was disabled).
    Apdu {
        /// The C-APDU, upper-case hex (PIN bytes redacted unless kept).
        command: String,
        /// The R-APDU, upper-case hex, or `error: …` when the reader failed.
        response: String,
        /// Processing time the card model claimed, in microseconds.
        card_us: u64,
        /// Whether the command's PIN bytes were replaced.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        redacted: bool,
        /// Set when the answer did not come from the card model (e.g. the identification probe).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// When the reader failed instead of answering (`response` is then `error: …`): how
        /// (`removed`, `timeout`, `transmission`, …), so that a replay knows whether the card
        /// got the command.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<String>,
    },
    /// Bytes that could not be a frame were dropped (serial resynchronisation).
    FramingError {
        /// What was wrong with the bytes.
        message: String,
        /// How many bytes were dropped.
        dropped_bytes: usize,
    },
    /// The session ended cleanly.
    Stop,
}

fn rfc3339_micros<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Why a transcript could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The transcript file cannot be opened, read or written.
    #[error("transcript {path}: {source}")]
    Io {
        /// The transcript file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A line is not a transcript event.
    #[error("transcript {path}, line {line}: {message}")]
    Parse {
        /// The transcript file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// The transcript as a whole breaks the format (no start line, another format or version).
    #[error("transcript {path}: {message}")]
    Format {
        /// The transcript file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Writes a transcript line by line (each line is flushed, so the file is complete up to the
/// last event even if the process is killed).
pub struct TraceRecorder {
    out: LineWriter<Box<dyn Write + Send>>,
    path: PathBuf,
    started: Instant,
    pins: PinRecording,
}

impl std::fmt::Debug for TraceRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceRecorder")
            .field("path", &self.path)
            .field("pins", &self.pins)
            .finish()
    }
}

impl TraceRecorder {
    /// Creates (truncates) `path` and writes the start line.
    pub fn create(
        path: &Path,
        transport: &str,
        card: Option<&str>,
        pins: PinRecording,
    ) -> Result<TraceRecorder, TraceError> {
        let file = File::create(path).map_err(|source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TraceRecorder::to_writer(Box::new(file), path, transport, card, pins)
    }

    /// Records to any writer; `name` is used in error messages.
    pub(crate) fn to_writer(
        writer: Box<dyn Write + Send>,
        name: &Path,
        transport: &str,
        card: Option<&str>,
        pins: PinRecording,
    ) -> Result<TraceRecorder, TraceError> {
        let mut recorder = TraceRecorder {
            out: LineWriter::new(writer),
            path: name.to_path_buf(),
            started: Instant::now(),
            pins,
        };
        recorder.record(TraceEvent::Start {
            format: FORMAT.to_string(),
            version: VERSION,
            transport: transport.to_string(),
            card: card.map(str::to_string),
            pins,
        })?;
        Ok(recorder)
    }

    /// Appends one event as a JSON line, stamped with the time now.
    pub fn record(&mut self, event: TraceEvent) -> Result<(), TraceError> {
        let line = TraceLine {
            at: Utc::now(),
            elapsed_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            event,
        };
        write_line(&mut self.out, &self.path, &line)
    }

    /// Records one event of the exchange log, hiding secrets unless PINs are kept. Events the
    /// v1 format has no line for (a failed power change) are skipped.
    pub(crate) fn record_event(&mut self, event: &Event) -> Result<(), TraceError> {
        match event.to_trace(self.pins) {
            Some(line) => self.record(line),
            None => Ok(()),
        }
    }

    /// Records one command and its answer, hiding secrets unless PINs are kept.
    pub fn record_apdu(
        &mut self,
        command: &[u8],
        response: &[u8],
        card_time: Duration,
        note: Option<&str>,
    ) -> Result<(), TraceError> {
        self.record_event(&Event::Apdu(ApduExchange {
            card_time: Some(card_time),
            note: note.map(str::to_string),
            ..ApduExchange::new(command, ExchangeAnswer::Response(response.to_vec()))
        }))
    }

    /// Writes out what is buffered, so a reader of the file sees every event so far.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.out.flush().map_err(|source| TraceError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// The one writer of a transcript line (live recordings and whole logs alike): one JSON
/// object and a newline.
fn write_line(out: &mut dyn Write, path: &Path, line: &TraceLine) -> Result<(), TraceError> {
    let mut text = serde_json::to_string(line).map_err(|error| TraceError::Format {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    text.push('\n');
    out.write_all(text.as_bytes())
        .map_err(|source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Where a served session's exchange log goes: kept in memory (the certification slot, whose
/// judge reads it directly), or written as JSON lines (`--record`).
#[derive(Debug)]
pub enum TraceSink {
    /// Into an in-memory exchange log shared with its readers.
    Memory(super::exchange::SharedTranscript),
    /// Into a transcript file.
    File(TraceRecorder),
}

impl From<TraceRecorder> for TraceSink {
    fn from(recorder: TraceRecorder) -> TraceSink {
        TraceSink::File(recorder)
    }
}

impl TraceSink {
    /// Appends one event of the session.
    pub fn push(&mut self, event: Event) -> Result<(), TraceError> {
        match self {
            TraceSink::Memory(log) => {
                log.push(event);
                Ok(())
            }
            TraceSink::File(recorder) => recorder.record_event(&event),
        }
    }

    /// Ends the log: the stop line and a flush for a file; nothing for memory.
    pub(crate) fn finish(&mut self) -> Result<(), TraceError> {
        match self {
            TraceSink::Memory(_) => Ok(()),
            TraceSink::File(recorder) => {
                let stopped = recorder.record(TraceEvent::Stop);
                let flushed = recorder.flush();
                stopped.and(flushed)
            }
        }
    }
}

/// Writes a whole exchange log at once (an imported capture, a scenario's or a certification
/// case's log): the start line (naming `card`, the description it was made with, when known)
/// stamped `started`, every entry at `started` plus its time in the log, then the stop line. Secrets
/// are hidden unless `pins` keeps them, as for a live recording.
pub fn write_transcript(
    path: &Path,
    transport: &str,
    card: Option<&str>,
    pins: PinRecording,
    started: DateTime<Utc>,
    transcript: &Transcript,
) -> Result<(), TraceError> {
    let file = File::create(path).map_err(|source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = std::io::BufWriter::new(file);
    let start = TraceEvent::Start {
        format: FORMAT.to_string(),
        version: VERSION,
        transport: transport.to_string(),
        card: card.map(str::to_owned),
        pins,
    };
    let last = transcript
        .entries
        .last()
        .map_or(Duration::ZERO, |entry| entry.at);
    let lines = std::iter::once((Duration::ZERO, Some(start)))
        .chain(
            transcript
                .entries
                .iter()
                .map(|entry| (entry.at, entry.event.to_trace(pins))),
        )
        .chain(std::iter::once((last, Some(TraceEvent::Stop))));
    for (at, event) in lines {
        let Some(event) = event else { continue };
        let line = TraceLine {
            // An offset past chrono's range (a corrupt capture) keeps the start time.
            at: chrono::Duration::from_std(at)
                .ok()
                .and_then(|offset| started.checked_add_signed(offset))
                .unwrap_or(started),
            elapsed_us: u64::try_from(at.as_micros()).unwrap_or(u64::MAX),
            event,
        };
        write_line(&mut out, path, &line)?;
    }
    out.flush().map_err(|source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// When the transcript started: the `at` of its start line.
pub fn started_at(lines: &[(usize, TraceLine)]) -> Option<DateTime<Utc>> {
    lines.first().map(|(_, line)| line.at)
}

/// Reads a transcript back; errors name the line.
pub fn read_trace(path: &Path) -> Result<Vec<TraceLine>, TraceError> {
    Ok(read_trace_numbered(path)?
        .into_iter()
        .map(|(_, line)| line)
        .collect())
}

/// Reads a transcript back with each event's line number in the file (1-based), so that
/// whoever reports on it (the replay) can point at the line.
pub(crate) fn read_trace_numbered(path: &Path) -> Result<Vec<(usize, TraceLine)>, TraceError> {
    let file = File::open(path).map_err(|source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = Vec::new();
    let mut input = BufReader::new(file);
    let mut read = BoundedLine::default();
    let mut number = 0;
    while read_bounded_line(&mut input, MAX_LINE_BYTES, &mut read).map_err(|source| {
        TraceError::Io {
            path: path.to_path_buf(),
            source,
        }
    })? {
        number += 1;
        let parse_error = |message: String| TraceError::Parse {
            path: path.to_path_buf(),
            line: number,
            message,
        };
        if read.cut() {
            return Err(parse_error(format!(
                "a line of {} bytes, longer than any event (an APDU is at most {MAX_APDU_LEN} bytes)",
                read.length
            )));
        }
        let text = std::str::from_utf8(&read.kept)
            .map_err(|error| parse_error(format!("not UTF-8: {error}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let line: TraceLine = serde_json::from_str(text)
            .map_err(|error| parse_error(crate::excerpt::bounded(&error.to_string(), 200)))?;
        lines.push((number, line));
    }
    match lines.first().map(|(_, line)| &line.event) {
        Some(TraceEvent::Start {
            format, version, ..
        }) if format == FORMAT && *version == VERSION => Ok(lines),
        Some(TraceEvent::Start {
            format, version, ..
        }) => Err(TraceError::Format {
            path: path.to_path_buf(),
            message: format!(
                "unsupported format {format} version {version} (expected {FORMAT} {VERSION})"
            ),
        }),
        _ => Err(TraceError::Format {
            path: path.to_path_buf(),
            message: "the first line is not a start event".into(),
        }),
    }
}

impl Event {
    /// The transcript line this event is written as (secrets hidden unless `pins` keeps them);
    /// `None` for what the v1 format has no line for (a failed power change).
    pub(crate) fn to_trace(&self, pins: PinRecording) -> Option<TraceEvent> {
        Some(match self {
            Event::Apdu(exchange) => {
                let (command, redacted) = exchange.command_hex(pins);
                TraceEvent::Apdu {
                    command,
                    response: match &exchange.answer {
                        ExchangeAnswer::Response(rapdu) => hex::encode_upper(rapdu),
                        ExchangeAnswer::Failed(failure) => format!("error: {}", failure.message),
                    },
                    card_us: exchange.card_time.map_or(0, |time| {
                        u64::try_from(time.as_micros()).unwrap_or(u64::MAX)
                    }),
                    redacted,
                    note: exchange.note.clone(),
                    failure: match &exchange.answer {
                        ExchangeAnswer::Failed(failure) => Some(failure.kind.to_string()),
                        ExchangeAnswer::Response(_) => None,
                    },
                }
            }
            Event::PowerOn { atr } => TraceEvent::PowerOn {
                atr: atr.as_deref().map(hex::encode_upper),
            },
            Event::PowerOff => TraceEvent::PowerOff,
            Event::Reset { atr } => TraceEvent::Reset {
                atr: atr.as_deref().map(hex::encode_upper),
            },
            Event::PowerFailed { .. } => return None,
            Event::Inserted => TraceEvent::Inserted,
            Event::CardPlaced { card } => TraceEvent::CardPlaced { card: card.clone() },
            Event::Removed => TraceEvent::Removed,
            Event::LinkUp { peer } => TraceEvent::LinkUp { peer: peer.clone() },
            Event::LinkDown { reason } => TraceEvent::LinkDown {
                reason: reason.clone(),
            },
            Event::FramingError {
                message,
                dropped_bytes,
            } => TraceEvent::FramingError {
                message: message.clone(),
                dropped_bytes: *dropped_bytes,
            },
        })
    }

    /// The event a transcript line stands for; `None` for the start and stop lines. A command
    /// whose hex cannot be read comes back as a failed answer naming the problem.
    pub fn from_trace(event: &TraceEvent) -> Option<Event> {
        let atr = |text: &Option<String>| text.as_deref().and_then(|hex| hex::decode(hex).ok());
        Some(match event {
            TraceEvent::Start { .. } | TraceEvent::Stop => return None,
            TraceEvent::Inserted => Event::Inserted,
            TraceEvent::CardPlaced { card } => Event::CardPlaced { card: card.clone() },
            TraceEvent::Removed => Event::Removed,
            TraceEvent::LinkUp { peer } => Event::LinkUp { peer: peer.clone() },
            TraceEvent::LinkDown { reason } => Event::LinkDown {
                reason: reason.clone(),
            },
            TraceEvent::PowerOn { atr: text } => Event::PowerOn { atr: atr(text) },
            TraceEvent::PowerOff => Event::PowerOff,
            TraceEvent::Reset { atr: text } => Event::Reset { atr: atr(text) },
            TraceEvent::FramingError {
                message,
                dropped_bytes,
            } => Event::FramingError {
                message: message.clone(),
                dropped_bytes: *dropped_bytes,
            },
            TraceEvent::Apdu {
                command,
                response,
                card_us,
                note,
                failure,
                ..
            } => {
                let (bytes, withheld) = redact::parse_command_hex(command).unwrap_or_default();
                let answer = match hex::decode(response) {
                    Ok(rapdu) => ExchangeAnswer::Response(rapdu),
                    Err(_) => ExchangeAnswer::Failed(ReaderFailure {
                        kind: failure
                            .as_deref()
                            .and_then(FailureKind::from_name)
                            .unwrap_or(FailureKind::Transmission),
                        message: response
                            .strip_prefix("error: ")
                            .unwrap_or(response)
                            .to_owned(),
                    }),
                };
                Event::Apdu(ApduExchange {
                    command: bytes,
                    withheld,
                    answer,
                    card_time: Some(Duration::from_micros(*card_us)),
                    note: note.clone(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(pins: PinRecording) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut recorder =
            TraceRecorder::create(&path, "vpcd:127.0.0.1:35963", Some("card.yaml"), pins).unwrap();
        recorder
            .record(TraceEvent::PowerOn {
                atr: Some("3B00".into()),
            })
            .unwrap();
        recorder
            .record_apdu(
                &[0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4'],
                &[0x90, 0x00],
                Duration::from_micros(7),
                None,
            )
            .unwrap();
        recorder.record(TraceEvent::Stop).unwrap();
        (dir, path)
    }

    #[test]
    fn pins_are_redacted_by_default_and_the_file_reads_back() {
        let (_dir, path) = recorded(PinRecording::Redacted);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("31323334"), "PIN leaked: {text}");
        let lines = read_trace(&path).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2].event,
            TraceEvent::Apdu {
                command: "0020008004XXXXXXXX".into(),
                response: "9000".into(),
                card_us: 7,
                redacted: true,
                note: None,
                failure: None,
            }
        );
        assert!(lines
            .windows(2)
            .all(|pair| pair[0].elapsed_us <= pair[1].elapsed_us));
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["event"], "start");
        assert_eq!(first["pins"], "redacted");
        assert!(first["at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn pins_are_kept_only_when_asked() {
        let (_dir, path) = recorded(PinRecording::Kept);
        let lines = read_trace(&path).unwrap();
        match &lines[2].event {
            TraceEvent::Apdu {
                command, redacted, ..
            } => {
                assert_eq!(command, "002000800431323334");
                assert!(!redacted);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_broken_line_is_reported_with_its_number() {
        let (_dir, path) = recorded(PinRecording::Redacted);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{not json}\n");
        std::fs::write(&path, text).unwrap();
        let error = read_trace(&path).unwrap_err().to_string();
        assert!(error.contains("line 5"), "{error}");
    }
}

//! The log of `pcscd --foreground --debug --apdu` (pcsc-lite 1.9 and later).
//!
//! Every line starts with eight digits, the microseconds since the previous line, and (with
//! `--color`) may be wrapped in terminal colour codes. The lines read here:
//!
//! ```text
//! 00000024 eventhandler.c:423:EHStatusHandlerThread() Card inserted into Virtual PCD 00 00
//! 00000008 Card ATR: 3B DA 13 FF 81 31 FB 46 80 12 39 2F 31 C1 73 C6 01 C0 3B
//! 00000006 winscard.c:609:SCardReconnect() Reset complete.
//! 00000004 APDU: 00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01
//! 00000143 SW: 90 00
//! 00400292 eventhandler.c:482:EHStatusHandlerThread() powerState: POWER_STATE_UNPOWERED
//! 00000167 eventhandler.c:358:EHStatusHandlerThread() Card Removed From Virtual PCD 00 00
//! ```
//!
//! `APDU:` is the command a client sent, `SW:` the whole response (data and status word);
//! `Card ATR:` follows every power-up (a reset when `Reset complete.` came first). The log
//! does not name the reader of an APDU, so a log of several cards in use at once mixes them:
//! capture with one card in the readers. The log carries no date: the caller supplies when it
//! started (`trace import` takes the file's modification time, or `--started`).

use std::io::BufRead;
use std::time::Duration;

use super::{describe_start, peek_start, Imported, ParseError, Position, MAX_APDU_LEN};
use crate::excerpt::{bounded, cut, quoted};
use crate::trace::exchange::{ApduExchange, Event, ExchangeAnswer};
use crate::trace::lines::{read_bounded_line, BoundedLine};

const EXPECTED: &str =
    "a pcscd debug log (lines `NNNNNNNN message`, from `pcscd --foreground --debug --apdu`)";

/// The most bytes of one line kept: the dump of the longest APDU (three characters a byte)
/// with pcscd's prefix, its source position and colour codes, with room to spare. A longer
/// line is read past; if it is a byte dump, it is longer than any APDU.
const MAX_LINE_BYTES: usize = 256 * 1024;
/// How much of a line or token an error message shows.
const SHOWN_CHARS: usize = 60;

/// What the log says a command was: its bytes, or nothing when it was too long to be an APDU
/// (skipped, counted; its answer is passed over).
type PendingCommand = (usize, Duration, Option<Vec<u8>>);

/// Parses a pcscd log, read line by line.
pub(crate) fn parse(mut input: impl BufRead) -> Result<Imported, ParseError> {
    let start = peek_start(&mut input)?;
    let mut imported = Imported::default();
    let mut elapsed = Duration::ZERO;
    let mut pending: Option<PendingCommand> = None;
    let mut reset_pending = false;
    let mut powered = false;
    let mut seen_log_line = false;
    let mut line = BoundedLine::default();
    let mut number = 0;
    let unreadable = |number: usize, error: std::io::Error| ParseError::Malformed {
        position: Position::Line(number),
        message: format!("cannot read: {error}"),
    };
    while read_bounded_line(&mut input, MAX_LINE_BYTES, &mut line)
        .map_err(|error| unreadable(number + 1, error))?
    {
        number += 1;
        let last_line = input
            .fill_buf()
            .map_err(|error| unreadable(number, error))?
            .is_empty();
        let raw = String::from_utf8_lossy(&line.kept);
        let text = strip_colour(&raw);
        if text.trim().is_empty() {
            continue;
        }
        let Some((delta, message)) = split_prefix(&text) else {
            if !seen_log_line {
                return Err(ParseError::Foreign {
                    position: Position::Line(number),
                    expected: EXPECTED,
                    found: if raw.contains('\u{FFFD}') {
                        describe_start(&start)
                    } else {
                        quoted(&raw, SHOWN_CHARS)
                    },
                });
            }
            if !line.terminated {
                return Err(ParseError::Truncated {
                    position: Position::Line(number),
                    message: format!("the log ends inside a line: {}", shown_line(&raw, &line)),
                });
            }
            imported.skip(Position::Line(number), "a line without pcscd's time prefix");
            continue;
        };
        seen_log_line = true;
        elapsed += delta;
        let dump = Dump {
            line: number,
            last_line,
            cut: line.cut().then_some(line.length),
        };
        // Some pcscd builds prefix every message with its source (`ifdhandler.c:NNN:func() `).
        let message = without_source(message);
        if let Some(hex) = message.strip_prefix("APDU:") {
            let command = dump.bytes(hex)?;
            if command.is_none() {
                imported.skip(Position::Line(number), too_long("a command"));
            }
            if let Some((line, _, Some(_))) = pending.replace((number, elapsed, command)) {
                imported.skip(Position::Line(line), UNANSWERED);
            }
        } else if let Some(hex) = message.strip_prefix("SW:") {
            let response = dump.bytes(hex)?;
            match (pending.take(), response) {
                (Some((_, at, Some(command))), Some(response)) => imported.transcript.push(
                    at,
                    Event::Apdu(ApduExchange::new(
                        &command,
                        ExchangeAnswer::Response(response),
                    )),
                ),
                // The answer to a command too long to be an APDU (already counted).
                (Some((_, _, None)), _) => {}
                (Some(_), None) => {
                    imported.skip(Position::Line(number), too_long("an answer"));
                }
                (None, _) => imported.skip(
                    Position::Line(number),
                    "an answer (SW:) without a command before it",
                ),
            }
        } else if let Some(hex) = message.strip_prefix("Card ATR:") {
            let Some(atr) = dump.bytes(hex)? else {
                imported.skip(Position::Line(number), too_long("an ATR"));
                continue;
            };
            let atr = (!atr.is_empty()).then_some(atr);
            let event = if std::mem::take(&mut reset_pending) && powered {
                Event::Reset { atr }
            } else {
                Event::PowerOn { atr }
            };
            powered = true;
            imported.transcript.push(elapsed, event);
        } else if message.contains("Reset complete.") {
            reset_pending = true;
        } else if message.contains("POWER_STATE_UNPOWERED") {
            if std::mem::take(&mut powered) {
                imported.transcript.push(elapsed, Event::PowerOff);
            }
        } else if message.contains("Card inserted into ") {
            imported.transcript.push(elapsed, Event::Inserted);
        } else if message.contains("Card Removed From ") {
            powered = false;
            imported.transcript.push(elapsed, Event::Removed);
        }
    }
    if !seen_log_line {
        return Err(ParseError::Foreign {
            position: Position::Line(1),
            expected: EXPECTED,
            found: describe_start(&start),
        });
    }
    if let Some((line, _, Some(_))) = pending {
        imported.skip(
            Position::Line(line),
            "a command at the end of the log, before its answer",
        );
    }
    Ok(imported)
}

const UNANSWERED: &str = "a command without an answer in the log (the transmission failed)";

/// The reason a byte dump longer than any APDU is skipped.
fn too_long(what: &str) -> String {
    format!("{what} longer than an extended APDU ({MAX_APDU_LEN} bytes)")
}

/// A line for an error message: its start, quoted, and how long it was when it was cut.
fn shown_line(raw: &str, line: &BoundedLine) -> String {
    if line.cut() {
        // Only the line's start was read: say its length in bytes, not what was kept.
        let (start, _) = cut(raw, SHOWN_CHARS);
        format!("{start:?}… (a line of {} bytes)", line.length)
    } else {
        quoted(raw, SHOWN_CHARS)
    }
}

/// `message` without a leading `file.c:NNN:function() ` (the source position pcscd writes
/// before most messages, and in some builds before `Card ATR:` and `APDU:` too).
fn without_source(message: &str) -> &str {
    let Some((head, rest)) = message.split_once(' ') else {
        return message;
    };
    let mut parts = head.splitn(3, ':');
    let (Some(file), Some(line), Some(function)) = (parts.next(), parts.next(), parts.next())
    else {
        return message;
    };
    let is_source = file.ends_with(".c")
        && !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && function.ends_with("()");
    if is_source {
        rest.trim_start()
    } else {
        message
    }
}

/// Removes terminal colour codes (`ESC [ … m`), which `pcscd --color` puts around lines.
fn strip_colour(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The time since the previous line and the message, when the line has pcscd's prefix.
fn split_prefix(line: &str) -> Option<(Duration, &str)> {
    let (digits, message) = line.split_once(' ')?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((
        Duration::from_micros(digits.parse().ok()?),
        message.trim_start(),
    ))
}

/// Where a byte dump is: its line, whether that is the log's last, and the line's whole length
/// when it was read only in part.
struct Dump {
    line: usize,
    last_line: bool,
    cut: Option<usize>,
}

impl Dump {
    /// Spaced hex bytes as pcscd writes them (`00 A4 04 0C `); `None` when there are more than
    /// an APDU can have. A bad byte on the last line is a truncated log, anywhere else a
    /// malformed one; the message shows the token's start only.
    fn bytes(&self, text: &str) -> Result<Option<Vec<u8>>, ParseError> {
        let mut bytes = Vec::new();
        let mut tokens = text.split_whitespace().peekable();
        while let Some(token) = tokens.next() {
            // The last token kept of a line read in part may be a byte cut in two.
            let cut_here = self.cut.is_some() && tokens.peek().is_none();
            if token.len() == 2 {
                if let Ok(byte) = u8::from_str_radix(token, 16) {
                    if bytes.len() == MAX_APDU_LEN {
                        return Ok(None);
                    }
                    bytes.push(byte);
                    continue;
                }
            }
            if cut_here && token.len() < 2 {
                break;
            }
            // A token cut with its line is shown by its start only: its length is unknown.
            let shown = if cut_here {
                format!("{}…", cut(token, SHOWN_CHARS).0)
            } else {
                bounded(token, SHOWN_CHARS)
            };
            let mut message = format!("`{shown}` is not a hex byte");
            if let Some(length) = self.cut {
                message.push_str(&format!(" (in a line of {length} bytes)"));
            }
            return Err(if self.last_line && token.len() < 2 {
                ParseError::Truncated {
                    position: Position::Line(self.line),
                    message: format!("the log ends inside a byte dump ({message})"),
                }
            } else {
                ParseError::Malformed {
                    position: Position::Line(self.line),
                    message,
                }
            });
        }
        // A line read in part holds more than it showed: longer than any dump of an APDU.
        Ok((self.cut.is_none()).then_some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::import::Skipped;

    const LOG: &str = "\
00000080 debuglog.c:411:DebugLogSetCategory() Debug options: APDU
00000003 eventhandler.c:423:EHStatusHandlerThread() Card inserted into Virtual PCD 00 00
00000008 Card ATR: 3B DA 13 FF 
00400292 eventhandler.c:482:EHStatusHandlerThread() powerState: POWER_STATE_UNPOWERED
00000020 winscard.c:332:SCardConnect() power up complete.
00000006 \u{1b}[34mCard ATR: 3B DA 13 FF \u{1b}[0m
00000004 APDU: 00 A4 04 0C 02 3F 00 
00000355 SW: 6A 82 
00000004 APDU: 00 20 00 80 04 31 32 33 34 
00000004 APDU: 00 B0 00 00 04 
00000100 SW: 01 02 03 04 90 00 
00000006 winscard.c:609:SCardReconnect() Reset complete.
00000005 Card ATR: 3B DA 13 FF 
00000167 eventhandler.c:358:EHStatusHandlerThread() Card Removed From Virtual PCD 00 00
";

    #[test]
    fn commands_answers_and_power_events_are_read_with_their_times() {
        let imported = parse(LOG.as_bytes()).unwrap();
        let events: Vec<&Event> = imported
            .transcript
            .entries
            .iter()
            .map(|e| &e.event)
            .collect();
        let atr = Some(vec![0x3B, 0xDA, 0x13, 0xFF]);
        assert_eq!(events[0], &Event::Inserted);
        assert_eq!(events[1], &Event::PowerOn { atr: atr.clone() });
        assert_eq!(events[2], &Event::PowerOff);
        assert_eq!(events[3], &Event::PowerOn { atr: atr.clone() });
        assert_eq!(
            events[4],
            &Event::Apdu(ApduExchange::new(
                &[0x00, 0xA4, 0x04, 0x0C, 0x02, 0x3F, 0x00],
                ExchangeAnswer::Response(vec![0x6A, 0x82])
            ))
        );
        assert_eq!(
            events[5],
            &Event::Apdu(ApduExchange::new(
                &[0x00, 0xB0, 0x00, 0x00, 0x04],
                ExchangeAnswer::Response(vec![1, 2, 3, 4, 0x90, 0x00])
            ))
        );
        assert_eq!(events[6], &Event::Reset { atr });
        assert_eq!(events[7], &Event::Removed);
        assert_eq!(events.len(), 8);
        // 80 + 3 + 8 + 400292 + 20 + 6 + 4 µs before the SELECT.
        assert_eq!(
            imported.transcript.entries[4].at,
            Duration::from_micros(400_413)
        );
        assert_eq!(
            imported.skipped,
            vec![Skipped {
                position: Position::Line(9),
                reason: "a command without an answer in the log (the transmission failed)"
                    .to_owned()
            }]
        );
    }

    #[test]
    fn messages_with_their_source_position_are_read_as_without() {
        let log = "\
00000003 eventhandler.c:423:EHStatusHandlerThread() Card inserted into Virtual PCD 00 00
00000008 eventhandler.c:441:EHStatusHandlerThread() Card ATR: 3B DA 13 FF
00000004 ifdwrapper.c:542:IFDTransmit() APDU: 00 A4 04 0C 02 3F 00
00000355 ifdwrapper.c:548:IFDTransmit() SW: 6A 82
";
        let imported = parse(log.as_bytes()).unwrap();
        let events: Vec<&Event> = imported
            .transcript
            .entries
            .iter()
            .map(|e| &e.event)
            .collect();
        assert_eq!(
            events,
            [
                &Event::Inserted,
                &Event::PowerOn {
                    atr: Some(vec![0x3B, 0xDA, 0x13, 0xFF])
                },
                &Event::Apdu(ApduExchange::new(
                    &[0x00, 0xA4, 0x04, 0x0C, 0x02, 0x3F, 0x00],
                    ExchangeAnswer::Response(vec![0x6A, 0x82])
                )),
            ]
        );
        assert!(imported.skipped.is_empty());
        assert_eq!(
            without_source("debuglog.c:x:f() hello"),
            "debuglog.c:x:f() hello"
        );
        assert_eq!(without_source("Card ATR: 3B"), "Card ATR: 3B");
    }

    #[test]
    fn a_foreign_file_is_refused_at_its_first_line() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let error = parse(&png[..]).unwrap_err().to_string();
        assert!(
            error.starts_with("line 1: not a pcscd debug log"),
            "{error}"
        );
        assert!(error.contains("PNG image"), "{error}");
        let text = parse(&b"hello world\n"[..]).unwrap_err().to_string();
        assert!(text.contains("\"hello world\""), "{text}");
    }

    #[test]
    fn a_log_cut_inside_a_byte_dump_is_truncated_at_that_line() {
        let cut = "00000004 APDU: 00 A4 04 0C 02 3F 00\n00000355 SW: 6A 8";
        let error = parse(cut.as_bytes()).unwrap_err().to_string();
        assert!(error.starts_with("line 2: truncated"), "{error}");
        let cut = "00000004 APDU: 00 A4 04 0C 02 3F 00\n00000355 SW: 6A 82\n000003";
        let error = parse(cut.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            error,
            "line 3: truncated: the log ends inside a line: \"000003\""
        );
        let bad = "00000004 APDU: 00 ZZ 04\n00000355 SW: 6A 82\n";
        let error = parse(bad.as_bytes()).unwrap_err().to_string();
        assert_eq!(error, "line 1: `ZZ` is not a hex byte");
    }

    #[test]
    fn a_command_left_unanswered_at_the_end_is_reported_as_skipped() {
        let imported = parse(&b"00000004 APDU: 00 A4 04 0C 02 3F 00\n"[..]).unwrap();
        assert!(imported.transcript.entries.is_empty());
        assert_eq!(
            imported.skipped_summary(),
            vec!["1 × a command at the end of the log, before its answer (first at line 1)"]
        );
    }
}

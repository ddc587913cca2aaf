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

use std::time::Duration;

use super::{describe_start, Imported, ParseError, Position, Skipped};
use crate::trace::exchange::{ApduExchange, Event, ExchangeAnswer};

const EXPECTED: &str =
    "a pcscd debug log (lines `NNNNNNNN message`, from `pcscd --foreground --debug --apdu`)";

/// Parses a pcscd log.
pub(crate) fn parse(bytes: &[u8]) -> Result<Imported, ParseError> {
    let mut imported = Imported::default();
    let mut elapsed = Duration::ZERO;
    let mut pending: Option<(usize, Duration, Vec<u8>)> = None;
    let mut reset_pending = false;
    let mut powered = false;
    let mut seen_log_line = false;
    let text = String::from_utf8_lossy(bytes);
    let line_count = text.lines().count();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = strip_colour(raw);
        if line.trim().is_empty() {
            continue;
        }
        let Some((delta, message)) = split_prefix(&line) else {
            if !seen_log_line {
                return Err(ParseError::Foreign {
                    position: Position::Line(number),
                    expected: EXPECTED,
                    found: if bytes.is_empty() || raw.contains('\u{FFFD}') {
                        describe_start(bytes)
                    } else {
                        format!("{:?}", raw.chars().take(60).collect::<String>())
                    },
                });
            }
            if number == line_count && !bytes.ends_with(b"\n") {
                return Err(ParseError::Truncated {
                    position: Position::Line(number),
                    message: format!("the log ends inside a line: {raw:?}"),
                });
            }
            imported.skipped.push(Skipped {
                position: Position::Line(number),
                reason: "a line without pcscd's time prefix".to_owned(),
            });
            continue;
        };
        seen_log_line = true;
        elapsed += delta;
        let last_line = number == line_count;
        // Some pcscd builds prefix every message with its source (`ifdhandler.c:NNN:func() `).
        let message = without_source(message);
        if let Some(hex) = message.strip_prefix("APDU:") {
            let command = parse_bytes(hex, number, last_line)?;
            if let Some((line, _, _)) = pending.replace((number, elapsed, command)) {
                imported.skipped.push(unanswered(line));
            }
        } else if let Some(hex) = message.strip_prefix("SW:") {
            let response = parse_bytes(hex, number, last_line)?;
            match pending.take() {
                Some((_, at, command)) => imported.transcript.push(
                    at,
                    Event::Apdu(ApduExchange::new(
                        &command,
                        ExchangeAnswer::Response(response),
                    )),
                ),
                None => imported.skipped.push(Skipped {
                    position: Position::Line(number),
                    reason: "an answer (SW:) without a command before it".to_owned(),
                }),
            }
        } else if let Some(hex) = message.strip_prefix("Card ATR:") {
            let atr = parse_bytes(hex, number, last_line)?;
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
            found: describe_start(bytes),
        });
    }
    if let Some((line, _, _)) = pending {
        imported.skipped.push(Skipped {
            position: Position::Line(line),
            reason: "a command at the end of the log, before its answer".to_owned(),
        });
    }
    Ok(imported)
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

fn unanswered(line: usize) -> Skipped {
    Skipped {
        position: Position::Line(line),
        reason: "a command without an answer in the log (the transmission failed)".to_owned(),
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

/// Spaced hex bytes as pcscd writes them (`00 A4 04 0C `). A bad byte on the last line is a
/// truncated log, anywhere else a malformed one.
fn parse_bytes(text: &str, line: usize, last_line: bool) -> Result<Vec<u8>, ParseError> {
    text.split_whitespace()
        .map(|token| {
            if token.len() == 2 {
                if let Ok(byte) = u8::from_str_radix(token, 16) {
                    return Ok(byte);
                }
            }
            let message = format!("`{token}` is not a hex byte");
            Err(if last_line && token.len() < 2 {
                ParseError::Truncated {
                    position: Position::Line(line),
                    message: format!("the log ends inside a byte dump ({message})"),
                }
            } else {
                ParseError::Malformed {
                    position: Position::Line(line),
                    message,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let error = parse(png).unwrap_err().to_string();
        assert!(
            error.starts_with("line 1: not a pcscd debug log"),
            "{error}"
        );
        assert!(error.contains("PNG image"), "{error}");
        let text = parse(b"hello world\n").unwrap_err().to_string();
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
        let imported = parse(b"00000004 APDU: 00 A4 04 0C 02 3F 00\n").unwrap();
        assert!(imported.transcript.entries.is_empty());
        assert_eq!(
            imported.skipped_summary(),
            vec!["1 × a command at the end of the log, before its answer (first at line 1)"]
        );
    }
}

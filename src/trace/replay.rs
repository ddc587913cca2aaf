//! Replaying a recorded transcript against a card and reporting where the answers differ.
//!
//! A transcript recorded at a clinic (or by `card serve --record`) is sent command by command to
//! another card — the in-process emulation of a card description, or a card in a real reader —
//! and every answer is compared with the recorded one. Power, reset, insertion and removal
//! events are replayed too, so a failure that depends on the card losing its selection replays
//! the same way.
//!
//! PINs are redacted by default when recording. A redacted VERIFY cannot be replayed byte for
//! byte, so the replay substitutes a PIN that reproduces the recorded outcome: the card's own
//! PIN for the selected PIN EF when the recorded answer was `90 00`, a wrong PIN of the recorded
//! length otherwise. Which PIN EF is selected is followed from the SELECT commands in the trace.
//! A redacted CHANGE REFERENCE DATA carries a new PIN nobody knows: it is reported as not
//! replayable (record with `--record-pins` to replay it).

use serde::Serialize;

use crate::apdu::parse_hex;
use crate::card::description::PinsSpec;
use crate::card::fs::{AID_JPKI, AID_TEXT};
use crate::transport::Transport;

use super::record::{TraceEvent, TraceLine};

/// Where a replayed answer differed from the recording, or why a line could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// Line number in the transcript file (1-based).
    pub line: usize,
    /// The command as recorded (PINs still redacted).
    pub command: String,
    pub recorded: String,
    /// What the card answered now, or why nothing was sent.
    pub replayed: String,
}

/// The result of one replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Commands sent and compared.
    pub commands: usize,
    /// Power-on / reset answers compared.
    pub atrs: usize,
    pub divergences: Vec<Divergence>,
}

impl ReplayReport {
    pub fn is_identical(&self) -> bool {
        self.divergences.is_empty()
    }
}

/// Which PIN EF the replayed session has selected, followed from the trace's SELECT commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PinSlot {
    Auth,
    Signing,
    Text,
}

#[derive(Debug, Default)]
struct Selection {
    application: Option<[u8; 10]>,
    pin: Option<PinSlot>,
}

impl Selection {
    fn follow(&mut self, command: &[u8]) {
        match command {
            [0x00, 0xA4, 0x04, _, 0x0A, aid @ ..] if aid.len() >= 10 => {
                let mut name = [0u8; 10];
                name.copy_from_slice(&aid[..10]);
                self.application = Some(name);
                self.pin = None;
            }
            [0x00, 0xA4, 0x02, _, 0x02, hi, lo, ..] => {
                self.pin = match (self.application, [*hi, *lo]) {
                    (Some(AID_JPKI), [0x00, 0x18]) => Some(PinSlot::Auth),
                    (Some(AID_JPKI), [0x00, 0x1B]) => Some(PinSlot::Signing),
                    (Some(AID_TEXT), [0x00, 0x11]) => Some(PinSlot::Text),
                    _ => None,
                };
            }
            _ => {}
        }
    }
}

/// Replays `lines` through `transport`. `pins` are the PINs of the card replayed against (used
/// only for redacted VERIFY commands whose recorded answer was success).
pub fn replay(
    lines: &[(usize, TraceLine)],
    transport: &mut dyn Transport,
    pins: &PinsSpec,
) -> ReplayReport {
    let mut report = ReplayReport::default();
    let mut selection = Selection::default();
    for (line, entry) in lines {
        match &entry.event {
            TraceEvent::PowerOn { atr } | TraceEvent::Reset { atr } => {
                // A warm reset and a cold power-on leave the card in the same state; the
                // transport only offers the cold one.
                let _ = transport.disconnect();
                selection = Selection::default();
                let answer = transport.connect();
                report.atrs += 1;
                let replayed = match &answer {
                    Ok(bytes) => hex::encode_upper(bytes),
                    Err(error) => format!("no ATR ({error})"),
                };
                let recorded = atr.clone().unwrap_or_else(|| "no ATR".to_owned());
                if replayed != recorded {
                    report.divergences.push(Divergence {
                        line: *line,
                        command: "power on".to_owned(),
                        recorded,
                        replayed,
                    });
                }
            }
            TraceEvent::PowerOff | TraceEvent::Removed => {
                let _ = transport.disconnect();
                selection = Selection::default();
            }
            TraceEvent::Apdu {
                command,
                response,
                redacted,
                note,
                ..
            } => {
                // Answers that did not come from the card model (the emulation probe) are the
                // serving layer's, not the card's: nothing to compare.
                if note.is_some() {
                    continue;
                }
                report.commands += 1;
                let sent = match command_to_send(command, *redacted, response, &selection, pins) {
                    Ok(bytes) => bytes,
                    Err(reason) => {
                        report.divergences.push(Divergence {
                            line: *line,
                            command: command.clone(),
                            recorded: response.clone(),
                            replayed: format!("not replayed: {reason}"),
                        });
                        continue;
                    }
                };
                selection.follow(&sent);
                let replayed = match transport.transmit(&sent) {
                    Ok(bytes) => hex::encode_upper(bytes),
                    Err(error) => format!("error: {error}"),
                };
                if !replayed.eq_ignore_ascii_case(response) {
                    report.divergences.push(Divergence {
                        line: *line,
                        command: command.clone(),
                        recorded: response.clone(),
                        replayed,
                    });
                }
            }
            TraceEvent::Start { .. }
            | TraceEvent::Inserted
            | TraceEvent::LinkUp { .. }
            | TraceEvent::LinkDown { .. }
            | TraceEvent::FramingError { .. }
            | TraceEvent::Stop => {}
        }
    }
    report
}

/// The bytes to send for a recorded command, substituting a PIN where the recording hid it.
fn command_to_send(
    command: &str,
    redacted: bool,
    recorded_response: &str,
    selection: &Selection,
    pins: &PinsSpec,
) -> Result<Vec<u8>, String> {
    if !redacted {
        return parse_hex(command).map_err(|error| format!("bad hex in the transcript: {error}"));
    }
    let header = command
        .get(..8)
        .ok_or("a redacted command shorter than its header")?;
    let header =
        parse_hex(header).map_err(|error| format!("bad hex in the transcript: {error}"))?;
    if header[1] != 0x20 {
        return Err(
            "the new PIN of a redacted PIN change is unknown; record with --record-pins".to_owned(),
        );
    }
    let hidden_len = command.matches("XX").count();
    let slot = selection
        .pin
        .ok_or("a redacted VERIFY whose PIN EF the trace never selected")?;
    let right: &[u8] = match slot {
        PinSlot::Auth => pins.auth_or_default(),
        PinSlot::Signing => pins.signing_or_default(),
        PinSlot::Text => pins.text_or_default(),
    };
    let pin = if recorded_response.eq_ignore_ascii_case("9000") {
        right.to_vec()
    } else {
        wrong_pin(right, hidden_len)
    };
    let length = u8::try_from(pin.len()).map_err(|_| "a PIN longer than 255 bytes")?;
    let mut bytes = header;
    bytes.push(length);
    bytes.extend_from_slice(&pin);
    Ok(bytes)
}

/// A PIN of `length` characters that differs from `right` in every position it shares with it.
fn wrong_pin(right: &[u8], length: usize) -> Vec<u8> {
    (0..length)
        .map(|position| match right.get(position) {
            Some(b'9') => b'0',
            Some(b'Z') => b'A',
            Some(byte) => byte + 1,
            None => b'0',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_pin_differs_everywhere_and_keeps_the_length() {
        assert_eq!(wrong_pin(b"1239", 4), b"2340".to_vec());
        assert_eq!(wrong_pin(b"ABZ9", 4), b"BCA0".to_vec());
        assert_eq!(wrong_pin(b"12", 4), b"2300".to_vec());
    }

    #[test]
    fn redacted_verify_uses_the_selected_pin_for_a_recorded_success_only() {
        let mut selection = Selection::default();
        selection.follow(&[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0x01,
        ]);
        selection.follow(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x1B]);
        let pins = PinsSpec::default();
        let right = command_to_send("0020008006XXXXXXXXXXXX", true, "9000", &selection, &pins);
        assert_eq!(right, Ok(b"\x00\x20\x00\x80\x06ABC123".to_vec()));
        let wrong = command_to_send("0020008004XXXXXXXX", true, "63C4", &selection, &pins);
        assert_eq!(wrong, Ok(b"\x00\x20\x00\x80\x04BCD2".to_vec()));
    }

    #[test]
    fn redacted_commands_that_cannot_be_reproduced_are_refused() {
        let pins = PinsSpec::default();
        let unselected = command_to_send(
            "0020008004XXXXXXXX",
            true,
            "9000",
            &Selection::default(),
            &pins,
        );
        assert!(unselected.is_err_and(|reason| reason.contains("never selected")));
        let change = command_to_send(
            "0024018004XXXXXXXX",
            true,
            "9000",
            &Selection::default(),
            &pins,
        );
        assert!(change.is_err_and(|reason| reason.contains("--record-pins")));
    }
}

//! The one redaction: how a command is shown or written with its secret bytes (PIN, password,
//! 照合番号) hidden. Which bytes are secret is the APDU vocabulary's answer
//! ([`crate::apdu::secret_range`]); secrets stay in memory and are hidden only here, when a
//! command is rendered or written, unless the user asked to keep them.

use std::ops::Range;

use crate::apdu::{secret_range, to_spaced_hex};

use serde::{Deserialize, Serialize};

/// Whether PIN bytes were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinRecording {
    /// PIN bytes are replaced in the transcript (the default).
    Redacted,
    /// PIN bytes are kept as sent (asked for with `--show-pins`).
    Kept,
}

/// Marks one redacted byte in a hex dump. Not a hex digit on purpose, so a replayer cannot
/// mistake a redacted PIN for a real one.
pub(crate) const REDACTED_BYTE: &str = "XX";

/// The bytes to hide in `capdu`: its secret, when `redact` is set.
fn hidden(capdu: &[u8], redact: bool) -> Option<Range<usize>> {
    redact.then(|| secret_range(capdu)).flatten()
}

/// Upper-case hex of `capdu` with the PIN bytes replaced by [`REDACTED_BYTE`] when
/// `redact` is set; the second value says whether anything was replaced.
pub(crate) fn command_hex(capdu: &[u8], redact: bool) -> (String, bool) {
    match hidden(capdu, redact) {
        None => (hex::encode_upper(capdu), false),
        Some(range) => {
            let mut text = hex::encode_upper(&capdu[..range.start]);
            text.push_str(&REDACTED_BYTE.repeat(range.len()));
            text.push_str(&hex::encode_upper(&capdu[range.end..]));
            (text, true)
        }
    }
}

/// Spaced hex of `capdu` as a report shows it: `00 20 00 80 04 [4 PIN bytes redacted]`.
pub(crate) fn command_text(capdu: &[u8], redact: bool) -> String {
    match hidden(capdu, redact) {
        None => to_spaced_hex(capdu),
        Some(range) => format!(
            "{} [{} PIN bytes redacted] {}",
            to_spaced_hex(&capdu[..range.start]),
            range.len(),
            to_spaced_hex(&capdu[range.end..])
        )
        .trim_end()
        .to_owned(),
    }
}

/// Reads back a command written by [`command_hex`]: the bytes, with `00` where the secret was,
/// and the range that was hidden.
pub(crate) fn parse_command_hex(
    text: &str,
) -> Result<(Vec<u8>, Option<Range<usize>>), hex::FromHexError> {
    if !text.contains(REDACTED_BYTE) {
        return Ok((hex::decode(text)?, None));
    }
    let bytes = hex::decode(text.replace(REDACTED_BYTE, "00"))?;
    let first = text.find(REDACTED_BYTE).unwrap_or(0) / 2;
    let count = text.matches(REDACTED_BYTE).count();
    Ok((bytes, Some(first..first + count)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_pin_is_replaced_but_header_and_length_stay() {
        let verify = [0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4'];
        assert_eq!(
            command_hex(&verify, true),
            ("0020008004XXXXXXXX".to_string(), true)
        );
        assert_eq!(
            command_hex(&verify, false),
            ("002000800431323334".to_string(), false)
        );
        assert_eq!(
            command_text(&verify, true),
            "00 20 00 80 04 [4 PIN bytes redacted]"
        );
        assert_eq!(command_text(&verify, false), "00 20 00 80 04 31 32 33 34");
    }

    #[test]
    fn change_reference_data_and_extended_forms_are_redacted() {
        let change = [0x00, 0x24, 0x01, 0x80, 0x02, 0x41, 0x42];
        assert_eq!(command_hex(&change, true).0, "0024018002XXXX");
        let extended = [
            0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x02, 0x35, 0x36, 0x00, 0x00,
        ];
        assert_eq!(command_hex(&extended, true).0, "00200080000002XXXX0000");
        assert_eq!(
            parse_command_hex("00200080000002XXXX0000").unwrap(),
            (
                vec![0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x02, 0, 0, 0x00, 0x00],
                Some(7..9)
            )
        );
    }

    #[test]
    fn other_commands_and_retry_query_are_kept() {
        assert_eq!(
            command_hex(&[0x00, 0x20, 0x00, 0x80], true),
            ("00200080".to_string(), false)
        );
        let sign = [0x80, 0x2A, 0x00, 0x80, 0x02, 0x30, 0x31, 0x00];
        assert_eq!(
            command_hex(&sign, true),
            ("802A008002303100".to_string(), false)
        );
        let select = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
        assert!(!command_hex(&select, true).1);
    }
}

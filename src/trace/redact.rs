//! The one redaction: how a command is shown or written with its secret bytes (PIN, password,
//! 照合番号) hidden. Secrets stay in memory and are hidden only here, when a command is
//! rendered or written, unless the user asked to keep them.
//!
//! What is hidden errs on the side of hiding: every command that looks like it could carry a
//! secret — VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER or CHANGE KEY in any class
//! (a proprietary `80` VERIFY too), and every ENVELOPE (whose data may be a wrapped VERIFY, or
//! a piece of one) — has its data field hidden when its lengths add up, and every byte after
//! the four header bytes when they do not (a malformed VERIFY's Lc cannot be trusted to say
//! where its PIN ends). The one exception is a secure-messaging cryptogram (an interindustry
//! class with SM bits whose data is an SM data object): see [`crate::apdu::secret_range`] for
//! why it is kept.

use std::ops::Range;

use crate::apdu::ins::{
    INS_CHANGE_KEY, INS_CHANGE_REFERENCE_DATA, INS_RESET_RETRY_COUNTER, INS_VERIFY,
};
use crate::apdu::{to_spaced_hex, Command};

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

/// VERIFY with an odd instruction byte (ISO/IEC 7816-4: its data is a BER-TLV
/// object, which may hold the PIN).
const INS_VERIFY_ODD: u8 = 0x21;
/// ENVELOPE, even and odd (ISO/IEC 7816-4): its data is (a piece of) another command,
/// perhaps a VERIFY.
const INS_ENVELOPE: [u8; 2] = [0xC2, 0xC3];
/// The tags a secure-messaging data object starts with (ISO/IEC 7816-4: context-specific
/// class, `80`–`BF`; the text AP's `86` cryptogram and `96` expected length,
/// docs/spec/card-measured.md §6.10). A PIN (digits, letters) never starts so.
const SM_DATA_OBJECT_TAGS: std::ops::RangeInclusive<u8> = 0x80..=0xBF;

/// Whether `cla` is an interindustry class with secure-messaging bits (`08`, `0C` …).
pub(crate) fn secure_messaging_class(cla: u8) -> bool {
    cla & 0x80 == 0 && cla & 0x0C != 0
}

/// Whether `ins` may carry a secret, in whatever class.
pub(crate) fn may_carry_secret(ins: u8) -> bool {
    matches!(
        ins,
        INS_VERIFY
            | INS_VERIFY_ODD
            | INS_CHANGE_REFERENCE_DATA
            | INS_RESET_RETRY_COUNTER
            | INS_CHANGE_KEY
    ) || INS_ENVELOPE.contains(&ins)
}

/// The bytes of `capdu` to hide: the data field of anything that may carry a secret, or every
/// byte after the header when its lengths do not add up.
pub(crate) fn secret_bytes(capdu: &[u8]) -> Option<Range<usize>> {
    let [cla, ins, ..] = capdu else { return None };
    if !may_carry_secret(*ins) {
        return None;
    }
    match Command::parse(capdu) {
        Ok(command) if command.data.is_empty() => None,
        Ok(command)
            if secure_messaging_class(*cla) && SM_DATA_OBJECT_TAGS.contains(&command.data[0]) =>
        {
            None
        }
        Ok(command) => {
            let start = if command.extended { 7 } else { 5 };
            Some(start..start + command.data.len())
        }
        Err(_) => (capdu.len() > 4).then_some(4..capdu.len()),
    }
}

/// The bytes to hide in `capdu`: its secret, when `redact` is set.
fn hidden(capdu: &[u8], redact: bool) -> Option<Range<usize>> {
    redact.then(|| secret_bytes(capdu)).flatten()
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

/// A command as a transcript wrote it (hex, `XX` where hidden), hidden again unless `pins`
/// keeps it: a trace recorded with `--record-pins` is shown without its PINs. Text that is
/// not hex is returned as it is.
pub(crate) fn recorded_command_hex(text: &str, pins: PinRecording) -> String {
    match parse_command_hex(text) {
        Ok((bytes, None)) => command_hex(&bytes, pins == PinRecording::Redacted).0,
        _ => text.to_owned(),
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
    fn malformed_and_disguised_verifies_hide_every_byte_after_the_header() {
        // Lc says 2, four PIN bytes follow: all four (and the untrustworthy Lc) hidden.
        let longer = [0x00, 0x20, 0x00, 0x80, 0x02, 0x39, 0x38, 0x37, 0x36];
        assert_eq!(command_hex(&longer, true).0, "00200080XXXXXXXXXX");
        // An extended-length marker with no valid length after it.
        let zero = [0x00, 0x20, 0x00, 0x80, 0x00, 0x39, 0x38, 0x37, 0x36];
        assert_eq!(command_hex(&zero, true).0, "00200080XXXXXXXXXX");
        // A proprietary-class VERIFY.
        let proprietary = [0x80, 0x20, 0x00, 0x80, 0x04, 0x39, 0x38, 0x37, 0x36];
        assert_eq!(command_hex(&proprietary, true).0, "8020008004XXXXXXXX");
        // A VERIFY wrapped in ENVELOPE.
        let envelope = [
            0x00, 0xC2, 0x00, 0x00, 0x09, 0x00, 0x20, 0x00, 0x80, 0x04, 0x39, 0x38, 0x37, 0x36,
        ];
        assert_eq!(
            command_hex(&envelope, true).0,
            "00C2000009XXXXXXXXXXXXXXXXXX"
        );
        // A VERIFY whose lengths add up but arrives with a secure-messaging class and plain
        // digits (no SM data object): hidden, not taken for a cryptogram.
        let plain_sm = [0x08, 0x20, 0x00, 0x80, 0x04, 0x39, 0x38, 0x37, 0x36];
        assert_eq!(command_hex(&plain_sm, true).0, "0820008004XXXXXXXX");
        // A real cryptogram object is kept, as the replay needs it, and so is an SM Le object.
        let cryptogram = [0x08, 0x20, 0x00, 0x80, 0x04, 0x86, 0x02, 0x01, 0xAA];
        assert!(!command_hex(&cryptogram, true).1);
        let expected_length = [0x08, 0x20, 0x00, 0x94, 0x05, 0x96, 0x03, 0x00, 0x00, 0x00];
        assert!(!command_hex(&expected_length, true).1);
        for (command, hidden) in [
            (&longer[..], 5),
            (&zero, 5),
            (&proprietary, 4),
            (&envelope, 9),
        ] {
            let text = command_text(command, true);
            assert!(
                text.contains(&format!("[{hidden} PIN bytes redacted]")),
                "{text}"
            );
            assert!(!text.contains("39 38"), "{text}");
        }
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

//! PIN redaction: the data field of commands that carry a PIN or password is never written to a
//! transcript unless the user explicitly asks for it.

/// Marks one redacted byte in a hex dump. Not a hex digit on purpose, so a replayer cannot
/// mistake a redacted PIN for a real one.
pub const REDACTED_BYTE: &str = "XX";

/// Whether `capdu` carries a PIN, password or new reference data in its data field:
/// VERIFY (20/21), CHANGE REFERENCE DATA (24), RESET RETRY COUNTER (2C), interindustry class.
pub fn carries_pin(capdu: &[u8]) -> bool {
    match capdu {
        [cla, ins, ..] => cla & 0x80 == 0 && matches!(ins, 0x20 | 0x21 | 0x24 | 0x2C),
        _ => false,
    }
}

/// Where the data field of a C-APDU lies (`start..end`), if it has one: short Lc (byte 4,
/// non-zero) or extended Lc (`00 hi lo`).
pub fn data_field(capdu: &[u8]) -> Option<std::ops::Range<usize>> {
    if capdu.len() <= 5 {
        return None;
    }
    let (start, length) = match capdu[4] {
        0 if capdu.len() >= 7 => (7, usize::from(u16::from_be_bytes([capdu[5], capdu[6]]))),
        0 => return None,
        short => (5, usize::from(short)),
    };
    let end = (start + length).min(capdu.len());
    (start < end).then_some(start..end)
}

/// Upper-case hex of `capdu` with the PIN bytes replaced by [`REDACTED_BYTE`] when
/// `redact` is set; the second value says whether anything was replaced.
pub fn command_hex(capdu: &[u8], redact: bool) -> (String, bool) {
    let secret = if redact && carries_pin(capdu) {
        data_field(capdu)
    } else {
        None
    };
    match secret {
        None => (hex::encode_upper(capdu), false),
        Some(range) => {
            let mut text = hex::encode_upper(&capdu[..range.start]);
            text.push_str(&REDACTED_BYTE.repeat(range.len()));
            text.push_str(&hex::encode_upper(&capdu[range.end..]));
            (text, true)
        }
    }
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
    }

    #[test]
    fn change_reference_data_and_extended_forms_are_redacted() {
        let change = [0x00, 0x24, 0x01, 0x80, 0x02, 0x41, 0x42];
        assert_eq!(command_hex(&change, true).0, "0024018002XXXX");
        let extended = [
            0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x02, 0x35, 0x36, 0x00, 0x00,
        ];
        assert_eq!(command_hex(&extended, true).0, "00200080000002XXXX0000");
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

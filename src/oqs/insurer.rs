//! 保険者番号 as clients write them and as results carry them (docs/spec/oqs-xml.md §5).
//!
//! Numbers have 8 digits (法別番号 2 + 都道府県 2 + 保険者 3 + check digit 1) or 6 (市町村国保,
//! 国保組合). Clients write a 6-digit number padded with spaces (`  123456`, as the spec asks),
//! unpadded, or padded with zeros (`00123456`, one EMR's Web API queries). No 8-digit number
//! starts with `00` (there is no 法別番号 00), so a zero-padded number is read as the 6-digit
//! one. Results write 8 characters, short numbers left-padded with spaces.

/// The number in its canonical form (6 or 8 ASCII digits), or why `text` is not one.
pub(crate) fn canonical_insurer_number(text: &str) -> Result<String, String> {
    let trimmed = text.trim_matches(|c: char| c == ' ' || c == '\u{3000}' || c == '\t');
    let digits = trimmed.bytes().all(|b| b.is_ascii_digit());
    match trimmed.len() {
        8 if digits && trimmed.starts_with("00") => Ok(trimmed[2..].to_owned()),
        6 | 8 if digits => Ok(trimmed.to_owned()),
        _ => Err(format!(
            "an insurer number (保険者番号) has 8 ASCII digits, or 6 (市町村国保, 国保組合; may be padded to 8 with spaces or zeros), got {text:?}"
        )),
    }
}

/// The number as a result writes it: 8 characters, a 6-digit number after two spaces.
pub(crate) fn written_insurer_number(canonical: &str) -> String {
    format!("{canonical:>8}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digit_numbers_are_read_in_every_padding_clients_use() {
        for written in ["123456", "  123456", "00123456", " 123456 "] {
            assert_eq!(canonical_insurer_number(written).as_deref(), Ok("123456"));
        }
        assert_eq!(
            canonical_insurer_number("06139999").as_deref(),
            Ok("06139999")
        );
        assert_eq!(
            canonical_insurer_number("39131015").as_deref(),
            Ok("39131015")
        );
        for bad in [
            "",
            "12345",
            "1234567",
            "123456789",
            "12345A",
            "1 23456",
            "０６１３９９９９",
        ] {
            assert!(canonical_insurer_number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn results_pad_six_digit_numbers_with_spaces() {
        assert_eq!(written_insurer_number("123456"), "  123456");
        assert_eq!(written_insurer_number("06139999"), "06139999");
    }
}

//! The APDU vocabulary: ISO 7816-4 command and response APDUs, status words, short and
//! extended parsing ([`Command`]), the instructions the card and its clients use ([`ins`]),
//! the AIDs and file IDs ([`ids`]), the commands the harness sends ([`build`]) and what a
//! command means — secret, try, card change, selection ([`meaning`]). No other module but the
//! card decodes command bytes.
//!
//! Parsing borrows from the input buffer and never allocates: the card answers more than a
//! million non-crypto APDUs per second and this is on that path.

use std::fmt;

pub mod build;
pub(crate) mod ids;
pub(crate) mod ins;
pub(crate) mod meaning;

pub use ids::SELECTABLE_AIDS;
pub(crate) use ins::Instruction;
pub(crate) use meaning::CardChange;
pub(crate) use meaning::SecretKind;
pub(crate) use meaning::Selection;
pub(crate) use meaning::Target;
pub use meaning::{card_change, secret_range};

/// A status word (SW1 SW2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

/// What an answer to a VERIFY or the retry-counter query says about the PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinStatus {
    Verified,
    /// `63 Cx` with x > 0.
    TriesLeft(u8),
    /// `63 C0`, `69 84` or `69 83`. `69 84` is read as blocked, never as "4 tries left"
    /// (the OpenSC misreading of docs/spec/card-apdu.md §4).
    Blocked,
}

impl StatusWord {
    pub(crate) const SUCCESS: StatusWord = StatusWord(0x9000);
    pub(crate) const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    pub(crate) const LOGICAL_CHANNEL_NOT_SUPPORTED: StatusWord = StatusWord(0x6881);
    pub(crate) const SECURE_MESSAGING_NOT_SUPPORTED: StatusWord = StatusWord(0x6882);
    pub(crate) const CHAINING_NOT_SUPPORTED: StatusWord = StatusWord(0x6884);
    /// `66 F1`: the application has no session-key delivery configured (docs/spec/card-measured.md §1.6).
    pub(crate) const SECURITY_ENVIRONMENT_FAULTY: StatusWord = StatusWord(0x66F1);
    pub(crate) const INCOMPATIBLE_FILE_STRUCTURE: StatusWord = StatusWord(0x6981);
    pub(crate) const SECURITY_STATUS_NOT_SATISFIED: StatusWord = StatusWord(0x6982);
    pub(crate) const AUTHENTICATION_METHOD_BLOCKED: StatusWord = StatusWord(0x6983);
    pub(crate) const REFERENCE_DATA_NOT_USABLE: StatusWord = StatusWord(0x6984);
    pub(crate) const CONDITIONS_OF_USE_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    pub(crate) const COMMAND_NOT_ALLOWED_NO_EF: StatusWord = StatusWord(0x6986);
    /// `69 87`: expected secure-messaging data objects missing.
    pub(crate) const SM_DATA_OBJECTS_MISSING: StatusWord = StatusWord(0x6987);
    /// `69 88`: secure-messaging data objects incorrect (including a failed unpadding).
    pub(crate) const SM_DATA_OBJECTS_INCORRECT: StatusWord = StatusWord(0x6988);
    /// `69 FC`: how some cards refuse a secure-messaging CLA **[RE]**.
    pub(crate) const SECURE_MESSAGING_REFUSED_PROPRIETARY: StatusWord = StatusWord(0x69FC);
    pub(crate) const WRONG_DATA: StatusWord = StatusWord(0x6A80);
    pub(crate) const FUNCTION_NOT_SUPPORTED: StatusWord = StatusWord(0x6A81);
    pub(crate) const FILE_NOT_FOUND: StatusWord = StatusWord(0x6A82);
    pub(crate) const RECORD_NOT_FOUND: StatusWord = StatusWord(0x6A83);
    pub(crate) const INCORRECT_P1_P2: StatusWord = StatusWord(0x6A86);
    pub(crate) const REFERENCE_DATA_NOT_FOUND: StatusWord = StatusWord(0x6A88);
    pub(crate) const WRONG_P1_P2_OFFSET: StatusWord = StatusWord(0x6B00);
    pub(crate) const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);
    pub(crate) const CLA_NOT_SUPPORTED: StatusWord = StatusWord(0x6E00);
    pub(crate) const NO_PRECISE_DIAGNOSIS: StatusWord = StatusWord(0x6F00);

    /// `63 Cx`: verification failed or queried, `x` tries left (capped at 15).
    pub(crate) const fn tries_left(tries: u8) -> StatusWord {
        let x = if tries > 0x0F { 0x0F } else { tries };
        StatusWord(0x63C0 | x as u16)
    }

    /// `61 xx`: `xx` more bytes available through GET RESPONSE (`00` = 256 or more).
    pub(crate) const fn bytes_available(count: usize) -> StatusWord {
        StatusWord(0x6100 | (if count >= 256 { 0 } else { count as u16 }))
    }

    /// `6C xx`: wrong Le, the exact length is `xx` (`00` = 256).
    pub(crate) const fn exact_length(count: usize) -> StatusWord {
        StatusWord(0x6C00 | (if count >= 256 { 0 } else { count as u16 }))
    }

    pub(crate) const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    pub(crate) const fn sw2(self) -> u8 {
        (self.0 & 0xFF) as u8
    }

    pub(crate) const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    pub(crate) fn is_success(self) -> bool {
        self == Self::SUCCESS
    }

    /// Tries left when this is a `63 Cx`.
    pub(crate) fn retry_count(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then_some((self.0 & 0x0F) as u8)
    }

    /// What this answer to a VERIFY (or the retry-counter query) says about the PIN; `None`
    /// when it says nothing about it (a wrong file, security status, …).
    pub(crate) fn pin_status(self) -> Option<PinStatus> {
        match self {
            Self::SUCCESS => Some(PinStatus::Verified),
            Self::AUTHENTICATION_METHOD_BLOCKED | Self::REFERENCE_DATA_NOT_USABLE => {
                Some(PinStatus::Blocked)
            }
            _ => match self.retry_count()? {
                0 => Some(PinStatus::Blocked),
                tries => Some(PinStatus::TriesLeft(tries)),
            },
        }
    }

    /// `61 xx`: the answer continues through GET RESPONSE.
    pub(crate) fn is_bytes_available(self) -> bool {
        self.sw1() == 0x61
    }

    /// `6C xx`: the command asked for the wrong Le; `xx` is the right one.
    pub(crate) fn is_exact_length_hint(self) -> bool {
        self.sw1() == 0x6C
    }

    /// The command succeeded and its data (or its first part) came back: `90 00` or `61 xx`.
    pub(crate) fn delivers_data(self) -> bool {
        self.is_success() || self.is_bytes_available()
    }

    /// Reads the status word from the end of an R-APDU.
    pub(crate) fn from_rapdu(rapdu: &[u8]) -> Option<StatusWord> {
        match rapdu {
            [.., sw1, sw2] => Some(StatusWord(u16::from_be_bytes([*sw1, *sw2]))),
            _ => None,
        }
    }

    /// A short human explanation (for transcripts and failure messages).
    pub(crate) fn meaning(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6282 => "end of file reached",
            0x6700 => "wrong length",
            0x6881 => "logical channel not supported",
            0x6882 => "secure messaging not supported",
            0x6884 => "command chaining not supported",
            0x66F1 => "security environment faulty (no session-key delivery)",
            0x6981 => "command incompatible with file structure",
            0x6982 => "security status not satisfied",
            0x6983 => "authentication method blocked",
            0x6984 => "reference data not usable (blocked)",
            0x6985 => "conditions of use not satisfied",
            0x6986 => "command not allowed (no current EF)",
            0x6987 => "expected secure-messaging data objects missing",
            0x6988 => "secure-messaging data objects incorrect",
            0x69FC => "secure messaging refused (no session)",
            0x6A80 => "incorrect data",
            0x6A81 => "function not supported",
            0x6A82 => "file or application not found",
            0x6A83 => "record not found",
            0x6A86 => "incorrect P1 P2",
            0x6A88 => "referenced data not found",
            0x6B00 => "offset beyond end of file",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x6F00 => "no precise diagnosis",
            sw if sw & 0xFFF0 == 0x63C0 => "verification failed / tries left",
            sw if sw & 0xFF00 == 0x6100 => "more response bytes available",
            sw if sw & 0xFF00 == 0x6C00 => "wrong Le, exact length given",
            _ => "unknown status",
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X}", self.sw1(), self.sw2())
    }
}

/// The ISO 7816-3 case of a command: whether it carries data and/or expects data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApduCase {
    /// No data, no Le.
    Case1,
    /// Le only.
    Case2,
    /// Lc + data.
    Case3,
    /// Lc + data + Le.
    Case4,
}

/// A parsed C-APDU borrowing its data from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    pub(crate) cla: u8,
    pub(crate) ins: u8,
    pub(crate) p1: u8,
    pub(crate) p2: u8,
    pub(crate) data: &'a [u8],
    /// Expected response length with `00` / `00 00` already turned into 256 / 65536.
    pub(crate) le: Option<usize>,
    pub(crate) extended: bool,
    pub(crate) case: ApduCase,
}

impl<'a> Command<'a> {
    /// Parses a short or extended C-APDU. The error is the status word a card answers with.
    pub fn parse(bytes: &'a [u8]) -> Result<Command<'a>, StatusWord> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        let header = |data: &'a [u8], le: Option<usize>, extended: bool, case: ApduCase| Command {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            p2: *p2,
            data,
            le,
            extended,
            case,
        };
        let short_le = |byte: u8| if byte == 0 { 256 } else { usize::from(byte) };
        let extended_le = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
            0 => 65536,
            n => usize::from(n),
        };
        match body {
            [] => Ok(header(&[], None, false, ApduCase::Case1)),
            [le] => Ok(header(&[], Some(short_le(*le)), false, ApduCase::Case2)),
            [0, hi, lo] => Ok(header(
                &[],
                Some(extended_le(*hi, *lo)),
                true,
                ApduCase::Case2,
            )),
            [0, lc_hi, lc_lo, rest @ ..] if body.len() > 3 => {
                let lc = usize::from(u16::from_be_bytes([*lc_hi, *lc_lo]));
                if lc == 0 {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                match rest.len().checked_sub(lc) {
                    Some(0) => Ok(header(rest, None, true, ApduCase::Case3)),
                    Some(2) => {
                        let (data, le) = rest.split_at(lc);
                        Ok(header(
                            data,
                            Some(extended_le(le[0], le[1])),
                            true,
                            ApduCase::Case4,
                        ))
                    }
                    _ => Err(StatusWord::WRONG_LENGTH),
                }
            }
            [lc, rest @ ..] if *lc != 0 => {
                let lc = usize::from(*lc);
                match rest.len().checked_sub(lc) {
                    Some(0) => Ok(header(rest, None, false, ApduCase::Case3)),
                    Some(1) => {
                        let (data, le) = rest.split_at(lc);
                        Ok(header(data, Some(short_le(le[0])), false, ApduCase::Case4))
                    }
                    _ => Err(StatusWord::WRONG_LENGTH),
                }
            }
            _ => Err(StatusWord::WRONG_LENGTH),
        }
    }
}

/// Builds an R-APDU: `data` followed by the status word.
pub(crate) fn response(data: &[u8], sw: StatusWord) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(&sw.to_bytes());
    out
}

/// Parses hex with optional whitespace (`"00 A4 04 0C"`), as written in scenarios and traces.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(compact)
}

/// Formats bytes as spaced upper-case hex (`"90 00"`).
pub fn to_spaced_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (n, byte) in bytes.iter().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_answers_are_never_read_as_tries_left() {
        let status = |sw: u16| StatusWord(sw).pin_status();
        assert_eq!(status(0x6984), Some(PinStatus::Blocked));
        assert_eq!(status(0x6983), Some(PinStatus::Blocked));
        assert_eq!(status(0x63C0), Some(PinStatus::Blocked));
        assert_eq!(status(0x63C2), Some(PinStatus::TriesLeft(2)));
        assert_eq!(status(0x9000), Some(PinStatus::Verified));
        assert_eq!(status(0x6982), None);
        assert!(StatusWord::bytes_available(12).is_bytes_available());
        assert!(StatusWord::exact_length(12).is_exact_length_hint());
        assert!(StatusWord::bytes_available(12).delivers_data());
        assert!(!StatusWord::WRONG_P1_P2_OFFSET.delivers_data());
    }

    #[test]
    fn case1_and_case2_short() {
        let c = Command::parse(&[0x00, 0x20, 0x00, 0x80]).unwrap();
        assert_eq!((c.case, c.le, c.data.len()), (ApduCase::Case1, None, 0));
        let c = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(
            (c.case, c.le, c.extended),
            (ApduCase::Case2, Some(256), false)
        );
        let c = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0xFF]).unwrap();
        assert_eq!(c.le, Some(255));
    }

    #[test]
    fn case3_and_case4_short() {
        let c = Command::parse(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]).unwrap();
        assert_eq!(
            (c.case, c.data, c.le),
            (ApduCase::Case3, &[0x00, 0x0A][..], None)
        );
        let c = Command::parse(&[0x80, 0x2A, 0x00, 0x80, 0x01, 0xAB, 0x00]).unwrap();
        assert_eq!(
            (c.case, c.data, c.le),
            (ApduCase::Case4, &[0xAB][..], Some(256))
        );
    }

    #[test]
    fn extended_cases() {
        let c = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(
            (c.case, c.le, c.extended),
            (ApduCase::Case2, Some(65536), true)
        );
        let c = Command::parse(&[0x00, 0x2A, 0x00, 0x80, 0x00, 0x00, 0x02, 1, 2]).unwrap();
        assert_eq!(
            (c.case, c.data, c.extended),
            (ApduCase::Case3, &[1, 2][..], true)
        );
        let c = Command::parse(&[0x00, 0x2A, 0x00, 0x80, 0x00, 0x00, 0x01, 9, 0x01, 0x00]).unwrap();
        assert_eq!(
            (c.case, c.data, c.le),
            (ApduCase::Case4, &[9][..], Some(256))
        );
    }

    #[test]
    fn malformed_lengths_are_wrong_length() {
        for bad in [
            &[][..],
            &[0x00, 0xA4, 0x04][..],
            &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00][..],
            &[0x00, 0xA4, 0x02, 0x0C, 0x01, 0x00, 0x0A, 0x00, 0x00][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01][..],
        ] {
            assert_eq!(
                Command::parse(bad),
                Err(StatusWord::WRONG_LENGTH),
                "{bad:02X?}"
            );
        }
    }

    #[test]
    fn status_word_helpers() {
        assert_eq!(StatusWord::tries_left(3).to_bytes(), [0x63, 0xC3]);
        assert_eq!(StatusWord(0x63C2).retry_count(), Some(2));
        assert_eq!(StatusWord(0x6984).retry_count(), None);
        assert_eq!(StatusWord::bytes_available(300).to_bytes(), [0x61, 0x00]);
        assert_eq!(StatusWord::exact_length(17).to_bytes(), [0x6C, 0x11]);
        assert_eq!(
            StatusWord::from_rapdu(&[1, 0x90, 0x00]),
            Some(StatusWord::SUCCESS)
        );
        assert_eq!(parse_hex("00 a4\n04").unwrap(), vec![0, 0xA4, 4]);
        assert_eq!(to_spaced_hex(&[0x90, 0]), "90 00");
    }
}

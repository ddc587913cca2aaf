//! Hex byte strings and patterns as scenarios write them.
//!
//! A pattern is a sequence of tokens: a byte whose nibbles may each be `?` (any nibble), or `*`
//! (any run of zero or more bytes). Whitespace between tokens is ignored, so `"30 82 ?? ?? *"`,
//! `"3082????*"` and `"63C?"` are all patterns. Commands (`send:`) are plain hex: no wildcards.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::apdu::to_spaced_hex;

/// Why a hex string or pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A character that is neither a hex digit nor a wildcard.
    #[error("{text:?}: `{found}` is not a hex digit, `?` or `*`")]
    BadCharacter {
        /// The pattern as written.
        text: String,
        /// The offending character.
        found: char,
    },
    /// An odd number of hex digits.
    #[error("{text:?}: odd number of hex digits (every byte needs two, e.g. `0A`, `?A`, `??`)")]
    OddDigits {
        /// The pattern as written.
        text: String,
    },
    /// A wildcard in a command, which must be exact bytes.
    #[error("{text:?}: wildcards (`?`, `*`) are only allowed in expectations, not in a command")]
    WildcardInCommand {
        /// The pattern as written.
        text: String,
    },
    /// A status word that is not four hex digits or wildcards.
    #[error("{text:?}: a status word is exactly 4 hex digits or `?`, e.g. \"9000\" or \"63C?\"")]
    StatusWordShape {
        /// The pattern as written.
        text: String,
    },
    /// A `{name}` that is not one of the card's secrets.
    #[error("{text:?}: `{{{name}}}` is not a secret of the card; a command may name one of {{auth_pin}}, {{signing_password}}, {{text_pin}}, {{collation_a}}, {{collation_b}}, {{birth_date_key}}")]
    UnknownSecret {
        /// The pattern as written.
        text: String,
        /// The secret named.
        name: String,
    },
}

/// One token of a [`BytePattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A byte that matches when `(actual & mask) == value`.
    Byte { value: u8, mask: u8 },
    /// Any run of zero or more bytes.
    AnyRun,
}

/// A pattern over a byte string: exact bytes, nibble wildcards and `*` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytePattern {
    tokens: Vec<Token>,
}

impl BytePattern {
    /// True when `bytes` matches the whole pattern.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        // Classic wildcard matching with single-point backtracking to the last `*`: linear in
        // practice and never exponential, which matters for multi-kilobyte certificate reads.
        let (mut t, mut b) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while b < bytes.len() {
            match self.tokens.get(t) {
                Some(Token::Byte { value, mask }) if bytes[b] & mask == *value => {
                    t += 1;
                    b += 1;
                }
                Some(Token::AnyRun) => {
                    star = Some((t, b));
                    t += 1;
                }
                _ => match star {
                    Some((star_t, star_b)) => {
                        t = star_t + 1;
                        b = star_b + 1;
                        star = Some((star_t, star_b + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[t..].iter().all(|token| *token == Token::AnyRun)
    }

    /// True when the pattern is exact bytes with no wildcard at all.
    pub(crate) fn is_exact(&self) -> bool {
        self.tokens
            .iter()
            .all(|token| matches!(token, Token::Byte { mask: 0xFF, .. }))
    }

    /// The exact bytes of a wildcard-free pattern.
    pub fn exact_bytes(&self) -> Option<Vec<u8>> {
        self.tokens
            .iter()
            .map(|token| match token {
                Token::Byte { value, mask: 0xFF } => Some(*value),
                _ => None,
            })
            .collect()
    }

    /// Smallest number of bytes a match needs (every `*` empty).
    pub(crate) fn min_len(&self) -> usize {
        self.tokens
            .iter()
            .filter(|token| matches!(token, Token::Byte { .. }))
            .count()
    }
}

fn nibble(c: char) -> Option<(u8, u8)> {
    if c == '?' {
        return Some((0, 0));
    }
    c.to_digit(16).map(|digit| (digit as u8, 0x0F))
}

impl FromStr for BytePattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut tokens = Vec::new();
        let mut pending: Option<(u8, u8)> = None;
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            if c == '*' {
                if pending.is_some() {
                    return Err(PatternError::OddDigits {
                        text: text.to_owned(),
                    });
                }
                // `**` means the same as `*`; keeping one avoids needless backtracking.
                if tokens.last() != Some(&Token::AnyRun) {
                    tokens.push(Token::AnyRun);
                }
                continue;
            }
            let Some((value, mask)) = nibble(c) else {
                return Err(PatternError::BadCharacter {
                    text: text.to_owned(),
                    found: c,
                });
            };
            match pending.take() {
                None => pending = Some((value, mask)),
                Some((high_value, high_mask)) => tokens.push(Token::Byte {
                    value: (high_value << 4) | value,
                    mask: (high_mask << 4) | mask,
                }),
            }
        }
        if pending.is_some() {
            return Err(PatternError::OddDigits {
                text: text.to_owned(),
            });
        }
        Ok(BytePattern { tokens })
    }
}

impl fmt::Display for BytePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, token) in self.tokens.iter().enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            match token {
                Token::AnyRun => f.write_str("*")?,
                Token::Byte { value, mask } => {
                    for shift in [4u8, 0] {
                        if (mask >> shift) & 0x0F == 0 {
                            f.write_str("?")?;
                        } else {
                            write!(f, "{:X}", (value >> shift) & 0x0F)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for BytePattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A status word pattern: 4 hex digits, each may be `?` (`"63C?"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwPattern {
    value: u16,
    mask: u16,
}

impl SwPattern {
    /// Whether the status word `sw` fits the pattern (wildcard nibbles match anything).
    pub fn matches(&self, sw: u16) -> bool {
        sw & self.mask == self.value
    }
}

impl FromStr for SwPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != 4 {
            return Err(PatternError::StatusWordShape {
                text: text.to_owned(),
            });
        }
        let (mut value, mut mask) = (0u16, 0u16);
        for c in digits {
            let (v, m) = nibble(c).ok_or(PatternError::StatusWordShape {
                text: text.to_owned(),
            })?;
            value = (value << 4) | u16::from(v);
            mask = (mask << 4) | u16::from(m);
        }
        Ok(SwPattern { value, mask })
    }
}

impl fmt::Display for SwPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for shift in [12u16, 8, 4, 0] {
            if shift == 4 {
                f.write_str(" ")?;
            }
            if (self.mask >> shift) & 0x0F == 0 {
                f.write_str("?")?;
            } else {
                write!(f, "{:X}", (self.value >> shift) & 0x0F)?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for SwPattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Plain hex bytes (a command): whitespace allowed, no wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HexBytes(pub Vec<u8>);

impl FromStr for HexBytes {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let pattern: BytePattern = text.parse()?;
        pattern
            .exact_bytes()
            .map(HexBytes)
            .ok_or(PatternError::WildcardInCommand {
                text: text.to_owned(),
            })
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A secret of the scenario's card a command can name instead of writing it
/// (`{auth_pin}` …): `trace to-scenario` writes these so that a generated scenario carries no
/// PIN; the loader fills in the card's own value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardSecret {
    AuthPin,
    SigningPassword,
    TextPin,
    CollationA,
    CollationB,
    BirthDateKey,
}

impl CardSecret {
    pub(crate) const ALL: [CardSecret; 6] = [
        CardSecret::AuthPin,
        CardSecret::SigningPassword,
        CardSecret::TextPin,
        CardSecret::CollationA,
        CardSecret::CollationB,
        CardSecret::BirthDateKey,
    ];

    /// The name written between braces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CardSecret::AuthPin => "auth_pin",
            CardSecret::SigningPassword => "signing_password",
            CardSecret::TextPin => "text_pin",
            CardSecret::CollationA => "collation_a",
            CardSecret::CollationB => "collation_b",
            CardSecret::BirthDateKey => "birth_date_key",
        }
    }
}

/// A command as a scenario writes it: hex bytes, one run of which may be a secret of the
/// scenario's card named in braces (`"00 20 00 80 04 {auth_pin}"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandDoc {
    pub(crate) before: Vec<u8>,
    pub(crate) secret: Option<CardSecret>,
    pub(crate) after: Vec<u8>,
}

impl FromStr for CommandDoc {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(open) = text.find('{') else {
            let HexBytes(before) = text.parse()?;
            return Ok(CommandDoc {
                before,
                secret: None,
                after: Vec::new(),
            });
        };
        let close = text[open..].find('}').map(|at| open + at).ok_or_else(|| {
            PatternError::UnknownSecret {
                text: text.to_owned(),
                name: text[open + 1..].to_owned(),
            }
        })?;
        let name = text[open + 1..close].trim();
        let secret = CardSecret::ALL
            .into_iter()
            .find(|secret| secret.name() == name)
            .ok_or_else(|| PatternError::UnknownSecret {
                text: text.to_owned(),
                name: name.to_owned(),
            })?;
        let HexBytes(before) = text[..open].parse()?;
        let HexBytes(after) = text[close + 1..].parse()?;
        Ok(CommandDoc {
            before,
            secret: Some(secret),
            after,
        })
    }
}

impl<'de> Deserialize<'de> for CommandDoc {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Like [`to_spaced_hex`] but elides the middle of long byte strings so reports stay readable.
pub(crate) fn spaced_hex_elided(bytes: &[u8], keep: usize) -> String {
    if bytes.len() <= keep * 2 {
        return to_spaced_hex(bytes);
    }
    format!(
        "{} … ({} bytes) … {}",
        to_spaced_hex(&bytes[..keep]),
        bytes.len(),
        to_spaced_hex(&bytes[bytes.len() - keep..])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> BytePattern {
        text.parse().unwrap()
    }

    #[test]
    fn exact_bytes_match_only_themselves() {
        let p = pattern("30 82 01 0A");
        assert!(p.matches(&[0x30, 0x82, 0x01, 0x0A]));
        assert!(!p.matches(&[0x30, 0x82, 0x01]));
        assert!(!p.matches(&[0x30, 0x82, 0x01, 0x0A, 0x00]));
        assert!(!p.matches(&[0x30, 0x82, 0x01, 0x0B]));
    }

    #[test]
    fn empty_pattern_matches_only_empty_data() {
        let p = pattern("");
        assert!(p.matches(&[]));
        assert!(!p.matches(&[0x00]));
    }

    #[test]
    fn double_question_mark_is_exactly_one_byte() {
        let p = pattern("30 82 ?? ??");
        assert!(p.matches(&[0x30, 0x82, 0xFF, 0x00]));
        assert!(!p.matches(&[0x30, 0x82, 0xFF]));
        assert!(!p.matches(&[0x31, 0x82, 0xFF, 0x00]));
    }

    #[test]
    fn nibble_wildcards_keep_the_other_nibble() {
        let p = pattern("6?");
        assert!(p.matches(&[0x60]));
        assert!(p.matches(&[0x6F]));
        assert!(!p.matches(&[0x70]));
        let q = pattern("?A");
        assert!(q.matches(&[0x0A]));
        assert!(!q.matches(&[0x0B]));
    }

    #[test]
    fn star_matches_any_run_including_empty() {
        let p = pattern("30 82 *");
        assert!(p.matches(&[0x30, 0x82]));
        assert!(p.matches(&[0x30, 0x82, 1, 2, 3]));
        assert!(!p.matches(&[0x30]));
        let q = pattern("* 90");
        assert!(q.matches(&[0x90]));
        assert!(q.matches(&[1, 2, 0x90]));
        assert!(!q.matches(&[0x90, 1]));
    }

    #[test]
    fn star_in_the_middle_backtracks() {
        let p = pattern("01 * 02 03");
        assert!(p.matches(&[0x01, 0x02, 0x02, 0x03]));
        assert!(p.matches(&[0x01, 0x02, 0x03]));
        assert!(p.matches(&[0x01, 0x02, 0x03, 0x02, 0x03]));
        assert!(!p.matches(&[0x01, 0x02, 0x03, 0x02]));
        let q = pattern("* 4A 50 4B 49 *");
        assert!(q.matches(b"xxJPKIAP"));
        assert!(!q.matches(b"xxJPKxAP"));
    }

    #[test]
    fn token_info_label_pattern() {
        // The JPKI token info EF starts with the label padded with spaces.
        let p = pattern("4A 50 4B 49 41 50 49 43 43 54 4F 4B 45 4E 32 20 *");
        let mut ef = b"JPKIAPICCTOKEN2".to_vec();
        ef.resize(160, b' ');
        assert!(p.matches(&ef));
        ef[15] = 0;
        assert!(!p.matches(&ef));
    }

    #[test]
    fn spacing_is_free_but_bytes_need_two_digits() {
        assert_eq!(pattern("3082????*"), pattern("30 82 ?? ?? *"));
        assert_eq!(
            "0 A4".parse::<BytePattern>(),
            Err(PatternError::OddDigits {
                text: "0 A4".into()
            })
        );
        assert_eq!(
            "30 8".parse::<BytePattern>(),
            Err(PatternError::OddDigits {
                text: "30 8".into()
            })
        );
        assert_eq!(
            "30 8*".parse::<BytePattern>(),
            Err(PatternError::OddDigits {
                text: "30 8*".into()
            })
        );
        assert_eq!(
            "30 GG".parse::<BytePattern>(),
            Err(PatternError::BadCharacter {
                text: "30 GG".into(),
                found: 'G'
            })
        );
    }

    #[test]
    fn display_round_trips() {
        for text in ["30 82 ?? ?? *", "6? ?A", "", "*"] {
            assert_eq!(pattern(text).to_string(), text);
        }
    }

    #[test]
    fn status_word_patterns() {
        let sw: SwPattern = "63C?".parse().unwrap();
        assert!(sw.matches(0x63C0));
        assert!(sw.matches(0x63C3));
        assert!(!sw.matches(0x6983));
        assert_eq!(sw.to_string(), "63 C?");
        let exact: SwPattern = "90 00".parse().unwrap();
        assert!(exact.matches(0x9000));
        assert!(!exact.matches(0x9001));
        assert!("900".parse::<SwPattern>().is_err());
        assert!("90000".parse::<SwPattern>().is_err());
        assert!("90*0".parse::<SwPattern>().is_err());
    }

    #[test]
    fn commands_refuse_wildcards() {
        assert_eq!(
            "00 A4 04 0C".parse::<HexBytes>(),
            Ok(HexBytes(vec![0x00, 0xA4, 0x04, 0x0C]))
        );
        assert!(matches!(
            "00 ??".parse::<HexBytes>(),
            Err(PatternError::WildcardInCommand { .. })
        ));
        assert!(matches!(
            "00 *".parse::<HexBytes>(),
            Err(PatternError::WildcardInCommand { .. })
        ));
    }

    #[test]
    fn long_data_is_elided_in_reports() {
        let data: Vec<u8> = (0..=255).collect();
        let text = spaced_hex_elided(&data, 4);
        assert_eq!(text, "00 01 02 03 … (256 bytes) … FC FD FE FF");
        assert_eq!(spaced_hex_elided(&[1, 2], 4), "01 02");
    }
}

//! Checked text values of a card file (PINs, codes): their shape is checked while parsing, and
//! secrets never appear in Debug output.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, $redact:expr, $check:expr, $what:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub(crate) struct $name(pub(super) String);

        impl $name {
            /// The value as text.
            #[allow(dead_code, reason = "generated for every value type; not every one is read as text")]
            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as the bytes the card stores.
            #[allow(dead_code, reason = "generated for every value type; not every one is written to the card")]
            pub(crate) fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }

            /// Whether `bytes` has this value's shape.
            pub(crate) fn is_valid(bytes: &[u8]) -> bool {
                let check: fn(&[u8]) -> bool = $check;
                check(bytes)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                if Self::is_valid(text.as_bytes()) {
                    Ok($name(text))
                } else if $redact {
                    Err(format!("{} (value not shown)", $what))
                } else {
                    Err(format!("{}, got {:?}", $what, text))
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $redact {
                    f.write_str("\"<redacted>\"")
                } else {
                    write!(f, "{:?}", self.0)
                }
            }
        }
    };
}

fn digits(bytes: &[u8], count: usize) -> bool {
    bytes.len() == count && bytes.iter().all(u8::is_ascii_digit)
}

checked_string!(
    /// 利用者証明用 / 券面事項入力補助用 PIN: 4 ASCII digits. Redacted in Debug output.
    FourDigitPin,
    true,
    |b| digits(b, 4),
    "a PIN of 4 ASCII digits is expected"
);
checked_string!(
    /// 署名用パスワード: 6 to 16 of `A-Z0-9`. Redacted in Debug output.
    SigningPassword,
    true,
    |b| (6..=16).contains(&b.len()) && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
    "a signing password of 6 to 16 characters A-Z and 0-9 is expected"
);
checked_string!(
    /// セキュリティコード: 4 ASCII digits.
    SecurityCode,
    false,
    |b| digits(b, 4),
    "a security code of 4 ASCII digits is expected"
);
checked_string!(
    /// 市区町村コード: 5 ASCII digits.
    MunicipalityCode,
    false,
    |b| digits(b, 5),
    "a municipality code of 5 ASCII digits is expected"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        assert!(FourDigitPin::try_from("12a4".to_owned()).is_err());
        assert!(SigningPassword::try_from("abc123".to_owned()).is_err());
        assert!(SigningPassword::try_from("ABC12".to_owned()).is_err());
        assert!(SigningPassword::try_from("ABC123XYZ0123456".to_owned()).is_ok());
        assert!(MunicipalityCode::try_from("1310".to_owned()).is_err());
        let pin = FourDigitPin::try_from("9876".to_owned()).unwrap();
        assert!(!format!("{pin:?}").contains("9876"));
    }
}

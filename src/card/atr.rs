//! The ATRs a PC/SC reader reports for a contactless card, which the reader builds itself
//! (PC/SC part 3, "ATR for contactless cards"), and telling an ATR's kind from its bytes.
//!
//! Type B (the real マイナンバーカード): `3B 88 80 01`, then eight historical bytes — the ATQB's
//! four bytes of application data, its three bytes of protocol info, and the MBLI of the
//! ATTRIB answer in the high nibble of the last one (low nibble 0) — then TCK, the XOR of every
//! byte after TS. Type A (a phone's HCE): `3B 8n 80 01`, then the ATS's n historical bytes,
//! then TCK.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The bytes of a Type B card's ATQB and ATTRIB answer that a PC/SC reader puts in its ATR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TypeBDoc", into = "TypeBDoc")]
pub(crate) struct TypeB {
    pub(crate) application_data: [u8; 4],
    pub(crate) protocol_info: [u8; 3],
    /// Maximum buffer length index from the ATTRIB answer, 0 to 15.
    pub(crate) mbli: u8,
}

/// How a card file writes [`TypeB`]: hex strings, named fields.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeBDoc {
    application_data: String,
    protocol_info: String,
    #[serde(default)]
    mbli: u8,
}

fn fixed_hex<const N: usize>(field: &str, text: &str) -> Result<[u8; N], String> {
    let bytes = crate::apdu::parse_hex(text)
        .map_err(|error| format!("type_b.{field}: not hex bytes ({error}): {text:?}"))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "type_b.{field}: {N} bytes expected, got {} ({text:?})",
            bytes.len()
        )
    })
}

impl TryFrom<TypeBDoc> for TypeB {
    type Error = String;
    fn try_from(doc: TypeBDoc) -> Result<Self, Self::Error> {
        if doc.mbli > 15 {
            return Err(format!("type_b.mbli: 0 to 15, got {}", doc.mbli));
        }
        Ok(TypeB {
            application_data: fixed_hex("application_data", &doc.application_data)?,
            protocol_info: fixed_hex("protocol_info", &doc.protocol_info)?,
            mbli: doc.mbli,
        })
    }
}

impl From<TypeB> for TypeBDoc {
    fn from(type_b: TypeB) -> TypeBDoc {
        TypeBDoc {
            application_data: crate::apdu::to_spaced_hex(&type_b.application_data),
            protocol_info: crate::apdu::to_spaced_hex(&type_b.protocol_info),
            mbli: type_b.mbli,
        }
    }
}

impl TypeB {
    /// The ATR a PC/SC contactless reader reports for this card.
    pub(crate) fn pcsc_atr(&self) -> Vec<u8> {
        let mut atr = vec![0x3B, 0x88, 0x80, 0x01];
        atr.extend_from_slice(&self.application_data);
        atr.extend_from_slice(&self.protocol_info);
        atr.push(self.mbli << 4);
        atr.push(check_byte(&atr[1..]));
        atr
    }
}

/// TCK: the XOR of T0 up to the last historical byte.
fn check_byte(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |sum, byte| sum ^ byte)
}

/// What kind of ATR a reader reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum AtrKind {
    /// Built by a PC/SC contactless reader from a Type B card's ATQB.
    ContactlessTypeB { atqb: TypeB },
    /// Built by a PC/SC contactless reader from a Type A card's ATS (a phone's HCE).
    ContactlessTypeA { historical_bytes: String },
    /// The card's own ATR, through contacts (or a reader that passes it on).
    Contact,
}

impl AtrKind {
    pub(crate) fn of(atr: &[u8]) -> AtrKind {
        match atr {
            [0x3B, t0, 0x80, 0x01, historical @ .., tck]
                if t0 & 0xF0 == 0x80
                    && historical.len() == usize::from(t0 & 0x0F)
                    && check_byte(&atr[1..atr.len() - 1]) == *tck =>
            {
                match historical {
                    [a0, a1, a2, a3, p0, p1, p2, mbli] if *t0 == 0x88 && mbli & 0x0F == 0 => {
                        AtrKind::ContactlessTypeB {
                            atqb: TypeB {
                                application_data: [*a0, *a1, *a2, *a3],
                                protocol_info: [*p0, *p1, *p2],
                                mbli: mbli >> 4,
                            },
                        }
                    }
                    _ => AtrKind::ContactlessTypeA {
                        historical_bytes: crate::apdu::to_spaced_hex(historical),
                    },
                }
            }
            _ => AtrKind::Contact,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            AtrKind::ContactlessTypeB { atqb } => format!(
                "contactless Type B (PC/SC from the ATQB: application data {}, protocol info {}, MBLI {})",
                crate::apdu::to_spaced_hex(&atqb.application_data),
                crate::apdu::to_spaced_hex(&atqb.protocol_info),
                atqb.mbli
            ),
            AtrKind::ContactlessTypeA { historical_bytes } => format!(
                "contactless Type A (PC/SC from the ATS, historical bytes {historical_bytes}): a phone's HCE, not the card"
            ),
            AtrKind::Contact => "contact (the card's own ATR)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::description::AtrChoice;

    #[test]
    fn the_measured_contactless_atrs_follow_the_pcsc_rule() {
        for choice in [AtrChoice::Contactless, AtrChoice::ContactlessAlt] {
            let measured = choice.bytes().unwrap_or_default();
            let AtrKind::ContactlessTypeB { atqb } = AtrKind::of(&measured) else {
                panic!("{measured:02X?} is not a Type B ATR");
            };
            assert_eq!(atqb.pcsc_atr(), measured);
        }
    }

    #[test]
    fn contact_and_type_a_atrs_are_told_apart() {
        let contact = AtrChoice::Contact.bytes().unwrap_or_default();
        assert_eq!(AtrKind::of(&contact), AtrKind::Contact);
        // 3B 82 80 01 + two historical bytes + TCK.
        let type_a = [
            0x3B,
            0x82,
            0x80,
            0x01,
            0x12,
            0x34,
            0x82 ^ 0x80 ^ 0x01 ^ 0x12 ^ 0x34,
        ];
        assert!(matches!(
            AtrKind::of(&type_a),
            AtrKind::ContactlessTypeA { .. }
        ));
        // A wrong TCK is no reader-built ATR.
        let mut broken = AtrChoice::Contactless.bytes().unwrap_or_default();
        if let Some(last) = broken.last_mut() {
            *last ^= 1;
        }
        assert_eq!(AtrKind::of(&broken), AtrKind::Contact);
    }

    #[test]
    fn bad_type_b_fields_name_the_field() {
        let doc = TypeBDoc {
            application_data: "00 00 05".into(),
            protocol_info: "B3 81 A1".into(),
            mbli: 0,
        };
        let error = TypeB::try_from(doc).err().unwrap_or_default();
        assert!(error.contains("type_b.application_data"), "{error}");
        let doc = TypeBDoc {
            application_data: "00 00 05 E0".into(),
            protocol_info: "B3 81 A1".into(),
            mbli: 16,
        };
        let error = TypeB::try_from(doc).err().unwrap_or_default();
        assert!(error.contains("type_b.mbli"), "{error}");
    }
}

/// Which ATR the card answers power-on with (spec §1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AtrChoice {
    /// `3B E0 00 FF 81 31 FE 45 14`: older contact cards (OpenSC's ATR table entry).
    ContactLegacy,
    /// `3B DA 13 FF 81 31 FB 46 80 12 39 2F 31 C1 73 C6 01 C0 3B`.
    #[default]
    Contact,
    /// `3B C5 FF 81 31 FB 45 80 73 C6 01 00 00`.
    ContactShort,
    /// `3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F` (PC/SC-synthesised from the ATQB).
    Contactless,
    /// `3B 88 80 01 00 00 41 E0 B3 81 A1 00 3B`.
    ContactlessAlt,
    /// A well-formed ATR no driver table knows (field failure: "unknown smart card").
    Unknown,
    /// No ATR at all: the card stays mute at power-on.
    Mute,
    /// The ATR a PC/SC contactless reader builds from a Type B card's ATQB (PC/SC part 3):
    /// `atr: { type_b: { application_data: "00 00 05 E0", protocol_info: "B3 81 A1", mbli: 0 } }`.
    TypeB(TypeB),
    /// Any other ATR, as hex.
    Custom(CustomAtr),
}

impl AtrChoice {
    /// The ATR bytes; `None` for a mute card.
    pub(crate) fn bytes(&self) -> Option<Vec<u8>> {
        let fixed: &[u8] = match self {
            AtrChoice::ContactLegacy => &[0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14],
            AtrChoice::Contact => &[
                0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1,
                0x73, 0xC6, 0x01, 0xC0, 0x3B,
            ],
            AtrChoice::ContactShort => &[
                0x3B, 0xC5, 0xFF, 0x81, 0x31, 0xFB, 0x45, 0x80, 0x73, 0xC6, 0x01, 0x00, 0x00,
            ],
            AtrChoice::Contactless => &[
                0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F,
            ],
            AtrChoice::ContactlessAlt => &[
                0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x41, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x3B,
            ],
            // PC/SC contactless form with application data "MYNA" and a correct TCK.
            AtrChoice::Unknown => &[
                0x3B, 0x88, 0x80, 0x01, 0x4D, 0x59, 0x4E, 0x41, 0x00, 0x00, 0x00, 0x00, 0x12,
            ],
            AtrChoice::Mute => return None,
            AtrChoice::TypeB(type_b) => return Some(type_b.pcsc_atr()),
            AtrChoice::Custom(bytes) => return Some(bytes.0.clone()),
        };
        Some(fixed.to_vec())
    }
}

/// An ATR written as hex in a card file (spaces allowed), 1 to 33 bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct CustomAtr(pub Vec<u8>);

impl fmt::Debug for CustomAtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::apdu::to_spaced_hex(&self.0))
    }
}

impl TryFrom<String> for CustomAtr {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let bytes =
            crate::apdu::parse_hex(&text).map_err(|e| format!("not hex bytes ({e}): {text:?}"))?;
        if bytes.is_empty() || bytes.len() > 33 {
            return Err(format!("an ATR has 1 to 33 bytes, got {}", bytes.len()));
        }
        Ok(CustomAtr(bytes))
    }
}

impl From<CustomAtr> for String {
    fn from(bytes: CustomAtr) -> String {
        crate::apdu::to_spaced_hex(&bytes.0)
    }
}

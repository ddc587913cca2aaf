//! The MF (ISD) level: the data objects GET DATA answers there (docs/spec/card-measured.md §3.2) and the
//! card-verifiable certificate chain among them (§3.4), issued by a CV hierarchy of our own.

use chrono::NaiveDate;
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::cv::{cv_object_get_data, key_id};
use super::tlv::{ascii_date, push_tlv};

/// GET DATA tags (P1-P2) the card answers.
pub(crate) const TAG_ISSUER_ID: u16 = 0x0042;
pub(crate) const TAG_CARD_ID: u16 = 0x0045;
pub(crate) const TAG_CARD_RECOGNITION: u16 = 0x0066;
pub(crate) const TAG_MUNICIPALITY: u16 = 0x00F0;
pub(crate) const TAG_EXPIRY: u16 = 0x00F2;
pub(crate) const TAG_INTERMEDIATE_KEY_ID: u16 = 0x00F7;
pub(crate) const TAG_ROOT_CERTIFICATE: u16 = 0x00F8;
pub(crate) const TAG_LOWER_CERTIFICATE: u16 = 0x7F21;
/// The contact ATR without TS: the one object also answered inside an application.
pub(crate) const TAG_CONTACT_ATR: u16 = 0x5F51;

/// The keys of our own MF-level CV hierarchy: a root (off card), the municipality's
/// intermediate certified in `00F8`, and the key below it certified in `7F21`.
pub(crate) struct MfHierarchy<'a> {
    pub(crate) root: &'a RsaPrivateKey,
    pub(crate) intermediate: &'a RsaPrivateKey,
    pub(crate) lower: &'a RsaPublicKey,
}

pub(crate) struct MfInputs<'a> {
    pub(crate) municipality: &'a str,
    /// The card serial, answered as the card identification number `0045`.
    pub(crate) serial: &'a str,
    /// Whether `0042`, `0045` and `0066` exist (they vary between cards, §3.2).
    pub(crate) optional_objects: bool,
    pub(crate) expires: NaiveDate,
    pub(crate) atr: Option<&'a [u8]>,
    pub(crate) hierarchy: MfHierarchy<'a>,
}

/// The GET DATA objects of one card, by tag, and whether the MF holds the internal EF 001E.
#[derive(Clone, Default)]
pub(crate) struct MfObjects {
    objects: Vec<(u16, Box<[u8]>)>,
    internal_ef: bool,
}

/// GlobalPlatform card recognition data (`66 { 73 { OIDs under 1.2.840.114283 } }`), the
/// way GP cards answer GET DATA `0066`: recognition-data OID, GP 2.2.1 card management, the
/// card identification scheme and SCP02. The real card's content is only loosely described
/// (docs/spec/card-measured.md §3.2); this is the standard shape.
fn card_recognition_data() -> Vec<u8> {
    const GP: [u8; 7] = [0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x00];
    let oid = |arc: &[u8]| {
        let mut value = GP[..6].to_vec();
        value.extend_from_slice(arc);
        let mut out = Vec::new();
        push_tlv(&mut out, &[0x06], &value);
        out
    };
    let mut inner = oid(&[0x01]);
    push_tlv(&mut inner, &[0x60], &oid(&[0x02, 0x02, 0x02, 0x01]));
    push_tlv(&mut inner, &[0x63], &oid(&[0x03]));
    push_tlv(&mut inner, &[0x64], &oid(&[0x04, 0x02, 0x15]));
    let mut template = Vec::new();
    push_tlv(&mut template, &[0x73], &inner);
    let mut out = Vec::new();
    push_tlv(&mut out, &[0x66], &template);
    out
}

impl MfObjects {
    pub(crate) fn build(inputs: &MfInputs<'_>) -> Result<MfObjects, rsa::Error> {
        // "7…" names no real hierarchy (5 = production, 6 = JPKI test), so clients report an
        // unknown CA rather than a bad signature (docs/spec/card-measured.md §13).
        let root_id = key_id("7000020", "001", 0xA8);
        let intermediate_id = key_id(&format!("{}30", inputs.municipality), "002", 0x98);
        let lower_id = key_id("0000050", "001", 0x40);
        let hierarchy = &inputs.hierarchy;
        let intermediate_public = RsaPublicKey::from(hierarchy.intermediate);
        let mut objects: Vec<(u16, Box<[u8]>)> = vec![
            (TAG_MUNICIPALITY, inputs.municipality.as_bytes().into()),
            (TAG_EXPIRY, ascii_date(inputs.expires).into()),
            (TAG_INTERMEDIATE_KEY_ID, intermediate_id.into()),
            (
                TAG_ROOT_CERTIFICATE,
                cv_object_get_data(
                    &root_id,
                    &intermediate_id,
                    &intermediate_public,
                    hierarchy.root,
                )?
                .into(),
            ),
            (
                TAG_LOWER_CERTIFICATE,
                cv_object_get_data(
                    &intermediate_id,
                    &lower_id,
                    hierarchy.lower,
                    hierarchy.intermediate,
                )?
                .into(),
            ),
        ];
        if let Some([_ts, rest @ ..]) = inputs.atr {
            objects.push((TAG_CONTACT_ATR, rest.into()));
        }
        if inputs.optional_objects {
            // The issuer identification number in key-ID format, ours under "7…" as for
            // every identifier of our hierarchy.
            objects.push((TAG_ISSUER_ID, key_id("7000010", "001", 0x01).into()));
            objects.push((TAG_CARD_ID, inputs.serial.as_bytes().into()));
            objects.push((TAG_CARD_RECOGNITION, card_recognition_data().into()));
        }
        Ok(MfObjects {
            objects,
            internal_ef: true,
        })
    }

    /// Whether the MF holds EF 001E (selectable, unreadable: docs/spec/card-measured.md §3.1).
    pub(crate) fn has_internal_ef(&self) -> bool {
        self.internal_ef
    }

    pub(crate) fn get(&self, tag: u16) -> Option<&[u8]> {
        self.objects
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, value)| &value[..])
    }
}

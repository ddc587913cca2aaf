//! The MF (ISD) level: the data objects GET DATA answers there (card-measured.md §3.2) and the
//! card-verifiable certificate chain among them (§3.4), issued by a CV hierarchy of our own.

use chrono::NaiveDate;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::sign::issuer_signature;
use super::tlv::ascii_date;

/// GET DATA tags (P1-P2) the card answers.
pub(crate) const TAG_MUNICIPALITY: u16 = 0x00F0;
pub(crate) const TAG_EXPIRY: u16 = 0x00F2;
pub(crate) const TAG_INTERMEDIATE_KEY_ID: u16 = 0x00F7;
pub(crate) const TAG_ROOT_CERTIFICATE: u16 = 0x00F8;
pub(crate) const TAG_LOWER_CERTIFICATE: u16 = 0x7F21;
/// The contact ATR without TS: the one object also answered inside an application.
pub(crate) const TAG_CONTACT_ATR: u16 = 0x5F51;

/// Size of the `00F8` / `7F21` objects (card-measured.md §3.4).
pub const CV_OBJECT_SIZE: usize = 575;

/// A 16-byte key identifier (card-measured.md §11.1): 7 ASCII digits, `08 05`, 3 ASCII digits,
/// `00 00 00` and a last byte (non-zero at the MF level).
fn key_id(digits: &str, generation: &str, last: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    let digits = digits.as_bytes();
    let generation = generation.as_bytes();
    id[..7.min(digits.len())].copy_from_slice(&digits[..7.min(digits.len())]);
    id[7..9].copy_from_slice(&[0x08, 0x05]);
    id[9..9 + 3.min(generation.len())].copy_from_slice(&generation[..3.min(generation.len())]);
    id[15] = last;
    id
}

/// `90 03 <e>` `91 82 01 00 <n>`: the card's RSA public-key encoding (card-measured.md §11.2).
fn public_key_90_91(key: &RsaPublicKey) -> Vec<u8> {
    let exponent = key.e().to_bytes_be();
    let mut modulus = key.n().to_bytes_be();
    while modulus.len() < 256 {
        modulus.insert(0, 0);
    }
    let mut out = vec![0x90, exponent.len() as u8];
    out.extend_from_slice(&exponent);
    out.extend_from_slice(&[0x91, 0x82, 0x01, 0x00]);
    out.extend_from_slice(&modulus);
    out
}

/// A CV certificate in its GET DATA form: the `4D` header list, `5F4E` body
/// (CAR ‖ CHR ‖ public key) and `5F37` PKCS#1 v1.5 SHA-256 signature over the body bytes.
/// Lengths of 128 and more use `82 HH LL`, as the issuer writes them.
fn cv_object(
    car: &[u8; 16],
    chr: &[u8; 16],
    subject: &RsaPublicKey,
    signer: &RsaPrivateKey,
) -> Result<Vec<u8>, rsa::Error> {
    let mut body = Vec::with_capacity(297);
    body.extend_from_slice(car);
    body.extend_from_slice(chr);
    body.extend_from_slice(&public_key_90_91(subject));
    let signature = issuer_signature(signer, &body)?;
    let mut out = Vec::with_capacity(CV_OBJECT_SIZE);
    out.extend_from_slice(&[
        0x4D, 0x0A, 0x42, 0x10, 0x5F, 0x20, 0x10, 0x5F, 0x49, 0x82, 0x01, 0x09,
    ]);
    let [hi, lo] = (body.len() as u16).to_be_bytes();
    out.extend_from_slice(&[0x5F, 0x4E, 0x82, hi, lo]);
    out.extend_from_slice(&body);
    let [hi, lo] = (signature.len() as u16).to_be_bytes();
    out.extend_from_slice(&[0x5F, 0x37, 0x82, hi, lo]);
    out.extend_from_slice(&signature);
    Ok(out)
}

/// The keys of our own MF-level CV hierarchy: a root (off card), the municipality's
/// intermediate certified in `00F8`, and the key below it certified in `7F21`.
pub(crate) struct MfHierarchy<'a> {
    pub(crate) root: &'a RsaPrivateKey,
    pub(crate) intermediate: &'a RsaPrivateKey,
    pub(crate) lower: &'a RsaPublicKey,
}

pub(crate) struct MfInputs<'a> {
    pub(crate) municipality: &'a str,
    pub(crate) expires: NaiveDate,
    pub(crate) atr: Option<&'a [u8]>,
    pub(crate) hierarchy: MfHierarchy<'a>,
}

/// The GET DATA objects of one card, by tag.
#[derive(Clone, Default)]
pub(crate) struct MfObjects {
    objects: Vec<(u16, Box<[u8]>)>,
}

impl MfObjects {
    pub(crate) fn build(inputs: &MfInputs<'_>) -> Result<MfObjects, rsa::Error> {
        // "7…" names no real hierarchy (5 = production, 6 = JPKI test), so clients report an
        // unknown CA rather than a bad signature (card-measured.md §13).
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
                cv_object(
                    &root_id,
                    &intermediate_id,
                    &intermediate_public,
                    hierarchy.root,
                )?
                .into(),
            ),
            (
                TAG_LOWER_CERTIFICATE,
                cv_object(
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
        Ok(MfObjects { objects })
    }

    pub(crate) fn get(&self, tag: u16) -> Option<&[u8]> {
        self.objects
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, value)| &value[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_have_the_measured_layout() {
        let id = key_id("1322130", "002", 0x98);
        assert_eq!(&id[..7], b"1322130");
        assert_eq!(&id[7..9], &[0x08, 0x05]);
        assert_eq!(&id[9..12], b"002");
        assert_eq!(&id[12..], &[0, 0, 0, 0x98]);
    }
}

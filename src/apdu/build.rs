//! Every command the harness itself sends, built by name (the exact bytes a マイナンバーカード
//! client sends, docs/spec/card-apdu.md).

use super::ins::{
    INS_COMPUTE_DIGITAL_SIGNATURE, INS_GET_RESPONSE, INS_IDENTIFY, INS_READ_BINARY, INS_SELECT,
    INS_VERIFY,
};

/// Proprietary class of the JPKI signature and of the identification probe.
pub(crate) const CLA_PROPRIETARY: u8 = 0x80;

/// P1 P2 of the identification probe: "MH".
pub(crate) const IDENTIFY_P1: u8 = b'M';
pub(crate) const IDENTIFY_P2: u8 = b'H';
/// Length of the probe's nonce and of the proof it asks for.
pub(crate) const IDENTIFY_NONCE_LEN: usize = 16;
pub(crate) const IDENTIFY_PROOF_LEN: usize = 32;

/// The reference P2 of VERIFY and the retry query: the selected PIN EF (`80`).
const P2_CURRENT_EF: u8 = 0x80;

/// Why a command cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A command's data field is longer than the 255 bytes a short APDU can carry.
    #[error("the data field holds {0} bytes, more than a short command carries (255)")]
    DataTooLong(usize),
}

fn short_lc(data: &[u8]) -> Result<u8, BuildError> {
    u8::try_from(data.len()).map_err(|_| BuildError::DataTooLong(data.len()))
}

/// Short Le: `wanted` of 256 is written as `00`.
fn short_le(wanted: u16) -> u8 {
    if wanted >= 256 {
        0
    } else {
        wanted as u8
    }
}

/// SELECT of an application by its DF name, no answer data (`00 A4 04 0C 0A <aid>`).
pub(crate) fn select_aid(aid: &[u8; 10]) -> Vec<u8> {
    let mut apdu = vec![0x00, INS_SELECT, 0x04, 0x0C, 0x0A];
    apdu.extend_from_slice(aid);
    apdu
}

/// SELECT of an EF by its file ID in the current application (`00 A4 02 0C 02 <fid>`).
pub(crate) fn select_fid(fid: u16) -> Vec<u8> {
    let [hi, lo] = fid.to_be_bytes();
    vec![0x00, INS_SELECT, 0x02, 0x0C, 0x02, hi, lo]
}

/// READ BINARY of the current EF at `offset`, `wanted` bytes (256 is written `00`).
pub(crate) fn read_binary(offset: u16, wanted: u16) -> Vec<u8> {
    let [hi, lo] = offset.to_be_bytes();
    vec![0x00, INS_READ_BINARY, hi, lo, short_le(wanted)]
}

/// VERIFY of the selected PIN EF with `secret` (`00 20 00 80 Lc <secret>`).
pub(crate) fn verify(secret: &[u8]) -> Result<Vec<u8>, BuildError> {
    let mut apdu = vec![0x00, INS_VERIFY, 0x00, P2_CURRENT_EF, short_lc(secret)?];
    apdu.extend_from_slice(secret);
    Ok(apdu)
}

/// The retry-counter query: VERIFY without data (`00 20 00 80`). Consumes no try.
pub(crate) fn retry_query() -> Vec<u8> {
    vec![0x00, INS_VERIFY, 0x00, P2_CURRENT_EF]
}

/// JPKI COMPUTE DIGITAL SIGNATURE over `digest_info` with the selected key
/// (`80 2A 00 80 Lc <DigestInfo> 00`).
pub fn compute_digital_signature(digest_info: &[u8]) -> Result<Vec<u8>, BuildError> {
    let mut apdu = vec![
        CLA_PROPRIETARY,
        INS_COMPUTE_DIGITAL_SIGNATURE,
        0x00,
        0x80,
        short_lc(digest_info)?,
    ];
    apdu.extend_from_slice(digest_info);
    apdu.push(0x00);
    Ok(apdu)
}

/// GET RESPONSE for `available` bytes (`00` = 256) on the logical channel of `capdu` (T=0,
/// after `61 xx`).
pub(crate) fn get_response_on_channel_of(capdu: &[u8], available: u8) -> Vec<u8> {
    let channel = capdu.first().map_or(0, |cla| cla & 0x03);
    vec![channel, INS_GET_RESPONSE, 0x00, 0x00, available]
}

/// `capdu` with its short Le set to `le`, appended when it had none (what a T=0 client resends
/// after `6C xx`); `None` for extended APDUs, where `6C xx` does not apply.
pub(crate) fn with_short_le(capdu: &[u8], le: u8) -> Option<Vec<u8>> {
    let mut command = capdu.to_vec();
    match capdu.len() {
        0..=3 => None,
        4 => {
            command.push(le);
            Some(command)
        }
        5 => {
            command[4] = le;
            Some(command)
        }
        _ if capdu[4] == 0 => None,
        length => {
            let lc = usize::from(capdu[4]);
            match length.cmp(&(5 + lc)) {
                std::cmp::Ordering::Equal => command.push(le),
                std::cmp::Ordering::Greater => *command.last_mut()? = le,
                std::cmp::Ordering::Less => return None,
            }
            Some(command)
        }
    }
}

/// myna-hil's identification probe for `nonce` (`80 F0 4D 48 10 <nonce> 20`).
pub(crate) fn identification_probe(nonce: &[u8; IDENTIFY_NONCE_LEN]) -> Vec<u8> {
    let mut apdu = vec![
        CLA_PROPRIETARY,
        INS_IDENTIFY,
        IDENTIFY_P1,
        IDENTIFY_P2,
        IDENTIFY_NONCE_LEN as u8,
    ];
    apdu.extend_from_slice(nonce);
    apdu.push(IDENTIFY_PROOF_LEN as u8);
    apdu
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::ids::AID_JPKI;
    use crate::apdu::{ApduCase, Command};

    #[test]
    fn builders_write_the_documented_bytes() {
        assert_eq!(
            hex::encode_upper(select_aid(&AID_JPKI)),
            "00A4040C0AD392F000260100000001"
        );
        assert_eq!(hex::encode_upper(select_fid(0x0018)), "00A4020C020018");
        assert_eq!(hex::encode_upper(read_binary(0x0104, 256)), "00B0010400");
        assert_eq!(hex::encode_upper(read_binary(0, 4)), "00B0000004");
        assert_eq!(
            hex::encode_upper(verify(b"1234").unwrap()),
            "002000800431323334"
        );
        assert_eq!(hex::encode_upper(retry_query()), "00200080");
        let sign = compute_digital_signature(&[0xAB; 51]).unwrap();
        let parsed = Command::parse(&sign).unwrap();
        assert_eq!(
            (
                parsed.cla,
                parsed.ins,
                parsed.case,
                parsed.data.len(),
                parsed.le
            ),
            (0x80, 0x2A, ApduCase::Case4, 51, Some(256))
        );
    }

    #[test]
    fn data_that_does_not_fit_is_an_error() {
        assert_eq!(verify(&[0x31; 256]), Err(BuildError::DataTooLong(256)));
    }
}

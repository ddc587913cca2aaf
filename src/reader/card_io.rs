//! The reader's side of the card conversation: the exact APDUs a reader sends (built by
//! [`crate::apdu::build`]), over any [`Transport`], with the exchange log of what was sent
//! (secrets kept in memory, hidden when the outcome is written).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::apdu::ids::{jpki, surface, AID_SURFACE};
use crate::apdu::{build, SecretKind, Selection, StatusWord};
use crate::trace::{ApduExchange, ExchangeAnswer};
use crate::transport::{Transport, TransportError};

/// The token label of a マイナンバーカード (JPKI EF `0006`, first bytes).
pub(crate) const CARD_TOKEN_LABEL: &[u8] = b"JPKIAPICCTOKEN2";

/// DER prefix of SHA-256 DigestInfo (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Largest EF the reader will read (card face images are a few KB); a guard against a card
/// that never signals the end.
const MAX_EF_SIZE: usize = 64 * 1024;

/// One exchange as the reader saw it (written as upper-case hex with secrets as `XX`, and
/// the status word or the transport error).
pub(crate) type Exchange = ApduExchange;

/// What went wrong talking to the card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CardIoError {
    #[error("no card in the reader")]
    NoCard,
    #[error("the card was removed")]
    Removed,
    /// No ATR, a timeout, a transmission error, an answer without a status word.
    #[error("the card cannot be read: {0}")]
    Unreadable(String),
    /// The card answered with a status word the step cannot continue from.
    #[error("{step}: the card answered {sw:04X}")]
    Status { step: &'static str, sw: u16 },
}

impl From<TransportError> for CardIoError {
    fn from(error: TransportError) -> CardIoError {
        match error {
            TransportError::NoCard => CardIoError::NoCard,
            TransportError::CardRemoved => CardIoError::Removed,
            other => CardIoError::Unreadable(other.to_string()),
        }
    }
}

/// The answer to the retry-counter query / a VERIFY, in the one vocabulary of [`crate::apdu`].
pub(crate) use crate::apdu::PinStatus;

/// Counts of what the reader sent, for the reception outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CommandCounts {
    /// VERIFY carrying a PIN to JPKI EF `0018`.
    pub pin_verify: u32,
    /// Retry-counter queries (`00 20 00 80`, no data).
    pub pin_query: u32,
    /// VERIFY carrying 照合番号B to the surface AP.
    pub collation_verify: u32,
    /// COMPUTE DIGITAL SIGNATURE.
    pub sign: u32,
}

/// A card session: the transport plus the reader's log.
pub(crate) struct CardLink<'t> {
    transport: &'t mut dyn Transport,
    log: &'t mut Vec<Exchange>,
    counts: &'t mut CommandCounts,
    /// What the card accepted to select (for counting VERIFYs by target).
    selection: Selection,
}

fn split(rapdu: &[u8]) -> Result<(&[u8], StatusWord), CardIoError> {
    let sw = StatusWord::from_rapdu(rapdu).ok_or_else(|| {
        CardIoError::Unreadable(format!(
            "answer of {} bytes has no status word",
            rapdu.len()
        ))
    })?;
    Ok((&rapdu[..rapdu.len() - 2], sw))
}

impl<'t> CardLink<'t> {
    pub(crate) fn new(
        transport: &'t mut dyn Transport,
        log: &'t mut Vec<Exchange>,
        counts: &'t mut CommandCounts,
    ) -> Self {
        CardLink {
            transport,
            log,
            counts,
            selection: Selection::default(),
        }
    }

    /// Powers the card up; the ATR.
    pub(crate) fn connect(&mut self) -> Result<Vec<u8>, CardIoError> {
        self.selection.clear();
        Ok(self.transport.connect()?)
    }

    pub(crate) fn disconnect(&mut self) {
        // Releasing a card that is already gone is not an error worth reporting.
        let _ = self.transport.disconnect();
    }

    fn exchange(&mut self, capdu: &[u8]) -> Result<(Vec<u8>, StatusWord), CardIoError> {
        let answer = self.transport.transmit(capdu);
        match answer {
            Ok(rapdu) => {
                let (data, sw) = split(&rapdu)?;
                let data = data.to_vec();
                self.selection.follow(capdu, sw.is_success());
                self.log
                    .push(ApduExchange::new(capdu, ExchangeAnswer::Response(rapdu)));
                Ok((data, sw))
            }
            Err(error) => {
                self.log.push(ApduExchange::new(
                    capdu,
                    ExchangeAnswer::Failed(error.failure()),
                ));
                Err(error.into())
            }
        }
    }

    /// SELECT of an application; the status word (`6A 82` = not on this card).
    pub(crate) fn select_application(&mut self, aid: &[u8; 10]) -> Result<StatusWord, CardIoError> {
        let (_, sw) = self.exchange(&build::select_aid(aid))?;
        Ok(sw)
    }

    pub(crate) fn select_file(&mut self, fid: u16) -> Result<StatusWord, CardIoError> {
        let (_, sw) = self.exchange(&build::select_fid(fid))?;
        Ok(sw)
    }

    fn require(&mut self, step: &'static str, sw: StatusWord) -> Result<(), CardIoError> {
        if sw.is_success() {
            Ok(())
        } else {
            Err(CardIoError::Status { step, sw: sw.0 })
        }
    }

    /// Reads the token label of JPKI EF `0006` (32 bytes).
    pub(crate) fn read_token_label(&mut self) -> Result<Vec<u8>, CardIoError> {
        let sw = self.select_file(jpki::EF_TOKEN_INFO)?;
        self.require("SELECT token info", sw)?;
        let (data, sw) = self.exchange(&build::read_binary(0, 0x20))?;
        self.require("READ token info", sw)?;
        Ok(data)
    }

    /// Reads a DER object from the selected EF the common way: a 4-byte header read, the size
    /// from its length bytes, then 256-byte chunks (`Le = 00`).
    pub(crate) fn read_der_file(&mut self) -> Result<Vec<u8>, CardIoError> {
        let (header, sw) = self.exchange(&build::read_binary(0, 4))?;
        self.require("READ BINARY header", sw)?;
        let size = match header.as_slice() {
            [0x30, 0x82, hi, lo] => usize::from(u16::from_be_bytes([*hi, *lo])) + 4,
            [0x30, 0x81, length, _] => usize::from(*length) + 3,
            [0x30, length, _, _] if *length < 0x80 => usize::from(*length) + 2,
            // A short header read (< 4 bytes) crashed one client; this reader refuses the card.
            other => {
                return Err(CardIoError::Unreadable(format!(
                    "certificate header {} is not a DER SEQUENCE header",
                    hex::encode_upper(other)
                )))
            }
        };
        let mut contents = header;
        contents.truncate(size);
        while contents.len() < size {
            let offset = contents.len();
            let at = u16::try_from(offset)
                .map_err(|_| CardIoError::Unreadable("certificate larger than 64 KiB".into()))?;
            let wanted = (size - offset).min(256) as u16;
            let (chunk, sw) = self.exchange(&build::read_binary(at, wanted))?;
            self.require("READ BINARY", sw)?;
            if chunk.is_empty() {
                return Err(CardIoError::Unreadable(format!(
                    "empty READ BINARY answer at offset {offset}"
                )));
            }
            contents.extend_from_slice(&chunk[..chunk.len().min(size - offset)]);
        }
        Ok(contents)
    }

    /// Reads the selected EF to its end: 256-byte chunks until a short one or `6B 00`.
    pub(crate) fn read_to_end(&mut self) -> Result<Vec<u8>, CardIoError> {
        let mut contents = Vec::new();
        loop {
            let at = u16::try_from(contents.len())
                .map_err(|_| CardIoError::Unreadable("file larger than 64 KiB".into()))?;
            let (chunk, sw) = self.exchange(&build::read_binary(at, 256))?;
            if sw == StatusWord::WRONG_P1_P2_OFFSET && !contents.is_empty() {
                return Ok(contents);
            }
            self.require("READ BINARY", sw)?;
            let last = chunk.len() < 256;
            contents.extend_from_slice(&chunk);
            if last || contents.len() >= MAX_EF_SIZE {
                return Ok(contents);
            }
        }
    }

    /// The retry-counter query `00 20 00 80` on the selected PIN EF.
    pub(crate) fn query_pin(&mut self) -> Result<PinStatus, CardIoError> {
        self.counts.pin_query += 1;
        let (_, sw) = self.exchange(&build::retry_query())?;
        sw.pin_status().ok_or(CardIoError::Status {
            step: "PIN retry query",
            sw: sw.0,
        })
    }

    /// VERIFY `00 20 00 80 Lc <secret>` on the selected PIN EF.
    pub(crate) fn verify(&mut self, secret: &[u8]) -> Result<PinStatus, CardIoError> {
        let apdu =
            build::verify(secret).map_err(|_| CardIoError::Unreadable("secret too long".into()))?;
        match self.selection.secret() {
            Some(SecretKind::AuthPin) => self.counts.pin_verify += 1,
            Some(SecretKind::SurfaceCollationB) => self.counts.collation_verify += 1,
            _ => {}
        }
        let (_, sw) = self.exchange(&apdu)?;
        sw.pin_status().ok_or(CardIoError::Status {
            step: "VERIFY",
            sw: sw.0,
        })
    }

    /// SELECT EF `0017` and COMPUTE DIGITAL SIGNATURE over the DigestInfo of SHA-256(message).
    pub(crate) fn sign_with_auth_key(&mut self, message: &[u8]) -> Result<Vec<u8>, CardIoError> {
        let sw = self.select_file(jpki::EF_AUTH_KEY)?;
        self.require("SELECT auth key", sw)?;
        let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
        digest_info.extend_from_slice(&Sha256::digest(message));
        let apdu = build::compute_digital_signature(&digest_info)
            .map_err(|error| CardIoError::Unreadable(error.to_string()))?;
        self.counts.sign += 1;
        let (signature, sw) = self.exchange(&apdu)?;
        self.require("COMPUTE DIGITAL SIGNATURE", sw)?;
        Ok(signature)
    }

    /// Opens the card face (surface AP) with 照合番号B and reads EF `0002`.
    /// `Ok(None)` when the card refuses the number or has no surface AP.
    pub(crate) fn read_card_face(
        &mut self,
        collation_b: &str,
    ) -> Result<Option<Vec<u8>>, CardIoError> {
        if !self.select_application(&AID_SURFACE)?.is_success() {
            return Ok(None);
        }
        if !self.select_file(surface::EF_MATCH_B)?.is_success() {
            return Ok(None);
        }
        if self.verify(collation_b.as_bytes())? != PinStatus::Verified {
            return Ok(None);
        }
        let sw = self.select_file(surface::EF_CARD_FACE)?;
        self.require("SELECT card face", sw)?;
        Ok(Some(self.read_to_end()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_info_prefix_is_sha256() {
        use der::Decode;
        let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
        digest_info.extend_from_slice(&[0u8; 32]);
        let parsed =
            x509_cert::spki::AlgorithmIdentifierOwned::from_der(&digest_info[2..17]).unwrap();
        assert_eq!(parsed.oid, const_oid::db::rfc5912::ID_SHA_256);
    }
}

//! RSA operations of the card: the JPKI COMPUTE DIGITAL SIGNATURE in its six schemes and the
//! issuer signatures over the 券面事項 data.

use rand::{CryptoRng, RngCore};
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use sha2::{Digest, Sha256};

use crate::pki::RsaSigner;

/// Largest input COMPUTE DIGITAL SIGNATURE accepts with P1 `00`: k - 11 for a 2048-bit key
/// (PKCS#1 v1.5 type 1 padding needs 11 bytes).
pub(crate) const MAX_SIGN_INPUT: usize = 245;

/// Largest message the card hashes itself (P1 `01`, `03`, `05`): a short APDU's Lc
/// (docs/spec/card-measured.md §8.4; larger messages are not established).
pub(crate) const MAX_HASHED_MESSAGE: usize = 255;

/// PSS salt length of the card: the SHA-256 output size (docs/spec/card-measured.md §8.4).
const PSS_SALT_LENGTH: usize = 32;

/// What the card does with the data of `80 2A`, chosen by P1 (docs/spec/card-measured.md §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureScheme {
    /// P1 `00`: PKCS#1 v1.5 type 1 padding of the data as given (a DigestInfo, usually).
    Prepared,
    /// P1 `01`: SHA-256 on the card, the bare 32-byte hash padded as for `Prepared`.
    BareHashOfMessage,
    /// P1 `02`: the data is a SHA-256 hash; wrapped in its DigestInfo, PKCS#1 v1.5.
    Pkcs1OfHash,
    /// P1 `03`: SHA-256 on the card, DigestInfo, PKCS#1 v1.5 (`sha256WithRSAEncryption`).
    Pkcs1OfMessage,
    /// P1 `04`: the data is a SHA-256 hash; RSASSA-PSS (MGF1-SHA-256, 32-byte salt).
    PssOfHash,
    /// P1 `05`: SHA-256 on the card, then RSASSA-PSS.
    PssOfMessage,
}

impl SignatureScheme {
    /// The scheme P1 names; `None` for any other P1 (the card answers `6A 86`).
    pub(crate) fn from_p1(p1: u8) -> Option<SignatureScheme> {
        Some(match p1 {
            0x00 => SignatureScheme::Prepared,
            0x01 => SignatureScheme::BareHashOfMessage,
            0x02 => SignatureScheme::Pkcs1OfHash,
            0x03 => SignatureScheme::Pkcs1OfMessage,
            0x04 => SignatureScheme::PssOfHash,
            0x05 => SignatureScheme::PssOfMessage,
            _ => return None,
        })
    }

    /// Whether the card accepts this many data bytes for the scheme.
    pub(crate) fn accepts_length(self, length: usize) -> bool {
        match self {
            SignatureScheme::Prepared => (1..=MAX_SIGN_INPUT).contains(&length),
            SignatureScheme::Pkcs1OfHash | SignatureScheme::PssOfHash => {
                length == Sha256::output_size()
            }
            SignatureScheme::BareHashOfMessage
            | SignatureScheme::Pkcs1OfMessage
            | SignatureScheme::PssOfMessage => (1..=MAX_HASHED_MESSAGE).contains(&length),
        }
    }

    /// Signs `data` (of an accepted length). PSS draws its salt from `rng`, so two PSS
    /// signatures of the same data differ, as on the card.
    pub(super) fn sign(
        self,
        signer: &RsaSigner,
        data: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, rsa::Error> {
        let pss = || Pss::new_with_salt::<Sha256>(PSS_SALT_LENGTH);
        let key = signer.private_key();
        match self {
            SignatureScheme::Prepared => signer.sign_pkcs1_prepared(data),
            SignatureScheme::BareHashOfMessage => signer.sign_pkcs1_prepared(&Sha256::digest(data)),
            SignatureScheme::Pkcs1OfHash => signer.sign_pkcs1_sha256_hash(data),
            SignatureScheme::Pkcs1OfMessage => signer.sign_pkcs1_sha256(data),
            SignatureScheme::PssOfHash => key.sign_with_rng(rng, pss(), data),
            SignatureScheme::PssOfMessage => key.sign_with_rng(rng, pss(), &Sha256::digest(data)),
        }
    }
}

/// SHA-256 with RSA PKCS#1 v1.5: how the synthetic issuer signs 券面事項 data.
pub(crate) fn issuer_signature(key: &RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, rsa::Error> {
    key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
}

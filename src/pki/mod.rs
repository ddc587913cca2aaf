//! A test CA of the project's own (JPKI-TEST names, never real J-LIS material).
//!
//! CONTRACT (other modules compile against these signatures; the PKI helper fills them in and
//! may add, but not change, them).
//!
//! What lives where:
//! - [`pool_key`]: RSA-2048 test keys from a committed pool (`fixtures/keys/pool.pem`), so that
//!   nothing pays for key generation at run time.
//! - [`TestPki`]: two self-signed test CAs (`fixtures/pki/`), one for 利用者証明用電子証明書 and
//!   one for 署名用電子証明書, issuing certificates shaped like JPKI's.
//! - [`certificate_serial`]: the serial-number derivation shared by the card and the
//!   qualification registry.
//! - [`generate_fixtures`]: regenerates all of the above from a seed (`myna-hil fixtures generate`).
//!
//! Dates are Japanese calendar days: a certificate issued for `not_before ..= not_after` is valid
//! from `not_before` 00:00:00 JST to `not_after` 23:59:59 JST, as real JPKI certificates are
//! (their `notAfter` reads `14:59:59Z`). [`TestPki::verify_issued`] maps the times back to the
//! same JST days.

pub(crate) mod cli;
mod fixtures;
mod issue;
mod pkcs1;
mod pool;
mod signer;
mod verify;

use std::sync::OnceLock;

use chrono::NaiveDate;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::person::{MyNumber, Person, PhoneKind};

pub(crate) use fixtures::{generate_fixtures, DEFAULT_POOL_SIZE, DEFAULT_SEED};
pub(crate) use pkcs1::{verify_pkcs1_sha256, PreparedPublicKey};
pub use pool::pool_size;
pub(crate) use signer::RsaSigner;

use issue::CertificateAuthority;

/// Why the test PKI could not issue, load or verify a certificate.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A committed key or CA file under `fixtures/pki/` is missing or unreadable.
    #[error("test PKI fixtures: {0}")]
    Fixture(String),
    /// A certificate cannot be built or encoded.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The issue request breaks a rule of the CA (dates out of order or range, signing
    /// certificate for a holder under 15).
    #[error("certificate request refused: {0}")]
    Request(String),
    /// The bytes are not a DER X.509 certificate.
    #[error("not a DER X.509 certificate: {0}")]
    Malformed(String),
    /// The certificate names another issuer than the test CA it was checked against.
    /// A certificate names an issuer other than the test CA.
    #[error("certificate issued by {found:?}, expected the test CA {expected:?}")]
    UnknownIssuer {
        /// The test CA's subject name.
        expected: String,
        /// The issuer the certificate names.
        found: String,
    },
    /// The issuer name matches but the signature does not verify with the CA's key (tampered
    /// certificate, or another CA using the same name).
    /// A certificate's signature does not verify with the test CA's key.
    #[error("certificate signature does not verify with the test CA {issuer:?}: {reason}")]
    BadSignature {
        /// The test CA's subject name.
        issuer: String,
        /// What the verification reported.
        reason: String,
    },
}

/// Which JPKI certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateKind {
    /// 利用者証明用電子証明書
    Authentication,
    /// 署名用電子証明書
    Signing,
}

impl CertificateKind {
    /// Stable lower-case label, used in [`certificate_serial`] and in fixture file names.
    pub fn label(self) -> &'static str {
        match self {
            CertificateKind::Authentication => "authentication",
            CertificateKind::Signing => "signing",
        }
    }
}

/// What a card asks the CA to issue.
#[derive(Debug, Clone)]
pub struct CertificateRequest<'a> {
    /// Authentication (利用者証明用) or signing (署名用).
    pub kind: CertificateKind,
    /// The person the certificate names.
    pub holder: &'a Person,
    /// The card's public key.
    pub subject_key: &'a RsaPublicKey,
    /// First day of validity.
    pub not_before: NaiveDate,
    /// Last day of validity.
    pub not_after: NaiveDate,
}

/// The test CA hierarchy: one CA for authentication certificates, one for signing.
pub struct TestPki {
    authentication: CertificateAuthority,
    signing: CertificateAuthority,
}

/// The PEM texts of one CA: its PKCS#8 private key and its self-signed certificate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaPem<'a> {
    pub(crate) private_key_pem: &'a str,
    pub(crate) certificate_pem: &'a str,
}

const AUTHENTICATION_CA_KEY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/pki/authentication-ca.key.pem"
));
const AUTHENTICATION_CA_CERT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/pki/authentication-ca.cert.pem"
));
const SIGNING_CA_KEY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/pki/signing-ca.key.pem"
));
const SIGNING_CA_CERT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/pki/signing-ca.cert.pem"
));

impl TestPki {
    /// The committed fixture CA (loaded once, shared).
    pub fn load() -> Result<&'static TestPki, PkiError> {
        static LOADED: OnceLock<TestPki> = OnceLock::new();
        if let Some(pki) = LOADED.get() {
            return Ok(pki);
        }
        let pki = TestPki::from_pem(
            CaPem {
                private_key_pem: AUTHENTICATION_CA_KEY,
                certificate_pem: AUTHENTICATION_CA_CERT,
            },
            CaPem {
                private_key_pem: SIGNING_CA_KEY,
                certificate_pem: SIGNING_CA_CERT,
            },
        )
        .map_err(|error| PkiError::Fixture(format!("embedded fixtures/pki: {error}")))?;
        Ok(LOADED.get_or_init(|| pki))
    }

    /// A PKI from explicit CA material (e.g. a set made by [`generate_fixtures`] with another
    /// seed). Checks that each key belongs to its certificate.
    pub(crate) fn from_pem(
        authentication: CaPem<'_>,
        signing: CaPem<'_>,
    ) -> Result<TestPki, PkiError> {
        Ok(TestPki {
            authentication: CertificateAuthority::from_pem(
                CertificateKind::Authentication,
                authentication,
            )?,
            signing: CertificateAuthority::from_pem(CertificateKind::Signing, signing)?,
        })
    }

    /// Issues a certificate; DER bytes.
    ///
    /// Both kinds: X.509 v3, sha256WithRSAEncryption, serial [`certificate_serial`], subject
    /// `CN=<issue date YYYYMMDD><serial as 16 hex digits>, C=JP` (opaque, no name), keyUsage
    /// (critical), certificatePolicies, subject and authority key identifiers.
    /// - Authentication: policy `issue::OID_AUTHENTICATION_POLICY`, keyUsage digitalSignature.
    /// - Signing: policy `issue::OID_SIGNING_POLICY`, keyUsage digitalSignature + nonRepudiation,
    ///   subjectAltName with six otherName entries (`[0] EXPLICIT UTF8String`): name as on the
    ///   card, name substitute info (empty: no substituted characters), sex as the card's code
    ///   (`1`/`2`/`9`), birth date `YYYYMMDD`, address, address substitute info (empty).
    ///
    /// Refused ([`PkiError::Request`]): `not_after` before `not_before`, dates outside the CA's
    /// validity (`issue::ca_valid_from`..=`issue::ca_valid_until`), and, as JPKI does, a signing
    /// certificate for a holder younger than `issue::MIN_SIGNING_CERTIFICATE_AGE` on `not_before`.
    ///
    /// Deterministic: the same request gives the same bytes (PKCS#1 v1.5 has no randomness).
    pub fn issue(&self, request: &CertificateRequest<'_>) -> Result<Vec<u8>, PkiError> {
        let serial =
            certificate_serial(request.kind, &request.holder.my_number, request.not_before);
        self.authority(request.kind).issue(request, serial)
    }

    /// Issues a phone's 利用者証明用 certificate ([`TestPki::issue`] with the serial of
    /// [`smartphone_certificate_serial`]): the same CA as the card's, its own serial and key
    /// (docs/spec/smartphone.md §4.15).
    pub fn issue_smartphone(
        &self,
        phone: PhoneKind,
        request: &CertificateRequest<'_>,
    ) -> Result<Vec<u8>, PkiError> {
        let serial =
            smartphone_certificate_serial(phone, &request.holder.my_number, request.not_before);
        self.authority(request.kind).issue(request, serial)
    }

    /// The self-signed CA certificate for `kind`, DER.
    pub fn ca_certificate_der(&self, kind: CertificateKind) -> &[u8] {
        self.authority(kind).certificate_der()
    }

    /// The self-signed CA certificate for `kind`, PEM (for `openssl verify -CAfile`).
    pub fn ca_certificate_pem(&self, kind: CertificateKind) -> &str {
        self.authority(kind).certificate_pem()
    }

    /// The CA's distinguished name for `kind`, RFC 4514 text, e.g.
    /// `OU=JPKI-TEST for user authentication,O=JPKI-TEST,C=JP`.
    pub fn issuer_name(&self, kind: CertificateKind) -> String {
        self.authority(kind).name_text()
    }

    /// Checks that `certificate_der` parses and carries a valid signature of this PKI's CA for
    /// `kind`. Validity dates and revocation are the caller's rules, not checked here.
    ///
    /// Errors, distinct so a relying party can report why: [`PkiError::Malformed`] (not a DER
    /// certificate), [`PkiError::UnknownIssuer`] (issued by someone else, including the other
    /// test CA), [`PkiError::BadSignature`] (right name, but not sha256WithRSAEncryption or the
    /// signature does not verify: tampered or forged), [`PkiError::Certificate`] (signed by us
    /// but unusable: serial wider than 64 bits, non-RSA key).
    pub fn verify_issued(
        &self,
        kind: CertificateKind,
        certificate_der: &[u8],
    ) -> Result<VerifiedCertificate, PkiError> {
        verify::verify_issued(self.authority(kind), certificate_der)
    }

    fn authority(&self, kind: CertificateKind) -> &CertificateAuthority {
        match kind {
            CertificateKind::Authentication => &self.authentication,
            CertificateKind::Signing => &self.signing,
        }
    }
}

/// What a verified certificate tells its relying party.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate {
    /// The certificate's serial number.
    pub serial: u64,
    /// First day of validity.
    pub not_before: NaiveDate,
    /// Last day of validity.
    pub not_after: NaiveDate,
    /// The holder's public key, which the proof of possession is checked against.
    pub public_key: RsaPublicKey,
}

/// The serial number of a certificate, derived from who holds it and when it was issued, so
/// that a card and a registry described separately agree on it without talking to each other.
///
/// Contract (stable; change the `v1` tag if it ever changes): the first 8 bytes, big-endian,
/// of SHA-256 over the UTF-8 text
/// `myna-hil/certificate-serial/v1|<kind>|<12-digit 個人番号>|<not_before YYYY-MM-DD>`
/// where `<kind>` is `authentication` or `signing`, with the top bit cleared (X.509 serials
/// are positive) and 0 mapped to 1 (RFC 5280 forbids a zero serial).
pub fn certificate_serial(kind: CertificateKind, holder: &MyNumber, not_before: NaiveDate) -> u64 {
    derived_serial(kind.label(), holder, not_before)
}

/// The serial derivation shared by the card's and the phones' certificates (see
/// [`certificate_serial`]'s contract).
fn derived_serial(kind: &str, holder: &MyNumber, not_before: NaiveDate) -> u64 {
    let text = format!(
        "myna-hil/certificate-serial/v1|{kind}|{}|{}",
        holder.as_str(),
        not_before.format("%Y-%m-%d")
    );
    let digest = Sha256::digest(text.as_bytes());
    let mut first_eight = [0u8; 8];
    first_eight.copy_from_slice(&digest[..8]);
    let serial = u64::from_be_bytes(first_eight) & 0x7FFF_FFFF_FFFF_FFFF;
    serial.max(1)
}

/// The serial of a phone's 利用者証明用 certificate: [`certificate_serial`]'s derivation with
/// `smartphone-android` or `smartphone-iphone` in place of the kind, so a phone issued on the
/// day of its card still has a serial of its own.
pub fn smartphone_certificate_serial(
    phone: PhoneKind,
    holder: &MyNumber,
    not_before: NaiveDate,
) -> u64 {
    derived_serial(&format!("smartphone-{}", phone.label()), holder, not_before)
}

/// Test key number `index` from the committed pool (RSA-2048, e = 65537).
///
/// The pool has [`pool_size`] keys (16 as committed); `index` wraps around, so any index is
/// valid: key `index % pool_size()`. Keys are parsed once and cached; each call returns a
/// clone.
pub fn pool_key(index: usize) -> Result<RsaPrivateKey, PkiError> {
    pool::pool_key(index)
}

/// [`pool_key`] `index` prepared for signing, one shared [`RsaSigner`] per pool slot.
pub(crate) fn pool_signer(index: usize) -> Result<std::sync::Arc<RsaSigner>, PkiError> {
    pool::pool_signer(index)
}

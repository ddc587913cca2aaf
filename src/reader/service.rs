//! What the terminal needs from the qualification system, as a narrow trait: a challenge, a
//! check, a registration. Implemented for the in-process [`Oqs`]; an HTTP client can implement
//! it the same way. [`Network`] wraps any implementation with an outage switch.
//!
//! How a reception proves it holds the card (the real mechanism is not public; this is the
//! harness's documented choice, see docs/reader.md):
//! - **PIN**: the card's auth key signs SHA-256(challenge) after the PIN VERIFY, and the
//!   terminal sends certificate + challenge + signature ([`Possession`]);
//! - **face / 目視**: the card cannot sign (EF `0017` needs the auth PIN; a 顔認証マイナンバー
//!   カード has none), so the terminal sends the certificate only, with the identity method as
//!   the reader's attestation ([`IdentityMethod`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::oqs::message::{CheckRequest, CheckResponse, ConsentChoices};
use crate::oqs::service::{CheckContext, Oqs};
use crate::pki::{CertificateKind, TestPki};

/// How the holder was identified at the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMethod {
    /// 顔認証: camera against the card photo (surface AP opened with 照合番号B).
    Face,
    /// The 4-digit 利用者証明用 PIN (VERIFY on JPKI EF `0018`).
    Pin,
    /// 目視: staff compare the holder with the card face.
    Visual,
}

/// Proof that the card is present: a service challenge signed by the card's auth key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Possession {
    pub challenge: Vec<u8>,
    /// PKCS#1 v1.5 over the DigestInfo of SHA-256(challenge), 256 bytes.
    pub signature: Vec<u8>,
}

/// One request from the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRequest {
    /// DER of the 利用者証明用電子証明書 read from JPKI EF `000A`.
    pub certificate: Vec<u8>,
    pub identity: IdentityMethod,
    /// Present for PIN receptions; `None` for face / 目視 (attested by the reader).
    pub possession: Option<Possession>,
    pub facility_code: String,
    pub date: NaiveDate,
    pub time: Option<NaiveTime>,
    pub consent: ConsentChoices,
}

/// Why the terminal got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The network or the service is down (the 緊急時 path).
    #[error("the qualification system is unreachable: {0}")]
    Unreachable(String),
    /// The service cannot take this kind of request (documented gaps).
    #[error("the qualification system cannot process this request: {0}")]
    Unsupported(String),
    /// The request was refused before any rule applied (certificate not from the CA...).
    #[error("the qualification system refused the request: {0}")]
    Refused(String),
}

/// The qualification system as the terminal sees it.
pub trait QualificationService {
    /// A fresh single-use challenge for proof of possession.
    fn challenge(&self) -> Result<Vec<u8>, ServiceError>;
    /// The qualification check.
    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError>;
    /// 保険証利用登録 of the presented card.
    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError>;
}

impl<T: QualificationService + ?Sized> QualificationService for &T {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        (**self).challenge()
    }
    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        (**self).check(request)
    }
    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        (**self).register(request)
    }
}

impl<T: QualificationService + ?Sized> QualificationService for Arc<T> {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        (**self).challenge()
    }
    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        (**self).check(request)
    }
    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        (**self).register(request)
    }
}

fn check_request(request: &TerminalRequest, possession: &Possession) -> CheckRequest {
    CheckRequest {
        challenge: possession.challenge.clone(),
        certificate: request.certificate.clone(),
        signature: possession.signature.clone(),
        facility_code: request.facility_code.clone(),
        date: request.date,
        time: request.time,
        consent: request.consent,
        arbitrary_file_identifier: None,
        character_code: Default::default(),
    }
}

/// The in-process service. PIN receptions go through [`Oqs::check`] / [`Oqs::register`] with
/// full proof of possession (and are recorded in [`Oqs::calls`]).
///
/// Face / 目視 receptions: `Oqs` has no request form without a signature yet, so the
/// certificate is verified against the committed test CA here and the rules are applied with
/// [`Oqs::check_verified`]. Such checks are not recorded in `Oqs::calls`, and registration
/// without a PIN is [`ServiceError::Unsupported`] until the service accepts reader-attested
/// requests (the change is described in docs/reader.md).
impl QualificationService for Oqs {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        Ok(self.issue_challenge())
    }

    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        if let Some(possession) = &request.possession {
            return Ok(Oqs::check(self, &check_request(request, possession)));
        }
        let pki = TestPki::load()
            .map_err(|error| ServiceError::Unsupported(format!("test CA: {error}")))?;
        let verified = pki
            .verify_issued(CertificateKind::Authentication, &request.certificate)
            .map_err(|error| ServiceError::Refused(format!("certificate: {error}")))?;
        if !crate::oqs::service::is_facility_code(&request.facility_code) {
            return Err(ServiceError::Refused(format!(
                "facility_code must be 10 ASCII digits, got {:?}",
                request.facility_code
            )));
        }
        let context = CheckContext {
            facility_code: &request.facility_code,
            date: request.date,
            time: request.time.unwrap_or(NaiveTime::MIN),
            consent: request.consent,
            arbitrary_file_identifier: None,
            character_code: Default::default(),
        };
        Ok(self.check_verified(&verified, &context))
    }

    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        match &request.possession {
            Some(possession) => Ok(Oqs::register(self, &check_request(request, possession))),
            None => Err(ServiceError::Unsupported(
                "the in-process service registers a card only with proof of possession (PIN reception)".into(),
            )),
        }
    }
}

/// A service behind a network link that can go down (scenario event "network outage").
pub struct Network<S> {
    service: S,
    up: AtomicBool,
}

impl<S> Network<S> {
    pub fn new(service: S) -> Network<S> {
        Network {
            service,
            up: AtomicBool::new(true),
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn service(&self) -> &S {
        &self.service
    }

    fn reachable(&self) -> Result<(), ServiceError> {
        if self.is_up() {
            Ok(())
        } else {
            Err(ServiceError::Unreachable(
                "network outage (injected)".into(),
            ))
        }
    }
}

impl<S: QualificationService> QualificationService for Network<S> {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        self.reachable()?;
        self.service.challenge()
    }
    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.reachable()?;
        self.service.check(request)
    }
    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.reachable()?;
        self.service.register(request)
    }
}

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
//!   the reader's attestation ([`IdentityMethod`]). The service applies every other rule
//!   (certificate chain, validity and grace, revocation, registration, J-LIS re-link, DV and
//!   mis-link flags) exactly as for a PIN reception.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};

use crate::oqs::message::{CheckRequest, CheckResponse, ConsentChoices};
use crate::oqs::service::Oqs;
use crate::person::PhoneKind;

/// How the holder was identified at the reader: the qualification service's own type, so the
/// method the reader reports is the one the service records.
pub use crate::oqs::message::IdentityMethod;

/// Proof that the card is present: a service challenge signed by the card's auth key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Possession {
    pub(crate) challenge: Vec<u8>,
    /// PKCS#1 v1.5 over the DigestInfo of SHA-256(challenge), 256 bytes.
    pub(crate) signature: Vec<u8>,
}

/// One request from the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRequest {
    /// DER of the 利用者証明用電子証明書 read from JPKI EF `000A`.
    pub(crate) certificate: Vec<u8>,
    pub(crate) identity: IdentityMethod,
    /// Present for PIN receptions; `None` for face / 目視 (attested by the reader).
    pub(crate) possession: Option<Possession>,
    pub(crate) facility_code: String,
    pub(crate) date: NaiveDate,
    pub(crate) time: Option<NaiveTime>,
    pub(crate) consent: ConsentChoices,
    /// The certificate is a phone's, read from the generic reader (`None`: a card).
    pub(crate) smartphone: Option<PhoneKind>,
}

/// Why the terminal got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The network or the service is down (the 緊急時 path).
    #[error("the qualification system is unreachable: {0}")]
    Unreachable(String),
    /// The service cannot take this kind of request (a service without that call).
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

impl TerminalRequest {
    /// The qualification service's request (JSON / XML form): the method always, challenge and
    /// signature only when the card signed (PIN receptions).
    pub(crate) fn to_check_request(&self) -> CheckRequest {
        let possession = self.possession.as_ref();
        CheckRequest {
            identity: self.identity,
            challenge: possession.map(|p| p.challenge.clone()),
            certificate: self.certificate.clone(),
            signature: possession.map(|p| p.signature.clone()),
            facility_code: self.facility_code.clone(),
            date: self.date,
            time: self.time,
            consent: self.consent,
            arbitrary_file_identifier: None,
            character_code: Default::default(),
            smartphone: self.smartphone,
        }
    }
}

/// The in-process service: every reception goes through [`Oqs::check`] / [`Oqs::register`]
/// with its identity method (recorded in [`Oqs::calls`]); PIN receptions carry the signature,
/// face / 目視 receptions the reader's attestation.
impl QualificationService for Oqs {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        Ok(self.issue_challenge())
    }

    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        Ok(Oqs::check(self, &request.to_check_request()))
    }

    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        Ok(Oqs::register(self, &request.to_check_request()))
    }
}

/// A service behind a network link that can go down (scenario event "network outage").
pub struct Network<S> {
    service: S,
    up: AtomicBool,
}

impl<S> Network<S> {
    /// Puts `service` behind a network link that is up.
    pub fn new(service: S) -> Network<S> {
        Network {
            service,
            up: AtomicBool::new(true),
        }
    }

    /// Takes the link down (every call then fails as a network error) or brings it back.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The qualification system behind the link.
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

//! The qualification service: proof of possession, the rules, and the record of calls received.
//!
//! How a request proves the card is present (the harness's design; the real interface's is not
//! public) depends on how the reader identified the holder ([`IdentityMethod`]):
//! - `pin`: the terminal asks for a challenge, the card signs SHA-256(challenge) wrapped in a
//!   DigestInfo with its authentication key (PKCS#1 v1.5; the card allows this only after the
//!   auth PIN VERIFY), and the request carries the challenge and the signature;
//! - `face` (顔認証) / `visual` (staff 目視): no PIN is entered, so the card cannot sign (a
//!   顔認証マイナンバーカード has no PIN at all). The reader attests the identification by the
//!   method field and the request carries the certificate without challenge or signature. If
//!   such a request nevertheless carries them, they are verified exactly as for `pin`.
//!
//! Every request also carries the consent choices, the 医療機関コード and the scenario date.
//! The service checks, in this order: request shape (including the method's proof rule),
//! certificate DER, challenge (single use; when signed), issuer (test CA), signature (when
//! signed), validity at the date (with grace), revocation, registration, J-LIS re-link, record
//! flags — each failure is its own [`Outcome`]. Everything after the signature is the same for
//! every method.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rsa::pkcs1v15::Signature;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

use crate::oqs::chain_memo::{ChainMemo, CHAIN_MEMO_CAPACITY};
use crate::oqs::codes::{CharacterCode, QualificationValidity, ReferenceClassification};
use crate::oqs::description::{LinkState, RegistryOptions};
use crate::oqs::insurer::{canonical_insurer_number, written_insurer_number};
use crate::oqs::kana::to_half_width_katakana;
use crate::oqs::message::{
    yyyymmdd, yyyymmddhhmmss, CheckRequest, CheckResponse, ConsentChoices, ConsentMode,
    ElderlyRecipientCertificateInfo, IdentityMethod, InsuranceCardRequest,
    LimitApplicationCertificateRelatedInfo, MessageBody, MessageHeader, QualificationResult,
    SpecificDiseasesCertificateInfo,
};
use crate::oqs::outcome::Outcome;
use crate::oqs::registry::{CardView, PersonView, QualificationView, Registry};
use crate::oqs::rules::{self, CertificateStanding};
use crate::person::PhoneKind;
use crate::pki::{verify_pkcs1_sha256, CertificateKind, PkiError, TestPki, VerifiedCertificate};

/// Who vouches for authentication certificates (the test CA, or a stand-in in tests).
///
/// Bytes that are not a DER X.509 certificate must be refused with [`PkiError::Malformed`]:
/// the service answers `CertificateMalformed` for that error alone.
pub(crate) trait CertificateAuthority: Send + Sync {
    fn verify_authentication_certificate(
        &self,
        der: &[u8],
    ) -> Result<VerifiedCertificate, PkiError>;

    /// Whether `signature` is the holder's PKCS#1 v1.5 SHA-256 signature over `message`, with
    /// the key of `verified`, the certificate `der` this authority vouched for.
    fn holder_signed(
        &self,
        der: &[u8],
        verified: &VerifiedCertificate,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let _ = der;
        verify_pkcs1_sha256(&verified.public_key, message, signature)
    }
}

impl CertificateAuthority for TestPki {
    fn verify_authentication_certificate(
        &self,
        der: &[u8],
    ) -> Result<VerifiedCertificate, PkiError> {
        self.verify_issued(CertificateKind::Authentication, der)
    }
}

/// Knobs of the service that are not part of the registry.
#[derive(Debug, Clone)]
pub struct OqsConfig {
    /// Keep a record of the calls received (scenarios assert on it).
    pub record_calls: bool,
    /// Oldest records are dropped beyond this many.
    pub max_recorded_calls: usize,
    /// Oldest unused challenges are forgotten beyond this many.
    pub max_outstanding_challenges: usize,
    /// Seed for challenges, so that recorded runs are reproducible; `None` = OS randomness.
    pub challenge_seed: Option<u64>,
    /// Load testing only (`oqs serve --reusable-challenges`): an issued challenge stays valid
    /// after use, so that a load generator can sign a pool of checks in advance instead of
    /// paying an RSA signature per request. Every other step of the check still runs.
    pub reusable_challenges: bool,
}

impl Default for OqsConfig {
    fn default() -> Self {
        OqsConfig {
            record_calls: true,
            max_recorded_calls: 100_000,
            max_outstanding_challenges: 100_000,
            challenge_seed: None,
            reusable_challenges: false,
        }
    }
}

/// What kind of call the service received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// A request for the challenge the card signs to prove possession.
    Challenge,
    /// An online qualification check (オンライン資格確認).
    Check,
    /// A lookup by insurance card symbol and number (no My Number Card).
    InsuranceCardLookup,
    /// A 保険証利用登録 (linking the card to the insurance record).
    Register,
}

/// One call as the service saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Which call it was.
    pub kind: CallKind,
    /// The day the request gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// The asking facility's 医療機関コード.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility_code: Option<String>,
    /// Serial of the presented certificate, once verified by the CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<u64>,
    /// What the service answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The qualification's validity, for a check that found one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_validity: Option<QualificationValidity>,
    /// How the reader identified the holder (checks and registrations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityMethod>,
    /// The certificate was a phone's スマホ用電子証明書 of this kind (by the registry; absent for
    /// a card), so scenarios can assert that a phone was used (docs/spec/smartphone.md §5.19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smartphone: Option<PhoneKind>,
}

/// Link states changed at run time (registrations, re-links), on top of the registry.
#[derive(Debug, Clone, Copy)]
struct LinkOverride {
    link: LinkState,
    since: NaiveDate,
}

struct ChallengeStore {
    rng: ChaCha20Rng,
    outstanding: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

/// The qualification system simulator.
pub struct Oqs {
    registry: Registry,
    config: OqsConfig,
    authority: Arc<dyn CertificateAuthority>,
    challenges: Mutex<ChallengeStore>,
    overrides: RwLock<HashMap<u64, LinkOverride>>,
    jlis_available: AtomicBool,
    /// The clinic's link to the system (scenario world event `network_outage`): while down,
    /// the file interface leaves requests waiting in `req`.
    reachable: AtomicBool,
    calls: Mutex<VecDeque<CallRecord>>,
}

/// What a check needs besides the verified certificate.
#[derive(Debug, Clone)]
pub struct CheckContext<'a> {
    /// The asking facility's 医療機関コード.
    pub facility_code: &'a str,
    /// The day of the request.
    pub date: NaiveDate,
    /// The time written as ProcessExecutionTime.
    pub time: NaiveTime,
    /// What the patient consented to share.
    pub consent: ConsentChoices,
    /// `ArbitraryFileIdentifier`, answered exactly as sent.
    pub arbitrary_file_identifier: Option<&'a str>,
    /// The encoding of the answer.
    pub character_code: CharacterCode,
}

impl<'a> CheckContext<'a> {
    fn of(request: &'a CheckRequest) -> CheckContext<'a> {
        CheckContext {
            facility_code: &request.facility_code,
            date: request.date,
            time: request.time.unwrap_or(NaiveTime::MIN),
            consent: request.consent,
            arbitrary_file_identifier: request.arbitrary_file_identifier.as_deref(),
            character_code: request.character_code,
        }
    }
}

mod phone;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// 医療機関コード: 10 ASCII digits.
pub(crate) fn is_facility_code(code: &str) -> bool {
    code.len() == 10 && code.bytes().all(|b| b.is_ascii_digit())
}

impl Oqs {
    /// The service over `registry`, trusting the committed test CA.
    pub fn new(registry: Registry, config: OqsConfig) -> Result<Oqs, PkiError> {
        let pki: &'static TestPki = TestPki::load()?;
        Ok(Self::with_authority(
            registry,
            config,
            Arc::new(StaticAuthority {
                pki,
                memo: ChainMemo::new(CHAIN_MEMO_CAPACITY),
            }),
        ))
    }

    /// The service trusting `authority` (tests bring their own).
    pub(crate) fn with_authority(
        registry: Registry,
        config: OqsConfig,
        authority: Arc<dyn CertificateAuthority>,
    ) -> Oqs {
        let rng = match config.challenge_seed {
            Some(seed) => ChaCha20Rng::seed_from_u64(seed),
            None => ChaCha20Rng::from_entropy(),
        };
        Oqs {
            registry,
            config,
            authority,
            challenges: Mutex::new(ChallengeStore {
                rng,
                outstanding: HashSet::new(),
                order: VecDeque::new(),
            }),
            overrides: RwLock::new(HashMap::new()),
            jlis_available: AtomicBool::new(true),
            reachable: AtomicBool::new(true),
            calls: Mutex::new(VecDeque::new()),
        }
    }

    /// The registry the service answers from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether challenges stay valid after use ([`OqsConfig::reusable_challenges`]).
    pub fn reusable_challenges(&self) -> bool {
        self.config.reusable_challenges
    }

    /// Takes J-LIS down or brings it back (on top of the registry's dated outages).
    pub fn set_jlis_available(&self, available: bool) {
        self.jlis_available.store(available, Ordering::Relaxed);
    }

    /// Takes the clinic's network link down or brings it back.
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::Relaxed);
    }

    pub(crate) fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    fn jlis_reachable(&self, date: NaiveDate) -> bool {
        self.jlis_available.load(Ordering::Relaxed)
            && !self
                .registry
                .options()
                .jlis_outages
                .iter()
                .any(|outage| outage.contains(date))
    }

    /// The calls received so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.calls).iter().cloned().collect()
    }

    /// Up to `limit` of the calls on record after the first `after` (oldest first), and how
    /// many remain after those: a page of [`Oqs::calls`] without copying the whole record.
    pub(crate) fn calls_page(&self, after: usize, limit: usize) -> (Vec<CallRecord>, usize) {
        let calls = lock(&self.calls);
        let page: Vec<CallRecord> = calls.iter().skip(after).take(limit).cloned().collect();
        let remaining = calls.len().saturating_sub(after.saturating_add(page.len()));
        (page, remaining)
    }

    fn record(&self, record: CallRecord) {
        if !self.config.record_calls {
            return;
        }
        let mut calls = lock(&self.calls);
        if calls.len() >= self.config.max_recorded_calls {
            calls.pop_front();
        }
        calls.push_back(record);
    }

    /// A fresh single-use challenge (32 bytes).
    pub fn issue_challenge(&self) -> Vec<u8> {
        let mut bytes = [0u8; 32];
        {
            let mut store = lock(&self.challenges);
            store.rng.fill_bytes(&mut bytes);
            if store.order.len() >= self.config.max_outstanding_challenges {
                if let Some(oldest) = store.order.pop_front() {
                    store.outstanding.remove(&oldest);
                }
            }
            store.outstanding.insert(bytes);
            store.order.push_back(bytes);
        }
        self.record(CallRecord {
            kind: CallKind::Challenge,
            date: None,
            facility_code: None,
            certificate_serial: None,
            outcome: None,
            qualification_validity: None,
            identity: None,
            smartphone: None,
        });
        bytes.to_vec()
    }

    fn take_challenge(&self, challenge: &[u8]) -> bool {
        let Ok(key) = <[u8; 32]>::try_from(challenge) else {
            return false;
        };
        let mut store = lock(&self.challenges);
        if self.config.reusable_challenges {
            // Still only challenges this service issued (and has not forgotten).
            return store.outstanding.contains(&key);
        }
        if store.outstanding.remove(&key) {
            store.order.retain(|c| *c != key);
            true
        } else {
            false
        }
    }

    /// Verifies the request's certificate, and its proof of possession when it carries one; on
    /// success the verified certificate.
    ///
    /// A refusal carries the certificate's serial when the CA vouched for it (for the record).
    fn verify_request(
        &self,
        request: &CheckRequest,
    ) -> Result<VerifiedCertificate, (Outcome, Option<u64>)> {
        let serial_unknown = |outcome| (outcome, None);
        if proof_shape_error(request).is_some() {
            return Err(serial_unknown(Outcome::RequestInvalid));
        }
        self.verify_shape_and_issuer(request)
            .map_err(serial_unknown)
            .and_then(|verified| {
                let Some(signature) = &request.signature else {
                    // face / 目視: the reader's attestation stands in for the signature.
                    return Ok(verified);
                };
                let serial = Some(verified.serial);
                if signature.len() != verified.public_key.size() {
                    return Err((Outcome::SignatureMalformed, serial));
                }
                Signature::try_from(signature.as_slice())
                    .map_err(|_| (Outcome::SignatureMalformed, serial))?;
                let challenge = request.challenge.as_deref().unwrap_or_default();
                if !self.authority.holder_signed(
                    &request.certificate,
                    &verified,
                    challenge,
                    signature,
                ) {
                    return Err((Outcome::SignatureInvalid, serial));
                }
                Ok(verified)
            })
    }

    fn verify_shape_and_issuer(
        &self,
        request: &CheckRequest,
    ) -> Result<VerifiedCertificate, Outcome> {
        if !is_facility_code(&request.facility_code) {
            return Err(Outcome::RequestInvalid);
        }
        if request.consent.mode == ConsentMode::Comprehensive
            && !rules::comprehensive_consent_available(request.date)
        {
            return Err(Outcome::RequestInvalid);
        }
        // The certificate is decoded once, by the authority; its verdict waits until the
        // challenge is taken, so that only a malformed certificate leaves the challenge unused.
        let verdict = self
            .authority
            .verify_authentication_certificate(&request.certificate);
        if let Err(PkiError::Malformed(_)) = verdict {
            return Err(Outcome::CertificateMalformed);
        }
        if let Some(challenge) = &request.challenge {
            if !self.take_challenge(challenge) {
                return Err(Outcome::ChallengeUnknown);
            }
        }
        verdict.map_err(|_| Outcome::CertificateUntrusted)
    }

    /// Why a malformed request was refused (for the 4xx message).
    pub fn describe_refusal(request: &CheckRequest, outcome: Outcome) -> String {
        if let (Outcome::RequestInvalid, Some(problem)) = (outcome, proof_shape_error(request)) {
            return problem.to_owned();
        }
        match outcome {
            Outcome::RequestInvalid if !is_facility_code(&request.facility_code) => {
                format!(
                    "facility_code must be 10 ASCII digits, got {:?}",
                    request.facility_code
                )
            }
            Outcome::RequestInvalid
                if request.consent.mode == ConsentMode::Comprehensive
                    && !rules::comprehensive_consent_available(request.date) =>
            {
                "consent.mode comprehensive (包括同意) exists only from 2024-10-07".to_owned()
            }
            // The one other cause: a phone's certificate without its signature.
            Outcome::RequestInvalid => SMARTPHONE_UNSIGNED.to_owned(),
            Outcome::CertificateMalformed => {
                "certificate is not a DER X.509 certificate".to_owned()
            }
            Outcome::SignatureMalformed => {
                "signature length differs from the certificate key's modulus".to_owned()
            }
            other => other.default_message().to_owned(),
        }
    }

    /// A qualification check by マイナンバーカード.
    pub fn check(&self, request: &CheckRequest) -> CheckResponse {
        self.verified_call(request, CallKind::Check, Oqs::check_verified)
    }

    /// 保険証利用登録 of the presented card (the reader's registration flow).
    pub fn register(&self, request: &CheckRequest) -> CheckResponse {
        self.verified_call(request, CallKind::Register, Oqs::register_verified)
    }

    /// A card's call, check or registration: the proof of possession (or the reader's
    /// attestation) verified, then `answer`, or the refusal; recorded either way.
    fn verified_call(
        &self,
        request: &CheckRequest,
        kind: CallKind,
        answer: fn(&Oqs, &VerifiedCertificate, &CheckContext<'_>) -> CheckResponse,
    ) -> CheckResponse {
        let context = CheckContext::of(request);
        let mut smartphone = None;
        let (response, serial) = match self.verify_request(request) {
            Ok(verified) => {
                // A phone's certificate is answered by the phone rules (`phone`).
                let response = match self.registry.smartphone(verified.serial) {
                    Some(phone) => {
                        smartphone = Some(phone.kind);
                        self.answer_smartphone(&phone, request, kind, &verified, &context)
                    }
                    None if request.smartphone.is_some() => self
                        .reply(&context, ReferenceClassification::MyNumberCard)
                        .refusal(Outcome::SmartphoneNotRegistered),
                    None => answer(self, &verified, &context),
                };
                (response, Some(verified.serial))
            }
            Err((outcome, serial)) => (
                self.reply(&context, ReferenceClassification::MyNumberCard)
                    .refusal(outcome),
                serial,
            ),
        };
        self.record(CallRecord {
            kind,
            date: Some(request.date),
            facility_code: Some(request.facility_code.clone()),
            certificate_serial: serial,
            outcome: Some(response.outcome),
            // A registration answers no qualification.
            qualification_validity: match kind {
                CallKind::Check => response.body.qualification_validity,
                _ => None,
            },
            identity: Some(request.identity),
            smartphone,
        });
        response
    }

    /// The admission a check and a registration share: the certificate within its validity
    /// (the grace period only if `grace_admitted`: a registration wants a renewed card), the
    /// card known and not revoked on the date, and its link state then; else the refusal.
    fn admit_card(
        &self,
        verified: &VerifiedCertificate,
        context: &CheckContext<'_>,
        grace_admitted: bool,
    ) -> Result<AdmittedCard, Outcome> {
        let standing = rules::certificate_standing(
            context.date,
            verified.not_before,
            verified.not_after,
            self.registry.options().grace,
        );
        match standing {
            CertificateStanding::NotYetValid => return Err(Outcome::CertificateNotYetValid),
            CertificateStanding::Grace if !grace_admitted => {
                return Err(Outcome::CertificateExpired)
            }
            CertificateStanding::Expired => return Err(Outcome::CertificateExpired),
            CertificateStanding::Valid | CertificateStanding::Grace => {}
        }
        let Some(card) = self.registry.card(verified.serial) else {
            return Err(Outcome::CardNotRegistered);
        };
        if card.revoked.is_some_and(|r| r.on <= context.date) {
            return Err(Outcome::CertificateRevoked);
        }
        let (link, _) =
            self.effective_link(verified.serial, card.link, card.registered_on, context.date);
        Ok(AdmittedCard {
            standing,
            card,
            link,
        })
    }

    fn register_verified(
        &self,
        verified: &VerifiedCertificate,
        context: &CheckContext<'_>,
    ) -> CheckResponse {
        let reply = self.reply(context, ReferenceClassification::MyNumberCard);
        let link = match self.admit_card(verified, context, false) {
            Ok(admitted) => admitted.link,
            Err(outcome) => return reply.refusal(outcome),
        };
        match link {
            LinkState::Registered => reply.refusal(Outcome::Registered),
            LinkState::CancelledAfterGrace => {
                reply.refusal(Outcome::RegistrationCancelledAfterGrace)
            }
            LinkState::NotRegistered | LinkState::CancelledOnRequest | LinkState::RelinkNeeded => {
                if !self.jlis_reachable(context.date) {
                    return reply.refusal(Outcome::JlisUnavailable);
                }
                self.set_override(verified.serial, LinkState::Registered, context.date);
                reply.refusal(Outcome::Registered)
            }
        }
    }

    fn set_override(&self, serial: u64, link: LinkState, since: NaiveDate) {
        self.overrides
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(serial, LinkOverride { link, since });
    }

    /// The link state on `date`, with run-time changes applied; the bool says it changed at run time.
    fn effective_link(
        &self,
        serial: u64,
        stored: LinkState,
        registered_on: Option<NaiveDate>,
        date: NaiveDate,
    ) -> (LinkState, bool) {
        let overrides = self
            .overrides
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(change) = overrides.get(&serial) {
            if change.since <= date {
                return (change.link, true);
            }
        }
        match (stored, registered_on) {
            (LinkState::Registered, Some(on)) if date < on => (LinkState::NotRegistered, false),
            (state, _) => (state, false),
        }
    }

    /// The check once the proof of possession holds: what the national-scale benchmark times.
    pub fn check_verified(
        &self,
        verified: &VerifiedCertificate,
        context: &CheckContext<'_>,
    ) -> CheckResponse {
        let reply = self.reply(context, ReferenceClassification::MyNumberCard);
        let options = self.registry.options();
        let AdmittedCard {
            standing,
            card,
            link,
        } = match self.admit_card(verified, context, true) {
            Ok(admitted) => admitted,
            Err(outcome) => return reply.refusal(outcome),
        };
        match link {
            LinkState::Registered => {}
            LinkState::NotRegistered => return reply.refusal(Outcome::CardNotRegistered),
            LinkState::CancelledOnRequest => {
                return reply.refusal(Outcome::RegistrationCancelledOnRequest)
            }
            LinkState::CancelledAfterGrace => {
                return reply.refusal(Outcome::RegistrationCancelledAfterGrace)
            }
            LinkState::RelinkNeeded => {
                if !self.jlis_reachable(context.date) {
                    return reply.refusal(Outcome::JlisUnavailable);
                }
                self.set_override(verified.serial, LinkState::Registered, context.date);
            }
        }
        let Some(person) = self.registry.person(card.person) else {
            return reply.refusal(Outcome::CardNotRegistered);
        };
        if person.self_information_blocked() {
            return reply.refusal(Outcome::SelfInformationBlocked);
        }
        if (card.mislinked || person.jlis_mismatch()) && context.date >= options.mislink_block_from
        {
            return reply.refusal(Outcome::RecordBlocked);
        }
        let in_grace = standing == CertificateStanding::Grace;
        let (validity, listed) = evaluate_by_card(&person, context.date);
        let mut response = reply.answer(validity, &listed, &person, in_grace);
        response.certificate_in_grace = in_grace;
        response.renewal_notice = rules::renewal_notice_due(context.date, verified.not_after);
        response
    }

    /// The 被保険者証情報 path: lookup by insurer number, symbol, number, branch and birth date.
    pub fn lookup_by_insurance_card(&self, request: &InsuranceCardRequest) -> CheckResponse {
        let context = CheckContext {
            facility_code: &request.facility_code,
            date: request.date,
            time: request.time.unwrap_or(NaiveTime::MIN),
            consent: ConsentChoices {
                limit_amount: request.limit_consent,
                ..ConsentChoices::default()
            },
            arbitrary_file_identifier: request.arbitrary_file_identifier.as_deref(),
            character_code: request.character_code,
        };
        let mut response = self.lookup_inner(request, &context);
        response.body.qualification_confirm_search_info = Some(request.search_info());
        self.record(CallRecord {
            kind: CallKind::InsuranceCardLookup,
            date: Some(request.date),
            facility_code: Some(request.facility_code.clone()),
            certificate_serial: None,
            outcome: Some(response.outcome),
            qualification_validity: response.body.qualification_validity,
            identity: None,
            smartphone: None,
        });
        response
    }

    fn lookup_inner(
        &self,
        request: &InsuranceCardRequest,
        context: &CheckContext<'_>,
    ) -> CheckResponse {
        let reply = self.reply(context, ReferenceClassification::InsuranceCard);
        // An empty 枝番 (as some clients send it) matches any.
        let branch = match (request.branch.len(), request.branch.parse::<u8>()) {
            (0, _) => None,
            (2, Ok(branch)) => Some(branch),
            _ => return reply.refusal(Outcome::RequestInvalid),
        };
        let Ok(insurer_number) = canonical_insurer_number(&request.insurer_number) else {
            return reply.refusal(Outcome::RequestInvalid);
        };
        if !is_facility_code(&request.facility_code) {
            return reply.refusal(Outcome::RequestInvalid);
        }
        let date = request.date;
        let candidates = match branch {
            Some(branch) => self.registry.find_by_insurance_card(
                &insurer_number,
                &request.symbol,
                &request.number,
                branch,
            ),
            None => (0..=99)
                .flat_map(|branch| {
                    self.registry.find_by_insurance_card(
                        &insurer_number,
                        &request.symbol,
                        &request.number,
                        branch,
                    )
                })
                .collect(),
        };
        let found: Vec<QualificationView<'_>> = candidates
            .into_iter()
            .filter(|q| q.is_registered_on(date))
            .filter(|q| {
                self.registry
                    .person(q.person())
                    .is_some_and(|p| p.birth_date() == request.birth_date)
            })
            .collect();
        let Some(first) = found.first() else {
            return reply.answer_without_person(QualificationValidity::NoQualification);
        };
        let Some(person) = self.registry.person(first.person()) else {
            return reply.answer_without_person(QualificationValidity::NoQualification);
        };
        if person.self_information_blocked() {
            return reply.refusal(Outcome::SelfInformationBlocked);
        }
        let validity = if found.len() > 1 {
            QualificationValidity::Multiple
        } else if first.appears_in_force_on(date) {
            QualificationValidity::Valid
        } else if first.acquired() > date {
            QualificationValidity::NoQualification
        } else if person.qualifications().any(|other| {
            other.id() != first.id()
                && other.is_registered_on(date)
                && other.acquired() > first.acquired()
        }) {
            QualificationValidity::InvalidNewQualificationExists
        } else {
            QualificationValidity::Invalid
        };
        if validity == QualificationValidity::NoQualification {
            return reply.answer_without_person(validity);
        }
        reply.answer(validity, &found, &person, false)
    }

    /// How answers to a request that came by `reference` are written.
    fn reply<'a>(
        &'a self,
        context: &'a CheckContext<'a>,
        reference: ReferenceClassification,
    ) -> Reply<'a> {
        Reply {
            options: self.registry.options(),
            context,
            reference,
        }
    }
}

/// A card the admission let through, with what the rest of its call needs.
struct AdmittedCard {
    standing: CertificateStanding,
    card: CardView,
    link: LinkState,
}

/// How the answers to one request are written: its context, what it identified the patient by
/// (every answer to it carries that ReferenceClassification) and the registry's result codes.
struct Reply<'a> {
    options: &'a RegistryOptions,
    context: &'a CheckContext<'a>,
    reference: ReferenceClassification,
}

impl Reply<'_> {
    fn header(&self, outcome: Outcome) -> MessageHeader {
        let context = self.context;
        let codes = self.options.result_codes.get(&outcome);
        MessageHeader {
            process_execution_time: yyyymmddhhmmss(NaiveDateTime::new(context.date, context.time)),
            qualification_confirmation_date: yyyymmdd(context.date),
            medical_institution_code: context.facility_code.to_owned(),
            arbitrary_file_identifier: context.arbitrary_file_identifier.map(str::to_owned),
            reference_classification: self.reference,
            segment_of_result: outcome.segment_of_result(),
            error_code: codes.and_then(|c| c.error_code.clone()),
            error_message: codes.and_then(|c| c.error_message.clone()),
            character_code_identifier: context.character_code,
        }
    }

    fn body(
        &self,
        outcome: Outcome,
        validity: Option<QualificationValidity>,
        results: Vec<QualificationResult>,
    ) -> MessageBody {
        let codes = self.options.result_codes.get(&outcome);
        MessageBody {
            processing_result_status: outcome.processing_result_status(),
            processing_result_code: codes.and_then(|c| c.processing_result_code.clone()),
            processing_result_message: Some(
                codes
                    .and_then(|c| c.processing_result_message.clone())
                    .unwrap_or_else(|| outcome.default_message().to_owned()),
            ),
            qualification_validity: validity,
            result_list: results,
            qualification_confirm_search_info: None,
        }
    }

    /// An answer without qualification data (refusals, registrations).
    fn refusal(&self, outcome: Outcome) -> CheckResponse {
        CheckResponse {
            outcome,
            certificate_in_grace: false,
            renewal_notice: false,
            header: self.header(outcome),
            body: self.body(outcome, None, Vec::new()),
        }
    }

    fn answer_without_person(&self, validity: QualificationValidity) -> CheckResponse {
        CheckResponse {
            outcome: Outcome::Answered,
            certificate_in_grace: false,
            renewal_notice: false,
            header: self.header(Outcome::Answered),
            body: self.body(Outcome::Answered, Some(validity), Vec::new()),
        }
    }

    fn answer(
        &self,
        validity: QualificationValidity,
        listed: &[QualificationView<'_>],
        person: &PersonView<'_>,
        in_grace: bool,
    ) -> CheckResponse {
        let results = listed
            .iter()
            .map(|q| qualification_result(person, q, self.context, in_grace, self.reference))
            .collect();
        CheckResponse {
            outcome: Outcome::Answered,
            certificate_in_grace: in_grace,
            renewal_notice: false,
            header: self.header(Outcome::Answered),
            body: self.body(Outcome::Answered, Some(validity), results),
        }
    }
}

/// Why the request's challenge and signature do not fit its identity method, if they don't:
/// `pin` needs both; `face` / `visual` need neither, but a signature comes with its challenge.
fn proof_shape_error(request: &CheckRequest) -> Option<&'static str> {
    let signed = request.challenge.is_some() && request.signature.is_some();
    if request.smartphone.is_some() && !signed {
        return Some(SMARTPHONE_UNSIGNED);
    }
    match (
        request.identity.requires_signature(),
        request.challenge.is_some(),
        request.signature.is_some(),
    ) {
        (_, true, true) | (false, false, false) => None,
        (true, _, _) => {
            Some("identity pin requires both challenge and signature (proof of possession)")
        }
        (false, _, _) => {
            Some("challenge and signature come together; identity face / visual may omit both")
        }
    }
}

/// Why a phone credential's request without proof of possession is refused.
const SMARTPHONE_UNSIGNED: &str =
    "a phone credential (smartphone) is never attested by the reader: challenge and signature are required";

/// `Arc<dyn CertificateAuthority>` over the process-wide test PKI, behind a bounded memo of
/// the chains it vouched for (what may be kept, and what every request still checks:
/// `chain_memo`).
struct StaticAuthority {
    pki: &'static TestPki,
    memo: ChainMemo,
}

impl CertificateAuthority for StaticAuthority {
    fn verify_authentication_certificate(
        &self,
        der: &[u8],
    ) -> Result<VerifiedCertificate, PkiError> {
        self.memo
            .verify(der, |der| self.pki.verify_authentication_certificate(der))
    }

    fn holder_signed(
        &self,
        der: &[u8],
        verified: &VerifiedCertificate,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        self.memo.holder_signed(der, verified, message, signature)
    }
}

/// QualificationValidity of a card check, and the qualifications the answer lists.
///
/// Only qualifications the insurer has registered by `date` are visible, and a loss counts
/// from the day the insurer registered it. One in force → 1; several → 5 (an old one whose
/// loss is not registered yet and the new one); none in force: the latest lost one is answered
/// as 3 when a newer qualification is registered (starting later), and as 2 with its
/// DisqualificationDate and ReasonOfLoss otherwise (also while the new insurer has not
/// registered the member yet); nothing visible → 4.
pub(crate) fn evaluate_by_card<'a>(
    person: &PersonView<'a>,
    date: NaiveDate,
) -> (QualificationValidity, Vec<QualificationView<'a>>) {
    let visible: Vec<QualificationView<'a>> = person
        .qualifications()
        .filter(|q| q.is_registered_on(date))
        .collect();
    let in_force: Vec<QualificationView<'a>> = visible
        .iter()
        .copied()
        .filter(|q| q.appears_in_force_on(date))
        .collect();
    match in_force.len() {
        1 => return (QualificationValidity::Valid, in_force),
        n if n > 1 => return (QualificationValidity::Multiple, in_force),
        _ => {}
    }
    let latest_lost = visible
        .iter()
        .copied()
        .filter(|q| q.is_loss_registered_on(date))
        .max_by_key(|q| (q.lost(), q.acquired()));
    let Some(lost) = latest_lost else {
        return (QualificationValidity::NoQualification, Vec::new());
    };
    let newer_exists = visible
        .iter()
        .any(|q| q.id() != lost.id() && q.acquired() > lost.acquired());
    // Lost to another insurance that is not registered yet still answers 2 with the loss
    // date and reason: 4 is only for "no record at all".
    if newer_exists {
        (
            QualificationValidity::InvalidNewQualificationExists,
            vec![lost],
        )
    } else {
        (QualificationValidity::Invalid, vec![lost])
    }
}

fn flag(consented: bool) -> Option<String> {
    Some(if consented { "1" } else { "0" }.to_owned())
}

/// Consent data is available for this long after the consent (docs/spec/oqs-xml.md §4.5, §37: every
/// sample's `…AvailableTime` is its `…ConsTime` + 24 h).
const CONSENT_AVAILABLE_FOR: chrono::Duration = chrono::Duration::hours(24);

/// The flag, and for a flag 1 its `…ConsTime` and `…AvailableTime` (docs/spec/oqs-xml.md §4.5).
struct ConsentElements {
    flag: Option<String>,
    time: Option<String>,
    available: Option<String>,
}

fn consent_elements(given: Option<bool>, at: NaiveDateTime) -> ConsentElements {
    let consented = given == Some(true);
    ConsentElements {
        flag: given.and_then(flag),
        time: consented.then(|| yyyymmddhhmmss(at)),
        available: consented.then(|| yyyymmddhhmmss(at + CONSENT_AVAILABLE_FOR)),
    }
}

/// 後期高齢者医療: a 広域連合 number (8 digits, 法別番号 39), or anyone from the 75th birthday.
fn is_late_elderly(insurer_number: &str, birth: NaiveDate, date: NaiveDate) -> bool {
    (insurer_number.len() == 8 && insurer_number.starts_with("39"))
        || date >= rules::late_elderly_first_day(birth)
}

/// The 高齢受給者証 of a 70–74-year-old: the registry's when it has one, otherwise the rules'
/// (valid from the month after reaching 70 or the qualification, until the 31 July the
/// yearly reassessment ends it or the day before 後期高齢者医療, whichever is first; issued on
/// its first day; the ratio of the burden rules).
fn elderly_recipient_info(
    person: &PersonView<'_>,
    qualification: &QualificationView<'_>,
    date: NaiveDate,
    burden_percent: u8,
) -> ElderlyRecipientCertificateInfo {
    if let Some(configured) = qualification
        .extras()
        .and_then(|e| e.elderly_recipient.as_ref())
    {
        return ElderlyRecipientCertificateInfo {
            elderly_recipient_certificate_date: yyyymmdd(configured.issued),
            elderly_recipient_valid_start_date: yyyymmdd(configured.valid_from),
            elderly_recipient_valid_end_date: yyyymmdd(configured.valid_until),
            elderly_recipient_contribution_ratio: format!("{:03}", configured.burden_percent),
        };
    }
    let birth = person.birth_date();
    let start = rules::elderly_first_day(birth).max(qualification.acquired());
    let year = if date.month() > 7 {
        date.year() + 1
    } else {
        date.year()
    };
    let reassessment = NaiveDate::from_ymd_opt(year, 7, 31).unwrap_or(NaiveDate::MAX);
    let before_late = rules::late_elderly_first_day(birth)
        .pred_opt()
        .unwrap_or(NaiveDate::MAX);
    ElderlyRecipientCertificateInfo {
        elderly_recipient_certificate_date: yyyymmdd(start),
        elderly_recipient_valid_start_date: yyyymmdd(start),
        elderly_recipient_valid_end_date: yyyymmdd(reassessment.min(before_late)),
        elderly_recipient_contribution_ratio: format!("{burden_percent:03}"),
    }
}

fn qualification_result(
    person: &PersonView<'_>,
    qualification: &QualificationView<'_>,
    context: &CheckContext<'_>,
    in_grace: bool,
    reference: ReferenceClassification,
) -> QualificationResult {
    let date = context.date;
    let at = NaiveDateTime::new(date, context.time);
    let burden = rules::burden(
        person.birth_date(),
        date,
        qualification.income(),
        qualification.burden_percent_override(),
    );
    let late_elderly = is_late_elderly(qualification.insurer_number(), person.birth_date(), date);
    let elderly = !late_elderly && date >= rules::elderly_first_day(person.birth_date());
    let extras = qualification.extras();
    let by_card = reference == ReferenceClassification::MyNumberCard;
    let comprehensive = context.consent.mode == ConsentMode::Comprehensive;
    // 限度額 information: by consent before 2024-10-07, by law from then on. The 被保険者証 query
    // carries its own LimitApplicationCertificateRelatedConsFlg.
    let limit_provided = rules::limit_info_is_statutory(date) || context.consent.limit_amount;
    let limit = extras
        .and_then(|e| e.limit_certificate.as_ref())
        .filter(|l| l.valid_from <= date && date <= l.valid_until);
    let diseases: Vec<SpecificDiseasesCertificateInfo> = extras
        .map(|e| e.specific_diseases.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|_| limit_provided)
        .filter(|d| d.valid_from <= date && date <= d.valid_until)
        .map(|d| SpecificDiseasesCertificateInfo {
            specific_diseases_disease_category: d.category.code().to_owned(),
            specific_diseases_certificate_date: yyyymmdd(d.issued),
            specific_diseases_valid_start_date: yyyymmdd(d.valid_from),
            specific_diseases_valid_end_date: yyyymmdd(d.valid_until),
            specific_diseases_self_pay: d.self_pay.to_string(),
        })
        .collect();
    // During grace only qualification data is shared: no 診療/薬剤/健診/手術 consent data.
    let information_consent = by_card && !in_grace;
    let consent = context.consent;
    let information =
        |given: bool| consent_elements(information_consent.then_some(comprehensive || given), at);
    let checkups = information(consent.specific_health_checkup);
    let medication = information(consent.medication);
    let diagnosis = information(consent.medical_treatment);
    let surgery = information(consent.surgery);
    // The 限度額 flag in the result says whether the information is provided, for a card
    // and for a 被保険者証 lookup alike, with its ConsTime when 1 (docs/spec/oqs-xml.md §4.3).
    let limit_consent = consent_elements(Some(limit_provided), at);
    let diseases_consent = consent_elements((by_card && !diseases.is_empty()).then_some(true), at);
    let hide_address = person.address_not_disclosed();
    let symbol = qualification.symbol();
    QualificationResult {
        insured_card_classification: qualification.card_classification().code().to_owned(),
        insurer_number: written_insurer_number(qualification.insurer_number()),
        insured_card_symbol: (!symbol.is_empty()).then(|| symbol.to_owned()),
        insured_identification_number: qualification.number().to_owned(),
        insured_branch_number: format!("{:02}", qualification.branch()),
        personal_family_classification: qualification.relationship().code().to_owned(),
        name: person.name().trim().to_owned(),
        name_kana: to_half_width_katakana(person.kana().trim()),
        sex1: person.sex().oqs_code().to_owned(),
        birthdate: yyyymmdd(person.birth_date()),
        address: (!hide_address && !person.address().is_empty())
            .then(|| person.address().trim().to_owned()),
        post_number: if hide_address {
            None
        } else {
            person.post_number().map(str::to_owned)
        },
        qualification_date: yyyymmdd(qualification.acquired()),
        // The system shows a loss once the insurer has registered it.
        disqualification_date: qualification
            .lost()
            .filter(|_| qualification.is_loss_registered_on(date))
            .map(yyyymmdd),
        // The card is valid from its configured day, else from the qualification's start.
        insured_card_valid_date: yyyymmdd(
            extras
                .and_then(|e| e.card_valid_from)
                .unwrap_or(qualification.acquired()),
        ),
        insured_card_expiration_date: extras.and_then(|e| e.card_valid_until).map(yyyymmdd),
        insured_partial_contribution_ratio: late_elderly.then(|| burden.ratio_code()),
        preschool_classification: burden.preschool.then(|| "1".to_owned()),
        reason_of_loss: qualification
            .lost()
            .filter(|_| qualification.is_loss_registered_on(date))
            .and(qualification.reason_of_loss())
            .map(|r| r.code().to_owned()),
        insurer_name: qualification.insurer_name().to_owned(),
        elderly_recipient_certificate_info: elderly
            .then(|| elderly_recipient_info(person, qualification, date, burden.percent)),
        limit_application_certificate_related_cons_flg: limit_consent.flag,
        limit_application_certificate_related_cons_time: limit_consent.time,
        limit_application_certificate_related_info: limit.filter(|_| limit_provided).map(|l| {
            LimitApplicationCertificateRelatedInfo {
                limit_application_certificate_classification: l.classification.code().to_owned(),
                limit_application_certificate_classification_flag: l.flag.code().to_owned(),
                limit_application_certificate_date: yyyymmdd(l.issued),
                limit_application_certificate_valid_start_date: yyyymmdd(l.valid_from),
                limit_application_certificate_valid_end_date: yyyymmdd(l.valid_until),
            }
        }),
        specific_diseases_certificate_related_cons_flg: diseases_consent.flag,
        specific_diseases_certificate_related_cons_time: diseases_consent.time,
        specific_diseases_certificate_list: diseases,
        specific_health_checkups_info_cons_flg: checkups.flag,
        specific_health_checkups_info_cons_time: checkups.time,
        specific_health_checkups_info_available_time: checkups.available,
        pharmacists_info_cons_flg: medication.flag,
        pharmacists_info_cons_time: medication.time,
        pharmacists_info_available_time: medication.available,
        diagnosis_info_cons_flg: diagnosis.flag,
        diagnosis_info_cons_time: diagnosis.time,
        diagnosis_info_available_time: diagnosis.available,
        operation_info_cons_flg: surgery.flag,
        operation_info_cons_time: surgery.time,
        operation_info_available_time: surgery.available,
    }
}

//! The emulated マイナンバーカード IC: pure, synchronous, no I/O — (state, C-APDU) → R-APDU.
//!
//! CONTRACT (other modules compile against these signatures; the card helper fills them in
//! and may add, but not change, them).
//!
//! Layout: this file is the APDU engine ([`Card::process`] and the card's session state);
//! `personalise` builds a card's contents from its description ([`Card::from_description`]
//! issues the certificates from the test PKI; `Card::from_parts` takes them ready-made as
//! `CardParts`). [`description`] is the YAML model; `fs` the applications and files; `pin`
//! retry counters; `jpki`, `text`, `surface`, `common` build one application each; `mf` the
//! MF-level GET DATA objects; `sign` the RSA work; `tlv` the byte layout of the proprietary files; `images` the synthetic card face.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rsa::RsaPublicKey;

use crate::apdu::ids::{AID_ISD, EF_MF_INTERNAL};
use crate::apdu::{response, Command, StatusWord};
use crate::pki::TestPki;

pub(crate) mod atr;
mod common;
pub(crate) mod cv;
pub(crate) mod description;
pub(crate) mod fs;
mod images;
pub(crate) mod jpki;
mod mf;
mod personalise;
mod pin;
mod secure_messaging;
mod sign;
pub(crate) mod surface;
pub(crate) mod text;
mod tlv;

pub use crate::apdu::ids::AID_JPKI;
pub use description::{CardDescription, CardSpec, DescriptionError, Profile};
pub(crate) use personalise::CardError;
pub(crate) use personalise::CardParts;
use sign::SignatureScheme;

use description::{
    CardFaults, CardOptions, FourDigitPin, LatencySpec, ResponseStatusFault, SecureMessagingStatus,
    SigningPassword,
};
use fs::{EfContent, FileSystem, KeyId, ReadAccess};
use mf::{MfObjects, TAG_CONTACT_ATR};
use personalise::{CardContents, CardKeys};
use pin::{PinId, PinTable};
use secure_messaging::{SecureMessagingSession, SessionKeySupport};

/// One answer of the card: the R-APDU bytes (data + SW1 SW2) and the processing time a real
/// card would have taken. The core never sleeps; transports apply `latency` if they want to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardReply {
    /// The response APDU (data and status word).
    pub rapdu: Vec<u8>,
    /// How long the real card would have taken (its measured timing model).
    pub latency: Duration,
}

/// A PIN's retry state as a harness expectation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PinState {
    /// Wrong entries left before the PIN blocks.
    pub tries_left: u8,
    /// Wrong entries the PIN allows from its last reset.
    pub max_tries: u8,
}

/// Retry counters of all PINs on the card (`None` where the profile has no such PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PinCounters {
    /// JPKI 利用者証明用 PIN (4 digits), if the card has one.
    pub auth: Option<PinState>,
    /// JPKI 署名用パスワード (6-16 characters), if the card has a signing certificate.
    pub signing: Option<PinState>,
    /// 券面事項入力補助用 PIN (4 digits), if the card has the text AP.
    pub text: Option<PinState>,
}

/// The holder-facing PINs (what a municipal office can reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardPin {
    /// 利用者証明用電子証明書 PIN (4 digits).
    Auth,
    /// 署名用電子証明書 password (6-16 of A-Z0-9).
    Signing,
    /// 券面事項入力補助用 PIN (4 digits).
    Text,
}

impl CardPin {
    fn id(self) -> PinId {
        match self {
            CardPin::Auth => PinId::JpkiAuth,
            CardPin::Signing => PinId::JpkiSigning,
            CardPin::Text => PinId::Text,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CardPin::Auth => "auth",
            CardPin::Signing => "signing",
            CardPin::Text => "text",
        }
    }
}

/// Simulated processing times, precomputed from [`LatencySpec`] so no float work happens
/// per APDU.
#[derive(Debug, Clone, Copy)]
struct Latencies {
    select: Duration,
    read_binary: Duration,
    per_byte: Duration,
    verify: Duration,
    change: Duration,
    sign: Duration,
    challenge: Duration,
    error: Duration,
}

impl Latencies {
    fn from_spec(spec: &LatencySpec) -> Latencies {
        let ms = |value: f64| Duration::try_from_secs_f64(value / 1000.0).unwrap_or(Duration::ZERO);
        Latencies {
            select: ms(spec.select_ms),
            read_binary: ms(spec.read_binary_ms),
            per_byte: ms(spec.read_per_byte_ms),
            verify: ms(spec.verify_ms),
            change: ms(spec.change_reference_data_ms),
            sign: ms(spec.sign_ms),
            challenge: ms(spec.get_challenge_ms),
            error: ms(spec.error_ms),
        }
    }
}

/// What kind of work an answer took (for its latency).
#[derive(Debug, Clone, Copy)]
enum Work {
    Select,
    Transfer(usize),
    Verify,
    Change,
    Sign,
    Challenge,
    Refusal,
}

struct CardAnswer {
    rapdu: Vec<u8>,
    work: Work,
}

impl CardAnswer {
    fn status(sw: StatusWord, work: Work) -> CardAnswer {
        CardAnswer {
            rapdu: sw.to_bytes().to_vec(),
            work,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Selection {
    application: Option<usize>,
    file: Option<usize>,
    /// At the MF level: EF 001E is selected (docs/spec/card-measured.md §3.1).
    mf_internal_ef: bool,
}

use crate::apdu::ins::{
    INS_CHANGE_KEY, INS_CHANGE_REFERENCE_DATA, INS_COMPUTE_DIGITAL_SIGNATURE, INS_GET_CHALLENGE,
    INS_GET_DATA, INS_GET_RESPONSE, INS_INTERNAL_AUTHENTICATE, INS_LAST_COMMAND_INDICATOR,
    INS_READ_BINARY, INS_READ_RECORD, INS_SELECT, INS_SET_SESSION_KEY, INS_VERIFY,
};

/// How a command's class byte is to be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClassKind {
    /// CLA `00` / `80`.
    Plain,
    /// CLA `08` / `88`: secure messaging without header authentication (docs/spec/card-measured.md §6.10).
    Secure,
}

/// The emulated card. Cloning is cheap (file contents and keys are shared) and gives an
/// independent card state.
#[derive(Clone)]
pub struct Card {
    description: CardDescription,
    files: Arc<FileSystem>,
    keys: Arc<CardKeys>,
    auth_certificate: Arc<[u8]>,
    signing_certificate: Option<Arc<[u8]>>,
    collation_b: String,
    pins: PinTable,
    options: CardOptions,
    faults: CardFaults,
    latencies: Latencies,
    atr: Option<Vec<u8>>,
    powered: bool,
    selection: Selection,
    /// The application whose security status (verified PINs) is live. It outlives the
    /// selection across a warm reset: re-selecting it finds its PINs still verified, selecting
    /// any other application or the ISD clears them (JICSAP 5.1.3, docs/spec/card-measured.md §2).
    security_application: Option<usize>,
    pending_response: Vec<u8>,
    challenge: ChaCha20Rng,
    mf_objects: Arc<MfObjects>,
    /// The text AP's secure-messaging session: lives and dies with the security status
    /// (docs/spec/card-measured.md §2); `None` also after a session was destroyed by a bad SM command.
    secure_session: Option<SecureMessagingSession>,
    /// No command answered since the last cold power-up (for `first_command_fails`).
    fresh_from_power_up: bool,
    /// An iPhone token's on-device approval (Face ID / Touch ID) is in force: it opens the
    /// authentication key and certificate as a VERIFY of the auth PIN would
    /// (docs/spec/smartphone.md §5.18, a [model] choice).
    device_approved: bool,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("profile", &self.description.card.profile)
            .field("holder", &self.description.person.my_number)
            .field("powered", &self.powered)
            .field("pins", &self.pin_counters())
            .finish_non_exhaustive()
    }
}

impl Card {
    /// Builds the card: issues its certificates from the test CA and loads its keys from the pool.
    pub fn from_description(
        description: &CardDescription,
        pki: &TestPki,
    ) -> Result<Card, CardError> {
        let parts = personalise::issue_parts(description, pki)?;
        Card::from_parts(description, parts)
    }

    /// Builds the card from its description and already-made certificates and keys.
    pub(crate) fn from_parts(
        description: &CardDescription,
        parts: CardParts,
    ) -> Result<Card, CardError> {
        let contents = personalise::contents(description, parts)?;
        Ok(Card::personalised(description, contents))
    }

    /// The engine around personalised contents: a fresh, unpowered card.
    fn personalised(description: &CardDescription, contents: CardContents) -> Card {
        let spec = &description.card;
        // The challenge generator is seeded from the holder so transcripts are reproducible.
        let seed = description
            .person
            .my_number
            .as_str()
            .parse::<u64>()
            .unwrap_or(0);
        Card {
            description: description.clone(),
            files: Arc::new(contents.files),
            keys: Arc::new(contents.keys),
            auth_certificate: Arc::from(contents.auth_certificate),
            signing_certificate: contents.signing_certificate.map(Arc::from),
            collation_b: contents.collation_b,
            pins: contents.pins,
            options: spec.options,
            faults: spec.faults,
            latencies: Latencies::from_spec(&spec.faults.latency),
            atr: spec.atr.bytes(),
            powered: false,
            selection: Selection::default(),
            security_application: None,
            pending_response: Vec::new(),
            challenge: ChaCha20Rng::seed_from_u64(seed),
            mf_objects: Arc::new(contents.mf_objects),
            secure_session: None,
            fresh_from_power_up: false,
            device_approved: false,
        }
    }

    /// The ATR the card answers power-on with; `None` when a fault makes it mute.
    pub fn atr(&self) -> Option<Vec<u8>> {
        self.atr.clone()
    }

    /// Cold power-on: clears selection and verified state, keeps retry counters; returns the ATR.
    /// A mute card (`atr: mute`) stays unpowered and returns `None`.
    pub fn power_on(&mut self) -> Option<Vec<u8>> {
        self.end_session();
        self.powered = self.atr.is_some();
        self.fresh_from_power_up = true;
        self.atr.clone()
    }

    /// Powers the card off: the session (selection, verified PINs, secure messaging) ends.
    pub fn power_off(&mut self) {
        self.end_session();
        self.powered = false;
    }

    /// Warm reset: back to the ISD level with the ATR; the verified state survives unless
    /// `reset_clears_verification` (the measured card keeps it, docs/spec/card-measured.md §2).
    /// A mute card stays unpowered and returns `None`.
    pub fn reset(&mut self) -> Option<Vec<u8>> {
        if !self.powered {
            return self.power_on();
        }
        if self.options.reset_clears_verification {
            let atr = self.power_on();
            // A warm reset is not a power cycle: no first-command quirk after it.
            self.fresh_from_power_up = false;
            return atr;
        }
        self.selection = Selection::default();
        self.pending_response.clear();
        self.atr.clone()
    }

    /// The holder approves (or withdraws approval) on the phone itself: on an iPhone token
    /// (`smartphone_ios`) an approval opens the authentication certificate and key without a
    /// VERIFY on the wire until withdrawn (docs/spec/smartphone.md §5.18, [model]); any other
    /// profile has no such screen and is refused.
    pub fn set_device_approval(&mut self, approved: bool) -> Result<(), CardError> {
        if self.description.card.profile != description::Profile::SmartphoneIos {
            return Err(CardError::Invalid(format!(
                "only an iPhone token (profile smartphone_ios) takes an on-device approval, this is {}",
                self.description.card.profile.name()
            )));
        }
        self.device_approved = approved;
        Ok(())
    }

    /// Whether `pin` counts as verified now (a VERIFY, or an iPhone's on-device approval for
    /// the auth PIN).
    fn pin_satisfied(&self, pin: PinId) -> bool {
        self.pins.is_verified(pin) || (self.device_approved && pin == PinId::JpkiAuth)
    }

    /// Whether the card is powered (a mute card never is).
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    fn end_session(&mut self) {
        self.selection = Selection::default();
        self.clear_security_status();
        self.pending_response.clear();
    }

    fn clear_security_status(&mut self) {
        self.pins.forget_all_verifications();
        self.security_application = None;
        self.secure_session = None;
    }

    /// Processes one C-APDU. Never panics; malformed input gets the right status word.
    /// An unpowered (or mute) card has no way to answer; it returns `6F 00` with no latency
    /// so callers that forgot to power it on see a clear failure rather than a hang.
    pub fn process(&mut self, capdu: &[u8]) -> CardReply {
        if !self.powered {
            return CardReply {
                rapdu: StatusWord::NO_PRECISE_DIAGNOSIS.to_bytes().to_vec(),
                latency: Duration::ZERO,
            };
        }
        let fresh = std::mem::take(&mut self.fresh_from_power_up);
        let answer = if fresh && self.options.first_command_fails {
            CardAnswer::status(StatusWord::NO_PRECISE_DIAGNOSIS, Work::Refusal)
        } else {
            self.execute(capdu)
                .unwrap_or_else(|sw| CardAnswer::status(sw, Work::Refusal))
        };
        let latency = self.latency_of(answer.work);
        CardReply {
            rapdu: answer.rapdu,
            latency,
        }
    }

    fn latency_of(&self, work: Work) -> Duration {
        let l = &self.latencies;
        match work {
            Work::Select => l.select,
            Work::Transfer(bytes) => {
                l.read_binary + l.per_byte * u32::try_from(bytes).unwrap_or(u32::MAX)
            }
            Work::Verify => l.verify,
            Work::Change => l.change,
            Work::Sign => l.sign,
            Work::Challenge => l.challenge,
            Work::Refusal => l.error,
        }
    }

    fn execute(&mut self, capdu: &[u8]) -> Result<CardAnswer, StatusWord> {
        let command = Command::parse(capdu)?;
        let class = self.check_class(command.cla)?;
        if command.ins != INS_GET_RESPONSE {
            self.pending_response.clear();
        }
        if class == ClassKind::Secure {
            return self.secure_command(&command);
        }
        match (command.cla, command.ins) {
            (0x00, INS_SELECT) => self.select(&command),
            (0x00, INS_READ_BINARY) => self.read_binary(&command),
            (0x00, INS_VERIFY) => self.verify(&command),
            (0x00, INS_CHANGE_REFERENCE_DATA) => self.change_reference_data(&command),
            (0x00, INS_GET_CHALLENGE) => self.get_challenge(&command),
            (0x00, INS_GET_RESPONSE) => self.get_response(&command),
            (0x00, INS_GET_DATA) => self.get_data(&command),
            (0x00, INS_READ_RECORD) => self.read_record(&command),
            (0x00, INS_INTERNAL_AUTHENTICATE) => self.internal_authenticate(&command),
            (0x80, INS_COMPUTE_DIGITAL_SIGNATURE) => self.compute_digital_signature(&command),
            (0x80, INS_SET_SESSION_KEY) => self.set_session_key(&command),
            (0x80, INS_CHANGE_KEY) => self.change_key(&command),
            (0x80, INS_LAST_COMMAND_INDICATOR) => self.last_command_indicator(&command),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    /// The card speaks CLA `00` (ISO), `80` (proprietary) and, by default, `08` / `88`
    /// (secure messaging without header authentication, docs/spec/card-measured.md §6.10); header
    /// authentication (`0C`) is `69 87`, chaining and logical channels are refused with their
    /// ISO status words. The `secure_messaging_status` option can refuse every SM class
    /// with one status word instead, as earlier versions did.
    fn check_class(&mut self, cla: u8) -> Result<ClassKind, StatusWord> {
        match cla {
            0xFF => Err(StatusWord::CLA_NOT_SUPPORTED),
            0x00 | 0x80 => Ok(ClassKind::Plain),
            _ if cla & 0xE0 == 0x00 || cla & 0xE0 == 0x80 => {
                // Channel bits win over everything else: only channel 0 works
                // (docs/spec/card-measured.md §1.1).
                if cla & 0x03 != 0 {
                    Err(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)
                } else if cla & 0x0C != 0 {
                    self.secure_messaging_class(cla)
                } else if cla & 0x10 != 0 {
                    Err(StatusWord::CHAINING_NOT_SUPPORTED)
                } else {
                    Err(StatusWord::CLA_NOT_SUPPORTED)
                }
            }
            // Further interindustry classes address channels 4-19: never channel 0.
            0x40..=0x7F => Err(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED),
            _ => Err(StatusWord::CLA_NOT_SUPPORTED),
        }
    }

    fn secure_messaging_class(&mut self, cla: u8) -> Result<ClassKind, StatusWord> {
        match self.options.secure_messaging_status {
            SecureMessagingStatus::NotSupported => {
                return Err(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED)
            }
            SecureMessagingStatus::Refused => {
                return Err(StatusWord::SECURE_MESSAGING_REFUSED_PROPRIETARY)
            }
            SecureMessagingStatus::Session => {}
        }
        if cla & 0x10 != 0 {
            return Err(StatusWord::CHAINING_NOT_SUPPORTED);
        }
        match cla & 0x0C {
            0x08 => Ok(ClassKind::Secure),
            // Header authentication needs a MAC key, which no session has: the client
            // treats the answer as the end of the session, and so does the card.
            0x0C => {
                self.secure_session = None;
                Err(StatusWord::SM_DATA_OBJECTS_MISSING)
            }
            _ => Err(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED),
        }
    }

    /// SET SESSION KEY `80 AE 00 00 00 01 00 <256>` (docs/spec/card-measured.md §6.10): only the text AP
    /// delivers a key, after its PIN (checked before decryption); the others answer `66 F1` or
    /// `69 82`. A new key restarts the counter.
    fn set_session_key(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if command.p1 != 0 || command.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let support = match self.selection.application {
            Some(application) => SessionKeySupport::of(&self.files.applications[application].aid),
            None => SessionKeySupport::Refused,
        };
        match support {
            SessionKeySupport::NotConfigured => {
                return Err(StatusWord::SECURITY_ENVIRONMENT_FAULTY)
            }
            SessionKeySupport::Refused => return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            SessionKeySupport::Delivery => {}
        }
        if !self.pins.is_verified(PinId::Text) {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        let keys = Arc::clone(&self.keys);
        let delivery_key = keys
            .text_session
            .as_ref()
            .ok_or(StatusWord::SECURITY_ENVIRONMENT_FAULTY)?;
        let session = secure_messaging::open_session(delivery_key, command.data)?;
        self.secure_session = Some(session);
        Ok(CardAnswer::status(StatusWord::SUCCESS, Work::Sign))
    }

    /// One CLA `08` command of a live session. The counter advances first, so a refused
    /// command still uses up its number; a malformed or undecryptable object is `69 88` and
    /// destroys the session; after that (or with none) every SM command is `69 FC`. Answers
    /// carry data only as one `86` cryptogram, the status word in the clear.
    fn secure_command(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        let session = self
            .secure_session
            .as_mut()
            .ok_or(StatusWord::SECURE_MESSAGING_REFUSED_PROPRIETARY)?;
        let iv = session.next_iv();
        let key = session.key();
        let inner_class = command.cla & !0x0C;
        let result = match command.ins {
            INS_VERIFY | INS_SELECT => {
                let plaintext = secure_messaging::open_cryptogram(&key, &iv, command.data);
                match plaintext {
                    Ok(plaintext) => {
                        let inner = Command {
                            cla: inner_class,
                            data: &plaintext,
                            ..*command
                        };
                        let answer = if command.ins == INS_VERIFY {
                            self.verify(&inner)
                        } else {
                            self.select(&inner)
                        };
                        return answer;
                    }
                    Err(sw) => Err(sw),
                }
            }
            INS_READ_BINARY => match secure_messaging::expected_length(command.data) {
                Ok(length) => {
                    let inner = Command {
                        cla: inner_class,
                        data: &[],
                        le: Some(if length == 0 { usize::MAX } else { length }),
                        ..*command
                    };
                    // The 61xx / 6Cxx and short-read faults are for plain reads: under SM
                    // they would leave plaintext pending for a plain GET RESPONSE.
                    let faults = std::mem::take(&mut self.faults);
                    let answer = self.read_binary(&inner);
                    self.faults = faults;
                    let answer = answer?;
                    let split = answer.rapdu.len().saturating_sub(2);
                    let (data, sw) = answer.rapdu.split_at(split);
                    if data.is_empty() {
                        return Ok(answer);
                    }
                    let mut rapdu = secure_messaging::seal_response(&key, &iv, data);
                    rapdu.extend_from_slice(sw);
                    return Ok(CardAnswer {
                        rapdu,
                        work: answer.work,
                    });
                }
                Err(sw) => Err(sw),
            },
            // Only VERIFY, SELECT and READ BINARY were confirmed under SM (docs/spec/card-measured.md
            // §6.10); anything else is answered as unsupported and keeps the session.
            _ => return Err(StatusWord::FUNCTION_NOT_SUPPORTED),
        };
        if matches!(
            result,
            Err(StatusWord::SM_DATA_OBJECTS_INCORRECT | StatusWord::SM_DATA_OBJECTS_MISSING)
        ) {
            self.secure_session = None;
        }
        result
    }

    fn select(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        // P2 0C = no response data; 00 (FCI requested) is answered the same way, with none.
        if !matches!(command.p2, 0x0C | 0x00) {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        match command.p1 {
            0x04 => {
                if command.data.is_empty() {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                if command.data == AID_ISD {
                    // Back to the power-on "MF level": the left application's status goes.
                    self.clear_security_status();
                    self.selection = Selection::default();
                    return Ok(CardAnswer::status(StatusWord::SUCCESS, Work::Select));
                }
                let application = self
                    .files
                    .find_application(command.data)
                    .or_else(|| {
                        self.options
                            .select_by_aid_prefix
                            .then(|| self.files.find_application_by_prefix(command.data))
                            .flatten()
                    })
                    .ok_or(StatusWord::FILE_NOT_FOUND)?;
                let same = self.security_application == Some(application);
                if !same || self.options.reselect_clears_verification {
                    self.clear_security_status();
                }
                self.security_application = Some(application);
                self.selection = Selection {
                    application: Some(application),
                    ..Selection::default()
                };
                Ok(CardAnswer::status(StatusWord::SUCCESS, Work::Select))
            }
            // ISO "select MF" without data: refused at the ISD level, a no-op (current DF and
            // status kept) inside an application (docs/spec/card-measured.md §1.4).
            0x00 if command.data.is_empty() => match self.selection.application {
                Some(_) => Ok(CardAnswer::status(StatusWord::SUCCESS, Work::Select)),
                None => Err(StatusWord::INCORRECT_P1_P2),
            },
            // By FID: `3F00` is not a file of this card, in any state.
            0x00 => Err(StatusWord::FILE_NOT_FOUND),
            0x02 => {
                let [hi, lo] = command.data else {
                    return Err(StatusWord::WRONG_LENGTH);
                };
                let fid = u16::from_be_bytes([*hi, *lo]);
                let Some(application) = self.selection.application else {
                    // The MF level has one internal EF and nothing else (docs/spec/card-measured.md §3.1).
                    if fid == EF_MF_INTERNAL && self.mf_objects.has_internal_ef() {
                        self.selection.mf_internal_ef = true;
                        return Ok(CardAnswer::status(StatusWord::SUCCESS, Work::Select));
                    }
                    return Err(StatusWord::FILE_NOT_FOUND);
                };
                let file = self.files.applications[application]
                    .find(fid)
                    .ok_or(StatusWord::FILE_NOT_FOUND)?;
                self.selection.file = Some(file);
                Ok(CardAnswer::status(StatusWord::SUCCESS, Work::Select))
            }
            // Child DF by FID (01), parent (03), paths (08, 09): not on this card.
            _ => Err(StatusWord::INCORRECT_P1_P2),
        }
    }

    /// Resolves `80|SFI` in P1 or P2 to a file of the current application.
    fn file_by_short_id(&self, short_id: u8) -> Result<usize, StatusWord> {
        let application = self
            .selection
            .application
            .ok_or(StatusWord::FILE_NOT_FOUND)?;
        self.files.applications[application]
            .find_short(short_id)
            .ok_or(StatusWord::FILE_NOT_FOUND)
    }

    fn current_file(&self) -> Result<(usize, usize), StatusWord> {
        match self.selection {
            Selection {
                application: Some(application),
                file: Some(file),
                ..
            } => Ok((application, file)),
            // EF 001E: an internal EF that neither read command accepts (measured).
            Selection {
                mf_internal_ef: true,
                ..
            } => Err(StatusWord::INCOMPATIBLE_FILE_STRUCTURE),
            _ => Err(StatusWord::COMMAND_NOT_ALLOWED_NO_EF),
        }
    }

    fn may_read(&self, access: ReadAccess) -> bool {
        match access {
            ReadAccess::Free => true,
            ReadAccess::AnyOf(pins) => pins.iter().any(|pin| self.pin_satisfied(*pin)),
        }
    }

    fn read_binary(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let le = command.le.ok_or(StatusWord::WRONG_LENGTH)?;
        let (application, file, offset) = if command.p1 & 0x80 != 0 {
            if command.p1 & 0x60 != 0 {
                return Err(StatusWord::INCORRECT_P1_P2);
            }
            let file = self.file_by_short_id(command.p1 & 0x1F)?;
            self.selection.file = Some(file);
            (
                self.selection.application.unwrap_or_default(),
                file,
                usize::from(command.p2),
            )
        } else {
            let (application, file) = self.current_file()?;
            (
                application,
                file,
                usize::from(command.p1) << 8 | usize::from(command.p2),
            )
        };
        let files = Arc::clone(&self.files);
        let (bytes, read) = match files.file(application, file).map(|f| &f.content) {
            Some(EfContent::Data { bytes, read }) => (bytes, read),
            // A record EF is read with READ RECORD (docs/spec/card-measured.md §1.5).
            Some(EfContent::Records(_)) => return Err(StatusWord::INCOMPATIBLE_FILE_STRUCTURE),
            _ => return Err(StatusWord::COMMAND_NOT_ALLOWED_NO_EF),
        };
        if !self.may_read(*read) {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        if offset >= bytes.len() {
            return Err(StatusWord::WRONG_P1_P2_OFFSET);
        }
        let count = le.min(bytes.len() - offset);
        if let Some(short) = self.faults.short_header_read {
            if offset == 0 && le == 4 {
                // The faulty card answers at once with fewer bytes and 90 00, whatever else
                // is switched on.
                let short = count.min(usize::from(short));
                return Ok(CardAnswer {
                    rapdu: response(&bytes[..short], StatusWord::SUCCESS),
                    work: Work::Transfer(short),
                });
            }
        }
        if self.faults.padded_reads && !command.extended && le == 256 && count < 256 {
            let mut padded = bytes[offset..offset + count].to_vec();
            padded.resize(256, 0);
            return self.data_answer(&padded, le, Work::Transfer(256));
        }
        self.data_answer(&bytes[offset..offset + count], le, Work::Transfer(count))
    }

    /// Answers with data, unless a fault asks for `61 xx` / `6C xx` instead.
    fn data_answer(
        &mut self,
        data: &[u8],
        le: usize,
        work: Work,
    ) -> Result<CardAnswer, StatusWord> {
        match self.faults.response_status {
            Some(ResponseStatusFault::BytesAvailable) if !data.is_empty() => {
                self.pending_response = data.to_vec();
                Ok(CardAnswer::status(
                    StatusWord::bytes_available(data.len()),
                    work,
                ))
            }
            Some(ResponseStatusFault::ExactLength) if le != data.len() => Ok(CardAnswer::status(
                StatusWord::exact_length(data.len()),
                Work::Refusal,
            )),
            _ => Ok(CardAnswer {
                rapdu: response(data, StatusWord::SUCCESS),
                work,
            }),
        }
    }

    fn get_response(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if command.p1 != 0 || command.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let le = command.le.ok_or(StatusWord::WRONG_LENGTH)?;
        if self.pending_response.is_empty() {
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED);
        }
        let count = le.min(self.pending_response.len());
        let rest = self.pending_response.split_off(count);
        let data = std::mem::replace(&mut self.pending_response, rest);
        let sw = if self.pending_response.is_empty() {
            StatusWord::SUCCESS
        } else {
            StatusWord::bytes_available(self.pending_response.len())
        };
        Ok(CardAnswer {
            rapdu: response(&data, sw),
            work: Work::Transfer(count),
        })
    }

    /// The PIN EF a VERIFY / CHANGE REFERENCE DATA addresses: P2 `80` = the current EF,
    /// `80|SFI` = that EF of the current application.
    fn pin_reference(&self, p2: u8) -> Result<PinId, StatusWord> {
        let (application, file) = match p2 {
            0x80 => self.current_file()?,
            0x81..=0x9F => {
                let file = self.file_by_short_id(p2 & 0x1F)?;
                (self.selection.application.unwrap_or_default(), file)
            }
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        match self.files.file(application, file).map(|f| &f.content) {
            Some(EfContent::Pin(id)) => Ok(*id),
            _ => Err(StatusWord::REFERENCE_DATA_NOT_FOUND),
        }
    }

    fn verify(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if command.p1 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let id = self.pin_reference(command.p2)?;
        let options = self.options;
        let record = self
            .pins
            .get_mut(id)
            .ok_or(StatusWord::REFERENCE_DATA_NOT_FOUND)?;
        let sw = if command.data.is_empty() {
            record.query(&options)
        } else {
            record.verify(command.data, &options)
        };
        Ok(CardAnswer::status(sw, Work::Verify))
    }

    /// CHANGE REFERENCE DATA `00 24 01 P2 Lc <new>`: P1 01, the data is the new value only, the
    /// current one having been VERIFYed.
    fn change_reference_data(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        self.change_pin(command, 0x01, |_| true)
    }

    /// JICSAP CHANGE KEY `80 32 00 80 Lc <new>` (docs/spec/card-measured.md §10.4): the 共通AP and
    /// 住基AP PIN change, after VERIFY of the current value; the new value must be 4 digits.
    fn change_key(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        self.change_pin(command, 0x00, |id| {
            matches!(id, PinId::CommonPin | PinId::JukiPin)
        })
    }

    /// The one PIN change both commands make: P1 as the command wants it, a new value, a PIN
    /// the command may change (else CONDITIONS OF USE NOT SATISFIED), then the record's rules.
    fn change_pin(
        &mut self,
        command: &Command<'_>,
        p1: u8,
        may_change: fn(PinId) -> bool,
    ) -> Result<CardAnswer, StatusWord> {
        if command.p1 != p1 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let id = self.pin_reference(command.p2)?;
        if !may_change(id) {
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED);
        }
        let options = self.options;
        let record = self
            .pins
            .get_mut(id)
            .ok_or(StatusWord::REFERENCE_DATA_NOT_FOUND)?;
        let sw = record.change(id, command.data, &options);
        Ok(CardAnswer::status(sw, Work::Change))
    }

    fn compute_digital_signature(
        &mut self,
        command: &Command<'_>,
    ) -> Result<CardAnswer, StatusWord> {
        let scheme = SignatureScheme::from_p1(command.p1).ok_or(StatusWord::INCORRECT_P1_P2)?;
        let (application, file) = match command.p2 {
            // The application's default key: the 券面 APs' card key (docs/spec/card-measured.md §6.9).
            0x00 => {
                let application = self
                    .selection
                    .application
                    .ok_or(StatusWord::INCORRECT_P1_P2)?;
                let file = self.files.applications[application]
                    .default_key()
                    .ok_or(StatusWord::INCORRECT_P1_P2)?;
                (application, file)
            }
            0x80 => self.current_file()?,
            0x81..=0x9F => {
                let file = self.file_by_short_id(command.p2 & 0x1F)?;
                (self.selection.application.unwrap_or_default(), file)
            }
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        let Some(EfContent::Key { key, pin }) =
            self.files.file(application, file).map(|f| &f.content)
        else {
            return Err(StatusWord::COMMAND_NOT_ALLOWED_NO_EF);
        };
        let (key, pin) = (*key, *pin);
        // The 券面 card keys pad what they are given (P1 00) and nothing else is known.
        if matches!(key, KeyId::TextCard | KeyId::SurfaceCard)
            && scheme != SignatureScheme::Prepared
        {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if !scheme.accepts_length(command.data.len()) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if matches!(command.le, Some(le) if le < 256) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if pin.is_some_and(|pin| !self.pin_satisfied(pin)) {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        let keys = Arc::clone(&self.keys);
        let private_key = match key {
            KeyId::Auth => &keys.auth,
            KeyId::Signing => keys.signing.as_ref().ok_or(StatusWord::FILE_NOT_FOUND)?,
            KeyId::TextCard => keys.text_card.as_ref().ok_or(StatusWord::FILE_NOT_FOUND)?,
            KeyId::SurfaceCard => keys
                .surface_card
                .as_ref()
                .ok_or(StatusWord::FILE_NOT_FOUND)?,
        };
        let signature = scheme
            .sign(private_key, command.data, &mut self.challenge)
            .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
        self.data_answer(&signature, command.le.unwrap_or(256), Work::Sign)
    }

    /// `80 FC 00 00`, the last-command indicator (docs/spec/card-measured.md §8.6): a physical
    /// card answers `6700` [measured]; the iPhone token takes it, and since its answer is not
    /// public it answers `9000` with no data [model]; the Android token answers as the card.
    fn last_command_indicator(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if !self
            .description
            .card
            .profile
            .features()
            .takes_last_command_indicator
        {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if command.p1 != 0 || command.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        Ok(CardAnswer::status(StatusWord::SUCCESS, Work::Select))
    }

    fn get_challenge(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if command.p1 != 0 || command.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let le = command.le.ok_or(StatusWord::WRONG_LENGTH)?;
        // The measured card refuses an extended Le outright (docs/spec/card-measured.md §3.3).
        if command.extended {
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED);
        }
        if le > 256 {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let mut challenge = [0u8; 256];
        self.challenge.fill_bytes(&mut challenge[..le]);
        self.data_answer(&challenge[..le], le, Work::Challenge)
    }

    /// GET DATA (docs/spec/card-measured.md §3.2): the MF objects answer only at the MF level, the
    /// contact ATR everywhere; a big object needs an extended Le (a short one gets `67 00`,
    /// never `6C xx`); an absent object answers `6A 88`.
    fn get_data(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let le = command.le.ok_or(StatusWord::WRONG_LENGTH)?;
        let tag = u16::from_be_bytes([command.p1, command.p2]);
        if self.selection.application.is_some() && tag != TAG_CONTACT_ATR {
            return Err(StatusWord::REFERENCE_DATA_NOT_FOUND);
        }
        let objects = Arc::clone(&self.mf_objects);
        let object = objects
            .get(tag)
            .ok_or(StatusWord::REFERENCE_DATA_NOT_FOUND)?;
        if object.len() > le {
            return Err(StatusWord::WRONG_LENGTH);
        }
        self.data_answer(object, le, Work::Transfer(object.len()))
    }

    /// READ RECORD `00 B2 <record> <P2> Le` (docs/spec/card-measured.md §1.5): P2 `04` reads one record
    /// of the current EF, `(SFI << 3) | 04` of that EF (selecting it); P2 `..5` (from P1 to the
    /// last) is not offered (`6A 81`); no such record `6A 83`; a transparent EF `69 81`.
    fn read_record(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if !command.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let le = command.le.ok_or(StatusWord::WRONG_LENGTH)?;
        if command.p1 == 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let (application, file) = match (command.p2 >> 3, command.p2 & 0x07) {
            (_, 0x05) => return Err(StatusWord::FUNCTION_NOT_SUPPORTED),
            (0, 0x04) => self.current_file()?,
            (short_id @ 1..=30, 0x04) => {
                let file = self.file_by_short_id(short_id)?;
                self.selection.file = Some(file);
                (self.selection.application.unwrap_or_default(), file)
            }
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        let files = Arc::clone(&self.files);
        let record = match files.file(application, file).map(|f| &f.content) {
            Some(EfContent::Records(records)) => records
                .get(usize::from(command.p1) - 1)
                .ok_or(StatusWord::RECORD_NOT_FOUND)?,
            Some(EfContent::Data { .. } | EfContent::Pin(_) | EfContent::Key { .. })
            | Some(EfContent::InternalAuthenticationKey) => {
                return Err(StatusWord::INCOMPATIBLE_FILE_STRUCTURE)
            }
            None => return Err(StatusWord::COMMAND_NOT_ALLOWED_NO_EF),
        };
        let count = le.min(record.len());
        self.data_answer(&record[..count], le, Work::Transfer(count))
    }

    /// INTERNAL AUTHENTICATE `00 88 00 <P2> Lc <challenge> 00` (docs/spec/card-measured.md §5.3): only
    /// the 共通AP key answers, with no credential, a PKCS#1 v1.5 SHA-256 signature of the
    /// challenge; the JPKI keys refuse with `69 82`, anything else with `69 85`.
    fn internal_authenticate(&mut self, command: &Command<'_>) -> Result<CardAnswer, StatusWord> {
        if command.p1 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let (application, file) = match command.p2 {
            0x80 => self.current_file()?,
            0x81..=0x9F => {
                let file = self.file_by_short_id(command.p2 & 0x1F)?;
                (self.selection.application.unwrap_or_default(), file)
            }
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        match self.files.file(application, file).map(|f| &f.content) {
            Some(EfContent::InternalAuthenticationKey) => {}
            // The JPKI keys answer 69 82, the 券面 card keys 69 85 (docs/spec/card-measured.md §4).
            Some(EfContent::Key { pin: Some(_), .. }) => {
                return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
            }
            _ => return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED),
        }
        if command.data.is_empty() || command.data.len() > 255 {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if matches!(command.le, Some(le) if le < 256) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let keys = Arc::clone(&self.keys);
        let key = keys.common.as_ref().ok_or(StatusWord::FILE_NOT_FOUND)?;
        let signature = sign::issuer_signature(key, command.data)
            .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
        self.data_answer(&signature, command.le.unwrap_or(256), Work::Sign)
    }

    /// The retry counters of the PINs a reader shows (JPKI 利用者証明用, 署名用, 券面事項入力補助).
    pub fn pin_counters(&self) -> PinCounters {
        let state = |id: PinId| {
            self.pins.get(id).map(|record| PinState {
                tries_left: record.tries_left(),
                max_tries: record.max_tries(),
            })
        };
        PinCounters {
            auth: state(PinId::JpkiAuth),
            signing: state(PinId::JpkiSigning),
            text: state(PinId::Text),
        }
    }

    /// The municipal-office reset of a PIN: the counter goes back to its maximum (a lock stays
    /// until this is called), optionally with a new value. Errors name the PIN; the value is
    /// never echoed.
    pub fn unblock(&mut self, pin: CardPin, new_value: Option<&str>) -> Result<(), CardError> {
        if let Some(value) = new_value {
            let valid = match pin {
                CardPin::Auth | CardPin::Text => FourDigitPin::is_valid(value.as_bytes()),
                CardPin::Signing => SigningPassword::is_valid(value.as_bytes()),
            };
            if !valid {
                return Err(CardError::Invalid(format!(
                    "new {} PIN has the wrong shape (value not shown)",
                    pin.name()
                )));
            }
        }
        let record = self
            .pins
            .get_mut(pin.id())
            .ok_or_else(|| CardError::Invalid(format!("this card has no {} PIN", pin.name())))?;
        record.unblock(new_value.map(str::as_bytes));
        Ok(())
    }

    /// DER of the 利用者証明用電子証明書 (what a terminal sends to the qualification system).
    pub fn auth_certificate_der(&self) -> &[u8] {
        &self.auth_certificate
    }

    /// DER of the 署名用電子証明書 (`None` on profiles without one).
    pub fn signing_certificate_der(&self) -> Option<&[u8]> {
        self.signing_certificate.as_deref()
    }

    /// The description the card was built from.
    pub fn description(&self) -> &CardDescription {
        &self.description
    }

    /// 照合番号B as printed-data OCR derives it (birth YYMMDD + expiry year + security code).
    pub fn collation_number_b(&self) -> &str {
        &self.collation_b
    }

    /// The bytes of a data EF (what READ BINARY serves), regardless of access rules.
    pub fn file_contents(&self, aid: &[u8; 10], fid: u16) -> Option<&[u8]> {
        self.files.data_of(aid, fid)
    }

    /// The public key of the JPKI auth (`CardPin::Auth`) or signing key.
    pub fn public_key(&self, pin: CardPin) -> Option<RsaPublicKey> {
        match pin {
            CardPin::Auth => Some(self.keys.auth.public_key()),
            CardPin::Signing => self.keys.signing.as_ref().map(|signer| signer.public_key()),
            CardPin::Text => None,
        }
    }
}

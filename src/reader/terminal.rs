//! The reader and its terminal as a state machine driven one input at a time.
//!
//! The terminal talks to the card only through a [`Transport`] and to the qualification system
//! only through a [`QualificationService`], both passed to every step, so a scenario can act
//! on the reader (remove the card, inject faults, take the network down) between steps.

use chrono::{NaiveDate, NaiveTime};
use der::Decode;
use serde::{Deserialize, Serialize};

use super::card_io::{CardIoError, CardLink, PinStatus, CARD_TOKEN_LABEL};
use super::codes::{FallbackGuidance, MessageCode};
use super::collation::BirthYearStyle;
use super::collation::FaceOcr;
use super::consent::{self, CheckupScreenRule, ConsentTopic};
use super::outcome::ReceptionOutcome;
use super::screen::{Input, Pin, Screen};
use super::service::{
    IdentityMethod, Possession, QualificationService, ServiceError, TerminalRequest,
};
use crate::apdu::ids::jpki::{EF_AUTH_CERTIFICATE, EF_AUTH_PIN};
use crate::apdu::ids::AID_JPKI;
use crate::apdu::StatusWord;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::message::{CheckResponse, ConsentChoices, ConsentMode};
use crate::oqs::{rules, Outcome};
use crate::person::age_on;
use crate::transport::Transport;

mod phone;

/// Tries of the 利用者証明用 PIN (JPKI EF `0018`): locked after 3 wrong ones (docs/spec/qualification.md
/// §2). A correct PIN resets the counter to this; a verified card answers no count itself.
pub(crate) const AUTH_PIN_MAX_TRIES: u8 = 3;

/// Behaviours of the reader that differ between models or are not public **[open]**.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReaderOptions {
    /// Face authentication locks (for this reception) after this many failed matches.
    /// Default `None` (off); the press reports 10 on some readers.
    pub face_lock_after: Option<u32>,
    /// Whether staff 目視 is offered. Default yes.
    pub visual_check: bool,
    /// When the 特定健診 consent screen is shown. Default `always`.
    pub checkup_screen: CheckupScreenRule,
    /// Year style of the birth part of 照合番号B. Default `japanese_era`.
    pub collation_birth_year: BirthYearStyle,
    /// The clinic has a generic contactless reader beside the face reader, so the first screen
    /// offers スマートフォン (docs/spec/smartphone.md §2.6). Default no: clinics are not
    /// required to offer it (§1.4).
    pub generic_reader: bool,
}

impl Default for ReaderOptions {
    fn default() -> ReaderOptions {
        ReaderOptions {
            face_lock_after: None,
            visual_check: true,
            checkup_screen: CheckupScreenRule::Always,
            collation_birth_year: BirthYearStyle::JapaneseEra,
            generic_reader: false,
        }
    }
}

/// Where and when the reception happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    /// 医療機関コード (10 digits).
    pub facility_code: String,
    /// The scenario clock.
    pub date: NaiveDate,
    /// Time of day of the reception, when a rule depends on it; `None`: the time plays no part.
    pub time: Option<NaiveTime>,
    /// How this reader model behaves where readers differ (retries, consent screens, fallbacks).
    pub options: ReaderOptions,
}

/// An input the current screen does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the reader shows {screen}, which does not take `{input}`; it takes: {accepted}")]
pub struct UnexpectedInput {
    /// The screen the terminal was on.
    pub screen: Screen,
    /// The input that screen does not accept (its short name, never a PIN).
    pub input: &'static str,
    /// The inputs the screen takes, comma-separated (plus `remove_card`, `reader_restarted`).
    pub accepted: String,
}

/// What the reader learned from the card when it was placed.
#[derive(Debug, Clone)]
struct CardSession {
    certificate: Vec<u8>,
    not_after: Option<NaiveDate>,
    has_pin: bool,
}

/// The reader + terminal of one reception.
pub struct Terminal {
    config: TerminalConfig,
    screen: Screen,
    card: Option<CardSession>,
    identity: Option<IdentityMethod>,
    ocr_birth_date: Option<NaiveDate>,
    face_locked: bool,
    consent: ConsentChoices,
    consent_plan: Vec<ConsentTopic>,
    consent_index: usize,
    registered_here: bool,
    /// DER of the auth certificate of the card this reception is for (the first one read):
    /// kept when the card is lost mid-read, so that another card is told apart.
    reception_certificate: Option<Vec<u8>>,
    outcome: ReceptionOutcome,
    /// The phone of a smartphone reception (`phone`), from the choice of the phone on.
    phone: Option<phone::PhoneReception>,
}

impl Terminal {
    /// A reader showing 「カードを置いてください」.
    /// The scenario clock moved (between receptions): later checks use `date`.
    pub(crate) fn set_date(&mut self, date: NaiveDate) {
        self.config.date = date;
    }

    /// A terminal on its idle screen, waiting for a card.
    pub fn new(config: TerminalConfig) -> Terminal {
        let mut terminal = Terminal {
            config,
            screen: Screen::PlaceCard,
            card: None,
            identity: None,
            ocr_birth_date: None,
            face_locked: false,
            consent: ConsentChoices::default(),
            consent_plan: Vec::new(),
            consent_index: 0,
            registered_here: false,
            reception_certificate: None,
            outcome: ReceptionOutcome::default(),
            phone: None,
        };
        terminal.outcome.screens.push(Screen::PlaceCard);
        terminal
    }

    /// The screen shown now.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// Everything so far.
    pub fn outcome(&self) -> &ReceptionOutcome {
        &self.outcome
    }

    /// What the reception came to, once it is over (or where it stopped).
    pub fn into_outcome(self) -> ReceptionOutcome {
        self.outcome
    }

    /// Whether the reception has ended: the card taken back after the result, or the reception
    /// abandoned before one (a new reception needs a new terminal).
    pub fn is_finished(&self) -> bool {
        self.outcome.finished || self.outcome.abandoned
    }

    /// Whether the card on the reader has the auth PIN (`None` while no card is read): a
    /// reader offers PIN entry only then.
    pub(crate) fn card_has_pin(&self) -> Option<bool> {
        self.card.as_ref().map(|card| card.has_pin)
    }

    /// Whether this reception has read a My Number card (from then on it is that card's).
    pub(crate) fn has_read_a_card(&self) -> bool {
        self.reception_certificate.is_some()
    }

    /// DER of the auth certificate read from the card on the reader, if any.
    pub(crate) fn card_certificate(&self) -> Option<&[u8]> {
        self.card.as_ref().map(|card| card.certificate.as_slice())
    }

    /// The last message shown, if any.
    pub fn last_message(&self) -> Option<MessageCode> {
        self.outcome.message_codes.last().copied()
    }

    /// Feeds one input; returns the screen shown afterwards. Card and service failures become
    /// screens and message codes; only an input the screen does not take is an error (and
    /// changes nothing).
    pub fn handle(
        &mut self,
        input: Input,
        transport: &mut dyn Transport,
        service: &dyn QualificationService,
    ) -> Result<Screen, UnexpectedInput> {
        self.handle_in_clinic(input, transport, None, service)
    }

    /// [`Terminal::handle`] in a clinic with two readers: `face_reader` is the face reader's
    /// card slot, `generic_reader` the generic contactless reader a phone is held over
    /// (docs/spec/smartphone.md §2.7); `None` where the clinic has none.
    pub fn handle_in_clinic<'t>(
        &mut self,
        input: Input,
        face_reader: &'t mut dyn Transport,
        generic_reader: Option<&'t mut dyn Transport>,
        service: &'t dyn QualificationService,
    ) -> Result<Screen, UnexpectedInput> {
        let transport = face_reader;
        let name = input.name();
        let universal = matches!(input, Input::RemoveCard | Input::ReaderRestarted);
        if !universal && !self.screen.accepts().contains(&name) {
            return Err(self.unexpected(name));
        }
        if matches!((&input, self.screen), (Input::RemoveCard, Screen::Finished)) {
            return Err(self.unexpected(name));
        }
        let mut step = InputHandling {
            terminal: self,
            transport,
            generic: generic_reader,
            service,
        };
        match input {
            Input::PlaceCard => step.place_card(),
            Input::RemoveCard => step.remove_card(),
            Input::ReaderRestarted => step.restart(),
            Input::ChooseFace { ocr } => step.choose_face(&ocr),
            Input::ChoosePin => step.choose_pin(),
            Input::ChooseVisual => step.choose_visual(),
            Input::FaceResult { matched } => step.face_result(matched),
            Input::EnterPin { pin } => step.enter_pin(&pin),
            Input::StaffCheck { confirmed } => step.staff_check(confirmed),
            Input::ConsentMode { mode } => step.consent_mode(mode),
            Input::Consent { agree } => step.consent(agree),
            Input::Register { agree } => step.register(agree),
            Input::ChooseSmartphone => step.choose_smartphone(),
            Input::ChoosePhone { kind } => step.choose_phone(kind),
            Input::EnterPhonePin { pin } => step.enter_phone_pin(pin),
            Input::PhoneApproval { approval } => step.phone_approval(approval),
            Input::PlacePhone => step.place_phone(),
            Input::RemovePhone => step.remove_phone(),
        }
        Ok(self.screen)
    }

    /// The refusal of `input` on the current screen, listing each input the screen takes once.
    pub(crate) fn unexpected(&self, input: &'static str) -> UnexpectedInput {
        let mut accepted: Vec<&str> = self.screen.accepts().to_vec();
        // Reader events are taken everywhere, but a finished reception has no card to remove.
        let universal: &[&str] = if self.screen == Screen::Finished {
            &["reader_restarted"]
        } else {
            &["remove_card", "reader_restarted"]
        };
        for name in universal {
            if !accepted.contains(name) {
                accepted.push(name);
            }
        }
        accepted.retain(|name| self.screen != Screen::Finished || *name != "remove_card");
        // A clinic without a generic reader offers no phone input (docs/spec/smartphone.md §2).
        if !self.config.options.generic_reader {
            accepted.retain(|name| !matches!(*name, "choose_smartphone" | "remove_phone"));
        }
        UnexpectedInput {
            screen: self.screen,
            input,
            accepted: accepted.join(", "),
        }
    }

    fn show(&mut self, screen: Screen) {
        if self.outcome.screens.last() != Some(&screen) {
            self.outcome.screens.push(screen);
        }
        self.screen = screen;
    }

    fn message(&mut self, code: MessageCode) {
        self.outcome.message_codes.push(code);
    }

    fn guidance(&mut self, guidance: &[FallbackGuidance]) {
        for item in guidance {
            if !self.outcome.fallback.contains(item) {
                self.outcome.fallback.push(*item);
            }
        }
    }

    /// Forgets the card and everything learned from it (a new placement starts over).
    fn forget_card(&mut self) {
        self.card = None;
        self.identity = None;
        self.consent = ConsentChoices::default();
        self.consent_plan.clear();
        self.consent_index = 0;
        self.phone = None;
    }
}

/// One input being handled: the terminal with the transport and service of this step.
struct InputHandling<'a, 't> {
    terminal: &'a mut Terminal,
    transport: &'t mut dyn Transport,
    /// The generic reader a phone is held over, where the clinic has one.
    generic: Option<&'t mut dyn Transport>,
    service: &'t dyn QualificationService,
}

/// Why detection stopped.
enum Detection {
    Ready(CardSession, Vec<u8>),
    NoCard,
    NotMyNumberCard(Vec<u8>),
    Failed(CardIoError),
}

fn detect(link: &mut CardLink<'_>) -> Detection {
    let atr = match link.connect() {
        Ok(atr) => atr,
        Err(CardIoError::NoCard) => return Detection::NoCard,
        Err(error) => return Detection::Failed(error),
    };
    let session = (|| -> Result<Result<CardSession, ()>, CardIoError> {
        if !link.select_application(&AID_JPKI)?.is_success() {
            return Ok(Err(()));
        }
        match link.read_token_label() {
            Ok(label) if label.starts_with(CARD_TOKEN_LABEL) => {}
            Ok(_) | Err(CardIoError::Status { .. }) => return Ok(Err(())),
            Err(error) => return Err(error),
        }
        let sw = link.select_file(EF_AUTH_CERTIFICATE)?;
        if !sw.is_success() {
            return Ok(Err(()));
        }
        let certificate = link.read_der_file()?;
        let has_pin = link.select_file(EF_AUTH_PIN)? == StatusWord::SUCCESS;
        let not_after = x509_cert::Certificate::from_der(&certificate)
            .ok()
            .map(|c| c.tbs_certificate.validity.not_after.to_date_time())
            .and_then(|t| {
                NaiveDate::from_ymd_opt(
                    i32::from(t.year()),
                    u32::from(t.month()),
                    u32::from(t.day()),
                )
            });
        Ok(Ok(CardSession {
            certificate,
            not_after,
            has_pin,
        }))
    })();
    match session {
        Ok(Ok(session)) => Detection::Ready(session, atr),
        Ok(Err(())) => Detection::NotMyNumberCard(atr),
        Err(error) => Detection::Failed(error),
    }
}

impl InputHandling<'_, '_> {
    fn link(&mut self) -> CardLink<'_> {
        CardLink::new(
            &mut *self.transport,
            &mut self.terminal.outcome.apdus,
            &mut self.terminal.outcome.commands,
        )
    }

    fn date(&self) -> NaiveDate {
        self.terminal.config.date
    }

    /// A card failure in the middle of the flow: removal asks for the card again, anything
    /// else is 001.
    fn card_failure(&mut self, error: CardIoError) {
        match error {
            CardIoError::Removed | CardIoError::NoCard => {
                self.terminal.message(MessageCode::CardRemovedDuringRead);
                self.link().disconnect();
                self.terminal.forget_card();
                self.terminal.show(Screen::PlaceCardAgain);
            }
            CardIoError::Unreadable(_) | CardIoError::Status { .. } => {
                self.card_error(MessageCode::CardUnreadable)
            }
        }
    }

    fn card_error(&mut self, code: MessageCode) {
        self.terminal.message(code);
        self.link().disconnect();
        self.terminal.forget_card();
        self.terminal.show(Screen::CardError);
    }

    fn place_card(&mut self) {
        self.terminal.forget_card();
        let detection = detect(&mut self.link());
        match detection {
            Detection::NoCard => self.terminal.show(Screen::PlaceCard),
            Detection::Failed(error) => self.card_failure(error),
            Detection::NotMyNumberCard(atr) => {
                self.terminal.outcome.atr = Some(hex::encode_upper(atr));
                self.card_error(MessageCode::NotMyNumberCard);
            }
            Detection::Ready(session, _)
                if self
                    .terminal
                    .reception_certificate
                    .as_ref()
                    .is_some_and(|first| *first != session.certificate) =>
            {
                // Another person's card where the reader asked for this one again: this
                // reception ends without a result; the new card's reception starts on a new
                // terminal (docs/reader.md, "Where a reception ends").
                self.link().disconnect();
                self.abandon();
            }
            Detection::Ready(session, atr) => {
                self.terminal.outcome.atr = Some(hex::encode_upper(atr));
                self.terminal
                    .reception_certificate
                    .get_or_insert_with(|| session.certificate.clone());
                self.terminal.card = Some(session);
                self.terminal.show(Screen::ChooseMethod);
            }
        }
    }

    /// The reception ends without a result (`outcome.abandoned`): the reader has nothing more
    /// to do for it.
    fn abandon(&mut self) {
        self.terminal.forget_card();
        self.terminal.outcome.abandoned = true;
        self.terminal.show(Screen::Finished);
    }

    fn remove_card(&mut self) {
        self.link().disconnect();
        match self.terminal.screen {
            Screen::Result | Screen::Fallback => {
                self.terminal.outcome.finished = true;
                self.terminal.show(Screen::Finished);
            }
            // No card was read yet, or it was lost mid-read and the reader waits for it.
            Screen::PlaceCard | Screen::PlaceCardAgain => {}
            // Before any My Number card was read, a failed placement is part of the reception
            // of the card that is read next.
            Screen::CardError if self.terminal.reception_certificate.is_none() => {
                self.terminal.forget_card();
                self.terminal.show(Screen::PlaceCard);
            }
            // Taken back before the result: the reception ends there.
            _ => self.abandon(),
        }
    }

    fn restart(&mut self) {
        self.link().disconnect();
        self.terminal.forget_card();
        self.terminal.outcome.finished = false;
        self.terminal.show(Screen::PlaceCard);
    }

    fn has_pin(&self) -> bool {
        self.terminal.card.as_ref().is_some_and(|card| card.has_pin)
    }

    // ---- identity ----

    fn choose_pin(&mut self) {
        if self.terminal.screen == Screen::PinLocked {
            // Already known to be locked: nothing is sent to the card.
            self.terminal.message(MessageCode::PinLocked);
            return;
        }
        if !self.has_pin() {
            self.terminal.message(MessageCode::PinUnavailable);
            return;
        }
        let status = {
            let mut link = self.link();
            (|| -> Result<PinStatus, CardIoError> {
                select_auth_pin(&mut link)?;
                link.query_pin()
            })()
        };
        match status {
            Ok(status) => self.pin_status(status),
            Err(error) => self.card_failure(error),
        }
    }

    fn pin_status(&mut self, status: PinStatus) {
        match status {
            PinStatus::TriesLeft(tries) => {
                self.terminal.outcome.pin_tries_left = Some(tries);
                self.terminal.show(Screen::PinEntry);
            }
            PinStatus::Blocked => {
                self.terminal.outcome.pin_tries_left = Some(0);
                self.terminal.message(MessageCode::PinLocked);
                self.terminal.show(Screen::PinLocked);
            }
            // A card that answers the query with 90 00 (already verified): ask for the PIN
            // anyway; the VERIFY decides.
            PinStatus::Verified => self.terminal.show(Screen::PinEntry),
        }
    }

    fn enter_pin(&mut self, pin: &Pin) {
        if self.terminal.screen == Screen::PinLocked {
            // Refused on the reader: no VERIFY may reach a locked PIN.
            self.terminal.message(MessageCode::PinLocked);
            return;
        }
        let digits = pin.expose().as_bytes();
        if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
            self.terminal.message(MessageCode::PinFormat);
            return;
        }
        let result = {
            let mut link = self.link();
            (|| -> Result<PinStatus, CardIoError> {
                select_auth_pin(&mut link)?;
                match link.query_pin()? {
                    PinStatus::Blocked => Ok(PinStatus::Blocked),
                    PinStatus::TriesLeft(_) | PinStatus::Verified => link.verify(digits),
                }
            })()
        };
        self.terminal.outcome.verify_sent = self.terminal.outcome.commands.pin_verify > 0;
        match result {
            Ok(PinStatus::Verified) => {
                // A correct PIN resets the card's counter to its maximum.
                self.terminal.outcome.pin_tries_left = Some(AUTH_PIN_MAX_TRIES);
                self.identified(IdentityMethod::Pin);
            }
            Ok(PinStatus::TriesLeft(tries)) => {
                self.terminal.outcome.pin_tries_left = Some(tries);
                self.terminal.message(MessageCode::PinWrong);
                self.terminal.show(Screen::PinEntry);
            }
            Ok(PinStatus::Blocked) => self.pin_status(PinStatus::Blocked),
            Err(error) => self.card_failure(error),
        }
    }

    fn choose_face(&mut self, ocr: &FaceOcr) {
        if self.terminal.face_locked {
            self.terminal.message(MessageCode::FaceLocked);
            return;
        }
        let collation =
            match ocr.collation_number_b(self.terminal.config.options.collation_birth_year) {
                Ok(collation) => collation,
                Err(_) => {
                    self.face_unavailable();
                    return;
                }
            };
        let face = self.link().read_card_face(&collation);
        match face {
            Ok(Some(_card_face)) => {
                self.terminal.ocr_birth_date = Some(ocr.birth_date);
                self.terminal.show(Screen::FaceCapture);
            }
            Ok(None) => self.face_unavailable(),
            Err(error) => self.card_failure(error),
        }
    }

    fn face_unavailable(&mut self) {
        self.terminal.message(MessageCode::CardFaceUnreadable);
        self.terminal.show(Screen::ChooseMethod);
    }

    fn face_result(&mut self, matched: bool) {
        if matched {
            self.identified(IdentityMethod::Face);
            return;
        }
        self.terminal.outcome.face_failures += 1;
        self.terminal.message(MessageCode::FaceNoMatch);
        let failures = self.terminal.outcome.face_failures;
        if self
            .terminal
            .config
            .options
            .face_lock_after
            .is_some_and(|limit| failures >= limit)
        {
            self.terminal.face_locked = true;
            self.terminal.message(MessageCode::FaceLocked);
            self.terminal.show(Screen::ChooseMethod);
        } else {
            self.terminal.show(Screen::FaceNoMatch);
        }
    }

    fn choose_visual(&mut self) {
        if !self.terminal.config.options.visual_check {
            self.terminal.message(MessageCode::VisualCheckFailed);
            return;
        }
        self.terminal.show(Screen::VisualCheck);
    }

    fn staff_check(&mut self, confirmed: bool) {
        if confirmed {
            self.identified(IdentityMethod::Visual);
        } else {
            self.terminal.message(MessageCode::VisualCheckFailed);
            self.terminal.show(Screen::ChooseMethod);
        }
    }

    // ---- after identity: notices, consent ----

    fn identified(&mut self, method: IdentityMethod) {
        self.terminal.identity = Some(method);
        self.terminal.outcome.identity = Some(method);
        let date = self.date();
        let not_after = self.terminal.card.as_ref().and_then(|card| card.not_after);
        if not_after.is_some_and(|not_after| date > not_after) {
            // Expired: inside grace only qualification data is shared, so no consent screens.
            // Whether the date is inside grace is the service's rule (a registry parameter):
            // the answer says so, and past grace the service refuses (006).
            self.terminal.show(Screen::ExpiredNotice);
            self.terminal.consent = ConsentChoices::default();
            self.run_check();
            return;
        }
        if not_after.is_some_and(|not_after| rules::renewal_notice_due(date, not_after)) {
            self.terminal.outcome.renewal_notice = true;
            self.terminal.message(MessageCode::RenewalNotice);
            self.terminal.show(Screen::RenewalNotice);
        }
        if consent::mode_screen_shown(date) {
            self.terminal.show(Screen::ConsentMode);
        } else {
            self.start_individual_consent();
        }
    }

    fn start_individual_consent(&mut self) {
        let date = self.date();
        let age = self
            .terminal
            .ocr_birth_date
            .map(|birth| age_on(birth, date));
        self.terminal.consent = ConsentChoices {
            mode: ConsentMode::Individual,
            ..ConsentChoices::default()
        };
        self.terminal.consent_plan =
            consent::individual_screens(date, self.terminal.config.options.checkup_screen, age);
        self.terminal.consent_index = 0;
        self.next_consent_screen();
    }

    fn next_consent_screen(&mut self) {
        match self
            .terminal
            .consent_plan
            .get(self.terminal.consent_index)
            .copied()
        {
            Some(topic) => self.terminal.show(Screen::Consent(topic)),
            None => self.run_check(),
        }
    }

    fn consent_mode(&mut self, mode: ConsentMode) {
        match mode {
            ConsentMode::Comprehensive => {
                self.terminal.consent = consent::comprehensive_choices();
                self.run_check();
            }
            ConsentMode::Individual => self.start_individual_consent(),
        }
    }

    fn consent(&mut self, agree: bool) {
        if let Screen::Consent(topic) = self.terminal.screen {
            topic.record(&mut self.terminal.consent, agree);
            self.terminal.consent_index += 1;
            self.next_consent_screen();
        }
    }

    // ---- the qualification system ----

    /// The request for the current card and identity; for a PIN reception the card signs a
    /// fresh challenge. `Err(())` when the failure was already turned into a screen.
    fn request(&mut self) -> Result<TerminalRequest, ()> {
        if self.terminal.phone.is_some() {
            return self.phone_request();
        }
        let (Some(card), Some(identity)) = (self.terminal.card.clone(), self.terminal.identity)
        else {
            self.card_error(MessageCode::CardUnreadable);
            return Err(());
        };
        let possession = if identity == IdentityMethod::Pin {
            let challenge = match self.service.challenge() {
                Ok(challenge) => challenge,
                Err(error) => {
                    self.service_failure(&error);
                    return Err(());
                }
            };
            let signature = self.link().sign_with_auth_key(&challenge);
            match signature {
                Ok(signature) => Some(Possession {
                    challenge,
                    signature,
                }),
                Err(error) => {
                    self.card_failure(error);
                    return Err(());
                }
            }
        } else {
            None
        };
        Ok(TerminalRequest {
            certificate: card.certificate,
            identity,
            possession,
            facility_code: self.terminal.config.facility_code.clone(),
            date: self.terminal.config.date,
            time: self.terminal.config.time,
            consent: self.terminal.consent,
            smartphone: None,
        })
    }

    fn run_check(&mut self) {
        let Ok(request) = self.request() else { return };
        let answer = self.service.check(&request);
        self.consent_sent(&request, &answer);
        match answer {
            Ok(response) => self.answer(response),
            Err(error) => self.service_failure(&error),
        }
    }

    /// Records the consent flags as sent once a call carrying them reached the service; an
    /// unreachable service received none, whichever the identity method (a PIN reception
    /// fails already at its challenge).
    fn consent_sent<T>(&mut self, request: &TerminalRequest, answer: &Result<T, ServiceError>) {
        if !matches!(answer, Err(ServiceError::Unreachable(_))) {
            self.terminal.outcome.consent = Some(request.consent);
        }
    }

    fn register(&mut self, agree: bool) {
        self.terminal.outcome.registration.accepted = Some(agree);
        if !agree {
            self.terminal.message(MessageCode::RegistrationDeclined);
            self.terminal.guidance(&[
                FallbackGuidance::QualificationCertificate,
                FallbackGuidance::QualificationStatement,
            ]);
            self.terminal.show(Screen::Result);
            return;
        }
        let Ok(request) = self.request() else { return };
        let answer = self.service.register(&request);
        self.consent_sent(&request, &answer);
        match answer {
            Ok(response) if response.outcome == Outcome::Registered => {
                self.terminal.outcome.registration.outcome = Some(Outcome::Registered);
                self.terminal.registered_here = true;
                self.run_check();
            }
            Ok(response) => {
                self.terminal.outcome.registration.outcome = Some(response.outcome);
                self.answer(response);
            }
            Err(error) => self.service_failure(&error),
        }
    }

    fn service_failure(&mut self, error: &ServiceError) {
        match error {
            ServiceError::Unreachable(_) => {
                self.terminal.message(MessageCode::NetworkOutage);
                self.terminal.guidance(&[
                    FallbackGuidance::EmergencyQualificationCheck,
                    FallbackGuidance::QualificationInformationNotice,
                    FallbackGuidance::MynaPortal,
                    FallbackGuidance::QualificationStatement,
                ]);
                self.terminal.show(Screen::Fallback);
            }
            ServiceError::Unsupported(_) => {
                self.terminal.message(MessageCode::ServiceError);
                self.terminal.guidance(&[
                    FallbackGuidance::QualificationInformationNotice,
                    FallbackGuidance::QualificationStatement,
                ]);
                self.terminal.show(Screen::Fallback);
            }
            ServiceError::Refused(_) => {
                self.terminal.message(MessageCode::ProofRefused);
                self.terminal
                    .guidance(&[FallbackGuidance::QualificationStatement]);
                self.terminal.show(Screen::Result);
            }
        }
    }

    fn answer(&mut self, response: CheckResponse) {
        use FallbackGuidance as G;
        let outcome = response.outcome;
        self.terminal.outcome.service_outcome = Some(outcome);
        let result = |step: &mut Self, code: MessageCode, guidance: &[FallbackGuidance]| {
            step.terminal.message(code);
            step.terminal.guidance(guidance);
            step.terminal.show(Screen::Result);
        };
        match outcome {
            Outcome::Answered => self.qualification(&response),
            Outcome::CardNotRegistered | Outcome::RegistrationCancelledOnRequest
                if !self.terminal.registered_here =>
            {
                let code = if outcome == Outcome::CardNotRegistered {
                    MessageCode::NotRegistered
                } else {
                    MessageCode::RegistrationCancelledOnRequest
                };
                self.terminal.message(code);
                self.terminal.outcome.registration.offered = true;
                self.terminal.show(Screen::RegistrationOffer);
            }
            Outcome::CardNotRegistered
            | Outcome::RegistrationCancelledOnRequest
            | Outcome::Registered => result(
                self,
                MessageCode::ServiceError,
                &[G::QualificationStatement],
            ),
            Outcome::CertificateExpired => result(
                self,
                MessageCode::CertificateRevokedOrExpired,
                &[G::QualificationCertificate, G::RenewCertificate],
            ),
            Outcome::CertificateRevoked => result(
                self,
                MessageCode::CertificateRevokedOrExpired,
                &[G::QualificationCertificate, G::QualificationStatement],
            ),
            Outcome::RegistrationCancelledAfterGrace => result(
                self,
                MessageCode::RegistrationCancelledAfterGrace,
                &[G::QualificationCertificate, G::RenewCertificate],
            ),
            Outcome::JlisUnavailable => result(
                self,
                MessageCode::JlisUnavailable,
                &[G::QualificationInformationNotice, G::QualificationStatement],
            ),
            Outcome::SelfInformationBlocked => result(
                self,
                MessageCode::SelfInformationBlocked,
                &[G::QualificationCertificate],
            ),
            Outcome::RecordBlocked => result(
                self,
                MessageCode::RecordBlocked,
                &[G::QualificationInformationNotice, G::QualificationStatement],
            ),
            Outcome::CertificateNotYetValid => result(
                self,
                MessageCode::CertificateNotYetValid,
                &[G::QualificationStatement],
            ),
            Outcome::ChallengeUnknown
            | Outcome::CertificateUntrusted
            | Outcome::SignatureInvalid => result(
                self,
                MessageCode::ProofRefused,
                &[G::QualificationStatement],
            ),
            Outcome::SmartphoneExpired
            | Outcome::SmartphoneRevoked
            | Outcome::SmartphoneReissueNeeded
            | Outcome::SmartphoneNotRegistered => self.smartphone_refused(outcome),
            Outcome::RequestInvalid
            | Outcome::CertificateMalformed
            | Outcome::SignatureMalformed => result(
                self,
                MessageCode::ServiceError,
                &[G::QualificationStatement],
            ),
        }
        self.terminal.outcome.response = Some(response);
    }

    fn qualification(&mut self, response: &CheckResponse) {
        use FallbackGuidance as G;
        let outcome = &mut self.terminal.outcome;
        let validity = response.body.qualification_validity;
        outcome.validity = validity;
        if response.certificate_in_grace && !outcome.qualification_only {
            outcome.qualification_only = true;
            outcome
                .message_codes
                .push(MessageCode::GracePeriodQualificationOnly);
        }
        if response.renewal_notice && !outcome.renewal_notice {
            outcome.renewal_notice = true;
            outcome.message_codes.push(MessageCode::RenewalNotice);
        }
        if let Some(first) = response.body.result_list.first() {
            // Read as EMRs do: values trimmed (a 6-digit number comes space-padded to 8).
            outcome.insurer_number = Some(first.insurer_number.trim().to_owned());
            outcome.insurer_name = Some(first.insurer_name.clone());
            outcome.burden_percent = first.burden_percent();
            outcome.limit_class = first
                .limit_application_certificate_related_info
                .as_ref()
                .map(|info| {
                    info.limit_application_certificate_classification_flag
                        .clone()
                });
        }
        let (code, guidance): (Option<MessageCode>, &[FallbackGuidance]) = match validity {
            Some(QualificationValidity::Valid) => (None, &[]),
            Some(QualificationValidity::Invalid) => (
                Some(MessageCode::QualificationInvalid),
                G::for_invalid(
                    response
                        .body
                        .result_list
                        .first()
                        .and_then(|result| result.reason_of_loss.as_deref()),
                ),
            ),
            Some(QualificationValidity::InvalidNewQualificationExists) => (
                Some(MessageCode::QualificationInvalidNewExists),
                &[G::QualificationInformationNotice],
            ),
            Some(QualificationValidity::NoQualification) => (
                Some(MessageCode::NoQualification),
                &[G::QualificationInformationNotice, G::QualificationStatement],
            ),
            Some(QualificationValidity::Multiple) => {
                (Some(MessageCode::MultipleQualifications), &[])
            }
            None => (
                Some(MessageCode::ServiceError),
                &[G::QualificationStatement],
            ),
        };
        if let Some(code) = code {
            self.terminal.message(code);
        }
        self.terminal.guidance(guidance);
        self.terminal.show(Screen::Result);
    }
}

fn select_auth_pin(link: &mut CardLink<'_>) -> Result<(), CardIoError> {
    let sw = link.select_application(&AID_JPKI)?;
    if !sw.is_success() {
        return Err(CardIoError::Status {
            step: "SELECT JPKI",
            sw: sw.0,
        });
    }
    let sw = link.select_file(EF_AUTH_PIN)?;
    if !sw.is_success() {
        return Err(CardIoError::Status {
            step: "SELECT auth PIN",
            sw: sw.0,
        });
    }
    Ok(())
}

//! The smartphone path (スマホ保険証, docs/spec/smartphone.md §3): スマートフォン on the face
//! reader, then iPhone or Android; Android's PIN typed on the face reader and sent as a VERIFY
//! to the phone, the iPhone's approval given on the phone; the phone held over the generic
//! reader, where it proves possession by signing the service's challenge; consent on the face
//! reader; the check. Phones are never face-authenticated (§3.12): the path has no face route.

use super::{InputHandling, AUTH_PIN_MAX_TRIES};
use crate::apdu::ids::jpki::{EF_AUTH_CERTIFICATE, EF_AUTH_PIN};
use crate::apdu::ids::AID_JPKI;
use crate::oqs::Outcome;
use crate::person::PhoneKind;
use crate::reader::card_io::{CardIoError, CardLink, PinStatus};
use crate::reader::codes::{FallbackGuidance, MessageCode};
use crate::reader::screen::{PhoneApproval, Pin, Screen};
use crate::reader::service::{IdentityMethod, Possession, TerminalRequest};

/// What the terminal holds of the phone during a smartphone reception.
#[derive(Debug, Clone)]
pub(super) struct PhoneReception {
    kind: PhoneKind,
    /// Android: the PIN typed on the face reader, kept only until the phone is placed.
    pin: Option<Pin>,
    /// Read and signed on the generic reader: the phone's certificate and proof of possession.
    presented: Option<(Vec<u8>, Possession)>,
}

/// The token label in EF 0006 that tells the phone apart from a card (docs/spec/smartphone.md §5.17).
fn token_label(kind: PhoneKind) -> &'static [u8] {
    match kind {
        PhoneKind::Android => b"JPKIAPGPSETOKEN",
        PhoneKind::Iphone => b"JPKIAPIOSTOKEN",
    }
}

/// Why reading the phone stopped short of a signature.
enum PhoneRead {
    Presented(Vec<u8>, Possession),
    /// Not the chosen phone, or nothing on the generic reader.
    Unreadable,
    PinWrong(u8),
    PinLocked,
    /// The service gave no challenge (already shown).
    NoChallenge,
}

impl InputHandling<'_, '_> {
    pub(super) fn choose_smartphone(&mut self) {
        if !self.terminal.config.options.generic_reader {
            self.terminal.message(MessageCode::SmartphoneNotOffered);
            self.terminal.guidance(&[FallbackGuidance::BringCard]);
            return;
        }
        self.terminal.forget_card();
        self.terminal.show(Screen::ChoosePhone);
    }

    pub(super) fn choose_phone(&mut self, kind: PhoneKind) {
        self.terminal.phone = Some(PhoneReception {
            kind,
            pin: None,
            presented: None,
        });
        self.terminal.outcome.smartphone = Some(kind);
        self.terminal.show(match kind {
            PhoneKind::Android => Screen::PhonePinEntry,
            PhoneKind::Iphone => Screen::PhoneApproval,
        });
    }

    pub(super) fn enter_phone_pin(&mut self, pin: Pin) {
        let digits = pin.expose().as_bytes();
        if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
            // Nothing is kept, nothing reaches the phone.
            self.terminal.message(MessageCode::PinFormat);
            return;
        }
        if let Some(phone) = self.terminal.phone.as_mut() {
            phone.pin = Some(pin);
            self.terminal.show(Screen::PlacePhone);
        }
    }

    pub(super) fn phone_approval(&mut self, approval: PhoneApproval) {
        self.terminal.outcome.phone_approval = Some(approval);
        let declined = match approval {
            PhoneApproval::Approved => {
                self.terminal.show(Screen::PlacePhone);
                return;
            }
            PhoneApproval::Declined => MessageCode::SmartphoneApprovalDeclined,
            PhoneApproval::TimedOut => MessageCode::SmartphoneApprovalTimedOut,
        };
        // Back to the first screen: the patient may try again or place the card.
        self.terminal.message(declined);
        self.terminal.forget_card();
        self.terminal.show(Screen::PlaceCard);
    }

    pub(super) fn place_phone(&mut self) {
        let Some(phone) = self.terminal.phone.clone() else {
            return;
        };
        if self.generic.is_none() {
            // A terminal without a generic reader: the phone cannot be read.
            self.terminal.message(MessageCode::SmartphoneNotOffered);
            self.terminal.guidance(&[FallbackGuidance::BringCard]);
            return;
        }
        let verifies_before = self.terminal.outcome.commands.pin_verify;
        let read = self.read_phone(&phone);
        if self.terminal.outcome.commands.pin_verify > verifies_before {
            self.terminal.outcome.phone_verify_sent = true;
        }
        match read {
            Ok(PhoneRead::Presented(certificate, possession)) => {
                if phone.kind == PhoneKind::Android {
                    self.terminal.outcome.phone_pin_tries_left = Some(AUTH_PIN_MAX_TRIES);
                }
                if let Some(held) = self.terminal.phone.as_mut() {
                    held.pin = None;
                    held.presented = Some((certificate, possession));
                }
                self.identified(IdentityMethod::Pin);
            }
            Ok(PhoneRead::PinWrong(tries)) => {
                self.terminal.outcome.phone_pin_tries_left = Some(tries);
                self.terminal.message(MessageCode::SmartphonePinWrong);
                self.forget_phone_pin();
                self.terminal.show(Screen::PhonePinEntry);
            }
            Ok(PhoneRead::PinLocked) => {
                self.terminal.outcome.phone_pin_tries_left = Some(0);
                self.terminal.message(MessageCode::SmartphonePinLocked);
                self.terminal.guidance(&[
                    FallbackGuidance::BringCard,
                    FallbackGuidance::ReissueSmartphone,
                ]);
                self.forget_phone_pin();
                self.terminal.show(Screen::Result);
            }
            Ok(PhoneRead::Unreadable) | Err(_) => {
                self.terminal.message(MessageCode::SmartphoneUnreadable);
                self.terminal.show(Screen::PlacePhone);
            }
            Ok(PhoneRead::NoChallenge) => {}
        }
    }

    fn forget_phone_pin(&mut self) {
        if let Some(phone) = self.terminal.phone.as_mut() {
            phone.pin = None;
        }
    }

    /// Reads the phone on the generic reader: JPKI, the token label, the VERIFY (Android), the
    /// certificate, and a signature over a fresh challenge asked of the service first; the
    /// phone is released afterwards.
    fn read_phone(&mut self, phone: &PhoneReception) -> Result<PhoneRead, CardIoError> {
        let challenge = match self.service.challenge() {
            Ok(challenge) => challenge,
            Err(error) => {
                self.service_failure(&error);
                return Ok(PhoneRead::NoChallenge);
            }
        };
        let outcome = &mut self.terminal.outcome;
        let Some(generic) = self.generic.as_deref_mut() else {
            return Ok(PhoneRead::Unreadable);
        };
        let mut link = CardLink::new(generic, &mut outcome.apdus, &mut outcome.commands);
        let read = read_token(&mut link, phone, &challenge);
        link.disconnect();
        read
    }

    pub(super) fn remove_phone(&mut self) {
        if let Some(generic) = self.generic.as_deref_mut() {
            let _ = generic.disconnect();
        }
        self.terminal.outcome.finished = true;
        self.terminal.show(Screen::Finished);
    }

    /// The request of a smartphone reception: the phone's certificate and signature.
    pub(super) fn phone_request(&mut self) -> Result<TerminalRequest, ()> {
        let presented = self
            .terminal
            .phone
            .as_ref()
            .and_then(|phone| Some((phone.kind, phone.presented.clone()?)));
        let Some((kind, (certificate, possession))) = presented else {
            self.terminal.message(MessageCode::SmartphoneUnreadable);
            self.terminal.show(Screen::PlacePhone);
            return Err(());
        };
        self.terminal.outcome.consent = Some(self.terminal.consent);
        Ok(TerminalRequest {
            certificate,
            // The phone verified its holder (PIN or biometrics) and signed: proof of
            // possession, as a PIN reception (docs/reader.md, smartphone).
            identity: IdentityMethod::Pin,
            possession: Some(possession),
            facility_code: self.terminal.config.facility_code.clone(),
            date: self.terminal.config.date,
            time: self.terminal.config.time,
            consent: self.terminal.consent,
            smartphone: Some(kind),
        })
    }

    /// The service refused the phone credential: the harness's message and guidance, always
    /// including the card itself (docs/spec/smartphone.md §4.16, §1.5).
    pub(super) fn smartphone_refused(&mut self, outcome: Outcome) {
        use FallbackGuidance as G;
        let (code, guidance): (MessageCode, &[FallbackGuidance]) = match outcome {
            Outcome::SmartphoneExpired => (
                MessageCode::SmartphoneExpired,
                &[G::BringCard, G::RenewCertificate],
            ),
            Outcome::SmartphoneRevoked => (
                MessageCode::SmartphoneRevoked,
                &[G::BringCard, G::ReissueSmartphone],
            ),
            Outcome::SmartphoneReissueNeeded => (
                MessageCode::SmartphoneReissueNeeded,
                &[G::BringCard, G::ReissueSmartphone],
            ),
            _ => (MessageCode::SmartphoneNotRegistered, &[G::BringCard]),
        };
        self.terminal.message(code);
        self.terminal.guidance(guidance);
        self.terminal.show(Screen::Result);
    }
}

/// The phone's side of [`InputHandling::read_phone`], over the generic reader's link.
fn read_token(
    link: &mut CardLink<'_>,
    phone: &PhoneReception,
    challenge: &[u8],
) -> Result<PhoneRead, CardIoError> {
    match link.connect() {
        Ok(_) => {}
        Err(CardIoError::NoCard) => return Ok(PhoneRead::Unreadable),
        Err(error) => return Err(error),
    }
    if !link.select_application(&AID_JPKI)?.is_success() {
        return Ok(PhoneRead::Unreadable);
    }
    match link.read_token_label() {
        Ok(label) if label.starts_with(token_label(phone.kind)) => {}
        Ok(_) | Err(CardIoError::Status { .. }) => return Ok(PhoneRead::Unreadable),
        Err(error) => return Err(error),
    }
    if phone.kind == PhoneKind::Android {
        let Some(pin) = &phone.pin else {
            return Ok(PhoneRead::Unreadable);
        };
        if !link.select_file(EF_AUTH_PIN)?.is_success() {
            return Ok(PhoneRead::Unreadable);
        }
        // A locked PIN is known from the retry query: no VERIFY may reach it.
        let status = match link.query_pin()? {
            PinStatus::Blocked => PinStatus::Blocked,
            PinStatus::TriesLeft(_) | PinStatus::Verified => {
                link.verify(pin.expose().as_bytes())?
            }
        };
        match status {
            PinStatus::Verified => {}
            PinStatus::TriesLeft(tries) => return Ok(PhoneRead::PinWrong(tries)),
            PinStatus::Blocked => return Ok(PhoneRead::PinLocked),
        }
    }
    if !link.select_file(EF_AUTH_CERTIFICATE)?.is_success() {
        return Ok(PhoneRead::Unreadable);
    }
    let certificate = link.read_der_file()?;
    let signature = link.sign_with_auth_key(challenge)?;
    Ok(PhoneRead::Presented(
        certificate,
        Possession {
            challenge: challenge.to_vec(),
            signature,
        },
    ))
}

//! The reference device: the harness's own reader and terminal flow as a separate process
//! behind the driver protocol (`myna-hil reference-device [--fault NAME]`).
//!
//! It reaches the served card only through PC/SC (the reader named in `hello.reader`, i.e.
//! pcscd + vpcd) and the qualification system only over HTTP (`hello.oqs_url`), exactly as a
//! vendor's device would, and runs the same [`Terminal`] state machine as every scenario.
//! Protocol actions become [`Input`]s; each answer reports what the reader shows.
//!
//! At the end of every reception (result, fallback or card error shown; the case ended) the
//! device releases the card powered off, so no verified PIN stays open: a warm reset would not
//! end it (docs/spec/card-measured.md §2).
//!
//! The faulty variants ([`faults`]) differ from the correct device only at a few hooks: the
//! card link decorator ([`link::DeviceLink`]), the service decorator
//! ([`http_service::WithoutProof`]), the two PIN hooks in [`ReferenceDevice`] (`pin-after-lock`,
//! `ignores-63cx`), and the report (`qv4-as-valid`).

pub(crate) mod faults;
pub(crate) mod http_service;
pub(crate) mod link;

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;

pub(crate) use faults::{FaultyBehaviour, UnknownFault};
use http_service::{FaceForPhone, WithoutProof};
use link::{DeviceLink, PowerOffSlot};

use super::protocol::{
    Action, DriverAnswer, DriverError, Instruction, Op, Shown, PROTOCOL_NAME, PROTOCOL_VERSION,
};
use crate::apdu::ids::jpki::EF_AUTH_PIN;
use crate::card::fs::AID_JPKI;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::message::{ConsentChoices, ConsentMode};
use crate::reader::card_io::{CardLink, CommandCounts};
use crate::reader::{
    FaceOcr, IdentityMethod, Input, MessageCode, PhoneApproval, PhoneKind, Pin, Possession,
    QualificationService, ReaderOptions, Screen, Terminal, TerminalConfig, TerminalRequest,
};
use crate::transport::Transport;

/// `reference-device` arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReferenceDeviceArgs {
    /// Behave as this deliberately faulty variant (see `certify --list-faults`).
    #[arg(long, value_name = "NAME")]
    pub(crate) fault: Option<String>,
}

/// Why the device could not run at all (a failing step is an answer, not this).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The reference device was told to misbehave in a way it does not know.
    #[error(transparent)]
    UnknownFault(#[from] UnknownFault),
    /// The driver-protocol stream (stdin/stdout) failed.
    #[error("driver protocol stream: {0}")]
    Io(#[from] std::io::Error),
}

/// Where `hello` says the emulated services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoints {
    pub(crate) reader: Option<String>,
    /// The generic reader's PC/SC name (where the phone is held), when the harness has one.
    pub(crate) generic_reader: Option<String>,
    pub(crate) oqs_url: Option<String>,
    pub(crate) files_dir: Option<String>,
}

/// The qualification service the device talks to.
pub(crate) type SharedService = Arc<dyn QualificationService + Send + Sync>;

/// What `hello` opens: the face reader's card slot, the generic reader (`None`: no phones),
/// and the qualification service.
pub(crate) type Opened<T> = (T, Option<T>, SharedService);

/// Opens the slots and the qualification service named by `hello`; the error is the message
/// of the `hello` answer.
pub(crate) type Opener<T> = Box<dyn FnMut(&Endpoints) -> Result<Opened<T>, String>>;

/// Longest wait for a placed card to be detected (half the step's timeout at most).
const MAX_CARD_WAIT: Duration = Duration::from_secs(5);

/// The device after `hello`.
struct Session<T> {
    link: DeviceLink<T>,
    /// The generic reader a phone is held over; `None`: the device declares no phone support.
    generic: Option<DeviceLink<T>>,
    service: SharedService,
    facility_code: String,
    case: Option<Case>,
}

/// The reception of the current case.
struct Case {
    terminal: Terminal,
    date: NaiveDate,
    /// Messages already reported in an earlier answer.
    reported_messages: usize,
}

impl Case {
    /// A reader showing its idle screen; it offers スマートフォン when it has a generic reader.
    fn new(facility_code: &str, date: NaiveDate, generic_reader: bool) -> Case {
        Case {
            terminal: Terminal::new(TerminalConfig {
                facility_code: facility_code.to_owned(),
                date,
                time: None,
                options: ReaderOptions {
                    generic_reader,
                    ..ReaderOptions::default()
                },
            }),
            date,
            reported_messages: 0,
        }
    }
}

/// The reference device, one instruction at a time.
pub(crate) struct ReferenceDevice<T> {
    behaviour: FaultyBehaviour,
    fault: Option<String>,
    open: Opener<T>,
    session: Option<Session<T>>,
}

fn failure(id: u64, kind: &str, message: impl Into<String>) -> DriverAnswer {
    DriverAnswer {
        id,
        ok: false,
        error: Some(DriverError {
            kind: kind.to_owned(),
            message: message.into(),
        }),
        ..DriverAnswer::default()
    }
}

/// The serde name of a screen (`place_card`, `pin_entry`...); every consent screen is `consent`.
fn screen_name(screen: Screen) -> String {
    if let Screen::Consent(_) = screen {
        return "consent".to_owned();
    }
    serde_json::to_value(screen)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{screen:?}"))
}

/// How the result is reported to the harness (contract names, by QualificationValidity).
fn qualification_name(validity: QualificationValidity) -> &'static str {
    match validity {
        QualificationValidity::Valid => "valid",
        QualificationValidity::Invalid => "invalid",
        QualificationValidity::InvalidNewQualificationExists => "unknown",
        QualificationValidity::NoQualification => "no_qualification",
        QualificationValidity::Multiple => "multiple",
    }
}

/// Screens after which the reception is over and the card must be released.
fn ends_reception(screen: Screen) -> bool {
    matches!(
        screen,
        Screen::Result | Screen::Fallback | Screen::CardError | Screen::Finished
    )
}

fn input_of(action: Action) -> Result<Input, String> {
    Ok(match action {
        Action::CardPlaced => Input::PlaceCard,
        Action::CardRemoved => Input::RemoveCard,
        Action::ChooseFace {
            ocr_birth_date,
            ocr_expiry_year,
            ocr_security_code,
        } => Input::ChooseFace {
            ocr: FaceOcr {
                birth_date: ocr_birth_date.parse().map_err(|error| {
                    format!("ocr_birth_date `{ocr_birth_date}` is not YYYY-MM-DD: {error}")
                })?,
                card_expiry_year: ocr_expiry_year,
                security_code: ocr_security_code,
            },
        },
        Action::FaceResult { matched } => Input::FaceResult { matched },
        Action::ChoosePin => Input::ChoosePin,
        Action::EnterPin { pin } => Input::EnterPin { pin: Pin::new(pin) },
        Action::ChooseVisual => Input::ChooseVisual,
        Action::StaffCheck { confirmed } => Input::StaffCheck { confirmed },
        Action::ConsentMode { mode } => Input::ConsentMode {
            mode: match mode.as_str() {
                "comprehensive" => ConsentMode::Comprehensive,
                "individual" => ConsentMode::Individual,
                other => {
                    return Err(format!(
                        "consent mode `{other}`: expected comprehensive or individual"
                    ))
                }
            },
        },
        Action::Consent { agree } => Input::Consent { agree },
        Action::Register { agree } => Input::Register { agree },
        Action::ChooseSmartphone => Input::ChooseSmartphone,
        Action::ChoosePhone { kind } => Input::ChoosePhone {
            kind: named::<PhoneKind>(&kind, "phone kind", "android or iphone")?,
        },
        Action::EnterPhonePin { pin } => Input::EnterPhonePin { pin: Pin::new(pin) },
        Action::PhoneApproval { approval } => Input::PhoneApproval {
            approval: named::<PhoneApproval>(
                &approval,
                "phone approval",
                "approved, declined or timed_out",
            )?,
        },
        Action::PhonePlaced => Input::PlacePhone,
        Action::PhoneRemoved => Input::RemovePhone,
        Action::Wait { .. } => return Err("wait is not a reader input".into()),
    })
}

/// A protocol word (`android`, `timed_out` …) as the value serde names it.
fn named<T: serde::de::DeserializeOwned>(
    word: &str,
    what: &str,
    expected: &str,
) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(word.to_owned()))
        .map_err(|_| format!("{what} `{word}`: expected {expected}"))
}

impl<T: PowerOffSlot> ReferenceDevice<T> {
    pub(crate) fn new(
        fault: Option<&str>,
        open: Opener<T>,
    ) -> Result<ReferenceDevice<T>, UnknownFault> {
        Ok(ReferenceDevice {
            behaviour: FaultyBehaviour::from_name(fault)?,
            fault: fault.map(str::to_owned),
            open,
            session: None,
        })
    }

    /// The device's name in the `hello` answer.
    pub(crate) fn name(&self) -> String {
        let mut name = format!("myna-hil reference-device {}", env!("CARGO_PKG_VERSION"));
        if let Some(fault) = &self.fault {
            name.push_str(&format!(" (fault {fault})"));
        }
        name
    }

    /// Reads instructions until `shutdown` or the end of the input; one answer line each.
    pub(crate) fn serve(
        &mut self,
        input: impl BufRead,
        mut output: impl Write,
    ) -> Result<(), DeviceError> {
        for line in input.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let (answer, last) = match serde_json::from_str::<Instruction>(&line) {
                Ok(instruction) => {
                    let last = instruction.op == Op::Shutdown;
                    (self.answer(instruction), last)
                }
                Err(error) => {
                    // Answer under the line's own id when it has one, so the harness can match it.
                    let id = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|value| value.get("id")?.as_u64())
                        .unwrap_or(0);
                    tracing::warn!(%error, "instruction not understood");
                    (
                        failure(
                            id,
                            "unsupported",
                            format!("instruction not understood: {error}"),
                        ),
                        false,
                    )
                }
            };
            let text = serde_json::to_string(&answer)
                .map_err(|error| std::io::Error::other(error.to_string()))?;
            writeln!(output, "{text}")?;
            output.flush()?;
            if last {
                break;
            }
        }
        self.end_reception();
        Ok(())
    }

    /// The answer to one instruction.
    pub(crate) fn answer(&mut self, instruction: Instruction) -> DriverAnswer {
        let id = instruction.id;
        match instruction.op {
            Op::Hello {
                protocol,
                version,
                reader,
                generic_reader,
                oqs_url,
                files_dir,
                facility_code,
            } => self.hello(
                id,
                &protocol,
                version,
                Endpoints {
                    reader,
                    generic_reader,
                    oqs_url,
                    files_dir,
                },
                facility_code,
            ),
            Op::BeginCase { case, date } => self.begin_case(id, &case, &date),
            Op::Step {
                action,
                step,
                timeout_ms,
                ..
            } => self.step(id, step, action, timeout_ms),
            Op::EndCase { .. } => {
                self.end_reception();
                let shown = self.shown();
                DriverAnswer {
                    id,
                    ok: true,
                    shown,
                    ..DriverAnswer::default()
                }
            }
            Op::Shutdown => {
                self.end_reception();
                DriverAnswer {
                    id,
                    ok: true,
                    ..DriverAnswer::default()
                }
            }
        }
    }

    fn hello(
        &mut self,
        id: u64,
        protocol: &str,
        version: u32,
        endpoints: Endpoints,
        facility_code: String,
    ) -> DriverAnswer {
        if protocol != PROTOCOL_NAME || version != PROTOCOL_VERSION {
            return failure(
                id,
                "unsupported",
                format!("this device speaks {PROTOCOL_NAME} version {PROTOCOL_VERSION}, not {protocol} version {version}"),
            );
        }
        match (self.open)(&endpoints) {
            Ok((slot, generic, service)) => {
                let service: SharedService = if self.behaviour.no_proof {
                    Arc::new(WithoutProof(service))
                } else if self.behaviour.face_for_phone {
                    Arc::new(FaceForPhone(service))
                } else {
                    service
                };
                self.end_reception();
                let phones = generic.is_some();
                self.session = Some(Session {
                    link: DeviceLink::new(slot, self.behaviour),
                    generic: generic.map(|generic| DeviceLink::new(generic, self.behaviour)),
                    service,
                    facility_code,
                    case: None,
                });
                DriverAnswer {
                    id,
                    ok: true,
                    device: Some(self.name()),
                    phones,
                    ..DriverAnswer::default()
                }
            }
            Err(message) => failure(id, "device", message),
        }
    }

    fn begin_case(&mut self, id: u64, case: &str, date: &str) -> DriverAnswer {
        self.end_reception();
        let Some(session) = self.session.as_mut() else {
            return failure(
                id,
                "device",
                "no session: hello was not sent or was refused",
            );
        };
        let date: NaiveDate = match date.parse() {
            Ok(date) => date,
            Err(error) => {
                return failure(
                    id,
                    "device",
                    format!("case {case}: date `{date}` is not YYYY-MM-DD: {error}"),
                )
            }
        };
        session.case = Some(Case::new(
            &session.facility_code,
            date,
            session.generic.is_some(),
        ));
        DriverAnswer {
            id,
            ok: true,
            shown: self.shown(),
            ..DriverAnswer::default()
        }
    }

    fn step(&mut self, id: u64, step: u32, action: Action, timeout_ms: u64) -> DriverAnswer {
        if let Action::Wait { ms } = action {
            std::thread::sleep(Duration::from_millis(ms));
            return DriverAnswer {
                id,
                ok: true,
                shown: self.shown(),
                ..DriverAnswer::default()
            };
        }
        let card_wait = Duration::from_millis(timeout_ms / 2).min(MAX_CARD_WAIT);
        let input = match input_of(action) {
            Ok(input) => input,
            Err(message) => return failure(id, "device", format!("step {step}: {message}")),
        };
        let behaviour = self.behaviour;
        let Some(session) = self.session.as_mut() else {
            return failure(
                id,
                "device",
                "no session: hello was not sent or was refused",
            );
        };
        let Some(case) = session.case.as_mut() else {
            return failure(id, "device", "step before begin_case");
        };
        if let (true, Input::EnterPin { pin }) = (behaviour.pin_after_lock, &input) {
            if case.terminal.screen() == Screen::PinLocked {
                verify_despite_lock(&mut session.link, pin);
            }
        }
        // Only a placement waits for the card to be detected; elsewhere a missing card is news.
        let placing = matches!(input, Input::PlaceCard);
        if placing && case.terminal.is_finished() {
            // The previous patient took their card: the next one starts a new reception.
            *case = Case::new(&session.facility_code, case.date, session.generic.is_some());
        }
        session
            .link
            .set_card_wait(if placing { card_wait } else { Duration::ZERO });
        let holding_phone = matches!(input, Input::PlacePhone);
        if let Some(generic) = session.generic.as_mut() {
            generic.set_card_wait(if holding_phone {
                card_wait
            } else {
                Duration::ZERO
            });
        }
        if let (true, Input::EnterPhonePin { pin }) = (behaviour.phone_pin_to_card, &input) {
            phone_pin_to_card(&mut session.link, pin);
        }
        let messages_before = case.terminal.outcome().message_codes.len();
        let generic = session
            .generic
            .as_mut()
            .map(|generic| generic as &mut dyn crate::transport::Transport);
        let handled =
            case.terminal
                .handle_in_clinic(input, &mut session.link, generic, &*session.service);
        if behaviour.ignores_63cx
            && case.terminal.outcome().message_codes[messages_before..]
                .contains(&MessageCode::PinWrong)
        {
            carry_on_after_wrong_pin(session_parts(session));
        }
        let screen = session.case.as_ref().map(|case| case.terminal.screen());
        if screen.is_some_and(ends_reception) {
            self.end_reception();
        }
        let shown = self.shown();
        match handled {
            Ok(_) => DriverAnswer {
                id,
                ok: true,
                shown,
                ..DriverAnswer::default()
            },
            Err(unexpected) => DriverAnswer {
                shown,
                ..failure(id, "device", format!("step {step}: {unexpected}"))
            },
        }
    }

    /// Releases the card if the device still holds it (powered off by the correct device; kept
    /// with `leaves-pin-verified`).
    fn end_reception(&mut self) {
        if self.behaviour.leaves_pin_verified {
            return;
        }
        if let Some(session) = self.session.as_mut() {
            if session.link.is_connected() {
                if let Err(error) = session.link.disconnect() {
                    tracing::warn!(%error, "powering the card off");
                }
            }
            if let Some(generic) = session.generic.as_mut().filter(|g| g.is_connected()) {
                if let Err(error) = generic.disconnect() {
                    tracing::warn!(%error, "powering the phone off");
                }
            }
        }
    }

    /// What the reader shows now; messages only once.
    fn shown(&mut self) -> Option<Shown> {
        let qv4_as_valid = self.behaviour.qv4_as_valid;
        let face_for_phone = self.behaviour.face_for_phone;
        let case = self.session.as_mut()?.case.as_mut()?;
        let terminal = &case.terminal;
        let outcome = terminal.outcome();
        let screen = terminal.screen();
        let messages = outcome
            .message_codes
            .get(case.reported_messages..)
            .unwrap_or_default()
            .iter()
            .filter(|code| !(qv4_as_valid && **code == MessageCode::NoQualification))
            .map(|code| code.code().to_owned())
            .collect();
        case.reported_messages = outcome.message_codes.len();
        let qualification = outcome.validity.map(|validity| {
            if qv4_as_valid && validity == QualificationValidity::NoQualification {
                "valid"
            } else {
                qualification_name(validity)
            }
        });
        let pin_offered = screen == Screen::PinEntry
            || (matches!(screen, Screen::ChooseMethod | Screen::FaceNoMatch)
                && terminal.card_has_pin() == Some(true));
        let guidance = (screen == Screen::Fallback && !outcome.fallback.is_empty()).then(|| {
            outcome
                .fallback
                .iter()
                .map(|item| item.text())
                .collect::<Vec<_>>()
                .join(" / ")
        });
        // The screens with a 顔認証 button; never a phone's (docs/spec/smartphone.md §3.12),
        // except on the faulty `face-for-phone`.
        let phone_screen = matches!(
            screen,
            Screen::ChoosePhone
                | Screen::PhonePinEntry
                | Screen::PhoneApproval
                | Screen::PlacePhone
        );
        let face_offered =
            Screen::accepts(screen).contains(&"choose_face") || (face_for_phone && phone_screen);
        Some(Shown {
            screen: Some(screen_name(screen)),
            messages,
            qualification: qualification.map(str::to_owned),
            pin_offered,
            face_offered,
            guidance,
        })
    }
}

/// The parts of a session the fault hooks use, borrowed separately.
struct SessionParts<'s, T> {
    link: &'s mut DeviceLink<T>,
    service: &'s dyn QualificationService,
    facility_code: &'s str,
    case: &'s Case,
}

fn session_parts<T>(session: &mut Session<T>) -> Option<SessionParts<'_, T>> {
    Some(SessionParts {
        link: &mut session.link,
        service: &*session.service,
        facility_code: &session.facility_code,
        case: session.case.as_ref()?,
    })
}

/// Fault `pin-after-lock`: the PIN typed on the locked screen goes to the card anyway.
fn verify_despite_lock<T: PowerOffSlot>(link: &mut DeviceLink<T>, pin: &Pin) {
    let mut log = Vec::new();
    let mut counts = CommandCounts::default();
    let mut card = CardLink::new(link, &mut log, &mut counts);
    let sent = card
        .select_application(&AID_JPKI)
        .and_then(|_| card.select_file(EF_AUTH_PIN))
        .and_then(|_| card.verify(pin.expose().as_bytes()));
    tracing::debug!(?sent, "VERIFY sent to a locked PIN");
}

/// Fault `phone-pin-to-card`: the PIN typed for the Android phone also goes to whatever card
/// lies on the face reader (a VERIFY of its JPKI PIN), which is then released powered off.
fn phone_pin_to_card<T: PowerOffSlot>(link: &mut DeviceLink<T>, pin: &Pin) {
    use crate::transport::Transport;
    if link.connect().is_err() {
        return;
    }
    verify_despite_lock(link, pin);
    if let Err(error) = link.disconnect() {
        tracing::debug!(%error, "releasing the card after the phone's PIN");
    }
}

/// Fault `ignores-63cx`: after a wrong PIN the device goes on as if it were right: the card is
/// asked to sign a fresh challenge and the check is sent with whatever came back.
fn carry_on_after_wrong_pin<T: PowerOffSlot>(parts: Option<SessionParts<'_, T>>) {
    let Some(parts) = parts else { return };
    let Some(certificate) = parts.case.terminal.card_certificate().map(<[u8]>::to_vec) else {
        return;
    };
    let challenge = match parts.service.challenge() {
        Ok(challenge) => challenge,
        Err(error) => {
            tracing::debug!(%error, "no challenge");
            return;
        }
    };
    let mut log = Vec::new();
    let mut counts = CommandCounts::default();
    let signature = CardLink::new(parts.link, &mut log, &mut counts)
        .sign_with_auth_key(&challenge)
        .unwrap_or_default();
    let request = TerminalRequest {
        certificate,
        identity: IdentityMethod::Pin,
        possession: Some(Possession {
            challenge,
            signature,
        }),
        facility_code: parts.facility_code.to_owned(),
        date: parts.case.date,
        time: None,
        consent: ConsentChoices::default(),
        smartphone: None,
    };
    let answer = parts.service.check(&request);
    tracing::debug!(?answer, "check sent after a wrong PIN");
}

/// The device on this process's stdin/stdout: PC/SC and HTTP with the `pcsc` feature; without
/// it every `hello` is refused with the reason.
pub fn run(args: ReferenceDeviceArgs) -> Result<ExitCode, DeviceError> {
    #[cfg(feature = "pcsc")]
    let open: Opener<crate::transport::pcsc::PcscTransport> = Box::new(open_pcsc);
    #[cfg(not(feature = "pcsc"))]
    let open: Opener<crate::transport::virtual_reader::VirtualReader> = Box::new(|_| {
        Err(
            "this myna-hil was built without the cargo feature `pcsc`: the reference device \
             reaches the card only through PC/SC (rebuild with `--features pcsc`)"
                .to_owned(),
        )
    });
    let mut device = ReferenceDevice::new(args.fault.as_deref(), open)?;
    let stdin = std::io::stdin();
    device.serve(stdin.lock(), std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "pcsc")]
fn open_pcsc(
    endpoints: &Endpoints,
) -> Result<Opened<crate::transport::pcsc::PcscTransport>, String> {
    use crate::transport::identify::RealCardPolicy;
    let reader = endpoints.reader.as_deref().ok_or(
        "hello.reader is missing: the reference device reaches the card only through a PC/SC reader (vpcd)",
    )?;
    let oqs_url = endpoints.oqs_url.as_deref().ok_or(
        "hello.oqs_url is missing: the reference device reaches the qualification system only over HTTP",
    )?;
    // Certification serves emulated cards only: a card that does not prove to be ours is
    // never changed (no VERIFY, no signature).
    let slot = crate::transport::pcsc::PcscTransport::open(Some(reader), RealCardPolicy::Refuse)
        .map_err(|error| format!("PC/SC reader `{reader}`: {error}"))?;
    // The generic reader, when the harness names one: without it (or when PC/SC does not
    // list it) the device declares no phone support rather than refusing the run.
    let generic = endpoints.generic_reader.as_deref().and_then(|name| {
        crate::transport::pcsc::PcscTransport::open(Some(name), RealCardPolicy::Refuse)
            .map_err(|error| tracing::warn!(%error, reader = name, "no generic reader: no phones"))
            .ok()
    });
    Ok((
        slot,
        generic,
        Arc::new(http_service::HttpQualificationService::new(oqs_url)),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::card::{Card, CardDescription};
    use crate::oqs::registry::Registry;
    use crate::oqs::service::{CallKind, Oqs, OqsConfig};
    use crate::oqs::Outcome;
    use crate::pki::TestPki;
    use crate::transport::virtual_reader::VirtualReader;
    use crate::transport::TransportError;

    /// What reached the card, as the card's side would log it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        Command(Vec<u8>),
        Reset,
        PowerOff,
    }

    /// The in-process reader, with a log of everything the device did to the card.
    struct RecordingSlot {
        reader: VirtualReader,
        events: Arc<Mutex<Vec<Event>>>,
    }

    impl Transport for RecordingSlot {
        fn describe(&self) -> String {
            "recording".into()
        }
        fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
            self.reader.connect()
        }
        fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.events
                .lock()
                .unwrap()
                .push(Event::Command(capdu.to_vec()));
            self.reader.transmit(capdu)
        }
        /// A PC/SC disconnect with reset: the card stays powered.
        fn disconnect(&mut self) -> Result<(), TransportError> {
            self.events.lock().unwrap().push(Event::Reset);
            Ok(())
        }
        fn is_emulated_card(&self) -> bool {
            true
        }
    }

    impl PowerOffSlot for RecordingSlot {
        fn power_off(&mut self) -> Result<(), TransportError> {
            self.events.lock().unwrap().push(Event::PowerOff);
            self.reader.disconnect()
        }
    }

    struct Bench {
        device: ReferenceDevice<RecordingSlot>,
        events: Arc<Mutex<Vec<Event>>>,
        oqs: Arc<Oqs>,
        next_id: u64,
    }

    fn standard_card() -> Card {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards/standard.yaml");
        let description = CardDescription::from_yaml_file(&path).unwrap();
        Card::from_description(&description, TestPki::load().unwrap()).unwrap()
    }

    fn bench(fault: Option<&str>) -> Bench {
        bench_with(fault, |oqs| oqs)
    }

    /// The qualification system answering every check with this QualificationValidity code.
    struct ValidityOverride(Arc<Oqs>, &'static str);

    impl QualificationService for ValidityOverride {
        fn challenge(&self) -> Result<Vec<u8>, crate::reader::ServiceError> {
            self.0.challenge()
        }
        fn check(
            &self,
            request: &TerminalRequest,
        ) -> Result<crate::oqs::CheckResponse, crate::reader::ServiceError> {
            let mut response = QualificationService::check(&*self.0, request)?;
            response.body.qualification_validity = QualificationValidity::from_code(self.1);
            Ok(response)
        }
        fn register(
            &self,
            request: &TerminalRequest,
        ) -> Result<crate::oqs::CheckResponse, crate::reader::ServiceError> {
            QualificationService::register(&*self.0, request)
        }
    }

    fn bench_with(fault: Option<&str>, service: impl FnOnce(Arc<Oqs>) -> SharedService) -> Bench {
        let registry = Registry::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/registry/clinic.yaml"),
        )
        .unwrap();
        let oqs = Arc::new(Oqs::new(registry, OqsConfig::default()).unwrap());
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut slot = Some(RecordingSlot {
            reader: VirtualReader::with_card(standard_card()),
            events: Arc::clone(&events),
        });
        let service: SharedService = service(Arc::clone(&oqs));
        let open: Opener<RecordingSlot> = Box::new(move |endpoints| {
            assert_eq!(endpoints.reader.as_deref(), Some("Virtual PCD 00 00"));
            let slot = slot.take().ok_or("opened twice")?;
            Ok((slot, None, Arc::clone(&service)))
        });
        let mut bench = Bench {
            device: ReferenceDevice::new(fault, open).unwrap(),
            events,
            oqs,
            next_id: 0,
        };
        let hello = bench.send(Op::Hello {
            protocol: PROTOCOL_NAME.into(),
            version: PROTOCOL_VERSION,
            reader: Some("Virtual PCD 00 00".into()),
            generic_reader: None,
            oqs_url: Some("http://127.0.0.1:1".into()),
            files_dir: None,
            facility_code: "1312345678".into(),
        });
        assert!(hello.ok, "{hello:?}");
        assert!(
            bench
                .send(Op::BeginCase {
                    case: "unit".into(),
                    date: "2025-06-02".into(),
                })
                .ok
        );
        bench
    }

    impl Bench {
        fn send(&mut self, op: Op) -> DriverAnswer {
            let id = self.next_id;
            self.next_id += 1;
            let answer = self.device.answer(Instruction { id, op });
            assert_eq!(answer.id, id);
            answer
        }

        fn act(&mut self, action: Action) -> Shown {
            let answer = self.send(Op::Step {
                case: "unit".into(),
                step: 1,
                action,
                timeout_ms: 5000,
            });
            assert!(answer.ok, "{answer:?}");
            answer.shown.unwrap()
        }

        fn commands(&self) -> Vec<Vec<u8>> {
            self.events
                .lock()
                .unwrap()
                .iter()
                .filter_map(|event| match event {
                    Event::Command(command) => Some(command.clone()),
                    _ => None,
                })
                .collect()
        }

        fn pin_reception(&mut self, pins: &[&str]) -> Shown {
            let placed = self.act(Action::CardPlaced);
            assert_eq!(placed.screen.as_deref(), Some("choose_method"));
            assert!(placed.pin_offered);
            self.act(Action::ChoosePin);
            let mut shown = Shown::default();
            for pin in pins {
                shown = self.act(Action::EnterPin { pin: (*pin).into() });
            }
            if shown.screen.as_deref() == Some("consent_mode") {
                shown = self.act(Action::ConsentMode {
                    mode: "comprehensive".into(),
                });
            }
            shown
        }

        fn check_outcomes(&self) -> Vec<Option<Outcome>> {
            self.oqs
                .calls()
                .iter()
                .filter(|call| call.kind == CallKind::Check)
                .map(|call| call.outcome)
                .collect()
        }
    }

    fn is_pin_verify(command: &[u8]) -> bool {
        command.len() == 9 && command[..5] == [0x00, 0x20, 0x00, 0x80, 0x04]
    }

    #[test]
    fn correct_device_completes_a_pin_reception_and_powers_the_card_off() {
        let mut bench = bench(None);
        let shown = bench.pin_reception(&["1234"]);
        assert_eq!(shown.screen.as_deref(), Some("result"));
        assert_eq!(shown.qualification.as_deref(), Some("valid"));
        assert_eq!(bench.check_outcomes(), vec![Some(Outcome::Answered)]);
        let events = bench.events.lock().unwrap().clone();
        let last_verify = events
            .iter()
            .rposition(|event| matches!(event, Event::Command(c) if is_pin_verify(c)))
            .unwrap();
        assert!(
            events[last_verify..].contains(&Event::PowerOff),
            "no power-off after the VERIFY: {events:?}"
        );
        let removed = bench.act(Action::CardRemoved);
        assert_eq!(removed.screen.as_deref(), Some("finished"));
    }

    #[test]
    fn every_qualification_validity_is_reported_by_its_name() {
        for (code, name) in [
            ("1", "valid"),
            ("2", "invalid"),
            ("3", "unknown"),
            ("4", "no_qualification"),
            ("5", "multiple"),
        ] {
            let mut bench = bench_with(None, |oqs| Arc::new(ValidityOverride(oqs, code)));
            let shown = bench.pin_reception(&["1234"]);
            assert_eq!(shown.qualification.as_deref(), Some(name), "{code}");
        }
    }

    #[test]
    fn qv4_as_valid_hides_the_missing_qualification() {
        let no_qualification = MessageCode::NoQualification.code().to_owned();
        let mut correct = bench_with(None, |oqs| Arc::new(ValidityOverride(oqs, "4")));
        let shown = correct.pin_reception(&["1234"]);
        assert!(shown.messages.contains(&no_qualification), "{shown:?}");

        let mut faulty = bench_with(Some("qv4-as-valid"), |oqs| {
            Arc::new(ValidityOverride(oqs, "4"))
        });
        let shown = faulty.pin_reception(&["1234"]);
        assert_eq!(shown.qualification.as_deref(), Some("valid"));
        assert!(!shown.messages.contains(&no_qualification), "{shown:?}");
    }

    #[test]
    fn a_card_placed_after_a_finished_reception_starts_the_next_one() {
        let mut bench = bench(None);
        bench.pin_reception(&["1234"]);
        bench.act(Action::CardRemoved);
        let second = bench.pin_reception(&["1234"]);
        assert_eq!(second.qualification.as_deref(), Some("valid"));
        assert_eq!(bench.check_outcomes().len(), 2);
    }

    #[test]
    fn messages_are_reported_once() {
        let mut bench = bench(None);
        bench.act(Action::CardPlaced);
        bench.act(Action::ChoosePin);
        let wrong = bench.act(Action::EnterPin { pin: "9999".into() });
        assert_eq!(wrong.screen.as_deref(), Some("pin_entry"));
        assert_eq!(wrong.messages.len(), 1, "{wrong:?}");
        let right = bench.act(Action::EnterPin { pin: "1234".into() });
        assert!(right.messages.is_empty(), "{right:?}");
    }

    #[test]
    fn no_proof_sends_the_check_without_a_signature() {
        let mut bench = bench(Some("no-proof"));
        let shown = bench.pin_reception(&["1234"]);
        assert_ne!(shown.qualification.as_deref(), Some("valid"));
        assert_eq!(bench.check_outcomes(), vec![Some(Outcome::RequestInvalid)]);
    }

    #[test]
    fn leaves_pin_verified_never_powers_the_card_off() {
        let mut bench = bench(Some("leaves-pin-verified"));
        let shown = bench.pin_reception(&["1234"]);
        assert_eq!(shown.qualification.as_deref(), Some("valid"));
        bench.send(Op::EndCase {
            case: "unit".into(),
        });
        assert!(!bench.events.lock().unwrap().contains(&Event::PowerOff));
    }

    #[test]
    fn auto_retry_pin_sends_a_wrong_pin_twice() {
        let mut bench = bench(Some("auto-retry-pin"));
        bench.pin_reception(&["9999"]);
        let verifies = bench.commands().iter().filter(|c| is_pin_verify(c)).count();
        assert_eq!(verifies, 2);
    }

    #[test]
    fn no_retry_query_never_asks_the_card() {
        let mut bench = bench(Some("no-retry-query"));
        let shown = bench.pin_reception(&["1234"]);
        assert_eq!(shown.qualification.as_deref(), Some("valid"));
        assert!(!bench.commands().contains(&vec![0x00, 0x20, 0x00, 0x80]));
        let mut correct = super::tests::bench(None);
        correct.pin_reception(&["1234"]);
        assert!(correct.commands().contains(&vec![0x00, 0x20, 0x00, 0x80]));
    }

    #[test]
    fn reads_signing_cert_selects_ef_0001() {
        let select_signing = vec![0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x01];
        let mut bench = bench(Some("reads-signing-cert"));
        let shown = bench.pin_reception(&["1234"]);
        assert_eq!(shown.qualification.as_deref(), Some("valid"));
        assert!(bench.commands().contains(&select_signing));
        let mut correct = super::tests::bench(None);
        correct.pin_reception(&["1234"]);
        assert!(!correct.commands().contains(&select_signing));
    }

    #[test]
    fn ignores_63cx_signs_and_checks_after_a_wrong_pin() {
        let mut bench = bench(Some("ignores-63cx"));
        bench.act(Action::CardPlaced);
        bench.act(Action::ChoosePin);
        bench.act(Action::EnterPin { pin: "9999".into() });
        assert!(bench
            .commands()
            .iter()
            .any(|c| c.len() > 2 && c[..2] == [0x80, 0x2A]));
        assert_eq!(bench.check_outcomes().len(), 1);
    }

    #[test]
    fn pin_after_lock_verifies_on_the_locked_screen() {
        let mut bench = bench(Some("pin-after-lock"));
        bench.act(Action::CardPlaced);
        bench.act(Action::ChoosePin);
        for _ in 0..3 {
            bench.act(Action::EnterPin { pin: "9999".into() });
        }
        let locked = bench.act(Action::EnterPin { pin: "1234".into() });
        assert_eq!(locked.screen.as_deref(), Some("pin_locked"));
        let verifies = bench.commands().iter().filter(|c| is_pin_verify(c)).count();
        assert_eq!(verifies, 4);
    }

    /// A device with a generic reader holding the standard holder's Android phone (PIN
    /// 2580) beside the card slot holding the card; the phone slot's events.
    fn phone_bench(fault: Option<&str>) -> (Bench, Arc<Mutex<Vec<Event>>>) {
        let registry = Registry::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/registry/clinic.yaml"),
        )
        .unwrap();
        let oqs = Arc::new(Oqs::new(registry, OqsConfig::default()).unwrap());
        let events = Arc::new(Mutex::new(Vec::new()));
        let phone_events = Arc::new(Mutex::new(Vec::new()));
        let phone_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/cards/standard_phone_android.yaml");
        let phone = Card::from_description(
            &CardDescription::from_yaml_file(&phone_path).unwrap(),
            TestPki::load().unwrap(),
        )
        .unwrap();
        let mut slots = Some((
            RecordingSlot {
                reader: VirtualReader::with_card(standard_card()),
                events: Arc::clone(&events),
            },
            RecordingSlot {
                reader: VirtualReader::with_card(phone),
                events: Arc::clone(&phone_events),
            },
        ));
        let service: SharedService = Arc::clone(&oqs) as SharedService;
        let open: Opener<RecordingSlot> = Box::new(move |endpoints| {
            assert_eq!(
                endpoints.generic_reader.as_deref(),
                Some("Virtual PCD 00 01")
            );
            let (card, generic) = slots.take().ok_or("opened twice")?;
            Ok((card, Some(generic), Arc::clone(&service)))
        });
        let mut bench = Bench {
            device: ReferenceDevice::new(fault, open).unwrap(),
            events,
            oqs,
            next_id: 0,
        };
        let hello = bench.send(Op::Hello {
            protocol: PROTOCOL_NAME.into(),
            version: PROTOCOL_VERSION,
            reader: Some("Virtual PCD 00 00".into()),
            generic_reader: Some("Virtual PCD 00 01".into()),
            oqs_url: Some("http://127.0.0.1:1".into()),
            files_dir: None,
            facility_code: "1312345678".into(),
        });
        assert!(hello.ok && hello.phones, "{hello:?}");
        let begun = bench.send(Op::BeginCase {
            case: "unit".into(),
            date: "2026-01-05".into(),
        });
        assert!(begun.ok);
        (bench, phone_events)
    }

    fn verifies(events: &Mutex<Vec<Event>>) -> Vec<Vec<u8>> {
        events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|event| match event {
                Event::Command(command) if is_pin_verify(command) => Some(command.clone()),
                _ => None,
            })
            .collect()
    }

    /// Up to the phone held over the generic reader; what the device shows at each step.
    fn android_reception(bench: &mut Bench) -> Vec<Shown> {
        vec![
            bench.act(Action::ChooseSmartphone),
            bench.act(Action::ChoosePhone {
                kind: "android".into(),
            }),
            bench.act(Action::EnterPhonePin { pin: "2580".into() }),
            bench.act(Action::PhonePlaced),
        ]
    }

    #[test]
    fn the_android_pin_goes_to_the_phone_on_the_generic_reader_only() {
        let (mut bench, phone_events) = phone_bench(None);
        let shown = android_reception(&mut bench);
        assert_eq!(shown[0].screen.as_deref(), Some("choose_phone"));
        assert_eq!(shown[2].screen.as_deref(), Some("place_phone"));
        assert!(shown.iter().all(|s| !s.face_offered), "{shown:?}");
        assert_eq!(
            verifies(&phone_events),
            vec![b"\x00\x20\x00\x80\x042580".to_vec()]
        );
        assert!(bench.commands().is_empty(), "the card was touched");
        // The phone was released powered off after it was read.
        let phone_events = phone_events.lock().unwrap();
        assert_eq!(
            phone_events.last(),
            Some(&Event::PowerOff),
            "{phone_events:?}"
        );
    }

    #[test]
    fn phone_pin_to_card_sends_the_phones_pin_to_the_card_too() {
        let (mut bench, phone_events) = phone_bench(Some("phone-pin-to-card"));
        android_reception(&mut bench);
        let to_phone = b"\x00\x20\x00\x80\x042580".to_vec();
        assert_eq!(verifies(&bench.events), vec![to_phone.clone()]);
        assert_eq!(verifies(&phone_events), vec![to_phone]);
    }

    /// Gives comprehensive consent and returns the identity method of each check sent.
    fn consent_and_check_identities(bench: &mut Bench) -> Vec<Option<IdentityMethod>> {
        bench.act(Action::ConsentMode {
            mode: "comprehensive".into(),
        });
        bench
            .oqs
            .calls()
            .iter()
            .filter(|call| call.kind == CallKind::Check)
            .map(|call| call.identity)
            .collect()
    }

    #[test]
    fn face_for_phone_offers_face_on_the_phone_screens_and_checks_as_face() {
        let (mut bench, _) = phone_bench(Some("face-for-phone"));
        let shown = android_reception(&mut bench);
        assert!(shown[0].face_offered && shown[1].face_offered, "{shown:?}");
        assert_eq!(
            consent_and_check_identities(&mut bench),
            vec![Some(IdentityMethod::Face)]
        );
        let (mut correct, _) = phone_bench(None);
        android_reception(&mut correct);
        assert_eq!(
            consent_and_check_identities(&mut correct),
            vec![Some(IdentityMethod::Pin)]
        );
    }

    #[test]
    fn hello_with_another_version_is_unsupported() {
        let open: Opener<RecordingSlot> = Box::new(|_| Err("not reached".into()));
        let mut device = ReferenceDevice::new(None, open).unwrap();
        let answer = device.answer(Instruction {
            id: 0,
            op: Op::Hello {
                protocol: PROTOCOL_NAME.into(),
                version: 2,
                reader: None,
                generic_reader: None,
                oqs_url: None,
                files_dir: None,
                facility_code: "1312345678".into(),
            },
        });
        assert!(!answer.ok);
        assert_eq!(answer.error.unwrap().kind, "unsupported");
    }

    #[test]
    fn serve_answers_every_line_and_stops_at_shutdown() {
        let open: Opener<RecordingSlot> = Box::new(|_| Err("no reader here".into()));
        let mut device = ReferenceDevice::new(None, open).unwrap();
        let input = concat!(
            r#"{"id":0,"op":"hello","protocol":"myna-hil-driver","version":1,"reader":null,"oqs_url":null,"files_dir":null,"facility_code":"1312345678"}"#,
            "\n",
            r#"{"id":1,"op":"step","case":"c","step":1,"action":{"action":"fly"},"timeout_ms":10}"#,
            "\n",
            r#"{"id":2,"op":"shutdown"}"#,
            "\n",
            r#"{"id":3,"op":"shutdown"}"#,
            "\n",
        );
        let mut output = Vec::new();
        device.serve(input.as_bytes(), &mut output).unwrap();
        let answers: Vec<DriverAnswer> = String::from_utf8(output)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0].error.as_ref().unwrap().message, "no reader here");
        assert_eq!(answers[1].id, 1);
        assert_eq!(answers[1].error.as_ref().unwrap().kind, "unsupported");
        assert!(answers[2].ok);
    }
}

//! One certification run: serve the card and the qualification system, drive the device
//! through every case, collect what was observed, judge.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::catalogue::Question;
use super::dut::{DeviceError, DeviceUnderTest, Hello};
use super::judge::{judge, Verdict};
use super::observed::{CaseObservation, StepRecord};
use super::oqs_server::{OqsServer, OqsServerError};
use super::protocol::{Action, DriverAnswer};
use super::slot::{Slot, SlotError, SlotLink, SlotSetup};
use super::suite::{Case, ConsentModeChoice, PinEntry, StepDoc, Suite};
use super::world::{case_card, run_registry, CaseCard, WorldError};
use crate::oqs::service::{Oqs, OqsConfig};
use crate::oqs::Registry;
use crate::pki::TestPki;

/// How long a power-off the device asked for may take to reach the card server.
const POWER_OFF_SETTLE: Duration = Duration::from_millis(300);

/// Where things are served and who the device is.
pub(crate) struct RunConfig {
    pub(crate) link: SlotLink,
    pub(crate) oqs_listen: SocketAddr,
    pub(crate) files: Option<PathBuf>,
    pub(crate) facility_code: String,
    /// Show a progress bar (off with --quiet or when stderr is not a terminal).
    pub(crate) progress: bool,
    /// The day the run judges by (today).
    pub(crate) today: NaiveDate,
    /// The folder to save each case's transcript and card in (`certify --record`); it exists
    /// (the command line creates it before the run).
    pub(crate) record: Option<PathBuf>,
}

/// Why a certification case could not be run (as opposed to a case the device failed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The case's world (registry, card, clock) cannot be built.
    #[error(transparent)]
    World(#[from] WorldError),
    /// The emulated qualification system cannot be served.
    #[error("the qualification system: {0}")]
    Oqs(#[from] OqsServerError),
    /// The emulated card cannot be served to the device's reader.
    #[error("the card slot: {0}")]
    Slot(#[from] SlotError),
    /// The device under test failed to speak the driver protocol.
    #[error("the device under test: {0}")]
    Device(#[from] DeviceError),
    /// The test PKI (key pool and CA) cannot be loaded.
    #[error("test PKI: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// The suite's registry cannot be built for the run.
    #[error("the run's registry: {0}")]
    Registry(String),
}

/// What a run produced.
pub(crate) struct RunOutcome {
    pub(crate) started: DateTime<Utc>,
    pub(crate) finished: DateTime<Utc>,
    pub(crate) today: NaiveDate,
    /// The device's own name and version, from `hello`.
    pub(crate) device: Option<String>,
    pub(crate) observations: Vec<CaseObservation>,
    pub(crate) verdicts: Vec<Verdict>,
    /// The first failure to write a case's recording (`--record`); the run and its judgement
    /// go on without it.
    pub(crate) record_error: Option<RecordError>,
    /// Why the run stopped before its last case (after `hello`); the cases from there on are
    /// aborted with this reason, and the command fails after writing the reports.
    pub(crate) fatal: Option<RunError>,
}

/// A case's recording could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    /// A case's transcript cannot be written.
    #[error("recording case {case}: {source}")]
    Trace {
        /// The case's id.
        case: String,
        /// Why writing failed.
        source: crate::trace::TraceError,
    },
    /// A case's card file cannot be written next to its transcript.
    #[error("recording case {case}: the card {path}: {message}")]
    Card {
        /// The case's id.
        case: String,
        /// The card file that could not be written.
        path: PathBuf,
        /// Why writing failed.
        message: String,
    },
}

/// Runs the suite's cases against `device`.
pub(crate) fn run(
    suite: &Suite,
    config: &RunConfig,
    device: &mut dyn DeviceUnderTest,
) -> Result<RunOutcome, RunError> {
    let started = Utc::now();
    let pki = TestPki::load()?;
    let mut cards = Vec::new();
    for (index, case) in suite.cases.iter().enumerate() {
        cards.push(case_card(case, index, config.today)?);
    }
    let pairs: Vec<(&Case, &CaseCard)> = suite.cases.iter().zip(cards.iter()).collect();
    let registry_description = run_registry(suite, &pairs, config.today)?;
    let registry = Registry::from_description("(certification registry)", &registry_description)
        .map_err(|error| RunError::Registry(error.to_string()))?;
    let oqs = Arc::new(Oqs::new(registry, OqsConfig::default())?);
    let server = OqsServer::start(oqs, config.oqs_listen, config.files.as_deref())?;
    let slot = Slot::open(config.link.clone())?;
    slot.wait_ready()?;
    // The clinic's generic reader, where phones are held: vpcd's next slot.
    let phone_slot = match config.link.generic_reader_link() {
        Some(link) => Some(Slot::open(link)?),
        None => None,
    };
    let hello = Hello {
        reader: slot.reader_name(),
        generic_reader: phone_slot.as_ref().and_then(Slot::reader_name),
        oqs_url: Some(server.url().to_owned()),
        files_dir: config.files.as_ref().map(|dir| dir.display().to_string()),
        facility_code: config.facility_code.clone(),
    };
    let device_name = device.hello(&hello)?;

    let total_steps: usize = suite.cases.iter().map(|c| c.steps.len()).sum();
    let progress = if config.progress {
        ProgressBar::with_draw_target(Some(total_steps as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} steps  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );

    let questions: BTreeMap<&str, &Question> = suite
        .requirements
        .iter()
        .filter_map(|r| r.question.as_ref().map(|q| (r.id.as_str(), q)))
        .collect();
    let mut observations = Vec::new();
    let mut record_error = None;
    let mut fatal = None;
    for (case, card) in suite.cases.iter().zip(cards.iter()) {
        progress.set_message(case.id.clone());
        if let Some(error) = &fatal {
            observations.push(not_run(case, device, format!("not run: {error}")));
            continue;
        }
        let slots = Slots {
            card: &slot,
            phone: phone_slot.as_ref(),
        };
        let observation = match run_case(
            case, card, pki, config, &questions, &slots, &server, device, &progress,
        ) {
            Ok(observation) => observation,
            // The run cannot go on, but the device said hello: the reports still say what
            // happened, each remaining case with the reason.
            Err(error) => {
                let observation = not_run(case, device, format!("{error}"));
                fatal = Some(error);
                observations.push(observation);
                continue;
            }
        };
        if let Some(dir) = &config.record {
            if let Err(error) = record_case(dir, &slot.transport(), card, &observation) {
                tracing::error!(%error, "the recording goes on without this case");
                record_error.get_or_insert(error);
            }
        }
        observations.push(observation);
    }
    device.shutdown();
    progress.finish_and_clear();
    drop(phone_slot);
    drop(slot);
    drop(server);

    let verdicts = suite
        .requirements
        .iter()
        .map(|requirement| {
            let cases: Vec<&CaseObservation> = observations
                .iter()
                .filter(|o| {
                    suite
                        .cases
                        .iter()
                        .any(|c| c.id == o.case && c.evidence.contains(&requirement.id))
                })
                .collect();
            judge(requirement, &cases)
        })
        .collect();
    Ok(RunOutcome {
        started,
        finished: Utc::now(),
        today: config.today,
        device: device_name,
        observations,
        verdicts,
        record_error,
        fatal,
    })
}

/// A case that was not run to its end because the run could not go on.
fn not_run(case: &Case, device: &dyn DeviceUnderTest, reason: String) -> CaseObservation {
    CaseObservation {
        aborted: Some(reason),
        ..observation_of(case, device)
    }
}

/// A case's observation before anything has happened in it.
fn observation_of(case: &Case, device: &dyn DeviceUnderTest) -> CaseObservation {
    CaseObservation {
        case: case.id.clone(),
        started: Utc::now(),
        ended: Utc::now(),
        log: crate::trace::Transcript::default(),
        phone_log: crate::trace::Transcript::default(),
        calls: Vec::new(),
        steps: Vec::new(),
        operator_answers: Vec::new(),
        witness: device.witness(),
        aborted: None,
        not_applicable: None,
    }
}

/// Writes `DIR/CASE.jsonl` (the card slot's transcript of the case, PINs redacted) and
/// `DIR/CASE.card.yaml` (the card the case served, which the transcript's start line names),
/// so that `myna-hil replay DIR/CASE.jsonl` needs nothing else.
fn record_case(
    dir: &std::path::Path,
    transport: &str,
    card: &CaseCard,
    observation: &CaseObservation,
) -> Result<(), RecordError> {
    let card_name = format!("{}.card.yaml", observation.case);
    let card_path = dir.join(&card_name);
    // JSON is YAML: the description is written in the form its loader reads back exactly.
    let text =
        serde_json::to_string_pretty(&card.description).map_err(|error| RecordError::Card {
            case: observation.case.clone(),
            path: card_path.clone(),
            message: error.to_string(),
        })?;
    std::fs::write(&card_path, text).map_err(|error| RecordError::Card {
        case: observation.case.clone(),
        path: card_path.clone(),
        message: error.to_string(),
    })?;
    crate::trace::write_transcript(
        &dir.join(format!("{}.jsonl", observation.case)),
        transport,
        Some(&card_name),
        crate::trace::PinRecording::Redacted,
        observation.started,
        &observation.log,
    )
    .map_err(|source| RecordError::Trace {
        case: observation.case.clone(),
        source,
    })
}

/// The protocol action of a step, and the prompt for a person.
fn action_of(step: &StepDoc, card: &CaseCard) -> (Action, String, bool) {
    match step {
        StepDoc::PlaceCard => (
            Action::CardPlaced,
            "カードをリーダーに置きました（エミュレーション）。端末が読み終えるまで待つ / The card is on the reader (emulated). Wait until the device has read it".into(),
            false,
        ),
        StepDoc::RemoveCard => (
            Action::CardRemoved,
            "カードを取り去りました。端末の反応を待つ / The card has been taken away. Wait for the device to react".into(),
            false,
        ),
        StepDoc::ChoosePin => (
            Action::ChoosePin,
            "「暗証番号」を選んでください / Choose PIN (暗証番号)".into(),
            false,
        ),
        StepDoc::EnterPin(entry) => {
            let pin = match entry {
                PinEntry::Correct => card.pin().unwrap_or_else(|| "1234".into()),
                PinEntry::Wrong => card.wrong_pin(),
            };
            let prompt = format!("暗証番号 {pin} を入力してください / Enter PIN {pin}");
            (Action::EnterPin { pin }, prompt, true)
        }
        StepDoc::ChooseFace => {
            let (birth, year, code) = card.ocr();
            (
                Action::ChooseFace {
                    ocr_birth_date: birth,
                    ocr_expiry_year: year,
                    ocr_security_code: code,
                },
                "「顔認証」を選んでください / Choose face authentication (顔認証)".into(),
                false,
            )
        }
        StepDoc::FaceResult(matched) => (
            Action::FaceResult { matched: *matched },
            if *matched {
                "顔認証を成功させてください / Let the face match".into()
            } else {
                "顔認証を失敗させてください（別人の顔）/ Let the face NOT match (another person)"
                    .into()
            },
            false,
        ),
        StepDoc::ChooseVisual => (
            Action::ChooseVisual,
            "「目視確認」を選んでください / Choose visual check by staff (目視)".into(),
            false,
        ),
        StepDoc::StaffCheck(confirmed) => (
            Action::StaffCheck {
                confirmed: *confirmed,
            },
            if *confirmed {
                "職員として本人確認「確認した」/ As staff, confirm the holder".into()
            } else {
                "職員として本人確認「確認できない」/ As staff, do not confirm".into()
            },
            false,
        ),
        StepDoc::ConsentMode(mode) => match mode {
            ConsentModeChoice::Comprehensive => (
                Action::ConsentMode {
                    mode: "comprehensive".into(),
                },
                "「包括同意」を選んでください / Choose comprehensive consent (包括同意)".into(),
                false,
            ),
            ConsentModeChoice::Individual => (
                Action::ConsentMode {
                    mode: "individual".into(),
                },
                "「個別に同意」を選んでください / Choose individual consent".into(),
                false,
            ),
        },
        StepDoc::Consent(agree) => (
            Action::Consent { agree: *agree },
            if *agree {
                "「同意する」を押してください / Press Agree (同意する)".into()
            } else {
                "「同意しない」を押してください / Press Do not agree (同意しない)".into()
            },
            false,
        ),
        StepDoc::Register(agree) => (
            Action::Register { agree: *agree },
            if *agree {
                "保険証利用登録に「はい」/ DriverAnswer Yes to the insurance registration".into()
            } else {
                "保険証利用登録に「いいえ」/ DriverAnswer No to the insurance registration".into()
            },
            false,
        ),
        StepDoc::Wait(ms) => (
            Action::Wait { ms: *ms },
            format!("何もせずに {ms} ミリ秒お待ちください / Do nothing for {ms} ms"),
            false,
        ),
        phone_step => phone_action_of(phone_step, card),
    }
}

/// The protocol action and prompt of a smartphone step (docs/certify.md).
fn phone_action_of(step: &StepDoc, card: &CaseCard) -> (Action, String, bool) {
    let phone = card.phone.as_ref();
    match step {
        StepDoc::ChooseSmartphone => (
            Action::ChooseSmartphone,
            "「スマートフォン」を選んでください / Choose smartphone (スマートフォン)".into(),
            false,
        ),
        StepDoc::ChoosePhone(kind) => (
            Action::ChoosePhone {
                kind: kind.label().to_owned(),
            },
            format!(
                "スマートフォンの種類「{}」を選んでください / Choose the phone kind `{}`",
                kind.label(),
                kind.label()
            ),
            false,
        ),
        StepDoc::EnterPhonePin(entry) => {
            let pin = match (entry, phone) {
                (PinEntry::Correct, Some(phone)) => phone.pin(),
                (PinEntry::Wrong, Some(phone)) => phone.wrong_pin(),
                (_, None) => card.wrong_pin(),
            };
            let prompt = format!(
                "スマートフォンの暗証番号 {pin} を顔認証付きカードリーダーで入力してください / Enter the phone's PIN {pin} on the face reader"
            );
            // Not a card PIN entry: the card's per-entry requirements do not count it.
            (Action::EnterPhonePin { pin }, prompt, false)
        }
        StepDoc::PhoneApproval(approval) => {
            let name = serde_json::to_value(approval)
                .ok()
                .and_then(|value| value.as_str().map(str::to_owned))
                .unwrap_or_default();
            (
                Action::PhoneApproval {
                    approval: name.clone(),
                },
                format!(
                    "iPhone での承認（Face ID / Touch ID）: {name} / The iPhone's approval: {name}"
                ),
                false,
            )
        }
        StepDoc::PlacePhone => (
            Action::PhonePlaced,
            "スマートフォンを汎用カードリーダーにかざしました（エミュレーション）。端末が読み終えるまで待つ / The phone is held over the generic reader (emulated). Wait until the device has read it".into(),
            false,
        ),
        _ => (
            Action::PhoneRemoved,
            "スマートフォンを汎用カードリーダーから離しました。端末の反応を待つ / The phone has been taken away from the generic reader. Wait for the device to react".into(),
            false,
        ),
    }
}

/// How a step's action is described in transcripts and reports: PINs hidden.
fn describe_action(step: &StepDoc) -> String {
    match step {
        StepDoc::EnterPin(PinEntry::Correct) => "enter_pin (the card's PIN, hidden)".into(),
        StepDoc::EnterPin(PinEntry::Wrong) => "enter_pin (a wrong PIN, hidden)".into(),
        StepDoc::EnterPhonePin(PinEntry::Correct) => {
            "enter_phone_pin (the phone's PIN, hidden)".into()
        }
        StepDoc::EnterPhonePin(PinEntry::Wrong) => {
            "enter_phone_pin (a wrong phone PIN, hidden)".into()
        }
        other => serde_json::to_string(other)
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_case(
    case: &Case,
    card: &CaseCard,
    pki: &TestPki,
    config: &RunConfig,
    questions: &BTreeMap<&str, &Question>,
    slots: &Slots<'_>,
    server: &OqsServer,
    device: &mut dyn DeviceUnderTest,
    progress: &ProgressBar,
) -> Result<CaseObservation, RunError> {
    let slot = slots.card;
    let mut observation = observation_of(case, &*device);
    // A case needing what the device declared it cannot do is not run at all.
    if let Some(why) = not_applicable(case, card, device) {
        observation.not_applicable = Some(why);
        progress.inc(case.steps.len() as u64);
        return Ok(observation);
    }
    let prepared = card
        .build(pki, &case.id)
        .map_err(|e| e.to_string())
        .and_then(|built| {
            slot.load(SlotSetup {
                card: built,
                latency: case.setup.latency,
                removal: case.setup.remove,
            })
            .map_err(|e| e.to_string())
        })
        .and_then(|()| prepare_phone(case, card, pki, slots));
    if let Err(message) = prepared {
        observation.aborted = Some(message);
        progress.inc(case.steps.len() as u64);
        return Ok(observation);
    }
    server.set_outage(case.oqs.outage);
    observation.started = Utc::now();
    let timeout = Duration::from_millis(case.step_timeout_ms);

    if let Err(error) = device.begin_case(&case.id, config.today) {
        observation.aborted = Some(format!("begin_case: {error}"));
    }
    for (index, step) in case.steps.iter().enumerate() {
        if observation.aborted.is_some() {
            progress.inc(1);
            continue;
        }
        let index = index as u32 + 1;
        let started = Utc::now();
        let slot_change = match step {
            StepDoc::PlaceCard => match slot.insert() {
                // The card never reached vpcd (or the serial port): nothing can be judged.
                Err(error) if !slot.ever_linked() => return Err(error.into()),
                result => result.err().map(|error| error.to_string()),
            },
            StepDoc::RemoveCard => {
                slot.wait_unpowered(POWER_OFF_SETTLE);
                slot.remove().err().map(|error| error.to_string())
            }
            phone_step => change_phone_slot(phone_step, slots.phone),
        };
        let (action, prompt, pin_entry) = action_of(step, card);
        let step_timeout = match step {
            StepDoc::Wait(ms) => timeout + Duration::from_millis(*ms),
            _ => timeout,
        };
        let (answer, failure) = match slot_change {
            Some(error) => (
                None,
                Some(format!("the harness could not change the slot: {error}")),
            ),
            None => match device.step(&case.id, index, &action, &prompt, step_timeout) {
                Ok(answer) => {
                    let failure = answer_failure(&answer);
                    (Some(answer), failure)
                }
                Err(error) => {
                    observation.aborted = Some(format!("step {index}: {error}"));
                    (None, Some(error.to_string()))
                }
            },
        };
        observation.steps.push(StepRecord {
            index,
            action: describe_action(step),
            pin_entry,
            started,
            ended: Utc::now(),
            answer,
            failure,
        });
        progress.inc(1);
    }
    if observation.aborted.is_none() {
        for requirement in &case.evidence {
            if let Some(question) = questions.get(requirement.as_str()) {
                if let Some(yes) = device.ask(question) {
                    observation
                        .operator_answers
                        .push((requirement.clone(), yes));
                }
            }
        }
        if let Err(error) = device.end_case(&case.id) {
            observation.aborted = Some(format!("end_case: {error}"));
        }
    }
    slot.wait_unpowered(POWER_OFF_SETTLE);
    observation.ended = Utc::now();
    let window = |at: DateTime<Utc>| at >= observation.started && at <= observation.ended;
    observation.log = slot.log_between(observation.started, observation.ended);
    if let Some(phone_slot) = slots.phone {
        observation.phone_log = phone_slot.log_between(observation.started, observation.ended);
        if let Err(error) = phone_slot.remove() {
            tracing::warn!(%error, "taking the phone away after the case");
        }
    }
    observation.calls = server
        .calls()
        .into_iter()
        .filter(|c| window(c.at))
        .collect();
    server.set_outage(false);
    // The next case starts with an empty slot; the removal is outside this case's window.
    if let Err(error) = slot.remove() {
        tracing::warn!(%error, "taking the card out after the case");
    }
    Ok(observation)
}

/// Why the case is not applicable to the device by its `hello` declaration: an action it
/// declared unsupported, or phone steps without `phones: true`.
fn not_applicable(case: &Case, card: &CaseCard, device: &dyn DeviceUnderTest) -> Option<String> {
    let declared = device.declared_unsupported();
    if let Some(action) = case.steps.iter().find_map(|step| {
        let (action, _, _) = action_of(step, card);
        let name = action_name(&action);
        declared.contains(&name).then_some(name)
    }) {
        return Some(format!(
            "the device declared in hello that it cannot do `{action}` (unsupported), which this case needs"
        ));
    }
    let phone_case = case.steps.iter().any(StepDoc::is_phone_step);
    (phone_case && !device.supports_phones()).then(|| {
        "the device did not declare in hello that it supports phones (`phones: true`), which this case needs"
            .to_owned()
    })
}

/// The face reader's card slot and, when the run has one, the generic reader's (the phone's).
struct Slots<'s> {
    card: &'s Slot,
    phone: Option<&'s Slot>,
}

/// Puts the case's phone into the generic reader's slot (not yet held over it) and, when the
/// case says so, the card on the face reader before the first step.
fn prepare_phone(
    case: &Case,
    card: &CaseCard,
    pki: &TestPki,
    slots: &Slots<'_>,
) -> Result<(), String> {
    let (Some(setup), Some(phone)) = (&case.phone, &card.phone) else {
        return Ok(());
    };
    let Some(phone_slot) = slots.phone else {
        return Err(
            "the case holds a phone over the generic reader, and this run has no second slot \
             for it (serve through --vpcd: the generic reader is the port after the card's)"
                .to_owned(),
        );
    };
    let built = phone.build(pki, &case.id).map_err(|e| e.to_string())?;
    phone_slot
        .load(SlotSetup {
            card: built,
            latency: case.setup.latency,
            removal: None,
        })
        .map_err(|e| format!("the generic reader: {e}"))?;
    if setup.card_on_face_reader {
        slots
            .card
            .insert()
            .map_err(|e| format!("the card on the face reader: {e}"))?;
    }
    Ok(())
}

/// What the harness does to the generic reader's slot for a step: hold the phone over it,
/// take it away, or give the iPhone its on-device approval. `Some` is why it could not.
fn change_phone_slot(step: &StepDoc, phone_slot: Option<&Slot>) -> Option<String> {
    let phone_slot = phone_slot?;
    let changed = match step {
        StepDoc::PlacePhone => phone_slot.insert(),
        StepDoc::RemovePhone => {
            phone_slot.wait_unpowered(POWER_OFF_SETTLE);
            phone_slot.remove()
        }
        StepDoc::PhoneApproval(approval) => {
            phone_slot.set_device_approval(*approval == crate::reader::PhoneApproval::Approved);
            Ok(())
        }
        _ => Ok(()),
    };
    changed
        .err()
        .map(|error| format!("the generic reader: {error}"))
}

/// How the protocol names an action (`choose_pin` …).
fn action_name(action: &Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|value| value.get("action")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn answer_failure(answer: &DriverAnswer) -> Option<String> {
    if answer.ok {
        return None;
    }
    Some(match &answer.error {
        Some(error) => format!("the device reported {}: {}", error.kind, error.message),
        None => "the device reported a failure without a reason".into(),
    })
}

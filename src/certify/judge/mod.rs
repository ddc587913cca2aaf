//! The judge: each requirement is a predicate over the exchanges and calls that concern it, in
//! the cases that give evidence for it. A predicate says `pass` or `fail` only when the
//! behaviour it constrains happened; when it never happened the verdict is `not_exercised`,
//! with why, so that a device that does nothing never passes anything. What happened elsewhere
//! in the reception (a refused proof, a wrong screen) is judged by its own requirement and
//! never decides another one.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::catalogue::{CardFile, FileRef, Predicate, Provocation, Requirement};
use super::observed::{describe_entry, CaseObservation, OqsCall, Witness};

mod phone;
mod predicates;
use crate::apdu::{Command, Instruction, PinStatus, Selection, StatusWord};
use crate::trace::{ApduExchange, Entry, Event};

/// The verdict on one requirement, or on one case's evidence for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Pass,
    Fail,
    /// The behaviour the requirement constrains never occurred in the cases run.
    NotExercised,
    /// The device declared it cannot do what the cases need (answered `unsupported`).
    NotApplicable,
}

impl Status {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotExercised => "not_exercised",
            Status::NotApplicable => "not_applicable",
        }
    }
}

/// Where a finding's evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum EvidenceKind {
    /// Seen by the harness itself: the card's exchange log, the qualification system's calls.
    Observed,
    DriverReported,
    OperatorJudged,
}

impl EvidenceKind {
    /// How reports name it (as in `report.json`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            EvidenceKind::Observed => "observed",
            EvidenceKind::DriverReported => "driver-reported",
            EvidenceKind::OperatorJudged => "operator-judged",
        }
    }
}

/// One case's evidence for one requirement.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finding {
    pub(crate) case: String,
    pub(crate) status: Status,
    pub(crate) kind: EvidenceKind,
    /// What was found (or, when not exercised, why), in one or two sentences.
    pub(crate) summary: String,
    /// The transcript lines that show it (PINs hidden).
    pub(crate) excerpt: Vec<String>,
    /// The qualification-system request concerned, certificate and signature shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) oqs_request: Option<serde_json::Value>,
}

/// A requirement's verdict over all the cases run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Verdict {
    pub(crate) id: String,
    pub(crate) status: Status,
    /// Why a requirement was not exercised or not applicable, in one sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    pub(crate) findings: Vec<Finding>,
}

/// Judges `requirement` over the observations of the cases that give evidence for it. Any
/// failing case fails it; otherwise any passing case passes it; otherwise it is not
/// applicable only when the device declared (in `hello`) it cannot do what every case needs,
/// and not exercised
/// in every other situation (no case run, or the behaviour never occurred).
pub(crate) fn judge(requirement: &Requirement, cases: &[&CaseObservation]) -> Verdict {
    let findings: Vec<Finding> = cases
        .iter()
        .map(|case| judge_case(requirement, case))
        .collect();
    let any = |status: Status| findings.iter().any(|f| f.status == status);
    let status = if any(Status::Fail) {
        Status::Fail
    } else if any(Status::Pass) {
        Status::Pass
    } else if !findings.is_empty() && findings.iter().all(|f| f.status == Status::NotApplicable) {
        Status::NotApplicable
    } else {
        Status::NotExercised
    };
    let reason = match status {
        Status::Pass | Status::Fail => None,
        _ if findings.is_empty() => Some("no case that gives evidence for it was run".to_owned()),
        _ => Some(
            findings
                .iter()
                .map(|f| format!("{}: {}", f.case, f.summary))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    Verdict {
        id: requirement.id.clone(),
        status,
        reason,
        findings,
    }
}

fn judge_case(requirement: &Requirement, case: &CaseObservation) -> Finding {
    let base = Finding {
        case: case.case.clone(),
        status: Status::Fail,
        kind: EvidenceKind::Observed,
        summary: String::new(),
        excerpt: Vec::new(),
        oqs_request: None,
    };
    if let Some(reason) = &case.aborted {
        return Finding {
            summary: format!("the case could not be run to its end: {reason}"),
            ..base
        };
    }
    if let Some(why) = &case.not_applicable {
        return Finding {
            status: Status::NotApplicable,
            kind: witness_kind(case.witness),
            summary: why.clone(),
            ..base
        };
    }
    let view = CaseView::new(case);
    let operator_answer = case
        .operator_answers
        .iter()
        .find(|(id, _)| id == &requirement.id)
        .map(|(_, yes)| *yes);
    match (&requirement.question, operator_answer) {
        (Some(question), Some(yes)) if case.witness == Witness::OperatorJudged => {
            // What the device shows is judged by the person; the exchange-log part of a
            // predicate (if any) still has to hold.
            let observed = view.evaluate(&requirement.judge, true);
            let agrees = yes == question.expect_yes;
            let status = if !agrees || observed.status == Status::Fail {
                Status::Fail
            } else {
                Status::Pass
            };
            Finding {
                status,
                kind: EvidenceKind::OperatorJudged,
                summary: format!(
                    "operator answered {} to \"{}\"{}",
                    if yes { "yes" } else { "no" },
                    question.en,
                    if observed.status == Status::Fail {
                        format!("; {}", observed.summary)
                    } else {
                        String::new()
                    }
                ),
                ..observed
            }
        }
        _ => view.evaluate(&requirement.judge, false),
    }
}

fn witness_kind(witness: Witness) -> EvidenceKind {
    match witness {
        Witness::DriverReported => EvidenceKind::DriverReported,
        Witness::OperatorJudged => EvidenceKind::OperatorJudged,
    }
}

/// How the run names the harness's `remove_card` step (see `run::describe_action`).
pub(crate) const REMOVE_CARD_ACTION: &str = "remove_card";

/// An entry of the case's exchange log with the application and EF selected at it.
#[derive(Debug, Clone, Copy)]
struct Located<'a> {
    entry: &'a Entry,
    at: DateTime<Utc>,
    ap: Option<[u8; 10]>,
    ef: Option<u16>,
}

impl<'a> Located<'a> {
    /// The command and answer, when the entry is one the card model answered (the
    /// identification probe is the harness's own).
    fn exchange(&self) -> Option<&'a ApduExchange> {
        match &self.entry.event {
            Event::Apdu(exchange) if exchange.note.is_none() => Some(exchange),
            _ => None,
        }
    }

    fn command(&self) -> Option<Command<'a>> {
        self.exchange()
            .and_then(|exchange| Command::parse(&exchange.command).ok())
    }

    fn ins(&self) -> Option<Instruction> {
        self.command().map(|c| c.instruction())
    }

    fn sw(&self) -> Option<StatusWord> {
        self.exchange().and_then(ApduExchange::status_word)
    }

    fn addresses(&self, file: &CardFile) -> bool {
        self.ap == Some(file.aid) && self.ef == Some(file.fid)
    }

    fn is_read(&self) -> bool {
        self.ins() == Some(Instruction::ReadBinary)
    }

    fn is_sign(&self) -> bool {
        self.ins() == Some(Instruction::ComputeDigitalSignature)
    }

    fn is_verify(&self, file: &CardFile) -> bool {
        self.ins() == Some(Instruction::Verify) && self.addresses(file)
    }

    /// A VERIFY to `file` that carries a PIN (not the retry-counter query).
    fn is_verify_with_pin(&self, file: &CardFile) -> bool {
        self.is_verify(file) && self.command().is_some_and(|c| c.presents_secret())
    }

    /// A power change or card movement: the card's session (and selection) ends or restarts.
    fn ends_card_session(&self) -> bool {
        matches!(
            self.entry.event,
            Event::PowerOn { .. }
                | Event::PowerOff
                | Event::Reset { .. }
                | Event::Removed
                | Event::Inserted
                | Event::CardPlaced { .. }
                | Event::LinkDown { .. }
        )
    }
}

/// The case's exchanges located in the card's file tree, with the calls and steps.
struct CaseView<'a> {
    case: &'a CaseObservation,
    located: Vec<Located<'a>>,
}

/// Statuses a proof of possession fails with.
const PROOF_FAILURES: &[&str] = &[
    "request_invalid",
    "certificate_malformed",
    "signature_malformed",
    "challenge_unknown",
    "certificate_untrusted",
    "signature_invalid",
];

/// A finding under construction: the case it is about.
fn finding(case: &CaseObservation, status: Status, summary: impl Into<String>) -> Finding {
    Finding {
        case: case.case.clone(),
        status,
        kind: EvidenceKind::Observed,
        summary: summary.into(),
        excerpt: Vec::new(),
        oqs_request: None,
    }
}

impl Finding {
    fn with_excerpt(mut self, excerpt: Vec<String>) -> Finding {
        self.excerpt = excerpt;
        self
    }

    fn with_call(mut self, call: Option<&OqsCall>) -> Finding {
        self.oqs_request = call.map(OqsCall::request_summary);
        self
    }

    fn witnessed_by(mut self, witness: Witness) -> Finding {
        self.kind = witness_kind(witness);
        self
    }
}

impl<'a> CaseView<'a> {
    /// The case as seen on the face reader's card slot.
    fn new(case: &'a CaseObservation) -> CaseView<'a> {
        CaseView::over(case, &case.log)
    }

    /// The case as seen on one slot's exchange log (the card's, or the generic reader's).
    fn over(case: &'a CaseObservation, log: &'a crate::trace::Transcript) -> CaseView<'a> {
        let mut selection = Selection::default();
        let mut located = Vec::new();
        for entry in &log.entries {
            match &entry.event {
                Event::Apdu(exchange) if exchange.note.is_none() => {
                    let success = exchange.status_word().is_some_and(StatusWord::is_success);
                    selection.follow(&exchange.command, success);
                }
                Event::Apdu(_) | Event::LinkUp { .. } | Event::FramingError { .. } => {}
                Event::PowerOn { .. }
                | Event::PowerOff
                | Event::Reset { .. }
                | Event::PowerFailed { .. }
                | Event::Removed
                | Event::Inserted
                | Event::CardPlaced { .. }
                | Event::LinkDown { .. } => selection.clear(),
            }
            // Located after the command: a READ BINARY with a short EF identifier addresses
            // the EF it selects; other commands leave the selection as it was before them.
            located.push(Located {
                entry,
                at: case.wall_time(entry),
                ap: selection.application,
                ef: selection.file,
            });
        }
        CaseView { case, located }
    }

    fn pass(&self, summary: impl Into<String>) -> Finding {
        finding(self.case, Status::Pass, summary)
    }

    fn fail(&self, summary: impl Into<String>) -> Finding {
        finding(self.case, Status::Fail, summary)
    }

    fn not_exercised(&self, why: impl Into<String>) -> Finding {
        finding(self.case, Status::NotExercised, why)
    }

    /// A predicate whose file reference does not decode (the suite loader checks them, so
    /// this is a broken suite, shown as such).
    fn bad_file(&self, file: &FileRef, error: &str) -> Finding {
        self.fail(format!(
            "the requirement names a file that is not one ({} {}: {error})",
            file.aid, file.file
        ))
    }

    fn lines(&self, items: &[&Located<'_>]) -> Vec<String> {
        items
            .iter()
            .take(16)
            .map(|item| describe_entry(item.entry))
            .collect()
    }

    /// Up to `before` entries before the one at `index`, it, and `after` after it.
    fn around(&self, index: usize, before: usize, after: usize) -> Vec<String> {
        let from = index.saturating_sub(before);
        let to = (index + after + 1).min(self.located.len());
        self.located[from..to]
            .iter()
            .map(|item| describe_entry(item.entry))
            .collect()
    }

    fn index_of(&self, item: &Located<'_>) -> usize {
        self.located
            .iter()
            .position(|other| std::ptr::eq(other.entry, item.entry))
            .unwrap_or(0)
    }

    /// The commands the card model answered.
    fn apdus(&self) -> impl Iterator<Item = &Located<'a>> {
        self.located.iter().filter(|l| l.exchange().is_some())
    }

    fn all_apdu_lines(&self) -> Vec<String> {
        self.lines(&self.apdus().collect::<Vec<_>>())
    }

    fn calls(&self) -> impl Iterator<Item = &'a OqsCall> {
        self.case.calls.iter()
    }

    /// The first check or registration the device sent after `at`, whatever the answer: the
    /// device went on with the reception (whether the qualification system accepted the
    /// request is judged by the requirements on the request itself).
    fn reception_call_after(&self, at: DateTime<Utc>) -> Option<&'a OqsCall> {
        self.calls()
            .find(|call| call.at >= at && (call.is_check() || call.is_register()))
    }

    fn evaluate(&self, predicate: &Predicate, display_judged_by_operator: bool) -> Finding {
        let with_file = |file: &FileRef, judge: &dyn Fn(&CardFile) -> Finding| match file.decode() {
            Ok(file) => judge(&file),
            Err(error) => self.bad_file(file, &error),
        };
        match predicate {
            Predicate::SelectsBeforeRead { aid } => self.selects_before_read(aid),
            Predicate::ReadsFile { file } => with_file(file, &|f| self.reads_file(f)),
            Predicate::NeverReads { files } => self.never_reads(files),
            Predicate::RetryQueryBeforeVerify { file } => {
                with_file(file, &|f| self.retry_query_before_verify(f))
            }
            Predicate::NoVerifyAfterBlocked { file } => {
                with_file(file, &|f| self.no_verify_after_blocked(f))
            }
            Predicate::OneVerifyPerEntry { file } => {
                with_file(file, &|f| self.one_verify_per_entry(f))
            }
            Predicate::NothingAfterWrongPin { file } => {
                with_file(file, &|f| self.nothing_after_wrong_pin(f))
            }
            Predicate::CopesWith { answer } => self.copes_with(*answer),
            Predicate::WaitsForSlowCard { min_ms } => self.waits_for_slow_card(*min_ms),
            Predicate::ProofOfPossession => self.proof_of_possession(),
            Predicate::FaceRoute { pin_file } => with_file(pin_file, &|f| self.face_route(f)),
            Predicate::NeverOffersPin { pin_file } => with_file(pin_file, &|f| {
                self.never_offers_pin(f, display_judged_by_operator)
            }),
            Predicate::RegistrationCall => self.registration_call(),
            Predicate::NoVerifiedStateLeft { file } => {
                with_file(file, &|f| self.no_verified_state_left(f))
            }
            Predicate::PhoneNoFaceRoute => self.phone_no_face_route(),
            Predicate::PhonePinToPhone { file } => {
                with_file(file, &|f| self.phone_pin_to_phone(&self.phone_view(), f))
            }
            Predicate::PhoneRefusedPastExpiry => {
                self.phone_refused_past_expiry(display_judged_by_operator)
            }
            Predicate::ReadsPhoneOnGenericReader { file } => with_file(file, &|f| {
                self.reads_phone_on_generic_reader(&self.phone_view(), f)
            }),
            Predicate::PhoneNoVerifiedStateLeft { file } => {
                with_file(file, &|f| self.phone_view().phone_no_verified_state_left(f))
            }
            Predicate::Shown {
                qualification,
                message,
                screen,
                fallback_guidance,
            } => self.shown(&Expected {
                qualification: qualification.as_deref(),
                message: message.as_deref(),
                screen: screen.as_deref(),
                fallback_guidance: *fallback_guidance,
            }),
        }
    }
}

/// What a `shown` requirement expects the device to show.
struct Expected<'e> {
    qualification: Option<&'e str>,
    message: Option<&'e str>,
    screen: Option<&'e str>,
    fallback_guidance: bool,
}

/// A value the device reported, as a report quotes it: `valid`, or "nothing".
fn quoted(value: Option<&str>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| format!("`{v}`"))
}

fn is_pin_identity(call: &OqsCall) -> bool {
    match call.request.get("identity").and_then(|v| v.as_str()) {
        None => true,
        Some(identity) => identity == "pin",
    }
}

fn provokes(item: &Located<'_>, answer: Provocation) -> bool {
    let Some(sw) = item.sw() else {
        return answer == Provocation::Removal && matches!(item.entry.event, Event::Removed);
    };
    match answer {
        Provocation::EndOfFile6B00 => item.is_read() && sw == StatusWord::WRONG_P1_P2_OFFSET,
        Provocation::ShortLastChunk => {
            let data = item
                .exchange()
                .and_then(ApduExchange::response_data)
                .map_or(0, <[u8]>::len);
            item.is_read()
                && sw.is_success()
                && data > 0
                && item
                    .command()
                    .and_then(|c| c.le)
                    .is_some_and(|le| data < le)
        }
        Provocation::BytesAvailable61xx => sw.is_bytes_available(),
        Provocation::WrongLength6Cxx => sw.is_exact_length_hint(),
        Provocation::Removal => false,
    }
}

fn provocation_name(answer: Provocation) -> &'static str {
    match answer {
        Provocation::EndOfFile6B00 => "6B 00 to a READ BINARY",
        Provocation::ShortLastChunk => "a short last chunk",
        Provocation::BytesAvailable61xx => "61 xx",
        Provocation::WrongLength6Cxx => "6C xx",
        Provocation::Removal => "the card's removal",
    }
}

/// Whether a PIN status means the PIN can no longer be used.
fn is_blocked(sw: Option<StatusWord>) -> bool {
    sw.and_then(StatusWord::pin_status) == Some(PinStatus::Blocked)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::certify::catalogue::FileRef;
    use crate::certify::observed::StepRecord;
    use crate::trace::{ExchangeAnswer, Transcript};

    const SELECT_JPKI: &str = "00A4040C0AD392F000260100000001";
    const SELECT_PIN: &str = "00A4020C020018";
    const QUERY: &str = "00200080";

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    fn apdu(ms: i64, command: &str, response: &str) -> Entry {
        Entry {
            at: Duration::from_millis(ms as u64),
            event: Event::Apdu(ApduExchange::new(
                &hex::decode(command).unwrap(),
                ExchangeAnswer::Response(hex::decode(response).unwrap()),
            )),
            step: None,
        }
    }

    fn event(ms: i64, event: Event) -> Entry {
        Entry {
            at: Duration::from_millis(ms as u64),
            event,
            step: None,
        }
    }

    fn step(index: u32, action: &str, pin_entry: bool, from: i64, to: i64) -> StepRecord {
        StepRecord {
            index,
            action: action.into(),
            pin_entry,
            started: at(from),
            ended: at(to),
            answer: None,
            failure: None,
        }
    }

    fn case(entries: Vec<Entry>, steps: Vec<StepRecord>) -> CaseObservation {
        CaseObservation {
            case: "c".into(),
            started: at(0),
            ended: at(10_000),
            log: Transcript { entries },
            phone_log: Transcript::default(),
            calls: Vec::new(),
            steps,
            operator_answers: Vec::new(),
            witness: Witness::DriverReported,
            aborted: None,
            not_applicable: None,
        }
    }

    fn pin_file() -> FileRef {
        FileRef {
            aid: "D392F000260100000001".into(),
            file: "0018".into(),
        }
    }

    fn evaluate(predicate: Predicate, observation: &CaseObservation) -> Finding {
        CaseView::new(observation).evaluate(&predicate, false)
    }

    fn verified_session(tail: Vec<Entry>) -> CaseObservation {
        let mut exchanges = vec![
            event(1, Event::PowerOn { atr: None }),
            apdu(2, SELECT_JPKI, "9000"),
            apdu(3, SELECT_PIN, "9000"),
            apdu(4, QUERY, "63C3"),
            apdu(5, "002000800431323334", "9000"),
        ];
        exchanges.extend(tail);
        case(exchanges, Vec::new())
    }

    #[test]
    fn a_power_off_by_the_device_ends_the_verified_state_but_a_removal_does_not() {
        let predicate = || Predicate::NoVerifiedStateLeft { file: pin_file() };
        let by_device = verified_session(vec![event(9, Event::PowerOff)]);
        assert_eq!(evaluate(predicate(), &by_device).status, Status::Pass);

        // The harness pulling the card: the link goes down, then the card loses power.
        let by_harness = verified_session(vec![
            event(
                9,
                Event::LinkDown {
                    reason: "closed".into(),
                },
            ),
            event(9, Event::PowerOff),
            event(9, Event::Removed),
        ]);
        assert_eq!(evaluate(predicate(), &by_harness).status, Status::Fail);

        // A warm reset keeps a verified PIN on a real card.
        let reset = verified_session(vec![event(9, Event::Reset { atr: None })]);
        assert_eq!(evaluate(predicate(), &reset).status, Status::Fail);

        let other_application =
            verified_session(vec![apdu(9, "00A4040C0AD3921000310001010402", "9000")]);
        assert_eq!(
            evaluate(predicate(), &other_application).status,
            Status::Pass
        );
    }

    #[test]
    fn pin_entries_are_counted_per_operator_entry() {
        let predicate = || Predicate::OneVerifyPerEntry { file: pin_file() };
        let steps = vec![
            step(1, "enter_pin", true, 10, 20),
            step(2, "enter_pin", true, 30, 40),
        ];
        let once_each = case(
            vec![
                apdu(11, SELECT_JPKI, "9000"),
                apdu(12, SELECT_PIN, "9000"),
                apdu(13, "002000800431323335", "63C2"),
                apdu(31, "002000800431323334", "9000"),
            ],
            steps.clone(),
        );
        assert_eq!(evaluate(predicate(), &once_each).status, Status::Pass);

        let retried = case(
            vec![
                apdu(11, SELECT_JPKI, "9000"),
                apdu(12, SELECT_PIN, "9000"),
                apdu(13, "002000800431323335", "63C2"),
                apdu(14, "002000800431323335", "63C1"),
                apdu(31, "002000800431323334", "9000"),
            ],
            steps,
        );
        let finding = evaluate(predicate(), &retried);
        assert_eq!(finding.status, Status::Fail);
        assert_eq!(finding.summary, "PIN entry 1 was sent to the card 2 times");
        // The evidence never shows the PIN.
        assert!(finding
            .excerpt
            .iter()
            .all(|line| !line.contains("31323335")));
        assert!(finding.excerpt[0].contains("0020008004XXXXXXXX"));
    }

    #[test]
    fn a_verify_to_another_file_is_not_a_pin() {
        // 照合番号B to the surface application is not the JPKI PIN.
        let face = case(
            vec![
                apdu(1, "00A4040C0AD3921000310001010402", "9000"),
                apdu(2, "00A4020C020012", "9000"),
                apdu(3, "002000800E3535303531303230333034333231", "9000"),
            ],
            Vec::new(),
        );
        let finding = evaluate(
            Predicate::FaceRoute {
                pin_file: pin_file(),
            },
            &face,
        );
        assert_eq!(finding.status, Status::Pass, "{}", finding.summary);
        assert_eq!(
            evaluate(
                Predicate::RetryQueryBeforeVerify { file: pin_file() },
                &face
            )
            .status,
            Status::NotExercised
        );
    }

    #[test]
    fn a_provocation_the_card_never_gave_is_not_applicable() {
        let quiet = case(vec![apdu(1, SELECT_JPKI, "9000")], Vec::new());
        let finding = evaluate(
            Predicate::CopesWith {
                answer: Provocation::EndOfFile6B00,
            },
            &quiet,
        );
        assert_eq!(finding.status, Status::NotExercised);

        let gave_up = case(
            vec![
                apdu(1, SELECT_JPKI, "9000"),
                apdu(2, "00A4020C020002", "9000"),
                apdu(3, "00B01E0000", "6B00"),
            ],
            Vec::new(),
        );
        let finding = evaluate(
            Predicate::CopesWith {
                answer: Provocation::EndOfFile6B00,
            },
            &gave_up,
        );
        assert_eq!(finding.status, Status::Fail);
        assert!(finding
            .summary
            .contains("never reached the qualification system"));
    }
}

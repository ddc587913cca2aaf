//! The judge: evaluates each requirement's predicate over what was observed in the cases that
//! give evidence for it, and combines the per-case findings into one verdict.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::catalogue::{CardFile, Predicate, Provocation, Requirement};
use super::observed::{CaseObservation, EventKind, Exchange, OqsCall, Witness};
use crate::apdu::ids::AID_SURFACE;
use crate::apdu::{Instruction, Selection, Target};

/// The verdict on one requirement, or on one case's evidence for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotApplicable,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "not_applicable",
        }
    }
}

/// Where a finding's evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// Seen by the harness itself: the card's exchange log, the qualification system's calls.
    Observed,
    DriverReported,
    OperatorJudged,
}

/// One case's evidence for one requirement.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub case: String,
    pub status: Status,
    pub kind: EvidenceKind,
    /// What was found, in one or two sentences.
    pub summary: String,
    /// The transcript lines that show it (PINs hidden).
    pub excerpt: Vec<String>,
    /// The qualification-system request concerned, certificate and signature shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oqs_request: Option<serde_json::Value>,
}

/// A requirement's verdict over all the cases run.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub id: String,
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// Judges `requirement` over the observations of the cases that give evidence for it.
pub fn judge(requirement: &Requirement, cases: &[&CaseObservation]) -> Verdict {
    let findings: Vec<Finding> = cases
        .iter()
        .map(|case| judge_case(requirement, case))
        .collect();
    let status = if findings.iter().any(|f| f.status == Status::Fail) {
        Status::Fail
    } else if findings.iter().any(|f| f.status == Status::Pass) {
        Status::Pass
    } else {
        Status::NotApplicable
    };
    Verdict {
        id: requirement.id.clone(),
        status,
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
    if let Some(step) = case.steps.iter().find(|s| s.unsupported()) {
        return Finding {
            status: Status::NotApplicable,
            kind: witness_kind(case.witness),
            summary: format!(
                "the device cannot do step {} ({}): answered `unsupported`",
                step.index, step.action
            ),
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

/// An APDU with the application and EF it addressed.
#[derive(Debug, Clone, Copy)]
struct Located<'a> {
    exchange: &'a Exchange,
    ap: Option<[u8; 10]>,
    ef: Option<u16>,
}

/// How the run names the harness's `remove_card` step (see `run::describe_action`).
pub const REMOVE_CARD_ACTION: &str = "remove_card";

impl Located<'_> {
    fn ins(&self) -> Option<Instruction> {
        self.exchange.parsed().map(|c| c.instruction())
    }

    /// A VERIFY that carries a PIN (not the retry-counter query).
    fn presents_secret(&self) -> bool {
        self.exchange.parsed().is_some_and(|c| c.presents_secret())
    }

    fn addresses(&self, file: &CardFile) -> bool {
        self.ap == Some(file.aid) && self.ef == Some(file.fid)
    }

    fn is_read(&self) -> bool {
        self.ins() == Some(Instruction::ReadBinary)
    }

    fn is_verify_with_pin(&self, file: &CardFile) -> bool {
        self.ins() == Some(Instruction::Verify) && self.presents_secret() && self.addresses(file)
    }

    fn is_verify(&self, file: &CardFile) -> bool {
        self.ins() == Some(Instruction::Verify) && self.addresses(file)
    }

    fn sw(&self) -> Option<u16> {
        self.exchange.status().map(|sw| sw.0)
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

impl<'a> CaseView<'a> {
    fn new(case: &'a CaseObservation) -> CaseView<'a> {
        let mut selection = Selection::default();
        let mut located = Vec::new();
        for exchange in &case.exchanges {
            match exchange.kind {
                EventKind::PowerOn
                | EventKind::PowerOff
                | EventKind::Reset
                | EventKind::Removed
                | EventKind::Inserted
                | EventKind::LinkDown => selection.clear(),
                EventKind::LinkUp => {}
                EventKind::Apdu => {
                    let success = exchange.status().is_some_and(|sw| sw.is_success());
                    selection.follow(&exchange.command, success);
                }
            }
            // Located after the command: a READ BINARY with a short EF identifier addresses
            // the EF it selects; other commands leave the selection as it was before them.
            located.push(Located {
                exchange,
                ap: selection.application,
                ef: selection.file,
            });
        }
        CaseView { case, located }
    }

    fn start(&self) -> DateTime<Utc> {
        self.case.started
    }

    fn lines(&self, items: &[&Located<'_>]) -> Vec<String> {
        items
            .iter()
            .take(16)
            .map(|item| item.exchange.describe(self.start()))
            .collect()
    }

    /// Up to `before` exchanges before the one at `index`, it, and `after` after it.
    fn around(&self, index: usize, before: usize, after: usize) -> Vec<String> {
        let from = index.saturating_sub(before);
        let to = (index + after + 1).min(self.located.len());
        self.located[from..to]
            .iter()
            .map(|item| item.exchange.describe(self.start()))
            .collect()
    }

    fn index_of(&self, item: &Located<'_>) -> usize {
        self.located
            .iter()
            .position(|other| std::ptr::eq(other.exchange, item.exchange))
            .unwrap_or(0)
    }

    fn apdus(&self) -> impl Iterator<Item = &Located<'a>> {
        self.located.iter().filter(|l| l.exchange.is_apdu())
    }

    /// Checks and registrations the qualification system answered (not malformed, not an
    /// outage).
    fn answered_calls_after(&self, at: DateTime<Utc>) -> Option<&'a OqsCall> {
        self.case.calls.iter().find(|call| {
            call.at >= at && (call.is_check() || call.is_register()) && call.status == 200
        })
    }

    fn evaluate(&self, predicate: &Predicate, display_judged_by_operator: bool) -> Finding {
        let mut finding = Finding {
            case: self.case.case.clone(),
            status: Status::Fail,
            kind: EvidenceKind::Observed,
            summary: String::new(),
            excerpt: Vec::new(),
            oqs_request: None,
        };
        let decode = |file: &super::catalogue::FileRef| file.decode().ok();
        match predicate {
            Predicate::SelectsBeforeRead { aid } => {
                let aid = super::catalogue::decode_aid(aid).ok();
                let unselected = self.apdus().find(|l| l.is_read() && l.ap.is_none());
                let in_ap = self.apdus().find(|l| l.is_read() && l.ap == aid);
                match (unselected, in_ap) {
                    (Some(bad), _) => {
                        finding.summary =
                            "a READ BINARY was sent before any application was selected".into();
                        finding.excerpt = self.around(self.index_of(bad), 4, 1);
                    }
                    (None, Some(good)) => {
                        finding.status = Status::Pass;
                        finding.summary =
                            "every READ BINARY came after a successful SELECT of the application"
                                .into();
                        finding.excerpt = self.around(self.index_of(good), 4, 0);
                    }
                    (None, None) => {
                        finding.status = Status::NotApplicable;
                        finding.summary = "the device read nothing from the application".into();
                    }
                }
            }
            Predicate::ReadsFile { file } => {
                let Some(file) = decode(file) else {
                    return finding;
                };
                let read = self.apdus().find(|l| {
                    l.is_read()
                        && l.addresses(&file)
                        && l.sw().is_some_and(|sw| sw == 0x9000 || sw >> 8 == 0x61)
                });
                match read {
                    Some(read) => {
                        finding.status = Status::Pass;
                        finding.summary = format!("EF {:04X} was read", file.fid);
                        finding.excerpt = self.around(self.index_of(read), 2, 1);
                    }
                    None => {
                        finding.summary = format!("EF {:04X} was never read", file.fid);
                        finding.excerpt = self.lines(&self.apdus().collect::<Vec<_>>());
                    }
                }
            }
            Predicate::NeverReads { files } => {
                let files: Vec<CardFile> = files.iter().filter_map(decode).collect();
                let bad = self
                    .apdus()
                    .find(|l| l.is_read() && files.iter().any(|f| l.addresses(f)));
                match bad {
                    Some(bad) => {
                        finding.summary = format!(
                            "the device tried to read EF {:04X}, which it must never read",
                            bad.ef.unwrap_or_default()
                        );
                        finding.excerpt = self.around(self.index_of(bad), 2, 1);
                    }
                    None => {
                        finding.status = Status::Pass;
                        finding.summary = "none of the forbidden files was read".into();
                    }
                }
            }
            Predicate::RetryQueryBeforeVerify { file } => {
                let Some(file) = decode(file) else {
                    return finding;
                };
                let mut queried = false;
                let mut verified_any = None;
                for item in &self.located {
                    match item.exchange.kind {
                        EventKind::PowerOn
                        | EventKind::PowerOff
                        | EventKind::Reset
                        | EventKind::Removed => queried = false,
                        _ => {}
                    }
                    if item.is_verify(&file) {
                        if item.is_verify_with_pin(&file) {
                            if !queried {
                                finding.summary = "a PIN was sent without querying the retry counter first in the same card session".into();
                                finding.excerpt = self.around(self.index_of(item), 5, 1);
                                return finding;
                            }
                            verified_any = Some(item);
                        } else {
                            queried = true;
                        }
                    }
                }
                match verified_any {
                    Some(item) => {
                        finding.status = Status::Pass;
                        finding.summary = "each PIN VERIFY followed a retry-counter query".into();
                        finding.excerpt = self.around(self.index_of(item), 3, 0);
                    }
                    None => {
                        finding.status = Status::NotApplicable;
                        finding.summary = "no PIN was sent to the card".into();
                    }
                }
            }
            Predicate::NoVerifyAfterBlocked { file } => {
                let Some(file) = decode(file) else {
                    return finding;
                };
                let mut blocked_at = None;
                for item in self.apdus() {
                    if !item.is_verify(&file) {
                        continue;
                    }
                    if let Some(at) = blocked_at {
                        if item.is_verify_with_pin(&file) {
                            finding.summary =
                                "a PIN was sent after the card had said the PIN is blocked".into();
                            let index = self.index_of(item);
                            finding.excerpt = self.around(at, 0, 0);
                            finding.excerpt.extend(self.around(index, 1, 0));
                            return finding;
                        }
                    }
                    if matches!(item.sw(), Some(0x63C0 | 0x6983 | 0x6984)) {
                        blocked_at.get_or_insert(self.index_of(item));
                    }
                }
                match blocked_at {
                    Some(at) => {
                        finding.status = Status::Pass;
                        finding.summary =
                            "no PIN was sent after the card said the PIN is blocked".into();
                        finding.excerpt = self.around(at, 2, 2);
                    }
                    None => {
                        finding.status = Status::NotApplicable;
                        finding.summary = "the device never learned that the PIN is blocked".into();
                    }
                }
            }
            Predicate::OneVerifyPerEntry { file } => {
                let Some(file) = decode(file) else {
                    return finding;
                };
                let entries: Vec<DateTime<Utc>> = self
                    .case
                    .steps
                    .iter()
                    .filter(|s| s.pin_entry)
                    .map(|s| s.started)
                    .collect();
                if entries.is_empty() {
                    finding.status = Status::NotApplicable;
                    finding.summary = "the case has no PIN entry".into();
                    return finding;
                }
                let mut counts = vec![0usize; entries.len() + 1];
                let mut items: Vec<Vec<&Located<'_>>> = vec![Vec::new(); entries.len() + 1];
                for item in self.apdus().filter(|l| l.is_verify_with_pin(&file)) {
                    let window = entries.iter().filter(|t| **t <= item.exchange.at).count();
                    counts[window] += 1;
                    items[window].push(item);
                }
                if counts[0] > 0 {
                    finding.summary = "a PIN was sent before the operator entered one".into();
                    finding.excerpt = self.lines(&items[0]);
                } else if let Some(window) = counts.iter().position(|&n| n > 1) {
                    finding.summary = format!(
                        "PIN entry {window} was sent to the card {} times",
                        counts[window]
                    );
                    finding.excerpt = self.lines(&items[window]);
                } else {
                    finding.status = Status::Pass;
                    finding.summary =
                        format!("{} PIN entries, at most one VERIFY each", entries.len());
                    finding.excerpt = self.lines(&items.concat());
                }
            }
            Predicate::NothingAfterWrongPin { file } => {
                let Some(file) = decode(file) else {
                    return finding;
                };
                let mut wrong: Option<&Located<'_>> = None;
                let mut seen_wrong = None;
                for item in self.apdus() {
                    if let Some(pending) = wrong {
                        let sign = item.ins() == Some(Instruction::ComputeDigitalSignature);
                        let check = self.case.calls.iter().find(|call| {
                            call.is_check()
                                && is_pin_identity(call)
                                && call.at > pending.exchange.at
                                && call.at < item.exchange.at
                        });
                        if sign || check.is_some() {
                            finding.summary = if sign {
                                "after a wrong PIN the device asked the card to sign".into()
                            } else {
                                "after a wrong PIN the device sent a qualification check".into()
                            };
                            finding.excerpt = self.around(self.index_of(pending), 0, 3);
                            finding.oqs_request = check.map(OqsCall::request_summary);
                            return finding;
                        }
                    }
                    if item.is_verify_with_pin(&file) {
                        match item.sw() {
                            Some(sw) if sw & 0xFFF0 == 0x63C0 => {
                                wrong = Some(item);
                                seen_wrong.get_or_insert(item);
                            }
                            Some(0x9000) => wrong = None,
                            _ => {}
                        }
                    }
                }
                if let Some(pending) = wrong {
                    if let Some(call) = self.case.calls.iter().find(|call| {
                        call.is_check() && is_pin_identity(call) && call.at > pending.exchange.at
                    }) {
                        finding.summary =
                            "after a wrong PIN the device sent a qualification check".into();
                        finding.excerpt = self.around(self.index_of(pending), 0, 3);
                        finding.oqs_request = Some(call.request_summary());
                        return finding;
                    }
                }
                match seen_wrong {
                    Some(item) => {
                        finding.status = Status::Pass;
                        finding.summary =
                            "after the wrong PIN the device neither signed nor checked until a correct PIN".into();
                        finding.excerpt = self.around(self.index_of(item), 1, 3);
                    }
                    None => {
                        finding.status = Status::NotApplicable;
                        finding.summary = "the card never answered a wrong PIN".into();
                    }
                }
            }
            Predicate::CopesWith { answer } => {
                let provoked = self.located.iter().find(|l| provokes(l, *answer));
                let Some(provoked) = provoked else {
                    finding.status = Status::NotApplicable;
                    finding.summary = format!("the card never gave {}", provocation_name(*answer));
                    return finding;
                };
                let index = self.index_of(provoked);
                finding.excerpt = self.around(index, 2, 3);
                match self.answered_calls_after(provoked.exchange.at) {
                    Some(call) => {
                        finding.status = Status::Pass;
                        finding.summary = format!(
                            "after {} the device went on and reached the qualification system ({} {})",
                            provocation_name(*answer),
                            call.path,
                            call.outcome().unwrap_or("")
                        );
                        finding.oqs_request = Some(call.request_summary());
                    }
                    None => {
                        finding.summary = format!(
                            "after {} the reception never reached the qualification system",
                            provocation_name(*answer)
                        );
                    }
                }
            }
            Predicate::WaitsForSlowCard { min_ms } => {
                let slow = self.apdus().find(|l| {
                    l.ins() == Some(Instruction::ComputeDigitalSignature)
                        && l.exchange.card_time.as_millis() >= u128::from(*min_ms)
                        && l.sw() == Some(0x9000)
                });
                let Some(slow) = slow else {
                    finding.summary = format!(
                        "no signature taking {min_ms} ms or more was completed by the card"
                    );
                    finding.excerpt = self.lines(&self.apdus().collect::<Vec<_>>());
                    return finding;
                };
                let index = self.index_of(slow);
                finding.excerpt = self.around(index, 1, 3);
                let call = self.case.calls.iter().find(|call| {
                    call.at >= slow.exchange.at
                        && call.is_check()
                        && call.status == 200
                        && !call.outcome().is_some_and(|o| PROOF_FAILURES.contains(&o))
                });
                let interrupted = self.located[index..].iter().find(|l| {
                    matches!(l.exchange.kind, EventKind::Reset | EventKind::PowerOff)
                        && call.is_none_or(|c| l.exchange.at < c.at)
                });
                match (call, interrupted) {
                    (Some(call), None) => {
                        finding.status = Status::Pass;
                        finding.summary = format!(
                            "the device waited {} ms for the signature and sent the check",
                            slow.exchange.card_time.as_millis()
                        );
                        finding.oqs_request = Some(call.request_summary());
                    }
                    (_, Some(event)) => {
                        finding.summary = format!(
                            "the device {} the card after the slow signature instead of using it",
                            if event.exchange.kind == EventKind::Reset {
                                "reset"
                            } else {
                                "powered off"
                            }
                        );
                    }
                    (None, None) => {
                        finding.summary =
                            "the slow signature was never used in a qualification check".into();
                    }
                }
            }
            Predicate::ProofOfPossession => {
                let checks: Vec<&OqsCall> = self
                    .case
                    .calls
                    .iter()
                    .filter(|c| c.is_check() && is_pin_identity(c))
                    .collect();
                let Some(first) = checks.first() else {
                    finding.summary = "no PIN qualification check was made".into();
                    return finding;
                };
                finding.oqs_request = Some(first.request_summary());
                for call in &checks {
                    let has = |key: &str| {
                        call.request
                            .get(key)
                            .and_then(|v| v.as_str())
                            .is_some_and(|s| !s.is_empty())
                    };
                    let outcome = call.outcome().unwrap_or("");
                    let refused = call.status != 200 || PROOF_FAILURES.contains(&outcome);
                    if !has("challenge") || !has("signature") || refused {
                        finding.oqs_request = Some(call.request_summary());
                        finding.summary = if !has("challenge") || !has("signature") {
                            "a PIN check carried no challenge and signature".into()
                        } else {
                            format!(
                                "the qualification system refused the proof: HTTP {} {}",
                                call.status,
                                call.response
                                    .get("message")
                                    .or_else(|| call.response.get("outcome"))
                                    .map(|v| v.to_string())
                                    .unwrap_or_default()
                            )
                        };
                        return finding;
                    }
                }
                let challenged = self
                    .case
                    .calls
                    .iter()
                    .any(|c| c.path == "/v1/challenge" && c.at <= first.at);
                if !challenged {
                    finding.summary = "the check's challenge was not asked for first".into();
                    return finding;
                }
                finding.status = Status::Pass;
                finding.summary = format!(
                    "{} PIN check(s), each with a challenge signed by the card and accepted",
                    checks.len()
                );
                finding.excerpt = self.lines(
                    &self
                        .apdus()
                        .filter(|l| l.ins() == Some(Instruction::ComputeDigitalSignature))
                        .collect::<Vec<_>>(),
                );
            }
            Predicate::FaceRoute { pin_file } => {
                let Some(pin_file) = decode(pin_file) else {
                    return finding;
                };
                let pin_sent = self.apdus().find(|l| l.is_verify_with_pin(&pin_file));
                let collation = self.apdus().find(|l| {
                    l.ap == Some(AID_SURFACE)
                        && l.ins() == Some(Instruction::Verify)
                        && l.presents_secret()
                        && l.sw() == Some(0x9000)
                });
                let face_check = self
                    .case
                    .calls
                    .iter()
                    .find(|c| c.is_check() && !is_pin_identity(c));
                finding.oqs_request = face_check.map(OqsCall::request_summary);
                match (pin_sent, collation) {
                    (Some(pin), _) => {
                        finding.summary = "the PIN was sent on the face route".into();
                        finding.excerpt = self.around(self.index_of(pin), 2, 1);
                    }
                    (None, None) => {
                        finding.summary =
                            "the surface application was never opened with 照合番号B".into();
                        finding.excerpt = self.lines(&self.apdus().collect::<Vec<_>>());
                    }
                    (None, Some(collation)) => {
                        finding.status = Status::Pass;
                        finding.summary =
                            "照合番号B opened the surface application; no PIN was sent".into();
                        finding.excerpt = self.around(self.index_of(collation), 2, 1);
                    }
                }
            }
            Predicate::NeverOffersPin { pin_file } => {
                let Some(pin_file) = decode(pin_file) else {
                    return finding;
                };
                if let Some(pin) = self.apdus().find(|l| l.is_verify_with_pin(&pin_file)) {
                    finding.summary = "a PIN was sent to a card without one".into();
                    finding.excerpt = self.around(self.index_of(pin), 2, 1);
                    return finding;
                }
                if display_judged_by_operator {
                    finding.status = Status::Pass;
                    finding.summary = "no PIN was sent to the card".into();
                    return finding;
                }
                finding.kind = witness_kind(self.case.witness);
                let offered = self
                    .case
                    .steps
                    .iter()
                    .find(|s| s.shown().is_some_and(|shown| shown.pin_offered));
                match offered {
                    Some(step) => {
                        finding.summary = format!(
                            "the device offered PIN entry after step {} ({})",
                            step.index, step.action
                        );
                    }
                    None if self.case.steps.iter().all(|s| s.shown().is_none()) => {
                        finding.summary = "the device reported no screens".into();
                    }
                    None => {
                        finding.status = Status::Pass;
                        finding.summary = "PIN entry was never offered and no PIN was sent".into();
                    }
                }
            }
            Predicate::RegistrationCall => {
                let register = self.case.calls.iter().find(|c| c.is_register());
                match register {
                    Some(call) if call.status == 200 && call.outcome() == Some("registered") => {
                        finding.status = Status::Pass;
                        finding.summary = "the device ran the registration (registered)".into();
                        finding.oqs_request = Some(call.request_summary());
                    }
                    Some(call) => {
                        finding.summary = format!(
                            "the registration call did not register the card: HTTP {} {}",
                            call.status,
                            call.outcome().unwrap_or("")
                        );
                        finding.oqs_request = Some(call.request_summary());
                    }
                    None => finding.summary = "no registration call was made".into(),
                }
            }
            Predicate::NoVerifiedStateLeft { file } => {
                let Some(file) = decode(file) else {
                    return finding;
                };
                let last = self
                    .apdus()
                    .filter(|l| l.is_verify_with_pin(&file) && l.sw() == Some(0x9000))
                    .last();
                let Some(last) = last else {
                    finding.status = Status::NotApplicable;
                    finding.summary = "the PIN was never verified".into();
                    return finding;
                };
                let index = self.index_of(last);
                for item in &self.located[index + 1..] {
                    match item.exchange.kind {
                        EventKind::PowerOff => {
                            finding.status = Status::Pass;
                            finding.summary =
                                "the device powered the card off after the reception".into();
                            finding.excerpt = self.around(self.index_of(item), 2, 0);
                            return finding;
                        }
                        // The harness took the card away (the link goes down first, then the
                        // card loses power): whatever happens after is not the device's doing.
                        EventKind::LinkDown | EventKind::Removed => break,
                        _ => {}
                    }
                    if let Some(command) = item.exchange.parsed() {
                        let success = item.sw() == Some(0x9000);
                        let other_ap = match command.selects() {
                            Some(Target::Application(aid)) => aid != file.aid,
                            Some(Target::MasterFile) => true,
                            Some(Target::File(_)) | None => false,
                        };
                        if success && other_ap {
                            finding.status = Status::Pass;
                            finding.summary =
                                "the device left the application after the reception".into();
                            finding.excerpt = self.around(self.index_of(item), 2, 0);
                            return finding;
                        }
                    }
                }
                finding.summary = "the verified PIN was left open: no power-off and no other application selected before the card was taken away".into();
                finding.excerpt = self.around(index, 0, 12);
            }
            Predicate::Shown {
                qualification,
                message,
                screen,
                fallback_guidance,
            } => {
                finding.kind = witness_kind(self.case.witness);
                // What the reception ended with: the screen once the patient has taken the
                // card back says nothing more.
                let answered: Vec<_> = self
                    .case
                    .steps
                    .iter()
                    .filter(|s| s.shown().is_some() && s.action != REMOVE_CARD_ACTION)
                    .collect();
                let Some(last) = answered.last().and_then(|s| s.shown()) else {
                    finding.summary = "the device reported nothing it shows".into();
                    return finding;
                };
                let mut problems = Vec::new();
                if let Some(expected) = qualification {
                    if last.qualification.as_deref() != Some(expected.as_str()) {
                        problems.push(format!(
                            "qualification shown {:?}, expected {expected:?}",
                            last.qualification
                        ));
                    }
                }
                if let Some(expected) = message {
                    let shown = answered
                        .iter()
                        .filter_map(|s| s.shown())
                        .any(|s| s.messages.iter().any(|m| m == expected));
                    if !shown {
                        problems.push(format!("message {expected} was never shown"));
                    }
                }
                if let Some(expected) = screen {
                    if last.screen.as_deref() != Some(expected.as_str()) {
                        problems.push(format!(
                            "final screen {:?}, expected {expected:?}",
                            last.screen
                        ));
                    }
                }
                if *fallback_guidance {
                    if last.guidance.as_deref().is_none_or(str::is_empty) {
                        problems.push("no fallback guidance shown".into());
                    }
                    if let Some(q) = &last.qualification {
                        problems.push(format!("a qualification result {q:?} was shown"));
                    }
                }
                finding.excerpt = answered
                    .iter()
                    .map(|s| {
                        format!(
                            "step {} {}: {}",
                            s.index,
                            s.action,
                            serde_json::to_string(&s.shown()).unwrap_or_default()
                        )
                    })
                    .collect();
                if problems.is_empty() {
                    finding.status = Status::Pass;
                    finding.summary = "the device showed what was expected".into();
                } else {
                    finding.summary = problems.join("; ");
                }
                finding.oqs_request = self
                    .case
                    .calls
                    .iter()
                    .rfind(|c| c.is_check())
                    .map(OqsCall::request_summary);
            }
        }
        finding
    }
}

fn is_pin_identity(call: &OqsCall) -> bool {
    match call.request.get("identity").and_then(|v| v.as_str()) {
        None => true,
        Some(identity) => identity == "pin",
    }
}

fn provokes(item: &Located<'_>, answer: Provocation) -> bool {
    let Some(sw) = item.sw() else {
        return answer == Provocation::Removal && item.exchange.kind == EventKind::Removed;
    };
    match answer {
        Provocation::EndOfFile6B00 => item.is_read() && sw == 0x6B00,
        Provocation::ShortLastChunk => {
            item.is_read()
                && sw == 0x9000
                && item.exchange.data_len() > 0
                && item
                    .exchange
                    .parsed()
                    .and_then(|c| c.le)
                    .is_some_and(|le| item.exchange.data_len() < le)
        }
        Provocation::BytesAvailable61xx => sw >> 8 == 0x61,
        Provocation::WrongLength6Cxx => sw >> 8 == 0x6C,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::certify::catalogue::FileRef;
    use crate::certify::observed::StepRecord;

    const SELECT_JPKI: &str = "00A4040C0AD392F000260100000001";
    const SELECT_PIN: &str = "00A4020C020018";
    const QUERY: &str = "00200080";

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    fn apdu(ms: i64, command: &str, response: &str) -> Exchange {
        Exchange {
            at: at(ms),
            kind: EventKind::Apdu,
            command: hex::decode(command).unwrap(),
            response: hex::decode(response).unwrap(),
            card_time: Duration::ZERO,
        }
    }

    fn event(ms: i64, kind: EventKind) -> Exchange {
        Exchange {
            at: at(ms),
            kind,
            command: Vec::new(),
            response: Vec::new(),
            card_time: Duration::ZERO,
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

    fn case(exchanges: Vec<Exchange>, steps: Vec<StepRecord>) -> CaseObservation {
        CaseObservation {
            case: "c".into(),
            started: at(0),
            ended: at(10_000),
            exchanges,
            calls: Vec::new(),
            steps,
            operator_answers: Vec::new(),
            witness: Witness::DriverReported,
            aborted: None,
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

    fn verified_session(tail: Vec<Exchange>) -> CaseObservation {
        let mut exchanges = vec![
            event(1, EventKind::PowerOn),
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
        let by_device = verified_session(vec![event(9, EventKind::PowerOff)]);
        assert_eq!(evaluate(predicate(), &by_device).status, Status::Pass);

        // The harness pulling the card: the link goes down, then the card loses power.
        let by_harness = verified_session(vec![
            event(9, EventKind::LinkDown),
            event(9, EventKind::PowerOff),
            event(9, EventKind::Removed),
        ]);
        assert_eq!(evaluate(predicate(), &by_harness).status, Status::Fail);

        // A warm reset keeps a verified PIN on a real card.
        let reset = verified_session(vec![event(9, EventKind::Reset)]);
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
            Status::NotApplicable
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
        assert_eq!(finding.status, Status::NotApplicable);

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

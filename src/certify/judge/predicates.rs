//! The requirement predicates, one function each: what the requirement constrains, when that
//! behaviour happened (otherwise `not_exercised`, with why), and the evidence either way.

use super::{
    is_blocked, is_pin_identity, provocation_name, provokes, quoted, CaseView, Expected, Finding,
    Located, PROOF_FAILURES, REMOVE_CARD_ACTION,
};
use crate::apdu::ids::AID_SURFACE;
use crate::apdu::{PinStatus, StatusWord, Target};
use crate::certify::catalogue::{CardFile, FileRef, Provocation};
use crate::certify::observed::OqsCall;
use crate::trace::Event;

/// Why a card-side requirement was not exercised when the device never talked to the card.
const NEVER_TALKED: &str = "the device never sent a command to the card";

impl CaseView<'_> {
    pub(super) fn selects_before_read(&self, aid: &str) -> Finding {
        let aid = crate::certify::catalogue::decode_aid(aid).ok();
        let unselected = self.apdus().find(|l| l.is_read() && l.ap.is_none());
        let in_ap = self.apdus().find(|l| l.is_read() && l.ap == aid);
        match (unselected, in_ap) {
            (Some(bad), _) => self
                .fail("a READ BINARY was sent before any application was selected")
                .with_excerpt(self.around(self.index_of(bad), 4, 1)),
            (None, Some(good)) => self
                .pass("every READ BINARY came after a successful SELECT of the application")
                .with_excerpt(self.around(self.index_of(good), 4, 0)),
            (None, None) => self.not_exercised("the device read nothing from the application"),
        }
    }

    pub(super) fn reads_file(&self, file: &CardFile) -> Finding {
        let read = self.apdus().find(|l| {
            l.is_read() && l.addresses(file) && l.sw().is_some_and(StatusWord::delivers_data)
        });
        match read {
            Some(read) => self
                .pass(format!("EF {:04X} was read", file.fid))
                .with_excerpt(self.around(self.index_of(read), 2, 1)),
            None => self
                .fail(format!("EF {:04X} was never read", file.fid))
                .with_excerpt(self.all_apdu_lines()),
        }
    }

    pub(super) fn never_reads(&self, files: &[FileRef]) -> Finding {
        let files: Vec<CardFile> = files.iter().filter_map(|f| f.decode().ok()).collect();
        if let Some(bad) = self
            .apdus()
            .find(|l| l.is_read() && files.iter().any(|f| l.addresses(f)))
        {
            return self
                .fail(format!(
                    "the device tried to read EF {:04X}, which it must never read",
                    bad.ef.unwrap_or_default()
                ))
                .with_excerpt(self.around(self.index_of(bad), 2, 1));
        }
        // Reading nothing at all is not keeping away from those files.
        match self.apdus().filter(|l| l.is_read()).last() {
            Some(last) => self
                .pass("the device read the card and none of the forbidden files")
                .with_excerpt(self.around(self.index_of(last), 2, 0)),
            None => self.not_exercised("the device read nothing from the card"),
        }
    }

    pub(super) fn retry_query_before_verify(&self, file: &CardFile) -> Finding {
        let mut queried = false;
        let mut verified_any = None;
        for item in &self.located {
            if item.ends_card_session() {
                queried = false;
            }
            if !item.is_verify(file) {
                continue;
            }
            if !item.is_verify_with_pin(file) {
                queried = true;
                continue;
            }
            if !queried {
                return self
                    .fail("a PIN was sent without querying the retry counter first in the same card session")
                    .with_excerpt(self.around(self.index_of(item), 5, 1));
            }
            verified_any = Some(item);
        }
        match verified_any {
            Some(item) => self
                .pass("each PIN VERIFY followed a retry-counter query")
                .with_excerpt(self.around(self.index_of(item), 3, 0)),
            None => self.not_exercised("no PIN was sent to the card"),
        }
    }

    pub(super) fn no_verify_after_blocked(&self, file: &CardFile) -> Finding {
        let mut blocked_at = None;
        for item in self.apdus().filter(|l| l.is_verify(file)) {
            if let Some(at) = blocked_at {
                if item.is_verify_with_pin(file) {
                    let mut excerpt = self.around(at, 0, 0);
                    excerpt.extend(self.around(self.index_of(item), 1, 0));
                    return self
                        .fail("a PIN was sent after the card had said the PIN is blocked")
                        .with_excerpt(excerpt);
                }
            }
            if is_blocked(item.sw()) {
                blocked_at.get_or_insert(self.index_of(item));
            }
        }
        match blocked_at {
            Some(at) => self
                .pass("no PIN was sent after the card said the PIN is blocked")
                .with_excerpt(self.around(at, 2, 2)),
            None => self.not_exercised("the card never told the device that the PIN is blocked"),
        }
    }

    pub(super) fn one_verify_per_entry(&self, file: &CardFile) -> Finding {
        let entries: Vec<_> = self
            .case
            .steps
            .iter()
            .filter(|s| s.pin_entry)
            .map(|s| s.started)
            .collect();
        if entries.is_empty() {
            return self.not_exercised("the case has no PIN entry");
        }
        let mut items: Vec<Vec<&Located<'_>>> = vec![Vec::new(); entries.len() + 1];
        for item in self.apdus().filter(|l| l.is_verify_with_pin(file)) {
            let window = entries.iter().filter(|t| **t <= item.at).count();
            items[window].push(item);
        }
        if !items[0].is_empty() {
            return self
                .fail("a PIN was sent before the operator entered one")
                .with_excerpt(self.lines(&items[0]));
        }
        if let Some(window) = items.iter().position(|sent| sent.len() > 1) {
            return self
                .fail(format!(
                    "PIN entry {window} was sent to the card {} times",
                    items[window].len()
                ))
                .with_excerpt(self.lines(&items[window]));
        }
        let sent = items.concat();
        if sent.is_empty() {
            return self.not_exercised("no entered PIN was sent to the card");
        }
        self.pass(format!(
            "{} PIN entries, {} VERIFY, at most one each",
            entries.len(),
            sent.len()
        ))
        .with_excerpt(self.lines(&sent))
    }

    pub(super) fn nothing_after_wrong_pin(&self, file: &CardFile) -> Finding {
        let pin_check_between = |from: &Located<'_>, until: Option<&Located<'_>>| {
            self.calls().find(|call| {
                call.is_check()
                    && is_pin_identity(call)
                    && call.at > from.at
                    && until.is_none_or(|u| call.at < u.at)
            })
        };
        let mut wrong: Option<&Located<'_>> = None;
        let mut seen_wrong = None;
        for item in self.apdus() {
            if let Some(pending) = wrong {
                let check = pin_check_between(pending, Some(item));
                if item.is_sign() || check.is_some() {
                    return self
                        .fail(if item.is_sign() {
                            "after a wrong PIN the device asked the card to sign"
                        } else {
                            "after a wrong PIN the device sent a qualification check"
                        })
                        .with_excerpt(self.around(self.index_of(pending), 0, 3))
                        .with_call(check);
                }
            }
            if item.is_verify_with_pin(file) {
                match item.sw().and_then(StatusWord::pin_status) {
                    Some(PinStatus::TriesLeft(_)) => {
                        wrong = Some(item);
                        seen_wrong.get_or_insert(item);
                    }
                    Some(PinStatus::Verified) => wrong = None,
                    _ => {}
                }
            }
        }
        if let Some(pending) = wrong {
            if let Some(call) = pin_check_between(pending, None) {
                return self
                    .fail("after a wrong PIN the device sent a qualification check")
                    .with_excerpt(self.around(self.index_of(pending), 0, 3))
                    .with_call(Some(call));
            }
        }
        match seen_wrong {
            Some(item) => self
                .pass(
                    "after the wrong PIN the device neither signed nor checked until a correct PIN",
                )
                .with_excerpt(self.around(self.index_of(item), 1, 3)),
            None => self.not_exercised("the card never answered a wrong PIN"),
        }
    }

    pub(super) fn copes_with(&self, answer: Provocation) -> Finding {
        let Some(provoked) = self.located.iter().find(|l| provokes(l, answer)) else {
            return self.not_exercised(format!("the card never gave {}", provocation_name(answer)));
        };
        let excerpt = self.around(self.index_of(provoked), 2, 3);
        match self.reception_call_after(provoked.at) {
            Some(call) => self
                .pass(format!(
                    "after {} the device went on with the reception and reached the qualification system ({})",
                    provocation_name(answer),
                    call.path
                ))
                .with_excerpt(excerpt)
                .with_call(Some(call)),
            None => self
                .fail(format!(
                    "after {} the reception never reached the qualification system",
                    provocation_name(answer)
                ))
                .with_excerpt(excerpt),
        }
    }

    pub(super) fn waits_for_slow_card(&self, min_ms: u64) -> Finding {
        let slow = self.apdus().find(|l| {
            l.is_sign()
                && l.exchange()
                    .and_then(|e| e.card_time)
                    .is_some_and(|time| time.as_millis() >= u128::from(min_ms))
                && l.sw().is_some_and(StatusWord::is_success)
        });
        let Some(slow) = slow else {
            return self.not_exercised(format!(
                "the card never completed a signature taking {min_ms} ms or more"
            ));
        };
        let index = self.index_of(slow);
        let excerpt = self.around(index, 1, 3);
        let took = slow
            .exchange()
            .and_then(|e| e.card_time)
            .unwrap_or_default()
            .as_millis();
        let call = self
            .calls()
            .find(|call| call.at >= slow.at && call.is_check());
        let interrupted = self.located[index..].iter().find(|l| {
            matches!(l.entry.event, Event::Reset { .. } | Event::PowerOff)
                && call.is_none_or(|c| l.at < c.at)
        });
        match (call, interrupted) {
            (Some(call), None) => self
                .pass(format!(
                    "the device waited {took} ms for the signature and sent the check"
                ))
                .with_excerpt(excerpt)
                .with_call(Some(call)),
            (_, Some(event)) => self
                .fail(format!(
                    "the device {} the card after the slow signature instead of using it",
                    if matches!(event.entry.event, Event::Reset { .. }) {
                        "reset"
                    } else {
                        "powered off"
                    }
                ))
                .with_excerpt(excerpt),
            (None, None) => self
                .fail("the slow signature was never used in a qualification check")
                .with_excerpt(excerpt),
        }
    }

    pub(super) fn proof_of_possession(&self) -> Finding {
        let checks: Vec<&OqsCall> = self
            .calls()
            .filter(|c| c.is_check() && is_pin_identity(c))
            .collect();
        let Some(first) = checks.first() else {
            return self.fail("no PIN qualification check was made");
        };
        for call in &checks {
            let has = |key: &str| {
                call.request
                    .get(key)
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| !s.is_empty())
            };
            if !has("challenge") || !has("signature") {
                return self
                    .fail("a PIN check carried no challenge and signature")
                    .with_call(Some(call));
            }
            let outcome = call.outcome().unwrap_or("");
            if call.status != 200 || PROOF_FAILURES.contains(&outcome) {
                let said = call
                    .response
                    .get("message")
                    .or_else(|| call.response.get("outcome"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                return self
                    .fail(format!(
                        "the qualification system refused the proof: HTTP {} {said}",
                        call.status
                    ))
                    .with_call(Some(call));
            }
        }
        if !self
            .calls()
            .any(|c| c.path == "/v1/challenge" && c.at <= first.at)
        {
            return self
                .fail("the check's challenge was not asked for first")
                .with_call(Some(first));
        }
        let signatures: Vec<_> = self.apdus().filter(|l| l.is_sign()).collect();
        self.pass(format!(
            "{} PIN check(s), each with a challenge signed by the card and accepted",
            checks.len()
        ))
        .with_excerpt(self.lines(&signatures))
        .with_call(Some(first))
    }

    pub(super) fn face_route(&self, pin_file: &CardFile) -> Finding {
        let pin_sent = self.apdus().find(|l| l.is_verify_with_pin(pin_file));
        let collation = self.apdus().find(|l| {
            l.ap == Some(AID_SURFACE)
                && l.ins() == Some(crate::apdu::Instruction::Verify)
                && l.command().is_some_and(|c| c.presents_secret())
                && l.sw().is_some_and(StatusWord::is_success)
        });
        let face_check = self.calls().find(|c| c.is_check() && !is_pin_identity(c));
        let found = match (pin_sent, collation) {
            (Some(pin), _) => self
                .fail("the PIN was sent on the face route")
                .with_excerpt(self.around(self.index_of(pin), 2, 1)),
            (None, None) => self
                .fail("the surface application was never opened with 照合番号B")
                .with_excerpt(self.all_apdu_lines()),
            (None, Some(collation)) => self
                .pass("照合番号B opened the surface application; no PIN was sent")
                .with_excerpt(self.around(self.index_of(collation), 2, 1)),
        };
        found.with_call(face_check)
    }

    pub(super) fn never_offers_pin(
        &self,
        pin_file: &CardFile,
        display_judged_by_operator: bool,
    ) -> Finding {
        if let Some(pin) = self.apdus().find(|l| l.is_verify_with_pin(pin_file)) {
            return self
                .fail("a PIN was sent to a card without one")
                .with_excerpt(self.around(self.index_of(pin), 2, 1));
        }
        // Sending no PIN proves nothing when the device never talked to the card.
        if self.apdus().next().is_none() {
            return self.not_exercised(NEVER_TALKED);
        }
        if display_judged_by_operator {
            return self.pass("no PIN was sent to the card");
        }
        let witness = self.case.witness;
        let offered = self
            .case
            .steps
            .iter()
            .find(|s| s.shown().is_some_and(|shown| shown.pin_offered));
        match offered {
            Some(step) => self.fail(format!(
                "the device offered PIN entry after step {} ({})",
                step.index, step.action
            )),
            None if self.case.steps.iter().all(|s| s.shown().is_none()) => {
                self.fail("the device reported no screens")
            }
            None => self.pass("PIN entry was never offered and no PIN was sent"),
        }
        .witnessed_by(witness)
    }

    pub(super) fn registration_call(&self) -> Finding {
        match self.calls().find(|c| c.is_register()) {
            Some(call) if call.status == 200 && call.outcome() == Some("registered") => self
                .pass("the device ran the registration (registered)")
                .with_call(Some(call)),
            Some(call) => self
                .fail(format!(
                    "the registration call did not register the card: HTTP {} {}",
                    call.status,
                    call.outcome().unwrap_or("")
                ))
                .with_call(Some(call)),
            None => self.fail("no registration call was made"),
        }
    }

    pub(super) fn no_verified_state_left(&self, file: &CardFile) -> Finding {
        let last = self
            .apdus()
            .filter(|l| l.is_verify_with_pin(file) && l.sw().is_some_and(StatusWord::is_success))
            .last();
        let Some(last) = last else {
            return self.not_exercised("the PIN was never verified");
        };
        let index = self.index_of(last);
        for item in &self.located[index + 1..] {
            match item.entry.event {
                Event::PowerOff => {
                    return self
                        .pass("the device powered the card off after the reception")
                        .with_excerpt(self.around(self.index_of(item), 2, 0));
                }
                // The harness took the card away (the link goes down first, then the card
                // loses power): whatever happens after is not the device's doing.
                Event::LinkDown { .. } | Event::Removed => break,
                _ => {}
            }
            let Some(command) = item.command() else {
                continue;
            };
            let other_ap = match command.selects() {
                Some(Target::Application(aid)) => aid != file.aid,
                Some(Target::MasterFile) => true,
                Some(Target::File(_)) | None => false,
            };
            if other_ap && item.sw().is_some_and(StatusWord::is_success) {
                return self
                    .pass("the device left the application after the reception")
                    .with_excerpt(self.around(self.index_of(item), 2, 0));
            }
        }
        self.fail("the verified PIN was left open: no power-off and no other application selected before the card was taken away")
            .with_excerpt(self.around(index, 0, 12))
    }

    pub(super) fn shown(&self, expected: &Expected<'_>) -> Finding {
        // What the reception ended with: the screen once the patient has taken the card back
        // says nothing more.
        let answered: Vec<_> = self
            .case
            .steps
            .iter()
            .filter(|s| s.shown().is_some() && s.action != REMOVE_CARD_ACTION)
            .collect();
        let excerpt = answered
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
        let last_check = self.calls().filter(|c| c.is_check()).last();
        let found = match answered.last().and_then(|s| s.shown()) {
            None => self.fail("the device reported nothing it shows"),
            // A result the device never asked for is not a result: whatever it shows, it did
            // not get it from the qualification system.
            Some(_) if last_check.is_none() => {
                self.fail("the device showed a result without asking the qualification system")
            }
            Some(last) => {
                let mut problems = Vec::new();
                if let Some(want) = expected.qualification {
                    if last.qualification.as_deref() != Some(want) {
                        problems.push(format!(
                            "qualification shown {}, expected `{want}`",
                            quoted(last.qualification.as_deref())
                        ));
                    }
                }
                if let Some(want) = expected.message {
                    let shown = answered
                        .iter()
                        .filter_map(|s| s.shown())
                        .any(|s| s.messages.iter().any(|m| m == want));
                    if !shown {
                        problems.push(format!("message {want} was never shown"));
                    }
                }
                if let Some(want) = expected.screen {
                    if last.screen.as_deref() != Some(want) {
                        problems.push(format!(
                            "final screen {}, expected `{want}`",
                            quoted(last.screen.as_deref())
                        ));
                    }
                }
                if expected.fallback_guidance {
                    if last.guidance.as_deref().is_none_or(str::is_empty) {
                        problems.push("no fallback guidance shown".into());
                    }
                    if let Some(q) = &last.qualification {
                        problems.push(format!("a qualification result `{q}` was shown"));
                    }
                }
                if problems.is_empty() {
                    self.pass("the device showed what was expected")
                } else {
                    self.fail(problems.join("; "))
                }
            }
        };
        found
            .with_excerpt(excerpt)
            .with_call(last_check)
            .witnessed_by(self.case.witness)
    }
}

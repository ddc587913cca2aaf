//! The smartphone requirements (`PHONE-*`, docs/certify.md): judged from the face reader's
//! card slot, the generic reader's slot (the phone's), the qualification system's calls (whose
//! `credential` is the service's own finding that a phone credential was presented) and the
//! device's reports.

use super::{is_pin_identity, quoted, CaseView, Finding, REMOVE_CARD_ACTION};
use crate::apdu::ids::AID_SURFACE;
use crate::apdu::{Instruction, StatusWord};
use crate::certify::catalogue::CardFile;
use crate::certify::observed::{OqsCall, StepRecord};

/// How the run names the step that chooses スマートフォン (see `run::describe_action`).
const CHOOSE_SMARTPHONE_ACTION: &str = "choose_smartphone";
/// How the run names the phone PIN steps (the PIN itself hidden).
const PHONE_PIN_ACTION: &str = "enter_phone_pin";
/// How the run names the step where the patient takes the phone back.
const REMOVE_PHONE_ACTION: &str = "remove_phone";
/// The qualification system's refusal of a phone past its expiry (docs/openapi.yaml).
const SMARTPHONE_EXPIRED: &str = "smartphone_expired";

impl<'a> CaseView<'a> {
    /// The same case as seen on the generic reader's slot.
    pub(super) fn phone_view(&self) -> CaseView<'a> {
        CaseView::over(self.case, &self.case.phone_log)
    }

    /// The steps from the スマートフォン choice on; `None` when the case never made it.
    fn phone_reception(&self) -> Option<&'a [StepRecord]> {
        let steps = &self.case.steps;
        let first = steps
            .iter()
            .position(|s| s.action == CHOOSE_SMARTPHONE_ACTION)?;
        Some(&steps[first..])
    }

    /// The checks that presented a phone credential: by the qualification system's finding,
    /// or, for a request it refused before looking at the certificate (no proof of
    /// possession), by the request's own `smartphone` field.
    fn phone_checks(&self) -> Vec<&'a OqsCall> {
        self.calls()
            .filter(|call| call.is_check() && presents_phone(call))
            .collect()
    }

    pub(super) fn phone_no_face_route(&self) -> Finding {
        let Some(reception) = self.phone_reception() else {
            return self.not_exercised("the case never chose the smartphone");
        };
        if let Some(step) = reception
            .iter()
            .find(|s| s.shown().is_some_and(|shown| shown.face_offered))
        {
            return self
                .fail(format!(
                    "the device offered face authentication for the phone after step {} ({})",
                    step.index, step.action
                ))
                .witnessed_by(self.case.witness);
        }
        let since = reception[0].started;
        if let Some(collation) = self.apdus().find(|l| {
            l.at >= since
                && l.ap == Some(AID_SURFACE)
                && l.ins() == Some(Instruction::Verify)
                && l.command().is_some_and(|c| c.presents_secret())
        }) {
            return self
                .fail("the device ran the face route's 照合番号B on the face reader during the phone reception")
                .with_excerpt(self.around(self.index_of(collation), 2, 1));
        }
        let checks = self.phone_checks();
        let Some(first) = checks.first() else {
            return self.not_exercised("no check presented a phone credential");
        };
        if let Some(face) = checks.iter().find(|call| !is_pin_identity(call)) {
            let identity = face
                .request
                .get("identity")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            return self
                .fail(format!(
                    "the phone's check went out as identity `{identity}`, not as the phone's own verification (pin)"
                ))
                .with_call(Some(face));
        }
        self.pass(format!(
            "no face authentication was offered for the phone; its {} check(s) carried identity pin",
            checks.len()
        ))
        .with_call(Some(first))
    }

    pub(super) fn phone_pin_to_phone(&self, phone: &CaseView<'_>, file: &CardFile) -> Finding {
        let Some(entry) = self
            .case
            .steps
            .iter()
            .find(|s| s.action.starts_with(PHONE_PIN_ACTION))
        else {
            return self.not_exercised("the case has no phone PIN entry");
        };
        if let Some(to_card) = self
            .apdus()
            .find(|l| l.at >= entry.started && l.is_verify_with_pin(file))
        {
            return self
                .fail("the PIN typed for the phone was sent to the card on the face reader")
                .with_excerpt(self.around(self.index_of(to_card), 3, 1));
        }
        let sent: Vec<_> = phone
            .apdus()
            .filter(|l| l.is_verify_with_pin(file))
            .collect();
        if sent.is_empty() {
            return self.not_exercised("no PIN reached the phone on the generic reader");
        }
        self.pass(format!(
            "the phone's PIN went to the phone ({} VERIFY on the generic reader) and never to the card",
            sent.len()
        ))
        .with_excerpt(phone.lines(&sent))
    }

    pub(super) fn phone_refused_past_expiry(&self, display_judged_by_operator: bool) -> Finding {
        let checks = self.phone_checks();
        if checks.is_empty() {
            return self.not_exercised("no check presented a phone credential");
        }
        let Some(refused) = checks
            .iter()
            .find(|call| call.outcome() == Some(SMARTPHONE_EXPIRED))
        else {
            return self
                .not_exercised("the qualification system never refused the phone as expired");
        };
        if display_judged_by_operator {
            return self
                .pass("the phone credential past its card's expiry was refused")
                .with_call(Some(refused));
        }
        // What the reception ended with, before the patient took the phone (or card) back.
        let answered: Vec<_> = self
            .case
            .steps
            .iter()
            .filter(|s| {
                s.shown().is_some()
                    && s.action != REMOVE_PHONE_ACTION
                    && s.action != REMOVE_CARD_ACTION
            })
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
        let found = match answered.last().and_then(|s| s.shown()) {
            None => self.fail("the device reported nothing it shows"),
            Some(last) if last.qualification.is_some() => self.fail(format!(
                "the device showed the qualification {} although the phone credential was refused (past its card's expiry, no grace)",
                quoted(last.qualification.as_deref())
            )),
            Some(_) => self.pass(
                "the phone credential past its card's expiry was refused and no qualification result was shown",
            ),
        };
        found
            .with_excerpt(excerpt)
            .with_call(Some(refused))
            .witnessed_by(self.case.witness)
    }

    pub(super) fn reads_phone_on_generic_reader(
        &self,
        phone: &CaseView<'_>,
        file: &CardFile,
    ) -> Finding {
        let read = phone.apdus().find(|l| {
            l.is_read() && l.addresses(file) && l.sw().is_some_and(StatusWord::delivers_data)
        });
        let during_phone = self.phone_reception().map(|steps| steps[0].started);
        // A phone reception that checked a card instead: the face reader's card was read.
        let card_check = during_phone.and_then(|since| {
            self.calls()
                .find(|c| c.is_check() && c.at >= since && !presents_phone(c))
        });
        if let Some(call) = card_check {
            return self
                .fail("the phone reception sent a check presenting a card's certificate, not the phone's")
                .with_call(Some(call));
        }
        let phone_check = self.phone_checks().into_iter().next();
        match (read, phone_check) {
            (Some(read), Some(check)) if read.at <= check.at => self
                .pass(format!(
                    "the phone's EF {:04X} was read on the generic reader and its check presented the phone credential",
                    file.fid
                ))
                .with_excerpt(phone.around(phone.index_of(read), 2, 1))
                .with_call(Some(check)),
            (_, Some(check)) => self
                .fail(format!(
                    "a check presented the phone credential without its EF {:04X} being read on the generic reader first",
                    file.fid
                ))
                .with_excerpt(phone.all_apdu_lines())
                .with_call(Some(check)),
            (Some(read), None) => self
                .fail("the phone was read on the generic reader but no check presented it")
                .with_excerpt(phone.around(phone.index_of(read), 2, 1)),
            (None, None) => self.not_exercised("the device read nothing on the generic reader"),
        }
    }

    pub(super) fn phone_no_verified_state_left(&self, file: &CardFile) -> Finding {
        let mut found = self.no_verified_state_left(file);
        found.summary = found.summary.replace("the card", "the phone");
        found
    }
}

/// Whether a call presented a phone credential (see [`CaseView::phone_checks`]).
fn presents_phone(call: &OqsCall) -> bool {
    call.credential.is_some()
        || call
            .request
            .get("smartphone")
            .is_some_and(serde_json::Value::is_string)
}

//! The step engine: one handler per scenario action, each checking its expectations.

use std::time::{Duration, Instant};

use crate::apdu::to_spaced_hex;
use crate::scenario::model::{Action, Scenario, Step};
use crate::scenario::schema::{
    PinsExpectation, PowerAction, PowerExpectation, ReaderEvent, ResponseExpectation,
    TransportErrorKind,
};
use crate::scenario::slot::{with_emulated_card, Applied, ReaderSlot};

use crate::apdu::StatusWord;
use crate::card::Card;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::InsuranceCardRequest;
use crate::pki::TestPki;
use crate::reader::{FaceOcr, Input, MessageCode, Screen, UnexpectedInput};
use crate::scenario::checks::{
    calls_hold, describe_call_expectations, describe_calls, json_text, reception_field_holds,
    Check, TranscriptRule,
};
use crate::scenario::schema::{
    written, FaceVerdict, InsuranceCardLookupDoc, ListMatch, ReceptionDoc, ReceptionStepExpectation,
};
use crate::trace::{Event, PinRecording, Transcript};
use crate::transport::recording::Recording;
use crate::transport::Transport;

use super::describe::{
    codes_text, describe_counters, describe_error, describe_messages, describe_pins_expectation,
    describe_power_expectation, describe_rapdu, describe_response_expectation, pin_matches,
};
use super::result::{micros, render_transcript, Note, ScenarioFailure, TranscriptEntry};
use super::world_state::{CardRack, WorldState};

/// Feeds one input to the reader of the current reception; returns its answer, the messages
/// shown meanwhile and what passed to and from the card.
fn feed(
    world: &mut WorldState,
    slot: &mut dyn ReaderSlot,
    phone_slot: Option<&mut (dyn ReaderSlot + 'static)>,
    input: Input,
) -> Fed {
    let messages_before = world.terminal.outcome().message_codes.len();
    let mut recording = Recording::new(slot.transport());
    let mut phone_recording = phone_slot.map(|slot| Recording::new(slot.transport()));
    let handled = world.terminal.handle_in_clinic(
        input,
        &mut recording,
        phone_recording
            .as_mut()
            .map(|phone| phone as &mut dyn Transport),
        &world.service,
    );
    Fed {
        handled,
        shown: world.terminal.outcome().message_codes[messages_before..].to_vec(),
        recorded: recording.take_transcript(),
        phone_recorded: phone_recording.map(|mut phone| phone.take_transcript()),
    }
}

/// What one input did: the reader's answer, the messages it showed, and what passed on the
/// card's slot and on the generic reader.
struct Fed {
    handled: Result<Screen, UnexpectedInput>,
    shown: Vec<MessageCode>,
    recorded: Transcript,
    phone_recorded: Option<Transcript>,
}

/// The state of one running scenario: its reader slot and what has happened so far.
pub(crate) struct Engine {
    pub(crate) slot: Box<dyn ReaderSlot>,
    pub(super) cards: CardRack,
    /// The runner's own lines (checks, power changes, events); the report's transcript is
    /// these and the exchange log, rendered when the scenario ends ([`render_transcript`]).
    pub(super) notes: Vec<Note>,
    /// Everything that passed between the reader and the card (by the scenario or the reader
    /// flow), secrets included, each entry with its step; hidden when rendered.
    pub(crate) exchanges: Transcript,
    pub(crate) world: Option<WorldState>,
    pub(super) show_pins: bool,
    pub(super) started: Instant,
    /// The world's phones and the clinic's generic reader (`phone`).
    pub(crate) phones: super::phone::Phones,
}

impl Engine {
    pub(super) fn now(&self) -> Duration {
        self.slot
            .elapsed()
            .unwrap_or_else(|| self.started.elapsed())
    }

    pub(super) fn log(&mut self, step: usize, direction: &'static str, text: String) {
        let at_us = micros(self.now());
        self.log_at(step, at_us, direction, text);
    }

    pub(super) fn log_at(
        &mut self,
        step: usize,
        at_us: u64,
        direction: &'static str,
        text: String,
    ) {
        self.notes.push(Note {
            line: TranscriptEntry {
                step,
                at_us,
                direction,
                text,
            },
            after: self.exchanges.entries.len(),
        });
    }

    /// The transcript as the report shows it, secrets hidden unless `--show-pins`.
    pub(crate) fn transcript(&self) -> Vec<TranscriptEntry> {
        render_transcript(&self.exchanges, &self.notes, self.pin_recording())
    }

    pub(super) fn pin_recording(&self) -> PinRecording {
        if self.show_pins {
            PinRecording::Kept
        } else {
            PinRecording::Redacted
        }
    }

    /// Keeps what a step's recording saw in the exchange log. The recording counts from its
    /// own start, `began` on the scenario's clock; the log's times never go back (the virtual
    /// reader's clock is simulated, a step's recording counts wall time).
    pub(super) fn keep(&mut self, step: usize, began: Duration, recorded: Transcript) {
        // On the virtual reader the clock is the card's own time: each command starts when
        // the one before it was answered.
        let simulated = self.slot.elapsed().is_some();
        let mut card_clock = began;
        for entry in recorded.entries {
            let at = if simulated {
                card_clock
            } else {
                began + entry.at
            };
            if let Event::Apdu(exchange) = &entry.event {
                card_clock += exchange.card_time.unwrap_or_default();
            }
            self.push_entry(step, at, entry.event);
        }
    }

    pub(super) fn push_entry(&mut self, step: usize, at: Duration, event: Event) {
        let last = self
            .exchanges
            .entries
            .last()
            .map_or(Duration::ZERO, |entry| entry.at);
        self.exchanges.push_in_step(at.max(last), step, event);
    }

    /// Notes a reader event (beside the transport) in the exchange log.
    pub(super) fn keep_event(&mut self, step: usize, event: Event) {
        let at = self.now();
        self.push_entry(step, at, event);
    }

    /// Every command sent in the scenario, with its step.
    pub(super) fn sent_commands(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.exchanges
            .entries
            .iter()
            .filter_map(|entry| match &entry.event {
                Event::Apdu(exchange) => Some((entry.step?, exchange.command.as_slice())),
                _ => None,
            })
    }

    pub(super) fn fail(step: &Step, expected: String, actual: String) -> ScenarioFailure {
        ScenarioFailure {
            step: step.index,
            step_title: step.title(),
            line: step.line,
            expected,
            actual,
        }
    }

    /// Executes one step; `Err` is the reason the scenario fails here.
    pub(crate) fn execute(&mut self, step: &Step) -> Result<(), ScenarioFailure> {
        match &step.action {
            Action::Send { apdu, expect } => self.send(step, apdu, expect),
            Action::Power { action, expect } => self.power(Some(step), *action, expect),
            Action::Pins(expected) => self.pins(step, expected),
            Action::Event(event) => self.event(step, *event),
            Action::AdvanceClock { days } => self.advance_clock(step, *days),
            Action::Reception { input, expect } => self.reception(step, input, expect),
            Action::InsuranceCardLookup { request, validity } => {
                self.insurance_card_lookup(step, request, *validity)
            }
        }
    }

    /// Moves the scenario clock forward: later receptions and lookups happen on the new date.
    pub(super) fn advance_clock(&mut self, step: &Step, days: u32) -> Result<(), ScenarioFailure> {
        let Some(world) = self.world.as_mut() else {
            return Err(Self::fail(
                step,
                format!("advance_clock: {{ days: {days} }}"),
                "the scenario has no world".into(),
            ));
        };
        let Some(date) = world.date.checked_add_days(chrono::Days::new(days.into())) else {
            return Err(Self::fail(
                step,
                format!("advance_clock: {{ days: {days} }}"),
                "the date would leave the calendar".into(),
            ));
        };
        world.date = date;
        world.terminal.set_date(date);
        self.log(
            step.index,
            "--",
            format!("advance_clock: the date is {date}"),
        );
        Ok(())
    }

    pub(super) fn insurance_card_lookup(
        &mut self,
        step: &Step,
        request: &InsuranceCardLookupDoc,
        validity: Option<QualificationValidity>,
    ) -> Result<(), ScenarioFailure> {
        let expected = match validity {
            Some(validity) => format!("validity {}", written(&validity)),
            None => "no answer (validity null)".to_owned(),
        };
        let Some(world) = &self.world else {
            return Err(Self::fail(
                step,
                expected,
                "the scenario has no world".into(),
            ));
        };
        let summary = format!(
            "insurance_card_lookup {} {}-{}-{}",
            request.insurer_number, request.symbol, request.number, request.branch
        );
        // A staff lookup goes over the same network as the reader's checks.
        if !world.service.is_up() {
            self.log(
                step.index,
                "==",
                format!("{summary}: no answer (network outage)"),
            );
            return if validity.is_none() {
                Ok(())
            } else {
                Err(Self::fail(
                    step,
                    expected,
                    "no answer: the network is down (event: network_outage)".into(),
                ))
            };
        }
        let answer = world
            .service
            .service()
            .lookup_by_insurance_card(&InsuranceCardRequest {
                insurer_number: request.insurer_number.clone(),
                symbol: request.symbol.clone(),
                number: request.number.clone(),
                branch: request.branch.clone(),
                birth_date: request.birth_date,
                facility_code: world.facility_code.clone(),
                date: world.date,
                time: None,
                arbitrary_file_identifier: None,
                character_code: Default::default(),
                limit_consent: true,
                echo: None,
            });
        let actual = answer.body.qualification_validity;
        let actual_text = format!(
            "validity {} (outcome {})",
            actual.as_ref().map_or("null".to_owned(), written),
            written(&answer.outcome)
        );
        self.log(step.index, "==", format!("{summary}: {actual_text}"));
        match validity {
            Some(_) if actual == validity => Ok(()),
            None => Err(Self::fail(
                step,
                expected,
                format!("an answer: {actual_text}"),
            )),
            Some(_) => Err(Self::fail(step, expected, actual_text)),
        }
    }

    /// Puts the scenario's card `name` into the reader, taking out (and keeping) the one there.
    pub(super) fn put_in_reader(&mut self, step: &Step, name: &str) -> Result<(), ScenarioFailure> {
        if self.cards.in_reader.as_deref() == Some(name) {
            return Ok(());
        }
        let expected = format!("the card `{name}` placed on the reader");
        let card = match self.cards.out.remove(name) {
            Some(card) => card,
            None => {
                let Some(description) = self.cards.described.get(name) else {
                    return Err(Self::fail(
                        step,
                        expected,
                        "the world has no card of that name".into(),
                    ));
                };
                TestPki::load()
                    .map_err(|error| error.to_string())
                    .and_then(|pki| {
                        Card::from_description(&description.on_day(self.cards.day), pki)
                            .map_err(|error| error.to_string())
                    })
                    .map_err(|error| {
                        Self::fail(step, expected.clone(), format!("cannot build it: {error}"))
                    })?
            }
        };
        match self.slot.swap_card(card) {
            Ok(previous) => {
                if let (Some(previous_name), Some(previous)) =
                    (self.cards.in_reader.take(), previous)
                {
                    self.cards.out.insert(previous_name, previous);
                }
                self.cards.in_reader = Some(name.to_owned());
                self.keep_event(
                    step.index,
                    Event::CardPlaced {
                        card: name.to_owned(),
                    },
                );
                self.log(
                    step.index,
                    "--",
                    format!("the card `{name}` is put on the reader"),
                );
                Ok(())
            }
            Err(error) => Err(Self::fail(step, expected, describe_error(&error))),
        }
    }

    pub(super) fn reception(
        &mut self,
        step: &Step,
        input: &ReceptionDoc,
        expect: &ReceptionStepExpectation,
    ) -> Result<(), ScenarioFailure> {
        let placing = matches!(
            input,
            ReceptionDoc::PlaceCard | ReceptionDoc::PlaceNamedCard(_)
        );
        if let Some(world) = self.world.as_ref().filter(|_| placing) {
            // Refused before anything changes: the card in the reader stays, and so does its
            // reception (docs/scenarios.md, "Several cards, patients and receptions").
            if let Some(refusal) = world.placement_refused() {
                return Err(Self::fail(
                    step,
                    "the reader takes `place_card`".into(),
                    refusal,
                ));
            }
        }
        let placed = match input {
            ReceptionDoc::PlaceNamedCard(name) => {
                self.put_in_reader(step, name)?;
                Some(Some(name.clone()))
            }
            ReceptionDoc::PlaceCard => Some(self.cards.in_reader.clone()),
            // A phone reception begins on the first screen, with no card placed.
            ReceptionDoc::ChooseSmartphone => Some(None),
            ReceptionDoc::PlacePhone(name) => {
                self.put_phone(step, name)?;
                None
            }
            _ => None,
        };
        let reader_input = self.reader_input(step, input)?;
        let began = self.now();
        let Some(world) = self.world.as_mut() else {
            return Err(Self::fail(
                step,
                format!("reception: {input}"),
                "the scenario has no world (registry, cards)".into(),
            ));
        };
        if let Some(card) = placed.clone() {
            world.begin_placement(card);
        }
        let was_abandoned = world.terminal.outcome().abandoned;
        let phone_slot = self.phones.reader.as_mut().map(|(slot, _)| slot.as_mut());
        let fed = feed(world, self.slot.as_mut(), phone_slot, reader_input);
        let (mut handled, mut shown) = (fed.handled, fed.shown);
        let abandoned = world.terminal.outcome().abandoned && !was_abandoned;
        let ended = world.reception_label();
        // The reader flow's power changes stay in the log; the report shows its commands.
        self.keep(step.index, began, fed.recorded);
        if let Some(phone_recorded) = fed.phone_recorded {
            self.keep(step.index, began, phone_recorded);
        }
        if matches!(input, ReceptionDoc::PlacePhone(_)) {
            // The approval was for this presentation only.
            self.phones.approval = None;
            self.set_phone_approval(false);
        }
        if abandoned {
            let why = if placing {
                "another card was placed"
            } else {
                "the card was taken away before the result"
            };
            self.log(
                step.index,
                "--",
                format!("the reception of {ended} ends abandoned: {why}"),
            );
        }
        if let (Some(card), true) = (placed, abandoned && placing) {
            // The new card starts its own reception, read afresh by the reader.
            let began = self.now();
            if let Some(world) = self.world.as_mut() {
                world.begin_placement(card);
                let phone_slot = self.phones.reader.as_mut().map(|(slot, _)| slot.as_mut());
                let again = feed(world, self.slot.as_mut(), phone_slot, Input::PlaceCard);
                handled = again.handled;
                shown.extend(again.shown);
                self.keep(step.index, began, again.recorded);
            }
        }
        let screen = self
            .world
            .as_ref()
            .map_or(Screen::PlaceCard, |world| world.terminal.screen());
        let shown_text = describe_messages(&shown);
        self.log(
            step.index,
            "==",
            format!("reception: {input}; screen {}{shown_text}", screen),
        );
        if let Err(unexpected) = handled {
            return Err(Self::fail(
                step,
                format!("the reader takes `{}`", input.name()),
                unexpected.to_string(),
            ));
        }
        Self::check_shown(step, expect, screen, &shown)
    }

    /// The reader input a reception step stands for; choosing face on a card that is not our
    /// emulation needs the printed values (`choose_face_with_ocr`).
    fn reader_input(
        &mut self,
        step: &Step,
        input: &ReceptionDoc,
    ) -> Result<Input, ScenarioFailure> {
        let reader_input = match input {
            ReceptionDoc::PlaceCard | ReceptionDoc::PlaceNamedCard(_) => Input::PlaceCard,
            ReceptionDoc::RemoveCard => Input::RemoveCard,
            ReceptionDoc::ReaderRestarted => Input::ReaderRestarted,
            ReceptionDoc::ChooseFace => {
                match with_emulated_card(self.slot.as_mut(), FaceOcr::of_card) {
                    Some(ocr) => Input::ChooseFace { ocr },
                    None => {
                        return Err(Self::fail(
                            step,
                            "the card front read by OCR".into(),
                            "the card is not our emulation, so its front is unknown: use \
                         `choose_face_with_ocr` with the printed values"
                                .into(),
                        ))
                    }
                }
            }
            ReceptionDoc::ChooseFaceWithOcr(ocr) => Input::ChooseFace { ocr: ocr.clone() },
            ReceptionDoc::ChoosePin => Input::ChoosePin,
            ReceptionDoc::ChooseVisual => Input::ChooseVisual,
            ReceptionDoc::FaceResult(verdict) => Input::FaceResult {
                matched: *verdict == FaceVerdict::Match,
            },
            ReceptionDoc::EnterPin(pin) => Input::EnterPin { pin: pin.clone() },
            ReceptionDoc::StaffCheck(confirmed) => Input::StaffCheck {
                confirmed: *confirmed,
            },
            ReceptionDoc::ConsentMode(mode) => Input::ConsentMode { mode: *mode },
            ReceptionDoc::Consent(agree) => Input::Consent { agree: *agree },
            ReceptionDoc::Register(agree) => Input::Register { agree: *agree },
            ReceptionDoc::ChooseSmartphone => Input::ChooseSmartphone,
            ReceptionDoc::ChoosePhone(kind) => Input::ChoosePhone { kind: *kind },
            ReceptionDoc::EnterPhonePin(pin) => Input::EnterPhonePin { pin: pin.clone() },
            ReceptionDoc::PhoneApproval(approval) => {
                self.phones.approval = Some(*approval);
                Input::PhoneApproval {
                    approval: *approval,
                }
            }
            ReceptionDoc::PlacePhone(_) => Input::PlacePhone,
            ReceptionDoc::RemovePhone => Input::RemovePhone,
        };
        Ok(reader_input)
    }

    /// The screen and messages a reception step expects, against what the reader showed.
    fn check_shown(
        step: &Step,
        expect: &ReceptionStepExpectation,
        screen: Screen,
        shown: &[MessageCode],
    ) -> Result<(), ScenarioFailure> {
        let screen_ok = expect.screen.is_none_or(|want| want == screen);
        let messages_ok = expect
            .messages
            .as_ref()
            .is_none_or(|want| want.holds(shown));
        if screen_ok && messages_ok {
            return Ok(());
        }
        let mut expected = Vec::new();
        if let Some(want) = expect.screen {
            expected.push(format!("screen {}", want));
        }
        if let Some(want) = &expect.messages {
            let containing = match want.matching {
                ListMatch::Exactly => "",
                ListMatch::Contains => "containing, in this order, ",
            };
            expected.push(format!(
                "messages {containing}[{}]",
                codes_text(&want.items)
            ));
        }
        Err(Self::fail(
            step,
            expected.join(", "),
            format!("screen {}, messages [{}]", screen, codes_text(shown)),
        ))
    }

    /// Checks every scenario-level expectation after the last step; returns those that do not
    /// hold, in file order.
    pub(super) fn final_checks(&mut self, scenario: &Scenario) -> Vec<ScenarioFailure> {
        let mut failures = Vec::new();
        for (index, located) in scenario.checks.iter().enumerate() {
            if let Err((expected, actual)) = self.holds(&located.check) {
                failures.push(ScenarioFailure {
                    step: scenario.steps.len() + index,
                    step_title: located.field.clone(),
                    line: located.line,
                    expected,
                    actual,
                });
            }
        }
        failures
    }

    /// Whether one scenario-level expectation holds; `Err` says what was expected and what
    /// was observed.
    pub(super) fn holds(&self, check: &Check) -> Result<(), (String, String)> {
        match check {
            Check::Reception {
                field,
                expected,
                matching,
                reception,
            } => {
                let Some(world) = &self.world else {
                    return Err((json_text(expected), "no reception".into()));
                };
                let observed = match reception {
                    None => world.observed(),
                    Some(index) => {
                        let all = world.receptions();
                        match all.get(*index) {
                            Some(observed) => observed.clone(),
                            None => {
                                return Err((
                                    format!(
                                        "{field} {} in reception {}",
                                        json_text(expected),
                                        index + 1
                                    ),
                                    format!("{} reception(s) happened", all.len()),
                                ))
                            }
                        }
                    }
                };
                let actual = observed
                    .get(field)
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                if reception_field_holds(field, expected, *matching, &actual) {
                    Ok(())
                } else {
                    let containing = match matching {
                        ListMatch::Exactly => "",
                        ListMatch::Contains => "containing, in this order, ",
                    };
                    Err((
                        format!("{field} {containing}{}", json_text(expected)),
                        format!("{field} {}", json_text(&actual)),
                    ))
                }
            }
            Check::CardPins(expected) => {
                let Some(counters) = self.slot.pin_counters() else {
                    return Err((
                        describe_pins_expectation(expected),
                        "retry counters cannot be read on this reader".into(),
                    ));
                };
                let holds = [
                    (expected.auth, counters.auth),
                    (expected.signing, counters.signing),
                    (expected.text, counters.text),
                ]
                .iter()
                .all(|(want, have)| want.is_none_or(|want| pin_matches(want, *have)));
                if holds {
                    Ok(())
                } else {
                    Err((
                        describe_pins_expectation(expected),
                        describe_counters(&counters),
                    ))
                }
            }
            Check::Transcript(rule) => {
                let (pattern, after) = match rule {
                    TranscriptRule::Never { pattern, after }
                    | TranscriptRule::Sent { pattern, after, .. } => (pattern, after),
                };
                let matching: Vec<(usize, &[u8])> = self
                    .sent_commands()
                    .filter(|(step, _)| after.as_ref().is_none_or(|(after, _)| step > after))
                    .filter(|(_, command)| pattern.matches(command))
                    .collect();
                let holds = match rule {
                    TranscriptRule::Never { .. } => matching.is_empty(),
                    TranscriptRule::Sent { count: Some(n), .. } => matching.len() == *n,
                    TranscriptRule::Sent { count: None, .. } => !matching.is_empty(),
                };
                if holds {
                    return Ok(());
                }
                let first = matching
                    .first()
                    .map(|(step, command)| {
                        format!(
                            ", the first at step {}: {}",
                            step + 1,
                            crate::trace::redact::command_text(
                                command,
                                self.pin_recording() == PinRecording::Redacted
                            )
                        )
                    })
                    .unwrap_or_default();
                Err((
                    rule.to_string(),
                    format!("{} matching command(s){first}", matching.len()),
                ))
            }
            Check::ReceptionCount(expected) => {
                let happened = self
                    .world
                    .as_ref()
                    .map_or(0, |world| world.receptions().len());
                if happened == *expected {
                    Ok(())
                } else {
                    Err((
                        format!("{expected} reception(s)"),
                        format!("{happened} reception(s)"),
                    ))
                }
            }
            Check::OqsCalls(expected) => {
                let calls = self
                    .world
                    .as_ref()
                    .map(|world| world.service.service().calls())
                    .unwrap_or_default();
                if calls_hold(expected, &calls) {
                    Ok(())
                } else {
                    Err((describe_call_expectations(expected), describe_calls(&calls)))
                }
            }
        }
    }

    pub(super) fn send(
        &mut self,
        step: &Step,
        apdu: &[u8],
        expect: &ResponseExpectation,
    ) -> Result<(), ScenarioFailure> {
        let began = self.now();
        let mut recording = Recording::new(self.slot.transport());
        let answer = recording.transmit(apdu);
        let recorded = recording.take_transcript();
        self.keep(step.index, began, recorded);
        let expected = describe_response_expectation(expect);
        match (answer, expect.error) {
            (Ok(rapdu), None) => {
                let Some(sw) = StatusWord::from_rapdu(&rapdu) else {
                    return Err(Self::fail(
                        step,
                        expected,
                        format!("a malformed answer: {}", to_spaced_hex(&rapdu)),
                    ));
                };
                let data = &rapdu[..rapdu.len() - 2];
                let sw_ok = expect.sw.is_none_or(|pattern| pattern.matches(sw.0));
                let data_ok = expect
                    .data
                    .as_ref()
                    .is_none_or(|pattern| pattern.matches(data));
                let len_ok = expect.data_len.is_none_or(|len| len == data.len());
                if sw_ok && data_ok && len_ok {
                    Ok(())
                } else {
                    Err(Self::fail(step, expected, describe_rapdu(&rapdu)))
                }
            }
            (Ok(rapdu), Some(kind)) => Err(Self::fail(
                step,
                expected,
                format!(
                    "the card answered instead of the reader reporting `{kind}`: {}",
                    describe_rapdu(&rapdu)
                ),
            )),
            (Err(error), None) => Err(Self::fail(
                step,
                expected,
                format!("no answer: {}", describe_error(&error)),
            )),
            (Err(error), Some(kind)) if TransportErrorKind::of(&error) == kind => Ok(()),
            (Err(error), Some(_)) => Err(Self::fail(step, expected, describe_error(&error))),
        }
    }

    /// `step` is `None` for the implicit power-on before the first step.
    pub(super) fn power(
        &mut self,
        step: Option<&Step>,
        action: PowerAction,
        expect: &PowerExpectation,
    ) -> Result<(), ScenarioFailure> {
        let index = step.map_or(0, |s| s.index);
        let result = match action {
            PowerAction::On | PowerAction::Off => {
                let began = self.now();
                let mut recording = Recording::new(self.slot.transport());
                let result = match action {
                    PowerAction::On => recording.connect().map(Some),
                    _ => recording.disconnect().map(|()| None),
                };
                let recorded = recording.take_transcript();
                self.keep(index, began, recorded);
                result
            }
            PowerAction::Reset => {
                let result = self.slot.reset();
                let event = match &result {
                    Ok(atr) => Event::Reset {
                        atr: Some(atr.clone()),
                    },
                    Err(error) => Event::PowerFailed {
                        change: crate::trace::PowerChange::Reset,
                        error: error.failure(),
                    },
                };
                self.keep_event(index, event);
                result.map(Some)
            }
        };
        match &result {
            Ok(Some(atr)) => self.log(
                index,
                "--",
                format!("power: {action}; ATR {}", to_spaced_hex(atr)),
            ),
            Ok(None) => self.log(index, "--", format!("power: {action}")),
            Err(error) => self.log(
                index,
                "!!",
                format!("power: {action}; {}", describe_error(error)),
            ),
        }
        let expected = describe_power_expectation(action, expect);
        let fail = |actual: String| match step {
            Some(step) => Self::fail(step, expected.clone(), actual),
            None => ScenarioFailure {
                step: 0,
                step_title: "power-on before the first step".into(),
                line: 0,
                expected: expected.clone(),
                actual,
            },
        };
        match (result, expect.error) {
            (Ok(atr), None) => match (&expect.atr, atr) {
                (Some(pattern), Some(atr)) if !pattern.matches(&atr) => {
                    Err(fail(format!("ATR {}", to_spaced_hex(&atr))))
                }
                _ => Ok(()),
            },
            (Ok(_), Some(kind)) => Err(fail(format!(
                "power: {action} succeeded instead of the reader reporting `{kind}`"
            ))),
            (Err(error), Some(kind)) if TransportErrorKind::of(&error) == kind => Ok(()),
            (Err(error), _) => Err(fail(describe_error(&error))),
        }
    }

    pub(super) fn pins(
        &mut self,
        step: &Step,
        expected: &PinsExpectation,
    ) -> Result<(), ScenarioFailure> {
        let Some(counters) = self.slot.pin_counters() else {
            return Err(Self::fail(
                step,
                describe_pins_expectation(expected),
                "retry counters cannot be read on this reader".into(),
            ));
        };
        let actual = describe_counters(&counters);
        self.log(step.index, "==", format!("PIN tries left: {actual}"));
        let checks = [
            (expected.auth, counters.auth),
            (expected.signing, counters.signing),
            (expected.text, counters.text),
        ];
        let holds = checks.iter().all(|(want, have)| match want {
            None => true,
            Some(want) => pin_matches(*want, *have),
        });
        if holds {
            Ok(())
        } else {
            Err(Self::fail(
                step,
                describe_pins_expectation(expected),
                actual,
            ))
        }
    }

    pub(super) fn event(&mut self, step: &Step, event: ReaderEvent) -> Result<(), ScenarioFailure> {
        if event.is_world_event() {
            let Some(world) = self.world.as_ref() else {
                return Err(Self::fail(
                    step,
                    format!("event: {event}"),
                    "the scenario has no world".into(),
                ));
            };
            match event {
                // The outage stops every call: the reader's, the staff's 被保険者証 lookups and
                // the file interface's.
                ReaderEvent::NetworkOutage => {
                    world.service.set_up(false);
                    world.service.service().set_reachable(false);
                }
                ReaderEvent::NetworkRestored => {
                    world.service.set_up(true);
                    world.service.service().set_reachable(true);
                }
                ReaderEvent::JlisOutage => world.service.service().set_jlis_available(false),
                _ => world.service.service().set_jlis_available(true),
            }
            self.log(step.index, "--", format!("event: {event}"));
            return Ok(());
        }
        if !self.slot.capabilities().slot_events {
            return Err(Self::fail(
                step,
                format!("event: {event}"),
                "reader events need the virtual reader (--reader virtual)".into(),
            ));
        }
        let applied = self.slot.apply(event);
        match &applied {
            Ok(Applied::Done { power }) => {
                match event {
                    ReaderEvent::Remove => self.keep_event(step.index, Event::Removed),
                    ReaderEvent::Insert => self.keep_event(step.index, Event::Inserted),
                    ReaderEvent::PowerCycle => self.keep_event(step.index, Event::PowerOff),
                    _ => {}
                }
                match power {
                    Some(Ok(atr)) => self.keep_event(
                        step.index,
                        Event::PowerOn {
                            atr: Some(atr.clone()),
                        },
                    ),
                    Some(Err(error)) => self.keep_event(
                        step.index,
                        Event::PowerFailed {
                            change: crate::trace::PowerChange::On,
                            error: error.failure(),
                        },
                    ),
                    None => {}
                }
            }
            Ok(Applied::Rejected(_)) | Err(_) => {}
        }
        match applied {
            Ok(Applied::Done { power }) => {
                let text = match power {
                    Some(Ok(atr)) => format!("event: {event}; ATR {}", to_spaced_hex(&atr)),
                    Some(Err(error)) => format!("event: {event}; {}", describe_error(&error)),
                    None => format!("event: {event}"),
                };
                self.log(step.index, "--", text);
                Ok(())
            }
            Ok(Applied::Rejected(problem)) => {
                self.log(step.index, "--", format!("event: {event}"));
                Err(Self::fail(step, format!("event: {event}"), problem))
            }
            Err(error) => {
                self.log(
                    step.index,
                    "!!",
                    format!("event: {event}; {}", describe_error(&error)),
                );
                Err(Self::fail(
                    step,
                    format!("event: {event}"),
                    describe_error(&error),
                ))
            }
        }
    }
}

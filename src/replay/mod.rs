//! Replaying a recorded transcript against a card and reporting where the answers differ.
//!
//! A transcript recorded at a clinic (or by `card serve --record`) is sent command by command to
//! another card — the in-process emulation of a card description, or a card in a real reader —
//! and every answer is compared with the recorded one. Power, reset, insertion and removal
//! events are replayed too, so a failure that depends on the card losing its selection replays
//! the same way.
//!
//! PINs are redacted by default when recording. A redacted VERIFY cannot be replayed byte for
//! byte, so the replay substitutes a secret that reproduces the recorded outcome: the card's
//! own secret for the selected EF (a PIN, or 照合番号A / B, which face receptions present to
//! the surface application) when the recorded answer was `90 00`, a wrong one of the recorded
//! length otherwise. Which EF is selected is followed from the SELECT commands in the trace.
//! A command the card was taken away from before it answered (recorded with no answer) is
//! sent, since the card did the work (a PIN try is spent), and not compared.
//! A redacted CHANGE REFERENCE DATA carries a new PIN nobody knows: it is reported as not
//! replayable (record with `--record-pins` to replay it).
//!
//! Replay sits above the transport layer: it reads the exchange log ([`crate::trace`]) and
//! drives any [`Transport`]; its reader choice is in [`cli`].

use serde::Serialize;

use crate::apdu::ins::INS_CHANGE_KEY;
use crate::apdu::{Instruction, SecretKind, Selection};
use crate::card::description::PinsSpec;
use crate::card::CardDescription;
use crate::trace::{ApduExchange, Event, ExchangeAnswer, PinRecording, TraceLine};
use crate::transport::Transport;

pub(crate) mod cli;

/// Where a replayed answer differed from the recording, or why a line could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Divergence {
    /// Line number in the transcript file (1-based).
    pub(crate) line: usize,
    /// The command as recorded, PINs hidden unless the replay was asked to show them.
    pub(crate) command: String,
    pub(crate) recorded: String,
    /// What the card answered now, or why nothing was sent.
    pub(crate) replayed: String,
}

/// The result of one replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ReplayReport {
    /// Commands sent and compared.
    pub(crate) commands: usize,
    /// Power-on / reset answers compared.
    pub(crate) atrs: usize,
    pub(crate) divergences: Vec<Divergence>,
}

impl ReplayReport {
    pub(crate) fn is_identical(&self) -> bool {
        self.divergences.is_empty()
    }
}

/// The secrets of the card replayed against, which stand in for the ones a trace hid. A
/// redacted PIN change that succeeded is replayed with a stand-in value, remembered here, so
/// that the commands after it present what the card now holds.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct CardSecrets {
    pub(crate) pins: PinsSpec,
    /// 照合番号A and B, when the card is known.
    pub(crate) collation: Option<(String, String)>,
    changed: Vec<(SecretKind, Vec<u8>)>,
}

impl CardSecrets {
    pub(crate) fn of(description: &CardDescription) -> CardSecrets {
        CardSecrets {
            pins: description.card.pins.clone(),
            collation: Some(description.collation_numbers()),
            changed: Vec::new(),
        }
    }

    /// Whether the card still holds its own value for `kind` (no PIN change replaced it).
    pub(crate) fn holds_original(&self, kind: SecretKind) -> bool {
        !self.changed.iter().any(|(changed, _)| *changed == kind)
    }

    /// The card's own value for `kind`, when known (empty: no value opens it).
    fn secret(&self, kind: SecretKind) -> Option<&[u8]> {
        if let Some((_, value)) = self.changed.iter().rev().find(|(k, _)| *k == kind) {
            return Some(value);
        }
        let collation = self.collation.as_ref();
        Some(match kind {
            SecretKind::AuthPin => self.pins.auth_or_default(),
            SecretKind::SigningPassword => self.pins.signing_or_default(),
            // The 共通AP and 住基AP PINs start as the text PIN (as the card personalises them).
            SecretKind::TextPin | SecretKind::CommonPin | SecretKind::JukiPin => {
                self.pins.text_or_default()
            }
            SecretKind::TextCollationA | SecretKind::SurfaceCollationA => collation?.0.as_bytes(),
            SecretKind::TextCollationB | SecretKind::SurfaceCollationB => collation?.1.as_bytes(),
            // The first six digits of 照合番号B.
            SecretKind::SurfaceBirthDateKey => collation?.1.as_bytes().get(..6)?,
            SecretKind::TextBlockedKey => &[],
        })
    }
}

impl std::fmt::Debug for CardSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardSecrets(hidden)")
    }
}

/// What a replay drives: the reader, and (for the in-process emulation) the cards a trace
/// places on it.
pub(crate) trait ReplayTarget {
    fn transport(&mut self) -> &mut dyn Transport;

    /// Puts the card `card` names (as the trace names it) on the reader in place of the one
    /// there, and gives its secrets; why not, when it cannot.
    fn place(&mut self, card: &str) -> Result<CardSecrets, String> {
        Err(format!(
            "the trace places another card ({card}); only the virtual reader can swap cards"
        ))
    }
}

/// A reader whose card cannot be swapped (a real card in a PC/SC reader).
#[cfg(test)]
pub(crate) struct FixedCard<'t>(pub(crate) &'t mut dyn Transport);

#[cfg(test)]
impl ReplayTarget for FixedCard<'_> {
    fn transport(&mut self) -> &mut dyn Transport {
        self.0
    }
}

/// Replays the transcript `lines` through `target`. `secrets` are those of the card replayed
/// against (used only for redacted VERIFY commands); `pins` says whether the report shows the
/// PINs a trace kept.
pub(crate) fn replay(
    lines: &[(usize, TraceLine)],
    target: &mut dyn ReplayTarget,
    secrets: &CardSecrets,
    pins: PinRecording,
) -> ReplayReport {
    let events: Vec<(usize, Event)> = lines
        .iter()
        .filter_map(|(line, entry)| Event::from_trace(&entry.event).map(|event| (*line, event)))
        .collect();
    replay_events(&events, target, secrets, pins)
}

/// Replays exchange-log events (each with the line it came from) through `target`.
pub(crate) fn replay_events(
    events: &[(usize, Event)],
    target: &mut dyn ReplayTarget,
    secrets: &CardSecrets,
    pins: PinRecording,
) -> ReplayReport {
    let mut secrets = secrets.clone();
    let mut report = ReplayReport::default();
    let mut selection = Selection::default();
    // A trace that starts mid-session (an insertion, or straight with commands, as pcscd logs
    // and USB captures do) finds the card in the reader and powered, as a scenario does.
    let mut power_seen = false;
    for (line, event) in events {
        if let Event::Apdu(_) = event {
            if !power_seen {
                power_seen = true;
                let _ = target.transport().connect();
            }
        }
        if matches!(
            event,
            Event::PowerOn { .. } | Event::Reset { .. } | Event::PowerOff | Event::Removed
        ) {
            power_seen = true;
        }
        match event {
            Event::PowerOn { atr } | Event::Reset { atr } => {
                // A warm reset keeps a verified PIN (docs/spec/card-measured.md §2), a power cycle does
                // not: each is replayed as what it was.
                selection.clear();
                let answer = if matches!(event, Event::Reset { .. }) {
                    target.transport().reset()
                } else {
                    let _ = target.transport().disconnect();
                    target.transport().connect()
                };
                report.atrs += 1;
                let replayed = match &answer {
                    Ok(bytes) => hex::encode_upper(bytes),
                    Err(error) => format!("no ATR ({error})"),
                };
                let recorded = atr
                    .as_deref()
                    .map_or_else(|| "no ATR".to_owned(), hex::encode_upper);
                if replayed != recorded {
                    report.divergences.push(Divergence {
                        line: *line,
                        command: "power on".to_owned(),
                        recorded,
                        replayed,
                    });
                }
            }
            Event::PowerOff | Event::Removed => {
                let _ = target.transport().disconnect();
                selection.clear();
            }
            Event::Apdu(exchange) => {
                // Answers that did not come from the card model (the emulation probe) are the
                // serving layer's, not the card's: nothing to compare.
                if exchange.note.is_some() {
                    continue;
                }
                report.commands += 1;
                let command = exchange.command_hex(pins).0;
                let recorded = recorded_answer(exchange);
                let sent = match command_to_send(exchange, &selection, &mut secrets) {
                    Ok(bytes) => bytes,
                    Err(reason) => {
                        report.divergences.push(Divergence {
                            line: *line,
                            command,
                            recorded,
                            replayed: format!("not replayed: {reason}"),
                        });
                        continue;
                    }
                };
                // A reader failure instead of an answer: nothing to compare. The card still
                // did the work when it was taken away or too slow, so the command is sent.
                if let ExchangeAnswer::Failed(failure) = &exchange.answer {
                    if failure.kind.card_got_the_command() {
                        let _ = target.transport().transmit(&sent);
                    }
                    continue;
                }
                // The replay follows what the recorded session selected.
                selection.follow(&sent, true);
                let replayed = match target.transport().transmit(&sent) {
                    Ok(bytes) => hex::encode_upper(bytes),
                    Err(error) => format!("error: {error}"),
                };
                // Recorded with no answer: the card was taken away before it answered.
                let unanswered =
                    matches!(&exchange.answer, ExchangeAnswer::Response(r) if r.is_empty());
                if !unanswered && !replayed.eq_ignore_ascii_case(&recorded) {
                    report.divergences.push(Divergence {
                        line: *line,
                        command,
                        recorded,
                        replayed,
                    });
                }
            }
            Event::CardPlaced { card } => {
                selection.clear();
                match target.place(card) {
                    Ok(placed) => secrets = placed,
                    Err(reason) => report.divergences.push(Divergence {
                        line: *line,
                        command: format!("card placed: {card}"),
                        recorded: "the card placed".to_owned(),
                        replayed: format!("not replayed: {reason}"),
                    }),
                }
            }
            Event::PowerFailed { .. }
            | Event::Inserted
            | Event::LinkUp { .. }
            | Event::LinkDown { .. }
            | Event::FramingError { .. } => {}
        }
    }
    report
}

/// The recorded answer as the transcript wrote it.
fn recorded_answer(exchange: &ApduExchange) -> String {
    match &exchange.answer {
        ExchangeAnswer::Response(rapdu) => hex::encode_upper(rapdu),
        ExchangeAnswer::Failed(failure) => failure.message.clone(),
    }
}

/// Why a command whose secret was hidden inside secure messaging is not sent.
pub(crate) const PIN_INSIDE_SECURE_MESSAGING: &str =
    "not reproducible: PIN inside secure messaging (its cryptogram was not recorded)";

/// The bytes to send for a recorded command, substituting a secret where the recording hid it
/// (`selection` is what the session had selected, `secrets` the card's own); why not, when the
/// command cannot be reproduced. A redacted VERIFY presents the card's value where the
/// recorded answer was `90 00` and a wrong one of the recorded length otherwise. A redacted
/// PIN change (CHANGE REFERENCE DATA, new value only) gets a stand-in new value, which
/// `secrets` remembers when the recorded change succeeded.
pub(crate) fn command_to_send(
    exchange: &ApduExchange,
    selection: &Selection,
    secrets: &mut CardSecrets,
) -> Result<Vec<u8>, String> {
    let Some(withheld) = &exchange.withheld else {
        return Ok(exchange.command.clone());
    };
    let [cla, ins, p1, p2, ..] = exchange.command[..] else {
        return Err("a redacted command shorter than its header".to_owned());
    };
    // A secret under a secure-messaging class travels inside a cryptogram under the session
    // key: writing the card's PIN in its place would send a plaintext VERIFY under CLA 08,
    // which no card answers as the recorded one did.
    if crate::trace::redact::secure_messaging_class(cla) {
        return Err(PIN_INSIDE_SECURE_MESSAGING.to_owned());
    }
    let instruction = Instruction::of(cla, ins);
    // CHANGE REFERENCE DATA with P1 01 and CHANGE KEY carry the new value only.
    let new_value_only =
        instruction == Instruction::ChangeReferenceData && (p1 == 0x01 || ins == INS_CHANGE_KEY);
    let kind = selection.secret_at(p2);
    let right = kind
        .and_then(|kind| secrets.secret(kind))
        .map(<[u8]>::to_vec);
    let recorded_success = exchange
        .status_word()
        .is_some_and(|sw| sw.is_success() && exchange.response_data() == Some(&[][..]));
    let value = if !recorded_success && instruction == Instruction::Verify {
        // The card refused it: a value of the recorded length that is not the card's own
        // (where that is known) is refused the same way.
        wrong_pin(right.as_deref().unwrap_or_default(), withheld.len())
    } else if !recorded_success {
        // A refused change: zero bytes are never a valid new value, so a change refused for
        // its value is refused again (and one refused for anything else is refused anyway).
        vec![0; withheld.len()]
    } else if instruction != Instruction::Verify && !new_value_only {
        return Err(
            "a redacted command other than VERIFY or a PIN change (new value only) cannot be rebuilt; record with --record-pins".to_owned(),
        );
    } else {
        let Some(kind) = kind else {
            return Err(
                "a redacted command to no PIN EF: the trace selected none before it".to_owned(),
            );
        };
        let right = right.ok_or_else(|| {
            format!("a redacted VERIFY of {kind}, and the card replayed against is unknown")
        })?;
        if new_value_only {
            let value = wrong_pin(&right, withheld.len());
            secrets.changed.push((kind, value.clone()));
            value
        } else {
            right
        }
    };
    let length = u8::try_from(value.len()).map_err(|_| "a PIN longer than 255 bytes")?;
    let mut bytes = vec![cla, ins, p1, p2, length];
    bytes.extend_from_slice(&value);
    Ok(bytes)
}

/// A PIN of `length` characters that differs from `right` in every position it shares with it.
fn wrong_pin(right: &[u8], length: usize) -> Vec<u8> {
    (0..length)
        .map(|position| match right.get(position) {
            Some(b'9') => b'0',
            Some(b'Z') => b'A',
            Some(byte) => byte + 1,
            None => b'0',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::build;
    use crate::apdu::ids::{jpki, AID_JPKI};
    use crate::trace::TraceEvent;

    fn recorded(command: &str, response: &str) -> ApduExchange {
        let line = TraceEvent::Apdu {
            command: command.into(),
            response: response.into(),
            card_us: 0,
            redacted: command.contains("XX"),
            note: None,
            failure: None,
        };
        match Event::from_trace(&line) {
            Some(Event::Apdu(exchange)) => exchange,
            other => panic!("not an APDU: {other:?}"),
        }
    }

    #[test]
    fn wrong_pin_differs_everywhere_and_keeps_the_length() {
        assert_eq!(wrong_pin(b"1239", 4), b"2340".to_vec());
        assert_eq!(wrong_pin(b"ABZ9", 4), b"BCA0".to_vec());
        assert_eq!(wrong_pin(b"12", 4), b"2300".to_vec());
    }

    #[test]
    fn redacted_verify_uses_the_selected_pin_for_a_recorded_success_only() {
        let mut selection = Selection::default();
        selection.follow(&build::select_aid(&AID_JPKI), true);
        selection.follow(&build::select_fid(jpki::EF_SIGNING_PIN), true);
        let mut pins = CardSecrets::default();
        let right = command_to_send(
            &recorded("0020008006XXXXXXXXXXXX", "9000"),
            &selection,
            &mut pins,
        );
        assert_eq!(right, Ok(b"\x00\x20\x00\x80\x06ABC123".to_vec()));
        let wrong = command_to_send(
            &recorded("0020008004XXXXXXXX", "63C4"),
            &selection,
            &mut pins,
        );
        assert_eq!(wrong, Ok(b"\x00\x20\x00\x80\x04BCD2".to_vec()));
    }

    #[test]
    fn redacted_commands_that_cannot_be_reproduced_are_refused() {
        let mut pins = CardSecrets::default();
        let unselected = command_to_send(
            &recorded("0020008004XXXXXXXX", "9000"),
            &Selection::default(),
            &mut pins,
        );
        assert!(unselected.is_err_and(|reason| reason.contains("selected none")));
        // Old and new value together (P1 00) that the card accepted: unknown new value.
        let change = command_to_send(
            &recorded("0024008008XXXXXXXXXXXXXXXX", "9000"),
            &Selection::default(),
            &mut pins,
        );
        assert!(change.is_err_and(|reason| reason.contains("--record-pins")));
        // 照合番号B of an unknown card.
        let mut selection = Selection::default();
        selection.follow(&build::select_aid(&crate::apdu::ids::AID_SURFACE), true);
        let unknown = command_to_send(
            &recorded("002000920EXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "9000"),
            &selection,
            &mut pins,
        );
        assert!(
            unknown.is_err_and(|reason| reason.contains("照合番号B (surface application)")
                && reason.contains("unknown")),
        );
    }

    #[test]
    fn a_card_placed_on_a_reader_that_cannot_swap_is_a_divergence_saying_so() {
        let description =
            CardDescription::from_yaml_file(std::path::Path::new("fixtures/cards/standard.yaml"))
                .unwrap();
        let card =
            crate::card::Card::from_description(&description, crate::pki::TestPki::load().unwrap())
                .unwrap();
        let mut reader = crate::transport::virtual_reader::VirtualReader::with_card(card);
        let events = vec![(
            7,
            Event::CardPlaced {
                card: "other.card.yaml".into(),
            },
        )];
        let report = replay_events(
            &events,
            &mut FixedCard(&mut reader),
            &CardSecrets::of(&description),
            PinRecording::Redacted,
        );
        assert_eq!(report.divergences.len(), 1);
        assert_eq!(report.divergences[0].line, 7);
        assert!(
            report.divergences[0]
                .replayed
                .contains("only the virtual reader can swap cards"),
            "{:?}",
            report.divergences
        );
    }

    #[test]
    fn a_redacted_pin_change_that_succeeded_is_remembered_for_what_follows() {
        let mut secrets = CardSecrets::default();
        let mut selection = Selection::default();
        selection.follow(&build::select_aid(&AID_JPKI), true);
        // By short EF identifier: P2 = 80 | 18 is the auth PIN EF.
        let change = command_to_send(
            &recorded("0024019804XXXXXXXX", "9000"),
            &selection,
            &mut secrets,
        )
        .unwrap();
        assert_eq!(change, b"\x00\x24\x01\x98\x042345".to_vec());
        let verify = command_to_send(
            &recorded("0020009804XXXXXXXX", "9000"),
            &selection,
            &mut secrets,
        );
        assert_eq!(verify, Ok(b"\x00\x20\x00\x98\x042345".to_vec()));
    }
}

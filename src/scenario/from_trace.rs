//! `myna-hil trace to-scenario`: a recorded or imported transcript turned into a scenario that
//! reproduces the exchange — every command as a raw `send` step with the recorded answer as
//! its expectation, power and reader events as `power` / `event` steps, and the PIN counters
//! the trace implies as a final `pins` step — so that a failure captured at a clinic becomes a
//! regression test that runs on the virtual reader.
//!
//! With `--card`, the scenario names that card file. Without it, a card is inferred from what
//! the trace shows (its ATR, the retry counters it reveals) and written inline; what the trace
//! cannot show (the holder, the PINs, the certificates and keys) is listed as unknown in the
//! file's comments, and the files the trace read are listed with their recorded contents.
//!
//! Redacted PINs are substituted as `replay` does ([`crate::replay::command_to_send`]): the
//! card's own PIN where the recorded answer was `90 00`, a wrong one of the same length
//! otherwise. What a scenario cannot reproduce (a redacted PIN change, a reader failure) is
//! left out with a comment naming the transcript line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use crate::apdu::{to_spaced_hex, Command, PinStatus, SecretKind, Selection, StatusWord};
use crate::card::{CardDescription, DescriptionError};
use crate::person::{Person, Sex};
use crate::replay::{command_to_send, CardSecrets};
use crate::scenario::pattern::CardSecret;
use crate::scenario::personal_data::{holds_personal_data, Expected, FilesRead, Substitutes};
use crate::trace::{
    read_trace_numbered, started_at, ApduExchange, Event, ExchangeAnswer, TraceError, TraceLine,
};

/// The `trace to-scenario` command's options: the transcript, the scenario to write and whether
/// PINs appear in it.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ToScenarioArgs {
    /// The transcript (as written by `card serve --record` or `trace import`).
    pub(crate) trace: PathBuf,
    /// The card the session ran against; without it, a card is inferred from the trace.
    #[arg(long)]
    pub(crate) card: Option<PathBuf>,
    /// The scenario file to write.
    #[arg(short = 'o', long = "output")]
    pub(crate) output: PathBuf,
    /// Write PINs as bytes (the card's own where one is substituted, and those a trace
    /// recorded with `--record-pins`). Without it the scenario names the card's secret
    /// (`{auth_pin}` …) and a wrong PIN is a stand-in: it carries no PIN.
    #[arg(long)]
    pub(crate) show_pins: bool,
    /// Copy the holder's personal data (個人番号, 基本4情報, certificates, images) from the
    /// recorded answers. Without it they are replaced by synthetic values of the same shape
    /// and length (the card the scenario runs against holds them), or expected by length only.
    #[arg(long)]
    pub(crate) keep_personal_data: bool,
}

/// Why a transcript could not be turned into a scenario.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FromTraceError {
    /// The transcript cannot be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The card the transcript names cannot be read.
    #[error(transparent)]
    Card(#[from] DescriptionError),
    /// The scenario cannot be written.
    #[error("{path}: {source}")]
    Io {
        /// The scenario file.
        path: PathBuf,
        /// Why writing failed.
        source: std::io::Error,
    },
}

/// Writes the scenario; a one-line summary goes to stderr.
pub(crate) fn to_scenario(args: ToScenarioArgs) -> Result<ExitCode, FromTraceError> {
    let lines = read_trace_numbered(&args.trace)?;
    let card = match &args.card {
        Some(path) => Some((
            scenario_relative(path, &args.output),
            CardDescription::from_yaml_file(path)?,
        )),
        None => None,
    };
    let name = args.trace.file_name().map_or_else(
        || "trace".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let generated = generate(
        &name,
        &lines,
        card.as_ref().map(|(path, d)| (path.as_str(), d)),
        Privacy {
            show_pins: args.show_pins,
            keep_personal_data: args.keep_personal_data,
        },
    );
    std::fs::write(&args.output, &generated.yaml).map_err(|source| FromTraceError::Io {
        path: args.output.clone(),
        source,
    })?;
    eprintln!(
        "wrote {}: {} steps from {} ({} left out)",
        args.output.display(),
        generated.steps,
        args.trace.display(),
        generated.left_out
    );
    Ok(ExitCode::SUCCESS)
}

/// A generated scenario document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generated {
    pub(crate) yaml: String,
    pub(crate) steps: usize,
    /// Transcript lines that could not become a step.
    pub(crate) left_out: usize,
}

/// What a generated scenario may carry of the trace's secrets and personal data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Privacy {
    /// PINs written as bytes.
    pub(crate) show_pins: bool,
    /// Recorded personal data copied.
    pub(crate) keep_personal_data: bool,
}

/// The retry counter a PIN starts with on a fresh card (tries_left defaults).
fn full_tries(kind: SecretKind) -> u8 {
    match kind {
        SecretKind::SigningPassword => 5,
        _ => 3,
    }
}

fn pin_key(kind: SecretKind) -> Option<&'static str> {
    match kind {
        SecretKind::AuthPin => Some("auth"),
        SecretKind::SigningPassword => Some("signing"),
        SecretKind::TextPin => Some("text"),
        _ => None,
    }
}

/// What a VERIFY answer says about the counter: tries left, when it says.
fn tries_after(kind: SecretKind, sw: StatusWord, presented: bool) -> Option<u8> {
    match sw.pin_status()? {
        PinStatus::Verified if presented => Some(full_tries(kind)),
        PinStatus::Verified => None,
        PinStatus::TriesLeft(tries) => Some(tries),
        PinStatus::Blocked => Some(0),
    }
}

/// The counters a trace reveals: the first one seen for each PIN (what the card started
/// with, when the first observation says it) and the last.
#[derive(Default)]
struct Counters {
    first: BTreeMap<&'static str, u8>,
    last: BTreeMap<&'static str, u8>,
}

impl Counters {
    fn observe(&mut self, kind: SecretKind, sw: StatusWord, presented: bool) {
        let (Some(key), Some(tries)) = (pin_key(kind), tries_after(kind, sw, presented)) else {
            return;
        };
        // A wrong PIN that leaves n tries started from n + 1; a success says nothing of the
        // start, a retry query says it exactly.
        let started = match (presented, sw.pin_status()) {
            (false, _) => Some(tries),
            // 63 Cx: this wrong PIN took one try (63 C0 took the last).
            (true, _) if sw.retry_count().is_some() => Some(tries + 1),
            (true, Some(PinStatus::Blocked)) => Some(0),
            _ => None,
        };
        if let Some(started) = started {
            self.first.entry(key).or_insert(started);
        }
        self.last.insert(key, tries);
    }
}

/// Builds the scenario for `lines`, against `card` (its path as the scenario should name it,
/// and its description) or an inferred card.
pub(crate) fn generate(
    name: &str,
    lines: &[(usize, TraceLine)],
    card: Option<(&str, &CardDescription)>,
    privacy: Privacy,
) -> Generated {
    let show_pins = privacy.show_pins;
    let substitutes = (!privacy.keep_personal_data).then(|| {
        Substitutes::new(
            &recorded_files(lines),
            card.map(|(_, description)| &description.person),
        )
    });
    let mut secrets = card.map(|(_, d)| CardSecrets::of(d)).unwrap_or_default();
    let recorded = started_at(lines);
    let mut steps = String::new();
    let mut step_count = 0;
    let mut left_out = 0;
    let mut selection = Selection::default();
    let mut counters = Counters::default();
    let mut files = FilesRead::new();
    let mut atr: Option<Vec<u8>> = None;
    // Whether the card is out: an insertion is a step only after a removal, since a scenario
    // starts with the card in the reader.
    let mut removed = false;
    let mut secure_messaging = SecureMessagingGap::default();
    for (line, entry) in lines {
        let Some(event) = Event::from_trace(&entry.event) else {
            continue;
        };
        match event {
            Event::PowerOn { atr: answer } | Event::Reset { atr: answer } => {
                let reset = matches!(entry.event, crate::trace::TraceEvent::Reset { .. });
                selection.clear();
                secure_messaging = SecureMessagingGap::default();
                write_power_step(&mut steps, *line, reset, answer.as_deref());
                if let Some(bytes) = answer {
                    atr.get_or_insert(bytes);
                }
                step_count += 1;
            }
            Event::PowerOff => {
                selection.clear();
                write_event_step(&mut steps, *line, "power off", "power: off");
                step_count += 1;
            }
            Event::Removed => {
                selection.clear();
                removed = true;
                write_event_step(&mut steps, *line, "card removed", "event: remove");
                step_count += 1;
            }
            Event::Inserted if removed => {
                removed = false;
                write_event_step(&mut steps, *line, "card inserted", "event: insert");
                step_count += 1;
            }
            // The card is in the reader and powered when a scenario starts.
            Event::Inserted => {}
            Event::Apdu(exchange) => {
                let response = match replayable(&exchange, card.is_none(), &mut secure_messaging) {
                    Ok(response) => response,
                    Err(reason) => {
                        let _ = writeln!(steps, "  # line {line}: {reason}: left out");
                        left_out += 1;
                        continue;
                    }
                };
                // Without --show-pins a PIN recorded in clear is treated as redacted: the
                // scenario gets the card's own (by name) or a stand-in, never the recorded one.
                let exchange = if show_pins {
                    exchange.clone()
                } else {
                    withholding_secrets(exchange.clone())
                };
                let sent = match command_to_send(&exchange, &selection, &mut secrets) {
                    Ok(bytes) => bytes,
                    Err(reason) => {
                        let reason = if reason.starts_with("not reproducible") {
                            reason
                        } else {
                            format!("not reproducible ({reason})")
                        };
                        let _ = writeln!(steps, "  # line {line}: {}: left out", one_line(&reason));
                        left_out += 1;
                        continue;
                    }
                };
                let succeeded = exchange.status_word().is_some_and(StatusWord::is_success);
                let expected = match &substitutes {
                    Some(substitutes) if succeeded => {
                        expected_data(substitutes, &sent, &selection, response)
                    }
                    _ => Expected::Recorded,
                };
                observe(&exchange, &sent, &selection, &mut counters, &mut files);
                selection.follow(&sent, succeeded);
                let named = (!show_pins)
                    .then(|| named_secret(&exchange, &selection, &sent, &secrets))
                    .flatten();
                let command = named.unwrap_or_else(|| to_spaced_hex(&sent));
                write_send_step(&mut steps, *line, &exchange, &command, response, &expected);
                step_count += 1;
            }
            Event::PowerFailed { .. }
            | Event::LinkUp { .. }
            | Event::LinkDown { .. }
            | Event::FramingError { .. } => {}
            Event::CardPlaced { card } => {
                let _ = writeln!(
                    steps,
                    "  # line {line}: another card ({}) was placed; a generated scenario keeps one card: left out",
                    one_line(&card)
                );
                left_out += 1;
            }
        }
    }
    if write_counters_step(&mut steps, &counters) {
        step_count += 1;
    }

    let inferred = InferredCard {
        atr: atr.as_deref(),
        counters: &counters,
        files: &files,
        holder: substitutes.as_ref().map(|substitutes| &substitutes.person),
    };
    let (yaml, steps) = scenario_text(
        name,
        recorded,
        card.map(|(path, _)| path),
        &inferred,
        &steps,
        step_count,
    );
    Generated {
        yaml,
        steps,
        left_out,
    }
}

/// The recorded answer of an exchange a scenario can reproduce, or why it cannot: answered by
/// the serving layer, a reader failure, or a PIN inside secure messaging of an unknown card.
fn replayable<'e>(
    exchange: &'e ApduExchange,
    card_unknown: bool,
    secure_messaging: &mut SecureMessagingGap,
) -> Result<&'e [u8], String> {
    if let Some(note) = &exchange.note {
        return Err(format!(
            "answered by the serving layer, not the card ({})",
            one_line(note)
        ));
    }
    let ExchangeAnswer::Response(response) = &exchange.answer else {
        return Err(format!(
            "{}: a reader failure the virtual reader cannot reproduce here",
            one_line(&exchange.answer_summary())
        ));
    };
    if card_unknown {
        if let Some(reason) = secure_messaging.left_out(&exchange.command) {
            return Err(reason.to_owned());
        }
    }
    Ok(response.as_slice())
}

/// A step for a power or slot event of the trace, labelled with its line.
fn write_event_step(steps: &mut String, line: usize, label: &str, step: &str) {
    let _ = writeln!(steps, "  - label: \"line {line}: {label}\"\n    {step}");
}

/// What a trace tells of its card when no card file is given.
#[derive(Clone, Copy)]
struct InferredCard<'a> {
    atr: Option<&'a [u8]>,
    counters: &'a Counters,
    files: &'a FilesRead,
    holder: Option<&'a Person>,
}

/// The whole scenario: header, the card (a file's path, or inferred from the trace) and the
/// steps; a trace with no step gets one, since a scenario needs a step. Returns the text and
/// its number of steps.
fn scenario_text(
    name: &str,
    recorded: Option<chrono::DateTime<chrono::Utc>>,
    card_path: Option<&str>,
    inferred: &InferredCard<'_>,
    steps: &str,
    step_count: usize,
) -> (String, usize) {
    let mut yaml = String::new();
    write_header(&mut yaml, name, recorded);
    match card_path {
        Some(path) => {
            let _ = writeln!(yaml, "card: \"{}\"", yaml_escape(path));
        }
        None => write_inferred_card(&mut yaml, inferred),
    }
    let _ = writeln!(yaml, "steps:");
    yaml.push_str(steps);
    if step_count == 0 {
        let _ = writeln!(yaml, "  - power: on");
        return (yaml, 1);
    }
    (yaml, step_count)
}

/// Secure messaging in a trace whose card is not known (no `--card`): a PIN inside an SM
/// cryptogram is the card's own, sealed under a session key wrapped to the card's own key, so
/// no other card accepts it. Such a command is left out, and with it the rest of its session
/// (whose counter it advanced), until a new SET SESSION KEY or a power cycle.
#[derive(Default)]
struct SecureMessagingGap {
    /// A PIN inside secure messaging was left out in the current session.
    open: bool,
}

impl SecureMessagingGap {
    /// Why `command` is left out, when it is.
    fn left_out(&mut self, command: &[u8]) -> Option<&'static str> {
        let [cla, ins, ..] = *command else {
            return None;
        };
        if ins == crate::apdu::ins::INS_SET_SESSION_KEY {
            self.open = false;
            return None;
        }
        if !crate::trace::redact::secure_messaging_class(cla) {
            return None;
        }
        if crate::trace::redact::may_carry_secret(ins) {
            self.open = true;
            return Some(
                "not reproducible: PIN inside secure messaging (the card recorded is not known; give --card FILE)",
            );
        }
        self.open.then_some(
            "not reproducible: secure messaging after a PIN inside it that is not (the session's counter moved on)",
        )
    }
}

/// A `power: on` / `power: reset` step expecting the recorded ATR.
fn write_power_step(steps: &mut String, line: usize, reset: bool, atr: Option<&[u8]>) {
    let action = if reset { "reset" } else { "on" };
    let _ = writeln!(steps, "  - label: \"line {line}: power {action}\"");
    let _ = writeln!(steps, "    power: {action}");
    if let Some(bytes) = atr {
        let _ = writeln!(
            steps,
            "    expect:\n      atr: \"{}\"",
            to_spaced_hex(bytes)
        );
    }
}

/// The final `pins` step with the retry counters the trace implies; whether there was one.
fn write_counters_step(steps: &mut String, counters: &Counters) -> bool {
    if counters.last.is_empty() {
        return false;
    }
    let listed: Vec<String> = counters
        .last
        .iter()
        .map(|(key, tries)| format!("{key}: {tries}"))
        .collect();
    let _ = writeln!(
        steps,
        "  - label: \"the PIN counters the trace implies\"\n    pins: {{ {} }}",
        listed.join(", ")
    );
    true
}

/// What a command tells of the card: the retry counters its VERIFY answers reveal, and the
/// contents its READ BINARY got.
fn observe(
    exchange: &ApduExchange,
    sent: &[u8],
    selection: &Selection,
    counters: &mut Counters,
    files: &mut FilesRead,
) {
    let (Ok(command), Some(sw)) = (Command::parse(sent), exchange.status_word()) else {
        return;
    };
    if command.instruction() == crate::apdu::Instruction::Verify {
        if let Some(kind) = selection.secret_at(command.p2) {
            counters.observe(kind, sw, command.presents_secret());
        }
    }
    if let (Some(offset), true) = (command.read_offset(), sw.is_success()) {
        let content = files
            .entry((selection.application, selection.file))
            .or_default();
        let data = exchange.response_data().unwrap_or_default();
        let offset = usize::from(offset);
        if content.len() < offset + data.len() {
            content.resize(offset + data.len(), 0);
        }
        content[offset..offset + data.len()].copy_from_slice(data);
    }
}

/// The contents a trace read, by application and EF, as recorded: what the personal data
/// to stand in for looks like.
fn recorded_files(lines: &[(usize, TraceLine)]) -> FilesRead {
    let mut files = FilesRead::new();
    let mut selection = Selection::default();
    let mut counters = Counters::default();
    for (_, entry) in lines {
        match Event::from_trace(&entry.event) {
            Some(Event::Apdu(exchange)) => {
                let succeeded = exchange.status_word().is_some_and(StatusWord::is_success);
                observe(
                    &exchange,
                    &exchange.command,
                    &selection,
                    &mut counters,
                    &mut files,
                );
                selection.follow(&exchange.command, succeeded);
            }
            Some(
                Event::PowerOn { .. } | Event::Reset { .. } | Event::PowerOff | Event::Removed,
            ) => selection.clear(),
            _ => {}
        }
    }
    files
}

/// What a step expects of the data `sent` got (`response`, data and status word): the
/// recorded data, or a stand-in for the holder's personal data.
fn expected_data(
    substitutes: &Substitutes,
    sent: &[u8],
    selection: &Selection,
    response: &[u8],
) -> Expected {
    let Ok(command) = Command::parse(sent) else {
        return Expected::Recorded;
    };
    let data = &response[..response.len().saturating_sub(2)];
    if command.ins == crate::apdu::ins::INS_READ_RECORD {
        // Records of the 共通AP and 住基AP: card information tied to the holder.
        return substitutes.expected(selection.application, Some(0), 0, data);
    }
    let Some(offset) = command.read_offset() else {
        return Expected::Recorded;
    };
    // READ BINARY with a short EF identifier (P1 b8) reads that EF, not the selected one.
    let file = if command.p1 & 0x80 != 0 {
        Some(u16::from(command.p1 & 0x1F))
    } else {
        selection.file
    };
    substitutes.expected(selection.application, file, usize::from(offset), data)
}

/// A `send` step: `command` (spaced hex, a secret perhaps named) expecting the recorded
/// `response`, its data as `expected` says.
fn write_send_step(
    steps: &mut String,
    line: usize,
    exchange: &ApduExchange,
    command: &str,
    response: &[u8],
    expected: &Expected,
) {
    let label = if exchange.withheld.is_some() {
        format!(
            "line {line}: {} (PIN substituted)",
            exchange.command_text(crate::trace::PinRecording::Redacted)
        )
    } else {
        format!("line {line}")
    };
    let _ = writeln!(steps, "  - label: \"{label}\"");
    let _ = writeln!(steps, "    send: \"{command}\"");
    let (data, status) = response.split_at(response.len().saturating_sub(2));
    let _ = writeln!(steps, "    expect:");
    if status.len() == 2 {
        let _ = writeln!(steps, "      sw: \"{}\"", hex::encode_upper(status));
        match expected {
            _ if data.is_empty() => {
                let _ = writeln!(steps, "      data_len: 0");
            }
            Expected::Recorded => {
                let _ = writeln!(steps, "      data: \"{}\"", to_spaced_hex(data));
            }
            Expected::Synthetic(synthetic) => {
                let _ = writeln!(
                    steps,
                    "      # personal data: a synthetic holder's, of the recorded length"
                );
                let _ = writeln!(steps, "      data: \"{}\"", to_spaced_hex(synthetic));
            }
            Expected::LengthOnly => {
                let _ = writeln!(
                    steps,
                    "      # personal data: not copied (--keep-personal-data copies it)"
                );
                let _ = writeln!(steps, "      data_len: {}", data.len());
            }
        }
    } else {
        let _ = writeln!(steps, "      data: \"{}\"", to_spaced_hex(response));
    }
}

/// The scenario's head: where it comes from, its name, tags and clock.
fn write_header(yaml: &mut String, name: &str, recorded: Option<chrono::DateTime<chrono::Utc>>) {
    let _ = writeln!(
        yaml,
        "# Generated by `myna-hil trace to-scenario` from {}{}.",
        one_line(name),
        recorded.map_or_else(String::new, |at| format!(", recorded {}", at.to_rfc3339()))
    );
    let _ = writeln!(
        yaml,
        "# Every command is a raw step expecting the recorded answer; redacted PINs are replaced by\n\
         # the card's own PIN where the recorded answer was 90 00 (named, e.g. {{auth_pin}}, unless\n\
         # --show-pins) and by a wrong one otherwise."
    );
    let _ = writeln!(yaml, "name: \"trace {}\"", yaml_escape(name));
    let _ = writeln!(
        yaml,
        "description: \"The exchange recorded in {}, as a regression scenario.\"",
        yaml_escape(name)
    );
    let _ = writeln!(yaml, "tags: [from-trace]");
    if let Some(at) = recorded {
        // Card dates relative to "today" count from the scenario's clock: the recorded day.
        let _ = writeln!(yaml, "clock: {}", crate::replay::cli::japan_day(at));
    }
}

/// The card as far as the trace shows it, inline, with what it cannot show listed.
fn write_inferred_card(yaml: &mut String, inferred: &InferredCard<'_>) {
    let InferredCard {
        atr,
        counters,
        files,
        holder,
    } = *inferred;
    let _ = writeln!(
        yaml,
        "# The card, inferred from the trace (no --card was given)."
    );
    let _ = writeln!(yaml, "# unknown:");
    let _ = writeln!(
        yaml,
        "#   - the holder (person:): {}",
        if holder.is_some() {
            "personal data, not copied; a synthetic one of the same shape stands in"
        } else {
            "not in the trace; a synthetic one stands in"
        }
    );
    let _ = writeln!(
        yaml,
        "#   - the PINs: redacted or never sent; the defaults stand in"
    );
    let _ = writeln!(
        yaml,
        "#   - certificates and keys: the card issues its own, so steps reading them expect the\n\
         #     recorded contents and fail until --card names the card that holds them"
    );
    let _ = writeln!(yaml, "#   - the profile and options: the defaults stand in");
    if atr.is_none() {
        let _ = writeln!(yaml, "#   - the ATR: no power-on with an ATR in the trace");
    }
    for key in ["auth", "signing", "text"] {
        if !counters.first.contains_key(key) {
            let _ = writeln!(
                yaml,
                "#   - the {key} PIN's retry counter: the trace does not show it"
            );
        }
    }
    if !files.is_empty() {
        let _ = writeln!(yaml, "# files read (application, EF: bytes as recorded):");
        for ((application, file), content) in files {
            let personal =
                holder.is_some() && file.is_some_and(|fid| holds_personal_data(*application, fid));
            let _ = writeln!(
                yaml,
                "#   {} EF {}: {} bytes: {}",
                application.map_or_else(|| "MF".to_owned(), hex::encode_upper),
                file.map_or_else(|| "(none selected)".to_owned(), |fid| format!("{fid:04X}")),
                content.len(),
                if personal {
                    "(personal data, not copied)".to_owned()
                } else {
                    crate::scenario::pattern::spaced_hex_elided(content, 16)
                }
            );
        }
    }
    let _ = writeln!(yaml, "card:");
    let _ = writeln!(yaml, "  person:");
    match holder {
        Some(person) => {
            // A synthetic holder shaped like the recorded one: the steps reading 個人番号 and
            // 基本4情報 expect this holder's files.
            let _ = writeln!(yaml, "    name: \"{}\"", yaml_escape(&person.name));
            let _ = writeln!(yaml, "    kana: \"{}\"", yaml_escape(&person.kana));
            let _ = writeln!(yaml, "    birth_date: {}", person.birth_date);
            let _ = writeln!(yaml, "    sex: {}", sex_name(person.sex));
            let _ = writeln!(yaml, "    address: \"{}\"", yaml_escape(&person.address));
            let _ = writeln!(yaml, "    my_number: \"{}\"", person.my_number);
        }
        None => {
            let _ = writeln!(yaml, "    name: \"試験　太郎\"");
            let _ = writeln!(yaml, "    kana: \"シケン タロウ\"");
            let _ = writeln!(yaml, "    birth_date: 1980-01-01");
            let _ = writeln!(yaml, "    sex: male");
            let _ = writeln!(yaml, "    address: \"東京都千代田区霞が関一丁目1番1号\"");
            let _ = writeln!(yaml, "    my_number: \"123456789018\"");
        }
    }
    let _ = writeln!(yaml, "  card:");
    if let Some(atr) = atr {
        let _ = writeln!(yaml, "    atr: {{ custom: \"{}\" }}", to_spaced_hex(atr));
    }
    if !counters.first.is_empty() {
        let listed: Vec<String> = counters
            .first
            .iter()
            .map(|(key, tries)| format!("{key}: {tries}"))
            .collect();
        let _ = writeln!(yaml, "    tries_left: {{ {} }}", listed.join(", "));
    }
}

/// `exchange` with the secret of its command (a PIN in clear, from a trace recorded with
/// `--record-pins`) withheld, as if the trace had redacted it.
fn withholding_secrets(mut exchange: ApduExchange) -> ApduExchange {
    if exchange.withheld.is_some() {
        return exchange;
    }
    if let Some(range) = crate::trace::redact::secret_bytes(&exchange.command) {
        exchange.command[range.clone()].fill(0);
        exchange.withheld = Some(range);
    }
    exchange
}

/// The command with the card's own secret written by name (`00 20 00 80 04 {auth_pin}`), when
/// `sent` presents it: a VERIFY of a secret the card still holds that the card accepted.
fn named_secret(
    exchange: &ApduExchange,
    selection: &Selection,
    sent: &[u8],
    secrets: &CardSecrets,
) -> Option<String> {
    let range = exchange.withheld.clone()?;
    let command = Command::parse(sent).ok()?;
    if command.instruction() != crate::apdu::Instruction::Verify
        || !exchange.status_word().is_some_and(StatusWord::is_success)
    {
        return None;
    }
    let kind = selection.secret_at(command.p2)?;
    if !secrets.holds_original(kind) {
        return None;
    }
    let name = match kind {
        SecretKind::AuthPin => CardSecret::AuthPin,
        SecretKind::SigningPassword => CardSecret::SigningPassword,
        SecretKind::TextPin | SecretKind::CommonPin | SecretKind::JukiPin => CardSecret::TextPin,
        SecretKind::TextCollationA | SecretKind::SurfaceCollationA => CardSecret::CollationA,
        SecretKind::TextCollationB | SecretKind::SurfaceCollationB => CardSecret::CollationB,
        SecretKind::SurfaceBirthDateKey => CardSecret::BirthDateKey,
        SecretKind::TextBlockedKey => return None,
    };
    let after = sent.get(range.end..).unwrap_or_default();
    let mut text = format!(
        "{} {{{}}}",
        to_spaced_hex(sent.get(..range.start)?),
        name.name()
    );
    if !after.is_empty() {
        text.push(' ');
        text.push_str(&to_spaced_hex(after));
    }
    Some(text)
}

/// `text` inside a YAML double-quoted string: quotes, backslashes and every control
/// character escaped, so nothing copied from a trace can end the string or the line.
fn yaml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` for a YAML comment: on one line, whatever a trace put into it (a newline in a note
/// or an error would otherwise start a line of its own, a step).
fn one_line(text: &str) -> String {
    yaml_escape(text)
}

/// `card` as the scenario at `output` should name it: relative to the scenario's folder when
/// both are under one root, else absolute.
fn scenario_relative(card: &Path, output: &Path) -> String {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let card = absolute(card);
    let folder = absolute(output)
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let card_parts: Vec<Component> = card.components().collect();
    let folder_parts: Vec<Component> = folder.components().collect();
    let common = card_parts
        .iter()
        .zip(&folder_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common <= 1 {
        return card.display().to_string();
    }
    let mut relative = PathBuf::new();
    for _ in common..folder_parts.len() {
        relative.push("..");
    }
    for part in &card_parts[common..] {
        relative.push(part.as_os_str());
    }
    relative.display().to_string()
}

/// How a card file names `sex`.
fn sex_name(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Unspecified => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceEvent;

    fn line(number: usize, event: TraceEvent) -> (usize, TraceLine) {
        (
            number,
            TraceLine {
                at: chrono::DateTime::from_timestamp(1_795_133_700, 0).unwrap_or_default(),
                elapsed_us: 0,
                event,
            },
        )
    }

    fn apdu(number: usize, command: &str, response: &str) -> (usize, TraceLine) {
        line(
            number,
            TraceEvent::Apdu {
                command: command.into(),
                response: response.into(),
                card_us: 0,
                redacted: command.contains("XX"),
                note: None,
                failure: None,
            },
        )
    }

    #[test]
    fn an_inferred_card_carries_the_atr_and_the_counters_the_trace_shows() {
        let lines = vec![
            line(
                2,
                TraceEvent::PowerOn {
                    atr: Some("3B8880014D594E410000000012".into()),
                },
            ),
            apdu(3, "00A4040C0AD392F000260100000001", "9000"),
            apdu(4, "00A4020C020018", "9000"),
            apdu(5, "0020008004XXXXXXXX", "63C1"),
            apdu(6, "00B0000004", "010203049000"),
            apdu(7, "0024018004XXXXXXXX", "9000"),
        ];
        let generated = generate("clinic.jsonl", &lines, None, Privacy::default());
        let yaml = &generated.yaml;
        assert!(yaml.contains("clock: 2026-11-20"), "{yaml}");
        assert!(
            yaml.contains("atr: { custom: \"3B 88 80 01 4D 59 4E 41 00 00 00 00 12\" }"),
            "{yaml}"
        );
        // 63 C1 after a wrong PIN: the card started with two tries and has one left.
        assert!(yaml.contains("tries_left: { auth: 2 }"), "{yaml}");
        assert!(yaml.contains("pins: { auth: 1 }"), "{yaml}");
        // The wrong PIN is substituted by one that differs from the default PIN 1234.
        assert!(
            yaml.contains("send: \"00 20 00 80 04 32 33 34 35\""),
            "{yaml}"
        );
        // What READ BINARY got is listed as the file's recorded contents.
        assert!(
            yaml.contains("D392F000260100000001 EF 0018: 4 bytes: 01 02 03 04"),
            "{yaml}"
        );
        // A redacted PIN change the card accepted is reproduced with a stand-in new value
        // (what a replay sends, and presents afterwards).
        assert!(
            yaml.contains("line 7: 00 24 01 80 04 [4 PIN bytes redacted] (PIN substituted)"),
            "{yaml}"
        );
        assert!(
            yaml.contains("the text PIN's retry counter: the trace does not show it"),
            "{yaml}"
        );
        assert_eq!(generated.left_out, 0);
        assert_eq!(generated.steps, 7);
    }
}

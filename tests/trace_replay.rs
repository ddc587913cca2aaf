//! `myna-hil replay`: a transcript recorded from one card replays identically against the same
//! card description, and every difference against another card is reported with its line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::myna_hil;
use std::path::{Path, PathBuf};
use std::time::Duration;

use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;
use myna_hil::trace::{PinRecording, TraceEvent, TraceRecorder};

const SELECT_JPKI: &str = "00A4040C0AD392F000260100000001";
const SELECT_AUTH_PIN: &str = "00A4020C020018";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cards")
        .join(name)
}

/// Runs `commands` on the card described by `card_file` and records them (PINs redacted).
fn record_session(card_file: &Path, commands: &[&str], trace: &Path) {
    let description = CardDescription::from_yaml_file(card_file).unwrap();
    let mut card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    let mut recorder = TraceRecorder::create(trace, "test", None, PinRecording::Redacted).unwrap();
    let atr = card.power_on().map(hex::encode_upper);
    recorder.record(TraceEvent::PowerOn { atr }).unwrap();
    for command in commands {
        let bytes = hex::decode(command).unwrap();
        let reply = card.process(&bytes);
        recorder
            .record_apdu(&bytes, &reply.rapdu, Duration::ZERO, None)
            .unwrap();
    }
    recorder.flush().unwrap();
}

fn replay(trace: &Path, card_file: &Path) -> (i32, String, String) {
    replay_with(trace, card_file, &[])
}

fn replay_with(trace: &Path, card_file: &Path, extra: &[&str]) -> (i32, String, String) {
    let output = myna_hil()
        .arg("replay")
        .arg(trace)
        .arg("--card")
        .arg(card_file)
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A wrong PIN, then the right one: the PINs are redacted in the file, so the replay must
/// reproduce both outcomes from the recorded answers alone.
fn pin_session() -> Vec<&'static str> {
    vec![
        SELECT_JPKI,
        SELECT_AUTH_PIN,
        "00200080",
        "002000800430303030",
        "002000800431323334",
        "00200080",
    ]
}

#[test]
fn a_trace_replays_identically_against_the_card_it_was_recorded_from() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("session.jsonl");
    record_session(&fixture("standard.yaml"), &pin_session(), &trace);
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        text.contains("0020008004XXXXXXXX"),
        "the recording must hide the PINs: {text}"
    );
    assert!(
        !text.contains("0020008004313233"),
        "the right PIN leaked into the trace: {text}"
    );

    let (code, stdout, stderr) = replay(&trace, &fixture("standard.yaml"));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("6 commands, 1 power-ons, 0 divergences"),
        "{stdout}"
    );
}

#[test]
fn a_card_with_one_try_left_diverges_at_the_first_pin_answer() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("session.jsonl");
    record_session(&fixture("standard.yaml"), &pin_session(), &trace);

    // The same holder and PIN, but the auth PIN starts with one try left: the retry query and
    // the wrong PIN answer differently, and the wrong PIN then locks the card.
    let (code, stdout, _) = replay(&trace, &fixture("auth_pin_one_try_left.yaml"));
    assert_eq!(code, 1, "{stdout}");
    // Line 1 is the start event, line 2 power-on, line 3 SELECT JPKI, ... line 5 the retry query.
    assert!(
        stdout.contains("first divergence at line 5: 00200080\n  recorded 63C3\n  replayed 63C1"),
        "{stdout}"
    );
    // The exchanges around it, as recorded, the divergent one marked.
    assert!(
        stdout.contains("    line 4: 00A4020C020018 → 9000\n  > line 5: 00200080 → 63C3\n    line 6: 0020008004XXXXXXXX → 63C2\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("line 6: 0020008004XXXXXXXX\n"), "{stdout}");
    assert!(
        stdout.contains("more divergences (--all lists them)"),
        "{stdout}"
    );

    let (code, stdout, _) = replay_with(&trace, &fixture("auth_pin_one_try_left.yaml"), &["--all"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout
            .contains("divergence at line 6: 0020008004XXXXXXXX\n  recorded 63C2\n  replayed 63C0"),
        "{stdout}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("broken.jsonl");
    record_session(&fixture("standard.yaml"), &[SELECT_JPKI], &trace);
    let mut text = std::fs::read_to_string(&trace).unwrap();
    text.push_str("{\"event\":\"apdu\",\"command\":\n");
    std::fs::write(&trace, text).unwrap();

    let (code, _, stderr) = replay(&trace, &fixture("standard.yaml"));
    assert_eq!(code, 2);
    assert!(stderr.contains("broken.jsonl, line 4"), "{stderr}");

    let (code, _, stderr) = replay(&dir.path().join("missing.jsonl"), &fixture("standard.yaml"));
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.jsonl"), "{stderr}");
}

#[test]
fn run_record_writes_one_transcript_per_scenario_that_replays_identically() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/card");
    let output = myna_hil()
        .arg("run")
        .arg(scenarios.join("jpki_auth_pin_lockout.yaml"))
        .arg(scenarios.join("get_challenge.yaml"))
        .arg("--record")
        .arg(dir.path().join("traces"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let lockout = dir.path().join("traces/jpki_auth_pin_lockout.jsonl");
    assert!(dir.path().join("traces/get_challenge.jsonl").exists());
    let text = std::fs::read_to_string(&lockout).unwrap();
    assert!(
        text.contains("\"command\":\"0020008004XXXXXXXX\",\"response\":\"63C0\""),
        "{text}"
    );
    assert!(!text.contains("0020008004313233"), "PIN leaked: {text}");
    // The lockout, replayed against the scenario's card, answers the same at every step.
    let (code, stdout, stderr) = replay(&lockout, &fixture("standard.yaml"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(", 0 divergences"), "{stdout}");
    assert!(stdout.contains("power-ons"), "{stdout}");
}

/// A card whose certificate dates are relative to the serving day ("+404d"), recorded on
/// `day` (in Japan) reading its auth certificate, written as a transcript stamped that day.
fn record_certificate_read_on(day: chrono::NaiveDate, trace: &Path) {
    use myna_hil::trace::{ApduExchange, Event, ExchangeAnswer, Transcript};
    let description = CardDescription::from_yaml_file(&fixture("standard.yaml"))
        .unwrap()
        .on_day(day);
    let mut card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    let mut transcript = Transcript::default();
    transcript.push(
        Duration::ZERO,
        Event::PowerOn {
            atr: card.power_on(),
        },
    );
    for command in [SELECT_JPKI, "00A4020C02000A", "00B0000000"] {
        let bytes = hex::decode(command).unwrap();
        let reply = card.process(&bytes);
        transcript.push(
            Duration::from_millis(1),
            Event::Apdu(ApduExchange::new(
                &bytes,
                ExchangeAnswer::Response(reply.rapdu),
            )),
        );
    }
    // 09:30 in Japan on `day`.
    let started = day.and_hms_opt(0, 30, 0).unwrap().and_utc();
    myna_hil::trace::write_transcript(
        trace,
        "test",
        None,
        PinRecording::Redacted,
        started,
        &transcript,
    )
    .unwrap();
}

#[test]
fn an_old_capture_replays_against_the_card_as_it_was_on_the_recorded_day() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.jsonl");
    let day = chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
    record_certificate_read_on(day, &old);
    let (code, stdout, stderr) = replay(&old, &fixture("standard.yaml"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 commands, 1 power-ons, 0 divergences"),
        "{stdout}"
    );

    // The same session recorded on another day reads another certificate: the replay of the
    // first one's answers against that day's card would differ, so the day matters.
    let other = dir.path().join("other.jsonl");
    record_certificate_read_on(day.succ_opt().unwrap(), &other);
    let answer = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .find(|line| line.contains("\"command\":\"00B0000000\""))
            .map(str::to_owned)
            .unwrap()
    };
    let (old_line, other_line) = (answer(&old), answer(&other));
    let response = |line: &str| {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        value["response"].as_str().unwrap().to_owned()
    };
    assert_ne!(response(&old_line), response(&other_line));
}

/// Every scenario of the suite, recorded with `run --record`, replays with `replay TRACE`
/// alone (the card is the one the trace names) with no divergence — face receptions, PIN
/// lockouts, PIN changes, removals, reader faults, secure messaging and receptions of two
/// world cards placed in turn included; times never go back and every answer the card gave
/// carries the card's own time.
#[test]
fn the_whole_suite_recorded_replays_without_a_card_argument_and_without_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces");
    let output = myna_hil()
        .args(["run", "scenarios", "--record"])
        .arg(&traces)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let mut names: Vec<PathBuf> = std::fs::read_dir(&traces)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    names.sort();
    assert!(names.len() >= 90, "{} traces", names.len());
    // A phone on the generic reader makes two cards talk at once: not recorded, and said so.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("not recorded: scenarios/smartphone/android_pin_right.yaml"),
        "{stdout}"
    );
    assert!(!names
        .iter()
        .any(|name| name.ends_with("android_pin_right.jsonl")));
    let mut problems = Vec::new();
    let mut face_receptions = 0;
    for trace in &names {
        let stem = trace.file_stem().unwrap().to_string_lossy().into_owned();
        let lines = myna_hil::trace::read_trace(trace).unwrap();
        if !lines.windows(2).all(|w| w[0].elapsed_us <= w[1].elapsed_us) {
            problems.push(format!("{stem}: elapsed_us goes back"));
        }
        for line in &lines {
            if let TraceEvent::Apdu {
                response,
                card_us,
                note: None,
                ..
            } = &line.event
            {
                if !response.starts_with("error") && *card_us == 0 {
                    problems.push(format!("{stem}: an answer without the card's time"));
                    break;
                }
            }
        }
        // 照合番号B presented to the surface application (redacted): a face reception.
        let text = std::fs::read_to_string(trace).unwrap();
        if text.contains("\"command\":\"002000800EXXXXXXXXXXXXXXXXXXXXXXXXXXXX\"") {
            face_receptions += 1;
        }
        let output = myna_hil().arg("replay").arg(trace).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.code() != Some(0) || !stdout.contains(", 0 divergences") {
            problems.push(format!(
                "{stem}: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(face_receptions >= 5, "{face_receptions} face receptions");
    assert!(
        traces
            .join("family_job_change_two_cards.chichi.card.yaml")
            .is_file(),
        "the second world card is written beside its trace"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Nothing copied from a trace into a generated scenario can add a step: a newline in a note
/// or in a reader error stays inside its comment.
#[test]
fn to_scenario_escapes_what_it_copies_from_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("hostile.jsonl");
    let injected = "\n  - send: \"00 20 00 80 04 31 32 33 34\"\n    expect: { sw: \"9000\" }";
    let mut recorder = TraceRecorder::create(&trace, "test", None, PinRecording::Redacted).unwrap();
    recorder
        .record(TraceEvent::PowerOn {
            atr: Some("3BDA13FF8131FB468012392F31C173C601C03B".into()),
        })
        .unwrap();
    recorder
        .record(TraceEvent::Apdu {
            command: SELECT_JPKI.into(),
            response: "9000".into(),
            card_us: 1,
            redacted: false,
            note: Some(format!("probe{injected}")),
            failure: None,
        })
        .unwrap();
    recorder
        .record(TraceEvent::Apdu {
            command: SELECT_AUTH_PIN.into(),
            response: format!("error: broken{injected}"),
            card_us: 0,
            redacted: false,
            note: None,
            failure: Some("transmission".into()),
        })
        .unwrap();
    recorder.flush().unwrap();
    let output_path = dir.path().join("hostile.yaml");
    let output = myna_hil()
        .args(["trace", "to-scenario"])
        .arg(&trace)
        .arg("--card")
        .arg(fixture("standard.yaml"))
        .arg("-o")
        .arg(&output_path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = std::fs::read_to_string(&output_path).unwrap();
    assert!(
        !yaml.contains("\n  - send: \"00 20 00 80 04 31 32 33 34\""),
        "{yaml}"
    );
    assert!(yaml.contains("probe\\n  - send"), "{yaml}");
    // The scenario loads and runs: one power step, nothing injected.
    let run = myna_hil().arg("run").arg(&output_path).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{yaml}");
    let steps = yaml.lines().filter(|line| line.starts_with("  - ")).count();
    assert_eq!(steps, 1, "{yaml}");
}

/// A text-AP secure-messaging session (SET SESSION KEY, then CLA 08 commands, a VERIFY among
/// them) recorded with PINs redacted replays against its card with no divergence: the SM
/// cryptograms are kept (they are not the PIN), and the card derives the same session key and
/// counters from them.
#[test]
fn a_recorded_secure_messaging_session_replays_without_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/card/text_ap_secure_messaging.yaml");
    let output = myna_hil()
        .arg("run")
        .arg(&scenario)
        .arg("--record")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let trace = dir.path().join("text_ap_secure_messaging.jsonl");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("\"command\":\"082000941386"), "{text}");
    // The plain VERIFY before the session is still redacted.
    assert!(
        text.contains("\"command\":\"0020008004XXXXXXXX\""),
        "{text}"
    );
    let output = myna_hil().arg("replay").arg(&trace).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(", 0 divergences"), "{stdout}");
}

/// A trace that starts with the card's insertion and goes straight to commands (as a capture
/// that began mid-session does) finds the card powered, as a scenario does.
#[test]
fn a_trace_starting_with_an_insertion_and_no_power_on_replays() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("mid-session.jsonl");
    let mut recorder = TraceRecorder::create(&trace, "test", None, PinRecording::Redacted).unwrap();
    recorder.record(TraceEvent::Inserted).unwrap();
    for (command, response) in [(SELECT_JPKI, "9000"), (SELECT_AUTH_PIN, "9000")] {
        recorder
            .record_apdu(
                &hex::decode(command).unwrap(),
                &hex::decode(response).unwrap(),
                Duration::ZERO,
                None,
            )
            .unwrap();
    }
    recorder.flush().unwrap();
    let (code, stdout, stderr) = replay(&trace, &fixture("standard.yaml"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("2 commands, 0 power-ons, 0 divergences"),
        "{stdout}"
    );
}

/// Without --card the replay takes the card the trace names; a trace that names none, or a
/// card file that is not there, is bad input naming what is missing.
#[test]
fn the_card_a_trace_names_is_required_and_reported_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("unnamed.jsonl");
    record_session(&fixture("standard.yaml"), &[SELECT_JPKI], &trace);
    let output = myna_hil().arg("replay").arg(&trace).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--against virtual needs --card FILE")
            && stderr.contains("the trace's start line names no card"),
        "{stderr}"
    );

    let named = dir.path().join("named.jsonl");
    let mut recorder = TraceRecorder::create(
        &named,
        "test",
        Some("gone.card.yaml"),
        PinRecording::Redacted,
    )
    .unwrap();
    recorder.record(TraceEvent::PowerOn { atr: None }).unwrap();
    recorder.flush().unwrap();
    let output = myna_hil().arg("replay").arg(&named).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gone.card.yaml"), "{stderr}");
}

/// A generated scenario carries no PIN unless `--show-pins`: from a trace recorded with PINs
/// kept, the right PIN is written by name (`{auth_pin}`, filled in from the card when the
/// scenario loads) and the wrong one as a stand-in; both scenarios run and pass.
#[test]
fn to_scenario_writes_no_pin_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("kept.jsonl");
    let description = CardDescription::from_yaml_file(&fixture("standard.yaml")).unwrap();
    let mut card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    let mut recorder = TraceRecorder::create(&trace, "test", None, PinRecording::Kept).unwrap();
    let atr = card.power_on().map(hex::encode_upper);
    recorder.record(TraceEvent::PowerOn { atr }).unwrap();
    for command in [
        SELECT_JPKI,
        SELECT_AUTH_PIN,
        "0020008004", /* 9999 */
        "002000800431323334",
    ] {
        let bytes = match command {
            "0020008004" => hex::decode("002000800439393939").unwrap(),
            other => hex::decode(other).unwrap(),
        };
        let reply = card.process(&bytes);
        recorder
            .record_apdu(&bytes, &reply.rapdu, Duration::ZERO, None)
            .unwrap();
    }
    recorder.flush().unwrap();
    let generate = |extra: &[&str], output: &Path| {
        let result = myna_hil()
            .args(["trace", "to-scenario"])
            .arg(&trace)
            .arg("--card")
            .arg(fixture("standard.yaml"))
            .arg("-o")
            .arg(output)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        let run = myna_hil().arg("run").arg(output).output().unwrap();
        let yaml = std::fs::read_to_string(output).unwrap();
        assert!(
            run.status.success(),
            "{}\n{yaml}",
            String::from_utf8_lossy(&run.stdout)
        );
        yaml
    };
    let hidden = generate(&[], &dir.path().join("hidden.yaml"));
    assert!(
        hidden.contains("send: \"00 20 00 80 04 {auth_pin}\""),
        "{hidden}"
    );
    assert!(!hidden.contains("31 32 33 34"), "the PIN leaked:\n{hidden}");
    assert!(
        !hidden.contains("39 39 39 39"),
        "the wrong PIN leaked:\n{hidden}"
    );
    let shown = generate(&["--show-pins"], &dir.path().join("shown.yaml"));
    assert!(shown.contains("31 32 33 34"), "{shown}");
    assert!(shown.contains("39 39 39 39"), "{shown}");
}

/// A command naming a secret the card does not have is a load error naming it.
#[test]
fn a_command_naming_an_unknown_secret_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: bad\ncard: \"{}\"\nsteps:\n  - send: \"00 20 00 80 04 {{pin}}\"\n    expect: {{ sw: \"9000\" }}\n",
            fixture("standard.yaml").display()
        ),
    )
    .unwrap();
    let output = myna_hil().arg("run").arg(&scenario).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("`{pin}` is not a secret of the card") && text.contains("{auth_pin}"),
        "{text}"
    );
}

/// Writes a transcript of raw lines after a start line recorded `pins`.
fn write_trace(path: &Path, pins: &str, apdus: &[(&str, &str)]) {
    let mut text = format!(
        "{{\"at\":\"2026-11-20T00:00:00Z\",\"elapsed_us\":0,\"event\":\"start\",\"format\":\"myna-hil-trace\",\"version\":1,\"transport\":\"test\",\"pins\":\"{pins}\"}}\n"
    );
    for (number, (command, response)) in apdus.iter().enumerate() {
        text.push_str(&format!(
            "{{\"at\":\"2026-11-20T00:00:00Z\",\"elapsed_us\":{number},\"event\":\"apdu\",\"command\":\"{command}\",\"response\":\"{response}\",\"card_us\":0}}\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// A trace recorded with `--record-pins` (the PIN 9876 in well-formed, proprietary-class and
/// malformed VERIFYs, none of them the card's) is replayed and turned into a scenario without
/// printing a digit of it, unless `--show-pins` asks.
#[test]
fn replay_and_to_scenario_of_a_trace_with_pins_hide_them_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("kept.jsonl");
    write_trace(
        &trace,
        "kept",
        &[
            (SELECT_JPKI, "9000"),
            (SELECT_AUTH_PIN, "9000"),
            // Recorded as accepted: the card replayed against refuses 9876 (63 C2).
            ("002000800439383736", "9000"),
            ("802000800439383736", "9000"),
            ("002000800239383736", "9000"),
        ],
    );
    let json = dir.path().join("report.json");
    let (code, stdout, _) = replay_with(
        &trace,
        &fixture("standard.yaml"),
        &["--all", "--json", json.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{stdout}");
    let report = std::fs::read_to_string(&json).unwrap();
    assert!(stdout.contains("0020008004XXXXXXXX"), "{stdout}");
    for text in [&stdout, &report] {
        assert!(!text.contains("39383736"), "the PIN leaked:\n{text}");
        assert!(!text.contains("3938"), "PIN digits leaked:\n{text}");
    }
    // Without --all: the context lines around the first divergence are hidden too.
    let (_, stdout, _) = replay(&trace, &fixture("standard.yaml"));
    assert!(stdout.contains("around it, as recorded"), "{stdout}");
    assert!(!stdout.contains("3938"), "PIN digits leaked:\n{stdout}");
    let (_, shown, _) = replay_with(&trace, &fixture("standard.yaml"), &["--show-pins"]);
    assert!(shown.contains("002000800439383736"), "{shown}");

    let scenario = dir.path().join("kept.yaml");
    let output = myna_hil()
        .args(["trace", "to-scenario"])
        .arg(&trace)
        .arg("-o")
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = std::fs::read_to_string(&scenario).unwrap();
    assert!(!yaml.contains("39 38"), "PIN digits leaked:\n{yaml}");
    assert!(!yaml.contains("38 37"), "PIN digits leaked:\n{yaml}");
}

/// A PIN inside secure messaging is not replayed as a plaintext VERIFY under CLA 08: hidden in
/// the trace, it is "not reproducible"; sealed in a cryptogram of a card the scenario does not
/// know, it is left out with the same words.
#[test]
fn a_pin_inside_secure_messaging_is_never_written_as_a_plaintext_verify() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("sm.jsonl");
    write_trace(
        &trace,
        "redacted",
        &[
            ("00A4040C0AD392100031000101040800", "9000"),
            ("0820008004XXXXXXXX", "9000"),
            ("00A4020C020001", "9000"),
        ],
    );
    let (_, stdout, _) = replay_with(&trace, &fixture("standard.yaml"), &["--all"]);
    assert!(
        stdout.contains("not replayed: not reproducible: PIN inside secure messaging"),
        "{stdout}"
    );
    let scenario = dir.path().join("sm.yaml");
    let generate = |extra: &[&str]| {
        let output = myna_hil()
            .args(["trace", "to-scenario"])
            .arg(&trace)
            .arg("-o")
            .arg(&scenario)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read_to_string(&scenario).unwrap()
    };
    let standard = fixture("standard.yaml");
    for extra in [&[][..], &["--card", standard.to_str().unwrap()][..]] {
        let yaml = generate(extra);
        assert!(!yaml.contains("send: \"08 20"), "{yaml}");
        assert!(
            yaml.contains("# line 3: not reproducible: PIN inside secure messaging"),
            "{yaml}"
        );
    }

    // A cryptogram kept in the trace, with no card named: left out, and the rest of its
    // session (whose counter it advanced) with it; named with --card, it is sent as recorded.
    let session = dir.path().join("session");
    let output = myna_hil()
        .arg("run")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios/card/text_ap_secure_messaging.yaml"),
        )
        .arg("--record")
        .arg(&session)
        .output()
        .unwrap();
    assert!(output.status.success());
    let recorded = session.join("text_ap_secure_messaging.jsonl");
    let unknown = dir.path().join("unknown.yaml");
    let output = myna_hil()
        .args(["trace", "to-scenario"])
        .arg(&recorded)
        .arg("-o")
        .arg(&unknown)
        .output()
        .unwrap();
    assert!(output.status.success());
    let yaml = std::fs::read_to_string(&unknown).unwrap();
    assert!(!yaml.contains("send: \"08 20"), "{yaml}");
    assert!(
        yaml.contains("not reproducible: PIN inside secure messaging (the card recorded is not known; give --card FILE): left out"),
        "{yaml}"
    );
    let run = myna_hil().arg("run").arg(&unknown).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let known = dir.path().join("known.yaml");
    let output = myna_hil()
        .args(["trace", "to-scenario"])
        .arg(&recorded)
        .arg("--card")
        .arg(session.join("text_ap_secure_messaging.card.yaml"))
        .arg("-o")
        .arg(&known)
        .output()
        .unwrap();
    assert!(output.status.success());
    let yaml = std::fs::read_to_string(&known).unwrap();
    assert!(yaml.contains("send: \"08 20 00 94 13 86"), "{yaml}");
    let run = myna_hil().arg("run").arg(&known).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
}

/// A patient's card, as a clinic capture would read it.
const PATIENT: &str = "\
person:
  name: \"山田　花子\"
  kana: \"ヤマダ ハナコ\"
  birth_date: 1975-03-21
  sex: female
  address: \"大阪府大阪市北区梅田三丁目1番3号\"
  my_number: \"987654321018\"
card: {}
";

/// A capture of the text application's 個人番号 and 基本4情報 (read whole, in part and by
/// short EF identifier) becomes a scenario with a synthetic holder of the same shape in their
/// place, which the inferred card holds: the scenario passes and carries no byte of the
/// patient's, unless --keep-personal-data.
#[test]
fn to_scenario_replaces_the_patients_data_with_a_synthetic_holder() {
    let dir = tempfile::tempdir().unwrap();
    let card_file = dir.path().join("patient.yaml");
    std::fs::write(&card_file, PATIENT).unwrap();
    let trace = dir.path().join("clinic.jsonl");
    record_session(
        &card_file,
        &[
            "00A4040C0AD392100031000101040800",
            "00A4020C020011",
            "002000800431323334",
            "00A4020C020001",
            "00B0000011",
            "00A4020C020002",
            "00B0000000",
            "00B0001008",
            "00B0820000",
        ],
        &trace,
    );
    let recorded = std::fs::read_to_string(&trace).unwrap();
    let hex_of = |text: &str| hex::encode_upper(text.as_bytes());
    let spaced_of = |text: &str| myna_hil::apdu::to_spaced_hex(text.as_bytes());
    // The trace does hold the patient's data.
    assert!(recorded.contains(&hex_of("山田")), "{recorded}");
    assert!(recorded.contains(&hex_of("987654321018")), "{recorded}");

    let generate = |extra: &[&str], output: &Path| {
        let result = myna_hil()
            .args(["trace", "to-scenario"])
            .arg(&trace)
            .arg("-o")
            .arg(output)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::read_to_string(output).unwrap()
    };
    let scenario = dir.path().join("clinic.yaml");
    let yaml = generate(&[], &scenario);
    for personal in ["山田", "花子", "梅田", "大阪", "987654321018", "19750321"] {
        assert!(!yaml.contains(personal), "{personal} leaked:\n{yaml}");
        assert!(
            !yaml.contains(&spaced_of(personal)),
            "{personal} leaked:\n{yaml}"
        );
    }
    // A synthetic holder of the same shape: name of 5 characters with the space in place,
    // an address of the same length.
    let name_line = yaml
        .lines()
        .find(|line| line.starts_with("    name: "))
        .unwrap();
    let name = name_line.trim_start_matches("    name: ").trim_matches('"');
    assert_eq!(name.len(), "山田　花子".len(), "{yaml}");
    assert_eq!(name.chars().nth(2), Some('　'), "{yaml}");
    let address_line = yaml
        .lines()
        .find(|line| line.starts_with("    address: "))
        .unwrap();
    let address = address_line
        .trim_start_matches("    address: ")
        .trim_matches('"');
    assert_eq!(
        address.len(),
        "大阪府大阪市北区梅田三丁目1番3号".len(),
        "{yaml}"
    );
    assert!(
        yaml.contains("personal data: a synthetic holder's"),
        "{yaml}"
    );
    // The generated card holds that holder: the scenario passes.
    let run = myna_hil().arg("run").arg(&scenario).output().unwrap();
    assert!(
        run.status.success(),
        "{}\n{yaml}",
        String::from_utf8_lossy(&run.stdout)
    );

    let kept = generate(&["--keep-personal-data"], &dir.path().join("kept.yaml"));
    assert!(kept.contains(&spaced_of("987654321018")), "{kept}");
    assert!(kept.contains(&spaced_of("山田")), "{kept}");
}

//! From the clinic to a regression test, end to end: pcscd's APDU log of an OpenSC session with
//! our card (served through vpcd) is captured for real, imported into a transcript, replayed
//! against the card with no divergence, and turned into a scenario that passes on the virtual
//! reader. Needs the Debian packages pcscd, vsmartcard-vpcd and opensc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;
use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;
use myna_hil::trace::{read_trace, TraceEvent};

fn myna_hil(args: &[&str], paths: &[&Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_myna-hil"));
    command.args(args);
    for path in paths {
        command.arg(path);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
pub(crate) fn a_pcscd_log_of_an_opensc_session_imports_replays_and_becomes_a_passing_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pcscd.log");
    // The card is served as `card serve` serves it: relative dates counted from today in
    // Japan. The import is told when the capture started, so replay and the scenario build
    // the card on that same day.
    let started = chrono::Utc::now();
    let today_in_japan = (started + chrono::Duration::hours(9)).date_naive();
    let description = CardDescription::from_yaml_file(&standard_card_path())
        .unwrap()
        .on_day(today_in_japan);
    let card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    {
        let Some(_pcscd) = Pcscd::with_apdu_log(&log) else {
            return;
        };
        let _server = serve_to_pcscd(card, test_options());
        let (ok, stdout, stderr) = run("opensc-tool", &["-n"]);
        assert!(ok && stdout.contains("jpki"), "{stdout}{stderr}");
        let (ok, stdout, stderr) = run("pkcs15-tool", &["-D"]);
        assert!(ok, "{stdout}{stderr}");
        // A wrong PIN, then the right one: the log holds both in clear.
        let (ok, _, _) = run(
            "pkcs15-tool",
            &["--verify-pin", "--auth-id", "01", "--pin", "0000"],
        );
        assert!(!ok, "a wrong PIN must be refused");
        let (ok, stdout, stderr) = run(
            "pkcs15-tool",
            &["--verify-pin", "--auth-id", "01", "--pin", "1234"],
        );
        assert!(ok, "{stdout}{stderr}");
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    let logged_apdus = log_text
        .lines()
        .filter(|line| line.contains(" APDU: "))
        .count();
    assert!(logged_apdus > 20, "pcscd logged no APDUs:\n{log_text}");
    assert!(
        log_text.contains("APDU: 00 20 00 80 04 31 32 33 34"),
        "the log holds the PIN"
    );

    let trace = dir.path().join("clinic.jsonl");
    let started_text = started.to_rfc3339();
    let import = myna_hil(
        &[
            "trace",
            "import",
            "--from",
            "pcscd",
            "--started",
            &started_text,
            "-o",
        ],
        &[&trace, &log],
    );
    assert!(import.status.success(), "{}", text(&import));
    assert!(
        text(&import).contains(&format!("{logged_apdus} APDUs")),
        "every logged APDU is imported: {}",
        text(&import)
    );
    let trace_text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        !trace_text.contains("002000800431323334"),
        "PIN leaked into the trace"
    );
    assert!(trace_text.contains("0020008004XXXXXXXX"), "{trace_text}");
    let lines = read_trace(&trace).unwrap();
    let atr = hex::encode_upper(load_card(&standard_card_path()).atr().unwrap());
    assert!(lines.iter().any(|line| matches!(
        &line.event,
        TraceEvent::PowerOn { atr: Some(recorded) } if *recorded == atr
    )));

    let card_file = standard_card_path();
    let replay = myna_hil(&["replay"], &[&trace, Path::new("--card"), &card_file]);
    assert!(replay.status.success(), "{}", text(&replay));
    assert!(
        text(&replay).contains(", 0 divergences"),
        "{}",
        text(&replay)
    );

    let scenario = dir.path().join("clinic.yaml");
    let convert = myna_hil(
        &["trace", "to-scenario"],
        &[
            &trace,
            Path::new("--card"),
            &card_file,
            Path::new("-o"),
            &scenario,
        ],
    );
    assert!(convert.status.success(), "{}", text(&convert));
    let yaml = std::fs::read_to_string(&scenario).unwrap();
    // The wrong PIN then the right one leave the auth PIN's counter full.
    assert!(yaml.contains("pins: { auth: 3, "), "{yaml}");
    assert!(yaml.contains("sw: \"63C2\""), "{yaml}");
    let run_it = myna_hil(&["run"], &[&scenario]);
    assert!(run_it.status.success(), "{}\n{yaml}", text(&run_it));
    assert!(text(&run_it).contains("1 passed"), "{}", text(&run_it));

    // The same scenario against a card whose auth PIN has one try left fails: it is a
    // regression test, not a tautology.
    // The scenario names its card relative to its own folder, or absolute when they share no
    // root (the checkout may itself be under /tmp): swap the whole `card:` line.
    let card_line = yaml
        .lines()
        .find(|line| line.starts_with("card: "))
        .unwrap_or_else(|| panic!("the scenario names the card file\n{yaml}"));
    let other = yaml.replace(
        card_line,
        &format!(
            "card: \"{}\"",
            fixture_card("auth_pin_one_try_left.yaml").display()
        ),
    );
    assert_ne!(other, yaml);
    std::fs::write(&scenario, other).unwrap();
    let run_other = myna_hil(&["run"], &[&scenario]);
    assert_eq!(run_other.status.code(), Some(1), "{}", text(&run_other));
}

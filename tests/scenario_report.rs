//! Report formats from synthetic results: the text summary, JSON and JUnit carry what was
//! expected, what happened and the transcript excerpt; the exit code follows the outcomes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::PathBuf;

use myna_hil::scenario::junit::render_junit;
use myna_hil::scenario::report::{render_json, render_text, Style, Summary};
use myna_hil::scenario::run::{Outcome, ScenarioFailure, ScenarioResult, TranscriptEntry};
use myna_hil::scenario::LoadError;

fn entry(step: usize, at_us: u64, direction: &'static str, text: &str) -> TranscriptEntry {
    TranscriptEntry {
        step,
        at_us,
        direction,
        text: text.to_owned(),
    }
}

fn passed() -> ScenarioResult {
    ScenarioResult {
        name: "JPKI select".into(),
        file: "scenarios/card/select.yaml".into(),
        tags: vec!["card".into()],
        outcome: Outcome::Passed,
        steps_run: 1,
        steps_total: 1,
        simulated_us: 3000,
        wall_us: 120,
        transcript: vec![
            entry(0, 0, ">>", "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"),
            entry(0, 3000, "<<", "SW 90 00 (success), no data"),
        ],
        reception: None,
        receptions: Vec::new(),
        oqs_calls: Vec::new(),
        exchanges: Default::default(),
    }
}

fn failed() -> ScenarioResult {
    ScenarioResult {
        name: "auth PIN lock".into(),
        file: "scenarios/card/pin.yaml".into(),
        tags: vec!["card".into(), "pin".into()],
        outcome: Outcome::Failed(
            ScenarioFailure {
                step: 4,
                step_title: "step 5 (third wrong PIN)".into(),
                line: 21,
                expected: "SW 63 C1".into(),
                actual: "SW 63 C0 (verification failed / tries left), no data".into(),
            }
            .into(),
        ),
        steps_run: 5,
        steps_total: 7,
        simulated_us: 126_000,
        wall_us: 300,
        transcript: (0..5)
            .flat_map(|step| {
                [
                    entry(
                        step,
                        step as u64 * 40_000,
                        ">>",
                        &format!("command of step {}", step + 1),
                    ),
                    entry(
                        step,
                        step as u64 * 40_000 + 3000,
                        "<<",
                        &format!("answer of step {}", step + 1),
                    ),
                ]
            })
            .collect(),
        reception: None,
        receptions: Vec::new(),
        oqs_calls: Vec::new(),
        exchanges: Default::default(),
    }
}

fn load_error() -> LoadError {
    LoadError {
        file: PathBuf::from("scenarios/card/typo.yaml"),
        line: Some(5),
        column: Some(5),
        message: "unknown field `sedn`, expected one of label, send, power, pins, event, expect"
            .into(),
        excerpt: Some("5 |     sedn: \"00\"\n  |     ^".into()),
    }
}

#[test]
fn text_report_shows_expected_actual_and_the_steps_before_the_failure() {
    let text = render_text(
        &[passed(), failed()],
        &[load_error()],
        Style { colour: false },
    );
    insta::assert_snapshot!(text);
    // The excerpt covers the failing step and two before it, not the whole transcript.
    assert!(text.contains("command of step 3") && text.contains("answer of step 5"));
    assert!(!text.contains("command of step 2"));
}

#[test]
fn colour_is_ansi_only_when_asked() {
    let plain = render_text(&[failed()], &[], Style { colour: false });
    let coloured = render_text(&[failed()], &[], Style { colour: true });
    assert!(!plain.contains('\x1b'));
    assert!(coloured.contains("\x1b[31;1mFAIL \x1b[0m"));
    assert!(
        !Style::detect(false).colour,
        "never colour when stdout is not a terminal"
    );
}

#[test]
fn exit_codes_follow_the_outcomes() {
    assert_eq!(Summary::of(&[passed()], &[]).exit_code(), 0);
    assert_eq!(Summary::of(&[passed(), failed()], &[]).exit_code(), 1);
    assert_eq!(
        Summary::of(&[passed(), failed()], &[load_error()]).exit_code(),
        2
    );
    let mut error = passed();
    error.outcome = Outcome::Error {
        message: "cannot build the card".into(),
    };
    assert_eq!(Summary::of(&[error], &[]).exit_code(), 2);
    let mut skipped = passed();
    skipped.outcome = Outcome::Skipped {
        reason: "needs the virtual reader".into(),
    };
    assert_eq!(
        Summary::of(&[passed(), skipped.clone()], &[]).exit_code(),
        0
    );
    assert_eq!(
        Summary::of(&[skipped], &[]).exit_code(),
        2,
        "a run where nothing could run is not a pass"
    );
}

#[test]
fn json_report_has_summary_load_errors_and_each_scenario_with_its_failure() {
    let json = render_json(&[passed(), failed()], &[load_error()]).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["summary"]["passed"], 1);
    assert_eq!(value["summary"]["failed"], 1);
    assert_eq!(value["summary"]["not_loaded"], 1);
    assert_eq!(value["exit_code"], 2);
    assert_eq!(value["load_errors"][0]["file"], "scenarios/card/typo.yaml");
    assert_eq!(value["load_errors"][0]["line"], 5);
    assert_eq!(value["load_errors"][0]["column"], 5);
    let scenarios = value["scenarios"].as_array().unwrap();
    assert_eq!(scenarios[0]["status"], "passed");
    assert_eq!(scenarios[1]["status"], "failed");
    assert_eq!(scenarios[1]["step"], 4);
    assert_eq!(scenarios[1]["line"], 21);
    assert_eq!(scenarios[1]["expected"], "SW 63 C1");
    // Every failure is under `failures` too (here the one failed step).
    assert_eq!(scenarios[1]["failures"].as_array().unwrap().len(), 1);
    assert_eq!(scenarios[1]["failures"][0]["line"], 21);
    assert_eq!(scenarios[1]["transcript"].as_array().unwrap().len(), 10);
    assert_eq!(scenarios[1]["transcript"][9]["direction"], "<<");
}

#[test]
fn junit_has_a_suite_per_folder_a_failure_with_the_excerpt_and_load_errors_as_errors() {
    let xml = render_junit(&[passed(), failed()], &[load_error()]).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(report.tests, 3);
    assert_eq!(report.failures, 1);
    assert_eq!(report.errors, 1);
    let card = report
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == "scenarios/card")
        .unwrap();
    assert_eq!(card.test_cases.len(), 2);
    let failing = card
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "auth PIN lock")
        .unwrap();
    match &failing.status {
        quick_junit::TestCaseStatus::NonSuccess {
            kind,
            message,
            description,
            ..
        } => {
            assert_eq!(*kind, quick_junit::NonSuccessKind::Failure);
            assert!(message
                .as_ref()
                .unwrap()
                .as_str()
                .contains("expected SW 63 C1, got SW 63 C0"));
            let description = description.as_ref().unwrap().as_str();
            assert!(description.contains("scenarios/card/pin.yaml:21"));
            assert!(description.contains("answer of step 5"));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let loads = report
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == "load errors")
        .unwrap();
    assert_eq!(
        loads.test_cases[0].name.as_str(),
        "scenarios/card/typo.yaml"
    );
}

//! The scenario suite on the virtual reader: it passes, and every expectation in it can fail
//! (changing any checked expectation of any scenario makes that scenario fail at that step).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

use myna_hil::oqs::codes::QualificationValidity;
use myna_hil::oqs::CallKind;
use myna_hil::reader::{MessageCode, Screen};
use myna_hil::scenario::checks::{CallExpectation, Check, TranscriptRule};
use myna_hil::scenario::load::{discover, load_all};
use myna_hil::scenario::model::Action;
use myna_hil::scenario::pattern::{BytePattern, SwPattern};
use myna_hil::scenario::run::{run_scenario, RunOptions};
use myna_hil::scenario::schema::{
    CredentialExpectation, ListMatch, PinExpectation, TransportErrorKind,
};
use myna_hil::scenario::{Outcome, Scenario};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn options() -> RunOptions {
    RunOptions::virtual_reader(1)
}

fn suite() -> Vec<Scenario> {
    let files = discover(&[root().join("scenarios")]).expect("scenarios/ exists");
    let (scenarios, errors) = load_all(&files);
    assert!(
        errors.is_empty(),
        "suite files that do not load: {errors:#?}"
    );
    assert!(
        scenarios.len() >= 4,
        "the suite has at least the runner's self-tests"
    );
    scenarios
}

#[test]
fn the_suite_passes_on_the_virtual_reader() {
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["run", "--jobs", "2"])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        !stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

/// A status word no pattern-match of `original` can equal: a candidate that `original` does not
/// match cannot be the SW the card answered (which `original` matched).
fn different_sw(original: &SwPattern) -> SwPattern {
    ["6F00", "9000", "6A82", "6D00"]
        .iter()
        .map(|text| text.parse::<SwPattern>().unwrap())
        .find(|candidate| {
            !original
                .matches(u16::from_str_radix(&candidate.to_string().replace(' ', ""), 16).unwrap())
        })
        .expect("some candidate differs")
}

fn different_bytes(original: &BytePattern) -> BytePattern {
    ["EE EE EE", "", "00"]
        .iter()
        .map(|text| text.parse::<BytePattern>().unwrap())
        .find(|candidate| !original.matches(&candidate.exact_bytes().unwrap()))
        .expect("some candidate differs")
}

fn different_error(original: TransportErrorKind) -> TransportErrorKind {
    if original == TransportErrorKind::Timeout {
        TransportErrorKind::Transmission
    } else {
        TransportErrorKind::Timeout
    }
}

/// Every way to change one checked expectation of `step`: each returns the mutated scenario.
fn mutations(scenario: &Scenario, step: usize) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    let mut push = |what: String, change: &dyn Fn(&mut Action)| {
        let mut mutated = scenario.clone();
        change(&mut mutated.steps[step].action);
        out.push((what, mutated));
    };
    match &scenario.steps[step].action {
        Action::Send { expect, .. } => {
            if let Some(sw) = expect.sw {
                let new = different_sw(&sw);
                push(format!("sw {sw} -> {new}"), &|a| {
                    if let Action::Send { expect, .. } = a {
                        expect.sw = Some(new);
                    }
                });
            }
            if let Some(data) = &expect.data {
                let new = different_bytes(data);
                push(format!("data {data} -> {new}"), &|a| {
                    if let Action::Send { expect, .. } = a {
                        expect.data = Some(new.clone());
                    }
                });
            }
            if let Some(len) = expect.data_len {
                push(format!("data_len {len} -> {}", len + 1), &|a| {
                    if let Action::Send { expect, .. } = a {
                        expect.data_len = Some(len + 1);
                    }
                });
            }
            if let Some(kind) = expect.error {
                let new = different_error(kind);
                push(format!("error {kind} -> {new}"), &|a| {
                    if let Action::Send { expect, .. } = a {
                        expect.error = Some(new);
                    }
                });
            }
        }
        Action::Power { expect, .. } => {
            if let Some(atr) = &expect.atr {
                let new = different_bytes(atr);
                push(format!("atr {atr} -> {new}"), &|a| {
                    if let Action::Power { expect, .. } = a {
                        expect.atr = Some(new.clone());
                    }
                });
            }
        }
        Action::Pins(pins) => {
            let bump = |want: PinExpectation| match want {
                PinExpectation::TriesLeft(n) => PinExpectation::TriesLeft((n + 1) % 16),
                PinExpectation::Absent => PinExpectation::TriesLeft(3),
            };
            let pins = *pins;
            if let Some(want) = pins.auth {
                push(format!("pins.auth {want} -> {}", bump(want)), &|a| {
                    if let Action::Pins(p) = a {
                        p.auth = Some(bump(want));
                    }
                });
            }
            if let Some(want) = pins.signing {
                push(format!("pins.signing {want} -> {}", bump(want)), &|a| {
                    if let Action::Pins(p) = a {
                        p.signing = Some(bump(want));
                    }
                });
            }
            if let Some(want) = pins.text {
                push(format!("pins.text {want} -> {}", bump(want)), &|a| {
                    if let Action::Pins(p) = a {
                        p.text = Some(bump(want));
                    }
                });
            }
        }
        Action::Event(_) => {}
        Action::Reception { expect, .. } => {
            if let Some(screen) = expect.screen {
                let new = if screen == Screen::Finished {
                    Screen::PlaceCard
                } else {
                    Screen::Finished
                };
                push(format!("screen {screen:?} -> {new:?}"), &|a| {
                    if let Action::Reception { expect, .. } = a {
                        expect.screen = Some(new);
                    }
                });
            }
            if let Some(messages) = &expect.messages {
                let mut new = messages.clone();
                match new.matching {
                    ListMatch::Exactly => {
                        if new.items.pop().is_none() {
                            new.items.push("H501".parse::<MessageCode>().unwrap());
                        }
                    }
                    // More of the items than a step shows.
                    ListMatch::Contains => new.items = many(&new.items),
                }
                push(format!("messages {messages:?} -> {new:?}"), &|a| {
                    if let Action::Reception { expect, .. } = a {
                        expect.messages = Some(new.clone());
                    }
                });
            }
        }
        // Moves the clock; it expects nothing itself.
        Action::AdvanceClock { .. } => {}
        Action::InsuranceCardLookup { validity, .. } => {
            // An answer where none is expected, no answer (or another) where one is.
            let new = match validity {
                Some(QualificationValidity::Valid) => Some(QualificationValidity::Invalid),
                Some(_) => Some(QualificationValidity::Valid),
                None => Some(QualificationValidity::Valid),
            };
            push(format!("validity {validity:?} -> {new:?}"), &|a| {
                if let Action::InsuranceCardLookup { validity, .. } = a {
                    *validity = new;
                }
            });
        }
    }
    out
}

/// Forty times the items of a `contains` list: more than any scenario shows, so the
/// changed expectation cannot hold.
fn many<T: Clone>(items: &[T]) -> Vec<T> {
    items
        .iter()
        .cycle()
        .take(items.len() * 40)
        .cloned()
        .collect()
}

/// A JSON value that differs from `value` (scenario-level reception expectations are JSON).
fn different_json(value: &Value) -> Value {
    match value {
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => Value::from(n.as_u64().unwrap_or(0) + 1),
        Value::String(text) => Value::String(format!("{text}-changed")),
        Value::Array(items) => {
            let mut items = items.clone();
            if items.pop().is_none() {
                items.push(Value::String("H501".into()));
            }
            Value::Array(items)
        }
        Value::Object(map) => {
            let mut map = map.clone();
            let key = map.keys().find(|k| map[*k].is_boolean()).cloned();
            match key {
                Some(key) => {
                    let flipped = !map[&key].as_bool().unwrap();
                    map.insert(key, Value::Bool(flipped));
                }
                None => {
                    map.insert("offered".into(), Value::Bool(false));
                }
            }
            Value::Object(map)
        }
        Value::Null => Value::String("present".into()),
    }
}

/// Every way to change one scenario-level check: each returns the mutated scenario.
fn check_mutations(scenario: &Scenario, index: usize) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    let mut push = |what: String, change: &dyn Fn(&mut Check)| {
        let mut mutated = scenario.clone();
        change(&mut mutated.checks[index].check);
        out.push((what, mutated));
    };
    match &scenario.checks[index].check {
        Check::Reception {
            field,
            expected,
            matching,
            ..
        } => {
            let new = match (matching, expected) {
                (ListMatch::Contains, Value::Array(items)) => Value::Array(many(items)),
                _ => different_json(expected),
            };
            push(format!("reception.{field} {expected} -> {new}"), &|c| {
                if let Check::Reception { expected, .. } = c {
                    *expected = new.clone();
                }
            });
        }
        Check::ReceptionCount(count) => {
            let new = count + 1;
            push(format!("receptions: {count} -> {new}"), &|c| {
                *c = Check::ReceptionCount(new);
            });
        }
        Check::CardPins(pins) => {
            let bump = |want: PinExpectation| match want {
                PinExpectation::TriesLeft(n) => PinExpectation::TriesLeft((n + 1) % 16),
                PinExpectation::Absent => PinExpectation::TriesLeft(3),
            };
            let pins = *pins;
            if let Some(want) = pins.auth {
                push(format!("card.pins.auth {want} -> {}", bump(want)), &|c| {
                    if let Check::CardPins(p) = c {
                        p.auth = Some(bump(want));
                    }
                });
            }
            if let Some(want) = pins.signing {
                push(
                    format!("card.pins.signing {want} -> {}", bump(want)),
                    &|c| {
                        if let Check::CardPins(p) = c {
                            p.signing = Some(bump(want));
                        }
                    },
                );
            }
        }
        Check::Transcript(rule) => {
            let new = match rule.clone() {
                TranscriptRule::Never { pattern, after } => TranscriptRule::Sent {
                    pattern,
                    count: None,
                    after,
                },
                TranscriptRule::Sent {
                    pattern,
                    count: Some(n),
                    after,
                } => TranscriptRule::Sent {
                    pattern,
                    count: Some(n + 1),
                    after,
                },
                TranscriptRule::Sent {
                    pattern,
                    count: None,
                    after,
                } => TranscriptRule::Never { pattern, after },
            };
            push(format!("transcript {rule} -> {new}"), &|c| {
                *c = Check::Transcript(new.clone());
            });
        }
        Check::OqsCalls(calls) => {
            let mut new = calls.clone();
            match new.matching {
                ListMatch::Exactly => {
                    if new.items.pop().is_none() {
                        new.items.push(CallExpectation {
                            kind: CallKind::Check,
                            outcome: None,
                            qualification_validity: None,
                            credential: None,
                        });
                    }
                }
                ListMatch::Contains => new.items = many(&new.items),
            }
            // What each call presented (card or phone) is checked too.
            for (position, call) in calls.items.iter().enumerate() {
                let Some(credential) = call.credential else {
                    continue;
                };
                let other = match credential {
                    CredentialExpectation::Card => CredentialExpectation::Android,
                    CredentialExpectation::Android => CredentialExpectation::Iphone,
                    CredentialExpectation::Iphone => CredentialExpectation::Card,
                };
                let mut changed = calls.clone();
                changed.items[position].credential = Some(other);
                push(
                    format!("oqs_calls[{position}].credential -> {other:?}"),
                    &|c| {
                        *c = Check::OqsCalls(changed.clone());
                    },
                );
            }
            push(
                format!(
                    "oqs_calls {} -> {} calls",
                    calls.items.len(),
                    new.items.len()
                ),
                &|c| {
                    *c = Check::OqsCalls(new.clone());
                },
            );
        }
    }
    out
}

#[test]
fn every_checked_expectation_in_the_suite_can_fail() {
    let mut checked = 0;
    let mut checked_final = 0;
    for scenario in suite() {
        let baseline = run_scenario(&scenario, &options());
        assert!(
            baseline.passed(),
            "{} must pass before it is mutated: {:?}",
            scenario.name,
            baseline.outcome
        );
        for step in 0..scenario.steps.len() {
            for (what, mutated) in mutations(&scenario, step) {
                let result = run_scenario(&mutated, &options());
                match &result.outcome {
                    Outcome::Failed(failures) => assert_eq!(
                        failures.first().step,
                        step,
                        "{} ({}): changing {what} at step {} made a different step fail",
                        scenario.name,
                        scenario.file.display(),
                        step + 1
                    ),
                    other => panic!(
                        "{} ({}): changing {what} at step {} did not make it fail: {other:?}",
                        scenario.name,
                        scenario.file.display(),
                        step + 1
                    ),
                }
                checked += 1;
            }
        }
        for index in 0..scenario.checks.len() {
            for (what, mutated) in check_mutations(&scenario, index) {
                let result = run_scenario(&mutated, &options());
                match &result.outcome {
                    Outcome::Failed(failures) => assert_eq!(
                        failures.iter().map(|f| f.step).collect::<Vec<_>>(),
                        [scenario.steps.len() + index],
                        "{} ({}): changing {what} made another expectation fail: {failures:?}",
                        scenario.name,
                        scenario.file.display(),
                    ),
                    other => panic!(
                        "{} ({}): changing {what} did not make it fail: {other:?}",
                        scenario.name,
                        scenario.file.display(),
                    ),
                }
                checked_final += 1;
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} step expectations were mutated"
    );
    assert!(
        checked_final > 100,
        "only {checked_final} scenario-level expectations were mutated"
    );
}

/// Copies a scenario into a temporary folder with its card reference made absolute, so the
/// copy runs exactly like the original.
fn copy_with_absolute_card(file: &Path, scenario: &Scenario, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    let text = match &scenario.card_file {
        Some(card) => text
            .lines()
            .map(|line| {
                if line.starts_with("card:") {
                    format!("card: {}", card.canonicalize().unwrap().display())
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => text,
    };
    let copy = dir.join(file.file_name().unwrap());
    std::fs::write(&copy, text).unwrap();
    copy
}

#[test]
fn a_changed_status_word_in_the_file_makes_the_cli_exit_1_with_the_failure_report() {
    let scenarios = suite();
    // A sample: the first, a middle and the last scenario with a quoted `sw:` expectation.
    let with_sw: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| {
            std::fs::read_to_string(&s.file)
                .unwrap()
                .contains("sw: \"9000\"")
        })
        .collect();
    assert!(!with_sw.is_empty());
    let sample = [
        with_sw[0],
        with_sw[with_sw.len() / 2],
        with_sw[with_sw.len() - 1],
    ];
    for scenario in sample {
        let dir = tempfile::tempdir().unwrap();
        let copy = copy_with_absolute_card(&scenario.file, scenario, dir.path());
        let original = std::fs::read_to_string(&copy).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .arg("run")
            .arg(&copy)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "the unchanged copy of {} passes",
            scenario.file.display()
        );

        // Change the last `sw: "9000"` to a status word the card never answers with 90 00.
        let cut = original.rfind("sw: \"9000\"").unwrap();
        let line = original[..cut].lines().count();
        let mutated = format!(
            "{}sw: \"6F00\"{}",
            &original[..cut],
            &original[cut + "sw: \"9000\"".len()..]
        );
        std::fs::write(&copy, mutated).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .arg("run")
            .arg(&copy)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("FAILED"), "{stdout}");
        assert!(stdout.contains("expected: SW 6F 00"), "{stdout}");
        assert!(stdout.contains("actual:   SW 90 00"), "{stdout}");
        assert!(stdout.contains("transcript:"), "{stdout}");
        // The failing step is named by the line it starts on, at or before the changed line.
        let at = format!("{}:", copy.display());
        let reported: usize = stdout
            .split(&at)
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no location in {stdout}"));
        assert!(
            reported <= line && reported + 6 >= line,
            "reported line {reported}, changed line {line}"
        );
    }
}

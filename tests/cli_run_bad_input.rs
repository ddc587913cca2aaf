//! `myna-hil run` on files that must not load: exit code 2 and a message naming the file, the
//! line, the column and (where there is a closed set) the valid choices.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .arg("run")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn bad(name: &str) -> String {
    format!("tests/data/bad_scenarios/{name}")
}

/// Runs one bad file and returns its stdout after checking exit code 2.
fn rejected(name: &str) -> String {
    let output = run(&[&bad(name)]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{name}: stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn a_typo_in_a_key_names_file_line_column_and_the_valid_keys() {
    let out = rejected("typo_key.yaml");
    assert!(
        out.contains("tests/data/bad_scenarios/typo_key.yaml:5:5: unknown field `sedn`"),
        "{out}"
    );
    assert!(
        out.contains("expected one of label, send, power, pins, event, expect"),
        "{out}"
    );
    // The excerpt shows the offending line with a caret under the key.
    assert!(out.contains("5 |     sedn: \"00 A4"), "{out}");
    assert!(out.contains("  |     ^"), "{out}");
}

#[test]
fn an_impossible_date_names_file_line_column_and_the_date_format() {
    let out = rejected("bad_date.yaml");
    assert!(
        out.contains("tests/data/bad_scenarios/bad_date.yaml:6:17: not a valid calendar date"),
        "{out}"
    );
    assert!(out.contains("YYYY-MM-DD"), "{out}");
}

#[test]
fn a_dangling_card_reference_names_the_reference_and_the_files_that_exist() {
    let out = rejected("dangling_card.yaml");
    assert!(
        out.contains("tests/data/bad_scenarios/dangling_card.yaml:2:7: card file"),
        "{out}"
    );
    assert!(
        out.contains("not found (looked for scenarios/selftest/_cards/nobody.yaml)"),
        "{out}"
    );
    assert!(
        out.contains("YAML files in scenarios/selftest/_cards: holder.yaml"),
        "{out}"
    );
}

#[test]
fn a_wrong_type_names_file_line_column_and_what_was_expected() {
    let out = rejected("wrong_type.yaml");
    assert!(
        out.contains("tests/data/bad_scenarios/wrong_type.yaml:5:37: expected a whole number"),
        "{out}"
    );
}

#[test]
fn an_unknown_event_lists_the_events() {
    let out = rejected("bad_event.yaml");
    assert!(out.contains("bad_event.yaml:4:12: unknown variant `unplug`, expected one of remove, insert, power_cycle"), "{out}");
}

#[test]
fn two_actions_in_one_step_are_refused() {
    let out = rejected("two_actions.yaml");
    assert!(
        out.contains("two_actions.yaml:4:5: step 1 has 2 actions (send, power)"),
        "{out}"
    );
}

#[test]
fn a_malformed_status_word_pattern_is_refused_at_its_value() {
    let out = rejected("bad_sw.yaml");
    assert!(
        out.contains("bad_sw.yaml:5:19: \"63CX\": a status word is exactly 4 hex digits"),
        "{out}"
    );
}

#[test]
fn every_bad_file_is_reported_when_a_folder_is_run() {
    let output = run(&["tests/data/bad_scenarios"]);
    assert_eq!(output.status.code(), Some(2));
    let out = String::from_utf8_lossy(&output.stdout);
    let files =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad_scenarios"))
            .unwrap()
            .count();
    assert!(files >= 7);
    assert!(out.contains(&format!("{files} not loaded")), "{out}");
}

#[test]
fn a_missing_path_is_bad_input() {
    let output = run(&["tests/data/no/such/folder"]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("tests/data/no/such/folder: no such file or directory"),
        "{err}"
    );
}

#[test]
fn an_unknown_reader_lists_the_readers() {
    let output = run(&["--reader", "smartphone", "scenarios/selftest"]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("expected one of: virtual, vpcd, pcsc, pcsc:NAME"),
        "{err}"
    );
}

#[test]
fn a_send_without_expect_is_refused() {
    let out = rejected("send_without_expect.yaml");
    assert!(
        out.contains("send_without_expect.yaml:4:11: step 1: `send` needs `expect:`"),
        "{out}"
    );
}

#[test]
fn an_expectation_the_action_cannot_produce_lists_the_ones_it_can() {
    let out = rejected("atr_on_send.yaml");
    assert!(
        out.contains("atr_on_send.yaml:5:13: `expect.atr` does not apply to a `send` step; expected one of sw, data, data_len, error"),
        "{out}"
    );
}

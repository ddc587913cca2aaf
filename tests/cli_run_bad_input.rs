//! `myna-hil run` on files that must not load: exit code 2 and a message naming the file, the
//! line, the column and (where there is a closed set) the valid choices.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::run_myna_hil;
use std::path::Path;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    run_myna_hil(&[&["run"], args].concat())
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
        out.contains("expected one of label, send, power, pins, event, reception, insurance_card_lookup, advance_clock, expect"),
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
        err.contains("expected one of: virtual, vpcd, listen, pcsc, pcsc:NAME"),
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

#[test]
fn a_typo_in_a_reception_expectation_names_the_key_and_the_valid_ones() {
    let out = rejected("world_typo_key.yaml");
    assert!(
        out.contains(
            "tests/data/bad_scenarios/world_typo_key.yaml:9:5: unknown field `burden_precent`"
        ),
        "{out}"
    );
    assert!(out.contains("burden_percent"), "{out}");
    assert!(out.contains("9 |     burden_precent: 30"), "{out}");
}

#[test]
fn an_impossible_scenario_date_names_the_clock_line() {
    let out = rejected("world_bad_clock.yaml");
    assert!(
        out.contains(
            "tests/data/bad_scenarios/world_bad_clock.yaml:2:8: not a valid calendar date"
        ),
        "{out}"
    );
    assert!(out.contains("YYYY-MM-DD"), "{out}");
}

#[test]
fn a_card_for_a_person_who_does_not_exist_names_the_holder_and_the_persons() {
    let out = rejected("world_dangling_holder.yaml");
    assert!(
        out.contains(
            "tests/data/bad_scenarios/world_dangling_holder.yaml:6:22: card `ghost`: holder `nobody` \
             is not a person of the registry; its persons: taro, kodomo"
        ),
        "{out}"
    );
}

#[test]
fn a_world_card_name_that_does_not_exist_lists_the_world_cards() {
    let out = rejected("world_unknown_card.yaml");
    assert!(
        out.contains(
            "world_unknown_card.yaml:4:7: no card named `tarou` in the world; its cards: "
        ),
        "{out}"
    );
    assert!(out.contains(", taro, taro_locked,"), "{out}");
}

#[test]
fn a_qualification_with_an_unknown_insurer_points_into_the_inline_registry() {
    let out = rejected("world_dangling_insurer.yaml");
    assert!(
        out.contains(
            "world_dangling_insurer.yaml:12:24: persons[taro].qualifications[0].insurer: unknown insurer \
             06139999; known: 01130012"
        ),
        "{out}"
    );
}

#[test]
fn a_transcript_rule_after_an_unknown_label_lists_the_labels() {
    let out = rejected("world_dangling_after.yaml");
    assert!(
        out.contains("no step is labelled \"third wrong PIN\"; step labels: \"place\""),
        "{out}"
    );
}

#[test]
fn a_reception_step_without_a_world_says_what_to_add() {
    let out = rejected("reception_without_world.yaml");
    assert!(
        out.contains(
            "reception_without_world.yaml:4:5: a `reception` step needs the qualification system"
        ),
        "{out}"
    );
}

#[test]
fn an_unknown_reception_input_lists_the_inputs() {
    let out = rejected("world_bad_reception_input.yaml");
    assert!(
        out.contains("world_bad_reception_input.yaml:6:16: unknown variant `chose_face`, expected one of place_card"),
        "{out}"
    );
}

/// Writes a scenario of the family world (two cards, no top-level `card:`) with `steps`.
fn family_file(dir: &Path, steps: &str) -> String {
    let world = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/_worlds/family.yaml");
    let file = dir.join("family.yaml");
    std::fs::write(
        &file,
        format!(
            "name: family\nclock: 2025-06-02\nworld: {}\nsteps:\n{steps}",
            world.display()
        ),
    )
    .unwrap();
    file.to_str().unwrap().to_owned()
}

fn rejected_file(file: &str) -> String {
    let output = run(&[file]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    stdout
}

#[test]
fn a_misspelt_first_card_without_a_top_level_card_is_reported_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = family_file(
        dir.path(),
        "  - reception: choose_pin\n  - reception: { place_card: musuko }\n",
    );
    let out = rejected_file(&file);
    assert!(
        out.contains(&format!(
            "{file}:6:5: step 2: `place_card: musuko`: no card named `musuko` in the world; its cards: chichi, haha"
        )),
        "{out}"
    );
    assert!(!out.contains(":1:1:"), "{out}");
    assert!(!out.contains("name the card in the reader"), "{out}");
}

#[test]
fn advance_clock_days_out_of_range_all_get_the_range() {
    let dir = tempfile::tempdir().unwrap();
    for (days, shown) in [("-5", "-5"), ("0", "0"), ("36501", "36501")] {
        let file = family_file(
            dir.path(),
            &format!(
                "  - reception: {{ place_card: haha }}\n  - advance_clock: {{ days: {days} }}\n"
            ),
        );
        let out = rejected_file(&file);
        assert!(
            out.contains(&format!(
                "{file}:6:20: step 2: `advance_clock` moves the clock forward 1 to 36500 days, got {shown}"
            )),
            "{days}: {out}"
        );
        assert!(!out.contains("0 or more"), "{days}: {out}");
    }
}

#[test]
fn a_cut_excerpt_line_still_shows_the_lines_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(300);
    let file = family_file(
        dir.path(),
        &format!("  - {{ label: \"{long}\", reception: choose_pin, sedn: 1 }}\n"),
    );
    let out = rejected_file(&file);
    assert!(out.contains("unknown field `sedn`"), "{out}");
    // The caret is far right on line 5, so that line is cut; lines 3 and 4 are short and shown
    // whole, never as blank lines.
    assert!(out.contains("\n3 | world: "), "{out}");
    assert!(out.contains("\n4 | steps:\n"), "{out}");
    assert!(
        !out.contains("\n3 | \n") && !out.contains("\n4 | \n"),
        "{out}"
    );
    assert!(out.contains("\n5 | …"), "{out}");
}

#[test]
fn a_loss_registered_before_it_happened_is_refused_naming_both_dates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loss.yaml");
    std::fs::write(
        &file,
        r#"name: loss
clock: 2025-06-02
world:
  facility_code: "1312345678"
  registry:
    insurers:
      - { number: "01130012", name: "試験保険者" }
    persons:
      - id: chichi
        person: { name: "家族　父", kana: "カゾク チチ", birth_date: 1980-05-10, sex: male,
                  address: "東京都千代田区霞が関一丁目1番1号", my_number: "400000000017" }
        qualifications:
          - { insurer: "01130012", number: "10", acquired: 2010-04-01, lost: 2025-07-01,
              reason_of_loss: other, loss_registered_on: 2025-06-20 }
        cards:
          - issued: 2022-04-01
  cards:
    chichi: { holder: chichi, card: { issued: 2022-04-01 } }
steps:
  - reception: place_card
"#,
    )
    .unwrap();
    let out = rejected_file(file.to_str().unwrap());
    assert!(
        out.contains(&format!(
            "{}:13:",
            file.display()
        )) && out.contains(
            "persons[chichi].qualifications[0].loss_registered_on: 2025-06-20 must be on or after the loss date 2025-07-01"
        ),
        "{out}"
    );
}

#[test]
fn null_inside_a_mapping_is_refused_saying_null_is_for_whole_keys() {
    let dir = tempfile::tempdir().unwrap();
    let world = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/_worlds/clinic.yaml");
    let file = dir.path().join("null.yaml");
    std::fs::write(
        &file,
        format!(
            "name: nulls\nclock: 2025-06-02\nworld: {}\ncard: taro\nsteps:\n  - reception: place_card\nexpect:\n  reception:\n    consent: {{ mode: comprehensive, limit_amount: null }}\n",
            world.display()
        ),
    )
    .unwrap();
    let out = rejected_file(file.to_str().unwrap());
    assert!(
        out.contains(&format!(
            "{}:9:51: expected true or false (`null` stands only for a whole key that can be absent, such as `consent: null`",
            file.display()
        )),
        "{out}"
    );
}

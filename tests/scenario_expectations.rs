//! Scenario-level expectations as a scenario author meets them: every failed one is reported,
//! in the order of the file, each at its own line and by its field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::myna_hil;
use std::path::{Path, PathBuf};
use std::process::Output;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `body` as a scenario in `dir`, after a header that uses the shared clinic world.
fn scenario(dir: &Path, name: &str, body: &str) -> PathBuf {
    let world = root().join("scenarios/_worlds/clinic.yaml");
    let text = format!(
        "name: \"{name}\"\nclock: 2025-06-02\nworld: {}\n{body}",
        world.display()
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    file
}

fn run(files: &[&Path], extra: &[&str]) -> Output {
    myna_hil()
        .arg("run")
        .args(files)
        .args(extra)
        .output()
        .expect("the binary runs")
}

/// The line (1-based) of the first line of `file` containing `text`.
fn line_of(file: &Path, text: &str) -> u64 {
    let source = std::fs::read_to_string(file).unwrap();
    let index = source
        .lines()
        .position(|line| line.contains(text))
        .unwrap_or_else(|| panic!("{text} not in {source}"));
    u64::try_from(index + 1).unwrap()
}

/// The PIN reception of `taro` (有効, 3割, two calls).
const PIN_RECEPTION: &str = "card: taro
steps:
  - reception: place_card
  - reception: choose_pin
  - reception: { enter_pin: \"1234\" }
  - reception: { consent_mode: comprehensive }
    expect: { screen: result }
  - reception: remove_card
";

#[test]
fn three_wrong_expectations_are_all_reported_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    // Written in an order that is neither alphabetical nor the order of the fields in the
    // engine's types; two right expectations sit between the wrong ones.
    let file = scenario(
        dir.path(),
        "three_wrong",
        &format!(
            "{PIN_RECEPTION}expect:
  oqs_calls:
    - {{ kind: challenge }}
  reception:
    validity: valid
    verify_sent: false
    identity: pin
    burden_percent: 10
"
        ),
    );
    let json = dir.path().join("report.json");
    let output = run(&[&file], &["--json", json.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");

    let expected = [
        (line_of(&file, "oqs_calls:"), "expect.oqs_calls"),
        (
            line_of(&file, "verify_sent:"),
            "expect.reception.verify_sent",
        ),
        (
            line_of(&file, "burden_percent:"),
            "expect.reception.burden_percent",
        ),
    ];
    // The text report: each failure at file:line, with its field, in this order.
    let mut from = 0;
    for (line, field) in expected {
        let at = format!("at {}:{line}, {field}\n", file.display());
        let found = stdout[from..]
            .find(&at)
            .unwrap_or_else(|| panic!("{at:?} not after byte {from} of:\n{stdout}"));
        from += found + at.len();
    }
    assert!(stdout.contains("expected: burden_percent 10"), "{stdout}");
    assert!(stdout.contains("actual:   burden_percent 30"), "{stdout}");
    assert!(
        !stdout.contains("expect.reception.validity"),
        "a right expectation is not reported: {stdout}"
    );

    // The JSON report: all three under `failures`, the first one also at the top.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenario = &report["scenarios"][0];
    let failures = scenario["failures"].as_array().unwrap();
    let reported: Vec<(u64, &str)> = failures
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["step_title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(reported, expected);
    assert_eq!(scenario["step_title"], "expect.oqs_calls");
}

#[test]
fn expectation_null_means_absent_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "null_validity",
        &format!("{PIN_RECEPTION}expect:\n  reception:\n    validity: null\n"),
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("expected: validity null")
            && stdout.contains("actual:   validity \"valid\""),
        "{stdout}"
    );
}

/// Words a report must never show: Rust names of the engine's types and enum variants.
const RUST_NAMES: &[&str] = &[
    "PlaceCard",
    "ChooseMethod",
    "ConsentMode",
    "AdvanceClock",
    "InsuranceCardLookup",
    "Reception {",
    "Some(",
    "None",
    "Valid",
    "Answered",
    "NetworkOutage",
];

#[test]
fn messages_name_steps_and_values_as_written_in_yaml() {
    let dir = tempfile::tempdir().unwrap();
    // Three scenarios, each failing at a step of another kind, none of them labelled.
    let unexpected_input = scenario(
        dir.path(),
        "unexpected_input",
        "card: taro
steps:
  - reception: place_card
  - reception: { consent: true }
",
    );
    let lookup = scenario(
        dir.path(),
        "lookup",
        "card: taro
steps:
  - advance_clock: { days: 1 }
  - insurance_card_lookup: { insurer_number: \"01130012\", symbol: \"12345678\", number: \"1234\",
                             branch: \"01\", birth_date: 1980-05-10 }
    expect: { validity: invalid }
",
    );
    let outage = scenario(
        dir.path(),
        "outage",
        "card: taro
steps:
  - event: network_outage
  - insurance_card_lookup: { insurer_number: \"01130012\", symbol: \"12345678\", number: \"1234\",
                             branch: \"01\", birth_date: 1980-05-10 }
    expect: { validity: valid }
",
    );
    let output = run(&[&unexpected_input, &lookup, &outage], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for wanted in [
        // The failing steps, named by their actions as written.
        "step 2 (reception: consent: true)",
        "step 2 (insurance_card_lookup)",
        // Screens, values and outcomes as a scenario writes them.
        "the reader shows choose_method, which does not take `consent`",
        "expected: validity invalid",
        "actual:   validity valid (outcome answered)",
        "actual:   no answer: the network is down (event: network_outage)",
        // The transcript notes the earlier steps the same way.
        "advance_clock: the date is 2025-06-03",
        "event: network_outage",
        "reception: place_card; screen choose_method",
    ] {
        assert!(
            stdout.contains(wanted),
            "{wanted:?} missing from:\n{stdout}"
        );
    }
    for rust in RUST_NAMES {
        assert!(!stdout.contains(rust), "{rust:?} in:\n{stdout}");
    }
}

/// A reception with one wrong PIN before the right one (message H101 once).
const WRONG_PIN_FIRST: &str = "card: taro
steps:
  - reception: place_card
  - reception: choose_pin
  - label: wrong PIN
    reception: { enter_pin: \"0000\" }
    expect: { messages: { contains: [H101] } }
  - reception: { enter_pin: \"1234\" }
  - reception: { consent_mode: comprehensive }
  - reception: remove_card
";

#[test]
fn contains_and_exactly_lists_pass_when_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "lists_hold",
        &format!(
            "{WRONG_PIN_FIRST}expect:
  reception:
    screens: {{ contains: [choose_method, result, finished] }}
    message_codes: {{ exactly: [H101] }}
    fallback: []
  oqs_calls:
    contains:
      - {{ kind: check, qualification_validity: valid }}
"
        ),
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
}

#[test]
fn contains_lists_fail_when_an_item_is_missing_or_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "lists_fail",
        &format!(
            "{WRONG_PIN_FIRST}expect:
  reception:
    screens: {{ contains: [result, choose_method] }}
    message_codes: {{ contains: [H101, H101] }}
  oqs_calls:
    contains:
      - {{ kind: register }}
"
        ),
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for wanted in [
        "expected: screens containing, in this order, [\"result\",\"choose_method\"]",
        "expected: message_codes containing, in this order, [\"H101\",\"H101\"]",
        "actual:   message_codes [\"H101\"]",
        "expected: calls containing, in this order: {\"kind\":\"register\"}",
    ] {
        assert!(
            stdout.contains(wanted),
            "{wanted:?} missing from:\n{stdout}"
        );
    }

    // A step's `messages: { contains: ... }` fails the step the same way.
    let step = scenario(
        dir.path(),
        "step_contains_fails",
        &WRONG_PIN_FIRST.replace("contains: [H101]", "contains: [H102]"),
    );
    let output = run(&[&step], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("step 3 (wrong PIN)")
            && stdout.contains("messages containing, in this order, [H102]"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_list_key_is_a_load_error_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "list_typo",
        &format!("{WRONG_PIN_FIRST}expect:\n  reception:\n    screens: {{ includes: [result] }}\n"),
    );
    let output = run(&[&file], &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(2), "{text}");
    let line = line_of(&file, "includes");
    let wanted = format!(
        "{}:{line}:16: unknown field `includes`, expected one of exactly, contains",
        file.display()
    );
    assert!(text.contains(&wanted), "{wanted:?} missing from:\n{text}");
}

/// Writes `body` as a scenario of the family world (two named cards, no `card:`).
fn family_scenario(dir: &Path, name: &str, body: &str) -> PathBuf {
    let world = root().join("scenarios/_worlds/family.yaml");
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: \"{name}\"\nclock: 2025-06-02\nworld: {}\n{body}",
            world.display()
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_card_taken_out_keeps_its_state_when_placed_again() {
    let dir = tempfile::tempdir().unwrap();
    // The father's card loses a PIN try, the mother's card is seen, then the father's card
    // comes back: its counter is still one down (a fresh card would have 3).
    let file = family_scenario(
        dir.path(),
        "state_kept",
        "steps:
  - reception: { place_card: chichi }
  - reception: choose_pin
  - reception: { enter_pin: \"0000\" }
    expect: { messages: [H101] }
  - reception: remove_card
  - reception: { place_card: haha }
  - reception: choose_face
  - reception: { face_result: match }
  - reception: { consent_mode: comprehensive }
  - reception: remove_card
    expect: { screen: finished }
  - reception: { place_card: chichi }
  - reception: choose_pin
expect:
  receptions:
    - { card: chichi, message_codes: [H101], abandoned: true }
    - { card: haha, message_codes: [], validity: valid, finished: true }
    - { card: chichi, pin_tries_left: 2, screen: pin_entry }
  card:
    pins: { auth: 2 }
",
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
}

#[test]
fn receptions_that_did_not_happen_and_a_wrong_count_fail() {
    let dir = tempfile::tempdir().unwrap();
    let file = family_scenario(
        dir.path(),
        "one_reception",
        "steps:
  - reception: { place_card: haha }
expect:
  receptions:
    - { card: haha }
    - { card: chichi }
",
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for wanted in [
        format!(
            "at {}:{}, expect.receptions\n",
            file.display(),
            line_of(&file, "receptions:")
        ),
        "expected: 2 reception(s)\n    actual:   1 reception(s)".to_owned(),
        format!(
            "at {}:{}, expect.receptions[1].card\n",
            file.display(),
            line_of(&file, "card: chichi")
        ),
        "expected: card \"chichi\" in reception 2".to_owned(),
    ] {
        assert!(
            stdout.contains(&wanted),
            "{wanted:?} missing from:\n{stdout}"
        );
    }
    assert!(!stdout.contains("expect.receptions[0]"), "{stdout}");
}

#[test]
fn placing_a_card_the_world_does_not_have_is_a_load_error_listing_its_cards() {
    let dir = tempfile::tempdir().unwrap();
    let file = family_scenario(
        dir.path(),
        "no_such_card",
        "card: haha\nsteps:\n  - reception: { place_card: musuko }\n",
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    let wanted = format!(
        "{}:6:5: step 1: `place_card: musuko`: no card named `musuko` in the world; its cards: chichi, haha",
        file.display()
    );
    assert!(
        stdout.contains(&wanted),
        "{wanted:?} missing from:\n{stdout}"
    );
}

/// The `receptions` of the one scenario in a `run --json` report.
fn reported_receptions(file: &Path) -> (Option<i32>, String, Vec<serde_json::Value>) {
    let json = file.with_extension("json");
    let output = run(&[file], &["--json", json.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let receptions = report["scenarios"][0]["receptions"]
        .as_array()
        .unwrap_or_else(|| panic!("no receptions in {report}"))
        .clone();
    let transcript = report["scenarios"][0]["transcript"].to_string();
    (output.status.code(), stdout + &transcript, receptions)
}

/// The father starts a PIN reception, types a wrong PIN and walks off with his card; the
/// mother's card is placed next.
const FATHER_WALKS_OFF: &str = "steps:
  - reception: { place_card: chichi }
  - reception: choose_pin
  - reception: { enter_pin: \"0000\" }
  - reception: remove_card
    expect: { screen: finished }
  - reception: { place_card: haha }
  - reception: choose_face
  - reception: { face_result: match }
  - reception: { consent_mode: comprehensive }
";

#[test]
fn a_card_taken_away_before_the_result_and_another_placed_are_two_receptions() {
    let dir = tempfile::tempdir().unwrap();
    let file = family_scenario(
        dir.path(),
        "walks_off",
        &format!(
            "{FATHER_WALKS_OFF}expect:
  receptions:
    - {{ card: chichi, abandoned: true, message_codes: [H101], pin_tries_left: 2,
        verify_sent: true, validity: null }}
    - {{ card: haha, abandoned: false, message_codes: [], pin_tries_left: null,
        verify_sent: false, validity: valid }}
"
        ),
    );
    let (code, stdout, receptions) = reported_receptions(&file);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(receptions.len(), 2);
    assert_eq!(receptions[0]["card"], "chichi");
    assert_eq!(receptions[0]["abandoned"], true);
    assert_eq!(receptions[1]["card"], "haha");
    assert_eq!(receptions[1]["message_codes"], serde_json::json!([]));
    // The transcript says where the first reception ended, and why.
    let note = "the reception of the card `chichi` ends abandoned: the card was taken away before the result";
    assert!(stdout.contains(note), "{note:?} missing from:\n{stdout}");
}

#[test]
fn the_abandoned_reception_is_checked_like_any_other() {
    // The old count (one reception, labelled with the mother's card) no longer holds.
    let dir = tempfile::tempdir().unwrap();
    let file = family_scenario(
        dir.path(),
        "walks_off_miscounted",
        &format!(
            "{FATHER_WALKS_OFF}expect:
  receptions:
    - {{ card: haha, message_codes: [H101], validity: valid }}
"
        ),
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for wanted in [
        "expected: 1 reception(s)\n    actual:   2 reception(s)",
        "expect.receptions[0].card\n    expected: card \"haha\"\n    actual:   card \"chichi\"",
    ] {
        assert!(
            stdout.contains(wanted),
            "{wanted:?} missing from:\n{stdout}"
        );
    }
}

#[test]
fn another_card_where_the_reader_asks_for_the_first_again_starts_a_new_reception() {
    let dir = tempfile::tempdir().unwrap();
    let file = family_scenario(
        dir.path(),
        "swapped_mid_read",
        "steps:
  - reception: { place_card: chichi }
  - reception: choose_pin
  - event: remove_mid_command
  - reception: { enter_pin: \"1234\" }
    expect: { screen: place_card_again, messages: [H110] }
  - reception: { place_card: haha }
    expect: { screen: choose_method, messages: [] }
  - reception: choose_face
  - reception: { face_result: match }
  - reception: { consent_mode: comprehensive }
expect:
  receptions:
    - { card: chichi, abandoned: true, message_codes: [H110], verify_sent: false,
        pin_tries_left: 3, identity: null }
    - { card: haha, abandoned: false, message_codes: [], identity: face, validity: valid,
        pin_tries_left: null }
",
    );
    let (code, stdout, receptions) = reported_receptions(&file);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(receptions.len(), 2);
    let note = "the reception of the card `chichi` ends abandoned: another card was placed";
    assert!(stdout.contains(note), "{note:?} missing from:\n{stdout}");
}

#[test]
fn placing_a_card_on_a_screen_that_takes_none_is_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = family_scenario(
        dir.path(),
        "placed_mid_reception",
        "steps:
  - reception: { place_card: chichi }
  - reception: choose_pin
  - reception: { place_card: haha }
expect:
  card:
    pins: { auth: 3 }
",
    );
    let (code, stdout, receptions) = reported_receptions(&file);
    assert_eq!(code, Some(1), "{stdout}");
    let wanted = format!(
        "at {}:{}, step 3 (reception: place_card: haha)\n    expected: the reader takes `place_card`\n    \
         actual:   the reader shows pin_entry, which does not take `place_card`; it takes: enter_pin, \
         choose_face, choose_visual, remove_card, reader_restarted; the reception of the card `chichi` \
         is under way: take it back first (`reception: remove_card`)",
        file.display(),
        line_of(&file, "place_card: haha")
    );
    assert!(
        stdout.contains(&wanted),
        "{wanted:?} missing from:\n{stdout}"
    );
    // The failure is the father's reception, still on its PIN screen with his card.
    assert_eq!(receptions.len(), 1);
    assert_eq!(receptions[0]["card"], "chichi");
    assert_eq!(receptions[0]["screen"], "pin_entry");
    assert!(
        !stdout.contains("the card `haha` is put on the reader"),
        "{stdout}"
    );
}

#[test]
fn during_an_outage_face_and_pin_receptions_both_report_no_consent_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "outage_consent",
        "card: taro
steps:
  - event: network_outage
  - reception: place_card
  - reception: choose_face
  - reception: { face_result: match }
  - reception: { consent_mode: comprehensive }
    expect: { screen: fallback, messages: [H501] }
  - reception: remove_card
  - reception: place_card
  - reception: choose_pin
  - reception: { enter_pin: \"1234\" }
  - reception: { consent_mode: comprehensive }
    expect: { screen: fallback, messages: [H501] }
expect:
  receptions:
    - { identity: face, consent: null, finished: true }
    - { identity: pin, consent: null }
",
    );
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
}

#[test]
fn a_world_card_the_registry_does_not_link_is_warned_about_at_load() {
    let dir = tempfile::tempdir().unwrap();
    // The mother's card issued a day later than her registry link: the qualification system
    // has never seen that certificate, so she would be "not registered" without a word.
    let family = std::fs::read_to_string(root().join("scenarios/_worlds/family.yaml")).unwrap();
    let shifted = family.replace(
        "haha: { holder: haha, card: { issued: 2023-06-01 } }",
        "haha: { holder: haha, card: { issued: 2023-06-02 } }",
    );
    assert_ne!(shifted, family);
    let world = dir.path().join("world.yaml");
    std::fs::write(&world, &shifted).unwrap();
    let file = dir.path().join("unlinked.yaml");
    std::fs::write(
        &file,
        format!(
            "name: unlinked\nclock: 2025-06-02\nworld: {}\nsteps:\n  - reception: {{ place_card: haha }}\n  - reception: choose_face\n  - reception: {{ face_result: match }}\n  - reception: {{ consent_mode: comprehensive }}\n    expect: {{ screen: registration_offer }}\n",
            world.display()
        ),
    )
    .unwrap();
    let second = dir.path().join("unlinked_again.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &second,
        text.replace("name: unlinked", "name: unlinked again"),
    )
    .unwrap();
    let output = run(&[&file, &second], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stderr}{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let line = shifted
        .lines()
        .position(|line| line.contains("haha: { holder: haha"))
        .unwrap()
        + 1;
    let wanted = format!(
        "{}:{line}:9: warning: card `haha`: its 利用者証明用電子証明書 is issued 2023-06-02, but the \
         registry links no card of `haha` issued that day (its cards: 2023-06-01), so the \
         qualification system treats it as not registered",
        world.display()
    );
    assert!(
        stderr.contains(&wanted),
        "{wanted:?} missing from:\n{stderr}"
    );
    // Once per run, however many scenarios share the world; the father's card is linked.
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
}

#[test]
fn holding_a_phone_the_world_does_not_have_is_a_load_error_listing_its_phones() {
    let dir = tempfile::tempdir().unwrap();
    let world = root().join("scenarios/_worlds/smartphone.yaml");
    let file = dir.path().join("no_such_phone.yaml");
    std::fs::write(
        &file,
        format!(
            "name: \"no such phone\"\nclock: 2025-10-06\nworld: {}\ncard: hanako\nsteps:\n  - reception: choose_smartphone\n  - reception: {{ place_phone: hanako_ipad }}\n",
            world.display()
        ),
    )
    .unwrap();
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    let wanted = format!(
        "{}:7:5: step 2: `place_phone: hanako_ipad`: no phone named `hanako_ipad` in the world's `smartphones:`; its phones: chichi_android, ",
        file.display()
    );
    assert!(
        stdout.contains(&wanted),
        "{wanted:?} missing from:\n{stdout}"
    );
}

#[test]
fn a_phone_added_from_a_card_the_world_does_not_have_is_a_load_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phone_without_card.yaml");
    std::fs::write(
        &file,
        "name: \"phone without card\"\nclock: 2025-10-06\ncard: taro\nworld:\n  registry: { persons: [] }\n  cards:\n    taro: { person: { name: \"試験　太郎\", kana: \"シケン タロウ\", birth_date: 1980-05-10, sex: male, address: \"東京都\", my_number: \"123456789018\" } }\n  smartphones:\n    taro_android: { kind: android, card: jiro, issued: 2025-09-20 }\nsteps:\n  - reception: choose_smartphone\n",
    )
    .unwrap();
    let output = run(&[&file], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    let wanted = format!(
        "{}:9:42: smartphone `taro_android`: no card named `jiro` in the world; its cards: taro",
        file.display()
    );
    assert!(
        stdout.contains(&wanted),
        "{wanted:?} missing from:\n{stdout}"
    );
}

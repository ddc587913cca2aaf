//! `myna-hil run` end to end on the runner's self-test scenarios: filters, report files, PIN
//! redaction, and readers that this build cannot drive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::run_myna_hil;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    run_myna_hil(&[&["run"], args].concat())
}

#[test]
fn json_and_junit_files_are_written_and_pins_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("report.json");
    let junit_path = dir.path().join("report.xml");
    let output = run(&[
        "scenarios/selftest/events.yaml",
        "--json",
        json_path.to_str().unwrap(),
        "--junit",
        junit_path.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let json = std::fs::read_to_string(&json_path).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["summary"]["passed"], 1);
    let transcript = value["scenarios"][0]["transcript"].as_array().unwrap();
    let verify = transcript
        .iter()
        .find(|e| e["text"].as_str().unwrap().starts_with("00 20 00 80 04"))
        .unwrap();
    assert_eq!(verify["text"], "00 20 00 80 04 [4 PIN bytes redacted]");
    assert!(
        !json.contains("39 39 39 39"),
        "the wrong PIN must not appear in the report"
    );
    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(report.tests, 1);
    assert_eq!(report.failures, 0);
}

#[test]
fn show_pins_puts_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("report.json");
    let output = run(&[
        "scenarios/selftest/events.yaml",
        "--show-pins",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(std::fs::read_to_string(&json_path)
        .unwrap()
        .contains("00 20 00 80 04 39 39 39 39"));
}

#[test]
fn tag_and_name_filters_select_scenarios() {
    let output = run(&["scenarios/selftest", "--tag", "latency"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 scenarios: 1 passed"), "{stdout}");
    assert!(stdout.contains("latency.yaml"));

    let output = run(&[
        "scenarios/selftest",
        "--name",
        "LOST TRANSMISSIONS",
        "--name",
        "power off",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("2 scenarios: 2 passed"), "{stdout}");

    let output = run(&["scenarios/selftest", "--tag", "no-such-tag"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "selecting nothing is bad input, not a pass"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("no scenario matches the filters"));
}

#[test]
fn readers_this_build_cannot_drive_are_refused_not_passed() {
    for reader in ["vpcd", "pcsc", "pcsc:ACS ACR39U"] {
        let output = run(&["scenarios/selftest/transmission.yaml", "--reader", reader]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_ne!(output.status.code(), Some(0), "{reader}: {stdout}");
        assert!(!stdout.contains("1 passed"), "{reader}: {stdout}");
    }
    // A scenario without reader events reaches the reader factory, which says it is unavailable.
    let dir = tempfile::tempdir().unwrap();
    let card = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/selftest/_cards/holder.yaml");
    let file = dir.path().join("plain.yaml");
    std::fs::write(
        &file,
        format!(
            "name: plain\ncard: {}\nsteps:\n  - send: \"00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01\"\n    expect: {{ sw: \"9000\" }}\n",
            card.display()
        ),
    )
    .unwrap();
    let output = run(&[
        file.to_str().unwrap(),
        "--reader",
        "pcsc:no-such-reader-xyz",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("ERROR"), "{stdout}");
    if cfg!(feature = "pcsc") {
        // Built with PC/SC: the reader is looked up and not found (or pcscd is not running).
        assert!(
            stdout.contains("no-such-reader-xyz") || stdout.contains("no reader available"),
            "{stdout}"
        );
    } else {
        assert!(
            stdout.contains("reader `pcsc:no-such-reader-xyz` is not available in this build"),
            "{stdout}"
        );
    }
}

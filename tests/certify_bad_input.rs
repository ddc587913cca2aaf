//! Bad input to `myna-hil certify` ends with exit 2 and a message naming the file, the line
//! and the field, before anything is served or started.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of the suite whose case files name their cards by absolute path.
fn suite_copy(dir: &Path) -> PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir_all(suite.join("cases")).unwrap();
    for file in ["requirements.yaml", "registry.yaml"] {
        std::fs::copy(manifest().join("certify").join(file), suite.join(file)).unwrap();
    }
    let fixtures = manifest().join("fixtures").display().to_string();
    for entry in std::fs::read_dir(manifest().join("certify/cases")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("../../fixtures", &fixtures);
        std::fs::write(suite.join("cases").join(path.file_name().unwrap()), text).unwrap();
    }
    suite
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// Runs certify on the suite; returns (exit code, stderr).
fn certify(suite: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--quiet", "--driver", "true", "--suite"])
        .arg(suite)
        .args(extra)
        // Nothing may be served for bad input: a vpcd address nobody listens on proves it.
        .args(["--vpcd", "127.0.0.1:9"])
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn line_of(file: &Path, needle: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|line| line.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn an_unknown_requirement_in_a_case_is_named_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_copy(dir.path());
    let case = suite.join("cases/pin-wrong-then-right.yaml");
    edit(&case, "CARD-PIN-04]", "CARD-PIN-99]");
    let (code, stderr) = certify(&suite, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = line_of(&case, "CARD-PIN-99");
    assert!(
        stderr.contains(&format!("{}:{line}:", case.display()))
            && stderr.contains("field `evidence[1]`")
            && stderr.contains("no requirement \"CARD-PIN-99\""),
        "{stderr}"
    );
}

#[test]
fn a_misspelt_field_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_copy(dir.path());
    let case = suite.join("cases/outage.yaml");
    edit(&case, "oqs: { outage: true }", "oqs: { outrage: true }");
    let (code, stderr) = certify(&suite, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = line_of(&case, "outrage");
    assert!(
        stderr.contains(&format!("{}:{line}:", case.display()))
            && stderr.contains("field `outrage`")
            && stderr.contains("unknown field `outrage`"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_predicate_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_copy(dir.path());
    let catalogue = suite.join("requirements.yaml");
    edit(
        &catalogue,
        "predicate: proof_of_possession",
        "predicate: proof_of_posession",
    );
    let (code, stderr) = certify(&suite, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = line_of(&catalogue, "proof_of_posession");
    assert!(
        stderr.contains(&format!("{}:{line}:", catalogue.display()))
            && stderr.contains("field `predicate`")
            && stderr.contains("proof_of_possession"),
        "{stderr}"
    );
}

#[test]
fn a_holder_missing_from_the_registry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_copy(dir.path());
    let case = suite.join("cases/face-qv2.yaml");
    edit(&case, "holder: qv2", "holder: nobody");
    let (code, stderr) = certify(&suite, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = line_of(&case, "holder: nobody");
    assert!(
        stderr.contains(&format!("{}:{line}:", case.display()))
            && stderr.contains("field `card.holder`")
            && stderr.contains("no person \"nobody\""),
        "{stderr}"
    );
}

#[test]
fn a_card_override_the_card_cannot_have_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_copy(dir.path());
    let case = suite.join("cases/pin-blocked.yaml");
    edit(&case, "tries_left: { auth: 0 }", "tries_left: { auth: 9 }");
    let (code, stderr) = certify(&suite, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&case.display().to_string())
            && stderr.contains("card.tries_left.auth")
            && stderr.contains("9 is more than the PIN's 3 tries"),
        "{stderr}"
    );
}

#[test]
fn unknown_cases_and_faults_are_bad_input() {
    let (code, stderr) = certify(&manifest().join("certify"), &["--case", "no-such-case"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--case no-such-case: no such case; cases: "),
        "{stderr}"
    );
    assert!(stderr.contains("pin-valid"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--reference", "--fault", "no-such-fault"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--fault no-such-fault: no such fault; faults: "),
        "{stderr}"
    );
}

#[test]
fn a_vpcd_nobody_listens_on_ends_the_run_as_bad_input() {
    let driver = format!(
        "sh {} ok none",
        manifest().join("tests/data/fake_driver.sh").display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--quiet", "--driver", &driver])
        .args(["--vpcd", "127.0.0.1:9", "--case", "face-valid"])
        .current_dir(manifest())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("vpcd does not accept the card at 127.0.0.1:9"),
        "{stderr}"
    );
}

/// The run got past `hello` before the card failed to reach vpcd: the three reports are
/// still written, every case aborted with the reason, and the exit code stays 2.
#[test]
fn a_run_stopped_after_hello_still_writes_its_three_reports() {
    let dir = tempfile::tempdir().unwrap();
    let driver = format!(
        "sh {} ok none",
        manifest().join("tests/data/fake_driver.sh").display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--quiet", "--driver", &driver])
        .args(["--vpcd", "127.0.0.1:9", "--case", "face-valid", "pin-valid"])
        .arg("--report")
        .arg(dir.path())
        .current_dir(manifest())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for file in ["report.json", "junit.xml", "report.html"] {
        assert!(dir.path().join(file).is_file(), "no {file}: {stderr}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let aborted: Vec<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| case["aborted"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(aborted.len(), 2, "{report}");
    assert!(
        aborted[0].contains("vpcd does not accept the card at 127.0.0.1:9"),
        "{aborted:?}"
    );
    assert!(aborted[1].starts_with("not run: "), "{aborted:?}");
    assert_eq!(report["summary"]["result"], "fail");
}

/// A `wait` or `step_timeout_ms` of 2^64−1 ms loaded once, and interactive `certify` then slept
/// for ever: suite values have the scenarios' limit of one day, named by file, line and field.
#[test]
fn endless_waits_and_step_timeouts_are_refused_with_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_copy(dir.path());
    let case = suite.join("cases/face-valid.yaml");
    edit(
        &case,
        "  - choose_face\n",
        "  - choose_face\n  - wait: 18446744073709551615\n",
    );
    let (code, stderr) = certify(&suite, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = line_of(&case, "wait: 1844");
    assert!(
        stderr.contains(&format!("{}:{line}:", case.display()))
            && stderr.contains("field `steps[2].wait`")
            && stderr.contains("more than the 86400000 ms (one day)"),
        "{stderr}"
    );

    let suite = suite_copy(&dir.path().join("second"));
    let case = suite.join("cases/face-valid.yaml");
    edit(
        &case,
        "steps:\n",
        "step_timeout_ms: 18446744073709551615\nsteps:\n",
    );
    let (code, stderr) = certify(&suite, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = line_of(&case, "step_timeout_ms");
    assert!(
        stderr.contains(&format!("{}:{line}:", case.display()))
            && stderr.contains("field `step_timeout_ms`")
            && stderr.contains("from 1 to 86400000 ms"),
        "{stderr}"
    );
    // One day is still a valid (if patient) value.
    edit(
        &case,
        "step_timeout_ms: 18446744073709551615",
        "step_timeout_ms: 86400000",
    );
    let (_, stderr) = certify(&suite, &[]);
    assert!(!stderr.contains("step_timeout_ms"), "{stderr}");
}

#[test]
fn a_record_path_that_cannot_be_a_folder_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.jsonl");
    std::fs::write(&file, "").unwrap();
    let (code, stderr) = certify(
        &manifest().join("certify"),
        &["--record", file.to_str().unwrap()],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--record {}: is a file", file.display())),
        "{stderr}"
    );
    // A folder under a file cannot be created.
    let under = file.join("traces");
    let (code, stderr) = certify(
        &manifest().join("certify"),
        &["--record", under.to_str().unwrap()],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--record {}: cannot create it", under.display())),
        "{stderr}"
    );
    // Refused before anything was served: the vpcd nobody listens on was never tried.
    assert!(!stderr.contains("vpcd"), "{stderr}");
}

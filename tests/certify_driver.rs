//! `certify --driver CMD`: the driver protocol as the harness speaks it, against a scripted
//! fake driver (tests/data/fake_driver.sh) that has no device behind it: the instructions it
//! gets, and what the harness makes of bad answers, silence, a driver that exits, and actions
//! a driver cannot do. The card is still served to vpcd, so these tests take the pcscd lock;
//! needs the cargo feature `pcsc` and the Debian packages pcscd and vsmartcard-vpcd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A suite with the real catalogue and registry and two short cases.
fn small_suite(dir: &Path) -> PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir_all(suite.join("cases")).unwrap();
    for file in ["requirements.yaml", "registry.yaml"] {
        std::fs::copy(manifest().join("certify").join(file), suite.join(file)).unwrap();
    }
    let card = manifest().join("fixtures/cards/standard.yaml");
    std::fs::write(
        suite.join("cases/a-pin.yaml"),
        format!(
            "id: a-pin\ntitle: PIN\ncard: {{ file: {} }}\nstep_timeout_ms: 1500\nsteps:\n  - place_card\n  - choose_pin\n  - enter_pin: correct\n  - consent_mode: comprehensive\n  - remove_card\nevidence: [OQS-POP-01, OQS-RESULT-01]\n",
            card.display()
        ),
    )
    .unwrap();
    std::fs::write(
        suite.join("cases/b-face.yaml"),
        format!(
            "id: b-face\ntitle: face\ncard: {{ file: {} }}\nstep_timeout_ms: 1500\nsteps:\n  - place_card\n  - choose_face\n  - face_result: true\n  - consent_mode: comprehensive\nevidence: [OQS-RESULT-01, CERT-01]\n",
            card.display()
        ),
    )
    .unwrap();
    suite
}

struct Run {
    code: Option<i32>,
    stderr: String,
    report: serde_json::Value,
    instructions: Vec<serde_json::Value>,
    junit: PathBuf,
    _dir: tempfile::TempDir,
}

fn certify_with_fake(mode: &str, target: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path());
    let log = dir.path().join("instructions.jsonl");
    let report_dir = dir.path().join("report");
    let driver = format!(
        "sh {} {mode} {target}",
        manifest().join("tests/data/fake_driver.sh").display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--quiet", "--driver", &driver, "--suite"])
        .arg(&suite)
        .arg("--report")
        .arg(&report_dir)
        .env("FAKE_DRIVER_LOG", &log)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = serde_json::from_str(
        &std::fs::read_to_string(report_dir.join("report.json"))
            .unwrap_or_else(|error| panic!("no report ({error}): {stderr}")),
    )
    .unwrap();
    let instructions = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    Run {
        code: output.status.code(),
        stderr,
        report,
        instructions,
        junit: report_dir.join("junit.xml"),
        _dir: dir,
    }
}

fn requirement<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in the report"))
}

fn case<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("case {id} not in the report"))
}

#[test]
fn the_driver_gets_protocol_v1_instructions_and_its_reports_are_judged() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let run = certify_with_fake("ok", u64::MAX);
    let ops: Vec<String> = run
        .instructions
        .iter()
        .map(|i| {
            let op = i["op"].as_str().unwrap().to_owned();
            match i["action"]["action"].as_str() {
                Some(action) => format!("{op}:{action}"),
                None => op,
            }
        })
        .collect();
    assert_eq!(
        ops,
        [
            "hello",
            "begin_case",
            "step:card_placed",
            "step:choose_pin",
            "step:enter_pin",
            "step:consent_mode",
            "step:card_removed",
            "end_case",
            "begin_case",
            "step:card_placed",
            "step:choose_face",
            "step:face_result",
            "step:consent_mode",
            "end_case",
            "shutdown"
        ],
        "stderr: {}",
        run.stderr
    );
    for (index, instruction) in run.instructions.iter().enumerate() {
        assert_eq!(instruction["id"], index as u64, "{instruction}");
    }
    let hello = &run.instructions[0];
    assert_eq!(hello["protocol"], "myna-hil-driver");
    assert_eq!(hello["version"], 1);
    assert_eq!(hello["reader"], "Virtual PCD 00 00");
    assert!(hello["oqs_url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert_eq!(hello["facility_code"], "1312345678");
    let enter_pin = &run.instructions[4];
    assert_eq!(enter_pin["action"]["pin"], "1234");
    assert_eq!(enter_pin["step"], 3);
    assert_eq!(enter_pin["timeout_ms"], 1500);
    let face = &run.instructions[10]["action"];
    assert_eq!(face["ocr_birth_date"], "1980-05-10");
    assert_eq!(face["ocr_security_code"], "4321");
    let today = chrono::Local::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(run.instructions[1]["date"], today.as_str());

    // What the driver reported is judged as such, and fails: the fake device shows 有効
    // without ever asking the qualification system (or touching the card), and a result
    // nobody asked for is not a result.
    let shown = requirement(&run.report, "OQS-RESULT-01");
    assert_eq!(shown["status"], "fail", "{shown}");
    assert_eq!(shown["evidence"][0]["kind"], "driver-reported");
    assert_eq!(
        shown["evidence"][0]["summary"],
        "the device showed a result without asking the qualification system"
    );
    let proof = requirement(&run.report, "OQS-POP-01");
    assert_eq!(proof["status"], "fail");
    assert_eq!(
        proof["evidence"][0]["summary"],
        "no PIN qualification check was made"
    );
    assert_eq!(requirement(&run.report, "CERT-01")["status"], "fail");
    assert_eq!(run.report["device"], "fake driver 1.0");
    assert_eq!(run.code, Some(1), "a must failed");
    let junit = std::fs::read_to_string(&run.junit).unwrap();
    assert!(
        junit.contains("OQS-POP-01") && junit.contains("<failure"),
        "{junit}"
    );
    // The PIN never appears in the reports.
    let text = run.report.to_string();
    assert!(!text.contains("\"1234\""), "PIN in report");
}

#[test]
fn an_answer_that_is_not_json_fails_the_case_and_the_driver_is_restarted() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let run = certify_with_fake("bad-json", 2);
    let aborted = case(&run.report, "a-pin")["aborted"]
        .as_str()
        .unwrap_or_default();
    assert!(
        aborted.contains("not a protocol v1 answer") && aborted.contains("this is not json"),
        "{aborted}"
    );
    let proof = requirement(&run.report, "OQS-POP-01");
    assert_eq!(proof["status"], "fail");
    assert!(proof["evidence"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("could not be run to its end"));
    // The next case ran against a fresh driver process, which said hello again.
    assert!(case(&run.report, "b-face")["aborted"].is_null());
    let hellos = run
        .instructions
        .iter()
        .filter(|i| i["op"] == "hello")
        .count();
    assert_eq!(hellos, 2);
    assert_eq!(run.code, Some(1));
}

#[test]
fn an_answer_with_another_id_fails_the_case() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let run = certify_with_fake("wrong-id", 2);
    let aborted = case(&run.report, "a-pin")["aborted"]
        .as_str()
        .unwrap_or_default();
    assert!(aborted.contains("carries id 102"), "{aborted}");
}

#[test]
fn a_silent_driver_times_out_within_the_step_timeout() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let started = std::time::Instant::now();
    let run = certify_with_fake("silent", 2);
    let aborted = case(&run.report, "a-pin")["aborted"]
        .as_str()
        .unwrap_or_default();
    assert!(aborted.contains("within 1500 ms"), "{aborted}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn a_driver_that_exits_is_reported() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let run = certify_with_fake("exit", 2);
    let aborted = case(&run.report, "a-pin")["aborted"]
        .as_str()
        .unwrap_or_default();
    assert!(aborted.contains("went away"), "{aborted}");
}

#[test]
fn an_action_declared_unsupported_in_hello_makes_its_cases_not_applicable() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let run = certify_with_fake("unsupported", u64::MAX);
    let proof = requirement(&run.report, "OQS-POP-01");
    assert_eq!(proof["status"], "not_applicable", "{proof}");
    assert!(proof["evidence"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("declared in hello that it cannot do `choose_pin`"));
    // The case that needs it was not run at all.
    assert!(
        !run.instructions
            .iter()
            .any(|i| i["op"] == "begin_case" && i["case"] == "a-pin"),
        "{:?}",
        run.instructions
    );
    // OQS-RESULT-01 also has the face case, which the driver did not declare unsupported:
    // it is judged there (and fails: the fake shows 有効 without asking anyone).
    let shown = requirement(&run.report, "OQS-RESULT-01");
    assert_eq!(shown["status"], "fail", "{shown}");
    let face = shown["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["case"] == "b-face")
        .unwrap();
    assert_eq!(face["status"], "fail");
}

/// `unsupported` answered to a step the device did not declare in hello is a failed step like
/// any other: the requirements are judged on what happened, never `not_applicable`.
#[test]
fn an_unsupported_answer_without_the_hello_declaration_is_not_a_way_out() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let run = certify_with_fake("undeclared", u64::MAX);
    let proof = requirement(&run.report, "OQS-POP-01");
    assert_eq!(proof["status"], "fail", "{proof}");
    assert!(run.report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] != "not_applicable"));
    assert_eq!(run.code, Some(1));
}

#[test]
fn interactive_mode_prompts_in_both_languages_and_records_the_operators_answers() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("report");
    let mut child = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--case", "face-qv4", "--report"])
        .arg(&report_dir)
        .current_dir(manifest())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // Ready; three operator steps done (placing and taking the card need nobody); then
        // "maybe" (asked again) and "no" to the question whether the device showed 該当資格なし.
        stdin.write_all(b"\n\n\n\nmaybe\nn\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for prompt in [
        "Bring the device back to its idle screen",
        "端末を待受画面に戻してください",
        "「顔認証」を選んでください / Choose face authentication",
        "「包括同意」を選んでください / Choose comprehensive consent",
        "Press Enter when done (within 120 s)",
        "「該当資格なし」と表示され",
        "Answer y or n",
    ] {
        assert!(
            stderr.contains(prompt),
            "no prompt {prompt:?} in:\n{stderr}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap())
            .unwrap();
    let shown = requirement(&report, "OQS-RESULT-04");
    assert_eq!(shown["status"], "fail", "{shown}");
    assert_eq!(shown["evidence"][0]["kind"], "operator-judged");
    assert!(shown["evidence"][0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("operator answered no"));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
}

#[test]
fn the_card_can_be_served_over_a_serial_line_and_the_file_interface_beside_http() {
    // No pcscd here: the card goes to a (pty) serial line, as to a hardware front end.
    let pty = PtyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let suite = small_suite(dir.path());
    let log = dir.path().join("instructions.jsonl");
    let driver = format!(
        "sh {} ok none",
        manifest().join("tests/data/fake_driver.sh").display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--quiet", "--driver", &driver, "--suite"])
        .arg(&suite)
        .arg("--serial")
        .arg(&pty.card_end)
        .args(["--case", "b-face", "--report"])
        .arg(dir.path().join("report"))
        .arg("--files")
        .arg(dir.path().join("oqs-files"))
        .env("FAKE_DRIVER_LOG", &log)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The run itself works over the serial line; the fake device is judged (and not
    // certified: it shows a result it never asked the qualification system for).
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report").join("report.json")).unwrap(),
    )
    .unwrap();
    assert!(case(&report, "b-face")["aborted"].is_null(), "{report}");
    assert_eq!(requirement(&report, "OQS-RESULT-01")["status"], "fail");
    let hello: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(hello["op"], "hello");
    // Behind a serial front end there is no PC/SC reader name to give.
    assert!(hello["reader"].is_null(), "{hello}");
    // The file interface was served and named to the device.
    let files = dir.path().join("oqs-files");
    assert_eq!(hello["files_dir"], files.display().to_string().as_str());
    for folder in ["req", "res", "face"] {
        assert!(files.join(folder).is_dir(), "{folder} missing");
    }
}

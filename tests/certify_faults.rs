//! The fault matrix: every deliberately faulty variant of the reference device
//! (`certify --list-faults`), run over the whole suite, fails exactly the requirements it is
//! listed with and nothing else; a device that does nothing passes nothing
//! (certify_reference.rs: the correct device is certified and its recorded cases replay). Through the real pcscd + vpcd; needs the
//! cargo feature `pcsc` and the Debian packages pcscd and vsmartcard-vpcd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::*;

fn list_faults() -> Vec<(String, BTreeSet<String>)> {
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--list-faults"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines()
        .map(|line| {
            let (name, breaks) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("not NAME<TAB>IDS: {line:?}"));
            (
                name.to_owned(),
                breaks.split(',').map(str::to_owned).collect(),
            )
        })
        .collect()
}

#[test]
fn list_faults_prints_one_fault_per_line_with_known_requirements() {
    let suite =
        myna_hil::certify::suite::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("certify"))
            .unwrap();
    let faults = list_faults();
    assert!(faults.len() >= 8, "{faults:?}");
    for (name, breaks) in &faults {
        assert!(!breaks.is_empty(), "{name} breaks nothing");
        for id in breaks {
            assert!(
                suite.requirement(id).is_some(),
                "{name}: unknown requirement {id}"
            );
        }
    }
}

/// A whole-suite certification run: its exit code, `report.json` and stderr.
struct Certified {
    code: Option<i32>,
    report: serde_json::Value,
    stderr: String,
}

impl Certified {
    fn ids_with(&self, status: &str) -> BTreeSet<String> {
        self.report["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == status)
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn evidence_of(&self, ids: &BTreeSet<String>) -> String {
        self.report["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| ids.contains(r["id"].as_str().unwrap()))
            .map(|r| format!("{}: {} {}", r["id"], r["reason"], r["evidence"]))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `certify ARGS --quiet --report DIR` over the whole suite.
fn certify(args: &[&str], env: &[(&str, &Path)]) -> Certified {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .arg("certify")
        .args(args)
        .args(["--quiet", "--report"])
        .arg(dir.path())
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(dir.path().join("report.json"))
        .unwrap_or_else(|error| panic!("no report ({error}): {stderr}"));
    Certified {
        code: output.status.code(),
        report: serde_json::from_str(&text).unwrap(),
        stderr,
    }
}

/// Every fault over the whole suite: what fails is exactly what `--list-faults` says, so no
/// fault leaks into a requirement judged on something else (a refused proof used to fail
/// CARD-FAULT-01, CARD-REMOVE-01 and CARD-SLOW-01 too). Nothing is `not_applicable`: the
/// reference device declares nothing unsupported.
#[test]
fn each_fault_fails_exactly_its_requirements() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let mut problems = Vec::new();
    let faults = list_faults();
    for (fault, breaks) in &faults {
        let run = certify(&["--reference", "--fault", fault], &[]);
        let failed = run.ids_with("fail");
        if &failed != breaks {
            let extra: BTreeSet<String> = failed.difference(breaks).cloned().collect();
            problems.push(format!(
                "{fault}: failed {failed:?}, expected exactly {breaks:?}\n{}\n{}",
                run.evidence_of(&extra),
                run.stderr
            ));
        }
        let not_applicable = run.ids_with("not_applicable");
        if !not_applicable.is_empty() {
            problems.push(format!("{fault}: not applicable {not_applicable:?}"));
        }
        if run.code != Some(1) {
            problems.push(format!(
                "{fault}: exit {:?}, expected 1 (a must failed)",
                run.code
            ));
        }
    }
    assert!(faults.len() >= 12, "{faults:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A driver that never touches the card and always shows 有効 (tests/data/fake_driver.sh in
/// `ok` mode): not certified, passes nothing it never did, and only the `PHONE-*`
/// requirements are `not_applicable`: it declared no phone support in hello (and nothing
/// unsupported).
#[test]
fn a_device_that_does_nothing_passes_nothing() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let driver = format!(
        "sh {} ok none",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fake_driver.sh")
            .display()
    );
    let run = certify(&["--driver", &driver], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let passed = run.ids_with("pass");
    assert!(passed.is_empty(), "passed: {}", run.evidence_of(&passed));
    let not_applicable = run.ids_with("not_applicable");
    assert!(
        !not_applicable.is_empty() && not_applicable.iter().all(|id| id.starts_with("PHONE-")),
        "{not_applicable:?}"
    );
    let not_exercised = run.ids_with("not_exercised");
    assert!(!not_exercised.is_empty());
    assert_eq!(run.report["summary"]["result"], "fail");
    // Each not-exercised requirement says why.
    for requirement in run.report["requirements"].as_array().unwrap() {
        if requirement["status"] == "not_exercised" {
            assert!(
                requirement["reason"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{requirement}"
            );
        }
    }
}

/// Reports speak the domain: a wrong qualification shown (fault `qv4-as-valid`) is described
/// as `valid` against `no_qualification` in the console, report.json, junit.xml and
/// report.html, and no Rust `Debug` text (`Some("valid")`, `None`, variant names) reaches any
/// of them.
#[test]
fn reports_carry_no_rust_debug_text() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args([
            "certify",
            "--reference",
            "--fault",
            "qv4-as-valid",
            "--case",
            "face-qv4",
            "pin-valid",
            "--report",
        ])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let console = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        console.contains("qualification shown `valid`, expected `no_qualification`"),
        "{console}"
    );
    assert!(console.contains("NOT EXERCISED"), "{console}");
    let mut texts = vec![("console".to_owned(), console)];
    for file in ["report.json", "junit.xml", "report.html"] {
        texts.push((
            file.to_owned(),
            std::fs::read_to_string(dir.path().join(file)).unwrap(),
        ));
    }
    let debugish = [
        "Some(",
        "None",
        "DriverReported",
        "OperatorJudged",
        "NotExercised",
        "NotApplicable",
        "PowerOn",
        "PowerOff",
        "LinkDown",
        "Inserted",
        "Removed",
        "Apdu(",
    ];
    for (name, text) in &texts {
        for pattern in debugish {
            assert!(
                !text.contains(pattern),
                "{name} carries Rust Debug text {pattern:?}:\n{}",
                text.lines()
                    .filter(|line| line.contains(pattern))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

//! The fault matrix: every deliberately faulty variant of the reference device
//! (`certify --list-faults`) fails exactly the requirements it is listed with, and nothing
//! else among the requirements judged. To keep the matrix short each fault runs the cases that
//! give evidence for its requirements plus two ordinary receptions (PIN and face), which judge
//! most of the other requirements. Through the real pcscd + vpcd; needs the cargo feature
//! `pcsc` and the Debian packages pcscd and vsmartcard-vpcd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::*;

const ORDINARY_CASES: [&str; 2] = ["pin-valid", "face-valid"];

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

#[test]
fn each_fault_fails_exactly_its_requirements() {
    let suite =
        myna_hil::certify::suite::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("certify"))
            .unwrap();
    let _pcscd = Pcscd::ensure();
    let mut problems = Vec::new();
    for (fault, breaks) in list_faults() {
        let mut cases: Vec<String> = suite
            .cases
            .iter()
            .filter(|case| case.evidence.iter().any(|id| breaks.contains(id)))
            .map(|case| case.id.clone())
            .collect();
        for ordinary in ORDINARY_CASES {
            if !cases.iter().any(|c| c == ordinary) {
                cases.push(ordinary.to_owned());
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args([
                "certify",
                "--reference",
                "--fault",
                &fault,
                "--quiet",
                "--report",
            ])
            .arg(dir.path())
            .arg("--case")
            .args(&cases)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let Ok(text) = std::fs::read_to_string(dir.path().join("report.json")) else {
            problems.push(format!(
                "{fault}: no report ({:?}): {stderr}",
                output.status
            ));
            continue;
        };
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let requirements = report["requirements"].as_array().unwrap();
        let failed: BTreeSet<String> = requirements
            .iter()
            .filter(|r| r["status"] == "fail")
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        let judged = requirements
            .iter()
            .filter(|r| r["status"] != "not_applicable")
            .count();
        if failed != breaks {
            let details: Vec<String> = requirements
                .iter()
                .filter(|r| failed.contains(r["id"].as_str().unwrap()))
                .map(|r| format!("{}: {}", r["id"], r["evidence"]))
                .collect();
            problems.push(format!(
                "{fault} (cases {cases:?}): failed {failed:?}, expected exactly {breaks:?}\n{}\n{stderr}",
                details.join("\n")
            ));
            continue;
        }
        // The ordinary receptions judge more than the fault's own requirements, so "nothing
        // else failed" is a real statement.
        if judged <= breaks.len() + 3 {
            problems.push(format!("{fault}: only {judged} requirements judged"));
        }
        if output.status.code() != Some(1) {
            problems.push(format!(
                "{fault}: exit {:?}, expected 1 (a must failed)",
                output.status.code()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

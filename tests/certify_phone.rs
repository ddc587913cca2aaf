//! `certify` on the smartphone path: the card served on vpcd's first slot (the face reader,
//! `Virtual PCD 00 00`) and the phone on its second (the generic reader, `Virtual PCD 00 01`).
//! Only the phone cases run, to keep the time short: the reference device passes every
//! `PHONE-*` requirement, each phone fault fails exactly the requirements it lists, and a
//! device that does not declare phone support in hello gets `PHONE-*` not applicable by that
//! declaration, its phone cases never begun. Needs the cargo feature `pcsc` and the Debian
//! packages pcscd and vsmartcard-vpcd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::*;

const PHONE_CASES: [&str; 3] = ["phone-android", "phone-iphone", "phone-grace"];

/// The `PHONE-*` requirements of the shipped suite.
fn phone_requirements() -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("certify/requirements.yaml"),
    )
    .unwrap();
    let mut ids: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- id: PHONE-"))
        .map(|rest| format!("PHONE-{rest}"))
        .collect();
    assert!(ids.len() >= 4, "{ids:?}");
    ids.sort();
    ids
}

struct PhoneRun {
    /// `PHONE-*` id → status.
    statuses: BTreeMap<String, String>,
    report: serde_json::Value,
    stderr: String,
}

impl PhoneRun {
    fn with(&self, status: &str) -> Vec<String> {
        self.statuses
            .iter()
            .filter(|(_, s)| s.as_str() == status)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn requirement(&self, id: &str) -> &serde_json::Value {
        self.report["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
    }
}

/// `certify ARGS --case <the phone cases> --quiet --report DIR`.
fn certify_phone_cases(args: &[&str], env: &[(&str, &Path)]) -> PhoneRun {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .arg("certify")
        .args(args)
        .arg("--case")
        .args(PHONE_CASES)
        .args(["--quiet", "--report"])
        .arg(dir.path())
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json"))
            .unwrap_or_else(|error| panic!("no report ({error}): {stderr}")),
    )
    .unwrap();
    let statuses = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"].as_str().unwrap().starts_with("PHONE-"))
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    PhoneRun {
        statuses,
        report,
        stderr,
    }
}

#[test]
fn the_reference_device_passes_every_phone_requirement_on_two_slots() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let run = certify_phone_cases(&["--reference"], &[]);
    let expected = phone_requirements();
    assert_eq!(
        run.with("pass"),
        expected,
        "{:#}\n{}",
        run.report["requirements"],
        run.stderr
    );
    // The phone was read on the generic reader, the PIN went there, and the refusal came
    // from the qualification system's own finding that a phone credential was presented.
    let slot = run.requirement("PHONE-SLOT-01").to_string();
    assert!(slot.contains("read on the generic reader"), "{slot}");
    let pin = run.requirement("PHONE-PIN-01").to_string();
    assert!(pin.contains("0020008004XXXXXXXX"), "the PIN hidden: {pin}");
    assert!(!pin.contains("32353830"), "the phone's PIN in clear: {pin}");
    let grace = run.requirement("PHONE-GRACE-01").to_string();
    assert!(grace.contains("refused"), "{grace}");
    // Each phone case's transcript shows the generic reader's exchanges.
    let android = run.report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "phone-android")
        .unwrap()
        .to_string();
    assert!(android.contains("generic reader"), "{android}");
}

#[test]
fn each_phone_fault_fails_exactly_its_phone_requirements() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    for (fault, breaks) in [
        ("phone-pin-to-card", "PHONE-PIN-01"),
        ("face-for-phone", "PHONE-FACE-01"),
    ] {
        let run = certify_phone_cases(&["--reference", "--fault", fault], &[]);
        assert_eq!(
            run.with("fail"),
            vec![breaks.to_owned()],
            "{fault}: {:#}\n{}",
            run.report["requirements"],
            run.stderr
        );
        let others: Vec<String> = phone_requirements()
            .into_iter()
            .filter(|id| id != breaks)
            .collect();
        assert_eq!(run.with("pass"), others, "{fault}");
    }
}

#[test]
fn a_device_without_phone_support_gets_the_phone_requirements_not_applicable() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("instructions.jsonl");
    let driver = format!(
        "sh {} ok none",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fake_driver.sh")
            .display()
    );
    let run = certify_phone_cases(&["--driver", &driver], &[("FAKE_DRIVER_LOG", &log)]);
    assert_eq!(
        run.with("not_applicable"),
        phone_requirements(),
        "{}",
        run.stderr
    );
    let why = run.requirement("PHONE-SLOT-01")["evidence"][0]["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        why.contains("did not declare in hello that it supports phones"),
        "{why}"
    );
    // It was told where the generic reader is, and no phone case was begun.
    let instructions = std::fs::read_to_string(&log).unwrap();
    assert!(
        instructions.contains(r#""generic_reader":"Virtual PCD 00 01""#),
        "{instructions}"
    );
    assert!(!instructions.contains("begin_case"), "{instructions}");
}

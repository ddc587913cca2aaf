//! `myna-hil certify --reference`: the whole suite against the harness's own reference reader
//! and terminal, through the real pcscd + vpcd and the qualification system over HTTP. Every
//! requirement must pass. Needs the cargo feature `pcsc` and the Debian packages pcscd and
//! vsmartcard-vpcd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn the_reference_device_passes_the_whole_suite() {
    let _pcscd = Pcscd::ensure();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--reference", "--quiet", "--report"])
        .arg(dir.path())
        .args(["--device-name", "reference under test"])
        .arg("--record")
        .arg(dir.path().join("card.jsonl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json"))
            .unwrap_or_else(|error| panic!("no report.json ({error}); stderr:\n{stderr}")),
    )
    .unwrap();
    let not_passed: Vec<String> = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "pass")
        .map(|r| serde_json::to_string_pretty(r).unwrap())
        .collect();
    assert!(
        not_passed.is_empty(),
        "requirements not passed:\n{}\nstderr:\n{stderr}",
        not_passed.join("\n")
    );
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(report["requirements"].as_array().unwrap().len() >= 20);
    assert_eq!(report["device_name"], "reference under test");
    assert_eq!(report["suite"]["sha256"].as_str().unwrap().len(), 64);
    for file in ["junit.xml", "report.html"] {
        assert!(dir.path().join(file).exists(), "{file} missing");
    }
    // --record: the served card's whole session, in the transcript format, PINs hidden.
    let trace = myna_hil::trace::read_trace(&dir.path().join("card.jsonl")).unwrap();
    let verifies = trace
        .iter()
        .filter_map(|line| match &line.event {
            myna_hil::trace::TraceEvent::Apdu { command, .. }
                if command.starts_with("0020008004") =>
            {
                Some(command.clone())
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    assert!(!verifies.is_empty(), "the suite enters PINs");
    assert!(
        verifies
            .iter()
            .all(|command| command == "0020008004XXXXXXXX"),
        "{verifies:?}"
    );
    // Well under the 5 minutes, with room for a loaded CI machine.
    assert!(
        elapsed < Duration::from_secs(150),
        "the run took {elapsed:?}"
    );
}

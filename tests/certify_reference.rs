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
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--reference", "--quiet", "--report"])
        .arg(dir.path())
        .args(["--device-name", "reference under test"])
        .arg("--record")
        .arg(dir.path().join("traces"))
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
    // --record DIR (created): each case's card session in the transcript format, PINs
    // hidden, with the card it served beside it; each replays with no divergence given
    // nothing but the trace.
    let traces = dir.path().join("traces");
    let cases: Vec<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(cases.len() >= 19, "{cases:?}");
    let mut verifies = Vec::new();
    let mut problems = Vec::new();
    for case in &cases {
        let path = traces.join(format!("{case}.jsonl"));
        assert!(
            traces.join(format!("{case}.card.yaml")).is_file(),
            "{case}: no card"
        );
        let trace = myna_hil::trace::read_trace(&path).unwrap();
        assert!(
            trace.windows(2).all(|w| w[0].elapsed_us <= w[1].elapsed_us),
            "{case}: time goes back"
        );
        verifies.extend(trace.iter().filter_map(|line| match &line.event {
            myna_hil::trace::TraceEvent::Apdu { command, .. }
                if command.starts_with("0020008004") =>
            {
                Some(command.clone())
            }
            _ => None,
        }));
        let replay = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .arg("replay")
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&replay.stdout);
        if replay.status.code() != Some(0) || !stdout.contains(" 0 divergences") {
            problems.push(format!(
                "{case}: exit {:?}\n{stdout}{}",
                replay.status.code(),
                String::from_utf8_lossy(&replay.stderr)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
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

/// `certify --reference --listen`: the card waits for a pcscd of its own whose vpcd connects
/// out to it, and every case that does not lift the card mid-command passes (those two need a
/// card that can leave the reader, which Debian's vpcd cannot show; they are refused with the
/// reason when asked for). Their requirements are therefore not exercised, so such a run does
/// not certify (exit 1): the removal requirements need `--vpcd`.
#[test]
fn the_reference_device_passes_through_a_card_that_waits_for_vpcd() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair();
    let address = format!("127.0.0.1:{port}");
    let cases: Vec<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certify/cases"))
            .unwrap()
            .map(|entry| {
                entry
                    .unwrap()
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|id| !id.starts_with("removal-"))
            .collect();
    assert!(cases.len() >= 15, "{cases:?}");
    // The lock first: the process waits for pcscd from the moment it listens.
    let lock = lock_pcscd();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["certify", "--reference", "--quiet", "--listen", &address])
            .arg("--report")
            .arg(dir.path())
            .arg("--case")
            .args(&cases)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs"),
    );
    wait_until(
        "the certification's card to listen",
        Duration::from_secs(60),
        || tcp_port_listening(port) && tcp_port_listening(port + 1),
    );
    let Some(pcscd) = Pcscd::connecting_out_with(lock, address.parse().unwrap()) else {
        return;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.0.wait().unwrap();
    drop(pcscd);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json"))
            .unwrap_or_else(|error| panic!("no report.json ({error}); stderr:\n{stderr}")),
    )
    .unwrap();
    let failed: Vec<String> = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| serde_json::to_string_pretty(r).unwrap())
        .collect();
    assert!(
        failed.is_empty(),
        "requirements failed:\n{}\nstderr:\n{stderr}",
        failed.join("\n")
    );
    // What only the removal cases give evidence for, read from the case files themselves.
    let evidence_of = |id: &str| -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certify/cases")
            .join(format!("{id}.yaml"));
        let text = std::fs::read_to_string(path).unwrap();
        let line = text
            .lines()
            .find_map(|line| line.strip_prefix("evidence:"))
            .unwrap_or("[]");
        line.trim()
            .trim_matches(['[', ']'])
            .split(',')
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .collect()
    };
    let run: std::collections::BTreeSet<String> =
        cases.iter().flat_map(|id| evidence_of(id)).collect();
    let removal_only: std::collections::BTreeSet<String> =
        ["removal-mid-read", "removal-mid-verify"]
            .iter()
            .flat_map(|id| evidence_of(id))
            .filter(|requirement| !run.contains(requirement))
            .collect();
    assert!(!removal_only.is_empty());
    let not_exercised: std::collections::BTreeSet<String> = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "not_exercised")
        .inspect(|r| {
            assert!(
                r["reason"].as_str().is_some_and(|why| !why.is_empty()),
                "{r}"
            )
        })
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(not_exercised, removal_only, "{report}");
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let passed = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "pass")
        .count();
    assert!(passed >= 15, "{report}");
}

/// A recording that fails mid-run (here: a folder where a case's trace should go) does not
/// cost the run its reports; the command still ends with the recording's error.
#[test]
fn the_reports_are_written_whatever_happens_to_the_recording() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces");
    std::fs::create_dir_all(traces.join("pin-valid.jsonl")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--reference", "--quiet", "--case", "pin-valid"])
        .arg("--report")
        .arg(dir.path().join("report"))
        .arg("--record")
        .arg(&traces)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--record: recording case pin-valid: transcript")
            && stderr.contains("pin-valid.jsonl"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["cases"][0]["id"], "pin-valid");
    // The card was still written beside the failed trace.
    assert!(traces.join("pin-valid.card.yaml").is_file());
}

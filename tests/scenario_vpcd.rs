//! `myna-hil run --reader vpcd`: card-level scenarios of the suite, unchanged, through the real
//! stack (our card served to vpcd, pcscd, the `pcsc` crate). Needs the cargo feature `pcsc` and
//! the Debian packages pcscd, vsmartcard-vpcd, opensc (readiness check), libpcsclite-dev and
//! pkg-config. A missing pcscd is a failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::process::Command;

use crate::support::*;

fn run_on_vpcd(paths: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["run", "--reader", "vpcd", "--json"])
        .arg(&json)
        .args(paths)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&json).unwrap_or_else(|error| panic!("{error}: {stdout}")),
    )
    .unwrap();
    (output.status.code(), stdout, report)
}

fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn card_scenarios_pass_through_pcscd_and_vpcd() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let files = [
        "scenarios/card/jpki_auth_certificate_reads.yaml",
        "scenarios/card/jpki_auth_pin_lockout.yaml",
        "scenarios/card/jpki_sign_auth_key.yaml",
        "scenarios/card/power_and_reset.yaml",
        "scenarios/card/select_applications.yaml",
        // Receptions: the reader flow drives the served card through pcscd.
        "scenarios/reader/pin_valid.yaml",
        "scenarios/reader/face_valid.yaml",
        "scenarios/reader/pin_locked_face_and_visual.yaml",
    ];
    let (code, stdout, report) = run_on_vpcd(&files);
    assert_eq!(code, Some(0), "{stdout}");
    let statuses = statuses(&report);
    assert_eq!(statuses.len(), files.len(), "{stdout}");
    for (name, status) in &statuses {
        assert_eq!(status, "passed", "{name}: {stdout}");
    }
    assert!(stdout.contains("on reader `vpcd`"), "{stdout}");
    // The transcript is the real exchange: the PIN lockout scenario saw the blocked status.
    let lockout = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .unwrap()
                .ends_with("jpki_auth_pin_lockout.yaml")
        })
        .unwrap();
    let transcript = lockout["transcript"].to_string();
    assert!(transcript.contains("69 84"), "{transcript}");
}

#[test]
fn removal_and_insertion_go_through_vpcd_and_injected_faults_are_skipped_with_the_reason() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let (code, stdout, report) = run_on_vpcd(&[
        "scenarios/selftest/events.yaml",
        "tests/data/vpcd/remove_insert.yaml",
    ]);
    // One scenario skipped (it injects a removal during a command), the others passed.
    assert_eq!(code, Some(0), "{stdout}");
    let by_file = |suffix: &str| {
        report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["file"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix}: {stdout}"))
            .clone()
    };
    let events = by_file("selftest/events.yaml");
    assert_eq!(events["status"], "skipped", "{stdout}");
    assert!(
        events["reason"]
            .as_str()
            .unwrap()
            .contains("only the virtual reader"),
        "{events}"
    );
    let removal = by_file("vpcd/remove_insert.yaml");
    assert_eq!(removal["status"], "passed", "{stdout}");
}

/// `--reader pcsc:NAME` on a card that does not prove to be ours (our card served with the
/// identification probe switched off stands in for a real person's card): steps that consume
/// PIN tries are refused unless the user allows them; harmless scenarios run.
#[test]
fn a_card_that_is_not_proven_ours_is_protected_unless_changes_are_allowed() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let options = myna_hil::transport::serve::ServeOptions {
        answer_identification: false,
        ..test_options()
    };
    let server = serve_to_pcscd(load_card(&standard_card_path()), options);
    let run = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("report.json");
        let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["run", "--reader", &format!("pcsc:{VPCD_READER}"), "--json"])
            .arg(&json)
            .args(extra)
            .args([
                "scenarios/card/jpki_sign_auth_key.yaml",
                "scenarios/card/jpki_auth_certificate_reads.yaml",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .output()
            .expect("the binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        (output.status.code(), stdout, report)
    };

    let (code, stdout, report) = run(&[]);
    assert_eq!(code, Some(0), "{stdout}");
    let scenarios = report["scenarios"].as_array().unwrap();
    let signing = scenarios
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .unwrap()
                .ends_with("jpki_sign_auth_key.yaml")
        })
        .unwrap();
    assert_eq!(signing["status"], "skipped", "{stdout}");
    let reason = signing["reason"].as_str().unwrap();
    assert!(reason.contains("consumes a PIN try"), "{reason}");
    assert!(reason.contains("--allow-real-card-changes"), "{reason}");
    let reads = scenarios
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .unwrap()
                .ends_with("jpki_auth_certificate_reads.yaml")
        })
        .unwrap();
    assert_eq!(reads["status"], "passed", "{stdout}");
    // Nothing was verified on the protected card.
    let counters = server.handle().with_card(|card| card.pin_counters());
    assert_eq!(counters.auth.unwrap().tries_left, 3);

    let (code, stdout, report) = run(&["--allow-real-card-changes"]);
    assert_eq!(code, Some(0), "{stdout}");
    for scenario in report["scenarios"].as_array().unwrap() {
        assert_eq!(scenario["status"], "passed", "{stdout}");
    }
    server.stop().unwrap();
}

/// The whole suite through the real stack: every scenario passes, or is skipped with the reason
/// the real stack cannot do what it asks; and the run ends (a step that hangs in pcscd is an
/// error naming the step, not a wedged CI job).
#[test]
fn the_whole_suite_runs_through_pcscd_and_vpcd_and_ends() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["run", "--reader", "vpcd", "--json"])
        .arg(&json)
        .arg("scenarios/")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdout_pipe = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout_pipe, &mut text).unwrap();
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`run --reader vpcd scenarios/` did not end within 10 minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let stdout = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 70, "{stdout}");
    for scenario in scenarios {
        match scenario["status"].as_str().unwrap() {
            "passed" => {}
            "skipped" => assert!(
                !scenario["reason"].as_str().unwrap_or_default().is_empty(),
                "{scenario}"
            ),
            other => panic!("{}: {other}\n{stdout}", scenario["file"]),
        }
    }
    // The 3-byte frame of apdu_errors.yaml was answered by the card (67 00) through pcscd.
    let apdu_errors = scenarios
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .unwrap()
                .ends_with("card/apdu_errors.yaml")
        })
        .unwrap();
    assert_eq!(apdu_errors["status"], "passed", "{stdout}");
    // Powering the card before placing it no longer resets it under the reader flow's feet.
    let unknown_atr = scenarios
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .unwrap()
                .ends_with("field/unknown_atr.yaml")
        })
        .unwrap();
    assert_eq!(unknown_atr["status"], "passed", "{stdout}");
    // The smartphone scenarios ran with the face reader's card on vpcd's first slot
    // (`Virtual PCD 00 00`) and the phone on its second (`00 01`), both through pcscd.
    let phones: Vec<&serde_json::Value> = scenarios
        .iter()
        .filter(|s| s["file"].as_str().unwrap().contains("/smartphone/"))
        .collect();
    assert!(phones.len() >= 12, "{stdout}");
    for scenario in &phones {
        assert_eq!(scenario["status"], "passed", "{scenario}: {stdout}");
    }
    // The phone answered through pcscd: its token label (JPKIAPGPSETOKEN) came back in the
    // reader flow's READ BINARY of EF 0006, and the PIN typed on the face reader reached it.
    let android = phones
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .unwrap()
                .ends_with("android_pin_right.yaml")
        })
        .unwrap();
    let transcript = android["transcript"].to_string();
    let label_hex = "4A 50 4B 49 41 50 47 50 53 45 54 4F 4B 45 4E";
    assert!(transcript.contains(label_hex), "{transcript}");
    assert!(
        transcript.contains("held over the generic reader"),
        "{transcript}"
    );
}

/// `run --reader listen`: the whole suite through the real stack with the card waiting for
/// pcscd's vpcd to connect out to it (a pcscd of its own, `-c DIR`). Skipped, each with its
/// reason: what only the virtual reader can do, what `skip_on: vpcd` names, and removals,
/// which a card linked to Debian's vpcd cannot make. Everything else passes.
#[test]
fn the_suite_passes_through_a_card_that_waits_for_vpcd() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let port = free_port_pair();
    let address = format!("127.0.0.1:{port}");
    // The lock first: the process waits for pcscd from the moment it listens.
    let lock = lock_pcscd();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["run", "--reader", "listen", "--listen", &address, "--json"])
            .arg(&json)
            .args(["scenarios", "tests/data/vpcd/remove_insert.yaml"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs"),
    );
    wait_until(
        "the run's card to listen",
        std::time::Duration::from_secs(60),
        || tcp_port_listening(port) && tcp_port_listening(port + 1),
    );
    let Some(pcscd) = Pcscd::connecting_out_with(lock, address.parse().unwrap()) else {
        return;
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut stdout).unwrap();
    let status = child.0.wait().unwrap();
    drop(pcscd);
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("on reader `listen`"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    let removal = scenarios
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .unwrap()
                .ends_with("vpcd/remove_insert.yaml")
        })
        .unwrap();
    assert_eq!(removal["status"], "skipped", "{stdout}");
    assert!(
        removal["reason"]
            .as_str()
            .unwrap()
            .contains("cannot leave the reader"),
        "{removal}"
    );
    let mut passed = 0;
    for scenario in scenarios {
        match scenario["status"].as_str().unwrap() {
            "passed" => passed += 1,
            "skipped" => {
                let reason = scenario["reason"].as_str().unwrap();
                assert!(
                    reason.contains("only the virtual reader")
                        || reason.contains("does not run on reader `listen`")
                        || reason.contains("cannot leave the reader"),
                    "{}: {reason}",
                    scenario["name"]
                );
            }
            other => panic!("{}: {other}\n{stdout}", scenario["name"]),
        }
    }
    eprintln!(
        "{passed} of {} scenarios passed through the listening card",
        scenarios.len()
    );
    assert!(passed >= scenarios.len() * 3 / 4, "{stdout}");
}

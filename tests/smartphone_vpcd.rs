//! The smartphone scenarios through the real stack: the face reader's card served to vpcd's
//! first slot (`Virtual PCD 00 00`) and the phone to its second (`Virtual PCD 00 01`, Debian's
//! vpcd listening on the port after the first), both driven through pcscd. Needs the cargo
//! feature `pcsc` and the Debian packages pcscd and vsmartcard-vpcd; a missing pcscd is a
//! failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::process::Command;

use crate::support::*;

#[test]
fn smartphone_scenarios_pass_with_the_phone_in_vpcds_second_slot() {
    let _pcscd = Pcscd::ensure();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["run", "--reader", "vpcd", "--json"])
        .arg(&json)
        .arg("scenarios/smartphone")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&json).unwrap_or_else(|error| panic!("{error}: {stdout}")),
    )
    .unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 12, "{stdout}");
    for scenario in scenarios {
        assert_eq!(scenario["status"], "passed", "{scenario}: {stdout}");
    }
    assert!(stdout.contains("on reader `vpcd`"), "{stdout}");
    // The phone answered through pcscd: its token label (JPKIAPGPSETOKEN) came back in the
    // reader flow's READ BINARY of EF 0006, and the PIN typed on the face reader reached it.
    let android = scenarios
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

//! Errors of the serving commands name the file, line and column once, and say each cause once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::run_myna_hil;

fn run(args: &[&str]) -> (i32, String) {
    let output = run_myna_hil(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_card_file_is_named_with_its_line_and_column_once() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card.yaml");
    std::fs::write(&card, "person:\n  name: x\ncard:\n  profle: standard\n").unwrap();
    let (code, stderr) = run(&["card", "serve", "--card", card.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("card.yaml:"), "{stderr}");
    assert!(
        !stderr.contains(" at line "),
        "location said twice: {stderr}"
    );
}

#[test]
fn a_bad_registry_names_the_field_and_the_valid_choices() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.yaml");
    std::fs::write(&registry, "persons:\n  - id: a\n    persn: {}\n").unwrap();
    let (code, stderr) = run(&["oqs", "serve", "--registry", registry.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("registry.yaml:3:5: unknown field `persn`, expected one of id, person"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(" at line "),
        "location said twice: {stderr}"
    );
}

#[test]
fn a_missing_serial_device_is_reported_once() {
    let card = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/standard.yaml");
    let (code, stderr) = run(&[
        "card",
        "serve",
        "--card",
        card,
        "--serial",
        "/dev/myna-hil-absent",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("/dev/myna-hil-absent"), "{stderr}");
}

#[test]
fn certify_outside_the_checkout_finds_the_shipped_suite() {
    // A folder with no certify/ in it: the suite is the checkout's, named in full.
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args([
            "certify", "--quiet", "--driver", "true", "--case", "NO-SUCH",
        ])
        // Nothing may be served: a vpcd address nobody listens on.
        .args(["--vpcd", "127.0.0.1:9"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let shipped = format!("{}/certify/cases", env!("CARGO_MANIFEST_DIR"));
    assert!(
        stderr.contains(&shipped) && stderr.contains("--case NO-SUCH: no such case; cases: "),
        "{stderr}"
    );
    // A certify/ of the current folder still comes first.
    std::fs::create_dir(dir.path().join("certify")).unwrap();
    std::fs::write(dir.path().join("certify/requirements.yaml"), "[]\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args([
            "certify",
            "--quiet",
            "--driver",
            "true",
            "--vpcd",
            "127.0.0.1:9",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("certify/") && !stderr.contains(&shipped),
        "{stderr}"
    );
}

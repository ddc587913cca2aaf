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

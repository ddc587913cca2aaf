//! The CLI never panics or hangs on hostile arguments and files: each case below exits 2 with a
//! message that says what is wrong and where, in bounded time and bounded output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::myna_hil;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs the binary with a deadline; returns the exit code and stdout + stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = myna_hil()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut text).unwrap();
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("myna-hil {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = out.join().unwrap();
    text.extend(err.join().unwrap());
    (status.code(), String::from_utf8_lossy(&text).into_owned())
}

fn card() -> String {
    format!(
        "{}/fixtures/cards/standard.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn write(path: &Path, text: impl AsRef<[u8]>) -> String {
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_thousand_maximal_waits_are_refused_not_an_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("name: waits\ncard: {}\nsteps:\n", card());
    for _ in 0..1001 {
        text.push_str("  - event: { wait_ms: 18446744073709551615 }\n");
    }
    let file = write(&dir.path().join("waits.yaml"), text);
    let (code, output) = run(&["run", &file]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("waits.yaml:4:"), "{output}");
    assert!(
        output.contains("more than the 86400000 ms (one day)"),
        "{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
}

#[test]
fn a_symlink_loop_in_a_scenario_folder_ends() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("suite");
    std::fs::create_dir(&folder).unwrap();
    write(
        &folder.join("one.yaml"),
        format!(
            "name: one\ncard: {}\nsteps:\n  - send: \"00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01\"\n    expect: {{ sw: \"9000\" }}\n",
            card()
        ),
    );
    std::os::unix::fs::symlink(&folder, folder.join("loop")).unwrap();
    let (code, output) = run(&["run", folder.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("1 scenario"), "{output}");
}

#[test]
fn a_load_error_on_a_huge_line_prints_a_bounded_excerpt() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(20 * 1024 * 1024);
    let file = write(
        &dir.path().join("huge.yaml"),
        format!("name: huge\ncard: {}\nsteps: \"{huge}\"\n", card()),
    );
    let (code, output) = run(&["run", &file]);
    assert_eq!(code, Some(2), "{}", &output[..output.len().min(2000)]);
    assert!(
        output.contains("huge.yaml:3:"),
        "{}",
        &output[..output.len().min(2000)]
    );
    assert!(output.len() < 16 * 1024, "{} bytes printed", output.len());
}

#[test]
fn non_utf8_input_names_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("name: bytes\ncard: {}\nsteps:\n  - label: ab", card()).into_bytes();
    text.extend([0xFF, 0xFE]);
    text.extend(b"\n    send: \"00 A4 04 0C\"\n");
    let file = write(&dir.path().join("bytes.yaml"), text);
    let (code, output) = run(&["run", &file]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("bytes.yaml:4:14: byte 0xff is not UTF-8"),
        "{output}"
    );
}

#[test]
fn an_empty_steps_list_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir.path().join("empty.yaml"),
        format!("name: empty\ncard: {}\nsteps: []\n", card()),
    );
    let (code, output) = run(&["run", &file]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("empty.yaml:3:1: `steps:` is empty"),
        "{output}"
    );
}

#[test]
fn a_missing_card_names_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir.path().join("nocard.yaml"),
        "name: no card\nsteps:\n  - send: \"00 A4 04 0C\"\n    expect: { sw: \"9000\" }\n",
    );
    let (code, output) = run(&["run", &file]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("nocard.yaml:1:1: missing field `card`"),
        "{output}"
    );
}

#[test]
fn a_synthetic_registry_beyond_national_scale_is_refused() {
    for persons in ["18446744073709551615", "4294967296", "130000001"] {
        let (code, output) = run(&[
            "oqs",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--synthetic",
            persons,
        ]);
        assert_eq!(code, Some(2), "{persons}: {output}");
        assert!(output.contains("--synthetic"), "{persons}: {output}");
        assert!(output.contains("130000000"), "{persons}: {output}");
        assert!(!output.contains("panicked"), "{persons}: {output}");
    }
}

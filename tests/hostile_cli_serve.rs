//! `card serve` obeys its signals against a hostile or stalled vpcd: SIGTERM stops it within a
//! second even while vpcd does not read, and `kill -USR1; kill -USR2` back to back is applied
//! in that order (remove, then insert) every time. A fake vpcd (a TCP listener) plays the peer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn standard_card() -> String {
    format!(
        "{}/fixtures/cards/standard.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn serve(vpcd: &TcpListener) -> Child {
    Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["card", "serve", "--no-latency", "--card", &standard_card()])
        .args(["--vpcd", &vpcd.local_addr().unwrap().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The next connection of the card, or `None` when none comes within `timeout`.
fn accept_within(vpcd: &TcpListener, timeout: Duration) -> Option<TcpStream> {
    vpcd.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        match vpcd.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return Some(stream);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("{error}"),
        }
    }
}

fn signal(child: &Child, script: &str) {
    let status = Command::new("bash")
        .args(["-c", &script.replace("PID", &child.id().to_string())])
        .status()
        .unwrap();
    assert!(status.success());
}

fn exit_within(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Gives the served card time to install its signal handlers (it connects after that).
fn connected(child: &Child, vpcd: &TcpListener) -> TcpStream {
    let link = accept_within(vpcd, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("card serve (pid {}) never connected", child.id()));
    std::thread::sleep(Duration::from_millis(200));
    link
}

#[test]
fn sigterm_stops_within_a_second_while_vpcd_does_not_read() {
    let vpcd = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = serve(&vpcd);
    let mut link = connected(&child, &vpcd);
    link.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let frame = |payload: &[u8]| {
        let mut frame = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        frame
    };
    // Power on, select the JPKI AP and its auth certificate, then READ BINARY (256 bytes of
    // answer for 7 bytes sent) without ever reading the answers.
    let mut setup = frame(&[0x01]);
    setup.extend(frame(&[
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
    ]));
    setup.extend(frame(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]));
    link.write_all(&setup).unwrap();
    let reads = frame(&[0x00, 0xB0, 0x00, 0x00, 0x00]).repeat(1024);
    // The card is stuck in a write once our writes block and stay blocked after it had a
    // second to drain them.
    loop {
        while link.write_all(&reads).is_ok() {}
        std::thread::sleep(Duration::from_secs(1));
        if link.write(&reads).is_err() {
            break;
        }
    }
    signal(&child, "kill -TERM PID");
    let status = exit_within(&mut child, Duration::from_secs(1));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(status.is_some_and(|status| status.success()), "{status:?}");
}

#[test]
fn remove_then_insert_sent_back_to_back_is_applied_in_order_every_time() {
    let vpcd = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = serve(&vpcd);
    let mut link = connected(&child, &vpcd);
    for trial in 0..20 {
        signal(&child, "kill -USR1 PID; kill -USR2 PID");
        // The removal closes the link ...
        link.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        let closed = link.read_to_end(&mut rest);
        assert!(closed.is_ok(), "trial {trial}: the card was not removed");
        // ... and the insertion that followed connects again.
        link = accept_within(&vpcd, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("trial {trial}: the card was left removed"));
    }
    signal(&child, "kill -TERM PID");
    assert!(exit_within(&mut child, Duration::from_secs(5)).is_some());
}

#[test]
fn resync_idle_is_bounded() {
    for value in ["0", "1001", "18446744073709551615"] {
        let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["card", "serve", "--card", &standard_card()])
            .args(["--serial", "/dev/null", "--resync-idle-ms", value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {stderr}");
        assert!(stderr.contains("--resync-idle-ms"), "{value}: {stderr}");
        assert!(stderr.contains("1..=1000"), "{value}: {stderr}");
    }
}

/// `--phone` with a file that cannot be built stops before anything is served: no card
/// connects to vpcd's first slot, none to its second, and the message names the file.
#[test]
fn a_bad_phone_file_serves_nothing_and_names_the_file() {
    let (card_slot, phone_slot) = loop {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if let Ok(second) = TcpListener::bind(("127.0.0.1", port + 1)) {
            break (first, second);
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let phone = dir.path().join("phone.yaml");
    std::fs::write(&phone, "person: {}\ncard: { profile: smartphone }\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["card", "serve", "--no-latency", "--card", &standard_card()])
        .args(["--vpcd", &card_slot.local_addr().unwrap().to_string()])
        .arg("--phone")
        .arg(&phone)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("phone.yaml"), "{stderr}");
    assert!(accept_within(&card_slot, Duration::from_millis(200)).is_none());
    assert!(accept_within(&phone_slot, Duration::from_millis(200)).is_none());

    // The phone goes to vpcd's next slot, which a listening or serial card does not have.
    for other in [["--listen", "127.0.0.1:0"], ["--serial", "/dev/null"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["card", "serve", "--card", &standard_card()])
            .args(other)
            .arg("--phone")
            .arg(&phone)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--phone") && stderr.contains(other[0]),
            "{stderr}"
        );
    }
}

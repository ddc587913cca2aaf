//! OpenSC's jpki driver against our card, through the real pcscd + vpcd.
//!
//! Needs the Debian packages pcscd, vsmartcard-vpcd, opensc (opensc-pkcs11) and openssl; the
//! tests start pcscd themselves when it is not running, and run one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;
use der::{DecodePem, Encode};
use myna_hil::trace::{read_trace, TraceEvent};
use x509_cert::Certificate;

fn pem_to_der(pem: &str) -> Vec<u8> {
    Certificate::from_pem(pem.as_bytes())
        .expect("a PEM certificate")
        .to_der()
        .expect("DER")
}

#[test]
fn opensc_names_the_card_and_lists_its_pkcs15_objects() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());

    let (ok, stdout, stderr) = run("opensc-tool", &["-r", VPCD_READER, "-n"]);
    assert!(ok, "opensc-tool -n failed: {stderr}");
    assert_eq!(stdout.trim(), "jpki", "OpenSC binds its jpki driver");

    let (ok, dump, stderr) = run("pkcs15-tool", &["-r", VPCD_READER, "-D"]);
    assert!(ok, "pkcs15-tool -D failed: {stderr}");
    let count = |prefix: &str| dump.lines().filter(|line| line.starts_with(prefix)).count();
    assert_eq!(count("X.509 Certificate ["), 4, "{dump}");
    assert_eq!(count("PIN ["), 2, "{dump}");
    assert_eq!(count("Private RSA Key ["), 2, "{dump}");
    for label in [
        "PIN [User Authentication PIN]",
        "PIN [Digital Signature PIN]",
        "Private RSA Key [User Authentication Key]",
        "Private RSA Key [Digital Signature Key]",
        "X.509 Certificate [User Authentication Certificate]",
        "X.509 Certificate [Digital Signature Certificate]",
        "X.509 Certificate [User Authentication Certificate CA]",
        "X.509 Certificate [Digital Signature Certificate CA]",
    ] {
        assert!(dump.contains(label), "missing {label} in\n{dump}");
    }
    server.stop().unwrap();
}

#[test]
fn pkcs15_tool_reads_exactly_the_fixture_certificates() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let fixture = load_card(&standard_card_path());
    let expected_auth = fixture.auth_certificate_der().to_vec();
    let pki = myna_hil::pki::TestPki::load().unwrap();
    let expected_auth_ca = pki
        .ca_certificate_der(myna_hil::pki::CertificateKind::Authentication)
        .to_vec();
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());

    let (ok, pem, stderr) = run(
        "pkcs15-tool",
        &["-r", VPCD_READER, "--read-certificate", "01"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        pem_to_der(&pem),
        expected_auth,
        "the authentication certificate OpenSC read differs from the fixture"
    );
    let (ok, pem, stderr) = run(
        "pkcs15-tool",
        &["-r", VPCD_READER, "--read-certificate", "03"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        pem_to_der(&pem),
        expected_auth_ca,
        "the CA certificate OpenSC read differs from the test PKI's"
    );
    server.stop().unwrap();
}

#[test]
fn pkcs11_tool_logs_in_and_signs_and_openssl_verifies_the_signature() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    require_program(OPENSC_PKCS11, "opensc-pkcs11");
    require_program("openssl", "openssl");
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("data"), "受付 2025-01-01 本人確認").unwrap();

    let (ok, stdout, stderr) = run(
        "pkcs11-tool",
        &[
            "--module",
            OPENSC_PKCS11,
            "--slot-index",
            "0",
            "--login",
            "--pin",
            "1234",
            "--sign",
            "--mechanism",
            "SHA256-RSA-PKCS",
            "--id",
            "01",
            "-i",
            &path("data"),
            "-o",
            &path("signature"),
        ],
    );
    assert!(ok, "pkcs11-tool sign failed:\n{stdout}\n{stderr}");
    assert_eq!(std::fs::read(path("signature")).unwrap().len(), 256);

    let (ok, _, stderr) = run(
        "pkcs15-tool",
        &[
            "-r",
            VPCD_READER,
            "--read-certificate",
            "01",
            "-o",
            &path("cert.pem"),
        ],
    );
    assert!(ok, "{stderr}");
    let (ok, public_key, stderr) = run(
        "openssl",
        &["x509", "-in", &path("cert.pem"), "-pubkey", "-noout"],
    );
    assert!(ok, "{stderr}");
    std::fs::write(path("key.pem"), public_key).unwrap();
    let (ok, stdout, stderr) = run(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            &path("key.pem"),
            "-signature",
            &path("signature"),
            &path("data"),
        ],
    );
    assert!(
        ok && stdout.contains("Verified OK"),
        "the signature does not verify:\n{stdout}\n{stderr}"
    );

    let card = server.stop().unwrap();
    assert_eq!(
        card.pin_counters().auth.map(|pin| pin.tries_left),
        Some(3),
        "a correct login keeps all tries"
    );
}

#[test]
fn three_wrong_pins_lock_the_auth_pin_and_opensc_reports_it_blocked() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());

    for attempt in 1..=3 {
        let (ok, stdout, stderr) = run(
            "pkcs15-tool",
            &[
                "-r",
                VPCD_READER,
                "--verify-pin",
                "--auth-id",
                "01",
                "--pin",
                "0000",
            ],
        );
        assert!(!ok, "wrong PIN #{attempt} was accepted");
        assert!(
            format!("{stdout}{stderr}").contains("PIN code or key incorrect"),
            "attempt {attempt}: {stdout}{stderr}"
        );
    }
    assert_eq!(
        server
            .handle()
            .with_card(|card| card.pin_counters().auth.map(|pin| pin.tries_left)),
        Some(0)
    );

    let (ok, dump, stderr) = run("pkcs15-tool", &["-r", VPCD_READER, "--list-pins"]);
    assert!(ok, "{stderr}");
    let auth_pin = dump
        .split("PIN [")
        .find(|block| block.starts_with("User Authentication PIN]"))
        .expect("auth PIN listed");
    assert!(auth_pin.contains("Tries left     : 0"), "{auth_pin}");

    let (_, slots, stderr) = run("pkcs11-tool", &["--module", OPENSC_PKCS11, "-L"]);
    let auth_slot = slots
        .split("Slot ")
        .find(|slot| slot.contains("(User Authentication PIN)"))
        .unwrap_or_else(|| panic!("{slots}{stderr}"));
    assert!(
        auth_slot.contains("user PIN locked"),
        "OpenSC does not report the auth PIN blocked:\n{auth_slot}"
    );

    // Even the right PIN is refused now, and it costs nothing.
    let (ok, _, _) = run(
        "pkcs15-tool",
        &[
            "-r",
            VPCD_READER,
            "--verify-pin",
            "--auth-id",
            "01",
            "--pin",
            "1234",
        ],
    );
    assert!(!ok, "a blocked PIN accepted the right value");
    let card = server.stop().unwrap();
    assert_eq!(card.pin_counters().auth.map(|pin| pin.tries_left), Some(0));
    assert_eq!(
        card.pin_counters().signing.map(|pin| pin.tries_left),
        Some(5),
        "the signing password is untouched"
    );
}

/// The command line as a user runs it: served through vpcd, removed and re-inserted with
/// signals, stopped with SIGTERM, with a transcript whose PINs are redacted.
#[test]
fn card_serve_command_follows_signals_and_records_a_redacted_transcript() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("serve.jsonl");
    wait_until("the vpcd slot to be empty", Duration::from_secs(10), || {
        !opensc_sees_card(VPCD_READER)
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["card", "serve", "--no-latency", "--card"])
        .arg(standard_card_path())
        .arg("--record")
        .arg(&trace)
        .stdin(Stdio::null())
        .spawn()
        .expect("starting myna-hil card serve");
    let pid = child.id().to_string();
    let signal = |name: &str| {
        assert!(Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap()
            .success())
    };

    wait_until(
        "pcscd to see the served card",
        Duration::from_secs(15),
        || opensc_sees_card(VPCD_READER),
    );
    let (ok, stdout, stderr) = run(
        "pkcs15-tool",
        &[
            "-r",
            VPCD_READER,
            "--verify-pin",
            "--auth-id",
            "01",
            "--pin",
            "1234",
        ],
    );
    assert!(ok, "{stdout}{stderr}");

    signal("-USR1");
    wait_until("the card to be removed", Duration::from_secs(10), || {
        !opensc_sees_card(VPCD_READER)
    });
    signal("-USR2");
    wait_until("the card to come back", Duration::from_secs(10), || {
        opensc_sees_card(VPCD_READER)
    });
    let (ok, stdout, _) = run("opensc-tool", &["-r", VPCD_READER, "-n"]);
    assert!(ok && stdout.trim() == "jpki");

    signal("-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "card serve exited with {status}");

    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        !text.contains("31323334"),
        "the PIN 1234 leaked into the transcript"
    );
    let events: Vec<TraceEvent> = read_trace(&trace)
        .unwrap()
        .into_iter()
        .map(|line| line.event)
        .collect();
    let verify = events.iter().find_map(|event| match event {
        TraceEvent::Apdu {
            command,
            response,
            redacted: true,
            ..
        } if command.starts_with("00200081") || command.starts_with("00200080") => {
            Some((command.clone(), response.clone()))
        }
        _ => None,
    });
    assert_eq!(
        verify,
        Some(("0020008004XXXXXXXX".to_string(), "9000".to_string()))
    );
    assert!(events.contains(&TraceEvent::Removed));
    assert_eq!(
        events
            .iter()
            .filter(|event| **event == TraceEvent::Inserted)
            .count(),
        2
    );
    assert_eq!(events.last(), Some(&TraceEvent::Stop));
    // The start line names the card by its absolute path, so `replay TRACE` alone finds it
    // and replays the session (the PIN VERIFY with the card's own PIN) without divergence.
    match events.first() {
        Some(TraceEvent::Start {
            card: Some(card), ..
        }) => assert_eq!(
            Path::new(card),
            std::fs::canonicalize(standard_card_path()).unwrap()
        ),
        other => panic!("the start line names no card: {other:?}"),
    }
    let replay = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .arg("replay")
        .arg(&trace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(replay.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(", 0 divergences"), "{stdout}");
}

/// `card serve --listen`: the card waits; a pcscd of its own, whose vpcd reader.conf names the
/// card's address, connects out to it, and OpenSC reads the four JPKI certificates through it.
#[test]
fn opensc_reads_the_four_certificates_from_a_card_that_waits_for_vpcd() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("listen.jsonl");
    let port = free_port_pair();
    let address = format!("127.0.0.1:{port}");
    // The lock first: the process waits for pcscd from the moment it listens.
    let lock = lock_pcscd();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args([
                "card",
                "serve",
                "--no-latency",
                "--listen",
                &address,
                "--card",
            ])
            .arg(standard_card_path())
            .arg("--record")
            .arg(&trace)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting myna-hil card serve --listen"),
    );
    wait_until(
        "the card and its placeholder to listen",
        Duration::from_secs(30),
        || tcp_port_listening(port) && tcp_port_listening(port + 1),
    );
    let Some(mut pcscd) = Pcscd::connecting_out_with(lock, address.parse().unwrap()) else {
        return;
    };

    let (ok, stdout, stderr) = run("opensc-tool", &["-r", VPCD_READER, "-n"]);
    assert!(ok && stdout.trim() == "jpki", "{stdout}{stderr}");
    let (ok, dump, stderr) = run("pkcs15-tool", &["-r", VPCD_READER, "-D"]);
    assert!(ok, "{stderr}");
    let listed = dump
        .lines()
        .filter(|line| line.starts_with("X.509 Certificate ["))
        .count();
    assert_eq!(listed, 4, "{dump}");
    // Issued as `card serve` issues them: relative dates counted from today in Japan.
    let today_in_japan = (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive();
    let description = myna_hil::card::CardDescription::from_yaml_file(&standard_card_path())
        .unwrap()
        .on_day(today_in_japan);
    let pki = myna_hil::pki::TestPki::load().unwrap();
    let fixture = myna_hil::card::Card::from_description(
        &description,
        myna_hil::pki::TestPki::load().unwrap(),
    )
    .unwrap();
    let public = [
        ("01", fixture.auth_certificate_der().to_vec()),
        (
            "03",
            pki.ca_certificate_der(myna_hil::pki::CertificateKind::Authentication)
                .to_vec(),
        ),
        (
            "04",
            pki.ca_certificate_der(myna_hil::pki::CertificateKind::Signing)
                .to_vec(),
        ),
    ];
    for (id, der) in public {
        let (ok, pem, stderr) = run(
            "pkcs15-tool",
            &["-r", VPCD_READER, "--read-certificate", id],
        );
        assert!(ok, "certificate {id}: {stderr}");
        assert_eq!(
            pem_to_der(&pem),
            der,
            "certificate {id} differs from the fixture"
        );
    }
    // The signing certificate is behind the signing PIN: OpenSC's PKCS#11 module logs in to
    // the card's second token and reads it.
    let signing = dir.path().join("signing.der");
    let (ok, stdout, stderr) = run(
        "pkcs11-tool",
        &[
            "--module",
            OPENSC_PKCS11,
            "--slot-index",
            "1",
            "--login",
            "--pin",
            "ABC123",
            "--read-object",
            "--type",
            "cert",
            "--id",
            "02",
            "-o",
            signing.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        std::fs::read(&signing).unwrap(),
        fixture.signing_certificate_der().unwrap(),
        "the signing certificate differs from the fixture"
    );
    assert!(pcscd.alive(), "pcscd kept running with both slots answered");

    // pcscd goes first: Debian's vpcd makes it abort when the card's link closes under it.
    drop(pcscd);
    assert!(Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "card serve --listen exited with {status}");
    let events: Vec<TraceEvent> = read_trace(&trace)
        .unwrap()
        .into_iter()
        .map(|line| line.event)
        .collect();
    let peers: Vec<&String> = events
        .iter()
        .filter_map(|event| match event {
            TraceEvent::LinkUp { peer } => Some(peer),
            _ => None,
        })
        .collect();
    assert_eq!(peers.len(), 1, "one link for pcscd's lifetime: {peers:?}");
    assert!(peers[0].starts_with("127.0.0.1:"), "{peers:?}");
}

/// Nothing listens on a non-loopback address without `--allow-remote`.
#[test]
fn card_serve_listens_on_loopback_only_unless_allowed() {
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["card", "serve", "--listen", "0.0.0.0:0", "--card"])
        .arg(standard_card_path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
}

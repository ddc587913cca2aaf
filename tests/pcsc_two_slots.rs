//! The clinic's two readers through the real stack: the card in vpcd's first slot (the face
//! reader, `Virtual PCD 00 00`) and a phone token in its second (the generic contactless
//! reader, `Virtual PCD 00 01`, docs/spec/smartphone.md §7), served by one
//! `myna-hil card serve --phone` as a user runs it, and read by OpenSC through pcscd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;
use der::{DecodePem, Encode};
use x509_cert::Certificate;

/// vpcd's second slot: the generic reader the phone is held over.
const PHONE_READER: &str = "Virtual PCD 00 01";
const CARD_FILE: &str = "fixtures/cards/standard.yaml";
const ANDROID_FILE: &str = "fixtures/cards/standard_phone_android.yaml";
const IPHONE_FILE: &str = "fixtures/cards/standard_phone_iphone.yaml";
/// The token labels of EF0006 as measured (docs/spec/card-measured.md §8.2).
const CARD_LABEL: &str = "JPKIAPICCTOKEN2";
const ANDROID_LABEL: &str = "JPKIAPGPSETOKEN";
const IPHONE_LABEL: &str = "JPKIAPIOSTOKEN";

/// `card serve --card CARD --phone PHONE`, the documented command line, until dropped.
struct CardAndPhone {
    child: KillOnDrop,
}

impl CardAndPhone {
    fn serve(phone: &str) -> CardAndPhone {
        for reader in [VPCD_READER, PHONE_READER] {
            wait_until(
                "both vpcd slots to be empty",
                Duration::from_secs(10),
                || !opensc_sees_card(reader),
            );
        }
        let child = KillOnDrop(
            myna_hil()
                .args(["card", "serve", "--no-latency", "--card", CARD_FILE])
                .args(["--phone", phone])
                .stdin(Stdio::null())
                .spawn()
                .expect("starting myna-hil card serve --phone"),
        );
        for reader in [VPCD_READER, PHONE_READER] {
            wait_until(
                "pcscd to see the card and the phone",
                Duration::from_secs(15),
                || opensc_sees_card(reader),
            );
        }
        CardAndPhone { child }
    }

    /// SIGTERM: both leave their slots and the process ends cleanly.
    fn stop(mut self) {
        assert!(Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = self.child.0.wait().unwrap();
        assert!(status.success(), "card serve --phone exited with {status}");
        for reader in [VPCD_READER, PHONE_READER] {
            wait_until("both slots to empty", Duration::from_secs(10), || {
                !opensc_sees_card(reader)
            });
        }
    }
}

fn checkout(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(file)
}

/// The 利用者証明用 certificate of a card file as `card serve` issues it today (relative dates
/// count from today in Japan).
fn served_auth_certificate(file: &str) -> Vec<u8> {
    let today_in_japan = (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive();
    let description = myna_hil::card::CardDescription::from_yaml_file(&checkout(file))
        .unwrap()
        .on_day(today_in_japan);
    myna_hil::card::Card::from_description(&description, myna_hil::pki::TestPki::load().unwrap())
        .unwrap()
        .auth_certificate_der()
        .to_vec()
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    Certificate::from_pem(pem.as_bytes())
        .expect("a PEM certificate")
        .to_der()
        .expect("DER")
}

/// The first 32 bytes of the JPKI AP's EF0006 (the token label) read with raw APDUs through
/// pcscd, trimmed of its space padding.
fn token_label(reader: &str) -> String {
    let (ok, stdout, stderr) = run(
        "opensc-tool",
        &[
            "-r",
            reader,
            "-s",
            "00A4040C0AD392F000260100000001",
            "-s",
            "00A4020C020006",
            "-s",
            "00B0000020",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    // opensc-tool prints the data after the last "Received (…):" as hex-dump lines of up to
    // 16 bytes followed by their ASCII.
    let (_, data) = stdout
        .rsplit_once("Received (SW1=0x90, SW2=0x00):")
        .unwrap_or_else(|| panic!("EF0006 not read:\n{stdout}"));
    let bytes: Vec<u8> = data
        .lines()
        .flat_map(|line| {
            line.split_whitespace()
                .take_while(|word| word.len() == 2)
                .map_while(|word| u8::from_str_radix(word, 16).ok())
                .take(16)
                .collect::<Vec<u8>>()
        })
        .collect();
    assert_eq!(bytes.len(), 32, "{stdout}");
    String::from_utf8(bytes).unwrap().trim_end().to_owned()
}

/// `pkcs15-tool -r READER [--verify-pin --auth-id 01 --pin PIN] --read-certificate 01`.
fn read_auth_certificate(reader: &str, pin: Option<&str>) -> (bool, String, String) {
    let mut args = vec!["-r", reader];
    if let Some(pin) = pin {
        args.extend(["--verify-pin", "--auth-id", "01", "--pin", pin]);
    }
    args.extend(["--read-certificate", "01"]);
    run("pkcs15-tool", &args)
}

#[test]
fn opensc_reads_the_card_in_slot_00_00_and_the_android_phone_in_slot_00_01() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    require_program("openssl", "openssl");
    let served = CardAndPhone::serve(ANDROID_FILE);

    // Terminal software sees two readers, each with a JPKI token.
    let (ok, slots, stderr) = run("pkcs11-tool", &["--module", OPENSC_PKCS11, "-L"]);
    assert!(ok, "{stderr}");
    for reader in [VPCD_READER, PHONE_READER] {
        assert!(
            slots.split("Slot ").any(
                |slot| slot.contains(reader) && slot.contains("JPKI (User Authentication PIN)")
            ),
            "no JPKI token in {reader}:\n{slots}"
        );
    }

    // The card's certificate is free to read (docs/spec/card-measured.md §8.1).
    let (ok, pem, stderr) = read_auth_certificate(VPCD_READER, None);
    assert!(ok, "{stderr}");
    let card_certificate = pem_to_der(&pem);
    assert_eq!(card_certificate, served_auth_certificate(CARD_FILE));

    // The phone's is behind its PIN (docs/spec/card-apdu.md, EF 000A of a smartphone token).
    let (ok, _, _) = read_auth_certificate(PHONE_READER, None);
    assert!(!ok, "OpenSC read the phone's certificate without its PIN");
    let (ok, pem, stderr) = read_auth_certificate(PHONE_READER, Some("2580"));
    assert!(ok, "{stderr}");
    let phone_certificate = pem_to_der(&pem);
    assert_eq!(phone_certificate, served_auth_certificate(ANDROID_FILE));
    assert_ne!(phone_certificate, card_certificate);

    // A certificate of its own from our test CA: own serial, chains to the CA.
    let dir = tempfile::tempdir().unwrap();
    let phone_pem = dir.path().join("phone.pem");
    std::fs::write(&phone_pem, &pem).unwrap();
    let ca = checkout("fixtures/pki/authentication-ca.cert.pem");
    let (ok, stdout, stderr) = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            phone_pem.to_str().unwrap(),
        ],
    );
    assert!(ok && stdout.contains(": OK"), "{stdout}{stderr}");
    let serial = |der: &[u8]| {
        use der::Decode;
        Certificate::from_der(der)
            .unwrap()
            .tbs_certificate
            .serial_number
    };
    assert_ne!(serial(&phone_certificate), serial(&card_certificate));

    // The token label tells the phone from the card, as measured.
    assert_eq!(token_label(PHONE_READER), ANDROID_LABEL);
    assert_eq!(token_label(VPCD_READER), CARD_LABEL);
    served.stop();
}

#[test]
fn the_iphone_in_slot_00_01_carries_its_own_label_and_certificate() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let served = CardAndPhone::serve(IPHONE_FILE);
    assert_eq!(token_label(PHONE_READER), IPHONE_LABEL);
    assert_eq!(token_label(VPCD_READER), CARD_LABEL);
    let (ok, pem, stderr) = read_auth_certificate(PHONE_READER, Some("1357"));
    assert!(ok, "{stderr}");
    let iphone_certificate = pem_to_der(&pem);
    assert_eq!(iphone_certificate, served_auth_certificate(IPHONE_FILE));
    assert_ne!(iphone_certificate, served_auth_certificate(ANDROID_FILE));
    assert_ne!(iphone_certificate, served_auth_certificate(CARD_FILE));
    served.stop();
}

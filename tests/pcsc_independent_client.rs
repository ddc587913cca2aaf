//! A client that shares no code with myna-hil reads the card through the real pcscd + vpcd:
//! the 券面事項入力補助AP with secure messaging and the 券面事項確認AP card face
//! and the MF-level and 共通AP data (tests/clients/read_text_and_surface.py, written from
//! docs/spec/card-measured.md alone, with pyscard and python3-cryptography doing the OAEP, AES and RSA
//! itself).
//!
//! Needs the Debian packages pcscd, vsmartcard-vpcd, opensc, python3-pyscard and
//! python3-cryptography; the test starts pcscd itself when it is not running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;

use crate::support::*;

const PYTHON: &str = "/usr/bin/python3";

fn require_python_modules() {
    require_program(PYTHON, "python3");
    let (ok, _, stderr) = run(PYTHON, &["-c", "import smartcard, cryptography"]);
    assert!(
        ok,
        "the independent client needs pyscard and cryptography: apt-get install python3-pyscard python3-cryptography ({stderr})"
    );
}

#[test]
fn an_independent_client_reads_the_text_ap_with_secure_messaging_and_the_card_face() {
    require_python_modules();
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let card = load_card(&standard_card_path());
    let collation_b = card.collation_number_b().to_string();
    let server = serve_to_pcscd(card, test_options());

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/read_text_and_surface.py");
    let (ok, stdout, stderr) = run(
        PYTHON,
        &[script.to_str().unwrap(), VPCD_READER, "1234", &collation_b],
    );
    server.stop().unwrap();
    assert!(ok, "the independent client failed: {stderr}\n{stdout}");
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON on stdout");
    // Expected values come from fixtures/cards/standard.yaml, not from the card.
    let mf = &result["mf"];
    assert_eq!(mf["municipality"], "13101");
    assert_eq!(
        mf["short_le_status"], "6700",
        "a big object with a short Le"
    );
    assert_eq!(mf["cv_object_length"], 575);
    let card_info = mf["card_info"].as_str().unwrap();
    assert_eq!(
        &card_info[..20],
        "40012345678901813101",
        "serial ‖ municipality"
    );
    assert_eq!(card_info.len(), 28);
    let text = &result["text"];
    assert_eq!(text["my_number"], "123456789018");
    assert_eq!(text["name"], "試験\u{3000}太郎");
    assert_eq!(text["address"], "東京都千代田区霞が関一丁目1番1号");
    assert_eq!(text["birth_date"], "19800510");
    assert_eq!(text["sex"], "1");
    assert_eq!(text["sm_commands"], 6);
    let surface = &result["surface"];
    assert_eq!(surface["birth_date"], "19800510");
    assert_eq!(surface["sex"], "1");
    assert_eq!(surface["photo_is_jp2"], true);
    assert_eq!(surface["name_image_is_png"], true);
    assert_eq!(surface["face_signature"], "verified");
    assert_eq!(surface["challenge_signature"], "verified");
}

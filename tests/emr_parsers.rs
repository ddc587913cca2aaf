//! Our result and face files read by an independent parser (Python's standard library, the way
//! public EMR code reads them: tests/emr/read_result.py), checked against values taken from the
//! registry fixture and docs/spec/oqs-xml.md, not from our writer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use myna_hil::oqs::codes::CharacterCode;
use myna_hil::oqs::files::FileInterface;
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{Oqs, OqsConfig};
use serde_json::Value;

use crate::support::oqs::{lookup_request, Query, REGISTRY};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/emr/read_result.py");

fn read_with_python(path: &Path) -> Value {
    let python = crate::support::require_program("python3", "python3");
    let output = std::process::Command::new(python)
        .arg(SCRIPT)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn interface(charset: CharacterCode) -> (tempfile::TempDir, FileInterface) {
    let registry = Registry::load(REGISTRY.as_ref()).unwrap();
    let oqs = Arc::new(Oqs::new(registry, OqsConfig::default()).unwrap());
    let folder = tempfile::tempdir().unwrap();
    let files = FileInterface::new(folder.path(), oqs)
        .unwrap()
        .with_settle(Duration::from_millis(1))
        .with_charset(charset);
    (folder, files)
}

fn answer(files: &FileInterface, folder: &Path, name: &str, request: &str) -> Value {
    std::fs::write(
        folder.join("req").join(format!("OQSsiquc01req_{name}.xml")),
        request,
    )
    .unwrap();
    assert_eq!(files.drain().unwrap().len(), 1);
    read_with_python(&folder.join("res").join(format!("OQSsiquc01res_{name}.xml")))
}

#[test]
fn emr_parsers_read_our_results_in_both_encodings() {
    for charset in [CharacterCode::Utf8, CharacterCode::ShiftJis] {
        let (folder, files) = interface(charset);
        // 市町村国保 (6-digit insurer 138016), asked zero-padded, identifier with a space.
        let kokuho = answer(
            &files,
            folder.path(),
            "1",
            &lookup_request(
                "20250602",
                Some("clinic 11906"),
                &Query {
                    insurer: "00138016",
                    symbol: Some("1"),
                    number: "60001",
                    branch: None,
                    birthdate: "19840707",
                },
            ),
        );
        let expected_encoding = match charset {
            CharacterCode::Utf8 => ("UTF-8", "0"),
            CharacterCode::ShiftJis => ("Shift_JIS", "1"),
        };
        assert_eq!(kokuho["encoding"], expected_encoding.0);
        assert_eq!(kokuho["character_code"], expected_encoding.1);
        assert_eq!(kokuho["valid"], true, "{kokuho}");
        assert_eq!(kokuho["reference"], "2");
        assert_eq!(kokuho["insurer"], "138016");
        assert_eq!(kokuho["insurer_raw"], "  138016", "space-padded to 8 (§40)");
        assert_eq!(kokuho["echo_insurer"], "00138016");
        assert_eq!(kokuho["afi"], "clinic 11906");
        assert_eq!(kokuho["afi_raw"], "clinic 11906");
        assert_eq!(kokuho["name"], "国保\u{3000}一子");
        assert_eq!(kokuho["kana"], "ｺｸﾎ ｲﾁｺ");
        assert_eq!(kokuho["ratio"], Value::Null, "under 70: no ratio element");
        assert_eq!(kokuho["valid_date"], "20200401");
        assert_eq!(kokuho["echo_missing"], serde_json::json!([]), "{kokuho}");

        // taro's 限度額 A03 (fixtures/registry/clinic.yaml), statutory on this day: the result
        // itself carries the flag and its time (docs/spec/oqs-xml.md §4.3, §37).
        let limit = answer(
            &files,
            folder.path(),
            "3",
            &lookup_request(
                "20250602",
                None,
                &Query {
                    insurer: "01130012",
                    symbol: Some("12345678"),
                    number: "1234",
                    branch: Some("01"),
                    birthdate: "19800510",
                },
            ),
        );
        assert_eq!(limit["valid"], true, "{limit}");
        assert_eq!(limit["limit_class"], "A03");
        assert_eq!(limit["limit_flag"], "1");
        assert_eq!(
            limit["limit_time"], "20250602000000",
            "the ProcessExecutionTime"
        );
        assert_eq!(limit["echo_missing"], serde_json::json!([]), "{limit}");

        // 70–74, 現役並み: 3割 on the 高齢受給者証.
        let elderly = answer(
            &files,
            folder.path(),
            "2",
            &lookup_request(
                "20250602",
                None,
                &Query {
                    insurer: "01130012",
                    symbol: Some("12345678"),
                    number: "7202",
                    branch: Some("00"),
                    birthdate: "19520909",
                },
            ),
        );
        assert_eq!(elderly["valid"], true, "{elderly}");
        assert_eq!(elderly["ratio"], "030");
        assert_eq!(elderly["kana"], "ｹﾞﾝｴｷ ﾅﾐｵ");
    }
}

#[test]
fn emr_parsers_read_our_face_files() {
    let (folder, files) = interface(CharacterCode::ShiftJis);
    let registry = Registry::load(REGISTRY.as_ref()).unwrap();
    let oqs = Oqs::new(registry, OqsConfig::default()).unwrap();
    // A 後期高齢者 lookup answer stands in for a reception's answer: same layout (§48).
    let response = oqs.lookup_by_insurance_card(&myna_hil::oqs::message::InsuranceCardRequest {
        insurer_number: "39131015".into(),
        symbol: String::new(),
        number: "39000001".into(),
        branch: "00".into(),
        birth_date: "1949-05-10".parse().unwrap(),
        facility_code: "1312345678".into(),
        date: "2025-06-02".parse().unwrap(),
        time: Some("09:30:00".parse().unwrap()),
        arbitrary_file_identifier: None,
        character_code: CharacterCode::Utf8,
        limit_consent: true,
        echo: None,
    });
    let path = files.write_face(&response).unwrap().unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("OQSsiquc01res_face_1312345678") && name.ends_with("_20250602093000.xml"),
        "{name}"
    );
    let face = read_with_python(&path);
    assert_eq!(face["encoding"], "Shift_JIS");
    assert_eq!(face["character_code"], "1");
    assert_eq!(face["valid"], true, "{face}");
    assert_eq!(face["ratio"], "020", "後期高齢者 一般Ⅱ");
    assert_eq!(face["kana"], "ﾁｮｳｼﾞｭ ｳﾒ");
    let afi = face["afi"].as_str().unwrap();
    assert!(afi.len() == 16 && afi.ends_with('='), "{afi}");
    let _ = folder;
}

//! `myna-hil oqs serve` as a real process on a real socket and real folders: a check with a
//! certificate and signature produced by the emulated card, over HTTP and through the XML file
//! interface, plus every kind of bad input (the server must answer 4xx and keep serving).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::Path;
use std::process::Command;

use myna_hil::card::{Card, CardDescription};
use myna_hil::pki::TestPki;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::oqs::{lookup_request, wait_for_file, OqsServer as Server, Query};

const CARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/standard.yaml");
const SHA256_DIGEST_INFO_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const JPKI_AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];

trait Client {
    fn post(&self, path: &str, body: &Value) -> (u16, Value);
    fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (u16, Value);
    fn challenge(&self) -> Vec<u8>;
    fn assert_alive(&self);
}

impl Client for Server {
    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, "application/json", &body.to_string())
    }

    fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let result = ureq::post(&self.url(path))
            .set("Content-Type", content_type)
            .send_string(body);
        match result {
            Ok(response) => (response.status(), response.into_json().unwrap()),
            Err(ureq::Error::Status(code, response)) => (code, response.into_json().unwrap()),
            Err(other) => panic!("transport error: {other}"),
        }
    }

    fn challenge(&self) -> Vec<u8> {
        let (status, body) = self.post("/v1/challenge", &json!({}));
        assert_eq!(status, 200);
        hex::decode(body["challenge"].as_str().unwrap()).unwrap()
    }

    fn assert_alive(&self) {
        let health: Value = ureq::get(&self.url("/v1/health"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        assert_eq!(health["status"], "ok");
    }
}

fn apdu(card: &mut Card, bytes: &[u8]) -> Vec<u8> {
    let reply = card.process(bytes).rapdu;
    let (data, status) = reply.split_at(reply.len() - 2);
    assert_eq!(
        status,
        [0x90, 0x00],
        "APDU {} answered {}",
        hex::encode(bytes),
        hex::encode(status)
    );
    data.to_vec()
}

/// The emulated card of fixtures/cards/standard.yaml, powered.
fn standard_card() -> Card {
    let description = CardDescription::from_yaml_file(Path::new(CARD)).unwrap();
    let mut card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
    card.power_on().unwrap();
    card
}

/// What a terminal does: VERIFY the auth PIN, then COMPUTE DIGITAL SIGNATURE with the auth key
/// over the DigestInfo of SHA-256(challenge).
fn card_signs(card: &mut Card, challenge: &[u8]) -> Vec<u8> {
    let mut select_jpki = vec![0x00, 0xA4, 0x04, 0x0C, 0x0A];
    select_jpki.extend_from_slice(&JPKI_AID);
    apdu(card, &select_jpki);
    apdu(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
    apdu(
        card,
        &[0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4'],
    );
    apdu(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17]);
    let digest_info = [
        SHA256_DIGEST_INFO_PREFIX,
        Sha256::digest(challenge).as_slice(),
    ]
    .concat();
    let mut sign = vec![0x80, 0x2A, 0x00, 0x80, digest_info.len() as u8];
    sign.extend_from_slice(&digest_info);
    sign.push(0x00);
    apdu(card, &sign)
}

fn check_body(card: &mut Card, challenge: &[u8], date: &str) -> Value {
    let signature = card_signs(card, challenge);
    json!({
        "challenge": hex::encode(challenge),
        "certificate": hex::encode(card.auth_certificate_der()),
        "signature": hex::encode(signature),
        "facility_code": "1312345678",
        "date": date,
        "consent": { "medication": true },
    })
}

fn drop_request(server: &Server, name: &str, bytes: &[u8]) {
    server.drop_request(name.as_bytes(), bytes);
}

#[test]
fn a_check_by_the_emulated_card_over_http_also_writes_the_face_result() {
    let server = Server::with_files(&[]);
    let mut card = standard_card();
    let challenge = server.challenge();
    let (status, answer) = server.post(
        "/v1/check",
        &check_body(&mut card, &challenge, "2025-04-01"),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "answered");
    assert_eq!(answer["MessageBody"]["QualificationValidity"], "1");
    let result = &answer["MessageBody"]["ResultList"][0];
    assert_eq!(result["Name"], "試験\u{3000}太郎");
    assert_eq!(result["InsurerNumber"], "01130012");
    assert_eq!(result["PharmacistsInfoConsFlg"], "1");
    assert_eq!(result["DiagnosisInfoConsFlg"], "0");

    let face = wait_for_file(&server.folder("face"), "OQSsiquc01res_face_");
    let name = face.file_name().unwrap().to_string_lossy().into_owned();
    // OQSsiquc01res_face_ + 医療機関コード + 20 lowercase hex + _ + yyyyMMddHHmmss (§46).
    let token = name
        .strip_prefix("OQSsiquc01res_face_1312345678")
        .and_then(|rest| rest.strip_suffix("_20250401000000.xml"))
        .unwrap_or_else(|| panic!("{name}"));
    assert_eq!(token.len(), 20, "{name}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{name}"
    );
    let xml = std::fs::read_to_string(&face).unwrap();
    assert!(
        xml.contains("<QualificationValidity>1</QualificationValidity>"),
        "{xml}"
    );
    let identifier = xml
        .split("<ArbitraryFileIdentifier>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap();
    assert!(
        identifier.len() == 16 && identifier.ends_with('='),
        "{identifier}"
    );

    // Replaying the same challenge is refused; the calls are on record.
    let (status, replay) = server.post(
        "/v1/check",
        &check_body(&mut card, &challenge, "2025-04-01"),
    );
    assert_eq!(status, 200);
    assert_eq!(replay["outcome"], "challenge_unknown");
    let calls: Value = ureq::get(&server.url("/v1/calls"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let outcomes: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["answered", "challenge_unknown"]);
}

#[test]
fn a_check_by_the_emulated_card_through_the_file_interface() {
    let server = Server::with_files(&["--charset", "shift_jis"]);
    let mut card = standard_card();
    let challenge = server.challenge();
    let signature = card_signs(&mut card, &challenge);
    let request = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20250401</QualificationConfirmationDate>
    <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>RECEPT-7</ArbitraryFileIdentifier>
    <ProcessExecutionTime>20250401101500</ProcessExecutionTime>
  </MessageHeader>
  <MessageBody>
    <CardCheckInfo>
      <Challenge>{}</Challenge>
      <Certificate>{}</Certificate>
      <Signature>{}</Signature>
      <PharmacistsInfoConsFlg>1</PharmacistsInfoConsFlg>
    </CardCheckInfo>
  </MessageBody>
</XmlMsg>
"#,
        hex::encode(&challenge),
        hex::encode(card.auth_certificate_der()),
        hex::encode(signature)
    );
    drop_request(
        &server,
        "OQSsiquc01req_20250401101500.xml",
        request.as_bytes(),
    );
    let answer = wait_for_file(&server.folder("res"), "OQSsiquc01res_20250401101500.xml");
    let bytes = std::fs::read(answer).unwrap();
    let (xml, _, errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!errors, "the answer is CP932 as --charset shift_jis asks");
    assert!(
        xml.contains("<CharacterCodeIdentifier>1</CharacterCodeIdentifier>"),
        "{xml}"
    );
    assert!(xml.contains("encoding=\"Shift_JIS\""), "{xml}");
    assert!(
        xml.contains("<QualificationValidity>1</QualificationValidity>"),
        "{xml}"
    );
    assert!(xml.contains("<Name>試験\u{3000}太郎</Name>"), "{xml}");
    assert!(
        xml.contains("<ArbitraryFileIdentifier>RECEPT-7</ArbitraryFileIdentifier>"),
        "{xml}"
    );
    assert!(
        xml.contains("<ProcessExecutionTime>20250401101500</ProcessExecutionTime>"),
        "{xml}"
    );
    assert!(server
        .folder("req/done/OQSsiquc01req_20250401101500.xml")
        .exists());
}

#[test]
fn an_insurance_card_lookup_through_the_file_interface() {
    let server = Server::with_files(&[]);
    let request = lookup_request(
        "20250406",
        None,
        &Query {
            insurer: "06139999",
            symbol: Some("7"),
            number: "5501",
            branch: Some("00"),
            birthdate: "19900820",
        },
    );
    drop_request(&server, "OQSsiquc01req_0002.xml", request.as_bytes());
    let xml = std::fs::read_to_string(wait_for_file(
        &server.folder("res"),
        "OQSsiquc01res_0002.xml",
    ))
    .unwrap();
    assert!(
        xml.contains("<ReferenceClassification>2</ReferenceClassification>"),
        "{xml}"
    );
    assert!(
        xml.contains("<QualificationValidity>3</QualificationValidity>"),
        "{xml}"
    );
    assert!(xml.contains("<ReasonOfLoss>03</ReasonOfLoss>"), "{xml}");
}

#[test]
fn a_malformed_request_file_is_moved_aside_with_an_error_file() {
    let server = Server::with_files(&[]);
    drop_request(
        &server,
        "OQSsiquc01req_bad.xml",
        b"<XmlMsg><MessageHeader><Oops>1</Oops></MessageHeader></XmlMsg>",
    );
    let error_file = wait_for_file(
        &server.folder("req/error"),
        "OQSsiquc01req_bad.xml.error.txt",
    );
    let message = std::fs::read_to_string(error_file).unwrap();
    assert!(
        message.contains("Oops") && message.contains("MedicalInstitutionCode"),
        "{message}"
    );
    assert!(
        server.folder("req/error/OQSsiquc01req_bad.xml").exists(),
        "the request is kept"
    );
    // The terminal's way (§1.6): the request reappears in res with `<base>.err` beside it.
    let err = wait_for_file(&server.folder("res"), "OQSsiquc01req_bad.err");
    assert_eq!(
        std::fs::read_to_string(err).unwrap(),
        format!("{}", message.trim_start_matches("OQSsiquc01req_bad.xml: "))
    );
    assert!(server.folder("res/OQSsiquc01req_bad.xml").exists());
    drop_request(
        &server,
        "OQSmuquc01req_bulk.xml",
        crate::support::oqs::request("20250406", Some("B"), "").as_bytes(),
    );
    let bulk = wait_for_file(
        &server.folder("req/error"),
        "OQSmuquc01req_bulk.xml.error.txt",
    );
    assert!(std::fs::read_to_string(bulk)
        .unwrap()
        .contains("QualificationConfirmSearchInfo"));
    server.assert_alive();
}

#[test]
fn bad_http_input_gets_a_clear_4xx_and_the_server_keeps_serving() {
    let server = Server::with_files(&[]);
    let mut card = standard_card();
    let challenge = server.challenge();
    let good = check_body(&mut card, &challenge, "2025-04-01");

    let (status, body) = server.post_raw("/v1/check", "application/json", "{\"challenge\": ");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("malformed_json")),
        "{body}"
    );

    let mut unknown = good.clone();
    unknown["surprise"] = json!(1);
    let (status, body) = server.post("/v1/check", &unknown);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_fields")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("surprise"),
        "{body}"
    );

    let (status, body) = server.post_raw("/v1/check", "text/plain", &good.to_string());
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("wrong_content_type")),
        "{body}"
    );

    let huge = json!({ "challenge": "00".repeat(40_000) });
    let (status, body) = server.post("/v1/check", &huge);
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("body_too_large")),
        "{body}"
    );

    let mut not_hex = good.clone();
    not_hex["certificate"] = json!("zz");
    let (status, body) = server.post("/v1/check", &not_hex);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_fields")),
        "{body}"
    );

    let mut garbage_certificate = good.clone();
    garbage_certificate["certificate"] = json!("3082deadbeef");
    let (status, body) = server.post("/v1/check", &garbage_certificate);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("DER"), "{body}");

    let mut garbage_signature = check_body(&mut card, &server.challenge(), "2025-04-01");
    garbage_signature["signature"] = json!("00ff");
    let (status, body) = server.post("/v1/check", &garbage_signature);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );

    let mut bad_facility = check_body(&mut card, &server.challenge(), "2025-04-01");
    bad_facility["facility_code"] = json!("13-1234567");
    let (status, body) = server.post("/v1/check", &bad_facility);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );

    let (status, body) = server.post("/v1/nothing-here", &json!({}));
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    match ureq::get(&server.url("/v1/check")).call() {
        Err(ureq::Error::Status(405, response)) => {
            let body: Value = response.into_json().unwrap();
            assert_eq!(body["error"], "method_not_allowed");
        }
        other => panic!("expected 405, got {other:?}"),
    }

    server.assert_alive();
    // After all that, a good request still works.
    let (status, body) = server.post("/v1/check", &good);
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("answered")),
        "{body}"
    );
}

#[test]
fn the_openapi_document_is_served_as_kept_in_the_repository() {
    let server = Server::with_files(&[]);
    let served = ureq::get(&server.url("/openapi.yaml"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let kept =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml")).unwrap();
    assert_eq!(served, kept);
    for path in [
        "/v1/challenge",
        "/v1/check",
        "/v1/register",
        "/v1/insurance-card",
        "/v1/calls",
    ] {
        assert!(kept.contains(&format!("  {path}:")), "{path} is documented");
    }
}

#[test]
fn an_insurance_card_lookup_over_http() {
    let server = Server::with_files(&[]);
    let request = json!({
        "insurer_number": "01130012",
        "symbol": "12345678",
        "number": "1234",
        "branch": "02",
        "birth_date": "2018-04-02",
        "facility_code": "1312345678",
        "date": "2025-03-31",
    });
    let (status, answer) = server.post("/v1/insurance-card", &request);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["MessageHeader"]["ReferenceClassification"], "2");
    assert_eq!(answer["MessageBody"]["QualificationValidity"], "1");
    assert_eq!(
        answer["MessageBody"]["ResultList"][0]["PreschoolClassification"],
        "1"
    );
    let mut bad = request.clone();
    bad["branch"] = json!("2");
    let (status, body) = server.post("/v1/insurance-card", &bad);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );
}

#[test]
fn a_bad_registry_file_stops_the_server_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.yaml");
    std::fs::write(
        &path,
        "insurers:\n  - number: \"01130012\"\n    name: x\n    lag: 3\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["oqs", "serve", "--listen", "127.0.0.1:0", "--registry"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:4:", path.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("lag") && stderr.contains("registration_lag_days"),
        "{stderr}"
    );
}

fn calls_of_kind(server: &Server, kind: &str) -> Vec<(Value, Value)> {
    let calls: Value = ureq::get(&server.url("/v1/calls"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| (c["identity"].clone(), c["outcome"].clone()))
        .collect()
}

#[test]
fn the_identity_method_over_http_face_needs_no_signature_pin_does() {
    let server = Server::with_files(&[]);
    let mut card = standard_card();
    let certificate = hex::encode(card.auth_certificate_der());

    let face = json!({
        "identity": "face",
        "certificate": certificate,
        "facility_code": "1312345678",
        "date": "2025-04-01",
    });
    let (status, answer) = server.post("/v1/check", &face);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "answered");
    assert_eq!(answer["MessageBody"]["QualificationValidity"], "1");
    assert_eq!(
        answer["MessageBody"]["ResultList"][0]["Name"],
        "試験\u{3000}太郎"
    );

    let mut unsigned_pin = face.clone();
    unsigned_pin["identity"] = json!("pin");
    let (status, body) = server.post("/v1/check", &unsigned_pin);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("signature"),
        "{body}"
    );

    // 目視 with a signature over another challenge: the signature is still verified.
    let signed_challenge = server.challenge();
    let signature = card_signs(&mut card, &signed_challenge);
    let mut visual = face.clone();
    visual["identity"] = json!("visual");
    visual["challenge"] = json!(hex::encode(server.challenge()));
    visual["signature"] = json!(hex::encode(signature));
    let (status, refused) = server.post("/v1/check", &visual);
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["outcome"], "signature_invalid");

    let mut unknown_method = face.clone();
    unknown_method["identity"] = json!("fingerprint");
    let (status, body) = server.post("/v1/check", &unknown_method);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_fields")),
        "{body}"
    );

    // Taro's card is registered already: registering it again by face confirms it.
    let (status, registered) = server.post("/v1/register", &face);
    assert_eq!(status, 200, "{registered}");
    assert_eq!(registered["outcome"], "registered");

    assert_eq!(
        calls_of_kind(&server, "check"),
        [
            (json!("face"), json!("answered")),
            (json!("pin"), json!("request_invalid")),
            (json!("visual"), json!("signature_invalid")),
        ]
    );
    assert_eq!(
        calls_of_kind(&server, "register"),
        [(json!("face"), json!("registered"))]
    );
}

#[test]
fn a_face_request_file_needs_no_challenge_or_signature() {
    let server = Server::with_files(&[]);
    let card = standard_card();
    let request = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20250401</QualificationConfirmationDate>
    <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
    <ProcessExecutionTime>20250401111500</ProcessExecutionTime>
  </MessageHeader>
  <MessageBody>
    <CardCheckInfo>
      <IdentityMethod>face</IdentityMethod>
      <Certificate>{}</Certificate>
    </CardCheckInfo>
  </MessageBody>
</XmlMsg>
"#,
        hex::encode(card.auth_certificate_der()),
    );
    drop_request(
        &server,
        "OQSsiquc01req_20250401111500.xml",
        request.as_bytes(),
    );
    let answer = wait_for_file(&server.folder("res"), "OQSsiquc01res_20250401111500.xml");
    let xml = std::fs::read_to_string(answer).unwrap();
    assert!(
        xml.contains("<QualificationValidity>1</QualificationValidity>"),
        "{xml}"
    );
    assert!(xml.contains("<Name>試験\u{3000}太郎</Name>"), "{xml}");
    assert_eq!(
        calls_of_kind(&server, "check"),
        [(json!("face"), json!("answered"))]
    );
}

#[test]
fn a_bulk_upload_gets_a_reception_number_and_its_download_one_unit_per_person() {
    let server = Server::with_files(&[]);
    let persons = [
        Query {
            insurer: "06139999",
            symbol: Some("7"),
            number: "5501",
            branch: None,
            birthdate: "19900820",
        },
        Query {
            insurer: "01130012",
            symbol: Some("12345678"),
            number: "9999",
            branch: Some("00"),
            birthdate: "19800510",
        },
    ];
    let body: String = persons
        .iter()
        .map(crate::support::oqs::search_info)
        .collect();
    let upload = crate::support::oqs::request("20250406", Some("BULK-1"), &body);
    drop_request(&server, "OQSmuquc01req_202504060001.xml", upload.as_bytes());
    let receipt = std::fs::read_to_string(wait_for_file(
        &server.folder("res"),
        "OQSmuquc01res_202504060001.xml",
    ))
    .unwrap();
    assert!(
        receipt.contains("<ArbitraryFileIdentifier>BULK-1</ArbitraryFileIdentifier>"),
        "{receipt}"
    );
    let number = receipt
        .split("<ReceptionNumber>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("{receipt}"))
        .to_owned();
    let download = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<XmlMsg><MessageHeader><MedicalInstitutionCode>1312345678</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>{number}</ReceptionNumber></MessageBody></XmlMsg>"
    );
    drop_request(
        &server,
        "OQSmuquc02req_202504060002.xml",
        download.as_bytes(),
    );
    let results = std::fs::read_to_string(wait_for_file(
        &server.folder("res"),
        "OQSmuquc02res_202504060002.xml",
    ))
    .unwrap();
    assert_eq!(results.matches("<BulkConfirmUnit>").count(), 2, "{results}");
    assert!(
        results.contains("<NumberOfProcessingResult>2</NumberOfProcessingResult>"),
        "{results}"
    );
    assert!(
        results.contains(&format!("<ReceptionNumber>{number}</ReceptionNumber>")),
        "{results}"
    );
    let units: Vec<&str> = results.split("<BulkConfirmUnit>").skip(1).collect();
    assert!(
        units[0].contains("<InsuredIdentificationNumber>5501</InsuredIdentificationNumber>")
            && units[0].contains("<QualificationValidity>3</QualificationValidity>"),
        "{}",
        units[0]
    );
    assert!(
        units[1].contains("<QualificationValidity>4</QualificationValidity>"),
        "{}",
        units[1]
    );
}

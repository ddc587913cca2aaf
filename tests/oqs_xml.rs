//! The interface XML: snapshots of answers, the EMR parsers' expectations (raw characters,
//! omitted empty elements, YYYYMMDD, 3-digit ratios, U+3000 in Name), CP932, and request files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::date as d;
use myna_hil::oqs::codes::CharacterCode;
use myna_hil::oqs::message::{
    CheckRequest, CheckResponse, ConsentChoices, IdentityMethod, InsuranceCardRequest,
};
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{Oqs, OqsConfig};
use myna_hil::oqs::xml::{self, FileRequest, XmlError};
use myna_hil::oqs::RegistryDescription;
use myna_hil::pki::{pool_key, CertificateKind, CertificateRequest, TestPki};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/registry/clinic.yaml");

fn oqs() -> (Oqs, RegistryDescription) {
    let description = RegistryDescription::from_file(FIXTURE.as_ref()).unwrap();
    let registry = Registry::from_description(FIXTURE, &description).unwrap();
    (
        Oqs::new(registry, OqsConfig::default()).unwrap(),
        description,
    )
}

fn card_check(
    id: &str,
    from: &str,
    until: &str,
    date: &str,
    character_code: CharacterCode,
) -> CheckResponse {
    let (oqs, description) = oqs();
    let person = description
        .persons
        .iter()
        .find(|p| p.id.value == id)
        .unwrap()
        .person
        .clone();
    let key = pool_key(5).unwrap();
    let certificate = TestPki::load()
        .unwrap()
        .issue(&CertificateRequest {
            kind: CertificateKind::Authentication,
            holder: &person,
            subject_key: &key.to_public_key(),
            not_before: d(from),
            not_after: d(until),
        })
        .unwrap();
    let challenge = oqs.issue_challenge();
    let signature = SigningKey::<Sha256>::new(key).sign(&challenge).to_vec();
    oqs.check(&CheckRequest {
        identity: Default::default(),
        challenge: Some(challenge),
        certificate,
        signature: Some(signature),
        facility_code: "1312345678".into(),
        date: d(date),
        time: Some("09:30:15".parse().unwrap()),
        consent: ConsentChoices {
            medication: true,
            medical_treatment: true,
            ..ConsentChoices::default()
        },
        arbitrary_file_identifier: Some("RECEPT-0001".into()),
        character_code,
        smartphone: None,
    })
}

fn text(response: &CheckResponse) -> String {
    xml::response_to_xml_text(response, "UTF-8")
}

#[test]
fn snapshot_of_a_valid_answer_with_limit_information() {
    let response = card_check(
        "taro",
        "2022-04-01",
        "2027-05-10",
        "2024-10-07",
        CharacterCode::Utf8,
    );
    insta::assert_snapshot!("valid_answer_utf8", text(&response));
}

#[test]
fn snapshot_of_a_late_elderly_answer_with_elderly_recipient_information() {
    let response = card_check(
        "ume",
        "2021-05-10",
        "2026-05-10",
        "2024-06-03",
        CharacterCode::Utf8,
    );
    insta::assert_snapshot!("late_elderly_answer", text(&response));
}

#[test]
fn snapshot_of_a_refusal() {
    let response = card_check(
        "saburo",
        "2021-06-01",
        "2026-03-03",
        "2025-02-01",
        CharacterCode::Utf8,
    );
    insta::assert_snapshot!("revoked_refusal", text(&response));
}

#[test]
fn answers_meet_what_emr_parsers_expect() {
    let response = card_check(
        "mei",
        "2023-04-03",
        "2028-04-02",
        "2025-03-31",
        CharacterCode::Utf8,
    );
    let xml = text(&response);
    assert!(
        !xml.contains("&#"),
        "no numeric character references:\n{xml}"
    );
    assert!(!xml.contains("/>"), "no empty elements:\n{xml}");
    assert!(xml.contains("<Name>試験\u{3000}芽衣</Name>"), "{xml}");
    assert!(xml.contains("<NameKana>ｼｹﾝ ﾒｲ</NameKana>"), "{xml}");
    assert!(xml.contains("<Birthdate>20180402</Birthdate>"), "{xml}");
    // Under 70: neither ratio element (§34); 未就学 says 2割 through PreschoolClassification.
    assert!(!xml.contains("ContributionRatio"), "{xml}");
    assert!(
        xml.contains("<InsuredCardValidDate>"),
        "always present (§4.3): {xml}"
    );
    assert!(
        xml.contains("<PreschoolClassification>1</PreschoolClassification>"),
        "{xml}"
    );
    for required in [
        "ProcessExecutionTime",
        "QualificationConfirmationDate",
        "MedicalInstitutionCode",
        "ReferenceClassification",
        "SegmentOfResult",
        "CharacterCodeIdentifier",
        "ProcessingResultStatus",
        "InsuredCardClassification",
        "Sex1",
        "InsurerName",
    ] {
        assert!(
            xml.contains(&format!("<{required}>")),
            "missing {required}:\n{xml}"
        );
    }
    assert!(
        !xml.contains("<ErrorCode>") && !xml.contains("<ReasonOfLoss>") && !xml.contains("<Sex2>"),
        "{xml}"
    );
}

#[test]
fn shift_jis_answers_are_cp932_with_the_matching_declaration() {
    let response = card_check(
        "taro",
        "2022-04-01",
        "2027-05-10",
        "2025-04-01",
        CharacterCode::ShiftJis,
    );
    assert_eq!(response.header.character_code_identifier, "1");
    let bytes = xml::response_to_xml(&response);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "CP932 bytes are not UTF-8 here"
    );
    let (decoded, _, errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!errors);
    assert!(
        decoded.starts_with("<?xml version=\"1.0\" encoding=\"Shift_JIS\""),
        "{decoded}"
    );
    assert!(
        decoded.contains("<Name>試験\u{3000}太郎</Name>"),
        "{decoded}"
    );
}

#[test]
fn characters_cp932_lacks_become_geta_not_references() {
    let bytes = xml::encode_cp932("<Name>𠮷野\u{3000}家</Name>");
    let (decoded, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert_eq!(decoded, "<Name>〓野\u{3000}家</Name>");
}

/// A 被保険者証 lookup in the public layout (docs/spec/oqs-xml.md §2): header with the date, the
/// 医療機関コード and the client's identifier; the keys inside QualificationConfirmSearchInfo.
const LOOKUP_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20250401</QualificationConfirmationDate>
    <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>A-1</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      <InsurerNumber>01130012</InsurerNumber>
      <InsuredCardSymbol>12345678</InsuredCardSymbol>
      <InsuredIdentificationNumber>1234</InsuredIdentificationNumber>
      <InsuredBranchNumber>01</InsuredBranchNumber>
      <Birthdate>19800510</Birthdate>
      <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
    </QualificationConfirmSearchInfo>
  </MessageBody>
</XmlMsg>
"#;

fn lookup(request: &str) -> InsuranceCardRequest {
    match xml::parse_request(request.as_bytes()).unwrap() {
        FileRequest::InsuranceCard(request) => request,
        other => panic!("not a lookup: {other:?}"),
    }
}

#[test]
fn a_lookup_request_in_the_public_layout_parses_in_utf8_and_cp932() {
    let request = lookup(LOOKUP_REQUEST);
    assert_eq!(request.insurer_number, "01130012");
    assert_eq!(request.symbol, "12345678");
    assert_eq!(request.number, "1234");
    assert_eq!(request.branch, "01");
    assert_eq!(request.birth_date, d("1980-05-10"));
    assert_eq!(request.facility_code, "1312345678");
    assert_eq!(request.date, d("2025-04-01"));
    assert_eq!(request.time, None);
    assert_eq!(request.arbitrary_file_identifier.as_deref(), Some("A-1"));
    assert!(request.limit_consent);
    let cp932 = LOOKUP_REQUEST
        .replace("UTF-8", "Shift_JIS")
        .replace("A-1", "受付１");
    let parsed = xml::parse_request(&xml::encode_cp932(&cp932)).unwrap();
    let FileRequest::InsuranceCard(request) = parsed else {
        panic!("wrong kind")
    };
    assert_eq!(request.arbitrary_file_identifier.as_deref(), Some("受付１"));
}

#[test]
fn the_blog_template_with_single_quotes_spaces_in_tags_and_an_empty_branch_parses() {
    // As a clinic's hand-made template writes it (docs/spec/oqs-xml.md §8, §15).
    let template = "<?xml version='1.0' encoding='UTF-8' standalone='no'?>\n<XmlMsg><MessageHeader><QualificationConfirmationDate >20250401</QualificationConfirmationDate><MedicalInstitutionCode>1312345678</MedicalInstitutionCode><ArbitraryFileIdentifier >clinic_11906</ArbitraryFileIdentifier></MessageHeader><MessageBody><QualificationConfirmSearchInfo><InsurerNumber>01130012</InsurerNumber><InsuredCardSymbol>12345678</InsuredCardSymbol><InsuredIdentificationNumber>1234</InsuredIdentificationNumber><InsuredBranchNumber></InsuredBranchNumber><Birthdate>19800510</Birthdate><LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>";
    let request = lookup(template);
    assert_eq!(request.branch, "", "empty 枝番: any");
    assert_eq!(
        request.arbitrary_file_identifier.as_deref(),
        Some("clinic_11906")
    );
    let (oqs, _) = oqs();
    let answer = oqs.lookup_by_insurance_card(&request);
    assert_eq!(
        answer.body.qualification_validity.map(|v| v.code()),
        Some("1")
    );
}

#[test]
fn the_old_flat_layout_is_refused_saying_where_the_keys_belong() {
    let flat = r#"<XmlMsg><MessageHeader><QualificationConfirmationDate>20250401</QualificationConfirmationDate><MedicalInstitutionCode>1312345678</MedicalInstitutionCode></MessageHeader><MessageBody><InsurerNumber>01130012</InsurerNumber><InsuredIdentificationNumber>1234</InsuredIdentificationNumber><Birthdate>19800510</Birthdate></MessageBody></XmlMsg>"#;
    let error = xml::parse_request(flat.as_bytes()).unwrap_err();
    assert!(
        matches!(&error, XmlError::FlatLayout { element, belongs: "QualificationConfirmSearchInfo" } if element == "InsurerNumber"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("MessageBody/QualificationConfirmSearchInfo"),
        "{message}"
    );
    let flat_card = CARD_REQUEST
        .replace("<CardCheckInfo>", "")
        .replace("</CardCheckInfo>", "")
        .replace("METHOD", "")
        .replace("PROOF", "");
    assert!(matches!(
        xml::parse_request(flat_card.as_bytes()),
        Err(XmlError::FlatLayout {
            belongs: "CardCheckInfo",
            ..
        })
    ));
    for (element, says) in [
        ("ReferenceClassification", "follows from its body"),
        ("CharacterCodeIdentifier", "--charset"),
    ] {
        let with = LOOKUP_REQUEST.replace(
            "<MedicalInstitutionCode>",
            &format!("<{element}>1</{element}><MedicalInstitutionCode>"),
        );
        let error = xml::parse_request(with.as_bytes()).unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
    }
}

#[test]
fn six_digit_insurer_numbers_are_read_in_every_padding_and_answered_space_padded() {
    // The 市町村国保 member of the clinic registry has insurer 138016.
    for written in ["138016", "  138016", "00138016"] {
        let request = lookup(
            &LOOKUP_REQUEST
                .replace("01130012", written)
                .replace(
                    "<InsuredCardSymbol>12345678</InsuredCardSymbol>",
                    "<InsuredCardSymbol>1</InsuredCardSymbol>",
                )
                .replace(">1234<", ">60001<")
                .replace(">01<", "><")
                .replace("19800510", "19840707"),
        );
        let (oqs, _) = oqs();
        let answer = oqs.lookup_by_insurance_card(&request);
        assert_eq!(
            answer.body.qualification_validity.map(|v| v.code()),
            Some("1"),
            "{written:?}"
        );
        let xml = text(&answer);
        assert!(
            xml.contains("<InsurerNumber>  138016</InsurerNumber>"),
            "{xml}"
        );
        // The echo carries the number as the request wrote it.
        assert!(
            xml.contains(&format!("<InsurerNumber>{written}</InsurerNumber>")),
            "{xml}"
        );
    }
    let bad = LOOKUP_REQUEST.replace("01130012", "1234567");
    assert!(matches!(
        xml::parse_request(bad.as_bytes()),
        Err(XmlError::Value {
            element: "InsurerNumber",
            ..
        })
    ));
}

#[test]
fn a_lookup_answer_echoes_the_query_and_the_identifier_exactly() {
    let (oqs, _) = oqs();
    let identifier = "2025&lt;04&gt; 'a' \"b\" &amp; c";
    let request = lookup(&LOOKUP_REQUEST.replace(">A-1<", &format!(">{identifier}<")));
    let xml = text(&oqs.lookup_by_insurance_card(&request));
    // EO pairs a result by this exact substring (docs/spec/oqs-xml.md §24).
    assert!(
        xml.contains(&format!(
            "<ArbitraryFileIdentifier>{identifier}</ArbitraryFileIdentifier>"
        )),
        "{xml}"
    );
    let echo = xml
        .split("<QualificationConfirmSearchInfo>")
        .nth(1)
        .and_then(|rest| rest.split("</QualificationConfirmSearchInfo>").next())
        .unwrap_or_else(|| panic!("no echo: {xml}"));
    for element in [
        "<InsurerNumber>01130012</InsurerNumber>",
        "<InsuredCardSymbol>12345678</InsuredCardSymbol>",
        "<InsuredIdentificationNumber>1234</InsuredIdentificationNumber>",
        "<InsuredBranchNumber>01</InsuredBranchNumber>",
        "<Birthdate>19800510</Birthdate>",
        "<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>",
    ] {
        assert!(echo.contains(element), "{element} not in {echo}");
    }
    assert!(
        xml.find("</ResultList>") < xml.find("<ProcessingResultStatus>"),
        "ResultList first (§26): {xml}"
    );
    let card = card_check(
        "taro",
        "2022-04-01",
        "2027-05-10",
        "2025-04-01",
        CharacterCode::Utf8,
    );
    assert!(
        !text(&card).contains("QualificationConfirmSearchInfo"),
        "no echo for ReferenceClassification 1"
    );
}

#[test]
fn a_bulk_upload_reads_every_person_and_a_download_its_number() {
    let person = |number: &str| {
        format!("<QualificationConfirmSearchInfo><InsurerNumber>01130012</InsurerNumber><InsuredIdentificationNumber>{number}</InsuredIdentificationNumber><Birthdate>19800510</Birthdate><LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg><ArbitraryIdentifier>p{number}</ArbitraryIdentifier></QualificationConfirmSearchInfo>")
    };
    let upload = format!("<XmlMsg><MessageHeader><QualificationConfirmationDate>20250401</QualificationConfirmationDate><MedicalInstitutionCode>1312345678</MedicalInstitutionCode><ArbitraryFileIdentifier>B-1</ArbitraryFileIdentifier></MessageHeader><MessageBody>{}{}</MessageBody></XmlMsg>", person("1"), person("2"));
    let parsed = xml::parse_bulk_upload(upload.as_bytes()).unwrap();
    assert_eq!(parsed.queries.len(), 2);
    assert_eq!(parsed.queries[1].number, "2");
    assert_eq!(
        parsed.queries[1]
            .echo
            .as_ref()
            .and_then(|e| e.arbitrary_identifier.as_deref()),
        Some("p2")
    );
    // Each person's query needs its flag, as a single one does.
    let without_flag = upload.replacen(
        "<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>",
        "",
        1,
    );
    assert!(matches!(
        xml::parse_bulk_upload(without_flag.as_bytes()),
        Err(XmlError::MissingRequired {
            element: "LimitApplicationCertificateRelatedConsFlg",
            ..
        })
    ));
    let download = xml::parse_bulk_download(b"<XmlMsg><MessageHeader><MedicalInstitutionCode>1312345678</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>R1</ReceptionNumber></MessageBody></XmlMsg>").unwrap();
    assert_eq!(download.reception_number, "R1");
}

#[test]
fn a_value_split_by_comments_references_and_cdata_is_read_whole() {
    let pieces = LOOKUP_REQUEST
        .replace(
            "<InsuredIdentificationNumber>1234<",
            "<InsuredIdentificationNumber>12<!-- note -->3&#x34;<",
        )
        .replace(
            "<InsuredCardSymbol>12345678<",
            "<InsuredCardSymbol><![CDATA[1234]]>5678<",
        )
        .replace(
            "<ArbitraryFileIdentifier>A-1<",
            "<ArbitraryFileIdentifier> A&amp;B&lt;1 <",
        );
    let FileRequest::InsuranceCard(request) = xml::parse_request(pieces.as_bytes()).unwrap() else {
        panic!("wrong kind")
    };
    assert_eq!(request.number, "1234");
    assert_eq!(request.symbol, "12345678");
    // Kept exactly, spaces included: clients pair answers by its exact text.
    assert_eq!(
        request.arbitrary_file_identifier.as_deref(),
        Some(" A&B<1 ")
    );
    let unknown_entity = LOOKUP_REQUEST.replace(">A-1<", ">A&nbsp;1<");
    assert!(matches!(
        xml::parse_request(unknown_entity.as_bytes()),
        Err(XmlError::Syntax(message)) if message.contains("&nbsp;")
    ));
}

#[test]
fn malformed_requests_say_what_is_wrong() {
    let unknown = LOOKUP_REQUEST.replace("<Birthdate>", "<BirthDay>1</BirthDay><Birthdate>");
    match xml::parse_request(unknown.as_bytes()) {
        Err(XmlError::UnknownElement { element, valid, .. }) => {
            assert_eq!(element, "BirthDay");
            assert!(valid.contains("Birthdate"));
        }
        other => panic!("{other:?}"),
    }
    let twice = LOOKUP_REQUEST.replace(
        "<Birthdate>19800510</Birthdate>",
        "<Birthdate>19800510</Birthdate><Birthdate>1</Birthdate>",
    );
    assert_eq!(
        xml::parse_request(twice.as_bytes()),
        Err(XmlError::Duplicate("Birthdate".into()))
    );
    let missing = LOOKUP_REQUEST.replace("<Birthdate>19800510</Birthdate>", "");
    assert_eq!(
        xml::parse_request(missing.as_bytes()),
        Err(XmlError::Missing("Birthdate"))
    );
    let bad_date = LOOKUP_REQUEST.replace("20250401", "2025-04-01");
    assert!(matches!(
        xml::parse_request(bad_date.as_bytes()),
        Err(XmlError::Value {
            element: "QualificationConfirmationDate",
            ..
        })
    ));
    let truncated = &LOOKUP_REQUEST[..LOOKUP_REQUEST.len() / 2];
    assert!(matches!(
        xml::parse_request(truncated.as_bytes()),
        Err(XmlError::Syntax(_))
    ));
    assert!(matches!(
        xml::parse_request(&[0xFF, 0xFF, 0x81]),
        Err(XmlError::Encoding)
    ));
    assert!(matches!(
        xml::parse_request(b"<Other/>"),
        Err(XmlError::Layout(_))
    ));
}

const CARD_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20250401</QualificationConfirmationDate>
    <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
  </MessageHeader>
  <MessageBody>
    <CardCheckInfo>
      METHOD
      <Certificate>3082aa55</Certificate>
      PROOF
    </CardCheckInfo>
  </MessageBody>
</XmlMsg>
"#;

fn card_request(method: &str, proof: &str) -> Result<CheckRequest, XmlError> {
    let text = CARD_REQUEST
        .replace("METHOD", method)
        .replace("PROOF", proof);
    match xml::parse_request(text.as_bytes())? {
        FileRequest::Card(request) => Ok(request),
        other => panic!("not a card request: {other:?}"),
    }
}

#[test]
fn card_request_files_carry_the_identity_method_and_an_optional_proof() {
    let face = card_request("<IdentityMethod>face</IdentityMethod>", "").unwrap();
    assert_eq!(face.identity, IdentityMethod::Face);
    assert_eq!(face.certificate, [0x30, 0x82, 0xAA, 0x55]);
    assert_eq!((face.challenge, face.signature), (None, None));

    let visual = card_request(
        "<IdentityMethod> visual </IdentityMethod>",
        "<Challenge></Challenge><Signature/>",
    )
    .unwrap();
    assert_eq!(visual.identity, IdentityMethod::Visual);
    assert_eq!((visual.challenge, visual.signature), (None, None));

    let pin = card_request("", "<Challenge>0102</Challenge><Signature>0a0b</Signature>").unwrap();
    assert_eq!(
        pin.identity,
        IdentityMethod::Pin,
        "pin when the element is absent"
    );
    assert_eq!(pin.challenge, Some(vec![1, 2]));
    assert_eq!(pin.signature, Some(vec![0x0A, 0x0B]));

    match card_request("<IdentityMethod>fingerprint</IdentityMethod>", "") {
        Err(XmlError::Value { element, message }) => {
            assert_eq!(element, "IdentityMethod");
            assert!(message.contains("fingerprint"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        card_request(
            "<IdentityMethod>face</IdentityMethod>",
            "<Signature>xyz</Signature>"
        ),
        Err(XmlError::Value {
            element: "Signature",
            ..
        })
    ));
    let unsigned_pin = card_request("", "").unwrap();
    assert_eq!(
        (unsigned_pin.identity, unsigned_pin.signature),
        (IdentityMethod::Pin, None),
        "a pin request without proof parses; the service refuses it"
    );
}

fn lookup_answer(number: &str, insurer: &str, birth: &str, date: &str) -> CheckResponse {
    let (oqs, _) = oqs();
    oqs.lookup_by_insurance_card(&InsuranceCardRequest {
        insurer_number: insurer.into(),
        symbol: if insurer.trim() == "138016" {
            "1"
        } else {
            "12345678"
        }
        .into(),
        number: number.into(),
        branch: String::new(),
        birth_date: d(birth),
        facility_code: "1312345678".into(),
        date: d(date),
        time: Some("10:00:00".parse().unwrap()),
        arbitrary_file_identifier: Some("clinic_11906".into()),
        character_code: CharacterCode::Utf8,
        limit_consent: true,
        echo: None,
    })
}

#[test]
fn snapshot_of_a_70_to_74_year_old_with_the_elderly_recipient_certificate_2_wari() {
    let response = lookup_answer("7201", "01130012", "1953-02-14", "2025-06-02");
    insta::assert_snapshot!("elderly_70_74_general", text(&response));
}

#[test]
fn a_70_to_74_year_old_with_working_age_income_gets_3_wari_on_the_certificate() {
    let xml = text(&lookup_answer(
        "7202",
        "01130012",
        "1952-09-09",
        "2025-06-02",
    ));
    assert!(
        xml.contains("<ElderlyRecipientContributionRatio>030</ElderlyRecipientContributionRatio>"),
        "{xml}"
    );
    assert!(!xml.contains("InsuredPartialContributionRatio"), "{xml}");
}

#[test]
fn snapshot_of_a_lookup_of_a_six_digit_kokuho_member_with_its_echo() {
    let response = lookup_answer("60001", "  138016", "1984-07-07", "2025-06-02");
    insta::assert_snapshot!("kokuho_lookup_echo", text(&response));
}

#[test]
fn during_a_network_outage_file_requests_wait_and_are_answered_once_it_ends() {
    let (oqs, _) = oqs();
    let oqs = std::sync::Arc::new(oqs);
    let folder = tempfile::tempdir().unwrap();
    let files = myna_hil::oqs::files::FileInterface::new(folder.path(), oqs.clone())
        .unwrap()
        .with_settle(std::time::Duration::from_millis(1));
    let request = folder.path().join("req/OQSsiquc01req_000000000001.xml");
    std::fs::write(&request, LOOKUP_REQUEST).unwrap();
    oqs.set_reachable(false);
    assert!(files.drain().unwrap().is_empty());
    assert!(request.exists(), "the request waits in req, never lost");
    oqs.set_reachable(true);
    assert_eq!(files.drain().unwrap().len(), 1);
    let answer =
        std::fs::read_to_string(folder.path().join("res/OQSsiquc01res_000000000001.xml")).unwrap();
    assert!(
        answer.contains("<QualificationValidity>1</QualificationValidity>"),
        "{answer}"
    );
}

/// A document that says it is UTF-8 (declaration in any quoting, or a byte-order mark) and is
/// not is refused at the first bad byte; without a declaration, CP932 is still read.
#[test]
fn declared_utf8_with_a_bad_byte_is_refused_at_its_offset_and_undeclared_cp932_still_reads() {
    let sjis = encoding_rs::SHIFT_JIS
        .encode("<XmlMsg>受付</XmlMsg>")
        .0
        .into_owned();
    let declared = [b"<?xml version='1.0' encoding='utf-8'?>".as_slice(), &sjis].concat();
    assert_eq!(
        xml::decode(&declared),
        Err(XmlError::InvalidUtf8 {
            offset: 38 + 8,
            byte: 0x8E
        })
    );
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), &sjis].concat();
    let error = xml::decode(&with_bom).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the document declares encoding=\"UTF-8\" (or starts with its byte-order mark), but byte 11 (0x8E) starts an invalid UTF-8 sequence"
    );
    assert_eq!(xml::decode(&sjis).unwrap(), "<XmlMsg>受付</XmlMsg>");
    let shift_jis_declared = [
        b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>".as_slice(),
        &sjis,
    ]
    .concat();
    assert!(xml::decode(&shift_jis_declared)
        .unwrap()
        .ends_with("受付</XmlMsg>"));
}

/// Under Shift_JIS, text it cannot carry is refused naming the element; UTF-8 carries all.
#[test]
fn only_text_the_answer_encoding_can_carry_is_accepted() {
    let request = LOOKUP_REQUEST.replace("<InsuredCardSymbol>", "<InsuredCardSymbol>𠮷");
    assert!(xml::check_encodable(request.as_bytes(), CharacterCode::Utf8).is_ok());
    let error = xml::check_encodable(request.as_bytes(), CharacterCode::ShiftJis).unwrap_err();
    assert_eq!(
        error.to_string(),
        "<InsuredCardSymbol> holds U+20BB7 (𠮷), which Shift_JIS (the terminal's --charset) cannot carry; the answer returns it exactly or not at all"
    );
    assert!(xml::check_encodable(LOOKUP_REQUEST.as_bytes(), CharacterCode::ShiftJis).is_ok());
}

/// The 限度額 elements of the answer's one `ResultOfQualificationConfirmation`, and of its echo.
struct LimitElements {
    result_flag: Option<String>,
    result_time: Option<String>,
    result_class: Option<String>,
    echo_flag: Option<String>,
}

fn element_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].to_owned())
}

fn limit_elements(xml: &str) -> LimitElements {
    let result = element_text(xml, "ResultOfQualificationConfirmation")
        .unwrap_or_else(|| panic!("no result in {xml}"));
    let echo = element_text(xml, "QualificationConfirmSearchInfo")
        .unwrap_or_else(|| panic!("no echo in {xml}"));
    assert!(
        !result.contains("LimitApplicationCertificateRelatedConsAvailableTime"),
        "限度額 has no AvailableTime (docs/spec/oqs-xml.md §38): {result}"
    );
    LimitElements {
        result_flag: element_text(&result, "LimitApplicationCertificateRelatedConsFlg"),
        result_time: element_text(&result, "LimitApplicationCertificateRelatedConsTime"),
        result_class: element_text(&result, "LimitApplicationCertificateClassificationFlag"),
        echo_flag: element_text(&echo, "LimitApplicationCertificateRelatedConsFlg"),
    }
}

/// taro's 被保険者証 (fixtures/registry/clinic.yaml: 限度額 A03 from 2024-04-01) asked on `date`
/// at 09:30:15 with the query's flag `flag`.
fn taro_lookup_xml(date: &str, flag: &str) -> String {
    let (oqs, _) = oqs();
    let request = LOOKUP_REQUEST
        .replace("20250401", date)
        .replace(
            "</ArbitraryFileIdentifier>",
            &format!("</ArbitraryFileIdentifier><ProcessExecutionTime>{date}093015</ProcessExecutionTime>"),
        )
        .replace(
            "<LimitApplicationCertificateRelatedConsFlg>1<",
            &format!("<LimitApplicationCertificateRelatedConsFlg>{flag}<"),
        );
    text(&oqs.lookup_by_insurance_card(&lookup(&request)))
}

#[test]
fn a_lookup_answered_with_limit_information_carries_the_consent_in_the_result() {
    // Consented in the query before 2024-10-07: the information, the flag 1 and its ConsTime
    // (the ProcessExecutionTime, docs/spec/oqs-xml.md §37) inside the result.
    let consented = limit_elements(&taro_lookup_xml("20240603", "1"));
    assert_eq!(consented.result_class.as_deref(), Some("A03"));
    assert_eq!(consented.result_flag.as_deref(), Some("1"));
    assert_eq!(consented.result_time.as_deref(), Some("20240603093015"));
    assert_eq!(consented.echo_flag.as_deref(), Some("1"));

    // Not consented before 2024-10-07: no information, the flag 0 and no time (§36).
    let declined = limit_elements(&taro_lookup_xml("20240603", "0"));
    assert_eq!(declined.result_class, None);
    assert_eq!(declined.result_flag.as_deref(), Some("0"));
    assert_eq!(declined.result_time, None);
    assert_eq!(declined.echo_flag.as_deref(), Some("0"));

    // From 2024-10-07 the information is statutory: provided whatever the query's flag, and
    // the result says so as it does for a card; the echo keeps what the query sent.
    let statutory = limit_elements(&taro_lookup_xml("20250602", "0"));
    assert_eq!(statutory.result_class.as_deref(), Some("A03"));
    assert_eq!(statutory.result_flag.as_deref(), Some("1"));
    assert_eq!(statutory.result_time.as_deref(), Some("20250602093015"));
    assert_eq!(statutory.echo_flag.as_deref(), Some("0"));
}

#[test]
fn a_lookup_without_the_limit_consent_flag_is_refused_naming_it() {
    let flag =
        "<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>";
    for request in [
        LOOKUP_REQUEST.replace(flag, ""),
        LOOKUP_REQUEST.replace(
            flag,
            "<LimitApplicationCertificateRelatedConsFlg> </LimitApplicationCertificateRelatedConsFlg>",
        ),
    ] {
        let error = xml::parse_request(request.as_bytes()).unwrap_err();
        assert!(
            matches!(
                error,
                XmlError::MissingRequired {
                    element: "LimitApplicationCertificateRelatedConsFlg",
                    section: "QualificationConfirmSearchInfo",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    // Through the file interface: an error file naming the element, the terminal's `.err`,
    // and no answer.
    let (oqs, _) = oqs();
    let folder = tempfile::tempdir().unwrap();
    let files = myna_hil::oqs::files::FileInterface::new(folder.path(), std::sync::Arc::new(oqs))
        .unwrap()
        .with_settle(std::time::Duration::from_millis(1));
    std::fs::write(
        folder.path().join("req/OQSsiquc01req_noflag.xml"),
        LOOKUP_REQUEST.replace(flag, ""),
    )
    .unwrap();
    files.drain().unwrap();
    let message = std::fs::read_to_string(
        folder
            .path()
            .join("req/error/OQSsiquc01req_noflag.xml.error.txt"),
    )
    .unwrap();
    assert!(
        message.contains(
            "missing <LimitApplicationCertificateRelatedConsFlg> in QualificationConfirmSearchInfo"
        ),
        "{message}"
    );
    let err = std::fs::read_to_string(folder.path().join("res/OQSsiquc01req_noflag.err")).unwrap();
    assert!(
        err.contains("LimitApplicationCertificateRelatedConsFlg"),
        "{err}"
    );
    assert!(!folder.path().join("res/OQSsiquc01res_noflag.xml").exists());
}

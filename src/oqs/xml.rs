//! The interface's XML (`XmlMsg` with `MessageHeader` and `MessageBody`), written the way EMR
//! parsers in the field expect it: raw characters (never numeric references), optional
//! elements omitted rather than empty, dates YYYYMMDD, ratios three digits; in UTF-8 or CP932
//! per `CharacterCodeIdentifier`. Also the harness's request files for the `req` folder.
//!
//! ## Request files (the harness's extension)
//! The official request layout is not public. A request is `XmlMsg` with a `MessageHeader`
//! (`MedicalInstitutionCode`, `ReferenceClassification`, `QualificationConfirmationDate`,
//! optional `ProcessExecutionTime`, `ArbitraryFileIdentifier`, `CharacterCodeIdentifier`) and a
//! `MessageBody`. For `ReferenceClassification` 1 (マイナンバーカード) the body carries the
//! harness's own elements:
//! - `IdentityMethod`: `pin` (the default when absent), `face` (顔認証) or `visual` (目視);
//! - `Certificate`: the 利用者証明用電子証明書, DER in hexadecimal (required);
//! - `Challenge`, `Signature` (hexadecimal): the proof of possession, required with `pin`; with
//!   `face` / `visual` both may be omitted (the reader attests the identification) and are
//!   verified when present. An empty element counts as absent;
//! - consent flags `0`/`1`: `ComprehensiveConsent`, `DiagnosisInfoConsFlg`,
//!   `PharmacistsInfoConsFlg`, `SpecificHealthCheckupsInfoConsFlg`, `OperationInfoConsFlg`,
//!   `LimitApplicationCertificateRelatedConsFlg`.
//!
//! For `ReferenceClassification` 2 (被保険者証情報): `InsurerNumber`, `InsuredCardSymbol`,
//! `InsuredIdentificationNumber`, `InsuredBranchNumber` (default `00`), `Birthdate`.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesDecl, BytesEnd, BytesRef, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::oqs::codes::{CharacterCode, ReferenceClassification};
use crate::oqs::message::{
    CheckRequest, CheckResponse, ConsentChoices, ConsentMode, IdentityMethod, InsuranceCardRequest,
    QualificationResult,
};

/// Why an XML request could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    #[error("the text is neither UTF-8 nor Shift_JIS (CP932)")]
    Encoding,
    #[error("unexpected element <{0}>; expected XmlMsg/MessageHeader|MessageBody/<field>")]
    Layout(String),
    #[error("unknown element <{element}> in {section}; valid: {valid}")]
    UnknownElement {
        section: &'static str,
        element: String,
        valid: String,
    },
    #[error("<{0}> appears twice")]
    Duplicate(String),
    #[error("missing <{0}>")]
    Missing(&'static str),
    #[error("<{element}>: {message}")]
    Value {
        element: &'static str,
        message: String,
    },
}

/// A request file: a card check or a 被保険者証 lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRequest {
    Card(CheckRequest),
    InsuranceCard(InsuranceCardRequest),
}

impl FileRequest {
    pub fn character_code(&self) -> CharacterCode {
        match self {
            FileRequest::Card(request) => request.character_code,
            FileRequest::InsuranceCard(request) => request.character_code,
        }
    }
}

const HEADER_FIELDS: &[&str] = &[
    "MedicalInstitutionCode",
    "ArbitraryFileIdentifier",
    "ReferenceClassification",
    "CharacterCodeIdentifier",
    "QualificationConfirmationDate",
    "ProcessExecutionTime",
];

const BODY_FIELDS: &[&str] = &[
    "InsurerNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "Birthdate",
    "IdentityMethod",
    "Challenge",
    "Certificate",
    "Signature",
    "ComprehensiveConsent",
    "DiagnosisInfoConsFlg",
    "PharmacistsInfoConsFlg",
    "SpecificHealthCheckupsInfoConsFlg",
    "OperationInfoConsFlg",
    "LimitApplicationCertificateRelatedConsFlg",
];

/// Decodes UTF-8 (with or without BOM), else CP932.
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(XmlError::Encoding);
    }
    Ok(text.into_owned())
}

/// Whether XML 1.0 can carry the character at all (its `Char` production): no control
/// character but tab, line feed and carriage return, and neither U+FFFE nor U+FFFF. A
/// character reference (`&#x1;`) does not make the others legal either.
pub fn is_xml10_char(character: char) -> bool {
    matches!(character, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || character >= '\u{10000}'
}

/// The first character of `text` that XML 1.0 cannot carry, if any.
pub fn first_non_xml10_char(text: &str) -> Option<char> {
    text.chars().find(|character| !is_xml10_char(*character))
}

/// Refuses a value the answer could not echo as well-formed XML.
fn check_xml10(fields: &Fields) -> Result<(), XmlError> {
    for (element, value) in fields {
        if let Some(character) = first_non_xml10_char(value) {
            return Err(XmlError::Value {
                element,
                message: format!(
                    "contains U+{:04X}, which XML 1.0 cannot carry",
                    u32::from(character)
                ),
            });
        }
    }
    Ok(())
}

/// Parses a request file.
pub fn parse_request(bytes: &[u8]) -> Result<FileRequest, XmlError> {
    let text = decode(bytes)?;
    let (header, body) = collect_fields(&text)?;
    check_xml10(&header)?;
    check_xml10(&body)?;
    let get_header = |name: &'static str| header.get(name).map(|v| v.trim().to_owned());
    let get_body = |name: &'static str| body.get(name).map(|v| v.trim().to_owned());
    let required = |value: Option<String>, name: &'static str| value.ok_or(XmlError::Missing(name));

    let facility_code = required(
        get_header("MedicalInstitutionCode"),
        "MedicalInstitutionCode",
    )?;
    let character_code = match get_header("CharacterCodeIdentifier") {
        None => CharacterCode::Utf8,
        Some(code) => CharacterCode::from_code(&code).ok_or(XmlError::Value {
            element: "CharacterCodeIdentifier",
            message: format!("{code:?} is not 0 (UTF-8) or 1 (Shift_JIS)"),
        })?,
    };
    let date = parse_date(
        &required(
            get_header("QualificationConfirmationDate"),
            "QualificationConfirmationDate",
        )?,
        "QualificationConfirmationDate",
    )?;
    let time = match get_header("ProcessExecutionTime") {
        None => None,
        Some(text) => Some(
            NaiveDateTime::parse_from_str(&text, "%Y%m%d%H%M%S")
                .map_err(|_| XmlError::Value {
                    element: "ProcessExecutionTime",
                    message: format!("{text:?} is not YYYYMMDDHHMMSS"),
                })?
                .time(),
        ),
    };
    let arbitrary_file_identifier = get_header("ArbitraryFileIdentifier");
    let reference = required(
        get_header("ReferenceClassification"),
        "ReferenceClassification",
    )?;
    let reference =
        ReferenceClassification::from_code(&reference).ok_or_else(|| XmlError::Value {
            element: "ReferenceClassification",
            message: format!("{reference:?} is not 1 (マイナンバーカード) or 2 (被保険者証情報)"),
        })?;
    match reference {
        ReferenceClassification::MyNumberCard => {
            let hex = |name: &'static str, text: &str| -> Result<Vec<u8>, XmlError> {
                hex::decode(text).map_err(|error| XmlError::Value {
                    element: name,
                    message: format!("not hexadecimal: {error}"),
                })
            };
            // An empty element counts as absent, as optional elements are written by omission.
            let optional_hex = |name: &'static str| -> Result<Option<Vec<u8>>, XmlError> {
                match get_body(name).filter(|text| !text.is_empty()) {
                    None => Ok(None),
                    Some(text) => hex(name, &text).map(Some),
                }
            };
            let identity = match get_body("IdentityMethod").filter(|text| !text.is_empty()) {
                None => IdentityMethod::default(),
                Some(name) => IdentityMethod::from_name(&name).ok_or(XmlError::Value {
                    element: "IdentityMethod",
                    message: format!("{name:?} is not pin, face or visual"),
                })?,
            };
            let consent_flag = |name: &'static str| -> Result<bool, XmlError> {
                match get_body(name).as_deref() {
                    None | Some("0") => Ok(false),
                    Some("1") => Ok(true),
                    Some(other) => Err(XmlError::Value {
                        element: name,
                        message: format!("{other:?} is not 0 or 1"),
                    }),
                }
            };
            Ok(FileRequest::Card(CheckRequest {
                identity,
                challenge: optional_hex("Challenge")?,
                certificate: hex(
                    "Certificate",
                    &required(get_body("Certificate"), "Certificate")?,
                )?,
                signature: optional_hex("Signature")?,
                facility_code,
                date,
                time,
                consent: ConsentChoices {
                    mode: if consent_flag("ComprehensiveConsent")? {
                        ConsentMode::Comprehensive
                    } else {
                        ConsentMode::Individual
                    },
                    medical_treatment: consent_flag("DiagnosisInfoConsFlg")?,
                    medication: consent_flag("PharmacistsInfoConsFlg")?,
                    specific_health_checkup: consent_flag("SpecificHealthCheckupsInfoConsFlg")?,
                    surgery: consent_flag("OperationInfoConsFlg")?,
                    limit_amount: consent_flag("LimitApplicationCertificateRelatedConsFlg")?,
                },
                arbitrary_file_identifier,
                character_code,
            }))
        }
        ReferenceClassification::InsuranceCard => {
            Ok(FileRequest::InsuranceCard(InsuranceCardRequest {
                insurer_number: required(get_body("InsurerNumber"), "InsurerNumber")?,
                symbol: get_body("InsuredCardSymbol").unwrap_or_default(),
                number: required(
                    get_body("InsuredIdentificationNumber"),
                    "InsuredIdentificationNumber",
                )?,
                branch: get_body("InsuredBranchNumber").unwrap_or_else(|| "00".to_owned()),
                birth_date: parse_date(
                    &required(get_body("Birthdate"), "Birthdate")?,
                    "Birthdate",
                )?,
                facility_code,
                date,
                time,
                arbitrary_file_identifier,
                character_code,
            }))
        }
    }
}

fn parse_date(text: &str, element: &'static str) -> Result<NaiveDate, XmlError> {
    // chrono's %Y also takes signed and longer years, which the answer could not write back.
    let eight_digits = text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit());
    eight_digits
        .then(|| NaiveDate::parse_from_str(text, "%Y%m%d").ok())
        .flatten()
        .ok_or_else(|| XmlError::Value {
            element,
            message: format!("{text:?} is not a YYYYMMDD date"),
        })
}

type Fields = BTreeMap<&'static str, String>;

/// Adds one piece of character data to the leaf being read; outside a leaf only white space
/// is allowed.
fn append_piece(
    path: &[String],
    current: Option<&'static str>,
    header: &mut Fields,
    body: &mut Fields,
    piece: &str,
) -> Result<(), XmlError> {
    match (path.len(), current) {
        (3, Some(name)) => {
            let target = if path[1] == "MessageHeader" {
                header
            } else {
                body
            };
            target.entry(name).or_default().push_str(piece);
            Ok(())
        }
        _ if piece.trim().is_empty() => Ok(()),
        _ => Err(XmlError::Layout(format!("text {:?}", piece.trim()))),
    }
}

/// The text of `&name;` (the five predefined entities) or `&#N;` / `&#xN;`.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, XmlError> {
    if let Some(character) = reference
        .resolve_char_ref()
        .map_err(|error| XmlError::Syntax(error.to_string()))?
    {
        return Ok(character.to_string());
    }
    let name = reference
        .decode()
        .map_err(|error| XmlError::Syntax(error.to_string()))?;
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| XmlError::Syntax(format!("unknown entity &{name};")))
}

/// Leaf elements of MessageHeader and MessageBody, strictly checked against the known names.
fn collect_fields(text: &str) -> Result<(Fields, Fields), XmlError> {
    let mut reader = Reader::from_str(text);
    let mut header = Fields::new();
    let mut body = Fields::new();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<&'static str> = None;
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|error| {
            XmlError::Syntax(format!("at byte {}: {error}", reader.error_position()))
        })?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                match path.len() {
                    0 if name == "XmlMsg" && !seen_root => seen_root = true,
                    1 if name == "MessageHeader" || name == "MessageBody" => {}
                    2 => {
                        let (section, valid) = if path[1] == "MessageHeader" {
                            ("MessageHeader", HEADER_FIELDS)
                        } else {
                            ("MessageBody", BODY_FIELDS)
                        };
                        let known = valid.iter().find(|v| **v == name).ok_or_else(|| {
                            XmlError::UnknownElement {
                                section,
                                element: name.clone(),
                                valid: valid.join(", "),
                            }
                        })?;
                        current = Some(known);
                        let target = if section == "MessageHeader" {
                            &mut header
                        } else {
                            &mut body
                        };
                        if target.insert(known, String::new()).is_some() {
                            return Err(XmlError::Duplicate(name));
                        }
                    }
                    _ => return Err(XmlError::Layout(name)),
                }
                path.push(name);
            }
            Event::Empty(empty) => {
                let name = String::from_utf8_lossy(empty.name().as_ref()).into_owned();
                if path.len() != 2 {
                    return Err(XmlError::Layout(name));
                }
            }
            Event::End(_) => {
                if let (3, Some(name)) = (path.len(), current) {
                    let target = if path[1] == "MessageHeader" {
                        &mut header
                    } else {
                        &mut body
                    };
                    if let Some(value) = target.get_mut(name) {
                        let trimmed = value.trim();
                        if trimmed.len() != value.len() {
                            *value = trimmed.to_owned();
                        }
                    }
                }
                path.pop();
                current = None;
            }
            // A value may arrive in pieces (text, entity and character references, CDATA,
            // split by comments): every piece is appended, so `55<!-- -->01` reads `5501`.
            Event::Text(content) => {
                let piece = content
                    .xml10_content()
                    .map_err(|error| XmlError::Syntax(error.to_string()))?;
                append_piece(&path, current, &mut header, &mut body, &piece)?;
            }
            Event::CData(content) => {
                let piece = content
                    .xml10_content()
                    .map_err(|error| XmlError::Syntax(error.to_string()))?;
                append_piece(&path, current, &mut header, &mut body, &piece)?;
            }
            Event::GeneralRef(reference) => {
                let piece = resolve_reference(&reference)?;
                append_piece(&path, current, &mut header, &mut body, &piece)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !seen_root {
        return Err(XmlError::Missing("XmlMsg"));
    }
    if !path.is_empty() {
        return Err(XmlError::Syntax(format!(
            "<{}> is not closed",
            path.join("/")
        )));
    }
    Ok((header, body))
}

/// Writes an answer as the interface's XML, encoded per its CharacterCodeIdentifier.
pub fn response_to_xml(response: &CheckResponse) -> Vec<u8> {
    let shift_jis = response.header.character_code_identifier == CharacterCode::ShiftJis;
    let text = response_to_xml_text(response, if shift_jis { "Shift_JIS" } else { "UTF-8" });
    if shift_jis {
        encode_cp932(&text)
    } else {
        text.into_bytes()
    }
}

/// CP932 bytes; characters CP932 lacks become 〓 (the customary geta mark) rather than numeric
/// character references, which EMR parsers do not expand.
pub fn encode_cp932(text: &str) -> Vec<u8> {
    let (bytes, _, had_errors) = encoding_rs::SHIFT_JIS.encode(text);
    if !had_errors {
        return bytes.into_owned();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut buffer = [0u8; 4];
    for character in text.chars() {
        let (encoded, _, unmappable) =
            encoding_rs::SHIFT_JIS.encode(character.encode_utf8(&mut buffer));
        if unmappable {
            out.extend_from_slice(&encoding_rs::SHIFT_JIS.encode("〓").0);
        } else {
            out.extend_from_slice(&encoded);
        }
    }
    out
}

struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl XmlOut {
    fn open(&mut self, name: &str) {
        let _ = self.writer.write_event(Event::Start(BytesStart::new(name)));
    }
    fn close(&mut self, name: &str) {
        let _ = self.writer.write_event(Event::End(BytesEnd::new(name)));
    }
    /// Inputs are refused when they carry what XML 1.0 cannot; should one slip through, it is
    /// written as U+FFFD so that the answer stays well-formed.
    fn leaf(&mut self, name: &str, value: &str) {
        self.open(name);
        let value: std::borrow::Cow<'_, str> = if first_non_xml10_char(value).is_some() {
            value
                .chars()
                .map(|c| if is_xml10_char(c) { c } else { '\u{FFFD}' })
                .collect::<String>()
                .into()
        } else {
            value.into()
        };
        let _ = self.writer.write_event(Event::Text(BytesText::new(&value)));
        self.close(name);
    }
    fn optional(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.leaf(name, value);
        }
    }
}

/// The XML text (before encoding); `encoding` is the declaration's label.
pub fn response_to_xml_text(response: &CheckResponse, encoding: &str) -> String {
    let mut out = XmlOut {
        writer: Writer::new_with_indent(Vec::new(), b' ', 2),
    };
    let _ = out.writer.write_event(Event::Decl(BytesDecl::new(
        "1.0",
        Some(encoding),
        Some("no"),
    )));
    out.open("XmlMsg");
    let header = &response.header;
    out.open("MessageHeader");
    out.leaf("ProcessExecutionTime", &header.process_execution_time);
    out.leaf(
        "QualificationConfirmationDate",
        &header.qualification_confirmation_date,
    );
    out.leaf("MedicalInstitutionCode", &header.medical_institution_code);
    out.optional(
        "ArbitraryFileIdentifier",
        header.arbitrary_file_identifier.as_deref(),
    );
    out.leaf(
        "ReferenceClassification",
        header.reference_classification.code(),
    );
    out.leaf("SegmentOfResult", header.segment_of_result.code());
    out.optional("ErrorCode", header.error_code.as_deref());
    out.optional("ErrorMessage", header.error_message.as_deref());
    out.leaf(
        "CharacterCodeIdentifier",
        header.character_code_identifier.code(),
    );
    out.close("MessageHeader");
    let body = &response.body;
    out.open("MessageBody");
    out.leaf(
        "ProcessingResultStatus",
        body.processing_result_status.code(),
    );
    out.optional(
        "ProcessingResultCode",
        body.processing_result_code.as_deref(),
    );
    out.optional(
        "ProcessingResultMessage",
        body.processing_result_message.as_deref(),
    );
    out.optional(
        "QualificationValidity",
        body.qualification_validity.map(|validity| validity.code()),
    );
    if !body.result_list.is_empty() {
        out.open("ResultList");
        for result in &body.result_list {
            write_result(&mut out, result);
        }
        out.close("ResultList");
    }
    out.close("MessageBody");
    out.close("XmlMsg");
    let mut text = String::from_utf8_lossy(&out.writer.into_inner()).into_owned();
    text.push('\n');
    text
}

fn write_result(out: &mut XmlOut, r: &QualificationResult) {
    out.open("ResultOfQualificationConfirmation");
    out.leaf("InsuredCardClassification", &r.insured_card_classification);
    out.leaf("InsurerNumber", &r.insurer_number);
    out.optional("InsuredCardSymbol", r.insured_card_symbol.as_deref());
    out.leaf(
        "InsuredIdentificationNumber",
        &r.insured_identification_number,
    );
    out.leaf("InsuredBranchNumber", &r.insured_branch_number);
    out.leaf(
        "PersonalFamilyClassification",
        &r.personal_family_classification,
    );
    out.leaf("Name", &r.name);
    out.leaf("NameKana", &r.name_kana);
    out.leaf("Sex1", &r.sex1);
    out.leaf("Birthdate", &r.birthdate);
    out.optional("Address", r.address.as_deref());
    out.optional("PostNumber", r.post_number.as_deref());
    out.optional("InsuredCardValidDate", r.insured_card_valid_date.as_deref());
    out.optional(
        "InsuredCardExpirationDate",
        r.insured_card_expiration_date.as_deref(),
    );
    out.leaf(
        "InsuredPartialContributionRatio",
        &r.insured_partial_contribution_ratio,
    );
    out.optional(
        "PreschoolClassification",
        r.preschool_classification.as_deref(),
    );
    out.optional("ReasonOfLoss", r.reason_of_loss.as_deref());
    out.leaf("InsurerName", &r.insurer_name);
    out.leaf("QualificationDate", &r.qualification_date);
    out.optional("DisqualificationDate", r.disqualification_date.as_deref());
    if let Some(elderly) = &r.elderly_recipient_certificate_info {
        out.open("ElderlyRecipientCertificateInfo");
        out.leaf(
            "ElderlyRecipientCertificateDate",
            &elderly.elderly_recipient_certificate_date,
        );
        out.leaf(
            "ElderlyRecipientValidStartDate",
            &elderly.elderly_recipient_valid_start_date,
        );
        out.leaf(
            "ElderlyRecipientValidEndDate",
            &elderly.elderly_recipient_valid_end_date,
        );
        out.leaf(
            "ElderlyRecipientContributionRatio",
            &elderly.elderly_recipient_contribution_ratio,
        );
        out.close("ElderlyRecipientCertificateInfo");
    }
    out.optional(
        "LimitApplicationCertificateRelatedConsFlg",
        r.limit_application_certificate_related_cons_flg.as_deref(),
    );
    out.optional(
        "LimitApplicationCertificateRelatedConsTime",
        r.limit_application_certificate_related_cons_time.as_deref(),
    );
    if let Some(limit) = &r.limit_application_certificate_related_info {
        out.open("LimitApplicationCertificateRelatedInfo");
        out.leaf(
            "LimitApplicationCertificateClassification",
            &limit.limit_application_certificate_classification,
        );
        out.leaf(
            "LimitApplicationCertificateClassificationFlag",
            &limit.limit_application_certificate_classification_flag,
        );
        out.leaf(
            "LimitApplicationCertificateDate",
            &limit.limit_application_certificate_date,
        );
        out.leaf(
            "LimitApplicationCertificateValidStartDate",
            &limit.limit_application_certificate_valid_start_date,
        );
        out.leaf(
            "LimitApplicationCertificateValidEndDate",
            &limit.limit_application_certificate_valid_end_date,
        );
        out.close("LimitApplicationCertificateRelatedInfo");
    }
    out.optional(
        "SpecificDiseasesCertificateRelatedConsFlg",
        r.specific_diseases_certificate_related_cons_flg.as_deref(),
    );
    if !r.specific_diseases_certificate_list.is_empty() {
        out.open("SpecificDiseasesCertificateList");
        for disease in &r.specific_diseases_certificate_list {
            out.open("SpecificDiseasesCertificateInfo");
            out.leaf(
                "SpecificDiseasesDiseaseCategory",
                &disease.specific_diseases_disease_category,
            );
            out.leaf(
                "SpecificDiseasesCertificateDate",
                &disease.specific_diseases_certificate_date,
            );
            out.leaf(
                "SpecificDiseasesValidStartDate",
                &disease.specific_diseases_valid_start_date,
            );
            out.leaf(
                "SpecificDiseasesValidEndDate",
                &disease.specific_diseases_valid_end_date,
            );
            out.leaf(
                "SpecificDiseasesSelfPay",
                &disease.specific_diseases_self_pay,
            );
            out.close("SpecificDiseasesCertificateInfo");
        }
        out.close("SpecificDiseasesCertificateList");
    }
    out.optional(
        "SpecificHealthCheckupsInfoConsFlg",
        r.specific_health_checkups_info_cons_flg.as_deref(),
    );
    out.optional(
        "PharmacistsInfoConsFlg",
        r.pharmacists_info_cons_flg.as_deref(),
    );
    out.optional("DiagnosisInfoConsFlg", r.diagnosis_info_cons_flg.as_deref());
    out.optional("OperationInfoConsFlg", r.operation_info_cons_flg.as_deref());
    out.close("ResultOfQualificationConfirmation");
}

//! The interface's XML (`XmlMsg` with `MessageHeader` and `MessageBody`) as EMRs write and read
//! it (docs: `docs/spec/oqs-xml.md`, cited below by section).
//!
//! ## Requests (§2, §3)
//! `OQSsiquc01req_*.xml`: a `MessageHeader` with `QualificationConfirmationDate` (yyyyMMdd),
//! `MedicalInstitutionCode` (10 digits) and optionally `ArbitraryFileIdentifier`, and a
//! `MessageBody` holding the query **inside** `QualificationConfirmSearchInfo`:
//! `InsurerNumber` (8 digits, or 6 unpadded / space- / zero-padded), `InsuredCardSymbol`
//! (optional), `InsuredIdentificationNumber`, `InsuredBranchNumber` (optional, may be empty:
//! any 枝番), `Birthdate`, `LimitApplicationCertificateRelatedConsFlg` (0/1, required: a
//! query without it, or with it empty, is refused naming it) and `ArbitraryIdentifier`
//! (optional, echoed). The keys written directly under `MessageBody`
//! (the harness's former flat layout) are refused with an error saying where they belong;
//! `ReferenceClassification` and `CharacterCodeIdentifier` are result elements and refused in
//! a request (the result encoding is the terminal's setting, `oqs serve --charset`).
//!
//! Harness extensions, which no public client writes:
//! - `MessageHeader/ProcessExecutionTime` (yyyyMMddHHmmss): the scenario clock's time for the
//!   answer (default 00:00:00 of the QualificationConfirmationDate);
//! - a card check by file: `MessageBody/CardCheckInfo` instead of the search info, holding
//!   `IdentityMethod` (`pin` default, `face`, `visual`), `Certificate` (DER hex, required),
//!   `Challenge` / `Signature` (hex; required with `pin`), and the consent flags
//!   `ComprehensiveConsent`, `DiagnosisInfoConsFlg`, `PharmacistsInfoConsFlg`,
//!   `SpecificHealthCheckupsInfoConsFlg`, `OperationInfoConsFlg`,
//!   `LimitApplicationCertificateRelatedConsFlg` (0/1). An empty element counts as absent.
//!
//! Bulk: `OQSmuquc01req_*.xml` has the same header and N × `QualificationConfirmSearchInfo`;
//! `OQSmuquc02req_*.xml` has `MedicalInstitutionCode` and `MessageBody/ReceptionNumber`.
//!
//! ## Results (§4)
//! Header children in the order real files show (§23), body `ResultList` first (§26), optional
//! elements omitted rather than empty, characters raw (never numeric references; only `&`, `<`
//! and `>` escaped, so an `ArbitraryFileIdentifier` comes back exactly as sent, §24), 4-space
//! indentation as in the sample; UTF-8 or CP932 per `CharacterCodeIdentifier`.

use chrono::{NaiveDate, NaiveDateTime};
use quick_xml::escape::{partial_escape, resolve_predefined_entity};
use quick_xml::events::{BytesDecl, BytesEnd, BytesRef, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::oqs::codes::CharacterCode;
use crate::oqs::message::{
    CheckRequest, CheckResponse, ConsentChoices, ConsentMode, IdentityMethod, InsuranceCardRequest,
    QualificationConfirmSearchInfo, QualificationResult,
};
use crate::oqs::xml_elements::{write_element, write_fields, ElementSink, Fields, Unwritable};

/// Why an XML request could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The text is not well-formed XML (the parser's words).
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    /// Undeclared text that reads as neither encoding the terminal writes.
    #[error("the text is neither UTF-8 nor Shift_JIS (CP932)")]
    Encoding,
    /// A document declared UTF-8 (or with its byte-order mark) holding an invalid sequence.
    #[error("the document declares encoding=\"UTF-8\" (or starts with its byte-order mark), but byte {offset} (0x{byte:02X}) starts an invalid UTF-8 sequence")]
    InvalidUtf8 {
        /// Where the invalid sequence starts, counted in bytes from the file's start.
        offset: usize,
        /// The byte found there.
        byte: u8,
    },
    /// Text the answer's character set cannot carry (it would come back as 〓).
    #[error("<{element}> holds {character}, which {charset} (the terminal's --charset) cannot carry; the answer returns it exactly or not at all")]
    Unencodable {
        /// The element holding it.
        element: String,
        /// The character, with its code point.
        character: String,
        /// The terminal's `--charset`.
        charset: &'static str,
    },
    /// The request is larger than its documented limits (size, persons, children, names).
    #[error("{what}; at most {limit}")]
    TooLarge {
        /// What is too large, and how large it is.
        what: String,
        /// The limit, as documented.
        limit: String,
    },
    /// The root or a top-level element is not the request layout.
    #[error("unexpected element <{0}>; expected XmlMsg/MessageHeader|MessageBody/…")]
    Layout(String),
    /// An element the section does not know.
    #[error("unknown element <{element}> in {section}; valid: {valid}")]
    UnknownElement {
        /// Where it was found.
        section: &'static str,
        /// The element's name (an excerpt when long).
        element: String,
        /// The elements that section takes.
        valid: String,
    },
    /// A key written directly under MessageBody (an old layout) instead of in its container.
    #[error("<{element}> directly under MessageBody is the old flat layout: the keys belong inside MessageBody/{belongs} (<XmlMsg><MessageBody><{belongs}><{element}>…)")]
    FlatLayout {
        /// The key found directly under MessageBody.
        element: String,
        /// The element it belongs in.
        belongs: &'static str,
    },
    /// An answer's element sent in a request.
    #[error("<{element}> is not part of a request: {why}")]
    NotInRequest {
        /// The element.
        element: String,
        /// Why it belongs to answers only.
        why: &'static str,
    },
    /// An element that may appear once, twice.
    #[error("<{0}> appears twice")]
    Duplicate(String),
    /// A required element is absent.
    #[error("missing <{0}>")]
    Missing(&'static str),
    /// A required element is absent, with why it is required (what the answer would lack).
    #[error("missing <{element}> in {section}: {why}")]
    MissingRequired {
        /// The element.
        element: &'static str,
        /// Where it belongs.
        section: &'static str,
        /// Why it is required.
        why: &'static str,
    },
    /// An element whose value is not what the interface allows.
    #[error("<{element}>: {message}")]
    Value {
        /// The element.
        element: &'static str,
        /// What is wrong with its value.
        message: String,
    },
}

/// What a syntax error's text ends with when the document ended early (an unclosed element,
/// tag or comment at the end): a writer may still be writing it.
const ENDS_EARLY: &str = " (the document ends early)";

impl XmlError {
    /// Whether the document ended early rather than being wrong where it ends.
    pub(crate) fn ends_early(&self) -> bool {
        matches!(self, XmlError::Syntax(detail) if detail.ends_with(ENDS_EARLY))
    }
}

/// A request file: a card check (harness extension) or a 被保険者証 lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRequest {
    /// A card check (`OQSsiquc01req` with a card's certificate and signature; harness extension).
    Card(CheckRequest),
    /// A 被保険者証 lookup by insurer number, symbol and number.
    InsuranceCard(InsuranceCardRequest),
}

/// An `OQSmuquc01req` upload: one query per `QualificationConfirmSearchInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkUpload {
    /// The uploading facility's 医療機関コード.
    pub(crate) facility_code: String,
    /// QualificationConfirmationDate of every query.
    pub(crate) date: NaiveDate,
    /// `ArbitraryFileIdentifier`, answered exactly as sent.
    pub(crate) arbitrary_file_identifier: Option<String>,
    /// One query per person, in file order.
    pub queries: Vec<InsuranceCardRequest>,
}

/// An `OQSmuquc02req` download request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkDownload {
    /// The downloading facility's 医療機関コード.
    pub(crate) facility_code: String,
    /// The 受付番号 the upload was given.
    pub reception_number: String,
}

/// At most this many persons in one bulk upload (the real limit is not public).
pub(crate) const MAX_BULK_QUERIES: usize = 10_000;

pub(crate) const SEARCH_INFO: &str = "QualificationConfirmSearchInfo";
const CARD_CHECK_INFO: &str = "CardCheckInfo";

const HEADER_FIELDS: &[&str] = &[
    "QualificationConfirmationDate",
    "MedicalInstitutionCode",
    "ArbitraryFileIdentifier",
    "ProcessExecutionTime",
];

const SEARCH_FIELDS: &[&str] = &[
    "InsurerNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "Birthdate",
    "LimitApplicationCertificateRelatedConsFlg",
    "ArbitraryIdentifier",
];

const CARD_FIELDS: &[&str] = &[
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

/// Result elements a request does not carry, and why.
const RESULT_ONLY: &[(&str, &str)] = &[
    ("ReferenceClassification", "a request's kind follows from its body (QualificationConfirmSearchInfo: 被保険者証情報)"),
    ("CharacterCodeIdentifier", "the result encoding is a setting of the terminal (oqs serve --charset), not of the request"),
    ("SegmentOfResult", "it is a result element"),
];

/// Deepest nesting a request may have (XmlMsg/MessageBody/QualificationConfirmSearchInfo/key).
const MAX_DEPTH: usize = 4;

/// The longest element name read: every name of the layout is shorter, and a longer one is
/// quoted in error messages only as an excerpt (a 20 MB name once made 20 MB error files).
pub(crate) const MAX_NAME_BYTES: usize = 64;

/// The most children any element but MessageBody may hold: a header or a query has fewer
/// than 20 fields. With [`MAX_BULK_QUERIES`] under MessageBody, this bounds the tree while it
/// is read (a 40 MB file of empty elements once built a 1.8 GB tree before any check).
pub(crate) const MAX_CHILDREN: usize = 32;

/// Longest excerpt of a name or value quoted in a message.
const MAX_QUOTED_BYTES: usize = 64;

/// `text` for a message: as is when short, else its first bytes (at a character boundary)
/// and its whole length, so messages stay small whatever the input.
pub(crate) fn excerpt(text: &str) -> String {
    excerpt_message(text, MAX_QUOTED_BYTES)
}

/// The first `limit` bytes of `text`, cut back to a character boundary.
fn head(text: &str, limit: usize) -> &str {
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` quoted for a message, an excerpt with its length when long.
fn quoted(text: &str) -> String {
    if text.len() <= MAX_QUOTED_BYTES {
        return format!("{text:?}");
    }
    format!("{:?}… ({} bytes)", head(text, MAX_QUOTED_BYTES), text.len())
}

/// A whole message cut to a readable length (messages built by other modules quote values
/// whole).
fn shortened_message(message: String) -> String {
    excerpt_message(&message, 512)
}

/// `message` cut to at most `limit` bytes (at a character boundary), saying how long it was.
pub(crate) fn excerpt_message(message: &str, limit: usize) -> String {
    if message.len() <= limit {
        return message.to_owned();
    }
    format!("{}… ({} bytes)", head(message, limit), message.len())
}

/// One element of a request: its children, or its text (raw, as the request wrote it).
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }
}

/// The leaves of one element, checked against the names it may hold.
struct Leaves<'a> {
    values: Vec<(&'static str, &'a str)>,
}

impl<'a> Leaves<'a> {
    fn of(
        element: &'a Element,
        section: &'static str,
        valid: &[&'static str],
    ) -> Result<Leaves<'a>, XmlError> {
        let mut values: Vec<(&'static str, &'a str)> = Vec::new();
        for child in &element.children {
            if let Some((_, why)) = RESULT_ONLY.iter().find(|(name, _)| *name == child.name) {
                return Err(XmlError::NotInRequest {
                    element: child.name.clone(),
                    why,
                });
            }
            let known = valid
                .iter()
                .find(|name| **name == child.name)
                .ok_or_else(|| XmlError::UnknownElement {
                    section,
                    element: child.name.clone(),
                    valid: valid.join(", "),
                })?;
            if !child.children.is_empty() {
                return Err(XmlError::Layout(format!(
                    "{section}/{}/{}",
                    child.name, child.children[0].name
                )));
            }
            if values.iter().any(|(name, _)| name == known) {
                return Err(XmlError::Duplicate(child.name.clone()));
            }
            if let Some(character) = first_non_xml10_char(&child.text) {
                return Err(XmlError::Value {
                    element: known,
                    message: format!(
                        "contains U+{:04X}, which XML 1.0 cannot carry",
                        u32::from(character)
                    ),
                });
            }
            values.push((known, &child.text));
        }
        Ok(Leaves { values })
    }

    /// The value as written (untrimmed).
    fn raw(&self, name: &str) -> Option<&'a str> {
        self.values
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| *value)
    }

    /// The value trimmed; an empty element counts as absent.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.raw(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<&'a str, XmlError> {
        self.get(name).ok_or(XmlError::Missing(name))
    }

    fn flag(&self, name: &'static str, absent: bool) -> Result<bool, XmlError> {
        match self.get(name) {
            None => Ok(absent),
            Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(XmlError::Value {
                element: name,
                message: format!("{} is not 0 or 1", quoted(other)),
            }),
        }
    }
}

/// The header every request kind shares.
struct Header {
    facility_code: String,
    date: NaiveDate,
    time: Option<chrono::NaiveTime>,
    arbitrary_file_identifier: Option<String>,
}

fn read_header(root: &Element, needs_date: bool) -> Result<Header, XmlError> {
    let header = root
        .child("MessageHeader")
        .ok_or(XmlError::Missing("MessageHeader"))?;
    let leaves = Leaves::of(header, "MessageHeader", HEADER_FIELDS)?;
    let facility_code = leaves.required("MedicalInstitutionCode")?.to_owned();
    let date = match (leaves.get("QualificationConfirmationDate"), needs_date) {
        (Some(text), _) => parse_date(text, "QualificationConfirmationDate")?,
        (None, true) => return Err(XmlError::Missing("QualificationConfirmationDate")),
        (None, false) => NaiveDate::MIN,
    };
    let time = match leaves.get("ProcessExecutionTime") {
        None => None,
        Some(text) => Some(
            NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
                .map_err(|_| XmlError::Value {
                    element: "ProcessExecutionTime",
                    message: format!("{} is not YYYYMMDDHHMMSS", quoted(text)),
                })?
                .time(),
        ),
    };
    // Returned exactly as sent: EMRs pair answers by this element's exact text (§24).
    let arbitrary_file_identifier = leaves
        .raw("ArbitraryFileIdentifier")
        .filter(|value| !value.is_empty())
        .map(str::to_owned);
    Ok(Header {
        facility_code,
        date,
        time,
        arbitrary_file_identifier,
    })
}

/// The children of MessageBody, refusing the old flat layout with where the keys belong.
fn body_of(root: &Element) -> Result<&Element, XmlError> {
    let body = root
        .child("MessageBody")
        .ok_or(XmlError::Missing("MessageBody"))?;
    for child in &body.children {
        let belongs = if SEARCH_FIELDS.contains(&child.name.as_str()) {
            Some(SEARCH_INFO)
        } else if CARD_FIELDS.contains(&child.name.as_str()) {
            Some(CARD_CHECK_INFO)
        } else {
            None
        };
        if let (Some(belongs), true) = (belongs, child.children.is_empty()) {
            return Err(XmlError::FlatLayout {
                element: child.name.clone(),
                belongs,
            });
        }
    }
    Ok(body)
}

fn read_search_info(element: &Element, header: &Header) -> Result<InsuranceCardRequest, XmlError> {
    let leaves = Leaves::of(element, SEARCH_INFO, SEARCH_FIELDS)?;
    let insurer_number = leaves.required("InsurerNumber")?;
    crate::oqs::insurer::canonical_insurer_number(insurer_number).map_err(|message| {
        XmlError::Value {
            element: "InsurerNumber",
            message: if insurer_number.len() > MAX_QUOTED_BYTES {
                format!(
                    "{} is not an insurer number (保険者番号: 8 ASCII digits, or 6)",
                    quoted(insurer_number)
                )
            } else {
                shortened_message(message)
            },
        }
    })?;
    let birth_date = parse_date(leaves.required("Birthdate")?, "Birthdate")?;
    let branch = leaves.get("InsuredBranchNumber").unwrap_or_default();
    let branch_ok =
        branch.is_empty() || (branch.len() == 2 && branch.bytes().all(|b| b.is_ascii_digit()));
    if !branch_ok {
        return Err(XmlError::Value {
            element: "InsuredBranchNumber",
            message: format!("{} is not 2 digits (or empty)", quoted(branch)),
        });
    }
    let echo = QualificationConfirmSearchInfo {
        insurer_number: leaves.raw("InsurerNumber").unwrap_or_default().to_owned(),
        insured_card_symbol: leaves.raw("InsuredCardSymbol").map(str::to_owned),
        insured_identification_number: leaves
            .raw("InsuredIdentificationNumber")
            .unwrap_or_default()
            .to_owned(),
        insured_branch_number: leaves.raw("InsuredBranchNumber").map(str::to_owned),
        birthdate: leaves.raw("Birthdate").unwrap_or_default().to_owned(),
        limit_application_certificate_related_cons_flg: leaves
            .raw("LimitApplicationCertificateRelatedConsFlg")
            .map(str::to_owned),
        arbitrary_identifier: leaves.raw("ArbitraryIdentifier").map(str::to_owned),
    };
    Ok(InsuranceCardRequest {
        insurer_number: insurer_number.to_owned(),
        symbol: leaves
            .get("InsuredCardSymbol")
            .unwrap_or_default()
            .to_owned(),
        number: leaves.required("InsuredIdentificationNumber")?.to_owned(),
        branch: branch.to_owned(),
        birth_date,
        facility_code: header.facility_code.clone(),
        date: header.date,
        time: header.time,
        arbitrary_file_identifier: header.arbitrary_file_identifier.clone(),
        character_code: CharacterCode::default(),
        limit_consent: limit_consent(&leaves)?,
        echo: Some(echo),
    })
}

/// The query's `LimitApplicationCertificateRelatedConsFlg`, which is required: the public
/// models make it so (docs/spec/oqs-xml.md §15), and the answer echoes the query with it
/// (§27), so a query without it would get an echo that strict EMR parsers reject. Such a query
/// is refused rather than answered with an invented value.
fn limit_consent(leaves: &Leaves<'_>) -> Result<bool, XmlError> {
    const FLAG: &str = "LimitApplicationCertificateRelatedConsFlg";
    if leaves.get(FLAG).is_none() {
        return Err(XmlError::MissingRequired {
            element: FLAG,
            section: SEARCH_INFO,
            why: "the public models require it (0 or 1; clients send 1) and the answer echoes \
                  the query with it",
        });
    }
    leaves.flag(FLAG, true)
}

fn read_card_check(element: &Element, header: Header) -> Result<CheckRequest, XmlError> {
    let leaves = Leaves::of(element, CARD_CHECK_INFO, CARD_FIELDS)?;
    let hex = |name: &'static str, text: &str| -> Result<Vec<u8>, XmlError> {
        hex::decode(text).map_err(|error| XmlError::Value {
            element: name,
            message: format!("not hexadecimal: {error}"),
        })
    };
    let optional_hex = |name: &'static str| -> Result<Option<Vec<u8>>, XmlError> {
        leaves.get(name).map(|text| hex(name, text)).transpose()
    };
    let identity = match leaves.get("IdentityMethod") {
        None => IdentityMethod::default(),
        Some(name) => IdentityMethod::from_name(name).ok_or(XmlError::Value {
            element: "IdentityMethod",
            message: format!("{} is not pin, face or visual", quoted(name)),
        })?,
    };
    Ok(CheckRequest {
        // Nothing phone-specific in the XML (docs/smartphone.md): the certificate tells.
        smartphone: None,
        identity,
        challenge: optional_hex("Challenge")?,
        certificate: hex("Certificate", leaves.required("Certificate")?)?,
        signature: optional_hex("Signature")?,
        facility_code: header.facility_code,
        date: header.date,
        time: header.time,
        consent: ConsentChoices {
            mode: if leaves.flag("ComprehensiveConsent", false)? {
                ConsentMode::Comprehensive
            } else {
                ConsentMode::Individual
            },
            medical_treatment: leaves.flag("DiagnosisInfoConsFlg", false)?,
            medication: leaves.flag("PharmacistsInfoConsFlg", false)?,
            specific_health_checkup: leaves.flag("SpecificHealthCheckupsInfoConsFlg", false)?,
            surgery: leaves.flag("OperationInfoConsFlg", false)?,
            limit_amount: leaves.flag("LimitApplicationCertificateRelatedConsFlg", false)?,
        },
        arbitrary_file_identifier: header.arbitrary_file_identifier,
        character_code: CharacterCode::default(),
    })
}

/// Parses an `OQSsiquc01req` file: one `QualificationConfirmSearchInfo` (被保険者証情報) or,
/// the harness's extension, one `CardCheckInfo`.
pub fn parse_request(bytes: &[u8]) -> Result<FileRequest, XmlError> {
    let root = read_tree(&decode(bytes)?)?;
    let header = read_header(&root, true)?;
    let body = body_of(&root)?;
    let mut wanted = body.children.iter();
    let (Some(only), None) = (wanted.next(), wanted.next()) else {
        return Err(match body.children.len() {
            0 => XmlError::Missing("QualificationConfirmSearchInfo"),
            _ => XmlError::Layout(format!(
                "MessageBody holds {} elements; a single request holds one {SEARCH_INFO}",
                body.children.len()
            )),
        });
    };
    match only.name.as_str() {
        SEARCH_INFO => Ok(FileRequest::InsuranceCard(read_search_info(only, &header)?)),
        CARD_CHECK_INFO => Ok(FileRequest::Card(read_card_check(only, header)?)),
        other => Err(XmlError::UnknownElement {
            section: "MessageBody",
            element: other.to_owned(),
            valid: format!("{SEARCH_INFO}, {CARD_CHECK_INFO} (harness extension)"),
        }),
    }
}

/// Refuses a request whose text the answer's encoding cannot carry, naming the element: the
/// answer returns values such as ArbitraryFileIdentifier exactly (§24), and writing 〓 in
/// their place answered `受付-😀` and `受付-😉` with one identifier. UTF-8 carries all.
pub fn check_encodable(bytes: &[u8], code: CharacterCode) -> Result<(), XmlError> {
    if code == CharacterCode::Utf8 {
        return Ok(());
    }
    fn walk(element: &Element) -> Result<(), XmlError> {
        let mut buffer = [0u8; 4];
        for character in element.text.chars().filter(|c| !c.is_ascii()) {
            let (_, _, unmappable) =
                encoding_rs::SHIFT_JIS.encode(character.encode_utf8(&mut buffer));
            if unmappable {
                return Err(XmlError::Unencodable {
                    element: element.name.clone(),
                    character: format!("U+{:04X} ({character})", u32::from(character)),
                    charset: "Shift_JIS",
                });
            }
        }
        element.children.iter().try_for_each(walk)
    }
    walk(&read_tree(&decode(bytes)?)?)
}

/// Parses an `OQSmuquc01req` upload: N × `QualificationConfirmSearchInfo`.
pub fn parse_bulk_upload(bytes: &[u8]) -> Result<BulkUpload, XmlError> {
    let root = read_tree(&decode(bytes)?)?;
    let header = read_header(&root, true)?;
    let body = body_of(&root)?;
    let mut queries = Vec::new();
    for child in &body.children {
        if child.name != SEARCH_INFO {
            return Err(XmlError::UnknownElement {
                section: "MessageBody",
                element: child.name.clone(),
                valid: SEARCH_INFO.to_owned(),
            });
        }
        queries.push(read_search_info(child, &header)?);
    }
    if queries.is_empty() {
        return Err(XmlError::Missing("QualificationConfirmSearchInfo"));
    }
    if queries.len() > MAX_BULK_QUERIES {
        return Err(XmlError::Value {
            element: "QualificationConfirmSearchInfo",
            message: format!(
                "{} persons; at most {MAX_BULK_QUERIES} in one upload",
                queries.len()
            ),
        });
    }
    Ok(BulkUpload {
        facility_code: header.facility_code,
        date: header.date,
        arbitrary_file_identifier: header.arbitrary_file_identifier,
        queries,
    })
}

/// Parses an `OQSmuquc02req` download request.
pub fn parse_bulk_download(bytes: &[u8]) -> Result<BulkDownload, XmlError> {
    let root = read_tree(&decode(bytes)?)?;
    let header = read_header(&root, false)?;
    let body = root
        .child("MessageBody")
        .ok_or(XmlError::Missing("MessageBody"))?;
    let leaves = Leaves::of(body, "MessageBody", &["ReceptionNumber"])?;
    Ok(BulkDownload {
        facility_code: header.facility_code,
        reception_number: leaves.required("ReceptionNumber")?.to_owned(),
    })
}

fn parse_date(text: &str, element: &'static str) -> Result<NaiveDate, XmlError> {
    // chrono's %Y also takes signed and longer years, which the answer could not write back.
    let eight_digits = text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit());
    eight_digits
        .then(|| NaiveDate::parse_from_str(text, "%Y%m%d").ok())
        .flatten()
        .ok_or_else(|| XmlError::Value {
            element,
            message: format!("{} is not a YYYYMMDD date", quoted(text)),
        })
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

/// Adds character data to the open element; an element with children holds only white space.
fn append_text(open: &mut [Element], piece: &str) -> Result<(), XmlError> {
    match open.last_mut() {
        Some(element) => {
            element.text.push_str(piece);
            Ok(())
        }
        None if piece.trim().is_empty() => Ok(()),
        None => Err(XmlError::Layout(format!("text {}", quoted(piece.trim())))),
    }
}

/// Reads the document into elements: one root `XmlMsg`, at most [`MAX_DEPTH`] levels, text
/// only in leaves. A value may arrive in pieces (text, references, CDATA, split by comments):
/// every piece is appended, so `55<!-- -->01` reads `5501`.
fn read_tree(text: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(text);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let attach = |open: &mut Vec<Element>, root: &mut Option<Element>, element: Element| {
        let depth_of_parent = open.len();
        match open.last_mut() {
            Some(parent) => {
                admit_child(parent, depth_of_parent)?;
                if !parent.text.trim().is_empty() {
                    return Err(XmlError::Layout(format!(
                        "text {} beside <{}>",
                        quoted(parent.text.trim()),
                        element.name
                    )));
                }
                parent.children.push(element);
                Ok(())
            }
            None if root.is_none() && element.name == "XmlMsg" => {
                *root = Some(element);
                Ok(())
            }
            None => Err(XmlError::Layout(element.name)),
        }
    };
    loop {
        let event = reader.read_event().map_err(|error| {
            let at = reader.error_position();
            let detail = excerpt(&format!("at byte {at}: {error}"));
            // quick-xml's errors at the very end are those of a document cut short (an
            // unclosed tag, comment or declaration): a writer may still be writing it.
            if at as usize >= text.trim_end().len() || is_unexpected_end(&error) {
                XmlError::Syntax(format!("{detail}{ENDS_EARLY}"))
            } else {
                XmlError::Syntax(detail)
            }
        })?;
        match event {
            Event::Start(start) => {
                let name = element_name(start.name().as_ref())?;
                if open.is_empty() && (root.is_some() || name != "XmlMsg") {
                    return Err(XmlError::Layout(name));
                }
                if open.len() >= MAX_DEPTH {
                    return Err(XmlError::Layout(name));
                }
                if open
                    .last()
                    .is_some_and(|parent| !parent.text.trim().is_empty())
                {
                    return Err(XmlError::Layout(format!("text beside <{name}>")));
                }
                open.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(empty) => {
                let name = element_name(empty.name().as_ref())?;
                if open.len() >= MAX_DEPTH {
                    return Err(XmlError::Layout(name));
                }
                attach(
                    &mut open,
                    &mut root,
                    Element {
                        name,
                        ..Element::default()
                    },
                )?;
            }
            Event::End(_) => {
                if let Some(mut element) = open.pop() {
                    if !element.children.is_empty() {
                        if !element.text.trim().is_empty() {
                            return Err(XmlError::Layout(format!(
                                "text {} in <{}>",
                                quoted(element.text.trim()),
                                element.name
                            )));
                        }
                        element.text.clear();
                    }
                    attach(&mut open, &mut root, element)?;
                }
            }
            Event::Text(content) => {
                let piece = content
                    .xml10_content()
                    .map_err(|error| XmlError::Syntax(excerpt(&error.to_string())))?;
                append_text(&mut open, &piece)?;
            }
            Event::CData(content) => {
                let piece = content
                    .xml10_content()
                    .map_err(|error| XmlError::Syntax(excerpt(&error.to_string())))?;
                append_text(&mut open, &piece)?;
            }
            Event::GeneralRef(reference) => {
                let piece = resolve_reference(&reference)?;
                append_text(&mut open, &piece)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(element) = open.last() {
        return Err(XmlError::Syntax(format!(
            "<{}> is not closed{ENDS_EARLY}",
            element.name
        )));
    }
    let root = match root {
        Some(root) => root,
        // Nothing but white space (or a declaration) yet: a file just created.
        None if text.trim().is_empty() => {
            return Err(XmlError::Syntax(format!("no <XmlMsg> yet{ENDS_EARLY}")))
        }
        None => return Err(XmlError::Missing("XmlMsg")),
    };
    for child in &root.children {
        if child.name != "MessageHeader" && child.name != "MessageBody" {
            return Err(XmlError::Layout(child.name.clone()));
        }
        if root
            .children
            .iter()
            .filter(|c| c.name == child.name)
            .count()
            > 1
        {
            return Err(XmlError::Duplicate(child.name.clone()));
        }
    }
    Ok(root)
}

/// An element's name, refused when longer than any name of the layout could be.
fn element_name(raw: &[u8]) -> Result<String, XmlError> {
    let name = String::from_utf8_lossy(raw);
    if name.len() > MAX_NAME_BYTES {
        return Err(XmlError::TooLarge {
            what: format!(
                "an element name of {} bytes (<{}>)",
                name.len(),
                excerpt(&name)
            ),
            limit: format!("{MAX_NAME_BYTES} bytes"),
        });
    }
    Ok(name.into_owned())
}

/// Whether `parent` (at depth `depth`: 1 for XmlMsg) may take one more child: MessageBody
/// holds at most [`MAX_BULK_QUERIES`] persons, any other element [`MAX_CHILDREN`], counted
/// while reading so that the tree never grows past them.
fn admit_child(parent: &Element, depth: usize) -> Result<(), XmlError> {
    let held = parent.children.len();
    if depth == 2 && parent.name == "MessageBody" {
        if held >= MAX_BULK_QUERIES {
            return Err(XmlError::Value {
                element: SEARCH_INFO,
                message: format!(
                    "more than {MAX_BULK_QUERIES} persons; at most {MAX_BULK_QUERIES} in one upload"
                ),
            });
        }
    } else if held >= MAX_CHILDREN {
        return Err(XmlError::TooLarge {
            what: format!("more than {MAX_CHILDREN} elements in <{}>", parent.name),
            limit: format!("{MAX_CHILDREN}"),
        });
    }
    Ok(())
}

/// Whether quick-xml stopped because the text ended inside a construct.
fn is_unexpected_end(error: &quick_xml::Error) -> bool {
    matches!(error, quick_xml::Error::Syntax(syntax) if *syntax != quick_xml::errors::SyntaxError::InvalidBangMarkup)
}

/// Whether the prolog says the document is UTF-8: a byte-order mark, or
/// `<?xml ... encoding="UTF-8"?>` (any case, either quote).
fn declares_utf8(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return true;
    }
    if !bytes.starts_with(b"<?xml") {
        return false;
    }
    let prolog = &bytes[..bytes.len().min(256)];
    let Some(end) = prolog.windows(2).position(|pair| pair == b"?>") else {
        return false;
    };
    let declaration = String::from_utf8_lossy(&prolog[..end]).to_ascii_lowercase();
    let Some(at) = declaration.find("encoding") else {
        return false;
    };
    let value = declaration[at + "encoding".len()..]
        .trim_start()
        .trim_start_matches('=')
        .trim_start()
        .trim_start_matches(['"', '\'']);
    value.starts_with("utf-8") || value.starts_with("utf8")
}

/// Decodes UTF-8 (with or without BOM), else CP932. A document that declares UTF-8 and is not
/// is refused at the first bad byte rather than read as CP932 (which garbled its text).
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    let declared_utf8 = declares_utf8(bytes);
    let bom = usize::from(bytes.starts_with(b"\xEF\xBB\xBF")) * 3;
    let bytes = &bytes[bom..];
    match std::str::from_utf8(bytes) {
        Ok(text) => return Ok(text.to_owned()),
        Err(error) if declared_utf8 => {
            let offset = error.valid_up_to();
            return Err(XmlError::InvalidUtf8 {
                offset: offset + bom,
                byte: bytes.get(offset).copied().unwrap_or_default(),
            });
        }
        Err(_) => {}
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
pub(crate) fn first_non_xml10_char(text: &str) -> Option<char> {
    text.chars().find(|character| !is_xml10_char(*character))
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

/// Writes an answer as the interface's XML, encoded per its CharacterCodeIdentifier.
pub fn response_to_xml(response: &CheckResponse) -> Vec<u8> {
    let shift_jis = response.header.character_code_identifier == CharacterCode::ShiftJis;
    let text = response_to_xml_text(response, if shift_jis { "Shift_JIS" } else { "UTF-8" });
    encode_as(&text, response.header.character_code_identifier)
}

/// `text` in the encoding `code` names.
pub(crate) fn encode_as(text: &str, code: CharacterCode) -> Vec<u8> {
    match code {
        CharacterCode::ShiftJis => encode_cp932(text),
        CharacterCode::Utf8 => text.as_bytes().to_vec(),
    }
}

/// The declaration's label for `code`.
pub(crate) fn encoding_label(code: CharacterCode) -> &'static str {
    match code {
        CharacterCode::ShiftJis => "Shift_JIS",
        CharacterCode::Utf8 => "UTF-8",
    }
}

/// An XML writer with the layout of real files (4-space indentation, raw characters).
pub(crate) struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl XmlOut {
    /// Starts a document declared in `encoding`.
    pub(crate) fn new(encoding: &str) -> XmlOut {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 4);
        let _ = writer.write_event(Event::Decl(BytesDecl::new(
            "1.0",
            Some(encoding),
            Some("no"),
        )));
        XmlOut { writer }
    }
    /// The text written so far, ending with a line feed.
    pub(crate) fn finish(self) -> String {
        let mut text = String::from_utf8_lossy(&self.writer.into_inner()).into_owned();
        text.push('\n');
        text
    }
    pub(crate) fn open(&mut self, name: &str) {
        let _ = self.writer.write_event(Event::Start(BytesStart::new(name)));
    }
    pub(crate) fn close(&mut self, name: &str) {
        let _ = self.writer.write_event(Event::End(BytesEnd::new(name)));
    }
    /// Only `&`, `<` and `>` are escaped, so values come back as clients wrote them. Inputs
    /// are refused when they carry what XML 1.0 cannot; should one slip through, it is written
    /// as U+FFFD so that the answer stays well-formed.
    pub(crate) fn leaf(&mut self, name: &str, value: &str) {
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
        let _ = self
            .writer
            .write_event(Event::Text(BytesText::from_escaped(partial_escape(value))));
        self.close(name);
    }
    /// An element with no value is omitted, never written empty.
    pub(crate) fn optional(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.leaf(name, value);
        }
    }
}

/// `MessageHeader`'s children in the order real files show (§23), not the model's order; every
/// parser seen ignores order.
const HEADER_ORDER: &[&str] = &[
    "ProcessExecutionTime",
    "CharacterCodeIdentifier",
    "SegmentOfResult",
    "ErrorCode",
    "ErrorMessage",
    "QualificationConfirmationDate",
    "ReferenceClassification",
    "ArbitraryFileIdentifier",
    "MedicalInstitutionCode",
];

/// The body's list of results, written first in a single answer (§26) and unwrapped in a bulk
/// one.
pub(crate) const RESULT_LIST: &str = "ResultList";

impl ElementSink for XmlOut {
    fn open(&mut self, name: &str) {
        XmlOut::open(self, name);
    }
    fn close(&mut self, name: &str) {
        XmlOut::close(self, name);
    }
    fn leaf(&mut self, name: &str, value: &str) {
        XmlOut::leaf(self, name, value);
    }
}

/// The XML text (before encoding); `encoding` is the declaration's label.
pub fn response_to_xml_text(response: &CheckResponse, encoding: &str) -> String {
    let mut out = XmlOut::new(encoding);
    out.open("XmlMsg");
    out.open("MessageHeader");
    for name in HEADER_ORDER {
        written(write_fields(&mut out, &response.header, Fields::Only(name)));
    }
    out.close("MessageHeader");
    out.open("MessageBody");
    let body = &response.body;
    written(write_fields(&mut out, body, Fields::Only(RESULT_LIST)));
    written(write_fields(&mut out, body, Fields::AllBut(&[RESULT_LIST])));
    out.close("MessageBody");
    out.close("XmlMsg");
    out.finish()
}

/// `ResultOfQualificationConfirmation` in the order of the public models (§4.3).
pub(crate) fn write_result(out: &mut XmlOut, result: &QualificationResult) {
    written(write_element(out, result));
}

/// The message models hold only what the element writer takes (the snapshot tests write every
/// kind of answer), so a refusal is a mistake in the models, never in the input: like XmlOut's
/// writes into a `Vec`, it is not an error an answer can carry.
pub(crate) fn written(result: Result<(), Unwritable>) {
    debug_assert!(result.is_ok(), "{result:?}");
}

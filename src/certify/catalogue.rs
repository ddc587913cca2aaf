//! The requirement catalogue (`certify/requirements.yaml`): what a device must (or should) do,
//! why, where the rule comes from, and the predicate that judges it.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// How binding a requirement is: a failed `must` fails the certification (exit 1), a failed
/// `should` is reported but does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Level {
    Must,
    Should,
}

impl Level {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
        }
    }
}

/// A question for the person at the device, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Question {
    pub(crate) ja: String,
    pub(crate) en: String,
    /// The answer a conforming device earns.
    #[serde(default = "yes")]
    pub(crate) expect_yes: bool,
}

fn yes() -> bool {
    true
}

/// One requirement as written in the catalogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequirementDoc {
    pub(crate) id: Spanned<String>,
    pub(crate) title: String,
    pub(crate) rationale: String,
    /// A section of the shared spec (`docs/spec/card-apdu.md §4`) or a field failure.
    pub(crate) source: String,
    pub(crate) level: Level,
    pub(crate) judge: Predicate,
    /// Asked in interactive mode instead of the driver's report, for what only a person sees.
    #[serde(default)]
    pub(crate) question: Option<Question>,
}

/// The catalogue file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogueDoc {
    pub(crate) requirements: Vec<RequirementDoc>,
}

/// A validated requirement.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) rationale: String,
    pub(crate) source: String,
    pub(crate) level: Level,
    pub(crate) judge: Predicate,
    pub(crate) question: Option<Question>,
}

/// A file of the card, by application and file identifier (hex in YAML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRef {
    /// Application identifier, hex (`D392F000260100000001` is JPKI).
    pub(crate) aid: String,
    /// EF identifier, 4 hex digits.
    pub(crate) file: String,
}

/// A card answer a device must cope with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Provocation {
    /// READ BINARY answered `6B 00` (offset past the end of the file).
    #[serde(rename = "end_of_file_6b00")]
    EndOfFile6B00,
    /// READ BINARY answered `90 00` with fewer bytes than Le asked for.
    ShortLastChunk,
    /// Any answer `61 xx` (more data through GET RESPONSE).
    #[serde(rename = "bytes_available_61xx")]
    BytesAvailable61xx,
    /// Any answer `6C xx` (re-send with Le = xx).
    #[serde(rename = "wrong_length_6cxx")]
    WrongLength6Cxx,
    /// The card was removed by the harness while the device was talking to it.
    Removal,
}

/// The predicates the judge knows, with their parameters. Each is evaluated per case over
/// what the harness observed (exchange log, qualification-system calls, the device's reports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "predicate", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Predicate {
    /// No READ BINARY / SELECT EF before the application `aid` was selected successfully
    /// since the card was powered.
    SelectsBeforeRead { aid: String },
    /// The file was read (SELECT EF then READ BINARY answered `90 00`).
    ReadsFile { file: FileRef },
    /// None of these files is ever read (even an attempt counts).
    NeverReads { files: Vec<FileRef> },
    /// Every VERIFY carrying a PIN to `file` comes after a retry-counter query (VERIFY
    /// without data) in the same power session.
    RetryQueryBeforeVerify { file: FileRef },
    /// Once the card answered that the PIN in `file` is blocked (`63 C0`, `69 83`, `69 84`), no
    /// VERIFY carrying a PIN is sent to it.
    NoVerifyAfterBlocked { file: FileRef },
    /// At most one VERIFY carrying a PIN to `file` per PIN entry by the operator.
    OneVerifyPerEntry { file: FileRef },
    /// After a VERIFY answered `63 Cx`, neither COMPUTE DIGITAL SIGNATURE nor a qualification
    /// check happens before a VERIFY answered `90 00`.
    NothingAfterWrongPin { file: FileRef },
    /// After the card gave `answer`, the device still reached the qualification system
    /// (a check or registration answered by it). Not applicable when the card never gave it.
    CopesWith { answer: Provocation },
    /// A COMPUTE DIGITAL SIGNATURE that took at least `min_ms` was answered, and a check
    /// followed it without the card being reset or powered off in between.
    WaitsForSlowCard { min_ms: u64 },
    /// Every PIN check (`/v1/check`, identity `pin`) carries a challenge and a signature the
    /// qualification system accepted; at least one was made.
    ProofOfPossession,
    /// The face route: 照合番号B was presented to the surface application (VERIFY answered
    /// `90 00`) and no PIN was sent to `pin_file`.
    FaceRoute { pin_file: FileRef },
    /// The device never offered PIN entry (its reports) and sent no PIN to `pin_file`.
    NeverOffersPin { pin_file: FileRef },
    /// A registration call (`/v1/register`) was made and registered the card.
    RegistrationCall,
    /// After the last successful VERIFY of `file`, the card was powered off or another
    /// application selected before the harness took the card away.
    NoVerifiedStateLeft { file: FileRef },
    /// The smartphone path has no face route (docs/spec/smartphone.md §3.12): from the
    /// スマートフォン choice on, the device never offers 顔認証 (its reports), never opens the
    /// surface application, and every check presenting a phone credential is a PIN-identity
    /// one with a proof of possession.
    PhoneNoFaceRoute,
    /// The Android PIN typed on the face reader goes to the phone on the generic reader
    /// (a VERIFY of `file` there) and never to a card on the face reader's slot.
    PhonePinToPhone { file: FileRef },
    /// A phone credential past its card's certificate expiry is refused (no grace, the
    /// qualification system's `smartphone_expired`), and the device shows no qualification
    /// result for it.
    PhoneRefusedPastExpiry,
    /// The phone's certificate (`file`) is read on the generic reader's slot, and the check
    /// that follows presents the phone credential, not a card.
    ReadsPhoneOnGenericReader { file: FileRef },
    /// As `no_verified_state_left`, on the generic reader's slot: the phone's PIN verified
    /// there is closed (power-off or another application) before the phone is taken away.
    PhoneNoVerifiedStateLeft { file: FileRef },
    /// What the device shows after the case's last step (driver-reported or operator-judged):
    /// every given field must match.
    Shown {
        #[serde(default)]
        qualification: Option<String>,
        /// A message code shown at any step of the case.
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        screen: Option<String>,
        /// Fallback guidance shown, and no qualification result.
        #[serde(default)]
        fallback_guidance: bool,
    },
}

impl Predicate {
    /// Whether the predicate judges what the device shows (a person can only see that at the
    /// device: in interactive mode its question is asked instead).
    pub(crate) fn judges_display(&self) -> bool {
        matches!(
            self,
            Predicate::Shown { .. } | Predicate::PhoneRefusedPastExpiry
        )
    }

    /// The file references the predicate carries, for validation at load time.
    pub(crate) fn files(&self) -> Vec<&FileRef> {
        match self {
            Predicate::ReadsFile { file }
            | Predicate::RetryQueryBeforeVerify { file }
            | Predicate::NoVerifyAfterBlocked { file }
            | Predicate::OneVerifyPerEntry { file }
            | Predicate::NothingAfterWrongPin { file }
            | Predicate::NoVerifiedStateLeft { file }
            | Predicate::PhonePinToPhone { file }
            | Predicate::ReadsPhoneOnGenericReader { file }
            | Predicate::PhoneNoVerifiedStateLeft { file } => vec![file],
            Predicate::FaceRoute { pin_file } | Predicate::NeverOffersPin { pin_file } => {
                vec![pin_file]
            }
            Predicate::NeverReads { files } => files.iter().collect(),
            _ => Vec::new(),
        }
    }
}

/// A file reference decoded to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CardFile {
    pub(crate) aid: [u8; 10],
    pub(crate) fid: u16,
}

impl FileRef {
    /// Decodes the hex fields; the error says which field is wrong.
    pub(crate) fn decode(&self) -> Result<CardFile, String> {
        let aid = crate::apdu::parse_hex(&self.aid)
            .ok()
            .and_then(|bytes| <[u8; 10]>::try_from(bytes).ok())
            .ok_or_else(|| format!("aid: expected 10 bytes of hex, got {:?}", self.aid))?;
        let fid = crate::apdu::parse_hex(&self.file)
            .ok()
            .and_then(|bytes| <[u8; 2]>::try_from(bytes).ok())
            .map(u16::from_be_bytes)
            .ok_or_else(|| format!("file: expected 2 bytes of hex, got {:?}", self.file))?;
        Ok(CardFile { aid, fid })
    }
}

/// Decodes an application identifier written as hex.
pub(crate) fn decode_aid(text: &str) -> Result<[u8; 10], String> {
    crate::apdu::parse_hex(text)
        .ok()
        .and_then(|bytes| <[u8; 10]>::try_from(bytes).ok())
        .ok_or_else(|| format!("aid: expected 10 bytes of hex, got {text:?}"))
}

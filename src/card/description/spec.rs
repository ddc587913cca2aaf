//! The card's own fields (everything but its holder), their defaults and the open behaviours
//! as options.

use serde::{Deserialize, Serialize};

use super::dates::{default_issue_date, CardDate};
use super::values::{FourDigitPin, MunicipalityCode, SecurityCode, SigningPassword};
use super::{AtrChoice, Profile};
use crate::person::BirthYearStyle;

/// Tries of the JPKI 利用者証明用 PIN (spec §3).
pub(crate) const AUTH_PIN_TRIES: u8 = 3;
/// Tries of the JPKI 署名用 password.
pub(crate) const SIGNING_PASSWORD_TRIES: u8 = 5;
/// Tries of the 券面事項入力補助用 PIN.
pub(crate) const TEXT_PIN_TRIES: u8 = 3;

/// Everything about the card except its holder (scenario worlds reference the holder by id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSpec {
    /// What kind of card / token this is.
    pub profile: Profile,
    /// Which ATR the card answers power-on with.
    pub(crate) atr: AtrChoice,
    /// Day the card (and by default its certificates) was issued. Default 2024-04-01.
    pub(crate) issued: CardDate,
    /// The card body's expiry. Default: the holder's 10th birthday after issue (5th when
    /// issued under 18).
    pub(crate) expires: Option<CardDate>,
    /// 4-digit セキュリティコード printed on the card face (part of 照合番号B).
    pub(crate) security_code: SecurityCode,
    /// 5-digit municipality code (券面事項確認AP EF 0003, `DF 34`).
    pub(crate) municipality_code: MunicipalityCode,
    pub(crate) pins: PinsSpec,
    /// Starting retry counters (absent = full). `0` starts the PIN locked.
    pub(crate) tries_left: TriesSpec,
    pub(crate) certificates: CertificatesSpec,
    /// Slots of the committed test-key pool used for this card's keys.
    pub(crate) keys: KeySlots,
    pub(crate) options: CardOptions,
    /// Deliberate misbehaviours of the emulated card (mute, 61xx chaining, short headers) for
    /// testing readers.
    pub faults: CardFaults,
}

impl Default for CardSpec {
    fn default() -> CardSpec {
        CardSpec {
            profile: Profile::default(),
            atr: AtrChoice::default(),
            issued: CardDate::On(default_issue_date()),
            expires: None,
            security_code: SecurityCode("1234".into()),
            municipality_code: MunicipalityCode("13101".into()),
            pins: PinsSpec::default(),
            tries_left: TriesSpec::default(),
            certificates: CertificatesSpec::default(),
            keys: KeySlots::default(),
            options: CardOptions::default(),
            faults: CardFaults::default(),
        }
    }
}

/// The card's PINs. Absent = the documented default (`1234`, `ABC123`, `1234`) on profiles
/// that have the PIN.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PinsSpec {
    pub(crate) auth: Option<FourDigitPin>,
    pub(crate) signing: Option<SigningPassword>,
    pub(crate) text: Option<FourDigitPin>,
}

impl PinsSpec {
    pub(crate) fn auth_or_default(&self) -> &[u8] {
        self.auth.as_ref().map_or(b"1234", FourDigitPin::as_bytes)
    }

    pub(crate) fn signing_or_default(&self) -> &[u8] {
        self.signing
            .as_ref()
            .map_or(b"ABC123", SigningPassword::as_bytes)
    }

    pub(crate) fn text_or_default(&self) -> &[u8] {
        self.text.as_ref().map_or(b"1234", FourDigitPin::as_bytes)
    }
}

/// Starting retry counters; absent = the PIN's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TriesSpec {
    pub(crate) auth: Option<u8>,
    pub(crate) signing: Option<u8>,
    pub(crate) text: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CertificatesSpec {
    pub(crate) auth: CertificateDates,
    pub(crate) signing: SigningCertificateSpec,
}

/// Validity overrides; absent = the rule (issue date .. 5th birthday after issue, capped by
/// the card's expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CertificateDates {
    pub(crate) not_before: Option<CardDate>,
    pub(crate) not_after: Option<CardDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SigningCertificateSpec {
    /// Absent = carried when the profile has one and the holder was 15 or older at issue.
    pub(crate) present: Option<bool>,
    pub(crate) not_before: Option<CardDate>,
    pub(crate) not_after: Option<CardDate>,
}

impl SigningCertificateSpec {
    pub(crate) fn dates(&self) -> CertificateDates {
        CertificateDates {
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

/// Slots of the committed key pool (`pki::pool_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct KeySlots {
    pub(crate) auth: usize,
    pub(crate) signing: usize,
    /// Key that signs the 券面事項 data (text AP EF 0003, surface AP `DF 28`); stands in for
    /// the issuer's key.
    pub(crate) text_ap: usize,
}

impl Default for KeySlots {
    fn default() -> KeySlots {
        KeySlots {
            auth: 0,
            signing: 1,
            text_ap: 2,
        }
    }
}

/// The open behaviours of spec §6 (and a few documented assumptions) as options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CardOptions {
    /// Re-SELECT of the current AP clears its verified state. Default false: the measured
    /// card keeps it (JICSAP 5.1.3 rule 2, docs/spec/card-measured.md §2); `true` was the earlier default.
    pub(crate) reselect_clears_verification: bool,
    /// A warm reset clears the verified state. Default false: the measured card keeps it
    /// through a PC/SC `SCARD_RESET_CARD` (docs/spec/card-measured.md §2); `true` was the earlier default.
    pub(crate) reset_clears_verification: bool,
    /// Answer to an empty VERIFY after a successful VERIFY. Default `retry_count` (`63 Cx`).
    pub(crate) empty_verify_after_success: EmptyVerifyAnswer,
    /// Answer to any VERIFY once a PIN is blocked. Default `69 84`.
    pub(crate) blocked_status: BlockedStatus,
    /// Secure-messaging classes. Default `session`: CLA `08` works in the text AP's session,
    /// `69 FC` without one, `0C` is `69 87` (docs/spec/card-measured.md §6.10). `"6882"` / `"69FC"`
    /// refuse every SM class with that status word, as earlier versions did.
    pub(crate) secure_messaging_status: SecureMessagingStatus,
    /// Year in the birth part of 照合番号B. Default `japanese_era`.
    pub(crate) collation_b_birth_year: BirthYearStyle,
    /// Tries of each 照合番号 (A and B, in both APs) before it blocks. Default 10: real cards
    /// count these too, the exact number is not published **[open]**.
    pub(crate) surface_match_tries: u8,
    /// GET DATA `0042` (issuer ID), `0045` (card ID) and `0066` (GP card recognition data)
    /// exist at the MF level. Default true: measured on cards, though which objects exist
    /// varies (docs/spec/card-measured.md §3.2); `false` answers `6A 88` for them, as earlier versions did.
    pub(crate) mf_optional_objects: bool,
    /// The first command after a cold power-up answers `6F 00` whatever it is, as on the one
    /// card measured (docs/spec/card-measured.md §1.1; it may be the reader's doing). Default false.
    pub(crate) first_command_fails: bool,
    /// SELECT by DF name also accepts a leading part of a DF name (the first application in
    /// lookup order that matches), legal per JICSAP 4.2 (1) though untested on cards
    /// (docs/spec/card-measured.md §1.4). Default true; `false` wants the whole name, as earlier.
    pub(crate) select_by_aid_prefix: bool,
}

impl Default for CardOptions {
    fn default() -> CardOptions {
        CardOptions {
            reselect_clears_verification: false,
            reset_clears_verification: false,
            empty_verify_after_success: EmptyVerifyAnswer::RetryCount,
            blocked_status: BlockedStatus::ReferenceDataNotUsable,
            secure_messaging_status: SecureMessagingStatus::Session,
            collation_b_birth_year: BirthYearStyle::JapaneseEra,
            surface_match_tries: 10,
            mf_optional_objects: true,
            first_command_fails: false,
            select_by_aid_prefix: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EmptyVerifyAnswer {
    /// `63 Cx` even when verified.
    RetryCount,
    /// `90 00` while verified.
    Success,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BlockedStatus {
    #[serde(rename = "6984")]
    ReferenceDataNotUsable,
    #[serde(rename = "63C0")]
    NoTriesLeft,
    #[serde(rename = "6983")]
    AuthenticationMethodBlocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SecureMessagingStatus {
    /// The measured card: SET SESSION KEY in the text AP opens a CLA `08` session.
    #[serde(rename = "session")]
    Session,
    #[serde(rename = "6882")]
    NotSupported,
    #[serde(rename = "69FC")]
    Refused,
}

/// Faults a scenario can switch on. All off by default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardFaults {
    /// Answer data-returning commands with `61 xx` / `6C xx` instead of the data.
    pub(crate) response_status: Option<ResponseStatusFault>,
    /// Answer the 4-byte header read (`00 B0 00 00 04`) with only this many bytes (0..=3).
    pub(crate) short_header_read: Option<u8>,
    /// A short READ BINARY (`Le = 00`) that gets fewer than 256 bytes is padded with zeros to
    /// 256, as from a fixed-size EF larger than its contents: the read after the last block
    /// gets `6B 00` (the certification case `face-padded-6b00`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub padded_reads: bool,
    /// Per-command latency overrides (milliseconds); absent fields keep the defaults.
    pub(crate) latency: LatencySpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ResponseStatusFault {
    /// `61 xx`: data only through GET RESPONSE (`00 C0 00 00 xx`).
    #[serde(rename = "61xx")]
    BytesAvailable,
    /// `6C xx` whenever Le differs from the exact length; the client must re-send.
    #[serde(rename = "6Cxx")]
    ExactLength,
}

/// Simulated processing time per command, in milliseconds (fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LatencySpec {
    pub(crate) select_ms: f64,
    pub(crate) read_binary_ms: f64,
    /// Added per byte returned by READ BINARY / GET RESPONSE (T=1 at ~ 100 kbit/s).
    pub(crate) read_per_byte_ms: f64,
    pub(crate) verify_ms: f64,
    pub(crate) change_reference_data_ms: f64,
    pub(crate) sign_ms: f64,
    pub(crate) get_challenge_ms: f64,
    /// Any answer that is only an error status word.
    pub(crate) error_ms: f64,
}

impl LatencySpec {
    /// Every field with its YAML name (for validation messages).
    pub(crate) fn fields(&self) -> [(&'static str, f64); 8] {
        [
            ("select_ms", self.select_ms),
            ("read_binary_ms", self.read_binary_ms),
            ("read_per_byte_ms", self.read_per_byte_ms),
            ("verify_ms", self.verify_ms),
            ("change_reference_data_ms", self.change_reference_data_ms),
            ("sign_ms", self.sign_ms),
            ("get_challenge_ms", self.get_challenge_ms),
            ("error_ms", self.error_ms),
        ]
    }
}

impl Default for LatencySpec {
    fn default() -> LatencySpec {
        LatencySpec {
            select_ms: 3.0,
            read_binary_ms: 4.0,
            read_per_byte_ms: 0.08,
            verify_ms: 40.0,
            change_reference_data_ms: 80.0,
            sign_ms: 450.0,
            get_challenge_ms: 6.0,
            error_ms: 2.0,
        }
    }
}

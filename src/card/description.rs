//! A card described in YAML: the person it belongs to and everything about the card itself.
//!
//! A minimal card file is just `person:` plus `card: {}`; every card field has a documented
//! default. Shapes (PIN alphabets, digit counts) are checked while parsing so the YAML error
//! carries the line and column; relations between fields are checked by
//! [`CardDescription::validate`], whose errors name the field.

use std::fmt;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

pub use crate::person::BirthYearStyle;
use crate::person::Person;

/// A whole card file: `person:` and `card:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardDescription {
    /// The holder: name, birth date, address, 個人番号 as the card records them.
    pub person: Person,
    /// The card itself: issue and expiry dates, PINs, certificates, applications and faults.
    pub card: CardSpec,
}

/// A date in a card file: a calendar date (`2022-04-01`) or a number of days from the day the
/// card is served (`-400d`, `+90d`, `0d`), so that a fixture card stays valid whenever it is
/// used. [`CardDescription::on_day`] turns relative dates into calendar dates; until then they
/// count from [`RELATIVE_DATES_REFERENCE_DAY`], so an unresolved card is still deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardDate {
    On(NaiveDate),
    DaysFromServing(i32),
}

/// The day relative card dates count from when nobody named the serving day (tests, tools that
/// build a card without a clock).
pub(crate) const RELATIVE_DATES_REFERENCE_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2025, 4, 1)
{
    Some(day) => day,
    None => NaiveDate::MIN,
};

/// Relative dates stay within about ±270 years, so date arithmetic cannot overflow.
const MAX_RELATIVE_DAYS: i32 = 100_000;

impl CardDate {
    /// The calendar date when the card is served on `today`.
    pub(crate) fn on(self, today: NaiveDate) -> NaiveDate {
        match self {
            CardDate::On(date) => date,
            CardDate::DaysFromServing(days) => today
                .checked_add_signed(chrono::Duration::days(i64::from(days)))
                .unwrap_or(today),
        }
    }

    /// The calendar date, relative dates counted from [`RELATIVE_DATES_REFERENCE_DAY`].
    pub(crate) fn date(self) -> NaiveDate {
        self.on(RELATIVE_DATES_REFERENCE_DAY)
    }

    fn resolved(self, today: NaiveDate) -> CardDate {
        CardDate::On(self.on(today))
    }

    fn parse(text: &str) -> Option<CardDate> {
        if let Some(days) = text.strip_suffix('d') {
            let (sign, digits) = match days.as_bytes().first() {
                Some(b'-') => (-1, &days[1..]),
                Some(b'+') => (1, &days[1..]),
                _ => (1, days),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let magnitude: i32 = digits.parse().ok()?;
            return (magnitude <= MAX_RELATIVE_DAYS)
                .then_some(CardDate::DaysFromServing(sign * magnitude));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(CardDate::On)
    }
}

impl From<NaiveDate> for CardDate {
    fn from(date: NaiveDate) -> CardDate {
        CardDate::On(date)
    }
}

impl fmt::Display for CardDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardDate::On(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            CardDate::DaysFromServing(days) => write!(f, "{days:+}d"),
        }
    }
}

impl Serialize for CardDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CardDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CardDate, D::Error> {
        let text = String::deserialize(deserializer)?;
        CardDate::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is neither a date (YYYY-MM-DD) nor days from the serving day (-400d, +90d)"
            ))
        })
    }
}

/// Why a card description could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// The card file cannot be read.
    #[error("{origin}: cannot read: {source}")]
    Io {
        /// The card file, as the caller named it.
        origin: String,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The card file is not valid YAML for a card, at a known place.
    #[error("{origin}:{line}:{column}: {message}")]
    Yaml {
        /// The card file, as the caller named it.
        origin: String,
        /// 1-based line of the problem.
        line: u64,
        /// 1-based column of the problem.
        column: u64,
        /// What the YAML parser or the schema objected to.
        message: String,
    },
    /// The card file is not valid YAML for a card, at no particular place.
    #[error("{origin}: {message}")]
    YamlNoLocation {
        /// The card file, as the caller named it.
        origin: String,
        /// What the YAML parser or the schema objected to.
        message: String,
    },
    /// A field parsed but breaks a rule of the card (a date order, a PIN shape, a certificate
    /// rule).
    #[error("{origin}: field `{field}`: {message}")]
    Invalid {
        /// The card file, as the caller named it.
        origin: String,
        /// The field's path in the card file (`card.pins.auth`).
        field: String,
        /// The rule it breaks.
        message: String,
    },
}

/// A semantic error found by [`CardDescription::validate`]: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct InvalidField {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl InvalidField {
    fn new(field: &str, message: impl Into<String>) -> InvalidField {
        InvalidField {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl CardDescription {
    /// Parses and validates a card file's text; `origin` names it in errors (usually the path).
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<CardDescription, DescriptionError> {
        let description: CardDescription = serde_saphyr::from_str(text).map_err(|error| {
            let message = crate::yaml::plain_message(&error);
            match error.location() {
                Some(location) => DescriptionError::Yaml {
                    origin: origin.to_owned(),
                    line: location.line(),
                    column: location.column(),
                    message,
                },
                None => DescriptionError::YamlNoLocation {
                    origin: origin.to_owned(),
                    message,
                },
            }
        })?;
        description
            .validate()
            .map_err(|invalid| DescriptionError::Invalid {
                origin: origin.to_owned(),
                field: invalid.field,
                message: invalid.message,
            })?;
        Ok(description)
    }

    /// The card as served on `today` (see [`CardDate`]).
    pub fn on_day(&self, today: NaiveDate) -> CardDescription {
        CardDescription {
            person: self.person.clone(),
            card: self.card.on_day(today),
        }
    }

    /// 照合番号A (the 個人番号) and 照合番号B (birth, expiry year, security code) of the card
    /// this describes, as personalisation writes them: what a replay presents where a trace
    /// hid them.
    pub(crate) fn collation_numbers(&self) -> (String, String) {
        let spec = &self.card;
        let b = crate::person::collation_number_b(
            self.person.birth_date,
            spec.expiry_date(&self.person).year(),
            spec.security_code.as_str(),
            spec.options.collation_b_birth_year,
        );
        (self.person.my_number.as_str().to_owned(), b)
    }

    /// Reads and validates a card file (`person:` + `card:`); relative dates stay relative until
    /// [`CardDescription::on_day`].
    pub fn from_yaml_file(path: &Path) -> Result<CardDescription, DescriptionError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DescriptionError::Io {
            origin: origin.clone(),
            source,
        })?;
        Self::from_yaml_str(&text, &origin)
    }

    /// Checks relations between fields that a single field's parser cannot see.
    pub(crate) fn validate(&self) -> Result<(), InvalidField> {
        let card = &self.card;
        let features = card.profile.features();
        if card.issued.date() < self.person.birth_date {
            return Err(InvalidField::new(
                "card.issued",
                "the card is issued before the holder's birth date",
            ));
        }
        if card.expiry_date(&self.person) <= card.issued.date() {
            return Err(InvalidField::new(
                "card.expires",
                "the card expires on or before its issue date",
            ));
        }
        for (field, given, present) in [
            (
                "card.pins.auth",
                card.pins.auth.is_some(),
                features.auth_pin,
            ),
            (
                "card.pins.signing",
                card.pins.signing.is_some(),
                features.signing,
            ),
            ("card.pins.text", card.pins.text.is_some(), features.text_ap),
        ] {
            if given && !present {
                return Err(InvalidField::new(
                    field,
                    format!("the {} profile has no such PIN", card.profile.name()),
                ));
            }
        }
        for (field, tries, max, present) in [
            (
                "card.tries_left.auth",
                card.tries_left.auth,
                AUTH_PIN_TRIES,
                features.auth_pin,
            ),
            (
                "card.tries_left.signing",
                card.tries_left.signing,
                SIGNING_PASSWORD_TRIES,
                features.signing,
            ),
            (
                "card.tries_left.text",
                card.tries_left.text,
                TEXT_PIN_TRIES,
                features.text_ap,
            ),
        ] {
            match tries {
                Some(_) if !present => {
                    return Err(InvalidField::new(
                        field,
                        format!("the {} profile has no such PIN", card.profile.name()),
                    ))
                }
                Some(n) if n > max => {
                    return Err(InvalidField::new(
                        field,
                        format!("{n} is more than the PIN's {max} tries"),
                    ))
                }
                _ => {}
            }
        }
        if card.certificates.signing.present == Some(true) && !features.signing {
            return Err(InvalidField::new(
                "card.certificates.signing.present",
                format!(
                    "the {} profile carries no signing certificate",
                    card.profile.name()
                ),
            ));
        }
        for (field, dates) in [
            ("card.certificates.auth", &card.certificates.auth),
            (
                "card.certificates.signing",
                &card.certificates.signing.dates(),
            ),
        ] {
            if let (Some(from), Some(until)) = (dates.not_before, dates.not_after) {
                if until.date() < from.date() {
                    return Err(InvalidField::new(field, "not_after is before not_before"));
                }
            }
        }
        let slots = [card.keys.auth, card.keys.signing, card.keys.text_ap];
        if slots[0] == slots[1] {
            return Err(InvalidField::new(
                "card.keys.signing",
                "the signing key must not reuse the auth key's slot",
            ));
        }
        if !(1..=15).contains(&card.options.surface_match_tries) {
            return Err(InvalidField::new(
                "card.options.surface_match_tries",
                "must be 1 to 15",
            ));
        }
        if let Some(n) = card.faults.short_header_read {
            if n > 3 {
                return Err(InvalidField::new(
                    "card.faults.short_header_read",
                    "a short answer has 0 to 3 bytes",
                ));
            }
        }
        for (name, value) in card.faults.latency.fields() {
            if !(0.0..=600_000.0).contains(&value) {
                return Err(InvalidField::new(
                    &format!("card.faults.latency.{name}"),
                    format!("{value} is not a duration in milliseconds between 0 and 600000"),
                ));
            }
        }
        Ok(())
    }
}

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

fn default_issue_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 4, 1).unwrap_or_default()
}

impl CardSpec {
    /// The card body's expiry: explicit, or the 10th birthday after issue (5th under 18).
    pub fn expiry_date(&self, person: &Person) -> NaiveDate {
        let issued = self.issued.date();
        self.expires.map(CardDate::date).unwrap_or_else(|| {
            let birthdays = if person.age_on(issued) < 18 { 5 } else { 10 };
            nth_birthday_after(person.birth_date, issued, birthdays)
        })
    }

    /// The issue date (relative dates counted as [`CardDate::date`] does).
    pub fn issue_date(&self) -> NaiveDate {
        self.issued.date()
    }

    /// This card as served on `today`: every relative date becomes a calendar date.
    pub fn on_day(&self, today: NaiveDate) -> CardSpec {
        let resolve = |date: Option<CardDate>| date.map(|date| date.resolved(today));
        let mut spec = self.clone();
        spec.issued = self.issued.resolved(today);
        spec.expires = resolve(self.expires);
        let auth = &mut spec.certificates.auth;
        auth.not_before = resolve(auth.not_before);
        auth.not_after = resolve(auth.not_after);
        let signing = &mut spec.certificates.signing;
        signing.not_before = resolve(signing.not_before);
        signing.not_after = resolve(signing.not_after);
        spec
    }

    /// The 利用者証明用電子証明書's validity: explicit dates, or from issue until the 5th
    /// birthday after issuance, capped by the card's expiry.
    pub fn auth_certificate_validity(&self, person: &Person) -> (NaiveDate, NaiveDate) {
        self.certificate_validity(&self.certificates.auth, person)
    }

    /// The 署名用電子証明書's validity (same rule as the auth certificate).
    pub fn signing_certificate_validity(&self, person: &Person) -> (NaiveDate, NaiveDate) {
        self.certificate_validity(&self.certificates.signing.dates(), person)
    }

    fn certificate_validity(
        &self,
        dates: &CertificateDates,
        person: &Person,
    ) -> (NaiveDate, NaiveDate) {
        let not_before = dates.not_before.unwrap_or(self.issued).date();
        let not_after = dates.not_after.map(CardDate::date).unwrap_or_else(|| {
            nth_birthday_after(person.birth_date, not_before, 5).min(self.expiry_date(person))
        });
        (not_before, not_after)
    }

    /// Whether the card carries a 署名用電子証明書: explicit, else per profile and not when
    /// the holder was under 15 at issue (spec §5).
    pub fn has_signing_certificate(&self, person: &Person) -> bool {
        self.profile.features().signing
            && self
                .certificates
                .signing
                .present
                .unwrap_or_else(|| person.age_on(self.issued.date()) >= 15)
    }
}

/// The `n`th birthday strictly after `after` (29 February counts as 28 February in common years).
pub(crate) fn nth_birthday_after(birth: NaiveDate, after: NaiveDate, n: u32) -> NaiveDate {
    let birthday_in = |year: i32| {
        NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, birth.month(), birth.day() - 1))
            .unwrap_or(after)
    };
    let first_year = if birthday_in(after.year()) > after {
        after.year()
    } else {
        after.year() + 1
    };
    birthday_in(first_year + n.saturating_sub(1) as i32)
}

/// The kinds of card and token the emulator can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// An ordinary マイナンバーカード: JPKI, 券面事項入力補助AP, 券面事項確認AP, 住基AP, 共通AP.
    #[default]
    Standard,
    /// 顔認証マイナンバーカード: no PINs, no signing certificate; face or 目視 only.
    FaceOnly,
    /// Android スマホ用電子証明書 (`JPKIAPGPSETOKEN`): JPKI only; the auth certificate needs the PIN.
    Smartphone,
    /// iPhone スマホ用電子証明書 (`JPKIAPIOSTOKEN`): as `smartphone`.
    SmartphoneIos,
    /// An old 住基カード (`JPKIAPICCTOKEN`, clients reject it): JPKI and 住基AP only.
    JukiToken,
}

/// What a profile carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProfileFeatures {
    pub(crate) token_label: &'static str,
    pub(crate) auth_pin: bool,
    pub(crate) signing: bool,
    pub(crate) text_ap: bool,
    pub(crate) surface_ap: bool,
    pub(crate) juki_ap: bool,
    pub(crate) auth_certificate_needs_pin: bool,
}

impl Profile {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::FaceOnly => "face_only",
            Profile::Smartphone => "smartphone",
            Profile::SmartphoneIos => "smartphone_ios",
            Profile::JukiToken => "juki_token",
        }
    }

    pub(crate) fn features(self) -> ProfileFeatures {
        let card = ProfileFeatures {
            token_label: "JPKIAPICCTOKEN2",
            auth_pin: true,
            signing: true,
            text_ap: true,
            surface_ap: true,
            juki_ap: true,
            auth_certificate_needs_pin: false,
        };
        let phone = ProfileFeatures {
            token_label: "JPKIAPGPSETOKEN",
            text_ap: false,
            surface_ap: false,
            juki_ap: false,
            auth_certificate_needs_pin: true,
            ..card
        };
        match self {
            Profile::Standard => card,
            Profile::FaceOnly => ProfileFeatures {
                auth_pin: false,
                signing: false,
                text_ap: true,
                ..card
            },
            Profile::Smartphone => phone,
            Profile::SmartphoneIos => ProfileFeatures {
                token_label: "JPKIAPIOSTOKEN",
                ..phone
            },
            Profile::JukiToken => ProfileFeatures {
                token_label: "JPKIAPICCTOKEN",
                text_ap: false,
                surface_ap: false,
                ..card
            },
        }
    }
}

/// Which ATR the card answers power-on with (spec §1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AtrChoice {
    /// `3B E0 00 FF 81 31 FE 45 14`: older contact cards (OpenSC's ATR table entry).
    ContactLegacy,
    /// `3B DA 13 FF 81 31 FB 46 80 12 39 2F 31 C1 73 C6 01 C0 3B`.
    #[default]
    Contact,
    /// `3B C5 FF 81 31 FB 45 80 73 C6 01 00 00`.
    ContactShort,
    /// `3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F` (PC/SC-synthesised from the ATQB).
    Contactless,
    /// `3B 88 80 01 00 00 41 E0 B3 81 A1 00 3B`.
    ContactlessAlt,
    /// A well-formed ATR no driver table knows (field failure: "unknown smart card").
    Unknown,
    /// No ATR at all: the card stays mute at power-on.
    Mute,
    /// The ATR a PC/SC contactless reader builds from a Type B card's ATQB (PC/SC part 3):
    /// `atr: { type_b: { application_data: "00 00 05 E0", protocol_info: "B3 81 A1", mbli: 0 } }`.
    TypeB(crate::card::atr::TypeB),
    /// Any other ATR, as hex.
    Custom(HexBytes),
}

impl AtrChoice {
    /// The ATR bytes; `None` for a mute card.
    pub(crate) fn bytes(&self) -> Option<Vec<u8>> {
        let fixed: &[u8] = match self {
            AtrChoice::ContactLegacy => &[0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14],
            AtrChoice::Contact => &[
                0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1,
                0x73, 0xC6, 0x01, 0xC0, 0x3B,
            ],
            AtrChoice::ContactShort => &[
                0x3B, 0xC5, 0xFF, 0x81, 0x31, 0xFB, 0x45, 0x80, 0x73, 0xC6, 0x01, 0x00, 0x00,
            ],
            AtrChoice::Contactless => &[
                0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F,
            ],
            AtrChoice::ContactlessAlt => &[
                0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x41, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x3B,
            ],
            // PC/SC contactless form with application data "MYNA" and a correct TCK.
            AtrChoice::Unknown => &[
                0x3B, 0x88, 0x80, 0x01, 0x4D, 0x59, 0x4E, 0x41, 0x00, 0x00, 0x00, 0x00, 0x12,
            ],
            AtrChoice::Mute => return None,
            AtrChoice::TypeB(type_b) => return Some(type_b.pcsc_atr()),
            AtrChoice::Custom(bytes) => return Some(bytes.0.clone()),
        };
        Some(fixed.to_vec())
    }
}

/// Bytes written as hex in YAML (spaces allowed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::apdu::to_spaced_hex(&self.0))
    }
}

impl TryFrom<String> for HexBytes {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let bytes =
            crate::apdu::parse_hex(&text).map_err(|e| format!("not hex bytes ({e}): {text:?}"))?;
        if bytes.is_empty() || bytes.len() > 33 {
            return Err(format!("an ATR has 1 to 33 bytes, got {}", bytes.len()));
        }
        Ok(HexBytes(bytes))
    }
}

impl From<HexBytes> for String {
    fn from(bytes: HexBytes) -> String {
        crate::apdu::to_spaced_hex(&bytes.0)
    }
}

macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, $redact:expr, $check:expr, $what:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub(crate) struct $name(String);

        impl $name {
            /// The value as text.
            #[allow(dead_code, reason = "generated for every value type; not every one is read as text")]
            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as the bytes the card stores.
            #[allow(dead_code, reason = "generated for every value type; not every one is written to the card")]
            pub(crate) fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }

            /// Whether `bytes` has this value's shape.
            pub(crate) fn is_valid(bytes: &[u8]) -> bool {
                let check: fn(&[u8]) -> bool = $check;
                check(bytes)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                if Self::is_valid(text.as_bytes()) {
                    Ok($name(text))
                } else if $redact {
                    Err(format!("{} (value not shown)", $what))
                } else {
                    Err(format!("{}, got {:?}", $what, text))
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $redact {
                    f.write_str("\"<redacted>\"")
                } else {
                    write!(f, "{:?}", self.0)
                }
            }
        }
    };
}

fn digits(bytes: &[u8], count: usize) -> bool {
    bytes.len() == count && bytes.iter().all(u8::is_ascii_digit)
}

checked_string!(
    /// 利用者証明用 / 券面事項入力補助用 PIN: 4 ASCII digits. Redacted in Debug output.
    FourDigitPin,
    true,
    |b| digits(b, 4),
    "a PIN of 4 ASCII digits is expected"
);
checked_string!(
    /// 署名用パスワード: 6 to 16 of `A-Z0-9`. Redacted in Debug output.
    SigningPassword,
    true,
    |b| (6..=16).contains(&b.len()) && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
    "a signing password of 6 to 16 characters A-Z and 0-9 is expected"
);
checked_string!(
    /// セキュリティコード: 4 ASCII digits.
    SecurityCode,
    false,
    |b| digits(b, 4),
    "a security code of 4 ASCII digits is expected"
);
checked_string!(
    /// 市区町村コード: 5 ASCII digits.
    MunicipalityCode,
    false,
    |b| digits(b, 5),
    "a municipality code of 5 ASCII digits is expected"
);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn fifth_birthday_after_issue() {
        let birth = date(1980, 5, 10);
        assert_eq!(
            nth_birthday_after(birth, date(2022, 4, 1), 5),
            date(2026, 5, 10)
        );
        assert_eq!(
            nth_birthday_after(birth, date(2022, 6, 1), 5),
            date(2027, 5, 10)
        );
        // Issued on the birthday itself: that day is not "after".
        assert_eq!(
            nth_birthday_after(birth, date(2022, 5, 10), 1),
            date(2023, 5, 10)
        );
        assert_eq!(
            nth_birthday_after(date(2000, 2, 29), date(2021, 1, 1), 1),
            date(2021, 2, 28)
        );
    }

    #[test]
    fn shapes_are_checked() {
        assert!(FourDigitPin::try_from("12a4".to_owned()).is_err());
        assert!(SigningPassword::try_from("abc123".to_owned()).is_err());
        assert!(SigningPassword::try_from("ABC12".to_owned()).is_err());
        assert!(SigningPassword::try_from("ABC123XYZ0123456".to_owned()).is_ok());
        assert!(MunicipalityCode::try_from("1310".to_owned()).is_err());
        let pin = FourDigitPin::try_from("9876".to_owned()).unwrap();
        assert!(!format!("{pin:?}").contains("9876"));
    }
}

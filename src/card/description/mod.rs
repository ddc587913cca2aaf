//! A card described in YAML: the person it belongs to and everything about the card itself.
//!
//! A minimal card file is just `person:` plus `card: {}`; every card field has a documented
//! default. Shapes (PIN alphabets, digit counts) are checked while parsing so the YAML error
//! carries the line and column; relations between fields are checked by
//! [`CardDescription::validate`], whose errors name the field.
//!
//! - `spec`: the card's own fields, their defaults and the open behaviours as options;
//! - `dates`: relative and calendar dates, and the expiry and certificate-validity rules;
//! - `values`: checked PINs and codes (secrets redacted in Debug output);
//! - `profile`: the kinds of card and token and what each carries;
//! - `validate`: relations between fields;
//! - the ATR choice lives with the ATRs in [`crate::card::atr`].

mod dates;
mod profile;
mod spec;
mod validate;
mod values;

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::person::Person;

pub(crate) use crate::card::atr::AtrChoice;
pub(crate) use dates::{CardDate, RELATIVE_DATES_REFERENCE_DAY};
pub use profile::Profile;
pub(crate) use profile::ProfileFeatures;
pub(crate) use spec::CardFaults;
pub use spec::CardSpec;
pub(crate) use spec::*;
pub(crate) use values::{FourDigitPin, SigningPassword};

/// A whole card file: `person:` and `card:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardDescription {
    /// The holder: name, birth date, address, 個人番号 as the card records them.
    pub person: Person,
    /// The card itself: issue and expiry dates, PINs, certificates, applications and faults.
    pub card: CardSpec,
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
pub(crate) struct InvalidField {
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
}

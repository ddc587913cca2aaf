//! From the YAML description to the in-memory registry, with cross-reference errors that point
//! at the line of the offending entry.

use serde_saphyr::{Location, Spanned};

use crate::oqs::description::{DescriptionError, RegistryDescription};
use crate::oqs::registry::{
    CardLinkRecord, QualificationExtras, QualificationRecord, Registry, RegistryBuilder,
    RegistryError, SmartphoneRecord,
};

/// Why a registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The registry file cannot be read or parsed.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// The registry parsed but breaks a rule (duplicate card, unknown insurer, bad code).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

fn at<T>(file: &str, spanned: &Spanned<T>, field: String, message: String) -> RegistryError {
    located(file, spanned.referenced, field, message)
}

fn located(file: &str, location: Location, field: String, message: String) -> RegistryError {
    RegistryError::Invalid {
        file: file.to_owned(),
        line: location.line(),
        column: location.column(),
        field,
        message,
    }
}

/// Re-targets a builder error at the YAML entry that caused it.
fn relocate(file: &str, location: Location, field: String, error: RegistryError) -> RegistryError {
    match error {
        RegistryError::Build {
            field: inner,
            message,
        } => located(file, location, format!("{field}.{inner}"), message),
        located_already @ RegistryError::Invalid { .. } => located_already,
    }
}

impl Registry {
    /// Builds the registry described in `description`; `file` names the source in errors.
    pub fn from_description(
        file: &str,
        description: &RegistryDescription,
    ) -> Result<Registry, RegistryError> {
        let mut builder = RegistryBuilder::new(description.options.clone());
        for (index, insurer) in description.insurers.iter().enumerate() {
            builder
                .add_insurer(
                    insurer.number.as_str(),
                    &insurer.name,
                    insurer.registration_lag_days,
                )
                .map_err(|error| {
                    relocate(file, Location::UNKNOWN, format!("insurers[{index}]"), error)
                })?;
        }
        let mut ids = Vec::with_capacity(description.persons.len());
        for (index, entry) in description.persons.iter().enumerate() {
            let field = format!("persons[{index}]");
            let id = builder
                .add_person(
                    Some(&entry.id.value),
                    &entry.person,
                    entry.post_number.as_deref(),
                    entry.flags,
                )
                .map_err(|error| relocate(file, entry.id.referenced, field.clone(), error))?;
            ids.push(id);
        }
        for (entry, &person) in description.persons.iter().zip(&ids) {
            let who = format!("persons[{}]", entry.id.value);
            for (index, qualification) in entry.qualifications.iter().enumerate() {
                let field = format!("{who}.qualifications[{index}]");
                let record = QualificationRecord {
                    insurer: qualification.insurer.value.as_str(),
                    relationship: qualification.relationship,
                    card_classification: qualification.card_classification,
                    symbol: &qualification.symbol,
                    number: &qualification.number,
                    branch: qualification.branch.0,
                    acquired: qualification.acquired,
                    lost: qualification.lost,
                    reason_of_loss: qualification.reason_of_loss,
                    registered_on: qualification.registered_on,
                    loss_registered_on: qualification.loss_registered_on.or_else(|| {
                        let lag = description
                            .insurers
                            .iter()
                            .find(|insurer| insurer.number == qualification.insurer.value)
                            .map_or(0, |insurer| insurer.loss_registration_lag_days);
                        qualification
                            .lost
                            .and_then(|lost| lost.checked_add_days(chrono::Days::new(lag.into())))
                    }),
                    income: qualification.income,
                    burden_percent: qualification.burden_percent,
                    extras: QualificationExtras {
                        card_valid_from: qualification.card_valid_from,
                        card_valid_until: qualification.card_valid_until,
                        elderly_recipient: qualification.elderly_recipient.clone(),
                        limit_certificate: qualification.limit_certificate.clone(),
                        specific_diseases: qualification.specific_diseases.clone(),
                    },
                };
                if qualification.lost.is_some() != qualification.reason_of_loss.is_some() {
                    return Err(at(
                        file,
                        &qualification.insurer,
                        field,
                        "`lost` and `reason_of_loss` go together: give both or neither".into(),
                    ));
                }
                builder.add_qualification(person, record).map_err(|error| {
                    relocate(file, qualification.insurer.referenced, field.clone(), error)
                })?;
            }
            for (index, card) in entry.cards.iter().enumerate() {
                let field = format!("{who}.cards[{index}]");
                let holder = match &card.holder {
                    None => person,
                    Some(holder) => builder.person_id(&holder.value).ok_or_else(|| {
                        at(
                            file,
                            holder,
                            format!("{field}.holder"),
                            format!("no person with id {:?}", holder.value),
                        )
                    })?,
                };
                let holder_number = builder
                    .my_number(holder)
                    .ok_or_else(|| at(file, &entry.id, field.clone(), "holder vanished".into()))?;
                let card_serial = builder
                    .add_card(
                        person,
                        CardLinkRecord {
                            holder: &holder_number,
                            issued: card.issued,
                            link: card.link,
                            registered_on: card.registered_on,
                            revoked: card.revoked,
                        },
                    )
                    .map_err(|error| relocate(file, entry.id.referenced, field.clone(), error))?;
                // The holder's next card: from its issue on, this card's phones need re-issuing.
                let card_renewed_on = entry
                    .cards
                    .iter()
                    .map(|other| other.issued)
                    .filter(|issued| *issued > card.issued)
                    .min();
                for phone in &card.smartphones {
                    builder
                        .add_smartphone(
                            person,
                            SmartphoneRecord {
                                kind: phone.kind,
                                holder: &holder_number,
                                issued: phone.issued,
                                card_serial,
                                card_renewed_on,
                                revoked: phone.revoked,
                            },
                        )
                        .map_err(|error| {
                            relocate(
                                file,
                                entry.id.referenced,
                                format!("{field}.smartphones"),
                                error,
                            )
                        })?;
                }
            }
        }
        builder
            .build()
            .map_err(|error| relocate(file, Location::UNKNOWN, "registry".into(), error))
    }

    /// Reads and builds a registry file.
    pub fn load(path: &std::path::Path) -> Result<Registry, LoadError> {
        let description = RegistryDescription::from_file(path)?;
        Ok(Registry::from_description(
            &path.display().to_string(),
            &description,
        )?)
    }
}

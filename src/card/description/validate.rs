//! Relations between a card file's fields that no single field's parser can see.

use super::{
    CardDescription, InvalidField, AUTH_PIN_TRIES, SIGNING_PASSWORD_TRIES, TEXT_PIN_TRIES,
};

impl CardDescription {
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

//! The world's phone credentials (`world.smartphones`): each one a phone token built like a
//! card (profile `smartphone` for Android, `smartphone_ios` for an iPhone) for the holder of the
//! world card it was added from, with a key and certificate serial of its own
//! (docs/spec/smartphone.md §4.15) and, by the harness's choice [model], a certificate that ends
//! with its card's (§4.13: it cannot outlive the card).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde_saphyr::Spanned;

use super::load::LoadError;
use super::schema::WorldPhoneDoc;
use super::world::WorldPhone;
use crate::card::description::{CardDate, Profile, TriesSpec};
use crate::card::CardDescription;
use crate::person::PhoneKind;

/// Pool slots of the phones' keys: apart from the card's (0 and 1) and the 券面 keys.
fn key_slot(kind: PhoneKind) -> usize {
    match kind {
        PhoneKind::Android => 4,
        PhoneKind::Iphone => 5,
    }
}

/// Builds the world's phones; a phone naming a card the world lacks is an error at its line.
pub(crate) fn build(
    file: &Path,
    source: &str,
    phones: BTreeMap<String, Spanned<WorldPhoneDoc>>,
    cards: &BTreeMap<String, CardDescription>,
) -> Result<BTreeMap<String, WorldPhone>, LoadError> {
    let mut built = BTreeMap::new();
    for (name, entry) in phones {
        let doc = entry.value;
        let Some(card) = cards.get(&doc.card.value) else {
            let known: Vec<&str> = cards.keys().map(String::as_str).collect();
            return Err(LoadError::at_location(
                file,
                source,
                &doc.card,
                format!(
                    "smartphone `{name}`: no card named `{}` in the world; its cards: {}",
                    doc.card.value,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        let mut token = CardDescription {
            person: card.person.clone(),
            card: crate::card::CardSpec::default(),
        };
        let spec = &mut token.card;
        spec.profile = match doc.kind {
            PhoneKind::Android => Profile::Smartphone,
            PhoneKind::Iphone => Profile::SmartphoneIos,
        };
        spec.issued = CardDate::On(doc.issued);
        spec.certificates.auth.not_before = Some(CardDate::On(doc.issued));
        // Only the 利用者証明用 certificate and key (docs/spec/smartphone.md §5.18).
        spec.certificates.signing.present = Some(false);
        spec.keys.auth = key_slot(doc.kind);
        spec.pins.auth = doc.pin;
        spec.tries_left = TriesSpec {
            auth: doc.tries_left,
            ..TriesSpec::default()
        };
        built.insert(
            name,
            WorldPhone {
                card: doc.card.value,
                token,
            },
        );
    }
    Ok(built)
}

impl WorldPhone {
    /// The phone token as served on `today` (the scenario's clock), its certificate ending
    /// with its card's 利用者証明用 certificate and the token's life with the card's.
    pub(crate) fn token_on(&self, card: &CardDescription, today: NaiveDate) -> CardDescription {
        let card = card.on_day(today);
        let (_, card_not_after) = card.card.auth_certificate_validity(&card.person);
        let mut token = self.token.on_day(today);
        token.card.certificates.auth.not_after = Some(CardDate::On(card_not_after));
        token.card.expires = Some(CardDate::On(card.card.expiry_date(&card.person)));
        token
    }
}

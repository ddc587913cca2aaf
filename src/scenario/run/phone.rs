//! The clinic's generic reader in a scenario (docs/smartphone.md): the world's phones, the one
//! held over the generic reader (a second slot: in-process, or vpcd's `Virtual PCD 00 01`), and
//! the iPhone's on-device approval, which reaches the phone itself, not the wire.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::engine::Engine;
use super::result::ScenarioFailure;
use crate::card::{Card, CardDescription};
use crate::pki::TestPki;
use crate::reader::PhoneApproval;
use crate::scenario::model::Step;
use crate::scenario::readers::GenericOpener;
use crate::scenario::slot::ReaderSlot;
use crate::scenario::world::WorldPhone;
use crate::trace::Event;

/// The world's phones and the generic reader.
pub(crate) struct Phones {
    /// The world's phones by name, as described (a phone is built when first placed).
    pub(super) described: BTreeMap<String, WorldPhone>,
    /// The world's cards, whose end dates the phones share.
    pub(super) cards: BTreeMap<String, CardDescription>,
    /// Phones taken off the generic reader, with their state (PIN tries).
    pub(super) out: BTreeMap<String, Card>,
    /// The generic reader, once a phone was held over it, and the name of that phone.
    pub(crate) reader: Option<(Box<dyn ReaderSlot>, String)>,
    /// Opens the generic reader; `None` where the chosen reader has no second slot.
    pub(super) opener: Option<GenericOpener>,
    /// The iPhone approval the scenario gave, applied to the phone when it is placed.
    pub(super) approval: Option<PhoneApproval>,
    /// The day relative dates are read on (the scenario's clock).
    pub(super) day: NaiveDate,
}

impl Engine {
    /// Holds the world's phone `name` over the generic reader (the phone there before, if
    /// another, keeps its state), with the approval the scenario gave applied to it.
    pub(super) fn put_phone(&mut self, step: &Step, name: &str) -> Result<(), ScenarioFailure> {
        let expected = format!("the phone `{name}` held over the generic reader");
        let already = matches!(&self.phones.reader, Some((_, on)) if on == name);
        if !already {
            let phone = self
                .build_phone(name)
                .map_err(|actual| Self::fail(step, expected.clone(), actual))?;
            let previous = match self.phones.reader.take() {
                Some((mut slot, previous_name)) => {
                    let swapped = slot.swap_card(phone);
                    self.phones.reader = Some((slot, name.to_owned()));
                    match swapped {
                        Ok(previous) => previous.map(|card| (previous_name, card)),
                        Err(error) => return Err(Self::fail(step, expected, error.to_string())),
                    }
                }
                None => {
                    let Some(opener) = self.phones.opener.as_mut() else {
                        return Err(Self::fail(
                            step,
                            expected,
                            "this reader has no second slot for the generic reader (run on \
                             --reader virtual or vpcd)"
                                .into(),
                        ));
                    };
                    let slot = opener(phone)
                        .map_err(|error| Self::fail(step, expected.clone(), error.to_string()))?;
                    self.phones.reader = Some((slot, name.to_owned()));
                    None
                }
            };
            if let Some((previous_name, card)) = previous {
                self.phones.out.insert(previous_name, card);
            }
            self.keep_event(
                step.index,
                Event::CardPlaced {
                    card: name.to_owned(),
                },
            );
            self.log(
                step.index,
                "--",
                format!("the phone `{name}` is held over the generic reader"),
            );
        }
        let approved = self.phones.approval == Some(PhoneApproval::Approved);
        self.set_phone_approval(approved);
        Ok(())
    }

    /// The on-device approval on the phone on the generic reader (iPhone only: other phones
    /// have no such screen and are left as they are).
    pub(super) fn set_phone_approval(&mut self, approved: bool) {
        if let Some((slot, _)) = self.phones.reader.as_mut() {
            slot.change_card(&mut |card| {
                let _ = card.set_device_approval(approved);
            });
        }
    }

    fn build_phone(&mut self, name: &str) -> Result<Card, String> {
        if let Some(card) = self.phones.out.remove(name) {
            return Ok(card);
        }
        let Some(phone) = self.phones.described.get(name) else {
            return Err("the world has no phone of that name".into());
        };
        let Some(card) = self.phones.cards.get(&phone.card) else {
            return Err(format!("the world has no card `{}`", phone.card));
        };
        let token = phone.token_on(card, self.phones.day);
        TestPki::load()
            .map_err(|error| error.to_string())
            .and_then(|pki| Card::from_description(&token, pki).map_err(|e| e.to_string()))
            .map_err(|error| format!("cannot build it: {error}"))
    }
}

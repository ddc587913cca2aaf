//! The scenario's world while it runs: the registry and clock, and the rack of named cards taken
//! out of and put into the reader.

use chrono::NaiveDate;

use crate::card::{Card, CardDescription};
use crate::oqs::registry::Registry;
use crate::oqs::{Oqs, OqsConfig};
use crate::reader::{Network, Terminal, TerminalConfig};
use crate::scenario::checks::observed_reception;
use crate::scenario::world::World;
use std::collections::BTreeMap;

/// The qualification system and the terminal of a scenario with a world.
pub(crate) struct WorldState {
    /// The reader of the current reception (a new one starts at each placement after a
    /// finished reception).
    pub(crate) terminal: Terminal,
    pub(crate) service: Network<Oqs>,
    pub(crate) facility_code: String,
    pub(crate) date: NaiveDate,
    /// What each finished reception came to, in order (the current one is `terminal`).
    pub(crate) finished_receptions: Vec<serde_json::Map<String, serde_json::Value>>,
    /// The name of the card placed in the current reception, when the card has one.
    pub(crate) reception_card: Option<String>,
    /// Whether the current reception has begun (a card was placed).
    pub(super) reception_started: bool,
    /// The terminal's settings, to start the reader of the next reception.
    pub(super) terminal_config: TerminalConfig,
}

impl WorldState {
    pub(super) fn start(world: &World, clock: NaiveDate) -> Result<WorldState, String> {
        let oqs = Oqs::new(
            // Built at load; the service owns its copy, so every run starts from the same one.
            Registry::clone(&world.registry),
            OqsConfig {
                // Reproducible challenges: the same scenario signs the same bytes every run.
                challenge_seed: Some(1),
                ..OqsConfig::default()
            },
        )
        .map_err(|error| format!("starting the qualification system: {error}"))?;
        if world.faults.jlis_down {
            oqs.set_jlis_available(false);
        }
        let service = Network::new(oqs);
        if world.faults.network_down {
            service.set_up(false);
            service.service().set_reachable(false);
        }
        let terminal_config = TerminalConfig {
            facility_code: world.facility_code.clone(),
            date: clock,
            time: None,
            options: world.reader.clone(),
        };
        Ok(WorldState {
            terminal: Terminal::new(terminal_config.clone()),
            service,
            facility_code: world.facility_code.clone(),
            date: clock,
            finished_receptions: Vec::new(),
            reception_card: None,
            reception_started: false,
            terminal_config,
        })
    }

    /// The current reception as `expect.reception` compares it: the reader's outcome plus the
    /// name of the card placed.
    pub(crate) fn observed(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut observed = observed_reception(self.terminal.outcome(), self.terminal.screen());
        observed.insert(
            "card".into(),
            self.reception_card
                .clone()
                .map_or(serde_json::Value::Null, serde_json::Value::from),
        );
        observed
    }

    /// Every reception of the scenario so far, in order (`expect.receptions`).
    pub(crate) fn receptions(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let mut all = self.finished_receptions.clone();
        if self.reception_started || all.is_empty() {
            all.push(self.observed());
        }
        all
    }

    /// A card is placed: after a finished reception, the next one starts with a fresh reader
    /// screen on the scenario's current date.
    pub(super) fn begin_placement(&mut self, card: Option<String>) {
        if self.terminal.is_finished() {
            self.finished_receptions.push(self.observed());
            let config = TerminalConfig {
                date: self.date,
                ..self.terminal_config.clone()
            };
            self.terminal = Terminal::new(config);
        }
        self.reception_started = true;
        // A reception is named after the card it read; until one was read, after the last
        // card placed.
        if !self.terminal.has_read_a_card() {
            self.reception_card = card;
        }
    }

    /// How transcripts name the current reception: by its card.
    pub(super) fn reception_label(&self) -> String {
        match &self.reception_card {
            Some(name) => format!("the card `{name}`"),
            None => "the card".to_owned(),
        }
    }

    /// Why the reader would not take a card now (`None`: it would). A placement on a screen
    /// that takes no card is refused before the card in the reader is taken out.
    pub(super) fn placement_refused(&self) -> Option<String> {
        let terminal = &self.terminal;
        if terminal.is_finished() || terminal.screen().accepts().contains(&"place_card") {
            return None;
        }
        Some(format!(
            "{}; the reception of {} is under way: take it back first (`reception: remove_card`)",
            terminal.unexpected("place_card"),
            self.reception_label()
        ))
    }
}

/// The scenario's named cards outside the reader, and which one is in it.
pub(super) struct CardRack {
    /// The world's cards by name, as described (a card is built when first placed).
    pub(super) described: BTreeMap<String, CardDescription>,
    /// Named cards taken out of the reader, with their state (retry counters, files).
    pub(super) out: BTreeMap<String, Card>,
    /// The name of the card in the reader; `None` for an unnamed one (inline, a card file).
    pub(super) in_reader: Option<String>,
    /// The day relative card dates are read on (the scenario's clock).
    pub(super) day: NaiveDate,
}

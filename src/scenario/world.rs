//! The validated world a reception scenario happens in (read from
//! [`super::schema::WorldDoc`] by [`super::load`]): the qualification system's registry, built
//! once when the scenario is loaded, the world's cards, faults, reader options and facility.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::schema::WorldFaults;
use crate::card::CardDescription;
use crate::oqs::registry::Registry;
use crate::reader::ReaderOptions;

/// The validated world.
#[derive(Debug, Clone)]
pub(crate) struct World {
    /// Built (and so checked) at load; every run of the scenario (and every copy of it) starts
    /// its qualification system from this one.
    pub(crate) registry: Arc<Registry>,
    pub(crate) cards: BTreeMap<String, CardDescription>,
    pub(crate) faults: WorldFaults,
    pub(crate) reader: ReaderOptions,
    pub(crate) facility_code: String,
    /// Things that load but are probably not what the author meant (a card the registry does
    /// not link), each `file:line:column: warning: …`; printed once per run.
    pub(crate) warnings: Vec<String>,
    /// Phone credentials by name: the phone token as its card's holder would carry it.
    pub(crate) smartphones: BTreeMap<String, WorldPhone>,
}

/// A phone credential of the world, built into a phone token when first placed.
#[derive(Debug, Clone)]
pub(crate) struct WorldPhone {
    /// The world card it was added from: its certificate ends with that card's.
    pub(crate) card: String,
    /// The token (holder, profile, issue day, PIN) before the card's end date is applied.
    pub(crate) token: CardDescription,
}

//! `world:` as written: the qualification system's registry (reusing
//! [`crate::oqs::RegistryDescription`] as is), cards whose holder is a registry person (reusing
//! [`crate::card::CardSpec`]), faults of the surroundings (network, J-LIS), the reader model's
//! options and the facility.
//!
//! A world is written inline under `world:` or kept in a shared file (conventionally in
//! `scenarios/_worlds/`, which discovery skips) and named by several scenarios.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::inline::InlineOrPath;
use crate::card::CardSpec;
use crate::oqs::RegistryDescription;
use crate::person::Person;
use crate::reader::ReaderOptions;

/// `world:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorldDoc {
    /// The qualification system's registry: inline, or a path to a registry file (the same
    /// format `myna-hil oqs serve --registry` reads).
    pub(crate) registry: Spanned<InlineOrPath<RegistryDescription>>,
    /// Cards by name. A scenario puts one in the reader with `card: NAME`.
    #[serde(default)]
    pub(crate) cards: BTreeMap<String, Spanned<WorldCardDoc>>,
    #[serde(default)]
    pub(crate) faults: WorldFaults,
    /// Options of the reader model (face lock, 目視, 特定健診 screen rule, 照合番号B year style).
    #[serde(default)]
    pub(crate) reader: ReaderOptions,
    /// 医療機関コード of the clinic (10 digits).
    #[serde(default = "default_facility_code")]
    pub(crate) facility_code: String,
}

pub(crate) const DEFAULT_FACILITY_CODE: &str = "1312345678";

fn default_facility_code() -> String {
    DEFAULT_FACILITY_CODE.to_owned()
}

/// One card of the world: the holder is a registry person (by `id`), or — for a card whose
/// holder the registry does not know — an inline `person:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorldCardDoc {
    #[serde(default)]
    pub(crate) holder: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) person: Option<Person>,
    /// The card itself, exactly as under `card:` in a card file.
    #[serde(default)]
    pub(crate) card: CardSpec,
}

/// What is broken around the reader when the scenario starts (events can change it later).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorldFaults {
    /// The terminal cannot reach the qualification system (the 緊急時 path).
    #[serde(default)]
    pub(crate) network_down: bool,
    /// J-LIS is unreachable: first registration and first use after renewal fail.
    #[serde(default)]
    pub(crate) jlis_down: bool,
}

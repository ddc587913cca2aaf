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
use crate::person::{Person, PhoneKind};
use crate::reader::ReaderOptions;
use chrono::NaiveDate;

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
    /// Phone credentials by name (スマホ用電子証明書). A reception holds one over the generic
    /// reader with `place_phone: NAME` (docs/smartphone.md).
    #[serde(default)]
    pub(crate) smartphones: BTreeMap<String, Spanned<WorldPhoneDoc>>,
}

/// One phone credential of the world: a phone token (profile `smartphone` or `smartphone_ios`)
/// whose 利用者証明用 certificate is issued on `issued` and ends with the world card `card`'s
/// (docs/spec/smartphone.md §4.13, [model]); the registry lists it under that card's
/// `smartphones:` to resolve it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorldPhoneDoc {
    /// `android` or `iphone`.
    pub(crate) kind: PhoneKind,
    /// The world card it was added from (its holder is the phone's holder).
    pub(crate) card: Spanned<String>,
    /// The day it was added to the phone: its certificate's notBefore.
    pub(crate) issued: NaiveDate,
    /// The Android credential's own 4-digit PIN (default `1234`); an iPhone has none on the
    /// wire.
    #[serde(default)]
    pub(crate) pin: Option<crate::card::description::FourDigitPin>,
    /// Starting tries of the Android PIN (absent = full, `0` = locked).
    #[serde(default)]
    pub(crate) tries_left: Option<u8>,
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

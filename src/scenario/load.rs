//! Finding scenario files and loading them strictly.
//!
//! Every error names the file, the line and the column, says what was wrong and, where there
//! is a closed set, lists the valid choices; it carries a two-line excerpt of the source with a
//! caret under the offending spot.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, Spanned};

use super::checks::{reception_checks, Check, ScenarioCheck, TranscriptRule};
use super::model::{Action, Scenario, Step};
use super::pattern::{CardSecret, CommandDoc};
use super::schema::{
    ActionDoc, InlineOrPath, ReaderEvent, ReceptionDoc, ScenarioDoc, ScenarioExpectDoc, StepDoc,
    WorldDoc, STEP_ACTION_KEYS,
};
use super::world::World;
use crate::card::CardDescription;
use crate::oqs::registry::{Registry, RegistryError};
use crate::yaml::WithKeyLocations;

/// A scenario (or a file it references) that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The scenario file.
    pub file: PathBuf,
    /// 1-based; `None` when the problem is the file as a whole (unreadable, missing).
    pub line: Option<u64>,
    /// 1-based column of the problem, when known.
    pub column: Option<u64>,
    /// What is wrong, in the scenario's own terms.
    pub message: String,
    /// Source lines around the location with a caret, ready to print.
    pub excerpt: Option<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::yaml::write_location(f, &self.file, self.line, self.column)?;
        write!(f, ": {}", self.message)?;
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

/// The widest excerpt line printed (a window around the caret).
const MAX_SHOWN_CHARS: usize = 160;

/// `text`, cut to the longest message printed, with what was left out said.
fn bounded(text: String) -> String {
    crate::excerpt::bounded(&text, crate::excerpt::MAX_MESSAGE_CHARS)
}

impl LoadError {
    fn whole_file(file: &Path, message: impl Into<String>) -> LoadError {
        LoadError {
            file: file.to_owned(),
            line: None,
            column: None,
            message: bounded(message.into()),
            excerpt: None,
        }
    }

    /// A key missing from the document itself: located at its start, the top-level mapping.
    fn missing_key(file: &Path, source: &str, message: impl Into<String>) -> LoadError {
        LoadError::at(file, source, 1, 1, message)
    }

    fn at(
        file: &Path,
        source: &str,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> LoadError {
        LoadError {
            file: file.to_owned(),
            line: Some(line),
            column: Some(column),
            message: bounded(message.into()),
            excerpt: excerpt(source, line, column),
        }
    }

    pub(super) fn at_location<T>(
        file: &Path,
        source: &str,
        spanned: &Spanned<T>,
        message: impl Into<String>,
    ) -> LoadError {
        let location = spanned.referenced;
        LoadError::at(file, source, location.line(), location.column(), message)
    }
}

/// Up to two lines before `line`, the line itself, and a caret under `column`.
fn excerpt(source: &str, line: u64, column: u64) -> Option<String> {
    let line_index = usize::try_from(line).ok()?.checked_sub(1)?;
    let lines: Vec<&str> = source.lines().collect();
    let target = lines.get(line_index)?;
    let first = line_index.saturating_sub(2);
    let width = (line_index + 1).to_string().len();
    // Each line is shown from a window that keeps the caret in view, at most MAX_SHOWN_CHARS
    // wide: a 20 MB line shows as one short line.
    let caret = usize::try_from(column.saturating_sub(1))
        .unwrap_or(usize::MAX)
        .min(target.chars().count());
    let window_start = caret.saturating_sub(MAX_SHOWN_CHARS / 2);
    let mut out = String::new();
    for (n, text) in lines.iter().enumerate().take(line_index + 1).skip(first) {
        // A line above that ends before the caret's window would show blank: it is shown
        // from its own start instead (it is context, the caret is not under it).
        let start = if n != line_index && text.chars().count() <= window_start {
            0
        } else {
            window_start
        };
        let shown: String = text.chars().skip(start).take(MAX_SHOWN_CHARS).collect();
        let cut_before = if start > 0 && !shown.is_empty() {
            "…"
        } else {
            ""
        };
        let cut_after = if text.chars().count() > start + MAX_SHOWN_CHARS {
            "…"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:>width$} | {cut_before}{shown}{cut_after}\n",
            n + 1
        ));
    }
    // Columns count characters; one column per character is the honest approximation
    // (full-width text shifts the caret).
    let marker = if window_start > 0 { 1 } else { 0 };
    let pad = caret - window_start + marker;
    out.push_str(&format!("{:>width$} | {}^", "", " ".repeat(pad)));
    Some(out)
}

/// Reads and strictly deserializes one YAML file into `T`.
fn parse_file<T: DeserializeOwned>(file: &Path) -> Result<(T, String), LoadError> {
    let bytes = std::fs::read(file)
        .map_err(|error| LoadError::whole_file(file, format!("cannot read: {error}")))?;
    let source = utf8_source(file, bytes)?;
    let value = serde_saphyr::from_str::<T>(&source).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = explain(&crate::yaml::plain_message(&error));
        if line == 0 {
            LoadError {
                file: file.to_owned(),
                line: None,
                column: None,
                message,
                excerpt: None,
            }
        } else {
            LoadError::at(file, &source, line, column, message)
        }
    })?;
    Ok((value, source))
}

/// The file's text; bytes that are not UTF-8 are an error at the first of them.
fn utf8_source(file: &Path, bytes: Vec<u8>) -> Result<String, LoadError> {
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line_start = valid
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |newline| newline + 1);
        let line = valid.iter().filter(|&&byte| byte == b'\n').count() + 1;
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        let bad = error.as_bytes()[valid.len()];
        LoadError {
            file: file.to_owned(),
            line: Some(u64::try_from(line).unwrap_or(u64::MAX)),
            column: Some(u64::try_from(column).unwrap_or(u64::MAX)),
            message: format!(
                "byte {bad:#04x} is not UTF-8: scenario, card and world files must be UTF-8 text"
            ),
            excerpt: None,
        }
    })
}

/// The line of a top-level `key:` in `source` (1-based), for errors about a key whose value
/// carries no location of its own (an empty list).
fn top_level_key_line(source: &str, key: &str) -> u64 {
    source
        .lines()
        .position(|line| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(1, |index| u64::try_from(index + 1).unwrap_or(u64::MAX))
}

/// Turns terse type errors into ones that say what was expected.
fn explain(message: &str) -> String {
    const CHRONO_DATE_ERRORS: &[&str] = &[
        "input is out of range",
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "no possible date and time matching input",
    ];
    if CHRONO_DATE_ERRORS.contains(&message) {
        return format!(
            "not a valid calendar date ({message}); write dates as YYYY-MM-DD, e.g. 1980-05-10"
        );
    }
    match message {
        "invalid u8" => format!("expected a whole number from 0 to {}", u8::MAX),
        "invalid u16" => format!("expected a whole number from 0 to {}", u16::MAX),
        "invalid u32" | "invalid u64" | "invalid usize" => {
            "expected a whole number (0 or more)".to_owned()
        }
        // `null` is read as "absent" only for a whole key: inside a mapping it is no wildcard.
        "invalid boolean" => "expected true or false (`null` stands only for a whole key that \
                              can be absent, such as `consent: null`; to leave a value \
                              unchecked, leave its key out)"
            .to_owned(),
        _ => message.to_owned(),
    }
}

/// Scenario files under `paths`: directories are searched recursively for `*.yaml` / `*.yml`
/// (skipping files and folders whose name starts with `_` or `.`, where shared cards and worlds
/// live); files named explicitly are always taken. Sorted, without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut found = Vec::new();
    let mut visited = std::collections::HashSet::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found, &mut visited)?;
        } else if path.is_file() {
            found.push(path.clone());
        } else {
            return Err(LoadError::whole_file(path, "no such file or directory"));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `visited` holds the folders already searched (resolved): a symbolic link back up the tree
/// would otherwise be followed forever.
fn walk(
    dir: &Path,
    found: &mut Vec<PathBuf>,
    visited: &mut std::collections::HashSet<PathBuf>,
) -> Result<(), LoadError> {
    let resolved = std::fs::canonicalize(dir)
        .map_err(|error| LoadError::whole_file(dir, format!("cannot resolve: {error}")))?;
    if !visited.insert(resolved) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|error| LoadError::whole_file(dir, format!("cannot list: {error}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|error| LoadError::whole_file(dir, format!("cannot list: {error}")))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, found, visited)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            found.push(path);
        }
    }
    Ok(())
}

/// Loads one scenario file and everything it references.
pub(crate) fn load_scenario(file: &Path) -> Result<Scenario, LoadError> {
    let (doc, source) = parse_file::<ScenarioDoc>(file)?;
    let base = file.parent().unwrap_or(Path::new("."));
    let world = match doc.world {
        Some(world) => Some(build_world(
            file,
            &source,
            base,
            world,
            doc.clock.as_ref().map(|c| c.value),
        )?),
        None => None,
    };
    let first_placed = doc.steps.iter().find_map(|step| {
        step.value.actions.iter().find_map(|action| match action {
            ActionDoc::Reception {
                input: ReceptionDoc::PlaceNamedCard(name),
                ..
            } => Some(name.as_str()),
            _ => None,
        })
    });
    check_placed_names(file, &source, &doc.steps, world.as_ref())?;
    let (card, card_file, card_name) =
        scenario_card(file, &source, base, doc.card, world.as_ref(), first_placed)?;
    let steps = doc
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| build_step(file, &source, index, step, &card))
        .collect::<Result<Vec<_>, _>>()?;
    if steps.is_empty() {
        return Err(LoadError::at(
            file,
            &source,
            top_level_key_line(&source, "steps"),
            1,
            "`steps:` is empty: a scenario needs at least one step",
        ));
    }
    let clock = doc.clock.as_ref().map(|clock| clock.value);
    for (step, written) in steps.iter().zip(&doc.steps) {
        let needs_world = match &step.action {
            Action::Reception { .. } => Some("a `reception` step"),
            Action::InsuranceCardLookup { .. } => Some("an `insurance_card_lookup` step"),
            Action::Event(event) if event.is_world_event() => Some("a network or J-LIS event"),
            Action::AdvanceClock { .. } => Some("an `advance_clock` step"),
            _ => None,
        };
        if let Action::Reception {
            input: ReceptionDoc::PlacePhone(name),
            ..
        } = &step.action
        {
            let known = world.as_ref().map(|world| &world.smartphones);
            if !known.is_some_and(|phones| phones.contains_key(name)) {
                return Err(LoadError::at_location(
                    file,
                    &source,
                    written,
                    format!(
                        "step {}: `place_phone: {name}`: no phone named `{name}` in the world's `smartphones:`; its phones: {}",
                        step.index + 1,
                        known.map_or("none (no `world:`)".to_owned(), |phones| choices(phones.keys()))
                    ),
                ));
            }
        }
        if let Some(what) = needs_world {
            if world.is_none() || clock.is_none() {
                return Err(LoadError::at_location(
                    file,
                    &source,
                    written,
                    format!(
                        "{what} needs the qualification system: add `clock:` (the scenario date) and \
                         `world:` (registry and cards) to the scenario"
                    ),
                ));
            }
        }
    }
    if world.is_some() && clock.is_none() {
        return Err(LoadError::missing_key(
            file,
            &source,
            "a scenario with `world:` needs `clock:` (the scenario date, e.g. `clock: 2025-06-02`)",
        ));
    }
    let checks = match &doc.expect {
        Some(expect) => build_checks(file, &source, expect, &steps, world.is_some())?,
        None => Vec::new(),
    };
    Ok(Scenario {
        name: doc.name.value,
        tags: doc.tags,
        file: file.to_owned(),
        card,
        card_file,
        card_name,
        clock,
        world,
        steps,
        checks,
        skip_on: doc.skip_on,
    })
}

/// Every `place_card: NAME` names a card of the world: checked before the card in the reader
/// is chosen (the first name placed is that card), so a misspelt name is reported at its step.
fn check_placed_names(
    file: &Path,
    source: &str,
    steps: &[Spanned<StepDoc>],
    world: Option<&World>,
) -> Result<(), LoadError> {
    let known = world.map(|world| &world.cards);
    for (index, written) in steps.iter().enumerate() {
        for action in &written.value.actions {
            let ActionDoc::Reception {
                input: ReceptionDoc::PlaceNamedCard(name),
                ..
            } = action
            else {
                continue;
            };
            if !known.is_some_and(|cards| cards.contains_key(name)) {
                return Err(LoadError::at_location(
                    file,
                    source,
                    written,
                    format!(
                        "step {}: `place_card: {name}`: no card named `{name}` in the world; its cards: {}",
                        index + 1,
                        known.map_or("none (no `world:`)".to_owned(), |cards| choices(cards.keys()))
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The card in the reader at the start: inline, a card file, or one of the world's cards.
fn scenario_card(
    file: &Path,
    source: &str,
    base: &Path,
    card: Option<Spanned<InlineOrPath<CardDescription>>>,
    world: Option<&World>,
    first_placed: Option<&str>,
) -> Result<(CardDescription, Option<PathBuf>, Option<String>), LoadError> {
    let Some(card) = card else {
        return match world {
            // The first card a step places is in the reader's slot from the start.
            Some(world) if first_placed.is_some_and(|name| world.cards.contains_key(name)) => {
                let name = first_placed.unwrap_or_default().to_owned();
                let found = world.cards.get(&name).cloned();
                found.map(|card| (card, None, Some(name))).ok_or_else(|| {
                    LoadError::missing_key(file, source, "the world has no card to put in the reader")
                })
            }
            Some(world) if world.cards.len() == 1 => {
                let only = world
                    .cards
                    .iter()
                    .next()
                    .map(|(name, card)| (card.clone(), None, Some(name.clone())));
                only.ok_or_else(|| {
                    LoadError::missing_key(file, source, "the world has no card to put in the reader")
                })
            }
            Some(world) => Err(LoadError::missing_key(
                file,
                source,
                format!(
                    "name the card in the reader with `card: NAME`; the world's cards: {}",
                    choices(world.cards.keys())
                ),
            )),
            None => Err(LoadError::missing_key(
                file,
                source,
                "missing field `card` (a path to a card file, an inline card, or with `world:` the \
                 name of a world card)",
            )),
        };
    };
    if let (Some(world), InlineOrPath::Path(name)) = (world, &card.value) {
        let is_file = matches!(
            name.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if !is_file {
            let name = name.display().to_string();
            return match world.cards.get(&name) {
                Some(found) => Ok((found.clone(), None, Some(name))),
                None => Err(LoadError::at_location(
                    file,
                    source,
                    &card,
                    format!(
                        "no card named `{name}` in the world; its cards: {} (a card file path ends in .yaml)",
                        choices(world.cards.keys())
                    ),
                )),
            };
        }
    }
    let card_location = card.referenced;
    let (description, card_file) = resolve(file, source, base, card, "card")?;
    if let Err(invalid) = description.validate() {
        let origin = card_file.as_ref().map_or_else(
            || "inline card".to_owned(),
            |f| format!("card file {}", f.display()),
        );
        return Err(LoadError::at(
            file,
            source,
            card_location.line(),
            card_location.column(),
            format!("{origin}: {invalid}"),
        ));
    }
    Ok((*description, card_file, None))
}

fn choices<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Resolves `world:` (and its registry), checks every reference in it, and builds the cards.
fn build_world(
    file: &Path,
    source: &str,
    base: &Path,
    world: Spanned<InlineOrPath<WorldDoc>>,
    clock: Option<chrono::NaiveDate>,
) -> Result<World, LoadError> {
    let world = resolve_with_source(file, source, base, world, "world")?;
    let world_file = world.origin.clone();
    let world_source = world.source;
    let doc = *world.value;
    let world_base = world_file.parent().unwrap_or(Path::new(".")).to_owned();
    let registry = resolve_with_source(
        &world_file,
        &world_source,
        &world_base,
        doc.registry,
        "registry",
    )?;
    let registry_origin = registry.origin.display().to_string();
    let built = Registry::from_description(&registry_origin, &registry.value)
        .map_err(|error| registry_error(&registry.origin, &registry.source, error))?;
    let person_ids: Vec<String> = registry
        .value
        .persons
        .iter()
        .map(|person| person.id.value.clone())
        .collect();
    let mut cards = BTreeMap::new();
    let mut warnings = Vec::new();
    for (name, entry) in doc.cards {
        let person = match (&entry.value.holder, &entry.value.person) {
            (Some(holder), None) => registry
                .value
                .persons
                .iter()
                .find(|person| person.id.value == holder.value)
                .map(|person| person.person.clone())
                .ok_or_else(|| {
                    LoadError::at_location(
                        &world_file,
                        &world_source,
                        holder,
                        format!(
                            "card `{name}`: holder `{}` is not a person of the registry; its persons: {}",
                            holder.value,
                            choices(person_ids.iter())
                        ),
                    )
                })?,
            (None, Some(person)) => person.clone(),
            _ => {
                return Err(LoadError::at_location(
                    &world_file,
                    &world_source,
                    &entry,
                    format!(
                        "card `{name}` needs exactly one of `holder:` (a registry person's id: {}) \
                         or `person:` (a holder the registry does not know)",
                        choices(person_ids.iter())
                    ),
                ))
            }
        };
        let description = CardDescription {
            person,
            card: entry.value.card.clone(),
        };
        if let Err(invalid) = description.validate() {
            return Err(LoadError::at_location(
                &world_file,
                &world_source,
                &entry,
                format!("card `{name}`: {invalid}"),
            ));
        }
        if let (Some(holder), Some(day)) = (&entry.value.holder, clock) {
            if let Some(unlinked) = unlinked_card(
                &name,
                &holder.value,
                &description.on_day(day),
                &registry.value,
            ) {
                let location = entry.referenced;
                warnings.push(format!(
                    "{}:{}:{}: warning: {unlinked}",
                    world_file.display(),
                    location.line(),
                    location.column()
                ));
            }
        }
        cards.insert(name, description);
    }
    let smartphones =
        super::world_phones::build(&world_file, &world_source, doc.smartphones, &cards)?;
    if !crate::oqs::service::is_facility_code(&doc.facility_code) {
        return Err(LoadError::whole_file(
            &world_file,
            format!(
                "facility_code must be 10 ASCII digits (医療機関コード), got {:?}",
                doc.facility_code
            ),
        ));
    }
    Ok(World {
        registry: Arc::new(built),
        cards,
        faults: doc.faults,
        reader: doc.reader,
        facility_code: doc.facility_code,
        warnings,
        smartphones,
    })
}

/// Why the world card `name` of registry person `holder` is not linked in the registry, if it
/// is not: the registry names a card by its auth certificate's issue date (with the holder's
/// 個人番号), so a card whose `issued` matches none of the holder's links is silently one the
/// qualification system has never seen (H401, not registered). Cards that are no My Number
/// card (a 住基カード token) are not linked anywhere and need no warning.
fn unlinked_card(
    name: &str,
    holder: &str,
    card: &CardDescription,
    registry: &crate::oqs::description::RegistryDescription,
) -> Option<String> {
    if card.card.profile.features().token_label.as_bytes()
        != crate::reader::card_io::CARD_TOKEN_LABEL
    {
        return None;
    }
    let issued = card.card.auth_certificate_validity(&card.person).0;
    let links: Vec<chrono::NaiveDate> = registry
        .persons
        .iter()
        .flat_map(|person| {
            person.cards.iter().filter(move |link| {
                link.holder
                    .as_ref()
                    .map_or(person.id.value.as_str(), |other| other.value.as_str())
                    == holder
            })
        })
        .map(|link| link.issued)
        .collect();
    if links.contains(&issued) {
        return None;
    }
    let known = if links.is_empty() {
        "none".to_owned()
    } else {
        links
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "card `{name}`: its 利用者証明用電子証明書 is issued {issued}, but the registry links no card \
         of `{holder}` issued that day (its cards: {known}), so the qualification system treats it \
         as not registered; give the card the `issued` of one of them, or add `- issued: {issued}` \
         to the person's `cards:`"
    ))
}

/// A registry that does not build, pointing into the file it was written in when the
/// registry knows where.
fn registry_error(origin: &Path, source: &str, error: RegistryError) -> LoadError {
    match error {
        RegistryError::Invalid {
            line,
            column,
            field,
            message,
            ..
        } if line > 0 => LoadError::at(origin, source, line, column, format!("{field}: {message}")),
        other => LoadError::whole_file(origin, other.to_string()),
    }
}

/// Turns the top-level `expect:` into independent checks, each at the line it is written, in
/// file order.
fn build_checks(
    file: &Path,
    source: &str,
    expect: &Spanned<WithKeyLocations<ScenarioExpectDoc>>,
    steps: &[Step],
    has_world: bool,
) -> Result<Vec<ScenarioCheck>, LoadError> {
    let doc = &expect.value.value;
    let key_location = |key: &str| {
        expect
            .value
            .keys
            .iter()
            .find(|(written, _)| written == key)
            .map_or(expect.referenced, |(_, location)| *location)
    };
    let fail_at = |location: Location, message: String| {
        LoadError::at(file, source, location.line(), location.column(), message)
    };
    let mut checks = Vec::new();
    let mut push = |field: String, location: Location, check: Check| {
        checks.push(ScenarioCheck {
            field,
            line: location.line(),
            column: location.column(),
            check,
        });
    };
    if let Some(reception) = &doc.reception {
        if !has_world {
            return Err(fail_at(
                key_location("reception"),
                "`expect.reception` needs a reception: add `world:`, `clock:` and `reception` steps".into(),
            ));
        }
        for (field, location, check) in reception_checks(reception, None) {
            push(format!("expect.reception.{field}"), location, check);
        }
    }
    if let Some(receptions) = &doc.receptions {
        let location = key_location("receptions");
        if !has_world {
            return Err(fail_at(
                location,
                "`expect.receptions` needs receptions: add `world:`, `clock:` and `reception` steps"
                    .into(),
            ));
        }
        push(
            "expect.receptions".into(),
            location,
            Check::ReceptionCount(receptions.len()),
        );
        for (index, reception) in receptions.iter().enumerate() {
            for (field, location, check) in reception_checks(reception, Some(index)) {
                push(
                    format!("expect.receptions[{index}].{field}"),
                    location,
                    check,
                );
            }
        }
    }
    if let Some(card) = &doc.card {
        push(
            "expect.card.pins".into(),
            key_location("card"),
            Check::CardPins(card.pins),
        );
    }
    let labels: Vec<(usize, &str)> = steps
        .iter()
        .filter_map(|step| step.label.as_deref().map(|label| (step.index, label)))
        .collect();
    for (n, written) in doc.transcript.iter().enumerate() {
        let rule = &written.value;
        let location = written.referenced;
        let after = match &rule.after {
            None => None,
            Some(label) => match labels.iter().find(|(_, l)| l == label) {
                Some((index, _)) => Some((*index, label.clone())),
                None => {
                    let known: Vec<String> = labels.iter().map(|(_, l)| format!("{l:?}")).collect();
                    return Err(fail_at(location, format!(
                        "expect.transcript[{n}].after: no step is labelled {label:?}; step labels: {}",
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    )));
                }
            },
        };
        let rule = match (&rule.no_command, &rule.command, rule.count) {
            (Some(pattern), None, None) => TranscriptRule::Never {
                pattern: pattern.clone(),
                after,
            },
            (None, Some(pattern), count) => TranscriptRule::Sent {
                pattern: pattern.clone(),
                count,
                after,
            },
            (Some(_), None, Some(_)) => {
                return Err(fail_at(
                    location,
                    format!(
                        "expect.transcript[{n}]: `count` goes with `command`, not `no_command`"
                    ),
                ))
            }
            _ => {
                return Err(fail_at(
                    location,
                    format!(
                        "expect.transcript[{n}] needs exactly one of `no_command` or `command`"
                    ),
                ))
            }
        };
        push(
            format!("expect.transcript[{n}]"),
            location,
            Check::Transcript(rule),
        );
    }
    if let Some(calls) = &doc.oqs_calls {
        if !has_world {
            return Err(fail_at(
                key_location("oqs_calls"),
                "`expect.oqs_calls` needs the qualification system: add `world:` and `clock:`"
                    .into(),
            ));
        }
        push(
            "expect.oqs_calls".into(),
            key_location("oqs_calls"),
            Check::OqsCalls(calls.clone()),
        );
    }
    if checks.is_empty() {
        return Err(fail_at(
            expect.referenced,
            "`expect:` is empty; expected at least one of reception, receptions, card, transcript, oqs_calls"
                .into(),
        ));
    }
    checks.sort_by_key(|check| (check.line, check.column));
    Ok(checks)
}

/// Resolves an inline-or-path value; a path is relative to the referencing file's folder.
fn resolve<T: DeserializeOwned>(
    file: &Path,
    source: &str,
    base: &Path,
    value: Spanned<InlineOrPath<T>>,
    what: &str,
) -> Result<(Box<T>, Option<PathBuf>), LoadError> {
    resolve_with_source(file, source, base, value, what)
        .map(|resolved| (resolved.value, resolved.file))
}

/// A resolved inline-or-path value with the file and text it was read from (the referencing
/// file itself for an inline value), so that later checks can point into it.
struct Resolved<T> {
    value: Box<T>,
    /// The file named by a path; `None` when the value was inline.
    file: Option<PathBuf>,
    /// Where errors about the value point: the named file, or the referencing file.
    origin: PathBuf,
    source: String,
}

fn resolve_with_source<T: DeserializeOwned>(
    file: &Path,
    source: &str,
    base: &Path,
    value: Spanned<InlineOrPath<T>>,
    what: &str,
) -> Result<Resolved<T>, LoadError> {
    match value.value {
        InlineOrPath::Inline(inline) => Ok(Resolved {
            value: inline,
            file: None,
            origin: file.to_owned(),
            source: source.to_owned(),
        }),
        InlineOrPath::Path(relative) => {
            let target = normalize(&base.join(&relative));
            if !target.is_file() {
                let location = value.referenced;
                return Err(LoadError::at(
                    file,
                    source,
                    location.line(),
                    location.column(),
                    format!(
                        "{what} file {} not found (looked for {}); {}",
                        relative.display(),
                        target.display(),
                        yaml_files_near(&target)
                    ),
                ));
            }
            let (loaded, loaded_source) = parse_file::<T>(&target)?;
            Ok(Resolved {
                value: Box::new(loaded),
                file: Some(target.clone()),
                origin: target,
                source: loaded_source,
            })
        }
    }
}

/// Resolves `.` and `..` lexically, so messages show `fixtures/cards/x.yaml` rather than
/// `scenarios/card/../../fixtures/cards/x.yaml` (the file may not exist, so no canonicalize).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// "YAML files in fixtures/cards: a.yaml, b.yaml" — the valid choices for a dangling path.
fn yaml_files_near(target: &Path) -> String {
    let Some(dir) = target.parent() else {
        return "no such folder".to_owned();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return format!("folder {} does not exist", dir.display());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    names.sort();
    if names.is_empty() {
        format!("there are no YAML files in {}", dir.display())
    } else {
        format!("YAML files in {}: {}", dir.display(), names.join(", "))
    }
}

fn build_step(
    file: &Path,
    source: &str,
    index: usize,
    step: &Spanned<StepDoc>,
    card: &CardDescription,
) -> Result<Step, LoadError> {
    let doc = &step.value;
    let action_keys = STEP_ACTION_KEYS.join(", ");
    let action = match doc.actions.as_slice() {
        [action] => action,
        [] => {
            return Err(LoadError::at_location(
                file,
                source,
                step,
                format!(
                    "step {} has no action: it needs exactly one of {action_keys}",
                    index + 1
                ),
            ))
        }
        several => {
            let present: Vec<&str> = several.iter().map(ActionDoc::key).collect();
            return Err(LoadError::at_location(
                file,
                source,
                step,
                format!(
                    "step {} has {} actions ({}): write one of {action_keys} per step",
                    index + 1,
                    present.len(),
                    present.join(", ")
                ),
            ));
        }
    };
    if let Some((message, location)) = &doc.unknown_reception {
        return Err(LoadError::at(
            file,
            source,
            location.line(),
            location.column(),
            message.clone(),
        ));
    }
    if let Some(location) = doc.expect_before_action {
        return Err(LoadError::at(
            file,
            source,
            location.line(),
            location.column(),
            format!(
                "step {}: write `{}` before `expect:` (the action decides which expectations apply)",
                index + 1,
                action.key()
            ),
        ));
    }
    Ok(Step {
        index,
        label: doc.label.clone(),
        line: step.referenced.line(),
        action: build_action(file, source, index, step.referenced.line(), action, card)?,
    })
}

/// The bytes of a `send` command, a named secret filled in with the card's own value (the
/// card the scenario starts with).
fn command_bytes(command: &CommandDoc, card: &CardDescription) -> Vec<u8> {
    let mut bytes = command.before.clone();
    if let Some(secret) = command.secret {
        let (collation_a, collation_b) = card.collation_numbers();
        let pins = &card.card.pins;
        match secret {
            CardSecret::AuthPin => bytes.extend_from_slice(pins.auth_or_default()),
            CardSecret::SigningPassword => bytes.extend_from_slice(pins.signing_or_default()),
            CardSecret::TextPin => bytes.extend_from_slice(pins.text_or_default()),
            CardSecret::CollationA => bytes.extend_from_slice(collation_a.as_bytes()),
            CardSecret::CollationB => bytes.extend_from_slice(collation_b.as_bytes()),
            CardSecret::BirthDateKey => {
                bytes.extend_from_slice(collation_b.as_bytes().get(..6).unwrap_or_default())
            }
        }
    }
    bytes.extend_from_slice(&command.after);
    bytes
}

/// The validated action; its expectation was checked key by key while the file was parsed,
/// what is left is whether an expectation the action needs is there.
fn build_action(
    file: &Path,
    source: &str,
    index: usize,
    step_line: u64,
    action: &ActionDoc,
    card: &CardDescription,
) -> Result<Action, LoadError> {
    Ok(match action {
        ActionDoc::AdvanceClock(advance) => {
            let days = u32::try_from(advance.value.days)
                .ok()
                .filter(|days| (1..=36_500).contains(days));
            let Some(days) = days else {
                return Err(LoadError::at_location(
                    file,
                    source,
                    advance,
                    format!(
                        "step {}: `advance_clock` moves the clock forward 1 to 36500 days, got {}",
                        index + 1,
                        advance.value.days
                    ),
                ));
            };
            Action::AdvanceClock { days }
        }
        ActionDoc::Send { apdu, expect } => {
            let Some(expect) = expect else {
                return Err(LoadError::at_location(
                    file,
                    source,
                    apdu,
                    format!(
                        "step {}: `send` needs `expect:` with at least one of sw, data, data_len, error \
                         (a command whose answer is not checked proves nothing)",
                        index + 1
                    ),
                ));
            };
            Action::Send {
                apdu: command_bytes(&apdu.value, card),
                expect: expect.clone(),
            }
        }
        ActionDoc::InsuranceCardLookup { request, expect } => {
            let Some(expect) = expect else {
                return Err(LoadError::at_location(
                    file,
                    source,
                    request,
                    format!(
                        "step {}: `insurance_card_lookup` needs `expect: {{ validity: ... }}` (one of \
                         valid, invalid, invalid_new_qualification_exists, no_qualification, multiple, \
                         or null for no answer)",
                        index + 1
                    ),
                ));
            };
            Action::InsuranceCardLookup {
                request: request.value.clone(),
                validity: expect.validity,
            }
        }
        ActionDoc::Reception { input, expect } => Action::Reception {
            input: input.clone(),
            expect: expect.clone().unwrap_or_default(),
        },
        ActionDoc::Power { action, expect } => Action::Power {
            action: *action,
            expect: expect.clone().unwrap_or_default(),
        },
        ActionDoc::Pins(pins) => Action::Pins(*pins),
        ActionDoc::Event(event) => {
            if event_milliseconds(*event).is_some_and(|ms| ms > MAX_EVENT_MS) {
                return Err(LoadError::at(
                    file,
                    source,
                    step_line,
                    1,
                    format!(
                        "step {}: `{event}` is more than the {MAX_EVENT_MS} ms (one day) a step may \
                         ask for",
                        index + 1
                    ),
                ));
            }
            Action::Event(*event)
        }
    })
}

/// The duration an event asks for, if it asks for one.
fn event_milliseconds(event: ReaderEvent) -> Option<u64> {
    match event {
        ReaderEvent::LatencyMs(ms) | ReaderEvent::ReaderTimeoutMs(ms) | ReaderEvent::WaitMs(ms) => {
            Some(ms)
        }
        _ => None,
    }
}

/// The longest wait, latency or reader timeout one step may ask for: simulated time adds up
/// over the steps and must stay far from overflowing.
pub(crate) const MAX_EVENT_MS: u64 = 86_400_000;

/// Loads every file; returns the scenarios that loaded and an error for each that did not
/// (plus one for each duplicated name, naming both files).
pub fn load_all(files: &[PathBuf]) -> (Vec<Scenario>, Vec<LoadError>) {
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load_scenario(file) {
            Ok(scenario) => scenarios.push(scenario),
            Err(error) => errors.push(error),
        }
    }
    let mut first_file_of: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut unique = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        match first_file_of.get(&scenario.name) {
            Some(first) => errors.push(LoadError::whole_file(
                &scenario.file,
                format!(
                    "scenario name {:?} is already used by {}; names must be unique",
                    scenario.name,
                    first.display()
                ),
            )),
            None => {
                first_file_of.insert(scenario.name.clone(), scenario.file.clone());
                unique.push(scenario);
            }
        }
    }
    (unique, errors)
}

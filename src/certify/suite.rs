//! The conformance suite as data: `requirements.yaml` (the catalogue), `registry.yaml` (the
//! qualification system's persons) and `cases/*.yaml`, loaded strictly. Every error names the
//! file, the line and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use super::catalogue::{decode_aid, CatalogueDoc, Predicate, Requirement};
use crate::card::description::{CardFaults, TriesSpec};
use crate::card::CardDescription;
use crate::oqs::RegistryDescription;
use crate::person::PhoneKind;
use crate::reader::PhoneApproval;

/// A suite file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SuiteError {
    pub(crate) file: PathBuf,
    pub(crate) line: Option<u64>,
    pub(crate) column: Option<u64>,
    /// The field at fault (`evidence[2]`, `card.holder` …), when known.
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::yaml::write_location(f, &self.file, self.line, self.column)?;
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl SuiteError {
    fn file(file: &Path, message: impl Into<String>) -> SuiteError {
        SuiteError {
            file: file.to_owned(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    fn at<T>(file: &Path, spanned: &Spanned<T>, field: &str, message: impl Into<String>) -> Self {
        SuiteError {
            file: file.to_owned(),
            line: Some(spanned.referenced.line()),
            column: Some(spanned.referenced.column()),
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

/// The PIN the operator is asked to enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PinEntry {
    /// The card's own PIN.
    Correct,
    /// A PIN of the right shape that is not the card's.
    Wrong,
}

/// `comprehensive` (包括同意) or `individual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ConsentModeChoice {
    Comprehensive,
    Individual,
}

/// One step of a case: something the harness does to the card slot, or something the
/// operator does at the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum StepDoc {
    /// The harness inserts the card (and waits until the reader stack sees it).
    PlaceCard,
    /// The harness takes the card away.
    RemoveCard,
    ChoosePin,
    EnterPin(PinEntry),
    /// 顔認証, with what the camera reads from the card front (from the card itself).
    ChooseFace,
    FaceResult(bool),
    ChooseVisual,
    StaffCheck(bool),
    ConsentMode(ConsentModeChoice),
    Consent(bool),
    Register(bool),
    /// Milliseconds to let the device finish on its own.
    Wait(u64),
    /// スマートフォン on the face reader.
    ChooseSmartphone,
    /// `android` or `iphone` (the case's `phone.kind`).
    ChoosePhone(PhoneKind),
    /// The Android phone's PIN typed on the face reader.
    EnterPhonePin(PinEntry),
    /// The iPhone's on-device approval (given to the emulated phone as well).
    PhoneApproval(PhoneApproval),
    /// The harness holds the case's phone over the generic reader (vpcd's next slot) and
    /// waits until the reader stack sees it; then `phone_placed`.
    PlacePhone,
    /// The harness takes the phone away; then `phone_removed`.
    RemovePhone,
}

impl StepDoc {
    /// Whether the step belongs to the smartphone path (its case needs a device that
    /// declared phone support, and a `phone:`).
    pub(crate) fn is_phone_step(&self) -> bool {
        matches!(
            self,
            StepDoc::ChooseSmartphone
                | StepDoc::ChoosePhone(_)
                | StepDoc::EnterPhonePin(_)
                | StepDoc::PhoneApproval(_)
                | StepDoc::PlacePhone
                | StepDoc::RemovePhone
        )
    }
}

/// The phone credential of a case's holder (docs/smartphone.md): a phone token issued on the
/// case's card, whose certificate ends with the card's (no grace, docs/spec/smartphone.md §4.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneSetup {
    /// `android` (own 4-digit PIN) or `iphone` (on-device approval).
    pub(crate) kind: PhoneKind,
    /// The holder's card lies on the face reader's slot during the phone reception (inserted
    /// by the harness before the first step; the device is not told): a PIN meant for the
    /// phone that goes to the card slot then reaches a card and shows in its log.
    #[serde(default)]
    pub(crate) card_on_face_reader: bool,
}

/// The state of the card's authentication certificate on the day of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CertificateState {
    #[default]
    Valid,
    /// Expired long enough ago that the grace period is over.
    Expired,
    /// Revoked (lost) a month ago.
    Revoked,
    /// Expired ten days ago: the card itself is in its grace period, its phone credentials
    /// are not (docs/spec/smartphone.md §4.14).
    InGrace,
}

/// The card's 保険証利用登録 on the day of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RegistrationState {
    #[default]
    Registered,
    NotRegistered,
}

/// When the harness pulls the card out in the middle of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RemovalTrigger {
    /// A READ BINARY at a non-zero offset (the middle of a file).
    Read,
    /// A VERIFY carrying a PIN.
    Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemovalDoc {
    /// The command during which the card goes away: the card processes it (a PIN try is
    /// spent) but the answer never reaches the device.
    pub(crate) during: RemovalTrigger,
    /// Which occurrence (1 = the first).
    #[serde(default = "first")]
    pub(crate) nth: u32,
}

fn first() -> u32 {
    1
}

/// The card of a case: a card file, its holder in the suite registry, and overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardSetupDoc {
    /// A card file (`person:` + `card:`), relative to the case file. Its `card:` part is used;
    /// the holder is the registry person.
    pub(crate) file: Spanned<String>,
    /// Registry person id; default: the registry person with the card file's 個人番号.
    #[serde(default)]
    pub(crate) holder: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) tries_left: Option<TriesSpec>,
    #[serde(default)]
    pub(crate) faults: Option<CardFaults>,
    /// Answer with the card's real processing time (default: at once, to keep runs short).
    #[serde(default)]
    pub(crate) latency: bool,
    #[serde(default)]
    pub(crate) certificate: CertificateState,
    #[serde(default)]
    pub(crate) registration: RegistrationState,
    /// Files are fixed-size and padded: a READ BINARY with `Le = 00` returns 256 bytes (zeros
    /// after the content) and the read after the last chunk gets `6B 00`, as on cards whose
    /// EFs are larger than their contents.
    #[serde(default)]
    pub(crate) pad_reads: bool,
    #[serde(default)]
    pub(crate) remove: Option<RemovalDoc>,
}

/// The qualification system's state for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OqsSetup {
    /// The qualification system is unreachable (every HTTP call answers 503).
    #[serde(default)]
    pub(crate) outage: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseDoc {
    pub(crate) id: Spanned<String>,
    pub(crate) title: String,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "the file's prose for its reader; the schema accepts it, the harness does not use it"
    )]
    pub(crate) description: Option<String>,
    pub(crate) card: CardSetupDoc,
    #[serde(default)]
    pub(crate) oqs: OqsSetup,
    /// The holder's phone, for cases with smartphone steps.
    #[serde(default)]
    pub(crate) phone: Option<PhoneSetup>,
    pub(crate) steps: Vec<Spanned<StepDoc>>,
    /// How long the device may take to react to one step (default 15 s).
    #[serde(default)]
    pub(crate) step_timeout_ms: Option<Spanned<u64>>,
    /// Requirement ids this case gives evidence for.
    pub(crate) evidence: Vec<Spanned<String>>,
}

/// A step's timeout when the case sets none.
const DEFAULT_STEP_TIMEOUT_MS: u64 = 15_000;

/// The longest `wait` step and `step_timeout_ms`: a day, the limit scenarios set for their
/// waits and timeouts (a run must end; 2^64−1 ms once made interactive `certify` sleep for
/// ever).
const MAX_STEP_MS: u64 = crate::scenario::load::MAX_EVENT_MS;

/// A validated case.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) id: String,
    pub(crate) title: String,
    /// The card file with the registry holder as its person and the overrides applied
    /// (dates are made relative to the day of the run later, in the world).
    pub(crate) card: CardDescription,
    pub(crate) holder: String,
    pub(crate) setup: CardSetupDoc,
    pub(crate) oqs: OqsSetup,
    pub(crate) phone: Option<PhoneSetup>,
    pub(crate) steps: Vec<StepDoc>,
    pub(crate) step_timeout_ms: u64,
    pub(crate) evidence: Vec<String>,
}

/// The whole suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub(crate) root: PathBuf,
    pub(crate) requirements: Vec<Requirement>,
    pub(crate) registry: RegistryDescription,
    pub(crate) cases: Vec<Case>,
    /// SHA-256 over the suite's files (relative path, NUL, contents, in path order), hex.
    pub(crate) sha256: String,
}

impl Suite {
    /// The requirement the catalogue lists under `id` (e.g. `RDR-PIN-003`).
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// Keeps only the cases named (in suite order); unknown names are an error.
    pub(crate) fn select_cases(&mut self, names: &[String]) -> Result<(), SuiteError> {
        if names.is_empty() {
            return Ok(());
        }
        let known: BTreeSet<&str> = self.cases.iter().map(|c| c.id.as_str()).collect();
        for name in names {
            if !known.contains(name.as_str()) {
                return Err(SuiteError::file(
                    &self.root.join("cases"),
                    format!(
                        "--case {name}: no such case; cases: {}",
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        self.cases.retain(|case| names.contains(&case.id));
        Ok(())
    }
}

fn parse_file<T: DeserializeOwned>(file: &Path) -> Result<(T, String), SuiteError> {
    let source = std::fs::read_to_string(file)
        .map_err(|error| SuiteError::file(file, format!("cannot read: {error}")))?;
    let value = serde_saphyr::from_str::<T>(&source).map_err(|error| {
        let location = error.location();
        SuiteError {
            file: file.to_owned(),
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            field: location.and_then(|l| key_at(&source, l.line(), l.column())),
            message: crate::yaml::plain_message(&error),
        }
    })?;
    Ok((value, source))
}

/// The YAML key at (or whose value holds) a 1-based line and column: the key under the
/// position itself when it is one (`fil:` of an unknown field), else the nearest `key:` to its
/// left on the line (`predicate:` in `{ predicate: nonsense }`).
fn key_at(source: &str, line: u64, column: u64) -> Option<String> {
    let text = source
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let chars: Vec<char> = text.chars().collect();
    let at = usize::try_from(column)
        .ok()?
        .saturating_sub(1)
        .min(chars.len());
    let is_key_char = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let word_end = |from: usize| {
        let mut end = from;
        while end < chars.len() && is_key_char(chars[end]) {
            end += 1;
        }
        end
    };
    let end = word_end(at);
    if end > at && chars.get(end) == Some(&':') {
        return Some(chars[at..end].iter().collect());
    }
    let mut colon = at.min(chars.len());
    while colon > 0 {
        colon -= 1;
        if chars[colon] == ':' {
            let mut start = colon;
            while start > 0 && is_key_char(chars[start - 1]) {
                start -= 1;
            }
            if start < colon {
                return Some(chars[start..colon].iter().collect());
            }
        }
    }
    None
}

/// Loads the suite in `root` (`requirements.yaml`, `registry.yaml`, `cases/*.yaml`).
pub fn load(root: &Path) -> Result<Suite, SuiteError> {
    let catalogue_file = root.join("requirements.yaml");
    let registry_file = root.join("registry.yaml");
    let cases_dir = root.join("cases");
    let requirements = load_catalogue(&catalogue_file)?;
    let registry = RegistryDescription::from_file(&registry_file)
        .map_err(|error| SuiteError::file(&registry_file, error.to_string()))?;
    // The registry must build (cross references) before cases point into it.
    crate::oqs::Registry::from_description(&registry_file.display().to_string(), &registry)
        .map_err(|error| SuiteError::file(&registry_file, error.to_string()))?;

    let mut case_files: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .map_err(|error| SuiteError::file(&cases_dir, format!("cannot list: {error}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        })
        .collect();
    case_files.sort();
    if case_files.is_empty() {
        return Err(SuiteError::file(&cases_dir, "no case files (*.yaml)"));
    }
    let ids: BTreeSet<&str> = requirements.iter().map(|r| r.id.as_str()).collect();
    let mut cases = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in &case_files {
        let case = load_case(file, &ids, &registry)?;
        if let Some(other) = seen.insert(case.id.clone(), file.clone()) {
            return Err(SuiteError::file(
                file,
                format!("case id {:?} is also used by {}", case.id, other.display()),
            ));
        }
        cases.push(case);
    }
    let mut hashed = vec![catalogue_file.clone(), registry_file.clone()];
    hashed.extend(case_files.iter().cloned());
    let sha256 = hash_files(root, &hashed)?;
    Ok(Suite {
        root: root.to_owned(),
        requirements,
        registry,
        cases,
        sha256,
    })
}

fn hash_files(root: &Path, files: &[PathBuf]) -> Result<String, SuiteError> {
    let mut sorted: Vec<(String, &PathBuf)> = files
        .iter()
        .map(|file| {
            let relative = file.strip_prefix(root).unwrap_or(file);
            (relative.to_string_lossy().replace('\\', "/"), file)
        })
        .collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for (name, file) in sorted {
        let bytes = std::fs::read(file)
            .map_err(|error| SuiteError::file(file, format!("cannot read: {error}")))?;
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn load_catalogue(file: &Path) -> Result<Vec<Requirement>, SuiteError> {
    let (doc, _) = parse_file::<CatalogueDoc>(file)?;
    let mut seen = BTreeSet::new();
    let mut requirements = Vec::new();
    for (index, entry) in doc.requirements.into_iter().enumerate() {
        let field = format!("requirements[{index}]");
        let id = entry.id.value.clone();
        let well_formed = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !well_formed {
            return Err(SuiteError::at(
                file,
                &entry.id,
                &format!("{field}.id"),
                format!("{id:?} is not an id like CARD-READ-01 (A-Z, 0-9, -)"),
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(SuiteError::at(
                file,
                &entry.id,
                &format!("{field}.id"),
                format!("{id} is listed twice"),
            ));
        }
        for reference in entry.judge.files() {
            reference.decode().map_err(|message| {
                SuiteError::at(file, &entry.id, &format!("{field}.judge"), message)
            })?;
        }
        if let Predicate::SelectsBeforeRead { aid } = &entry.judge {
            decode_aid(aid).map_err(|message| {
                SuiteError::at(file, &entry.id, &format!("{field}.judge"), message)
            })?;
        }
        if entry.question.is_none() && entry.judge.judges_display() {
            return Err(SuiteError::at(
                file,
                &entry.id,
                &format!("{field}.question"),
                "a requirement judged by what the device shows needs a `question` for the operator (ja and en)",
            ));
        }
        requirements.push(Requirement {
            id,
            title: entry.title,
            rationale: entry.rationale,
            source: entry.source,
            level: entry.level,
            judge: entry.judge,
            question: entry.question,
        });
    }
    if requirements.is_empty() {
        return Err(SuiteError::file(file, "no requirements"));
    }
    Ok(requirements)
}

/// Each step of a case on its own: a phone step needs the case's phone, a wait at most a day.
fn check_steps(file: &Path, doc: &CaseDoc) -> Result<(), SuiteError> {
    for (index, step) in doc.steps.iter().enumerate() {
        if step.value.is_phone_step() && doc.phone.is_none() {
            return Err(SuiteError::at(
                file,
                step,
                &format!("steps[{index}]"),
                "a smartphone step needs the case's `phone:` (kind android or iphone)",
            ));
        }
        if let StepDoc::Wait(ms) = step.value {
            if ms > MAX_STEP_MS {
                return Err(SuiteError::at(
                    file,
                    step,
                    &format!("steps[{index}].wait"),
                    format!("{ms} ms is more than the {MAX_STEP_MS} ms (one day) a wait may last"),
                ));
            }
        }
    }
    Ok(())
}

fn load_case(
    file: &Path,
    requirement_ids: &BTreeSet<&str>,
    registry: &RegistryDescription,
) -> Result<Case, SuiteError> {
    let (doc, _) = parse_file::<CaseDoc>(file)?;
    let id = doc.id.value.clone();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(SuiteError::at(
            file,
            &doc.id,
            "id",
            format!("{id:?} is not a case id (a-z, 0-9, -)"),
        ));
    }
    if doc.steps.is_empty() {
        return Err(SuiteError::at(file, &doc.id, "steps", "a case needs steps"));
    }
    if doc.evidence.is_empty() {
        return Err(SuiteError::at(
            file,
            &doc.id,
            "evidence",
            "a case must give evidence for at least one requirement",
        ));
    }
    for (index, requirement) in doc.evidence.iter().enumerate() {
        if !requirement_ids.contains(requirement.value.as_str()) {
            return Err(SuiteError::at(
                file,
                requirement,
                &format!("evidence[{index}]"),
                format!(
                    "no requirement {:?} in requirements.yaml",
                    requirement.value
                ),
            ));
        }
    }
    let step_timeout_ms = match &doc.step_timeout_ms {
        None => DEFAULT_STEP_TIMEOUT_MS,
        Some(timeout) if timeout.value == 0 || timeout.value > MAX_STEP_MS => {
            return Err(SuiteError::at(
                file,
                timeout,
                "step_timeout_ms",
                format!(
                    "{} is not a step timeout: from 1 to {MAX_STEP_MS} ms (one day)",
                    timeout.value
                ),
            ));
        }
        Some(timeout) => timeout.value,
    };
    check_steps(file, &doc)?;

    let card_path = file
        .parent()
        .unwrap_or(Path::new("."))
        .join(&doc.card.file.value);
    let mut card = CardDescription::from_yaml_file(&card_path)
        .map_err(|error| SuiteError::at(file, &doc.card.file, "card.file", error.to_string()))?;
    let holder = match &doc.card.holder {
        Some(holder) => {
            let person = registry
                .persons
                .iter()
                .find(|p| p.id.value == holder.value)
                .ok_or_else(|| {
                    let ids: Vec<&str> =
                        registry.persons.iter().map(|p| p.id.value.as_str()).collect();
                    SuiteError::at(
                        file,
                        holder,
                        "card.holder",
                        format!(
                            "no person {:?} in the suite registry; persons: {}",
                            holder.value,
                            ids.join(", ")
                        ),
                    )
                })?;
            card.person = person.person.clone();
            holder.value.clone()
        }
        None => registry
            .persons
            .iter()
            .find(|p| p.person.my_number == card.person.my_number)
            .map(|p| p.id.value.clone())
            .ok_or_else(|| {
                SuiteError::at(
                    file,
                    &doc.card.file,
                    "card.holder",
                    "the card's holder is not in the suite registry; name a registry person with `holder:`",
                )
            })?,
    };
    if let Some(tries) = doc.card.tries_left {
        card.card.tries_left = tries;
    }
    if let Some(faults) = doc.card.faults {
        card.card.faults = faults;
    }
    card.validate()
        .map_err(|invalid| SuiteError::at(file, &doc.card.file, &invalid.field, invalid.message))?;
    if let Some(removal) = doc.card.remove {
        if removal.nth == 0 {
            return Err(SuiteError::at(
                file,
                &doc.card.file,
                "card.remove.nth",
                "counts from 1",
            ));
        }
    }
    Ok(Case {
        id,
        title: doc.title,
        card,
        holder,
        setup: doc.card.clone(),
        oqs: doc.oqs,
        phone: doc.phone,
        steps: doc.steps.into_iter().map(|step| step.value).collect(),
        step_timeout_ms,
        evidence: doc.evidence.into_iter().map(|e| e.value).collect(),
    })
}

/// The suite folder: `--suite DIR` as given; without it `certify/` in the current folder when it
/// holds a suite, else the suite shipped in the checkout the binary was built from, so that
/// `certify` run from any folder finds it (docs/certify.md).
pub(crate) fn locate(given: Option<&Path>) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_owned();
    }
    let here = PathBuf::from("certify");
    if here.join("requirements.yaml").is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certify")
}

#[cfg(test)]
mod tests {
    use super::{key_at, load};

    #[test]
    fn the_shipped_suite_loads_and_every_requirement_has_a_case() {
        let suite = load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certify"))
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(suite.requirements.len() >= 20);
        for requirement in &suite.requirements {
            assert!(
                suite
                    .cases
                    .iter()
                    .any(|case| case.evidence.contains(&requirement.id)),
                "no case gives evidence for {}",
                requirement.id
            );
        }
        assert_eq!(suite.sha256.len(), 64);
    }

    #[test]
    fn the_key_of_an_error_position_is_found() {
        let source = "id: x\ncard:\n  fil: a.yaml\njudge: { predicate: nonsense, min_ms: 5 }\n";
        assert_eq!(key_at(source, 3, 3).as_deref(), Some("fil"));
        assert_eq!(key_at(source, 4, 21).as_deref(), Some("predicate"));
        assert_eq!(key_at(source, 4, 40).as_deref(), Some("min_ms"));
        assert_eq!(key_at(source, 9, 1), None);
    }
}

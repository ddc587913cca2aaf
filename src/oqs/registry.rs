//! The registry in memory, laid out for national scale: fixed-size rows without owned strings,
//! text interned in one arena, cards sorted by certificate serial (binary search, no per-entry
//! allocation), and a sorted key index for the 被保険者証 lookup. 10 million persons fit in
//! well under 2 GiB and a lookup touches a handful of cache lines whatever the size.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use chrono::NaiveDate;

use crate::oqs::codes::{IncomeBracket, InsuredCardClassification, ReasonOfLoss, Relationship};
use crate::oqs::description::{
    ElderlyRecipientDescription, LimitCertificateDescription, LinkState, RegistryOptions,
    Revocation, RevocationReason, SpecificDiseaseDescription,
};
use crate::person::{MyNumber, Person, PhoneKind, Sex};
use crate::pki::{certificate_serial, smartphone_certificate_serial, CertificateKind};

/// Index of a person in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(pub u32);

/// Index of a qualification in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct QualificationId(pub u32);

/// Index of an insurer in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct InsurerId(pub u32);

/// Errors building a registry (shape errors are caught by the YAML types already).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A field of the registry file breaks a rule, at a known place.
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Invalid {
        /// The registry file, as the caller named it.
        file: String,
        /// 1-based line of the field.
        line: u64,
        /// 1-based column of the field.
        column: u64,
        /// The field's path in the registry file.
        field: String,
        /// The rule it breaks.
        message: String,
    },
    /// A registry built in code (no file) breaks a rule.
    #[error("{field}: {message}")]
    Build {
        /// The field's path in the description.
        field: String,
        /// The rule it breaks.
        message: String,
    },
}

/// Strings stored back to back; an id is an index into `ends`.
#[derive(Debug, Clone, Default)]
struct TextArena {
    bytes: String,
    ends: Vec<u32>,
}

const NO_TEXT: u32 = u32::MAX;

impl TextArena {
    fn push(&mut self, text: &str) -> Result<u32, RegistryError> {
        self.bytes.push_str(text);
        let end = u32::try_from(self.bytes.len()).map_err(|_| RegistryError::Build {
            field: "text".into(),
            message: "more than 4 GiB of registry text".into(),
        })?;
        self.ends.push(end);
        Ok((self.ends.len() - 1) as u32)
    }

    fn get(&self, id: u32) -> &str {
        let index = id as usize;
        let Some(&end) = self.ends.get(index) else {
            return "";
        };
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        self.bytes.get(start as usize..end as usize).unwrap_or("")
    }

    fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

const FLAG_SELF_INFORMATION_BLOCKED: u8 = 1;
const FLAG_ADDRESS_NOT_DISCLOSED: u8 = 2;
const FLAG_JLIS_MISMATCH: u8 = 4;

fn person_flags(flags: crate::oqs::description::PersonFlags) -> u8 {
    let mut bits = 0;
    if flags.self_information_blocked {
        bits |= FLAG_SELF_INFORMATION_BLOCKED;
    }
    if flags.address_not_disclosed {
        bits |= FLAG_ADDRESS_NOT_DISCLOSED;
    }
    if flags.jlis_mismatch {
        bits |= FLAG_JLIS_MISMATCH;
    }
    bits
}

#[derive(Debug, Clone, Copy)]
struct PersonRow {
    name: u32,
    kana: u32,
    address: u32,
    post_number: u32,
    birth_date: NaiveDate,
    qualifications_start: u32,
    qualifications_len: u16,
    sex: Sex,
    flags: u8,
}

#[derive(Debug, Clone, Copy)]
struct QualificationRow {
    person: u32,
    insurer: u32,
    symbol: u32,
    number: u32,
    acquired: NaiveDate,
    /// `NaiveDate::MAX` when not lost.
    lost: NaiveDate,
    registered_on: NaiveDate,
    /// Index into `extras`, `u32::MAX` when none.
    extras: u32,
    /// Days from `lost` until the insurer registered the loss (fits the row's padding).
    loss_lag_days: u16,
    branch: u8,
    /// 0 when the age rule applies.
    burden_percent: u8,
    relationship: Relationship,
    card_classification: InsuredCardClassification,
    reason_of_loss: Option<ReasonOfLoss>,
    income: IncomeBracket,
}

/// The rarely present parts of a qualification (kept out of the fixed-size row).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct QualificationExtras {
    pub(crate) card_valid_from: Option<NaiveDate>,
    pub(crate) card_valid_until: Option<NaiveDate>,
    pub(crate) elderly_recipient: Option<ElderlyRecipientDescription>,
    pub(crate) limit_certificate: Option<LimitCertificateDescription>,
    pub(crate) specific_diseases: Vec<SpecificDiseaseDescription>,
}

impl QualificationExtras {
    fn is_empty(&self) -> bool {
        *self == QualificationExtras::default()
    }
}

#[derive(Debug, Clone, Copy)]
struct CardRow {
    person: u32,
    /// `NaiveDate::MIN` when registered from the start.
    registered_on: NaiveDate,
    /// `NaiveDate::MAX` when never revoked.
    revoked_on: NaiveDate,
    link: LinkState,
    revocation: Option<RevocationReason>,
    /// The certificate belongs to someone else than the record it is linked to.
    mislinked: bool,
}

#[derive(Debug, Clone)]
struct InsurerRow {
    number: String,
    name: String,
    registration_lag_days: u32,
}

/// The registry: immutable once built (runtime changes such as re-links live in the service).
#[derive(Debug, Clone)]
pub struct Registry {
    options: RegistryOptions,
    text: TextArena,
    insurers: Vec<InsurerRow>,
    insurer_index: HashMap<String, u32>,
    persons: Vec<PersonRow>,
    person_ids: HashMap<String, u32>,
    person_names: Vec<(u32, String)>,
    qualifications: Vec<QualificationRow>,
    extras: Vec<QualificationExtras>,
    card_serials: Vec<u64>,
    /// Where each serial prefix starts in `card_serials` (see [`SerialDirectory`]).
    card_directory: SerialDirectory,
    cards: Vec<CardRow>,
    /// (hash of insurer, symbol, number, branch) → qualification, sorted by hash.
    insurance_card_index: Vec<(u64, u32)>,
    /// Phone credentials by certificate serial: few, so kept apart from the card rows.
    smartphones: HashMap<u64, SmartphoneView>,
}

/// A phone credential (スマホ用電子証明書) as the registry knows it: whose it is, which card it
/// was issued on, and what has become of that card (docs/spec/smartphone.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SmartphoneView {
    pub(crate) kind: PhoneKind,
    /// The record it resolves to: its card's.
    pub(crate) person: PersonId,
    /// The serial of the card's 利用者証明用 certificate it was issued on.
    pub(crate) card_serial: u64,
    /// The first day a newer card of the holder is in force: from then on the phone needs
    /// re-issuing.
    pub(crate) card_renewed_on: Option<NaiveDate>,
    pub(crate) revoked: Option<Revocation>,
}

/// One phone credential as the builder takes it.
#[derive(Debug, Clone)]
pub(crate) struct SmartphoneRecord<'a> {
    pub(crate) kind: PhoneKind,
    /// 個人番号 of the card's holder (the phone's serial is derived from it).
    pub(crate) holder: &'a MyNumber,
    /// notBefore of the phone's certificate.
    pub(crate) issued: NaiveDate,
    pub(crate) card_serial: u64,
    pub(crate) card_renewed_on: Option<NaiveDate>,
    pub(crate) revoked: Option<Revocation>,
}

/// One qualification as the builder takes it.
#[derive(Debug, Clone)]
pub(crate) struct QualificationRecord<'a> {
    pub(crate) insurer: &'a str,
    pub(crate) relationship: Relationship,
    pub(crate) card_classification: InsuredCardClassification,
    pub(crate) symbol: &'a str,
    pub(crate) number: &'a str,
    pub(crate) branch: u8,
    pub(crate) acquired: NaiveDate,
    pub(crate) lost: Option<NaiveDate>,
    pub(crate) reason_of_loss: Option<ReasonOfLoss>,
    pub(crate) registered_on: Option<NaiveDate>,
    /// When the insurer registered the loss (on or after `lost`); `None`: on `lost`.
    pub(crate) loss_registered_on: Option<NaiveDate>,
    pub(crate) income: IncomeBracket,
    pub(crate) burden_percent: Option<u8>,
    pub(crate) extras: QualificationExtras,
}

/// One card link as the builder takes it.
#[derive(Debug, Clone)]
pub(crate) struct CardLinkRecord<'a> {
    /// 個人番号 of the card's holder (another person's for a wrong link).
    pub(crate) holder: &'a MyNumber,
    /// notBefore of the authentication certificate.
    pub(crate) issued: NaiveDate,
    pub(crate) link: LinkState,
    pub(crate) registered_on: Option<NaiveDate>,
    pub(crate) revoked: Option<Revocation>,
}

/// Builds a [`Registry`]; used by the YAML loader, the synthetic generator and the scenario
/// engine.
#[derive(Debug)]
pub(crate) struct RegistryBuilder {
    registry: Registry,
    interned: HashMap<Box<str>, u32>,
    /// 個人番号 as integers (12 digits fit), only while building: 8 bytes instead of a String.
    my_numbers: Vec<u64>,
    card_rows: Vec<(u64, CardRow)>,
}

fn my_number_key(number: &MyNumber) -> u64 {
    // A MyNumber is 12 ASCII digits by construction.
    number.as_str().parse().unwrap_or(u64::MAX)
}

impl RegistryBuilder {
    pub(crate) fn new(options: RegistryOptions) -> RegistryBuilder {
        Self::with_capacity(options, 0)
    }

    /// Reserves room for `persons` persons with one qualification and one card each.
    pub(crate) fn with_capacity(options: RegistryOptions, persons: usize) -> RegistryBuilder {
        RegistryBuilder {
            registry: Registry {
                options,
                text: TextArena::default(),
                insurers: Vec::new(),
                insurer_index: HashMap::new(),
                persons: Vec::with_capacity(persons),
                person_ids: HashMap::new(),
                person_names: Vec::new(),
                qualifications: Vec::with_capacity(persons),
                extras: Vec::new(),
                card_serials: Vec::new(),
                card_directory: SerialDirectory::default(),
                cards: Vec::new(),
                insurance_card_index: Vec::new(),
                smartphones: HashMap::new(),
            },
            interned: HashMap::new(),
            my_numbers: Vec::with_capacity(persons),
            card_rows: Vec::with_capacity(persons),
        }
    }

    /// Text that repeats across persons (names, addresses, symbols) is stored once.
    fn intern(&mut self, text: &str) -> Result<u32, RegistryError> {
        if let Some(&id) = self.interned.get(text) {
            return Ok(id);
        }
        let id = self.registry.text.push(text)?;
        self.interned.insert(text.into(), id);
        Ok(id)
    }

    pub(crate) fn add_insurer(
        &mut self,
        number: &str,
        name: &str,
        registration_lag_days: u32,
    ) -> Result<InsurerId, RegistryError> {
        if self.registry.insurer_index.contains_key(number) {
            return Err(RegistryError::Build {
                field: "insurers".into(),
                message: format!("insurer {number} is listed twice"),
            });
        }
        let id = self.registry.insurers.len() as u32;
        self.registry.insurers.push(InsurerRow {
            number: number.to_owned(),
            name: name.to_owned(),
            registration_lag_days,
        });
        self.registry.insurer_index.insert(number.to_owned(), id);
        Ok(InsurerId(id))
    }

    pub(crate) fn add_person(
        &mut self,
        id: Option<&str>,
        person: &Person,
        post_number: Option<&str>,
        flags: crate::oqs::description::PersonFlags,
    ) -> Result<PersonId, RegistryError> {
        let index =
            u32::try_from(self.registry.persons.len()).map_err(|_| RegistryError::Build {
                field: "persons".into(),
                message: "more than 4 billion persons".into(),
            })?;
        if let Some(id) = id {
            if self
                .registry
                .person_ids
                .insert(id.to_owned(), index)
                .is_some()
            {
                return Err(RegistryError::Build {
                    field: "persons.id".into(),
                    message: format!("person id {id:?} is used twice"),
                });
            }
            self.registry.person_names.push((index, id.to_owned()));
        }
        let row = PersonRow {
            name: self.intern(&person.name)?,
            kana: self.intern(&person.kana)?,
            address: self.intern(&person.address)?,
            post_number: match post_number {
                Some(post) => self.intern(post)?,
                None => NO_TEXT,
            },
            birth_date: person.birth_date,
            qualifications_start: 0,
            qualifications_len: 0,
            sex: person.sex,
            flags: person_flags(flags),
        };
        self.registry.persons.push(row);
        self.my_numbers.push(my_number_key(&person.my_number));
        Ok(PersonId(index))
    }

    pub(crate) fn add_qualification(
        &mut self,
        person: PersonId,
        record: QualificationRecord<'_>,
    ) -> Result<QualificationId, RegistryError> {
        if person.0 as usize >= self.registry.persons.len() {
            return Err(RegistryError::Build {
                field: "qualifications".into(),
                message: format!("no person {}", person.0),
            });
        }
        let Some(&insurer) = self.registry.insurer_index.get(record.insurer) else {
            return Err(RegistryError::Build {
                field: "insurer".into(),
                message: format!(
                    "unknown insurer {}; known: {}",
                    record.insurer,
                    self.known_insurers()
                ),
            });
        };
        if record.lost.is_some_and(|lost| lost <= record.acquired) {
            return Err(RegistryError::Build {
                field: "lost".into(),
                message: "the loss date must be after the acquisition date".into(),
            });
        }
        let loss_lag_days = match (record.lost, record.loss_registered_on) {
            (Some(lost), Some(registered)) => u16::try_from((registered - lost).num_days())
                .map_err(|_| RegistryError::Build {
                    field: "loss_registered_on".into(),
                    message: format!(
                        "{registered} must be on or after the loss date {lost}, at most {} days later",
                        u16::MAX
                    ),
                })?,
            (None, Some(_)) => {
                return Err(RegistryError::Build {
                    field: "loss_registered_on".into(),
                    message: "a loss registration needs a loss date (`lost`)".into(),
                })
            }
            _ => 0,
        };
        if let Some(percent) = record.burden_percent {
            if ![10, 20, 30].contains(&percent) {
                return Err(RegistryError::Build {
                    field: "burden_percent".into(),
                    message: format!("{percent} is not a burden ratio; valid: 10, 20, 30"),
                });
            }
        }
        let lag = self.registry.insurers[insurer as usize].registration_lag_days;
        let registered_on = record.registered_on.unwrap_or_else(|| {
            record
                .acquired
                .checked_add_days(chrono::Days::new(u64::from(lag)))
                .unwrap_or(NaiveDate::MAX)
        });
        let extras = if record.extras.is_empty() {
            u32::MAX
        } else {
            self.registry.extras.push(record.extras);
            (self.registry.extras.len() - 1) as u32
        };
        let row = QualificationRow {
            person: person.0,
            insurer,
            symbol: self.intern(record.symbol)?,
            number: self.registry.text.push(record.number)?,
            acquired: record.acquired,
            lost: record.lost.unwrap_or(NaiveDate::MAX),
            registered_on,
            extras,
            loss_lag_days,
            branch: record.branch,
            burden_percent: record.burden_percent.unwrap_or(0),
            relationship: record.relationship,
            card_classification: record.card_classification,
            reason_of_loss: record.reason_of_loss,
            income: record.income,
        };
        self.registry.qualifications.push(row);
        Ok(QualificationId(
            (self.registry.qualifications.len() - 1) as u32,
        ))
    }

    /// Links a card to `person`'s record; returns the certificate serial.
    pub(crate) fn add_card(
        &mut self,
        person: PersonId,
        record: CardLinkRecord<'_>,
    ) -> Result<u64, RegistryError> {
        let Some(&own_number) = self.my_numbers.get(person.0 as usize) else {
            return Err(RegistryError::Build {
                field: "cards".into(),
                message: format!("no person {}", person.0),
            });
        };
        let mislinked = own_number != my_number_key(record.holder);
        let serial = certificate_serial(
            CertificateKind::Authentication,
            record.holder,
            record.issued,
        );
        self.card_rows.push((
            serial,
            CardRow {
                person: person.0,
                registered_on: record.registered_on.unwrap_or(NaiveDate::MIN),
                revoked_on: record.revoked.map(|r| r.on).unwrap_or(NaiveDate::MAX),
                link: record.link,
                revocation: record.revoked.map(|r| r.reason),
                mislinked,
            },
        ));
        Ok(serial)
    }

    /// Links a phone credential to `person`'s record (through its card); returns its serial.
    pub(crate) fn add_smartphone(
        &mut self,
        person: PersonId,
        record: SmartphoneRecord<'_>,
    ) -> Result<u64, RegistryError> {
        let serial = smartphone_certificate_serial(record.kind, record.holder, record.issued);
        let view = SmartphoneView {
            kind: record.kind,
            person,
            card_serial: record.card_serial,
            card_renewed_on: record.card_renewed_on,
            revoked: record.revoked,
        };
        if self.registry.smartphones.insert(serial, view).is_some() {
            return Err(RegistryError::Build {
                field: "smartphones".into(),
                message: format!(
                    "two {} credentials of the same holder issued on {}",
                    record.kind.label(),
                    record.issued
                ),
            });
        }
        Ok(serial)
    }

    /// 個人番号 of a person added earlier.
    pub(crate) fn my_number(&self, person: PersonId) -> Option<MyNumber> {
        let key = *self.my_numbers.get(person.0 as usize)?;
        format!("{key:012}").parse().ok()
    }

    pub(crate) fn person_id(&self, id: &str) -> Option<PersonId> {
        self.registry
            .person_ids
            .get(id)
            .map(|&index| PersonId(index))
    }

    fn known_insurers(&self) -> String {
        let mut numbers: Vec<&str> = self
            .registry
            .insurers
            .iter()
            .map(|i| i.number.as_str())
            .collect();
        numbers.sort_unstable();
        numbers.join(", ")
    }

    pub(crate) fn build(mut self) -> Result<Registry, RegistryError> {
        let registry = &mut self.registry;
        // Qualifications grouped by person, keeping each person's order; the generator and the
        // YAML loader add them in order already, so the sort is usually skipped.
        if !registry.qualifications.is_sorted_by_key(|q| q.person) {
            registry.qualifications.sort_by_key(|q| q.person);
        }
        let mut start = 0usize;
        while start < registry.qualifications.len() {
            let person = registry.qualifications[start].person;
            let mut end = start;
            while end < registry.qualifications.len()
                && registry.qualifications[end].person == person
            {
                end += 1;
            }
            let row = &mut registry.persons[person as usize];
            row.qualifications_start = start as u32;
            row.qualifications_len =
                u16::try_from(end - start).map_err(|_| RegistryError::Build {
                    field: "qualifications".into(),
                    message: format!("person {person} has more than 65535 qualifications"),
                })?;
            start = end;
        }

        self.card_rows.sort_unstable_by_key(|(serial, _)| *serial);
        if let Some(pair) = self
            .card_rows
            .windows(2)
            .find(|pair| pair[0].0 == pair[1].0)
        {
            return Err(RegistryError::Build {
                field: "cards".into(),
                message: format!(
                    "two cards have the same certificate serial {} (persons {} and {}): the same holder and issue date",
                    pair[0].0,
                    registry.person_label(PersonId(pair[0].1.person)),
                    registry.person_label(PersonId(pair[1].1.person)),
                ),
            });
        }
        registry.card_serials = self.card_rows.iter().map(|(serial, _)| *serial).collect();
        registry.card_directory = SerialDirectory::build(&registry.card_serials);
        registry.cards = self.card_rows.iter().map(|(_, row)| *row).collect();
        drop(std::mem::take(&mut self.card_rows));

        let mut index: Vec<(u64, u32)> = Vec::with_capacity(registry.qualifications.len());
        for (position, row) in registry.qualifications.iter().enumerate() {
            let key = insurance_card_key(
                &registry.insurers[row.insurer as usize].number,
                registry.text.get(row.symbol),
                registry.text.get(row.number),
                row.branch,
            );
            index.push((key, position as u32));
        }
        index.sort_unstable();
        registry.insurance_card_index = index;
        registry.text.shrink();
        registry.persons.shrink_to_fit();
        registry.qualifications.shrink_to_fit();
        Ok(self.registry)
    }
}

fn insurance_card_key(insurer: &str, symbol: &str, number: &str, branch: u8) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    insurer.hash(&mut hasher);
    symbol.hash(&mut hasher);
    number.hash(&mut hasher);
    branch.hash(&mut hasher);
    hasher.finish()
}

/// A directory over sorted serials: the top bits of a serial pick a bucket whose start and end
/// are stored, so a lookup reads two adjacent directory slots and a handful of serials instead
/// of binary-searching the whole array (one or two cache misses at any size). Serials are
/// SHA-256 derived, hence evenly spread; a skewed set still works, only with larger buckets.
#[derive(Debug, Clone, Default)]
struct SerialDirectory {
    /// Bits of the serial (below the always-clear top bit) that select the bucket.
    bits: u32,
    /// `starts[b]..starts[b + 1]` is bucket `b` in the sorted serials.
    starts: Vec<u32>,
}

impl SerialDirectory {
    /// Roughly four serials per bucket.
    fn build(sorted: &[u64]) -> SerialDirectory {
        let bits = (usize::BITS - (sorted.len() / 4).leading_zeros()).min(32);
        let buckets = 1usize << bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut position = 0usize;
        for bucket in 0..buckets {
            while position < sorted.len() && Self::bucket_of(bits, sorted[position]) < bucket {
                position += 1;
            }
            starts.push(position as u32);
        }
        starts.push(sorted.len() as u32);
        SerialDirectory { bits, starts }
    }

    fn bucket_of(bits: u32, serial: u64) -> usize {
        if bits == 0 {
            0
        } else {
            // Serials are positive (top bit clear): use the 63 bits below it.
            ((serial & 0x7FFF_FFFF_FFFF_FFFF) >> (63 - bits)) as usize
        }
    }

    fn find(&self, sorted: &[u64], serial: u64) -> Option<usize> {
        if serial > 0x7FFF_FFFF_FFFF_FFFF {
            return sorted.binary_search(&serial).ok();
        }
        let bucket = Self::bucket_of(self.bits, serial);
        let start = *self.starts.get(bucket)? as usize;
        let end = *self.starts.get(bucket + 1)? as usize;
        let slice = sorted.get(start..end)?;
        slice
            .binary_search(&serial)
            .ok()
            .map(|offset| start + offset)
    }
}

/// A card link as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardView {
    /// The serial of the card's authentication certificate.
    pub serial: u64,
    /// The holder.
    pub person: PersonId,
    /// Its 保険証利用登録 as stored.
    pub(crate) link: LinkState,
    /// `None` when registered from the start.
    pub(crate) registered_on: Option<NaiveDate>,
    pub(crate) revoked: Option<Revocation>,
    /// Linked to someone else's record (紐付け誤り).
    pub mislinked: bool,
}

/// Borrowed view of a person.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PersonView<'a> {
    registry: &'a Registry,
    row: &'a PersonRow,
}

impl<'a> PersonView<'a> {
    pub(crate) fn name(&self) -> &'a str {
        self.registry.text.get(self.row.name)
    }
    pub(crate) fn kana(&self) -> &'a str {
        self.registry.text.get(self.row.kana)
    }
    pub(crate) fn address(&self) -> &'a str {
        self.registry.text.get(self.row.address)
    }
    pub(crate) fn post_number(&self) -> Option<&'a str> {
        (self.row.post_number != NO_TEXT).then(|| self.registry.text.get(self.row.post_number))
    }
    pub(crate) fn birth_date(&self) -> NaiveDate {
        self.row.birth_date
    }
    pub(crate) fn sex(&self) -> Sex {
        self.row.sex
    }
    pub(crate) fn self_information_blocked(&self) -> bool {
        self.row.flags & FLAG_SELF_INFORMATION_BLOCKED != 0
    }
    pub(crate) fn address_not_disclosed(&self) -> bool {
        self.row.flags & FLAG_ADDRESS_NOT_DISCLOSED != 0
    }
    pub(crate) fn jlis_mismatch(&self) -> bool {
        self.row.flags & FLAG_JLIS_MISMATCH != 0
    }
    pub(crate) fn qualifications(&self) -> impl Iterator<Item = QualificationView<'a>> + 'a {
        let registry = self.registry;
        let start = self.row.qualifications_start;
        let end = start + u32::from(self.row.qualifications_len);
        (start..end).map(move |index| registry.qualification(QualificationId(index)))
    }
}

/// Borrowed view of a qualification.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QualificationView<'a> {
    registry: &'a Registry,
    id: QualificationId,
    row: &'a QualificationRow,
}

impl<'a> QualificationView<'a> {
    pub(crate) fn id(&self) -> QualificationId {
        self.id
    }
    pub(crate) fn person(&self) -> PersonId {
        PersonId(self.row.person)
    }
    pub(crate) fn insurer_number(&self) -> &'a str {
        &self.registry.insurers[self.row.insurer as usize].number
    }
    pub(crate) fn insurer_name(&self) -> &'a str {
        &self.registry.insurers[self.row.insurer as usize].name
    }
    pub(crate) fn symbol(&self) -> &'a str {
        self.registry.text.get(self.row.symbol)
    }
    pub(crate) fn number(&self) -> &'a str {
        self.registry.text.get(self.row.number)
    }
    pub(crate) fn branch(&self) -> u8 {
        self.row.branch
    }
    pub(crate) fn relationship(&self) -> Relationship {
        self.row.relationship
    }
    pub(crate) fn card_classification(&self) -> InsuredCardClassification {
        self.row.card_classification
    }
    pub(crate) fn acquired(&self) -> NaiveDate {
        self.row.acquired
    }
    pub(crate) fn lost(&self) -> Option<NaiveDate> {
        (self.row.lost != NaiveDate::MAX).then_some(self.row.lost)
    }
    pub(crate) fn reason_of_loss(&self) -> Option<ReasonOfLoss> {
        self.row.reason_of_loss
    }
    pub(crate) fn income(&self) -> IncomeBracket {
        self.row.income
    }
    pub(crate) fn burden_percent_override(&self) -> Option<u8> {
        (self.row.burden_percent != 0).then_some(self.row.burden_percent)
    }
    pub(crate) fn extras(&self) -> Option<&'a QualificationExtras> {
        self.registry.extras.get(self.row.extras as usize)
    }
    /// Visible in the system on `date` (the insurer has registered it).
    pub(crate) fn is_registered_on(&self, date: NaiveDate) -> bool {
        self.row.registered_on <= date
    }
    /// The day the insurer registered the loss, if it is lost.
    pub(crate) fn loss_registered_on(&self) -> Option<NaiveDate> {
        self.lost().map(|lost| {
            lost.checked_add_days(chrono::Days::new(self.row.loss_lag_days.into()))
                .unwrap_or(NaiveDate::MAX)
        })
    }
    /// Whether the system knows of the loss on `date`: lost, and the loss registered.
    pub(crate) fn is_loss_registered_on(&self, date: NaiveDate) -> bool {
        self.loss_registered_on()
            .is_some_and(|registered| registered <= date)
    }
    /// In force as the system sees it on `date`: acquired, and its loss (if any) not yet
    /// registered — the old insurer still answers 有効 until it registers the loss.
    pub(crate) fn appears_in_force_on(&self, date: NaiveDate) -> bool {
        self.row.acquired <= date && !self.is_loss_registered_on(date)
    }
}

impl Registry {
    pub(crate) fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Number of persons in the registry.
    pub fn person_count(&self) -> usize {
        self.persons.len()
    }

    /// Number of cards (authentication certificates) in the registry.
    pub fn card_count(&self) -> usize {
        self.cards.len()
    }

    pub(crate) fn qualification_count(&self) -> usize {
        self.qualifications.len()
    }

    pub(crate) fn person(&self, id: PersonId) -> Option<PersonView<'_>> {
        self.persons.get(id.0 as usize).map(|row| PersonView {
            registry: self,
            row,
        })
    }

    /// The person with the description's `id`.
    pub fn person_id(&self, id: &str) -> Option<PersonId> {
        self.person_ids.get(id).map(|&index| PersonId(index))
    }

    /// The YAML id of a person, or `#index` for generated ones.
    pub(crate) fn person_label(&self, id: PersonId) -> String {
        self.person_names
            .iter()
            .find(|(index, _)| *index == id.0)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| format!("#{}", id.0))
    }

    fn qualification(&self, id: QualificationId) -> QualificationView<'_> {
        QualificationView {
            registry: self,
            id,
            row: &self.qualifications[id.0 as usize],
        }
    }

    /// The card whose authentication certificate has `serial`.
    pub fn card(&self, serial: u64) -> Option<CardView> {
        let position = self.card_directory.find(&self.card_serials, serial)?;
        let row = self.cards[position];
        Some(CardView {
            serial,
            person: PersonId(row.person),
            link: row.link,
            registered_on: (row.registered_on != NaiveDate::MIN).then_some(row.registered_on),
            revoked: row.revocation.map(|reason| Revocation {
                reason,
                on: row.revoked_on,
            }),
            mislinked: row.mislinked,
        })
    }

    /// The phone credential whose certificate has `serial`, if it is a phone's.
    pub(crate) fn smartphone(&self, serial: u64) -> Option<SmartphoneView> {
        if self.smartphones.is_empty() {
            return None;
        }
        self.smartphones.get(&serial).copied()
    }

    /// Certificate serials of all cards, ascending (for generators of load and benchmarks).
    pub fn card_serials(&self) -> &[u64] {
        &self.card_serials
    }

    /// Qualifications with this 保険者番号, 記号, 番号 and 枝番.
    pub(crate) fn find_by_insurance_card(
        &self,
        insurer: &str,
        symbol: &str,
        number: &str,
        branch: u8,
    ) -> Vec<QualificationView<'_>> {
        let key = insurance_card_key(insurer, symbol, number, branch);
        let first = self.insurance_card_index.partition_point(|(k, _)| *k < key);
        self.insurance_card_index[first..]
            .iter()
            .take_while(|(k, _)| *k == key)
            .map(|(_, q)| self.qualification(QualificationId(*q)))
            .filter(|q| {
                q.insurer_number() == insurer
                    && q.symbol() == symbol
                    && q.number() == number
                    && q.branch() == branch
            })
            .collect()
    }

    /// Approximate heap bytes held (for the scale report).
    pub fn heap_bytes(&self) -> usize {
        self.text.bytes.capacity()
            + self.text.ends.capacity() * 4
            + self.persons.capacity() * std::mem::size_of::<PersonRow>()
            + self.qualifications.capacity() * std::mem::size_of::<QualificationRow>()
            + self.extras.capacity() * std::mem::size_of::<QualificationExtras>()
            + self.card_serials.capacity() * 8
            + self.card_directory.starts.capacity() * 4
            + self.cards.capacity() * std::mem::size_of::<CardRow>()
            + self.insurance_card_index.capacity() * 16
    }
}

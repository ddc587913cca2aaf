//! Deterministic synthetic registries of any size (N persons, seed), shared by the tests, the
//! benchmarks and `oqs serve --synthetic`. Same (N, seed) → same registry, byte for byte.
//!
//! Every person has one qualification and one registered card; text comes from small pools so
//! that the interned arena stays small at national scale.

use std::fmt::Write;

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::oqs::codes::{IncomeBracket, InsuredCardClassification, Relationship};
use crate::oqs::description::{LinkState, PersonFlags, RegistryOptions};
use crate::oqs::registry::{
    CardLinkRecord, QualificationExtras, QualificationRecord, Registry, RegistryBuilder,
    RegistryError,
};
use crate::person::{MyNumber, Person, Sex};

const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
];
const GIVEN_MALE: &[(&str, &str)] = &[
    ("太郎", "タロウ"),
    ("健太", "ケンタ"),
    ("翔", "ショウ"),
    ("大輔", "ダイスケ"),
    ("誠", "マコト"),
    ("浩", "ヒロシ"),
    ("蓮", "レン"),
    ("悠真", "ユウマ"),
    ("隆", "タカシ"),
    ("学", "マナブ"),
];
const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("花子", "ハナコ"),
    ("陽菜", "ヒナ"),
    ("美咲", "ミサキ"),
    ("結衣", "ユイ"),
    ("恵子", "ケイコ"),
    ("由美", "ユミ"),
    ("さくら", "サクラ"),
    ("葵", "アオイ"),
    ("京子", "キョウコ"),
    ("愛", "アイ"),
];
const PREFECTURES: &[&str] = &[
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];
const TOWNS: &[&str] = &[
    "中央町一丁目",
    "本町二丁目",
    "緑が丘三丁目",
    "試験町四丁目",
    "みどり台五丁目",
];

/// The 協会けんぽ-like insurer of prefecture `p` (synthetic numbers).
fn employee_insurer(prefecture: usize) -> String {
    format!("01{:02}0016", prefecture + 1)
}

/// The 後期高齢者医療広域連合-like insurer of prefecture `p` (synthetic numbers).
fn late_elderly_insurer(prefecture: usize) -> String {
    format!("39{:02}1015", prefecture + 1)
}

/// The 個人番号 of synthetic person `index` under `seed` (valid check digit, unique per index).
pub fn synthetic_my_number(seed: u64, index: u64) -> MyNumber {
    let base = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) % 40_000_000_000;
    let mut value = 10_000_000_000 + base + index;
    let mut digits = [0u8; 11];
    for slot in digits.iter_mut().rev() {
        *slot = (value % 10) as u8;
        value /= 10;
    }
    MyNumber::from_first_eleven(digits)
}

/// The day the generator treats as "now" when choosing ages and dates.
pub(crate) fn reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 4, 1).unwrap_or_default()
}

/// The largest synthetic registry: Japan's population (about 124 million) rounded up, the
/// national scale the registry is built for. Larger counts are refused before anything is
/// allocated (`oqs serve --synthetic`), so that a typo cannot ask for more than any machine has.
pub(crate) const MAX_SYNTHETIC_PERSONS: u64 = 130_000_000;

/// One synthetic person as the generator draws it: everything `oqs serve --synthetic` puts in
/// the registry, so that a load generator replaying the same draws knows whom it is asking for
/// without building the registry.
#[derive(Debug, Clone)]
pub struct SyntheticPerson {
    /// The person's position in the generator's draws.
    pub(crate) index: usize,
    /// Name, birth date, sex, address and 個人番号.
    pub person: Person,
    /// 郵便番号.
    pub(crate) post_number: String,
    /// The insurer of the person's qualification.
    pub(crate) insurer_number: String,
    /// 被保険者証の記号.
    pub(crate) symbol: String,
    /// 被保険者番号 (the index plus one, as text).
    pub(crate) number: String,
    /// 資格取得年月日.
    pub(crate) acquired: NaiveDate,
    /// 所得区分.
    pub(crate) income: IncomeBracket,
    /// The card's issue date: the not_before of its authentication certificate, from which the
    /// registry derives the certificate serial.
    pub card_issued: NaiveDate,
}

/// The generator's draws, one person at a time; [`synthetic_registry`] and
/// [`visit_synthetic_persons`] share it, so both see the same persons for the same seed.
struct Draws {
    rng: ChaCha20Rng,
    seed: u64,
    today: NaiveDate,
    earliest_birth: NaiveDate,
    birth_span: u64,
    first_issue: NaiveDate,
    issue_span: u64,
    earliest_employment: NaiveDate,
    employee: Vec<String>,
    late: Vec<String>,
    symbols: Vec<String>,
    posts: Vec<Vec<String>>,
}

impl Draws {
    fn new(seed: u64) -> Draws {
        let today = reference_date();
        let earliest_birth = NaiveDate::from_ymd_opt(1925, 1, 1).unwrap_or_default();
        let first_issue = NaiveDate::from_ymd_opt(2016, 1, 1).unwrap_or_default();
        // Everything that repeats is formatted once; each draw reuses one record and
        // allocates nothing once its strings have grown.
        Draws {
            rng: ChaCha20Rng::seed_from_u64(seed),
            seed,
            today,
            earliest_birth,
            birth_span: (today - earliest_birth).num_days() as u64,
            first_issue,
            issue_span: (today - first_issue).num_days() as u64,
            earliest_employment: NaiveDate::from_ymd_opt(2010, 4, 1).unwrap_or_default(),
            employee: (0..PREFECTURES.len()).map(employee_insurer).collect(),
            late: (0..PREFECTURES.len()).map(late_elderly_insurer).collect(),
            symbols: (1..=999).map(|n: u32| n.to_string()).collect(),
            posts: (0..PREFECTURES.len())
                .map(|p| {
                    (0..TOWNS.len())
                        .map(|t| format!("{:03}-{:04}", 100 + p * 10, t))
                        .collect()
                })
                .collect(),
        }
    }

    fn blank(&self) -> SyntheticPerson {
        SyntheticPerson {
            index: 0,
            person: Person {
                name: String::new(),
                kana: String::new(),
                birth_date: self.earliest_birth,
                sex: Sex::Male,
                address: String::new(),
                my_number: synthetic_my_number(self.seed, 0),
            },
            post_number: String::new(),
            insurer_number: String::new(),
            symbol: String::new(),
            number: String::new(),
            acquired: self.earliest_birth,
            income: IncomeBracket::General,
            card_issued: self.first_issue,
        }
    }

    /// Draws person `index` into `out` (draws must come in index order).
    fn draw(&mut self, index: usize, out: &mut SyntheticPerson) {
        let rng = &mut self.rng;
        let male = rng.gen_bool(0.5);
        let family = FAMILY[rng.gen_range(0..FAMILY.len())];
        let given =
            if male { GIVEN_MALE } else { GIVEN_FEMALE }[rng.gen_range(0..GIVEN_MALE.len())];
        let prefecture = rng.gen_range(0..PREFECTURES.len());
        let town = rng.gen_range(0..TOWNS.len());
        let birth_date = self.earliest_birth + Days::new(rng.gen_range(0..self.birth_span));
        let issued = self.first_issue + Days::new(rng.gen_range(0..self.issue_span));
        let symbol = &self.symbols[rng.gen_range(0..self.symbols.len())];
        let income = match rng.gen_range(0..10) {
            0 => IncomeBracket::WorkingAge,
            1 | 2 => IncomeBracket::GeneralIi,
            _ => IncomeBracket::General,
        };
        out.index = index;
        let person = &mut out.person;
        person.name.clear();
        person.name.push_str(family.0);
        person.name.push('\u{3000}');
        person.name.push_str(given.0);
        person.kana.clear();
        person.kana.push_str(family.1);
        person.kana.push(' ');
        person.kana.push_str(given.1);
        person.address.clear();
        person.address.push_str(PREFECTURES[prefecture]);
        person.address.push_str("試験市");
        person.address.push_str(TOWNS[town]);
        person.birth_date = birth_date;
        person.sex = if male { Sex::Male } else { Sex::Female };
        person.my_number = synthetic_my_number(self.seed, index as u64);
        out.post_number.clear();
        out.post_number.push_str(&self.posts[prefecture][town]);
        let late_elderly = crate::oqs::rules::late_elderly_first_day(birth_date);
        let (insurer, acquired) = if late_elderly <= self.today {
            (&self.late[prefecture], late_elderly)
        } else {
            (
                &self.employee[prefecture],
                birth_date.max(self.earliest_employment),
            )
        };
        out.insurer_number.clear();
        out.insurer_number.push_str(insurer);
        out.acquired = acquired;
        out.symbol.clear();
        out.symbol.push_str(symbol);
        out.number.clear();
        // Writing into a String cannot fail.
        let _ = write!(out.number, "{}", index + 1);
        out.income = income;
        out.card_issued = issued;
    }
}

/// Replays the draws of `synthetic_registry(persons, seed)` without building it: `visit` sees
/// every person in index order (the same persons, byte for byte) and may stop early by
/// returning `false`. A load generator uses it to know whom to ask for.
pub(crate) fn visit_synthetic_persons(
    persons: usize,
    seed: u64,
    mut visit: impl FnMut(&SyntheticPerson) -> bool,
) {
    let mut draws = Draws::new(seed);
    let mut record = draws.blank();
    for index in 0..persons {
        draws.draw(index, &mut record);
        if !visit(&record) {
            return;
        }
    }
}

/// A synthetic registry of `persons` persons (at most [`MAX_SYNTHETIC_PERSONS`]).
pub fn synthetic_registry(persons: usize, seed: u64) -> Result<Registry, RegistryError> {
    let mut builder = RegistryBuilder::with_capacity(RegistryOptions::default(), persons);
    for (prefecture, name) in PREFECTURES.iter().enumerate() {
        builder.add_insurer(
            &employee_insurer(prefecture),
            &format!("全国健康保険協会 {name}支部（試験）"),
            5,
        )?;
        builder.add_insurer(
            &late_elderly_insurer(prefecture),
            &format!("{name}後期高齢者医療広域連合（試験）"),
            0,
        )?;
    }
    let mut draws = Draws::new(seed);
    let mut record = draws.blank();
    for index in 0..persons {
        draws.draw(index, &mut record);
        let id = builder.add_person(
            None,
            &record.person,
            Some(&record.post_number),
            PersonFlags::default(),
        )?;
        builder.add_qualification(
            id,
            QualificationRecord {
                insurer: &record.insurer_number,
                relationship: Relationship::Insured,
                card_classification: InsuredCardClassification::General,
                symbol: &record.symbol,
                number: &record.number,
                branch: 0,
                acquired: record.acquired,
                lost: None,
                reason_of_loss: None,
                registered_on: None,
                loss_registered_on: None,
                income: record.income,
                burden_percent: None,
                extras: QualificationExtras::default(),
            },
        )?;
        builder.add_card(
            id,
            CardLinkRecord {
                holder: &record.person.my_number,
                issued: record.card_issued,
                link: LinkState::Registered,
                registered_on: None,
                revoked: None,
            },
        )?;
    }
    builder.build()
}

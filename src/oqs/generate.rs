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
pub fn reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 4, 1).unwrap_or_default()
}

/// The largest synthetic registry: Japan's population (about 124 million) rounded up, the
/// national scale the registry is built for. Larger counts are refused before anything is
/// allocated (`oqs serve --synthetic`), so that a typo cannot ask for more than any machine has.
pub const MAX_SYNTHETIC_PERSONS: u64 = 130_000_000;

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
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let today = reference_date();
    let earliest_birth = NaiveDate::from_ymd_opt(1925, 1, 1).unwrap_or_default();
    let birth_span = (today - earliest_birth).num_days() as u64;
    let first_issue = NaiveDate::from_ymd_opt(2016, 1, 1).unwrap_or_default();
    let issue_span = (today - first_issue).num_days() as u64;
    // Everything that repeats is formatted once; the loop reuses one Person and allocates
    // only the 個人番号 and the insured number.
    let employee: Vec<String> = (0..PREFECTURES.len()).map(employee_insurer).collect();
    let late: Vec<String> = (0..PREFECTURES.len()).map(late_elderly_insurer).collect();
    let symbols: Vec<String> = (1..=999).map(|n: u32| n.to_string()).collect();
    let posts: Vec<Vec<String>> = (0..PREFECTURES.len())
        .map(|p| {
            (0..TOWNS.len())
                .map(|t| format!("{:03}-{:04}", 100 + p * 10, t))
                .collect()
        })
        .collect();
    let earliest_employment = NaiveDate::from_ymd_opt(2010, 4, 1).unwrap_or_default();
    let mut person = Person {
        name: String::new(),
        kana: String::new(),
        birth_date: earliest_birth,
        sex: Sex::Male,
        address: String::new(),
        my_number: synthetic_my_number(seed, 0),
    };
    let mut number = String::new();
    for index in 0..persons {
        let male = rng.gen_bool(0.5);
        let family = FAMILY[rng.gen_range(0..FAMILY.len())];
        let given =
            if male { GIVEN_MALE } else { GIVEN_FEMALE }[rng.gen_range(0..GIVEN_MALE.len())];
        let prefecture = rng.gen_range(0..PREFECTURES.len());
        let town = rng.gen_range(0..TOWNS.len());
        let birth_date = earliest_birth + Days::new(rng.gen_range(0..birth_span));
        let issued = first_issue + Days::new(rng.gen_range(0..issue_span));
        let symbol = &symbols[rng.gen_range(0..symbols.len())];
        let income = match rng.gen_range(0..10) {
            0 => IncomeBracket::WorkingAge,
            1 | 2 => IncomeBracket::GeneralIi,
            _ => IncomeBracket::General,
        };
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
        person.my_number = synthetic_my_number(seed, index as u64);
        let id = builder.add_person(
            None,
            &person,
            Some(&posts[prefecture][town]),
            PersonFlags::default(),
        )?;
        let late_elderly = crate::oqs::rules::late_elderly_first_day(birth_date);
        let (insurer, acquired) = if late_elderly <= today {
            (&late[prefecture], late_elderly)
        } else {
            (&employee[prefecture], birth_date.max(earliest_employment))
        };
        number.clear();
        // Writing into a String cannot fail.
        let _ = write!(number, "{}", index + 1);
        builder.add_qualification(
            id,
            QualificationRecord {
                insurer,
                relationship: Relationship::Insured,
                card_classification: InsuredCardClassification::General,
                symbol,
                number: &number,
                branch: 0,
                acquired,
                lost: None,
                reason_of_loss: None,
                registered_on: None,
                loss_registered_on: None,
                income,
                burden_percent: None,
                extras: QualificationExtras::default(),
            },
        )?;
        builder.add_card(
            id,
            CardLinkRecord {
                holder: &person.my_number,
                issued,
                link: LinkState::Registered,
                registered_on: None,
                revoked: None,
            },
        )?;
    }
    builder.build()
}

//! Dates in a card file and the rules that derive the card's and its certificates' validity.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{CardSpec, CertificateDates};
use crate::person::Person;

/// A date in a card file: a calendar date (`2022-04-01`) or a number of days from the day the
/// card is served (`-400d`, `+90d`, `0d`), so that a fixture card stays valid whenever it is
/// used. [`CardDescription::on_day`] turns relative dates into calendar dates; until then they
/// count from [`RELATIVE_DATES_REFERENCE_DAY`], so an unresolved card is still deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardDate {
    On(NaiveDate),
    DaysFromServing(i32),
}

/// The day relative card dates count from when nobody named the serving day (tests, tools that
/// build a card without a clock).
pub(crate) const RELATIVE_DATES_REFERENCE_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2025, 4, 1)
{
    Some(day) => day,
    None => NaiveDate::MIN,
};

/// Relative dates stay within about ±270 years, so date arithmetic cannot overflow.
const MAX_RELATIVE_DAYS: i32 = 100_000;

impl CardDate {
    /// The calendar date when the card is served on `today`.
    pub(crate) fn on(self, today: NaiveDate) -> NaiveDate {
        match self {
            CardDate::On(date) => date,
            CardDate::DaysFromServing(days) => today
                .checked_add_signed(chrono::Duration::days(i64::from(days)))
                .unwrap_or(today),
        }
    }

    /// The calendar date, relative dates counted from [`RELATIVE_DATES_REFERENCE_DAY`].
    pub(crate) fn date(self) -> NaiveDate {
        self.on(RELATIVE_DATES_REFERENCE_DAY)
    }

    fn resolved(self, today: NaiveDate) -> CardDate {
        CardDate::On(self.on(today))
    }

    fn parse(text: &str) -> Option<CardDate> {
        if let Some(days) = text.strip_suffix('d') {
            let (sign, digits) = match days.as_bytes().first() {
                Some(b'-') => (-1, &days[1..]),
                Some(b'+') => (1, &days[1..]),
                _ => (1, days),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let magnitude: i32 = digits.parse().ok()?;
            return (magnitude <= MAX_RELATIVE_DAYS)
                .then_some(CardDate::DaysFromServing(sign * magnitude));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(CardDate::On)
    }
}

impl From<NaiveDate> for CardDate {
    fn from(date: NaiveDate) -> CardDate {
        CardDate::On(date)
    }
}

impl fmt::Display for CardDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardDate::On(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            CardDate::DaysFromServing(days) => write!(f, "{days:+}d"),
        }
    }
}

impl Serialize for CardDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CardDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CardDate, D::Error> {
        let text = String::deserialize(deserializer)?;
        CardDate::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is neither a date (YYYY-MM-DD) nor days from the serving day (-400d, +90d)"
            ))
        })
    }
}

pub(super) fn default_issue_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 4, 1).unwrap_or_default()
}

impl CardSpec {
    /// The card body's expiry: explicit, or the 10th birthday after issue (5th under 18).
    pub fn expiry_date(&self, person: &Person) -> NaiveDate {
        let issued = self.issued.date();
        self.expires.map(CardDate::date).unwrap_or_else(|| {
            let birthdays = if person.age_on(issued) < 18 { 5 } else { 10 };
            nth_birthday_after(person.birth_date, issued, birthdays)
        })
    }

    /// The issue date (relative dates counted as [`CardDate::date`] does).
    pub fn issue_date(&self) -> NaiveDate {
        self.issued.date()
    }

    /// This card as served on `today`: every relative date becomes a calendar date.
    pub fn on_day(&self, today: NaiveDate) -> CardSpec {
        let resolve = |date: Option<CardDate>| date.map(|date| date.resolved(today));
        let mut spec = self.clone();
        spec.issued = self.issued.resolved(today);
        spec.expires = resolve(self.expires);
        let auth = &mut spec.certificates.auth;
        auth.not_before = resolve(auth.not_before);
        auth.not_after = resolve(auth.not_after);
        let signing = &mut spec.certificates.signing;
        signing.not_before = resolve(signing.not_before);
        signing.not_after = resolve(signing.not_after);
        spec
    }

    /// The 利用者証明用電子証明書's validity: explicit dates, or from issue until the 5th
    /// birthday after issuance, capped by the card's expiry.
    pub fn auth_certificate_validity(&self, person: &Person) -> (NaiveDate, NaiveDate) {
        self.certificate_validity(&self.certificates.auth, person)
    }

    /// The 署名用電子証明書's validity (same rule as the auth certificate).
    pub fn signing_certificate_validity(&self, person: &Person) -> (NaiveDate, NaiveDate) {
        self.certificate_validity(&self.certificates.signing.dates(), person)
    }

    fn certificate_validity(
        &self,
        dates: &CertificateDates,
        person: &Person,
    ) -> (NaiveDate, NaiveDate) {
        let not_before = dates.not_before.unwrap_or(self.issued).date();
        let not_after = dates.not_after.map(CardDate::date).unwrap_or_else(|| {
            nth_birthday_after(person.birth_date, not_before, 5).min(self.expiry_date(person))
        });
        (not_before, not_after)
    }

    /// Whether the card carries a 署名用電子証明書: explicit, else per profile and not when
    /// the holder was under 15 at issue (spec §5).
    pub fn has_signing_certificate(&self, person: &Person) -> bool {
        self.profile.features().signing
            && self
                .certificates
                .signing
                .present
                .unwrap_or_else(|| person.age_on(self.issued.date()) >= 15)
    }
}

/// The `n`th birthday strictly after `after` (29 February counts as 28 February in common years).
pub(crate) fn nth_birthday_after(birth: NaiveDate, after: NaiveDate, n: u32) -> NaiveDate {
    let birthday_in = |year: i32| {
        NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, birth.month(), birth.day() - 1))
            .unwrap_or(after)
    };
    let first_year = if birthday_in(after.year()) > after {
        after.year()
    } else {
        after.year() + 1
    };
    birthday_in(first_year + n.saturating_sub(1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn fifth_birthday_after_issue() {
        let birth = date(1980, 5, 10);
        assert_eq!(
            nth_birthday_after(birth, date(2022, 4, 1), 5),
            date(2026, 5, 10)
        );
        assert_eq!(
            nth_birthday_after(birth, date(2022, 6, 1), 5),
            date(2027, 5, 10)
        );
        // Issued on the birthday itself: that day is not "after".
        assert_eq!(
            nth_birthday_after(birth, date(2022, 5, 10), 1),
            date(2023, 5, 10)
        );
        assert_eq!(
            nth_birthday_after(date(2000, 2, 29), date(2021, 1, 1), 1),
            date(2021, 2, 28)
        );
    }
}

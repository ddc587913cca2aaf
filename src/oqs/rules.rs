//! Rules computed from the scenario clock: certificate validity and grace, burden ratio by age,
//! and which consent screens exist on a given day. Pure functions of dates, no wall clock.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::oqs::codes::IncomeBracket;
use crate::oqs::description::GraceRule;

/// Where a date falls relative to an authentication certificate's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStanding {
    /// Before the certificate's notBefore: the card cannot be used yet.
    NotYetValid,
    /// Inside notBefore..=notAfter: a full qualification answer.
    Valid,
    /// After notAfter but inside the grace period: qualification data only.
    Grace,
    /// After the grace period: the insurance-use registration is cancelled.
    Expired,
}

/// The last day an expired certificate still works as マイナ保険証.
pub fn grace_last_day(not_after: NaiveDate, rule: GraceRule) -> NaiveDate {
    match rule {
        GraceRule::EndOfThirdMonthAfterExpiryMonth => {
            let first_of_expiry_month = not_after.with_day(1).unwrap_or(not_after);
            first_of_expiry_month
                .checked_add_months(Months::new(4))
                .and_then(|first_of_fourth| first_of_fourth.checked_sub_days(Days::new(1)))
                .unwrap_or(NaiveDate::MAX)
        }
        GraceRule::ThreeMonthsFromExpiryDate => not_after
            .checked_add_months(Months::new(3))
            .unwrap_or(NaiveDate::MAX),
    }
}

/// Where a certificate stands on `date`: not yet valid, valid, in the grace period or expired.
pub fn certificate_standing(
    date: NaiveDate,
    not_before: NaiveDate,
    not_after: NaiveDate,
    rule: GraceRule,
) -> CertificateStanding {
    if date < not_before {
        CertificateStanding::NotYetValid
    } else if date <= not_after {
        CertificateStanding::Valid
    } else if date <= grace_last_day(not_after, rule) {
        CertificateStanding::Grace
    } else {
        CertificateStanding::Expired
    }
}

/// Whether the reader shows the renewal notice (from three months before expiry).
pub fn renewal_notice_due(date: NaiveDate, not_after: NaiveDate) -> bool {
    let from = not_after
        .checked_sub_months(Months::new(3))
        .unwrap_or(NaiveDate::MIN);
    from <= date && date <= not_after
}

/// The day a person "reaches" an age in the legal sense (年齢計算ニ関スル法律): the day before
/// the birthday.
fn day_reaching_age(birth: NaiveDate, years: u32) -> NaiveDate {
    birth
        .checked_add_months(Months::new(years * 12))
        .and_then(|birthday| birthday.checked_sub_days(Days::new(1)))
        .unwrap_or(NaiveDate::MAX)
}

/// Last day of 未就学: the first 31 March on or after the day the child reaches 6
/// (a child born on 1 April enters school the April right after its 6th birthday).
pub fn preschool_last_day(birth: NaiveDate) -> NaiveDate {
    let reaching_six = day_reaching_age(birth, 6);
    let march_same_year =
        NaiveDate::from_ymd_opt(reaching_six.year(), 3, 31).unwrap_or(NaiveDate::MAX);
    if reaching_six <= march_same_year {
        march_same_year
    } else {
        NaiveDate::from_ymd_opt(reaching_six.year() + 1, 3, 31).unwrap_or(NaiveDate::MAX)
    }
}

/// First day of the 70-74 rule (高齢受給者): the first of the month after the month in which
/// the person reaches 70 (for a birthday on the 1st, the birthday month itself).
pub fn elderly_first_day(birth: NaiveDate) -> NaiveDate {
    let reaching = day_reaching_age(birth, 70);
    reaching
        .with_day(1)
        .and_then(|first| first.checked_add_months(Months::new(1)))
        .unwrap_or(NaiveDate::MAX)
}

/// First day of 後期高齢者医療: the 75th birthday.
pub(crate) fn late_elderly_first_day(birth: NaiveDate) -> NaiveDate {
    birth
        .checked_add_months(Months::new(75 * 12))
        .unwrap_or(NaiveDate::MAX)
}

/// 一般Ⅱ (2割) of 後期高齢者医療 exists from this day; before it they paid 1割.
pub(crate) fn general_ii_first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 10, 1).unwrap_or(NaiveDate::MIN)
}

/// A burden ratio in percent and whether the 未就学 classification applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burden {
    /// The share the patient pays, in percent.
    pub percent: u8,
    /// Whether the 未就学 classification applies.
    pub preschool: bool,
}

impl Burden {
    /// `InsuredPartialContributionRatio`: three digits (`030` = 3割).
    pub fn ratio_code(self) -> String {
        format!("{:03}", self.percent)
    }
}

/// The burden ratio on `date` for someone born on `birth`; `override_percent` (from the
/// registry) wins over the age rule but never changes the 未就学 classification.
pub fn burden(
    birth: NaiveDate,
    date: NaiveDate,
    income: IncomeBracket,
    override_percent: Option<u8>,
) -> Burden {
    let preschool = date <= preschool_last_day(birth);
    let by_age = if preschool {
        20
    } else if date < elderly_first_day(birth) {
        30
    } else if date < late_elderly_first_day(birth) {
        match income {
            IncomeBracket::WorkingAge => 30,
            IncomeBracket::General | IncomeBracket::GeneralIi => 20,
        }
    } else {
        match income {
            IncomeBracket::WorkingAge => 30,
            IncomeBracket::GeneralIi if date >= general_ii_first_day() => 20,
            IncomeBracket::GeneralIi | IncomeBracket::General => 10,
        }
    };
    Burden {
        percent: override_percent.unwrap_or(by_age),
        preschool,
    }
}

/// From this day the 限度額 information is provided by law (no consent screen) and 包括同意
/// exists.
pub(crate) fn consent_reform_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 10, 7).unwrap_or(NaiveDate::MIN)
}

/// Whether the 限度額 information is provided by law on `date` (no consent screen).
pub fn limit_info_is_statutory(date: NaiveDate) -> bool {
    date >= consent_reform_day()
}

/// Whether 包括同意 (consent to all at once) exists on `date`.
pub fn comprehensive_consent_available(date: NaiveDate) -> bool {
    date >= consent_reform_day()
}

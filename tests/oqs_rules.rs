//! The date rules of the qualification system, each with the days on both sides of its
//! boundary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::date as d;
use myna_hil::oqs::codes::IncomeBracket;
use myna_hil::oqs::description::GraceRule;
use myna_hil::oqs::rules::{self, Burden, CertificateStanding};

fn ratio(birth: &str, on: &str, income: IncomeBracket) -> Burden {
    rules::burden(d(birth), d(on), income, None)
}

#[test]
fn grace_runs_to_the_end_of_the_third_month_after_the_expiry_month() {
    let rule = GraceRule::EndOfThirdMonthAfterExpiryMonth;
    let (from, until) = (d("2020-02-10"), d("2025-02-10"));
    assert_eq!(rules::grace_last_day(until, rule), d("2025-05-31"));
    assert_eq!(
        rules::certificate_standing(d("2020-02-09"), from, until, rule),
        CertificateStanding::NotYetValid
    );
    assert_eq!(
        rules::certificate_standing(d("2020-02-10"), from, until, rule),
        CertificateStanding::Valid
    );
    assert_eq!(
        rules::certificate_standing(d("2025-02-10"), from, until, rule),
        CertificateStanding::Valid
    );
    assert_eq!(
        rules::certificate_standing(d("2025-02-11"), from, until, rule),
        CertificateStanding::Grace
    );
    assert_eq!(
        rules::certificate_standing(d("2025-05-31"), from, until, rule),
        CertificateStanding::Grace
    );
    assert_eq!(
        rules::certificate_standing(d("2025-06-01"), from, until, rule),
        CertificateStanding::Expired
    );
}

#[test]
fn grace_option_counts_three_months_from_the_expiry_date() {
    let rule = GraceRule::ThreeMonthsFromExpiryDate;
    let (from, until) = (d("2020-02-10"), d("2025-02-10"));
    assert_eq!(
        rules::certificate_standing(d("2025-05-10"), from, until, rule),
        CertificateStanding::Grace
    );
    assert_eq!(
        rules::certificate_standing(d("2025-05-11"), from, until, rule),
        CertificateStanding::Expired
    );
    // A month-end expiry lands on the last day of a shorter month.
    assert_eq!(
        rules::grace_last_day(d("2024-11-30"), rule),
        d("2025-02-28")
    );
    assert_eq!(
        rules::grace_last_day(d("2024-11-30"), GraceRule::EndOfThirdMonthAfterExpiryMonth),
        d("2025-02-28")
    );
    assert_eq!(
        rules::grace_last_day(d("2024-12-15"), GraceRule::EndOfThirdMonthAfterExpiryMonth),
        d("2025-03-31")
    );
}

#[test]
fn renewal_notice_starts_three_months_before_expiry() {
    let until = d("2025-02-10");
    assert!(!rules::renewal_notice_due(d("2024-11-09"), until));
    assert!(rules::renewal_notice_due(d("2024-11-10"), until));
    assert!(rules::renewal_notice_due(d("2025-02-10"), until));
    assert!(!rules::renewal_notice_due(d("2025-02-11"), until));
}

#[test]
fn preschool_ends_on_the_31_march_after_reaching_six() {
    // Born 2 April: reaches 6 on 1 April 2024, enters school April 2025.
    assert_eq!(rules::preschool_last_day(d("2018-04-02")), d("2025-03-31"));
    assert_eq!(
        ratio("2018-04-02", "2025-03-31", IncomeBracket::General),
        Burden {
            percent: 20,
            preschool: true
        }
    );
    assert_eq!(
        ratio("2018-04-02", "2025-04-01", IncomeBracket::General),
        Burden {
            percent: 30,
            preschool: false
        }
    );
    // Born 1 April: reaches 6 on 31 March 2024 and enters school with the older cohort.
    assert_eq!(rules::preschool_last_day(d("2018-04-01")), d("2024-03-31"));
    assert_eq!(
        ratio("2018-04-01", "2024-03-31", IncomeBracket::General),
        Burden {
            percent: 20,
            preschool: true
        }
    );
    assert_eq!(
        ratio("2018-04-01", "2024-04-01", IncomeBracket::General),
        Burden {
            percent: 30,
            preschool: false
        }
    );
}

#[test]
fn seventy_starts_the_month_after_reaching_seventy() {
    // Reaches 70 on 9 May 2024 → from 1 June 2024.
    assert_eq!(rules::elderly_first_day(d("1954-05-10")), d("2024-06-01"));
    assert_eq!(
        ratio("1954-05-10", "2024-05-31", IncomeBracket::General).percent,
        30
    );
    assert_eq!(
        ratio("1954-05-10", "2024-06-01", IncomeBracket::General).percent,
        20
    );
    assert_eq!(
        ratio("1954-05-10", "2024-06-01", IncomeBracket::WorkingAge).percent,
        30
    );
    // Born on the 1st: reaches 70 on the last day of the previous month → the birthday month.
    assert_eq!(rules::elderly_first_day(d("1954-05-01")), d("2024-05-01"));
    assert_eq!(
        ratio("1954-05-01", "2024-04-30", IncomeBracket::General).percent,
        30
    );
    assert_eq!(
        ratio("1954-05-01", "2024-05-01", IncomeBracket::General).percent,
        20
    );
}

#[test]
fn seventy_five_starts_on_the_birthday() {
    assert_eq!(
        ratio("1949-05-10", "2024-05-09", IncomeBracket::General).percent,
        20
    );
    assert_eq!(
        ratio("1949-05-10", "2024-05-10", IncomeBracket::General).percent,
        10
    );
    assert_eq!(
        ratio("1949-05-10", "2024-05-09", IncomeBracket::WorkingAge).percent,
        30
    );
    assert_eq!(
        ratio("1949-05-10", "2024-05-10", IncomeBracket::WorkingAge).percent,
        30
    );
}

#[test]
fn two_tenths_for_general_ii_exists_from_2022_10_01() {
    assert_eq!(
        ratio("1940-01-01", "2022-09-30", IncomeBracket::GeneralIi).percent,
        10
    );
    assert_eq!(
        ratio("1940-01-01", "2022-10-01", IncomeBracket::GeneralIi).percent,
        20
    );
    assert_eq!(
        ratio("1940-01-01", "2022-10-01", IncomeBracket::General).percent,
        10
    );
}

#[test]
fn registry_override_wins_but_keeps_the_preschool_classification() {
    let burden = rules::burden(
        d("2022-01-01"),
        d("2024-01-01"),
        IncomeBracket::General,
        Some(30),
    );
    assert_eq!(
        burden,
        Burden {
            percent: 30,
            preschool: true
        }
    );
    assert_eq!(burden.ratio_code(), "030");
    assert_eq!(
        rules::burden(
            d("1980-01-01"),
            d("2024-01-01"),
            IncomeBracket::General,
            Some(10)
        )
        .ratio_code(),
        "010"
    );
}

#[test]
fn consent_reform_takes_effect_on_2024_10_07() {
    assert!(!rules::limit_info_is_statutory(d("2024-10-06")));
    assert!(rules::limit_info_is_statutory(d("2024-10-07")));
    assert!(!rules::comprehensive_consent_available(d("2024-10-06")));
    assert!(rules::comprehensive_consent_available(d("2024-10-07")));
}

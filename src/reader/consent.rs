//! Which consent screens the reader shows on a given day, and how the answers become the
//! consent flags sent with the check.
//!
//! Until 2024-10-06 each kind of information has its own screen, ending with the 限度額 screen.
//! From 2024-10-07 the 限度額 screen is gone (its provision is statutory) and the reader first
//! offers 包括同意 (one answer for everything) or the individual sequence.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::oqs::message::{ConsentChoices, ConsentMode};
use crate::oqs::rules;

/// One yes/no consent screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentTopic {
    /// 診療情報
    MedicalTreatment,
    /// 薬剤情報
    Medication,
    /// 手術情報
    Surgery,
    /// 特定健診情報
    SpecificHealthCheckup,
    /// 限度額情報 (only until 2024-10-06)
    LimitAmount,
}

impl ConsentTopic {
    /// Stores the patient's yes/no for this topic in the consent flags sent with the check.
    pub fn record(self, choices: &mut ConsentChoices, agree: bool) {
        match self {
            Self::MedicalTreatment => choices.medical_treatment = agree,
            Self::Medication => choices.medication = agree,
            Self::Surgery => choices.surgery = agree,
            Self::SpecificHealthCheckup => choices.specific_health_checkup = agree,
            Self::LimitAmount => choices.limit_amount = agree,
        }
    }
}

/// When the 特定健診 screen is shown **[open]**: the field reports it for 40 and over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckupScreenRule {
    /// Every patient sees it (default).
    #[default]
    Always,
    /// No patient sees it.
    Never,
    /// Patients of at least this age on the reception day. The reader knows the birth date
    /// only from the card front (face reception); when it does not, the screen is shown.
    FromAge(u32),
}

/// The individual-consent sequence on `date`.
pub(crate) fn individual_screens(
    date: NaiveDate,
    checkup: CheckupScreenRule,
    age: Option<u32>,
) -> Vec<ConsentTopic> {
    let mut screens = vec![
        ConsentTopic::MedicalTreatment,
        ConsentTopic::Medication,
        ConsentTopic::Surgery,
    ];
    let checkup_shown = match checkup {
        CheckupScreenRule::Always => true,
        CheckupScreenRule::Never => false,
        CheckupScreenRule::FromAge(minimum) => age.is_none_or(|age| age >= minimum),
    };
    if checkup_shown {
        screens.push(ConsentTopic::SpecificHealthCheckup);
    }
    if !rules::limit_info_is_statutory(date) {
        screens.push(ConsentTopic::LimitAmount);
    }
    screens
}

/// Whether the 包括同意 / individual choice screen exists on `date`.
pub(crate) fn mode_screen_shown(date: NaiveDate) -> bool {
    rules::comprehensive_consent_available(date)
}

/// The flags of a 包括同意: every kind of information (限度額 is statutory on those dates).
pub(crate) fn comprehensive_choices() -> ConsentChoices {
    ConsentChoices {
        mode: ConsentMode::Comprehensive,
        medical_treatment: true,
        medication: true,
        specific_health_checkup: true,
        surgery: true,
        limit_amount: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn limit_screen_only_until_2024_10_06() {
        let before = individual_screens(d("2024-10-06"), CheckupScreenRule::Always, None);
        let after = individual_screens(d("2024-10-07"), CheckupScreenRule::Always, None);
        assert_eq!(before.last(), Some(&ConsentTopic::LimitAmount));
        assert!(!after.contains(&ConsentTopic::LimitAmount));
        assert!(!mode_screen_shown(d("2024-10-06")));
        assert!(mode_screen_shown(d("2024-10-07")));
    }

    #[test]
    fn checkup_screen_from_age_rule() {
        let rule = CheckupScreenRule::FromAge(40);
        assert!(!individual_screens(d("2025-01-01"), rule, Some(39))
            .contains(&ConsentTopic::SpecificHealthCheckup));
        assert!(individual_screens(d("2025-01-01"), rule, Some(40))
            .contains(&ConsentTopic::SpecificHealthCheckup));
        assert!(individual_screens(d("2025-01-01"), rule, None)
            .contains(&ConsentTopic::SpecificHealthCheckup));
        assert!(
            !individual_screens(d("2025-01-01"), CheckupScreenRule::Never, None)
                .contains(&ConsentTopic::SpecificHealthCheckup)
        );
    }
}

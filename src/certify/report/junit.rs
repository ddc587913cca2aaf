//! `junit.xml`: one test case per requirement; a failed requirement is a failure with its
//! evidence, a not-exercised one a failure saying why, a not-applicable one is skipped.

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::{Report, RequirementReport};
use crate::certify::judge::Status;

pub(crate) fn render_junit(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit = JunitReport::new("myna-hil certify");
    let mut suite = TestSuite::new(format!("certify {}", report.device_name));
    for requirement in &report.requirements {
        suite.add_test_case(test_case(requirement));
    }
    junit.add_test_suite(suite);
    junit.to_string()
}

fn evidence_text(requirement: &RequirementReport) -> String {
    let mut text = String::new();
    for finding in &requirement.evidence {
        text.push_str(&format!(
            "[{}] {} ({}): {}\n",
            finding.case,
            finding.status.name(),
            finding.kind.name(),
            finding.summary
        ));
        for line in &finding.excerpt {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

fn test_case(requirement: &RequirementReport) -> TestCase {
    let status = match requirement.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let first = requirement
                .evidence
                .iter()
                .find(|f| f.status == Status::Fail)
                .map(|f| format!("{}: {}", f.case, f.summary))
                .unwrap_or_default();
            status
                .set_message(first)
                .set_type(requirement.level.name())
                .set_description(evidence_text(requirement));
            status
        }
        // Not exercised keeps the device from being certified: a failure in CI, saying why.
        Status::NotExercised => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!(
                    "not exercised: {}",
                    requirement
                        .reason
                        .as_deref()
                        .unwrap_or("no case exercised it")
                ))
                .set_type("not_exercised")
                .set_description(evidence_text(requirement));
            status
        }
        Status::NotApplicable => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!(
                "not applicable: {}",
                requirement
                    .reason
                    .as_deref()
                    .unwrap_or("the device declared it cannot do it")
            ));
            status
        }
    };
    let mut case = TestCase::new(format!("{} {}", requirement.id, requirement.title), status);
    case.set_classname(format!("certify.{}", requirement.level.name()));
    case
}

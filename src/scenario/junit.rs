//! JUnit XML for CI: one test suite per scenario folder, one test case per scenario; files that
//! could not be loaded appear as errored test cases of a `load errors` suite so that a CI view
//! never shows a green run that silently dropped a file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::load::LoadError;
use super::report::transcript_excerpt;
use super::run::{Outcome, ScenarioResult};

/// Renders the JUnit XML document.
pub fn render_junit(
    results: &[ScenarioResult],
    load_errors: &[LoadError],
) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("myna-hil run");
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for result in results {
        let folder = Path::new(&result.file)
            .parent()
            .map(|p| p.display().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".to_owned());
        let suite = suites
            .entry(folder.clone())
            .or_insert_with(|| TestSuite::new(folder));
        suite.add_test_case(test_case(result));
    }
    let mut total = Duration::ZERO;
    for result in results {
        total += Duration::from_micros(result.wall_us);
    }
    report.set_time(total);
    report.add_test_suites(suites.into_values());
    if !load_errors.is_empty() {
        let mut suite = TestSuite::new("load errors");
        for error in load_errors {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(error.message.clone())
                .set_type("load error")
                .set_description(error.to_string());
            let mut case = TestCase::new(error.file.display().to_string(), status);
            case.set_classname(error.file.display().to_string());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

fn test_case(result: &ScenarioResult) -> TestCase {
    let status = match &result.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed(failures) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = failures
                .iter()
                .map(|failure| {
                    format!(
                        "{}: expected {}, got {}",
                        failure.step_title, failure.expected, failure.actual
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let details: String = failures
                .iter()
                .map(|failure| {
                    format!(
                        "{}:{} {}\nexpected: {}\nactual:   {}\n",
                        result.file,
                        failure.line,
                        failure.step_title,
                        failure.expected,
                        failure.actual,
                    )
                })
                .collect();
            status
                .set_message(message)
                .set_type("expectation")
                .set_description(format!(
                    "{details}transcript:\n{}",
                    transcript_excerpt(&result.transcript, failures.first().step)
                ));
            status
        }
        Outcome::Error { message } => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(message.clone()).set_type("error");
            status
        }
        Outcome::Skipped { reason } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(reason.clone());
            status
        }
    };
    let mut case = TestCase::new(result.name.clone(), status);
    case.set_classname(result.file.clone())
        .set_time(Duration::from_micros(result.wall_us));
    case
}

//! The reports of a run in `--report DIR`: `report.json` (machine-readable), `junit.xml` (CI)
//! and `report.html` (one self-contained page a vendor can hand to a customer).

mod html;
mod junit;

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::catalogue::Level;
use super::judge::{Finding, Status};
use super::run::RunOutcome;
use super::suite::Suite;

pub(crate) use html::render_html;
pub(crate) use junit::render_junit;

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) format: &'static str,
    pub(crate) harness: Harness,
    pub(crate) suite: SuiteInfo,
    pub(crate) device_name: String,
    /// The device's own name and version (from the driver's `hello`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) device: Option<String>,
    /// The day the run judged by, `YYYY-MM-DD`.
    pub(crate) date: String,
    pub(crate) started_at: String,
    pub(crate) finished_at: String,
    pub(crate) summary: Summary,
    pub(crate) requirements: Vec<RequirementReport>,
    pub(crate) cases: Vec<CaseReport>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Harness {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SuiteInfo {
    pub(crate) path: String,
    pub(crate) sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    /// `pass` (the device is certified) when no `must` failed and no requirement was left
    /// not exercised.
    pub(crate) result: Status,
    pub(crate) pass: usize,
    pub(crate) fail: usize,
    pub(crate) not_exercised: usize,
    pub(crate) not_applicable: usize,
    pub(crate) must_failed: Vec<String>,
    /// Requirements whose behaviour never occurred in the cases run.
    pub(crate) not_exercised_ids: Vec<String>,
    pub(crate) should_failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequirementReport {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) level: Level,
    pub(crate) source: String,
    pub(crate) rationale: String,
    pub(crate) status: Status,
    /// Why it was not exercised (or not applicable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    pub(crate) evidence: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CaseReport {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) evidence_for: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) aborted: Option<String>,
    /// Steps, card exchanges and qualification-system calls in order, PINs hidden.
    pub(crate) transcript: String,
}

impl Report {
    pub(crate) fn new(suite: &Suite, outcome: &RunOutcome, device_name: &str) -> Report {
        let requirements: Vec<RequirementReport> = suite
            .requirements
            .iter()
            .filter_map(|requirement| {
                let verdict = outcome.verdicts.iter().find(|v| v.id == requirement.id)?;
                Some(RequirementReport {
                    id: requirement.id.clone(),
                    title: requirement.title.clone(),
                    level: requirement.level,
                    source: requirement.source.clone(),
                    rationale: requirement.rationale.clone(),
                    status: verdict.status,
                    reason: verdict.reason.clone(),
                    evidence: verdict.findings.clone(),
                })
            })
            .collect();
        let failed = |level: Level| -> Vec<String> {
            requirements
                .iter()
                .filter(|r| r.level == level && r.status == Status::Fail)
                .map(|r| r.id.clone())
                .collect()
        };
        let count = |status: Status| requirements.iter().filter(|r| r.status == status).count();
        let must_failed = failed(Level::Must);
        let not_exercised_ids: Vec<String> = requirements
            .iter()
            .filter(|r| r.status == Status::NotExercised)
            .map(|r| r.id.clone())
            .collect();
        let summary = Summary {
            result: if must_failed.is_empty() && not_exercised_ids.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            },
            pass: count(Status::Pass),
            fail: count(Status::Fail),
            not_exercised: count(Status::NotExercised),
            not_applicable: count(Status::NotApplicable),
            should_failed: failed(Level::Should),
            must_failed,
            not_exercised_ids,
        };
        let cases = outcome
            .observations
            .iter()
            .map(|observation| {
                let case = suite.cases.iter().find(|c| c.id == observation.case);
                CaseReport {
                    id: observation.case.clone(),
                    title: case.map(|c| c.title.clone()).unwrap_or_default(),
                    evidence_for: case.map(|c| c.evidence.clone()).unwrap_or_default(),
                    aborted: observation.aborted.clone(),
                    transcript: observation.transcript(),
                }
            })
            .collect();
        let time = |at: chrono::DateTime<chrono::Utc>| {
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        Report {
            format: "myna-hil-certify-report/1",
            harness: Harness {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            suite: SuiteInfo {
                path: suite.root.display().to_string(),
                sha256: suite.sha256.clone(),
            },
            device_name: device_name.to_owned(),
            device: outcome.device.clone(),
            date: outcome.today.format("%Y-%m-%d").to_string(),
            started_at: time(outcome.started),
            finished_at: time(outcome.finished),
            summary,
            requirements,
            cases,
        }
    }

    /// Whether the device is certified (exit 0): no `must` failed and every requirement was
    /// exercised; otherwise exit 1.
    pub(crate) fn passed(&self) -> bool {
        self.summary.result == Status::Pass
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("junit.xml: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    #[error("report.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes `report.json`, `junit.xml` and `report.html` into `dir` (created if missing).
pub(crate) fn write_reports(dir: &Path, report: &Report) -> Result<(), ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_string_pretty(report)?;
    let path = dir.join("report.json");
    std::fs::write(&path, json).map_err(io(&path))?;
    let path = dir.join("junit.xml");
    std::fs::write(&path, render_junit(report)?).map_err(io(&path))?;
    let path = dir.join("report.html");
    std::fs::write(&path, render_html(report)).map_err(io(&path))?;
    Ok(())
}

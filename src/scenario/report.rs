//! Reports of a run: the human summary (stdout) and the JSON file. JUnit is in [`super::junit`].

use std::fmt::Write as _;

use serde::Serialize;

use super::load::LoadError;
use super::run::{Outcome, ScenarioResult, TranscriptEntry};

/// How many steps before the failing one the transcript excerpt shows.
pub(crate) const EXCERPT_STEPS_BEFORE: usize = 2;

/// Counts over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub(crate) total: usize,
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) errors: usize,
    pub(crate) skipped: usize,
    /// Files that could not be loaded (each is also in `load_errors`).
    pub(crate) not_loaded: usize,
}

impl Summary {
    /// Counts of passed, failed, errored and skipped scenarios and load errors.
    pub fn of(results: &[ScenarioResult], load_errors: &[LoadError]) -> Summary {
        let mut summary = Summary {
            total: results.len(),
            not_loaded: load_errors.len(),
            ..Summary::default()
        };
        for result in results {
            match result.outcome {
                Outcome::Passed => summary.passed += 1,
                Outcome::Failed(_) => summary.failed += 1,
                Outcome::Error { .. } => summary.errors += 1,
                Outcome::Skipped { .. } => summary.skipped += 1,
            }
        }
        summary
    }

    /// 0 all passed, 1 a scenario failed, 2 bad input (a file not loaded, a scenario that could
    /// not run, or nothing runnable at all — every scenario skipped is not a pass). Bad input
    /// wins over failures: the suite as given could not be judged.
    pub fn exit_code(&self) -> u8 {
        let nothing_ran = self.total > 0 && self.skipped == self.total;
        if self.not_loaded > 0 || self.errors > 0 || nothing_ran {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }
}

/// ANSI styling, or none (not a terminal, or NO_COLOR set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Whether the text report uses ANSI colours.
    pub colour: bool,
}

impl Style {
    /// Colour only when `stdout_is_terminal` and NO_COLOR is unset or empty (no-color.org).
    pub fn detect(stdout_is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Style {
            colour: stdout_is_terminal && !no_color,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    fn red(&self, text: &str) -> String {
        self.paint("31;1", text)
    }

    fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// The human-readable report: one line per scenario, then details of each failure, error and
/// load error, then the summary line.
pub fn render_text(results: &[ScenarioResult], load_errors: &[LoadError], style: Style) -> String {
    let mut out = String::new();
    let name_width = results
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for result in results {
        let status = match &result.outcome {
            Outcome::Passed => style.green("PASS "),
            Outcome::Failed(_) => style.red("FAIL "),
            Outcome::Error { .. } => style.red("ERROR"),
            Outcome::Skipped { .. } => style.yellow("SKIP "),
        };
        let pad = name_width.saturating_sub(result.name.chars().count());
        let _ = writeln!(
            out,
            "{status} {}{}  {}",
            result.name,
            " ".repeat(pad),
            style.dim(&result.file)
        );
    }

    for result in results {
        match &result.outcome {
            Outcome::Passed => {}
            Outcome::Failed(failures) => {
                let _ = writeln!(out);
                let _ = writeln!(out, "{} {}", style.red("FAILED"), result.name);
                for failure in failures.iter() {
                    let _ = writeln!(
                        out,
                        "  at {}:{}, {}",
                        result.file, failure.line, failure.step_title
                    );
                    let _ = writeln!(out, "    expected: {}", failure.expected);
                    let _ = writeln!(out, "    actual:   {}", failure.actual);
                }
                let excerpt = transcript_excerpt(&result.transcript, failures.first().step);
                if !excerpt.is_empty() {
                    let _ = writeln!(out, "  transcript:");
                    out.push_str(&excerpt);
                }
            }
            Outcome::Error { message } => {
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "{} {} ({})\n  {message}",
                    style.red("ERROR"),
                    result.name,
                    result.file
                );
            }
            Outcome::Skipped { reason } => {
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "{} {} ({})\n  {reason}",
                    style.yellow("SKIPPED"),
                    result.name,
                    result.file
                );
            }
        }
    }

    if !load_errors.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", style.red("Files that could not be loaded:"));
        for error in load_errors {
            let _ = writeln!(out, "{error}");
        }
    }

    let summary = Summary::of(results, load_errors);
    let _ = writeln!(out);
    let mut parts = vec![format!("{} passed", summary.passed)];
    if summary.failed > 0 {
        parts.push(style.red(&format!("{} failed", summary.failed)));
    }
    if summary.errors > 0 {
        parts.push(style.red(&format!("{} could not run", summary.errors)));
    }
    if summary.skipped > 0 {
        parts.push(style.yellow(&format!("{} skipped", summary.skipped)));
    }
    if summary.not_loaded > 0 {
        parts.push(style.red(&format!("{} not loaded", summary.not_loaded)));
    }
    let _ = writeln!(out, "{} scenarios: {}", summary.total, parts.join(", "));
    out
}

/// Transcript lines of the failing step and the [`EXCERPT_STEPS_BEFORE`] steps before it.
pub(crate) fn transcript_excerpt(transcript: &[TranscriptEntry], failing_step: usize) -> String {
    let first = failing_step.saturating_sub(EXCERPT_STEPS_BEFORE);
    let mut out = String::new();
    for entry in transcript
        .iter()
        .filter(|e| e.step >= first && e.step <= failing_step)
    {
        let marker = if entry.step == failing_step { ">" } else { " " };
        let _ = writeln!(
            out,
            "  {marker} {:>10.3} ms  step {:<3} {} {}",
            entry.at_us as f64 / 1000.0,
            entry.step + 1,
            entry.direction,
            entry.text
        );
    }
    out
}

/// A load error as JSON shows it.
#[derive(Debug, Serialize)]
struct LoadErrorView<'a> {
    file: String,
    line: Option<u64>,
    column: Option<u64>,
    message: &'a str,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    summary: Summary,
    exit_code: u8,
    load_errors: Vec<LoadErrorView<'a>>,
    scenarios: &'a [ScenarioResult],
}

/// The JSON report: summary, exit code, load errors, and every scenario with its transcript.
pub fn render_json(
    results: &[ScenarioResult],
    load_errors: &[LoadError],
) -> Result<String, serde_json::Error> {
    let summary = Summary::of(results, load_errors);
    let report = JsonReport {
        summary,
        exit_code: summary.exit_code(),
        load_errors: load_errors
            .iter()
            .map(|error| LoadErrorView {
                file: error.file.display().to_string(),
                line: error.line,
                column: error.column,
                message: &error.message,
            })
            .collect(),
        scenarios: results,
    };
    serde_json::to_string_pretty(&report)
}

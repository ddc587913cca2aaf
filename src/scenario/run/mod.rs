//! Executing scenarios: one reader slot per scenario, steps in order, the first failing step
//! ends the scenario. Results carry the transcript so that reports can show what happened.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::model::Scenario;
use super::readers::{ReaderChoice, RealReaderSettings};

mod describe;
mod engine;
mod phone;
mod result;
mod supervise;
mod world_state;

pub use result::{Failures, Outcome, ScenarioFailure, ScenarioResult, TranscriptEntry};
use supervise::{not_run, run_steps, supervise};

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub(crate) reader: ReaderChoice,
    /// Scenarios run at the same time (at least 1).
    pub(crate) jobs: usize,
    /// Show PINs in transcripts instead of redacting them.
    pub(crate) show_pins: bool,
    /// vpcd address and reader name, and the real-card policy (`vpcd`, `pcsc` readers).
    pub(crate) real: RealReaderSettings,
}

impl RunOptions {
    /// The in-process reader, PINs redacted.
    pub fn virtual_reader(jobs: usize) -> RunOptions {
        RunOptions {
            reader: ReaderChoice::Virtual,
            jobs,
            show_pins: false,
            real: RealReaderSettings::default(),
        }
    }
}

/// Runs every scenario, `options.jobs` at a time; results come back in the input order.
pub(crate) fn run_all(scenarios: &[Scenario], options: &RunOptions) -> Vec<ScenarioResult> {
    // A real reader holds one card at a time: scenarios through it cannot overlap.
    let jobs = if options.reader.is_shared_hardware() {
        1
    } else {
        options.jobs.max(1)
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioResult>>> = Mutex::new(vec![None; scenarios.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(scenarios.len()) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(scenario) = scenarios.get(index) else {
                    break;
                };
                let result = run_scenario(scenario, options);
                if let Ok(mut slots) = results.lock() {
                    slots[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// How long one step (or opening the reader, or the power-on before the first step) may take
/// before the run gives up on the scenario. Generous: a reception through pcscd signs with
/// RSA-2048 and reads certificates in a few seconds; a step past this waits for an answer that
/// will never come (pcscd waits forever for a card that stays silent).
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one scenario on a fresh reader slot. Each step runs under [`STEP_TIMEOUT`]: a step that
/// does not finish ends the scenario with an error naming it, so that a run always ends.
pub fn run_scenario(scenario: &Scenario, options: &RunOptions) -> ScenarioResult {
    let owned = (scenario.clone(), options.clone());
    supervise(STEP_TIMEOUT, not_run(scenario), move |progress| {
        let (scenario, options) = owned;
        run_steps(&scenario, &options, progress)
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::scenario::model::{Action, Step};
    use crate::scenario::schema::PinsExpectation;
    use crate::trace::Transcript;

    fn blank() -> ScenarioResult {
        ScenarioResult {
            name: "hangs".into(),
            file: "hangs.yaml".into(),
            tags: Vec::new(),
            outcome: Outcome::Passed,
            steps_run: 0,
            steps_total: 3,
            simulated_us: 0,
            wall_us: 0,
            transcript: Vec::new(),
            reception: None,
            receptions: Vec::new(),
            oqs_calls: Vec::new(),
            exchanges: Transcript::default(),
        }
    }

    fn step(index: usize, label: &str, line: u64) -> Step {
        Step {
            index,
            label: Some(label.into()),
            line,
            action: Action::Pins(PinsExpectation::default()),
        }
    }

    /// A step that never returns (a card that stays silent behind pcscd) ends the scenario
    /// with an error naming the step, within the timeout.
    #[test]
    fn a_step_that_never_finishes_ends_the_scenario_with_an_error_naming_it() {
        let started = Instant::now();
        let result = supervise(Duration::from_millis(200), blank(), |progress| {
            progress.phase("the power-on before the first step");
            progress.step(&step(0, "select", 7));
            progress.step(&step(1, "three bytes", 9));
            std::thread::sleep(Duration::from_secs(3600));
            blank()
        });
        assert!(started.elapsed() < Duration::from_secs(5));
        let Outcome::Error { message } = &result.outcome else {
            panic!("{:?}", result.outcome);
        };
        assert!(
            message.contains("step 2 (three bytes) (line 9) did not finish within 0.2 s"),
            "{message}"
        );
        assert_eq!(result.steps_run, 2);
    }

    #[test]
    fn a_slow_scenario_whose_steps_each_finish_in_time_completes() {
        let result = supervise(Duration::from_millis(300), blank(), |progress| {
            for index in 0..3 {
                progress.step(&step(index, "slow", 1));
                std::thread::sleep(Duration::from_millis(150));
            }
            ScenarioResult {
                steps_run: 3,
                ..blank()
            }
        });
        assert!(result.passed(), "{:?}", result.outcome);
        assert_eq!(result.steps_run, 3);
    }
}

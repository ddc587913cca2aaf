//! Running one scenario under a supervisor: the steps on a worker, a timeout per step, and the
//! refusals decided before a step runs.

use std::time::{Duration, Instant};

use crate::scenario::model::{Scenario, Step};
use crate::scenario::readers::ReaderChoice;
use crate::scenario::schema::{PowerAction, PowerExpectation};
use crate::scenario::slot::ReaderSlot;

use crate::trace::Transcript;
use crate::transport::Transport;
use std::collections::BTreeMap;

use super::engine::Engine;
use super::result::{micros, Failures, Outcome, ScenarioResult};
use super::world_state::{CardRack, WorldState};
use super::RunOptions;

/// A result with nothing run yet, the outcome still to be decided.
pub(super) fn not_run(scenario: &Scenario) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        tags: scenario.tags.clone(),
        outcome: Outcome::Passed,
        steps_run: 0,
        steps_total: scenario.steps.len(),
        simulated_us: 0,
        wall_us: 0,
        transcript: Vec::new(),
        reception: None,
        receptions: Vec::new(),
        oqs_calls: Vec::new(),
        exchanges: Transcript::default(),
    }
}

/// Where a running scenario is, for the error when it stops making progress.
pub(super) struct Progress {
    pub(super) sender: std::sync::mpsc::Sender<Report>,
}

pub(super) enum Report {
    /// Something before or after the steps: opening the reader, the first power-on, the
    /// scenario-level expectations.
    Phase(&'static str),
    /// A step started.
    Step {
        index: usize,
        title: String,
        line: u64,
    },
    Done(Box<ScenarioResult>),
}

impl Progress {
    // A failed send means the supervisor already gave up on this scenario: nothing to tell.
    pub(super) fn phase(&self, what: &'static str) {
        let _ = self.sender.send(Report::Phase(what));
    }

    pub(super) fn step(&self, step: &Step) {
        let _ = self.sender.send(Report::Step {
            index: step.index,
            title: step.title(),
            line: step.line,
        });
    }
}

/// Runs `work` on its own thread and waits at most `timeout` for each of its phases. A phase
/// that outlasts it ends the scenario with an error naming the phase; the stuck thread is left
/// behind (a blocked PC/SC call cannot be cancelled) and ends with the process.
pub(super) fn supervise(
    timeout: Duration,
    mut fallback: ScenarioResult,
    work: impl FnOnce(&Progress) -> ScenarioResult + Send + 'static,
) -> ScenarioResult {
    let started = Instant::now();
    let (sender, reports) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("scenario".into())
        .spawn(move || {
            let progress = Progress { sender };
            let result = work(&progress);
            let _ = progress.sender.send(Report::Done(Box::new(result)));
        });
    if let Err(error) = spawned {
        fallback.outcome = Outcome::Error {
            message: format!("could not start the scenario's thread: {error}"),
        };
        return fallback;
    }
    let mut current = "opening the reader".to_owned();
    let message = loop {
        match reports.recv_timeout(timeout) {
            Ok(Report::Done(result)) => return *result,
            Ok(Report::Phase(what)) => current = what.to_owned(),
            Ok(Report::Step { index, title, line }) => {
                fallback.steps_run = index + 1;
                current = format!("{title} (line {line})");
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                break format!(
                    "{current} did not finish within {} s: the reader or the card stopped answering",
                    timeout.as_secs_f64()
                );
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break format!("the runner stopped unexpectedly during {current}");
            }
        }
    };
    fallback.outcome = Outcome::Error { message };
    fallback.wall_us = micros(started.elapsed());
    fallback
}

pub(super) fn run_steps(
    scenario: &Scenario,
    options: &RunOptions,
    progress: &Progress,
) -> ScenarioResult {
    let started = Instant::now();
    let mut result = not_run(scenario);
    if let Some(reason) = options.reader.skipped_by(scenario) {
        result.outcome = Outcome::Skipped { reason };
        return result;
    }
    if let Err(reason) = options.reader.supports(scenario.needs()) {
        result.outcome = Outcome::Skipped { reason };
        return result;
    }
    let slot = match options.reader.open(scenario, &options.real) {
        Ok(slot) => slot,
        Err(error) => {
            result.outcome = Outcome::Error {
                message: error.to_string(),
            };
            return result;
        }
    };
    let world = match scenario.world.as_ref().zip(scenario.clock) {
        Some((world, clock)) => match WorldState::start(world, clock) {
            Ok(state) => Some(state),
            Err(message) => {
                result.outcome = Outcome::Error { message };
                return result;
            }
        },
        None => None,
    };
    let mut engine = Engine {
        cards: CardRack {
            described: scenario
                .world
                .as_ref()
                .map(|world| world.cards.clone())
                .unwrap_or_default(),
            out: BTreeMap::new(),
            in_reader: scenario.card_name.clone(),
            day: scenario
                .clock
                .unwrap_or(crate::card::description::RELATIVE_DATES_REFERENCE_DAY),
        },
        slot,
        notes: Vec::new(),
        exchanges: Transcript::default(),
        world,
        show_pins: options.show_pins,
        started,
        phones: super::phone::Phones {
            described: scenario
                .world
                .as_ref()
                .map(|world| world.smartphones.clone())
                .unwrap_or_default(),
            cards: scenario
                .world
                .as_ref()
                .map(|world| world.cards.clone())
                .unwrap_or_default(),
            out: BTreeMap::new(),
            reader: None,
            opener: options.reader.generic_opener(&options.real),
            approval: None,
            day: scenario
                .clock
                .unwrap_or(crate::card::description::RELATIVE_DATES_REFERENCE_DAY),
        },
    };
    // The agreed format: the card is powered before the first step — except in a reception
    // scenario, where the reader flow powers the card itself when it is placed (so that a
    // mute card is the reader's finding, not a failed precondition).
    let implicit_power = scenario.world.is_none();
    progress.phase("the power-on before the first step");
    let powered = if implicit_power {
        engine.power(None, PowerAction::On, &PowerExpectation::default())
    } else {
        Ok(())
    };
    if let Err(failure) = powered {
        result.outcome = Outcome::Failed(failure.into());
    } else if let Some(reason) = {
        progress.phase("checking whose card is in the reader");
        refusal(scenario, engine.slot.as_mut(), options)
    } {
        result.outcome = Outcome::Skipped { reason };
    } else {
        for step in &scenario.steps {
            result.steps_run += 1;
            progress.step(step);
            if let Err(failure) = engine.execute(step) {
                result.outcome = Outcome::Failed(failure.into());
                break;
            }
        }
        if matches!(result.outcome, Outcome::Passed) {
            progress.phase("the scenario-level expectations");
            if let Some(failures) = Failures::from_list(engine.final_checks(scenario)) {
                result.outcome = Outcome::Failed(failures);
            }
        }
    }
    result.simulated_us = micros(engine.now());
    if let Some(world) = &engine.world {
        // The full answer and the reader's own APDU log are in the transcript already.
        let shown = |mut observed: serde_json::Map<String, serde_json::Value>| {
            observed.remove("response");
            observed.remove("apdus");
            serde_json::Value::Object(observed)
        };
        result.reception = Some(shown(world.observed()));
        result.receptions = world.receptions().into_iter().map(shown).collect();
        result.oqs_calls = world.service.service().calls();
    }
    result.transcript = engine.transcript();
    result.exchanges = engine.exchanges;
    result.wall_us = micros(started.elapsed());
    result
}

/// Why a scenario must not run on the card in the slot: it would consume PIN tries or change
/// a card that is not proven to be our emulation, and the user did not allow that.
pub(super) fn refusal(
    scenario: &Scenario,
    slot: &mut dyn ReaderSlot,
    options: &RunOptions,
) -> Option<String> {
    use crate::transport::identify::RealCardPolicy;
    if options.real.policy == RealCardPolicy::AllowChanges {
        return None;
    }
    // Behind vpcd the card is ours by construction.
    if matches!(options.reader, ReaderChoice::Vpcd | ReaderChoice::Listen) {
        return None;
    }
    let (step, change) = scenario.first_card_change()?;
    let transport = slot.transport();
    if scenario.world.is_some() {
        // Reception scenarios connect at `place_card`; probe the card now to know whose it is.
        let _ = transport.connect();
        let emulated = transport.is_emulated_card();
        let _ = transport.disconnect();
        if emulated {
            return None;
        }
    } else if transport.is_emulated_card() {
        return None;
    }
    Some(format!(
        "refused: {} {change}, and the card in {} is not proven to be myna-hil's emulation; a harness \
         must never lock or change a real card. Pass --allow-real-card-changes only for a card you own",
        step.title(),
        transport.describe()
    ))
}

//! The progress bar (indicatif) while a run goes on: off with `--no-progress` or when stderr
//! is not a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `planned` requests (`None`: a spinner counting them).
    pub(crate) fn new(enabled: bool, planned: Option<u64>, label: &str) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match planned {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template(
                    "{msg} [{elapsed_precise}] {spinner} {pos} ({per_sec})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(label.to_owned());
        Progress { bar: Some(bar) }
    }

    /// Shows `done` every 100 ms until `finished` says so.
    pub(crate) fn follow(&self, done: &AtomicU64, finished: impl Fn() -> bool) {
        loop {
            if let Some(bar) = &self.bar {
                bar.set_position(done.load(Ordering::Relaxed));
            }
            if finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done.load(Ordering::Relaxed));
            bar.finish_and_clear();
        }
    }
}

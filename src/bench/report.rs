//! The end of a run: the summary printed, `--json F` and `--plot F.svg`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::bench::drive::RunResult;
use crate::bench::record::Recorder;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    pub(crate) max: u64,
    pub(crate) mean: f64,
}

impl Percentiles {
    fn of(recorder: &Recorder) -> Percentiles {
        let h = recorder.latencies();
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// The JSON written by `--json`, also what the printed summary says.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    /// The workload run (`--workload`).
    pub(crate) workload: String,
    /// `in-process` or the HTTP target.
    pub(crate) target: String,
    /// `open` (arrivals on a schedule, `--rate`) or `closed` (`--terminals`).
    pub(crate) mode: &'static str,
    /// Arrivals per second asked for (open loop only).
    pub(crate) offered_rate_per_s: Option<f64>,
    /// Concurrent senders: terminals (closed loop), connections or threads (open loop).
    pub(crate) senders: usize,
    /// How long the run lasted, in seconds.
    pub(crate) duration_s: f64,
    /// Requests sent and answered as expected.
    pub(crate) requests: u64,
    /// Requests that failed, whatever the kind (a wrong answer, a timeout, never sent...).
    pub(crate) errors: u64,
    /// Failed requests by kind of failure.
    pub(crate) errors_by_kind: BTreeMap<String, u64>,
    /// Expected answers per second of the run.
    pub(crate) throughput_per_s: f64,
    pub(crate) latency_us: Percentiles,
    pub(crate) registry_size: usize,
    /// The registry's seed (`--seed`), to replay the same persons.
    pub(crate) seed: u64,
    /// The outcome kinds asked for and their weights (`--mix`).
    pub(crate) mix: BTreeMap<String, u32>,
    /// Whether the service let challenges be reused (checks signed in advance).
    pub(crate) reusable_challenges: bool,
    /// `reception` only: whether the card's processing time (virtual) is in the latency.
    pub(crate) card_latency: Option<&'static str>,
    /// What ended the run: `duration`, `requests` or `hard_cap` (the hard time limit).
    pub(crate) stopped_by: &'static str,
    pub(crate) cpus: usize,
}

pub(crate) struct SummaryParts {
    pub(crate) workload: String,
    pub(crate) target: String,
    pub(crate) offered_rate_per_s: Option<f64>,
    pub(crate) senders: usize,
    pub(crate) registry_size: usize,
    pub(crate) seed: u64,
    pub(crate) mix: BTreeMap<String, u32>,
    pub(crate) reusable_challenges: bool,
    pub(crate) card_latency: Option<&'static str>,
}

impl Summary {
    pub(crate) fn new(parts: SummaryParts, run: &RunResult) -> Summary {
        let seconds = run.elapsed.as_secs_f64().max(1e-9);
        let requests = run.recorder.successes();
        Summary {
            workload: parts.workload,
            target: parts.target,
            mode: if parts.offered_rate_per_s.is_some() {
                "open"
            } else {
                "closed"
            },
            offered_rate_per_s: parts.offered_rate_per_s,
            senders: parts.senders,
            duration_s: (seconds * 1000.0).round() / 1000.0,
            requests,
            errors: run.recorder.error_count(),
            errors_by_kind: run.recorder.errors().clone(),
            throughput_per_s: ((requests as f64 / seconds) * 10.0).round() / 10.0,
            latency_us: Percentiles::of(&run.recorder),
            registry_size: parts.registry_size,
            seed: parts.seed,
            mix: parts.mix,
            reusable_challenges: parts.reusable_challenges,
            card_latency: parts.card_latency,
            stopped_by: run.stopped_by.name(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The human summary (stdout).
    pub(crate) fn text(&self) -> String {
        let l = &self.latency_us;
        let offered = self
            .offered_rate_per_s
            .map_or_else(String::new, |r| format!(", offered {r}/s"));
        let mut text = format!(
            "bench {} → {} ({} loop, {} senders{offered}), {} persons, seed {}\n\
             {} requests in {:.2} s: {:.1}/s; errors {}\n\
             latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {:.1})\n",
            self.workload,
            self.target,
            self.mode,
            self.senders,
            self.registry_size,
            self.seed,
            self.requests,
            self.duration_s,
            self.throughput_per_s,
            self.errors,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            l.mean,
        );
        for (kind, count) in &self.errors_by_kind {
            text.push_str(&format!("  error {kind}: {count}\n"));
        }
        if self.stopped_by == "hard_cap" {
            text.push_str("  stopped by the hard cap: the system fell too far behind\n");
        }
        text
    }
}

/// Why the JSON summary or the SVG plot could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
    /// A report file could not be written.
    #[error("writing {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// The system's words.
        reason: String,
    },
}

pub(crate) fn write_json(path: &Path, summary: &Summary) -> Result<(), ReportError> {
    let fail = |reason: String| ReportError::Write {
        path: path.display().to_string(),
        reason,
    };
    let mut text = serde_json::to_string_pretty(summary).map_err(|e| fail(e.to_string()))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| fail(e.to_string()))
}

/// `--plot`: the percentile spectrum (latency against 1/(1-p) on a log axis) beside latency
/// over the run (p50, p99 and max of each second).
pub(crate) fn write_plot(
    path: &Path,
    summary: &Summary,
    recorder: &Recorder,
) -> Result<(), ReportError> {
    use plotters::prelude::*;

    let fail = |reason: String| ReportError::Write {
        path: path.display().to_string(),
        reason,
    };
    let histogram = recorder.latencies();
    let spectrum: Vec<(f64, f64)> = [
        0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
    ]
    .iter()
    .filter(|_| !histogram.is_empty())
    .map(|q| (1.0 / (1.0 - q), histogram.value_at_quantile(*q) as f64))
    .collect();
    let seconds: Vec<(f64, f64, f64, f64)> = recorder
        .seconds()
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty())
        .map(|(s, h)| {
            (
                s as f64 + 0.5,
                h.value_at_quantile(0.5) as f64,
                h.value_at_quantile(0.99) as f64,
                h.max() as f64,
            )
        })
        .collect();
    let top = (histogram.max() as f64 * 1.1).max(10.0);
    let root = SVGBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let root = root
        .titled(
            &format!(
                "myna-hil bench {} → {}: {:.0}/s, {} mode",
                summary.workload, summary.target, summary.throughput_per_s, summary.mode
            ),
            ("sans-serif", 18),
        )
        .map_err(|e| fail(e.to_string()))?;
    let (left, right) = root.split_horizontally(600);

    let mut chart = ChartBuilder::on(&left)
        .caption("percentile spectrum", ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..200_000f64).log_scale(), 0f64..top)
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("1/(1-percentile): 10 = p90, 100 = p99, 1000 = p99.9")
        .y_desc("latency µs")
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    chart
        .draw_series(LineSeries::new(spectrum.iter().copied(), &BLUE))
        .map_err(|e| fail(e.to_string()))?;

    let last = seconds.last().map_or(1.0, |s| s.0 + 0.5);
    let mut chart = ChartBuilder::on(&right)
        .caption("latency over time (per second)", ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..last, 0f64..top)
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("seconds into the run")
        .y_desc("latency µs")
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    for (label, colour, pick) in [("p50", BLUE, 1usize), ("p99", RED, 2), ("max", BLACK, 3)] {
        chart
            .draw_series(LineSeries::new(
                seconds.iter().map(move |s| {
                    (
                        s.0,
                        match pick {
                            1 => s.1,
                            2 => s.2,
                            _ => s.3,
                        },
                    )
                }),
                &colour,
            ))
            .map_err(|e| fail(e.to_string()))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}

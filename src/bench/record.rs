//! What one load worker measured: an HDR histogram of latencies, one coarser histogram per
//! second of the run (for the plot), and failures by kind. Workers record alone and are
//! merged at the end, so recording takes no lock.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, from 1 µs to one hour (longer ones are clamped).
const HIGHEST_MICROS: u64 = 3_600_000_000;

/// An HDR histogram could not be created or added to.
#[derive(Debug, thiserror::Error)]
#[error("latency histogram: {0}")]
pub(crate) struct HistogramError(String);

fn histogram(significant_digits: u8) -> Result<Histogram<u64>, HistogramError> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, significant_digits)
        .map_err(|error| HistogramError(error.to_string()))
}

/// Latencies (HDR histograms, per second and overall) and failures of one run.
#[derive(Clone)]
pub(crate) struct Recorder {
    total: Histogram<u64>,
    per_second: Vec<Histogram<u64>>,
    blank_second: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub(crate) fn new() -> Result<Recorder, HistogramError> {
        Ok(Recorder {
            total: histogram(3)?,
            per_second: Vec::new(),
            blank_second: histogram(2)?,
            errors: BTreeMap::new(),
        })
    }

    /// A request that got its expected answer, `started` after the run began (its scheduled
    /// start in open loop), after `latency`.
    pub(crate) fn success(&mut self, started: Duration, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, HIGHEST_MICROS);
        self.total.saturating_record(micros);
        let second = usize::try_from(started.as_secs()).unwrap_or(usize::MAX);
        // The plot needs one histogram per second; runs are capped at an hour.
        if second < 3_600 {
            while self.per_second.len() <= second {
                self.per_second.push(self.blank_second.clone());
            }
            if let Some(bucket) = self.per_second.get_mut(second) {
                bucket.saturating_record(micros);
            }
        }
    }

    /// Counts one failure of `kind`.
    pub(crate) fn failure(&mut self, kind: &str) {
        self.failures(kind, 1);
    }

    /// Counts `count` failures of `kind`.
    pub(crate) fn failures(&mut self, kind: &str, count: u64) {
        if count > 0 {
            *self.errors.entry(kind.to_owned()).or_insert(0) += count;
        }
    }

    pub(crate) fn merge(&mut self, other: &Recorder) {
        let _ = self.total.add(&other.total);
        while self.per_second.len() < other.per_second.len() {
            self.per_second.push(self.blank_second.clone());
        }
        for (mine, theirs) in self.per_second.iter_mut().zip(&other.per_second) {
            let _ = mine.add(theirs);
        }
        for (kind, count) in &other.errors {
            *self.errors.entry(kind.clone()).or_insert(0) += count;
        }
    }

    pub(crate) fn successes(&self) -> u64 {
        self.total.len()
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Failures by kind.
    pub(crate) fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    pub(crate) fn latencies(&self) -> &Histogram<u64> {
        &self.total
    }

    /// One latency histogram per second of the run.
    pub(crate) fn seconds(&self) -> &[Histogram<u64>] {
        &self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_seconds_and_errors() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        a.success(Duration::from_millis(100), Duration::from_micros(10));
        b.success(Duration::from_millis(2_500), Duration::from_micros(1_000));
        b.failure("timeout");
        b.failure("timeout");
        a.failure("status_500");
        a.merge(&b);
        assert_eq!(a.successes(), 2);
        assert_eq!(a.error_count(), 3);
        assert_eq!(a.errors().get("timeout"), Some(&2));
        assert_eq!(a.seconds().len(), 3);
        assert_eq!(a.seconds()[2].len(), 1);
        assert_eq!(a.seconds()[1].len(), 0);
        assert!(a.latencies().max() >= 999 && a.latencies().max() <= 1_001);
    }
}

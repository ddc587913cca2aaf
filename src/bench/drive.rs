//! The load models. Open loop (`--rate`): request `k` is due at `start + k / rate` whatever
//! happened before it, and its latency counts from that due time, so a stall shows up in every
//! request it delayed (no coordinated omission). Closed loop (`--terminals N`): N terminals each
//! send their next request as soon as the last one is answered; latency counts from the send.
//!
//! Every run stops by itself: at its duration or request count, and in any case at a hard cap
//! (open loop: twice the planned duration plus 10 s; closed loop: its duration plus 10 s, or
//! one hour). A closed loop by requests has no planned duration, so it also ends at the hard
//! cap once nothing has been answered for [`STALL_CAP`] (a server that never answers: 20
//! requests on 2 terminals took 100 s, and 10^9 requests would have taken years); the requests
//! never sent then count as `not_sent`, as in the open loop.
//!
//! All senders share one run clock, started once when they are released: a sender's own clock
//! started when the OS first ran it, so with thousands of terminals on 2 cores some started
//! seconds late and ran seconds past `--duration`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use crate::bench::http::{run_http, Connection, HttpRequest, HttpTarget, ANSWER_TOO_LARGE};
use crate::bench::in_process::{InProcess, Pool};
use crate::bench::judge::Path;
use crate::bench::progress::Progress;
use crate::bench::record::{HistogramError, Recorder};

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Load {
    /// `rate` requests per second, spread over `workers` senders.
    Open { rate: f64, workers: usize },
    /// `terminals` senders, each waiting for its answer.
    Closed { terminals: usize },
}

impl Load {
    pub(crate) fn senders(&self) -> usize {
        match *self {
            Load::Open { workers, .. } => workers,
            Load::Closed { terminals } => terminals,
        }
        .max(1)
    }
}

/// When the run ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    pub(crate) duration: Option<Duration>,
    pub(crate) requests: Option<u64>,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    Duration,
    Requests,
    HardCap,
}

impl StopReason {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StopReason::Duration => "duration",
            StopReason::Requests => "requests",
            StopReason::HardCap => "hard_cap",
        }
    }
}

pub(crate) struct RunResult {
    pub(crate) recorder: Recorder,
    /// From the start to the last answer.
    pub(crate) elapsed: Duration,
    pub(crate) stopped_by: StopReason,
}

/// The plan both drivers follow.
#[derive(Debug, Clone, Copy)]
struct Plan {
    load: Load,
    /// Requests with an index below this are sent (open loop: all are due by the end).
    count: u64,
    /// Closed loop by duration: no request starts after this.
    until: Option<Duration>,
    hard_cap: Duration,
    /// The run was asked to last a duration rather than a number of requests.
    by_duration: bool,
    /// Closed loop by requests: end at the hard cap once nothing was answered for this long.
    stall: Option<Duration>,
}

const CLOSED_LOOP_CAP: Duration = Duration::from_secs(3_600);

/// How long a closed loop by requests may go without any answer (a `timeout` is none) before
/// it ends at the hard cap: one request timeout, and the open loop's 10 s of grace.
pub(crate) const STALL_CAP: Duration =
    Duration::from_secs(crate::bench::http::REQUEST_TIMEOUT.as_secs() + 10);

impl Plan {
    fn new(load: Load, limits: Limits) -> Plan {
        match load {
            Load::Open { rate, .. } => {
                let count = limits.requests.unwrap_or_else(|| {
                    let seconds = limits.duration.unwrap_or_default().as_secs_f64();
                    (rate * seconds).ceil() as u64
                });
                let planned = Duration::from_secs_f64(count as f64 / rate);
                Plan {
                    load,
                    count,
                    until: None,
                    hard_cap: planned * 2 + Duration::from_secs(10),
                    by_duration: limits.requests.is_none(),
                    stall: None,
                }
            }
            Load::Closed { .. } => Plan {
                load,
                count: limits.requests.unwrap_or(u64::MAX),
                until: limits.duration,
                hard_cap: limits
                    .duration
                    .map_or(CLOSED_LOOP_CAP, |d| d + Duration::from_secs(10))
                    .min(CLOSED_LOOP_CAP),
                by_duration: limits.requests.is_none(),
                stall: limits.duration.is_none().then_some(STALL_CAP),
            },
        }
    }

    /// When request `k` is due, from the start (open loop only).
    fn due(&self, k: u64) -> Option<Duration> {
        match self.load {
            Load::Open { rate, .. } => Some(Duration::from_secs_f64(k as f64 / rate)),
            Load::Closed { .. } => None,
        }
    }

    /// Whether request `k` may still be sent `now` after the start; `Err` when the hard cap is hit.
    fn admits(&self, k: u64, now: Duration) -> Result<bool, ()> {
        if now >= self.hard_cap {
            return Err(());
        }
        if k >= self.count {
            return Ok(false);
        }
        Ok(self.until.is_none_or(|until| now < until))
    }

    fn stop_reason(&self, hit_cap: bool) -> StopReason {
        if hit_cap {
            StopReason::HardCap
        } else if self.by_duration {
            StopReason::Duration
        } else {
            StopReason::Requests
        }
    }
}

struct Shared {
    next: AtomicU64,
    done: AtomicU64,
    hit_cap: AtomicBool,
    /// When the last answer (anything but a `timeout`) arrived, in ms from the start.
    answered_ms: AtomicU64,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            next: AtomicU64::new(0),
            done: AtomicU64::new(0),
            hit_cap: AtomicBool::new(false),
            answered_ms: AtomicU64::new(0),
        }
    }

    /// Notes that a request ended at `elapsed`: answered unless it timed out.
    fn ended(&self, result: &Result<(), String>, elapsed: Duration) {
        if !matches!(result, Err(kind) if kind == "timeout") {
            let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            self.answered_ms.fetch_max(ms, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// The next request a sender may send at `elapsed` after the start, or `None` when the run
    /// is over for it (noting when the hard cap ended it).
    fn take_next(&self, plan: &Plan, elapsed: Duration) -> Option<u64> {
        if let Some(stall) = plan.stall {
            let answered = Duration::from_millis(self.answered_ms.load(Ordering::Relaxed));
            if elapsed.saturating_sub(answered) >= stall {
                self.hit_cap.store(true, Ordering::Relaxed);
                return None;
            }
        }
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        match plan.admits(k, elapsed) {
            Ok(true) => Some(k),
            Ok(false) => None,
            Err(()) => {
                self.hit_cap.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Runs an in-process workload on OS threads (one per sender).
pub(crate) fn drive_in_process<W: InProcess>(
    workload: &W,
    load: Load,
    limits: Limits,
    progress: &Progress,
) -> Result<RunResult, HistogramError> {
    let plan = Plan::new(load, limits);
    let shared = Shared::new();
    let senders = load.senders();
    let barrier = Barrier::new(senders + 1);
    let blank = Recorder::new()?;
    // The run clock: set by whichever thread the barrier lets go first, read by all.
    let clock = OnceLock::new();
    let mut start = Instant::now();
    let recorders: Vec<Recorder> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..senders)
            .map(|index| {
                let (shared, barrier, clock, mut recorder) =
                    (&shared, &barrier, &clock, blank.clone());
                scope.spawn(move || {
                    let mut worker = workload.worker(index);
                    barrier.wait();
                    let start = *clock.get_or_init(Instant::now);
                    while let Some(k) = shared.take_next(&plan, start.elapsed()) {
                        let due = plan.due(k);
                        if let Some(due) = due {
                            let now = start.elapsed();
                            if due > now {
                                std::thread::sleep(due - now);
                            }
                        }
                        let sent = start.elapsed();
                        let began = due.unwrap_or(sent);
                        let result = match workload.run(k, &mut worker) {
                            Ok(simulated) => {
                                let latency = start.elapsed().saturating_sub(began) + simulated;
                                recorder.success(began, latency);
                                Ok(())
                            }
                            Err(kind) => {
                                recorder.failure(&kind);
                                Err(kind)
                            }
                        };
                        shared.ended(&result, start.elapsed());
                    }
                    recorder
                })
            })
            .collect();
        barrier.wait();
        start = *clock.get_or_init(Instant::now);
        progress.follow(&shared.done, || handles.iter().all(|h| h.is_finished()));
        handles
            .into_iter()
            .filter_map(|handle| handle.join().ok())
            .collect()
    });
    finish(plan, &shared, start, recorders, blank)
}

fn finish(
    plan: Plan,
    shared: &Shared,
    start: Instant,
    recorders: Vec<Recorder>,
    mut total: Recorder,
) -> Result<RunResult, HistogramError> {
    let elapsed = start.elapsed();
    for recorder in &recorders {
        total.merge(recorder);
    }
    let hit_cap = shared.hit_cap.load(Ordering::Relaxed);
    let planned = match plan.load {
        Load::Open { .. } => true,
        Load::Closed { .. } => !plan.by_duration,
    };
    if hit_cap && planned {
        // Due (or asked for) but never sent: the system fell so far behind, or stopped
        // answering, and the cap ended the run.
        let sent = total.successes() + total.error_count();
        total.failures("not_sent", plan.count.saturating_sub(sent));
    }
    Ok(RunResult {
        recorder: total,
        elapsed,
        stopped_by: plan.stop_reason(hit_cap),
    })
}

/// An HTTP workload: requests by kind, and which answers they expect.
pub(crate) struct HttpWorkload {
    pub(crate) target: HttpTarget,
    pub(crate) path: Path,
    pub(crate) pool: Pool<HttpRequest>,
}

/// Runs an HTTP workload on a tokio runtime, one task and one kept-alive connection per sender.
pub(crate) fn drive_http(
    workload: Arc<HttpWorkload>,
    load: Load,
    limits: Limits,
    progress: &Progress,
    runtime: &tokio::runtime::Runtime,
) -> Result<RunResult, HistogramError> {
    let plan = Plan::new(load, limits);
    let shared = Arc::new(Shared::new());
    let blank = Recorder::new()?;
    let start = Instant::now() + Duration::from_millis(20);
    let tasks: Vec<_> = (0..load.senders())
        .map(|_| {
            let (workload, shared, mut recorder) =
                (Arc::clone(&workload), Arc::clone(&shared), blank.clone());
            runtime.spawn(async move {
                let start = tokio::time::Instant::from_std(start);
                tokio::time::sleep_until(start).await;
                let mut connection: Option<Connection> = None;
                while let Some(k) = shared.take_next(&plan, start.elapsed()) {
                    let due = plan.due(k);
                    if let Some(due) = due {
                        // A request already due (the sender is behind) goes at once: a timer
                        // set in the past still costs a turn of the timer wheel, and at
                        // 20,000/s those turns were what kept a behind sender behind.
                        if start + due > tokio::time::Instant::now() {
                            tokio::time::sleep_until(start + due).await;
                        }
                    }
                    let began = due.unwrap_or_else(|| start.elapsed());
                    let result = match workload.pool.pick(k) {
                        None => Err("empty_pool".to_owned()),
                        Some((expected, request)) => {
                            let open = match connection.take() {
                                Some(open) => Ok(open),
                                None => Connection::open(&workload.target)
                                    .await
                                    .map_err(|failure| failure.0),
                            };
                            match open {
                                Err(kind) => Err(kind),
                                Ok(mut open) => {
                                    let result =
                                        run_http(&mut open, workload.path, expected, request)
                                            .await;
                                    // A transport failure leaves the connection unusable; a
                                    // wrong answer does not.
                                    let broken = matches!(&result, Err(kind)
                                        if matches!(kind.as_str(), "io" | "timeout" | "connection_closed" | ANSWER_TOO_LARGE));
                                    if !broken {
                                        connection = Some(open);
                                    }
                                    result
                                }
                            }
                        }
                    };
                    match &result {
                        Ok(()) => {
                            recorder.success(began, start.elapsed().saturating_sub(began))
                        }
                        Err(kind) => recorder.failure(kind),
                    }
                    shared.ended(&result, start.elapsed());
                }
                recorder
            })
        })
        .collect();
    let finished = Arc::new(AtomicU64::new(0));
    let waiter = {
        let finished = Arc::clone(&finished);
        runtime.spawn(async move {
            let mut recorders = Vec::new();
            for task in tasks {
                if let Ok(recorder) = task.await {
                    recorders.push(recorder);
                }
                finished.fetch_add(1, Ordering::Relaxed);
            }
            recorders
        })
    };
    let senders = load.senders() as u64;
    progress.follow(&shared.done, || finished.load(Ordering::Relaxed) >= senders);
    let recorders = runtime.block_on(waiter).unwrap_or_default();
    finish(plan, &shared, start, recorders, blank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_plans_rate_times_duration_and_spaces_requests_evenly() {
        let plan = Plan::new(
            Load::Open {
                rate: 1_000.0,
                workers: 2,
            },
            Limits {
                duration: Some(Duration::from_secs(3)),
                requests: None,
            },
        );
        assert_eq!(plan.count, 3_000);
        assert_eq!(plan.due(500), Some(Duration::from_millis(500)));
        assert_eq!(plan.admits(2_999, Duration::from_secs(5)), Ok(true));
        assert_eq!(plan.admits(3_000, Duration::from_secs(1)), Ok(false));
        assert_eq!(plan.admits(10, Duration::from_secs(16)), Err(()));
    }

    #[test]
    fn closed_loop_by_duration_stops_starting_requests_at_the_end() {
        let plan = Plan::new(
            Load::Closed { terminals: 4 },
            Limits {
                duration: Some(Duration::from_secs(2)),
                requests: None,
            },
        );
        assert_eq!(plan.due(7), None);
        assert_eq!(
            plan.admits(1_000_000, Duration::from_millis(1_999)),
            Ok(true)
        );
        assert_eq!(plan.admits(0, Duration::from_secs(2)), Ok(false));
        assert_eq!(plan.stop_reason(false), StopReason::Duration);
        assert_eq!(plan.stop_reason(true), StopReason::HardCap);
    }

    #[test]
    fn a_closed_loop_by_requests_ends_at_the_hard_cap_once_nothing_is_answered() {
        let plan = Plan::new(
            Load::Closed { terminals: 2 },
            Limits {
                duration: None,
                requests: Some(1_000_000_000),
            },
        );
        let shared = Shared::new();
        assert_eq!(shared.take_next(&plan, Duration::from_secs(1)), Some(0));
        shared.ended(&Err("timeout".to_owned()), Duration::from_secs(10));
        assert_eq!(shared.take_next(&plan, Duration::from_secs(10)), Some(1));
        shared.ended(&Err("timeout".to_owned()), STALL_CAP);
        assert_eq!(shared.take_next(&plan, STALL_CAP), None);
        assert!(shared.hit_cap.load(Ordering::Relaxed));
        assert_eq!(plan.stop_reason(true), StopReason::HardCap);
        // An answer, even a wrong one, is progress.
        let shared = Shared::new();
        shared.ended(&Err("status_500".to_owned()), Duration::from_secs(15));
        assert_eq!(shared.take_next(&plan, STALL_CAP), Some(0));
        // By duration, the duration's own cap applies and no stall rule.
        let by_time = Plan::new(
            Load::Closed { terminals: 2 },
            Limits {
                duration: Some(Duration::from_secs(60)),
                requests: None,
            },
        );
        assert_eq!(Shared::new().take_next(&by_time, STALL_CAP), Some(0));
    }

    /// A workload that takes a little time, so a thread that started its own clock late would
    /// run past the end.
    struct Busy;
    impl InProcess for Busy {
        type Worker = ();
        fn worker(&self, _: usize) {}
        fn run(&self, _: u64, _: &mut ()) -> Result<Duration, String> {
            std::thread::sleep(Duration::from_millis(1));
            Ok(Duration::ZERO)
        }
    }

    #[test]
    fn many_terminals_in_process_share_one_clock_and_report_over_the_wall_time() {
        let began = Instant::now();
        let result = drive_in_process(
            &Busy,
            Load::Closed { terminals: 512 },
            Limits {
                duration: Some(Duration::from_millis(300)),
                requests: None,
            },
            &Progress::new(false, None, ""),
        )
        .unwrap();
        let wall = began.elapsed();
        assert_eq!(result.stopped_by, StopReason::Duration);
        // The reported time is the wall time the run used, never less (the throughput was
        // once computed over a clock started after thousands of threads had run).
        assert!(result.elapsed <= wall, "{:?} > {wall:?}", result.elapsed);
        assert!(result.elapsed >= Duration::from_millis(300));
    }
}

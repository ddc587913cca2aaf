//! `certify --driver CMD` against hostile drivers, written here as small Python scripts: one
//! that never reads its stdin, one whose helpers hang and ignore SIGTERM, one that floods its
//! stdout while the harness changes the slot, and one that writes control characters and an
//! endless line. Whatever the driver does, each run ends within its timeouts, writes its three
//! reports, names the reason accurately and printably, and leaves no driver process behind
//! (nor after SIGTERM or Ctrl-C of `certify`). The card goes to a serial pty (socat), so no
//! pcscd is needed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What every hostile driver shares: its log (one line per event, for the test to read) and
/// the protocol's reading and answering.
const PRELUDE: &str = r#"
import json, os, signal, subprocess, sys, threading, time
LOG = sys.argv[1]
def log(text):
    with open(LOG, "a") as f:
        f.write(text + "\n")
def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
def instructions():
    for line in sys.stdin:
        yield json.loads(line)
log("start %d %d" % (os.getpid(), os.getpgrp()))
"#;

/// One case: its id, step timeout and steps (YAML flow items).
struct CaseSpec<'a> {
    id: &'a str,
    step_timeout_ms: u64,
    steps: Vec<String>,
}

fn case_spec<'a>(id: &'a str, step_timeout_ms: u64, steps: &[&str]) -> CaseSpec<'a> {
    CaseSpec {
        id,
        step_timeout_ms,
        steps: steps.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// A suite with the real catalogue and registry and these cases.
fn suite(dir: &Path, cases: &[CaseSpec<'_>]) -> PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir_all(suite.join("cases")).unwrap();
    for file in ["requirements.yaml", "registry.yaml"] {
        std::fs::copy(manifest().join("certify").join(file), suite.join(file)).unwrap();
    }
    let card = manifest().join("fixtures/cards/standard.yaml");
    for case in cases {
        std::fs::write(
            suite.join(format!("cases/{}.yaml", case.id)),
            format!(
                "id: {}\ntitle: hostile\ncard: {{ file: {} }}\nstep_timeout_ms: {}\nsteps: [{}]\nevidence: [OQS-RESULT-01]\n",
                case.id,
                card.display(),
                case.step_timeout_ms,
                case.steps.join(", ")
            ),
        )
        .unwrap();
    }
    suite
}

/// A finished `certify` run.
struct Certified {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    reports: PathBuf,
    /// Peak RSS of `certify` in KiB (VmHWM, read while it ran).
    peak_rss_kib: u64,
}

impl Certified {
    fn report(&self) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.reports.join("report.json")).unwrap_or_else(|error| {
                panic!(
                    "no report.json ({error}): {}",
                    String::from_utf8_lossy(&self.stderr)
                )
            });
        serde_json::from_str(&text).unwrap()
    }

    /// Every run that got past `hello` writes all three reports.
    fn assert_three_reports(&self) {
        for file in ["report.json", "junit.xml", "report.html"] {
            let path = self.reports.join(file);
            assert!(
                path.is_file() && std::fs::metadata(&path).unwrap().len() > 0,
                "no {file}: {}",
                String::from_utf8_lossy(&self.stderr)
            );
        }
    }

    fn aborted(&self, case: &str) -> String {
        let report = self.report();
        let found = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == case)
            .unwrap_or_else(|| panic!("case {case} not in the report"))
            .clone();
        found["aborted"].as_str().unwrap_or_default().to_owned()
    }
}

/// A running `certify --driver "python3 SCRIPT LOG"` with the card on a serial pty.
struct Started {
    child: std::process::Child,
    dir: PathBuf,
    _pty: PtyPair,
}

fn start(dir: &Path, suite: &Path, script: &str) -> Started {
    let pty = PtyPair::new();
    let driver_file = dir.join("driver.py");
    std::fs::write(&driver_file, format!("{PRELUDE}\n{script}")).unwrap();
    let driver = format!(
        "python3 {} {}",
        driver_file.display(),
        dir.join("driver.log").display()
    );
    let child = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["certify", "--driver", &driver, "--suite"])
        .arg(suite)
        .arg("--serial")
        .arg(&pty.card_end)
        .arg("--report")
        .arg(dir.join("reports"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("the binary runs");
    Started {
        child,
        dir: dir.to_owned(),
        _pty: pty,
    }
}

impl Started {
    /// Waits for the run to end; a run that does not end within `limit` is killed and fails
    /// the test (before the fixes, some of these runs never ended).
    fn finish(mut self, limit: Duration) -> Certified {
        let deadline = Instant::now() + limit;
        let mut peak_rss_kib = 0;
        let status = loop {
            // The high-water mark only grows: its last reading before the exit is the peak
            // (the floods in these tests come early in the run, not in its last 50 ms).
            peak_rss_kib = peak_rss_kib.max(high_water_mark_kib(self.child.id()).unwrap_or(0));
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                end_logged_processes(&self.dir);
                panic!(
                    "certify did not end within {limit:?}: {}",
                    String::from_utf8_lossy(&std::fs::read(self.dir.join("stderr")).unwrap())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Certified {
            code: status.code(),
            stdout: std::fs::read(self.dir.join("stdout")).unwrap(),
            stderr: std::fs::read(self.dir.join("stderr")).unwrap(),
            reports: self.dir.join("reports"),
            peak_rss_kib,
        }
    }
}

/// The peak resident set (VmHWM) of process `pid` in KiB, while it runs.
fn high_water_mark_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The process ids the driver logged (`start PID PGRP`, `helper PID`).
fn logged_pids(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("driver.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("start" | "helper") => words.next()?.parse().ok(),
                _ => None,
            }
        })
        .collect()
}

/// Whether `pid` is a live process (a zombie has ended: only its parent's reaping is left).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

/// Cleans up after a failed test, so that a regression does not leave sleepers behind.
fn end_logged_processes(dir: &Path) {
    for pid in logged_pids(dir) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// No process the driver started is alive (given a moment for the kernel to deliver).
fn assert_no_driver_process_left(dir: &Path) {
    let pids = logged_pids(dir);
    assert!(!pids.is_empty(), "the driver logged no process");
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|pid| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
    end_logged_processes(dir);
    assert!(
        left.is_empty(),
        "driver processes outlived certify: {left:?}"
    );
}

/// The process group this test runs in (and so the one `certify` starts in).
fn own_process_group() -> u32 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = stat.rsplit(')').next().unwrap();
    after_name
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

/// Each control character (other than line ends and tabs) in `bytes`.
fn control_characters(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .copied()
        .filter(|b| (*b < 0x20 && !matches!(b, b'\n' | b'\t')) || *b == 0x7F)
        .collect()
}

/// Item 1: a driver that answers every instruction but reads nothing after `hello` (it sees
/// instructions arrive by the pipe's fill level). Once its pipe is full the harness's write
/// cannot complete: that write is bounded by the step timeout, the case is aborted with that
/// reason, the next case runs against a fresh driver, and the reports are written.
#[test]
fn a_driver_that_never_reads_its_stdin_costs_one_case_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let long: Vec<&str> = std::iter::repeat_n("choose_visual", 150).collect();
    let suite = suite(
        dir.path(),
        &[
            case_spec("a-long", 2000, &long),
            case_spec("b-short", 2000, &["choose_visual", "choose_visual"]),
        ],
    );
    let script = r#"
import array, fcntl, termios
# Reads hello (byte by byte, so that nothing more is taken) for its id, and nothing after.
hello = b""
while not hello.endswith(b"\n"):
    hello += os.read(0, 1)
next_id = json.loads(hello)["id"]
answer({"id": next_id, "ok": True, "device": "never reads"})
next_id += 1
fcntl.fcntl(0, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe fills after ~40 instructions
seen = 0
while True:
    pending = array.array("i", [0])
    fcntl.ioctl(0, termios.FIONREAD, pending)
    if pending[0] > seen:
        seen = pending[0]
        answer({"id": next_id, "ok": True, "device": "never reads"})
        next_id += 1
    else:
        time.sleep(0.002)
"#;
    let run = start(dir.path(), &suite, script).finish(Duration::from_secs(90));
    run.assert_three_reports();
    let aborted = run.aborted("a-long");
    assert!(
        aborted.contains("did not read instruction") && aborted.contains("within 2000 ms"),
        "{aborted}"
    );
    assert_eq!(run.aborted("b-short"), "", "the next case runs");
    let starts = logged_pids(dir.path()).len();
    assert_eq!(starts, 2, "one driver per case: the hung one was replaced");
    assert_eq!(
        run.code,
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_no_driver_process_left(dir.path());
}

/// A driver (run as `sh -c "python3 …"`) that starts a helper, ignores SIGTERM and hangs on
/// the first step. At each start it logs which processes of the previous driver are still
/// alive: none may be, during the run or after it.
const HANGING_DRIVER: &str = r#"
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for line in open(LOG).read().splitlines():
    words = line.split()
    if words[0] in ("start", "helper") and int(words[1]) != os.getpid():
        try:
            state = open("/proc/%s/stat" % words[1]).read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "gone"
        if state not in ("gone", "Z", "X"):
            log("alive-at-restart %s" % words[1])
helper = subprocess.Popen(["sleep", "300"])
log("helper %d" % helper.pid)
for i in instructions():
    if i["op"] == "step":
        time.sleep(3600)
    answer({"id": i["id"], "ok": True, "device": "hangs"})
"#;

/// Item 2: the whole process group of a hung driver is ended before the next case and at
/// the end, helpers and SIGTERM-ignoring processes included.
#[test]
fn a_hung_driver_and_its_helpers_are_ended_as_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(
        dir.path(),
        &[
            case_spec("a-hang", 800, &["choose_visual"]),
            case_spec("b-hang", 800, &["choose_visual"]),
        ],
    );
    let run = start(dir.path(), &suite, HANGING_DRIVER).finish(Duration::from_secs(60));
    run.assert_three_reports();
    assert!(run.aborted("a-hang").contains("within 800 ms"));
    assert!(run.aborted("b-hang").contains("within 800 ms"));
    let log = std::fs::read_to_string(dir.path().join("driver.log")).unwrap();
    assert!(
        !log.contains("alive-at-restart"),
        "a hung driver ran into the next case:\n{log}"
    );
    // Each driver leads a group of its own, not the one certify (and this test) runs in.
    let starts: Vec<&str> = log.lines().filter(|l| l.starts_with("start")).collect();
    assert_eq!(starts.len(), 2, "{log}");
    for start in starts {
        let group: u32 = start.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_ne!(group, own_process_group(), "{start}");
    }
    assert_no_driver_process_left(dir.path());
}

/// Item 2, the signals: SIGTERM or Ctrl-C (SIGINT) of `certify` mid-step ends the driver's
/// group too, although the driver no longer shares the terminal's process group.
#[test]
fn a_signal_to_certify_ends_the_drivers_group() {
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let dir = tempfile::tempdir().unwrap();
        let suite = suite(
            dir.path(),
            &[case_spec("a-hang", 60_000, &["choose_visual"])],
        );
        let started = start(dir.path(), &suite, HANGING_DRIVER);
        wait_until("the driver's helper", Duration::from_secs(30), || {
            std::fs::read_to_string(dir.path().join("driver.log"))
                .is_ok_and(|log| log.contains("helper"))
        });
        // The first step has been sent and hangs.
        std::thread::sleep(Duration::from_millis(500));
        let status = Command::new("kill")
            .args([signal, &started.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let run = started.finish(Duration::from_secs(20));
        assert_eq!(run.code, Some(code), "{signal}");
        assert!(
            String::from_utf8_lossy(&run.stderr).contains("the driver's processes were ended"),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_no_driver_process_left(dir.path());
    }
}

/// Item 3: a driver flooding its stdout with short lines while the harness changes the slot
/// (1.2 s on a serial line). The lines nobody asked for are dropped and counted and abort the
/// case; `certify`'s peak RSS stays far below what the unbounded queue took (1.27 GB a
/// second).
#[test]
fn a_driver_flooding_its_stdout_keeps_certify_small_and_costs_its_case() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(
        dir.path(),
        &[
            case_spec("a-flood", 2000, &["place_card", "choose_visual"]),
            case_spec("b-after", 2000, &["place_card", "choose_visual"]),
        ],
    );
    let script = r#"
def flood():
    chunk = (("x" * 15 + "\n") * 65536).encode()  # 1 MiB of 16-byte lines
    end = time.time() + 5
    while time.time() < end:
        os.write(1, chunk)
for i in instructions():
    answer({"id": i["id"], "ok": True, "device": "floods"})
    if i["op"] == "begin_case" and i["case"] == "a-flood":
        threading.Thread(target=flood, daemon=True).start()
"#;
    let run = start(dir.path(), &suite, script).finish(Duration::from_secs(90));
    let peak = run.peak_rss_kib;
    let aborted = run.aborted("a-flood");
    eprintln!("peak RSS of certify under the flood: {peak} KiB; {aborted}");
    assert!(peak < 200 * 1024, "certify's peak RSS {peak} KiB");
    run.assert_three_reports();
    assert!(
        aborted.contains("lines nobody asked for before instruction")
            && aborted.contains("xxxxxxxx"),
        "{aborted}"
    );
    assert_eq!(run.aborted("b-after"), "", "the next case runs");
    assert_no_driver_process_left(dir.path());
}

/// Item 5: reasons are accurate and printable. A line that is not JSON and an error message
/// full of terminal escapes reach no output raw (console, report.html, junit.xml) but are
/// quoted escaped; a 2 MiB line is called too long, not "the driver went away", while the
/// driver still runs.
#[test]
fn driver_text_reaches_the_reports_escaped_and_reasons_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(
        dir.path(),
        &[
            case_spec("a-junk", 2000, &["choose_visual"]),
            case_spec("b-refused", 2000, &["choose_visual"]),
            case_spec("c-long", 2000, &["choose_visual"]),
        ],
    );
    let script = r#"
ESC = "\x1b"
for i in instructions():
    if i["op"] == "step":
        if i["case"] == "a-junk":
            sys.stdout.write(ESC + "]0;pwned\x07" + ESC + "[2J not json\n")
            sys.stdout.flush()
            continue
        if i["case"] == "b-refused":
            answer({"id": i["id"], "ok": False,
                    "error": {"kind": "device", "message": ESC + "[31mred\x07\u202e"}})
            continue
        if i["case"] == "c-long":
            sys.stdout.write("{" + "a" * (2 * 1024 * 1024))
            sys.stdout.flush()
            time.sleep(3600)
    answer({"id": i["id"], "ok": True, "device": "dev" + ESC + "[5m"})
"#;
    let run = start(dir.path(), &suite, script).finish(Duration::from_secs(60));
    run.assert_three_reports();
    let junk = run.aborted("a-junk");
    assert!(
        junk.contains("not a protocol v1 answer") && junk.contains("\\u{1b}]0;pwned\\u{7}"),
        "{junk}"
    );
    let long = run.aborted("c-long");
    assert!(
        long.contains("a line longer than 1048576 bytes") && !long.contains("went away"),
        "{long}"
    );
    let json = std::fs::read_to_string(run.reports.join("report.json")).unwrap();
    assert!(json.contains("\\\\u{1b}[31mred"), "the refusal is quoted");
    assert!(!json.contains("\\u001b"), "a raw ESC in report.json");
    assert!(!json.contains("\\u0007"), "a raw BEL in report.json");
    assert_eq!(run.report()["device"], "dev\\u{1b}[5m");
    for (what, bytes) in [
        ("stdout", run.stdout.clone()),
        ("stderr", run.stderr.clone()),
        (
            "report.html",
            std::fs::read(run.reports.join("report.html")).unwrap(),
        ),
        (
            "junit.xml",
            std::fs::read(run.reports.join("junit.xml")).unwrap(),
        ),
    ] {
        let found = control_characters(&bytes);
        assert!(
            found.is_empty(),
            "{what} carries control bytes {found:02X?}"
        );
    }
    assert_no_driver_process_left(dir.path());
}

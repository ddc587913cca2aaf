//! The reference device as the harness runs it: a separate `myna-hil reference-device`
//! process speaking driver protocol v1 on stdin/stdout, reaching our card only through pcscd +
//! vpcd and the qualification system only over HTTP. Needs the cargo feature `pcsc` and the
//! Debian packages pcscd, vsmartcard-vpcd, opensc (readiness check), libpcsclite-dev, pkg-config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![cfg(feature = "pcsc")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use myna_hil::certify::protocol::{Action, DriverAnswer, Instruction, Op, Shown};
use myna_hil::oqs::registry::Registry;
use myna_hil::oqs::service::{CallKind, CallRecord, Oqs, OqsConfig};
use myna_hil::oqs::{IdentityMethod, Outcome};
use myna_hil::trace::{read_trace, PinRecording, TraceEvent, TraceRecorder};

const REGISTRY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/registry/clinic.yaml");
/// A day the standard card's auth certificate is valid on.
const CASE_DATE: &str = "2025-06-02";

/// The qualification system served over HTTP on an ephemeral loopback port, in process so the
/// test can read its call log.
struct HttpOqs {
    oqs: Arc<Oqs>,
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl HttpOqs {
    fn start() -> HttpOqs {
        let registry = Registry::load(Path::new(REGISTRY)).unwrap();
        let oqs = Arc::new(Oqs::new(registry, OqsConfig::default()).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = myna_hil::oqs::http::router(Arc::clone(&oqs), None);
        runtime.spawn(async move { axum::serve(listener, app).await });
        HttpOqs {
            oqs,
            url,
            _runtime: runtime,
        }
    }

    fn checks(&self) -> Vec<CallRecord> {
        self.oqs
            .calls()
            .into_iter()
            .filter(|call| call.kind == CallKind::Check)
            .collect()
    }
}

/// The device process and the protocol conversation with it.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Driver {
    fn start(fault: Option<&str>) -> Driver {
        let mut command = Command::new(env!("CARGO_BIN_EXE_myna-hil"));
        command.arg("reference-device");
        if let Some(fault) = fault {
            command.args(["--fault", fault]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Driver {
            child,
            stdin,
            stdout,
            next_id: 0,
        }
    }

    fn send(&mut self, op: Op) -> DriverAnswer {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Instruction { id, op }).unwrap();
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        let answer: DriverAnswer =
            serde_json::from_str(&answer).unwrap_or_else(|error| panic!("{answer:?}: {error}"));
        assert_eq!(answer.id, id, "{answer:?}");
        answer
    }

    fn hello(&mut self, oqs_url: &str) -> DriverAnswer {
        self.send(Op::Hello {
            protocol: "myna-hil-driver".into(),
            version: 1,
            reader: Some(VPCD_READER.into()),
            generic_reader: None,
            oqs_url: Some(oqs_url.into()),
            files_dir: None,
            facility_code: "1312345678".into(),
        })
    }

    fn step(&mut self, case: &str, step: u32, action: Action) -> Shown {
        let answer = self.send(Op::Step {
            case: case.into(),
            step,
            action,
            timeout_ms: 10_000,
        });
        assert!(answer.ok, "step {step}: {answer:?}");
        answer
            .shown
            .unwrap_or_else(|| panic!("step {step}: nothing shown"))
    }

    /// hello, then one PIN reception with the right PIN; every answer on the way.
    fn pin_reception(&mut self, oqs_url: &str, case: &str) -> Vec<Shown> {
        let hello = self.hello(oqs_url);
        assert!(hello.ok, "{hello:?}");
        assert!(hello.device.unwrap().contains("reference-device"));
        self.reception(case)
    }

    /// One PIN reception with the right PIN (after hello).
    fn reception(&mut self, case: &str) -> Vec<Shown> {
        let begun = self.send(Op::BeginCase {
            case: case.into(),
            date: CASE_DATE.into(),
        });
        assert!(begun.ok, "{begun:?}");
        let actions = [
            Action::CardPlaced,
            Action::ChoosePin,
            Action::EnterPin { pin: "1234".into() },
            Action::ConsentMode {
                mode: "comprehensive".into(),
            },
        ];
        let shown: Vec<Shown> = actions
            .into_iter()
            .enumerate()
            .map(|(index, action)| self.step(case, index as u32 + 1, action))
            .collect();
        let ended = self.send(Op::EndCase { case: case.into() });
        assert!(ended.ok, "{ended:?}");
        shown
    }

    fn shut_down(&mut self) {
        let stopped = self.send(Op::Shutdown);
        assert!(stopped.ok, "{stopped:?}");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the device exited with {status}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The transcript events of the served card, in order.
fn card_events(trace: &Path) -> Vec<TraceEvent> {
    read_trace(trace)
        .unwrap()
        .into_iter()
        .map(|line| line.event)
        .collect()
}

fn is_pin_verify(event: &TraceEvent) -> bool {
    matches!(event, TraceEvent::Apdu { command, .. } if command.starts_with("0020008004"))
}

fn powered_off_after_verify(events: &[TraceEvent]) -> bool {
    events
        .iter()
        .rposition(is_pin_verify)
        .is_some_and(|last| events[last..].contains(&TraceEvent::PowerOff))
}

fn recorded_options(trace: &Path) -> myna_hil::transport::serve::ServeOptions {
    let mut options = test_options();
    options.sink = Some(
        TraceRecorder::create(trace, "vpcd", None, PinRecording::Redacted)
            .unwrap()
            .into(),
    );
    options
}

#[test]
fn correct_device_checks_with_a_valid_proof_and_powers_the_card_off() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("card.jsonl");
    let server = serve_to_pcscd(load_card(&standard_card_path()), recorded_options(&trace));
    let oqs = HttpOqs::start();

    let mut driver = Driver::start(None);
    let shown = driver.pin_reception(&oqs.url, "pin-reception");
    let screens: Vec<Option<&str>> = shown.iter().map(|s| s.screen.as_deref()).collect();
    assert_eq!(
        screens,
        [
            Some("choose_method"),
            Some("pin_entry"),
            Some("consent_mode"),
            Some("result")
        ]
    );
    assert!(shown[0].pin_offered && shown[1].pin_offered);
    assert_eq!(shown[3].qualification.as_deref(), Some("valid"));
    assert!(shown[3].messages.is_empty(), "{:?}", shown[3]);

    // The check reached the qualification system with a proof it verified, for our date.
    let checks = oqs.checks();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0].identity, Some(IdentityMethod::Pin));
    assert_eq!(checks[0].outcome, Some(Outcome::Answered));
    assert_eq!(checks[0].date, Some(CASE_DATE.parse().unwrap()));
    assert_eq!(
        checks[0].facility_code.as_deref(),
        Some("1312345678"),
        "{checks:?}"
    );

    // After the last PIN VERIFY the card was powered off by the device, not merely reset
    // (read before the server stops, since stopping powers the card off too).
    wait_until(
        "a power-off after the last VERIFY",
        Duration::from_secs(5),
        || powered_off_after_verify(&card_events(&trace)),
    );

    // The harness may say card_placed before pcscd has noticed the card: the device waits.
    server.handle().remove();
    wait_until(
        "pcscd to see the slot empty",
        Duration::from_secs(10),
        || !opensc_sees_card(VPCD_READER),
    );
    let handle = server.handle().clone();
    let inserter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        handle.insert();
    });
    let shown = driver.reception("placed-late");
    inserter.join().unwrap();
    assert_eq!(
        shown[0].screen.as_deref(),
        Some("choose_method"),
        "{shown:?}"
    );
    assert_eq!(
        shown[3].qualification.as_deref(),
        Some("valid"),
        "{shown:?}"
    );
    driver.shut_down();
    assert_eq!(oqs.checks().len(), 2);
    server.stop().unwrap();
}

#[test]
fn no_proof_fault_sends_the_check_without_a_signature() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let server = serve_to_pcscd(load_card(&standard_card_path()), test_options());
    let oqs = HttpOqs::start();

    let mut driver = Driver::start(Some("no-proof"));
    let shown = driver.pin_reception(&oqs.url, "no-proof");
    driver.shut_down();
    assert_ne!(
        shown[3].qualification.as_deref(),
        Some("valid"),
        "{shown:?}"
    );

    // A PIN check without challenge and signature is refused before any rule applies.
    let checks = oqs.checks();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(
        checks[0].outcome,
        Some(Outcome::RequestInvalid),
        "{checks:?}"
    );
    server.stop().unwrap();
}

#[test]
fn leaves_pin_verified_fault_keeps_the_card_powered() {
    let Some(_pcscd) = Pcscd::ensure() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("card.jsonl");
    let server = serve_to_pcscd(load_card(&standard_card_path()), recorded_options(&trace));
    let oqs = HttpOqs::start();

    let mut driver = Driver::start(Some("leaves-pin-verified"));
    let shown = driver.pin_reception(&oqs.url, "leaves-pin-verified");
    assert_eq!(shown[3].qualification.as_deref(), Some("valid"));
    // The case is over and the device still holds the card powered, the PIN verified.
    std::thread::sleep(Duration::from_millis(500));
    let events = card_events(&trace);
    assert!(events.iter().any(is_pin_verify));
    assert!(!powered_off_after_verify(&events), "{events:?}");
    driver.shut_down();
    server.stop().unwrap();
}

#[test]
fn unknown_fault_is_bad_input() {
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["reference-device", "--fault", "sloppy"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown fault `sloppy`"), "{stderr}");
    assert!(output.stdout.is_empty());
}

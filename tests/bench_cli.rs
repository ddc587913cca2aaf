//! `myna-hil bench` as users run it: every workload in process for a bounded number of
//! requests, insurance-card and check over HTTP against a real `oqs serve` on 127.0.0.1:0, the
//! JSON it writes, its exit codes, and the reusable-challenge mode of the service. Counts and
//! answers are asserted, never timings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::{Command, Output};
use std::time::Duration;

use crate::support::oqs::OqsServer;
use myna_hil::bench::population::{check_date, known_persons, valid_until, Holder};
use myna_hil::oqs::generate::synthetic_registry;
use myna_hil::oqs::message::{CheckRequest, IdentityMethod};
use myna_hil::oqs::service::{Oqs, OqsConfig};
use myna_hil::oqs::Outcome;
use myna_hil::pki::TestPki;
use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .arg("bench")
        .args(args)
        .arg("--no-progress")
        .output()
        .unwrap()
}

/// Runs the bench with `--json` and returns (exit code, the JSON).
fn bench_json(args: &[&str]) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", json.to_str().unwrap()]);
    let output = bench(&all);
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "no JSON written; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (
        output.status.code().unwrap(),
        serde_json::from_str(&text).unwrap(),
    )
}

fn assert_keys(json: &Value) {
    for key in [
        "workload",
        "target",
        "mode",
        "offered_rate_per_s",
        "duration_s",
        "requests",
        "errors",
        "throughput_per_s",
        "latency_us",
        "reusable_challenges",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(
            json["latency_us"][key].is_u64(),
            "latency_us.{key} in {json}"
        );
    }
    let l = &json["latency_us"];
    let order = ["p50", "p90", "p99", "p999", "max"].map(|k| l[k].as_u64().unwrap());
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{l}");
}

#[test]
fn every_workload_runs_in_process_and_gets_the_expected_answers() {
    for (workload, requests, mix) in [
        ("lookup", "300", "valid=1,not_found=1,expired=1"),
        ("insurance-card", "300", "valid=1,not_found=1,invalid=1"),
        (
            "check",
            "50",
            "valid=1,not_found=1,expired=1,bad_signature=1,invalid=1",
        ),
        ("reception", "6", "valid=1"),
        ("apdu", "3000", "valid=1"),
    ] {
        let (code, json) = bench_json(&[
            "--workload",
            workload,
            "--requests",
            requests,
            "--terminals",
            "2",
            "--registry-size",
            "3000",
            "--pool",
            "16",
            "--mix",
            mix,
        ]);
        assert_eq!(code, 0, "{workload}: {json}");
        assert_keys(&json);
        assert_eq!(json["workload"], workload);
        assert_eq!(json["target"], "in-process");
        assert_eq!(json["mode"], "closed");
        assert_eq!(json["requests"].as_u64(), Some(requests.parse().unwrap()));
        assert_eq!(json["errors"], 0, "{workload}: {json}");
        assert_eq!(json["stopped_by"], "requests");
        let kinds: Vec<&str> = mix
            .split(',')
            .map(|k| k.split('=').next().unwrap())
            .collect();
        assert_eq!(json["mix"].as_object().unwrap().len(), kinds.len());
    }
}

#[test]
fn open_loop_sends_rate_times_duration_and_draws_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("latency.svg");
    let (code, json) = bench_json(&[
        "--workload",
        "lookup",
        "--rate",
        "400",
        "--duration",
        "1s",
        "--registry-size",
        "2000",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{json}");
    assert_keys(&json);
    assert_eq!(json["mode"], "open");
    assert_eq!(json["offered_rate_per_s"], 400.0);
    assert_eq!(json["requests"], 400);
    assert_eq!(json["stopped_by"], "duration");
    // The schedule spreads 400 requests over one second: the run cannot end much before it.
    assert!(json["duration_s"].as_f64().unwrap() >= 0.99, "{json}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..80]
    );
    assert!(svg.contains("percentile spectrum") && svg.contains("latency over time"));
}

#[test]
fn over_http_the_bench_asks_for_the_persons_oqs_serve_generated() {
    let server = OqsServer::synthetic(&[
        "--synthetic",
        "3000",
        "--seed",
        "5",
        "--reusable-challenges",
    ]);
    let health: Value = ureq::get(&format!("{}/v1/health", server.base))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(health["reusable_challenges"], true);
    assert_eq!(health["persons"], 3000);
    let common = [
        "--target",
        server.base.as_str(),
        "--registry-size",
        "3000",
        "--seed",
        "5",
        "--pool",
        "16",
    ];

    let mut args = vec![
        "--workload",
        "insurance-card",
        "--requests",
        "200",
        "--terminals",
        "4",
    ];
    args.extend(common);
    args.extend(["--mix", "valid=8,not_found=1,invalid=1"]);
    let (code, json) = bench_json(&args);
    assert_eq!(code, 0, "{json}");
    assert_keys(&json);
    assert_eq!(json["target"], server.base.as_str());
    assert_eq!(
        (json["requests"].as_u64(), json["errors"].as_u64()),
        (Some(200), Some(0))
    );

    let mut args = vec!["--workload", "check", "--rate", "100", "--duration", "1s"];
    args.extend(common);
    args.extend([
        "--connections",
        "4",
        "--mix",
        "valid=6,not_found=1,expired=1,bad_signature=1,invalid=1",
    ]);
    let (code, json) = bench_json(&args);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["mode"], "open");
    assert_eq!(json["reusable_challenges"], true);
    assert_eq!(
        (json["requests"].as_u64(), json["errors"].as_u64()),
        (Some(100), Some(0))
    );

    // The requests another load tool would send: PATH, KIND, JSON, in the mix's shares.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("requests.tsv");
    let mut args = vec![
        "--workload",
        "insurance-card",
        "--mix",
        "valid=8,not_found=1,invalid=1",
    ];
    args.extend(common);
    args.extend(["--dump-requests", dump.to_str().unwrap()]);
    let output = bench(&args);
    assert_eq!(output.status.code(), Some(0));
    let text = std::fs::read_to_string(&dump).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.splitn(3, '\t').collect()).collect();
    assert_eq!(lines.len(), 1_000);
    assert!(lines
        .iter()
        .all(|l| l.len() == 3 && l[0] == "/v1/insurance-card"));
    assert_eq!(lines.iter().filter(|l| l[1] == "valid").count(), 800);
    assert_eq!(lines.iter().filter(|l| l[1] == "invalid").count(), 100);
    let body: Value = serde_json::from_str(lines[0][2]).unwrap();
    assert_eq!(body["date"], "2025-04-01");

    // Another seed is another population: its persons are unknown to this server, and every
    // valid request comes back as an error, exit 1.
    let mut args = vec!["--workload", "insurance-card", "--requests", "20"];
    args.extend(common);
    let other_seed: Vec<&str> = args
        .iter()
        .map(|a| if *a == "5" { "6" } else { a })
        .collect();
    let (code, json) = bench_json(&other_seed);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["errors"], 20);
    assert_eq!(json["errors_by_kind"]["unexpected_answer:valid"], 20);
}

#[test]
fn without_reusable_challenges_each_check_signs_a_fresh_challenge() {
    let server = OqsServer::synthetic(&["--synthetic", "1000", "--seed", "3"]);
    let (code, json) = bench_json(&[
        "--workload",
        "check",
        "--target",
        &server.base,
        "--registry-size",
        "1000",
        "--seed",
        "3",
        "--requests",
        "8",
        "--pool",
        "4",
        "--mix",
        "valid=1,bad_signature=1",
    ]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["reusable_challenges"], false);
    assert_eq!(
        (json["requests"].as_u64(), json["errors"].as_u64()),
        (Some(8), Some(0))
    );
}

#[test]
fn a_challenge_is_single_use_unless_the_service_makes_it_reusable() {
    let person = known_persons(500, 2, 1).remove(0);
    let holder = Holder::issue(TestPki::load().unwrap(), &person, valid_until(), 0).unwrap();
    for reusable in [false, true] {
        let oqs = Oqs::new(
            synthetic_registry(500, 2).unwrap(),
            OqsConfig {
                reusable_challenges: reusable,
                ..OqsConfig::default()
            },
        )
        .unwrap();
        assert_eq!(oqs.reusable_challenges(), reusable);
        let challenge = oqs.issue_challenge();
        let request = CheckRequest {
            identity: IdentityMethod::Pin,
            challenge: Some(challenge.clone()),
            certificate: holder.certificate.clone(),
            signature: Some(holder.sign(&challenge)),
            facility_code: "1312345678".into(),
            date: check_date(),
            time: None,
            consent: Default::default(),
            arbitrary_file_identifier: None,
            character_code: Default::default(),
            smartphone: None,
        };
        assert_eq!(oqs.check(&request).outcome, Outcome::Answered);
        let again = oqs.check(&request).outcome;
        if reusable {
            assert_eq!(again, Outcome::Answered);
        } else {
            assert_eq!(again, Outcome::ChallengeUnknown);
        }
        // Reusable or not, a challenge the service never issued is refused, and the signature
        // is still verified.
        let mut forged = request.clone();
        forged.challenge = Some(vec![7; 32]);
        assert_eq!(oqs.check(&forged).outcome, Outcome::ChallengeUnknown);
        let mut wrong = request.clone();
        wrong.signature = Some(holder.sign(b"something else"));
        let expected = if reusable {
            Outcome::SignatureInvalid
        } else {
            Outcome::ChallengeUnknown
        };
        assert_eq!(oqs.check(&wrong).outcome, expected);
    }
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let server = OqsServer::synthetic(&["--synthetic", "100", "--seed", "1"]);
    let wrong_size = [
        "--workload",
        "insurance-card",
        "--target",
        server.base.as_str(),
        "--registry-size",
        "99",
    ];
    for (args, says) in [
        (&["--workload", "lookup", "--rate", "0"][..], "positive"),
        (
            &["--workload", "lookup", "--terminals", "0"][..],
            "--terminals",
        ),
        (
            &["--workload", "lookup", "--registry-size", "130000001"][..],
            "at most 130000000",
        ),
        (
            &["--workload", "lookup", "--mix", "valid=1,bogus=1"][..],
            "bogus",
        ),
        (
            &["--workload", "lookup", "--mix", "bad_signature=1"][..],
            "does not apply",
        ),
        (
            &["--workload", "lookup", "--duration", "0s"][..],
            "positive",
        ),
        (
            &["--workload", "lookup", "--requests", "0"][..],
            "at least one",
        ),
        (
            &["--workload", "check", "--target", "http://127.0.0.1:1"][..],
            "unreachable",
        ),
        (
            &["--workload", "lookup", "--target", "http://127.0.0.1:1"][..],
            "in process only",
        ),
        (
            &["--workload", "check", "--target", "https://x:1"][..],
            "https",
        ),
        (&wrong_size[..], "serves 100 persons"),
        (&["--workload", "nothing"][..], "invalid value"),
    ] {
        let output = bench(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// The server closes a kept-alive connection that sat idle longer than its header timeout; the
/// next request on it was never read, so the bench sends it again on a new connection instead
/// of counting it lost (the soak's 256 `connection_closed` / `io` errors at the 300 s lifetime).
#[test]
fn a_connection_the_server_closed_while_idle_is_reopened_and_nothing_is_lost() {
    let server = OqsServer::synthetic(&[
        "--synthetic",
        "1000",
        "--seed",
        "1",
        "--header-timeout-ms",
        "30",
    ]);
    let (code, json) = bench_json(&[
        "--workload",
        "insurance-card",
        "--target",
        server.base.as_str(),
        "--registry-size",
        "1000",
        "--seed",
        "1",
        "--rate",
        "20",
        "--connections",
        "1",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        (json["requests"].as_u64(), json["errors"].as_u64()),
        (Some(20), Some(0)),
        "{json}"
    );
}

/// How a fake target answers everything but `GET /v1/health`.
#[derive(Clone, Copy)]
enum FakeAnswer {
    /// Reads the request and never answers.
    Never,
    /// Announces a 1 GB body and sends zeros.
    Announced,
    /// A chunked body of zeros, without end (no length announced).
    Chunked,
    /// Even `/v1/health` announces a 1 GB body.
    HugeHealth,
}

/// A target that answers `/v1/health` as `oqs serve --synthetic 1000` and everything else as
/// `answer` says. Returns its base URL.
fn fake_target(answer: FakeAnswer) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header.trim().is_empty() {
                            break;
                        }
                        let lower = header.to_ascii_lowercase();
                        if let Some(value) = lower.strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if line.starts_with("GET /v1/health")
                        && matches!(answer, FakeAnswer::HugeHealth)
                    {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n{");
                        return;
                    }
                    if line.starts_with("GET /v1/health") {
                        let json = br#"{"status":"ok","persons":1000}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            json.len()
                        );
                        if stream.write_all(head.as_bytes()).is_err()
                            || stream.write_all(json).is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    let zeros = vec![0u8; 64 * 1024];
                    match answer {
                        FakeAnswer::Never | FakeAnswer::HugeHealth => {
                            std::thread::sleep(Duration::from_secs(3_600))
                        }
                        FakeAnswer::Announced => {
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n",
                            );
                            for _ in 0..128 {
                                if stream.write_all(&zeros).is_err() {
                                    return;
                                }
                            }
                        }
                        FakeAnswer::Chunked => {
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                            );
                            for _ in 0..128 {
                                let chunk = [b"10000\r\n".as_slice(), &zeros, b"\r\n"].concat();
                                if stream.write_all(&chunk).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    return;
                }
            });
        }
    });
    base
}

/// Runs the bench with `--json` and returns (exit code, the JSON, its peak RSS in KiB read
/// from /proc while it ran).
fn bench_json_with_peak(args: &[&str]) -> (i32, Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .arg("bench")
        .args(args)
        .args(["--no-progress", "--json", json.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&json).unwrap();
    (
        status.code().unwrap(),
        serde_json::from_str(&text).unwrap(),
        peak,
    )
}

/// A target announcing (or streaming) a huge body once took the bench to 6.9 GB: answers are
/// read up to 64 KiB and counted as `answer_too_large` errors, and memory stays small.
#[test]
fn a_target_sending_a_huge_body_is_an_error_and_memory_stays_bounded() {
    for answer in [FakeAnswer::Announced, FakeAnswer::Chunked] {
        let base = fake_target(answer);
        let (code, json, peak_kib) = bench_json_with_peak(&[
            "--workload",
            "insurance-card",
            "--target",
            &base,
            "--registry-size",
            "1000",
            "--pool",
            "16",
            "--mix",
            "valid=1",
            "--terminals",
            "4",
            "--requests",
            "40",
        ]);
        assert_ne!(code, 0, "{json}");
        assert_eq!(json["requests"], 0, "{json}");
        assert_eq!(
            json["errors_by_kind"]["answer_too_large"].as_u64(),
            Some(40),
            "{json}"
        );
        eprintln!("bench peak RSS: {peak_kib} KiB");
        // 40 answers of 8 MB each were offered; the bench holds at most 64 KiB of each.
        assert!(peak_kib < 150 * 1024, "peak RSS {peak_kib} KiB");
    }
}

/// A closed loop by requests against a target that never answers ends at the hard cap (once
/// nothing has been answered for 20 s), with every request counted, instead of running
/// 10 s × requests ÷ terminals.
#[test]
fn a_closed_loop_against_a_silent_target_ends_at_the_hard_cap() {
    let base = fake_target(FakeAnswer::Never);
    let (code, json) = bench_json(&[
        "--workload",
        "insurance-card",
        "--target",
        &base,
        "--registry-size",
        "1000",
        "--pool",
        "16",
        "--mix",
        "valid=1",
        "--terminals",
        "2",
        "--requests",
        "1000000",
    ]);
    assert_ne!(code, 0, "{json}");
    assert_eq!(json["stopped_by"], "hard_cap", "{json}");
    let kinds = &json["errors_by_kind"];
    let timeouts = kinds["timeout"].as_u64().unwrap();
    assert_eq!(timeouts, 4, "{json}");
    assert_eq!(
        kinds["not_sent"].as_u64(),
        Some(1_000_000 - timeouts),
        "{json}"
    );
}

/// The peak resident set (VmHWM) of process `pid` in KiB, while it runs.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A target whose `/v1/health` announces a 1 GB body is refused before the run, saying so.
#[test]
fn a_target_announcing_a_huge_health_answer_is_refused() {
    let base = fake_target(FakeAnswer::HugeHealth);
    let output = bench(&[
        "--workload",
        "insurance-card",
        "--target",
        &base,
        "--registry-size",
        "1000",
        "--requests",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("GET /v1/health answered more than 65536 bytes"),
        "{stderr}"
    );
}

//! The HTTP API of `myna-hil oqs serve` under hostile clients, on real loopback sockets: slow
//! or idle connections are closed within their timeouts, connections beyond the limit wait,
//! `GET /v1/calls` answers bounded pages, and what cannot make a valid answer is refused. After
//! each attack the server still answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::oqs::OqsServer as Server;

trait Client {
    fn connect(&self) -> TcpStream;
    fn assert_alive(&self);
    fn post(&self, path: &str, body: &Value) -> (u16, Value);
}

impl Client for Server {
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        stream
    }

    fn assert_alive(&self) {
        let health: Value = ureq::get(&self.url("/v1/health"))
            .timeout(Duration::from_secs(10))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        assert_eq!(health["status"], "ok");
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        match ureq::post(&self.url(path)).send_json(body.clone()) {
            Ok(response) => (response.status(), response.into_json().unwrap()),
            Err(ureq::Error::Status(code, response)) => (code, response.into_json().unwrap()),
            Err(other) => panic!("transport error: {other}"),
        }
    }
}

/// What the server sent until it closed the connection, or `None` if it is still open at
/// `deadline`. `feed` is called every 100 ms of silence and may write more (a trickle).
fn read_until_closed(
    stream: &mut TcpStream,
    deadline: Duration,
    mut feed: impl FnMut(&mut TcpStream),
) -> Option<Vec<u8>> {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                feed(stream)
            }
            Err(_) => return Some(received),
        }
    }
    None
}

#[test]
fn a_client_trickling_its_headers_is_cut_off_at_the_header_timeout() {
    let server = Server::http_only(&["--header-timeout-ms", "500"]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let closed = read_until_closed(&mut stream, Duration::from_secs(5), |stream| {
        let _ = stream.write_all(b"X-Slow: y\r\n");
    });
    assert!(closed.is_some(), "still open after 5 s of trickled headers");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    server.assert_alive();
}

#[test]
fn silent_and_idle_kept_alive_connections_are_closed() {
    let server = Server::http_only(&["--header-timeout-ms", "500"]);
    let mut silent = server.connect();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(3), |_| {}).is_some(),
        "a connection that never sent anything is still open"
    );
    let mut idle = server.connect();
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let received = read_until_closed(&mut idle, Duration::from_secs(3), |_| {})
        .expect("a kept-alive connection idle for 3 s is still open");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    server.assert_alive();
}

#[test]
fn a_body_sent_slowly_gets_408_within_the_request_timeout() {
    let server = Server::http_only(&["--request-timeout-ms", "500"]);
    let mut stream = server.connect();
    stream
        .write_all(
            b"POST /v1/insurance-card HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .unwrap();
    let started = Instant::now();
    let received = read_until_closed(&mut stream, Duration::from_secs(5), |stream| {
        let _ = stream.write_all(b" ");
    })
    .expect("a slow body kept the connection open for 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    server.assert_alive();
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let server = Server::http_only(&["--max-connections", "2", "--header-timeout-ms", "20000"]);
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(b"GET /v1/health HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = server.connect();
    third
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 256];
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(500) {
        match third.read(&mut buffer) {
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("the third connection was served beyond the limit: {other:?}"),
        }
    }
    held.pop();
    let received = read_until_closed(&mut third, Duration::from_secs(5), |_| {})
        .expect("the third connection was not served once a slot was free");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

fn get(server: &Server, path: &str) -> (u16, Option<String>, Value) {
    match ureq::get(&server.url(path)).call() {
        Ok(response) => (
            response.status(),
            response.header("link").map(str::to_owned),
            response.into_json().unwrap(),
        ),
        Err(ureq::Error::Status(code, response)) => (code, None, response.into_json().unwrap()),
        Err(other) => panic!("transport error: {other}"),
    }
}

#[test]
fn calls_are_served_in_bounded_pages() {
    let server = Server::http_only(&[]);
    for _ in 0..5 {
        assert_eq!(server.post("/v1/challenge", &json!({})).0, 200);
    }
    let (status, link, all) = get(&server, "/v1/calls");
    assert_eq!((status, link), (200, None));
    assert_eq!(all.as_array().unwrap().len(), 5);

    let mut path = "/v1/calls?limit=2".to_owned();
    let mut pages = Vec::new();
    for _ in 0..10 {
        let (status, link, page) = get(&server, &path);
        assert_eq!(status, 200);
        pages.push(page.as_array().unwrap().len());
        match link {
            Some(link) => {
                path = link
                    .strip_prefix('<')
                    .and_then(|rest| rest.split_once('>'))
                    .unwrap()
                    .0
                    .to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, [2, 2, 1]);
    assert_eq!(path, "/v1/calls?after=4&limit=2");

    for bad in ["limit=0", "limit=10001", "after=-1", "limit=x", "page=2"] {
        let (status, _, body) = get(&server, &format!("/v1/calls?{bad}"));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }
    let (status, _, body) = get(&server, "/v1/calls?after=99");
    assert_eq!((status, body), (200, json!([])));
}

fn lookup() -> Value {
    json!({
        "insurer_number": "01130012",
        "symbol": "12345678",
        "number": "1234",
        "branch": "02",
        "birth_date": "2018-04-02",
        "facility_code": "1312345678",
        "date": "2025-03-31",
    })
}

#[test]
fn dates_without_a_four_digit_year_are_refused_and_time_follows_the_openapi_document() {
    let server = Server::http_only(&[]);
    for (field, value) in [
        ("date", "+262142-12-31"),
        ("birth_date", "+262142-12-31"),
        ("date", "-0001-01-01"),
        ("date", "10000-01-01"),
    ] {
        let mut request = lookup();
        request[field] = json!(value);
        let (status, body) = server.post("/v1/insurance-card", &request);
        assert_eq!(status, 422, "{field} {value}: {body}");
    }
    // `time`: HH:MM:SS or null (00:00:00); an empty string and fractions are refused.
    for (time, expected) in [
        (json!(null), Some("20250331000000")),
        (json!("09:30:15"), Some("20250331093015")),
        (json!(""), None),
        (json!("09:30:15.5"), None),
    ] {
        let mut request = lookup();
        request["time"] = time.clone();
        let (status, body) = server.post("/v1/insurance-card", &request);
        match expected {
            Some(execution_time) => {
                assert_eq!(status, 200, "{time}: {body}");
                assert_eq!(
                    body["MessageHeader"]["ProcessExecutionTime"],
                    execution_time
                );
            }
            None => assert_eq!(status, 422, "{time}: {body}"),
        }
    }
    let openapi = myna_hil::oqs::http::OPENAPI_YAML;
    assert!(openapi.contains(
        r#"time: { type: [string, "null"], pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$""#
    ));
    server.assert_alive();
}

#[test]
fn an_identifier_xml_cannot_carry_is_refused_over_http() {
    let server = Server::http_only(&[]);
    let mut request = lookup();
    request["arbitrary_file_identifier"] = json!("A\u{1}B");
    let (status, body) = server.post("/v1/insurance-card", &request);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_fields")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("U+0001"),
        "{body}"
    );
    request["arbitrary_file_identifier"] = json!("受付1");
    assert_eq!(server.post("/v1/insurance-card", &request).0, 200);
}

#[test]
fn a_busy_connection_is_closed_at_its_lifetime_between_answers_not_mid_answer() {
    let server = Server::http_only(&[
        "--connection-timeout-ms",
        "800",
        "--header-timeout-ms",
        "5000",
    ]);
    let mut stream = server.connect();
    let started = Instant::now();
    let mut answered = 0;
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(5) && !closed {
        if stream
            .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            closed = true;
            break;
        }
        let mut received = Vec::new();
        let mut buffer = [0u8; 1024];
        let asked = Instant::now();
        // One whole answer (its JSON body ends with "status":"ok"}), or the close.
        while !received.ends_with(br#""status":"ok"}"#) && asked.elapsed() < Duration::from_secs(2)
        {
            match stream.read(&mut buffer) {
                Ok(0) => closed = true,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => closed = true,
            }
            if closed {
                break;
            }
        }
        if closed {
            assert!(received.is_empty(), "an answer was cut off: {received:?}");
        } else {
            assert!(received.starts_with(b"HTTP/1.1 200"));
            answered += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(closed, "the connection outlived its 800 ms lifetime by 4 s");
    assert!(answered >= 2, "{answered}");
    server.assert_alive();
}

/// Posts `body` as it is, with `content_type`: (status, answer).
fn post_text(server: &Server, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    match ureq::post(&server.url(path))
        .set("Content-Type", content_type)
        .send_string(body)
    {
        Ok(response) => (response.status(), response.into_json().unwrap()),
        Err(ureq::Error::Status(code, response)) => (code, response.into_json().unwrap()),
        Err(other) => panic!("transport error: {other}"),
    }
}

#[test]
fn bodies_are_read_the_same_whatever_way_they_are_sent() {
    let server = Server::http_only(&[]);
    let plain = lookup().to_string();
    let (status, answer) = post_text(&server, "/v1/insurance-card", "application/json", &plain);
    assert_eq!(status, 200, "{answer}");
    let search = &answer["MessageBody"]["QualificationConfirmSearchInfo"];
    assert_eq!(search["InsurerNumber"], "01130012");
    assert_eq!(answer["MessageBody"]["QualificationValidity"], "1");

    // A content type with a parameter is JSON too, and answered alike.
    let (status, with_charset) = post_text(
        &server,
        "/v1/insurance-card",
        "application/json; charset=utf-8",
        &plain,
    );
    assert_eq!((status, &with_charset), (200, &answer));

    // A repeated field: the last value counts, as it always has.
    let repeated = plain.replacen('{', r#"{"insurer_number":"99999999","#, 1);
    let (status, again) = post_text(&server, "/v1/insurance-card", "application/json", &repeated);
    assert_eq!((status, &again), (200, &answer));

    for (content_type, body, expected) in [
        ("text/plain", plain.as_str(), (415, "wrong_content_type")),
        (
            "application/json",
            "{\"insurer_number\":",
            (400, "malformed_json"),
        ),
        ("application/json", "[1]", (422, "invalid_fields")),
        (
            "application/json",
            r#"{"number":5}"#,
            (422, "invalid_fields"),
        ),
    ] {
        let (status, refusal) = post_text(&server, "/v1/insurance-card", content_type, body);
        assert_eq!(
            (status, refusal["error"].as_str()),
            (expected.0, Some(expected.1)),
            "{content_type} {body}: {refusal}"
        );
    }
    let mut wrong_type = lookup();
    wrong_type["number"] = json!(5);
    let (status, refusal) = post_text(
        &server,
        "/v1/insurance-card",
        "application/json",
        &wrong_type.to_string(),
    );
    assert_eq!(status, 422);
    let message = refusal["message"].as_str().unwrap();
    assert!(
        message.starts_with("the request does not match its schema: number:"),
        "{message}"
    );
    let (status, refusal) = post_text(
        &server,
        "/v1/check",
        "application/json",
        r#"{"certificate":"zz"}"#,
    );
    assert_eq!(
        (status, refusal["error"].as_str()),
        (422, Some("invalid_fields")),
        "{refusal}"
    );
    server.assert_alive();
}

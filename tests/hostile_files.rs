//! The XML folder interface under hostile file names and writers, through a real
//! `myna-hil oqs serve` process: nothing wedges the folder, no request is lost or overwritten,
//! and a half-written request is never taken.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::oqs::{OqsServer as Server, LOOKUP};

fn names_in(folder: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().as_bytes().to_vec())
                .filter(|name| !name.starts_with(b"."))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits (at most 30 s) until `folder` holds `count` visible files.
fn wait_for_count(folder: &Path, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let names = names_in(folder);
        if names.len() >= count {
            return names;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {names:?}, expected {count} files",
            folder.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn request_name(middle: &[u8]) -> Vec<u8> {
    [b"OQSsiquc01req_".as_slice(), middle, b".xml"].concat()
}

fn response_name(request: &[u8]) -> Vec<u8> {
    [b"OQSsiquc01res_".as_slice(), &request[14..]].concat()
}

#[test]
fn a_251_byte_name_is_answered_and_does_not_hold_up_the_requests_after_it() {
    let server = Server::with_files(&[]);
    let long = request_name(&[b'a'; 233]);
    assert_eq!(long.len(), 251);
    let after = request_name(b"b");
    server.drop_request(&long, LOOKUP.as_bytes());
    server.drop_request(&after, LOOKUP.as_bytes());
    let answered = wait_for_count(&server.folder("res"), 2);
    assert_eq!(answered, [response_name(&long), response_name(&after)]);
    assert_eq!(names_in(&server.folder("req/done")), [long, after]);
    assert!(names_in(&server.folder("req"))
        .iter()
        .all(|n| n == b"done" || n == b"error"));
}

#[test]
fn a_rejected_255_byte_name_still_gets_its_error_file_naming_it() {
    let server = Server::with_files(&[]);
    let long = request_name(&[b'z'; 237]);
    assert_eq!(long.len(), 255);
    server.drop_request(&long, b"<not xml");
    let error = wait_for_count(&server.folder("req/error"), 2);
    assert!(error.contains(&long), "{error:?}");
    let error_file = error.iter().find(|n| n.ends_with(b".error.txt")).unwrap();
    assert!(error_file.len() <= 255);
    let text = std::fs::read_to_string(
        server
            .folder("req/error")
            .join(OsString::from_vec(error_file.clone())),
    )
    .unwrap();
    assert!(
        text.starts_with(&String::from_utf8(long).unwrap()),
        "{text}"
    );
    assert!(text.contains("not well-formed"), "{text}");
}

#[test]
fn deleting_req_done_while_serving_recreates_it_and_keeps_answering() {
    let server = Server::with_files(&[]);
    let first = request_name(b"1");
    server.drop_request(&first, LOOKUP.as_bytes());
    wait_for_count(&server.folder("req/done"), 1);
    std::fs::remove_dir_all(server.folder("req/done")).unwrap();
    std::fs::remove_dir_all(server.folder("req/error")).unwrap();
    let second = request_name(b"2");
    server.drop_request(&second, LOOKUP.as_bytes());
    server.drop_request(b"OQSsiquc01req_3.txt", LOOKUP.as_bytes());
    assert_eq!(wait_for_count(&server.folder("req/done"), 1), [second]);
    assert_eq!(
        wait_for_count(&server.folder("req/error"), 2),
        [
            b"OQSsiquc01req_3.txt".to_vec(),
            b"OQSsiquc01req_3.txt.error.txt".to_vec()
        ]
    );
}

#[test]
fn names_differing_only_in_invalid_utf8_stay_two_requests_and_two_answers() {
    let server = Server::with_files(&[]);
    let first = request_name(b"\xFF");
    let second = request_name(b"\xFE");
    server.drop_request(&first, LOOKUP.as_bytes());
    server.drop_request(&second, LOOKUP.as_bytes());
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(wait_for_count(&server.folder("req/done"), 2), expected);
    let mut responses = vec![response_name(&first), response_name(&second)];
    responses.sort();
    assert_eq!(wait_for_count(&server.folder("res"), 2), responses);
}

#[test]
fn a_reused_name_never_replaces_the_earlier_request_or_error_file() {
    let server = Server::with_files(&[]);
    let name = request_name(b"same");
    let first = LOOKUP.replace("20250406", "20250407");
    server.drop_request(&name, first.as_bytes());
    wait_for_count(&server.folder("req/done"), 1);
    server.drop_request(&name, LOOKUP.as_bytes());
    let done = wait_for_count(&server.folder("req/done"), 2);
    // Sorted by bytes: the numbered one comes first.
    assert_eq!(done, [request_name(b"same.1"), request_name(b"same")]);
    let read = |folder: &str, name: &[u8]| {
        std::fs::read_to_string(
            server
                .folder(folder)
                .join(OsString::from_vec(name.to_vec())),
        )
        .unwrap()
    };
    assert_eq!(read("req/done", &done[1]), first);
    assert_eq!(read("req/done", &done[0]), LOOKUP);

    let bad = request_name(b"bad");
    server.drop_request(&bad, b"first <");
    wait_for_count(&server.folder("req/error"), 2);
    server.drop_request(&bad, b"second <");
    let error = wait_for_count(&server.folder("req/error"), 4);
    assert_eq!(
        error,
        [
            b"OQSsiquc01req_bad.1.xml".to_vec(),
            b"OQSsiquc01req_bad.1.xml.error.txt".to_vec(),
            b"OQSsiquc01req_bad.xml".to_vec(),
            b"OQSsiquc01req_bad.xml.error.txt".to_vec(),
        ]
    );
    assert_eq!(read("req/error", &error[2]), "first <");
    assert_eq!(read("req/error", &error[0]), "second <");
    assert!(read("req/error", &error[1]).starts_with("OQSsiquc01req_bad.xml: "));
}

#[test]
fn every_rejected_file_gets_an_error_file_whatever_its_name() {
    let server = Server::with_files(&[]);
    let names: [&[u8]; 3] = [
        b"OQSmuquc01req_bulk.xml",
        b"OQS\xFF\xFEnot-a-request",
        b"OQS~yyy",
    ];
    let long_odd = [b"OQS\xFF".as_slice(), &[b'q'; 251]].concat();
    assert_eq!(long_odd.len(), 255);
    for name in names.iter().copied().chain([long_odd.as_slice()]) {
        server.drop_request(name, b"whatever");
    }
    let error = wait_for_count(&server.folder("req/error"), 8);
    assert_eq!(error.len(), 8, "{error:?}");
    let error_files = error.iter().filter(|n| n.ends_with(b".error.txt")).count();
    assert_eq!(error_files, 4, "{error:?}");
    for name in names.iter().copied().chain([long_odd.as_slice()]) {
        assert!(error.iter().any(|n| n == name), "{name:?} not kept");
    }
}

#[test]
fn a_writer_pausing_mid_file_has_its_request_taken_whole() {
    let server = Server::with_files(&["--settle-ms", "1500"]);
    let name = request_name(b"slow");
    let path = server.folder("req").join(OsString::from_vec(name.clone()));
    let mut file = std::fs::File::create(&path).unwrap();
    let (head, rest) = LOOKUP.split_at(LOOKUP.len() / 2);
    file.write_all(head.as_bytes()).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    file.write_all(rest.as_bytes()).unwrap();
    drop(file);
    assert_eq!(
        wait_for_count(&server.folder("req/done"), 1),
        std::slice::from_ref(&name)
    );
    assert!(names_in(&server.folder("req/error")).is_empty());
    let kept =
        std::fs::read_to_string(server.folder("req/done").join(OsString::from_vec(name))).unwrap();
    assert_eq!(kept, LOOKUP);
}

#[test]
fn a_request_with_a_control_character_gets_an_error_file_and_no_ill_formed_answer() {
    let server = Server::with_files(&[]);
    let request = LOOKUP.replace(">ID<", ">&#x1;<");
    let name = request_name(b"control");
    server.drop_request(&name, request.as_bytes());
    let error = wait_for_count(&server.folder("req/error"), 2);
    let text = std::fs::read_to_string(
        server
            .folder("req/error")
            .join("OQSsiquc01req_control.xml.error.txt"),
    )
    .unwrap();
    assert!(text.contains("ArbitraryFileIdentifier"), "{text}");
    assert!(text.contains("U+0001"), "{text}");
    assert_eq!(error[0], name);
    // No answer: only the request and its `.err`, as the terminal reports failures (§1.6).
    assert_eq!(
        wait_for_count(&server.folder("res"), 2),
        [
            b"OQSsiquc01req_control.err".to_vec(),
            b"OQSsiquc01req_control.xml".to_vec()
        ]
    );
}

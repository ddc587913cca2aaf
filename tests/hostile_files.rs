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

/// The error file written for request `name` (waits for it).
fn error_text(server: &Server, name: &[u8]) -> String {
    let error_name = [name, b".error.txt"].concat();
    let path = server
        .folder("req/error")
        .join(OsString::from_vec(error_name));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    std::fs::read_to_string(path).unwrap()
}

/// The pid of the `oqs serve` whose file interface is `folder` (its command line names it).
fn server_pid(folder: &Path) -> u32 {
    let wanted = folder.as_os_str().as_bytes();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(command) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if command.split(|b| *b == 0).any(|arg| arg == wanted)
            && command.windows(5).any(|w| w == b"serve")
        {
            return pid;
        }
    }
    panic!("no oqs serve for {}", folder.display());
}

/// The peak resident set (VmHWM) of process `pid` in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `受付-😀` and `受付-😉` were both answered as `受付-〓` under `--charset shift_jis`: a request
/// whose text Shift_JIS cannot carry is refused naming the element, and nothing is answered.
#[test]
fn under_shift_jis_a_request_shift_jis_cannot_carry_is_refused_naming_the_element() {
    let server = Server::with_files(&["--charset", "shift_jis"]);
    for (middle, identifier) in [(&b"smile"[..], "受付-😀"), (b"wink", "受付-😉")] {
        let request = LOOKUP.replace(">ID<", &format!(">{identifier}<"));
        server.drop_request(&request_name(middle), request.as_bytes());
    }
    for (middle, code) in [(&b"smile"[..], "U+1F600"), (b"wink", "U+1F609")] {
        let text = error_text(&server, &request_name(middle));
        assert!(text.contains("<ArbitraryFileIdentifier>"), "{text}");
        assert!(text.contains(code) && text.contains("Shift_JIS"), "{text}");
    }
    let answers = names_in(&server.folder("res"));
    assert!(
        answers
            .iter()
            .all(|name| !name.starts_with(b"OQSsiquc01res_")),
        "{answers:?}"
    );
    // A request Shift_JIS can carry is still answered, in Shift_JIS, exactly.
    let plain = request_name(b"plain");
    server.drop_request(&plain, LOOKUP.replace(">ID<", ">受付-1<").as_bytes());
    let answer = server
        .folder("res")
        .join(OsString::from_vec(response_name(&plain)));
    wait_for_count(&server.folder("req/done"), 1);
    let bytes = std::fs::read(answer).unwrap();
    let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!errors);
    assert!(text.contains(">受付-1<") && !text.contains('〓'), "{text}");
}

/// A request declaring UTF-8 with an invalid byte was read as CP932 and answered garbled.
#[test]
fn a_request_declaring_utf8_with_an_invalid_byte_is_refused_at_that_byte() {
    let server = Server::with_files(&[]);
    let mut request = LOOKUP.as_bytes().to_vec();
    let at = LOOKUP.find(">ID<").unwrap() + 1;
    // 受 in Shift_JIS: two bytes that are not UTF-8.
    request.splice(at..at + 2, [0x8E, 0xF3]);
    let name = request_name(b"badutf8");
    server.drop_request(&name, &request);
    let text = error_text(&server, &name);
    assert!(text.contains(&format!("byte {at} (0x8E)")), "{text}");
    assert!(text.contains("UTF-8"), "{text}");
    assert!(names_in(&server.folder("req/done")).is_empty());
}

/// A 40 MB file of empty elements took the server to 1.8 GB. Files over 8 MiB are refused
/// unread, and an 8 MiB file of empty elements is refused while it is read, at the 10,000-person
/// limit, so the peak memory stays a small multiple of the cap.
#[test]
fn an_oversized_or_element_flooded_request_is_refused_and_memory_stays_bounded() {
    let server = Server::with_files(&[]);
    let cap = 8 * 1024 * 1024;
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XmlMsg><MessageBody>";
    let tail = "</MessageBody></XmlMsg>";
    let fill = |size: usize| {
        let count = (size - head.len() - tail.len()) / 4;
        let mut text = String::with_capacity(size);
        text.push_str(head);
        for _ in 0..count {
            text.push_str("<a/>");
        }
        text.push_str(&" ".repeat(size - head.len() - tail.len() - count * 4));
        text.push_str(tail);
        text
    };
    let over = fill(cap + 1);
    assert_eq!(over.len(), cap + 1);
    let over_name = b"OQSmuquc01req_over.xml".to_vec();
    server.drop_request(&over_name, over.as_bytes());
    let text = error_text(&server, &over_name);
    assert!(
        text.contains("8388609 bytes") && text.contains("at most 8388608 bytes"),
        "{text}"
    );
    let flood_name = b"OQSmuquc01req_flood.xml".to_vec();
    server.drop_request(&flood_name, fill(cap).as_bytes());
    let text = error_text(&server, &flood_name);
    assert!(text.contains("more than 10000 persons"), "{text}");
    let single_name = request_name(b"flood");
    let single = format!(
        "{head}<QualificationConfirmSearchInfo>{}</QualificationConfirmSearchInfo>{tail}",
        "<a/>".repeat(100_000)
    );
    server.drop_request(&single_name, single.as_bytes());
    let text = error_text(&server, &single_name);
    assert!(text.contains("more than 32 elements"), "{text}");
    let peak = peak_rss_kib(server_pid(server.folder("req").parent().unwrap()));
    eprintln!("oqs serve peak RSS after 3 flooded requests: {peak} KiB");
    // Two 8 MiB files were offered; their trees were cut off at the limits.
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}

/// A 20 MB element name made 20 MB error files: names and values are quoted as excerpts.
#[test]
fn a_huge_element_name_or_value_gives_a_short_error_file() {
    let server = Server::with_files(&[]);
    let long = "N".repeat(1024 * 1024);
    let by_name = request_name(b"longname");
    server.drop_request(
        &by_name,
        LOOKUP
            .replace(
                "<ArbitraryFileIdentifier>ID</ArbitraryFileIdentifier>",
                &format!("<{long}/>"),
            )
            .as_bytes(),
    );
    let by_value = request_name(b"longvalue");
    server.drop_request(
        &by_value,
        LOOKUP
            .replace(">06139999<", &format!(">{long}<"))
            .as_bytes(),
    );
    let by_end_tag = request_name(b"longend");
    server.drop_request(
        &by_end_tag,
        LOOKUP
            .replace("</MessageBody>", &format!("</{long}>"))
            .as_bytes(),
    );
    for (name, says) in [
        (by_name, "an element name of 1048576 bytes"),
        (by_value, "(1048576 bytes)"),
        (by_end_tag, "bytes)"),
    ] {
        let text = error_text(&server, &name);
        assert!(text.len() < 2048, "{} bytes: {}", text.len(), &text[..200]);
        assert!(text.contains(says), "{text}");
        let err = std::fs::read(server.folder("res").join(OsString::from_vec(
            [&name[..name.len() - 4], b".err"].concat(),
        )))
        .unwrap();
        assert!(err.len() < 2048, "{} bytes", err.len());
    }
}

fn upload_of(identifier: &str) -> String {
    LOOKUP.replace(">ID<", &format!(">{identifier}<"))
}

fn download_of(number: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<XmlMsg><MessageHeader><MedicalInstitutionCode>1312345678</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>{number}</ReceptionNumber></MessageBody></XmlMsg>"
    )
}

/// The `ReceptionNumber` of an answer in `res`, once written.
fn reception_number(server: &Server, answer: &str) -> String {
    let path = server.folder("res").join(answer);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.is_file() {
        assert!(Instant::now() < deadline, "no {answer}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(path).unwrap();
    text.split("<ReceptionNumber>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned()
}

/// The download answer of `number` (dropped as request `middle`).
fn download(server: &Server, middle: &str, number: &str) -> String {
    let name = format!("OQSmuquc02req_{middle}.xml");
    server.drop_request(name.as_bytes(), download_of(number).as_bytes());
    let answer = server.folder("res").join(name.replace("req_", "res_"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answer.is_file() {
        assert!(Instant::now() < deadline, "no answer to {name}");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(answer).unwrap()
}

/// 40 bulk receptions of 10,000 persons were kept forever (843 MB): only the latest 8 are kept,
/// and an older number is answered as unknown.
#[test]
fn only_the_latest_bulk_receptions_are_kept() {
    let server = Server::with_files(&[]);
    for index in 1..=9 {
        let name = format!("OQSmuquc01req_up{index}.xml");
        server.drop_request(name.as_bytes(), upload_of(&format!("B{index}")).as_bytes());
    }
    let first = reception_number(&server, "OQSmuquc01res_up1.xml");
    let last = reception_number(&server, "OQSmuquc01res_up9.xml");
    let forgotten = download(&server, "first", &first);
    assert!(
        forgotten.contains("<SegmentOfResult>9</SegmentOfResult>")
            && forgotten.contains("only the latest 8 receptions are kept"),
        "{forgotten}"
    );
    let kept = download(&server, "last", &last);
    assert!(
        kept.contains("<NumberOfProcessingResult>1</NumberOfProcessingResult>"),
        "{kept}"
    );
}

/// A receipt that could not be written (a directory in its place) made the upload be processed
/// again at every poll, each time a new reception: it is processed once, only the write is
/// retried, and it becomes a reception only once its receipt is written.
#[test]
fn an_unwritable_bulk_answer_is_retried_without_processing_the_upload_again() {
    let server = Server::with_files(&["--settle-ms", "50"]);
    let blocker = server.folder("res").join("OQSmuquc01res_stuck.xml");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("inside"), b"x").unwrap();
    server.drop_request(b"OQSmuquc01req_stuck.xml", upload_of("STUCK").as_bytes());
    // Many polls (every 50 ms) fail to write it.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        names_in(&server.folder("req")),
        [
            b"OQSmuquc01req_stuck.xml".to_vec(),
            b"done".to_vec(),
            b"error".to_vec()
        ]
    );
    // Before its receipt is written the upload is no reception: nothing to download.
    let date_number = "2025040600000001";
    let phantom = download(&server, "phantom", date_number);
    assert!(
        phantom.contains("<SegmentOfResult>9</SegmentOfResult>"),
        "{phantom}"
    );
    std::fs::remove_dir_all(&blocker).unwrap();
    let number = reception_number(&server, "OQSmuquc01res_stuck.xml");
    // Numbered once: the upload was processed at the first poll and never again.
    assert_eq!(number, date_number);
    let second = download(&server, "second", "2025040600000002");
    assert!(
        second.contains("<SegmentOfResult>9</SegmentOfResult>"),
        "{second}"
    );
    let found = download(&server, "found", &number);
    assert!(
        found.contains("<NumberOfProcessingResult>1</NumberOfProcessingResult>"),
        "{found}"
    );
}

/// With the default settle time (500 ms), a writer pausing 1 s mid-file had its request taken
/// half-written: a document that ends early waits for its writer.
#[test]
fn with_the_default_settle_time_a_writer_pausing_one_second_is_read_whole() {
    let server = Server::with_files(&[]);
    let name = request_name(b"pause");
    let path = server.folder("req").join(OsString::from_vec(name.clone()));
    let mut file = std::fs::File::create(&path).unwrap();
    let (head, rest) = LOOKUP.split_at(LOOKUP.len() / 2);
    file.write_all(head.as_bytes()).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    file.write_all(rest.as_bytes()).unwrap();
    drop(file);
    assert_eq!(
        wait_for_count(&server.folder("req/done"), 1),
        std::slice::from_ref(&name)
    );
    assert!(names_in(&server.folder("req/error")).is_empty());
}

/// A document that ends early and never grows is refused once unchanged for 20 × the settle
/// time, saying so.
#[test]
fn a_document_that_ends_early_and_stays_so_is_refused_after_the_grace_time() {
    let server = Server::with_files(&["--settle-ms", "50"]);
    let name = request_name(b"cut");
    server.drop_request(&name, &LOOKUP.as_bytes()[..LOOKUP.len() / 2]);
    let text = error_text(&server, &name);
    assert!(text.contains("ends early"), "{text}");
    assert!(text.contains("unchanged for 1 s"), "{text}");
}

//! `myna-hil trace import`: USB captures of a CCID reader, built here from known CCID frames
//! (no USB reader is available to the tests), import into the exchange log with exactly the
//! APDUs and events they carry; foreign and truncated files are refused naming the position.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::borrow::Cow;
use std::process::Command;
use std::time::Duration;

use myna_hil::trace::import::{pcapng, Position};
use myna_hil::trace::{read_trace, Event, ExchangeAnswer, TraceEvent};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

const READER: (u16, u16) = (1, 5);
const ATR: [u8; 4] = [0x3B, 0xDA, 0x13, 0xFF];
const SELECT_JPKI: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
];
const VERIFY_1234: [u8; 9] = [0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4'];

/// A CCID message: type, dwLength, slot 0, sequence, the three specific bytes, data.
fn ccid(kind: u8, sequence: u8, specific: [u8; 3], data: &[u8]) -> Vec<u8> {
    let mut message = vec![kind];
    message.extend_from_slice(&(data.len() as u32).to_le_bytes());
    message.extend_from_slice(&[0, sequence]);
    message.extend_from_slice(&specific);
    message.extend_from_slice(data);
    message
}

/// A USBPcap packet: the 27-byte USBPCAP_BUFFER_PACKET_HEADER and the payload.
fn usbpcap(
    device: (u16, u16),
    endpoint: u8,
    transfer: u8,
    completion: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend_from_slice(&27u16.to_le_bytes());
    packet.extend_from_slice(&0x1234u64.to_le_bytes()); // irpId
    packet.extend_from_slice(&0u32.to_le_bytes()); // status
    packet.extend_from_slice(&0x0009u16.to_le_bytes()); // URB_FUNCTION_BULK_OR_INTERRUPT_TRANSFER
    packet.push(u8::from(completion));
    packet.extend_from_slice(&device.0.to_le_bytes());
    packet.extend_from_slice(&device.1.to_le_bytes());
    packet.push(endpoint);
    packet.push(transfer);
    packet.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    packet.extend_from_slice(payload);
    packet
}

const BULK_OUT: u8 = 0x02;
const BULK_IN: u8 = 0x82;
const INTERRUPT_IN: u8 = 0x83;

fn to_reader(payload: Vec<u8>) -> Vec<u8> {
    usbpcap(READER, BULK_OUT, 3, false, &payload)
}

fn from_reader(payload: Vec<u8>) -> Vec<u8> {
    usbpcap(READER, BULK_IN, 3, true, &payload)
}

fn notify(state: u8) -> Vec<u8> {
    usbpcap(READER, INTERRUPT_IN, 1, true, &[0x50, state])
}

/// A Windows reader session: insertion, power-on, SELECT with a time extension, VERIFY, an
/// extended command sent in two chained blocks whose answer comes back in two, a packet of
/// another device, GetSlotStatus, power-off, removal.
fn session_packets() -> Vec<Vec<u8>> {
    let mut extended = vec![0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x00];
    extended.extend_from_slice(&[0xAB; 256]);
    extended.extend_from_slice(&[0x02, 0x00]);
    let (first, rest) = extended.split_at(200);
    vec![
        notify(0x03),
        to_reader(ccid(0x62, 1, [0, 0, 0], &[])),
        from_reader(ccid(0x80, 1, [0, 0, 0], &ATR)),
        to_reader(ccid(0x6F, 2, [0, 0, 0], &SELECT_JPKI)),
        from_reader(ccid(0x80, 2, [0x80, 0x01, 0], &[])),
        from_reader(ccid(0x80, 2, [0, 0, 0], &[0x90, 0x00])),
        to_reader(ccid(0x6F, 3, [0, 0, 0], &VERIFY_1234)),
        from_reader(ccid(0x80, 3, [0, 0, 0], &[0x63, 0xC2])),
        to_reader(ccid(0x6F, 4, [0, 0x01, 0x00], first)),
        from_reader(ccid(0x80, 4, [0, 0, 0x10], &[])),
        to_reader(ccid(0x6F, 5, [0, 0x02, 0x00], rest)),
        from_reader(ccid(0x80, 5, [0, 0, 0x01], &[0x11; 300])),
        to_reader(ccid(0x6F, 6, [0, 0x10, 0x00], &[])),
        from_reader(ccid(0x80, 6, [0, 0, 0x02], &[0x22, 0x90, 0x00])),
        usbpcap((1, 7), 0x01, 3, false, &[0xDE, 0xAD, 0xBE, 0xEF]),
        to_reader(ccid(0x65, 7, [0, 0, 0], &[])),
        from_reader(ccid(0x81, 7, [0, 0, 0], &[])),
        to_reader(ccid(0x63, 8, [0, 0, 0], &[])),
        from_reader(ccid(0x81, 8, [0x01, 0, 0], &[])),
        notify(0x02),
    ]
}

/// 2026-11-20T00:15:00Z, the capture's first packet.
const START_SECONDS: u64 = 1_795_133_700;

fn pcapng_file(link: DataLink, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut writer = PcapNgWriter::new(Vec::new()).unwrap();
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: link,
            snaplen: 65535,
            // Nanosecond timestamps: pcap-file writes them so.
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        })
        .unwrap();
    for (index, data) in packets.iter().enumerate() {
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_secs(START_SECONDS)
                    + Duration::from_millis(10 * index as u64),
                original_len: data.len() as u32,
                data: Cow::Borrowed(data),
                options: vec![],
            })
            .unwrap();
    }
    writer.into_inner()
}

#[test]
fn a_usbpcap_capture_yields_its_apdus_and_events() {
    let file = pcapng_file(DataLink::USBPCAP, &session_packets());
    let imported = pcapng::parse(&file).unwrap();
    let events: Vec<&Event> = imported
        .transcript
        .entries
        .iter()
        .map(|e| &e.event)
        .collect();
    assert_eq!(events[0], &Event::Inserted);
    assert_eq!(
        events[1],
        &Event::PowerOn {
            atr: Some(ATR.to_vec())
        }
    );
    let Event::Apdu(select) = events[2] else {
        panic!("{:?}", events[2])
    };
    assert_eq!(select.command, SELECT_JPKI.to_vec());
    assert_eq!(
        select.answer,
        ExchangeAnswer::Response(vec![0x90, 0x00]),
        "the time extension is not the answer"
    );
    let Event::Apdu(verify) = events[3] else {
        panic!("{:?}", events[3])
    };
    assert_eq!(verify.command, VERIFY_1234.to_vec());
    assert_eq!(verify.answer, ExchangeAnswer::Response(vec![0x63, 0xC2]));
    let Event::Apdu(extended) = events[4] else {
        panic!("{:?}", events[4])
    };
    assert_eq!(extended.command.len(), 7 + 256 + 2);
    assert_eq!(
        &extended.command[..7],
        &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x00]
    );
    let mut answer = vec![0x11; 300];
    answer.extend_from_slice(&[0x22, 0x90, 0x00]);
    assert_eq!(extended.answer, ExchangeAnswer::Response(answer));
    assert_eq!(events[5], &Event::PowerOff);
    assert_eq!(events[6], &Event::Removed);
    assert_eq!(events.len(), 7);
    // The SELECT was sent 30 ms after the first packet.
    assert_eq!(imported.transcript.entries[2].at, Duration::from_millis(30));
    assert_eq!(
        imported.started.map(|at| at.to_rfc3339()),
        Some("2026-11-20T00:15:00+00:00".to_owned())
    );
    let reasons: Vec<(&Position, &str)> = imported
        .skipped
        .iter()
        .map(|s| (&s.position, s.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].1.contains("another USB device (bus 1 device 7)"),
        "{reasons:?}"
    );
    assert!(reasons[1].1.contains("65 (GetSlotStatus)"), "{reasons:?}");
    // Block 0 is the section header, 1 the interface, 2 the first packet.
    assert!(
        matches!(reasons[0].0, Position::Block { index: 16, .. }),
        "{reasons:?}"
    );
}

/// The Linux usbmon header (64 bytes, link type 220): 'S'ubmit carries what goes out,
/// 'C'omplete what comes back.
fn usbmon(kind: u8, transfer: u8, endpoint: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0u8; 64];
    packet[8] = kind;
    packet[9] = transfer;
    packet[10] = endpoint;
    packet[11] = 5; // device
    packet[12..14].copy_from_slice(&1u16.to_le_bytes()); // bus
    packet[32..36].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    packet[36..40].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    packet.extend_from_slice(payload);
    packet
}

#[test]
fn a_usbmon_capture_yields_its_apdus() {
    let packets = vec![
        usbmon(b'S', 3, 0x02, &ccid(0x6F, 9, [0, 0, 0], &SELECT_JPKI)),
        // The submission of the IN transfer carries no data; its completion does.
        usbmon(b'S', 3, 0x82, &[]),
        usbmon(b'C', 3, 0x82, &ccid(0x80, 9, [0, 0, 0], &[0x6A, 0x82])),
    ];
    let imported = pcapng::parse(&pcapng_file(DataLink::USB_LINUX_MMAPPED, &packets)).unwrap();
    let exchanges: Vec<_> = imported.transcript.exchanges().collect();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].command, SELECT_JPKI.to_vec());
    assert_eq!(
        exchanges[0].answer,
        ExchangeAnswer::Response(vec![0x6A, 0x82])
    );
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
}

#[test]
fn foreign_and_truncated_captures_are_refused_with_the_position() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
    let error = pcapng::parse(png).unwrap_err().to_string();
    assert_eq!(
        error,
        "block 0 (byte offset 0): not a pcapng or pcap capture: it starts with 89 50 4E 47 0D 0A 1A 0A (a PNG image)"
    );

    let ethernet = pcapng_file(DataLink::ETHERNET, &[vec![0xFF; 60]]);
    let error = pcapng::parse(&ethernet).unwrap_err().to_string();
    assert!(
        error.starts_with("block 1 (byte offset 28): not a USB capture"),
        "{error}"
    );
    assert!(error.contains("ETHERNET"), "{error}");

    let good = pcapng_file(DataLink::USBPCAP, &session_packets());
    let cut = &good[..good.len() - 6];
    let error = pcapng::parse(cut).unwrap_err().to_string();
    assert!(error.starts_with("block 21 (byte offset "), "{error}");
    assert!(
        error.contains("truncated: the file ends inside this block"),
        "{error}"
    );
}

#[test]
fn the_cli_writes_the_trace_format_with_pins_redacted_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("clinic.pcapng");
    std::fs::write(&capture, pcapng_file(DataLink::USBPCAP, &session_packets())).unwrap();
    let trace = dir.path().join("clinic.jsonl");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["trace", "import", "--from", "pcapng"])
            .arg(&capture)
            .arg("-o")
            .arg(&trace)
            .args(extra)
            .output()
            .unwrap()
    };
    let output = run(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 APDUs, 4 other events, 2 skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 × a packet of another USB device (bus 1 device 7) (first at block 16"),
        "{stderr}"
    );
    let lines = read_trace(&trace).unwrap();
    assert_eq!(lines[0].at.to_rfc3339(), "2026-11-20T00:15:00+00:00");
    let verify = lines
        .iter()
        .find_map(|line| match &line.event {
            TraceEvent::Apdu {
                command, redacted, ..
            } if command.starts_with("00200080") => Some((command.clone(), *redacted)),
            _ => None,
        })
        .unwrap();
    assert_eq!(verify, ("0020008004XXXXXXXX".to_owned(), true));

    assert!(run(&["--record-pins"]).status.success());
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("002000800431323334"), "{text}");

    let png = dir.path().join("photo.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["trace", "import", "--from", "pcapng"])
        .arg(&png)
        .arg("-o")
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("photo.png, block 0 (byte offset 0): not a pcapng"),
        "{stderr}"
    );
}

#[test]
fn no_cut_or_corrupted_byte_makes_the_import_panic() {
    let good = pcapng_file(DataLink::USBPCAP, &session_packets());
    for length in 0..good.len() {
        let cut = pcapng::parse(&good[..length]);
        if length < good.len() && length > 0 {
            // Every cut inside the file is an error or a shorter import, never a panic.
            if let Ok(imported) = cut {
                assert!(imported.transcript.entries.len() <= 7);
            }
        }
    }
    for position in 0..good.len() {
        for value in [0x00, 0xFF, good[position] ^ 0x80] {
            let mut corrupted = good.clone();
            corrupted[position] = value;
            let _ = pcapng::parse(&corrupted);
        }
    }
}

/// A capture whose first CCID message is cut (its length field promises more than it holds):
/// the skip says so, rather than blaming another USB device, and the reader is still found
/// from the next message.
#[test]
fn a_cut_first_ccid_message_is_called_cut_not_another_device() {
    let mut cut = ccid(0x6F, 1, [0, 0, 0], &SELECT_JPKI);
    cut.truncate(cut.len() - 7);
    let packets = vec![
        to_reader(cut),
        to_reader(ccid(0x6F, 2, [0, 0, 0], &SELECT_JPKI)),
        from_reader(ccid(0x80, 2, [0, 0, 0], &[0x90, 0x00])),
    ];
    let imported = pcapng::parse(&pcapng_file(DataLink::USBPCAP, &packets)).unwrap();
    assert_eq!(imported.skipped.len(), 1, "{:?}", imported.skipped);
    let reason = &imported.skipped[0].reason;
    assert!(
        reason.contains("CCID message whose length field does not match its data")
            && !reason.contains("another USB device"),
        "{reason}"
    );
    assert_eq!(imported.transcript.exchanges().count(), 1);
}

/// The sample pcscd log of the README (docs/samples/pcscd-apdu.log) imports with its PIN
/// redacted and replays against the standard card with no divergence.
#[test]
fn the_documented_sample_pcscd_log_imports_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("sample.jsonl");
    let output = crate::support::myna_hil()
        .args([
            "trace",
            "import",
            "--from",
            "pcscd",
            "docs/samples/pcscd-apdu.log",
            "-o",
        ])
        .arg(&trace)
        .args(["--started", "2025-06-02T09:00:00+09:00"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("6 APDUs, 5 other events, 0 skipped"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(!text.contains("31323334"), "the PIN is redacted: {text}");
    let output = crate::support::myna_hil()
        .arg("replay")
        .arg(&trace)
        .args(["--card", "fixtures/cards/standard.yaml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("6 commands, 2 power-ons, 0 divergences"),
        "{stdout}"
    );
}

/// Runs `trace import --from FORMAT CAPTURE -o TRACE`: exit code and stderr.
fn import_cli(format: &str, capture: &std::path::Path, trace: &std::path::Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
        .args(["trace", "import", "--from", format])
        .arg(capture)
        .arg("-o")
        .arg(trace)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn error_messages_show_an_excerpt_of_a_huge_bad_token_or_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("out.jsonl");
    // A 2 MB bad token in an APDU dump, not on the last line.
    let log = dir.path().join("token.log");
    let mut text = String::from("00000004 APDU: 00 A4 ");
    text.push_str(&"Z".repeat(2_000_000));
    text.push_str("\n00000355 SW: 90 00\n");
    std::fs::write(&log, &text).unwrap();
    let (code, stderr) = import_cli("pcscd", &log, &trace);
    assert_eq!(code, 2, "{}", &stderr[..stderr.len().min(500)]);
    assert!(stderr.len() < 1_000, "{} bytes of stderr", stderr.len());
    assert!(stderr.contains("line 1: `ZZZZ"), "{stderr}");
    assert!(stderr.contains("is not a hex byte"), "{stderr}");
    assert!(stderr.contains("(in a line of 2000021 bytes)"), "{stderr}");

    // A 2 MB last line of control bytes, cut off (no newline).
    let log = dir.path().join("control.log");
    let mut text = String::from("00000004 APDU: 00 A4 04 0C 02 3F 00\n00000355 SW: 90 00\n");
    text.push_str(&"\u{1}".repeat(2_000_000));
    std::fs::write(&log, &text).unwrap();
    let (code, stderr) = import_cli("pcscd", &log, &trace);
    assert_eq!(code, 2);
    assert!(stderr.len() < 1_000, "{} bytes of stderr", stderr.len());
    assert!(
        stderr.contains("line 3: truncated: the log ends inside a line: \"\\u{1}"),
        "{stderr}"
    );
    assert!(stderr.contains("(a line of 2000000 bytes)"), "{stderr}");
}

/// A pcap file of `packets` (USBPcap) with a snap length: every packet is cut to it, with
/// its original length recorded.
fn pcap_file(snaplen: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let header = PcapHeader {
        snaplen,
        datalink: DataLink::USBPCAP,
        ts_resolution: pcap_file::TsResolution::NanoSecond,
        endianness: pcap_file::Endianness::Little,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (index, data) in packets.iter().enumerate() {
        let kept = &data[..data.len().min(snaplen as usize)];
        writer
            .write_packet(&PcapPacket::new(
                Duration::from_secs(START_SECONDS) + Duration::from_millis(10 * index as u64),
                data.len() as u32,
                kept,
            ))
            .unwrap();
    }
    writer.into_writer()
}

/// The same packets as a pcapng capture with the same snap length.
fn pcapng_file_cut(snaplen: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut writer = PcapNgWriter::new(Vec::new()).unwrap();
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::USBPCAP,
            snaplen,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        })
        .unwrap();
    for (index, data) in packets.iter().enumerate() {
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_secs(START_SECONDS)
                    + Duration::from_millis(10 * index as u64),
                original_len: data.len() as u32,
                data: Cow::Borrowed(&data[..data.len().min(snaplen as usize)]),
                options: vec![],
            })
            .unwrap();
    }
    writer.into_inner()
}

#[test]
fn a_pcap_with_a_snap_length_imports_like_the_same_pcapng() {
    // 27 bytes of USBPcap header, 10 of CCID header: the 300-byte answer and the 200-byte
    // chained block are cut at 96 bytes, SELECT, VERIFY and the power messages are not.
    let snaplen = 96;
    let packets = session_packets();
    let as_pcap = pcapng::parse(&pcap_file(snaplen, &packets)).unwrap();
    let as_pcapng = pcapng::parse(&pcapng_file_cut(snaplen, &packets)).unwrap();
    assert_eq!(as_pcap.transcript, as_pcapng.transcript);
    let reasons = |imported: &myna_hil::trace::import::Imported| -> Vec<String> {
        imported.skipped.iter().map(|s| s.reason.clone()).collect()
    };
    assert_eq!(reasons(&as_pcap), reasons(&as_pcapng));
    assert_eq!(as_pcap.skipped_count(), as_pcapng.skipped_count());
    let snapped: Vec<_> = as_pcap
        .skipped
        .iter()
        .filter(|skipped| skipped.reason.contains("snap length"))
        .collect();
    assert_eq!(snapped.len(), 1, "{:?}", as_pcap.skipped);
    assert!(matches!(
        snapped[0].position,
        Position::Block { index: 12, .. }
    ));
    // What fits is imported: the power-on with its ATR, SELECT and VERIFY.
    let commands: Vec<Vec<u8>> = as_pcap
        .transcript
        .entries
        .iter()
        .filter_map(|entry| match &entry.event {
            Event::Apdu(exchange) => Some(exchange.command.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(commands, vec![SELECT_JPKI.to_vec(), VERIFY_1234.to_vec()]);

    // Through the CLI: imported, with the cut packet counted.
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("snap.pcap");
    std::fs::write(&capture, pcap_file(snaplen, &packets)).unwrap();
    let (code, stderr) = import_cli("pcapng", &capture, &dir.path().join("snap.jsonl"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr
            .contains("1 × a USB transfer captured only in part (snap length) (first at block 12"),
        "{stderr}"
    );
}

const TOO_LONG_COMMAND: &str = "a command longer than an extended APDU (65544 bytes)";
const TOO_LONG_ANSWER: &str = "an answer longer than an extended APDU (65544 bytes)";

/// The APDUs an import yields, commands only.
fn commands_of(imported: &myna_hil::trace::import::Imported) -> Vec<Vec<u8>> {
    imported
        .transcript
        .entries
        .iter()
        .filter_map(|entry| match &entry.event {
            Event::Apdu(exchange) => Some(exchange.command.clone()),
            _ => None,
        })
        .collect()
}

/// How many were skipped for `reason`.
fn skipped_for(imported: &myna_hil::trace::import::Imported, reason: &str) -> usize {
    imported
        .skipped
        .iter()
        .filter(|skipped| skipped.reason == reason)
        .count()
}

#[test]
fn an_endless_ccid_chain_is_skipped_and_counted_not_joined() {
    // A command chain of 50 blocks of 60,000 bytes (3 MB), each acknowledged by the reader,
    // then a command and an answer chain of the same size, then an ordinary SELECT.
    let block = vec![0x5A; 60_000];
    let mut packets = vec![to_reader(ccid(0x6F, 0, [0, 0x01, 0x00], &block))];
    packets.push(from_reader(ccid(0x80, 0, [0, 0, 0x10], &[])));
    for sequence in 1..49u8 {
        packets.push(to_reader(ccid(0x6F, sequence, [0, 0x03, 0x00], &block)));
        packets.push(from_reader(ccid(0x80, sequence, [0, 0, 0x10], &[])));
    }
    packets.push(to_reader(ccid(0x6F, 49, [0, 0x02, 0x00], &block)));
    packets.push(from_reader(ccid(0x80, 49, [0, 0, 0], &[0x90, 0x00])));
    packets.push(to_reader(ccid(
        0x6F,
        50,
        [0, 0, 0],
        &[0x00, 0xB0, 0x00, 0x00, 0x00],
    )));
    packets.push(from_reader(ccid(0x80, 50, [0, 0, 0x01], &block)));
    for sequence in 51..99u8 {
        packets.push(to_reader(ccid(0x6F, sequence, [0, 0x10, 0x00], &[])));
        packets.push(from_reader(ccid(0x80, sequence, [0, 0, 0x03], &block)));
    }
    packets.push(to_reader(ccid(0x6F, 99, [0, 0x10, 0x00], &[])));
    packets.push(from_reader(ccid(0x80, 99, [0, 0, 0x02], &block)));
    packets.push(to_reader(ccid(0x6F, 100, [0, 0, 0], &SELECT_JPKI)));
    packets.push(from_reader(ccid(0x80, 100, [0, 0, 0], &[0x90, 0x00])));
    let capture = pcapng_file(DataLink::USBPCAP, &packets);
    assert!(capture.len() > 6_000_000);
    let imported = pcapng::parse(&capture).unwrap();
    assert_eq!(commands_of(&imported), vec![SELECT_JPKI.to_vec()]);
    assert_eq!(
        skipped_for(&imported, TOO_LONG_COMMAND),
        1,
        "{:?}",
        imported.skipped
    );
    assert_eq!(
        skipped_for(&imported, TOO_LONG_ANSWER),
        1,
        "{:?}",
        imported.skipped
    );
    // Nothing else was left out: the refused APDUs' answers are passed over, not reported.
    assert_eq!(imported.skipped_count(), 2, "{:?}", imported.skipped);

    // The same from the CLI: imported, with both counted.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.pcapng");
    std::fs::write(&file, &capture).unwrap();
    let trace = dir.path().join("chain.jsonl");
    let (code, stderr) = import_cli("pcapng", &file, &trace);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("1 APDUs, 0 other events, 2 skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("1 × {TOO_LONG_COMMAND}")),
        "{stderr}"
    );
    assert!(std::fs::metadata(&trace).unwrap().len() < 1_000);
}

#[test]
fn an_oversized_block_is_read_past_and_counted() {
    let mut packets = vec![vec![0xEE; 2_000_000]];
    packets.push(to_reader(ccid(0x6F, 1, [0, 0, 0], &SELECT_JPKI)));
    packets.push(from_reader(ccid(0x80, 1, [0, 0, 0], &[0x90, 0x00])));
    let imported = pcapng::parse(&pcapng_file(DataLink::USBPCAP, &packets)).unwrap();
    assert_eq!(commands_of(&imported), vec![SELECT_JPKI.to_vec()]);
    assert_eq!(imported.skipped.len(), 1, "{:?}", imported.skipped);
    // After the section header and the interface block.
    let headers = pcapng_file(DataLink::USBPCAP, &[]).len();
    assert_eq!(
        imported.skipped[0].position,
        Position::Block {
            index: 2,
            offset: headers
        }
    );
    assert!(
        imported.skipped[0]
            .reason
            .starts_with("a block of 2000032 bytes, longer than any CCID"),
        "{:?}",
        imported.skipped
    );
}

#[test]
fn a_pcscd_dump_longer_than_an_apdu_is_skipped_and_its_answer_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("long.log");
    let mut text = String::from("00000004 APDU: 00 D6 00 00 ");
    text.push_str(&"5A ".repeat(1_000_000));
    text.push_str(
        "\n00000355 SW: 90 00\n00000004 APDU: 00 A4 04 0C 02 3F 00\n00000355 SW: 6A 82\n",
    );
    // A whole APDU's dump of the longest length is kept (65,544 bytes), one byte more is not
    // (a line short enough to be read whole).
    text.push_str("00000004 APDU: ");
    text.push_str(&"00 ".repeat(65_544));
    text.push_str("\n00000355 SW: 90 00\n00000004 APDU: ");
    text.push_str(&"00 ".repeat(65_545));
    text.push_str("\n00000355 SW: 90 00\n");
    std::fs::write(&log, &text).unwrap();
    let trace = dir.path().join("long.jsonl");
    let (code, stderr) = import_cli("pcscd", &log, &trace);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("2 APDUs, 0 other events, 2 skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("2 × {TOO_LONG_COMMAND} (first at line 1)")),
        "{stderr}"
    );
    let lines = read_trace(&trace).unwrap();
    let commands: Vec<usize> = lines
        .iter()
        .filter_map(|line| match &line.event {
            TraceEvent::Apdu { command, .. } => Some(command.len() / 2),
            _ => None,
        })
        .collect();
    assert_eq!(commands, vec![7, 65_544]);
}

#[test]
fn a_transcript_line_longer_than_any_event_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("huge.jsonl");
    let mut text = String::from(
        "{\"at\":\"2026-11-20T00:00:00Z\",\"elapsed_us\":0,\"event\":\"start\",\"format\":\"myna-hil-trace\",\"version\":1,\"transport\":\"t\",\"pins\":\"redacted\"}\n",
    );
    text.push_str(
        "{\"at\":\"2026-11-20T00:00:00Z\",\"elapsed_us\":1,\"event\":\"apdu\",\"command\":\"",
    );
    text.push_str(&"5A".repeat(2_000_000));
    text.push_str("\",\"response\":\"9000\",\"card_us\":0}\n");
    let long = text.lines().nth(1).unwrap().len();
    std::fs::write(&trace, text).unwrap();
    let error = read_trace(&trace).unwrap_err().to_string();
    assert!(
        error.contains(&format!("huge.jsonl, line 2: a line of {long} bytes")),
        "{error}"
    );
    assert!(error.len() < 300, "{error}");
}

#[test]
fn no_digit_of_a_malformed_or_disguised_verify_survives_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("verify.log");
    // The PIN 9876 (39 38 37 36) in four commands a careless client sends.
    std::fs::write(
        &log,
        "\
00000004 APDU: 00 20 00 80 02 39 38 37 36
00000010 SW: 67 00
00000004 APDU: 00 20 00 80 00 39 38 37 36
00000010 SW: 67 00
00000004 APDU: 80 20 00 80 04 39 38 37 36
00000010 SW: 6E 00
00000004 APDU: 00 C2 00 00 09 00 20 00 80 04 39 38 37 36
00000010 SW: 6D 00
00000004 APDU: 00 A4 04 0C 02 3F 00
00000010 SW: 90 00
",
    )
    .unwrap();
    let trace = dir.path().join("verify.jsonl");
    let (code, stderr) = import_cli("pcscd", &log, &trace);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&trace).unwrap();
    let commands: Vec<String> = read_trace(&trace)
        .unwrap()
        .into_iter()
        .filter_map(|line| match line.event {
            TraceEvent::Apdu { command, .. } => Some(command),
            _ => None,
        })
        .collect();
    assert_eq!(
        commands,
        vec![
            "00200080XXXXXXXXXX",
            "00200080XXXXXXXXXX",
            "8020008004XXXXXXXX",
            "00C2000009XXXXXXXXXXXXXXXXXX",
            "00A4040C023F00",
        ],
        "{text}"
    );
    for digits in ["3938", "3837", "3736"] {
        assert!(!text.contains(digits), "{digits} leaked: {text}");
    }
}

//! USB captures of a CCID smart-card reader: pcapng (Wireshark with USBPcap on Windows, or
//! Wireshark/tcpdump on Linux) and classic pcap, read with the `pcap-file` crate.
//!
//! Link types: USBPcap (249; the 資格確認端末 on Windows) and Linux usbmon (189, and 220 with
//! the memory-mapped header). Other interfaces in the same file (Ethernet …) are skipped; a
//! file with no USB interface at all is refused.
//!
//! From the CCID messages (USB CCID 1.1, §6):
//! - `PC_to_RDR_XfrBlock` (6F) and its `RDR_to_PC_DataBlock` (80) answer are one APDU
//!   exchange, matched by slot and sequence number. An APDU-level exchange split with
//!   `wLevelParameter` / `bChainParameter` (extended APDUs on short-APDU readers) is joined
//!   back. A `bStatus` asking for more time (`bmCommandStatus` 2, the BWT extension) is not
//!   the answer: the real answer follows with the same sequence number. A failed answer
//!   (`bmCommandStatus` 1) is recorded as a failed exchange naming `bError`.
//! - `PC_to_RDR_IccPowerOn` (62) is a power-on whose `DataBlock` carries the ATR;
//!   `PC_to_RDR_IccPowerOff` (63) a power-off.
//! - `RDR_to_PC_NotifySlotChange` (50) on the interrupt endpoint is a card insertion or
//!   removal in slot 0.
//!
//! Not handled, and reported as skipped: TPDU- and character-level readers (their
//! `XfrBlock`s carry T=1 blocks or bytes, not APDUs), slots other than 0, messages split over
//! several USB transfers (a capture with a snap length shorter than the message), and CCID
//! messages that are neither APDUs nor power (GetSlotStatus, SetParameters, Escape …: counted,
//! not carried). The usbmon header is read little-endian, as x86 and ARM hosts write it.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use super::{describe_start, peek_start, Imported, ParseError, Position, MAX_APDU_LEN};
use crate::trace::exchange::{ApduExchange, Event, ExchangeAnswer, FailureKind, ReaderFailure};

const EXPECTED: &str = "a pcapng or pcap capture";

pub(crate) const PC_TO_RDR_ICC_POWER_ON: u8 = 0x62;
pub(crate) const PC_TO_RDR_ICC_POWER_OFF: u8 = 0x63;
pub(crate) const PC_TO_RDR_XFR_BLOCK: u8 = 0x6F;
pub(crate) const RDR_TO_PC_DATA_BLOCK: u8 = 0x80;
pub(crate) const RDR_TO_PC_SLOT_STATUS: u8 = 0x81;
pub(crate) const RDR_TO_PC_NOTIFY_SLOT_CHANGE: u8 = 0x50;
const CCID_HEADER_LEN: usize = 10;

/// The largest block (or pcap record) read: a CCID message of the longest APDU with its USB
/// header and the block's framing and options, with room to spare. A larger one cannot hold an
/// APDU exchange; it is read past without being kept, and counted.
const MAX_BLOCK_LEN: usize = 1024 * 1024;

/// Parses a pcapng or pcap file held in memory.
pub fn parse(bytes: &[u8]) -> Result<Imported, ParseError> {
    parse_stream(bytes)
}

/// Parses a pcapng or pcap capture read from `input`, one block at a time.
pub(crate) fn parse_stream(mut input: impl BufRead) -> Result<Imported, ParseError> {
    let start = peek_start(&mut input)?;
    let mut reader = CcidReader::default();
    let mut blocks = Blocks {
        input,
        offset: 0,
        index: 0,
        buffer: Vec::new(),
    };
    match start.get(..4) {
        Some([0x0A, 0x0D, 0x0D, 0x0A]) => parse_pcapng(&mut blocks, &mut reader)?,
        Some([0xD4, 0xC3, 0xB2, 0xA1])
        | Some([0xA1, 0xB2, 0xC3, 0xD4])
        | Some([0x4D, 0x3C, 0xB2, 0xA1])
        | Some([0xA1, 0xB2, 0x3C, 0x4D]) => parse_pcap(&mut blocks, &mut reader)?,
        _ => {
            return Err(ParseError::Foreign {
                position: Position::Block {
                    index: 0,
                    offset: 0,
                },
                expected: EXPECTED,
                found: describe_start(&start),
            })
        }
    }
    Ok(reader.finish())
}

/// A pcap-file error at a block: running out of bytes is a truncated capture.
fn block_error(error: PcapError, position: Position) -> ParseError {
    match error {
        PcapError::IncompleteBuffer => ParseError::Truncated {
            position,
            message: "the file ends inside this block".to_owned(),
        },
        other => ParseError::Malformed {
            position,
            message: format!("unreadable block: {other}"),
        },
    }
}

/// What the next block of a capture is.
enum Next {
    /// The capture ends (between blocks).
    End,
    /// A block, in [`Blocks::buffer`].
    Block(Position),
    /// A block longer than [`MAX_BLOCK_LEN`], read past.
    Oversized(Position, usize),
}

/// A capture read one block (pcapng) or record (pcap) at a time; only the current one is
/// kept, in `buffer`.
struct Blocks<R> {
    input: R,
    /// Bytes read so far: where the next block starts.
    offset: usize,
    /// The number of the next block (the file header is block 0).
    index: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> Blocks<R> {
    fn here(&self) -> Position {
        Position::Block {
            index: self.index,
            offset: self.offset,
        }
    }

    /// Appends up to `count` bytes of the input to the buffer; how many there were.
    fn take(&mut self, count: usize, position: Position) -> Result<usize, ParseError> {
        let before = self.buffer.len();
        (&mut self.input)
            .take(count as u64)
            .read_to_end(&mut self.buffer)
            .map_err(|error| ParseError::Malformed {
                position,
                message: format!("cannot read: {error}"),
            })?;
        Ok(self.buffer.len() - before)
    }

    /// Reads the block that starts with a header of `header_len` bytes, whose total length
    /// `length_of` finds in that header (an error: a length no block can have).
    fn next(
        &mut self,
        header_len: usize,
        length_of: impl FnOnce(&[u8]) -> Result<usize, String>,
    ) -> Result<Next, ParseError> {
        let position = self.here();
        self.buffer.clear();
        let got = self.take(header_len, position)?;
        if got == 0 {
            return Ok(Next::End);
        }
        let truncated = || ParseError::Truncated {
            position,
            message: "the file ends inside this block".to_owned(),
        };
        if got < header_len {
            return Err(truncated());
        }
        let length = length_of(&self.buffer)
            .map_err(|message| ParseError::Malformed { position, message })?;
        let rest = length.saturating_sub(header_len);
        self.index += 1;
        self.offset += header_len + rest;
        if length > MAX_BLOCK_LEN {
            let skipped = std::io::copy(
                &mut (&mut self.input).take(rest as u64),
                &mut std::io::sink(),
            )
            .map_err(|error| ParseError::Malformed {
                position,
                message: format!("cannot read: {error}"),
            })?;
            if skipped < rest as u64 {
                return Err(truncated());
            }
            return Ok(Next::Oversized(position, length));
        }
        if self.take(rest, position)? < rest {
            return Err(truncated());
        }
        Ok(Next::Block(position))
    }
}

fn u32_in(bytes: &[u8], at: usize, little_endian: bool) -> usize {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    (if little_endian {
        u32::from_le_bytes(word)
    } else {
        u32::from_be_bytes(word)
    }) as usize
}

/// The reason an oversized block is skipped.
fn oversized(length: usize) -> String {
    format!(
        "a block of {length} bytes, longer than any CCID message of one APDU ({MAX_APDU_LEN} bytes)"
    )
}

/// The pcapng section header's type, which is also its own byte-order-free magic.
const SECTION_HEADER: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];

/// The next pcapng block: its 8-byte header (type, total length; a section header also its
/// byte-order magic, which sets `little_endian` for the section).
fn next_pcapng_block<R: BufRead>(
    blocks: &mut Blocks<R>,
    little_endian: &mut bool,
) -> Result<Next, ParseError> {
    // Every block is at least 12 bytes; a section header's first 12 hold its byte order.
    blocks.next(12, |header| {
        if header[..4] == SECTION_HEADER {
            *little_endian = match header[8..12] {
                [0x4D, 0x3C, 0x2B, 0x1A] => true,
                [0x1A, 0x2B, 0x3C, 0x4D] => false,
                _ => return Err("a section header with an unknown byte-order magic".to_owned()),
            };
        }
        let length = u32_in(header, 4, *little_endian);
        if length < 12 || length % 4 != 0 {
            return Err(format!(
                "a block length of {length} (a multiple of 4, at least 12)"
            ));
        }
        Ok(length)
    })
}

fn parse_pcapng<R: BufRead>(
    blocks: &mut Blocks<R>,
    reader: &mut CcidReader,
) -> Result<(), ParseError> {
    let mut little_endian = true;
    let first = match next_pcapng_block(blocks, &mut little_endian)? {
        Next::Block(position) => position,
        Next::End => return Err(block_error(PcapError::IncompleteBuffer, blocks.here())),
        Next::Oversized(position, length) => {
            return Err(ParseError::Malformed {
                position,
                message: format!("a section header of {length} bytes"),
            })
        }
    };
    let (_, mut parser) =
        PcapNgParser::new(&blocks.buffer).map_err(|error| block_error(error, first))?;
    // Per interface of the current section: its link type and timestamp units per second.
    let mut interfaces: Vec<(DataLink, u64)> = Vec::new();
    let mut usb_interface_seen = false;
    let mut first_foreign: Option<(Position, DataLink)> = None;
    loop {
        let here = match next_pcapng_block(blocks, &mut little_endian)? {
            Next::End => break,
            Next::Oversized(position, length) => {
                reader.imported.skip(position, oversized(length));
                continue;
            }
            Next::Block(position) => position,
        };
        let (_, block) = parser
            .next_block(&blocks.buffer)
            .map_err(|error| block_error(error, here))?;
        match block {
            Block::SectionHeader(_) => interfaces.clear(),
            Block::InterfaceDescription(interface) => {
                let resolution = interface
                    .options
                    .iter()
                    .find_map(|option| match option {
                        InterfaceDescriptionOption::IfTsResol(code) => Some(*code),
                        _ => None,
                    })
                    .map_or(1_000_000, ticks_per_second);
                if UsbHeader::for_link(interface.linktype).is_some() {
                    usb_interface_seen = true;
                } else if first_foreign.is_none() {
                    first_foreign = Some((here, interface.linktype));
                }
                interfaces.push((interface.linktype, resolution));
            }
            Block::EnhancedPacket(packet) => {
                let Some((link, resolution)) = interfaces.get(packet.interface_id as usize) else {
                    return Err(ParseError::Malformed {
                        position: here,
                        message: format!(
                            "a packet of interface {} that no interface block described",
                            packet.interface_id
                        ),
                    });
                };
                // pcap-file hands the raw timestamp over as nanoseconds whatever the
                // interface's resolution; scale it by the resolution here.
                let ticks = packet.timestamp.as_nanos();
                let time = Duration::from_nanos(
                    u64::try_from(ticks * 1_000_000_000 / u128::from(*resolution))
                        .unwrap_or(u64::MAX),
                );
                reader.packet(here, *link, Some(time), &packet.data);
            }
            Block::SimplePacket(packet) => match interfaces.first() {
                Some((link, _)) => reader.packet(here, *link, None, &packet.data),
                None => {
                    return Err(ParseError::Malformed {
                        position: here,
                        message: "a packet before any interface block".to_owned(),
                    })
                }
            },
            _ => {}
        }
    }
    if !usb_interface_seen {
        let (position, link) = first_foreign.unwrap_or((first, DataLink::NULL));
        return Err(ParseError::Foreign {
            position,
            expected: "a USB capture (USBPcap, link type 249; Linux usbmon, 189 or 220)",
            found: format!("the capture's interface has link type {link:?}"),
        });
    }
    Ok(())
}

/// pcap's file header and per-record header lengths.
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

fn parse_pcap<R: BufRead>(
    blocks: &mut Blocks<R>,
    reader: &mut CcidReader,
) -> Result<(), ParseError> {
    let header_at = blocks.here();
    if !matches!(
        blocks.next(PCAP_HEADER_LEN, |_| Ok(PCAP_HEADER_LEN))?,
        Next::Block(_)
    ) {
        return Err(block_error(PcapError::IncompleteBuffer, header_at));
    }
    let (_, parser) =
        PcapParser::new(&blocks.buffer).map_err(|error| block_error(error, header_at))?;
    let header = parser.header();
    let link = header.datalink;
    if UsbHeader::for_link(link).is_none() {
        return Err(ParseError::Foreign {
            position: header_at,
            expected: "a USB capture (USBPcap, link type 249; Linux usbmon, 189 or 220)",
            found: format!("the capture has link type {link:?}"),
        });
    }
    let little_endian = header.endianness == Endianness::Little;
    loop {
        let next = blocks.next(PCAP_RECORD_HEADER_LEN, |record| {
            Ok(PCAP_RECORD_HEADER_LEN + u32_in(record, 8, little_endian))
        })?;
        let here = match next {
            Next::End => break,
            Next::Oversized(position, length) => {
                reader.imported.skip(position, oversized(length));
                continue;
            }
            Next::Block(position) => position,
        };
        // The raw record, not pcap-file's checked packet: that refuses a record whose original
        // length exceeds the snap length — the very packet a snap length cuts, which the
        // reader skips and counts as it does in a pcapng capture.
        let (_, packet) = parser
            .next_raw_packet(&blocks.buffer)
            .map_err(|error| block_error(error, here))?;
        let nanos = match header.ts_resolution {
            TsResolution::MicroSecond => packet.ts_frac.checked_mul(1000),
            TsResolution::NanoSecond => Some(packet.ts_frac),
        }
        .filter(|nanos| *nanos < 1_000_000_000)
        .ok_or_else(|| ParseError::Malformed {
            position: here,
            message: format!("a timestamp fraction of {} out of range", packet.ts_frac),
        })?;
        let time = Duration::new(u64::from(packet.ts_sec), nanos);
        reader.packet(here, link, Some(time), &packet.data);
    }
    Ok(())
}

/// Why a packet cut by the capture's snap length is skipped.
const SNAP_LENGTH: &str = "a USB transfer captured only in part (snap length)";

/// Timestamp units per second from `if_tsresol` (a power of 10, or of 2 with the top bit).
fn ticks_per_second(code: u8) -> u64 {
    let exponent = u32::from(code & 0x7F).min(19);
    if code & 0x80 == 0 {
        10u64.pow(exponent)
    } else {
        2u64.checked_pow(exponent).unwrap_or(u64::MAX)
    }
}

/// The part of a USB pseudo-header the import needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UsbTransfer {
    /// Bus and device address: which USB device.
    device: (u16, u16),
    /// Endpoint with the direction bit (0x80 = IN, device to host).
    endpoint: u8,
    /// 1 interrupt, 3 bulk.
    transfer_type: u8,
    /// The packet carries what the host submitted (false: what came back, a completion).
    submission: bool,
    /// The transfer's full length, when the header says it (usbmon); compared with the
    /// captured bytes to spot a snap length.
    original_length: Option<usize>,
}

enum UsbHeader {
    UsbPcap,
    Usbmon { header_len: usize },
}

impl UsbHeader {
    fn for_link(link: DataLink) -> Option<UsbHeader> {
        match link {
            DataLink::USBPCAP => Some(UsbHeader::UsbPcap),
            DataLink::USB_LINUX => Some(UsbHeader::Usbmon { header_len: 48 }),
            DataLink::USB_LINUX_MMAPPED => Some(UsbHeader::Usbmon { header_len: 64 }),
            _ => None,
        }
    }

    /// The transfer and its payload, or why the packet cannot be read.
    fn split<'a>(&self, data: &'a [u8]) -> Result<(UsbTransfer, &'a [u8]), String> {
        let u16_at = |at: usize| {
            data.get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let u32_at = |at: usize| {
            data.get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let short = || format!("a USB header cut short ({} bytes)", data.len());
        match self {
            UsbHeader::UsbPcap => {
                // USBPCAP_BUFFER_PACKET_HEADER, packed, little-endian: headerLen u16, irpId u64,
                // status u32, function u16, info u8, bus u16, device u16, endpoint u8,
                // transfer u8, dataLength u32 (27 bytes; headerLen may be larger).
                let header_len = usize::from(u16_at(0).ok_or_else(short)?);
                let info = *data.get(16).ok_or_else(short)?;
                let transfer = UsbTransfer {
                    device: (u16_at(17).ok_or_else(short)?, u16_at(19).ok_or_else(short)?),
                    endpoint: *data.get(21).ok_or_else(short)?,
                    transfer_type: *data.get(22).ok_or_else(short)?,
                    submission: info & 0x01 == 0,
                    original_length: u32_at(23)
                        .ok_or_else(short)
                        .map(|length| length as usize)
                        .map(Some)?,
                };
                let payload = data.get(header_len.max(27)..).ok_or_else(short)?;
                Ok((transfer, payload))
            }
            UsbHeader::Usbmon { header_len } => {
                // struct usbmon_packet: id u64, type u8 ('S' submit, 'C' complete, 'E' error),
                // xfer_type u8, epnum u8, devnum u8, busnum u16, flag_setup, flag_data,
                // ts_sec i64, ts_usec i32, status i32, length u32, len_cap u32, …
                let kind = *data.get(8).ok_or_else(short)?;
                let transfer = UsbTransfer {
                    device: (
                        u16_at(12).ok_or_else(short)?,
                        u16::from(*data.get(11).ok_or_else(short)?),
                    ),
                    endpoint: *data.get(10).ok_or_else(short)?,
                    transfer_type: *data.get(9).ok_or_else(short)?,
                    submission: kind == b'S',
                    original_length: Some(u32_at(32).ok_or_else(short)? as usize),
                };
                let payload = data.get(*header_len..).ok_or_else(short)?;
                Ok((transfer, payload))
            }
        }
    }
}

/// What a CCID command sent to the reader waits for.
#[derive(Debug, Clone)]
enum Pending {
    /// An APDU (possibly being joined from several XfrBlocks) and its answer so far.
    Apdu {
        command: Vec<u8>,
        response: Vec<u8>,
        at: Duration,
        position: Position,
    },
    PowerOn {
        at: Duration,
    },
    /// An APDU longer than [`MAX_APDU_LEN`], already counted as skipped: its answer (or the
    /// rest of it) is passed over.
    Refused,
}

/// Follows the CCID conversation of one reader through the packets of a capture.
#[derive(Default)]
struct CcidReader {
    imported: Imported,
    start: Option<Duration>,
    last_time: Duration,
    /// The reader (bus, device) whose CCID messages are imported: the first device seen
    /// sending one.
    reader: Option<(u16, u16)>,
    /// The command awaiting its answer, by sequence number (slot 0 only).
    pending: HashMap<u8, Pending>,
    /// A command chain being sent (wLevelParameter 1 / 3): the bytes so far (`None` once the
    /// chain grew longer than an APDU can be: the rest of it is passed over).
    sending: Option<(Option<Vec<u8>>, Duration, Position)>,
}

impl CcidReader {
    fn skip(&mut self, position: Position, reason: impl Into<String>) {
        self.imported.skip(position, reason);
    }

    fn packet(&mut self, position: Position, link: DataLink, time: Option<Duration>, data: &[u8]) {
        let Some(header) = UsbHeader::for_link(link) else {
            self.skip(
                position,
                format!("a packet of a non-USB interface ({link:?})"),
            );
            return;
        };
        let (transfer, payload) = match header.split(data) {
            Ok(split) => split,
            Err(reason) => return self.skip(position, reason),
        };
        if let Some(time) = time {
            let start = *self.start.get_or_insert(time);
            self.last_time = time.saturating_sub(start);
        }
        let at = self.last_time;
        let inbound = transfer.endpoint & 0x80 != 0;
        // Data travels with the submission going out and with the completion coming back.
        if payload.is_empty() || transfer.submission == inbound {
            return;
        }
        if transfer
            .original_length
            .is_some_and(|length| length > payload.len() && !transfer.submission)
        {
            return self.skip(position, SNAP_LENGTH);
        }
        if Some(transfer.device) != self.reader {
            if self.reader.is_none() && looks_like_ccid(transfer.transfer_type, inbound, payload) {
                self.reader = Some(transfer.device);
            } else {
                // A CCID message kind whose length field does not match its data (cut by the
                // capture) is not evidence of another device.
                let cut_ccid = self.reader.is_none()
                    && matches!(
                        (transfer.transfer_type, inbound, payload.first()),
                        (3, false, Some(0x61..=0x6F)) | (3, true, Some(0x80..=0x84))
                    );
                let what = if cut_ccid {
                    "a CCID message whose length field does not match its data (cut?), before the reader was found"
                } else {
                    "a packet of another USB device"
                };
                return self.skip(
                    position,
                    format!(
                        "{what} (bus {} device {})",
                        transfer.device.0, transfer.device.1
                    ),
                );
            }
        }
        match (transfer.transfer_type, inbound) {
            (1, true) => self.interrupt(position, at, payload),
            (3, inbound) => {
                if let Some(message) = self.slot_zero_message(position, payload) {
                    if inbound {
                        self.answer(position, message);
                    } else {
                        self.command(position, at, message);
                    }
                }
            }
            _ => {}
        }
    }

    /// RDR_to_PC_NotifySlotChange: bit 0 of slot 0 is "card present", bit 1 "changed".
    fn interrupt(&mut self, position: Position, at: Duration, payload: &[u8]) {
        match payload {
            [RDR_TO_PC_NOTIFY_SLOT_CHANGE, state, ..] if state & 0x02 != 0 => {
                let event = if state & 0x01 != 0 {
                    Event::Inserted
                } else {
                    Event::Removed
                };
                self.imported.transcript.push(at, event);
            }
            [RDR_TO_PC_NOTIFY_SLOT_CHANGE, ..] => {}
            _ => self.skip(position, "an interrupt message other than NotifySlotChange"),
        }
    }

    /// The CCID message of slot 0 that `payload` holds; anything else is skipped, saying why.
    fn slot_zero_message<'a>(
        &mut self,
        position: Position,
        payload: &'a [u8],
    ) -> Option<CcidMessage<'a>> {
        let Some(message) = split_ccid(payload) else {
            self.skip(position, "a CCID message whose length field does not match");
            return None;
        };
        if message.slot != 0 {
            self.skip(position, "a CCID message for a slot other than 0");
            return None;
        }
        Some(message)
    }

    fn command(&mut self, position: Position, at: Duration, message: CcidMessage<'_>) {
        let CcidMessage {
            kind,
            sequence,
            specific,
            data: body,
            ..
        } = message;
        match kind {
            PC_TO_RDR_XFR_BLOCK => {
                let level = u16::from_le_bytes([specific[1], specific[2]]);
                match level {
                    // The whole APDU in one block.
                    0x0000 => {
                        let command = self.within_limit(Vec::new(), body, position);
                        self.expect_apdu(sequence, command, at, position);
                    }
                    // The first block of a chain.
                    0x0001 => {
                        let command = self.within_limit(Vec::new(), body, position);
                        self.sending = Some((command, at, position));
                    }
                    // A middle or last block of a chain.
                    0x0002 | 0x0003 => match self.sending.take() {
                        Some((command, first_at, first)) => {
                            let command =
                                command.and_then(|so_far| self.within_limit(so_far, body, first));
                            if level == 0x0003 {
                                self.sending = Some((command, first_at, first));
                            } else {
                                self.expect_apdu(sequence, command, first_at, first);
                            }
                        }
                        None => self.skip(
                            position,
                            "the continuation of an APDU chain whose start is not in the capture",
                        ),
                    },
                    // "Send the next part of the response": the answer chain continues.
                    0x0010 => {}
                    _ => self.skip(
                        position,
                        format!("an XfrBlock with wLevelParameter {level:04X}"),
                    ),
                }
            }
            PC_TO_RDR_ICC_POWER_ON => {
                self.pending.insert(sequence, Pending::PowerOn { at });
            }
            PC_TO_RDR_ICC_POWER_OFF => {
                self.pending.remove(&sequence);
                self.imported.transcript.push(at, Event::PowerOff);
            }
            other => self.skip(
                position,
                format!("a CCID command {} (not an APDU or power)", ccid_name(other)),
            ),
        }
    }

    /// `so_far` with `more` appended, or `None` (counted as skipped at `first`, the APDU's
    /// first block) when that is longer than any APDU.
    fn within_limit(
        &mut self,
        mut so_far: Vec<u8>,
        more: &[u8],
        first: Position,
    ) -> Option<Vec<u8>> {
        if so_far.len() + more.len() > MAX_APDU_LEN {
            self.skip(
                first,
                format!("a command longer than an extended APDU ({MAX_APDU_LEN} bytes)"),
            );
            return None;
        }
        so_far.extend_from_slice(more);
        Some(so_far)
    }

    /// Waits for the answer to `command` (`None`: one too long, whose answer is passed over).
    fn expect_apdu(
        &mut self,
        sequence: u8,
        command: Option<Vec<u8>>,
        at: Duration,
        position: Position,
    ) {
        let waiting = match command {
            Some(command) => Pending::Apdu {
                command,
                response: Vec::new(),
                at,
                position,
            },
            None => Pending::Refused,
        };
        if let Some(Pending::Apdu {
            position: earlier, ..
        }) = self.pending.insert(sequence, waiting)
        {
            self.skip(earlier, "an APDU whose answer is not in the capture");
        }
    }

    fn answer(&mut self, position: Position, message: CcidMessage<'_>) {
        let CcidMessage {
            kind,
            sequence,
            specific,
            data: body,
            ..
        } = message;
        let [status, error, chain] = specific;
        match kind {
            RDR_TO_PC_DATA_BLOCK => {}
            RDR_TO_PC_SLOT_STATUS | 0x82..=0x84 => return,
            other => {
                return self.skip(
                    position,
                    format!("a CCID answer {} (not an APDU or power)", ccid_name(other)),
                )
            }
        }
        // bmCommandStatus 2: the card asked for more time; the answer comes later. Chain
        // parameter 10: the reader took one part of a command chain and waits for the next.
        if status & 0xC0 == 0x80 || (status & 0xC0 == 0 && chain == 0x10) {
            return;
        }
        let Some(pending) = self.pending.remove(&sequence) else {
            return self.skip(
                position,
                "an answer to a command that is not in the capture",
            );
        };
        let failed = (status & 0xC0 == 0x40).then(|| ReaderFailure {
            kind: if status & 0x03 == 0x02 {
                FailureKind::NoCard
            } else {
                FailureKind::Transmission
            },
            message: format!("the reader reported error {error:02X} (bStatus {status:02X})"),
        });
        // bChainParameter 1 / 3: more of the response follows.
        let more_follows = failed.is_none() && (chain == 0x01 || chain == 0x03);
        match pending {
            Pending::Refused => {
                if more_follows {
                    self.pending
                        .insert(sequence.wrapping_add(1), Pending::Refused);
                }
            }
            Pending::PowerOn { at } => {
                let atr = (failed.is_none() && !body.is_empty()).then(|| body.to_vec());
                self.imported.transcript.push(at, Event::PowerOn { atr });
            }
            Pending::Apdu {
                command,
                mut response,
                at,
                position: first,
            } => {
                if response.len() + body.len() > MAX_APDU_LEN {
                    self.skip(
                        first,
                        format!("an answer longer than an extended APDU ({MAX_APDU_LEN} bytes)"),
                    );
                    if more_follows {
                        self.pending
                            .insert(sequence.wrapping_add(1), Pending::Refused);
                    }
                    return;
                }
                response.extend_from_slice(body);
                if more_follows {
                    self.pending.insert(
                        sequence.wrapping_add(1),
                        Pending::Apdu {
                            command,
                            response,
                            at,
                            position: first,
                        },
                    );
                    return;
                }
                let answer = match failed {
                    Some(failure) => ExchangeAnswer::Failed(failure),
                    None => ExchangeAnswer::Response(response),
                };
                self.imported
                    .transcript
                    .push(at, Event::Apdu(ApduExchange::new(&command, answer)));
            }
        }
    }

    fn finish(mut self) -> Imported {
        let mut left: Vec<Position> = self
            .pending
            .values()
            .filter_map(|pending| match pending {
                Pending::Apdu { position, .. } => Some(*position),
                Pending::PowerOn { .. } | Pending::Refused => None,
            })
            .collect();
        left.sort_by_key(|position| match position {
            Position::Block { index, .. } => *index,
            Position::Line(line) => *line,
        });
        for position in left {
            self.skip(position, "an APDU whose answer is not in the capture");
        }
        if let Some((Some(_), _, position)) = self.sending.take() {
            self.skip(position, "an APDU chain that the capture ends in");
        }
        // A simple-packet-only capture has no timestamps, hence no date.
        self.imported.started = self.start.and_then(|start| {
            DateTime::<Utc>::from_timestamp(
                i64::try_from(start.as_secs()).ok()?,
                start.subsec_nanos(),
            )
        });
        self.imported
    }
}

/// A payload that is a whole CCID message: a PC_to_RDR command (6x) going out, an RDR_to_PC
/// answer (8x) coming back, a NotifySlotChange on the interrupt endpoint.
fn looks_like_ccid(transfer_type: u8, inbound: bool, payload: &[u8]) -> bool {
    match (transfer_type, inbound, payload) {
        (1, true, [RDR_TO_PC_NOTIFY_SLOT_CHANGE, _, ..]) => true,
        (3, false, [0x61..=0x6F, ..]) | (3, true, [0x80..=0x84, ..]) => {
            split_ccid(payload).is_some()
        }
        _ => false,
    }
}

/// One CCID message (USB CCID 1.1 §6: a 10-byte header, then `dwLength` bytes of data).
struct CcidMessage<'a> {
    kind: u8,
    slot: u8,
    sequence: u8,
    /// The three message-specific header bytes (bBWI + wLevelParameter going out; bStatus,
    /// bError, bChainParameter coming back).
    specific: [u8; 3],
    data: &'a [u8],
}

/// The CCID message `payload` holds, when its length field matches.
fn split_ccid(payload: &[u8]) -> Option<CcidMessage<'_>> {
    let header = payload.get(..CCID_HEADER_LEN)?;
    let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let data = payload.get(CCID_HEADER_LEN..)?;
    (data.len() == length).then_some(CcidMessage {
        kind: header[0],
        slot: header[5],
        sequence: header[6],
        specific: [header[7], header[8], header[9]],
        data,
    })
}

fn ccid_name(kind: u8) -> String {
    let name = match kind {
        0x61 => "SetParameters",
        0x65 => "GetSlotStatus",
        0x6B => "Escape",
        0x6C => "GetParameters",
        0x6D => "ResetParameters",
        0x6E => "IccClock",
        0x6A => "T0APDU",
        0x69 => "Secure",
        0x71 => "Mechanical",
        0x72 => "Abort",
        0x73 => "SetDataRateAndClockFrequency",
        0x51 => "HardwareError",
        _ => "",
    };
    if name.is_empty() {
        format!("{kind:02X}")
    } else {
        format!("{kind:02X} ({name})")
    }
}

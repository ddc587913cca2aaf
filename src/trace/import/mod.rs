//! Captures made outside the harness, turned into the exchange log: pcscd's APDU log
//! ([`pcscd`]) and USB captures of a CCID reader ([`pcapng`]). Both yield a [`Transcript`] that
//! is written in the same `myna-hil-trace` v1 format as `card serve --record`
//! ([`super::record::write_transcript`]), so replay and scenario generation read one format.
//!
//! An import never guesses silently: what it cannot carry into the log (an APDU without an
//! answer, a packet of another USB device, an unknown CCID message, an APDU longer than an
//! extended APDU) is counted by reason in [`Imported`] with its first position; a file that is
//! not such a capture, or that ends in the middle of a record, is an [`ImportError`] naming
//! the position.
//!
//! A capture is read as a stream, one record (a line, a block) at a time, and no record is
//! kept beyond [`MAX_APDU_LEN`] bytes of APDU: memory follows the exchanges imported, never the
//! size of one hostile record or of what is skipped.

pub mod pcapng;
pub(crate) mod pcscd;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::exchange::Transcript;

/// Where in a capture something was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A line of a text log (1-based).
    Line(usize),
    /// A pcap/pcapng block (0-based, the file header being block 0) and its byte offset.
    Block {
        /// 0-based block number (the file header is block 0).
        index: usize,
        /// Byte offset of the block in the file.
        offset: usize,
    },
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(line) => write!(f, "line {line}"),
            Position::Block { index, offset } => write!(f, "block {index} (byte offset {offset})"),
        }
    }
}

/// Something the import left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where in the capture.
    pub position: Position,
    /// Why it was left out (not CCID, not an APDU exchange …).
    pub reason: String,
}

/// The longest APDU an import accepts, command or answer: an extended case-4 command (4 header
/// bytes, 3 of Lc, 65,535 of data, 2 of Le; ISO/IEC 7816-4). Anything longer is not an
/// APDU (an endless CCID chain, a corrupt length) and is skipped, counted.
pub const MAX_APDU_LEN: usize = 65_544;

/// How many skipped records are listed one by one; the rest are only counted by reason.
const MAX_LISTED: usize = 1_000;
/// How many distinct reasons are counted apart; further ones are counted together.
const MAX_REASONS: usize = 64;

/// A capture read into the exchange log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// The exchanges the capture holds.
    pub transcript: Transcript,
    /// When the capture started, when the capture says (a pcapng timestamp) or the caller knew.
    pub started: Option<DateTime<Utc>>,
    /// What was left out, in capture order: the first thousand (all are counted in
    /// [`Imported::skipped_count`]).
    pub skipped: Vec<Skipped>,
    /// Per reason: how many were left out and the first position.
    skipped_by_reason: BTreeMap<String, (usize, Position)>,
}

impl Imported {
    /// Counts one record left out (and lists it while the list is short).
    pub(crate) fn skip(&mut self, position: Position, reason: impl Into<String>) {
        let reason = reason.into();
        let key = if self.skipped_by_reason.len() < MAX_REASONS
            || self.skipped_by_reason.contains_key(&reason)
        {
            reason.clone()
        } else {
            "records left out for other reasons".to_owned()
        };
        self.skipped_by_reason.entry(key).or_insert((0, position)).0 += 1;
        if self.skipped.len() < MAX_LISTED {
            self.skipped.push(Skipped { position, reason });
        }
    }

    /// How many records were left out in all.
    pub fn skipped_count(&self) -> usize {
        self.skipped_by_reason
            .values()
            .map(|(count, _)| count)
            .sum()
    }

    /// One line per reason with its count and first position, for the user.
    pub(crate) fn skipped_summary(&self) -> Vec<String> {
        self.skipped_by_reason
            .iter()
            .map(|(reason, (count, first))| format!("{count} × {reason} (first at {first})"))
            .collect()
    }
}

/// Why a capture could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The capture cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The capture file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file is not a capture of the kind asked for.
    #[error("{path}, {position}: not {expected}: {found}")]
    Foreign {
        /// The capture file.
        path: PathBuf,
        /// Where the mismatch was found.
        position: Position,
        /// What the format has there.
        expected: &'static str,
        /// What the capture has instead.
        found: String,
    },
    /// The capture ends in the middle of a record.
    #[error("{path}, {position}: truncated: {message}")]
    Truncated {
        /// The capture file.
        path: PathBuf,
        /// Where the cut-off record started.
        position: Position,
        /// What was cut off.
        message: String,
    },
    /// A record that cannot be read.
    #[error("{path}, {position}: {message}")]
    Malformed {
        /// The capture file.
        path: PathBuf,
        /// Where the record is.
        position: Position,
        /// What is wrong with it.
        message: String,
    },
}

/// The capture formats `trace import --from` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CaptureFormat {
    /// The log of `pcscd --foreground --debug --apdu`.
    Pcscd,
    /// A USB capture (pcapng or pcap) of a CCID reader: USBPcap or Linux usbmon.
    Pcapng,
}

/// Reads `path` as a capture of `format`, as a stream.
pub(crate) fn import(path: &Path, format: CaptureFormat) -> Result<Imported, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let input = BufReader::new(file);
    match format {
        CaptureFormat::Pcscd => pcscd::parse(input).map_err(|error| error.at(path)),
        CaptureFormat::Pcapng => pcapng::parse_stream(input).map_err(|error| error.at(path)),
    }
}

/// The first bytes of `input` (for [`describe_start`]), without consuming them.
fn peek_start(input: &mut impl BufRead) -> Result<Vec<u8>, ParseError> {
    let head = input.fill_buf().map_err(|error| ParseError::Malformed {
        position: Position::Block {
            index: 0,
            offset: 0,
        },
        message: format!("cannot read: {error}"),
    })?;
    Ok(head[..head.len().min(8)].to_vec())
}

/// An import error before the file name is known (the parsers work on bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The data is not of the format expected.
    Foreign {
        /// Where the mismatch was found.
        position: Position,
        /// What the format has there.
        expected: &'static str,
        /// What the data has instead.
        found: String,
    },
    /// The data ends in the middle of a record.
    Truncated {
        /// Where the record started.
        position: Position,
        /// What was cut off.
        message: String,
    },
    /// A record cannot be understood.
    Malformed {
        /// Where the record is.
        position: Position,
        /// What is wrong with it.
        message: String,
    },
}

impl ParseError {
    fn at(self, path: &Path) -> ImportError {
        let path = path.to_path_buf();
        match self {
            ParseError::Foreign {
                position,
                expected,
                found,
            } => ImportError::Foreign {
                path,
                position,
                expected,
                found,
            },
            ParseError::Truncated { position, message } => ImportError::Truncated {
                path,
                position,
                message,
            },
            ParseError::Malformed { position, message } => ImportError::Malformed {
                path,
                position,
                message,
            },
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Foreign {
                position,
                expected,
                found,
            } => write!(f, "{position}: not {expected}: {found}"),
            ParseError::Truncated { position, message } => {
                write!(f, "{position}: truncated: {message}")
            }
            ParseError::Malformed { position, message } => write!(f, "{position}: {message}"),
        }
    }
}

/// What a file that is not the expected capture starts with, for the error message.
fn describe_start(bytes: &[u8]) -> String {
    const KNOWN: &[(&[u8], &str)] = &[
        (b"\x89PNG", "a PNG image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "a gzip file"),
        (b"\x0a\x0d\x0d\x0a", "a pcapng capture"),
        (b"\xd4\xc3\xb2\xa1", "a pcap capture"),
        (b"\xa1\xb2\xc3\xd4", "a pcap capture"),
        (b"{", "JSON (a myna-hil trace?)"),
    ];
    let head = &bytes[..bytes.len().min(8)];
    let named = KNOWN
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, name)| format!(" ({name})"))
        .unwrap_or_default();
    if bytes.is_empty() {
        "the file is empty".to_owned()
    } else {
        format!("it starts with {}{named}", crate::apdu::to_spaced_hex(head))
    }
}

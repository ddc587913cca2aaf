//! APDU transcripts: record with timestamps, redact PINs, replay, diff.
//!
//! The format is documented on [`record`]: JSON lines, one event per line.
pub mod cli;
pub mod record;
pub mod redact;

pub use record::{read_trace, PinRecording, TraceError, TraceEvent, TraceLine, TraceRecorder};

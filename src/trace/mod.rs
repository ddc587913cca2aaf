//! APDU transcripts: record with timestamps, redact PINs, replay, diff.
//!
//! The format is documented on [`record`]: JSON lines, one event per line.
pub mod cli;
pub mod record;
pub mod redact;
pub mod replay;

pub use record::{
    read_trace, read_trace_numbered, PinRecording, TraceError, TraceEvent, TraceLine, TraceRecorder,
};

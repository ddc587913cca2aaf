//! The exchange log and its written form: [`exchange`] (commands, answers, power and reader
//! events, kept in memory with their secrets), [`record`] (the JSON-lines transcript
//! `myna-hil-trace` v1), [`redact`] (the one place secrets are hidden when rendered or
//! written), [`import`] (pcscd logs and USB captures read into the exchange log), `lines`
//! (text read line by line with a bound), [`cli`] (`trace import`). Below the transport layer:
//! it knows APDUs, not readers.
pub mod cli;
pub(crate) mod exchange;
pub mod import;
pub(crate) mod lines;
pub mod record;
pub(crate) mod redact;

pub use exchange::{
    ApduExchange, Entry, Event, ExchangeAnswer, FailureKind, PowerChange, ReaderFailure,
    SharedTranscript, Transcript,
};
pub use record::{
    read_trace, read_trace_numbered, started_at, write_transcript, PinRecording, TraceError,
    TraceEvent, TraceLine, TraceRecorder, TraceSink,
};

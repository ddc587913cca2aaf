//! The exchange log and its written form: [`exchange`] (commands, answers, power and reader
//! events, kept in memory with their secrets), [`record`] (the JSON-lines transcript
//! `myna-hil-trace` v1), [`redact`] (the one place secrets are hidden when rendered or
//! written), [`import`] (pcscd logs and USB captures read into the exchange log), `lines`
//! (text read line by line with a bound), [`cli`] (`trace import`). Below the transport layer:
//! it knows APDUs, not readers.
pub(crate) mod cli;
pub(crate) mod exchange;
pub mod import;
pub(crate) mod lines;
pub(crate) mod record;
pub(crate) mod redact;

pub(crate) use exchange::Entry;
pub(crate) use exchange::FailureKind;
pub(crate) use exchange::PowerChange;
pub(crate) use exchange::ReaderFailure;
pub use exchange::{ApduExchange, Event, ExchangeAnswer, SharedTranscript, Transcript};
pub(crate) use record::read_trace_numbered;
pub(crate) use record::TraceError;
pub use record::{
    read_trace, started_at, write_transcript, PinRecording, TraceEvent, TraceLine, TraceRecorder,
    TraceSink,
};

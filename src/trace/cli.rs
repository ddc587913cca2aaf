//! `myna-hil trace import`: a capture made at a clinic (pcscd's APDU log, a USB capture of the
//! CCID reader) written as a `myna-hil-trace` transcript.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::import::{import, CaptureFormat, ImportError, Imported};
use super::record::{write_transcript, PinRecording, TraceError};

/// The `trace import` command's options: the capture, its format and the transcript to write.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ImportArgs {
    /// What kind of capture FILE is.
    #[arg(long, value_enum)]
    pub(crate) from: CaptureFormat,
    /// The capture.
    pub(crate) file: PathBuf,
    /// The transcript to write (JSON lines, as `card serve --record` writes).
    #[arg(short = 'o', long = "output")]
    pub(crate) output: PathBuf,
    /// Keep PIN bytes in the transcript (by default they are written as `XX`).
    #[arg(long)]
    pub(crate) record_pins: bool,
    /// When the capture started (RFC 3339, e.g. 2026-11-20T09:15:00+09:00). A pcscd log has
    /// no date: without this, its end is taken to be the file's modification time. A pcapng
    /// capture carries its own timestamps, which this overrides.
    #[arg(long)]
    pub(crate) started: Option<DateTime<chrono::FixedOffset>>,
}

/// Why a capture could not be imported.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TraceCliError {
    /// The capture cannot be read as the format given.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The transcript cannot be written.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The capture or the output cannot be opened.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Imports the capture; a summary (what was skipped, counted by reason) goes to stderr.
pub(crate) fn import_capture(args: ImportArgs) -> Result<ExitCode, TraceCliError> {
    let imported = import(&args.file, args.from)?;
    let started = match args.started {
        Some(started) => started.with_timezone(&Utc),
        None => match imported.started {
            Some(started) => started,
            None => end_from_modification_time(&args.file, &imported)?,
        },
    };
    let pins = if args.record_pins {
        PinRecording::Kept
    } else {
        PinRecording::Redacted
    };
    let source = match args.from {
        CaptureFormat::Pcscd => "pcscd-log",
        CaptureFormat::Pcapng => "usb-capture",
    };
    write_transcript(
        &args.output,
        &format!("{source}:{}", args.file.display()),
        None,
        pins,
        started,
        &imported.transcript,
    )?;
    eprint!("{}", summary(&args, &imported));
    Ok(ExitCode::SUCCESS)
}

/// The start of a log that carries no date: its last line was written when the file was last
/// modified.
fn end_from_modification_time(
    path: &Path,
    imported: &Imported,
) -> Result<DateTime<Utc>, TraceCliError> {
    let modified = std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .map_err(|source| TraceCliError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let length = imported
        .transcript
        .entries
        .last()
        .map_or(std::time::Duration::ZERO, |entry| entry.at);
    let end = DateTime::<Utc>::from(modified);
    Ok(chrono::Duration::from_std(length)
        .ok()
        .and_then(|length| end.checked_sub_signed(length))
        .unwrap_or(end))
}

fn summary(args: &ImportArgs, imported: &Imported) -> String {
    let transcript = &imported.transcript;
    let apdus = transcript.exchanges().count();
    let mut text = format!(
        "imported {}: {} APDUs, {} other events, {} skipped → {}\n",
        args.file.display(),
        apdus,
        transcript.entries.len() - apdus,
        imported.skipped_count(),
        args.output.display()
    );
    for line in imported.skipped_summary() {
        text.push_str(&format!("  skipped {line}\n"));
    }
    text
}

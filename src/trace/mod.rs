//! APDU transcripts: record with timestamps, redact PINs, replay, diff.

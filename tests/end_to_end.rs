//! The end-to-end tests: the emulated card served to the real pcscd + vpcd (OpenSC, pyscard,
//! the certification harness) and over a serial pty pair. They take turns on pcscd through
//! `support::lock_pcscd`, since only one pcscd runs per machine. One binary, so the shared
//! dependencies are linked once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod support;

mod certify_device;
mod certify_driver;
mod certify_faults;
mod certify_hostile_driver;
mod certify_html;
mod certify_phone;
mod certify_reference;
mod pcsc_client;
mod pcsc_independent_client;
mod pcsc_opensc;
mod pcsc_two_slots;
mod pcscd_foreign;
mod reader_vpcd;
mod scenario_vpcd;
mod serial_line;
mod trace_clinic;

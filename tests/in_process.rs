//! The in-process integration tests: the card, the qualification system (in process and over
//! its HTTP server on loopback), the reader flow, scenarios, reports, traces, the CLI and the
//! architecture rules. One binary with a module per area, so the shared dependencies are linked
//! once; the pcscd end-to-end tests live in `end_to_end`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod support;

mod api_conformance;
mod architecture;
mod bench_cli;
mod card_description;
mod card_props;
mod card_secure_messaging;
mod card_session;
mod card_signatures;
mod card_transcript;
mod card_vectors;
mod certify_bad_input;
mod cli_errors;
mod cli_run_bad_input;
mod cli_run_reports;
mod emr_parsers;
mod hostile_cli_input;
mod hostile_cli_serve;
mod hostile_files;
mod hostile_http;
mod hostile_xml;
mod oqs_check;
mod oqs_registry;
mod oqs_rules;
mod oqs_serve;
mod oqs_smartphone;
mod oqs_xml;
mod pki_certificates;
mod reader_flow;
mod scenario_expectations;
mod scenario_report;
mod scenario_suite;
mod spec_citations;
mod trace_import;
mod trace_replay;

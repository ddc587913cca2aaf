//! `myna-hil bench`: qualification lookups, checks, receptions and card APDUs under load,
//! in process or against a running `myna-hil oqs serve` over HTTP.
//!
//! - [`cli`]: the run, over `args` (the arguments and their checks); `workloads` builds each workload's
//!   requests, `presign` the `check` workload's holders and signed requests, `parallel` maps
//!   over every CPU;
//! - [`drive`]: the load models (open loop on a schedule, closed loop with N terminals);
//! - [`in_process`] / [`http`]: the workloads, called directly or sent over kept-alive
//!   HTTP/1.1 connections;
//! - [`population`]: whom to ask for — the persons of `oqs serve --synthetic N --seed S`,
//!   found by replaying the generator — and their certificates;
//! - [`mix`], [`judge`]: which answers the requests are built to provoke, and the check that
//!   each answer is that one;
//! - [`record`], [`report`], [`progress`]: HDR histograms, the summary, JSON and SVG.
//!
//! The top layer beside `scenario` and `certify`: it may use `oqs`, `reader`, `card`, `pki`,
//! `transport`; nothing imports it.

mod args;
pub(crate) mod cli;
pub(crate) mod drive;
pub mod http;
pub mod in_process;
pub(crate) mod judge;
pub(crate) mod mix;
mod parallel;
pub mod population;
mod presign;
pub(crate) mod progress;
pub(crate) mod record;
pub(crate) mod report;
mod workloads;

//! Certifying a vendor's reader and terminal (the device under test): `myna-hil certify`.
//!
//! - [`suite`], [`catalogue`]: the conformance suite as data (`certify/`), loaded strictly;
//! - [`world`]: each case's card and the registry, valid on the day of the run;
//! - [`slot`], [`oqs_server`]: the card served to vpcd or a serial front end, the
//!   qualification system over HTTP, both recorded;
//! - [`protocol`], [`dut`], [`driver`], [`process_group`], [`operator`]: driving the device
//!   (a driver process in a process group of its own, or a person at it);
//! - [`observed`], [`judge`]: what was seen, and the verdict per requirement;
//! - [`run`], [`report`], [`cli`]: the run, report.json / junit.xml / report.html, the command.

pub(crate) mod catalogue;
pub(crate) mod cli;
pub mod device;
pub(crate) mod driver;
pub(crate) mod dut;
pub(crate) mod judge;
pub(crate) mod observed;
pub(crate) mod operator;
pub(crate) mod oqs_server;
pub(crate) mod process_group;
pub mod protocol;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod slot;
pub mod suite;
pub(crate) mod world;

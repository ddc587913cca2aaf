//! Certifying a vendor's reader and terminal (the device under test): `myna-hil certify`.
//!
//! - [`suite`], [`catalogue`]: the conformance suite as data (`certify/`), loaded strictly;
//! - [`world`]: each case's card and the registry, valid on the day of the run;
//! - [`slot`], [`oqs_server`]: the card served to vpcd or a serial front end, the
//!   qualification system over HTTP, both recorded;
//! - [`protocol`], [`dut`], [`driver`], [`operator`]: driving the device (driver process or a
//!   person at it);
//! - [`observed`], [`judge`]: what was seen, and the verdict per requirement;
//! - [`run`], [`report`], [`cli`]: the run, report.json / junit.xml / report.html, the command.

pub mod catalogue;
pub mod cli;
pub mod device;
pub mod driver;
pub mod dut;
pub mod judge;
pub mod observed;
pub mod operator;
pub mod oqs_server;
pub mod protocol;
pub mod report;
pub mod run;
pub mod slot;
pub mod suite;
pub mod world;

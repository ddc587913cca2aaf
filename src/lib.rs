//! myna-hil: a hardware-in-the-loop simulator and conformance harness for the
//! マイナンバーカード used as a health-insurance card (マイナ保険証).
//!
//! Data flows one way: scenario → world (registry + cards + clock) → reader flow →
//! transport → card. The card core ([`card`]) is pure and synchronous; tokio lives at the
//! edges ([`transport`] servers, [`oqs`] HTTP).

// Code that talks to real PC/SC readers (compare, the real-card guard, the reference device's
// HTTP client) is compiled in every build, so that one source serves both; only a `pcsc` build
// calls it. Dead code is still caught: CI runs clippy with every feature on.
#![cfg_attr(
    not(feature = "pcsc"),
    allow(dead_code, reason = "used only by the `pcsc` feature's callers")
)]

pub mod apdu;
pub mod bench;
pub mod card;
pub mod certify;
pub mod cli;
pub(crate) mod excerpt;
pub mod oqs;
pub mod person;
pub mod pki;
pub mod reader;
pub mod replay;
pub mod scenario;
pub mod trace;
pub mod transport;
pub mod yaml;

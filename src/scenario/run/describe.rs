//! How expected and actual values are written in failure messages: as scenarios write them.

use crate::apdu::to_spaced_hex;
use crate::scenario::schema::{
    PinExpectation, PinsExpectation, PowerAction, PowerExpectation, ResponseExpectation,
    TransportErrorKind,
};

use crate::apdu::StatusWord;
use crate::card::{PinCounters, PinState};
use crate::reader::MessageCode;
use crate::transport::TransportError;

pub(super) fn codes_text(codes: &[MessageCode]) -> String {
    codes
        .iter()
        .map(|code| code.code())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn describe_messages(codes: &[MessageCode]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        format!(", messages [{}]", codes_text(codes))
    }
}

pub(super) fn pin_matches(want: PinExpectation, have: Option<PinState>) -> bool {
    match (want, have) {
        (PinExpectation::Absent, None) => true,
        (PinExpectation::TriesLeft(n), Some(state)) => state.tries_left == n,
        _ => false,
    }
}

/// "SW 90 00 (success), 4 bytes: 30 82 05 1A".
pub(crate) fn describe_rapdu(rapdu: &[u8]) -> String {
    let Some(sw) = StatusWord::from_rapdu(rapdu) else {
        return format!("malformed answer {}", to_spaced_hex(rapdu));
    };
    let data = &rapdu[..rapdu.len() - 2];
    let sw_text = format!("SW {sw} ({})", sw.meaning());
    if data.is_empty() {
        format!("{sw_text}, no data")
    } else {
        format!(
            "{sw_text}, {} bytes: {}",
            data.len(),
            crate::scenario::pattern::spaced_hex_elided(data, 16)
        )
    }
}

pub(super) fn describe_error(error: &TransportError) -> String {
    format!("reader error `{}`: {error}", TransportErrorKind::of(error))
}

pub(super) fn describe_response_expectation(expect: &ResponseExpectation) -> String {
    if let Some(kind) = expect.error {
        return format!("reader error `{kind}`");
    }
    let mut parts = Vec::new();
    if let Some(sw) = expect.sw {
        parts.push(format!("SW {sw}"));
    }
    if let Some(len) = expect.data_len {
        parts.push(format!("{len} bytes of data"));
    }
    if let Some(data) = &expect.data {
        if data.min_len() == 0 && data.is_exact() {
            parts.push("no data".into());
        } else {
            parts.push(format!("data {data}"));
        }
    }
    parts.join(", ")
}

pub(super) fn describe_power_expectation(action: PowerAction, expect: &PowerExpectation) -> String {
    match (&expect.atr, expect.error) {
        (_, Some(kind)) => format!("power: {action}; reader error `{kind}`"),
        (Some(atr), None) => format!("power: {action}; ATR {atr}"),
        (None, None) => format!("power: {action} succeeds"),
    }
}

pub(super) fn describe_pins_expectation(expected: &PinsExpectation) -> String {
    let mut parts = Vec::new();
    for (name, want) in [
        ("auth", expected.auth),
        ("signing", expected.signing),
        ("text", expected.text),
    ] {
        if let Some(want) = want {
            parts.push(format!("{name} {want}"));
        }
    }
    parts.join(", ")
}

pub(super) fn describe_counters(counters: &PinCounters) -> String {
    let one = |state: Option<PinState>| match state {
        Some(state) => format!("{}/{}", state.tries_left, state.max_tries),
        None => "none".to_owned(),
    };
    format!(
        "auth {}, signing {}, text {}",
        one(counters.auth),
        one(counters.signing),
        one(counters.text)
    )
}

//! The device under test as the run sees it: driven by a driver process or by a person.

use std::time::Duration;

use chrono::NaiveDate;

use super::catalogue::Question;
use super::observed::Witness;
use super::protocol::{Action, DriverAnswer};

/// Where the device finds the emulated services (the `hello` instruction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) reader: Option<String>,
    /// The generic reader's PC/SC name (the phone's slot), when the run has one.
    pub(crate) generic_reader: Option<String>,
    pub(crate) oqs_url: Option<String>,
    pub(crate) files_dir: Option<String>,
    pub(crate) facility_code: String,
}

/// Why the harness could not get an answer from the device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DeviceError {
    #[error("the device could not be started: {0}")]
    Start(String),
    #[error("the driver broke the protocol: {0}")]
    Protocol(String),
    #[error("timeout: {0}")]
    Timeout(String),
    #[error("the driver went away: {0}")]
    Exited(String),
}

/// A device the harness can drive through the protocol's instructions.
pub(crate) trait DeviceUnderTest {
    /// Who vouches for what the device shows.
    fn witness(&self) -> Witness;
    /// Starts the device; its name and version when it gives them.
    fn hello(&mut self, hello: &Hello) -> Result<Option<String>, DeviceError>;
    /// The actions the device declared (in `hello`) that it cannot do.
    fn declared_unsupported(&self) -> &[String] {
        &[]
    }
    /// Whether the device declared (in `hello`) that it supports the smartphone path; the
    /// cases with phone steps are not run otherwise.
    fn supports_phones(&self) -> bool;
    fn begin_case(&mut self, case: &str, date: NaiveDate) -> Result<DriverAnswer, DeviceError>;
    /// One operator action; `prompt` is the bilingual instruction for a person.
    fn step(
        &mut self,
        case: &str,
        step: u32,
        action: &Action,
        prompt: &str,
        timeout: Duration,
    ) -> Result<DriverAnswer, DeviceError>;
    /// A yes/no question about what the device shows; `None` when nobody can answer.
    fn ask(&mut self, question: &Question) -> Option<bool>;
    fn end_case(&mut self, case: &str) -> Result<DriverAnswer, DeviceError>;
    fn shutdown(&mut self);
}

/// `text` from the device side (a driver's answer, an excerpt of its output) as the harness
/// prints it: control characters, line and paragraph separators and bidirectional overrides
/// written as `\u{…}` escapes, so that nothing a driver sends can move the cursor, recolour
/// or reorder a terminal, a report or a log; and cut to `max_chars` characters, saying how
/// many more there were.
pub(crate) fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut kept = 0;
    let mut total = 0;
    for c in text.chars() {
        total += 1;
        if kept >= max_chars {
            continue;
        }
        kept += 1;
        let hidden = c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if hidden {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    if total > kept {
        out.push_str(&format!("… ({} more characters)", total - kept));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(
            printable("ok\u{1b}[2J\r\n\u{202E}x", 100),
            "ok\\u{1b}[2J\\u{d}\\u{a}\\u{202e}x"
        );
        assert_eq!(printable("有効です", 100), "有効です");
        assert_eq!(printable("abcdef", 3), "abc… (3 more characters)");
    }
}

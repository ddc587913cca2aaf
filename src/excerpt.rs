//! Excerpts of untrusted text for messages: whatever a user's file holds (a 20 MB line, a
//! 100 MB token, control bytes) is shown cut to a bounded length, with how much was left out
//! said, so that an error message never grows with its input. Every loader and importer that
//! echoes input in an error uses this one helper.

/// The longest message printed: long enough for every list of valid choices, short enough
/// that a value echoed from a 20 MB line does not print 20 MB.
pub(crate) const MAX_MESSAGE_CHARS: usize = 2000;

/// The first `max_chars` characters of `text`, and how many characters were left out.
pub(crate) fn cut(text: &str, max_chars: usize) -> (&str, usize) {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => (&text[..end], text[end..].chars().count()),
        None => (text, 0),
    }
}

/// `text`, cut to `max_chars` characters with what was left out said
/// (`… (N more characters)`).
pub(crate) fn bounded(text: &str, max_chars: usize) -> String {
    match cut(text, max_chars) {
        (kept, 0) => kept.to_owned(),
        (kept, more) => format!("{kept}… ({more} more characters)"),
    }
}

/// `text` as a quoted, escaped string (`"…"`, control characters as `\u{1}`), cut to
/// `max_chars` characters of `text` first, so that neither its length nor its escaping can
/// make the message grow with the input.
pub(crate) fn quoted(text: &str, max_chars: usize) -> String {
    match cut(text, max_chars) {
        (kept, 0) => format!("{kept:?}"),
        (kept, more) => format!("{kept:?}… ({more} more characters)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_saying_how_much() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcdef", 3), "abc… (3 more characters)");
        assert_eq!(bounded("個人番号", 2), "個人… (2 more characters)");
        let control = "\u{1}".repeat(1000);
        let shown = quoted(&control, 10);
        assert_eq!(
            shown,
            format!("{:?}… (990 more characters)", "\u{1}".repeat(10))
        );
        assert_eq!(quoted("a\"b", 10), "\"a\\\"b\"");
    }
}

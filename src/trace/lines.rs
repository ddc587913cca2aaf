//! Lines of a text file read with a bound: a line is kept up to a number of bytes and the rest
//! of it is read past (and counted), so a 100 MB line costs no more memory than a short one.
//! The pcscd log import and the transcript reader both read their input so.

use std::io::{self, BufRead};

/// One line as read: the bytes kept (without the line end) and how long the line was.
#[derive(Debug, Default)]
pub(crate) struct BoundedLine {
    /// The line's first bytes, without `\n` (and the `\r` before it).
    pub(crate) kept: Vec<u8>,
    /// The whole line's length in bytes, without its line end.
    pub(crate) length: usize,
    /// Whether the line ended with `\n` (the last line of a file may not).
    pub(crate) terminated: bool,
}

impl BoundedLine {
    /// Whether bytes of the line were read past, not kept.
    pub(crate) fn cut(&self) -> bool {
        self.length > self.kept.len()
    }
}

/// Reads the next line into `line`, keeping at most `max` bytes of it; `false` at the end of
/// the input.
pub(crate) fn read_bounded_line(
    input: &mut impl BufRead,
    max: usize,
    line: &mut BoundedLine,
) -> io::Result<bool> {
    line.kept.clear();
    line.length = 0;
    line.terminated = false;
    loop {
        let buffer = match input.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buffer.is_empty() {
            break;
        }
        let newline = buffer.iter().position(|&b| b == b'\n');
        let content = newline.unwrap_or(buffer.len());
        let room = max.saturating_sub(line.kept.len());
        line.kept.extend_from_slice(&buffer[..content.min(room)]);
        line.length += content;
        input.consume(content + usize::from(newline.is_some()));
        if newline.is_some() {
            line.terminated = true;
            break;
        }
    }
    if line.terminated && !line.cut() && line.kept.last() == Some(&b'\r') {
        line.kept.pop();
        line.length -= 1;
    }
    Ok(line.terminated || line.length > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_up_to_the_bound_and_measured_whole() {
        let text = format!("short\r\n{}\nlast", "x".repeat(100_000));
        let mut input = std::io::BufReader::with_capacity(16, text.as_bytes());
        let mut line = BoundedLine::default();
        assert!(read_bounded_line(&mut input, 10, &mut line).unwrap());
        assert_eq!((line.kept.as_slice(), line.length), (&b"short"[..], 5));
        assert!(line.terminated && !line.cut());
        assert!(read_bounded_line(&mut input, 10, &mut line).unwrap());
        assert_eq!((line.kept.len(), line.length), (10, 100_000));
        assert!(line.cut());
        assert!(read_bounded_line(&mut input, 10, &mut line).unwrap());
        assert_eq!(line.kept, b"last");
        assert!(!line.terminated);
        assert!(!read_bounded_line(&mut input, 10, &mut line).unwrap());
    }
}

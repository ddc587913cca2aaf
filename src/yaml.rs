//! What every YAML loader of the harness (card files, registries, scenarios) shares.

/// The deserializer's message without its own " at line L, column C" suffix: loaders print the
/// location once, in their `file:line:column` prefix.
pub fn plain_message(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    match text.rfind(" at line ") {
        Some(cut) if text[cut..].contains(", column ") => text[..cut].to_owned(),
        _ => text,
    }
}

/// Writes `FILE[:LINE[:COLUMN]]`, the location every load error starts with.
pub fn write_location(
    f: &mut std::fmt::Formatter<'_>,
    file: &std::path::Path,
    line: Option<u64>,
    column: Option<u64>,
) -> std::fmt::Result {
    write!(f, "{}", file.display())?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
        if let Some(column) = column {
            write!(f, ":{column}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
    }

    #[test]
    fn the_location_suffix_is_dropped_and_the_message_kept() {
        let error = serde_saphyr::from_str::<Sample>("nmae: x\n").unwrap_err();
        assert!(error
            .without_snippet()
            .to_string()
            .contains(" at line 1, column 1"));
        assert_eq!(
            plain_message(&error),
            "unknown field `nmae`, expected one of name"
        );
    }
}

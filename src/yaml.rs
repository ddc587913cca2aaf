//! What every YAML loader of the harness (card files, registries, scenarios) shares.

/// The deserializer's message without its own " at line L, column C" suffix: loaders print the
/// location once, in their `file:line:column` prefix.
pub(crate) fn plain_message(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    match text.rfind(" at line ") {
        Some(cut) if text[cut..].contains(", column ") => text[..cut].to_owned(),
        _ => text,
    }
}

/// Writes `FILE[:LINE[:COLUMN]]`, the location every load error starts with.
pub(crate) fn write_location(
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

/// A mapping read as `T` (a derived, `deny_unknown_fields` struct, so serde still lists the
/// valid keys) that also keeps where each key was written, in file order: reports name an
/// expectation by its own line, and checks run in the order the author wrote them.
#[derive(Debug, Clone)]
pub(crate) struct WithKeyLocations<T> {
    pub(crate) value: T,
    /// Every key as written, with the location of the key itself, in file order.
    pub(crate) keys: Vec<(String, serde_saphyr::Location)>,
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for WithKeyLocations<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(KeyLocationsVisitor(std::marker::PhantomData))
    }
}

struct KeyLocationsVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for KeyLocationsVisitor<T> {
    type Value = WithKeyLocations<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        map: A,
    ) -> Result<WithKeyLocations<T>, A::Error> {
        let mut keys = Vec::new();
        let recording = RecordingKeys {
            inner: map,
            keys: &mut keys,
        };
        let value = T::deserialize(serde::de::value::MapAccessDeserializer::new(recording))?;
        Ok(WithKeyLocations { value, keys })
    }
}

/// Passes a mapping through to `T`'s own deserializer, noting each key's location on the way;
/// values are read by the YAML deserializer itself, so their errors keep their locations.
struct RecordingKeys<'k, A> {
    inner: A,
    keys: &'k mut Vec<(String, serde_saphyr::Location)>,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for RecordingKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        use serde::de::IntoDeserializer;
        let Some(key) = self.inner.next_key::<serde_saphyr::Spanned<String>>()? else {
            return Ok(None);
        };
        self.keys.push((key.value.clone(), key.referenced));
        seed.deserialize(key.value.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Keys {
        #[serde(default)]
        b: Option<u8>,
        #[serde(default)]
        c: Vec<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        a: WithKeyLocations<Keys>,
    }

    #[test]
    fn key_locations_are_kept_in_file_order() {
        let outer: Outer = serde_saphyr::from_str("a:\n  c:\n    - x\n  b: 1\n").unwrap();
        let keys: Vec<(&str, u64, u64)> = outer
            .a
            .keys
            .iter()
            .map(|(key, at)| (key.as_str(), at.line(), at.column()))
            .collect();
        assert_eq!(keys, [("c", 2, 3), ("b", 4, 3)]);
        assert_eq!(outer.a.value.b, Some(1));
        assert_eq!(outer.a.value.c, ["x"]);
    }

    #[test]
    fn key_located_mappings_keep_serde_s_errors_and_their_locations() {
        let error = serde_saphyr::from_str::<Outer>("a:\n  b: 1\n  zz: 3\n").unwrap_err();
        assert_eq!(
            plain_message(&error),
            "unknown field `zz`, expected one of b, c"
        );
        assert_eq!(
            error.location().map(|l| (l.line(), l.column())),
            Some((3, 3))
        );
        let error = serde_saphyr::from_str::<Outer>("a:\n  b: 1000\n").unwrap_err();
        assert_eq!(
            error.location().map(|l| (l.line(), l.column())),
            Some((2, 6))
        );
    }
}

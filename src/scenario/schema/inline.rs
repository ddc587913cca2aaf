//! `InlineOrPath`: a value written in place, or the path of a YAML file holding it.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A value written inline as a mapping, or a string naming a YAML file (relative to the file
/// that references it) holding that value: cards, worlds and registries.
#[derive(Debug)]
pub(crate) enum InlineOrPath<T> {
    Path(PathBuf),
    Inline(Box<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for InlineOrPath<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InlineOrPathVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for InlineOrPathVisitor<T> {
            type Value = InlineOrPath<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path to a YAML file (relative to this file) or an inline mapping")
            }

            fn visit_str<E: de::Error>(self, path: &str) -> Result<Self::Value, E> {
                Ok(InlineOrPath::Path(PathBuf::from(path)))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                // Deserializing from the same MapAccess keeps the YAML deserializer's position
                // tracking, so errors inside an inline value still carry their line and column.
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|value| InlineOrPath::Inline(Box::new(value)))
            }
        }

        deserializer.deserialize_any(InlineOrPathVisitor(std::marker::PhantomData))
    }
}

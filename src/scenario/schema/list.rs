//! A list-valued expectation: a bare list (or `{ exactly: [...] }`) is the whole list, in
//! order; `{ contains: [...] }` is items that must appear in the observed list in the order
//! written, with anything else before, between and after them.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a list expectation compares with the observed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListMatch {
    /// The observed list is exactly these items, in this order.
    Exactly,
    /// These items appear in the observed list in this order; others may come between.
    Contains,
}

/// A list expectation as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListExpectation<T> {
    /// Equal to `items`, or containing them in order.
    pub matching: ListMatch,
    /// The items expected.
    pub items: Vec<T>,
}

impl<T> ListExpectation<T> {
    pub(crate) fn exactly(items: Vec<T>) -> ListExpectation<T> {
        ListExpectation {
            matching: ListMatch::Exactly,
            items,
        }
    }

    /// Whether `observed` holds the expectation, `same` telling whether an observed item is
    /// the expected one.
    pub(crate) fn holds_by<U>(&self, observed: &[U], same: impl Fn(&T, &U) -> bool) -> bool {
        match self.matching {
            ListMatch::Exactly => {
                self.items.len() == observed.len()
                    && self
                        .items
                        .iter()
                        .zip(observed)
                        .all(|(want, have)| same(want, have))
            }
            ListMatch::Contains => {
                let mut rest = observed.iter();
                self.items
                    .iter()
                    .all(|want| rest.by_ref().any(|have| same(want, have)))
            }
        }
    }
}

impl<T: PartialEq> ListExpectation<T> {
    pub(crate) fn holds(&self, observed: &[T]) -> bool {
        self.holds_by(observed, |want, have| want == have)
    }
}

/// Written back as a scenario writes it: a bare list, or `{ contains: [...] }`.
impl<T: Serialize> Serialize for ListExpectation<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.matching {
            ListMatch::Exactly => self.items.serialize(serializer),
            ListMatch::Contains => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("contains", &self.items)?;
                map.end()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ListKey {
    Exactly,
    Contains,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ListExpectation<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = ListExpectation<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list, `{ exactly: [...] }` or `{ contains: [...] }`")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let items = Vec::<T>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(ListExpectation::exactly(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(key) = map.next_key::<ListKey>()? else {
            return Err(de::Error::custom(
                "an empty mapping: write `{ exactly: [...] }` or `{ contains: [...] }`",
            ));
        };
        let items: Vec<T> = map.next_value()?;
        if map.next_key::<ListKey>()?.is_some() {
            return Err(de::Error::custom(
                "write one of `exactly` or `contains`, not both",
            ));
        }
        let matching = match key {
            ListKey::Exactly => ListMatch::Exactly,
            ListKey::Contains if items.is_empty() => {
                return Err(de::Error::custom(
                    "`contains: []` checks nothing; write `[]` for an empty list",
                ))
            }
            ListKey::Contains => ListMatch::Contains,
        };
        Ok(ListExpectation { matching, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load error's message and its line and column.
    type Refusal = (String, Option<(u64, u64)>);

    fn read(yaml: &str) -> Result<ListExpectation<String>, Refusal> {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            list: ListExpectation<String>,
        }
        serde_saphyr::from_str::<Doc>(yaml)
            .map(|doc| doc.list)
            .map_err(|error| {
                (
                    crate::yaml::plain_message(&error),
                    error.location().map(|l| (l.line(), l.column())),
                )
            })
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn a_bare_list_and_exactly_are_the_whole_list_in_order() {
        for yaml in ["list: [a, b]\n", "list: { exactly: [a, b] }\n"] {
            let list = read(yaml).unwrap();
            assert_eq!(list.matching, ListMatch::Exactly);
            assert!(list.holds(&strings(&["a", "b"])));
            assert!(!list.holds(&strings(&["b", "a"])));
            assert!(!list.holds(&strings(&["a", "b", "c"])));
        }
    }

    #[test]
    fn contains_is_these_items_in_order_with_others_between() {
        let list = read("list:\n  contains: [a, c]\n").unwrap();
        assert_eq!(list.matching, ListMatch::Contains);
        assert!(list.holds(&strings(&["a", "c"])));
        assert!(list.holds(&strings(&["x", "a", "b", "c", "y"])));
        assert!(!list.holds(&strings(&["c", "a"])));
        assert!(!list.holds(&strings(&["a", "b"])));
        let twice = read("list: { contains: [a, a] }\n").unwrap();
        assert!(!twice.holds(&strings(&["a", "b"])));
        assert!(twice.holds(&strings(&["a", "b", "a"])));
    }

    #[test]
    fn unknown_keys_and_meaningless_forms_are_load_errors_with_their_location() {
        let (message, at) = read("list:\n  containz: [a]\n").unwrap_err();
        assert_eq!(
            message,
            "unknown field `containz`, expected one of exactly, contains"
        );
        assert_eq!(at, Some((2, 3)));
        let (message, _) = read("list: { exactly: [a], contains: [b] }\n").unwrap_err();
        assert_eq!(message, "write one of `exactly` or `contains`, not both");
        let (message, _) = read("list: { contains: [] }\n").unwrap_err();
        assert!(
            message.starts_with("`contains: []` checks nothing"),
            "{message}"
        );
        let (message, _) = read("list: a\n").unwrap_err();
        assert!(message.contains("`{ contains: [...] }`"), "{message}");
    }
}

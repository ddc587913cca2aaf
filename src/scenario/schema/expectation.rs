//! `expect:` of a step, one type per action: each type lists exactly the keys its action can
//! produce, so a key that belongs to another action is refused while the file is parsed, with
//! the keys that do apply.
//!
//! A step's `expect:` is typed by the action key written before it (see
//! [`super::step::StepDoc`]); [`ExpectationSeed`] reads it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::reception::ReceptionStepExpectation;
use crate::oqs::codes::QualificationValidity;
use crate::scenario::pattern::{BytePattern, SwPattern};

/// The expectation type of one action.
pub trait StepExpectation: DeserializeOwned {
    /// The action key the expectation belongs to (`send`, `power`, …).
    const ACTION: &'static str;

    /// Rules between keys that a struct of optional fields cannot state; the message says
    /// which keys conflict.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// `expect:` of a `send` step: either an answer (`sw`, `data`, `data_len`) or a reader error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseExpectation {
    /// The status word the answer must carry.
    #[serde(default)]
    pub sw: Option<SwPattern>,
    /// The data the answer must carry (before the status word).
    #[serde(default)]
    pub data: Option<BytePattern>,
    /// How many data bytes the answer must carry.
    #[serde(default)]
    pub data_len: Option<usize>,
    /// The reader error expected instead of an answer.
    #[serde(default)]
    pub error: Option<TransportErrorKind>,
}

impl StepExpectation for ResponseExpectation {
    const ACTION: &'static str = "send";

    fn validate(&self) -> Result<(), String> {
        let answer_keys = [
            ("sw", self.sw.is_some()),
            ("data", self.data.is_some()),
            ("data_len", self.data_len.is_some()),
        ];
        let first_answer_key = answer_keys
            .iter()
            .find_map(|(key, used)| used.then_some(*key));
        if let (Some(_), Some(key)) = (self.error, first_answer_key) {
            return Err(no_answer_with(key));
        }
        if self.error.is_none() && first_answer_key.is_none() {
            return Err(
                "`expect:` is empty; expected at least one of sw, data, data_len, error".into(),
            );
        }
        if let (Some(data), Some(len)) = (&self.data, self.data_len) {
            if data.is_exact() && data.min_len() != len {
                return Err(format!(
                    "`data` is {} bytes but `data_len` says {len}",
                    data.min_len()
                ));
            }
        }
        Ok(())
    }
}

/// `expect:` of a `power` step: an ATR pattern, or a reader error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerExpectation {
    /// The ATR the card must answer.
    #[serde(default)]
    pub atr: Option<BytePattern>,
    #[serde(default)]
    pub(crate) error: Option<TransportErrorKind>,
}

impl StepExpectation for PowerExpectation {
    const ACTION: &'static str = "power";

    fn validate(&self) -> Result<(), String> {
        match (self.error, &self.atr) {
            (Some(_), Some(_)) => Err(no_answer_with("atr")),
            _ => Ok(()),
        }
    }
}

impl StepExpectation for ReceptionStepExpectation {
    const ACTION: &'static str = "reception";
}

/// `expect:` of an `insurance_card_lookup` step: the QualificationValidity of the answer, or
/// `null` for no answer (the network is down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupExpectation {
    #[serde(deserialize_with = "validity_or_null")]
    pub(crate) validity: Option<QualificationValidity>,
}

/// A required key whose value may be `null` (a plain `Option` field could be left out).
fn validity_or_null<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<QualificationValidity>, D::Error> {
    Option::<QualificationValidity>::deserialize(deserializer)
}

impl StepExpectation for LookupExpectation {
    const ACTION: &'static str = "insurance_card_lookup";
}

fn no_answer_with(key: &str) -> String {
    format!("`expect.error` means no answer arrives, so `expect.{key}` cannot be checked with it")
}

/// Whether `key` is an expectation of some action (so, written under another action, it is a
/// misplaced expectation rather than a typo).
fn is_some_action_key(key: &str) -> bool {
    [
        fields_of::<ResponseExpectation>(),
        fields_of::<PowerExpectation>(),
        fields_of::<ReceptionStepExpectation>(),
        fields_of::<LookupExpectation>(),
    ]
    .iter()
    .any(|fields| fields.contains(&key))
}

/// Reads a step's `expect:` as `T`. A key of another action's expectation is refused with the
/// keys `T` takes; errors without a location of their own (that one, and `T`'s cross-key
/// rules) point at the `expect:` value.
pub(crate) struct ExpectationSeed<T>(PhantomData<T>);

impl<T> Default for ExpectationSeed<T> {
    fn default() -> Self {
        ExpectationSeed(PhantomData)
    }
}

impl<'de, T: StepExpectation> DeserializeSeed<'de> for ExpectationSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let expectation = deserializer.deserialize_struct(
            "expect",
            fields_of::<T>(),
            KeysOf::<T>(PhantomData),
        )?;
        expectation.validate().map_err(de::Error::custom)?;
        Ok(expectation)
    }
}

struct KeysOf<T>(PhantomData<T>);

impl<'de, T: StepExpectation> Visitor<'de> for KeysOf<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the expectations of a `{}` step: a mapping with any of {}",
            T::ACTION,
            fields_of::<T>().join(", ")
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(OwnKeysOnly {
            map,
            expectation: PhantomData::<T>,
        }))
    }
}

/// Passes a mapping through to `T`, refusing the keys of other actions' expectations before
/// `T` sees them (keys of no action reach `T`, whose own message names the unknown field).
struct OwnKeysOnly<A, T> {
    map: A,
    expectation: PhantomData<T>,
}

impl<'de, A: MapAccess<'de>, T: StepExpectation> MapAccess<'de> for OwnKeysOnly<A, T> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key::<String>()? else {
            return Ok(None);
        };
        let own = fields_of::<T>();
        if !own.contains(&key.as_str()) && is_some_action_key(&key) {
            return Err(de::Error::custom(format!(
                "`expect.{key}` does not apply to a `{}` step; expected one of {}",
                T::ACTION,
                own.join(", ")
            )));
        }
        seed.deserialize(IntoDeserializer::<A::Error>::into_deserializer(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// The keys a derived struct accepts, in declaration order, as its `Deserialize` impl announces
/// them: the struct's field list stays the only place they are written.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe always fails once it has seen the field list; only the list matters.
    let _ = T::deserialize(FieldsProbe(&mut fields));
    fields
}

struct FieldsProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldsProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field list recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The reader-side failure a step can expect instead of an answer (`expect: { error: … }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportErrorKind {
    /// No reader to send to.
    NoReader,
    /// The reader has no card.
    NoCard,
    /// The card was removed during the exchange.
    Removed,
    /// The card did not answer in time.
    Timeout,
    /// The link to the card failed (framing, I/O).
    Transmission,
    /// The transport refused the command (a real card protected from changes).
    Refused,
}

impl TransportErrorKind {
    /// The kind a scenario names for this transport error.
    pub fn of(error: &crate::transport::TransportError) -> TransportErrorKind {
        use crate::transport::TransportError as E;
        match error {
            E::NoReader(_) => TransportErrorKind::NoReader,
            E::NoCard => TransportErrorKind::NoCard,
            E::CardRemoved => TransportErrorKind::Removed,
            E::Timeout(_) => TransportErrorKind::Timeout,
            E::Transmission(_) | E::Io(_) => TransportErrorKind::Transmission,
            E::Refused(_) => TransportErrorKind::Refused,
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::NoReader => "no_reader",
            TransportErrorKind::NoCard => "no_card",
            TransportErrorKind::Removed => "removed",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Transmission => "transmission",
            TransportErrorKind::Refused => "refused",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_takes_its_own_keys() {
        assert_eq!(
            fields_of::<ResponseExpectation>(),
            ["sw", "data", "data_len", "error"]
        );
        assert_eq!(fields_of::<PowerExpectation>(), ["atr", "error"]);
        assert_eq!(
            fields_of::<ReceptionStepExpectation>(),
            ["screen", "messages"]
        );
        assert_eq!(fields_of::<LookupExpectation>(), ["validity"]);
    }

    fn parse<T: StepExpectation>(yaml: &str) -> Result<T, String> {
        struct Wrapper<T>(T);
        impl<'de, T: StepExpectation> Deserialize<'de> for Wrapper<T> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                ExpectationSeed::<T>::default()
                    .deserialize(deserializer)
                    .map(Wrapper)
            }
        }
        serde_saphyr::from_str::<Wrapper<T>>(yaml)
            .map(|wrapper| wrapper.0)
            .map_err(|error| crate::yaml::plain_message(&error))
    }

    #[test]
    fn a_key_of_another_action_names_the_keys_that_apply() {
        let error = parse::<PowerExpectation>("{ atr: \"3B *\", sw: \"9000\" }").unwrap_err();
        assert_eq!(
            error,
            "`expect.sw` does not apply to a `power` step; expected one of atr, error"
        );
    }

    #[test]
    fn a_key_of_no_action_is_an_unknown_field() {
        let error = parse::<ResponseExpectation>("{ sww: \"9000\" }").unwrap_err();
        assert_eq!(
            error,
            "unknown field `sww`, expected one of sw, data, data_len, error"
        );
    }

    #[test]
    fn an_expected_error_excludes_an_answer() {
        let error = parse::<ResponseExpectation>("{ error: removed, data_len: 2 }").unwrap_err();
        assert_eq!(
            error,
            "`expect.error` means no answer arrives, so `expect.data_len` cannot be checked with it"
        );
        let error = parse::<PowerExpectation>("{ error: timeout, atr: \"3B\" }").unwrap_err();
        assert!(error.contains("`expect.atr` cannot be checked"), "{error}");
    }

    #[test]
    fn a_send_expectation_checks_something() {
        let error = parse::<ResponseExpectation>("{}").unwrap_err();
        assert_eq!(
            error,
            "`expect:` is empty; expected at least one of sw, data, data_len, error"
        );
    }

    #[test]
    fn exact_data_and_its_length_agree() {
        let error = parse::<ResponseExpectation>("{ data: \"01 02\", data_len: 3 }").unwrap_err();
        assert_eq!(error, "`data` is 2 bytes but `data_len` says 3");
        let ok = parse::<ResponseExpectation>("{ sw: \"9000\", data: \"01 02\", data_len: 2 }");
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn a_lookup_names_the_validity() {
        let expectation = parse::<LookupExpectation>("{ validity: valid }").unwrap();
        assert_eq!(expectation.validity, Some(QualificationValidity::Valid));
        let no_answer = parse::<LookupExpectation>("{ validity: null }").unwrap();
        assert_eq!(no_answer.validity, None);
        // Leaving the key out is not "no answer": the key is required.
        assert!(parse::<LookupExpectation>("{}").is_err());
    }
}

//! The answer's models written as XML elements under their serde names, so that an element is
//! named once: in [`crate::oqs::message`], where JSON takes the same name.
//!
//! A struct field becomes an element named after the field; a list field becomes an element
//! holding one element per item, named after the item's type (its serde name); an optional
//! field with no value, or with an empty one, is omitted, while a required empty value is
//! written empty, as the hand-written writer did. Fields follow the model's order unless the
//! caller picks them ([`Fields`]), as for the header, whose real files use another order.

use std::fmt;

use serde::ser::{self, Impossible, Serialize, SerializeSeq, SerializeStruct, Serializer};

/// Where the elements go: the interface's XML writer, with its layout and escaping.
pub(crate) trait ElementSink {
    /// Opens element `name`.
    fn open(&mut self, name: &str);
    /// Closes element `name`.
    fn close(&mut self, name: &str);
    /// Writes element `name` holding the text `value`.
    fn leaf(&mut self, name: &str, value: &str);
}

/// A value the writer cannot express as elements (a map, an enum with data, a tuple, or a
/// scalar in a list). The message models hold none; the unit tests below keep it so.
#[derive(Debug, thiserror::Error)]
#[error("not writable as an interface element: {0}")]
pub(crate) struct Unwritable(String);

impl ser::Error for Unwritable {
    fn custom<T: fmt::Display>(message: T) -> Unwritable {
        Unwritable(message.to_string())
    }
}

/// Which fields of a struct to write, in the model's order.
#[derive(Clone, Copy)]
pub(crate) enum Fields<'a> {
    /// This field only.
    Only(&'a str),
    /// Every field but these.
    AllBut(&'a [&'a str]),
}

impl Fields<'_> {
    fn admit(self, field: &str) -> bool {
        match self {
            Fields::Only(only) => only == field,
            Fields::AllBut(left_out) => !left_out.contains(&field),
        }
    }
}

/// Writes `value` (a struct) as one element named after its type.
pub(crate) fn write_element<T: Serialize>(
    out: &mut dyn ElementSink,
    value: &T,
) -> Result<(), Unwritable> {
    value.serialize(Element {
        out,
        name: Name::OfType,
        optional: false,
    })
}

/// Writes the chosen fields of `value` (a struct) as elements in the one open now.
pub(crate) fn write_fields<T: Serialize>(
    out: &mut dyn ElementSink,
    value: &T,
    fields: Fields<'_>,
) -> Result<(), Unwritable> {
    value.serialize(FieldsOnly { out, fields })
}

/// Where an element takes its name from.
#[derive(Clone, Copy)]
enum Name {
    /// The field that holds the value.
    Field(&'static str),
    /// The value's type (an item of a list, or a value written on its own).
    OfType,
}

/// Writes one value as an element.
struct Element<'o> {
    out: &'o mut dyn ElementSink,
    name: Name,
    /// Inside `Some`: an empty text is omitted like an absent one.
    optional: bool,
}

/// Writes the fields of a struct into the element open now.
struct FieldsOnly<'o, 'f> {
    out: &'o mut dyn ElementSink,
    fields: Fields<'f>,
}

/// The fields of a struct being written; closes `close` at the end, if any.
struct Children<'o, 'f> {
    out: &'o mut dyn ElementSink,
    fields: Fields<'f>,
    close: Option<&'static str>,
}

/// The items of a list; the list's element is opened before the first item, so that an
/// empty list writes nothing.
struct Items<'o> {
    out: &'o mut dyn ElementSink,
    name: &'static str,
    opened: bool,
}

fn refuse<T>(what: &str) -> Result<T, Unwritable> {
    Err(Unwritable(what.to_owned()))
}

impl SerializeStruct for Children<'_, '_> {
    type Ok = ();
    type Error = Unwritable;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unwritable> {
        if !self.fields.admit(key) {
            return Ok(());
        }
        value.serialize(Element {
            out: self.out,
            name: Name::Field(key),
            optional: false,
        })
    }

    fn end(self) -> Result<(), Unwritable> {
        if let Some(name) = self.close {
            self.out.close(name);
        }
        Ok(())
    }
}

impl SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = Unwritable;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unwritable> {
        if !self.opened {
            self.out.open(self.name);
            self.opened = true;
        }
        value.serialize(Element {
            out: self.out,
            name: Name::OfType,
            optional: false,
        })
    }

    fn end(self) -> Result<(), Unwritable> {
        if self.opened {
            self.out.close(self.name);
        }
        Ok(())
    }
}

/// The serializer methods both writers share: a newtype is what it wraps; everything else
/// refuses with the kind of value.
macro_rules! refuse_the_rest {
    () => {
        type SerializeTuple = Impossible<(), Unwritable>;
        type SerializeTupleStruct = Impossible<(), Unwritable>;
        type SerializeTupleVariant = Impossible<(), Unwritable>;
        type SerializeMap = Impossible<(), Unwritable>;
        type SerializeStructVariant = Impossible<(), Unwritable>;

        fn serialize_bool(self, _: bool) -> Result<(), Unwritable> {
            refuse("a boolean")
        }
        fn serialize_i8(self, _: i8) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_i16(self, _: i16) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_i32(self, _: i32) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_i64(self, _: i64) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_u8(self, _: u8) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_u16(self, _: u16) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_u32(self, _: u32) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_u64(self, _: u64) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_f32(self, _: f32) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_f64(self, _: f64) -> Result<(), Unwritable> {
            refuse("a number")
        }
        fn serialize_char(self, _: char) -> Result<(), Unwritable> {
            refuse("a character")
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<(), Unwritable> {
            refuse("bytes")
        }
        fn serialize_unit(self) -> Result<(), Unwritable> {
            refuse("a unit")
        }
        fn serialize_unit_struct(self, name: &'static str) -> Result<(), Unwritable> {
            refuse(name)
        }
        fn serialize_unit_variant(
            self,
            name: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<(), Unwritable> {
            refuse(name)
        }
        // A newtype is written as what it wraps (a code as its text).
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<(), Unwritable> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            name: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Unwritable> {
            refuse(name)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unwritable> {
            refuse("a tuple")
        }
        fn serialize_tuple_struct(
            self,
            name: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Unwritable> {
            refuse(name)
        }
        fn serialize_tuple_variant(
            self,
            name: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Unwritable> {
            refuse(name)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unwritable> {
            refuse("a map")
        }
        fn serialize_struct_variant(
            self,
            name: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Unwritable> {
            refuse(name)
        }
    };
}

impl<'o> Serializer for Element<'o> {
    type Ok = ();
    type Error = Unwritable;
    type SerializeSeq = Items<'o>;
    type SerializeStruct = Children<'o, 'static>;

    refuse_the_rest!();

    fn serialize_str(self, text: &str) -> Result<(), Unwritable> {
        match self.name {
            Name::Field(_) if self.optional && text.is_empty() => Ok(()),
            Name::Field(name) => {
                self.out.leaf(name, text);
                Ok(())
            }
            Name::OfType => refuse("a text outside a field"),
        }
    }

    fn serialize_none(self) -> Result<(), Unwritable> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unwritable> {
        value.serialize(Element {
            optional: true,
            ..self
        })
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'o>, Unwritable> {
        match self.name {
            Name::Field(name) => Ok(Items {
                out: self.out,
                name,
                opened: false,
            }),
            Name::OfType => refuse("a list outside a field"),
        }
    }

    fn serialize_struct(
        self,
        type_name: &'static str,
        _: usize,
    ) -> Result<Children<'o, 'static>, Unwritable> {
        let name = match self.name {
            Name::Field(name) => name,
            Name::OfType => type_name,
        };
        self.out.open(name);
        Ok(Children {
            out: self.out,
            fields: Fields::AllBut(&[]),
            close: Some(name),
        })
    }
}

impl<'o, 'f> Serializer for FieldsOnly<'o, 'f> {
    type Ok = ();
    type Error = Unwritable;
    type SerializeSeq = Impossible<(), Unwritable>;
    type SerializeStruct = Children<'o, 'f>;

    refuse_the_rest!();

    fn serialize_str(self, _: &str) -> Result<(), Unwritable> {
        refuse("a text where fields were expected")
    }

    fn serialize_none(self) -> Result<(), Unwritable> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unwritable> {
        value.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unwritable> {
        refuse("a list where fields were expected")
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Children<'o, 'f>, Unwritable> {
        Ok(Children {
            out: self.out,
            fields: self.fields,
            close: None,
        })
    }
}

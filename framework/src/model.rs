//! Typed models: serde between Terraform values and plain Rust structs.
//!
//! A resource's model is a `#[derive(Serialize, Deserialize)]` struct with one
//! field per attribute. Required attributes are plain fields, optional and
//! computed ones are `Option<T>`; null and unknown both read as `None` (at
//! apply time only computed attributes can still be unknown, and those are
//! the ones the resource fills in). Where the difference matters, use
//! [`Attr<T>`] (null, unknown or known). [`Raw`] holds a value as is (for
//! `dynamic` attributes).
//!
//! Blocks and nested attributes are nested structs, `Vec<T>` for lists and
//! sets, `BTreeMap<String, T>` for maps. [`to_value`] shapes what serde
//! produces to the schema type (lists into sets, structs into objects with
//! every attribute present).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use labforge_cty::{Number, Type, Value};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

use crate::diag::Error;

const RAW_TOKEN: &str = "$labforge::Raw";
const ATTR_TOKEN: &str = "$labforge::Attr";

thread_local! {
    static RAW_SLOT: RefCell<Option<Value>> = const { RefCell::new(None) };
}

/// Decode a Terraform value into a model.
pub fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, Error> {
    T::deserialize(ValueDeserializer(v))
        .map_err(|e| Error::msg(format!("unexpected value shape: {}", e.0)))
}

/// Encode a model as a Terraform value of type `ty`.
pub fn to_value<T: Serialize>(model: &T, ty: &Type) -> Result<Value, Error> {
    let v = model
        .serialize(ValueSerializer)
        .map_err(|e| Error::msg(format!("cannot encode model: {}", e.0)))?;
    coerce(v, ty).map_err(|e| Error::msg(format!("model does not match schema: {e}")))
}

/// Encode a model without a schema type (structs become objects, sequences lists).
pub fn to_untyped<T: Serialize>(model: &T) -> Result<Value, Error> {
    model
        .serialize(ValueSerializer)
        .map_err(|e| Error::msg(format!("cannot encode model: {}", e.0)))
}

/// Shape a value to `ty`: lists become sets where the type says set, structs
/// become objects with every attribute (missing ones null), maps become
/// objects and objects maps as the type asks.
pub fn coerce(v: Value, ty: &Type) -> Result<Value, String> {
    match (v, ty) {
        (v @ (Value::Null | Value::Unknown(_)), _) => Ok(v),
        (v, Type::Dynamic) => Ok(v),
        (Value::Dynamic(_, v), t) => coerce(*v, t),
        (v @ Value::Bool(_), Type::Bool) => Ok(v),
        (v @ Value::Number(_), Type::Number) => Ok(v),
        (v @ Value::String(_), Type::String) => Ok(v),
        (Value::Number(n), Type::String) => Ok(Value::String(n.to_string())),
        (Value::String(s), Type::Number) => Number::parse(&s)
            .map(Value::Number)
            .ok_or_else(|| format!("{s:?} is not a number")),
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::List(t)) => Ok(Value::List(
            vs.into_iter()
                .map(|v| coerce(v, t))
                .collect::<Result<_, _>>()?,
        )),
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::Set(t)) => {
            let mut out: Vec<Value> = Vec::with_capacity(vs.len());
            for v in vs {
                let v = coerce(v, t)?;
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Value::Set(out))
        }
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::Tuple(ts))
            if vs.len() == ts.len() =>
        {
            Ok(Value::Tuple(
                vs.into_iter()
                    .zip(ts)
                    .map(|(v, t)| coerce(v, t))
                    .collect::<Result<_, _>>()?,
            ))
        }
        (Value::Map(m) | Value::Object(m), Type::Map(t)) => Ok(Value::Map(
            m.into_iter()
                .map(|(k, v)| Ok((k, coerce(v, t)?)))
                .collect::<Result<_, String>>()?,
        )),
        (Value::Map(mut m) | Value::Object(mut m), Type::Object(o)) => {
            let mut out = BTreeMap::new();
            for (name, t) in &o.attrs {
                let v = m.remove(name).unwrap_or(Value::Null);
                out.insert(
                    name.clone(),
                    coerce(v, t).map_err(|e| format!("{name}: {e}"))?,
                );
            }
            if let Some(extra) = m.keys().next() {
                return Err(format!("attribute {extra:?} is not in the schema"));
            }
            Ok(Value::Object(out))
        }
        (v, t) => Err(format!("expected {t:?}, got {v:?}")),
    }
}

impl Error {
    /// Report what exists after a failed create, so Terraform keeps it in
    /// state (tainted) instead of forgetting it. (Here rather than in
    /// `diag`, which then needs nothing of this module.)
    pub fn with_partial_state<T: Serialize>(self, model: &T) -> Self {
        match to_untyped(model) {
            Ok(v) => self.with_partial_value(v),
            Err(_) => self,
        }
    }
}

/// The attribute names a model struct decodes (its serde field names, after
/// `rename`), or `None` when the model is not a plain struct (a map, or a
/// struct with `flatten`, whose fields serde does not list).
///
/// The framework compares them with the schema at registration: an attribute
/// the model lacks would always be written as null, and a field the schema
/// lacks could never be encoded.
pub fn field_names<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    match T::deserialize(FieldProbe) {
        Err(ProbeError(Some(fields))) => Some(fields),
        _ => None,
    }
}

/// A deserializer that only asks a struct for its field list.
struct FieldProbe;

#[derive(Debug)]
struct ProbeError(Option<&'static [&'static str]>);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for ProbeError {}

impl de::Error for ProbeError {
    fn custom<M: fmt::Display>(_: M) -> Self {
        ProbeError(None)
    }
}

impl<'de> de::Deserializer<'de> for FieldProbe {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeError> {
        Err(ProbeError(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeError> {
        Err(ProbeError(Some(fields)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// A value that may be null, unknown or known, for model fields where the
/// difference matters.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Attr<T> {
    /// Null: not set.
    #[default]
    Null,
    /// Not known until apply (only in configuration and plan, never in state).
    Unknown,
    /// A known value.
    Known(T),
}

impl<T> Attr<T> {
    /// The value, when known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Attr::Known(t) => Some(t),
            _ => None,
        }
    }
    /// Whether the value is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Attr::Unknown)
    }
    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Attr::Null)
    }
}

impl<T: Serialize> Serialize for Attr<T> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Attr::Null => s.serialize_none(),
            Attr::Unknown => Raw(Value::unknown()).serialize(s),
            Attr::Known(t) => t.serialize(s),
        }
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Attr<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Attr<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value that may be null or unknown")
            }
            fn visit_none<E>(self) -> Result<Attr<T>, E> {
                Ok(Attr::Null)
            }
            fn visit_unit<E>(self) -> Result<Attr<T>, E> {
                Ok(Attr::Unknown)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Attr<T>, D::Error> {
                T::deserialize(d).map(Attr::Known)
            }
        }
        d.deserialize_newtype_struct(ATTR_TOKEN, V(std::marker::PhantomData))
    }
}

/// A Terraform value kept as is inside a model (e.g. a `dynamic` attribute).
#[derive(Debug, Clone, PartialEq)]
pub struct Raw(pub Value);

impl Serialize for Raw {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RAW_SLOT.with(|slot| *slot.borrow_mut() = Some(self.0.clone()));
        s.serialize_newtype_struct(RAW_TOKEN, &())
    }
}

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Terraform value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
                RAW_SLOT
                    .with(|slot| slot.borrow_mut().take())
                    .map(Raw)
                    .ok_or_else(|| E::custom("Raw can only be decoded from a Terraform value"))
            }
        }
        d.deserialize_newtype_struct(RAW_TOKEN, V)
    }
}

/// Error of the serde adapters.
#[derive(Debug)]
pub struct ModelError(String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ModelError {}
impl de::Error for ModelError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ModelError(msg.to_string())
    }
}
impl ser::Error for ModelError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ModelError(msg.to_string())
    }
}

// ---------------------------------------------------------------- decoding

struct ValueDeserializer<'a>(&'a Value);

impl<'a> ValueDeserializer<'a> {
    fn inner(&self) -> &'a Value {
        match self.0 {
            Value::Dynamic(_, v) => v,
            v => v,
        }
    }
}

impl<'de, 'a> de::Deserializer<'de> for ValueDeserializer<'a> {
    type Error = ModelError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::Null => visitor.visit_unit(),
            Value::Unknown(_) => Err(ModelError("value is not known yet".into())),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => visitor.visit_i64(i),
                (None, Some(u)) => visitor.visit_u64(u),
                _ => visitor.visit_f64(n.as_f64()),
            },
            Value::String(s) => visitor.visit_str(s),
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => visitor.visit_seq(
                de::value::SeqDeserializer::new(vs.iter().map(ValueDeserializer)),
            ),
            Value::Map(m) | Value::Object(m) => visitor.visit_map(de::value::MapDeserializer::new(
                m.iter().map(|(k, v)| (k.as_str(), ValueDeserializer(v))),
            )),
            Value::Dynamic(..) => Err(ModelError("nested dynamic value".into())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::Null | Value::Unknown(_) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ModelError> {
        match name {
            RAW_TOKEN => {
                RAW_SLOT.with(|slot| *slot.borrow_mut() = Some(self.0.clone()));
                visitor.visit_unit()
            }
            ATTR_TOKEN => match self.inner() {
                Value::Null => visitor.visit_none(),
                Value::Unknown(_) => visitor.visit_unit(),
                _ => visitor.visit_some(self),
            },
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => visitor.visit_i64(i),
                (None, Some(u)) => visitor.visit_u64(u),
                _ => Err(ModelError(format!("{n} is not a whole number"))),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::Number(n) => visitor.visit_f64(n.as_f64()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ModelError> {
        match self.inner() {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => Err(ModelError(format!(
                "expected a string for an enum, got {other:?}"
            ))),
        }
    }

    /// Whatever is ignored may be unknown (a provider block's config while
    /// other resources are planned, a model field with `#[serde(skip)]`).
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ModelError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier
    }
}

impl<'de, 'a> IntoDeserializer<'de, ModelError> for ValueDeserializer<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

// ---------------------------------------------------------------- encoding

struct ValueSerializer;

fn num(n: Number) -> Result<Value, ModelError> {
    Ok(Value::Number(n))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ModelError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = ser::Impossible<Value, ModelError>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = ser::Impossible<Value, ModelError>;

    fn serialize_bool(self, v: bool) -> Result<Value, ModelError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ModelError> {
        num(Number::from_i64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ModelError> {
        num(Number::from_i64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ModelError> {
        num(Number::from_i64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ModelError> {
        num(Number::from_i64(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ModelError> {
        num(Number::from_i64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ModelError> {
        num(Number::from_i64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ModelError> {
        num(Number::from_i64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ModelError> {
        num(Number::from_u64(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ModelError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ModelError> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| ModelError("NaN is not a number".into()))
    }
    fn serialize_char(self, v: char) -> Result<Value, ModelError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ModelError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Value, ModelError> {
        Err(ModelError("bytes have no Terraform type".into()))
    }
    fn serialize_none(self) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Value, ModelError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ModelError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<Value, ModelError> {
        Ok(Value::String(variant.to_string()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<Value, ModelError> {
        if name == RAW_TOKEN {
            return RAW_SLOT
                .with(|slot| slot.borrow_mut().take())
                .ok_or_else(|| ModelError("Raw value missing".into()));
        }
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _n: &'static str,
        _i: u32,
        _variant: &'static str,
        _v: &T,
    ) -> Result<Value, ModelError> {
        Err(ModelError("enums with data have no Terraform type".into()))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, ModelError> {
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, ModelError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _n: &'static str, len: usize) -> Result<SeqSer, ModelError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ModelError> {
        Err(ModelError("enums with data have no Terraform type".into()))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapSer, ModelError> {
        Ok(MapSer(BTreeMap::new(), None, false))
    }
    fn serialize_struct(self, _n: &'static str, _len: usize) -> Result<MapSer, ModelError> {
        Ok(MapSer(BTreeMap::new(), None, true))
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ModelError> {
        Err(ModelError("enums with data have no Terraform type".into()))
    }
}

struct SeqSer(Vec<Value>);

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ModelError> {
        self.0.push(v.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::List(self.0))
    }
}
impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ModelError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::Tuple(self.0))
    }
}
impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ModelError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::Tuple(self.0))
    }
}

/// Entries, the pending key, and whether it is a struct (object) or a map.
struct MapSer(BTreeMap<String, Value>, Option<String>, bool);

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), ModelError> {
        match key.serialize(ValueSerializer)? {
            Value::String(s) => self.1 = Some(s),
            other => {
                return Err(ModelError(format!(
                    "map keys must be strings, got {other:?}"
                )));
            }
        }
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ModelError> {
        let key = self
            .1
            .take()
            .ok_or_else(|| ModelError("map value without key".into()))?;
        self.0.insert(key, v.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(if self.2 {
            Value::Object(self.0)
        } else {
            Value::Map(self.0)
        })
    }
}
impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = ModelError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), ModelError> {
        self.0
            .insert(key.to_string(), v.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ModelError> {
        Ok(Value::Object(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Disk {
        size: u64,
        ssd: Option<bool>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Model {
        name: String,
        ttl: Option<i64>,
        tags: Vec<String>,
        disks: BTreeMap<String, Disk>,
        id: Attr<String>,
        extra: Raw,
        #[serde(rename = "type")]
        kind: Kind,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Kind {
        A,
        #[serde(rename = "AAAA")]
        Aaaa,
    }

    fn ty() -> Type {
        Type::object([
            ("name", Type::String),
            ("ttl", Type::Number),
            ("tags", Type::set(Type::String)),
            (
                "disks",
                Type::map(Type::object([("size", Type::Number), ("ssd", Type::Bool)])),
            ),
            ("id", Type::String),
            ("extra", Type::Dynamic),
            ("type", Type::String),
            ("comment", Type::String),
        ])
    }

    #[test]
    fn round_trip_through_value() {
        let v = Value::object([
            ("name", Value::string("www")),
            ("ttl", Value::unknown()),
            (
                "tags",
                Value::Set(vec![Value::string("a"), Value::string("b")]),
            ),
            (
                "disks",
                Value::Map(BTreeMap::from([(
                    "scsi0".to_string(),
                    Value::object([
                        ("size", Value::Number(Number::from_i64(32))),
                        ("ssd", Value::Null),
                    ]),
                )])),
            ),
            ("id", Value::unknown()),
            (
                "extra",
                Value::Dynamic(Type::String, Box::new(Value::string("x"))),
            ),
            ("type", Value::string("AAAA")),
            ("comment", Value::Null),
        ]);
        let m: Model = from_value(&v).unwrap();
        assert_eq!(m.name, "www");
        assert_eq!(m.ttl, None);
        assert!(m.id.is_unknown());
        assert_eq!(m.kind, Kind::Aaaa);
        assert_eq!(m.disks["scsi0"].size, 32);
        let back = to_value(&m, &ty()).unwrap();
        // ttl was unknown and reads as None, so it comes back null; the rest is identical.
        let Value::Object(mut expect) = v else {
            unreachable!()
        };
        expect.insert("ttl".into(), Value::Null);
        assert_eq!(back, Value::Object(expect));
    }

    #[test]
    fn extra_attributes_are_refused() {
        #[derive(Serialize)]
        struct Wrong {
            nope: bool,
        }
        let err = to_value(&Wrong { nope: true }, &Type::object([("a", Type::Bool)])).unwrap_err();
        assert!(err.to_string().contains("nope"));
    }

    #[test]
    fn ignored_values_may_be_unknown() {
        let v = Value::object([(
            "block",
            Value::object([("url", Value::unknown()), ("token", Value::string("t"))]),
        )]);
        assert!(from_value::<serde::de::IgnoredAny>(&v).is_ok());
        assert!(from_value::<serde::de::IgnoredAny>(&Value::unknown()).is_ok());
        #[derive(Debug, Deserialize)]
        struct Partly {
            #[allow(dead_code)]
            block: serde::de::IgnoredAny,
        }
        assert!(from_value::<Partly>(&v).is_ok());
        // A field that is read still needs a known value.
        #[derive(Debug, Deserialize)]
        struct Url {
            #[allow(dead_code)]
            url: String,
        }
        let e = from_value::<Url>(&Value::object([("url", Value::unknown())])).unwrap_err();
        assert!(e.to_string().contains("not known yet"), "{e}");
    }

    #[test]
    fn fractional_number_is_not_an_integer() {
        #[derive(Debug, Deserialize)]
        struct M {
            #[allow(dead_code)]
            n: i64,
        }
        let v = Value::object([("n", Value::Number(Number::parse("1.5").unwrap()))]);
        assert!(from_value::<M>(&v).is_err());
    }
}

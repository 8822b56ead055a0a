//! cty types and their JSON form (`"string"`, `["list","number"]`, `["object",{...}]`, ...).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// `true` or `false`.
    Bool,
    /// An arbitrary-precision decimal ([`crate::Number`]).
    Number,
    /// A Unicode string.
    String,
    /// The dynamic pseudo-type: any type, decided per value (`[type JSON, value]` on the wire).
    Dynamic,
    /// An ordered sequence of elements of one type.
    List(Box<Type>),
    /// An unordered collection of distinct elements of one type.
    Set(Box<Type>),
    /// String keys to elements of one type.
    Map(Box<Type>),
    /// A fixed set of named attributes, each with its own type.
    Object(ObjectType),
    /// A fixed-length sequence whose positions each have their own type.
    Tuple(Vec<Type>),
}

/// An object type: named attributes, some of which may be optional
/// (optional attributes only appear in function parameter type constraints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectType {
    /// Attribute names and their types.
    pub attrs: BTreeMap<String, Type>,
    /// Names (keys of `attrs`) of the attributes that may be omitted; empty
    /// for every type outside function parameter constraints.
    pub optional: BTreeSet<String>,
}

impl ObjectType {
    /// An object type with these attributes, none of them optional.
    pub fn new(attrs: impl IntoIterator<Item = (String, Type)>) -> Self {
        Self {
            attrs: attrs.into_iter().collect(),
            optional: BTreeSet::new(),
        }
    }
}

impl Type {
    /// `list(t)`.
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    /// `set(t)`.
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    /// `map(t)`.
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }
    /// An object type with these attributes, none of them optional.
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object(ObjectType::new(
            attrs.into_iter().map(|(k, t)| (k.into(), t)),
        ))
    }

    /// A tuple type with these element types, in order.
    pub fn tuple(elems: impl IntoIterator<Item = Type>) -> Type {
        Type::Tuple(elems.into_iter().collect())
    }

    /// Parse type JSON; see [`crate::json::decode_type`].
    pub fn from_json(bytes: &[u8]) -> crate::Result<Type> {
        crate::json::decode_type(bytes)
    }

    /// Type JSON; see [`crate::json::encode_type`].
    pub fn to_json(&self) -> Vec<u8> {
        crate::json::encode_type(self)
    }

    /// Bool, number or string.
    pub fn is_primitive(&self) -> bool {
        matches!(self, Type::Bool | Type::Number | Type::String)
    }

    /// List, set or map.
    pub fn is_collection(&self) -> bool {
        matches!(self, Type::List(_) | Type::Set(_) | Type::Map(_))
    }

    /// Element type of a list, set or map.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(t) | Type::Set(t) | Type::Map(t) => Some(t),
            _ => None,
        }
    }

    /// Whether this type is, or contains, the dynamic pseudo-type.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::Bool | Type::Number | Type::String => false,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.has_dynamic(),
            Type::Object(o) => o.attrs.values().any(Type::has_dynamic),
            Type::Tuple(ts) => ts.iter().any(Type::has_dynamic),
        }
    }
}

/// The type's compact type JSON (`"string"`, `["list","number"]`).
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&crate::json::encode_type(self)))
    }
}

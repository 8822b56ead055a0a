//! cty types and their JSON form (`"string"`, `["list","number"]`, `["object",{...}]`, ...).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    Bool,
    Number,
    String,
    /// The dynamic pseudo-type: any type, decided per value (`[type JSON, value]` on the wire).
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(ObjectType),
    Tuple(Vec<Type>),
}

/// An object type: named attributes, some of which may be optional
/// (optional attributes only appear in function parameter type constraints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectType {
    pub attrs: BTreeMap<String, Type>,
    pub optional: BTreeSet<String>,
}

impl ObjectType {
    pub fn new(attrs: impl IntoIterator<Item = (String, Type)>) -> Self {
        Self {
            attrs: attrs.into_iter().collect(),
            optional: BTreeSet::new(),
        }
    }
}

impl Type {
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object(ObjectType::new(
            attrs.into_iter().map(|(k, t)| (k.into(), t)),
        ))
    }

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

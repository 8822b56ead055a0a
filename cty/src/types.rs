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

/// Whether the type JSON of `ty` nests deeper than `limit` levels (`"string"`
/// is 0, `["list","string"]` 1, `["object",{"a":"string"}]` and
/// `["tuple",["string"]]` 2). Stops looking once past the limit, so a type
/// built by hand thousands of levels deep costs no deep recursion.
fn type_json_deeper_than(ty: &Type, limit: usize) -> bool {
    match ty {
        Type::Bool | Type::Number | Type::String | Type::Dynamic => false,
        Type::List(t) | Type::Set(t) | Type::Map(t) => {
            limit == 0 || type_json_deeper_than(t, limit - 1)
        }
        Type::Tuple(ts) if ts.is_empty() => limit == 0,
        Type::Object(o) if o.attrs.is_empty() => limit == 0,
        Type::Tuple(ts) => limit < 2 || ts.iter().any(|t| type_json_deeper_than(t, limit - 2)),
        Type::Object(o) => {
            limit < 2
                || o.attrs
                    .values()
                    .any(|t| type_json_deeper_than(t, limit - 2))
        }
    }
}

/// Check the type a `dynamic` slot carries, for a slot at value depth `depth`.
///
/// Both codecs use this, decoding and encoding, so that they agree: in state
/// JSON the type sits inside the `{"value":...,"type":...}` wrapper, one level
/// below the slot, and the whole document must stay within
/// [`crate::MAX_DEPTH`] levels; msgpack carries the type JSON as a separate
/// string but is held to the same limit, so a value one codec accepts the
/// other does too.
pub(crate) fn check_dynamic_type(ty: &Type, depth: usize) -> Result<(), String> {
    let room = crate::MAX_DEPTH.saturating_sub(depth + 1);
    if type_json_deeper_than(ty, room) {
        return Err(format!(
            "the type of this dynamic value nests more than the {room} levels left at this \
             depth (values and their types may nest at most {} levels in all)",
            crate::MAX_DEPTH
        ));
    }
    Ok(())
}

/// The type's compact type JSON (`"string"`, `["list","number"]`).
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&crate::json::encode_type(self)))
    }
}

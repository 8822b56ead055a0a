//! cty values. A [`Value`] carries no type of its own except inside a
//! `dynamic` slot ([`Value::Dynamic`]), where the wire carries the type too.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use crate::{Number, Type};

/// A cty value: null, unknown (possibly refined), or known.
#[derive(Debug, Clone)]
pub enum Value {
    /// Null, of whatever type the slot has.
    Null,
    /// Not known until apply, with what is known about it.
    Unknown(Refinements),
    /// A known bool.
    Bool(bool),
    /// A known number.
    Number(Number),
    /// A known string.
    String(String),
    /// Elements of a list, in order.
    List(Vec<Value>),
    /// Elements of a set; order carries no meaning and equality ignores it.
    Set(Vec<Value>),
    /// Entries of a map, by key.
    Map(BTreeMap<String, Value>),
    /// Attributes of an object, by name. Attributes the type has but the
    /// map lacks are treated as null when encoding.
    Object(BTreeMap<String, Value>),
    /// Elements of a tuple, in order.
    Tuple(Vec<Value>),
    /// A value decoded from (or destined for) a `dynamic` slot, with its concrete type.
    Dynamic(Type, Box<Value>),
}

/// What is known about an unknown value (msgpack extension 12). All optional.
///
/// On the wire only the refinements that fit the slot's type are kept:
/// `string_prefix` for strings, number bounds for numbers, length bounds for
/// lists, sets and maps; `nullable` for any type except `dynamic`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Refinements {
    /// `Some(false)`: definitely not null.
    pub nullable: Option<bool>,
    /// A prefix every possible string value starts with.
    pub string_prefix: Option<String>,
    /// Lower bound and whether it is inclusive.
    pub number_lower: Option<(Number, bool)>,
    /// Upper bound and whether it is inclusive.
    pub number_upper: Option<(Number, bool)>,
    /// Least number of elements (inclusive).
    pub length_lower: Option<u64>,
    /// Greatest number of elements (inclusive).
    pub length_upper: Option<u64>,
}

impl Refinements {
    /// Whether nothing at all is known (a plain unknown).
    pub fn is_empty(&self) -> bool {
        *self == Refinements::default()
    }
}

impl Value {
    /// Null (of whatever type the slot has).
    pub fn null() -> Value {
        Value::Null
    }

    /// A plain unknown with no refinements.
    pub fn unknown() -> Value {
        Value::Unknown(Refinements::default())
    }

    /// A known string.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// An object with these attributes.
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A map with these entries (a later duplicate key wins).
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A list of these elements, in order.
    pub fn list(elems: impl IntoIterator<Item = Value>) -> Value {
        Value::List(elems.into_iter().collect())
    }

    /// A set; wholly known duplicates are removed (first occurrence kept).
    pub fn set(elems: impl IntoIterator<Item = Value>) -> Value {
        Value::Set(dedupe_set(elems.into_iter().collect()))
    }

    /// A tuple of these elements, in order.
    pub fn tuple(elems: impl IntoIterator<Item = Value>) -> Value {
        Value::Tuple(elems.into_iter().collect())
    }

    /// A known bool.
    pub fn bool(b: bool) -> Value {
        Value::Bool(b)
    }

    /// A known number.
    pub fn number(n: Number) -> Value {
        Value::Number(n)
    }

    /// A known number equal to `n`.
    pub fn from_i64(n: i64) -> Value {
        Value::Number(Number::from_i64(n))
    }

    /// A known number equal to `n`.
    pub fn from_u64(n: u64) -> Value {
        Value::Number(Number::from_u64(n))
    }

    /// A known number: the shortest decimal that reads back as `f`
    /// (see [`Number::from_f64`]); `None` for NaN.
    pub fn from_f64(f: f64) -> Option<Value> {
        Number::from_f64(f).map(Value::Number)
    }

    /// An unknown that is known not to be null.
    pub fn unknown_not_null() -> Value {
        Value::Unknown(Refinements {
            nullable: Some(false),
            ..Refinements::default()
        })
    }

    /// The value without any [`Value::Dynamic`] wrapper(s).
    pub fn strip_dynamic(&self) -> &Value {
        match self {
            Value::Dynamic(_, v) => v.strip_dynamic(),
            v => v,
        }
    }

    /// The value's type, inferred from its shape; see [`crate::infer_type`].
    pub fn infer_type(&self) -> Type {
        crate::infer_type(self)
    }

    /// The exact integer value of a number, if it is one and fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// Entries of a map or attributes of an object.
    pub fn entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            Value::Dynamic(_, v) => v.entries(),
            _ => None,
        }
    }

    /// Whether the value is null (looking through [`Value::Dynamic`]).
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Dynamic(_, v) => v.is_null(),
            _ => false,
        }
    }

    /// Whether the value itself is unknown (looking through
    /// [`Value::Dynamic`]); a known list holding an unknown is not, see
    /// [`Value::contains_unknown`].
    pub fn is_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::Dynamic(_, v) => v.is_unknown(),
            _ => false,
        }
    }

    /// Known and not null.
    pub fn is_known(&self) -> bool {
        !self.is_null() && !self.is_unknown()
    }

    /// Whether this value, or anything inside it, is unknown.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => {
                vs.iter().any(Value::contains_unknown)
            }
            Value::Map(m) | Value::Object(m) => m.values().any(Value::contains_unknown),
            Value::Dynamic(_, v) => v.contains_unknown(),
            _ => false,
        }
    }

    /// The attribute of an object (or the element of a map) named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) | Value::Map(m) => m.get(name),
            Value::Dynamic(_, v) => v.get(name),
            _ => None,
        }
    }

    /// The string, if this is a known string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Dynamic(_, v) => v.as_str(),
            _ => None,
        }
    }

    /// The bool, if this is a known bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Dynamic(_, v) => v.as_bool(),
            _ => None,
        }
    }

    /// The number, if this is a known number.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            Value::Dynamic(_, v) => v.as_number(),
            _ => None,
        }
    }

    /// Elements of a list, set or tuple.
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => Some(vs),
            Value::Dynamic(_, v) => v.elements(),
            _ => None,
        }
    }
}

/// Equality as Terraform sees it: sets ignore order; unknowns are equal only
/// to unknowns with the same refinements; numbers compare by value.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Unknown(a), Unknown(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => {
                a.len() == b.len() && set_contains_all(a, b) && set_contains_all(b, a)
            }
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            (Dynamic(ta, a), Dynamic(tb, b)) => ta == tb && a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

/// Consistent with `PartialEq`: set elements are hashed order-independently
/// (and duplicates do not count), numbers by value.
impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Unknown(r) => r.hash(state),
            Value::Bool(b) => b.hash(state),
            Value::Number(n) => n.hash(state),
            Value::String(s) => s.hash(state),
            Value::List(vs) | Value::Tuple(vs) => vs.hash(state),
            Value::Set(vs) => {
                let mut hs: Vec<u64> = vs.iter().map(hash_one).collect();
                hs.sort_unstable();
                hs.dedup();
                hs.hash(state);
            }
            Value::Map(m) | Value::Object(m) => m.hash(state),
            Value::Dynamic(t, v) => {
                t.hash(state);
                v.hash(state);
            }
        }
    }
}

pub(crate) fn hash_one(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Every element of `a` is in `b` (hash-bucketed, so linear on average).
fn set_contains_all(a: &[Value], b: &[Value]) -> bool {
    if a.len() <= 8 {
        return a.iter().all(|x| b.contains(x));
    }
    let mut buckets: HashMap<u64, Vec<&Value>> = HashMap::with_capacity(b.len());
    for y in b {
        buckets.entry(hash_one(y)).or_default().push(y);
    }
    a.iter()
        .all(|x| buckets.get(&hash_one(x)).is_some_and(|ys| ys.contains(&x)))
}

/// Remove later duplicates of wholly known elements, keeping order. Elements
/// containing unknowns are never merged (two unknowns may differ).
pub(crate) fn dedupe_set(elems: Vec<Value>) -> Vec<Value> {
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut out: Vec<Value> = Vec::with_capacity(elems.len());
    for v in elems {
        if v.contains_unknown() {
            out.push(v);
            continue;
        }
        let h = hash_one(&v);
        let idxs = seen.entry(h).or_default();
        if idxs.iter().any(|&i| out.get(i) == Some(&v)) {
            continue;
        }
        idxs.push(out.len());
        out.push(v);
    }
    out
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::from_i64(n)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::from_u64(n)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is null.
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn set_equality_ignores_order() {
        let a = Value::set((0..20).map(Value::from_i64));
        let b = Value::set((0..20).rev().map(Value::from_i64));
        assert_eq!(a, b);
        assert_eq!(hash_one(&a), hash_one(&b));
        let c = Value::set((1..21).map(Value::from_i64));
        assert_ne!(a, c);
    }

    #[test]
    fn dedupe_keeps_unknowns() {
        let s = Value::set([
            Value::from("a"),
            Value::from("a"),
            Value::unknown(),
            Value::unknown(),
        ]);
        assert_eq!(s.elements().map(<[Value]>::len), Some(3));
    }

    #[test]
    fn numbers_compare_by_value() {
        let one = Value::number(Number::parse("1.0").unwrap());
        assert_eq!(one, Value::from_i64(1));
        assert_eq!(hash_one(&one), hash_one(&Value::from_i64(1)));
    }
}

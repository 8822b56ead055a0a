//! Type inference for values in `dynamic` slots, and conformance checks.

use crate::MAX_DEPTH;
use std::collections::BTreeMap;

use crate::{AttributePath, Error, PathStep, Result, Type, Value};

/// The type a value most plausibly has, as used when a value that is not a
/// [`Value::Dynamic`] is encoded into a `dynamic` slot.
///
/// - `Value::Dynamic(t, _)` → `t`; bool/number/string → themselves.
/// - null and unknown → `dynamic` (nothing is known about them).
/// - list/set/map → collection of the common element type; elements whose
///   type is `dynamic` (nulls, unknowns) are ignored when finding it. If the
///   elements disagree, or there are none, the element type is `dynamic`
///   (each element then carries its own type on the wire).
/// - object/tuple → object/tuple of the inferred attribute/element types.
pub fn infer_type(v: &Value) -> Type {
    infer_at(v, 0)
}

/// Beyond [`MAX_DEPTH`] inference gives up (`dynamic`); encoders then reject
/// the value for its depth anyway.
fn infer_at(v: &Value, depth: usize) -> Type {
    if depth > MAX_DEPTH {
        return Type::Dynamic;
    }
    let d = depth + 1;
    match v {
        Value::Null | Value::Unknown(_) => Type::Dynamic,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        // Elements of different types make a structural value, as cty's
        // conversions do: a list becomes a tuple, a map an object (a
        // `list(dynamic)` of mixed elements is not a value Terraform accepts).
        Value::List(vs) => match common_type(vs.iter(), d) {
            Some(t) => Type::list(t),
            None => Type::Tuple(vs.iter().map(|v| infer_at(v, d)).collect()),
        },
        Value::Set(vs) => Type::set(common_type(vs.iter(), d).unwrap_or(Type::Dynamic)),
        Value::Map(m) => match common_type(m.values(), d) {
            Some(t) => Type::map(t),
            None => Type::object(m.iter().map(|(k, v)| (k.clone(), infer_at(v, d)))),
        },
        Value::Object(m) => Type::object(m.iter().map(|(k, v)| (k.clone(), infer_at(v, d)))),
        Value::Tuple(vs) => Type::Tuple(vs.iter().map(|v| infer_at(v, d)).collect()),
        Value::Dynamic(t, _) => t.clone(),
    }
}

/// The one type all known elements share (`dynamic` when there are none),
/// or `None` when they disagree.
fn common_type<'a>(vs: impl Iterator<Item = &'a Value>, depth: usize) -> Option<Type> {
    let mut found: Option<Type> = None;
    for v in vs {
        let t = infer_at(v, depth);
        if t == Type::Dynamic {
            continue;
        }
        match &found {
            None => found = Some(t),
            Some(f) if *f == t => {}
            Some(_) => return None,
        }
    }
    Some(found.unwrap_or(Type::Dynamic))
}

/// Check that `value` can be encoded as `ty`: shapes match, tuples have the
/// right length, objects have no attributes the type lacks (missing ones count
/// as null). Null and unknown conform to every type; anything conforms to
/// `dynamic`. A [`Value::Dynamic`] must carry a type equal to a non-dynamic
/// slot's type, and its inner value must conform to that type.
pub fn conforms(value: &Value, ty: &Type) -> Result<()> {
    check(value, ty, &AttributePath::root(), 0)
}

#[cold]
#[inline(never)]
fn err(path: &AttributePath, message: impl Into<String>) -> Error {
    Error::Type {
        path: path.clone(),
        message: message.into(),
    }
}

#[cold]
#[inline(never)]
fn mismatch(path: &AttributePath, ty: &Type, v: &Value) -> Error {
    err(path, format!("{ty} is required, not {}", kind_name(v)))
}

fn check(value: &Value, ty: &Type, path: &AttributePath, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(err(path, "value nested too deeply"));
    }
    let d = depth + 1;
    match (value, ty) {
        (Value::Null | Value::Unknown(_), _) => Ok(()),
        (Value::Dynamic(t, v), Type::Dynamic) => check(v, t, path, d),
        (Value::Dynamic(t, v), _) if t == ty => check(v, ty, path, d),
        (Value::Dynamic(t, _), _) => Err(err(
            path,
            format!("dynamic value of type {t} where {ty} is required"),
        )),
        (v, Type::Dynamic) => check_inferred(v, path, d),
        (Value::Bool(_), Type::Bool)
        | (Value::Number(_), Type::Number)
        | (Value::String(_), Type::String) => Ok(()),
        (Value::List(vs), Type::List(et)) | (Value::Set(vs), Type::Set(et)) => {
            check_seq(vs, |_| et, path, d)
        }
        (Value::Map(m), Type::Map(et)) => check_map(m, |_| Some(et), path, d, PathStep::Key),
        (Value::Object(m), Type::Object(ot)) => {
            check_map(m, |k| ot.attrs.get(k), path, d, PathStep::Attr)
        }
        (Value::Tuple(vs), Type::Tuple(ts)) => {
            if vs.len() != ts.len() {
                return Err(err(
                    path,
                    format!(
                        "a tuple of {} elements is required ({} given)",
                        ts.len(),
                        vs.len()
                    ),
                ));
            }
            check_seq(vs, |i| &ts[i], path, d)
        }
        (v, t) => Err(mismatch(path, t, v)),
    }
}

#[inline(never)]
fn check_inferred(v: &Value, path: &AttributePath, depth: usize) -> Result<()> {
    check(v, &infer_type(v), path, depth)
}

#[inline(never)]
fn check_seq<'t>(
    vs: &[Value],
    ty_at: impl Fn(usize) -> &'t Type,
    path: &AttributePath,
    depth: usize,
) -> Result<()> {
    for (i, v) in vs.iter().enumerate() {
        check(v, ty_at(i), &path.join_index(i as i64), depth)?;
    }
    Ok(())
}

#[inline(never)]
fn check_map<'t>(
    m: &BTreeMap<String, Value>,
    ty_of: impl Fn(&str) -> Option<&'t Type>,
    path: &AttributePath,
    depth: usize,
    step: fn(String) -> PathStep,
) -> Result<()> {
    for (k, v) in m {
        let p = path.join(step(k.clone()));
        let Some(t) = ty_of(k) else {
            return Err(err(&p, "unsupported attribute"));
        };
        check(v, t, &p, depth)?;
    }
    Ok(())
}

/// A short description of a value's shape, for error messages.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown(_) => "an unknown value",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Set(_) => "a set",
        Value::Map(_) => "a map",
        Value::Object(_) => "an object",
        Value::Tuple(_) => "a tuple",
        Value::Dynamic(..) => "a dynamic value",
    }
}

/// An object value may only hold the attributes its type has (both codecs
/// refuse the rest, naming the first one).
pub(crate) fn reject_extra_attributes(
    m: &BTreeMap<String, Value>,
    ot: &crate::ObjectType,
    path: &crate::path::Trail<'_>,
) -> Result<()> {
    match m.keys().find(|k| !ot.attrs.contains_key(*k)) {
        Some(extra) => Err(Error::Type {
            path: path.attr(extra.as_str()).to_path(),
            message: "unsupported attribute".to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inference() {
        assert_eq!(infer_type(&Value::list([])), Type::list(Type::Dynamic));
        assert_eq!(
            infer_type(&Value::list([Value::Null, Value::from("a")])),
            Type::list(Type::String)
        );
        // Mixed elements: a tuple (a map of mixed values: an object).
        let mixed = Value::list([Value::from(1i64), Value::from("a")]);
        assert_eq!(
            infer_type(&mixed),
            Type::tuple([Type::Number, Type::String])
        );
        let bytes = crate::msgpack::encode(&mixed, &Type::Dynamic).unwrap();
        let back = crate::msgpack::decode(&bytes, &Type::Dynamic).unwrap();
        assert_eq!(back.infer_type(), Type::tuple([Type::Number, Type::String]));
        let m = Value::map([
            ("n".to_string(), Value::from(1i64)),
            ("s".to_string(), Value::from("a")),
        ]);
        assert_eq!(
            infer_type(&m),
            Type::object([("n", Type::Number), ("s", Type::String)])
        );
        assert_eq!(
            infer_type(&Value::object([
                ("a", Value::from(true)),
                ("b", Value::Null)
            ])),
            Type::object([("a", Type::Bool), ("b", Type::Dynamic)])
        );
        assert_eq!(
            infer_type(&Value::Dynamic(Type::Number, Box::new(Value::Null))),
            Type::Number
        );
    }

    #[test]
    fn conformance() {
        let ty = Type::object([("a", Type::String), ("b", Type::list(Type::Number))]);
        assert!(conforms(&Value::object([("a", Value::from("x"))]), &ty).is_ok());
        let bad = Value::object([("b", Value::list([Value::from("x")]))]);
        let Err(Error::Type { path, .. }) = conforms(&bad, &ty) else {
            panic!("expected a type error")
        };
        assert_eq!(path.to_string(), "b[0]");
        assert!(conforms(&Value::object([("c", Value::Null)]), &ty).is_err());
        assert!(conforms(&Value::from(1i64), &Type::Dynamic).is_ok());
    }
}

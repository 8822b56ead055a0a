//! JSON forms: state values (`RawState.json`) and type JSON.
//!
//! TODO(cty helper): implement.

use crate::{Result, Type, Value};

/// Decode state JSON leniently: missing object attributes become null,
/// attributes the type does not know are dropped (state written by an older schema).
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value> {
    let _ = (bytes, ty);
    todo!()
}

/// Encode a wholly known value as JSON (unknowns are an error).
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>> {
    let _ = (value, ty);
    todo!()
}

/// Parse type JSON (`"string"`, `["list","number"]`, `["object",{"a":"bool"},["a"]]`).
pub fn decode_type(bytes: &[u8]) -> Result<Type> {
    let _ = bytes;
    todo!()
}

/// Type JSON, as schema attributes and dynamic wrappers carry it.
pub fn encode_type(ty: &Type) -> Vec<u8> {
    let _ = ty;
    todo!()
}

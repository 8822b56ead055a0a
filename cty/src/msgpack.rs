//! The msgpack wire format of `DynamicValue` (see Terraform's object-wire-format.md).
//!
//! TODO(cty helper): implement.

use crate::{Result, Type, Value};

/// Decode `bytes` as a value of type `ty`. Empty input decodes as null.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value> {
    let _ = (bytes, ty);
    todo!()
}

/// Encode `value` as type `ty`.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>> {
    let _ = (value, ty);
    todo!()
}

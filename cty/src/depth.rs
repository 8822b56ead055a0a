//! The depth limit both codecs hold dynamic values' types to, so a value
//! one codec accepts the other does too.

use crate::types::Type;

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

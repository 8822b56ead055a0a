//! Whatever decodes must encode again and decode to the same value, in
//! msgpack and (for wholly known values) in state JSON.
//!
//! The one allowed difference: the encoder omits a refinement that would
//! make the payload overflow 1024 bytes (a bound that prints longer than it
//! was sent, e.g. "1e-2000"), and cuts a string prefix to fit, so an unknown
//! may come back less refined; never differently refined.
#![no_main]

use labforge_cty::{Refinements, Value};
use libfuzzer_sys::fuzz_target;

mod common;

/// Whether `back` is `v`, or `v` with some refinements weakened.
fn same_or_weaker(back: &Value, v: &Value) -> bool {
    match (back, v) {
        (Value::Unknown(b), Value::Unknown(r)) => weaker(b, r),
        (Value::List(a), Value::List(b))
        | (Value::Set(a), Value::Set(b))
        | (Value::Tuple(a), Value::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_or_weaker(x, y))
        }
        (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, x), (kb, y))| ka == kb && same_or_weaker(x, y))
        }
        (Value::Dynamic(ta, a), Value::Dynamic(tb, b)) => ta == tb && same_or_weaker(a, b),
        _ => back == v,
    }
}

fn weaker(b: &Refinements, r: &Refinements) -> bool {
    fn kept<T: PartialEq>(b: &Option<T>, r: &Option<T>) -> bool {
        b.is_none() || b == r
    }
    let prefix = match (&b.string_prefix, &r.string_prefix) {
        (None, _) => true,
        (Some(p), Some(q)) => q.starts_with(p.as_str()),
        (Some(_), None) => false,
    };
    b.nullable == r.nullable
        && prefix
        && kept(&b.number_lower, &r.number_lower)
        && kept(&b.number_upper, &r.number_upper)
        && b.length_lower == r.length_lower
        && b.length_upper == r.length_upper
}

fuzz_target!(|data: &[u8]| {
    for ty in common::types() {
        let Ok(v) = labforge_cty::msgpack::decode(data, &ty) else {
            continue;
        };
        let bytes = match labforge_cty::msgpack::encode(&v, &ty) {
            Ok(b) => b,
            Err(e) => panic!("decoded value does not encode: {e}: {v:?}"),
        };
        let back = match labforge_cty::msgpack::decode(&bytes, &ty) {
            Ok(back) => back,
            Err(e) => panic!("re-encoded value does not decode: {e}"),
        };
        assert!(
            same_or_weaker(&back, &v),
            "round trip changed the value: {v:?} came back as {back:?}"
        );
        // A second round trip changes nothing.
        assert_eq!(
            labforge_cty::msgpack::encode(&back, &ty).ok().as_deref(),
            Some(bytes.as_slice()),
            "encoding is not stable"
        );
        // Known values also survive JSON, and JSON agrees with msgpack on
        // what can be written.
        if !v.contains_unknown() {
            let json = match labforge_cty::json::encode(&v, &ty) {
                Ok(json) => json,
                Err(e) => panic!("a value msgpack carries has no state JSON: {e}"),
            };
            let back = labforge_cty::json::decode(&json, &ty);
            assert_eq!(
                back.as_ref().ok(),
                Some(&v),
                "JSON round trip changed the value: {back:?}"
            );
        }
    }
});

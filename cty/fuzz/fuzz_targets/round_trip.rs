//! Whatever decodes must encode again and decode to an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    for ty in common::types() {
        let Ok(v) = labforge_cty::msgpack::decode(data, &ty) else {
            continue;
        };
        let bytes = match labforge_cty::msgpack::encode(&v, &ty) {
            Ok(b) => b,
            Err(e) => panic!("decoded value does not encode: {e}: {v:?}"),
        };
        match labforge_cty::msgpack::decode(&bytes, &ty) {
            Ok(back) => assert_eq!(back, v, "round trip changed the value"),
            Err(e) => panic!("re-encoded value does not decode: {e}"),
        }
        // Known values also survive JSON.
        if !v.contains_unknown() {
            if let Ok(json) = labforge_cty::json::encode(&v, &ty) {
                let back = labforge_cty::json::decode(&json, &ty);
                assert_eq!(
                    back.as_ref().ok(),
                    Some(&v),
                    "JSON round trip changed the value"
                );
            }
        }
    }
});

//! State JSON and type JSON decoding must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let _ = labforge_cty::json::decode_type(data);
    for ty in common::types() {
        let _ = labforge_cty::json::decode(data, &ty);
    }
});

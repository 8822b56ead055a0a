//! Decoding arbitrary bytes must never panic, only return errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    for ty in common::types() {
        let _ = labforge_cty::msgpack::decode(data, &ty);
    }
});

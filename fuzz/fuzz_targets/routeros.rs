//! RouterOS: the property values the router prints (durations, addresses,
//! port ranges, protocols), decoded for every property of every menu the
//! provider manages, and compared as the plan compares them.
#![no_main]

use labforge_routeros::{client, fields, props, values};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = values::parse_duration(s);
    let _ = values::parse_address(s, true);
    let _ = values::parse_address(s, false);
    let _ = values::canonical_address(s);
    let _ = values::same_address(s, s);
    let _ = values::parse_ports(s);
    let _ = values::canonical_ports(s);
    let _ = values::same_ports(s, s);
    let _ = values::parse_protocol(s);
    let _ = values::same_protocol(s, s);
    let _ = client::id_number(s);
    let _ = client::is_id(s);
    for menu in [
        props::FILTER,
        props::NAT,
        props::ADDRESS_LIST,
        props::DNS_STATIC,
    ] {
        for p in menu {
            let v = fields::decode(p, Some(s));
            let _ = fields::check_value(p, &v);
            let _ = fields::encode(p, &v);
            let _ = fields::same(p, &v, &v);
        }
    }
});

//! pfSense (REST API v2): the firewall rule, alias and interface objects the
//! client reads, as its codec turns them into the provider's model.
#![no_main]

use labforge_pfsense::client::codec;
use labforge_pfsense::model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let items = match &v {
            serde_json::Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for item in &items {
            let _ = codec::rule(item);
            let _ = codec::alias(item);
            let _ = codec::interface(item);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = model::is_ip(s);
        let _ = model::is_subnet(s);
        let _ = model::is_fqdn(s);
        let _ = model::alias_name_problem(s);
        let _ = model::address_problem(s);
        let _ = model::address_name(s);
        let _ = model::port_problem(s);
        let _ = model::alias_entry_problem("host", s);
        let _ = model::alias_entry_problem("network", s);
        let _ = model::alias_entry_problem("port", s);
    }
});

//! Technitium: what the client reads from `/api/zones/records/get` and
//! `/api/zones/list` (records, zones, zone options), and the record identity
//! the resources build from a record. Never panics on any answer.
#![no_main]

use labforge_technitium::client::{RecordInfo, ZoneInfo, ZoneOptions};
use labforge_technitium::rdata::{self, RecordData};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = serde_json::from_slice::<Vec<RecordInfo>>(data) {
        for r in &records {
            let _ = (r.str("ipAddress"), r.num("priority"));
            if let Some(d) = RecordData::from_record(r) {
                let _ = d.matches(r);
                let _ = d.identifies(r);
                let c = d.canonical();
                let _ = (c.params(), c.identity_params(), c.new_params());
                let id = rdata::import_id("example.com", "www", &d);
                let _ = rdata::parse_import_id(&id);
                let _ = d.id_value();
            }
        }
    }
    let _ = serde_json::from_slice::<Vec<ZoneInfo>>(data);
    let _ = serde_json::from_slice::<ZoneOptions>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = rdata::parse_import_id(s);
        let _ = rdata::RType::parse(s);
        let _ = rdata::norm_name(s);
        let _ = rdata::fqdn(s, "example.com");
    }
});

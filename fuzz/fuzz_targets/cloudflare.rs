//! Cloudflare: the zone, record and error entries the client reads from the
//! v4 API's answers, sorted into errors as the client sorts them; and the
//! normalisation the resources apply to what the API returns.
#![no_main]

use labforge_cloudflare::client::{self, ApiMessage, ApiRecord, ApiZone, ResultInfo};
use labforge_cloudflare::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(errors) = serde_json::from_slice::<Vec<ApiMessage>>(data) {
        let _ = client::classify("GET", "/zones", 400, errors).to_string();
    }
    if let Ok(records) = serde_json::from_slice::<Vec<ApiRecord>>(data) {
        for r in &records {
            let content = r.content.clone().unwrap_or_default();
            let _ = normalize::same_content(&r.record_type, &content, &content);
            let _ = normalize::txt_value(&content);
            let _ = normalize::same_name(&r.name, &r.name, Some("example.com"));
            let _ = normalize::host(&r.name);
        }
    }
    let _ = serde_json::from_slice::<Vec<ApiZone>>(data);
    let _ = serde_json::from_slice::<ResultInfo>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = labforge_cloudflare::resources::record::parse_import_id(s);
        let _ = normalize::qualify(s, "example.com");
        let _ = normalize::same_host(s, s);
    }
});

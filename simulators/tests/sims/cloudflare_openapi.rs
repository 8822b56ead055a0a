//! The Cloudflare simulator's accepted types, fields and bounds agree with
//! the official OpenAPI subset kept in `shared/reference/cloudflare/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use labforge_simulators::cloudflare::{
    self, CloudflareSim, DATA_TYPES, EDIT_TOKEN, RECORD_TYPES, RECORDS_PER_PAGE_DEFAULT,
    RECORDS_PER_PAGE_MAX, TTL_MAX, TTL_MIN, ZONE_EXAMPLE_COM, ZONES_PER_PAGE,
};
use serde_json::{Value, json};

fn openapi() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/cloudflare/cloudflare-dns.openapi.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("valid OpenAPI JSON")),
        Err(_) => {
            eprintln!(
                "SKIPPED: {} is absent; cannot cross-check the simulator against the OpenAPI schema",
                path.display()
            );
            None
        }
    }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn set(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

/// `dns-records_XRecord` refs of a oneOf → `X`.
fn one_of_types(doc: &Value, name: &str) -> BTreeSet<String> {
    set(schema(doc, name)["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["$ref"]
                .as_str()
                .unwrap()
                .trim_start_matches("#/components/schemas/dns-records_")
                .trim_end_matches("Record")
                .to_string()
        }))
}

#[test]
fn record_types_match_schema() {
    let Some(doc) = openapi() else { return };
    let enum_types = set(schema(&doc, "dns-records_type")["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string()));
    let ours = set(RECORD_TYPES.iter().map(|s| s.to_string()));
    assert_eq!(ours, enum_types);
    let with_data = one_of_types(&doc, "dns-records_dns-record-with-data");
    assert_eq!(set(DATA_TYPES.iter().map(|s| s.to_string())), with_data);
    let without = one_of_types(&doc, "dns-records_dns-record-without-data");
    let union: BTreeSet<String> = with_data.union(&without).cloned().collect();
    assert_eq!(union, ours);
}

#[test]
fn bounds_match_schema() {
    let Some(doc) = openapi() else { return };
    let ttl = schema(&doc, "dns-records_ttl");
    assert_eq!(ttl["default"], 1);
    let range = &ttl["anyOf"][0];
    assert_eq!(range["maximum"].as_u64(), Some(TTL_MAX));
    // The schema's minimum (30) is for Enterprise zones; ours must not be lower.
    assert!(range["minimum"].as_u64().unwrap() <= TTL_MIN);
    assert_eq!(ttl["anyOf"][1]["enum"], json!([1]));

    let per_page = schema(&doc, "dns-records_per_page");
    assert_eq!(per_page["default"].as_u64(), Some(RECORDS_PER_PAGE_DEFAULT));
    assert_eq!(per_page["maximum"].as_u64(), Some(RECORDS_PER_PAGE_MAX));

    let params = doc["paths"]["/zones"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let zpp = params.iter().find(|p| p["name"] == "per_page").unwrap();
    let (min, default, max) = ZONES_PER_PAGE;
    assert_eq!(zpp["schema"]["minimum"].as_u64(), Some(min));
    assert_eq!(zpp["schema"]["default"].as_u64(), Some(default));
    assert_eq!(zpp["schema"]["maximum"].as_u64(), Some(max));

    let order = schema(&doc, "dns-records_order")["enum"].clone();
    assert_eq!(order, json!(["type", "name", "content", "ttl", "proxied"]));
    let tags = schema(&doc, "dns-records_tags");
    assert!(
        tags["items"]["description"]
            .as_str()
            .unwrap()
            .contains("name:value")
    );
}

#[test]
fn list_filters_are_known_parameters() {
    let Some(doc) = openapi() else { return };
    let params: BTreeSet<String> =
        doc["paths"]["/zones/{zone_id}/dns_records"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect();
    for ours in [
        "type",
        "name",
        "name.exact",
        "name.contains",
        "name.startswith",
        "name.endswith",
        "content",
        "content.exact",
        "content.contains",
        "proxied",
        "match",
        "comment",
        "comment.present",
        "comment.absent",
        "tag",
        "tag.present",
        "tag.absent",
        "search",
        "tag_match",
        "page",
        "per_page",
        "order",
        "direction",
    ] {
        assert!(
            params.contains(ours),
            "simulator filter {ours} is not in the schema"
        );
    }
}

#[test]
fn responses_carry_required_fields() {
    let Some(doc) = openapi() else { return };
    let resp = schema(&doc, "dns-records_dns-record-response");
    let mut required: Vec<String> = resp["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    required.extend(
        resp["allOf"][1]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string()),
    );
    let sim = CloudflareSim::start().unwrap();
    let plain = sim
        .create_record(
            ZONE_EXAMPLE_COM,
            json!({"type": "A", "name": "x", "content": "192.0.2.1"}),
        )
        .unwrap();
    let with_data = sim
        .create_record(ZONE_EXAMPLE_COM, json!({"type": "CAA", "name": "x", "data": {"flags": 0, "tag": "issue", "value": "ca.example"}}))
        .unwrap();
    for field in &required {
        // `data` exists only on the structured types.
        if field != "data" {
            assert!(
                plain.get(field).is_some(),
                "A record lacks required {field}: {plain}"
            );
        }
        assert!(
            with_data.get(field).is_some(),
            "CAA record lacks required {field}: {with_data}"
        );
    }
    let common = schema(&doc, "dns-records_api-response-common")["required"].clone();
    assert_eq!(common, json!(["success", "errors", "messages"]));
    let _ = (EDIT_TOKEN, cloudflare::PROXIABLE_TYPES);
}

//! The Cloudflare simulator's accepted types, fields and bounds agree with
//! the official OpenAPI (cloudflare/api-schemas `openapi.yaml`, DNS subset;
//! the project's shared reference copy is read at run time).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use labforge_simulators::cloudflare::{
    self, CloudflareSim, DATA_TYPES, EDIT_TOKEN, RECORD_TYPES, RECORDS_PER_PAGE_DEFAULT,
    RECORDS_PER_PAGE_MAX, REQUEST_FIELD_TYPES, TOP_LEVEL_PRIORITY_TYPES, TTL_MAX, TTL_MIN,
    ZONE_EXAMPLE_COM, ZONES_PER_PAGE,
};
use reqwest::Method;
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

// ------------------------------------------------------------------------
// Responses against the OpenAPI response schemas.

/// Follows `$ref`s.
fn resolve<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    while let Some(r) = s["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        s = &doc["components"]["schemas"][name];
    }
    s
}

/// Checks a response value against a schema, strictly: every property of an
/// object must be one the schema documents (through `allOf`, and the
/// `anyOf`/`oneOf` branch the value fits), values have the schema's JSON
/// type and enum, required properties are there, and `null` is accepted only
/// where the schema says `nullable` or `null_ok(path)` holds.
struct Checker<'a> {
    doc: &'a Value,
    null_ok: &'a dyn Fn(&str) -> bool,
}

impl Checker<'_> {
    fn check(&self, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
        let s = resolve(self.doc, schema);
        if v.is_null() {
            if !self.nullable(s) && !(self.null_ok)(path) {
                errs.push(format!("{path}: null, but the schema does not allow it"));
            }
            return;
        }
        if let Some(list) = s["allOf"].as_array() {
            // Non-object parts of allOf: check each part's type.
            if !v.is_object() {
                for part in list {
                    self.check(part, v, path, errs);
                }
            }
        }
        let ty = s["type"].as_str();
        let ok = match ty {
            Some("string") => v.is_string(),
            Some("number") => v.is_number(),
            Some("integer") => v.as_i64().is_some() || v.as_u64().is_some(),
            Some("boolean") => v.is_boolean(),
            Some("array") => v.is_array(),
            Some("object") => v.is_object(),
            _ => true,
        };
        if !ok {
            errs.push(format!("{path}: {v} is not of type {}", ty.unwrap_or("?")));
            return;
        }
        if let Some(e) = s["enum"].as_array()
            && !e.contains(v)
        {
            errs.push(format!("{path}: {v} is not one of {e:?}"));
        }
        if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
            for (i, x) in arr.iter().enumerate() {
                self.check(items, x, &format!("{path}[{i}]"), errs);
            }
        }
        if let Some(obj) = v.as_object() {
            let mut props: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            let mut required = BTreeSet::new();
            let composed = self.view(s, v, path, &mut props, &mut required, errs);
            if !composed {
                return; // a free-form object
            }
            for (k, x) in obj {
                match props.get(k) {
                    None => errs.push(format!(
                        "{path}.{k}: not documented by the schema (it documents {:?})",
                        props.keys().collect::<Vec<_>>()
                    )),
                    Some(list) => {
                        self.check(&json!({ "allOf": list }), x, &format!("{path}.{k}"), errs)
                    }
                }
            }
            for r in required {
                // `required` may name properties of sibling branches (the
                // response lists `data`, which only structured types have).
                if props.contains_key(&r) && !obj.contains_key(&r) {
                    errs.push(format!("{path}: required `{r}` is missing"));
                }
            }
        }
    }

    /// `nullable`, also through an `allOf` whose parts all are.
    fn nullable(&self, s: &Value) -> bool {
        let s = resolve(self.doc, s);
        s["nullable"] == true
            || s["allOf"]
                .as_array()
                .is_some_and(|l| !l.is_empty() && l.iter().all(|p| self.nullable(p)))
    }

    /// The properties and required names an object schema gives `v`. Returns
    /// whether the schema describes properties at all.
    fn view(
        &self,
        schema: &Value,
        v: &Value,
        path: &str,
        props: &mut BTreeMap<String, Vec<Value>>,
        required: &mut BTreeSet<String>,
        errs: &mut Vec<String>,
    ) -> bool {
        let s = resolve(self.doc, schema);
        let mut described = false;
        if let Some(p) = s["properties"].as_object() {
            described = true;
            for (k, sub) in p {
                props.entry(k.clone()).or_default().push(sub.clone());
            }
        }
        for r in s["required"].as_array().into_iter().flatten() {
            required.extend(r.as_str().map(str::to_string));
        }
        for part in s["allOf"].as_array().into_iter().flatten() {
            described |= self.view(part, v, path, props, required, errs);
        }
        for key in ["anyOf", "oneOf"] {
            let Some(branches) = s[key].as_array() else {
                continue;
            };
            let fitting: Vec<&Value> = branches.iter().filter(|b| self.fits(b, v, path)).collect();
            if fitting.is_empty() {
                errs.push(format!("{path}: fits no branch of {key}"));
            }
            if key == "oneOf" && fitting.len() > 1 {
                errs.push(format!("{path}: fits {} branches of oneOf", fitting.len()));
            }
            for b in fitting {
                described |= self.view(b, v, path, props, required, errs);
            }
        }
        described
    }

    /// Whether every property of `v` that `branch` describes has a value it accepts.
    fn fits(&self, branch: &Value, v: &Value, path: &str) -> bool {
        let mut props = BTreeMap::new();
        let mut required = BTreeSet::new();
        let mut errs = Vec::new();
        self.view(branch, v, path, &mut props, &mut required, &mut errs);
        let Some(obj) = v.as_object() else {
            return false;
        };
        errs.is_empty()
            && obj.iter().all(|(k, x)| {
                props.get(k).is_none_or(|list| {
                    let mut e = Vec::new();
                    self.check(&json!({ "allOf": list }), x, &format!("{path}.{k}"), &mut e);
                    e.is_empty()
                })
            })
    }
}

/// The 200 response schema of an operation.
fn response_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let s =
        &doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(!s.is_null(), "no 200 schema for {method} {path}");
    s
}

/// A record without a comment says `"comment": null` (research
/// `backends-b.md` §4c: "comment (null/absent when none)"), although
/// `dns-records_comment` is not marked nullable.
fn comment_may_be_null(path: &str) -> bool {
    path.ends_with(".comment")
}

fn violations(doc: &Value, schema: &Value, v: &Value) -> Vec<String> {
    let checker = Checker {
        doc,
        null_ok: &comment_may_be_null,
    };
    let mut errs = Vec::new();
    checker.check(schema, v, "$", &mut errs);
    errs
}

async fn call(sim: &CloudflareSim, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut b = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", sim.base_url()))
        .bearer_auth(EDIT_TOKEN);
    if let Some(body) = body {
        b = b.json(&body);
    }
    let resp = b.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{method} {path}");
    resp.json().await.unwrap()
}

#[test]
fn the_checker_catches_undocumented_fields_and_nulls() {
    let Some(doc) = openapi() else { return };
    let schema = response_schema(&doc, "/zones/{zone_id}/dns_records/{dns_record_id}", "get");
    let good = json!({"success": true, "errors": [], "messages": [], "result": {
        "id": "372e67954025e0ba6aaa6d586b9e0b59", "name": "www.example.com", "type": "A",
        "content": "192.0.2.1", "proxiable": true, "proxied": false, "ttl": 1, "settings": {},
        "meta": {}, "comment": "c", "tags": [], "created_on": "2024-01-01T00:00:00Z",
        "modified_on": "2024-01-01T00:00:00Z"}});
    assert_eq!(violations(&doc, schema, &good), Vec::<String>::new());
    for (field, value) in [
        ("zone_name", json!("example.com")),
        ("zone_id", json!(ZONE_EXAMPLE_COM)),
        ("ttl", json!(null)),
        ("ttl", json!("1")),
        ("type", json!("BOGUS")),
        ("tags", json!([1])),
    ] {
        let mut bad = good.clone();
        bad["result"][field] = value.clone();
        let errs = violations(&doc, schema, &bad);
        assert!(
            errs.iter().any(|e| e.contains(field)),
            "{field} = {value} passed: {errs:?}"
        );
    }
    let mut bad = good.clone();
    bad["result"].as_object_mut().unwrap().remove("id");
    assert!(!violations(&doc, schema, &bad).is_empty());
}

/// Every record and zone answer the client relies on, for each record type
/// it manages, conforms to the OpenAPI response schema of its operation.
#[tokio::test]
async fn responses_conform_to_the_schema() {
    let Some(doc) = openapi() else { return };
    let sim = CloudflareSim::start().unwrap();
    let z = ZONE_EXAMPLE_COM;
    let records = format!("/zones/{z}/dns_records");
    let mut answers: Vec<(String, &str, &str, Value)> = Vec::new();
    let bodies = [
        json!({"type": "A", "name": "a", "content": "192.0.2.1", "comment": "c", "tags": ["env:lab"]}),
        json!({"type": "AAAA", "name": "v6", "content": "2001:DB8::1"}),
        json!({"type": "CNAME", "name": "alias", "content": "a.example.com", "proxied": true}),
        json!({"type": "TXT", "name": "@", "content": "x".repeat(300)}),
        json!({"type": "MX", "name": "@", "content": "mx.example.com", "priority": 10}),
        json!({"type": "SRV", "name": "_sip._tcp", "data": {"priority": 1, "weight": 5, "port": 5060, "target": "sip.example.com"}}),
        json!({"type": "CAA", "name": "@", "data": {"flags": 0, "tag": "issue", "value": "ca.example"}}),
    ];
    let mut ids = Vec::new();
    for b in bodies {
        let v = call(&sim, Method::POST, &records, Some(b)).await;
        ids.push(v["result"]["id"].as_str().unwrap().to_string());
        answers.push(("POST".into(), "/zones/{zone_id}/dns_records", "post", v));
    }
    let one = format!("{records}/{}", ids[0]);
    let item = "/zones/{zone_id}/dns_records/{dns_record_id}";
    let v = call(&sim, Method::GET, &one, None).await;
    answers.push(("GET one".into(), item, "get", v));
    let v = call(
        &sim,
        Method::PUT,
        &one,
        Some(json!({"type": "A", "name": "a", "content": "192.0.2.2", "ttl": 300, "comment": ""})),
    )
    .await;
    answers.push(("PUT".into(), item, "put", v));
    let v = call(&sim, Method::PATCH, &one, Some(json!({"proxied": true}))).await;
    answers.push(("PATCH".into(), item, "patch", v));
    let v = call(&sim, Method::GET, &records, None).await;
    answers.push(("list".into(), "/zones/{zone_id}/dns_records", "get", v));
    let v = call(&sim, Method::GET, &format!("/zones/{z}"), None).await;
    answers.push(("zone".into(), "/zones/{zone_id}", "get", v));
    let v = call(&sim, Method::GET, "/zones?name=example.com", None).await;
    answers.push(("zones".into(), "/zones", "get", v));
    for (what, path, method, v) in &answers {
        let errs = violations(&doc, response_schema(&doc, path, method), v);
        assert!(
            errs.is_empty(),
            "{what} answer does not conform: {errs:#?}\n{v:#}"
        );
    }
    // DELETE's schema describes only `result`.
    let v = call(&sim, Method::DELETE, &one, None).await;
    let del = &response_schema(&doc, item, "delete")["properties"]["result"];
    let errs = violations(&doc, del, &v["result"]);
    assert!(errs.is_empty(), "DELETE result: {errs:?}");
}

/// The simulator's request field types are the OpenAPI's, none nullable (so
/// refusing `null` is what a validating server does).
#[test]
fn request_field_types_match_schema() {
    let Some(doc) = openapi() else { return };
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut nullable = Vec::new();
    let mut names: Vec<String> = vec![
        "dns-records_dns-record-shared-fields".into(),
        "dns-records_dns-record-batch-patch".into(),
    ];
    names.extend(
        RECORD_TYPES
            .iter()
            .map(|t| format!("dns-records_{t}Record")),
    );
    for n in &names {
        let s = schema(&doc, n);
        let mut parts = vec![s];
        parts.extend(s["allOf"].as_array().into_iter().flatten());
        for part in parts {
            for (k, sub) in part["properties"].as_object().into_iter().flatten() {
                let sub = resolve(&doc, sub);
                if sub["nullable"] == true {
                    nullable.push(format!("{n}.{k}"));
                }
                let ty = sub["type"]
                    .as_str()
                    .or_else(|| sub["anyOf"][0]["type"].as_str())
                    .unwrap_or("?");
                found.entry(k.clone()).or_default().insert(ty.to_string());
            }
        }
    }
    assert!(nullable.is_empty(), "nullable request fields: {nullable:?}");
    for (field, ty) in REQUEST_FIELD_TYPES {
        let tys = found
            .get(*field)
            .unwrap_or_else(|| panic!("{field} is not a request field of the schema"));
        assert_eq!(tys, &BTreeSet::from([ty.to_string()]), "type of {field}");
    }
    // Top-level priority: exactly the types whose schema has one.
    let with_priority: BTreeSet<String> = RECORD_TYPES
        .iter()
        .filter(|t| {
            let s = schema(&doc, &format!("dns-records_{t}Record"));
            s["allOf"][1]["properties"].get("priority").is_some()
        })
        .map(|t| t.to_string())
        .collect();
    let ours: BTreeSet<String> = TOP_LEVEL_PRIORITY_TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(ours, with_priority);
}

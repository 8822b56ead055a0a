//! The plan-time field tables (`src/config/known_fields_v1_13.json`,
//! `known_fields_v1_14.json`) match the official Talos schemas: rebuilt here
//! from the simulator's embedded copies of `config.schema.json` (v1.13.9,
//! v1.14.0-rc.1) by the rules of `src/config/known_fields.py`.

use labforge_simulators::talos::schema::SchemaVersion;
use serde_json::{Map, Value, json};

/// A node: `"*"` (any value), `{"p": {name: node}}` (an object with these
/// keys only), `{"m": node}` (a map of any keys to node), `{"i": node}` (a
/// list of node).
fn node(defs: &Map<String, Value>, s: &Value, depth: usize) -> Value {
    let any = || json!("*");
    if depth > 40 {
        return any();
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return node(defs, &defs[name], depth + 1);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            let subs: Vec<Value> = list.iter().map(|x| node(defs, x, depth + 1)).collect();
            let objs: Vec<&Value> = subs.iter().filter(|x| x.is_object()).collect();
            return if objs.len() == 1 && subs.len() == 1 {
                objs[0].clone()
            } else {
                any()
            };
        }
    }
    if s.get("type").and_then(Value::as_str) == Some("array")
        && let Some(items) = s.get("items")
    {
        let inner = node(defs, items, depth + 1);
        return if inner == any() {
            any()
        } else {
            json!({ "i": inner })
        };
    }
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(p) = props
        && !p.is_empty()
        && s.get("additionalProperties") == Some(&Value::Bool(false))
    {
        let fields: Map<String, Value> = p
            .iter()
            .map(|(k, v)| (k.clone(), node(defs, v, depth + 1)))
            .collect();
        return json!({ "p": fields });
    }
    if let Some(ap) = s.get("additionalProperties").filter(|v| v.is_object())
        && props.is_none()
    {
        let inner = node(defs, ap, depth + 1);
        return if inner == any() {
            any()
        } else {
            json!({ "m": inner })
        };
    }
    any()
}

/// The table of a schema: each document kind (`v1alpha1` for the machine
/// config) to its node.
fn table(schema: &Value) -> Value {
    let defs = schema["$defs"].as_object().unwrap();
    let mut out = Map::new();
    for r in schema["oneOf"].as_array().unwrap() {
        let name = r["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let d = &defs[name];
        let kind = d
            .get("properties")
            .and_then(|p| p.get("kind"))
            .and_then(|k| k.get("enum"))
            .and_then(|e| e.get(0))
            .and_then(Value::as_str)
            .unwrap_or("v1alpha1");
        out.insert(kind.to_string(), node(defs, d, 0));
    }
    Value::Object(out)
}

#[test]
fn the_field_tables_match_the_official_schemas() {
    for (version, file) in [
        (
            SchemaVersion::V1_13,
            include_str!("../../src/config/known_fields_v1_13.json"),
        ),
        (
            SchemaVersion::V1_14,
            include_str!("../../src/config/known_fields_v1_14.json"),
        ),
    ] {
        let schema = version.schema().unwrap().root();
        let rebuilt = table(schema);
        let shipped: Value = serde_json::from_str(file).unwrap();
        assert!(
            rebuilt.as_object().is_some_and(|o| o.len() > 5),
            "{version:?}: too few document kinds"
        );
        assert_eq!(
            rebuilt, shipped,
            "{version:?}: the field table is stale; regenerate it with src/config/known_fields.py"
        );
    }
}

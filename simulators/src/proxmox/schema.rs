//! Parameter validation against the official PVE API schema.
//!
//! `schema.json` is a compact extract of the endpoints the simulator serves,
//! generated at build time of the repository (not of the crate) by
//! `simulators/tools/extract_proxmox_schema.py` from
//! the PVE 9 API schema (proxmox/pve-docs `api-viewer/apidata.js`).
//! Error texts follow `pve-common:src/PVE/JSONSchema.pm`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

static SCHEMA_TEXT: &str = include_str!("schema.json");

fn schema() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| serde_json::from_str(SCHEMA_TEXT).unwrap_or(Value::Null))
}

/// Highest index of the indexed config keys (`qemu-server` MAX_* constants).
fn max_index(prefix: &str) -> Option<u32> {
    Some(match prefix {
        "ide" => 3,
        "sata" => 5,
        "scsi" => 30,
        "virtio" => 15,
        "net" | "ipconfig" => 31,
        "unused" => 255,
        "hostpci" => 15,
        "usb" => 14,
        "serial" => 3,
        "parallel" => 2,
        "numa" => 7,
        "virtiofs" => 9,
        _ => return None,
    })
}

/// Splits `net12` into (`net`, 12).
pub(crate) fn split_indexed(name: &str) -> Option<(&str, u32)> {
    let pos = name.find(|c: char| c.is_ascii_digit())?;
    let (prefix, digits) = name.split_at(pos);
    if prefix.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 3 {
        return None;
    }
    Some((prefix, digits.parse().ok()?))
}

fn endpoint(method: &str, route: &str) -> Option<&'static Value> {
    schema().get("endpoints")?.get(format!("{method} {route}"))
}

/// The definition of parameter `name` of an endpoint (`net3` → `net[n]`).
pub(crate) fn param_def(method: &str, route: &str, name: &str) -> Option<&'static Value> {
    let ep = endpoint(method, route)?;
    let params = ep.get("params")?;
    let id = match params.get(name) {
        Some(id) => id,
        None => {
            let (prefix, n) = split_indexed(name)?;
            if n > max_index(prefix)? {
                return None;
            }
            params.get(format!("{prefix}[n]"))?
        }
    };
    schema().get("defs")?.get(id.as_str()?)
}

/// The declared type of a VM config key (`integer`, `boolean`, `string`,
/// `number`), from the `PUT .../config` schema.
pub(crate) fn config_key_type(key: &str) -> &'static str {
    param_def("PUT", "/nodes/{node}/qemu/{vmid}/config", key)
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("string")
}

/// Whether API tokens may call the endpoint.
pub(crate) fn allows_token(method: &str, route: &str) -> bool {
    endpoint(method, route)
        .and_then(|e| e.get("allowtoken"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Validates every parameter (path parameters included) of a call. Returns
/// the per-parameter errors PVE would put in `errors`.
pub(crate) fn validate(
    method: &str,
    route: &str,
    params: &[(String, String)],
) -> Result<(), BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let Some(ep) = endpoint(method, route) else {
        return Ok(());
    };
    let additional = ep
        .get("additional")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in params {
        if !seen.insert(name.as_str()) {
            continue;
        }
        match param_def(method, route, name) {
            None if !additional => {
                errors.insert(
                    name.clone(),
                    "property is not defined in schema and the schema does not allow additional properties"
                        .to_string(),
                );
            }
            None => {}
            Some(def) => {
                if let Err(e) = check_value(name, def, value) {
                    errors.insert(name.clone(), e);
                }
            }
        }
    }
    if let Some(all) = ep.get("params").and_then(Value::as_object) {
        for (name, id) in all {
            if name.contains("[n]") || seen.contains(name.as_str()) {
                continue;
            }
            let def = id
                .as_str()
                .and_then(|id| schema().get("defs").and_then(|d| d.get(id)));
            let optional = def
                .and_then(|d| d.get("optional"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !optional {
                errors.insert(
                    name.clone(),
                    "property is missing and it is not optional".to_string(),
                );
            }
        }
        for (name, _) in params {
            if let Some(req) = param_def(method, route, name)
                .and_then(|d| d.get("requires"))
                .and_then(Value::as_str)
                && !seen.contains(req)
                && !errors.contains_key(name)
            {
                errors.insert(
                    req.to_string(),
                    format!("parameter '{req}' is required by '{name}'"),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The documented `returns` schema of an endpoint (`data` of the answer).
fn returns(method: &str, route: &str) -> Option<&'static Value> {
    endpoint(method, route)?.get("returns")
}

/// The property of an object schema that documents key `name` (`net3` →
/// `net[n]`, within the `MAX_*` index bounds).
fn property<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    let props = schema.get("properties")?;
    if let Some(p) = props.get(name) {
        return Some(p);
    }
    let (prefix, n) = split_indexed(name)?;
    if n > max_index(prefix)? {
        return None;
    }
    props.get(format!("{prefix}[n]"))
}

/// Where `data`, the answer of `method route`, disagrees with the
/// endpoint's documented `returns`: a value of the wrong type or outside its
/// enum, a required property missing, or a property the schema does not
/// document (for objects whose schema lists properties). Empty when it agrees.
pub(crate) fn returns_violations(method: &str, route: &str, data: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match returns(method, route) {
        None => out.push(format!("{method} {route}: no returns schema")),
        Some(s) => check_returned(s, data, "data", &mut out),
    }
    out
}

fn check_returned(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let ok = match ty {
        "" => true,
        "null" => v.is_null(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        // PVE's JSON renders booleans as 0 and 1.
        "boolean" => v.is_boolean() || matches!(v.as_u64(), Some(0 | 1)),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => {
            out.push(format!("{path}: unknown schema type {other}"));
            true
        }
    };
    if !ok {
        out.push(format!("{path}: {v} is not of type {ty}"));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {allowed:?}"));
    }
    match v {
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    check_returned(item, x, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(m) if schema.get("properties").is_some() => {
            for (k, x) in m {
                match property(schema, k) {
                    None => out.push(format!("{path}.{k}: not documented")),
                    Some(p) => check_returned(p, x, &format!("{path}.{k}"), out),
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, p) in props.into_iter().flatten() {
                let optional = p.get("optional").and_then(Value::as_bool).unwrap_or(false);
                if !optional && !k.contains("[n]") && !m.contains_key(k) {
                    out.push(format!("{path}.{k}: required but missing"));
                }
            }
        }
        _ => {}
    }
}

/// Whether the answer of `method route` documents the field at `path`
/// (object keys; arrays are stepped into). A schema without properties
/// documents only what its description names.
pub(crate) fn documents_field(method: &str, route: &str, path: &[&str]) -> bool {
    let Some(mut s) = returns(method, route) else {
        return false;
    };
    for key in path {
        while s.get("type").and_then(Value::as_str) == Some("array") {
            let Some(items) = s.get("items") else {
                return false;
            };
            s = items;
        }
        match property(s, key) {
            Some(p) => s = p,
            None => {
                let described = s
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.contains(&format!("`{key}`")));
                return described;
            }
        }
    }
    true
}

fn check_value(name: &str, def: &Value, value: &str) -> Result<(), String> {
    let ty = def.get("type").and_then(Value::as_str).unwrap_or("string");
    match ty {
        "integer" => {
            let v = parse_int(value)
                .ok_or_else(|| format!("type check ('integer') failed - got '{value}'"))?;
            check_range(def, v as f64)?;
        }
        "number" => {
            let v = parse_number(value)
                .ok_or_else(|| format!("type check ('number') failed - got '{value}'"))?;
            check_range(def, v)?;
        }
        "boolean" => {
            parse_bool(value)
                .ok_or_else(|| format!("type check ('boolean') failed - got '{value}'"))?;
        }
        _ => {
            if let Some(max) = def.get("maxLength").and_then(Value::as_u64)
                && value.chars().count() as u64 > max
            {
                return Err(format!("value may only be {max} characters long"));
            }
        }
    }
    if let Some(values) = def.get("enum").and_then(Value::as_array) {
        let list: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        if !list.is_empty() && !list.contains(&value) {
            return Err(format!(
                "value '{value}' does not have a value in the enumeration '{}'",
                list.join(", ")
            ));
        }
    }
    if let Some(p) = def.get("pattern").and_then(Value::as_str) {
        let ok = Regex::new(&format!("^(?:{p})$"))
            .map(|re| re.is_match(value))
            .unwrap_or(true);
        if !ok {
            return Err("value does not match the regex pattern".to_string());
        }
    }
    match def.get("format") {
        Some(Value::String(f)) => check_named_format(f, value),
        Some(Value::Object(sub)) => check_property_string(name, sub, value),
        _ => Ok(()),
    }
}

fn check_range(def: &Value, v: f64) -> Result<(), String> {
    if let Some(min) = def.get("minimum").and_then(Value::as_f64)
        && v < min
    {
        return Err(format!("value must have a minimum value of {min}"));
    }
    if let Some(max) = def.get("maximum").and_then(Value::as_f64)
        && v > max
    {
        return Err(format!("value must have a maximum value of {max}"));
    }
    Ok(())
}

pub(crate) fn parse_int(v: &str) -> Option<i64> {
    let t = v.strip_prefix('+').unwrap_or(v);
    if t.is_empty()
        || !t
            .trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    t.parse().ok()
}

fn parse_number(v: &str) -> Option<f64> {
    if v.is_empty() || v.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    v.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// PVE booleans: `1|true|yes|on` / `0|false|no|off`, case-insensitive.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn re(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

fn matches(p: &str, v: &str) -> bool {
    re(p).map(|r| r.is_match(v)).unwrap_or(true)
}

/// The named formats of `JSONSchema.pm` / `QemuServer.pm` the simulator
/// checks. Unknown names are accepted.
fn check_named_format(format: &str, v: &str) -> Result<(), String> {
    let simple: Option<(&str, String)> = match format {
        "pve-node" => Some((
            r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$",
            "value does not look like a valid node name".to_string(),
        )),
        "pve-storage-id" => Some((
            r"^[a-z][a-z0-9\-_.]*[a-z0-9]$",
            format!("storage ID '{v}' contains illegal characters"),
        )),
        "pve-configid" => Some((
            r"^[a-z][a-z0-9_-]+$",
            format!("invalid configuration ID '{v}'"),
        )),
        "mac-addr" => Some((
            r"^(?i)[a-f0-9][02468a-f](?::[a-f0-9]{2}){5}$",
            "value does not look like a valid unicast MAC address".to_string(),
        )),
        "urlencoded" => Some((
            r"^[-%a-zA-Z0-9_.!~*'()]*$",
            format!("invalid urlencoded string: {v}"),
        )),
        "pve-bridge-id" => Some((r"^[-_.\w\d]+$", format!("invalid bridge ID '{v}'"))),
        "dns-name" => Some((
            r"^(?i)([a-z0-9]([a-z0-9\-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9\-]*[a-z0-9])?$",
            "value does not look like a valid DNS name".to_string(),
        )),
        _ => None,
    };
    if let Some((pattern, msg)) = simple {
        return if matches(pattern, v) {
            Ok(())
        } else {
            Err(msg)
        };
    }
    match format {
        "pve-configid-list" => {
            for id in v.split([',', ';', ' ']).filter(|s| !s.is_empty()) {
                if !matches(r"^[a-z][a-z0-9_-]+$", id) {
                    return Err(format!("invalid configuration ID '{id}'"));
                }
            }
        }
        "pve-tag-list" => {
            let tags: Vec<&str> = v.split([';', ',', ' ']).filter(|s| !s.is_empty()).collect();
            if tags.is_empty() {
                return Err("invalid tag list".to_string());
            }
            for t in tags {
                if !matches(r"^(?i)[a-z0-9_][a-z0-9_\-+.]*$", t) {
                    return Err(format!("invalid tag '{t}'"));
                }
            }
        }
        "pve-qm-ipconfig" => {
            for part in v.split(',').filter(|s| !s.is_empty()) {
                let Some((k, _)) = part.split_once('=') else {
                    return Err("invalid format - format error".to_string());
                };
                if !["ip", "gw", "ip6", "gw6"].contains(&k) {
                    return Err(format!(
                        "invalid format - format error\n{k}: property is not defined in schema and the schema does not allow additional properties"
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A property string like `virtio,bridge=vmbr0,firewall=1`.
fn check_property_string(
    name: &str,
    sub: &serde_json::Map<String, Value>,
    v: &str,
) -> Result<(), String> {
    let fail = |key: &str, msg: String| -> Result<(), String> {
        Err(format!(
            "invalid format - format error\n{name}.{key}: {msg}"
        ))
    };
    let default_key = sub
        .iter()
        .find(|(_, d)| d.get("default_key").and_then(Value::as_bool) == Some(true))
        .map(|(k, _)| k.clone());
    let mut seen = Vec::new();
    for part in v.split(',') {
        if part.is_empty() {
            continue;
        }
        let (key, val) = match part.split_once('=') {
            Some((k, val)) => (k.to_string(), val.to_string()),
            None => match &default_key {
                Some(d) => (d.clone(), part.to_string()),
                None => {
                    return fail(
                        part,
                        "property is not defined in schema and the schema does not allow additional properties"
                            .to_string(),
                    );
                }
            },
        };
        let Some(def) = sub.get(&key) else {
            return fail(
                &key,
                "property is not defined in schema and the schema does not allow additional properties"
                    .to_string(),
            );
        };
        // `virtio=MAC`: the alias names the value's key, the key is the model.
        let (check_key, check_def) = match def.get("alias").and_then(Value::as_str) {
            Some(alias) => match sub.get(alias) {
                Some(d) => (alias.to_string(), d),
                None => (key.clone(), def),
            },
            None => (key.clone(), def),
        };
        if seen.contains(&check_key) {
            return fail(
                &check_key,
                "duplicate key in comma-separated list property".into(),
            );
        }
        seen.push(check_key.clone());
        if let Err(e) = check_value(&format!("{name}.{check_key}"), check_def, &val) {
            return fail(&check_key, e);
        }
    }
    for (k, d) in sub {
        let optional = d.get("optional").and_then(Value::as_bool).unwrap_or(false);
        let alias = d.get("alias").is_some();
        if !optional && !alias && !seen.contains(k) {
            // The default key may be given through an alias (`virtio=MAC`).
            let via_alias = sub.iter().any(|(ak, ad)| {
                ad.get("alias").is_some()
                    && v.split(',')
                        .any(|p| p.split_once('=').map(|x| x.0) == Some(ak))
            });
            if !via_alias {
                return fail(k, "property is missing and it is not optional".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn schema_loads() {
        assert!(endpoint("PUT", "/nodes/{node}/qemu/{vmid}/config").is_some());
        assert_eq!(config_key_type("cores"), "integer");
        assert_eq!(config_key_type("onboot"), "boolean");
        assert_eq!(config_key_type("memory"), "string");
    }

    #[test]
    fn returns_checks() {
        let status = "/nodes/{node}/tasks/{upid}/status";
        let good = serde_json::json!({"upid": "UPID:x", "node": "pve1", "pid": 1, "pstart": 2,
            "starttime": 3, "type": "qmclone", "id": "100", "user": "root@pam",
            "status": "stopped", "exitstatus": "OK"});
        assert!(returns_violations("GET", status, &good).is_empty());
        let mut bad = good.clone();
        bad["status"] = serde_json::json!("done");
        bad["extra"] = serde_json::json!(1);
        bad.as_object_mut().map(|m| m.remove("pid"));
        let v = returns_violations("GET", status, &bad);
        assert_eq!(v.len(), 3, "{v:?}");
        let config = "/nodes/{node}/qemu/{vmid}/config";
        assert!(documents_field("GET", config, &["scsi30"]));
        assert!(!documents_field("GET", config, &["scsi31"]));
        assert!(documents_field("GET", "/nodes", &["maxcpu"]));
        assert!(!documents_field("GET", "/nodes", &["cpus"]));
        let agent = "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces";
        assert!(documents_field("GET", agent, &["result"]));
    }

    #[test]
    fn validation() {
        let r = "/nodes/{node}/qemu/{vmid}/config";
        assert!(
            validate(
                "PUT",
                r,
                &p(&[
                    ("node", "pve1"),
                    ("vmid", "100"),
                    ("net0", "virtio,bridge=vmbr0,firewall=1"),
                    ("scsi0", "local-lvm:8,iothread=1"),
                ])
            )
            .is_ok()
        );
        let e = validate(
            "PUT",
            r,
            &p(&[("node", "pve1"), ("vmid", "100"), ("bogus", "1")]),
        )
        .unwrap_err();
        assert!(e["bogus"].contains("not defined in schema"));
        let e = validate(
            "PUT",
            r,
            &p(&[("node", "pve1"), ("vmid", "100"), ("net32", "virtio")]),
        )
        .unwrap_err();
        assert!(e.contains_key("net32"));
        let e = validate(
            "PUT",
            r,
            &p(&[("node", "pve1"), ("vmid", "x"), ("net0", "virtio,bogus=1")]),
        )
        .unwrap_err();
        assert_eq!(e["vmid"], "type check ('integer') failed - got 'x'");
        assert!(e["net0"].starts_with("invalid format"));
    }
}

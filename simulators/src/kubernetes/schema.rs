//! The MetalLB CRDs and what the apiserver does with their structural
//! schemas: pruning of unknown fields, defaulting, and validation.
//!
//! `crds.json` is the `spec` of each CRD of github.com/metallb/metallb,
//! `config/crd/bases/metallb.io_*.yaml` (branch main, the five kinds of
//! v0.16), descriptions dropped, converted from YAML with Python's
//! `yaml.safe_load` and `json.dump` (the simulator links no YAML parser).
//!
//! Apiserver behaviour followed (k8s.io/apiextensions-apiserver
//! `pkg/apiserver/schema/{pruning,defaulting}`, `kube-openapi validate`):
//! unknown fields are dropped (field validation `Warn`, the default when a
//! request names none: a `Warning` header lists them); `default`s are set
//! where a field is absent, on write and on read; type, `required`, `enum`,
//! `minimum`/`maximum`, `minLength`/`maxLength`, `minItems`/`maxItems`
//! violations are 422 `Invalid` with one cause per field. CEL rules
//! (`x-kubernetes-validations`) are not evaluated.

use serde_json::{Map, Value};

/// One served kind.
#[derive(Debug, Clone)]
pub(crate) struct Crd {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) plural: String,
    /// Served versions and their `openAPIV3Schema`.
    pub(crate) versions: Vec<(String, Value)>,
}

pub(crate) fn load() -> Vec<Crd> {
    let all: Value = serde_json::from_str(include_str!("crds.json")).unwrap_or(Value::Null);
    all.as_array()
        .map(|a| {
            a.iter()
                .map(|c| Crd {
                    group: s(&c["group"]),
                    kind: s(&c["names"]["kind"]),
                    plural: s(&c["names"]["plural"]),
                    versions: c["versions"]
                        .as_array()
                        .map(|vs| {
                            vs.iter()
                                .filter(|v| v["served"] == Value::Bool(true))
                                .map(|v| (s(&v["name"]), v["schema"].clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Drop fields the schema does not know; returns their paths.
pub(crate) fn prune(v: &mut Value, schema: &Value, path: &str, dropped: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match v {
        Value::Object(o) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                let p = join(path, &k);
                match props.get(&k) {
                    None => {
                        o.remove(&k);
                        dropped.push(p);
                    }
                    Some(sub) => {
                        if let Some(child) = o.get_mut(&k) {
                            prune(child, sub, &p, dropped);
                        }
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter_mut().enumerate() {
                    prune(x, items, &format!("{path}[{i}]"), dropped);
                }
            }
        }
        _ => {}
    }
}

/// The fields of an apply body the schema does not declare, as
/// structured-merge-diff finds them when it types the patch object
/// (`sigs.k8s.io/structured-merge-diff` `typed/validate.go`
/// `visitMapItems`): a path such as `.spec.foo` or `.spec.bar[0].baz`
/// (every MetalLB list is `x-kubernetes-list-type: atomic`, so items are
/// named by index). Like it, the first undeclared field of an object ends
/// that object's walk (the Go map order is random; keys are taken in
/// sorted order here); a map (`additionalProperties`) or
/// `x-kubernetes-preserve-unknown-fields` accepts any key, and an object
/// without `properties` (such as `metadata` here) is not walked.
pub(crate) fn undeclared(v: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match v {
        Value::Object(o) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            if props.is_none() && extra.is_none() {
                return;
            }
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            for k in keys {
                let p = format!("{path}.{k}");
                match props.and_then(|m| m.get(k)).or(extra) {
                    Some(sub) => undeclared(&o[k], sub, &p, out),
                    None => {
                        out.push(p);
                        return;
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    undeclared(x, items, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Set `default`s of absent fields.
pub(crate) fn default(v: &mut Value, schema: &Value) {
    match v {
        Value::Object(o) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (k, sub) in props {
                if !o.contains_key(k)
                    && let Some(d) = sub.get("default")
                {
                    o.insert(k.clone(), d.clone());
                }
                if let Some(child) = o.get_mut(k) {
                    default(child, sub);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for x in a.iter_mut() {
                    default(x, items);
                }
            }
        }
        _ => {}
    }
}

/// One validation failure: `(reason, field, message)`, as in
/// `Status.details.causes`.
pub(crate) type Cause = (String, String, String);

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => true,
    }
}

/// Validate `v` against `schema`, appending causes.
pub(crate) fn validate(v: &Value, schema: &Value, path: &str, out: &mut Vec<Cause>) {
    if let Some(t) = schema.get("type").and_then(Value::as_str)
        && !type_ok(v, t)
    {
        let shown = match v {
            Value::Object(_) => "object",
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::Null => "null",
        };
        out.push((
            "FieldValueTypeInvalid".into(),
            path.into(),
            format!("Invalid value: \"{shown}\": {path} in body must be of type {t}: \"{shown}\""),
        ));
        return;
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        out.push((
            "FieldValueNotSupported".into(),
            path.into(),
            format!("Unsupported value: {v}"),
        ));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push((
                "FieldValueInvalid".into(),
                path.into(),
                format!(
                    "Invalid value: {v}: {path} in body should be greater than or equal to {min}"
                ),
            ));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push((
                "FieldValueInvalid".into(),
                path.into(),
                format!("Invalid value: {v}: {path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Some(st) = v.as_str() {
        let len = st.chars().count() as u64;
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
            || schema
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len < m)
        {
            out.push((
                "FieldValueInvalid".into(),
                path.into(),
                format!("Invalid value: \"{st}\": {path} in body has an invalid length"),
            ));
        }
    }
    match v {
        Value::Object(o) => {
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !o.contains_key(r) {
                        out.push((
                            "FieldValueRequired".into(),
                            join(path, r),
                            "Required value".into(),
                        ));
                    }
                }
            }
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, x) in o {
                    if let Some(sub) = props.get(k) {
                        validate(x, sub, &join(path, k), out);
                    }
                }
            }
        }
        Value::Array(a) => {
            let n = a.len() as u64;
            if schema
                .get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| n < m)
                || schema
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .is_some_and(|m| n > m)
            {
                out.push((
                    "FieldValueInvalid".into(),
                    path.into(),
                    format!("Invalid value: {n}: {path} in body has an invalid number of items"),
                ));
            }
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    validate(x, items, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The leaf field paths of `v` for field ownership: objects are walked
/// (unless `x-kubernetes-map-type: atomic`), lists are atomic (a CRD list
/// without `x-kubernetes-list-type` is atomic), an empty object is a leaf.
pub(crate) fn leaves(v: &Value, schema: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(o)
            if !o.is_empty()
                && schema.get("x-kubernetes-map-type").and_then(Value::as_str)
                    != Some("atomic") =>
        {
            let empty = Map::new();
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (k, x) in o {
                let mut p = path.clone();
                p.push(k.clone());
                leaves(x, props.get(k).unwrap_or(&Value::Null), p, out);
            }
        }
        _ => out.push(path),
    }
}

/// The value at `path`, if any.
pub(crate) fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// Set the value at `path`, making objects on the way.
pub(crate) fn set(v: &mut Value, path: &[String], x: Value) {
    let Some((last, init)) = path.split_last() else {
        *v = x;
        return;
    };
    let mut cur = v;
    for k in init {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(o) = cur else { return };
        cur = o
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Value::Object(o) = cur {
        o.insert(last.clone(), x);
    }
}

/// Remove the value at `path`, then parent objects left empty.
pub(crate) fn remove(v: &mut Value, path: &[String]) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = &mut *v;
    for k in init {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(o) = cur {
        o.remove(last);
        if o.is_empty() && !init.is_empty() {
            remove(v, init);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool_schema() -> Value {
        let crds = load();
        let c = crds.iter().find(|c| c.plural == "ipaddresspools").unwrap();
        c.versions[0].1.clone()
    }

    #[test]
    fn prune_default_validate_from_the_crd() {
        let s = pool_schema();
        let mut o = json!({"spec": {"addresses": ["10.0.0.0/28"], "bogus": 1}});
        let mut dropped = Vec::new();
        prune(&mut o, &s, "", &mut dropped);
        assert_eq!(dropped, vec!["spec.bogus"]);
        default(&mut o, &s);
        assert_eq!(o["spec"]["autoAssign"], json!(true));
        assert_eq!(o["spec"]["avoidBuggyIPs"], json!(false));
        let mut causes = Vec::new();
        validate(&json!({"spec": {"autoAssign": "yes"}}), &s, "", &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.1.as_str()).collect();
        assert!(fields.contains(&"spec.autoAssign"), "{causes:?}");
        assert!(fields.contains(&"spec.addresses"), "{causes:?}");
        let mut l = Vec::new();
        leaves(&o["spec"], &s["properties"]["spec"], vec![], &mut l);
        assert!(l.contains(&vec!["addresses".to_string()]));
    }

    #[test]
    fn undeclared_fields_are_named_as_structured_merge_diff_does() {
        let s = pool_schema();
        let mut out = Vec::new();
        let body = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": "p", "anything": 1},
            "spec": {"addresses": ["10.0.0.0/28"], "zeta": 1, "foo": 2,
                "serviceAllocation": {"namespaceSelectors": [{"matchLabels": {"any": "x"}, "bad": 1}]}}});
        undeclared(&body, &s, "", &mut out);
        // The first undeclared key ends its object's walk (`.spec.zeta` is
        // not reported); known fields before it are walked; maps
        // (`matchLabels`) and untyped `metadata` take any key.
        assert_eq!(out, vec![".spec.foo".to_string(),]);
        let mut out = Vec::new();
        let body = json!({"spec": {"serviceAllocation": {"namespaceSelectors": [{}, {"matchLabels": {"a": "b"}, "bad": 1}]}}});
        undeclared(&body, &s, "", &mut out);
        assert_eq!(
            out,
            vec![".spec.serviceAllocation.namespaceSelectors[1].bad".to_string()]
        );
        let mut out = Vec::new();
        undeclared(
            &json!({"spec": {"addresses": ["10.0.0.0/28"], "autoAssign": true}}),
            &s,
            "",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
    }
}

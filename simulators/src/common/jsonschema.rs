//! A small JSON Schema (draft 2020-12) validator, enough for Talos's
//! machine-config schemas (`talos::schema`).
//!
//! Supported keywords: `$ref` (local JSON pointers), `$defs`, `type`,
//! `enum`, `const`, `properties`, `patternProperties`,
//! `additionalProperties`, `required`, `items`, `prefixItems`, `minItems`,
//! `maxItems`, `uniqueItems`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `multipleOf`, `minLength`, `maxLength`, `pattern`,
//! `minProperties`, `maxProperties`, `oneOf`, `anyOf`, `allOf`, `not`.
//! Annotations (`title`, `description`, `format`, `default`, `examples`,
//! `x-*`, ...) are ignored. A schema using any other keyword does not
//! compile, so a schema update that needs more shows up at once.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

/// Keywords that change validation and that this validator implements.
const ASSERTIONS: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minProperties",
    "maxProperties",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
];

/// Keywords that carry no assertion (annotations and structure).
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$comment",
    "title",
    "description",
    "markdownDescription",
    "default",
    "examples",
    "format",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// One schema violation: where in the instance, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The instance location as dotted path (`machine.install.disk`,
    /// `cluster.network.podSubnets[0]`); empty for the document itself.
    pub path: String,
    /// What is wrong.
    pub kind: ViolationKind,
}

/// The kind of a [`Violation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// A key that `additionalProperties: false` does not allow (the key's
    /// name and value).
    UnknownKey(String, Value),
    /// Any other failed assertion, as a sentence.
    Invalid(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        match &self.kind {
            ViolationKind::UnknownKey(k, _) => write!(f, "{at}: unknown key {k:?}"),
            ViolationKind::Invalid(m) => write!(f, "{at}: {m}"),
        }
    }
}

/// A compiled schema: the JSON document and every regular expression it uses.
#[derive(Debug)]
pub struct Schema {
    root: Value,
    regexes: HashMap<String, Regex>,
}

impl Schema {
    /// How many regular expressions the schema compiled.
    #[cfg(test)]
    pub(crate) fn regex_count(&self) -> usize {
        self.regexes.len()
    }

    /// Parses and checks a schema: valid JSON, only supported keywords,
    /// every `pattern` and `patternProperties` key a valid regular
    /// expression, every `$ref` resolvable.
    pub fn compile(text: &str) -> Result<Schema, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("schema JSON: {e}"))?;
        let mut regexes = HashMap::new();
        let mut refs = Vec::new();
        collect(&root, "#", &mut regexes, &mut refs)?;
        let schema = Schema { root, regexes };
        for r in refs {
            if schema.resolve(&r).is_none() {
                return Err(format!("$ref {r} does not resolve"));
            }
        }
        Ok(schema)
    }

    /// The schema's root.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// Resolves a local reference (`#/$defs/v1alpha1.Config`).
    pub fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(&self.root);
        }
        self.root.pointer(pointer)
    }

    /// Validates `instance` against the root schema.
    pub fn validate(&self, instance: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.check(&self.root, instance, "", &mut out);
        out
    }

    /// Validates `instance` against the subschema at `reference`.
    pub fn validate_ref(&self, reference: &str, instance: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        match self.resolve(reference) {
            Some(s) => self.check(s, instance, "", &mut out),
            None => out.push(Violation {
                path: String::new(),
                kind: ViolationKind::Invalid(format!("schema {reference} not found")),
            }),
        }
        out
    }

    /// Whether the instance is valid against `schema`.
    fn valid(&self, schema: &Value, instance: &Value) -> bool {
        let mut out = Vec::new();
        self.check(schema, instance, "", &mut out);
        out.is_empty()
    }

    fn check(&self, schema: &Value, v: &Value, path: &str, out: &mut Vec<Violation>) {
        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                out.push(invalid(path, "no value is allowed here".into()));
                return;
            }
            Value::Object(s) => s,
            _ => return,
        };
        if let Some(Value::String(r)) = s.get("$ref") {
            match self.resolve(r) {
                Some(target) => self.check(target, v, path, out),
                None => out.push(invalid(path, format!("unresolvable $ref {r}"))),
            }
        }
        if let Some(t) = s.get("type")
            && !type_matches(t, v)
        {
            out.push(invalid(
                path,
                format!("expected {}, got {}", type_text(t), kind_of(v)),
            ));
            return;
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.iter().any(|o| json_eq(o, v))
        {
            out.push(invalid(
                path,
                format!(
                    "value {} is not one of {}",
                    short(v),
                    Value::Array(options.clone())
                ),
            ));
        }
        if let Some(c) = s.get("const")
            && !json_eq(c, v)
        {
            out.push(invalid(path, format!("value {} is not {c}", short(v))));
        }
        match v {
            Value::Object(m) => self.check_object(s, m, path, out),
            Value::Array(a) => self.check_array(s, a, path, out),
            Value::String(text) => self.check_string(s, text, path, out),
            Value::Number(_) => check_number(s, v, path, out),
            _ => {}
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                self.check(sub, v, path, out);
            }
        }
        if let Some(Value::Array(any)) = s.get("anyOf")
            && !any.iter().any(|sub| self.valid(sub, v))
        {
            out.push(invalid(
                path,
                "matches none of the anyOf alternatives".into(),
            ));
        }
        if let Some(Value::Array(one)) = s.get("oneOf") {
            let n = one.iter().filter(|sub| self.valid(sub, v)).count();
            if n != 1 {
                out.push(invalid(
                    path,
                    format!("must match exactly one of the oneOf alternatives, matches {n}"),
                ));
            }
        }
        if let Some(not) = s.get("not")
            && self.valid(not, v)
        {
            out.push(invalid(path, "matches the schema in `not`".into()));
        }
    }

    fn check_object(
        &self,
        s: &Map<String, Value>,
        m: &Map<String, Value>,
        path: &str,
        out: &mut Vec<Violation>,
    ) {
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !m.contains_key(r) {
                    out.push(invalid(path, format!("required key {r:?} is missing")));
                }
            }
        }
        if let Some(n) = s.get("minProperties").and_then(Value::as_u64)
            && (m.len() as u64) < n
        {
            out.push(invalid(path, format!("needs at least {n} keys")));
        }
        if let Some(n) = s.get("maxProperties").and_then(Value::as_u64)
            && (m.len() as u64) > n
        {
            out.push(invalid(path, format!("allows at most {n} keys")));
        }
        let props = s.get("properties").and_then(Value::as_object);
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        for (k, val) in m {
            let sub = join(path, k);
            let mut matched = false;
            if let Some(ps) = props.and_then(|p| p.get(k)) {
                matched = true;
                self.check(ps, val, &sub, out);
            }
            if let Some(pats) = patterns {
                for (pat, ps) in pats {
                    if self.regexes.get(pat).is_some_and(|re| re.is_match(k)) {
                        matched = true;
                        self.check(ps, val, &sub, out);
                    }
                }
            }
            if !matched {
                match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(Violation {
                        path: path.to_string(),
                        kind: ViolationKind::UnknownKey(k.clone(), val.clone()),
                    }),
                    Some(ap @ Value::Object(_)) => self.check(ap, val, &sub, out),
                    _ => {}
                }
            }
        }
    }

    fn check_array(
        &self,
        s: &Map<String, Value>,
        a: &[Value],
        path: &str,
        out: &mut Vec<Violation>,
    ) {
        let prefix = s.get("prefixItems").and_then(Value::as_array);
        let skip = prefix.map_or(0, Vec::len);
        if let Some(p) = prefix {
            for (i, (ps, v)) in p.iter().zip(a).enumerate() {
                self.check(ps, v, &format!("{path}[{i}]"), out);
            }
        }
        if let Some(items) = s.get("items") {
            for (i, v) in a.iter().enumerate().skip(skip) {
                self.check(items, v, &format!("{path}[{i}]"), out);
            }
        }
        if let Some(n) = s.get("minItems").and_then(Value::as_u64)
            && (a.len() as u64) < n
        {
            out.push(invalid(path, format!("needs at least {n} items")));
        }
        if let Some(n) = s.get("maxItems").and_then(Value::as_u64)
            && (a.len() as u64) > n
        {
            out.push(invalid(path, format!("allows at most {n} items")));
        }
        if s.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, x) in a.iter().enumerate() {
                if a[..i].iter().any(|y| json_eq(x, y)) {
                    out.push(invalid(path, format!("item {i} is a duplicate")));
                }
            }
        }
    }

    fn check_string(
        &self,
        s: &Map<String, Value>,
        text: &str,
        path: &str,
        out: &mut Vec<Violation>,
    ) {
        let len = text.chars().count() as u64;
        if let Some(n) = s.get("minLength").and_then(Value::as_u64)
            && len < n
        {
            out.push(invalid(path, format!("shorter than {n} characters")));
        }
        if let Some(n) = s.get("maxLength").and_then(Value::as_u64)
            && len > n
        {
            out.push(invalid(path, format!("longer than {n} characters")));
        }
        if let Some(Value::String(p)) = s.get("pattern")
            && !self.regexes.get(p).is_some_and(|re| re.is_match(text))
        {
            out.push(invalid(
                path,
                format!("value {text:?} does not match the pattern {p:?}"),
            ));
        }
    }
}

fn check_number(s: &Map<String, Value>, v: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(x) = v.as_f64() else { return };
    let bound = |k: &str| s.get(k).and_then(Value::as_f64);
    if let Some(m) = bound("minimum")
        && x < m
    {
        out.push(invalid(path, format!("{x} is less than the minimum {m}")));
    }
    if let Some(m) = bound("maximum")
        && x > m
    {
        out.push(invalid(
            path,
            format!("{x} is greater than the maximum {m}"),
        ));
    }
    if let Some(m) = bound("exclusiveMinimum")
        && x <= m
    {
        out.push(invalid(path, format!("{x} must be greater than {m}")));
    }
    if let Some(m) = bound("exclusiveMaximum")
        && x >= m
    {
        out.push(invalid(path, format!("{x} must be less than {m}")));
    }
    if let Some(m) = bound("multipleOf")
        && m > 0.0
        && (x / m).fract() != 0.0
    {
        out.push(invalid(path, format!("{x} is not a multiple of {m}")));
    }
}

fn invalid(path: &str, msg: String) -> Violation {
    Violation {
        path: path.to_string(),
        kind: ViolationKind::Invalid(msg),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn short(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 60 {
        format!("{}...", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_text(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        other => other.to_string(),
    }
}

fn one_type(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        // JSON Schema: a number with a zero fractional part is an integer.
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => false,
    }
}

fn type_matches(t: &Value, v: &Value) -> bool {
    match t {
        Value::String(s) => one_type(s, v),
        Value::Array(a) => a.iter().filter_map(Value::as_str).any(|s| one_type(s, v)),
        _ => true,
    }
}

/// JSON Schema equality: numbers by value (1 == 1.0), the rest structurally.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

/// Walks a schema: refuses unknown keywords, compiles regular expressions,
/// collects `$ref`s.
fn collect(
    s: &Value,
    at: &str,
    regexes: &mut HashMap<String, Regex>,
    refs: &mut Vec<String>,
) -> Result<(), String> {
    let Value::Object(m) = s else {
        return match s {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{at}: a schema must be an object or a boolean")),
        };
    };
    fn compile(regexes: &mut HashMap<String, Regex>, at: &str, p: &str) -> Result<(), String> {
        if !regexes.contains_key(p) {
            let re = Regex::new(p).map_err(|e| format!("{at}: pattern {p:?}: {e}"))?;
            regexes.insert(p.to_string(), re);
        }
        Ok(())
    }
    for (k, v) in m {
        let here = format!("{at}/{k}");
        match k.as_str() {
            "$ref" => match v {
                Value::String(r) if r.starts_with('#') => refs.push(r.clone()),
                _ => return Err(format!("{here}: only local references are supported")),
            },
            "$defs" | "properties" | "patternProperties" => {
                let Value::Object(children) = v else {
                    return Err(format!("{here}: must be an object"));
                };
                for (name, sub) in children {
                    if k == "patternProperties" {
                        compile(regexes, &here, name)?;
                    }
                    collect(sub, &format!("{here}/{name}"), regexes, refs)?;
                }
            }
            "additionalProperties" | "items" | "not" => collect(v, &here, regexes, refs)?,
            "oneOf" | "anyOf" | "allOf" | "prefixItems" => {
                let Value::Array(subs) = v else {
                    return Err(format!("{here}: must be an array"));
                };
                for (i, sub) in subs.iter().enumerate() {
                    collect(sub, &format!("{here}/{i}"), regexes, refs)?;
                }
            }
            "pattern" => match v {
                Value::String(p) => compile(regexes, &here, p)?,
                _ => return Err(format!("{here}: must be a string")),
            },
            k if ASSERTIONS.contains(&k) || ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
            other => return Err(format!("{at}: unsupported keyword {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsupported_keywords_and_bad_refs_do_not_compile() {
        assert!(Schema::compile(r#"{"if": {"type": "string"}}"#).is_err());
        assert!(Schema::compile(r##"{"$ref": "#/$defs/missing"}"##).is_err());
        assert!(Schema::compile(r#"{"pattern": "("}"#).is_err());
        assert!(Schema::compile(r#"{"type": "string", "x-anything": 1}"#).is_ok());
    }

    #[test]
    fn keywords_behave_as_draft_2020_12() {
        let s = Schema::compile(
            r##"{
              "$defs": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
              "type": "object",
              "required": ["name"],
              "additionalProperties": false,
              "properties": {
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "mode": {"enum": ["a", "b"]},
                "port": {"$ref": "#/$defs/port"},
                "list": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "either": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                "fixed": {"const": 3}
              },
              "patternProperties": {"^x-": {"type": "boolean"}}
            }"##,
        )
        .unwrap();
        assert!(
            s.validate(&json!({"name": "ok", "port": 80.0, "x-y": true, "fixed": 3.0}))
                .is_empty()
        );
        let bad = s.validate(&json!({
            "port": 0, "mode": "c", "list": [], "either": true,
            "name": "UP", "x-y": 1, "other": 1, "fixed": 4
        }));
        let text: Vec<String> = bad.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("less than the minimum")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("not one of")), "{text:?}");
        assert!(
            text.iter().any(|t| t.contains("at least 1 items")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("exactly one")), "{text:?}");
        assert!(
            text.iter()
                .any(|t| t.contains("does not match the pattern")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("x-y: expected boolean")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("unknown key \"other\"")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("is not 3")), "{text:?}");
        assert_eq!(s.validate(&json!({})).len(), 1);
        assert_eq!(s.validate(&json!([])).len(), 1);
    }
}

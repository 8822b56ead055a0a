//! JSON forms: state values (`RawState.json`) and type JSON.
//!
//! Numbers are kept exact: this module has its own small JSON reader that
//! keeps the text of every number (serde_json would round them to `f64`).

use std::collections::BTreeMap;

use crate::conform::{infer_type, kind_name, reject_extra_attributes};
use crate::path::Trail;
use crate::value::dedupe_set;
use crate::{Error, Number, ObjectType, Result, Type, Value};

use crate::MAX_DEPTH;

/// Decode state JSON leniently: missing object attributes become null,
/// attributes the type does not know are dropped (state written by an older schema).
///
/// Like cty, numbers may also be given as strings, bools as `"true"`/`"false"`,
/// and strings as JSON numbers or bools. A `dynamic` slot holds
/// `{"value": ..., "type": ...}` and decodes to [`Value::Dynamic`]. Input that is
/// empty or only whitespace decodes as null.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let doc = parse(bytes)?;
    from_json(&doc, ty, &Trail::Root, 0)
}

/// Encode a wholly known value as JSON (unknowns are an error).
///
/// Objects are written with every attribute of the type (null when absent
/// from the value), in sorted order; numbers as exact decimals (infinities,
/// which JSON cannot express, as the strings `"+Inf"`/`"-Inf"`); values in
/// `dynamic` slots as `{"value":...,"type":...}` with the type of a
/// [`Value::Dynamic`] or else [`infer_type`].
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_value(&mut out, value, ty, &Trail::Root, 0)?;
    Ok(out)
}

/// Parse type JSON (`"string"`, `["list","number"]`, `["object",{"a":"bool"},["a"]]`).
pub fn decode_type(bytes: &[u8]) -> Result<Type> {
    let doc = parse(bytes)?;
    type_from_json(&doc)
}

/// Type JSON, as schema attributes and dynamic wrappers carry it. Compact and
/// deterministic (object attributes sorted; optional list only when non-empty).
pub fn encode_type(ty: &Type) -> Vec<u8> {
    let mut out = Vec::new();
    write_type(&mut out, ty);
    out
}

// ---------------------------------------------------------------------------
// A minimal JSON document model and parser that keeps number text.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    /// The number's literal text (already validated against JSON's grammar).
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

fn malformed(message: impl Into<String>) -> Error {
    Error::Malformed {
        format: "JSON",
        message: message.into(),
    }
}

fn parse(bytes: &[u8]) -> Result<Json> {
    let mut p = Parser { b: bytes, pos: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.pos != bytes.len() {
        return Err(malformed(format!(
            "unexpected trailing data at offset {}",
            p.pos
        )));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn expect_lit(&mut self, lit: &[u8]) -> Result<()> {
        if self.b.get(self.pos..self.pos + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(malformed(format!("invalid literal at offset {}", self.pos)))
        }
    }

    // Recursive functions are split per kind and not inlined into each other
    // so that MAX_DEPTH nesting fits a small stack in unoptimised builds.

    fn value(&mut self, depth: usize) -> Result<Json> {
        if depth > MAX_DEPTH {
            return Err(malformed("nested too deeply"));
        }
        match self.peek() {
            None => Err(malformed("unexpected end of input")),
            Some(b'n') => self.expect_lit(b"null").map(|()| Json::Null),
            Some(b't') => self.expect_lit(b"true").map(|()| Json::Bool(true)),
            Some(b'f') => self.expect_lit(b"false").map(|()| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(c) => Err(malformed(format!(
                "unexpected character {:?} at offset {}",
                char::from(c),
                self.pos
            ))),
        }
    }

    #[inline(never)]
    fn array(&mut self, depth: usize) -> Result<Json> {
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.expected(", or ]")),
            }
        }
    }

    #[inline(never)]
    fn object(&mut self, depth: usize) -> Result<Json> {
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(items));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.expected("a key"));
            }
            let k = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.expected(":"));
            }
            self.pos += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            items.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(items));
                }
                _ => return Err(self.expected(", or }")),
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn expected(&self, what: &str) -> Error {
        malformed(format!("expected {what} at offset {}", self.pos))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json> {
        let start = self.pos;
        let bad = |pos: usize| malformed(format!("invalid number at offset {pos}"));
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(bad(start)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(bad(start));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(bad(start));
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.pos]).map_err(|_| bad(start))?;
        Ok(Json::Number(text.to_owned()))
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self
            .b
            .get(self.pos..self.pos + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .filter(|_| {
                self.b[self.pos..self.pos + 4]
                    .iter()
                    .all(u8::is_ascii_hexdigit)
            })
            .ok_or_else(|| malformed(format!("invalid \\u escape at offset {}", self.pos)))?;
        self.pos += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(malformed(format!("unterminated string at offset {start}")));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(malformed("unterminated escape"));
                    };
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    self.pos = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => {
                            return Err(malformed(format!(
                                "invalid escape at offset {}",
                                self.pos - 1
                            )));
                        }
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => {
                    return Err(malformed(format!(
                        "control character in string at offset {}",
                        self.pos - 1
                    )));
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out)
            .map_err(|_| malformed(format!("invalid UTF-8 in string at offset {start}")))
    }
}

fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// Type JSON.

fn type_err(message: impl Into<String>) -> Error {
    malformed(format!("invalid type JSON: {}", message.into()))
}

fn type_from_json(j: &Json) -> Result<Type> {
    match j {
        Json::String(s) => match s.as_str() {
            "string" => Ok(Type::String),
            "number" => Ok(Type::Number),
            "bool" => Ok(Type::Bool),
            "dynamic" => Ok(Type::Dynamic),
            other => Err(type_err(format!("unsupported type {other:?}"))),
        },
        Json::Array(items) => {
            let Some(Json::String(kind)) = items.first() else {
                return Err(type_err("array must start with a type kind string"));
            };
            match (kind.as_str(), &items[1..]) {
                ("list", [t]) => Ok(Type::list(type_from_json(t)?)),
                ("set", [t]) => Ok(Type::set(type_from_json(t)?)),
                ("map", [t]) => Ok(Type::map(type_from_json(t)?)),
                ("tuple", [Json::Array(ts)]) => Ok(Type::Tuple(
                    ts.iter().map(type_from_json).collect::<Result<_>>()?,
                )),
                ("object", [Json::Object(attrs), rest @ ..]) if rest.len() <= 1 => {
                    let mut ot = ObjectType::default();
                    for (k, t) in attrs {
                        if ot.attrs.insert(k.clone(), type_from_json(t)?).is_some() {
                            return Err(type_err(format!("duplicate object attribute {k:?}")));
                        }
                    }
                    if let Some(opt) = rest.first() {
                        let Json::Array(names) = opt else {
                            return Err(type_err("optional attributes must be an array"));
                        };
                        for n in names {
                            match n {
                                Json::String(n) if ot.attrs.contains_key(n) => {
                                    ot.optional.insert(n.clone());
                                }
                                _ => return Err(type_err("invalid optional attribute name")),
                            }
                        }
                    }
                    Ok(Type::Object(ot))
                }
                (k, _) => Err(type_err(format!("invalid {k:?} type"))),
            }
        }
        _ => Err(type_err("a string or an array is required")),
    }
}

fn write_type(out: &mut Vec<u8>, ty: &Type) {
    let wrap = |out: &mut Vec<u8>, kind: &[u8], t: &Type| {
        out.extend_from_slice(b"[\"");
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\",");
        write_type(out, t);
        out.push(b']');
    };
    match ty {
        Type::Bool => out.extend_from_slice(b"\"bool\""),
        Type::Number => out.extend_from_slice(b"\"number\""),
        Type::String => out.extend_from_slice(b"\"string\""),
        Type::Dynamic => out.extend_from_slice(b"\"dynamic\""),
        Type::List(t) => wrap(out, b"list", t),
        Type::Set(t) => wrap(out, b"set", t),
        Type::Map(t) => wrap(out, b"map", t),
        Type::Tuple(ts) => {
            out.extend_from_slice(b"[\"tuple\",[");
            for (i, t) in ts.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_type(out, t);
            }
            out.extend_from_slice(b"]]");
        }
        Type::Object(ot) => {
            out.extend_from_slice(b"[\"object\",{");
            for (i, (k, t)) in ot.attrs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(out, k);
                out.push(b':');
                write_type(out, t);
            }
            out.push(b'}');
            if !ot.optional.is_empty() {
                out.extend_from_slice(b",[");
                for (i, k) in ot.optional.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_string(out, k);
                }
                out.push(b']');
            }
            out.push(b']');
        }
    }
}

// ---------------------------------------------------------------------------
// Values.

#[cold]
#[inline(never)]
fn type_error(path: &Trail<'_>, message: impl Into<String>) -> Error {
    Error::Type {
        path: path.to_path(),
        message: message.into(),
    }
}

fn json_kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn from_json(j: &Json, ty: &Type, path: &Trail<'_>, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(type_error(path, "value nested too deeply"));
    }
    if let Json::Null = j {
        return Ok(Value::Null);
    }
    match (ty, j) {
        (Type::Dynamic, _) => dynamic_from_json(j, path, depth),
        (Type::Bool | Type::Number | Type::String, _) => primitive_from_json(j, ty, path),
        (Type::List(et), Json::Array(items)) => seq_from_json(items, et, false, path, depth),
        (Type::Set(et), Json::Array(items)) => seq_from_json(items, et, true, path, depth),
        (Type::Tuple(ts), Json::Array(items)) => tuple_from_json(items, ts, path, depth),
        (Type::Map(et), Json::Object(entries)) => map_from_json(entries, et, path, depth),
        (Type::Object(ot), Json::Object(entries)) => object_from_json(entries, ot, path, depth),
        _ => Err(json_mismatch(path, ty, j)),
    }
}

#[cold]
#[inline(never)]
fn json_mismatch(path: &Trail<'_>, ty: &Type, j: &Json) -> Error {
    type_error(path, format!("{ty} is required, found {}", json_kind(j)))
}

#[inline(never)]
fn dynamic_from_json(j: &Json, path: &Trail<'_>, depth: usize) -> Result<Value> {
    let Json::Object(entries) = j else {
        return Err(type_error(
            path,
            "a {\"value\":...,\"type\":...} object is required for a dynamic value",
        ));
    };
    let mut inner_ty = None;
    let mut inner_val = &Json::Null;
    for (k, v) in entries {
        match k.as_str() {
            "type" => {
                inner_ty = Some(type_from_json(v).map_err(|e| type_error(path, e.to_string()))?)
            }
            "value" => inner_val = v,
            _ => {} // lenient
        }
    }
    let Some(inner_ty) = inner_ty else {
        return Err(type_error(path, "missing \"type\" in dynamic value"));
    };
    check_dynamic_type(&inner_ty, depth).map_err(|m| type_error(path, m))?;
    let inner = from_json(inner_val, &inner_ty, path, depth + 1)?;
    Ok(Value::Dynamic(inner_ty, Box::new(inner)))
}

#[inline(never)]
fn primitive_from_json(j: &Json, ty: &Type, path: &Trail<'_>) -> Result<Value> {
    match (ty, j) {
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Bool, Json::String(s)) => match s.as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(type_error(
                path,
                format!("a bool is required, found string {s:?}"),
            )),
        },
        (Type::Number, Json::Number(s) | Json::String(s)) => Number::parse(s)
            .map(Value::Number)
            .ok_or_else(|| type_error(path, format!("a number is required, found {s:?}"))),
        (Type::String, Json::String(s) | Json::Number(s)) => Ok(Value::String(s.clone())),
        (Type::String, Json::Bool(b)) => Ok(Value::String(b.to_string())),
        _ => Err(json_mismatch(path, ty, j)),
    }
}

#[inline(never)]
fn seq_from_json(
    items: &[Json],
    et: &Type,
    is_set: bool,
    path: &Trail<'_>,
    depth: usize,
) -> Result<Value> {
    let mut vals = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        vals.push(from_json(item, et, &path.index(i as i64), depth + 1)?);
    }
    Ok(if is_set {
        Value::Set(dedupe_set(vals))
    } else {
        Value::List(vals)
    })
}

#[inline(never)]
fn tuple_from_json(items: &[Json], ts: &[Type], path: &Trail<'_>, depth: usize) -> Result<Value> {
    if items.len() != ts.len() {
        return Err(type_error(
            path,
            format!(
                "a tuple of {} elements is required ({} given)",
                ts.len(),
                items.len()
            ),
        ));
    }
    let mut vals = Vec::with_capacity(items.len());
    for (i, (item, t)) in items.iter().zip(ts).enumerate() {
        vals.push(from_json(item, t, &path.index(i as i64), depth + 1)?);
    }
    Ok(Value::Tuple(vals))
}

#[inline(never)]
fn map_from_json(
    entries: &[(String, Json)],
    et: &Type,
    path: &Trail<'_>,
    depth: usize,
) -> Result<Value> {
    let mut m = BTreeMap::new();
    for (k, v) in entries {
        m.insert(
            k.clone(),
            from_json(v, et, &path.key(k.as_str()), depth + 1)?,
        );
    }
    Ok(Value::Map(m))
}

#[inline(never)]
fn object_from_json(
    entries: &[(String, Json)],
    ot: &ObjectType,
    path: &Trail<'_>,
    depth: usize,
) -> Result<Value> {
    let mut m: BTreeMap<String, Value> =
        ot.attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
    for (k, v) in entries {
        // Attributes the type does not know are dropped (older schema).
        if let Some(at) = ot.attrs.get(k) {
            m.insert(
                k.clone(),
                from_json(v, at, &path.attr(k.as_str()), depth + 1)?,
            );
        }
    }
    Ok(Value::Object(m))
}

fn write_value(
    out: &mut Vec<u8>,
    v: &Value,
    ty: &Type,
    path: &Trail<'_>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(type_error(path, "value nested too deeply"));
    }
    if let Value::Unknown(_) = v {
        return Err(type_error(path, "value is not known"));
    }
    if *ty == Type::Dynamic {
        return write_in_dynamic_slot(out, v, path, depth);
    }
    match (v, ty) {
        (Value::Dynamic(_, inner), _) => write_value(out, inner, ty, path, depth + 1),
        (Value::Null, _) => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        (Value::Bool(b), Type::Bool) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            Ok(())
        }
        (Value::Number(n), Type::Number) => {
            write_number(out, n);
            Ok(())
        }
        (Value::String(s), Type::String) => {
            write_json_string(out, s);
            Ok(())
        }
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::List(et) | Type::Set(et)) => {
            write_seq(out, vs, |_| et, path, depth)
        }
        (Value::Tuple(vs) | Value::List(vs), Type::Tuple(ts)) => {
            if vs.len() != ts.len() {
                return Err(type_error(
                    path,
                    format!(
                        "a tuple of {} elements is required ({} given)",
                        ts.len(),
                        vs.len()
                    ),
                ));
            }
            write_seq(out, vs, |i| &ts[i], path, depth)
        }
        (Value::Map(m) | Value::Object(m), Type::Map(et)) => write_map(out, m, et, path, depth),
        (Value::Object(m) | Value::Map(m), Type::Object(ot)) => {
            write_object(out, m, ot, path, depth)
        }
        _ => Err(type_error(
            path,
            format!("{ty} is required, not {}", kind_name(v)),
        )),
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if n.is_infinite() {
        write_json_string(out, &n.to_string());
    } else {
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

#[inline(never)]
fn write_in_dynamic_slot(
    out: &mut Vec<u8>,
    v: &Value,
    path: &Trail<'_>,
    depth: usize,
) -> Result<()> {
    let (inner_ty, inner) = match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        Value::Dynamic(t, inner) => (t.clone(), inner.as_ref()),
        other => (infer_type(other), other),
    };
    check_dynamic_type(&inner_ty, depth).map_err(|m| type_error(path, m))?;
    out.extend_from_slice(b"{\"value\":");
    write_value(out, inner, &inner_ty, path, depth + 1)?;
    out.extend_from_slice(b",\"type\":");
    write_type(out, &inner_ty);
    out.push(b'}');
    Ok(())
}

#[inline(never)]
fn write_seq<'t>(
    out: &mut Vec<u8>,
    vs: &[Value],
    ty_at: impl Fn(usize) -> &'t Type,
    path: &Trail<'_>,
    depth: usize,
) -> Result<()> {
    out.push(b'[');
    for (i, e) in vs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(out, e, ty_at(i), &path.index(i as i64), depth + 1)?;
    }
    out.push(b']');
    Ok(())
}

#[inline(never)]
fn write_map(
    out: &mut Vec<u8>,
    m: &BTreeMap<String, Value>,
    et: &Type,
    path: &Trail<'_>,
    depth: usize,
) -> Result<()> {
    out.push(b'{');
    for (i, (k, e)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, k);
        out.push(b':');
        write_value(out, e, et, &path.key(k.as_str()), depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

#[inline(never)]
fn write_object(
    out: &mut Vec<u8>,
    m: &BTreeMap<String, Value>,
    ot: &ObjectType,
    path: &Trail<'_>,
    depth: usize,
) -> Result<()> {
    reject_extra_attributes(m, ot, path)?;
    out.push(b'{');
    for (i, (k, at)) in ot.attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, k);
        out.push(b':');
        let e = m.get(k).unwrap_or(&Value::Null);
        write_value(out, e, at, &path.attr(k.as_str()), depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

/// Whether the type JSON of `ty` nests deeper than `limit` levels (`"string"`
/// is 0, `["list","string"]` 1, `["object",{"a":"string"}]` and
/// `["tuple",["string"]]` 2). Stops looking once past the limit, so a type
/// built by hand thousands of levels deep costs no deep recursion.
fn type_json_deeper_than(ty: &Type, limit: usize) -> bool {
    match ty {
        Type::Bool | Type::Number | Type::String | Type::Dynamic => false,
        Type::List(t) | Type::Set(t) | Type::Map(t) => {
            limit == 0 || type_json_deeper_than(t, limit - 1)
        }
        Type::Tuple(ts) if ts.is_empty() => limit == 0,
        Type::Object(o) if o.attrs.is_empty() => limit == 0,
        Type::Tuple(ts) => limit < 2 || ts.iter().any(|t| type_json_deeper_than(t, limit - 2)),
        Type::Object(o) => {
            limit < 2
                || o.attrs
                    .values()
                    .any(|t| type_json_deeper_than(t, limit - 2))
        }
    }
}

/// Check the type a `dynamic` slot carries, for a slot at value depth `depth`.
///
/// Both codecs use this, decoding and encoding, so that they agree: in state
/// JSON the type sits inside the `{"value":...,"type":...}` wrapper, one level
/// below the slot, and the whole document must stay within
/// [`crate::MAX_DEPTH`] levels; msgpack carries the type JSON as a separate
/// string but is held to the same limit, so a value one codec accepts the
/// other does too.
pub(crate) fn check_dynamic_type(ty: &Type, depth: usize) -> Result<(), String> {
    let room = crate::MAX_DEPTH.saturating_sub(depth + 1);
    if type_json_deeper_than(ty, room) {
        return Err(format!(
            "the type of this dynamic value nests more than the {room} levels left at this \
             depth (values and their types may nest at most {} levels in all)",
            crate::MAX_DEPTH
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn obj(attrs: &[(&str, Type)]) -> Type {
        Type::object(attrs.iter().map(|(k, t)| (*k, t.clone())))
    }

    #[test]
    fn type_json_round_trip() {
        let cases: &[&str] = &[
            r#""string""#,
            r#""number""#,
            r#""bool""#,
            r#""dynamic""#,
            r#"["list","string"]"#,
            r#"["set",["map","number"]]"#,
            r#"["object",{"a":"bool","b":["tuple",["string","number"]]}]"#,
            r#"["object",{"a":"bool","b":"string"},["b"]]"#,
            r#"["tuple",[]]"#,
            r#"["object",{}]"#,
        ];
        for c in cases {
            let t = decode_type(c.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(encode_type(&t)).unwrap(), *c);
        }
        // Whitespace and key order do not matter; output is sorted.
        let t = decode_type(br#" [ "object" , { "z" : "string" , "a" : "number" } ] "#).unwrap();
        assert_eq!(
            encode_type(&t),
            br#"["object",{"a":"number","z":"string"}]"#
        );
        for bad in [
            r#""str""#,
            r#"["list"]"#,
            r#"["list","string","x"]"#,
            r#"["object",{"a":"bool"},["b"]]"#,
            r#"["tuple","string"]"#,
            "5",
            "",
            r#"["object",{"a":"bool","a":"bool"}]"#,
        ] {
            assert!(decode_type(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn lenient_state_decode() {
        let ty = obj(&[
            ("id", Type::String),
            ("size", Type::Number),
            ("new", Type::Bool),
        ]);
        let v = decode(
            br#"{"id":"x","size":12345678901234567890123.5,"old":[1,2]}"#,
            &ty,
        )
        .unwrap();
        assert_eq!(
            v,
            Value::object([
                ("id", Value::from("x")),
                (
                    "size",
                    Value::Number(Number::parse("12345678901234567890123.5").unwrap())
                ),
                ("new", Value::Null),
            ])
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(
            decode(br#""12.5""#, &Type::Number).unwrap(),
            Value::Number(Number::parse("12.5").unwrap())
        );
        assert_eq!(
            decode(br#""true""#, &Type::Bool).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(decode(b"1.50", &Type::String).unwrap(), Value::from("1.50"));
        assert_eq!(
            decode(b"false", &Type::String).unwrap(),
            Value::from("false")
        );
        assert!(decode(br#""yes""#, &Type::Bool).is_err());
        assert!(decode(br#""abc""#, &Type::Number).is_err());
        assert_eq!(decode(b"  ", &Type::String).unwrap(), Value::Null);
    }

    #[test]
    fn exact_numbers_encode() {
        let n = Number::parse("100000000000000000000.000001").unwrap();
        assert_eq!(
            encode(&Value::Number(n), &Type::Number).unwrap(),
            b"100000000000000000000.000001"
        );
        assert_eq!(encode(&Value::from_i64(-7), &Type::Number).unwrap(), b"-7");
    }

    #[test]
    fn object_encoding_fills_nulls() {
        let ty = obj(&[("b", Type::String), ("a", Type::list(Type::Number))]);
        let v = Value::object([("b", Value::from("q\"\n\u{1}"))]);
        assert_eq!(encode(&v, &ty).unwrap(), br#"{"a":null,"b":"q\"\n\u0001"}"#);
        let bad = Value::object([("c", Value::from("x"))]);
        assert!(encode(&bad, &ty).is_err());
    }

    #[test]
    fn unknown_is_an_error() {
        let ty = obj(&[("a", Type::String)]);
        let err = encode(&Value::object([("a", Value::unknown())]), &ty).unwrap_err();
        assert!(matches!(err, Error::Type { path, .. } if path == crate::AttributePath::attr("a")));
    }

    #[test]
    fn dynamic_wrapper() {
        let v = Value::Dynamic(
            Type::list(Type::String),
            Box::new(Value::list([Value::from("a")])),
        );
        let bytes = encode(&v, &Type::Dynamic).unwrap();
        assert_eq!(bytes, br#"{"value":["a"],"type":["list","string"]}"#);
        assert_eq!(decode(&bytes, &Type::Dynamic).unwrap(), v);
        // Inferred type for a plain value.
        assert_eq!(
            encode(&Value::from(true), &Type::Dynamic).unwrap(),
            br#"{"value":true,"type":"bool"}"#
        );
        assert_eq!(encode(&Value::Null, &Type::Dynamic).unwrap(), b"null");
        assert_eq!(decode(b"null", &Type::Dynamic).unwrap(), Value::Null);
    }

    #[test]
    fn string_escapes() {
        let v = decode(br#""a\u00e9\ud83d\ude00\n\/""#, &Type::String).unwrap();
        assert_eq!(v, Value::from("a\u{e9}\u{1F600}\n/"));
        let lone = decode(br#""\ud800x""#, &Type::String).unwrap();
        assert_eq!(lone, Value::from("\u{FFFD}x"));
        assert!(decode(b"\"a\x01\"", &Type::String).is_err());
        assert!(decode(b"\"\xff\"", &Type::String).is_err());
        assert!(decode(br#""\u12""#, &Type::String).is_err());
    }

    #[test]
    fn malformed_inputs() {
        for bad in [
            "{",
            "[1,]",
            "01",
            "-",
            "1.",
            "1e",
            "nul",
            "[1 2]",
            "{\"a\" 1}",
            "\"x",
            "1 2",
        ] {
            assert!(decode(bad.as_bytes(), &Type::Dynamic).is_err(), "{bad}");
            assert!(
                decode(bad.as_bytes(), &Type::list(Type::Number)).is_err(),
                "{bad}"
            );
        }
        let deep = "[".repeat(10_000);
        assert!(decode(deep.as_bytes(), &Type::list(Type::Dynamic)).is_err());
    }
}

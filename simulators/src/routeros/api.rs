//! HTTP glue of the RouterOS simulator: `/rest/<menu>` routes, Basic
//! authentication, JSON bodies and the error envelope.
//!
//! Verb map (MikroTik "REST API" manual): `GET` prints (a list, or one item
//! by `.id`; `?key=value` filters by equality, `.proplist` picks keys), `PUT`
//! adds, `PATCH` sets, `DELETE` removes, `POST <menu>/<command>` runs a
//! console command (`move`, `remove`, `print`). Failures:
//! `{"error": <status>, "message": <reason>, "detail": <CLI error>}`; an
//! unknown command is 406 `no such command or directory (<name>)`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::state::{Group, MENUS, RosError, Router as Ros, parse_id};
use crate::common::lock;
use crate::common::text::decode_form;

pub(crate) type Shared = Arc<Mutex<Ros>>;

/// What a route of a menu addresses.
#[derive(Debug, Clone, Copy)]
enum Target {
    Menu,
    Item,
    Command(&'static str),
}

/// The routes: for each menu, the menu, its items and its commands.
pub(crate) fn router(shared: Shared) -> Router {
    let mut r = Router::new();
    for menu in MENUS {
        let base = format!("/rest/{menu}");
        for (path, target) in [
            (base.clone(), Target::Menu),
            (format!("{base}/{{id}}"), Target::Item),
            (format!("{base}/move"), Target::Command("move")),
            (format!("{base}/remove"), Target::Command("remove")),
            (format!("{base}/print"), Target::Command("print")),
        ] {
            let menu: &'static str = menu;
            r = r.route(
                &path,
                any(
                    move |State(s): State<Shared>,
                          method: Method,
                          headers: HeaderMap,
                          id: Option<Path<String>>,
                          RawQuery(q): RawQuery,
                          body: Bytes| async move {
                        handle(s, menu, target, method, headers, id.map(|p| p.0), q, body)
                    },
                ),
            );
        }
    }
    r.route("/rest/system/resource", any(system_resource))
        .fallback(|| async {
            reply(Err(RosError {
                status: 400,
                detail: "no such command or directory".into(),
            }))
        })
        .with_state(shared)
}

/// The answer of an injected fault, in the error envelope.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    let body = json!({
        "error": status.as_u16(),
        "message": status.canonical_reason().unwrap_or("Error"),
    });
    json_response(status, &body)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn reply(r: Result<Value, RosError>) -> Response {
    match r {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut resp = json_response(status, &e.body());
            if e.status == 401 {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Basic realm=\"RouterOS\""),
                );
            }
            resp
        }
    }
}

/// Standard base64 (`Authorization: Basic`).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn authenticate(r: &Ros, headers: &HeaderMap) -> Result<Group, RosError> {
    let unauthorized = || RosError {
        status: 401,
        detail: String::new(),
    };
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let b64 = h.strip_prefix("Basic ").ok_or_else(unauthorized)?;
    let raw = base64_decode(b64).ok_or_else(unauthorized)?;
    let text = String::from_utf8(raw).map_err(|_| unauthorized())?;
    let (user, password) = text.split_once(':').ok_or_else(unauthorized)?;
    r.authenticate(user, password).ok_or_else(unauthorized)
}

/// The arguments of a JSON body: an object of strings (numbers and
/// booleans are taken as their text, as RouterOS does).
fn args_of(body: &Bytes) -> Result<Vec<(String, String)>, RosError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RosError::bad(format!("JSON parse error: {e}")))?;
    let Value::Object(m) = v else {
        return Err(RosError::bad("expected a JSON object"));
    };
    let mut out = Vec::new();
    for (k, v) in m {
        let s = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            Value::Null => String::new(),
            Value::Object(_) => return Err(RosError::bad(format!("bad value of {k}"))),
        };
        out.push((k, s));
    }
    Ok(out)
}

fn arg<'a>(args: &'a [(String, String)], name: &str) -> Option<&'a str> {
    args.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `?key=value&.proplist=a,b` over printed items.
fn filter_print(
    items: Vec<Value>,
    filters: &[(String, String)],
    proplist: Option<&str>,
) -> Vec<Value> {
    let keep: Option<Vec<&str>> = proplist.map(|p| p.split(',').map(str::trim).collect());
    items
        .into_iter()
        .filter(|i| {
            filters.iter().all(|(k, v)| match i.get(k) {
                Some(Value::String(s)) => s == v,
                _ => false,
            })
        })
        .map(|i| match (&keep, i) {
            (Some(keys), Value::Object(m)) => Value::Object(
                m.into_iter()
                    .filter(|(k, _)| keys.contains(&k.as_str()))
                    .collect(),
            ),
            (_, i) => i,
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn handle(
    shared: Shared,
    menu: &'static str,
    target: Target,
    method: Method,
    headers: HeaderMap,
    id: Option<String>,
    query: Option<String>,
    body: Bytes,
) -> Response {
    let mut r = lock(&shared);
    r.expire();
    let group = match authenticate(&r, &headers) {
        Ok(g) => g,
        Err(e) => return reply(Err(e)),
    };
    let writes = !matches!(
        (&method, target),
        (&Method::GET, _) | (&Method::POST, Target::Command("print"))
    );
    if writes && !group.can_write() {
        return reply(Err(RosError {
            status: 500,
            detail: "not enough permissions (9)".into(),
        }));
    }
    let result = dispatch(&mut r, menu, target, &method, id.as_deref(), query, &body);
    if writes && result.is_ok() {
        r.after_change(menu);
    }
    match result {
        // DELETE answers an empty body.
        Ok(None) => Response::new(Body::empty()),
        Ok(Some(v)) => reply(Ok(v)),
        Err(e) => reply(Err(e)),
    }
}

fn dispatch(
    r: &mut Ros,
    menu: &'static str,
    target: Target,
    method: &Method,
    id: Option<&str>,
    query: Option<String>,
    body: &Bytes,
) -> Result<Option<Value>, RosError> {
    let not_acceptable = |what: &str| RosError {
        status: 406,
        detail: format!("no such command or directory ({what})"),
    };
    match (target, method.as_str()) {
        (Target::Menu, "GET") => {
            let pairs = query.map(|q| decode_form(&q)).unwrap_or_default();
            let proplist = pairs
                .iter()
                .find(|(k, _)| k == ".proplist")
                .map(|(_, v)| v.clone());
            let filters: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(k, _)| k != ".proplist")
                .collect();
            Ok(Some(Value::Array(filter_print(
                r.print(menu),
                &filters,
                proplist.as_deref(),
            ))))
        }
        (Target::Menu, "PUT") => r.add(menu, &args_of(body)?).map(Some),
        (Target::Item, "GET") => {
            let id = id.unwrap_or_default();
            let n = parse_id(id).ok_or_else(RosError::not_found)?;
            r.print(menu)
                .into_iter()
                .find(|v| v.get(".id").and_then(Value::as_str).and_then(parse_id) == Some(n))
                .map(Some)
                .ok_or_else(RosError::not_found)
        }
        (Target::Item, "PATCH") => r
            .set(menu, id.unwrap_or_default(), &args_of(body)?)
            .map(Some),
        (Target::Item, "DELETE") => r.remove(menu, id.unwrap_or_default()).map(|()| None),
        (Target::Item, "POST") => {
            let word = id.unwrap_or_default();
            let known =
                super::state::schema(menu).is_some_and(|m| m.commands.iter().any(|c| c == word));
            if known {
                // A real console command this simulator does not model.
                Err(RosError::bad(format!("{word}: not simulated")))
            } else {
                Err(not_acceptable(word))
            }
        }
        (Target::Command("move"), "POST") => {
            let args = args_of(body)?;
            let numbers = arg(&args, ".id")
                .or_else(|| arg(&args, "numbers"))
                .ok_or_else(|| RosError::bad("missing value(s) of argument(s) numbers"))?;
            let numbers: Vec<String> = numbers.split(',').map(|s| s.trim().to_string()).collect();
            for (k, _) in &args {
                if ![".id", "numbers", "destination"].contains(&k.as_str()) {
                    return Err(RosError::bad(format!("unknown parameter {k}")));
                }
            }
            r.move_items(menu, &numbers, arg(&args, "destination"))?;
            Ok(Some(json!([])))
        }
        (Target::Command("remove"), "POST") => {
            let args = args_of(body)?;
            let numbers = arg(&args, ".id")
                .or_else(|| arg(&args, "numbers"))
                .ok_or_else(|| RosError::bad("missing value(s) of argument(s) numbers"))?;
            for n in numbers.split(',') {
                r.remove(menu, n.trim()).map_err(|e| {
                    if e.status == 404 {
                        RosError::bad(format!("no such item ({})", n.trim()))
                    } else {
                        e
                    }
                })?;
            }
            Ok(Some(json!([])))
        }
        (Target::Command("print"), "POST") => {
            let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                serde_json::from_slice(body)
                    .map_err(|e| RosError::bad(format!("JSON parse error: {e}")))?
            };
            let proplist = match v.get(".proplist") {
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            // Simple equality queries (`key=value`), all of which must hold.
            let filters: Vec<(String, String)> = v
                .get(".query")
                .and_then(Value::as_array)
                .map(|q| {
                    q.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|s| s.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Some(Value::Array(filter_print(
                r.print(menu),
                &filters,
                proplist.as_deref(),
            ))))
        }
        (Target::Command(c), _) => Err(not_acceptable(c)),
        (_, m) => Err(RosError::bad(format!("method {m} is not supported here"))),
    }
}

async fn system_resource(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let r = lock(&s);
    if let Err(e) = authenticate(&r, &headers) {
        return reply(Err(e));
    }
    reply(Ok(json!({
        "version": r.version,
        "board-name": "CHR",
        "architecture-name": "x86_64",
        "platform": "MikroTik",
        "cpu": "QEMU",
        "cpu-count": "1",
        "uptime": "1h",
    })))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_decodes() {
        assert_eq!(
            base64_decode("YWRtaW46c2VjcmV0").as_deref(),
            Some(&b"admin:secret"[..])
        );
        assert_eq!(base64_decode("YWRtaW46").as_deref(), Some(&b"admin:"[..]));
        assert!(base64_decode("!!").is_none());
    }
}

//! HTTP glue of the pfSense simulator: `/api/v2/...` routes, authentication
//! and authorization, content negotiation, control parameters and the
//! package's envelope.
//!
//! From pfSense-pkg-RESTAPI v2.10 (`Core/Auth.inc`, `Core/ContentHandler.inc`,
//! `ContentHandlers/JSONContentHandler.inc`, `ContentHandlers/URLContentHandler.inc`,
//! `Core/Endpoint.inc`, docs `AUTHENTICATION_AND_AUTHORIZATION.md`,
//! `CONTENT_AND_ACCEPT_TYPES.md`, `COMMON_CONTROL_PARAMETERS.md`):
//! - every answer is `{code, status, response_id, message, data}`, `status`
//!   the lower-cased reason phrase; success is 200 `SUCCESS`;
//! - the enabled methods (`auth_methods`, default `BasicAuth`) are tried in
//!   order; a request none of them recognises is 401
//!   `AUTH_AUTHENTICATION_FAILED` "Authentication failed." (an `X-API-Key`
//!   while only BasicAuth is enabled is such a request); a user without
//!   the endpoint's privilege (`api-v2-<path>-<method>`, or `page-all`) is
//!   403 `AUTH_AUTHORIZATION_FAILED`;
//! - `Accept` must name one handler (`application/json`, or empty / `*/*`);
//!   anything else, a list of types included, is 406
//!   `CONTENT_HANDLER_ENCODE_NOT_FOUND`;
//! - the Content-Type decides where parameters are read: JSON reads the body
//!   only (a query string is ignored); form encoding (the default for GET and
//!   DELETE) reads the query string if there is one, else the body, inferring
//!   types;
//! - `apply` applies only when it is the JSON boolean `true` (`=== true`;
//!   the string "true" in a JSON body silently applies nothing); `async`
//!   must be a boolean (400 `ENDPOINT_ASYNC_FIELD_INVALID_TYPE`);
//!   `placement` an integer.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::state::{Pf, PfError, PfResult};
use crate::common::lock;
use crate::common::text::decode_form;

pub(crate) type Shared = Arc<Mutex<Pf>>;

/// The endpoints (the native schema's `url`s) the simulator serves.
const ENDPOINTS: &[&str] = &[
    "/api/v2/firewall/rule",
    "/api/v2/firewall/rules",
    "/api/v2/firewall/alias",
    "/api/v2/firewall/aliases",
    "/api/v2/firewall/apply",
    "/api/v2/firewall/nat/port_forward",
    "/api/v2/firewall/nat/port_forwards",
    "/api/v2/firewall/traffic_shaper/limiter",
    "/api/v2/firewall/traffic_shaper/limiters",
    "/api/v2/interfaces",
    "/api/v2/system/restapi/settings",
];

pub(crate) fn router(shared: Shared) -> Router {
    let mut r = Router::new();
    for ep in ENDPOINTS {
        let ep: &'static str = ep;
        r = r.route(
            ep,
            any(
                move |State(s): State<Shared>,
                      method: Method,
                      headers: HeaderMap,
                      RawQuery(q): RawQuery,
                      body: Bytes| async move {
                    handle(&s, ep, &method, &headers, q, &body)
                },
            ),
        );
    }
    r.fallback(|| async {
        envelope_error(&PfError::new(
            404,
            "ENDPOINT_NOT_FOUND",
            "The requested endpoint does not exist.",
        ))
    })
    .with_state(shared)
}

fn phrase(code: u16) -> String {
    StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
        .to_lowercase()
}

fn json_response(code: u16, body: &Value) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn envelope_ok(data: Value) -> Response {
    json_response(
        200,
        &json!({"code": 200, "status": "ok", "response_id": "SUCCESS", "message": "", "data": data}),
    )
}

pub(crate) fn envelope_error(e: &PfError) -> Response {
    let mut resp = json_response(
        e.status,
        &json!({
            "code": e.status,
            "status": phrase(e.status),
            "response_id": e.id,
            "message": e.message,
            "data": [],
        }),
    );
    if e.status == 503 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("300"));
    }
    resp
}

/// The answer of an injected fault, in the envelope.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    envelope_error(&PfError::new(
        status.as_u16(),
        "SIMULATED_FAULT",
        format!("Simulated {}.", phrase(status.as_u16())),
    ))
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

fn header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `Auth::attempt_multi_auth`: the user, or the error.
fn authenticate(pf: &Pf, headers: &HeaderMap, method: &str, ep: &str) -> PfResult<String> {
    let mut user = None;
    for m in &pf.auth_methods {
        let found = match m.as_str() {
            "BasicAuth" => header(headers, header::AUTHORIZATION)
                .and_then(|h| h.strip_prefix("Basic "))
                .and_then(base64_decode)
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|t| {
                    let (u, p) = t.split_once(':')?;
                    pf.users
                        .iter()
                        .find(|x| x.name == u && x.password == p)
                        .map(|x| x.name.clone())
                }),
            "KeyAuth" => headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .and_then(|k| pf.keys.iter().find(|(key, _)| key == k))
                .map(|(_, u)| u.clone()),
            _ => None,
        };
        if found.is_some() {
            user = found;
            break;
        }
    }
    let Some(user) = user else {
        return Err(PfError::new(
            401,
            "AUTH_AUTHENTICATION_FAILED",
            "Authentication failed.",
        ));
    };
    let privilege = format!(
        "{}-{}",
        ep.trim_start_matches('/').replace('/', "-"),
        method.to_ascii_lowercase()
    );
    let allowed = pf.users.iter().find(|u| u.name == user).is_some_and(|u| {
        u.privileges
            .iter()
            .any(|p| p == "page-all" || *p == privilege)
    });
    if !allowed {
        return Err(PfError::new(
            403,
            "AUTH_AUTHORIZATION_FAILED",
            "Authorization failed. You do not have sufficient privileges to access this resource.",
        ));
    }
    Ok(user)
}

/// `URLContentHandler` type inference.
fn infer(v: &str) -> Value {
    match v {
        "true" => json!(true),
        "false" => json!(false),
        _ if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && v.len() < 18 => {
            v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n))
        }
        _ => json!(v),
    }
}

/// The request data, read where the Content-Type says.
fn request_data(
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
) -> PfResult<Map<String, Value>> {
    let ct = header(headers, header::CONTENT_TYPE)
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let ct = if ct.is_empty() {
        match *method {
            Method::GET | Method::DELETE => "application/x-www-form-urlencoded".to_string(),
            _ => "application/json".to_string(),
        }
    } else {
        ct
    };
    match ct.as_str() {
        "application/json" => {
            if body.is_empty() {
                return Ok(Map::new());
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(PfError::bad(
                    "JSON_CONTENT_HANDLER_INVALID_JSON",
                    "Request data is not valid JSON.",
                )),
            }
        }
        "application/x-www-form-urlencoded" => {
            let text = match query.filter(|q| !q.is_empty()) {
                Some(q) => q,
                None => String::from_utf8_lossy(body).into_owned(),
            };
            Ok(decode_form(&text)
                .into_iter()
                .map(|(k, v)| (k, infer(&v)))
                .collect())
        }
        other => Err(PfError::new(
            415,
            "CONTENT_HANDLER_DECODE_NOT_FOUND",
            format!(
                "No content handler exists for `{other}`. Change the value of your `Content-Type` \
                 header to a valid option and try again."
            ),
        )),
    }
}

/// A boolean control parameter.
fn control_bool(data: &mut Map<String, Value>, name: &str) -> PfResult<bool> {
    match data.remove(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(PfError::bad(
            &format!("ENDPOINT_{}_FIELD_INVALID_TYPE", name.to_ascii_uppercase()),
            format!("Field `{name}` must be of type `boolean`."),
        )),
    }
}

fn handle(
    shared: &Shared,
    ep: &'static str,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
) -> Response {
    match serve(shared, ep, method, headers, query, body) {
        Ok(data) => envelope_ok(data),
        Err(e) => envelope_error(&e),
    }
}

fn method_not_allowed(method: &Method) -> PfError {
    PfError::new(
        405,
        "ENDPOINT_METHOD_NOT_ALLOWED",
        format!("Resource at this endpoint does not support the {method} method."),
    )
}

fn serve(
    shared: &Shared,
    ep: &'static str,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
) -> PfResult<Value> {
    if let Some(accept) = header(headers, header::ACCEPT) {
        let a = accept
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !(a.is_empty() || a == "*/*" || a == "application/json") {
            return Err(PfError::new(
                406,
                "CONTENT_HANDLER_ENCODE_NOT_FOUND",
                format!(
                    "No content handler exists for `{}`. Change the value of your `Accept` header to \
                     a valid option and try again.",
                    accept.to_ascii_lowercase()
                ),
            ));
        }
    }
    let mut pf = lock(shared);
    let user = authenticate(&pf, headers, method.as_str(), ep)?;
    let mut data = request_data(method, headers, query, body)?;
    // `apply` is compared with `=== true` (Addendum 9): anything else,
    // the string "true" included, applies nothing.
    let apply = data.remove("apply") == Some(Value::Bool(true));
    let _async = control_bool(&mut data, "async")?;
    let placement = match data.remove("placement") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_i64(),
        Some(_) => {
            return Err(PfError::bad(
                "ENDPOINT_PLACEMENT_FIELD_INVALID_TYPE",
                "Field `placement` must be of type `integer`.",
            ));
        }
    };
    let pf = &mut *pf;
    match (ep, method.as_str()) {
        ("/api/v2/firewall/rules", "GET") => Ok(pf.rules_repr()),
        ("/api/v2/firewall/rule", "GET") => {
            let id = data.get("id").cloned();
            let i = id
                .as_ref()
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n < pf.rules.len())
                .ok_or_else(|| {
                    PfError::new(
                        404,
                        "MODEL_OBJECT_NOT_FOUND",
                        format!(
                            "Object with ID `{}` does not exist.",
                            id.unwrap_or(Value::Null)
                        ),
                    )
                })?;
            Ok(pf.rule_repr(i, &pf.rules[i]))
        }
        ("/api/v2/firewall/rule", "POST") => {
            let r = pf.create_rule(&user, &data, placement)?;
            if apply {
                pf.reload_filter();
            }
            Ok(r)
        }
        ("/api/v2/firewall/rule", "PATCH") => {
            let r = pf.update_rule(&user, &data, placement)?;
            if apply {
                pf.reload_filter();
            }
            Ok(r)
        }
        ("/api/v2/firewall/rule", "DELETE") => {
            let r = pf.delete_rule(data.get("id"))?;
            if apply {
                pf.reload_filter();
            }
            Ok(r)
        }
        ("/api/v2/firewall/aliases", "GET") => Ok(pf.aliases_repr()),
        ("/api/v2/firewall/alias", "GET") => {
            let id = data.get("id").cloned().unwrap_or(Value::Null);
            let i = id
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n < pf.aliases.len())
                .ok_or_else(|| {
                    PfError::new(
                        404,
                        "MODEL_OBJECT_NOT_FOUND",
                        format!("Object with ID `{id}` does not exist."),
                    )
                })?;
            Ok(Pf::alias_repr(i, &pf.aliases[i]))
        }
        ("/api/v2/firewall/alias", "POST") => pf.create_alias(&data, apply),
        ("/api/v2/firewall/alias", "PATCH") => pf.update_alias(&data, apply),
        ("/api/v2/firewall/alias", "DELETE") => pf.delete_alias(data.get("id"), apply),
        ("/api/v2/firewall/nat/port_forwards", "GET") => Ok(pf.port_forwards_repr()),
        ("/api/v2/firewall/nat/port_forward", "GET") => pf.port_forward_get(data.get("id")),
        ("/api/v2/firewall/nat/port_forward", "POST") => {
            pf.create_port_forward(&user, &data, apply)
        }
        ("/api/v2/firewall/nat/port_forward", "PATCH") => {
            pf.update_port_forward(&user, &data, apply)
        }
        ("/api/v2/firewall/nat/port_forward", "DELETE") => {
            pf.delete_port_forward(data.get("id"), apply)
        }
        ("/api/v2/firewall/traffic_shaper/limiters", "GET") => Ok(pf.limiters_repr()),
        ("/api/v2/firewall/traffic_shaper/limiter", "GET") => pf.limiter_get(data.get("id")),
        ("/api/v2/firewall/traffic_shaper/limiter", "POST") => pf.create_limiter(&data, apply),
        ("/api/v2/firewall/traffic_shaper/limiter", "PATCH") => pf.update_limiter(&data, apply),
        ("/api/v2/firewall/traffic_shaper/limiter", "DELETE") => {
            pf.delete_limiter(data.get("id"), apply)
        }
        ("/api/v2/firewall/apply", "GET") => Ok(pf.apply_status()),
        ("/api/v2/firewall/apply", "POST") => pf.apply(),
        ("/api/v2/interfaces", "GET") => Ok(pf.interfaces_repr()),
        ("/api/v2/system/restapi/settings", "GET") => Ok(pf.settings_repr()),
        _ => Err(method_not_allowed(method)),
    }
}

//! HTTP layer of the Cloudflare simulator: routes under `/client/v4`, Bearer
//! token auth with scopes, the per-token rate limit, and the
//! `{success, errors, messages, result, result_info}` envelope.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::state::{CfError, Cloudflare, ZONES_PER_PAGE, paginate, parse_page};
use crate::common::lock;
use crate::common::text::decode_form;

pub(crate) type Shared = Arc<Mutex<Cloudflare>>;

/// The API base path.
pub(crate) const BASE: &str = "/client/v4";

/// What an endpoint needs from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Any valid token.
    Valid,
    /// DNS Read on the zone.
    Read,
    /// DNS Write on the zone.
    Edit,
}

/// The routes.
pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route(&format!("{BASE}/user/tokens/verify"), get(verify_token))
        .route(&format!("{BASE}/zones"), get(list_zones))
        .route(&format!("{BASE}/zones/{{zone_id}}"), get(get_zone))
        .route(
            &format!("{BASE}/zones/{{zone_id}}/dns_records"),
            get(list_records).post(create_record),
        )
        .route(
            &format!("{BASE}/zones/{{zone_id}}/dns_records/batch"),
            post(batch),
        )
        .route(
            &format!("{BASE}/zones/{{zone_id}}/dns_records/{{dns_record_id}}"),
            get(get_record)
                .put(put_record)
                .patch(patch_record)
                .delete(delete_record),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

fn envelope_ok(result: Value, info: Option<Value>) -> Response {
    let mut body = json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": result,
    });
    if let (Some(info), Some(obj)) = (info, body.as_object_mut()) {
        obj.insert("result_info".into(), info);
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub(crate) fn envelope_err(e: &CfError) -> Response {
    let mut err = json!({ "code": e.code, "message": e.message });
    if let (false, Some(obj)) = (e.chain.is_empty(), err.as_object_mut()) {
        let chain = e
            .chain
            .iter()
            .map(|(c, m)| json!({ "code": c, "message": m }))
            .collect();
        obj.insert("error_chain".into(), Value::Array(chain));
    }
    let body = json!({
        "success": false,
        "errors": [err],
        "messages": [],
        "result": null,
    });
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

/// Answer of an injected fault, in the API's own envelope.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    let e = if status == StatusCode::TOO_MANY_REQUESTS {
        CfError::new(
            429,
            971,
            "Please wait and consider throttling your request speed",
        )
    } else {
        CfError::new(
            status.as_u16(),
            10000 + u32::from(status.as_u16() % 1000),
            format!(
                "{} (simulated)",
                status.canonical_reason().unwrap_or("Internal Server Error")
            ),
        )
    };
    envelope_err(&e)
}

fn deny(e: &CfError) -> Box<Response> {
    Box::new(envelope_err(e))
}

/// Authenticates, spends rate budget, checks the scope; returns the token.
fn authorize(
    cf: &mut Cloudflare,
    headers: &HeaderMap,
    need: Need,
    zone_id: Option<&str>,
) -> Result<String, Box<Response>> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Err(deny(&CfError::invalid(
            9106,
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
        )));
    };
    let token = raw
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty())
        .map(|(_, t)| t.trim().to_string());
    let Some(token) = token else {
        let mut e = CfError::invalid(6003, "Invalid request headers");
        e.chain
            .push((6111, "Invalid format for Authorization header".into()));
        return Err(deny(&e));
    };
    let Some(entry) = cf.tokens.get(&token).cloned() else {
        return Err(deny(&CfError::auth()));
    };
    if let Err(retry_after) = cf.spend(&token) {
        let mut resp = envelope_err(&CfError::new(
            429,
            971,
            "Please wait and consider throttling your request speed",
        ));
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(retry_after));
        return Err(Box::new(resp));
    }
    if let Some(zone_id) = zone_id {
        if cf.zone(zone_id).is_none() {
            return Err(deny(&CfError::invalid(
                7003,
                format!(
                    "Could not route to /zones/{zone_id}, perhaps your object identifier is invalid?"
                ),
            )));
        }
        let in_scope = entry
            .scope
            .zones
            .as_ref()
            .is_none_or(|z| z.iter().any(|id| id == zone_id));
        if !in_scope {
            return Err(deny(&CfError::auth()));
        }
    }
    if need == Need::Edit && !entry.scope.dns_edit {
        return Err(deny(&CfError::auth()));
    }
    Ok(token)
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map(decode_form).unwrap_or_default()
}

fn parse_body(body: &Bytes) -> Result<Value, CfError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(CfError::bad_body)
}

fn respond(r: Result<Value, CfError>) -> Response {
    match r {
        Ok(v) => envelope_ok(v, None),
        Err(e) => envelope_err(&e),
    }
}

async fn verify_token(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let mut cf = lock(&s);
    match authorize(&mut cf, &headers, Need::Valid, None) {
        Err(r) => *r,
        Ok(token) => {
            let id = cf
                .tokens
                .get(&token)
                .map(|t| t.id.clone())
                .unwrap_or_default();
            envelope_ok(json!({ "id": id, "status": "active" }), None)
        }
    }
}

async fn list_zones(State(s): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let mut cf = lock(&s);
    let token = match authorize(&mut cf, &headers, Need::Valid, None) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let q = query_pairs(&uri);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(entry) = cf.tokens.get(&token).cloned() else {
        return envelope_err(&CfError::auth());
    };
    let name_filter = get("name").map(str::to_string);
    // Zone-scoped tokens lack zone.list: listing needs `?name=` (research
    // §4b.7: "requires permission com.cloudflare.api.account.zone.list").
    if !entry.scope.zone_list && name_filter.is_none() {
        return envelope_err(&CfError::new(
            403,
            9109,
            format!(
                "Actor 'com.cloudflare.api.token.{}' requires permission 'com.cloudflare.api.account.zone.list' to list zones",
                entry.id
            ),
        ));
    }
    let (min, default, max) = ZONES_PER_PAGE;
    let page = match parse_page(get("page"), "page", 1, u64::MAX) {
        Ok(p) => p,
        Err(e) => return envelope_err(&e),
    };
    let per_page = match parse_page(get("per_page"), "per_page", default, u64::MAX) {
        Ok(p) => p.clamp(min, max),
        Err(e) => return envelope_err(&e),
    };
    let mut zones: Vec<_> = cf
        .zones
        .iter()
        .filter(|z| {
            entry
                .scope
                .zones
                .as_ref()
                .is_none_or(|ids| ids.contains(&z.id))
        })
        .filter(|z| {
            name_filter
                .as_deref()
                .is_none_or(|f| name_matches(f, &z.name))
        })
        .filter(|_| get("status").is_none_or(|s| s == "active"))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    if get("direction") == Some("desc") {
        zones.reverse();
    }
    let all: Vec<Value> = zones.iter().map(|z| z.to_json()).collect();
    let (rows, info) = paginate(all, page, per_page);
    envelope_ok(Value::Array(rows), Some(info))
}

/// Zone `name` filter with the OpenAPI operators (`contains:`, ...).
fn name_matches(filter: &str, name: &str) -> bool {
    let (op, v) = match filter.split_once(':') {
        Some((op, v)) => (op, v),
        None => ("equal", filter),
    };
    let lower = v.trim_end_matches('.').to_ascii_lowercase();
    match op {
        "not_equal" => name != lower,
        "starts_with" => name.starts_with(&lower),
        "ends_with" => name.ends_with(&lower),
        "contains" => name.contains(&lower),
        "starts_with_case_sensitive" => name.starts_with(v),
        "ends_with_case_sensitive" => name.ends_with(v),
        "contains_case_sensitive" => name.contains(v),
        _ => name == lower,
    }
}

async fn get_zone(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Read, Some(&zone_id)) {
        return *r;
    }
    match cf.zone(&zone_id) {
        Some(z) => envelope_ok(z.to_json(), None),
        None => envelope_err(&CfError::auth()),
    }
}

async fn list_records(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    uri: Uri,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Read, Some(&zone_id)) {
        return *r;
    }
    match cf.list(&zone_id, &query_pairs(&uri)) {
        Ok((rows, info)) => envelope_ok(Value::Array(rows), Some(info)),
        Err(e) => envelope_err(&e),
    }
}

async fn create_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Edit, Some(&zone_id)) {
        return *r;
    }
    respond(parse_body(&body).and_then(|b| cf.create(&zone_id, &b)))
}

async fn get_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((zone_id, id)): Path<(String, String)>,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Read, Some(&zone_id)) {
        return *r;
    }
    respond(cf.get(&zone_id, &id))
}

async fn put_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((zone_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Edit, Some(&zone_id)) {
        return *r;
    }
    respond(parse_body(&body).and_then(|b| cf.update(&zone_id, &id, &b, true)))
}

async fn patch_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((zone_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Edit, Some(&zone_id)) {
        return *r;
    }
    respond(parse_body(&body).and_then(|b| cf.update(&zone_id, &id, &b, false)))
}

async fn delete_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((zone_id, id)): Path<(String, String)>,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Edit, Some(&zone_id)) {
        return *r;
    }
    respond(cf.delete(&zone_id, &id))
}

/// `POST .../dns_records/batch`: deletes, patches, puts, posts, in that
/// order, all or nothing.
async fn batch(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut cf = lock(&s);
    if let Err(r) = authorize(&mut cf, &headers, Need::Edit, Some(&zone_id)) {
        return *r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return envelope_err(&e),
    };
    let saved = cf.records.clone();
    let result = run_batch(&mut cf, &zone_id, &body);
    if result.is_err() {
        cf.records = saved;
    }
    respond(result)
}

fn run_batch(cf: &mut Cloudflare, zone_id: &str, body: &Value) -> Result<Value, CfError> {
    let list = |k: &str| -> Vec<Value> {
        body.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let id_of = |v: &Value| -> Result<String, CfError> {
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| CfError::invalid(1004, "Batch entries need an 'id'."))
    };
    let mut deletes = Vec::new();
    for d in list("deletes") {
        deletes.push(cf.delete(zone_id, &id_of(&d)?)?);
    }
    let mut patches = Vec::new();
    for p in list("patches") {
        patches.push(cf.update(zone_id, &id_of(&p)?, &p, false)?);
    }
    let mut puts = Vec::new();
    for p in list("puts") {
        puts.push(cf.update(zone_id, &id_of(&p)?, &p, true)?);
    }
    let mut posts = Vec::new();
    for p in list("posts") {
        posts.push(cf.create(zone_id, &p)?);
    }
    Ok(json!({ "deletes": deletes, "patches": patches, "puts": puts, "posts": posts }))
}

async fn no_route() -> Response {
    envelope_err(&CfError::invalid(7000, "No route for that URI"))
}

async fn method_not_allowed(method: Method) -> Response {
    envelope_err(&CfError::new(
        405,
        10000,
        format!("{method} method not allowed for the api_token authentication scheme"),
    ))
}

//! HTTP glue for the Technitium simulator: parameters from the query string
//! or a form body, token authentication, and the `status` envelope.
//!
//! Quirks reproduced on purpose (APIDOCS.md "API Request", "API
//! Authentication", "API Response Format"):
//! * every call accepts GET or POST; POST parameters are
//!   `application/x-www-form-urlencoded`; the query string wins over the form;
//!   parameter names are case-insensitive (ASP.NET);
//! * the token comes from `Authorization: Bearer` (15.0+) or a legacy `token`
//!   query/form parameter;
//! * API failures are HTTP 200 with `status: "error"` (or `"invalid-token"`).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::ops::{self, Server};
use super::request::{ApiError, Call, Level, Params, Perm, Reply, Session};
use super::state::SERVER_DOMAIN;
use crate::common::lock;
use crate::common::text::decode_form;

/// Body size limit for form posts.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

pub(crate) type Shared = Arc<Mutex<Server>>;

pub(crate) type Op = fn(&mut Server, &Call) -> Result<Reply, ApiError>;

use Level::{Delete, Modify, View};

/// The endpoints served and the permissions APIDOCS.md (v15.2) gives each
/// (`PERMISSIONS:` under each call; `Zones: None` where only the zone's own
/// permission is listed).
pub(crate) const ROUTES: &[(&str, Perm)] = &[
    ("/api/user/login", Perm::None),
    ("/api/user/logout", Perm::Session),
    ("/api/user/createToken", Perm::None),
    ("/api/user/session/get", Perm::Session),
    ("/api/zones/list", Perm::zones(View, View)),
    ("/api/zones/create", Perm::zones(Modify, Level::None)),
    ("/api/zones/delete", Perm::zones(Delete, Delete)),
    ("/api/zones/enable", Perm::zones(Modify, Modify)),
    ("/api/zones/disable", Perm::zones(Modify, Modify)),
    // "Get Zone Options ... PERMISSIONS: Zones: Modify, Zone: View": a
    // View-only token cannot read zone options.
    ("/api/zones/options/get", Perm::zones(Modify, View)),
    ("/api/zones/records/get", Perm::zones(Level::None, View)),
    ("/api/zones/records/add", Perm::zones(Level::None, Modify)),
    (
        "/api/zones/records/update",
        Perm::zones(Level::None, Modify),
    ),
    (
        "/api/zones/records/delete",
        Perm::zones(Level::None, Delete),
    ),
];

fn op_of(path: &str) -> Op {
    match path {
        "/api/user/login" => ops::login,
        "/api/user/logout" => ops::logout,
        "/api/user/createToken" => ops::create_token,
        "/api/user/session/get" => ops::session_get,
        "/api/zones/list" => ops::zones_list,
        "/api/zones/create" => ops::zones_create,
        "/api/zones/delete" => ops::zones_delete,
        "/api/zones/enable" => ops::zones_enable,
        "/api/zones/disable" => ops::zones_disable,
        "/api/zones/options/get" => ops::zones_options_get,
        "/api/zones/records/get" => ops::records_get,
        "/api/zones/records/add" => ops::records_add,
        "/api/zones/records/update" => ops::records_update,
        "/api/zones/records/delete" => ops::records_delete,
        _ => unknown_route,
    }
}

fn unknown_route(_: &mut Server, _: &Call) -> Result<Reply, ApiError> {
    Err(ApiError::error("No such API call."))
}

/// The routes of the API, each accepting any method.
pub(crate) fn router(shared: Shared) -> Router {
    let routes: Vec<(&str, Perm, Op)> = ROUTES
        .iter()
        .map(|(path, perm)| (*path, *perm, op_of(path)))
        .collect();
    let mut router = Router::new();
    for (path, perm, op) in routes {
        router = router.route(
            path,
            any(move |State(shared): State<Shared>, req: Request| handle(shared, req, perm, op)),
        );
    }
    router.with_state(shared)
}

async fn handle(shared: Shared, req: Request, perm: Perm, op: Op) -> Response {
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(decode_form).unwrap_or_default();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return render(Err(ApiError::error("Request body is too large."))),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/") {
        return render(Err(ApiError::error(
            "The simulator does not support multipart/form-data uploads.",
        )));
    }
    let form = if bytes.is_empty() || content_type.starts_with("application/json") {
        Vec::new()
    } else {
        decode_form(&String::from_utf8_lossy(&bytes))
    };
    let params = Params { query, form };
    let mut server = lock(&shared);
    let result =
        authenticate(&mut server, perm, &parts.headers, &params).and_then(|(session, token)| {
            let call = Call {
                params,
                session,
                token,
            };
            op(&mut server, &call)
        });
    drop(server);
    if let Err(e) = &result {
        tracing::debug!(path = %parts.uri.path(), error = e.message(), "technitium api error");
    }
    render(result)
}

/// Finds the session for the request's token and checks the permission.
fn authenticate(
    server: &mut Server,
    perm: Perm,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(Option<Session>, Option<String>), ApiError> {
    let in_query = params.query_has("token").map(str::to_string);
    if in_query.is_some() {
        server.token_in_query += 1;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    let token = match bearer {
        // Servers before 15.0 do not read the header at all.
        Some(t) if server.bearer_supported => {
            server.token_in_header += 1;
            Some(t)
        }
        _ => match in_query {
            Some(t) => Some(t),
            None => params.form_has("token").map(|t| {
                server.token_in_form += 1;
                t.to_string()
            }),
        },
    };
    if perm == Perm::None {
        return Ok((None, token));
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::InvalidToken(
            "Invalid token or session expired.".into(),
        ));
    };
    let Some(session) = server.sessions.get(&token).cloned() else {
        return Err(ApiError::InvalidToken(
            "Invalid token or session expired.".into(),
        ));
    };
    let has = |l: Level| match l {
        Level::None => true,
        View => session.role.view,
        Modify => session.role.modify,
        Delete => session.role.delete,
    };
    let allowed = match perm {
        Perm::None | Perm::Session => true,
        Perm::Zones { section, zone } => has(section) && has(zone),
    };
    if !allowed {
        return Err(ApiError::error("Access was denied."));
    }
    Ok((Some(session), Some(token)))
}

/// The JSON envelope, always HTTP 200.
pub(crate) fn envelope(result: Result<Reply, ApiError>) -> Value {
    let mut m = Map::new();
    match result {
        Ok(Reply::Response(v)) => {
            m.insert("response".into(), v);
            m.insert("server".into(), json!(SERVER_DOMAIN));
            m.insert("status".into(), json!("ok"));
        }
        Ok(Reply::Flat(fields)) => {
            m.extend(fields);
            m.insert("server".into(), json!(SERVER_DOMAIN));
            m.insert("status".into(), json!("ok"));
        }
        Ok(Reply::Empty) => {
            m.insert("server".into(), json!(SERVER_DOMAIN));
            m.insert("status".into(), json!("ok"));
        }
        Err(e) => {
            let status = match e {
                ApiError::Error(_) => "error",
                ApiError::InvalidToken(_) => "invalid-token",
            };
            m.insert("server".into(), json!(SERVER_DOMAIN));
            m.insert("status".into(), json!(status));
            m.insert("errorMessage".into(), json!(e.message()));
            if status == "error" {
                m.insert(
                    "stackTrace".into(),
                    json!("   at DnsServerCore.Simulator (labforge homelab-sim)"),
                );
            }
        }
    }
    Value::Object(m)
}

fn render(result: Result<Reply, ApiError>) -> Response {
    let body = envelope(result).to_string();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Body of an injected HTTP fault: a plain-text page, as a reverse proxy in
/// front of the server would answer.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::from(format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    )));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

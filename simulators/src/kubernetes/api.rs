//! HTTP glue of the Kubernetes simulator: bearer-token authentication,
//! RBAC by verb, discovery, the namespaced object routes, and `Status`
//! bodies for every failure.
//!
//! From the Kubernetes API reference ("API Concepts", "Server-Side Apply",
//! "Authenticating", "Using RBAC Authorization"): an unknown or missing
//! token is 401 `Unauthorized`; a user without the verb is 403 `Forbidden`
//! (`User "x" cannot <verb> resource "<plural>" in API group "<group>" in
//! the namespace "<ns>"`); an unserved resource is 404 with the message
//! `the server could not find the requested resource` and empty details;
//! `PATCH` takes `application/apply-patch+yaml` (needs `fieldManager`, 422
//! otherwise) or `application/merge-patch+json` (`force` is refused for
//! it); `application/strategic-merge-patch+json` is 415 for custom
//! resources. This simulator reads apply bodies as JSON (valid YAML); a
//! YAML-only body is refused with 400.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::state::{Access, K8s, KErr, not_found};
use crate::common::lock;
use crate::common::text::decode_form;

pub(crate) type Shared = Arc<Mutex<K8s>>;

/// The user of the connection's client certificate (HTTPS port), if any.
#[derive(Debug, Clone)]
pub(crate) struct CertUser(pub(crate) Option<(Access, String)>);

pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .fallback(
            |State(s): State<Shared>,
             method: Method,
             uri: Uri,
             cert: Option<axum::Extension<CertUser>>,
             headers: HeaderMap,
             RawQuery(q): RawQuery,
             body: Bytes| async move {
                let cert = cert.and_then(|c| c.0.0);
                let r = handle(&s, cert, &method, uri.path(), &headers, q.as_deref(), &body);
                match r {
                    Ok((code, v, warnings)) => {
                        let mut resp = reply(code, &v);
                        for w in warnings {
                            if let Ok(h) = format!("299 - \"unknown field \\\"{w}\\\"\"").parse() {
                                resp.headers_mut().append(header::WARNING, h);
                            }
                        }
                        resp
                    }
                    Err(e) => reply(e.code, &e.status()),
                }
            },
        )
        .with_state(shared)
}

fn reply(code: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(h) = "application/json".parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, h);
    }
    r
}

/// Injected faults get the apiserver's Status body.
pub(crate) fn fault_response(code: StatusCode) -> Response {
    let (reason, msg) = match code.as_u16() {
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        _ => (
            "InternalError",
            "an error on the server (\"\") has prevented the request from succeeding",
        ),
    };
    reply(
        code.as_u16(),
        &KErr::new(code.as_u16(), reason, msg).status(),
    )
}

fn token_access(s: &K8s, headers: &HeaderMap) -> Option<(Access, String)> {
    let t = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim()
        .to_string();
    s.tokens.get(&t).cloned()
}

type Answer = Result<(u16, Value, Vec<String>), KErr>;

fn handle(
    shared: &Shared,
    cert: Option<(Access, String)>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Answer {
    let mut s = lock(shared);
    // A bearer token, else the client certificate's user.
    let Some((access, user)) = token_access(&s, headers).or(cert) else {
        return Err(KErr::new(401, "Unauthorized", "Unauthorized"));
    };
    let q = decode_form(query.unwrap_or(""));
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let unserved = || {
        KErr::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .details(json!({}))
    };
    match segs.as_slice() {
        ["apis"] if method == Method::GET => {
            let mut groups = Vec::new();
            if s.crds_installed {
                let versions: Vec<Value> = ["v1beta2", "v1beta1"]
                    .iter()
                    .map(|v| json!({"groupVersion": format!("metallb.io/{v}"), "version": v}))
                    .collect();
                groups.push(json!({"name": "metallb.io", "versions": versions,
                    "preferredVersion": {"groupVersion": "metallb.io/v1beta2", "version": "v1beta2"}}));
            }
            Ok((
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
                vec![],
            ))
        }
        ["apis", group, version] if method == Method::GET => {
            let resources: Vec<Value> = if s.crds_installed {
                s.crds
                    .iter()
                    .filter(|c| c.group == *group && c.versions.iter().any(|(v, _)| v == version))
                    .map(|c| json!({"name": c.plural, "singularName": c.kind.to_ascii_lowercase(),
                        "namespaced": true, "kind": c.kind,
                        "verbs": ["delete","deletecollection","get","list","patch","create","update","watch"]}))
                    .collect()
            } else {
                Vec::new()
            };
            if resources.is_empty() {
                return Err(unserved());
            }
            Ok((
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": format!("{group}/{version}"), "resources": resources}),
                vec![],
            ))
        }
        ["apis", group, version, "namespaces", ns, plural, rest @ ..] if rest.len() <= 1 => {
            let Some((crd, schema)) = s.served(group, version, plural) else {
                return Err(unserved());
            };
            let name = rest.first().map(|n| n.to_string());
            let verb = match (method.as_str(), &name) {
                ("GET", Some(_)) => "get",
                ("GET", None) => "list",
                ("PATCH", Some(_)) => "patch",
                ("DELETE", Some(_)) => "delete",
                ("PUT", Some(_)) => "update",
                ("POST", None) => "create",
                _ => {
                    return Err(KErr::new(
                        405,
                        "MethodNotAllowed",
                        "the server does not allow this method on the requested resource",
                    ));
                }
            };
            let allowed = match access {
                Access::Admin => true,
                Access::ReadOnly => matches!(verb, "get" | "list"),
                Access::None => false,
            };
            if !allowed {
                let what = match &name {
                    Some(n) => format!("{}.{} \"{n}\" is forbidden", crd.plural, crd.group),
                    None => format!("{}.{} is forbidden", crd.plural, crd.group),
                };
                return Err(KErr::new(
                    403,
                    "Forbidden",
                    format!("{what}: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" in the namespace \"{ns}\"", crd.plural, crd.group),
                )
                .details(json!({"name": name, "group": crd.group, "kind": crd.plural})));
            }
            match (verb, name) {
                ("get", Some(n)) => {
                    let key = (crd.plural.clone(), ns.to_string(), n.clone());
                    s.render(&key, &schema)
                        .map(|v| (200, v, vec![]))
                        .ok_or_else(|| not_found(&crd, &n))
                }
                ("list", None) => {
                    let keys: Vec<_> = s
                        .objects
                        .keys()
                        .filter(|(p, n, _)| p == &crd.plural && n == ns)
                        .cloned()
                        .collect();
                    let items: Vec<Value> =
                        keys.iter().filter_map(|k| s.render(k, &schema)).collect();
                    Ok((
                        200,
                        json!({"apiVersion": format!("{group}/{version}"),
                        "kind": format!("{}List", crd.kind), "metadata": {"resourceVersion": s.next_rv.to_string()},
                        "items": items}),
                        vec![],
                    ))
                }
                ("delete", Some(n)) => s.delete(&crd, &schema, ns, &n).map(|v| (200, v, vec![])),
                ("patch", Some(n)) => {
                    let ct = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    let force = param("force").is_some_and(|f| f == "true");
                    let manager = param("fieldManager");
                    let apply = match ct.as_str() {
                        "application/apply-patch+yaml" => true,
                        "application/merge-patch+json" => false,
                        "application/json-patch+json"
                        | "application/strategic-merge-patch+json" => {
                            return Err(KErr::new(
                                415,
                                "UnsupportedMediaType",
                                format!(
                                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct})"
                                ),
                            ));
                        }
                        _ => {
                            return Err(KErr::new(
                                415,
                                "UnsupportedMediaType",
                                format!(
                                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"
                                ),
                            ));
                        }
                    };
                    if apply && manager.as_deref().unwrap_or("").is_empty() {
                        return Err(KErr::new(
                            422,
                            "Invalid",
                            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                        ));
                    }
                    if !apply && force {
                        return Err(KErr::new(
                            422,
                            "Invalid",
                            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
                        ));
                    }
                    let v: Value = serde_json::from_slice(body).map_err(|e| {
                        KErr::new(400, "BadRequest", format!("error decoding patch: {e} (this simulator reads JSON apply bodies only)"))
                    })?;
                    let manager = manager.unwrap_or_else(|| "unknown".into());
                    let before = s.pruned.len();
                    let (out, created) = if apply {
                        s.write(&crd, version, &schema, ns, &n, v, &manager, force, false)?
                    } else {
                        let key = (crd.plural.clone(), ns.to_string(), n.clone());
                        let Some(cur) = s.objects.get(&key).cloned() else {
                            return Err(not_found(&crd, &n));
                        };
                        let mut spec = cur.spec.clone();
                        merge(&mut spec, v.get("spec").cloned().unwrap_or(Value::Null));
                        s.write(
                            &crd,
                            version,
                            &schema,
                            ns,
                            &n,
                            json!({"spec": spec}),
                            &manager,
                            false,
                            true,
                        )?
                    };
                    let warnings: Vec<String> = s.pruned[before..]
                        .iter()
                        .filter_map(|p| p.split_once(": ").map(|x| x.1.to_string()))
                        .collect();
                    Ok((if created { 201 } else { 200 }, out, warnings))
                }
                _ => Err(KErr::new(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )),
            }
        }
        _ => Err(unserved()),
    }
}

/// JSON merge patch (RFC 7386).
fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

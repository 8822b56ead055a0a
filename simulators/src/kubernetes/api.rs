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
        // Every namespace's objects of a kind (kubectl get -A).
        ["apis", group, version, plural] if method == Method::GET => {
            let Some((crd, schema)) = s.served(group, version, plural) else {
                return Err(unserved());
            };
            if !matches!(access, Access::Admin | Access::ReadOnly) {
                return Err(KErr::new(
                    403,
                    "Forbidden",
                    format!("{}.{} is forbidden: User \"{user}\" cannot list resource \"{}\" in API group \"{}\" at the cluster scope", crd.plural, crd.group, crd.plural, crd.group),
                )
                .details(json!({"group": crd.group, "kind": crd.plural})));
            }
            list(&s, &crd, &schema, version, None, &param)
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
                ("list", None) => list(&s, &crd, &schema, version, Some(ns), &param),
                ("create", None) => {
                    let manager = param("fieldManager")
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| user_agent_manager(headers));
                    create(&mut s, &crd, version, &schema, ns, body, &manager)
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

/// A list of a kind's objects in `ns` (`None`: every namespace), in
/// (namespace, name) order, as the apiserver pages it ("API Concepts",
/// "Retrieving large results sets in chunks"): `limit=N` returns at most
/// N items and, when more remain, an opaque `metadata.continue` token and
/// `metadata.remainingItemCount`; the next request passes `continue=` with
/// the same query. A token this server did not give is 400 `BadRequest`.
fn list(
    s: &K8s,
    crd: &super::schema::Crd,
    schema: &Value,
    version: &str,
    ns: Option<&str>,
    param: &dyn Fn(&str) -> Option<String>,
) -> Answer {
    let mut keys: Vec<_> = s
        .objects
        .keys()
        .filter(|(p, n, _)| p == &crd.plural && ns.is_none_or(|ns| n == ns))
        .cloned()
        .collect();
    keys.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    if let Some(token) = param("continue").filter(|t| !t.is_empty()) {
        let Some((after_ns, after_name)) = decode_continue(&token) else {
            return Err(KErr::new(
                400,
                "BadRequest",
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ));
        };
        keys.retain(|k| (k.1.as_str(), k.2.as_str()) > (after_ns.as_str(), after_name.as_str()));
    }
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let mut meta = json!({"resourceVersion": s.next_rv.to_string()});
    if let Some(limit) = limit
        && keys.len() > limit
    {
        let remaining = keys.len() - limit;
        keys.truncate(limit);
        if let Some(last) = keys.last() {
            meta["continue"] = json!(encode_continue(&last.1, &last.2));
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    let items: Vec<Value> = keys.iter().filter_map(|k| s.render(k, schema)).collect();
    Ok((
        200,
        json!({"apiVersion": format!("{}/{version}", crd.group),
            "kind": format!("{}List", crd.kind), "metadata": meta, "items": items}),
        vec![],
    ))
}

/// An opaque continue token: the last (namespace, name) given, in hex.
fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(String, String)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (ns, name) = text.split_once('/')?;
    Some((ns.to_string(), name.to_string()))
}

/// The field manager of a write that names none: the user agent up to its
/// first `/` (apiserver `managedfields` `prefixFromUserAgent`), else `unknown`.
fn user_agent_manager(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// `POST` of a new object (kubectl create): the body's `apiVersion`,
/// `kind`, `metadata.name` and namespace are checked as the apiserver does,
/// an existing name is 409 `AlreadyExists`, and the object is written as an
/// update by `manager` (it owns every field it set; `operation: Update`).
fn create(
    s: &mut K8s,
    crd: &super::schema::Crd,
    version: &str,
    schema: &Value,
    ns: &str,
    body: &[u8],
    manager: &str,
) -> Answer {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        KErr::new(
            400,
            "BadRequest",
            format!("the object provided is unrecognized: {e}"),
        )
    })?;
    let want = format!("{}/{version}", crd.group);
    if v.get("apiVersion").and_then(Value::as_str) != Some(want.as_str())
        || v.get("kind").and_then(Value::as_str) != Some(crd.kind.as_str())
    {
        return Err(KErr::new(
            400,
            "BadRequest",
            format!(
                "the API version in the data ({}) does not match the expected API version ({want})",
                v.get("apiVersion").and_then(Value::as_str).unwrap_or("")
            ),
        ));
    }
    let Some(name) = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
    else {
        return Err(KErr::new(
            422,
            "Invalid",
            format!(
                "{}.{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                crd.kind, crd.group
            ),
        ));
    };
    if v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .is_some_and(|n| n != ns)
    {
        return Err(KErr::new(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if s.objects
        .contains_key(&(crd.plural.clone(), ns.to_string(), name.clone()))
    {
        return Err(KErr::new(
            409,
            "AlreadyExists",
            format!("{}.{} \"{name}\" already exists", crd.plural, crd.group),
        )
        .details(json!({"name": name, "group": crd.group, "kind": crd.plural})));
    }
    let (out, _) = s.write(crd, version, schema, ns, &name, v, manager, false, true)?;
    Ok((201, out, vec![]))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sim() -> Shared {
        let mut k = K8s::new();
        k.tokens
            .insert("admin".into(), (Access::Admin, "admin".into()));
        k.tokens
            .insert("reader".into(), (Access::ReadOnly, "reader".into()));
        Arc::new(Mutex::new(k))
    }

    fn call(
        s: &Shared,
        token: &str,
        method: Method,
        path: &str,
        query: &str,
        body: Value,
    ) -> Answer {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h.insert(header::USER_AGENT, "seed-script/1.0".parse().unwrap());
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        handle(s, None, &method, path, &h, Some(query), &body)
    }

    const POOLS: &str = "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools";

    fn pool(name: &str, addr: &str, meta: Value) -> Value {
        let mut m = json!({"name": name});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), meta.as_object()) {
            m.extend(extra.clone());
        }
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": m, "spec": {"addresses": [addr]}})
    }

    #[test]
    fn create_keeps_metadata_and_refuses_duplicates_and_readers() {
        let s = sim();
        let labels = json!({"labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "metallb"}});
        let (code, v, _) = call(
            &s,
            "admin",
            Method::POST,
            POOLS,
            "fieldManager=kubectl-create",
            pool("a", "10.0.0.0/28", labels),
        )
        .unwrap();
        assert_eq!(code, 201);
        assert_eq!(
            v["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "Helm"
        );
        assert_eq!(
            v["metadata"]["managedFields"][0]["manager"],
            "kubectl-create"
        );
        assert_eq!(v["metadata"]["managedFields"][0]["operation"], "Update");
        // Read back with GET: the metadata is kept.
        let (_, v, _) = call(
            &s,
            "reader",
            Method::GET,
            &format!("{POOLS}/a"),
            "",
            Value::Null,
        )
        .unwrap();
        assert_eq!(
            v["metadata"]["annotations"]["meta.helm.sh/release-name"],
            "metallb"
        );
        let e = call(
            &s,
            "admin",
            Method::POST,
            POOLS,
            "",
            pool("a", "10.0.1.0/28", json!({})),
        )
        .unwrap_err();
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        let e = call(
            &s,
            "reader",
            Method::POST,
            POOLS,
            "",
            pool("b", "10.0.1.0/28", json!({})),
        )
        .unwrap_err();
        assert_eq!(e.code, 403);
        // Without fieldManager: the user agent's product names the manager.
        let (_, v, _) = call(
            &s,
            "admin",
            Method::POST,
            POOLS,
            "",
            pool("b", "10.0.1.0/28", json!({})),
        )
        .unwrap();
        assert_eq!(v["metadata"]["managedFields"][0]["manager"], "seed-script");
        assert!(v["metadata"].get("labels").is_none());
    }

    #[test]
    fn lists_page_with_continue_tokens_across_namespaces() {
        let s = sim();
        for (i, n) in ["c", "a", "d", "b", "e"].iter().enumerate() {
            call(
                &s,
                "admin",
                Method::POST,
                POOLS,
                "",
                pool(n, &format!("10.0.{i}.0/28"), json!({})),
            )
            .unwrap();
        }
        let mut names = Vec::new();
        let mut query = "limit=2".to_string();
        let mut pages = 0;
        loop {
            let (_, v, _) = call(
                &s,
                "reader",
                Method::GET,
                "/apis/metallb.io/v1beta1/ipaddresspools",
                &query,
                Value::Null,
            )
            .unwrap();
            pages += 1;
            names.extend(
                v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["metadata"]["name"].as_str().unwrap().to_string()),
            );
            match v["metadata"]["continue"].as_str() {
                Some(c) => {
                    assert!(v["metadata"]["remainingItemCount"].as_u64().unwrap() > 0);
                    query = format!("limit=2&continue={c}");
                }
                None => break,
            }
        }
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(pages, 3);
        // Namespaced list, no limit: everything at once.
        let (_, v, _) = call(&s, "reader", Method::GET, POOLS, "", Value::Null).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 5);
        assert!(v["metadata"].get("continue").is_none());
        let e = call(&s, "reader", Method::GET, POOLS, "continue=zz", Value::Null).unwrap_err();
        assert_eq!(e.code, 400);
        let e = call(
            &s,
            "nobody",
            Method::GET,
            "/apis/metallb.io/v1beta1/ipaddresspools",
            "",
            Value::Null,
        )
        .unwrap_err();
        assert_eq!(e.code, 401);
    }
}

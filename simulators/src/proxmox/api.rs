//! HTTP layer of the Proxmox VE simulator: `/api2/json` routes, token and
//! ticket authentication, schema validation, the `{"data": ...}` envelope,
//! and the handlers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde_json::{Value, json};

use super::schema;
use super::state::{
    self, AgentMode, Cluster, GIB, Ghost, Privs, Shared, Task, Vm, flock, is_disk_key,
    render_config, render_pending, unix_now,
};
use crate::common::lock;
use crate::common::text::decode_form;

const BODY_LIMIT: usize = 8 * 1024 * 1024;
pub(crate) const BASE: &str = "/api2/json";

/// An API failure.
#[derive(Debug, Clone)]
pub(crate) struct ApiErr {
    status: u16,
    msg: String,
    errors: Option<BTreeMap<String, String>>,
}

impl ApiErr {
    pub(crate) fn new(status: u16, msg: impl Into<String>) -> Self {
        Self {
            status,
            msg: msg.into(),
            errors: None,
        }
    }

    /// A plain `die`: HTTP 500 with the message.
    pub(crate) fn die(msg: impl Into<String>) -> Self {
        Self::new(500, msg)
    }

    fn params(errors: BTreeMap<String, String>) -> Self {
        Self {
            status: 400,
            msg: "Parameter verification failed.".into(),
            errors: Some(errors),
        }
    }

    fn param(name: &str, msg: impl Into<String>) -> Self {
        Self::params(BTreeMap::from([(name.to_string(), msg.into())]))
    }

    fn perm(path: &str, privs: &[&str]) -> Self {
        Self::new(
            403,
            format!("Permission check failed ({path}, {})", privs.join("|")),
        )
    }
}

impl From<String> for ApiErr {
    fn from(s: String) -> Self {
        ApiErr::die(s)
    }
}

/// A successful answer.
pub(crate) struct Reply {
    data: Value,
    total: Option<usize>,
}

fn data(v: Value) -> Result<Reply, ApiErr> {
    Ok(Reply {
        data: v,
        total: None,
    })
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// `root@pam` or `user@realm!tokenid`.
    user: String,
    is_root: bool,
    is_token: bool,
    privs: Privs,
}

impl Identity {
    fn check(&self, path: &str, privs: &[&str]) -> Result<(), ApiErr> {
        if privs.iter().any(|p| self.privs.has(p)) {
            Ok(())
        } else {
            Err(ApiErr::perm(path, privs))
        }
    }

    fn can(&self, p: &str) -> bool {
        self.privs.has(p)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Version,
    Nodes,
    Ticket,
    Resources,
    NextId,
    QemuList,
    QemuCreate,
    QemuDelete,
    ConfigGet,
    ConfigPost,
    ConfigPut,
    Pending,
    Clone,
    Template,
    StatusCurrent,
    Start,
    Stop,
    Shutdown,
    Reboot,
    Resize,
    AgentNet,
    TaskStatus,
    TaskLog,
    StorageList,
    StorageContent,
    DownloadUrl,
    ContentDelete,
    MoveDisk,
    PoolList,
    PoolCreate,
    PoolUpdate,
    PoolDelete,
    PoolGet,
}

const ROUTES: &[(&str, &str, Op)] = &[
    ("GET", "/version", Op::Version),
    ("GET", "/nodes", Op::Nodes),
    ("POST", "/access/ticket", Op::Ticket),
    ("GET", "/cluster/resources", Op::Resources),
    ("GET", "/cluster/nextid", Op::NextId),
    ("GET", "/nodes/{node}/qemu", Op::QemuList),
    ("POST", "/nodes/{node}/qemu", Op::QemuCreate),
    ("DELETE", "/nodes/{node}/qemu/{vmid}", Op::QemuDelete),
    ("GET", "/nodes/{node}/qemu/{vmid}/config", Op::ConfigGet),
    ("POST", "/nodes/{node}/qemu/{vmid}/config", Op::ConfigPost),
    ("PUT", "/nodes/{node}/qemu/{vmid}/config", Op::ConfigPut),
    ("GET", "/nodes/{node}/qemu/{vmid}/pending", Op::Pending),
    ("POST", "/nodes/{node}/qemu/{vmid}/clone", Op::Clone),
    ("POST", "/nodes/{node}/qemu/{vmid}/template", Op::Template),
    (
        "GET",
        "/nodes/{node}/qemu/{vmid}/status/current",
        Op::StatusCurrent,
    ),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start", Op::Start),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop", Op::Stop),
    (
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/shutdown",
        Op::Shutdown,
    ),
    (
        "POST",
        "/nodes/{node}/qemu/{vmid}/status/reboot",
        Op::Reboot,
    ),
    ("PUT", "/nodes/{node}/qemu/{vmid}/resize", Op::Resize),
    (
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
        Op::AgentNet,
    ),
    ("GET", "/nodes/{node}/tasks/{upid}/status", Op::TaskStatus),
    ("GET", "/nodes/{node}/tasks/{upid}/log", Op::TaskLog),
    ("GET", "/nodes/{node}/storage", Op::StorageList),
    (
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        Op::StorageContent,
    ),
    (
        "POST",
        "/nodes/{node}/storage/{storage}/download-url",
        Op::DownloadUrl,
    ),
    (
        "DELETE",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        Op::ContentDelete,
    ),
    ("POST", "/nodes/{node}/qemu/{vmid}/move_disk", Op::MoveDisk),
    ("GET", "/pools", Op::PoolList),
    ("POST", "/pools", Op::PoolCreate),
    ("PUT", "/pools", Op::PoolUpdate),
    ("DELETE", "/pools", Op::PoolDelete),
    // Deprecated in PVE 8.1+ (no nested pools), still served by PVE 9.
    ("GET", "/pools/{poolid}", Op::PoolGet),
    ("PUT", "/pools/{poolid}", Op::PoolUpdate),
    ("DELETE", "/pools/{poolid}", Op::PoolDelete),
];

/// The router: every route under `/api2/json`, 501 for anything else.
pub(crate) fn router(shared: Shared) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter<Shared>> = BTreeMap::new();
    for &(method, route, op) in ROUTES {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            _ => MethodFilter::DELETE,
        };
        let handler = move |State(s): State<Shared>, p: RawPathParams, req: Request| {
            let path_params: Vec<(String, String)> = p
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            handle(s, method, route, op, path_params, req)
        };
        let mr = match by_path.remove(route) {
            Some(mr) => mr.on(filter, handler),
            None => on(filter, handler),
        };
        by_path.insert(route, mr);
    }
    let mut router = Router::new();
    for (route, mr) in by_path {
        router = router.route(&format!("{BASE}{route}"), mr.fallback(not_implemented));
    }
    router.fallback(not_implemented).with_state(shared)
}

async fn not_implemented(req: Request) -> Response {
    let path = req
        .uri()
        .path()
        .strip_prefix(BASE)
        .unwrap_or(req.uri().path())
        .to_string();
    render(Err(ApiErr::new(
        501,
        format!("Method '{} {path}' not implemented", req.method()),
    )))
}

/// Parameters of one call: path, query string, then body.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn bool(&self, k: &str) -> Option<bool> {
        self.get(k).and_then(schema::parse_bool)
    }

    fn int(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(schema::parse_int)
    }

    fn vmid(&self) -> u32 {
        self.int("vmid")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    }
}

/// PVE parses `a=1;b=2` like `a=1&b=2` (CGI): an unencoded `;` splits.
fn parse_pairs(s: &str) -> Vec<(String, String)> {
    decode_form(&s.replace(';', "&"))
}

fn json_body(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiErr> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiErr::new(400, format!("unable to parse JSON body - {e}")))?;
    let Value::Object(m) = v else {
        return Err(ApiErr::new(400, "JSON body must be an object"));
    };
    Ok(m.into_iter()
        .filter_map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null => return None,
                other => other.to_string(),
            };
            Some((k, s))
        })
        .collect())
}

async fn handle(
    shared: Shared,
    method: &'static str,
    route: &'static str,
    op: Op,
    path_params: Vec<(String, String)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return render(Err(ApiErr::new(413, "request entity too large"))),
    };
    let mut pairs = path_params;
    if let Some(q) = parts.uri.query() {
        pairs.extend(parse_pairs(q));
    }
    let ctype = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !bytes.is_empty() {
        if ctype.starts_with("application/json") {
            match json_body(&bytes) {
                Ok(p) => pairs.extend(p),
                Err(e) => return render(Err(e)),
            }
        } else {
            pairs.extend(parse_pairs(&String::from_utf8_lossy(&bytes)));
        }
    }
    let ident = if op == Op::Ticket {
        None
    } else {
        match authenticate(&shared, method, &parts.headers) {
            Ok(i) => Some(i),
            Err(e) => {
                let delay = {
                    let c = lock(&shared);
                    c.settings.scaled(c.settings.unauthorized_delay)
                };
                tokio::time::sleep(delay).await;
                return render(Err(e));
            }
        }
    };
    if let Some(i) = &ident
        && i.is_token
        && !schema::allows_token(method, route)
    {
        return render(Err(ApiErr::new(
            403,
            format!(
                "URI '{}' not available with API token, need proper ticket.",
                parts.uri.path()
            ),
        )));
    }
    if let Err(errors) = schema::validate(method, route, &pairs) {
        return render(Err(ApiErr::params(errors)));
    }
    let params = Params(pairs);
    if let Some(node) = params.get("node")
        && !lock(&shared).nodes.iter().any(|n| n == node)
    {
        return render(Err(ApiErr::die(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        ))));
    }
    let result = match ident {
        None => ticket(&shared, &params).await,
        Some(ident) => dispatch(&shared, op, &ident, &params).await,
    };
    let result = match take_lost_answer(&shared, method, route) {
        Some(status) => {
            tracing::info!(method, route, status, "handled; answer lost");
            Err(ApiErr::new(status, lost_answer_reason(status)))
        }
        None => result,
    };
    if let Err(e) = &result {
        tracing::debug!(method, route, status = e.status, error = %e.msg, "proxmox api error");
    }
    render(result)
}

/// The status of an answer to lose ([`super::ProxmoxSim::lose_answers`]), if one matches.
fn take_lost_answer(shared: &Shared, method: &str, route: &str) -> Option<u16> {
    let mut c = lock(shared);
    let rule = c
        .lost_answers
        .iter_mut()
        .find(|l| l.remaining > 0 && l.method == method && l.route == route)?;
    rule.remaining -= 1;
    Some(rule.status)
}

/// The reason phrase pveproxy puts on a proxied request that broke: AnyEvent::HTTP's
/// pseudo-status texts (596, 599) or the gateway errors.
fn lost_answer_reason(status: u16) -> &'static str {
    match status {
        596 => "Connection timed out",
        599 => "Connection reset by peer",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "error",
    }
}

fn render(result: Result<Reply, ApiErr>) -> Response {
    let (status, body, reason) = match result {
        Ok(r) => {
            let mut b = json!({ "data": r.data });
            if let Some(t) = r.total {
                b["total"] = json!(t);
            }
            (200, b, None)
        }
        Err(e) => {
            let mut b = json!({ "data": null, "message": format!("{}\n", e.msg) });
            if let Some(errs) = &e.errors {
                b["errors"] = json!(errs);
            }
            (e.status, b, Some(e.msg))
        }
    };
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if let Some(reason) = reason {
        set_reason(&mut resp, &reason);
    }
    resp
}

/// Puts the error message in the HTTP status line, as pve-http-server does.
fn set_reason(resp: &mut Response, msg: &str) {
    let clean: String = msg
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii() && (*c == ' ' || *c == '\t' || c.is_ascii_graphic()))
        .collect();
    if let Ok(r) = hyper::ext::ReasonPhrase::try_from(clean.into_bytes()) {
        resp.extensions_mut().insert(r);
    }
}

/// Body of an injected fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    let msg = status.canonical_reason().unwrap_or("error").to_string();
    render(Err(ApiErr::new(status.as_u16(), msg)))
}

// ---------------------------------------------------------------- auth

fn uri_unescape(s: &str) -> String {
    decode_form(&format!("x={}", s.replace('+', "%2B")))
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn authenticate(shared: &Shared, method: &str, headers: &HeaderMap) -> Result<Identity, ApiErr> {
    let c = lock(shared);
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        // (?:^|\s)PVEAPIToken(?:=| )([^;]*)
        let found = auth.match_indices("PVEAPIToken").find_map(|(i, _)| {
            let before_ok = i == 0 || auth[..i].chars().last().is_some_and(char::is_whitespace);
            let rest = &auth[i + "PVEAPIToken".len()..];
            let rest = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' '))?;
            before_ok.then(|| rest.split(';').next().unwrap_or("").to_string())
        });
        if let Some(raw) = found {
            let value = uri_unescape(raw.trim());
            let Some((tokenid, secret)) = value.rsplit_once('=') else {
                return Err(ApiErr::new(401, "authentication failure"));
            };
            let Some(tok) = c.tokens.get(tokenid) else {
                return Err(ApiErr::new(401, "authentication failure"));
            };
            if tok.secret != secret {
                return Err(ApiErr::new(401, "authentication failure"));
            }
            return Ok(Identity {
                user: tokenid.to_string(),
                is_root: false,
                is_token: true,
                privs: tok.privs.clone(),
            });
        }
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == "PVEAuthCookie").then(|| uri_unescape(v))
        });
    let Some(ticket) = cookie else {
        return Err(ApiErr::new(401, "No ticket"));
    };
    let Some(t) = c.tickets.get(&ticket) else {
        return Err(ApiErr::new(401, "invalid ticket"));
    };
    if t.issued.elapsed() > Duration::from_secs(7200) {
        return Err(ApiErr::new(401, "invalid ticket"));
    }
    if method != "GET" {
        let csrf = headers
            .get("CSRFPreventionToken")
            .and_then(|v| v.to_str().ok());
        if csrf != Some(t.csrf.as_str()) {
            return Err(ApiErr::new(401, "Permission denied - invalid csrf token"));
        }
    }
    Ok(Identity {
        user: t.user.clone(),
        is_root: t.user == "root@pam",
        is_token: false,
        privs: Privs::all(),
    })
}

async fn ticket(shared: &Shared, p: &Params) -> Result<Reply, ApiErr> {
    let mut user = p.get("username").unwrap_or("").to_string();
    if !user.contains('@') {
        user = format!("{user}@{}", p.get("realm").unwrap_or("pam"));
    }
    let password = p.get("password").unwrap_or("");
    let ok = {
        let c = lock(shared);
        c.users.get(&user).is_some_and(|pw| pw == password)
    };
    if !ok {
        let delay = {
            let c = lock(shared);
            c.settings.scaled(c.settings.unauthorized_delay)
        };
        tokio::time::sleep(delay).await;
        return Err(ApiErr::new(401, "authentication failure"));
    }
    let mut c = lock(shared);
    let now = unix_now();
    let sig = c.ids.hex(40);
    let ticket = format!("PVE:{user}:{now:08X}::{sig}");
    let csrf = format!("{now:08X}:{}", c.ids.hex(43));
    c.tickets.insert(
        ticket.clone(),
        state::Ticket {
            user: user.clone(),
            csrf: csrf.clone(),
            issued: Instant::now(),
        },
    );
    data(json!({
        "ticket": ticket,
        "CSRFPreventionToken": csrf,
        "username": user,
        "clustername": "labforge",
        "cap": {
            "vms": {"VM.Allocate": 1, "VM.Audit": 1, "VM.Clone": 1, "VM.Config.Disk": 1},
            "storage": {"Datastore.Audit": 1, "Datastore.AllocateSpace": 1},
            "nodes": {"Sys.Audit": 1},
        },
    }))
}

// ---------------------------------------------------------------- dispatch

async fn dispatch(shared: &Shared, op: Op, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    match op {
        Op::Version => {
            data(json!({"version": "9.0.3", "release": "9.0", "repoid": "a1b2c3d4e5f6a7b8"}))
        }
        Op::Nodes => nodes(shared, who),
        Op::Ticket => ticket(shared, p).await,
        Op::Resources => resources(shared, who, p),
        Op::NextId => next_id(shared, p),
        Op::QemuList => qemu_list(shared, who, p),
        Op::QemuCreate => create_vm(shared, who, p),
        Op::QemuDelete => destroy_vm(shared, who, p),
        Op::ConfigGet => {
            let c = lock(shared);
            let vm = vm_of(&c, p)?;
            who.check(&format!("/vms/{}", p.vmid()), &["VM.Audit"])?;
            data(render_config(vm, p.bool("current").unwrap_or(false)))
        }
        Op::Pending => {
            let c = lock(shared);
            let vm = vm_of(&c, p)?;
            who.check(&format!("/vms/{}", p.vmid()), &["VM.Audit"])?;
            data(render_pending(vm))
        }
        Op::ConfigPost => update_config(shared, who, p, true).await,
        Op::ConfigPut => update_config(shared, who, p, false).await,
        Op::Clone => clone_vm(shared, who, p),
        Op::Template => template(shared, who, p),
        Op::StatusCurrent => status_current(shared, who, p),
        Op::Start | Op::Stop | Op::Shutdown | Op::Reboot => power(shared, who, p, op),
        Op::Resize => resize(shared, who, p),
        Op::AgentNet => agent_net(shared, who, p),
        Op::TaskStatus => task_status(shared, who, p),
        Op::TaskLog => task_log(shared, who, p),
        Op::StorageList => storage_list(shared, who, p),
        Op::StorageContent => storage_content(shared, who, p),
        Op::DownloadUrl => download_url(shared, who, p),
        Op::ContentDelete => content_delete(shared, who, p),
        Op::MoveDisk => move_disk(shared, who, p),
        Op::PoolList => pool_list(shared, who, p),
        Op::PoolCreate => pool_create(shared, who, p),
        Op::PoolUpdate => pool_update(shared, who, p),
        Op::PoolDelete => pool_delete(shared, who, p),
        Op::PoolGet => pool_get(shared, who, p),
    }
}

fn vm_of<'a>(c: &'a Cluster, p: &Params) -> Result<&'a Vm, ApiErr> {
    let node = p.get("node").unwrap_or("");
    let vmid = p.vmid();
    match c.vms.get(&vmid) {
        Some(vm) if vm.node == node => Ok(vm),
        _ => Err(ApiErr::die(Cluster::conf_path(node, vmid))),
    }
}

fn nodes(shared: &Shared, _who: &Identity) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let rows: Vec<Value> = c
        .nodes
        .iter()
        .map(|n| {
            json!({
                "node": n, "id": format!("node/{n}"), "type": "node", "status": "online",
                "level": "", "maxcpu": 8, "cpu": 0.02, "maxmem": 32 * GIB, "mem": 4 * GIB,
                "maxdisk": 100 * GIB, "disk": 10 * GIB, "uptime": 86400,
                "ssl_fingerprint": "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
            })
        })
        .collect();
    data(Value::Array(rows))
}

fn resources(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let kind = p.get("type");
    let lag = c.settings.scaled(c.settings.resources_lag);
    let mut rows = Vec::new();
    if kind.is_none() || kind == Some("vm") {
        let mut vms: Vec<(u32, Value)> = c
            .vms
            .iter()
            .filter(|(_, vm)| vm.created.elapsed() >= lag)
            .map(|(id, vm)| (*id, c.resource_row(*id, vm)))
            .collect();
        for g in &c.ghosts {
            if g.deleted.elapsed() < lag && !c.vms.contains_key(&g.vmid) {
                vms.push((g.vmid, g.row.clone()));
            }
        }
        vms.sort_by_key(|(id, _)| *id);
        rows.extend(
            vms.into_iter()
                .filter(|_| who.can("VM.Audit"))
                .map(|(_, r)| r),
        );
    }
    if kind.is_none() || kind == Some("node") {
        for n in &c.nodes {
            rows.push(json!({"id": format!("node/{n}"), "type": "node", "node": n, "status": "online",
                "maxcpu": 8, "maxmem": 32 * GIB, "maxdisk": 100 * GIB, "uptime": 86400, "level": ""}));
        }
    }
    if (kind.is_none() || kind == Some("storage")) && who.can("Datastore.Audit") {
        for n in &c.nodes {
            for s in &c.storages {
                rows.push(
                    json!({"id": format!("storage/{n}/{}", s.id), "type": "storage",
                    "node": n, "storage": s.id, "status": "available", "plugintype": s.stype,
                    "content": sorted_content(&s.content), "shared": if s.shared {1} else {0},
                    "maxdisk": s.total, "disk": 0}),
                );
            }
        }
    }
    data(Value::Array(rows))
}

fn sorted_content(c: &[&str]) -> String {
    let mut v = c.to_vec();
    v.sort();
    v.join(",")
}

fn next_id(shared: &Shared, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    if p.get("vmid").is_some() {
        let id = p.vmid();
        if c.vms.contains_key(&id) {
            return Err(ApiErr::param("vmid", format!("VM {id} already exists")));
        }
        // `return $vmid` hands back the parameter as given: a JSON string.
        return data(json!(id.to_string()));
    }
    data(json!(c.next_free_id()))
}

fn qemu_list(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let node = p.get("node").unwrap_or("");
    let rows: Vec<Value> = c
        .vms
        .iter()
        .filter(|(_, vm)| vm.node == node)
        .filter(|_| who.can("VM.Audit"))
        .map(|(id, vm)| {
            let mut r = json!({
                "vmid": id, "name": vm.display_name(*id),
                "status": if vm.running { "running" } else { "stopped" },
                "cpus": vm.cpus(), "maxmem": vm.memory_mib() * state::MIB,
                "maxdisk": vm.maxdisk(), "mem": 0, "cpu": 0, "disk": 0,
                "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
                "uptime": vm.started.map(|s| s.elapsed().as_secs()).unwrap_or(0),
            });
            if vm.is_template() {
                r["template"] = json!(1);
            }
            if let Some(t) = vm.conf.get("tags") {
                r["tags"] = json!(t);
            }
            if let Some(l) = vm.conf.get("lock") {
                r["lock"] = json!(l);
            }
            if vm.running {
                r["pid"] = json!(10_000 + id);
            }
            r
        })
        .collect();
    data(Value::Array(rows))
}

// ---------------------------------------------------------------- tasks

/// Registers a task; returns its UPID. Fails like `fork_worker` when a
/// worker start failure of `ttype` is pending ([`super::ProxmoxSim::fail_worker_start`]):
/// pve-common `PVE::RESTEnvironment::fork_worker` dies with "got no worker
/// upid - start worker failed" when the forked child reports nothing, after
/// whatever the handler did before forking (create_vm has written the
/// `lock: create` config by then).
fn new_task(
    c: &mut Cluster,
    node: &str,
    ttype: &str,
    id: &str,
    user: &str,
) -> Result<String, ApiErr> {
    if let Some(n) = c.worker_failures.get_mut(ttype)
        && *n > 0
    {
        *n -= 1;
        return Err(ApiErr::die("got no worker upid - start worker failed"));
    }
    c.next_pid += 7;
    let pid = c.next_pid;
    let pstart = 0x0100_0000u32.wrapping_add(pid.wrapping_mul(13));
    let starttime = unix_now();
    let upid = format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{ttype}:{id}:{user}:");
    c.tasks.insert(
        upid.clone(),
        Task {
            node: node.to_string(),
            ttype: ttype.to_string(),
            id: id.to_string(),
            user: user.to_string(),
            pid,
            pstart,
            starttime,
            created: Instant::now(),
            exit: None,
            log: Vec::new(),
        },
    );
    c.running_tasks += 1;
    c.max_running_tasks = c.max_running_tasks.max(c.running_tasks);
    Ok(upid)
}

fn finish_task(shared: &Shared, upid: &str, result: Result<Vec<String>, String>) {
    let mut c = lock(shared);
    c.running_tasks = c.running_tasks.saturating_sub(1);
    if let Some(t) = c.tasks.get_mut(upid) {
        match result {
            Ok(lines) => {
                t.log.extend(lines);
                t.log.push("TASK OK".into());
                t.exit = Some("OK".into());
            }
            Err(e) => {
                t.log.push(e.clone());
                t.log.push(format!("TASK ERROR: {e}"));
                t.exit = Some(e);
            }
        }
    }
}

/// Starts a worker: `work` runs after nothing else; it sleeps on its own.
fn spawn_worker<F>(shared: &Shared, upid: String, work: F)
where
    F: std::future::Future<Output = Result<Vec<String>, String>> + Send + 'static,
{
    let s = shared.clone();
    tokio::spawn(async move {
        let r = work.await;
        finish_task(&s, &upid, r);
    });
}

fn task_duration(shared: &Shared, ttype: &str) -> Duration {
    lock(shared).settings.task_duration(ttype)
}

fn find_task(c: &Cluster, p: &Params) -> Result<Task, ApiErr> {
    let upid = p.get("upid").unwrap_or("");
    if !upid.starts_with("UPID:") || upid.split(':').count() < 9 {
        return Err(ApiErr::param("upid", "unable to parse worker upid"));
    }
    match c.tasks.get(upid) {
        Some(t) if t.created.elapsed() >= c.settings.scaled(c.settings.task_grace) => Ok(t.clone()),
        _ => Err(ApiErr::param("upid", "no such task")),
    }
}

fn check_task_owner(who: &Identity, t: &Task) -> Result<(), ApiErr> {
    let owner = t.user == who.user || t.user.split('!').next() == Some(who.user.as_str());
    if owner {
        Ok(())
    } else {
        who.check(&format!("/nodes/{}", t.node), &["Sys.Audit"])
    }
}

fn task_status(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let t = find_task(&c, p)?;
    check_task_owner(who, &t)?;
    let mut v = json!({
        "upid": p.get("upid"), "node": t.node, "pid": t.pid, "pstart": t.pstart,
        "starttime": t.starttime, "type": t.ttype, "id": t.id, "user": t.user,
        "status": if t.exit.is_some() { "stopped" } else { "running" },
    });
    if let Some(e) = &t.exit {
        v["exitstatus"] = json!(e);
    }
    data(v)
}

fn task_log(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let t = find_task(&c, p)?;
    check_task_owner(who, &t)?;
    let start = p.int("start").unwrap_or(0).max(0) as usize;
    let limit = p.int("limit").unwrap_or(50).max(0) as usize;
    let mut lines = vec![format!("starting task {}", p.get("upid").unwrap_or(""))];
    lines.extend(t.log.iter().cloned());
    let total = lines.len();
    let rows: Vec<Value> = lines
        .into_iter()
        .enumerate()
        .skip(start)
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|(i, l)| json!({"n": i + 1, "t": l}))
        .collect();
    Ok(Reply {
        data: Value::Array(rows),
        total: Some(total),
    })
}

// ---------------------------------------------------------------- config

/// Parameters of config calls that are not config keys.
const CONFIG_META: &[&str] = &[
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "force",
    "background_delay",
    "pool",
    "storage",
    "start",
    "unique",
    "archive",
    "bwlimit",
    "live-restore",
    "ha-managed",
    "import-working-storage",
];

const ROOT_ONLY: &[&str] = &[
    "args",
    "arch",
    "affinity",
    "hookscript",
    "hugepages",
    "keephugepages",
    "ivshmem",
    "amd-sev",
    "intel-tdx",
    "lock",
];

/// The privilege a config key needs (`$check_vm_modify_config_perm`).
fn key_privs(key: &str, value: Option<&str>) -> Option<&'static [&'static str]> {
    let (prefix, _) = schema::split_indexed(key).unwrap_or((key, 0));
    Some(match (key, prefix) {
        (_, "hostpci" | "virtiofs") => return None,
        (k, _) if ROOT_ONLY.contains(&k) => return None,
        ("cpu" | "cores" | "sockets" | "vcpus" | "cpulimit" | "cpuunits" | "numa" | "smp", _) => {
            &["VM.Config.CPU"]
        }
        ("memory" | "balloon" | "shares" | "allow-ksm", _) => &["VM.Config.Memory"],
        (
            "acpi" | "hotplug" | "kvm" | "machine" | "scsihw" | "smbios1" | "tablet" | "vga"
            | "watchdog" | "audio0" | "rng0" | "keyboard" | "localtime" | "tdf"
            | "spice_enhancements",
            _,
        )
        | (_, "numa" | "serial" | "parallel" | "usb") => &["VM.Config.HWType"],
        ("boot" | "bootdisk" | "efidisk0" | "tpmstate0", _) | (_, "unused") => &["VM.Config.Disk"],
        (_, "net") => &["VM.Config.Network"],
        (_, "ipconfig") => &["VM.Config.Cloudinit", "VM.Config.Network"],
        (
            "cicustom" | "cipassword" | "citype" | "ciupgrade" | "ciuser" | "nameserver"
            | "searchdomain" | "sshkeys",
            _,
        ) => &["VM.Config.Cloudinit"],
        (k, _) if is_disk_key(k) => {
            if value.is_some_and(|v| v.contains("media=cdrom") && !v.contains("cloudinit")) {
                &["VM.Config.CDROM"]
            } else {
                &["VM.Config.Disk"]
            }
        }
        _ => &["VM.Config.Options"],
    })
}

fn check_config_perms(
    who: &Identity,
    vmid: u32,
    sets: &[(String, String)],
    deletes: &[String],
) -> Result<(), ApiErr> {
    let path = format!("/vms/{vmid}");
    let all = sets
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str())))
        .chain(deletes.iter().map(|k| (k.as_str(), None)));
    for (k, v) in all {
        match key_privs(k, v) {
            None => {
                if !who.is_root {
                    return Err(ApiErr::die(format!("only root can set '{k}' config")));
                }
            }
            Some(privs) => who.check(&path, privs)?,
        }
        if let Some(v) = v
            && is_disk_key(k)
            && let Some((storage, _)) = state::drive_file(v).split_once(':')
        {
            who.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"])?;
        }
    }
    Ok(())
}

/// Splits the config keys to set from the `delete` list.
fn config_changes(p: &Params) -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    let sets =
        p.0.iter()
            .filter(|(k, _)| !CONFIG_META.contains(&k.as_str()))
            .filter(|(k, _)| seen.insert(k.clone()))
            .cloned()
            .collect();
    let list = |name: &str| -> Vec<String> {
        p.get(name)
            .map(|d| {
                d.split([',', ';', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    (sets, list("delete"), list("revert"))
}

/// Normalises one value for storage (booleans/integers canonical, tags
/// sorted, NIC MACs generated, disks allocated).
fn normalize(
    c: &mut Cluster,
    vmid: u32,
    key: &str,
    value: &str,
    siblings: &[String],
) -> Result<String, String> {
    match schema::config_key_type(key) {
        "boolean" => {
            return Ok(match schema::parse_bool(value) {
                Some(true) => "1".into(),
                Some(false) => "0".into(),
                None => value.into(),
            });
        }
        "integer" => {
            return Ok(schema::parse_int(value)
                .map(|i| i.to_string())
                .unwrap_or_else(|| value.into()));
        }
        _ => {}
    }
    if key == "tags" {
        return Ok(state::normalize_tags(value));
    }
    if schema::split_indexed(key).is_some_and(|(p, _)| p == "net") {
        return Ok(c.normalize_net(value));
    }
    if is_disk_key(key) {
        // An unchanged volume with new options keeps its volume id.
        let current = c
            .vms
            .get(&vmid)
            .and_then(|vm| vm.pending.get(key).or(vm.conf.get(key)))
            .map(|v| state::drive_file(v));
        let file = state::drive_file(value);
        if current.as_deref() == Some(file.as_str()) {
            let mut opts = state::drive_opts(value);
            if let Some(size) = c
                .vms
                .get(&vmid)
                .and_then(|vm| vm.conf.get(key))
                .and_then(|v| state::drive_opt(v, "size"))
                && !opts.iter().any(|(k, _)| k == "size")
            {
                opts.push(("size".into(), size));
            }
            return Ok(state::render_drive(&file, &opts));
        }
        return c.allocate_drive(vmid, key, value, siblings);
    }
    Ok(value.to_string())
}

/// Applies sets/deletes/reverts to a VM (hotplug or pending).
fn apply_changes(
    c: &mut Cluster,
    vmid: u32,
    sets: &[(String, String)],
    deletes: &[String],
    reverts: &[String],
) -> Result<(), String> {
    let running = c.vms.get(&vmid).is_some_and(|v| v.running);
    let mut normalized = Vec::new();
    let mut siblings: Vec<String> = Vec::new();
    for (k, v) in sets {
        let n = normalize(c, vmid, k, v, &siblings)?;
        siblings.push(n.clone());
        normalized.push((k.clone(), n));
    }
    let Some(vm) = c.vms.get_mut(&vmid) else {
        return Err(format!("VM {vmid} does not exist"));
    };
    for k in reverts {
        vm.pending.remove(k);
        vm.pending_delete.remove(k);
    }
    for (k, v) in normalized {
        if running && !hotpluggable_now(&k) {
            vm.pending.insert(k.clone(), v);
            vm.pending_delete.remove(&k);
        } else {
            vm.conf.insert(k.clone(), v);
            vm.pending.remove(&k);
            vm.pending_delete.remove(&k);
        }
    }
    for k in deletes {
        let is_ci = k.starts_with("ci")
            || k.starts_with("ipconfig")
            || matches!(k.as_str(), "sshkeys" | "nameserver" | "searchdomain");
        if running && !hotpluggable_now(k) && !is_ci {
            if vm.conf.contains_key(k) {
                vm.pending_delete.insert(k.clone());
            }
            vm.pending.remove(k);
            continue;
        }
        vm.pending.remove(k);
        vm.pending_delete.remove(k);
        if let Some(old) = vm.conf.remove(k)
            && is_disk_key(k)
            && !old.contains("media=cdrom")
            && old.contains(':')
        {
            let n = (0..256)
                .find(|n| !vm.conf.contains_key(&format!("unused{n}")))
                .unwrap_or(0);
            vm.conf
                .insert(format!("unused{n}"), state::drive_file(&old));
        }
    }
    Ok(())
}

fn hotpluggable_now(key: &str) -> bool {
    state::hotpluggable(key)
}

fn check_lock(vm: &Vm, skiplock: bool) -> Result<(), String> {
    match vm.conf.get("lock") {
        Some(l) if !skiplock => Err(format!("VM is locked ({l})")),
        _ => Ok(()),
    }
}

async fn update_config(
    shared: &Shared,
    who: &Identity,
    p: &Params,
    is_async: bool,
) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    let skiplock = p.bool("skiplock").unwrap_or(false);
    if skiplock && !who.is_root {
        return Err(ApiErr::param("skiplock", "Only root may use this option."));
    }
    let (sets, deletes, reverts) = config_changes(p);
    if sets.is_empty() && deletes.is_empty() && reverts.is_empty() {
        return Err(ApiErr::die("no options specified"));
    }
    for (k, _) in &sets {
        if deletes.contains(k) {
            return Err(ApiErr::die(format!(
                "You can't change option '{k}' and delete it at the same time"
            )));
        }
    }
    {
        let c = lock(shared);
        vm_of(&c, p)?;
    }
    check_config_perms(who, vmid, &sets, &deletes)?;
    // lock_config: the flock with its 10 s timeout.
    let guard = flock(shared, vmid, true, Duration::from_secs(10)).await?;
    let mut c = lock(shared);
    let vm = vm_of(&c, p)?;
    if let Some(d) = p.get("digest")
        && d != vm.digest()
    {
        return Err(ApiErr::die(
            "detected modified configuration - file changed by other user? Try again.",
        ));
    }
    check_lock(vm, skiplock)?;
    if !is_async {
        let r = apply_changes(&mut c, vmid, &sets, &deletes, &reverts);
        drop(c);
        drop(guard);
        r?;
        return data(Value::Null);
    }
    let upid = new_task(&mut c, &node, "qmconfig", &vmid.to_string(), &who.user)?;
    drop(c);
    let d = task_duration(shared, "qmconfig");
    let s = shared.clone();
    spawn_worker(shared, upid.clone(), async move {
        tokio::time::sleep(d).await;
        let r = apply_changes(&mut lock(&s), vmid, &sets, &deletes, &reverts);
        drop(guard);
        r.map(|_| vec!["update VM {vmid}: applied".replace("{vmid}", &vmid.to_string())])
    });
    data(json!(upid))
}

// ---------------------------------------------------------------- create / destroy

fn create_vm(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    who.check(&format!("/vms/{vmid}"), &["VM.Allocate"])?;
    if p.get("archive").is_some() {
        return Err(ApiErr::die(
            "restore from archive is not supported by the simulator",
        ));
    }
    let (sets, _, _) = config_changes(p);
    check_config_perms(who, vmid, &sets, &[])?;
    let start = p.bool("start").unwrap_or(false);
    let pool = p.get("pool").map(str::to_string);
    let mut c = lock(shared);
    if let Some(pool) = &pool {
        check_pool(&c, who, pool)?;
    }
    if let Some(vm) = c.vms.get(&vmid) {
        return Err(ApiErr::die(format!(
            "unable to create VM {vmid} - VM {vmid} already exists on node '{}'",
            vm.node
        )));
    }
    // Synchronous drive checks: the storage must exist and hold images.
    for (k, v) in &sets {
        if is_disk_key(k) {
            let file = state::drive_file(v);
            if let Some((st, _)) = file.split_once(':')
                && c.storage(st).is_none()
            {
                return Err(ApiErr::die(format!("storage '{st}' does not exist")));
            }
        }
    }
    // MACs are assigned before forking.
    let mut sets = sets;
    // The worker allocates disks in drive order (ide, sata, scsi, virtio,
    // efidisk0, tpmstate0), whatever the order of the parameters.
    sets.sort_by_key(|(k, _)| drive_rank(k));
    for (k, v) in sets.iter_mut() {
        if schema::split_indexed(k).is_some_and(|(p, _)| p == "net") {
            *v = c.normalize_net(v);
        }
    }
    c.vms.insert(
        vmid,
        Vm {
            node: node.clone(),
            conf: BTreeMap::from([("lock".to_string(), "create".to_string())]),
            pending: BTreeMap::new(),
            pending_delete: Default::default(),
            running: false,
            started: None,
            created: Instant::now(),
            agent: None,
        },
    );
    let upid = new_task(&mut c, &node, "qmcreate", &vmid.to_string(), &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, "qmcreate");
    spawn_worker(shared, upid.clone(), async move {
        let guard = flock(&s, vmid, true, Duration::from_secs(1)).await;
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let mut build = || -> Result<Vec<String>, String> {
            apply_changes(&mut c, vmid, &sets, &[], &[])?;
            let uuid = c.new_uuid();
            let genid = c.new_uuid();
            let now = unix_now();
            let vm = c
                .vms
                .get_mut(&vmid)
                .ok_or_else(|| format!("VM {vmid} vanished"))?;
            vm.conf.remove("lock");
            vm.conf
                .entry("smbios1".into())
                .or_insert(format!("uuid={uuid}"));
            vm.conf.entry("vmgenid".into()).or_insert(genid);
            vm.conf
                .entry("meta".into())
                .or_insert(format!("creation-qemu=9.2.0,ctime={now}"));
            if !vm.conf.contains_key("boot") {
                let b = Cluster::default_boot(&vm.conf);
                vm.conf.insert("boot".into(), b);
            }
            if start {
                vm.running = true;
                vm.started = Some(Instant::now());
            }
            if let Some(pool) = &pool
                && let Some(pl) = c.pools.get_mut(pool)
            {
                pl.vms.insert(vmid);
            }
            Ok(vec![format!("VM {vmid} created")])
        };
        let result = match &guard {
            Err(e) => Err(e.clone()),
            Ok(_) => build(),
        };
        if result.is_err() {
            c.vms.remove(&vmid);
        }
        drop(c);
        drop(guard);
        result
    });
    data(json!(upid))
}

/// Sort key of a config key in `create_disks` order (non-drives first).
fn drive_rank(k: &str) -> (u8, u32) {
    if !is_disk_key(k) {
        return (0, 0);
    }
    match k {
        "efidisk0" => (5, 0),
        "tpmstate0" => (6, 0),
        _ => match schema::split_indexed(k) {
            Some(("ide", n)) => (1, n),
            Some(("sata", n)) => (2, n),
            Some(("scsi", n)) => (3, n),
            Some((_, n)) => (4, n),
            None => (7, 0),
        },
    }
}

fn destroy_vm(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    let skiplock = p.bool("skiplock").unwrap_or(false);
    if skiplock && !who.is_root {
        return Err(ApiErr::param("skiplock", "Only root may use this option."));
    }
    let mut c = lock(shared);
    let vm = vm_of(&c, p)?;
    who.check(&format!("/vms/{vmid}"), &["VM.Allocate"])?;
    if vm
        .conf
        .get("protection")
        .and_then(|v| schema::parse_bool(v))
        .unwrap_or(false)
    {
        return Err(ApiErr::die(format!(
            "can't remove VM {vmid} - protection mode enabled"
        )));
    }
    if vm.running {
        return Err(ApiErr::die(format!(
            "VM {vmid} is running - destroy failed"
        )));
    }
    let upid = new_task(&mut c, &node, "qmdestroy", &vmid.to_string(), &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, "qmdestroy");
    spawn_worker(shared, upid.clone(), async move {
        let _g = flock(&s, vmid, true, Duration::from_secs(10)).await?;
        {
            let c = lock(&s);
            let vm = c
                .vms
                .get(&vmid)
                .ok_or_else(|| Cluster::conf_path(&node, vmid))?;
            check_lock(vm, skiplock)?;
        }
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let row = c.vms.get(&vmid).map(|vm| c.resource_row(vmid, vm));
        for pl in c.pools.values_mut() {
            pl.vms.remove(&vmid);
        }
        if let (Some(_), Some(row)) = (c.vms.remove(&vmid), row) {
            c.ghosts.retain(|g| g.vmid != vmid);
            c.ghosts.push(Ghost {
                vmid,
                row,
                deleted: Instant::now(),
            });
        }
        Ok(vec![format!("destroyed VM {vmid}")])
    });
    data(json!(upid))
}

// ---------------------------------------------------------------- clone / template

fn clone_vm(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    let newid = p
        .int("newid")
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let mut c = lock(shared);
    let src = vm_of(&c, p)?.clone();
    who.check(&format!("/vms/{vmid}"), &["VM.Clone"])?;
    who.check(&format!("/vms/{newid}"), &["VM.Allocate"])?;
    let template = src.is_template();
    let full = p.bool("full").unwrap_or(!template);
    let storage = p.get("storage").map(str::to_string);
    // qemu-server API2/Qemu.pm clone_vm: a target equal to the local node is
    // no target; another node must exist (check_node_exists); a target
    // storage must be shared; and every volume of the source (the cloud-init
    // drive included) must be on shared storage (`$check_storage_access_clone`).
    let target = p
        .get("target")
        .filter(|t| *t != node && *t != "localhost")
        .map(str::to_string);
    if let Some(t) = &target
        && !c.nodes.iter().any(|n| n == t)
    {
        return Err(ApiErr::die(format!("no such cluster node '{t}'")));
    }
    if let Some(st) = &storage {
        let Some(scfg) = c.storage(st) else {
            return Err(ApiErr::die(format!("storage '{st}' does not exist")));
        };
        if target.is_some() && !scfg.shared {
            return Err(ApiErr::die(format!(
                "can't clone to non-shared storage '{st}'"
            )));
        }
        who.check(&format!("/storage/{st}"), &["Datastore.AllocateSpace"])?;
    }
    if let Some(l) = src.conf.get("lock") {
        return Err(ApiErr::die(format!("VM is locked ({l})")));
    }
    // Plain `die`s (HTTP 500), after the storage checks above.
    if storage.is_some() && !full {
        return Err(ApiErr::die(
            "parameter 'storage' not allowed for linked clones",
        ));
    }
    if p.get("format").is_some() && !full {
        return Err(ApiErr::die(
            "parameter 'format' not allowed for linked clones",
        ));
    }
    if let Some(t) = &target {
        let shared_vm = src
            .conf
            .iter()
            .filter(|(k, _)| is_disk_key(k))
            .filter_map(|(_, v)| {
                let f = state::drive_file(v);
                f.split_once(':').map(|(st, _)| st.to_string())
            })
            .all(|st| c.storage(&st).is_some_and(|s| s.shared));
        if !shared_vm {
            return Err(ApiErr::die(format!(
                "can't clone VM to node '{t}' (VM uses local storage)"
            )));
        }
    }
    if !full
        && let Some((k, _)) = src
            .conf
            .iter()
            .find(|(k, v)| is_disk_key(k) && !v.contains("media=cdrom"))
        && !template
    {
        return Err(ApiErr::die(format!(
            "Linked clone feature is not supported for drive '{k}'"
        )));
    }
    if c.vms.contains_key(&newid) {
        return Err(ApiErr::die(format!(
            "unable to create VM {newid}: config file already exists"
        )));
    }
    let name = p
        .get("name")
        .map(str::to_string)
        .unwrap_or_else(|| format!("Copy-of-VM-{}", src.name()));
    let description = p.get("description").map(str::to_string);
    let pool = p.get("pool").map(str::to_string);
    if let Some(pool) = &pool {
        check_pool(&c, who, pool)?;
    }
    let upid = new_task(&mut c, &node, "qmclone", &vmid.to_string(), &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, "qmclone");
    spawn_worker(shared, upid.clone(), async move {
        // Source: shared lock, exclusive if running; target: exclusive. 1 s each.
        let running = lock(&s).vms.get(&vmid).is_some_and(|v| v.running);
        let _src_guard = flock(&s, vmid, running, Duration::from_secs(1)).await?;
        let _dst_guard = flock(&s, newid, true, Duration::from_secs(1)).await?;
        let src = {
            let mut c = lock(&s);
            if c.vms.contains_key(&newid) {
                return Err(format!(
                    "unable to create VM {newid}: config file already exists"
                ));
            }
            let src = c
                .vms
                .get(&vmid)
                .cloned()
                .ok_or_else(|| Cluster::conf_path(&node, vmid))?;
            c.vms.insert(
                newid,
                Vm {
                    node: node.clone(),
                    conf: BTreeMap::from([("lock".to_string(), "clone".to_string())]),
                    pending: BTreeMap::new(),
                    pending_delete: Default::default(),
                    running: false,
                    started: None,
                    created: Instant::now(),
                    agent: None,
                },
            );
            src
        };
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let mut conf: BTreeMap<String, String> = BTreeMap::new();
        let mut log = Vec::new();
        for (k, v) in &src.conf {
            if matches!(
                k.as_str(),
                "template" | "lock" | "smbios1" | "vmgenid" | "name"
            ) || k.starts_with("unused")
            {
                continue;
            }
            let nv = if schema::split_indexed(k).is_some_and(|(p, _)| p == "net") {
                // A new MAC for every NIC.
                let without_mac: Vec<String> = v
                    .split(',')
                    .map(|part| match part.split_once('=') {
                        Some((m, _)) if state::is_nic_model(m) => m.to_string(),
                        _ => part.to_string(),
                    })
                    .filter(|part| !part.starts_with("macaddr="))
                    .collect();
                c.normalize_net(&without_mac.join(","))
            } else if is_disk_key(k) && !v.contains("media=cdrom") {
                let file = state::drive_file(v);
                let Some((st, vol)) = file.split_once(':') else {
                    conf.insert(k.clone(), v.clone());
                    continue;
                };
                let vol = vol.rsplit('/').next().unwrap_or(vol);
                let n = vol.rsplit('-').next().unwrap_or("0");
                let opts = state::drive_opts(v);
                if full {
                    let st = storage.clone().unwrap_or_else(|| st.to_string());
                    log.push(format!(
                        "drive '{k}': full clone to {st}:vm-{newid}-disk-{n}"
                    ));
                    state::render_drive(&format!("{st}:vm-{newid}-disk-{n}"), &opts)
                } else {
                    log.push(format!("drive '{k}': linked clone of {file}"));
                    state::render_drive(&format!("{st}:{vol}/vm-{newid}-disk-{n}"), &opts)
                }
            } else if is_disk_key(k) && v.contains("cloudinit") {
                let file = state::drive_file(v);
                let st = file.split(':').next().unwrap_or("local-lvm");
                let st = if full {
                    storage.clone().unwrap_or_else(|| st.to_string())
                } else {
                    st.to_string()
                };
                state::render_drive(&format!("{st}:vm-{newid}-cloudinit"), &state::drive_opts(v))
            } else {
                v.clone()
            };
            conf.insert(k.clone(), nv);
        }
        conf.insert("name".into(), name);
        if let Some(d) = description {
            conf.insert("description".into(), d);
        }
        let uuid = c.new_uuid();
        let genid = c.new_uuid();
        conf.insert("smbios1".into(), format!("uuid={uuid}"));
        conf.insert("vmgenid".into(), genid);
        match c.vms.get_mut(&newid) {
            Some(vm) => {
                vm.conf = conf;
                // The config was written on the source node all along; with a
                // target it is renamed into the target node's directory as
                // the last step (`rename($conffile, $newconffile)`).
                if let Some(t) = &target {
                    vm.node = t.clone();
                    log.push(format!("moved the config of VM {newid} to node '{t}'"));
                }
            }
            None => return Err(format!("clone failed: VM {newid} vanished")),
        }
        if let Some(pool) = &pool
            && let Some(pl) = c.pools.get_mut(pool)
        {
            pl.vms.insert(newid);
        }
        log.push(format!("clone of VM {vmid} to {newid} finished"));
        Ok(log)
    });
    data(json!(upid))
}

fn template(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    let mut c = lock(shared);
    let vm = vm_of(&c, p)?;
    who.check(&format!("/vms/{vmid}"), &["VM.Allocate"])?;
    if vm.is_template() {
        return Err(ApiErr::die("you can't convert a template to a template"));
    }
    if vm.running {
        return Err(ApiErr::die(
            "you can't convert a VM to template if VM is running",
        ));
    }
    let upid = new_task(&mut c, &node, "qmtemplate", &vmid.to_string(), &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, "qmtemplate");
    spawn_worker(shared, upid.clone(), async move {
        let _g = flock(&s, vmid, true, Duration::from_secs(10)).await?;
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let vm = c
            .vms
            .get_mut(&vmid)
            .ok_or_else(|| Cluster::conf_path(&node, vmid))?;
        check_lock(vm, false)?;
        let from = format!(":vm-{vmid}-disk-");
        let to = format!(":base-{vmid}-disk-");
        for (k, v) in vm.conf.iter_mut() {
            if is_disk_key(k) && !v.contains("media=cdrom") {
                *v = v.replace(&from, &to);
            }
        }
        vm.conf.insert("template".into(), "1".into());
        Ok(vec![format!("VM {vmid} converted to template")])
    });
    data(json!(upid))
}

// ---------------------------------------------------------------- status

fn status_current(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let vm = vm_of(&c, p)?;
    let vmid = p.vmid();
    who.check(&format!("/vms/{vmid}"), &["VM.Audit"])?;
    let status = if vm.running { "running" } else { "stopped" };
    let mut v = json!({
        "vmid": vmid, "name": vm.display_name(vmid), "status": status, "qmpstatus": status,
        "cpus": vm.cpus(), "maxmem": vm.memory_mib() * state::MIB, "maxdisk": vm.maxdisk(),
        "mem": 0, "cpu": 0, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
        "uptime": vm.started.map(|s| s.elapsed().as_secs()).unwrap_or(0),
        "ha": {"managed": 0},
    });
    if vm.agent_enabled() {
        v["agent"] = json!(1);
    }
    if vm.running {
        v["pid"] = json!(10_000 + vmid);
        v["running-machine"] = json!("pc-i440fx-9.2+pve1");
        v["running-qemu"] = json!("9.2.0");
    }
    if vm.is_template() {
        v["template"] = json!(1);
    }
    if let Some(t) = vm.conf.get("tags") {
        v["tags"] = json!(t);
    }
    if let Some(l) = vm.conf.get("lock") {
        v["lock"] = json!(l);
    }
    data(v)
}

fn apply_pending(vm: &mut Vm) {
    let pending = std::mem::take(&mut vm.pending);
    vm.conf.extend(pending);
    for k in std::mem::take(&mut vm.pending_delete) {
        vm.conf.remove(&k);
    }
}

fn power(shared: &Shared, who: &Identity, p: &Params, op: Op) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    let skiplock = p.bool("skiplock").unwrap_or(false);
    if skiplock && !who.is_root {
        return Err(ApiErr::param("skiplock", "Only root may use this option."));
    }
    let mut c = lock(shared);
    vm_of(&c, p)?;
    who.check(&format!("/vms/{vmid}"), &["VM.PowerMgmt"])?;
    let ttype = match op {
        Op::Start => "qmstart",
        Op::Stop => "qmstop",
        Op::Shutdown => "qmshutdown",
        _ => "qmreboot",
    };
    let upid = new_task(&mut c, &node, ttype, &vmid.to_string(), &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, ttype);
    spawn_worker(shared, upid.clone(), async move {
        let _g = flock(&s, vmid, true, Duration::from_secs(10)).await?;
        {
            let c = lock(&s);
            let vm = c
                .vms
                .get(&vmid)
                .ok_or_else(|| Cluster::conf_path(&node, vmid))?;
            check_lock(vm, skiplock)?;
            match op {
                Op::Start if vm.running => return Err(format!("VM {vmid} already running")),
                Op::Start if vm.is_template() => {
                    return Err("you can't start a vm if it's a template".into());
                }
                Op::Shutdown | Op::Reboot if !vm.running => {
                    return Err(format!("VM {vmid} not running"));
                }
                _ => {}
            }
        }
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let vm = c
            .vms
            .get_mut(&vmid)
            .ok_or_else(|| Cluster::conf_path(&node, vmid))?;
        match op {
            Op::Start | Op::Reboot => {
                apply_pending(vm);
                vm.running = true;
                vm.started = Some(Instant::now());
            }
            _ => {
                vm.running = false;
                vm.started = None;
            }
        }
        Ok(vec![format!("{ttype} {vmid} done")])
    });
    data(json!(upid))
}

fn resize(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    let disk = p.get("disk").unwrap_or("").to_string();
    let size = p.get("size").unwrap_or("").to_string();
    let digest = p.get("digest").map(str::to_string);
    let skiplock = p.bool("skiplock").unwrap_or(false);
    if skiplock && !who.is_root {
        return Err(ApiErr::param("skiplock", "Only root may use this option."));
    }
    let mut c = lock(shared);
    vm_of(&c, p)?;
    who.check(&format!("/vms/{vmid}"), &["VM.Config.Disk"])?;
    let upid = new_task(&mut c, &node, "resize", &vmid.to_string(), &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, "resize");
    spawn_worker(shared, upid.clone(), async move {
        let _g = flock(&s, vmid, true, Duration::from_secs(10)).await?;
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let vm = c
            .vms
            .get_mut(&vmid)
            .ok_or_else(|| Cluster::conf_path(&node, vmid))?;
        if let Some(d) = digest
            && d != vm.digest()
        {
            return Err(
                "detected modified configuration - file changed by other user? Try again.".into(),
            );
        }
        check_lock(vm, skiplock)?;
        let Some(cur) = vm.conf.get(&disk).cloned() else {
            return Err(format!("disk '{disk}' does not exist"));
        };
        if cur.contains("media=cdrom") {
            return Err("you can't resize a cdrom".into());
        }
        let old = state::drive_opt(&cur, "size")
            .and_then(|s| state::parse_size(&s))
            .unwrap_or(0);
        let (delta, num) = match size.strip_prefix('+') {
            Some(n) => (true, n),
            None => (false, size.as_str()),
        };
        let n = state::parse_size(num).ok_or_else(|| format!("invalid size '{size}'"))?;
        // A bare number is GiB? No: PVE reads bytes without a unit.
        let new = if delta { old + n } else { n };
        if new < old {
            return Err("shrinking disks is not supported".into());
        }
        let mut opts = state::drive_opts(&cur);
        state::set_opt(&mut opts, "size", &state::format_size(new));
        let nv = state::render_drive(&state::drive_file(&cur), &opts);
        vm.conf.insert(disk.clone(), nv);
        Ok(vec![format!(
            "resized {disk} from {} to {}",
            state::format_size(old),
            state::format_size(new)
        )])
    });
    data(json!(upid))
}

fn agent_net(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let vm = vm_of(&c, p)?;
    let vmid = p.vmid();
    who.check(
        &format!("/vms/{vmid}"),
        &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
    )?;
    if !vm.running {
        return Err(ApiErr::die(format!("VM {vmid} is not running")));
    }
    if !vm.agent_enabled() {
        return Err(ApiErr::die("No QEMU guest agent configured"));
    }
    let mode = vm.agent.unwrap_or(c.settings.agent);
    let up = vm.started.map(|s| s.elapsed()).unwrap_or_default();
    let link_local_only = match mode {
        AgentMode::NotRunning => return Err(ApiErr::die("QEMU guest agent is not running")),
        AgentMode::Slow(d) if up < c.settings.scaled(d) => {
            return Err(ApiErr::die("QEMU guest agent is not running"));
        }
        AgentMode::LinkLocalOnly => true,
        _ => false,
    };
    let mut ifaces = vec![json!({
        "name": "lo", "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [
            {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
            {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128},
        ],
        "statistics": {"rx-bytes": 0, "tx-bytes": 0, "rx-packets": 0, "tx-packets": 0,
            "rx-errs": 0, "tx-errs": 0, "rx-dropped": 0, "tx-dropped": 0},
    })];
    for i in 0..32u32 {
        let Some(net) = vm.conf.get(&format!("net{i}")) else {
            continue;
        };
        let mac = net
            .split(',')
            .next()
            .and_then(|f| f.split_once('='))
            .map(|(_, m)| m.to_ascii_lowercase())
            .unwrap_or_default();
        let m: Vec<&str> = mac.split(':').collect();
        let ll = if m.len() == 6 {
            let b0 = u8::from_str_radix(m[0], 16).unwrap_or(0) ^ 2;
            format!(
                "fe80::{:02x}{}:{}ff:fe{}:{}{}",
                b0, m[1], m[2], m[3], m[4], m[5]
            )
        } else {
            "fe80::1".into()
        };
        let mut ips = Vec::new();
        if !link_local_only {
            let ip = configured_ip(vm, i)
                .unwrap_or_else(|| format!("192.168.{}.{}", 100 + i, 10 + (vmid % 200)));
            ips.push(json!({"ip-address": ip, "ip-address-type": "ipv4", "prefix": 24}));
        }
        ips.push(json!({"ip-address": ll, "ip-address-type": "ipv6", "prefix": 64}));
        ifaces.push(json!({
            "name": format!("eth{i}"), "hardware-address": mac, "ip-addresses": ips,
            "statistics": {"rx-bytes": 1024, "tx-bytes": 2048, "rx-packets": 10, "tx-packets": 20,
                "rx-errs": 0, "tx-errs": 0, "rx-dropped": 0, "tx-dropped": 0},
        }));
    }
    data(json!({ "result": ifaces }))
}

/// The static address of `ipconfigN`, if any (`ip=10.0.0.5/24`).
fn configured_ip(vm: &Vm, i: u32) -> Option<String> {
    let ipc = vm.conf.get(&format!("ipconfig{i}"))?;
    ipc.split(',')
        .find_map(|p| p.strip_prefix("ip="))
        .filter(|ip| *ip != "dhcp")
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
}

// ---------------------------------------------------------------- storage

fn storage_list(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let rows: Vec<Value> = c
        .storages
        .iter()
        .filter(|s| p.get("storage").is_none_or(|f| f == s.id))
        .filter(|s| {
            p.get("content")
                .is_none_or(|f| f.split(',').all(|ct| s.content.contains(&ct)))
        })
        .filter(|_| who.can("Datastore.Audit") || who.can("Datastore.AllocateSpace"))
        .map(|s| {
            let used = 12 * GIB;
            json!({
                "storage": s.id, "type": s.stype, "content": sorted_content(&s.content),
                "active": 1, "enabled": 1, "shared": if s.shared {1} else {0},
                "total": s.total, "used": used, "avail": s.total - used,
                "used_fraction": used as f64 / s.total as f64,
            })
        })
        .collect();
    data(Value::Array(rows))
}

fn storage_content(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let node = p.get("node").unwrap_or("");
    let sid = p.get("storage").unwrap_or("");
    who.check(
        &format!("/storage/{sid}"),
        &["Datastore.Audit", "Datastore.AllocateSpace"],
    )?;
    let Some(st) = c.storage(sid) else {
        return Err(ApiErr::die(format!("storage '{sid}' does not exist")));
    };
    let mut rows: Vec<Value> = c
        .volumes
        .iter()
        .filter(|v| v.node == node && v.volid.starts_with(&format!("{sid}:")))
        .map(|v| {
            json!({"volid": v.volid, "content": v.content, "format": v.format,
                "size": v.size, "ctime": v.ctime})
        })
        .collect();
    if st.content.contains(&"images") {
        let on_node: Vec<Value> = c
            .disk_volumes(sid)
            .into_iter()
            .filter(|v| {
                v["vmid"]
                    .as_u64()
                    .and_then(|id| c.vms.get(&(id as u32)))
                    .is_some_and(|vm| vm.node == node)
            })
            .collect();
        rows.extend(on_node);
    }
    if let Some(ct) = p.get("content") {
        rows.retain(|r| r["content"] == ct);
    }
    if let Some(id) = p.int("vmid") {
        rows.retain(|r| r["vmid"].as_i64() == Some(id));
    }
    // The content type filters the list; the rows themselves carry only what
    // the schema's `returns` documents (no `content`).
    for r in &mut rows {
        if let Some(o) = r.as_object_mut() {
            o.remove("content");
        }
    }
    data(Value::Array(rows))
}

/// pve-storage `normalize_content_filename`: drop any directory part, then
/// every character but `[a-zA-Z0-9_.-]` becomes `_`.
pub(crate) fn normalize_content_filename(name: &str) -> String {
    let name = name.trim_end_matches('\n');
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `name` has an extension pve-storage accepts for `content`
/// (`PVE::API2::Storage::Status` download_url, with the REs of
/// `PVE::Storage`): iso `[^/]+\.(?:iso|img)` and vztmpl
/// `[^/]+\.tar\.(gz|xz|zst|bz2)` case-insensitively; import
/// `[a-zA-Z0-9\-\.\+\=\_]+\.(ova|qcow2|raw|vmdk)` (`UPLOAD_IMPORT_EXT_RE_1`,
/// case-sensitive). The error text per content type, as pve-storage words it.
fn download_name_ok(content: &str, name: &str) -> Result<(), ApiErr> {
    let lower = name.to_ascii_lowercase();
    let has_stem = |ext_len: usize| name.len() > ext_len;
    match content {
        "iso" => {
            let ok = [".iso", ".img"]
                .iter()
                .any(|e| lower.ends_with(e) && has_stem(e.len()));
            if ok {
                Ok(())
            } else {
                Err(ApiErr::param("filename", "wrong file extension"))
            }
        }
        "vztmpl" => {
            let ok = [".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
                .iter()
                .any(|e| lower.ends_with(e) && has_stem(e.len()));
            if ok {
                Ok(())
            } else {
                Err(ApiErr::param("filename", "wrong file extension"))
            }
        }
        _ => {
            let ok = [".ova", ".qcow2", ".raw", ".vmdk"]
                .iter()
                .any(|e| name.ends_with(e) && has_stem(e.len()));
            if ok {
                Ok(())
            } else {
                Err(ApiErr::param(
                    "filename",
                    "invalid filename or wrong extension",
                ))
            }
        }
    }
}

fn download_url(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let node = p.get("node").unwrap_or("").to_string();
    let sid = p.get("storage").unwrap_or("").to_string();
    who.check(&format!("/storage/{sid}"), &["Datastore.AllocateTemplate"])?;
    who.check("/", &["Sys.Audit", "Sys.Modify"])?;
    let content = p.get("content").unwrap_or("").to_string();
    let mut c = lock(shared);
    let Some(st) = c.storage(&sid) else {
        return Err(ApiErr::die(format!("storage '{sid}' does not exist")));
    };
    // Only file-based storages (those with a path) take downloads.
    if st.stype != "dir" {
        return Err(ApiErr::die(format!(
            "can't upload to storage type '{}', not a file based storage!",
            st.stype
        )));
    }
    if !st.content.contains(&content.as_str()) {
        return Err(ApiErr::die(format!(
            "storage '{sid}' is not configured for content-type '{content}'"
        )));
    }
    let filename = normalize_content_filename(p.get("filename").unwrap_or(""));
    download_name_ok(&content, &filename)?;
    let volid = format!("{sid}:{content}/{filename}");
    if c.volumes.iter().any(|v| v.volid == volid && v.node == node) {
        return Err(ApiErr::die(format!(
            "refusing to override existing file '/var/lib/vz/template/{content}/{filename}'"
        )));
    }
    // The worker id is the (normalised) file name (`encode_text($filename)`).
    let upid = new_task(&mut c, &node, "download", &filename, &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, "download");
    let url = p.get("url").unwrap_or("").to_string();
    spawn_worker(shared, upid.clone(), async move {
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let format = filename
            .rsplit('.')
            .next()
            .filter(|_| content == "import")
            .unwrap_or(if content == "iso" { "iso" } else { "tgz" })
            .to_string();
        c.volumes.push(state::Volume {
            node,
            volid: volid.clone(),
            content,
            format,
            size: 2 * GIB,
            ctime: unix_now(),
        });
        Ok(vec![
            format!("downloading {url} to {volid}"),
            "download of '...' finished".to_string(),
        ])
    });
    data(json!(upid))
}

/// `DELETE /nodes/{node}/storage/{storage}/content/{volume}`: delete an
/// ISO, cloud image or other file (an `imgdel` task). Disks of VMs are
/// refused, as the real API refuses volumes still referenced by a guest.
fn content_delete(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let node = p.get("node").unwrap_or("").to_string();
    let sid = p.get("storage").unwrap_or("").to_string();
    who.check(&format!("/storage/{sid}"), &["Datastore.Allocate"])?;
    let raw = p.get("volume").unwrap_or("");
    // The volume may be given as a full volume ID or relative to the storage.
    let volid = if raw.contains(':') {
        raw.to_string()
    } else {
        format!("{sid}:{raw}")
    };
    let mut c = lock(shared);
    if c.storage(&sid).is_none() {
        return Err(ApiErr::die(format!("storage '{sid}' does not exist")));
    }
    let Some(pos) = c
        .volumes
        .iter()
        .position(|v| v.volid == volid && v.node == node)
    else {
        return Err(ApiErr::die(format!("volume '{volid}' does not exist")));
    };
    let upid = new_task(&mut c, &node, "imgdel", &volid, &who.user)?;
    c.volumes.remove(pos);
    drop(c);
    spawn_worker(shared, upid.clone(), async move {
        Ok(vec![format!("removed volume '{volid}'")])
    });
    data(json!(upid))
}

/// Used by the handle's out-of-band hooks.
pub(crate) fn apply_out_of_band(
    c: &mut Cluster,
    vmid: u32,
    sets: &[(String, String)],
    deletes: &[String],
) -> Result<(), String> {
    apply_changes(c, vmid, sets, deletes, &[])
}

// ---------------------------------------------------------------- move_disk

/// `POST .../move_disk`: copy a disk to another storage (a `qmmove` task);
/// with `delete=1` the source volume is freed, else it stays as `unusedN`.
fn move_disk(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let vmid = p.vmid();
    let node = p.get("node").unwrap_or("").to_string();
    let disk = p.get("disk").unwrap_or("").to_string();
    let digest = p.get("digest").map(str::to_string);
    let delete = p.bool("delete").unwrap_or(false);
    if p.get("target-vmid").is_some() || p.get("target-disk").is_some() {
        return Err(ApiErr::die(
            "moving a disk to another VM is not supported by the simulator",
        ));
    }
    let Some(storage) = p.get("storage").map(str::to_string) else {
        return Err(ApiErr::param(
            "storage",
            "parameter is required when not moving to another VM",
        ));
    };
    let mut c = lock(shared);
    let vm = vm_of(&c, p)?;
    who.check(&format!("/vms/{vmid}"), &["VM.Config.Disk"])?;
    who.check(&format!("/storage/{storage}"), &["Datastore.AllocateSpace"])?;
    let Some(cur) = vm.conf.get(&disk).cloned() else {
        return Err(ApiErr::die(format!("disk '{disk}' does not exist")));
    };
    if cur.contains("media=cdrom") {
        return Err(ApiErr::die("you can't move a cdrom"));
    }
    let Some(st) = c.storage(&storage) else {
        return Err(ApiErr::die(format!("storage '{storage}' does not exist")));
    };
    if !st.content.contains(&"images") {
        return Err(ApiErr::die(format!(
            "storage '{storage}' does not support content-type 'images'"
        )));
    }
    let file = state::drive_file(&cur);
    if file.split(':').next() == Some(storage.as_str()) {
        return Err(ApiErr::die(
            "you can't move to the same storage with same format",
        ));
    }
    let upid = new_task(&mut c, &node, "qmmove", &vmid.to_string(), &who.user)?;
    drop(c);
    let s = shared.clone();
    let d = task_duration(shared, "qmmove");
    spawn_worker(shared, upid.clone(), async move {
        let _g = flock(&s, vmid, true, Duration::from_secs(10)).await?;
        tokio::time::sleep(d).await;
        let mut c = lock(&s);
        let n = c.next_disk_index(vmid, &storage, &[]);
        let vm = c
            .vms
            .get_mut(&vmid)
            .ok_or_else(|| Cluster::conf_path(&node, vmid))?;
        if let Some(d) = digest
            && d != vm.digest()
        {
            return Err(
                "detected modified configuration - file changed by other user? Try again.".into(),
            );
        }
        check_lock(vm, false)?;
        let Some(cur) = vm.conf.get(&disk).cloned() else {
            return Err(format!("disk '{disk}' does not exist"));
        };
        let old = state::drive_file(&cur);
        let new = format!("{storage}:vm-{vmid}-disk-{n}");
        let nv = state::render_drive(&new, &state::drive_opts(&cur));
        vm.conf.insert(disk.clone(), nv);
        let mut log = vec![format!("moving disk '{disk}' from {old} to {new}")];
        if delete {
            log.push(format!("removing volume '{old}'"));
        } else {
            let i = (0..256)
                .find(|i| !vm.conf.contains_key(&format!("unused{i}")))
                .unwrap_or(0);
            vm.conf.insert(format!("unused{i}"), old);
        }
        Ok(log)
    });
    data(json!(upid))
}

// ---------------------------------------------------------------- pools

/// `create`/`clone` with `pool`: the pool must exist and be modifiable.
fn check_pool(c: &Cluster, who: &Identity, pool: &str) -> Result<(), ApiErr> {
    if !c.pools.contains_key(pool) {
        return Err(ApiErr::die(format!("pool '{pool}' does not exist")));
    }
    who.check(&format!("/pool/{pool}"), &["Pool.Allocate"])
}

fn pool_members(c: &Cluster, pool: &state::Pool, kind: Option<&str>) -> Vec<Value> {
    if kind.is_some_and(|k| k != "qemu") {
        return Vec::new();
    }
    pool.vms
        .iter()
        .filter_map(|id| c.vms.get(id).map(|vm| c.resource_row(*id, vm)))
        .collect()
}

fn pool_list(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let kind = p.get("type");
    if let Some(id) = p.get("poolid") {
        let Some(pool) = c.pools.get(id) else {
            return Err(ApiErr::die(format!("pool '{id}' does not exist")));
        };
        who.check(&format!("/pool/{id}"), &["Pool.Audit"])?;
        let mut row = json!({"poolid": id, "members": pool_members(&c, pool, kind)});
        if let Some(cm) = &pool.comment {
            row["comment"] = json!(cm);
        }
        return data(json!([row]));
    }
    let rows: Vec<Value> = c
        .pools
        .iter()
        .filter(|_| who.can("Pool.Audit"))
        .map(|(id, pool)| {
            let mut row = json!({"poolid": id});
            if let Some(cm) = &pool.comment {
                row["comment"] = json!(cm);
            }
            row
        })
        .collect();
    data(Value::Array(rows))
}

fn pool_get(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let c = lock(shared);
    let id = p.get("poolid").unwrap_or("");
    who.check(&format!("/pool/{id}"), &["Pool.Audit"])?;
    let Some(pool) = c.pools.get(id) else {
        return Err(ApiErr::die(format!("pool '{id}' does not exist")));
    };
    let mut v = json!({"members": pool_members(&c, pool, p.get("type"))});
    if let Some(cm) = &pool.comment {
        v["comment"] = json!(cm);
    }
    data(v)
}

fn pool_create(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let id = p.get("poolid").unwrap_or("").to_string();
    who.check(&format!("/pool/{id}"), &["Pool.Allocate"])?;
    let mut c = lock(shared);
    if c.pools.contains_key(&id) {
        return Err(ApiErr::die(format!("pool '{id}' already exists")));
    }
    c.pools.insert(
        id,
        state::Pool {
            comment: p.get("comment").map(str::to_string),
            vms: Default::default(),
        },
    );
    data(Value::Null)
}

/// `PUT /pools` (and the deprecated `PUT /pools/{poolid}`), like
/// `PVE::API2::Pool::update_pool`.
fn pool_update(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let id = p.get("poolid").unwrap_or("").to_string();
    who.check(&format!("/pool/{id}"), &["Pool.Allocate"])?;
    if p.get("storage").is_some() {
        return Err(ApiErr::die(
            "pool storage members are not supported by the simulator",
        ));
    }
    let delete = p.bool("delete").unwrap_or(false);
    let allow_move = p.bool("allow-move").unwrap_or(false);
    let mut c = lock(shared);
    if !c.pools.contains_key(&id) {
        return Err(ApiErr::die(format!("pool '{id}' does not exist")));
    }
    let ids: Vec<u32> = p
        .get("vms")
        .unwrap_or("")
        .split([',', ';', ' ', '\0'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| ApiErr::param("vms", format!("invalid VMID '{s}'")))
        })
        .collect::<Result<_, _>>()?;
    // Check everything first: PVE dies before writing the user config.
    let mut next = c.pools.clone();
    for vmid in ids {
        who.check(&format!("/vms/{vmid}"), &["VM.Allocate"])?;
        let member = next.get(&id).is_some_and(|pl| pl.vms.contains(&vmid));
        if delete {
            if !member {
                return Err(ApiErr::die(format!("VM {vmid} is not a pool member")));
            }
            if let Some(pl) = next.get_mut(&id) {
                pl.vms.remove(&vmid);
            }
            continue;
        }
        if member {
            return Err(ApiErr::die(format!("VM {vmid} is already a pool member")));
        }
        if !c.vms.contains_key(&vmid) {
            return Err(ApiErr::die(format!("VM {vmid} does not exist")));
        }
        if let Some((other, _)) = next.iter().find(|(_, pl)| pl.vms.contains(&vmid)) {
            if !allow_move {
                return Err(ApiErr::die(format!(
                    "VM {vmid} belongs already to pool '{other}' and 'allow-move' is not set"
                )));
            }
            who.check(&format!("/pool/{other}"), &["Pool.Allocate"])?;
        }
        for pl in next.values_mut() {
            pl.vms.remove(&vmid);
        }
        if let Some(pl) = next.get_mut(&id) {
            pl.vms.insert(vmid);
        }
    }
    if let Some(cm) = p.get("comment")
        && let Some(pl) = next.get_mut(&id)
    {
        pl.comment = Some(cm.to_string());
    }
    c.pools = next;
    data(Value::Null)
}

fn pool_delete(shared: &Shared, who: &Identity, p: &Params) -> Result<Reply, ApiErr> {
    let id = p.get("poolid").unwrap_or("").to_string();
    who.check(&format!("/pool/{id}"), &["Pool.Allocate"])?;
    let mut c = lock(shared);
    match c.pools.get(&id) {
        None => Err(ApiErr::die(format!("pool '{id}' does not exist"))),
        Some(pl) if !pl.vms.is_empty() => Err(ApiErr::die(format!("pool '{id}' is not empty"))),
        Some(_) => {
            c.pools.remove(&id);
            data(Value::Null)
        }
    }
}

//! The Proxmox VE REST client (`/api2/json`).
//!
//! - Auth: an API token (`Authorization: PVEAPIToken=user@realm!id=secret`,
//!   no CSRF needed) or a ticket from `POST /access/ticket` (cookie
//!   `PVEAuthCookie` and `CSRFPreventionToken` on every non-GET), renewed
//!   before its two hours run out and once on a 401.
//! - Bodies are form-encoded (booleans `0|1`); answers are `{"data": …}`;
//!   errors carry the message in the body (and reason phrase) and are sorted
//!   into [`ApiError`] kinds. A missing VM is HTTP 500 "does not exist", not
//!   404: both map to [`ApiError::NotFound`].
//! - Retries: a GET (a safe read) is resent after a connection failure,
//!   a generic 5xx (not "does not exist" and the like, which PVE also
//!   answers with 500), 502-504, and pveproxy's 596/599. A POST is never
//!   resent once it may have reached the server (PVE does not de-duplicate
//!   creates and clones): a lost answer becomes [`ApiError::NoAnswer`] (or
//!   [`ApiError::Transport`] when the connection broke) and the
//!   caller finds out what happened. PUT and DELETE, whose effect does not
//!   depend on being sent twice, are resent on 502-504/596/599. A 429 (from
//!   a rate-limiting proxy in front of pveproxy; PVE sends none itself) is
//!   a refusal, nothing was carried out (RFC 6585, section 4): any method
//!   is resent, after its `Retry-After` when it gives one.
//! - Tasks: mutations answer a UPID; `Client::wait_task` polls
//!   `/nodes/{node}/tasks/{upid}/status` (tolerating 400 "no such task" for a
//!   grace window after dispatch), and on failure fetches the task log.
//! - Locks: "can't lock file … got timeout" / "VM is locked (…)" are
//!   transient; `Client::retry_locked` retries them (and a worker that
//!   could not be started, "got no worker upid") with jittered backoff.
//!   A create is never retried after a worker start failure: PVE has already
//!   written the VM's `lock: create` config (see [`Client::create_vm`]).
//!   Clones of one source go through a per-source gate that turns exclusive
//!   once the server shows source-lock contention.
//! - VMIDs: `Client::allocate_vmid` serialises allocation in-process,
//!   reserves the candidate, and moves on when the create answers
//!   "already exists" (another client won the race).
//! - Lists: the node list is read once per provider process;
//!   `/cluster/resources?type=vm` is cached for a few seconds and used as a
//!   list only, never to decide that a VM is gone. [`Client::find_vm`] looks
//!   for a VM where Proxmox VE keeps it (its config may sit on another node
//!   than asked, e.g. on the source node during a cross-node clone).
//! - Operations are typed methods by concern: VM reads and operations
//!   (`vm`), create and clone (`make`), pool membership (`pool`), storage
//!   content (`storage`); resources never name a path, a verb or a request
//!   parameter (bpg/proxmox ADR-002, "layered clients").
//! - [`RESPONSE_FIELDS`] lists every answer field the client reads; a test
//!   checks each against the PVE API schema's `returns`.

mod cluster;
mod error;
mod make;
mod pool;
mod storage;
mod task;
#[cfg(test)]
pub(crate) mod testing;
mod vm;

pub use cluster::{ClusterVm, NodeInfo};
pub use error::{ApiError, Stub};
pub use make::{CloneOf, Made, MakeFailed, NewVm};
pub use storage::{Checksum, Download, StorageInfo, Volume};
pub use task::{pause, upid_node};
pub use vm::{ConfigChange, GuestInterface, VmConfig, VmStatus};

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use labforge_http::Secret;
use labforge_http::{self as http, HttpError, RetryPolicy, TlsSettings};

use crate::{Auth, Settings};

use cluster::Gate;
use error::classify;

/// Tickets live two hours; renew well before.
const TICKET_TTL: Duration = Duration::from_secs(90 * 60);
/// How long `Client::wait_task` waits for a task by default.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Retries of a request that may be resent (see `Client::call`).
const MAX_RETRIES: u32 = 4;

/// The longest `Retry-After` a 429 is waited for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A percent-encoded path segment (volume ids and UPIDs carry `:` `/` `@` `!`).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON scalar as text (config values come as strings or numbers).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

/// A JSON number or numeric string.
pub fn num(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Every field of an answer the client (and the resources and data sources
/// built on it) reads, by endpoint: `(method, route, fields)`. A field is a
/// path of object keys (lists are stepped into; `scsi[n]` stands for
/// `scsi0`…`scsi30`, as in the PVE API schema). The test
/// `every_field_read_is_documented` checks each against the `returns` of the
/// PVE API schema. Answers that are a bare value (a UPID, `null`, the next
/// VMID) have no fields.
pub const RESPONSE_FIELDS: &[(&str, &str, &[&[&str]])] = &[
    (
        "POST",
        "/access/ticket",
        &[&["ticket"], &["CSRFPreventionToken"]],
    ),
    // `NodeInfo`.
    (
        "GET",
        "/nodes",
        &[&["node"], &["status"], &["maxcpu"], &["maxmem"]],
    ),
    // `ClusterVm`.
    (
        "GET",
        "/cluster/resources",
        &[
            &["vmid"],
            &["node"],
            &["type"],
            &["name"],
            &["status"],
            &["template"],
            &["tags"],
            &["pool"],
        ],
    ),
    // `vm_config`, the VM resource's `fill` and `diff`, the data sources.
    (
        "GET",
        "/nodes/{node}/qemu/{vmid}/config",
        &[
            &["digest"],
            &["name"],
            &["description"],
            &["tags"],
            &["cores"],
            &["sockets"],
            &["cpu"],
            &["memory"],
            &["balloon"],
            &["agent"],
            &["onboot"],
            &["boot"],
            &["bios"],
            &["machine"],
            &["efidisk0"],
            &["template"],
            &["lock"],
            &["meta"],
            &["ciuser"],
            &["cipassword"],
            &["sshkeys"],
            &["ciupgrade"],
            &["nameserver"],
            &["searchdomain"],
            &["cicustom"],
            &["ide[n]"],
            &["sata[n]"],
            &["scsi[n]"],
            &["virtio[n]"],
            &["net[n]"],
            &["ipconfig[n]"],
            &["unused[n]"],
        ],
    ),
    // `vm_status`.
    (
        "GET",
        "/nodes/{node}/qemu/{vmid}/status/current",
        &[&["status"], &["lock"], &["name"]],
    ),
    // `vm_pending`.
    (
        "GET",
        "/nodes/{node}/qemu/{vmid}/pending",
        &[&["key"], &["pending"], &["delete"]],
    ),
    // `wait_task`, `task_log`.
    (
        "GET",
        "/nodes/{node}/tasks/{upid}/status",
        &[&["status"], &["exitstatus"]],
    ),
    ("GET", "/nodes/{node}/tasks/{upid}/log", &[&["t"]]),
    // `storages` (discovery).
    (
        "GET",
        "/nodes/{node}/storage",
        &[&["storage"], &["content"], &["shared"]],
    ),
    // `volume`, `volumes`, `resources::download_file`, discovery.
    (
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        &[&["volid"], &["size"]],
    ),
    // The PVE schema documents only `result`; what it holds is QEMU's
    // `guest-network-get-interfaces` answer (qemu `qga/qapi-schema.json`:
    // `GuestNetworkInterface` `name`, `ip-addresses`, `GuestIpAddress`
    // `ip-address`), which `Client::guest_interfaces` reads.
    (
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
        &[&["result"]],
    ),
];

#[derive(Debug, Clone)]
struct Ticket {
    ticket: Secret,
    csrf: Secret,
    at: Instant,
}

type Cached<T> = tokio::sync::Mutex<Option<(Instant, Arc<T>)>>;

/// The Proxmox VE API client.
#[derive(Debug)]
pub struct Client {
    /// The settings it was made from (endpoint, auth, TLS).
    pub settings: Settings,
    http: reqwest::Client,
    base: String,
    ticket: tokio::sync::Mutex<Option<Ticket>>,
    alloc: tokio::sync::Mutex<()>,
    reserved: Mutex<BTreeSet<i64>>,
    gates: Mutex<HashMap<i64, Arc<Gate>>>,
    nodes: Cached<Vec<NodeInfo>>,
    cluster_vms: Cached<Vec<ClusterVm>>,
    /// First and longest interval between task status polls.
    pub poll: (Duration, Duration),
    /// How long `Client::wait_task` waits before giving up.
    pub task_timeout: Duration,
    /// The first pause before a request is resent; it doubles each time.
    pub retry_delay: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The API base from an endpoint such as `https://pve:8006/` or `…/api2/json`.
pub fn api_base(endpoint: &str) -> String {
    let mut b = endpoint.trim().trim_end_matches('/').to_string();
    for suffix in ["/api2/json", "/api2"] {
        if let Some(s) = b.strip_suffix(suffix) {
            b = s.to_string();
        }
    }
    format!("{b}/api2/json")
}

/// Form parameters.
type Form = Vec<(String, String)>;

impl Client {
    /// A client for `settings.endpoint`. Fails only if the TLS settings
    /// cannot be used (a CA that is not PEM). Requests time out after 120 s.
    pub fn new(settings: Settings) -> Result<Self, labforge_http::ClientError> {
        let http = http::client(
            &TlsSettings {
                ca_cert: settings.ca_cert.clone(),
                insecure: settings.insecure,
                client_identity: None,
            },
            Duration::from_secs(120),
        )?;
        Ok(Self {
            base: api_base(&settings.endpoint),
            settings,
            http,
            ticket: tokio::sync::Mutex::new(None),
            alloc: tokio::sync::Mutex::new(()),
            reserved: Mutex::new(BTreeSet::new()),
            gates: Mutex::new(HashMap::new()),
            nodes: tokio::sync::Mutex::new(None),
            cluster_vms: tokio::sync::Mutex::new(None),
            poll: (Duration::from_millis(100), Duration::from_secs(1)),
            task_timeout: TASK_TIMEOUT,
            retry_delay: Duration::from_millis(250),
        })
    }

    async fn login(&self, force: bool) -> Result<Option<Ticket>, ApiError> {
        let Auth::Login { username, password } = &self.settings.auth else {
            return Ok(None);
        };
        let mut t = self.ticket.lock().await;
        if let Some(tk) = t.as_ref()
            && !force
            && tk.at.elapsed() < TICKET_TTL
        {
            return Ok(Some(tk.clone()));
        }
        let url = format!("{}/access/ticket", self.base);
        let form = [
            ("username", username.as_str()),
            ("password", password.expose()),
        ];
        let resp = http::send_with_retry(RetryPolicy::default(), "POST", "/access/ticket", || {
            self.http.post(&url).form(&form).send()
        })
        .await
        .map_err(|e| ApiError::Transport(Arc::new(e)))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let message = body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("authentication failure")
                .trim()
                .to_string();
            return Err(ApiError::Auth {
                method: "POST".into(),
                path: "/access/ticket".into(),
                message,
            });
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let ticket = data.get("ticket").and_then(Value::as_str);
        let csrf = data.get("CSRFPreventionToken").and_then(Value::as_str);
        let (Some(ticket), Some(csrf)) = (ticket, csrf) else {
            return Err(ApiError::Decode {
                path: "/access/ticket".into(),
                message: "no ticket in the answer (two-factor authentication is not supported; use an API token)".into(),
            });
        };
        let tk = Ticket {
            ticket: ticket.into(),
            csrf: csrf.into(),
            at: Instant::now(),
        };
        *t = Some(tk.clone());
        Ok(Some(tk))
    }

    /// One request and its `data`. Retries: see the module documentation
    /// (GETs on connection failures and 5xx; other methods only when the
    /// connection could not be made; PUT and DELETE also on 502-504/596/599;
    /// a POST never once it may have been received). A single re-login on
    /// 401 with ticket auth.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(String, String)],
    ) -> Result<Value, ApiError> {
        let url = format!("{}{}", self.base, path);
        let m = method.as_str().to_string();
        let is_get = method == reqwest::Method::GET;
        let idempotent = method == reqwest::Method::PUT || method == reqwest::Method::DELETE;
        let mut relogged = false;
        let mut attempt = 0u32;
        let retry = |attempt: &mut u32| {
            let go = *attempt < MAX_RETRIES;
            let delay = self.retry_delay * (1u32 << (*attempt).min(6));
            *attempt += 1;
            go.then_some(delay)
        };
        loop {
            let ticket = self.login(false).await?;
            let no_retry = RetryPolicy {
                max_retries: 0,
                ..RetryPolicy::default()
            };
            let sent = http::send_with_retry(no_retry, &m, path, || {
                let mut rb = self.http.request(method.clone(), &url);
                rb = if is_get || method == reqwest::Method::DELETE {
                    rb.query(params)
                } else {
                    rb.form(params)
                };
                match (&self.settings.auth, &ticket) {
                    (Auth::Token(t), _) => {
                        let t = t.expose();
                        let t = t.strip_prefix("PVEAPIToken=").unwrap_or(t);
                        rb = rb.header("Authorization", format!("PVEAPIToken={t}"));
                    }
                    (Auth::Login { .. }, Some(tk)) => {
                        rb = rb.header("Cookie", format!("PVEAuthCookie={}", tk.ticket.expose()));
                        if !is_get {
                            rb = rb.header("CSRFPreventionToken", tk.csrf.expose());
                        }
                    }
                    (Auth::Login { .. }, None) => {}
                }
                rb.send()
            })
            .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    // A connection that was never made carried no request.
                    if (is_get || e.was_not_sent())
                        && let Some(d) = retry(&mut attempt)
                    {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(ApiError::Transport(Arc::new(e)));
                }
            };
            let status = resp.status();
            let code = status.as_u16();
            let reason = status.canonical_reason().unwrap_or("").to_string();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    if is_get && let Some(d) = retry(&mut attempt) {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(ApiError::Transport(Arc::new(HttpError::body(&m, path, e))));
                }
            };
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(body.get("data").cloned().unwrap_or(Value::Null));
            }
            // Too Many Requests: refused, not carried out; resent (any
            // method) after the Retry-After the answer gives.
            if code == 429
                && let Some(d) = retry(&mut attempt)
            {
                let d = retry_after.unwrap_or(d);
                tracing::debug!(method = %m, path, ?d, "rate limited; retrying");
                tokio::time::sleep(d).await;
                continue;
            }
            if code == 401 && !relogged && matches!(self.settings.auth, Auth::Login { .. }) {
                relogged = true;
                self.login(true).await?;
                continue;
            }
            let mut message = body
                .get("message")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if message.is_empty() {
                let t = String::from_utf8_lossy(&bytes)
                    .trim()
                    .chars()
                    .take(300)
                    .collect::<String>();
                message = if t.is_empty() || t == "null" {
                    reason
                } else {
                    t
                };
            }
            // Proxy errors from another node (pveproxy passes on AnyEvent::HTTP's
            // 596 "errors during TLS negotiation, request sending and header
            // processing" and 599) and gateway errors: the request may have
            // been carried out.
            let lost = matches!(code, 502..=504 | 596 | 599);
            if lost && !is_get && !idempotent {
                return Err(ApiError::NoAnswer {
                    method: m,
                    path: path.to_string(),
                    message: format!("HTTP {code} {message}"),
                });
            }
            let errors = body
                .get("errors")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), text(v).unwrap_or_else(|| v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let err = classify(&m, path, code, message, errors);
            // A safe read is retried on any server-side failure that is not
            // an answer about the object itself ("does not exist", a lock,
            // a digest): PVE answers all of those with 500 too.
            let server_side = code >= 500 && matches!(err, ApiError::Api { .. });
            if ((lost && (is_get || idempotent)) || (is_get && server_side))
                && let Some(d) = retry(&mut attempt)
            {
                tracing::debug!(method = %m, path, code, ?d, "transient failure; retrying");
                tokio::time::sleep(d).await;
                continue;
            }
            return Err(err);
        }
    }

    async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, ApiError> {
        self.call(reqwest::Method::GET, path, query).await
    }
    async fn post(&self, path: &str, form: &[(String, String)]) -> Result<Value, ApiError> {
        self.call(reqwest::Method::POST, path, form).await
    }
    async fn put(&self, path: &str, form: &[(String, String)]) -> Result<Value, ApiError> {
        self.call(reqwest::Method::PUT, path, form).await
    }

    /// Whether the API user is root@pam (ticket login): only root may use
    /// `skiplock` (qemu-server `destroy_vm`: "Only root may use this
    /// option."); an API token never is root, whoever owns it.
    pub fn is_root(&self) -> bool {
        matches!(&self.settings.auth, Auth::Login { username, .. } if username == "root@pam")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{form, sim_client};

    #[test]
    fn upid_and_paths() {
        let u = "UPID:pve:00000ACD:00006AE8:679A423B:qmclone:112:capmox@pve!capi:";
        assert_eq!(upid_node(u), Some("pve"));
        assert_eq!(upid_node("nope"), None);
        assert_eq!(enc("local:iso/x.iso"), "local%3Aiso%2Fx.iso");
        assert_eq!(api_base("https://pve:8006/"), "https://pve:8006/api2/json");
        assert_eq!(
            api_base("https://pve:8006/api2/json/"),
            "https://pve:8006/api2/json"
        );
    }

    /// Every field in [`RESPONSE_FIELDS`] is one the PVE API schema's
    /// `returns` documents, and the typed answers (`NodeInfo`, `ClusterVm`)
    /// read nothing the table does not list.
    #[test]
    fn every_field_read_is_documented() {
        use labforge_simulators::proxmox::documents_response_field;
        for (method, route, fields) in RESPONSE_FIELDS {
            for f in *fields {
                assert!(
                    documents_response_field(method, route, f),
                    "{method} {route}: the client reads {f:?}, which the PVE API schema does not document"
                );
            }
        }
        let listed = |route: &str| -> Vec<String> {
            RESPONSE_FIELDS
                .iter()
                .filter(|(m, r, _)| *m == "GET" && *r == route)
                .flat_map(|(_, _, f)| f.iter().map(|p| p.join(".")))
                .collect()
        };
        let typed = [
            ("/nodes", serde_json::to_value(NodeInfo::default())),
            (
                "/cluster/resources",
                serde_json::to_value(ClusterVm::default()),
            ),
        ];
        for (route, v) in typed {
            let v = v.expect("serialisable");
            for k in v.as_object().expect("an object").keys() {
                assert!(
                    listed(route).contains(k),
                    "GET {route}: {k} read but not listed"
                );
            }
        }
        // The check can fail: a field PVE does not document.
        assert!(!documents_response_field("GET", "/nodes", &["cpus"]));
    }

    /// A create whose answer is lost (pveproxy's 596 after the node did the
    /// work) is not sent again: the error says the answer was lost, and the
    /// one VM exists.
    #[tokio::test]
    async fn a_post_whose_answer_is_lost_is_never_resent() {
        let (sim, c) = sim_client();
        let create = "/api2/json/nodes/{node}/qemu";
        for status in [596, 502, 599] {
            sim.counters().reset();
            sim.lose_answers("POST", create, status, 1);
            let vmid = 150 + i64::from(status % 100);
            let e = c
                .post("/nodes/pve1/qemu", &form(&[("vmid", &vmid.to_string())]))
                .await
                .expect_err("the answer is lost");
            assert!(e.is_no_answer(), "{status}: {e:?}");
            assert!(
                e.to_string()
                    .contains("may or may not have been carried out"),
                "{e}"
            );
            assert_eq!(sim.counters().get("POST", create), 1, "{status}: resent");
            assert!(sim.list_vms().contains(&(vmid as u32)), "{status}");
        }
        // A PUT (same effect when sent twice) is resent.
        let cfg = "/api2/json/nodes/{node}/qemu/{vmid}/config";
        sim.counters().reset();
        sim.lose_answers("PUT", cfg, 596, 1);
        c.put("/nodes/pve1/qemu/246/config", &form(&[("cores", "2")]))
            .await
            .expect("resent");
        assert_eq!(sim.counters().get("PUT", cfg), 2);
    }

    /// A 429 (a rate-limiting proxy) is waited out as its `Retry-After`
    /// says and the request resent, a read as a create (nothing was done).
    #[tokio::test]
    async fn a_429_is_waited_out_and_resent() {
        use labforge_simulators::common::Fault;
        let (sim, c) = sim_client();
        let limited = Fault::RateLimited {
            retry_after_secs: 1,
        };
        let list = "/api2/json/cluster/resources";
        sim.faults().inject("GET", list, limited.clone(), 1);
        let start = Instant::now();
        c.get("/cluster/resources", &form(&[("type", "vm")]))
            .await
            .expect("resent after the 429");
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "Retry-After not waited"
        );
        assert_eq!(sim.counters().get("GET", list), 2);
        let create = "/api2/json/nodes/{node}/qemu";
        sim.faults().inject("POST", create, limited, 1);
        c.post("/nodes/pve1/qemu", &form(&[("vmid", "181")]))
            .await
            .expect("resent after the 429");
        assert_eq!(sim.counters().get("POST", create), 2);
        assert!(sim.list_vms().contains(&181));
    }
}

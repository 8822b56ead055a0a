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
//!   creates and clones): a lost answer becomes [`ApiError::NoAnswer`] and the
//!   caller finds out what happened. PUT and DELETE, whose effect does not
//!   depend on being sent twice, are resent on 502-504/596/599.
//! - Tasks: mutations answer a UPID; [`Client::wait_task`] polls
//!   `/nodes/{node}/tasks/{upid}/status` (tolerating 400 "no such task" for a
//!   grace window after dispatch), and on failure fetches the task log.
//! - Locks: "can't lock file … got timeout" / "VM is locked (…)" are
//!   transient; [`Client::retry_locked`] retries them (and a worker that
//!   could not be started, "got no worker upid") with jittered backoff.
//!   A create is never retried after a worker start failure: PVE has already
//!   written the VM's `lock: create` config (see `post_create` of the VM
//!   resource).
//!   Clones of one source go through a per-source gate that turns exclusive
//!   once the server shows source-lock contention.
//! - VMIDs: [`Client::allocate_vmid`] serialises allocation in-process,
//!   reserves the candidate, and moves on when the create answers
//!   "already exists" (another client won the race).
//! - Lists: the node list is read once per provider process;
//!   `/cluster/resources?type=vm` is cached for a few seconds and used as a
//!   list only, never to decide that a VM is gone. [`Client::find_vm`] looks
//!   for a VM where Proxmox VE keeps it (its config may sit on another node
//!   than asked, e.g. on the source node during a cross-node clone).
//! - [`RESPONSE_FIELDS`] lists every answer field the client reads; a test
//!   checks each against the PVE API schema's `returns`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use labforge_framework::StopSignal;

use labforge_http::Secret;
use labforge_http::{self as http, HttpError, RetryPolicy, TlsSettings};

use crate::{Auth, Settings};

/// Tickets live two hours; renew well before.
const TICKET_TTL: Duration = Duration::from_secs(90 * 60);
/// How long cluster-wide lists are reused.
const LIST_TTL: Duration = Duration::from_secs(10);
/// How long a fresh UPID may answer "no such task".
const TASK_GRACE: Duration = Duration::from_secs(15);
/// How long [`Client::wait_task`] waits for a task by default.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Permits of a clone gate: one clone takes one, an exclusive clone all.
const GATE_PERMITS: u32 = 64;
/// Retries of a request that may be resent (see [`Client::call`]).
const MAX_RETRIES: u32 = 4;

/// Why an API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Transport(String),
    #[error(
        "{method} {path}: authentication failed ({message}); check the proxmox api_token, or username and password"
    )]
    Auth {
        method: String,
        path: String,
        message: String,
    },
    #[error(
        "{method} {path}: permission denied: the API user lacks privilege {privilege} on {acl_path} ({message})"
    )]
    Permission {
        method: String,
        path: String,
        privilege: String,
        acl_path: String,
        message: String,
    },
    #[error("{method} {path}: {message}")]
    NotFound {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: {message}")]
    AlreadyExists {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: {message}")]
    Locked {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: {message} (the VM configuration changed behind our back)")]
    Conflict {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: {message}{}", fmt_errors(.errors))]
    Param {
        method: String,
        path: String,
        message: String,
        errors: BTreeMap<String, String>,
    },
    #[error("{method} {path}: HTTP {status}: {message}")]
    Api {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("task {upid} failed: {exitstatus}{}", fmt_log(.log))]
    Task {
        upid: String,
        exitstatus: String,
        log: Vec<String>,
    },
    #[error(
        "task {upid} did not finish within {} s; it may still be running on the node",
        .waited.as_secs()
    )]
    TaskTimeout { upid: String, waited: Duration },
    /// Terraform asked the provider to stop (StopProvider) while waiting.
    #[error("{what}: cancelled because Terraform asked the provider to stop")]
    Cancelled { what: String },
    #[error("{path}: unexpected response: {message}")]
    Decode { path: String, message: String },
    /// The request may have reached the server, but its answer was lost (a
    /// broken connection, or pveproxy's 596/599, or a gateway's 502-504).
    #[error(
        "{method} {path}: no answer ({message}); the request may or may not have been carried out"
    )]
    NoAnswer {
        method: String,
        path: String,
        message: String,
    },
    /// PVE could not start the worker of a create ("got no worker upid -
    /// start worker failed", pve-common `PVE::RESTEnvironment::fork_worker`).
    #[error("{message}{}", stub_note(*.vmid, .node, *.stub))]
    WorkerStartFailed {
        node: String,
        vmid: i64,
        message: String,
        stub: Stub,
    },
}

/// What a create whose worker could not be started left behind: qemu-server
/// `create_vm` writes the VM's config (`lock: create`) with
/// `create_and_lock_config` before `fork_worker`, and only the worker
/// removes it on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stub {
    /// No config was found under the VMID.
    None,
    /// The `lock: create` config was found and removed (root@pam, `skiplock`).
    Removed,
    /// The `lock: create` config is still there: removing a locked VM needs
    /// `skiplock`, which only root@pam may use (qemu-server `destroy_vm`:
    /// "Only root may use this option."); API tokens never may.
    Left,
    /// The config was found, but removing it failed.
    RemoveFailed,
}

fn stub_note(vmid: i64, node: &str, stub: Stub) -> String {
    match stub {
        Stub::None => format!(
            "; Proxmox VE could not start the task that creates VM {vmid}, and nothing was created"
        ),
        Stub::Removed => format!(
            "; Proxmox VE could not start the task that creates VM {vmid}; the empty config \
             (lock: create) it had already written on node {node} was removed"
        ),
        Stub::Left | Stub::RemoveFailed => format!(
            "; Proxmox VE could not start the task that creates VM {vmid}, but it had already \
             written an empty config locked `create` for VM {vmid} on node {node}, which is left \
             behind and keeps VMID {vmid} taken. Removing a locked VM needs `skiplock`, which only \
             root@pam may use (an API token never can): as root, run `qm destroy {vmid} \
             --skiplock 1` on {node}, or DELETE /nodes/{node}/qemu/{vmid}?skiplock=1 with a \
             root@pam ticket"
        ),
    }
}

fn fmt_errors(e: &BTreeMap<String, String>) -> String {
    if e.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = e
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.trim()))
        .collect();
    format!(" ({})", parts.join("; "))
}

fn fmt_log(log: &[String]) -> String {
    if log.is_empty() {
        return String::new();
    }
    format!("\ntask log (last lines):\n  {}", log.join("\n  "))
}

fn is_lock_text(m: &str) -> bool {
    let l = m.to_ascii_lowercase();
    l.contains("can't lock file") || l.contains("got timeout") || l.contains("vm is locked")
}

/// pve-common `PVE::RESTEnvironment::fork_worker`: "got no worker upid -
/// start worker failed", "starting worker failed: …", "got strange worker upid".
fn is_worker_start_text(m: &str) -> bool {
    let l = m.to_ascii_lowercase();
    l.contains("got no worker upid")
        || l.contains("starting worker failed")
        || l.contains("start worker failed")
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }
    pub fn is_already_exists(&self) -> bool {
        match self {
            ApiError::AlreadyExists { .. } => true,
            ApiError::Param { errors, .. } => errors.values().any(|v| v.contains("already exists")),
            ApiError::Task { exitstatus, .. } => exitstatus.contains("already exists"),
            _ => false,
        }
    }
    /// Lock contention worth retrying.
    pub fn is_locked(&self) -> bool {
        match self {
            ApiError::Locked { .. } => true,
            ApiError::Task { exitstatus, .. } => is_lock_text(exitstatus),
            _ => false,
        }
    }
    /// PVE could not start a worker ("got no worker upid"): nothing the
    /// worker would have done happened, but what the API handler did before
    /// forking did (a create's `lock: create` config).
    pub fn is_worker_start_failure(&self) -> bool {
        match self {
            ApiError::Api { message, .. } => is_worker_start_text(message),
            _ => false,
        }
    }
    /// Worth another attempt after a pause ([`Client::retry_locked`]).
    pub fn is_transient(&self) -> bool {
        self.is_locked() || self.is_worker_start_failure()
    }
    /// The answer was lost: the request may have been carried out.
    pub fn is_no_answer(&self) -> bool {
        matches!(self, ApiError::NoAnswer { .. } | ApiError::Transport(_))
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Conflict { .. })
    }
    /// The wait was given up (stop requested or deadline passed); the
    /// operation may still complete on the server.
    pub fn is_abandoned(&self) -> bool {
        matches!(
            self,
            ApiError::Cancelled { .. } | ApiError::TaskTimeout { .. }
        )
    }
    /// The server's message, for matching.
    pub fn message(&self) -> String {
        match self {
            ApiError::NotFound { message, .. }
            | ApiError::AlreadyExists { message, .. }
            | ApiError::Locked { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::Param { message, .. }
            | ApiError::Api { message, .. }
            | ApiError::Auth { message, .. }
            | ApiError::Permission { message, .. }
            | ApiError::NoAnswer { message, .. }
            | ApiError::WorkerStartFailed { message, .. } => message.clone(),
            ApiError::Task { exitstatus, .. } => exitstatus.clone(),
            other => other.to_string(),
        }
    }
}

/// Sort an error answer into a kind.
pub(crate) fn classify(
    method: &str,
    path: &str,
    status: u16,
    message: String,
    errors: BTreeMap<String, String>,
) -> ApiError {
    let (method, path) = (method.to_string(), path.to_string());
    let lower = message.to_ascii_lowercase();
    match status {
        401 => ApiError::Auth {
            method,
            path,
            message,
        },
        403 => {
            // "Permission check failed (/vms/100, VM.Allocate)"
            let (acl_path, privilege) = message
                .split_once('(')
                .and_then(|(_, rest)| rest.rsplit_once(')'))
                .and_then(|(inner, _)| inner.split_once(','))
                .map(|(p, v)| (p.trim().to_string(), v.trim().to_string()))
                .unwrap_or_else(|| ("(not stated)".into(), "(not stated)".into()));
            ApiError::Permission {
                method,
                path,
                privilege,
                acl_path,
                message,
            }
        }
        404 => ApiError::NotFound {
            method,
            path,
            message,
        },
        400 => {
            let all = format!("{lower} {}", fmt_errors(&errors).to_ascii_lowercase());
            if all.contains("already exists") {
                ApiError::AlreadyExists {
                    method,
                    path,
                    message: format!("{message}{}", fmt_errors(&errors)),
                }
            } else {
                ApiError::Param {
                    method,
                    path,
                    message,
                    errors,
                }
            }
        }
        _ if lower.contains("checksum mismatch")
            || lower.contains("file changed by other user") =>
        {
            ApiError::Conflict {
                method,
                path,
                message,
            }
        }
        _ if lower.contains("does not exist")
            || lower.contains("no such vm")
            || lower.contains("no such resource")
            || lower.contains("no such file or directory") =>
        {
            ApiError::NotFound {
                method,
                path,
                message,
            }
        }
        _ if lower.contains("already exists") => ApiError::AlreadyExists {
            method,
            path,
            message,
        },
        _ if is_lock_text(&lower) => ApiError::Locked {
            method,
            path,
            message,
        },
        _ => ApiError::Api {
            method,
            path,
            status,
            message,
        },
    }
}

/// A percent-encoded path segment (volume ids and UPIDs carry `:` `/` `@` `!`).
pub fn enc(s: &str) -> String {
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

/// The node a UPID belongs to: `UPID:<node>:…`.
pub fn upid_node(upid: &str) -> Option<&str> {
    let mut it = upid.split(':');
    (it.next()? == "UPID").then_some(())?;
    it.next().filter(|n| !n.is_empty())
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
    // `vm_config`, `resources::vm::fill`, `diff`, the data sources.
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
    // `volume`, `resources::download_file`.
    (
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        &[&["volid"], &["size"]],
    ),
    // The PVE schema documents only `result`; what it holds is QEMU's
    // `guest-network-get-interfaces` answer (qemu `qga/qapi-schema.json`:
    // `GuestNetworkInterface` `name`, `ip-addresses`, `GuestIpAddress`
    // `ip-address`), which `resources::vm::agent_ips` reads.
    (
        "GET",
        "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
        &[&["result"]],
    ),
];

/// A VM configuration: keys to textual values, plus its digest.
#[derive(Debug, Clone, Default)]
pub struct VmConfig {
    pub keys: BTreeMap<String, String>,
    pub digest: Option<String>,
}

impl VmConfig {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.keys.get(k).map(String::as_str)
    }
}

/// `GET …/status/current`, the parts we use.
#[derive(Debug, Clone, Default)]
pub struct VmStatus {
    pub status: String,
    pub lock: Option<String>,
    pub name: Option<String>,
}

/// One VM from `/cluster/resources?type=vm` (every field listed in
/// [`RESPONSE_FIELDS`]; `Serialize` lets a test enumerate them).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ClusterVm {
    #[serde(default)]
    pub vmid: Value,
    #[serde(default)]
    pub node: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub template: Value,
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
}

impl ClusterVm {
    pub fn id(&self) -> Option<i64> {
        num(&self.vmid)
    }
    pub fn is_template(&self) -> bool {
        num(&self.template) == Some(1)
    }
}

/// One node from `/nodes` (every field listed in [`RESPONSE_FIELDS`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NodeInfo {
    pub node: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub maxcpu: Value,
    #[serde(default)]
    pub maxmem: Value,
}

#[derive(Debug, Clone)]
struct Ticket {
    ticket: Secret,
    csrf: Secret,
    at: Instant,
}

type Cached<T> = tokio::sync::Mutex<Option<(Instant, Arc<T>)>>;

/// A clone gate: shared until the source shows lock contention, then exclusive.
#[derive(Debug)]
struct Gate {
    sem: Arc<Semaphore>,
    exclusive: std::sync::atomic::AtomicBool,
}

/// The Proxmox VE API client.
#[derive(Debug)]
pub struct Client {
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
    /// How long [`Client::wait_task`] waits before giving up.
    pub task_timeout: Duration,
    /// The first pause before a request is resent; it doubles each time.
    pub retry_delay: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sleep for `d`, unless Terraform asks to stop first.
pub async fn pause(stop: &StopSignal, d: Duration, what: &str) -> Result<(), ApiError> {
    tokio::select! {
        () = tokio::time::sleep(d) => Ok(()),
        () = stop.stopped() => Err(ApiError::Cancelled { what: what.to_string() }),
    }
}

/// A small pseudo-random jitter (no RNG dependency).
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let frac = f64::from(nanos % 1000) / 1000.0;
    max.mul_f64(frac)
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
pub type Form = Vec<(String, String)>;

impl Client {
    pub fn new(settings: Settings) -> Result<Self, labforge_http::ClientError> {
        let http = http::client(
            &TlsSettings {
                ca_cert: settings.ca_cert.clone(),
                insecure: settings.insecure,
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
        .map_err(|e| ApiError::Transport(e.to_string()))?;
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
    pub async fn call(
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
                Err(HttpError::Transport { message, .. }) => {
                    // A connection that was never made carried no request.
                    let unsent = message.starts_with("could not connect");
                    if (is_get || unsent)
                        && let Some(d) = retry(&mut attempt)
                    {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    if unsent || is_get {
                        return Err(ApiError::Transport(format!("{m} {path}: {message}")));
                    }
                    return Err(ApiError::NoAnswer {
                        method: m,
                        path: path.to_string(),
                        message,
                    });
                }
            };
            let status = resp.status();
            let code = status.as_u16();
            let reason = status.canonical_reason().unwrap_or("").to_string();
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) if is_get => {
                    if let Some(d) = retry(&mut attempt) {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(ApiError::Transport(format!(
                        "{m} {path}: reading the answer failed: {e}"
                    )));
                }
                Err(e) => {
                    return Err(ApiError::NoAnswer {
                        method: m,
                        path: path.to_string(),
                        message: format!("reading the answer failed: {e}"),
                    });
                }
            };
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(body.get("data").cloned().unwrap_or(Value::Null));
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

    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, ApiError> {
        self.call(reqwest::Method::GET, path, query).await
    }
    pub async fn post(&self, path: &str, form: &[(String, String)]) -> Result<Value, ApiError> {
        self.call(reqwest::Method::POST, path, form).await
    }
    pub async fn put(&self, path: &str, form: &[(String, String)]) -> Result<Value, ApiError> {
        self.call(reqwest::Method::PUT, path, form).await
    }
    pub async fn delete(&self, path: &str, query: &[(String, String)]) -> Result<Value, ApiError> {
        self.call(reqwest::Method::DELETE, path, query).await
    }

    /// Poll a task to completion. `Ok(warnings)` on `OK` / `WARNINGS: n`.
    /// Gives up with [`ApiError::Cancelled`] as soon as `stop` fires, and
    /// with [`ApiError::TaskTimeout`] after [`Client::task_timeout`].
    pub async fn wait_task(&self, stop: &StopSignal, upid: &str) -> Result<u32, ApiError> {
        let node = upid_node(upid).ok_or_else(|| ApiError::Decode {
            path: "task".into(),
            message: format!("{upid:?} is not a UPID"),
        })?;
        let path = format!("/nodes/{}/tasks/{}/status", enc(node), enc(upid));
        let started = Instant::now();
        let mut interval = self.poll.0;
        loop {
            if stop.is_stopped() {
                return Err(ApiError::Cancelled {
                    what: format!("waiting for task {upid}"),
                });
            }
            match self.get(&path, &[]).await {
                Ok(st) => {
                    let status = st.get("status").and_then(Value::as_str).unwrap_or("");
                    if status == "stopped" {
                        let exit = st
                            .get("exitstatus")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown")
                            .to_string();
                        if exit == "OK" {
                            return Ok(0);
                        }
                        if let Some(n) = exit.strip_prefix("WARNINGS:") {
                            return Ok(n.trim().parse().unwrap_or(1));
                        }
                        let log = self.task_log(node, upid).await;
                        return Err(ApiError::Task {
                            upid: upid.to_string(),
                            exitstatus: exit,
                            log,
                        });
                    }
                }
                // A fresh task may not be visible yet.
                Err(ApiError::Param { .. }) | Err(ApiError::NotFound { .. })
                    if started.elapsed() < TASK_GRACE => {}
                Err(e) => return Err(e),
            }
            let waited = started.elapsed();
            if waited >= self.task_timeout {
                return Err(ApiError::TaskTimeout {
                    upid: upid.to_string(),
                    waited,
                });
            }
            let nap = interval.min(self.task_timeout - waited);
            pause(stop, nap, &format!("waiting for task {upid}")).await?;
            interval = (interval.mul_f64(1.5)).min(self.poll.1);
        }
    }

    /// The last lines of a task's log (best effort).
    async fn task_log(&self, node: &str, upid: &str) -> Vec<String> {
        let path = format!("/nodes/{}/tasks/{}/log", enc(node), enc(upid));
        let q = vec![
            ("start".to_string(), "0".to_string()),
            ("limit".to_string(), "1000".to_string()),
        ];
        let Ok(Value::Array(lines)) = self.get(&path, &q).await else {
            return Vec::new();
        };
        let all: Vec<String> = lines
            .iter()
            .filter_map(|l| l.get("t").and_then(Value::as_str).map(str::to_string))
            .collect();
        let skip = all.len().saturating_sub(20);
        all.into_iter().skip(skip).collect()
    }

    /// Call, and wait for the task if the answer is a UPID.
    pub async fn run(
        &self,
        stop: &StopSignal,
        method: reqwest::Method,
        path: &str,
        params: &[(String, String)],
    ) -> Result<(), ApiError> {
        let data = self.call(method, path, params).await?;
        if let Some(upid) = data.as_str().filter(|s| s.starts_with("UPID:")) {
            self.wait_task(stop, upid).await?;
        }
        Ok(())
    }

    /// Retry `op` while it fails with a lock error or a worker that could
    /// not be started (jittered backoff, ~3 minutes). Once `stop` fires,
    /// starts no further attempt.
    pub async fn retry_locked<T, F, Fut>(&self, stop: &StopSignal, mut op: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut delay = Duration::from_millis(200);
        loop {
            if stop.is_stopped() {
                return Err(ApiError::Cancelled {
                    what: "sending the next request".into(),
                });
            }
            match op().await {
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    tracing::debug!(error = %e, ?delay, "lock contention; retrying");
                    pause(
                        stop,
                        delay + jitter(delay),
                        "retrying after lock contention",
                    )
                    .await?;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// Run `op(vmid)` with a VMID no one else in this process holds; on
    /// "already exists" (another client won), try the next free one.
    pub async fn allocate_vmid<T, F, Fut>(&self, mut op: F) -> Result<(i64, T), ApiError>
    where
        F: FnMut(i64) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut skip: BTreeSet<i64> = BTreeSet::new();
        for _ in 0..32 {
            let id = {
                let _g = self.alloc.lock().await;
                let next = self.get("/cluster/nextid", &[]).await?;
                let mut id = num(&next).ok_or_else(|| ApiError::Decode {
                    path: "/cluster/nextid".into(),
                    message: format!("{next} is not a VMID"),
                })?;
                let mut r = lock(&self.reserved);
                while r.contains(&id) || skip.contains(&id) {
                    id += 1;
                }
                r.insert(id);
                id
            };
            let out = op(id).await;
            lock(&self.reserved).remove(&id);
            match out {
                Ok(t) => return Ok((id, t)),
                Err(e) if e.is_already_exists() => {
                    tracing::debug!(id, "VMID taken meanwhile; trying the next");
                    skip.insert(id);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::Decode {
            path: "/cluster/nextid".into(),
            message: "no free VMID after 32 attempts".into(),
        })
    }

    /// Enter the clone gate of `source` (held for the whole clone).
    pub async fn clone_gate(&self, source: i64) -> Option<OwnedSemaphorePermit> {
        let gate = {
            let mut g = lock(&self.gates);
            g.entry(source)
                .or_insert_with(|| {
                    Arc::new(Gate {
                        sem: Arc::new(Semaphore::new(GATE_PERMITS as usize)),
                        exclusive: std::sync::atomic::AtomicBool::new(false),
                    })
                })
                .clone()
        };
        let n = if gate.exclusive.load(std::sync::atomic::Ordering::Relaxed) {
            GATE_PERMITS
        } else {
            1
        };
        // The semaphore is never closed, so this is always `Some`.
        gate.sem.clone().acquire_many_owned(n).await.ok()
    }

    /// The source of a clone showed lock contention: clone it one at a time.
    pub fn clone_contention(&self, source: i64) {
        if let Some(g) = lock(&self.gates).get(&source) {
            g.exclusive
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A VM's configuration (pending values applied), or `None` if it is gone.
    pub async fn vm_config(&self, node: &str, vmid: i64) -> Result<Option<VmConfig>, ApiError> {
        let path = format!("/nodes/{}/qemu/{vmid}/config", enc(node));
        match self.get(&path, &[]).await {
            Ok(Value::Object(o)) => {
                let mut keys = BTreeMap::new();
                let mut digest = None;
                for (k, v) in o {
                    if k == "digest" {
                        digest = v.as_str().map(str::to_string);
                    } else if let Some(t) = text(&v) {
                        keys.insert(k, t);
                    }
                }
                Ok(Some(VmConfig { keys, digest }))
            }
            Ok(other) => Err(ApiError::Decode {
                path,
                message: format!("expected an object, got {other}"),
            }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A VM's run state, or `None` if it is gone.
    pub async fn vm_status(&self, node: &str, vmid: i64) -> Result<Option<VmStatus>, ApiError> {
        let path = format!("/nodes/{}/qemu/{vmid}/status/current", enc(node));
        match self.get(&path, &[]).await {
            Ok(v) => Ok(Some(VmStatus {
                status: v
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                lock: v.get("lock").and_then(text),
                name: v.get("name").and_then(text),
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pending changes: keys whose new value waits for a restart.
    pub async fn vm_pending(&self, node: &str, vmid: i64) -> Result<Vec<String>, ApiError> {
        let path = format!("/nodes/{}/qemu/{vmid}/pending", enc(node));
        let v = self.get(&path, &[]).await?;
        let mut out = Vec::new();
        for item in v.as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(key) = item.get("key").and_then(Value::as_str) else {
                continue;
            };
            if key == "digest" {
                continue;
            }
            let pending = item.get("pending").is_some_and(|p| !p.is_null());
            let delete = item.get("delete").and_then(num).unwrap_or(0) > 0;
            if pending || delete {
                out.push(key.to_string());
            }
        }
        Ok(out)
    }

    /// Cluster nodes, read once per provider process (one Terraform
    /// command): plans check `node` against it.
    pub async fn nodes(&self) -> Result<Arc<Vec<NodeInfo>>, ApiError> {
        let mut c = self.nodes.lock().await;
        if let Some((_, v)) = c.as_ref() {
            return Ok(v.clone());
        }
        let v = self.get("/nodes", &[]).await?;
        let list: Vec<NodeInfo> = serde_json::from_value(v).map_err(|e| ApiError::Decode {
            path: "/nodes".into(),
            message: e.to_string(),
        })?;
        let list = Arc::new(list);
        *c = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Every VM in the cluster (cached; may lag behind reality).
    pub async fn cluster_vms(&self) -> Result<Arc<Vec<ClusterVm>>, ApiError> {
        let mut c = self.cluster_vms.lock().await;
        if let Some((at, v)) = c.as_ref()
            && at.elapsed() < LIST_TTL
        {
            return Ok(v.clone());
        }
        let q = vec![("type".to_string(), "vm".to_string())];
        let v = self.get("/cluster/resources", &q).await?;
        let list: Vec<ClusterVm> = serde_json::from_value(v).map_err(|e| ApiError::Decode {
            path: "/cluster/resources".into(),
            message: e.to_string(),
        })?;
        let list: Vec<ClusterVm> = list.into_iter().filter(|r| r.kind == "qemu").collect();
        let list = Arc::new(list);
        *c = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Whether the API user is root@pam (ticket login): only root may use
    /// `skiplock` (qemu-server `destroy_vm`: "Only root may use this
    /// option."); an API token never is root, whoever owns it.
    pub fn is_root(&self) -> bool {
        matches!(&self.settings.auth, Auth::Login { username, .. } if username == "root@pam")
    }

    /// Every VM in the cluster, read now (not from the cache).
    pub async fn cluster_vms_now(&self) -> Result<Arc<Vec<ClusterVm>>, ApiError> {
        *self.cluster_vms.lock().await = None;
        self.cluster_vms().await
    }

    /// Where VM `vmid` is, and its config: first on each of `nodes` (in
    /// order), then on the node `/cluster/resources` names. `None`: on none
    /// of them. Proxmox VE keeps a VM's config on one node, and not always
    /// the one a request named: during a clone to another node the new VM's
    /// config is written on the SOURCE node and renamed into the target
    /// node's directory only when the task ends (qemu-server
    /// `PVE/API2/Qemu.pm` clone_vm: `config_file($newid)` on the local
    /// node, `rename($conffile, $newconffile)` last).
    pub async fn find_vm(
        &self,
        vmid: i64,
        nodes: &[&str],
    ) -> Result<Option<(String, VmConfig)>, ApiError> {
        let mut tried = Vec::new();
        for n in nodes {
            if tried.contains(n) {
                continue;
            }
            tried.push(*n);
            if let Some(cfg) = self.vm_config(n, vmid).await? {
                return Ok(Some((n.to_string(), cfg)));
            }
        }
        let list = self.cluster_vms_now().await?;
        let Some(row) = list.iter().find(|v| v.id() == Some(vmid)) else {
            return Ok(None);
        };
        if tried.contains(&row.node.as_str()) {
            return Ok(None);
        }
        Ok(self
            .vm_config(&row.node, vmid)
            .await?
            .map(|cfg| (row.node.clone(), cfg)))
    }

    /// Forget cached lists (after a change).
    pub async fn invalidate(&self) {
        *self.cluster_vms.lock().await = None;
    }

    /// A storage volume (from the storage's content list), or `None` if it
    /// (or the storage) is gone.
    pub async fn volume(
        &self,
        node: &str,
        storage: &str,
        volid: &str,
    ) -> Result<Option<Value>, ApiError> {
        let path = format!("/nodes/{}/storage/{}/content", enc(node), enc(storage));
        let mut q = Vec::new();
        if let Some((content, _)) = volid.split_once(':').and_then(|(_, r)| r.split_once('/')) {
            q.push(("content".to_string(), content.to_string()));
        }
        match self.get(&path, &q).await {
            Ok(Value::Array(items)) => Ok(items
                .into_iter()
                .find(|v| v.get("volid").and_then(Value::as_str) == Some(volid))),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `classify` for an answer without per-parameter errors.
    fn plain(method: &str, path: &str, status: u16, message: &str) -> ApiError {
        classify(method, path, status, message.into(), BTreeMap::new())
    }

    #[test]
    fn classifies_pve_errors() {
        let e = plain(
            "GET",
            "/nodes/pve/qemu/100/config",
            500,
            "Configuration file 'nodes/pve/qemu-server/100.conf' does not exist",
        );
        assert!(e.is_not_found());
        let e = plain(
            "POST",
            "/x",
            500,
            "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout",
        );
        assert!(e.is_locked());
        let e = plain("PUT", "/x", 500, "VM is locked (clone)");
        assert!(e.is_locked());
        let e = plain(
            "PUT",
            "/x",
            500,
            "checksum mismatch (file change by other user?)",
        );
        assert!(e.is_conflict());
        let e = plain(
            "POST",
            "/x",
            500,
            "unable to create VM 100 - VM 100 already exists on node 'pve'",
        );
        assert!(e.is_already_exists());
        let e = classify(
            "GET",
            "/cluster/nextid",
            400,
            "Parameter verification failed.".into(),
            BTreeMap::from([("vmid".to_string(), "VM 100 already exists".to_string())]),
        );
        assert!(e.is_already_exists());
        let e = plain(
            "POST",
            "/nodes/pve/qemu",
            403,
            "Permission check failed (/vms/100, VM.Allocate)",
        );
        let s = e.to_string();
        assert!(s.contains("VM.Allocate") && s.contains("/vms/100"), "{s}");
    }

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

    /// A server that answers every request with `{"data":{"status":"running"}}`.
    async fn forever_running() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let body = r#"{"data":{"status":"running"}}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}/")
    }

    fn client_for(endpoint: String) -> Client {
        Client::new(Settings {
            endpoint,
            auth: Auth::Token("root@pam!t=00000000-0000-0000-0000-000000000000".into()),
            ca_cert: None,
            insecure: false,
        })
        .expect("client")
    }

    const UPID: &str = "UPID:pve:00000ACD:00006AE8:679A423B:qmclone:112:root@pam:";

    #[tokio::test]
    async fn wait_task_returns_promptly_when_terraform_stops() {
        let c = client_for(forever_running().await);
        let (trigger, stop) = labforge_framework::context::StopTrigger::new();
        let started = Instant::now();
        let waiting = c.wait_task(&stop, UPID);
        let stopping = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.stop();
        };
        let (r, ()) = tokio::join!(waiting, stopping);
        let e = r.expect_err("a stopped wait fails");
        assert!(matches!(e, ApiError::Cancelled { .. }), "{e:?}");
        assert!(e.is_abandoned());
        assert!(e.to_string().contains(UPID), "{e}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn wait_task_gives_up_after_its_deadline() {
        let mut c = client_for(forever_running().await);
        c.task_timeout = Duration::from_millis(400);
        let e = c
            .wait_task(&StopSignal::never(), UPID)
            .await
            .expect_err("a task that never ends times out");
        assert!(matches!(e, ApiError::TaskTimeout { .. }), "{e:?}");
        assert!(e.to_string().contains(UPID), "{e}");
    }

    #[tokio::test]
    async fn retry_locked_sends_nothing_once_stopped() {
        let c = client_for("http://127.0.0.1:9/".into());
        let (trigger, stop) = labforge_framework::context::StopTrigger::new();
        trigger.stop();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let r: Result<(), ApiError> = c
            .retry_locked(&stop, || async {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })
            .await;
        assert!(matches!(r, Err(ApiError::Cancelled { .. })), "{r:?}");
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A client of a simulator that runs 20 times faster than PVE.
    fn sim_client() -> (labforge_simulators::proxmox::ProxmoxSim, Client) {
        use labforge_simulators::proxmox::{ADMIN_TOKEN, ProxmoxSim};
        let sim = ProxmoxSim::start().expect("simulator");
        sim.set_time_factor(0.05);
        let mut c = Client::new(Settings {
            endpoint: sim.base_url(),
            auth: Auth::Token(ADMIN_TOKEN.into()),
            ca_cert: None,
            insecure: false,
        })
        .expect("client");
        c.retry_delay = Duration::from_millis(10);
        c.poll = (Duration::from_millis(10), Duration::from_millis(50));
        (sim, c)
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

    /// One 500 on a task-status poll does not abort the wait: a GET is a
    /// safe read, resent after a server-side failure.
    #[tokio::test]
    async fn a_failed_task_poll_is_read_again() {
        use labforge_simulators::common::Fault;
        let (sim, c) = sim_client();
        let upid = c
            .post("/nodes/pve1/qemu", &form(&[("vmid", "150")]))
            .await
            .expect("create");
        let upid = upid.as_str().expect("a UPID").to_string();
        let status = "/api2/json/nodes/{node}/tasks/{upid}/status";
        sim.faults().inject("GET", status, Fault::Status(500), 2);
        c.wait_task(&StopSignal::never(), &upid)
            .await
            .expect("the task finishes although two polls failed");
        assert_eq!(sim.faults().pending(), 0);
        assert!(sim.counters().get("GET", status) >= 3);
        // A 500 that is an answer about the object is not retried.
        let before = sim
            .counters()
            .get("GET", "/api2/json/nodes/{node}/qemu/{vmid}/config");
        assert!(c.vm_config("pve1", 999).await.expect("a read").is_none());
        let after = sim
            .counters()
            .get("GET", "/api2/json/nodes/{node}/qemu/{vmid}/config");
        assert_eq!(after - before, 1, "\"does not exist\" is read once");
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

    /// `find_vm` finds a VM whose config is not on the node asked: during a
    /// clone to another node it is on the source node.
    #[tokio::test]
    async fn find_vm_looks_where_proxmox_keeps_the_config() {
        use labforge_simulators::proxmox::SHARED_STORAGE;
        let (sim, c) = sim_client();
        sim.set_task_duration("qmclone", Duration::from_secs(20));
        sim.insert_vm(
            800,
            "pve1",
            &[
                ("template", "1"),
                (
                    "scsi0",
                    &format!("{SHARED_STORAGE}:base-800-disk-0,size=2G"),
                ),
            ],
        );
        let upid = c
            .post(
                "/nodes/pve1/qemu/800/clone",
                &form(&[("newid", "801"), ("target", "pve2"), ("full", "1")]),
            )
            .await
            .expect("clone");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (node, cfg) = c
            .find_vm(801, &["pve2"])
            .await
            .expect("a read")
            .expect("found during the clone");
        assert_eq!(node, "pve1");
        assert_eq!(cfg.get("lock"), Some("clone"));
        c.wait_task(&StopSignal::never(), upid.as_str().expect("UPID"))
            .await
            .expect("clone");
        let (node, cfg) = c
            .find_vm(801, &["pve2"])
            .await
            .expect("a read")
            .expect("found");
        assert_eq!(node, "pve2");
        assert_eq!(cfg.get("lock"), None);
        assert!(
            c.find_vm(802, &["pve1", "pve2"])
                .await
                .expect("a read")
                .is_none()
        );
    }

    #[test]
    fn worker_start_failures_are_transient_but_not_locks() {
        let e = plain(
            "POST",
            "/x",
            500,
            "got no worker upid - start worker failed",
        );
        assert!(e.is_worker_start_failure() && e.is_transient() && !e.is_locked());
        let e = ApiError::WorkerStartFailed {
            node: "pve1".into(),
            vmid: 104,
            message: "got no worker upid - start worker failed".into(),
            stub: Stub::Left,
        };
        assert!(!e.is_transient());
        let s = e.to_string();
        assert!(
            s.contains("VM 104") && s.contains("skiplock") && s.contains("pve1"),
            "{s}"
        );
    }

    #[test]
    fn task_errors_carry_the_log() {
        let e = ApiError::Task {
            upid: "UPID:pve:1:2:3:qmclone:100:root@pam:".into(),
            exitstatus: "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout".into(),
            log: vec!["TASK ERROR: clone failed".into()],
        };
        assert!(e.is_locked());
        assert!(e.to_string().contains("TASK ERROR"));
    }
}

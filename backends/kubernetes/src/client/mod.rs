//! A small typed Kubernetes API client on the shared HTTP layer.
//!
//! Only what the resources need: `GET` (of an object, and of a namespace's
//! objects for plan-time checks), server-side apply (`PATCH` with
//! `Content-Type: application/apply-patch+yaml`; a JSON body is valid YAML)
//! with a fixed field manager ([`FIELD_MANAGER`]), and `DELETE`. Failures
//! are the apiserver's `Status` objects ([`Status`]), kept whole so that a
//! server-side apply conflict (409, `reason: Conflict`, one
//! `details.causes[]` entry of type `FieldManagerConflict` per field) can be
//! reported with the managers and fields it names.
//!
//! Transient failures (429, 5xx, resets) are retried with backoff,
//! honouring `Retry-After`, except a 500 that is an answer: server-side
//! apply of a field the cluster's CRD does not declare fails with HTTP 500
//! and no `reason`, `failed to create typed patch object (<ns>/<name>;
//! <group>/<version>, Kind=<Kind>): .spec.foo: field not declared in
//! schema` (kubernetes `staging/src/k8s.io/apimachinery/pkg/util/
//! managedfields/internal/structuredmerge.go` `Apply`;
//! kubernetes/kubernetes#139253), every time: it is reported at once
//! ([`ApiError::undeclared_fields`]). On top of that, an admission webhook
//! that cannot be called (HTTP 500 `InternalError`, message `failed calling
//! webhook "…"`, as in the minutes after MetalLB is installed:
//! metallb/metallb#1540, #1597, #2566) is retried with a longer backoff,
//! up to [`Settings::webhook_wait`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use labforge_http::{
    self as http, ApiErrorKind, ErrorKind, HttpError, RetryPolicy, Secret, TlsSettings,
};

/// The field manager of every apply (`?fieldManager=`).
pub const FIELD_MANAGER: &str = "labforge-homelab";

/// How to reach and authenticate to the apiserver.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `https://host:6443` (no trailing slash).
    pub host: String,
    /// Bearer token, if any.
    pub token: Option<Secret>,
    /// PEM CA certificate(s) of the cluster.
    pub ca_cert: Option<String>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// Client certificate and key (PEM), for mutual TLS.
    pub client_identity: Option<http::ClientIdentity>,
    /// How long to keep retrying an unreachable admission webhook.
    pub webhook_wait: Duration,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer (connection, TLS, timeout) after retries.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The apiserver answered with a `Status` failure.
    #[error("{method} {path}: HTTP {code}: {}", .status.describe())]
    Status {
        /// The request's method.
        method: &'static str,
        /// The request's path.
        path: String,
        /// The HTTP status.
        code: u16,
        /// The `Status` object (or one made from a non-Status body).
        status: Box<Status>,
    },
    /// The body is not what the API documents.
    #[error("{path}: unexpected response: {message}")]
    Decode {
        /// The request's path.
        path: String,
        /// What could not be read.
        message: String,
    },
}

impl ApiError {
    fn status(&self) -> Option<(&Status, u16)> {
        match self {
            ApiError::Status { status, code, .. } => Some((status, *code)),
            _ => None,
        }
    }
    /// A server-side apply conflict with other field managers (409,
    /// `reason: Conflict`; a stale `resourceVersion` is one too).
    pub fn is_apply_conflict(&self) -> bool {
        self.status()
            .is_some_and(|(s, c)| c == 409 && s.reason.as_deref() == Some("Conflict"))
    }
    /// The HTTP status code, if the server answered.
    pub fn code(&self) -> Option<u16> {
        self.status().map(|(_, c)| c)
    }
    /// The conflicts of a server-side apply 409, from the documented
    /// `details.causes[]` (`reason: FieldManagerConflict`, `field`,
    /// `message`), never from the summary message's layout.
    pub fn conflicts(&self) -> Vec<FieldConflict> {
        self.status()
            .and_then(|(s, _)| s.details.as_ref())
            .map(|d| {
                d.causes
                    .iter()
                    .filter(|c| c.cause_type.as_deref() == Some("FieldManagerConflict"))
                    .map(|c| FieldConflict::from_cause(c.message.as_deref(), c.field.as_deref()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A server-side apply the apiserver could not type against the
    /// cluster's schema of the kind (HTTP 500 without `reason`, `failed to
    /// create typed patch object (…): …`). The same body fails the same
    /// way every time: not transient.
    pub fn is_schema_mismatch(&self) -> bool {
        self.status().is_some_and(|(s, c)| {
            c == 500
                && s.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with(TYPED_PATCH_FAILED))
        })
    }

    /// The fields of a schema mismatch the cluster's CRD does not declare,
    /// e.g. `.spec.serviceAllocation` (structured-merge-diff's
    /// `<path>: field not declared in schema`, one error, or `errors:`
    /// followed by one indented line each).
    pub fn undeclared_fields(&self) -> Vec<String> {
        if !self.is_schema_mismatch() {
            return Vec::new();
        }
        let msg = self
            .status()
            .and_then(|(s, _)| s.message.as_deref())
            .unwrap_or("");
        let errors = msg.split_once("): ").map(|(_, e)| e).unwrap_or("");
        errors
            .lines()
            .filter_map(|l| l.trim().strip_suffix(": field not declared in schema"))
            .map(str::to_string)
            .collect()
    }
    /// An admission webhook could not be called (500, "failed calling webhook").
    pub fn is_webhook_unreachable(&self) -> bool {
        self.status().is_some_and(|(s, c)| {
            c == 500
                && s.message
                    .as_deref()
                    .is_some_and(|m| m.contains("failed calling webhook"))
        })
    }
}

/// How structured-merge-diff's failure to type an apply body begins
/// (`structuredmerge.go`).
const TYPED_PATCH_FAILED: &str = "failed to create typed patch object (";

/// One conflict of a server-side apply: who owns which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The other field manager's name, e.g. `helm` or `kubectl-edit`.
    pub manager: String,
    /// What the apiserver says besides the name: empty for an applier;
    /// `using <apiVersion>` for a manager that wrote with an update (a
    /// merge patch, `kubectl edit`, a controller); ` with subresource
    /// "<s>"` first for a subresource's manager.
    pub detail: String,
    /// The field, e.g. `.spec.addresses`.
    pub field: String,
}

impl FieldConflict {
    /// From a `FieldManagerConflict` cause: its `message` is `conflict with
    /// <manager>`, the manager printed by kubernetes
    /// `staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/
    /// conflict.go` `printManager` (`"name"` as Go's `%q`, then ` with
    /// subresource "s"` and ` using <apiVersion>` for an `Update` manager).
    /// A message in another shape is kept whole as the manager.
    pub fn from_cause(message: Option<&str>, field: Option<&str>) -> Self {
        let message = message.unwrap_or_default();
        let field = field.unwrap_or_default().to_string();
        let printed = message.strip_prefix("conflict with ").unwrap_or(message);
        match go_unquote(printed) {
            Some((manager, rest)) => Self {
                manager,
                detail: rest.trim().to_string(),
                field,
            },
            None => Self {
                manager: printed.to_string(),
                detail: String::new(),
                field,
            },
        }
    }

    /// Whether the manager wrote with an update (not server-side apply).
    pub fn is_update(&self) -> bool {
        self.detail.contains("using ")
    }
}

/// A leading Go `%q` string (`"…"` with backslash escapes) and the rest.
fn go_unquote(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

impl ApiErrorKind for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Http(e) => e.api_kind(),
            ApiError::Decode { .. } => ErrorKind::Decode,
            ApiError::Status { code, status, .. } => match (*code, status.reason.as_deref()) {
                (409, Some("AlreadyExists")) => ErrorKind::AlreadyExists,
                // The body does not fit the cluster's schema of the kind.
                (500, _) if self.is_schema_mismatch() => ErrorKind::Invalid,
                // An admission webhook not answering yet (MetalLB just installed).
                (500, _) if self.is_webhook_unreachable() => ErrorKind::Unavailable,
                (c, _) => ErrorKind::from_status(c),
            },
        }
    }
}

/// The apiserver's `Status` object (meta/v1), the parts read here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Human-readable message.
    pub message: Option<String>,
    /// Machine-readable reason (`NotFound`, `Conflict`, `Invalid`, ...).
    pub reason: Option<String>,
    /// Details: the object named, and causes.
    pub details: Option<StatusDetails>,
}

/// `Status.details`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// The object's name, when the failure is about one object.
    pub name: Option<String>,
    /// The resource kind (plural), e.g. `ipaddresspools`.
    pub kind: Option<String>,
    /// Field-level causes.
    #[serde(default)]
    pub causes: Vec<StatusCause>,
}

/// `Status.details.causes[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    /// E.g. `FieldManagerConflict`, `FieldValueInvalid`.
    #[serde(rename = "reason")]
    pub cause_type: Option<String>,
    /// What is wrong.
    pub message: Option<String>,
    /// The field, e.g. `.spec.addresses` or `spec.addresses[0]`.
    pub field: Option<String>,
}

impl Status {
    /// The message, with the causes' fields appended.
    pub fn describe(&self) -> String {
        let mut s = self
            .message
            .clone()
            .unwrap_or_else(|| "(no message)".into());
        if let Some(d) = &self.details {
            for c in &d.causes {
                if let (Some(f), Some(m)) = (&c.field, &c.message)
                    && !s.contains(m.as_str())
                {
                    s.push_str(&format!("; {f}: {m}"));
                }
            }
        }
        s
    }
}

/// `metadata.managedFields[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFields {
    /// The field manager.
    #[serde(default)]
    pub manager: String,
    /// `Apply` or `Update`.
    #[serde(default)]
    pub operation: String,
    /// The owned fields, in the `FieldsV1` trie format (`{"f:spec": {"f:x": {}}}`).
    #[serde(default, rename = "fieldsV1")]
    pub fields_v1: Value,
}

/// `metadata`, the parts read here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name.
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Opaque version.
    #[serde(default)]
    pub resource_version: Option<String>,
    /// UID.
    #[serde(default)]
    pub uid: Option<String>,
    /// Field ownership.
    #[serde(default)]
    pub managed_fields: Vec<ManagedFields>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The objects this one belongs to (their controller makes and
    /// deletes it; the garbage collector deletes it with them).
    #[serde(default)]
    pub owner_references: Vec<OwnerReference>,
    /// Set once deletion was asked for (finalizers still pending).
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
}

/// `metadata.ownerReferences[]`, the parts read here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's kind, e.g. `Deployment`.
    #[serde(default)]
    pub kind: String,
    /// The owner's name.
    #[serde(default)]
    pub name: String,
    /// Whether the owner is the managing controller.
    #[serde(default)]
    pub controller: Option<bool>,
}

impl ObjectMeta {
    /// Whether `manager` owns the top-level spec field `field` (JSON name).
    pub fn owns(&self, manager: &str, field: &str) -> bool {
        self.managed_fields.iter().any(|m| {
            m.manager == manager
                && m.fields_v1
                    .get("f:spec")
                    .and_then(|s| s.get(format!("f:{field}")))
                    .is_some()
        })
    }
}

/// A namespaced custom resource of a group/version.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// E.g. `metallb.io/v1beta1`.
    pub api_version: &'static str,
    /// E.g. `IPAddressPool`.
    pub kind: &'static str,
    /// E.g. `ipaddresspools`.
    pub plural: &'static str,
}

impl Kind {
    /// The object's path.
    pub fn path(&self, namespace: &str, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), enc(name))
    }

    /// The path of the kind's objects in every namespace.
    pub fn cluster_path(&self) -> String {
        format!("/apis/{}/{}", self.api_version, self.plural)
    }

    /// The path of the kind's objects in `namespace`.
    pub fn collection_path(&self, namespace: &str) -> String {
        format!(
            "/apis/{}/namespaces/{}/{}",
            self.api_version,
            enc(namespace),
            self.plural
        )
    }
}

fn enc(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._~".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

/// An object as read: metadata and spec.
#[derive(Debug, Clone, Deserialize)]
pub struct Object<S> {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec (absent on some kinds: then empty).
    pub spec: S,
}

/// The Kubernetes API client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    host: String,
    token: Option<Secret>,
    retry: RetryPolicy,
    webhook_wait: Duration,
}

impl Client {
    /// A client for these settings; connects lazily.
    pub fn new(s: Settings) -> Result<Self, http::ClientError> {
        let http = http::client(
            &TlsSettings {
                ca_cert: s.ca_cert,
                insecure: s.insecure,
                client_identity: s.client_identity,
            },
            Duration::from_secs(60),
        )?;
        Ok(Self {
            http,
            host: s.host.trim_end_matches('/').to_string(),
            token: s.token,
            retry: RetryPolicy::default(),
            webhook_wait: s.webhook_wait,
        })
    }

    /// The apiserver URL.
    pub fn host(&self) -> &str {
        &self.host
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ApiError> {
        self.send_with(self.retry, None, method, path, body).await
    }

    /// One request, retried on transient failures (no answer, 429, 500,
    /// 502, 503, 504) up to `retry.max_retries` times with doubling
    /// backoff or the answer's `Retry-After`, except an answer that says
    /// the request itself is wrong ([`ApiError::is_schema_mismatch`]).
    async fn send_with(
        &self,
        retry: RetryPolicy,
        timeout: Option<Duration>,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ApiError> {
        let url = format!("{}{}", self.host, path);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let once = RetryPolicy {
            max_retries: 0,
            ..retry
        };
        let mut attempt = 0u32;
        loop {
            let sent = http::send_with_retry(once, method, path, || {
                let mut rb = self
                    .http
                    .request(m.clone(), &url)
                    .header("Accept", "application/json");
                if let Some(t) = timeout {
                    rb = rb.timeout(t);
                }
                if let Some(t) = &self.token {
                    rb = rb.bearer_auth(t.expose());
                }
                if method == "PATCH" {
                    rb = rb
                        .query(&[("fieldManager", FIELD_MANAGER)])
                        .header("Content-Type", "application/apply-patch+yaml");
                }
                if let Some(b) = body {
                    rb = rb.body(b.to_string());
                }
                rb.send()
            })
            .await;
            let backoff = retry
                .base_delay
                .saturating_mul(1 << attempt.min(10))
                .min(retry.max_delay);
            let resp = match sent {
                Ok(r) => r,
                Err(e) if attempt < retry.max_retries => {
                    tracing::debug!(method, path, attempt, error = %e, "no answer; retrying");
                    tokio::time::sleep(backoff).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let code = resp.status().as_u16();
            let wait = retry_after(&resp).unwrap_or(backoff).min(retry.max_delay);
            let text = resp.text().await.map_err(|e| ApiError::Decode {
                path: path.to_string(),
                message: e.to_string(),
            })?;
            let answer = interpret(method, path, code, &text);
            match answer {
                Err(e)
                    if matches!(code, 429 | 500 | 502 | 503 | 504)
                        && !e.is_schema_mismatch()
                        && attempt < retry.max_retries =>
                {
                    tracing::debug!(
                        method,
                        path,
                        attempt,
                        code,
                        ?wait,
                        "transient failure; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    /// `GET` an object; `Ok(None)` if that object is not found. A 404 that
    /// names no object (the resource type is not served: CRD not installed)
    /// is an error.
    pub async fn get<S: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Object<S>>, ApiError> {
        let path = kind.path(namespace, name);
        match self.send("GET", &path, None).await {
            Ok((_, v)) => decode(&path, v).map(Some),
            Err(e) if object_not_found(&e, name) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Server-side apply of `spec` as [`FIELD_MANAGER`] (`force` takes over
    /// fields other managers own). Creates the object if absent. An
    /// unreachable admission webhook is retried with backoff for
    /// [`Settings::webhook_wait`].
    pub async fn apply<S: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        spec: Value,
        force: bool,
    ) -> Result<Object<S>, ApiError> {
        let mut path = kind.path(namespace, name);
        if force {
            path.push_str("?force=true");
        }
        let body = serde_json::json!({
            "apiVersion": kind.api_version,
            "kind": kind.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        });
        let start = Instant::now();
        let mut delay = Duration::from_millis(500);
        loop {
            match self.send("PATCH", &path, Some(&body)).await {
                Ok((_, v)) => return decode(&path, v),
                Err(e) if e.is_webhook_unreachable() && start.elapsed() < self.webhook_wait => {
                    tracing::info!(%path, ?delay, "admission webhook unreachable; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The objects of `kind` in `namespace` (`GET` of the collection), in
    /// one attempt of at most `timeout`: for checks at plan, which skip
    /// when the cluster does not answer (a plan for new objects needs no
    /// cluster).
    pub async fn list_once<S: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Vec<Object<S>>, ApiError> {
        let path = kind.collection_path(namespace);
        let once = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        };
        let (_, v) = self
            .send_with(once, Some(timeout), "GET", &path, None)
            .await?;
        items_of(&path, &v)
    }

    /// Every object of `kind` in `namespace` (`None`: in every namespace,
    /// which needs the right to list at the cluster scope), read in pages
    /// of [`LIST_PAGE`] as kubectl does: `limit`, then `continue` with the
    /// token of `metadata.continue` until there is none (Kubernetes "API
    /// Concepts", "Retrieving large results sets in chunks"). Transient
    /// failures are retried as every call is.
    pub async fn list<S: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<Object<S>>, ApiError> {
        let base = match namespace {
            Some(ns) => kind.collection_path(ns),
            None => kind.cluster_path(),
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        // A server that keeps answering with a token is not followed forever.
        for _ in 0..10_000 {
            let path = match &token {
                Some(t) => format!("{base}?limit={LIST_PAGE}&continue={}", enc(t)),
                None => format!("{base}?limit={LIST_PAGE}"),
            };
            let (_, v) = self.send("GET", &path, None).await?;
            out.extend(items_of(&path, &v)?);
            token = v
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
        Err(ApiError::Decode {
            path: base,
            message: "the list did not end after 10000 pages".into(),
        })
    }

    /// `DELETE` an object; `Ok(false)` if it was not there.
    pub async fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<bool, ApiError> {
        let path = kind.path(namespace, name);
        match self.send("DELETE", &path, None).await {
            Ok(_) => Ok(true),
            Err(e) if object_not_found(&e, name) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Objects per page of [`Client::list`] (kubectl's `--chunk-size` default).
pub const LIST_PAGE: usize = 500;

/// The `items` of a list answer, decoded.
fn items_of<S: serde::de::DeserializeOwned>(
    path: &str,
    v: &Value,
) -> Result<Vec<Object<S>>, ApiError> {
    let items = match v.get("items") {
        Some(Value::Array(a)) => a.clone(),
        // `items: null` is an empty list in the apiserver's JSON.
        Some(Value::Null) | None => Vec::new(),
        Some(_) => {
            return Err(ApiError::Decode {
                path: path.to_string(),
                message: "`items` is not a list".into(),
            });
        }
    };
    items.into_iter().map(|o| decode(path, o)).collect()
}

/// `Retry-After` in seconds, if the answer has one.
fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    let v = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// An answer: the JSON body of a 2xx, else the `Status` it carries (or one
/// made from a body that is none).
fn interpret(
    method: &'static str,
    path: &str,
    code: u16,
    text: &str,
) -> Result<(u16, Value), ApiError> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if (200..300).contains(&code) {
        if v.is_null() {
            return Err(ApiError::Decode {
                path: path.to_string(),
                message: "the body is not JSON".into(),
            });
        }
        return Ok((code, v));
    }
    let status: Status = if v.get("kind").and_then(Value::as_str) == Some("Status") {
        serde_json::from_value(v).unwrap_or_default()
    } else {
        Status {
            message: Some(text.chars().take(200).collect()),
            ..Status::default()
        }
    };
    Err(ApiError::Status {
        method,
        path: path.to_string(),
        code,
        status: Box::new(status),
    })
}

/// A 404 about this object (`details.name`), not about the resource type.
fn object_not_found(e: &ApiError, name: &str) -> bool {
    e.status().is_some_and(|(s, c)| {
        c == 404 && s.details.as_ref().and_then(|d| d.name.as_deref()) == Some(name)
    })
}

fn decode<S: serde::de::DeserializeOwned>(path: &str, v: Value) -> Result<Object<S>, ApiError> {
    let mut v = v;
    if let Some(o) = v.as_object_mut() {
        o.entry("spec").or_insert_with(|| serde_json::json!({}));
    }
    serde_json::from_value(v).map_err(|e| ApiError::Decode {
        path: path.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn status_error(code: u16, v: Value) -> ApiError {
        ApiError::Status {
            method: "PATCH",
            path: "/x".into(),
            code,
            status: Box::new(serde_json::from_value(v).unwrap()),
        }
    }

    #[test]
    fn conflicts_are_read_from_the_status_causes() {
        // As kube-apiserver writes it (conflict.go NewConflictError): an
        // applier, and an Update manager with its apiVersion.
        let e = status_error(
            409,
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Apply failed with 3 conflicts: conflicts with \"helm\":\n- .spec.addresses\nconflicts with \"kubectl-edit\" using metallb.io/v1beta1:\n- .spec.autoAssign\n- .spec.avoidBuggyIPs",
                "reason": "Conflict", "code": 409,
                "details": {"causes": [
                    {"reason": "FieldManagerConflict", "message": "conflict with \"helm\"", "field": ".spec.addresses"},
                    {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-edit\" using metallb.io/v1beta1", "field": ".spec.autoAssign"},
                    {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-edit\" using metallb.io/v1beta1", "field": ".spec.avoidBuggyIPs"},
                    {"reason": "FieldValueInvalid", "message": "not a conflict", "field": "spec.x"}
                ]}
            }),
        );
        assert!(e.is_apply_conflict());
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(!e.is_webhook_unreachable() && !e.is_schema_mismatch());
        let c = e.conflicts();
        assert_eq!(
            c,
            vec![
                FieldConflict {
                    manager: "helm".into(),
                    detail: String::new(),
                    field: ".spec.addresses".into()
                },
                FieldConflict {
                    manager: "kubectl-edit".into(),
                    detail: "using metallb.io/v1beta1".into(),
                    field: ".spec.autoAssign".into()
                },
                FieldConflict {
                    manager: "kubectl-edit".into(),
                    detail: "using metallb.io/v1beta1".into(),
                    field: ".spec.avoidBuggyIPs".into()
                },
            ]
        );
        assert!(!c[0].is_update() && c[1].is_update());
        // Go's %q escapes; a subresource manager; a message of another shape.
        let c = FieldConflict::from_cause(
            Some(r#"conflict with "a \"b\" c" with subresource "status" using metallb.io/v1beta1"#),
            Some(".status.x"),
        );
        assert_eq!(c.manager, r#"a "b" c"#);
        assert_eq!(
            c.detail,
            r#"with subresource "status" using metallb.io/v1beta1"#
        );
        let c = FieldConflict::from_cause(Some("something else"), None);
        assert_eq!(
            (c.manager.as_str(), c.field.as_str()),
            ("something else", "")
        );
        // A stale resourceVersion is a Conflict without causes.
        let e = status_error(
            409,
            serde_json::json!({"reason": "Conflict", "message": "Operation cannot be fulfilled on ipaddresspools.metallb.io \"p\": the object has been modified; please apply your changes to the latest version and try again"}),
        );
        assert!(e.is_apply_conflict() && e.conflicts().is_empty());
    }

    #[test]
    fn a_field_the_crd_does_not_declare_is_a_definitive_500() {
        // kube-apiserver: no `reason` (StatusReasonUnknown, omitted).
        let one = status_error(
            500,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 500,
                "message": "failed to create typed patch object (metallb-system/p; metallb.io/v1beta1, Kind=IPAddressPool): .spec.serviceAllocation: field not declared in schema"}),
        );
        assert!(one.is_schema_mismatch());
        assert!(!one.is_webhook_unreachable() && !one.is_apply_conflict());
        assert_eq!(one.kind(), ErrorKind::Invalid);
        assert_eq!(one.undeclared_fields(), vec![".spec.serviceAllocation"]);
        let several = status_error(
            500,
            serde_json::json!({"code": 500, "kind": "Status",
                "message": "failed to create typed patch object (metallb-system/p; metallb.io/v1beta1, Kind=IPAddressPool): errors:\n  .spec.serviceAllocation.x: field not declared in schema\n  .spec.addresses: expected list, got &{10.0.0.0/28}\n  .spec.zz: field not declared in schema"}),
        );
        assert_eq!(
            several.undeclared_fields(),
            vec![".spec.serviceAllocation.x", ".spec.zz"]
        );
        // Other 500s are neither.
        let webhook = status_error(
            500,
            serde_json::json!({"reason": "InternalError", "message": "Internal error occurred: failed calling webhook \"ipaddresspoolvalidationwebhook.metallb.io\": connection refused"}),
        );
        assert!(!webhook.is_schema_mismatch() && webhook.undeclared_fields().is_empty());
        assert_eq!(webhook.kind(), ErrorKind::Unavailable);
        let etcd = status_error(
            500,
            serde_json::json!({"message": "etcdserver: request timed out"}),
        );
        assert!(!etcd.is_schema_mismatch());
    }

    /// A one-connection-per-answer HTTP server answering `answers` in
    /// turn (the last one again); the count of requests it got.
    async fn server(answers: Vec<(u16, &'static str)>) -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let n = Arc::new(AtomicUsize::new(0));
        let count = n.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = l.accept().await else {
                    return;
                };
                let i = count.fetch_add(1, Ordering::SeqCst);
                let (code, body) = answers[i.min(answers.len() - 1)];
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read the head and the body (Content-Length).
                loop {
                    let k = sock.read(&mut buf).await.unwrap_or(0);
                    if k == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..k]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if rest.len() >= len {
                            break;
                        }
                    }
                }
                let resp = format!(
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        (url, n)
    }

    fn client(url: &str) -> Client {
        Client::new(Settings {
            host: url.into(),
            token: None,
            ca_cert: None,
            insecure: false,
            client_identity: None,
            webhook_wait: Duration::from_millis(0),
        })
        .unwrap()
    }

    const POOL: Kind = Kind {
        api_version: "metallb.io/v1beta1",
        kind: "IPAddressPool",
        plural: "ipaddresspools",
    };

    #[tokio::test]
    async fn a_schema_mismatch_is_not_retried_and_transient_failures_are() {
        const MISMATCH: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"failed to create typed patch object (metallb-system/p; metallb.io/v1beta1, Kind=IPAddressPool): .spec.foo: field not declared in schema","code":500}"#;
        const UNAVAILABLE: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"etcdserver: request timed out","code":500}"#;
        const OBJECT: &str = r#"{"apiVersion":"metallb.io/v1beta1","kind":"IPAddressPool","metadata":{"name":"p","namespace":"metallb-system"},"spec":{"addresses":["10.0.0.0/28"]}}"#;
        let (url, n) = server(vec![(500, MISMATCH)]).await;
        let e = client(&url)
            .apply::<Value>(
                POOL,
                "metallb-system",
                "p",
                serde_json::json!({"foo": 1}),
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(n.load(Ordering::SeqCst), 1, "sent once, never retried");
        assert_eq!(e.undeclared_fields(), vec![".spec.foo"]);
        assert!(
            e.to_string().contains("field not declared in schema"),
            "{e}"
        );
        // Another 500 and a 503: retried until the answer comes.
        let (url, n) = server(vec![(500, UNAVAILABLE), (503, "{}"), (201, OBJECT)]).await;
        let o = client(&url)
            .apply::<Value>(POOL, "metallb-system", "p", serde_json::json!({}), false)
            .await
            .unwrap();
        assert_eq!(o.metadata.name, "p");
        assert_eq!(n.load(Ordering::SeqCst), 3);
        // Retries give up after RetryPolicy::max_retries (4): 5 attempts.
        let (url, n) = server(vec![(503, "{}")]).await;
        let e = client(&url)
            .get::<Value>(POOL, "metallb-system", "p")
            .await
            .unwrap_err();
        assert_eq!((e.code(), n.load(Ordering::SeqCst)), (Some(503), 5));
    }

    #[test]
    fn not_found_distinguishes_object_from_resource_type() {
        let mk = |details: Value| ApiError::Status {
            method: "GET",
            path: "/x".into(),
            code: 404,
            status: Box::new(
                serde_json::from_value(
                    serde_json::json!({"reason": "NotFound", "details": details}),
                )
                .unwrap(),
            ),
        };
        assert!(object_not_found(&mk(serde_json::json!({"name": "p"})), "p"));
        assert!(!object_not_found(&mk(serde_json::json!({})), "p"));
        assert_eq!(
            Kind {
                api_version: "metallb.io/v1beta1",
                kind: "IPAddressPool",
                plural: "ipaddresspools"
            }
            .path("metallb-system", "a b"),
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/a%20b"
        );
    }
}

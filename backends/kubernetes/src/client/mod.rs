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
//! Transient failures (429, 5xx, resets) are retried by
//! [`labforge_http::send_with_retry`]; on top of that, an admission webhook
//! that cannot be called (HTTP 500 `InternalError`, message `failed calling
//! webhook "…"`, as in the minutes after MetalLB is installed:
//! metallb/metallb#1540, #1597, #2566) is retried with a longer backoff,
//! up to [`Settings::webhook_wait`].

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
    /// The conflicting `(manager message, field)` pairs of a 409.
    pub fn conflicts(&self) -> Vec<(String, String)> {
        self.status()
            .and_then(|(s, _)| s.details.as_ref())
            .map(|d| {
                d.causes
                    .iter()
                    .filter(|c| c.cause_type.as_deref() == Some("FieldManagerConflict"))
                    .map(|c| {
                        (
                            c.message.clone().unwrap_or_default(),
                            c.field.clone().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
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

impl ApiErrorKind for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Http(e) => e.api_kind(),
            ApiError::Decode { .. } => ErrorKind::Decode,
            ApiError::Status { code, status, .. } => match (*code, status.reason.as_deref()) {
                (409, Some("AlreadyExists")) => ErrorKind::AlreadyExists,
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
        let resp = http::send_with_retry(retry, method, path, || {
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
        .await?;
        let code = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| ApiError::Decode {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
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
        let items = match v.get("items") {
            Some(Value::Array(a)) => a.clone(),
            // `items: null` is an empty list in the apiserver's JSON.
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(ApiError::Decode {
                    path,
                    message: "`items` is not a list".into(),
                });
            }
        };
        items.into_iter().map(|o| decode(&path, o)).collect()
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

    #[test]
    fn conflicts_are_read_from_the_status_causes() {
        let s: Status = serde_json::from_value(serde_json::json!({
            "kind": "Status", "message": "Apply failed with 1 conflict: conflict with \"helm\": .spec.addresses",
            "reason": "Conflict",
            "details": {"causes": [{"reason": "FieldManagerConflict",
                "message": "conflict with \"helm\"", "field": ".spec.addresses"}]}
        }))
        .unwrap();
        let e = ApiError::Status {
            method: "PATCH",
            path: "/x".into(),
            code: 409,
            status: Box::new(s),
        };
        assert!(e.is_apply_conflict());
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(
            e.conflicts(),
            vec![("conflict with \"helm\"".into(), ".spec.addresses".into())]
        );
        assert!(!e.is_webhook_unreachable());
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

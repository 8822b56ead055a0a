//! The Technitium DNS Server HTTP API client.
//!
//! Every call is a `POST` with an `application/x-www-form-urlencoded` body;
//! the token travels in that body (`token=`), never in the URL, so it cannot
//! leak into access logs (works on every server version). With
//! username/password the client logs in once (`/api/user/login`), caches the
//! session token and logs in again if the session expires.
//!
//! Failures come back as HTTP 200 with `status: "error"` or
//! `"invalid-token"`; they become [`ApiError`] variants carrying the server's
//! `errorMessage`. Transient failures (429, 5xx, resets) are retried by
//! [`labforge_http::send_with_retry`].
//!
//! Refresh is whole-zone: [`Client::zone_records`] lists a zone once and
//! shares the answer among every record of that zone in this provider
//! process (single-flight per zone, short TTL, invalidated by any write to
//! the zone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, Value};

use labforge_http::Secret;
use labforge_http::{self as http, HttpError, RetryPolicy, TlsSettings};

use crate::{Auth, Settings};

/// How long a zone listing is reused within one provider process.
const CACHE_TTL: Duration = Duration::from_secs(15);

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{path}: HTTP {status}: {body}")]
    Status {
        path: String,
        status: u16,
        body: String,
    },
    #[error("{path}: unexpected response: {message}")]
    Decode { path: String, message: String },
    #[error(
        "{path}: the server rejected the credentials ({message}); check the technitium token, or username and password"
    )]
    InvalidToken { path: String, message: String },
    #[error("{path}: {message}")]
    NotFound { path: String, message: String },
    #[error("{path}: {message}")]
    AlreadyExists { path: String, message: String },
    #[error("{path}: {message}")]
    Api { path: String, message: String },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ApiError::AlreadyExists { .. })
    }
}

/// Sort an `errorMessage` into a typed error.
pub(crate) fn classify(path: &str, status: &str, message: String) -> ApiError {
    let path = path.to_string();
    let lower = message.to_ascii_lowercase();
    if status == "invalid-token" {
        ApiError::InvalidToken { path, message }
    } else if lower.contains("no such zone")
        || lower.contains("no such record")
        || lower.contains("zone was not found")
        || lower.contains("record does not exist")
    {
        ApiError::NotFound { path, message }
    } else if lower.contains("already exists") {
        ApiError::AlreadyExists { path, message }
    } else {
        ApiError::Api { path, message }
    }
}

/// The envelope of every answer.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
    #[serde(default)]
    response: Option<Value>,
    /// Login answers carry the token at the top level.
    #[serde(default)]
    token: Option<Secret>,
}

/// One record as `records/get` renders it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default)]
    pub ttl: i64,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub comments: Option<String>,
    #[serde(rename = "rData", default)]
    pub rdata: Map<String, Value>,
}

impl RecordInfo {
    /// A string field of the rdata.
    pub fn str(&self, key: &str) -> Option<String> {
        self.rdata
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    }
    /// A whole-number field of the rdata.
    pub fn num(&self, key: &str) -> Option<i64> {
        match self.rdata.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct RecordsResponse {
    #[serde(default)]
    records: Vec<RecordInfo>,
}

/// A zone as `zones/options/get` renders it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub zone_type: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub dnssec_status: Option<String>,
    #[serde(default)]
    pub primary_name_server_addresses: Option<Vec<String>>,
}

#[derive(Debug, Default)]
struct SlotState {
    generation: u64,
    data: Option<(Instant, Arc<Vec<RecordInfo>>)>,
}

/// One zone's cached listing, fetched by one caller at a time.
#[derive(Debug, Default)]
struct Slot {
    fetch: tokio::sync::Mutex<()>,
    state: Mutex<SlotState>,
}

/// The Technitium API client.
#[derive(Debug)]
pub struct Client {
    pub settings: Settings,
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    session: tokio::sync::Mutex<Option<Secret>>,
    cache: Mutex<HashMap<String, Arc<Slot>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    pub fn new(settings: Settings) -> Result<Self, labforge_http::ClientError> {
        let http = http::client(
            &TlsSettings {
                ca_cert: settings.ca_cert.clone(),
                insecure: settings.insecure,
            },
            Duration::from_secs(60),
        )?;
        let mut base = settings.url.trim().trim_end_matches('/').to_string();
        // Accept `https://dns.lab:5380/api` as well as the server root.
        if let Some(b) = base.strip_suffix("/api") {
            base = b.to_string();
        }
        Ok(Self {
            settings,
            http,
            base,
            retry: RetryPolicy::default(),
            session: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Override the retry policy (tests).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// POST `params` (plus `token` when given) to `path`; the ok envelope.
    async fn post(
        &self,
        path: &str,
        params: &[(&str, String)],
        token: Option<&str>,
    ) -> Result<Envelope, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(t) = token {
            form.push(("token", t));
        }
        tracing::debug!(path, "technitium request");
        let resp = http::send_with_retry(self.retry, "POST", path, || {
            self.http.post(&url).form(&form).send()
        })
        .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| ApiError::Decode {
            path: path.to_string(),
            message: format!("reading the body failed: {e}"),
        })?;
        if status != 200 {
            let mut body: String = body.trim().chars().take(200).collect();
            if body.is_empty() {
                body = "(empty body)".into();
            }
            return Err(ApiError::Status {
                path: path.to_string(),
                status,
                body,
            });
        }
        let env: Envelope = serde_json::from_str(&body).map_err(|e| ApiError::Decode {
            path: path.to_string(),
            message: format!("not a Technitium API answer ({e})"),
        })?;
        if env.status == "ok" {
            return Ok(env);
        }
        let message = env
            .error_message
            .clone()
            .unwrap_or_else(|| format!("status {:?}", env.status));
        Err(classify(path, &env.status, message))
    }

    /// The token to send: the API token, or a (cached) session token.
    async fn token(&self) -> Result<Secret, ApiError> {
        match &self.settings.auth {
            Auth::Token(t) => Ok(t.clone()),
            Auth::Login { username, password } => {
                let mut session = self.session.lock().await;
                if let Some(t) = session.as_ref() {
                    return Ok(t.clone());
                }
                let env = self
                    .post(
                        "/api/user/login",
                        &[
                            ("user", username.clone()),
                            ("pass", password.expose().to_string()),
                        ],
                        None,
                    )
                    .await
                    .map_err(|e| match e {
                        ApiError::Api { path, message } => ApiError::InvalidToken { path, message },
                        other => other,
                    })?;
                let t = env.token.ok_or_else(|| ApiError::Decode {
                    path: "/api/user/login".into(),
                    message: "the login answer has no token".into(),
                })?;
                *session = Some(t.clone());
                Ok(t)
            }
        }
    }

    /// An authenticated call; logs in again once if a session expired.
    async fn call(&self, path: &str, params: &[(&str, String)]) -> Result<Value, ApiError> {
        let token = self.token().await?;
        let result = match self.post(path, params, Some(token.expose())).await {
            Err(ApiError::InvalidToken { .. })
                if matches!(self.settings.auth, Auth::Login { .. }) =>
            {
                {
                    let mut s = self.session.lock().await;
                    if s.as_ref() == Some(&token) {
                        *s = None;
                    }
                }
                let token = self.token().await?;
                self.post(path, params, Some(token.expose())).await
            }
            r => r,
        };
        Ok(result?.response.unwrap_or(Value::Null))
    }

    fn decode<T: serde::de::DeserializeOwned>(path: &str, v: Value) -> Result<T, ApiError> {
        serde_json::from_value(v).map_err(|e| ApiError::Decode {
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    // ------------------------------------------------------------ zones

    /// A zone's type and status.
    pub async fn zone_get(&self, zone: &str) -> Result<ZoneInfo, ApiError> {
        let path = "/api/zones/options/get";
        let v = self.call(path, &[("zone", zone.to_string())]).await?;
        Self::decode(path, v)
    }

    /// Create a zone; returns the name the server gave it.
    pub async fn zone_create(&self, params: &[(&str, String)]) -> Result<String, ApiError> {
        let v = self.call("/api/zones/create", params).await?;
        Ok(v.get("domain")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    pub async fn zone_delete(&self, zone: &str) -> Result<(), ApiError> {
        self.invalidate(zone);
        self.call("/api/zones/delete", &[("zone", zone.to_string())])
            .await
            .map(|_| ())
    }

    pub async fn zone_set_disabled(&self, zone: &str, disabled: bool) -> Result<(), ApiError> {
        let path = if disabled {
            "/api/zones/disable"
        } else {
            "/api/zones/enable"
        };
        self.invalidate(zone);
        self.call(path, &[("zone", zone.to_string())])
            .await
            .map(|_| ())
    }

    // ---------------------------------------------------------- records

    fn slot(&self, zone: &str) -> Arc<Slot> {
        lock(&self.cache)
            .entry(zone.to_string())
            .or_default()
            .clone()
    }

    /// Forget the cached listing of `zone` (after a write to it).
    pub fn invalidate(&self, zone: &str) {
        let slot = self.slot(zone);
        let mut s = lock(&slot.state);
        s.generation += 1;
        s.data = None;
    }

    fn cached(slot: &Slot) -> Option<Arc<Vec<RecordInfo>>> {
        let s = lock(&slot.state);
        s.data
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, d)| d.clone())
    }

    /// Every record of `zone` (normalised name), shared per zone.
    pub async fn zone_records(&self, zone: &str) -> Result<Arc<Vec<RecordInfo>>, ApiError> {
        let slot = self.slot(zone);
        if let Some(d) = Self::cached(&slot) {
            return Ok(d);
        }
        let _guard = slot.fetch.lock().await;
        if let Some(d) = Self::cached(&slot) {
            return Ok(d);
        }
        let generation = lock(&slot.state).generation;
        let path = "/api/zones/records/get";
        let v = self
            .call(
                path,
                &[
                    ("domain", zone.to_string()),
                    ("zone", zone.to_string()),
                    ("listZone", "true".into()),
                ],
            )
            .await?;
        let records: RecordsResponse = Self::decode(path, v)?;
        let data = Arc::new(records.records);
        let mut s = lock(&slot.state);
        if s.generation == generation {
            s.data = Some((Instant::now(), data.clone()));
        }
        Ok(data)
    }

    /// `records/add`, `records/update` or `records/delete` on `zone`.
    pub async fn record_write(
        &self,
        op: &str,
        zone: &str,
        params: &[(&str, String)],
    ) -> Result<(), ApiError> {
        let path = format!("/api/zones/records/{op}");
        self.invalidate(zone);
        let r = self.call(&path, params).await.map(|_| ());
        self.invalidate(zone);
        r
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        assert!(classify("/p", "error", "No such zone was found: x".into()).is_not_found());
        assert!(
            classify(
                "/p",
                "error",
                "Cannot delete record: no such record exists.".into()
            )
            .is_not_found()
        );
        assert!(
            classify(
                "/p",
                "error",
                "Cannot add record: record already exists.".into()
            )
            .is_already_exists()
        );
        assert!(matches!(
            classify(
                "/p",
                "invalid-token",
                "Invalid token or session expired.".into()
            ),
            ApiError::InvalidToken { .. }
        ));
        let e = classify("/p", "error", "Access was denied.".into());
        assert_eq!(e.to_string(), "/p: Access was denied.");
    }

    #[test]
    fn records_decode_leniently() {
        let v = serde_json::json!({"records": [
            {"name": "x.home.arpa", "type": "MX", "ttl": 60, "rData": {"preference": 10, "exchange": "m"}},
            {"name": "home.arpa", "type": "SOA", "ttl": 900, "disabled": false, "comments": "c",
             "rData": {"serial": 3, "primaryNameServer": "ns"}, "dnssecStatus": "Unknown"}
        ]});
        let r: RecordsResponse = Client::decode("/p", v).unwrap();
        assert_eq!(r.records[0].num("preference"), Some(10));
        assert_eq!(r.records[1].comments.as_deref(), Some("c"));
    }

    #[test]
    fn base_url_accepts_api_suffix() {
        let c = Client::new(Settings {
            url: "http://dns.lab:5380/api/".into(),
            auth: Auth::Token("t".into()),
            ca_cert: None,
            insecure: false,
        })
        .unwrap();
        assert_eq!(c.base, "http://dns.lab:5380");
    }
}

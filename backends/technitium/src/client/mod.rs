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
//! process (single-flight per zone, short TTL). Writes keep that listing
//! coherent instead of dropping it: the answers of `records/add` and
//! `records/update` carry the record as stored (`addedRecord`,
//! `updatedRecord`, APIDOCS.md "Add Record" / "Update Record"), which is both
//! the read-back of the write and the patch applied to the cached listing.
//!
//! Zones are read with `/api/zones/list` (APIDOCS.md: "Zones: View"), shared
//! the same way, so that a token with View permission can refresh them;
//! `/api/zones/options/get` needs "Zones: Modify" and is only used for what
//! the list lacks (the primary name servers of Secondary and Stub zones).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, Value};

use labforge_http::Secret;
use labforge_http::{self as http, ApiErrorKind, ErrorKind, HttpError, RetryPolicy, TlsSettings};

use crate::{Auth, Settings};

/// How long a zone listing is reused within one provider process.
const CACHE_TTL: Duration = Duration::from_secs(15);

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request never got a usable answer (connection, TLS, timeout, a
    /// body that could not be read), after the retries
    /// [`labforge_http::send_with_retry`] makes.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// An HTTP status other than 200: 429 or 5xx still failing after the
    /// retries, or a proxy or wrong URL answering (the API itself answers
    /// failed calls with 200 and `status: "error"`).
    #[error("{path}: HTTP {status}: {body}")]
    Status {
        /// The API path called, e.g. `/api/zones/records/add`.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the body (200 characters at most), or `(empty body)`.
        body: String,
    },
    /// The body is not the JSON envelope, or its `response` does not have
    /// the shape the client expects.
    #[error("{path}: unexpected response: {message}")]
    Decode {
        /// The API path called, e.g. `/api/zones/records/add`.
        path: String,
        /// What could not be read, and why.
        message: String,
    },
    /// `status: "invalid-token"` (a wrong or expired token), or a failed
    /// login with user name and password.
    #[error(
        "{path}: the server rejected the credentials ({message}); check the technitium token, or username and password"
    )]
    InvalidToken {
        /// The API path called, e.g. `/api/zones/records/add`.
        path: String,
        /// The server's `errorMessage`.
        message: String,
    },
    /// An error saying the zone or record does not exist ("No such zone",
    /// "no such record", "zone was not found", "record does not exist").
    #[error("{path}: {message}")]
    NotFound {
        /// The API path called, e.g. `/api/zones/records/add`.
        path: String,
        /// The server's `errorMessage`.
        message: String,
    },
    /// An error saying the zone or record "already exists".
    #[error("{path}: {message}")]
    AlreadyExists {
        /// The API path called, e.g. `/api/zones/records/add`.
        path: String,
        /// The server's `errorMessage`.
        message: String,
    },
    /// Any other `status: "error"` answer, e.g. "Access was denied.".
    #[error("{path}: {message}")]
    Api {
        /// The API path called, e.g. `/api/zones/records/add`.
        path: String,
        /// The server's `errorMessage`.
        message: String,
    },
}

impl ApiErrorKind for ApiError {
    /// "Access was denied." is what DnsServer throws when the session's user
    /// lacks the section's permission (TechnitiumSoftware/DnsServer
    /// `DnsServerCore/WebServiceDhcpApi.cs` and the other `WebService*Api.cs`:
    /// `if (!_authManager.IsPermitted(...)) throw new
    /// DnsWebServiceException("Access was denied.")`).
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Http(e) => e.api_kind(),
            ApiError::Status { status, .. } => ErrorKind::from_status(*status),
            ApiError::Decode { .. } => ErrorKind::Decode,
            ApiError::InvalidToken { .. } => ErrorKind::Unauthorized,
            ApiError::NotFound { .. } => ErrorKind::NotFound,
            ApiError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            ApiError::Api { message, .. }
                if message.to_ascii_lowercase().contains("access was denied") =>
            {
                ErrorKind::Forbidden
            }
            ApiError::Api { .. } => ErrorKind::Other,
        }
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
    /// Fully qualified owner name, without the trailing dot (`www.home.arpa`;
    /// the apex is the zone name).
    pub name: String,
    /// Record type as the server spells it (`A`, `AAAA`, `MX`, `SOA`, ...).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Time to live in seconds; 0 when the answer has none.
    #[serde(default)]
    pub ttl: i64,
    /// Kept but not served.
    #[serde(default)]
    pub disabled: bool,
    /// Free-text comments; `None` when the answer has none.
    #[serde(default)]
    pub comments: Option<String>,
    /// The type's data fields as the server names them (`ipAddress`,
    /// `preference`/`exchange`, `text`, ...); empty when absent.
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

/// A zone as `zones/list` renders it (APIDOCS.md "List Zones").
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInfo {
    /// Zone name, without the trailing dot (`""` is the root zone).
    pub name: String,
    /// `Primary`, `Secondary`, `Stub`, `Forwarder`, `SecondaryForwarder`,
    /// `Catalog` or `SecondaryCatalog`.
    #[serde(rename = "type")]
    pub zone_type: String,
    /// The zone exists but is not served.
    #[serde(default)]
    pub disabled: bool,
    /// A zone the server made itself (`localhost`, the reserved reverse
    /// zones such as `127.in-addr.arpa`); false when absent (APIDOCS.md
    /// "List Zones" omits it for the Secondary zone of its example).
    #[serde(default)]
    pub internal: bool,
    /// `Unsigned`, `SignedWithNSEC` or `SignedWithNSEC3`; `None` when the
    /// answer has none.
    #[serde(default)]
    pub dnssec_status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ZonesResponse {
    #[serde(default)]
    zones: Vec<ZoneInfo>,
}

/// What `zones/options/get` adds to the list: the primary name servers of
/// Secondary and Stub zones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneOptions {
    /// The primary name servers' addresses or host names; `None` when the
    /// answer has none (zone types without primaries, or servers resolved
    /// automatically).
    #[serde(default)]
    pub primary_name_server_addresses: Option<Vec<String>>,
}

#[derive(Debug)]
struct SlotState<T> {
    generation: u64,
    data: Option<(Instant, Arc<T>)>,
}

impl<T> Default for SlotState<T> {
    fn default() -> Self {
        Self {
            generation: 0,
            data: None,
        }
    }
}

/// A cached listing, fetched by one caller at a time.
#[derive(Debug)]
struct Slot<T> {
    fetch: tokio::sync::Mutex<()>,
    state: Mutex<SlotState<T>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            fetch: tokio::sync::Mutex::new(()),
            state: Mutex::new(SlotState::default()),
        }
    }
}

impl<T: Clone> Slot<T> {
    fn cached(&self) -> Option<Arc<T>> {
        let s = lock(&self.state);
        s.data
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, d)| d.clone())
    }

    fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    /// Keep `data`, fetched under `generation`, unless a write came since.
    fn store(&self, generation: u64, data: Arc<T>) {
        let mut s = lock(&self.state);
        if s.generation == generation {
            s.data = Some((Instant::now(), data));
        }
    }

    /// Forget the listing (a write whose outcome is unknown).
    fn invalidate(&self) {
        let mut s = lock(&self.state);
        s.generation += 1;
        s.data = None;
    }

    /// Apply a write's known effect to the listing, if one is cached; a
    /// fetch already in flight is stale and will not be kept.
    fn patch(&self, f: impl FnOnce(&mut T)) {
        let mut s = lock(&self.state);
        s.generation += 1;
        if let Some((_, data)) = s.data.as_mut() {
            f(Arc::make_mut(data));
        }
    }
}

/// Whether two renderings are the same record (name, type and data).
fn same_record(a: &RecordInfo, b: &RecordInfo) -> bool {
    a.name.eq_ignore_ascii_case(&b.name)
        && a.rtype.eq_ignore_ascii_case(&b.rtype)
        && a.rdata == b.rdata
}

/// Put the record the server answered into a listing: replace its earlier
/// rendering, and give its record set its TTL (every add or update re-TTLs
/// the whole set, see the `homelab_technitium_dns_record` docs).
fn upsert(records: &mut Vec<RecordInfo>, r: &RecordInfo) {
    records.retain(|x| !same_record(x, r));
    for x in records.iter_mut() {
        if x.name.eq_ignore_ascii_case(&r.name) && x.rtype.eq_ignore_ascii_case(&r.rtype) {
            x.ttl = r.ttl;
        }
    }
    records.push(r.clone());
}

/// Remove the first record `old` identifies.
fn remove_first(records: &mut Vec<RecordInfo>, old: &(dyn Fn(&RecordInfo) -> bool + Sync)) {
    if let Some(i) = records.iter().position(old) {
        records.remove(i);
    }
}

/// The Technitium API client.
#[derive(Debug)]
pub struct Client {
    /// The settings the client was built with.
    pub settings: Settings,
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    session: tokio::sync::Mutex<Option<Secret>>,
    cache: Mutex<HashMap<String, Arc<Slot<Vec<RecordInfo>>>>>,
    zones: Slot<Vec<ZoneInfo>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    /// A client for `settings.url` (a trailing `/` or `/api` is dropped).
    /// Nothing is sent yet; a user name and password log in at the first
    /// call. Fails only when the HTTP client cannot be built (e.g. a CA
    /// certificate that is not PEM).
    pub fn new(settings: Settings) -> Result<Self, labforge_http::ClientError> {
        let http = http::client(
            &TlsSettings {
                ca_cert: settings.ca_cert.clone(),
                insecure: settings.insecure,
                client_identity: None,
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
            zones: Slot::default(),
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
        let body = resp
            .text()
            .await
            .map_err(|e| HttpError::body("POST", path, e))?;
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

    /// Every zone the token may view (`zones/list`, "Zones: View"), shared
    /// by the refreshes of all zones.
    pub async fn zones(&self) -> Result<Arc<Vec<ZoneInfo>>, ApiError> {
        if let Some(d) = self.zones.cached() {
            return Ok(d);
        }
        let _guard = self.zones.fetch.lock().await;
        if let Some(d) = self.zones.cached() {
            return Ok(d);
        }
        self.fetch_zones().await
    }

    async fn fetch_zones(&self) -> Result<Arc<Vec<ZoneInfo>>, ApiError> {
        let generation = self.zones.generation();
        let path = "/api/zones/list";
        let v = self.call(path, &[]).await?;
        let list: ZonesResponse = Self::decode(path, v)?;
        let data = Arc::new(list.zones);
        self.zones.store(generation, data.clone());
        Ok(data)
    }

    /// A zone's type and status; `None` when there is no such zone.
    pub async fn zone_get(&self, zone: &str) -> Result<Option<ZoneInfo>, ApiError> {
        let find = |zones: &[ZoneInfo]| {
            zones
                .iter()
                .find(|z| z.name.eq_ignore_ascii_case(zone))
                .cloned()
        };
        if let Some(z) = find(&self.zones().await?) {
            return Ok(Some(z));
        }
        // Not in a listing that may predate it: ask once more.
        let _guard = self.zones.fetch.lock().await;
        Ok(find(&self.fetch_zones().await?))
    }

    /// `zones/options/get`: needs "Zones: Modify" (APIDOCS.md "Get Zone
    /// Options"), so callers treat "Access was denied." as "unknown".
    pub async fn zone_options(&self, zone: &str) -> Result<ZoneOptions, ApiError> {
        let path = "/api/zones/options/get";
        let v = self.call(path, &[("zone", zone.to_string())]).await?;
        Self::decode(path, v)
    }

    /// Create a zone; returns the name the server gave it.
    pub async fn zone_create(&self, params: &[(&str, String)]) -> Result<String, ApiError> {
        let r = self.call("/api/zones/create", params).await;
        self.zones.invalidate();
        Ok(r?
            .get("domain")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Delete a zone and everything in it; the zone listings are dropped.
    pub async fn zone_delete(&self, zone: &str) -> Result<(), ApiError> {
        let r = self
            .call("/api/zones/delete", &[("zone", zone.to_string())])
            .await;
        self.zones.invalidate();
        self.slot(zone).invalidate();
        r.map(|_| ())
    }

    /// Disable a zone (`zones/disable`), or enable it again (`zones/enable`).
    pub async fn zone_set_disabled(&self, zone: &str, disabled: bool) -> Result<(), ApiError> {
        let path = if disabled {
            "/api/zones/disable"
        } else {
            "/api/zones/enable"
        };
        let r = self.call(path, &[("zone", zone.to_string())]).await;
        self.zones.invalidate();
        r.map(|_| ())
    }

    // ---------------------------------------------------------- records

    fn slot(&self, zone: &str) -> Arc<Slot<Vec<RecordInfo>>> {
        lock(&self.cache)
            .entry(zone.to_string())
            .or_default()
            .clone()
    }

    /// Forget the cached listing of `zone`.
    pub fn invalidate(&self, zone: &str) {
        self.slot(zone).invalidate();
    }

    /// Every record of `zone` (normalised name), shared per zone.
    pub async fn zone_records(&self, zone: &str) -> Result<Arc<Vec<RecordInfo>>, ApiError> {
        let slot = self.slot(zone);
        if let Some(d) = slot.cached() {
            return Ok(d);
        }
        let _guard = slot.fetch.lock().await;
        if let Some(d) = slot.cached() {
            return Ok(d);
        }
        self.fetch_records(zone, &slot).await
    }

    /// Every record of `zone`, listed now (in the server's order), also
    /// refreshing the shared listing.
    pub async fn zone_records_fresh(&self, zone: &str) -> Result<Arc<Vec<RecordInfo>>, ApiError> {
        let slot = self.slot(zone);
        let _guard = slot.fetch.lock().await;
        self.fetch_records(zone, &slot).await
    }

    async fn fetch_records(
        &self,
        zone: &str,
        slot: &Slot<Vec<RecordInfo>>,
    ) -> Result<Arc<Vec<RecordInfo>>, ApiError> {
        let generation = slot.generation();
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
        slot.store(generation, data.clone());
        Ok(data)
    }

    /// The record a write answered with (`addedRecord`, `updatedRecord`).
    fn answered(v: &Value, key: &str) -> Option<RecordInfo> {
        v.get(key)
            .cloned()
            .and_then(|r| serde_json::from_value::<RecordInfo>(r).ok())
    }

    /// `records/add`: the record as the server stored it (`addedRecord`),
    /// also put into the cached listing. `None` if the answer lacks it.
    pub async fn record_add(
        &self,
        zone: &str,
        params: &[(&str, String)],
    ) -> Result<Option<RecordInfo>, ApiError> {
        let slot = self.slot(zone);
        let v = match self.call("/api/zones/records/add", params).await {
            Ok(v) => v,
            Err(e) => {
                slot.invalidate();
                return Err(e);
            }
        };
        let added = Self::answered(&v, "addedRecord");
        match &added {
            Some(r) => slot.patch(|list| upsert(list, r)),
            None => slot.invalidate(),
        }
        Ok(added)
    }

    /// `records/update` of the record `old` identifies: the record as the
    /// server stored it (`updatedRecord`), also put into the cached listing.
    pub async fn record_update(
        &self,
        zone: &str,
        params: &[(&str, String)],
        old: &(dyn Fn(&RecordInfo) -> bool + Sync),
    ) -> Result<Option<RecordInfo>, ApiError> {
        let slot = self.slot(zone);
        let v = match self.call("/api/zones/records/update", params).await {
            Ok(v) => v,
            Err(e) => {
                slot.invalidate();
                return Err(e);
            }
        };
        let updated = Self::answered(&v, "updatedRecord");
        match &updated {
            Some(r) => slot.patch(|list| {
                remove_first(list, old);
                upsert(list, r);
            }),
            None => slot.invalidate(),
        }
        Ok(updated)
    }

    /// `records/delete` of the record `old` identifies, also dropped from the
    /// cached listing.
    pub async fn record_delete(
        &self,
        zone: &str,
        params: &[(&str, String)],
        old: &(dyn Fn(&RecordInfo) -> bool + Sync),
    ) -> Result<(), ApiError> {
        let slot = self.slot(zone);
        match self.call("/api/zones/records/delete", params).await {
            Ok(_) => {
                slot.patch(|list| remove_first(list, old));
                Ok(())
            }
            Err(e) => {
                slot.invalidate();
                Err(e)
            }
        }
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
    fn errors_have_the_shared_kinds() {
        let kind = |status: &str, m: &str| classify("/p", status, m.into()).kind();
        assert_eq!(
            kind("error", "No such zone was found: x"),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind("error", "Cannot add record: record already exists."),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            kind("invalid-token", "Invalid token or session expired."),
            ErrorKind::Unauthorized
        );
        assert_eq!(kind("error", "Access was denied."), ErrorKind::Forbidden);
        assert_eq!(kind("error", "Invalid domain name."), ErrorKind::Other);
        let status = |status: u16| {
            ApiError::Status {
                path: "/p".into(),
                status,
                body: "(empty body)".into(),
            }
            .kind()
        };
        assert_eq!(status(429), ErrorKind::RateLimited);
        assert_eq!(status(502), ErrorKind::Unavailable);
        assert_eq!(status(404), ErrorKind::NotFound);
        let decode = ApiError::Decode {
            path: "/p".into(),
            message: "x".into(),
        };
        assert_eq!(decode.kind(), ErrorKind::Decode);
        // Every call is a POST: a lost answer may hide a change.
        let lost: ApiError = HttpError::answer_lost("POST", "/p", "reset").into();
        assert!(lost.is_answer_lost() && !lost.is_not_found());
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

    fn info(v: serde_json::Value) -> RecordInfo {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn writes_patch_the_cached_listing() {
        let slot: Slot<Vec<RecordInfo>> = Slot::default();
        let a1 = info(
            serde_json::json!({"name": "a.z", "type": "A", "ttl": 60, "rData": {"ipAddress": "10.0.0.1"}}),
        );
        let a2 = info(
            serde_json::json!({"name": "a.z", "type": "A", "ttl": 60, "rData": {"ipAddress": "10.0.0.2"}}),
        );
        let b = info(
            serde_json::json!({"name": "b.z", "type": "A", "ttl": 60, "rData": {"ipAddress": "10.0.0.1"}}),
        );
        // Nothing cached: a patch caches nothing, but a fetch in flight is stale.
        let g = slot.generation();
        slot.patch(|l| upsert(l, &a1));
        assert!(slot.cached().is_none());
        slot.store(g, Arc::new(vec![]));
        assert!(
            slot.cached().is_none(),
            "a listing older than the write was kept"
        );
        slot.store(slot.generation(), Arc::new(vec![a1.clone(), b.clone()]));
        // An add re-TTLs its record set and replaces an earlier rendering.
        let mut a2_300 = a2.clone();
        a2_300.ttl = 300;
        slot.patch(|l| upsert(l, &a2_300));
        let l = slot.cached().unwrap();
        assert_eq!(l.len(), 3);
        assert!(l.iter().filter(|r| r.name == "a.z").all(|r| r.ttl == 300));
        assert_eq!(l.iter().find(|r| r.name == "b.z").unwrap().ttl, 60);
        slot.patch(|l| upsert(l, &a2_300));
        assert_eq!(slot.cached().unwrap().len(), 3);
        // An update replaces the old record; a delete removes one.
        let a3 = info(
            serde_json::json!({"name": "a.z", "type": "A", "ttl": 300, "rData": {"ipAddress": "10.0.0.3"}}),
        );
        slot.patch(|l| {
            remove_first(l, &|r: &RecordInfo| {
                r.str("ipAddress").as_deref() == Some("10.0.0.1") && r.name == "a.z"
            });
            upsert(l, &a3);
        });
        let ips: Vec<String> = slot
            .cached()
            .unwrap()
            .iter()
            .filter(|r| r.name == "a.z")
            .filter_map(|r| r.str("ipAddress"))
            .collect();
        assert_eq!(ips, vec!["10.0.0.2", "10.0.0.3"]);
        slot.patch(|l| remove_first(l, &|r: &RecordInfo| r.name == "b.z"));
        assert_eq!(slot.cached().unwrap().len(), 2);
        slot.invalidate();
        assert!(slot.cached().is_none());
    }

    #[test]
    fn access_denied_is_recognised() {
        assert!(classify("/p", "error", "Access was denied.".into()).is_forbidden());
        assert!(!classify("/p", "error", "No such zone was found: x".into()).is_forbidden());
    }

    /// The field names a `Deserialize` struct asks for (serde hands them to
    /// `deserialize_struct`), so the checks below cannot drift from the code.
    fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
        use serde::de::{self, Visitor};
        struct Capture(Option<&'static [&'static str]>);
        impl<'de> de::Deserializer<'de> for &mut Capture {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0 = Some(fields);
                Err(de::Error::custom("captured"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let mut c = Capture(None);
        let _ = T::deserialize(&mut c);
        c.0.unwrap()
    }

    /// APIDOCS.md's response examples by endpoint path (the JSON block under
    /// `RESPONSE:` of the section whose URL is the endpoint), and the error
    /// envelope of "API Response Format". `None` when the reference is absent.
    fn documented_examples() -> Option<(HashMap<String, Value>, Value)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/technitium/APIDOCS.md");
        let Ok(docs) = std::fs::read_to_string(&path) else {
            eprintln!(
                "SKIPPED: {} is absent; cannot check the fields the client reads",
                path.display()
            );
            return None;
        };
        let block_after = |lines: &[&str], start: &dyn Fn(&str) -> bool| -> Option<String> {
            let at = lines.iter().position(|l| start(l))?;
            let open = at + 1 + lines[at + 1..].iter().position(|l| l.starts_with("```"))?;
            let close = open
                + 1
                + lines[open + 1..]
                    .iter()
                    .position(|l| l.starts_with("```"))?;
            Some(lines[open + 1..close].join("\n"))
        };
        let mut by_path = HashMap::new();
        let mut error = Value::Null;
        for section in docs.split("\n#") {
            let lines: Vec<&str> = section.lines().collect();
            if lines
                .first()
                .is_some_and(|l| l.contains("API Response Format"))
            {
                let text = block_after(&lines, &|l| l.contains("In case of errors")).unwrap();
                error = serde_json::from_str(&text).unwrap();
                continue;
            }
            let Some(url) = section.split("`http://localhost:5380").nth(1) else {
                continue;
            };
            let endpoint: String = url
                .chars()
                .take_while(|c| !matches!(c, '?' | '`'))
                .collect();
            let text = block_after(&lines, &|l| l.trim().eq_ignore_ascii_case("response:"));
            // Examples that are not strict JSON are left out; the endpoints
            // the client reads must all be present (asserted by the caller).
            if let Some(v) = text.and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
                by_path.entry(endpoint).or_insert(v);
            }
        }
        Some((by_path, error))
    }

    /// The union of the keys of the objects at `place` (`.`-separated; `[]`
    /// after a name means each element of that array).
    fn keys_at(v: &Value, place: &str) -> std::collections::BTreeSet<String> {
        let mut here = vec![v];
        for part in place.split('.').filter(|p| !p.is_empty()) {
            let (name, each) = match part.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (part, false),
            };
            here = here
                .into_iter()
                .filter_map(|x| x.get(name))
                .flat_map(|x| match (each, x.as_array()) {
                    (true, Some(a)) => a.iter().collect::<Vec<_>>(),
                    _ => vec![x],
                })
                .collect();
        }
        here.iter()
            .filter_map(|x| x.as_object())
            .flat_map(|m| m.keys().cloned())
            .collect()
    }

    /// Fields the client reads that APIDOCS.md has no example of, with the
    /// DnsServer source that writes them (`DnsServerCore/WebServiceZonesApi.cs`,
    /// 2025). (endpoint, place, field, source)
    const SOURCE_ONLY: &[(&str, &str, &str, &str)] = &[
        (
            "/api/zones/records/get",
            "response.records[]",
            "comments",
            "WriteRecordAsJson: `if (!string.IsNullOrEmpty(comments)) jsonWriter.WriteString(\"comments\", comments)`",
        ),
        (
            "/api/zones/records/add",
            "response.addedRecord",
            "comments",
            "WriteRecordAsJson (the added record is written by it)",
        ),
        (
            "/api/zones/records/update",
            "response.updatedRecord",
            "comments",
            "WriteRecordAsJson (the updated record is written by it)",
        ),
        (
            "/api/zones/options/get",
            "response",
            "primaryNameServerAddresses",
            "GetZoneOptions: `WriteStartArray(\"primaryNameServerAddresses\")` for Secondary, \
             SecondaryForwarder, SecondaryCatalog and Stub zones (the example is a Primary zone)",
        ),
    ];

    /// The rData keys `crate::rdata` reads, per record type.
    const RDATA_READS: &[(&str, &[&str])] = &[
        ("A", &["ipAddress"]),
        ("AAAA", &["ipAddress"]),
        ("CNAME", &["cname"]),
        ("PTR", &["ptrName"]),
        ("NS", &["nameServer"]),
        ("MX", &["preference", "exchange"]),
        ("SRV", &["priority", "weight", "port", "target"]),
        ("CAA", &["flags", "tag", "value"]),
        ("TXT", &["text", "characterStrings"]),
    ];

    /// rData of the types APIDOCS.md has no record example of, as DnsServer
    /// `WebServiceZonesApi.cs` `WriteRecordAsJson` writes them (2025 source;
    /// AAAA like A: `WriteString("ipAddress", rdata.Address.ToString())`).
    const SOURCE_RDATA: &[(&str, &[&str])] = &[
        ("AAAA", &["ipAddress"]),
        ("PTR", &["ptrName"]),
        ("MX", &["preference", "exchange"]),
        ("SRV", &["priority", "weight", "port", "target"]),
        ("CAA", &["flags", "tag", "value"]),
        ("TXT", &["text", "splitText", "characterStrings"]),
    ];

    /// Every response field the client reads is in APIDOCS.md's example for
    /// the endpoint it reads it from, or listed in SOURCE_ONLY/SOURCE_RDATA
    /// with the vendor source that writes it (and then not in the docs).
    #[test]
    fn fields_read_are_documented() {
        let Some((docs, error)) = documented_examples() else {
            return;
        };
        let example = |e: &str| {
            docs.get(e)
                .unwrap_or_else(|| panic!("{e}: no readable example in APIDOCS.md"))
        };
        let mut problems = Vec::new();
        // The envelope, on every call: `status` and `response` (records/get),
        // `token` (login), `errorMessage` (the error envelope).
        let mut envelope = keys_at(example("/api/user/login"), "");
        envelope.extend(keys_at(example("/api/zones/records/get"), ""));
        envelope.extend(keys_at(&error, ""));
        for f in fields_of::<Envelope>() {
            if !envelope.contains(*f) {
                problems.push(format!("Envelope.{f}: not in any envelope the docs show"));
            }
        }
        let mut source_used = std::collections::BTreeSet::new();
        let mut check = |endpoint: &str, place: &str, fields: &[&str]| {
            let documented = keys_at(example(endpoint), place);
            assert!(
                !documented.is_empty(),
                "{endpoint} {place}: nothing documented"
            );
            for f in fields {
                let source = SOURCE_ONLY
                    .iter()
                    .find(|(e, p, k, _)| *e == endpoint && *p == place && k == f);
                match (documented.contains(*f), source) {
                    (true, None) => {}
                    (true, Some(_)) => problems.push(format!(
                        "{endpoint} {place}.{f} is documented now: drop it from SOURCE_ONLY"
                    )),
                    (false, Some(_)) => {
                        source_used.insert((endpoint.to_string(), f.to_string()));
                    }
                    (false, None) => problems.push(format!(
                        "{endpoint} {place}.{f}: read but not documented (docs have {documented:?})"
                    )),
                }
            }
        };

        check("/api/user/login", "", &["token"]);
        check(
            "/api/zones/records/get",
            "response",
            fields_of::<RecordsResponse>(),
        );
        let record = fields_of::<RecordInfo>();
        check("/api/zones/records/get", "response.records[]", record);
        check("/api/zones/records/add", "response", &["addedRecord"]);
        check("/api/zones/records/add", "response.addedRecord", record);
        check("/api/zones/records/update", "response", &["updatedRecord"]);
        check(
            "/api/zones/records/update",
            "response.updatedRecord",
            record,
        );
        check("/api/zones/list", "response", fields_of::<ZonesResponse>());
        check(
            "/api/zones/list",
            "response.zones[]",
            fields_of::<ZoneInfo>(),
        );
        check(
            "/api/zones/options/get",
            "response",
            fields_of::<ZoneOptions>(),
        );
        check("/api/zones/create", "response", &["domain"]);
        for (e, _, f, _) in SOURCE_ONLY {
            if !source_used.contains(&(e.to_string(), f.to_string())) {
                problems.push(format!("SOURCE_ONLY {e} {f} is not read: drop it"));
            }
        }

        // rData per record type, from every record the docs render.
        let mut rdata: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
        for (e, place) in [
            ("/api/zones/records/get", "response.records[]"),
            ("/api/zones/records/add", "response.addedRecord"),
            ("/api/zones/records/update", "response.updatedRecord"),
        ] {
            let mut here = vec![example(e)];
            for part in place.split('.') {
                let name = part.trim_end_matches("[]");
                here = here
                    .into_iter()
                    .filter_map(|x| x.get(name))
                    .flat_map(|x| x.as_array().map_or(vec![x], |a| a.iter().collect()))
                    .collect();
            }
            for r in here {
                if let (Some(t), Some(m)) = (r["type"].as_str(), r["rData"].as_object()) {
                    rdata
                        .entry(t.to_string())
                        .or_default()
                        .extend(m.keys().cloned());
                }
            }
        }
        assert!(
            rdata.contains_key("A") && rdata.contains_key("NS"),
            "{rdata:?}"
        );
        for (t, keys) in RDATA_READS {
            let source = SOURCE_RDATA.iter().find(|(s, _)| s == t);
            match (rdata.get(*t), source) {
                (Some(documented), None) => {
                    for k in *keys {
                        if !documented.contains(*k) {
                            problems.push(format!("rData({t}).{k}: read but not documented"));
                        }
                    }
                }
                (Some(_), Some(_)) => problems.push(format!(
                    "rData({t}) is documented now: drop it from SOURCE_RDATA"
                )),
                (None, Some((_, written))) => {
                    for k in *keys {
                        if !written.contains(k) {
                            problems
                                .push(format!("rData({t}).{k}: neither documented nor written"));
                        }
                    }
                }
                (None, None) => problems.push(format!("rData({t}): no example, no source")),
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// RDATA_READS and the raw `get`s checked above are every literal key the
    /// client code reads, so a new read cannot skip the check.
    #[test]
    fn reads_checked_are_all_the_reads() {
        let quoted_after = |src: &str, pat: &str| -> Vec<String> {
            src.match_indices(pat)
                .filter_map(|(i, _)| {
                    let rest = &src[i + pat.len()..];
                    rest.split_once('"').map(|(k, _)| k.to_string())
                })
                .collect()
        };
        let rdata_src = include_str!("../rdata.rs");
        let mut read: Vec<String> = [".str(\"", ".num(\"", "rdata.get(\""]
            .iter()
            .flat_map(|p| quoted_after(rdata_src, p))
            .collect();
        read.sort();
        read.dedup();
        assert!(read.len() >= 10, "{read:?}");
        for k in &read {
            assert!(
                RDATA_READS.iter().any(|(_, ks)| ks.contains(&k.as_str())),
                "rdata.rs reads rData `{k}`, which RDATA_READS does not list"
            );
        }
        let this = include_str!("mod.rs");
        let code = this.split("#[cfg(test)]").next().unwrap();
        let mut raw: Vec<String> = [".get(\"", "answered(&v, \""]
            .iter()
            .flat_map(|p| quoted_after(code, p))
            .collect();
        raw.sort();
        assert_eq!(raw, vec!["addedRecord", "domain", "updatedRecord"]);
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

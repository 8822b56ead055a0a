//! Typed Cloudflare API v4 client (DNS subset): the `{success, errors,
//! result, result_info}` envelope, Bearer token auth, pagination, a
//! client-side rate limit, retries (through [`labforge_http`]), a short-lived
//! per-zone record cache so that refreshing many records of one zone costs one
//! list request instead of one request per record, and each zone's name
//! (fetched once per zone with `GET /zones/{zone_id}`: record answers do not
//! carry it).
//!
//! These serde models are the provider's own; the simulator never shares them.
//! Every field they read is one the official OpenAPI documents (checked by
//! `tests::fields_read_are_documented`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use labforge_http::{
    ApiErrorKind, ErrorKind, HttpError, RateLimiter, RetryPolicy, TlsSettings, send_with_retry,
};

use crate::Settings;

/// Records per list page. Cloudflare documents a maximum far above this; 5000
/// keeps most zones to a single request.
pub const LIST_PER_PAGE: u32 = 5000;
/// Zones per page (the API's maximum for `GET /zones`).
const ZONES_PER_PAGE: u32 = 50;
/// How long a zone's record list may answer refreshes.
pub const CACHE_TTL: Duration = Duration::from_secs(20);

/// One `errors[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiMessage {
    /// Cloudflare's numeric error code (e.g. 81044 for a record that does
    /// not exist); 0 when the entry has none.
    #[serde(default)]
    pub code: i64,
    /// The human-readable message; empty when the entry has none.
    #[serde(default)]
    pub message: String,
}

/// `result_info` of list answers.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResultInfo {
    /// The page this answer holds, from 1; 0 when absent.
    #[serde(default)]
    pub page: u32,
    /// How many pages there are; `None` when the answer does not say.
    #[serde(default)]
    pub total_pages: Option<u32>,
    /// Rows on this page; `None` when the answer does not say.
    #[serde(default)]
    pub count: Option<u32>,
    /// Rows over all pages; `None` when the answer does not say.
    #[serde(default)]
    pub total_count: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<T>,
    #[serde(default)]
    result_info: Option<ResultInfo>,
}

/// Errors of the Cloudflare API. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The object does not exist (HTTP 404, code 81044, or 7003 "could not route").
    #[error("{method} {path}: not found ({})", render(errors))]
    NotFound {
        /// The HTTP method, e.g. `GET`.
        method: String,
        /// The API path (no host, no query), e.g. `/zones/{zone_id}/dns_records`.
        path: String,
        /// The answer's `errors[]`; empty when it had none.
        errors: Vec<ApiMessage>,
    },
    /// The token is not allowed to do this (HTTP 403 / code 10000, 9109).
    #[error(
        "{method} {path}: permission denied ({}). Check the API token's permissions (Zone:DNS Read \
         for plans, Zone:DNS Edit for changes) and the zones it covers.",
        render(errors)
    )]
    Forbidden {
        /// The HTTP method, e.g. `GET`.
        method: String,
        /// The API path (no host, no query), e.g. `/zones/{zone_id}/dns_records`.
        path: String,
        /// The answer's `errors[]`; empty when it had none.
        errors: Vec<ApiMessage>,
    },
    /// Too many requests, after all retries.
    #[error(
        "{method} {path}: rate limited by Cloudflare after retries ({}). Lower `requests_per_5_minutes` \
         (Cloudflare blocks a token for 5 minutes once its budget is spent; another tool may share \
         it) or raise `max_retries` in the provider's cloudflare block.",
        render(errors)
    )]
    RateLimited {
        /// The HTTP method, e.g. `GET`.
        method: String,
        /// The API path (no host, no query), e.g. `/zones/{zone_id}/dns_records`.
        path: String,
        /// The answer's `errors[]`; empty when it had none.
        errors: Vec<ApiMessage>,
    },
    /// Any other API failure.
    #[error("{method} {path}: HTTP {status}: {}", render(errors))]
    Api {
        /// The HTTP method, e.g. `GET`.
        method: String,
        /// The API path (no host, no query), e.g. `/zones/{zone_id}/dns_records`.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The answer's `errors[]`; empty when it had none.
        errors: Vec<ApiMessage>,
    },
    /// The answer was not what the API documents.
    #[error("{method} {path}: unexpected answer (HTTP {status}): {message}")]
    Decode {
        /// The HTTP method, e.g. `GET`.
        method: String,
        /// The API path (no host, no query), e.g. `/zones/{zone_id}/dns_records`.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// What could not be read, and why.
        message: String,
    },
    /// The request never got a usable answer (connection, TLS, timeout, a
    /// body that could not be read), after the retries.
    #[error(transparent)]
    Transport(#[from] HttpError),
}

impl ApiErrorKind for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::NotFound { .. } => ErrorKind::NotFound,
            // 401 and 403 alike: the token is refused or lacks a permission.
            ApiError::Forbidden { .. } => ErrorKind::Forbidden,
            ApiError::RateLimited { .. } => ErrorKind::RateLimited,
            ApiError::Api { status, .. } => ErrorKind::from_status(*status),
            ApiError::Decode { .. } => ErrorKind::Decode,
            ApiError::Transport(e) => e.api_kind(),
        }
    }
}

impl ApiError {
    /// Cloudflare error codes carried by the error.
    pub fn codes(&self) -> Vec<i64> {
        match self {
            ApiError::NotFound { errors, .. }
            | ApiError::Forbidden { errors, .. }
            | ApiError::RateLimited { errors, .. }
            | ApiError::Api { errors, .. } => errors.iter().map(|e| e.code).collect(),
            _ => Vec::new(),
        }
    }
}

fn render(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error details".to_string();
    }
    errors
        .iter()
        .map(|e| format!("{} (code {})", e.message, e.code))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sort an error answer into an [`ApiError`].
pub fn classify(method: &str, path: &str, status: u16, errors: Vec<ApiMessage>) -> ApiError {
    let (method, path) = (method.to_string(), path.to_string());
    let has = |c: i64| errors.iter().any(|e| e.code == c);
    if status == 404 || has(81044) || has(7003) || has(7000) {
        ApiError::NotFound {
            method,
            path,
            errors,
        }
    } else if status == 429 || has(971) || has(10100) {
        ApiError::RateLimited {
            method,
            path,
            errors,
        }
    } else if status == 403 || status == 401 || has(10000) || has(9109) {
        ApiError::Forbidden {
            method,
            path,
            errors,
        }
    } else {
        ApiError::Api {
            method,
            path,
            status,
            errors,
        }
    }
}

/// A zone as the API returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiZone {
    /// Zone id: 32 hexadecimal digits.
    pub id: String,
    /// Domain name, e.g. `example.com`.
    pub name: String,
    /// `initializing`, `pending`, `active` or `moved` (OpenAPI
    /// `zones_zone.status`); `None` when the answer has none.
    #[serde(default)]
    pub status: Option<String>,
    /// The name servers Cloudflare assigns to the zone; empty when absent.
    #[serde(default)]
    pub name_servers: Vec<String>,
}

/// A DNS record as the API returns it (OpenAPI `dns-records_dns-record-response`,
/// which has no `zone_id` or `zone_name`: the zone's name comes from
/// [`Client::zone_name`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiRecord {
    /// Record id: 32 hexadecimal digits.
    pub id: String,
    /// Complete record name, zone name included, in Punycode
    /// (`www.example.com`).
    pub name: String,
    /// Record type (`A`, `MX`, `SRV`, ...).
    #[serde(rename = "type")]
    pub record_type: String,
    /// The value of types without structured `data` (address, host name,
    /// text); for SRV and CAA a rendering of `data`. `None` when absent.
    #[serde(default)]
    pub content: Option<String>,
    /// MX priority (the API may also return it for other types, where it
    /// means nothing); `None` when absent.
    #[serde(default)]
    pub priority: Option<i64>,
    /// Structured value of SRV and CAA records; `None` for other types.
    #[serde(default)]
    pub data: Option<ApiRecordData>,
    /// Whether Cloudflare can proxy the record; `None` when absent.
    #[serde(default)]
    pub proxiable: Option<bool>,
    /// Whether traffic goes through Cloudflare's proxy; `None` when absent.
    #[serde(default)]
    pub proxied: Option<bool>,
    /// Time to live in seconds; 1 means automatic. `None` when absent.
    #[serde(default)]
    pub ttl: Option<i64>,
    /// Free-text note (no effect on DNS answers); `None` when absent.
    #[serde(default)]
    pub comment: Option<String>,
    /// Tags, each `name:value` (no effect on DNS answers); `None` when absent.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Creation time, RFC 3339; `None` when absent.
    #[serde(default)]
    pub created_on: Option<String>,
    /// Last modification time, RFC 3339; `None` when absent.
    #[serde(default)]
    pub modified_on: Option<String>,
}

/// Structured `data` of SRV and CAA records (the fields we manage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiRecordData {
    /// CAA flags (0-255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<i64>,
    /// CAA property tag (`issue`, `issuewild`, `iodef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// CAA value, e.g. `letsencrypt.org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// SRV priority (lower is preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// SRV weight among targets of equal priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// SRV port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// SRV target host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The body of `POST` and `PUT` (full replace) of a record. Only what the
/// OpenAPI record schemas allow, never `null`: the schema types every field
/// without `nullable`, and a validating server answers 400 to a `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordInput {
    /// Record type.
    #[serde(rename = "type")]
    pub record_type: String,
    /// Record name, as configured (relative such as `www`, `@`, or complete).
    pub name: String,
    /// The value of types without `data`; not sent when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The value of SRV and CAA records; not sent when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<ApiRecordData>,
    /// Top-level `priority`: MX only (`dns-records_MXRecord`); SRV carries it
    /// in `data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Time to live in seconds; 1 means automatic.
    pub ttl: i64,
    /// Send traffic through Cloudflare's proxy (A, AAAA and CNAME only).
    pub proxied: bool,
    /// `dns-records_comment` is a string: always sent, the empty string
    /// meaning "no comment" (so a `PUT` clears an old one).
    pub comment: String,
    /// Tags, each `name:value`; always sent, so a `PUT` clears old ones.
    pub tags: Vec<String>,
}

/// One zone's record list, shared by the refreshes of that zone's records,
/// and the zone's name.
#[derive(Default)]
struct ZoneCache {
    /// Bumped by every write to the zone; a list fetched under an older
    /// generation is stale.
    generation: AtomicU64,
    list: tokio::sync::Mutex<Option<CachedList>>,
    /// `result.name` of `GET /zones/{zone_id}`, fetched once.
    name: tokio::sync::OnceCell<String>,
}

struct CachedList {
    fetched: Instant,
    generation: u64,
    records: Arc<HashMap<String, ApiRecord>>,
}

/// The Cloudflare API client.
pub struct Client {
    /// The settings the client was built with.
    pub settings: Settings,
    http: reqwest::Client,
    limiter: RateLimiter,
    policy: RetryPolicy,
    cache: Mutex<HashMap<String, Arc<ZoneCache>>>,
    /// Requests sent (attempts, including retries), for diagnostics and tests.
    requests: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `settings.base_url`; nothing is sent yet. Fails only
    /// when the HTTP client cannot be built.
    pub fn new(settings: Settings) -> Result<Self, labforge_http::ClientError> {
        let http = labforge_http::client(&TlsSettings::default(), Duration::from_secs(60))?;
        let limiter = RateLimiter::new(settings.rate_limit);
        let policy = RetryPolicy {
            max_retries: settings.max_retries,
            ..RetryPolicy::default()
        };
        Ok(Self {
            settings,
            http,
            limiter,
            policy,
            cache: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests sent so far by this client (every attempt counts).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.base_url.trim_end_matches('/'), path)
    }

    /// Send one request (with rate limit and retries) and decode the envelope.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&RecordInput>,
    ) -> Result<(T, Option<ResultInfo>), ApiError> {
        let url = self.url(path);
        let m = method.as_str().to_string();
        let resp = send_with_retry(self.policy, &m, path, || {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.settings.api_token.expose())
                .query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            async {
                self.limiter.acquire().await;
                self.requests.fetch_add(1, Ordering::Relaxed);
                req.send().await
            }
        })
        .await?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| HttpError::body(&m, path, e))?;
        let env: Envelope<T> = match serde_json::from_slice(&bytes) {
            Ok(env) => env,
            Err(e) => {
                // Not the envelope: an error page from a proxy, or a bad result shape.
                if !(200..300).contains(&status) {
                    return Err(classify(&m, path, status, Vec::new()));
                }
                return Err(ApiError::Decode {
                    method: m,
                    path: path.to_string(),
                    status,
                    message: e.to_string(),
                });
            }
        };
        tracing::debug!(method = %m, path, status, success = env.success, "cloudflare api");
        if !env.success || !(200..300).contains(&status) {
            return Err(classify(&m, path, status, env.errors));
        }
        match env.result {
            Some(r) => Ok((r, env.result_info)),
            None => Err(ApiError::Decode {
                method: m,
                path: path.to_string(),
                status,
                message: "the answer has no result".to_string(),
            }),
        }
    }

    // ------------------------------------------------------------ zones

    /// `GET /zones/{zone_id}`; [`ApiError::NotFound`] when there is no such
    /// zone (or the token cannot see it).
    pub async fn get_zone(&self, zone_id: &str) -> Result<ApiZone, ApiError> {
        let path = format!("/zones/{}", seg(zone_id));
        Ok(self.call(reqwest::Method::GET, &path, &[], None).await?.0)
    }

    /// The zone's name (`example.com`), which record answers do not carry:
    /// `GET /zones/{zone_id}` once per zone, then from memory.
    pub async fn zone_name(&self, zone_id: &str) -> Result<String, ApiError> {
        let zc = self.zone_cache(zone_id);
        let name = zc
            .name
            .get_or_try_init(|| async {
                self.get_zone(zone_id)
                    .await
                    .map(|z| z.name.trim_end_matches('.').to_ascii_lowercase())
            })
            .await?;
        Ok(name.clone())
    }

    /// Zones named `name` (exact match). Works with zone-scoped tokens too,
    /// which see only their own zones.
    pub async fn find_zones(&self, name: &str) -> Result<Vec<ApiZone>, ApiError> {
        let want = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let q = [
                ("name", want.clone()),
                ("page", page.to_string()),
                ("per_page", ZONES_PER_PAGE.to_string()),
            ];
            let (zones, info): (Vec<ApiZone>, _) =
                self.call(reqwest::Method::GET, "/zones", &q, None).await?;
            let n = zones.len();
            out.extend(zones.into_iter().filter(|z| z.name == want));
            if !more_pages(info.as_ref(), page, n, ZONES_PER_PAGE) {
                break;
            }
            page += 1;
        }
        Ok(out)
    }

    /// Every zone the token can see (`GET /zones`, all pages, by name).
    /// Needs the zone list permission: a zone-scoped token without it gets
    /// 403 (code 9109), and may still look zones up by name
    /// ([`Client::find_zones`]) or id ([`Client::get_zone`]).
    pub async fn list_zones(&self) -> Result<Vec<ApiZone>, ApiError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let q = [
                ("page", page.to_string()),
                ("per_page", ZONES_PER_PAGE.to_string()),
                ("order", "name".to_string()),
            ];
            let (zones, info): (Vec<ApiZone>, _) =
                self.call(reqwest::Method::GET, "/zones", &q, None).await?;
            let n = zones.len();
            out.extend(zones);
            if !more_pages(info.as_ref(), page, n, ZONES_PER_PAGE) || page >= 100_000 {
                break;
            }
            page += 1;
        }
        Ok(out)
    }

    // ------------------------------------------------------------ records

    fn zone_cache(&self, zone_id: &str) -> Arc<ZoneCache> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(zone_id.to_string())
            .or_default()
            .clone()
    }

    fn invalidate(&self, zone_id: &str) {
        self.zone_cache(zone_id)
            .generation
            .fetch_add(1, Ordering::SeqCst);
    }

    /// Every record of a zone, following `result_info` over all pages.
    pub async fn list_records(&self, zone_id: &str) -> Result<Vec<ApiRecord>, ApiError> {
        self.list_records_paged(zone_id, LIST_PER_PAGE).await
    }

    /// Every record of a zone, asking for `per_page` records per request.
    pub async fn list_records_paged(
        &self,
        zone_id: &str,
        per_page: u32,
    ) -> Result<Vec<ApiRecord>, ApiError> {
        self.list_records_where(zone_id, per_page, None).await
    }

    /// Every record of one type in a zone (filtered by the API).
    pub async fn list_records_of_type(
        &self,
        zone_id: &str,
        record_type: &str,
    ) -> Result<Vec<ApiRecord>, ApiError> {
        self.list_records_where(zone_id, LIST_PER_PAGE, Some(record_type))
            .await
    }

    async fn list_records_where(
        &self,
        zone_id: &str,
        per_page: u32,
        record_type: Option<&str>,
    ) -> Result<Vec<ApiRecord>, ApiError> {
        let path = format!("/zones/{}/dns_records", seg(zone_id));
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let mut q = vec![
                ("page", page.to_string()),
                ("per_page", per_page.to_string()),
            ];
            q.extend(record_type.map(|t| ("type", t.to_string())));
            let (rows, info): (Vec<ApiRecord>, _) =
                self.call(reqwest::Method::GET, &path, &q, None).await?;
            let n = rows.len();
            out.extend(rows);
            if !more_pages(info.as_ref(), page, n, per_page) {
                break;
            }
            page += 1;
            if page > 100_000 {
                break;
            }
        }
        Ok(out)
    }

    /// One record, straight from the API. `None` when it does not exist.
    pub async fn get_record(&self, zone_id: &str, id: &str) -> Result<Option<ApiRecord>, ApiError> {
        let path = format!("/zones/{}/dns_records/{}", seg(zone_id), seg(id));
        match self.call(reqwest::Method::GET, &path, &[], None).await {
            Ok((r, _)) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One record for a refresh: answered from the zone's record list, which
    /// is fetched once and shared by every record of the zone for
    /// [`CACHE_TTL`] (writes to the zone invalidate it). Falls back to a
    /// single `GET` when the list cannot be fetched.
    pub async fn read_record(
        &self,
        zone_id: &str,
        id: &str,
    ) -> Result<Option<ApiRecord>, ApiError> {
        let zc = self.zone_cache(zone_id);
        let mut slot = zc.list.lock().await;
        let generation = zc.generation.load(Ordering::SeqCst);
        if let Some(c) = slot.as_ref()
            && c.generation == generation
            && c.fetched.elapsed() < CACHE_TTL
        {
            return Ok(c.records.get(id).cloned());
        }
        match self.list_records(zone_id).await {
            Ok(rows) => {
                let records: HashMap<String, ApiRecord> =
                    rows.into_iter().map(|r| (r.id.clone(), r)).collect();
                let found = records.get(id).cloned();
                *slot = Some(CachedList {
                    fetched: Instant::now(),
                    generation,
                    records: Arc::new(records),
                });
                Ok(found)
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) if e.is_forbidden() => {
                drop(slot);
                tracing::debug!("listing the zone's records is not allowed; reading one record");
                self.get_record(zone_id, id).await
            }
            Err(e) => Err(e),
        }
    }

    /// `POST` a new record; the record as created (with its id).
    pub async fn create_record(
        &self,
        zone_id: &str,
        input: &RecordInput,
    ) -> Result<ApiRecord, ApiError> {
        let path = format!("/zones/{}/dns_records", seg(zone_id));
        self.invalidate(zone_id);
        let r = self
            .call(reqwest::Method::POST, &path, &[], Some(input))
            .await;
        self.invalidate(zone_id);
        Ok(r?.0)
    }

    /// Full replace (`PUT`): fields left out are cleared.
    pub async fn update_record(
        &self,
        zone_id: &str,
        id: &str,
        input: &RecordInput,
    ) -> Result<ApiRecord, ApiError> {
        let path = format!("/zones/{}/dns_records/{}", seg(zone_id), seg(id));
        self.invalidate(zone_id);
        let r = self
            .call(reqwest::Method::PUT, &path, &[], Some(input))
            .await;
        self.invalidate(zone_id);
        Ok(r?.0)
    }

    /// Delete; succeeds when the record is already gone.
    pub async fn delete_record(&self, zone_id: &str, id: &str) -> Result<(), ApiError> {
        let path = format!("/zones/{}/dns_records/{}", seg(zone_id), seg(id));
        self.invalidate(zone_id);
        let r = self
            .call::<serde_json::Value>(reqwest::Method::DELETE, &path, &[], None)
            .await;
        self.invalidate(zone_id);
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Whether another page follows page `page` which held `n` rows.
fn more_pages(info: Option<&ResultInfo>, page: u32, n: usize, per_page: u32) -> bool {
    match info {
        Some(ResultInfo {
            total_pages: Some(total),
            ..
        }) => page < *total,
        Some(ResultInfo {
            total_count: Some(total),
            ..
        }) => u64::from(page) * u64::from(per_page) < u64::from(*total),
        _ => n as u64 >= u64::from(per_page) && n > 0,
    }
}

/// A path segment: ids are hex, but never let input change the path.
fn seg(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c.to_string()
            } else {
                format!("%{:02X}", u32::from(c) & 0xff)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn errors_are_classified_by_status_and_code() {
        let m = |code: i64| {
            vec![ApiMessage {
                code,
                message: "x".into(),
            }]
        };
        assert!(classify("GET", "/p", 404, m(81044)).is_not_found());
        assert!(classify("GET", "/p", 400, m(7003)).is_not_found());
        assert!(classify("GET", "/p", 403, m(9109)).is_forbidden());
        assert!(classify("PUT", "/p", 403, m(10000)).is_forbidden());
        assert!(matches!(
            classify("GET", "/p", 429, m(971)),
            ApiError::RateLimited { .. }
        ));
        let e = classify("POST", "/p", 400, m(81057));
        assert_eq!(e.codes(), vec![81057]);
        assert!(e.to_string().contains("x (code 81057)"), "{e}");
    }

    #[test]
    fn errors_have_the_shared_kinds() {
        let m = |code: i64| {
            vec![ApiMessage {
                code,
                message: "x".into(),
            }]
        };
        let kind =
            |method: &str, status: u16, code: i64| classify(method, "/p", status, m(code)).kind();
        assert_eq!(kind("GET", 404, 81044), ErrorKind::NotFound);
        assert_eq!(kind("GET", 400, 7003), ErrorKind::NotFound);
        assert_eq!(kind("GET", 403, 9109), ErrorKind::Forbidden);
        assert_eq!(kind("GET", 401, 10000), ErrorKind::Forbidden);
        assert_eq!(kind("GET", 429, 971), ErrorKind::RateLimited);
        assert_eq!(kind("GET", 400, 10100), ErrorKind::RateLimited);
        assert_eq!(kind("POST", 400, 9005), ErrorKind::Invalid);
        assert_eq!(kind("POST", 500, 1000), ErrorKind::Other);
        let decode = ApiError::Decode {
            method: "GET".into(),
            path: "/p".into(),
            status: 200,
            message: "x".into(),
        };
        assert_eq!(decode.kind(), ErrorKind::Decode);
        // A lost answer to a POST may hide a record; to a GET it hides nothing.
        let post: ApiError = HttpError::answer_lost("POST", "/p", "reset").into();
        assert!(post.is_answer_lost());
        let get: ApiError = HttpError::answer_lost("GET", "/p", "reset").into();
        assert_eq!(get.kind(), ErrorKind::Transport);
    }

    #[test]
    fn envelope_and_records_decode() {
        let body = r#"{"success":true,"errors":[],"messages":[],"result":[{"id":"a",
            "name":"www.example.com","type":"SRV","content":"1 2 t.example.com",
            "data":{"priority":10,"weight":1,"port":2,"target":"t.example.com"},
            "proxiable":false,"proxied":false,"ttl":1,"comment":null,"tags":[],"settings":{},"meta":{},
            "created_on":"2024-01-01T00:00:00Z","modified_on":"2024-01-01T00:00:00Z"}],
            "result_info":{"page":1,"per_page":100,"count":1,"total_count":1,"total_pages":1}}"#;
        let env: Envelope<Vec<ApiRecord>> = serde_json::from_str(body).unwrap();
        assert!(env.success);
        let r = &env.result.unwrap()[0];
        assert_eq!(r.record_type, "SRV");
        assert_eq!(r.data.as_ref().unwrap().port, Some(2));
        assert!(!more_pages(env.result_info.as_ref(), 1, 1, 100));
    }

    #[test]
    fn pagination_follows_result_info() {
        let info = ResultInfo {
            page: 1,
            total_pages: Some(3),
            ..Default::default()
        };
        assert!(more_pages(Some(&info), 2, 5, 5));
        assert!(!more_pages(Some(&info), 3, 5, 5));
        let info = ResultInfo {
            total_count: Some(11),
            ..Default::default()
        };
        assert!(more_pages(Some(&info), 2, 5, 5));
        assert!(!more_pages(Some(&info), 3, 1, 5));
        assert!(more_pages(None, 1, 5, 5));
        assert!(!more_pages(None, 1, 4, 5));
    }

    #[test]
    fn input_serializes_like_the_api_expects() {
        let input = RecordInput {
            record_type: "MX".into(),
            name: "@".into(),
            content: Some("mail.example.com".into()),
            data: None,
            priority: Some(10),
            ttl: 1,
            proxied: false,
            comment: String::new(),
            tags: vec!["env:lab".into()],
        };
        let v = serde_json::to_value(&input).unwrap();
        assert_eq!(v["type"], "MX");
        assert_eq!(v["priority"], 10);
        // No comment: the empty string (the schema's type), never null.
        assert_eq!(v["comment"], "");
        assert!(v.get("data").is_none());
        fn no_nulls(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Null => false,
                serde_json::Value::Array(a) => a.iter().all(no_nulls),
                serde_json::Value::Object(m) => m.values().all(no_nulls),
                _ => true,
            }
        }
        assert!(no_nulls(&v), "{v}");
    }

    /// The field names a `Deserialize` struct asks for (serde hands them to
    /// `deserialize_struct`), so the list below cannot drift from the code.
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

    fn openapi() -> Option<serde_json::Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/cloudflare/cloudflare-dns.openapi.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(serde_json::from_str(&text).unwrap()),
            Err(_) => {
                eprintln!(
                    "SKIPPED: {} is absent; cannot check the fields the client reads",
                    path.display()
                );
                None
            }
        }
    }

    /// Every property name a schema documents, following `$ref`, `allOf`,
    /// `anyOf` and `oneOf` (the union over all record types).
    fn documented(doc: &serde_json::Value, schema: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/schemas/");
            return documented(doc, &doc["components"]["schemas"][name], out);
        }
        if let Some(props) = schema["properties"].as_object() {
            out.extend(props.keys().cloned());
        }
        for k in ["allOf", "anyOf", "oneOf"] {
            for s in schema[k].as_array().into_iter().flatten() {
                documented(doc, s, out);
            }
        }
    }

    /// The documented properties of property `field` of a schema (e.g. `data`).
    fn documented_under(
        doc: &serde_json::Value,
        schema: &serde_json::Value,
        field: &str,
        out: &mut BTreeSet<String>,
    ) {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/schemas/");
            return documented_under(doc, &doc["components"]["schemas"][name], field, out);
        }
        if let Some(sub) = schema["properties"].get(field) {
            documented(doc, sub, out);
        }
        for k in ["allOf", "anyOf", "oneOf"] {
            for s in schema[k].as_array().into_iter().flatten() {
                documented_under(doc, s, field, out);
            }
        }
    }

    /// Each response field the client reads is one the OpenAPI documents
    /// (a record answer has no `zone_name` or `zone_id`, for example).
    #[test]
    fn fields_read_are_documented() {
        let Some(doc) = openapi() else { return };
        let schema = |n: &str| doc["components"]["schemas"][n].clone();
        let props = |s: &serde_json::Value| {
            let mut out = BTreeSet::new();
            documented(&doc, s, &mut out);
            out
        };
        let record = props(&schema("dns-records_dns-record-response"));
        let mut data = BTreeSet::new();
        for t in ["SRV", "CAA"] {
            documented_under(
                &doc,
                &schema(&format!("dns-records_{t}Record")),
                "data",
                &mut data,
            );
        }
        let zone = props(&schema("zones_zone"));
        let mut envelope = props(&schema("dns-records_api-response-common"));
        envelope.extend(["result".to_string(), "result_info".to_string()]);
        let mut info = BTreeSet::new();
        documented_under(
            &doc,
            &schema("dns-records_api-response-collection"),
            "result_info",
            &mut info,
        );
        let message = props(&schema("dns-records_messages")["items"]);
        let checks: [(&str, &[&str], &BTreeSet<String>); 6] = [
            ("ApiRecord", fields_of::<ApiRecord>(), &record),
            ("ApiRecordData", fields_of::<ApiRecordData>(), &data),
            ("ApiZone", fields_of::<ApiZone>(), &zone),
            ("Envelope", fields_of::<Envelope<ApiZone>>(), &envelope),
            ("ResultInfo", fields_of::<ResultInfo>(), &info),
            ("ApiMessage", fields_of::<ApiMessage>(), &message),
        ];
        for (what, fields, documented) in checks {
            assert!(!documented.is_empty(), "{what}: nothing documented?");
            for f in fields {
                assert!(
                    documented.contains(*f),
                    "{what} reads `{f}`, which the OpenAPI does not document (it has: {documented:?})"
                );
            }
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(seg("023e105f"), "023e105f");
        assert_eq!(seg("../x"), "..%2Fx");
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new(Settings {
            api_token: "secret-token".into(),
            base_url: "http://127.0.0.1:1/client/v4".into(),
            rate_limit: labforge_http::RateLimit::Unlimited,
            max_retries: 0,
        })
        .unwrap();
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}

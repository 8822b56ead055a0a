//! The RouterOS REST API client (RouterOS 7.1+, service `www-ssl` or `www`).
//!
//! Wire facts (MikroTik "REST API" manual; research notes §1c and Addendum):
//! - `https://router/rest/<menu path>`, HTTP Basic authentication with the
//!   console users;
//! - `GET` lists a menu (a JSON array, in the menu's order; `?key=value`
//!   filters by equality), `PUT` adds one item and answers it with its
//!   `.id`, `PATCH .../<id>` sets and answers the whole item, `DELETE
//!   .../<id>` removes, `POST .../move` with `.id` and `destination` moves an
//!   item before another (to the end without `destination`);
//! - every value is a string; ids are `*HEX`, allocated in increasing order;
//! - a failure is `{"error": <status>, "message": ..., "detail": <CLI error>}`;
//!   a user without the `write` policy gets HTTP 500 `not enough
//!   permissions (9)` (not retried: it is final).
//!
//! Resources call the typed methods of [`Client`] with a [`Table`]; they
//! never build a path or pick a verb.
//!
//! Refresh is per menu scope: [`Client::list`] fetches one chain (or one
//! address list, or the whole DNS table) once and shares the answer among
//! every resource of that scope in this provider process (single-flight,
//! short TTL, dropped on any write to the table).
//!
//! Retries: `GET`, `PATCH`, `DELETE` and `move` are idempotent and retried on
//! transient failures. An add (`PUT`) is retried only when it surely did not
//! reach the router; when its answer is lost, [`Client::add`] lists the table
//! and takes over the item it made (ids only grow, so it is one the
//! listing before the add did not have).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use labforge_http::{self as http, ApiErrorKind, ErrorKind, RetryPolicy, Secret, TlsSettings};

/// How long a listing is reused within one provider process.
const CACHE_TTL: Duration = Duration::from_secs(15);

/// A RouterOS menu the provider manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `/ip/firewall/filter`
    Filter,
    /// `/ip/firewall/nat`
    Nat,
    /// `/ip/firewall/address-list`
    AddressList,
    /// `/ip/dns/static`
    DnsStatic,
}

impl Table {
    /// The menu path below `/rest`.
    pub fn path(self) -> &'static str {
        match self {
            Table::Filter => "/ip/firewall/filter",
            Table::Nat => "/ip/firewall/nat",
            Table::AddressList => "/ip/firewall/address-list",
            Table::DnsStatic => "/ip/dns/static",
        }
    }
}

/// What to do after a failure the server or a gateway caused rather than
/// the request: 429, 502-504, and a 500 without a CLI `detail` (a command
/// failure carries the router's text, which says what is wrong). Found by
/// the acceptance fault matrix: these errors said what, not what next.
fn server_advice(status: u16, message: &str, detail: &str) -> &'static str {
    let no_detail = detail.is_empty() || detail == message;
    if status == 429 || matches!(status, 502..=504) || (status >= 500 && no_detail) {
        ". The router (or a proxy in front of it) failed or is busy: check that it is \
         reachable and healthy, then run terraform apply again (items are read back \
         before anything is changed)"
    } else {
        ""
    }
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request got no answer (connection, TLS, timeout), after the
    /// retries the method allows.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// HTTP 401: wrong user name or password (REST uses the console users).
    #[error(
        "{path}: the router refused the credentials (HTTP 401); check the routeros username and password"
    )]
    Unauthorized {
        /// The path called below `/rest`, e.g. `/ip/firewall/filter/*1A`.
        path: String,
    },
    /// The user's group lacks the `write` policy: RouterOS answers HTTP 500
    /// with detail `not enough permissions (9)`, not 401/403 (research notes
    /// Addendum 6; quoted in public client code, not in MikroTik's docs).
    #[error(
        "{path}: the router refused the change: {detail}. The user needs a group with the `write` policy (e.g. `write` or `full`)"
    )]
    Permission {
        /// The path called below `/rest`.
        path: String,
        /// The router's `detail` (its CLI error text).
        detail: String,
    },
    /// HTTP 404: the `.id` is not (or no longer) in the menu.
    #[error("{path}: no such item (HTTP 404)")]
    NotFound {
        /// The path called below `/rest`.
        path: String,
    },
    /// Detail `failure: already have such entry`: e.g. an address-list
    /// entry with the same `list` and `address` exists (research notes
    /// Addendum 4; reported for 7.21.4 in public client code).
    #[error("{path}: {detail}")]
    Exists {
        /// The path called below `/rest`.
        path: String,
        /// The router's `detail`.
        detail: String,
    },
    /// Any other failure envelope `{"error", "message", "detail"}`, e.g. 400
    /// for a value the router rejects.
    #[error("{path}: HTTP {status} {message}: {detail}{}", server_advice(*status, message, detail))]
    Api {
        /// The path called below `/rest`.
        path: String,
        /// The HTTP status (also the envelope's `error`).
        status: u16,
        /// The envelope's `message` (the status text, e.g. `Bad Request`);
        /// empty if the body is not the envelope.
        message: String,
        /// The envelope's `detail` (the CLI error), else the start of the
        /// body (200 characters at most), else `message`.
        detail: String,
    },
    /// A 2xx body that is not JSON, or not an item (object with `.id`) or a
    /// list of items; also an add that kept losing its answer.
    #[error("{path}: unexpected response: {message}")]
    Decode {
        /// The path called below `/rest`.
        path: String,
        /// What could not be read, and why.
        message: String,
    },
    /// The answer to an add was lost and more than one new item matches
    /// it; taking one over could steal another writer's item.
    #[error(
        "{path}: the answer to an add was lost and {found} new items like it are in the table; not taking any of them over"
    )]
    Ambiguous {
        /// The menu path added to.
        path: String,
        /// How many new items matched (2 or more).
        found: usize,
    },
}

impl ApiErrorKind for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Http(e) => e.api_kind(),
            ApiError::Unauthorized { .. } => ErrorKind::Unauthorized,
            ApiError::Permission { .. } => ErrorKind::Forbidden,
            ApiError::NotFound { .. } => ErrorKind::NotFound,
            ApiError::Exists { .. } => ErrorKind::AlreadyExists,
            // RouterOS answers command failures with 400 (bad values) or 500.
            ApiError::Api { status, .. } => ErrorKind::from_status(*status),
            ApiError::Decode { .. } => ErrorKind::Decode,
            // The add may have made one of the items: its outcome is unknown.
            ApiError::Ambiguous { .. } => ErrorKind::AnswerLost,
        }
    }
}

/// The error envelope of a failed call.
fn classify(path: &str, status: u16, body: &str) -> ApiError {
    let path = path.to_string();
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let message = text("message").unwrap_or_default();
    let detail = text("detail").unwrap_or_else(|| {
        let b: String = body.trim().chars().take(200).collect();
        if v.is_object() || b.is_empty() {
            message.clone()
        } else {
            b
        }
    });
    match status {
        401 => ApiError::Unauthorized { path },
        404 => ApiError::NotFound { path },
        _ if detail.contains("not enough permissions") => ApiError::Permission { path, detail },
        _ if detail.contains("already have such entry") => ApiError::Exists { path, detail },
        _ => ApiError::Api {
            path,
            status,
            message,
            detail,
        },
    }
}

/// One item of a menu: its `.id` and its properties (all strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The `.id`, `*HEX` (e.g. `*1A`); stable for the item's life.
    pub id: String,
    /// Every other key the router printed. REST sends every value as a
    /// string; a non-string JSON value is kept as its JSON text and a
    /// `null` is dropped.
    pub props: BTreeMap<String, String>,
}

impl Item {
    /// A property, if the router printed it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// A yes/no property (`"true"`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "yes"))
    }

    /// Dynamic items are the router's own (or, in address lists, timed).
    pub fn dynamic(&self) -> bool {
        self.flag("dynamic")
    }

    /// The number behind `*HEX`.
    pub fn number(&self) -> Option<u64> {
        id_number(&self.id)
    }

    fn from_json(path: &str, v: Value) -> Result<Item, ApiError> {
        let Value::Object(m) = v else {
            return Err(ApiError::Decode {
                path: path.into(),
                message: "an item is not a JSON object".into(),
            });
        };
        let mut props = BTreeMap::new();
        let mut id = None;
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s,
                Value::Null => continue,
                other => other.to_string(),
            };
            if k == ".id" {
                id = Some(s);
            } else {
                props.insert(k, s);
            }
        }
        let id = id.ok_or_else(|| ApiError::Decode {
            path: path.into(),
            message: "an item has no .id".into(),
        })?;
        Ok(Item { id, props })
    }
}

/// The number behind a `*HEX` id.
pub fn id_number(id: &str) -> Option<u64> {
    u64::from_str_radix(id.strip_prefix('*')?, 16).ok()
}

/// Whether `s` looks like a RouterOS id (`*1A`).
pub fn is_id(s: &str) -> bool {
    id_number(s).is_some()
}

/// Properties to write: values to set and names to unset (`!name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Props {
    /// Property name and value, sent as JSON strings.
    pub set: Vec<(String, String)>,
    /// Property names sent as `"!name": ""`. Only names in the menu's
    /// `unset value-name` completion can be unset (research notes Addendum 1).
    pub unset: Vec<String>,
}

impl Props {
    /// Nothing to set and nothing to unset.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty()
    }

    fn body(&self, extra: &[(&str, &str)]) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.set {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        for k in &self.unset {
            m.insert(format!("!{k}"), Value::String(String::new()));
        }
        for (k, v) in extra {
            m.insert((*k).to_string(), Value::String((*v).to_string()));
        }
        Value::Object(m)
    }
}

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `https://router` or `http://router` (the `/rest` suffix is optional).
    pub url: String,
    /// The console user to log in as (HTTP Basic).
    pub username: String,
    /// That user's password.
    pub password: Secret,
    /// PEM CA certificate to trust.
    pub ca_certificate: Option<String>,
    /// Skip TLS verification.
    pub insecure: bool,
}

#[derive(Debug, Default)]
struct SlotState {
    generation: u64,
    data: Option<(Instant, Arc<Vec<Item>>)>,
}

/// One scope's cached listing, fetched by one caller at a time.
#[derive(Debug, Default)]
struct Slot {
    fetch: tokio::sync::Mutex<()>,
    state: Mutex<SlotState>,
}

type Scope = (Table, Option<(&'static str, String)>);

/// How a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Any transient failure.
    Idempotent,
    /// Only when the request surely did not reach the router.
    Once,
}

/// What came back from one request.
enum Outcome {
    Answer(u16, String),
    /// The connection broke after the request may have been handled.
    Lost(http::HttpError),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The RouterOS REST client.
#[derive(Debug)]
pub struct Client {
    settings: Settings,
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    cache: Mutex<HashMap<Scope, Arc<Slot>>>,
    /// The highest id seen per table (ids only grow).
    seen: Mutex<HashMap<Table, u64>>,
}

impl Client {
    /// A client for `settings.url` (`/rest` appended unless present). Fails
    /// only if the TLS settings cannot be used (e.g. a CA that is not PEM).
    /// Requests time out after 59 s: RouterOS ends a REST request after 60 s.
    pub fn new(settings: Settings) -> Result<Self, labforge_http::ClientError> {
        let http = http::client(
            &TlsSettings {
                ca_cert: settings.ca_certificate.clone(),
                insecure: settings.insecure,
                client_identity: None,
            },
            // RouterOS ends REST requests after 60 s ("Session closed").
            Duration::from_secs(59),
        )?;
        let mut base = settings.url.trim().trim_end_matches('/').to_string();
        if let Some(b) = base.strip_suffix("/rest") {
            base = b.to_string();
        }
        base.push_str("/rest");
        Ok(Self {
            settings,
            http,
            base,
            retry: RetryPolicy::default(),
            cache: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Override the retry policy (tests).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The user the client logs in as.
    pub fn username(&self) -> &str {
        &self.settings.username
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry
            .base_delay
            .saturating_mul(1 << attempt.min(10))
            .min(self.retry.max_delay)
    }

    /// Send one request, retrying as `retry` allows.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Outcome, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0u32;
        loop {
            let mut req = self.http.request(method.clone(), &url).basic_auth(
                &self.settings.username,
                Some(self.settings.password.expose()),
            );
            if let Some(b) = body {
                req = req.json(b);
            }
            tracing::debug!(%method, path, attempt, "routeros request");
            let again = attempt < self.retry.max_retries;
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = match resp.text().await {
                        Ok(t) => t,
                        Err(e) if retry == Retry::Idempotent && again => {
                            tracing::debug!(path, error = %e, "reading the answer failed; retrying");
                            tokio::time::sleep(self.backoff(attempt)).await;
                            attempt += 1;
                            continue;
                        }
                        Err(e) => {
                            return Ok(Outcome::Lost(http::HttpError::body(
                                method.as_str(),
                                path,
                                e,
                            )));
                        }
                    };
                    // 500 is how RouterOS reports command failures
                    // (permissions): final for every method. Gateways'
                    // 502-504 and 429 never reached the router's menu.
                    let transient = matches!(status, 429 | 502 | 503 | 504);
                    if transient && again {
                        tracing::debug!(path, status, "transient failure; retrying");
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Ok(Outcome::Answer(status, text));
                }
                Err(e) => {
                    let err = http::HttpError::from_reqwest(method.as_str(), path, e);
                    let unsent = err.was_not_sent();
                    if (unsent || retry == Retry::Idempotent) && again {
                        tracing::debug!(path, error = %err, "transport failure; retrying");
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    if unsent || retry == Retry::Idempotent {
                        return Err(err.into());
                    }
                    return Ok(Outcome::Lost(err));
                }
            }
        }
    }

    /// An idempotent call: the answer's body, or the error it carries.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, ApiError> {
        match self.send(method, path, body, Retry::Idempotent).await? {
            Outcome::Answer(status, text) if (200..300).contains(&status) => Ok(text),
            Outcome::Answer(status, text) => Err(classify(path, status, &text)),
            Outcome::Lost(e) => Err(e.into()),
        }
    }

    fn decode_items(path: &str, text: &str) -> Result<Vec<Item>, ApiError> {
        let v: Value = serde_json::from_str(text).map_err(|e| ApiError::Decode {
            path: path.into(),
            message: format!("not a RouterOS answer ({e})"),
        })?;
        match v {
            Value::Array(a) => a.into_iter().map(|i| Item::from_json(path, i)).collect(),
            v @ Value::Object(_) => Ok(vec![Item::from_json(path, v)?]),
            _ => Err(ApiError::Decode {
                path: path.into(),
                message: "expected a list of items".into(),
            }),
        }
    }

    fn note_ids(&self, table: Table, items: &[Item]) {
        let top = items.iter().filter_map(Item::number).max().unwrap_or(0);
        let mut seen = lock(&self.seen);
        let e = seen.entry(table).or_insert(0);
        *e = (*e).max(top);
    }

    // ---------------------------------------------------------- listing

    fn slot(&self, scope: &Scope) -> Arc<Slot> {
        lock(&self.cache).entry(scope.clone()).or_default().clone()
    }

    /// Forget every cached listing of `table` (after a write to it).
    pub fn invalidate(&self, table: Table) {
        let slots: Vec<Arc<Slot>> = lock(&self.cache)
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|(_, s)| s.clone())
            .collect();
        for slot in slots {
            let mut s = lock(&slot.state);
            s.generation += 1;
            s.data = None;
        }
    }

    fn cached(slot: &Slot) -> Option<Arc<Vec<Item>>> {
        lock(&slot.state)
            .data
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, d)| d.clone())
    }

    /// The items of `table` (only those whose `key` is `value`, with a
    /// filter), in the router's order: one `GET` per scope, shared.
    pub async fn list(
        &self,
        table: Table,
        filter: Option<(&'static str, &str)>,
    ) -> Result<Arc<Vec<Item>>, ApiError> {
        let scope: Scope = (table, filter.map(|(k, v)| (k, v.to_string())));
        let slot = self.slot(&scope);
        if let Some(d) = Self::cached(&slot) {
            return Ok(d);
        }
        let _guard = slot.fetch.lock().await;
        if let Some(d) = Self::cached(&slot) {
            return Ok(d);
        }
        let generation = lock(&slot.state).generation;
        let path = match filter {
            None => table.path().to_string(),
            Some((k, v)) => format!("{}?{}", table.path(), query(k, v)),
        };
        let text = self.call(reqwest::Method::GET, &path, None).await?;
        let items = Self::decode_items(&path, &text)?;
        self.note_ids(table, &items);
        let data = Arc::new(items);
        let mut s = lock(&slot.state);
        if s.generation == generation {
            s.data = Some((Instant::now(), data.clone()));
        }
        Ok(data)
    }

    /// A fresh listing (the cache of the table is dropped first).
    pub async fn list_fresh(
        &self,
        table: Table,
        filter: Option<(&'static str, &str)>,
    ) -> Result<Arc<Vec<Item>>, ApiError> {
        self.invalidate(table);
        self.list(table, filter).await
    }

    // ---------------------------------------------------------- writes

    /// Add an item (before `place_before`, else at the end) and return it as
    /// the router answers. `ours` recognises the item if the answer is lost.
    pub async fn add(
        &self,
        table: Table,
        props: &Props,
        place_before: Option<&str>,
        ours: impl Fn(&Item) -> bool,
    ) -> Result<Item, ApiError> {
        let path = table.path();
        let mut extra = Vec::new();
        if let Some(b) = place_before {
            extra.push(("place-before", b));
        }
        let body = props.body(&extra);
        if !lock(&self.seen).contains_key(&table) {
            // The high-water mark tells the item made from those already there.
            self.list(table, None).await?;
        }
        for _ in 0..3 {
            let before = lock(&self.seen).get(&table).copied();
            self.invalidate(table);
            let outcome = self
                .send(reqwest::Method::PUT, path, Some(&body), Retry::Once)
                .await;
            self.invalidate(table);
            match outcome? {
                Outcome::Answer(status, text) if (200..300).contains(&status) => {
                    let v: Value = serde_json::from_str(&text).map_err(|e| ApiError::Decode {
                        path: path.into(),
                        message: format!("not a RouterOS answer ({e})"),
                    })?;
                    let item = Item::from_json(path, v)?;
                    self.note_ids(table, std::slice::from_ref(&item));
                    return Ok(item);
                }
                Outcome::Answer(status, text) => return Err(classify(path, status, &text)),
                Outcome::Lost(e) => {
                    tracing::info!(path, error = %e, "the answer to an add was lost; looking for the item");
                    let items = self.list_fresh(table, None).await?;
                    let found: Vec<&Item> = items
                        .iter()
                        .filter(|i| before.is_none_or(|b| i.number().is_some_and(|n| n > b)))
                        .filter(|i| ours(i))
                        .collect();
                    match found.as_slice() {
                        [] => continue,
                        [one] => return Ok((*one).clone()),
                        many => {
                            return Err(ApiError::Ambiguous {
                                path: path.into(),
                                found: many.len(),
                            });
                        }
                    }
                }
            }
        }
        Err(ApiError::Decode {
            path: path.into(),
            message: "the add kept failing without an answer".into(),
        })
    }

    /// Set (and unset) properties of item `id`; the item as answered.
    pub async fn set(&self, table: Table, id: &str, props: &Props) -> Result<Item, ApiError> {
        let path = format!("{}/{id}", table.path());
        self.invalidate(table);
        let r = self
            .call(reqwest::Method::PATCH, &path, Some(&props.body(&[])))
            .await;
        self.invalidate(table);
        let text = r?;
        let v: Value = serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            path: path.clone(),
            message: format!("not a RouterOS answer ({e})"),
        })?;
        // Some versions answer a list of one.
        let v = match v {
            Value::Array(mut a) if a.len() == 1 => a.remove(0),
            v => v,
        };
        Item::from_json(&path, v)
    }

    /// Remove item `id`. `Ok(false)`: it was already gone.
    pub async fn remove(&self, table: Table, id: &str) -> Result<bool, ApiError> {
        let path = format!("{}/{id}", table.path());
        self.invalidate(table);
        let r = self.call(reqwest::Method::DELETE, &path, None).await;
        self.invalidate(table);
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Move item `id` to just before `before` (to the end if `None`).
    pub async fn move_before(
        &self,
        table: Table,
        id: &str,
        before: Option<&str>,
    ) -> Result<(), ApiError> {
        let path = format!("{}/move", table.path());
        let mut body = Map::new();
        body.insert(".id".into(), Value::String(id.into()));
        if let Some(b) = before {
            body.insert("destination".into(), Value::String(b.into()));
        }
        self.invalidate(table);
        let r = self
            .call(reqwest::Method::POST, &path, Some(&Value::Object(body)))
            .await;
        self.invalidate(table);
        r.map(|_| ())
    }
}

/// `key=value` for a query string (values percent-encoded).
fn query(k: &str, v: &str) -> String {
    let mut out = format!("{k}=");
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_failures_say_what_to_do_command_failures_do_not() {
        let e = classify(
            "/ip/dns/static",
            500,
            r#"{"error":500,"message":"Internal Server Error"}"#,
        );
        assert!(e.to_string().contains("run terraform apply again"), "{e}");
        let e = classify("/ip/dns/static", 503, "Service Unavailable");
        assert!(e.to_string().contains("run terraform apply again"), "{e}");
        let e = classify(
            "/ip/dns/static",
            500,
            r#"{"error":500,"message":"Internal Server Error","detail":"failure: bad name"}"#,
        );
        assert!(!e.to_string().contains("apply again"), "{e}");
    }

    #[test]
    fn errors_are_classified() {
        let e = classify(
            "/ip/firewall/filter",
            500,
            r#"{"error":500,"message":"Internal Server Error","detail":"not enough permissions (9)"}"#,
        );
        assert!(e.is_forbidden(), "{e}");
        let e = classify(
            "/ip/firewall/address-list",
            400,
            r#"{"error":400,"message":"Bad Request","detail":"failure: already have such entry"}"#,
        );
        assert!(e.is_already_exists());
        assert!(classify("/x/*1", 404, r#"{"error":404,"message":"Not Found"}"#).is_not_found());
        let e = classify(
            "/ip/firewall/filter/*1",
            400,
            r#"{"error":400,"message":"Bad Request","detail":"unknown parameter place-before"}"#,
        );
        assert_eq!(
            e.to_string(),
            "/ip/firewall/filter/*1: HTTP 400 Bad Request: unknown parameter place-before"
        );
        assert!(matches!(
            classify("/x", 401, ""),
            ApiError::Unauthorized { .. }
        ));
    }

    #[test]
    fn errors_have_the_shared_kinds() {
        let kind = |status: u16, body: &str| classify("/ip/firewall/filter", status, body).kind();
        assert_eq!(kind(401, ""), ErrorKind::Unauthorized);
        assert_eq!(
            kind(
                500,
                r#"{"error":500,"message":"Internal Server Error","detail":"not enough permissions (9)"}"#
            ),
            ErrorKind::Forbidden
        );
        assert_eq!(
            kind(
                400,
                r#"{"error":400,"message":"Bad Request","detail":"failure: already have such entry"}"#
            ),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            kind(404, r#"{"error":404,"message":"Not Found"}"#),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(
                400,
                r#"{"error":400,"message":"Bad Request","detail":"unknown parameter place-before"}"#
            ),
            ErrorKind::Invalid
        );
        assert_eq!(kind(500, "<html>oops</html>"), ErrorKind::Other);
        assert_eq!(kind(503, ""), ErrorKind::Unavailable);
        let ambiguous = ApiError::Ambiguous {
            path: "/ip/firewall/filter".into(),
            found: 2,
        };
        assert!(ambiguous.is_answer_lost());
        // An add (PUT) that lost its answer may have made the item.
        let lost: ApiError =
            http::HttpError::answer_lost("PUT", "/ip/firewall/filter", "reset").into();
        assert!(lost.is_answer_lost());
        let read: ApiError =
            http::HttpError::answer_lost("GET", "/ip/firewall/filter", "reset").into();
        assert_eq!(read.kind(), ErrorKind::Transport);
    }

    #[test]
    fn items_decode_leniently() {
        let items = Client::decode_items(
            "/p",
            r#"[{".id":"*1A","chain":"input","disabled":"false","bytes":0}]"#,
        )
        .unwrap();
        assert_eq!(items[0].id, "*1A");
        assert_eq!(items[0].number(), Some(26));
        assert_eq!(items[0].get("bytes"), Some("0"));
        assert!(!items[0].flag("disabled"));
        assert!(Client::decode_items("/p", r#"[{"chain":"input"}]"#).is_err());
    }

    #[test]
    fn bodies_and_queries() {
        let p = Props {
            set: vec![("dst-port".into(), "22".into())],
            unset: vec!["protocol".into()],
        };
        assert_eq!(
            p.body(&[("place-before", "*3")]),
            serde_json::json!({"dst-port": "22", "!protocol": "", "place-before": "*3"})
        );
        assert_eq!(query("chain", "my chain"), "chain=my%20chain");
        assert_eq!(query("list", "a&b=c"), "list=a%26b%3Dc");
    }

    #[test]
    fn base_url_accepts_rest_suffix() {
        let c = Client::new(Settings {
            url: "https://router.lan/rest/".into(),
            username: "admin".into(),
            password: Secret::new(""),
            ca_certificate: None,
            insecure: false,
        })
        .unwrap();
        assert_eq!(c.base, "https://router.lan/rest");
    }
}

//! The pfSense-pkg-RESTAPI v2 client (`/api/v2/...`, package v2.10).
//!
//! Wire facts (the package's source at v2.10.0, paths under
//! `pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/`; research notes §2c
//! and Addendum):
//! - every answer is the envelope `{code, status, response_id, message,
//!   data}`; errors carry the HTTP status in `code` and a SCREAMING_SNAKE
//!   `response_id` (`Core/Response.inc`);
//! - authentication (`Core/Auth.inc`): HTTP Basic with a local user, or an
//!   `X-API-Key` header, each only while its method is enabled in the
//!   package's settings (a fresh install enables Basic only: a key is then
//!   refused with 401 `AUTH_AUTHENTICATION_FAILED`); a user without the
//!   endpoint's privilege gets 403 `AUTH_AUTHORIZATION_FAILED`;
//! - with `Content-Type: application/json` only the body is read (the query
//!   string is ignored, `ContentHandlers/JSONContentHandler.inc`), so GET
//!   and DELETE send their parameters in the query string and no content
//!   type; `Accept` names exactly one type (a list of several is 406);
//! - `id`s are positions in the stored list (`filter/rule`, all interfaces
//!   together; `aliases/alias`) and shift after every insert, move and
//!   delete; `placement` on POST/PATCH moves the object to that position
//!   (`Core/Model.inc` `set_placement`), and one past the last position is
//!   an error with nothing written;
//! - writes change the configuration only; [`commit`] makes them live.
//!
//! Retries: reads are retried on transient failures. A write is never sent
//! twice unless it surely did not reach pfSense: resending a `PATCH` or
//! `DELETE` by position could hit another rule once positions shifted. A
//! write whose answer is lost is reported as [`ApiError::Lost`]; callers
//! list again and look at what happened.
//!
//! Listings of rules and aliases are shared within a provider process
//! (single-flight, short TTL, dropped on every write), so refreshing many
//! resources costs one request per list.

pub mod codec;
pub mod commit;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use labforge_http::{self as http, RetryPolicy, Secret, TlsSettings};

use crate::model::{Alias, AliasSpec, Interface, InterfaceMode, Rule, RuleSpec};
pub use commit::{Committed, Session};

/// How long a listing is reused within one provider process.
const CACHE_TTL: Duration = Duration::from_secs(15);

const RULE: &str = "/api/v2/firewall/rule";
const RULES: &str = "/api/v2/firewall/rules";
const ALIAS: &str = "/api/v2/firewall/alias";
const ALIASES: &str = "/api/v2/firewall/aliases";
const APPLY: &str = "/api/v2/firewall/apply";
const INTERFACES: &str = "/api/v2/interfaces";
const SETTINGS: &str = "/api/v2/system/restapi/settings";

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// `X-API-Key` (the package's `KeyAuth` method must be enabled).
    ApiKey(Secret),
    /// HTTP Basic with a local user (`BasicAuth`, enabled by default).
    Basic {
        /// A local pfSense user (not an LDAP or RADIUS one).
        username: String,
        /// That user's password.
        password: Secret,
    },
}

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `https://pfsense.lan` (an `/api/v2` suffix is accepted).
    pub url: String,
    /// How to authenticate.
    pub credentials: Credentials,
    /// PEM CA certificate to trust.
    pub ca_certificate: Option<String>,
    /// Skip TLS verification.
    pub insecure: bool,
}

/// What to do after a failure of the server rather than of the request
/// (429, 5xx): found by the acceptance fault matrix, these errors said what
/// happened, not what next. A 4xx names the field at fault instead.
fn server_advice(status: u16) -> &'static str {
    if status == 429 || status >= 500 {
        ". pfSense (or the REST API package, or a proxy in front of it) failed or is busy: \
         check that it is healthy, then run terraform apply again (objects are read back \
         before anything is changed)"
    } else {
        ""
    }
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request did not get an answer (connection, TLS, timeout), after
    /// the retries its kind allows; a write reported this surely did not
    /// reach pfSense.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// HTTP 401: the credentials were refused (wrong, or their method is
    /// disabled in the package's settings).
    #[error("{method} {path}: HTTP 401 {response_id}: {message} {hint}")]
    Unauthenticated {
        /// The HTTP method, e.g. `POST`.
        method: String,
        /// The request path, e.g. `/api/v2/firewall/rule`.
        path: String,
        /// The envelope's `response_id` (`(no envelope)` when there was none).
        response_id: String,
        /// The envelope's `message`, or the start of the body without one.
        message: String,
        /// What to check for the credentials used (key or Basic).
        hint: &'static str,
    },
    #[error(
        "{method} {path}: HTTP 403 {response_id}: {message} The user (or the user the API key belongs to) \
         needs the privilege `{privilege}` (or \"WebCfg - All pages\"). A read-only user or key can plan, \
         not apply."
    )]
    /// HTTP 403 `AUTH_AUTHORIZATION_FAILED`: the user lacks the
    /// endpoint's privilege.
    Forbidden {
        /// The HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// The envelope's `response_id`.
        response_id: String,
        /// The envelope's `message`.
        message: String,
        /// The privilege the package requires for this endpoint and
        /// method, e.g. `api-v2-firewall-rule-post`.
        privilege: String,
    },
    #[error("{method} {path}: HTTP {status} {response_id}: {message}")]
    /// HTTP 404: the object (or endpoint) does not exist. A 404
    /// `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND` (a field names something
    /// missing) is [`ApiError::Refused`] instead.
    NotFound {
        /// The HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// The HTTP status (404).
        status: u16,
        /// The envelope's `response_id`.
        response_id: String,
        /// The envelope's `message`.
        message: String,
    },
    #[error(
        "{method} {path}: pfSense refused the request: HTTP {status} {response_id}: {message}{}",
        server_advice(*status)
    )]
    /// Any other unsuccessful answer, typically a 400 validation error
    /// (a bad field value, a position past the end).
    Refused {
        /// The HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The envelope's `response_id`, e.g. `FIELD_INVALID_CHOICE`.
        response_id: String,
        /// The envelope's `message`, or the start of the body without one.
        message: String,
    },
    #[error(
        "{method} {path}: the answer was lost ({message}); the change may or may not have been made. \
         Check that pfSense is reachable, then run terraform apply again (it reads the \
         objects back first, so a change that was made is not made twice)"
    )]
    /// A write was sent but its answer was lost (transport failure, an
    /// unreadable body, or a 502/504 from a gateway): it may have been made.
    /// Callers list again to find out.
    Lost {
        /// The HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// What went wrong.
        message: String,
    },
    #[error("{method} {path}: unexpected answer: {message}")]
    /// A successful answer the client could not read (not JSON, no
    /// `data`, or an object without the fields it needs).
    Decode {
        /// The HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// What was wrong with the answer.
        message: String,
    },
}

impl ApiError {
    /// Whether this is [`ApiError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }
    /// Whether this is [`ApiError::Forbidden`].
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ApiError::Forbidden { .. })
    }
    /// Whether this is [`ApiError::Lost`]: the write may have been made.
    pub fn is_lost(&self) -> bool {
        matches!(self, ApiError::Lost { .. })
    }
}

/// The privilege the package generates for an endpoint and method:
/// `api-v2-firewall-rule-post` (`Core/Endpoint.inc`).
fn privilege(method: &str, path: &str) -> String {
    format!(
        "{}-{}",
        path.trim_start_matches('/').replace('/', "-"),
        method.to_ascii_lowercase()
    )
}

/// The error an unsuccessful envelope stands for.
fn classify(method: &str, path: &str, creds: &Credentials, status: u16, body: &str) -> ApiError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let response_id = text("response_id").unwrap_or_else(|| "(no envelope)".into());
    let message = text("message").unwrap_or_else(|| body.trim().chars().take(200).collect());
    let (method, path) = (method.to_string(), path.to_string());
    match status {
        401 => ApiError::Unauthenticated {
            hint: match creds {
                Credentials::ApiKey(_) => {
                    "pfSense refused the API key. pfSense-pkg-RESTAPI accepts an X-API-Key only while \
                     its KeyAuth method is enabled (System > REST API > Settings > Authentication \
                     Methods; a fresh install enables BasicAuth only), and only a key it issued."
                }
                Credentials::Basic { .. } => {
                    "pfSense refused the username and password. Basic authentication works with \
                     local pfSense users only, and only while the BasicAuth method is enabled \
                     (System > REST API > Settings)."
                }
            },
            method,
            path,
            response_id,
            message,
        },
        403 if response_id == "AUTH_AUTHORIZATION_FAILED" => ApiError::Forbidden {
            privilege: privilege(&method, &path),
            method,
            path,
            response_id,
            message,
        },
        404 if response_id != "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND" => ApiError::NotFound {
            method,
            path,
            status,
            response_id,
            message,
        },
        _ => ApiError::Refused {
            method,
            path,
            status,
            response_id,
            message,
        },
    }
}

/// How a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// A read: any transient failure.
    Read,
    /// A write: only when it surely did not reach pfSense.
    Write,
    /// The apply: harmless to repeat, but a 503 (the package's dispatcher
    /// queue is full) is reported, not waited out.
    Apply,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A shared listing: fetched by one caller at a time, reused for
/// [`CACHE_TTL`], dropped on every write.
#[derive(Debug)]
struct Listing<T> {
    fetch: tokio::sync::Mutex<()>,
    state: Mutex<(u64, Cached<T>)>,
}

/// A listing and when it was fetched.
type Cached<T> = Option<(Instant, Arc<Vec<T>>)>;

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Self {
            fetch: tokio::sync::Mutex::new(()),
            state: Mutex::new((0, None)),
        }
    }
}

impl<T> Listing<T> {
    fn cached(&self) -> Option<Arc<Vec<T>>> {
        lock(&self.state)
            .1
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, d)| d.clone())
    }

    fn invalidate(&self) {
        let mut s = lock(&self.state);
        s.0 += 1;
        s.1 = None;
    }
}

/// The box's interfaces and how the API names them (`None`: the settings
/// were not readable with these credentials).
#[derive(Debug, Clone)]
pub struct Interfaces {
    /// Every interface `GET /api/v2/interfaces` lists.
    pub list: Vec<Interface>,
    /// The package's `represent_interfaces_as` setting; `None` when the
    /// settings could not be read (403 or 404) or named an unknown mode.
    pub mode: Option<InterfaceMode>,
}

/// The pfSense REST API client.
#[derive(Debug)]
pub struct Client {
    settings: Settings,
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    rules: Listing<Rule>,
    aliases: Listing<Alias>,
    interfaces: tokio::sync::OnceCell<Arc<Interfaces>>,
    committer: Arc<commit::Committer>,
    /// One resource writes at a time (see [`Client::exclusive`]).
    writing: tokio::sync::Mutex<()>,
}

impl Client {
    /// A client for `settings` (an `/api/v2` suffix on the URL is dropped).
    /// Sends nothing; fails only when the HTTP client cannot be built (e.g.
    /// an unreadable CA certificate).
    pub fn new(settings: Settings) -> Result<Self, labforge_http::ClientError> {
        let http = http::client(
            &TlsSettings {
                ca_cert: settings.ca_certificate.clone(),
                insecure: settings.insecure,
                client_identity: None,
            },
            // A synchronous filter reload can take a while on a busy box.
            Duration::from_secs(120),
        )?;
        let mut base = settings.url.trim().trim_end_matches('/').to_string();
        if let Some(b) = base.strip_suffix("/api/v2") {
            base = b.to_string();
        }
        Ok(Self {
            settings,
            http,
            base,
            retry: RetryPolicy::default(),
            rules: Listing::default(),
            aliases: Listing::default(),
            interfaces: tokio::sync::OnceCell::new(),
            committer: Arc::new(commit::Committer::default()),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    /// Override the retry policy (tests).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Override the settle time of commits (tests).
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.committer = Arc::new(commit::Committer::new(settle));
        self
    }

    /// How the client authenticates.
    pub fn credentials(&self) -> &Credentials {
        &self.settings.credentials
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry
            .base_delay
            .saturating_mul(1 << attempt.min(10))
            .min(self.retry.max_delay)
    }

    /// Send one request; the envelope's `data` on success.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: Option<&str>,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, ApiError> {
        let url = match query {
            Some(q) => format!("{}{path}?{q}", self.base),
            None => format!("{}{path}", self.base),
        };
        let m = method.to_string();
        let mut attempt = 0u32;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header(reqwest::header::ACCEPT, "application/json");
            req = match &self.settings.credentials {
                Credentials::ApiKey(k) => req.header("X-API-Key", k.expose()),
                Credentials::Basic { username, password } => {
                    req.basic_auth(username, Some(password.expose()))
                }
            };
            if let Some(b) = body {
                req = req.json(b);
            }
            tracing::debug!(method = %m, path, attempt, "pfsense request");
            let again = attempt < self.retry.max_retries;
            let lost = |message: String| ApiError::Lost {
                method: m.clone(),
                path: path.to_string(),
                message,
            };
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = match resp.text().await {
                        Ok(t) => t,
                        Err(e) if retry != Retry::Write && again => {
                            tracing::debug!(path, error = %e, "reading the answer failed; retrying");
                            tokio::time::sleep(self.backoff(attempt)).await;
                            attempt += 1;
                            continue;
                        }
                        Err(e) => return Err(lost(format!("reading the answer failed: {e}"))),
                    };
                    let transient = match retry {
                        Retry::Read => matches!(status, 429 | 502 | 503 | 504),
                        Retry::Apply => matches!(status, 502 | 504),
                        Retry::Write => false,
                    };
                    if transient && again {
                        tracing::debug!(path, status, "transient failure; retrying");
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    // A gateway error in front of PHP: the write may have run.
                    if retry == Retry::Write && matches!(status, 502 | 504) {
                        return Err(lost(format!("HTTP {status} from a gateway")));
                    }
                    if !(200..300).contains(&status) {
                        return Err(classify(
                            &m,
                            path,
                            &self.settings.credentials,
                            status,
                            &text,
                        ));
                    }
                    let v: Value = serde_json::from_str(&text).map_err(|e| ApiError::Decode {
                        method: m.clone(),
                        path: path.into(),
                        message: format!("not a pfSense-pkg-RESTAPI answer ({e})"),
                    })?;
                    return match v.get("data") {
                        Some(d) => Ok(d.clone()),
                        None => Err(ApiError::Decode {
                            method: m.clone(),
                            path: path.into(),
                            message: "the envelope has no `data`".into(),
                        }),
                    };
                }
                Err(e) => {
                    let unsent = e.is_connect();
                    let err = http::HttpError::from_reqwest(&m, path, e);
                    if (unsent || retry != Retry::Write) && again {
                        tracing::debug!(path, error = %err, "transport failure; retrying");
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    if unsent || retry != Retry::Write {
                        return Err(err.into());
                    }
                    return Err(lost(err.what()));
                }
            }
        }
    }

    fn decode_list<T>(
        path: &str,
        data: &Value,
        one: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, ApiError> {
        let Value::Array(items) = data else {
            return Err(ApiError::Decode {
                method: "GET".into(),
                path: path.into(),
                message: "`data` is not a list".into(),
            });
        };
        items
            .iter()
            .map(|v| {
                one(v).ok_or_else(|| ApiError::Decode {
                    method: "GET".into(),
                    path: path.into(),
                    message: format!("an object without an integer `id` or its name: {v}"),
                })
            })
            .collect()
    }

    async fn list<T>(
        &self,
        listing: &Listing<T>,
        path: &str,
        fresh: bool,
        one: impl Fn(&Value) -> Option<T>,
    ) -> Result<Arc<Vec<T>>, ApiError> {
        if fresh {
            listing.invalidate();
        } else if let Some(d) = listing.cached() {
            return Ok(d);
        }
        let _guard = listing.fetch.lock().await;
        if let Some(d) = listing.cached() {
            return Ok(d);
        }
        let generation = lock(&listing.state).0;
        let data = self
            .send(reqwest::Method::GET, path, None, None, Retry::Read)
            .await?;
        let data = Arc::new(Self::decode_list(path, &data, one)?);
        let mut s = lock(&listing.state);
        if s.0 == generation {
            s.1 = Some((Instant::now(), data.clone()));
        }
        Ok(data)
    }

    // ------------------------------------------------------------ reads

    /// Every firewall rule, all interfaces, in pfSense's order (`id` =
    /// position). `fresh`: not from the shared cache.
    pub async fn rules(&self, fresh: bool) -> Result<Arc<Vec<Rule>>, ApiError> {
        self.list(&self.rules, RULES, fresh, codec::rule).await
    }

    /// Every alias.
    pub async fn aliases(&self, fresh: bool) -> Result<Arc<Vec<Alias>>, ApiError> {
        self.list(&self.aliases, ALIASES, fresh, codec::alias).await
    }

    /// The interfaces and how the API names them (read once per process).
    /// The naming mode is `None` when the package's settings are not
    /// readable with these credentials.
    pub async fn interfaces(&self) -> Result<Arc<Interfaces>, ApiError> {
        self.interfaces
            .get_or_try_init(|| async {
                let data = self
                    .send(reqwest::Method::GET, INTERFACES, None, None, Retry::Read)
                    .await?;
                let list = Self::decode_list(INTERFACES, &data, codec::interface)?;
                let mode = match self
                    .send(reqwest::Method::GET, SETTINGS, None, None, Retry::Read)
                    .await
                {
                    Ok(s) => s
                        .get("represent_interfaces_as")
                        .and_then(Value::as_str)
                        .and_then(InterfaceMode::parse),
                    Err(e) if e.is_forbidden() || e.is_not_found() => None,
                    Err(e) => return Err(e),
                };
                Ok(Arc::new(Interfaces { list, mode }))
            })
            .await
            .cloned()
    }

    // ------------------------------------------------------------ writes

    /// Start a resource's writes (see [`commit`]).
    pub fn session(&self) -> Session {
        self.committer.session()
    }

    /// Applies this process sent.
    pub fn applies(&self) -> u64 {
        self.committer.applies()
    }

    /// Hold while looking positions up and writing: one resource writes at a
    /// time. pfSense's configuration is not safe under concurrent writes
    /// (parallel creates that all answer 200 but keep one, pfrest#238), and
    /// another resource's write would shift the positions just looked up.
    /// Release it before [`Client::commit`], which waits for the others.
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writing.lock().await
    }

    async fn write(
        &self,
        session: &mut Session,
        method: reqwest::Method,
        path: &str,
        query: Option<String>,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        self.rules.invalidate();
        self.aliases.invalidate();
        let r = self
            .send(method, path, query.as_deref(), body.as_ref(), Retry::Write)
            .await;
        self.rules.invalidate();
        self.aliases.invalidate();
        // What may have changed the configuration needs an apply; a request
        // pfSense refused (4xx) changed nothing.
        let refused = matches!(
            &r,
            Err(ApiError::Unauthenticated { .. }
                | ApiError::Forbidden { .. }
                | ApiError::NotFound { .. })
        ) || matches!(&r, Err(ApiError::Refused { status, .. }) if *status < 500)
            || matches!(&r, Err(ApiError::Http(_)));
        if !refused {
            session.wrote();
        }
        r
    }

    fn one_rule(method: &str, path: &str, data: &Value) -> Result<Rule, ApiError> {
        codec::rule(data).ok_or_else(|| ApiError::Decode {
            method: method.into(),
            path: path.into(),
            message: "the answer is not a rule".into(),
        })
    }

    /// Create a rule, at position `placement` (at the end if `None`); the
    /// rule as answered (its `id` is its position).
    pub async fn create_rule(
        &self,
        session: &mut Session,
        spec: &RuleSpec,
        placement: Option<usize>,
    ) -> Result<Rule, ApiError> {
        let mut body = codec::rule_body(spec);
        if let Some(p) = placement {
            body.insert("placement".into(), json!(p));
        }
        let data = self
            .write(
                session,
                reqwest::Method::POST,
                RULE,
                None,
                Some(Value::Object(body)),
            )
            .await?;
        Self::one_rule("POST", RULE, &data)
    }

    /// Set every managed field of the rule at position `id` (and move it to
    /// `placement`, if given).
    pub async fn update_rule(
        &self,
        session: &mut Session,
        id: usize,
        spec: &RuleSpec,
        placement: Option<usize>,
    ) -> Result<Rule, ApiError> {
        let mut body = codec::rule_body(spec);
        body.insert("id".into(), json!(id));
        if let Some(p) = placement {
            body.insert("placement".into(), json!(p));
        }
        self.patch_rule(session, body).await
    }

    /// Move the rule at position `id` to position `placement`.
    pub async fn move_rule(
        &self,
        session: &mut Session,
        id: usize,
        placement: usize,
    ) -> Result<Rule, ApiError> {
        let mut body = Map::new();
        body.insert("id".into(), json!(id));
        body.insert("placement".into(), json!(placement));
        self.patch_rule(session, body).await
    }

    /// Set the description and logging of the rule at position `id`.
    pub async fn describe_rule(
        &self,
        session: &mut Session,
        id: usize,
        descr: &str,
        log: bool,
    ) -> Result<Rule, ApiError> {
        let mut body = Map::new();
        body.insert("id".into(), json!(id));
        body.insert("descr".into(), json!(descr));
        body.insert("log".into(), json!(log));
        self.patch_rule(session, body).await
    }

    async fn patch_rule(
        &self,
        session: &mut Session,
        body: Map<String, Value>,
    ) -> Result<Rule, ApiError> {
        let data = self
            .write(
                session,
                reqwest::Method::PATCH,
                RULE,
                None,
                Some(Value::Object(body)),
            )
            .await?;
        Self::one_rule("PATCH", RULE, &data)
    }

    /// Delete the rule at position `id` (`id` in the query string: with a
    /// JSON body pfSense would not see it).
    pub async fn delete_rule(&self, session: &mut Session, id: usize) -> Result<(), ApiError> {
        self.write(
            session,
            reqwest::Method::DELETE,
            RULE,
            Some(format!("id={id}")),
            None,
        )
        .await
        .map(|_| ())
    }

    fn one_alias(method: &str, data: &Value) -> Result<Alias, ApiError> {
        codec::alias(data).ok_or_else(|| ApiError::Decode {
            method: method.into(),
            path: ALIAS.into(),
            message: "the answer is not an alias".into(),
        })
    }

    /// Create an alias.
    pub async fn create_alias(
        &self,
        session: &mut Session,
        spec: &AliasSpec,
    ) -> Result<Alias, ApiError> {
        let body = Value::Object(codec::alias_body(spec, true));
        let data = self
            .write(session, reqwest::Method::POST, ALIAS, None, Some(body))
            .await?;
        Self::one_alias("POST", &data)
    }

    /// Set the type, description and entries of the alias at position `id`.
    pub async fn update_alias(
        &self,
        session: &mut Session,
        id: usize,
        spec: &AliasSpec,
    ) -> Result<Alias, ApiError> {
        let mut body = codec::alias_body(spec, false);
        body.insert("id".into(), json!(id));
        let data = self
            .write(
                session,
                reqwest::Method::PATCH,
                ALIAS,
                None,
                Some(Value::Object(body)),
            )
            .await?;
        Self::one_alias("PATCH", &data)
    }

    /// Delete the alias at position `id`.
    pub async fn delete_alias(&self, session: &mut Session, id: usize) -> Result<(), ApiError> {
        self.write(
            session,
            reqwest::Method::DELETE,
            ALIAS,
            Some(format!("id={id}")),
            None,
        )
        .await
        .map(|_| ())
    }

    /// End `session` and make the writes live: one `POST
    /// /api/v2/firewall/apply` (`async: false`, so the filter reload has
    /// finished when it answers) for all the sessions that end together
    /// (see [`commit`]). `force`: apply even without writes in this session
    /// (an earlier run's apply failed). pfSense's own answer is the error.
    pub async fn commit(&self, session: Session, force: bool) -> Result<Committed, String> {
        self.committer
            .commit(session, force, || async {
                self.send(
                    reqwest::Method::POST,
                    APPLY,
                    None,
                    Some(&json!({"async": false})),
                    Retry::Apply,
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
            .await
    }
}

#[cfg(test)]
mod advice_tests {
    use super::ApiError;

    fn refused(status: u16) -> String {
        ApiError::Refused {
            method: "POST".into(),
            path: "/api/v2/firewall/alias".into(),
            status,
            response_id: "X".into(),
            message: "m".into(),
        }
        .to_string()
    }

    #[test]
    fn server_failures_say_what_to_do_validation_errors_do_not() {
        assert!(refused(500).contains("run terraform apply again"));
        assert!(refused(429).contains("run terraform apply again"));
        assert!(!refused(400).contains("apply again"));
        let lost = ApiError::Lost {
            method: "POST".into(),
            path: "/api/v2/firewall/alias".into(),
            message: "connection closed".into(),
        };
        assert!(
            lost.to_string().contains("run terraform apply again"),
            "{lost}"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic() -> Credentials {
        Credentials::Basic {
            username: "admin".into(),
            password: Secret::new("pfsense"),
        }
    }

    #[test]
    fn errors_are_classified_with_the_package_envelope() {
        let key = Credentials::ApiKey(Secret::new("k"));
        let e = classify(
            "GET",
            RULES,
            &key,
            401,
            r#"{"code":401,"status":"unauthorized","response_id":"AUTH_AUTHENTICATION_FAILED","message":"Authentication failed.","data":[]}"#,
        );
        let t = e.to_string();
        assert!(t.contains("the API key") && t.contains("KeyAuth"), "{t}");
        let e = classify(
            "POST",
            RULE,
            &basic(),
            403,
            r#"{"code":403,"status":"forbidden","response_id":"AUTH_AUTHORIZATION_FAILED","message":"Authorization failed. You do not have sufficient privileges to access this resource.","data":[]}"#,
        );
        assert!(e.is_forbidden());
        assert!(e.to_string().contains("api-v2-firewall-rule-post"), "{e}");
        let e = classify(
            "PATCH",
            RULE,
            &basic(),
            404,
            r#"{"code":404,"status":"not found","response_id":"FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND","message":"no such gateway","data":[]}"#,
        );
        assert!(matches!(e, ApiError::Refused { status: 404, .. }), "{e:?}");
        let e = classify(
            "DELETE",
            RULE,
            &basic(),
            404,
            r#"{"code":404,"status":"not found","response_id":"MODEL_OBJECT_NOT_FOUND","message":"Object with ID `9` does not exist.","data":[]}"#,
        );
        assert!(e.is_not_found());
        let e = classify("GET", RULES, &basic(), 502, "<html>bad gateway</html>");
        assert!(e.to_string().contains("(no envelope)"), "{e}");
    }

    #[test]
    fn base_url_accepts_the_api_suffix() {
        let c = Client::new(Settings {
            url: "https://fw.lan/api/v2/".into(),
            credentials: basic(),
            ca_certificate: None,
            insecure: false,
        })
        .unwrap();
        assert_eq!(c.base, "https://fw.lan");
    }
}

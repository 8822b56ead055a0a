//! # labforge-http: the HTTP layer every backend client shares
//!
//! One reqwest (hyper, rustls) client per backend ([`client`]), retries with
//! backoff on 429, 5xx and connection failures, honouring `Retry-After`
//! ([`send_with_retry`]), an optional client-side rate limit
//! ([`RateLimiter`]), credentials that never print ([`Secret`]), and errors
//! that never carry them ([`HttpError`]).
//!
//! It knows nothing of Terraform: backend clients build on it, resources
//! never see it.

mod secret;

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use secret::{Auth, Secret};

/// TLS and timeout settings for a backend.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM CA certificate to trust, in addition to the system roots.
    pub ca_cert: Option<String>,
    /// Skip certificate verification (lab use only).
    pub insecure: bool,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `ca_cert` is not a PEM certificate.
    #[error("ca_cert is not a PEM certificate: {0}")]
    InvalidCaCert(#[source] reqwest::Error),
    /// The TLS stack refused the settings.
    #[error("unable to create the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Build a client for one backend.
pub fn client(tls: &TlsSettings, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!(
            "terraform-provider-homelab/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout);
    if let Some(pem) = &tls.ca_cert {
        let cert =
            reqwest::Certificate::from_pem(pem.as_bytes()).map_err(ClientError::InvalidCaCert)?;
        b = b.add_root_certificate(cert);
    }
    if tls.insecure {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(ClientError::Build)
}

/// How often to retry, and how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry.
    pub base_delay: Duration,
    /// The longest wait, whatever the backoff or `Retry-After` says.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Why a request did not get a usable answer after all retries.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection failed or broke (after retries).
    #[error("{method} {path}: {message}")]
    Transport {
        /// The request's method.
        method: String,
        /// The request's path (never the whole URL, which may hold credentials).
        path: String,
        /// What went wrong, with the causes.
        message: String,
    },
}

/// Retry `send` (which builds and sends one request) on transient failures.
/// Returns the last response, which may still be an error status for the
/// caller to interpret (4xx, or 5xx/429 once retries are exhausted).
pub async fn send_with_retry<F, Fut>(
    policy: RetryPolicy,
    method: &str,
    path: &str,
    mut send: F,
) -> Result<reqwest::Response, HttpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut attempt = 0u32;
    loop {
        let outcome = send().await;
        let retry_in = match &outcome {
            Ok(r)
                if r.status().as_u16() == 429
                    || matches!(r.status().as_u16(), 500 | 502 | 503 | 504) =>
            {
                Some(retry_after(r).unwrap_or_else(|| backoff(policy, attempt)))
            }
            Ok(_) => None,
            Err(_) => Some(backoff(policy, attempt)),
        };
        match (retry_in, attempt < policy.max_retries) {
            (Some(delay), true) => {
                tracing::debug!(method, path, attempt, ?delay, "transient failure; retrying");
                tokio::time::sleep(delay.min(policy.max_delay)).await;
                attempt += 1;
            }
            _ => {
                return outcome.map_err(|e| HttpError::Transport {
                    method: method.to_string(),
                    path: path.to_string(),
                    message: describe(&e),
                });
            }
        }
    }
}

fn backoff(policy: RetryPolicy, attempt: u32) -> Duration {
    policy.base_delay.saturating_mul(1 << attempt.min(10))
}

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

/// A transport error without the URL (which could carry credentials).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// A client-side rate limit: at most `per_second` requests a second.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// At most `per_second` requests a second (none, if not positive).
    pub fn new(per_second: f64) -> Self {
        // Non-positive or absurd rates mean no limit (the schema rejects them).
        let interval = Duration::try_from_secs_f64(1.0 / per_second)
            .ok()
            .filter(|_| per_second > 0.0)
            .unwrap_or(Duration::ZERO);
        Self {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Wait for this request's slot.
    pub async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let wait = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_by_policy() {
        let p = RetryPolicy::default();
        assert_eq!(backoff(p, 0), Duration::from_millis(200));
        assert_eq!(backoff(p, 3), Duration::from_millis(1600));
        assert!(backoff(p, 30) >= Duration::from_secs(30));
    }

    #[test]
    fn odd_rates_do_not_panic() {
        for r in [0.0, -1.0, 1e-300, f64::NAN, f64::INFINITY] {
            let _ = RateLimiter::new(r);
        }
    }

    #[tokio::test]
    async fn rate_limiter_spaces_requests() {
        let r = RateLimiter::new(100.0);
        let start = Instant::now();
        for _ in 0..5 {
            r.acquire().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(35));
    }
}

//! # labforge-http: the HTTP layer every backend client shares
//!
//! One reqwest (hyper, rustls) client per backend ([`client`]), with an
//! optional CA, `insecure` and a client certificate ([`TlsSettings`]), retries with
//! backoff on 429, 5xx and connection failures, honouring `Retry-After`
//! ([`send_with_retry`]), an optional client-side rate limit (a token
//! bucket, [`RateLimiter`]), credentials that never print ([`Secret`]), and
//! errors that never carry them ([`HttpError`], with its kind and source
//! error). Every backend client's own error type says what it means the
//! same way ([`ApiErrorKind`], [`ErrorKind`]). The system CA roots are read
//! once per process, at the first TLS handshake (never for `http://`).
//!
//! It knows nothing of Terraform: backend clients build on it, resources
//! never see it.

#![warn(missing_docs, unreachable_pub)]

mod error;
mod ratelimit;
mod secret;
mod tls;

use std::time::Duration;

pub use error::{ApiErrorKind, ErrorKind, HttpError, HttpErrorKind};
pub use ratelimit::{RateLimit, RateLimiter};
pub use secret::{Auth, Secret};
pub use tls::accept_any_server_certificate;

/// TLS and timeout settings for a backend.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM CA certificate to trust, in addition to the system roots.
    pub ca_cert: Option<String>,
    /// Skip certificate verification (lab use only).
    pub insecure: bool,
    /// A client certificate to present when the server asks for one (mTLS).
    pub client_identity: Option<ClientIdentity>,
}

/// A client certificate and its private key, both PEM (mutual TLS, e.g. a
/// kubeconfig's `client-certificate-data` / `client-key-data`).
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first (`CERTIFICATE` blocks).
    pub cert_pem: String,
    /// The leaf's private key: a `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
    /// (PKCS#1) or `EC PRIVATE KEY` (SEC1) block.
    pub key_pem: Secret,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `ca_cert` is not a PEM certificate.
    #[error("ca_cert is not a PEM certificate: {0}")]
    InvalidCaCert(String),
    /// The client identity's certificate is not a PEM certificate.
    #[error("the client certificate is not a PEM certificate: {0}")]
    InvalidClientCert(String),
    /// The client identity's key is not a PEM private key the TLS stack can use.
    #[error("the client key is not a usable PEM private key: {0}")]
    InvalidClientKey(String),
    /// The client identity's key is not the certificate's.
    #[error("the client key does not belong to the client certificate (their public keys differ)")]
    ClientKeyMismatch,
    /// The TLS stack refused the settings.
    #[error("unable to create the HTTP client: {0}")]
    Tls(#[source] rustls::Error),
    /// reqwest refused the settings.
    #[error("unable to create the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Build a client for one backend. Cheap: no file is read here; the system
/// CA roots are read once per process, when a first `https://` handshake
/// needs them.
pub fn client(tls: &TlsSettings, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    client_with_roots(tls, timeout, &tls::SYSTEM_ROOTS)
}

fn client_with_roots(
    tls: &TlsSettings,
    timeout: Duration,
    roots: &'static tls::SystemRoots,
) -> Result<reqwest::Client, ClientError> {
    let extra = match &tls.ca_cert {
        Some(pem) => tls::parse_ca_pem(pem).map_err(ClientError::InvalidCaCert)?,
        None => Vec::new(),
    };
    let provider = tls::provider();
    let identity = match &tls.client_identity {
        Some(id) => Some(tls::certified_key(
            &id.cert_pem,
            id.key_pem.expose(),
            &provider,
        )?),
        None => None,
    };
    let config = tls::client_config(provider, extra, tls.insecure, identity, roots)
        .map_err(ClientError::Tls)?;
    reqwest::Client::builder()
        .user_agent(concat!(
            "terraform-provider-homelab/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .tls_backend_preconfigured(config)
        .build()
        .map_err(ClientError::Build)
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
                return outcome.map_err(|e| HttpError::from_reqwest(method, path, e));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn no_roots() -> Vec<rustls::pki_types::CertificateDer<'static>> {
        Vec::new()
    }

    /// Answers every request on every connection with an empty 200.
    async fn respond(mut s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        let _ = s.shutdown().await;
    }

    async fn http_server() -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(respond(s));
            }
        });
        addr
    }

    /// An HTTPS server with a fresh self-signed certificate, returned as PEM.
    async fn https_server() -> (SocketAddr, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(s).await {
                        respond(tls).await;
                    }
                });
            }
        });
        (addr, ck.cert.pem())
    }

    fn settings(ca_cert: Option<&str>, insecure: bool) -> TlsSettings {
        TlsSettings {
            ca_cert: ca_cert.map(str::to_string),
            insecure,
            client_identity: None,
        }
    }

    #[tokio::test]
    async fn plain_http_clients_never_read_the_system_roots() {
        static ROOTS: tls::SystemRoots = tls::SystemRoots::new(no_roots);
        let addr = http_server().await;
        let (_, pem) = https_server().await;
        for tls in [settings(None, false), settings(Some(&pem), false)] {
            let c = client_with_roots(&tls, Duration::from_secs(5), &ROOTS).unwrap();
            let r = c.get(format!("http://{addr}/")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        assert_eq!(ROOTS.loads(), 0);
    }

    #[tokio::test]
    async fn https_clients_read_the_system_roots_once_between_them() {
        static ROOTS: tls::SystemRoots = tls::SystemRoots::new(no_roots);
        let (addr, pem) = https_server().await;
        let url = format!("https://{addr}/");
        for _ in 0..3 {
            let c = client_with_roots(&settings(Some(&pem), false), Duration::from_secs(5), &ROOTS)
                .unwrap();
            assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
        }
        // Without the server's CA (and no system roots here) verification fails.
        let c = client_with_roots(&settings(None, false), Duration::from_secs(5), &ROOTS).unwrap();
        let err = c.get(&url).send().await.unwrap_err();
        assert!(format!("{err:?}").contains("no CA certificates"), "{err:?}");
        assert_eq!(ROOTS.loads(), 1);
    }

    #[tokio::test]
    async fn the_server_certificate_is_verified_against_the_roots() {
        fn other_root() -> Vec<rustls::pki_types::CertificateDer<'static>> {
            let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
            vec![ck.cert.der().clone()]
        }
        static ROOTS: tls::SystemRoots = tls::SystemRoots::new(other_root);
        let (addr, _) = https_server().await;
        let c = client_with_roots(&settings(None, false), Duration::from_secs(5), &ROOTS).unwrap();
        let err = c.get(format!("https://{addr}/")).send().await.unwrap_err();
        assert!(format!("{err:?}").contains("InvalidCertificate"), "{err:?}");
        // insecure accepts it, and reads no roots for it.
        static UNUSED: tls::SystemRoots = tls::SystemRoots::new(no_roots);
        let c = client_with_roots(&settings(None, true), Duration::from_secs(5), &UNUSED).unwrap();
        let r = c.get(format!("https://{addr}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(UNUSED.loads(), 0);
    }

    #[test]
    fn a_ca_cert_that_is_not_pem_is_refused_when_the_client_is_built() {
        for bad in [
            "",
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let e = client(&settings(Some(bad), false), Duration::from_secs(1)).unwrap_err();
            assert!(matches!(e, ClientError::InvalidCaCert(_)), "{bad:?}: {e}");
        }
    }

    /// A server that reads each request, then closes the connection without
    /// answering (`hold: false`), or keeps it open and never answers (`true`).
    async fn silent_server(hold: bool) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    if hold {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                });
            }
        });
        addr
    }

    fn no_retries() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Every cause in the chain, as text.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            out.push(s.to_string());
            next = s.source();
        }
        out
    }

    #[tokio::test]
    async fn transport_errors_keep_their_source_without_the_url() {
        let c = client(&TlsSettings::default(), Duration::from_millis(500)).unwrap();
        // Connection refused: a port that was just free.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        // Answer lost: the server reads the POST and hangs up.
        let hangup = silent_server(false).await;
        // Timeout: the server reads the POST and never answers.
        let slow = silent_server(true).await;
        for (addr, kind, api_kind) in [
            (closed, HttpErrorKind::Connect, ErrorKind::Transport),
            (hangup, HttpErrorKind::AnswerLost, ErrorKind::AnswerLost),
            (slow, HttpErrorKind::Timeout, ErrorKind::AnswerLost),
        ] {
            let url = format!("http://user:hunter2@{addr}/api/x?token=sekret");
            let e = send_with_retry(no_retries(), "POST", "/api/x", || c.post(&url).send())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(e.api_kind(), api_kind, "{e}");
            assert_eq!(e.was_not_sent(), kind == HttpErrorKind::Connect);
            assert_eq!((e.method(), e.path()), ("POST", "/api/x"));
            // The reqwest error is the source, and nothing in the chain or
            // the text names the URL or its credentials.
            assert!(e.reqwest_error().is_some(), "{e:?}");
            let all = chain(&e).join(" | ");
            assert!(chain(&e).len() > 2, "causes lost: {all}");
            for secret in ["hunter2", "sekret", "user:", &addr.port().to_string()] {
                assert!(!all.contains(secret), "{secret} in {all}");
            }
            let text = e.to_string();
            assert!(text.starts_with("POST /api/x: "), "{text}");
            assert_eq!(
                text.contains("may or may not have been carried out"),
                kind != HttpErrorKind::Connect,
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_read_is_a_transport_error_not_a_lost_answer() {
        let c = client(&TlsSettings::default(), Duration::from_millis(500)).unwrap();
        let addr = silent_server(false).await;
        let url = format!("http://{addr}/x");
        let e = send_with_retry(no_retries(), "GET", "/x", || c.get(&url).send())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::AnswerLost);
        assert_eq!(e.api_kind(), ErrorKind::Transport);
        assert!(!e.to_string().contains("carried out"), "{e}");
    }

    /// A CA, and a certificate it signed for `name`, with its key.
    struct Issued {
        ca_der: rustls::pki_types::CertificateDer<'static>,
        ca_pem: String,
        cert: rcgen::Certificate,
        key: rcgen::KeyPair,
    }

    fn issue(name: &str) -> Issued {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} CA"));
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca).unwrap();
        Issued {
            ca_der: ca.der().clone(),
            ca_pem: ca.pem(),
            cert,
            key,
        }
    }

    /// The leaf certificates the server was shown, one per connection.
    type Seen = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    /// An HTTPS server that requires a client certificate issued by
    /// `client_ca`, recording the leaf each connection presented; returns
    /// its address and the PEM of the CA that signed its own certificate.
    async fn mtls_server(
        client_ca: rustls::pki_types::CertificateDer<'static>,
    ) -> (SocketAddr, String, Seen) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = issue("127.0.0.1");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server.key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let acceptor = acceptor.clone();
                let record = record.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(s).await {
                        let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                        if let Some(leaf) = leaf {
                            record.lock().unwrap().push(leaf.to_vec());
                        }
                        respond(tls).await;
                    }
                });
            }
        });
        (addr, server.ca_pem, seen)
    }

    fn with_identity(ca_pem: &str, cert_pem: String, key_pem: String) -> TlsSettings {
        TlsSettings {
            ca_cert: Some(ca_pem.to_string()),
            insecure: false,
            client_identity: Some(ClientIdentity {
                cert_pem,
                key_pem: Secret::new(key_pem),
            }),
        }
    }

    #[tokio::test]
    async fn the_client_identity_is_presented_to_a_server_that_requires_one() {
        let client_id = issue("labforge-client");
        let (addr, server_ca, seen) = mtls_server(client_id.ca_der.clone()).await;
        let url = format!("https://{addr}/");
        // With the identity: the handshake succeeds and the server saw our leaf.
        let tls = with_identity(
            &server_ca,
            client_id.cert.pem(),
            client_id.key.serialize_pem(),
        );
        let c = client(&tls, Duration::from_secs(5)).unwrap();
        assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [client_id.cert.der().to_vec()]
        );
        // Without one, the server refuses the connection.
        let c = client(&settings(Some(&server_ca), false), Duration::from_secs(5)).unwrap();
        let err = c.get(&url).send().await.unwrap_err();
        assert!(
            format!("{err:?}").to_lowercase().contains("certificate"),
            "{err:?}"
        );
        // An identity the server's CA did not issue is refused too.
        let stranger = issue("stranger");
        let tls = with_identity(
            &server_ca,
            stranger.cert.pem(),
            stranger.key.serialize_pem(),
        );
        let c = client(&tls, Duration::from_secs(5)).unwrap();
        assert!(c.get(&url).send().await.is_err());
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_bad_client_identity_is_refused_when_the_client_is_built() {
        let id = issue("labforge-client");
        let other = rcgen::KeyPair::generate().unwrap();
        let build = |cert: String, key: String| {
            client(
                &with_identity(&id.ca_pem, cert, key),
                Duration::from_secs(1),
            )
            .unwrap_err()
        };
        let e = build(id.cert.pem(), other.serialize_pem());
        assert!(matches!(e, ClientError::ClientKeyMismatch), "{e}");
        for bad in ["", "not a certificate", &other.serialize_pem()] {
            let e = build(bad.to_string(), id.key.serialize_pem());
            assert!(
                matches!(e, ClientError::InvalidClientCert(_)),
                "{bad:?}: {e}"
            );
        }
        let garbled = id.key.serialize_pem().replacen("M", "!", 3);
        for bad in ["", "not a key", &id.cert.pem(), &garbled] {
            let e = build(id.cert.pem(), bad.to_string());
            assert!(
                matches!(e, ClientError::InvalidClientKey(_)),
                "{bad:?}: {e}"
            );
            // The text never quotes the key.
            let body: String = id.key.serialize_pem().lines().nth(1).unwrap().into();
            assert!(!e.to_string().contains(&body), "{e}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped_by_policy() {
        let p = RetryPolicy::default();
        assert_eq!(backoff(p, 0), Duration::from_millis(200));
        assert_eq!(backoff(p, 3), Duration::from_millis(1600));
        assert!(backoff(p, 30) >= Duration::from_secs(30));
    }
}

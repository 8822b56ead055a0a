//! Server certificate verification with the system CA roots loaded lazily:
//! once per process, and only when a TLS handshake needs them (never for an
//! `http://` endpoint).
//!
//! reqwest's own rustls setup builds a `rustls-platform-verifier` verifier in
//! `ClientBuilder::build`, which reads the whole system store (on Debian, one
//! open per file of /etc/ssl/certs) for every client built, whether or not it
//! ever speaks TLS. We hand reqwest a preconfigured rustls config instead,
//! whose verifier reads the store on its first certificate check, through a
//! process-wide [`SystemRoots`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{DigitallySignedStruct, InconsistentKeys, RootCertStore, SignatureScheme};

use crate::ClientError;

/// The system's CA roots, read at most once.
pub(crate) struct SystemRoots {
    store: OnceLock<Arc<RootCertStore>>,
    loads: AtomicUsize,
    load: fn() -> Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for SystemRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemRoots")
            .field("loads", &self.loads())
            .finish_non_exhaustive()
    }
}

impl SystemRoots {
    pub(crate) const fn new(load: fn() -> Vec<CertificateDer<'static>>) -> Self {
        Self {
            store: OnceLock::new(),
            loads: AtomicUsize::new(0),
            load,
        }
    }

    /// The roots, read on the first call.
    pub(crate) fn store(&self) -> Arc<RootCertStore> {
        self.store
            .get_or_init(|| {
                self.loads.fetch_add(1, Ordering::Relaxed);
                let mut store = RootCertStore::empty();
                let (added, ignored) = store.add_parsable_certificates((self.load)());
                tracing::debug!(added, ignored, "loaded the system CA certificates");
                Arc::new(store)
            })
            .clone()
    }

    /// How often the store was read (0 or 1).
    pub(crate) fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }
}

/// The process's system roots: `SSL_CERT_FILE` / `SSL_CERT_DIR`, else the
/// platform store (rustls-native-certs, as rustls-platform-verifier uses on Linux).
pub(crate) static SYSTEM_ROOTS: SystemRoots = SystemRoots::new(load_native);

fn load_native() -> Vec<CertificateDer<'static>> {
    let result = rustls_native_certs::load_native_certs();
    for e in &result.errors {
        tracing::warn!(error = %e, "could not load a system CA certificate");
    }
    result.certs
}

/// The certificates of a PEM bundle (one or more `CERTIFICATE` blocks), each
/// checked to be usable as a trust anchor.
pub(crate) fn parse_ca_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".to_string());
    }
    let mut check = RootCertStore::empty();
    for c in &certs {
        check.add(c.clone()).map_err(|e| e.to_string())?;
    }
    Ok(certs)
}

/// Verifies server certificates against the system roots plus `extra`
/// (webpki rules: chain, validity, name), building its webpki verifier on the
/// first certificate to check.
#[derive(Debug)]
pub(crate) struct LazyRootsVerifier {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    system: &'static SystemRoots,
    inner: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl LazyRootsVerifier {
    pub(crate) fn new(
        extra: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
        system: &'static SystemRoots,
    ) -> Self {
        Self {
            extra,
            provider,
            system,
            inner: OnceLock::new(),
        }
    }

    fn inner(&self) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        self.inner
            .get_or_init(|| {
                let mut store = (*self.system.store()).clone();
                for c in &self.extra {
                    store.add(c.clone())?;
                }
                if store.is_empty() {
                    return Err(rustls::Error::General(
                        "no CA certificates were loaded from the system: set ca_cert, or \
                         SSL_CERT_FILE / SSL_CERT_DIR"
                            .to_string(),
                    ));
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), self.provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))
            })
            .clone()
    }
}

impl ServerCertVerifier for LazyRootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `insecure = true`: any server certificate is accepted (lab use only); the
/// handshake signatures are still checked against the certificate presented.
#[derive(Debug)]
pub(crate) struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl AcceptAnyCert {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider }
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A verifier that accepts any server certificate, still checking the
/// handshake signatures against the certificate presented: for `insecure =
/// true`, and for clients of other transports (the Talos API's maintenance
/// mode, whose certificate is self-signed, as `talosctl --insecure`).
pub fn accept_any_server_certificate(
    provider: Arc<CryptoProvider>,
) -> Arc<dyn rustls::client::danger::ServerCertVerifier> {
    Arc::new(AcceptAnyCert::new(provider))
}

/// The crypto provider: as reqwest does, a process default if one was
/// installed, else aws-lc-rs.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// A client certificate chain (leaf first) and its private key (PKCS#8,
/// PKCS#1 or SEC1), both PEM, checked to belong together. Error texts never
/// quote the key.
pub(crate) fn certified_key(
    cert_pem: &str,
    key_pem: &str,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ClientError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::InvalidClientCert(e.to_string()))?;
    if certs.is_empty() {
        return Err(ClientError::InvalidClientCert(
            "no CERTIFICATE block found".to_string(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
        ClientError::InvalidClientKey(match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found".to_string()
            }
            other => other.to_string(),
        })
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| ClientError::InvalidClientKey(e.to_string()))?;
    let ck = CertifiedKey::new(certs, signing_key);
    match ck.keys_match() {
        // Keys whose public half the provider cannot tell are not refused
        // here (as rustls does); the server's handshake check still applies.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(_)) => Err(ClientError::ClientKeyMismatch),
        Err(e) => Err(ClientError::InvalidClientCert(e.to_string())),
    }
}

/// The rustls client config for one backend client, presenting `identity`
/// when the server asks for a client certificate.
pub(crate) fn client_config(
    provider: Arc<CryptoProvider>,
    extra: Vec<CertificateDer<'static>>,
    insecure: bool,
    identity: Option<CertifiedKey>,
    system: &'static SystemRoots,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let verifier: Arc<dyn ServerCertVerifier> = if insecure {
        Arc::new(AcceptAnyCert::new(provider.clone()))
    } else {
        Arc::new(LazyRootsVerifier::new(extra, provider.clone(), system))
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(ck) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(ck))),
        None => builder.with_no_client_auth(),
    };
    // reqwest is built without its http2 feature: HTTP/1.1 only, as its own
    // rustls setup would advertise.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

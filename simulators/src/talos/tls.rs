//! The TLS side of a node's apid port (50000 on a real node).
//!
//! * Maintenance mode: a self-signed certificate, no client certificate
//!   asked (`internal/app/machined/pkg/controllers/runtime/
//!   api_service_config.go`: `SkipVerifyingClientCert`, `ReadonlyRoleMode`).
//! * Configured: a serving certificate issued from the machine's OS CA
//!   (`machine.ca`), and a client certificate chaining to that CA is
//!   required. Roles are the client certificate's Organization values
//!   (`pkg/machinery/role/role.go`).
//!
//! Workers have only the OS CA certificate: a real worker gets its apid
//! certificate from trustd on a control plane. The simulator instead signs
//! it with the CA key it learnt from a control plane config with the same
//! CA certificate (see `Cluster::ca_keys`); until one was applied the
//! worker does not come up (as a worker whose trustd is unreachable).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn sans(name: &str) -> Vec<String> {
    vec!["127.0.0.1".into(), "localhost".into(), name.to_string()]
}

fn finish(
    builder: rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>,
    chain: Vec<CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> Result<Arc<ServerConfig>, String> {
    let mut config = builder
        .with_single_cert(
            chain,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| format!("server certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A maintenance-mode server: a fresh self-signed certificate, no client auth.
pub(crate) fn maintenance(name: &str) -> Result<Arc<ServerConfig>, String> {
    let err = |e: rcgen::Error| format!("maintenance certificate: {e}");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(err)?;
    let mut p = rcgen::CertificateParams::new(sans(name)).map_err(err)?;
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "talos");
    let cert = p.self_signed(&key).map_err(err)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth();
    finish(builder, vec![cert.der().clone()], &key)
}

/// A configured node: serving certificate from the OS CA, client
/// certificates required and verified against it.
pub(crate) fn configured(
    name: &str,
    ca_pem: &str,
    ca_key_pem: &str,
) -> Result<Arc<ServerConfig>, String> {
    let err = |e: rcgen::Error| format!("apid certificate: {e}");
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem).map_err(err)?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(err)?;
    let mut p = rcgen::CertificateParams::new(sans(name)).map_err(err)?;
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&key, &issuer).map_err(err)?;
    let ca_der = ca_der(ca_pem)?;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca_der.clone())
        .map_err(|e| format!("OS CA: {e}"))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("client verifier: {e}"))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier);
    finish(builder, vec![cert.der().clone(), ca_der], &key)
}

/// The DER of the first certificate in a PEM text.
pub(crate) fn ca_der(pem: &str) -> Result<CertificateDer<'static>, String> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body)
        .map_err(|e| format!("certificate PEM: {e}"))?;
    if der.is_empty() {
        return Err("no certificate in PEM".into());
    }
    Ok(CertificateDer::from(der))
}

/// The roles of a verified client certificate: its Organization values.
pub(crate) fn roles_of(cert: &[u8]) -> Vec<String> {
    match x509_parser::parse_x509_certificate(cert) {
        Ok((_, c)) => c
            .subject()
            .iter_organization()
            .filter_map(|o| o.as_str().ok())
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What a caller may do (`pkg/machinery/role/role.go`: `os:admin` can do
/// everything, `os:operator` what readers can plus a few operations,
/// `os:reader` read non-sensitive state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Reader,
    Operator,
    Admin,
}

/// The highest level a set of roles grants (`None`: no known role).
pub(crate) fn level(roles: &[String]) -> Option<Level> {
    roles
        .iter()
        .filter_map(|r| match r.as_str() {
            "os:admin" => Some(Level::Admin),
            "os:operator" => Some(Level::Operator),
            "os:reader" => Some(Level::Reader),
            _ => None,
        })
        .max()
}

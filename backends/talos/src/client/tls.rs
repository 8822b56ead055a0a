//! TLS for the Talos API: the insecure mode of maintenance nodes (TLS without
//! verification or client certificate, as `talosctl --insecure`) and mTLS with
//! an admin certificate against the cluster's OS CA.

use std::sync::Arc;

use base64::Engine as _;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::{ClientConfig, RootCertStore};

use super::Credentials;
use super::error::{ErrorKind, TalosError};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn invalid(what: &str, why: &str) -> TalosError {
    TalosError::new(
        ErrorKind::InvalidInput,
        format!("the client configuration's {what} {why}"),
    )
}

/// One PEM block: its label and its decoded body.
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

/// The PEM blocks of `text`, in order. Unlike rustls's reader this keeps
/// every label, so Talos's `ED25519 PRIVATE KEY` (PKCS#8 inside;
/// siderolabs/crypto x509/constants.go `PEMTypeEd25519Private`) is read too.
pub(crate) fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, ()> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                // RFC 1421 headers (Proc-Type, DEK-Info): encrypted keys are not supported.
                return Err(());
            }
            body.push_str(l);
        }
        if !closed {
            return Err(());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| ())?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der,
        });
    }
    Ok(blocks)
}

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TalosError> {
    let blocks = pem_blocks(pem).map_err(|()| invalid(what, "is not valid PEM"))?;
    let certs: Vec<_> = blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| CertificateDer::from(b.der))
        .collect();
    if certs.is_empty() {
        return Err(invalid(what, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, TalosError> {
    let blocks = pem_blocks(pem).map_err(|()| invalid("client key", "is not valid PEM"))?;
    for b in blocks {
        match b.label.as_str() {
            // Talos writes Ed25519 keys as "ED25519 PRIVATE KEY" with PKCS#8 inside.
            "PRIVATE KEY" | "ED25519 PRIVATE KEY" => {
                return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(b.der)));
            }
            "EC PRIVATE KEY" => return Ok(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(b.der))),
            "RSA PRIVATE KEY" => return Ok(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(b.der))),
            _ => {}
        }
    }
    Err(invalid("client key", "holds no PEM private key"))
}

/// Checks that the credentials can be used, without keeping anything.
pub(crate) fn validate(creds: &Credentials) -> Result<(), TalosError> {
    mtls_config(creds).map(|_| ())
}

/// mTLS: the server must chain to the cluster's OS CA and match the endpoint's
/// host; we present the admin certificate.
pub(crate) fn mtls_config(creds: &Credentials) -> Result<Arc<ClientConfig>, TalosError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    for ca in certificates(&creds.ca_pem, "CA certificate")? {
        roots
            .add(ca)
            .map_err(|_| invalid("CA certificate", "is not a usable CA certificate"))?;
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|_| invalid("CA certificate", "is not a usable CA certificate"))?;
    let chain = certificates(&creds.cert_pem, "client certificate")?;
    let key = private_key(creds.key_pem.expose())?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TalosError::new(ErrorKind::Tls, "no TLS protocol version available"))?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|_| {
            invalid(
                "client key",
                "does not match the client certificate, or its key type is not supported",
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Maintenance mode: TLS, any server certificate (`InsecureSkipVerify`, as
/// talosctl `--insecure`: the node's certificate is self-signed), no client
/// certificate; the handshake signatures are still checked.
pub(crate) fn insecure_config() -> Result<Arc<ClientConfig>, TalosError> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|_| TalosError::new(ErrorKind::Tls, "no TLS protocol version available"))?
        .dangerous()
        .with_custom_certificate_verifier(labforge_http::accept_any_server_certificate(provider))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn creds(alg: &'static rcgen::SignatureAlgorithm, ed25519_label: bool) -> Credentials {
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "os:admin");
        let cert = params.signed_by(&key, &issuer).unwrap();
        let mut key_pem = key.serialize_pem();
        if ed25519_label {
            key_pem = key_pem.replace("PRIVATE KEY", "ED25519 PRIVATE KEY");
        }
        Credentials {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key_pem.into(),
        }
    }

    #[test]
    fn ed25519_ecdsa_and_talos_labels_are_accepted() {
        mtls_config(&creds(&rcgen::PKCS_ED25519, false)).unwrap();
        mtls_config(&creds(&rcgen::PKCS_ED25519, true)).unwrap();
        mtls_config(&creds(&rcgen::PKCS_ECDSA_P256_SHA256, false)).unwrap();
        mtls_config(&creds(&rcgen::PKCS_ECDSA_P384_SHA384, false)).unwrap();
        insecure_config().unwrap();
    }

    #[test]
    fn bad_credentials_are_named_without_their_content() {
        let good = creds(&rcgen::PKCS_ED25519, false);
        let secret_marker = "SECRETKEYMATERIAL";

        let mut c = good.clone();
        c.key_pem =
            format!("-----BEGIN PRIVATE KEY-----\n{secret_marker}\n-----END PRIVATE KEY-----\n")
                .into();
        let e = mtls_config(&c).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "the client configuration's client key is not valid PEM"
        );
        assert!(!e.to_string().contains(secret_marker));

        let mut c = good.clone();
        c.key_pem = "not pem at all".into();
        assert_eq!(
            mtls_config(&c).unwrap_err().to_string(),
            "the client configuration's client key holds no PEM private key"
        );

        // A key that does not belong to the certificate.
        let mut c = good.clone();
        c.key_pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .unwrap()
            .serialize_pem()
            .into();
        assert!(
            mtls_config(&c)
                .unwrap_err()
                .to_string()
                .contains("does not match the client certificate")
        );

        let mut c = good.clone();
        c.ca_pem = String::new();
        assert_eq!(
            mtls_config(&c).unwrap_err().to_string(),
            "the client configuration's CA certificate holds no PEM certificate"
        );

        let mut c = good;
        c.cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA".into();
        assert_eq!(
            mtls_config(&c).unwrap_err().to_string(),
            "the client configuration's client certificate is not valid PEM"
        );
    }

    #[test]
    fn pem_blocks_keep_every_label() {
        let text = "junk\n-----BEGIN ED25519 PRIVATE KEY-----\nAAEC\n-----END ED25519 PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAw==\n-----END CERTIFICATE-----\n";
        let blocks = pem_blocks(text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "ED25519 PRIVATE KEY");
        assert_eq!(blocks[0].der, vec![0, 1, 2]);
        assert_eq!(blocks[1].label, "CERTIFICATE");
        assert_eq!(blocks[1].der, vec![3]);
        assert!(pem_blocks("-----BEGIN X-----\nAAAA\n").is_err());
    }
}

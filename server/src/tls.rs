//! AutoMTLS: our self-signed server certificate and a client-certificate
//! verifier that accepts exactly the certificate the host pinned in
//! `PLUGIN_CLIENT_CERT` (a P-521, CA:TRUE cert, which webpki's verifier refuses
//! as an end entity, hence the custom verifier). aws-lc-rs only.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};

/// The crypto provider used everywhere in this crate (explicit, so that a
/// second rustls provider elsewhere in the build can never make us ambiguous).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Server TLS material for one plugin process.
pub(crate) struct ServerTls {
    pub config: Arc<ServerConfig>,
    pub cert_der: CertificateDer<'static>,
}

impl ServerTls {
    /// Builds the server config for the host certificate given as PEM.
    pub(crate) fn for_client_pem(client_cert_pem: &str) -> Result<Self, String> {
        let pinned = CertificateDer::from_pem_slice(client_cert_pem.as_bytes())
            .map_err(|e| format!("PLUGIN_CLIENT_CERT is not a PEM certificate: {e}"))?;
        let (cert_der, key) = generate_server_cert()?;
        let provider = provider();
        let verifier = PinnedClientCert::new(pinned, &provider);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![cert_der.clone()], key)
            .map_err(|e| format!("server certificate: {e}"))?;
        // grpc-go >= 1.67 (Terraform >= 1.12, OpenTofu >= 1.11) insists on ALPN.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            cert_der,
        })
    }
}

/// Self-signed P-256 certificate for `localhost`, usable for server and
/// client auth (the host installs it as its only root).
pub(crate) fn generate_server_cert()
-> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), String> {
    let err = |e: rcgen::Error| format!("generating the server certificate: {e}");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "labforge");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).map_err(err)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key_der))
}

/// Accepts exactly one client certificate (byte comparison of the end-entity
/// DER) and verifies handshake signatures with the provider's algorithms
/// (aws-lc-rs includes ECDSA P-521/SHA-512, which Terraform's key needs).
#[derive(Debug)]
pub(crate) struct PinnedClientCert {
    pinned: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientCert {
    pub(crate) fn new(pinned: CertificateDer<'static>, provider: &CryptoProvider) -> Self {
        Self {
            pinned,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for PinnedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, RootCertStore};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    /// A client certificate shaped like go-plugin's: P-521, self-signed, CA:TRUE.
    fn go_plugin_like_client_cert() -> (CertificateDer<'static>, PrivateKeyDer<'static>, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "HashiCorp");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
            rcgen::KeyUsagePurpose::KeyAgreement,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let cert = params.self_signed(&key).unwrap();
        let pem = cert.pem();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            pem,
        )
    }

    fn client_config(
        server_cert: &CertificateDer<'static>,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
        alpn: bool,
    ) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(server_cert.clone()).unwrap();
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match client {
            Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
            None => builder.with_no_client_auth(),
        };
        if alpn {
            config.alpn_protocols = vec![b"h2".to_vec()];
        }
        config
    }

    /// Runs one handshake over an in-memory pipe, then a one-byte exchange
    /// (TLS 1.3 reports client-auth failures only after the client finished).
    /// Returns the server's view: negotiated ALPN or the error.
    async fn handshake(
        server: &ServerTls,
        client: ClientConfig,
    ) -> Result<Option<Vec<u8>>, String> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = TlsAcceptor::from(server.config.clone());
        let connector = TlsConnector::from(Arc::new(client));
        let server_side = async move {
            let mut tls = acceptor
                .accept(server_io)
                .await
                .map_err(|e| e.to_string())?;
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
            tls.write_all(&byte).await.map_err(|e| e.to_string())?;
            tls.flush().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(alpn)
        };
        let client_side = async move {
            let name = ServerName::try_from("localhost").unwrap();
            if let Ok(mut tls) = connector.connect(name, client_io).await {
                let _ = tls.write_all(b"x").await;
                let _ = tls.flush().await;
                let mut byte = [0u8; 1];
                let _ = tls.read_exact(&mut byte).await;
            }
        };
        let (result, ()) = tokio::join!(server_side, client_side);
        result
    }

    #[tokio::test]
    async fn pinned_p521_client_cert_is_accepted_and_h2_negotiated() {
        let (cert, key, pem) = go_plugin_like_client_cert();
        let server = ServerTls::for_client_pem(&pem).unwrap();
        let alpn = handshake(
            &server,
            client_config(&server.cert_der, Some((cert, key)), true),
        )
        .await
        .unwrap();
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    }

    #[tokio::test]
    async fn tls12_client_is_accepted_too() {
        let (cert, key, pem) = go_plugin_like_client_cert();
        let server = ServerTls::for_client_pem(&pem).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(server.cert_der.clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        assert!(handshake(&server, config).await.is_ok());
    }

    #[tokio::test]
    async fn a_different_client_cert_is_refused() {
        let (_, _, pinned_pem) = go_plugin_like_client_cert();
        let (other_cert, other_key, _) = go_plugin_like_client_cert();
        let server = ServerTls::for_client_pem(&pinned_pem).unwrap();
        let err = handshake(
            &server,
            client_config(&server.cert_der, Some((other_cert, other_key)), true),
        )
        .await
        .unwrap_err();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
    }

    /// Presents a fixed certificate chain but signs the handshake with a
    /// key of its own choosing (which need not match the certificate).
    #[derive(Debug)]
    struct MismatchedKey(Arc<rustls::sign::CertifiedKey>);

    impl MismatchedKey {
        fn new(cert: CertificateDer<'static>, signing_key: PrivateKeyDer<'static>) -> Self {
            let key = provider()
                .key_provider
                .load_private_key(signing_key)
                .unwrap();
            // `CertifiedKey::new` does not check that key and certificate match.
            let certified = rustls::sign::CertifiedKey::new(vec![cert], key);
            assert!(certified.keys_match().is_err(), "the key must not match");
            Self(Arc::new(certified))
        }
    }

    impl rustls::client::ResolvesClientCert for MismatchedKey {
        fn resolve(
            &self,
            _root_hint_subjects: &[&[u8]],
            _sigschemes: &[SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }

        fn has_certs(&self) -> bool {
            true
        }
    }

    /// A client presenting the pinned certificate but signing with another key.
    fn impostor_config(
        server_cert: &CertificateDer<'static>,
        pinned: CertificateDer<'static>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> ClientConfig {
        let (_, other_key, _) = go_plugin_like_client_cert();
        let mut roots = RootCertStore::empty();
        roots.add(server_cert.clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(MismatchedKey::new(pinned, other_key)));
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    }

    /// The verifier checks the handshake signature against the pinned
    /// certificate: knowing the certificate (it is public: it travels in
    /// `PLUGIN_CLIENT_CERT` and in every handshake) is not enough.
    #[tokio::test]
    async fn pinned_cert_signed_with_another_key_is_refused() {
        let (cert, key, pem) = go_plugin_like_client_cert();
        let server = ServerTls::for_client_pem(&pem).unwrap();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let err = handshake(
                &server,
                impostor_config(&server.cert_der, cert.clone(), &[version]),
            )
            .await
            .unwrap_err();
            let lower = err.to_lowercase();
            assert!(
                lower.contains("signature") || lower.contains("decrypt"),
                "{version:?}: {err}"
            );
        }
        // The same server config still accepts the real key afterwards.
        let alpn = handshake(
            &server,
            client_config(&server.cert_der, Some((cert, key)), true),
        )
        .await
        .unwrap();
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    }

    #[tokio::test]
    async fn a_client_without_cert_is_refused() {
        let (_, _, pem) = go_plugin_like_client_cert();
        let server = ServerTls::for_client_pem(&pem).unwrap();
        let err = handshake(&server, client_config(&server.cert_der, None, true))
            .await
            .unwrap_err();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
    }

    #[test]
    fn bad_pem_is_reported() {
        assert!(ServerTls::for_client_pem("not a pem").is_err());
    }

    #[test]
    fn verifier_offers_p521() {
        let (cert, _, _) = go_plugin_like_client_cert();
        let verifier = PinnedClientCert::new(cert, &provider());
        assert!(
            verifier
                .supported_verify_schemes()
                .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
        );
        assert!(verifier.client_auth_mandatory());
    }
}

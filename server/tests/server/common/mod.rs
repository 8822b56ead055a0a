//! Test helpers: a trivial provider, a go-plugin-like P-521 client cert and a
//! tonic channel over a unix socket (plain or mTLS with ALPN h2).

#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use labforge_proto::tfplugin6::provider_server::Provider;
use labforge_proto::tfplugin6::{ServerCapabilities, get_provider_schema};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::UnixStream;
use tonic::codegen::Service;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Response, Status};

pub const INFO: labforge_server::PluginInfo = labforge_server::PluginInfo {
    address: "registry.terraform.io/labforge/test",
    name: "test",
    version: "0.0.1",
};

/// Answers GetProviderSchema with an empty schema; all else Unimplemented.
pub struct EmptyProvider;

#[tonic::async_trait]
impl Provider for EmptyProvider {
    async fn get_provider_schema(
        &self,
        _request: Request<get_provider_schema::Request>,
    ) -> Result<Response<get_provider_schema::Response>, Status> {
        Ok(Response::new(get_provider_schema::Response {
            server_capabilities: Some(ServerCapabilities {
                plan_destroy: true,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

pub struct ClientCert {
    pub der: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub pem: String,
}

/// Like go-plugin's client cert: ECDSA P-521, self-signed, CA:TRUE.
pub fn go_plugin_client_cert() -> ClientCert {
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
    ClientCert {
        der: cert.der().clone(),
        pem: cert.pem(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// Parses `1|6|unix|PATH|grpc|CERT` into (path, cert DER if any).
pub fn parse_handshake(line: &str) -> (PathBuf, Option<Vec<u8>>) {
    use base64::Engine as _;
    let parts: Vec<&str> = line.trim().split('|').collect();
    assert_eq!(parts.len(), 6, "{line}");
    assert_eq!(&parts[..3], &["1", "6", "unix"], "{line}");
    assert_eq!(parts[4], "grpc", "{line}");
    let cert = (!parts[5].is_empty()).then(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(parts[5])
            .unwrap()
    });
    (PathBuf::from(parts[3]), cert)
}

/// Records the ALPN protocol a TLS connection negotiated.
type AlpnSeen = Arc<std::sync::Mutex<Option<Vec<u8>>>>;

#[derive(Clone)]
struct UnixConnector {
    path: PathBuf,
    tls: Option<(tokio_rustls::TlsConnector, AlpnSeen)>,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

enum Io {
    Plain(UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<UnixStream>>),
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Service<Uri> for UnixConnector {
    type Response = TokioIo<Io>;
    type Error = std::io::Error;
    type Future = BoxFut<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream = UnixStream::connect(&this.path).await?;
            match this.tls {
                None => Ok(TokioIo::new(Io::Plain(stream))),
                Some((connector, alpn_seen)) => {
                    let name = ServerName::try_from("localhost").unwrap();
                    let tls = connector.connect(name, stream).await?;
                    *alpn_seen.lock().unwrap() =
                        tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    Ok(TokioIo::new(Io::Tls(Box::new(tls))))
                }
            }
        })
    }
}

/// A connected channel plus the ALPN protocol the TLS handshake negotiated.
pub struct Connection {
    pub channel: Channel,
    pub alpn: Option<Vec<u8>>,
}

/// Connects like go-plugin: unix socket, optional mTLS with `client` cert,
/// server cert as the only root, server name "localhost", ALPN h2.
pub async fn connect(
    path: PathBuf,
    server_cert: Option<Vec<u8>>,
    client: Option<&ClientCert>,
) -> Result<Connection, tonic::transport::Error> {
    let config = server_cert.map(|der| {
        let builder = client_config_builder(der);
        match client {
            Some(c) => builder
                .with_client_auth_cert(vec![c.der.clone()], c.key.clone_key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        }
    });
    connect_with(path, config).await
}

/// The TLS client config go-plugin uses, up to the client authentication:
/// the server certificate as the only root.
pub fn client_config_builder(
    server_cert: Vec<u8>,
) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(server_cert)).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
}

/// Connects over the unix socket, with TLS (ALPN h2) when `config` is given.
pub async fn connect_with(
    path: PathBuf,
    config: Option<rustls::ClientConfig>,
) -> Result<Connection, tonic::transport::Error> {
    let alpn_seen = Arc::new(std::sync::Mutex::new(None));
    let tls = config.map(|mut config| {
        config.alpn_protocols = vec![b"h2".to_vec()];
        (
            tokio_rustls::TlsConnector::from(Arc::new(config)),
            alpn_seen.clone(),
        )
    });
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(UnixConnector { path, tls })
        .await?;
    let alpn = alpn_seen.lock().unwrap().clone();
    Ok(Connection { channel, alpn })
}

/// Presents a fixed certificate chain but signs the handshake with any key
/// (which need not be the certificate's).
#[derive(Debug)]
pub struct MismatchedKey(Arc<rustls::sign::CertifiedKey>);

impl MismatchedKey {
    pub fn new(cert: CertificateDer<'static>, signing_key: PrivateKeyDer<'static>) -> Self {
        let key = rustls::crypto::aws_lc_rs::default_provider()
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
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

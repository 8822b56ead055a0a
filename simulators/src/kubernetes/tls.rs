//! The apiserver's HTTPS port: its own CA, a serving certificate for
//! `localhost` and `127.0.0.1`, and client certificates (mutual TLS) as
//! kubeadm/Talos issue them to users: the subject's CN is the user name
//! (Kubernetes "Authenticating": X509 client certificates). A client
//! without a certificate may still use a bearer token. Each connection is
//! served by the same API router, with the certificate's user attached,
//! and counted and faulted as the plain-HTTP port is (one [`Faults`] and
//! one [`Counters`] for both ports).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::sync::oneshot;

use super::api::{CertUser, Shared};
use super::state::Access;
use crate::common::{Counters, Faults, instrument};

/// An issued client certificate: PEM certificate and key, and who it is.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    der: Vec<u8>,
    pub(crate) access: Access,
    pub(crate) user: String,
}

pub(crate) struct Material {
    pub(crate) ca_pem: String,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) clients: Vec<Issued>,
}

pub(crate) fn material(users: &[(&str, Access)]) -> Result<Material, String> {
    let err = |e: rcgen::Error| format!("generating the simulator's certificates: {e}");
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "kubernetes");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).map_err(err)?;

    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(err)?;
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "kube-apiserver");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &ca).map_err(err)?;

    let mut clients = Vec::new();
    for (user, access) in users {
        let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        p.distinguished_name.push(rcgen::DnType::CommonName, *user);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let c = p.signed_by(&k, &ca).map_err(err)?;
        clients.push(Issued {
            cert_pem: c.pem(),
            key_pem: k.serialize_pem(),
            der: c.der().to_vec(),
            access: *access,
            user: (*user).to_string(),
        });
    }

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.der().to_vec()))
        .map_err(|e| format!("CA: {e}"))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("client verifier: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![cert.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| format!("server certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Material {
        ca_pem: ca.pem(),
        config: Arc::new(config),
        clients,
    })
}

/// The HTTPS listener. Stops when dropped.
pub(crate) struct Front {
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn start(
    port: u16,
    shared: Shared,
    config: Arc<ServerConfig>,
    clients: Vec<Issued>,
    faults: Faults,
    counters: Counters,
) -> std::io::Result<Front> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (tx, mut rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("sim-kubernetes-tls".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let clients = Arc::new(clients);
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else {
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                                continue;
                            };
                            let (acceptor, shared, clients) = (acceptor.clone(), shared.clone(), clients.clone());
                            let (faults, counters) = (faults.clone(), counters.clone());
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else {
                                    return;
                                };
                                let user = tls
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|c| c.first())
                                    .and_then(|leaf| clients.iter().find(|i| i.der == leaf.as_ref()))
                                    .map(|i| (i.access, i.user.clone()));
                                let router = instrument(
                                    super::api::router(shared),
                                    &faults,
                                    &counters,
                                    Arc::new(super::api::fault_response),
                                )
                                .layer(axum::Extension(CertUser(user)));
                                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                                    let inner = TowerToHyperService::new(router.clone());
                                    async move { inner.call(req).await }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(tls), service)
                                    .await;
                            });
                        }
                    }
                }
            });
            rt.shutdown_background();
        })?;
    Ok(Front {
        addr,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

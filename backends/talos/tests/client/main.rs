//! The Talos API client against a Talos API served in-process over TLS:
//! maintenance mode (no client certificate), configured mode (mTLS against the
//! cluster's OS CA), and a server whose certificate the cluster did not issue.

#![allow(clippy::unwrap_used)]

mod sim;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use labforge_talos::client::proto::common::{Data, Metadata};
use labforge_talos::client::proto::cosi::resource as cosi;
use labforge_talos::client::proto::machine::machine_service_server::{
    MachineService, MachineServiceServer,
};
use labforge_talos::client::proto::machine::{self as m, apply_configuration_request::Mode};
use labforge_talos::client::proto::resource::config::MachineConfigSpec;
use labforge_talos::client::{
    ApplyMode, ApplyRequest, Auth, Client, Credentials, ErrorKind, NodeState, ResetPartition,
    ResetRequest, Target, retry,
};
use prost::Message as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::{Request, Response, Status};

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: lab\n";
const MACHINE_CONFIG: &str = "version: v1alpha1\nmachine:\n  type: controlplane\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: cp1\n";

// ---------------------------------------------------------------------------
// Certificates (rcgen), as a Talos cluster has them.
// ---------------------------------------------------------------------------

struct Ca {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn ca() -> Ca {
    // The Talos OS CA is Ed25519 (siderolabs/talos secrets/ca.go).
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "talos");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

fn server_cert(ca: &Ca) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Admin credentials; the key written as Talos writes it
/// (`ED25519 PRIVATE KEY`, or `EC PRIVATE KEY` for ECDSA).
fn admin(ca: &Ca, alg: &'static rcgen::SignatureAlgorithm) -> Credentials {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "os:admin");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let key_pem = if alg == &rcgen::PKCS_ED25519 {
        key.serialize_pem()
            .replace("PRIVATE KEY", "ED25519 PRIVATE KEY")
    } else {
        key.serialize_pem()
    };
    Credentials {
        ca_pem: ca.pem.clone(),
        cert_pem: cert.pem(),
        key_pem: key_pem.into(),
    }
}

// ---------------------------------------------------------------------------
// A tiny Talos API.
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Node {
    configured: bool,
    nodes_seen: Mutex<Vec<String>>,
    bootstrap_calls: AtomicU32,
    resets: Mutex<Vec<m::ResetRequest>>,
}

fn seen<T>(node: &Node, req: &Request<T>) {
    if let Some(v) = req.metadata().get("node") {
        node.nodes_seen
            .lock()
            .unwrap()
            .push(v.to_str().unwrap().to_string());
    }
}

fn gzip_tar_without_end(name: &str, content: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000600\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = h.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    // No end-of-archive blocks: Talos does not close its tar writer.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// The services over one node's state.
struct Svc(Arc<Node>);

#[tonic::async_trait]
impl MachineService for Svc {
    async fn apply_configuration(
        &self,
        req: Request<m::ApplyConfigurationRequest>,
    ) -> Result<Response<m::ApplyConfigurationResponse>, Status> {
        seen(&self.0, &req);
        let r = req.into_inner();
        if r.data == b"bad" {
            return Err(Status::invalid_argument(
                "error decoding document v1alpha1/ (line 1): unknown keys found during decoding",
            ));
        }
        let asked = Mode::try_from(r.mode).unwrap();
        let (mode, details) = match asked {
            Mode::Auto | Mode::NoReboot => (
                Mode::NoReboot,
                "Applied configuration without a reboot".to_string(),
            ),
            Mode::Staged => (
                Mode::Staged,
                "Staged configuration to be applied after the next reboot".to_string(),
            ),
            Mode::Try => (
                Mode::Try,
                format!(
                    "Applied configuration without a reboot\nThe config is applied in 'try' mode and will be automatically reverted back in {}s",
                    r.try_mode_timeout.map(|d| d.seconds).unwrap_or(60)
                ),
            ),
            Mode::Reboot => (
                Mode::Reboot,
                "Applied configuration with a reboot".to_string(),
            ),
        };
        let details = if r.dry_run {
            format!("Dry run summary:\n{details}")
        } else {
            details
        };
        Ok(Response::new(m::ApplyConfigurationResponse {
            messages: vec![m::ApplyConfiguration {
                metadata: None,
                warnings: vec!["a warning".into()],
                mode: mode.into(),
                mode_details: details,
            }],
        }))
    }

    async fn bootstrap(
        &self,
        req: Request<m::BootstrapRequest>,
    ) -> Result<Response<m::BootstrapResponse>, Status> {
        seen(&self.0, &req);
        match self.0.bootstrap_calls.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Err(Status::failed_precondition(
                "bootstrap is not available yet",
            )),
            2 => Ok(Response::new(m::BootstrapResponse {
                messages: vec![m::Bootstrap { metadata: None }],
            })),
            _ => Err(Status::already_exists("etcd data directory is not empty")),
        }
    }

    type KubeconfigStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Data, Status>> + Send>>;

    async fn kubeconfig(
        &self,
        req: Request<()>,
    ) -> Result<Response<Self::KubeconfigStream>, Status> {
        seen(&self.0, &req);
        let payload = gzip_tar_without_end("kubeconfig", KUBECONFIG.as_bytes());
        let (a, b) = payload.split_at(payload.len() / 2);
        let chunks: Vec<Result<Data, Status>> = [a, b]
            .into_iter()
            .map(|part| {
                Ok(Data {
                    metadata: Some(Metadata::default()),
                    bytes: part.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn reset(
        &self,
        req: Request<m::ResetRequest>,
    ) -> Result<Response<m::ResetResponse>, Status> {
        seen(&self.0, &req);
        let r = req.into_inner();
        let n = {
            let mut resets = self.0.resets.lock().unwrap();
            resets.push(r);
            resets.len()
        };
        Ok(Response::new(m::ResetResponse {
            messages: vec![m::Reset {
                metadata: Some(Metadata::default()),
                actor_id: format!("actor-{n}"),
            }],
        }))
    }

    async fn version(&self, req: Request<()>) -> Result<Response<m::VersionResponse>, Status> {
        seen(&self.0, &req);
        Ok(Response::new(m::VersionResponse {
            messages: vec![m::Version {
                metadata: None,
                version: Some(m::VersionInfo {
                    tag: "v1.13.9".into(),
                    ..Default::default()
                }),
                // features{rbac} only once a machine configuration is loaded.
                features: self.0.configured.then_some(m::FeaturesInfo { rbac: true }),
            }],
        }))
    }
}

#[tonic::async_trait]
impl cosi::state_server::State for Svc {
    async fn get(
        &self,
        req: Request<cosi::GetRequest>,
    ) -> Result<Response<cosi::GetResponse>, Status> {
        seen(&self.0, &req);
        let r = req.into_inner();
        if r.namespace != "config"
            || r.r#type != "MachineConfigs.config.talos.dev"
            || r.id != "v1alpha1"
        {
            return Err(Status::not_found(format!(
                "resource {}({}/{}) doesn't exist",
                r.r#type, r.namespace, r.id
            )));
        }
        Ok(Response::new(cosi::GetResponse {
            resource: Some(cosi::Resource {
                metadata: Some(cosi::Metadata {
                    namespace: r.namespace,
                    r#type: r.r#type,
                    id: r.id,
                    version: "1".into(),
                }),
                spec: Some(cosi::Spec {
                    proto_spec: MachineConfigSpec {
                        yaml_marshalled: MACHINE_CONFIG.as_bytes().to_vec(),
                    }
                    .encode_to_vec(),
                    yaml_spec: String::new(),
                }),
            }),
        }))
    }
}

/// The accepted TLS stream, as tonic's server wants it.
struct Io(TlsStream<TcpStream>);

impl tonic::transport::server::Connected for Io {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Serves the tiny Talos API on 127.0.0.1; `client_ca` set means configured
/// mode (client certificates required and checked against it).
async fn serve(cert_pem: &str, key_pem: &str, client_ca: Option<&str>) -> (SocketAddr, Arc<Node>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut config = match client_ca {
        None => builder
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Io>>(16);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = tx.send(Ok(Io(tls))).await;
                }
            });
        }
    });
    let node = Arc::new(Node {
        configured: client_ca.is_some(),
        ..Default::default()
    });
    let router = tonic::transport::Server::builder()
        .add_service(MachineServiceServer::new(Svc(node.clone())))
        .add_service(cosi::state_server::StateServer::new(Svc(node.clone())));
    tokio::spawn(router.serve_with_incoming(tokio_stream::wrappers::ReceiverStream::new(rx)));
    (addr, node)
}

fn target(addr: SocketAddr) -> Target {
    Target::endpoint(addr.to_string())
}

fn client() -> Client {
    Client::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_request_timeout(Duration::from_secs(10))
}

// ---------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn maintenance_node_answers_insecurely() {
    let ca = ca();
    // A maintenance node's certificate is self-signed: insecure mode takes it.
    let (cert, key) = server_cert(&ca);
    let (addr, node) = serve(&cert, &key, None).await;
    let c = client();

    let v = c.version(&target(addr), Auth::Insecure).await.unwrap();
    assert_eq!(v.tag, "v1.13.9");
    assert!(!v.configured);
    assert_eq!(
        c.node_state(&target(addr), None).await.unwrap(),
        NodeState::Maintenance
    );

    let req = ApplyRequest {
        data: MACHINE_CONFIG.as_bytes().to_vec(),
        mode: ApplyMode::Auto,
        dry_run: false,
        try_timeout: None,
    };
    let t = Target {
        endpoint: addr.to_string(),
        node: Some("10.0.0.6".into()),
    };
    let r = c
        .apply_configuration(&t, Auth::Insecure, &req)
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::NoReboot);
    assert_eq!(r.mode_details, "Applied configuration without a reboot");
    assert_eq!(r.warnings, vec!["a warning".to_string()]);
    assert_eq!(
        *node.nodes_seen.lock().unwrap(),
        vec!["10.0.0.6".to_string()]
    );

    let try_req = ApplyRequest {
        mode: ApplyMode::Try,
        dry_run: true,
        try_timeout: Some(Duration::from_secs(90)),
        ..req.clone()
    };
    let r = c
        .apply_configuration(&target(addr), Auth::Insecure, &try_req)
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::Try);
    assert!(
        r.mode_details.starts_with("Dry run summary:"),
        "{}",
        r.mode_details
    );
    assert!(
        r.mode_details.ends_with("reverted back in 90s"),
        "{}",
        r.mode_details
    );

    let bad = ApplyRequest {
        data: b"bad".to_vec(),
        ..req
    };
    let e = c
        .apply_configuration(&target(addr), Auth::Insecure, &bad)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status);
    assert_eq!(e.code(), Some(tonic::Code::InvalidArgument));
    assert!(!e.is_retryable());
    assert!(e.message().contains("unknown keys found during decoding"));
}

#[tokio::test]
async fn configured_node_needs_mtls_with_ed25519_or_ecdsa_keys() {
    let ca = ca();
    let (cert, key) = server_cert(&ca);
    let (addr, _node) = serve(&cert, &key, Some(&ca.pem)).await;
    let c = client();

    // Insecure: the node wants a client certificate.
    let e = c.version(&target(addr), Auth::Insecure).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CertificateRejected, "{e}");
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
    let e = c.node_state(&target(addr), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CertificateRejected, "{e}");

    for alg in [&rcgen::PKCS_ED25519, &rcgen::PKCS_ECDSA_P256_SHA256] {
        let creds = admin(&ca, alg);
        let v = c.version(&target(addr), Auth::Mtls(&creds)).await.unwrap();
        assert!(v.configured);
        assert_eq!(
            c.node_state(&target(addr), Some(&creds)).await.unwrap(),
            NodeState::Configured {
                tag: "v1.13.9".into()
            }
        );
    }

    // A client certificate from another CA is refused by the node.
    let other = admin(&self::ca(), &rcgen::PKCS_ED25519);
    let creds = Credentials {
        ca_pem: ca.pem.clone(),
        ..other
    };
    let e = c
        .version(&target(addr), Auth::Mtls(&creds))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CertificateRejected, "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn untrusted_server_certificate_is_refused_under_mtls() {
    let cluster = ca();
    let rogue = ca();
    let (cert, key) = server_cert(&rogue);
    let (addr, node) = serve(&cert, &key, Some(&cluster.pem)).await;
    let creds = admin(&cluster, &rcgen::PKCS_ED25519);
    let e = client()
        .version(&target(addr), Auth::Mtls(&creds))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(!e.is_retryable());
    assert!(
        e.to_string().starts_with(&format!(
            "the server certificate of the Talos API at {addr} is not trusted"
        )),
        "{e}"
    );
    // Nothing reached the service.
    assert!(node.nodes_seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bootstrap_kubeconfig_and_machine_config_over_mtls() {
    let ca = ca();
    let (cert, key) = server_cert(&ca);
    let (addr, node) = serve(&cert, &key, Some(&ca.pem)).await;
    let creds = admin(&ca, &rcgen::PKCS_ED25519);
    let c = client();
    let t = target(addr);

    // "bootstrap is not available yet" twice, then done; a second bootstrap: AlreadyExists.
    retry("bootstrap", Duration::from_secs(30), || {
        c.bootstrap(&t, &creds)
    })
    .await
    .unwrap();
    assert_eq!(node.bootstrap_calls.load(Ordering::SeqCst), 3);
    let e = retry("bootstrap", Duration::from_secs(30), || {
        c.bootstrap(&t, &creds)
    })
    .await
    .unwrap_err();
    assert!(e.is_already_exists(), "{e}");
    assert_eq!(node.bootstrap_calls.load(Ordering::SeqCst), 4);

    assert_eq!(c.kubeconfig(&t, &creds).await.unwrap(), KUBECONFIG);

    assert_eq!(
        c.machine_config(&t, &creds, "v1alpha1")
            .await
            .unwrap()
            .as_deref(),
        Some(MACHINE_CONFIG)
    );
    assert_eq!(
        c.machine_config(&t, &creds, "persistent").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_wrong_endpoint_fails_fast_and_clearly() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let e = client()
        .version(
            &Target::endpoint(format!("127.0.0.1:{port}")),
            Auth::Insecure,
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(e.kind(), ErrorKind::Unreachable);
    assert!(e.is_retryable());
    assert_eq!(
        e.to_string(),
        format!("cannot reach the Talos API at 127.0.0.1:{port}: connection refused")
    );

    let e = client()
        .version(&Target::endpoint("https://127.0.0.1"), Auth::Insecure)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);

    // A listener that accepts TCP but never speaks TLS: the connect timeout applies.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let started = Instant::now();
    let e = Client::new()
        .with_connect_timeout(Duration::from_millis(300))
        .version(&target(addr), Auth::Insecure)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("did not finish within"), "{e}");
}

#[tokio::test]
async fn reset_sends_the_vendor_fields_over_mtls() {
    let ca = ca();
    let (cert, key) = server_cert(&ca);
    let (addr, node) = serve(&cert, &key, Some(&ca.pem)).await;
    let creds = admin(&ca, &rcgen::PKCS_ED25519);
    let c = client();
    let t = Target {
        endpoint: addr.to_string(),
        node: Some("10.0.0.7".into()),
    };

    let r = c
        .reset(&t, &creds, &ResetRequest::state_and_ephemeral(false, true))
        .await
        .unwrap();
    assert_eq!(r.actor_id, "actor-1");
    let r = c
        .reset(
            &t,
            &creds,
            &ResetRequest {
                graceful: true,
                reboot: false,
                system_partitions_to_wipe: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(r.actor_id, "actor-2");

    let resets = node.resets.lock().unwrap().clone();
    assert_eq!(resets.len(), 2);
    assert!(!resets[0].graceful);
    assert!(resets[0].reboot);
    let labels: Vec<(&str, bool)> = resets[0]
        .system_partitions_to_wipe
        .iter()
        .map(|p| (p.label.as_str(), p.wipe))
        .collect();
    assert_eq!(labels, [("STATE", true), ("EPHEMERAL", true)]);
    // WipeMode ALL (0): what siderolabs/terraform-provider-talos sends.
    assert_eq!(resets[0].mode, 0);
    assert!(resets[1].graceful);
    assert!(!resets[1].reboot);
    assert!(resets[1].system_partitions_to_wipe.is_empty());
    // Proxied to the node named.
    assert_eq!(
        *node.nodes_seen.lock().unwrap(),
        vec!["10.0.0.7".to_string(), "10.0.0.7".to_string()]
    );
    assert_eq!(
        ResetRequest::state_and_ephemeral(true, false).system_partitions_to_wipe,
        vec![
            ResetPartition {
                label: "STATE".into(),
                wipe: true
            },
            ResetPartition {
                label: "EPHEMERAL".into(),
                wipe: true
            }
        ]
    );

    // Credentials of another cluster: refused before anything is sent.
    let other = admin(&ca_other(), &rcgen::PKCS_ED25519);
    let e = c
        .reset(&t, &other, &ResetRequest::state_and_ephemeral(false, true))
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(node.resets.lock().unwrap().len(), 2);
}

fn ca_other() -> Ca {
    ca()
}

#[tokio::test]
async fn waiting_for_maintenance_and_for_power_off() {
    let ca = ca();
    let (cert, key) = server_cert(&ca);
    let c = client();

    // A maintenance node: the wait ends at once.
    let (maint, _) = serve(&cert, &key, None).await;
    let started = Instant::now();
    c.wait_for_maintenance(&target(maint), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));

    // A node that keeps its configuration (mTLS only): the wait times out
    // saying so, and hints at a graceful reset of the last etcd member.
    let (configured, _) = serve(&cert, &key, Some(&ca.pem)).await;
    let e = c
        .wait_for_maintenance(&target(configured), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "waiting for {configured} to come back in maintenance mode: gave up after"
        )),
        "{text}"
    );
    assert!(
        text.contains("the node still runs its configuration"),
        "{text}"
    );
    assert!(text.contains("graceful = false"), "{text}");

    // Power off: a port nothing listens on is down at once ...
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    c.wait_until_down(
        &Target::endpoint(format!("127.0.0.1:{port}")),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    // ... and a node that answers is not.
    let e = c
        .wait_until_down(&target(maint), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.to_string().contains("the node still answers"), "{e}");
}

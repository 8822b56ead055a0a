//! The Talos simulator, driven by our own tonic client over TLS: maintenance
//! mode, the install reboot, mTLS roles, apply modes per version, the
//! bootstrap order, the kubeconfig stream, COSI reads and the test hooks.

use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use labforge_simulators::talos::proto::cosi::resource::{GetRequest, state_client::StateClient};
use labforge_simulators::talos::proto::machine::{
    ApplyConfigurationRequest, ApplyConfigurationResponse, BootstrapRequest, ResetPartitionSpec,
    ResetRequest, apply_configuration_request::Mode, machine_service_client::MachineServiceClient,
    reset_request::WipeMode,
};
use labforge_simulators::talos::testing::TestCluster;
use labforge_simulators::talos::{NodeSpec, TalosSim, validate_config};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How the test client connects.
enum Auth<'a> {
    /// TLS without verification, no client certificate (`--insecure`).
    Insecure,
    /// Verify against the OS CA, present this client certificate.
    Mtls(&'a str, &'a (String, String)),
}

async fn connect(endpoint: &str, auth: Auth<'_>) -> Result<Channel, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = match auth {
        Auth::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert))
            .with_no_client_auth(),
        Auth::Mtls(ca, (cert, key)) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(c.map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            }
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| e.to_string())?;
            builder
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let config = Arc::new(config);
    let addr = endpoint.to_string();
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let (config, addr) = (config.clone(), addr.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            let name = ServerName::try_from("127.0.0.1").map_err(std::io::Error::other)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Endpoint::from_shared(format!("http://{endpoint}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(connector)
        .await
        .map_err(|e| e.to_string())
}

async fn machine(endpoint: &str, auth: Auth<'_>) -> MachineServiceClient<Channel> {
    MachineServiceClient::new(connect(endpoint, auth).await.unwrap())
}

fn apply_req(config: &str, mode: Mode) -> ApplyConfigurationRequest {
    ApplyConfigurationRequest {
        data: config.as_bytes().to_vec(),
        mode: mode as i32,
        dry_run: false,
        try_mode_timeout: None,
    }
}

async fn apply(
    c: &mut MachineServiceClient<Channel>,
    config: &str,
    mode: Mode,
) -> Result<ApplyConfigurationResponse, tonic::Status> {
    c.apply_configuration(apply_req(config, mode))
        .await
        .map(tonic::Response::into_inner)
}

async fn wait_up(sim: &TalosSim, name: &str) {
    let start = Instant::now();
    while !(sim.is_up(name) && sim.is_configured(name)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn fast(sim: &TalosSim) {
    sim.set_boot_delay(Duration::from_millis(300));
    sim.set_reboot_delay(Duration::from_millis(50));
    sim.set_bootstrap_delay(Duration::ZERO);
}

/// A node configured from maintenance mode; returns the sim and the admin cert.
async fn configured(version: &str) -> (TalosSim, TestCluster, (String, String), String) {
    let sim = TalosSim::start(vec![NodeSpec::new("cp1", version)]).unwrap();
    fast(&sim);
    let cl = TestCluster::new().unwrap();
    let ep = sim.endpoint("cp1").unwrap();
    let mut c = machine(&ep, Auth::Insecure).await;
    apply(&mut c, &cl.controlplane(version), Mode::Auto)
        .await
        .unwrap();
    wait_up(&sim, "cp1").await;
    let admin = cl.admin().unwrap();
    (sim, cl, admin, ep)
}

#[tokio::test]
async fn maintenance_apply_reboots_into_mtls() {
    let sim = TalosSim::start(vec![NodeSpec::new("cp1", "v1.14.0")]).unwrap();
    sim.set_boot_delay(Duration::from_millis(600));
    sim.set_reboot_delay(Duration::from_millis(50));
    let cl = TestCluster::new().unwrap();
    let ep = sim.endpoint("cp1").unwrap();
    assert!(ep.starts_with("127.0.0.1:"));

    let mut c = machine(&ep, Auth::Insecure).await;
    let v = c.version(()).await.unwrap().into_inner();
    assert_eq!(v.messages[0].version.as_ref().unwrap().tag, "v1.14.0");
    assert!(
        v.messages[0].features.is_none(),
        "maintenance: no features.rbac"
    );
    // Every caller is os:reader in maintenance mode.
    let e = c.bootstrap(BootstrapRequest::default()).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::PermissionDenied, "not authorized")
    );
    let e = c.kubeconfig(()).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut s = StateClient::new(connect(&ep, Auth::Insecure).await.unwrap());
    let e = s
        .get(GetRequest {
            namespace: "config".into(),
            r#type: "MachineConfigs.config.talos.dev".into(),
            id: "v1alpha1".into(),
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::PermissionDenied, "not authorized")
    );

    let config = cl.controlplane("v1.14.0");
    // Maintenance mode takes AUTO, REBOOT and TRY only (maintenance/server.go).
    for (mode, name) in [(Mode::NoReboot, "no-reboot"), (Mode::Staged, "staged")] {
        let e = apply(&mut c, &config, mode).await.unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (
                Code::Unimplemented,
                format!("apply configuration --mode='{name}' is not supported in maintenance mode")
                    .as_str()
            )
        );
    }
    let mut dry = apply_req(&config, Mode::Auto);
    dry.dry_run = true;
    let r = c.apply_configuration(dry).await.unwrap().into_inner();
    assert_eq!(
        r.messages[0].mode_details,
        "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."
    );
    assert_eq!(sim.apply_count("cp1"), 0);
    let r = apply(&mut c, &config, Mode::Auto).await.unwrap();
    assert_eq!(r.messages[0].mode, Mode::NoReboot as i32);
    assert_eq!(sim.apply_count("cp1"), 1);
    // Rebooting: the port answers nothing.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!sim.is_up("cp1"));
    assert!(connect(&ep, Auth::Insecure).await.is_err() || c.version(()).await.is_err());
    wait_up(&sim, "cp1").await;

    // Configured: no client certificate, no connection.
    let insecure = match connect(&ep, Auth::Insecure).await {
        Err(_) => true,
        Ok(ch) => MachineServiceClient::new(ch).version(()).await.is_err(),
    };
    assert!(insecure, "a configured node requires a client certificate");
    let admin = cl.admin().unwrap();
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    let v = a.version(()).await.unwrap().into_inner();
    assert_eq!(v.messages[0].features.as_ref().map(|f| f.rbac), Some(true));
    assert_eq!(sim.applied_config("cp1").as_deref(), Some(config.as_str()));
    assert!(
        sim.counters()
            .get("GRPC", "/machine.MachineService/Version")
            >= 2
    );
}

#[tokio::test]
async fn roles_and_certificates() {
    let (_sim, cl, _admin, ep) = configured("v1.14.0").await;
    let reader = cl
        .client_cert(&["os:reader"], time::Duration::days(1))
        .unwrap();
    let mut r = machine(&ep, Auth::Mtls(&cl.os_crt, &reader)).await;
    assert!(r.version(()).await.is_ok());
    let e = r.bootstrap(BootstrapRequest::default()).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::PermissionDenied, "not authorized")
    );
    let e = apply(&mut r, &cl.controlplane("v1.14.0"), Mode::Auto)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut s = StateClient::new(connect(&ep, Auth::Mtls(&cl.os_crt, &reader)).await.unwrap());
    let e = s
        .get(GetRequest {
            namespace: "config".into(),
            r#type: "MachineConfigs.config.talos.dev".into(),
            id: "v1alpha1".into(),
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // Expired, or from another CA: the TLS handshake fails.
    let expired = cl
        .client_cert(&["os:admin"], time::Duration::hours(-1))
        .unwrap();
    let failed = match connect(&ep, Auth::Mtls(&cl.os_crt, &expired)).await {
        Err(_) => true,
        Ok(ch) => MachineServiceClient::new(ch).version(()).await.is_err(),
    };
    assert!(failed, "an expired client certificate must be refused");
    let other = TestCluster::new().unwrap();
    let foreign = other.admin().unwrap();
    let failed = match connect(&ep, Auth::Mtls(&cl.os_crt, &foreign)).await {
        Err(_) => true,
        Ok(ch) => MachineServiceClient::new(ch).version(()).await.is_err(),
    };
    assert!(failed, "a client certificate of another CA must be refused");
}

#[tokio::test]
async fn config_rejections() {
    let sim = TalosSim::start(vec![NodeSpec::new("n", "v1.13.9")]).unwrap();
    fast(&sim);
    let cl = TestCluster::new().unwrap();
    let ep = sim.endpoint("n").unwrap();
    let mut c = machine(&ep, Auth::Insecure).await;
    let good = cl.controlplane("v1.13.9");
    let cases = [
        (
            good.replacen("machine:\n", "machine:\n    bogus: true\n", 1),
            "unknown keys found during decoding:\nmachine:\n    bogus: true",
        ),
        (
            good.replace(
                &format!(
                    "        key: {}\n",
                    &good.split("key: ").nth(1).unwrap().lines().next().unwrap()
                ),
                "",
            ),
            "issuing CA key is required for controlplane nodes (.machine.ca.key)",
        ),
        (
            good.replace("        disk: /dev/sda\n", ""),
            "either install disk or diskSelector should be defined",
        ),
        ("machine: [".to_string(), "failed to decode document"),
        // The v1.14 documents are unknown to v1.13.
        (
            cl.controlplane("v1.14.0"),
            "\"KubeClusterConfig\" \"v1alpha1\": not registered",
        ),
    ];
    for (config, text) in cases {
        let e = apply(&mut c, &config, Mode::Auto).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
        assert!(
            e.message().contains(text),
            "{:?} lacks {text:?}",
            e.message()
        );
        assert!(validate_config("v1.13.9", &config).is_err() || text.contains("install disk"));
    }
    assert_eq!(sim.apply_count("n"), 0);
    assert!(sim.applied_config("n").is_none());

    // Outside maintenance: the v1alpha1 document is required.
    apply(&mut c, &good, Mode::Auto).await.unwrap();
    wait_up(&sim, "n").await;
    let admin = cl.admin().unwrap();
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    let e = apply(
        &mut a,
        "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n",
        Mode::Auto,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("the applied machine configuration doesn't contain v1alpha1 config")
    );
}

#[tokio::test]
async fn v1_13_modes() {
    let (sim, cl, admin, ep) = configured("v1.13.9").await;
    sim.set_reboot_delay(Duration::from_millis(400));
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    let base = cl.controlplane("v1.13.9");
    let labels = base.replace(
        "exclude-from-external-load-balancers: \"\"",
        "exclude-from-external-load-balancers: \"\"\n        role: db",
    );
    let reboot_needed = base.replace(
        "    features:\n",
        "    features:\n        diskQuotaSupport: true\n",
    );
    assert_ne!(labels, base);
    assert_ne!(reboot_needed, base);

    // Dry run: a summary, nothing changes.
    let mut dry = apply_req(&labels, Mode::Auto);
    dry.dry_run = true;
    let r = a.apply_configuration(dry).await.unwrap().into_inner();
    assert!(
        r.messages[0]
            .mode_details
            .starts_with("Dry run summary:\nApplied configuration without a reboot")
    );
    assert!(r.messages[0].mode_details.contains("+        role: db"));
    assert_eq!(sim.apply_count("cp1"), 1);
    // Nothing differs: Talos's generateDiff says so.
    let mut same = apply_req(&base, Mode::Auto);
    same.dry_run = true;
    let r = a.apply_configuration(same).await.unwrap().into_inner();
    assert_eq!(
        r.messages[0].mode_details,
        "Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\n\nConfig diff:\n\nNo changes."
    );

    let r = apply(&mut a, &labels, Mode::Auto).await.unwrap();
    assert_eq!(r.messages[0].mode, Mode::NoReboot as i32);
    assert_eq!(
        r.messages[0].mode_details,
        "Applied configuration without a reboot"
    );
    assert_eq!(sim.applied_config("cp1").as_deref(), Some(labels.as_str()));

    for mode in [Mode::NoReboot, Mode::Try] {
        let e = apply(&mut a, &reboot_needed, mode).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(
            e.message()
                .starts_with("this config change can't be applied in immediate mode\ndiff:\n")
        );
    }
    let r = apply(&mut a, &reboot_needed, Mode::Auto).await.unwrap();
    assert_eq!(r.messages[0].mode, Mode::Reboot as i32);
    assert!(r.messages[0].mode_details.starts_with(
        "Applied configuration with a reboot: this config change can't be applied in immediate mode"
    ));
    assert_eq!(
        sim.persistent_config("cp1").as_deref(),
        Some(reboot_needed.as_str())
    );
    let e = apply(&mut a, &labels, Mode::Auto).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message()
            .starts_with("configuration was already applied and node is rebooting")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_up(&sim, "cp1").await;
    assert_eq!(
        sim.applied_config("cp1").as_deref(),
        Some(reboot_needed.as_str())
    );

    // STAGED: persistent only, running after the next reboot.
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    let r = apply(&mut a, &labels, Mode::Staged).await.unwrap();
    assert_eq!(
        r.messages[0].mode_details,
        "Staged configuration to be applied after the next reboot"
    );
    assert_eq!(
        sim.applied_config("cp1").as_deref(),
        Some(reboot_needed.as_str())
    );
    assert_eq!(
        sim.persistent_config("cp1").as_deref(),
        Some(labels.as_str())
    );
    sim.reboot("cp1");
    wait_up(&sim, "cp1").await;
    assert_eq!(sim.applied_config("cp1").as_deref(), Some(labels.as_str()));
}

#[tokio::test]
async fn v1_14_modes_try_and_concurrency() {
    let (sim, cl, admin, ep) = configured("v1.14.0").await;
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    let base = cl.controlplane("v1.14.0");
    let changed = base.replace("clusterName: lab", "clusterName: lab2");

    let e = apply(&mut a, &changed, Mode::Reboot).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Unimplemented,
            "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead"
        )
    );
    let r = apply(&mut a, &changed, Mode::Auto).await.unwrap();
    assert_eq!(r.messages[0].mode, Mode::NoReboot as i32);
    assert_eq!(sim.applied_config("cp1").as_deref(), Some(changed.as_str()));

    let mut t = apply_req(&base, Mode::Try);
    t.try_mode_timeout = Some(prost_types::Duration {
        seconds: 0,
        nanos: 300_000_000,
    });
    let r = a.apply_configuration(t).await.unwrap().into_inner();
    assert_eq!(
        r.messages[0].mode_details,
        "Applied configuration without a reboot\nThe config is applied in 'try' mode and will be automatically reverted back in 300ms"
    );
    assert_eq!(sim.applied_config("cp1").as_deref(), Some(base.as_str()));
    assert_eq!(
        sim.persistent_config("cp1").as_deref(),
        Some(changed.as_str())
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        sim.applied_config("cp1").as_deref(),
        Some(changed.as_str()),
        "TRY reverted"
    );

    sim.set_apply_delay(Duration::from_millis(400));
    let mut b = a.clone();
    let first = tokio::spawn({
        let base = base.clone();
        async move { apply(&mut b, &base, Mode::Auto).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = apply(&mut a, &base, Mode::Auto).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::FailedPrecondition,
            "another apply configuration is already in progress"
        )
    );
    assert!(first.await.unwrap().is_ok());
}

fn untar_kubeconfig(gz: &[u8]) -> String {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(&tar[0..11], b"kubeconfig\0");
    assert_eq!(&tar[100..107], b"0000600");
    let size = usize::from_str_radix(std::str::from_utf8(&tar[124..135]).unwrap(), 8).unwrap();
    assert_eq!(
        tar.len(),
        512 + size.div_ceil(512) * 512,
        "no end-of-archive blocks"
    );
    String::from_utf8(tar[512..512 + size].to_vec()).unwrap()
}

async fn kubeconfig(a: &mut MachineServiceClient<Channel>) -> Result<String, tonic::Status> {
    let mut stream = a.kubeconfig(()).await?.into_inner();
    let mut bytes = Vec::new();
    let mut messages = 0;
    while let Some(d) = stream.message().await? {
        messages += 1;
        bytes.extend(d.bytes);
    }
    assert_eq!(messages, 1);
    Ok(untar_kubeconfig(&bytes))
}

#[tokio::test]
async fn bootstrap_order_and_kubeconfig() {
    let sim = TalosSim::start(vec![
        NodeSpec::new("cp1", "v1.14.0"),
        NodeSpec::new("w1", "v1.14.0"),
    ])
    .unwrap();
    fast(&sim);
    let cl = TestCluster::new().unwrap();
    let (cp, w) = (sim.endpoint("cp1").unwrap(), sim.endpoint("w1").unwrap());
    // A worker whose CA key no control plane gave yet stays down after its install.
    apply(
        &mut machine(&w, Auth::Insecure).await,
        &cl.worker("v1.14.0"),
        Mode::Auto,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!sim.is_up("w1"));
    apply(
        &mut machine(&cp, Auth::Insecure).await,
        &cl.controlplane("v1.14.0"),
        Mode::Auto,
    )
    .await
    .unwrap();
    wait_up(&sim, "cp1").await;
    wait_up(&sim, "w1").await;

    let admin = cl.admin().unwrap();
    let mut a = machine(&cp, Auth::Mtls(&cl.os_crt, &admin)).await;
    let mut wa = machine(&w, Auth::Mtls(&cl.os_crt, &admin)).await;

    // etcd waits for the bootstrap (Preparing); workers run none.
    let etcd = |r: labforge_simulators::talos::proto::machine::ServiceListResponse| {
        r.messages[0]
            .services
            .iter()
            .find(|s| s.id == "etcd")
            .map(|s| (s.state.clone(), s.health.clone().unwrap_or_default()))
    };
    let (state, _) = etcd(a.service_list(()).await.unwrap().into_inner()).unwrap();
    assert_eq!(state, "Preparing");
    assert!(etcd(wa.service_list(()).await.unwrap().into_inner()).is_none());
    // Talos serves the kubeconfig from a configured control plane, before
    // the bootstrap too (v1alpha1_server.go Kubeconfig has no etcd check).
    let early = kubeconfig(&mut a).await.unwrap();
    assert!(early.contains("client-certificate-data"), "{early}");
    sim.bootstrap_not_ready_for("cp1", Duration::from_millis(300));
    let e = a.bootstrap(BootstrapRequest::default()).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::FailedPrecondition, "bootstrap is not available yet")
    );
    let e = wa.bootstrap(BootstrapRequest::default()).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Unimplemented,
            "bootstrap is only available on control plane nodes"
        )
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    sim.time_out_of_sync("cp1", true);
    let e = a.bootstrap(BootstrapRequest::default()).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::FailedPrecondition, "time is not in sync yet")
    );
    sim.time_out_of_sync("cp1", false);
    a.bootstrap(BootstrapRequest::default()).await.unwrap();
    assert!(sim.bootstrapped("cp1"));
    let e = a.bootstrap(BootstrapRequest::default()).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::AlreadyExists, "etcd data directory is not empty")
    );

    let (state, health) = etcd(a.service_list(()).await.unwrap().into_inner()).unwrap();
    assert_eq!((state.as_str(), health.healthy), ("Running", true));
    sim.etcd_unhealthy("cp1", true);
    let (_, health) = etcd(a.service_list(()).await.unwrap().into_inner()).unwrap();
    assert!(!health.healthy && !health.unknown);
    sim.etcd_unhealthy("cp1", false);
    let k = kubeconfig(&mut a).await.unwrap();
    assert!(k.contains("server: https://lab.example:6443"), "{k}");
    assert!(k.contains("current-context: admin@lab"), "{k}");
    let crt_b64 = k
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-certificate-data: "))
        .unwrap();
    let pem = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, crt_b64).unwrap(),
    )
    .unwrap();
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    let orgs: Vec<&str> = cert
        .subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .collect();
    assert_eq!(orgs, vec!["system:masters"]);
    let e = kubeconfig(&mut wa).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Unimplemented,
            "kubeconfig is only available on control plane nodes"
        )
    );

    sim.set_kubernetes("https://127.0.0.1:6443", &cl.k8s_crt, "CERT", "KEY");
    let k = kubeconfig(&mut a).await.unwrap();
    assert!(k.contains("server: https://127.0.0.1:6443"), "{k}");
}

#[tokio::test]
async fn cosi_reads_and_hooks() {
    let (sim, cl, admin, ep) = configured("v1.14.0").await;
    let mut s = StateClient::new(connect(&ep, Auth::Mtls(&cl.os_crt, &admin)).await.unwrap());
    let get = |id: &str, ty: &str, ns: &str| GetRequest {
        namespace: ns.into(),
        r#type: ty.into(),
        id: id.into(),
        options: None,
    };
    const MC: &str = "MachineConfigs.config.talos.dev";
    let r = s
        .get(get("v1alpha1", MC, "config"))
        .await
        .unwrap()
        .into_inner();
    let res = r.resource.unwrap();
    assert_eq!(res.metadata.unwrap().id, "v1alpha1");
    let config = cl.controlplane("v1.14.0");
    assert_eq!(res.spec.as_ref().unwrap().yaml_spec, config);
    assert!(s.get(get("persistent", MC, "config")).await.is_ok());
    let e = s
        .get(get("v1alpha1", "Foo.config.talos.dev", "config"))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "resource type \"Foo.config.talos.dev\" is not supported"
    );
    let e = s.get(get("v1alpha1", MC, "bogus")).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::PermissionDenied,
            "namespace \"bogus\" is not supported"
        )
    );
    // A real type in another of Talos's namespaces: not there.
    let e = s.get(get("v1alpha1", MC, "runtime")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // The machine type, modelled; a real Talos type that is not: marked.
    let r = s
        .get(get(
            "machine-type",
            "MachineTypes.config.talos.dev",
            "config",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.resource.unwrap().spec.unwrap().yaml_spec,
        "controlplane\n"
    );
    let r = s
        .get(get("kubelet", "Services.v1alpha1.talos.dev", "runtime"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.resource
            .unwrap()
            .spec
            .unwrap()
            .yaml_spec
            .starts_with("running: true\n")
    );
    let e = s
        .get(get("member", "EtcdMembers.etcd.talos.dev", "etcd"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    assert!(
        e.message().starts_with("not simulated: "),
        "{}",
        e.message()
    );
    let e = s.get(get("other", MC, "config")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Drift behind the provider's back.
    let drifted = config.replace("clusterName: lab", "clusterName: drift");
    sim.replace_config("cp1", &drifted);
    let r = s
        .get(get("v1alpha1", MC, "config"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.resource.unwrap().spec.unwrap().yaml_spec, drifted);

    // Injected failures, a lost answer.
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    sim.fail_next("cp1", "Version", Code::Unavailable, "injected");
    let e = a.version(()).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::Unavailable, "injected"));
    assert!(a.version(()).await.is_ok());
    let before = sim.apply_count("cp1");
    sim.drop_next_apply_answer("cp1");
    assert!(apply(&mut a, &config, Mode::Auto).await.is_err());
    assert_eq!(sim.apply_count("cp1"), before + 1);
    assert_eq!(sim.applied_config("cp1").as_deref(), Some(config.as_str()));

    // Wiped: maintenance mode again.
    sim.wipe("cp1");
    assert!(sim.applied_config("cp1").is_none());
    let mut m = machine(&ep, Auth::Insecure).await;
    let v = m.version(()).await.unwrap().into_inner();
    assert!(v.messages[0].features.is_none());
}

#[tokio::test]
async fn cosi_hostname_and_cluster_info_are_read_by_readers() {
    let (sim, cl, admin, ep) = configured("v1.14.0").await;
    let reader = cl
        .client_cert(&["os:reader"], time::Duration::days(1))
        .unwrap();
    let mut s = StateClient::new(connect(&ep, Auth::Mtls(&cl.os_crt, &reader)).await.unwrap());
    let get = |id: &str, ty: &str, ns: &str| GetRequest {
        namespace: ns.into(),
        r#type: ty.into(),
        id: id.into(),
        options: None,
    };
    const HS: &str = "HostnameStatuses.net.talos.dev";
    let spec =
        |r: tonic::Response<labforge_simulators::talos::proto::cosi::resource::GetResponse>| {
            let res = r.into_inner().resource.unwrap();
            serde_norway::from_str::<serde_json::Value>(&res.spec.unwrap().yaml_spec).unwrap()
        };
    // The sensitive configuration is refused to a reader...
    let e = s
        .get(get("v1alpha1", "MachineConfigs.config.talos.dev", "config"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // ...the hostname is not: `auto: stable` makes talos-xxx-yyy.
    let h = spec(s.get(get("hostname", HS, "network")).await.unwrap());
    let stable = h["hostname"].as_str().unwrap().to_string();
    assert!(
        stable.len() == 13 && stable.starts_with("talos-") && stable.as_bytes()[9] == b'-',
        "{stable}"
    );
    assert_eq!(h["domainname"], "");
    // Stable: the same after another apply (the identity is kept).
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    let config = cl.controlplane("v1.14.0");
    apply(&mut a, &format!("{config}# again\n"), Mode::Auto)
        .await
        .unwrap();
    let h = spec(s.get(get("hostname", HS, "network")).await.unwrap());
    assert_eq!(h["hostname"], stable.as_str());
    // A static hostname with a domain: split as ParseFQDN does.
    apply(
        &mut a,
        &config.replace("auto: stable", "hostname: cp-1.lab.example"),
        Mode::Auto,
    )
    .await
    .unwrap();
    let h = spec(s.get(get("hostname", HS, "network")).await.unwrap());
    assert_eq!(
        (&h["hostname"], &h["domainname"]),
        (&"cp-1".into(), &"lab.example".into())
    );
    // Only ID `hostname`, only in `network`.
    let e = s.get(get("other", HS, "network")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = s.get(get("hostname", HS, "config")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // The cluster's name, from KubeClusterConfig.
    let i = spec(
        s.get(get("current", "Infos.cluster.talos.dev", "cluster"))
            .await
            .unwrap(),
    );
    assert_eq!(i["clusterName"], "lab");
    let e = s
        .get(get("local", "Infos.cluster.talos.dev", "cluster"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    drop(sim);
}

#[tokio::test]
async fn node_metadata_proxies_to_another_node() {
    let sim = TalosSim::start(vec![
        NodeSpec::new("cp1", "v1.14.0"),
        NodeSpec::new("cp2", "v1.13.9"),
    ])
    .unwrap();
    fast(&sim);
    let cl = TestCluster::new().unwrap();
    for (n, v) in [("cp1", "v1.14.0"), ("cp2", "v1.13.9")] {
        let ep = sim.endpoint(n).unwrap();
        apply(
            &mut machine(&ep, Auth::Insecure).await,
            &cl.controlplane(v),
            Mode::Auto,
        )
        .await
        .unwrap();
    }
    wait_up(&sim, "cp1").await;
    wait_up(&sim, "cp2").await;
    let admin = cl.admin().unwrap();
    let mut a = machine(
        &sim.endpoint("cp1").unwrap(),
        Auth::Mtls(&cl.os_crt, &admin),
    )
    .await;
    let mut req = tonic::Request::new(());
    req.metadata_mut().insert("node", "cp2".parse().unwrap());
    let v = a.version(req).await.unwrap().into_inner();
    assert_eq!(v.messages[0].version.as_ref().unwrap().tag, "v1.13.9");
    assert_eq!(v.messages[0].metadata.as_ref().unwrap().hostname, "cp2");
    assert_eq!(
        sim.node_counters("cp2")
            .unwrap()
            .get("GRPC", "/machine.MachineService/Version"),
        1
    );
}

/// A call forwarded to a node in maintenance mode runs under that node's
/// rules (every caller `os:reader`), not the admin roles of the certificate
/// the forwarding node checked: its version has no `features`, and the
/// sensitive MachineConfig read is refused.
#[tokio::test]
async fn forwarded_to_a_maintenance_node_is_read_only() {
    let sim = TalosSim::start(vec![
        NodeSpec::new("cp1", "v1.14.0"),
        NodeSpec::new("cp2", "v1.14.0"),
    ])
    .unwrap();
    fast(&sim);
    let cl = TestCluster::new().unwrap();
    let ep = sim.endpoint("cp1").unwrap();
    apply(
        &mut machine(&ep, Auth::Insecure).await,
        &cl.controlplane("v1.14.0"),
        Mode::Auto,
    )
    .await
    .unwrap();
    wait_up(&sim, "cp1").await;
    let admin = cl.admin().unwrap();
    let forwarded = |mut r: tonic::Request<GetRequest>| {
        r.metadata_mut().insert("node", "cp2".parse().unwrap());
        r
    };
    let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
    let mut req = tonic::Request::new(());
    req.metadata_mut().insert("node", "cp2".parse().unwrap());
    let v = a.version(req).await.unwrap().into_inner();
    assert!(v.messages[0].features.is_none(), "cp2 is in maintenance");
    let mut s = StateClient::new(connect(&ep, Auth::Mtls(&cl.os_crt, &admin)).await.unwrap());
    let get = GetRequest {
        namespace: "config".into(),
        r#type: "MachineConfigs.config.talos.dev".into(),
        id: "v1alpha1".into(),
        options: None,
    };
    let e = s
        .get(forwarded(tonic::Request::new(get.clone())))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::PermissionDenied, "not authorized")
    );
    // The same admin reads cp1's own configuration.
    assert!(s.get(tonic::Request::new(get)).await.is_ok());
    // Bootstrap forwarded to the maintenance node: not authorized either.
    let mut req = tonic::Request::new(BootstrapRequest::default());
    req.metadata_mut().insert("node", "cp2".parse().unwrap());
    assert_eq!(
        a.bootstrap(req).await.unwrap_err().code(),
        Code::PermissionDenied
    );
}

fn reset_req(graceful: bool, reboot: bool, labels: &[&str]) -> ResetRequest {
    ResetRequest {
        graceful,
        reboot,
        system_partitions_to_wipe: labels
            .iter()
            .map(|l| ResetPartitionSpec {
                label: (*l).to_string(),
                wipe: true,
            })
            .collect(),
        user_disks_to_wipe: vec![],
        mode: WipeMode::All as i32,
    }
}

/// Whether an insecure Version answers without `features` (maintenance mode).
async fn in_maintenance(ep: &str) -> bool {
    let Ok(ch) = connect(ep, Auth::Insecure).await else {
        return false;
    };
    match MachineServiceClient::new(ch).version(()).await {
        Ok(v) => v.into_inner().messages[0].features.is_none(),
        Err(_) => false,
    }
}

async fn wait_maintenance(sim: &TalosSim, name: &str, ep: &str) {
    let start = Instant::now();
    while !(sim.is_up(name) && in_maintenance(ep).await) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} did not come back in maintenance mode"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn reset_wipes_the_node_back_to_maintenance() {
    for version in ["v1.13.9", "v1.14.0"] {
        let (sim, cl, admin, ep) = configured(version).await;
        let mut a = machine(&ep, Auth::Mtls(&cl.os_crt, &admin)).await;
        a.bootstrap(BootstrapRequest::default()).await.unwrap();
        assert_eq!(sim.etcd_members("cp1"), vec!["cp1".to_string()]);

        // os:admin only (an operator may reboot, not reset).
        let operator = cl
            .client_cert(&["os:operator"], time::Duration::days(1))
            .unwrap();
        let mut o = machine(&ep, Auth::Mtls(&cl.os_crt, &operator)).await;
        let e = o
            .reset(reset_req(false, true, &["STATE", "EPHEMERAL"]))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (Code::PermissionDenied, "not authorized")
        );
        // The handler's input checks (plain Go errors: Unknown).
        let mut bad = reset_req(false, true, &[]);
        bad.user_disks_to_wipe = vec!["/dev/sdb".into()];
        bad.mode = WipeMode::SystemDisk as i32;
        let e = a.reset(bad.clone()).await.unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (
                Code::Unknown,
                "reset failed: invalid input, wipe mode SYSTEM_DISK doesn't support UserDisksToWipe parameter"
            )
        );
        bad.mode = WipeMode::All as i32;
        let e = a.reset(bad).await.unwrap_err();
        assert_eq!(
            e.message(),
            "reset user disk failed: device /dev/sdb wasn't found"
        );
        let mut bad = reset_req(false, true, &["STATE"]);
        bad.mode = WipeMode::UserDisks as i32;
        let e = a.reset(bad).await.unwrap_err();
        assert_eq!(
            e.message(),
            "reset failed: invalid input, wipe mode USER_DISKS doesn't support SystemPartitionsToWipe parameter"
        );
        let e = a
            .reset(reset_req(false, true, &["DATA"]))
            .await
            .unwrap_err();
        assert_eq!(
            e.message(),
            "failed to get volume status with label \"DATA\": resource VolumeStatuses.block.talos.dev(runtime/DATA@undefined) doesn't exist"
        );
        assert!(sim.is_configured("cp1") && sim.is_up("cp1"));
        assert_eq!(sim.reset_count("cp1"), 0);

        // What siderolabs' provider sends on destroy: the answer comes first
        // (with the sequence's actor ID), then the node goes down ...
        let r = a
            .reset(reset_req(false, true, &["STATE", "EPHEMERAL"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].actor_id.len(), 36, "{:?}", r.messages[0]);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!sim.is_up("cp1"), "{version}: down while it reboots");
        assert!(a.version(()).await.is_err());
        // ... and comes back in maintenance mode: no config, not
        // bootstrapped, a self-signed certificate, no client certificate.
        wait_maintenance(&sim, "cp1", &ep).await;
        assert!(!sim.is_configured("cp1"));
        assert_eq!(sim.applied_config("cp1"), None);
        assert_eq!(sim.persistent_config("cp1"), None);
        assert!(!sim.bootstrapped("cp1"));
        assert_eq!(sim.reset_count("cp1"), 1);
        assert_eq!(sim.reset_error("cp1"), None);
        assert!(
            connect(&ep, Auth::Mtls(&cl.os_crt, &admin)).await.is_err()
                || machine(&ep, Auth::Mtls(&cl.os_crt, &admin))
                    .await
                    .version(())
                    .await
                    .is_err(),
            "the old cluster's CA no longer signs the node's certificate"
        );
        // Maintenance callers are os:reader: no reset without a config.
        let mut m = machine(&ep, Auth::Insecure).await;
        let e = m
            .reset(reset_req(false, true, &["STATE"]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);

        // A new cluster's secrets are accepted now.
        let next = TestCluster::new().unwrap();
        apply(&mut m, &next.controlplane(version), Mode::Auto)
            .await
            .unwrap();
        wait_up(&sim, "cp1").await;
        let admin2 = next.admin().unwrap();
        let mut a2 = machine(&ep, Auth::Mtls(&next.os_crt, &admin2)).await;
        a2.bootstrap(BootstrapRequest::default()).await.unwrap();
        assert_eq!(
            sim.counters().get("GRPC", "/machine.MachineService/Reset"),
            7,
            "{version}: every Reset call is counted"
        );
        assert_eq!(
            sim.node_counters("cp1")
                .unwrap()
                .get("GRPC", "/machine.MachineService/Reset"),
            7
        );
    }
}

#[tokio::test]
async fn graceful_reset_leaves_etcd_and_the_last_member_cannot() {
    let sim = TalosSim::start(vec![
        NodeSpec::new("cp1", "v1.14.0"),
        NodeSpec::new("cp2", "v1.14.0"),
    ])
    .unwrap();
    fast(&sim);
    let cl = TestCluster::new().unwrap();
    let (e1, e2) = (sim.endpoint("cp1").unwrap(), sim.endpoint("cp2").unwrap());
    for ep in [&e1, &e2] {
        apply(
            &mut machine(ep, Auth::Insecure).await,
            &cl.controlplane("v1.14.0"),
            Mode::Auto,
        )
        .await
        .unwrap();
    }
    wait_up(&sim, "cp1").await;
    wait_up(&sim, "cp2").await;
    let admin = cl.admin().unwrap();
    let mut a1 = machine(&e1, Auth::Mtls(&cl.os_crt, &admin)).await;
    let mut a2 = machine(&e2, Auth::Mtls(&cl.os_crt, &admin)).await;
    // Before Bootstrap there is no etcd to leave.
    assert!(sim.etcd_members("cp1").is_empty());
    a1.bootstrap(BootstrapRequest::default()).await.unwrap();
    assert_eq!(sim.etcd_members("cp1"), ["cp1", "cp2"]);

    // Graceful, without reboot: cp2 leaves etcd, is wiped and powers off.
    a2.reset(reset_req(true, false, &["STATE", "EPHEMERAL"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sim.is_powered_off("cp2"));
    assert_eq!(sim.reset_count("cp2"), 1);
    assert_eq!(sim.etcd_members("cp1"), ["cp1"]);
    // Powered off: nothing answers, even after the boot delay.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!sim.is_up("cp2"));
    assert!(!in_maintenance(&e2).await);
    assert!(
        tokio::time::timeout(Duration::from_secs(2), connect(&e2, Auth::Insecure))
            .await
            .map_or(true, |r| r.is_err())
    );
    sim.power_on("cp2");
    wait_maintenance(&sim, "cp2", &e2).await;
    assert!(!sim.is_powered_off("cp2"));

    // cp1 is the last member: the graceful reset answers, then its sequence
    // fails at "leave" and the node keeps running its configuration.
    a1.reset(reset_req(true, true, &["STATE", "EPHEMERAL"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = sim.reset_error("cp1").unwrap();
    assert!(
        err.contains("failed to leave cluster") && err.contains("not enough started members"),
        "{err}"
    );
    assert!(sim.is_up("cp1") && sim.is_configured("cp1") && sim.bootstrapped("cp1"));
    assert_eq!(sim.reset_count("cp1"), 0);
    assert!(a1.version(()).await.is_ok());

    // Not graceful, the whole system disk: back in maintenance mode.
    a1.reset(reset_req(false, true, &[])).await.unwrap();
    wait_maintenance(&sim, "cp1", &e1).await;
    assert_eq!(sim.reset_count("cp1"), 1);
    assert_eq!(sim.reset_error("cp1"), None);
    assert!(!sim.bootstrapped("cp1"));
}

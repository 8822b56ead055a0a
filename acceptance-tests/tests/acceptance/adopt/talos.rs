//! Adopting a hand-built talos (see the module above): two of homelab-sim's
//! Talos nodes configured as a person with talosctl does it
//! (`talosctl apply-config --insecure` to each node in maintenance mode,
//! then `talosctl bootstrap` with the admin certificate), over the Talos
//! API with the simulator's own protos and a minimal client written here;
//! the machine configurations are the simulator's `TestCluster` ones (not
//! labforge's generator). The other nodes stay in maintenance mode.
//!
//! Talos never gives its secrets out, so the adopted configuration needs
//! the client certificate and each node's configuration by hand (the
//! `hand_edits`): here from locals holding what the person applied
//! (`extra_hcl`), as `file("controlplane.yaml")` would.
//!
//! Discovery reads with an `os:reader` certificate and still names the
//! nodes after their hostnames and the bootstrap after the cluster. The
//! drift: someone patches w1's configuration by hand; the plan updates its
//! `homelab_talos_machine_configuration_apply`, the apply puts it back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, ensure};
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use labforge_acceptance_tests::hcl_string;
use labforge_simulators::talos::proto::cosi::resource::{GetRequest, state_client::StateClient};
use labforge_simulators::talos::proto::machine::{
    ApplyConfigurationRequest, BootstrapRequest, apply_configuration_request::Mode,
    machine_service_client::MachineServiceClient,
};
use labforge_simulators::talos::testing::TestCluster;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tonic::transport::{Channel, Endpoint};

use super::{Drift, Seeded};
use crate::support::lab_ci::HomelabSim;

/// talosctl's `--insecure`: the node's certificate is not checked (a node
/// in maintenance mode has a self-signed one).
#[derive(Debug)]
struct Unverified;

impl rustls::client::danger::ServerCertVerifier for Unverified {
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

/// A gRPC channel to `addr` (host:port): insecure (`None`), or with the
/// OS CA and a client certificate (`Some((ca, cert, key))`, PEM).
async fn channel(addr: &str, mtls: Option<(&str, &str, &str)>) -> Result<Channel> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let mut config = match mtls {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified))
            .with_no_client_auth(),
        Some((ca, cert, key)) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c?)?;
            }
            let chain =
                CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>()?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
            builder
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let config = Arc::new(config);
    let target = addr.to_string();
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string();
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let (config, target, host) = (config.clone(), target.clone(), host.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&target).await?;
            let name = ServerName::try_from(host).map_err(std::io::Error::other)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(connector)
        .await?)
}

/// The running configuration of the node at `addr` (`talosctl get
/// machineconfig v1alpha1 -o yaml`, with the admin certificate: it is
/// sensitive).
async fn running_config(addr: &str, mtls: (&str, &str, &str)) -> Result<String> {
    let mut s = StateClient::new(channel(addr, Some(mtls)).await?);
    let r = s
        .get(GetRequest {
            namespace: "config".into(),
            r#type: "MachineConfigs.config.talos.dev".into(),
            id: "v1alpha1".into(),
            options: None,
        })
        .await
        .with_context(|| format!("get machineconfig of {addr}"))?
        .into_inner();
    r.resource
        .and_then(|r| r.spec)
        .map(|s| s.yaml_spec)
        .ok_or_else(|| anyhow!("{addr}: the machineconfig resource has no spec"))
}

/// `talosctl apply-config --nodes <addr> --file <config>` (mode auto) on a
/// configured node, with the admin certificate.
async fn apply_config(addr: &str, mtls: (&str, &str, &str), config: &str) -> Result<()> {
    let mut m = MachineServiceClient::new(channel(addr, Some(mtls)).await?);
    m.apply_configuration(ApplyConfigurationRequest {
        data: config.as_bytes().to_vec(),
        mode: Mode::Auto.into(),
        dry_run: false,
        try_mode_timeout: None,
    })
    .await
    .with_context(|| format!("apply-config to {addr}"))?;
    Ok(())
}

/// The drift: someone adds a certificate SAN to w1 by hand (`talosctl
/// patch mc`, which sends the whole patched configuration with
/// apply-config); the adopted `homelab_talos_machine_configuration_apply`
/// must plan to put its configuration back.
fn drift(
    address: String,
    addr: String,
    (ca, crt, key): (String, String, String),
    configured: &str,
) -> Result<Drift> {
    const SAN: &str = "w1.drift.example";
    let drifted = configured.replace(
        "    certSANs: []\n",
        &format!("    certSANs:\n        - {SAN}\n"),
    );
    ensure!(
        drifted != configured,
        "the worker configuration has no `certSANs: []` to patch"
    );
    let (a1, a2) = (addr.clone(), addr);
    let (c1, c2) = ((ca.clone(), crt.clone(), key.clone()), (ca, crt, key));
    Ok(Drift::update(
        &address,
        &format!("talosctl patch mc on w1: certSANs += {SAN}"),
        move |_| {
            tokio::runtime::Runtime::new()?.block_on(apply_config(
                &a1,
                (&c1.0, &c1.1, &c1.2),
                &drifted,
            ))
        },
        move |_| {
            let running = tokio::runtime::Runtime::new()?
                .block_on(running_config(&a2, (&c2.0, &c2.1, &c2.2)))?;
            ensure!(
                !running.contains(SAN),
                "w1 runs a configuration with the certificate SAN {SAN} added by hand"
            );
            ensure!(
                running.contains("hostname: talos-w1"),
                "w1 runs a configuration that is not the adopted one:\n{running}"
            );
            Ok(())
        },
    ))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The nodes this lab configures: (homelab-sim node, hostname, control plane).
const CONFIGURED: &[(&str, &str, bool)] = &[("cp1", "talos-cp1", true), ("w1", "talos-w1", false)];

pub(super) fn seed(sim: &HomelabSim) -> Result<Seeded> {
    let nodes: BTreeMap<String, String> = sim
        .env("TALOS_NODES")?
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let addr = |n: &str| {
        nodes
            .get(n)
            .cloned()
            .ok_or_else(|| anyhow!("TALOS_NODES has no {n}"))
    };
    let cluster = TestCluster::new()?;
    let (crt, key) = cluster.admin()?;
    let configs: Vec<(String, String)> = CONFIGURED
        .iter()
        .map(|(node, host, cp)| {
            let c = if *cp {
                cluster
                    .controlplane("v1.14.0")
                    .replace("auto: stable", &format!("hostname: {host}"))
            } else {
                format!(
                    "{}---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: {host}\n",
                    cluster.worker("v1.14.0")
                )
            };
            Ok(((*node).to_string(), c))
        })
        .collect::<Result<_>>()?;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // talosctl apply-config --insecure --nodes <node> --file <config>
        for (node, config) in &configs {
            let a = addr(node)?;
            let mut m = MachineServiceClient::new(channel(&a, None).await?);
            m.apply_configuration(ApplyConfigurationRequest {
                data: config.clone().into_bytes(),
                mode: Mode::Auto.into(),
                dry_run: false,
                try_mode_timeout: None,
            })
            .await
            .with_context(|| format!("apply-config to {node}"))?;
        }
        // Wait until each node answers with mTLS as configured (installed
        // and rebooted), as `talosctl health` would.
        let mtls = Some((cluster.os_crt.as_str(), crt.as_str(), key.as_str()));
        for (node, _) in &configs {
            let a = addr(node)?;
            let start = Instant::now();
            loop {
                let ok = match channel(&a, mtls).await {
                    Ok(ch) => MachineServiceClient::new(ch)
                        .version(())
                        .await
                        .is_ok_and(|r| {
                            r.into_inner()
                                .messages
                                .first()
                                .is_some_and(|m| m.features.is_some())
                        }),
                    Err(_) => false,
                };
                if ok {
                    break;
                }
                ensure!(
                    start.elapsed() < Duration::from_secs(60),
                    "{node} did not come up configured"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // talosctl bootstrap --nodes cp1 (retried while not available yet).
        let a = addr("cp1")?;
        let start = Instant::now();
        loop {
            let mut m = MachineServiceClient::new(channel(&a, mtls).await?);
            match m.bootstrap(BootstrapRequest::default()).await {
                Ok(_) => break,
                Err(e) if start.elapsed() < Duration::from_secs(60) => {
                    eprintln!("[talos seed] bootstrap not yet: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(anyhow!("bootstrap of cp1: {e}")),
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;

    // The person's talosconfigs (talosctl gen config writes one like them):
    // the admin one, and one with a read-only (`os:reader`) certificate
    // (`talosctl config new --roles os:reader`) for discovery. The running
    // configurations are sensitive and stay unread by the latter, yet the
    // nodes are named after their hostnames and the bootstrap after the
    // cluster (COSI HostnameStatuses and Infos, which readers may read), as
    // with the admin one after the destroy.
    let (reader_crt, reader_key) = cluster.reader()?;
    // A folder per seed: the tests of one process run at once, each with its
    // own simulators, and must not read each other's talosconfig.
    static SEEDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "labforge-adopt-talos-{}-{}",
        std::process::id(),
        SEEDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    let all: Vec<String> = ["cp1", "cp2", "cp3", "w1", "w2"]
        .iter()
        .map(|n| addr(n))
        .collect::<Result<_>>()?;
    let list = |v: &[String]| {
        v.iter()
            .map(|n| format!("\n      - {n}"))
            .collect::<String>()
    };
    let write_talosconfig = |file: &str, crt: &str, key: &str| -> Result<std::path::PathBuf> {
        let path = dir.join(file);
        std::fs::write(
            &path,
            format!(
                "context: lab\ncontexts:\n  lab:\n    endpoints:{}\n    nodes:{}\n    ca: {}\n    crt: {}\n    key: {}\n",
                list(&all[..1]),
                list(&all),
                b64(&cluster.os_crt),
                b64(crt),
                b64(key)
            ),
        )?;
        Ok(path)
    };
    let talosconfig = write_talosconfig("talosconfig", &crt, &key)?;
    let reader_talosconfig = write_talosconfig("talosconfig-reader", &reader_crt, &reader_key)?;

    let apply = |host: &str| {
        format!(
            "homelab_talos_machine_configuration_apply.{}",
            host.replace('-', "_")
        )
    };
    let mut found: BTreeSet<String> = CONFIGURED.iter().map(|(_, h, _)| apply(h)).collect();
    found.insert("homelab_talos_machine_bootstrap.lab".into());

    let mut extra = format!(
        "locals {{\n  talos_client = {{\n    ca_certificate     = {}\n    client_certificate = {}\n    client_key         = {}\n  }}\n",
        hcl_string(&b64(&cluster.os_crt)),
        hcl_string(&b64(&crt)),
        hcl_string(&b64(&key))
    );
    let mut hand_edits = Vec::new();
    for ((_, host, _), (_, config)) in CONFIGURED.iter().zip(&configs) {
        let local = format!("talos_{}_config", host.replace('-', "_"));
        extra.push_str(&format!("  {local} = {}\n", hcl_string(config)));
        // Inserted at the top of the block, each above the last: aligned
        // as `terraform fmt` aligns the pair.
        hand_edits.push((
            apply(host),
            format!("machine_configuration_input = local.{local}"),
        ));
        hand_edits.push((
            apply(host),
            "client_configuration        = local.talos_client".to_string(),
        ));
    }
    extra.push_str("}\n");
    hand_edits.push((
        "homelab_talos_machine_bootstrap.lab".into(),
        "client_configuration = local.talos_client".into(),
    ));

    let mut skipped: Vec<String> = ["cp2", "cp3", "w2"]
        .iter()
        .map(|n| {
            Ok(format!(
                "Talos node {}: in maintenance mode: not configured yet, nothing to import",
                regex::escape(&addr(n)?)
            ))
        })
        .collect::<Result<_>>()?;
    skipped.push(
        "machine secrets of cluster lab: Talos does not give its secrets out.*--secrets".into(),
    );

    let w1_config = configs
        .iter()
        .find(|(n, _)| n == "w1")
        .map(|(_, c)| c.clone())
        .ok_or_else(|| anyhow!("no configuration for w1"))?;
    let drift = drift(
        apply("talos-w1"),
        addr("w1")?,
        (cluster.os_crt.clone(), crt.clone(), key.clone()),
        &w1_config,
    )?;

    Ok(Seeded {
        backend: "talos",
        found,
        skipped,
        args: Vec::new(),
        discover_env: BTreeMap::from([(
            "TALOSCONFIG".to_string(),
            reader_talosconfig.display().to_string(),
        )]),
        terraform_env: BTreeMap::from([(
            "TALOSCONFIG".to_string(),
            talosconfig.display().to_string(),
        )]),
        hand_edits,
        extra_hcl: extra,
        // Nothing goes: the destroy leaves the nodes configured (see
        // `destroy_and_check`), so the same nodes are in maintenance mode
        // and the secrets are still not given out.
        gone_with_destroy: Vec::new(),
        drift: Some(drift),
    })
}

#[test]
fn adopts_a_hand_built_talos() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = seed(&sim)?;
    let figures = super::adopt(&sim, &[seeded])?;
    eprintln!("{figures:#?}");
    Ok(())
}

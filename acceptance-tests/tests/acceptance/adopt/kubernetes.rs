//! Adopting a hand-built kubernetes (see the module above): MetalLB objects
//! made as `kubectl create -f` makes them (`POST
//! /apis/metallb.io/<version>/namespaces/metallb-system/<plural>` with
//! `fieldManager=kubectl-create` and the admin bearer token, over HTTPS
//! trusting the cluster CA as kubectl does), among them
//! one a Helm chart installed and one an operator owns, then adopted with
//! the read-only token.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::{Drift, Seeded};
use crate::support::lab_ci::HomelabSim;

/// `kubectl create` of one object (its `apiVersion` gives the path).
async fn create(http: &reqwest::Client, host: &str, token: &str, object: &Value) -> Result<()> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let plural = match object["kind"].as_str().unwrap_or_default() {
        "IPAddressPool" => "ipaddresspools",
        "L2Advertisement" => "l2advertisements",
        "BGPAdvertisement" => "bgpadvertisements",
        "BGPPeer" => "bgppeers",
        "Community" => "communities",
        other => anyhow::bail!("no plural known for kind {other}"),
    };
    let path = format!("/apis/{api_version}/namespaces/metallb-system/{plural}");
    let resp = http
        .post(format!("{}{path}", host.trim_end_matches('/')))
        .query(&[("fieldManager", "kubectl-create")])
        .bearer_auth(token)
        .json(object)
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let code = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    ensure!(code == 201, "POST {path}: HTTP {code}: {body}");
    Ok(())
}

fn object(api_version: &str, kind: &str, metadata: Value, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
}

/// The hand-built MetalLB setup: what `seed` makes.
fn lab() -> Vec<Value> {
    let v1 = "metallb.io/v1beta1";
    vec![
        object(
            v1,
            "IPAddressPool",
            json!({"name": "lan-pool", "labels": {"site": "home"}}),
            json!({"addresses": LAN_POOL_ADDRESSES}),
        ),
        object(
            v1,
            "IPAddressPool",
            json!({"name": "dmz-pool", "annotations": {"note": "public services"}}),
            json!({
                "addresses": ["192.168.60.0/27"],
                "autoAssign": false,
                "avoidBuggyIPs": true,
                "serviceAllocation": {
                    "priority": 10,
                    "namespaces": ["dmz"],
                    "serviceSelectors": [
                        {"matchLabels": {"exposure": "public"}},
                        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}
                    ]
                }
            }),
        ),
        // Installed by a Helm chart: left to Helm.
        object(
            v1,
            "IPAddressPool",
            json!({"name": "chart-pool",
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {"meta.helm.sh/release-name": "metallb-config",
                    "meta.helm.sh/release-namespace": "metallb-system"}}),
            json!({"addresses": ["10.0.70.0/28"]}),
        ),
        object(
            v1,
            "L2Advertisement",
            json!({"name": "lan-l2"}),
            json!({"ipAddressPools": ["lan-pool"], "interfaces": ["eth0"],
                "nodeSelectors": [{"matchLabels": {"kubernetes.io/hostname": "node1"}}]}),
        ),
        // Every pool, every node: an empty spec.
        object(v1, "L2Advertisement", json!({"name": "all-l2"}), json!({})),
        // Made by an operator (its ConfigMap owns it): left to it.
        object(
            v1,
            "L2Advertisement",
            json!({"name": "operator-l2", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                "name": "metallb-operator", "uid": "6c1f0000-0000-4000-8000-000000000001",
                "controller": true}]}),
            json!({"ipAddressPools": ["chart-pool"]}),
        ),
        object(
            v1,
            "Community",
            json!({"name": "aliases"}),
            json!({"communities": [
                {"name": "no-advertise", "value": "65535:65282"},
                {"name": "lab-large", "value": "large:64512:1:2"}
            ]}),
        ),
        object(
            "metallb.io/v1beta2",
            "BGPPeer",
            json!({"name": "router"}),
            json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1",
                "holdTime": "90s", "keepaliveTime": "30s", "password": "s3cret-md5",
                "ebgpMultiHop": true}),
        ),
        object(
            "metallb.io/v1beta2",
            "BGPPeer",
            json!({"name": "edge"}),
            json!({"myASN": 64512, "dynamicASN": "external", "peerAddress": "10.0.0.2",
                "peerPort": 1179, "passwordSecret": {"name": "edge-bgp", "namespace": "metallb-system"},
                "sourceAddress": "10.0.0.10", "routerID": "10.0.0.10",
                "nodeSelectors": [{"matchLabels": {"bgp": "yes"}}],
                "bfdProfile": "fast", "connectTime": "10s"}),
        ),
        object(
            v1,
            "BGPAdvertisement",
            json!({"name": "dmz-bgp"}),
            json!({"ipAddressPools": ["dmz-pool"], "aggregationLength": 28, "localPref": 100,
                "communities": ["no-advertise", "65000:100"], "peers": ["router"]}),
        ),
    ]
}

/// An HTTP client for homelab-sim's API server, as kubectl connects with
/// a kubeconfig's `certificate-authority-data`: HTTPS, trusting only the
/// cluster CA (`KUBE_CLUSTER_CA_CERT_DATA`, PEM), never the system's
/// roots, certificates checked (the server's names 127.0.0.1).
fn api_client(sim: &HomelabSim) -> Result<reqwest::Client> {
    let host = sim.env("KUBE_HOST")?;
    ensure!(
        host.starts_with("https://"),
        "homelab-sim's KUBE_HOST is not an https:// URL: {host}"
    );
    let ca = reqwest::Certificate::from_pem(sim.env("KUBE_CLUSTER_CA_CERT_DATA")?.as_bytes())
        .context("homelab-sim's KUBE_CLUSTER_CA_CERT_DATA is not a PEM certificate")?;
    Ok(reqwest::Client::builder().tls_certs_only([ca]).build()?)
}

/// lan-pool's path, under the API server's URL.
const LAN_POOL: &str = "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/lan-pool";

/// lan-pool's addresses as the seed made them (and the adopted
/// configuration holds them).
const LAN_POOL_ADDRESSES: [&str; 2] = ["10.0.50.0/28", "10.0.50.100-10.0.50.110"];

/// One request to the API server with the admin token; the answer's body.
async fn kube(
    sim: &HomelabSim,
    method: reqwest::Method,
    path: &str,
    patch: Option<&Value>,
) -> Result<Value> {
    let host = sim.env("KUBE_HOST")?.trim_end_matches('/').to_string();
    let http = api_client(sim)?;
    let mut req = http
        .request(method.clone(), format!("{host}{path}"))
        .bearer_auth(sim.env("KUBE_TOKEN")?);
    if let Some(patch) = patch {
        req = req
            .query(&[("fieldManager", "kubectl-edit")])
            .header("Content-Type", "application/merge-patch+json")
            .body(patch.to_string());
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("{method} {path}"))?;
    let code = resp.status();
    let body = resp.text().await.unwrap_or_default();
    ensure!(code.is_success(), "{method} {path}: HTTP {code}: {body}");
    serde_json::from_str(&body).with_context(|| format!("{method} {path}: {body}"))
}

/// The drift: someone widens lan-pool's second range with `kubectl edit`
/// (for a custom resource kubectl sends a JSON merge patch: `PATCH` with
/// `Content-Type: application/merge-patch+json` and
/// `fieldManager=kubectl-edit`). The plan must update the pool in place,
/// back to the seed's addresses.
///
/// `kubectl-edit` now owns `.spec.addresses` (an update owns what it
/// changes), so the provider's server-side apply of other addresses is a
/// field-manager conflict (HTTP 409) unless the resource sets
/// `force_conflicts = true` (the MetalLB guide, "Field managers"; the
/// error says so, checked in `metallb.rs`). The generated configuration
/// does not set it: the person adds it, as the error tells them.
fn drift() -> Drift {
    Drift::update(
        "homelab_metallb_ip_address_pool.lan_pool",
        "lan-pool's second range widened to .120 with kubectl edit",
        |sim| {
            let patch = json!({"spec": {"addresses": ["10.0.50.0/28", "10.0.50.100-10.0.50.120"]}});
            tokio::runtime::Runtime::new()?
                .block_on(kube(sim, reqwest::Method::PATCH, LAN_POOL, Some(&patch)))
                .map(|_| ())
        },
        |sim| {
            let pool = tokio::runtime::Runtime::new()?.block_on(kube(
                sim,
                reqwest::Method::GET,
                LAN_POOL,
                None,
            ))?;
            ensure!(
                pool["spec"]["addresses"] == json!(LAN_POOL_ADDRESSES),
                "lan-pool's addresses are {}, not {LAN_POOL_ADDRESSES:?}",
                pool["spec"]["addresses"]
            );
            Ok(())
        },
    )
    .with_config_line("force_conflicts = true")
}

/// Seed the MetalLB objects through the Kubernetes API with the admin token.
pub(super) fn seed(sim: &HomelabSim) -> Result<Seeded> {
    let host = sim.env("KUBE_HOST")?.to_string();
    let token = sim.env("KUBE_TOKEN")?.to_string();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let http = api_client(sim)?;
        for o in lab() {
            create(&http, &host, &token, &o).await?;
        }
        anyhow::Ok(())
    })?;
    let found = [
        "homelab_metallb_ip_address_pool.lan_pool",
        "homelab_metallb_ip_address_pool.dmz_pool",
        "homelab_metallb_l2_advertisement.lan_l2",
        "homelab_metallb_l2_advertisement.all_l2",
        "homelab_metallb_bgp_advertisement.dmz_bgp",
        "homelab_metallb_bgp_peer.router",
        "homelab_metallb_bgp_peer.edge",
        "homelab_metallb_community.aliases",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let skipped = [
        r"^IPAddressPool metallb-system/chart-pool: part of the Helm release metallb-config in namespace metallb-system \(label app\.kubernetes\.io/managed-by=Helm\)",
        r"^L2Advertisement metallb-system/operator-l2: owned by ConfigMap metallb-operator \(metadata\.ownerReferences\)",
        r"^Secret metallb-system/edge-bgp \(password of BGPPeer metallb-system/edge\): a Secret, which no resource of this provider manages",
        r"^password of BGPPeer metallb-system/router: sensitive, never read back.*set password_wo",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    Ok(Seeded {
        backend: "kubernetes",
        found,
        skipped,
        args: vec!["--namespace".into(), "metallb-system".into()],
        discover_env: BTreeMap::from([(
            "KUBE_TOKEN".to_string(),
            sim.env("KUBE_READONLY_TOKEN")?.to_string(),
        )]),
        terraform_env: BTreeMap::new(),
        hand_edits: Vec::new(),
        extra_hcl: String::new(),
        // Only the imported objects go. The BGP peers' password lines
        // speak of the peers, so they go with them (the Secret edge-bgp is
        // no MetalLB object: the destroy does not touch it, and discovery
        // names it only through a peer that refers to it); the Helm
        // release's pool and the operator's L2Advertisement stay.
        gone_with_destroy: [
            r"^Secret metallb-system/edge-bgp \(password of BGPPeer metallb-system/edge\): ",
            r"^password of BGPPeer metallb-system/router: ",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        drift: Some(drift()),
    })
}

#[test]
fn adopts_a_hand_built_kubernetes() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = seed(&sim)?;
    let figures = super::adopt(&sim, &[seeded])?;
    eprintln!("{figures:#?}");
    Ok(())
}

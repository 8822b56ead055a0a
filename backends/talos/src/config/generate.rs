//! Machine configuration generation, per version contract.
//!
//! Follows siderolabs/talos `pkg/machinery/config/generate/{init.go,
//! controlplane.go,worker.go,network.go,kubernetes.go,security_profile.go}`
//! and the contract gates of `pkg/machinery/config/contract.go`:
//!
//! - v1.13: the v1alpha1 document carries machine and cluster settings; the
//!   network moved to multi-document form (`MultidocNetworkConfigSupported`,
//!   1.12+): a `HostnameConfig` (`auto: stable`) document, no
//!   `machine.network`/`machine.registries`, no `features.stableHostname`.
//! - v1.14: Kubernetes settings, discovery and the install moved to their own
//!   documents (`MultidocKubernetesConfigSupported`,
//!   `DiscoveryIdentityMultidocConfig`, `DiscoveryServiceMultidocConfig`,
//!   `HostDNSMultidocConfig`, `WorkloadIsolationEnabledByDefault`: all
//!   `> 1.13`); the v1alpha1 document keeps the machine identity, the OS CA,
//!   the bootstrap token and etcd.
//!
//! Only fields of the official schema of each tag are written (the node
//! decodes strictly).

use serde_json::{Map, Value, json};

use super::{ConfigError, Contract, Input, MachineType};
use crate::secrets::encode_b64;

/// `constants.KubeletImage`.
const KUBELET_IMAGE: &str = "ghcr.io/siderolabs/kubelet";
/// `constants.KubernetesAPIServerImage`.
const APISERVER_IMAGE: &str = "registry.k8s.io/kube-apiserver";
/// `constants.KubernetesControllerManagerImage`.
const CONTROLLER_MANAGER_IMAGE: &str = "registry.k8s.io/kube-controller-manager";
/// `constants.KubernetesSchedulerImage`.
const SCHEDULER_IMAGE: &str = "registry.k8s.io/kube-scheduler";
/// `constants.KubeProxyImage`.
const PROXY_IMAGE: &str = "registry.k8s.io/kube-proxy";
/// The installer image (`images.DefaultInstallerImageRepository`).
const INSTALLER_IMAGE: &str = "ghcr.io/siderolabs/installer";
/// `constants.DefaultKubePrismPort`.
const KUBEPRISM_PORT: u16 = 7445;
/// `constants.DefaultDiscoveryServiceEndpoint`.
const DISCOVERY_ENDPOINT: &str = "https://discovery.talos.dev/";
/// `constants.DefaultDNSDomain`.
const DNS_DOMAIN: &str = "cluster.local";
/// `constants.LabelExcludeFromExternalLB`.
const LABEL_EXCLUDE_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// `constants.LabelNodeRoleControlPlane`.
const LABEL_CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";

/// The endpoint's host (for the API server certificate SANs), after checking
/// the endpoint is `https://host[:port][/]`.
pub(crate) fn endpoint_host(endpoint: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::InvalidInput {
        field: "cluster_endpoint",
        message: format!(
            "{endpoint:?} {why}; expected https://<host>:<port>, e.g. https://10.0.0.10:6443"
        ),
    };
    let rest = endpoint
        .strip_prefix("https://")
        .ok_or_else(|| bad("does not start with https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains(['@', ' ', '?', '#']) {
        return Err(bad("has no valid host"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed IPv6 bracket"))?;
        if !(after.is_empty() || after.starts_with(':')) {
            return Err(bad("has text after the IPv6 address"));
        }
        if let Some(port) = after.strip_prefix(':') {
            port.parse::<u16>()
                .map_err(|_| bad("has an invalid port"))?;
        }
        h.to_string()
    } else {
        let (h, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if let Some(p) = port {
            p.parse::<u16>().map_err(|_| bad("has an invalid port"))?;
        }
        h.to_string()
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    Ok(host)
}

/// Pod and service subnets: IPv6 when the endpoint host is an IPv6 address
/// (`NewInput`: `constants.DefaultIPv6PodNet` etc.).
fn subnets(host: &str) -> (&'static str, &'static str) {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        ("fc00:db8:10::/56", "fc00:db8:20::/112")
    } else {
        ("10.244.0.0/16", "10.96.0.0/12")
    }
}

fn image(repo: &str, k8s: &str) -> String {
    format!("{repo}:v{}", k8s.trim_start_matches('v'))
}

/// `k8s.DefaultPodSecurityAdmissionControlConfig().PluginConfig`.
fn pod_security_configuration() -> Value {
    json!({
        "apiVersion": "pod-security.admission.config.k8s.io/v1alpha1",
        "defaults": {
            "audit": "restricted",
            "audit-version": "latest",
            "enforce": "baseline",
            "enforce-version": "latest",
            "warn": "restricted",
            "warn-version": "latest"
        },
        "exemptions": {
            "namespaces": ["kube-system"],
            "runtimeClasses": [],
            "usernames": []
        },
        "kind": "PodSecurityConfiguration"
    })
}

/// `v1alpha1.APIServerDefaultAuditPolicy`.
fn audit_policy() -> Value {
    json!({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "rules": [{"level": "Metadata"}]
    })
}

fn doc(kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!("v1alpha1"));
    m.insert("kind".into(), json!(kind));
    m
}

fn with(mut m: Map<String, Value>, fields: Value) -> Value {
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    Value::Object(m)
}

/// Builds the documents of a machine configuration.
pub(crate) fn documents(input: &Input<'_>) -> Result<Vec<Value>, ConfigError> {
    if input.cluster_name.trim().is_empty() {
        return Err(ConfigError::InvalidInput {
            field: "cluster_name",
            message: "must not be empty".into(),
        });
    }
    let host = endpoint_host(input.cluster_endpoint)?;
    let k8s = input
        .kubernetes_version
        .unwrap_or(input.contract.default_kubernetes_version());
    check_version(k8s)?;
    match input.contract {
        Contract::V1_13 => Ok(v1_13(input, &host, k8s)),
        Contract::V1_14 => Ok(v1_14(input, &host, k8s)),
    }
}

fn check_version(v: &str) -> Result<(), ConfigError> {
    let t = v.strip_prefix('v').unwrap_or(v);
    let core = t.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidInput {
            field: "kubernetes_version",
            message: format!("{v:?} is not a Kubernetes version such as 1.36.1"),
        })
    }
}

fn installer_image(input: &Input<'_>) -> String {
    input
        .install_image
        .map(str::to_string)
        .unwrap_or_else(|| format!("{INSTALLER_IMAGE}:{}", input.contract.talos_version()))
}

fn os_ca(input: &Input<'_>, cp: bool) -> Value {
    let b = input.bundle;
    if cp {
        json!({"crt": encode_b64(&b.os.cert), "key": encode_b64(&b.os.key)})
    } else {
        json!({"crt": encode_b64(&b.os.cert)})
    }
}

fn hostname_config() -> Value {
    with(doc("HostnameConfig"), json!({"auto": "stable"}))
}

fn v1_13(input: &Input<'_>, host: &str, k8s: &str) -> Vec<Value> {
    let b = input.bundle;
    let cp = input.machine_type == MachineType::ControlPlane;
    let (pods, services) = subnets(host);

    let mut install = Map::new();
    if let Some(disk) = input.install_disk {
        install.insert("disk".into(), json!(disk));
    }
    install.insert("image".into(), json!(installer_image(input)));
    install.insert("wipe".into(), json!(false));

    let mut machine = Map::new();
    machine.insert("type".into(), json!(input.machine_type.as_str()));
    machine.insert("token".into(), json!(b.trustd_token));
    machine.insert("ca".into(), os_ca(input, cp));
    machine.insert("certSANs".into(), json!([]));
    machine.insert(
        "kubelet".into(),
        json!({
            "image": image(KUBELET_IMAGE, k8s),
            "defaultRuntimeSeccompProfileEnabled": true,
            "disableManifestsDirectory": true
        }),
    );
    machine.insert("install".into(), Value::Object(install));
    machine.insert(
        "features".into(),
        json!({
            "diskQuotaSupport": true,
            "kubePrism": {"enabled": true, "port": KUBEPRISM_PORT},
            "hostDNS": {"enabled": true, "forwardKubeDNSToHost": true}
        }),
    );
    if cp {
        machine.insert("nodeLabels".into(), json!({ LABEL_EXCLUDE_LB: "" }));
    }

    let mut cluster = Map::new();
    cluster.insert("id".into(), json!(b.cluster_id));
    cluster.insert("secret".into(), json!(b.cluster_secret));
    cluster.insert(
        "controlPlane".into(),
        json!({"endpoint": input.cluster_endpoint}),
    );
    cluster.insert("clusterName".into(), json!(input.cluster_name));
    cluster.insert(
        "network".into(),
        json!({"dnsDomain": DNS_DOMAIN, "podSubnets": [pods], "serviceSubnets": [services]}),
    );
    cluster.insert("token".into(), json!(b.bootstrap_token));
    if cp {
        cluster.insert(
            "secretboxEncryptionSecret".into(),
            json!(b.secretbox_encryption_secret),
        );
        cluster.insert(
            "ca".into(),
            json!({"crt": encode_b64(&b.k8s.cert), "key": encode_b64(&b.k8s.key)}),
        );
        cluster.insert(
            "aggregatorCA".into(),
            json!({"crt": encode_b64(&b.k8s_aggregator.cert), "key": encode_b64(&b.k8s_aggregator.key)}),
        );
        cluster.insert(
            "serviceAccount".into(),
            json!({"key": encode_b64(&b.k8s_serviceaccount_key)}),
        );
        cluster.insert(
            "apiServer".into(),
            json!({
                "image": image(APISERVER_IMAGE, k8s),
                "certSANs": [host],
                "admissionControl": [{"name": "PodSecurity", "configuration": pod_security_configuration()}],
                "auditPolicy": audit_policy()
            }),
        );
        cluster.insert(
            "controllerManager".into(),
            json!({"image": image(CONTROLLER_MANAGER_IMAGE, k8s)}),
        );
        cluster.insert("proxy".into(), json!({"image": image(PROXY_IMAGE, k8s)}));
        cluster.insert(
            "scheduler".into(),
            json!({"image": image(SCHEDULER_IMAGE, k8s)}),
        );
    } else {
        cluster.insert("ca".into(), json!({"crt": encode_b64(&b.k8s.cert)}));
    }
    cluster.insert(
        "discovery".into(),
        json!({"enabled": true, "registries": {"kubernetes": {"disabled": true}, "service": {}}}),
    );
    if cp {
        cluster.insert(
            "etcd".into(),
            json!({"ca": {"crt": encode_b64(&b.etcd.cert), "key": encode_b64(&b.etcd.key)}}),
        );
        cluster.insert("extraManifests".into(), json!([]));
        cluster.insert("inlineManifests".into(), json!([]));
    }

    let v1alpha1 = json!({
        "version": "v1alpha1",
        "debug": false,
        "machine": Value::Object(machine),
        "cluster": Value::Object(cluster),
    });
    vec![v1alpha1, hostname_config()]
}

fn v1_14(input: &Input<'_>, host: &str, k8s: &str) -> Vec<Value> {
    let b = input.bundle;
    let cp = input.machine_type == MachineType::ControlPlane;
    let (pods, services) = subnets(host);

    let mut cluster = Map::new();
    cluster.insert("token".into(), json!(b.bootstrap_token));
    if cp {
        cluster.insert(
            "etcd".into(),
            json!({"ca": {"crt": encode_b64(&b.etcd.cert), "key": encode_b64(&b.etcd.key)}}),
        );
    }
    let v1alpha1 = json!({
        "version": "v1alpha1",
        "debug": false,
        "machine": {
            "type": input.machine_type.as_str(),
            "token": b.trustd_token,
            "ca": os_ca(input, cp),
            "certSANs": [],
            "features": {"diskQuotaSupport": true}
        },
        "cluster": Value::Object(cluster),
    });

    let mut docs = vec![
        v1alpha1,
        hostname_config(),
        with(
            doc("DiscoveryServiceConfig"),
            json!({"name": "default", "endpoint": DISCOVERY_ENDPOINT}),
        ),
        with(
            doc("DiscoveryIdentityConfig"),
            json!({"clusterID": b.cluster_id, "clusterSecret": b.cluster_secret}),
        ),
    ];
    if let Some(disk) = input.install_disk {
        // `unattendedInstallConfig`: the install disk as a CEL disk selector.
        let selector = format!(
            "disk.dev_path == {}",
            serde_json::to_string(disk).unwrap_or_default()
        );
        docs.push(with(
            doc("UnattendedInstall"),
            json!({
                "installer": {"image": installer_image(input)},
                "provisioning": {"diskSelector": {"match": selector}, "wipe": false}
            }),
        ));
    }
    docs.push(with(
        doc("ResolverConfig"),
        json!({"hostDNS": {"enabled": true, "forwardKubeDNSToHost": true}}),
    ));
    docs.push(with(
        doc("SecurityProfileConfig"),
        json!({"workloadIsolation": true}),
    ));
    // generateKubernetesUniversalConfigs
    docs.push(with(
        doc("KubeNetworkConfig"),
        json!({"dnsDomain": DNS_DOMAIN, "podSubnets": [pods], "serviceSubnets": [services]}),
    ));
    docs.push(if cp {
        with(
            doc("KubeAPIServerCAConfig"),
            json!({"issuingCA": {"cert": b.k8s.cert, "key": b.k8s.key}}),
        )
    } else {
        with(
            doc("KubeAPIServerCAConfig"),
            json!({"acceptedCAs": [b.k8s.cert]}),
        )
    });
    docs.push(with(
        doc("KubeClusterConfig"),
        json!({"clusterName": input.cluster_name, "endpoint": input.cluster_endpoint}),
    ));
    docs.push(with(
        doc("KubeletConfig"),
        json!({"image": image(KUBELET_IMAGE, k8s), "defaultRuntimeSeccompProfileEnabled": true}),
    ));
    docs.push(with(
        doc("KubePrismConfig"),
        json!({"port": KUBEPRISM_PORT}),
    ));
    if cp {
        docs.push(with(
            doc("KubeNodeConfig"),
            json!({
                "labels": { LABEL_CONTROL_PLANE: "", LABEL_EXCLUDE_LB: "" },
                "taints": { LABEL_CONTROL_PLANE: ":NoSchedule" }
            }),
        ));
        // generateKubernetesControlplaneConfigs
        docs.push(with(
            doc("KubeAggregatorCAConfig"),
            json!({"issuingCA": {"cert": b.k8s_aggregator.cert, "key": b.k8s_aggregator.key}}),
        ));
        docs.push(with(
            doc("KubeAdmissionControlConfig"),
            json!({"name": "PodSecurity", "configuration": pod_security_configuration()}),
        ));
        docs.push(with(
            doc("KubeAuditPolicyConfig"),
            json!({"configuration": audit_policy()}),
        ));
        docs.push(with(
            doc("KubeEtcdEncryptionConfig"),
            json!({"config": {"resources": [{
                "providers": [{"secretbox": {"keys": [{"name": "key1", "secret": b.secretbox_encryption_secret}]}}],
                "resources": ["secrets"]
            }]}}),
        ));
        docs.push(with(
            doc("KubeServiceAccountConfig"),
            json!({"issuer": {"privateKey": b.k8s_serviceaccount_key, "issuerURL": input.cluster_endpoint}}),
        ));
        docs.push(with(
            doc("KubeAPIServerConfig"),
            json!({"image": image(APISERVER_IMAGE, k8s), "certExtraSANs": [host]}),
        ));
        docs.push(with(
            doc("KubeControllerManagerConfig"),
            json!({"image": image(CONTROLLER_MANAGER_IMAGE, k8s)}),
        ));
        docs.push(with(
            doc("KubeSchedulerConfig"),
            json!({"image": image(SCHEDULER_IMAGE, k8s)}),
        ));
        docs.push(with(
            doc("KubeProxyConfig"),
            json!({"image": image(PROXY_IMAGE, k8s)}),
        ));
        // constants.FlannelDefaultBackend / FlannelDefaultBackendPort
        docs.push(with(
            doc("KubeFlannelCNIConfig"),
            json!({"backendType": "vxlan", "backendPort": 4789}),
        ));
        docs.push(with(doc("KubeCoreDNSConfig"), json!({"enabled": true})));
    }
    docs
}

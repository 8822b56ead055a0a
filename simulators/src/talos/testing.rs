//! Test material for the Talos simulator: a cluster's CAs (OS CA Ed25519
//! with Organization `talos`, Kubernetes CA ECDSA P-256, as Talos's
//! `pkg/machinery/config/generate/secrets` makes them), Talos client
//! certificates with roles, and small machine configs that pass the
//! official schema of v1.13 and of v1.14 (hand-written, not Talos's
//! generator output: the simulator shares no code with the provider).

use base64::Engine as _;
use time::OffsetDateTime;

/// A cluster's CAs, and helpers to write its machine configs.
pub struct TestCluster {
    /// OS (Talos API) CA certificate, PEM.
    pub os_crt: String,
    /// OS CA key, PEM (PKCS#8 Ed25519).
    pub os_key: String,
    /// Kubernetes CA certificate, PEM.
    pub k8s_crt: String,
    /// Kubernetes CA key, PEM.
    pub k8s_key: String,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster").finish_non_exhaustive()
    }
}

fn ca(
    cn: &str,
    org: &str,
    alg: &'static rcgen::SignatureAlgorithm,
) -> Result<(String, String), rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(alg)?;
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, org);
    if !cn.is_empty() {
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    }
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::minutes(5);
    p.not_after = now + time::Duration::days(3650);
    let cert = p.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

impl TestCluster {
    /// New random CAs.
    pub fn new() -> Result<TestCluster, rcgen::Error> {
        let (os_crt, os_key) = ca("", "talos", &rcgen::PKCS_ED25519)?;
        let (k8s_crt, k8s_key) = ca("", "kubernetes", &rcgen::PKCS_ECDSA_P256_SHA256)?;
        Ok(TestCluster {
            os_crt,
            os_key,
            k8s_crt,
            k8s_key,
        })
    }

    /// A Talos client certificate (cert PEM, key PEM) signed by the OS CA,
    /// with `roles` as Organization (as `secrets/ca.go
    /// NewAdminCertificateAndKey` does), valid from now for `valid`
    /// (negative: already expired).
    pub fn client_cert(
        &self,
        roles: &[&str],
        valid: time::Duration,
    ) -> Result<(String, String), rcgen::Error> {
        let ca_key = rcgen::KeyPair::from_pem(&self.os_key)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&self.os_crt, ca_key)?;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
        for r in roles {
            p.distinguished_name
                .push(rcgen::DnType::OrganizationName, *r);
        }
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let now = OffsetDateTime::now_utc();
        if valid.is_negative() {
            p.not_before = now + valid - time::Duration::days(1);
            p.not_after = now + valid;
        } else {
            p.not_before = now - time::Duration::minutes(5);
            p.not_after = now + valid;
        }
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// An `os:admin` client certificate valid for a year.
    pub fn admin(&self) -> Result<(String, String), rcgen::Error> {
        self.client_cert(&["os:admin"], time::Duration::days(365))
    }

    /// An `os:reader` client certificate valid for a year (what
    /// `talosctl config new --roles os:reader` asks for).
    pub fn reader(&self) -> Result<(String, String), rcgen::Error> {
        self.client_cert(&["os:reader"], time::Duration::days(365))
    }

    fn render(&self, template: &str) -> String {
        template
            .replace("{OS_CRT}", &b64(&self.os_crt))
            .replace("{OS_KEY}", &b64(&self.os_key))
            .replace("{K8S_CRT}", &b64(&self.k8s_crt))
            .replace("{K8S_KEY}", &b64(&self.k8s_key))
            .replace("{K8S_CRT_PEM}", &indent(&self.k8s_crt))
            .replace("{K8S_KEY_PEM}", &indent(&self.k8s_key))
    }

    /// A control plane config for `version` (`v1.13.x` or `v1.14.x`; v1.14:
    /// the multi-document form).
    pub fn controlplane(&self, version: &str) -> String {
        self.render(if version.contains("1.13") {
            V113_CP
        } else {
            V114_CP
        })
    }

    /// A worker config for `version` (no OS CA key, no Kubernetes CA key).
    pub fn worker(&self, version: &str) -> String {
        self.render(if version.contains("1.13") {
            V113_WORKER
        } else {
            V114_WORKER
        })
    }
}

fn indent(pem: &str) -> String {
    pem.trim_end()
        .lines()
        .map(|l| format!("            {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders a template with placeholder certificates (schema tests only).
#[cfg(test)]
pub(crate) fn render(template: &str) -> String {
    let fake = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    template
        .replace("{OS_CRT}", &b64(fake))
        .replace("{OS_KEY}", &b64(fake))
        .replace("{K8S_CRT}", &b64(fake))
        .replace("{K8S_KEY}", &b64(fake))
        .replace("{K8S_CRT_PEM}", &indent(fake))
        .replace("{K8S_KEY_PEM}", &indent(fake))
}

/// v1.13 control plane (single v1alpha1 document plus a HostnameConfig).
pub(crate) const V113_CP: &str = "version: v1alpha1
debug: false
machine:
    type: controlplane
    token: abcdef.0123456789abcdef
    ca:
        crt: {OS_CRT}
        key: {OS_KEY}
    certSANs: []
    kubelet:
        image: ghcr.io/siderolabs/kubelet:v1.35.0
        defaultRuntimeSeccompProfileEnabled: true
    install:
        disk: /dev/sda
        image: ghcr.io/siderolabs/installer:v1.13.9
        wipe: false
    features:
        kubePrism:
            enabled: true
            port: 7445
    nodeLabels:
        node.kubernetes.io/exclude-from-external-load-balancers: \"\"
cluster:
    id: c2ltdWxhdG9yLWNsdXN0ZXItaWQtMDEyMzQ1Njc4OWFi
    secret: c2ltdWxhdG9yLWNsdXN0ZXItc2VjcmV0LTAxMjM0NTY3
    controlPlane:
        endpoint: https://lab.example:6443
    clusterName: lab
    network:
        dnsDomain: cluster.local
        podSubnets:
            - 10.244.0.0/16
        serviceSubnets:
            - 10.96.0.0/12
    token: ghijkl.0123456789abcdef
    secretboxEncryptionSecret: c2ltdWxhdG9yLXNlY3JldGJveC0wMTIzNDU2Nzg5YWI=
    ca:
        crt: {K8S_CRT}
        key: {K8S_KEY}
    etcd:
        ca:
            crt: {K8S_CRT}
            key: {K8S_KEY}
---
apiVersion: v1alpha1
kind: HostnameConfig
auto: stable
";

/// v1.13 worker.
pub(crate) const V113_WORKER: &str = "version: v1alpha1
debug: false
machine:
    type: worker
    token: abcdef.0123456789abcdef
    ca:
        crt: {OS_CRT}
        key: \"\"
    certSANs: []
    kubelet:
        image: ghcr.io/siderolabs/kubelet:v1.35.0
    install:
        disk: /dev/sda
        image: ghcr.io/siderolabs/installer:v1.13.9
        wipe: false
cluster:
    id: c2ltdWxhdG9yLWNsdXN0ZXItaWQtMDEyMzQ1Njc4OWFi
    secret: c2ltdWxhdG9yLWNsdXN0ZXItc2VjcmV0LTAxMjM0NTY3
    controlPlane:
        endpoint: https://lab.example:6443
    clusterName: lab
    network:
        dnsDomain: cluster.local
        podSubnets:
            - 10.244.0.0/16
        serviceSubnets:
            - 10.96.0.0/12
    token: ghijkl.0123456789abcdef
    ca:
        crt: {K8S_CRT}
        key: \"\"
";

/// v1.14 control plane: the v1alpha1 document keeps the machine's identity
/// and the OS CA; Kubernetes, install and hostname are their own documents.
pub(crate) const V114_CP: &str = "version: v1alpha1
debug: false
machine:
    type: controlplane
    token: abcdef.0123456789abcdef
    ca:
        crt: {OS_CRT}
        key: {OS_KEY}
    certSANs: []
cluster:
    token: ghijkl.0123456789abcdef
    etcd:
        ca:
            crt: {K8S_CRT}
            key: {K8S_KEY}
---
apiVersion: v1alpha1
kind: KubeClusterConfig
clusterName: lab
endpoint: https://lab.example:6443
---
apiVersion: v1alpha1
kind: KubeAPIServerCAConfig
issuingCA:
    cert: |
{K8S_CRT_PEM}
    key: |
{K8S_KEY_PEM}
---
apiVersion: v1alpha1
kind: UnattendedInstall
installer:
    image: ghcr.io/siderolabs/installer:v1.14.0
provisioning:
    diskSelector:
        match: disk.dev_path == \"/dev/sda\"
---
apiVersion: v1alpha1
kind: HostnameConfig
auto: stable
";

/// v1.14 worker.
pub(crate) const V114_WORKER: &str = "version: v1alpha1
debug: false
machine:
    type: worker
    token: abcdef.0123456789abcdef
    ca:
        crt: {OS_CRT}
        key: \"\"
    certSANs: []
cluster:
    token: ghijkl.0123456789abcdef
---
apiVersion: v1alpha1
kind: KubeClusterConfig
clusterName: lab
endpoint: https://lab.example:6443
---
apiVersion: v1alpha1
kind: KubeAPIServerCAConfig
issuingCA:
    cert: |
{K8S_CRT_PEM}
---
apiVersion: v1alpha1
kind: UnattendedInstall
installer:
    image: ghcr.io/siderolabs/installer:v1.14.0
provisioning:
    diskSelector:
        match: disk.dev_path == \"/dev/sda\"
";

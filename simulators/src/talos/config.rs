//! Machine configs as a Talos node reads them: strict multi-document
//! decoding (siderolabs/talos `pkg/machinery/config/configloader/
//! configloader.go`, `internal/decoder/decoder.go`), the validation checks
//! of `pkg/machinery/config/types/v1alpha1/v1alpha1_validation.go` the
//! simulator models, what a v1.13 node can apply without a reboot
//! (`internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_runtime.go`
//! `CanApplyImmediate`), and the fields the node itself uses (machine type,
//! OS CA, Kubernetes CA, cluster endpoint and name).

use base64::Engine as _;
use serde_json::Value;

/// One decoded document of a machine config.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) value: Value,
    /// `apiVersion` (empty for the legacy v1alpha1 document, which has `version`).
    pub(crate) api_version: String,
    /// `kind` (`v1alpha1` for the legacy document).
    pub(crate) kind: String,
    /// `name`, for named documents.
    pub(crate) name: String,
    /// 1-based line where the document starts.
    pub(crate) line: usize,
}

impl Document {
    pub(crate) fn is_v1alpha1(&self) -> bool {
        self.api_version.is_empty() && self.kind == "v1alpha1"
    }

    /// `error decoding document <apiVersion>/<kind>/<name> (line N)`, as
    /// Talos's decoder prefixes its errors. For the legacy document (no
    /// `apiVersion`) the simulator writes an empty apiVersion and kind
    /// `v1alpha1`.
    pub(crate) fn header(&self) -> String {
        format!(
            "error decoding document {}/{}/{} (line {})",
            self.api_version, self.kind, self.name, self.line
        )
    }
}

/// Whether a line separates YAML documents.
fn is_separator(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

/// Splits and decodes a multi-document config. Empty documents are skipped;
/// duplicate keys, non-mapping documents, documents without `kind` (and
/// without the legacy `version`) and duplicate documents are errors.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Document>, String> {
    let mut chunks: Vec<(usize, String)> = vec![(1, String::new())];
    for (i, line) in text.lines().enumerate() {
        if is_separator(line) {
            chunks.push((i + 2, String::new()));
        } else if let Some((_, c)) = chunks.last_mut() {
            c.push_str(line);
            c.push('\n');
        }
    }
    let mut docs: Vec<Document> = Vec::new();
    for (line, chunk) in chunks {
        let meaningful = chunk
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !meaningful {
            continue;
        }
        let yaml: serde_norway::Value = serde_norway::from_str(&chunk)
            .map_err(|e| format!("failed to decode document (line {line}): {e}"))?;
        let value = serde_json::to_value(&yaml)
            .map_err(|e| format!("failed to decode document (line {line}): {e}"))?;
        let Value::Object(map) = &value else {
            return Err(format!(
                "failed to decode document (line {line}): a document must be a mapping"
            ));
        };
        let text_of = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (api_version, kind) = if map.contains_key("kind") {
            (text_of("apiVersion"), text_of("kind"))
        } else if map.contains_key("version") {
            (String::new(), "v1alpha1".to_string())
        } else {
            // configloader: ErrMissingKind.
            return Err(format!("missing kind (line {line})"));
        };
        let name = text_of("name");
        if docs
            .iter()
            .any(|d| d.api_version == api_version && d.kind == kind && d.name == name)
        {
            return Err(format!(
                "duplicate document: {kind}/{name} is not allowed (line {line})"
            ));
        }
        docs.push(Document {
            value,
            api_version,
            kind,
            name,
            line,
        });
    }
    if docs.is_empty() {
        return Err("config not found".into());
    }
    Ok(docs)
}

/// A node's machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineType {
    /// `controlplane` (or the legacy `init`).
    ControlPlane,
    /// `worker`.
    Worker,
}

fn v1alpha1(docs: &[Document]) -> Option<&Value> {
    docs.iter().find(|d| d.is_v1alpha1()).map(|d| &d.value)
}

fn doc<'a>(docs: &'a [Document], kind: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d.kind == kind && !d.is_v1alpha1())
        .map(|d| &d.value)
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// PEM from a config value: Talos's v1alpha1 `crt`/`key` fields are base64
/// of the PEM bytes; the newer documents hold PEM text. Both are accepted.
pub(crate) fn pem_of(s: &str) -> Option<String> {
    let t = s.trim();
    if t.starts_with("-----BEGIN") {
        return Some(t.to_string() + "\n");
    }
    let compact: String = t.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    let pem = String::from_utf8(bytes).ok()?;
    pem.trim_start().starts_with("-----BEGIN").then_some(pem)
}

/// The machine type of the v1alpha1 document.
pub(crate) fn machine_type(docs: &[Document]) -> Option<MachineType> {
    match v1alpha1(docs)?.pointer("/machine/type")?.as_str()? {
        "controlplane" | "init" => Some(MachineType::ControlPlane),
        "worker" => Some(MachineType::Worker),
        _ => None,
    }
}

/// The OS (Talos API) CA: certificate PEM and, on control planes, key PEM.
pub(crate) fn os_ca(docs: &[Document]) -> Option<(String, Option<String>)> {
    let ca = v1alpha1(docs)?.pointer("/machine/ca")?;
    let crt = pem_of(ca.get("crt")?.as_str()?)?;
    let key = ca.get("key").and_then(Value::as_str).and_then(pem_of);
    Some((crt, key))
}

/// The Kubernetes CA: v1.13 `cluster.ca`, v1.14 `KubeAPIServerCAConfig.issuingCA`.
pub(crate) fn kubernetes_ca(docs: &[Document]) -> Option<(String, Option<String>)> {
    if let Some(ca) = v1alpha1(docs).and_then(|c| c.pointer("/cluster/ca")) {
        let crt = ca.get("crt").and_then(Value::as_str).and_then(pem_of);
        if let Some(crt) = crt {
            let key = ca.get("key").and_then(Value::as_str).and_then(pem_of);
            return Some((crt, key));
        }
    }
    let ca = doc(docs, "KubeAPIServerCAConfig")?.get("issuingCA")?;
    let crt = pem_of(ca.get("cert")?.as_str()?)?;
    let key = ca.get("key").and_then(Value::as_str).and_then(pem_of);
    Some((crt, key))
}

/// The cluster endpoint: v1.13 `cluster.controlPlane.endpoint`, v1.14 `KubeClusterConfig.endpoint`.
pub(crate) fn cluster_endpoint(docs: &[Document]) -> Option<String> {
    text(v1alpha1(docs).and_then(|c| c.pointer("/cluster/controlPlane/endpoint")))
        .or_else(|| text(doc(docs, "KubeClusterConfig").and_then(|d| d.get("endpoint"))))
}

/// The cluster name: v1.13 `cluster.clusterName`, v1.14 `KubeClusterConfig.clusterName`.
pub(crate) fn cluster_name(docs: &[Document]) -> Option<String> {
    text(v1alpha1(docs).and_then(|c| c.pointer("/cluster/clusterName")))
        .or_else(|| text(doc(docs, "KubeClusterConfig").and_then(|d| d.get("clusterName"))))
}

/// Where a node's hostname comes from (siderolabs/talos
/// `internal/app/machined/pkg/controllers/network/hostname_config.go`
/// `HostnameConfigController`: a static hostname from the configuration
/// wins over the default layer; the default is the stable one derived from
/// the node identity when enabled, else `talos-` and the node's address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostnameSource {
    /// `HostnameConfig.hostname` or v1alpha1 `machine.network.hostname`.
    Static(String),
    /// `HostnameConfig` `auto: stable` or v1alpha1
    /// `machine.features.stableHostname: true` (`getStableDefault`).
    Stable,
    /// Neither: `getDefault`, from the node's address.
    Address,
    /// `HostnameConfig` `auto: off` without a hostname: none at all.
    Off,
}

/// The hostname source of a configuration (see [`HostnameSource`]).
pub(crate) fn hostname_source(docs: &[Document]) -> HostnameSource {
    let hc = doc(docs, "HostnameConfig");
    let legacy = v1alpha1(docs);
    if let Some(h) = text(hc.and_then(|d| d.get("hostname")))
        .or_else(|| text(legacy.and_then(|c| c.pointer("/machine/network/hostname"))))
    {
        return HostnameSource::Static(h);
    }
    match hc.and_then(|d| d.get("auto")).and_then(Value::as_str) {
        Some("stable") => return HostnameSource::Stable,
        Some("off") => return HostnameSource::Off,
        _ => {}
    }
    let stable = legacy
        .and_then(|c| c.pointer("/machine/features/stableHostname"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if stable {
        HostnameSource::Stable
    } else {
        HostnameSource::Address
    }
}

/// The stable default hostname of a node identity: `talos-` and two groups
/// of three base36 digits of the first 8 bytes of the SHA-256 of the node
/// ID, lower case (`getStableDefault`: `base36.EncodeBytes(hash[:8])`,
/// then `b36[1:4]`, `b36[4:7]`).
pub(crate) fn stable_hostname(node_id: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, node_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_ref()[..8]);
    let mut n = u64::from_be_bytes(first);
    let mut digits = Vec::new();
    while n > 0 {
        let d = (n % 36) as u8;
        digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        n /= 36;
    }
    digits.reverse();
    let b36 = String::from_utf8(digits).unwrap_or_default();
    let part = |r: std::ops::Range<usize>| b36.get(r).unwrap_or("000").to_string();
    format!("talos-{}-{}", part(1..4), part(4..7))
}

/// The address default hostname (`getDefault`): `talos-` and the address
/// with `.` as `-` and `:` dropped.
pub(crate) fn address_hostname(ip: &std::net::IpAddr) -> String {
    format!(
        "talos-{}",
        ip.to_string().replace(':', "").replace('.', "-")
    )
}

/// Splits a hostname into host and domain at the first dot, as
/// `HostnameSpecSpec.ParseFQDN` does.
pub(crate) fn split_fqdn(fqdn: &str) -> (String, String) {
    match fqdn.split_once('.') {
        Some((h, d)) => (h.to_string(), d.to_string()),
        None => (fqdn.to_string(), String::new()),
    }
}

/// The cluster ID: v1alpha1 `cluster.id` (empty when unset).
pub(crate) fn cluster_id(docs: &[Document]) -> String {
    text(v1alpha1(docs).and_then(|c| c.pointer("/cluster/id"))).unwrap_or_default()
}

/// `cluster.adminKubeconfig.certLifetime` (a Go duration), default one year.
pub(crate) fn admin_cert_lifetime(docs: &[Document]) -> std::time::Duration {
    const YEAR: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);
    text(v1alpha1(docs).and_then(|c| c.pointer("/cluster/adminKubeconfig/certLifetime")))
        .and_then(|s| go_duration(&s))
        .unwrap_or(YEAR)
}

/// Parses Go durations of hours, minutes and seconds (`8760h`, `1h30m`, `90s`).
pub(crate) fn go_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += n * unit;
    }
    if !num.is_empty() {
        return None;
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Talos's validation checks that hold for every apply
/// (`v1alpha1_validation.go`): the cluster endpoint, the issuing OS CA key
/// on control planes, trusted CAs on workers.
pub(crate) fn semantic_errors(docs: &[Document]) -> Vec<String> {
    let Some(cfg) = v1alpha1(docs) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if cluster_endpoint(docs).is_none() {
        out.push("cluster controlplane endpoint is required".to_string());
    }
    let ca = cfg.pointer("/machine/ca");
    let has = |k: &str| {
        ca.and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    match machine_type(docs) {
        Some(MachineType::ControlPlane) if !has("key") => {
            out.push("issuing CA key is required for controlplane nodes (.machine.ca.key)".into());
        }
        Some(MachineType::Worker) => {
            let accepted = cfg
                .pointer("/machine/acceptedCAs")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if !has("crt") && !accepted {
                out.push(
                    "trusted CA certificates are required on non-controlplane nodes (.machine.ca.crt, .machine.acceptedCAs)"
                        .into(),
                );
            }
        }
        _ => {}
    }
    out
}

/// The checks of an installing apply (from maintenance mode): install
/// instructions with a disk (`machine.install.disk`/`diskSelector`, or a
/// v1.14 `UnattendedInstall` document with a disk selector).
pub(crate) fn install_errors(docs: &[Document]) -> Vec<String> {
    let install = v1alpha1(docs).and_then(|c| c.pointer("/machine/install"));
    let unattended = doc(docs, "UnattendedInstall");
    let disk = match (install, unattended) {
        (None, None) => return vec![r#"install instructions are required in "metal" mode"#.into()],
        (Some(i), _) if text(i.get("disk")).is_some() || i.get("diskSelector").is_some() => true,
        (_, Some(u)) => text(u.pointer("/provisioning/diskSelector/match")).is_some(),
        _ => false,
    };
    if disk {
        Vec::new()
    } else {
        vec!["either install disk or diskSelector should be defined".into()]
    }
}

/// Talos's multierror text (`hashicorp/go-multierror`), wrapped as the
/// v1alpha1 validation wraps it.
pub(crate) fn multierror(errors: &[String]) -> String {
    let mut s = format!(
        "v1alpha1.Config: {} error{} occurred:\n",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        s.push_str(&format!("\t* {e}\n"));
    }
    s.push('\n');
    s
}

/// `machine` keys a v1.13 node applies live (`CanApplyImmediate`).
const LIVE_MACHINE_KEYS: &[&str] = &[
    "ca",
    "acceptedCAs",
    "time",
    "certSANs",
    "install",
    "network",
    "sysfs",
    "sysctls",
    "logging",
    "controlPlane",
    "kubelet",
    "kernel",
    "registries",
    "pods",
    "seccompProfiles",
    "nodeAnnotations",
    "nodeLabels",
    "nodeTaints",
];

/// `machine.features` keys a v1.13 node applies live.
const LIVE_FEATURE_KEYS: &[&str] = &[
    "kubernetesTalosAPIAccess",
    "kubePrism",
    "hostDNS",
    "imageCache",
    "nodeAddressSortAlgorithm",
];

/// Whether a v1.13 node can apply `new` over `old` without a reboot: only
/// the v1alpha1 document is compared; other documents always apply live.
pub(crate) fn can_apply_immediate(old: &[Document], new: &[Document]) -> bool {
    let null = Value::Null;
    let o = v1alpha1(old).unwrap_or(&null);
    let n = v1alpha1(new).unwrap_or(&null);
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let field = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    let mut top = keys(o);
    top.extend(keys(n));
    for k in top {
        if matches!(k.as_str(), "version" | "debug" | "cluster" | "machine") {
            continue;
        }
        if field(o, &format!("/{k}")) != field(n, &format!("/{k}")) {
            return false;
        }
    }
    let (om, nm) = (field(o, "/machine"), field(n, "/machine"));
    let mut mk = keys(&om);
    mk.extend(keys(&nm));
    for k in mk {
        if LIVE_MACHINE_KEYS.contains(&k.as_str()) {
            continue;
        }
        if k == "features" {
            let (of, nf) = (field(&om, "/features"), field(&nm, "/features"));
            let mut fk = keys(&of);
            fk.extend(keys(&nf));
            if fk.iter().any(|f| {
                !LIVE_FEATURE_KEYS.contains(&f.as_str())
                    && field(&of, &format!("/{f}")) != field(&nf, &format!("/{f}"))
            }) {
                return false;
            }
            continue;
        }
        if field(&om, &format!("/{k}")) != field(&nm, &format!("/{k}")) {
            return false;
        }
    }
    true
}

/// A line diff of two texts (`-` old, `+` new, changed lines only, in
/// order), as the apply answers show a config diff.
pub(crate) fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// The documents of a stored configuration (none when it is absent or
/// does not parse).
pub(crate) fn docs_of(text: Option<&String>) -> Vec<Document> {
    text.and_then(|t| parse_documents(t).ok())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_with_lines_and_kinds() {
        let d = parse_documents(
            "# comment\nversion: v1alpha1\nmachine:\n  type: worker\n---\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n",
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert!(d[0].is_v1alpha1());
        assert_eq!(d[0].line, 1);
        assert_eq!((d[1].kind.as_str(), d[1].line), ("HostnameConfig", 7));
        assert_eq!(machine_type(&d), Some(MachineType::Worker));
        assert!(
            parse_documents("")
                .unwrap_err()
                .contains("config not found")
        );
        assert!(parse_documents("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn immediate_apply_rules_of_v1_13() {
        let base = parse_documents("version: v1alpha1\nmachine:\n  type: worker\n  nodeLabels: {a: b}\n  features: {kubePrism: {enabled: true}}\ncluster: {clusterName: x}\n").unwrap();
        let labels = parse_documents("version: v1alpha1\nmachine:\n  type: worker\n  nodeLabels: {a: c}\n  features: {kubePrism: {enabled: false}}\ncluster: {clusterName: y}\n").unwrap();
        assert!(can_apply_immediate(&base, &labels));
        let env = parse_documents("version: v1alpha1\nmachine:\n  type: worker\n  nodeLabels: {a: b}\n  env: {A: b}\n  features: {kubePrism: {enabled: true}}\ncluster: {clusterName: x}\n").unwrap();
        assert!(!can_apply_immediate(&base, &env));
        let feat = parse_documents("version: v1alpha1\nmachine:\n  type: worker\n  nodeLabels: {a: b}\n  features: {kubePrism: {enabled: true}, rbac: false}\ncluster: {clusterName: x}\n").unwrap();
        assert!(!can_apply_immediate(&base, &feat));
    }

    #[test]
    fn hostname_sources_follow_the_controller() {
        let d = |t: &str| parse_documents(t).unwrap();
        assert_eq!(
            hostname_source(&d(
                "version: v1alpha1\nmachine:\n  network: {hostname: a.lab}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n"
            )),
            HostnameSource::Static("a.lab".into())
        );
        assert_eq!(
            hostname_source(&d(
                "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: b\n"
            )),
            HostnameSource::Static("b".into())
        );
        assert_eq!(
            hostname_source(&d(
                "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n"
            )),
            HostnameSource::Stable
        );
        assert_eq!(
            hostname_source(&d(
                "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: off\n"
            )),
            HostnameSource::Off
        );
        assert_eq!(
            hostname_source(&d(
                "version: v1alpha1\nmachine: {features: {stableHostname: true}}\n"
            )),
            HostnameSource::Stable
        );
        assert_eq!(
            hostname_source(&d("version: v1alpha1\nmachine: {type: worker}\n")),
            HostnameSource::Address
        );
        assert_eq!(
            split_fqdn("a.lab.example"),
            ("a".into(), "lab.example".into())
        );
        assert_eq!(split_fqdn("a"), ("a".into(), String::new()));
        assert_eq!(
            address_hostname(&"10.5.0.11".parse().unwrap()),
            "talos-10-5-0-11"
        );
        assert_eq!(address_hostname(&"fd00::1".parse().unwrap()), "talos-fd001");
    }

    #[test]
    fn stable_hostnames_are_base36_of_the_node_id_hash() {
        let h = stable_hostname("some-node-id");
        // sha256("some-node-id")[:8] in base36 is 264xn7voz8lu4 (computed
        // apart from this code).
        assert_eq!(h, "talos-64x-n7v");
        let parts: Vec<&str> = h.trim_start_matches("talos-").split('-').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| {
            p.len() == 3
                && p.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        }));
        assert_eq!(h, stable_hostname("some-node-id"));
        assert_ne!(h, stable_hostname("another-node-id"));
    }

    #[test]
    fn diff_and_durations() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), "+x\n-b\n");
        assert_eq!(line_diff("a\n", "a\n"), "");
        assert_eq!(go_duration("8760h").unwrap().as_secs(), 8760 * 3600);
        assert_eq!(go_duration("1h30m10s").unwrap().as_secs(), 5410);
        assert!(go_duration("10x").is_none());
    }

    #[test]
    fn install_and_semantics() {
        let no_install = parse_documents("version: v1alpha1\nmachine: {type: worker, ca: {crt: abc}}\ncluster: {controlPlane: {endpoint: 'https://x:6443'}}\n").unwrap();
        assert_eq!(
            install_errors(&no_install),
            vec![r#"install instructions are required in "metal" mode"#.to_string()]
        );
        assert!(semantic_errors(&no_install).is_empty());
        let no_disk = parse_documents(
            "version: v1alpha1\nmachine: {type: controlplane, install: {image: x}}\n",
        )
        .unwrap();
        assert_eq!(
            install_errors(&no_disk),
            vec!["either install disk or diskSelector should be defined".to_string()]
        );
        let e = semantic_errors(&no_disk);
        assert!(e.contains(&"cluster controlplane endpoint is required".to_string()));
        assert!(e.contains(
            &"issuing CA key is required for controlplane nodes (.machine.ca.key)".to_string()
        ));
        assert!(multierror(&e).starts_with("v1alpha1.Config: 2 errors occurred:\n\t* "));
    }
}

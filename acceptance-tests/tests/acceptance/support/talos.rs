//! Helpers of the Talos acceptance tests: configurations, checks of the
//! secrets' formats (parsed here with x509-parser, not with the provider's
//! code), a secrets file in `talosctl gen secrets` format written from
//! state, and state surgery for the renewal test.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use labforge_acceptance_tests::{State, Workdir};
use serde_json::Value;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::REQUIRED_PROVIDERS;

/// The secrets resource's address in [`config`].
pub const SECRETS: &str = "homelab_talos_machine_secrets.lab";
/// The control plane configuration's address.
pub const CP: &str = "data.homelab_talos_machine_configuration.cp";
/// The worker configuration's address.
pub const WORKER: &str = "data.homelab_talos_machine_configuration.worker";
/// The talosconfig's address.
pub const TALOSCONFIG: &str = "data.homelab_talos_client_configuration.lab";

/// Secrets (for `version`), a control plane and a worker configuration
/// from them, and a talosconfig.
pub fn config(version: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

resource "homelab_talos_machine_secrets" "lab" {{
  talos_version = "{version}"
}}

data "homelab_talos_machine_configuration" "cp" {{
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "controlplane"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = "v1.13"
  install_disk     = "/dev/vda"
  config_patches   = [yamlencode({{ machine = {{ certSANs = ["cp-1.lab.example"] }} }})]
}}

data "homelab_talos_machine_configuration" "worker" {{
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "worker"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  install_disk     = "/dev/vda"
}}

data "homelab_talos_client_configuration" "lab" {{
  cluster_name         = "lab"
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
  endpoints            = ["10.0.20.11"]
  nodes                = ["10.0.20.11"]
}}
"#
    )
}

/// Base64 of PEM (as state holds it) to PEM.
pub fn pem_of(b64: &str) -> Result<String> {
    let bytes = STANDARD
        .decode(b64.trim())
        .context("not base64 (state holds certificates as base64 of PEM)")?;
    String::from_utf8(bytes).context("not UTF-8 PEM")
}

/// The label of the single PEM block of `pem` (`CERTIFICATE`, ...).
pub fn pem_label(pem: &str) -> Result<String> {
    let first = pem.lines().next().unwrap_or_default();
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .with_context(|| format!("not PEM: starts with {first:?}"))?;
    ensure!(
        pem.trim_end().ends_with(&format!("-----END {label}-----")),
        "PEM block {label} is not closed"
    );
    Ok(label.to_string())
}

fn der_of(pem: &str) -> Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    STANDARD.decode(body).context("PEM body is not base64")
}

/// What the tests check of a certificate.
#[derive(Debug)]
pub struct CertFacts {
    /// Subject organizations.
    pub organizations: Vec<String>,
    /// Issuer organizations.
    pub issuer_organizations: Vec<String>,
    /// Whether the key is Ed25519.
    pub ed25519: bool,
    /// Whether it is a CA.
    pub is_ca: bool,
    /// End of validity.
    pub not_after: SystemTime,
}

/// Parse a PEM certificate.
pub fn cert_facts(pem: &str) -> Result<CertFacts> {
    ensure!(pem_label(pem)? == "CERTIFICATE", "not a certificate");
    let der = der_of(pem)?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| anyhow::anyhow!("bad certificate: {e}"))?;
    let orgs = |name: &x509_parser::x509::X509Name<'_>| -> Vec<String> {
        name.iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect()
    };
    let ed25519 = cert.public_key().algorithm.algorithm.to_id_string() == "1.3.101.112";
    let not_after = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            u64::try_from(cert.validity().not_after.timestamp()).context("validity before 1970")?,
        );
    Ok(CertFacts {
        organizations: orgs(cert.subject()),
        issuer_organizations: orgs(cert.issuer()),
        ed25519,
        is_ca: cert.is_ca(),
        not_after,
    })
}

/// A string attribute of the secrets resource.
pub fn secret_attr(state: &State, path: &str) -> Result<String> {
    state.attr_str(SECRETS, path)
}

/// The secrets of `state` in `talosctl gen secrets` format (what Talos's
/// `secrets.Bundle` marshals to: byte fields as base64, i.e. certificates and
/// keys as base64 of PEM, which is what state holds too).
pub fn secrets_yaml(state: &State) -> Result<String> {
    let a = |p: &str| secret_attr(state, &format!("machine_secrets.{p}"));
    Ok(format!(
        "cluster:\n    id: {}\n    secret: {}\nsecrets:\n    bootstraptoken: {}\n    \
         secretboxencryptionsecret: {}\ntrustdinfo:\n    token: {}\ncerts:\n    etcd:\n        \
         crt: {}\n        key: {}\n    k8s:\n        crt: {}\n        key: {}\n    \
         k8saggregator:\n        crt: {}\n        key: {}\n    k8sserviceaccount:\n        \
         key: {}\n    os:\n        crt: {}\n        key: {}\n",
        a("cluster.id")?,
        a("cluster.secret")?,
        a("secrets.bootstrap_token")?,
        a("secrets.secretbox_encryption_secret")?,
        a("trustdinfo.token")?,
        a("certs.etcd.cert")?,
        a("certs.etcd.key")?,
        a("certs.k8s.cert")?,
        a("certs.k8s.key")?,
        a("certs.k8s_aggregator.cert")?,
        a("certs.k8s_aggregator.key")?,
        a("certs.k8s_serviceaccount.key")?,
        a("certs.os.cert")?,
        a("certs.os.key")?,
    ))
}

/// Replace the client certificate and key of the secrets resource in the
/// state with a certificate of the same OS CA valid for `ttl` only (as if
/// it had been made a year minus `ttl` ago), through `state pull` / `push`.
pub fn age_client_certificate(wd: &Workdir, ttl: Duration) -> Result<()> {
    let state = wd.state_json()?;
    let bundle = labforge_talos::secrets::Bundle::from_yaml(&secrets_yaml(&state)?)
        .map_err(|e| anyhow::anyhow!("secrets file: {e}"))?;
    let cc = labforge_talos::secrets::admin_client_configuration(&bundle, ttl)
        .map_err(|e| anyhow::anyhow!("client certificate: {e}"))?;
    let pulled = wd.run(&["state", "pull"])?;
    let mut doc: Value = serde_json::from_str(&pulled.stdout).context("state pull")?;
    let mut done = false;
    if let Some(resources) = doc["resources"].as_array_mut() {
        for r in resources {
            if r["type"] == "homelab_talos_machine_secrets" {
                let attrs = &mut r["instances"][0]["attributes"]["client_configuration"];
                attrs["client_certificate"] = Value::String(cc.client_certificate.clone());
                attrs["client_key"] = Value::String(cc.client_key.clone());
                done = true;
            }
        }
    }
    if !done {
        bail!("no homelab_talos_machine_secrets in the state");
    }
    let serial = doc["serial"].as_u64().unwrap_or(0);
    doc["serial"] = Value::from(serial + 1);
    wd.write_file("aged.tfstate", &serde_json::to_string(&doc)?)?;
    wd.run(&["state", "push", "aged.tfstate"])?;
    wd.remove_file("aged.tfstate")?;
    Ok(())
}

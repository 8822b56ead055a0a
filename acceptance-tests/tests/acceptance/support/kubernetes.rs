//! Helpers of the MetalLB acceptance tests: a Kubernetes simulator and
//! provider blocks for it.

use std::rc::Rc;

use anyhow::{Result, ensure};
use labforge_simulators::kubernetes::{ADMIN_TOKEN, KubernetesSim};

use super::REQUIRED_PROVIDERS;

/// A simulator, shared by a test's steps.
pub fn sim() -> Rc<KubernetesSim> {
    Rc::new(KubernetesSim::start().unwrap())
}

/// The root module: required_providers, a `kubernetes` block for `host`
/// with `token`, and `body`.
pub fn hcl_at(host: &str, token: &str, body: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  kubernetes {{
    host  = "{host}"
    token = "{token}"
  }}
}}

{body}"#
    )
}

/// The root module against `sim` as the admin.
pub fn hcl(sim: &KubernetesSim, body: &str) -> String {
    hcl_at(&sim.url(), ADMIN_TOKEN, body)
}

/// Every object the provider sent validated against the CRD schemas:
/// nothing pruned as unknown, nothing refused as invalid.
pub fn sent_valid_objects(sim: &KubernetesSim) -> Result<()> {
    ensure!(
        sim.pruned_fields().is_empty(),
        "fields the CRDs do not know were sent: {:?}",
        sim.pruned_fields()
    );
    ensure!(
        sim.invalid_writes().is_empty(),
        "objects the CRD schemas refuse were sent: {:?}",
        sim.invalid_writes()
    );
    Ok(())
}

/// Nothing of MetalLB's kinds is left.
pub fn nothing_left(sim: &KubernetesSim) -> Result<()> {
    for plural in [
        "ipaddresspools",
        "l2advertisements",
        "bgpadvertisements",
        "bgppeers",
        "communities",
    ] {
        let left = sim.objects(plural);
        ensure!(left.is_empty(), "{plural} left: {left:?}");
    }
    Ok(())
}

/// The root module with a `kubernetes` block for the HTTPS port, trusting
/// the cluster CA and authenticating with `user`'s client certificate.
pub fn hcl_cert(sim: &KubernetesSim, user: &str, body: &str) -> String {
    let (cert, key) = sim.client_cert(user).unwrap();
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  kubernetes {{
    host                   = "{host}"
    cluster_ca_certificate = <<-EOT
{ca}EOT
    client_certificate     = <<-EOT
{cert}EOT
    client_key             = <<-EOT
{key}EOT
  }}
}}

{body}"#,
        host = sim.https_url(),
        ca = sim.ca_pem(),
    )
}

/// The root module with `config_raw`: a kubeconfig (inline base64 data as
/// `kubectl config view --flatten` writes it; `encode` is `yamlencode` or
/// `jsonencode`) whose context `lab` uses `user`'s client certificate;
/// `current-context` names another one.
pub fn hcl_kubeconfig(sim: &KubernetesSim, user: &str, encode: &str, body: &str) -> String {
    let (cert, key) = sim.client_cert(user).unwrap();
    format!(
        r#"{REQUIRED_PROVIDERS}

locals {{
  ca   = <<-EOT
{ca}EOT
  cert = <<-EOT
{cert}EOT
  key  = <<-EOT
{key}EOT
}}

provider "homelab" {{
  kubernetes {{
    context = "lab"
    config_raw = {encode}({{
      apiVersion        = "v1"
      kind              = "Config"
      "current-context" = "elsewhere"
      clusters = [
        {{ name = "lab", cluster = {{ server = "{host}", "certificate-authority-data" = base64encode(local.ca) }} }},
        {{ name = "other", cluster = {{ server = "https://127.0.0.1:1" }} }},
      ]
      users = [{{ name = "{user}", user = {{ "client-certificate-data" = base64encode(local.cert), "client-key-data" = base64encode(local.key) }} }}]
      contexts = [
        {{ name = "lab", context = {{ cluster = "lab", user = "{user}" }} }},
        {{ name = "elsewhere", context = {{ cluster = "other", user = "{user}" }} }},
      ]
    }})
  }}
}}

{body}"#,
        host = sim.https_url(),
        ca = sim.ca_pem(),
    )
}

/// A root module with no `kubernetes` provider block: the kubeconfig text
/// (YAML, HTTPS with `user`'s client certificate) is a `terraform_data`
/// output, unknown at the first plan as a cluster's made in the same apply.
/// `body`'s resources use it with their own `kubernetes = { config_raw =
/// terraform_data.cluster.output }`.
pub fn hcl_connection(sim: &KubernetesSim, user: &str, body: &str) -> String {
    let (cert, key) = sim.client_cert(user).unwrap();
    format!(
        r#"{REQUIRED_PROVIDERS}

locals {{
  ca   = <<-EOT
{ca}EOT
  cert = <<-EOT
{cert}EOT
  key  = <<-EOT
{key}EOT
}}

resource "terraform_data" "cluster" {{
  input = yamlencode({{
    apiVersion        = "v1"
    kind              = "Config"
    "current-context" = "lab"
    clusters = [{{ name = "lab", cluster = {{ server = "{host}", "certificate-authority-data" = base64encode(local.ca) }} }}]
    users    = [{{ name = "{user}", user = {{ "client-certificate-data" = base64encode(local.cert), "client-key-data" = base64encode(local.key) }} }}]
    contexts = [{{ name = "lab", context = {{ cluster = "lab", user = "{user}" }} }}]
  }})
}}

{body}"#,
        host = sim.https_url(),
        ca = sim.ca_pem(),
    )
}

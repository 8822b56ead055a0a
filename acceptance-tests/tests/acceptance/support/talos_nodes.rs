//! Helpers of the Talos node acceptance tests: a simulator of Talos nodes
//! and root modules that secure, configure, bootstrap and fetch the
//! kubeconfig of a cluster on it.

use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use labforge_simulators::talos::{NodeSpec, TalosSim};

use super::REQUIRED_PROVIDERS;

/// Control planes and workers of the lab cluster.
pub const CONTROL_PLANES: &[&str] = &["cp1", "cp2", "cp3"];
/// Workers of the lab cluster.
pub const WORKERS: &[&str] = &["w1", "w2"];

/// A simulator with these nodes (names), all running `version`; quick
/// reboots so the tests do not wait long.
pub fn sim(names: &[&str], version: &str) -> Rc<TalosSim> {
    let sim = TalosSim::start(names.iter().map(|n| NodeSpec::new(n, version)).collect()).unwrap();
    sim.set_boot_delay(Duration::from_millis(500));
    sim.set_reboot_delay(Duration::from_millis(100));
    sim.set_bootstrap_delay(Duration::from_millis(200));
    Rc::new(sim)
}

/// The endpoint (`127.0.0.1:PORT`) of a node.
pub fn addr(sim: &TalosSim, name: &str) -> String {
    sim.endpoint(name).unwrap()
}

/// `name = "address"` lines of an HCL map for these nodes.
fn node_map(sim: &TalosSim, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("    {n} = \"{}\"\n", addr(sim, n)))
        .collect()
}

/// What varies between the steps of a cluster configuration.
#[derive(Clone)]
pub struct Cluster {
    /// The control planes (names of simulator nodes).
    pub control_planes: Vec<&'static str>,
    /// The workers.
    pub workers: Vec<&'static str>,
    /// `talos_version` of the secrets and configurations.
    pub talos_version: &'static str,
    /// A revision per node name (default "1", in the SAN `rev<N>.lab.example`):
    /// changing it changes that node's patch.
    pub revs: Vec<(&'static str, &'static str)>,
    /// `apply_mode` of every apply (None: not set).
    pub apply_mode: Option<&'static str>,
    /// Whether to bootstrap and fetch the kubeconfig.
    pub bootstrap: bool,
    /// `certificate_renewal_duration` of the kubeconfig (None: not set).
    pub renewal: Option<&'static str>,
    /// More patches for every node (HCL expressions).
    pub extra_patches: Vec<String>,
}

impl Cluster {
    /// 3 control planes and 2 workers, bootstrapped, Talos v1.13.
    pub fn lab() -> Cluster {
        Cluster {
            control_planes: CONTROL_PLANES.to_vec(),
            workers: WORKERS.to_vec(),
            talos_version: "v1.13",
            revs: Vec::new(),
            apply_mode: None,
            bootstrap: true,
            renewal: None,
            extra_patches: Vec::new(),
        }
    }

    /// One control plane `cp1`, nothing else.
    pub fn single(talos_version: &'static str) -> Cluster {
        Cluster {
            control_planes: vec!["cp1"],
            workers: Vec::new(),
            talos_version,
            bootstrap: false,
            ..Cluster::lab()
        }
    }

    /// The root module against `sim`.
    pub fn hcl(&self, sim: &TalosSim) -> String {
        let revs: String = self
            .revs
            .iter()
            .map(|(n, r)| format!("    {n} = \"{r}\"\n"))
            .collect();
        let mode = self
            .apply_mode
            .map(|m| format!("  apply_mode = \"{m}\"\n"))
            .unwrap_or_default();
        let extra: String = self
            .extra_patches
            .iter()
            .map(|p| format!("    {p},\n"))
            .collect();
        let tv = self.talos_version;
        let apply = |kind: &str, nodes: &str| {
            format!(
                r#"data "homelab_talos_machine_configuration" "{kind}" {{
  cluster_name     = "lab"
  cluster_endpoint = "https://127.0.0.1:6443"
  machine_type     = "{machine_type}"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = "{tv}"
  install_disk     = "/dev/sda"
}}

resource "homelab_talos_machine_configuration_apply" "{kind}" {{
  for_each                    = local.{nodes}
  node                        = each.value
  client_configuration        = homelab_talos_machine_secrets.lab.client_configuration
  machine_configuration_input = data.homelab_talos_machine_configuration.{kind}.machine_configuration
  config_patches = [
    yamlencode({{ machine = {{ certSANs = ["${{each.key}}.lab.example", "rev${{lookup(local.revs, each.key, "1")}}.lab.example"] }} }}),
{extra}  ]
{mode}}}
"#,
                machine_type = if kind == "cp" {
                    "controlplane"
                } else {
                    "worker"
                },
            )
        };
        let mut body = format!(
            r#"{REQUIRED_PROVIDERS}

locals {{
  controlplanes = {{
{cps}  }}
  workers = {{
{ws}  }}
  revs = {{
{revs}  }}
}}

resource "homelab_talos_machine_secrets" "lab" {{
  talos_version = "{tv}"
}}

{cp}
"#,
            cps = node_map(sim, &self.control_planes),
            ws = node_map(sim, &self.workers),
            cp = apply("cp", "controlplanes"),
        );
        if !self.workers.is_empty() {
            body.push_str(&apply("worker", "workers"));
        }
        body.push_str(
            r#"
output "cp1_hash" {
  value = homelab_talos_machine_configuration_apply.cp["cp1"].machine_configuration_hash
}
"#,
        );
        if self.bootstrap {
            let renewal = self
                .renewal
                .map(|r| format!("  certificate_renewal_duration = \"{r}\"\n"))
                .unwrap_or_default();
            body.push_str(&format!(
                r#"
resource "homelab_talos_machine_bootstrap" "lab" {{
  node                 = homelab_talos_machine_configuration_apply.cp["cp1"].node
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
}}

resource "homelab_talos_cluster_kubeconfig" "lab" {{
  node                 = homelab_talos_machine_bootstrap.lab.node
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
{renewal}}}
"#
            ));
        }
        body
    }
}

/// Whether the node's running configuration lists this certificate SAN
/// (the patches name each node `<name>.lab.example` and its revision
/// `rev<N>.lab.example`).
pub fn has_san(sim: &TalosSim, node: &str, san: &str) -> Result<bool> {
    let c = sim
        .applied_config(node)
        .with_context(|| format!("{node} runs no configuration"))?;
    let re = regex::Regex::new(&format!(
        r#"(?m)^\s*-\s*["']?{}["']?\s*$"#,
        regex::escape(san)
    ))?;
    Ok(re.is_match(&c))
}

/// Every node of `names` is configured and lists its own SAN.
pub fn all_configured(sim: &TalosSim, names: &[&str]) -> Result<()> {
    for n in names {
        ensure!(sim.is_configured(n), "{n} is not configured");
        ensure!(
            has_san(sim, n, &format!("{n}.lab.example"))?,
            "{n} does not run its patched configuration:\n{}",
            sim.applied_config(n).unwrap_or_default()
        );
    }
    Ok(())
}

/// How many times `method` (e.g. `Bootstrap`) of `machine.MachineService`
/// was called on `node`.
pub fn calls(sim: &TalosSim, node: &str, method: &str) -> u64 {
    let Some(c) = sim.node_counters(node) else {
        return 0;
    };
    c.snapshot()
        .iter()
        .filter(|((_, route), _)| route.ends_with(&format!("/{method}")))
        .map(|(_, n)| *n)
        .sum()
}

/// Base64 (standard alphabet, padded) decoded, for secrets the state
/// holds as base64 of PEM.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

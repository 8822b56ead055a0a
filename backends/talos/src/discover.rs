//! Discovery: what a running Talos cluster holds that the provider can
//! import (`homelab-discover --backend talos`, `homelab_talos_inventory`).
//!
//! Talos has no API that lists nodes, so discovery probes addresses: the
//! `node` filter's values, else the current context of the talosconfig
//! (`TALOSCONFIG`, as talosctl reads it: `contexts.<context>.nodes`, else
//! its `endpoints`; siderolabs/talos `pkg/machinery/client/config/config.go`).
//! Per address:
//! - no answer: skipped, with the error;
//! - maintenance mode (an insecure `Version` without `features.rbac`):
//!   skipped, nothing is configured yet;
//! - configured, without a talosconfig: skipped, its certificate is needed;
//! - configured: `homelab_talos_machine_configuration_apply` (import ID the
//!   address), named after its hostname: the running configuration's when
//!   it can be read (an `os:admin` certificate), else the node's COSI
//!   `HostnameStatuses` (not sensitive: `os:reader` reads it, as `talosctl
//!   get hostname` does; it also holds the generated default hostname),
//!   else the address; and, on the first control plane node of a cluster
//!   whose etcd runs, `homelab_talos_machine_bootstrap`, named after the
//!   cluster (the configuration's name, else COSI `Infos.cluster.talos.dev`,
//!   also readable with `os:reader`).
//!
//! Talos never gives its secrets out: `homelab_talos_machine_secrets` is
//! listed only when the `secrets` filter names the `talosctl gen secrets`
//! file (its import ID). Only reads are sent: `Version` and COSI `Get`.

use std::collections::BTreeMap;
use std::path::Path;

use labforge_framework::discover::{Filter, Inventory};
use labforge_framework::{Error, Result};
use serde_json::Value;

use crate::client::{Client, Credentials, ErrorKind, NodeState, Target};
use crate::config;
use crate::secrets::Bundle;
use crate::talosconfig;

const SUMMARY: &str = "Unable to discover Talos nodes";

/// Why a configured node is skipped without a talosconfig.
const NEEDS_TALOSCONFIG: &str = "configured, needs a talosconfig to be read: set TALOSCONFIG \
    to one holding the cluster's client certificate (os:reader suffices)";

/// The current context of the talosconfig at `path`: its nodes (else its
/// endpoints) and its credentials (`None` when it has no certificate).
fn load_talosconfig(path: &Path) -> Result<(Vec<String>, Option<Credentials>)> {
    let ctx = talosconfig::load(path)?;
    let creds = ctx.credentials()?;
    Ok((ctx.nodes, creds))
}

/// What a configured node's running configuration says.
#[derive(Default)]
struct RunningConfig {
    hostname: Option<String>,
    cluster: Option<String>,
    machine_type: Option<String>,
}

/// The hostname (`machine.network.hostname`, or a `HostnameConfig`
/// document's `hostname`), the cluster name (`cluster.clusterName`, or a
/// `KubeClusterConfig` document's `clusterName`) and the machine type.
fn read_running(text: &str) -> RunningConfig {
    let mut out = RunningConfig::default();
    let Ok(docs) = config::parse_documents(text) else {
        return out;
    };
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    for d in &docs {
        match d.get("kind").and_then(Value::as_str) {
            Some("HostnameConfig") => out.hostname = out.hostname.or(s(d.get("hostname"))),
            Some("KubeClusterConfig") => out.cluster = out.cluster.or(s(d.get("clusterName"))),
            Some(_) => {}
            None => {
                out.hostname = out.hostname.or(s(d.pointer("/machine/network/hostname")));
                out.cluster = out.cluster.or(s(d.pointer("/cluster/clusterName")));
                out.machine_type = s(d.pointer("/machine/type"));
            }
        }
    }
    out
}

/// The addresses to probe: the `node` filter's, else the talosconfig's.
fn addresses(
    filter: &Filter,
    from_talosconfig: &[String],
    has_talosconfig: bool,
) -> Result<Vec<String>> {
    let given: Vec<String> = filter
        .values("node")
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if !given.is_empty() {
        return Ok(given);
    }
    if !from_talosconfig.is_empty() {
        return Ok(from_talosconfig.to_vec());
    }
    let why = if has_talosconfig {
        "Talos has no API that lists nodes, and the talosconfig (TALOSCONFIG) names no nodes \
         or endpoints in its current context. Give the addresses to probe with the `node` \
         filter (homelab-discover --node 10.0.0.11 --node 10.0.0.12), or add them to the \
         talosconfig (talosctl config node ...)."
    } else {
        "Talos has no API that lists nodes: give the addresses to probe with the `node` filter \
         (homelab-discover --node 10.0.0.11 --node 10.0.0.12), or set TALOSCONFIG to a \
         talosconfig whose current context names them (and holds the admin certificate \
         needed to read configured nodes)."
    };
    Err(Error::new(SUMMARY, why))
}

/// Discover what the probed Talos nodes hold (see the module docs).
pub async fn discover(client: &Client, filter: &Filter) -> Result<Inventory> {
    let (from_tc, creds) = match client.talosconfig() {
        Some(p) => load_talosconfig(p)?,
        None => (Vec::new(), None),
    };
    let mut inv = Inventory::new();
    // Nothing names a node: Talos is simply not part of this discovery (its
    // provider block is always configured, being empty), which is no error.
    if filter.values("node").is_empty() && client.talosconfig().is_none() {
        inv.skip(
            "Talos nodes",
            "none to probe: Talos has no API that lists nodes; give their addresses \
             (homelab-discover --node 10.0.0.11) or set TALOSCONFIG to your talosconfig",
        );
        return Ok(inv);
    }
    let nodes = addresses(filter, &from_tc, client.talosconfig().is_some())?;
    // Cluster name -> whether its bootstrap was listed.
    let mut bootstrapped: BTreeMap<String, bool> = BTreeMap::new();
    let mut clusters: Vec<String> = Vec::new();
    for addr in &nodes {
        let what = format!("Talos node {addr}");
        let t = Target::endpoint(addr);
        let tag = match client.node_state(&t, creds.as_ref()).await {
            // A configured node wants a client certificate: without one,
            // the insecure Version fails (the TLS handshake is refused).
            Err(e) if creds.is_none() && e.kind() != ErrorKind::Unreachable => {
                inv.skip(what, format!("{NEEDS_TALOSCONFIG} ({e})"));
                continue;
            }
            Err(e) => {
                let why = if e.kind() == ErrorKind::Unreachable {
                    format!("unreachable: {e}")
                } else {
                    format!("cannot be read: {e}")
                };
                inv.skip(what, why);
                continue;
            }
            Ok(NodeState::Maintenance) => {
                inv.skip(
                    what,
                    "in maintenance mode: not configured yet, nothing to import",
                );
                continue;
            }
            Ok(NodeState::Configured { tag }) => tag,
        };
        let Some(creds) = creds.as_ref() else {
            inv.skip(what, NEEDS_TALOSCONFIG);
            continue;
        };
        // The running configuration is sensitive (os:admin); a reader
        // certificate still tells the machine type, the hostname and the
        // cluster name from resources that are not.
        let mut running = match client.machine_config(&t, creds, "v1alpha1").await {
            Ok(Some(text)) => read_running(&text),
            Ok(None) => RunningConfig::default(),
            Err(e) if e.is_final() => RunningConfig::default(),
            Err(e) => {
                inv.skip(what, format!("cannot be read: {e}"));
                continue;
            }
        };
        if running.hostname.is_none() {
            running.hostname = client
                .hostname_status(&t, creds)
                .await
                .ok()
                .flatten()
                .map(|h| h.hostname.trim().to_string());
        }
        if running.cluster.is_none() {
            running.cluster = client
                .cluster_info(&t, creds)
                .await
                .ok()
                .flatten()
                .map(|c| c.cluster_name.trim().to_string());
        }
        let machine_type = match running.machine_type.clone() {
            Some(t) => Some(t),
            None => client.machine_type(&t, creds).await.ok().flatten(),
        };
        let name = running.hostname.clone().unwrap_or_else(|| addr.clone());
        let kind = machine_type.clone().unwrap_or_else(|| "Talos".into());
        let found = inv.found(
            "talos_machine_configuration_apply",
            &[&name],
            addr.clone(),
            format!(
                "{kind} node {name} at {addr} (Talos {tag}); after the import, set \
                 client_configuration and machine_configuration_input"
            ),
        );
        found
            .attr("node", addr.clone())
            .attr("talos_version", tag.clone());
        if let Some(h) = &running.hostname {
            found.attr("hostname", h.clone());
        }
        if let Some(m) = &machine_type {
            found.attr("machine_type", m.clone());
        }
        let cluster = running.cluster.clone().unwrap_or_default();
        if let Some(c) = &running.cluster {
            found.attr("cluster", c.clone());
            if !clusters.contains(c) {
                clusters.push(c.clone());
            }
        }
        if machine_type.as_deref() == Some("controlplane")
            && !bootstrapped.get(&cluster).copied().unwrap_or(false)
        {
            let etcd = client.service_state(&t, creds, "etcd").await;
            match etcd {
                Ok(Some(s)) if s.running => {
                    bootstrapped.insert(cluster.clone(), true);
                    let label = if cluster.is_empty() {
                        name.as_str()
                    } else {
                        cluster.as_str()
                    };
                    let f = inv.found(
                        "talos_machine_bootstrap",
                        &[label],
                        addr.clone(),
                        format!(
                            "etcd bootstrapped{} (runs on {name} at {addr}); after the import, \
                             set client_configuration",
                            if cluster.is_empty() {
                                String::new()
                            } else {
                                format!(" for cluster {cluster}")
                            }
                        ),
                    );
                    f.attr("node", addr.clone());
                    if !cluster.is_empty() {
                        f.attr("cluster", cluster.clone());
                    }
                }
                Ok(_) => {
                    bootstrapped.entry(cluster.clone()).or_insert(false);
                }
                Err(e) => inv.skip(
                    format!("etcd of {name} at {addr}"),
                    format!("its state cannot be read: {e}"),
                ),
            }
        }
    }
    for (cluster, done) in &bootstrapped {
        if !done {
            let of = if cluster.is_empty() {
                String::new()
            } else {
                format!(" of cluster {cluster}")
            };
            inv.skip(
                format!("bootstrap{of}"),
                "etcd runs on none of its control plane nodes: the cluster has not been \
                 bootstrapped yet, nothing to import",
            );
        }
    }
    secrets(&mut inv, filter, &clusters);
    Ok(inv)
}

/// `homelab_talos_machine_secrets` from the `secrets` filter's files.
fn secrets(inv: &mut Inventory, filter: &Filter, clusters: &[String]) {
    let files = filter.values("secrets");
    if files.is_empty() {
        if !clusters.is_empty() || !inv.found.is_empty() {
            let of = match clusters {
                [one] => format!(" of cluster {one}"),
                _ => String::new(),
            };
            inv.skip(
                format!("machine secrets{of}"),
                "Talos does not give its secrets out: to import them as \
                 homelab_talos_machine_secrets, pass the file `talosctl gen secrets` wrote \
                 (homelab-discover --secrets ./secrets.yaml)",
            );
        }
        return;
    }
    for (i, path) in files.iter().enumerate() {
        let what = format!("secrets file {path}");
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                inv.skip(what, format!("cannot be read: {e}"));
                continue;
            }
        };
        if let Err(e) = Bundle::from_yaml(&text) {
            inv.skip(
                what,
                format!("is not a secrets bundle (talosctl gen secrets): {e}"),
            );
            continue;
        }
        let name = clusters
            .get(i)
            .cloned()
            .unwrap_or_else(|| "cluster".to_string());
        inv.found(
            "talos_machine_secrets",
            &[&name],
            path.clone(),
            format!("the secrets bundle in {path}"),
        )
        .attr("path", path.clone());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

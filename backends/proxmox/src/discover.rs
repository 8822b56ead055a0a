//! Discovery: the VMs, templates and downloaded files of a Proxmox VE
//! cluster, as `homelab_proxmox_vm` and `homelab_proxmox_download_file`
//! import blocks (see `labforge_framework::discover`). Reads only: the node
//! list, `/cluster/resources`, each node's storages and their content, all
//! of which a read-only token (`VM.Audit`, `Datastore.Audit`, `Sys.Audit`)
//! may read.
//!
//! Left alone, each with its reason: LXC containers, container templates,
//! backups and snippets (no resource type manages them), and the volumes of
//! VM disks (they are part of their VM's `disk` map). A file on a shared
//! storage shows on every node; it is imported once, from the first node.

use std::collections::{BTreeMap, BTreeSet};

use labforge_framework::discover::{Filter, Inventory};
use labforge_framework::{Error, Result};

use crate::client::{ApiError, Client, ClusterVm};

/// The filter keys [`discover`] understands.
pub const FILTERS: &[(&str, &str)] = &[("node", "Proxmox node name")];

/// Content types whose files `homelab_proxmox_download_file` imports.
const DOWNLOADABLE: [&str; 2] = ["import", "iso"];

/// Content types left alone, with the reason (per file).
const LEFT_ALONE: [(&str, &str, &str); 3] = [
    (
        "vztmpl",
        "container template",
        "container templates are for LXC containers, which no resource type of this provider manages",
    ),
    (
        "backup",
        "backup",
        "backups are made by vzdump (backup jobs or by hand); this provider does not manage them",
    ),
    (
        "snippets",
        "snippet",
        "snippets are uploaded files (cloud-init custom data) no resource type manages; a VM refers to \
         one by its volume ID in `initialization` (`user_data`, `network_data`, ...)",
    ),
];

/// Content types of VM disks (and container volumes).
const DISKS: [&str; 2] = ["images", "rootdir"];

fn listing(what: &str, e: ApiError) -> Error {
    Error::new(
        "Unable to discover Proxmox VE objects",
        format!("listing {what}: {e}"),
    )
}

/// Everything on the cluster that the provider's resources can import, in
/// a stable order (nodes by name, VMs by VMID, storages as listed, files by
/// volume ID), narrowed by `filter` (`node`).
pub async fn discover(c: &Client, filter: &Filter) -> Result<Inventory> {
    let mut inv = Inventory::new();
    let mut nodes: Vec<String> = c
        .nodes()
        .await
        .map_err(|e| listing("nodes", e))?
        .iter()
        .map(|n| n.node.clone())
        .filter(|n| filter.allows("node", n))
        .collect();
    nodes.sort();
    for wanted in filter.values("node") {
        if !nodes.iter().any(|n| n.eq_ignore_ascii_case(wanted)) {
            return Err(Error::new(
                "Unknown node",
                format!("--node {wanted}: no such node in this Proxmox VE cluster"),
            ));
        }
    }
    let mut vms: Vec<ClusterVm> = c
        .cluster_vms_now()
        .await
        .map_err(|e| listing("VMs (/cluster/resources)", e))?
        .iter()
        .filter(|v| nodes.contains(&v.node))
        .cloned()
        .collect();
    vms.sort_by_key(|v| (v.node.clone(), v.id().unwrap_or_default()));
    for v in &vms {
        vm(&mut inv, v);
    }
    let mut shared_seen: BTreeMap<String, String> = BTreeMap::new();
    for node in &nodes {
        let storages = c
            .storages(node)
            .await
            .map_err(|e| listing(&format!("the storages of {node}"), e))?;
        for s in storages {
            let first = if s.shared {
                shared_seen
                    .entry(s.storage.clone())
                    .or_insert_with(|| node.clone())
                    .clone()
            } else {
                node.clone()
            };
            let at = Listing {
                node,
                storage: &s.storage,
                content: &s.content,
                first: (first != *node).then_some(first.as_str()),
            };
            storage_content(c, &mut inv, &at).await?;
        }
    }
    Ok(inv)
}

/// One VM or template (a container is skipped).
fn vm(inv: &mut Inventory, v: &ClusterVm) {
    let Some(vmid) = v.id() else { return };
    let name = v.name.clone().unwrap_or_default();
    if v.kind != "qemu" {
        inv.skip(
            format!("{} {vmid} {name} on {}", v.kind, v.node),
            "LXC containers are not managed by this provider (homelab_proxmox_vm is for QEMU VMs)",
        );
        return;
    }
    let (kind, state) = if v.is_template() {
        ("template", String::new())
    } else {
        (
            "VM",
            v.status
                .as_deref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default(),
        )
    };
    let vmid_s = vmid.to_string();
    let parts: Vec<&str> = if name.is_empty() {
        vec![&v.node, "vm", &vmid_s]
    } else {
        vec![&v.node, &name]
    };
    let f = inv.found(
        "proxmox_vm",
        &parts,
        format!("{}/{vmid}", v.node),
        if name.is_empty() {
            format!("{kind} {vmid} on {}{state}", v.node)
        } else {
            format!("{kind} {vmid} {name} on {}{state}", v.node)
        },
    );
    f.attr("node", v.node.clone())
        .attr("vm_id", vmid_s.clone())
        .attr("template", v.is_template().to_string());
    if !name.is_empty() {
        f.attr("name", name);
    }
}

/// One storage as one node sees it.
struct Listing<'a> {
    node: &'a str,
    storage: &'a str,
    content: &'a [String],
    /// For a shared storage already listed on another node: that node (its
    /// files are imported from there, once).
    first: Option<&'a str>,
}

/// `bytes` for people (`2.0 GiB`).
fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The files of one storage on a node: downloaded images and ISOs are
/// found, the rest skipped with a reason.
async fn storage_content(c: &Client, inv: &mut Inventory, at: &Listing<'_>) -> Result<()> {
    let Listing {
        node,
        storage,
        content,
        first,
    } = *at;
    let has = |t: &str| content.iter().any(|c| c == t);
    let list = |t: &'static str| async move {
        c.volumes(node, storage, t)
            .await
            .map_err(|e| listing(&format!("the {t} content of {storage} on {node}"), e))
    };
    for t in DOWNLOADABLE.into_iter().filter(|t| has(t)) {
        let mut vols = list(t).await?;
        vols.sort_by(|a, b| a.volid.cmp(&b.volid));
        let what = if t == "iso" {
            "ISO image"
        } else {
            "disk image"
        };
        for v in vols {
            let Some(file) = v.volid.split_once('/').map(|(_, f)| f.to_string()) else {
                continue;
            };
            if let Some(first) = first {
                inv.skip(
                    format!("{what} {} on {node}", v.volid),
                    format!("{storage} is shared: the file is imported once, from {first}"),
                );
                continue;
            }
            let f = inv.found(
                "proxmox_download_file",
                &[node, &file],
                format!("{node}/{}", v.volid),
                format!(
                    "{what} {} on {node}{} (Proxmox VE does not record its URL: set `url` so \
                     that it can be downloaded again)",
                    v.volid,
                    v.size.map(|s| format!(", {}", size(s))).unwrap_or_default()
                ),
            );
            f.attr("node", node)
                .attr("storage", storage)
                .attr("content_type", t)
                .attr("file_name", file);
        }
    }
    for (t, what, why) in LEFT_ALONE
        .into_iter()
        .filter(|(t, _, _)| has(t) && first.is_none())
    {
        for v in list(t).await? {
            inv.skip(format!("{what} {} on {node}", v.volid), why);
        }
    }
    let mut disks = BTreeSet::new();
    for t in DISKS.into_iter().filter(|t| has(t)) {
        disks.extend(list(t).await?.into_iter().map(|v| v.volid));
    }
    if !disks.is_empty() {
        inv.skip(
            format!("{} disk volume(s) in {storage} on {node}", disks.len()),
            "VM disks belong to their VM: imported with it, in its `disk` map \
             (homelab_proxmox_vm)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use labforge_framework::StopSignal;

    use super::*;
    use crate::client::Download;
    use crate::client::testing::sim_client;

    fn ids(inv: &Inventory) -> Vec<(String, String, String)> {
        inv.found
            .iter()
            .map(|f| (f.resource_type.clone(), f.name.clone(), f.id.clone()))
            .collect()
    }

    /// The seeded template and cloud images, a downloaded ISO and a
    /// container template: VMs and files found with readable names and
    /// their import IDs, the rest skipped with reasons; `node` narrows.
    #[tokio::test]
    async fn lists_vms_and_downloads_and_skips_the_rest() {
        let (_sim, c) = sim_client();
        let stop = StopSignal::never();
        for (node, content, file) in [
            ("pve2", "iso", "debian-12.8.0-amd64-netinst.iso"),
            ("pve1", "vztmpl", "debian-12-standard_12.7-1_amd64.tar.zst"),
        ] {
            c.download_url(
                &stop,
                &Download {
                    node,
                    storage: "local",
                    content,
                    file_name: file,
                    url: "https://example.com/file",
                    verify_certificates: true,
                    checksum: None,
                },
            )
            .await
            .expect("downloaded");
        }
        let inv = discover(&c, &Filter::all()).await.expect("discovered");
        let found = ids(&inv);
        let want = |t: &str, n: &str, id: &str| (t.to_string(), n.to_string(), id.to_string());
        assert_eq!(
            found,
            vec![
                want("proxmox_vm", "pve1_debian_12_template", "pve1/9000"),
                want(
                    "proxmox_download_file",
                    "pve1_debian_12_genericcloud_amd64_qcow2",
                    "pve1/local:import/debian-12-genericcloud-amd64.qcow2"
                ),
                want(
                    "proxmox_download_file",
                    "pve2_debian_12_genericcloud_amd64_qcow2",
                    "pve2/local:import/debian-12-genericcloud-amd64.qcow2"
                ),
                want(
                    "proxmox_download_file",
                    "pve2_debian_12_8_0_amd64_netinst_iso",
                    "pve2/local:iso/debian-12.8.0-amd64-netinst.iso"
                ),
            ]
        );
        assert_eq!(inv.found[0].attributes["template"], "true");
        let skipped: Vec<String> = inv
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.what, s.why))
            .collect();
        assert!(
            skipped.iter().any(|s| s.starts_with(
                "container template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst on pve1: \
                 container templates are for LXC"
            )),
            "{skipped:#?}"
        );
        assert!(
            skipped
                .iter()
                .any(|s| s.starts_with("2 disk volume(s) in local-lvm on pve1: VM disks")),
            "{skipped:#?}"
        );
        let only = discover(&c, &Filter::all().with("node", ["pve2"]))
            .await
            .expect("discovered");
        assert!(
            ids(&only).iter().all(|(_, _, id)| id.starts_with("pve2/")),
            "{:?}",
            ids(&only)
        );
        assert_eq!(only.found.len(), 2);
        let e = discover(&c, &Filter::all().with("node", ["pve9"]))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("pve9"), "{e}");
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes_for_people() {
        assert_eq!(super::size(512), "512 bytes");
        assert_eq!(super::size(2 * 1024 * 1024 * 1024), "2.0 GiB");
        assert_eq!(super::size(1536 * 1024), "1.5 MiB");
    }
}

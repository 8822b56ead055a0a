//! The state model of `homelab_proxmox_vm`, and [`fill`]: the model from
//! the VM's config and status.

use std::collections::BTreeMap;

use labforge_framework::{AttributePath, Error, Result};
use serde::{Deserialize, Serialize};

use super::Part;
use super::cloud_init::{CloudInit, InitModel};
use super::disks::{DiskModel, Disks};
use super::nics::{NetModel, Nics};
use crate::client::{VmConfig, VmStatus};
use crate::pveconf::{self, Disk};

/// The `clone` block: clone this VM or template instead of creating an
/// empty VM. Only used when the VM is created: after an import the source
/// is taken from Proxmox VE where it shows (a template with the same
/// creation `meta`), and a differing block changes nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CloneModel {
    /// `vm_id`: VMID of the source (usually a template).
    pub vm_id: i64,
    /// `node`: node of the source. Default: the VM's `node`. Checked
    /// against the cluster's nodes at plan time.
    pub node: Option<String>,
    /// `full`: full clone (independent disks); `false` makes a linked clone
    /// (templates only). Default `true`.
    pub full: Option<bool>,
    /// `target_storage`: storage for the disks of a full clone (not allowed
    /// with `full = false`). Default: the source's. A clone to another
    /// `node` needs shared storage.
    pub target_storage: Option<String>,
}

/// The `cpu` attribute. Unset values are inherited (from the template, or
/// Proxmox VE defaults).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuModel {
    /// `cores`: cores per socket. Default 1.
    pub cores: Option<i64>,
    /// `sockets`: sockets. Default 1.
    pub sockets: Option<i64>,
    /// `type`: CPU type, e.g. `host` or `x86-64-v2-AES`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// The `memory` attribute.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryModel {
    /// `dedicated`: memory in MiB. Default 512.
    pub dedicated: Option<i64>,
    /// `balloon`: minimum memory in MiB for ballooning; `0` disables the
    /// balloon device.
    pub balloon: Option<i64>,
}

/// The `efi_disk` attribute: the EFI vars disk (for `bios = "ovmf"`),
/// allocated when the VM is created (or when added later). Unset: a clone
/// keeps its template's. Changing it replaces the VM.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EfiModel {
    /// `storage`: storage for the EFI vars disk.
    pub storage: String,
    /// `type`: `2m` or `4m`. Default `4m`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `pre_enrolled_keys`: pre-enroll Secure Boot keys. Default `false`.
    pub pre_enrolled_keys: Option<bool>,
}

/// One VM: the state model of `homelab_proxmox_vm`, one field per
/// attribute or block of [`vm_schema`](super::schema::vm_schema).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmModel {
    /// `id` (computed): `node/vm_id` (also the import ID).
    pub id: Option<String>,
    /// `node`: node to create the VM on, checked against the cluster's
    /// nodes at plan time. Changing it replaces the VM.
    pub node: String,
    /// `vm_id`: VMID. When unset, the next free one is allocated (without
    /// races between parallel creates).
    pub vm_id: Option<i64>,
    /// `name`: VM name (a DNS name).
    pub name: Option<String>,
    /// `description`: description (notes).
    pub description: Option<String>,
    /// `tags`: tags. Proxmox VE sorts them; order never shows as a change.
    pub tags: Option<Vec<String>>,
    /// `pool`: resource pool the VM is a member of (the pool must exist).
    /// Changing it moves the VM in place. When unset, pool membership is
    /// not managed (a VM added to a pool elsewhere is left there).
    pub pool: Option<String>,
    /// `clone`: the source to clone instead of creating an empty VM.
    pub clone: Option<CloneModel>,
    /// `cpu`: CPU. Unset values are inherited (from the template, or
    /// Proxmox VE defaults).
    pub cpu: Option<CpuModel>,
    /// `memory`: memory.
    pub memory: Option<MemoryModel>,
    /// `disk`: disks keyed by slot (`scsi0`, `virtio1`, `sata0`, `ide0`).
    /// Unset on a clone: the template's disks are kept as they are. A slot
    /// removed from the map is detached and destroyed.
    pub disk: Option<BTreeMap<String, DiskModel>>,
    /// `network`: network devices keyed by slot (`net0`…`net31`). Unset on
    /// a clone: the template's NICs are kept.
    pub network: Option<BTreeMap<String, NetModel>>,
    /// `initialization`: cloud-init. When absent the VM's cloud-init
    /// settings are left alone.
    pub initialization: Option<InitModel>,
    /// `agent`: enable the QEMU guest agent. Default `true`.
    pub agent: Option<bool>,
    /// `started`: keep the VM running. Default `true`.
    pub started: Option<bool>,
    /// `on_boot`: start the VM when the node boots. Default `false`.
    pub on_boot: Option<bool>,
    /// `boot_order`: boot devices in order, e.g. `["scsi0", "net0"]`.
    pub boot_order: Option<Vec<String>>,
    /// `bios`: `seabios` or `ovmf` (UEFI; add `efi_disk`).
    pub bios: Option<String>,
    /// `machine`: machine type, e.g. `q35` or `pc`.
    pub machine: Option<String>,
    /// `efi_disk`: EFI vars disk (for `bios = "ovmf"`). Changing it
    /// replaces the VM.
    pub efi_disk: Option<EfiModel>,
    /// `template`: make the VM a template (converted after creation; a
    /// template cannot become a VM again, so `false` after `true` replaces
    /// it). Default `false`.
    pub template: Option<bool>,
    /// `reboot_after_update`: reboot a running VM when, after an update,
    /// changes are pending (values Proxmox VE applies only at the next
    /// start). When `false`, a warning lists the pending keys. Only used by
    /// updates. Default `false`.
    pub reboot_after_update: Option<bool>,
    /// `wait_for_ip_seconds`: on create only, how long to wait for the
    /// guest agent to report an IP address (`0`: don't wait). Refresh never
    /// waits. Default 60.
    pub wait_for_ip_seconds: Option<i64>,
    /// `ipv4_addresses` (computed): IPv4 addresses the guest agent reported
    /// when the VM was created.
    pub ipv4_addresses: Option<Vec<String>>,
    /// `ipv6_addresses` (computed): IPv6 addresses the guest agent reported
    /// when the VM was created.
    pub ipv6_addresses: Option<Vec<String>>,
}

impl VmModel {
    pub(super) fn vmid(&self) -> Result<i64> {
        self.vm_id.ok_or_else(|| {
            Error::msg("the VM has no vm_id in state").at(AttributePath::attr("vm_id"))
        })
    }
    pub(super) fn started(&self) -> bool {
        self.started.unwrap_or(true) && !self.template.unwrap_or(false)
    }
}

pub(super) fn flag(cfg: &VmConfig, k: &str) -> bool {
    cfg.get(k)
        .is_some_and(|v| matches!(v, "1" | "on" | "yes" | "true"))
}

/// Fill `m` from the VM's config and status.
pub fn fill(m: &mut VmModel, cfg: &VmConfig, st: Option<&VmStatus>) {
    let vmid = m.vm_id.unwrap_or_default();
    m.id = Some(format!("{}/{vmid}", m.node));
    m.name = cfg.get("name").map(str::to_string);
    let desc = cfg.get("description").map(str::to_string);
    if m.description.as_deref().map(str::trim_end) != desc.as_deref().map(str::trim_end) {
        m.description = desc;
    }
    let tags = pveconf::parse_tags(cfg.get("tags").unwrap_or(""));
    let same_tags = m.tags.as_ref().is_some_and(|t| {
        let mut a: Vec<String> = t.iter().map(|x| x.to_ascii_lowercase()).collect();
        a.sort();
        a.dedup();
        a == tags
            .iter()
            .map(|x| x.to_ascii_lowercase())
            .collect::<Vec<_>>()
    });
    // No tags and none in state (an import, or unset in configuration):
    // stay null, so generated configuration does not write `tags = []`.
    let stays_null = tags.is_empty() && m.tags.is_none();
    if !same_tags && !stays_null {
        m.tags = Some(tags);
    }
    m.cpu = Some(CpuModel {
        cores: Some(cfg.get("cores").and_then(|v| v.parse().ok()).unwrap_or(1)),
        sockets: Some(cfg.get("sockets").and_then(|v| v.parse().ok()).unwrap_or(1)),
        kind: cfg.get("cpu").and_then(pveconf::cpu_type),
    });
    m.memory = Some(MemoryModel {
        dedicated: Some(
            cfg.get("memory")
                .and_then(pveconf::parse_memory)
                .unwrap_or(512),
        ),
        balloon: cfg.get("balloon").and_then(|v| v.parse().ok()),
    });
    m.disk = Disks::fill(m.disk.take(), cfg);
    m.network = Nics::fill(m.network.take(), cfg);
    m.initialization = CloudInit::fill(m.initialization.take(), cfg);
    m.agent = Some(cfg.get("agent").is_some_and(pveconf::agent_enabled));
    if let Some(st) = st {
        m.started = Some(st.status == "running");
    }
    m.on_boot = Some(flag(cfg, "onboot"));
    m.boot_order = Some(cfg.get("boot").map(pveconf::parse_boot).unwrap_or_default());
    m.bios = Some(cfg.get("bios").unwrap_or("seabios").to_string());
    m.machine = cfg.get("machine").map(str::to_string);
    m.efi_disk = cfg.get("efidisk0").map(|v| {
        let d = Disk::parse(v);
        EfiModel {
            storage: d.storage().unwrap_or_default().to_string(),
            kind: Some(d.props.get("efitype").unwrap_or("2m").to_string()),
            pre_enrolled_keys: Some(d.props.flag("pre-enrolled-keys")),
        }
    });
    m.template = Some(flag(cfg, "template"));
    m.reboot_after_update.get_or_insert(false);
    m.wait_for_ip_seconds.get_or_insert(60);
    m.ipv4_addresses.get_or_insert_with(Vec::new);
    m.ipv6_addresses.get_or_insert_with(Vec::new);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::vm::testing::cfg;

    /// No tags stay null (an import writes no `tags = []`); tags read back
    /// once the VM has some, and `[]` configured stays `[]`.
    #[test]
    fn no_tags_stay_null() {
        let mut m = VmModel {
            node: "pve1".into(),
            vm_id: Some(101),
            ..VmModel::default()
        };
        fill(&mut m, &cfg(&[("name", "web01")]), None);
        assert_eq!(m.tags, None);
        fill(&mut m, &cfg(&[("tags", "web;prod")]), None);
        assert_eq!(m.tags, Some(vec!["prod".to_string(), "web".to_string()]));
        fill(&mut m, &cfg(&[]), None);
        assert_eq!(m.tags, Some(Vec::new()));
    }
}

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

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CloneModel {
    pub vm_id: i64,
    pub node: Option<String>,
    pub full: Option<bool>,
    pub target_storage: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuModel {
    pub cores: Option<i64>,
    pub sockets: Option<i64>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryModel {
    pub dedicated: Option<i64>,
    pub balloon: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EfiModel {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub pre_enrolled_keys: Option<bool>,
}

/// One VM.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmModel {
    pub id: Option<String>,
    pub node: String,
    pub vm_id: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub pool: Option<String>,
    pub clone: Option<CloneModel>,
    pub cpu: Option<CpuModel>,
    pub memory: Option<MemoryModel>,
    pub disk: Option<BTreeMap<String, DiskModel>>,
    pub network: Option<BTreeMap<String, NetModel>>,
    pub initialization: Option<InitModel>,
    pub agent: Option<bool>,
    pub started: Option<bool>,
    pub on_boot: Option<bool>,
    pub boot_order: Option<Vec<String>>,
    pub bios: Option<String>,
    pub machine: Option<String>,
    pub efi_disk: Option<EfiModel>,
    pub template: Option<bool>,
    pub reboot_after_update: Option<bool>,
    pub wait_for_ip_seconds: Option<i64>,
    pub ipv4_addresses: Option<Vec<String>>,
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
    if !same_tags {
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

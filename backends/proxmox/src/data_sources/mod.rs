//! Data sources: `homelab_proxmox_nodes` ([`nodes`]), `homelab_proxmox_vm`
//! by id or name ([`vm`]) and `homelab_proxmox_vms` by tags and/or name
//! regex ([`vms`]).

pub mod nodes;
pub mod vm;
pub mod vms;

pub use nodes::Nodes;
pub use vm::VmData;
pub use vms::Vms;

use serde::{Deserialize, Serialize};

use crate::client::ClusterVm;
use crate::pveconf;

/// One VM as the data sources describe it (from the cluster list): an
/// element of `homelab_proxmox_vms`' `vms`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmInfo {
    /// `node`: node.
    pub node: String,
    /// `vm_id`: VMID.
    pub vm_id: i64,
    /// `name`: name.
    pub name: Option<String>,
    /// `tags`: tags, sorted.
    pub tags: Vec<String>,
    /// `status`: status, as the cluster list shows it.
    pub status: Option<String>,
    /// `template`: whether it is a template.
    pub template: bool,
}

pub(crate) fn info(v: &ClusterVm) -> Option<VmInfo> {
    Some(VmInfo {
        node: v.node.clone(),
        vm_id: v.id()?,
        name: v.name.clone(),
        tags: pveconf::parse_tags(v.tags.as_deref().unwrap_or("")),
        status: v.status.clone(),
        template: v.is_template(),
    })
}

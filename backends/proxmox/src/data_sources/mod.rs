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

/// One VM as the data sources describe it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmInfo {
    pub node: String,
    pub vm_id: i64,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub status: Option<String>,
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

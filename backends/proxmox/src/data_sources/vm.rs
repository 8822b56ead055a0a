//! `homelab_proxmox_vm`: one VM (or template), by `vm_id` or unique `name`.

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Schema, validators};
use labforge_framework::{AttributePath, Ctx, DataSource, Diagnostics, Error, Result, Type, Value};
use serde::{Deserialize, Serialize};

use super::{VmInfo, info};
use crate::Client;
use crate::pveconf::{self, Net};

/// The data source.
#[derive(Debug, Clone, Copy, Default)]
pub struct VmData;

/// The state model of the `homelab_proxmox_vm` data source: one VM (or
/// template), found by `vm_id` or by `name` (which must be unique).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmDataModel {
    /// `node`: node; limits the search when set.
    pub node: Option<String>,
    /// `vm_id`: VMID to look up.
    pub vm_id: Option<i64>,
    /// `name`: name to look up.
    pub name: Option<String>,
    /// `tags` (computed): tags.
    pub tags: Option<Vec<String>>,
    /// `status` (computed): `running` or `stopped`.
    pub status: Option<String>,
    /// `template` (computed): whether it is a template.
    pub template: Option<bool>,
    /// `cores` (computed): cores per socket.
    pub cores: Option<i64>,
    /// `memory` (computed): memory in MiB.
    pub memory: Option<i64>,
    /// `mac_addresses` (computed): MAC address per NIC slot.
    pub mac_addresses: Option<BTreeMap<String, String>>,
}

impl DataSource for VmData {
    type Client = Client;
    type Model = VmDataModel;
    const NAME: &'static str = "proxmox_vm";

    fn schema(&self) -> Schema {
        Schema::new("One VM (or template), found by `vm_id` or by `name` (which must be unique).")
            .attribute(
                "vm_id",
                Attribute::int()
                    .optional()
                    .computed()
                    .describe("VMID to look up.")
                    .validator(validators::between(100, 999_999_999)),
            )
            .attribute(
                "name",
                Attribute::string()
                    .optional()
                    .computed()
                    .describe("Name to look up."),
            )
            .attribute(
                "node",
                Attribute::string()
                    .optional()
                    .computed()
                    .describe("Node; limits the search when set."),
            )
            .attribute(
                "tags",
                Attribute::set(Type::String).computed().describe("Tags."),
            )
            .attribute(
                "status",
                Attribute::string()
                    .computed()
                    .describe("`running` or `stopped`."),
            )
            .attribute(
                "template",
                Attribute::bool()
                    .computed()
                    .describe("Whether it is a template."),
            )
            .attribute(
                "cores",
                Attribute::int().computed().describe("Cores per socket."),
            )
            .attribute(
                "memory",
                Attribute::int().computed().describe("Memory in MiB."),
            )
            .attribute(
                "mac_addresses",
                Attribute::map(Type::String)
                    .computed()
                    .describe("MAC address per NIC slot."),
            )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let null = |k: &str| config.get(k).is_none_or(Value::is_null);
        if null("vm_id") && null("name") {
            d.attribute_error(
                AttributePath::attr("vm_id"),
                "Nothing to look up",
                "vm_id: set `vm_id` or `name`.",
            );
        }
        d
    }

    async fn read(&self, ctx: &Ctx<Client>, config: VmDataModel) -> Result<VmDataModel> {
        let c = ctx.client();
        let list = c
            .cluster_vms()
            .await
            .map_err(|e| Error::msg(format!("listing VMs: {e}")))?;
        let found: Vec<VmInfo> = list
            .iter()
            .filter_map(info)
            .filter(|v| config.vm_id.is_none_or(|id| id == v.vm_id))
            .filter(|v| {
                config
                    .name
                    .as_ref()
                    .is_none_or(|n| v.name.as_ref() == Some(n))
            })
            .filter(|v| config.node.as_ref().is_none_or(|n| &v.node == n))
            .collect();
        let v = match found.as_slice() {
            [one] => one.clone(),
            [] => match (config.vm_id, &config.node) {
                // The cluster list lags: ask the node directly.
                (Some(id), Some(node)) => VmInfo {
                    node: node.clone(),
                    vm_id: id,
                    ..VmInfo::default()
                },
                _ => {
                    return Err(Error::new(
                        "VM not found",
                        format!(
                            "no VM matches vm_id {:?} name {:?}",
                            config.vm_id, config.name
                        ),
                    ));
                }
            },
            many => {
                return Err(Error::new(
                    "More than one VM matches",
                    format!(
                        "{} VMs match (VMIDs {}); look up by vm_id instead.",
                        many.len(),
                        many.iter()
                            .map(|v| v.vm_id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        let cfg = c
            .vm_config(&v.node, v.vm_id)
            .await
            .map_err(|e| Error::msg(format!("reading VM {}: {e}", v.vm_id)))?
            .ok_or_else(|| {
                Error::new(
                    "VM not found",
                    format!("VM {} does not exist on {}", v.vm_id, v.node),
                )
            })?;
        let st = c
            .vm_status(&v.node, v.vm_id)
            .await
            .map_err(|e| Error::msg(format!("reading VM {}: {e}", v.vm_id)))?;
        let macs = cfg
            .keys
            .iter()
            .filter(|(k, _)| pveconf::is_net_slot(k))
            .filter_map(|(k, val)| Net::parse(val).mac.map(|m| (k.clone(), m)))
            .collect();
        Ok(VmDataModel {
            node: Some(v.node.clone()),
            vm_id: Some(v.vm_id),
            name: cfg.get("name").map(str::to_string),
            tags: Some(pveconf::parse_tags(cfg.get("tags").unwrap_or(""))),
            status: st.map(|s| s.status),
            template: Some(cfg.get("template") == Some("1")),
            cores: Some(cfg.get("cores").and_then(|x| x.parse().ok()).unwrap_or(1)),
            memory: Some(
                cfg.get("memory")
                    .and_then(pveconf::parse_memory)
                    .unwrap_or(512),
            ),
            mac_addresses: Some(macs),
        })
    }
}

//! Data sources: `homelab_proxmox_nodes`, `homelab_proxmox_vm` (by id or
//! name) and `homelab_proxmox_vms` (by tags and/or name regex).

use std::collections::BTreeMap;

use crate::Client;
use labforge_framework::schema::{Attribute, Nesting, Schema, Validator, validators};
use labforge_framework::{AttributePath, Ctx, DataSource, Diagnostics, Error, Result, Type, Value};
use serde::{Deserialize, Serialize};

use crate::client::{ClusterVm, num};
use crate::pveconf::{self, Net};

#[derive(Debug, Clone, Copy, Default)]
pub struct Nodes;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeModel {
    pub name: String,
    pub online: bool,
    pub cpus: Option<i64>,
    pub memory: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodesModel {
    pub names: Option<Vec<String>>,
    pub nodes: Option<Vec<NodeModel>>,
}

impl DataSource for Nodes {
    type Client = Client;
    type Model = NodesModel;
    const NAME: &'static str = "proxmox_nodes";

    fn schema(&self) -> Schema {
        Schema::new("The nodes of the Proxmox VE cluster.")
            .attribute(
                "names",
                Attribute::list(Type::String)
                    .computed()
                    .describe("Node names, sorted."),
            )
            .attribute(
                "nodes",
                Attribute::nested(
                    Nesting::List,
                    [
                        (
                            "name",
                            Attribute::string().computed().describe("Node name."),
                        ),
                        (
                            "online",
                            Attribute::bool()
                                .computed()
                                .describe("Whether the node is online."),
                        ),
                        ("cpus", Attribute::int().computed().describe("CPU threads.")),
                        (
                            "memory",
                            Attribute::int().computed().describe("Memory in bytes."),
                        ),
                    ],
                )
                .computed()
                .describe("The nodes, sorted by name."),
            )
    }

    async fn read(&self, ctx: &Ctx<Client>, _config: NodesModel) -> Result<NodesModel> {
        let c = ctx.client();
        let list = c
            .nodes()
            .await
            .map_err(|e| Error::msg(format!("listing nodes: {e}")))?;
        let mut nodes: Vec<NodeModel> = list
            .iter()
            .map(|n| NodeModel {
                name: n.node.clone(),
                online: n.status.as_deref() == Some("online"),
                cpus: num(&n.maxcpu),
                memory: num(&n.maxmem),
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(NodesModel {
            names: Some(nodes.iter().map(|n| n.name.clone()).collect()),
            nodes: Some(nodes),
        })
    }
}

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

fn info(v: &ClusterVm) -> Option<VmInfo> {
    Some(VmInfo {
        node: v.node.clone(),
        vm_id: v.id()?,
        name: v.name.clone(),
        tags: pveconf::parse_tags(v.tags.as_deref().unwrap_or("")),
        status: v.status.clone(),
        template: v.is_template(),
    })
}

#[derive(Debug, Clone, Copy, Default)]
pub struct VmData;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmDataModel {
    pub node: Option<String>,
    pub vm_id: Option<i64>,
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub status: Option<String>,
    pub template: Option<bool>,
    pub cores: Option<i64>,
    pub memory: Option<i64>,
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

#[derive(Debug, Clone, Copy, Default)]
pub struct Vms;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmsModel {
    pub node: Option<String>,
    pub tags: Option<Vec<String>>,
    pub name_regex: Option<String>,
    pub template: Option<bool>,
    pub vms: Option<Vec<VmInfo>>,
}

/// `pattern` matches `s` (unanchored), using the framework's regex validator.
fn regex_matches(pattern: &str, s: &str) -> Result<bool> {
    let v = validators::matches(pattern, "x");
    let mut d = Diagnostics::new();
    v.validate(
        &AttributePath::attr("name_regex"),
        &Value::string(s),
        &mut d,
    );
    if d.iter().any(|x| x.detail.contains("pattern is invalid")) {
        return Err(Error::msg(format!(
            "name_regex: {pattern:?} is not a valid regular expression"
        ))
        .at(AttributePath::attr("name_regex")));
    }
    Ok(d.is_empty())
}

impl DataSource for Vms {
    type Client = Client;
    type Model = VmsModel;
    const NAME: &'static str = "proxmox_vms";

    fn schema(&self) -> Schema {
        Schema::new(
            "VMs matching all the given filters, sorted by VMID (one cluster-wide request). The \
             list comes from the cluster status and may lag a few seconds behind changes.",
        )
        .attribute(
            "node",
            Attribute::string()
                .optional()
                .describe("Only VMs on this node."),
        )
        .attribute(
            "tags",
            Attribute::set(Type::String)
                .optional()
                .describe("Only VMs having all these tags."),
        )
        .attribute(
            "name_regex",
            Attribute::string()
                .optional()
                .describe("Only VMs whose name matches this regular expression."),
        )
        .attribute(
            "template",
            Attribute::bool()
                .optional()
                .describe("Only templates (`true`) or only VMs (`false`)."),
        )
        .attribute(
            "vms",
            Attribute::nested(
                Nesting::List,
                [
                    ("node", Attribute::string().computed().describe("Node.")),
                    ("vm_id", Attribute::int().computed().describe("VMID.")),
                    ("name", Attribute::string().computed().describe("Name.")),
                    (
                        "tags",
                        Attribute::list(Type::String)
                            .computed()
                            .describe("Tags, sorted."),
                    ),
                    ("status", Attribute::string().computed().describe("Status.")),
                    (
                        "template",
                        Attribute::bool()
                            .computed()
                            .describe("Whether it is a template."),
                    ),
                ],
            )
            .computed()
            .describe("The matching VMs."),
        )
    }

    async fn read(&self, ctx: &Ctx<Client>, mut config: VmsModel) -> Result<VmsModel> {
        let c = ctx.client();
        let list = c
            .cluster_vms()
            .await
            .map_err(|e| Error::msg(format!("listing VMs: {e}")))?;
        let want: Vec<String> = config
            .tags
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect();
        let mut out = Vec::new();
        for v in list.iter().filter_map(info) {
            if config.node.as_ref().is_some_and(|n| &v.node != n)
                || config.template.is_some_and(|t| t != v.template)
                || !want
                    .iter()
                    .all(|t| v.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
            {
                continue;
            }
            if let Some(re) = &config.name_regex
                && !regex_matches(re, v.name.as_deref().unwrap_or(""))?
            {
                continue;
            }
            out.push(v);
        }
        out.sort_by_key(|v| v.vm_id);
        config.vms = Some(out);
        Ok(config)
    }
}

//! `homelab_proxmox_nodes`: the nodes of the cluster.

use labforge_framework::schema::{Attribute, Nesting, Schema};
use labforge_framework::{Ctx, DataSource, Error, Result, Type};
use serde::{Deserialize, Serialize};

use crate::Client;
use crate::client::num;

/// The data source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nodes;

/// One node: an element of `nodes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeModel {
    /// `name`: node name.
    pub name: String,
    /// `online`: whether the node is online.
    pub online: bool,
    /// `cpus`: CPU threads.
    pub cpus: Option<i64>,
    /// `memory`: memory in bytes.
    pub memory: Option<i64>,
}

/// The state model of `homelab_proxmox_nodes`: the nodes of the Proxmox VE
/// cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodesModel {
    /// `names` (computed): node names, sorted.
    pub names: Option<Vec<String>>,
    /// `nodes` (computed): the nodes, sorted by name.
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

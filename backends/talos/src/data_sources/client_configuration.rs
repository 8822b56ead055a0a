//! Data source `homelab_talos_client_configuration`: a talosconfig (the
//! file `talosctl` reads) for the admin client configuration of
//! `homelab_talos_machine_secrets`. Pure: nothing is contacted.
//!
//! Attributes follow siderolabs/terraform-provider-talos
//! (`pkg/talos/talos_client_configuration_data_source.go`).

use labforge_framework::schema::{Attribute, Schema, validators};
use labforge_framework::{Ctx, DataSource, Result, Type};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::resources::machine_secrets::ClientConfigurationModel;
use crate::resources::secrets_schema::client_configuration_attr;
use crate::secrets;

/// The data source.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientConfiguration;

/// Configuration and result. No `Debug`: it holds secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClientConfigurationDataModel {
    /// The context's name in the talosconfig.
    pub cluster_name: String,
    /// The admin credentials, from `homelab_talos_machine_secrets`.
    pub client_configuration: ClientConfigurationModel,
    /// Endpoints `talosctl` talks to.
    pub endpoints: Option<Vec<String>>,
    /// Default target nodes.
    pub nodes: Option<Vec<String>>,
    /// The talosconfig (computed).
    pub talos_config: Option<String>,
}

impl DataSource for ClientConfiguration {
    type Client = Client;
    type Model = ClientConfigurationDataModel;
    const NAME: &'static str = "talos_client_configuration";

    fn schema(&self) -> Schema {
        Schema::new(
            "A talosconfig (the YAML file `talosctl` reads, e.g. `~/.talos/config`) holding the \
             admin client configuration of `homelab_talos_machine_secrets`, with one context named \
             after the cluster. Nothing is contacted.",
        )
        .attribute(
            "cluster_name",
            Attribute::string()
                .required()
                .describe("Cluster name: the talosconfig context's name.")
                .validator(validators::length_between(1, 253)),
        )
        .attribute(
            "client_configuration",
            client_configuration_attr(
                true,
                "The admin credentials: `homelab_talos_machine_secrets.<name>.client_configuration`.",
            ),
        )
        .attribute(
            "endpoints",
            Attribute::list(Type::String).optional().describe(
                "Talos API endpoints `talosctl` connects to (usually the control plane nodes), \
                 e.g. `[\"10.0.0.11\"]`.",
            ),
        )
        .attribute(
            "nodes",
            Attribute::list(Type::String)
                .optional()
                .describe("Nodes `talosctl` targets when `-n` is not given."),
        )
        .attribute(
            "talos_config",
            Attribute::string()
                .computed()
                .sensitive()
                .describe("The talosconfig (YAML)."),
        )
    }

    async fn read(
        &self,
        _ctx: &Ctx<Client>,
        config: ClientConfigurationDataModel,
    ) -> Result<ClientConfigurationDataModel> {
        let cc = config.client_configuration.to_client_configuration();
        let text = secrets::talosconfig(
            &config.cluster_name,
            &cc,
            config.endpoints.as_deref().unwrap_or_default(),
            config.nodes.as_deref().unwrap_or_default(),
        );
        Ok(ClientConfigurationDataModel {
            talos_config: Some(text),
            ..config
        })
    }
}

//! # labforge-talos: Talos Linux
//!
//! Machine secrets, machine configurations, and the Talos API. Start at
//! [`Talos`], the [`Backend`] the provider registers; then
//! [`resources::machine_secrets`] (the secrets bundle every other type
//! uses) and [`data_sources::machine_configuration`].
//!
//! - [`secrets`]: the secrets bundle as `talosctl gen secrets` makes it, and
//!   admin client configurations (talosconfig).
//! - [`config`]: machine configurations per Talos version contract, and
//!   config patches (strategic merge, JSON6902).
//! - [`client`]: the Talos API client (gRPC over TLS, port 50000).
//! - [`resources`], [`data_sources`], [`ephemeral`]: the `homelab_talos_*` types.
//!
//! ## The `talos` block
//!
//! As in siderolabs/terraform-provider-talos, every Talos resource carries
//! its own `client_configuration` (a cluster's credentials come from its
//! `homelab_talos_machine_secrets`, often made in the same apply), so the
//! provider block has nothing to say: `talos {}` takes no attributes and
//! reads no environment variables, and the backend is configured with or
//! without it. (A talosconfig path was considered and left out: the
//! credentials a resource uses should be visible in its configuration.)
//!
//! Only discovery ([`discover`]: `homelab-discover` and the
//! `homelab_talos_inventory` data source) reads `TALOSCONFIG`, as talosctl
//! does: which nodes to probe and the client certificate to read them with.

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod config;
pub mod data_sources;
pub mod discover;
pub mod ephemeral;
pub mod resources;
pub mod secrets;
pub mod talosconfig;

use labforge_framework::schema::Schema;
use labforge_framework::{Backend, Env, Registry, Result};
use serde::Deserialize;

/// The `talos` provider block: no attributes (see the crate docs).
#[derive(Debug, Default, Deserialize)]
pub struct Block {}

/// The Talos backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Talos;

impl Backend for Talos {
    const BLOCK: &'static str = "talos";
    const CONFIGURED_BY: &'static str = "nothing (the talos backend is always configured)";
    const ENV: &'static [&'static str] = &["TALOSCONFIG"];
    const INVENTORY: &'static str = "talos_inventory";
    const FILTERS: &'static [(&'static str, &'static str)] = &[
        ("node", "Talos node address (host or host:port) to probe"),
        (
            "secrets",
            "path of the cluster's secrets file (`talosctl gen secrets`) to import as \
             homelab_talos_machine_secrets",
        ),
    ];
    type Client = client::Client;
    type Block = Block;

    fn schema(&self) -> Schema {
        Schema::new(
            "Talos Linux. Takes no settings and may be left out: each Talos resource carries its \
             own `client_configuration` (from `homelab_talos_machine_secrets`), as in \
             siderolabs/talos.",
        )
    }

    fn configure(&self, _block: Option<Block>, env: &Env) -> Result<Option<client::Client>> {
        Ok(Some(
            client::Client::default().with_talosconfig(env.get("TALOSCONFIG").map(Into::into)),
        ))
    }

    async fn discover(
        &self,
        client: &client::Client,
        filter: &labforge_framework::discover::Filter,
    ) -> Result<labforge_framework::discover::Inventory> {
        discover::discover(client, filter).await
    }

    fn register(&self, r: Registry<client::Client>) -> Registry<client::Client> {
        r.resource(resources::MachineSecrets)
            .resource(resources::MachineConfigurationApply)
            .resource(resources::MachineBootstrap)
            .resource(resources::ClusterKubeconfig)
            .ephemeral(ephemeral::ClusterKubeconfigEphemeral)
            .data_source(data_sources::MachineConfiguration)
            .data_source(data_sources::ClientConfiguration)
            .ephemeral(ephemeral::MachineConfiguration)
            .data_source(labforge_framework::discover::InventoryDataSource::new(
                *self, "homelab",
            ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configured_with_or_without_a_block() {
        assert!(Talos.configure(None, &Env::default()).unwrap().is_some());
        assert!(
            Talos
                .configure(Some(Block::default()), &Env::default())
                .unwrap()
                .is_some()
        );
        assert!(Talos.schema().attributes.is_empty());
    }
}

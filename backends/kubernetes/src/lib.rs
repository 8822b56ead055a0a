//! # labforge-kubernetes: MetalLB over the Kubernetes API
//!
//! The `kubernetes` provider block and everything behind it. Start at
//! [`Kubernetes`], the [`Backend`] the provider registers.
//!
//! - [`client`] is a small typed Kubernetes client on `labforge-http`
//!   (reqwest + rustls, already built for every backend, so it adds no
//!   crate): `GET`, server-side apply with the field manager
//!   `labforge-homelab`, `DELETE`, and the apiserver's `Status` errors.
//! - [`connection`]: the provider block and each resource's own `kubernetes`
//!   block (same settings, same parsing), and [`Connections`], the clients
//!   the resources use (one per distinct connection, cached).
//! - [`kubeconfig`] reads a kubeconfig (YAML or JSON) for `config_path` /
//!   `config_raw`.
//! - [`resources`] holds the `homelab_metallb_*` resources.
//! - `discover` lists the MetalLB objects a cluster holds, for
//!   `homelab-discover` and the `homelab_kubernetes_inventory` data source.
//!
//! The block's settings and environment variables follow the hashicorp
//! `kubernetes` provider (`KUBE_HOST`, `KUBE_TOKEN`, `KUBE_CONFIG_PATH`,
//! `KUBE_CTX`, ...).

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod connection;
mod discover;
pub mod kubeconfig;
pub mod net;
pub mod resources;

use labforge_framework::discover::{Filter, Inventory, InventoryDataSource};
use labforge_framework::schema::Schema;
use labforge_framework::{Backend, Env, Registry, Result};

pub use client::{Client, Settings};
use connection::Source;
pub use connection::{Block, Connection, Connections};

/// The Kubernetes backend (MetalLB resources).
#[derive(Debug, Clone, Copy, Default)]
pub struct Kubernetes;

impl Backend for Kubernetes {
    const BLOCK: &'static str = connection::BLOCK;
    const CONFIGURED_BY: &'static str = connection::CONFIGURED_BY;
    const ENV: &'static [&'static str] = &[
        "KUBE_HOST",
        "KUBE_TOKEN",
        "KUBE_CLIENT_CERT_DATA",
        "KUBE_CLIENT_KEY_DATA",
        "KUBE_CLUSTER_CA_CERT_DATA",
        "KUBE_INSECURE",
        "KUBE_CONFIG_PATH",
        "KUBE_CTX",
    ];
    const INVENTORY: &'static str = "kubernetes_inventory";
    const FILTERS: &'static [(&'static str, &'static str)] =
        &[("namespace", "namespace of the MetalLB objects")];
    type Client = Connections;
    type Block = Block;

    fn schema(&self) -> Schema {
        use labforge_framework::backend::attrs::{insecure, secret, string, url};
        Schema::new(
            "Kubernetes API access, for the MetalLB resources. Give `host` with a `token` or a client certificate and key, or a \
             kubeconfig (`config_path` or `config_raw`, YAML or JSON) and optionally its `context`. The \
             environment variables are the hashicorp kubernetes provider's. Nothing is \
             contacted at plan for objects that do not exist yet.",
        )
        .attribute(
            "host",
            url(
                "API server URL, e.g. `https://10.0.0.10:6443`.",
                "KUBE_HOST",
            ),
        )
        .attribute("token", secret("Bearer token.", "KUBE_TOKEN"))
        .attribute(
            "client_certificate",
            string(
                "PEM client certificate, for mutual TLS (with `client_key`).",
                "KUBE_CLIENT_CERT_DATA",
            ),
        )
        .attribute(
            "client_key",
            secret(
                "PEM private key of `client_certificate`.",
                "KUBE_CLIENT_KEY_DATA",
            ),
        )
        .attribute(
            "cluster_ca_certificate",
            string(
                "PEM CA certificate of the cluster.",
                "KUBE_CLUSTER_CA_CERT_DATA",
            ),
        )
        .attribute("insecure", insecure("KUBE_INSECURE"))
        .attribute(
            "config_path",
            string("Path of a kubeconfig file (YAML or JSON).", "KUBE_CONFIG_PATH"),
        )
        .attribute(
            "config_raw",
            labforge_framework::schema::Attribute::string()
                .optional()
                .sensitive()
                .describe(
                    "A kubeconfig's text (YAML or JSON), e.g. from a cluster made in the same apply.",
                ),
        )
        .attribute(
            "context",
            string(
                "The kubeconfig context to use (default: its `current-context`).",
                "KUBE_CTX",
            ),
        )
    }

    fn configure(&self, block: Option<Block>, env: &Env) -> Result<Option<Connections>> {
        Ok(connection::build(block, env, Source::Provider)?.map(|c| Connections::new(Some(c))))
    }

    /// Without the block, resources may still bring their own `kubernetes` block.
    fn unconfigured(&self) -> Option<Connections> {
        Some(Connections::new(None))
    }

    fn register(&self, r: Registry<Connections>) -> Registry<Connections> {
        r.resource(resources::IpAddressPool)
            .resource(resources::L2Advertisement)
            .resource(resources::BgpAdvertisement)
            .resource(resources::BgpPeer)
            .resource(resources::Community)
            .data_source(InventoryDataSource::new(*self, "homelab"))
    }

    /// The MetalLB objects of the cluster (every namespace, or those of
    /// the `namespace` filter), through the provider block's connection.
    async fn discover(&self, client: &Connections, filter: &Filter) -> Result<Inventory> {
        discover::discover(client, filter).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configured_by_block_variables_or_kubeconfig() {
        let k = Kubernetes;
        assert!(k.configure(None, &Env::default()).unwrap().is_none());
        let env = Env::from_pairs([("KUBE_HOST", "https://k:6443"), ("KUBE_TOKEN", "t")]);
        let c = k.configure(None, &env).unwrap().unwrap();
        assert_eq!(c.resolve(None).unwrap().host(), "https://k:6443");
        let e = k
            .configure(Some(Block::default()), &Env::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("KUBE_HOST"), "{e}");
        let env = Env::from_pairs([("KUBE_HOST", "https://k:6443")]);
        let e = k.configure(None, &env).err().unwrap();
        assert!(e.to_string().contains("KUBE_TOKEN"), "{e}");
        let b = Block {
            config_raw: Some(
                r#"{"clusters":[{"name":"c","cluster":{"server":"https://a:6443"}}],
                "users":[{"name":"u","user":{"token":"x"}}],
                "contexts":[{"name":"ctx","context":{"cluster":"c","user":"u"}}],
                "current-context":"ctx"}"#
                    .into(),
            ),
            ..Block::default()
        };
        let c = k.configure(Some(b), &Env::default()).unwrap().unwrap();
        assert_eq!(c.resolve(None).unwrap().host(), "https://a:6443");
        let b = Block {
            host: Some("https://k".into()),
            client_certificate: Some("-----BEGIN CERTIFICATE-----".into()),
            ..Block::default()
        };
        let e = k.configure(Some(b), &Env::default()).err().unwrap();
        assert!(e.to_string().contains("needs its key"), "{e}");
        let b = Block {
            host: Some("https://k".into()),
            client_certificate: Some("not pem".into()),
            client_key: Some("not pem".into()),
            ..Block::default()
        };
        let e = k.configure(Some(b), &Env::default()).err().unwrap();
        assert!(e.to_string().contains("client certificate"), "{e}");
    }
}

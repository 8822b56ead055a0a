//! # labforge-proxmox: Proxmox VE
//!
//! The `proxmox` provider block and everything behind it. Start at
//! [`Proxmox`], the [`Backend`] the provider registers.
//!
//! - [`client`] holds the typed REST client (token or ticket auth, `{"data":…}`
//!   envelope, error classification, task polling with the "no such task"
//!   grace window, lock-error retries, race-free VMID allocation, per-template
//!   clone gates, cached cluster-wide lists).
//! - [`pveconf`] holds VM config key encodings and their normalisation (pure).
//! - [`resources`] holds `homelab_proxmox_vm`, `homelab_proxmox_download_file`.
//! - [`data_sources`] holds `homelab_proxmox_nodes`, `homelab_proxmox_vm`,
//!   `homelab_proxmox_vms`; `homelab_proxmox_inventory` is the framework's
//!   inventory data source over [`discover`].
//! - [`discover`] lists what the resources can import (`homelab-discover`).

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod data_sources;
pub mod discover;
pub mod pveconf;
pub mod resources;

use labforge_framework::backend::missing_setting;
use labforge_framework::discover::{Filter, Inventory, InventoryDataSource};
use labforge_framework::schema::Schema;
use labforge_framework::{Backend, Env, Error, Registry, Result};
use serde::Deserialize;

pub use client::Client;

/// The validator of a node name: Proxmox VE's `pve-node` format, a host
/// name label (pve-common `src/PVE/JSONSchema.pm`, `pve_verify_node_name`:
/// `^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`). Refuses `""` and typos
/// such as `"pve 1"` at validate; whether the node exists is checked at plan.
pub fn node_name() -> impl labforge_framework::schema::Validator {
    labforge_framework::schema::validators::matches(
        r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$",
        "a node name: letters, digits and `-`, not starting or ending with `-`",
    )
}
/// How to authenticate: an API token `user@realm!tokenid=secret`, or a
/// ticket login (`POST /access/ticket`).
pub use labforge_http::Auth;

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// API URL, e.g. `https://pve.lab:8006/`.
    pub endpoint: String,
    /// Token or ticket login.
    pub auth: Auth,
    /// PEM CA certificate to trust.
    pub ca_cert: Option<String>,
    /// Skip TLS verification.
    pub insecure: bool,
}

/// The `proxmox` provider block. No `Debug`: it holds secrets.
#[derive(Default, Deserialize)]
pub struct Block {
    endpoint: Option<String>,
    api_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    insecure: Option<bool>,
    ca_cert: Option<String>,
}

/// The Proxmox VE backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proxmox;

impl Backend for Proxmox {
    const BLOCK: &'static str = "proxmox";
    const CONFIGURED_BY: &'static str = "PROXMOX_VE_ENDPOINT and PROXMOX_VE_API_TOKEN";
    const ENV: &'static [&'static str] = &[
        "PROXMOX_VE_ENDPOINT",
        "PROXMOX_VE_API_TOKEN",
        "PROXMOX_VE_USERNAME",
        "PROXMOX_VE_PASSWORD",
        "PROXMOX_VE_INSECURE",
        "PROXMOX_VE_CA_CERT",
    ];
    const INVENTORY: &'static str = "proxmox_inventory";
    const FILTERS: &'static [(&'static str, &'static str)] = discover::FILTERS;
    type Client = Client;
    type Block = Block;

    fn schema(&self) -> Schema {
        use labforge_framework::backend::attrs::{insecure, secret, string, url};
        Schema::new("Proxmox VE API access.")
            .attribute(
                "endpoint",
                url(
                    "API URL, e.g. `https://pve.lab:8006/`.",
                    "PROXMOX_VE_ENDPOINT",
                ),
            )
            .attribute(
                "api_token",
                secret(
                    "API token `user@realm!tokenid=secret`.",
                    "PROXMOX_VE_API_TOKEN",
                ),
            )
            .attribute(
                "username",
                string(
                    "User for ticket authentication, e.g. `root@pam`.",
                    "PROXMOX_VE_USERNAME",
                ),
            )
            .attribute(
                "password",
                secret("Password for ticket authentication.", "PROXMOX_VE_PASSWORD"),
            )
            .attribute("insecure", insecure("PROXMOX_VE_INSECURE"))
            .attribute(
                "ca_cert",
                string("PEM CA certificate to trust.", "PROXMOX_VE_CA_CERT"),
            )
    }

    fn configure(&self, block: Option<Block>, env: &Env) -> Result<Option<Client>> {
        let configured = block.is_some();
        let b = block.unwrap_or_default();
        let Some(endpoint) = env.pick(b.endpoint.as_ref(), "PROXMOX_VE_ENDPOINT") else {
            if !configured {
                return Ok(None);
            }
            return Err(missing_setting(
                Self::BLOCK,
                "endpoint",
                "Set `endpoint` or PROXMOX_VE_ENDPOINT.",
            ));
        };
        let token = env.pick(b.api_token.as_ref(), "PROXMOX_VE_API_TOKEN");
        let username = env.pick(b.username.as_ref(), "PROXMOX_VE_USERNAME");
        let password = env.pick(b.password.as_ref(), "PROXMOX_VE_PASSWORD");
        let auth = Auth::token_or_login(token, username, password).ok_or_else(|| {
            missing_setting(
                Self::BLOCK,
                "api_token",
                "Set `api_token` (or PROXMOX_VE_API_TOKEN), or `username` and `password`.",
            )
        })?;
        let settings = Settings {
            endpoint,
            auth,
            ca_cert: env.pick(b.ca_cert.as_ref(), "PROXMOX_VE_CA_CERT"),
            insecure: b
                .insecure
                .or_else(|| env.flag("PROXMOX_VE_INSECURE"))
                .unwrap_or(false),
        };
        Client::new(settings)
            .map(Some)
            .map_err(|e| Error::new("Unable to configure Proxmox VE", e.to_string()))
    }

    fn register(&self, r: Registry<Client>) -> Registry<Client> {
        r.resource(resources::vm::Vm)
            .resource(resources::download_file::DownloadFile)
            .data_source(data_sources::Nodes)
            .data_source(data_sources::VmData)
            .data_source(data_sources::Vms)
            .data_source(InventoryDataSource::new(*self, "homelab"))
    }

    async fn discover(&self, client: &Client, filter: &Filter) -> Result<Inventory> {
        discover::discover(client, filter).await
    }
}

//! Proxmox VE: API client and resources.
//!
//! - [`client`] — the typed REST client (token or ticket auth, `{"data":…}`
//!   envelope, error classification, task polling with the "no such task"
//!   grace window, lock-error retries, race-free VMID allocation, per-template
//!   clone gates, cached cluster-wide lists).
//! - [`pveconf`] — VM config key encodings and their normalisation (pure).
//! - [`vm`] — `homelab_proxmox_vm`.
//! - [`download`] — `homelab_proxmox_download_file`.
//! - [`data`] — data sources `homelab_proxmox_nodes`, `homelab_proxmox_vm`,
//!   `homelab_proxmox_vms`.

pub mod client;
pub mod data;
pub mod download;
pub mod pveconf;
pub mod vm;

use labforge_framework::{Ctx, Registry, Result};

use crate::clients::Clients;

pub use client::Client;

/// How to authenticate: an API token `user@realm!tokenid=secret`, or a
/// ticket login (`POST /access/ticket`).
pub use crate::secret::Auth;

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: String,
    pub auth: Auth,
    pub ca_cert: Option<String>,
    pub insecure: bool,
}

pub(crate) fn client(ctx: &Ctx<Clients>) -> Result<&Client> {
    ctx.client().proxmox.get()
}

pub fn register(r: Registry<Clients>) -> Registry<Clients> {
    r.resource(vm::Vm)
        .resource(download::DownloadFile)
        .data_source(data::Nodes)
        .data_source(data::VmData)
        .data_source(data::Vms)
}

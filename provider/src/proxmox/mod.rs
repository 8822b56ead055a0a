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

/// How to authenticate.
#[derive(Clone)]
pub enum Auth {
    /// `user@realm!tokenid=secret`.
    Token(String),
    /// Ticket login (`POST /access/ticket`).
    Login { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(t) => {
                let id = t.split('=').next().unwrap_or_default();
                write!(f, "Token({id}=***)")
            }
            Auth::Login { username, .. } => write!(f, "Login({username}, ***)"),
        }
    }
}

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

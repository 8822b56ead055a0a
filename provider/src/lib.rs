//! # terraform-provider-homelab
//!
//! The `labforge/homelab` provider: one provider for a whole homelab.
//!
//! ## Where to start
//! - [`Homelab`]: the provider; [`config`] is its provider block (one
//!   optional block per backend, each with environment-variable fallbacks)
//!   and the only place that reads the environment.
//! - [`clients::Clients`]: what `configure` builds, one [`clients::Backend`]
//!   per backend; a resource whose backend is not configured gets a clear
//!   diagnostic naming the block and variables.
//! - [`http`]: the one HTTP stack every backend client shares (rustls,
//!   retries with backoff on 429/5xx/resets, Retry-After).
//! - One folder per backend, each with its API client and its resources:
//!   [`technitium`], [`cloudflare`].

pub mod clients;
pub mod config;
pub mod http;
pub mod secret;

pub mod cloudflare;
pub mod proxmox;
pub mod technitium;

use labforge_framework::{Provider, Registry, Result, Schema, Value};

/// The provider's source address.
pub const ADDRESS: &str = "registry.terraform.io/labforge/homelab";

/// The `homelab` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Homelab;

impl Provider for Homelab {
    type Client = clients::Clients;
    type Config = config::Config;
    const NAME: &'static str = "homelab";

    fn schema(&self) -> Schema {
        config::schema()
    }

    async fn configure(&self, config: config::Config, raw: &Value) -> Result<clients::Clients> {
        clients::Clients::configure(config, raw, &config::Env::from_process())
    }

    fn resources(&self) -> Registry<clients::Clients> {
        let r = Registry::new();
        let r = technitium::register(r);
        let r = proxmox::register(r);
        cloudflare::register(r)
    }
}

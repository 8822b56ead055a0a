//! # terraform-provider-homelab
//!
//! The `labforge/homelab` provider: one provider for a whole homelab. This
//! crate only combines the backends: each lives in its own crate under
//! `backends/` (its provider block, environment variables, API client,
//! resources and data sources), and the framework scopes each backend's
//! resources to its client.
//!
//! ## Where to start
//! - [`backends`]: the list of backends; adding one is one line here.
//! - [`Homelab`]: the provider the binary serves.
//! - [`discover`]: `homelab-discover`, which lists what already runs on each
//!   backend as `import` blocks and tidies the configuration Terraform
//!   generates for them.

pub mod discover;

use labforge_framework::{Backends, Clients, Env, Provider, Registry, Result, Schema, Value};

/// The provider's source address.
pub const ADDRESS: &str = "registry.terraform.io/labforge/homelab";

const DESCRIPTION: &str = "The `homelab` provider manages a whole homelab: Proxmox VE virtual \
    machines, Talos Linux clusters (machine secrets, machine configurations and the Talos API), \
    MikroTik RouterOS and pfSense firewall rules, MetalLB through the Kubernetes API, and \
    Technitium and Cloudflare DNS. \
    Configure only the backends you use; each block's attributes fall back to environment variables.";

/// Every backend of the provider, in the order the docs list their blocks.
pub fn backends() -> Backends {
    Backends::new()
        .with(labforge_proxmox::Proxmox)
        .with(labforge_talos::Talos)
        .with(labforge_technitium::Technitium)
        .with(labforge_cloudflare::Cloudflare)
        .with(labforge_routeros::Routeros)
        .with(labforge_pfsense::Pfsense)
        .with(labforge_kubernetes::Kubernetes)
}

/// The `homelab` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Homelab;

impl Provider for Homelab {
    type Client = Clients;
    type Config = serde::de::IgnoredAny;
    const NAME: &'static str = "homelab";

    fn schema(&self) -> Schema {
        backends().schema(DESCRIPTION)
    }

    async fn configure(&self, _: serde::de::IgnoredAny, raw: &Value) -> Result<Clients> {
        let backends = backends();
        let env = Env::from_process(backends.env_vars());
        backends.configure(raw, &env)
    }

    fn resources(&self) -> Registry<Clients> {
        backends().registry()
    }
}

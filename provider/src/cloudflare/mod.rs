//! Cloudflare DNS: API client and resources.
//!
//! TODO(dns): client, `homelab_cloudflare_dns_record`, data source `homelab_cloudflare_zone`.

use labforge_framework::{Registry, Result};

use crate::clients::Clients;

/// Connection settings, resolved from the provider block and environment.
#[derive(Clone)]
pub struct Settings {
    pub api_token: String,
    pub base_url: String,
    pub requests_per_second: f64,
    pub max_retries: u32,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("api_token", &"***")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// The Cloudflare API client.
#[derive(Debug)]
pub struct Client {
    pub settings: Settings,
}

impl Client {
    pub fn new(settings: Settings) -> Result<Self> {
        Ok(Self { settings })
    }
}

pub fn register(r: Registry<Clients>) -> Registry<Clients> {
    r
}

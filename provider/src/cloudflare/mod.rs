//! Cloudflare DNS: API client and resources.
//!
//! - [`client`] is the typed API v4 client (envelope, pagination, rate limit,
//!   retries, per-zone record cache for cheap refreshes).
//! - [`record::DnsRecord`] is `homelab_cloudflare_dns_record`.
//! - [`zone::Zone`] is the data source `homelab_cloudflare_zone`.
//! - [`normalize`] says how Cloudflare rewrites values (so they never show as diffs).

pub mod client;
pub mod normalize;
pub mod record;
pub mod zone;

use labforge_framework::Registry;

use crate::clients::Clients;
use crate::secret::Secret;

pub use client::Client;

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_token: Secret,
    pub base_url: String,
    pub requests_per_second: f64,
    pub max_retries: u32,
}

pub fn register(r: Registry<Clients>) -> Registry<Clients> {
    r.resource(record::DnsRecord).data_source(zone::Zone)
}

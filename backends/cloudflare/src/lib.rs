//! # labforge-cloudflare: Cloudflare DNS
//!
//! The `cloudflare` provider block and everything behind it. Start at
//! [`Cloudflare`], the [`Backend`] the provider registers.
//!
//! - [`client`] holds the typed API v4 client (envelope, pagination, rate limit,
//!   retries, per-zone record cache for cheap refreshes).
//! - [`normalize`] holds how Cloudflare rewrites values (so they never show as diffs).
//! - [`resources`] holds `homelab_cloudflare_dns_record`.
//! - [`data_sources`] holds `homelab_cloudflare_zone`.

pub mod client;
pub mod data_sources;
pub mod normalize;
pub mod resources;

use labforge_framework::backend::missing_setting;
use labforge_framework::schema::{Attribute, Schema, validators};
use labforge_framework::{Backend, Env, Error, Registry, Result};
use labforge_http::Secret;
use serde::Deserialize;

pub use client::Client;

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The API token.
    pub api_token: Secret,
    /// API base URL.
    pub base_url: String,
    /// Client-side rate limit.
    pub requests_per_second: f64,
    /// Retries on 429, 5xx and connection errors.
    pub max_retries: u32,
}

/// The `cloudflare` provider block. No `Debug`: it holds secrets.
#[derive(Default, Deserialize)]
pub struct Block {
    api_token: Option<String>,
    base_url: Option<String>,
    requests_per_second: Option<f64>,
    max_retries: Option<i64>,
}

/// The Cloudflare backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cloudflare;

impl Backend for Cloudflare {
    const BLOCK: &'static str = "cloudflare";
    const CONFIGURED_BY: &'static str = "CLOUDFLARE_API_TOKEN";
    const ENV: &'static [&'static str] = &["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_BASE_URL"];
    type Client = Client;
    type Block = Block;

    fn schema(&self) -> Schema {
        use labforge_framework::backend::attrs::{secret, url};
        Schema::new("Cloudflare API access.")
            .attribute("api_token", secret("API token.", "CLOUDFLARE_API_TOKEN"))
            .attribute(
                "base_url",
                url(
                    "API base URL. Default `https://api.cloudflare.com/client/v4`.",
                    "CLOUDFLARE_BASE_URL",
                ),
            )
            .attribute(
                "requests_per_second",
                Attribute::number()
                    .optional()
                    .describe(
                        "Client-side rate limit. Default 4 (Cloudflare allows 1200 per 5 minutes).",
                    )
                    .validator(validators::from_fn("Between 0.01 and 1000.", |v| {
                        match v.as_number() {
                            Some(n) if (0.01..=1000.0).contains(&n.as_f64()) => Ok(()),
                            Some(n) => Err(format!(
                                "must be between 0.01 and 1000 requests a second, got {n}"
                            )),
                            None => Ok(()),
                        }
                    })),
            )
            .attribute(
                "max_retries",
                Attribute::int()
                    .optional()
                    .describe("Retries on 429, 5xx and connection errors. Default 4.")
                    .validator(validators::between(0, 20)),
            )
    }

    fn configure(&self, block: Option<Block>, env: &Env) -> Result<Option<Client>> {
        let configured = block.is_some();
        let b = block.unwrap_or_default();
        let Some(api_token) = env.pick(b.api_token.as_ref(), "CLOUDFLARE_API_TOKEN") else {
            if !configured {
                return Ok(None);
            }
            return Err(missing_setting(
                Self::BLOCK,
                "api_token",
                "Set `api_token` or CLOUDFLARE_API_TOKEN.",
            ));
        };
        let settings = Settings {
            api_token: api_token.into(),
            base_url: env
                .pick(b.base_url.as_ref(), "CLOUDFLARE_BASE_URL")
                .unwrap_or_else(|| "https://api.cloudflare.com/client/v4".to_string()),
            requests_per_second: b.requests_per_second.unwrap_or(4.0),
            max_retries: b
                .max_retries
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(4),
        };
        Client::new(settings)
            .map(Some)
            .map_err(|e| Error::new("Unable to configure Cloudflare", e.to_string()))
    }

    fn register(&self, r: Registry<Client>) -> Registry<Client> {
        r.resource(resources::record::DnsRecord)
            .data_source(data_sources::zone::Zone)
    }
}

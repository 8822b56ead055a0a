//! # labforge-cloudflare: Cloudflare DNS
//!
//! The `cloudflare` provider block and everything behind it. Start at
//! [`Cloudflare`], the [`Backend`] the provider registers.
//!
//! - [`client`] holds the typed API v4 client (envelope, pagination, rate limit,
//!   retries, per-zone record cache for cheap refreshes).
//! - [`normalize`] holds how Cloudflare rewrites values (so they never show as diffs).
//! - [`resources`] holds `homelab_cloudflare_dns_record`.
//! - [`data_sources`] holds `homelab_cloudflare_zone` (and the framework's
//!   `homelab_cloudflare_inventory`).
//! - [`discover`] lists the zones' records for `homelab-discover` (read only).

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod data_sources;
pub mod discover;
pub mod normalize;
pub mod resources;

use labforge_framework::backend::missing_setting;
use labforge_framework::discover::{Filter, Inventory, InventoryDataSource};
use labforge_framework::schema::{Attribute, Schema, validators};
use labforge_framework::{Backend, Env, Error, Registry, Result};
use labforge_http::{RateLimit, Secret};
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
    pub rate_limit: RateLimit,
    /// Retries on 429, 5xx and connection errors.
    pub max_retries: u32,
}

/// The `cloudflare` provider block. No `Debug`: it holds secrets.
#[derive(Default, Deserialize)]
pub struct Block {
    api_token: Option<String>,
    base_url: Option<String>,
    requests_per_5_minutes: Option<i64>,
    requests_per_second: Option<f64>,
    max_retries: Option<i64>,
}

/// Cloudflare's documented limit: "1200 requests per five minute period per
/// user" (developers.cloudflare.com/fundamentals/api/reference/limits/); going
/// over it blocks every call for the next five minutes.
const CLOUDFLARE_LIMIT: i64 = 1200;
const CLOUDFLARE_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The Cloudflare backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cloudflare;

impl Backend for Cloudflare {
    const BLOCK: &'static str = "cloudflare";
    const CONFIGURED_BY: &'static str = "CLOUDFLARE_API_TOKEN";
    const ENV: &'static [&'static str] = &["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_BASE_URL"];
    const INVENTORY: &'static str = "cloudflare_inventory";
    const FILTERS: &'static [(&'static str, &'static str)] = &[("zone", "zone name or zone ID")];
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
                "requests_per_5_minutes",
                Attribute::int()
                    .optional()
                    .describe(
                        "Client-side rate limit: at most this many requests in any 5 minutes. A \
                         quarter of them may go at once, the rest are spread over the window (a \
                         token bucket). Default 1200, Cloudflare's documented limit per user \
                         (dashboard and other tools included: lower it when they share the \
                         user). Conflicts with `requests_per_second`.",
                    )
                    .validator(validators::between(1, 1_000_000)),
            )
            .attribute(
                "requests_per_second",
                Attribute::number()
                    .optional()
                    .describe(
                        "Older form of the rate limit: requests spaced evenly at this rate, no \
                         burst. Kept for existing configurations; prefer \
                         `requests_per_5_minutes`. Conflicts with it.",
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
            rate_limit: rate_limit(b.requests_per_5_minutes, b.requests_per_second)?,
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
            .data_source(InventoryDataSource::new(*self, "homelab"))
    }

    async fn discover(&self, client: &Client, filter: &Filter) -> Result<Inventory> {
        discover::discover(client, filter).await
    }
}

/// The limiter settings from the block: `requests_per_5_minutes` (default
/// Cloudflare's limit), or the older `requests_per_second`, not both.
fn rate_limit(per_5_minutes: Option<i64>, per_second: Option<f64>) -> Result<RateLimit> {
    match (per_5_minutes, per_second) {
        (Some(_), Some(_)) => Err(Error::new(
            "Unable to configure Cloudflare",
            "Set `requests_per_5_minutes` or `requests_per_second` in the cloudflare block, not \
             both: `requests_per_5_minutes` (a budget for any 5 minutes, with bursts) replaces \
             `requests_per_second` (an even pace).",
        )),
        (None, Some(per_second)) => Ok(RateLimit::Steady { per_second }),
        (n, None) => Ok(RateLimit::Window {
            requests: u32::try_from(n.unwrap_or(CLOUDFLARE_LIMIT))
                .unwrap_or(1)
                .max(1),
            window: CLOUDFLARE_WINDOW,
        }),
    }
}

#[cfg(test)]
mod rate_limit_tests {
    use super::*;

    #[test]
    fn defaults_to_the_documented_window_and_keeps_the_older_setting() {
        let window = |requests| RateLimit::Window {
            requests,
            window: CLOUDFLARE_WINDOW,
        };
        assert!(matches!(rate_limit(None, None), Ok(l) if l == window(1200)));
        assert!(matches!(rate_limit(Some(600), None), Ok(l) if l == window(600)));
        assert!(matches!(
            rate_limit(None, Some(100.0)),
            Ok(RateLimit::Steady { per_second }) if per_second == 100.0
        ));
        assert!(rate_limit(Some(600), Some(100.0)).is_err());
    }
}

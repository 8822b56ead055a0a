//! # labforge-technitium: Technitium DNS Server
//!
//! The `technitium` provider block and everything behind it. Start at
//! [`Technitium`], the [`Backend`] the provider registers.
//!
//! - [`client`] holds the typed HTTP API client (form-POST calls, token in the
//!   body, login sessions, status envelope, per-zone record cache).
//! - [`rdata`] holds record identity, normalisation and import IDs (pure).
//! - [`resources`] holds `homelab_technitium_zone`, `homelab_technitium_dns_record`.
//! - [`data_sources`] holds `homelab_technitium_zone_records` (and the framework's
//!   `homelab_technitium_inventory`).
//! - [`discover`] lists zones and records for `homelab-discover` (read only).

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod data_sources;
pub mod discover;
pub mod rdata;
pub mod resources;

use labforge_framework::backend::missing_setting;
use labforge_framework::discover::{Filter, Inventory, InventoryDataSource};
use labforge_framework::schema::Schema;
use labforge_framework::{Backend, Env, Error, Registry, Result};
use serde::Deserialize;

pub use client::Client;
/// How to authenticate: an API token, or a user name and password (a session).
pub use labforge_http::Auth;

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server URL, e.g. `http://dns.lab:5380`.
    pub url: String,
    /// Token or login.
    pub auth: Auth,
    /// PEM CA certificate to trust.
    pub ca_cert: Option<String>,
    /// Skip TLS verification.
    pub insecure: bool,
}

/// The `technitium` provider block. No `Debug`: it holds secrets.
#[derive(Default, Deserialize)]
pub struct Block {
    url: Option<String>,
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_cert: Option<String>,
    insecure: Option<bool>,
}

/// The Technitium backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Technitium;

impl Backend for Technitium {
    const BLOCK: &'static str = "technitium";
    const CONFIGURED_BY: &'static str = "TECHNITIUM_URL and TECHNITIUM_TOKEN";
    const ENV: &'static [&'static str] = &[
        "TECHNITIUM_URL",
        "TECHNITIUM_TOKEN",
        "TECHNITIUM_USERNAME",
        "TECHNITIUM_PASSWORD",
        "TECHNITIUM_CA_CERT",
        "TECHNITIUM_INSECURE",
    ];
    const INVENTORY: &'static str = "technitium_inventory";
    const FILTERS: &'static [(&'static str, &'static str)] = &[("zone", "zone name")];
    type Client = Client;
    type Block = Block;

    fn schema(&self) -> Schema {
        use labforge_framework::backend::attrs::{insecure, secret, string, url};
        Schema::new(
            "Technitium DNS Server API access. Give a `token`, or `username` and `password`.",
        )
        .attribute(
            "url",
            url("Server URL, e.g. `http://dns.lab:5380`.", "TECHNITIUM_URL"),
        )
        .attribute(
            "token",
            secret(
                "API token. Sent in a header or form body, never in a URL.",
                "TECHNITIUM_TOKEN",
            ),
        )
        .attribute(
            "username",
            string(
                "User name, to log in instead of a token.",
                "TECHNITIUM_USERNAME",
            ),
        )
        .attribute(
            "password",
            secret(
                "Password, to log in instead of a token.",
                "TECHNITIUM_PASSWORD",
            ),
        )
        .attribute(
            "ca_cert",
            string("PEM CA certificate to trust.", "TECHNITIUM_CA_CERT"),
        )
        .attribute("insecure", insecure("TECHNITIUM_INSECURE"))
    }

    fn configure(&self, block: Option<Block>, env: &Env) -> Result<Option<Client>> {
        let configured = block.is_some();
        let b = block.unwrap_or_default();
        let Some(url) = env.pick(b.url.as_ref(), "TECHNITIUM_URL") else {
            if !configured {
                return Ok(None);
            }
            return Err(missing_setting(
                Self::BLOCK,
                "url",
                "Set `url` or TECHNITIUM_URL.",
            ));
        };
        let token = env.pick(b.token.as_ref(), "TECHNITIUM_TOKEN");
        let username = env.pick(b.username.as_ref(), "TECHNITIUM_USERNAME");
        let password = env.pick(b.password.as_ref(), "TECHNITIUM_PASSWORD");
        let auth = Auth::token_or_login(token, username, password).ok_or_else(|| {
            missing_setting(
                Self::BLOCK,
                "token",
                "Set `token` (or TECHNITIUM_TOKEN), or `username` and `password`.",
            )
        })?;
        let settings = Settings {
            url,
            auth,
            ca_cert: env.pick(b.ca_cert.as_ref(), "TECHNITIUM_CA_CERT"),
            insecure: b
                .insecure
                .or_else(|| env.flag("TECHNITIUM_INSECURE"))
                .unwrap_or(false),
        };
        Client::new(settings)
            .map(Some)
            .map_err(|e| Error::new("Unable to configure Technitium", e.to_string()))
    }

    fn register(&self, r: Registry<Client>) -> Registry<Client> {
        r.resource(resources::zone::Zone)
            .resource(resources::record::DnsRecord)
            .data_source(data_sources::zone_records::ZoneRecords)
            .data_source(InventoryDataSource::new(*self, "homelab"))
    }

    async fn discover(&self, client: &Client, filter: &Filter) -> Result<Inventory> {
        discover::discover(client, filter).await
    }
}

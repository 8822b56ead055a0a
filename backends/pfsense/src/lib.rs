//! # labforge-pfsense: pfSense (pfSense-pkg-RESTAPI v2)
//!
//! The `pfsense` provider block and everything behind it. Start at
//! [`Pfsense`], the [`Backend`] the provider registers.
//!
//! - [`client`] holds the typed REST client (Basic auth or `X-API-Key`, the
//!   package's envelope, shared listings, writes by position, and the
//!   coalesced apply in [`client::commit`]).
//! - [`model`] holds what rules, aliases and interfaces are and what the
//!   package accepts in them (pure).
//! - [`discover`] lists what a pfSense holds as import blocks
//!   (`homelab-discover`, the `homelab_pfsense_inventory` data source).
//! - [`resources`] holds `homelab_pfsense_firewall_alias`,
//!   `homelab_pfsense_firewall_rule` and `homelab_pfsense_firewall_ruleset`
//!   (one interface's rules, in order, planned by `labforge-ruleset` so
//!   that no change opens a window).
//!
//! pfSense has no REST API of its own: this backend talks to the
//! pfSense-pkg-RESTAPI package (pfrest, v2.10), which must be installed.

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod discover;
pub mod model;
pub mod resources;

use labforge_framework::backend::missing_setting;
use labforge_framework::schema::Schema;
use labforge_framework::{AttributePath, Backend, Env, Error, Registry, Result};
use labforge_http::Secret;
use serde::Deserialize;

pub use client::{Client, Credentials, Settings};

/// The `pfsense` provider block. No `Debug`: it holds secrets.
#[derive(Default, Deserialize)]
pub struct Block {
    url: Option<String>,
    api_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_certificate: Option<String>,
    insecure: Option<bool>,
}

/// The pfSense backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pfsense;

/// `ca_certificate`: PEM text as is, anything else is a file to read.
fn ca_certificate(value: String) -> Result<String> {
    labforge_framework::backend::pem_or_file(Pfsense::BLOCK, "ca_certificate", value)
}

fn normalize_url(url: &str) -> Result<String> {
    let u = url.trim();
    if u.starts_with("https://") || u.starts_with("http://") {
        return Ok(u.to_string());
    }
    if u.contains("://") {
        return Err(Error::new(
            "Unable to configure pfSense",
            format!("url: {u:?}: the REST API is served over https:// (or http://)."),
        )
        .at(AttributePath::attr(Pfsense::BLOCK).join_attr("url")));
    }
    Ok(format!("https://{u}"))
}

impl Backend for Pfsense {
    const BLOCK: &'static str = "pfsense";
    const CONFIGURED_BY: &'static str =
        "PFSENSE_URL and PFSENSE_API_KEY (or PFSENSE_USERNAME and PFSENSE_PASSWORD)";
    const ENV: &'static [&'static str] = &[
        "PFSENSE_URL",
        "PFSENSE_API_KEY",
        "PFSENSE_USERNAME",
        "PFSENSE_PASSWORD",
        "PFSENSE_CA_CERTIFICATE",
        "PFSENSE_INSECURE",
    ];
    const INVENTORY: &'static str = "pfsense_inventory";
    const FILTERS: &'static [(&'static str, &'static str)] = &[(
        "interface",
        "interface: WAN, LAN, ... as the firewall names it",
    )];
    type Client = Client;
    type Block = Block;

    fn schema(&self) -> Schema {
        use labforge_framework::backend::attrs::{insecure, secret, string};
        Schema::new(
            "pfSense through the pfSense-pkg-RESTAPI package (v2, `/api/v2`; pfrest v2.10). Give \
             an `api_key`, or `username` and `password`. The package enables only Basic \
             authentication (`username`/`password` of a local user) after installation; an API \
             key works once its `KeyAuth` method is enabled under System > REST API > Settings > \
             Authentication Methods (until then pfSense answers 401 and the provider says so). \
             The user needs the REST API's read privileges to plan and its write privileges \
             (or \"WebCfg - All pages\") to apply.",
        )
        .attribute(
            "url",
            string(
                "The pfSense web interface's URL, e.g. `https://pfsense.lan` (`/api/v2` is \
                 added; without a scheme, `https://` is assumed).",
                "PFSENSE_URL",
            ),
        )
        .attribute(
            "api_key",
            secret(
                "A REST API key (sent as `X-API-Key`; pfSense's `KeyAuth` method must be \
                 enabled). Takes precedence over `username`/`password`.",
                "PFSENSE_API_KEY",
            ),
        )
        .attribute(
            "username",
            string(
                "A local user, for Basic authentication.",
                "PFSENSE_USERNAME",
            ),
        )
        .attribute(
            "password",
            secret("The user's password.", "PFSENSE_PASSWORD"),
        )
        .attribute(
            "ca_certificate",
            string(
                "CA certificate to trust for pfSense's HTTPS certificate: PEM text, or the path \
                 of a PEM file. Not with `insecure`.",
                "PFSENSE_CA_CERTIFICATE",
            ),
        )
        .attribute("insecure", insecure("PFSENSE_INSECURE"))
    }

    fn configure(&self, block: Option<Block>, env: &Env) -> Result<Option<Client>> {
        let configured = block.is_some();
        let b = block.unwrap_or_default();
        let Some(url) = env.pick(b.url.as_ref(), "PFSENSE_URL") else {
            if !configured {
                return Ok(None);
            }
            return Err(missing_setting(
                Self::BLOCK,
                "url",
                "Set `url` or PFSENSE_URL, e.g. https://pfsense.lan.",
            ));
        };
        let url = normalize_url(&url)?;
        let key = env.pick(b.api_key.as_ref(), "PFSENSE_API_KEY");
        let username = env.pick(b.username.as_ref(), "PFSENSE_USERNAME");
        let password = env.pick(b.password.as_ref(), "PFSENSE_PASSWORD");
        let credentials = match (key, username, password) {
            (Some(k), _, _) => Credentials::ApiKey(Secret::new(k)),
            (None, Some(username), Some(p)) => Credentials::Basic {
                username,
                password: Secret::new(p),
            },
            (None, Some(_), None) => {
                return Err(missing_setting(
                    Self::BLOCK,
                    "password",
                    "Set `password` (or PFSENSE_PASSWORD) for the user, or use an `api_key`.",
                ));
            }
            _ => {
                return Err(missing_setting(
                    Self::BLOCK,
                    "api_key",
                    "Set `api_key` (or PFSENSE_API_KEY), or `username` and `password` (or \
                     PFSENSE_USERNAME and PFSENSE_PASSWORD).",
                ));
            }
        };
        let block_ca = b.ca_certificate.clone().filter(|c| !c.is_empty());
        let (insecure, ca) = match (b.insecure, block_ca) {
            (Some(i), Some(c)) => (i, Some(c)),
            (Some(true), None) => (true, None),
            (Some(false), None) => (false, env.get("PFSENSE_CA_CERTIFICATE")),
            (None, Some(c)) => (false, Some(c)),
            (None, None) => (
                env.flag("PFSENSE_INSECURE").unwrap_or(false),
                env.get("PFSENSE_CA_CERTIFICATE"),
            ),
        };
        let ca = ca.map(ca_certificate).transpose()?;
        if insecure && ca.is_some() {
            return Err(Error::new(
                "Unable to configure pfSense",
                "`ca_certificate` and `insecure` exclude each other: trust the CA, or skip \
                 verification, not both.",
            )
            .at(AttributePath::attr(Self::BLOCK).join_attr("insecure")));
        }
        Client::new(Settings {
            url,
            credentials,
            ca_certificate: ca,
            insecure,
        })
        .map(Some)
        .map_err(|e| Error::new("Unable to configure pfSense", e.to_string()))
    }

    fn register(&self, r: Registry<Client>) -> Registry<Client> {
        r.resource(resources::alias::FirewallAlias)
            .resource(resources::rule::FirewallRule)
            .resource(resources::ruleset::FirewallRuleset)
            .data_source(labforge_framework::discover::InventoryDataSource::new(
                *self, "homelab",
            ))
    }

    async fn discover(
        &self,
        client: &Client,
        filter: &labforge_framework::discover::Filter,
    ) -> Result<labforge_framework::discover::Inventory> {
        discover::discover(client, filter).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configured_by_block_or_variables() {
        let p = Pfsense;
        assert!(p.configure(None, &Env::default()).unwrap().is_none());
        let env = Env::from_pairs([("PFSENSE_URL", "fw.lan"), ("PFSENSE_API_KEY", "k")]);
        let c = p.configure(None, &env).unwrap().unwrap();
        assert!(matches!(c.credentials(), Credentials::ApiKey(_)));
        let env = Env::from_pairs([
            ("PFSENSE_URL", "https://fw.lan"),
            ("PFSENSE_USERNAME", "admin"),
            ("PFSENSE_PASSWORD", "pfsense"),
        ]);
        let c = p.configure(None, &env).unwrap().unwrap();
        assert!(matches!(c.credentials(), Credentials::Basic { .. }));
        let env = Env::from_pairs([("PFSENSE_URL", "https://fw.lan")]);
        let e = p.configure(None, &env).err().unwrap();
        assert!(e.to_string().contains("PFSENSE_API_KEY"), "{e}");
        let env = Env::from_pairs([("PFSENSE_URL", "fw.lan"), ("PFSENSE_USERNAME", "admin")]);
        let e = p.configure(None, &env).err().unwrap();
        assert!(e.to_string().contains("PFSENSE_PASSWORD"), "{e}");
        let env = Env::from_pairs([("PFSENSE_URL", "ftp://fw.lan"), ("PFSENSE_API_KEY", "k")]);
        assert!(p.configure(None, &env).is_err());
        let env = Env::from_pairs([
            ("PFSENSE_URL", "https://fw.lan"),
            ("PFSENSE_API_KEY", "k"),
            (
                "PFSENSE_CA_CERTIFICATE",
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            ),
            ("PFSENSE_INSECURE", "true"),
        ]);
        let e = p.configure(None, &env).err().unwrap();
        assert!(e.to_string().contains("exclude each other"), "{e}");
    }
}

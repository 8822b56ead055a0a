//! # labforge-routeros: MikroTik RouterOS 7 (REST API)
//!
//! The `routeros` provider block and everything behind it. Start at
//! [`Routeros`], the [`Backend`] the provider registers.
//!
//! - [`client`] holds the typed REST client (Basic auth, the error envelope,
//!   per-scope listing cache, add/set/remove/move per [`client::Table`]).
//! - [`props`] lists the managed properties of each menu, from RouterOS's own
//!   `/console/inspect` dumps; [`fields`] turns them into schemas,
//!   validation, requests and state; [`values`] parses RouterOS's value
//!   syntax (time intervals, addresses, ports, protocols).
//! - [`resources`] holds `homelab_routeros_firewall_filter`,
//!   `homelab_routeros_firewall_nat`, `homelab_routeros_firewall_address_list`,
//!   `homelab_routeros_dns_static` (one item each) and
//!   `homelab_routeros_firewall_ruleset` (one chain, in order, planned by
//!   `labforge-ruleset` so that no change opens a window).
//! - [`discover`] lists what the router holds as import blocks (rulesets
//!   per chain, address-list entries, static DNS) for `homelab-discover`
//!   and `homelab_routeros_inventory`.
//!
//! The block's settings and environment variables follow the
//! terraform-routeros provider (`hosturl`'s `ROS_HOSTURL` and so on), so
//! its users can keep their environment.

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod discover;
pub mod fields;
pub mod props;
pub mod resources;
pub mod values;

use labforge_framework::backend::missing_setting;
use labforge_framework::discover::{Filter, Inventory, InventoryDataSource};
use labforge_framework::schema::Schema;
use labforge_framework::{AttributePath, Backend, Env, Error, Registry, Result};
use labforge_http::Secret;
use serde::Deserialize;

pub use client::{Client, Settings};

/// The `routeros` provider block. No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
pub struct Block {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_certificate: Option<String>,
    insecure: Option<bool>,
}

/// The MikroTik RouterOS backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Routeros;

/// `ca_certificate`: PEM text as is, anything else is a file to read.
fn ca_certificate(value: String) -> Result<String> {
    labforge_framework::backend::pem_or_file(Routeros::BLOCK, "ca_certificate", value)
}

/// `url`: `https://` is assumed without a scheme (as terraform-routeros does).
fn normalize_url(url: &str) -> Result<String> {
    let u = url.trim();
    if u.starts_with("https://") || u.starts_with("http://") {
        return Ok(u.to_string());
    }
    if u.contains("://") {
        return Err(Error::new(
            "Unable to configure RouterOS",
            format!(
                "url: {u:?}: only the REST API (https:// or http://) is supported, not the binary API (api://, apis://)."
            ),
        )
        .at(AttributePath::attr(Routeros::BLOCK).join_attr("url")));
    }
    Ok(format!("https://{u}"))
}

impl Backend for Routeros {
    const BLOCK: &'static str = "routeros";
    const CONFIGURED_BY: &'static str = "ROS_HOSTURL and ROS_USERNAME";
    const ENV: &'static [&'static str] = &[
        "ROS_HOSTURL",
        "ROS_USERNAME",
        "ROS_PASSWORD",
        "ROS_CA_CERTIFICATE",
        "ROS_INSECURE",
    ];
    const INVENTORY: &'static str = "routeros_inventory";
    const FILTERS: &'static [(&'static str, &'static str)] = discover::FILTERS;
    type Client = Client;
    type Block = Block;

    fn schema(&self) -> Schema {
        use labforge_framework::backend::attrs::{insecure, secret, string};
        Schema::new(
            "MikroTik RouterOS 7 REST API access (service `www-ssl`, or `www` for http://). \
             The environment variables are terraform-routeros's: `ROS_HOSTURL`, `ROS_USERNAME`, \
             `ROS_PASSWORD`, `ROS_CA_CERTIFICATE`, `ROS_INSECURE`. The user needs the `read` \
             policy to plan and `write` to apply (groups `read`, `write`, `full`).",
        )
        .attribute(
            "url",
            string(
                "Router URL, e.g. `https://router.lan` (`/rest` is added; without a scheme, \
                 `https://` is assumed).",
                "ROS_HOSTURL",
            ),
        )
        .attribute(
            "username",
            string("User name, e.g. `admin`.", "ROS_USERNAME"),
        )
        .attribute(
            "password",
            secret(
                "Password (empty if unset, like a fresh router's `admin`).",
                "ROS_PASSWORD",
            ),
        )
        .attribute(
            "ca_certificate",
            string(
                "CA certificate to trust for the router's HTTPS certificate: PEM text, or the \
                 path of a PEM file (terraform-routeros takes a path). Not with `insecure` \
                 (set in the block, either one overrides the other's variable).",
                "ROS_CA_CERTIFICATE",
            ),
        )
        .attribute("insecure", insecure("ROS_INSECURE"))
    }

    fn configure(&self, block: Option<Block>, env: &Env) -> Result<Option<Client>> {
        let configured = block.is_some();
        let b = block.unwrap_or_default();
        let Some(url) = env.pick(b.url.as_ref(), "ROS_HOSTURL") else {
            if !configured {
                return Ok(None);
            }
            return Err(missing_setting(
                Self::BLOCK,
                "url",
                "Set `url` or ROS_HOSTURL, e.g. https://router.lan.",
            ));
        };
        let url = normalize_url(&url)?;
        let Some(username) = env.pick(b.username.as_ref(), "ROS_USERNAME") else {
            return Err(missing_setting(
                Self::BLOCK,
                "username",
                "Set `username` or ROS_USERNAME.",
            ));
        };
        // An empty password is a valid one (a fresh router's admin).
        let password = b
            .password
            .clone()
            .or_else(|| env.get("ROS_PASSWORD"))
            .unwrap_or_default();
        // The two exclude each other where they are set together (both in the
        // block, or both in the environment); the block's one overrides the
        // other's variable.
        let block_ca = b.ca_certificate.clone().filter(|c| !c.is_empty());
        let (insecure, ca) = match (b.insecure, block_ca) {
            (Some(i), Some(c)) => (i, Some(c)),
            (Some(true), None) => (true, None),
            (Some(false), None) => (false, env.get("ROS_CA_CERTIFICATE")),
            (None, Some(c)) => (false, Some(c)),
            (None, None) => (
                env.flag("ROS_INSECURE").unwrap_or(false),
                env.get("ROS_CA_CERTIFICATE"),
            ),
        };
        let ca = ca.map(ca_certificate).transpose()?;
        if insecure && ca.is_some() {
            return Err(Error::new(
                "Unable to configure RouterOS",
                "`ca_certificate` and `insecure` exclude each other: trust the CA, or skip \
                 verification, not both.",
            )
            .at(AttributePath::attr(Self::BLOCK).join_attr("insecure")));
        }
        let settings = Settings {
            url,
            username,
            password: Secret::new(password),
            ca_certificate: ca,
            insecure,
        };
        Client::new(settings)
            .map(Some)
            .map_err(|e| Error::new("Unable to configure RouterOS", e.to_string()))
    }

    fn register(&self, r: Registry<Client>) -> Registry<Client> {
        r.resource(resources::item::FirewallFilter)
            .resource(resources::item::FirewallNat)
            .resource(resources::item::FirewallAddressList)
            .resource(resources::item::DnsStatic)
            .resource(resources::ruleset::FirewallRuleset)
            .data_source(InventoryDataSource::new(*self, "homelab"))
    }

    async fn discover(&self, client: &Client, filter: &Filter) -> Result<Inventory> {
        discover::discover(client, filter).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn block(pairs: &[(&str, &str)]) -> Block {
        let mut b = Block::default();
        for (k, val) in pairs {
            let v = Some(val.to_string());
            match *k {
                "url" => b.url = v,
                "username" => b.username = v,
                "password" => b.password = v,
                "ca_certificate" => b.ca_certificate = v,
                _ => b.insecure = Some(*val == "true"),
            }
        }
        b
    }

    #[test]
    fn configured_by_block_or_terraform_routeros_variables() {
        let r = Routeros;
        assert!(r.configure(None, &Env::default()).unwrap().is_none());
        let env = Env::from_pairs([("ROS_HOSTURL", "router.lan"), ("ROS_USERNAME", "admin")]);
        let c = r.configure(None, &env).unwrap().unwrap();
        assert_eq!(c.username(), "admin");
        let e = r
            .configure(Some(block(&[("url", "https://r")])), &Env::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("ROS_USERNAME"), "{e}");
        let e = r
            .configure(
                Some(block(&[("url", "apis://r"), ("username", "a")])),
                &Env::default(),
            )
            .err()
            .unwrap();
        assert!(e.to_string().contains("binary API"), "{e}");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let e = r
            .configure(
                Some(block(&[
                    ("url", "https://r"),
                    ("username", "a"),
                    ("ca_certificate", pem),
                    ("insecure", "true"),
                ])),
                &Env::default(),
            )
            .err()
            .unwrap();
        assert!(e.to_string().contains("exclude each other"), "{e}");
        let e = r
            .configure(
                Some(block(&[
                    ("url", "https://r"),
                    ("username", "a"),
                    ("ca_certificate", "/nonexistent/ca.pem"),
                ])),
                &Env::default(),
            )
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("neither PEM text nor a readable file"),
            "{e}"
        );
        // The block's `insecure` overrides a CA from the environment.
        let env = Env::from_pairs([("ROS_CA_CERTIFICATE", "/nonexistent/ca.pem")]);
        let c = r.configure(
            Some(block(&[
                ("url", "https://r"),
                ("username", "a"),
                ("insecure", "true"),
            ])),
            &env,
        );
        assert!(c.is_ok());
        let env = Env::from_pairs([("ROS_CA_CERTIFICATE", pem), ("ROS_INSECURE", "1")]);
        let e = r
            .configure(
                Some(block(&[("url", "https://r"), ("username", "a")])),
                &env,
            )
            .err()
            .unwrap();
        assert!(e.to_string().contains("exclude each other"), "{e}");
    }
}

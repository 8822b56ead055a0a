//! # labforge-kubernetes: MetalLB over the Kubernetes API
//!
//! The `kubernetes` provider block and everything behind it. Start at
//! [`Kubernetes`], the [`Backend`] the provider registers.
//!
//! - [`client`] is a small typed Kubernetes client on `labforge-http`
//!   (reqwest + rustls, already built for every backend, so it adds no
//!   crate): `GET`, server-side apply with the field manager
//!   `labforge-homelab`, `DELETE`, and the apiserver's `Status` errors.
//! - [`kubeconfig`] reads a kubeconfig (YAML or JSON) for `config_path` /
//!   `config_raw`.
//! - [`resources`] holds `homelab_metallb_ip_address_pool` and
//!   `homelab_metallb_l2_advertisement`.
//!
//! The block's settings and environment variables follow the hashicorp
//! `kubernetes` provider (`KUBE_HOST`, `KUBE_TOKEN`, `KUBE_CONFIG_PATH`,
//! `KUBE_CTX`, ...).

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod kubeconfig;
pub mod net;
pub mod resources;

use std::time::Duration;

use labforge_framework::backend::missing_setting;
use labforge_framework::schema::Schema;
use labforge_framework::{AttributePath, Backend, Env, Error, Registry, Result};
use labforge_http::Secret;
use serde::Deserialize;

pub use client::{Client, Settings};

/// The `kubernetes` provider block. No `Debug`: it holds secrets.
#[derive(Default, Deserialize)]
pub struct Block {
    host: Option<String>,
    token: Option<String>,
    client_certificate: Option<String>,
    client_key: Option<String>,
    cluster_ca_certificate: Option<String>,
    insecure: Option<bool>,
    config_path: Option<String>,
    config_raw: Option<String>,
    context: Option<String>,
}

/// The Kubernetes backend (MetalLB resources).
#[derive(Debug, Clone, Copy, Default)]
pub struct Kubernetes;

const SUMMARY: &str = "Unable to configure Kubernetes";

fn at(attr: &str) -> AttributePath {
    AttributePath::attr(Kubernetes::BLOCK).join_attr(attr)
}

impl Backend for Kubernetes {
    const BLOCK: &'static str = "kubernetes";
    const CONFIGURED_BY: &'static str = "KUBE_HOST and KUBE_TOKEN, or KUBE_CONFIG_PATH";
    const ENV: &'static [&'static str] = &[
        "KUBE_HOST",
        "KUBE_TOKEN",
        "KUBE_CLIENT_CERT_DATA",
        "KUBE_CLIENT_KEY_DATA",
        "KUBE_CLUSTER_CA_CERT_DATA",
        "KUBE_INSECURE",
        "KUBE_CONFIG_PATH",
        "KUBE_CTX",
    ];
    type Client = Client;
    type Block = Block;

    fn schema(&self) -> Schema {
        use labforge_framework::backend::attrs::{insecure, secret, string, url};
        Schema::new(
            "Kubernetes API access, for the MetalLB resources. Give `host` with a `token` or a client certificate and key, or a \
             kubeconfig (`config_path` or `config_raw`, YAML or JSON) and optionally its `context`. The \
             environment variables are the hashicorp kubernetes provider's. Nothing is \
             contacted at plan for objects that do not exist yet.",
        )
        .attribute(
            "host",
            url(
                "API server URL, e.g. `https://10.0.0.10:6443`.",
                "KUBE_HOST",
            ),
        )
        .attribute("token", secret("Bearer token.", "KUBE_TOKEN"))
        .attribute(
            "client_certificate",
            string(
                "PEM client certificate, for mutual TLS (with `client_key`).",
                "KUBE_CLIENT_CERT_DATA",
            ),
        )
        .attribute(
            "client_key",
            secret(
                "PEM private key of `client_certificate`.",
                "KUBE_CLIENT_KEY_DATA",
            ),
        )
        .attribute(
            "cluster_ca_certificate",
            string(
                "PEM CA certificate of the cluster.",
                "KUBE_CLUSTER_CA_CERT_DATA",
            ),
        )
        .attribute("insecure", insecure("KUBE_INSECURE"))
        .attribute(
            "config_path",
            string("Path of a kubeconfig file (YAML or JSON).", "KUBE_CONFIG_PATH"),
        )
        .attribute(
            "config_raw",
            labforge_framework::schema::Attribute::string()
                .optional()
                .sensitive()
                .describe(
                    "A kubeconfig's text (YAML or JSON), e.g. from a cluster made in the same apply.",
                ),
        )
        .attribute(
            "context",
            string(
                "The kubeconfig context to use (default: its `current-context`).",
                "KUBE_CTX",
            ),
        )
    }

    fn configure(&self, block: Option<Block>, env: &Env) -> Result<Option<Client>> {
        let configured = block.is_some();
        let b = block.unwrap_or_default();
        let config_path = env.pick(b.config_path.as_ref(), "KUBE_CONFIG_PATH");
        let raw = match (b.config_raw.clone().filter(|s| !s.is_empty()), &config_path) {
            (Some(r), _) => Some((r, "config_raw")),
            (None, Some(p)) => Some((
                std::fs::read_to_string(p).map_err(|e| {
                    Error::new(SUMMARY, format!("config_path: cannot read {p:?}: {e}"))
                        .at(at("config_path"))
                })?,
                "config_path",
            )),
            (None, None) => None,
        };
        let mut settings = match raw {
            Some((text, attr)) => {
                let context = env.pick(b.context.as_ref(), "KUBE_CTX");
                kubeconfig::settings(&text, context.as_deref())
                    .map_err(|e| Error::new(SUMMARY, format!("{attr}: {e}")).at(at(attr)))?
            }
            None => {
                let Some(host) = env.pick(b.host.as_ref(), "KUBE_HOST") else {
                    if !configured {
                        return Ok(None);
                    }
                    return Err(missing_setting(
                        Self::BLOCK,
                        "host",
                        "Set `host` (or KUBE_HOST) with a `token`, or a kubeconfig with \
                         `config_path` (or KUBE_CONFIG_PATH) or `config_raw`.",
                    ));
                };
                kubeconfig::Resolved {
                    host,
                    ..Default::default()
                }
            }
        };
        // Explicit settings override the kubeconfig's, as in the kubernetes provider.
        if let Some(h) = env.pick(b.host.as_ref(), "KUBE_HOST") {
            settings.host = h;
        }
        if let Some(t) = env.pick(b.token.as_ref(), "KUBE_TOKEN") {
            settings.token = Some(t);
        }
        if let Some(c) = env.pick(
            b.cluster_ca_certificate.as_ref(),
            "KUBE_CLUSTER_CA_CERT_DATA",
        ) {
            settings.ca_cert = Some(c);
        }
        if let Some(i) = b.insecure.or_else(|| env.flag("KUBE_INSECURE")) {
            settings.insecure = i;
        }
        if let Some(c) = env.pick(b.client_certificate.as_ref(), "KUBE_CLIENT_CERT_DATA") {
            settings.client_cert = Some(c);
        }
        if let Some(k) = env.pick(b.client_key.as_ref(), "KUBE_CLIENT_KEY_DATA") {
            settings.client_key = Some(k);
        }
        let client_identity = match (settings.client_cert.take(), settings.client_key.take()) {
            (Some(cert_pem), Some(key)) => Some(labforge_http::ClientIdentity {
                cert_pem,
                key_pem: Secret::new(key),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(missing_setting(
                    Self::BLOCK,
                    "client_key",
                    "A client certificate needs its key: set `client_key` (or KUBE_CLIENT_KEY_DATA).",
                ));
            }
            (None, Some(_)) => {
                return Err(missing_setting(
                    Self::BLOCK,
                    "client_certificate",
                    "A client key needs its certificate: set `client_certificate` (or KUBE_CLIENT_CERT_DATA).",
                ));
            }
        };
        if settings.token.is_none() && client_identity.is_none() {
            return Err(missing_setting(
                Self::BLOCK,
                "token",
                "Set `token` (or KUBE_TOKEN), or `client_certificate` and `client_key`, or use a \
                 kubeconfig whose user has one of them.",
            ));
        }
        if !(settings.host.starts_with("https://") || settings.host.starts_with("http://")) {
            return Err(Error::new(
                SUMMARY,
                format!("host {:?} is not an http:// or https:// URL", settings.host),
            )
            .at(at("host")));
        }
        Client::new(Settings {
            host: settings.host,
            token: settings.token.map(Secret::new),
            ca_cert: settings.ca_cert,
            insecure: settings.insecure,
            client_identity,
            webhook_wait: Duration::from_secs(180),
        })
        .map(Some)
        .map_err(|e| Error::new(SUMMARY, e.to_string()))
    }

    fn register(&self, r: Registry<Client>) -> Registry<Client> {
        r.resource(resources::IpAddressPool)
            .resource(resources::L2Advertisement)
            .resource(resources::BgpAdvertisement)
            .resource(resources::BgpPeer)
            .resource(resources::Community)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configured_by_block_variables_or_kubeconfig() {
        let k = Kubernetes;
        assert!(k.configure(None, &Env::default()).unwrap().is_none());
        let env = Env::from_pairs([("KUBE_HOST", "https://k:6443"), ("KUBE_TOKEN", "t")]);
        let c = k.configure(None, &env).unwrap().unwrap();
        assert_eq!(c.host(), "https://k:6443");
        let e = k
            .configure(Some(Block::default()), &Env::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("KUBE_HOST"), "{e}");
        let env = Env::from_pairs([("KUBE_HOST", "https://k:6443")]);
        let e = k.configure(None, &env).err().unwrap();
        assert!(e.to_string().contains("KUBE_TOKEN"), "{e}");
        let b = Block {
            config_raw: Some(
                r#"{"clusters":[{"name":"c","cluster":{"server":"https://a:6443"}}],
                "users":[{"name":"u","user":{"token":"x"}}],
                "contexts":[{"name":"ctx","context":{"cluster":"c","user":"u"}}],
                "current-context":"ctx"}"#
                    .into(),
            ),
            ..Block::default()
        };
        let c = k.configure(Some(b), &Env::default()).unwrap().unwrap();
        assert_eq!(c.host(), "https://a:6443");
        let b = Block {
            host: Some("https://k".into()),
            client_certificate: Some("-----BEGIN CERTIFICATE-----".into()),
            ..Block::default()
        };
        let e = k.configure(Some(b), &Env::default()).err().unwrap();
        assert!(e.to_string().contains("needs its key"), "{e}");
        let b = Block {
            host: Some("https://k".into()),
            client_certificate: Some("not pem".into()),
            client_key: Some("not pem".into()),
            ..Block::default()
        };
        let e = k.configure(Some(b), &Env::default()).err().unwrap();
        assert!(e.to_string().contains("client certificate"), "{e}");
    }
}

//! The provider block: one optional block per backend, each attribute with an
//! environment-variable fallback. This is the only module that reads the
//! environment.

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Block, Schema, validators};
use serde::Deserialize;

/// The provider configuration as Terraform sends it.
/// No `Debug`: the blocks hold secrets.
#[derive(Default, Deserialize)]
pub struct Config {
    pub proxmox: Option<ProxmoxBlock>,
    pub talos: Option<TalosBlock>,
    pub routeros: Option<RouterosBlock>,
    pub pfsense: Option<PfsenseBlock>,
    pub kubernetes: Option<KubernetesBlock>,
    pub technitium: Option<TechnitiumBlock>,
    pub cloudflare: Option<CloudflareBlock>,
}

#[derive(Default, Clone, Deserialize)]
pub struct ProxmoxBlock {
    pub endpoint: Option<String>,
    pub api_token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub insecure: Option<bool>,
    pub ca_cert: Option<String>,
}

#[derive(Default, Clone, Deserialize)]
pub struct TalosBlock {
    pub request_timeout: Option<i64>,
}

#[derive(Default, Clone, Deserialize)]
pub struct RouterosBlock {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub insecure: Option<bool>,
    pub ca_cert: Option<String>,
}

#[derive(Default, Clone, Deserialize)]
pub struct PfsenseBlock {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub insecure: Option<bool>,
    pub ca_cert: Option<String>,
}

#[derive(Default, Clone, Deserialize)]
pub struct KubernetesBlock {
    pub host: Option<String>,
    pub token: Option<String>,
    pub cluster_ca_certificate: Option<String>,
    pub insecure: Option<bool>,
}

#[derive(Default, Clone, Deserialize)]
pub struct TechnitiumBlock {
    pub url: Option<String>,
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_cert: Option<String>,
    pub insecure: Option<bool>,
}

#[derive(Default, Clone, Deserialize)]
pub struct CloudflareBlock {
    pub api_token: Option<String>,
    pub base_url: Option<String>,
    pub requests_per_second: Option<f64>,
    pub max_retries: Option<i64>,
}

/// A snapshot of the environment variables the provider reads.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

/// Every variable the provider reads, by backend.
pub const ENV_VARS: &[&str] = &[
    "PROXMOX_VE_ENDPOINT",
    "PROXMOX_VE_API_TOKEN",
    "PROXMOX_VE_USERNAME",
    "PROXMOX_VE_PASSWORD",
    "PROXMOX_VE_INSECURE",
    "PROXMOX_VE_CA_CERT",
    "ROUTEROS_URL",
    "ROUTEROS_USERNAME",
    "ROUTEROS_PASSWORD",
    "ROUTEROS_INSECURE",
    "ROUTEROS_CA_CERT",
    "PFSENSE_URL",
    "PFSENSE_API_KEY",
    "PFSENSE_INSECURE",
    "PFSENSE_CA_CERT",
    "KUBE_HOST",
    "KUBE_TOKEN",
    "KUBE_CLUSTER_CA_CERT_DATA",
    "KUBE_INSECURE",
    "TECHNITIUM_URL",
    "TECHNITIUM_TOKEN",
    "TECHNITIUM_USERNAME",
    "TECHNITIUM_PASSWORD",
    "TECHNITIUM_CA_CERT",
    "TECHNITIUM_INSECURE",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_BASE_URL",
];

impl Env {
    pub fn from_process() -> Self {
        Self(
            ENV_VARS
                .iter()
                .filter_map(|k| {
                    std::env::var(k)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .map(|v| (k.to_string(), v))
                })
                .collect(),
        )
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        self.0
            .get(key)
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
    }
}

fn s(description: &str, env: &str) -> Attribute {
    Attribute::string()
        .optional()
        .describe(format!("{description} Falls back to `{env}`."))
}

fn secret(description: &str, env: &str) -> Attribute {
    s(description, env).sensitive()
}

fn insecure(env: &str) -> Attribute {
    Attribute::bool().optional().describe(format!(
        "Skip TLS certificate verification (lab use only). Falls back to `{env}`."
    ))
}

fn url(description: &str, env: &str) -> Attribute {
    s(description, env).validator(validators::matches(
        "^https?://[^\\s]+$",
        "an http:// or https:// URL",
    ))
}

fn single(description: &str, schema: Schema) -> Block {
    Block::single(schema).describe(description)
}

/// The provider schema.
pub fn schema() -> Schema {
    Schema::new(
        "The `homelab` provider manages a whole homelab: Proxmox VE virtual machines, Talos Linux, \
         RouterOS and pfSense firewall rules, MetalLB, and Technitium and Cloudflare DNS. Configure \
         only the backends you use; each block's attributes fall back to environment variables.",
    )
    .block(
        "proxmox",
        single(
            "Proxmox VE API access.",
            Schema::new("")
                .attribute("endpoint", url("API URL, e.g. `https://pve.lab:8006/`.", "PROXMOX_VE_ENDPOINT"))
                .attribute(
                    "api_token",
                    secret("API token `user@realm!tokenid=secret`.", "PROXMOX_VE_API_TOKEN"),
                )
                .attribute("username", s("User for ticket authentication, e.g. `root@pam`.", "PROXMOX_VE_USERNAME"))
                .attribute("password", secret("Password for ticket authentication.", "PROXMOX_VE_PASSWORD"))
                .attribute("insecure", insecure("PROXMOX_VE_INSECURE"))
                .attribute("ca_cert", s("PEM CA certificate to trust.", "PROXMOX_VE_CA_CERT")),
        ),
    )
    .block(
        "talos",
        single(
            "Talos Linux settings.",
            Schema::new("").attribute(
                "request_timeout",
                Attribute::int()
                    .optional()
                    .describe("Seconds to wait for a Talos API call.")
                    .validator(validators::between(1, 3600)),
            ),
        ),
    )
    .block(
        "routeros",
        single(
            "MikroTik RouterOS REST API access.",
            Schema::new("")
                .attribute("url", url("REST API URL, e.g. `https://router.lab`.", "ROUTEROS_URL"))
                .attribute("username", s("User name.", "ROUTEROS_USERNAME"))
                .attribute("password", secret("Password.", "ROUTEROS_PASSWORD"))
                .attribute("insecure", insecure("ROUTEROS_INSECURE"))
                .attribute("ca_cert", s("PEM CA certificate to trust.", "ROUTEROS_CA_CERT")),
        ),
    )
    .block(
        "pfsense",
        single(
            "pfSense REST API (v2) access.",
            Schema::new("")
                .attribute("url", url("API URL, e.g. `https://fw.lab`.", "PFSENSE_URL"))
                .attribute("api_key", secret("API key.", "PFSENSE_API_KEY"))
                .attribute("insecure", insecure("PFSENSE_INSECURE"))
                .attribute("ca_cert", s("PEM CA certificate to trust.", "PFSENSE_CA_CERT")),
        ),
    )
    .block(
        "kubernetes",
        single(
            "Kubernetes API access (for MetalLB).",
            Schema::new("")
                .attribute("host", url("API server URL.", "KUBE_HOST"))
                .attribute("token", secret("Bearer token.", "KUBE_TOKEN"))
                .attribute(
                    "cluster_ca_certificate",
                    s("PEM CA certificate of the cluster.", "KUBE_CLUSTER_CA_CERT_DATA"),
                )
                .attribute("insecure", insecure("KUBE_INSECURE")),
        ),
    )
    .block(
        "technitium",
        single(
            "Technitium DNS Server API access. Give a `token`, or `username` and `password`.",
            Schema::new("")
                .attribute("url", url("Server URL, e.g. `http://dns.lab:5380`.", "TECHNITIUM_URL"))
                .attribute(
                    "token",
                    secret("API token. Sent in a header or form body, never in a URL.", "TECHNITIUM_TOKEN"),
                )
                .attribute("username", s("User name, to log in instead of a token.", "TECHNITIUM_USERNAME"))
                .attribute("password", secret("Password, to log in instead of a token.", "TECHNITIUM_PASSWORD"))
                .attribute("ca_cert", s("PEM CA certificate to trust.", "TECHNITIUM_CA_CERT"))
                .attribute("insecure", insecure("TECHNITIUM_INSECURE")),
        ),
    )
    .block(
        "cloudflare",
        single(
            "Cloudflare API access.",
            Schema::new("")
                .attribute("api_token", secret("API token.", "CLOUDFLARE_API_TOKEN"))
                .attribute(
                    "base_url",
                    url("API base URL. Default `https://api.cloudflare.com/client/v4`.", "CLOUDFLARE_BASE_URL"),
                )
                .attribute(
                    "requests_per_second",
                    Attribute::number()
                        .optional()
                        .describe("Client-side rate limit. Default 4 (Cloudflare allows 1200 per 5 minutes).")
                        .validator(validators::from_fn("Between 0.01 and 1000.", |v| match v.as_number() {
                            Some(n) if (0.01..=1000.0).contains(&n.as_f64()) => Ok(()),
                            Some(n) => Err(format!("must be between 0.01 and 1000 requests a second, got {n}")),
                            None => Ok(()),
                        })),
                )
                .attribute(
                    "max_retries",
                    Attribute::int()
                        .optional()
                        .describe("Retries on 429, 5xx and connection errors. Default 4.")
                        .validator(validators::between(0, 20)),
                ),
        ),
    )
}

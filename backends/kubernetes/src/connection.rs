//! How to reach the apiserver: the provider's `kubernetes` block and each
//! resource's own `kubernetes` block (same settings, same parsing), and the
//! clients built from them. (A resource's block cannot be called
//! `connection`: Terraform reserves that name for provisioners and never
//! sends it to the provider.)
//!
//! [`Connections`] is what the resources receive: the provider block's
//! client, if any, and one cached client per distinct resource `kubernetes` block,
//! so that a refresh of many objects reaching one cluster builds one HTTP
//! client (one connection pool), not one per object.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use labforge_framework::backend::{missing_setting, not_configured};
use labforge_framework::schema::{Attribute, Nesting};
use labforge_framework::{AttributePath, Env, Error, Result};
use labforge_http::Secret;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Settings};
use crate::kubeconfig;

/// The provider block's name, and the variables that stand in for it.
pub(crate) const BLOCK: &str = "kubernetes";
pub(crate) const CONFIGURED_BY: &str = "KUBE_HOST and KUBE_TOKEN, or KUBE_CONFIG_PATH";

/// The settings of the provider's `kubernetes` block, and of a resource's
/// own `kubernetes` block. `Debug` shows which settings are set, never their
/// values (some are secrets).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct Block {
    /// API server URL.
    pub host: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// PEM client certificate.
    pub client_certificate: Option<String>,
    /// PEM client key.
    pub client_key: Option<String>,
    /// PEM CA certificate of the cluster.
    pub cluster_ca_certificate: Option<String>,
    /// Skip TLS verification.
    pub insecure: Option<bool>,
    /// Path of a kubeconfig.
    pub config_path: Option<String>,
    /// A kubeconfig's text.
    pub config_raw: Option<String>,
    /// The kubeconfig context.
    pub context: Option<String>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "(set)" } else { "(unset)" };
        f.debug_struct("Block")
            .field("host", &self.host)
            .field("token", &set(&self.token))
            .field("client_certificate", &set(&self.client_certificate))
            .field("client_key", &set(&self.client_key))
            .field("cluster_ca_certificate", &set(&self.cluster_ca_certificate))
            .field("insecure", &self.insecure)
            .field("config_path", &self.config_path)
            .field("config_raw", &set(&self.config_raw))
            .field("context", &self.context)
            .finish()
    }
}

/// A resource's own `kubernetes` block: the provider block's settings, per resource.
pub type Connection = Block;

const SUMMARY: &str = "Unable to configure Kubernetes";

/// Where the settings come from: the provider block (`kubernetes`, with the
/// environment variables) or a resource's own `kubernetes` block (no variables:
/// a connection says everything itself).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// The provider's `kubernetes` block.
    Provider,
    /// A resource's own `kubernetes` block.
    Resource,
}

impl Source {
    fn root(self) -> &'static str {
        match self {
            Source::Provider => BLOCK,
            Source::Resource => BLOCK,
        }
    }
}

/// Build a client from `b` (`None`: no block) and `env`. `Ok(None)`:
/// nothing configures it (no block, no variables).
pub(crate) fn build(b: Option<Block>, env: &Env, source: Source) -> Result<Option<Client>> {
    let root = source.root();
    let at = |attr: &str| AttributePath::attr(root).join_attr(attr);
    let configured = b.is_some();
    let b = b.unwrap_or_default();
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
                    root,
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
                root,
                "client_key",
                "A client certificate needs its key: set `client_key` (or KUBE_CLIENT_KEY_DATA).",
            ));
        }
        (None, Some(_)) => {
            return Err(missing_setting(
                root,
                "client_certificate",
                "A client key needs its certificate: set `client_certificate` (or KUBE_CLIENT_CERT_DATA).",
            ));
        }
    };
    if settings.token.is_none() && client_identity.is_none() {
        return Err(missing_setting(
            root,
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

/// The clients the resources use: the provider block's (if configured) and
/// one per distinct resource `kubernetes` block, built on first use and kept for the
/// provider process.
#[derive(Debug, Default)]
pub struct Connections {
    default: Option<Arc<Client>>,
    cache: Mutex<HashMap<Connection, Arc<Client>>>,
    built: AtomicUsize,
}

impl Connections {
    /// The provider block's client (`None`: the block is absent and no
    /// variable configures it; resources then need their own block).
    pub fn new(default: Option<Client>) -> Self {
        Self {
            default: default.map(Arc::new),
            ..Self::default()
        }
    }

    /// The client for a resource: its own block's (built once per
    /// distinct connection), else the provider block's, else "The
    /// kubernetes backend is not configured".
    pub fn resolve(&self, connection: Option<&Connection>) -> Result<Arc<Client>> {
        let Some(c) = connection else {
            return self.default.clone().ok_or_else(|| {
                not_configured(
                    BLOCK,
                    CONFIGURED_BY,
                    Some("give the resource its own `kubernetes` block"),
                )
            });
        };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = cache.get(c) {
            return Ok(Arc::clone(client));
        }
        let client = build(Some(c.clone()), &Env::default(), Source::Resource)?
            .map(Arc::new)
            .ok_or_else(|| {
                Error::msg("a resource's kubernetes block built no client. This is a bug.")
            })?;
        self.built.fetch_add(1, Ordering::Relaxed);
        cache.insert(c.clone(), Arc::clone(&client));
        Ok(client)
    }

    /// How many clients were built from resources' blocks so far.
    pub fn built(&self) -> usize {
        self.built.load(Ordering::Relaxed)
    }
}

/// The schema of a resource's own `kubernetes` attribute: the provider
/// block's settings, without its environment variables. Write-only (it is
/// credentials; the resources keep it in private state for refresh and
/// destroy): neither a block (Terraform reserves `connection` and several
/// sensitive attributes get marks whose order Terraform 1.11 does not keep,
/// so a refresh-only plan flaps between "no changes" and exit code 2) nor a
/// sensitive attribute (a resource with another sensitive attribute, such
/// as the BGP peer's `password`, flaps the same way).
pub(crate) fn connection_attr() -> Attribute {
    let s = |d: &str| Attribute::string().optional().describe(d);
    Attribute::nested(
        Nesting::Single,
        [
            ("host", s("API server URL, e.g. `https://10.0.0.10:6443`.")),
            ("token", s("Bearer token.")),
            (
                "client_certificate",
                s("PEM client certificate, for mutual TLS (with `client_key`)."),
            ),
            ("client_key", s("PEM private key of `client_certificate`.")),
            (
                "cluster_ca_certificate",
                s("PEM CA certificate of the cluster."),
            ),
            (
                "insecure",
                Attribute::bool()
                    .optional()
                    .describe("Skip TLS certificate verification (lab use only)."),
            ),
            (
                "config_path",
                s("Path of a kubeconfig file (YAML or JSON)."),
            ),
            ("config_raw", s("A kubeconfig's text (YAML or JSON).")),
            (
                "context",
                s("The kubeconfig context to use (default: its `current-context`)."),
            ),
        ],
    )
    .optional()
    .write_only()
    .describe(
        "This resource's own connection to the cluster, instead of the provider's `kubernetes` \
         block: for a cluster made in the same apply, e.g. `kubernetes = { config_raw = \
         homelab_talos_cluster_kubeconfig.lab[0].kubeconfig_raw }`. The provider block's settings, \
         without its environment variables; values may be unknown until apply (the plan then \
         needs no cluster). Write-only (Terraform 1.11 or later): never in state or plan output; \
         the provider keeps it in the resource's private state for refresh and destroy, and a \
         changed one is stored by an update (planned with `id` unknown). Import uses the provider \
         block (or its variables); the next apply stores this. (Not called `connection`: \
         Terraform reserves that name for provisioners.)",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kubeconfig(server: &str) -> String {
        format!(
            r#"{{"clusters":[{{"name":"c","cluster":{{"server":"{server}"}}}}],
            "users":[{{"name":"u","user":{{"token":"x"}}}}],
            "contexts":[{{"name":"ctx","context":{{"cluster":"c","user":"u"}}}}],
            "current-context":"ctx"}}"#
        )
    }

    #[test]
    fn one_client_per_distinct_connection() {
        let c = Connections::new(None);
        let e = c.resolve(None).unwrap_err().to_string();
        assert!(
            e.contains("The kubernetes backend is not configured"),
            "{e}"
        );
        assert!(e.contains("its own `kubernetes` block"), "{e}");
        let a = Block {
            config_raw: Some(kubeconfig("https://a:6443")),
            ..Block::default()
        };
        let b = Block {
            config_raw: Some(kubeconfig("https://b:6443")),
            ..Block::default()
        };
        let first = c.resolve(Some(&a)).unwrap();
        for _ in 0..20 {
            assert!(Arc::ptr_eq(&first, &c.resolve(Some(&a)).unwrap()));
        }
        assert_eq!(c.built(), 1);
        assert_eq!(c.resolve(Some(&b)).unwrap().host(), "https://b:6443");
        assert_eq!(c.built(), 2);
        assert_eq!(first.host(), "https://a:6443");
    }

    #[test]
    fn a_connection_overrides_the_provider_block_and_ignores_the_environment() {
        let default = build(
            None,
            &Env::from_pairs([("KUBE_HOST", "https://p:6443"), ("KUBE_TOKEN", "t")]),
            Source::Provider,
        )
        .unwrap();
        let c = Connections::new(default);
        assert_eq!(c.resolve(None).unwrap().host(), "https://p:6443");
        let own = Block {
            host: Some("https://own:6443".into()),
            token: Some("t".into()),
            ..Block::default()
        };
        assert_eq!(c.resolve(Some(&own)).unwrap().host(), "https://own:6443");
        // A connection without credentials points at its own attribute.
        let bare = Block {
            host: Some("https://own:6443".into()),
            ..Block::default()
        };
        let e = c.resolve(Some(&bare)).unwrap_err();
        assert_eq!(
            e.diagnostics().0[0].attribute,
            Some(AttributePath::attr("kubernetes").join_attr("token"))
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let b = Block {
            token: Some("s3cret".into()),
            config_raw: Some("s3cret".into()),
            client_key: Some("s3cret".into()),
            ..Block::default()
        };
        let d = format!("{b:?}");
        assert!(!d.contains("s3cret") && d.contains("(set)"), "{d}");
    }
}

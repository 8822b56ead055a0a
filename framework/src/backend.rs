//! Providers made of backends: one provider block, one client and one set of
//! resources per backend.
//!
//! A backend crate implements [`Backend`]: its block's schema, the
//! environment variables that stand in for the block, how to build its
//! client, and what it registers. A provider lists its backends in a
//! [`Backends`] set and hands that to the framework; the framework then
//!
//! - builds the provider schema (one optional block per backend),
//! - configures every backend from its block or its environment variables,
//! - scopes each backend's resources to that backend's client, so that a
//!   resource of a backend that is not configured gets "The proxmox backend
//!   is not configured" at plan, naming the block and the variables, without
//!   a line of resource code; unless the backend hands out a client of its
//!   own for that case ([`Backend::unconfigured`]), for resources that carry
//!   their own connection.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use labforge_cty::{AttributePath, Value};
use serde::de::DeserializeOwned;

use crate::context::Ctx;
use crate::diag::{Error, Result};
use crate::discover::{Filter, Inventory};
use crate::model;
use crate::provider::Registry;
use crate::schema::{Block, Schema};

/// One backend of a provider: a provider block, its client and its resources.
pub trait Backend: Send + Sync + 'static {
    /// The provider block's name, e.g. `"proxmox"`.
    const BLOCK: &'static str;
    /// The environment variables that configure the backend without a block,
    /// as the "not configured" diagnostic names them
    /// (e.g. `"PROXMOX_VE_ENDPOINT and PROXMOX_VE_API_TOKEN"`).
    const CONFIGURED_BY: &'static str;
    /// Every environment variable the backend reads.
    const ENV: &'static [&'static str];

    /// The name of its inventory data source (no provider prefix, e.g.
    /// `"proxmox_inventory"`), for a backend that implements
    /// [`Backend::discover`] and registers
    /// [`InventoryDataSource`](crate::discover::InventoryDataSource);
    /// `""`: it does not discover.
    const INVENTORY: &'static str = "";
    /// The filter keys [`Backend::discover`] understands, each with what it
    /// matches (e.g. `("node", "Proxmox node name")`).
    const FILTERS: &'static [(&'static str, &'static str)] = &[];

    /// The backend's client, as its resources receive it.
    type Client: Send + Sync + 'static;
    /// The provider block as a serde struct.
    type Block: DeserializeOwned + Default + Send;

    /// The block's schema; its description is the block's.
    fn schema(&self) -> Schema;

    /// Build the client from the block (absent: `None`) and the environment.
    /// `Ok(None)`: neither configures this backend.
    fn configure(&self, block: Option<Self::Block>, env: &Env) -> Result<Option<Self::Client>>;

    /// The backend's resources, data sources and ephemeral resources.
    fn register(&self, registry: Registry<Self::Client>) -> Registry<Self::Client>;

    /// The client its resources get when neither the block nor the
    /// environment configures the backend, for a backend whose resources
    /// may carry their own connection (a per-resource `connection` block,
    /// e.g. to a cluster made in the same apply). Such a client then says
    /// itself, with [`not_configured`], when a resource has no connection
    /// either. `None` (the default): every resource of the backend fails
    /// with "The <block> backend is not configured" at plan.
    fn unconfigured(&self) -> Option<Self::Client> {
        None
    }

    /// What exists on the backend that the provider's resources can import
    /// (see [`discover`](crate::discover)), read with `client` only (read-only
    /// credentials suffice), narrowed by `filter` (keys of
    /// [`Backend::FILTERS`]). The default: the backend does not discover.
    fn discover(
        &self,
        client: &Self::Client,
        filter: &Filter,
    ) -> impl Future<Output = Result<Inventory>> + Send {
        let _ = (client, filter);
        async {
            Err(Error::new(
                format!("The {} backend does not discover", Self::BLOCK),
                "It has no listing of what exists; write its import blocks by hand.",
            ))
        }
    }
}

/// "The `block` backend is not configured", naming the block, the
/// variables (`configured_by`) and, when the backend has one, the other way
/// (`or`, e.g. "give the resource a `connection` block").
pub fn not_configured(block: &str, configured_by: &str, or: Option<&str>) -> Error {
    let or = or.map(|o| format!(", or {o}")).unwrap_or_default();
    Error::new(
        format!("The {block} backend is not configured"),
        format!(
            "This resource needs {block}: add a `{block} {{ ... }}` block to the provider, \
             or set {configured_by}{or}."
        ),
    )
}

/// A snapshot of the environment variables the backends read.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The non-empty variables among `names`, from this process.
    pub fn from_process<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            names
                .into_iter()
                .filter_map(|k| {
                    std::env::var(k)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .map(|v| (k.to_string(), v))
                })
                .collect(),
        )
    }

    /// An environment of the given pairs (for tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// A variable's value, if set and not empty.
    pub fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    /// A boolean variable: `1`, `true` or `yes` (any case) is true.
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.0
            .get(key)
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
    }

    /// The block's value if set and not empty, else the variable's.
    pub fn pick(&self, block: Option<&String>, key: &str) -> Option<String> {
        block
            .filter(|s| !s.is_empty())
            .cloned()
            .or_else(|| self.get(key))
    }
}

/// A setting a backend needs and neither its block nor the environment gives,
/// pointing at the block's attribute.
pub fn missing_setting(block: &str, attribute: &str, detail: impl Into<String>) -> Error {
    Error::new(format!("Incomplete {block} configuration"), detail)
        .at(AttributePath::attr(block).join_attr(attribute))
}

/// A certificate setting that takes PEM text or a file name (as
/// terraform-routeros and the kubernetes provider do): PEM text is returned
/// as is, anything else is read as a file. An unreadable file is an error
/// pointing at the block's attribute.
pub fn pem_or_file(block: &str, attribute: &str, value: String) -> Result<String> {
    if value.contains("-----BEGIN") {
        return Ok(value);
    }
    std::fs::read_to_string(&value).map_err(|e| {
        Error::new(
            format!("Unable to configure {block}"),
            format!("{attribute}: {value:?} is neither PEM text nor a readable file: {e}"),
        )
        .at(AttributePath::attr(block).join_attr(attribute))
    })
}

/// Attributes of a provider block, each described with the environment
/// variable it falls back to.
pub mod attrs {
    use crate::schema::{Attribute, validators};

    /// An optional string.
    pub fn string(description: &str, env: &str) -> Attribute {
        Attribute::string()
            .optional()
            .describe(format!("{description} Falls back to `{env}`."))
    }

    /// An optional, sensitive string.
    pub fn secret(description: &str, env: &str) -> Attribute {
        string(description, env).sensitive()
    }

    /// An optional `http://` or `https://` URL.
    pub fn url(description: &str, env: &str) -> Attribute {
        string(description, env).validator(validators::matches(
            "^https?://[^\\s]+$",
            "an http:// or https:// URL",
        ))
    }

    /// `insecure`: skip certificate verification.
    pub fn insecure(env: &str) -> Attribute {
        Attribute::bool().optional().describe(format!(
            "Skip TLS certificate verification (lab use only). Falls back to `{env}`."
        ))
    }
}

/// A backend's state after `configure`.
#[allow(clippy::enum_variant_names)]
enum Configured {
    Ready(Arc<dyn Any + Send + Sync>),
    /// Neither the block nor the environment configures it; the client of
    /// [`Backend::unconfigured`], if the backend has one.
    NotConfigured(&'static str, Option<Arc<dyn Any + Send + Sync>>),
    /// Its block holds values known only after apply.
    Unknown,
}

/// The configured clients of every backend: the provider's client type.
pub struct Clients(BTreeMap<&'static str, Configured>);

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (block, c) in &self.0 {
            let state = match c {
                Configured::Ready(_) => "ready",
                Configured::NotConfigured(_, None) => "not configured",
                Configured::NotConfigured(_, Some(_)) => {
                    "not configured (resources may carry their own connection)"
                }
                Configured::Unknown => "unknown until apply",
            };
            m.entry(block, &state);
        }
        m.finish()
    }
}

impl Clients {
    /// The client of backend `block`, or why there is none: "not
    /// configured" (naming the block and its variables), or
    /// [`Error::config_unknown`] while its block is unknown.
    pub fn get<T: Send + Sync + 'static>(&self, block: &'static str) -> Result<Arc<T>> {
        let downcast = |c: &Arc<dyn Any + Send + Sync>| {
            Arc::clone(c).downcast::<T>().map_err(|_| {
                Error::msg(format!(
                    "the {block} backend's client has another type. This is a bug in the provider."
                ))
            })
        };
        match self.0.get(block) {
            Some(Configured::Ready(c) | Configured::NotConfigured(_, Some(c))) => downcast(c),
            Some(Configured::NotConfigured(variables, None)) => {
                Err(not_configured(block, variables, None))
            }
            Some(Configured::Unknown) => Err(Error::config_unknown(format!(
                "The provider's {block} block"
            ))),
            None => Err(Error::msg(format!(
                "the provider has no {block} backend. This is a bug in the provider."
            ))),
        }
    }

    /// Whether backend `block` is configured by its block or the environment.
    pub fn is_ready(&self, block: &str) -> bool {
        matches!(self.0.get(block), Some(Configured::Ready(_)))
    }
}

/// A provider's backends, in the order of their blocks in the docs.
#[derive(Default)]
pub struct Backends(Vec<Arc<dyn AnyBackend>>);

impl Backends {
    /// No backends yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a backend.
    pub fn with<B: Backend>(mut self, backend: B) -> Self {
        self.0.push(Arc::new(backend));
        self
    }

    /// The provider schema: `description`, and one optional block per backend.
    pub fn schema(&self, description: &str) -> Schema {
        self.0.iter().fold(Schema::new(description), |s, b| {
            let schema = b.schema();
            let description = schema.description.clone();
            s.block(b.block(), Block::single(schema).describe(description))
        })
    }

    /// Every environment variable the backends read.
    pub fn env_vars(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().flat_map(|b| b.env().iter().copied())
    }

    /// Configure every backend from `config` (the provider block as a
    /// value) and `env`.
    pub fn configure(&self, config: &Value, env: &Env) -> Result<Clients> {
        let mut out = BTreeMap::new();
        for b in &self.0 {
            let block = config.get(b.block()).unwrap_or(&Value::Null);
            out.insert(b.block(), b.configure(block, env)?);
        }
        Ok(Clients(out))
    }

    /// The blocks of the backends that discover ([`Backend::INVENTORY`]),
    /// each with its filter keys.
    pub fn discovering(&self) -> Vec<(&'static str, &'static [(&'static str, &'static str)])> {
        self.0
            .iter()
            .filter(|b| b.discovers())
            .map(|b| (b.block(), b.filters()))
            .collect()
    }

    /// Discover on every backend that discovers and that `clients` has
    /// configured, keeping those `only` names (all when empty); each with
    /// its block name. Each sees its own part of `filter`
    /// ([`Filter::for_backend`]). A backend's failure is its own entry: the others go on.
    pub async fn discover(
        &self,
        clients: &Clients,
        filter: &Filter,
        only: &[String],
    ) -> Vec<(&'static str, Result<Inventory>)> {
        let mut out = Vec::new();
        for b in &self.0 {
            if !b.discovers() || !(only.is_empty() || only.iter().any(|o| o == b.block())) {
                continue;
            }
            let own = filter.for_backend(b.block(), b.filters());
            if let Some(found) = b.discover(clients, &own).await {
                out.push((b.block(), found));
            }
        }
        out
    }

    /// Every backend's resources, each scoped to its backend's client.
    pub fn registry(&self) -> Registry<Clients> {
        self.0
            .iter()
            .fold(Registry::new(), |r, b| b.register_into(r))
    }
}

/// A [`Backend`] with its types erased.
trait AnyBackend: Send + Sync {
    fn block(&self) -> &'static str;
    fn env(&self) -> &'static [&'static str];
    fn schema(&self) -> Schema;
    fn configure(&self, block: &Value, env: &Env) -> Result<Configured>;
    fn register_into(&self, r: Registry<Clients>) -> Registry<Clients>;
    fn discovers(&self) -> bool;
    fn filters(&self) -> &'static [(&'static str, &'static str)];
    /// `None`: not configured by its block or the environment.
    fn discover<'a>(
        &'a self,
        clients: &'a Clients,
        filter: &'a Filter,
    ) -> Pin<Box<dyn Future<Output = Option<Result<Inventory>>> + Send + 'a>>;
}

impl<B: Backend> AnyBackend for B {
    fn block(&self) -> &'static str {
        B::BLOCK
    }

    fn env(&self) -> &'static [&'static str] {
        B::ENV
    }

    fn schema(&self) -> Schema {
        Backend::schema(self)
    }

    fn configure(&self, block: &Value, env: &Env) -> Result<Configured> {
        if block.contains_unknown() {
            return Ok(Configured::Unknown);
        }
        let block = match block {
            Value::Null => None,
            v => Some(model::from_value::<B::Block>(v)?),
        };
        Ok(match Backend::configure(self, block, env)? {
            Some(client) => Configured::Ready(Arc::new(client)),
            None => Configured::NotConfigured(
                B::CONFIGURED_BY,
                self.unconfigured()
                    .map(|c| Arc::new(c) as Arc<dyn Any + Send + Sync>),
            ),
        })
    }

    fn discovers(&self) -> bool {
        !B::INVENTORY.is_empty()
    }

    fn filters(&self) -> &'static [(&'static str, &'static str)] {
        B::FILTERS
    }

    fn discover<'a>(
        &'a self,
        clients: &'a Clients,
        filter: &'a Filter,
    ) -> Pin<Box<dyn Future<Output = Option<Result<Inventory>>> + Send + 'a>> {
        Box::pin(async move {
            if !clients.is_ready(B::BLOCK) {
                return None;
            }
            let client = match clients.get::<B::Client>(B::BLOCK) {
                Ok(c) => c,
                Err(e) => return Some(Err(e)),
            };
            Some(Backend::discover(self, &client, filter).await)
        })
    }

    fn register_into(&self, r: Registry<Clients>) -> Registry<Clients> {
        let own = self.register(Registry::new());
        r.scoped(B::BLOCK, own, |ctx: &Ctx<Clients>| {
            ctx.client()
                .get::<B::Client>(B::BLOCK)
                .map(|c| ctx.with_client(c))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::schema::Attribute;

    struct Dns;

    #[derive(Default, serde::Deserialize)]
    struct DnsBlock {
        url: Option<String>,
    }

    impl Backend for Dns {
        const BLOCK: &'static str = "dns";
        const CONFIGURED_BY: &'static str = "DNS_URL";
        const ENV: &'static [&'static str] = &["DNS_URL"];
        type Client = String;
        type Block = DnsBlock;

        fn schema(&self) -> Schema {
            Schema::new("DNS access.").attribute("url", Attribute::string().optional())
        }

        fn configure(&self, block: Option<DnsBlock>, env: &Env) -> Result<Option<String>> {
            let b = block.unwrap_or_default();
            Ok(env.pick(b.url.as_ref(), "DNS_URL"))
        }

        fn register(&self, r: Registry<String>) -> Registry<String> {
            r
        }
    }

    /// A backend whose resources may carry their own connection: without
    /// its block it hands them a client that holds no default.
    struct Kube;

    impl Backend for Kube {
        const BLOCK: &'static str = "kube";
        const CONFIGURED_BY: &'static str = "KUBE_URL";
        const ENV: &'static [&'static str] = &["KUBE_URL"];
        type Client = Option<String>;
        type Block = DnsBlock;

        fn schema(&self) -> Schema {
            Schema::new("Kube access.").attribute("url", Attribute::string().optional())
        }

        fn configure(&self, block: Option<DnsBlock>, env: &Env) -> Result<Option<Option<String>>> {
            let b = block.unwrap_or_default();
            Ok(env.pick(b.url.as_ref(), "KUBE_URL").map(Some))
        }

        fn register(&self, r: Registry<Option<String>>) -> Registry<Option<String>> {
            r
        }

        fn unconfigured(&self) -> Option<Option<String>> {
            Some(None)
        }
    }

    #[test]
    fn a_backend_with_an_unconfigured_client_hands_it_out_without_its_block() {
        let set = Backends::new().with(Kube).with(Dns);
        let none = set.configure(&Value::Null, &Env::default()).unwrap();
        // Kube's resources get its fallback client; Dns's still fail.
        assert_eq!(*none.get::<Option<String>>("kube").unwrap(), None);
        assert!(!none.is_ready("kube"));
        assert!(format!("{none:?}").contains("their own connection"));
        let e = none.get::<String>("dns").unwrap_err();
        assert!(
            e.to_string().contains("The dns backend is not configured"),
            "{e}"
        );
        // Configured, the block's client wins.
        let env = Env::from_pairs([("KUBE_URL", "http://k")]);
        let by_env = set.configure(&Value::Null, &env).unwrap();
        assert_eq!(
            by_env.get::<Option<String>>("kube").unwrap().as_deref(),
            Some("http://k")
        );
        assert!(by_env.is_ready("kube"));
        // Unknown until apply stays unknown: the fallback is for "absent" only.
        let unknown = Value::object([("kube", Value::object([("url", Value::unknown())]))]);
        let later = set.configure(&unknown, &Env::default()).unwrap();
        assert!(
            later
                .get::<Option<String>>("kube")
                .unwrap_err()
                .is_config_unknown()
        );
        // The message a fallback client gives, with its other way.
        let e = not_configured(
            "kube",
            "KUBE_URL",
            Some("give the resource a `connection` block"),
        );
        assert!(
            e.to_string().contains("set KUBE_URL, or give the resource"),
            "{e}"
        );
    }

    #[test]
    fn certificates_are_pem_text_or_a_file() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_or_file("b", "ca", pem.into()).unwrap(), pem);
        let dir = std::env::temp_dir().join(format!("labforge-pem-{}", std::process::id()));
        std::fs::write(&dir, pem).unwrap();
        let path = dir.display().to_string();
        assert_eq!(pem_or_file("b", "ca", path.clone()).unwrap(), pem);
        std::fs::remove_file(&dir).unwrap();
        let e = pem_or_file("routeros", "ca_certificate", path).unwrap_err();
        assert!(
            e.to_string()
                .contains("neither PEM text nor a readable file"),
            "{e}"
        );
    }

    #[test]
    fn a_backend_is_configured_by_its_block_or_its_variables() {
        let set = Backends::new().with(Dns);
        assert!(set.schema("p").blocks.contains_key("dns"));
        assert_eq!(set.env_vars().collect::<Vec<_>>(), ["DNS_URL"]);

        let none = set.configure(&Value::Null, &Env::default()).unwrap();
        let e = none.get::<String>("dns").unwrap_err();
        assert!(e.to_string().contains("DNS_URL"), "{e}");

        let env = Env::from_pairs([("DNS_URL", "http://env")]);
        let by_env = set.configure(&Value::Null, &env).unwrap();
        assert_eq!(*by_env.get::<String>("dns").unwrap(), "http://env");

        let block = Value::object([("dns", Value::object([("url", Value::from("http://b"))]))]);
        let by_block = set.configure(&block, &env).unwrap();
        assert_eq!(*by_block.get::<String>("dns").unwrap(), "http://b");

        let unknown = Value::object([("dns", Value::object([("url", Value::unknown())]))]);
        let later = set.configure(&unknown, &Env::default()).unwrap();
        assert!(later.get::<String>("dns").unwrap_err().is_config_unknown());
        assert!(format!("{later:?}").contains("unknown until apply"));
    }
}

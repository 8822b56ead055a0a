//! The inventory data source every discovering backend registers
//! (e.g. `homelab_proxmox_inventory`): the same listing as `homelab-discover`,
//! for a configuration that reads what exists without managing it.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::{Filter, Inventory};
use crate::backend::Backend;
use crate::context::Ctx;
use crate::diag::Result;
use crate::resource::DataSource;
use crate::schema::{Attribute, Nesting, Schema};
use crate::{Type, schema};

/// The inventory data source of backend `B` (named `B::INVENTORY`).
/// Register it in the backend's `register`:
/// `.data_source(InventoryDataSource::new(*self, "homelab"))`.
pub struct InventoryDataSource<B> {
    backend: B,
    provider: &'static str,
    _b: PhantomData<fn() -> B>,
}

impl<B: Backend> InventoryDataSource<B> {
    /// The data source of `backend`, in the provider named `provider`
    /// (the prefix of its resource types, e.g. `homelab`).
    pub fn new(backend: B, provider: &'static str) -> Self {
        Self {
            backend,
            provider,
            _b: PhantomData,
        }
    }
}

/// The data source's configuration and result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryModel {
    /// Filter keys to allowed values.
    pub filter: Option<BTreeMap<String, Vec<String>>>,
    /// Objects a resource type can import.
    pub objects: Option<Vec<ObjectItem>>,
    /// Objects left alone, and why.
    pub skipped: Option<Vec<SkippedItem>>,
}

/// One object of `objects`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectItem {
    /// Full resource type, e.g. `homelab_technitium_dns_record`.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Suggested resource name.
    pub name: String,
    /// Import ID.
    pub id: String,
    /// What it is, in words.
    pub summary: String,
    /// Identifying values.
    pub attributes: BTreeMap<String, String>,
}

/// One object of `skipped`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedItem {
    /// What it is.
    pub what: String,
    /// Why it is left alone.
    pub why: String,
}

impl<B: Backend> DataSource for InventoryDataSource<B> {
    type Client = B::Client;
    type Model = InventoryModel;
    const NAME: &'static str = B::INVENTORY;

    fn schema(&self) -> Schema {
        let keys = B::FILTERS
            .iter()
            .map(|(k, d)| format!("`{k}` ({d})"))
            .collect::<Vec<_>>()
            .join(", ");
        let s = |d: &str| Attribute::string().computed().describe(d);
        Schema::new(format!(
            "Everything the {} backend holds that the provider's resources can import, \
             as `homelab-discover` lists it (read-only credentials suffice), and what it \
             leaves alone and why. Use it to read what exists without managing it, or to \
             write `import` blocks with `for_each`.",
            B::BLOCK
        ))
        .attribute(
            "filter",
            Attribute::map(Type::list(Type::String))
                .optional()
                .describe(format!(
                    "Only objects whose key is one of the values. Keys: {keys}."
                ))
                .validator(schema::validators::keys_match(
                    &format!(
                        "^({})$",
                        B::FILTERS
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join("|")
                    ),
                    "one of the filter keys above",
                )),
        )
        .attribute(
            "objects",
            Attribute::nested(
                Nesting::List,
                [
                    (
                        "type",
                        s("Resource type, e.g. `homelab_technitium_dns_record`."),
                    ),
                    ("name", s("A readable resource name, unique per type.")),
                    ("id", s("The import ID.")),
                    ("summary", s("What the object is, in words.")),
                    (
                        "attributes",
                        Attribute::map(Type::String)
                            .computed()
                            .describe("Identifying values (e.g. `node`, `zone`, `chain`)."),
                    ),
                ],
            )
            .computed()
            .describe(
                "Objects a resource type of this provider can import, in the backend's order.",
            ),
        )
        .attribute(
            "skipped",
            Attribute::nested(
                Nesting::List,
                [
                    ("what", s("What the object is.")),
                    ("why", s("Why it is not imported.")),
                ],
            )
            .computed()
            .describe("Objects left alone (made by the platform itself), and why."),
        )
    }

    async fn read(&self, ctx: &Ctx<B::Client>, config: InventoryModel) -> Result<InventoryModel> {
        let filter = config
            .filter
            .clone()
            .unwrap_or_default()
            .into_iter()
            .fold(Filter::all(), |f, (k, v)| f.with(&k, v));
        let inv: Inventory = self.backend.discover(ctx.client(), &filter).await?;
        Ok(InventoryModel {
            filter: config.filter,
            objects: Some(
                inv.found
                    .into_iter()
                    .map(|f| ObjectItem {
                        rtype: format!("{}_{}", self.provider, f.resource_type),
                        name: f.name,
                        id: f.id,
                        summary: f.summary,
                        attributes: f.attributes,
                    })
                    .collect(),
            ),
            skipped: Some(
                inv.skipped
                    .into_iter()
                    .map(|s| SkippedItem {
                        what: s.what,
                        why: s.why,
                    })
                    .collect(),
            ),
        })
    }
}

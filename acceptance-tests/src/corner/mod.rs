//! `labforge/corner`: a test-only provider that drives every protocol and
//! framework feature through the real CLI (see `tests/corner.rs`).
//!
//! Its "API" is a JSON file (the [`Store`]), because every terraform command
//! starts a new provider process: state must survive across processes, and
//! tests edit the file behind Terraform's back to simulate drift and
//! out-of-band deletion.
//!
//! - [`everything`] - `corner_everything` (every attribute kind, blocks,
//!   defaults, validators, private state, write-only, state upgrade, import)
//!   and `corner_renamed` (takes state moved from `corner_everything`).
//! - [`extras`] - the `corner_lookup` data source, the `corner_token`
//!   ephemeral resource and the `reverse` / `join` functions.

pub mod everything;
pub mod extras;
pub mod store;

use labforge_framework::schema::Attribute;
use labforge_framework::{Error, Provider, Registry, Result, Schema, Value};
use serde::Deserialize;

pub use store::{Store, StoreData, fingerprint};

/// The provider's source address.
pub const ADDRESS: &str = "registry.terraform.io/labforge/corner";

/// Environment variable naming the store file when the provider block does not.
pub const STORE_ENV: &str = "CORNER_STORE";

/// The `corner` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Corner;

/// The provider block.
#[derive(Debug, Deserialize)]
pub struct Config {
    pub store_path: Option<String>,
}

impl Provider for Corner {
    type Client = Store;
    type Config = Config;
    const NAME: &'static str = "corner";

    fn schema(&self) -> Schema {
        Schema::new("Test-only provider backed by a JSON file.").attribute(
            "store_path",
            Attribute::string()
                .optional()
                .describe("Path of the JSON store (default: `$CORNER_STORE`)."),
        )
    }

    async fn configure(&self, config: Config, raw: &Value) -> Result<Store> {
        if raw.get("store_path").is_some_and(Value::is_unknown) {
            return Err(Error::config_unknown("store_path"));
        }
        let path = config
            .store_path
            .or_else(|| std::env::var(STORE_ENV).ok().filter(|s| !s.is_empty()))
            .ok_or_else(|| {
                Error::new(
                    "No store",
                    format!("Set store_path in the provider block or {STORE_ENV}."),
                )
            })?;
        Ok(Store::new(path))
    }

    fn resources(&self) -> Registry<Store> {
        Registry::new()
            .resource(everything::Everything)
            .resource(everything::Renamed)
            .data_source(extras::Lookup)
            .ephemeral(extras::Token)
            .function(extras::Reverse)
            .function(extras::Join)
    }
}

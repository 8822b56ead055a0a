//! # labforge-framework: write Terraform providers in Rust
//!
//! Three layers, like HashiCorp's: the wire (`labforge-proto`,
//! `labforge-cty`, `labforge-server`), this framework, and providers. A
//! provider author writes schemas and typed CRUD; nothing here leaks protobuf
//! or msgpack to them.
//!
//! ## Where to start
//! - [`Provider`]: the provider block, `configure`, and the [`Registry`] of
//!   resources, data sources, ephemeral resources and functions.
//! - [`Backend`]: one backend of a provider made of several (its block,
//!   environment variables, client and resources); [`Backends`] combines
//!   them and scopes each backend's resources to its client.
//! - [`Resource`] (and [`DataSource`], [`EphemeralResource`], [`Function`]):
//!   what a resource author implements.
//! - [`schema`]: schemas as data, with [`schema::modifiers`] and
//!   [`schema::validators`] declared beside each attribute.
//! - [`model`]: serde between Terraform values and model structs.
//! - [`plan`]: the planning algorithm (defaults, computed unknowns, plan
//!   modifiers, replacement), kept identical to terraform-plugin-framework's.
//! - [`server`]: what each RPC of the plugin protocol does, in framework
//!   types (unit-tested without protobuf).
//! - [`grpc`]: the tfplugin6 service: converts each message and calls
//!   [`server`]; [`serve`] is what a provider's `main` calls.
//! - [`discover`]: what exists on a backend, as import blocks, an
//!   inventory data source, and the tidying of generated configuration.
//! - [`docs`]: registry-style Markdown generated from the schemas.

#![warn(missing_docs, unreachable_pub)]

pub mod backend;
pub mod context;
pub mod diag;
pub mod discover;
pub mod docs;
pub mod grpc;
pub mod model;
pub mod plan;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod server;

pub use backend::{Backend, Backends, Clients, Env};
pub use context::{Ctx, StopSignal};
pub use diag::{Diagnostic, Diagnostics, Error, Result, Severity};
pub use labforge_cty::{AttributePath, Number, PathStep, Type, Value};
pub use model::{Attr, Raw};
pub use provider::{Provider, Registry};
pub use resource::{
    DataSource, EphemeralResource, Function, FunctionDefinition, FunctionError, MoveSource, Opened,
    Parameter, PlanChange, Resource, StateUpgrader,
};
pub use schema::{Attribute, Block, Nesting, Schema};

pub use labforge_server::PluginInfo;

/// Run a provider binary: what `main` calls. Handles the go-plugin handshake,
/// AutoMTLS, `--debug` and logging (see `labforge-server`).
///
/// `address` is the provider's source address, e.g.
/// `registry.terraform.io/labforge/homelab`.
pub fn serve<P: Provider>(
    provider: P,
    address: &'static str,
    version: &'static str,
) -> std::process::ExitCode {
    let info = PluginInfo {
        address,
        name: P::NAME,
        version,
    };
    labforge_server::main(info, move || grpc::ProviderService::new(provider))
}

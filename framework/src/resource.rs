//! What provider authors implement: resources, data sources, ephemeral
//! resources and functions. None of it sees the wire.

use std::future::Future;

use labforge_cty::{AttributePath, Type, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Ctx;
use crate::diag::{Diagnostics, Error, Result};
use crate::schema::Schema;

/// A managed resource type, such as `homelab_technitium_zone`.
///
/// Required: `schema`, `create`, `read`, `update`, `delete`. The rest have
/// defaults. Resources are usually unit structs; state lives upstream.
///
/// Rules the framework enforces around these methods:
/// - `create` and `update` return the object as read back from the API, with
///   every computed attribute known; known planned values must be kept
///   (a mismatch is reported with the attribute's path).
/// - `read` returns `Ok(None)` when the object is gone: it leaves state, and
///   the next plan creates it again.
/// - `delete` succeeds when the object is already gone.
/// - If `create` fails after making something, it must clean up (or return
///   the partial object with [`Error::with_partial_state`]) so nothing is
///   left that state forgets.
pub trait Resource: Send + Sync + 'static {
    /// The client the provider builds in `configure`.
    type Client: Send + Sync + 'static;
    /// One instance as a serde struct: config, plan and state decode into it.
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Type name without the provider prefix: `"technitium_zone"`.
    const NAME: &'static str;

    /// The resource's schema; [`Resource::Model`] must match it (checked at
    /// registration).
    fn schema(&self) -> Schema;

    /// Create the object described by `plan` and return it as read back from
    /// the API, every computed attribute known.
    fn create(
        &self,
        ctx: &Ctx<Self::Client>,
        plan: Self::Model,
    ) -> impl Future<Output = Result<Self::Model>> + Send;

    /// Refresh: the object as it is now, or `None` if it no longer exists.
    fn read(
        &self,
        ctx: &Ctx<Self::Client>,
        state: Self::Model,
    ) -> impl Future<Output = Result<Option<Self::Model>>> + Send;

    /// Change the object from `prior` (state) to `plan` in place and return
    /// it as read back. Only called when no changed attribute forces
    /// replacement.
    fn update(
        &self,
        ctx: &Ctx<Self::Client>,
        prior: Self::Model,
        plan: Self::Model,
    ) -> impl Future<Output = Result<Self::Model>> + Send;

    /// Delete the object; succeed if it is already gone.
    fn delete(
        &self,
        ctx: &Ctx<Self::Client>,
        state: Self::Model,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Import by ID: parse `id` and read the object. The docs show the format.
    fn import(
        &self,
        ctx: &Ctx<Self::Client>,
        id: &str,
    ) -> impl Future<Output = Result<Self::Model>> + Send {
        let _ = ctx;
        let id = id.to_string();
        async move {
            Err(Error::new(
                "Import not supported",
                format!("{} cannot be imported (ID {id:?}).", Self::NAME),
            ))
        }
    }

    /// The import ID format, for the docs (e.g. "`zone_id/record_id`").
    fn import_id_format(&self) -> Option<&'static str> {
        None
    }

    /// Resource-wide plan changes beyond the schema's attribute plan modifiers.
    /// Not called for a destroy; an [`Error::config_unknown`] leaves the plan
    /// as the framework made it.
    fn modify_plan(
        &self,
        ctx: &Ctx<Self::Client>,
        plan: &mut PlanChange<'_>,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (ctx, plan);
        async { Ok(()) }
    }

    /// Checks across attributes at validate time (values may be unknown).
    fn validate(&self, config: &Value) -> Diagnostics {
        let _ = config;
        Diagnostics::new()
    }

    /// Upgraders from older state versions, for `schema().version > 0`.
    fn state_upgraders(&self) -> Vec<StateUpgrader> {
        Vec::new()
    }

    /// Accept state moved from another resource type (`moved` blocks).
    /// `None`: this resource does not take moves from that source.
    fn move_state(&self, source: &MoveSource) -> Option<Result<Value>> {
        let _ = source;
        None
    }
}

/// Upgrade state written by schema `from_version`, whose layout `prior_schema` describes.
pub struct StateUpgrader {
    /// The schema version of the state this upgrader reads.
    pub from_version: i64,
    /// The schema state of `from_version` was written with; the stored JSON
    /// is decoded with it before `upgrade` runs.
    pub prior_schema: Schema,
    /// Old state in, state of the current schema out (the framework coerces
    /// it to the current type and reports a mismatch as an error).
    pub upgrade: fn(Value) -> Result<Value>,
}

/// State being moved from another resource type.
#[derive(Debug)]
pub struct MoveSource {
    /// e.g. `registry.terraform.io/labforge/homelab`.
    pub provider_address: String,
    /// The source resource type, with its provider prefix
    /// (e.g. `homelab_technitium_record`).
    pub type_name: String,
    /// The schema version the source state was written with.
    pub schema_version: i64,
    /// The source state, decoded without its schema: numbers may lose
    /// precision and `dynamic` attributes show as `{value, type}` objects.
    /// Use [`MoveSource::decode`] when the source schema is known.
    pub state: Value,
    /// The source state as Terraform sent it (the state file's JSON).
    pub json: Vec<u8>,
}

impl MoveSource {
    /// The source state decoded with the source's schema (the layout of
    /// `schema_version`): exact numbers and typed `dynamic` values, which
    /// the schema-less [`MoveSource::state`] cannot give.
    pub fn decode(&self, schema: &Schema) -> Result<Value> {
        labforge_cty::json::decode(&self.json, &schema.value_type()).map_err(|e| {
            Error::new(
                "Unable to read the moved state",
                format!("{} (version {}): {e}", self.type_name, self.schema_version),
            )
        })
    }
}

/// A plan being made, for [`Resource::modify_plan`].
#[derive(Debug)]
pub struct PlanChange<'a> {
    /// The configuration (values may be unknown).
    pub config: &'a Value,
    /// Null when creating.
    pub prior: &'a Value,
    /// The planned new state so far (defaults, unknown computed values and
    /// attribute plan modifiers already applied).
    pub planned: &'a mut Value,
    /// Attributes whose change forces replacement; push to add one.
    pub requires_replace: &'a mut Vec<AttributePath>,
    /// Errors and warnings returned with the plan.
    pub diagnostics: &'a mut Diagnostics,
}

impl PlanChange<'_> {
    /// Whether the resource is being created (no prior state).
    pub fn creating(&self) -> bool {
        self.prior.is_null()
    }
    /// Whether the resource is being destroyed (the plan is null). The
    /// framework does not call [`Resource::modify_plan`] for a destroy, so
    /// there this is always false.
    pub fn destroying(&self) -> bool {
        self.planned.is_null()
    }
    /// A top-level attribute of the planned state.
    pub fn planned_attr(&self, name: &str) -> &Value {
        self.planned.get(name).unwrap_or(&Value::Null)
    }
    /// A top-level attribute of the prior state (null when creating).
    pub fn prior_attr(&self, name: &str) -> &Value {
        self.prior.get(name).unwrap_or(&Value::Null)
    }
    /// A top-level attribute of the configuration (null when absent).
    pub fn config_attr(&self, name: &str) -> &Value {
        self.config.get(name).unwrap_or(&Value::Null)
    }
    /// Set a top-level attribute of the planned state (nothing happens when
    /// the plan is not an object).
    pub fn set(&mut self, name: &str, v: Value) {
        if let Value::Object(m) = self.planned {
            m.insert(name.to_string(), v);
        }
    }
    /// Mark the attribute at `path` as forcing replacement.
    pub fn require_replace(&mut self, path: AttributePath) {
        self.requires_replace.push(path);
    }
}

/// A data source, such as `homelab_cloudflare_zone`.
pub trait DataSource: Send + Sync + 'static {
    /// The client the provider builds in `configure`.
    type Client: Send + Sync + 'static;
    /// The configuration and result as a serde struct.
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Type name without the provider prefix: `"cloudflare_zone"`.
    const NAME: &'static str;

    /// The data source's schema; [`DataSource::Model`] must match it.
    fn schema(&self) -> Schema;

    /// Fill in the computed attributes. Not finding what was asked for is an error.
    fn read(
        &self,
        ctx: &Ctx<Self::Client>,
        config: Self::Model,
    ) -> impl Future<Output = Result<Self::Model>> + Send;

    /// Checks across attributes at validate time (values may be unknown).
    fn validate(&self, config: &Value) -> Diagnostics {
        let _ = config;
        Diagnostics::new()
    }
}

/// An ephemeral resource (Terraform 1.10+): a value that is never stored.
pub trait EphemeralResource: Send + Sync + 'static {
    /// The client the provider builds in `configure`.
    type Client: Send + Sync + 'static;
    /// The configuration and result as a serde struct.
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Type name without the provider prefix.
    const NAME: &'static str;

    /// The ephemeral resource's schema; [`EphemeralResource::Model`] must match it.
    fn schema(&self) -> Schema;

    /// Produce the value. Keep what `close` needs in private state (`ctx.set_private`).
    fn open(
        &self,
        ctx: &Ctx<Self::Client>,
        config: Self::Model,
    ) -> impl Future<Output = Result<Opened<Self::Model>>> + Send;

    /// Extend the value's life when `renew_at` has come; private state is
    /// what `open` (or the last renew) kept. Returns the next renewal time,
    /// `None` for none. The default does nothing.
    fn renew(
        &self,
        ctx: &Ctx<Self::Client>,
    ) -> impl Future<Output = Result<Option<std::time::SystemTime>>> + Send {
        let _ = ctx;
        async { Ok(None) }
    }

    /// Release the value (revoke a token, ...) when Terraform is done with
    /// it; private state is what `open` or `renew` kept. The default does
    /// nothing.
    fn close(&self, ctx: &Ctx<Self::Client>) -> impl Future<Output = Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }
}

/// What [`EphemeralResource::open`] returns.
#[derive(Debug)]
pub struct Opened<M> {
    /// The configuration with its computed attributes filled in (never stored).
    pub result: M,
    /// When Terraform should call `renew`; `None`: never.
    pub renew_at: Option<std::time::SystemTime>,
}

/// A provider-defined function (`provider::homelab::name(...)`).
pub trait Function: Send + Sync + 'static {
    /// The function's name, as called after `provider::<provider name>::`.
    const NAME: &'static str;
    /// Signature and documentation.
    fn definition(&self) -> FunctionDefinition;
    /// Evaluate a call: one value per argument (variadic ones included, in
    /// order), each conforming to its parameter's type.
    fn call(&self, args: Vec<Value>) -> Result<Value, FunctionError>;
}

/// A function's signature and docs.
#[derive(Debug, Clone)]
pub struct FunctionDefinition {
    /// One line, for listings.
    pub summary: String,
    /// Markdown.
    pub description: String,
    /// The positional parameters, in order.
    pub parameters: Vec<Parameter>,
    /// The parameter any further arguments bind to; `None`: no more are allowed.
    pub variadic: Option<Parameter>,
    /// The type of the result.
    pub returns: Type,
}

/// One function parameter.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// Name, for docs and error messages.
    pub name: String,
    /// The type arguments are converted to before the call.
    pub ty: Type,
    /// Markdown.
    pub description: String,
    /// Whether a null argument reaches [`Function::call`]; when false,
    /// Terraform rejects it before calling.
    pub allow_null: bool,
    /// Whether an argument that is not wholly known reaches
    /// [`Function::call`]; when false, Terraform skips the call and takes
    /// the result as unknown.
    pub allow_unknown: bool,
}

impl Parameter {
    /// A parameter that takes neither null nor unknown values.
    pub fn new(name: &str, ty: Type, description: &str) -> Self {
        Self {
            name: name.to_string(),
            ty,
            description: description.to_string(),
            allow_null: false,
            allow_unknown: false,
        }
    }
}

/// A function call error, optionally naming the argument at fault.
#[derive(Debug, Clone)]
pub struct FunctionError {
    /// What went wrong, for the user.
    pub text: String,
    /// Zero-based index of the offending argument; `None` when it is the
    /// call as a whole.
    pub argument: Option<i64>,
}

impl FunctionError {
    /// An error blamed on the argument at zero-based `index`.
    pub fn argument(index: i64, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            argument: Some(index),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::schema::Attribute;

    #[test]
    fn move_source_decodes_with_a_schema() {
        let json = br#"{"big":0.30000000000000000000000000000001,"any":{"value":["a",1],"type":["tuple",["string","number"]]}}"#;
        let source = MoveSource {
            provider_address: "registry.terraform.io/labforge/corner".into(),
            type_name: "corner_everything".into(),
            schema_version: 1,
            state: Value::Null,
            json: json.to_vec(),
        };
        let schema = Schema::new("s")
            .attribute("big", Attribute::number().optional())
            .attribute("any", Attribute::dynamic().optional());
        let v = source.decode(&schema).unwrap();
        assert_eq!(
            v.get("big")
                .and_then(Value::as_number)
                .map(ToString::to_string),
            Some("0.30000000000000000000000000000001".to_string())
        );
        let Some(Value::Dynamic(ty, inner)) = v.get("any") else {
            panic!("not a dynamic value: {v:?}");
        };
        assert_eq!(*ty, Type::tuple([Type::String, Type::Number]));
        assert_eq!(inner.elements().map(<[Value]>::len), Some(2));
    }
}

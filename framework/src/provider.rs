//! The provider: its configuration, and the registry of what it offers.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use labforge_cty::{Type, Value};
use serde::de::DeserializeOwned;

use crate::context::Ctx;
use crate::diag::{Diagnostics, Error, Result};
use crate::model;
use crate::resource::{
    DataSource, EphemeralResource, Function, MoveSource, Opened, PlanChange, Resource,
    StateUpgrader,
};
use crate::schema::Schema;

/// A Terraform provider.
pub trait Provider: Send + Sync + 'static {
    /// What `configure` builds and every resource receives (API clients).
    type Client: Send + Sync + 'static;
    /// The provider block as a serde struct.
    type Config: DeserializeOwned + Send;

    /// The provider's type name: `"homelab"`; resources are `homelab_<name>`.
    const NAME: &'static str;

    /// The provider block's schema; [`Provider::Config`] must match it.
    fn schema(&self) -> Schema;

    /// Build the client from the provider block. `raw` is the same
    /// configuration as a value: during plan parts of it may be unknown
    /// (they come from other resources); plan what can be planned and
    /// answer [`Error::config_unknown`] from the parts that need them.
    fn configure(
        &self,
        config: Self::Config,
        raw: &Value,
    ) -> impl Future<Output = Result<Self::Client>> + Send;

    /// Everything the provider offers. Called once, when the server starts.
    fn resources(&self) -> Registry<Self::Client>;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything a provider offers, type-erased for the server.
pub struct Registry<C> {
    pub(crate) resources: BTreeMap<&'static str, Arc<dyn AnyResource<C>>>,
    pub(crate) data_sources: BTreeMap<&'static str, Arc<dyn AnyDataSource<C>>>,
    pub(crate) ephemeral: BTreeMap<&'static str, Arc<dyn AnyEphemeral<C>>>,
    pub(crate) functions: BTreeMap<&'static str, Arc<dyn AnyFunction>>,
    /// Definition mistakes found while registering (a model that does not
    /// match its schema, a name registered twice).
    pub(crate) errors: Vec<String>,
    /// What error summaries call each item ("VM" in "Unable to create VM"),
    /// where it is not the name in words.
    pub(crate) nouns: BTreeMap<&'static str, String>,
}

impl<C: Send + Sync + 'static> Default for Registry<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Send + Sync + 'static> Registry<C> {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            resources: BTreeMap::new(),
            data_sources: BTreeMap::new(),
            ephemeral: BTreeMap::new(),
            functions: BTreeMap::new(),
            errors: Vec::new(),
            nouns: BTreeMap::new(),
        }
    }

    /// Add a resource type.
    pub fn resource<R: Resource<Client = C>>(mut self, r: R) -> Self {
        let typed = Typed::new::<R::Model>(r.schema(), r, &mut self.errors, R::NAME);
        insert(
            &mut self.resources,
            &mut self.errors,
            R::NAME,
            Arc::new(typed),
        );
        self
    }

    /// Add a data source.
    pub fn data_source<D: DataSource<Client = C>>(mut self, d: D) -> Self {
        let typed = Typed::new::<D::Model>(d.schema(), d, &mut self.errors, D::NAME);
        insert(
            &mut self.data_sources,
            &mut self.errors,
            D::NAME,
            Arc::new(typed),
        );
        self
    }

    /// Add an ephemeral resource.
    pub fn ephemeral<E: EphemeralResource<Client = C>>(mut self, e: E) -> Self {
        let typed = Typed::new::<E::Model>(e.schema(), e, &mut self.errors, E::NAME);
        insert(
            &mut self.ephemeral,
            &mut self.errors,
            E::NAME,
            Arc::new(typed),
        );
        self
    }

    /// Add a provider-defined function.
    pub fn function<F: Function>(mut self, f: F) -> Self {
        insert(&mut self.functions, &mut self.errors, F::NAME, Arc::new(f));
        self
    }

    /// Add everything of `inner`, a registry written for another client
    /// type `T` (a backend's own client), reaching it through `scope`. When
    /// `scope` fails (the backend is not configured), every operation but
    /// planning a destroy fails with its error, so a resource of an
    /// unconfigured backend is reported at plan, not at apply. Error
    /// summaries name the items without `prefix` (the backend's block):
    /// `proxmox_vm` is "VM" in "Unable to create VM".
    pub fn scoped<T: Send + Sync + 'static>(
        mut self,
        prefix: &str,
        inner: Registry<T>,
        scope: fn(&Ctx<C>) -> Result<Ctx<T>>,
    ) -> Self {
        self.errors.extend(inner.errors);
        let names = inner.resources.keys().chain(inner.data_sources.keys());
        for n in names.chain(inner.ephemeral.keys()) {
            let short = n
                .strip_prefix(prefix)
                .and_then(|s| s.strip_prefix('_'))
                .unwrap_or(n);
            self.nouns.insert(n, in_words(short));
        }
        for (n, r) in inner.resources {
            let s = Arc::new(Scoped { inner: r, scope });
            insert(&mut self.resources, &mut self.errors, n, s);
        }
        for (n, d) in inner.data_sources {
            let s = Arc::new(Scoped { inner: d, scope });
            insert(&mut self.data_sources, &mut self.errors, n, s);
        }
        for (n, e) in inner.ephemeral {
            let s = Arc::new(Scoped { inner: e, scope });
            insert(&mut self.ephemeral, &mut self.errors, n, s);
        }
        for (n, f) in inner.functions {
            insert(&mut self.functions, &mut self.errors, n, f);
        }
        self
    }

    /// What error summaries call the item named `name` (without the
    /// provider's prefix): "VM", "DNS record".
    pub fn noun(&self, name: &str) -> String {
        self.nouns
            .get(name)
            .cloned()
            .unwrap_or_else(|| in_words(name))
    }

    /// Mistakes found while registering: models that do not match their
    /// schemas, names registered twice. GetProviderSchema reports them.
    pub fn definition_errors(&self) -> &[String] {
        &self.errors
    }

    /// Names and schemas of the resources, for docs.
    pub fn resource_schemas(
        &self,
    ) -> impl Iterator<Item = (&'static str, &Schema, Option<&'static str>)> {
        self.resources
            .iter()
            .map(|(n, r)| (*n, r.schema(), r.import_id_format()))
    }

    /// Names and schemas of the data sources, for docs.
    pub fn data_source_schemas(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.data_sources.iter().map(|(n, d)| (*n, d.schema()))
    }

    /// Names and schemas of the ephemeral resources, for docs.
    pub fn ephemeral_schemas(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.ephemeral.iter().map(|(n, e)| (*n, e.schema()))
    }
}

/// A type name in words, for error summaries: `dns_record` is "DNS record".
fn in_words(name: &str) -> String {
    const UPPER: &[&str] = &[
        "api", "bgp", "ca", "cidr", "dhcp", "dns", "ip", "l2", "nat", "tls", "url", "vm",
    ];
    name.split('_')
        .map(|w| {
            if UPPER.contains(&w) {
                w.to_ascii_uppercase()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Insert `item` unless `name` is taken (a definition error).
fn insert<T>(
    map: &mut BTreeMap<&'static str, T>,
    errors: &mut Vec<String>,
    name: &'static str,
    item: T,
) {
    if map.contains_key(name) {
        errors.push(format!("{name}: registered twice"));
    } else {
        map.insert(name, item);
    }
}

/// The mismatches between a model's fields and its schema's attributes and blocks.
fn model_errors<M: DeserializeOwned>(name: &str, schema: &Schema) -> Vec<String> {
    let Some(fields) = model::field_names::<M>() else {
        return Vec::new();
    };
    let names: BTreeSet<&str> = schema
        .attributes
        .keys()
        .chain(schema.blocks.keys())
        .map(String::as_str)
        .collect();
    let fields: BTreeSet<&str> = fields.iter().copied().collect();
    let lacking = names.difference(&fields).map(|a| {
        format!("{name}: attribute {a:?} has no field in the model, so it would always be null")
    });
    let extra = fields
        .difference(&names)
        .map(|f| format!("{name}: model field {f:?} is not in the schema"));
    lacking.chain(extra).collect()
}

struct Typed<T> {
    inner: T,
    schema: Schema,
    ty: Type,
}

impl<T> Typed<T> {
    fn new<M: DeserializeOwned>(
        schema: Schema,
        inner: T,
        errors: &mut Vec<String>,
        name: &str,
    ) -> Self {
        errors.extend(model_errors::<M>(name, &schema));
        let ty = schema.value_type();
        Self { inner, schema, ty }
    }

    fn encode<M: serde::Serialize>(&self, m: &M) -> Result<Value> {
        model::to_value(m, &self.ty)
    }
}

pub(crate) trait AnyResource<C>: Send + Sync {
    fn schema(&self) -> &Schema;
    fn value_type(&self) -> &Type;
    fn import_id_format(&self) -> Option<&'static str>;
    fn create<'a>(&'a self, ctx: &'a Ctx<C>, plan: &'a Value) -> BoxFuture<'a, Result<Value>>;
    fn read<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        state: &'a Value,
    ) -> BoxFuture<'a, Result<Option<Value>>>;
    fn update<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        prior: &'a Value,
        plan: &'a Value,
    ) -> BoxFuture<'a, Result<Value>>;
    fn delete<'a>(&'a self, ctx: &'a Ctx<C>, state: &'a Value) -> BoxFuture<'a, Result<()>>;
    fn import<'a>(&'a self, ctx: &'a Ctx<C>, id: &'a str) -> BoxFuture<'a, Result<Value>>;
    fn modify_plan<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        plan: &'a mut PlanChange<'_>,
    ) -> BoxFuture<'a, Result<()>>;
    fn validate(&self, config: &Value) -> crate::diag::Diagnostics;
    fn state_upgraders(&self) -> Vec<StateUpgrader>;
    fn move_state(&self, source: &MoveSource) -> Option<Result<Value>>;
}

impl<R: Resource> AnyResource<R::Client> for Typed<R> {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    fn value_type(&self) -> &Type {
        &self.ty
    }
    fn import_id_format(&self) -> Option<&'static str> {
        self.inner.import_id_format()
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Ctx<R::Client>,
        plan: &'a Value,
    ) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move {
            let m = model::from_value(plan)?;
            let out = self.inner.create(ctx, m).await?;
            self.encode(&out)
        })
    }
    fn read<'a>(
        &'a self,
        ctx: &'a Ctx<R::Client>,
        state: &'a Value,
    ) -> BoxFuture<'a, Result<Option<Value>>> {
        Box::pin(async move {
            let m = model::from_value(state)?;
            match self.inner.read(ctx, m).await? {
                Some(out) => self.encode(&out).map(Some),
                None => Ok(None),
            }
        })
    }
    fn update<'a>(
        &'a self,
        ctx: &'a Ctx<R::Client>,
        prior: &'a Value,
        plan: &'a Value,
    ) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move {
            let p = model::from_value(prior)?;
            let m = model::from_value(plan)?;
            let out = self.inner.update(ctx, p, m).await?;
            self.encode(&out)
        })
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Ctx<R::Client>,
        state: &'a Value,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let m = model::from_value(state)?;
            self.inner.delete(ctx, m).await
        })
    }
    fn import<'a>(&'a self, ctx: &'a Ctx<R::Client>, id: &'a str) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move {
            let out = self.inner.import(ctx, id).await?;
            self.encode(&out)
        })
    }
    fn modify_plan<'a>(
        &'a self,
        ctx: &'a Ctx<R::Client>,
        plan: &'a mut PlanChange<'_>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.inner.modify_plan(ctx, plan))
    }
    fn validate(&self, config: &Value) -> crate::diag::Diagnostics {
        self.inner.validate(config)
    }
    fn state_upgraders(&self) -> Vec<StateUpgrader> {
        self.inner.state_upgraders()
    }
    fn move_state(&self, source: &MoveSource) -> Option<Result<Value>> {
        self.inner.move_state(source).map(|r| {
            r.and_then(|v| {
                model::coerce(v, &self.ty)
                    .map_err(|e| Error::msg(format!("moved state does not match the schema: {e}")))
            })
        })
    }
}

pub(crate) trait AnyDataSource<C>: Send + Sync {
    fn schema(&self) -> &Schema;
    fn value_type(&self) -> &Type;
    fn read<'a>(&'a self, ctx: &'a Ctx<C>, config: &'a Value) -> BoxFuture<'a, Result<Value>>;
    fn validate(&self, config: &Value) -> crate::diag::Diagnostics;
}

impl<D: DataSource> AnyDataSource<D::Client> for Typed<D> {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    fn value_type(&self) -> &Type {
        &self.ty
    }
    fn read<'a>(
        &'a self,
        ctx: &'a Ctx<D::Client>,
        config: &'a Value,
    ) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move {
            let m = model::from_value(config)?;
            let out = self.inner.read(ctx, m).await?;
            self.encode(&out)
        })
    }
    fn validate(&self, config: &Value) -> crate::diag::Diagnostics {
        self.inner.validate(config)
    }
}

pub(crate) trait AnyEphemeral<C>: Send + Sync {
    fn schema(&self) -> &Schema;
    fn value_type(&self) -> &Type;
    fn open<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        config: &'a Value,
    ) -> BoxFuture<'a, Result<Opened<Value>>>;
    fn renew<'a>(&'a self, ctx: &'a Ctx<C>)
    -> BoxFuture<'a, Result<Option<std::time::SystemTime>>>;
    fn close<'a>(&'a self, ctx: &'a Ctx<C>) -> BoxFuture<'a, Result<()>>;
}

impl<E: EphemeralResource> AnyEphemeral<E::Client> for Typed<E> {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    fn value_type(&self) -> &Type {
        &self.ty
    }
    fn open<'a>(
        &'a self,
        ctx: &'a Ctx<E::Client>,
        config: &'a Value,
    ) -> BoxFuture<'a, Result<Opened<Value>>> {
        Box::pin(async move {
            let m = model::from_value(config)?;
            let out = self.inner.open(ctx, m).await?;
            Ok(Opened {
                result: self.encode(&out.result)?,
                renew_at: out.renew_at,
            })
        })
    }
    fn renew<'a>(
        &'a self,
        ctx: &'a Ctx<E::Client>,
    ) -> BoxFuture<'a, Result<Option<std::time::SystemTime>>> {
        Box::pin(self.inner.renew(ctx))
    }
    fn close<'a>(&'a self, ctx: &'a Ctx<E::Client>) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.inner.close(ctx))
    }
}

pub(crate) trait AnyFunction: Send + Sync {
    fn definition(&self) -> crate::resource::FunctionDefinition;
    fn call(&self, args: Vec<Value>) -> Result<Value, crate::resource::FunctionError>;
}

impl<F: Function> AnyFunction for F {
    fn definition(&self) -> crate::resource::FunctionDefinition {
        Function::definition(self)
    }
    fn call(&self, args: Vec<Value>) -> Result<Value, crate::resource::FunctionError> {
        Function::call(self, args)
    }
}

/// An item registered for a backend's client `T`, served with the
/// provider's client `C` through `scope`.
struct Scoped<I: ?Sized, C, T> {
    inner: Arc<I>,
    scope: fn(&Ctx<C>) -> Result<Ctx<T>>,
}

impl<C: Send + Sync + 'static, T: Send + Sync + 'static> AnyResource<C>
    for Scoped<dyn AnyResource<T>, C, T>
{
    fn schema(&self) -> &Schema {
        self.inner.schema()
    }
    fn value_type(&self) -> &Type {
        self.inner.value_type()
    }
    fn import_id_format(&self) -> Option<&'static str> {
        self.inner.import_id_format()
    }
    fn create<'a>(&'a self, ctx: &'a Ctx<C>, plan: &'a Value) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move { self.inner.create(&(self.scope)(ctx)?, plan).await })
    }
    fn read<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        state: &'a Value,
    ) -> BoxFuture<'a, Result<Option<Value>>> {
        Box::pin(async move { self.inner.read(&(self.scope)(ctx)?, state).await })
    }
    fn update<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        prior: &'a Value,
        plan: &'a Value,
    ) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move { self.inner.update(&(self.scope)(ctx)?, prior, plan).await })
    }
    fn delete<'a>(&'a self, ctx: &'a Ctx<C>, state: &'a Value) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.delete(&(self.scope)(ctx)?, state).await })
    }
    fn import<'a>(&'a self, ctx: &'a Ctx<C>, id: &'a str) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move { self.inner.import(&(self.scope)(ctx)?, id).await })
    }
    fn modify_plan<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        plan: &'a mut PlanChange<'_>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match (self.scope)(ctx) {
                Ok(scoped) => self.inner.modify_plan(&scoped, plan).await,
                // Destroying needs the backend at apply; planning it does not.
                Err(_) if plan.destroying() => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        self.inner.validate(config)
    }
    fn state_upgraders(&self) -> Vec<StateUpgrader> {
        self.inner.state_upgraders()
    }
    fn move_state(&self, source: &MoveSource) -> Option<Result<Value>> {
        self.inner.move_state(source)
    }
}

impl<C: Send + Sync + 'static, T: Send + Sync + 'static> AnyDataSource<C>
    for Scoped<dyn AnyDataSource<T>, C, T>
{
    fn schema(&self) -> &Schema {
        self.inner.schema()
    }
    fn value_type(&self) -> &Type {
        self.inner.value_type()
    }
    fn read<'a>(&'a self, ctx: &'a Ctx<C>, config: &'a Value) -> BoxFuture<'a, Result<Value>> {
        Box::pin(async move { self.inner.read(&(self.scope)(ctx)?, config).await })
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        self.inner.validate(config)
    }
}

impl<C: Send + Sync + 'static, T: Send + Sync + 'static> AnyEphemeral<C>
    for Scoped<dyn AnyEphemeral<T>, C, T>
{
    fn schema(&self) -> &Schema {
        self.inner.schema()
    }
    fn value_type(&self) -> &Type {
        self.inner.value_type()
    }
    fn open<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
        config: &'a Value,
    ) -> BoxFuture<'a, Result<Opened<Value>>> {
        Box::pin(async move { self.inner.open(&(self.scope)(ctx)?, config).await })
    }
    fn renew<'a>(
        &'a self,
        ctx: &'a Ctx<C>,
    ) -> BoxFuture<'a, Result<Option<std::time::SystemTime>>> {
        Box::pin(async move { self.inner.renew(&(self.scope)(ctx)?).await })
    }
    fn close<'a>(&'a self, ctx: &'a Ctx<C>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.inner.close(&(self.scope)(ctx)?).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Model {
        name: String,
        #[serde(rename = "ttl")]
        time_to_live: Option<i64>,
        stray: Option<String>,
    }

    #[test]
    fn models_are_checked_against_schemas_both_ways() {
        let schema = Schema::new("s")
            .attribute("name", Attribute::string().required())
            .attribute("ttl", Attribute::int().optional())
            .attribute("comment", Attribute::string().optional());
        let errors = model_errors::<Model>("thing", &schema);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].contains("\"comment\" has no field"),
            "{errors:#?}"
        );
        assert!(
            errors[1].contains("\"stray\" is not in the schema"),
            "{errors:#?}"
        );

        let fine = Schema::new("s")
            .attribute("name", Attribute::string().required())
            .attribute("ttl", Attribute::int().optional())
            .attribute("stray", Attribute::string().optional());
        assert!(model_errors::<Model>("thing", &fine).is_empty());
        // A map model lists no fields: nothing to compare.
        assert!(model_errors::<BTreeMap<String, String>>("thing", &schema).is_empty());
    }

    #[test]
    fn summaries_name_items_in_words_without_the_backend() {
        assert_eq!(in_words("dns_record"), "DNS record");
        assert_eq!(in_words("firewall_address_list"), "firewall address list");
        let inner: Registry<()> = Registry::new();
        let mut r: Registry<()> =
            Registry::new().scoped("proxmox", inner, |c| Ok(c.with_client(Arc::new(()))));
        r.nouns.insert("proxmox_vm", in_words("vm"));
        assert_eq!(r.noun("proxmox_vm"), "VM");
        assert_eq!(r.noun("thing"), "thing");
    }
}

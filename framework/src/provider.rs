//! The provider: its configuration, and the registry of what it offers.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use labforge_cty::{Type, Value};
use serde::de::DeserializeOwned;

use crate::context::Ctx;
use crate::diag::{Error, Result};
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

    fn resources(&self) -> Registry<Self::Client>;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything a provider offers, type-erased for the server.
pub struct Registry<C> {
    pub(crate) resources: BTreeMap<&'static str, Arc<dyn AnyResource<C>>>,
    pub(crate) data_sources: BTreeMap<&'static str, Arc<dyn AnyDataSource<C>>>,
    pub(crate) ephemeral: BTreeMap<&'static str, Arc<dyn AnyEphemeral<C>>>,
    pub(crate) functions: BTreeMap<&'static str, Arc<dyn AnyFunction>>,
}

impl<C: Send + Sync + 'static> Default for Registry<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Send + Sync + 'static> Registry<C> {
    pub fn new() -> Self {
        Self {
            resources: BTreeMap::new(),
            data_sources: BTreeMap::new(),
            ephemeral: BTreeMap::new(),
            functions: BTreeMap::new(),
        }
    }

    pub fn resource<R: Resource<Client = C>>(mut self, r: R) -> Self {
        let schema = r.schema();
        let ty = schema.value_type();
        self.resources.insert(
            R::NAME,
            Arc::new(Typed {
                inner: r,
                schema,
                ty,
            }),
        );
        self
    }

    pub fn data_source<D: DataSource<Client = C>>(mut self, d: D) -> Self {
        let schema = d.schema();
        let ty = schema.value_type();
        self.data_sources.insert(
            D::NAME,
            Arc::new(Typed {
                inner: d,
                schema,
                ty,
            }),
        );
        self
    }

    pub fn ephemeral<E: EphemeralResource<Client = C>>(mut self, e: E) -> Self {
        let schema = e.schema();
        let ty = schema.value_type();
        self.ephemeral.insert(
            E::NAME,
            Arc::new(Typed {
                inner: e,
                schema,
                ty,
            }),
        );
        self
    }

    pub fn function<F: Function>(mut self, f: F) -> Self {
        self.functions.insert(F::NAME, Arc::new(f));
        self
    }

    /// Names and schemas of the resources, for docs.
    pub fn resource_schemas(
        &self,
    ) -> impl Iterator<Item = (&'static str, &Schema, Option<&'static str>)> {
        self.resources
            .iter()
            .map(|(n, r)| (*n, r.schema(), r.import_id_format()))
    }

    pub fn data_source_schemas(&self) -> impl Iterator<Item = (&'static str, &Schema)> {
        self.data_sources.iter().map(|(n, d)| (*n, d.schema()))
    }
}

struct Typed<T> {
    inner: T,
    schema: Schema,
    ty: Type,
}

impl<T> Typed<T> {
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

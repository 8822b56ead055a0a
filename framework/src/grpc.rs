//! The wire layer: the tfplugin6 `Provider` service, translating protocol
//! messages to framework calls. Nothing above this module sees protobuf.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use labforge_cty::{AttributePath, PathStep, Type, Value};
use labforge_proto::tfplugin6 as pb;
use pb::provider_server::Provider as ProviderRpc;
use tonic::{Request, Response, Status};

use crate::context::{Ctx, StopSignal, StopTrigger};
use crate::diag::{Diagnostic, Diagnostics, Error, Severity};
use crate::plan;
use crate::provider::{AnyDataSource, AnyEphemeral, AnyResource, Provider, Registry};
use crate::resource::{MoveSource, PlanChange};
use crate::schema::{Attribute, Block, Nesting, Schema};

type Private = BTreeMap<String, serde_json::Value>;

/// The tfplugin6 service for a [`Provider`].
pub struct ProviderService<P: Provider> {
    provider: P,
    registry: Registry<P::Client>,
    schema: Schema,
    schema_response: pb::get_provider_schema::Response,
    client: RwLock<Option<Arc<P::Client>>>,
    stop_trigger: StopTrigger,
    stop: StopSignal,
}

impl<P: Provider> ProviderService<P> {
    pub fn new(provider: P) -> Self {
        let registry = provider.resources();
        let schema = provider.schema();
        let schema_response = schema_response::<P>(&schema, &registry);
        let (stop_trigger, stop) = StopTrigger::new();
        Self {
            provider,
            registry,
            schema,
            schema_response,
            client: RwLock::new(None),
            stop_trigger,
            stop,
        }
    }

    fn client(&self) -> Result<Arc<P::Client>, Diagnostics> {
        let guard = self
            .client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.clone().ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                "Terraform called the provider before configuring it. This is a bug in Terraform or the provider.",
            )
            .into()
        })
    }

    fn ctx(&self, private: Private) -> Result<Ctx<P::Client>, Diagnostics> {
        Ok(Ctx::new(self.client()?, private, self.stop.clone()))
    }

    fn resource(&self, type_name: &str) -> Result<&Arc<dyn AnyResource<P::Client>>, Diagnostics> {
        lookup::<P, _>(&self.registry.resources, "resource", type_name)
    }

    fn data_source(
        &self,
        type_name: &str,
    ) -> Result<&Arc<dyn AnyDataSource<P::Client>>, Diagnostics> {
        lookup::<P, _>(&self.registry.data_sources, "data source", type_name)
    }

    fn ephemeral(&self, type_name: &str) -> Result<&Arc<dyn AnyEphemeral<P::Client>>, Diagnostics> {
        lookup::<P, _>(&self.registry.ephemeral, "ephemeral resource", type_name)
    }
}

fn short_name<P: Provider>(type_name: &str) -> Option<&str> {
    type_name
        .strip_prefix(P::NAME)
        .and_then(|s| s.strip_prefix('_'))
}

/// The registered item for a full type name (`homelab_x` → `x`).
fn lookup<'a, P: Provider, T>(
    items: &'a BTreeMap<&'static str, T>,
    kind: &str,
    type_name: &str,
) -> Result<&'a T, Diagnostics> {
    short_name::<P>(type_name)
        .and_then(|n| items.get(n))
        .ok_or_else(|| unknown_type(kind, type_name))
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type {name:?}."),
    )
    .into()
}

// ---------------------------------------------------------------- values

fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let r = if !dv.msgpack.is_empty() {
        labforge_cty::msgpack::decode(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        labforge_cty::json::decode(&dv.json, ty)
    } else {
        Ok(Value::Null)
    };
    r.map_err(|e| Diagnostic::error("Invalid value from Terraform", e.to_string()).into())
}

fn encode(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    labforge_cty::msgpack::encode(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| Diagnostic::error("Provider produced an invalid value", e.to_string()).into())
}

fn decode_private(bytes: &[u8]) -> Private {
    if bytes.is_empty() {
        return Private::new();
    }
    serde_json::from_slice(bytes).unwrap_or_default()
}

fn encode_private(p: &Private) -> Vec<u8> {
    if p.is_empty() {
        Vec::new()
    } else {
        serde_json::to_vec(p).unwrap_or_default()
    }
}

/// Untyped decoding of state JSON (for moves from other resource types).
fn json_to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => labforge_cty::Number::parse(&n.to_string())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        ),
    }
}

/// Copy write-only attributes from configuration into the planned value, so
/// create and update see them (Terraform never puts them in a plan).
fn with_write_only(schema: &Schema, planned: &Value, config: &Value) -> Value {
    let mut out = planned.clone();
    if let Value::Object(m) = &mut out {
        for (name, a) in &schema.attributes {
            if a.write_only {
                m.insert(
                    name.clone(),
                    config.get(name).cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
    out
}

/// `v` with every unknown replaced by null (state must be wholly known).
fn null_unknowns(v: Value) -> Value {
    match v {
        Value::Unknown(_) => Value::Null,
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, null_unknowns(v))).collect())
        }
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, null_unknowns(v))).collect()),
        Value::List(vs) => Value::List(vs.into_iter().map(null_unknowns).collect()),
        Value::Set(vs) => Value::Set(vs.into_iter().map(null_unknowns).collect()),
        Value::Tuple(vs) => Value::Tuple(vs.into_iter().map(null_unknowns).collect()),
        Value::Dynamic(t, v) => Value::Dynamic(t, Box::new(null_unknowns(*v))),
        v => v,
    }
}

fn first_unknown(v: &Value, path: &AttributePath) -> Option<AttributePath> {
    match v {
        Value::Unknown(_) => Some(path.clone()),
        Value::Object(m) => m
            .iter()
            .find_map(|(k, v)| first_unknown(v, &path.join_attr(k))),
        Value::Map(m) => m
            .iter()
            .find_map(|(k, v)| first_unknown(v, &path.join_key(k))),
        Value::List(vs) | Value::Tuple(vs) | Value::Set(vs) => vs
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_unknown(v, &path.join_index(i as i64))),
        Value::Dynamic(_, v) => first_unknown(v, path),
        _ => None,
    }
}

// ---------------------------------------------------------------- diagnostics

fn path_proto(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::{Step, step::Selector};
    pb::AttributePath {
        steps: p
            .steps
            .iter()
            .map(|s| Step {
                selector: Some(match s {
                    PathStep::Attr(a) => Selector::AttributeName(a.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

fn diags_proto(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter()
        .map(|d| pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error as i32,
                Severity::Warning => pb::diagnostic::Severity::Warning as i32,
            },
            summary: d.summary.clone(),
            detail: d.detail.clone(),
            attribute: d
                .attribute
                .as_ref()
                .filter(|p| !p.is_root())
                .map(path_proto),
        })
        .collect()
}

fn with_summary(e: Error, summary: String) -> Diagnostics {
    e.context(summary).into_diagnostics()
}

// ---------------------------------------------------------------- schema

fn nesting_block(n: Nesting) -> i32 {
    use pb::schema::nested_block::NestingMode as M;
    (match n {
        Nesting::Single => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
        Nesting::Group => M::Group,
    }) as i32
}

fn nesting_object(n: Nesting) -> i32 {
    use pb::schema::object::NestingMode as M;
    (match n {
        Nesting::Single | Nesting::Group => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
    }) as i32
}

fn attribute_proto(name: &str, a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested) = match a.nested_schema() {
        Some((nesting, inner)) => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: inner
                    .attributes
                    .iter()
                    .map(|(n, a)| attribute_proto(n, a))
                    .collect(),
                nesting: nesting_object(nesting),
                ..Default::default()
            }),
        ),
        None => (labforge_cty::json::encode_type(&a.value_type()), None),
    };
    pb::schema::Attribute {
        name: name.to_string(),
        r#type: ty,
        nested_type: nested,
        description: a.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        write_only: a.write_only,
        deprecated: a.deprecation.is_some(),
        deprecation_message: a.deprecation.clone().unwrap_or_default(),
    }
}

fn block_proto(s: &Schema) -> pb::schema::Block {
    pb::schema::Block {
        version: s.version,
        attributes: s
            .attributes
            .iter()
            .map(|(n, a)| attribute_proto(n, a))
            .collect(),
        block_types: s
            .blocks
            .iter()
            .map(|(n, b): (&String, &Block)| pb::schema::NestedBlock {
                type_name: n.clone(),
                block: Some(pb::schema::Block {
                    description: b.description.clone(),
                    deprecated: b.deprecation.is_some(),
                    deprecation_message: b.deprecation.clone().unwrap_or_default(),
                    ..block_proto(&b.schema)
                }),
                nesting: nesting_block(b.nesting),
                min_items: b.min_items,
                max_items: b.max_items,
            })
            .collect(),
        description: s.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: s.deprecation.is_some(),
        deprecation_message: s.deprecation.clone().unwrap_or_default(),
    }
}

/// A schema as Terraform's protocol carries it.
pub fn schema_proto(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block_proto(s)),
    }
}

fn function_proto(f: &crate::resource::FunctionDefinition) -> pb::Function {
    let param = |p: &crate::resource::Parameter| pb::function::Parameter {
        name: p.name.clone(),
        r#type: labforge_cty::json::encode_type(&p.ty),
        allow_null_value: p.allow_null,
        allow_unknown_values: p.allow_unknown,
        description: p.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
    };
    pb::Function {
        parameters: f.parameters.iter().map(param).collect(),
        variadic_parameter: f.variadic.as_ref().map(param),
        r#return: Some(pb::function::Return {
            r#type: labforge_cty::json::encode_type(&f.returns),
        }),
        summary: f.summary.clone(),
        description: f.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecation_message: String::new(),
    }
}

fn schema_response<P: Provider>(
    schema: &Schema,
    r: &Registry<P::Client>,
) -> pb::get_provider_schema::Response {
    let full = |n: &str| format!("{}_{n}", P::NAME);
    pb::get_provider_schema::Response {
        provider: Some(schema_proto(schema)),
        resource_schemas: r
            .resources
            .iter()
            .map(|(n, x)| (full(n), schema_proto(x.schema())))
            .collect(),
        data_source_schemas: r
            .data_sources
            .iter()
            .map(|(n, x)| (full(n), schema_proto(x.schema())))
            .collect(),
        ephemeral_resource_schemas: r
            .ephemeral
            .iter()
            .map(|(n, x)| (full(n), schema_proto(x.schema())))
            .collect(),
        functions: r
            .functions
            .iter()
            .map(|(n, f)| (n.to_string(), function_proto(&f.definition())))
            .collect(),
        diagnostics: definition_errors::<P>(schema, r),
        server_capabilities: Some(pb::ServerCapabilities {
            plan_destroy: true,
            get_provider_schema_optional: true,
            move_resource_state: true,
            generate_resource_config: false,
        }),
        ..Default::default()
    }
}

/// Schema mistakes, as error diagnostics naming the type and attribute.
fn definition_errors<P: Provider>(schema: &Schema, r: &Registry<P::Client>) -> Vec<pb::Diagnostic> {
    let mut d = Diagnostics::new();
    let mut add = |kind: &str, name: String, s: &Schema| {
        for e in s.definition_errors() {
            d.error(
                "Invalid provider schema",
                format!("{kind} {name}: {e}. This is a bug in the provider."),
            );
        }
    };
    add("provider", P::NAME.to_string(), schema);
    for (n, x) in &r.resources {
        add("resource", format!("{}_{n}", P::NAME), x.schema());
    }
    for (n, x) in &r.data_sources {
        add("data source", format!("{}_{n}", P::NAME), x.schema());
    }
    for (n, x) in &r.ephemeral {
        add("ephemeral resource", format!("{}_{n}", P::NAME), x.schema());
    }
    for e in r.definition_errors() {
        d.error(
            "Invalid provider schema",
            format!("{}_{e}. This is a bug in the provider.", P::NAME),
        );
    }
    diags_proto(&d)
}

// ---------------------------------------------------------------- validation

/// Run the schema's validators over a configuration value (known values only).
pub fn validate_config(schema: &Schema, v: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    for (name, a) in &schema.attributes {
        let av = v.get(name).unwrap_or(&Value::Null);
        let p = path.join_attr(name);
        if av.is_known() {
            for val in &a.validators {
                let mut found = Diagnostics::new();
                val.validate(&p, av, &mut found);
                if a.sensitive {
                    // Validators quote the value; a secret must not show.
                    for d in &mut found.0 {
                        d.detail = format!(
                            "{p}: the value (sensitive, not shown) is not valid. {}",
                            val.description()
                        );
                    }
                }
                diags.extend(found);
            }
            if let Some((nesting, inner)) = a.nested_schema() {
                validate_elements(inner, nesting, av, &p, diags);
            }
        }
    }
    for (name, b) in &schema.blocks {
        let bv = v.get(name).unwrap_or(&Value::Null);
        let p = path.join_attr(name);
        if bv.is_known() {
            for val in &b.validators {
                val.validate(&p, bv, diags);
            }
            validate_elements(&b.schema, b.nesting, bv, &p, diags);
        }
    }
}

fn validate_elements(
    schema: &Schema,
    nesting: Nesting,
    v: &Value,
    path: &AttributePath,
    diags: &mut Diagnostics,
) {
    match (nesting, v) {
        (Nesting::Single | Nesting::Group, v) => validate_config(schema, v, path, diags),
        (_, Value::Map(m) | Value::Object(m)) if nesting == Nesting::Map => {
            for (k, e) in m {
                validate_config(schema, e, &path.join_key(k), diags);
            }
        }
        (_, v) => {
            for (i, e) in v.elements().unwrap_or(&[]).iter().enumerate() {
                // Set elements have no index Terraform can point at: point at the set.
                let p = if nesting == Nesting::Set {
                    path.clone()
                } else {
                    path.join_index(i as i64)
                };
                validate_config(schema, e, &p, diags);
            }
        }
    }
}

fn write_only_diags(schema: &Schema, config: &Value, allowed: bool) -> Diagnostics {
    let mut d = Diagnostics::new();
    if allowed {
        return d;
    }
    for (name, a) in &schema.attributes {
        if a.write_only && config.get(name).is_some_and(|v| !v.is_null()) {
            d.attribute_error(
                AttributePath::attr(name),
                "Write-only attribute not supported",
                format!(
                    "{name} is write-only, which needs Terraform 1.11 or later (or OpenTofu 1.11)."
                ),
            );
        }
    }
    d
}

// ---------------------------------------------------------------- the service

fn ok<T>(t: T) -> Result<Response<T>, Status> {
    Ok(Response::new(t))
}

#[tonic::async_trait]
impl<P: Provider> ProviderRpc for ProviderService<P> {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        use pb::get_metadata as m;
        let full = |n: &str| format!("{}_{n}", P::NAME);
        ok(m::Response {
            server_capabilities: self.schema_response.server_capabilities,
            resources: self
                .registry
                .resources
                .keys()
                .map(|n| m::ResourceMetadata { type_name: full(n) })
                .collect(),
            data_sources: self
                .registry
                .data_sources
                .keys()
                .map(|n| m::DataSourceMetadata { type_name: full(n) })
                .collect(),
            ephemeral_resources: self
                .registry
                .ephemeral
                .keys()
                .map(|n| m::EphemeralMetadata { type_name: full(n) })
                .collect(),
            functions: self
                .registry
                .functions
                .keys()
                .map(|n| m::FunctionMetadata {
                    name: n.to_string(),
                })
                .collect(),
            ..Default::default()
        })
    }

    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        ok(self.schema_response.clone())
    }

    async fn get_resource_identity_schemas(
        &self,
        _req: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        ok(Default::default())
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = req.into_inner();
        let mut diags = Diagnostics::new();
        match decode(req.config.as_ref(), &self.schema.value_type()) {
            Ok(config) => {
                validate_config(&self.schema, &config, &AttributePath::root(), &mut diags)
            }
            Err(d) => diags.extend(d),
        }
        ok(pb::validate_provider_config::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let raw = decode(req.config.as_ref(), &self.schema.value_type())?;
            let config = crate::model::from_value(&raw)
                .map_err(|e| with_summary(e, "Invalid provider configuration".into()))?;
            let client = self
                .provider
                .configure(config, &raw)
                .await
                .map_err(|e| with_summary(e, "Unable to configure the provider".into()))?;
            *self
                .client
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(client));
            Ok::<_, Diagnostics>(())
        }
        .await;
        ok(pb::configure_provider::Response {
            diagnostics: result.err().map(|d| diags_proto(&d)).unwrap_or_default(),
        })
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("StopProvider: cancelling in-flight work");
        self.stop_trigger.stop();
        ok(pb::stop_provider::Response::default())
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let result = (|| {
            let r = self.resource(&req.type_name)?;
            let config = decode(req.config.as_ref(), r.value_type())?;
            let allowed = req
                .client_capabilities
                .is_some_and(|c| c.write_only_attributes_allowed);
            let mut diags = write_only_diags(r.schema(), &config, allowed);
            validate_config(r.schema(), &config, &AttributePath::root(), &mut diags);
            diags.extend(r.validate(&config));
            Ok::<_, Diagnostics>(diags)
        })();
        let diags = result.unwrap_or_else(|d| d);
        ok(pb::validate_resource_config::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let result = (|| {
            let r = self.resource(&req.type_name)?;
            let json = req.raw_state.map(|s| s.json).unwrap_or_default();
            let current = r.schema().version;
            let value = if req.version == current {
                labforge_cty::json::decode(&json, r.value_type())
                    .map_err(|e| Diagnostic::error("Unable to read prior state", e.to_string()))?
            } else if req.version > current {
                return Err(Diagnostic::error(
                    "State written by a newer provider",
                    format!(
                        "{} state has schema version {}, but this provider knows versions up to {current}. Upgrade the provider.",
                        req.type_name, req.version
                    ),
                )
                .into());
            } else {
                let upgrader = r
                    .state_upgraders()
                    .into_iter()
                    .find(|u| u.from_version == req.version)
                    .ok_or_else(|| {
                        Diagnostic::error(
                            "Unable to upgrade state",
                            format!(
                                "{} has no upgrade from schema version {}.",
                                req.type_name, req.version
                            ),
                        )
                    })?;
                let old = labforge_cty::json::decode(&json, &upgrader.prior_schema.value_type())
                    .map_err(|e| Diagnostic::error("Unable to read prior state", e.to_string()))?;
                let new = (upgrader.upgrade)(old)
                    .map_err(|e| with_summary(e, "Unable to upgrade state".into()))?;
                crate::model::coerce(new, r.value_type())
                    .map_err(|e| Diagnostic::error("Upgraded state does not match the schema", e))?
            };
            let mut value = value;
            plan::null_write_only(r.schema(), &mut value);
            encode(&value, r.value_type())
        })();
        let (state, diags) = match result {
            Ok(s) => (Some(s), Diagnostics::new()),
            Err(d) => (None, d),
        };
        ok(pb::upgrade_resource_state::Response {
            upgraded_state: state,
            diagnostics: diags_proto(&diags),
        })
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        let name = req.type_name.clone();
        let mut diags = Diagnostics::new();
        let mut new_private = req.private.clone();
        let new_state = match self.resource(&name) {
            Err(d) => {
                diags.extend(d);
                req.current_state.clone()
            }
            Ok(r) => {
                let ty = r.value_type();
                match decode(req.current_state.as_ref(), ty) {
                    Err(d) => {
                        diags.extend(d);
                        req.current_state.clone()
                    }
                    Ok(Value::Null) => req.current_state.clone(),
                    Ok(state) => match self.ctx(decode_private(&req.private)) {
                        Err(d) => {
                            diags.extend(d);
                            req.current_state.clone()
                        }
                        Ok(ctx) => {
                            let result = ctx.until_stopped(r.read(&ctx, &state)).await;
                            let (private, warnings) = ctx.take();
                            diags.extend(warnings);
                            match result {
                                Ok(Some(mut v)) => {
                                    new_private = encode_private(&private);
                                    plan::null_write_only(r.schema(), &mut v);
                                    match encode(&v, ty) {
                                        Ok(dv) => Some(dv),
                                        Err(d) => {
                                            diags.extend(d);
                                            req.current_state.clone()
                                        }
                                    }
                                }
                                Ok(None) => {
                                    tracing::info!(resource = %name, "object no longer exists; removing it from state");
                                    encode(&Value::Null, ty).ok()
                                }
                                Err(e) if e.is_config_unknown() => req.current_state.clone(),
                                Err(e) => {
                                    diags.extend(with_summary(e, format!("Unable to read {name}")));
                                    req.current_state.clone()
                                }
                            }
                        }
                    },
                }
            }
        };
        ok(pb::read_resource::Response {
            new_state,
            diagnostics: diags_proto(&diags),
            private: new_private,
            ..Default::default()
        })
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let r = self.resource(&req.type_name)?;
            let ty = r.value_type();
            let prior = decode(req.prior_state.as_ref(), ty)?;
            let proposed = decode(req.proposed_new_state.as_ref(), ty)?;
            let config = decode(req.config.as_ref(), ty)?;
            let mut planned = plan::plan(r.schema(), &prior, &proposed, &config);
            let mut diags = std::mem::take(&mut planned.diagnostics);
            let ctx = self.ctx(decode_private(&req.prior_private))?;
            if !proposed.is_null() {
                let mut change = PlanChange {
                    config: &config,
                    prior: &prior,
                    planned: &mut planned.state,
                    requires_replace: &mut planned.requires_replace,
                    diagnostics: &mut diags,
                };
                match r.modify_plan(&ctx, &mut change).await {
                    Ok(()) => {}
                    Err(e) if e.is_config_unknown() => {}
                    Err(e) => change
                        .diagnostics
                        .extend(with_summary(e, format!("Unable to plan {}", req.type_name))),
                }
            }
            planned.requires_replace.sort();
            planned.requires_replace.dedup();
            let (private, warnings) = ctx.take();
            diags.extend(warnings);
            Ok::<_, Diagnostics>(pb::plan_resource_change::Response {
                planned_state: Some(encode(&planned.state, ty)?),
                requires_replace: planned.requires_replace.iter().map(path_proto).collect(),
                planned_private: encode_private(&private),
                diagnostics: diags_proto(&diags),
                ..Default::default()
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::plan_resource_change::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        let name = req.type_name.clone();
        let result = async {
            let r = self.resource(&name)?;
            let ty = r.value_type();
            let schema = r.schema();
            let prior = decode(req.prior_state.as_ref(), ty)?;
            let planned = decode(req.planned_state.as_ref(), ty)?;
            let config = decode(req.config.as_ref(), ty)?;
            let ctx = self.ctx(decode_private(&req.planned_private))?;
            let mut diags = Diagnostics::new();
            let new_state = if planned.is_null() {
                match r.delete(&ctx, &prior).await {
                    Ok(()) => Value::Null,
                    Err(e) => {
                        diags.extend(with_summary(e, format!("Unable to delete {name}")));
                        prior.clone()
                    }
                }
            } else {
                let input = with_write_only(schema, &planned, &config);
                let (verb, result) = if prior.is_null() {
                    ("create", r.create(&ctx, &input).await)
                } else {
                    ("update", r.update(&ctx, &prior, &input).await)
                };
                match result {
                    Ok(mut v) => {
                        plan::null_write_only(schema, &mut v);
                        if let Some(p) = first_unknown(&v, &AttributePath::root()) {
                            diags.attribute_error(
                                p.clone(),
                                format!("Unable to {verb} {name}"),
                                format!("The provider left {p} unknown after apply. This is a bug in the provider."),
                            );
                            // The object exists: keep it in state (Terraform
                            // taints it), with what is unknown left null.
                            null_unknowns(v)
                        } else {
                            let mut bad = Vec::new();
                            plan::inconsistencies(&planned, &v, &AttributePath::root(), &mut bad);
                            for p in bad {
                                diags.attribute_error(
                                    p.clone(),
                                    "Provider produced inconsistent result after apply",
                                    format!(
                                        "{name}: the API returned a different {p} than was planned. This is a bug in the provider."
                                    ),
                                );
                            }
                            v
                        }
                    }
                    Err(e) => {
                        let partial = e.partial_state().cloned();
                        diags.extend(with_summary(e, format!("Unable to {verb} {name}")));
                        match partial.map(|p| crate::model::coerce(p, ty)) {
                            Some(Ok(p)) => {
                                let mut p = null_unknowns(p);
                                plan::null_write_only(schema, &mut p);
                                p
                            }
                            _ => prior.clone(),
                        }
                    }
                }
            };
            let (private, warnings) = ctx.take();
            diags.extend(warnings);
            Ok::<_, Diagnostics>(pb::apply_resource_change::Response {
                new_state: Some(encode(&new_state, ty)?),
                private: if new_state.is_null() { Vec::new() } else { encode_private(&private) },
                diagnostics: diags_proto(&diags),
                ..Default::default()
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::apply_resource_change::Response {
                new_state: req.prior_state.clone(),
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let r = self.resource(&req.type_name)?;
            let ctx = self.ctx(Private::new())?;
            let mut v = ctx
                .until_stopped(r.import(&ctx, &req.id))
                .await
                .map_err(|e| with_summary(e, format!("Unable to import {}", req.type_name)))?;
            plan::null_write_only(r.schema(), &mut v);
            let (private, warnings) = ctx.take();
            Ok::<_, Diagnostics>(pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: req.type_name.clone(),
                    state: Some(encode(&v, r.value_type())?),
                    private: encode_private(&private),
                    identity: None,
                }],
                diagnostics: diags_proto(&warnings),
                deferred: None,
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::import_resource_state::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let req = req.into_inner();
        let result = (|| {
            let r = self.resource(&req.target_type_name)?;
            let json = req.source_state.map(|s| s.json).unwrap_or_default();
            let parsed: serde_json::Value = serde_json::from_slice(&json)
                .map_err(|e| Diagnostic::error("Unable to read the moved state", e.to_string()))?;
            let source = MoveSource {
                provider_address: req.source_provider_address.clone(),
                type_name: req.source_type_name.clone(),
                schema_version: req.source_schema_version,
                state: json_to_value(&parsed),
                json,
            };
            let moved = r.move_state(&source).ok_or_else(|| {
                Diagnostic::error(
                    "Unable to move resource state",
                    format!(
                        "{} cannot take state from {} ({}).",
                        req.target_type_name, req.source_type_name, req.source_provider_address
                    ),
                )
            })?;
            let mut v =
                moved.map_err(|e| with_summary(e, "Unable to move resource state".into()))?;
            plan::null_write_only(r.schema(), &mut v);
            Ok::<_, Diagnostics>(pb::move_resource_state::Response {
                target_state: Some(encode(&v, r.value_type())?),
                target_private: req.source_private.clone(),
                ..Default::default()
            })
        })();
        ok(
            result.unwrap_or_else(|d| pb::move_resource_state::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        let result = (|| {
            let d = self.data_source(&req.type_name)?;
            let config = decode(req.config.as_ref(), d.value_type())?;
            let mut diags = Diagnostics::new();
            validate_config(d.schema(), &config, &AttributePath::root(), &mut diags);
            diags.extend(d.validate(&config));
            Ok::<_, Diagnostics>(diags)
        })();
        ok(pb::validate_data_resource_config::Response {
            diagnostics: diags_proto(&result.unwrap_or_else(|d| d)),
        })
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let d = self.data_source(&req.type_name)?;
            let config = decode(req.config.as_ref(), d.value_type())?;
            let ctx = self.ctx(Private::new())?;
            let v = ctx
                .until_stopped(d.read(&ctx, &config))
                .await
                .map_err(|e| with_summary(e, format!("Unable to read {}", req.type_name)))?;
            if let Some(p) = first_unknown(&v, &AttributePath::root()) {
                return Err(Diagnostic::error(
                    format!("Unable to read {}", req.type_name),
                    format!("The provider left {p} unknown. This is a bug in the provider."),
                )
                .into());
            }
            let (_, warnings) = ctx.take();
            Ok::<_, Diagnostics>(pb::read_data_source::Response {
                state: Some(encode(&v, d.value_type())?),
                diagnostics: diags_proto(&warnings),
                deferred: None,
            })
        }
        .await;
        ok(result.unwrap_or_else(|d| pb::read_data_source::Response {
            diagnostics: diags_proto(&d),
            ..Default::default()
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let req = req.into_inner();
        let result = (|| {
            let e = self.ephemeral(&req.type_name)?;
            let config = decode(req.config.as_ref(), e.value_type())?;
            let mut diags = Diagnostics::new();
            validate_config(e.schema(), &config, &AttributePath::root(), &mut diags);
            Ok::<_, Diagnostics>(diags)
        })();
        ok(pb::validate_ephemeral_resource_config::Response {
            diagnostics: diags_proto(&result.unwrap_or_else(|d| d)),
        })
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let e = self.ephemeral(&req.type_name)?;
            let config = decode(req.config.as_ref(), e.value_type())?;
            let ctx = self.ctx(Private::new())?;
            let opened = e
                .open(&ctx, &config)
                .await
                .map_err(|err| with_summary(err, format!("Unable to open {}", req.type_name)))?;
            let (private, warnings) = ctx.take();
            Ok::<_, Diagnostics>(pb::open_ephemeral_resource::Response {
                result: Some(encode(&opened.result, e.value_type())?),
                renew_at: opened.renew_at.map(timestamp),
                private: Some(encode_private(&private)),
                diagnostics: diags_proto(&warnings),
                deferred: None,
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::open_ephemeral_resource::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let e = self.ephemeral(&req.type_name)?;
            let ctx = self.ctx(decode_private(req.private.as_deref().unwrap_or_default()))?;
            let renew_at = e
                .renew(&ctx)
                .await
                .map_err(|err| with_summary(err, format!("Unable to renew {}", req.type_name)))?;
            let (private, warnings) = ctx.take();
            Ok::<_, Diagnostics>(pb::renew_ephemeral_resource::Response {
                renew_at: renew_at.map(timestamp),
                private: Some(encode_private(&private)),
                diagnostics: diags_proto(&warnings),
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::renew_ephemeral_resource::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let e = self.ephemeral(&req.type_name)?;
            let ctx = self.ctx(decode_private(req.private.as_deref().unwrap_or_default()))?;
            e.close(&ctx)
                .await
                .map_err(|err| with_summary(err, format!("Unable to close {}", req.type_name)))?;
            let (_, warnings) = ctx.take();
            Ok::<_, Diagnostics>(warnings)
        }
        .await;
        ok(pb::close_ephemeral_resource::Response {
            diagnostics: diags_proto(&result.unwrap_or_else(|d| d)),
        })
    }

    async fn get_functions(
        &self,
        _req: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        ok(pb::get_functions::Response {
            functions: self.schema_response.functions.clone(),
            diagnostics: Vec::new(),
        })
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        let req = req.into_inner();
        let fail = |text: String, argument: Option<i64>| pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text,
                function_argument: argument,
            }),
        };
        let Some(f) = self.registry.functions.get(req.name.as_str()) else {
            return ok(fail(
                format!("This provider has no function {:?}.", req.name),
                None,
            ));
        };
        let def = f.definition();
        let mut args = Vec::with_capacity(req.arguments.len());
        for (i, dv) in req.arguments.iter().enumerate() {
            let Some(p) = def.parameters.get(i).or(def.variadic.as_ref()) else {
                return ok(fail(format!("Too many arguments for {}.", req.name), None));
            };
            match decode(Some(dv), &p.ty) {
                Ok(v) => args.push(v),
                Err(d) => {
                    let text = d
                        .iter()
                        .map(|d| d.detail.clone())
                        .collect::<Vec<_>>()
                        .join("; ");
                    return ok(fail(text, Some(i as i64)));
                }
            }
        }
        ok(match f.call(args) {
            Ok(v) => match encode(&v, &def.returns) {
                Ok(dv) => pb::call_function::Response {
                    result: Some(dv),
                    error: None,
                },
                Err(d) => fail(
                    d.iter()
                        .map(|d| d.detail.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                    None,
                ),
            },
            Err(e) => fail(e.text, e.argument),
        })
    }
}

fn timestamp(t: std::time::SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

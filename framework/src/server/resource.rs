//! Managed resources: validate, upgrade, read, plan, apply, import, move.

use labforge_cty::{AttributePath, Type, Value};

use super::{Private, ProviderServer, first_unknown, lookup, null_unknowns, with_summary};
use crate::diag::{Diagnostic, Diagnostics};
use crate::plan;
use crate::provider::{AnyResource, Provider};
use crate::resource::{MoveSource, PlanChange};
use crate::schema::{Schema, validate_config};

/// What ReadResource answers. `state` is what Terraform must keep: the
/// object as read, null when it no longer exists, or the state it sent when
/// the read did not happen (an error, configuration not known yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The state Terraform keeps (see above).
    pub state: Value,
    /// New private state; `None` keeps what Terraform sent, as it sent it.
    pub private: Option<Private>,
    /// Errors and warnings for Terraform (including [`crate::Ctx::warn`]'s).
    pub diagnostics: Diagnostics,
}

/// A PlanResourceChange request.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    /// The current state; null when creating.
    pub prior: Value,
    /// Terraform's proposed new state (configuration merged over prior
    /// state); null when destroying.
    pub proposed: Value,
    /// The configuration (values may be unknown); null when destroying.
    pub config: Value,
    /// Private state kept with the prior state.
    pub private: Private,
}

/// A planned change.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The planned new state: unknown where apply decides; null for a destroy.
    pub state: Value,
    /// Attributes whose change forces replacement. Sorted, without duplicates.
    pub requires_replace: Vec<AttributePath>,
    /// Private state handed back to apply.
    pub private: Private,
    /// Errors and warnings for Terraform (including [`crate::Ctx::warn`]'s).
    pub diagnostics: Diagnostics,
}

/// An ApplyResourceChange request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyRequest {
    /// The current state; null when creating.
    pub prior: Value,
    /// The planned state as Terraform finalised it; null to delete.
    pub planned: Value,
    /// The configuration, wholly known (write-only attributes come from here).
    pub config: Value,
    /// Private state from the plan.
    pub private: Private,
}

/// The state after apply: the new object, the prior one when nothing
/// happened, or what exists after a failure (Terraform taints it).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The new state; null after a delete. Never holds unknowns.
    pub state: Value,
    /// Empty when the object is gone.
    pub private: Private,
    /// Errors and warnings for Terraform (including [`crate::Ctx::warn`]'s).
    pub diagnostics: Diagnostics,
}

/// An imported object.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The object as read, write-only attributes null.
    pub state: Value,
    /// Private state the import set.
    pub private: Private,
    /// Errors and warnings for Terraform (including [`crate::Ctx::warn`]'s).
    pub diagnostics: Diagnostics,
}

/// A MoveResourceState request: state of another type (or provider) as
/// state JSON, of that type's schema version.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveRequest {
    /// The source provider, e.g. `registry.terraform.io/labforge/homelab`.
    pub provider_address: String,
    /// The source resource type, with its provider prefix.
    pub type_name: String,
    /// The schema version the source state was written with.
    pub schema_version: i64,
    /// The source state as state JSON.
    pub json: Vec<u8>,
}

impl<P: Provider> ProviderServer<P> {
    fn resource(&self, type_name: &str) -> Result<&dyn AnyResource<P::Client>, Diagnostics> {
        lookup(P::NAME, &self.registry.resources, "resource", type_name).map(|r| &**r)
    }

    /// The value type of a resource's state, plan and configuration.
    pub fn resource_type(&self, type_name: &str) -> Result<&Type, Diagnostics> {
        Ok(self.resource(type_name)?.value_type())
    }

    /// Schema validators, then the resource's own `validate`. A write-only
    /// attribute set in `config` is an error unless Terraform can handle it.
    pub fn validate_resource_config(
        &self,
        type_name: &str,
        config: &Value,
        write_only_allowed: bool,
    ) -> Diagnostics {
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return d,
        };
        let mut diags = write_only_diags(r.schema(), config, write_only_allowed);
        validate_config(r.schema(), config, &AttributePath::root(), &mut diags);
        diags.extend(r.validate(config));
        diags
    }

    /// State JSON of schema `version` to the current schema: as is when
    /// current (attributes the schema no longer has are dropped), through
    /// the resource's upgrader when older, refused when newer.
    pub fn upgrade_resource_state(
        &self,
        type_name: &str,
        version: i64,
        json: &[u8],
    ) -> Result<Value, Diagnostics> {
        let r = self.resource(type_name)?;
        let current = r.schema().version;
        let unreadable = |e: labforge_cty::Error| {
            Diagnostics::from(Diagnostic::error(
                "Unable to read prior state",
                e.to_string(),
            ))
        };
        let mut value = if version == current {
            labforge_cty::json::decode(json, r.value_type()).map_err(unreadable)?
        } else if version > current {
            return Err(Diagnostic::error(
                "State written by a newer provider",
                format!(
                    "{type_name} state has schema version {version}, but this provider knows versions up to {current}. Upgrade the provider."
                ),
            )
            .into());
        } else {
            let upgrader = r
                .state_upgraders()
                .into_iter()
                .find(|u| u.from_version == version)
                .ok_or_else(|| {
                    Diagnostic::error(
                        "Unable to upgrade state",
                        format!("{type_name} has no upgrade from schema version {version}."),
                    )
                })?;
            let old = labforge_cty::json::decode(json, &upgrader.prior_schema.value_type())
                .map_err(unreadable)?;
            let new = (upgrader.upgrade)(old)
                .map_err(|e| with_summary(e, "Unable to upgrade state".into()))?;
            crate::model::coerce(new, r.value_type())
                .map_err(|e| Diagnostic::error("Upgraded state does not match the schema", e))?
        };
        plan::null_write_only(r.schema(), &mut value);
        Ok(value)
    }

    /// Refresh: read the object behind `state`. Not found means gone (null
    /// state). When the read does not happen or fails, the state is kept as
    /// Terraform sent it, so a refresh-only plan shows no change.
    pub async fn read_resource(&self, type_name: &str, state: Value, private: Private) -> Read {
        let keep = |state: Value, diagnostics: Diagnostics| Read {
            state,
            private: None,
            diagnostics,
        };
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return keep(state, d),
        };
        if state.is_null() {
            return keep(state, Diagnostics::new());
        }
        let ctx = match self.ctx(private) {
            Ok(ctx) => ctx,
            Err(d) => return keep(state, d),
        };
        let result = ctx.until_stopped(r.read(&ctx, &state)).await;
        let (private, mut diags) = ctx.take();
        match result {
            Ok(Some(mut v)) => {
                plan::null_write_only(r.schema(), &mut v);
                if let Some(p) = first_unknown(&v, &AttributePath::root()) {
                    diags.attribute_error(
                        p.clone(),
                        format!("Unable to read {}", self.noun(type_name)),
                        format!("The provider left {p} unknown. This is a bug in the provider."),
                    );
                    return keep(state, diags);
                }
                Read {
                    state: v,
                    private: Some(private),
                    diagnostics: diags,
                }
            }
            Ok(None) => {
                tracing::info!(resource = %type_name, "object no longer exists; removing it from state");
                keep(Value::Null, diags)
            }
            // Planning goes on; the object is read once the provider is.
            Err(e) if e.is_config_unknown() => keep(state, diags),
            Err(e) => {
                diags.extend(with_summary(
                    e,
                    format!("Unable to read {}", self.noun(type_name)),
                ));
                keep(state, diags)
            }
        }
    }

    /// Plan: the framework's planning (defaults, computed unknowns, plan
    /// modifiers), then the resource's `modify_plan` unless destroying.
    pub async fn plan_resource_change(
        &self,
        type_name: &str,
        req: PlanRequest,
    ) -> Result<Planned, Diagnostics> {
        let r = self.resource(type_name)?;
        let mut planned = plan::plan(r.schema(), &req.prior, &req.proposed, &req.config);
        let mut diags = std::mem::take(&mut planned.diagnostics);
        let ctx = self.ctx(req.private)?;
        if !req.proposed.is_null() {
            let mut change = PlanChange {
                config: &req.config,
                prior: &req.prior,
                planned: &mut planned.state,
                requires_replace: &mut planned.requires_replace,
                diagnostics: &mut diags,
            };
            match r.modify_plan(&ctx, &mut change).await {
                Ok(()) => {}
                // What needs the configuration is planned once it is known.
                Err(e) if e.is_config_unknown() => {}
                Err(e) => change.diagnostics.extend(with_summary(
                    e,
                    format!("Unable to plan {}", self.noun(type_name)),
                )),
            }
        }
        planned.requires_replace.sort();
        planned.requires_replace.dedup();
        let (private, warnings) = ctx.take();
        diags.extend(warnings);
        Ok(Planned {
            state: planned.state,
            requires_replace: planned.requires_replace,
            private,
            diagnostics: diags,
        })
    }

    /// Apply: delete when the plan is null, else create (no prior) or
    /// update, with write-only attributes from configuration. The result
    /// must keep every known planned value; what exists after a failure is
    /// kept (a partial object, else the prior state).
    pub async fn apply_resource_change(
        &self,
        type_name: &str,
        req: ApplyRequest,
    ) -> Result<Applied, Diagnostics> {
        let r = self.resource(type_name)?;
        let schema = r.schema();
        let ApplyRequest {
            prior,
            planned,
            config,
            private,
        } = req;
        let ctx = self.ctx(private)?;
        let mut diags = Diagnostics::new();
        let state = if planned.is_null() {
            match r.delete(&ctx, &prior).await {
                Ok(()) => Value::Null,
                Err(e) => {
                    diags.extend(with_summary(
                        e,
                        format!("Unable to delete {}", self.noun(type_name)),
                    ));
                    prior
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
                            format!("Unable to {verb} {}", self.noun(type_name)),
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
                                    "{type_name}: the API returned a different {p} than was planned. This is a bug in the provider."
                                ),
                            );
                        }
                        v
                    }
                }
                Err(e) => {
                    let partial = e.partial_state().cloned();
                    diags.extend(with_summary(
                        e,
                        format!("Unable to {verb} {}", self.noun(type_name)),
                    ));
                    match partial.map(|p| crate::model::coerce(p, r.value_type())) {
                        Some(Ok(p)) => {
                            let mut p = null_unknowns(p);
                            plan::null_write_only(schema, &mut p);
                            p
                        }
                        _ => prior,
                    }
                }
            }
        };
        let (private, warnings) = ctx.take();
        diags.extend(warnings);
        Ok(Applied {
            private: if state.is_null() {
                Private::new()
            } else {
                private
            },
            state,
            diagnostics: diags,
        })
    }

    /// Import the object with `id`.
    pub async fn import_resource_state(
        &self,
        type_name: &str,
        id: &str,
    ) -> Result<Imported, Diagnostics> {
        let r = self.resource(type_name)?;
        let ctx = self.ctx(Private::new())?;
        let mut state = ctx
            .until_stopped(r.import(&ctx, id))
            .await
            .map_err(|e| with_summary(e, format!("Unable to import {}", self.noun(type_name))))?;
        plan::null_write_only(r.schema(), &mut state);
        let (private, diagnostics) = ctx.take();
        Ok(Imported {
            state,
            private,
            diagnostics,
        })
    }

    /// Take state of another resource type (a `moved` block), if the target
    /// resource accepts that source.
    pub fn move_resource_state(
        &self,
        target_type_name: &str,
        req: MoveRequest,
    ) -> Result<Value, Diagnostics> {
        let r = self.resource(target_type_name)?;
        let parsed: serde_json::Value = serde_json::from_slice(&req.json)
            .map_err(|e| Diagnostic::error("Unable to read the moved state", e.to_string()))?;
        let source = MoveSource {
            provider_address: req.provider_address,
            type_name: req.type_name,
            schema_version: req.schema_version,
            state: json_to_value(&parsed),
            json: req.json,
        };
        let moved = r.move_state(&source).ok_or_else(|| {
            Diagnostic::error(
                "Unable to move resource state",
                format!(
                    "{target_type_name} cannot take state from {} ({}).",
                    source.type_name, source.provider_address
                ),
            )
        })?;
        let mut v = moved.map_err(|e| with_summary(e, "Unable to move resource state".into()))?;
        plan::null_write_only(r.schema(), &mut v);
        Ok(v)
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

/// Copy write-only attributes (at any depth) from configuration into the
/// planned value, so create and update see them (Terraform never puts them
/// in a plan).
fn with_write_only(schema: &Schema, planned: &Value, config: &Value) -> Value {
    let mut out = planned.clone();
    plan::copy_write_only(schema, config, &mut out);
    out
}

/// Errors for write-only attributes (at any depth) set when Terraform cannot
/// handle them (before 1.11 it would store them in state).
fn write_only_diags(schema: &Schema, config: &Value, allowed: bool) -> Diagnostics {
    let mut d = Diagnostics::new();
    if allowed {
        return d;
    }
    for path in plan::write_only_paths(schema, config) {
        d.attribute_error(
            path.clone(),
            "Write-only attribute not supported",
            format!(
                "{path} is write-only, which needs Terraform 1.11 or later (or OpenTofu 1.11)."
            ),
        );
    }
    d
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{Test, configured, thing, thing_type, with};
    use super::*;
    use crate::diag::Severity;

    const T: &str = "test_thing";

    fn errors(d: &Diagnostics) -> Vec<String> {
        d.iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| format!("{}: {}", d.summary, d.detail))
            .collect()
    }

    fn counter(p: &Private) -> Option<i64> {
        p.get("counter").and_then(serde_json::Value::as_i64)
    }

    #[test]
    fn validation_runs_schema_validators_and_guards_write_only() {
        let s = ProviderServer::new(Test);
        let cfg = with(
            &thing("far-too-long-a-name", 1),
            "secret",
            Value::string("pw"),
        );
        let d = s.validate_resource_config(T, &cfg, false);
        let paths: Vec<_> = d.iter().map(|d| d.attribute.clone()).collect();
        assert_eq!(
            paths,
            [
                Some(AttributePath::attr("secret")),
                Some(AttributePath::attr("name"))
            ],
            "{d:?}"
        );
        assert!(errors(&d)[0].contains("needs Terraform 1.11"), "{d:?}");
        // With a Terraform that supports write-only attributes only the name is wrong.
        assert_eq!(s.validate_resource_config(T, &cfg, true).0.len(), 1);
        assert!(
            s.validate_resource_config(T, &thing("ok", 1), false)
                .is_empty()
        );
        let unknown = s.validate_resource_config("test_nothing", &Value::Null, true);
        assert!(
            errors(&unknown)[0].contains("\"test_nothing\""),
            "{unknown:?}"
        );
    }

    /// Write-only attributes inside a single block: an old Terraform is
    /// refused naming the nested path; apply input gets the configured
    /// value back where the plan has null.
    #[test]
    fn nested_write_only_is_guarded_and_copied_into_apply_input() {
        use crate::schema::{Attribute, Block};
        let schema = Schema::new("t").block(
            "init",
            Block::single(
                Schema::new("")
                    .attribute("user", Attribute::string().optional())
                    .attribute("pw", Attribute::string().optional().write_only()),
            ),
        );
        let config = Value::object([(
            "init",
            Value::object([
                ("user", Value::string("ops")),
                ("pw", Value::string("s3cret")),
            ]),
        )]);
        let d = write_only_diags(&schema, &config, false);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(
            d.0[0].attribute,
            Some(AttributePath::attr("init").join_attr("pw"))
        );
        assert!(d.0[0].detail.starts_with("init.pw is write-only"), "{d:?}");
        assert!(!d.0[0].detail.contains("s3cret"));
        assert!(write_only_diags(&schema, &config, true).is_empty());
        let planned = Value::object([(
            "init",
            Value::object([("user", Value::string("ops")), ("pw", Value::Null)]),
        )]);
        assert_eq!(with_write_only(&schema, &planned, &config), config);
    }

    #[test]
    fn upgrade_current_lenient_newer_refused_older_upgraded() {
        let s = ProviderServer::new(Test);
        // Current version, an attribute the schema no longer has: dropped.
        let v = s
            .upgrade_resource_state(T, 2, br#"{"id":"a","name":"b","removed":1,"secret":"x"}"#)
            .unwrap();
        assert_eq!(v.get("name"), Some(&Value::string("b")));
        assert_eq!(v.get("removed"), None);
        assert_eq!(
            v.get("secret"),
            Some(&Value::Null),
            "write-only never in state"
        );

        let newer = s.upgrade_resource_state(T, 3, b"{}").unwrap_err();
        assert!(errors(&newer)[0].contains("newer provider"), "{newer:?}");

        let old = s
            .upgrade_resource_state(T, 1, br#"{"id":"a","title":"t"}"#)
            .unwrap();
        assert_eq!(old.get("name"), Some(&Value::string("t")));
        assert_eq!(old.get("size"), Some(&Value::Null));
        assert_eq!(
            &old,
            &labforge_cty::json::decode(br#"{"id":"a","name":"t"}"#, &thing_type()).unwrap()
        );

        let none = s.upgrade_resource_state(T, 0, b"{}").unwrap_err();
        assert!(
            errors(&none)[0].contains("no upgrade from schema version 0"),
            "{none:?}"
        );
        let bad = s.upgrade_resource_state(T, 2, b"{not json").unwrap_err();
        assert!(
            errors(&bad)[0].starts_with("Unable to read prior state"),
            "{bad:?}"
        );
    }

    #[tokio::test]
    async fn read_answers_the_object_or_keeps_the_state() {
        let s = configured().await;
        let private: Private = [("counter".to_string(), serde_json::json!(3))]
            .into_iter()
            .collect();
        let read = |name: &'static str| {
            let s = &s;
            let private = private.clone();
            async move { s.read_resource(T, thing(name, 1), private).await }
        };

        let here = read("here").await;
        assert_eq!(here.state, thing("here", 1));
        assert_eq!(here.private.as_ref().and_then(counter), Some(3));
        assert!(here.diagnostics.is_empty());

        let drift = read("drift").await;
        assert_eq!(drift.state, thing("drift", 2));

        // Not found: removed from state, without an error.
        let gone = read("gone").await;
        assert_eq!(gone.state, Value::Null);
        assert!(gone.diagnostics.is_empty());

        // A failed read keeps the state as sent, and the private state too.
        let broken = read("broken").await;
        assert_eq!(broken.state, thing("broken", 1));
        assert_eq!(broken.private, None);
        assert_eq!(
            errors(&broken.diagnostics),
            ["Unable to read thing: API down"]
        );

        // Provider configuration not known yet: state kept, no error.
        let later = read("later").await;
        assert_eq!(later.state, thing("later", 1));
        assert_eq!(later.private, None);
        assert!(later.diagnostics.is_empty(), "{:?}", later.diagnostics);

        // A read must answer a wholly known object.
        let unknowable = read("unknowable").await;
        assert_eq!(unknowable.state, thing("unknowable", 1));
        assert_eq!(
            unknowable.diagnostics.0[0].attribute,
            Some(AttributePath::attr("note"))
        );

        // Nothing to read for a null state.
        let null = s.read_resource(T, Value::Null, Private::new()).await;
        assert_eq!(null.state, Value::Null);
        assert!(null.diagnostics.is_empty());

        let unknown_type = s
            .read_resource("test_nothing", thing("x", 1), Private::new())
            .await;
        assert_eq!(unknown_type.state, thing("x", 1));
        assert!(unknown_type.diagnostics.has_errors());
    }

    #[tokio::test]
    async fn read_before_configure_keeps_the_state() {
        let s = ProviderServer::new(Test);
        let r = s.read_resource(T, thing("x", 1), Private::new()).await;
        assert_eq!(r.state, thing("x", 1));
        assert!(errors(&r.diagnostics)[0].starts_with("Provider not configured"));
    }

    #[tokio::test]
    async fn stop_cancels_a_hanging_read_and_keeps_the_state() {
        let s = std::sync::Arc::new(configured().await);
        let hanging = tokio::spawn({
            let s = s.clone();
            async move { s.read_resource(T, thing("hang", 1), Private::new()).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!hanging.is_finished(), "the read should hang until stopped");
        s.stop();
        let r = tokio::time::timeout(Duration::from_secs(5), hanging)
            .await
            .expect("read cancelled promptly")
            .unwrap();
        assert_eq!(r.state, thing("hang", 1));
        assert_eq!(
            errors(&r.diagnostics),
            ["Operation cancelled: Terraform asked the provider to stop."]
        );
        // Stopped stays stopped: later reads that wait are cancelled at once.
        let again = s.read_resource(T, thing("hang", 1), Private::new()).await;
        assert!(errors(&again.diagnostics)[0].contains("cancelled"));
    }

    fn plan_req(prior: Value, config: Value, proposed: Value) -> PlanRequest {
        PlanRequest {
            prior,
            proposed,
            config,
            private: Private::new(),
        }
    }

    fn config(name: &str) -> Value {
        with(
            &with(&thing(name, 1), "id", Value::Null),
            "note",
            Value::Null,
        )
    }

    #[tokio::test]
    async fn plan_create_update_replace_and_destroy() {
        let s = configured().await;
        let create = s
            .plan_resource_change(T, plan_req(Value::Null, config("a"), config("a")))
            .await
            .unwrap();
        assert!(create.state.get("id").is_some_and(Value::is_unknown));
        assert!(create.state.get("note").is_some_and(Value::is_unknown));
        assert!(create.requires_replace.is_empty());

        // A change keeps `id` (use_state_for_unknown) and plans computed `note` unknown.
        let prior = thing("a", 1);
        let update = s
            .plan_resource_change(
                T,
                plan_req(prior.clone(), with(&config("a"), "size", Value::Null), {
                    with(&prior, "size", Value::Null)
                }),
            )
            .await
            .unwrap();
        assert_eq!(update.state.get("id"), Some(&Value::string("id-a")));
        assert_eq!(update.state.get("size"), Some(&Value::Null));

        // modify_plan's replacement is reported once.
        let prior = thing("replace-me", 1);
        let replace = s
            .plan_resource_change(
                T,
                plan_req(prior.clone(), config("replace-me"), prior.clone()),
            )
            .await
            .unwrap();
        assert_eq!(replace.requires_replace, [AttributePath::attr("name")]);
        assert!(replace.diagnostics.is_empty());

        let destroy = s
            .plan_resource_change(T, plan_req(thing("veto", 1), Value::Null, Value::Null))
            .await
            .unwrap();
        assert_eq!(destroy.state, Value::Null, "modify_plan is not asked");
        assert!(destroy.diagnostics.is_empty());

        let veto = s
            .plan_resource_change(T, plan_req(Value::Null, config("veto"), config("veto")))
            .await
            .unwrap();
        assert_eq!(
            errors(&veto.diagnostics),
            ["Unable to plan thing: not allowed"]
        );

        // Configuration not known yet: planned without the resource's say.
        let later = s
            .plan_resource_change(T, plan_req(Value::Null, config("later"), config("later")))
            .await
            .unwrap();
        assert!(later.diagnostics.is_empty(), "{:?}", later.diagnostics);
        assert!(later.state.get("id").is_some_and(Value::is_unknown));
    }

    #[tokio::test]
    async fn plan_needs_a_configured_provider_and_a_known_type() {
        let s = ProviderServer::new(Test);
        let d = s
            .plan_resource_change(T, plan_req(Value::Null, config("a"), config("a")))
            .await
            .unwrap_err();
        assert!(errors(&d)[0].starts_with("Provider not configured"));
        let d = configured()
            .await
            .plan_resource_change(
                "test_nothing",
                plan_req(Value::Null, Value::Null, Value::Null),
            )
            .await
            .unwrap_err();
        assert!(errors(&d)[0].starts_with("Unknown resource type"));
    }

    fn apply_req(prior: Value, name: &str) -> ApplyRequest {
        let planned = with(
            &with(&config(name), "id", Value::unknown()),
            "note",
            Value::unknown(),
        );
        ApplyRequest {
            prior,
            planned,
            config: config(name),
            private: Private::new(),
        }
    }

    #[tokio::test]
    async fn apply_creates_with_write_only_values_and_checks_the_result() {
        let s = configured().await;
        let mut req = apply_req(Value::Null, "a");
        req.config = with(&req.config, "secret", Value::string("pw"));
        let ok = s.apply_resource_change(T, req).await.unwrap();
        assert!(ok.diagnostics.is_empty(), "{:?}", ok.diagnostics);
        assert_eq!(ok.state.get("id"), Some(&Value::string("id-a")));
        assert_eq!(ok.state.get("note"), Some(&Value::string("secret pw")));
        assert_eq!(ok.state.get("secret"), Some(&Value::Null));
        assert_eq!(counter(&ok.private), Some(1));

        let warn = s
            .apply_resource_change(T, apply_req(Value::Null, "warn"))
            .await
            .unwrap();
        assert_eq!(warn.diagnostics.0.len(), 1);
        assert_eq!(warn.diagnostics.0[0].severity, Severity::Warning);

        // The API answered another name than planned: named in the error.
        let shout = s
            .apply_resource_change(T, apply_req(Value::Null, "shout"))
            .await
            .unwrap();
        assert_eq!(shout.diagnostics.0.len(), 1);
        assert!(errors(&shout.diagnostics)[0].contains("inconsistent result"));
        assert_eq!(
            shout.diagnostics.0[0].attribute,
            Some(AttributePath::attr("name"))
        );
        assert_eq!(shout.state.get("name"), Some(&Value::string("SHOUT")));

        // Left unknown: the object is kept with the unknown nulled, and an error.
        let unknowable = s
            .apply_resource_change(T, apply_req(Value::Null, "unknowable"))
            .await
            .unwrap();
        assert_eq!(unknowable.state.get("note"), Some(&Value::Null));
        assert_eq!(
            unknowable.state.get("id"),
            Some(&Value::string("id-unknowable"))
        );
        assert_eq!(
            unknowable.diagnostics.0[0].attribute,
            Some(AttributePath::attr("note"))
        );
    }

    #[tokio::test]
    async fn apply_keeps_a_partial_object_or_the_prior_state_on_failure() {
        let s = configured().await;
        let partial = s
            .apply_resource_change(T, apply_req(Value::Null, "partial"))
            .await
            .unwrap();
        assert_eq!(
            errors(&partial.diagnostics),
            ["Unable to create thing: half done"]
        );
        assert_eq!(partial.state.get("id"), Some(&Value::string("id-partial")));
        assert_eq!(
            partial.state.get("note"),
            Some(&Value::Null),
            "unknown nulled"
        );
        assert_eq!(
            partial.state.get("secret"),
            Some(&Value::Null),
            "write-only nulled"
        );
        assert_eq!(
            crate::model::coerce(partial.state.clone(), &thing_type()),
            Ok(partial.state.clone()),
            "the partial state has the schema's type"
        );

        let fail = s
            .apply_resource_change(T, apply_req(Value::Null, "fail"))
            .await
            .unwrap();
        assert_eq!(fail.state, Value::Null, "nothing was created");
        assert_eq!(
            errors(&fail.diagnostics),
            ["Unable to create thing: no room"]
        );

        let stuck = s
            .apply_resource_change(
                T,
                ApplyRequest {
                    prior: thing("stuck", 1),
                    planned: Value::Null,
                    config: Value::Null,
                    private: Private::new(),
                },
            )
            .await
            .unwrap();
        assert_eq!(stuck.state, thing("stuck", 1));
        assert_eq!(
            errors(&stuck.diagnostics),
            ["Unable to delete thing: still in use"]
        );
    }

    #[tokio::test]
    async fn apply_updates_and_deletes() {
        let s = configured().await;
        let private: Private = [("counter".to_string(), serde_json::json!(4))]
            .into_iter()
            .collect();
        let planned = with(&thing("a", 5), "note", Value::string("n"));
        let updated = s
            .apply_resource_change(
                T,
                ApplyRequest {
                    prior: thing("a", 1),
                    planned: planned.clone(),
                    config: config("a"),
                    private: private.clone(),
                },
            )
            .await
            .unwrap();
        assert!(updated.diagnostics.is_empty(), "{:?}", updated.diagnostics);
        assert_eq!(updated.state, planned);
        assert_eq!(counter(&updated.private), Some(5));

        let deleted = s
            .apply_resource_change(
                T,
                ApplyRequest {
                    prior: thing("a", 5),
                    planned: Value::Null,
                    config: Value::Null,
                    private,
                },
            )
            .await
            .unwrap();
        assert_eq!(deleted.state, Value::Null);
        assert!(
            deleted.private.is_empty(),
            "no private state for a deleted object"
        );
    }

    #[tokio::test]
    async fn import_reads_the_object_without_write_only_values() {
        let s = configured().await;
        let i = s.import_resource_state(T, "id-7").await.unwrap();
        assert_eq!(i.state.get("id"), Some(&Value::string("id-7")));
        assert_eq!(i.state.get("name"), Some(&Value::string("imported")));
        assert_eq!(i.state.get("secret"), Some(&Value::Null));
        assert_eq!(counter(&i.private), Some(7));
        let missing = s.import_resource_state(T, "missing").await.unwrap_err();
        assert_eq!(
            errors(&missing),
            ["Unable to import thing: no object missing"]
        );
    }

    #[test]
    fn move_takes_state_only_from_accepted_sources() {
        let s = ProviderServer::new(Test);
        let req = |type_name: &str, json: &[u8]| MoveRequest {
            provider_address: "registry.terraform.io/x/test".into(),
            type_name: type_name.into(),
            schema_version: 0,
            json: json.to_vec(),
        };
        let v = s
            .move_resource_state(T, req("test_old", br#"{"key":"k1","n":1.5}"#))
            .unwrap();
        assert_eq!(v.get("id"), Some(&Value::string("k1")));
        assert_eq!(v.get("name"), Some(&Value::string("moved")));
        assert_eq!(v.get("size"), Some(&Value::Null), "coerced to the schema");

        let other = s
            .move_resource_state(T, req("test_other", b"{}"))
            .unwrap_err();
        assert!(
            errors(&other)[0].contains("cannot take state from test_other"),
            "{other:?}"
        );
        let bad = s.move_resource_state(T, req("test_old", b"{")).unwrap_err();
        assert!(errors(&bad)[0].starts_with("Unable to read the moved state"));
    }

    #[test]
    fn untyped_json_keeps_numbers_exact() {
        let j: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,"s",true,null],"n":0.1}"#).unwrap();
        let v = json_to_value(&j);
        assert_eq!(
            v.get("n"),
            Some(&Value::Number(labforge_cty::Number::parse("0.1").unwrap()))
        );
        assert_eq!(
            v.get("a").and_then(Value::elements).map(<[Value]>::len),
            Some(4)
        );
    }
}

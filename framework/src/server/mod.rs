//! The provider server's logic: what each RPC of the plugin protocol does,
//! in framework types only ([`Value`], [`Diagnostics`], [`Schema`], private
//! state as a map). No protobuf here: [`crate::grpc`] decodes a request,
//! calls one of these functions and encodes the answer, like
//! terraform-plugin-framework's `internal/fwserver` beside its
//! `fromproto6`/`toproto6`.
//!
//! One file per RPC family: [`provider`] (metadata, schemas, configure,
//! stop), [`resource`], [`data_source`], [`ephemeral`] and [`function`].
//!
//! Items are named by the full type name Terraform uses (`homelab_x`); a
//! name the provider does not offer is an "Unknown ... type" error.

pub mod data_source;
pub mod ephemeral;
pub mod function;
pub mod provider;
pub mod resource;

#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use labforge_cty::{AttributePath, Type, Value};

use crate::context::{Ctx, StopSignal, StopTrigger};
use crate::diag::{Diagnostic, Diagnostics, Error};
use crate::provider::{Provider, Registry};
use crate::schema::Schema;

pub use data_source::DataRead;
pub use ephemeral::{Opened, Renewed};
pub use function::Signature;
pub use provider::{Metadata, Schemas};
pub use resource::{Applied, ApplyRequest, Imported, MoveRequest, PlanRequest, Planned, Read};

/// Private state: what a resource keeps beside its state, never shown to users.
pub type Private = BTreeMap<String, serde_json::Value>;

/// The logic of a provider server for a [`Provider`]: its registry, its
/// configured client and the stop signal of in-flight requests.
pub struct ProviderServer<P: Provider> {
    provider: P,
    registry: Registry<P::Client>,
    schema: Schema,
    provider_type: Type,
    client: RwLock<Option<Arc<P::Client>>>,
    stop_trigger: StopTrigger,
    stop: StopSignal,
}

impl<P: Provider> ProviderServer<P> {
    /// A server for `provider`, not configured yet.
    pub fn new(provider: P) -> Self {
        let registry = provider.resources();
        let schema = provider.schema();
        let provider_type = schema.value_type();
        let (stop_trigger, stop) = StopTrigger::new();
        Self {
            provider,
            registry,
            schema,
            provider_type,
            client: RwLock::new(None),
            stop_trigger,
            stop,
        }
    }

    /// What error summaries call the item `type_name`: "VM" for
    /// `homelab_proxmox_vm` ("Unable to create VM").
    fn noun(&self, type_name: &str) -> String {
        let short = type_name
            .strip_prefix(P::NAME)
            .and_then(|s| s.strip_prefix('_'))
            .unwrap_or(type_name);
        self.registry.noun(short)
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

    /// A request context with the configured client and `private`.
    fn ctx(&self, private: Private) -> Result<Ctx<P::Client>, Diagnostics> {
        Ok(Ctx::new(self.client()?, private, self.stop.clone()))
    }

    fn full_name(n: &str) -> String {
        format!("{}_{n}", P::NAME)
    }
}

/// The registered item for a full type name (`homelab_x` → `x`).
fn lookup<'a, T>(
    prefix: &str,
    items: &'a BTreeMap<&'static str, T>,
    kind: &str,
    type_name: &str,
) -> Result<&'a T, Diagnostics> {
    type_name
        .strip_prefix(prefix)
        .and_then(|s| s.strip_prefix('_'))
        .and_then(|n| items.get(n))
        .ok_or_else(|| {
            Diagnostic::error(
                format!("Unknown {kind} type"),
                format!("This provider has no {kind} type {type_name:?}."),
            )
            .into()
        })
}

/// An error's diagnostics, with `summary` where it gave none.
fn with_summary(e: Error, summary: String) -> Diagnostics {
    e.context(summary).into_diagnostics()
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

/// The path of the first unknown in `v` (under `path`), if any.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknowns_are_found_and_nulled_at_any_depth() {
        let v = Value::object([
            ("a", Value::string("x")),
            (
                "l",
                Value::List(vec![
                    Value::string("k"),
                    Value::Map([("m".to_string(), Value::unknown())].into_iter().collect()),
                ]),
            ),
        ]);
        assert_eq!(
            first_unknown(&v, &AttributePath::root()).map(|p| p.to_string()),
            Some("l[1][\"m\"]".to_string())
        );
        let nulled = null_unknowns(v);
        assert_eq!(first_unknown(&nulled, &AttributePath::root()), None);
        assert_eq!(
            nulled
                .get("l")
                .and_then(Value::elements)
                .map(|e| e[1].clone()),
            Some(Value::Map(
                [("m".to_string(), Value::Null)].into_iter().collect()
            ))
        );
        assert_eq!(nulled.get("a"), Some(&Value::string("x")));
    }

    #[test]
    fn lookup_needs_the_provider_prefix() {
        let items: BTreeMap<&'static str, u8> = [("thing", 1)].into_iter().collect();
        assert_eq!(
            lookup("test", &items, "resource", "test_thing").ok(),
            Some(&1)
        );
        for wrong in ["thing", "other_thing", "testthing", "test_"] {
            let d = lookup("test", &items, "resource", wrong).unwrap_err();
            assert_eq!(d.0[0].summary, "Unknown resource type");
            assert!(d.0[0].detail.contains(wrong), "{:?}", d.0[0]);
        }
    }
}

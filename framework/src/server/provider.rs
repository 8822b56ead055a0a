//! The provider itself: metadata, schemas, its configuration and stop.

use std::sync::Arc;

use labforge_cty::{AttributePath, Type, Value};

use super::ProviderServer;
use crate::diag::Diagnostics;
use crate::provider::Provider;
use crate::resource::FunctionDefinition;
use crate::schema::{Schema, validate_config};

/// The full names of everything the provider offers (GetMetadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Managed resource types (`homelab_...`), sorted.
    pub resources: Vec<String>,
    /// Data source types (`homelab_...`), sorted.
    pub data_sources: Vec<String>,
    /// Ephemeral resource types (`homelab_...`), sorted.
    pub ephemeral_resources: Vec<String>,
    /// Function names, without prefix (called as `provider::homelab::name`), sorted.
    pub functions: Vec<String>,
}

/// Every schema the provider offers, by full name, and the mistakes found in
/// them (GetProviderSchema).
pub struct Schemas<'a> {
    /// The provider block's schema.
    pub provider: &'a Schema,
    /// Managed resources by full type name.
    pub resources: Vec<(String, &'a Schema)>,
    /// Data sources by full type name.
    pub data_sources: Vec<(String, &'a Schema)>,
    /// Ephemeral resources by full type name.
    pub ephemeral_resources: Vec<(String, &'a Schema)>,
    /// Functions by name (no provider prefix).
    pub functions: Vec<(String, FunctionDefinition)>,
    /// Schema and registration mistakes, as errors naming the type and attribute.
    pub diagnostics: Diagnostics,
}

impl<P: Provider> ProviderServer<P> {
    /// The provider block's schema.
    pub fn provider_schema(&self) -> &Schema {
        &self.schema
    }

    /// The type of the provider block's value.
    pub fn provider_type(&self) -> &Type {
        &self.provider_type
    }

    /// GetMetadata: the names of everything on offer.
    pub fn metadata(&self) -> Metadata {
        let r = &self.registry;
        let names = |keys: &mut dyn Iterator<Item = &&'static str>| {
            keys.map(|n| Self::full_name(n)).collect::<Vec<_>>()
        };
        Metadata {
            resources: names(&mut r.resources.keys()),
            data_sources: names(&mut r.data_sources.keys()),
            ephemeral_resources: names(&mut r.ephemeral.keys()),
            // Functions are called by their own name: provider::homelab::x.
            functions: r.functions.keys().map(|n| n.to_string()).collect(),
        }
    }

    /// GetProviderSchema: every schema, with the definition mistakes found
    /// in them as errors.
    pub fn schemas(&self) -> Schemas<'_> {
        let r = &self.registry;
        Schemas {
            provider: &self.schema,
            resources: r
                .resources
                .iter()
                .map(|(n, x)| (Self::full_name(n), x.schema()))
                .collect(),
            data_sources: r
                .data_sources
                .iter()
                .map(|(n, x)| (Self::full_name(n), x.schema()))
                .collect(),
            ephemeral_resources: r
                .ephemeral
                .iter()
                .map(|(n, x)| (Self::full_name(n), x.schema()))
                .collect(),
            functions: r
                .functions
                .iter()
                .map(|(n, f)| (n.to_string(), f.definition()))
                .collect(),
            diagnostics: self.definition_errors(),
        }
    }

    /// Schema mistakes, as error diagnostics naming the type and attribute.
    fn definition_errors(&self) -> Diagnostics {
        let r = &self.registry;
        let mut d = Diagnostics::new();
        let mut add = |kind: &str, name: String, s: &Schema| {
            for e in s.definition_errors() {
                d.error(
                    "Invalid provider schema",
                    format!("{kind} {name}: {e}. This is a bug in the provider."),
                );
            }
        };
        add("provider", P::NAME.to_string(), &self.schema);
        for (n, x) in &r.resources {
            add("resource", Self::full_name(n), x.schema());
        }
        for (n, x) in &r.data_sources {
            add("data source", Self::full_name(n), x.schema());
        }
        for (n, x) in &r.ephemeral {
            add("ephemeral resource", Self::full_name(n), x.schema());
        }
        for e in r.definition_errors() {
            d.error(
                "Invalid provider schema",
                format!("{}. This is a bug in the provider.", Self::full_name(e)),
            );
        }
        d
    }

    /// The provider block's validators over its configuration.
    pub fn validate_provider_config(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        validate_config(&self.schema, config, &AttributePath::root(), &mut diags);
        diags
    }

    /// Build the client from the provider block; later requests use it.
    /// Parts of `config` may be unknown during plan (see [`Provider::configure`]).
    pub async fn configure_provider(&self, config: Value) -> Diagnostics {
        let result = async {
            let model = crate::model::from_value(&config)
                .map_err(|e| super::with_summary(e, "Invalid provider configuration".into()))?;
            let client =
                self.provider.configure(model, &config).await.map_err(|e| {
                    super::with_summary(e, "Unable to configure the provider".into())
                })?;
            *self
                .client
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(client));
            Ok::<_, Diagnostics>(())
        }
        .await;
        result.err().unwrap_or_default()
    }

    /// StopProvider: end in-flight work (Terraform got Ctrl-C). Requests
    /// waiting in [`crate::Ctx::until_stopped`] fail with "Operation cancelled".
    pub fn stop(&self) {
        tracing::info!("StopProvider: cancelling in-flight work");
        self.stop_trigger.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Test, configured};
    use super::*;

    #[test]
    fn metadata_and_schemas_use_full_names() {
        let s = ProviderServer::new(Test);
        let m = s.metadata();
        assert_eq!(m.resources, ["test_thing"]);
        assert_eq!(m.data_sources, ["test_lookup"]);
        assert_eq!(m.ephemeral_resources, ["test_token"]);
        assert_eq!(m.functions, ["reverse"]);
        let schemas = s.schemas();
        assert_eq!(schemas.resources[0].0, "test_thing");
        assert_eq!(schemas.resources[0].1.version, 2);
        assert_eq!(schemas.functions[0].0, "reverse");
        assert!(schemas.diagnostics.is_empty(), "{:?}", schemas.diagnostics);
        assert!(schemas.provider.attributes.contains_key("fail"));
    }

    #[tokio::test]
    async fn configure_errors_are_summarised_and_leave_the_provider_unconfigured() {
        let s = ProviderServer::new(Test);
        let d = s
            .configure_provider(Value::object([("fail", Value::Bool(true))]))
            .await;
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].summary, "Unable to configure the provider");
        let r = s
            .read_resource(
                "test_thing",
                super::super::testing::thing("x", 1),
                Default::default(),
            )
            .await;
        assert!(
            r.diagnostics.0[0].summary.contains("not configured"),
            "{:?}",
            r.diagnostics
        );
        // A configuration that does not fit the model is reported too.
        let d = s
            .configure_provider(Value::object([("fail", Value::string("no"))]))
            .await;
        assert_eq!(d.0[0].summary, "Invalid provider configuration", "{d:?}");
        assert!(configured().await.client().is_ok());
    }

    #[test]
    fn provider_validators_run() {
        let s = ProviderServer::new(Test);
        let d =
            s.validate_provider_config(&Value::object([("label", Value::string("far too long"))]));
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("label")));
        assert!(
            s.validate_provider_config(&Value::object([("label", Value::string("ok"))]))
                .is_empty()
        );
    }
}

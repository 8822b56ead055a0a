//! Data sources: validate and read.

use labforge_cty::{AttributePath, Type, Value};

use super::{Private, ProviderServer, first_unknown, lookup, with_summary};
use crate::diag::{Diagnostic, Diagnostics};
use crate::provider::{AnyDataSource, Provider};
use crate::schema::validate_config;

/// What a data source read: a wholly known object, and any warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRead {
    /// The configuration with every computed attribute filled in.
    pub state: Value,
    /// Errors and warnings for Terraform (including [`crate::Ctx::warn`]'s).
    pub diagnostics: Diagnostics,
}

impl<P: Provider> ProviderServer<P> {
    fn data_source(&self, type_name: &str) -> Result<&dyn AnyDataSource<P::Client>, Diagnostics> {
        lookup(
            P::NAME,
            &self.registry.data_sources,
            "data source",
            type_name,
        )
        .map(|d| &**d)
    }

    /// The value type of a data source's configuration and result.
    pub fn data_source_type(&self, type_name: &str) -> Result<&Type, Diagnostics> {
        Ok(self.data_source(type_name)?.value_type())
    }

    /// Schema validators, then the data source's own `validate`.
    pub fn validate_data_resource_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        let d = match self.data_source(type_name) {
            Ok(d) => d,
            Err(diags) => return diags,
        };
        let mut diags = Diagnostics::new();
        validate_config(d.schema(), config, &AttributePath::root(), &mut diags);
        diags.extend(d.validate(config));
        diags
    }

    /// Read the data source for `config`; the answer must be wholly known.
    pub async fn read_data_source(
        &self,
        type_name: &str,
        config: Value,
    ) -> Result<DataRead, Diagnostics> {
        let d = self.data_source(type_name)?;
        let ctx = self.ctx(Private::new())?;
        let state = ctx
            .until_stopped(d.read(&ctx, &config))
            .await
            .map_err(|e| with_summary(e, format!("Unable to read {}", self.noun(type_name))))?;
        if let Some(p) = first_unknown(&state, &AttributePath::root()) {
            return Err(Diagnostic::error(
                format!("Unable to read {}", self.noun(type_name)),
                format!("The provider left {p} unknown. This is a bug in the provider."),
            )
            .into());
        }
        let (_, diagnostics) = ctx.take();
        Ok(DataRead { state, diagnostics })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Test, configured};
    use super::*;
    use crate::diag::Severity;

    const L: &str = "test_lookup";

    fn config(id: &str) -> Value {
        Value::object([("id", Value::string(id)), ("name", Value::Null)])
    }

    #[test]
    fn validation_points_at_the_attribute() {
        let s = ProviderServer::new(Test);
        let d = s.validate_data_resource_config(L, &config("far-too-long-an-id"));
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("id")));
        assert!(s.validate_data_resource_config(L, &config("ok")).is_empty());
        let unknown = s.validate_data_resource_config("test_nothing", &Value::Null);
        assert_eq!(unknown.0[0].summary, "Unknown data source type");
    }

    #[tokio::test]
    async fn read_answers_a_known_object_with_warnings() {
        let s = configured().await;
        let r = s.read_data_source(L, config("a")).await.unwrap();
        assert_eq!(r.state.get("name"), Some(&Value::string("name of a")));
        assert_eq!(r.diagnostics.0.len(), 1);
        assert_eq!(r.diagnostics.0[0].severity, Severity::Warning);

        let missing = s.read_data_source(L, config("missing")).await.unwrap_err();
        assert_eq!(missing.0[0].summary, "Unable to read lookup");
        assert_eq!(missing.0[0].detail, "no such thing");

        let unknown = s
            .read_data_source(L, config("unknowable"))
            .await
            .unwrap_err();
        assert!(
            unknown.0[0].detail.contains("left name unknown"),
            "{unknown:?}"
        );

        let unconfigured = ProviderServer::new(Test)
            .read_data_source(L, config("a"))
            .await
            .unwrap_err();
        assert_eq!(unconfigured.0[0].summary, "Provider not configured");
    }
}

//! Ephemeral resources: validate, open, renew, close. Private state carries
//! what renew and close need from open.

use std::time::SystemTime;

use labforge_cty::{AttributePath, Type, Value};

use super::{Private, ProviderServer, lookup, with_summary};
use crate::diag::Diagnostics;
use crate::provider::{AnyEphemeral, Provider};
use crate::schema::validate_config;

/// An opened ephemeral resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The value Terraform gets (never stored).
    pub result: Value,
    /// When Terraform should call RenewEphemeralResource; `None`: never.
    pub renew_at: Option<SystemTime>,
    /// Private state for renew and close.
    pub private: Private,
    /// Errors and warnings for Terraform (including [`crate::Ctx::warn`]'s).
    pub diagnostics: Diagnostics,
}

/// A renewed ephemeral resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Renewed {
    /// When to renew next; `None`: never.
    pub renew_at: Option<SystemTime>,
    /// Private state for the next renew and close.
    pub private: Private,
    /// Errors and warnings for Terraform (including [`crate::Ctx::warn`]'s).
    pub diagnostics: Diagnostics,
}

impl<P: Provider> ProviderServer<P> {
    fn ephemeral(&self, type_name: &str) -> Result<&dyn AnyEphemeral<P::Client>, Diagnostics> {
        lookup(
            P::NAME,
            &self.registry.ephemeral,
            "ephemeral resource",
            type_name,
        )
        .map(|e| &**e)
    }

    /// The value type of an ephemeral resource's configuration and result.
    pub fn ephemeral_type(&self, type_name: &str) -> Result<&Type, Diagnostics> {
        Ok(self.ephemeral(type_name)?.value_type())
    }

    /// ValidateEphemeralResourceConfig: the schema's validators over `config`.
    pub fn validate_ephemeral_resource_config(
        &self,
        type_name: &str,
        config: &Value,
    ) -> Diagnostics {
        let e = match self.ephemeral(type_name) {
            Ok(e) => e,
            Err(d) => return d,
        };
        let mut diags = Diagnostics::new();
        validate_config(e.schema(), config, &AttributePath::root(), &mut diags);
        diags
    }

    /// OpenEphemeralResource: produce the value; what the resource keeps in
    /// private state goes back to Terraform for renew and close.
    pub async fn open_ephemeral_resource(
        &self,
        type_name: &str,
        config: Value,
    ) -> Result<Opened, Diagnostics> {
        let e = self.ephemeral(type_name)?;
        let ctx = self.ctx(Private::new())?;
        let opened = e
            .open(&ctx, &config)
            .await
            .map_err(|err| with_summary(err, format!("Unable to open {}", self.noun(type_name))))?;
        let (private, diagnostics) = ctx.take();
        Ok(Opened {
            result: opened.result,
            renew_at: opened.renew_at,
            private,
            diagnostics,
        })
    }

    /// RenewEphemeralResource, with the private state of the last open or renew.
    pub async fn renew_ephemeral_resource(
        &self,
        type_name: &str,
        private: Private,
    ) -> Result<Renewed, Diagnostics> {
        let e = self.ephemeral(type_name)?;
        let ctx = self.ctx(private)?;
        let renew_at = e.renew(&ctx).await.map_err(|err| {
            with_summary(err, format!("Unable to renew {}", self.noun(type_name)))
        })?;
        let (private, diagnostics) = ctx.take();
        Ok(Renewed {
            renew_at,
            private,
            diagnostics,
        })
    }

    /// CloseEphemeralResource: release the value. Only diagnostics come back.
    pub async fn close_ephemeral_resource(&self, type_name: &str, private: Private) -> Diagnostics {
        let result = async {
            let e = self.ephemeral(type_name)?;
            let ctx = self.ctx(private)?;
            e.close(&ctx).await.map_err(|err| {
                with_summary(err, format!("Unable to close {}", self.noun(type_name)))
            })?;
            let (_, warnings) = ctx.take();
            Ok::<_, Diagnostics>(warnings)
        }
        .await;
        result.unwrap_or_else(|d| d)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{Test, configured, renew_time};
    use super::*;

    const E: &str = "test_token";

    fn config(prefix: &str) -> Value {
        Value::object([("prefix", Value::string(prefix)), ("value", Value::Null)])
    }

    #[tokio::test]
    async fn open_renew_close_carry_private_state() {
        let s = configured().await;
        let opened = s.open_ephemeral_resource(E, config("tk-")).await.unwrap();
        assert_eq!(opened.result.get("value"), Some(&Value::string("tk-1")));
        assert_eq!(opened.renew_at, Some(renew_time()));
        assert_eq!(opened.private.get("n"), Some(&serde_json::json!(1)));

        let renewed = s
            .renew_ephemeral_resource(E, opened.private.clone())
            .await
            .unwrap();
        assert_eq!(
            renewed.renew_at,
            Some(renew_time() + Duration::from_secs(1))
        );
        assert_eq!(renewed.private.get("n"), Some(&serde_json::json!(2)));

        assert!(
            s.close_ephemeral_resource(E, renewed.private)
                .await
                .is_empty()
        );
        // Without what open left, renew and close fail with a summary.
        let d = s
            .renew_ephemeral_resource(E, Private::new())
            .await
            .unwrap_err();
        assert_eq!(d.0[0].summary, "Unable to renew token");
        let d = s.close_ephemeral_resource(E, Private::new()).await;
        assert_eq!(d.0[0].summary, "Unable to close token");

        let d = s
            .open_ephemeral_resource(E, config("bad"))
            .await
            .unwrap_err();
        assert_eq!(d.0[0].summary, "Unable to open token");
        let d = s
            .close_ephemeral_resource("test_nothing", Private::new())
            .await;
        assert_eq!(d.0[0].summary, "Unknown ephemeral resource type");
    }

    #[test]
    fn validation_points_at_the_attribute() {
        let s = ProviderServer::new(Test);
        let d = s.validate_ephemeral_resource_config(E, &config("too-long"));
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("prefix")));
        assert!(
            s.validate_ephemeral_resource_config(E, &config("ok"))
                .is_empty()
        );
    }
}

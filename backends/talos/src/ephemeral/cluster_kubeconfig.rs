//! Ephemeral `homelab_talos_cluster_kubeconfig`: the cluster's admin
//! kubeconfig, fetched from a control plane node and never stored.

use std::time::SystemTime;

use labforge_framework::schema::{Attribute, Schema};
use labforge_framework::{Ctx, EphemeralResource, Opened, Result};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::resources::kubeconfig::{
    KubernetesClientConfiguration, cert_expiry, client_configuration_out, fetch, renewal,
    renewal_attr,
};
use crate::resources::node::{ClientConfig, node_attrs};
use crate::resources::timeouts::DEFAULT_TIMEOUT;

/// The ephemeral resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterKubeconfigEphemeral;

/// The kubeconfig. No `Debug`: it holds secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct EphemeralKubeconfigModel {
    /// The control plane node to ask.
    pub node: String,
    /// Where to connect (default: `node`).
    pub endpoint: Option<String>,
    /// The admin client configuration of the Talos API.
    pub client_configuration: ClientConfig,
    /// Terraform is asked to renew this long before the client certificate
    /// expires (default `720h`).
    pub certificate_renewal_duration: Option<String>,
    /// The kubeconfig (YAML).
    pub kubeconfig_raw: Option<String>,
    /// Its parts.
    pub kubernetes_client_configuration: Option<KubernetesClientConfiguration>,
}

/// When Terraform should renew: `certificate_renewal_duration` before the
/// certificate's `NotAfter` (at once when that is past).
pub(crate) fn renew_at(not_after: SystemTime, window: std::time::Duration) -> SystemTime {
    not_after
        .checked_sub(window)
        .filter(|t| *t >= SystemTime::UNIX_EPOCH)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl EphemeralResource for ClusterKubeconfigEphemeral {
    type Client = Client;
    type Model = EphemeralKubeconfigModel;
    const NAME: &'static str = "talos_cluster_kubeconfig";

    fn schema(&self) -> Schema {
        let s = Schema::new(
            "The cluster's admin kubeconfig, fetched from a control plane node and never \
             stored in state or plan (Terraform 1.10+). Its renewal time is the client \
             certificate's expiry minus `certificate_renewal_duration`.",
        );
        let mut s = node_attrs(s, false);
        if let Some(e) = s.attributes.get_mut("endpoint") {
            e.computed = false;
        }
        s.attribute("certificate_renewal_duration", renewal_attr_optional())
            .attribute(
                "kubeconfig_raw",
                Attribute::string()
                    .computed()
                    .sensitive()
                    .describe("The kubeconfig (YAML)."),
            )
            .attribute(
                "kubernetes_client_configuration",
                client_configuration_out(),
            )
    }

    async fn open(
        &self,
        ctx: &Ctx<Client>,
        mut config: EphemeralKubeconfigModel,
    ) -> Result<Opened<EphemeralKubeconfigModel>> {
        let (raw, parts) = fetch(
            ctx,
            &config.node,
            config.endpoint.as_deref(),
            &config.client_configuration,
            DEFAULT_TIMEOUT,
        )
        .await?;
        let window = renewal(config.certificate_renewal_duration.as_deref());
        let renew = cert_expiry(&parts.client_certificate).map(|t| renew_at(t, window));
        config.kubeconfig_raw = Some(raw);
        config.kubernetes_client_configuration = Some(parts);
        Ok(Opened {
            result: config,
            renew_at: renew,
        })
    }
}

/// Ephemeral resources have no defaults in state: the attribute is optional.
fn renewal_attr_optional() -> Attribute {
    let mut a = renewal_attr();
    a.default = None;
    a.computed = false;
    a.optional = true;
    a
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn renews_before_expiry() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            renew_at(t, Duration::from_secs(1000)),
            SystemTime::UNIX_EPOCH + Duration::from_secs(999_000)
        );
        assert_eq!(
            renew_at(t, Duration::from_secs(2_000_000)),
            SystemTime::UNIX_EPOCH
        );
    }

    #[test]
    fn schema_is_well_formed() {
        let s = ClusterKubeconfigEphemeral.schema();
        assert!(
            s.definition_errors().is_empty(),
            "{:?}",
            s.definition_errors()
        );
    }
}

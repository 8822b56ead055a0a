//! `homelab_talos_cluster_kubeconfig`: the cluster's admin kubeconfig,
//! fetched from a control plane node (`MachineService/Kubeconfig`), renewed
//! at plan when its client certificate is about to expire.
//!
//! The node answers one `common.Data` with a gzip'd tar holding the file
//! `kubeconfig` (`siderolabs/talos`
//! `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`
//! `Kubeconfig`); control plane nodes only.

use std::time::{Duration, SystemTime};

use labforge_framework::schema::{Attribute, Nesting, Schema, modifiers};
use labforge_framework::{AttributePath, Ctx, Error, PlanChange, Resource, Result, Value};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tonic::Code;

use super::bootstrap::not_configured;
use super::node::{ClientConfig, node_attrs, node_error, plan_endpoint, probe, target};
use super::timeouts::{Operation, Timeouts, duration_validator, parse_duration, timeouts_attr};
use crate::client::{Client, NodeState, retry};
use crate::secrets;

/// The default renewal window: 30 days, as siderolabs' provider.
pub const DEFAULT_RENEWAL: &str = "720h";

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterKubeconfig;

/// `kubernetes_client_configuration`: the kubeconfig's parts, as the
/// kubeconfig holds them (certificates and key base64 of PEM). No `Debug`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct KubernetesClientConfiguration {
    /// The API server URL.
    pub host: String,
    /// The cluster CA certificate (base64 of PEM).
    pub ca_certificate: String,
    /// The admin client certificate (base64 of PEM).
    pub client_certificate: String,
    /// The admin client key (base64 of PEM).
    pub client_key: String,
}

/// One kubeconfig. No `Debug`: it holds secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct KubeconfigModel {
    /// The node.
    pub id: Option<String>,
    /// The control plane node to ask.
    pub node: String,
    /// Where to connect (default: `node`).
    pub endpoint: Option<String>,
    /// The admin client configuration of the Talos API.
    pub client_configuration: ClientConfig,
    /// Renew when the client certificate expires within this (default `720h`).
    pub certificate_renewal_duration: Option<String>,
    /// Operation timeouts.
    pub timeouts: Option<Timeouts>,
    /// The kubeconfig (YAML).
    pub kubeconfig_raw: Option<String>,
    /// Its parts.
    pub kubernetes_client_configuration: Option<KubernetesClientConfiguration>,
}

/// The parts of a kubeconfig (the current context's cluster and user, else
/// the first ones).
pub(crate) fn parse_kubeconfig(
    raw: &str,
) -> std::result::Result<KubernetesClientConfiguration, String> {
    let doc: Json =
        serde_norway::from_str(raw).map_err(|e| format!("the kubeconfig is not YAML: {e}"))?;
    let current = doc.get("current-context").and_then(Json::as_str);
    let named = |list: &str, name: Option<&str>| -> Option<Json> {
        let items = doc.get(list)?.as_array()?;
        let pick = match name {
            Some(n) => items
                .iter()
                .find(|i| i.get("name").and_then(Json::as_str) == Some(n)),
            None => None,
        };
        pick.or_else(|| items.first()).cloned()
    };
    let ctx = named("contexts", current).and_then(|c| c.get("context").cloned());
    let cluster_name = ctx
        .as_ref()
        .and_then(|c| c.get("cluster"))
        .and_then(Json::as_str);
    let user_name = ctx
        .as_ref()
        .and_then(|c| c.get("user"))
        .and_then(Json::as_str);
    let cluster = named("clusters", cluster_name)
        .and_then(|c| c.get("cluster").cloned())
        .ok_or("the kubeconfig has no cluster")?;
    let user = named("users", user_name)
        .and_then(|u| u.get("user").cloned())
        .ok_or("the kubeconfig has no user")?;
    let field = |o: &Json, k: &str| -> std::result::Result<String, String> {
        o.get(k)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("the kubeconfig has no {k}"))
    };
    Ok(KubernetesClientConfiguration {
        host: field(&cluster, "server")?,
        ca_certificate: field(&cluster, "certificate-authority-data")?,
        client_certificate: field(&user, "client-certificate-data")?,
        client_key: field(&user, "client-key-data")?,
    })
}

/// When the client certificate (base64 of PEM) expires.
pub(crate) fn cert_expiry(client_certificate_b64: &str) -> Option<SystemTime> {
    let pem = secrets::decode_b64_pem(client_certificate_b64).ok()?;
    secrets::not_after(&pem).ok()
}

/// The renewal window configured (default 720h).
pub(crate) fn renewal(v: Option<&str>) -> Duration {
    parse_duration(v.unwrap_or(DEFAULT_RENEWAL)).unwrap_or_else(|_| Duration::from_secs(720 * 3600))
}

/// Whether a certificate expiring at `not_after` is due for renewal.
pub(crate) fn due(not_after: SystemTime, window: Duration, now: SystemTime) -> bool {
    match not_after.duration_since(now) {
        Ok(left) => left <= window,
        Err(_) => true,
    }
}

const SUMMARY: &str = "Unable to fetch the kubeconfig";

/// Fetch the admin kubeconfig from `node` and take it apart.
pub(crate) async fn fetch(
    ctx: &Ctx<Client>,
    node: &str,
    endpoint: Option<&str>,
    cc: &ClientConfig,
    timeout: Duration,
) -> Result<(String, KubernetesClientConfiguration)> {
    let client = ctx.client();
    let creds = cc.credentials()?;
    if let NodeState::Maintenance = probe(client, SUMMARY, node, endpoint, &creds).await? {
        return Err(not_configured(SUMMARY, node));
    }
    let t = target(node, endpoint);
    let raw = ctx
        .until_stopped(async {
            Ok(retry(&format!("kubeconfig of {node}"), timeout, || {
                client.kubeconfig(&t, &creds)
            })
            .await)
        })
        .await?
        .map_err(|e| {
            let err = node_error(SUMMARY, node, &e);
            match e.code() {
                Some(Code::Unimplemented) => err.at(AttributePath::attr("node")),
                Some(Code::PermissionDenied | Code::Unauthenticated) => {
                    err.at(AttributePath::attr("client_configuration"))
                }
                _ => err,
            }
        })?;
    let parts = parse_kubeconfig(&raw).map_err(|e| Error::new(SUMMARY, format!("{node}: {e}")))?;
    Ok((raw, parts))
}

/// The `kubernetes_client_configuration` attribute (computed).
pub(crate) fn client_configuration_out() -> Attribute {
    Attribute::nested(
        Nesting::Single,
        [
            (
                "host",
                Attribute::string()
                    .computed()
                    .describe("The API server URL."),
            ),
            (
                "ca_certificate",
                Attribute::string()
                    .computed()
                    .describe("The cluster CA certificate (base64 of PEM)."),
            ),
            (
                "client_certificate",
                Attribute::string()
                    .computed()
                    .describe("The admin client certificate (base64 of PEM)."),
            ),
            (
                "client_key",
                Attribute::string()
                    .computed()
                    .sensitive()
                    .describe("The admin client key (base64 of PEM)."),
            ),
        ],
    )
    .computed()
    .sensitive()
    .describe("The kubeconfig's parts, for the kubernetes and helm providers.")
}

/// The `certificate_renewal_duration` attribute.
pub(crate) fn renewal_attr() -> Attribute {
    Attribute::string()
        .default(DEFAULT_RENEWAL)
        .describe(
            "Fetch a new kubeconfig at plan when its client certificate expires within this \
             duration (e.g. `720h`).",
        )
        .validator(duration_validator())
}

impl ClusterKubeconfig {
    async fn write(
        &self,
        ctx: &Ctx<Client>,
        mut plan: KubeconfigModel,
        timeout: Duration,
    ) -> Result<KubeconfigModel> {
        let (raw, parts) = fetch(
            ctx,
            &plan.node,
            plan.endpoint.as_deref(),
            &plan.client_configuration,
            timeout,
        )
        .await?;
        plan.kubeconfig_raw = Some(raw);
        plan.kubernetes_client_configuration = Some(parts);
        plan.id = Some(plan.node.clone());
        if plan.endpoint.is_none() {
            plan.endpoint = Some(plan.node.clone());
        }
        if plan.certificate_renewal_duration.is_none() {
            plan.certificate_renewal_duration = Some(DEFAULT_RENEWAL.into());
        }
        Ok(plan)
    }
}

impl Resource for ClusterKubeconfig {
    type Client = Client;
    type Model = KubeconfigModel;
    const NAME: &'static str = "talos_cluster_kubeconfig";

    fn schema(&self) -> Schema {
        let s = Schema::new(
            "The cluster's admin kubeconfig, fetched from a control plane node. A new one is \
             fetched at plan when the client certificate expires within \
             `certificate_renewal_duration`, and when `node`, `endpoint` or \
             `client_configuration` change. Refresh drops it when the node was wiped back to \
             maintenance mode. Destroy only removes it from state.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The node.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        );
        node_attrs(s, false)
            .attribute("certificate_renewal_duration", renewal_attr())
            .attribute("timeouts", timeouts_attr(&["create", "update"]))
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

    async fn modify_plan(&self, _ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan_endpoint(plan);
        if let Some(n) = plan.planned_attr("node").as_str() {
            let n = n.to_string();
            plan.set("id", Value::string(n));
        }
        if plan.creating() {
            return Ok(());
        }
        let cert = plan
            .prior_attr("kubernetes_client_configuration")
            .get("client_certificate")
            .and_then(Value::as_str)
            .map(str::to_string);
        let window = renewal(plan.planned_attr("certificate_renewal_duration").as_str());
        let expiry = cert.as_deref().and_then(cert_expiry);
        let renew = match expiry {
            Some(t) => due(t, window, SystemTime::now()),
            None => true,
        };
        if renew {
            tracing::info!(
                "the kubeconfig's client certificate is due for renewal; a new one is fetched"
            );
            plan.set("kubeconfig_raw", Value::unknown());
            plan.set("kubernetes_client_configuration", Value::unknown());
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: KubeconfigModel) -> Result<KubeconfigModel> {
        let timeout = Timeouts::of(&plan.timeouts, Operation::Create);
        self.write(ctx, plan, timeout).await
    }

    async fn read(
        &self,
        ctx: &Ctx<Client>,
        state: KubeconfigModel,
    ) -> Result<Option<KubeconfigModel>> {
        let creds = state.client_configuration.credentials()?;
        match probe(
            ctx.client(),
            "Unable to read the kubeconfig",
            &state.node,
            state.endpoint.as_deref(),
            &creds,
        )
        .await?
        {
            NodeState::Maintenance => Ok(None),
            NodeState::Configured { .. } => Ok(Some(state)),
        }
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: KubeconfigModel,
        plan: KubeconfigModel,
    ) -> Result<KubeconfigModel> {
        let refetch = plan.kubeconfig_raw.is_none()
            || plan.node != prior.node
            || plan.endpoint != prior.endpoint;
        if !refetch {
            // Only the renewal window or the timeouts changed.
            let mut plan = plan;
            plan.id = Some(plan.node.clone());
            return Ok(plan);
        }
        let timeout = Timeouts::of(&plan.timeouts, Operation::Update);
        self.write(ctx, plan, timeout).await
    }

    async fn delete(&self, _ctx: &Ctx<Client>, _state: KubeconfigModel) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
  - name: other
    cluster:
      server: https://elsewhere:6443
      certificate-authority-data: Tk8=
  - name: lab
    cluster:
      server: https://10.0.0.10:6443
      certificate-authority-data: Q0E=
users:
  - name: admin@lab
    user:
      client-certificate-data: Q0VSVA==
      client-key-data: S0VZ
contexts:
  - context:
      cluster: lab
      namespace: default
      user: admin@lab
    name: admin@lab
current-context: admin@lab
";

    #[test]
    fn kubeconfig_parts() {
        let p = parse_kubeconfig(KUBECONFIG).unwrap();
        assert_eq!(p.host, "https://10.0.0.10:6443");
        assert_eq!(p.ca_certificate, "Q0E=");
        assert_eq!(p.client_certificate, "Q0VSVA==");
        assert_eq!(p.client_key, "S0VZ");
        assert!(parse_kubeconfig("clusters: []").is_err());
        assert!(parse_kubeconfig(": : :").is_err());
    }

    #[test]
    fn renewal_window() {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let window = renewal(None);
        assert_eq!(window, Duration::from_secs(720 * 3600));
        assert!(due(now + 10 * day, window, now));
        assert!(!due(now + 40 * day, window, now));
        assert!(due(now - day, window, now));
        assert_eq!(renewal(Some("1h")), Duration::from_secs(3600));
    }
}

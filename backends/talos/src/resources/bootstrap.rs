//! `homelab_talos_machine_bootstrap`: bootstrap etcd on one control plane
//! node, once per cluster.
//!
//! Server behaviour (`siderolabs/talos`
//! `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`
//! `Bootstrap`, `internal/app/internal/machinehelper/machinehelper.go`,
//! v1.13.9): `FailedPrecondition` `bootstrap is not available yet` →
//! `Unimplemented` `machine type is not set, cannot use bootstrap API` /
//! `bootstrap is only available on control plane nodes` →
//! `FailedPrecondition` `time is not in sync yet` → `AlreadyExists` `etcd
//! data directory is not empty`. A node in maintenance mode answers
//! `PermissionDenied` (Talos >= 1.13: every maintenance caller is
//! `os:reader`) or `Unimplemented` (older).

use labforge_framework::schema::{Attribute, Schema, modifiers};
use labforge_framework::{AttributePath, Ctx, Error, PlanChange, Resource, Result};
use serde::{Deserialize, Serialize};
use tonic::Code;

use super::node::{
    ClientConfig, import_node, node_attrs, node_error, plan_endpoint, probe, target,
};
use super::timeouts::{Operation, Timeouts, timeouts_attr};
use crate::client::{Client, ErrorKind, NodeState, TalosError, retry};

const SUMMARY: &str = "Unable to bootstrap the cluster";

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineBootstrap;

/// One bootstrap. No `Debug`: it holds a private key.
#[derive(Clone, Serialize, Deserialize)]
pub struct BootstrapModel {
    /// The node (also the ID and the import ID).
    pub id: Option<String>,
    /// The control plane node to bootstrap.
    pub node: String,
    /// Where to connect (default: `node`).
    pub endpoint: Option<String>,
    /// The admin client configuration (null only right after an import).
    pub client_configuration: Option<ClientConfig>,
    /// Operation timeouts.
    pub timeouts: Option<Timeouts>,
}

/// "The machine configuration has not been applied to <node>".
pub(crate) fn not_configured(summary: &str, node: &str) -> Error {
    Error::new(
        summary,
        format!(
            "the machine configuration has not been applied to {node}: the node is in \
             maintenance mode. Apply it first (homelab_talos_machine_configuration_apply for \
             this node, referenced through depends_on)."
        ),
    )
    .at(AttributePath::attr("node"))
}

fn needs_client_configuration(node: &str) -> Error {
    Error::new(
        SUMMARY,
        format!("{node}: client_configuration is needed to talk to the node"),
    )
    .at(AttributePath::attr("client_configuration"))
}

impl MachineBootstrap {
    async fn bootstrap(&self, ctx: &Ctx<Client>, m: &BootstrapModel) -> Result<()> {
        let client = ctx.client();
        let node = m.node.as_str();
        let endpoint = m.endpoint.as_deref();
        let creds = m
            .client_configuration
            .as_ref()
            .ok_or_else(|| needs_client_configuration(node))?
            .credentials()?;
        let timeout = Timeouts::of(&m.timeouts, Operation::Create);
        // Fail fast when nothing answers, and tell maintenance mode apart.
        if let NodeState::Maintenance = probe(client, SUMMARY, node, endpoint, &creds).await? {
            return Err(not_configured(SUMMARY, node));
        }
        let t = target(node, endpoint);
        // Retried: "bootstrap is not available yet", "time is not in sync
        // yet", the node not answering (rebooting); a lost answer is safe to
        // resend (the second one says AlreadyExists).
        let r = ctx
            .until_stopped(async {
                Ok(retry(&format!("bootstrap of {node}"), timeout, || {
                    client.bootstrap(&t, &creds)
                })
                .await)
            })
            .await?;
        match r {
            Ok(()) => {
                tracing::info!(node, "etcd bootstrapped");
                Ok(())
            }
            Err(e) if e.is_already_exists() => {
                // Done before (an interrupted run, someone else): success
                // only if etcd runs healthy there; wait while it starts.
                self.etcd_healthy(ctx, &t, &creds, timeout).await?;
                ctx.warn(
                    "Cluster already bootstrapped",
                    format!(
                        "{node} answered that etcd is already bootstrapped ({e}) and etcd is \
                         healthy there; an earlier run (perhaps interrupted) or someone else \
                         did it. Recorded as done."
                    ),
                );
                Ok(())
            }
            Err(e) => Err(self.refused(ctx, m, &creds, e).await),
        }
    }

    /// Waits until `etcd` is `Running` and healthy on the node
    /// (`ServiceList`), as after a bootstrap; a clear error otherwise.
    async fn etcd_healthy(
        &self,
        ctx: &Ctx<Client>,
        t: &crate::client::Target,
        creds: &crate::client::Credentials,
        timeout: std::time::Duration,
    ) -> Result<()> {
        let node = t.node.as_deref().unwrap_or(&t.endpoint).to_string();
        let client = ctx.client();
        let r = ctx
            .until_stopped(async {
                Ok(retry(&format!("etcd health on {node}"), timeout, || async {
                    let services = client.services(t, creds).await?;
                    let etcd = services.iter().find(|s| s.id == "etcd");
                    match etcd {
                        Some(s) if s.state == "Running" && s.healthy => Ok(()),
                        // Running and checked, not healthy: final.
                        Some(s) if s.state == "Running" && !s.health_unknown => {
                            Err(TalosError::new(
                                ErrorKind::Response,
                                format!("etcd runs but is not healthy: {}", s.last_message),
                            ))
                        }
                        // Starting: wait.
                        Some(s) => Err(TalosError::waiting(format!(
                            "etcd is {}, its health not checked yet",
                            s.state
                        ))),
                        None => Err(TalosError::new(
                            ErrorKind::Response,
                            "the node runs no etcd service",
                        )),
                    }
                })
                .await)
            })
            .await?;
        r.map_err(|e| {
            Error::new(
                SUMMARY,
                format!(
                    "{node} says etcd is already bootstrapped (AlreadyExists), but etcd is not \
                     healthy there: {e}. Check the node (`talosctl -n {node} service etcd`); \
                     it may need an etcd recovery."
                ),
            )
            .at(AttributePath::attr("node"))
        })
    }

    async fn refused(
        &self,
        ctx: &Ctx<Client>,
        m: &BootstrapModel,
        creds: &crate::client::Credentials,
        e: TalosError,
    ) -> Error {
        let node = m.node.as_str();
        if matches!(e.code(), Some(Code::PermissionDenied | Code::Unimplemented)) {
            // Maintenance mode answers these to an admin's Bootstrap.
            if let Ok(NodeState::Maintenance) = ctx
                .client()
                .node_state(&target(node, m.endpoint.as_deref()), Some(creds))
                .await
            {
                return not_configured(SUMMARY, node);
            }
        }
        let err = node_error(SUMMARY, node, &e);
        match e.code() {
            Some(Code::Unimplemented) => err.at(AttributePath::attr("node")),
            Some(Code::PermissionDenied | Code::Unauthenticated) => {
                err.at(AttributePath::attr("client_configuration"))
            }
            _ => err,
        }
    }
}

impl Resource for MachineBootstrap {
    type Client = Client;
    type Model = BootstrapModel;
    const NAME: &'static str = "talos_machine_bootstrap";

    fn schema(&self) -> Schema {
        let s = Schema::new(
            "Bootstraps etcd on one control plane node, once per cluster. Idempotent: a node \
             that was already bootstrapped (by an interrupted run, say) counts as done, with a \
             warning. While the node is not ready (`bootstrap is not available yet`, `time is \
             not in sync yet`, rebooting) it waits, up to `timeouts.create`; a node still in \
             maintenance mode fails at once. Refresh plans it again when the node was wiped \
             back to maintenance mode. Destroy only removes it from state.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The node.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        );
        let mut s = node_attrs(s, true);
        // Null only after an import: the configuration sets it again.
        if let Some(a) = s.attributes.get_mut("client_configuration") {
            a.required = false;
            a.optional = true;
            a.import_hint = Some(crate::resources::node::CLIENT_CONFIGURATION_AFTER_IMPORT.into());
        }
        s.attribute("timeouts", timeouts_attr(&["create"]))
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("the node's address, e.g. `10.0.0.11`")
    }

    async fn modify_plan(&self, _ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan_endpoint(plan);
        if plan.creating()
            && let Some(n) = plan.planned_attr("node").as_str()
        {
            let n = n.to_string();
            plan.set("id", labforge_framework::Value::string(n));
        }
        if plan.config_attr("client_configuration").is_null() {
            return Err(Error::new(
                "Missing client configuration",
                "client_configuration is required to bootstrap the node",
            )
            .at(AttributePath::attr("client_configuration")));
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, mut plan: BootstrapModel) -> Result<BootstrapModel> {
        self.bootstrap(ctx, &plan).await?;
        plan.id = Some(plan.node.clone());
        if plan.endpoint.is_none() {
            plan.endpoint = Some(plan.node.clone());
        }
        Ok(plan)
    }

    async fn read(
        &self,
        ctx: &Ctx<Client>,
        state: BootstrapModel,
    ) -> Result<Option<BootstrapModel>> {
        const READ: &str = "Unable to read the bootstrap";
        let Some(cc) = &state.client_configuration else {
            return Ok(Some(state));
        };
        let creds = cc.credentials()?;
        match probe(
            ctx.client(),
            READ,
            &state.node,
            state.endpoint.as_deref(),
            &creds,
        )
        .await?
        {
            NodeState::Maintenance => {
                tracing::info!(node = %state.node, "the node is in maintenance mode (wiped): bootstrap planned again");
                Ok(None)
            }
            NodeState::Configured { .. } => {
                // A control plane wiped and configured again behind
                // Terraform's back runs etcd in `Preparing` (waiting for a
                // bootstrap): its etcd is gone, bootstrap again. (Talos's
                // etcd service waits in its pre-state for the bootstrap;
                // `internal/app/machined/pkg/system/services/etcd.go`.)
                let t = target(&state.node, state.endpoint.as_deref());
                let services = ctx
                    .client()
                    .services(&t, &creds)
                    .await
                    .map_err(|e| node_error(READ, &state.node, &e))?;
                if waits_for_bootstrap(&services) {
                    tracing::info!(node = %state.node, "etcd waits for a bootstrap (the node was wiped and configured again): bootstrap planned again");
                    return Ok(None);
                }
                Ok(Some(state))
            }
        }
    }

    async fn update(
        &self,
        _ctx: &Ctx<Client>,
        _prior: BootstrapModel,
        mut plan: BootstrapModel,
    ) -> Result<BootstrapModel> {
        // Only client_configuration, endpoint or timeouts changed: nothing to
        // do on the node (a cluster is bootstrapped once).
        plan.id = Some(plan.node.clone());
        if plan.endpoint.is_none() {
            plan.endpoint = Some(plan.node.clone());
        }
        Ok(plan)
    }

    async fn delete(&self, _ctx: &Ctx<Client>, _state: BootstrapModel) -> Result<()> {
        Ok(())
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<BootstrapModel> {
        let node = import_node(ctx.client(), id, |node| {
            not_configured("Unable to import the bootstrap", node)
        })
        .await?;
        // With a talosconfig (TALOSCONFIG), its client certificate: a
        // configuration setting the same one imports with no change.
        let client_configuration = super::node::talosconfig_client(ctx.client())?;
        Ok(BootstrapModel {
            id: Some(node.to_string()),
            node: node.to_string(),
            endpoint: Some(node.to_string()),
            client_configuration,
            timeouts: None,
        })
    }
}

/// Whether the node's etcd waits for a bootstrap: present (a control
/// plane), in `Preparing` and never checked. A worker (no etcd) or an etcd
/// that ran is not.
fn waits_for_bootstrap(services: &[crate::client::ServiceStatus]) -> bool {
    services
        .iter()
        .any(|s| s.id == "etcd" && s.state == "Preparing" && s.health_unknown)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn etcd_in_preparing_waits_for_a_bootstrap() {
        use crate::client::ServiceStatus;
        let svc = |id: &str, state: &str, unknown: bool| ServiceStatus {
            id: id.into(),
            state: state.into(),
            healthy: !unknown,
            health_unknown: unknown,
            last_message: String::new(),
        };
        assert!(super::waits_for_bootstrap(&[
            svc("apid", "Running", false),
            svc("etcd", "Preparing", true),
        ]));
        assert!(!super::waits_for_bootstrap(&[svc("etcd", "Running", true)]));
        assert!(!super::waits_for_bootstrap(&[svc(
            "etcd", "Running", false
        )]));
        // A worker: no etcd.
        assert!(!super::waits_for_bootstrap(&[svc(
            "kubelet", "Running", false
        )]));
    }

    use super::*;

    #[test]
    fn maintenance_error_names_the_node() {
        let e = not_configured(SUMMARY, "10.0.0.11");
        let d = &e.diagnostics().0[0];
        assert!(
            d.detail
                .starts_with("the machine configuration has not been applied to 10.0.0.11"),
            "{}",
            d.detail
        );
        assert_eq!(d.attribute, Some(AttributePath::attr("node")));
    }

    #[test]
    fn schema_is_well_formed() {
        let s = MachineBootstrap.schema();
        assert!(
            s.definition_errors().is_empty(),
            "{:?}",
            s.definition_errors()
        );
        assert!(s.attributes["client_configuration"].optional);
        assert!(s.attributes["client_configuration"].sensitive);
    }
}

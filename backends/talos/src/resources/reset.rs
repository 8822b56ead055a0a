//! `on_destroy` of `homelab_talos_machine_configuration_apply`: what
//! destroying the resource does to the node.
//!
//! Talos has no "unapply". By default destroy only forgets the node, which
//! keeps running the configuration (and so refuses another cluster's
//! secrets). With `on_destroy = { reset = true }` destroy resets the node
//! (`MachineService/Reset`), the shape siderolabs/terraform-provider-talos
//! has (`talos_machine_configuration_apply_resource.go` `Delete`): it wipes
//! `STATE` (the configuration) and `EPHEMERAL` (`/var`: etcd data, pods),
//! keeps the installed Talos, then reboots or powers off. Unlike that
//! provider, which watches the node's events, destroy here waits for what
//! can be seen from outside: with `reboot = true` until the node answers in
//! maintenance mode (ready for a new apply), with `reboot = false` until it
//! stops answering (Talos powers the machine off), both within
//! `timeouts.delete`.

use std::time::{Duration, Instant};

use labforge_framework::schema::{Attribute, Nesting};
use labforge_framework::{AttributePath, Ctx, Error, Result};
use serde::{Deserialize, Serialize};

use crate::client::{
    Client, Credentials, ErrorKind, NodeState, ResetRequest, TalosError, Target, retry,
};

const SUMMARY: &str = "Unable to reset the node";

/// `on_destroy`: what destroy does to the node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OnDestroy {
    /// Reset the node (default false: destroy only forgets it).
    pub reset: Option<bool>,
    /// Leave etcd first (control planes; default true).
    pub graceful: Option<bool>,
    /// Reboot after the wipe (default false: power off).
    pub reboot: Option<bool>,
}

impl OnDestroy {
    /// Whether destroy resets the node.
    pub(crate) fn resets(on: Option<&OnDestroy>) -> bool {
        on.and_then(|o| o.reset).unwrap_or(false)
    }

    /// The request a destroy sends.
    pub(crate) fn request(&self) -> ResetRequest {
        ResetRequest::state_and_ephemeral(
            self.graceful.unwrap_or(true),
            self.reboot.unwrap_or(false),
        )
    }
}

/// The `on_destroy` attribute (siderolabs' shape and defaults).
pub(crate) fn on_destroy_attr() -> Attribute {
    Attribute::nested(
        Nesting::Single,
        [
            (
                "reset",
                Attribute::bool().default(false).describe(
                    "Reset the node on destroy: wipe its `STATE` (the machine configuration) \
                     and `EPHEMERAL` (`/var`: etcd data, pods) partitions. The installed Talos \
                     stays. With `false` destroy only forgets the node.",
                ),
            ),
            (
                "graceful",
                Attribute::bool().default(true).describe(
                    "Leave etcd first (control planes), after Talos's etcd health checks. Talos \
                     refuses to remove the last etcd member, so reset a single control plane, \
                     or the last one of a cluster destroyed as a whole, with `false`.",
                ),
            ),
            (
                "reboot",
                Attribute::bool().default(false).describe(
                    "Reboot after the wipe: destroy waits until the node answers in \
                     maintenance mode, ready for a new configuration. `false`: \
                     the node powers off and destroy waits until it stops answering.",
                ),
            ),
        ],
    )
    .optional()
    .describe(
        "What destroy does to the node. Without `reset = true` destroy only removes the \
         resource from state and the node keeps its configuration. Takes effect from the \
         state: change it with an apply before the destroy that should use it.",
    )
}

/// Where destroy finds the node (the apply resource's `node`, `endpoint`
/// and credentials; taken as values so this module needs nothing of it).
pub(crate) struct Node<'a> {
    /// The node's address.
    pub(crate) node: &'a str,
    /// Where to connect (the endpoint, proxying to the node when it differs).
    pub(crate) target: Target,
    /// The attribute naming where the provider connects.
    pub(crate) endpoint_attr: AttributePath,
}

/// The destroy of an applied configuration: forget the node, or reset it
/// and wait (within `timeout`) until it is back in maintenance mode or
/// powered off. `credentials` is called only for a reset.
pub(crate) async fn on_destroy(
    ctx: &Ctx<Client>,
    at: Node<'_>,
    credentials: impl FnOnce() -> Result<Credentials>,
    on: Option<&OnDestroy>,
    timeout: Duration,
) -> Result<()> {
    let node = at.node;
    let Some(on) = on.filter(|o| OnDestroy::resets(Some(o))) else {
        // Talos has no "unapply": the node keeps running the configuration.
        tracing::info!(
            node,
            "removed from state; the node keeps its machine configuration (on_destroy.reset is false)"
        );
        return Ok(());
    };
    let creds = credentials()?;
    let client = ctx.client();
    let t = &at.target;
    let req = on.request();
    let started = Instant::now();
    ctx.until_stopped(async {
        match client.node_state(t, Some(&creds)).await {
            Ok(NodeState::Maintenance) => {
                tracing::info!(
                    node,
                    "the node is already in maintenance mode: nothing to reset"
                );
                return Ok(());
            }
            Ok(NodeState::Configured { .. }) => {}
            Err(e) => return Err(unreachable_hint(&at, &e)),
        }
        tracing::info!(
            node,
            graceful = req.graceful,
            reboot = req.reboot,
            "resetting the node (wiping STATE and EPHEMERAL)"
        );
        // A reset whose answer was lost is sent again; if the first one
        // landed, the node is back in maintenance mode by then and its
        // self-signed certificate fails our mTLS: that is the reset done.
        let answer = retry("reset", timeout, || async {
            match client.reset(t, &creds, &req).await {
                Err(e) if e.kind() == ErrorKind::Tls => {
                    match client.node_state(&Target::endpoint(node), None).await {
                        Ok(NodeState::Maintenance) => Ok(None),
                        _ => Err(e),
                    }
                }
                r => r.map(Some),
            }
        })
        .await
        .map_err(|e| refused(&at, &e))?;
        let Some(answer) = answer else {
            tracing::info!(
                node,
                "the node is back in maintenance mode: an earlier reset landed"
            );
            return Ok(());
        };
        tracing::info!(node, actor_id = %answer.actor_id, "the node accepted the reset");
        // A wiped node no longer proxies (maintenance mode): watch it directly.
        let direct = Target::endpoint(node);
        let left = timeout.saturating_sub(started.elapsed());
        let waited = if req.reboot {
            client.wait_for_maintenance(&direct, left).await
        } else {
            client.wait_until_down(&direct, left).await
        };
        waited.map_err(|e| {
            let graceful = if req.graceful {
                " A graceful reset fails, and the node keeps running, when it is the last \
                 etcd member (a single control plane, or the last one of a cluster destroyed \
                 at once): apply on_destroy.graceful = false, then destroy again."
            } else {
                ""
            };
            Error::new(
                SUMMARY,
                format!(
                    "{node}: the reset was accepted, but {e}. Raise `timeouts.delete` if the \
                     node is slow, or check it on its console.{graceful}"
                ),
            )
        })?;
        tracing::info!(
            node,
            elapsed_s = started.elapsed().as_secs(),
            "{}",
            if req.reboot {
                "the node is back in maintenance mode"
            } else {
                "the node powered off"
            }
        );
        Ok(())
    })
    .await
}

/// A node that cannot be asked: destroy cannot reset it.
fn unreachable_hint(at: &Node<'_>, e: &TalosError) -> Error {
    let node = at.node;
    let hint = "To destroy without resetting the node, apply with on_destroy.reset = false \
                first (or `terraform state rm` the resource).";
    match e.kind() {
        ErrorKind::Tls | ErrorKind::CertificateRejected => Error::new(
            SUMMARY,
            format!(
                "{node}: {e}. Is client_configuration the admin certificate of the cluster the \
                 node runs? {hint}"
            ),
        )
        .at(AttributePath::attr("client_configuration")),
        ErrorKind::Status if !e.is_retryable() => Error::new(SUMMARY, format!("{node}: {e}")),
        _ => Error::new(
            SUMMARY,
            format!(
                "The Talos API at {} did not answer: {e}. {hint}",
                at.target.endpoint
            ),
        )
        .at(at.endpoint_attr.clone()),
    }
}

/// The node refused the reset.
fn refused(at: &Node<'_>, e: &TalosError) -> Error {
    let node = at.node;
    match (e.kind(), e.code()) {
        (ErrorKind::Status, Some(tonic::Code::PermissionDenied)) => Error::new(
            SUMMARY,
            format!(
                "{node}: {e}. Reset needs the os:admin client certificate of this cluster \
                 (homelab_talos_machine_secrets' client_configuration)."
            ),
        )
        .at(AttributePath::attr("client_configuration")),
        (ErrorKind::Status, _) => Error::new(SUMMARY, format!("{node}: {e}")),
        _ => unreachable_hint(at, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_siderolabs() {
        assert!(!OnDestroy::resets(None));
        assert!(!OnDestroy::resets(Some(&OnDestroy::default())));
        let on = OnDestroy {
            reset: Some(true),
            ..OnDestroy::default()
        };
        assert!(OnDestroy::resets(Some(&on)));
        let r = on.request();
        assert!(r.graceful, "graceful defaults to true");
        assert!(!r.reboot, "reboot defaults to false");
        let labels: Vec<&str> = r
            .system_partitions_to_wipe
            .iter()
            .map(|p| p.label.as_str())
            .collect();
        assert_eq!(labels, ["STATE", "EPHEMERAL"]);
        let r = OnDestroy {
            reset: Some(true),
            graceful: Some(false),
            reboot: Some(true),
        }
        .request();
        assert!(!r.graceful && r.reboot);
    }

    fn at<'a>(node: &'a str, endpoint: &str) -> Node<'a> {
        Node {
            node,
            target: Target {
                endpoint: endpoint.to_string(),
                node: (endpoint != node).then(|| node.to_string()),
            },
            endpoint_attr: AttributePath::attr(if endpoint == node { "node" } else { "endpoint" }),
        }
    }

    fn only(e: Error) -> labforge_framework::Diagnostic {
        let mut all: Vec<_> = e.into_diagnostics().iter().cloned().collect();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn refusals_and_silence_point_at_what_to_fix() {
        let d = only(refused(
            &at("10.0.0.5", "10.0.0.5"),
            &TalosError::from_status(&tonic::Status::permission_denied("not authorized")),
        ));
        assert_eq!(d.summary, SUMMARY);
        assert!(d.detail.contains("os:admin"), "{}", d.detail);
        assert_eq!(
            d.attribute,
            Some(AttributePath::attr("client_configuration"))
        );
        let d = only(refused(
            &at("10.0.0.5", "10.0.0.5"),
            &TalosError::from_status(&tonic::Status::unknown("reset failed")),
        ));
        assert!(d.detail.starts_with("10.0.0.5: "), "{}", d.detail);
        for silent in [
            TalosError::from_status(&tonic::Status::unavailable("no route to host")),
            TalosError::new(ErrorKind::Unreachable, "connection refused"),
        ] {
            let d = only(unreachable_hint(&at("10.0.0.5", "10.0.0.9"), &silent));
            assert!(
                d.detail
                    .starts_with("The Talos API at 10.0.0.9 did not answer"),
                "{}",
                d.detail
            );
            assert!(
                d.detail.contains("on_destroy.reset = false"),
                "{}",
                d.detail
            );
            assert_eq!(d.attribute, Some(AttributePath::attr("endpoint")));
        }
    }
}

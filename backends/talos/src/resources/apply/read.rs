//! Refresh of the apply resource: drift detection. The node's running
//! configuration (COSI `MachineConfigs` `v1alpha1`) is compared, normalized,
//! with the one applied; a staged one (`persistent`) waiting for a reboot is
//! reported, and a node wiped back to maintenance mode is gone from state.

use labforge_framework::{Ctx, Result};

use super::{ApplyModel, config_hash, desired};
use crate::client::{Client, NodeState};
use crate::config;
use crate::resources::node::{node_error, probe, target};

/// Read the node back into `state`: `None` when the node is in maintenance
/// mode (wiped: the configuration is applied again), else `state` with
/// `machine_configuration_hash` of what the node runs when it drifted.
pub(super) async fn refresh(
    ctx: &Ctx<Client>,
    mut state: ApplyModel,
) -> Result<Option<ApplyModel>> {
    const SUMMARY: &str = "Unable to read the machine configuration";
    let client = ctx.client();
    let node = state.node.clone();
    let endpoint = state.endpoint.clone();
    // Right after an import: nothing to read with until the configuration
    // sets the credentials (the next plan does).
    let Some(cc) = &state.client_configuration else {
        return Ok(Some(state));
    };
    let creds = cc.credentials()?;
    let t = target(&node, endpoint.as_deref());
    match probe(client, SUMMARY, &node, endpoint.as_deref(), &creds).await? {
        NodeState::Maintenance => {
            tracing::info!(node = %node, "the node is in maintenance mode (wiped): the configuration is applied again");
            return Ok(None);
        }
        NodeState::Configured { .. } => {}
    }
    let applied = match &state.machine_configuration {
        Some(c) => c.clone(),
        None => desired(
            super::input_of(&state)?,
            &state.config_patches.clone().unwrap_or_default(),
        )?,
    };
    let applied_norm = config::normalize(&applied).ok();
    let run = client
        .machine_config(&t, &creds, "v1alpha1")
        .await
        .map_err(|e| node_error(SUMMARY, &node, &e))?;
    let persistent = client
        .machine_config(&t, &creds, "persistent")
        .await
        .map_err(|e| node_error(SUMMARY, &node, &e))?;
    let norm = |c: &Option<String>| c.as_deref().and_then(|c| config::normalize(c).ok());
    let (run_n, pers_n) = (norm(&run), norm(&persistent));
    if pers_n.is_some() && pers_n != run_n {
        let what = if pers_n == applied_norm {
            "the configuration this resource applied"
        } else {
            "a configuration other than the one this resource applied"
        };
        ctx.warn(
            "Staged machine configuration pending",
            format!(
                "{node} holds a staged configuration ({what}) that takes effect at its next \
                 reboot; it runs another one until then."
            ),
        );
    }
    let staged_pending = pers_n.is_some() && pers_n == applied_norm;
    if run_n.is_some() && run_n == applied_norm {
        state.machine_configuration_hash = Some(config_hash(&applied));
    } else if staged_pending && state.apply_mode.as_deref() == Some("staged") {
        // Waiting for the reboot: not drift.
    } else {
        tracing::info!(node = %node, "the node runs a configuration other than the one applied (drift)");
        state.machine_configuration_hash = Some(match &run {
            Some(c) => config_hash(c),
            None => String::new(),
        });
    }
    if state.id.is_none() {
        state.id = Some(node);
    }
    Ok(Some(state))
}

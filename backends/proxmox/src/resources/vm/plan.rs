//! Plan-time work: nodes checked against the cluster, config-only values
//! after an import, and the new volume ID of a moved disk.

use labforge_framework::{AttributePath, Ctx, PlanChange, Result, Value};

use super::disks::unknown_volumes_of_moved_disks;
use super::import::{IMPORTED, keep_imported_config_only};
use crate::client::Client;

/// `modify_plan` of the resource.
pub(super) async fn modify_plan(ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
    if plan.destroying() {
        return Ok(());
    }
    check_nodes(ctx.client(), plan).await;
    if plan.creating() {
        return Ok(());
    }
    if ctx.private::<bool>(IMPORTED) == Some(true) {
        keep_imported_config_only(plan);
    }
    unknown_volumes_of_moved_disks(plan);
    Ok(())
}

/// `node` (and, when creating, `clone.node`) must be a node of the cluster,
/// checked against the node list (read once per provider process). When the
/// list cannot be read the check is skipped: apply reports the problem.
async fn check_nodes(c: &Client, plan: &mut PlanChange<'_>) {
    let mut wanted: Vec<(AttributePath, String)> = Vec::new();
    if let Value::String(n) = plan.planned_attr("node")
        && (plan.creating() || plan.prior_attr("node") != &Value::String(n.clone()))
    {
        wanted.push((AttributePath::attr("node"), n.clone()));
    }
    if plan.creating()
        && let Some(Value::String(n)) = plan.planned_attr("clone").get("node")
    {
        wanted.push((AttributePath::attr("clone").join_attr("node"), n.clone()));
    }
    if wanted.is_empty() {
        return;
    }
    let nodes = match c.nodes().await {
        Ok(list) => list,
        Err(e) => {
            tracing::debug!(error = %e, "node list unavailable; nodes not checked at plan");
            return;
        }
    };
    let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
    for (path, n) in wanted {
        if !names.contains(&n.as_str()) {
            plan.diagnostics.attribute_error(
                path.clone(),
                "Unknown node",
                format!(
                    "{path}: {n:?} is not a node of this Proxmox VE cluster (its nodes: {}).",
                    names.join(", ")
                ),
            );
        }
    }
}

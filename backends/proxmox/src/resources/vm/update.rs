//! Update: config changes, pool membership, template conversion, and the
//! power state (start, shutdown, or a reboot for pending changes).

use labforge_framework::{Ctx, Error, Result};

use super::apply::{apply_changes, shutdown, start};
use super::model::{VmModel, flag};
use super::{api, read_vm};
use crate::client::Client;

/// The error of an update whose VM was deleted after the plan: what
/// happened and what to do (an update cannot drop the object from state).
fn gone(vmid: i64, node: &str) -> String {
    format!(
        "VM {vmid} on {node} no longer exists: it was deleted outside Terraform after the \
         plan was made. Run terraform apply again: its refresh removes the VM from the \
         state and the plan creates it anew."
    )
}

/// Bring VM `prior.vm_id` to `plan`.
pub(super) async fn update(ctx: &Ctx<Client>, prior: VmModel, plan: VmModel) -> Result<VmModel> {
    let c = ctx.client();
    let stop = ctx.stop_signal();
    let node = plan.node.clone();
    let vmid = prior.vmid()?;
    let mut plan = plan;
    plan.vm_id = Some(vmid);
    let cfg = c
        .vm_config(&node, vmid)
        .await
        .map_err(|e| api(format!("reading VM {vmid}"), e))?
        .ok_or_else(|| Error::msg(gone(vmid, &node)))?;
    let was_template = flag(&cfg, "template");
    let st = c
        .vm_status(&node, vmid)
        .await
        .map_err(|e| api(format!("reading VM {vmid}"), e))?
        .unwrap_or_default();
    let running = st.status == "running";
    let touched = apply_changes(c, stop, &node, vmid, &plan, Some(&prior), cfg).await?;
    if plan.pool != prior.pool {
        match (&prior.pool, &plan.pool) {
            (_, Some(new)) => c
                .add_to_pool(new, vmid)
                .await
                .map_err(|e| api(format!("adding VM {vmid} to pool {new}"), e))?,
            (Some(old), None) => c
                .remove_from_pool(old, vmid)
                .await
                .map_err(|e| api(format!("removing VM {vmid} from pool {old}"), e))?,
            (None, None) => {}
        }
        c.invalidate().await;
    }
    if plan.template.unwrap_or(false) && !was_template {
        if running {
            shutdown(c, stop, &node, vmid).await?;
        }
        c.convert_to_template(stop, &node, vmid)
            .await
            .map_err(|e| api(format!("converting VM {vmid} to a template"), e))?;
    } else if plan.started() && !running {
        start(c, stop, &node, vmid).await?;
    } else if !plan.started() && running {
        shutdown(c, stop, &node, vmid).await?;
    } else if running && (!touched.is_empty() || plan.reboot_after_update.unwrap_or(false)) {
        let pending = c
            .vm_pending(&node, vmid)
            .await
            .map_err(|e| api(format!("reading pending changes of VM {vmid}"), e))?;
        if !pending.is_empty() {
            if plan.reboot_after_update.unwrap_or(false) {
                c.reboot_vm(stop, &node, vmid).await.map_err(|e| {
                    api(
                        format!("rebooting VM {vmid} to apply {}", pending.join(", ")),
                        e,
                    )
                })?;
            } else {
                ctx.warn(
                    "VM needs a reboot",
                    format!(
                        "VM {vmid} is running; these changes wait for a restart: {}. Reboot it, \
                         or set reboot_after_update = true.",
                        pending.join(", ")
                    ),
                );
            }
        }
    }
    let mut m = plan;
    m.ipv4_addresses = prior.ipv4_addresses.clone();
    m.ipv6_addresses = prior.ipv6_addresses.clone();
    read_vm(c, m)
        .await?
        .ok_or_else(|| Error::msg(format!("VM {vmid} vanished during the update")))
}

#[cfg(test)]
mod tests {
    use super::gone;

    #[test]
    fn a_vm_deleted_after_the_plan_says_what_to_do() {
        let m = gone(201, "pve1");
        assert!(m.contains("VM 201 on pve1 no longer exists"), "{m}");
        assert!(m.contains("Run terraform apply again"), "{m}");
    }
}

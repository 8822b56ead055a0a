//! Import (`node/vm_id`), and what import cannot know: the config-only
//! attributes (`clone`, `wait_for_ip_seconds`, `reboot_after_update`) plan
//! no change until something else changes; `clone` is recovered from the
//! template whose creation `meta` the VM carries.

use labforge_framework::{AttributePath, Ctx, Error, PlanChange, Result, Value};

use super::cloud_init::{self, InitModel};
use super::disks::disks_of;
use super::model::{CloneModel, VmModel};
use super::{api, read_vm};
use crate::client::{Client, ClusterVm, VmConfig};

/// Private-state key: the resource was imported, and its config-only
/// attributes (`CONFIG_ONLY`) hold what import could tell, not configuration.
pub(super) const IMPORTED: &str = "imported";

/// Attributes that exist only in configuration (Proxmox VE has no record of
/// them) and only matter when the VM is created (`clone`,
/// `wait_for_ip_seconds`) or updated (`reboot_after_update`).
const CONFIG_ONLY: [&str; 3] = ["clone", "wait_for_ip_seconds", "reboot_after_update"];

/// After an import, a value of a config-only attribute that differs from
/// what import recorded is no change: keep the recorded value (Terraform
/// accepts a prior value in place of a configured one), unless something
/// else changes anyway, in which case the update records the configured
/// values. A differing `clone` never replaces an imported VM.
pub(super) fn keep_imported_config_only(plan: &mut PlanChange<'_>) {
    let clone = AttributePath::attr("clone");
    plan.requires_replace
        .retain(|p| p.steps.first() != clone.steps.first());
    let mut kept = plan.planned.clone();
    if let Value::Object(attrs) = &mut kept {
        for k in CONFIG_ONLY {
            let prior = plan.prior_attr(k);
            if !prior.is_null() && !plan.config_attr(k).is_null() {
                attrs.insert(k.to_string(), prior.clone());
            }
        }
    }
    if kept == *plan.prior {
        *plan.planned = kept;
    }
}

/// The clone source of VM `vmid`, as far as Proxmox VE shows it. qemu-server
/// `clone_vm` copies every key of the source's config it does not
/// regenerate (`PVE/API2/Qemu.pm`: "copy everything else"), `meta`
/// (creation-qemu, ctime) included, while `create_vm` writes a new `meta`
/// (`new_meta_info_string`). So a template with the very same `meta` is the
/// source; a linked clone's disks name its base volumes. `None` when no
/// single template matches.
async fn clone_source(
    c: &Client,
    node: &str,
    vmid: i64,
    cfg: &VmConfig,
    list: &[ClusterVm],
) -> Option<CloneModel> {
    let meta = cfg.get("meta")?;
    let mut found = Vec::new();
    for t in list
        .iter()
        .filter(|v| v.is_template() && v.id() != Some(vmid))
    {
        let Some(id) = t.id() else { continue };
        if let Ok(Some(tc)) = c.vm_config(&t.node, id).await
            && tc.get("meta") == Some(meta)
        {
            found.push((id, t.node.clone()));
        }
    }
    let [(id, at)] = found.as_slice() else {
        return None;
    };
    let base = format!("base-{id}-");
    let linked = disks_of(cfg).values().any(|d| d.volume.contains(&base));
    Some(CloneModel {
        vm_id: *id,
        node: (at != node).then(|| at.clone()),
        full: Some(!linked),
        target_storage: None,
    })
}

/// Parse an import ID `node/vmid`.
pub(crate) fn parse_import_id(id: &str) -> Result<(String, i64)> {
    let err = || {
        Error::new(
            "Invalid import ID",
            format!("expected `node/vmid`, e.g. `pve/100`, got {id:?}"),
        )
    };
    let (node, vmid) = id.trim().split_once('/').ok_or_else(err)?;
    let vmid: i64 = vmid.parse().map_err(|_| err())?;
    if node.is_empty() || !(100..=999_999_999).contains(&vmid) {
        return Err(err());
    }
    Ok((node.to_string(), vmid))
}

/// Import VM `node/vmid`: its state as far as Proxmox VE shows it.
pub(super) async fn import(ctx: &Ctx<Client>, id: &str) -> Result<VmModel> {
    let (node, vmid) = parse_import_id(id)?;
    let c = ctx.client();
    let cfg = c
        .vm_config(&node, vmid)
        .await
        .map_err(|e| api(format!("reading VM {vmid} on {node}"), e))?
        .ok_or_else(|| {
            Error::new(
                "Cannot import",
                format!("VM {vmid} does not exist on node {node}"),
            )
        })?;
    let has_ci = cloud_init::present(&cfg);
    let m = VmModel {
        node,
        vm_id: Some(vmid),
        initialization: has_ci.then(InitModel::default),
        ..VmModel::default()
    };
    let mut m = read_vm(c, m)
        .await?
        .ok_or_else(|| Error::new("Cannot import", format!("VM {vmid} does not exist")))?;
    // Pool membership is not in the VM config; the cluster list has it.
    let list = c
        .cluster_vms()
        .await
        .map_err(|e| api("listing VMs (for the pool)", e))?;
    m.pool = list
        .iter()
        .find(|v| v.id() == Some(vmid))
        .and_then(|v| v.pool.clone());
    m.clone = clone_source(c, &m.node, vmid, &cfg, &list).await;
    // `clone`, `wait_for_ip_seconds` and `reboot_after_update` are not
    // in Proxmox VE: until an update records the configured values, a
    // differing value in configuration plans no change.
    ctx.set_private(IMPORTED, &true)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use labforge_framework::Diagnostics;

    use super::*;
    use crate::resources::vm::testing::obj;

    /// After an import, config-only values that differ from what import
    /// recorded plan no change, and a differing clone never replaces the
    /// VM; once something else changes, the configured values are planned.
    #[test]
    fn imported_config_only_values_are_kept_until_something_else_changes() {
        let clone = |id: &str| obj(&[("vm_id", Value::String(id.into()))]);
        let prior = obj(&[
            ("name", Value::String("k8s-0".into())),
            ("clone", clone("9000")),
            ("reboot_after_update", Value::Bool(false)),
        ]);
        let config = obj(&[
            ("name", Value::String("k8s-0".into())),
            ("clone", clone("9001")),
            ("reboot_after_update", Value::Bool(true)),
        ]);
        let run = |planned: Value| {
            let mut planned = planned;
            let mut replace = vec![AttributePath::attr("clone").join_attr("vm_id")];
            let mut diags = Diagnostics::new();
            let mut change = PlanChange {
                config: &config,
                prior: &prior,
                planned: &mut planned,
                requires_replace: &mut replace,
                diagnostics: &mut diags,
            };
            keep_imported_config_only(&mut change);
            (planned, replace)
        };
        let (planned, replace) = run(config.clone());
        assert_eq!(planned, prior, "nothing else changes: no change");
        assert!(replace.is_empty(), "{replace:?}");
        let renamed = obj(&[
            ("name", Value::String("k8s-9".into())),
            ("clone", clone("9001")),
            ("reboot_after_update", Value::Bool(true)),
        ]);
        let (planned, replace) = run(renamed.clone());
        assert_eq!(planned, renamed, "an update records the configured values");
        assert!(
            replace.is_empty(),
            "a differing clone never replaces: {replace:?}"
        );
    }

    #[test]
    fn import_ids() {
        assert_eq!(
            parse_import_id("pve/100").unwrap(),
            ("pve".to_string(), 100)
        );
        assert!(parse_import_id("pve").is_err());
        assert!(parse_import_id("pve/99").is_err());
        assert!(parse_import_id("/100").is_err());
    }
}

//! Bringing an existing VM to its plan: config changes (guarded by the
//! digest, retried once after a change behind our back), disk moves and
//! resizes; and the power operations create and update share.

use std::time::Duration;

use labforge_framework::{AttributePath, Error, Result, StopSignal};

use super::api;
use super::diff::diff;
use super::disks::unused_leftovers;
use super::model::VmModel;
use crate::client::{Client, ConfigChange, VmConfig};

/// How long a shutdown may take before the VM is stopped.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// Apply `ch` to a VM (config, disk moves, resizes), guarded by `digest`.
pub(super) async fn apply_changes(
    c: &Client,
    stop: &StopSignal,
    node: &str,
    vmid: i64,
    plan: &VmModel,
    prior: Option<&VmModel>,
    mut cfg: VmConfig,
) -> Result<Vec<String>> {
    let mut ch = diff(plan, prior, &cfg)?;
    for (slot, storage) in &ch.moves {
        c.move_disk(stop, node, vmid, slot, storage)
            .await
            .map_err(|e| api(format!("moving {slot} of VM {vmid} to {storage}"), e))?;
    }
    if !ch.moves.is_empty() {
        cfg = c
            .vm_config(node, vmid)
            .await
            .map_err(|e| api(format!("reading VM {vmid}"), e))?
            .ok_or_else(|| Error::msg(format!("VM {vmid} disappeared during the update")))?;
        ch = diff(plan, prior, &cfg)?;
    }
    let touched = ch.keys();
    let mut retried = false;
    loop {
        let change = ConfigChange {
            set: &ch.set,
            delete: &ch.delete,
            digest: cfg.digest.as_deref(),
        };
        if change.is_empty() {
            break;
        }
        match c.update_vm_config(stop, node, vmid, change).await {
            Ok(()) => break,
            Err(e) if e.is_conflict() && !retried => {
                // Changed behind our back: re-read and try once more.
                retried = true;
                cfg = c
                    .vm_config(node, vmid)
                    .await
                    .map_err(|e| api(format!("reading VM {vmid}"), e))?
                    .ok_or_else(|| {
                        Error::msg(format!("VM {vmid} disappeared during the update"))
                    })?;
                let resize = std::mem::take(&mut ch.resize);
                ch = diff(plan, prior, &cfg)?;
                ch.resize = resize;
            }
            Err(e) if e.is_conflict() => {
                return Err(Error::new(
                    "VM changed during the update",
                    format!(
                        "VM {vmid} was modified by someone else twice while it was being updated ({e}). \
                         Run terraform apply again."
                    ),
                ));
            }
            Err(e) => {
                return Err(api(
                    format!("updating VM {vmid} ({})", touched.join(", ")),
                    e,
                ));
            }
        }
    }
    for (slot, size) in &ch.resize {
        c.resize_disk(stop, node, vmid, slot, *size)
            .await
            .map_err(|e| {
                api(format!("growing {slot} of VM {vmid} to {size} GiB",), e)
                    .at(AttributePath::attr("disk").join_key(slot).join_attr("size"))
            })?;
    }
    if !ch.removed_volumes.is_empty()
        && let Ok(Some(now)) = c.vm_config(node, vmid).await
    {
        let unused = unused_leftovers(&now, &ch.removed_volumes);
        if !unused.is_empty() {
            let change = ConfigChange {
                set: &[],
                delete: &unused,
                digest: None,
            };
            c.update_vm_config(stop, node, vmid, change)
                .await
                .map_err(|e| api(format!("destroying detached disks of VM {vmid}"), e))?;
        }
    }
    Ok(touched)
}

pub(super) async fn start(c: &Client, stop: &StopSignal, node: &str, vmid: i64) -> Result<()> {
    c.start_vm(stop, node, vmid)
        .await
        .map_err(|e| api(format!("starting VM {vmid}"), e))
}

pub(super) async fn shutdown(c: &Client, stop: &StopSignal, node: &str, vmid: i64) -> Result<()> {
    c.shutdown_vm(stop, node, vmid, SHUTDOWN_TIMEOUT)
        .await
        .map_err(|e| api(format!("stopping VM {vmid}"), e))
}

//! `homelab_proxmox_vm`: a QEMU virtual machine, created from scratch or
//! cloned from a template.
//!
//! Disks and NICs are maps keyed by slot (`scsi0`, `net0`), so their order
//! never drifts. Disks grow in place; shrinking is refused at plan time.
//! Refresh reads `config` and `status/current` only (two requests) and never
//! waits on the guest agent; addresses are collected, with a bounded wait,
//! when the VM is created.
//!
//! By concern: [`schema`] (schema and validation), [`model`] (the state
//! model, filled from the VM's config), [`diff`] (plan → config changes),
//! and the sub-blocks, each one [`Part`]: [`disks`], [`nics`],
//! [`cloud_init`]. The lifecycle: `create`, `update` (both through
//! `apply`), `import`, and `plan` (modify_plan). Every API call is a typed
//! method of the [`Client`].

mod apply;
mod attrs;
pub mod changes;
pub mod cloud_init;
mod create;
pub mod diff;
pub mod disks;
mod import;
pub mod model;
pub mod nics;
mod plan;
pub mod schema;
#[cfg(test)]
mod testing;
mod update;

use labforge_framework::schema::Schema;
use labforge_framework::{Ctx, Diagnostics, Error, PlanChange, Resource, Result, Value};

use crate::client::{ApiError, Client, VmConfig};
use changes::Changes;
pub use model::VmModel;
use model::fill;

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vm;

/// The contract of a sub-block of the VM (`disk`, `network`,
/// `initialization`): its part of the schema, its value read from the VM
/// config, the config changes that bring the VM to its planned value, and
/// its cross-attribute checks.
pub trait Part {
    /// Its model: a field of [`VmModel`].
    type Model;
    /// `s` with the sub-block's attribute or block added.
    fn schema(s: Schema) -> Schema;
    /// Its value as `cfg` shows it; `prior` is the value in state (for what
    /// Proxmox VE does not return, or returns in another spelling).
    fn fill(prior: Option<Self::Model>, cfg: &VmConfig) -> Option<Self::Model>;
    /// Push onto `ch` what brings `cfg` to `plan` (`prior`: the value in
    /// state).
    fn diff(
        ch: &mut Changes,
        plan: &Self::Model,
        prior: Option<&Self::Model>,
        cfg: &VmConfig,
    ) -> Result<()>;
    /// Cross-attribute checks of the configuration (none by default).
    fn validate(_config: &Value, _d: &mut Diagnostics) {}
}

fn api(what: impl std::fmt::Display, e: ApiError) -> Error {
    Error::msg(format!("{what}: {e}{}", advice(&e)))
}

/// What to do after an error the server or the network caused (found by
/// the acceptance fault matrix: these said what happened, not what next).
fn advice(e: &ApiError) -> &'static str {
    match e {
        _ if e.is_no_answer() => {
            ". Run terraform apply again: the provider reads the VM back first, so a VM \
             this request did create is found and kept, not created twice"
        }
        ApiError::Api { status: 429, .. } => {
            ". Proxmox VE (or a proxy in front of it) is limiting requests: wait a moment \
             and run terraform apply again"
        }
        ApiError::Api { status, .. } if *status >= 500 => {
            ". The server failed or is restarting: check that Proxmox VE (pveproxy, \
             pvedaemon) is healthy, then run terraform apply again"
        }
        _ => "",
    }
}

/// The VM as Proxmox VE shows it (config, status; the pool from the cluster
/// list), or `None` when it is gone.
async fn read_vm(c: &Client, mut m: VmModel) -> Result<Option<VmModel>> {
    let vmid = m.vmid()?;
    let Some(cfg) = c
        .vm_config(&m.node, vmid)
        .await
        .map_err(|e| api(format!("reading VM {vmid} on {}", m.node), e))?
    else {
        return Ok(None);
    };
    let st = c
        .vm_status(&m.node, vmid)
        .await
        .map_err(|e| api(format!("reading VM {vmid} status"), e))?;
    let Some(st) = st else { return Ok(None) };
    fill(&mut m, &cfg, Some(&st));
    if let Some(pool) = &m.pool
        && let Ok(list) = c.cluster_vms().await
        && let Some(entry) = list.iter().find(|v| v.id() == Some(vmid))
        && entry.pool.as_deref() != Some(pool.as_str())
    {
        // Only believe the (lagging) list when it lists the VM.
        m.pool = entry.pool.clone();
    }
    Ok(Some(m))
}

impl Resource for Vm {
    type Client = Client;
    type Model = VmModel;
    const NAME: &'static str = "proxmox_vm";

    fn schema(&self) -> Schema {
        schema::vm_schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        schema::validate_config(config)
    }

    async fn modify_plan(&self, ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan::modify_plan(ctx, plan).await
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: VmModel) -> Result<VmModel> {
        // Not `until_stopped`: dropped half-way, a created VM would be
        // neither removed nor kept in state. The waits inside watch the
        // stop signal and fail into the cleanup instead.
        create::create(ctx, plan).await
    }

    async fn read(&self, ctx: &Ctx<Client>, state: VmModel) -> Result<Option<VmModel>> {
        ctx.until_stopped(read_vm(ctx.client(), state)).await
    }

    async fn update(&self, ctx: &Ctx<Client>, prior: VmModel, plan: VmModel) -> Result<VmModel> {
        let m = update::update(ctx, prior, plan).await?;
        // State now holds the configured values of the config-only attributes.
        ctx.remove_private(import::IMPORTED);
        Ok(m)
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: VmModel) -> Result<()> {
        let c = ctx.client();
        let vmid = state.vmid()?;
        c.destroy_vm(ctx.stop_signal(), &state.node, vmid)
            .await
            .map_err(|e| api(format!("destroying VM {vmid} on {}", state.node), e))?;
        c.invalidate().await;
        Ok(())
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<VmModel> {
        import::import(ctx, id).await
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`node/vm_id`, e.g. `pve/100`")
    }
}

#[cfg(test)]
mod advice_tests {
    use super::{ApiError, api};

    fn status(status: u16) -> ApiError {
        ApiError::Api {
            method: "POST".into(),
            path: "/nodes/pve1/qemu".into(),
            status,
            message: "boom".into(),
        }
    }

    #[test]
    fn server_errors_say_what_to_do() {
        let e = api("creating a VM on pve1", status(500)).to_string();
        assert!(e.contains("HTTP 500"), "{e}");
        assert!(e.contains("run terraform apply again"), "{e}");
        let e = api("creating a VM on pve1", status(429)).to_string();
        assert!(e.contains("limiting requests"), "{e}");
        let e = api("creating a VM on pve1", status(400)).to_string();
        assert!(!e.contains("apply again"), "{e}");
    }
}

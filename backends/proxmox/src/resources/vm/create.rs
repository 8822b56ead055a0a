//! Create: a VM from scratch or a clone, then its configuration, template
//! conversion, start and (bounded) wait for the guest agent's addresses.

use std::time::{Duration, Instant};

use labforge_framework::context::StopTrigger;
use labforge_framework::{Ctx, Error, Result, StopSignal};

use super::apply::{apply_changes, start};
use super::diff::{create_config, diff};
use super::model::VmModel;
use super::{api, read_vm};
use crate::client::{ApiError, Client, CloneOf, GuestInterface, Made, NewVm, pause};

/// Create (or clone) the VM, configure, start and wait for its addresses.
/// A VM made but not finished is removed again (or kept in state as
/// tainted when that fails).
pub(super) async fn create(ctx: &Ctx<Client>, plan: VmModel) -> Result<VmModel> {
    let c = ctx.client();
    let stop = ctx.stop_signal();
    let node = plan.node.clone();
    // Where the request goes: a clone's source node (which holds the new
    // VM's config until the clone ends), else `node`.
    let source = plan
        .clone
        .as_ref()
        .and_then(|cl| cl.node.clone())
        .unwrap_or_else(|| node.clone());
    let dispatched: std::result::Result<Made, (Error, Option<i64>)> = match &plan.clone {
        Some(cl) => {
            let clone = CloneOf {
                source: cl.vm_id,
                source_node: &source,
                node: &node,
                vmid: plan.vm_id,
                name: plan.name.as_deref(),
                pool: plan.pool.as_deref(),
                full: cl.full.unwrap_or(true),
                target_storage: cl.target_storage.as_deref(),
            };
            c.clone_vm(stop, &clone).await.map_err(|f| {
                let e = api(format!("cloning VM {} on {source}", cl.vm_id), *f.error);
                (e, f.vmid)
            })
        }
        None => {
            // Validate the parameters before allocating anything.
            let config = create_config(&plan)?;
            let new = NewVm {
                node: &node,
                vmid: plan.vm_id,
                pool: plan.pool.as_deref(),
                config: &config,
            };
            c.create_vm(stop, &new)
                .await
                .map_err(|f| (api(format!("creating a VM on {node}"), *f.error), f.vmid))
        }
    };
    c.invalidate().await;
    let result = match dispatched {
        Ok(made) => {
            let vmid = made.vmid;
            if let Some(lost) = made.taken_over {
                ctx.warn(
                    format!("Took over VM {vmid} on node {node}"),
                    format!(
                        "The answer to the request that creates VM {vmid} was lost ({lost}), \
                         but the VM was found on node {node}; it is now managed by this resource."
                    ),
                );
            }
            finish_create(ctx, c, &plan, vmid, plan.clone.is_some())
                .await
                .map_err(|e| (e, Some(vmid)))
        }
        Err(failed) => Err(failed),
    };
    match result {
        Ok(m) => Ok(m),
        Err((e, None)) => Err(e),
        Err((e, Some(vmid))) => {
            // Leave nothing behind: remove the half-made VM. Not
            // cancellable: this runs after Terraform asked to stop too.
            let (_keep, no_stop) = StopTrigger::new();
            match c.remove_half_made(&no_stop, vmid, &[&node, &source]).await {
                Ok(()) => Err(e),
                Err(de) => {
                    let mut partial = plan.clone();
                    partial.vm_id = Some(vmid);
                    partial.id = Some(format!("{node}/{vmid}"));
                    Err(Error::msg(format!(
                        "{e}\nThe half-created VM {vmid} could not be removed ({de}); it is kept in state as tainted."
                    ))
                    .with_partial_state(&partial))
                }
            }
        }
    }
}

/// Everything after the VM exists: config, resizes, template, start, IPs.
async fn finish_create(
    ctx: &Ctx<Client>,
    c: &Client,
    plan: &VmModel,
    vmid: i64,
    cloned: bool,
) -> Result<VmModel> {
    let node = plan.node.as_str();
    let stop = ctx.stop_signal();
    let cfg = c
        .vm_config(node, vmid)
        .await
        .map_err(|e| api(format!("reading VM {vmid}"), e))?
        .ok_or_else(|| Error::msg(format!("VM {vmid} vanished right after it was created")))?;
    if cloned {
        apply_changes(c, stop, node, vmid, plan, None, cfg).await?;
    } else {
        // Imported disks: grow to the asked size.
        let ch = diff(plan, None, &cfg)?;
        for (slot, size) in &ch.resize {
            c.resize_disk(stop, node, vmid, slot, *size)
                .await
                .map_err(|e| api(format!("growing {slot} of VM {vmid}"), e))?;
        }
    }
    if plan.template.unwrap_or(false) {
        c.convert_to_template(stop, node, vmid)
            .await
            .map_err(|e| api(format!("converting VM {vmid} to a template"), e))?;
    }
    let mut m = plan.clone();
    m.vm_id = Some(vmid);
    m.ipv4_addresses = Some(Vec::new());
    m.ipv6_addresses = Some(Vec::new());
    if plan.started() {
        start(c, stop, node, vmid).await?;
        let wait = plan.wait_for_ip_seconds.unwrap_or(60);
        if plan.agent.unwrap_or(true) && wait > 0 {
            let ips = wait_for_ips(c, stop, node, vmid, wait)
                .await
                .map_err(|e| api(format!("VM {vmid}"), e))?;
            match ips {
                Some((v4, v6)) => {
                    m.ipv4_addresses = Some(v4);
                    m.ipv6_addresses = Some(v6);
                }
                None => ctx.warn(
                    "No IP address from the guest agent",
                    format!(
                        "VM {vmid} started, but its guest agent reported no IPv4 address within \
                         {wait} s. ipv4_addresses stays empty; is qemu-guest-agent installed in the image?"
                    ),
                ),
            }
        }
    }
    read_vm(c, m)
        .await?
        .ok_or_else(|| Error::msg(format!("VM {vmid} vanished right after it was created")))
}

/// Addresses from the guest agent, waiting at most `secs` for a routable IPv4.
/// `Err` only when Terraform asks to stop.
async fn wait_for_ips(
    c: &Client,
    stop: &StopSignal,
    node: &str,
    vmid: i64,
    secs: i64,
) -> Result<Option<(Vec<String>, Vec<String>)>, ApiError> {
    let deadline = Instant::now() + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let mut delay = Duration::from_millis(200);
    loop {
        if let Ok(ifaces) = c.guest_interfaces(node, vmid).await {
            let (v4, v6) = routable_ips(&ifaces);
            if !v4.is_empty() {
                return Ok(Some((v4, v6)));
            }
        }
        if Instant::now() + delay > deadline {
            return Ok(None);
        }
        pause(
            stop,
            delay,
            &format!("waiting for the guest agent of VM {vmid}"),
        )
        .await?;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
}

/// Routable IPv4 and IPv6 addresses of the guest's interfaces (not `lo`).
pub(crate) fn routable_ips(ifaces: &[GuestInterface]) -> (Vec<String>, Vec<String>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for iface in ifaces {
        if iface.name.as_deref() == Some("lo") {
            continue;
        }
        for ip in &iface.addresses {
            match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(x)) if !x.is_loopback() && !x.is_link_local() => {
                    v4.push(ip.to_string())
                }
                Ok(std::net::IpAddr::V6(x))
                    if !x.is_loopback() && (x.segments()[0] & 0xffc0) != 0xfe80 =>
                {
                    v6.push(ip.to_string())
                }
                _ => {}
            }
        }
    }
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routable_agent_addresses() {
        let iface = |name: &str, addrs: &[&str]| GuestInterface {
            name: Some(name.into()),
            addresses: addrs.iter().map(|a| a.to_string()).collect(),
        };
        let ifaces = [
            iface("lo", &["127.0.0.1", "10.0.0.99"]),
            iface("eth0", &["10.0.0.5", "fe80::1", "fd00::5", "169.254.1.1"]),
            iface("eth1", &["::1", "not an address"]),
        ];
        let (v4, v6) = routable_ips(&ifaces);
        assert_eq!(v4, vec!["10.0.0.5"]);
        assert_eq!(v6, vec!["fd00::5"]);
    }
}

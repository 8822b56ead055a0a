//! `MachineService/Reset`: the request checked as Talos's handler checks it,
//! then the reset sequence (leave etcd, wipe, reboot or power off) run after
//! the answer (siderolabs/talos
//! `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`
//! `Reset`, `v1alpha1_sequencer.go`, `v1alpha1_sequencer_tasks.go`).

use std::time::Instant;

use tonic::{Request, Response, Status};

use super::api::Api;
use super::proto::machine as pb;
use super::tls::Level;
use super::{Cluster, cluster_of};
use crate::common::lock;

impl Api {
    /// The `Reset` handler.
    pub(super) async fn handle_reset(
        &self,
        req: Request<pb::ResetRequest>,
    ) -> Result<Response<pb::ResetResponse>, Status> {
        let (node, md) = self.target(&req)?;
        self.enter(&node, "Reset", "/machine.MachineService/Reset")?;
        // No rule for Reset in machined.go: os:admin (maintenance callers
        // are os:reader, so a node without a config cannot be reset).
        self.require(&node, Level::Admin)?;
        let r = req.into_inner();
        let plan = reset_plan(&r)?;
        let actor_id = {
            let mut c = lock(&self.shared);
            c.resets += 1;
            format!("00000000-0000-4000-8000-{:012x}", c.resets)
        };
        // The sequence runs after the answer (v1alpha1_server.go Reset:
        // `go func() { s.Controller.Run(resetCtx, runtime.SequenceReset, &opts) }`).
        let (shared, name) = (self.shared.clone(), node.clone());
        let delay = lock(&self.shared).reboot_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            run_reset(&mut lock(&shared), &name, &plan);
        });
        Ok(Response::new(pb::ResetResponse {
            messages: vec![pb::Reset {
                metadata: md,
                actor_id,
            }],
        }))
    }
}

/// The system volumes a simulated node has (`VolumeStatus` IDs).
const VOLUMES: &[&str] = &["EFI", "BOOT", "META", "STATE", "EPHEMERAL"];

/// What a validated reset does.
#[derive(Debug, Clone)]
struct ResetPlan {
    graceful: bool,
    reboot: bool,
    /// `STATE` wiped (or the whole system disk): the configuration goes.
    wipe_state: bool,
    /// `EPHEMERAL` wiped (or the whole system disk): etcd data goes.
    wipe_ephemeral: bool,
}

/// Checks a ResetRequest as Talos's handler does, in its order
/// (v1alpha1_server.go `Reset`; its errors are plain Go errors: gRPC Unknown).
fn reset_plan(r: &pb::ResetRequest) -> Result<ResetPlan, Status> {
    use pb::reset_request::WipeMode;
    let mode = WipeMode::try_from(r.mode).unwrap_or(WipeMode::All);
    if !r.user_disks_to_wipe.is_empty() {
        if mode == WipeMode::SystemDisk {
            return Err(Status::unknown(
                "reset failed: invalid input, wipe mode SYSTEM_DISK doesn't support UserDisksToWipe parameter",
            ));
        }
        // The simulated machine has its system disk only.
        return Err(Status::unknown(format!(
            "reset user disk failed: device {} wasn't found",
            r.user_disks_to_wipe[0]
        )));
    }
    let mut wipe_state = false;
    let mut wipe_ephemeral = false;
    if !r.system_partitions_to_wipe.is_empty() {
        if mode == WipeMode::UserDisks {
            return Err(Status::unknown(
                "reset failed: invalid input, wipe mode USER_DISKS doesn't support SystemPartitionsToWipe parameter",
            ));
        }
        for spec in &r.system_partitions_to_wipe {
            if !VOLUMES.contains(&spec.label.as_str()) {
                return Err(Status::unknown(format!(
                    "failed to get volume status with label {:?}: resource VolumeStatuses.block.talos.dev(runtime/{}@undefined) doesn't exist",
                    spec.label, spec.label
                )));
            }
            if spec.wipe {
                wipe_state |= spec.label == "STATE";
                wipe_ephemeral |= spec.label == "EPHEMERAL";
            }
        }
    } else if mode != WipeMode::UserDisks {
        // No partitions named: the whole system disk.
        wipe_state = true;
        wipe_ephemeral = true;
    }
    Ok(ResetPlan {
        graceful: r.graceful,
        reboot: r.reboot,
        wipe_state,
        wipe_ephemeral,
    })
}

/// The reset sequence (v1alpha1_sequencer.go `Reset`): leave etcd if
/// graceful (control planes), wipe, then reboot or power off. A failed
/// step ends the sequence and the node keeps running as it was.
fn run_reset(c: &mut Cluster, name: &str, plan: &ResetPlan) {
    c.tick(name);
    let Some(n) = c.nodes.get(name) else {
        return;
    };
    if n.down_until.is_some() {
        return;
    }
    let cluster = cluster_of(n.running.as_ref());
    if plan.graceful
        && let Some(id) = cluster
        && let Err(e) = leave_etcd(c, &id, name)
    {
        if let Some(n) = c.nodes.get_mut(name) {
            n.reset_error = Some(format!(
                "sequence error: error running phase \"leave\" in reset sequence: {e}"
            ));
        }
        return;
    }
    let boot = c.boot_delay;
    let Some(n) = c.nodes.get_mut(name) else {
        return;
    };
    if plan.wipe_state {
        n.running = None;
        n.persistent = None;
        n.node_id = super::new_node_id();
        n.try_until = None;
    }
    if plan.wipe_ephemeral {
        n.bootstrapped = false;
    }
    n.reset_error = None;
    n.reset_count += 1;
    n.reboot_pending = false;
    n.generation.send_modify(|g| *g += 1);
    if plan.reboot {
        // Back after the boot delay, from what is left on the disk: without
        // STATE, maintenance mode with a new self-signed certificate.
        n.down_until = Some(Instant::now() + boot);
    } else {
        // Shutdown phase: LINUX_REBOOT_CMD_POWER_OFF. Nothing answers.
        n.powered_off = true;
        n.down_until = Some(Instant::now());
    }
}

/// LeaveEtcd of a graceful reset (v1alpha1_sequencer_tasks.go): nothing to
/// do off etcd; otherwise etcd removes the member only while the others
/// keep a quorum of started members, so the last member cannot leave
/// (etcd `IsReadyToRemoveVotingMember`; Talos documents single control
/// planes as needing `--graceful=false`, siderolabs/talos#2095).
fn leave_etcd(c: &mut Cluster, cluster: &str, name: &str) -> Result<(), String> {
    let Some(members) = c.etcd.get(cluster) else {
        return Ok(());
    };
    if !members.contains(name) {
        return Ok(());
    }
    let others: Vec<&String> = members.iter().filter(|m| *m != name).collect();
    let started = others
        .iter()
        .filter(|m| {
            c.nodes.get(m.as_str()).is_some_and(|n| {
                n.configured
                    && n.down_until.is_none()
                    && cluster_of(n.running.as_ref()).as_deref() == Some(cluster)
            })
        })
        .count();
    if started < others.len() / 2 + 1 {
        return Err(
            "failed to leave cluster: etcdserver: re-configuration failed due to not enough started members"
                .into(),
        );
    }
    if let Some(m) = c.etcd.get_mut(cluster) {
        m.remove(name);
    }
    Ok(())
}

//! Making VMs: create (`POST /nodes/{node}/qemu`) and clone
//! (`POST /nodes/{node}/qemu/{vmid}/clone`), each with lock retries, task
//! waiting, VMID allocation and the handling of a lost answer or a worker
//! that could not be started; and the removal of a VM a failed make left.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use labforge_framework::StopSignal;
use labforge_framework::context::StopTrigger;

use super::vm::{kv, vm_path, yes};
use super::{ApiError, Client, Form, Stub, VmConfig, enc, pause};
use labforge_http::ApiErrorKind as _;

/// How long a VM may take to appear after a create or clone whose answer was lost.
const LOST_ANSWER_GRACE: Duration = Duration::from_secs(5);

/// A VM made from scratch.
#[derive(Debug, Clone, Copy)]
pub struct NewVm<'a> {
    /// Node to create it on.
    pub node: &'a str,
    /// Its VMID; `None`: the next free one, allocated without races
    /// between parallel creates.
    pub vmid: Option<i64>,
    /// Resource pool to add it to.
    pub pool: Option<&'a str>,
    /// Its configuration: config keys and their values (`("cores", "2")`,
    /// `("scsi0", "local-lvm:32")`). Its `name`, if any, is how the VM is
    /// recognised as ours after a lost answer.
    pub config: &'a [(String, String)],
}

/// A VM cloned from another (usually a template).
#[derive(Debug, Clone, Copy)]
pub struct CloneOf<'a> {
    /// VMID of the source.
    pub source: i64,
    /// Node of the source (where the request goes; Proxmox VE keeps the new
    /// VM's config there until the clone ends).
    pub source_node: &'a str,
    /// Node the clone ends up on.
    pub node: &'a str,
    /// Its VMID; `None`: the next free one.
    pub vmid: Option<i64>,
    /// Its name; also how it is recognised as ours after a lost answer.
    pub name: Option<&'a str>,
    /// Resource pool to add it to.
    pub pool: Option<&'a str>,
    /// A full clone (independent disks) rather than a linked one.
    pub full: bool,
    /// Storage for the disks of a full clone (ignored for a linked one).
    pub target_storage: Option<&'a str>,
}

/// A create or clone that finished: the VM exists, configured as asked.
#[derive(Debug)]
pub struct Made {
    /// The VM's VMID.
    pub vmid: i64,
    /// The request's answer was lost, but the VM was then found made on
    /// its node, under its name, and taken over: the lost answer.
    pub taken_over: Option<ApiError>,
}

/// A create or clone that failed.
#[derive(Debug)]
pub struct MakeFailed {
    /// Why it failed.
    pub error: Box<ApiError>,
    /// The VM that had become ours before the failure (its request was
    /// accepted, or it was taken over), which may still exist half-made
    /// (e.g. its task failed, or the wait for it was given up).
    pub vmid: Option<i64>,
}

/// What one create or clone learned along the way.
#[derive(Default)]
struct Track {
    /// Set once Proxmox VE has accepted the request for this VMID (a VM
    /// may exist from then on).
    mine: Mutex<Option<i64>>,
    taken_over: Mutex<Option<ApiError>>,
}

impl Track {
    fn mine(&self, vmid: i64) {
        if let Ok(mut g) = self.mine.lock() {
            *g = Some(vmid);
        }
    }
    fn taken_over(&self, lost: ApiError) {
        if let Ok(mut g) = self.taken_over.lock() {
            *g = Some(lost);
        }
    }
    fn finish(self, r: Result<i64, ApiError>) -> Result<Made, MakeFailed> {
        match r {
            Ok(vmid) => Ok(Made {
                vmid,
                taken_over: self.taken_over.into_inner().ok().flatten(),
            }),
            Err(error) => Err(MakeFailed {
                error: Box::new(error),
                vmid: self.mine.into_inner().ok().flatten(),
            }),
        }
    }
}

/// One create or clone request.
struct Post<'a> {
    path: &'a str,
    form: &'a Form,
    /// Node the VM ends up on.
    node: &'a str,
    /// Node the request goes to.
    source: &'a str,
    vmid: i64,
    name: Option<&'a str>,
    /// A create (not a clone): its worker start failure leaves a stub.
    creating: bool,
}

/// Locks a create or clone task holds on the new VM's config.
fn being_made(cfg: &VmConfig) -> bool {
    matches!(cfg.get("lock"), Some("create" | "clone"))
}

impl Client {
    /// Create a VM from scratch and wait for its task; retried while
    /// locked; with `vmid` unset, on the next free VMID. A lost answer is
    /// never resent: see `Client::post_make`.
    pub async fn create_vm(&self, stop: &StopSignal, vm: &NewVm<'_>) -> Result<Made, MakeFailed> {
        let track = Track::default();
        let path = format!("/nodes/{}/qemu", enc(vm.node));
        let name = vm
            .config
            .iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.as_str());
        let op = |vmid: i64| {
            let (track, path) = (&track, &path);
            async move {
                let mut form: Form = vec![kv("vmid", vmid.to_string())];
                form.extend(vm.config.iter().cloned());
                if let Some(p) = vm.pool {
                    form.push(kv("pool", p));
                }
                let post = Post {
                    path,
                    form: &form,
                    node: vm.node,
                    source: vm.node,
                    vmid,
                    name,
                    creating: true,
                };
                self.retry_locked(stop, || async {
                    let upid = self.post_make(stop, &post, track).await?;
                    if let Some(u) = upid {
                        self.wait_task(stop, &u).await?;
                    }
                    Ok(())
                })
                .await
            }
        };
        let r = match vm.vmid {
            Some(id) => op(id).await.map(|()| id),
            None => self.allocate_vmid(op).await.map(|(id, ())| id),
        };
        track.finish(r)
    }

    /// Clone a VM and wait for its task, through the source's clone gate
    /// (clones of one source turn one-at-a-time once it shows lock
    /// contention); retried while locked; with `vmid` unset, on the next
    /// free VMID. A lost answer is never resent: see `Client::post_make`.
    pub async fn clone_vm(&self, stop: &StopSignal, vm: &CloneOf<'_>) -> Result<Made, MakeFailed> {
        let track = Track::default();
        let src = vm.source;
        let _gate = self.clone_gate(src).await;
        let path = format!("{}/clone", vm_path(vm.source_node, src));
        let contention = |e: &ApiError| {
            if e.is_locked() && e.message().contains(&format!("lock-{src}.conf")) {
                self.clone_contention(src);
            }
        };
        let op = |newid: i64| {
            let (track, path, contention) = (&track, &path, &contention);
            async move {
                let mut form: Form = vec![kv("newid", newid.to_string())];
                if let Some(n) = vm.name {
                    form.push(kv("name", n));
                }
                if let Some(p) = vm.pool {
                    form.push(kv("pool", p));
                }
                form.push(kv("full", yes(vm.full)));
                if vm.full
                    && let Some(s) = vm.target_storage
                {
                    form.push(kv("storage", s));
                }
                if vm.source_node != vm.node {
                    form.push(kv("target", vm.node));
                }
                let post = Post {
                    path,
                    form: &form,
                    node: vm.node,
                    source: vm.source_node,
                    vmid: newid,
                    name: vm.name,
                    creating: false,
                };
                self.retry_locked(stop, || async {
                    let upid = self
                        .post_make(stop, &post, track)
                        .await
                        .inspect_err(contention)?;
                    if let Some(u) = upid {
                        self.wait_task(stop, &u).await.inspect_err(contention)?;
                    }
                    Ok(())
                })
                .await
            }
        };
        let r = match vm.vmid {
            Some(id) => op(id).await.map(|()| id),
            None => self.allocate_vmid(op).await.map(|(id, ())| id),
        };
        track.finish(r)
    }

    /// POST the create or clone of VM `p.vmid`; its task's UPID. The VM
    /// ends up on `p.node`; the request goes to `p.source` (the node of a
    /// clone's source, where Proxmox VE keeps the new VM's config until the
    /// clone ends; `node` for a create). VM `vmid` is recorded as ours as
    /// soon as it is known to be (so that a later failure or cancellation
    /// removes it).
    ///
    /// POSTs are never resent (Proxmox VE does not de-duplicate them), but
    /// an answer can be lost after the server did the work: a broken
    /// connection, or pveproxy's 596/599 or a gateway's 502-504. Then VM
    /// `vmid` (just reserved by this process) may exist: it is ours if it
    /// carries the planned `name` (any name when none is planned). It is
    /// looked for where Proxmox keeps it ([`Client::find_vm`]); once its
    /// create or clone lock is gone and it is on `node`, it is taken over
    /// (no UPID to wait for; recorded for a warning). Under another name it
    /// is someone else's: "already exists", so that another VMID is picked.
    /// Still absent after a grace period: the request did not take effect,
    /// and the error stands. Seen, then gone: its task failed.
    ///
    /// A create whose worker could not be started ("got no worker upid") is
    /// not retried: see `Client::worker_start_failed`.
    async fn post_make(
        &self,
        stop: &StopSignal,
        p: &Post<'_>,
        track: &Track,
    ) -> Result<Option<String>, ApiError> {
        let (node, source, vmid, name, path) = (p.node, p.source, p.vmid, p.name, p.path);
        let lost = match self.post(path, p.form).await {
            Ok(v) => {
                track.mine(vmid);
                return Ok(v
                    .as_str()
                    .filter(|u| u.starts_with("UPID:"))
                    .map(str::to_string));
            }
            Err(e) if p.creating && e.is_worker_start_failure() => {
                return Err(self.worker_start_failed(node, vmid, e).await);
            }
            Err(e) if e.is_no_answer() => e,
            Err(e) => return Err(e),
        };
        tracing::warn!(vmid, error = %lost, "the answer to a create was lost; looking for the VM");
        let since = Instant::now();
        let mut seen = false;
        let mut interval = self.poll.0;
        loop {
            match self.find_vm(vmid, &[node, source]).await? {
                None if seen => {
                    return Err(ApiError::NoAnswer {
                        method: "POST".into(),
                        path: path.into(),
                        message: format!(
                            "{}; VM {vmid} appeared and was removed again: its task failed (see the task log on node {source})",
                            lost.message()
                        ),
                    });
                }
                None if since.elapsed() >= LOST_ANSWER_GRACE => return Err(lost),
                None => {}
                Some((at, cfg)) => {
                    seen = true;
                    let ours = name.is_none() || cfg.get("name") == name;
                    if ours && !being_made(&cfg) {
                        track.mine(vmid);
                    }
                    if !being_made(&cfg) {
                        if let (false, Some(want)) = (ours, name) {
                            return Err(ApiError::AlreadyExists {
                                method: "POST".into(),
                                path: path.into(),
                                message: format!(
                                    "VM {vmid} already exists on node {at}, named {} rather than {want}",
                                    cfg.get("name").unwrap_or("(nothing)")
                                ),
                            });
                        }
                        if at == node {
                            tracing::info!(
                                vmid,
                                "the VM was made although the answer was lost; carrying on"
                            );
                            track.taken_over(lost);
                            return Ok(None);
                        }
                    }
                }
            }
            let waited = since.elapsed();
            if waited >= self.task_timeout {
                return Err(ApiError::TaskTimeout {
                    upid: format!("(the task that makes VM {vmid}; its answer was lost)"),
                    waited,
                });
            }
            pause(
                stop,
                interval,
                &format!("looking for VM {vmid} after its create lost its answer"),
            )
            .await?;
            interval = interval.mul_f64(1.5).min(self.poll.1);
        }
    }

    /// A create answered "got no worker upid - start worker failed"
    /// (pve-common `PVE::RESTEnvironment::fork_worker`). qemu-server
    /// `create_vm` has already written VM `vmid`'s config with
    /// `lock: create` (`create_and_lock_config` runs before `fork_worker`,
    /// and only the worker cleans up), so the VMID is taken: a retry would
    /// fail with "already exists" and move on to the next VMID, leaving the
    /// stub behind. Instead: no retry; remove the stub when the API user
    /// may (root@pam: `skiplock`), else report it.
    async fn worker_start_failed(&self, node: &str, vmid: i64, e: ApiError) -> ApiError {
        let message = e.message();
        let stub = match self.vm_config(node, vmid).await {
            Ok(None) => Stub::None,
            Ok(Some(cfg)) if cfg.get("lock") != Some("create") => Stub::None,
            Ok(Some(_)) | Err(_) if !self.is_root() => Stub::Left,
            Ok(Some(_)) | Err(_) => {
                // Not cancellable: this is clean-up.
                let (_keep, no_stop) = StopTrigger::new();
                match self.delete_vm(&no_stop, node, vmid, true).await {
                    Ok(()) => Stub::Removed,
                    Err(de) => {
                        tracing::warn!(vmid, error = %de, "removing the create stub failed");
                        Stub::RemoveFailed
                    }
                }
            }
        };
        ApiError::WorkerStartFailed {
            node: node.to_string(),
            vmid,
            message,
            stub,
        }
    }

    /// Remove a VM a failed create or clone left (the make, or its
    /// configuration, failed, or Terraform asked to stop): look for it where
    /// Proxmox VE keeps it (on `nodes`, or wherever `/cluster/resources`
    /// says), wait while its create or clone task still holds it (a clone's
    /// config stays on the source node until the clone ends), then destroy
    /// it where it is ([`Client::destroy_vm`]).
    pub async fn remove_half_made(
        &self,
        stop: &StopSignal,
        vmid: i64,
        nodes: &[&str],
    ) -> Result<(), ApiError> {
        let since = Instant::now();
        loop {
            match self.find_vm(vmid, nodes).await? {
                None => return Ok(()),
                Some((_, cfg)) if being_made(&cfg) => {
                    if since.elapsed() >= self.task_timeout {
                        return Err(ApiError::Locked {
                            method: "DELETE".into(),
                            path: format!("VM {vmid}"),
                            message: format!(
                                "VM {vmid} is still locked ({})",
                                cfg.get("lock").unwrap_or_default()
                            ),
                        });
                    }
                    pause(
                        stop,
                        self.poll.1,
                        &format!("waiting for the task that makes VM {vmid}"),
                    )
                    .await?;
                }
                Some((at, _)) => return self.destroy_vm(stop, &at, vmid).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use labforge_framework::StopSignal;
    use labforge_framework::context::StopTrigger;

    use super::*;
    use crate::client::testing::{form, sim_client};

    /// A create whose answer is lost after Proxmox VE made the VM is not
    /// sent again: the VM, found under its name, is taken over.
    #[tokio::test]
    async fn a_create_whose_answer_is_lost_is_taken_over() {
        let (sim, c) = sim_client();
        let create = "/api2/json/nodes/{node}/qemu";
        sim.lose_answers("POST", create, 596, 1);
        let config = form(&[("name", "web"), ("cores", "2")]);
        let vm = NewVm {
            node: "pve1",
            vmid: Some(160),
            pool: None,
            config: &config,
        };
        let made = c
            .create_vm(&StopSignal::never(), &vm)
            .await
            .expect("taken over");
        assert_eq!(made.vmid, 160);
        let lost = made.taken_over.expect("the lost answer is reported");
        assert!(lost.is_no_answer(), "{lost:?}");
        assert_eq!(sim.counters().get("POST", create), 1, "never resent");
        let cfg = c.vm_config("pve1", 160).await.expect("read").expect("a VM");
        assert_eq!(cfg.get("cores"), Some("2"));
        // Answered normally: nothing to report, the next free VMID is used.
        let made = c
            .create_vm(&StopSignal::never(), &NewVm { vmid: None, ..vm })
            .await
            .expect("created");
        assert!(made.taken_over.is_none());
        assert_ne!(made.vmid, 160);
        assert!(sim.list_vms().contains(&(made.vmid as u32)));
    }

    /// A clone given up on (Terraform asks to stop while its task runs)
    /// reports the VM it made, which `remove_half_made` removes once the
    /// clone's lock is gone.
    #[tokio::test]
    async fn a_clone_given_up_on_reports_its_vm_for_removal() {
        use labforge_simulators::proxmox::SHARED_STORAGE;
        let (sim, c) = sim_client();
        sim.set_task_duration("qmclone", Duration::from_secs(20));
        sim.insert_vm(
            810,
            "pve1",
            &[
                ("template", "1"),
                (
                    "scsi0",
                    &format!("{SHARED_STORAGE}:base-810-disk-0,size=2G"),
                ),
            ],
        );
        sim.add_pool("lab");
        let (trigger, stop) = StopTrigger::new();
        let vm = CloneOf {
            source: 810,
            source_node: "pve1",
            node: "pve2",
            vmid: Some(811),
            name: Some("web"),
            pool: Some("lab"),
            full: true,
            target_storage: None,
        };
        let cloning = c.clone_vm(&stop, &vm);
        let stopping = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            trigger.stop();
        };
        let (r, ()) = tokio::join!(cloning, stopping);
        let failed = r.expect_err("given up");
        assert!(failed.error.is_abandoned(), "{:?}", failed.error);
        assert_eq!(failed.vmid, Some(811));
        assert!(sim.list_vms().contains(&811), "the clone goes on");
        c.remove_half_made(&StopSignal::never(), 811, &["pve2", "pve1"])
            .await
            .expect("removed");
        assert!(!sim.list_vms().contains(&811));
    }

    /// A create refused outright leaves no VM to remove.
    #[tokio::test]
    async fn a_refused_create_leaves_nothing() {
        let (sim, c) = sim_client();
        sim.insert_vm(162, "pve1", &[("name", "taken")]);
        let config = form(&[("name", "web")]);
        let vm = NewVm {
            node: "pve1",
            vmid: Some(162),
            pool: None,
            config: &config,
        };
        let failed = c
            .create_vm(&StopSignal::never(), &vm)
            .await
            .expect_err("VMID taken");
        assert!(failed.error.is_already_exists(), "{:?}", failed.error);
        assert_eq!(failed.vmid, None);
    }
}

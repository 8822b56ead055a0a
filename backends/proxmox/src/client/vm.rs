//! VMs: `/nodes/{node}/qemu/{vmid}/…`: reads (config, status, pending
//! changes, guest-agent interfaces) and operations (config changes guarded
//! by the digest, disk moves and resizes, power, template, destroy). Every
//! operation that answers a UPID waits for its task and is retried while
//! the VM is locked; all give up once Terraform asks to stop.

use std::collections::BTreeMap;
use std::time::Duration;

use labforge_framework::StopSignal;
use reqwest::Method;
use serde_json::Value;

use super::{ApiError, Client, Form, enc, num, text};
use labforge_http::ApiErrorKind as _;

/// `/nodes/{node}/qemu/{vmid}`.
pub(super) fn vm_path(node: &str, vmid: i64) -> String {
    format!("/nodes/{}/qemu/{vmid}", enc(node))
}

/// One form parameter.
pub(super) fn kv(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

/// A boolean parameter: `0|1`.
pub(super) fn yes(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

/// A VM configuration: keys to textual values, plus its digest.
#[derive(Debug, Clone, Default)]
pub struct VmConfig {
    /// Config keys (`memory`, `scsi0`, `net0`, ...) to their values as PVE prints them.
    pub keys: BTreeMap<String, String>,
    /// SHA1 of the config file; sending it back with a change makes PVE refuse the change if the config changed since.
    pub digest: Option<String>,
}

impl VmConfig {
    /// A config key's value, if set.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.keys.get(k).map(String::as_str)
    }
}

/// `GET …/status/current`, the parts we use.
#[derive(Debug, Clone, Default)]
pub struct VmStatus {
    /// `running` or `stopped` (the schema's enum).
    pub status: String,
    /// The VM's lock (`backup`, `clone`, `create`, `migrate`, ...), if locked.
    pub lock: Option<String>,
    /// The VM name, if it has one.
    pub name: Option<String>,
}

/// A change to a VM's configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConfigChange<'a> {
    /// Config keys to set, with their values.
    pub set: &'a [(String, String)],
    /// Config keys to remove.
    pub delete: &'a [String],
    /// The digest of the config the change was computed from: Proxmox VE
    /// refuses the change ([`ApiError::Conflict`]) when the config has
    /// changed since. `None`: unguarded.
    pub digest: Option<&'a str>,
}

impl ConfigChange<'_> {
    /// Nothing to set and nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }
}

/// One network interface the guest agent reports
/// (`guest-network-get-interfaces`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuestInterface {
    /// The interface name in the guest, e.g. `eth0`.
    pub name: Option<String>,
    /// Its addresses, as reported (without prefix length).
    pub addresses: Vec<String>,
}

/// The interfaces in an answer of `agent/network-get-interfaces`: the PVE
/// schema documents only `result`; what it holds is QEMU's
/// `guest-network-get-interfaces` answer (qemu `qga/qapi-schema.json`:
/// `GuestNetworkInterface` `name`, `ip-addresses`, `GuestIpAddress`
/// `ip-address`).
fn guest_interfaces_of(v: &Value) -> Vec<GuestInterface> {
    fn items(v: Option<&Value>) -> &[Value] {
        v.and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    items(Some(v.get("result").unwrap_or(v)))
        .iter()
        .map(|iface| GuestInterface {
            name: iface
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string),
            addresses: items(iface.get("ip-addresses"))
                .iter()
                .filter_map(|a| a.get("ip-address").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
        })
        .collect()
}

impl Client {
    /// A VM's configuration (pending values applied), or `None` if it is gone.
    pub async fn vm_config(&self, node: &str, vmid: i64) -> Result<Option<VmConfig>, ApiError> {
        let path = format!("{}/config", vm_path(node, vmid));
        match self.get(&path, &[]).await {
            Ok(Value::Object(o)) => {
                let mut keys = BTreeMap::new();
                let mut digest = None;
                for (k, v) in o {
                    if k == "digest" {
                        digest = v.as_str().map(str::to_string);
                    } else if let Some(t) = text(&v) {
                        keys.insert(k, t);
                    }
                }
                Ok(Some(VmConfig { keys, digest }))
            }
            Ok(other) => Err(ApiError::Decode {
                path,
                message: format!("expected an object, got {other}"),
            }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A VM's run state, or `None` if it is gone.
    pub async fn vm_status(&self, node: &str, vmid: i64) -> Result<Option<VmStatus>, ApiError> {
        let path = format!("{}/status/current", vm_path(node, vmid));
        match self.get(&path, &[]).await {
            Ok(v) => Ok(Some(VmStatus {
                status: v
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                lock: v.get("lock").and_then(text),
                name: v.get("name").and_then(text),
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pending changes: keys whose new value waits for a restart.
    pub async fn vm_pending(&self, node: &str, vmid: i64) -> Result<Vec<String>, ApiError> {
        let path = format!("{}/pending", vm_path(node, vmid));
        let v = self.get(&path, &[]).await?;
        let mut out = Vec::new();
        for item in v.as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(key) = item.get("key").and_then(Value::as_str) else {
                continue;
            };
            if key == "digest" {
                continue;
            }
            let pending = item.get("pending").is_some_and(|p| !p.is_null());
            let delete = item.get("delete").and_then(num).unwrap_or(0) > 0;
            if pending || delete {
                out.push(key.to_string());
            }
        }
        Ok(out)
    }

    /// Where VM `vmid` is, and its config: first on each of `nodes` (in
    /// order), then on the node `/cluster/resources` names. `None`: on none
    /// of them. Proxmox VE keeps a VM's config on one node, and not always
    /// the one a request named: during a clone to another node the new VM's
    /// config is written on the SOURCE node and renamed into the target
    /// node's directory only when the task ends (qemu-server
    /// `PVE/API2/Qemu.pm` clone_vm: `config_file($newid)` on the local
    /// node, `rename($conffile, $newconffile)` last).
    pub async fn find_vm(
        &self,
        vmid: i64,
        nodes: &[&str],
    ) -> Result<Option<(String, VmConfig)>, ApiError> {
        let mut tried = Vec::new();
        for n in nodes {
            if tried.contains(n) {
                continue;
            }
            tried.push(*n);
            if let Some(cfg) = self.vm_config(n, vmid).await? {
                return Ok(Some((n.to_string(), cfg)));
            }
        }
        let list = self.cluster_vms_now().await?;
        let Some(row) = list.iter().find(|v| v.id() == Some(vmid)) else {
            return Ok(None);
        };
        if tried.contains(&row.node.as_str()) {
            return Ok(None);
        }
        Ok(self
            .vm_config(&row.node, vmid)
            .await?
            .map(|cfg| (row.node.clone(), cfg)))
    }

    /// The network interfaces the guest agent reports (fails while the
    /// agent does not answer).
    pub async fn guest_interfaces(
        &self,
        node: &str,
        vmid: i64,
    ) -> Result<Vec<GuestInterface>, ApiError> {
        let path = format!("{}/agent/network-get-interfaces", vm_path(node, vmid));
        Ok(guest_interfaces_of(&self.get(&path, &[]).await?))
    }

    /// `method` on `/nodes/{node}/qemu/{vmid}{sub}`, waiting for its task;
    /// retried while the VM is locked.
    async fn vm_task(
        &self,
        stop: &StopSignal,
        method: Method,
        node: &str,
        vmid: i64,
        sub: &str,
        params: &[(String, String)],
    ) -> Result<(), ApiError> {
        let path = format!("{}{sub}", vm_path(node, vmid));
        self.retry_locked(stop, || self.run(stop, method.clone(), &path, params))
            .await
    }

    /// Change a VM's configuration (`POST …/config`, an async task).
    pub async fn update_vm_config(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
        change: ConfigChange<'_>,
    ) -> Result<(), ApiError> {
        let mut form: Form = change.set.to_vec();
        if !change.delete.is_empty() {
            form.push(kv("delete", change.delete.join(",")));
        }
        if let Some(d) = change.digest {
            form.push(kv("digest", d));
        }
        self.vm_task(stop, Method::POST, node, vmid, "/config", &form)
            .await
    }

    /// Move disk `slot` to `storage`, deleting the source volume.
    pub async fn move_disk(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
        slot: &str,
        storage: &str,
    ) -> Result<(), ApiError> {
        let form = vec![kv("disk", slot), kv("storage", storage), kv("delete", "1")];
        self.vm_task(stop, Method::POST, node, vmid, "/move_disk", &form)
            .await
    }

    /// Grow disk `slot` to `gib` GiB.
    pub async fn resize_disk(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
        slot: &str,
        gib: i64,
    ) -> Result<(), ApiError> {
        let form = vec![kv("disk", slot), kv("size", format!("{gib}G"))];
        self.vm_task(stop, Method::PUT, node, vmid, "/resize", &form)
            .await
    }

    /// Start a VM; `Ok` when it is already running.
    pub async fn start_vm(&self, stop: &StopSignal, node: &str, vmid: i64) -> Result<(), ApiError> {
        match self
            .vm_task(stop, Method::POST, node, vmid, "/status/start", &[])
            .await
        {
            Err(e) if e.message().contains("already running") => Ok(()),
            other => other,
        }
    }

    /// Shut a VM down through ACPI, stopping it when it has not shut down
    /// within `timeout` (`forceStop`); `Ok` when it is not running.
    pub async fn shutdown_vm(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
        timeout: Duration,
    ) -> Result<(), ApiError> {
        let form = vec![
            kv("forceStop", "1"),
            kv("timeout", timeout.as_secs().to_string()),
        ];
        match self
            .vm_task(stop, Method::POST, node, vmid, "/status/shutdown", &form)
            .await
        {
            Err(e) if e.message().contains("not running") => Ok(()),
            other => other,
        }
    }

    /// Stop a VM at once (no shutdown); `Ok` when it is not running.
    pub async fn stop_vm(&self, stop: &StopSignal, node: &str, vmid: i64) -> Result<(), ApiError> {
        match self
            .vm_task(stop, Method::POST, node, vmid, "/status/stop", &[])
            .await
        {
            Err(e) if e.message().contains("not running") => Ok(()),
            other => other,
        }
    }

    /// Reboot a running VM (pending changes take effect).
    pub async fn reboot_vm(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
    ) -> Result<(), ApiError> {
        self.vm_task(stop, Method::POST, node, vmid, "/status/reboot", &[])
            .await
    }

    /// Turn a (stopped) VM into a template, for good.
    pub async fn convert_to_template(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
    ) -> Result<(), ApiError> {
        self.vm_task(stop, Method::POST, node, vmid, "/template", &[])
            .await
    }

    /// Destroy a VM: stop it if it runs, then delete it with its disks
    /// (`purge`: also from backup jobs, replication and HA;
    /// `destroy-unreferenced-disks`: also disks not in its config). `Ok`
    /// when it is already gone.
    pub async fn destroy_vm(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
    ) -> Result<(), ApiError> {
        match self.vm_status(node, vmid).await? {
            None => return Ok(()),
            Some(st) if st.status == "running" => match self.stop_vm(stop, node, vmid).await {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            },
            Some(_) => {}
        }
        match self.delete_vm(stop, node, vmid, false).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// `DELETE` a VM with its disks (`purge`, `destroy-unreferenced-disks`);
    /// `skiplock`: even while locked (only root@pam may, see
    /// [`Client::is_root`]).
    pub(super) async fn delete_vm(
        &self,
        stop: &StopSignal,
        node: &str,
        vmid: i64,
        skiplock: bool,
    ) -> Result<(), ApiError> {
        let mut q = Vec::new();
        if skiplock {
            q.push(kv("skiplock", "1"));
        }
        q.push(kv("purge", "1"));
        q.push(kv("destroy-unreferenced-disks", "1"));
        self.vm_task(stop, Method::DELETE, node, vmid, "", &q).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use labforge_framework::StopSignal;

    use super::*;
    use crate::client::testing::{form, sim_client};

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        form(p)
    }

    #[test]
    fn guest_interfaces_are_read_from_the_agent_answer() {
        let v = serde_json::json!({"result": [
            {"name": "lo", "ip-addresses": [{"ip-address": "127.0.0.1", "prefix": 8}]},
            {"name": "eth0", "ip-addresses": [{"ip-address": "10.0.0.5"}, {"prefix": 64}]},
            {"hardware-address": "bc:24:11:00:00:01"}
        ]});
        let got = guest_interfaces_of(&v);
        assert_eq!(
            got,
            vec![
                GuestInterface {
                    name: Some("lo".into()),
                    addresses: vec!["127.0.0.1".into()],
                },
                GuestInterface {
                    name: Some("eth0".into()),
                    addresses: vec!["10.0.0.5".into()],
                },
                GuestInterface::default(),
            ]
        );
        assert!(guest_interfaces_of(&serde_json::json!({"result": {}})).is_empty());
    }

    /// A config change carries the digest it was computed from: after a
    /// change behind our back Proxmox VE refuses it as a conflict; with the
    /// fresh digest it sets and deletes keys.
    #[tokio::test]
    async fn config_changes_are_guarded_by_the_digest() {
        let (sim, c) = sim_client();
        let stop = StopSignal::never();
        sim.insert_vm(170, "pve1", &[("cores", "1"), ("description", "x")]);
        let old = c.vm_config("pve1", 170).await.expect("read").expect("a VM");
        sim.modify_vm(170, &[("sockets", "2")], &[])
            .expect("modified");
        let set = pairs(&[("cores", "4")]);
        let delete = vec!["description".to_string()];
        let stale = ConfigChange {
            set: &set,
            delete: &delete,
            digest: old.digest.as_deref(),
        };
        let e = c
            .update_vm_config(&stop, "pve1", 170, stale)
            .await
            .expect_err("a stale digest is refused");
        assert!(e.is_conflict(), "{e:?}");
        let fresh = c.vm_config("pve1", 170).await.expect("read").expect("a VM");
        assert_ne!(fresh.digest, old.digest);
        let change = ConfigChange {
            digest: fresh.digest.as_deref(),
            ..stale
        };
        c.update_vm_config(&stop, "pve1", 170, change)
            .await
            .expect("applied");
        let now = c.vm_config("pve1", 170).await.expect("read").expect("a VM");
        assert_eq!(now.get("cores"), Some("4"));
        assert_eq!(now.get("sockets"), Some("2"));
        assert_eq!(now.get("description"), None);
    }

    /// Start and shutdown succeed when the VM already is as asked; destroy
    /// stops a running VM first and succeeds when it is already gone.
    #[tokio::test]
    async fn power_and_destroy_accept_the_state_they_want() {
        let (sim, c) = sim_client();
        let stop = StopSignal::never();
        sim.insert_vm(171, "pve1", &[("cores", "1")]);
        let timeout = Duration::from_secs(5);
        c.shutdown_vm(&stop, "pve1", 171, timeout)
            .await
            .expect("a stopped VM needs no shutdown");
        c.start_vm(&stop, "pve1", 171).await.expect("started");
        assert_eq!(sim.vm_running(171), Some(true));
        c.start_vm(&stop, "pve1", 171)
            .await
            .expect("a running VM needs no start");
        let st = c.vm_status("pve1", 171).await.expect("read").expect("a VM");
        assert_eq!(st.status, "running");
        c.destroy_vm(&stop, "pve1", 171).await.expect("destroyed");
        assert!(!sim.list_vms().contains(&171));
        c.destroy_vm(&stop, "pve1", 171)
            .await
            .expect("destroying a missing VM succeeds");
        let e = c
            .reboot_vm(&stop, "pve1", 171)
            .await
            .expect_err("no VM to reboot");
        assert!(e.is_not_found(), "{e:?}");
    }

    /// A disk grows and moves to another storage (the old volume deleted).
    #[tokio::test]
    async fn disks_grow_and_move() {
        use labforge_simulators::proxmox::SHARED_STORAGE;
        let (sim, c) = sim_client();
        let stop = StopSignal::never();
        sim.insert_vm(172, "pve1", &[]);
        let set = pairs(&[("scsi0", "local-lvm:2")]);
        let add = ConfigChange {
            set: &set,
            delete: &[],
            digest: None,
        };
        c.update_vm_config(&stop, "pve1", 172, add)
            .await
            .expect("disk added");
        c.resize_disk(&stop, "pve1", 172, "scsi0", 5)
            .await
            .expect("grown");
        c.move_disk(&stop, "pve1", 172, "scsi0", SHARED_STORAGE)
            .await
            .expect("moved");
        let cfg = c.vm_config("pve1", 172).await.expect("read").expect("a VM");
        let disk = cfg.get("scsi0").expect("the disk");
        assert!(disk.starts_with(&format!("{SHARED_STORAGE}:")), "{disk}");
        assert!(disk.contains("size=5G"), "{disk}");
        let left: Vec<String> = sim
            .disk_images("local-lvm")
            .into_iter()
            .filter(|v| v.contains("vm-172-"))
            .collect();
        assert!(left.is_empty(), "the source volume is deleted: {left:?}");
        assert!(cfg.keys.keys().all(|k| !k.starts_with("unused")));
    }

    /// `find_vm` finds a VM whose config is not on the node asked: during a
    /// clone to another node it is on the source node.
    #[tokio::test]
    async fn find_vm_looks_where_proxmox_keeps_the_config() {
        use labforge_simulators::proxmox::SHARED_STORAGE;
        let (sim, c) = sim_client();
        sim.set_task_duration("qmclone", Duration::from_secs(20));
        sim.insert_vm(
            800,
            "pve1",
            &[
                ("template", "1"),
                (
                    "scsi0",
                    &format!("{SHARED_STORAGE}:base-800-disk-0,size=2G"),
                ),
            ],
        );
        let upid = c
            .post(
                "/nodes/pve1/qemu/800/clone",
                &form(&[("newid", "801"), ("target", "pve2"), ("full", "1")]),
            )
            .await
            .expect("clone");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (node, cfg) = c
            .find_vm(801, &["pve2"])
            .await
            .expect("a read")
            .expect("found during the clone");
        assert_eq!(node, "pve1");
        assert_eq!(cfg.get("lock"), Some("clone"));
        c.wait_task(&StopSignal::never(), upid.as_str().expect("UPID"))
            .await
            .expect("clone");
        let (node, cfg) = c
            .find_vm(801, &["pve2"])
            .await
            .expect("a read")
            .expect("found");
        assert_eq!(node, "pve2");
        assert_eq!(cfg.get("lock"), None);
        assert!(
            c.find_vm(802, &["pve1", "pve2"])
                .await
                .expect("a read")
                .is_none()
        );
    }
}

//! VMs: `/nodes/{node}/qemu/{vmid}/…`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ApiError, Client, enc, num, text};

/// A VM configuration: keys to textual values, plus its digest.
#[derive(Debug, Clone, Default)]
pub struct VmConfig {
    pub keys: BTreeMap<String, String>,
    pub digest: Option<String>,
}

impl VmConfig {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.keys.get(k).map(String::as_str)
    }
}

/// `GET …/status/current`, the parts we use.
#[derive(Debug, Clone, Default)]
pub struct VmStatus {
    pub status: String,
    pub lock: Option<String>,
    pub name: Option<String>,
}

impl Client {
    /// A VM's configuration (pending values applied), or `None` if it is gone.
    pub async fn vm_config(&self, node: &str, vmid: i64) -> Result<Option<VmConfig>, ApiError> {
        let path = format!("/nodes/{}/qemu/{vmid}/config", enc(node));
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
        let path = format!("/nodes/{}/qemu/{vmid}/status/current", enc(node));
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
        let path = format!("/nodes/{}/qemu/{vmid}/pending", enc(node));
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use labforge_framework::StopSignal;

    use crate::client::testing::{form, sim_client};

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

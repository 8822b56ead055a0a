//! Cluster-wide reads (nodes, the VM list, both cached), VMID allocation
//! and the per-template clone gates.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ApiError, Client, lock, num};
use labforge_http::ApiErrorKind as _;

/// How long cluster-wide lists are reused.
const LIST_TTL: Duration = Duration::from_secs(10);
/// Permits of a clone gate: one clone takes one, an exclusive clone all.
const GATE_PERMITS: u32 = 64;

/// One VM from `/cluster/resources?type=vm` (every field listed in
/// [`RESPONSE_FIELDS`](super::RESPONSE_FIELDS); `Serialize` lets a test enumerate them).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ClusterVm {
    /// The VMID (schema: integer; kept as JSON, read with [`ClusterVm::id`]).
    #[serde(default)]
    pub vmid: Value,
    /// The node the VM is on.
    #[serde(default)]
    pub node: String,
    /// `type`: `qemu` or `lxc`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The VM name, if it has one.
    #[serde(default)]
    pub name: Option<String>,
    /// Run state, e.g. `running`, `stopped`.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether it is a template (schema: boolean, `0|1` on the wire; read with [`ClusterVm::is_template`]).
    #[serde(default)]
    pub template: Value,
    /// Its tags, `;`-separated, as PVE stores them.
    #[serde(default)]
    pub tags: Option<String>,
    /// The resource pool it is in, if any.
    #[serde(default)]
    pub pool: Option<String>,
}

impl ClusterVm {
    /// The VMID as a number; `None` if the answer had none.
    pub fn id(&self) -> Option<i64> {
        num(&self.vmid)
    }
    /// `template` is 1.
    pub fn is_template(&self) -> bool {
        num(&self.template) == Some(1)
    }
}

/// One node from `/nodes` (every field listed in [`RESPONSE_FIELDS`](super::RESPONSE_FIELDS)).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NodeInfo {
    /// The node name.
    pub node: String,
    /// `online`, `offline` or `unknown` (schema enum).
    #[serde(default)]
    pub status: Option<String>,
    /// Number of CPUs (integer; optional in the schema: `Null` if absent).
    #[serde(default)]
    pub maxcpu: Value,
    /// Memory in bytes (integer; optional in the schema: `Null` if absent).
    #[serde(default)]
    pub maxmem: Value,
}

/// A clone gate: shared until the source shows lock contention, then exclusive.
#[derive(Debug)]
pub(super) struct Gate {
    sem: Arc<Semaphore>,
    exclusive: std::sync::atomic::AtomicBool,
}

impl Client {
    /// Run `op(vmid)` with a VMID no one else in this process holds; on
    /// "already exists" (another client won), try the next free one.
    pub(super) async fn allocate_vmid<T, F, Fut>(&self, mut op: F) -> Result<(i64, T), ApiError>
    where
        F: FnMut(i64) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut skip: BTreeSet<i64> = BTreeSet::new();
        for _ in 0..32 {
            let id = {
                let _g = self.alloc.lock().await;
                let next = self.get("/cluster/nextid", &[]).await?;
                let mut id = num(&next).ok_or_else(|| ApiError::Decode {
                    path: "/cluster/nextid".into(),
                    message: format!("{next} is not a VMID"),
                })?;
                let mut r = lock(&self.reserved);
                while r.contains(&id) || skip.contains(&id) {
                    id += 1;
                }
                r.insert(id);
                id
            };
            let out = op(id).await;
            lock(&self.reserved).remove(&id);
            match out {
                Ok(t) => return Ok((id, t)),
                Err(e) if e.is_already_exists() => {
                    tracing::debug!(id, "VMID taken meanwhile; trying the next");
                    skip.insert(id);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::Decode {
            path: "/cluster/nextid".into(),
            message: "no free VMID after 32 attempts".into(),
        })
    }

    /// Enter the clone gate of `source` (held for the whole clone).
    pub(super) async fn clone_gate(&self, source: i64) -> Option<OwnedSemaphorePermit> {
        let gate = {
            let mut g = lock(&self.gates);
            g.entry(source)
                .or_insert_with(|| {
                    Arc::new(Gate {
                        sem: Arc::new(Semaphore::new(GATE_PERMITS as usize)),
                        exclusive: std::sync::atomic::AtomicBool::new(false),
                    })
                })
                .clone()
        };
        let n = if gate.exclusive.load(std::sync::atomic::Ordering::Relaxed) {
            GATE_PERMITS
        } else {
            1
        };
        // The semaphore is never closed, so this is always `Some`.
        gate.sem.clone().acquire_many_owned(n).await.ok()
    }

    /// The source of a clone showed lock contention: clone it one at a time.
    pub(super) fn clone_contention(&self, source: i64) {
        if let Some(g) = lock(&self.gates).get(&source) {
            g.exclusive
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Cluster nodes, read once per provider process (one Terraform
    /// command): plans check `node` against it.
    pub async fn nodes(&self) -> Result<Arc<Vec<NodeInfo>>, ApiError> {
        let mut c = self.nodes.lock().await;
        if let Some((_, v)) = c.as_ref() {
            return Ok(v.clone());
        }
        let v = self.get("/nodes", &[]).await?;
        let list: Vec<NodeInfo> = serde_json::from_value(v).map_err(|e| ApiError::Decode {
            path: "/nodes".into(),
            message: e.to_string(),
        })?;
        let list = Arc::new(list);
        *c = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Every VM in the cluster (cached; may lag behind reality).
    pub async fn cluster_vms(&self) -> Result<Arc<Vec<ClusterVm>>, ApiError> {
        let mut c = self.cluster_vms.lock().await;
        if let Some((at, v)) = c.as_ref()
            && at.elapsed() < LIST_TTL
        {
            return Ok(v.clone());
        }
        let q = vec![("type".to_string(), "vm".to_string())];
        let v = self.get("/cluster/resources", &q).await?;
        let list: Vec<ClusterVm> = serde_json::from_value(v).map_err(|e| ApiError::Decode {
            path: "/cluster/resources".into(),
            message: e.to_string(),
        })?;
        let list: Vec<ClusterVm> = list.into_iter().filter(|r| r.kind == "qemu").collect();
        let list = Arc::new(list);
        *c = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Every VM in the cluster, read now (not from the cache).
    pub async fn cluster_vms_now(&self) -> Result<Arc<Vec<ClusterVm>>, ApiError> {
        *self.cluster_vms.lock().await = None;
        self.cluster_vms().await
    }

    /// Forget cached lists (after a change).
    pub async fn invalidate(&self) {
        *self.cluster_vms.lock().await = None;
    }
}

//! Resource pool membership: `PUT /pools` (PVE 8.1+; `/pools/{poolid}` is
//! deprecated).

use super::vm::kv;
use super::{ApiError, Client};

impl Client {
    /// Put VM `vmid` into `pool` (which must exist), moving it out of the
    /// pool it is in (`allow-move`) in one step.
    pub async fn add_to_pool(&self, pool: &str, vmid: i64) -> Result<(), ApiError> {
        let form = vec![
            kv("poolid", pool),
            kv("vms", vmid.to_string()),
            kv("allow-move", "1"),
        ];
        self.put("/pools", &form).await.map(|_| ())
    }

    /// Take VM `vmid` out of `pool`; `Ok` when it is not a member (taken
    /// out behind our back).
    pub async fn remove_from_pool(&self, pool: &str, vmid: i64) -> Result<(), ApiError> {
        let form = vec![
            kv("poolid", pool),
            kv("vms", vmid.to_string()),
            kv("delete", "1"),
        ];
        match self.put("/pools", &form).await {
            Ok(_) => Ok(()),
            Err(e) if e.message().contains("not a pool member") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::client::testing::sim_client;

    /// A VM moves from pool to pool in one step; taking it out of a pool it
    /// is not in succeeds.
    #[tokio::test]
    async fn pool_membership_moves_and_leaves() {
        let (sim, c) = sim_client();
        sim.add_pool("a");
        sim.add_pool("b");
        sim.insert_vm(180, "pve1", &[]);
        c.add_to_pool("a", 180).await.expect("added");
        assert_eq!(sim.vm_pool(180).as_deref(), Some("a"));
        c.add_to_pool("b", 180).await.expect("moved");
        assert_eq!(sim.vm_pool(180).as_deref(), Some("b"));
        c.remove_from_pool("a", 180)
            .await
            .expect("not a member of a: nothing to do");
        assert_eq!(sim.vm_pool(180).as_deref(), Some("b"));
        c.remove_from_pool("b", 180).await.expect("removed");
        assert_eq!(sim.vm_pool(180), None);
        let e = c.add_to_pool("nope", 180).await.expect_err("no such pool");
        assert!(e.to_string().contains("nope"), "{e}");
    }
}

//! Fault matrix: Proxmox VE (a VM created from scratch and a clone of the
//! seeded template; creates and clones are asynchronous tasks), with lock
//! contention on an update.

use std::time::Duration;

use anyhow::{Result, anyhow, ensure};
use labforge_simulators::proxmox::{ADMIN_TOKEN, SEED_TEMPLATE};

use crate::support::faults::{ADVICE, Target, check, run_matrix};
use crate::support::proxmox::{admin, sim};

fn body(cores: u32) -> String {
    format!(
        r#"resource "homelab_proxmox_vm" "plain" {{
  node    = "pve1"
  vm_id   = 200
  name    = "plain"
  started = false
  cpu     = {{ cores = {cores} }}
  disk    = {{ scsi0 = {{ storage = "local-lvm", size = 2 }} }}
}}

resource "homelab_proxmox_vm" "cloned" {{
  node    = "pve1"
  vm_id   = 201
  name    = "cloned"
  started = false
  clone {{
    vm_id = {SEED_TEMPLATE}
  }}
  cpu = {{ cores = {cores} }}
}}
"#
    )
}

#[test]
fn proxmox_fault_matrix() {
    let _ = ADMIN_TOKEN;
    let sim = sim();
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    let target = Target {
        name: "proxmox",
        config: admin(&sim, &body(1)),
        changed: admin(&sim, &body(2)),
        objects: 2,
        faults: sim.faults().clone(),
        counters: sim.counters().clone(),
        is_write: |m, _| m != "GET",
        on_backend: Box::new(move || {
            s1.list_vms()
                .into_iter()
                .filter(|v| *v != SEED_TEMPLATE)
                .map(|v| format!("vm:{v}"))
                .collect()
        }),
        in_state: |ty, a| {
            (ty == "homelab_proxmox_vm").then(|| a["vm_id"].as_u64().map(|v| format!("vm:{v}")))?
        },
        in_state_many: None,
        out_of_band: Box::new(move || -> Result<()> {
            s2.modify_vm(200, &[("cores", "8")], &[])
                .map_err(|e| anyhow!(e))?;
            ensure!(s2.delete_vm(201), "delete VM 201");
            Ok(())
        }),
        advice: ADVICE,
        contention: Some(Box::new(move || {
            // Another operation holds VM 200's lock for 3 s.
            let guard = s3.hold_vm_lock(200);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(3));
                drop(guard);
            });
        })),
    };
    let fig = run_matrix(&target).unwrap();
    check(&fig).unwrap();
}

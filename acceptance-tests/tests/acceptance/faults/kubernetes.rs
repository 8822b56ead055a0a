//! Fault matrix: Kubernetes (MetalLB: an address pool, an L2 advertisement
//! of it and a community, by server-side apply).

use anyhow::{Result, ensure};
use labforge_simulators::kubernetes::{KubernetesSim, METALLB_NAMESPACE};
use serde_json::Value;

use crate::support::faults::{ADVICE, Target, check, run_matrix};
use crate::support::kubernetes::{hcl, sim};

const KINDS: [(&str, &str); 3] = [
    ("homelab_metallb_ip_address_pool", "ipaddresspools"),
    ("homelab_metallb_l2_advertisement", "l2advertisements"),
    ("homelab_metallb_community", "communities"),
];

fn body(range: &str) -> String {
    format!(
        r#"resource "homelab_metallb_ip_address_pool" "pool" {{
  name      = "fm-pool"
  addresses = ["{range}"]
}}

resource "homelab_metallb_l2_advertisement" "l2" {{
  name             = "fm-l2"
  ip_address_pools = [homelab_metallb_ip_address_pool.pool.name]
}}

resource "homelab_metallb_community" "c" {{
  name        = "fm-c"
  communities = {{ "no-export" = "65535:65281" }}
}}
"#
    )
}

fn on_backend(sim: &KubernetesSim) -> Vec<String> {
    KINDS
        .iter()
        .flat_map(|(_, plural)| {
            sim.objects(plural)
                .into_iter()
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                .map(move |n| format!("{plural}/{n}"))
        })
        .collect()
}

fn in_state(ty: &str, a: &Value) -> Option<String> {
    let (_, plural) = KINDS.iter().find(|(t, _)| *t == ty)?;
    Some(format!("{plural}/{}", a["name"].as_str()?))
}

#[test]
fn kubernetes_fault_matrix() {
    let sim = sim();
    let (s1, s2) = (sim.clone(), sim.clone());
    let target = Target {
        name: "kubernetes",
        config: hcl(&sim, &body("192.168.50.10-192.168.50.20")),
        changed: hcl(&sim, &body("192.168.50.10-192.168.50.30")),
        objects: 3,
        faults: sim.faults().clone(),
        counters: sim.counters().clone(),
        is_write: |m, _| m != "GET",
        on_backend: Box::new(move || on_backend(&s1)),
        in_state,
        in_state_many: None,
        // A delete only: a change by another field manager (kubectl edit)
        // is a conflict until forced, by design (metallb.rs tests it).
        out_of_band: Box::new(move || -> Result<()> {
            ensure!(s2.delete("l2advertisements", METALLB_NAMESPACE, "fm-l2"));
            Ok(())
        }),
        advice: ADVICE,
        contention: None,
    };
    let fig = run_matrix(&target).unwrap();
    check(&fig).unwrap();
}

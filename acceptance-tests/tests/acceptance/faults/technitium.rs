//! Fault matrix: Technitium DNS (a zone and three records).

use anyhow::{Result, anyhow};
use labforge_simulators::technitium::{ADMIN_TOKEN, TechnitiumSim};
use serde_json::Value;
use std::rc::Rc;

use crate::support::REQUIRED_PROVIDERS;
use crate::support::faults::{ADVICE, Target, check, run_matrix};

const ZONE: &str = "faults.test";
const TYPES: [&str; 3] = ["A", "TXT", "CNAME"];

/// The Technitium calls that change something.
fn is_write(_method: &str, route: &str) -> bool {
    matches!(
        route,
        "/api/zones/create"
            | "/api/zones/delete"
            | "/api/zones/enable"
            | "/api/zones/disable"
            | "/api/zones/records/add"
            | "/api/zones/records/update"
            | "/api/zones/records/delete"
    )
}

fn config(sim: &TechnitiumSim, www: &str, txt: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  technitium {{
    url   = "{url}"
    token = "{ADMIN_TOKEN}"
  }}
}}

resource "homelab_technitium_zone" "z" {{
  name = "{ZONE}"
}}

resource "homelab_technitium_dns_record" "www" {{
  zone  = homelab_technitium_zone.z.name
  name  = "www"
  type  = "A"
  value = "{www}"
}}

resource "homelab_technitium_dns_record" "txt" {{
  zone  = homelab_technitium_zone.z.name
  name  = "txt"
  type  = "TXT"
  value = "{txt}"
}}

resource "homelab_technitium_dns_record" "alias" {{
  zone  = homelab_technitium_zone.z.name
  name  = "alias"
  type  = "CNAME"
  value = "www.{ZONE}"
}}
"#,
        url = sim.base_url()
    )
}

fn on_backend(sim: &TechnitiumSim) -> Vec<String> {
    let mut keys = Vec::new();
    if sim.zone_names().iter().any(|z| z == ZONE) {
        keys.push(format!("zone:{ZONE}"));
    }
    for r in sim.zone_records(ZONE).unwrap_or_default() {
        let ty = r["type"].as_str().unwrap_or_default();
        if TYPES.contains(&ty) {
            let name = r["name"].as_str().unwrap_or_default().to_ascii_lowercase();
            keys.push(format!("rec:{name}/{ty}"));
        }
    }
    keys
}

fn in_state(ty: &str, a: &Value) -> Option<String> {
    match ty {
        "homelab_technitium_zone" => Some(format!("zone:{}", a["name"].as_str()?)),
        "homelab_technitium_dns_record" => Some(format!(
            "rec:{}.{}/{}",
            a["name"].as_str()?.to_ascii_lowercase(),
            a["zone"].as_str()?.trim_end_matches('.'),
            a["type"].as_str()?
        )),
        _ => None,
    }
}

#[test]
fn technitium_fault_matrix() {
    let sim = Rc::new(TechnitiumSim::start().unwrap());
    let (s1, s2) = (sim.clone(), sim.clone());
    let target = Target {
        name: "technitium",
        config: config(&sim, "10.0.0.1", "one"),
        changed: config(&sim, "10.0.0.2", "two"),
        objects: 4,
        faults: sim.faults().clone(),
        counters: sim.counters().clone(),
        is_write,
        on_backend: Box::new(move || on_backend(&s1)),
        in_state,
        in_state_many: None,
        out_of_band: Box::new(move || -> Result<()> {
            let www = format!("www.{ZONE}");
            let alias = format!("alias.{ZONE}");
            s2.update_record(&[
                ("zone", ZONE),
                ("domain", &www),
                ("type", "A"),
                ("ipAddress", "10.0.0.1"),
                ("newIpAddress", "10.9.9.9"),
            ])
            .map_err(|e| anyhow!(e))?;
            s2.delete_record(&[
                ("zone", ZONE),
                ("domain", &alias),
                ("type", "CNAME"),
                ("cname", &www),
            ])
            .map_err(|e| anyhow!(e))?;
            Ok(())
        }),
        advice: ADVICE,
        contention: None,
    };
    let fig = run_matrix(&target).unwrap();
    check(&fig).unwrap();
}

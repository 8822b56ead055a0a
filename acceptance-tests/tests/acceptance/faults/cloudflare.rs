//! Fault matrix: Cloudflare DNS (three records of different types).

use std::rc::Rc;

use anyhow::{Result, anyhow};
use labforge_simulators::cloudflare::{CloudflareSim, EDIT_TOKEN, ZONE_EXAMPLE_COM};
use serde_json::{Value, json};

use crate::support::REQUIRED_PROVIDERS;
use crate::support::faults::{ADVICE, Target, check, run_matrix};

const Z: &str = ZONE_EXAMPLE_COM;
/// Every record of the matrix lives under this name.
const SUFFIX: &str = "f.example.com";

fn config(sim: &CloudflareSim, www: &str, txt: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  cloudflare {{
    api_token           = "{EDIT_TOKEN}"
    base_url            = "{url}"
    requests_per_second = 100
    max_retries         = 3
  }}
}}

resource "homelab_cloudflare_dns_record" "www" {{
  zone_id = "{Z}"
  name    = "www.{SUFFIX}"
  type    = "A"
  content = "{www}"
}}

resource "homelab_cloudflare_dns_record" "txt" {{
  zone_id = "{Z}"
  name    = "txt.{SUFFIX}"
  type    = "TXT"
  content = "\"{txt}\""
}}

resource "homelab_cloudflare_dns_record" "alias" {{
  zone_id = "{Z}"
  name    = "alias.{SUFFIX}"
  type    = "CNAME"
  content = "www.{SUFFIX}"
}}
"#,
        url = sim.base_url()
    )
}

fn ours(sim: &CloudflareSim) -> Vec<Value> {
    sim.records(Z)
        .into_iter()
        .filter(|r| r["name"].as_str().is_some_and(|n| n.ends_with(SUFFIX)))
        .collect()
}

fn id_of(sim: &CloudflareSim, name: &str) -> Result<String> {
    ours(sim)
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .ok_or_else(|| anyhow!("no record {name}"))
}

#[test]
fn cloudflare_fault_matrix() {
    let sim = Rc::new(CloudflareSim::start().unwrap());
    let (s1, s2) = (sim.clone(), sim.clone());
    let target = Target {
        name: "cloudflare",
        config: config(&sim, "10.0.0.1", "one"),
        changed: config(&sim, "10.0.0.2", "two"),
        objects: 3,
        faults: sim.faults().clone(),
        counters: sim.counters().clone(),
        is_write: |m, _| m != "GET",
        on_backend: Box::new(move || {
            ours(&s1)
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        }),
        in_state: |ty, a| {
            (ty == "homelab_cloudflare_dns_record").then(|| a["id"].as_str().map(str::to_string))?
        },
        in_state_many: None,
        out_of_band: Box::new(move || -> Result<()> {
            let www = id_of(&s2, &format!("www.{SUFFIX}"))?;
            let alias = id_of(&s2, &format!("alias.{SUFFIX}"))?;
            s2.patch_record(Z, &www, json!({ "content": "10.9.9.9" }))
                .map_err(|e| anyhow!(e))?;
            anyhow::ensure!(s2.delete_record(Z, &alias), "delete {alias}");
            Ok(())
        }),
        advice: ADVICE,
        contention: None,
    };
    let fig = run_matrix(&target).unwrap();
    check(&fig).unwrap();
}

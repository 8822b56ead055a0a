//! Fault matrix: RouterOS (a filter rule, an address-list entry, a static
//! DNS entry and a two-rule ruleset in the forward chain).

use anyhow::{Result, anyhow};
use labforge_simulators::routeros::{ADDRESS_LIST, DNS_STATIC, FILTER, RouterosSim};
use serde_json::Value;

use crate::support::faults::{ADVICE, Target, check, run_matrix};
use crate::support::routeros::{hcl, sim};

fn body(port: u16, nas: &str) -> String {
    format!(
        r#"resource "homelab_routeros_firewall_filter" "ssh" {{
  chain    = "input"
  action   = "accept"
  protocol = "tcp"
  dst_port = "{port}"
  comment  = "fm ssh"
}}

resource "homelab_routeros_firewall_address_list" "lan" {{
  list    = "fmlist"
  address = "10.9.0.0/24"
  comment = "fm lan"
}}

resource "homelab_routeros_dns_static" "nas" {{
  name    = "fm.lan"
  address = "{nas}"
  comment = "fm nas"
}}

resource "homelab_routeros_firewall_ruleset" "fwd" {{
  table = "filter"
  chain = "forward"
  rules = [
    {{ action = "accept", protocol = "udp", dst_port = "53", comment = "fm dns" }},
    {{ action = "drop", comment = "fm rest" }},
  ]
}}
"#
    )
}

fn comment(i: &Value) -> &str {
    i["comment"].as_str().unwrap_or_default()
}

fn id_by_comment(sim: &RouterosSim, menu: &str, c: &str) -> Result<String> {
    sim.items(menu)
        .iter()
        .find(|i| comment(i) == c)
        .and_then(|i| i[".id"].as_str().map(str::to_string))
        .ok_or_else(|| anyhow!("no {menu} item {c}"))
}

fn on_backend(sim: &RouterosSim) -> Vec<String> {
    let mut keys = Vec::new();
    for menu in [FILTER, ADDRESS_LIST, DNS_STATIC] {
        for i in sim.items(menu) {
            let c = comment(&i);
            if c.starts_with("fm ") {
                keys.push(format!("{menu}:{}", i[".id"].as_str().unwrap_or_default()));
            }
        }
    }
    // The ruleset owns every rule marked `[homelab]` in its chain: one key
    // for them all (a rule written but not in the state's `rules` yet is
    // still the ruleset's, found by its next read).
    let chain = sim
        .items(FILTER)
        .into_iter()
        .filter(|i| i["chain"] == "forward" && comment(i).starts_with("[homelab]"));
    if chain.count() > 0 {
        keys.push("ruleset:filter/forward".to_string());
    }
    keys
}

fn in_state(ty: &str, a: &Value) -> Option<String> {
    // Item ids (`*1`) count per menu.
    let menu = match ty {
        "homelab_routeros_firewall_ruleset" => {
            return Some(format!("ruleset:{}", a["id"].as_str()?));
        }
        "homelab_routeros_firewall_filter" => FILTER,
        "homelab_routeros_firewall_address_list" => ADDRESS_LIST,
        "homelab_routeros_dns_static" => DNS_STATIC,
        _ => return None,
    };
    Some(format!("{menu}:{}", a["id"].as_str()?))
}

#[test]
fn routeros_fault_matrix() {
    let sim = sim();
    let (s1, s2) = (sim.clone(), sim.clone());
    let target = Target {
        name: "routeros",
        config: hcl(&sim, &body(22, "10.0.0.10")),
        changed: hcl(&sim, &body(2222, "10.0.0.11")),
        objects: 4,
        faults: sim.faults().clone(),
        counters: sim.counters().clone(),
        is_write: |m, r| m != "GET" && !r.ends_with("/print"),
        on_backend: Box::new(move || on_backend(&s1)),
        in_state,
        in_state_many: None,
        out_of_band: Box::new(move || -> Result<()> {
            let ssh = id_by_comment(&s2, FILTER, "fm ssh")?;
            s2.set(FILTER, &ssh, &[("dst-port", "23")])
                .map_err(|e| anyhow!(e))?;
            let nas = id_by_comment(&s2, DNS_STATIC, "fm nas")?;
            s2.remove(DNS_STATIC, &nas).map_err(|e| anyhow!(e))?;
            Ok(())
        }),
        advice: ADVICE,
        contention: None,
    };
    let fig = run_matrix(&target).unwrap();
    check(&fig).unwrap();
}

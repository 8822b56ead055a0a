//! Fault matrix: pfSense (an alias, two rules on LAN and WAN and a
//! two-rule ruleset on DMZ; every change is followed by the filter apply).

use anyhow::{Result, anyhow};
use labforge_simulators::pfsense::PfsenseSim;
use serde_json::{Value, json};

use crate::support::faults::{ADVICE, Target, check, run_matrix};
use crate::support::pfsense::{hcl, sim};

fn body(port: u16, host: &str) -> String {
    format!(
        r#"resource "homelab_pfsense_firewall_alias" "hosts" {{
  name    = "fm_hosts"
  type    = "host"
  entries = [{{ address = "{host}" }}]
}}

resource "homelab_pfsense_firewall_rule" "ssh" {{
  interface        = "LAN"
  type             = "pass"
  protocol         = "tcp"
  source           = "LAN"
  destination      = "LAN:ip"
  destination_port = "{port}"
  description      = "fm ssh"
}}

resource "homelab_pfsense_firewall_ruleset" "dmz" {{
  interface = "DMZ"
  rules = [
    {{ type = "pass", protocol = "udp", source = "DMZ", destination = "DMZ:ip", destination_port = "53", description = "fm dns" }},
    {{ type = "block", source = "DMZ", description = "fm rest" }},
  ]
}}

resource "homelab_pfsense_firewall_rule" "block" {{
  interface   = "WAN"
  type        = "block"
  source      = "203.0.113.9"
  description = "fm block"
}}
"#
    )
}

fn on_backend(sim: &PfsenseSim) -> Vec<String> {
    let mut keys: Vec<String> = sim
        .aliases()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .filter(|n| n.starts_with("fm_"))
        .map(|n| format!("alias:{n}"))
        .collect();
    keys.extend(
        sim.rules()
            .iter()
            .filter_map(|r| r["descr"].as_str())
            .filter(|d| d.starts_with("fm "))
            .map(|d| format!("rule:{d}")),
    );
    // The ruleset owns every rule marked `[homelab]` on its interface.
    if !crate::support::pfsense::owned(&sim.interface_rules("DMZ")).is_empty() {
        keys.push("ruleset:DMZ".to_string());
    }
    keys
}

fn in_state(ty: &str, a: &Value) -> Option<String> {
    match ty {
        "homelab_pfsense_firewall_alias" => Some(format!("alias:{}", a["name"].as_str()?)),
        "homelab_pfsense_firewall_rule" => Some(format!("rule:{}", a["description"].as_str()?)),
        "homelab_pfsense_firewall_ruleset" => Some(format!("ruleset:{}", a["interface"].as_str()?)),
        _ => None,
    }
}

#[test]
fn pfsense_fault_matrix() {
    let sim = sim();
    // Every rule is made "in the same second": they all share a tracker
    // (pfSense's `time()`), the hardest case for finding a rule again.
    sim.set_clock(Some(1_800_000_000));
    let (s1, s2) = (sim.clone(), sim.clone());
    let target = Target {
        name: "pfsense",
        config: hcl(&sim, &body(22, "10.0.0.20")),
        changed: hcl(&sim, &body(2222, "10.0.0.21")),
        objects: 4,
        faults: sim.faults().clone(),
        counters: sim.counters().clone(),
        is_write: |m, _| m != "GET",
        on_backend: Box::new(move || on_backend(&s1)),
        in_state,
        in_state_many: None,
        out_of_band: Box::new(move || -> Result<()> {
            let rules = s2.rules();
            let ssh = rules
                .iter()
                .position(|r| r["descr"] == "fm ssh")
                .ok_or_else(|| anyhow!("no rule fm ssh"))?;
            s2.edit_rule(ssh, &[("destination_port", json!("23"))])
                .map_err(|e| anyhow!(e))?;
            // Both rules share a tracker (the clock stands still): the one
            // left must not be taken for the one deleted.
            let block = rules
                .iter()
                .position(|r| r["descr"] == "fm block")
                .ok_or_else(|| anyhow!("no rule fm block"))?;
            anyhow::ensure!(
                rules[ssh]["tracker"] == rules[block]["tracker"],
                "the rules do not share a tracker: {rules:?}"
            );
            s2.delete_rule(block).map_err(|e| anyhow!(e))?;
            let alias = s2
                .aliases()
                .iter()
                .position(|a| a["name"] == "fm_hosts")
                .ok_or_else(|| anyhow!("no alias fm_hosts"))?;
            s2.delete_alias(alias).map_err(|e| anyhow!(e))?;
            s2.apply_now();
            Ok(())
        }),
        advice: ADVICE,
        contention: None,
    };
    let fig = run_matrix(&target).unwrap();
    check(&fig).unwrap();
}

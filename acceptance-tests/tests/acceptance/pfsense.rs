//! Acceptance tests of the pfSense backend through the real CLI against the
//! pfSense-pkg-RESTAPI simulator: `homelab_pfsense_firewall_ruleset` (one
//! interface's rules, in order), `homelab_pfsense_firewall_alias` and
//! `homelab_pfsense_firewall_rule`.
//!
//! Every test: apply, empty plan, import, drift, destroy, nothing of ours
//! left. Applies are counted: what is written is live only after one.

#![allow(clippy::unwrap_used)]

mod nat;

use anyhow::{Result, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase, Workdir};
use labforge_simulators::common::Fault;
use labforge_simulators::pfsense::{
    ADMIN_KEY, Mode, PfsenseSim, READER_KEY, READER_PASSWORD, READER_USER,
};
use serde_json::{Value, json};

use crate::support::pfsense::{
    check_no_window, descrs, hcl, hcl_with, login, owned, owned_descrs, packets, sim,
};

const RS: &str = "homelab_pfsense_firewall_ruleset";
const AL: &str = "homelab_pfsense_firewall_alias";
const FR: &str = "homelab_pfsense_firewall_rule";

fn rs(name: &str) -> String {
    format!("{RS}.{name}")
}

/// Rules by short name, as HCL objects.
fn rule(name: &str) -> &'static str {
    match name {
        "ssh" => {
            r#"{ type = "pass", protocol = "tcp", source = "10.0.0.0/24", destination = "LAN:ip", destination_port = "22", description = "lan ssh" }"#
        }
        "ssh2" => {
            r#"{ type = "pass", protocol = "tcp", source = "10.0.0.0/24", destination = "LAN:ip", destination_port = "22", description = "ssh to the firewall", log = true }"#
        }
        "dns" => {
            r#"{ type = "pass", protocol = "udp", source = "LAN", destination = "LAN:ip", destination_port = "53", description = "dns" }"#
        }
        "web" => {
            r#"{ type = "pass", protocol = "tcp", source = "LAN", destination_port = "443", description = "web" }"#
        }
        "web2" => {
            r#"{ type = "pass", protocol = "tcp", source = "LAN", destination_port = "443:8443", description = "web" }"#
        }
        "icmp" => {
            r#"{ type = "pass", protocol = "icmp", icmptype = ["echoreq"], description = "ping" }"#
        }
        "smtp" => {
            r#"{ type = "block", protocol = "tcp", destination_port = "25", description = "no smtp" }"#
        }
        "deny" => r#"{ type = "block", log = true, description = "default deny" }"#,
        other => panic!("no rule {other}"),
    }
}

/// A ruleset `lan` on the LAN interface with these rules, in order.
fn ruleset(names: &[&str]) -> String {
    let rules: Vec<String> = names.iter().map(|n| format!("    {}", rule(n))).collect();
    format!(
        "resource \"{RS}\" \"lan\" {{\n  interface = \"LAN\"\n  rules = [\n{}\n  ]\n}}\n",
        rules.join(",\n")
    )
}

/// Requests that change something (the apply aside).
fn writes(sim: &PfsenseSim) -> u64 {
    sim.counters()
        .snapshot()
        .iter()
        .filter(|((m, p), _)| m != "GET" && p != "/api/v2/firewall/apply")
        .map(|(_, n)| n)
        .sum()
}

/// Runs `plan` (with refresh), which must be empty; returns the requests
/// it made, all reads.
fn measure_refresh(sim: &PfsenseSim, wd: &Workdir, what: &str) -> Result<u64> {
    crate::support::refresh_cost("pfsense", sim.counters(), wd, 0, what, |m, p| {
        m != "GET" && p != "/api/v2/firewall/apply"
    })
}

/// The LAN's stored rules equal its running ones (everything applied).
fn live_is_config(sim: &PfsenseSim) -> Result<()> {
    let (c, l) = (sim.interface_rules("LAN"), sim.live_rules("LAN"));
    ensure!(
        descrs(&c) == descrs(&l),
        "not applied: stored {:?}, running {:?}",
        descrs(&c),
        descrs(&l)
    );
    Ok(())
}

const DEFAULTS: [&str; 2] = [
    "Default allow LAN to any rule",
    "Default allow LAN IPv6 to any rule",
];

#[test]
fn ruleset_create_reorder_insert_remove_import_and_drift() {
    let sim = sim();
    let cfg = |names: &[&str]| hcl(&sim, &ruleset(names));
    let v1 = ["ssh", "web", "icmp", "dns", "smtp", "deny"];
    // Reordered (dns up), inserted (web2 replaces web: ports), re-described (ssh).
    let v2 = ["ssh2", "dns", "web2", "icmp", "smtp", "deny"];
    // Removed (icmp, smtp).
    let v3 = ["ssh2", "dns", "web2", "deny"];
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5, s6, s7, s8, s9) = (c(), c(), c(), c(), c(), c(), c(), c(), c());
    let step1 = Step::config(cfg(&v1))
        .pre_step(move |_| {
            s1.counters().reset();
            Ok(())
        })
        .expect_action(&rs("lan"), Action::Create)
        .expect_attr(&rs("lan"), "id", "LAN")
        .expect_attr(&rs("lan"), "applied", true)
        .expect_attr(&rs("lan"), "rules.2.icmptype", json!(["echoreq"]))
        .expect_attr(&rs("lan"), "rules.0.ipprotocol", "inet")
        .expect_attr(&rs("lan"), "foreign_rules", json!([]))
        .check(move |st| {
            let rules = s2.interface_rules("LAN");
            ensure!(
                owned_descrs(&rules)
                    == ["lan ssh", "web", "ping", "dns", "no smtp", "default deny"],
                "{:?}",
                descrs(&rules)
            );
            // The block is on top; the default rules keep their order below it.
            ensure!(descrs(&rules)[6..] == DEFAULTS, "{:?}", descrs(&rules));
            ensure!(s2.applies() == 1, "one apply, not {}", s2.applies());
            live_is_config(&s2)?;
            let t = st.attr(&rs("lan"), "rules.0.tracker")?;
            ensure!(t.is_number(), "tracker {t}");
            Ok(())
        });
    let step2 = Step::config(cfg(&v2))
        .pre_step(move |ctx| {
            let n = measure_refresh(&s3, ctx.workdir, "ruleset of 6 rules")?;
            ensure!(
                s3.counters().get("GET", "/api/v2/firewall/rules") == 1,
                "refresh lists the rules once: {:?}",
                s3.counters().snapshot()
            );
            ensure!(n <= 3, "plan made {n} requests");
            s3.record("LAN");
            s3.counters().reset();
            Ok(())
        })
        .expect_action(&rs("lan"), Action::Update)
        // A moved rule keeps its tracker, known at plan; a replaced one's is not.
        .plan_check(|plan| {
            let after = plan.change(&rs("lan")).unwrap().after().clone();
            ensure!(after["rules"][1]["description"] == "dns", "{after}");
            ensure!(after["rules"][1]["tracker"].is_number(), "{after}");
            ensure!(after["rules"][2]["tracker"].is_null(), "unknown: {after}");
            Ok(())
        })
        .check(move |_| {
            let rules = s4.interface_rules("LAN");
            ensure!(
                owned_descrs(&rules)
                    == [
                        "ssh to the firewall",
                        "dns",
                        "web",
                        "ping",
                        "no smtp",
                        "default deny"
                    ],
                "{:?}",
                descrs(&rules)
            );
            let n = check_no_window(&s4.history(), &packets(), &[])?;
            let w = writes(&s4);
            eprintln!("[pfsense] reorder+insert+edit: {w} writes, {n} lists checked");
            // dns moved (1), ssh re-described in place (1), web2 created (1), old web deleted (1).
            ensure!(w <= 4, "{w} writes: {:?}", s4.counters().snapshot());
            ensure!(
                s4.counters().get("POST", "/api/v2/firewall/apply") == 1,
                "one apply for the whole change: {:?}",
                s4.counters().snapshot()
            );
            live_is_config(&s4)?;
            Ok(())
        });
    let step3 = Step::config(cfg(&v3))
        .pre_step(move |_| {
            s5.record("LAN");
            Ok(())
        })
        .check(move |_| {
            let rules = s6.interface_rules("LAN");
            ensure!(
                owned_descrs(&rules) == ["ssh to the firewall", "dns", "web", "default deny"],
                "{:?}",
                descrs(&rules)
            );
            check_no_window(&s6.history(), &packets(), &[])?;
            live_is_config(&s6)?;
            Ok(())
        });
    let drift = Step::plan_only(cfg(&v3))
        .pre_step(move |_| {
            // Behind Terraform's back: the default deny moved to the top, and
            // a hand-made pass-all in the middle of the block.
            let all = s7.rules();
            let pos = |d: &str| all.iter().position(|r| r["descr"] == d).unwrap();
            let deny = pos("[homelab] default deny");
            s7.move_rule(deny, pos("[homelab] ssh to the firewall"))
                .map_err(anyhow::Error::msg)?;
            let at = s7
                .rules()
                .iter()
                .position(|r| r["descr"] == "[homelab] dns")
                .unwrap();
            s7.add_rule(
                &[
                    ("type", json!("pass")),
                    ("interface", json!(["LAN"])),
                    ("ipprotocol", json!("inet")),
                    ("source", json!("any")),
                    ("destination", json!("any")),
                    ("descr", json!("debugging: pass all")),
                ],
                Some(at as i64),
            )
            .map_err(anyhow::Error::msg)?;
            Ok(())
        })
        .expect_action(&rs("lan"), Action::Update)
        .plan_check(|plan| {
            let after = plan.change(&rs("lan")).unwrap().after().clone();
            ensure!(after["foreign_rules"] == json!([]), "{after}");
            Ok(())
        });
    let fix = Step::config(cfg(&v3)).check(move |st| {
        let rules = s8.interface_rules("LAN");
        let d = descrs(&rules);
        ensure!(
            owned_descrs(&rules) == ["ssh to the firewall", "dns", "web", "default deny"],
            "{d:?}"
        );
        let deny = d
            .iter()
            .position(|x| x == "[homelab] default deny")
            .unwrap();
        let stray = d.iter().position(|x| x == "debugging: pass all");
        ensure!(
            stray.is_some_and(|s| s > deny),
            "the hand-made rule is kept, below the block: {d:?}"
        );
        ensure!(st.attr(&rs("lan"), "foreign_rules")? == &json!([]));
        live_is_config(&s8)?;
        Ok(())
    });
    TestCase::new()
        .provider(Provider::homelab())
        .step(step1)
        .step(step2)
        .step(step3)
        .step(Step::import(rs("lan")).import_state_verify())
        .step(drift)
        .step(fix)
        .check_destroy(move |_| {
            let rules = s9.interface_rules("LAN");
            ensure!(
                owned(&rules).is_empty(),
                "left behind: {:?}",
                descrs(&rules)
            );
            // Rules that are not ours stay, in their order.
            ensure!(
                descrs(&rules) == ["debugging: pass all", DEFAULTS[0], DEFAULTS[1]],
                "not ours, kept: {:?}",
                descrs(&rules)
            );
            live_is_config(&s9)?;
            Ok(())
        })
        .run();
}

/// `n` pass rules on ports 1000.. (in `order`) and a final deny.
fn port_ruleset(order: &[u16], extra: &[&str]) -> String {
    let mut rules: Vec<String> = order
        .iter()
        .map(|p| {
            format!(
                r#"    {{ type = "pass", protocol = "tcp", destination_port = "{}", description = "port {}" }}"#,
                1000 + p,
                1000 + p
            )
        })
        .collect();
    rules.extend(extra.iter().map(|e| format!("    {e}")));
    rules.push(format!("    {}", rule("deny")));
    format!(
        "resource \"{RS}\" \"lan\" {{\n  interface = \"LAN\"\n  rules = [\n{}\n  ]\n}}\n",
        rules.join(",\n")
    )
}

fn port_packets(n: u16) -> Vec<crate::support::pfsense::Packet> {
    (0..n)
        .map(|i| crate::support::pfsense::Packet {
            name: "port",
            protocol: "tcp",
            src: [10, 0, 0, 9],
            dst: [192, 0, 2, 1],
            dst_port: 1000 + i,
        })
        .chain(packets())
        .collect()
}

#[test]
fn one_apply_per_run_and_a_failed_apply_is_recorded_and_retried() {
    let sim = sim();
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5, s6, s7) = (c(), c(), c(), c(), c(), c(), c());
    let v1: Vec<u16> = (0..4).collect();
    let v2: Vec<u16> = vec![3, 2, 1, 0];
    let v3: Vec<u16> = vec![3, 2, 1];
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v1, &[]))).check(move |_| {
                ensure!(s1.applies() == 1, "{} applies", s1.applies());
                live_is_config(&s1)
            }),
        )
        // The same configuration: nothing written, nothing applied.
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v1, &[]))).check(move |_| {
                ensure!(s2.applies() == 1, "no change, no apply: {}", s2.applies());
                Ok(())
            }),
        )
        // The apply fails (pfSense's dispatcher queue is full): the message is
        // pfSense's, the rules are in the configuration but not live, and the
        // state says so.
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[])))
                .pre_step(move |_| {
                    s3.fail_applies(1);
                    Ok(())
                })
                .expect_error(
                    r"(?s)Unable to apply firewall ruleset.*DISPATCHER_TOO_MANY_QUEUED_PROCESSES.*maximum\s+of\s+`10`\s+processes.*not\s+live\s+yet",
                ),
        )
        .step(
            Step::plan_only(hcl(&sim, &port_ruleset(&v2, &[])))
                .pre_step(move |ctx| {
                    let st = ctx.workdir.state_json()?;
                    ensure!(st.attr(&rs("lan"), "applied")? == &json!(false));
                    // The state is the box's configuration: a refresh changes nothing.
                    ctx.workdir
                        .require_refresh_only_empty("after the failed apply")?;
                    let stored = owned_descrs(&s4.interface_rules("LAN"));
                    let running = owned_descrs(&s4.live_rules("LAN"));
                    ensure!(stored[0] == "port 1003" && running[0] == "port 1000",
                        "written but not live: {stored:?} / {running:?}");
                    s4.counters().reset();
                    Ok(())
                })
                // Only `applied` changes: the next apply applies again.
                .expect_action(&rs("lan"), Action::Update)
                .expect_planned(&rs("lan"), "applied", true),
        )
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[]))).check(move |_| {
                ensure!(
                    writes(&s5) == 0,
                    "nothing rewritten: {:?}",
                    s5.counters().snapshot()
                );
                ensure!(s5.counters().get("POST", "/api/v2/firewall/apply") == 1);
                live_is_config(&s5)
            }),
        )
        // A change and a lost answer to a delete: looked up, not resent.
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v3, &[])))
                .pre_step({
                    let s6 = s6.clone();
                    move |_| {
                    s6.counters().reset();
                    s6.faults().inject(
                        "DELETE",
                        "/api/v2/firewall/rule",
                        Fault::ResetAfterHandling,
                        1,
                    );
                    Ok(())
                }})
                .check(move |_| {
                    ensure!(s6.counters().get("DELETE", "/api/v2/firewall/rule") == 1);
                    ensure!(
                        owned_descrs(&s6.interface_rules("LAN"))
                            == ["port 1003", "port 1002", "port 1001", "default deny"]
                    );
                    ensure!(s6.counters().get("POST", "/api/v2/firewall/apply") == 1);
                    live_is_config(&s6)
                }),
        )
        .step(Step::import(rs("lan")).import_state_verify())
        .step(
            Step::plan_only(hcl(&sim, &port_ruleset(&v3, &[])))
                .pre_step({
                    let s = sim.clone();
                    move |_| {
                        let at = s.rules().iter().position(|r| r["descr"] == "[homelab] port 1002").unwrap();
                        s.delete_rule(at).map_err(anyhow::Error::msg)?;
                        Ok(())
                    }
                })
                .expect_action(&rs("lan"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &port_ruleset(&v3, &[]))).check({
            let s = sim.clone();
            move |_| {
                ensure!(owned_descrs(&s.interface_rules("LAN")) == ["port 1003", "port 1002", "port 1001", "default deny"]);
                live_is_config(&s)
            }
        }))
        .check_destroy(move |_| {
            ensure!(owned(&s7.interface_rules("LAN")).is_empty());
            live_is_config(&s7)
        })
        .run();
}

#[test]
fn a_failure_in_the_middle_of_a_reorder_leaves_a_safe_list_and_matching_state() {
    let sim = sim();
    let v1: Vec<u16> = (0..8).collect();
    let v2: Vec<u16> = vec![7, 6, 5, 4, 3, 2, 1, 0];
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5, s6) = (c(), c(), c(), c(), c(), c());
    let new_rule =
        r#"{ type = "pass", protocol = "udp", destination_port = "53", description = "dns" }"#;
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl(&sim, &port_ruleset(&v1, &[]))))
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[])))
                .pre_step(move |_| {
                    s1.record("LAN");
                    s1.counters().reset();
                    // Three moves go through, the fourth is refused.
                    let f = s1.faults();
                    f.inject(
                        "PATCH",
                        "/api/v2/firewall/rule",
                        Fault::Delay(std::time::Duration::ZERO),
                        3,
                    );
                    f.inject("PATCH", "/api/v2/firewall/rule", Fault::Status(500), 1);
                    Ok(())
                })
                .expect_error(
                    r"(?s)Unable to update firewall ruleset.*HTTP\s+500.*The\s+apply\s+stopped\s+there",
                ),
        )
        .step(
            Step::refresh()
                .pre_step(move |ctx| {
                    ensure!(s2.faults().pending() == 0, "faults not all delivered");
                    // Nothing was applied: the running filter is the old list.
                    ensure!(s2.counters().get("POST", "/api/v2/firewall/apply") == 0);
                    let running = owned_descrs(&s2.live_rules("LAN"));
                    ensure!(running[0] == "port 1000", "{running:?}");
                    // Every stored list on the way gave each packet the old or the new verdict.
                    let n = check_no_window(&s2.history(), &port_packets(8), &[])?;
                    ensure!(n == 4, "three moves recorded: {n}");
                    // The state Terraform kept is the box's order, marked not applied.
                    let st = ctx.workdir.state_json()?;
                    ensure!(st.attr(&rs("lan"), "applied")? == &json!(false));
                    let rules = st.attr(&rs("lan"), "rules")?.as_array().unwrap().clone();
                    let in_state: Vec<String> = rules
                        .iter()
                        .map(|r| r["description"].as_str().unwrap().to_string())
                        .collect();
                    let stored = owned_descrs(&s2.interface_rules("LAN"));
                    ensure!(in_state == stored, "state {in_state:?} vs box {stored:?}");
                    ctx.workdir.require_refresh_only_empty("after the failure")?;
                    Ok(())
                })
                .expect_non_empty_plan(),
        )
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[]))).check(move |_| {
                let o = owned_descrs(&s3.interface_rules("LAN"));
                ensure!(o.first().map(String::as_str) == Some("port 1007"), "{o:?}");
                live_is_config(&s3)
            }),
        )
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[new_rule])))
                .pre_step(move |_| {
                    // The answer to the create is lost after pfSense made the rule:
                    // it is taken over, not made again; a read fails once.
                    s4.counters().reset();
                    let f = s4.faults();
                    f.inject("POST", "/api/v2/firewall/rule", Fault::ResetAfterHandling, 1);
                    f.inject("GET", "/api/v2/firewall/rules", Fault::Status(503), 1);
                    Ok(())
                })
                .check(move |_| {
                    let dns = owned_descrs(&s5.interface_rules("LAN"))
                        .iter()
                        .filter(|c| *c == "dns")
                        .count();
                    ensure!(dns == 1, "one dns rule, not {dns}");
                    ensure!(
                        s5.counters().get("POST", "/api/v2/firewall/rule") == 1,
                        "the create was not repeated"
                    );
                    live_is_config(&s5)
                }),
        )
        .step(Step::import(rs("lan")).import_state_verify())
        .step(
            Step::plan_only(hcl(&sim, &port_ruleset(&v2, &[new_rule])))
                .pre_step(move |_| {
                    let at = s6
                        .rules()
                        .iter()
                        .position(|r| r["descr"] == "[homelab] port 1003")
                        .unwrap();
                    s6.delete_rule(at).map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rs("lan"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &port_ruleset(&v2, &[new_rule]))))
        .check_destroy({
            let s = c();
            move |_| {
                ensure!(descrs(&s.interface_rules("LAN")) == DEFAULTS);
                live_is_config(&s)
            }
        })
        .run();
}

#[test]
fn rules_made_in_the_same_second_keep_their_identity() {
    // Every rule of the run gets the same tracker: the ruleset tells them apart
    // by their settings, and a rule resource by tracker and settings.
    let sim = sim();
    sim.set_clock(Some(1_800_000_000));
    let body = |order: &[u16], port: &str| {
        format!(
            r#"{}
resource "{FR}" "one" {{
  interface        = "LAN"
  type             = "pass"
  protocol         = "tcp"
  destination_port = "{port}"
  description      = "single"
}}
"#,
            port_ruleset(order, &[])
        )
    };
    let c = || sim.clone();
    let (s1, s2, s3) = (c(), c(), c());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, &body(&[0, 1, 2], "8080"))).check(move |st| {
                let rules = s1.interface_rules("LAN");
                let trackers: std::collections::BTreeSet<i64> = owned(&rules)
                    .iter()
                    .map(|r| r["tracker"].as_i64().unwrap())
                    .collect();
                ensure!(trackers.len() == 1, "one shared tracker: {trackers:?}");
                ensure!(st.attr(&format!("{FR}.one"), "tracker")? == &json!(1_800_000_000));
                Ok(())
            }),
        )
        .step(
            Step::config(hcl(&sim, &body(&[2, 1, 0], "8081"))).check(move |_| {
                let rules = s2.interface_rules("LAN");
                ensure!(
                    owned_descrs(&rules) == ["port 1002", "port 1001", "port 1000", "default deny"],
                    "{:?}",
                    descrs(&rules)
                );
                let single: Vec<&Value> = rules.iter().filter(|r| r["descr"] == "single").collect();
                ensure!(single.len() == 1 && single[0]["destination_port"] == "8081");
                Ok(())
            }),
        )
        .step(Step::import(rs("lan")).import_state_verify())
        .step(
            Step::import(format!("{FR}.one"))
                .import_id("1800000000/single")
                .import_state_verify(),
        )
        // Drift on both: a ruleset rule's port and the single rule's port.
        .step(
            Step::plan_only(hcl(&sim, &body(&[2, 1, 0], "8081")))
                .pre_step({
                    let s = sim.clone();
                    move |_| {
                        let all = s.rules();
                        let at = |d: &str| all.iter().position(|r| r["descr"] == d).unwrap();
                        s.edit_rule(
                            at("[homelab] port 1001"),
                            &[("destination_port", json!("1999"))],
                        )
                        .map_err(anyhow::Error::msg)?;
                        s.edit_rule(at("single"), &[("destination_port", json!("9999"))])
                            .map_err(anyhow::Error::msg)?;
                        Ok(())
                    }
                })
                .expect_action(&rs("lan"), Action::Update)
                .expect_action(&format!("{FR}.one"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &body(&[2, 1, 0], "8081"))).check({
            let s = sim.clone();
            move |_| {
                let rules = s.interface_rules("LAN");
                ensure!(rules.iter().any(
                    |r| r["descr"] == "[homelab] port 1001" && r["destination_port"] == "1001"
                ));
                ensure!(
                    rules
                        .iter()
                        .any(|r| r["descr"] == "single" && r["destination_port"] == "8081")
                );
                live_is_config(&s)
            }
        }))
        .check_destroy(move |_| {
            ensure!(descrs(&s3.interface_rules("LAN")) == DEFAULTS);
            Ok(())
        })
        .run();
}

fn alias_body(web_entries: &str, rules: &[&str]) -> String {
    let rules: Vec<String> = rules.iter().map(|r| format!("    {r}")).collect();
    format!(
        r#"resource "{AL}" "web" {{
  name        = "web_servers"
  type        = "host"
  description = "web servers"
  entries = [
{web_entries}
  ]
}}

resource "{AL}" "ports" {{
  name = "web_ports"
  type = "port"
  entries = [
    {{ address = "443" }},
    {{ address = "8000:8080", description = "dev servers" }},
  ]
}}

resource "{RS}" "lan" {{
  interface = "LAN"
  rules = [
{}
  ]
}}
"#,
        rules.join(",\n")
    )
}

const WEB_RULE: &str = r#"{ type = "pass", protocol = "tcp", source = "LAN", destination = homelab_pfsense_firewall_alias.web.name, destination_port = homelab_pfsense_firewall_alias.ports.name, description = "to the web servers" }"#;
const DENY: &str = r#"{ type = "block", description = "default deny" }"#;
/// The same rule naming the port alias by name only.
const WEB_RULE_LITERAL: &str = r#"{ type = "pass", protocol = "tcp", source = "LAN", destination = homelab_pfsense_firewall_alias.web.name, destination_port = "web_ports", description = "to the web servers" }"#;

/// The configuration without the `ports` alias resource.
fn without_ports(body: &str) -> String {
    let start = body.find(&format!("resource \"{AL}\" \"ports\"")).unwrap();
    let end = start + body[start..].find("\n}\n").unwrap() + 3;
    format!("{}{}", &body[..start], &body[end..])
}

fn alias(sim: &PfsenseSim, name: &str) -> Option<Value> {
    sim.aliases().into_iter().find(|a| a["name"] == name)
}

#[test]
fn aliases_with_rules_that_use_them() {
    let sim = sim();
    let e1 = r#"    { address = "10.0.0.20", description = "nas" },
    { address = "nas2.home.arpa" },"#;
    let e2 = r#"    { address = "10.0.0.20", description = "nas" },
    { address = "10.0.0.21", description = "backup" },"#;
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5, s6) = (c(), c(), c(), c(), c(), c());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, &alias_body(e1, &[WEB_RULE, DENY])))
                .expect_attr(&format!("{AL}.web"), "entries.1.description", "")
                .expect_attr(&format!("{AL}.web"), "applied", true)
                .check(move |_| {
                    let web = alias(&s1, "web_servers").unwrap();
                    ensure!(web["address"] == json!(["10.0.0.20", "nas2.home.arpa"]));
                    // One description per address: pfSense keeps no padding of its own.
                    ensure!(web["detail"] == json!(["nas", ""]), "{web}");
                    // The aliases apply together, the ruleset that uses them after them:
                    // Terraform starts it only once they are done.
                    ensure!(s1.applies() == 2, "{} applies", s1.applies());
                    ensure!(s1.live_aliases().len() == 2);
                    live_is_config(&s1)?;
                    ensure!(s1.filter_errors().is_empty(), "{:?}", s1.filter_errors());
                    Ok(())
                }),
        )
        // An alias change alone: updated in place, applied once.
        .step(
            Step::config(hcl(&sim, &alias_body(e2, &[WEB_RULE, DENY])))
                .pre_step(move |_| {
                    s2.counters().reset();
                    Ok(())
                })
                .expect_action(&format!("{AL}.web"), Action::Update)
                .expect_action(&rs("lan"), Action::NoOp)
                .check(move |_| {
                    ensure!(s3.counters().get("PATCH", "/api/v2/firewall/alias") == 1);
                    ensure!(s3.counters().get("POST", "/api/v2/firewall/apply") == 1);
                    let live = s3
                        .live_aliases()
                        .into_iter()
                        .find(|a| a["name"] == "web_servers")
                        .unwrap();
                    ensure!(live["address"] == json!(["10.0.0.20", "10.0.0.21"]));
                    Ok(())
                }),
        )
        .step(Step::import(format!("{AL}.web")).import_state_verify())
        .step(Step::import(format!("{AL}.ports")).import_state_verify())
        // Drift: an entry added in the GUI is taken out again.
        .step(
            Step::plan_only(hcl(&sim, &alias_body(e2, &[WEB_RULE, DENY])))
                .pre_step(move |_| {
                    let i = s4
                        .aliases()
                        .iter()
                        .position(|a| a["name"] == "web_servers")
                        .unwrap();
                    s4.edit_alias(
                        i,
                        &[
                            ("address", json!(["10.0.0.20", "10.0.0.21", "10.0.0.99"])),
                            ("detail", json!(["nas", "backup", "temporary"])),
                        ],
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&format!("{AL}.web"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &alias_body(e2, &[WEB_RULE, DENY]))))
        // An alias that a rule still uses is not deleted (pfSense would, and its
        // next filter reload would fail).
        .step(
            Step::config(hcl(&sim, &without_ports(&alias_body(e2, &[WEB_RULE_LITERAL, DENY]))))
            .pre_step(move |_| {
                s5.counters().reset();
                Ok(())
            })
            .expect_error(r#"(?s)alias\s+"web_ports"\s+is\s+still\s+used\s+by\s+rule\s+\d+\s+on\s+LAN\s+\("\[homelab\]\s+to\s+the\s+web\s+servers"\)"#),
        )
        .step(Step::config(hcl(&sim, &alias_body(e2, &[WEB_RULE, DENY]))))
        // The rule and the alias removed in one run: Terraform destroys the alias
        // before it updates the ruleset, so the alias is refused, with the way out.
        .step(
            Step::config(hcl(&sim, &without_ports(&alias_body(e2, &[DENY]))))
                .expect_error(r"(?s)Unable\s+to\s+delete\s+firewall\s+alias.*apply\s+the\s+rule\s+change,\s+then\s+remove\s+the\s+alias"),
        )
        // Rule first, then the alias.
        .step(Step::config(hcl(&sim, &alias_body(e2, &[DENY]))))
        .step(Step::config(hcl(&sim, &without_ports(&alias_body(e2, &[DENY])))).check(move |_| {
            ensure!(alias(&s6, "web_ports").is_none());
            ensure!(s6.filter_errors().is_empty(), "{:?}", s6.filter_errors());
            live_is_config(&s6)
        }))
        .check_destroy({
            let s = c();
            move |_| {
                ensure!(s.aliases().is_empty(), "{:?}", s.aliases());
                ensure!(descrs(&s.interface_rules("LAN")) == DEFAULTS);
                ensure!(s.filter_errors().is_empty(), "{:?}", s.filter_errors());
                live_is_config(&s)
            }
        })
        .run();
}

#[test]
fn bad_input_is_rejected_at_plan_naming_the_attribute() {
    let sim = sim();
    // What the configuration alone shows (validate).
    let invalid = format!(
        r#"resource "{RS}" "lan" {{
  interface = "LAN"
  rules = [
    {{ type = "pass", protocol = "icmp", destination_port = "22" }},
    {{ type = "pass", protocol = "tcp", destination_port = "8000-9000" }},
    {{ type = "pass", source = "!any" }},
    {{ type = "pass", destination = "10.0.0.0/33" }},
    {{ type = "pass", icmptype = ["echoreq"] }},
    {{ type = "allow" }},
    {{ type = "pass", protocol = "udp", statetype = "synproxy state" }},
  ]
}}

resource "{AL}" "feed" {{
  name    = "feed"
  type    = "urltable"
  entries = [{{ address = "https://example.com/list.txt" }}]
}}

resource "{AL}" "bad_name" {{
  name    = "web-servers"
  type    = "host"
  entries = [{{ address = "10.0.0.0/24" }}]
}}

resource "{FR}" "marked" {{
  interface   = "WAN"
  type        = "pass"
  description = "[homelab] sneaky"
}}
"#
    );
    // What needs the box: its interfaces and how its API names them (plan).
    let unknown_names = format!(
        r#"resource "{RS}" "lan" {{
  interface = "lan"
  rules = [
    {{ type = "pass", source = "wan:ip" }},
  ]
}}

resource "{RS}" "nowhere" {{
  interface = "dmz0"
  rules     = [{{ type = "block" }}]
}}

resource "{AL}" "named_like_an_interface" {{
  name    = "opt1"
  type    = "host"
  entries = [{{ address = "10.0.0.1" }}]
}}
"#
    );
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    for (body, expected) in [
        (
            &invalid,
            vec![
                "rules[0].destination_port: a port needs `protocol` \"tcp\", \"udp\" or \"tcp/udp\" (this rule's is \"icmp\")",
                r#"rules[1].destination_port: "8000-9000": pfSense separates port ranges with `:`, as in "8000:9000""#,
                "rules[2].source: `!any` matches nothing",
                r#"rules[3].destination: "10.0.0.0/33" is not a subnet pfSense accepts"#,
                "rules[4].icmptype: ICMP types need `protocol = \"icmp\"`",
                "rules[5].type",
                "rules[6].statetype: `synproxy state` needs `protocol = \"tcp\"`",
                r#"type: "urltable": pfSense-pkg-RESTAPI v2.10 has no URL aliases"#,
                r#"name: "web-servers": alias names are letters, digits and `_` only"#,
                r#"entries[0].address: "10.0.0.0/24" is not an IP address, a host name or an alias"#,
                "description: a description starting with `[homelab]` marks the rule as owned",
            ],
        ),
        (
            &unknown_names,
            vec![
                r#"interface: "lan" is another name of the interface this pfSense calls "LAN""#,
                r#"rules[0].source: "wan" is another name of the interface this pfSense's REST API calls "WAN" (it names interfaces by `descr`); write "WAN:ip""#,
                r#"interface: pfSense has no interface "dmz0"; it has WAN, LAN, DMZ."#,
                r#"name: "opt1" is the name of an interface on this pfSense"#,
            ],
        ),
    ] {
        let mut wd = Workdir::new(&Provider::homelab()).unwrap();
        wd.write_config(&hcl(&sim, body)).unwrap();
        wd.init().unwrap();
        let out = wd
            .run_unchecked(&["plan", "-no-color", "-input=false"])
            .unwrap();
        assert!(!out.success(), "plan succeeded:\n{}", out.combined());
        let text = flat(&out.combined());
        for e in expected {
            assert!(
                text.contains(&flat(e)),
                "missing {e:?} in:\n{}",
                out.combined()
            );
        }
    }
    assert_eq!(writes(&sim), 0, "{:?}", sim.counters().snapshot());

    // The same rules spelled right go through the whole cycle.
    let ok = format!(
        r#"resource "{RS}" "lan" {{
  interface = "LAN"
  rules = [
    {{ type = "pass", protocol = "icmp", icmptype = ["echoreq"] }},
    {{ type = "pass", protocol = "tcp", destination_port = "8000:9000" }},
    {{ type = "pass", source = "!10.9.0.0/16", destination = "WAN:ip" }},
  ]
}}
"#
    );
    let (s1, s2) = (sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl(&sim, &ok)).check(move |_| live_is_config(&s1)))
        .step(Step::import(rs("lan")).import_state_verify())
        .step(
            Step::plan_only(hcl(&sim, &ok))
                .pre_step({
                    let s = sim.clone();
                    move |_| {
                        let at = s
                            .rules()
                            .iter()
                            .position(|r| r["protocol"] == "icmp")
                            .unwrap();
                        s.edit_rule(at, &[("icmptype", json!(["any"]))])
                            .map_err(anyhow::Error::msg)?;
                        Ok(())
                    }
                })
                .expect_action(&rs("lan"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &ok)))
        .check_destroy(move |_| {
            ensure!(descrs(&s2.interface_rules("LAN")) == DEFAULTS);
            Ok(())
        })
        .run();
}

#[test]
fn basic_auth_api_keys_and_a_read_only_key() {
    let sim = sim();
    let body = port_ruleset(&[0, 1], &[]);
    let key = |k: &str| format!("api_key = \"{k}\"");
    // A key before KeyAuth is enabled: refused, and the provider says why.
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    wd.write_config(&hcl_with(&sim, &key(ADMIN_KEY), &body))
        .unwrap();
    wd.init().unwrap();
    let out = wd
        .run_unchecked(&["apply", "-auto-approve", "-no-color", "-input=false"])
        .unwrap();
    assert!(!out.success());
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat(&out.combined()).contains("HTTP 401 AUTH_AUTHENTICATION_FAILED: Authentication failed. pfSense refused the API key. pfSense-pkg-RESTAPI accepts an X-API-Key only while its KeyAuth method is enabled"),
        "{}",
        out.combined()
    );
    assert_eq!(writes(&sim), 0);
    sim.enable_key_auth();
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        // The read-only key plans (and refreshes), its writes are refused clearly.
        .step(
            Step::config(hcl_with(&sim, &key(READER_KEY), &body)).expect_error(
                r"(?s)AUTH_AUTHORIZATION_FAILED.*api-v2-firewall-rule-post.*A\s+read-only\s+user\s+or\s+key\s+can\s+plan,\s+not\s+apply",
            ),
        )
        .step(
            Step::config(hcl_with(&sim, &key(ADMIN_KEY), &body)).check(move |_| {
                ensure!(owned_descrs(&s1.interface_rules("LAN")).len() == 3);
                live_is_config(&s1)
            }),
        )
        // A read-only user (Basic) refreshes and plans an empty plan...
        .step(Step::plan_only(hcl_with(
            &sim,
            &login(READER_USER, READER_PASSWORD),
            &body,
        )))
        // ...and cannot change anything.
        .step(
            Step::config(hcl_with(
                &sim,
                &login(READER_USER, READER_PASSWORD),
                &port_ruleset(&[1, 0], &[]),
            ))
            .pre_step(move |_| {
                s2.counters().reset();
                Ok(())
            })
            .expect_error(r"(?s)Unable to update firewall ruleset.*HTTP\s+403\s+AUTH_AUTHORIZATION_FAILED.*api-v2-firewall-rule-patch"),
        )
        .step(Step::config(hcl_with(&sim, &key(ADMIN_KEY), &body)).check(move |_| {
            ensure!(
                owned_descrs(&s3.interface_rules("LAN")) == ["port 1000", "port 1001", "default deny"]
            );
            Ok(())
        }))
        .step(Step::import(rs("lan")).import_state_verify())
        .step(
            Step::plan_only(hcl_with(&sim, &key(ADMIN_KEY), &body))
                .pre_step({
                    let s = sim.clone();
                    move |_| {
                        let at = s.rules().iter().position(|r| r["descr"] == "[homelab] port 1001").unwrap();
                        s.edit_rule(at, &[("disabled", json!(true))]).map_err(anyhow::Error::msg)?;
                        Ok(())
                    }
                })
                .expect_action(&rs("lan"), Action::Update),
        )
        .step(Step::config(hcl_with(&sim, &key(ADMIN_KEY), &body)))
        .check_destroy({
            let s = sim.clone();
            move |_| {
                ensure!(descrs(&s.interface_rules("LAN")) == DEFAULTS);
                live_is_config(&s)
            }
        })
        .run();
}

#[test]
fn interfaces_named_by_id_and_a_single_rule_resource() {
    let sim = sim();
    sim.set_interface_mode(Mode::Id);
    let rule_body = |port: &str, log: bool| {
        format!(
            r#"resource "{FR}" "ssh" {{
  interface        = "lan"
  type             = "pass"
  protocol         = "tcp"
  source           = "lan"
  destination      = "lan:ip"
  destination_port = "{port}"
  description      = "ssh to the firewall"
  log              = {log}
}}

resource "{FR}" "ping" {{
  interface = "opt1"
  type      = "pass"
  protocol  = "icmp"
}}
"#
        )
    };
    let c = || sim.clone();
    let (s1, s2, s3, s4) = (c(), c(), c(), c());
    TestCase::new()
        .provider(Provider::homelab())
        // In `id` mode the descriptions are the wrong spelling.
        .step(
            Step::plan_only(hcl(&sim, &rule_body("22", false).replace("\"lan\"", "\"LAN\"")))
                .expect_error(r#"(?s)interface:\s+"LAN"\s+is\s+another\s+name\s+of\s+the\s+interface\s+this\s+pfSense\s+calls\s+"lan".*names\s+interfaces\s+by\s+`id`"#),
        )
        .step(
            Step::config(hcl(&sim, &rule_body("22", false)))
                .expect_attr(&format!("{FR}.ping"), "icmptype", Value::Null)
                .check(move |st| {
                    let t = st.attr_str(&format!("{FR}.ssh"), "id")?;
                    let r = s1
                        .rules()
                        .into_iter()
                        .find(|r| r["descr"] == "ssh to the firewall")
                        .unwrap();
                    ensure!(r["tracker"].as_i64().map(|x| x.to_string()) == Some(t), "{r}");
                    ensure!(r["source"] == "lan" && r["destination"] == "lan:ip", "{r}");
                    // At the end of its interface's rules.
                    ensure!(
                        descrs(&s1.interface_rules("lan")).last().map(String::as_str)
                            == Some("ssh to the firewall")
                    );
                    ensure!(s1.applies() == 1, "two rules, one apply: {}", s1.applies());
                    Ok(())
                }),
        )
        .step(
            Step::config(hcl(&sim, &rule_body("2222", true)))
                .pre_step(move |_| {
                    s2.counters().reset();
                    Ok(())
                })
                .expect_action(&format!("{FR}.ssh"), Action::Update)
                .check(move |_| {
                    ensure!(s3.counters().get("PATCH", "/api/v2/firewall/rule") == 1);
                    ensure!(s3.counters().get("POST", "/api/v2/firewall/apply") == 1);
                    Ok(())
                }),
        )
        // The two rules were made in the same second: named by tracker and description.
        .step(
            Step::import(format!("{FR}.ssh"))
                .import_id_with(|st| Ok(format!("{}/ssh to the firewall", st.attr_str(&format!("{FR}.ssh"), "id")?)))
                .import_state_verify(),
        )
        .step(
            Step::import(format!("{FR}.ping"))
                .import_id_with(|st| Ok(format!("{}/", st.attr_str(&format!("{FR}.ping"), "id")?)))
                .import_state_verify(),
        )
        // Drift: edited and moved in the GUI; found by tracker and set back.
        .step(
            Step::plan_only(hcl(&sim, &rule_body("2222", true)))
                .pre_step(move |_| {
                    let all = s4.rules();
                    let at = all
                        .iter()
                        .position(|r| r["descr"] == "ssh to the firewall")
                        .unwrap();
                    s4.edit_rule(at, &[("destination_port", json!("23"))])
                        .map_err(anyhow::Error::msg)?;
                    s4.move_rule(at, 0).map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&format!("{FR}.ssh"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &rule_body("2222", true))))
        .check_destroy({
            let s = c();
            move |_| {
                let all = descrs(&s.rules());
                ensure!(all == DEFAULTS, "{all:?}");
                ensure!(descrs(&s.live_rules("lan")) == DEFAULTS);
                Ok(())
            }
        })
        .run();
}

//! NAT port forwards and traffic shaper limiters on pfSense, made through
//! pfSense-pkg-RESTAPI v2 by hand (a seed, as a person's script would:
//! `POST /api/v2/firewall/nat/port_forward` with `associated_rule_id` =
//! `new`, `POST /api/v2/firewall/traffic_shaper/limiter`, `POST
//! /api/v2/firewall/rule` with `dnpipe`/`pdnpipe`), and what labforge does
//! beside them:
//! - the filter rule pfSense makes for a port forward is never written by a
//!   `homelab_pfsense_firewall_ruleset` of its interface, in the normal and
//!   the `exclusive` mode; the ruleset's rules go around it; destroy leaves
//!   exactly the port forward and its rule;
//! - a rule with limiters, imported into `homelab_pfsense_firewall_rule`,
//!   warns naming them and keeps them through updates;
//! - `homelab-discover` skips the associated rule, saying why.
//!
//! Every test drifts something behind Terraform's back and meets a fault.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;

use anyhow::{Context as _, Result, bail, ensure};
use labforge_acceptance_tests::harness::binary::binary;
use labforge_acceptance_tests::{Action, Provider, Step, TestCase};
use labforge_simulators::common::Fault;
use labforge_simulators::pfsense::{
    ADMIN_PASSWORD, ADMIN_USER, PfsenseSim, READER_PASSWORD, READER_USER,
};
use serde_json::{Value, json};

use crate::support::pfsense::{descrs, hcl, sim};

const RS: &str = "homelab_pfsense_firewall_ruleset";
const FR: &str = "homelab_pfsense_firewall_rule";
/// The seed's clock: the port forward's rule is made then, long before
/// anything labforge writes (whose `updated_time` would differ).
const SEED_TIME: i64 = 1_600_000_000;

/// One call of the package's API as `admin` (HTTP Basic, JSON), failing
/// unless the envelope says 200 when `ok`; the whole envelope.
fn call(sim: &PfsenseSim, method: &str, path: &str, body: &Value, ok: bool) -> Result<Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = format!("{}/api/v2{path}", sim.url());
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    rt.block_on(async {
        let answer: Value = reqwest::Client::new()
            .request(method.clone(), &url)
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
            .json(body)
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?
            .json()
            .await
            .with_context(|| format!("{method} {path}"))?;
        if ok {
            ensure!(answer["code"] == 200, "{method} {path} {body}: {answer}");
        }
        Ok(answer)
    })
}

/// `POST`, its `data`.
fn post(sim: &PfsenseSim, path: &str, body: Value) -> Result<Value> {
    Ok(call(sim, "POST", path, &body, true)?["data"].clone())
}

/// The port forward of the tests: WAN:8443 to 10.0.0.20:443, with an
/// associated filter rule.
fn seed_forward(sim: &PfsenseSim) -> Result<Value> {
    sim.set_clock(Some(SEED_TIME));
    let made = post(
        sim,
        "/firewall/nat/port_forward",
        json!({
            "interface": "WAN", "protocol": "tcp", "source": "any",
            "destination": "WAN:ip", "destination_port": "8443",
            "target": "10.0.0.20", "local_port": "443",
            "descr": "web server", "associated_rule_id": "new", "apply": true,
        }),
    );
    sim.set_clock(None);
    let made = made?;
    ensure!(
        made["associated_rule_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("nat_")),
        "{made}"
    );
    Ok(made)
}

/// The one rule pfSense made for a port forward, without its position
/// (which moves as other rules come and go).
fn associated(sim: &PfsenseSim) -> Result<Value> {
    let found: Vec<Value> = sim
        .rules()
        .into_iter()
        .filter(|r| !r["associated_rule_id"].is_null())
        .collect();
    let [one] = found.as_slice() else {
        bail!("{} associated rules: {found:?}", found.len());
    };
    let mut one = one.clone();
    one.as_object_mut().unwrap().remove("id");
    Ok(one)
}

/// The associated rule is `baseline` now and was in every copy of WAN's
/// rules kept since `record` (never written, never gone).
fn untouched(sim: &PfsenseSim, baseline: &Value) -> Result<()> {
    let now = associated(sim)?;
    ensure!(&now == baseline, "written: {now} (was {baseline})");
    for (i, snap) in sim.history().iter().enumerate() {
        let seen: Vec<Value> = snap
            .iter()
            .filter(|r| !r["associated_rule_id"].is_null())
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("id");
                r
            })
            .collect();
        ensure!(
            seen.as_slice() == std::slice::from_ref(baseline),
            "copy {i} of WAN's rules: {seen:?}"
        );
    }
    Ok(())
}

/// Writes to the firewall rules (the apply aside).
fn rule_writes(sim: &PfsenseSim) -> u64 {
    let c = sim.counters();
    ["POST", "PATCH", "DELETE"]
        .iter()
        .map(|m| c.get(m, "/api/v2/firewall/rule"))
        .sum()
}

/// A ruleset `wan` on WAN.
fn wan_ruleset(extra: &str, rules: &[&str]) -> String {
    format!(
        "resource \"{RS}\" \"wan\" {{\n  interface = \"WAN\"\n{extra}  rules = [\n    {}\n  ]\n}}\n",
        rules.join(",\n    ")
    )
}

const SSH: &str = r#"{ type = "pass", protocol = "tcp", source = "10.0.0.0/24", destination = "WAN:ip", destination_port = "22", description = "admin ssh" }"#;
const SMTP: &str =
    r#"{ type = "block", protocol = "tcp", destination_port = "25", description = "no smtp" }"#;

const DNS: &str = r#"{ type = "pass", protocol = "udp", source = "10.0.0.0/24", destination = "WAN:ip", destination_port = "53", description = "dns" }"#;

#[test]
fn a_ruleset_never_writes_the_port_forward_rule_and_orders_around_it() {
    let sim = sim();
    let made = seed_forward(&sim).unwrap();
    let base = Rc::new(RefCell::new(associated(&sim).unwrap()));
    let cfg = hcl(&sim, &wan_ruleset("", &[SSH, SMTP]));
    let cfg2 = hcl(&sim, &wan_ruleset("", &[DNS, SSH, SMTP]));
    let c = || (sim.clone(), base.clone());
    let ((s1, _), (s2, b2), (s3, b3), (s4, _), (s5, b5), (s6, b6)) = (c(), c(), c(), c(), c(), c());
    let wan_is = |s: &PfsenseSim, want: &[&str]| -> Result<()> {
        let got = descrs(&s.interface_rules("WAN"));
        ensure!(got == want, "WAN's rules: {got:?}, not {want:?}");
        Ok(())
    };
    let assoc_descr = format!(
        "Associated rule for port forward rule {}",
        made["associated_rule_id"].as_str().unwrap()
    );
    let (d1, d2, d3) = (
        assoc_descr.clone(),
        assoc_descr.clone(),
        assoc_descr.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        // pfSense's rule is WAN's only one: it stays first (nothing is
        // placed before it), the block goes below it.
        .step(
            Step::config(cfg.clone())
                .pre_step(move |_| {
                    s1.record("WAN");
                    Ok(())
                })
                .expect_action(&format!("{RS}.wan"), Action::Create)
                .expect_attr(&format!("{RS}.wan"), "foreign_rules", json!([]))
                .check(move |_| {
                    wan_is(&s2, &[&d1, "[homelab] admin ssh", "[homelab] no smtp"])?;
                    untouched(&s2, &b2.borrow())?;
                    ensure!(
                        descrs(&s2.live_rules("WAN")).first() == Some(&d1),
                        "applied, the port forward's rule with it"
                    );
                    Ok(())
                }),
        )
        // Drift in the GUI: the managed ssh rule re-described, and pfSense's
        // rule dragged into the middle of the block.
        .step(
            Step::plan_only(cfg2.clone())
                .pre_step(move |_| {
                    let all = s3.rules();
                    let pos = |d: &str| all.iter().position(|r| r["descr"] == d).unwrap();
                    let ssh = pos("[homelab] admin ssh");
                    s3.edit_rule(ssh, &[("descr", json!("[homelab] ssh, edited by hand"))])
                        .map_err(anyhow::Error::msg)?;
                    s3.move_rule(pos(&d2), ssh).map_err(anyhow::Error::msg)?;
                    *b3.borrow_mut() = associated(&s3)?;
                    Ok(())
                })
                .expect_action(&format!("{RS}.wan"), Action::Update)
                .plan_check(|plan| {
                    let ch = plan.change(&format!("{RS}.wan")).unwrap();
                    // pfSense's rule is not a foreign rule to move away.
                    ensure!(ch.before()["foreign_rules"] == json!([]), "{}", ch.before());
                    ensure!(ch.after()["foreign_rules"] == json!([]));
                    Ok(())
                }),
        )
        // The fix (and a new rule on top) meets a refused write (500) and a
        // list answered 503 once (retried): it stops; the next apply finishes.
        .step(
            Step::config(cfg2.clone())
                .pre_step(move |_| {
                    s4.record("WAN");
                    s4.counters().reset();
                    let f = s4.faults();
                    f.inject("GET", "/api/v2/firewall/rules", Fault::Status(503), 1);
                    f.inject("PATCH", "/api/v2/firewall/rule", Fault::Status(500), 1);
                    Ok(())
                })
                .expect_error(r"(?s)Unable to update firewall ruleset.*HTTP\s+500"),
        )
        .step(Step::config(cfg2.clone()).check(move |st| {
            ensure!(s5.faults().pending() == 0, "faults not all delivered");
            // The block flowed around pfSense's rule, which never moved.
            wan_is(
                &s5,
                &[
                    "[homelab] dns",
                    "[homelab] admin ssh",
                    &d3,
                    "[homelab] no smtp",
                ],
            )?;
            untouched(&s5, &b5.borrow())?;
            ensure!(st.attr(&format!("{RS}.wan"), "foreign_rules")? == &json!([]));
            Ok(())
        }))
        .step(Step::refresh())
        .step(Step::import(format!("{RS}.wan")).import_state_verify())
        .check_destroy(move |_| {
            // Exactly the port forward and its rule are left.
            wan_is(&s6, &[&assoc_descr])?;
            untouched(&s6, &b6.borrow())?;
            let forwards = s6.port_forwards();
            ensure!(forwards.len() == 1, "{forwards:?}");
            ensure!(forwards[0]["associated_rule_id"] == made["associated_rule_id"]);
            Ok(())
        })
        .run();
}

const BLOCK: &str =
    r#"{ type = "block", source = "192.168.0.0/16", description = "Block private networks" }"#;

fn wireguard(descr: &str) -> String {
    format!(
        r#"{{ type = "pass", protocol = "udp", destination = "WAN:ip", destination_port = "51820", description = "{descr}", log = true }}"#
    )
}

#[test]
fn an_exclusive_ruleset_adopts_wan_and_leaves_the_port_forward_rule_in_place() {
    let sim = sim();
    // By hand: a block rule, the port forward (its rule goes after), then
    // WireGuard.
    post(
        &sim,
        "/firewall/rule",
        json!({"type": "block", "interface": ["WAN"], "ipprotocol": "inet",
               "source": "192.168.0.0/16", "destination": "any",
               "descr": "Block private networks"}),
    )
    .unwrap();
    let made = seed_forward(&sim).unwrap();
    post(
        &sim,
        "/firewall/rule",
        json!({"type": "pass", "interface": ["WAN"], "ipprotocol": "inet",
               "protocol": "udp", "source": "any", "destination": "WAN:ip",
               "destination_port": "51820", "descr": "WireGuard", "log": true}),
    )
    .unwrap();
    let baseline = associated(&sim).unwrap();
    let assoc = baseline["descr"].as_str().unwrap().to_string();
    let body = |wg: &str| {
        hcl(
            &sim,
            &wan_ruleset("  exclusive = true\n", &[BLOCK, &wireguard(wg)]),
        )
    };
    let adopt = format!(
        "{}\nimport {{\n  to = {RS}.wan\n  id = \"WAN/*\"\n}}\n",
        body("WireGuard")
    );
    let c = || (sim.clone(), baseline.clone(), assoc.clone());
    let ((s1, _, _), (s2, b2, a2), (s3, b3, a3), (s4, _, _), (s5, b5, a5), (s6, b6, a6)) =
        (c(), c(), c(), c(), c(), c());
    let wan_is = |s: &PfsenseSim, want: &[&str]| -> Result<()> {
        let got = descrs(&s.interface_rules("WAN"));
        ensure!(got == want, "WAN's rules: {got:?}, not {want:?}");
        Ok(())
    };
    TestCase::new()
        .provider(Provider::homelab())
        // Adopted as it is (import ID WAN/*): nothing written.
        .step(
            Step::config(adopt)
                .pre_step(move |_| {
                    s1.record("WAN");
                    s1.counters().reset();
                    Ok(())
                })
                .expect_action(&format!("{RS}.wan"), Action::NoOp)
                .expect_attr(&format!("{RS}.wan"), "id", "WAN/*")
                .expect_attr(&format!("{RS}.wan"), "foreign_rules", json!([]))
                .check(move |_| {
                    ensure!(rule_writes(&s2) == 0, "{:?}", s2.counters().snapshot());
                    wan_is(&s2, &["Block private networks", &a2, "WireGuard"])?;
                    untouched(&s2, &b2)
                }),
        )
        // An edit of a managed rule; pfSense's rule stays where it was.
        .step(
            Step::config(body("WireGuard VPN"))
                .pre_step({
                    let s = s3.clone();
                    move |_| {
                        s.counters().reset();
                        Ok(())
                    }
                })
                .expect_action(&format!("{RS}.wan"), Action::Update)
                .check(move |_| {
                    wan_is(&s3, &["Block private networks", &a3, "WireGuard VPN"])?;
                    untouched(&s3, &b3)?;
                    ensure!(
                        s3.counters().get("PATCH", "/api/v2/firewall/rule") == 1
                            && rule_writes(&s3) == 1,
                        "one PATCH, of the WireGuard rule: {:?}",
                        s3.counters().snapshot()
                    );
                    Ok(())
                }),
        )
        // Drift: the block rule re-described in the GUI.
        .step(
            Step::plan_only(body("WireGuard VPN"))
                .pre_step(move |_| {
                    let at = s4
                        .rules()
                        .iter()
                        .position(|r| r["descr"] == "Block private networks")
                        .unwrap();
                    s4.edit_rule(at, &[("descr", json!("block rfc1918"))])
                        .map_err(anyhow::Error::msg)?;
                    s4.faults()
                        .inject("GET", "/api/v2/firewall/rules", Fault::Status(503), 1);
                    Ok(())
                })
                .expect_action(&format!("{RS}.wan"), Action::Update),
        )
        // The fix: the list answers 429 once (retried after Retry-After).
        .step(
            Step::config(body("WireGuard VPN"))
                .pre_step({
                    let s = s5.clone();
                    move |_| {
                        s.faults().inject(
                            "GET",
                            "/api/v2/firewall/rules",
                            Fault::RateLimited {
                                retry_after_secs: 1,
                            },
                            1,
                        );
                        Ok(())
                    }
                })
                .check(move |_| {
                    ensure!(s5.faults().pending() == 0, "faults not all delivered");
                    wan_is(&s5, &["Block private networks", &a5, "WireGuard VPN"])?;
                    untouched(&s5, &b5)
                }),
        )
        .step(Step::refresh())
        .check_destroy(move |_| {
            // Every rule of WAN was the ruleset's but pfSense's own.
            wan_is(&s6, &[&a6])?;
            untouched(&s6, &b6)?;
            ensure!(s6.port_forwards().len() == 1);
            ensure!(s6.port_forwards()[0]["associated_rule_id"] == made["associated_rule_id"]);
            Ok(())
        })
        .run();
}

fn shaped(descr: &str) -> String {
    format!(
        r#"resource "{FR}" "shaped" {{
  interface        = "LAN"
  type             = "pass"
  protocol         = "tcp"
  source           = "LAN"
  destination_port = "443"
  description      = "{descr}"
}}
"#
    )
}

/// The LAN rule described `descr`.
fn lan_rule(sim: &PfsenseSim, descr: &str) -> Result<Value> {
    sim.interface_rules("LAN")
        .into_iter()
        .find(|r| r["descr"] == descr)
        .with_context(|| format!("no LAN rule {descr:?}"))
}

/// The rule kept both limiters.
fn limited(r: &Value) -> Result<()> {
    ensure!(
        r["dnpipe"] == "lan_down" && r["pdnpipe"] == "lan_up",
        "the limiters were dropped: {r}"
    );
    Ok(())
}

#[test]
fn a_rule_with_limiters_warns_at_import_and_keeps_them() {
    let sim = sim();
    for name in ["lan_down", "lan_up"] {
        post(
            &sim,
            "/firewall/traffic_shaper/limiter",
            json!({"name": name, "enabled": true, "aqm": "droptail", "sched": "wf2q+",
                   "bandwidth": [{"bw": 50, "bwscale": "Mb"}], "apply": true}),
        )
        .unwrap();
    }
    let rule = json!({"type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
                      "protocol": "tcp", "source": "LAN", "destination": "any",
                      "destination_port": "443", "descr": "shaped https",
                      "dnpipe": "lan_down", "pdnpipe": "lan_up"});
    // pfSense refuses a limiter it does not have (FirewallRule::validate_dnpipe).
    let mut bad = rule.clone();
    bad["dnpipe"] = json!("no_such_limiter");
    let refused = call(&sim, "POST", "/firewall/rule", &bad, false).unwrap();
    assert_eq!(refused["code"], 404, "{refused}");
    assert_eq!(refused["response_id"], "FIREWALL_RULE_DNPIPE_NOT_FOUND");
    let made = post(&sim, "/firewall/rule", rule).unwrap();
    let tracker = made["tracker"].as_i64().unwrap().to_string();
    let addr = format!("{FR}.shaped");
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5, s6, s7) = (c(), c(), c(), c(), c(), c(), c());
    let (a1, cfg1) = (addr.clone(), hcl(&sim, &shaped("shaped https")));
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl(&sim, "")))
        // Imported by hand: the warning names both limiters.
        .step(
            Step::config(cfg1.clone())
                .pre_step(move |ctx| {
                    ctx.workdir.write_config(&cfg1)?;
                    s1.counters().reset();
                    let out = ctx.workdir.import(&a1, &tracker)?.combined();
                    let re = regex::Regex::new(
                        r"(?s)settings\s+not\s+managed\s+here.*dnpipe,\s+pdnpipe",
                    )?;
                    ensure!(re.is_match(&out), "no warning naming the limiters:\n{out}");
                    ensure!(rule_writes(&s1) == 0);
                    Ok(())
                })
                .expect_action(&addr, Action::NoOp)
                .check(move |_| limited(&lan_rule(&s2, "shaped https")?)),
        )
        // A managed field changes: one PATCH, the limiters stay.
        .step(
            Step::config(hcl(&sim, &shaped("shaped https, lan")))
                .pre_step(move |_| {
                    s3.counters().reset();
                    Ok(())
                })
                .expect_action(&addr, Action::Update)
                .check(move |_| {
                    ensure!(s4.counters().get("PATCH", "/api/v2/firewall/rule") == 1);
                    limited(&lan_rule(&s4, "shaped https, lan")?)
                }),
        )
        // Drift: re-described in the GUI.
        .step(
            Step::plan_only(hcl(&sim, &shaped("shaped https, lan")))
                .pre_step(move |_| {
                    let at = s5
                        .rules()
                        .iter()
                        .position(|r| r["descr"] == "shaped https, lan")
                        .unwrap();
                    s5.edit_rule(at, &[("descr", json!("edited in the GUI"))])
                        .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&addr, Action::Update),
        )
        // The fix is refused once (500), then made; the limiters stay.
        .step(
            Step::config(hcl(&sim, &shaped("shaped https, lan")))
                .pre_step(move |_| {
                    s6.faults()
                        .inject("PATCH", "/api/v2/firewall/rule", Fault::Status(500), 1);
                    Ok(())
                })
                .expect_error(r"HTTP\s+500"),
        )
        .step(
            Step::config(hcl(&sim, &shaped("shaped https, lan"))).check(move |_| {
                ensure!(s7.faults().pending() == 0);
                limited(&lan_rule(&s7, "shaped https, lan")?)
            }),
        )
        .step(Step::refresh())
        .check_destroy({
            let s = c();
            move |_| {
                let lan = descrs(&s.interface_rules("LAN"));
                ensure!(
                    lan == [
                        "Default allow LAN to any rule",
                        "Default allow LAN IPv6 to any rule"
                    ],
                    "{lan:?}"
                );
                ensure!(s.limiters().len() == 2, "the limiters are not ours");
                Ok(())
            }
        })
        .run();
}

/// `homelab-discover --backend pfsense` with the read-only user.
fn discover(sim: &PfsenseSim, dir: &std::path::Path, out: &str) -> Result<(String, String)> {
    let run = Command::new(binary("terraform-provider-homelab", "homelab-discover")?)
        .current_dir(dir)
        .args(["--backend", "pfsense", "--out", out])
        .env("PFSENSE_URL", sim.url())
        .env("PFSENSE_USERNAME", READER_USER)
        .env("PFSENSE_PASSWORD", READER_PASSWORD)
        .env_remove("PFSENSE_API_KEY")
        .output()
        .context("running homelab-discover")?;
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    ensure!(
        run.status.success(),
        "homelab-discover exited {:?}:\n{stderr}",
        run.status.code()
    );
    Ok((std::fs::read_to_string(dir.join(out))?, stderr))
}

#[test]
fn discovery_skips_the_port_forward_rule_saying_why() {
    let sim = sim();
    seed_forward(&sim).unwrap();
    post(
        &sim,
        "/firewall/rule",
        json!({"type": "pass", "interface": ["WAN"], "ipprotocol": "inet",
               "protocol": "udp", "source": "any", "destination": "WAN:ip",
               "destination_port": "51820", "descr": "WireGuard"}),
    )
    .unwrap();
    let assoc = associated(&sim).unwrap();
    let dir = tempfile::tempdir().unwrap();
    sim.counters().reset();
    let (text, stderr) = discover(&sim, dir.path(), "imports.txt").unwrap();
    let line = format!(
        "skipped rule {} {:?} on WAN: pfSense made it for a NAT port forward (associated_rule_id)",
        assoc["tracker"],
        assoc["descr"].as_str().unwrap()
    );
    assert!(stderr.contains(&line), "no {line:?} in:\n{stderr}");
    // WAN is still adopted (its other rule), as an exclusive ruleset.
    assert!(text.contains("\"WAN/*\""), "{text}");
    // A 429 on the list once (Retry-After: 1): the same file.
    sim.faults().inject(
        "GET",
        "/api/v2/firewall/rules",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    let (again, stderr) = discover(&sim, dir.path(), "imports-429.txt").unwrap();
    assert_eq!(sim.faults().pending(), 0, "the 429 was never met");
    assert_eq!(again, text, "{stderr}");
    let writes: u64 = sim
        .counters()
        .snapshot()
        .iter()
        .filter(|((m, _), _)| m != "GET")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        writes,
        0,
        "discovery wrote: {:?}",
        sim.counters().snapshot()
    );
    untouched(&sim, &assoc).unwrap();
}

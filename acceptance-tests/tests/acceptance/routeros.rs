//! Acceptance tests of the RouterOS backend through the real CLI against the
//! RouterOS simulator: `homelab_routeros_firewall_ruleset` (one chain, in
//! order), `homelab_routeros_firewall_filter`, `_nat`, `_address_list` and
//! `homelab_routeros_dns_static`.
//!
//! Every test: apply, empty plan, import, drift, destroy, nothing of ours left.

#![allow(clippy::unwrap_used)]

use anyhow::{Result, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase, Workdir};
use labforge_simulators::common::Fault;
use labforge_simulators::routeros::{
    ADDRESS_LIST, DNS_STATIC, FASTTRACK_COMMENT, FILTER, NAT, READ_PASSWORD, READ_USER, RouterosSim,
};
use serde_json::Value;

use crate::support::REQUIRED_PROVIDERS;
use crate::support::routeros::{
    check_no_window, comments, hcl, hcl_with, login, owned, packets, sim,
};

const RS: &str = "homelab_routeros_firewall_ruleset";

fn rs(name: &str) -> String {
    format!("{RS}.{name}")
}

/// Rules by short name, as HCL objects.
fn rule(name: &str) -> &'static str {
    match name {
        "est" => {
            r#"{ action = "accept", connection_state = ["related", "established"], comment = "replies" }"#
        }
        "inv" => r#"{ action = "drop", connection_state = ["invalid"], comment = "invalid" }"#,
        "ssh" => {
            r#"{ action = "accept", protocol = "tcp", dst_port = "22", src_address = "10.0.0.0/24", comment = "lan ssh" }"#
        }
        "ssh2" => {
            r#"{ action = "accept", protocol = "tcp", dst_port = "22", src_address = "10.0.0.0/24", comment = "ssh from the lan only" }"#
        }
        "web" => r#"{ action = "accept", protocol = "6", dst_port = "443", comment = "web" }"#,
        "web2" => {
            r#"{ action = "accept", protocol = "tcp", dst_port = "443, 8443", comment = "web" }"#
        }
        "web3" => {
            r#"{ action = "accept", protocol = "tcp", dst_port = "443,8443", comment = "web" }"#
        }
        "dns" => {
            r#"{ action = "accept", protocol = "udp", dst_port = "53", in_interface = "bridge", comment = "lan dns" }"#
        }
        "icmp" => r#"{ action = "accept", protocol = "icmp", comment = "ping" }"#,
        "smtp" => r#"{ action = "drop", protocol = "tcp", dst_port = "25", comment = "no smtp" }"#,
        "deny" => {
            r#"{ action = "drop", log = true, log_prefix = "fw-drop", comment = "default deny" }"#
        }
        other => panic!("no rule {other}"),
    }
}

/// A ruleset `fw` on the forward chain with these rules, in order.
fn ruleset(names: &[&str]) -> String {
    let rules: Vec<String> = names.iter().map(|n| format!("    {}", rule(n))).collect();
    format!(
        "resource \"{RS}\" \"fw\" {{\n  table = \"filter\"\n  chain = \"forward\"\n  rules = [\n{}\n  ]\n}}\n",
        rules.join(",\n")
    )
}

/// The comments of the forward chain's owned rules, marker off.
fn owned_comments(sim: &RouterosSim) -> Vec<String> {
    comments(&owned(&sim.chain(FILTER, "forward")))
        .into_iter()
        .map(|c| c.trim_start_matches("[homelab]").trim().to_string())
        .collect()
}

fn id_of(sim: &RouterosSim, menu: &str, chain: &str, comment: &str) -> String {
    sim.chain(menu, chain)
        .iter()
        .find(|r| r["comment"] == comment)
        .and_then(|r| r[".id"].as_str())
        .unwrap_or_else(|| panic!("no rule {comment:?}"))
        .to_string()
}

/// Requests that change something.
fn writes(sim: &RouterosSim) -> u64 {
    sim.counters()
        .snapshot()
        .iter()
        .filter(|((m, p), _)| m != "GET" && !p.ends_with("/print"))
        .map(|(_, n)| n)
        .sum()
}

/// Runs `plan` (with refresh), which must be empty, and returns the API
/// requests it made, all reads.
fn measure_refresh(sim: &RouterosSim, wd: &Workdir, what: &str) -> Result<u64> {
    crate::support::refresh_cost("routeros", sim.counters(), wd, 0, what, |m, p| {
        m != "GET" && !p.ends_with("/print")
    })
}

#[test]
fn ruleset_create_reorder_insert_remove_import_and_drift() {
    let sim = sim();
    let cfg = |names: &[&str]| hcl(&sim, &ruleset(names));
    let v1 = ["est", "inv", "ssh", "web", "icmp", "deny"];
    // Reordered (icmp up), inserted (dns), edited (web: ports), re-commented (ssh).
    let v2 = ["est", "inv", "icmp", "ssh2", "dns", "web2", "deny"];
    // Removed (icmp, inv); web's ports spelled as RouterOS prints them (no change).
    let v3 = ["est", "ssh2", "dns", "web3", "deny"];
    let (s1, s2, s3, s4, s5, s5b, s6, s7, s8) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let step1 = Step::config(cfg(&v1))
        .pre_step(move |_| {
            // Another tool's rule, already there (below RouterOS's fasttrack rule).
            s1.add(
                FILTER,
                &[
                    ("chain", "forward"),
                    ("action", "accept"),
                    ("protocol", "udp"),
                    ("dst-port", "123"),
                    ("comment", "defconf: ntp"),
                ],
            )
            .map_err(anyhow::Error::msg)?;
            Ok(())
        })
        .expect_action(&rs("fw"), Action::Create)
        .expect_attr(&rs("fw"), "id", "filter/forward")
        .expect_attr(&rs("fw"), "rules.3.protocol", "6")
        .expect_attr(&rs("fw"), "rules.5.log_prefix", "fw-drop")
        .expect_attr(&rs("fw"), "foreign_rules", serde_json::json!([]))
        .check(move |_| {
            let chain = s2.chain(FILTER, "forward");
            let c = comments(&chain);
            ensure!(
                c[0] == FASTTRACK_COMMENT,
                "the builtin rule stays first: {c:?}"
            );
            ensure!(
                c.last().map(String::as_str) == Some("defconf: ntp"),
                "{c:?}"
            );
            ensure!(
                owned_comments(&s2)
                    == [
                        "replies",
                        "invalid",
                        "lan ssh",
                        "web",
                        "ping",
                        "default deny"
                    ],
                "{:?}",
                owned_comments(&s2)
            );
            // RouterOS's spellings on the router, the configured ones in state.
            let web = &owned(&chain)[3];
            ensure!(web["protocol"] == "tcp", "{web}");
            Ok(())
        });
    let step2 = Step::config(cfg(&v2))
        .pre_step(move |ctx| {
            let n = measure_refresh(&s3, ctx.workdir, "ruleset of 6 rules")?;
            ensure!(
                n == 1,
                "refresh of a ruleset lists its chain once, made {n} requests"
            );
            s3.record(FILTER, "forward");
            s3.counters().reset();
            Ok(())
        })
        .expect_action(&rs("fw"), Action::Update)
        .check(move |_| {
            ensure!(
                owned_comments(&s4)
                    == [
                        "replies",
                        "invalid",
                        "ping",
                        "ssh from the lan only",
                        "lan dns",
                        "web",
                        "default deny"
                    ],
                "{:?}",
                owned_comments(&s4)
            );
            let n = check_no_window(&s4.history(), &packets())?;
            let w = writes(&s4);
            eprintln!("[routeros] reorder+insert+edit: {w} writes, {n} chains checked");
            // ping moved (1), ssh re-commented (1), dns and web created (2), old web removed (1).
            ensure!(w <= 5, "{w} writes: {:?}", s4.counters().snapshot());
            ensure!(s4.counters().get("PATCH", "/rest/ip/firewall/filter/{id}") == 1);
            Ok(())
        });
    let step3 = Step::config(cfg(&v3))
        .pre_step(move |_| {
            s5.record(FILTER, "forward");
            Ok(())
        })
        .check(move |_| {
            ensure!(
                owned_comments(&s5b)
                    == [
                        "replies",
                        "ssh from the lan only",
                        "lan dns",
                        "web",
                        "default deny"
                    ],
                "{:?}",
                owned_comments(&s5b)
            );
            check_no_window(&s5b.history(), &packets())?;
            Ok(())
        });
    let drift1 = Step::plan_only(cfg(&v3))
        .pre_step(move |_| {
            // Behind Terraform's back: the default deny moved up, a stray accept-all
            // in the middle of the block.
            let deny = id_of(&s6, FILTER, "forward", "[homelab] default deny");
            let ssh = id_of(&s6, FILTER, "forward", "[homelab] ssh from the lan only");
            s6.move_before(FILTER, &deny, Some(&ssh))
                .map_err(anyhow::Error::msg)?;
            let dns = id_of(&s6, FILTER, "forward", "[homelab] lan dns");
            s6.add(
                FILTER,
                &[
                    ("chain", "forward"),
                    ("action", "accept"),
                    ("comment", "stray: debugging"),
                    ("place-before", &dns),
                ],
            )
            .map_err(anyhow::Error::msg)?;
            Ok(())
        })
        .expect_action(&rs("fw"), Action::Update);
    let fix1 = Step::config(cfg(&v3)).check(move |_| {
        let c = comments(&s7.chain(FILTER, "forward"));
        ensure!(
            owned_comments(&s7)
                == [
                    "replies",
                    "ssh from the lan only",
                    "lan dns",
                    "web",
                    "default deny"
                ],
            "{c:?}"
        );
        let deny = c
            .iter()
            .position(|x| x == "[homelab] default deny")
            .unwrap();
        let stray = c.iter().position(|x| x == "stray: debugging");
        ensure!(
            stray.is_some_and(|s| s > deny),
            "the stray rule is kept, below the block: {c:?}"
        );
        Ok(())
    });
    let drift2 = Step::plan_only(cfg(&v3))
        .pre_step(move |_| {
            let ssh = id_of(&s8, FILTER, "forward", "[homelab] ssh from the lan only");
            s8.set(FILTER, &ssh, &[("dst-port", "2222")])
                .map_err(anyhow::Error::msg)?;
            let web = id_of(&s8, FILTER, "forward", "[homelab] web");
            s8.remove(FILTER, &web).map_err(anyhow::Error::msg)?;
            Ok(())
        })
        .expect_action(&rs("fw"), Action::Update);
    let (d1, d2) = (sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(step1)
        .step(step2)
        .step(step3)
        .step(Step::import(rs("fw")).import_state_verify())
        .step(drift1)
        .step(fix1)
        .step(drift2)
        .step(Step::config(cfg(&v3)).check(move |_| {
            let chain = d1.chain(FILTER, "forward");
            let ssh = owned(&chain)
                .into_iter()
                .find(|r| r["comment"] == "[homelab] ssh from the lan only")
                .unwrap();
            ensure!(ssh["dst-port"] == "22", "{ssh}");
            ensure!(owned_comments(&d1).len() == 5);
            Ok(())
        }))
        .check_destroy(move |_| {
            let chain = d2.chain(FILTER, "forward");
            ensure!(
                owned(&chain).is_empty(),
                "left behind: {:?}",
                comments(&chain)
            );
            // Rules that are not ours stay, in their order (the stray one was put
            // inside the block, above the other tool's rule).
            ensure!(
                comments(&chain) == [FASTTRACK_COMMENT, "stray: debugging", "defconf: ntp"],
                "not ours, kept: {:?}",
                comments(&chain)
            );
            Ok(())
        })
        .run();
}

const FF: &str = "homelab_routeros_firewall_filter";
const FN: &str = "homelab_routeros_firewall_nat";
const AL: &str = "homelab_routeros_firewall_address_list";
const DS: &str = "homelab_routeros_dns_static";

/// One resource of each single-item type, with spellings RouterOS prints
/// differently (`6`, `/32`, `24h`, a range that is a prefix). `v` picks the variant.
fn items_body(v: u8) -> String {
    let (ssh_ports, ssh_src, ssh_comment) = if v >= 2 {
        ("22,2222", "", "ssh")
    } else {
        (
            "22",
            "\n  src_address = \"10.0.0.1/32\"",
            "ssh from admin pc",
        )
    };
    let ban_timeout = if v >= 2 { "2h" } else { "24h" };
    let nas = if v >= 2 { "10.0.0.11" } else { "10.0.0.10" };
    let files_comment = if v >= 2 {
        ""
    } else {
        "\n  comment = \"files\""
    };
    let wireguard = if v >= 2 {
        "\n    { action = \"dst-nat\", protocol = \"udp\", dst_port = \"51820\", to_addresses = \"10.0.0.21\", comment = \"wireguard\" },"
    } else {
        ""
    };
    format!(
        r#"resource "{FF}" "ssh" {{
  chain            = "input"
  action           = "accept"
  protocol         = "6"
  dst_port         = "{ssh_ports}"{ssh_src}
  connection_state = ["new"]
  comment          = "{ssh_comment}"
}}

resource "{FF}" "jump" {{
  chain       = "forward"
  action      = "jump"
  jump_target = "lan-in"
  comment     = "to lan-in"
}}

resource "{FN}" "masq" {{
  chain              = "srcnat"
  action             = "masquerade"
  out_interface_list = "WAN"
  comment            = "masquerade"
}}

resource "{FN}" "https" {{
  chain        = "dstnat"
  action       = "dst-nat"
  protocol     = "tcp"
  dst_port     = "8443"
  in_interface = "ether1"
  to_addresses = "10.0.0.10/32"
  to_ports     = "443"
  comment      = "nas https"
}}

resource "{AL}" "lan" {{
  list    = "lan"
  address = "192.168.0.0-192.168.1.255"
  comment = "lan ranges"
}}

resource "{AL}" "ban" {{
  list    = "ban"
  address = "203.0.113.9"
  timeout = "{ban_timeout}"
}}

resource "{DS}" "nas" {{
  name    = "nas.lan"
  address = "{nas}"
  ttl     = "24h"
}}

resource "{DS}" "files" {{
  name  = "files.lan"
  type  = "CNAME"
  cname = "nas.lan"{files_comment}
}}

resource "{DS}" "mx" {{
  name          = "lan"
  type          = "MX"
  mx_exchange   = "mail.lan"
  mx_preference = 10
}}

# A NAT ruleset in the chain of the single rule "https" (not owned: kept below).
resource "{RS}" "dnat" {{
  table = "nat"
  chain = "dstnat"
  rules = [{wireguard}
    {{ action = "dst-nat", protocol = "tcp", dst_port = "2222", in_interface = "ether1", to_addresses = "10.0.0.20", to_ports = "22", comment = "ssh to nas" }},
  ]
}}
"#
    )
}

fn find(sim: &RouterosSim, menu: &str, key: &str, value: &str) -> Option<Value> {
    sim.items(menu).into_iter().find(|i| i[key] == value)
}

#[test]
fn filter_nat_address_list_and_dns_resources() {
    let sim = sim();
    let cfg = |v: u8| hcl(&sim, &items_body(v));
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5, s6) = (c(), c(), c(), c(), c(), c());
    let step1 = Step::config(cfg(1))
        .expect_attr(&format!("{FF}.ssh"), "protocol", "6")
        .expect_attr(&format!("{FF}.ssh"), "src_address", "10.0.0.1/32")
        .expect_attr(&format!("{AL}.lan"), "address", "192.168.0.0-192.168.1.255")
        .expect_attr(&format!("{DS}.nas"), "ttl", "24h")
        .expect_attr(&format!("{DS}.nas"), "type", "A")
        .expect_attr_matches(&format!("{FF}.ssh"), "id", r"^\*[0-9A-F]+$")
        .check(move |_| {
            let ssh = find(&s1, FILTER, "comment", "ssh from admin pc").unwrap();
            ensure!(
                ssh["protocol"] == "tcp" && ssh["src-address"] == "10.0.0.1",
                "{ssh}"
            );
            let fwd = find(&s1, NAT, "comment", "nas https").unwrap();
            ensure!(fwd["to-addresses"] == "10.0.0.10", "{fwd}");
            let lan = find(&s1, ADDRESS_LIST, "list", "lan").unwrap();
            ensure!(lan["address"] == "192.168.0.0/23", "{lan}");
            let ban = find(&s1, ADDRESS_LIST, "list", "ban").unwrap();
            ensure!(ban["dynamic"] == "true", "{ban}");
            ensure!(
                ban["timeout"] == "1d"
                    || ban["timeout"] == "23h59m59s"
                    || ban["timeout"] == "23h59m58s",
                "{ban}"
            );
            let nas = find(&s1, DNS_STATIC, "name", "nas.lan").unwrap();
            ensure!(nas.get("type").is_none() && nas["ttl"] == "1d", "{nas}");
            let dstnat = comments(&s1.chain(NAT, "dstnat"));
            ensure!(
                dstnat == ["[homelab] ssh to nas", "nas https"],
                "{dstnat:?}"
            );
            Ok(())
        });
    let step2 = Step::config(cfg(2))
        .pre_step(move |ctx| {
            let n = measure_refresh(&s2, ctx.workdir, "9 single items and a NAT ruleset")?;
            // One listing per scope: 2 filter chains, 2 NAT chains (the ruleset shares
            // dstnat's), 2 address lists, DNS.
            ensure!(n == 7, "9 items in 7 scopes took {n} requests");
            Ok(())
        })
        .expect_action(&format!("{FF}.ssh"), Action::Update)
        .expect_action(&format!("{AL}.ban"), Action::Update)
        .expect_action(&format!("{DS}.nas"), Action::Update)
        .expect_action(&format!("{DS}.files"), Action::Update)
        .expect_action(&format!("{FN}.masq"), Action::NoOp)
        .expect_action(&rs("dnat"), Action::Update)
        .check(move |_| {
            let dstnat = comments(&s3.chain(NAT, "dstnat"));
            ensure!(
                dstnat == ["[homelab] wireguard", "[homelab] ssh to nas", "nas https"],
                "{dstnat:?}"
            );
            let ssh = find(&s3, FILTER, "comment", "ssh").unwrap();
            ensure!(
                ssh.get("src-address").is_none(),
                "unset with !src-address: {ssh}"
            );
            ensure!(ssh["dst-port"] == "22,2222", "{ssh}");
            let files = find(&s3, DNS_STATIC, "name", "files.lan").unwrap();
            ensure!(files.get("comment").is_none(), "{files}");
            let ban = find(&s3, ADDRESS_LIST, "list", "ban").unwrap();
            ensure!(
                ban["timeout"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("2h") || t.starts_with("1h59m")),
                "{ban}"
            );
            Ok(())
        });
    let spellings = [
        "protocol",
        "src_address",
        "to_addresses",
        "address",
        "ttl",
        "timeout",
    ];
    let drift = Step::plan_only(cfg(2))
        .pre_step(move |_| {
            let ssh = find(&s4, FILTER, "comment", "ssh").unwrap();
            s4.set(FILTER, ssh[".id"].as_str().unwrap(), &[("action", "drop")])
                .map_err(anyhow::Error::msg)?;
            let files = find(&s4, DNS_STATIC, "name", "files.lan").unwrap();
            s4.remove(DNS_STATIC, files[".id"].as_str().unwrap())
                .map_err(anyhow::Error::msg)?;
            let lan = find(&s4, ADDRESS_LIST, "list", "lan").unwrap();
            s4.set(
                ADDRESS_LIST,
                lan[".id"].as_str().unwrap(),
                &[("comment", "edited")],
            )
            .map_err(anyhow::Error::msg)?;
            // The NAT rule moved to another chain behind Terraform's back.
            let m = find(&s4, NAT, "comment", "masquerade").unwrap();
            s4.set(NAT, m[".id"].as_str().unwrap(), &[("chain", "my-srcnat")])
                .map_err(anyhow::Error::msg)?;
            Ok(())
        })
        .expect_action(&format!("{FF}.ssh"), Action::Update)
        .expect_action(&format!("{DS}.files"), Action::Create)
        .expect_action(&format!("{AL}.lan"), Action::Update)
        .expect_action(&format!("{FN}.masq"), Action::Update)
        .expect_action(&format!("{DS}.mx"), Action::NoOp);
    let expire = Step::plan_only(cfg(2))
        .pre_step(move |_| {
            // The timed entry runs out: RouterOS deletes it.
            s5.advance_clock(3 * 3600);
            ensure!(find(&s5, ADDRESS_LIST, "list", "ban").is_none());
            Ok(())
        })
        .expect_action(&format!("{AL}.ban"), Action::Create);
    TestCase::new()
        .provider(Provider::homelab())
        .step(step1)
        .step(step2)
        .step(
            Step::import(format!("{FF}.ssh"))
                .import_state_verify()
                .import_state_verify_ignore(&spellings),
        )
        .step(
            Step::import(format!("{FF}.jump"))
                .import_id("comment=to lan-in")
                .import_state_verify(),
        )
        .step(
            Step::import(format!("{FN}.https"))
                .import_id("nas https")
                .import_state_verify()
                .import_state_verify_ignore(&spellings),
        )
        .step(
            Step::import(format!("{AL}.lan"))
                .import_state_verify()
                .import_state_verify_ignore(&spellings),
        )
        .step(Step::import(format!("{DS}.mx")).import_state_verify())
        .step(Step::import(rs("dnat")).import_state_verify())
        .step(drift)
        .step(Step::config(cfg(2)).check(move |_| {
            let ssh = find(&s6, FILTER, "comment", "ssh").unwrap();
            ensure!(ssh["action"] == "accept", "{ssh}");
            ensure!(find(&s6, DNS_STATIC, "name", "files.lan").is_some());
            let m = find(&s6, NAT, "comment", "masquerade").unwrap();
            ensure!(m["chain"] == "srcnat", "{m}");
            Ok(())
        }))
        .step(expire)
        .step(Step::config(cfg(2)))
        .check_destroy({
            let s = c();
            move |_| {
                let filter = s.items(FILTER);
                ensure!(comments(&filter) == [FASTTRACK_COMMENT], "{filter:?}");
                for menu in [NAT, ADDRESS_LIST, DNS_STATIC] {
                    ensure!(s.items(menu).is_empty(), "{menu}: {:?}", s.items(menu));
                }
                Ok(())
            }
        })
        .run();
}

#[test]
fn bad_input_is_rejected_at_plan_naming_the_attribute() {
    let sim = sim();
    let body = format!(
        r#"resource "{FF}" "bad_cidr" {{
  chain       = "input"
  src_address = "10.0.0.0/33"
}}

resource "{FF}" "icmp_ports" {{
  chain    = "input"
  protocol = "icmp"
  dst_port = "22"
}}

resource "{FF}" "no_target" {{
  chain  = "forward"
  action = "jump"
}}

resource "{FF}" "bad_proto" {{
  chain    = "input"
  protocol = "tcpp"
}}

resource "{FN}" "ports_alone" {{
  chain    = "dstnat"
  action   = "dst-nat"
  to_ports = "80"
}}

resource "{AL}" "bad_entry" {{
  list    = "x"
  address = "10.0.0.300"
}}

resource "{DS}" "mx_alone" {{
  name = "lan"
  type = "MX"
}}

resource "{RS}" "bad" {{
  table = "filter"
  chain = "input"
  rules = [
    {{ action = "accept", dst_address = "192.168.1.1/40" }},
    {{ action = "accept", protocol = "gre", dst_port = "80" }},
    {{ action = "jump" }},
    {{ action = "masquerade" }},
    {{ action = "accept", to_ports = "80", protocol = "tcp" }},
    {{ action = "drop", log_prefix = "this prefix is far longer than thirty-one" }},
  ]
}}
"#
    );
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    wd.write_config(&hcl(&sim, &body)).unwrap();
    wd.init().unwrap();
    let out = wd
        .run_unchecked(&["plan", "-no-color", "-input=false"])
        .unwrap();
    assert!(!out.success(), "plan succeeded:\n{}", out.combined());
    // Terraform wraps long lines: compare with blanks collapsed.
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = flat(&out.combined());
    for expected in [
        r#"src_address: "10.0.0.0/33": the prefix length must be 0 to 32"#,
        "`dst_port` needs `protocol` tcp, udp, udp-lite, sctp or dccp; \"icmp\" has no ports.",
        "`jump_target` is required when `action` is \"jump\".",
        r#"protocol: "tcpp" is not a protocol RouterOS knows"#,
        "`to_ports` needs `protocol` tcp, udp, udp-lite, sctp or dccp; no protocol is set.",
        r#"address: "10.0.0.300" is not an IPv4 address"#,
        "`mx_exchange` is required for MX records.",
        r#"rules[0].dst_address: "192.168.1.1/40": the prefix length"#,
        "rules[1].dst_port: `dst_port` needs `protocol`",
        "rules[2].jump_target: `jump_target` is required",
        r#"rules[3].action: "masquerade" is not an action of filter rules"#,
        "rules[4].to_ports: `to_ports` is a NAT rule property",
        "rules[5].log_prefix:",
        // Terraform points at the offending lines.
        r#"src_address = "10.0.0.0/33""#,
        r#"address = "10.0.0.300""#,
    ] {
        assert!(
            text.contains(&flat(expected)),
            "missing {expected:?} in:\n{}",
            out.combined()
        );
    }
    assert_eq!(sim.counters().total(), 0, "{:?}", sim.counters().snapshot());

    // A valid entry through the full cycle, so the test also applies and cleans up.
    let ok =
        format!("resource \"{AL}\" \"ok\" {{\n  list    = \"ok\"\n  address = \"10.1.2.3\"\n}}\n");
    let (s1, s2) = (sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, &format!("{ok}\nresource \"{AL}\" \"bad\" {{\n  list    = \"ok\"\n  address = \"10.1.2.3/24/8\"\n}}\n")))
                .expect_error(r#"address: "10.1.2.3/24/8": the prefix length must be 0 to 32"#),
        )
        .step(Step::config(hcl(&sim, &ok)))
        .step(Step::import(format!("{AL}.ok")).import_state_verify())
        .step(
            Step::plan_only(hcl(&sim, &ok))
                .pre_step(move |_| {
                    let e = find(&s1, ADDRESS_LIST, "list", "ok").unwrap();
                    s1.set(ADDRESS_LIST, e[".id"].as_str().unwrap(), &[("disabled", "yes")])
                        .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&format!("{AL}.ok"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &ok)))
        .check_destroy(move |_| {
            ensure!(s2.items(ADDRESS_LIST).is_empty());
            Ok(())
        })
        .run();
}

/// `n` accept rules on ports 1000.. (in `order`) and a final deny.
fn port_ruleset(order: &[u16], extra: &[&str]) -> String {
    let mut rules: Vec<String> = order
        .iter()
        .map(|p| {
            format!(
                "    {{ action = \"accept\", protocol = \"tcp\", dst_port = \"{}\", comment = \"port {}\" }}",
                1000 + p,
                1000 + p
            )
        })
        .collect();
    rules.extend(extra.iter().map(|e| format!("    {e}")));
    rules.push(format!("    {}", rule("deny")));
    format!(
        "resource \"{RS}\" \"fw\" {{\n  table = \"filter\"\n  chain = \"input\"\n  rules = [\n{}\n  ]\n}}\n",
        rules.join(",\n")
    )
}

fn port_packets(n: u16) -> Vec<crate::support::routeros::Packet> {
    let mut ps = packets();
    for p in 0..n {
        ps.push(crate::support::routeros::Packet {
            name: "port",
            protocol: "tcp",
            src: [198, 51, 100, 7],
            dst_port: 1000 + p,
            state: "new",
            in_interface: "ether1",
        });
    }
    ps
}

fn input_owned(sim: &RouterosSim) -> Vec<String> {
    comments(&owned(&sim.chain(FILTER, "input")))
}

#[test]
fn reordering_fifty_rules_never_opens_a_window() {
    let sim = sim();
    let forward: Vec<u16> = (0..49).collect();
    let reversed: Vec<u16> = (0..49).rev().collect();
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5) = (c(), c(), c(), c(), c());
    let rev = reversed.clone();
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl(&sim, &port_ruleset(&forward, &[]))).check(move |_| {
            let o = input_owned(&s1);
            ensure!(o.len() == 50 && o[49] == "[homelab] default deny", "{o:?}");
            Ok(())
        }))
        .step(
            Step::config(hcl(&sim, &port_ruleset(&reversed, &[])))
                .pre_step(move |_| {
                    s2.record(FILTER, "input");
                    s2.counters().reset();
                    Ok(())
                })
                .check(move |_| {
                    let o = input_owned(&s3);
                    let want: Vec<String> = rev
                        .iter()
                        .map(|p| format!("[homelab] port {}", 1000 + p))
                        .chain(["[homelab] default deny".to_string()])
                        .collect();
                    ensure!(o == want, "{o:?}");
                    let moves = s3.counters().get("POST", "/rest/ip/firewall/filter/move");
                    let all = s3.counters().total();
                    eprintln!(
                        "[routeros] reversing 49 of 50 rules: {moves} moves, {all} requests in all: {:?}",
                        s3.counters().snapshot()
                    );
                    ensure!(moves == 48, "a reversal of 49 rules takes 48 moves, took {moves}");
                    ensure!(writes(&s3) == moves, "only moves");
                    let n = check_no_window(&s3.history(), &port_packets(50))?;
                    ensure!(n == 49, "one chain per request: {n}");
                    Ok(())
                }),
        )
        .step(Step::import(rs("fw")).import_state_verify())
        .step(
            Step::plan_only(hcl(&sim, &port_ruleset(&reversed, &[])))
                .pre_step(move |_| {
                    // Another rule of ours, copied by hand (a comment carries the marker).
                    s4.add(
                        FILTER,
                        &[("chain", "input"), ("action", "accept"), ("comment", "[homelab] copy")],
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rs("fw"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &port_ruleset(&reversed, &[]))).check(move |_| {
            ensure!(!input_owned(&s5).iter().any(|c| c == "[homelab] copy"), "removed");
            Ok(())
        }))
        .check_destroy({
            let s = c();
            move |_| {
                ensure!(s.chain(FILTER, "input").is_empty(), "{:?}", comments(&s.chain(FILTER, "input")));
                Ok(())
            }
        })
        .run();
}

#[test]
fn a_failure_in_the_middle_of_a_reorder_leaves_a_safe_chain_and_matching_state() {
    let sim = sim();
    let v1: Vec<u16> = (0..8).collect();
    let v2: Vec<u16> = vec![7, 6, 5, 4, 3, 2, 1, 0];
    let c = || sim.clone();
    let (s1, s2, s3, s4, s5, s6) = (c(), c(), c(), c(), c(), c());
    let new_rule = r#"{ action = "accept", protocol = "udp", dst_port = "53", comment = "dns" }"#;
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl(&sim, &port_ruleset(&v1, &[]))))
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[])))
                .pre_step(move |_| {
                    s1.record(FILTER, "input");
                    // The first three moves go through, the fourth fails for good
                    // (RouterOS's 500 is final; a 503 would be retried).
                    let f = s1.faults();
                    f.inject(
                        "POST",
                        "/rest/ip/firewall/filter/move",
                        Fault::Delay(std::time::Duration::ZERO),
                        3,
                    );
                    f.inject(
                        "POST",
                        "/rest/ip/firewall/filter/move",
                        Fault::Status(500),
                        1,
                    );
                    Ok(())
                })
                .expect_error(
                    r"(?s)Unable to update firewall ruleset.*HTTP 500.*The\s+apply\s+stopped\s+there",
                ),
        )
        .step(
            Step::refresh()
                .pre_step(move |ctx| {
                    ensure!(s2.faults().pending() == 0, "faults not all delivered");
                    // The chain still denies by default, and no packet got a third verdict.
                    let chain = s2.chain(FILTER, "input");
                    ensure!(
                        comments(&chain).last().map(String::as_str)
                            == Some("[homelab] default deny")
                    );
                    let n = check_no_window(&s2.history(), &port_packets(8))?;
                    ensure!(n == 4, "three moves recorded: {n}");
                    // The state Terraform kept is the router's order.
                    let st = ctx.workdir.state_json()?;
                    let rules = st.attr(&rs("fw"), "rules")?.as_array().unwrap().clone();
                    let in_state: Vec<String> = rules
                        .iter()
                        .map(|r| format!("[homelab] {}", r["comment"].as_str().unwrap()))
                        .collect();
                    ensure!(
                        in_state == comments(&owned(&chain)),
                        "state {in_state:?} vs router {:?}",
                        comments(&chain)
                    );
                    Ok(())
                })
                .expect_non_empty_plan(),
        )
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[]))).check(move |_| {
                let o = input_owned(&s3);
                ensure!(
                    o.first().map(String::as_str) == Some("[homelab] port 1007"),
                    "{o:?}"
                );
                Ok(())
            }),
        )
        .step(
            Step::config(hcl(&sim, &port_ruleset(&v2, &[new_rule])))
                .pre_step(move |_| {
                    // The answers get lost after the router did the work: the add
                    // is taken over (not repeated), the others are retried.
                    s4.counters().reset();
                    let f = s4.faults();
                    f.inject(
                        "PUT",
                        "/rest/ip/firewall/filter",
                        Fault::ResetAfterHandling,
                        1,
                    );
                    f.inject("GET", "/rest/ip/firewall/filter", Fault::Status(503), 1);
                    Ok(())
                })
                .check(move |_| {
                    let dns = input_owned(&s5)
                        .iter()
                        .filter(|c| *c == "[homelab] dns")
                        .count();
                    ensure!(dns == 1, "one dns rule, not {dns}");
                    ensure!(
                        s5.counters().get("PUT", "/rest/ip/firewall/filter") == 1,
                        "the add was not repeated"
                    );
                    Ok(())
                }),
        )
        .step(Step::import(rs("fw")).import_state_verify())
        .step(
            Step::plan_only(hcl(&sim, &port_ruleset(&v2, &[new_rule])))
                .pre_step(move |_| {
                    let id = id_of(&s6, FILTER, "input", "[homelab] port 1003");
                    s6.remove(FILTER, &id).map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rs("fw"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &port_ruleset(&v2, &[new_rule]))))
        .check_destroy({
            let s = c();
            move |_| {
                ensure!(s.chain(FILTER, "input").is_empty());
                Ok(())
            }
        })
        .run();
}

#[test]
fn tls_by_ca_certificate_or_insecure_and_environment_settings() {
    let sim = sim();
    let entry =
        format!("resource \"{AL}\" \"e\" {{\n  list    = \"tls\"\n  address = \"10.2.0.1\"\n}}\n");
    let creds = format!(
        "username = \"admin\"\n    password = \"{}\"",
        labforge_simulators::routeros::ADMIN_PASSWORD
    );
    let with_ca = hcl(&sim, &entry);
    let insecure = hcl_with(&sim, &format!("{creds}\n    insecure = true"), &entry);
    let neither = hcl_with(&sim, &creds, &entry);
    let both = hcl_with(
        &sim,
        &format!(
            "{creds}\n    insecure = true\n    {}",
            crate::support::routeros::ca_attr(&sim)
        ),
        &entry,
    );
    // The CA as a file, given by path (as terraform-routeros takes it), from the environment.
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, sim.ca_pem()).unwrap();
    let env_only = format!("{REQUIRED_PROVIDERS}\n\nprovider \"homelab\" {{}}\n\n{entry}");
    // Trusting neither the CA nor anything: the handshake fails, and says why.
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    wd.write_config(&neither).unwrap();
    wd.init().unwrap();
    let out = wd
        .run_unchecked(&["apply", "-no-color", "-input=false", "-auto-approve"])
        .unwrap();
    assert!(!out.success(), "apply succeeded:\n{}", out.combined());
    let text = out.combined();
    assert!(
        text.contains("Unable to create address list entry"),
        "{text}"
    );
    assert!(
        text.contains("certificate") || text.contains("UnknownIssuer"),
        "{text}"
    );
    assert_eq!(sim.items(ADDRESS_LIST).len(), 0);

    let (s1, s2) = (sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .env(
            "ROS_HOSTURL",
            sim.https_url().trim_start_matches("https://"),
        )
        .env("ROS_USERNAME", "admin")
        .env(
            "ROS_PASSWORD",
            labforge_simulators::routeros::ADMIN_PASSWORD,
        )
        .env("ROS_CA_CERTIFICATE", ca_path.to_string_lossy())
        .step(Step::config(with_ca.clone()))
        .step(Step::plan_only(insecure.clone()))
        .step(
            Step::plan_only(both)
                .expect_error("`ca_certificate` and `insecure` exclude each other"),
        )
        .step(Step::plan_only(env_only.clone()))
        .step(
            Step::import(format!("{AL}.e"))
                .with_config(env_only.clone())
                .import_state_verify(),
        )
        .step(
            Step::plan_only(insecure.clone())
                .pre_step(move |_| {
                    let e = find(&s1, ADDRESS_LIST, "list", "tls").unwrap();
                    s1.remove(ADDRESS_LIST, e[".id"].as_str().unwrap())
                        .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&format!("{AL}.e"), Action::Create),
        )
        .step(Step::config(insecure))
        .check_destroy(move |_| {
            ensure!(s2.items(ADDRESS_LIST).is_empty());
            Ok(())
        })
        .run();
}

#[test]
fn a_read_only_user_can_plan_and_its_writes_are_refused_clearly() {
    let sim = sim();
    let body = |ports: &[u16]| port_ruleset(ports, &[]);
    let reader = |b: &str| hcl_with(&sim, &login(READ_USER, READ_PASSWORD, &sim), b);
    let c = || sim.clone();
    let (s1, s2, s3, s4) = (c(), c(), c(), c());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl(&sim, &body(&[0, 1, 2]))))
        .step(
            Step::plan_only(reader(&body(&[0, 1, 2])))
                .pre_step(move |_| {
                    s1.counters().reset();
                    Ok(())
                })
                .plan_check(move |plan| {
                    ensure!(plan.is_empty()?, "read-only plan: {}", plan.summary());
                    ensure!(s2.counters().total() > 0 && writes(&s2) == 0);
                    Ok(())
                }),
        )
        .step(Step::config(reader(&body(&[2, 1, 0]))).expect_error(
            r"(?s)Unable to update firewall ruleset.*not enough permissions \(9\).*`write` policy",
        ))
        .step(
            Step::refresh()
                .with_config(hcl(&sim, &body(&[0, 1, 2])))
                .check(move |_| {
                    ensure!(
                        input_owned(&s3)
                            == [
                                "[homelab] port 1000",
                                "[homelab] port 1001",
                                "[homelab] port 1002",
                                "[homelab] default deny"
                            ],
                        "nothing changed: {:?}",
                        input_owned(&s3)
                    );
                    Ok(())
                }),
        )
        .step(Step::config(hcl(&sim, &body(&[2, 1, 0]))))
        .step(Step::import(rs("fw")).import_state_verify())
        .step(
            Step::plan_only(hcl(&sim, &body(&[2, 1, 0])))
                .pre_step(move |_| {
                    let a = id_of(&s4, FILTER, "input", "[homelab] port 1000");
                    s4.move_before(FILTER, &a, None)
                        .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rs("fw"), Action::Update),
        )
        .step(Step::config(hcl(&sim, &body(&[2, 1, 0]))))
        .check_destroy({
            let s = c();
            move |_| {
                ensure!(s.chain(FILTER, "input").is_empty());
                Ok(())
            }
        })
        .run();
}

//! Acceptance tests of `homelab_technitium_zone`, `homelab_technitium_dns_record` and the
//! `homelab_technitium_zone_records` data source, through the real CLI against the
//! Technitium simulator.
//!
//! Every test: apply, empty plan, (import), drift, destroy, simulator clean.

#![allow(clippy::unwrap_used)]

use std::rc::Rc;

use anyhow::{Result, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase, Workdir};
use labforge_simulators::common::Fault;
use labforge_simulators::technitium::{
    ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER, READONLY_TOKEN, SEED_ZONE, TechnitiumSim,
};

use crate::support::REQUIRED_PROVIDERS;

const RT: &str = "homelab_technitium_dns_record";
const ZT: &str = "homelab_technitium_zone";

fn sim() -> Rc<TechnitiumSim> {
    Rc::new(TechnitiumSim::start().unwrap())
}

fn token(t: &str) -> String {
    format!("token = \"{t}\"")
}

fn login() -> String {
    format!("username = \"{ADMIN_USER}\"\n    password = \"{ADMIN_PASSWORD}\"")
}

/// The root module: required_providers, the provider block (with `auth`) and `body`.
fn hcl(sim: &TechnitiumSim, auth: &str, body: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  technitium {{
    url = "{url}"
    {auth}
  }}
}}

{body}"#,
        url = sim.base_url(),
    )
}

fn rec(name: &str) -> String {
    format!("{RT}.{name}")
}

/// Requests that change something.
/// The Technitium calls that change something (every call may be a GET or a POST).
const WRITE_ROUTES: [&str; 7] = [
    "/api/zones/create",
    "/api/zones/delete",
    "/api/zones/enable",
    "/api/zones/disable",
    "/api/zones/records/add",
    "/api/zones/records/update",
    "/api/zones/records/delete",
];

fn writes(sim: &TechnitiumSim) -> u64 {
    WRITE_ROUTES
        .iter()
        .map(|p| sim.counters().get_any_method(p))
        .sum()
}

/// Runs `plan` (with refresh), which must be empty, write nothing and make
/// at most one request per managed record.
fn measure_refresh(sim: &TechnitiumSim, wd: &Workdir, records: u64, label: &str) -> Result<()> {
    let n = crate::support::refresh_cost(
        "technitium",
        sim.counters(),
        wd,
        records,
        label,
        |_, route| WRITE_ROUTES.contains(&route),
    )?;
    ensure!(
        n <= records,
        "refresh made {n} requests for {records} records"
    );
    Ok(())
}

fn record_values(sim: &TechnitiumSim, domain: &str, rtype: &str) -> Vec<serde_json::Value> {
    sim.find_records(domain, rtype)
}

const LONG_TXT_HEAD: &str = "v=test1; path=/a/b; ";

fn long_txt(fill: char) -> String {
    format!("{LONG_TXT_HEAD}{}", fill.to_string().repeat(300))
}

/// Zones `lab.test` and `other.test` and one record of each type. `v` picks the variant.
fn lifecycle_body(v: u8) -> String {
    let ttl_www = if v >= 2 { 600 } else { 300 };
    let www2_name = if v >= 2 { "www" } else { "WWW.lab.test." };
    let v6 = if v >= 2 {
        "2001:db8::11"
    } else {
        "2001:DB8::10"
    };
    let alias = if v >= 2 {
        "v6.lab.test"
    } else {
        "www.lab.test."
    };
    let txt = long_txt(if v >= 2 { 'y' } else { 'x' });
    let mx_prio = if v >= 2 { 20 } else { 10 };
    let srv_extra = if v >= 2 {
        "port = 5061\n  comments = \"sip\""
    } else {
        "port = 5060"
    };
    let caa = if v >= 2 {
        "pki.goog"
    } else {
        "letsencrypt.org"
    };
    let ptr_disabled = v >= 2;
    let mover_zone = if v >= 3 { "other" } else { "lab" };
    let (retype_t, retype_v) = if v >= 3 {
        ("AAAA", "2001:db8::8")
    } else {
        ("A", "10.0.0.8")
    };
    format!(
        r#"resource "{ZT}" "lab" {{
  name = "lab.test"
}}

resource "{ZT}" "other" {{
  name = "Other.Test."
}}

locals {{
  lab = {ZT}.lab.name
}}

resource "{RT}" "www1" {{
  zone  = local.lab
  name  = "www"
  type  = "A"
  value = "10.0.0.1"
  ttl   = {ttl_www}
}}

resource "{RT}" "www2" {{
  zone  = local.lab
  name  = "{www2_name}"
  type  = "A"
  value = "10.0.0.2"
  ttl   = {ttl_www}
}}

resource "{RT}" "v6" {{
  zone  = local.lab
  name  = "v6"
  type  = "AAAA"
  value = "{v6}"
}}

resource "{RT}" "alias" {{
  zone  = local.lab
  name  = "alias"
  type  = "CNAME"
  value = "{alias}"
}}

resource "{RT}" "txt" {{
  zone  = local.lab
  name  = "@"
  type  = "TXT"
  value = "{txt}"
}}

resource "{RT}" "mx" {{
  zone     = local.lab
  name     = "@"
  type     = "MX"
  priority = {mx_prio}
  value    = "mail.lab.test"
}}

resource "{RT}" "srv" {{
  zone     = local.lab
  name     = "_sip._tcp"
  type     = "SRV"
  priority = 10
  weight   = 5
  {srv_extra}
  value    = "sip.lab.test."
}}

resource "{RT}" "caa" {{
  zone  = local.lab
  name  = "@"
  type  = "CAA"
  flags = 0
  tag   = "issue"
  value = "{caa}"
}}

resource "{RT}" "ptr" {{
  zone     = local.lab
  name     = "10"
  type     = "PTR"
  value    = "host.lab.test"
  disabled = {ptr_disabled}
}}

resource "{RT}" "ns" {{
  zone  = local.lab
  name  = "sub.lab.test"
  type  = "NS"
  value = "ns1.lab.test"
}}

resource "{RT}" "mover" {{
  zone  = {ZT}.{mover_zone}.name
  name  = "mover"
  type  = "A"
  value = "10.0.0.9"
}}

resource "{RT}" "retype" {{
  zone  = local.lab
  name  = "retype"
  type  = "{retype_t}"
  value = "{retype_v}"
}}

data "homelab_technitium_zone_records" "lab" {{
  zone = local.lab
  depends_on = [
    {RT}.www1, {RT}.www2, {RT}.v6, {RT}.alias, {RT}.txt, {RT}.mx,
    {RT}.srv, {RT}.caa, {RT}.ptr, {RT}.ns, {RT}.mover, {RT}.retype,
  ]
}}

output "lab_records" {{
  # A string: Terraform 1.10-1.14 count a root output holding a number it computed
  # itself (length) as changed by every refresh-only plan, whatever the providers.
  value = tostring(length(data.homelab_technitium_zone_records.lab.records))
}}
"#
    )
}

#[test]
fn lifecycle_update_replace_import_drift() {
    let sim = sim();
    let cfg = |v: u8| hcl(&sim, &token(ADMIN_TOKEN), &lifecycle_body(v));
    let all = [
        "www1", "www2", "v6", "alias", "txt", "mx", "srv", "caa", "ptr", "ns", "mover", "retype",
    ];
    let (s1, s2, s3, s4, s5) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let mut step1 = Step::config(cfg(1))
        .expect_action(&format!("{ZT}.lab"), Action::Create)
        .expect_planned(&rec("mx"), "id", "lab.test/@/MX/10 mail.lab.test")
        .expect_attr(&rec("www2"), "name", "WWW.lab.test.")
        .expect_attr(&rec("v6"), "value", "2001:DB8::10")
        .expect_attr(&rec("v6"), "ttl", 3600)
        .expect_attr(&rec("ns"), "comments", "")
        .expect_attr(&format!("{ZT}.lab"), "dnssec_status", "Unsigned")
        .expect_attr(&format!("{ZT}.lab"), "type", "Primary")
        // SOA + NS + 12 records.
        .expect_output("lab_records", "14")
        .check(move |_| {
            let www = record_values(&s1, "www.lab.test", "A");
            ensure!(www.len() == 2, "round-robin A records: {www:?}");
            ensure!(www.iter().all(|r| r["ttl"] == 300), "{www:?}");
            let txt = record_values(&s1, "lab.test", "TXT");
            ensure!(
                txt[0]["rData"]["characterStrings"]
                    .as_array()
                    .unwrap()
                    .len()
                    == 2
            );
            ensure!(s1.token_in_query_count() == 0, "token sent in a URL");
            Ok(())
        });
    for r in all {
        step1 = step1.expect_action(&rec(r), Action::Create);
    }
    let mut step2 = Step::config(cfg(2))
        .pre_step(move |ctx| measure_refresh(&s2, ctx.workdir, 12, "lifecycle"))
        .expect_action(&rec("ns"), Action::NoOp)
        .expect_action(&rec("mover"), Action::NoOp)
        .expect_attr(&rec("www2"), "name", "www")
        .expect_attr(&rec("srv"), "comments", "sip")
        .check(move |_| {
            let www = record_values(&s3, "www.lab.test", "A");
            ensure!(
                www.len() == 2 && www.iter().all(|r| r["ttl"] == 600),
                "{www:?}"
            );
            let ptr = record_values(&s3, "10.lab.test", "PTR");
            ensure!(ptr[0]["disabled"] == true, "{ptr:?}");
            let cname = record_values(&s3, "alias.lab.test", "CNAME");
            ensure!(cname[0]["rData"]["cname"] == "v6.lab.test", "{cname:?}");
            let srv = record_values(&s3, "_sip._tcp.lab.test", "SRV");
            ensure!(
                srv[0]["rData"]["port"] == 5061 && srv[0]["ttl"] == 3600,
                "{srv:?}"
            );
            Ok(())
        });
    for r in [
        "www1", "www2", "v6", "alias", "txt", "mx", "srv", "caa", "ptr",
    ] {
        step2 = step2.expect_action(&rec(r), Action::Update);
    }
    let step3 = Step::config(cfg(3))
        .expect_action(&rec("mover"), Action::Replace)
        .expect_action(&rec("retype"), Action::Replace)
        .expect_action(&rec("www1"), Action::NoOp)
        .check(move |_| {
            ensure!(record_values(&s4, "mover.other.test", "A").len() == 1);
            ensure!(record_values(&s4, "mover.lab.test", "A").is_empty());
            ensure!(record_values(&s4, "retype.lab.test", "A").is_empty());
            ensure!(record_values(&s4, "retype.lab.test", "AAAA").len() == 1);
            Ok(())
        });
    let (d1, d2) = (sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(step1)
        .step(step2)
        .step(step3)
        .step(Step::import(rec("mx")).import_state_verify())
        .step(
            Step::import(rec("txt"))
                .import_id(format!("lab.test/@/TXT/{}", long_txt('y')))
                .import_state_verify(),
        )
        .step(Step::import(rec("caa")).import_state_verify())
        .step(Step::import(rec("srv")).import_state_verify())
        .step(
            Step::import(format!("{ZT}.other"))
                .import_id("Other.Test.")
                .import_state_verify(),
        )
        .step(
            Step::plan_only(cfg(3))
                .pre_step(move |_| {
                    // Behind Terraform's back: edit one, delete one, retarget the CNAME.
                    s5.update_record(&[
                        ("domain", "www.lab.test"),
                        ("type", "A"),
                        ("ipAddress", "10.0.0.1"),
                        ("ttl", "600"),
                        ("comments", "edited by hand"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    s5.delete_record(&[
                        ("domain", "lab.test"),
                        ("type", "CAA"),
                        ("flags", "0"),
                        ("tag", "issue"),
                        ("value", "pki.goog"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    s5.update_record(&[
                        ("domain", "alias.lab.test"),
                        ("type", "CNAME"),
                        ("cname", "elsewhere.lab.test"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rec("www1"), Action::Update)
                .expect_action(&rec("www2"), Action::NoOp)
                .expect_action(&rec("caa"), Action::Create)
                .expect_action(&rec("alias"), Action::Update),
        )
        .step(Step::config(cfg(3)).check(move |_| {
            let caa = record_values(&d1, "lab.test", "CAA");
            ensure!(caa.len() == 1, "{caa:?}");
            let www = record_values(&d1, "www.lab.test", "A");
            ensure!(www.iter().all(|r| r.get("comments").is_none()), "{www:?}");
            Ok(())
        }))
        .check_destroy(move |_| {
            let zones = d2.zone_names();
            ensure!(
                !zones.iter().any(|z| z == "lab.test" || z == "other.test"),
                "zones left behind: {zones:?}"
            );
            ensure!(d2.token_in_query_count() == 0, "token sent in a URL");
            Ok(())
        })
        .run();
}

#[test]
fn bad_input_is_rejected_at_plan_naming_the_attribute() {
    let sim = sim();
    let body = format!(
        r#"resource "{RT}" "bad_ip" {{
  zone  = "lab.test"
  name  = "www"
  type  = "A"
  value = "10.0.0.300"
}}

resource "{RT}" "v4_in_aaaa" {{
  zone  = "lab.test"
  name  = "v6"
  type  = "AAAA"
  value = "10.0.0.1"
}}

resource "{RT}" "bad_name" {{
  zone  = "lab.test"
  name  = "bad..name"
  type  = "A"
  value = "10.0.0.1"
}}

resource "{RT}" "bad_ttl" {{
  zone  = "lab.test"
  name  = "t"
  type  = "A"
  value = "10.0.0.1"
  ttl   = -5
}}

resource "{RT}" "mx_no_priority" {{
  zone  = "lab.test"
  name  = "@"
  type  = "MX"
  value = "mail.lab.test"
}}

resource "{RT}" "a_with_weight" {{
  zone   = "lab.test"
  name   = "w"
  type   = "A"
  value  = "10.0.0.1"
  weight = 3
}}

resource "{RT}" "bad_type" {{
  zone  = "lab.test"
  name  = "s"
  type  = "SPF"
  value = "v=spf1 -all"
}}

resource "{RT}" "bad_target" {{
  zone  = "lab.test"
  name  = "c"
  type  = "CNAME"
  value = "not a name"
}}

resource "{ZT}" "fwd" {{
  name = "fwd.test"
  type = "Forwarder"
}}
"#
    );
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    wd.write_config(&hcl(&sim, &token(ADMIN_TOKEN), &body))
        .unwrap();
    wd.init().unwrap();
    let out = wd
        .run_unchecked(&["plan", "-no-color", "-input=false"])
        .unwrap();
    assert!(!out.success(), "plan succeeded:\n{}", out.combined());
    let text = out.combined();
    for expected in [
        r#"value: "10.0.0.300" is not an IPv4 address"#,
        r#"value: "10.0.0.1" is not an IPv6 address"#,
        r#"name: "bad..name" is not a valid DNS name"#,
        "ttl: must be between 0 and 2147483647, got -5",
        "`priority` is required for MX records.",
        "`weight` is only used with SRV records, not A.",
        r#"type: "SPF" is not one of"#,
        r#"value: "not a name" is not a valid domain name"#,
        "`forwarder` is required for Forwarder zones.",
        // Terraform points at the offending line.
        r#"value = "10.0.0.300""#,
        "weight = 3",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(sim.counters().total(), 0, "{:?}", sim.counters().snapshot());
    // Same through the TestCase path (and nothing left behind).
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(
                &sim,
                &token(ADMIN_TOKEN),
                &format!(
                    "resource \"{RT}\" \"x\" {{\n  zone = \"{SEED_ZONE}\"\n  name = \"x\"\n  type = \"A\"\n  value = \"::1\"\n}}\n"
                ),
            ))
            .expect_error(r#"value: "::1" is not an IPv4 address"#),
        )
        .run();
    assert_eq!(writes(&sim), 0);
}

fn faults_body(ttl: u32) -> String {
    format!(
        r#"resource "{ZT}" "f" {{
  name = "faults.test"
}}

resource "{RT}" "a" {{
  zone  = {ZT}.f.name
  name  = "a"
  type  = "A"
  value = "10.9.0.1"
  ttl   = {ttl}
}}

resource "{RT}" "b" {{
  zone  = {ZT}.f.name
  name  = "b"
  type  = "TXT"
  value = "hello"
}}

resource "{RT}" "c" {{
  zone     = {ZT}.f.name
  name     = "@"
  type     = "MX"
  priority = 5
  value    = "mx.faults.test"
}}
"#
    )
}

#[test]
fn transient_faults_are_retried_and_persistent_ones_reported() {
    let sim = sim();
    let cfg = |ttl| hcl(&sim, &token(ADMIN_TOKEN), &faults_body(ttl));
    let (s1, s2, s3, s4, s5, s6) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(cfg(300)).pre_step(move |_| {
            let f = s1.faults();
            f.inject("*", "/api/zones/create", Fault::Status(503), 1);
            f.inject("*", "/api/zones/records/add", Fault::Status(502), 2);
            f.inject("*", "/api/zones/records/add", Fault::Reset, 1);
            f.inject(
                "*",
                "/api/zones/records/get",
                Fault::RateLimited {
                    retry_after_secs: 1,
                },
                1,
            );
            f.inject("*", "/api/zones/list", Fault::Status(500), 1);
            Ok(())
        }))
        .step(
            Step::config(cfg(600))
                .pre_step(move |_| {
                    ensure!(s2.faults().pending() == 0, "faults not all delivered");
                    s2.faults()
                        .inject("*", "/api/zones/records/update", Fault::Status(503), 100);
                    Ok(())
                })
                .expect_error(r"updating A record a\.faults\.test \(10\.9\.0\.1\) in zone faults\.test:\s+/api/zones/records/update: HTTP 503"),
        )
        .step(
            Step::plan_only(cfg(600))
                .pre_step(move |ctx| {
                    s3.faults().clear();
                    s3.faults()
                        .inject("*", "/api/zones/records/get", Fault::Status(503), 100);
                    // Nothing was lost from state.
                    let st = ctx.workdir.state_json()?;
                    ensure!(st.addresses().len() == 4, "{:?}", st.addresses());
                    Ok(())
                })
                .expect_error(r"reading zone faults\.test:\s+/api/zones/records/get: HTTP 503"),
        )
        .step(
            Step::plan_only(cfg(600))
                .pre_step(move |_| {
                    s4.faults().clear();
                    Ok(())
                })
                .expect_action(&rec("a"), Action::Update)
                .expect_action(&rec("b"), Action::NoOp),
        )
        .step(Step::config(cfg(600)).check(move |_| {
            let a = s5.find_records("a.faults.test", "A");
            ensure!(a.len() == 1 && a[0]["ttl"] == 600, "{a:?}");
            Ok(())
        }))
        .check_destroy(move |_| {
            ensure!(!s6.zone_names().iter().any(|z| z == "faults.test"));
            Ok(())
        })
        .run();
}

fn hosts_body(ttl0: u32) -> String {
    hosts_body_n(ttl0, 10)
}

fn hosts_body_n(ttl0: u32, n: u32) -> String {
    let mut s = String::new();
    for i in 0..n {
        let ttl = if i == 0 { ttl0 } else { 3600 };
        s.push_str(&format!(
            "resource \"{RT}\" \"h{i}\" {{\n  zone  = \"{SEED_ZONE}\"\n  name  = \"host{i}\"\n  type  = \"A\"\n  value = \"10.1.0.{i}\"\n  ttl   = {ttl}\n}}\n\n"
        ));
    }
    s
}

#[test]
fn login_adoption_read_only_token_and_refresh_cost() {
    let sim = sim();
    let seed_count = sim.zone_records(SEED_ZONE).unwrap().len();
    let admin = |ttl| hcl(&sim, &login(), &hosts_body(ttl));
    let readonly = |ttl| hcl(&sim, &token(READONLY_TOKEN), &hosts_body(ttl));
    let s6 = sim.clone();
    let (s1, s2, s3, s4, s5) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(admin(3600))
                .pre_step(move |_| {
                    // Already there with the same data: current servers refuse the add
                    // ("record already exists"); the provider verifies and takes it over.
                    s1.add_record(&[
                        ("domain", "host3.home.arpa"),
                        ("type", "A"),
                        ("ipAddress", "10.1.0.3"),
                        ("ttl", "3600"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rec("h3"), Action::Create)
                .expect_apply_output(
                    r"Took over existing A record host3\.home\.arpa \(10\.1\.0\.3\)(?s:.*)now\s+managed\s+by\s+this\s+resource",
                ),
        )
        .step(
            Step::plan_only(admin(3600))
                .pre_step(move |ctx| measure_refresh(&s2, ctx.workdir, 10, "10 records, one zone")),
        )
        .step(
            Step::plan_only(readonly(3600))
                .pre_step(move |_| {
                    s3.counters().reset();
                    Ok(())
                })
                .plan_check(move |plan| {
                    ensure!(plan.is_empty()?, "read-only plan: {}", plan.summary());
                    ensure!(writes(&s4) == 0, "read-only plan wrote");
                    ensure!(s4.counters().total() > 0, "no refresh at all?");
                    Ok(())
                }),
        )
        .step(Step::config(readonly(60)).expect_error(
            r"updating A record host0\.home\.arpa \(10\.1\.0\.0\) in zone home\.arpa:\s+/api/zones/records/update: Access was denied\.",
        ))
        .step(Step::config(admin(60)).expect_action(&rec("h0"), Action::Update))
        .step(
            Step::config(hcl(&sim, &login(), &hosts_body_n(60, 11)))
                .pre_step(move |_| {
                    // Servers before v13.6 answer `ok` to a duplicate add (and to deleting
                    // a missing record).
                    s6.set_older_server(true);
                    s6.add_record(&[
                        ("domain", "host10.home.arpa"),
                        ("type", "A"),
                        ("ipAddress", "10.1.0.10"),
                        ("ttl", "3600"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rec("h10"), Action::Create),
        )
        .check_destroy(move |_| {
            let left = s5.zone_records(SEED_ZONE).unwrap();
            ensure!(left.len() == seed_count, "left behind: {left:?}");
            ensure!(s5.token_in_query_count() == 0, "token sent in a URL");
            Ok(())
        })
        .run();
}

/// The server created the zone and the record but both answers were lost (the
/// connection broke after the work was done): the retried creates get "already
/// exists", and the provider takes over what it made. A zone that already holds
/// records is not taken over.
#[test]
fn lost_create_answers_take_over_what_was_made() {
    let sim = sim();
    sim.create_zone("taken.test", "Primary").unwrap();
    sim.add_record(&[
        ("domain", "www.taken.test"),
        ("type", "A"),
        ("ipAddress", "10.9.2.1"),
    ])
    .unwrap();
    let lost = format!(
        r#"
resource "{ZT}" "z" {{
  name = "lost.test"
}}

resource "{RT}" "a" {{
  zone  = {ZT}.z.name
  name  = "a"
  type  = "A"
  value = "10.9.1.1"
  ttl   = 300
}}
"#
    );
    let taken = format!("{lost}\nresource \"{ZT}\" \"t\" {{\n  name = \"taken.test\"\n}}\n");
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, &token(ADMIN_TOKEN), &lost))
                .pre_step(move |_| {
                    let f = s1.faults();
                    f.inject("*", "/api/zones/create", Fault::ResetAfterHandling, 1);
                    f.inject("*", "/api/zones/records/add", Fault::ResetAfterHandling, 1);
                    Ok(())
                })
                .expect_apply_output(r"Took over existing zone lost\.test")
                .check(move |_| {
                    ensure!(s2.faults().pending() == 0, "faults not all delivered");
                    let c = s2.counters();
                    ensure!(c.get_any_method("/api/zones/create") == 2, "one retry");
                    ensure!(c.get_any_method("/api/zones/records/add") == 2, "one retry");
                    let zones = s2.zone_names();
                    let n = zones.iter().filter(|z| *z == "lost.test").count();
                    ensure!(n == 1, "{zones:?}");
                    let a = s2.find_records("a.lost.test", "A");
                    ensure!(a.len() == 1 && a[0]["ttl"] == 300, "{a:?}");
                    Ok(())
                }),
        )
        .step(
            Step::config(hcl(&sim, &token(ADMIN_TOKEN), &taken))
                .expect_error(r"(?s)creating zone taken\.test:.*already holds records"),
        )
        .check_destroy(move |_| {
            let zones = s3.zone_names();
            ensure!(!zones.iter().any(|z| z == "lost.test"), "{zones:?}");
            ensure!(zones.iter().any(|z| z == "taken.test"), "{zones:?}");
            Ok(())
        })
        .run();
}

/// The add's answer was lost after the server made the record, and looking
/// for it fails: the apply fails, but the record stays in state (tainted,
/// never forgotten), and the next apply replaces it; nothing is left behind.
#[test]
fn create_reads_the_record_back() {
    let sim = sim();
    let body = format!(
        "resource \"{RT}\" \"rb\" {{\n  zone  = \"{SEED_ZONE}\"\n  name  = \"readback\"\n  type  = \"A\"\n  value = \"10.7.0.1\"\n  ttl   = 120\n}}\n"
    );
    let cfg = hcl(&sim, &token(ADMIN_TOKEN), &body);
    let seed_count = sim.zone_records(SEED_ZONE).unwrap().len();
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(cfg.clone())
                .pre_step(move |_| {
                    let f = s1.faults();
                    f.inject("*", "/api/zones/records/add", Fault::ResetAfterHandling, 1);
                    f.inject("*", "/api/zones/records/get", Fault::Status(500), 50);
                    Ok(())
                })
                .expect_error(
                    r"(?s)adding A record readback\.home\.arpa \(10\.7\.0\.1\) to zone home\.arpa:\s+/api/zones/records/get:\s+HTTP 500",
                ),
        )
        .step(
            Step::config(cfg.clone())
                .pre_step(move |ctx| {
                    s2.faults().clear();
                    ensure!(s2.find_records("readback.home.arpa", "A").len() == 1);
                    // Kept in state, tainted.
                    let st = ctx.workdir.state_json()?;
                    ensure!(st.addresses() == vec![rec("rb").as_str()], "{:?}", st.addresses());
                    let raw = std::fs::read_to_string(ctx.workdir.path().join("terraform.tfstate"))?;
                    ensure!(raw.contains("\"tainted\""), "not tainted: {raw}");
                    Ok(())
                })
                .expect_action(&rec("rb"), Action::Replace)
                .expect_attr(&rec("rb"), "ttl", 120)
                .check(move |_| {
                    let a = s3.find_records("readback.home.arpa", "A");
                    ensure!(a.len() == 1 && a[0]["ttl"] == 120, "{a:?}");
                    Ok(())
                }),
        )
        .step(Step::import(rec("rb")).import_state_verify())
        .step(
            Step::plan_only(cfg)
                .pre_step({
                    let s = sim.clone();
                    move |_| {
                        s.delete_record(&[
                            ("domain", "readback.home.arpa"),
                            ("type", "A"),
                            ("ipAddress", "10.7.0.1"),
                        ])
                        .map_err(anyhow::Error::msg)?;
                        Ok(())
                    }
                })
                .expect_action(&rec("rb"), Action::Create),
        )
        .check_destroy(move |_| {
            let left = s4.zone_records(SEED_ZONE).unwrap();
            ensure!(left.len() == seed_count, "left behind: {left:?}");
            Ok(())
        })
        .run();
}

/// Terraform state as written on disk (to see `tainted`).
fn raw_state(wd: &Workdir) -> Result<String> {
    Ok(std::fs::read_to_string(
        wd.path().join("terraform.tfstate"),
    )?)
}

/// A zone whose read-back fails after the server created it stays in state
/// (tainted) and is replaced by the next apply; nothing is left behind.
#[test]
fn zone_create_keeps_what_it_made() {
    let sim = sim();
    let body = format!(
        r#"resource "{ZT}" "rb" {{
  name = "readback.test"
}}

resource "{RT}" "a" {{
  zone  = {ZT}.rb.name
  name  = "a"
  type  = "A"
  value = "10.7.1.1"
}}
"#
    );
    let cfg = hcl(&sim, &token(ADMIN_TOKEN), &body);
    let (s1, s2, s3, s4, s5) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(cfg.clone())
                .pre_step(move |_| {
                    s1.faults()
                        .inject("*", "/api/zones/list", Fault::Status(500), 50);
                    Ok(())
                })
                .expect_error(
                    r"(?s)zone readback\.test was created, but reading it back failed:.*/api/zones/list: HTTP 500",
                ),
        )
        .step(
            Step::config(cfg.clone())
                .pre_step(move |ctx| {
                    s2.faults().clear();
                    ensure!(s2.zone_names().iter().any(|z| z == "readback.test"));
                    let st = ctx.workdir.state_json()?;
                    ensure!(
                        st.addresses() == vec![format!("{ZT}.rb").as_str()],
                        "the zone is not in state: {:?}",
                        st.addresses()
                    );
                    ensure!(raw_state(ctx.workdir)?.contains("\"tainted\""), "not tainted");
                    Ok(())
                })
                .expect_action(&format!("{ZT}.rb"), Action::Replace)
                .expect_action(&rec("a"), Action::Create)
                .expect_attr(&format!("{ZT}.rb"), "dnssec_status", "Unsigned")
                .check(move |_| {
                    let n = s3.zone_names().iter().filter(|z| *z == "readback.test").count();
                    ensure!(n == 1);
                    ensure!(s3.find_records("a.readback.test", "A").len() == 1);
                    Ok(())
                }),
        )
        .step(Step::import(format!("{ZT}.rb")).import_state_verify())
        .step(
            Step::plan_only(cfg)
                .pre_step(move |_| {
                    s4.delete_record(&[
                        ("domain", "a.readback.test"),
                        ("type", "A"),
                        ("ipAddress", "10.7.1.1"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rec("a"), Action::Create)
                .expect_action(&format!("{ZT}.rb"), Action::NoOp),
        )
        .check_destroy(move |_| {
            ensure!(!s5.zone_names().iter().any(|z| z == "readback.test"));
            Ok(())
        })
        .run();
}

fn txt_body(text: &str) -> String {
    format!(
        r#"resource "{RT}" "long" {{
  zone  = "{SEED_ZONE}"
  name  = "@"
  type  = "TXT"
  value = "{text}"
}}

data "homelab_technitium_zone_records" "z" {{
  zone       = "{SEED_ZONE}"
  depends_on = [{RT}.long]
}}

output "txt" {{
  value = [for r in data.homelab_technitium_zone_records.z.records : r.value if r.type == "TXT"]
}}
"#
    )
}

/// TXT text longer than 255 bytes: the server keeps several character-strings
/// and answers `splitText: true` with `text` the plain concatenation. The
/// record is read back, plans stay empty, import finds it, and the data
/// source shows the text as written (no new line at byte 255).
#[test]
fn long_txt_is_read_back_imported_and_listed_as_written() {
    let sim = sim();
    let text = |c: char| format!("v=long1; k={}", c.to_string().repeat(600));
    let (t1, t2) = (text('a'), text('b'));
    let c1 = hcl(&sim, &token(ADMIN_TOKEN), &txt_body(&t1));
    let c2 = hcl(&sim, &token(ADMIN_TOKEN), &txt_body(&t2));
    let seed_count = sim.zone_records(SEED_ZONE).unwrap().len();
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    let (e1, e2, e3) = (t1.clone(), t2.clone(), t2.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .expect_action(&rec("long"), Action::Create)
                .expect_attr(&rec("long"), "value", t1.as_str())
                .expect_output("txt", serde_json::json!([t1.clone()]))
                .check(move |_| {
                    let txt = s1.find_records(SEED_ZONE, "TXT");
                    ensure!(txt.len() == 1, "{txt:?}");
                    let rd = &txt[0]["rData"];
                    ensure!(
                        rd["characterStrings"].as_array().map(Vec::len) == Some(3),
                        "{rd}"
                    );
                    ensure!(rd["splitText"] == true && rd["text"] == e1.as_str(), "{rd}");
                    Ok(())
                }),
        )
        .step(
            Step::import(rec("long"))
                .import_id(format!("{SEED_ZONE}/@/TXT/{t1}"))
                .import_state_verify(),
        )
        .step(
            Step::import(rec("long"))
                .import_id(format!("{SEED_ZONE}/@/TXT/{t1}"))
                .import_block()
                .import_state_verify(),
        )
        .step(
            Step::config(&c2)
                .expect_action(&rec("long"), Action::Update)
                .expect_output("txt", serde_json::json!([t2.clone()]))
                .check(move |_| {
                    let txt = s2.find_records(SEED_ZONE, "TXT");
                    ensure!(
                        txt.len() == 1 && txt[0]["rData"]["text"] == e2.as_str(),
                        "{txt:?}"
                    );
                    Ok(())
                }),
        )
        .step(
            // Drift: deleted behind Terraform's back (as the server names it:
            // the text, splitText=false).
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    s3.delete_record(&[
                        ("domain", SEED_ZONE),
                        ("type", "TXT"),
                        ("text", e3.as_str()),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    ensure!(s3.find_records(SEED_ZONE, "TXT").is_empty());
                    Ok(())
                })
                .expect_action(&rec("long"), Action::Create),
        )
        .step(Step::config(&c2).expect_attr(&rec("long"), "value", t2.as_str()))
        .check_destroy(move |_| {
            let left = s4.zone_records(SEED_ZONE).unwrap();
            ensure!(left.len() == seed_count, "left behind: {left:?}");
            Ok(())
        })
        .run();
}

fn v6_body(zone: &str, name: &str, value: &str) -> String {
    format!(
        r#"resource "{RT}" "v6" {{
  zone  = "{zone}"
  name  = "{name}"
  type  = "AAAA"
  value = "{value}"
}}
"#
    )
}

/// IPv6 spelling (and name and zone spelling) never shows as a diff: not
/// after import (whose ID uses the server's form), not when the
/// configuration is respelled; a real change still does.
#[test]
fn ipv6_spelling_is_not_a_change() {
    let sim = sim();
    let cfg = |zone: &str, name: &str, value: &str| {
        hcl(&sim, &token(ADMIN_TOKEN), &v6_body(zone, name, value))
    };
    let c1 = cfg(SEED_ZONE, "v6", "FD00:0:0:0::20");
    let respelled = cfg("Home.Arpa.", "V6.home.arpa.", "fd00:0000::0020");
    let moved = cfg(SEED_ZONE, "v6", "FD00::21");
    let seed_count = sim.zone_records(SEED_ZONE).unwrap().len();
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .expect_attr(&rec("v6"), "value", "FD00:0:0:0::20")
                .check(move |_| {
                    let r = s1.find_records("v6.home.arpa", "AAAA");
                    ensure!(
                        r.len() == 1 && r[0]["rData"]["ipAddress"] == "fd00::20",
                        "{r:?}"
                    );
                    Ok(())
                }),
        )
        .step(
            // The import ID in the server's spelling; the plan must not change it.
            Step::import(rec("v6"))
                .import_id(format!("{SEED_ZONE}/v6.home.arpa./AAAA/fd00::20"))
                .import_block()
                .import_state_verify()
                .import_state_verify_ignore(&["id", "name", "value"]),
        )
        .step(
            Step::import(rec("v6"))
                .import_id(format!("{SEED_ZONE}/v6/AAAA/fd00::20"))
                .import_state_verify()
                .import_state_verify_ignore(&["id", "value"])
                .expect_attr(&rec("v6"), "value", "fd00::20"),
        )
        // Respelled zone, name and address: nothing to do (and no replacement).
        .step(Step::plan_only(&respelled).expect_empty_plan())
        .step(
            // Drift behind Terraform's back: ttl changed.
            Step::plan_only(&c1)
                .pre_step(move |_| {
                    s2.update_record(&[
                        ("domain", "v6.home.arpa"),
                        ("type", "AAAA"),
                        ("ipAddress", "fd00::20"),
                        ("ttl", "60"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rec("v6"), Action::Update)
                .expect_planned(&rec("v6"), "ttl", 3600),
        )
        .step(
            Step::config(&moved)
                .expect_action(&rec("v6"), Action::Update)
                .expect_attr(&rec("v6"), "value", "FD00::21"),
        )
        .check_destroy(move |_| {
            let left = s3.zone_records(SEED_ZONE).unwrap();
            ensure!(left.len() == seed_count, "left behind: {left:?}");
            Ok(())
        })
        .run();
}

fn view_body(extra: &str) -> String {
    format!(
        r#"resource "{ZT}" "p" {{
  name = "view.test"
}}

resource "{ZT}" "fwd" {{
  name      = "fwd.view.test"
  type      = "Forwarder"
  forwarder = "192.0.2.53"
}}

resource "{ZT}" "sec" {{
  name                          = "sec.view.test"
  type                          = "Secondary"
  primary_name_server_addresses = ["192.0.2.54"]
}}

resource "{RT}" "www" {{
  zone  = {ZT}.p.name
  name  = "www"
  type  = "A"
  value = "10.8.0.1"
}}

resource "{RT}" "txt" {{
  zone  = {ZT}.p.name
  name  = "@"
  type  = "TXT"
  value = "v=view"
}}
{extra}"#
    )
}

/// A token with View permission only (as on a pull request) refreshes zones
/// and records with what View allows and plans no change; a drift it sees
/// like any other token.
#[test]
fn read_only_token_plans_zones_and_records() {
    let sim = sim();
    let admin = hcl(&sim, &token(ADMIN_TOKEN), &view_body(""));
    let view = hcl(&sim, &token(READONLY_TOKEN), &view_body(""));
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(&admin).expect_attr(&format!("{ZT}.fwd"), "forwarder", "192.0.2.53"))
        .step(
            Step::plan_only(&view)
                .pre_step(move |_| {
                    s1.counters().reset();
                    Ok(())
                })
                .plan_check(move |plan| {
                    ensure!(plan.is_empty()?, "read-only plan: {}", plan.summary());
                    ensure!(writes(&s2) == 0, "read-only plan wrote");
                    ensure!(
                        s2.counters().get_any_method("/api/zones/list") >= 1,
                        "zones were not refreshed: {:?}",
                        s2.counters().snapshot()
                    );
                    Ok(())
                }),
        )
        .step(
            Step::import(format!("{ZT}.p"))
                .with_config(view.clone())
                .import_state_verify(),
        )
        .step(
            Step::import(format!("{ZT}.fwd"))
                .with_config(view.clone())
                .import_state_verify(),
        )
        .step(
            Step::import(rec("www"))
                .with_config(view.clone())
                .import_state_verify(),
        )
        .step(
            // Drift, seen with the read-only token.
            Step::plan_only(&view)
                .pre_step(move |_| {
                    s3.delete_record(&[
                        ("domain", "www.view.test"),
                        ("type", "A"),
                        ("ipAddress", "10.8.0.1"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rec("www"), Action::Create)
                .expect_action(&rec("txt"), Action::NoOp)
                .expect_action(&format!("{ZT}.sec"), Action::NoOp),
        )
        .step(Step::config(&admin).expect_action(&rec("www"), Action::Create))
        .check_destroy(move |_| {
            let zones = s4.zone_names();
            ensure!(!zones.iter().any(|z| z.ends_with("view.test")), "{zones:?}");
            Ok(())
        })
        .run();
}

fn bulk_body(n: u32, ttl: u32) -> String {
    (0..n)
        .map(|i| {
            format!(
                "resource \"{RT}\" \"b{i}\" {{\n  zone  = \"{SEED_ZONE}\"\n  name  = \"bulk{i}\"\n  type  = \"A\"\n  value = \"10.6.{}.{}\"\n  ttl   = {ttl}\n}}\n\n",
                i / 250,
                i % 250 + 1
            )
        })
        .collect()
}

/// Writes read back from their own answers (`addedRecord`, `updatedRecord`):
/// an apply of N records costs N adds (or updates), not N zone listings.
#[test]
fn writes_read_back_from_their_answers() {
    const N: u32 = 40;
    let sim = sim();
    let c1 = hcl(&sim, &token(ADMIN_TOKEN), &bulk_body(N, 3600));
    let c2 = hcl(&sim, &token(ADMIN_TOKEN), &bulk_body(N, 600));
    let seed_count = sim.zone_records(SEED_ZONE).unwrap().len();
    const GET: &str = "/api/zones/records/get";
    let (s1, s2, s3, s4, s5, s6) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c1)
                .pre_step(move |_| {
                    s1.counters().reset();
                    Ok(())
                })
                .check(move |_| {
                    let c = s2.counters();
                    let (adds, lists) = (
                        c.get_any_method("/api/zones/records/add"),
                        c.get_any_method(GET),
                    );
                    eprintln!(
                        "[technitium] create {N}: {adds} adds, {lists} listings: {:?}",
                        c.snapshot()
                    );
                    ensure!(adds == u64::from(N), "{adds} adds for {N} records");
                    ensure!(lists == 0, "{lists} zone listings for {N} creates");
                    ensure!(s2.zone_records(SEED_ZONE).unwrap().len() == seed_count + N as usize);
                    Ok(())
                }),
        )
        .step(
            Step::config(&c2)
                .pre_step(move |_| {
                    s3.counters().reset();
                    Ok(())
                })
                .check(move |_| {
                    let c = s4.counters();
                    let (updates, lists) = (
                        c.get_any_method("/api/zones/records/update"),
                        c.get_any_method(GET),
                    );
                    eprintln!("[technitium] update {N}: {updates} updates, {lists} listings");
                    ensure!(updates == u64::from(N), "{updates} updates for {N} records");
                    // The plan's refresh lists the zone once; the updates none.
                    ensure!(lists <= 1, "{lists} zone listings for {N} updates");
                    let a = s4.find_records("bulk7.home.arpa", "A");
                    ensure!(a.len() == 1 && a[0]["ttl"] == 600, "{a:?}");
                    Ok(())
                }),
        )
        .step(Step::import(rec("b7")).import_state_verify())
        .step(
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    s5.delete_record(&[
                        ("domain", "bulk3.home.arpa"),
                        ("type", "A"),
                        ("ipAddress", "10.6.0.4"),
                    ])
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&rec("b3"), Action::Create)
                .expect_action(&rec("b4"), Action::NoOp),
        )
        .check_destroy(move |_| {
            let left = s6.zone_records(SEED_ZONE).unwrap();
            ensure!(left.len() == seed_count, "left behind: {left:?}");
            Ok(())
        })
        .run();
}

//! Acceptance tests of `homelab_cloudflare_dns_record` and the `homelab_cloudflare_zone`
//! data source, through the real CLI against the Cloudflare simulator.

#![allow(clippy::unwrap_used)]

use std::rc::Rc;

use anyhow::{Result, bail, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase, Workdir};
use labforge_simulators::cloudflare::{
    CloudflareSim, EDIT_TOKEN, READ_TOKEN, SCOPED_TOKEN, ZONE_EXAMPLE_COM,
};
use labforge_simulators::common::Fault;

use crate::support::REQUIRED_PROVIDERS;

const Z: &str = ZONE_EXAMPLE_COM;
const RECORDS: &str = "/client/v4/zones/{zone_id}/dns_records";
const RECORD: &str = "/client/v4/zones/{zone_id}/dns_records/{dns_record_id}";
const RT: &str = "homelab_cloudflare_dns_record";

fn sim() -> Rc<CloudflareSim> {
    Rc::new(CloudflareSim::start().unwrap())
}

/// The root module: required_providers, the provider block and `body`.
fn hcl(sim: &CloudflareSim, token: &str, body: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  cloudflare {{
    api_token           = "{token}"
    base_url            = "{url}"
    requests_per_second = 100
    max_retries         = 3
  }}
}}

{body}"#,
        url = sim.base_url(),
    )
}

fn addr(name: &str) -> String {
    format!("{RT}.{name}")
}

/// Requests that change something.
fn writes(sim: &CloudflareSim) -> u64 {
    sim.counters().get("POST", RECORDS)
        + sim.counters().get("PUT", RECORD)
        + sim.counters().get("PATCH", RECORD)
        + sim.counters().get("DELETE", RECORD)
}

/// Runs `plan` (with refresh), which must be empty and make at most one
/// request per managed record.
fn measure_refresh(sim: &CloudflareSim, wd: &Workdir, records: u64, label: &str) -> Result<()> {
    let n =
        crate::support::refresh_cost("cloudflare", sim.counters(), wd, records, label, |m, _| {
            m != "GET"
        })?;
    ensure!(
        n <= records,
        "refresh made {n} requests for {records} records"
    );
    Ok(())
}

fn our_records_gone(sim: &CloudflareSim, zone: &str, keep: usize) -> Result<()> {
    let left = sim.records(zone);
    if left.len() != keep {
        bail!(
            "expected {keep} records left in the zone, found {}: {:?}",
            left.len(),
            left.iter()
                .filter(|r| !r["name"].as_str().unwrap_or("").starts_with("bulk-"))
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}

fn record_id_of(sim: &CloudflareSim, name: &str, rtype: &str) -> Result<String> {
    sim.records(Z)
        .into_iter()
        .find(|r| r["name"] == name && r["type"] == rtype)
        .and_then(|r| r["id"].as_str().map(str::to_string))
        .ok_or_else(|| anyhow::anyhow!("no {rtype} record {name} in the simulator"))
}

const LONG_TXT_LEN: usize = 300;

fn lifecycle_records(www: &str, txt: &str) -> String {
    format!(
        r#"{www}

resource "{RT}" "v6" {{
  zone_id = "{Z}"
  name    = "v6.example.com"
  type    = "AAAA"
  content = "2001:DB8:0::1"
}}

resource "{RT}" "txt" {{
  zone_id = "{Z}"
  name    = "@"
  type    = "TXT"
  content = "{txt}"
}}

resource "{RT}" "mx" {{
  zone_id  = "{Z}"
  name     = "Example.com."
  type     = "MX"
  content  = "Mail.Example.com."
  priority = 10
}}

resource "{RT}" "srv" {{
  zone_id  = "{Z}"
  name     = "_sip._tcp"
  type     = "SRV"
  priority = 10
  data = {{
    weight = 5
    port   = 5060
    target = "SIP.example.com."
  }}
}}

resource "{RT}" "caa" {{
  zone_id = "{Z}"
  name    = "@"
  type    = "CAA"
  data = {{
    flags = 0
    tag   = "issue"
    value = "letsencrypt.org"
  }}
}}

resource "{RT}" "ns" {{
  zone_id = "{Z}"
  name    = "Lab"
  type    = "NS"
  content = "NS1.Home.Example.net."
}}
"#
    )
}

#[test]
fn record_lifecycle_update_replace_import_drift() {
    let sim = sim();
    let long_txt = "x".repeat(LONG_TXT_LEN);
    let www1 = format!(
        r#"resource "{RT}" "www" {{
  zone_id = "{Z}"
  name    = "www"
  type    = "A"
  content = "192.0.2.10"
}}"#
    );
    let www2 = format!(
        r#"resource "{RT}" "www" {{
  zone_id = "{Z}"
  name    = "www"
  type    = "A"
  content = "192.0.2.11"
  ttl     = 300
  comment = "web server"
  tags    = ["env:lab", "team:infra"]
}}"#
    );
    let www3 = format!(
        r#"resource "{RT}" "www" {{
  zone_id = "{Z}"
  name    = "www"
  type    = "A"
  content = "192.0.2.11"
  proxied = true
}}"#
    );
    let www4 = format!(
        r#"resource "{RT}" "www" {{
  zone_id = "{Z}"
  name    = "www"
  type    = "CNAME"
  content = "target.example.org"
  proxied = true
}}"#
    );
    let c1 = hcl(&sim, EDIT_TOKEN, &lifecycle_records(&www1, &long_txt));
    let c2 = hcl(
        &sim,
        EDIT_TOKEN,
        &lifecycle_records(&www2, r#"\"v=spf1 -all\""#),
    );
    let c3 = hcl(
        &sim,
        EDIT_TOKEN,
        &lifecycle_records(&www3, r#"\"v=spf1 -all\""#),
    );
    let c4 = hcl(
        &sim,
        EDIT_TOKEN,
        &lifecycle_records(&www4, r#"\"v=spf1 -all\""#),
    );
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
            Step::config(&c1)
                .expect_action(&addr("www"), Action::Create)
                .expect_unknown(&addr("www"), "id")
                .expect_attr(&addr("www"), "name", "www")
                .expect_attr(&addr("www"), "ttl", 1)
                .expect_attr(&addr("www"), "proxied", false)
                .expect_attr(&addr("www"), "proxiable", true)
                .expect_attr_matches(&addr("www"), "id", "^[0-9a-f]{32}$")
                .expect_attr_set(&addr("www"), "created_on")
                .expect_attr(&addr("v6"), "content", "2001:DB8:0::1")
                .expect_attr(&addr("txt"), "content", long_txt.as_str())
                .expect_attr(&addr("mx"), "name", "Example.com.")
                .expect_attr(&addr("mx"), "priority", 10)
                .expect_attr(&addr("srv"), "data.target", "SIP.example.com.")
                .expect_attr(&addr("caa"), "data.tag", "issue")
                .expect_attr(&addr("caa"), "proxiable", false)
                .expect_attr(&addr("ns"), "name", "Lab")
                .expect_attr(&addr("ns"), "content", "NS1.Home.Example.net.")
                .expect_attr(&addr("ns"), "proxiable", false)
                .expect_attr_null(&addr("ns"), "priority")
                .check(move |_| {
                    // The API stored its own spellings: FQDN names, a split TXT.
                    let txt = s1
                        .records(Z)
                        .into_iter()
                        .find(|r| r["type"] == "TXT")
                        .unwrap();
                    ensure!(txt["content"].as_str().unwrap().starts_with('"'), "{txt}");
                    // The delegation as Cloudflare stores it: FQDN, lower
                    // case, no trailing dot.
                    let ns = s1
                        .records(Z)
                        .into_iter()
                        .find(|r| r["type"] == "NS")
                        .unwrap();
                    ensure!(ns["name"] == "lab.example.com", "{ns}");
                    ensure!(ns["content"] == "ns1.home.example.net", "{ns}");
                    ensure!(s1.records(Z).len() == 7);
                    Ok(())
                }),
        )
        .step(
            Step::config(&c2)
                .pre_step(move |ctx| measure_refresh(&s2, ctx.workdir, 7, "lifecycle"))
                .expect_action(&addr("www"), Action::Update)
                .expect_action(&addr("txt"), Action::Update)
                .expect_action(&addr("mx"), Action::NoOp)
                .expect_action(&addr("srv"), Action::NoOp)
                .expect_action(&addr("ns"), Action::NoOp)
                .expect_attr(&addr("www"), "ttl", 300)
                .expect_attr(&addr("www"), "comment", "web server")
                .expect_attr(&addr("www"), "content", "192.0.2.11")
                .check(|s| {
                    let tags = s.attr(&addr("www"), "tags")?;
                    ensure!(tags.as_array().map(Vec::len) == Some(2), "{tags}");
                    Ok(())
                }),
        )
        .step(
            Step::config(&c3)
                .expect_action(&addr("www"), Action::Update)
                .expect_attr(&addr("www"), "proxied", true)
                .expect_attr(&addr("www"), "ttl", 1)
                .expect_attr_null(&addr("www"), "comment")
                .expect_attr_null(&addr("www"), "tags"),
        )
        .step(
            Step::config(&c4)
                .expect_action(&addr("www"), Action::Replace)
                .expect_attr(&addr("www"), "type", "CNAME")
                .expect_attr(&addr("www"), "content", "target.example.org"),
        )
        .step(
            Step::import(addr("www"))
                .import_id_with(|s| Ok(format!("{Z}/{}", s.attr_str(&addr("www"), "id")?)))
                .import_state_verify()
                .import_state_verify_ignore(&["name"])
                .expect_attr(&addr("www"), "name", "www.example.com"),
        )
        .step(
            Step::import(addr("srv"))
                .import_id_with(|s| Ok(format!("{Z}/{}", s.attr_str(&addr("srv"), "id")?)))
                .import_state_verify()
                .import_state_verify_ignore(&["name", "data.target"])
                .expect_attr(&addr("srv"), "data.port", 5060)
                .expect_attr(&addr("srv"), "priority", 10),
        )
        .step(
            Step::import(addr("ns"))
                .import_id_with(|s| Ok(format!("{Z}/{}", s.attr_str(&addr("ns"), "id")?)))
                .import_state_verify()
                .import_state_verify_ignore(&["name", "content"])
                .expect_attr(&addr("ns"), "name", "lab.example.com")
                .expect_attr(&addr("ns"), "content", "ns1.home.example.net")
                .expect_attr(&addr("ns"), "type", "NS"),
        )
        .step(
            Step::import(addr("mx"))
                .import_id("not-an-id")
                .expect_error("zone_id/record_id"),
        )
        .step(
            // Drift: changed behind Terraform's back → update.
            Step::plan_only(&c4)
                .pre_step(move |_| {
                    let id = record_id_of(&s3, "www.example.com", "CNAME")?;
                    s3.patch_record(
                        Z,
                        &id,
                        serde_json::json!({"content": "elsewhere.example.org"}),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&addr("www"), Action::Update)
                .expect_planned(&addr("www"), "content", "target.example.org"),
        )
        .step(Step::config(&c4).expect_action(&addr("www"), Action::Update))
        .step(
            // Deleted behind Terraform's back → create.
            Step::plan_only(&c4)
                .pre_step(move |_| {
                    let id = record_id_of(&s4, "example.com", "TXT")?;
                    ensure!(s4.delete_record(Z, &id));
                    Ok(())
                })
                .expect_action(&addr("txt"), Action::Create)
                .expect_action(&addr("mx"), Action::NoOp),
        )
        .check_destroy(move |_| our_records_gone(&s5, Z, 0))
        .run();
}

#[test]
fn bad_input_is_rejected_naming_the_attribute() {
    let sim = sim();
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    let rec = |body: &str| {
        hcl(
            &sim,
            EDIT_TOKEN,
            &format!("resource \"{RT}\" \"bad\" {{\n  zone_id = \"{Z}\"\n{body}\n}}\n"),
        )
    };
    let cases: &[(&str, &str)] = &[
        (
            "content",
            "name = \"a\"\ntype = \"A\"\ncontent = \"300.1.2.3\"",
        ),
        (
            "content",
            "name = \"a\"\ntype = \"AAAA\"\ncontent = \"192.0.2.1\"",
        ),
        ("content", "name = \"a\"\ntype = \"TXT\""),
        (
            "name",
            "name = \"bad..name\"\ntype = \"A\"\ncontent = \"192.0.2.1\"",
        ),
        (
            "ttl",
            "name = \"a\"\ntype = \"A\"\ncontent = \"192.0.2.1\"\nttl = 30",
        ),
        (
            "ttl",
            "name = \"a\"\ntype = \"A\"\ncontent = \"192.0.2.1\"\nproxied = true\nttl = 300",
        ),
        (
            "priority",
            "name = \"a\"\ntype = \"MX\"\ncontent = \"mx.example.com\"\npriority = 70000",
        ),
        (
            "priority",
            "name = \"a\"\ntype = \"MX\"\ncontent = \"mx.example.com\"",
        ),
        (
            "tags",
            "name = \"a\"\ntype = \"A\"\ncontent = \"192.0.2.1\"\ntags = [\"nocolon\"]",
        ),
        (
            "type",
            "name = \"a\"\ntype = \"PTR\"\ncontent = \"host.example.com\"",
        ),
        (
            "content",
            "name = \"lab\"\ntype = \"NS\"\ncontent = \"192.0.2.53\"",
        ),
        (
            "content",
            "name = \"lab\"\ntype = \"NS\"\ncontent = \"ns..example.com\"",
        ),
        ("data", "name = \"a\"\ntype = \"SRV\"\npriority = 1"),
        (
            "proxied",
            "name = \"a\"\ntype = \"TXT\"\ncontent = \"x\"\nproxied = true",
        ),
    ];
    let long_name = format!(
        "name = \"{}\"\ntype = \"A\"\ncontent = \"192.0.2.1\"",
        "a".repeat(260)
    );
    let bad_zone = hcl(
        &sim,
        EDIT_TOKEN,
        &format!(
            "resource \"{RT}\" \"bad\" {{\n  zone_id = \"xyz\"\n  name = \"a\"\n  type = \"A\"\n  content = \"192.0.2.1\"\n}}\n"
        ),
    );
    let mut configs: Vec<(String, String)> = cases
        .iter()
        .map(|(attr, body)| (attr.to_string(), rec(body)))
        .collect();
    configs.push(("name".into(), rec(&long_name)));
    configs.push(("zone_id".into(), bad_zone));
    let mut first = true;
    for (attr, config) in configs {
        wd.write_config(&config).unwrap();
        if first {
            wd.ensure_init().unwrap();
            first = false;
        }
        let out = wd.run_unchecked(&["validate", "-no-color"]).unwrap();
        let text = out.combined();
        assert!(
            !out.success(),
            "config should be rejected ({attr}):\n{config}"
        );
        assert!(
            text.contains("Error") && text.contains(&format!("{attr}:")),
            "expected an error naming {attr}:\n{text}\nconfig:\n{config}"
        );
    }
    assert_eq!(
        sim.counters().total(),
        0,
        "validation must not call the API"
    );
}

#[test]
fn retries_and_persistent_failures() {
    let sim = sim();
    let rec = |content: &str| {
        hcl(
            &sim,
            EDIT_TOKEN,
            &format!(
                "resource \"{RT}\" \"r\" {{\n  zone_id = \"{Z}\"\n  name = \"retry\"\n  type = \"A\"\n  content = \"{content}\"\n}}\n"
            ),
        )
    };
    let (c1, c2) = (rec("192.0.2.20"), rec("192.0.2.21"));
    let (s1, s1b, s2, s2b, s3, s4, s5) = (
        sim.clone(),
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
                    let f = s1.faults();
                    f.inject(
                        "POST",
                        RECORDS,
                        Fault::RateLimited {
                            retry_after_secs: 1,
                        },
                        1,
                    );
                    f.inject("POST", RECORDS, Fault::Status(503), 1);
                    f.inject("POST", RECORDS, Fault::Reset, 1);
                    Ok(())
                })
                .check(move |_| {
                    ensure!(s1b.faults().pending() == 0, "faults left");
                    ensure!(s1b.counters().get("POST", RECORDS) >= 4);
                    ensure!(
                        s1b.records(Z).len() == 1,
                        "duplicates: {:?}",
                        s1b.records(Z)
                    );
                    Ok(())
                }),
        )
        .step(
            // Refresh retried through 429 and 502.
            Step::plan_only(&c1)
                .pre_step(move |_| {
                    let f = s2.faults();
                    f.inject("GET", RECORDS, Fault::Status(502), 1);
                    f.inject(
                        "GET",
                        RECORDS,
                        Fault::RateLimited {
                            retry_after_secs: 1,
                        },
                        1,
                    );
                    Ok(())
                })
                .expect_empty_plan()
                .plan_check(move |_| {
                    ensure!(s2b.faults().pending() == 0);
                    Ok(())
                }),
        )
        .step(
            // Persistent 500 on update: a clear error.
            Step::config(&c2)
                .pre_step(move |_| {
                    s3.faults().inject("PUT", RECORD, Fault::Status(500), 50);
                    Ok(())
                })
                .expect_error("HTTP 500"),
        )
        .step(
            // Nothing was lost: the record is still in state, still planned for update.
            Step::plan_only(&c2)
                .pre_step(move |_| {
                    s4.faults().clear();
                    let r = &s4.records(Z)[0];
                    ensure!(r["content"] == "192.0.2.20", "{r}");
                    Ok(())
                })
                .expect_action(&addr("r"), Action::Update)
                .expect_planned(&addr("r"), "content", "192.0.2.21"),
        )
        .step(Step::config(&c2).expect_attr(&addr("r"), "content", "192.0.2.21"))
        .check_destroy(move |_| our_records_gone(&s5, Z, 0))
        .run();
}

#[test]
fn read_only_and_zone_scoped_tokens() {
    let sim = sim();
    let body = |zone: &str| {
        format!(
            r#"{zone}

resource "{RT}" "r" {{
  zone_id = data.homelab_cloudflare_zone.z.id
  name    = "tokens"
  type    = "TXT"
  content = "hello"
}}
"#
        )
    };
    let by_id = format!("data \"homelab_cloudflare_zone\" \"z\" {{\n  zone_id = \"{Z}\"\n}}");
    let by_name = "data \"homelab_cloudflare_zone\" \"z\" {\n  name = \"example.com\"\n}";
    let other = "data \"homelab_cloudflare_zone\" \"other\" {\n  name = \"lab.example.net\"\n}";
    let edit = hcl(&sim, EDIT_TOKEN, &body(by_name));
    let read = hcl(&sim, READ_TOKEN, &body(by_name));
    let read_changed = read.replace("\"hello\"", "\"changed\"");
    let scoped_by_id = hcl(&sim, SCOPED_TOKEN, &body(&by_id));
    let scoped_by_name = hcl(&sim, SCOPED_TOKEN, &format!("{}\n{other}\n", body(&by_id)));
    let (s1, s2, s3, s4) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&edit)
                .expect_attr("data.homelab_cloudflare_zone.z", "id", Z)
                .expect_attr("data.homelab_cloudflare_zone.z", "status", "active")
                .expect_attr_set("data.homelab_cloudflare_zone.z", "name_servers.0"),
        )
        .step(
            Step::plan_only(&read)
                .pre_step(move |_| {
                    s1.counters().reset();
                    Ok(())
                })
                .expect_empty_plan(),
        )
        .step(
            Step::plan_only(&read_changed)
                .expect_action(&addr("r"), Action::Update)
                .plan_check(move |_| {
                    ensure!(
                        writes(&s2) == 0,
                        "read-only plans wrote: {:?}",
                        s2.counters().snapshot()
                    );
                    Ok(())
                }),
        )
        .step(Step::plan_only(&scoped_by_name).expect_error("(?s)lab\\.example\\.net.*zone_id"))
        .step(
            Step::config(&scoped_by_id)
                .expect_action(&addr("r"), Action::NoOp)
                .expect_attr("data.homelab_cloudflare_zone.z", "name", "example.com")
                .check(move |_| {
                    ensure!(s3.records(Z).len() == 1);
                    Ok(())
                }),
        )
        .check_destroy(move |_| our_records_gone(&s4, Z, 0))
        .run();
}

#[test]
fn pagination_and_refresh_cost() {
    let sim = sim();
    const BULK: usize = 5100;
    for i in 0..BULK {
        sim.create_record(
            Z,
            serde_json::json!({"type": "TXT", "name": format!("bulk-{i:05}"), "content": "x", "ttl": 1}),
        )
        .unwrap();
    }
    let body = format!(
        r#"resource "{RT}" "first" {{
  zone_id = "{Z}"
  name    = "aaa"
  type    = "A"
  content = "192.0.2.30"
}}

resource "{RT}" "last1" {{
  zone_id = "{Z}"
  name    = "zzz-1"
  type    = "TXT"
  content = "one"
}}

resource "{RT}" "last2" {{
  zone_id = "{Z}"
  name    = "zzz-2"
  type    = "TXT"
  content = "two"
}}

resource "{RT}" "mx" {{
  zone_id  = "{Z}"
  name     = "@"
  type     = "MX"
  content  = "mx.example.com"
  priority = 5
}}
"#
    );
    let c = hcl(&sim, EDIT_TOKEN, &body);
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(&c))
        .step(
            Step::plan_only(&c)
                .pre_step(move |ctx| {
                    measure_refresh(&s1, ctx.workdir, 4, "pagination")?;
                    // Two pages of records answered all four refreshes.
                    ensure!(s1.counters().get("GET", RECORDS) == 2);
                    ensure!(s1.counters().get("GET", RECORD) == 0);
                    Ok(())
                })
                .expect_empty_plan(),
        )
        .step(
            Step::plan_only(&c)
                .pre_step(move |_| {
                    let id = record_id_of(&s2, "zzz-1.example.com", "TXT")?;
                    ensure!(s2.delete_record(Z, &id));
                    Ok(())
                })
                .expect_action(&addr("last1"), Action::Create)
                .expect_action(&addr("last2"), Action::NoOp),
        )
        .check_destroy(move |_| our_records_gone(&s3, Z, BULK))
        .run();
}

#[test]
fn examples_apply_cleanly() {
    let sim = sim();
    let root = labforge_acceptance_tests::workspace_root().join("examples");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let body = format!(
        "{}\n{}",
        read("resources/homelab_cloudflare_dns_record/resource.tf"),
        read("data-sources/homelab_cloudflare_zone/data-source.tf")
    );
    let c = hcl(&sim, EDIT_TOKEN, &body);
    let s = sim.clone();
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(&c)
                .expect_attr(&addr("sip"), "data.port", 5060)
                .check(|s| {
                    let ns = s.output("name_servers").cloned().unwrap_or_default();
                    ensure!(ns.as_array().is_some_and(|a| !a.is_empty()), "{ns}");
                    Ok(())
                }),
        )
        .check_destroy(move |_| our_records_gone(&s, Z, 0))
        .run();
}

/// The server created the record but its answer was lost (the connection broke
/// after the work was done): the retried create gets "already exists", and the
/// provider takes over the record only because it is exactly the planned one.
/// A record that merely shares type, name and content (other ttl) is reported.
#[test]
fn lost_create_answer_takes_over_only_the_identical_record() {
    let sim = sim();
    let foreign = sim
        .create_record(
            Z,
            serde_json::json!({"type": "A", "name": "taken", "content": "192.0.2.51", "ttl": 120}),
        )
        .unwrap();
    let foreign_id = foreign["id"].as_str().unwrap().to_string();
    let lost = format!(
        "resource \"{RT}\" \"r\" {{\n  zone_id = \"{Z}\"\n  name = \"lost\"\n  type = \"TXT\"\n  content = \"v=lost\"\n  ttl = 300\n  comment = \"mine\"\n  tags = [\"env:lab\"]\n}}\n"
    );
    let taken = format!(
        "{lost}\nresource \"{RT}\" \"t\" {{\n  zone_id = \"{Z}\"\n  name = \"taken\"\n  type = \"A\"\n  content = \"192.0.2.51\"\n  ttl = 300\n}}\n"
    );
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, EDIT_TOKEN, &lost))
                .pre_step(move |_| {
                    s1.faults()
                        .inject("POST", RECORDS, Fault::ResetAfterHandling, 1);
                    Ok(())
                })
                .expect_apply_output(
                    r"Took over existing DNS record(?s:.*)now\s+managed\s+by\s+this\s+resource",
                )
                .check(move |state| {
                    ensure!(s2.faults().pending() == 0, "fault not delivered");
                    ensure!(
                        s2.counters().get("POST", RECORDS) == 2,
                        "one retry expected"
                    );
                    let mine: Vec<_> = s2
                        .records(Z)
                        .into_iter()
                        .filter(|r| r["name"] == "lost.example.com")
                        .collect();
                    ensure!(mine.len() == 1, "exactly one record upstream: {mine:?}");
                    let id = state.attr(&addr("r"), "id")?;
                    ensure!(*id == mine[0]["id"], "{id} vs {mine:?}");
                    Ok(())
                }),
        )
        .step(
            Step::config(hcl(&sim, EDIT_TOKEN, &taken))
                .expect_error(&format!(r"(?s)DNS record already exists.*{foreign_id}")),
        )
        .check_destroy(move |_| our_records_gone(&s3, Z, 1))
        .run();
}

const ZONE: &str = "/client/v4/zones/{zone_id}";

fn relative_body(www_comment: Option<&str>) -> String {
    let comment = www_comment
        .map(|c| format!("  comment = \"{c}\"\n"))
        .unwrap_or_default();
    format!(
        r#"resource "{RT}" "www" {{
  zone_id = "{Z}"
  name    = "www"
  type    = "A"
  content = "192.0.2.60"
{comment}}}

resource "{RT}" "apex" {{
  zone_id = "{Z}"
  name    = "@"
  type    = "TXT"
  content = "v=apex"
}}
"#
    )
}

/// Names written relative to the zone (`www`, `@`, as Cloudflare's docs do)
/// are matched with the zone's name from `GET /zones/{zone_id}` (record
/// answers carry no zone name): no inconsistent result, no replacement on the
/// next plan, no change after import. Bodies never carry `null` (the
/// simulator refuses it as the OpenAPI types allow no null); a comment is
/// cleared with the empty string. A failed zone lookup stops the create before
/// anything is made.
#[test]
fn relative_names_comments_and_zone_lookup() {
    let sim = sim();
    let with = hcl(&sim, EDIT_TOKEN, &relative_body(Some("web server")));
    let without = hcl(&sim, EDIT_TOKEN, &relative_body(None));
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
            Step::config(&with)
                .pre_step(move |_| {
                    s1.faults().inject("GET", ZONE, Fault::Status(500), 100);
                    Ok(())
                })
                .expect_error(r"(?s)Unable to create.*GET /zones/[0-9a-f]{32}: HTTP 500"),
        )
        .step(
            Step::config(&with)
                .pre_step(move |ctx| {
                    // Nothing was made, nothing is in state.
                    ensure!(s2.records(Z).is_empty(), "{:?}", s2.records(Z));
                    ensure!(!ctx.workdir.has_state(), "something is in state");
                    s2.faults().clear();
                    s2.counters().reset();
                    Ok(())
                })
                .expect_action(&addr("www"), Action::Create)
                .expect_attr(&addr("www"), "name", "www")
                .expect_attr(&addr("apex"), "name", "@")
                .expect_attr(&addr("www"), "comment", "web server")
                .expect_attr_null(&addr("apex"), "comment")
                .check(move |_| {
                    let www = s3
                        .records(Z)
                        .into_iter()
                        .find(|r| r["type"] == "A")
                        .unwrap();
                    ensure!(www["name"] == "www.example.com", "{www}");
                    ensure!(www.get("zone_name").is_none(), "{www}");
                    let apex = s3
                        .records(Z)
                        .into_iter()
                        .find(|r| r["type"] == "TXT")
                        .unwrap();
                    ensure!(apex["name"] == "example.com", "{apex}");
                    ensure!(apex["comment"].is_null(), "{apex}");
                    // One zone lookup served both creates.
                    ensure!(
                        s3.counters().get("GET", ZONE) == 1,
                        "{:?}",
                        s3.counters().snapshot()
                    );
                    Ok(())
                }),
        )
        .step(
            Step::config(&without)
                .expect_action(&addr("www"), Action::Update)
                .expect_action(&addr("apex"), Action::NoOp)
                .expect_attr_null(&addr("www"), "comment")
                .check(move |_| {
                    let www = s4
                        .records(Z)
                        .into_iter()
                        .find(|r| r["type"] == "A")
                        .unwrap();
                    ensure!(www["comment"].is_null(), "comment not cleared: {www}");
                    Ok(())
                }),
        )
        .step(
            // The imported name is the FQDN; the config's `www` means the same.
            Step::import(addr("www"))
                .import_id_with(|s| Ok(format!("{Z}/{}", s.attr_str(&addr("www"), "id")?)))
                .import_block()
                .import_state_verify()
                .import_state_verify_ignore(&["name"]),
        )
        .step(
            Step::import(addr("apex"))
                .import_id_with(|s| Ok(format!("{Z}/{}", s.attr_str(&addr("apex"), "id")?)))
                .import_block()
                .import_state_verify()
                .import_state_verify_ignore(&["name"]),
        )
        .step(
            // Drift: a comment and another address behind Terraform's back.
            Step::plan_only(&without)
                .pre_step(move |_| {
                    let id = record_id_of(&s5, "www.example.com", "A")?;
                    s5.patch_record(
                        Z,
                        &id,
                        serde_json::json!({"content": "192.0.2.61", "comment": "hand-made"}),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(&addr("www"), Action::Update)
                .expect_action(&addr("apex"), Action::NoOp)
                .expect_planned(&addr("www"), "content", "192.0.2.60")
                .expect_planned(&addr("www"), "name", "www"),
        )
        .step(Step::config(&without).check(move |_| {
            let www = s6
                .records(Z)
                .into_iter()
                .find(|r| r["type"] == "A")
                .unwrap();
            ensure!(
                www["content"] == "192.0.2.60" && www["comment"].is_null(),
                "{www}"
            );
            Ok(())
        }))
        .check_destroy({
            let s = sim.clone();
            move |_| our_records_gone(&s, Z, 0)
        })
        .run();
}

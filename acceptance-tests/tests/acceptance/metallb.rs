//! Acceptance tests of `homelab_metallb_ip_address_pool` and
//! `homelab_metallb_l2_advertisement` through the real CLI against the
//! Kubernetes simulator.
//!
//! Every test: apply, empty plan, import, drift, destroy, nothing left; and
//! every object sent validates against MetalLB's CRD schemas.

#![allow(clippy::unwrap_used)]

use anyhow::{Context as _, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase};
use labforge_simulators::kubernetes::{
    CERT_ADMIN_USER, CERT_READONLY_USER, KubernetesSim, METALLB_NAMESPACE, READONLY_TOKEN,
};
use serde_json::{Value, json};

use crate::support::kubernetes::{
    hcl, hcl_at, hcl_cert, hcl_kubeconfig, nothing_left, sent_valid_objects, sim,
};

const POOL: &str = "homelab_metallb_ip_address_pool.lab";
const L2: &str = "homelab_metallb_l2_advertisement.lab";

fn spec(sim: &KubernetesSim, plural: &str, name: &str) -> anyhow::Result<Value> {
    sim.object(plural, METALLB_NAMESPACE, name)
        .map(|o| o["spec"].clone())
        .with_context(|| format!("no {plural} {name}"))
}

fn pool_v1() -> String {
    r#"resource "homelab_metallb_ip_address_pool" "lab" {
  name      = "lab-pool"
  addresses = ["192.168.1.225-192.168.1.240", "10.0.0.0/28"]
  service_allocation = {
    priority   = 10
    namespaces = ["web"]
    service_selectors = [{
      match_expressions = [{ key = "tier", operator = "In", values = ["edge"] }]
    }]
  }
}

resource "homelab_metallb_l2_advertisement" "lab" {
  name             = "lab-l2"
  ip_address_pools = [homelab_metallb_ip_address_pool.lab.name]
  interfaces       = ["eth0"]
}
"#
    .into()
}

fn pool_v2(force: bool) -> String {
    format!(
        r#"resource "homelab_metallb_ip_address_pool" "lab" {{
  name            = "lab-pool"
  addresses       = ["192.168.77.200-192.168.77.254"]
  auto_assign     = false
  force_conflicts = {force}
}}

resource "homelab_metallb_l2_advertisement" "lab" {{
  name             = "lab-l2"
  ip_address_pools = [homelab_metallb_ip_address_pool.lab.name]
  node_selectors   = [{{ match_labels = {{ "kubernetes.io/hostname" = "talos-1" }} }}]
  service_selectors = [{{ match_expressions = [{{ key = "app", operator = "In", values = ["web"] }}] }}]
}}
"#
    )
}

#[test]
fn pool_and_l2_create_update_import_drift_conflict_delete() {
    let sim = sim();
    let (s8, s9) = (sim.clone(), sim.clone());
    let (s1, s2, s3, s4, s5, s6, s7, sd) = (
        sim.clone(),
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
            Step::config(hcl(&sim, &pool_v1()))
                .expect_attr(POOL, "id", "metallb-system/lab-pool")
                .expect_attr(POOL, "auto_assign", true)
                .expect_attr(POOL, "avoid_buggy_ips", false)
                .expect_attr(POOL, "namespace", "metallb-system")
                .check(move |_| {
                    let p = spec(&s1, "ipaddresspools", "lab-pool")?;
                    ensure!(
                        p["addresses"] == json!(["192.168.1.225-192.168.1.240", "10.0.0.0/28"]),
                        "{p}"
                    );
                    ensure!(p["autoAssign"] == json!(true), "{p}");
                    ensure!(p["serviceAllocation"]["priority"] == json!(10), "{p}");
                    ensure!(
                        p["serviceAllocation"]["serviceSelectors"][0]["matchExpressions"][0]["values"]
                            == json!(["edge"]),
                        "{p}"
                    );
                    let l = spec(&s1, "l2advertisements", "lab-l2")?;
                    ensure!(l == json!({"ipAddressPools": ["lab-pool"], "interfaces": ["eth0"]}), "{l}");
                    let o = s1.object("ipaddresspools", METALLB_NAMESPACE, "lab-pool").unwrap();
                    ensure!(
                        o["metadata"]["managedFields"][0]["manager"] == "labforge-homelab",
                        "{o}"
                    );
                    sent_valid_objects(&s1)
                }),
        )
        // Refresh: one GET per object, nothing written.
        .step(
            Step::plan_only(hcl(&sim, &pool_v1()))
                .pre_step(move |_| {
                    s8.counters().reset();
                    Ok(())
                })
                .expect_empty_plan()
                .plan_check(move |_| {
                    let snap = s9.counters().snapshot();
                    eprintln!("[metallb] refresh of 2 objects: {snap:?}");
                    let gets: u64 = snap.iter().filter(|((m, _), _)| m == "GET").map(|(_, n)| n).sum();
                    ensure!(gets == 2 && s9.counters().total() == 2, "refresh requests: {snap:?}");
                    Ok(())
                }),
        )
        .step(Step::import(POOL).import_state_verify_ignore(&["force_conflicts"]))
        .step(Step::import(L2).import_state_verify_ignore(&["force_conflicts"]))
        // Update: fields no longer set are removed by server-side apply.
        .step(Step::config(hcl(&sim, &pool_v2(false))).check(move |_| {
            let p = spec(&s2, "ipaddresspools", "lab-pool")?;
            ensure!(p.get("serviceAllocation").is_none(), "{p}");
            ensure!(p["autoAssign"] == json!(false), "{p}");
            let l = spec(&s2, "l2advertisements", "lab-l2")?;
            ensure!(l.get("interfaces").is_none(), "{l}");
            ensure!(
                l["nodeSelectors"][0]["matchLabels"]["kubernetes.io/hostname"] == "talos-1",
                "{l}"
            );
            ensure!(
                l["serviceSelectors"][0]["matchExpressions"][0]["values"] == json!(["web"]),
                "{l}"
            );
            sent_valid_objects(&s2)
        }))
        // Another manager adds a field this configuration does not set: not fought over.
        .step(
            Step::plan_only(hcl(&sim, &pool_v2(false)))
                .pre_step(move |_| {
                    s3.apply_as(
                        "netops",
                        "l2advertisements",
                        METALLB_NAMESPACE,
                        "lab-l2",
                        json!({"interfaces": ["eth1"]}),
                        false,
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_empty_plan(),
        )
        // Drift by `kubectl edit`: the plan shows it; the apply conflicts,
        // naming the manager and field, until forced.
        .step(
            Step::plan_only(hcl(&sim, &pool_v2(false)))
                .pre_step(move |_| {
                    s4.edit_as(
                        "kubectl-edit",
                        "ipaddresspools",
                        METALLB_NAMESPACE,
                        "lab-pool",
                        json!({"autoAssign": true}),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(POOL, Action::Update),
        )
        .step(
            Step::config(hcl(&sim, &pool_v2(false)))
                .expect_error(r#"(?s)Unable to update IPAddressPool.*\\?"kubectl-edit\\?"\s+\(an\s+update\s+using\s+metallb\.io/v1beta1.*\)\s+owns\s+\.spec\.autoAssign.*force_conflicts.*Apply\s+failed\s+with\s+1\s+conflict"#),
        )
        .step(Step::config(hcl(&sim, &pool_v2(true))).check(move |_| {
            let p = spec(&s5, "ipaddresspools", "lab-pool")?;
            ensure!(p["autoAssign"] == json!(false), "{p}");
            Ok(())
        }))
        // Deleted behind Terraform's back: gone from state, created again.
        .step(
            Step::plan_only(hcl(&sim, &pool_v2(true)))
                .pre_step(move |_| {
                    ensure!(s6.delete("ipaddresspools", METALLB_NAMESPACE, "lab-pool"));
                    Ok(())
                })
                .expect_action(POOL, Action::Create),
        )
        .step(Step::config(hcl(&sim, &pool_v2(true))).check(move |_| {
            ensure!(s7.object("ipaddresspools", METALLB_NAMESPACE, "lab-pool").is_some());
            sent_valid_objects(&s7)
        }))
        .check_destroy(move |_| nothing_left(&sd))
        .run();
}

#[test]
fn new_objects_plan_without_a_cluster_and_bad_addresses_fail_at_plan() {
    // Nothing listens on port 1: a plan for new objects must not need it.
    let nowhere = "https://127.0.0.1:1";
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::plan_only(hcl_at(nowhere, "t", &pool_v1()))
                .expect_action(POOL, Action::Create)
                .expect_action(L2, Action::Create)
                .expect_planned(POOL, "auto_assign", true)
                .expect_unknown(POOL, "id"),
        )
        .step(
            Step::plan_only(hcl_at(
                nowhere,
                "t",
                r#"resource "homelab_metallb_ip_address_pool" "bad" {
  name      = "bad"
  addresses = ["10.0.0.0/28", "10.0.0.20-10.0.0.10", "10.0.0.300/24", "10.0.0.8/29"]
}
"#,
            ))
            .expect_error(
                r#"(?s)addresses\[1\].*is\s+after\s+the\s+end\s+IP.*addresses\[2\]: invalid CIDR"#,
            ),
        )
        .step(
            Step::plan_only(hcl_at(
                nowhere,
                "t",
                r#"resource "homelab_metallb_ip_address_pool" "bad" {
  name      = "bad"
  addresses = ["10.0.0.0/28", "10.0.0.8/29"]
}
"#,
            ))
            .expect_error(r#"(?s)addresses\[1\].*overlaps\s+with\s+already\s+defined\s+CIDR"#),
        )
        .run();
}

#[test]
fn webhook_not_ready_is_retried_crds_missing_and_read_only_are_reported() {
    let sim = sim();
    let (s1, s2, s3, sd) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    let body = pool_v1();
    TestCase::new()
        .provider(Provider::homelab())
        // MetalLB not installed yet: the apply says so.
        .step(
            Step::config(hcl(&sim, &body))
                .pre_step(move |_| {
                    s1.set_crds_installed(false);
                    Ok(())
                })
                .expect_error(r"(?s)Unable to create IPAddressPool.*CRDs\s+installed"),
        )
        // Installed, its webhook not answering yet: retried until it does.
        .step(
            Step::config(hcl(&sim, &body))
                .pre_step(move |_| {
                    s2.set_crds_installed(true);
                    s2.webhook_unreachable_for(7);
                    // And one apiserver 503 on the way (retried by labforge-http).
                    s2.faults()
                        .fail_next("PATCH", "/apis/metallb.io/v1beta1/**", 503);
                    Ok(())
                })
                .check(move |_| {
                    ensure!(s3.webhook_failures_pending() == 0);
                    ensure!(s3.faults().pending() == 0, "the injected 503 was not hit");
                    ensure!(
                        s3.object("ipaddresspools", METALLB_NAMESPACE, "lab-pool")
                            .is_some()
                    );
                    sent_valid_objects(&s3)
                }),
        )
        // A read-only token refreshes, and cannot write.
        .step(Step::plan_only(hcl_at(&sim.url(), READONLY_TOKEN, &body)).expect_empty_plan())
        .step(
            Step::config(hcl_at(&sim.url(), READONLY_TOKEN, &pool_v2(false)))
                .expect_error(r#"(?s)Unable to update IPAddressPool.*cannot patch resource"#),
        )
        // Back to the admin: nothing changed meanwhile, so the plan is empty.
        .step(Step::plan_only(hcl(&sim, &body)).expect_empty_plan())
        .step(Step::config(hcl(&sim, &body)))
        .check_destroy(move |_| nothing_left(&sd))
        .run();
}

#[test]
fn client_certificates_in_the_block_and_in_a_kubeconfig() {
    let sim = sim();
    let (s1, sd) = (sim.clone(), sim.clone());
    let v1 = pool_v1();
    let v2 = pool_v2(false);
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl_cert(&sim, CERT_ADMIN_USER, &v1)).check(move |_| {
            let o = s1
                .object("ipaddresspools", METALLB_NAMESPACE, "lab-pool")
                .context("no pool")?;
            ensure!(o["metadata"]["managedFields"][0]["manager"] == "labforge-homelab");
            sent_valid_objects(&s1)
        }))
        .step(Step::plan_only(hcl_kubeconfig(&sim, CERT_ADMIN_USER, "yamlencode", &v1)).expect_empty_plan())
        .step(Step::import(POOL).with_config(hcl_kubeconfig(&sim, CERT_ADMIN_USER, "jsonencode", &v1)).import_state_verify_ignore(&["force_conflicts"]))
        // The viewer's certificate reads, and may not write.
        .step(Step::plan_only(hcl_cert(&sim, CERT_READONLY_USER, &v1)).expect_empty_plan())
        .step(
            Step::config(hcl_kubeconfig(&sim, CERT_READONLY_USER, "yamlencode", &v2))
                .expect_error(r#"(?s)Unable to update IPAddressPool.*User\s+\\?"metallb-viewer\\?"\s+cannot\s+patch"#),
        )
        .step(Step::config(hcl_kubeconfig(&sim, CERT_ADMIN_USER, "yamlencode", &v2)))
        .check_destroy(move |_| nothing_left(&sd))
        .run();
}

fn bgp(v: u8) -> String {
    let (hold, pref, extra) = match v {
        1 => ("90s", 100, ""),
        2 => ("3m", 200, "\n  ebgp_multi_hop = true"),
        _ => (
            "3m",
            200,
            "\n  ebgp_multi_hop = true\n  force_conflicts = true",
        ),
    };
    format!(
        r#"resource "homelab_metallb_community" "lab" {{
  name        = "lab-communities"
  communities = {{ "no-export" = "65535:65281", big = "large:64512:1:{v}" }}
}}

resource "homelab_metallb_bgp_peer" "router" {{
  name           = "router"
  my_asn         = 64512
  peer_asn       = 64513
  peer_address   = "192.168.1.1"
  hold_time      = "{hold}"
  keepalive_time = "30s"
  connect_time   = "10s"
  password_secret = {{ name = "bgp-auth" }}{extra}
}}

resource "homelab_metallb_bgp_advertisement" "lab" {{
  name             = "lab-bgp"
  ip_address_pools = ["lab-pool"]
  peers            = [homelab_metallb_bgp_peer.router.name]
  local_pref       = {pref}
  communities      = ["65000:100", "no-export"]
}}
"#
    )
}

#[test]
fn bgp_peer_advertisement_and_community() {
    let sim = sim();
    let (s1, s2, s3, s4, sd) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let peer = "homelab_metallb_bgp_peer.router";
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, &bgp(1)))
                .expect_attr(peer, "peer_port", 179)
                .expect_attr(peer, "disable_mp", false)
                .expect_attr(
                    "homelab_metallb_bgp_advertisement.lab",
                    "aggregation_length",
                    32,
                )
                .check(move |_| {
                    let p = s1
                        .object("bgppeers", METALLB_NAMESPACE, "router")
                        .context("no peer")?;
                    ensure!(p["apiVersion"] == "metallb.io/v1beta2", "{p}");
                    ensure!(
                        p["spec"]["peerASN"] == 64513 && p["spec"]["holdTime"] == "90s",
                        "{p}"
                    );
                    ensure!(
                        p["spec"]["passwordSecret"] == json!({"name": "bgp-auth"}),
                        "{p}"
                    );
                    let a = spec(&s1, "bgpadvertisements", "lab-bgp")?;
                    ensure!(
                        a["peers"] == json!(["router"]) && a["localPref"] == 100,
                        "{a}"
                    );
                    let c = spec(&s1, "communities", "lab-communities")?;
                    ensure!(c["communities"].as_array().map(Vec::len) == Some(2), "{c}");
                    sent_valid_objects(&s1)
                }),
        )
        .step(Step::import(peer).import_state_verify_ignore(&["force_conflicts"]))
        .step(
            Step::import("homelab_metallb_bgp_advertisement.lab")
                .import_state_verify_ignore(&["force_conflicts"]),
        )
        .step(
            Step::import("homelab_metallb_community.lab")
                .import_state_verify_ignore(&["force_conflicts"]),
        )
        .step(Step::config(hcl(&sim, &bgp(2))).check(move |_| {
            let p = spec(&s2, "bgppeers", "router")?;
            ensure!(p["holdTime"] == "3m" && p["ebgpMultiHop"] == true, "{p}");
            sent_valid_objects(&s2)
        }))
        .step(
            Step::plan_only(hcl(&sim, &bgp(2)))
                .pre_step(move |_| {
                    s3.edit_as(
                        "kubectl-edit",
                        "bgppeers",
                        METALLB_NAMESPACE,
                        "router",
                        json!({"peerPort": 1790}),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(peer, Action::Update),
        )
        .step(
            Step::config(hcl(&sim, &bgp(2)))
                .expect_error(r#"(?s)Unable to update BGPPeer.*kubectl-edit.*\.spec\.peerPort"#),
        )
        .step(Step::config(hcl(&sim, &bgp(3))).check(move |_| {
            let p = spec(&s4, "bgppeers", "router")?;
            ensure!(p["peerPort"] == 179, "{p}");
            Ok(())
        }))
        .step(
            Step::plan_only(hcl(
                &sim,
                r#"resource "homelab_metallb_bgp_peer" "bad" {
  name         = "bad"
  my_asn       = 64512
  connect_time = "0.5s"
}
"#,
            ))
            .expect_error(
                r"(?s)missing\s+peer\s+ASN.*no\s+Address\s+or\s+Interface.*connect\s+time",
            ),
        )
        .check_destroy(move |_| {
            for plural in ["bgppeers", "bgpadvertisements", "communities"] {
                ensure!(sd.objects(plural).is_empty(), "{plural} left");
            }
            Ok(())
        })
        .run();
}

#[test]
fn provider_block_known_only_after_apply_as_with_a_cluster_made_in_the_same_apply() {
    let sim = sim();
    let (s1, sd) = (sim.clone(), sim.clone());
    // The connection comes from a resource (as from a Talos cluster's
    // kubeconfig): unknown at the first plan.
    let cfg = format!(
        r#"{req}

resource "terraform_data" "cluster" {{
  input = {{ host = "{host}", token = "{token}" }}
}}

provider "homelab" {{
  kubernetes {{
    host  = terraform_data.cluster.output.host
    token = terraform_data.cluster.output.token
  }}
}}

{body}"#,
        req = crate::support::REQUIRED_PROVIDERS,
        host = sim.url(),
        token = labforge_simulators::kubernetes::ADMIN_TOKEN,
        body = pool_v1(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(cfg)
                .expect_action(POOL, Action::Create)
                .check(move |_| {
                    ensure!(
                        s1.object("ipaddresspools", METALLB_NAMESPACE, "lab-pool")
                            .is_some()
                    );
                    ensure!(
                        s1.object("l2advertisements", METALLB_NAMESPACE, "lab-l2")
                            .is_some()
                    );
                    sent_valid_objects(&s1)
                }),
        )
        .check_destroy(move |_| nothing_left(&sd))
        .run();
}

/// `pool_v1`'s pool and advertisement, each with its own `kubernetes = {
/// config_raw = terraform_data.cluster.output }`.
fn pool_v1_with_connection() -> String {
    pool_v1().replace(
        "resource \"homelab_metallb_ip_address_pool\" \"lab\" {\n",
        "resource \"homelab_metallb_ip_address_pool\" \"lab\" {\n  kubernetes = {\n    config_raw = terraform_data.cluster.output\n  }\n",
    )
    .replace(
        "resource \"homelab_metallb_l2_advertisement\" \"lab\" {\n",
        "resource \"homelab_metallb_l2_advertisement\" \"lab\" {\n  kubernetes = {\n    config_raw = terraform_data.cluster.output\n  }\n",
    )
}

#[test]
fn per_resource_connection_from_the_same_apply_without_a_kubernetes_block() {
    let sim = sim();
    let (s1, s2, s3, s4, s5, sd) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let cfg = crate::support::kubernetes::hcl_connection(
        &sim,
        CERT_ADMIN_USER,
        &pool_v1_with_connection(),
    );
    let cfg_token = cfg
        .replace(
            "config_raw = terraform_data.cluster.output",
            &format!(
                "host  = \"{}\"\n    token = \"{}\"",
                sim.url(),
                labforge_simulators::kubernetes::ADMIN_TOKEN
            ),
        )
        .replace(
            "interfaces       = [\"eth0\"]",
            "interfaces       = [\"eth0\"]\n  force_conflicts  = true",
        );
    // Import reads through the provider block: here, one for the same cluster.
    let with_block = hcl_kubeconfig(&sim, CERT_ADMIN_USER, "yamlencode", &pool_v1_with_connection())
        .replace(
            "provider \"homelab\" {",
            "resource \"terraform_data\" \"cluster\" {\n  input = \"unused by import\"\n}\n\nprovider \"homelab\" {",
        );
    TestCase::new()
        .provider(Provider::homelab())
        // The kubeconfig is unknown at plan; no provider block at all.
        .step(
            Step::config(cfg.clone())
                .expect_action(POOL, Action::Create)
                .expect_attr_null(POOL, "kubernetes")
                .check(move |_| {
                    let o = s1
                        .object("ipaddresspools", METALLB_NAMESPACE, "lab-pool")
                        .context("no pool")?;
                    ensure!(o["metadata"]["managedFields"][0]["manager"] == "labforge-homelab");
                    ensure!(
                        s1.object("l2advertisements", METALLB_NAMESPACE, "lab-l2")
                            .is_some()
                    );
                    sent_valid_objects(&s1)
                }),
        )
        // Refresh through the connection: one GET per object (HTTPS port), nothing written.
        .step(
            Step::plan_only(cfg.clone())
                .pre_step(move |_| {
                    s2.counters().reset();
                    Ok(())
                })
                .expect_empty_plan()
                .plan_check(move |_| {
                    let snap = s3.counters().snapshot();
                    eprintln!(
                        "[metallb] refresh of 2 objects through a connection block: {snap:?}"
                    );
                    let gets: u64 = snap
                        .iter()
                        .filter(|((m, _), _)| m == "GET")
                        .map(|(_, n)| n)
                        .sum();
                    ensure!(
                        gets == 2 && s3.counters().total() == 2,
                        "refresh requests: {snap:?}"
                    );
                    Ok(())
                }),
        )
        .step(Step::refresh())
        // Drift seen through the connection, and fixed.
        .step(
            Step::plan_only(cfg.clone())
                .pre_step(move |_| {
                    s4.edit_as(
                        "kubectl-edit",
                        "l2advertisements",
                        METALLB_NAMESPACE,
                        "lab-l2",
                        json!({"interfaces": ["eth9"]}),
                    )
                    .map_err(anyhow::Error::msg)?;
                    Ok(())
                })
                .expect_action(L2, Action::Update),
        )
        .step(
            Step::config(cfg.replace(
                "interfaces       = [\"eth0\"]",
                "interfaces       = [\"eth0\"]\n  force_conflicts  = true",
            ))
            .check(move |_| {
                let l = spec(&s5, "l2advertisements", "lab-l2")?;
                ensure!(l["interfaces"] == json!(["eth0"]), "{l}");
                sent_valid_objects(&s5)
            }),
        )
        // Another kubeconfig (here: a token on the plain-HTTP port): the
        // write-only value makes no diff by itself, so the plan updates the
        // objects (`id` unknown) and the apply stores it for refresh.
        .step(
            Step::config(cfg_token.clone())
                .expect_action(POOL, Action::Update)
                .expect_action(L2, Action::Update),
        )
        .step(Step::plan_only(cfg_token).expect_empty_plan())
        // Import without a provider block: refused, saying why.
        .step(Step::import(POOL).expect_error(
            r"(?s)Unable to import IPAddressPool.*Import\s+reads\s+through\s+the\s+provider's",
        ))
        // With one: imported; the connection is stored by the next apply.
        .step(
            Step::import(POOL)
                .with_config(with_block)
                .import_state_verify_ignore(&["force_conflicts", "kubernetes"]),
        )
        .check_destroy(move |_| nothing_left(&sd))
        .run();
}

#[test]
fn a_pool_overlapping_another_pool_on_the_cluster_fails_at_plan_naming_it() {
    let sim = sim();
    sim.apply_as(
        "helm",
        "ipaddresspools",
        METALLB_NAMESPACE,
        "from-helm",
        json!({"addresses": ["192.168.1.230/31"]}),
        false,
    )
    .unwrap();
    let s1 = sim.clone();
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::plan_only(hcl(&sim, &pool_v1()))
                .pre_step(move |_| {
                    s1.counters().reset();
                    Ok(())
                })
                .expect_error(
                    r#"(?s)addresses\[0\].*192\.168\.1\.225-192\.168\.1\.240.*overlaps\s+with\s+CIDR\s+\\?"192\.168\.1\.230/31\\?"\s+of\s+IPAddressPool\s+metallb-system/from-helm"#,
                ),
        )
        // Not overlapping: the plan lists the pools once and goes on.
        .step(Step::plan_only(hcl(&sim, &pool_v2(false))).expect_action(POOL, Action::Create))
        .run();
}

/// A cluster whose MetalLB CRDs are older than the provider's: the field
/// the CRD does not declare fails the apply with the apiserver's 500 at
/// once (one request, not retried as a transient error), naming the field;
/// without it the pool applies and is destroyed.
#[test]
fn an_older_crd_without_a_field_fails_the_apply_naming_it() {
    let sim = sim();
    assert!(sim.drop_crd_field("ipaddresspools", "spec.serviceAllocation"));
    let (s1, s2, s3, sd) = (sim.clone(), sim.clone(), sim.clone(), sim.clone());
    let pool_only = |alloc: &str| {
        format!(
            r#"resource "homelab_metallb_ip_address_pool" "lab" {{
  name      = "lab-pool"
  addresses = ["10.0.0.0/28"]
{alloc}}}
"#
        )
    };
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(hcl(&sim, &pool_only("  service_allocation = { priority = 10 }\n")))
                .pre_step(move |_| {
                    s1.counters().reset();
                    Ok(())
                })
                .expect_error(
                    r"(?s)Unable to create IPAddressPool.*CRD\s+\(metallb\.io/v1beta1\)\s+does\s+not\s+declare\s+\.spec\.serviceAllocation.*upgrade\s+MetalLB.*HTTP\s+500.*field\s+not\s+declared\s+in\s+schema",
                ),
        )
        .step(
            Step::config(hcl(&sim, &pool_only(""))).pre_step(move |_| {
                let patches: u64 = s2
                    .counters()
                    .snapshot()
                    .iter()
                    .filter(|((m, _), _)| m == "PATCH")
                    .map(|(_, n)| n)
                    .sum();
                ensure!(patches == 1, "the failed apply was sent {patches} times");
                ensure!(
                    s2.pruned_fields() == vec!["ipaddresspools/lab-pool: spec.serviceAllocation"],
                    "{:?}",
                    s2.pruned_fields()
                );
                Ok(())
            })
            .check(move |_| {
                let p = spec(&s3, "ipaddresspools", "lab-pool")?;
                ensure!(p["addresses"] == json!(["10.0.0.0/28"]), "{p}");
                ensure!(s3.invalid_writes().is_empty(), "{:?}", s3.invalid_writes());
                Ok(())
            }),
        )
        .check_destroy(move |_| nothing_left(&sd))
        .run();
}

//! Acceptance tests of the resources that talk to Talos nodes
//! (`homelab_talos_machine_configuration_apply`,
//! `homelab_talos_machine_bootstrap`, `homelab_talos_cluster_kubeconfig`)
//! through the real CLI against the Talos simulator: a cluster of 3 control
//! planes and 2 workers made, changed, drifted, wiped and destroyed; and the
//! faults users meet (bootstrap too early, bad patch, wrong endpoint, Talos
//! 1.14 and `reboot`, a lost apply answer, secrets in logs).

#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use labforge_acceptance_tests::{Action, Provider, Step, TestCase};
use serde_json::Value;

use crate::support::talos_nodes::{Cluster, addr, all_configured, b64_decode, calls, has_san, sim};

const SECRETS: &str = "homelab_talos_machine_secrets.lab";
const BOOT: &str = "homelab_talos_machine_bootstrap.lab";
const KUBE: &str = "homelab_talos_cluster_kubeconfig.lab";

fn cp(n: &str) -> String {
    format!("homelab_talos_machine_configuration_apply.cp[\"{n}\"]")
}

fn worker(n: &str) -> String {
    format!("homelab_talos_machine_configuration_apply.worker[\"{n}\"]")
}

const ALL: &[&str] = &["cp1", "cp2", "cp3", "w1", "w2"];

#[test]
fn cluster_apply_bootstrap_kubeconfig_change_drift_wipe_recover_destroy() {
    let sim = sim(ALL, "v1.13.9");
    let v1 = Cluster::lab();
    let mut v2 = Cluster::lab();
    v2.revs = vec![("cp2", "2")];
    let mut renew_all = v2.clone();
    renew_all.renewal = Some("87600h");
    let cp1 = addr(&sim, "cp1");
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
    let (s8, s9) = (sim.clone(), sim.clone());
    let boots_before = Rc::new(Cell::new(0u64));
    let (bb1, bb2) = (boots_before.clone(), boots_before.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(v1.hcl(&sim))
                .expect_action(&cp("cp1"), Action::Create)
                .expect_attr(&cp("cp1"), "id", cp1.as_str())
                .expect_attr(&cp("cp1"), "endpoint", cp1.as_str())
                .expect_attr(&cp("cp1"), "apply_mode", "auto")
                .expect_attr_set(&cp("cp1"), "resolved_apply_mode")
                .expect_attr_matches(&cp("cp1"), "machine_configuration_hash", "^[0-9a-f]{64}$")
                .expect_sensitive(&cp("cp1"), "machine_configuration")
                .expect_sensitive(&cp("cp1"), "machine_configuration_input")
                .expect_sensitive(&cp("cp1"), "client_configuration")
                .expect_not_sensitive(&cp("cp1"), "machine_configuration_hash")
                .expect_attr(BOOT, "id", cp1.as_str())
                .expect_sensitive(KUBE, "kubeconfig_raw")
                .expect_sensitive(KUBE, "kubernetes_client_configuration")
                .expect_attr(KUBE, "certificate_renewal_duration", "720h")
                .expect_attr_matches(KUBE, "kubernetes_client_configuration.host", "^https://")
                .check(move |state| {
                    all_configured(&s1, ALL)?;
                    for n in ALL {
                        ensure!(s1.apply_count(n) == 1, "{n}: {} applies", s1.apply_count(n));
                    }
                    ensure!(s1.bootstrapped("cp1"), "cp1 not bootstrapped");
                    for n in ["cp2", "cp3"] {
                        ensure!(!s1.bootstrapped(n), "{n} bootstrapped too");
                    }
                    // What state holds is what the node runs.
                    let sent = state.attr_str(&cp("cp3"), "machine_configuration")?;
                    ensure!(s1.applied_config("cp3").as_deref() == Some(sent.as_str()));
                    let raw = state.attr_str(KUBE, "kubeconfig_raw")?;
                    ensure!(raw.contains("client-key-data"), "{raw}");
                    let host = state.attr_str(KUBE, "kubernetes_client_configuration.host")?;
                    ensure!(raw.contains(&host), "host {host} not in the kubeconfig");
                    let cert = state
                        .attr_str(KUBE, "kubernetes_client_configuration.client_certificate")?;
                    let pem = String::from_utf8(b64_decode(&cert).context("base64")?)?;
                    ensure!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
                    Ok(())
                }),
        )
        // Refresh reads each node's running configuration; nothing is written.
        .step(
            Step::plan_only(v1.hcl(&sim))
                .expect_empty_plan()
                .plan_check(move |_| {
                    for n in ALL {
                        ensure!(s2.apply_count(n) == 1, "refresh applied to {n}");
                        ensure!(calls(&s2, n, "ApplyConfiguration") == 1, "{n}");
                    }
                    Ok(())
                }),
        )
        // An interrupted run that bootstrapped but did not record it: import.
        .step(
            Step::import(BOOT)
                .import_id(cp1.clone())
                .import_state_verify_ignore(&["client_configuration", "timeouts"]),
        )
        // A patch change re-applies that node only.
        .step(
            Step::config(v2.hcl(&sim))
                .expect_action(&cp("cp2"), Action::Update)
                .expect_action(&cp("cp1"), Action::NoOp)
                .expect_action(&worker("w1"), Action::NoOp)
                .expect_action(BOOT, Action::NoOp)
                .expect_action(KUBE, Action::NoOp)
                .check(move |_| {
                    ensure!(has_san(&s3, "cp2", "rev2.lab.example")?, "cp2 not patched");
                    ensure!(has_san(&s3, "cp1", "rev1.lab.example")?);
                    ensure!(s3.apply_count("cp2") == 2, "cp2: {}", s3.apply_count("cp2"));
                    ensure!(s3.apply_count("cp1") == 1, "cp1 re-applied");
                    Ok(())
                }),
        )
        // The configuration replaced behind the provider's back: refresh sees
        // it, the plan updates the node, the apply puts ours back.
        .step(
            Step::plan_only(v2.hcl(&sim))
                .pre_step(move |_| {
                    let ours = s4.applied_config("w1").context("w1 config")?;
                    let theirs = ours.replace("w1.lab.example", "edited-by-hand.lab.example");
                    ensure!(theirs != ours, "no SAN to edit in:\n{ours}");
                    s4.replace_config("w1", &theirs);
                    Ok(())
                })
                .expect_action(&worker("w1"), Action::Update)
                .expect_action(&worker("w2"), Action::NoOp)
                .expect_action(&cp("cp1"), Action::NoOp),
        )
        .step(Step::config(v2.hcl(&sim)).check(move |_| {
            ensure!(has_san(&s5, "w1", "w1.lab.example")?, "w1 not put back");
            ensure!(s5.apply_count("w1") == 2, "w1: {}", s5.apply_count("w1"));
            Ok(())
        }))
        // A node wiped back to maintenance mode is applied again.
        .step(
            Step::plan_only(v2.hcl(&sim))
                .pre_step(move |_| {
                    s6.wipe("w2");
                    Ok(())
                })
                .expect_action(&worker("w2"), Action::Create)
                .expect_action(&worker("w1"), Action::NoOp),
        )
        .step(Step::config(v2.hcl(&sim)).check(move |_| all_configured(&s7, &["w2"])))
        // Bootstrapped on the node but not in state: the bootstrap is
        // recorded with a warning instead of failing forever.
        .step(
            Step::config(v2.hcl(&sim))
                .pre_step(move |ctx| {
                    bb1.set(calls(&s8, "cp1", "Bootstrap"));
                    ctx.workdir.run(&["state", "rm", BOOT])?;
                    Ok(())
                })
                .expect_action(BOOT, Action::Create)
                .expect_apply_output("Cluster already bootstrapped")
                .check(move |_| {
                    ensure!(s9.bootstrapped("cp1"));
                    ensure!(calls(&s9, "cp1", "Bootstrap") == bb2.get() + 1);
                    Ok(())
                }),
        )
        // A client certificate expiring within the renewal window is renewed at plan.
        .step(Step::plan_only(renew_all.hcl(&sim)).expect_action(KUBE, Action::Update))
        .check_destroy(move |ctx| {
            ensure!(ctx.workdir.state_json()?.is_empty());
            // Talos has no "unapply": the nodes keep their configurations.
            all_configured(&sd, ALL)
        })
        .run();
}

#[test]
fn bootstrap_too_early_bad_patch_bad_endpoint_then_waits_for_the_node() {
    let sim = sim(&["cp1"], "v1.13.9");
    let node = addr(&sim, "cp1");
    let boot_only = format!(
        r#"{}

resource "homelab_talos_machine_secrets" "lab" {{}}

resource "homelab_talos_machine_bootstrap" "lab" {{
  node                 = "{node}"
  client_configuration = homelab_talos_machine_secrets.lab.client_configuration
  timeouts = {{
    create = "30s"
  }}
}}
"#,
        crate::support::REQUIRED_PROVIDERS
    );
    let mut bad_patch = Cluster::single("v1.13");
    bad_patch.extra_patches = vec![r#"yamlencode({ machine = { notAField = 1 } })"#.into()];
    let bad_endpoint = Cluster::single("v1.13")
        .hcl(&sim)
        .replace("  node                        = each.value\n", "  node                        = each.value\n  endpoint                    = \"127.0.0.1:1\"\n");
    let mut good = Cluster::single("v1.13");
    good.bootstrap = true;
    let mut changed = good.clone();
    changed.revs = vec![("cp1", "2")];
    let started = Rc::new(Cell::new(Instant::now()));
    let (t1, t2) = (started.clone(), started.clone());
    let (s1, s2, s3, s4, s5) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    let applies = Rc::new(Cell::new(0u64));
    let (a1, a2) = (applies.clone(), applies.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(boot_only).expect_error(&format!(
            "(?s)the machine configuration has not been applied to {}",
            regex::escape(&node)
        )))
        .step(
            Step::config(bad_patch.hcl(&sim))
                .expect_error(r"(?s)Invalid config patch.*config_patches\[1\].*notAField")
                .pre_step(move |_| {
                    ensure!(s1.apply_count("cp1") == 0);
                    Ok(())
                }),
        )
        .step(
            Step::config(bad_endpoint)
                .pre_step(move |_| {
                    ensure!(s2.apply_count("cp1") == 0, "the bad patch was sent");
                    t1.set(Instant::now());
                    Ok(())
                })
                .expect_error(r"(?s)127\.0\.0\.1:1.*(endpoint|did not answer)"),
        )
        // Bootstrap right after the install: "not available yet" for a few
        // seconds, then done.
        .step(
            Step::config(good.hcl(&sim))
                .pre_step(move |_| {
                    let took = t2.get().elapsed();
                    ensure!(
                        took < Duration::from_secs(40),
                        "the bad endpoint took {took:?}"
                    );
                    s3.set_bootstrap_delay(Duration::from_secs(3));
                    Ok(())
                })
                .check(move |_| {
                    ensure!(s4.bootstrapped("cp1"));
                    let n = calls(&s4, "cp1", "Bootstrap");
                    ensure!(n >= 2, "bootstrap did not wait: {n} calls");
                    Ok(())
                }),
        )
        // The answer to an apply is lost: the provider reads the node's
        // configuration instead of sending it again.
        .step(
            Step::config(changed.hcl(&sim))
                .pre_step(move |_| {
                    a1.set(s5.apply_count("cp1"));
                    s5.drop_next_apply_answer("cp1");
                    Ok(())
                })
                .expect_action(&cp("cp1"), Action::Update)
                .check({
                    let s = sim.clone();
                    move |_| {
                        ensure!(has_san(&s, "cp1", "rev2.lab.example")?);
                        let n = s.apply_count("cp1");
                        ensure!(n == a2.get() + 1, "applied {} times", n - a2.get());
                        Ok(())
                    }
                }),
        )
        .run();
}

/// An apply the node fails (gRPC `Internal`, `Unknown`, `ResourceExhausted`:
/// its final word) is reported at once, not sent again until the timeout;
/// the next apply sends it once.
#[test]
fn an_apply_the_node_fails_is_reported_at_once() {
    let sim = sim(&["cp1"], "v1.14.0");
    let first = Cluster::single("v1.14");
    let mut changed = first.clone();
    changed.revs = vec![("cp1", "2")];
    let (s1, s2) = (sim.clone(), sim.clone());
    let before = Rc::new(Cell::new(0u64));
    let started = Rc::new(Cell::new(Instant::now()));
    let (b1, b2, t1, t2) = (
        before.clone(),
        before.clone(),
        started.clone(),
        started.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(first.hcl(&sim)))
        .step(
            Step::config(changed.hcl(&sim))
                .pre_step(move |_| {
                    b1.set(s1.apply_count("cp1"));
                    s1.fail_next(
                        "cp1",
                        "ApplyConfiguration",
                        labforge_simulators::talos::Code::Internal,
                        "failed to write the configuration: disk full",
                    );
                    t1.set(Instant::now());
                    Ok(())
                })
                .expect_error(r"(?s)Internal.*disk full"),
        )
        .step(Step::config(changed.hcl(&sim)).check(move |_| {
            let took = t2.get().elapsed();
            ensure!(took < Duration::from_secs(60), "took {took:?}");
            let n = s2.apply_count("cp1");
            ensure!(n == b2.get() + 1, "applied {} times", n - b2.get());
            ensure!(has_san(&s2, "cp1", "rev2.lab.example")?);
            Ok(())
        }))
        .run();
}

/// The installing apply (node in maintenance mode) is sent as AUTO whatever
/// `apply_mode` says: maintenance mode refuses `no_reboot` and `staged`.
#[test]
fn the_installing_apply_is_auto_whatever_the_mode() {
    let sim = sim(&["cp1"], "v1.13.9");
    let mut no_reboot = Cluster::single("v1.13");
    no_reboot.apply_mode = Some("no_reboot");
    let mut staged = no_reboot.clone();
    staged.apply_mode = Some("staged");
    staged.revs = vec![("cp1", "2")];
    let (s1, s2) = (sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(no_reboot.hcl(&sim)).check(move |_| {
            all_configured(&s1, &["cp1"])?;
            ensure!(s1.apply_count("cp1") == 1);
            Ok(())
        }))
        // A later apply keeps its mode: staged, pending until the reboot.
        .step(
            Step::config(staged.hcl(&sim))
                .expect_attr(&cp("cp1"), "resolved_apply_mode", "staged")
                .check(move |_| {
                    let p = s2.persistent_config("cp1").unwrap_or_default();
                    ensure!(p.contains("rev2.lab.example"), "not staged");
                    let r = s2.applied_config("cp1").unwrap_or_default();
                    ensure!(!r.contains("rev2.lab.example"), "applied live");
                    Ok(())
                }),
        )
        .run();
}

/// A bootstrap that finds etcd already bootstrapped (AlreadyExists) is
/// success only when etcd is healthy on the node (ServiceList); while etcd
/// starts it waits; etcd running unhealthy is a clear error.
#[test]
fn already_bootstrapped_needs_a_healthy_etcd() {
    let sim = sim(&["cp1"], "v1.14.0");
    let mut boot = Cluster::single("v1.14");
    boot.bootstrap = true;
    let mut no_boot = boot.clone();
    no_boot.bootstrap = false;
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(boot.hcl(&sim)))
        // Forget the bootstrap (destroy only removes it from state).
        .step(Step::config(no_boot.hcl(&sim)))
        .step(
            Step::config(boot.hcl(&sim))
                .pre_step(move |_| {
                    ensure!(s1.bootstrapped("cp1"));
                    s1.etcd_unhealthy("cp1", true);
                    Ok(())
                })
                .expect_error(
                    r"(?s)already bootstrapped.*not\s+healthy.*context\s+deadline\s+exceeded",
                ),
        )
        .step(
            Step::config(boot.hcl(&sim))
                .pre_step(move |_| {
                    s2.etcd_unhealthy("cp1", false);
                    // etcd restarts: health unknown for 2 s, then healthy.
                    s2.set_etcd_start_delay(Duration::from_secs(4));
                    s2.restart_etcd("cp1");
                    Ok(())
                })
                .check(move |_| {
                    let n = calls(&s3, "cp1", "ServiceList");
                    ensure!(n >= 2, "did not wait for etcd: {n} ServiceList calls");
                    Ok(())
                }),
        )
        .run();
}

#[test]
fn talos_1_14_refuses_reboot_mode_clearly() {
    let sim = sim(&["cp1"], "v1.14.0");
    let mut reboot = Cluster::single("v1.14");
    reboot.apply_mode = Some("reboot");
    let mut reboot_changed = reboot.clone();
    reboot_changed.revs = vec![("cp1", "2")];
    let mut auto_changed = reboot_changed.clone();
    auto_changed.apply_mode = None;
    let mut try_mode = reboot.clone();
    try_mode.apply_mode = Some("try");
    let s1 = sim.clone();
    TestCase::new()
        .provider(Provider::homelab())
        // `try` cannot stay applied (Talos rolls it back): refused at validate.
        .step(
            Step::plan_only(try_mode.hcl(&sim))
                .expect_error(r"(?s)apply_mode.*rolls a configuration applied in try mode back"),
        )
        // In maintenance mode the installing apply takes any mode.
        .step(Step::config(reboot.hcl(&sim)).check(move |_| all_configured(&s1, &["cp1"])))
        .step(
            Step::plan_only(reboot_changed.hcl(&sim))
                .expect_error(r#"(?s)apply_mode = \\?"reboot\\?".*v1\.14\.0.*no_reboot"#),
        )
        .step(Step::config(auto_changed.hcl(&sim)).expect_attr(
            &cp("cp1"),
            "resolved_apply_mode",
            "no_reboot",
        ))
        .run();
}

/// Values of secrets in the state (and their decoded PEM bodies).
fn secrets_of(state: &labforge_acceptance_tests::State) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (what, addr, path) in [
        ("client key", SECRETS, "client_configuration.client_key"),
        ("OS CA key", SECRETS, "machine_secrets.certs.os.key"),
        ("cluster secret", SECRETS, "machine_secrets.cluster.secret"),
        (
            "bootstrap token",
            SECRETS,
            "machine_secrets.secrets.bootstrap_token",
        ),
        (
            "kubeconfig key",
            KUBE,
            "kubernetes_client_configuration.client_key",
        ),
    ] {
        let v = state.attr_str(addr, path)?;
        out.push((what.to_string(), v.clone()));
        if let Some(pem) = b64_decode(&v).and_then(|b| String::from_utf8(b).ok())
            && pem.contains("-----BEGIN")
        {
            // The longest body line of the PEM.
            if let Some(line) = pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .max_by_key(|l| l.len())
            {
                out.push((format!("{what} (PEM)"), line.to_string()));
            }
        }
    }
    Ok(out)
}

#[test]
fn nothing_secret_in_trace_logs_or_outputs() {
    let sim = sim(&["cp1"], "v1.13.9");
    let mut c = Cluster::single("v1.13");
    c.bootstrap = true;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("trace.log");
    let log2 = log.clone();
    TestCase::new()
        .provider(Provider::homelab())
        .env("TF_LOG", "trace")
        .env("TF_LOG_PATH", log.to_string_lossy().to_string())
        .step(Step::config(c.hcl(&sim)).check(move |state| {
            let text = std::fs::read_to_string(&log2)?;
            let provider_lines = text
                .lines()
                .filter(|l| l.contains("terraform-provider-homelab"))
                .count();
            ensure!(provider_lines > 10, "no provider lines in the trace log");
            let outputs: Vec<&Value> = ["cp1_hash"]
                .iter()
                .filter_map(|o| state.output(o))
                .collect();
            ensure!(!outputs.is_empty(), "no outputs");
            for (what, secret) in secrets_of(state)? {
                ensure!(secret.len() >= 16, "{what} is too short to look for");
                ensure!(!text.contains(&secret), "the trace log holds the {what}");
                for o in &outputs {
                    ensure!(
                        !o.to_string().contains(&secret),
                        "an output holds the {what}"
                    );
                }
            }
            Ok(())
        }))
        .run();
}

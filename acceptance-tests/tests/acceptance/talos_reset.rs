//! Acceptance test of `on_destroy` on `homelab_talos_machine_configuration_apply`
//! through the real CLI against the Talos simulator: destroy resets the
//! nodes back to maintenance mode, and a new cluster (new secrets) is applied
//! to the same nodes; a graceful reset of the last etcd member fails clearly
//! and an apply of `graceful = false` fixes the destroy.

#![allow(clippy::unwrap_used)]

use anyhow::ensure;
use labforge_acceptance_tests::{Action, Provider, Step, TestCase};
use labforge_simulators::talos::TalosSim;

use crate::support::REQUIRED_PROVIDERS;
use crate::support::talos_nodes::{addr, sim};

const NODES: &[&str] = &["cp1", "w1"];
const CP: &str = "homelab_talos_machine_configuration_apply.cp[\"cp1\"]";
const W: &str = "homelab_talos_machine_configuration_apply.worker[\"w1\"]";
const BOOT: &str = "homelab_talos_machine_bootstrap.lab";

/// A cluster of `cp1` and `w1` from the secrets `secrets` (a new name: new
/// secrets), with nodes or without (`nodes` false: the apply resources go).
/// `cp1`'s reset is graceful when `graceful`.
fn hcl(sim: &TalosSim, secrets: &str, nodes: bool, graceful: bool) -> String {
    let (cp, w) = if nodes {
        (
            format!("cp1 = \"{}\"", addr(sim, "cp1")),
            format!("w1 = \"{}\"", addr(sim, "w1")),
        )
    } else {
        (String::new(), String::new())
    };
    let apply = |kind: &str, machine_type: &str, nodes: &str, on_destroy: &str, delete: &str| {
        format!(
            r#"
data "homelab_talos_machine_configuration" "{kind}" {{
  cluster_name     = "lab"
  cluster_endpoint = "https://127.0.0.1:6443"
  machine_type     = "{machine_type}"
  machine_secrets  = homelab_talos_machine_secrets.{secrets}.machine_secrets
  talos_version    = "v1.14"
  install_disk     = "/dev/sda"
}}

resource "homelab_talos_machine_configuration_apply" "{kind}" {{
  for_each                    = local.{nodes}
  node                        = each.value
  client_configuration        = homelab_talos_machine_secrets.{secrets}.client_configuration
  machine_configuration_input = data.homelab_talos_machine_configuration.{kind}.machine_configuration
  on_destroy                  = {on_destroy}
  timeouts = {{
    delete = "{delete}"
  }}
}}
"#
        )
    };
    let cp_on_destroy = format!("{{ reset = true, graceful = {graceful}, reboot = true }}");
    let bootstrap = if nodes {
        format!(
            r#"
resource "homelab_talos_machine_bootstrap" "lab" {{
  node                 = homelab_talos_machine_configuration_apply.cp["cp1"].node
  client_configuration = homelab_talos_machine_secrets.{secrets}.client_configuration
}}
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{REQUIRED_PROVIDERS}

locals {{
  controlplanes = {{ {cp} }}
  workers       = {{ {w} }}
}}

resource "homelab_talos_machine_secrets" "{secrets}" {{
  talos_version = "v1.14"
}}
{cp_apply}{w_apply}{bootstrap}"#,
        // A graceful reset of the only etcd member cannot end: give up soon.
        cp_apply = apply(
            "cp",
            "controlplane",
            "controlplanes",
            &cp_on_destroy,
            if graceful { "5s" } else { "60s" },
        ),
        // The worker's reset keeps the defaults: graceful (no etcd to leave).
        w_apply = apply(
            "worker",
            "worker",
            "workers",
            "{ reset = true, reboot = true }",
            "60s",
        ),
    )
}

/// Every node of `names` runs a configuration.
fn all_configured(sim: &TalosSim, names: &[&str]) -> anyhow::Result<()> {
    for n in names {
        ensure!(
            sim.is_up(n) && sim.is_configured(n),
            "{n} is not configured"
        );
        ensure!(sim.applied_config(n).is_some(), "{n} runs no configuration");
    }
    Ok(())
}

/// Every node of `names` is up, in maintenance mode (no configuration, not
/// bootstrapped) and was reset `resets` times.
fn all_reset(sim: &TalosSim, names: &[&str], resets: u64) -> anyhow::Result<()> {
    for n in names {
        ensure!(sim.is_up(n), "{n} is down");
        ensure!(!sim.is_configured(n), "{n} still runs a configuration");
        ensure!(
            sim.applied_config(n).is_none(),
            "{n} kept its configuration"
        );
        ensure!(!sim.bootstrapped(n), "{n} kept its etcd data");
        ensure!(
            sim.reset_count(n) == resets,
            "{n}: {} resets, not {resets}",
            sim.reset_count(n)
        );
    }
    Ok(())
}

#[test]
fn destroy_resets_the_nodes_for_a_new_cluster() {
    let sim = sim(NODES, "v1.14.0");
    let (s1, s2, s3, s4, s5, sd) = (
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
        sim.clone(),
    );
    TestCase::new()
        .provider(Provider::homelab())
        // The first cluster; cp1's reset would be graceful (the default).
        .step(
            Step::config(hcl(&sim, "first", true, true))
                .expect_attr(CP, "on_destroy.reset", true)
                .expect_attr(CP, "on_destroy.graceful", true)
                .expect_attr(CP, "on_destroy.reboot", true)
                .expect_attr(W, "on_destroy.graceful", true)
                .expect_attr(CP, "timeouts.delete", "5s")
                .check(move |_| {
                    all_configured(&s1, NODES)?;
                    ensure!(s1.bootstrapped("cp1"), "cp1 not bootstrapped");
                    ensure!(s1.etcd_members("cp1") == ["cp1"], "{:?}", s1.etcd_members("cp1"));
                    Ok(())
                }),
        )
        // cp1 is the only etcd member: Talos cannot leave etcd gracefully,
        // its reset sequence fails and the node keeps running. The destroy
        // says so within timeouts.delete; the worker is reset.
        .step(
            Step::config(hcl(&sim, "first", false, true)).expect_error(
                r"(?s)Unable to reset the node.*reset\s+was\s+accepted.*last\s+etcd\s+member.*on_destroy\.graceful\s+=\s+false",
            ),
        )
        // Applying graceful = false changes only the state (nothing is sent
        // again), the worker is installed again, bootstrap is found done.
        .step(
            Step::config(hcl(&sim, "first", true, false))
                .expect_action(CP, Action::Update)
                .expect_action(W, Action::Create)
                .expect_attr(CP, "on_destroy.graceful", false)
                .check(move |_| {
                    let e = s2.reset_error("cp1").unwrap_or_default();
                    ensure!(e.contains("failed to leave cluster"), "cp1: {e}");
                    ensure!(s2.apply_count("cp1") == 1, "cp1 re-applied");
                    ensure!(s2.reset_count("w1") == 1, "w1: {}", s2.reset_count("w1"));
                    all_configured(&s2, NODES)
                }),
        )
        // Destroy resets both and waits until they answer in maintenance mode.
        .step(
            Step::config(hcl(&sim, "first", false, false))
                .expect_action(CP, Action::Delete)
                .expect_action(W, Action::Delete)
                .expect_action(BOOT, Action::Delete)
                .check(move |_| {
                    ensure!(s3.reset_count("cp1") == 1 && s3.reset_count("w1") == 2);
                    all_reset(&s3, &["cp1"], 1)?;
                    all_reset(&s3, &["w1"], 2)
                }),
        )
        // A new cluster (new secrets) on the same nodes.
        .step(
            Step::config(hcl(&sim, "second", true, false))
                .expect_action("homelab_talos_machine_secrets.second", Action::Create)
                .expect_action(CP, Action::Create)
                .expect_action(W, Action::Create)
                .check(move |state| {
                    all_configured(&s4, NODES)?;
                    ensure!(s4.bootstrapped("cp1"), "the new cluster is not bootstrapped");
                    let sent = state.attr_str(CP, "machine_configuration")?;
                    ensure!(s4.applied_config("cp1").as_deref() == Some(sent.as_str()));
                    let ca = state
                        .attr_str("homelab_talos_machine_secrets.second", "machine_secrets.certs.os.cert")?;
                    ensure!(sent.contains(&ca), "cp1 does not run the new cluster's OS CA");
                    Ok(())
                }),
        )
        .step(Step::plan_only(hcl(&sim, "second", true, false)).expect_empty_plan().plan_check(
            move |_| {
                ensure!(s5.reset_count("cp1") == 1, "a plan reset cp1");
                Ok(())
            },
        ))
        // The final destroy resets them again.
        .check_destroy(move |_| {
            all_reset(&sd, &["cp1"], 2)?;
            all_reset(&sd, &["w1"], 3)?;
            let resets = sd
                .counters()
                .get("GRPC", "/machine.MachineService/Reset");
            // cp1: the failed graceful reset and two real ones; w1: three.
            ensure!(resets == 6, "{resets} Reset calls");
            Ok(())
        })
        .run();
}

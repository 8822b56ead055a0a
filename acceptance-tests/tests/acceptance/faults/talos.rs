//! Fault matrix: Talos (gRPC). A control plane and a worker of Talos v1.14
//! are secured (machine secrets), configured (one
//! `machine_configuration_apply` each, reset back to maintenance mode on
//! destroy), bootstrapped, and the kubeconfig is fetched.
//!
//! The simulator injects the faults per gRPC call, at the n-th call of a
//! method, as the HTTP simulators do per request (`TalosSim::faults`):
//! `Unavailable` for the HTTP 5xx, the connection closed before the
//! handler runs, the connection closed after it ran (the apply or the
//! bootstrap landed, its answer is lost) and a slow answer. Not injected:
//! 429 / `ResourceExhausted`, because Talos's apid has no rate limiter and
//! the client gives `ResourceExhausted` no meaning of its own (it is a final
//! status like `InvalidArgument`: `backends/talos/src/client/error.rs`), so
//! it would test nothing the other final statuses do not.
//!
//! Objects on the backend: each configured node, keyed by its endpoint and
//! the running configuration's text (so "state matches the backend" means
//! the node runs exactly the configuration the state says was applied),
//! and the bootstrapped control plane. Nothing else: the kubeconfig and the
//! secrets live in state only. "Nothing left" after a destroy: every node
//! back in maintenance mode, not bootstrapped.
//!
//! Besides the engine's cases (sampled positions of the apply's calls, an
//! out-of-band change and wipe between a plan and its apply, another apply
//! in progress, SIGINT), [`talos_destroy_faults`] injects the faults into
//! the `Reset` calls of a destroy.

use std::collections::BTreeSet;
use std::hash::{Hash as _, Hasher as _};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use labforge_acceptance_tests::{Provider, Workdir};
use labforge_simulators::common::Fault;
use labforge_simulators::talos::TalosSim;
use regex::Regex;
use serde_json::Value;

use crate::support::REQUIRED_PROVIDERS;
use crate::support::faults::{ADVICE, Kind, Options, Target, check, run_matrix_with};

const NODES: [&str; 2] = ["cp1", "w1"];
const RESET: &str = "/machine.MachineService/Reset";

/// The Talos calls that change something on a node.
fn is_write(_method: &str, route: &str) -> bool {
    matches!(
        route.rsplit('/').next(),
        Some("ApplyConfiguration" | "Bootstrap" | "Reset" | "Reboot")
    )
}

fn sim() -> Rc<TalosSim> {
    crate::support::talos_nodes::sim(&NODES, "v1.14.0")
}

/// The root module; `rev` goes into every node's patch (a SAN), so changing
/// it updates both applies.
fn config(sim: &TalosSim, rev: &str) -> String {
    let cp1 = sim.endpoint("cp1").unwrap();
    let w1 = sim.endpoint("w1").unwrap();
    let apply = |kind: &str, machine_type: &str, nodes: &str| {
        format!(
            r#"
data "homelab_talos_machine_configuration" "{kind}" {{
  cluster_name     = "fm"
  cluster_endpoint = "https://127.0.0.1:6443"
  machine_type     = "{machine_type}"
  machine_secrets  = homelab_talos_machine_secrets.fm.machine_secrets
  talos_version    = "v1.14"
  install_disk     = "/dev/sda"
}}

resource "homelab_talos_machine_configuration_apply" "{kind}" {{
  for_each                    = local.{nodes}
  node                        = each.value
  client_configuration        = homelab_talos_machine_secrets.fm.client_configuration
  machine_configuration_input = data.homelab_talos_machine_configuration.{kind}.machine_configuration
  config_patches = [
    yamlencode({{ machine = {{ certSANs = ["${{each.key}}.fm.example", "rev{rev}.fm.example"] }} }}),
  ]
  # cp1 is the only etcd member: it cannot leave etcd gracefully.
  on_destroy = {{ reset = true, graceful = false, reboot = true }}
  timeouts = {{
    create = "90s"
    update = "90s"
    delete = "60s"
  }}
}}
"#
        )
    };
    format!(
        r#"{REQUIRED_PROVIDERS}

locals {{
  controlplanes = {{ cp1 = "{cp1}" }}
  workers       = {{ w1 = "{w1}" }}
}}

resource "homelab_talos_machine_secrets" "fm" {{
  talos_version = "v1.14"
}}
{cp}{w}
resource "homelab_talos_machine_bootstrap" "fm" {{
  node                 = homelab_talos_machine_configuration_apply.cp["cp1"].node
  client_configuration = homelab_talos_machine_secrets.fm.client_configuration
}}

resource "homelab_talos_cluster_kubeconfig" "fm" {{
  node                 = homelab_talos_machine_bootstrap.fm.node
  client_configuration = homelab_talos_machine_secrets.fm.client_configuration
}}
"#,
        cp = apply("cp", "controlplane", "controlplanes"),
        w = apply("worker", "worker", "workers"),
    )
}

/// A short, stable digest of a configuration's text.
fn digest(text: &str) -> String {
    let mut h = std::hash::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The configured nodes (endpoint and running configuration) and the
/// bootstrapped control plane, as the simulator has them.
fn on_backend(sim: &TalosSim) -> Vec<String> {
    let mut keys = Vec::new();
    for n in NODES {
        let ep = sim.endpoint(n).unwrap_or_default();
        if let Some(running) = sim.applied_config(n) {
            keys.push(format!("node:{ep}:{}", digest(&running)));
        }
        if sim.bootstrapped(n) {
            keys.push(format!("bootstrap:{ep}"));
        }
    }
    keys
}

/// The same keys from the state: the configuration each apply resource
/// says it applied, and the bootstrap.
fn in_state(ty: &str, a: &Value) -> Option<String> {
    match ty {
        "homelab_talos_machine_configuration_apply" => Some(format!(
            "node:{}:{}",
            a["node"].as_str()?,
            digest(a["machine_configuration"].as_str().unwrap_or("(none)"))
        )),
        "homelab_talos_machine_bootstrap" => Some(format!("bootstrap:{}", a["node"].as_str()?)),
        _ => None,
    }
}

/// What the Talos errors say for each fault kind: the client's
/// classification (`backends/talos/src/client/error.rs`) and the resource's
/// words.
fn happened(kind: Kind) -> &'static str {
    match kind {
        Kind::Status500 => r"(?i)unavailable|server error",
        Kind::RateLimited => r"(?i)resourceexhausted|rate.?limit",
        Kind::Reset | Kind::ResetAfterHandling => {
            r"(?i)connection|no answer|closed|reset|broke|unreachable|transport|may have"
        }
        Kind::Slow => r"(?i)tim(e|ed) ?out|slow|deadline",
    }
}

/// Sampled positions: the first call of every method a clean apply makes
/// (each write, each read) and the last apply.
fn sample(seq: &[(String, String)]) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    let mut picked: Vec<usize> = (0..seq.len())
        .filter(|&i| seen.insert(seq[i].1.clone()))
        .collect();
    picked.extend(
        (0..seq.len())
            .rev()
            .find(|&i| seq[i].1.ends_with("/ApplyConfiguration")),
    );
    picked
}

/// Every node back in maintenance mode: no configuration, not bootstrapped.
fn all_in_maintenance(sim: &TalosSim) -> Result<()> {
    for n in NODES {
        ensure!(
            sim.applied_config(n).is_none(),
            "{n} still runs a configuration"
        );
        ensure!(!sim.bootstrapped(n), "{n} is still bootstrapped");
    }
    Ok(())
}

#[test]
fn talos_fault_matrix() {
    let sim = sim();
    let (s1, s2, s3) = (sim.clone(), sim.clone(), sim.clone());
    let target = Target {
        name: "talos",
        config: config(&sim, "1"),
        changed: config(&sim, "2"),
        objects: 3,
        faults: sim.faults(),
        counters: sim.counters(),
        is_write,
        on_backend: Box::new(move || on_backend(&s1)),
        in_state,
        in_state_many: None,
        // The worker's configuration changed behind Terraform's back, the
        // control plane wiped back to maintenance mode (its configuration
        // and etcd data gone).
        out_of_band: Box::new(move || -> Result<()> {
            let running = s2
                .applied_config("w1")
                .context("w1 runs no configuration")?;
            ensure!(running.contains("w1.fm.example"), "w1 runs:\n{running}");
            s2.replace_config("w1", &running.replace("w1.fm.example", "oob.fm.example"));
            s2.wipe("cp1");
            Ok(())
        }),
        advice: ADVICE,
        // Another client's apply runs on both nodes for 3 s.
        contention: Some(Box::new(move || {
            for n in NODES {
                s3.hold_apply(n, Duration::from_secs(3));
            }
        })),
    };
    let options = Options {
        kinds: vec![
            Kind::Status500,
            Kind::Reset,
            Kind::ResetAfterHandling,
            Kind::Slow,
        ],
        happened,
        contention_happened: r"(?i)another apply|in progress",
        sample: Some(sample),
    };
    let fig = run_matrix_with(&target, &options).unwrap();
    check(&fig).unwrap();
    all_in_maintenance(&sim).unwrap();
}

fn run(wd: &Workdir, args: &[&str]) -> Result<labforge_acceptance_tests::CmdOutput> {
    let mut all = vec!["-no-color", "-input=false", "-auto-approve"];
    all.splice(0..0, args.iter().copied());
    wd.run_unchecked(&all)
}

/// The nodes of the apply resources in the state file.
fn applied_in_state(wd: &Workdir) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(wd.path().join("terraform.tfstate"))?;
    let v: Value = serde_json::from_str(&text)?;
    Ok(v["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == "homelab_talos_machine_configuration_apply")
        .flat_map(|r| r["instances"].as_array().into_iter().flatten())
        .filter_map(|i| i["attributes"]["node"].as_str().map(str::to_string))
        .collect())
}

/// Faults in the `Reset` calls of a destroy (the first and the second
/// node's): the destroy either absorbs the fault or fails saying what
/// happened and what to do, keeping in state every node it did not reset;
/// a second destroy then leaves every node in maintenance mode.
#[test]
fn talos_destroy_faults() {
    let started = Instant::now();
    let sim = sim();
    let faults = sim.faults();
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    wd.write_config(&config(&sim, "1")).unwrap();
    wd.ensure_init().unwrap();
    let (mut injected, mut fired, mut failed, mut converged) = (0, 0, 0, 0);
    let advice = Regex::new(ADVICE).unwrap();
    let kinds = [
        Kind::Status500,
        Kind::Reset,
        Kind::ResetAfterHandling,
        Kind::Slow,
    ]
    .map(|k| (k, Regex::new(happened(k)).unwrap()));
    for skip in 0..2 {
        for (kind, said) in &kinds {
            let kind = *kind;
            let label = format!("talos destroy Reset (+{skip}) {kind:?}");
            let out = run(&wd, &["apply"]).unwrap();
            assert!(out.success(), "[{label}] apply:\n{}", out.combined());
            faults.clear();
            let fault = match kind {
                Kind::Status500 => Fault::Status(503),
                Kind::Reset => Fault::Reset,
                Kind::ResetAfterHandling => Fault::ResetAfterHandling,
                _ => Fault::Delay(Duration::from_secs(2)),
            };
            faults.inject_nth("GRPC", RESET, skip, fault);
            let out = run(&wd, &["destroy"]).unwrap();
            injected += 1;
            if faults.pending() == 0 {
                fired += 1;
            }
            faults.clear();
            // Nothing lost: every node still configured is still in state.
            let in_state = applied_in_state(&wd).unwrap();
            for n in NODES {
                let ep = sim.endpoint(n).unwrap();
                if sim.applied_config(n).is_some() {
                    assert!(
                        in_state.contains(&ep),
                        "[{label}] {n} runs its configuration but left the state:\n{}",
                        out.combined()
                    );
                }
            }
            if out.success() {
                eprintln!("[faults] {label}: destroy absorbed the fault");
            } else {
                failed += 1;
                let all = out.combined();
                let text = all.find("Error:").map_or(all.as_str(), |i| &all[i..]);
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(
                    said.is_match(&text),
                    "[{label}] the error does not say what happened:\n{text}"
                );
                assert!(
                    advice.is_match(&text),
                    "[{label}] the error does not say what to do:\n{text}"
                );
                eprintln!("[faults] {label}: destroy failed as expected: {text}");
                let again = run(&wd, &["destroy"]).unwrap();
                assert!(
                    again.success(),
                    "[{label}] second destroy:\n{}",
                    again.combined()
                );
            }
            all_in_maintenance(&sim)
                .with_context(|| label.clone())
                .unwrap();
            converged += 1;
        }
    }
    eprintln!(
        "[faults] talos destroy: {injected} faults injected into Reset ({fired} hit), \
         {failed} destroys failed with the fault, {converged} left every node in maintenance, \
         0 nodes left configured, {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(fired, injected, "every Reset fault was hit");
}

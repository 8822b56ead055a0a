//! The lab in CI (issue 14): the example workflows pass actionlint; a plan of
//! `examples/lab` with every backend's read-only credentials sends no write
//! to any simulator (from homelab-sim's request counters); the plan-comment
//! tool (`scripts/plan_comment.py`) renders real plan files of the lab and
//! never shows a sensitive value; and the lab's state lives in a real
//! PostgreSQL through the CLI's `pg` backend, with locking.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use labforge_acceptance_tests::{Workdir, workspace_root};
use serde_json::{Value, json};

use crate::support::lab_ci::{
    HomelabSim, Postgres, READ_ONLY, backends_in_state, lab_workdir, simulator_of, write_tfvars,
    writes,
};

/// Resources the plan-comment test adds to the lab (`ci.tf`), before and
/// after the change it plans: an update, a replacement, a delete, and
/// sensitive values of both kinds (a sensitive variable, and an attribute
/// the provider's schema declares sensitive).
fn ci_tf(v2: bool) -> String {
    let (ttl, replaced, canary, password) = if v2 {
        (
            600,
            r#"type  = "TXT"
  value = "replaced""#,
            "canary-variable-v2-5d1e",
            "canary-schema-v2-77aa",
        )
    } else {
        (
            300,
            r#"type  = "A"
  value = "10.0.20.201""#,
            "canary-variable-v1-0b9c",
            "canary-schema-v1-31f2",
        )
    };
    let gone = if v2 {
        String::new()
    } else {
        r#"
resource "homelab_technitium_dns_record" "ci_gone" {
  zone  = homelab_technitium_zone.lab.name
  name  = "ci-gone"
  type  = "A"
  value = "10.0.20.202"
}
"#
        .to_string()
    };
    format!(
        r#"variable "ci_canary" {{
  type      = string
  sensitive = true
  default   = "{canary}"
}}

resource "homelab_technitium_dns_record" "ci_ttl" {{
  zone  = homelab_technitium_zone.lab.name
  name  = "ci-ttl"
  type  = "A"
  value = "10.0.20.200"
  ttl   = {ttl}
}}

resource "homelab_technitium_dns_record" "ci_replace" {{
  zone  = homelab_technitium_zone.lab.name
  name  = "ci-replace"
  {replaced}
}}

resource "homelab_technitium_dns_record" "ci_secret" {{
  zone  = homelab_technitium_zone.lab.name
  name  = "ci-secret"
  type  = "TXT"
  value = var.ci_canary
}}

resource "homelab_metallb_bgp_peer" "ci" {{
  name         = "ci-peer"
  my_asn       = 64512
  peer_asn     = 64513
  peer_address = "10.0.10.1"
  password     = "{password}"
}}
{gone}"#
    )
}

const CANARIES: [&str; 4] = [
    "canary-variable-v1-0b9c",
    "canary-variable-v2-5d1e",
    "canary-schema-v1-31f2",
    "canary-schema-v2-77aa",
];

/// Plans with every backend's read-only credentials (the tfvars rewritten,
/// KUBE_TOKEN for MetalLB), after resetting the counters; fails if any
/// simulator counted a write, or if a backend with resources in the state
/// got no request at all (its refresh did not reach it). `args` are the
/// plan's; returns its exit code.
fn read_only_plan(sim: &HomelabSim, wd: &mut Workdir, extra: &Value, args: &[&str]) -> Result<i32> {
    write_tfvars(wd, sim, extra, true)?;
    sim.reset_counters()?;
    let mut all = vec!["plan", "-no-color", "-input=false", "-detailed-exitcode"];
    all.extend_from_slice(args);
    let out = wd.run_unchecked(&all)?;
    let code = out.code.unwrap_or(-1);
    ensure!(
        code == 0 || code == 2,
        "the read-only plan failed ({code}):\n{}",
        out.combined()
    );
    let counters = sim.counters()?;
    let (written, totals) = writes(&counters)?;
    eprintln!("[lab_ci] read-only plan: requests per simulator {totals:?}");
    ensure!(
        written.is_empty(),
        "a plan with read-only credentials sent writes: {written:?}\n(classify a new \
         simulator's reads in support::lab_ci::is_write)"
    );
    for backend in backends_in_state(wd)? {
        let covered = READ_ONLY.iter().any(|c| c.backend == backend);
        let n = totals.get(simulator_of(&backend)).copied().unwrap_or(0);
        if covered {
            ensure!(
                n > 0,
                "{backend} has resources in the state but its simulator got no request: {totals:?}"
            );
        } else {
            eprintln!(
                "[lab_ci] {backend}: the simulator has no read-only credential; planned as admin"
            );
        }
    }
    write_tfvars(wd, sim, extra, false)?;
    Ok(code)
}

/// `python3 scripts/plan_comment.py <plan.json>`: (exit code, stdout, stderr).
fn plan_comment(plan_json: &std::path::Path) -> Result<(i32, String, String)> {
    let script = workspace_root().join("scripts/plan_comment.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(plan_json)
        .arg("--title")
        .arg("Plan: lab")
        .stdin(Stdio::null())
        .output()
        .context("running python3 (the plan-comment tool needs Python 3.9+)")?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The comment's table row for each backend, as the plan JSON says it
/// should be (counted here independently of the tool).
fn expected_rows(plan: &Value) -> Vec<String> {
    const ORDER: [&str; 6] = ["replace", "delete", "update", "create", "read", "forget"];
    let mut counts: std::collections::BTreeMap<String, [u32; 6]> = Default::default();
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        let actions: Vec<&str> = rc["change"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let action = match actions.as_slice() {
            ["delete", "create"] | ["create", "delete"] => "replace",
            [one] => one,
            _ => continue,
        };
        let Some(i) = ORDER.iter().position(|a| *a == action) else {
            continue;
        };
        let ty = rc["type"].as_str().unwrap_or_default();
        let group = ty.split('_').nth(1).unwrap_or(ty).to_string();
        counts.entry(group).or_default()[i] += 1;
    }
    let shown: Vec<usize> = (0..6)
        .filter(|&i| counts.values().any(|c| c[i] > 0))
        .collect();
    counts
        .iter()
        .map(|(g, c)| {
            let cells: Vec<String> = shown.iter().map(|&i| c[i].to_string()).collect();
            format!("| {g} | {} |", cells.join(" | "))
        })
        .collect()
}

#[test]
fn read_only_plan_sends_no_write_and_plan_comment_renders_real_plans() {
    let started = Instant::now();
    let sim = HomelabSim::start().unwrap();
    let extra = json!({ "edge": "routeros" });
    let mut wd = lab_workdir(&sim, &extra).unwrap();
    wd.write_file("ci.tf", &ci_tf(false)).unwrap();
    wd.init().unwrap();
    wd.apply().unwrap();
    let backends = backends_in_state(&wd).unwrap();
    for b in ["technitium", "cloudflare", "proxmox", "routeros", "metallb"] {
        assert!(
            backends.iter().any(|x| x == b),
            "no {b} resource applied: {backends:?}"
        );
    }

    // The whole lab, refreshed with read-only credentials: no change, no write.
    let code = read_only_plan(&sim, &mut wd, &extra, &[]).unwrap();
    assert_eq!(code, 0, "the plan right after apply is not empty");

    // An empty plan renders as "No changes".
    let dir = wd.path().to_path_buf();
    wd.run(&["plan", "-no-color", "-input=false", "-out", "empty.tfplan"])
        .unwrap();
    let empty = wd
        .run(&["show", "-no-color", "-json", "empty.tfplan"])
        .unwrap()
        .stdout;
    std::fs::write(dir.join("empty.json"), &empty).unwrap();
    let (rc, md, err) = plan_comment(&dir.join("empty.json")).unwrap();
    assert_eq!(rc, 0, "{err}");
    assert!(md.contains("**No changes.**"), "{md}");

    // An update, a replacement, a delete, and new sensitive values, planned
    // as the pull-request workflow plans: read-only, into a plan file.
    wd.write_file("ci.tf", &ci_tf(true)).unwrap();
    let code = read_only_plan(&sim, &mut wd, &extra, &["-out", "pr.tfplan"]).unwrap();
    assert_eq!(code, 2, "the changed configuration planned no change");
    write_tfvars(&mut wd, &sim, &extra, true).unwrap();
    let shown = wd
        .run(&["show", "-no-color", "-json", "pr.tfplan"])
        .unwrap()
        .stdout;
    write_tfvars(&mut wd, &sim, &extra, false).unwrap();
    std::fs::write(dir.join("pr.json"), &shown).unwrap();
    let plan: Value = serde_json::from_str(&shown).unwrap();

    // What `terraform show -json` does with sensitive values: prints them in
    // clear and marks them, for a sensitive variable and for a schema-
    // sensitive attribute alike. (So the tool must hide them itself.)
    for canary in ["canary-variable-v2-5d1e", "canary-schema-v2-77aa"] {
        assert!(
            shown.contains(canary),
            "the plan JSON does not hold {canary}"
        );
    }
    let rc_of = |addr: &str| {
        plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|rc| rc["address"] == addr)
            .cloned()
            .unwrap_or_else(|| panic!("no change for {addr}"))
    };
    assert_eq!(
        rc_of("homelab_technitium_dns_record.ci_secret")["change"]["after_sensitive"]["value"],
        true
    );
    assert_eq!(
        rc_of("homelab_metallb_bgp_peer.ci")["change"]["after_sensitive"]["password"],
        true,
        "terraform show -json did not mark the schema-sensitive password"
    );
    assert_eq!(
        rc_of("homelab_technitium_dns_record.ci_replace")["change"]["actions"],
        json!(["delete", "create"])
    );

    let (rc, md, err) = plan_comment(&dir.join("pr.json")).unwrap();
    assert_eq!(rc, 0, "{err}");
    eprintln!("[lab_ci] the comment:\n{md}");
    assert!(
        md.starts_with("<!-- labforge-plan-comment -->\n### Plan: lab\n"),
        "{md}"
    );
    for canary in CANARIES {
        assert!(
            !md.contains(canary),
            "the comment shows the sensitive value {canary}:\n{md}"
        );
    }
    // (Long ones only: the Proxmox simulator's root password is "labforge".)
    for (name, value) in &sim.env {
        if (name.contains("TOKEN") || name.contains("PASSWORD")) && value.len() >= 12 {
            assert!(
                !md.contains(value.as_str()),
                "the comment shows {name}:\n{md}"
            );
        }
    }
    assert!(md.contains("(sensitive)"), "{md}");
    // Counts per backend, as the plan JSON says.
    for row in expected_rows(&plan) {
        assert!(md.contains(&row), "row {row:?} missing:\n{md}");
    }
    assert!(
        md.contains("**1 to replace**") && md.contains("**1 to destroy**"),
        "{md}"
    );
    // Replacements first and marked, with what forces them; then deletes, updates.
    let replace = md
        .find("(replaced): forced by `type`")
        .unwrap_or_else(|| panic!("no marked replacement forced by type:\n{md}"));
    assert!(
        md[..replace].contains("`homelab_technitium_dns_record.ci_replace`"),
        "{md}"
    );
    let delete = md.find("Delete (1)").expect("delete section");
    let update = md.find("Update in place (").expect("update section");
    assert!(
        replace < delete && delete < update,
        "sections out of order:\n{md}"
    );
    assert!(
        md[delete..update].contains("`homelab_technitium_dns_record.ci_gone`"),
        "{md}"
    );
    assert!(
        md.contains("`ttl`: `300` → `600`"),
        "the ttl update is not shown:\n{md}"
    );
    assert!(
        md.contains("`password`: `(sensitive)` → `(sensitive)`"),
        "{md}"
    );
    assert!(
        md.contains("`value`: `(sensitive)` → `(sensitive)`"),
        "{md}"
    );

    // Not a plan: refused, without echoing the input.
    let state = wd.run(&["show", "-no-color", "-json"]).unwrap().stdout;
    std::fs::write(dir.join("state.json"), &state).unwrap();
    let (rc, md, err) = plan_comment(&dir.join("state.json")).unwrap();
    assert_eq!((rc, md.as_str()), (1, ""), "{err}");
    assert!(err.contains("not a plan"), "{err}");
    eprintln!(
        "[lab_ci] read-only plan and plan comment: {:.1?}",
        started.elapsed()
    );
}

/// A running CLI command whose stdout is collected as it comes.
struct Running {
    child: std::process::Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn spawn(wd: &Workdir, args: &[&str], stdin: bool) -> Result<Running> {
        let mut cmd = wd.command(args);
        if stdin {
            cmd.stdin(Stdio::piped()).env("TF_INPUT", "1");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let collect = |mut r: Box<dyn std::io::Read + Send>| {
            let buf = Arc::new(Mutex::new(String::new()));
            let b = buf.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    b.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            });
            buf
        };
        let stdout = collect(Box::new(
            child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?,
        ));
        let stderr = collect(Box::new(
            child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?,
        ));
        Ok(Running {
            child,
            stdout,
            stderr,
        })
    }

    fn output(&self) -> String {
        format!(
            "{}\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    fn wait_for(&mut self, text: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while !self.stdout.lock().unwrap().contains(text) {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "exited ({status}) before printing {text:?}:\n{}",
                    self.output()
                );
            }
            ensure!(
                start.elapsed() < timeout,
                "no {text:?} after {timeout:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn finish(mut self, timeout: Duration) -> Result<(i32, String)> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                std::thread::sleep(Duration::from_millis(100));
                return Ok((status.code().unwrap_or(-1), self.output()));
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                bail!("still running after {timeout:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn lab_state_in_postgresql_with_locking() {
    let started = Instant::now();
    let pg = Postgres::start().unwrap();
    let sim = HomelabSim::start().unwrap();
    // The pfSense edge here (the other test has RouterOS): its read-only
    // user is checked too. homelab-sim's pfSense has WAN, LAN and DMZ.
    let extra = json!({
        "edge": "pfsense",
        "pfsense_interfaces": {
            "wan": "WAN", "management": "LAN", "cluster": "DMZ", "home": "LAN", "wireguard": "LAN"
        }
    });
    let mut wd = lab_workdir(&sim, &extra).unwrap();
    // What docs/guides/state-postgresql.md tells a lab to add.
    wd.write_file("backend.tf", "terraform {\n  backend \"pg\" {}\n}\n")
        .unwrap();
    wd.set_env("PG_CONN_STR", pg.conn_str());
    wd.init().unwrap();

    // A: plans the whole lab and waits at the approval prompt, holding the lock.
    let mut a = Running::spawn(&wd, &["apply", "-no-color", "-input=true"], true).unwrap();
    a.wait_for("Enter a value:", Duration::from_secs(300))
        .unwrap();
    // B: a plan that waits for the lock.
    let b = Running::spawn(
        &wd,
        &[
            "plan",
            "-no-color",
            "-input=false",
            "-detailed-exitcode",
            "-lock-timeout=300s",
        ],
        false,
    )
    .unwrap();
    // C: a plan that does not wait: the lock is taken.
    let c = wd
        .run_unchecked(&["plan", "-no-color", "-input=false", "-lock-timeout=0s"])
        .unwrap();
    assert!(
        !c.success() && c.combined().contains("Error acquiring the state lock"),
        "a plan got the state while an apply held it:\n{}",
        c.combined()
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut b = b;
    assert!(
        b.child.try_wait().unwrap().is_none(),
        "the second plan did not wait for the lock:\n{}",
        b.output()
    );
    // Nothing is in PostgreSQL's state yet: A has not applied.
    let before = pg
        .query("SELECT count(*) FROM terraform_remote_state.states")
        .unwrap_or_default();
    a.child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let (code, out) = a.finish(Duration::from_secs(600)).unwrap();
    assert_eq!(code, 0, "the apply failed:\n{out}");
    assert!(out.contains("Apply complete!"), "{out}");
    // B planned on the state A saved: it got the lock only after the apply.
    let (code, out) = b.finish(Duration::from_secs(300)).unwrap();
    assert_eq!(
        code, 0,
        "the waiting plan did not see the applied state (exit {code}):\n{out}"
    );
    assert!(out.contains("No changes."), "{out}");

    // The state in PostgreSQL: one workspace, every resource, valid JSON.
    let rows = pg
        .query("SELECT name, length(data) > 0 FROM terraform_remote_state.states ORDER BY name")
        .unwrap();
    assert_eq!(
        rows.trim(),
        "default|t",
        "states table (before the apply: {before:?})"
    );
    let pulled: Value = serde_json::from_str(&wd.run(&["state", "pull"]).unwrap().stdout).unwrap();
    let listed = wd.run(&["state", "list"]).unwrap().stdout;
    let n = listed.lines().filter(|l| !l.trim().is_empty()).count();
    let in_pg: usize = pulled["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["instances"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(n, in_pg, "state list and the state in PostgreSQL disagree");
    assert!(n > 20, "only {n} resources applied");
    assert!(
        listed.contains("homelab_pfsense_firewall_ruleset.lab"),
        "{listed}"
    );
    // No local state was written beside it.
    assert!(!wd.path().join("terraform.tfstate").exists());
    // The lock is free again, and the state still plans empty (refreshed)
    // with the read-only credentials: nothing written to any simulator.
    let code = read_only_plan(&sim, &mut wd, &extra, &["-lock-timeout=0s"]).unwrap();
    assert_eq!(code, 0);
    eprintln!(
        "[lab_ci] {n} resources; state in PostgreSQL with locking: {:.1?}",
        started.elapsed()
    );
}

/// Where `make tools` installs actionlint and shellcheck (PyPI wheels).
fn tools_bin() -> PathBuf {
    match std::env::var_os("LABFORGE_TOOLS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("venv/bin"),
        _ => workspace_root().join("target/tools/venv/bin"),
    }
}

#[test]
fn ci_workflows_pass_actionlint() {
    let bin = tools_bin();
    let actionlint = bin.join("actionlint");
    assert!(
        actionlint.is_file() && bin.join("shellcheck").is_file(),
        "actionlint and shellcheck are not installed in {}: run `make tools` (make test and \
         .ci/run do)",
        bin.display()
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let lint = |files: &[PathBuf]| {
        Command::new(&actionlint)
            .args([
                "-no-color",
                "-shellcheck",
                &bin.join("shellcheck").display().to_string(),
            ])
            .args(files)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let root = workspace_root().join("examples/ci");
    let mut files = Vec::new();
    for dir in ["github/workflows", "gitea/workflows"] {
        let found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect();
        assert!(!found.is_empty(), "no workflow in examples/ci/{dir}");
        files.extend(found);
    }
    let out = lint(&files);
    assert!(
        out.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check can fail: a workflow with an undefined expression and a
    // shell mistake is refused, for both reasons.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_thing }} $UNQUOTED_VAR\n        env:\n          UNQUOTED_VAR: a b\n",
    )
    .unwrap();
    let out = lint(&[bad]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !out.status.success(),
        "actionlint accepted a broken workflow"
    );
    assert!(text.contains("no_such_thing"), "{text}");
    assert!(text.contains("SC2086"), "shellcheck did not run:\n{text}");
}

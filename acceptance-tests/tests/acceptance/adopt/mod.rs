//! Adopting an existing lab (issue 15): `homelab-sim` seeded by hand
//! through the simulators' own APIs (as a person, a script or Ansible built
//! the lab; never through labforge), then `homelab-discover` with read-only
//! credentials, `terraform plan -generate-config-out`, `homelab-discover
//! tidy`, the imports applied, and a plan that must be empty; meanwhile the
//! simulators must see no write at all.
//!
//! Each backend's module seeds its simulator and says what discovery must
//! report ([`Seeded`]); [`adopt`] runs the flow for one or several backends
//! and returns the figures the docs quote.
//!
//! As every acceptance test, it also injects faults and destroys: before
//! the real discovery, faults armed through homelab-sim's control port
//! (`POST /_sim/faults`) on a list route discovery reads (a 429 the HTTP
//! layer must ride out; a persistent 500 that must fail that backend alone,
//! loudly, and leave the others' import blocks as they are); after the
//! empty plans, `terraform destroy`, then discovery again must find nothing
//! left of what was imported, and every skipped object still there.
//!
//! And, as every acceptance test, it drifts: after the empty plans, each
//! seed's [`Drift`] (a person editing one adopted object through the
//! vendor's API or UI) is made on the simulator, all in one round; one
//! plan must change exactly the drifted addresses (with the action each
//! drift expects), its apply must put the configured values back (checked
//! on the simulator), and the plan after it must be empty.

mod cloudflare;
mod generated;
mod kubernetes;
mod pfsense;
mod proxmox;
mod routeros;
mod talos;
mod technitium;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, ensure};
use labforge_acceptance_tests::harness::binary::binary;
use labforge_acceptance_tests::harness::workdir::PLAN_FILE;
use labforge_acceptance_tests::{Action, Provider, Workdir};
use regex::Regex;

use crate::support::REQUIRED_PROVIDERS;
use crate::support::lab_ci::{HomelabSim, writes};

/// What a backend's seed made, and what discovery must report about it.
#[derive(Debug, Default, Clone)]
pub struct Seeded {
    /// The provider block (`"proxmox"`), as `homelab-discover --backend` takes it.
    pub backend: &'static str,
    /// Every import address discovery must write for this backend, exactly
    /// (`homelab_proxmox_vm.pve1_web01`): what the seed made plus what the
    /// simulator held before.
    pub found: BTreeSet<String>,
    /// Regexes: each must match at least one "skipped" line discovery writes
    /// for this backend (`SOA record of home.arpa: .*made with the zone`).
    pub skipped: Vec<String>,
    /// Extra `homelab-discover` arguments (filters: `--zone`, `--node` ...).
    pub args: Vec<String>,
    /// Environment overrides for `homelab-discover`: the read-only
    /// credentials (`PROXMOX_VE_API_TOKEN` = the sim's read-only token ...).
    pub discover_env: BTreeMap<String, String>,
    /// Environment Terraform itself needs to import (e.g. `TALOSCONFIG`,
    /// which Talos imports read the nodes with), besides homelab-sim's.
    pub terraform_env: BTreeMap<String, String>,
    /// Hand edits the generated configuration needs (goal: none): per
    /// resource address, lines added inside its block (a secret the
    /// generator cannot read back). Each is counted in the figures.
    pub hand_edits: Vec<(String, String)>,
    /// Extra HCL the adopted configuration needs beside the generated file
    /// (variables the hand edits refer to); usually empty.
    pub extra_hcl: String,
    /// Regexes: the skipped lines that go with the destroy, because they
    /// name something an imported object held (a destroyed VM's disk
    /// volumes, the SOA record of a destroyed zone). Each must match a
    /// skipped line of the adoption and none after the destroy; every other
    /// skipped line must still be listed after the destroy, unchanged.
    pub gone_with_destroy: Vec<String>,
    /// A hand change on one adopted object that the plan after the
    /// adoption must fix (`None`: this seed drifts nothing).
    pub drift: Option<Drift>,
}

/// A function a [`Drift`] runs against homelab-sim.
pub type SimFn = Arc<dyn Fn(&HomelabSim) -> Result<()> + Send + Sync>;

/// A person's hand change on one adopted object, made through the vendor's
/// own API (as the seed is): editing a VM's description in the Proxmox UI,
/// a record's TTL, reordering two firewall rules.
///
/// [`adopt`] runs `check` (it must pass: the simulator holds what the
/// configuration says), then `make`, then `check` again (it must fail now,
/// or it checks nothing); then one plan must hold exactly the drifted
/// addresses of all seeds, each with its `action`; after the apply,
/// `check` must pass again and the next plan be empty.
#[derive(Clone)]
pub struct Drift {
    /// The imported address the change touches
    /// (`homelab_proxmox_vm.pve2_db01`).
    pub address: String,
    /// What the person changed, in words (for messages).
    pub what: String,
    /// The action the plan must show for `address`: [`Action::Update`]
    /// unless the provider truly replaces the object for that attribute.
    pub action: Action,
    /// Makes the change on the simulator through the vendor's API.
    pub make: SimFn,
    /// Passes when the simulator holds what the adopted configuration says
    /// for the drifted value, fails (saying what it found) otherwise.
    pub check: SimFn,
    /// A line the person adds inside the drifted resource's block before
    /// planning, when the provider documents that the fix needs one
    /// (`force_conflicts = true` to take a field back from another
    /// Kubernetes field manager); `None` for a drift the adopted
    /// configuration fixes as generated.
    pub config_line: Option<String>,
}

impl Drift {
    /// A drift of `address` fixed in place (the plan updates it).
    pub fn update(
        address: &str,
        what: &str,
        make: impl Fn(&HomelabSim) -> Result<()> + Send + Sync + 'static,
        check: impl Fn(&HomelabSim) -> Result<()> + Send + Sync + 'static,
    ) -> Drift {
        Drift {
            address: address.to_string(),
            what: what.to_string(),
            action: Action::Update,
            make: Arc::new(make),
            check: Arc::new(check),
            config_line: None,
        }
    }

    /// The same drift, fixed only once `line` is added inside the drifted
    /// resource's block (see [`Drift::config_line`]).
    pub fn with_config_line(mut self, line: &str) -> Drift {
        self.config_line = Some(line.to_string());
        self
    }
}

impl fmt::Debug for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drift")
            .field("address", &self.address)
            .field("what", &self.what)
            .field("action", &self.action)
            .field("config_line", &self.config_line)
            .finish_non_exhaustive()
    }
}

/// Per backend, a route its discovery lists objects with (method, route
/// pattern as homelab-sim's counters name it, or a path glob): where the fault tests arm
/// their faults. Talos is absent: it speaks gRPC, and homelab-sim's
/// `/_sim/faults` arms HTTP faults only.
const LIST_ROUTES: &[(&str, &str, &str)] = &[
    ("proxmox", "GET", "/api2/json/cluster/resources"),
    // Technitium's API takes reads as POST forms too.
    ("technitium", "POST", "/api/zones/list"),
    (
        "cloudflare",
        "GET",
        "/client/v4/zones/{zone_id}/dns_records",
    ),
    ("routeros", "GET", "/rest/ip/firewall/filter"),
    ("pfsense", "GET", "/api/v2/firewall/rules"),
    // Its simulator counts concrete paths: a path glob (`*` one segment),
    // the namespaced list the seed's `--namespace` makes discovery read.
    (
        "kubernetes",
        "GET",
        "/apis/metallb.io/v1beta1/namespaces/*/ipaddresspools",
    ),
];

/// The list route of `backend`, if homelab-sim can fault it.
fn list_route(backend: &str) -> Option<(&'static str, &'static str)> {
    LIST_ROUTES
        .iter()
        .find(|(b, _, _)| *b == backend)
        .map(|(_, m, r)| (*m, *r))
}

/// The figures of one adoption, per backend.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Import blocks written.
    pub found: usize,
    /// Objects skipped, with their reasons.
    pub skipped: Vec<String>,
    /// Lines of generated configuration that needed a hand edit.
    pub hand_edits: usize,
    /// Lines of generated configuration after `homelab-discover tidy`.
    pub generated_lines: usize,
}

/// Discover, generate, tidy, import and plan empty for `seeded` against
/// `sim`; the simulators must see no write from the moment discovery starts.
pub fn adopt(sim: &HomelabSim, seeded: &[Seeded]) -> Result<BTreeMap<&'static str, Figures>> {
    ensure!(!seeded.is_empty(), "adopt: nothing seeded");
    let state_before = sim_state(sim)?;
    sim.reset_counters()?;
    let mut wd = Workdir::new(&Provider::homelab())?;

    // 0. Faults in discovery (HTTP backends only), before the real one.
    let faulted = discover_with_faults(sim, seeded, &wd)?;

    // 1. Discovery, with each backend's read-only credentials.
    let run = discover(sim, seeded, &wd, "imports.tf", Credentials::ReadOnly)?;
    ensure!(
        run.code == Some(0),
        "homelab-discover failed:\n{}",
        run.stderr
    );
    let imports = run.text;
    let listed = parse_imports(&imports);
    faulted.check_against(&imports)?;

    let mut figures = BTreeMap::new();
    for s in seeded {
        let (found, skipped) = listed.get(s.backend).cloned().unwrap_or_default();
        let missing: Vec<_> = s.found.difference(&found).collect();
        let extra: Vec<_> = found.difference(&s.found).collect();
        ensure!(
            missing.is_empty() && extra.is_empty(),
            "{}: discovery wrote other import blocks than the lab holds: missing {missing:?}, \
             unexpected {extra:?}\n{imports}",
            s.backend
        );
        for re in &s.skipped {
            let re = Regex::new(re)?;
            ensure!(
                skipped.iter().any(|l| re.is_match(l)),
                "{}: no skipped line matches /{re}/: {skipped:#?}",
                s.backend
            );
        }
        figures.insert(
            s.backend,
            Figures {
                found: found.len(),
                skipped: skipped.clone(),
                hand_edits: s.hand_edits.len(),
                generated_lines: 0,
            },
        );
    }

    // 2. Terraform generates the configuration of the imports, with admin
    //    credentials (what applies them later); homelab-discover tidy.
    for (k, v) in &sim.env {
        wd.set_env(k.clone(), v.clone());
    }
    for (k, v) in seeded.iter().flat_map(|s| &s.terraform_env) {
        wd.set_env(k.clone(), v.clone());
    }
    let extra: String = seeded.iter().map(|s| s.extra_hcl.as_str()).collect();
    wd.write_config(&format!(
        "{REQUIRED_PROVIDERS}\nprovider \"homelab\" {{}}\n{extra}"
    ))?;
    wd.ensure_init()?;
    let (mut generated, _) = generate_tidied(&wd)?;

    // 3. The hand edits (counted).
    for s in seeded {
        for (address, line) in &s.hand_edits {
            generated = hand_edit(&generated, address, line)?;
        }
    }
    wd.write_file("generated.tf", &generated)?;
    let imported: BTreeSet<String> = seeded
        .iter()
        .flat_map(|s| s.found.iter().cloned())
        .collect();
    for s in seeded {
        if let Some(f) = figures.get_mut(s.backend) {
            f.generated_lines = lines_of(&generated, &s.found);
        }
    }

    // 4. Apply the imports: nothing but imports, then an empty plan and an
    //    empty refresh-only plan.
    import_generated(&wd, &generated, &imported)?;

    // 5. Each backend's inventory data source lists the same import IDs.
    let mut data = String::new();
    for s in seeded {
        data.push_str(&format!(
            "data \"homelab_{b}_inventory\" \"all\" {{\n  {filter}\n}}\n\
             output \"{b}_ids\" {{\n  value = sort([for o in data.homelab_{b}_inventory.all.objects : \"${{o.type}}.${{o.name}}\"])\n}}\n",
            b = s.backend,
            filter = filter_hcl(&s.args),
        ));
    }
    wd.write_file("inventory.tf", &data)?;
    wd.run(&[
        "apply",
        "-refresh-only",
        "-auto-approve",
        "-no-color",
        "-input=false",
    ])
    .context("reading the inventory data sources")?;
    let outputs = wd.outputs()?;
    for s in seeded {
        let ids: BTreeSet<String> = outputs[format!("{}_ids", s.backend)]["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        ensure!(
            ids == s.found,
            "{}: homelab_{}_inventory lists {ids:?}, discovery {:?}",
            s.backend,
            s.backend,
            s.found
        );
    }

    // 6. Nothing of this wrote to a simulator.
    require_no_writes(sim)?;

    // 7. Drift: the seeds' hand changes, fixed by one plan and apply.
    fix_drifts(sim, &wd, seeded)?;

    // 8. Destroy: nothing imported is left, every skipped object is.
    destroy_and_check(sim, &wd, seeded, &listed, &state_before)?;
    for (b, f) in &figures {
        eprintln!(
            "[adopt] {b}: {} imported, {} skipped, {} generated lines, {} hand edits",
            f.found,
            f.skipped.len(),
            f.generated_lines,
            f.hand_edits
        );
        for s in &f.skipped {
            eprintln!("[adopt]   skipped {s}");
        }
    }
    Ok(figures)
}

/// Makes every seed's drift (and adds the configuration lines they need to
/// `generated.tf`), then requires one plan (`-detailed-exitcode`:
/// 2) whose effective changes are exactly the drifted addresses with their
/// actions, applies it, checks each drifted value on the simulator, and
/// requires an empty plan.
fn fix_drifts(sim: &HomelabSim, wd: &Workdir, seeded: &[Seeded]) -> Result<()> {
    let drifts: Vec<&Drift> = seeded.iter().filter_map(|s| s.drift.as_ref()).collect();
    if drifts.is_empty() {
        return Ok(());
    }
    for d in &drifts {
        (d.check)(sim).with_context(|| {
            format!(
                "{}: before the drift the simulator does not hold the configured value",
                d.address
            )
        })?;
        (d.make)(sim).with_context(|| format!("drifting {} ({})", d.address, d.what))?;
        ensure!(
            (d.check)(sim).is_err(),
            "{}: the check still passes after the drift ({}): it checks nothing",
            d.address,
            d.what
        );
    }
    let edits: Vec<(&str, &str)> = drifts
        .iter()
        .filter_map(|d| Some((d.address.as_str(), d.config_line.as_deref()?)))
        .collect();
    if !edits.is_empty() {
        let mut generated = std::fs::read_to_string(wd.path().join("generated.tf"))?;
        for (address, line) in edits {
            generated = hand_edit(&generated, address, line)?;
        }
        wd.write_file("generated.tf", &generated)?;
    }
    let planned = wd.run_unchecked(&[
        "plan",
        "-no-color",
        "-input=false",
        "-detailed-exitcode",
        "-out",
        PLAN_FILE,
    ])?;
    ensure!(
        planned.code == Some(2),
        "after the drifts ({}) the plan exited {:?}, not 2 (changes):\n{}",
        describe(&drifts),
        planned.code,
        planned.combined()
    );
    let plan = wd.saved_plan_json()?;
    let actual: BTreeMap<String, Action> = plan.effective_changes()?.into_iter().collect();
    let expected: BTreeMap<String, Action> = drifts
        .iter()
        .map(|d| (d.address.clone(), d.action))
        .collect();
    ensure!(
        actual.len() == expected.len()
            && expected
                .iter()
                .all(|(a, want)| actual.get(a).is_some_and(|got| want.matches(*got))),
        "after the drifts ({}) the plan changes {actual:?}, not {expected:?}:\n{}",
        describe(&drifts),
        planned.stdout
    );
    for d in &drifts {
        eprintln!(
            "[adopt] drift of {} ({}): planned {}",
            d.address, d.what, actual[&d.address]
        );
    }
    wd.apply_plan().context("applying the fix of the drifts")?;
    for d in &drifts {
        (d.check)(sim).with_context(|| {
            format!(
                "{}: the apply did not put back what the configuration says ({})",
                d.address, d.what
            )
        })?;
    }
    let (empty, out) = wd.plan_is_empty(true)?;
    ensure!(
        empty,
        "the plan after fixing the drifts is not empty:\n{}",
        out.stdout
    );
    Ok(())
}

/// `address (what), ...` of the drifts, for messages.
fn describe(drifts: &[&Drift]) -> String {
    drifts
        .iter()
        .map(|d| format!("{} ({})", d.address, d.what))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whose credentials a discovery runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// Each seed's read-only ones (`Seeded::discover_env`), as adopting uses.
    ReadOnly,
    /// homelab-sim's admin ones (and `Seeded::terraform_env`), as
    /// Terraform has: what a check after the destroy reads with.
    Admin,
}

/// One `homelab-discover` run.
#[derive(Debug)]
struct DiscoveryRun {
    /// Its exit code.
    code: Option<i32>,
    /// Its standard error (the summary).
    stderr: String,
    /// The file it wrote (empty if it wrote none).
    text: String,
}

/// `homelab-discover --out <out>` in the working directory for the seeded
/// backends, each narrowed by its own filters. `out` should not end in
/// `.tf` unless Terraform is to load it.
fn discover(
    sim: &HomelabSim,
    seeded: &[Seeded],
    wd: &Workdir,
    out: &str,
    credentials: Credentials,
) -> Result<DiscoveryRun> {
    let mut cmd = Command::new(binary("terraform-provider-homelab", "homelab-discover")?);
    cmd.current_dir(wd.path()).arg("--out").arg(out);
    for (k, v) in &sim.env {
        cmd.env(k, v);
    }
    for s in seeded {
        // Each seed's filters narrow its own backend only.
        cmd.arg("--backend").arg(s.backend);
        for (key, values) in seed_filters(&s.args) {
            for v in values {
                cmd.arg("--filter").arg(format!("{}.{key}={v}", s.backend));
            }
        }
        let env = match credentials {
            Credentials::ReadOnly => &s.discover_env,
            Credentials::Admin => &s.terraform_env,
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
    }
    let path = wd.path().join(out);
    let _ = std::fs::remove_file(&path);
    let run = cmd.output().context("running homelab-discover")?;
    Ok(DiscoveryRun {
        code: run.status.code(),
        stderr: String::from_utf8_lossy(&run.stderr).into_owned(),
        text: std::fs::read_to_string(&path).unwrap_or_default(),
    })
}

/// What the discoveries under faults wrote, to compare with the real one.
#[derive(Debug, Default)]
struct Faulted {
    /// The discovery that met a 429: it must have written the real file.
    rate_limited: Option<String>,
    /// The discovery whose backend failed: that backend and the file.
    failed: Option<(&'static str, String)>,
}

impl Faulted {
    /// The 429 changed nothing; the 500 removed its backend's blocks (in
    /// favour of its failure comment) and left every other backend's as
    /// the real discovery wrote them.
    fn check_against(&self, real: &str) -> Result<()> {
        if let Some(text) = &self.rate_limited {
            ensure!(
                text == real,
                "discovery after a 429 wrote another file than without it:\n{text}\n---\n{real}"
            );
        }
        if let Some((backend, text)) = &self.failed {
            let mut with_fault = sections(text);
            let failure = with_fault.remove(&format!("{backend} (failed)"));
            ensure!(
                failure.is_some(),
                "no failure comment for {backend}:\n{text}"
            );
            let mut real = sections(real);
            ensure!(
                real.remove(*backend).is_some(),
                "the real discovery has no {backend} section"
            );
            ensure!(
                with_fault == real,
                "with {backend} failing, the other backends' import blocks changed:\n{text}"
            );
        }
        Ok(())
    }
}

/// Before the real discovery: a 429 once on the first seeded HTTP
/// backend's list route (the HTTP layer waits the `Retry-After` and goes
/// on: the same file), then a 500 on every request of the last one's (its
/// retries run out: exit 1, that backend named with what happened, in the
/// summary and as a comment in the file, the others' blocks written).
/// Nothing is written to a simulator meanwhile. Talos alone: nothing to
/// fault (gRPC).
fn discover_with_faults(sim: &HomelabSim, seeded: &[Seeded], wd: &Workdir) -> Result<Faulted> {
    let http: Vec<(&'static str, (&str, &str))> = seeded
        .iter()
        .filter_map(|s| Some((s.backend, list_route(s.backend)?)))
        .collect();
    let (Some(&(limited, (lm, lr))), Some(&(failing, (fm, fr)))) = (http.first(), http.last())
    else {
        return Ok(Faulted::default());
    };

    arm_fault(sim, limited, lm, lr, "429", 1)?;
    let run = discover(sim, seeded, wd, "imports-429.txt", Credentials::ReadOnly)?;
    let pending = pending_faults(sim, limited)?;
    control(sim, "POST", "/_sim/faults/clear", None)?;
    ensure!(
        pending == 0,
        "discovery never met the 429 armed on {limited} {lm} {lr}"
    );
    ensure!(
        run.code == Some(0),
        "a 429 (Retry-After: 1) on {limited} {lm} {lr} made discovery fail:\n{}",
        run.stderr
    );

    arm_fault(sim, failing, fm, fr, "500", 1000)?;
    let run = discover(sim, seeded, wd, "imports-500.txt", Credentials::ReadOnly)?;
    control(sim, "POST", "/_sim/faults/clear", None)?;
    ensure!(
        run.code == Some(1),
        "with {failing} {fm} {fr} answering 500, homelab-discover exited {:?}, not 1:\n{}",
        run.code,
        run.stderr
    );
    let said = Regex::new(&format!(
        r"(?mi)^{failing}: failed: .*(500|internal server error)"
    ))?;
    ensure!(
        said.is_match(&run.stderr),
        "homelab-discover did not say that {failing} failed with a 500:\n{}",
        run.stderr
    );
    let comment = Regex::new(&format!(
        r"(?mi)^# {failing}: discovery failed: .*(500|internal server error)"
    ))?;
    ensure!(
        comment.is_match(&run.text),
        "the file does not say that {failing} failed with a 500:\n{}",
        run.text
    );
    ensure!(
        !parse_imports(&run.text).contains_key(failing),
        "{failing} failed, yet the file has its section:\n{}",
        run.text
    );
    require_no_writes(sim)?;
    Ok(Faulted {
        rate_limited: Some(
            std::fs::read_to_string(wd.path().join("imports-429.txt")).unwrap_or_default(),
        ),
        failed: Some((failing, run.text)),
    })
}

/// The file's sections by backend (`"proxmox"`: its header, import blocks
/// and skipped lines; `"proxmox (failed)"`: its failure comment; `""`: the
/// preamble), blank lines dropped.
fn sections(hcl: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut key = String::new();
    for line in hcl.lines() {
        if let Some((b, tail)) = line.strip_prefix("# ").and_then(|r| r.split_once(": ")) {
            if tail.contains(" to import, ") || tail == "skipped" {
                key = b.to_string();
            } else if tail.starts_with("discovery failed: ") {
                key = format!("{b} (failed)");
            }
        }
        if !line.trim().is_empty() {
            let s = out.entry(key.clone()).or_default();
            s.push_str(line);
            s.push('\n');
        }
    }
    out
}

/// Arms a fault on homelab-sim's control port (`POST /_sim/faults`).
fn arm_fault(
    sim: &HomelabSim,
    backend: &str,
    method: &str,
    route: &str,
    fault: &str,
    times: usize,
) -> Result<()> {
    let body = serde_json::json!({
        "sim": backend, "method": method, "route": route, "fault": fault, "times": times,
    });
    control(sim, "POST", "/_sim/faults", Some(&body)).map(|_| ())
}

/// Faults armed on `backend` and not served yet (`GET /_sim/faults`).
fn pending_faults(sim: &HomelabSim, backend: &str) -> Result<u64> {
    let v: serde_json::Value = serde_json::from_str(&control(sim, "GET", "/_sim/faults", None)?)?;
    v[backend]
        .as_u64()
        .ok_or_else(|| anyhow!("GET /_sim/faults has no count for {backend}: {v}"))
}

/// What every simulator holds (`GET /_sim/state`).
fn sim_state(sim: &HomelabSim) -> Result<serde_json::Value> {
    serde_json::from_str(&control(sim, "GET", "/_sim/state", None)?).context("parsing /_sim/state")
}

/// One request to homelab-sim's control port (HTTP/1.0, JSON body); the
/// answer's body, if its status is 2xx.
fn control(
    sim: &HomelabSim,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<String> {
    use std::io::{Read as _, Write as _};
    let base = sim.env("HOMELAB_SIM_CONTROL_URL")?;
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("control URL is not http: {base}"))?
        .trim_end_matches('/');
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s =
        std::net::TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, answer) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP header end in {resp:?}"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    ensure!(status.starts_with('2'), "{method} {path}: {head}\n{answer}");
    Ok(answer.to_string())
}

/// After the adoption: `terraform destroy`, then discovery (admin
/// credentials) must list no import block of any backend but Talos, and
/// every skipped line of the adoption but those of `Seeded::gone_with_destroy`;
/// homelab-sim's state must have shrunk for each backend that imported
/// something and be untouched elsewhere.
///
/// Talos: `homelab_talos_machine_configuration_apply` without `on_destroy`
/// leaves the node configured (by design: destroying the resource must not
/// wipe a running node unless asked to), and a bootstrap cannot be undone;
/// so after the destroy the nodes are still configured, and discovery
/// lists the same imports. If that changes, this check fails.
fn destroy_and_check(
    sim: &HomelabSim,
    wd: &Workdir,
    seeded: &[Seeded],
    adopted: &BTreeMap<String, (BTreeSet<String>, Vec<String>)>,
    state_before: &serde_json::Value,
) -> Result<()> {
    wd.destroy()
        .context("terraform destroy of the adopted lab")?;
    let run = discover(sim, seeded, wd, "after-destroy.txt", Credentials::Admin)?;
    ensure!(
        run.code == Some(0),
        "homelab-discover after the destroy failed:\n{}",
        run.stderr
    );
    let after = parse_imports(&run.text);
    let state_after = sim_state(sim)?;
    for s in seeded {
        let (found_before, skipped_before) = adopted.get(s.backend).cloned().unwrap_or_default();
        let (found_after, skipped_after) = after.get(s.backend).cloned().unwrap_or_default();
        if s.backend == "talos" {
            ensure!(
                found_after == found_before,
                "talos: after the destroy discovery lists {found_after:?}, not the nodes \
                 still configured {found_before:?}"
            );
            let configured = |state: &serde_json::Value| -> BTreeSet<String> {
                state["talos"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, n)| n["configured"] == true)
                    .map(|(name, _)| name.clone())
                    .collect()
            };
            let (before, now) = (configured(state_before), configured(&state_after));
            ensure!(
                !before.is_empty() && before == now,
                "talos: nodes configured before the destroy {before:?}, after {now:?}"
            );
        } else {
            ensure!(
                found_after.is_empty(),
                "{}: the destroy left what was imported: {found_after:?}",
                s.backend
            );
        }
        let gone = s
            .gone_with_destroy
            .iter()
            .map(|re| Regex::new(re))
            .collect::<Result<Vec<_>, _>>()?;
        for re in &gone {
            ensure!(
                skipped_before.iter().any(|l| re.is_match(l)),
                "{}: no skipped line of the adoption matches /{re}/: {skipped_before:#?}",
                s.backend
            );
        }
        let kept: Vec<String> = skipped_before
            .iter()
            .filter(|l| !gone.iter().any(|re| re.is_match(l)))
            .cloned()
            .collect();
        ensure!(
            skipped_after == kept,
            "{}: after the destroy the skipped lines are {skipped_after:#?}, not {kept:#?}",
            s.backend
        );
    }
    let sims = state_before
        .as_object()
        .ok_or_else(|| anyhow!("/_sim/state is not an object"))?;
    for (key, before) in sims {
        let now = &state_after[key];
        let shrinks = key != "talos"
            && seeded
                .iter()
                .any(|s| s.backend == key && !s.found.is_empty());
        if shrinks {
            ensure!(
                now.to_string().len() < before.to_string().len(),
                "{key}: the simulator holds no less after the destroy:\n{before}\n---\n{now}"
            );
        } else {
            ensure!(
                now == before,
                "{key}: the destroy changed this simulator:\n{before}\n---\n{now}"
            );
        }
    }
    Ok(())
}

/// Terraform generates the configuration of the working directory's
/// `import` blocks into `generated.tf` (`plan -generate-config-out`), then
/// `homelab-discover tidy` tidies it, which must leave it minimal. Returns
/// the tidied configuration and the generating plan's output (its
/// warnings).
pub(super) fn generate_tidied(wd: &Workdir) -> Result<(String, String)> {
    let planned = wd
        .run(&[
            "plan",
            "-no-color",
            "-input=false",
            "-generate-config-out=generated.tf",
        ])
        .context("terraform plan -generate-config-out")?
        .combined();
    let out = Command::new(binary("terraform-provider-homelab", "homelab-discover")?)
        .current_dir(wd.path())
        .args(["tidy", "generated.tf"])
        .output()?;
    ensure!(
        out.status.success(),
        "homelab-discover tidy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = std::fs::read_to_string(wd.path().join("generated.tf"))?;
    check_minimal(&generated)?;
    Ok((generated, planned))
}

/// `generated` (the working directory's `generated.tf`) must be `terraform
/// fmt`-clean, hold exactly the resources of `imported`, and validate; its
/// apply must only import them, after which the plan and the refresh-only
/// plan must be empty.
pub(super) fn import_generated(
    wd: &Workdir,
    generated: &str,
    imported: &BTreeSet<String>,
) -> Result<()> {
    let fmt = wd.run_unchecked(&["fmt", "-check", "-diff", "-no-color", "generated.tf"])?;
    ensure!(
        fmt.success(),
        "the tidied configuration is not `terraform fmt`-clean:\n{}",
        fmt.combined()
    );
    let headers = resource_headers(generated);
    ensure!(
        &headers == imported,
        "the generated configuration's resources {headers:?} are not the imports {imported:?}"
    );
    wd.validate()
        .context("terraform validate of the generated configuration")?;
    let applied = wd.apply().context("terraform apply of the imports")?;
    let summary =
        Regex::new(r"Apply complete! Resources: (\d+) imported, 0 added, 0 changed, 0 destroyed")?;
    let caps = summary
        .captures(&applied.stdout)
        .ok_or_else(|| anyhow!("the apply did more than import:\n{}", applied.stdout))?;
    ensure!(
        caps[1].parse::<usize>()? == imported.len(),
        "imported {} of {} objects",
        &caps[1],
        imported.len()
    );
    let (empty, plan) = wd.plan_is_empty(true)?;
    ensure!(
        empty,
        "the plan after importing is not empty:\n{}",
        plan.stdout
    );
    wd.require_refresh_only_empty("after importing")
}

/// The simulators saw no write since their counters were last reset.
pub(super) fn require_no_writes(sim: &HomelabSim) -> Result<()> {
    let (writes, _) = writes(&sim.counters()?)?;
    ensure!(
        writes.is_empty(),
        "adopting wrote to the simulators: {writes:#?}"
    );
    Ok(())
}

/// Per backend (its section in the file): the import addresses and the
/// skipped lines (`what: why`).
fn parse_imports(hcl: &str) -> BTreeMap<String, (BTreeSet<String>, Vec<String>)> {
    let mut out: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    let mut backend = String::new();
    for line in hcl.lines() {
        let t = line.trim();
        if let Some((b, tail)) = t.strip_prefix("# ").and_then(|r| r.split_once(": "))
            && (tail.contains(" to import, ") || tail == "skipped")
        {
            backend = b.to_string();
            out.entry(backend.clone()).or_default();
            continue;
        }
        if let Some(addr) = t.strip_prefix("to = ") {
            out.entry(backend.clone())
                .or_default()
                .0
                .insert(addr.to_string());
        } else if let Some(skip) = t.strip_prefix("#   ") {
            out.entry(backend.clone())
                .or_default()
                .1
                .push(skip.to_string());
        }
    }
    out
}

/// The addresses of the file's `resource` blocks.
fn resource_headers(hcl: &str) -> BTreeSet<String> {
    hcl.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("resource \"")?;
            let (ty, rest) = rest.split_once("\" \"")?;
            let (name, _) = rest.split_once('"')?;
            Some(format!("{ty}.{name}"))
        })
        .collect()
}

/// Minimal: no `= null` left (tidy drops them), no sensitive placeholder
/// left (tidy turns them into TODO comments).
fn check_minimal(hcl: &str) -> Result<()> {
    for line in hcl.lines() {
        let t = line.trim();
        ensure!(
            !t.ends_with("= null") && !t.contains("# sensitive"),
            "the tidied configuration still has {t:?}:\n{hcl}"
        );
    }
    Ok(())
}

/// `line` added as the first line inside `address`'s resource block.
fn hand_edit(hcl: &str, address: &str, line: &str) -> Result<String> {
    let (ty, name) = address
        .split_once('.')
        .ok_or_else(|| anyhow!("not an address: {address}"))?;
    let header = format!("resource \"{ty}\" \"{name}\" {{\n");
    let at = hcl
        .find(&header)
        .ok_or_else(|| anyhow!("no resource {address} in the generated configuration"))?
        + header.len();
    Ok(format!("{}  {line}\n{}", &hcl[..at], &hcl[at..]))
}

/// Lines of the resource blocks of `addresses` in `hcl`.
fn lines_of(hcl: &str, addresses: &BTreeSet<String>) -> usize {
    let mut n = 0;
    let mut inside = false;
    for line in hcl.lines() {
        if let Some(addr) = resource_headers(line).into_iter().next() {
            inside = addresses.contains(&addr);
        }
        if inside {
            n += 1;
        }
        if line == "}" {
            inside = false;
        }
    }
    n
}

/// `homelab-discover` filter arguments (`--zone x`, `--filter list=y`) as
/// key to values.
fn seed_filters(args: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut filter: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, value) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), it.next().cloned()),
        };
        let Some(value) = value else { continue };
        let (key, value) = if flag == "--filter" {
            match value.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => continue,
            }
        } else {
            (flag.trim_start_matches("--").to_string(), value)
        };
        filter.entry(key).or_default().push(value);
    }
    filter
}

/// The inventory data source's `filter` for `homelab-discover` filter arguments.
fn filter_hcl(args: &[String]) -> String {
    let filter = seed_filters(args);
    if filter.is_empty() {
        return String::new();
    }
    let body: Vec<String> = filter
        .iter()
        .map(|(k, vs)| {
            let vs: Vec<String> = vs.iter().map(|v| format!("{v:?}")).collect();
            format!("{k} = [{}]", vs.join(", "))
        })
        .collect();
    format!("filter = {{ {} }}", body.join(", "))
}

/// The whole lab at once: every backend seeded by hand, one discovery, one
/// generated file, one import.
#[test]
fn adopts_a_whole_hand_built_lab() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = vec![
        proxmox::seed(&sim)?,
        talos::seed(&sim)?,
        technitium::seed(&sim)?,
        cloudflare::seed(&sim)?,
        routeros::seed(&sim)?,
        pfsense::seed(&sim)?,
        kubernetes::seed(&sim)?,
    ];
    let figures = adopt(&sim, &seeded)?;
    ensure!(figures.len() == 7, "figures of {} backends", figures.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_files_are_read_per_backend() {
        let hcl = "# technitium: 1 to import, 1 skipped\n\n# zone\nimport {\n  to = homelab_technitium_zone.a\n  id = \"a\"\n}\n\n# technitium: skipped\n#   SOA record of a: made with the zone\n";
        let m = parse_imports(hcl);
        assert!(m["technitium"].0.contains("homelab_technitium_zone.a"));
        assert_eq!(m["technitium"].1, ["SOA record of a: made with the zone"]);
        assert_eq!(
            filter_hcl(&["--zone".into(), "a.b".into(), "--filter=node=x".into()]),
            "filter = { node = [\"x\"], zone = [\"a.b\"] }"
        );
        let real = format!(
            "# Written\n{hcl}\n# cloudflare: 1 to import, 0 skipped\nimport {{\n  to = homelab_cloudflare_dns_record.a\n  id = \"z/r\"\n}}\n"
        );
        let failed = "# Written\n\n# cloudflare: 1 to import, 0 skipped\nimport {\n  to = homelab_cloudflare_dns_record.a\n  id = \"z/r\"\n}\n\n# technitium: discovery failed: HTTP 500\n";
        let parts = sections(failed);
        assert_eq!(
            parts.keys().collect::<Vec<_>>(),
            ["", "cloudflare", "technitium (failed)"]
        );
        assert!(sections(&real)["technitium"].contains("#   SOA record of a"));
        let ok = Faulted {
            rate_limited: Some(real.clone()),
            failed: Some(("technitium", failed.to_string())),
        };
        ok.check_against(&real).unwrap();
        let changed = Faulted {
            rate_limited: None,
            failed: Some(("technitium", failed.replace("z/r", "z/q"))),
        };
        assert!(changed.check_against(&real).is_err());
        let silent = Faulted {
            rate_limited: None,
            failed: Some(("technitium", failed.replace("discovery failed", "?"))),
        };
        assert!(silent.check_against(&real).is_err());
        assert!(
            hand_edit("resource \"t\" \"n\" {\n  a = 1\n}\n", "t.n", "b = 2")
                .unwrap()
                .contains("{\n  b = 2\n  a = 1")
        );
    }
}

//! The bad-input suite's machinery (`bad_input.rs` holds the tables): one
//! configuration per backend with one block per case, `terraform validate
//! -json` (and `plan -json` for the cases only a plan can find), each
//! diagnostic attributed to its case by the line it points at, the
//! provider's log scanned for panics, and homelab-sim's request counters
//! read after each command.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use labforge_acceptance_tests::{Provider, Workdir, hcl_string};
use serde_json::Value;

use crate::support::lab_ci::HomelabSim;

/// When a case must be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// At `terraform validate`: no request at all.
    Validate,
    /// At `terraform plan` (the value is only wrong against what the
    /// backend holds, e.g. a node that does not exist): reads allowed.
    Plan,
}

/// One invalid value.
#[derive(Clone, Debug)]
pub struct Case {
    /// `resource` or `data`.
    pub mode: &'static str,
    /// The resource or data source type, e.g. `homelab_proxmox_vm`.
    pub rtype: &'static str,
    /// The block's valid arguments, one per line (`key = value`).
    pub base: &'static str,
    /// The invalid argument: `key = value` (it replaces the base line
    /// with the same key), possibly several lines (a nested block).
    pub bad: String,
    /// What the attribute kind is (address, CIDR, port, ...), for the report.
    pub kind: &'static str,
    /// The attribute's path as the provider prints it (`name`,
    /// `rules[0].type`, `disk["scsi0"].size`): the diagnostic's detail
    /// must contain `<path>: ` (a plan-stage error from the backend may
    /// instead name the value it could not find).
    pub path: &'static str,
    /// A regex (case-insensitive) over summary and detail: what is allowed.
    pub allowed: &'static str,
    /// When it must be refused.
    pub stage: Stage,
}

/// A validate-stage case.
pub fn case(
    rtype: &'static str,
    base: &'static str,
    kind: &'static str,
    bad: impl Into<String>,
    path: &'static str,
    allowed: &'static str,
) -> Case {
    Case {
        mode: "resource",
        rtype,
        base,
        bad: bad.into(),
        kind,
        path,
        allowed,
        stage: Stage::Validate,
    }
}

impl Case {
    /// The same case on a data source.
    pub fn data(mut self) -> Case {
        self.mode = "data";
        self
    }

    /// The same case, refused at plan.
    pub fn at_plan(mut self) -> Case {
        self.stage = Stage::Plan;
        self
    }

    fn bad_key(&self) -> &str {
        self.bad
            .split(['=', '{', ' '])
            .next()
            .unwrap_or_default()
            .trim()
    }

    /// The bad argument's value as written, unquoted (`"pve9"` -> `pve9`).
    fn bad_value(&self) -> &str {
        self.bad
            .split_once('=')
            .map(|(_, v)| v.trim().trim_matches('"'))
            .unwrap_or_default()
    }

    fn address(&self, i: usize) -> String {
        match self.mode {
            "data" => format!("data.{}.c{i}", self.rtype),
            _ => format!("{}.c{i}", self.rtype),
        }
    }
}

/// Where each case's block sits in `cases.tf` (first and last line).
/// Terraform points a diagnostic at the attribute when its path names a
/// top-level argument, and at the whole block when the path goes inside
/// an argument's value (`rules[0].type`): so a diagnostic belongs to the
/// case whose block holds its first line, and the path is read from the
/// detail, which the provider starts with `<path>: `.
struct Placed {
    first: u64,
    last: u64,
}

/// `cases.tf` for `cases`: one block per case, named `c<i>`.
fn render(cases: &[(usize, &Case)]) -> (String, Vec<Placed>) {
    let mut text = String::new();
    let mut placed = Vec::new();
    let mut line = 1u64;
    let push = |text: &mut String, line: &mut u64, s: &str| {
        text.push_str(s);
        text.push('\n');
        *line += 1 + s.matches('\n').count() as u64;
    };
    for (i, c) in cases {
        let first = line;
        push(
            &mut text,
            &mut line,
            &format!("{} \"{}\" \"c{i}\" {{", c.mode, c.rtype),
        );
        let key = c.bad_key().to_string();
        for l in c.base.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let k = l.split(['=', '{', ' ']).next().unwrap_or_default().trim();
            if k != key {
                push(&mut text, &mut line, &format!("  {l}"));
            }
        }
        push(&mut text, &mut line, &format!("  {}", c.bad));
        push(&mut text, &mut line, "}\n");
        placed.push(Placed {
            first,
            last: line - 1,
        });
    }
    (text, placed)
}

/// The provider block for every backend of homelab-sim (MetalLB's
/// connection comes from KUBE_HOST / KUBE_CLUSTER_CA_CERT_DATA / KUBE_TOKEN).
pub fn provider_block(sim: &HomelabSim) -> Result<String> {
    let v = |k: &str| -> Result<String> {
        sim.tfvars
            .get(k)
            .and_then(Value::as_str)
            .map(hcl_string)
            .ok_or_else(|| anyhow!("homelab-sim's tfvars have no {k}"))
    };
    Ok(format!(
        r#"{req}

provider "homelab" {{
  technitium {{
    url   = {turl}
    token = {ttok}
  }}
  cloudflare {{
    api_token = {cftok}
    base_url  = {cfurl}
  }}
  proxmox {{
    endpoint  = {pve}
    api_token = {pvetok}
  }}
  routeros {{
    url            = {rurl}
    username       = {ruser}
    password       = {rpass}
    ca_certificate = {rca}
  }}
  pfsense {{
    url      = {furl}
    username = {fuser}
    password = {fpass}
  }}
}}
"#,
        req = crate::support::REQUIRED_PROVIDERS,
        turl = v("technitium_url")?,
        ttok = v("technitium_token")?,
        cftok = v("cloudflare_api_token")?,
        cfurl = v("cloudflare_base_url")?,
        pve = v("proxmox_endpoint")?,
        pvetok = v("proxmox_api_token")?,
        rurl = v("routeros_url")?,
        ruser = v("routeros_username")?,
        rpass = v("routeros_password")?,
        rca = v("routeros_ca_certificate")?,
        furl = v("pfsense_url")?,
        fuser = v("pfsense_username")?,
        fpass = v("pfsense_password")?,
    ))
}

/// Requests per `simulator method route` in homelab-sim's counters.
pub fn requests(counters: &Value) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let sims = counters
        .as_object()
        .ok_or_else(|| anyhow!("counters are not an object: {counters}"))?;
    for (sim, rows) in sims {
        for row in rows.as_array().into_iter().flatten() {
            let count = row["count"].as_u64().unwrap_or(0);
            if count > 0 {
                let key = format!(
                    "{sim} {} {}",
                    row["method"].as_str().unwrap_or("?"),
                    row["route"].as_str().unwrap_or("?")
                );
                *out.entry(key).or_default() += count;
            }
        }
    }
    Ok(out)
}

/// An error diagnostic of `validate -json` or `plan -json`.
#[derive(Debug)]
struct Diag {
    summary: String,
    detail: String,
    line: Option<u64>,
    file: String,
}

fn diag_of(d: &Value) -> Option<Diag> {
    if d["severity"].as_str() != Some("error") {
        return None;
    }
    Some(Diag {
        summary: d["summary"].as_str().unwrap_or_default().to_string(),
        detail: d["detail"].as_str().unwrap_or_default().to_string(),
        line: d["range"]["start"]["line"].as_u64(),
        file: d["range"]["filename"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// What one backend's run found.
pub struct Report {
    /// Cases tried (validate + plan).
    pub tried: usize,
    /// Of which refused at plan.
    pub at_plan: usize,
    /// Requests counted during the plan stage, per simulator route.
    pub plan_reads: BTreeMap<String, u64>,
}

/// Runs `cases` (all of one backend) against a fresh homelab-sim: the
/// validate-stage cases in one configuration (`validate -json`: zero
/// requests), the plan-stage ones in another (`plan -json`: only requests
/// whose `simulator METHOD route` is in `allowed_reads`). Every case must
/// get an error diagnostic pointing into its bad argument, naming its path
/// and saying what is allowed; no other error may appear; the provider's
/// log must hold no panic. `extra` is HCL the cases may refer to (valid,
/// written to `extra.tf`).
pub fn run(backend: &str, extra: &str, cases: &[Case], allowed_reads: &[&str]) -> Result<Report> {
    let sim = HomelabSim::start()?;
    let mut wd = Workdir::new(&Provider::homelab())?;
    let log = wd.path().join("provider.log");
    wd.set_env("TF_LOG", "debug");
    wd.set_env("TF_LOG_PATH", log.display().to_string());
    wd.set_env("KUBE_HOST", sim.env("KUBE_HOST")?);
    wd.set_env(
        "KUBE_CLUSTER_CA_CERT_DATA",
        sim.env("KUBE_CLUSTER_CA_CERT_DATA")?,
    );
    wd.set_env("KUBE_TOKEN", sim.env("KUBE_TOKEN")?);
    wd.write_file("providers.tf", &provider_block(&sim)?)?;
    wd.write_file("extra.tf", extra)?;
    let mut failures = Vec::new();
    let mut plan_reads = BTreeMap::new();
    for stage in [Stage::Validate, Stage::Plan] {
        let chosen: Vec<(usize, &Case)> = cases
            .iter()
            .enumerate()
            .filter(|(_, c)| c.stage == stage)
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let (text, placed) = render(&chosen);
        wd.write_file("cases.tf", &text)?;
        if !wd.is_initialized() {
            wd.init()?;
        }
        sim.reset_counters()?;
        let (diags, raw) = match stage {
            Stage::Validate => {
                let out = wd.run_unchecked(&["validate", "-json", "-no-color"])?;
                let v: Value = serde_json::from_str(&out.stdout)
                    .with_context(|| format!("validate -json:\n{}", out.combined()))?;
                let diags: Vec<Diag> = v["diagnostics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(diag_of)
                    .collect();
                (diags, out.combined())
            }
            Stage::Plan => {
                let out = wd.run_unchecked(&["plan", "-json", "-no-color", "-input=false"])?;
                let diags: Vec<Diag> = out
                    .stdout
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|m| m["type"].as_str() == Some("diagnostic"))
                    .filter_map(|m| diag_of(&m["diagnostic"]))
                    .collect();
                (diags, out.combined())
            }
        };
        let seen = requests(&sim.counters()?)?;
        match stage {
            Stage::Validate => {
                if !seen.is_empty() {
                    failures.push(format!("validate sent requests: {seen:?}"));
                }
            }
            Stage::Plan => {
                for (k, n) in &seen {
                    if !allowed_reads.iter().any(|a| k == a) {
                        failures.push(format!("plan sent {n} × {k}, not an allowed read"));
                    }
                }
                plan_reads = seen;
            }
        }
        let mut used = vec![false; diags.len()];
        for ((i, c), p) in chosen.iter().zip(&placed) {
            let mine: Vec<usize> = diags
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    d.file == "cases.tf" && d.line.is_some_and(|l| l >= p.first && l <= p.last)
                })
                .map(|(j, _)| j)
                .collect();
            for &j in &mine {
                used[j] = true;
            }
            let re = regex::RegexBuilder::new(c.allowed)
                .case_insensitive(true)
                .build()?;
            let ok = mine.iter().any(|&j| {
                let d = &diags[j];
                let text = format!("{}\n{}", d.summary, d.detail);
                re.is_match(&text)
                    && (d.detail.contains(&format!("{}: ", c.path))
                        || (c.stage == Stage::Plan && d.detail.contains(c.bad_value())))
            });
            if !ok {
                let got: Vec<String> = mine
                    .iter()
                    .map(|&j| format!("{:?}: {:?}", diags[j].summary, diags[j].detail))
                    .collect();
                failures.push(format!(
                    "{} ({}, {:?}) `{}`: expected an error in its block (lines {}-{}) naming {:?} and matching /{}/; got {}",
                    c.address(*i),
                    c.kind,
                    c.stage,
                    c.bad,
                    p.first,
                    p.last,
                    c.path,
                    c.allowed,
                    if got.is_empty() {
                        "none".to_string()
                    } else {
                        got.join(" | ")
                    }
                ));
            }
        }
        for (j, d) in diags.iter().enumerate() {
            if !used[j] {
                failures.push(format!(
                    "unattributed error ({:?} stage) at {}:{:?}: {}: {}",
                    stage, d.file, d.line, d.summary, d.detail
                ));
            }
        }
        if diags.is_empty() {
            failures.push(format!("{stage:?} produced no error at all:\n{raw}"));
        }
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    ensure!(!log_text.is_empty(), "no provider log at {}", log.display());
    for needle in [
        "panicked at",
        "plugin exited before",
        "Plugin did not respond",
        "stack backtrace",
    ] {
        if log_text.contains(needle) {
            failures.push(format!("the provider log contains {needle:?}"));
        }
    }
    let at_plan = cases.iter().filter(|c| c.stage == Stage::Plan).count();
    eprintln!(
        "[bad-input] {backend}: {} cases ({} at validate, {at_plan} at plan), {} failures; plan reads: {plan_reads:?}",
        cases.len(),
        cases.len() - at_plan,
        failures.len()
    );
    if !failures.is_empty() {
        let mut msg = String::new();
        for f in &failures {
            let _ = writeln!(msg, "- {f}");
        }
        bail!(
            "{backend}: {} of the bad-input checks failed:\n{msg}",
            failures.len()
        );
    }
    Ok(Report {
        tried: cases.len(),
        at_plan,
        plan_reads,
    })
}

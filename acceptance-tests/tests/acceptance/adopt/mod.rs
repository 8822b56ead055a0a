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

mod cloudflare;
mod generated;
mod kubernetes;
mod pfsense;
mod proxmox;
mod routeros;
mod talos;
mod technitium;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context as _, Result, anyhow, ensure};
use labforge_acceptance_tests::harness::binary::binary;
use labforge_acceptance_tests::{Provider, Workdir};
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
    sim.reset_counters()?;

    // 1. Discovery, with each backend's read-only credentials.
    let mut wd = Workdir::new(&Provider::homelab())?;
    let mut cmd = Command::new(binary("terraform-provider-homelab", "homelab-discover")?);
    cmd.current_dir(wd.path()).arg("--out").arg("imports.tf");
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
        for (k, v) in &s.discover_env {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().context("running homelab-discover")?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(out.status.success(), "homelab-discover failed:\n{stderr}");
    let imports = std::fs::read_to_string(wd.path().join("imports.tf"))?;
    let listed = parse_imports(&imports);

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
        assert!(
            hand_edit("resource \"t\" \"n\" {\n  a = 1\n}\n", "t.n", "b = 2")
                .unwrap()
                .contains("{\n  b = 2\n  a = 1")
        );
    }
}

//! `homelab-discover`: what already runs in a lab, as `import` blocks, and
//! the tidying of the configuration Terraform generates for them.
//!
//! ```text
//! homelab-discover [--backend B]... [--node N]... [--zone Z]... [--chain C]...
//!                  [--interface I]... [--namespace NS]... [--filter KEY=VALUE]...
//!                  [--config provider.json] [--out imports.tf]
//! homelab-discover tidy FILE...
//! ```
//!
//! The backends are configured exactly as the provider configures them:
//! from the provider block (`--config`: the `provider "homelab"` block in
//! Terraform's JSON syntax, or just its body) and the same environment
//! variables. Discovery only reads: read-only credentials suffice. The
//! listing itself is each backend's `Backend::discover`; see
//! `labforge_framework::discover`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use labforge_framework::discover::{self, Filter, Inventory};
use labforge_framework::{Env, Provider as _, Schema, Value};

use crate::{Homelab, backends};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// List what exists and write import blocks.
    Discover(Options),
    /// Tidy generated configuration files in place.
    Tidy(Vec<PathBuf>),
    /// Print the usage.
    Help,
}

/// Options of a discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Only these backends (provider block names); empty: every configured one.
    pub backends: Vec<String>,
    /// Filter keys to allowed values.
    pub filter: BTreeMap<String, Vec<String>>,
    /// The provider block as JSON.
    pub config: Option<PathBuf>,
    /// Where the import blocks go; `None`: standard output.
    pub out: Option<PathBuf>,
}

/// The usage text.
pub const USAGE: &str = "\
homelab-discover: list what already runs in your lab and write import blocks for it.

Usage:
  homelab-discover [OPTIONS]          write import blocks (to --out, or standard output)
  homelab-discover tidy FILE...       tidy what `terraform plan -generate-config-out` wrote

Options:
  --backend NAME        only this backend (repeatable): proxmox, talos, technitium,
                        cloudflare, routeros, pfsense, kubernetes
  --node NAME           Proxmox node / Talos node address to probe (repeatable)
  --zone NAME           Technitium or Cloudflare zone (repeatable)
  --chain NAME          RouterOS firewall chain (repeatable)
  --interface NAME      pfSense interface (repeatable)
  --namespace NAME      Kubernetes namespace of the MetalLB objects (repeatable)
  --filter KEY=VALUE    any filter key a backend documents (repeatable); BACKEND.KEY=VALUE
                        narrows that backend only (e.g. --filter routeros.list=mgmt)
  --config FILE         the provider block as JSON (Terraform JSON syntax, or the block's body);
                        without it, the same environment variables as the provider block
  --out FILE            write the import blocks to FILE
  -h, --help            this text

Then: terraform plan -generate-config-out=generated.tf
      homelab-discover tidy generated.tf
      terraform apply   (imports only), terraform plan (no changes)";

/// Parse the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    if args.first().map(String::as_str) == Some("tidy") {
        let files: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
        if files.is_empty() {
            return Err(
                "tidy: name the generated file(s), e.g. `homelab-discover tidy generated.tf`"
                    .into(),
            );
        }
        return Ok(Command::Tidy(files));
    }
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Ok(Command::Help);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--backend" => o.backends.push(value()?),
            "--node" | "--zone" | "--chain" | "--interface" | "--namespace" => {
                let key = flag.trim_start_matches("--").to_string();
                o.filter.entry(key).or_default().push(value()?);
            }
            "--filter" => {
                let v = value()?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--filter takes KEY=VALUE, got {v:?}"))?;
                o.filter
                    .entry(k.to_string())
                    .or_default()
                    .push(val.to_string());
            }
            "--config" => o.config = Some(PathBuf::from(value()?)),
            "--out" => o.out = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let known = backends().discovering();
    for b in &o.backends {
        if !known.iter().any(|(name, _)| name == b) {
            let names: Vec<_> = known.iter().map(|(n, _)| *n).collect();
            return Err(format!("--backend {b:?}: not one of {}", names.join(", ")));
        }
    }
    for key in o.filter.keys() {
        let (scope, plain) = match key.split_once('.') {
            Some((b, k)) => (Some(b), k),
            None => (None, key.as_str()),
        };
        let used_by = known.iter().any(|(name, keys)| {
            scope.is_none_or(|b| b == *name)
                && (o.backends.is_empty() || o.backends.iter().any(|b| b == name))
                && keys.iter().any(|(k, _)| *k == plain)
        });
        if !used_by {
            return Err(format!(
                "no backend{} filters by {key:?}",
                if o.backends.is_empty() { "" } else { " chosen" }
            ));
        }
    }
    Ok(Command::Discover(o))
}

/// The provider block as a value of the provider schema's type, from
/// `--config` JSON: `{"provider": {"homelab": {...}}}` (Terraform's JSON
/// syntax, also as a one-element list) or the block's body itself.
pub fn provider_config(json: Option<&str>) -> Result<Value, String> {
    let Some(json) = json else {
        return Ok(Value::Null);
    };
    let doc: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("--config: not JSON: {e}"))?;
    let mut body = doc.pointer("/provider/homelab").cloned().unwrap_or(doc);
    if let serde_json::Value::Array(items) = &body {
        body = items.first().cloned().unwrap_or(serde_json::Value::Null);
    }
    let schema = Homelab.schema();
    unknown_keys(&body, &schema, "")?;
    let ty = schema.value_type();
    let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    labforge_cty::json::decode(&bytes, &ty)
        .map_err(|e| format!("--config: not a homelab provider block: {e}"))
}

/// Refuse a key the schema does not have (a typo would else be ignored).
fn unknown_keys(json: &serde_json::Value, schema: &Schema, at: &str) -> Result<(), String> {
    let serde_json::Value::Object(map) = json else {
        return Ok(());
    };
    for (key, value) in map {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        if let Some(block) = schema.blocks.get(key) {
            let inner = match value {
                serde_json::Value::Array(items) => {
                    items.first().unwrap_or(&serde_json::Value::Null)
                }
                v => v,
            };
            unknown_keys(inner, &block.schema, &path)?;
        } else if !schema.attributes.contains_key(key) {
            return Err(format!("--config: the provider block has no {path:?}"));
        }
    }
    Ok(())
}

/// Run a discovery: the import blocks, and a summary per backend for
/// standard error. `Err` when no backend is configured; a backend that
/// fails is reported in the summary and the file, the others go on.
pub async fn run(
    o: &Options,
    env: &Env,
    config: &Value,
) -> Result<(String, Vec<String>, bool), String> {
    let backends = backends();
    let clients = backends
        .configure(config, env)
        .map_err(|e| format!("cannot configure the provider: {e}"))?;
    let filter = o
        .filter
        .iter()
        .fold(Filter::all(), |f, (k, v)| f.with(k, v.iter().cloned()));
    let results = backends.discover(&clients, &filter, &o.backends).await;
    let names: Vec<&str> = backends.discovering().iter().map(|(n, _)| *n).collect();
    if results.is_empty() {
        let among = if o.backends.is_empty() {
            names.join(", ")
        } else {
            o.backends.join(", ")
        };
        return Err(format!(
            "no backend is configured: set the environment variables of the provider block \
             (or --config) for at least one of {among}"
        ));
    }
    // Backends asked for by name but not configured fail; the others that
    // are not configured are only mentioned.
    let unconfigured: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !results.iter().any(|(b, _)| b == n))
        .filter(|n| o.backends.is_empty() || o.backends.iter().any(|b| b == n))
        .collect();
    let mut ok: Vec<(&str, Inventory)> = Vec::new();
    let mut summary = Vec::new();
    let mut failed = false;
    let mut failures = String::new();
    for (backend, result) in results {
        match result {
            Ok(inv) => {
                summary.push(format!(
                    "{backend}: {} to import, {} skipped",
                    inv.found.len(),
                    inv.skipped.len()
                ));
                for s in &inv.skipped {
                    summary.push(format!("  skipped {}: {}", s.what, s.why));
                }
                ok.push((backend, inv));
            }
            Err(e) => {
                failed = true;
                summary.push(format!("{backend}: failed: {e}"));
                failures.push_str(&format!(
                    "\n# {backend}: discovery failed: {}\n",
                    one_line(&e.to_string())
                ));
            }
        }
    }
    for b in unconfigured {
        if o.backends.is_empty() {
            summary.push(format!("{b}: not configured, not listed"));
        } else {
            failed = true;
            summary.push(format!(
                "{b}: not configured: set its provider block (--config) or its environment variables"
            ));
            failures.push_str(&format!("\n# {b}: not configured, not listed\n"));
        }
    }
    let refs: Vec<(&str, &Inventory)> = ok.iter().map(|(b, i)| (*b, i)).collect();
    let mut hcl = discover::imports_hcl(Homelab::NAME, &refs);
    hcl.push_str(&failures);
    Ok((hcl, summary, failed))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Tidy one generated file's text with the provider's resource schemas.
pub fn tidy(text: &str) -> discover::tidy::Tidied {
    let registry = Homelab.resources();
    let schemas: BTreeMap<String, Schema> = registry
        .resource_schemas()
        .map(|(name, schema, _)| (format!("{}_{name}", Homelab::NAME), schema.clone()))
        .collect();
    discover::tidy::tidy(text, |ty| schemas.get(ty))
}

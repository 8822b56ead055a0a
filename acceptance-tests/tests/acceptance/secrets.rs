//! Secrets stay out of logs and command output.
//!
//! Runs init, apply, plan, show and destroy with `TF_LOG=trace` into a log
//! file against the Technitium, Cloudflare and Proxmox simulators, with every
//! kind of secret the provider handles (API tokens from the configuration and
//! from the environment, a cloud-init password), then checks that no secret
//! appears in the trace log, in any command's stdout or stderr, or in
//! `show -json` outside the values it marks sensitive (state holds sensitive
//! attributes by design; `show -json` prints them, marked).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use labforge_acceptance_tests::harness::workdir::PLAN_FILE;
use labforge_acceptance_tests::{CmdOutput, Provider, Workdir};
use labforge_simulators::cloudflare::{CloudflareSim, EDIT_TOKEN, ZONE_EXAMPLE_COM};
use labforge_simulators::proxmox::{self, AgentMode, ProxmoxSim, SEED_TEMPLATE};
use labforge_simulators::technitium::{self, TechnitiumSim};
use serde_json::Value;

use crate::support::REQUIRED_PROVIDERS;

const LOG_FILE: &str = "trace.log";
const VM_PASSWORD: &str = "cloudinit-Pa55word-7d1f0c";

/// What a secret is, and its value.
type Secret = (&'static str, &'static str);

/// The secrets of the working run.
fn secrets() -> Vec<Secret> {
    vec![
        ("Technitium token", technitium::ADMIN_TOKEN),
        ("Cloudflare token", EDIT_TOKEN),
        ("Proxmox token secret", proxmox::ADMIN_TOKEN_SECRET),
        ("cloud-init password", VM_PASSWORD),
    ]
}

struct Lab {
    technitium: TechnitiumSim,
    cloudflare: CloudflareSim,
    proxmox: ProxmoxSim,
}

impl Lab {
    fn start() -> Lab {
        let proxmox = ProxmoxSim::start().unwrap();
        proxmox.set_time_factor(0.1);
        proxmox.set_agent_mode(AgentMode::Running);
        Lab {
            technitium: TechnitiumSim::start().unwrap(),
            cloudflare: CloudflareSim::start().unwrap(),
            proxmox,
        }
    }

    /// The root module: required_providers, the provider block with the
    /// given authentication lines per backend, and `body`.
    fn hcl(
        &self,
        technitium_auth: &str,
        cloudflare_token: &str,
        proxmox_auth: &str,
        body: &str,
    ) -> String {
        format!(
            r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  technitium {{
    url = "{technitium}"
    {technitium_auth}
  }}
  cloudflare {{
    api_token           = "{cloudflare_token}"
    base_url            = "{cloudflare}"
    requests_per_second = 100
    max_retries         = 0
  }}
  proxmox {{
    endpoint = "{proxmox}"
    {proxmox_auth}
  }}
}}

{body}"#,
            technitium = self.technitium.base_url(),
            cloudflare = self.cloudflare.base_url(),
            proxmox = self.proxmox.base_url(),
        )
    }

    /// Technitium's token comes from `TECHNITIUM_TOKEN` (set by the test), the
    /// other two from the configuration.
    fn config(&self) -> String {
        let token_id = proxmox::ADMIN_TOKEN.strip_prefix("PVEAPIToken=").unwrap();
        let body = format!(
            r#"resource "homelab_technitium_zone" "lab" {{
  name = "secrets.test"
}}

resource "homelab_technitium_dns_record" "www" {{
  zone  = homelab_technitium_zone.lab.name
  name  = "www"
  type  = "A"
  value = "10.0.0.1"
}}

resource "homelab_cloudflare_dns_record" "www" {{
  zone_id = "{zone}"
  name    = "secrets"
  type    = "A"
  content = "192.0.2.10"
}}

resource "homelab_proxmox_vm" "app" {{
  node = "pve1"
  name = "app"
  clone {{
    vm_id = {SEED_TEMPLATE}
  }}
  disk = {{
    scsi0 = {{ storage = "local-lvm", size = 8 }}
  }}
  network = {{ net0 = {{ bridge = "vmbr0" }} }}
  initialization {{
    user     = "ops"
    password = "{VM_PASSWORD}"
    ip_config = {{ net0 = {{ ipv4_address = "dhcp" }} }}
  }}
}}
"#,
            zone = ZONE_EXAMPLE_COM,
        );
        self.hcl(
            "",
            EDIT_TOKEN,
            &format!("api_token = \"{token_id}\""),
            &body,
        )
    }
}

/// Fails naming every secret found in `text`, with the lines holding them.
fn assert_no_secret(secrets: &[Secret], what: &str, text: &str) -> Result<()> {
    let found: Vec<&str> = secrets
        .iter()
        .filter(|(_, value)| text.contains(value))
        .map(|(name, _)| *name)
        .collect();
    if !found.is_empty() {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| secrets.iter().any(|(_, v)| l.contains(v)))
            .take(5)
            .collect();
        bail!("{what} leaks {}:\n{}", found.join(", "), lines.join("\n"));
    }
    Ok(())
}

/// Neither stdout nor stderr of `out` holds a secret.
fn assert_output_clean(secrets: &[Secret], out: &CmdOutput) -> Result<()> {
    assert_no_secret(
        secrets,
        &format!("stdout of `{}`", out.command),
        &out.stdout,
    )?;
    assert_no_secret(
        secrets,
        &format!("stderr of `{}`", out.command),
        &out.stderr,
    )
}

/// Replaces the parts of `value` that `sensitive` marks (`true`) with null.
fn redact(value: &mut Value, sensitive: &Value) {
    match (value, sensitive) {
        (value, Value::Bool(true)) => *value = Value::Null,
        (Value::Object(values), Value::Object(marks)) => {
            for (key, mark) in marks {
                if let Some(v) = values.get_mut(key) {
                    redact(v, mark);
                }
            }
        }
        (Value::Array(values), Value::Array(marks)) => {
            for (v, mark) in values.iter_mut().zip(marks) {
                redact(v, mark);
            }
        }
        _ => {}
    }
}

/// Redacts, everywhere in a `show -json` document, what it marks sensitive:
/// `values` by `sensitive_values`, `before`/`after` by
/// `before_sensitive`/`after_sensitive`, sensitive outputs' `value`.
fn redact_show_json(doc: &mut Value) {
    match doc {
        Value::Object(map) => {
            for (key, marks) in [
                ("values", "sensitive_values"),
                ("before", "before_sensitive"),
                ("after", "after_sensitive"),
            ] {
                if let Some(marks) = map.get(marks).cloned()
                    && let Some(v) = map.get_mut(key)
                {
                    redact(v, &marks);
                }
            }
            if map.get("sensitive") == Some(&Value::Bool(true))
                && let Some(v) = map.get_mut("value")
            {
                *v = Value::Null;
            }
            map.values_mut().for_each(redact_show_json);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_show_json),
        _ => {}
    }
}

/// `show -json` output: only the values it marks sensitive may hold secrets.
fn assert_show_json_clean(secrets: &[Secret], out: &CmdOutput) -> Result<()> {
    assert_no_secret(
        secrets,
        &format!("stderr of `{}`", out.command),
        &out.stderr,
    )?;
    let mut doc: Value = serde_json::from_str(&out.stdout)
        .with_context(|| format!("parsing the output of `{}`", out.command))?;
    redact_show_json(&mut doc);
    // `configuration` echoes the literals of the `.tf` source (here the
    // tokens and the password written in main.tf): that is Terraform's doing
    // and the user's text, not something the provider produced.
    if let Some(map) = doc.as_object_mut() {
        map.remove("configuration");
    }
    assert_no_secret(
        secrets,
        &format!("`{}` outside its sensitive values", out.command),
        &doc.to_string(),
    )
}

/// A working dir logging at trace level into `LOG_FILE`.
fn traced_workdir() -> (Workdir, PathBuf) {
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    let log = wd.path().join(LOG_FILE);
    wd.set_env("TF_LOG", "trace");
    wd.set_env("TF_LOG_PATH", log.to_string_lossy());
    (wd, log)
}

/// The trace log, which must hold the provider's own lines (`wanted`), so
/// that a check of it cannot pass for want of content.
fn read_log(log: &Path, wanted: &[&str]) -> String {
    let text = std::fs::read_to_string(log)
        .with_context(|| format!("reading {}", log.display()))
        .unwrap();
    let provider_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("terraform-provider-homelab") && l.contains("@module=provider"))
        .collect();
    assert!(
        provider_lines.len() >= 20,
        "expected the provider's trace lines in {}, found {}",
        log.display(),
        provider_lines.len()
    );
    for w in wanted {
        assert!(
            provider_lines.iter().any(|l| l.contains(w)),
            "no provider line with {w:?} in {}",
            log.display()
        );
    }
    text
}

#[test]
fn secrets_stay_out_of_trace_logs_and_output() {
    let secrets = secrets();
    let lab = Lab::start();
    let (mut wd, log) = traced_workdir();
    wd.set_env("TECHNITIUM_TOKEN", technitium::ADMIN_TOKEN);
    wd.write_config(&lab.config()).unwrap();

    let mut outputs = vec![wd.init().unwrap()];
    outputs.push(wd.apply().unwrap());
    assert_eq!(
        lab.proxmox.list_vms().len(),
        2,
        "expected the seed template and the clone"
    );
    let (empty, out) = wd.plan_is_empty(true).unwrap();
    assert!(empty, "plan after apply is not empty:\n{}", out.combined());
    outputs.push(out);
    outputs.push(wd.plan(&[]).unwrap());
    let plan_json = wd.run(&["show", "-no-color", "-json", PLAN_FILE]).unwrap();
    let state_json = wd.run(&["show", "-no-color", "-json"]).unwrap();
    // The human-readable forms print sensitive values as such.
    outputs.push(wd.run(&["show", "-no-color", PLAN_FILE]).unwrap());
    outputs.push(wd.run(&["show", "-no-color"]).unwrap());
    outputs.push(wd.destroy().unwrap());
    assert_eq!(lab.proxmox.list_vms(), vec![SEED_TEMPLATE], "VMs left");

    // Not vacuous: the state holds the password (marked sensitive), and the
    // log holds the provider's own lines from the backends' clients.
    assert!(
        state_json.stdout.contains(VM_PASSWORD),
        "the state should hold the cloud-init password (marked sensitive)"
    );
    let text = read_log(&log, &["technitium request", "cloudflare api"]);
    for out in &outputs {
        assert_output_clean(&secrets, out).unwrap();
    }
    assert_show_json_clean(&secrets, &plan_json).unwrap();
    assert_show_json_clean(&secrets, &state_json).unwrap();
    assert_no_secret(&secrets, &format!("the trace log {}", log.display()), &text).unwrap();
}

/// Wrong credentials fail the plan, and neither the diagnostics nor the log
/// repeat them: tokens (from the configuration and the environment) and
/// passwords of the login flows.
#[test]
fn refused_credentials_are_not_echoed() {
    const TECHNITIUM_TOKEN: &str = "wrong-technitium-token-5f1e9a";
    const CLOUDFLARE_TOKEN: &str = "wrong-cloudflare-token-8c2d4b";
    const PROXMOX_SECRET: &str = "0badc0de-1111-4222-8333-944445555666";
    const TECHNITIUM_PASSWORD: &str = "wrong-technitium-Pa55-3a7c";
    const PROXMOX_PASSWORD: &str = "wrong-proxmox-Pa55-6b0e";
    let secrets: Vec<Secret> = vec![
        ("Technitium token", TECHNITIUM_TOKEN),
        ("Cloudflare token", CLOUDFLARE_TOKEN),
        ("Proxmox token secret", PROXMOX_SECRET),
        ("Technitium password", TECHNITIUM_PASSWORD),
        ("Proxmox password", PROXMOX_PASSWORD),
    ];
    let lab = Lab::start();
    let body = format!(
        r#"data "homelab_technitium_zone_records" "seed" {{
  zone = "{zone}"
}}

data "homelab_cloudflare_zone" "example" {{
  zone_id = "{ZONE_EXAMPLE_COM}"
}}

data "homelab_proxmox_nodes" "all" {{}}
"#,
        zone = technitium::SEED_ZONE,
    );
    let token_id = proxmox::ADMIN_TOKEN_ID;
    let tokens = lab.hcl(
        "",
        CLOUDFLARE_TOKEN,
        &format!("api_token = \"{token_id}={PROXMOX_SECRET}\""),
        &body,
    );
    let logins = lab.hcl(
        &format!("username = \"admin\"\n    password = \"{TECHNITIUM_PASSWORD}\""),
        CLOUDFLARE_TOKEN,
        &format!("username = \"root@pam\"\n    password = \"{PROXMOX_PASSWORD}\""),
        &body,
    );

    let (mut wd, log) = traced_workdir();
    wd.set_env("TECHNITIUM_TOKEN", TECHNITIUM_TOKEN);
    wd.write_config(&tokens).unwrap();
    let mut outputs = vec![wd.init().unwrap()];
    let out = wd
        .run_unchecked(&["plan", "-no-color", "-input=false"])
        .unwrap();
    for backend in ["technitium", "cloudflare", "proxmox"] {
        assert!(
            !out.success() && out.stderr.to_lowercase().contains(backend),
            "the plan should fail for {backend}:\n{}",
            out.combined()
        );
    }
    outputs.push(out);
    let mut logins_wd = wd;
    logins_wd.set_env("TECHNITIUM_TOKEN", "");
    logins_wd.write_config(&logins).unwrap();
    let out = logins_wd
        .run_unchecked(&["plan", "-no-color", "-input=false"])
        .unwrap();
    for backend in ["technitium", "cloudflare", "proxmox"] {
        assert!(
            !out.success() && out.stderr.to_lowercase().contains(backend),
            "the plan should fail for {backend}:\n{}",
            out.combined()
        );
    }
    outputs.push(out);

    let text = read_log(&log, &["technitium request", "cloudflare api"]);
    for out in &outputs {
        assert_output_clean(&secrets, out).unwrap();
    }
    assert_no_secret(&secrets, &format!("the trace log {}", log.display()), &text).unwrap();
}

//! Secrets stay out of logs and command output.
//!
//! Runs init, apply, plan, show and destroy with `TF_LOG=trace` into a log
//! file against the Technitium, Cloudflare and Proxmox simulators, with every
//! kind of secret the provider handles (API tokens from the configuration and
//! from the environment, a cloud-init password), then checks that no secret
//! appears in the trace log, in any command's stdout or stderr, or in
//! `show -json` outside the values it marks sensitive (state holds sensitive
//! attributes by design; `show -json` prints them, marked).
//!
//! The whole demo lab (`examples/lab` on homelab-sim: every backend, the
//! Talos cluster and MetalLB) gets the same scan for every credential
//! homelab-sim hands out and every secret the state marks sensitive (Talos
//! machine secrets and client key, the kubeconfig's key), through a plan,
//! an apply, a refused apply (error messages), show and destroy; and a
//! write-only password (`password_wo`) is checked to reach the cluster and
//! never the state file.

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
use crate::support::lab_ci::{HomelabSim, lab_workdir, write_tfvars};

const LOG_FILE: &str = "trace.log";
const VM_PASSWORD: &str = "cloudinit-Pa55word-7d1f0c";

/// What a secret is, and its value.
type Secret<'a> = (&'a str, &'a str);

/// The secrets of the working run.
fn secrets() -> Vec<Secret<'static>> {
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

/// Fails naming every secret found in `text` and where (line numbers, and
/// the lines with every secret replaced by its name: the failure never
/// prints a secret).
fn assert_no_secret(secrets: &[Secret], what: &str, text: &str) -> Result<()> {
    let found: Vec<&str> = secrets
        .iter()
        .filter(|(_, value)| text.contains(value))
        .map(|(name, _)| *name)
        .collect();
    if !found.is_empty() {
        let lines: Vec<String> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| secrets.iter().any(|(_, v)| l.contains(v)))
            .take(5)
            .map(|(n, l)| {
                let mut shown: String = l.chars().take(400).collect();
                for (name, v) in secrets {
                    shown = shown.replace(v, &format!("<{name}>"));
                }
                format!("line {}: {shown}", n + 1)
            })
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
    // `variables` (plan JSON) holds the root module's input values as given,
    // sensitive ones included (Terraform 1.11 does not redact them there; the
    // plan file stores them too): the user's own input, like `configuration`.
    if let Some(map) = doc.as_object_mut() {
        map.remove("configuration");
        map.remove("variables");
    }
    let mut hits = Vec::new();
    json_hits(secrets, &doc, "", &mut hits);
    if !hits.is_empty() {
        bail!(
            "`{}` outside its sensitive values leaks:\n{}",
            out.command,
            hits.join("\n")
        );
    }
    Ok(())
}

/// `<JSON path>: <secret's name>` for every string under `v` holding a
/// secret (object keys included).
fn json_hits(secrets: &[Secret], v: &Value, path: &str, out: &mut Vec<String>) {
    let check = |text: &str, at: &str, out: &mut Vec<String>| {
        for (name, value) in secrets {
            if text.contains(value) {
                out.push(format!("{at}: {name}"));
            }
        }
    };
    match v {
        Value::String(s) => check(s, path, out),
        Value::Object(m) => {
            for (k, v) in m {
                let at = format!("{path}.{k}");
                check(k, &at, out);
                json_hits(secrets, v, &at, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                json_hits(secrets, v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
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

/// The lab's MetalLB BGP peer with a write-only password, and its version.
fn wo_peer_tf(password: &str, version: i64) -> String {
    format!(
        r#"resource "homelab_metallb_bgp_peer" "wo" {{
  name                = "wo-peer"
  my_asn              = 64512
  peer_asn            = 64513
  peer_address        = "10.0.10.2"
  password_wo         = "{password}"
  password_wo_version = {version}
}}
"#
    )
}

const PROVIDER_ADDRESS: &str = "registry.terraform.io/labforge/homelab";
const WO_PASSWORD_1: &str = "write-only-bgp-Pa55-1f0e7c";
const WO_PASSWORD_2: &str = "write-only-bgp-Pa55-2a9d33";

/// `GET /_sim/state` of homelab-sim: what each simulator holds.
fn sim_state(sim: &HomelabSim) -> Value {
    use std::io::{Read as _, Write as _};
    let base = sim.env("HOMELAB_SIM_CONTROL_URL").unwrap();
    let host = base
        .strip_prefix("http://")
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(s, "GET /_sim/state HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(" 200 "), "{head}");
    serde_json::from_str(body).unwrap()
}

/// The `spec.password` of the BGP peer `name` on the Kubernetes simulator.
fn peer_password(sim: &HomelabSim, name: &str) -> Option<String> {
    let state = sim_state(sim);
    let peers = state
        .pointer("/kubernetes/bgppeers")
        .or_else(|| state.pointer("/site1/kubernetes/bgppeers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    peers
        .iter()
        .find(|p| p.pointer("/metadata/name") == Some(&Value::String(name.into())))
        .and_then(|p| p.pointer("/spec/password"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whether a string is a certificate (PEM, or base64 of PEM): public.
fn is_certificate(v: &str) -> bool {
    v.contains("BEGIN CERTIFICATE") || v.starts_with("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t")
}

/// The secrets inside one sensitive string of the state: the string itself
/// when it is one value, or, in a YAML document (kubeconfig, talosconfig,
/// machine configuration), the values of its key, token, secret and
/// password fields.
fn secrets_in(path: &str, v: &str, out: &mut Vec<(String, String)>) {
    if v.len() < 8 || is_certificate(v) {
        return;
    }
    if !v.contains('\n') {
        out.push((format!("state value {path}"), v.to_string()));
        return;
    }
    for line in v.lines() {
        let line = line.trim().trim_start_matches("- ");
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_lowercase();
        let value = value.trim().trim_matches('"');
        let secret_key = ["key", "token", "secret", "password"]
            .iter()
            .any(|k| key.contains(k));
        if secret_key && value.len() >= 16 && !is_certificate(value) && !value.contains(' ') {
            out.push((format!("{key} in state value {path}"), value.to_string()));
        }
    }
}

/// Every sensitive string of a `show -json` state (`values` by their
/// `sensitive_values` marks), with where it is.
fn sensitive_strings(value: &Value, marks: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match (value, marks) {
        (v, Value::Bool(true)) => collect_strings(v, path, out),
        (Value::Object(values), Value::Object(marks)) => {
            for (k, m) in marks {
                if let Some(v) = values.get(k) {
                    sensitive_strings(v, m, &format!("{path}.{k}"), out);
                }
            }
        }
        (Value::Array(values), Value::Array(marks)) => {
            for (i, (v, m)) in values.iter().zip(marks).enumerate() {
                sensitive_strings(v, m, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn collect_strings(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => secrets_in(path, s, out),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| collect_strings(v, &format!("{path}.{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| collect_strings(v, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

/// The secrets of the lab: every credential in homelab-sim's env file
/// (admin and read-only tokens and passwords; a Proxmox token's secret part
/// on its own too), the write-only passwords, and every sensitive string of
/// the state `show -json` printed.
fn lab_secrets(sim: &HomelabSim, words: &str, state_json: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in &sim.env {
        let secret_name = ["TOKEN", "PASSWORD", "SECRET"]
            .iter()
            .any(|k| name.contains(k));
        // Some simulated passwords are the vendors' defaults, words the
        // configuration itself is made of (pfSense's "pfsense" in every
        // `homelab_pfsense_*` type, Proxmox's "labforge" in the provider's
        // address): they cannot be told apart from those in any output.
        if secret_name && words.contains(value.as_str()) {
            eprintln!("[secrets] {name} is a word of the configuration: not scanned");
            continue;
        }
        if secret_name && value.len() >= 6 {
            out.push((format!("homelab-sim's {name}"), value.clone()));
            if let Some((_, secret)) = value.split_once('=') {
                out.push((format!("homelab-sim's {name} (secret part)"), secret.into()));
            }
        }
    }
    out.push(("write-only password 1".into(), WO_PASSWORD_1.into()));
    out.push(("write-only password 2".into(), WO_PASSWORD_2.into()));
    let state: Value = serde_json::from_str(state_json).unwrap();
    let mut modules = vec![
        state
            .pointer("/values/root_module")
            .cloned()
            .unwrap_or_default(),
    ];
    while let Some(module) = modules.pop() {
        for r in module["resources"].as_array().into_iter().flatten() {
            let address = r["address"].as_str().unwrap_or_default();
            sensitive_strings(&r["values"], &r["sensitive_values"], address, &mut out);
        }
        modules.extend(
            module["child_modules"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    out.sort();
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

fn borrowed(secrets: &[(String, String)]) -> Vec<Secret<'_>> {
    secrets
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// The whole demo lab with `TF_LOG=trace`: no credential, Talos secret,
/// key or write-only password in the trace log, any command's output or
/// errors, or `show -json` outside its sensitive values; the write-only
/// password reaches the cluster, and neither it nor its successor is ever in
/// the state file.
#[test]
fn lab_secrets_stay_out_of_logs_output_and_state() {
    let sim = HomelabSim::start().unwrap();
    let extra = serde_json::json!({ "edge": "routeros" });
    let mut wd = lab_workdir(&sim, &extra).unwrap();
    let log = wd.path().join(LOG_FILE);
    wd.set_env("TF_LOG", "trace");
    wd.set_env("TF_LOG_PATH", log.to_string_lossy());
    wd.write_file("secrets.tf", &wo_peer_tf(WO_PASSWORD_1, 1))
        .unwrap();
    let state_file = wd.path().join("terraform.tfstate");
    let state_clean = |when: &str| {
        let text = std::fs::read_to_string(&state_file).unwrap();
        for (n, pw) in [(1, WO_PASSWORD_1), (2, WO_PASSWORD_2)] {
            assert!(
                !text.contains(pw),
                "{when}: the state file holds write-only password {n}"
            );
        }
        let state: Value = serde_json::from_str(&text).unwrap();
        let peer = state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "homelab_metallb_bgp_peer" && r["name"] == "wo")
            .expect("the write-only peer in state");
        let attrs = &peer["instances"][0]["attributes"];
        assert_eq!(attrs["password_wo"], Value::Null, "{when}");
        assert_eq!(attrs["password"], Value::Null, "{when}");
        attrs["password_wo_version"].as_i64()
    };

    let mut outputs = vec![wd.init().unwrap()];
    outputs.push(wd.plan(&[]).unwrap());
    outputs.push(wd.run(&["show", "-no-color", PLAN_FILE]).unwrap());
    let plan_json = wd.run(&["show", "-no-color", "-json", PLAN_FILE]).unwrap();
    outputs.push(wd.apply_plan().unwrap());
    assert_eq!(state_clean("after apply"), Some(1));
    assert_eq!(
        peer_password(&sim, "wo-peer").as_deref(),
        Some(WO_PASSWORD_1),
        "the write-only password reached the cluster"
    );
    let (empty, out) = wd.plan_is_empty(true).unwrap();
    assert!(empty, "plan after apply is not empty:\n{}", out.combined());
    outputs.push(out);

    // A changed password alone plans nothing (it is not in state)...
    wd.write_file("secrets.tf", &wo_peer_tf(WO_PASSWORD_2, 1))
        .unwrap();
    let (empty, out) = wd.plan_is_empty(false).unwrap();
    assert!(
        empty,
        "a new write-only value alone planned:\n{}",
        out.combined()
    );
    outputs.push(out);
    // ...a new version sends it; first with read-only credentials: refused,
    // and the error names no secret.
    wd.write_file("secrets.tf", &wo_peer_tf(WO_PASSWORD_2, 2))
        .unwrap();
    write_tfvars(&mut wd, &sim, &extra, true).unwrap();
    let refused = wd
        .run_unchecked(&["apply", "-no-color", "-input=false", "-auto-approve"])
        .unwrap();
    assert!(
        !refused.success() && refused.stderr.contains("Error"),
        "an apply with read-only credentials should fail:\n{}",
        refused.combined()
    );
    outputs.push(refused);
    write_tfvars(&mut wd, &sim, &extra, false).unwrap();
    outputs.push(wd.apply().unwrap());
    assert_eq!(state_clean("after the version change"), Some(2));
    assert_eq!(
        peer_password(&sim, "wo-peer").as_deref(),
        Some(WO_PASSWORD_2),
        "the new version sent the new password"
    );

    let state_json = wd.run(&["show", "-no-color", "-json"]).unwrap();
    outputs.push(wd.run(&["show", "-no-color"]).unwrap());
    outputs.push(wd.run(&["output", "-no-color"]).unwrap());
    let mut words = PROVIDER_ADDRESS.to_string();
    for entry in std::fs::read_dir(wd.path()).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "tf") {
            words.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    let secrets = lab_secrets(&sim, &words, &state_json.stdout);
    outputs.push(wd.destroy().unwrap());

    // Not vacuous: the state's sensitive values gave the Talos secrets and
    // the kubeconfig's key, and the log holds the provider's lines.
    let names: Vec<&str> = secrets.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in [
        "homelab_talos_machine_secrets.lab",
        "client-key-data",
        "homelab-sim's KUBE_TOKEN",
        "homelab-sim's ROS_PASSWORD",
        "homelab-sim's PFSENSE_READONLY_PASSWORD",
    ] {
        assert!(
            names.iter().any(|n| n.contains(wanted)),
            "no secret from {wanted} among {names:?}"
        );
    }
    let borrowed = borrowed(&secrets);
    let text = read_log(&log, &["technitium request", "cloudflare api"]);
    eprintln!(
        "[secrets] {} secrets scanned in {} outputs, 2 show -json and a {} MB trace log",
        secrets.len(),
        outputs.len(),
        text.len() / 1_000_000
    );
    for out in &outputs {
        assert_output_clean(&borrowed, out).unwrap();
    }
    assert_show_json_clean(&borrowed, &plan_json).unwrap();
    assert_show_json_clean(&borrowed, &state_json).unwrap();
    assert_no_secret(
        &borrowed,
        &format!("the trace log {}", log.display()),
        &text,
    )
    .unwrap();
}

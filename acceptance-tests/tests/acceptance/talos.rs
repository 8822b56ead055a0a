//! Acceptance tests of `homelab_talos_machine_secrets`, the
//! `homelab_talos_machine_configuration` data source and ephemeral
//! resource, and `homelab_talos_client_configuration`, through the real CLI.
//! They are local (no Talos API): nothing to simulate.
//!
//! Every config step is followed by the harness's empty plan and
//! refresh-only checks; the cases end with a destroy.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail, ensure};
use labforge_acceptance_tests::{Action, CmdOutput, Provider, State, Step, TestCase, Workdir};
use regex::Regex;

use crate::support::REQUIRED_PROVIDERS;
use crate::support::talos::{
    CP, SECRETS, TALOSCONFIG, WORKER, age_client_certificate, cert_facts, config, pem_label,
    pem_of, secret_attr, secrets_yaml,
};

const DAY: u64 = 24 * 3600;

/// Formats of everything generated, checked independently of the provider.
fn check_formats(state: &State) -> Result<()> {
    let token = Regex::new(r"^[a-z0-9]{6}\.[a-z0-9]{16}$").unwrap();
    for p in ["secrets.bootstrap_token", "trustdinfo.token"] {
        let t = secret_attr(state, &format!("machine_secrets.{p}"))?;
        ensure!(
            token.is_match(&t),
            "{p} is not a token like abcdef.0123456789abcdef"
        );
    }
    for p in [
        "cluster.id",
        "cluster.secret",
        "secrets.secretbox_encryption_secret",
    ] {
        let v = secret_attr(state, &format!("machine_secrets.{p}"))?;
        ensure!(v.len() >= 43, "{p} is too short for 32 random bytes");
    }
    ensure!(
        state
            .attr(SECRETS, "machine_secrets.secrets.aescbc_encryption_secret")?
            .is_null(),
        "aescbc_encryption_secret is only for Talos 1.2 and older"
    );
    // CAs: certificates and their keys.
    for (ca, key_label, org) in [
        ("etcd", "EC PRIVATE KEY", "etcd"),
        ("k8s", "EC PRIVATE KEY", "kubernetes"),
        ("k8s_aggregator", "EC PRIVATE KEY", ""),
        ("os", "ED25519 PRIVATE KEY", "talos"),
    ] {
        let cert = pem_of(&secret_attr(
            state,
            &format!("machine_secrets.certs.{ca}.cert"),
        )?)?;
        let key = pem_of(&secret_attr(
            state,
            &format!("machine_secrets.certs.{ca}.key"),
        )?)?;
        let f = cert_facts(&cert).with_context(|| format!("certs.{ca}.cert"))?;
        ensure!(f.is_ca, "certs.{ca}.cert is not a CA");
        ensure!(
            pem_label(&key)? == key_label,
            "certs.{ca}.key is not {key_label}"
        );
        if !org.is_empty() {
            ensure!(
                f.organizations == [org],
                "certs.{ca}.cert: Organization {:?}, expected {org}",
                f.organizations
            );
        }
        ensure!(
            f.not_after > SystemTime::now() + Duration::from_secs(9 * 365 * DAY),
            "certs.{ca}.cert should be valid ten years"
        );
    }
    let os = cert_facts(&pem_of(&secret_attr(
        state,
        "machine_secrets.certs.os.cert",
    )?)?)?;
    ensure!(os.ed25519, "the OS CA is not Ed25519");
    let sa = pem_of(&secret_attr(
        state,
        "machine_secrets.certs.k8s_serviceaccount.key",
    )?)?;
    ensure!(pem_label(&sa)? == "EC PRIVATE KEY", "service account key");
    // The admin client: issued by the OS CA, role os:admin, one year.
    let ca = secret_attr(state, "client_configuration.ca_certificate")?;
    ensure!(
        ca == secret_attr(state, "machine_secrets.certs.os.cert")?,
        "client_configuration.ca_certificate is not the OS CA"
    );
    let client = cert_facts(&pem_of(&secret_attr(
        state,
        "client_configuration.client_certificate",
    )?)?)?;
    ensure!(
        client.organizations == ["os:admin"],
        "{:?}",
        client.organizations
    );
    ensure!(client.issuer_organizations == ["talos"], "issuer");
    ensure!(!client.is_ca, "the client certificate is a CA");
    let left = client
        .not_after
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    ensure!(
        left > Duration::from_secs(360 * DAY) && left <= Duration::from_secs(366 * DAY),
        "client certificate valid {} days",
        left.as_secs() / DAY
    );
    let key = pem_of(&secret_attr(state, "client_configuration.client_key")?)?;
    ensure!(pem_label(&key)?.ends_with("PRIVATE KEY"), "client key");
    Ok(())
}

/// The control plane config has the OS CA key; the worker's has only the
/// certificate. Both hold the cluster's values and the patch.
fn check_configs(state: &State) -> Result<()> {
    let cp = state.attr_str(CP, "machine_configuration")?;
    let worker = state.attr_str(WORKER, "machine_configuration")?;
    let os_key = secret_attr(state, "machine_secrets.certs.os.key")?;
    let os_cert = secret_attr(state, "machine_secrets.certs.os.cert")?;
    let token = secret_attr(state, "machine_secrets.trustdinfo.token")?;
    ensure!(
        cp.contains(&os_key),
        "the control plane config lacks the OS CA key"
    );
    ensure!(
        !worker.contains(&os_key),
        "the worker config holds the OS CA key"
    );
    ensure!(
        cp.contains(&os_cert) && worker.contains(&os_cert),
        "OS CA certificate"
    );
    ensure!(
        cp.contains(&token) && worker.contains(&token),
        "trustd token"
    );
    ensure!(cp.contains("type: controlplane"), "machine type");
    ensure!(worker.contains("type: worker"), "machine type");
    ensure!(cp.contains("cp-1") && !worker.contains("cp-1"), "patch");
    ensure!(cp.contains("https://10.0.20.10:6443"), "endpoint");
    ensure!(
        cp.contains("/dev/vda") && worker.contains("/dev/vda"),
        "install disk"
    );
    let etcd_key = secret_attr(state, "machine_secrets.certs.etcd.key")?;
    ensure!(
        cp.contains(&etcd_key) && !worker.contains(&etcd_key),
        "etcd CA key"
    );
    let talosconfig = state.attr_str(TALOSCONFIG, "talos_config")?;
    ensure!(
        talosconfig.contains("context: lab"),
        "{}",
        "talosconfig context"
    );
    ensure!(
        talosconfig.contains(&secret_attr(state, "client_configuration.client_key")?),
        "talosconfig lacks the client key"
    );
    ensure!(talosconfig.contains("10.0.20.11"), "talosconfig endpoints");
    Ok(())
}

#[test]
fn secrets_configs_import_versions_and_renewal() {
    let dir = Rc::new(tempfile::tempdir().unwrap());
    let d1 = dir.clone();
    let first: Rc<RefCell<Option<State>>> = Rc::default();
    let (f1, f2) = (first.clone(), first.clone());
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(config("v1.13"))
                .expect_action(SECRETS, Action::Create)
                .expect_unknown(SECRETS, "machine_secrets")
                .expect_sensitive(SECRETS, "machine_secrets")
                .expect_sensitive(SECRETS, "client_configuration")
                .expect_sensitive(CP, "machine_configuration")
                .expect_sensitive(TALOSCONFIG, "talos_config")
                .expect_attr(SECRETS, "talos_version", "v1.13")
                .check(move |state| {
                    check_formats(state)?;
                    check_configs(state)?;
                    *f1.borrow_mut() = Some(state.clone());
                    Ok(())
                }),
        )
        // Import from a secrets file in `talosctl gen secrets` format: the
        // same bundle, a new client certificate, the oldest contract.
        .step(
            Step::import(SECRETS)
                .import_id_with(move |state| {
                    let path = d1.path().join("secrets.yaml");
                    std::fs::write(&path, secrets_yaml(state)?)?;
                    Ok(path.display().to_string())
                })
                .import_state_verify()
                .import_state_verify_ignore(&[
                    "client_configuration.client_certificate",
                    "client_configuration.client_key",
                ])
                .expect_attr(SECRETS, "talos_version", "v1.13")
                .check(check_formats),
        )
        .step(
            Step::import(SECRETS)
                .import_id("/nonexistent/secrets.yaml")
                .expect_error(r"(?s)Cannot read the secrets file"),
        )
        // An upgrade of the contract keeps the secrets.
        .step(
            Step::config(config("v1.14"))
                .expect_action(SECRETS, Action::Update)
                .check(move |state| {
                    let before = f2.borrow();
                    let before = before.as_ref().context("no first state")?;
                    for p in [
                        "machine_secrets.certs.os.key",
                        "machine_secrets.cluster.secret",
                        "client_configuration.client_key",
                    ] {
                        ensure!(
                            secret_attr(state, p)? == secret_attr(before, p)?,
                            "{p} changed on upgrade"
                        );
                    }
                    Ok(())
                }),
        )
        // A downgrade replaces them.
        .step(Step::plan_only(config("v1.13")).expect_action(SECRETS, Action::Replace))
        // A client certificate near its end is renewed in the plan; the
        // bundle stays.
        .step(
            Step::plan_only(config("v1.14"))
                .pre_step(|ctx| age_client_certificate(ctx.workdir, Duration::from_secs(30 * DAY)))
                .expect_action(SECRETS, Action::Update)
                .expect_unknown(SECRETS, "client_configuration")
                .expect_planned(SECRETS, "talos_version", "v1.14"),
        )
        .step(Step::config(config("v1.14")).check(move |state| {
            check_formats(state)?;
            let before = first.borrow();
            let before = before.as_ref().context("no first state")?;
            ensure!(
                secret_attr(state, "machine_secrets.certs.os.key")?
                    == secret_attr(before, "machine_secrets.certs.os.key")?,
                "renewal changed the bundle"
            );
            ensure!(
                secret_attr(state, "client_configuration.client_key")?
                    != secret_attr(before, "client_configuration.client_key")?,
                "the client key was not renewed"
            );
            Ok(())
        }))
        .check_destroy(|ctx| {
            ensure!(ctx.workdir.state_json()?.is_empty(), "state left");
            Ok(())
        })
        .run();
}

fn patched(patches: &str, version: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}

resource "homelab_talos_machine_secrets" "lab" {{}}

data "homelab_talos_machine_configuration" "w" {{
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "worker"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  talos_version    = "{version}"
  config_patches   = {patches}
}}
"#
    )
}

#[test]
fn bad_patches_fail_at_plan_and_versions_at_validate() {
    TestCase::new()
        .provider(Provider::homelab())
        // Secrets not made yet: the patch is still checked at plan.
        .step(
            Step::plan_only(patched(r#"["machine: [\n"]"#, "v1.14"))
                .expect_error(r"(?s)Invalid config patch.*config_patches\[0\]: "),
        )
        .step(
            Step::plan_only(patched(
                r#"[yamlencode({ machine = { certSANs = ["a.lab.example"] } }), "machine: [\n"]"#,
                "v1.13",
            ))
            .expect_error(r"(?s)config_patches\[1\]: "),
        )
        .step(
            Step::config(patched(
                r#"[yamlencode({ machine = { certSANs = ["patched.lab.example"] } })]"#,
                "v1.13",
            ))
            .check(|state| {
                let c = state.attr_str(
                    "data.homelab_talos_machine_configuration.w",
                    "machine_configuration",
                )?;
                ensure!(c.contains("patched.lab.example"), "patch not applied");
                Ok(())
            }),
        )
        // Secrets known: the data source itself fails at plan.
        .step(
            Step::plan_only(patched(r#"["machine: [\n"]"#, "v1.13"))
                .expect_error(r"(?s)Invalid config patch.*config_patches\[0\]: "),
        )
        .run();

    // Validate-time errors, with `terraform validate` (no plan, no provider configure).
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    wd.init_with(&patched("[]", "v1.12")).unwrap();
    let out = validate(&wd);
    assert!(!out.success(), "{}", out.combined());
    assert!(
        Regex::new(r"(?s)talos_version.*v1\.12.*(v1\.13|1\.13)")
            .unwrap()
            .is_match(&out.combined()),
        "{}",
        out.combined()
    );
    wd.write_config(
        &patched("[]", "v1.14").replace("https://10.0.20.10:6443", "http://10.0.20.10"),
    )
    .unwrap();
    let out = validate(&wd);
    assert!(
        !out.success() && out.combined().contains("cluster_endpoint"),
        "{}",
        out.combined()
    );
    wd.write_config(&patched("[]", "v1.14").replace("\"worker\"", "\"router\""))
        .unwrap();
    let out = validate(&wd);
    assert!(
        !out.success() && out.combined().contains("machine_type"),
        "{}",
        out.combined()
    );
}

fn validate(wd: &Workdir) -> CmdOutput {
    wd.run_unchecked(&["validate", "-no-color"]).unwrap()
}

trait InitWith {
    fn init_with(&mut self, hcl: &str) -> Result<()>;
}

impl InitWith for Workdir {
    fn init_with(&mut self, hcl: &str) -> Result<()> {
        self.write_config(hcl)?;
        self.init()?;
        Ok(())
    }
}

/// The ephemeral configuration reaches a provisioner (an ephemeral
/// context) and is never written to state.
#[test]
fn ephemeral_configuration_is_not_stored() {
    let hcl = format!(
        r#"{REQUIRED_PROVIDERS}

resource "homelab_talos_machine_secrets" "lab" {{}}

ephemeral "homelab_talos_machine_configuration" "w" {{
  cluster_name     = "lab"
  cluster_endpoint = "https://10.0.20.10:6443"
  machine_type     = "worker"
  machine_secrets  = homelab_talos_machine_secrets.lab.machine_secrets
  config_patches   = [yamlencode({{ machine = {{ certSANs = ["eph-7c1d.lab.example"] }} }})]
}}

resource "terraform_data" "seen" {{
  input = homelab_talos_machine_secrets.lab.talos_version
  provisioner "local-exec" {{
    command = "printf '%s' \"$CFG\" | grep -q 'eph-7c1d' && printf '%s' \"$CFG\" | grep -q 'type: worker' && touch seen.flag"
    environment = {{
      CFG = ephemeral.homelab_talos_machine_configuration.w.machine_configuration
    }}
  }}
}}
"#
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(hcl).check(|state| {
            let raw = state.raw.to_string();
            ensure!(
                !raw.contains("eph-7c1d"),
                "the ephemeral configuration is in state"
            );
            Ok(())
        }))
        .check_destroy(|ctx| {
            ensure!(
                ctx.workdir.path().join("seen.flag").exists(),
                "the provisioner did not see a worker configuration with the patch"
            );
            let raw = std::fs::read_to_string(ctx.workdir.path().join("terraform.tfstate"))
                .unwrap_or_default();
            ensure!(
                !raw.contains("eph-7c1d"),
                "the ephemeral configuration is in state"
            );
            Ok(())
        })
        .run();
}

/// Every secret value of the state, for leak checks: raw as state holds
/// them, and the PEM body lines of the keys.
fn secret_values(state: &State) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for p in [
        "machine_secrets.cluster.secret",
        "machine_secrets.secrets.bootstrap_token",
        "machine_secrets.secrets.secretbox_encryption_secret",
        "machine_secrets.trustdinfo.token",
        "machine_secrets.certs.os.key",
        "machine_secrets.certs.etcd.key",
        "machine_secrets.certs.k8s.key",
        "machine_secrets.certs.k8s_aggregator.key",
        "machine_secrets.certs.k8s_serviceaccount.key",
        "client_configuration.client_key",
    ] {
        let v = secret_attr(state, p)?;
        if p.ends_with(".key") {
            let pem = pem_of(&v)?;
            for (i, line) in pem.lines().filter(|l| !l.starts_with("-----")).enumerate() {
                if line.len() >= 32 {
                    out.push((format!("{p} (PEM line {i})"), line.to_string()));
                }
            }
        }
        out.push((p.to_string(), v));
    }
    Ok(out)
}

fn assert_clean(secrets: &[(String, String)], what: &str, text: &str) -> Result<()> {
    let found: Vec<&str> = secrets
        .iter()
        .filter(|(_, v)| text.contains(v.as_str()))
        .map(|(n, _)| n.as_str())
        .collect();
    if !found.is_empty() {
        bail!("{what} leaks {}", found.join(", "));
    }
    Ok(())
}

#[test]
fn secrets_stay_out_of_output_and_trace_logs() {
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    let log = wd.path().join("trace.log");
    wd.set_env("TF_LOG", "trace");
    wd.set_env("TF_LOG_PATH", log.to_string_lossy());
    wd.write_config(&config("v1.14")).unwrap();
    let mut outputs = vec![wd.init().unwrap()];
    outputs.push(wd.apply().unwrap());
    let (empty, out) = wd.plan_is_empty(true).unwrap();
    assert!(empty, "{}", out.combined());
    outputs.push(out);
    outputs.push(wd.run(&["show", "-no-color"]).unwrap());
    outputs.push(wd.run(&["state", "show", "-no-color", SECRETS]).unwrap());
    outputs.push(wd.run(&["state", "show", "-no-color", CP]).unwrap());
    let state = wd.state_json().unwrap();
    let secrets = secret_values(&state).unwrap();
    assert!(secrets.len() > 20, "{}", secrets.len());
    // A renewal runs through the log too.
    age_client_certificate(&wd, Duration::from_secs(DAY)).unwrap();
    outputs.push(wd.apply().unwrap());
    let renewed = wd.state_json().unwrap();
    let mut secrets = secrets;
    secrets.extend(secret_values(&renewed).unwrap());
    outputs.push(wd.destroy().unwrap());

    for out in &outputs {
        assert_clean(
            &secrets,
            &format!("stdout of `{}`", out.command),
            &out.stdout,
        )
        .unwrap();
        assert_clean(
            &secrets,
            &format!("stderr of `{}`", out.command),
            &out.stderr,
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let provider_lines = text
        .lines()
        .filter(|l| l.contains("terraform-provider-homelab"))
        .count();
    assert!(
        provider_lines >= 20,
        "the trace log has {provider_lines} provider lines"
    );
    assert!(
        text.contains("renewing the client certificate"),
        "the renewal is not in the trace log"
    );
    assert_clean(&secrets, "the trace log", &text).unwrap();
}

//! The homelab provider as a whole: what Terraform sees of it, what running
//! the binary by hand says, backends that are not configured, and provider
//! configuration that is unknown until apply.

use std::process::Command;

use labforge_acceptance_tests::{Action, Provider, Step, TestCase, Workdir, provider_binary};
use labforge_simulators::technitium::{ADMIN_TOKEN, TechnitiumSim};

const REQUIRED: &str = r#"
terraform {
  required_providers {
    homelab = { source = "labforge/homelab" }
  }
}
"#;

#[test]
fn schema_is_visible_to_terraform() {
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    wd.write_config(&format!("{REQUIRED}\nprovider \"homelab\" {{}}\n"))
        .unwrap();
    wd.init().unwrap();
    let out = wd.run(&["providers", "schema", "-json"]).unwrap();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let schemas = &json["provider_schemas"];
    let homelab = schemas
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.ends_with("labforge/homelab")))
        .map(|(_, v)| v)
        .expect("homelab in providers schema");
    let blocks = &homelab["provider"]["block"]["block_types"];
    let names: Vec<&String> = blocks
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    for backend in ["proxmox", "technitium", "cloudflare"] {
        assert!(
            names.iter().any(|n| *n == backend),
            "no {backend} block in {names:?}"
        );
    }
    // One block per backend, and no block that configures nothing: each
    // backend's block has resources or data sources of its own.
    for backend in names {
        assert_eq!(blocks[backend]["nesting_mode"], "single", "{backend} block");
        // Resources are named by what they manage; the kubernetes block's
        // are MetalLB's.
        let family = match backend.as_str() {
            "kubernetes" => "metallb",
            other => other,
        };
        let prefix = format!("homelab_{family}_");
        let owns = |kind: &str| {
            homelab[kind]
                .as_object()
                .is_some_and(|m| m.keys().any(|k| k.starts_with(&prefix)))
        };
        assert!(
            owns("resource_schemas") || owns("data_source_schemas"),
            "the {backend} block configures no resource or data source"
        );
    }
    // Secrets are sensitive in the schema.
    assert_eq!(
        blocks["technitium"]["block"]["attributes"]["token"]["sensitive"],
        true
    );
    assert_eq!(
        blocks["cloudflare"]["block"]["attributes"]["api_token"]["sensitive"],
        true
    );
    for r in [
        "homelab_technitium_zone",
        "homelab_technitium_dns_record",
        "homelab_cloudflare_dns_record",
    ] {
        assert!(
            homelab["resource_schemas"].get(r).is_some(),
            "{r} in resource_schemas"
        );
    }
}

#[test]
fn binary_run_by_hand_explains_itself() {
    let bin = provider_binary("homelab").unwrap();
    let out = Command::new(&bin)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("terraform") && err.contains("plugin"), "{err}");
}

#[test]
fn missing_backend_configuration_is_named() {
    let config = format!(
        r#"{REQUIRED}
provider "homelab" {{}}

resource "homelab_technitium_zone" "z" {{
  name = "nowhere.test"
}}
"#
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            // At plan time: the error names the block and the variables.
            Step::plan_only(config)
                .expect_error(r"(?s)technitium backend is not configured.*TECHNITIUM_URL"),
        )
        .run();
}

#[test]
fn missing_proxmox_configuration_is_named_at_plan() {
    for resource in [
        r#"resource "homelab_proxmox_vm" "vm" {
  node = "pve"
}"#,
        r#"resource "homelab_proxmox_download_file" "img" {
  node         = "pve"
  storage      = "local"
  content_type = "import"
  file_name    = "noble.qcow2"
  url          = "https://example.com/noble.qcow2"
}"#,
    ] {
        let config = format!("{REQUIRED}\nprovider \"homelab\" {{}}\n\n{resource}\n");
        TestCase::new()
            .provider(Provider::homelab())
            .step(Step::plan_only(config).expect_error(
                r"(?s)proxmox backend is not configured.*PROXMOX_VE_ENDPOINT and PROXMOX_VE_API_TOKEN",
            ))
            .run();
    }
}

#[test]
fn bad_provider_attribute_is_pointed_at() {
    let config = format!(
        r#"{REQUIRED}
provider "homelab" {{
  technitium {{
    url   = "dns.lab:5380"
    token = "x"
  }}
}}

resource "homelab_technitium_zone" "z" {{
  name = "nowhere.test"
}}
"#
    );
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(config).expect_error(r#"(?s)http:// or https:// URL.*technitium"#))
        .run();
}

/// The provider block takes its URL from another resource: during the first
/// plan it is unknown; the plan still goes through, and apply configures the
/// provider once the value is known.
#[test]
fn provider_configuration_unknown_until_apply() {
    let sim = TechnitiumSim::start().unwrap();
    let config = format!(
        r#"{REQUIRED}
resource "terraform_data" "endpoint" {{
  input = "{url}"
}}

provider "homelab" {{
  technitium {{
    url   = terraform_data.endpoint.output
    token = "{ADMIN_TOKEN}"
  }}
}}

resource "homelab_technitium_zone" "z" {{
  name = "late.test"
}}
"#,
        url = sim.base_url()
    );
    let sim_check = std::sync::Arc::new(sim);
    let s = sim_check.clone();
    TestCase::new()
        .provider(Provider::homelab())
        .step(
            Step::config(config)
                .expect_action("homelab_technitium_zone.z", Action::Create)
                .expect_attr("homelab_technitium_zone.z", "name", "late.test"),
        )
        .check_destroy(move |_| {
            if s.zone_names().iter().any(|z| z == "late.test") {
                anyhow::bail!("zone late.test is still on the server");
            }
            Ok(())
        })
        .run();
    assert!(!sim_check.zone_names().iter().any(|z| z == "late.test"));
}

/// A record whose zone comes from a zone being replaced: its `zone` is
/// unknown during the plan, which must already say "replace" for the record
/// (an update at plan time that turns into a replacement at apply would be
/// an inconsistent final plan).
#[test]
fn replacement_follows_values_unknown_at_plan() {
    let sim = std::sync::Arc::new(TechnitiumSim::start().unwrap());
    let config = |zone: &str| {
        format!(
            r#"{REQUIRED}
provider "homelab" {{
  technitium {{
    url   = "{url}"
    token = "{ADMIN_TOKEN}"
  }}
}}

resource "homelab_technitium_zone" "z" {{
  name = "{zone}"
}}

resource "homelab_technitium_dns_record" "r" {{
  zone  = homelab_technitium_zone.z.name
  name  = "www"
  type  = "A"
  value = "10.0.0.1"
}}
"#,
            url = sim.base_url()
        )
    };
    let s = sim.clone();
    TestCase::new()
        .provider(Provider::homelab())
        .step(Step::config(config("one.test")))
        .step(
            Step::config(config("two.test"))
                .expect_action("homelab_technitium_zone.z", Action::Replace)
                .expect_action("homelab_technitium_dns_record.r", Action::Replace)
                .expect_attr("homelab_technitium_dns_record.r", "zone", "two.test"),
        )
        .check_destroy(move |_| {
            let left: Vec<String> = s
                .zone_names()
                .into_iter()
                .filter(|z| z.ends_with(".test"))
                .collect();
            anyhow::ensure!(left.is_empty(), "zones left: {left:?}");
            Ok(())
        })
        .run();
}

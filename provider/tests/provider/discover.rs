//! `homelab-discover`'s command line and `--config` (the discovery itself
//! runs against the simulators in the acceptance tests, `adopt/`).

use std::path::PathBuf;

use homelab::discover::{Command, parse_args, provider_config};
use labforge_framework::Value;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn filters_and_backends_are_parsed_and_checked() {
    let Ok(Command::Discover(o)) = parse_args(&args(
        "--backend technitium --zone home.arpa --zone=lab.test --out x.tf",
    )) else {
        panic!("not parsed");
    };
    assert_eq!(o.backends, ["technitium"]);
    assert_eq!(o.filter["zone"], ["home.arpa", "lab.test"]);
    assert_eq!(o.out, Some(PathBuf::from("x.tf")));
    assert!(
        parse_args(&args("--backend nope"))
            .unwrap_err()
            .contains("not one of")
    );
    assert!(
        parse_args(&args("--bogus"))
            .unwrap_err()
            .contains("unknown argument")
    );
    assert!(
        parse_args(&args("--zone"))
            .unwrap_err()
            .contains("needs a value")
    );
    assert_eq!(
        parse_args(&args("tidy a.tf b.tf")),
        Ok(Command::Tidy(vec!["a.tf".into(), "b.tf".into()]))
    );
    assert!(parse_args(&args("tidy")).is_err());
    assert!(parse_args(&args("--filter routeros.list=mgmt")).is_ok());
    assert!(parse_args(&args("--filter technitium.list=x")).is_err());
    assert!(parse_args(&args("--backend proxmox --zone x")).is_err());
}

#[test]
fn the_provider_block_comes_as_terraform_json_or_its_body() {
    let full = r#"{"provider": {"homelab": [{"technitium": {"url": "http://dns:5380"}}]}}"#;
    let body = r#"{"technitium": {"url": "http://dns:5380"}}"#;
    for json in [full, body] {
        let v = provider_config(Some(json)).unwrap();
        assert_eq!(
            v.get("technitium")
                .and_then(|t| t.get("url"))
                .and_then(Value::as_str),
            Some("http://dns:5380")
        );
    }
    assert!(provider_config(Some(r#"{"technitium": {"nope": 1}}"#)).is_err());
    assert_eq!(provider_config(None).unwrap(), Value::Null);
}

#[test]
fn with_no_backend_configured_discovery_says_which_to_configure() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = labforge_framework::Env::from_pairs([]);
    let Ok(Command::Discover(o)) = parse_args(&["--backend".into(), "proxmox".into()]) else {
        panic!("not parsed");
    };
    let err = rt
        .block_on(homelab::discover::run(&o, &env, &Value::Null))
        .unwrap_err();
    assert!(
        err.contains("no backend is configured") && err.ends_with("proxmox"),
        "{err}"
    );
    // Nothing configured, no backend named: every backend says it is not
    // listed (Talos, whose block is always configured, says why it has no
    // nodes to probe), and nothing fails.
    let Ok(Command::Discover(all)) = parse_args(&[]) else {
        panic!("not parsed");
    };
    let (hcl, summary, failed) = rt
        .block_on(homelab::discover::run(&all, &env, &Value::Null))
        .unwrap();
    assert!(!failed, "{summary:?}");
    for b in [
        "proxmox",
        "technitium",
        "cloudflare",
        "routeros",
        "pfsense",
        "kubernetes",
    ] {
        assert!(
            summary.contains(&format!("{b}: not configured, not listed")),
            "{summary:?}"
        );
    }
    assert!(hcl.contains("#   Talos nodes: none to probe"), "{hcl}");
    assert!(!hcl.contains("import {"), "{hcl}");
}

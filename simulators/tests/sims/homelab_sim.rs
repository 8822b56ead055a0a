//! The `homelab-sim` binary starts every simulator and writes its env files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn writes_env_tfvars_and_ready_files() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("sim.env");
    let tfvars = dir.path().join("sim.tfvars.json");
    let ready = dir.path().join("ready");
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab-sim"))
        .arg("--env-file")
        .arg(&env)
        .arg("--tfvars")
        .arg(&tfvars)
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready_ok = ready.exists();
    let env_text = std::fs::read_to_string(&env).unwrap_or_default();
    let tf_text = std::fs::read_to_string(&tfvars).unwrap_or_default();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ready_ok, "ready file not written");
    for var in [
        "TECHNITIUM_URL",
        "TECHNITIUM_TOKEN",
        "CLOUDFLARE_BASE_URL",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ZONE_ID",
        "PROXMOX_VE_ENDPOINT",
        "PROXMOX_VE_API_TOKEN",
        "TALOS_NODES",
        "TALOS_ENDPOINT",
    ] {
        assert!(
            env_text.contains(&format!("export {var}=")),
            "{var} missing:\n{env_text}"
        );
    }
    let tf: serde_json::Value = serde_json::from_str(&tf_text).unwrap();
    let base = tf["cloudflare_base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/client/v4"));
    let talos = tf["talos_nodes"].as_object().unwrap();
    for n in ["cp1", "cp2", "cp3", "w1", "w2"] {
        assert!(
            talos[n].as_str().unwrap().starts_with("127.0.0.1:"),
            "{n}: {talos:?}"
        );
    }
    let pve = tf["proxmox_endpoint"].as_str().unwrap();
    assert!(pve.starts_with("http://127.0.0.1:") && pve.ends_with('/'));
    assert!(
        tf["proxmox_api_token"]
            .as_str()
            .unwrap()
            .contains("!labforge=")
    );
}

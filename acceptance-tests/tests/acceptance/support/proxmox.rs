//! Helpers shared by the Proxmox acceptance tests (`proxmox.rs` and
//! `proxmox_more.rs`).

use std::rc::Rc;

use super::REQUIRED_PROVIDERS;
use anyhow::{Result, ensure};
use labforge_simulators::proxmox::{
    ADMIN_TOKEN, AgentMode, NODES, ProxmoxSim, SEED_IMAGE, SEED_TEMPLATE,
};

pub const RT: &str = "homelab_proxmox_vm";
/// Simulated time runs this much faster than PVE's.
pub const TIME_FACTOR: f64 = 0.1;

pub fn sim() -> Rc<ProxmoxSim> {
    let s = ProxmoxSim::start().unwrap();
    s.set_time_factor(TIME_FACTOR);
    s.set_agent_mode(AgentMode::Running);
    Rc::new(s)
}

/// How the provider block authenticates.
#[derive(Clone, Copy)]
pub enum Auth {
    Token(&'static str),
    /// No credentials in the block: `PROXMOX_VE_USERNAME`/`_PASSWORD` from the environment.
    Env,
}

/// The root module: required_providers, the provider block (with `auth`) and `body`.
pub fn hcl(sim: &ProxmoxSim, auth: Auth, body: &str) -> String {
    let creds = match auth {
        Auth::Token(header) => format!(
            "\n    api_token = \"{}\"",
            header.strip_prefix("PVEAPIToken=").unwrap()
        ),
        Auth::Env => String::new(),
    };
    format!(
        r#"{REQUIRED_PROVIDERS}

provider "homelab" {{
  proxmox {{
    endpoint  = "{url}"{creds}
  }}
}}

{body}"#,
        url = sim.base_url(),
    )
}

/// [`hcl`] with the admin token.
pub fn admin(sim: &ProxmoxSim, body: &str) -> String {
    hcl(sim, Auth::Token(ADMIN_TOKEN), body)
}

pub fn addr(name: &str) -> String {
    format!("{RT}.{name}")
}

/// Only the seeded template is left.
pub fn only_seed_left(sim: &ProxmoxSim) -> Result<()> {
    let left = sim.list_vms();
    ensure!(
        left == vec![SEED_TEMPLATE],
        "VMs left in the simulator: {left:?}"
    );
    // Downloaded files are deleted too: only the seeded image remains.
    for node in NODES {
        let files = sim.volumes(node);
        ensure!(
            files == vec![SEED_IMAGE.to_string()],
            "files left on {node}: {files:?}"
        );
    }
    Ok(())
}

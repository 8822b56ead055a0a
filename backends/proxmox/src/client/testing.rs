//! Test helpers: clients of a local server or of the simulator.

use std::time::Duration;

use super::{Client, Form};
use crate::{Auth, Settings};

pub(crate) fn client_for(endpoint: String) -> Client {
    Client::new(Settings {
        endpoint,
        auth: Auth::Token("root@pam!t=00000000-0000-0000-0000-000000000000".into()),
        ca_cert: None,
        insecure: false,
    })
    .expect("client")
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> Form {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A client of a simulator that runs 20 times faster than PVE.
pub(crate) fn sim_client() -> (labforge_simulators::proxmox::ProxmoxSim, Client) {
    use labforge_simulators::proxmox::{ADMIN_TOKEN, ProxmoxSim};
    let sim = ProxmoxSim::start().expect("simulator");
    sim.set_time_factor(0.05);
    let mut c = Client::new(Settings {
        endpoint: sim.base_url(),
        auth: Auth::Token(ADMIN_TOKEN.into()),
        ca_cert: None,
        insecure: false,
    })
    .expect("client");
    c.retry_delay = Duration::from_millis(10);
    c.poll = (Duration::from_millis(10), Duration::from_millis(50));
    (sim, c)
}

//! The client against the Talos API simulator (`labforge_simulators::talos`):
//! maintenance mode, the install reboot, mTLS, forwarding, and the answers of
//! a configured node.

use std::time::{Duration, Instant};

use labforge_simulators::talos::testing::TestCluster;
use labforge_simulators::talos::{NodeSpec, TalosSim};
use labforge_talos::client::{
    ApplyMode, ApplyRequest, Auth, Client, Credentials, NodeState, Target,
};

/// A simulator with fast reboots.
pub(crate) fn sim(nodes: &[(&str, &str)]) -> TalosSim {
    let sim = TalosSim::start(nodes.iter().map(|(n, v)| NodeSpec::new(n, v)).collect()).unwrap();
    sim.set_boot_delay(Duration::from_millis(200));
    sim.set_reboot_delay(Duration::from_millis(20));
    sim.set_bootstrap_delay(Duration::ZERO);
    sim
}

/// The admin credentials of a test cluster.
pub(crate) fn admin(cl: &TestCluster) -> Credentials {
    let (cert, key) = cl.admin().unwrap();
    Credentials::from_client_configuration_b64(&cl.os_crt, &cert, &key).unwrap()
}

pub(crate) fn client() -> Client {
    Client::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_request_timeout(Duration::from_secs(10))
}

pub(crate) fn apply_req(config: &str, mode: ApplyMode) -> ApplyRequest {
    ApplyRequest {
        data: config.as_bytes().to_vec(),
        mode,
        dry_run: false,
        try_timeout: None,
    }
}

/// Applies `config` to `name` in maintenance mode and waits until it runs it.
pub(crate) async fn install(sim: &TalosSim, name: &str, config: &str) {
    let ep = sim.endpoint(name).unwrap();
    client()
        .apply_configuration(
            &Target::endpoint(ep),
            Auth::Insecure,
            &apply_req(config, ApplyMode::Auto),
        )
        .await
        .unwrap();
    let start = Instant::now();
    while !(sim.is_up(name) && sim.is_configured(name)) {
        assert!(start.elapsed() < Duration::from_secs(10), "{name} did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn node_state_of_a_maintenance_node_behind_a_configured_endpoint() {
    let sim = sim(&[("cp1", "v1.14.0"), ("cp2", "v1.14.0")]);
    let cl = TestCluster::new().unwrap();
    install(&sim, "cp1", &cl.controlplane("v1.14.0")).await;
    let creds = admin(&cl);
    let c = client();
    let through_cp1 = Target {
        endpoint: sim.endpoint("cp1").unwrap(),
        node: Some("cp2".into()),
    };
    // cp1 wants a client certificate (the insecure probe fails), the mTLS
    // Version is forwarded to cp2, which has no configuration.
    assert_eq!(
        c.node_state(&through_cp1, Some(&creds)).await.unwrap(),
        NodeState::Maintenance
    );
    assert_eq!(
        c.node_state(&Target::endpoint(sim.endpoint("cp1").unwrap()), Some(&creds))
            .await
            .unwrap(),
        NodeState::Configured {
            tag: "v1.14.0".into()
        }
    );
    install(&sim, "cp2", &cl.controlplane("v1.14.0")).await;
    assert_eq!(
        c.node_state(&through_cp1, Some(&creds)).await.unwrap(),
        NodeState::Configured {
            tag: "v1.14.0".into()
        }
    );
}

//! The client against the Talos API simulator (`labforge_simulators::talos`):
//! maintenance mode, the install reboot, mTLS, forwarding, and the answers of
//! a configured node.

use std::time::{Duration, Instant};

use labforge_simulators::talos::testing::TestCluster;
use labforge_simulators::talos::{NodeSpec, TalosSim};
use labforge_talos::client::{
    ApplyMode, ApplyRequest, Auth, Client, Credentials, ErrorKind, NodeState, ResetRequest, Target,
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
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} did not come up"
        );
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
        c.node_state(
            &Target::endpoint(sim.endpoint("cp1").unwrap()),
            Some(&creds)
        )
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

#[tokio::test]
async fn maintenance_then_mtls_version_and_machine_config() {
    let sim = sim(&[("cp1", "v1.13.9")]);
    let cl = TestCluster::new().unwrap();
    let ep = Target::endpoint(sim.endpoint("cp1").unwrap());
    let c = client();
    let v = c.version(&ep, Auth::Insecure).await.unwrap();
    assert_eq!((v.tag.as_str(), v.configured), ("v1.13.9", false));
    assert_eq!(
        c.node_state(&ep, None).await.unwrap(),
        NodeState::Maintenance
    );
    let config = cl.controlplane("v1.13.9");
    install(&sim, "cp1", &config).await;
    // A configured node wants a client certificate.
    // (TLS 1.3: the server's refusal comes after the client's handshake, so
    // it is seen either as the alert or as the connection closing.)
    let e = c.version(&ep, Auth::Insecure).await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::CertificateRejected | ErrorKind::Transport
        ),
        "{e}"
    );
    assert_eq!(
        c.node_state(&ep, Some(&admin(&cl))).await.unwrap(),
        NodeState::Configured {
            tag: "v1.13.9".into()
        }
    );
    let creds = admin(&cl);
    let v = c.version(&ep, Auth::Mtls(&creds)).await.unwrap();
    assert!(v.configured);
    assert_eq!(
        c.machine_config(&ep, &creds, "v1alpha1")
            .await
            .unwrap()
            .as_deref(),
        Some(config.as_str())
    );
    assert!(
        c.machine_config(&ep, &creds, "persistent")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(c.machine_config(&ep, &creds, "other").await.unwrap(), None);
    // Another cluster's credentials: the server certificate is not ours.
    let other = admin(&TestCluster::new().unwrap());
    let e = c.version(&ep, Auth::Mtls(&other)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn bootstrap_services_and_kubeconfig() {
    let sim = sim(&[("cp1", "v1.14.0")]);
    let cl = TestCluster::new().unwrap();
    install(&sim, "cp1", &cl.controlplane("v1.14.0")).await;
    let ep = Target::endpoint(sim.endpoint("cp1").unwrap());
    let (c, creds) = (client(), admin(&cl));
    let etcd = |s: Vec<labforge_talos::client::ServiceStatus>| {
        s.into_iter().find(|s| s.id == "etcd").unwrap()
    };
    assert_eq!(
        etcd(c.services(&ep, &creds).await.unwrap()).state,
        "Preparing"
    );
    c.bootstrap(&ep, &creds).await.unwrap();
    let e = c.bootstrap(&ep, &creds).await.unwrap_err();
    assert!(e.is_already_exists(), "{e}");
    let s = etcd(c.services(&ep, &creds).await.unwrap());
    assert_eq!((s.state.as_str(), s.healthy), ("Running", true));
    let k = c.kubeconfig(&ep, &creds).await.unwrap();
    assert!(k.contains("kind: Config"), "{k}");
}

#[tokio::test]
async fn reset_then_maintenance_or_power_off() {
    let sim = sim(&[("cp1", "v1.14.0"), ("w1", "v1.14.0")]);
    let cl = TestCluster::new().unwrap();
    install(&sim, "cp1", &cl.controlplane("v1.14.0")).await;
    install(&sim, "w1", &cl.worker("v1.14.0")).await;
    let (c, creds) = (client(), admin(&cl));
    let cp = Target::endpoint(sim.endpoint("cp1").unwrap());
    let r = c
        .reset(&cp, &creds, &ResetRequest::state_and_ephemeral(false, true))
        .await
        .unwrap();
    assert!(!r.actor_id.is_empty());
    c.wait_for_maintenance(&cp, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sim.reset_count("cp1"), 1);
    assert!(sim.applied_config("cp1").is_none());
    let w = Target::endpoint(sim.endpoint("w1").unwrap());
    c.reset(&w, &creds, &ResetRequest::state_and_ephemeral(false, false))
        .await
        .unwrap();
    c.wait_until_down(&w, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(sim.is_powered_off("w1"));
}

//! Discovery against the Talos simulator: a bootstrapped control plane, a
//! worker, a node in maintenance mode and an address nothing answers on.

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use labforge_simulators::talos::testing::TestCluster;
use labforge_simulators::talos::{NodeSpec, TalosSim};

use super::*;
use crate::client::{ApplyMode, ApplyRequest, Auth};
use crate::secrets::Contract;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn client() -> Client {
    Client::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_request_timeout(Duration::from_secs(10))
}

/// A file under the temp dir, unique per test.
fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "labforge-talos-discover-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("file");
    std::fs::write(&p, text).unwrap();
    p
}

fn talosconfig(cl: &TestCluster, roles: &[&str], nodes: &[String]) -> String {
    let (crt, key) = cl.client_cert(roles, time::Duration::days(1)).unwrap();
    let list = |v: &[String]| {
        v.iter()
            .map(|n| format!("\n      - {n}"))
            .collect::<String>()
    };
    format!(
        "context: lab\ncontexts:\n  lab:\n    endpoints:{}\n    nodes:{}\n    ca: {}\n    crt: {}\n    key: {}\n",
        list(&nodes[..1]),
        list(nodes),
        b64(&cl.os_crt),
        b64(&crt),
        b64(&key)
    )
}

/// cp1 (hostname `cp-one`, bootstrapped), w1 (configured), m1 (maintenance).
async fn lab() -> (TalosSim, TestCluster, Vec<String>) {
    let sim = TalosSim::start(vec![
        NodeSpec::new("cp1", "v1.14.0"),
        NodeSpec::new("w1", "v1.14.0"),
        NodeSpec::new("m1", "v1.14.0"),
    ])
    .unwrap();
    sim.set_boot_delay(Duration::from_millis(50));
    sim.set_bootstrap_delay(Duration::ZERO);
    sim.set_etcd_start_delay(Duration::ZERO);
    let cl = TestCluster::new().unwrap();
    let cp = cl
        .controlplane("v1.14.0")
        .replace("auto: stable", "hostname: cp-one");
    for (name, config) in [("cp1", cp), ("w1", cl.worker("v1.14.0"))] {
        let ep = sim.endpoint(name).unwrap();
        client()
            .apply_configuration(
                &Target::endpoint(&ep),
                Auth::Insecure,
                &ApplyRequest {
                    data: config.into_bytes(),
                    mode: ApplyMode::Auto,
                    dry_run: false,
                    try_timeout: None,
                },
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
    let (crt, key) = cl.admin().unwrap();
    let admin = Credentials::from_client_configuration_b64(&cl.os_crt, &crt, &key).unwrap();
    client()
        .bootstrap(&Target::endpoint(sim.endpoint("cp1").unwrap()), &admin)
        .await
        .unwrap();
    let addrs = ["cp1", "w1", "m1"]
        .iter()
        .map(|n| sim.endpoint(n).unwrap())
        .collect();
    (sim, cl, addrs)
}

fn found(inv: &Inventory) -> Vec<(String, String, String)> {
    inv.found
        .iter()
        .map(|f| (f.resource_type.clone(), f.name.clone(), f.id.clone()))
        .collect()
}

fn why_skipped<'a>(inv: &'a Inventory, what: &str) -> &'a str {
    inv.skipped
        .iter()
        .find(|s| s.what == what)
        .map(|s| s.why.as_str())
        .unwrap_or_else(|| panic!("{what} not skipped: {:?}", inv.skipped))
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_configured_nodes_and_the_bootstrap_with_an_admin_talosconfig() {
    let (sim, cl, addrs) = lab().await;
    let mut nodes = addrs.clone();
    nodes.push("127.0.0.1:1".into());
    let tc = temp_file("admin", &talosconfig(&cl, &["os:admin"], &nodes));
    let c = client().with_talosconfig(Some(tc));
    // The worker's config names no hostname and enables no stable one: the
    // default from its address (the simulator's nodes all listen on
    // 127.0.0.1), which its HostnameStatus reports.
    let w1_host = hostname_of(&cl, &addrs[1]).await.unwrap();
    assert_eq!(w1_host, "talos-127-0-0-1");
    let w1_name = labforge_framework::discover::resource_name(&[&w1_host]);
    let counters_before = sim.counters().snapshot();
    let inv = discover(&c, &Filter::all()).await.unwrap();
    assert_eq!(
        found(&inv),
        vec![
            (
                "talos_machine_configuration_apply".into(),
                "cp_one".into(),
                addrs[0].clone()
            ),
            (
                "talos_machine_bootstrap".into(),
                "lab".into(),
                addrs[0].clone()
            ),
            (
                "talos_machine_configuration_apply".into(),
                // The worker's config names no hostname: the one the node
                // made, from its HostnameStatus.
                w1_name.clone(),
                addrs[1].clone()
            ),
        ]
    );
    assert_eq!(inv.found[2].attributes["hostname"], w1_host);
    assert_eq!(inv.found[0].attributes["machine_type"], "controlplane");
    assert_eq!(inv.found[0].attributes["cluster"], "lab");
    assert!(why_skipped(&inv, &format!("Talos node {}", addrs[2])).contains("maintenance mode"));
    assert!(why_skipped(&inv, "Talos node 127.0.0.1:1").starts_with("unreachable: "));
    assert!(why_skipped(&inv, "machine secrets of cluster lab").contains("--secrets"));
    // Reads only: Version and COSI Get.
    let before: std::collections::BTreeMap<_, _> = counters_before.into_iter().collect();
    for (key, n) in sim.counters().snapshot() {
        if before.get(&key).copied().unwrap_or(0) < n {
            assert!(
                key.1.ends_with("/Version") || key.1 == "/cosi.resource.State/Get",
                "discovery sent {key:?}"
            );
        }
    }
}

fn name_of(addr: &str) -> String {
    labforge_framework::discover::resource_name(&[addr])
}

/// The hostname a node reports (COSI HostnameStatus), read with a reader
/// certificate; `None` when it has none.
async fn hostname_of(cl: &TestCluster, addr: &str) -> Option<String> {
    let (crt, key) = cl
        .client_cert(&["os:reader"], time::Duration::days(1))
        .unwrap();
    let reader = Credentials::from_client_configuration_b64(&cl.os_crt, &crt, &key).unwrap();
    let h = client()
        .hostname_status(&Target::endpoint(addr), &reader)
        .await
        .unwrap()?;
    assert_eq!(h.domainname, "");
    Some(h.hostname)
}

/// Applies `config` to a configured node with the admin certificate.
async fn reapply(cl: &TestCluster, addr: &str, config: String) {
    let (crt, key) = cl.admin().unwrap();
    let admin = Credentials::from_client_configuration_b64(&cl.os_crt, &crt, &key).unwrap();
    client()
        .apply_configuration(
            &Target::endpoint(addr),
            Auth::Mtls(&admin),
            &ApplyRequest {
                data: config.into_bytes(),
                mode: ApplyMode::Auto,
                dry_run: false,
                try_timeout: None,
            },
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_certificate_suffices_and_filters_narrow() {
    let (_sim, cl, addrs) = lab().await;
    let tc = temp_file("reader", &talosconfig(&cl, &["os:reader"], &addrs));
    let c = client().with_talosconfig(Some(tc));
    let inv = discover(&c, &Filter::all().with("node", [addrs[0].clone()]))
        .await
        .unwrap();
    // The configuration is sensitive (os:admin), but the hostname and the
    // cluster name are read from resources that are not.
    assert_eq!(
        found(&inv),
        vec![
            (
                "talos_machine_configuration_apply".into(),
                "cp_one".into(),
                addrs[0].clone()
            ),
            (
                "talos_machine_bootstrap".into(),
                "lab".into(),
                addrs[0].clone()
            ),
        ]
    );
    assert_eq!(inv.found[0].attributes["machine_type"], "controlplane");
    assert_eq!(inv.found[0].attributes["hostname"], "cp-one");
    assert_eq!(inv.found[0].attributes["cluster"], "lab");
    // The worker: the hostname it made, the same as an admin sees.
    let w1_host = hostname_of(&cl, &addrs[1]).await.unwrap();
    let inv = discover(&c, &Filter::all().with("node", [addrs[1].clone()]))
        .await
        .unwrap();
    assert_eq!(
        found(&inv),
        vec![(
            "talos_machine_configuration_apply".into(),
            labforge_framework::discover::resource_name(&[&w1_host]),
            addrs[1].clone()
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_hostnames_name_nodes_and_none_falls_back_to_the_address() {
    let (_sim, cl, addrs) = lab().await;
    let tc = temp_file("reader-gen", &talosconfig(&cl, &["os:reader"], &addrs));
    let c = client().with_talosconfig(Some(tc));
    let hostname_config = |auto: &str| {
        format!(
            "{}---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: {auto}\n",
            cl.worker("v1.14.0")
        )
    };
    // `auto: stable`: talos-xxx-yyy from the node's identity.
    reapply(&cl, &addrs[1], hostname_config("stable")).await;
    let stable = hostname_of(&cl, &addrs[1]).await.unwrap();
    let rest = stable.strip_prefix("talos-").unwrap();
    assert!(
        rest.len() == 7
            && rest.as_bytes()[3] == b'-'
            && rest
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase()),
        "{stable}"
    );
    let inv = discover(&c, &Filter::all().with("node", [addrs[1].clone()]))
        .await
        .unwrap();
    assert_eq!(
        found(&inv),
        vec![(
            "talos_machine_configuration_apply".into(),
            labforge_framework::discover::resource_name(&[&stable]),
            addrs[1].clone()
        )]
    );
    assert_eq!(inv.found[0].attributes["hostname"], stable);
    // `auto: off` and no hostname: no HostnameStatus, the address.
    reapply(&cl, &addrs[1], hostname_config("off")).await;
    assert_eq!(hostname_of(&cl, &addrs[1]).await, None);
    let inv = discover(&c, &Filter::all().with("node", [addrs[1].clone()]))
        .await
        .unwrap();
    assert_eq!(
        found(&inv),
        vec![(
            "talos_machine_configuration_apply".into(),
            name_of(&addrs[1]),
            addrs[1].clone()
        )]
    );
    assert!(!inv.found[0].attributes.contains_key("hostname"));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_talosconfig_configured_nodes_are_skipped() {
    let (_sim, _cl, addrs) = lab().await;
    // Nothing to probe: not an error, one skip saying how to name nodes.
    let none = discover(&client(), &Filter::all()).await.unwrap();
    assert!(none.found.is_empty());
    assert!(why_skipped(&none, "Talos nodes").contains("--node"));
    let inv = discover(&client(), &Filter::all().with("node", addrs.clone()))
        .await
        .unwrap();
    assert!(inv.found.is_empty(), "{:?}", found(&inv));
    assert!(why_skipped(&inv, &format!("Talos node {}", addrs[0])).contains("needs a talosconfig"));
    assert!(why_skipped(&inv, &format!("Talos node {}", addrs[2])).contains("maintenance"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secrets_filter_lists_the_bundle() {
    let (_sim, cl, addrs) = lab().await;
    let bundle = Bundle::generate(Contract::from_str("v1.14").unwrap()).unwrap();
    let path = temp_file("secrets", &bundle.to_yaml());
    let bogus = temp_file("bogus", "not: a bundle\n");
    let tc = temp_file("admin2", &talosconfig(&cl, &["os:admin"], &addrs[..1]));
    let c = client().with_talosconfig(Some(tc));
    let p = path.display().to_string();
    let b = bogus.display().to_string();
    let inv = discover(&c, &Filter::all().with("secrets", [p.clone(), b.clone()]))
        .await
        .unwrap();
    let f = inv
        .found
        .iter()
        .find(|f| f.resource_type == "talos_machine_secrets")
        .unwrap();
    assert_eq!((f.name.as_str(), f.id.as_str()), ("lab", p.as_str()));
    assert!(why_skipped(&inv, &format!("secrets file {b}")).contains("not a secrets bundle"));
}

#[test]
fn running_configs_give_hostname_cluster_and_type() {
    let r = read_running(
        "version: v1alpha1\nmachine:\n  type: worker\n  network:\n    hostname: w-1\ncluster:\n  clusterName: home\n",
    );
    assert_eq!(r.hostname.as_deref(), Some("w-1"));
    assert_eq!(r.cluster.as_deref(), Some("home"));
    assert_eq!(r.machine_type.as_deref(), Some("worker"));
    let r = read_running(
        "version: v1alpha1\nmachine:\n  type: controlplane\n---\napiVersion: v1alpha1\nkind: KubeClusterConfig\nclusterName: lab\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: cp-1\n",
    );
    assert_eq!(r.hostname.as_deref(), Some("cp-1"));
    assert_eq!(r.cluster.as_deref(), Some("lab"));
    assert!(read_running("{{{").hostname.is_none());
}

#[test]
fn talosconfig_nodes_fall_back_to_endpoints() {
    let cl = TestCluster::new().unwrap();
    let text = talosconfig(&cl, &["os:admin"], &["10.0.0.1".to_string()]);
    let p = temp_file("tc", &text.replace("    nodes:\n      - 10.0.0.1\n", ""));
    let (nodes, creds) = load_talosconfig(&p).unwrap();
    assert_eq!(nodes, vec!["10.0.0.1".to_string()]);
    assert!(creds.is_some());
    let p = temp_file("tc-bad", "context: other\ncontexts: {}\n");
    let e = load_talosconfig(&p).err().unwrap();
    assert!(
        format!("{e:?}").contains("no context \\\"other\\\""),
        "{e:?}"
    );
}

//! Talos Linux API simulator: one apid port (gRPC over TLS) per node.
//!
//! Start nodes with [`TalosSim::start`]; each listens on its own
//! `127.0.0.1` port ([`TalosSim::endpoint`]). A node starts in maintenance
//! mode (self-signed certificate, no client certificate, every caller is
//! `os:reader`). The first `ApplyConfiguration` installs and reboots it:
//! after [`TalosSim::set_boot_delay`] it comes back configured, serving a
//! certificate from the OS CA of its config and requiring client
//! certificates of that CA whose Organization carries the roles
//! (`os:admin`, `os:operator`, `os:reader`).
//!
//! Served (package, names and field numbers from siderolabs/talos
//! `api/machine/machine.proto`, `api/common/common.proto` and COSI's
//! `state.proto`; our own copies in `simulators/proto/talos/`):
//! `machine.MachineService/{ApplyConfiguration, Bootstrap, Kubeconfig,
//! Reboot, Reset, ServiceList, Version}` and `cosi.resource.State/Get` for
//! `MachineConfigs.config.talos.dev` (`v1alpha1`, `persistent`).
//! Behaviour follows Talos v1.13.9 and v1.14.0 (`v1alpha1_server.go`; the
//! texts are quoted from it): per-version apply modes, strict config
//! decoding and the official JSON schema ([`schema::validate_config`]),
//! the bootstrap state machine, the kubeconfig stream, and Reset (answered at
//! once, then the sequence: leave etcd if graceful, wipe, reboot into
//! maintenance mode or power off; see [`TalosSim::reset_error`]).
//!
//! Test hooks: [`TalosSim::replace_config`], [`TalosSim::wipe`],
//! [`TalosSim::reboot`], [`TalosSim::bootstrap_not_ready_for`],
//! [`TalosSim::time_out_of_sync`], [`TalosSim::fail_next`],
//! [`TalosSim::drop_next_apply_answer`], [`TalosSim::set_apply_delay`],
//! [`TalosSim::hold_apply`],
//! [`TalosSim::set_etcd_start_delay`], [`TalosSim::etcd_unhealthy`],
//! [`TalosSim::power_on`], and connection-level faults at the n-th call of
//! any RPC ([`TalosSim::faults`]);
//! inspection: [`TalosSim::applied_config`],
//! [`TalosSim::persistent_config`], [`TalosSim::bootstrapped`],
//! [`TalosSim::apply_count`], [`TalosSim::reset_count`],
//! [`TalosSim::is_powered_off`], [`TalosSim::etcd_members`],
//! [`TalosSim::counters`].

mod api;
mod config;
mod kubeconfig;
mod modes;
pub mod proto;
mod reset;
pub mod schema;
mod server;
pub mod testing;
mod tls;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::common::{Counters, Faults, lock};
pub use config::MachineType;
pub use schema::validate_config;
/// The gRPC status codes [`TalosSim::fail_next`] takes (tonic's).
pub use tonic::Code;

/// The Talos versions a node can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TalosVersion {
    /// v1.13.9: AUTO may reboot, NO_REBOOT/TRY refuse changes that need one.
    V1_13,
    /// v1.14.0: no reboot on apply; REBOOT is Unimplemented, AUTO is NO_REBOOT.
    V1_14,
}

/// A node to start.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The node's name (hostname in proxied answers; a SAN of its certificate).
    pub name: String,
    /// The version tag it reports: `v1.13.9`, `v1.14.0`, ... (v1.13.x and
    /// v1.14.x are modelled).
    pub version: String,
}

impl NodeSpec {
    /// A node of this name and version tag.
    pub fn new(name: &str, version: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_string(),
            version: version.to_string(),
        }
    }
}

/// Errors starting the simulator.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "starting the Talos simulator: {}", self.0)
    }
}

impl std::error::Error for StartError {}

/// A node's state.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) version: TalosVersion,
    pub(crate) tag: String,
    pub(crate) addr: SocketAddr,
    /// The running config (COSI `v1alpha1`).
    pub(crate) running: Option<String>,
    /// The config on disk (COSI `persistent`), used at the next boot.
    pub(crate) persistent: Option<String>,
    /// The node identity (`Identities.cluster.talos.dev` `local`, kept in
    /// the STATE partition: a wipe of STATE makes a new one); the stable
    /// default hostname derives from it.
    pub(crate) node_id: String,
    /// The TLS side of the listener as it is now.
    pub(crate) tls: Arc<rustls::ServerConfig>,
    /// Whether the listener serves mTLS (a config was loaded at boot).
    pub(crate) configured: bool,
    /// Rebooting: unreachable until then.
    pub(crate) down_until: Option<Instant>,
    /// A reboot is scheduled (apply with reboot, Reboot RPC).
    pub(crate) reboot_pending: bool,
    pub(crate) bootstrap_not_before: Instant,
    pub(crate) time_in_sync: bool,
    pub(crate) bootstrapped: bool,
    /// When etcd started on this node (bootstrap, or joining a bootstrapped
    /// cluster at boot): its health is unknown for the etcd start delay.
    pub(crate) etcd_started: Option<Instant>,
    /// Test hook: etcd runs but fails its health check.
    pub(crate) etcd_unhealthy: bool,
    pub(crate) applying: bool,
    /// Test hook: another client's apply runs until then.
    pub(crate) busy_until: Option<Instant>,
    /// TRY mode: the running config reverts to `persistent` then.
    pub(crate) try_until: Option<Instant>,
    /// Bumped to close every open connection (reboot, wipe).
    pub(crate) generation: watch::Sender<u64>,
    pub(crate) fail_next: Vec<(String, tonic::Code, String)>,
    pub(crate) drop_next_apply: bool,
    pub(crate) apply_count: u64,
    /// Powered off by a reset without reboot: down until [`TalosSim::power_on`].
    pub(crate) powered_off: bool,
    /// Reset sequences that ran to the end.
    pub(crate) reset_count: u64,
    /// Why the last reset sequence failed (the node kept running).
    pub(crate) reset_error: Option<String>,
    pub(crate) counters: Counters,
}

/// Every node, and what they share.
pub(crate) struct Cluster {
    pub(crate) nodes: BTreeMap<String, Node>,
    /// OS CA keys learnt from control plane configs, by CA certificate PEM.
    pub(crate) ca_keys: HashMap<String, String>,
    pub(crate) kubernetes: Option<kubeconfig::KubeTarget>,
    pub(crate) boot_delay: Duration,
    pub(crate) reboot_delay: Duration,
    pub(crate) bootstrap_delay: Duration,
    /// How long etcd's health stays unknown after it starts.
    pub(crate) etcd_start_delay: Duration,
    pub(crate) apply_delay: Duration,
    /// etcd members by cluster (OS CA): set at Bootstrap and when a control
    /// plane of a bootstrapped cluster boots; left by a graceful reset.
    pub(crate) etcd: HashMap<String, std::collections::BTreeSet<String>>,
    /// Numbers the reset sequences (their actor IDs).
    pub(crate) resets: u64,
    pub(crate) counters: Counters,
    /// Faults injected by the connection layer (`server.rs`), before the
    /// handlers (their counters included) see the call.
    pub(crate) faults: Faults,
}

pub(crate) type Shared = Arc<Mutex<Cluster>>;

fn ca_id(pem: &str) -> String {
    pem.split_whitespace().collect()
}

/// The cluster (OS CA) a config belongs to.
pub(crate) fn cluster_of(config: Option<&String>) -> Option<String> {
    let docs = config::parse_documents(config?).ok()?;
    config::os_ca(&docs).map(|(crt, _)| ca_id(&crt))
}

impl Cluster {
    /// Applies what time changed: TRY reverts, reboots that finished.
    pub(crate) fn tick(&mut self, name: &str) {
        let now = Instant::now();
        let bootstrap_delay = self.bootstrap_delay;
        let Some(node) = self.nodes.get_mut(name) else {
            return;
        };
        if node.try_until.is_some_and(|t| now >= t) {
            node.try_until = None;
            node.running = node.persistent.clone();
        }
        if node.powered_off || node.down_until.is_none_or(|t| now < t) {
            return;
        }
        // Boot: the config on disk becomes the running one.
        let config = node.persistent.clone();
        let tls = match &config {
            None => tls::maintenance(&node.name),
            Some(text) => {
                let docs = config::parse_documents(text).unwrap_or_default();
                match config::os_ca(&docs) {
                    None => Err("no OS CA in the config".to_string()),
                    Some((crt, key)) => {
                        let key = key.or_else(|| self.ca_keys.get(&ca_id(&crt)).cloned());
                        match key {
                            // A worker whose CA key no control plane gave us
                            // yet: it stays down (trustd unreachable).
                            None => return,
                            Some(k) => tls::configured(&node.name, &crt, &k),
                        }
                    }
                }
            }
        };
        let Ok(tls) = tls else {
            // A config the simulator cannot serve: stay down.
            return;
        };
        node.tls = tls;
        node.configured = config.is_some();
        let control_plane = config
            .as_ref()
            .and_then(|t| config::parse_documents(t).ok())
            .is_some_and(|d| config::machine_type(&d) == Some(MachineType::ControlPlane));
        let cluster = cluster_of(config.as_ref());
        node.running = config;
        node.down_until = None;
        node.reboot_pending = false;
        node.try_until = None;
        node.bootstrap_not_before = now + bootstrap_delay;
        // etcd restarts with the node (its data survives unless wiped).
        node.etcd_started = (control_plane && node.bootstrapped).then_some(now);
        // A control plane of a bootstrapped cluster joins its etcd.
        if let Some(members) = cluster.and_then(|c| self.etcd.get_mut(&c))
            && control_plane
        {
            members.insert(name.to_string());
            node.etcd_started = Some(now);
        }
    }

    /// Starts a reboot now: every connection closes, the node is down for
    /// the boot delay.
    pub(crate) fn begin_reboot(&mut self, name: &str) {
        let boot = self.boot_delay;
        if let Some(n) = self.nodes.get_mut(name) {
            n.down_until = Some(Instant::now() + boot);
            n.reboot_pending = true;
            n.generation.send_modify(|g| *g += 1);
        }
    }

    /// Learns the OS CA key of a control plane config.
    pub(crate) fn learn_ca(&mut self, docs: &[config::Document]) {
        if let Some((crt, Some(key))) = config::os_ca(docs) {
            self.ca_keys.insert(ca_id(&crt), key);
        }
    }
}

/// Schedules a reboot after the cluster's reboot delay (the answer gets out first).
pub(crate) fn schedule_reboot(shared: &Shared, name: &str) {
    let (shared, name) = (shared.clone(), name.to_string());
    let delay = lock(&shared).reboot_delay;
    if let Some(n) = lock(&shared).nodes.get_mut(&name) {
        n.reboot_pending = true;
    }
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        lock(&shared).begin_reboot(&name);
    });
}

/// A running Talos simulator. Stops when dropped.
pub struct TalosSim {
    shared: Shared,
    server: server::Server,
}

impl std::fmt::Debug for TalosSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = lock(&self.shared).nodes.keys().cloned().collect();
        f.debug_struct("TalosSim").field("nodes", &names).finish()
    }
}

impl TalosSim {
    /// Starts every node on an ephemeral port of 127.0.0.1.
    pub fn start(nodes: Vec<NodeSpec>) -> Result<TalosSim, StartError> {
        Self::start_on_ports(nodes.into_iter().map(|n| (n, 0)).collect())
    }

    /// Starts every node on its port (`0`: ephemeral).
    pub fn start_on_ports(nodes: Vec<(NodeSpec, u16)>) -> Result<TalosSim, StartError> {
        let mut listeners = Vec::new();
        let mut map = BTreeMap::new();
        for (spec, port) in nodes {
            let version = if spec.version.trim_start_matches('v').starts_with("1.13") {
                TalosVersion::V1_13
            } else if spec.version.trim_start_matches('v').starts_with("1.14") {
                TalosVersion::V1_14
            } else {
                return Err(StartError(format!(
                    "node {}: version {} is not modelled (v1.13.x, v1.14.x)",
                    spec.name, spec.version
                )));
            };
            if map.contains_key(&spec.name) {
                return Err(StartError(format!("node {} twice", spec.name)));
            }
            let l = std::net::TcpListener::bind(("127.0.0.1", port))
                .map_err(|e| StartError(format!("node {}: {e}", spec.name)))?;
            let addr = l
                .local_addr()
                .map_err(|e| StartError(format!("node {}: {e}", spec.name)))?;
            let tls = tls::maintenance(&spec.name).map_err(StartError)?;
            map.insert(
                spec.name.clone(),
                Node {
                    name: spec.name.clone(),
                    version,
                    tag: spec.version.clone(),
                    addr,
                    running: None,
                    persistent: None,
                    node_id: new_node_id(),
                    tls,
                    configured: false,
                    down_until: None,
                    reboot_pending: false,
                    bootstrap_not_before: Instant::now(),
                    time_in_sync: true,
                    bootstrapped: false,
                    etcd_started: None,
                    etcd_unhealthy: false,
                    applying: false,
                    busy_until: None,
                    try_until: None,
                    generation: watch::channel(0).0,
                    fail_next: Vec::new(),
                    drop_next_apply: false,
                    apply_count: 0,
                    powered_off: false,
                    reset_count: 0,
                    reset_error: None,
                    counters: Counters::default(),
                },
            );
            listeners.push((spec.name, l));
        }
        let shared = Arc::new(Mutex::new(Cluster {
            nodes: map,
            ca_keys: HashMap::new(),
            kubernetes: None,
            boot_delay: Duration::from_secs(2),
            reboot_delay: Duration::from_millis(200),
            bootstrap_delay: Duration::from_millis(500),
            etcd_start_delay: Duration::ZERO,
            apply_delay: Duration::ZERO,
            etcd: HashMap::new(),
            resets: 0,
            counters: Counters::default(),
            faults: Faults::default(),
        }));
        let server = server::Server::start(shared.clone(), listeners)
            .map_err(|e| StartError(e.to_string()))?;
        Ok(TalosSim { shared, server })
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Node) -> T) -> Option<T> {
        let mut c = lock(&self.shared);
        c.tick(name);
        c.nodes.get_mut(name).map(f)
    }

    /// The node names.
    pub fn names(&self) -> Vec<String> {
        lock(&self.shared).nodes.keys().cloned().collect()
    }

    /// `127.0.0.1:PORT` of a node.
    pub fn endpoint(&self, name: &str) -> Option<String> {
        lock(&self.shared)
            .nodes
            .get(name)
            .map(|n| n.addr.to_string())
    }

    /// How long a node is unreachable while it reboots (default 2 s).
    pub fn set_boot_delay(&self, d: Duration) {
        lock(&self.shared).boot_delay = d;
    }

    /// How long a node keeps answering between an apply that reboots and the
    /// reboot (default 200 ms).
    pub fn set_reboot_delay(&self, d: Duration) {
        lock(&self.shared).reboot_delay = d;
    }

    /// How long after a boot Bootstrap answers `bootstrap is not available
    /// yet` (default 500 ms).
    pub fn set_bootstrap_delay(&self, d: Duration) {
        lock(&self.shared).bootstrap_delay = d;
    }

    /// How long an apply takes (default 0): a second apply meanwhile fails
    /// `another apply configuration is already in progress`.
    pub fn set_apply_delay(&self, d: Duration) {
        lock(&self.shared).apply_delay = d;
    }

    /// Kubeconfigs point at this apiserver instead of one made from the
    /// applied config (the demo points them at the Kubernetes simulator).
    pub fn set_kubernetes(&self, server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) {
        lock(&self.shared).kubernetes = Some(kubeconfig::KubeTarget {
            server: server.to_string(),
            ca_pem: ca_pem.to_string(),
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
        });
    }

    /// Another client's apply runs on the node for `d` from now: applies
    /// meanwhile fail `another apply configuration is already in progress`
    /// (lock contention).
    pub fn hold_apply(&self, name: &str, d: Duration) {
        self.with(name, |n| n.busy_until = Some(Instant::now() + d));
    }

    /// Replaces a node's running and persistent config behind the
    /// provider's back (drift), without a reboot or checks.
    pub fn replace_config(&self, name: &str, yaml: &str) {
        self.with(name, |n| {
            n.running = Some(yaml.to_string());
            n.persistent = Some(yaml.to_string());
        });
    }

    /// Wipes a node: back to maintenance mode (no config, a new self-signed
    /// certificate, not bootstrapped, its etcd data gone: it is no longer a
    /// member, and a cluster it was the last member of is gone); open
    /// connections close.
    pub fn wipe(&self, name: &str) {
        {
            let mut c = lock(&self.shared);
            let cluster = c
                .nodes
                .get(name)
                .and_then(|n| cluster_of(n.running.as_ref()));
            if let Some(id) = cluster
                && let Some(members) = c.etcd.get_mut(&id)
            {
                members.remove(name);
                if members.is_empty() {
                    c.etcd.remove(&id);
                }
            }
        }
        self.with(name, |n| {
            n.etcd_started = None;
            n.running = None;
            n.persistent = None;
            n.node_id = new_node_id();
            n.configured = false;
            n.bootstrapped = false;
            n.down_until = None;
            n.reboot_pending = false;
            n.try_until = None;
            if let Ok(t) = tls::maintenance(&n.name) {
                n.tls = t;
            }
            n.generation.send_modify(|g| *g += 1);
        });
    }

    /// Reboots a node now (staged configs take effect when it is back).
    pub fn reboot(&self, name: &str) {
        lock(&self.shared).begin_reboot(name);
    }

    /// Powers on a node a reset powered off: it boots (the boot delay) from
    /// what is left on its disk.
    pub fn power_on(&self, name: &str) {
        let boot = lock(&self.shared).boot_delay;
        self.with(name, |n| {
            if n.powered_off {
                n.powered_off = false;
                n.down_until = Some(Instant::now() + boot);
            }
        });
    }

    /// Whether a reset without reboot powered the node off.
    pub fn is_powered_off(&self, name: &str) -> bool {
        self.with(name, |n| n.powered_off).unwrap_or(false)
    }

    /// Reset sequences that ran to the end on the node.
    pub fn reset_count(&self, name: &str) -> u64 {
        self.with(name, |n| n.reset_count).unwrap_or(0)
    }

    /// Why the node's last reset sequence failed, if it did (Talos logs it
    /// and keeps running; the RPC had already answered).
    pub fn reset_error(&self, name: &str) -> Option<String> {
        self.with(name, |n| n.reset_error.clone()).flatten()
    }

    /// The etcd members of the cluster the node runs (by node name).
    pub fn etcd_members(&self, name: &str) -> Vec<String> {
        let c = lock(&self.shared);
        c.nodes
            .get(name)
            .and_then(|n| cluster_of(n.running.as_ref()))
            .and_then(|id| c.etcd.get(&id))
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the node is up (not rebooting).
    pub fn is_up(&self, name: &str) -> bool {
        self.with(name, |n| n.down_until.is_none()).unwrap_or(false)
    }

    /// Whether the node runs a config (serves mTLS).
    pub fn is_configured(&self, name: &str) -> bool {
        self.with(name, |n| n.configured).unwrap_or(false)
    }

    /// How long etcd's health stays unknown after etcd starts (bootstrap,
    /// boot of a member); `ServiceList` shows it then.
    pub fn set_etcd_start_delay(&self, d: Duration) {
        lock(&self.shared).etcd_start_delay = d;
    }

    /// Restarts etcd on the node (if it runs): its health is unknown again
    /// for the etcd start delay.
    pub fn restart_etcd(&self, name: &str) {
        self.with(name, |n| {
            if n.etcd_started.is_some() {
                n.etcd_started = Some(Instant::now());
            }
        });
    }

    /// Makes etcd on the node fail its health check (`ServiceList`: state
    /// `Running`, not healthy) while `yes`.
    pub fn etcd_unhealthy(&self, name: &str, yes: bool) {
        self.with(name, |n| n.etcd_unhealthy = yes);
    }

    /// Bootstrap answers `bootstrap is not available yet` for `d` from now.
    pub fn bootstrap_not_ready_for(&self, name: &str, d: Duration) {
        self.with(name, |n| n.bootstrap_not_before = Instant::now() + d);
    }

    /// Bootstrap answers `time is not in sync yet` while `yes`.
    pub fn time_out_of_sync(&self, name: &str, yes: bool) {
        self.with(name, |n| n.time_in_sync = !yes);
    }

    /// The next call of `rpc` (`ApplyConfiguration`, `Bootstrap`,
    /// `Kubeconfig`, `Reboot`, `Version`, `Get`) on the node fails with this
    /// status, before any check.
    pub fn fail_next(&self, name: &str, rpc: &str, code: tonic::Code, message: &str) {
        self.with(name, |n| {
            n.fail_next
                .push((rpc.to_string(), code, message.to_string()))
        });
    }

    /// The next apply on the node takes effect, then its connection is
    /// closed before the answer is sent.
    pub fn drop_next_apply_answer(&self, name: &str) {
        self.with(name, |n| n.drop_next_apply = true);
    }

    /// The running config (COSI `v1alpha1`).
    pub fn applied_config(&self, name: &str) -> Option<String> {
        self.with(name, |n| n.running.clone()).flatten()
    }

    /// The persistent config (COSI `persistent`).
    pub fn persistent_config(&self, name: &str) -> Option<String> {
        self.with(name, |n| n.persistent.clone()).flatten()
    }

    /// Whether Bootstrap succeeded on the node.
    pub fn bootstrapped(&self, name: &str) -> bool {
        self.with(name, |n| n.bootstrapped).unwrap_or(false)
    }

    /// Applies that changed something (dry runs and refusals not counted).
    pub fn apply_count(&self, name: &str) -> u64 {
        self.with(name, |n| n.apply_count).unwrap_or(0)
    }

    /// Calls of every node, by (`GRPC`, `/package.Service/Method`).
    pub fn counters(&self) -> Counters {
        lock(&self.shared).counters.clone()
    }

    /// Fault rules of every node, matched on (`GRPC`,
    /// `/package.Service/Method`) as [`TalosSim::counters`] names calls
    /// (shared: cloning shares the rules). What each fault does to a gRPC
    /// call: `Status(_)` answers `Unavailable` (a gRPC server error) without
    /// running the handler; `RateLimited` answers `ResourceExhausted` (gRPC
    /// has no `Retry-After`); `Reset` closes the connection before the
    /// handler runs (nothing changes); `ResetAfterHandling` runs the handler
    /// (the node's state changes), then closes the connection instead of
    /// answering; `Delay(d)` waits `d`, then handles the call.
    pub fn faults(&self) -> Faults {
        lock(&self.shared).faults.clone()
    }

    /// Calls of one node.
    pub fn node_counters(&self, name: &str) -> Option<Counters> {
        lock(&self.shared)
            .nodes
            .get(name)
            .map(|n| n.counters.clone())
    }

    /// Stops every node (also done on drop).
    pub fn stop(self) {
        drop(self.server);
    }
}

/// A new random node identity (`IdentitySpec.NodeID` of siderolabs/talos
/// `pkg/machinery/resources/cluster/identity.go`: "a random value which is
/// persisted across reboots, but it gets reset on wipe"); hex here, only
/// its hash is used.
pub(crate) fn new_node_id() -> String {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    // The system RNG does not fail on the platforms the simulator runs on;
    // a failure leaves zeros, which is still an identity.
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The gRPC handlers: MachineService and the COSI State service, as
//! machined and apid answer them (siderolabs/talos
//! `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`,
//! `internal/app/internal/machinehelper/machinehelper.go`,
//! `internal/app/resources/access.go`, `pkg/grpc/middleware/authz/
//! authorizer.go`; tags v1.13.9 and v1.14.0-rc.1). Error texts are quoted
//! from those files.
//!
//! `Reset` is in `reset.rs`, how an apply's mode resolves per version in
//! `modes.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use super::config::{self, MachineType};
use super::kubeconfig::{self, KubeTarget};
use super::modes::{DEFAULT_TRY_TIMEOUT, Effect, maintenance_mode_allowed, resolve_mode};
use super::proto::common::{Data, Metadata};
use super::proto::cosi::resource as cosi;
use super::proto::machine::{
    self as pb, apply_configuration_request::Mode, machine_service_server::MachineService,
};
use super::schema::{self, SchemaVersion};
use super::tls::{Level, level};
use super::{Cluster, Node, Shared, TalosVersion, cluster_of, schedule_reboot};
use crate::common::lock;

/// Who is calling over this connection.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    /// Maintenance mode: no client certificate; every caller is `os:reader`.
    Maintenance,
    /// mTLS: the client certificate's roles.
    Roles(Vec<String>),
}

/// The handlers of one connection.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) shared: Shared,
    pub(crate) node: String,
    pub(crate) peer: Peer,
    /// Closes this connection (an answer lost on the way back).
    pub(crate) kill: Arc<Notify>,
}

/// A server stream of `common.Data`.
type DataStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Data, Status>> + Send + 'static>>;

/// `ErrNotAuthorized` of Talos's authorizer.
fn not_authorized() -> Status {
    Status::permission_denied("not authorized")
}

/// `MachineConfigs.config.talos.dev`.
const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";
/// `MachineTypes.config.talos.dev` (ID `machine-type`, not sensitive).
const MACHINE_TYPE_TYPE: &str = "MachineTypes.config.talos.dev";

/// `Services.v1alpha1.talos.dev` (namespace `runtime`, ID the service).
const SERVICE_TYPE: &str = "Services.v1alpha1.talos.dev";

/// `HostnameStatuses.net.talos.dev` (siderolabs/talos
/// `pkg/machinery/resources/network/hostname_status.go`): namespace
/// `network`, ID `hostname`, spec `hostname` and `domainname`; its
/// definition sets no `Sensitivity`, so `access.go` lets `os:reader` read it.
const HOSTNAME_STATUS_TYPE: &str = "HostnameStatuses.net.talos.dev";

/// `Infos.cluster.talos.dev` (siderolabs/talos
/// `pkg/machinery/resources/cluster/info.go`): namespace `cluster`, ID
/// `current`, spec `clusterId` and `clusterName`; not sensitive.
const CLUSTER_INFO_TYPE: &str = "Infos.cluster.talos.dev";

/// COSI resource types Talos has, with their default namespace
/// (siderolabs/talos `pkg/machinery/resources/*`): the two of namespace
/// `config`, `Services`, `HostnameStatuses` and `Infos` are modelled; Get of the others answers Unimplemented with a
/// "not simulated" marker. Types Talos does not have are refused as
/// `access.go` refuses them.
const TALOS_TYPES: &[(&str, &str)] = &[
    (MACHINE_CONFIG_TYPE, "config"),
    (MACHINE_TYPE_TYPE, "config"),
    (SERVICE_TYPE, "runtime"),
    ("MachineStatuses.runtime.talos.dev", "runtime"),
    ("ExtensionStatuses.runtime.talos.dev", "runtime"),
    ("KernelParamStatuses.runtime.talos.dev", "runtime"),
    ("MountStatuses.runtime.talos.dev", "runtime"),
    ("VolumeStatuses.block.talos.dev", "runtime"),
    ("Disks.block.talos.dev", "runtime"),
    (HOSTNAME_STATUS_TYPE, "network"),
    ("AddressStatuses.net.talos.dev", "network"),
    ("LinkStatuses.net.talos.dev", "network"),
    ("RouteStatuses.net.talos.dev", "network"),
    ("ResolverStatuses.net.talos.dev", "network"),
    ("NodeAddresses.net.talos.dev", "network"),
    ("Members.cluster.talos.dev", "cluster"),
    ("Affiliates.cluster.talos.dev", "cluster"),
    ("Identities.cluster.talos.dev", "cluster"),
    (CLUSTER_INFO_TYPE, "cluster"),
    ("Nodenames.kubernetes.talos.dev", "k8s"),
    ("StaticPodStatuses.kubernetes.talos.dev", "k8s"),
    ("EtcdMembers.etcd.talos.dev", "etcd"),
];

/// The namespaces Talos's resources live in.
const TALOS_NAMESPACES: &[&str] = &[
    "config",
    "runtime",
    "network",
    "cluster",
    "k8s",
    "etcd",
    "secrets",
    "controlplane",
];
impl Api {
    fn level(&self) -> Option<Level> {
        match &self.peer {
            Peer::Maintenance => Some(Level::Reader),
            Peer::Roles(r) => level(r),
        }
    }

    /// The caller's level for a call that `node` serves. A call forwarded
    /// (metadata `node`) to a node in maintenance mode runs under that
    /// node's rules: every caller is `os:reader` there, whatever roles the
    /// certificate presented to the forwarding node carries (maintenance
    /// mode knows no client certificates), so sensitive reads are refused.
    fn level_on(&self, node: &str) -> Option<Level> {
        if node != self.node {
            let c = lock(&self.shared);
            if c.nodes.get(node).is_some_and(|n| !n.configured) {
                return Some(Level::Reader);
            }
        }
        self.level()
    }

    pub(super) fn require(&self, node: &str, need: Level) -> Result<(), Status> {
        match self.level_on(node) {
            Some(l) if l >= need => Ok(()),
            _ => Err(not_authorized()),
        }
    }

    /// The node a request is for: the receiving one, or the one named in
    /// the `node` metadata (apid proxies to it; answers then carry its
    /// hostname).
    pub(super) fn target<T>(&self, req: &Request<T>) -> Result<(String, Option<Metadata>), Status> {
        let Some(v) = req.metadata().get("node").and_then(|v| v.to_str().ok()) else {
            return Ok((self.node.clone(), None));
        };
        let c = lock(&self.shared);
        let found = c
            .nodes
            .values()
            .find(|n| {
                n.name == v
                    || n.addr.to_string() == v
                    || (n.name == self.node && (v == "127.0.0.1" || v == "localhost"))
            })
            .map(|n| n.name.clone());
        match found {
            Some(name) => {
                if name != self.node && matches!(self.peer, Peer::Maintenance) {
                    // Maintenance mode does not proxy.
                    return Err(not_authorized());
                }
                Ok((
                    name.clone(),
                    Some(Metadata {
                        hostname: name,
                        error: String::new(),
                    }),
                ))
            }
            None => Err(Status::unavailable(format!(
                "connection error: desc = \"transport: Error while dialing: dial tcp {v}:50000: connect: no route to host\""
            ))),
        }
    }

    /// COSI Get of `MachineTypes.config.talos.dev` `machine-type`: the
    /// running config's machine type (reader level; NotFound without one).
    fn machine_type(&self, node: &str, id: &str) -> Result<Response<cosi::GetResponse>, Status> {
        let c = lock(&self.shared);
        let n = c
            .nodes
            .get(node)
            .ok_or_else(|| Status::unavailable("node not found"))?;
        let ty = config::machine_type(&config::docs_of(n.running.as_ref()));
        let (Some(ty), "machine-type") = (ty, id) else {
            return Err(Status::not_found(format!(
                "resource {MACHINE_TYPE_TYPE}(config/{id}@undefined) doesn't exist"
            )));
        };
        let name = match ty {
            MachineType::ControlPlane => "controlplane",
            MachineType::Worker => "worker",
        };
        Ok(Response::new(cosi::GetResponse {
            resource: Some(cosi::Resource {
                metadata: Some(cosi::Metadata {
                    namespace: "config".into(),
                    r#type: MACHINE_TYPE_TYPE.into(),
                    id: id.into(),
                    version: "1".into(),
                    owner: String::new(),
                    phase: "running".into(),
                    created: None,
                    updated: None,
                    finalizers: vec![],
                    annotations: Default::default(),
                    labels: Default::default(),
                }),
                spec: Some(cosi::Spec {
                    proto_spec: vec![],
                    yaml_spec: format!("{name}\n"),
                }),
            }),
        }))
    }

    /// COSI Get of `Services.v1alpha1.talos.dev` (namespace `runtime`, ID
    /// the service, reader level): what `talosctl get services` shows. Spec
    /// as siderolabs/talos `pkg/machinery/resources/v1alpha1/service.go`
    /// `ServiceSpec` marshals it (`running`, `healthy`, `unknown`); running
    /// means the service's state is `Running`. NotFound for a service the
    /// node does not run.
    fn service(&self, node: &str, id: &str) -> Result<Response<cosi::GetResponse>, Status> {
        let c = lock(&self.shared);
        let n = c
            .nodes
            .get(node)
            .ok_or_else(|| Status::unavailable("node not found"))?;
        let Some(s) = services_of(&c, n, node).into_iter().find(|s| s.id == id) else {
            return Err(Status::not_found(format!(
                "resource {SERVICE_TYPE}(runtime/{id}@undefined) doesn't exist"
            )));
        };
        let health = s.health.unwrap_or_default();
        let yaml = format!(
            "running: {}\nhealthy: {}\nunknown: {}\n",
            s.state == "Running",
            health.healthy,
            health.unknown
        );
        Ok(Self::yaml_resource(
            ("runtime", SERVICE_TYPE, id),
            "v1alpha1.ServiceController",
            yaml,
        ))
    }

    /// A COSI resource answer of `rtype` `namespace/id` with a YAML spec.
    fn yaml_resource(
        (namespace, rtype, id): (&str, &str, &str),
        owner: &str,
        yaml: String,
    ) -> Response<cosi::GetResponse> {
        Response::new(cosi::GetResponse {
            resource: Some(cosi::Resource {
                metadata: Some(cosi::Metadata {
                    namespace: namespace.into(),
                    r#type: rtype.into(),
                    id: id.into(),
                    version: "1".into(),
                    owner: owner.into(),
                    phase: "running".into(),
                    created: None,
                    updated: None,
                    finalizers: vec![],
                    annotations: Default::default(),
                    labels: Default::default(),
                }),
                spec: Some(cosi::Spec {
                    proto_spec: vec![],
                    yaml_spec: yaml,
                }),
            }),
        })
    }

    /// COSI Get of `HostnameStatuses.net.talos.dev` `hostname` (reader
    /// level): the hostname the running configuration gives, else the
    /// default one (`config::hostname_source`; `hostname_merge.go` merges
    /// the layers, the static one winning). A node without a running
    /// configuration has none here (maintenance mode is not modelled for
    /// this resource), nor one whose `HostnameConfig` says `auto: off`.
    fn hostname_status(&self, node: &str, id: &str) -> Result<Response<cosi::GetResponse>, Status> {
        let c = lock(&self.shared);
        let n = c
            .nodes
            .get(node)
            .ok_or_else(|| Status::unavailable("node not found"))?;
        let docs = config::docs_of(n.running.as_ref());
        let fqdn = match (docs.is_empty(), config::hostname_source(&docs)) {
            (true, _) | (_, config::HostnameSource::Off) => None,
            (false, config::HostnameSource::Static(h)) => Some(h),
            (false, config::HostnameSource::Stable) => Some(config::stable_hostname(&n.node_id)),
            (false, config::HostnameSource::Address) => {
                Some(config::address_hostname(&n.addr.ip()))
            }
        };
        let (Some(fqdn), "hostname") = (fqdn, id) else {
            return Err(Status::not_found(format!(
                "resource {HOSTNAME_STATUS_TYPE}(network/{id}@undefined) doesn't exist"
            )));
        };
        let (host, domain) = config::split_fqdn(&fqdn);
        let yaml = format!(
            "hostname: {}\ndomainname: {}\n",
            yaml_scalar(&host),
            yaml_scalar(&domain)
        );
        Ok(Self::yaml_resource(
            ("network", HOSTNAME_STATUS_TYPE, id),
            "network.HostnameStatusController",
            yaml,
        ))
    }

    /// COSI Get of `Infos.cluster.talos.dev` `current` (reader level): the
    /// running configuration's cluster ID and name, as `cluster.InfoController`
    /// (`internal/app/machined/pkg/controllers/cluster/info.go`) derives
    /// them; NotFound without a cluster name.
    fn cluster_info(&self, node: &str, id: &str) -> Result<Response<cosi::GetResponse>, Status> {
        let c = lock(&self.shared);
        let n = c
            .nodes
            .get(node)
            .ok_or_else(|| Status::unavailable("node not found"))?;
        let docs = config::docs_of(n.running.as_ref());
        let (Some(name), "current") = (config::cluster_name(&docs), id) else {
            return Err(Status::not_found(format!(
                "resource {CLUSTER_INFO_TYPE}(cluster/{id}@undefined) doesn't exist"
            )));
        };
        let yaml = format!(
            "clusterId: {}\nclusterName: {}\n",
            yaml_scalar(&config::cluster_id(&docs)),
            yaml_scalar(&name)
        );
        Ok(Self::yaml_resource(
            ("cluster", CLUSTER_INFO_TYPE, id),
            "cluster.InfoController",
            yaml,
        ))
    }

    /// Counts the call, lets time pass, takes an injected failure, and
    /// refuses a node that is down (proxied to while rebooting).
    pub(super) fn enter(&self, node: &str, rpc: &str, path: &str) -> Result<(), Status> {
        let mut c = lock(&self.shared);
        c.counters.hit("GRPC", path);
        c.tick(node);
        let Some(n) = c.nodes.get_mut(node) else {
            return Err(Status::unavailable("node not found"));
        };
        n.counters.hit("GRPC", path);
        if n.down_until.is_some() {
            return Err(Status::unavailable("node is rebooting"));
        }
        if let Some(i) = n.fail_next.iter().position(|(r, _, _)| r == rpc) {
            let (_, code, msg) = n.fail_next.remove(i);
            return Err(Status::new(code, msg));
        }
        Ok(())
    }
}

/// A string as a YAML scalar: JSON's double-quoted form is valid YAML, so
/// any text (a hostname, a cluster name) reads back the same.
fn yaml_scalar(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The node's services as `ServiceList` reports them (and the COSI
/// `Services.v1alpha1.talos.dev` resources): apid and machined always, etcd
/// on a control plane node, kubelet once configured.
fn services_of(c: &Cluster, n: &Node, node: &str) -> Vec<pb::ServiceInfo> {
    let healthy = |id: &str, state: &str| pb::ServiceInfo {
        id: id.into(),
        state: state.into(),
        events: None,
        health: Some(pb::ServiceHealth {
            unknown: false,
            healthy: true,
            last_message: String::new(),
            last_change: None,
        }),
    };
    let mut services = vec![healthy("apid", "Running"), healthy("machined", "Running")];
    let docs = config::docs_of(n.running.as_ref());
    if config::machine_type(&docs) == Some(MachineType::ControlPlane) {
        // Talos's service states (`events.State`): etcd waits in
        // Preparing until the cluster is bootstrapped; once running, its
        // health is unknown until the first check.
        let member = cluster_of(n.running.as_ref())
            .and_then(|id| c.etcd.get(&id))
            .is_some_and(|m| m.iter().any(|x| x == node));
        let health = |unknown, healthy, msg: &str| {
            Some(pb::ServiceHealth {
                unknown,
                healthy,
                last_message: msg.into(),
                last_change: None,
            })
        };
        let (state, health) = match n.etcd_started {
            _ if !(n.bootstrapped || member) => ("Preparing", health(true, false, "")),
            Some(t) if t.elapsed() < c.etcd_start_delay => ("Running", health(true, false, "")),
            _ if n.etcd_unhealthy => ("Running", health(false, false, "context deadline exceeded")),
            _ => ("Running", health(false, true, "")),
        };
        services.push(pb::ServiceInfo {
            id: "etcd".into(),
            state: state.into(),
            events: None,
            health,
        });
    }
    if n.configured {
        services.push(healthy("kubelet", "Running"));
    }
    services
}

fn node_mut<'a>(c: &'a mut Cluster, name: &str) -> Result<&'a mut Node, Status> {
    c.nodes
        .get_mut(name)
        .ok_or_else(|| Status::unavailable("node not found"))
}

/// Decodes and validates as Talos's loader does: InvalidArgument on failure.
fn decode(version: TalosVersion, data: &[u8]) -> Result<(String, Vec<config::Document>), Status> {
    let text = String::from_utf8(data.to_vec())
        .map_err(|_| Status::invalid_argument("failed to parse config: not UTF-8 text"))?;
    let docs = config::parse_documents(&text).map_err(Status::invalid_argument)?;
    let sv = match version {
        TalosVersion::V1_13 => SchemaVersion::V1_13,
        TalosVersion::V1_14 => SchemaVersion::V1_14,
    };
    let schema = sv.schema().map_err(Status::internal)?;
    for d in &docs {
        if let Some(e) = schema::check_document(schema, d).into_iter().next() {
            return Err(Status::invalid_argument(e));
        }
    }
    Ok((text, docs))
}

#[tonic::async_trait]
impl MachineService for Api {
    async fn apply_configuration(
        &self,
        req: Request<pb::ApplyConfigurationRequest>,
    ) -> Result<Response<pb::ApplyConfigurationResponse>, Status> {
        let (node, md) = self.target(&req)?;
        self.enter(
            &node,
            "ApplyConfiguration",
            "/machine.MachineService/ApplyConfiguration",
        )?;
        let r = req.into_inner();
        let mode = Mode::try_from(r.mode).unwrap_or(Mode::Reboot);
        let try_timeout = r
            .try_mode_timeout
            .and_then(|d| Duration::try_from(d).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TRY_TIMEOUT);

        let (effect, chosen, details, diff, text, docs, delay) = {
            let mut c = lock(&self.shared);
            let delay = c.apply_delay;
            let n = node_mut(&mut c, &node)?;
            let maintenance = !n.configured;
            // The apply RPC needs os:admin; in maintenance mode the handler
            // lets os:reader through (machined.go's rules).
            // (The target is configured here, so the caller's own roles
            // apply; `require` would take the lock held here.)
            if !maintenance && self.level().is_none_or(|l| l < Level::Admin) {
                return Err(not_authorized());
            }
            if maintenance {
                maintenance_mode_allowed(mode)?;
            }
            let (text, docs) = decode(n.version, &r.data)?;
            let has_v1alpha1 = docs.iter().any(config::Document::is_v1alpha1);
            if !maintenance && !has_v1alpha1 {
                return Err(Status::invalid_argument(
                    "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?",
                ));
            }
            let mut errs = config::semantic_errors(&docs);
            if maintenance {
                errs.extend(config::install_errors(&docs));
            }
            if !errs.is_empty() {
                return Err(Status::invalid_argument(config::multierror(&errs)));
            }
            if n.reboot_pending && !r.dry_run {
                return Err(Status::failed_precondition(
                    "configuration was already applied and node is rebooting, cannot apply more configuration changes until next reboot",
                ));
            }
            if n.applying || n.busy_until.is_some_and(|t| Instant::now() < t) {
                return Err(Status::failed_precondition(
                    "another apply configuration is already in progress",
                ));
            }
            let old = n.running.clone().unwrap_or_default();
            let diff = config::line_diff(&old, &text);
            let (effect, chosen, details) = if maintenance {
                match n.version {
                    TalosVersion::V1_13 => (
                        Effect::Install,
                        Mode::Reboot,
                        "Applied configuration with a reboot".to_string(),
                    ),
                    TalosVersion::V1_14 => (
                        Effect::Install,
                        Mode::NoReboot,
                        "Applied configuration without a reboot".to_string(),
                    ),
                }
            } else {
                resolve_mode(n, mode, &docs, &diff, try_timeout)?
            };
            if !r.dry_run {
                n.applying = true;
            }
            (effect, chosen, details, diff, text, docs, delay)
        };

        if r.dry_run && matches!(effect, Effect::Install) {
            // maintenance/server.go: no diff, the node has no config yet.
            return Ok(Response::new(pb::ApplyConfigurationResponse {
                messages: vec![pb::ApplyConfiguration {
                    metadata: md,
                    warnings: vec![],
                    mode: chosen as i32,
                    mode_details: "Dry run summary:\nNode is running in maintenance mode and does not have a config yet.".into(),
                }],
            }));
        }
        if r.dry_run {
            return Ok(Response::new(pb::ApplyConfigurationResponse {
                messages: vec![pb::ApplyConfiguration {
                    metadata: md,
                    warnings: vec![],
                    mode: chosen as i32,
                    // v1alpha1_server.go ApplyConfiguration (dry run) and
                    // generateDiff: "No changes." when nothing differs.
                    mode_details: format!(
                        "Dry run summary:\n{details} (skipped in dry-run).\n\nConfig diff:\n\n{}",
                        if diff.is_empty() {
                            "No changes."
                        } else {
                            diff.as_str()
                        }
                    ),
                }],
            }));
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let drop_answer = {
            let mut c = lock(&self.shared);
            if config::machine_type(&docs) == Some(MachineType::ControlPlane) {
                c.learn_ca(&docs);
            }
            let n = node_mut(&mut c, &node)?;
            n.applying = false;
            n.apply_count += 1;
            let reboot = match effect {
                Effect::Install => {
                    n.persistent = Some(text.clone());
                    n.running = Some(text);
                    true
                }
                Effect::Live => {
                    n.persistent = Some(text.clone());
                    n.running = Some(text);
                    n.try_until = None;
                    false
                }
                Effect::Reboot => {
                    n.persistent = Some(text);
                    true
                }
                Effect::Staged => {
                    n.persistent = Some(text);
                    false
                }
                Effect::Try(d) => {
                    n.running = Some(text);
                    n.try_until = Some(Instant::now() + d);
                    false
                }
            };
            if reboot {
                n.reboot_pending = true;
            }
            let drop_answer = std::mem::take(&mut n.drop_next_apply);
            drop(c);
            if reboot {
                schedule_reboot(&self.shared, &node);
            }
            drop_answer
        };
        if drop_answer {
            self.kill.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(Response::new(pb::ApplyConfigurationResponse {
            messages: vec![pb::ApplyConfiguration {
                metadata: md,
                warnings: vec![],
                mode: chosen as i32,
                mode_details: details,
            }],
        }))
    }

    async fn bootstrap(
        &self,
        req: Request<pb::BootstrapRequest>,
    ) -> Result<Response<pb::BootstrapResponse>, Status> {
        let (node, md) = self.target(&req)?;
        self.enter(&node, "Bootstrap", "/machine.MachineService/Bootstrap")?;
        self.require(&node, Level::Admin)?;
        let mut c = lock(&self.shared);
        let n = node_mut(&mut c, &node)?;
        // Order of checks: v1alpha1_server.go Bootstrap (Addendum item 9).
        if Instant::now() < n.bootstrap_not_before {
            return Err(Status::failed_precondition(
                "bootstrap is not available yet",
            ));
        }
        match config::machine_type(&config::docs_of(n.running.as_ref())) {
            None => {
                return Err(Status::unimplemented(
                    "machine type is not set, cannot use bootstrap API",
                ));
            }
            Some(MachineType::Worker) => {
                return Err(Status::unimplemented(
                    "bootstrap is only available on control plane nodes",
                ));
            }
            Some(MachineType::ControlPlane) => {}
        }
        if !n.time_in_sync {
            return Err(Status::failed_precondition("time is not in sync yet"));
        }
        if n.bootstrapped {
            return Err(Status::already_exists("etcd data directory is not empty"));
        }
        n.bootstrapped = true;
        n.etcd_started = Some(Instant::now());
        // etcd starts here; the other control planes of the cluster join it.
        if let Some(id) = cluster_of(n.running.as_ref()) {
            let members: Vec<String> = c
                .nodes
                .values()
                .filter(|m| {
                    m.configured
                        && m.down_until.is_none()
                        && cluster_of(m.running.as_ref()).as_ref() == Some(&id)
                        && config::machine_type(&config::docs_of(m.running.as_ref()))
                            == Some(MachineType::ControlPlane)
                })
                .map(|m| m.name.clone())
                .collect();
            c.etcd.entry(id).or_default().extend(members);
        }
        Ok(Response::new(pb::BootstrapResponse {
            messages: vec![pb::Bootstrap { metadata: md }],
        }))
    }

    async fn kubeconfig(&self, req: Request<()>) -> Result<Response<DataStream>, Status> {
        let (node, md) = self.target(&req)?;
        self.enter(&node, "Kubeconfig", "/machine.MachineService/Kubeconfig")?;
        self.require(&node, Level::Admin)?;
        let (docs, target) = {
            let c = lock(&self.shared);
            let n = c
                .nodes
                .get(&node)
                .ok_or_else(|| Status::unavailable("node not found"))?;
            let docs = config::docs_of(n.running.as_ref());
            match config::machine_type(&docs) {
                None => {
                    return Err(Status::unimplemented(
                        "machine type is not set, cannot use kubeconfig API",
                    ));
                }
                Some(MachineType::Worker) => {
                    return Err(Status::unimplemented(
                        "kubeconfig is only available on control plane nodes",
                    ));
                }
                Some(MachineType::ControlPlane) => {}
            }
            // No bootstrap check: Talos serves the admin kubeconfig from any
            // control plane that has its config (v1alpha1_server.go
            // `Kubeconfig`: machine type, then the Kubernetes CA).
            (docs, c.kubernetes.clone())
        };
        let cluster = config::cluster_name(&docs).unwrap_or_else(|| "talos".into());
        let target = match target {
            Some(t) => t,
            None => {
                let Some((ca, Some(ca_key))) = config::kubernetes_ca(&docs) else {
                    return Err(Status::failed_precondition(
                        "k8s API server CA config is not set",
                    ));
                };
                let server = config::cluster_endpoint(&docs).unwrap_or_default();
                let lifetime = config::admin_cert_lifetime(&docs);
                let (cert_pem, key_pem) =
                    kubeconfig::admin_cert(&ca, &ca_key, lifetime).map_err(Status::internal)?;
                KubeTarget {
                    server,
                    ca_pem: ca,
                    cert_pem,
                    key_pem,
                }
            }
        };
        let bytes = kubeconfig::archive(&kubeconfig::render(&cluster, &target))
            .map_err(Status::internal)?;
        Ok(Response::new(Box::pin(tokio_stream::iter(vec![Ok(
            Data {
                metadata: md,
                bytes,
            },
        )]))))
    }

    async fn reboot(
        &self,
        req: Request<pb::RebootRequest>,
    ) -> Result<Response<pb::RebootResponse>, Status> {
        let (node, md) = self.target(&req)?;
        self.enter(&node, "Reboot", "/machine.MachineService/Reboot")?;
        self.require(&node, Level::Operator)?;
        schedule_reboot(&self.shared, &node);
        Ok(Response::new(pb::RebootResponse {
            messages: vec![pb::Reboot {
                metadata: md,
                actor_id: format!("sim-{node}-reboot"),
            }],
        }))
    }

    async fn reset(
        &self,
        req: Request<pb::ResetRequest>,
    ) -> Result<Response<pb::ResetResponse>, Status> {
        self.handle_reset(req).await
    }

    async fn service_list(
        &self,
        req: Request<()>,
    ) -> Result<Response<pb::ServiceListResponse>, Status> {
        let (node, md) = self.target(&req)?;
        self.enter(&node, "ServiceList", "/machine.MachineService/ServiceList")?;
        self.require(&node, Level::Reader)?;
        let c = lock(&self.shared);
        let n = c
            .nodes
            .get(&node)
            .ok_or_else(|| Status::unavailable("node not found"))?;
        let mut services = services_of(&c, n, &node);
        services.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Response::new(pb::ServiceListResponse {
            messages: vec![pb::ServiceList {
                metadata: md,
                services,
            }],
        }))
    }

    async fn version(&self, req: Request<()>) -> Result<Response<pb::VersionResponse>, Status> {
        let (node, md) = self.target(&req)?;
        self.enter(&node, "Version", "/machine.MachineService/Version")?;
        self.require(&node, Level::Reader)?;
        let c = lock(&self.shared);
        let n = c
            .nodes
            .get(&node)
            .ok_or_else(|| Status::unavailable("node not found"))?;
        Ok(Response::new(pb::VersionResponse {
            messages: vec![pb::Version {
                metadata: md,
                version: Some(pb::VersionInfo {
                    tag: n.tag.clone(),
                    sha: "0000000".into(),
                    built: String::new(),
                    go_version: "go1.25.0".into(),
                    os: "linux".into(),
                    arch: "amd64".into(),
                }),
                platform: Some(pb::PlatformInfo {
                    name: "metal".into(),
                    mode: "metal".into(),
                }),
                // `features` only once a machine config is loaded.
                features: n
                    .running
                    .is_some()
                    .then_some(pb::FeaturesInfo { rbac: true }),
            }],
        }))
    }
}

#[tonic::async_trait]
impl cosi::state_server::State for Api {
    async fn get(
        &self,
        req: Request<cosi::GetRequest>,
    ) -> Result<Response<cosi::GetResponse>, Status> {
        let (node, _) = self.target(&req)?;
        self.enter(&node, "Get", "/cosi.resource.State/Get")?;
        self.require(&node, Level::Reader)?;
        let r = req.into_inner();
        // access.go AccessPolicy: namespace and type first, then
        // sensitivity (MachineConfigs are Sensitive: os:admin only).
        let Some(&(_, ns)) = TALOS_TYPES.iter().find(|(t, _)| *t == r.r#type) else {
            return Err(Status::permission_denied(format!(
                "resource type {:?} is not supported",
                r.r#type
            )));
        };
        if !TALOS_NAMESPACES.contains(&r.namespace.as_str()) {
            return Err(Status::permission_denied(format!(
                "namespace {:?} is not supported",
                r.namespace
            )));
        }
        if r.namespace != ns {
            return Err(Status::not_found(format!(
                "resource {}({}/{}@undefined) doesn't exist",
                r.r#type, r.namespace, r.id
            )));
        }
        if r.r#type == MACHINE_TYPE_TYPE {
            return self.machine_type(&node, &r.id);
        }
        if r.r#type == SERVICE_TYPE {
            return self.service(&node, &r.id);
        }
        if r.r#type == HOSTNAME_STATUS_TYPE {
            return self.hostname_status(&node, &r.id);
        }
        if r.r#type == CLUSTER_INFO_TYPE {
            return self.cluster_info(&node, &r.id);
        }
        if r.r#type != MACHINE_CONFIG_TYPE {
            return Err(Status::unimplemented(format!(
                "not simulated: {} is a Talos resource type the simulator does not model",
                r.r#type
            )));
        }
        self.require(&node, Level::Admin)?;
        let c = lock(&self.shared);
        let n = c
            .nodes
            .get(&node)
            .ok_or_else(|| Status::unavailable("node not found"))?;
        let text = match r.id.as_str() {
            "v1alpha1" => n.running.clone(),
            "persistent" => n.persistent.clone(),
            _ => None,
        };
        let Some(text) = text else {
            return Err(Status::not_found(format!(
                "resource {MACHINE_CONFIG_TYPE}(config/{}@undefined) doesn't exist",
                r.id
            )));
        };
        let spec = super::proto::config::MachineConfigSpec {
            yaml_marshalled: text.clone().into_bytes(),
        };
        Ok(Response::new(cosi::GetResponse {
            resource: Some(cosi::Resource {
                metadata: Some(cosi::Metadata {
                    namespace: "config".into(),
                    r#type: MACHINE_CONFIG_TYPE.into(),
                    id: r.id,
                    version: n.apply_count.max(1).to_string(),
                    owner: String::new(),
                    phase: "running".into(),
                    created: None,
                    updated: None,
                    finalizers: vec![],
                    annotations: Default::default(),
                    labels: Default::default(),
                }),
                spec: Some(cosi::Spec {
                    proto_spec: spec.encode_to_vec(),
                    yaml_spec: text,
                }),
            }),
        }))
    }
}

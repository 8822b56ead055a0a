//! The Talos API client: gRPC over TLS to apid (port 50000).
//!
//! Two ways to connect ([`Auth`]): insecure, for nodes in maintenance mode
//! (TLS without verification or client certificate, as `talosctl --insecure`),
//! and mTLS with the cluster's admin client configuration. Every call goes to
//! one endpoint; [`Target::node`] asks apid to forward it to another node
//! (gRPC metadata `node`, as `talosctl --nodes`).
//!
//! Errors are [`TalosError`]s, classified once ([`TalosError::is_retryable`]);
//! [`retry`] repeats an operation while the node is rebooting or not ready.

mod archive;
mod endpoint;
mod error;
pub mod proto;
mod tls;
mod transport;

use std::time::Duration;

use base64::Engine as _;
use labforge_http::Secret;
use tonic::metadata::MetadataValue;

pub use error::{ErrorKind, TalosError, retry};

use endpoint::Endpoint;
use proto::cosi::resource::GetRequest;
use proto::cosi::resource::state_client::StateClient;
use proto::machine::machine_service_client::MachineServiceClient;
use proto::machine::{
    ApplyConfigurationRequest, BootstrapRequest, ResetPartitionSpec, apply_configuration_request,
};
use transport::Transport;

/// The client credentials of a Talos admin: the cluster's OS CA, the client
/// certificate, and its key (Ed25519 or ECDSA), all PEM.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The OS CA certificate(s) the node's server certificate must chain to.
    pub ca_pem: String,
    /// The client certificate (roles in its Organization, e.g. `os:admin`).
    pub cert_pem: String,
    /// The client certificate's private key.
    pub key_pem: Secret,
}

impl Credentials {
    /// Credentials from a client configuration as siderolabs/talos state holds
    /// it (`ca_certificate`, `client_certificate`, `client_key`: each base64 of
    /// PEM; raw PEM is accepted too). Checks that they can be used.
    pub fn from_client_configuration_b64(
        ca: &str,
        cert: &str,
        key: &str,
    ) -> Result<Self, TalosError> {
        let creds = Self {
            ca_pem: pem_text(ca, "ca_certificate")?,
            cert_pem: pem_text(cert, "client_certificate")?,
            key_pem: Secret::new(pem_text(key, "client_key")?),
        };
        tls::validate(&creds)?;
        Ok(creds)
    }
}

/// PEM text from base64-of-PEM or PEM; errors never quote the input.
fn pem_text(value: &str, what: &str) -> Result<String, TalosError> {
    let trimmed = value.trim();
    if trimmed.starts_with("-----BEGIN ") {
        return Ok(trimmed.to_string());
    }
    let invalid = || {
        TalosError::new(
            ErrorKind::InvalidInput,
            format!("the client configuration's {what} is neither base64 of PEM nor PEM"),
        )
    };
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    if !text.trim_start().starts_with("-----BEGIN ") {
        return Err(invalid());
    }
    Ok(text)
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The apid to connect to: `host`, `host:port` or `[v6]:port` (port 50000 by default).
    pub endpoint: String,
    /// The node apid forwards the call to (gRPC metadata `node`), if not the endpoint itself.
    pub node: Option<String>,
}

impl Target {
    /// A call to `endpoint` itself.
    pub fn endpoint(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            node: None,
        }
    }
}

/// How to connect.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// Maintenance mode: TLS without verifying the server, no client certificate.
    Insecure,
    /// mTLS with the cluster's admin client configuration.
    Mtls(&'a Credentials),
}

/// What `Version` says about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The Talos version, e.g. `v1.13.9`.
    pub tag: String,
    /// Whether a machine configuration is loaded (`features.rbac` is present
    /// only then: siderolabs/talos v1alpha1_server.go `Version`).
    pub configured: bool,
}

/// Whether a node still waits for its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    /// Maintenance mode: no machine configuration yet; apply it insecurely.
    Maintenance,
    /// Configured: it answers mTLS with the cluster's client configuration.
    Configured {
        /// The Talos version the node runs.
        tag: String,
    },
}

/// How a configuration is applied (`ApplyConfigurationRequest.Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Apply and reboot (deprecated upstream; `Unimplemented` on v1.14 outside maintenance).
    Reboot,
    /// Apply live if possible, else with a reboot (v1.13); always live on v1.14.
    Auto,
    /// Apply live, or fail if the change needs a reboot.
    NoReboot,
    /// Store it for the next reboot.
    Staged,
    /// Apply live and roll back after the try timeout unless confirmed.
    Try,
}

impl ApplyMode {
    fn to_proto(self) -> apply_configuration_request::Mode {
        use apply_configuration_request::Mode;
        match self {
            Self::Reboot => Mode::Reboot,
            Self::Auto => Mode::Auto,
            Self::NoReboot => Mode::NoReboot,
            Self::Staged => Mode::Staged,
            Self::Try => Mode::Try,
        }
    }

    fn from_proto(value: i32) -> Option<Self> {
        use apply_configuration_request::Mode;
        Some(match Mode::try_from(value).ok()? {
            Mode::Reboot => Self::Reboot,
            Mode::Auto => Self::Auto,
            Mode::NoReboot => Self::NoReboot,
            Mode::Staged => Self::Staged,
            Mode::Try => Self::Try,
        })
    }
}

/// An `ApplyConfiguration` call.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The machine configuration (YAML, possibly several documents).
    pub data: Vec<u8>,
    /// How to apply it.
    pub mode: ApplyMode,
    /// Only validate and report what would change.
    pub dry_run: bool,
    /// For [`ApplyMode::Try`]: when to roll back (Talos's default is 1 minute).
    pub try_timeout: Option<Duration>,
}

/// The node's answer to `ApplyConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    /// The mode the node actually used (v1.14 answers `NoReboot` for `Auto`).
    pub mode: ApplyMode,
    /// The node's explanation, e.g. "Applied configuration without a reboot"
    /// (with a config diff for a dry run).
    pub mode_details: String,
    /// Configuration validation warnings.
    pub warnings: Vec<String>,
}

/// One service of a node (`ServiceInfo` of `ServiceList`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The service ID, e.g. `etcd`, `kubelet`, `apid`.
    pub id: String,
    /// Talos's service state: `Preparing`, `Waiting`, `Running`, `Failed`, ...
    pub state: String,
    /// The last health check passed.
    pub healthy: bool,
    /// No health check has run yet (the service is starting).
    pub health_unknown: bool,
    /// The last health check's message.
    pub last_message: String,
}

/// A system disk partition (volume) to wipe on reset (`ResetPartitionSpec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetPartition {
    /// The volume label: `STATE` (the machine configuration), `EPHEMERAL`
    /// (`/var`: etcd data, pods), `META`, ...
    pub label: String,
    /// Whether to wipe it.
    pub wipe: bool,
}

/// A `Reset` call (`ResetRequest`). Needs `os:admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    /// Leave etcd first (control planes), after Talos's etcd checks. Talos
    /// refuses to remove the last etcd member, so a graceful reset of a
    /// single control plane fails (siderolabs/talos#2095).
    pub graceful: bool,
    /// Reboot after the wipe; otherwise the node powers off.
    pub reboot: bool,
    /// The partitions to wipe; empty wipes the whole system disk (the
    /// installation too).
    pub system_partitions_to_wipe: Vec<ResetPartition>,
}

impl ResetRequest {
    /// Wipes `STATE` and `EPHEMERAL` only, as siderolabs/terraform-provider-talos
    /// does on destroy (`talos_machine_configuration_apply_resource.go`
    /// `Delete`): the configuration and `/var` go, the installed Talos stays,
    /// so a node that reboots comes back in maintenance mode.
    pub fn state_and_ephemeral(graceful: bool, reboot: bool) -> Self {
        Self {
            graceful,
            reboot,
            system_partitions_to_wipe: ["STATE", "EPHEMERAL"]
                .into_iter()
                .map(|label| ResetPartition {
                    label: label.to_string(),
                    wipe: true,
                })
                .collect(),
        }
    }

    fn to_proto(&self) -> proto::machine::ResetRequest {
        proto::machine::ResetRequest {
            graceful: self.graceful,
            reboot: self.reboot,
            system_partitions_to_wipe: self
                .system_partitions_to_wipe
                .iter()
                .map(|p| ResetPartitionSpec {
                    label: p.label.clone(),
                    wipe: p.wipe,
                })
                .collect(),
            // ALL (0): the partitions above on the system disk; no user disk is named.
            mode: proto::machine::reset_request::WipeMode::All.into(),
        }
    }
}

/// The node's answer to `Reset`: the reset runs after it, in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetResult {
    /// The ID of the reset sequence (its events carry it).
    pub actor_id: String,
}

/// The COSI resource type of the machine configuration
/// (siderolabs/talos pkg/machinery/resources/config/machine_config.go).
const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";
/// Its namespace.
const CONFIG_NAMESPACE: &str = "config";

/// A Talos API client. Holds settings only: each call opens its own
/// connection, so clones are cheap and share nothing.
#[derive(Debug, Clone)]
pub struct Client {
    connect_timeout: Duration,
    request_timeout: Duration,
    progress_interval: Duration,
}

impl Default for Client {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            progress_interval: Duration::from_secs(5),
        }
    }
}

impl Client {
    /// A client with the default timeouts (connect 10 s, each call 60 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long to wait for TCP and the TLS handshake before the endpoint is
    /// reported unreachable.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one call may take once connected.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often a call still waiting for its answer is logged (default 5 s).
    pub fn with_progress_interval(mut self, every: Duration) -> Self {
        self.progress_interval = every;
        self
    }

    fn transport(
        &self,
        target: &Target,
        auth: Auth<'_>,
    ) -> Result<(Transport, tonic::codegen::http::Uri), TalosError> {
        let endpoint = Endpoint::parse(&target.endpoint)?;
        let tls = match auth {
            Auth::Insecure => tls::insecure_config()?,
            Auth::Mtls(creds) => tls::mtls_config(creds)?,
        };
        let transport = Transport::new(endpoint, tls, self.connect_timeout)?;
        let origin = transport.origin()?;
        Ok((transport, origin))
    }

    fn request<T>(&self, target: &Target, message: T) -> Result<tonic::Request<T>, TalosError> {
        let mut request = tonic::Request::new(message);
        if let Some(node) = target
            .node
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let value: MetadataValue<_> = node.parse().map_err(|_| {
                TalosError::new(
                    ErrorKind::InvalidInput,
                    format!("invalid Talos node {node:?}"),
                )
            })?;
            request.metadata_mut().insert("node", value);
        }
        Ok(request)
    }

    /// Runs `call` within the request timeout, logging every
    /// [progress interval](Client::with_progress_interval) while it waits
    /// ("still waiting for <op> on <node> after Ns"): nothing hangs silently.
    async fn timed<T>(
        &self,
        target: &Target,
        what: &str,
        call: impl std::future::Future<Output = Result<T, TalosError>>,
    ) -> Result<T, TalosError> {
        let node = target.node.as_deref().unwrap_or(&target.endpoint);
        let start = tokio::time::Instant::now();
        let every = self.progress_interval.max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval_at(start + every, every);
        let deadline = tokio::time::sleep(self.request_timeout);
        tokio::pin!(call, deadline);
        loop {
            tokio::select! {
                result = &mut call => return result,
                () = &mut deadline => {
                    return Err(TalosError::new(
                        ErrorKind::Transport,
                        format!(
                            "{what}: no answer from the Talos API at {} within {}s",
                            target.endpoint,
                            self.request_timeout.as_secs()
                        ),
                    ));
                }
                _ = ticks.tick() => {
                    let secs = start.elapsed().as_secs();
                    tracing::info!(
                        operation = what,
                        node,
                        elapsed_s = secs,
                        "still waiting for {what} on {node} after {secs}s"
                    );
                }
            }
        }
    }

    fn machine(
        &self,
        target: &Target,
        auth: Auth<'_>,
    ) -> Result<MachineServiceClient<Transport>, TalosError> {
        let (transport, origin) = self.transport(target, auth)?;
        Ok(MachineServiceClient::with_origin(transport, origin))
    }

    /// `MachineService/Version`: the Talos version, and whether the node is configured.
    pub async fn version(
        &self,
        target: &Target,
        auth: Auth<'_>,
    ) -> Result<VersionInfo, TalosError> {
        let mut client = self.machine(target, auth)?;
        let request = self.request(target, ())?;
        let response = self
            .timed(target, "Version", async {
                Ok(client.version(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("Version"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(VersionInfo {
            tag: message.version.map(|v| v.tag).unwrap_or_default(),
            configured: message.features.is_some_and(|f| f.rbac),
        })
    }

    /// Whether the node is in maintenance mode or configured: an insecure
    /// `Version` first (a maintenance node answers it without `features.rbac`);
    /// if the node wants a client certificate, or says it is configured, an mTLS
    /// `Version` with `creds`.
    pub async fn node_state(
        &self,
        target: &Target,
        creds: Option<&Credentials>,
    ) -> Result<NodeState, TalosError> {
        let insecure = self.version(target, Auth::Insecure).await;
        match (insecure, creds) {
            (Ok(v), _) if !v.configured => Ok(NodeState::Maintenance),
            (Ok(v), None) => Ok(NodeState::Configured { tag: v.tag }),
            (Err(e), _) if e.kind() == ErrorKind::Unreachable => Err(e),
            (Err(e), None) => Err(e),
            (_, Some(creds)) => {
                // The endpoint may be a configured node forwarding to one
                // still in maintenance (`Target::node`): its answer then
                // lacks `features` too.
                let v = self.version(target, Auth::Mtls(creds)).await?;
                if !v.configured {
                    return Ok(NodeState::Maintenance);
                }
                Ok(NodeState::Configured { tag: v.tag })
            }
        }
    }

    /// `MachineService/ApplyConfiguration`.
    pub async fn apply_configuration(
        &self,
        target: &Target,
        auth: Auth<'_>,
        req: &ApplyRequest,
    ) -> Result<ApplyResult, TalosError> {
        let mut client = self.machine(target, auth)?;
        let message = ApplyConfigurationRequest {
            data: req.data.clone(),
            mode: req.mode.to_proto().into(),
            dry_run: req.dry_run,
            try_mode_timeout: req.try_timeout.map(|d| prost_types::Duration {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
            }),
        };
        let request = self.request(target, message)?;
        let response = self
            .timed(target, "ApplyConfiguration", async {
                Ok(client.apply_configuration(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("ApplyConfiguration"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(ApplyResult {
            mode: ApplyMode::from_proto(message.mode).unwrap_or(req.mode),
            mode_details: message.mode_details,
            warnings: message.warnings,
        })
    }

    /// `MachineService/Bootstrap` (etcd on the first control plane node).
    pub async fn bootstrap(&self, target: &Target, creds: &Credentials) -> Result<(), TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, BootstrapRequest::default())?;
        let response = self
            .timed(target, "Bootstrap", async {
                Ok(client.bootstrap(request).await?.into_inner())
            })
            .await?;
        for message in &response.messages {
            check_metadata(message.metadata.as_ref())?;
        }
        Ok(())
    }

    /// `MachineService/ServiceList`: the node's services, state and health
    /// (`os:reader`).
    pub async fn services(
        &self,
        target: &Target,
        creds: &Credentials,
    ) -> Result<Vec<ServiceStatus>, TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, ())?;
        let response = self
            .timed(target, "ServiceList", async {
                Ok(client.service_list(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("ServiceList"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(message
            .services
            .into_iter()
            .map(|s| {
                let health = s.health.unwrap_or_default();
                ServiceStatus {
                    id: s.id,
                    state: s.state,
                    healthy: !health.unknown && health.healthy,
                    health_unknown: health.unknown,
                    last_message: health.last_message,
                }
            })
            .collect())
    }

    /// `MachineService/Kubeconfig`: the admin kubeconfig (the stream is a
    /// gzip'd tar holding the file `kubeconfig`).
    pub async fn kubeconfig(
        &self,
        target: &Target,
        creds: &Credentials,
    ) -> Result<String, TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, ())?;
        let data = self
            .timed(target, "Kubeconfig", async {
                let mut stream = client.kubeconfig(request).await?.into_inner();
                let mut data = Vec::new();
                while let Some(chunk) = stream.message().await? {
                    check_metadata(chunk.metadata.as_ref())?;
                    data.extend_from_slice(&chunk.bytes);
                }
                Ok(data)
            })
            .await?;
        archive::kubeconfig_from_tar_gz(&data)
    }

    /// `MachineService/Reset` (`os:admin`). Talos answers at once and then
    /// runs the reset sequence (siderolabs/talos `v1alpha1_server.go`
    /// `Reset`): drain, leave etcd if graceful, wipe, then reboot or power
    /// off. Follow it with [`Client::wait_for_maintenance`] or
    /// [`Client::wait_until_down`].
    pub async fn reset(
        &self,
        target: &Target,
        creds: &Credentials,
        req: &ResetRequest,
    ) -> Result<ResetResult, TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, req.to_proto())?;
        let response = self
            .timed(target, "Reset", async {
                Ok(client.reset(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("Reset"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(ResetResult {
            actor_id: message.actor_id,
        })
    }

    /// Waits until the node answers in maintenance mode (an insecure
    /// `Version` without `features.rbac`), as after a reset with reboot.
    /// While it still runs its configuration, or is down, it waits (progress
    /// logged every ~5 s); after `timeout` the error names the last state seen.
    pub async fn wait_for_maintenance(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> Result<(), TalosError> {
        let what = format!(
            "waiting for {} to come back in maintenance mode",
            target.endpoint
        );
        retry(&what, timeout, || async {
            match self.version(target, Auth::Insecure).await {
                Ok(v) if !v.configured => Ok(()),
                Ok(_) => Err(still_configured()),
                // A configured node wants a client certificate.
                Err(e) if e.kind() == ErrorKind::CertificateRejected => Err(still_configured()),
                Err(e) if e.is_retryable() => Err(TalosError::new(
                    ErrorKind::Waiting,
                    format!("the node does not answer yet ({e})"),
                )),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Waits until the node stops answering, as after a reset without reboot
    /// (Talos powers the machine off). Progress is logged every ~5 s.
    pub async fn wait_until_down(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> Result<(), TalosError> {
        let what = format!("waiting for {} to power off", target.endpoint);
        retry(&what, timeout, || async {
            match self.version(target, Auth::Insecure).await {
                Err(e) if matches!(e.kind(), ErrorKind::Unreachable | ErrorKind::Transport) => {
                    Ok(())
                }
                Ok(_) => Err(TalosError::new(
                    ErrorKind::Waiting,
                    "the node still answers",
                )),
                Err(e) if e.kind() == ErrorKind::CertificateRejected => Err(TalosError::new(
                    ErrorKind::Waiting,
                    "the node still answers",
                )),
                Err(e) if e.is_retryable() => Err(TalosError::new(
                    ErrorKind::Waiting,
                    format!("the node still answers ({e})"),
                )),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The node's machine configuration as it was submitted (COSI
    /// `MachineConfigs.config.talos.dev` in namespace `config`): `id` is
    /// `v1alpha1` (running) or `persistent` (what the next boot uses). `None`
    /// when the node has no such resource.
    pub async fn machine_config(
        &self,
        target: &Target,
        creds: &Credentials,
        id: &str,
    ) -> Result<Option<String>, TalosError> {
        let (transport, origin) = self.transport(target, Auth::Mtls(creds))?;
        let mut client = StateClient::with_origin(transport, origin);
        let request = self.request(
            target,
            GetRequest {
                namespace: CONFIG_NAMESPACE.to_string(),
                r#type: MACHINE_CONFIG_TYPE.to_string(),
                id: id.to_string(),
                options: None,
            },
        )?;
        let response = self
            .timed(target, "Get MachineConfig", async {
                match client.get(request).await {
                    Ok(r) => Ok(Some(r.into_inner())),
                    Err(status) => {
                        let e = TalosError::from_status(&status);
                        if e.is_not_found() { Ok(None) } else { Err(e) }
                    }
                }
            })
            .await?;
        let Some(response) = response else {
            return Ok(None);
        };
        let spec = response
            .resource
            .and_then(|r| r.spec)
            .ok_or_else(|| empty_answer("Get MachineConfig"))?;
        machine_config_text(&spec).map(Some)
    }
}

/// The configuration text of a MachineConfig spec: the YAML as submitted from
/// the protobuf spec (`MachineConfigSpec.yaml_marshalled`), else the YAML spec.
fn machine_config_text(spec: &proto::cosi::resource::Spec) -> Result<String, TalosError> {
    use prost::Message as _;
    if !spec.proto_spec.is_empty() {
        let decoded =
            proto::resource::config::MachineConfigSpec::decode(spec.proto_spec.as_slice())
                .map_err(|_| {
                    TalosError::new(
                        ErrorKind::Response,
                        "the node's MachineConfig resource could not be decoded",
                    )
                })?;
        if !decoded.yaml_marshalled.is_empty() {
            return String::from_utf8(decoded.yaml_marshalled).map_err(|_| {
                TalosError::new(
                    ErrorKind::Response,
                    "the node's machine configuration is not UTF-8 text",
                )
            });
        }
    }
    if !spec.yaml_spec.is_empty() {
        return Ok(spec.yaml_spec.clone());
    }
    Err(TalosError::new(
        ErrorKind::Response,
        "the node's MachineConfig resource has an empty spec",
    ))
}

fn still_configured() -> TalosError {
    TalosError::new(
        ErrorKind::Waiting,
        "the node still runs its configuration (a graceful reset fails on the last etcd member: \
         reset a single control plane with graceful = false)",
    )
}

fn empty_answer(rpc: &str) -> TalosError {
    TalosError::new(
        ErrorKind::Response,
        format!("the node answered {rpc} with no message"),
    )
}

/// apid reports a failure of the node it forwarded to in `metadata.error`.
fn check_metadata(metadata: Option<&proto::common::Metadata>) -> Result<(), TalosError> {
    match metadata {
        Some(m) if !m.error.is_empty() => {
            let on = if m.hostname.is_empty() {
                String::new()
            } else {
                format!(" on {}", m.hostname)
            };
            Err(TalosError::new(
                ErrorKind::Response,
                format!("the call failed{on}: {}", m.error),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn pem_text_accepts_base64_of_pem_and_pem() {
        let pem = "-----BEGIN CERTIFICATE-----\nAw==\n-----END CERTIFICATE-----\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(pem_text(&b64, "ca_certificate").unwrap(), pem);
        assert_eq!(pem_text(pem, "ca_certificate").unwrap(), pem.trim());
        let e = pem_text("c2VjcmV0", "client_key").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the client configuration's client_key is neither base64 of PEM nor PEM"
        );
        assert!(pem_text("!!!", "client_key").is_err());
    }

    #[test]
    fn credentials_from_a_client_configuration() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let talos_key = key
            .serialize_pem()
            .replace("PRIVATE KEY", "ED25519 PRIVATE KEY");
        let creds = Credentials::from_client_configuration_b64(
            &b64(&ca.pem()),
            &b64(&cert.pem()),
            &b64(&talos_key),
        )
        .unwrap();
        assert_eq!(creds.key_pem.expose(), talos_key);
        assert!(!format!("{creds:?}").contains("PRIVATE KEY"));
        let e =
            Credentials::from_client_configuration_b64(&b64(&ca.pem()), &b64(&cert.pem()), "AAAA")
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn machine_config_text_prefers_the_bytes_as_submitted() {
        let yaml = "version: v1alpha1\nmachine:\n  type: controlplane\n";
        let spec = proto::cosi::resource::Spec {
            proto_spec: proto::resource::config::MachineConfigSpec {
                yaml_marshalled: yaml.as_bytes().to_vec(),
            }
            .encode_to_vec(),
            yaml_spec: "something else".into(),
        };
        assert_eq!(machine_config_text(&spec).unwrap(), yaml);
        let spec = proto::cosi::resource::Spec {
            proto_spec: vec![],
            yaml_spec: yaml.into(),
        };
        assert_eq!(machine_config_text(&spec).unwrap(), yaml);
        let spec = proto::cosi::resource::Spec::default();
        assert_eq!(
            machine_config_text(&spec).unwrap_err().kind(),
            ErrorKind::Response
        );
    }

    #[test]
    fn apply_modes_round_trip_with_the_vendor_numbers() {
        for (mode, number) in [
            (ApplyMode::Reboot, 0),
            (ApplyMode::Auto, 1),
            (ApplyMode::NoReboot, 2),
            (ApplyMode::Staged, 3),
            (ApplyMode::Try, 4),
        ] {
            assert_eq!(mode.to_proto() as i32, number);
            assert_eq!(ApplyMode::from_proto(number), Some(mode));
        }
        assert_eq!(ApplyMode::from_proto(9), None);
    }

    #[test]
    fn metadata_errors_are_reported() {
        assert!(check_metadata(None).is_ok());
        let m = proto::common::Metadata {
            hostname: "cp1".into(),
            error: "rpc error: code = Unavailable".into(),
        };
        assert_eq!(
            check_metadata(Some(&m)).unwrap_err().to_string(),
            "the call failed on cp1: rpc error: code = Unavailable"
        );
    }

    /// A log writer collecting what is written.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_logs_progress_while_it_waits() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let client = Client::new()
            .with_request_timeout(Duration::from_secs(60))
            .with_progress_interval(Duration::from_secs(5));
        let t = Target {
            endpoint: "10.0.0.2".into(),
            node: Some("10.0.0.5".into()),
        };
        let r = client
            .timed(&t, "ApplyConfiguration", async {
                tokio::time::sleep(Duration::from_secs(12)).await;
                Ok(7)
            })
            .await
            .unwrap();
        assert_eq!(r, 7);
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("still waiting for ApplyConfiguration on 10.0.0.5 after 5s"),
            "{text}"
        );
        assert!(text.contains("after 10s"), "{text}");
        assert!(!text.contains("after 15s"), "{text}");
        // And the timeout still ends it.
        let e = client
            .timed(
                &t,
                "Version",
                std::future::pending::<Result<(), TalosError>>(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.to_string().contains("within 60s"), "{e}");
    }

    #[test]
    fn node_metadata_is_set_only_when_given() {
        let client = Client::new();
        let r = client.request(&Target::endpoint("10.0.0.5"), ()).unwrap();
        assert!(r.metadata().get("node").is_none());
        let t = Target {
            endpoint: "10.0.0.5".into(),
            node: Some("10.0.0.6".into()),
        };
        let r = client.request(&t, ()).unwrap();
        assert_eq!(r.metadata().get("node").unwrap(), "10.0.0.6");
        let t = Target {
            endpoint: "10.0.0.5".into(),
            node: Some("bad\nnode".into()),
        };
        assert_eq!(
            client.request(&t, ()).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
